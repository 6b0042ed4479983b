"""`--parallelism N`: at most N calls to the org in flight (Metadata and REST together), and
`--parallelism 1` one at a time (the sequential behaviour from before reads ran in parallel).
Counted at the emulator, with enough apps for several batches of 10 per type and 20 ms of
latency in every call (the emulator's `org.latency_ms` pause), so that calls overlap."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reconciler.emulator.clones import add_clones
from reconciler.emulator.server import EmulatorServer

from .conftest import SHIPPED_DESIRED, run


class InFlight:
    """Counts the requests inside the emulator's latency pause at once (every API call, REST
    or SOAP, spends its first 20 ms there)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.now = self.most = self.calls = 0
        self._lock = threading.Lock()
        pause = server.pause

        def counted(seconds: float) -> bool:
            with self._lock:
                self.now += 1
                self.calls += 1
                self.most = max(self.most, self.now)
            try:
                return pause(seconds)
            finally:
                with self._lock:
                    self.now -= 1

        server.pause = counted  # type: ignore[method-assign]


@pytest.mark.parametrize("parallelism", [1, 3])
def test_calls_in_flight_never_exceed_parallelism(make_org, monkeypatch, parallelism):
    def grow(doc: dict[str, Any]) -> None:
        add_clones(doc, "Partner_Portal", 50)  # 60 apps: 6 read batches per type
        doc["org"]["latency_ms"] = 20

    org = make_org(grow)
    with EmulatorServer(org.path) as server:
        seen = InFlight(server)
        monkeypatch.setenv("SF_ACCESS_TOKEN", server.access_token)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)
        result = run(
            "plan",
            "--instance-url",
            server.instance_url,
            "-d",
            SHIPPED_DESIRED,
            "--parallelism",
            parallelism,
        )
    assert result.exit_code == 0, result.output
    assert seen.calls >= 17  # 1 list + 6 + 6 reads + 4 queries
    assert seen.most == parallelism
