"""LockedBeforeReading: the org lock comes before the first component read or write, not
before the org id and the listing (which then go out side by side, see live_state.read_live)."""

from __future__ import annotations

from typing import Any

from reconciler.locking import LockedBeforeReading


class Recording:
    instance_url = "https://example.my.salesforce.com"

    def __init__(self, events: list[str]) -> None:
        self.events = events

    @property
    def org_id(self) -> str:
        self.events.append("org_id")
        return "00D000000000001EAA"

    def list_names(self, types: Any) -> dict[str, list[str]]:
        self.events.append("list")
        return {t: [] for t in types}

    def query(self, soql: str) -> list[dict[str, Any]]:
        self.events.append("query")
        return []

    def read(self, type_name: str, names: Any) -> list[Any]:
        self.events.append("read")
        return []

    def update(self, type_name: str, components: Any) -> list[Any]:
        self.events.append("update")
        return []


def test_lock_is_taken_once_just_before_the_first_component_read():
    events: list[str] = []
    org = LockedBeforeReading(Recording(events), lambda org_id: events.append(f"lock {org_id}"))
    org.list_names(["T"])
    org.query("SELECT Id FROM User")
    assert org.instance_url == "https://example.my.salesforce.com"
    assert "lock" not in " ".join(events)
    org.read("T", ["a"])
    org.update("T", [])
    org.read("T", ["a"])
    assert events == [
        "list",
        "query",
        "org_id",
        "lock 00D000000000001EAA",
        "read",
        "update",
        "read",
    ]


def test_a_write_without_a_read_still_takes_the_lock_first():
    events: list[str] = []
    org = LockedBeforeReading(Recording(events), lambda org_id: events.append("lock"))
    org.update("T", [])
    assert events == ["org_id", "lock", "update"]
