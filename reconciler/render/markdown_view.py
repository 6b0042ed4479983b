"""Markdown view for pull-request comments: summary first, then risk, changes and context.

A reviewer reads the summary (apps and fields to change, flows being enabled, high-risk apps),
then the risk ranking, the changes (each with the control it serves), the exceptions in force
(those expiring soon flagged) and the violations left in place, each in a `<details>` block.
GitHub refuses a comment over 65,536 characters, so a large plan drops its least important
items first (warnings, then violations, then ordinary changes; never the summary) and says
what it left out.

A PR comment is rendered as GitHub Flavored Markdown with inline HTML, so an org string could do
more than forge a line: a `|` splits a table cell, a backtick closes a code span, `<` opens HTML,
`[x](url)` plants a link. Names therefore go into code spans built by `md_code` (which nothing
inside can close), and values and prose (error messages) through `md_value`/`md_text` (which
turn every character Markdown or HTML would act on into an entity). All start from `printable`,
so control characters are already visible escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from ..controls import BY_ID
from ..display import factor_parts, plural, printable, show
from ..model import LEVEL_ORDER, FieldChange, Finding, Plan, RiskContext
from ..safety import SafetyCheck, assess
from .text_view import HELD_HEADING, risk_order, summary_line, usage_lines

#: Characters that Markdown or HTML interpret inline; as entities they only display.
_MD_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>`|\\*_[]~"}
_MD_TABLE = str.maketrans(_MD_ENTITIES)


def md_text(text: object) -> str:
    """Outside text as inert Markdown prose (safe in table cells and list items)."""
    return printable(text).translate(_MD_TABLE)


def md_code(text: object, table: bool = False) -> str:
    """Outside text (a name) as a code span that shows its `printable` form verbatim."""
    return _code_span(printable(text), table)


def md_value(value: object) -> str:
    """A field value as the text view shows it (`show`), made inert Markdown like `md_text`."""
    return show(value).translate(_MD_TABLE)


def _code_span(content: str, table: bool) -> str:
    """A code span around text that is already `printable`.

    Inside a code span Markdown interprets nothing but a backtick run as long as the fence, so
    the fence is one backtick longer than the longest run in the text (CommonMark 6.1), with a
    space of padding where the text starts or ends with a backtick or a space. In a GFM table a
    `|` still ends the cell even inside a code span, unless written `\\|` (GFM spec 4.10).
    """
    if table:
        content = content.replace("|", "\\|")
    if not content:
        return "` `"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", content)), default=0) + 1)
    if content[0] in "` " or content[-1] in "` ":
        content = f" {content} "
    return f"{fence}{content}{fence}"


# --- the plan as a pull-request comment --------------------------------------------------

#: GitHub refuses a comment (and a job summary) longer than this many characters.
GITHUB_LIMIT = 65_536
#: Kept free for the cut note and the "N more not shown" lines the guard adds.
_RESERVE = 2_000
#: At most this many names in one summary line; the sections below list them all.
_NAMES_SHOWN = 10

# Cut order (higher goes first): a reviewer approving a change needs the changes and what is
# dangerous about them more than the context around them. Urgent: a change that enables a
# flow or touches a high/unknown-risk app, a high/unknown risk, an exception about to expire.
_ERROR, _URGENT, _CHANGE, _EXCEPTION, _RISK, _VIOLATION, _UNLISTED_VIOLATION, _WARNING = range(8)
#: A usage line that changes no decision (no logins, or unknown): cut first.
_QUIET = 8


@dataclass
class _Item:
    text: str
    rank: int
    order: int = 0


@dataclass
class _Section:
    """A heading, a list of cuttable items (most important first), and what to call them."""

    head: list[str]
    items: list[_Item]
    unit: str
    tail: list[str] = field(default_factory=list)
    #: A Markdown table needs a blank line before a following paragraph.
    kept: list[_Item] = field(default_factory=list)

    def render(self) -> list[str]:
        out = [*self.head, *(i.text for i in self.kept)]
        dropped = len(self.items) - len(self.kept)
        if dropped:
            out += ["", f"*… {plural(dropped, self.unit)} not shown (cut to fit; see the note).*"]
        return out + self.tail


#: What makes the start of a list item a nested block: a bullet (`- + *`), a heading, a quote,
#: a thematic break or an ordered-list number (`1.` / `1)`).
_BLOCK_START = re.compile(r"^(?:[-+*#>=]|\d+[.)])")


def md_item(text: object) -> str:
    """Outside text that starts a list item: `md_text`, and its first character an entity
    where Markdown would read it as a nested list, heading or quote (a risk factor starts
    with `- `, which would otherwise nest)."""
    shown = md_text(text)
    if _BLOCK_START.match(shown):
        return f"&#{ord(shown[0])};{shown[1:]}"
    return shown


def _factor(factor: str) -> str:
    """A risk factor with its mark in words, as in the text view (never a bare `+`/`-`)."""
    _, mark, text = factor_parts(factor)
    return f"{mark} {md_text(text)}" if mark else md_item(text)


def _names(names: list[str]) -> str:
    shown = ", ".join(md_code(n) for n in names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _summary(plan: Plan) -> list[str]:
    s = plan.summary()
    changed = sorted(plan.changed_apps, key=risk_order)
    enabling = [c for c in plan.changes if c.enables_flow]
    high = sorted(a.name for a in plan.apps if a.risk and a.risk.level == "high")
    soon = [f for f in _exceptions(plan) if _days_left(plan, f) is not None]
    out = ["**Summary**", ""]
    line = f"- **Apps to change:** {s['apps_to_change']} ({plural(s['fields_to_change'], 'field')})"
    out.append(line + (f": {_names([a.name for a in changed])}" if changed else ""))
    flows = [f"{md_code(c.app)} {md_code(c.path)}" for c in enabling[:_NAMES_SHOWN]]
    more = f" and {len(enabling) - _NAMES_SHOWN} more" if len(enabling) > _NAMES_SHOWN else ""
    out.append(
        f"- **Flows being enabled:** {len(enabling)}"
        + (f": {', '.join(flows)}{more}" if enabling else "")
    )
    out.append(
        f"- **High-risk apps** (client credentials on): {len(high)}"
        + (f": {_names(high)}" if high else "")
    )
    days = plan.exception_warning_days
    soon_text = f", {len(soon)} expiring within {days} days" if soon and days is not None else ""
    out.append(f"- **Exceptions in force:** {s['exceptions_in_force']}{soon_text}")
    out.append(f"- **Baseline violations left in place:** {s['violations']}")
    breaking = sorted(a.name for a in plan.apps if a.breaking and a.changes)
    if breaking:
        out.append(
            f"- **Breaks an integration in use** (client credentials turned off): "
            f"{len(breaking)}: {_names(breaking)}"
        )
    if plan.held:
        held = sorted({h.change.app for h in plan.held})
        out.append(
            f"- **Held** (would break an integration in use; `--allow-breaking` releases): "
            f"{plural(len(plan.held), 'change')}: {_names(held)}"
        )
    if plan.errors:
        out.append(f"- **Apps with errors:** {s['apps_in_error']} (apply refuses this plan)")
    return out + [""]


def _safety(plan: Plan, check: SafetyCheck | None) -> list[str]:
    check = check or assess(plan)
    if not check.blocks:
        return []
    return [f"> **Safety threshold:** {md_text(check.message())}.", ""]


def _who(risk: RiskContext) -> str:
    """The run-as user as describe_risk words it, names in code spans."""
    user = risk.run_as
    if user is None:
        return "no run-as user"
    if user.found is None:
        return f"run as {md_code(user.username)} (could not be looked up)"
    if not user.found:
        return f"run as {md_code(user.username)} (not found)"
    api_only = {True: "API Only", False: "UI", None: "API Only unknown"}[user.api_only]
    traits = ["active" if user.active else "**inactive**", api_only]
    return f"run as {md_code(user.username)} ({', '.join(traits)}, profile {md_code(user.profile)})"


def _risk_section(plan: Plan) -> _Section | None:
    risky = sorted((a for a in plan.apps if a.risk), key=risk_order)
    if not risky:
        return None
    items = []
    for app in risky:
        risk = app.risk
        if risk is None:  # filtered above; tells the type checker so
            continue
        level = md_text(risk.level.upper())
        lines = [f"1. **{level}** {md_code(app.name)}: {_who(risk)}"]
        lines += [f"   - {_factor(factor)}" for factor in risk.factors]
        urgent = LEVEL_ORDER.get(risk.level, len(LEVEL_ORDER)) <= LEVEL_ORDER["unknown"]
        items.append(_Item("\n".join(lines), _URGENT if urgent else _RISK))
    head = [
        "<details open><summary>Risk ranking: client credentials stay or become enabled on "
        f"{plural(len(risky), 'app')} (highest risk first)</summary>",
        "",
    ]
    return _Section(head, items, "ranked app", ["", "</details>", ""])


def _control_note(plan: Plan, change: FieldChange) -> str:
    """Which control a change serves: the one that asked for it, else those covering the field."""
    parts = ["**enables a flow**"] if change.enables_flow else []
    app = plan.app(change.app)
    if app is not None and app.breaking and change.path.endswith(".client_credentials"):
        parts.append("**breaks an integration in use**")
    if change.control:
        parts.append(f"baseline {md_code(change.control, table=True)} (not declared)")
    else:
        ids = [i for i in plan.controls if i in BY_ID and change.path in BY_ID[i].paths()]
        parts += [md_code(i, table=True) for i in ids]
    return "; ".join(parts)


def _changes_section(plan: Plan) -> _Section:
    items = []
    for app in sorted(plan.changed_apps, key=risk_order):
        urgent = any(c.enables_flow for c in app.changes) or (
            app.risk is not None and app.risk.level in ("high", "unknown")
        )
        rows = [
            f"| {md_code(c.app, table=True)} | {md_code(c.path, table=True)} | "
            f"{md_value(c.before)} | {md_value(c.after)} | {_control_note(plan, c)} |"
            for c in app.changes
        ]
        items.append(_Item("\n".join(rows), _URGENT if urgent else _CHANGE))
    head = ["<details open>", f"<summary>{md_text(summary_line(plan))}</summary>", ""]
    if items:
        head += ["| App | Field | Before | After | Control |", "|---|---|---|---|---|"]
    return _Section(head, items, "changed app", ["", "</details>", ""])


def _usage_section(plan: Plan) -> _Section | None:
    """Per app with client credentials on: the usage line, failed logins apart."""
    used = [a for a in plan.apps if a.usage is not None]
    if not used:
        return None
    items = []
    for a in used:
        assert a.usage is not None
        # Org text (addresses, reasons) goes through md_text: inert Markdown.
        first, *rest = usage_lines(a.usage, plan.created_at, md_text)
        text = f"- {md_code(a.name)}: {first}"
        text += "".join(f"\n   - {line}" for line in rest)
        if a.usage.status == "in_use" and (a.breaking or a.usage.failed_logins):
            rank = _URGENT
        elif a.usage.status == "in_use" or a.usage.failed_logins:
            rank = _RISK
        else:
            rank = _QUIET
        items.append(_Item(text, rank))
    head = [
        "<details open><summary>Client-credentials usage (LoginHistory): "
        f"{plural(len(used), 'app')}</summary>",
        "",
    ]
    return _Section(head, items, "usage line", ["", "</details>", ""])


def _held_section(plan: Plan) -> _Section | None:
    if not plan.held:
        return None
    items = [
        _Item(
            f"- {md_code(h.change.app)} {md_code(h.change.path)}: {md_value(h.change.before)} "
            f"-> {md_value(h.change.after)}"
            + (f" (baseline {md_code(h.change.control)})" if h.change.control else "")
            + f": {md_text(h.reason)}",
            _URGENT,
        )
        for h in plan.held
    ]
    head = [
        f"<details open><summary>{md_text(HELD_HEADING)}: {plural(len(items), 'change')} "
        "(not applied; <code>--allow-breaking</code> releases them)</summary>",
        "",
    ]
    return _Section(head, items, "held change", ["", "</details>", ""])


def _exceptions(plan: Plan) -> list[Finding]:
    """One accepted finding per (app, control): an exception is listed once."""
    seen: dict[tuple[str, str], Finding] = {}
    for f in (f for a in plan.apps for f in a.findings if f.accepted):
        seen.setdefault((f.app, f.control), f)
    return list(seen.values())


def _days_left(plan: Plan, finding: Finding) -> int | None:
    """Days until the exception expires, when that is within the warning window."""
    expires = (finding.exception or {}).get("expires")
    if plan.exception_warning_days is None or not isinstance(expires, str):
        return None
    try:
        days = (date.fromisoformat(expires) - date.fromisoformat(plan.created_at[:10])).days
    except ValueError:
        return None
    return days if days <= plan.exception_warning_days else None


def _exceptions_section(plan: Plan) -> _Section | None:
    accepted = _exceptions(plan)
    if not accepted:
        return None
    paths: dict[tuple[str, str], list[str]] = {}
    for f in (f for a in plan.apps for f in a.findings if f.accepted):
        paths.setdefault((f.app, f.control), []).append(f.path)
    items = []
    for f in accepted:
        e = f.exception or {}
        days = _days_left(plan, f)
        flag = f" **expires in {plural(days, 'day')}**" if days is not None else ""
        ticket = f", ticket {md_text(e['ticket'])}" if e.get("ticket") else ""
        fields = ", ".join(md_code(p) for p in paths[(f.app, f.control)])
        items.append(
            _Item(
                f"- {md_code(f.app)}: {md_code(f.control)} ({fields}) accepted until "
                f"{md_text(e.get('expires'))}{flag}; owner {md_text(e.get('owner'))}{ticket}: "
                f"{md_text(e.get('justification'))}",
                _URGENT if days is not None else _EXCEPTION,
            )
        )
    items.sort(key=lambda i: i.rank)
    head = [f"<details open><summary>Exceptions in force: {len(accepted)}</summary>", ""]
    return _Section(head, items, "exception", ["", "</details>", ""])


def _violations_section(plan: Plan) -> _Section | None:
    found = [f for a in plan.apps for f in a.findings if not f.accepted]
    if not found:
        return None
    items = [
        _Item(
            f"- {md_code(f.app)}: {md_code(f.control)} {md_code(f.path)} is {md_value(f.value)}"
            + ("" if f.listed else " (unlisted app: reported, not changed)"),
            _VIOLATION if f.listed else _UNLISTED_VIOLATION,
        )
        for f in found
    ]
    head = [
        f"<details><summary>Baseline violations left in place: {len(found)}</summary>",
        "",
    ]
    return _Section(head, items, "violation", ["", "</details>", ""])


def _warnings_section(plan: Plan) -> _Section | None:
    lines = [f"- {md_item(w)}" for w in plan.warnings]
    lines += [f"- {md_code(a.name)}: {md_text(n)}" for a in plan.apps for n in a.notes]
    if not lines:
        return None
    head = [f"<details><summary>Warnings and notes: {len(lines)}</summary>", ""]
    items = [_Item(line, _WARNING) for line in lines]
    return _Section(head, items, "warning", ["", "</details>", ""])


def _errors_section(plan: Plan) -> _Section | None:
    if not plan.errors:
        return None
    items = [_Item(f"- {md_code(n)}: {md_text(e)}", _ERROR) for n, e in plan.errors]
    return _Section(["**Errors** (apply refuses this plan)", ""], items, "error", [""])


def _fit(sections: list[_Section], fixed: int, limit: int) -> list[str]:
    """Keep every item if the comment fits, else drop the least important ones (highest rank,
    latest first) until it does. Returns what was left out, per unit, for the note."""
    everything = [i for s in sections for i in s.items]
    for order, item in enumerate(everything):
        item.order = order
    for s in sections:
        s.kept = list(s.items)
    size = fixed + sum(len(line) + 1 for s in sections for line in s.render())
    if size <= limit:
        return []
    dropped: set[int] = set()
    for item in sorted(everything, key=lambda i: (i.rank, i.order), reverse=True):
        if size <= limit - _RESERVE:
            break
        dropped.add(item.order)
        size -= len(item.text) + 1
    for s in sections:
        s.kept = [i for i in s.items if i.order not in dropped]
    return [
        plural(len(s.items) - len(s.kept), s.unit) for s in sections if len(s.kept) < len(s.items)
    ]


def render_markdown(
    plan: Plan, safety: SafetyCheck | None = None, limit: int = GITHUB_LIMIT
) -> str:
    """The plan for a PR comment or job summary: summary, risk, changes, context; never
    longer than `limit` characters (it says what it cut to get there)."""
    top = [f"### reconciler plan for org {md_code(plan.org_id)}", "", *_summary(plan)]
    top += _safety(plan, safety)
    sections = [
        s
        for s in (
            _errors_section(plan),
            _risk_section(plan),
            _usage_section(plan),
            _changes_section(plan),
            _held_section(plan),
            _exceptions_section(plan),
            _violations_section(plan),
            _warnings_section(plan),
        )
        if s is not None
    ]
    fixed = sum(len(line) + 1 for line in top) + 1
    cut = _fit(sections, fixed, limit)
    if cut:
        top += [
            f"> **Cut to fit GitHub's {limit:,}-character comment limit:** left out "
            f"{', '.join(cut)} (least important first). For the full plan run "
            "`reconciler plan` or `reconciler plan --format json`.",
            "",
        ]
    out = top + [line for s in sections for line in s.render()]
    text = "\n".join(out).rstrip("\n") + "\n"
    if len(text) > limit:  # the parts that are never cut are themselves too long
        note = "\n\n> **Cut:** the plan is too large to show; run `reconciler plan`.\n"
        text = text[: limit - len(note)] + note
    return text
