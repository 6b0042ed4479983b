"""How plan cost grows with the number of apps, against the emulator on loopback.

Prints, per org size, wall time of one plan and the round trips by operation, and the ratio
of each to the smallest size. Loopback hides network latency, so the round-trip counts are
the figure that carries over to a real org; times show the client's own overhead.

    python benchmarks/plan_scale.py [--sizes 10,100,300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler import api  # noqa: E402
from reconciler.emulator.server import EmulatorServer  # noqa: E402
from reconciler.org.connect import emulator_org  # noqa: E402
from tests.support import add_clones, demo_doc  # noqa: E402

DESIRED = "version: 1\nbaseline: [ECA-OAUTH-001]\nunlisted: report\napps: {}\n"


def measure(size: int, repeat: int, workdir: Path) -> tuple[float, dict[str, int]]:
    doc = demo_doc()
    base = len(doc["metadata"]["ExternalClientApplication"])
    add_clones(doc, "Ledger_Export", max(0, size - base))
    state = workdir / f"org-{size}.json"
    state.write_text(json.dumps(doc))
    desired_file = workdir / "d.yaml"
    desired_file.write_text(DESIRED)
    desired = api.load_desired(desired_file)
    with EmulatorServer(state) as server:
        org = emulator_org(server)
        api.make_plan(org, desired)  # warm-up: zeep and TLS session set up
        server.metadata.calls.clear()
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            api.make_plan(org, desired)
            best = min(best, time.perf_counter() - start)
        calls = {k: v // repeat for k, v in server.metadata.calls.items()}
    return best, calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,300")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            rows.append((size, *measure(size, args.repeat, Path(tmp))))
    first_size, first_time, first_calls = rows[0]
    first_total = sum(first_calls.values())
    print(f"{'apps':>6} {'plan s':>8} {'x time':>7} {'calls':>6} {'x calls':>8}  by operation")
    for size, seconds, calls in rows:
        total = sum(calls.values())
        print(
            f"{size:>6} {seconds:>8.3f} {seconds / first_time:>7.2f} {total:>6} "
            f"{total / first_total:>8.2f}  {dict(sorted(calls.items()))}"
        )
    print(f"(apps ratio of last to first size: {rows[-1][0] / first_size:.1f})")


if __name__ == "__main__":
    main()
