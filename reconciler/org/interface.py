"""The narrow protocol between the reconciler and an org."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model import Component


@dataclass(frozen=True)
class SaveOutcome:
    """Per-component result of a write: Salesforce's SaveResult, secrets never included."""

    full_name: str
    success: bool
    errors: list[tuple[str, str]] = field(default_factory=list)  # (statusCode, message)

    def describe(self) -> str:
        return "; ".join(f"{code}: {message}" for code, message in self.errors) or "failed"


class Org(Protocol):
    """What the reconciler needs from an org; batching and wire limits are the adapter's job."""

    instance_url: str

    @property
    def org_id(self) -> str: ...

    def list_names(self, types: Sequence[str]) -> dict[str, list[str]]:
        """fullNames of every component of each type."""

    def read(self, type_name: str, names: Sequence[str]) -> list[Component]:
        """The named components that exist (unknown names are skipped). Raises ReadRefused."""

    def update(self, type_name: str, components: Sequence[Component]) -> list[SaveOutcome]:
        """Replace whole components; one outcome per component, in order."""

    def query(self, soql: str) -> list[dict[str, Any]]:
        """REST SOQL query, all pages, `attributes` removed."""
