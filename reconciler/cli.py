"""Command line: parses, asks and prints. Every sequence and guarantee (lock, re-plan, safety
valve, backup, verification, evidence) is the operations layer's (operations.py); every output
is a view (render/). Heavy modules are imported inside the command that needs them, so `--help`
and `validate` never load the org stack or the plan views."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import ReconcilerError
from .org.target import OPTIONS, CallSettings, OrgTarget, target_from
from .paths import DEFAULT_EMULATOR_STATE
from .redaction import configure_logging, scrub
from .stopping import STOP, exit_code, handling_signals

if TYPE_CHECKING:
    from .model import Plan
    from .operations import Hooks

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
            sys.exit(exit_code(STOP.signum))
        except Exception as exc:  # a bug: say so, without leaking what the exception carried
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                click.echo(scrub(traceback.format_exc()), err=True)
            _fail(f"internal error ({type(exc).__name__}): {exc}; re-run with --debug for details")

    return wrapper


def _info(message: str) -> None:
    """A note on stderr that --quiet drops."""
    from . import terminal

    terminal.info(message)


def _warn(message: str) -> None:
    _info(f"Warning: {_shown(message)}")


def _note(message: str) -> None:
    _info(_shown(message))


# -- options ------------------------------------------------------------------------------------

_CALL_OPTIONS: list[tuple[str, Any, Any, str, str]] = [
    ("--timeout", click.FloatRange(min=1), 60.0, "SECONDS", "Seconds to wait for each org call."),
    (
        "--parallelism",
        click.IntRange(1, 25),
        CallSettings.parallelism,
        "N",
        "Org calls in flight at once (1 = strictly sequential). Salesforce limits only "
        "requests running 20 s or longer: 25 at once (production, sandbox), 5 (Developer "
        "Edition, trial); short Metadata reads are not counted.",
    ),
    (
        "--retries",
        click.IntRange(0, 10),
        CallSettings.retries,
        "N",
        "Retries of a read (list, read, query) after a connection error, timeout, HTTP "
        "502/503/504 or UNABLE_TO_LOCK_ROW/SERVER_UNAVAILABLE, and of a save that failed the "
        "same way (re-read first), with exponential backoff and jitter. "
        "REQUEST_LIMIT_EXCEEDED is never retried.",
    ),
    (
        "--retry-max-seconds",
        click.FloatRange(min=0),
        CallSettings.retry_max_seconds,
        "SECONDS",
        "Give up retrying one call (or one save) after this long, waits included.",
    ),
]


def org_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The login options (from the org registry) and call settings, handed to the command as
    one `org: OrgTarget`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {option.dest: kwargs.pop(option.dest) for option in OPTIONS}
        calls = CallSettings(
            timeout=kwargs.pop("timeout"),
            parallelism=kwargs.pop("parallelism"),
            retries=kwargs.pop("retries"),
            retry_max_seconds=kwargs.pop("retry_max_seconds"),
        )
        return func(*args, org=target_from(values, calls), **kwargs)

    for flag, kind, default, metavar, text in reversed(_CALL_OPTIONS):
        wrapper = click.option(
            flag, type=kind, default=default, show_default=True, metavar=metavar, help=text
        )(wrapper)
    for option in reversed(OPTIONS):
        wrapper = click.option(
            *option.flags, option.dest, metavar=option.metavar, help=option.help
        )(wrapper)
    return wrapper


def scope_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--exclude", multiple=True, metavar="NAME", help="Leave this app out.")(
        func
    )
    return click.option("--app", "apps", multiple=True, metavar="NAME", help="Only this app.")(func)


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
lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for another apply/rollback of the same org to finish (0: fail at once).",
)
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


def _out_option(what: str) -> Callable[..., Any]:
    return click.option(
        "--out",
        "--output",
        "out",
        type=click.Path(path_type=Path),
        help=f"{what} (--out and --output are the same).",
    )


def _format_option(choices: list[str], help_text: str | None = None) -> Callable[..., Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help=help_text,
    )


# -- click plumbing: exit codes a pipeline can trust -------------------------------------------


class _UsageExitsOne:
    """click exits 2 on a usage error, but 2 is what `plan --detailed-exitcode` means by
    "changes present". Any usage error exits 1 here."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc,no-any-return]
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # per instance, on purpose
            raise


class _Command(_UsageExitsOne, click.Command):
    pass


class _JsonErrorsCommand(_Command):
    """With `--format json`, even a usage error (raised before the command runs) is the JSON
    error object on stdout, exit 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        pairs = zip(args, [*args[1:], ""], strict=False)
        wants_json = any(a == "--format=json" or (a, b) == ("--format", "json") for a, b in pairs)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if not wants_json:
                raise
            from .render import render

            click.echo(render(exc.format_message(), "json", kind="error"), nl=False)
            click.echo(f"Error: {_shown(exc.format_message())}", err=True)
            ctx.exit(EXIT_ERROR)


#: Flags of the top-level group that may also be written after the subcommand
#: (`reconciler plan -o emulator --debug`): people add them at the end of the line they re-run.
GLOBAL_FLAGS = ("--debug", "--quiet", "-q", "--no-color")


class _MainGroup(_UsageExitsOne, click.Group):
    command_class = _Command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move global flags written after the subcommand to the front (up to a `--`)."""
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
        rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
        return super().parse_args(ctx, flags + rest + args[end:])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # per instance, on purpose
            raise


@contextlib.contextmanager
def _errors_as(fmt: str) -> Iterator[None]:
    """With `--format json` an error is also a JSON object on stdout (a pipeline parses
    stdout); with `--format github` each desired-state issue is also a `::error` annotation."""
    try:
        yield
    except ReconcilerError as exc:
        from .render import VIEWS, render

        if ("error", fmt) in VIEWS:
            click.echo(render(exc, fmt, kind="error"), nl=False)
        raise


# -- what the CLI shows and asks during an operation ------------------------------------------


def _show(result: Any, fmt: str = "text", paint: bool | None = None, **context: Any) -> str:
    """A view of `result`; text in colour when stdout is a terminal (`paint` None) or as
    `paint` says (False: never, e.g. for a file)."""
    from .render import render

    if fmt != "text" or paint is False:
        return render(result, fmt, **context)
    from . import terminal

    with terminal.painting(paint):
        return render(result, fmt, **context)


def _hooks(
    auto_approve: bool = False, what: str = "apply", show: Callable[[Plan], None] | None = None
) -> Hooks:
    from . import terminal
    from .operations import Hooks

    def confirm(plan: Plan) -> bool:
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise ReconcilerError(
                f"refusing to {what} without confirmation: stdin is not a terminal. "
                "Use --auto-approve, or `plan --out FILE` then `apply FILE`"
            )
        answer = click.prompt(CONFIRM, default="", show_default=False, prompt_suffix=" ")
        if answer.strip() != "yes":
            raise ReconcilerError(f"{what} cancelled; nothing was written")
        return True

    return Hooks(
        show=show or (lambda plan: click.echo(_show(plan), nl=False)),
        confirm=confirm,
        notify=_note,
        warn=_warn,
        opened=terminal.attach_progress,
    )


def _evidence(path: Path | None) -> None:
    if path is not None:
        _info(f"Evidence: {path}")


def _finish(outcome: Any, what: str) -> None:
    """Report, evidence, exit code: the same for every way an apply or rollback can end."""
    if outcome.result is None:
        _evidence(outcome.evidence)
        return
    click.echo(_show(outcome.result, paint=False, what=what), nl=False)
    _evidence(outcome.evidence)
    if outcome.result.interrupted:
        sys.exit(exit_code(outcome.result.signum))
    if not outcome.result.ok:
        sys.exit(EXIT_ERROR)


# -- the commands -------------------------------------------------------------------------------


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


@main.command(cls=_JsonErrorsCommand)
@desired_option
@_format_option(
    ["text", "github", "json"], "github: `::error file=...,line=...::` workflow annotations."
)
@handle_errors
def validate(desired: tuple[Path, ...], fmt: str) -> None:
    """Check the desired state offline; never touches an org."""
    from .operations import validate as validate_desired

    with _errors_as(fmt):
        state = validate_desired(desired)
    if fmt == "text":
        for warning in state.warnings:
            _warn(str(warning))
    click.echo(_show(state, fmt, paint=False), nl=False)


@main.command(cls=_JsonErrorsCommand)
@desired_option
@org_options
@scope_options
@_out_option("Save the plan for `apply PLANFILE`")
@_format_option(["text", "json", "markdown"])
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
@max_changes_option
@evidence_option
@handle_errors
def plan(desired, org, apps, exclude, out, fmt, detailed_exitcode, max_changes, evidence_dir):  # type: ignore[no-untyped-def]
    """Show what apply would change. Read-only."""
    from . import operations as ops

    request = ops.PlanRequest(
        desired, org, ops.Scope(apps, exclude), ops.Safety(max_changes), out, evidence_dir
    )
    with _errors_as(fmt):
        outcome = ops.plan(request, _hooks())
    the_plan = outcome.plan
    click.echo(_show(the_plan, fmt, safety=outcome.safety), nl=False)
    if outcome.safety.blocks:  # stderr: `Plan:` stays stdout's last line, JSON stays JSON
        _warn(f"safety threshold: {outcome.safety.message()}")
    if outcome.saved:
        _info(f"Saved the plan to {out}; apply it with `reconciler apply {out}`.")
    _evidence(outcome.evidence)
    if the_plan.errors:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and the_plan.changes:
        sys.exit(EXIT_CHANGES)


@main.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path))
@desired_option
@org_options
@scope_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for pipelines).")
@max_changes_option
@lock_timeout_option
@evidence_option
@handle_errors
def apply(
    planfile, desired, org, apps, exclude, auto_approve, max_changes, lock_timeout, evidence_dir
):  # type: ignore[no-untyped-def]
    """Make the org match the desired state (or apply a saved PLANFILE exactly)."""
    from . import operations as ops
    from .planfile import read

    if planfile is not None and not (apps or exclude):
        click.echo(
            f"Checking saved plan {planfile} ({len(read(planfile).changes)} field change(s)) "
            f"against {', '.join(map(str, desired))} and the org."
        )
    request = ops.ApplyRequest(
        desired,
        org,
        ops.Scope(apps, exclude),
        ops.Safety(max_changes, lock_timeout),
        plan_file=planfile,
        evidence_dir=evidence_dir,
    )
    with handling_signals(STOP):
        outcome = ops.apply(request, _hooks(auto_approve, "apply"))
    _finish(outcome, "Apply")


@main.command()
@click.argument("backup", type=click.Path(path_type=Path, dir_okay=False))
@org_options
@click.option("--auto-approve", is_flag=True, help="Roll back without asking (for pipelines).")
@lock_timeout_option
@evidence_option
@handle_errors
def rollback(backup, org, auto_approve, lock_timeout, evidence_dir):  # type: ignore[no-untyped-def]
    """Undo an apply from its BACKUP: return exactly the fields it changed to their old values.

    A field someone changed since that apply is reported and left alone. Where the undo
    re-enables what the baseline forbids, the plan names each violation, and proceeds.
    """
    from . import operations as ops
    from .display import printable
    from .rollback import violation_lines

    def show(the_plan: Plan) -> None:
        click.echo(f"Rollback of {backup}: the fields that apply changed go back to their values.")
        click.echo(_show(the_plan), nl=False)
        violations = violation_lines(the_plan)
        if violations:
            click.echo("This rollback re-enables what the baseline forbids (it proceeds):")
            for line in violations:
                click.echo(f"  {printable(line)}")
        if not the_plan.errors and not the_plan.changes:
            click.echo("Nothing to roll back.")

    request = ops.RollbackRequest(
        backup, org, ops.Safety(lock_timeout=lock_timeout), evidence_dir=evidence_dir
    )
    with handling_signals(STOP):
        outcome = ops.rollback(request, _hooks(auto_approve, "roll back", show))
    _finish(outcome, "Rollback")


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
@_format_option(["text", "json", "sarif"])
@_out_option("Write the report to a file")
@handle_errors
def audit(desired, org, fmt, out):  # type: ignore[no-untyped-def]
    """Report the live org's posture against the baseline. Read-only.

    Exit 0 when compliant, 3 when violations are found, 1 on error.
    """
    from .fileio import write_atomic
    from .operations import audit as audit_org

    with _errors_as(fmt):
        if out is not None and out.is_dir():
            raise ReconcilerError(f"{out} is a directory; give a file name")
        if not desired and Path("desired").exists():
            desired = (Path("desired"),)
            _info("Using the desired state in desired/ (pass -d to choose another).")
        report = audit_org(org, desired or None, _hooks())
    text = _show(report, fmt, None if fmt == "text" and not out else False)
    if out:
        write_atomic(out, text)
        _info(f"Wrote the {fmt} report to {out}.")
    else:
        click.echo(text, nl=False)
    if not report.compliant:
        sys.exit(EXIT_VIOLATIONS)


@main.command()
@org_options
@click.option("--app", "apps", multiple=True, metavar="NAME", help="Only this app.")
@_out_option("Write the YAML to this file instead of stdout")
@handle_errors
def export(org, apps, out):  # type: ignore[no-untyped-def]
    """Print desired-state YAML for the live org."""
    from .operations import export as export_org

    text = export_org(org, apps, out, _hooks())
    if out:
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
        from .emulator.seed import seed_for_run

        source = click.get_current_context().get_parameter_source("state")
        state, lines = seed_for_run(
            from_source, state, source is not None and source.name != "DEFAULT"
        )
        for line in lines:
            click.echo(line)
    else:
        state.parent.mkdir(parents=True, exist_ok=True)
    run_foreground(state, port)


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


__all__ = ["OrgTarget", "main", "run"]
