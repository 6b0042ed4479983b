"""Every way to reach an org, in one table: what each is called on the command line, which
environment variables it reads, and how it opens an Org.

The CLI builds its org options from `OPTIONS`, a Python caller fills an `OrgTarget`, and both
end in `open_org`. Adding a login method is one new `LoginMethod` in `METHODS` (and its options
in `OPTIONS` if it has new ones); nothing else dispatches on how the org is reached.

Choosing (`choose`): flags decide; only when no flag names an org do SF_TARGET_ORG and the JWT
variables (the sf CLI's own names) count, so a variable left in a CI environment never
overrides what the command line says. Two ways at once is an error rather than a guess.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..display import printable
from ..errors import ReconcilerError
from ..paths import DEFAULT_EMULATOR_STATE
from .http import GuardedSession
from .interface import Org
from .login import (
    Login,
    LoginError,
    alias_login,
    default_org,
    jwt_login,
    normalise_instance_url,
    sfdx_url_login,
)
from .salesforce import SalesforceOrg
from .target import ENV, CallSettings, OrgTarget

TOKEN_ENV = "SF_ACCESS_TOKEN"
TARGET_ENV = "SF_TARGET_ORG"


OrgBlock = contextlib.AbstractContextManager[Org]
Opener = Callable[[OrgTarget, Mapping[str, str]], OrgBlock]


@dataclass(frozen=True)
class LoginMethod:
    """One way in: how the command line names it, what it reads, how it opens the org."""

    name: str
    #: How a conflict message names the flags that select it.
    flags: str
    #: Environment variables it reads (documentation; `from_environment` decides).
    environment: tuple[str, ...]
    #: Named on the command line by this target.
    given: Callable[[OrgTarget], bool]
    open: Opener
    #: The target this method makes of the environment alone, if it applies; None otherwise.
    from_environment: Callable[[Mapping[str, str]], OrgTarget | None] = lambda environ: None


# -- the openers --------------------------------------------------------------------------------


@contextlib.contextmanager
def _opened(
    url: str, token: str, session: GuardedSession, relogin: Any, calls: CallSettings
) -> Iterator[SalesforceOrg]:
    """A real org at `url`: the environment's proxy and CA bundle are read once, for that host
    (only now is it known, after a login), and the org's connections close with the block."""
    session.adopt_environment(url)
    org = SalesforceOrg(
        url,
        token,
        session,
        relogin=relogin,
        api_version=calls.api_version,
        timeout=calls.timeout,
        parallelism=calls.parallelism,
        retry=calls.retry,
    )
    with contextlib.closing(org):
        yield org


@contextlib.contextmanager
def _logged_in(do_login: Callable[[GuardedSession], Login], calls: CallSettings) -> Iterator[Org]:
    """JWT, SFDX URL and sf alias: REQUESTS_CA_BUNDLE and proxies apply to the login host
    (read per request, as requests does) and then to the org, known only after the login."""
    session = GuardedSession(pool_size=calls.parallelism)
    done = do_login(session)
    with _opened(done.instance_url, done.access_token, session, done.relogin, calls) as org:
        yield org


def _open_jwt(target: OrgTarget, environ: Mapping[str, str]) -> OrgBlock:
    login = target.login.with_jwt_environment(environ)
    return _logged_in(lambda s: jwt_login(login, s, target.calls.timeout), target.calls)


def _open_sfdx_url(target: OrgTarget, environ: Mapping[str, str]) -> OrgBlock:
    path = target.login.sfdx_url_file or ""
    return _logged_in(lambda s: sfdx_url_login(path, s, target.calls.timeout), target.calls)


def _open_alias(target: OrgTarget, environ: Mapping[str, str]) -> OrgBlock:
    # Any -o value that is not emulator or source: a Salesforce CLI alias or username.
    alias = target.target or ""
    return _logged_in(lambda s: alias_login(alias, target.calls.timeout), target.calls)


@contextlib.contextmanager
def _open_token(target: OrgTarget, environ: Mapping[str, str]) -> Iterator[Org]:
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ReconcilerError(
            f"--instance-url needs the access token in the environment variable {TOKEN_ENV}, "
            "never a flag: from your pipeline's secret store, or from the Salesforce CLI "
            f"without a prompt: {TOKEN_ENV}=$(sf org auth show-access-token --target-org "
            "ALIAS --json | jq -r .result.accessToken). Simpler: -o ALIAS uses the sf CLI's "
            "login directly, and renews it when it expires"
        )
    # trust_env stays on: REQUESTS_CA_BUNDLE and proxies are honoured for real orgs. A pasted
    # token cannot be renewed, so there is no relogin: expiry stops the run cleanly.
    url = normalise_instance_url(target.instance_url or "")
    session = GuardedSession(pool_size=target.calls.parallelism)
    with _opened(url, token, session, None, target.calls) as org:
        yield org


@contextlib.contextmanager
def _open_source(target: OrgTarget, environ: Mapping[str, str]) -> Iterator[Org]:
    from .source import SourceOrg  # lazily: only a source folder needs it

    folder = (target.target or "")[len("source:") :]
    if not folder:
        raise ReconcilerError("-o source:PATH needs a folder, e.g. -o source:force-app")
    yield SourceOrg(Path(folder))


@contextlib.contextmanager
def _open_emulator(target: OrgTarget, environ: Mapping[str, str]) -> Iterator[Org]:
    from ..emulator.server import EmulatorServer  # lazily: real orgs need none
    from .connect import emulator_org

    state = Path((target.target or "").partition(":")[2] or DEFAULT_EMULATOR_STATE)
    state.parent.mkdir(parents=True, exist_ok=True)
    calls = target.calls
    with (
        EmulatorServer(state) as server,
        contextlib.closing(
            emulator_org(
                server,
                api_version=calls.api_version,
                timeout=calls.timeout,
                parallelism=calls.parallelism,
                retry=calls.retry,
            )
        ) as org,
    ):
        yield org


def _is_emulator(target: OrgTarget) -> bool:
    return target.target == "emulator" or (target.target or "").startswith("emulator:")


def _is_source(target: OrgTarget) -> bool:
    return (target.target or "").startswith("source:")


def _env_target(environ: Mapping[str, str]) -> OrgTarget | None:
    value = (environ.get(TARGET_ENV) or "").strip()
    return OrgTarget(target=value) if value else None


def _env_jwt(environ: Mapping[str, str]) -> OrgTarget | None:
    if any((environ.get(ENV[f]) or "").strip() for f in ("client_id", "jwt_key_file")):
        return OrgTarget()
    return None


#: In conflict-message order. The three `-o` methods share their flag; the value decides.
METHODS: tuple[LoginMethod, ...] = (
    LoginMethod("emulator", "-o/--target-org", (), _is_emulator, _open_emulator),
    LoginMethod("source", "-o/--target-org", (), _is_source, _open_source),
    LoginMethod(
        "sf_alias",
        "-o/--target-org",
        (TARGET_ENV,),
        lambda t: bool(t.target) and not _is_emulator(t) and not _is_source(t),
        _open_alias,
        _env_target,
    ),
    LoginMethod(
        "token", "--instance-url", (TOKEN_ENV,), lambda t: bool(t.instance_url), _open_token
    ),
    LoginMethod(
        "sfdx_url", "--sfdx-url-file", (), lambda t: bool(t.login.sfdx_url_file), _open_sfdx_url
    ),
    LoginMethod(
        "jwt",
        "--client-id/--username/--jwt-key-file",
        tuple(ENV.values()),
        lambda t: t.login.jwt_flags(),
        _open_jwt,
        _env_jwt,
    ),
)
BY_NAME = {m.name: m for m in METHODS}


class NoOrgGiven(ReconcilerError):
    """Nothing on the command line or in the environment names an org."""


NO_ORG = (
    "no org given: use -o ALIAS (a Salesforce CLI login; or SF_TARGET_ORG), JWT bearer "
    "(--client-id, --username, --jwt-key-file [--login-url]; or SF_CLIENT_ID, "
    "SF_USERNAME, SF_JWT_KEY_FILE [SF_LOGIN_URL]), --sfdx-url-file FILE, --instance-url "
    f"URL with {TOKEN_ENV}, or -o emulator[:STATE_FILE] for the built-in emulator"
)


def choose(target: OrgTarget, environ: Mapping[str, str]) -> tuple[LoginMethod, OrgTarget]:
    """The one method this target (or, failing any flag, the environment) names."""
    given = [m for m in METHODS if m.given(target)]
    named = list(dict.fromkeys(m.flags for m in given))
    if len(named) > 1:
        several = "both" if len(named) == 2 else "several"
        raise LoginError(f"give one way to reach the org, not {several}: {' and '.join(named)}")
    if not given:
        found = [(m, t) for m in METHODS if (t := m.from_environment(environ)) is not None]
        if len(found) > 1:
            raise LoginError(
                "both SF_TARGET_ORG and SF_CLIENT_ID/SF_JWT_KEY_FILE are set: unset one, or say "
                "which login to use with -o ALIAS or --client-id/--username/--jwt-key-file"
            )
        if found:
            filled = replace(found[0][1], login=target.login, calls=target.calls)
            given = [m for m in METHODS if m.given(filled)] or [found[0][0]]
            target = filled
    method = given[0] if given else None
    if target.login.login_url and method is not None and method.name != "jwt":
        raise LoginError(
            "--login-url is for the JWT bearer login (--client-id, --username, --jwt-key-file)"
        )
    if method is None:
        if target.login.login_url:  # --login-url alone: the JWT settings may be in SF_*
            return BY_NAME["jwt"], target
        raise NoOrgGiven(NO_ORG)
    return method, target


def open_org(
    target: OrgTarget, environ: Mapping[str, str], notify: Callable[[str], None] | None = None
) -> OrgBlock:
    """The open Org for `target`; it is closed (an in-process emulator stopped) with the block.

    When nothing names an org, the Salesforce CLI's default org (`sf config get target-org`)
    is used, as sf itself would, and `notify` is told which one."""
    try:
        method, target = choose(target, environ)
    except NoOrgGiven:
        alias = default_org(target.calls.timeout)
        if alias is None:
            raise
        if notify is not None:
            notify(
                f"Using the Salesforce CLI's default org {printable(alias)!r} (sf config get "
                "target-org); give -o ALIAS to choose another."
            )
        method, target = BY_NAME["sf_alias"], replace(target, target=alias)
    return method.open(target, environ)
