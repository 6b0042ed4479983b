"""Terminal view, in the spirit of `terraform plan`: summary first, riskiest apps first, then
per app a header and one line per field, and the `Plan:` line last where scripts look for it.

Every string from the org or the YAML goes through `printable` (values through `show`), so the
only line breaks in the output are the ones written here: no name can forge a `Plan:` line.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime

from ..display import factor_parts, plural, printable, show
from ..model import (
    IN_USE,
    LEVEL_ORDER,
    UNUSED,
    AppPlan,
    Finding,
    HeldChange,
    Plan,
    RiskContext,
    Usage,
)

ENABLE_MARK = "  # enables an OAuth flow"
BREAKING_MARK = "  # BREAKS an integration in use"
HELD_HEADING = "held: would break an integration in use"
#: Addresses named on a usage line; the JSON view lists them all.
ADDRESSES_SHOWN = 3

#: paint(role, text) -> text: the colour hook. Roles: update, enable (the `~`/`!` marks), the
#: risk levels (high, medium, low, unknown) and raises/lowers (risk-factor marks). The view
#: stays plain; the CLI sets a painter only when stdout is a terminal (reconciler/terminal.py).
Paint = Callable[[str, str], str]


def plain(role: str, text: str) -> str:
    return text


PAINT: ContextVar[Paint] = ContextVar("PAINT", default=plain)


def factor_text(factor: str, paint: Paint = plain) -> str:
    """One risk factor with its mark in words ("[raises] run-as user ... is inactive")."""
    role, mark, text = factor_parts(factor)
    if not mark:
        return printable(text)
    return paint(role, mark) + " " + printable(text)


def _ago(last: str | None, now: str) -> str | None:
    """How long before `now` (the plan's or report's time) `last` was, in rough words."""
    try:
        then = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
        seconds = (datetime.fromisoformat(now.replace("Z", "+00:00")) - then).total_seconds()
    except (TypeError, ValueError):
        return None
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def usage_lines(usage: Usage, now: str, esc: Callable[[object], str] = printable) -> list[str]:
    """The usage line (in use / no logins / unknown), then failed logins apart, then how the
    logins were attributed when through the run-as user. Addresses and reasons come from the
    org: each goes through `esc` (`printable` here; the Markdown view passes its own), and the
    words around them hold nothing a view would need to escape."""
    days = f"{usage.window_days} days"
    if usage.status == IN_USE:
        ips = [s.ip for s in usage.sources if s.logins]
        named = ", ".join(esc(ip) for ip in ips[:ADDRESSES_SHOWN])
        if len(ips) > ADDRESSES_SHOWN:
            named += f", {len(ips) - ADDRESSES_SHOWN} more"
        ago = _ago(usage.last_login, now)
        line = (
            f"in use: {_count(usage.logins or 0, 'client-credentials login')} in {days} from "
            f"{len(ips)} address{'' if len(ips) == 1 else 'es'} ({named})"
            + (f", last {ago}" if ago else "")
        )
    elif usage.status == UNUSED:
        line = f"no client-credentials logins in {days}"
    else:
        return [f"usage unknown: {esc(usage.reason)}"]
    out = [line]
    if usage.failed_logins:
        bad = [s.ip for s in usage.sources if s.failed_logins]
        named = ", ".join(esc(ip) for ip in bad[:ADDRESSES_SHOWN])
        if len(bad) > ADDRESSES_SHOWN:
            named += f" and {len(bad) - ADDRESSES_SHOWN} more"
        out.append(f"{_count(usage.failed_logins, 'failed client-credentials login')} from {named}")
    if usage.attributed_by == "run_as_user" and usage.reason:
        out.append(esc(usage.reason))
    return out


def describe_usage(plan_apps: list[tuple[str, Usage]], now: str) -> list[str]:
    """One block per app: `  * App: <usage line>`, further lines indented under it (the `*`
    keeps them apart from the `  App: status` lines of an apply report)."""
    out = []
    for name, usage in plan_apps:
        first, *rest = usage_lines(usage, now)
        out.append(f"  * {printable(name)}: {first}")
        out += [f"      {line}" for line in rest]
    return out


def describe_held(held: list[HeldChange]) -> list[str]:
    out = []
    for h in held:
        c = h.change
        out.append(
            f"  {printable(c.app)}: {printable(c.path)}: {show(c.before)} -> {show(c.after)}"
            + (f"  # baseline {printable(c.control)}" if c.control else "  # defaults:")
        )
        out.append(f"      {printable(h.reason)}")
    return out


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    if not plan.changes:
        if plan.held and not plan.errors:
            return (
                f"No changes. ({plural(len(plan.held), 'change')} held: would break an "
                "integration in use; see above)"
            )
        return "No changes." + (" (some apps have errors; see above)" if plan.errors else "")
    enabling = f", {s['flows_to_enable']} enabling a flow" if s["flows_to_enable"] else ""
    held = f", {s['held_changes']} held" if s["held_changes"] else ""
    return (
        f"Plan: {plural(s['apps_to_change'], 'app')} to change, "
        f"{plural(s['fields_to_change'], 'field')} to change{enabling}{held}."
    )


def risk_order(app: AppPlan) -> tuple[int, str]:
    last = len(LEVEL_ORDER)
    return (LEVEL_ORDER.get(app.risk.level, last) if app.risk else last, app.name)


def describe_risk(name: str, risk: RiskContext) -> list[str]:
    """The risk header line and its factors; usernames, profiles and factors come from the org."""
    user = risk.run_as
    if user is None:
        who = "no run-as user"
    elif user.found is None:
        who = f"run as {printable(user.username)} (could not be looked up)"
    elif not user.found:
        who = f"run as {printable(user.username)} (not found)"
    else:
        api_only = {True: "API Only", False: "UI", None: "API Only unknown"}[user.api_only]
        traits = ["active" if user.active else "INACTIVE", api_only]
        who = (
            f"run as {printable(user.username)} ({', '.join(traits)}, "
            f"profile {printable(user.profile)})"
        )
    paint = PAINT.get()
    level = paint(risk.level.lower(), f"[{printable(risk.level.upper())}]")
    return [f"  {level} {printable(name)}: {who}"] + [
        f"      {factor_text(f, paint)}" for f in risk.factors
    ]


def describe_exceptions(accepted: list[Finding]) -> list[str]:
    """One line per (app, control), naming the fields it covers."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in accepted:
        groups.setdefault((f.app, f.control), []).append(f)
    out = []
    for (app, control), items in groups.items():
        e = items[0].exception or {}
        ticket = f", {printable(e['ticket'])}" if e.get("ticket") else ""
        paths = ", ".join(printable(f.path) for f in items)
        out.append(
            f"  {printable(app)}: {printable(control)} ({paths}) accepted until "
            f"{printable(e.get('expires'))}, owner {printable(e.get('owner'))}{ticket}: "
            f"{printable(e.get('justification'))}"
        )
    return out


def overview(plan: Plan) -> list[str]:
    """The lines that go before any detail: counts, then the risk ranking."""
    s = plan.summary()
    if plan.changes:
        parts = [
            f"{plural(s['apps_to_change'], 'app')} to change "
            f"({plural(s['fields_to_change'], 'field')})"
        ]
    else:
        parts = ["no changes"]
    if s["breaking_apps"]:
        parts.append(f"{plural(s['breaking_apps'], 'app')} in use losing client credentials")
    if s["held_changes"]:
        parts.append(f"{plural(s['held_changes'], 'change')} held (would break an integration)")
    if s["high_risk_apps"]:
        parts.append(f"{plural(s['high_risk_apps'], 'high-risk app')} with client credentials on")
    if s["violations"]:
        parts.append(f"{plural(s['violations'], 'baseline violation')} reported")
    if s["exceptions_in_force"]:
        parts.append(f"{plural(s['exceptions_in_force'], 'exception')} in force")
    if plan.errors:
        parts.append(f"{plural(len(plan.errors), 'error')}")
    out = ["Summary: " + "; ".join(parts) + ".", ""]
    risky = sorted((a for a in plan.apps if a.risk), key=risk_order)
    if risky:
        out.append("Client credentials stay or become enabled (highest risk first):")
        for app in risky:
            if app.risk is not None:  # always true here; tells the type checker so
                out += describe_risk(app.name, app.risk)
        out.append("")
    used = [(a.name, a.usage) for a in plan.apps if a.usage is not None]
    if used:
        out.append("Client-credentials usage (LoginHistory):")
        out += describe_usage(used, plan.created_at)
        out.append("")
    return out


def render_text(plan: Plan) -> str:
    paint = PAINT.get()
    out = [f"Org {printable(plan.org_id)} at {printable(plan.instance_url)}", ""]
    out += overview(plan)
    for app in sorted(plan.changed_apps, key=risk_order):
        listed = "" if app.listed else " (not listed in the desired state; baseline enforced)"
        out.append(f"  # {printable(app.name)} will be updated in place{listed}")
        out.append(f"  {paint('update', '~')} app {printable(app.name)} {{")
        for change in app.changes:
            mark = paint("enable", "!") if change.enables_flow else paint("update", "~")
            path = printable(change.path)
            line = f"      {mark} {path}: {show(change.before)} -> {show(change.after)}"
            if change.enables_flow:
                line += paint("enable", ENABLE_MARK)
            elif app.breaking and change.path.endswith(".client_credentials"):
                line += paint("enable", BREAKING_MARK)
            elif change.control:
                line += f"  # baseline {printable(change.control)}"
            out.append(line)
        unchanged = len(app.observed) - len(app.changes)
        if unchanged:
            out.append(f"        # ({plural(unchanged, 'declared field')} already as declared)")
        out.append("    }")
        out.append("")
    if plan.held:
        out.append(f"{HELD_HEADING} (not applied; --allow-breaking releases them):")
        out += describe_held(plan.held)
        out.append("")
    accepted = [f for a in plan.apps for f in a.findings if f.accepted]
    if accepted:
        out.append("Exceptions in force:")
        out += describe_exceptions(accepted)
        out.append("")
    violations = [f for a in plan.apps for f in a.findings if not f.accepted]
    if violations:
        out.append("Baseline violations left in place (unlisted apps are reported, not changed):")
        out += [
            f"  {printable(f.app)}: {printable(f.control)} {printable(f.path)} is {show(f.value)}"
            for f in violations
        ]
        out.append("")
    notes = [(a.name, n) for a in plan.apps for n in a.notes]
    if notes or plan.warnings:
        out.append("Warnings:")
        out += [f"  {printable(w)}" for w in plan.warnings]
        out += [f"  {printable(name)}: {printable(note)}" for name, note in notes]
        out.append("")
    if plan.errors:
        out.append("Errors:")
        out += [f"  {printable(name)}: {printable(error)}" for name, error in plan.errors]
        out.append("")
    out.append(summary_line(plan))
    return "\n".join(out) + "\n"
