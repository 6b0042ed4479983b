"""read_live asks for the org id beside the listing and the reads, not before them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from reconciler import fields as F
from reconciler.live_state import read_live
from reconciler.model import Component


class MeetingOrg:
    """An Org whose org id waits for a component read to have started, and whose listing
    waits for the org id to have been asked.

    Asked one after the other, the first would wait out its timeout and fail; asked side by
    side, all return at once.
    """

    def __init__(self) -> None:
        self.reading, self.asking_id = threading.Event(), threading.Event()
        self.instance_url = "https://example.my.salesforce.com"

    @property
    def org_id(self) -> str:
        self.asking_id.set()
        if not self.reading.wait(5):
            raise AssertionError("the reads waited for the org id")
        return "00D000000000001EAA"

    def list_names(self, types: Sequence[str]) -> dict[str, list[str]]:
        if not self.asking_id.wait(5):
            raise AssertionError("the listing waited for the org id")
        return {
            F.APP_TYPE: ["A"],
            F.SETTINGS_TYPE: ["A_settings"],
            F.POLICIES_TYPE: ["A_policies"],
        }

    def read(self, type_name: str, names: Sequence[str]) -> list[Component]:
        self.reading.set()
        return [Component(type_name, n, {"externalClientApplication": "A"}) for n in names]

    def update(self, type_name: str, components: Sequence[Component]) -> list[Any]:
        raise AssertionError("read_live never writes")

    def query(self, soql: str) -> list[dict[str, Any]]:
        return []


def test_org_id_is_asked_beside_the_listing_and_the_reads():
    live = read_live(MeetingOrg())
    assert live.org_id == "00D000000000001EAA"
    assert live.apps["A"].settings is not None
    assert live.apps["A"].policies is not None
