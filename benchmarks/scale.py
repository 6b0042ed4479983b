"""How `plan` and `apply` scale with the number of apps, against a slow org.

    python benchmarks/scale.py [--sizes 500,1000,2000,5000] [--apply-sizes SIZES]
                               [--latency-ms 50] [--latency-model round-trip|added]
                               [--parallelism 8] [--quick] [--json FILE] [--profile DIR]

Each size N gets an org of N apps (the demo org's ten, plus copies of each of them in turn),
served by the emulator in a separate process (benchmarks/emulator_process.py) so that its CPU
time is not the tool's, with every request taking the latency. By default (`round-trip`) an
answer leaves the emulator 50 ms after its request arrived, the emulator's own work included, as
a real org's round trip includes the org's work. `added` pauses 50 ms before that work instead
(the emulator's `org.latency_ms`): each request then also costs the emulator's Python CPU
(about 2 ms for a read of 10 components), queued behind the emulator's one GIL when 8 arrive
together, which the floor below does not count. The real CLI then runs as a subprocess
against it with `--instance-url`, SF_ACCESS_TOKEN and REQUESTS_CA_BUNDLE, exactly as against a
real org, on a desired state that declares all N apps and changes one policy field of each (so
`plan` shows N changes and `apply` writes N policy components and no settings component).

Measured per run: wall time, the CLI process's CPU time (user + system) and peak RSS (both from
os.wait4 on that one process, so neither the emulator nor this script counts), and the requests
the emulator served, by operation.

Floors, what any client must spend (B = ceil(N/10) batches per type, L = latency, P = parallelism):

- plan requests: 2 listMetadata (four types, ConnectedApp included; three per call) + 2B + C
  readMetadata (settings and policies, and C = ceil(Connected Apps/10); Metadata reads take
  10 names) + 5 queries (the org id; the run-as risk lookups User, PermissionSet and
  PermissionSetAssignment, and the usage look-up's one grouped LoginHistory query, whose
  number does not grow with N);
- plan time: rounds of P calls in flight, in dependency order: the list (with the org id query
  beside it), then ceil(2B/P) rounds of reads, then the User query, then the PermissionSet,
  PermissionSetAssignment and LoginHistory queries side by side: (3 + ceil(2B/P)) x L;
- apply: the plan's requests and rounds, plus for its one phase (policies) B reads before
  writing (read-modify-write on a fresh copy), B updateMetadata calls and B verification reads,
  each ceil(B/P) rounds, the three in sequence.

CPU per app includes interpreter start-up and imports (shown once, for `reconciler --version`).

Targets checked at the end (the issue's): plan of 5000 apps at 50 ms latency within 1.5 x its
time floor, at its request floor, at most 1 ms of CPU per app and under 300 MB; apply of 1000
apps within 1.5 x its time floor. The tool and the emulator share this machine's CPUs: on a busy
machine (see the load average printed) wall times are inflated, CPU times much less so.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.emulator.clones import add_clones  # noqa: E402
from reconciler.emulator.demo_org import build_demo_org  # noqa: E402

RECONCILER = Path(sys.executable).parent / "reconciler"
EMULATOR = Path(__file__).resolve().parent / "emulator_process.py"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"
APP = "ExternalClientApplication"
#: Queries per plan, whatever N: Organization (org id), then User, PermissionSet and
#: PermissionSetAssignment for the run-as risk lookups (the demo org has client-credentials apps),
#: and LoginHistory for their usage (issue 15: one grouped query, beside the last two).
QUERIES = 5
#: Rounds that cannot overlap with reads: list (+ org id query), User, then PermissionSet with
#: PermissionSetAssignment and LoginHistory.
PLAN_FIXED_ROUNDS = 3
TIMEOUT_SECONDS = 1800
TARGET_PLAN_N, TARGET_APPLY_N, TARGET_LATENCY_MS = 5000, 1000, 50


# -- the org and the desired state ------------------------------------------------------------


@functools.cache
def _demo_org() -> dict[str, Any]:
    return build_demo_org()  # once per run: it generates keys and certificates


def build_org(apps: int, latency_ms: int, connected: int = 3) -> dict[str, Any]:
    """The demo org grown to `apps` apps, copying each demo app in turn (a realistic mix), and
    to `connected` Connected Apps (copies of the demo org's three, issue 18)."""
    doc = copy.deepcopy(_demo_org())
    demo_connected = sorted(doc["metadata"]["ConnectedApp"])
    for i in range(max(0, connected - len(demo_connected))):
        template = demo_connected[i % len(demo_connected)]
        doc["metadata"]["ConnectedApp"][f"{template}_{i:04d}"] = copy.deepcopy(
            doc["metadata"]["ConnectedApp"][template]
        )
    templates = sorted(doc["metadata"][APP])
    if apps < len(templates):
        raise SystemExit(f"sizes must be at least {len(templates)} (the demo org's apps)")
    extra = apps - len(templates)
    for i, template in enumerate(templates):
        count = extra // len(templates) + (1 if i < extra % len(templates) else 0)
        add_clones(doc, template, count, digits=4)
    # Old_Payroll_Feed runs as an inactive user, so the org refuses any write to its policies
    # (FIELD_INTEGRITY_EXCEPTION); reactivate that user so every planned write can succeed.
    for user in doc["sobjects"]["User"]:
        user["IsActive"] = True
    doc["org"]["latency_ms"] = latency_ms
    return doc


def desired_yaml(doc: dict[str, Any]) -> str:
    """Every app declared, each with one policy field that differs from the org.

    `session_timeout_minutes` is free of baseline controls and cross-field rules, so the plan
    has exactly one change per app, on the policies side; `baseline: []` keeps the baseline from
    adding changes of its own to apps whose client credentials are on.
    """
    timeouts: dict[str, Any] = {
        fields["externalClientApplication"]: fields.get("sessionTimeoutInMinutes")
        for fields in doc["metadata"][POLICIES].values()
    }
    lines = ["version: 1", "baseline: []", "unlisted: report", "apps:"]
    for app in sorted(doc["metadata"][APP]):
        wanted = 60 if timeouts.get(app) == 120 else 120
        lines.append(f"  {app}:")
        lines.append(f"    policies: {{session_timeout_minutes: {wanted}}}")
    return "\n".join(lines) + "\n"


# -- floors --------------------------------------------------------------------------------------


def plan_floor(apps: int, parallelism: int, connected: int = 3) -> tuple[int, int]:
    """(requests, latency rounds) any plan of `apps` apps and `connected` Connected Apps needs;
    see the module docstring. Four types are listed, three per listMetadata call: two calls,
    side by side in one round. Connected App reads share the read rounds with the ECA ones."""
    batches = math.ceil(apps / 10)
    connected_batches = math.ceil(connected / 10)
    requests = 2 + 2 * batches + connected_batches + QUERIES
    rounds = PLAN_FIXED_ROUNDS + math.ceil((2 * batches + connected_batches) / parallelism)
    return requests, rounds


def apply_floor(apps: int, parallelism: int, connected: int = 3) -> tuple[int, int]:
    """The plan's floor plus read, write and verify of one policies component per app."""
    requests, rounds = plan_floor(apps, parallelism, connected)
    batches = math.ceil(apps / 10)
    return requests + 3 * batches, rounds + 3 * math.ceil(batches / parallelism)


# -- processes -------------------------------------------------------------------------------


class Emulator:
    """benchmarks/emulator_process.py serving one state file, in its own process."""

    def __init__(self, state: Path, log: Path, round_trip_ms: int = 0) -> None:
        self._log: IO[bytes] = log.open("wb")
        pad = ["--round-trip-ms", str(round_trip_ms)] if round_trip_ms else []
        self.proc = subprocess.Popen(
            [sys.executable, str(EMULATOR), str(state), *pad],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=REPO,
        )
        hello = self._line()
        self.url, self.token, self.ca = hello["url"], hello["token"], hello["ca"]
        self.cpu_seconds = 0.0

    def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the emulator process ended early; see {self._log.name}")
        result: dict[str, Any] = json.loads(line)
        return result

    def take_calls(self) -> dict[str, int]:
        """Requests served since the last call (and reset)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("calls\n")
        self.proc.stdin.flush()
        return self._line()

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.close()
        _, _, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self._log.close()


@dataclass
class Measured:
    wall: float
    cpu: float
    peak_mb: float
    code: int
    output: str


#: Runs the CLI script under cProfile and keeps its exit code. Only the main thread is profiled:
#: use --parallelism 1 (and --latency-ms 0) to see the reads' parsing too; the time spent in
#: SSL socket reads is then the wait for the emulator. (A CPU-time timer would be exact but is a
#: system call per event, which inflates small functions several times.)
_PROFILED = """
import cProfile, runpy, sys
out, script = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
profiler = cProfile.Profile()
code = 0
try:
    profiler.runcall(runpy.run_path, script, run_name="__main__")
except SystemExit as exc:
    code = exc.code
finally:
    profiler.dump_stats(out)
sys.exit(code)
"""


def cli_env(work: Path) -> dict[str, str]:
    """The environment of a CLI run: ours, minus RECONCILER_* settings, with bytecode cached.

    An installed tool runs from cached bytecode; with PYTHONDONTWRITEBYTECODE set (as in some
    sandboxes) every run would compile the whole package again and count it as the tool's CPU.
    The cache goes under the benchmark's temporary directory, never into the source tree.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, profile: Path | None) -> Measured:
    """Run the CLI once; CPU and peak RSS come from wait4 on that process alone."""
    prefix = [str(RECONCILER)]
    if profile is not None:
        prefix = [sys.executable, "-c", _PROFILED, str(profile), str(RECONCILER)]
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            prefix + args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return Measured(wall, usage.ru_utime + usage.ru_stime, kib / 1024, proc.returncode, text)


@dataclass
class Row:
    command: str
    apps: int
    calls: dict[str, int]
    requests: int
    floor_requests: int
    wall: float
    floor_seconds: float
    cpu_ms_per_app: float
    peak_mb: float
    http: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.wall / self.floor_seconds if self.floor_seconds else None


def measure(
    apps: int, do_apply: bool, args: argparse.Namespace, work: Path
) -> tuple[list[Row], float]:
    """Plan (and apply) one org of `apps` apps; returns the rows and the emulator's CPU time."""
    added = args.latency_model == "added"
    doc = build_org(apps, args.latency_ms if added else 0, args.connected_apps)
    state = work / f"org-{apps}.json"
    state.write_text(json.dumps(doc), encoding="utf-8")
    desired = work / f"desired-{apps}.yaml"
    desired.write_text(desired_yaml(doc), encoding="utf-8")
    del doc
    emulator = Emulator(state, work / f"emulator-{apps}.log", 0 if added else args.latency_ms)
    rows = []
    try:
        env = cli_env(work) | {"SF_ACCESS_TOKEN": emulator.token, "REQUESTS_CA_BUNDLE": emulator.ca}
        org = ["--instance-url", emulator.url, "--parallelism", str(args.parallelism)]
        runs = [("plan", ["plan", "-d", str(desired), *org, "--detailed-exitcode"], 2)]
        if do_apply:
            # Every app changes: past the default safety threshold (30%) on purpose.
            apply = ["apply", "-d", str(desired), *org, "--auto-approve", "--max-changes", "100%"]
            runs.append(("apply", apply, 0))
        emulator.take_calls()  # start from zero
        for command, cli_args, expected in runs:
            profile = args.profile / f"{command}-{apps}.prof" if args.profile else None
            m = run_cli(cli_args, env, work, profile)
            calls = emulator.take_calls()
            if m.code != expected:
                tail = "\n".join(m.output.splitlines()[-15:])
                raise SystemExit(f"{command} N={apps} exited {m.code}, not {expected}:\n{tail}")
            wanted = f"Plan: {apps} apps to change"
            if command == "plan" and wanted not in m.output:
                raise SystemExit(f"plan N={apps} did not say {wanted!r}:\n{m.output[-2000:]}")
            floor = (plan_floor if command == "plan" else apply_floor)(
                apps, args.parallelism, args.connected_apps
            )
            http = calls.pop("http", 0)
            rows.append(
                Row(
                    command=command,
                    apps=apps,
                    calls=calls,
                    requests=sum(calls.values()),
                    floor_requests=floor[0],
                    wall=m.wall,
                    floor_seconds=floor[1] * args.latency_ms / 1000,
                    cpu_ms_per_app=m.cpu * 1000 / apps,
                    peak_mb=m.peak_mb,
                    http=http,
                )
            )
    finally:
        emulator.stop()
    return rows, emulator.cpu_seconds


# -- report --------------------------------------------------------------------------------------

SHORT = {
    "listMetadata": "list",
    "readMetadata": "read",
    "updateMetadata": "update",
    "query": "query",
}


def table(rows: list[Row], command: str) -> list[str]:
    mine = [r for r in rows if r.command == command]
    if not mine:
        return []
    head = (
        f"{'N':>6} {'requests':>8} {'floor':>6} {'wall s':>7} {'floor s':>7} {'wall/floor':>10} "
        f"{'CPU ms/app':>10} {'peak MB':>7}  by operation"
    )
    out = [f"{command}:", head]
    for r in mine:
        ops = ", ".join(f"{SHORT.get(k, k)} {v}" for k, v in sorted(r.calls.items()))
        if r.http != r.requests:
            ops += f" (HTTP requests: {r.http})"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        out.append(
            f"{r.apps:>6} {r.requests:>8} {r.floor_requests:>6} {r.wall:>7.2f} "
            f"{r.floor_seconds:>7.2f} {ratio:>10} {r.cpu_ms_per_app:>10.3f} {r.peak_mb:>7.1f}  "
            f"{ops}"
        )
    return out


def targets(rows: list[Row], latency_ms: int) -> list[tuple[str, bool | None]]:
    """The project's scale targets; None where this run did not measure the case."""
    plan = next((r for r in rows if r.command == "plan" and r.apps == TARGET_PLAN_N), None)
    apply = next((r for r in rows if r.command == "apply" and r.apps == TARGET_APPLY_N), None)
    slow = latency_ms == TARGET_LATENCY_MS
    p = f"plan N={TARGET_PLAN_N} @{TARGET_LATENCY_MS} ms"
    a = f"apply N={TARGET_APPLY_N} @{TARGET_LATENCY_MS} ms"
    if plan is None or not slow:
        results: list[tuple[str, bool | None]] = [(f"{p}: all targets", None)]
    else:
        results = [
            (
                f"{p}: wall {plan.wall:.2f} s <= 1.5 x floor {plan.floor_seconds:.2f} s",
                plan.wall <= 1.5 * plan.floor_seconds,
            ),
            (
                f"{p}: requests {plan.requests} = floor {plan.floor_requests}",
                plan.requests == plan.floor_requests,
            ),
            (f"{p}: CPU {plan.cpu_ms_per_app:.3f} ms/app <= 1", plan.cpu_ms_per_app <= 1),
            (f"{p}: peak memory {plan.peak_mb:.1f} MB < 300", plan.peak_mb < 300),
        ]
    if apply is None or not slow:
        results.append((f"{a}: wall <= 1.5 x floor", None))
    else:
        results.append(
            (
                f"{a}: wall {apply.wall:.2f} s <= 1.5 x floor {apply.floor_seconds:.2f} s",
                apply.wall <= 1.5 * apply.floor_seconds,
            )
        )
    return results


def machine() -> str:
    """CPU count and model, Python version: what docs/scale.md must cite with the numbers."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def warm_up(work: Path, parallelism: int, full: bool) -> Measured:
    """Plan and apply the ten-app demo org once, unmeasured, so that every module the CLI
    imports is in the bytecode cache (skipped by --quick, which then counts some compiling);
    then measure start-up alone (`reconciler --version`, after a first run that caches)."""
    if full:
        args = argparse.Namespace(
            latency_ms=0,
            latency_model="added",
            parallelism=parallelism,
            profile=None,
            connected_apps=3,
        )
        measure(10, True, args, work)
    else:
        run_cli(["--version"], cli_env(work), work, None)
    start = run_cli(["--version"], cli_env(work), work, None)
    if start.code != 0:
        raise SystemExit(f"reconciler --version exited {start.code}:\n{start.output[-2000:]}")
    return start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,1000,2000,5000", help="org sizes for plan")
    parser.add_argument(
        "--apply-sizes",
        help="sizes that also run apply (default: every size in --sizes; a subset of them)",
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="time per request")
    parser.add_argument(
        "--latency-model",
        choices=["round-trip", "added"],
        default="round-trip",
        help="round-trip: each answer leaves LATENCY after its request arrived, the emulator's "
        "work included (as a real org's round trip); added: LATENCY before the emulator's work "
        "(org.latency_ms), so its CPU, queued behind its GIL, adds to every request",
    )
    parser.add_argument("--parallelism", type=int, default=8, help="passed to the CLI")
    parser.add_argument(
        "--connected-apps",
        type=int,
        default=3,
        help="Connected Apps in each org (default: the demo org's 3)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: N=200, no latency")
    parser.add_argument("--json", type=Path, help="also write the rows here as JSON")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the CLI under cProfile (main thread only: add --parallelism 1), "
        "one .prof per run in this directory",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.apply_sizes, args.latency_ms = "200", "200", 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    apply_sizes = {int(s) for s in (args.apply_sizes or args.sizes).split(",") if s}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        work = Path(tmp)
        start = warm_up(work, args.parallelism, full=not args.quick)
        for apps in sizes:
            measured, emulator_cpu = measure(apps, apps in apply_sizes, args, work)
            for row in measured:
                row.extra["emulator_cpu_seconds"] = round(emulator_cpu, 3)
            rows.extend(measured)
            load = os.getloadavg()[0]
            print(
                f"N={apps}: done (emulator process CPU {emulator_cpu:.2f} s; "
                f"load average {load:.1f} on {os.cpu_count()} CPUs)",
                file=sys.stderr,
                flush=True,
            )
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(
        f"latency {args.latency_ms} ms per request ({args.latency_model}), "
        f"--parallelism {args.parallelism}; "
        f"CLI start-up (reconciler --version): {start.wall * 1000:.0f} ms wall, "
        f"{start.cpu * 1000:.0f} ms CPU, {start.peak_mb:.1f} MB"
    )
    if args.profile:
        print("(profiled under cProfile: times and CPU are inflated)")
    for command in ("plan", "apply"):
        lines = table(rows, command)
        if lines:
            print()
            print("\n".join(lines))
    print()
    print(
        f"queries in the floor: {QUERIES} (org id; User, PermissionSet, PermissionSetAssignment, "
        "LoginHistory)"
    )
    print("targets:")
    for text, met in targets(rows, args.latency_ms):
        verdict = "not measured" if met is None else ("met" if met else "MISSED")
        print(f"  {text}: {verdict}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
