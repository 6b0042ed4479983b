"""Start-up time of the three commands issue 9 sets targets for, against those targets.

    python benchmarks/startup.py [--runs 5]

`reconciler --help`, `reconciler validate -d desired` (the shipped ten-app file) and
`reconciler plan -o emulator -d desired` (the in-process emulator serving the demo org, which
the first run creates in a temporary directory) each run once unmeasured, so that the bytecode
cache (PYTHONPYCACHEPREFIX, in the temporary directory, as scale.py does) is warm, then --runs
times; the median wall time is compared with the target. Median CPU (user + system of the CLI
process) is printed beside it. The three are CPU-bound, so on a busy machine (check the load
average first) both are inflated. Exits 1 when a target is missed. Not a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import REPO, cli_env, run_cli  # noqa: E402

DESIRED = str(REPO / "desired")
#: (name, arguments, expected exit code, target median wall seconds) from issue 9.
COMMANDS: list[tuple[str, list[str], int, float]] = [
    ("--help", ["--help"], 0, 0.15),
    ("validate", ["validate", "-d", DESIRED], 0, 0.15),
    ("plan -o emulator", ["plan", "-o", "emulator", "-d", DESIRED], 0, 0.60),
]


def measure(args: list[str], expected: int, runs: int, work: Path) -> tuple[float, float]:
    """(median wall, median CPU) in seconds over `runs` runs after one that fills the cache."""
    env = cli_env(work) | {"NO_COLOR": "1"}
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs + 1):
        m = run_cli(args, env, work, None)
        if m.code != expected:
            tail = "\n".join(m.output.splitlines()[-15:])
            command = " ".join(args)
            raise SystemExit(f"reconciler {command} exited {m.code}, not {expected}:\n{tail}")
        walls.append(m.wall)
        cpus.append(m.cpu)
    return statistics.median(walls[1:]), statistics.median(cpus[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per command")
    options = parser.parse_args(argv)
    missed = 0
    with tempfile.TemporaryDirectory(prefix="reconciler-startup-") as tmp:
        for name, args, expected, target in COMMANDS:
            wall, cpu = measure(args, expected, options.runs, Path(tmp))
            verdict = "met" if wall <= target else "NOT met"
            missed += wall > target
            print(f"{name}: {wall:.2f} s (target {target:.2f} s): {verdict}  [CPU {cpu:.2f} s]")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
