"""The org emulator in its own process, for benchmarks: its CPU must not count as the tool's.

    python benchmarks/emulator_process.py STATE_FILE [--round-trip-ms N]

Prints one JSON line {"url", "token", "ca"} once it listens, then obeys one command per stdin
line: `calls` prints the requests served since the last `calls` as one JSON line and resets
them; `stop` (or end of input) stops the server and exits. A driver can thus count the
requests of each CLI run against one running org without restarting it.

With --round-trip-ms N, every answer leaves N ms after its request arrived, the emulator's own
work included (it sleeps only for what remains). That is how a real org's round trip behaves: its
processing is part of the time per request. The state file's `org.latency_ms` instead pauses N ms
*before* the work, so each request costs N ms plus the emulator's Python CPU, and with 8 requests
in flight that CPU queues behind one GIL: the figure then measures this process as much as the
client. The benchmark uses --round-trip-ms by default and can show the other model
(scale.py --latency-model added).

Two counts are kept: the emulator's own per-operation counter (`server.metadata.calls`:
listMetadata, readMetadata, updateMetadata, ..., query) and `http`, every HTTP request that
reached a handler, so a request the operation counter does not see (a 404, a login, a retry
that failed before parsing) still shows up as a difference.

The org lives in memory only. The emulator normally deep-copies the whole org document and
rewrites the state file on every write call, under its lock: O(org size) per updateMetadata
(0.07 s of copying and 0.13 s of JSON encoding at 1000 apps, one call at a time), which would
make the benchmark measure the emulator's persistence instead of the tool (a real org's write
cost does not grow with the org). Here a write call copies only the dictionaries it replaces
entries in and nothing is saved. Without
injected faults no write call is rolled back, so what the client sees is unchanged.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.emulator import server as emulator_server  # noqa: E402
from reconciler.emulator.server import EmulatorServer  # noqa: E402
from reconciler.emulator.state import OrgState  # noqa: E402

_http_requests: Counter[str] = Counter()
#: --round-trip-ms: the least time from a request's arrival to its answer (0: no padding).
_round_trip_seconds = 0.0
_lock = threading.Lock()
_original_make_handler = emulator_server._make_handler


def _counting_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    """The emulator's handler with every GET/POST counted before it is served, and no Nagle."""
    base: Any = _original_make_handler(server)

    class Counting(base):  # type: ignore[misc, valid-type]
        # The emulator's handler writes the headers and the body of an answer in two sends;
        # with Nagle's algorithm on, the body then waits for the client's delayed ACK of the
        # headers (about 40 ms on Linux) on every request. Real servers set TCP_NODELAY.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._arrived = time.monotonic()
            with _lock:
                _http_requests["http"] += 1
            super().do_GET()

        def do_POST(self) -> None:  # noqa: N802
            self._arrived = time.monotonic()
            with _lock:
                _http_requests["http"] += 1
            super().do_POST()

        def _answer(self, answer: Any, head_only: bool = False) -> None:
            remaining = getattr(self, "_arrived", 0.0) + _round_trip_seconds - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
            super()._answer(answer, head_only)

    return Counting


@contextmanager
def _in_memory_transaction(self: OrgState) -> Iterator[dict[str, Any]]:
    """OrgState.transaction without the deep copy and the file write (see the docstring).

    Saves replace components (`metadata[type][name] = ...`) rather than edit them, so copying
    those two levels keeps a call that raises out of the block from being committed (only an
    info entry's lastModifiedDate, edited in place, could survive it).
    """
    with self.lock:
        work = dict(self.doc)
        for key in ("metadata", "metadata_info"):
            work[key] = {type_name: dict(items) for type_name, items in self.doc[key].items()}
        yield work
        self.doc = work


def _take_counts(server: EmulatorServer) -> dict[str, int]:
    with _lock, server.state.lock:
        counts = dict(server.metadata.calls) | dict(_http_requests)
        server.metadata.calls.clear()
        _http_requests.clear()
    return counts


def main(argv: list[str]) -> int:
    global _round_trip_seconds
    if len(argv) == 3 and argv[1] == "--round-trip-ms" and argv[2].isdigit():
        _round_trip_seconds = int(argv[2]) / 1000
        argv = argv[:1]
    if len(argv) != 1:
        print("usage: emulator_process.py STATE_FILE [--round-trip-ms N]", file=sys.stderr)
        return 1
    # Both patches apply only inside this benchmark process.
    emulator_server._make_handler = _counting_handler
    OrgState.transaction = _in_memory_transaction  # type: ignore[assignment, method-assign]
    with EmulatorServer(argv[0]) as server:
        server.state.path = None  # in memory only: OrgState.save() is then a no-op
        hello = {"url": server.instance_url, "token": server.access_token}
        print(json.dumps(hello | {"ca": server.ca_cert_path}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "calls":
                print(json.dumps(_take_counts(server)), flush=True)
            elif command == "stop":
                break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
