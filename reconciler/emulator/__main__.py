"""`python -m reconciler.emulator [STATE_PATH] [PORT]`: run the org emulator in the foreground."""

from __future__ import annotations

import sys

from reconciler.emulator.server import run_foreground


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    state_path = args[0] if args else "emulator-state.json"
    port = int(args[1]) if len(args) > 1 else 8443
    run_foreground(state_path, port)


if __name__ == "__main__":
    main()
