"""The narrow protocol between the reconciler and an org.

Whatever sits behind it (a real org over HTTPS, the emulator, later a source folder) looks the
same to the planner and the applier. The adapter owns the wire: batching, limits, strict
parsing, retries of reads, concurrency. The applier owns what only it can decide: whether a
failed or unanswered write is retried, because that needs a fresh read and a stale check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model import Component

#: Save statusCodes and fault codes that say "try again shortly", not "this is wrong".
#: UNABLE_TO_LOCK_ROW is in WSDL63's StatusCode; SERVER_UNAVAILABLE is the SOAP API's fault
#: code for a busy instance (wire doc §8 leaves the Metadata fault list open) and what the
#: adapter reports for HTTP 502/503/504; CONNECTION_FAILED means the request never left.
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "CONNECTION_FAILED"})
#: The answer to a write was lost (timeout or connection dropped after sending).
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
#: OrgError code of `query` on an org that has no users to look up (a source folder): the risk
#: lookup reports it as skipped, not as a refusal.
NO_USERS = "NO_USERS"


@dataclass(frozen=True)
class SaveOutcome:
    """Per-component result of a write: Salesforce's SaveResult, secrets never included."""

    full_name: str
    success: bool
    errors: list[tuple[str, str]] = field(default_factory=list)  # (statusCode, message)

    def describe(self) -> str:
        return "; ".join(f"{code}: {message}" for code, message in self.errors) or "failed"

    @property
    def in_doubt(self) -> bool:
        """The request went out but no answer came back: re-read before deciding anything."""
        return not self.success and any(code == OUTCOME_UNKNOWN for code, _ in self.errors)

    @property
    def transient(self) -> bool:
        """Failed for a reason that a re-read and a retry may cure (e.g. UNABLE_TO_LOCK_ROW)."""
        return not self.success and any(
            code in TRANSIENT_CODES or code == OUTCOME_UNKNOWN for code, _ in self.errors
        )


class Org(Protocol):
    """What the reconciler needs from an org; batching and wire limits are the adapter's job."""

    instance_url: str

    @property
    def org_id(self) -> str: ...

    def list_names(self, types: Sequence[str]) -> dict[str, list[str]]:
        """fullNames of every component of each type. Raises IncompleteResponse on a bad reply."""
        ...

    def read(self, type_name: str, names: Sequence[str]) -> list[Component]:
        """The named components that exist; a name the org does not know is left out, and the
        caller decides whether that is an error (it is, for a name listMetadata returned).

        Raises ReadRefused when the org will not return the type at all, IncompleteResponse on
        a malformed, truncated or oversized reply, TransientOrgError when retries ran out."""
        ...

    def update(self, type_name: str, components: Sequence[Component]) -> list[SaveOutcome]:
        """Replace whole components; one outcome per component, in order. Never retried here:
        a lost answer comes back as an outcome that is `in_doubt`."""
        ...

    def query(self, soql: str) -> list[dict[str, Any]]:
        """REST SOQL query, all pages, `attributes` removed."""
        ...

    def describe(self, sobject: str) -> list[dict[str, Any]]:
        """The sObject's fields (each with `name` and `label`); OrgError when refused."""
        ...
