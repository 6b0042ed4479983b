"""Every option and argument the command line takes, and the click plumbing that keeps exit
codes trustworthy. The commands themselves are in cli.py; org options come from the org
registry (org/target.py OPTIONS), so a new login method needs no change here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .org.target import OPTIONS, CallSettings, target_from
from .paths import DEFAULT_EMULATOR_STATE
from .redaction import scrub

EXIT_ERROR = 1


def _shown(message: str) -> str:
    """Scrubbed of secrets, control characters escaped line by line (org text inside an
    error cannot move the cursor or recolour the terminal)."""
    from .display import printable

    return "\n".join(printable(line) for line in scrub(message).split("\n"))


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


def export_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`export`'s choices: which apps, `--as-eca` (issue 18: the ECA desired state that keeps
    each Connected App's OAuth flows, to plan a move off Connected Apps), and where to write."""
    func = out_option("Write the YAML to this file instead of stdout")(func)
    func = click.option(
        "--source-dir",
        type=click.Path(path_type=Path, file_okay=False),
        metavar="DIR",
        help="With --as-eca: also write each ECA's SFDX source files under DIR (e.g. "
        "force-app/main/default); existing files are never overwritten.",
    )(func)
    func = click.option(
        "--as-eca",
        is_flag=True,
        help="Export each Connected App as the ECA desired state that keeps its OAuth flows.",
    )(func)
    return click.option("--app", "apps", multiple=True, metavar="NAME", help="Only this app.")(func)


def out_option(what: str) -> Callable[..., Any]:
    return click.option(
        "--out",
        "--output",
        "out",
        type=click.Path(path_type=Path),
        help=f"{what} (--out and --output are the same).",
    )


def format_option(choices: list[str], help_text: str | None = None) -> Callable[..., Any]:
    """--format; where JSON is one of the choices, --json too (the habit of sf and gh)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        decorated: Callable[..., Any] = func
        if "json" in choices:

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if kwargs.pop("as_json"):
                    if kwargs["fmt"] not in ("text", "json"):
                        error = click.UsageError(f"--json contradicts --format {kwargs['fmt']}")
                        error.exit_code = EXIT_ERROR  # type: ignore[misc]  # per instance
                        raise error
                    kwargs["fmt"] = "json"
                return func(*args, **kwargs)

            decorated = click.option(
                "--json", "as_json", is_flag=True, help="Same as --format json."
            )(wrapper)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default="text",
            show_default=True,
            help=help_text,
        )(decorated)

    return decorate


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


#: --help sections, in order: each option's parameter name -> its section.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Org (which org, how to log in, how calls are made)": (
        *(option.dest for option in OPTIONS),
        "timeout",
        "parallelism",
        "retries",
        "retry_max_seconds",
    ),
    "Scope (what is read and compared)": ("desired", "apps", "exclude", "usage_window"),
    "Output": ("fmt", "as_json", "out", "detailed_exitcode", "evidence_dir"),
    "Safety": ("auto_approve", "max_changes", "lock_timeout", "allow_breaking"),
}
_SECTION_OF = {name: title for title, names in SECTIONS.items() for name in names}

#: The examples that end each command's --help.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "validate": (
        "reconciler validate",
        "reconciler validate -d desired/base -d desired/prod --format github",
    ),
    "plan": (
        "reconciler plan -o acme",
        "reconciler plan -o acme -d desired/base -d desired/prod --out plan.json",
        "reconciler plan -o emulator --format markdown --detailed-exitcode",
    ),
    "apply": (
        "reconciler apply -o acme",
        "reconciler apply plan.json -o acme",
        "reconciler apply -o acme --auto-approve --json",
    ),
    "rollback": (
        "reconciler rollback BACKUP.json -o acme",
        "reconciler rollback BACKUP.json -o acme --auto-approve --json",
    ),
    "audit": (
        "reconciler audit -o acme",
        "reconciler audit -o acme --format sarif --out audit.sarif",
    ),
    "export": (
        "reconciler export -o acme --out desired/apps.yaml",
        "reconciler export -o acme --app Payments_Batch",
    ),
    "emulator": (
        "reconciler emulator",
        "reconciler emulator --state org.json --port 8443",
    ),
    "schema": ("reconciler schema > desired.schema.json",),
}


class _Command(_UsageExitsOne, click.Command):
    """--help groups the options (org, scope, output, safety) and ends with examples."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and isinstance(param, click.Option):
                title = _SECTION_OF.get(param.name or "", "Other options")
                sections.setdefault(title, []).append(record)
        for title in [*SECTIONS, "Other options"]:
            if title in sections:
                with formatter.section(title):
                    formatter.write_dl(sections[title])

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        examples = EXAMPLES.get(self.name or "")
        if examples:
            with formatter.section("Examples"):
                for line in examples:
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


class _JsonErrorsCommand(_Command):
    """With `--format json`, even a usage error (raised before the command runs) is the JSON
    error object on stdout, exit 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        pairs = zip(args, [*args[1:], ""], strict=False)
        wants_json = any(
            a in ("--format=json", "--json") or (a, b) == ("--format", "json") for a, b in pairs
        )
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


auto_approve_option = functools.partial(click.option, "--auto-approve", is_flag=True)
detailed_exitcode_option = click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
audit_desired_option = click.option(
    "-d",
    "--desired",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Desired state for baseline, exceptions and locations [default: desired/ if present]. "
    "Repeat to layer folders, as for plan.",
)


def global_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--debug, --quiet, --no-color: also accepted after the subcommand (GLOBAL_FLAGS)."""
    func = click.option(
        "--no-color",
        is_flag=True,
        help="No colour (also when NO_COLOR is set). Colour is only ever used on a terminal.",
    )(func)
    func = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="Only errors and the result: no progress, notes or warnings on stderr.",
    )(func)
    return click.option(
        "--debug",
        is_flag=True,
        help="Debug logging to stderr (secrets are masked). Also accepted after the subcommand.",
    )(func)


def emulator_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--from-source",
        type=click.Path(path_type=Path, exists=True, file_okay=False),
        metavar="FOLDER",
        help="Seed the org with the ECAs of an SFDX source folder, as a deploy would. Kept in "
        "memory; with --state, that file is replaced by the seeded org and kept.",
    )(func)
    func = click.option(
        "--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port."
    )(func)
    return click.option(
        "--state",
        type=click.Path(path_type=Path),
        default=DEFAULT_EMULATOR_STATE,
        show_default=True,
        help="Org state file; created with the demo org if missing.",
    )(func)


def usage_options(allow_breaking: bool = True) -> Callable[..., Any]:
    """--usage-window (and --allow-breaking), handed to the command as one
    `usage: operations.UsagePolicy`."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from .operations import UsagePolicy  # at run time: --help never loads it

            breaking = kwargs.pop("allow_breaking", False)
            usage = UsagePolicy(kwargs.pop("usage_window"), breaking)
            return func(*args, usage=usage, **kwargs)

        if allow_breaking:
            wrapper = click.option(
                "--allow-breaking",
                is_flag=True,
                help="Release held changes: also turn client credentials off for apps in use "
                "when only the baseline or defaults: ask for it.",
            )(wrapper)
        return click.option(
            "--usage-window",
            "usage_window",
            type=click.IntRange(1, 3650),
            default=30,
            show_default=True,
            metavar="DAYS",
            help="Look up client-credentials logins (LoginHistory) over the last DAYS days.",
        )(wrapper)

    return decorate
