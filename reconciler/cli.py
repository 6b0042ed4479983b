"""Command line: parses, asks and prints. Every sequence and guarantee (lock, re-plan, safety
valve, backup, verification, evidence) is the operations layer's (operations.py); every output
is a view (render/); every option is declared in cli_options.py. Heavy modules are imported
inside the command that needs them, so `--help` and `validate` never load the org stack or the
plan views."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .cli_options import (
    _JsonErrorsCommand,
    _MainGroup,
    audit_desired_option,
    auto_approve_option,
    desired_option,
    detailed_exitcode_option,
    emulator_options,
    evidence_option,
    export_options,
    format_option,
    global_options,
    lock_timeout_option,
    max_changes_option,
    org_options,
    out_option,
    scope_options,
    usage_options,
)
from .cli_support import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_VIOLATIONS,
    _errors_as,
    _evidence,
    _finish,
    _hooks,
    _info,
    _show,
    _warn,
    handle_errors,
)
from .errors import ReconcilerError
from .org.target import OrgTarget
from .redaction import configure_logging
from .stopping import STOP, handling_signals

if TYPE_CHECKING:
    from .model import Plan
    from .operations import UsagePolicy

Paths = tuple[Path, ...]


# -- the commands -------------------------------------------------------------------------------


@click.group(cls=_MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@global_options
@click.version_option(__version__, prog_name="reconciler")
def main(debug: bool, quiet: bool, no_color: bool) -> None:
    """Keep the OAuth settings of Salesforce External Client Apps exactly as declared."""
    from . import terminal

    configure_logging(logging.DEBUG if debug else logging.WARNING)
    terminal.configure(no_color=no_color, quiet=quiet)


@main.command(cls=_JsonErrorsCommand)
@desired_option
@format_option(["text", "github", "json"], "github: `::error file=...,line=...::` annotations.")
@handle_errors
def validate(desired: Paths, fmt: str) -> None:
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
@out_option("Save the plan for `apply PLANFILE`")
@format_option(["text", "json", "markdown"])
@detailed_exitcode_option
@max_changes_option
@evidence_option
@usage_options()
@handle_errors
def plan(
    desired: Paths,
    org: OrgTarget,
    apps: tuple[str, ...],
    exclude: tuple[str, ...],
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    max_changes: str | None,
    evidence_dir: Path | None,
    usage: UsagePolicy,
) -> None:
    """Show what apply would change. Read-only."""
    from . import operations as ops

    scope, safety = ops.Scope(apps, exclude), ops.Safety(max_changes)
    request = ops.PlanRequest(desired, org, scope, safety, out, evidence_dir, usage)
    with _errors_as(fmt):
        outcome = ops.plan(request, _hooks())
    the_plan = outcome.plan
    click.echo(_show(the_plan, fmt, safety=outcome.safety), nl=False)
    if outcome.safety.blocks:  # stderr: `Plan:` stays stdout's last line, JSON stays JSON
        _warn(f"safety threshold: {outcome.safety.message()}")
    if outcome.saved and out is not None:
        from .render.hints import apply_saved

        again = apply_saved(out, desired, org.arguments())
        _info(f"Saved the plan to {out}; apply it with `{again}`.")
    _evidence(outcome.evidence)
    if the_plan.errors:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and the_plan.changes:
        sys.exit(EXIT_CHANGES)


@main.command(cls=_JsonErrorsCommand)
@click.argument("planfile", required=False, type=click.Path(path_type=Path))
@desired_option
@org_options
@scope_options
@auto_approve_option(help="Apply without asking (for pipelines).")
@format_option(["text", "json"], "json: the per-app report (or the error) on stdout.")
@max_changes_option
@lock_timeout_option
@evidence_option
@usage_options()
@handle_errors
def apply(
    planfile: Path | None,
    desired: Paths,
    org: OrgTarget,
    apps: tuple[str, ...],
    exclude: tuple[str, ...],
    auto_approve: bool,
    fmt: str,
    max_changes: str | None,
    lock_timeout: float,
    evidence_dir: Path | None,
    usage: UsagePolicy,
) -> None:
    """Make the org match the desired state (or apply a saved PLANFILE exactly)."""
    from . import operations as ops

    if planfile is not None and not (apps or exclude):
        with _errors_as(fmt):
            changes = len(ops.read_plan(planfile).changes)
        click.echo(
            f"Checking saved plan {planfile} ({changes} field change(s)) "
            f"against {', '.join(map(str, desired))} and the org.",
            err=fmt != "text",
        )
    safety = ops.Safety(max_changes, lock_timeout)
    scope = ops.Scope(apps, exclude)
    request = ops.ApplyRequest(desired, org, scope, safety, planfile, evidence_dir, usage=usage)
    with handling_signals(STOP), _errors_as(fmt):
        outcome = ops.apply(request, _hooks(auto_approve, "apply", fmt=fmt))
    _finish(outcome, "Apply", fmt, org.arguments())


@main.command(cls=_JsonErrorsCommand)
@click.argument("backup", type=click.Path(path_type=Path, dir_okay=False))
@org_options
@auto_approve_option(help="Roll back without asking (for pipelines).")
@format_option(["text", "json"], "json: the per-app report (or the error) on stdout.")
@lock_timeout_option
@evidence_option
@handle_errors
def rollback(
    backup: Path,
    org: OrgTarget,
    auto_approve: bool,
    fmt: str,
    lock_timeout: float,
    evidence_dir: Path | None,
) -> None:
    """Undo an apply from its BACKUP: return exactly the fields it changed to their old values.

    A field someone changed since that apply is reported and left alone. Where the undo
    re-enables what the baseline forbids, the plan names each violation, and proceeds.
    """
    from . import operations as ops

    def show(the_plan: Plan) -> None:
        click.echo(_show(the_plan, kind="Rollback", backup=backup), nl=False, err=fmt != "text")

    request = ops.RollbackRequest(backup, org, ops.Safety(lock_timeout=lock_timeout), evidence_dir)
    with handling_signals(STOP), _errors_as(fmt):
        outcome = ops.rollback(request, _hooks(auto_approve, "roll back", show, fmt))
    _finish(outcome, "Rollback", fmt, org.arguments())


@main.command(cls=_JsonErrorsCommand)
@audit_desired_option
@org_options
@format_option(["text", "json", "sarif"])
@out_option("Write the report to a file")
@usage_options(allow_breaking=False)
@handle_errors
def audit(desired: Paths, org: OrgTarget, fmt: str, out: Path | None, usage: UsagePolicy) -> None:
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
        report = audit_org(org, desired or None, _hooks(), usage.window_days)
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
@export_options
@handle_errors
def export(
    org: OrgTarget, apps: tuple[str, ...], out: Path | None, as_eca: bool, source_dir: Path | None
) -> None:
    """Print desired-state YAML for the live org."""
    from .operations import export as export_org

    text = export_org(org, apps, out, _hooks(), as_eca, source_dir)
    if source_dir:
        _info(f"Wrote the ECA source files under {source_dir}.")
    if out:
        _info(f"Wrote the desired state to {out}.")
    else:
        click.echo(text, nl=False)


@main.command()
@emulator_options
@handle_errors
def emulator(state: Path, port: int, from_source: Path | None) -> None:
    """Run the org emulator in the foreground (Ctrl-C to stop)."""
    from .emulator.server import run_foreground

    if from_source is not None:
        from .emulator.seed import seed_for_run

        source = click.get_current_context().get_parameter_source("state")
        kept = source is not None and source.name != "DEFAULT"
        state, lines = seed_for_run(from_source, state, kept)
        for line in lines:
            click.echo(line)
    else:
        state.parent.mkdir(parents=True, exist_ok=True)
    run_foreground(state, port)


@main.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the desired-state YAML, for editors."""
    from .operations import desired_schema

    click.echo(desired_schema(), nl=False)


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
