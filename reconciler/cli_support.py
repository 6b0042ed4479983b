"""What the CLI shows and asks while an operation runs: errors as one clean line (or the JSON
error document), the hooks an operation calls (show, confirm, notify, warn, progress) and the
end of an apply or rollback (report, evidence, exit code). cli.py keeps only the commands."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

from .cli_options import _shown
from .errors import ReconcilerError
from .redaction import scrub
from .stopping import STOP, exit_code

if TYPE_CHECKING:
    from pathlib import Path

    from .model import Plan
    from .operations import ApplyOutcome, Hooks

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_VIOLATIONS = 0, 1, 2, 3
CONFIRM = "Do you want to perform these actions? Only 'yes' will be accepted:"


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
    auto_approve: bool = False,
    what: str = "apply",
    show: Callable[[Plan], None] | None = None,
    fmt: str = "text",
) -> Hooks:
    """The operation's hooks. With `fmt` json, stdout carries only the JSON result: the plan,
    notices and the question go to stderr."""
    from . import terminal
    from .operations import Hooks

    to_stderr = fmt != "text"

    def confirm(plan: Plan) -> bool:
        click.echo(_show(plan, kind="Breaking", paint=False), nl=False, err=to_stderr)
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise ReconcilerError(
                f"refusing to {what} without confirmation: stdin is not a terminal. "
                "Use --auto-approve, or `plan --out FILE` then `apply FILE`"
            )
        answer = click.prompt(
            CONFIRM, default="", show_default=False, prompt_suffix=" ", err=to_stderr
        )
        if answer.strip() != "yes":
            raise ReconcilerError(f"{what} cancelled; nothing was written")
        return True

    return Hooks(
        show=show or (lambda plan: click.echo(_show(plan), nl=False, err=to_stderr)),
        confirm=confirm,
        notify=lambda message: _info(_shown(message)),
        warn=_warn,
        opened=terminal.attach_progress,
        waiting=terminal.waiting,
    )


def _evidence(path: Path | None) -> None:
    if path is not None:
        _info(f"Evidence: {path}")


def _finish(
    outcome: ApplyOutcome, what: str, fmt: str = "text", org_args: Sequence[str] = ()
) -> None:
    """Report, evidence, exit code: the same for every way an apply or rollback can end."""
    result = outcome.result
    if result is None:
        if fmt != "text":  # nothing to write: still a result document
            click.echo(_show(outcome.report, fmt), nl=False)
        _evidence(outcome.evidence)
        return
    click.echo(_show(result, fmt, paint=False, what=what, org_args=org_args), nl=False)
    _evidence(outcome.evidence)
    if result.interrupted:
        sys.exit(exit_code(result.signum))
    if not result.ok:
        sys.exit(EXIT_ERROR)
