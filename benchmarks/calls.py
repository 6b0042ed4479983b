"""The per-call costs docs/scale.md cites, measured side by side in one run.

    python benchmarks/calls.py [--calls 200] [--runs 7]

1. CPU per readMetadata call of 10 components, the same envelope sent through requests
   (http.GuardedSession, as Metadata calls went before) and through soap_channel.SoapChannel,
   against the emulator in its own process (benchmarks/emulator_process.py, no latency), so
   only this process's CPU is counted.
2. CPU to turn one such reply into Components (soap.parse_reply + metadata_xml), per reply.
3. The exit: median wall of `reconciler plan -o emulator` run as the console script (cli.run,
   which freezes the collector's objects before exit) and as a plain `cli.main()` call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import RECONCILER, REPO, Emulator, build_org, cli_env  # noqa: E402

from reconciler.org import soap  # noqa: E402
from reconciler.org.http import GuardedSession  # noqa: E402
from reconciler.org.metadata_xml import record_to_component  # noqa: E402
from reconciler.org.soap_channel import SoapChannel  # noqa: E402

TYPE = "ExtlClntAppGlobalOauthSettings"
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
PLAIN_MAIN = "import sys; from reconciler.cli import main; sys.argv[0] = 'reconciler'; main()"


def cpu_per_call(send: object, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        send()  # type: ignore[operator]
    return (time.process_time() - started) / calls * 1000


def exit_costs(runs: int, work: Path) -> tuple[float, float]:
    """(console script, plain main) median wall of `plan -o emulator`, seconds."""
    env = cli_env(work) | {"NO_COLOR": "1"}
    args = ["plan", "-o", "emulator", "-d", str(REPO / "desired")]
    commands = [[str(RECONCILER), *args], [sys.executable, "-c", PLAIN_MAIN, *args]]
    walls: list[list[float]] = [[], []]
    for i in range(runs + 1):  # the first round fills the bytecode cache
        for which, command in enumerate(commands):
            started = time.perf_counter()
            subprocess.run(command, env=env, cwd=work, capture_output=True, check=True)
            if i:
                walls[which].append(time.perf_counter() - started)
    return statistics.median(walls[0]), statistics.median(walls[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reconciler-calls-") as tmp:
        work = Path(tmp)
        doc = build_org(1000, 0)
        names = sorted(doc["metadata"][TYPE])[:10]
        (work / "org.json").write_text(json.dumps(doc), encoding="utf-8")
        emulator = Emulator(work / "org.json", work / "emulator.log")
        try:
            root, op = soap.envelope(emulator.token, "readMetadata")
            soap.add_text(op, "type", [TYPE])
            soap.add_text(op, "fullNames", names)
            body = soap.serialise(root)
            url = f"{emulator.url}/services/Soap/m/63.0/"
            session = GuardedSession()
            session.trust_env = False
            session.verify = emulator.ca
            channel = SoapChannel(url, verify=emulator.ca, max_response_bytes=50 << 20)

            def through_requests() -> bytes:
                return session.post(url, data=body, headers=HEADERS, timeout=60).content

            def through_channel() -> bytes:
                return channel.post(body, call="readMetadata", write=False, timeout=60).body

            reply = through_channel()
            through_requests()  # both connections open before counting
            via_requests = cpu_per_call(through_requests, options.calls)
            via_channel = cpu_per_call(through_channel, options.calls)

            def convert() -> None:
                answer = soap.parse_reply(200, "text/xml", reply, "readMetadata")
                for record in answer.iter(soap.md("records")):
                    record_to_component(record, TYPE, "readMetadata")

            convert()
            converting = cpu_per_call(convert, options.calls * 5)
        finally:
            emulator.stop()
        script, plain = exit_costs(options.runs, work)
    print(f"readMetadata of 10 {TYPE}, {len(reply)} bytes, CPU per call:")
    print(f"  through requests (GuardedSession): {via_requests:.2f} ms")
    print(f"  through SoapChannel (urllib3): {via_channel:.2f} ms")
    print(f"  reply -> 10 Components:            {converting:.2f} ms")
    print(f"plan -o emulator, median of {options.runs} runs:")
    print(f"  console script (gc.freeze at exit): {script:.2f} s")
    print(f"  plain cli.main():                   {plain:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
