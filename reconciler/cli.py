"""Command line: a thin shell over reconciler.api. Parsing, prompting, exit codes; nothing else."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import ReconcilerError
from .paths import DEFAULT_EMULATOR_STATE
from .redaction import configure_logging, scrub
from .stopping import STOP

if TYPE_CHECKING:
    from .applying import ApplyResult
    from .model import Plan

# Everything else is imported inside the command that needs it: `--help` and `validate` never
# load the org stack (requests, lxml, simple-salesforce) or the planner (DeepDiff).

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_VIOLATIONS = 0, 1, 2, 3
CONFIRM = "Do you want to perform these actions? Only 'yes' will be accepted:"


def _shown(message: str) -> str:
    """Scrubbed of secrets, control characters escaped line by line (org text inside an
    error cannot move the cursor or recolour the terminal)."""
    from .display import printable

    return "\n".join(printable(line) for line in scrub(message).split("\n"))


def _fail(message: str) -> None:
    click.echo(f"Error: {_shown(message)}", err=True)
    sys.exit(EXIT_ERROR)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """User errors print one clean line; even unexpected ones are scrubbed of secrets."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReconcilerError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            # Only reached before any write (the applier turns signals into a report).
            click.echo("Error: interrupted; nothing was written", err=True)
            sys.exit(_signal_exit(STOP.signum))
        except Exception as exc:  # a bug: say so, without leaking what the exception carried
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                click.echo(scrub(traceback.format_exc()), err=True)
            _fail(f"internal error ({type(exc).__name__}): {exc}; re-run with --debug for details")

    return wrapper


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep an org-access option for `connect` without threading it through every command."""
    ctx.meta[f"org.{param.name}"] = value
    return value


def connect(target: str | None, instance_url: str | None, *, timeout: float) -> Any:
    """open_org with the parallelism, retry and login options of the current command line."""
    from .org.connect import connect as open_org
    from .org.login import LoginOptions

    meta = click.get_current_context().meta
    retry = _retry_policy()
    parallelism = meta.get("org.parallelism", DEFAULT_PARALLELISM)
    login = LoginOptions(
        client_id=meta.get("org.client_id"),
        username=meta.get("org.username"),
        jwt_key_file=meta.get("org.jwt_key_file"),
        login_url=meta.get("org.login_url"),
        sfdx_url_file=meta.get("org.sfdx_url_file"),
    )
    return _with_progress(
        open_org(
            target, instance_url, timeout=timeout, parallelism=parallelism, retry=retry, login=login
        )
    )


DEFAULT_PARALLELISM, DEFAULT_RETRIES, DEFAULT_RETRY_SECONDS = 8, 3, 60.0


def _retry_policy() -> Any:
    """The --retries/--retry-max-seconds policy: reads use it, and so do the applier's retries
    of a save that failed transiently (each re-read first)."""
    from .org.retry import RetryPolicy

    meta = click.get_current_context().meta
    return RetryPolicy(
        attempts=meta.get("org.retries", DEFAULT_RETRIES) + 1,
        max_seconds=meta.get("org.retry_max_seconds", DEFAULT_RETRY_SECONDS),
    )


#: Org-access flags that `connect` reads from the context (flag, type, default, metavar, help).
#: Login flags also read the SF_* variable named in their help when no flag names an org.
_ORG_FLAGS: list[tuple[str, Any, Any, str | None, str]] = [
    (
        "--timeout",
        click.FloatRange(min=1),
        60.0,
        "SECONDS",
        "Seconds to wait for each org call.",
    ),
    (
        "--parallelism",
        click.IntRange(1, 25),
        DEFAULT_PARALLELISM,
        "N",
        "Org calls in flight at once (1 = strictly sequential). Salesforce limits only "
        "requests running 20 s or longer: 25 at once (production, sandbox), 5 (Developer "
        "Edition, trial); short Metadata reads are not counted.",
    ),
    (
        "--retries",
        click.IntRange(0, 10),
        DEFAULT_RETRIES,
        "N",
        "Retries of a read (list, read, query) after a connection error, timeout, HTTP "
        "502/503/504 or UNABLE_TO_LOCK_ROW/SERVER_UNAVAILABLE, and of a save that failed the "
        "same way (re-read first), with exponential backoff and jitter. "
        "REQUEST_LIMIT_EXCEEDED is never retried.",
    ),
    (
        "--retry-max-seconds",
        click.FloatRange(min=0),
        DEFAULT_RETRY_SECONDS,
        "SECONDS",
        "Give up retrying one call (or one save) after this long, waits included.",
    ),
    (
        "--client-id",
        None,
        None,
        "KEY",
        "JWT bearer: consumer key of the app holding your certificate (or SF_CLIENT_ID).",
    ),
    ("--username", None, None, "USER", "JWT bearer: the user to log in as (or SF_USERNAME)."),
    (
        "--jwt-key-file",
        None,
        None,
        "FILE",
        "JWT bearer: PEM private key matching the app's certificate (or SF_JWT_KEY_FILE).",
    ),
    (
        "--login-url",
        None,
        None,
        "URL",
        "JWT bearer: https://login.salesforce.com (default), https://test.salesforce.com or a "
        "My Domain URL (or SF_LOGIN_URL).",
    ),
    (
        "--sfdx-url-file",
        None,
        None,
        "FILE",
        "A file holding an SFDX auth URL (force://CLIENT_ID:SECRET:REFRESH_TOKEN@INSTANCE), "
        "e.g. from `sf org auth show-sfdx-auth-url --json`.",
    ),
]


def org_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for flag, kind, default, metavar, text in reversed(_ORG_FLAGS):
        if flag == "--timeout":  # the one commands take as a parameter
            func = click.option(
                flag, type=kind, default=default, show_default=True, metavar=metavar, help=text
            )(func)
            continue
        func = click.option(
            flag,
            type=kind,
            default=default,
            show_default=default is not None,
            metavar=metavar,
            expose_value=False,
            callback=_remember,
            help=text,
        )(func)
    func = click.option(
        "--instance-url",
        metavar="URL",
        help="A real org (or compatible server); the access token comes from SF_ACCESS_TOKEN.",
    )(func)
    return click.option(
        "-o",
        "--target-org",
        "target",
        metavar="ORG",
        help="A Salesforce CLI alias or username (sf's own login; or SF_TARGET_ORG), or "
        "`emulator` / `emulator:STATE_FILE` for the built-in org emulator.",
    )(func)


def scope_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--exclude", multiple=True, metavar="NAME", help="Leave this app out.")(
        func
    )
    return click.option("--app", "apps", multiple=True, metavar="NAME", help="Only this app.")(func)


evidence_option = click.option(
    "--evidence-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="RECONCILER_EVIDENCE_DIR",
    help="Write a JSON evidence record of this run here (or set RECONCILER_EVIDENCE_DIR).",
)

desired_option = click.option(
    "-d",
    "--desired",
    type=click.Path(path_type=Path),
    multiple=True,
    default=[Path("desired")],
    show_default=True,
    help="Desired-state YAML file or folder. Repeat to layer folders (e.g. -d desired/base "
    "-d desired/prod): later ones override earlier ones key by key.",
)


class _UsageExitsOne:
    """Exit codes a pipeline can trust: click exits 2 on a usage error, but 2 is what
    `plan --detailed-exitcode` means by "changes present". Any usage error exits 1 here."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # per instance, on purpose
            raise


class _Command(_UsageExitsOne, click.Command):
    pass


class _Group(_UsageExitsOne, click.Group):
    command_class = _Command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # per instance, on purpose
            raise


#: Flags of the top-level group that may also be written after the subcommand
#: (`reconciler plan -o emulator --debug`): people add them at the end of the line they re-run.
GLOBAL_FLAGS = ("--debug", "--quiet", "-q", "--no-color")


class _MainGroup(_Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move global flags written after the subcommand to the front (up to a `--`)."""
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
        rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
        return super().parse_args(ctx, flags + rest + args[end:])


@click.group(cls=_MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug",
    is_flag=True,
    help="Debug logging to stderr (secrets are masked). Also accepted after the subcommand.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Only errors and the result: no progress, notes or warnings on stderr.",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="No colour (also when NO_COLOR is set). Colour is only ever used on a terminal.",
)
@click.version_option(package_name="reconciler")
def main(debug: bool, quiet: bool, no_color: bool) -> None:
    """Keep the OAuth settings of Salesforce External Client Apps exactly as declared."""
    from . import terminal

    configure_logging(logging.DEBUG if debug else logging.WARNING)
    terminal.configure(no_color=no_color, quiet=quiet)


@contextlib.contextmanager
def _with_progress(opened: Any) -> Iterator[Any]:
    """The opened org, with a progress line on stderr when that is a terminal."""
    from . import terminal

    with opened as org:
        terminal.attach_progress(org)
        yield org


def _coloured(render: Callable[[], str], enabled: bool | None = None) -> str:
    """Text rendered with colour when stdout is a terminal (never for a file: enabled=False)."""
    from . import terminal

    with terminal.painting(enabled):
        return render()


def _info(message: str) -> None:
    """A note on stderr that --quiet drops."""
    from . import terminal

    terminal.info(message)


def _check_writable(path: Path | None) -> None:
    """Fail before touching the org, not after, when an output path cannot be written."""
    if path is not None and path.is_dir():
        raise ReconcilerError(f"{path} is a directory; give a file name")


def _write_atomic(path: Path, text: str) -> None:
    from .fileio import write_atomic

    write_atomic(path, text)


def _wants_json(args: list[str]) -> bool:
    """`--format json` (or `--format=json`) among a command's raw arguments."""
    pairs = zip(args, [*args[1:], ""], strict=False)  # no arguments at all: no pairs
    return any(a == "--format=json" or (a == "--format" and b == "json") for a, b in pairs)


class _JsonErrorsCommand(_Command):
    """A command with `--format json`: when json is asked for, even a usage error (which click
    raises before the command runs) is the JSON error object on stdout, exit 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        wants_json = _wants_json(args)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if not wants_json:
                raise
            from .render.ci_views import error_document

            click.echo(error_document(exc.format_message()), nl=False)
            click.echo(f"Error: {_shown(exc.format_message())}", err=True)
            ctx.exit(EXIT_ERROR)


@contextlib.contextmanager
def _errors_as(fmt: str) -> Iterator[None]:
    """With `--format json` an error is a JSON object on stdout (a pipeline parses stdout),
    echoed as the usual `Error:` line on stderr; with `--format github` each desired-state
    issue is also a `::error file=...,line=...::` annotation on stdout. Exit 1 either way."""
    try:
        yield
    except ReconcilerError as exc:
        if fmt == "json":
            from .render.ci_views import error_document

            click.echo(error_document(exc), nl=False)
        elif fmt == "github":
            from .render.ci_views import error_annotations

            for line in error_annotations(exc):
                click.echo(line)
        raise


@main.command(cls=_JsonErrorsCommand)
@desired_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github", "json"]),
    default="text",
    show_default=True,
    help="github: `::error file=...,line=...::` workflow annotations on stdout.",
)
@handle_errors
def validate(desired: Path, fmt: str) -> None:
    """Check the desired state offline; never touches an org."""
    from .operations import load_desired

    with _errors_as(fmt):
        state = load_desired(desired)
    summary = (
        f"Valid: {len(state.apps)} app(s) in {len(state.files)} file(s); baseline "
        f"{', '.join(state.baseline.controls) or '(none)'}, unlisted apps: "
        f"{state.baseline.unlisted}."
    )
    if fmt == "json":
        import json

        from .render.ci_views import issue_dict

        doc = {
            "valid": True,
            "apps": len(state.apps),
            "files": [str(f) for f in state.files],
            "baseline": list(state.baseline.controls),
            "unlisted": state.baseline.unlisted,
            "warnings": [issue_dict(w) for w in state.warnings],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=True))
        return
    if fmt == "github":
        from .render.ci_views import issue_annotation

        for warning in state.warnings:
            click.echo(issue_annotation("warning", warning))
    else:
        for warning in state.warnings:
            _info(f"Warning: {_shown(str(warning))}")
    click.echo(summary)


usage_window_option = click.option(
    "--usage-window",
    "usage_window",
    type=click.IntRange(1, 3650),
    default=30,
    show_default=True,
    metavar="DAYS",
    help="Look up client-credentials logins (LoginHistory) over the last DAYS days.",
)
allow_breaking_option = click.option(
    "--allow-breaking",
    is_flag=True,
    help="Release held changes: also turn client credentials off for apps in use when only "
    "the baseline or defaults: ask for it.",
)


def _max_changes(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`N` or `N%`, checked at parse time so a typo is a usage error (exit 1), not a run."""
    if value is None:
        return None
    from .safety import Threshold

    try:
        return str(Threshold.parse(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


max_changes_option = click.option(
    "--max-changes",
    metavar="N|N%",
    callback=_max_changes,
    help="Safety valve: refuse to apply a plan that changes more than N apps, or N% of the "
    "org's apps [default: 30% when the org has 10 apps or more, else no limit].",
)


@main.command(cls=_JsonErrorsCommand)
@desired_option
@org_options
@scope_options
@click.option(
    "--out",
    "--output",
    "out",
    type=click.Path(path_type=Path),
    help="Save the plan for `apply PLANFILE` (--out and --output are the same).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
@max_changes_option
@evidence_option
@usage_window_option
@allow_breaking_option
@handle_errors
def plan(
    desired,
    target,
    instance_url,
    timeout,
    apps,
    exclude,
    out,
    fmt,
    detailed_exitcode,
    max_changes,
    evidence_dir,
    usage_window,
    allow_breaking,
):
    """Show what apply would change. Read-only."""
    from . import api
    from .planfile import write as write_plan_file
    from .safety import assess

    with _errors_as(fmt):
        _check_writable(out)
        state = api.load_desired(desired)
        with connect(target, instance_url, timeout=timeout) as org:
            the_plan, _ = api.make_plan(
                org,
                state,
                apps,
                exclude,
                usage_window_days=usage_window,
                allow_breaking=allow_breaking,
            )
    the_plan.max_changes = max_changes  # the JSON and Markdown views report the valve's verdict
    click.echo(
        _coloured(lambda: api.render(the_plan, fmt), None if fmt == "text" else False), nl=False
    )
    if assess(the_plan).blocks:  # stderr: `Plan:` stays stdout's last line, JSON stays JSON
        _warn(f"safety threshold: {assess(the_plan).message()}")
    if out:
        write_plan_file(the_plan, out)
        _info(f"Saved the plan to {out}; apply it with `reconciler apply {out}`.")
    outcome = "errors" if the_plan.errors else ("changes" if the_plan.changes else "no changes")
    _record(evidence_dir, "plan", the_plan, {"outcome": outcome})
    if the_plan.errors:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and the_plan.changes:
        sys.exit(EXIT_CHANGES)


def _record(directory: Path | None, command: str, plan, result: dict[str, Any]) -> None:
    if directory is not None:
        from .evidence import write_evidence

        _info(f"Evidence: {write_evidence(directory, command, plan, result)}")


def _load_plan_file(path: Path) -> Plan:
    from .planfile import read as read_plan_file

    return read_plan_file(path)


def _signal_exit(signum: int | None) -> int:
    """130 for SIGINT (and a bare KeyboardInterrupt), 128+N for another signal N."""
    return 128 + (signum or signal.SIGINT)


def with_signals(func: Callable[..., Any]) -> Callable[..., Any]:
    """SIGINT/SIGTERM handling for commands that write (like Terraform).

    Before the first write a signal aborts at once: nothing was written. While writing, the
    first signal asks the applier to stop after the call in flight (its outcome is recorded);
    a second abandons that call. Either way the command still prints its report and writes its
    evidence record, then exits 130 (SIGINT) or 143 (SIGTERM).
    """

    def on_signal(signum: int, frame: Any) -> None:
        if STOP.active and not STOP.event.is_set():
            STOP.signum = signum
            STOP.event.set()
            os.write(
                2,
                b"\nStopping after the call in flight; the report follows. Signal again to "
                b"abandon that call (its outcome is then unknown).\n",
            )
            return
        STOP.signum = STOP.signum or signum
        raise KeyboardInterrupt

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        STOP.event.clear()
        STOP.signum = None
        if threading.current_thread() is not threading.main_thread():
            return func(*args, **kwargs)  # signals only reach the main thread anyway
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, on_signal)
        try:
            return func(*args, **kwargs)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    return wrapper


lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for another apply/rollback of the same org to finish (0: fail at once).",
)


@contextlib.contextmanager
def _locked(command: str, timeout: float) -> Iterator[Callable[[str], bool]]:
    """`take(org_id)`: hold the org's lock for the rest of the run; True when another run held
    it (or left it behind), so the caller plans again: that run may have changed the org.

    Taken once the plan is made, before anything is written, rather than before reading: the
    org id it needs is a REST query whose first use imports simple-salesforce (~0.2 s), which
    the reads' waiting hides but would otherwise delay them. Writes re-read their components
    and refuse a moved field (stale), so a plan made just before the lock writes nothing wrong.
    """
    from .locking import org_lock

    with contextlib.ExitStack() as stack:

        def take(org_id: str) -> bool:
            contended: list[str] = []

            def warn(message: str) -> None:
                contended.append(message)
                _warn(message)

            stack.enter_context(org_lock(org_id, command, timeout, warn=warn))
            return bool(contended)

        yield take


def _warn(message: str) -> None:
    _info(f"Warning: {_shown(message)}")


def _note(message: str) -> None:
    _info(_shown(message))


def _confirm(auto_approve: bool, what: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ReconcilerError(
            f"refusing to {what} without confirmation: stdin is not a terminal. "
            "Use --auto-approve, or `plan --out FILE` then `apply FILE`"
        )
    answer = click.prompt(CONFIRM, default="", show_default=False, prompt_suffix=" ")
    if answer.strip() != "yes":
        raise ReconcilerError(f"{what} cancelled; nothing was written")


def _report(result: ApplyResult, what: str = "Apply") -> None:
    """Per app: its state and why; then one summary line. Printed whatever happened."""
    from .display import printable

    for r in result.results:
        click.echo(f"  {printable(r.name)}: {r.status}")
        for message in r.messages:
            click.echo(f"      {printable(scrub(message))}")
    c = result.counts()
    line = (
        f"{what} {'complete' if result.ok else 'incomplete'}: {c['applied']} applied, "
        f"{c['failed']} failed, {c['not attempted']} not attempted"
    )
    if c["partially applied"] or c["unknown"]:
        line += f", {c['partially applied']} partially applied, {c['unknown']} unknown"
    click.echo(line + ".")
    if result.interrupted:
        name = signal.Signals(result.signum).name if result.signum else "SIGINT"
        click.echo(f"Interrupted by {name}: nothing further was written after the call in flight.")
    if result.error:
        click.echo(f"Stopped: {printable(scrub(result.error))}")
    if result.backup:
        click.echo(f"Backup: {result.backup} (undo with `reconciler rollback {result.backup}`)")


def _finish(command: str, the_plan: Plan, result: ApplyResult, evidence_dir: Path | None) -> None:
    """Report, evidence, exit code: the same for every way an apply or rollback can end."""
    _report(result, command.capitalize())
    _record(evidence_dir, command, the_plan, result.to_dict())
    if result.interrupted:
        sys.exit(_signal_exit(result.signum))
    if not result.ok:
        sys.exit(EXIT_ERROR)


@main.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path))
@desired_option
@org_options
@scope_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for pipelines).")
@max_changes_option
@lock_timeout_option
@evidence_option
@usage_window_option
@allow_breaking_option
@handle_errors
@with_signals
def apply(
    planfile,
    desired,
    target,
    instance_url,
    timeout,
    apps,
    exclude,
    auto_approve,
    max_changes,
    lock_timeout,
    evidence_dir,
    usage_window,
    allow_breaking,
):
    """Make the org match the desired state (or apply a saved PLANFILE exactly)."""
    from . import api
    from .planfile import PlanMismatchError
    from .safety import raise_if_unsafe

    def valve(fresh: Plan) -> None:
        """The safety valve, on the plan about to be applied, before anything is written."""
        fresh.max_changes = max_changes
        raise_if_unsafe(fresh)

    if planfile is not None:
        if apps or exclude:
            raise ReconcilerError("--app/--exclude cannot narrow a saved plan; re-run plan instead")
        saved = _load_plan_file(planfile)
        if allow_breaking and not saved.allow_breaking:
            raise ReconcilerError(
                "--allow-breaking cannot widen a saved plan; re-run plan --allow-breaking instead"
            )
        state = api.load_desired(desired)
        click.echo(
            f"Checking saved plan {planfile} ({len(saved.changes)} field change(s)) against "
            f"{', '.join(map(str, desired))} and the org."
        )
        with (
            connect(target, instance_url, timeout=timeout) as org,
            _locked("apply", lock_timeout) as lock,
        ):
            try:
                the_plan, result = api.apply_saved(
                    org, saved, state, check=valve, lock=lock, notify=_note, policy=_retry_policy()
                )
            except PlanMismatchError as exc:
                raise PlanMismatchError(f"{planfile}: {exc}") from None
    else:
        state = api.load_desired(desired)
        with (
            connect(target, instance_url, timeout=timeout) as org,
            _locked("apply", lock_timeout) as lock,
        ):
            options = {"usage_window_days": usage_window, "allow_breaking": allow_breaking}
            the_plan, live = api.make_plan(org, state, apps, exclude, **options)
            if lock(the_plan.org_id):
                the_plan, live = api.make_plan(org, state, apps, exclude, **options)
            click.echo(_coloured(lambda: api.render(the_plan, "text")), nl=False)
            if the_plan.errors:
                raise ReconcilerError("the plan has errors; nothing was written")
            if not the_plan.changes:
                _record(evidence_dir, "apply", the_plan, {"ok": True, "apps": []})
                return
            valve(the_plan)
            breaking = [a.name for a in the_plan.apps if a.breaking and a.changes]
            if breaking:
                from .display import printable

                click.echo(
                    "This apply turns client credentials off for integrations in use: "
                    + ", ".join(printable(name) for name in breaking)
                )
            _confirm(auto_approve, "apply")
            result = api.apply(org, the_plan, live, notify=_note, policy=_retry_policy())
    _finish("apply", the_plan, result, evidence_dir)


@main.command()
@click.argument("backup", type=click.Path(path_type=Path, dir_okay=False))
@org_options
@click.option("--auto-approve", is_flag=True, help="Roll back without asking (for pipelines).")
@lock_timeout_option
@evidence_option
@handle_errors
@with_signals
def rollback(backup, target, instance_url, timeout, auto_approve, lock_timeout, evidence_dir):
    """Undo an apply from its BACKUP: return exactly the fields it changed to their old values.

    A field someone changed since that apply is reported and left alone. Where the undo
    re-enables what the baseline forbids, the plan names each violation, and proceeds.
    """
    from . import api
    from .display import printable
    from .rollback import violation_lines

    with (
        connect(target, instance_url, timeout=timeout) as org,
        _locked("rollback", lock_timeout) as lock,
    ):
        the_plan, live = api.rollback(org, backup)
        if lock(the_plan.org_id):
            the_plan, live = api.rollback(org, backup)
        click.echo(f"Rollback of {backup}: the fields that apply changed go back to their values.")
        click.echo(_coloured(lambda: api.render(the_plan, "text")), nl=False)
        violations = violation_lines(the_plan)
        if violations:
            click.echo("This rollback re-enables what the baseline forbids (it proceeds):")
            for line in violations:
                click.echo(f"  {printable(line)}")
        if the_plan.errors:
            raise ReconcilerError("the rollback plan has errors; nothing was written")
        if not the_plan.changes:
            click.echo("Nothing to roll back.")
            _record(evidence_dir, "rollback", the_plan, {"ok": True, "apps": []})
            return
        _confirm(auto_approve, "roll back")
        result = api.apply(org, the_plan, live, notify=_note, policy=_retry_policy())
    _finish("rollback", the_plan, result, evidence_dir)


@main.command(cls=_JsonErrorsCommand)
@click.option(
    "-d",
    "--desired",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Desired state for baseline, exceptions and locations [default: desired/ if present]. "
    "Repeat to layer folders, as for plan.",
)
@org_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
)
@click.option(
    "--output",
    "--out",
    "output",
    type=click.Path(path_type=Path),
    help="Write the report to a file (--out and --output are the same).",
)
@usage_window_option
@handle_errors
def audit(desired, target, instance_url, timeout, fmt, output, usage_window):
    """Report the live org's posture against the baseline. Read-only.

    Exit 0 when compliant, 3 when violations are found, 1 on error.
    """
    from .operations import audit_org, load_desired
    from .render.audit_views import render_audit_json, render_audit_text
    from .render.sarif_view import render_sarif

    renderers = {"text": render_audit_text, "json": render_audit_json, "sarif": render_sarif}
    with _errors_as(fmt):
        _check_writable(output)
        if not desired and Path("desired").exists():
            desired = (Path("desired"),)
            _info("Using the desired state in desired/ (pass -d to choose another).")
        state = load_desired(desired) if desired else None
        for warning in state.warnings if state else []:
            _info(f"Warning: {_shown(str(warning))}")
        with connect(target, instance_url, timeout=timeout) as org:
            report = audit_org(org, state, usage_window)
    text = _coloured(
        lambda: renderers[fmt](report), None if fmt == "text" and not output else False
    )
    if output:
        _write_atomic(output, text)
        _info(f"Wrote the {fmt} report to {output}.")
    else:
        click.echo(text, nl=False)
    if not report.compliant:
        sys.exit(EXIT_VIOLATIONS)


@main.command()
@org_options
@click.option("--app", "apps", multiple=True, metavar="NAME", help="Only this app.")
@click.option(
    "--out",
    "--output",
    "out",
    type=click.Path(path_type=Path),
    help="Write the YAML to this file instead of stdout (--out and --output are the same).",
)
@handle_errors
def export(target, instance_url, timeout, apps, out):
    """Print desired-state YAML for the live org."""
    from . import api

    _check_writable(out)
    with connect(target, instance_url, timeout=timeout) as org:
        text = api.export(org, apps)
    if out:
        _write_atomic(out, text)
        _info(f"Wrote the desired state to {out}.")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option(
    "--state",
    type=click.Path(path_type=Path),
    default=DEFAULT_EMULATOR_STATE,
    show_default=True,
    help="Org state file; created with the demo org if missing.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port.")
@click.option(
    "--from-source",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    metavar="FOLDER",
    help="Seed the org with the ECAs of an SFDX source folder, as a deploy would. Kept in "
    "memory; with --state, that file is replaced by the seeded org and kept.",
)
@handle_errors
def emulator(state: Path, port: int, from_source: Path | None) -> None:
    """Run the org emulator in the foreground (Ctrl-C to stop)."""
    from .emulator.server import run_foreground

    if from_source is not None:
        state = _seed_emulator(from_source, state)
    else:
        state.parent.mkdir(parents=True, exist_ok=True)
    run_foreground(state, port)


def _seed_emulator(folder: Path, state: Path) -> Path:
    """The path the emulator loads: the folder itself (seeded in memory by OrgState.load), or
    an explicit --state file written with the seeded org (so `-o emulator:FILE` continues it)."""
    import json

    from .display import printable
    from .emulator.seed import build_from_source

    doc, added = build_from_source(folder)
    apps = len(doc["metadata"].get("ExternalClientApplication", {}))
    source = click.get_current_context().get_parameter_source("state")
    kept = source is not None and source.name != "DEFAULT"
    if kept:
        _write_atomic(state, json.dumps(doc, indent=2, sort_keys=True))
    where = f"kept in {state}" if kept else "in memory: changes end with this process"
    click.echo(f"Seeded from {printable(str(folder))}: {apps} app(s), {printable(where)}.")
    if added:
        click.echo(
            "The folder has no users; run-as users added as active Standard Users: "
            + ", ".join(printable(name) for name in added)
        )
    return state if kept else folder


def run() -> None:
    """The console script: the CLI, then an exit that skips the collector's last walk.

    At exit CPython's cyclic garbage collector traverses every object still alive (everything
    imported, and a plan of 5,000 apps' components): 0.2-0.3 s, measured, a third of
    `plan -o emulator`. Frozen first (gc.freeze), they are skipped; each is still freed by
    reference counting, and atexit handlers, thread joins and stdio flushing run as usual.
    """
    import gc

    try:
        main()
    finally:
        gc.freeze()
