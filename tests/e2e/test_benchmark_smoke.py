"""The scale benchmark still runs: `benchmarks/scale.py --quick` (200 apps, no latency).

The benchmark is only worth its numbers if it really drives the CLI against a separate emulator
process and counts the requests that process served; so this runs it as a user would and reads
its printed table: plan and apply of 200 apps must each cost exactly their floor of requests
(one listMetadata, reads and writes in tens, four queries), with sane times and memory.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

ROW = re.compile(
    r"^\s*(?P<n>\d+)\s+(?P<requests>\d+)\s+(?P<floor>\d+)\s+(?P<wall>[\d.]+)\s+"
    r"(?P<floor_s>[\d.]+)\s+(?P<ratio>\S+)\s+(?P<cpu>[\d.]+)\s+(?P<peak>[\d.]+)\s+(?P<ops>.+)$"
)


def _table(out: str, command: str) -> dict[str, str]:
    """The one data row of `command`'s table (header line, then the row)."""
    lines = out.splitlines()
    start = lines.index(f"{command}:")
    assert lines[start + 1].split()[:3] == ["N", "requests", "floor"], lines[start + 1]
    match = ROW.match(lines[start + 2])
    assert match, lines[start + 2]
    return match.groupdict()


def test_quick_benchmark_prints_requests_at_their_floor(tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/scale.py", "--quick", "--json", str(rows_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout

    plan = _table(out, "plan")
    assert plan["n"] == "200"
    # 1 list + 2 x 20 reads + 5 queries (org id, User, PermissionSet, assignments, LoginHistory)
    assert plan["requests"] == plan["floor"] == "48"  # + a listMetadata and a ConnectedApp read
    assert plan["ops"] == "list 2, query 5, read 41"
    apply = _table(out, "apply")
    assert apply["requests"] == apply["floor"] == "108"  # plan + 20 reads, 20 writes, 20 checks
    assert apply["ops"] == "list 2, query 5, read 81, update 20"
    for row in (plan, apply):
        assert 0 < float(row["wall"]) < 60
        assert row["ratio"] == "-"  # no latency: no time floor to compare with
        assert 0 < float(row["cpu"]) < 100  # ms per app
        assert 20 < float(row["peak"]) < 1000  # MB of the CLI process, not of the benchmark
    assert "targets:" in out and "not measured" in out  # --quick measures no target case

    rows = json.loads(rows_file.read_text())
    assert [(r["command"], r["apps"], r["http"]) for r in rows] == [
        ("plan", 200, 48),  # every HTTP request the emulator served is an API call counted
        ("apply", 200, 108),
    ]


def test_calls_benchmark_runs_and_prints_its_four_figures() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/calls.py", "--calls", "5", "--runs", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = re.findall(r": +([\d.]+) (ms|s)$", done.stdout, re.MULTILINE)
    assert len(figures) == 5, done.stdout
    assert all(float(value) > 0 for value, _ in figures), done.stdout
