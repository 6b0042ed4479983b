"""Run the installed `reconciler` script as a separate process without paying for its imports.

Tests that need a real process (a terminal, signals, a fresh masking registry, stdin that is
an open pipe) used to start the console script, which spends ~0.8 s of CPU importing click,
requests, simple-salesforce, lxml and zeep before doing ~0.1 s of work. Here one "zygote"
process per pytest process imports every reconciler module once and then forks for each run:

    pytest --Popen--> trampoline (python -S, ~40 ms) --unix socket, fds 0-2--> zygote
    zygote --fork--> waiter --fork--> CLI child: stdio = the trampoline's fds, its cwd, its
    environment, sys.argv = [script, *args], then runs the installed script as __main__.

The CLI child is a process that never ran anything in pytest and never ran a command before:
only imports are shared. Its exit code (or the signal that killed it) comes back to the
trampoline, which exits the same way, so `subprocess.Popen` semantics hold: returncode,
communicate(), send_signal() (forwarded to the child), and kill() (the waiter kills the child
when the trampoline goes away). A few runs still start the script cold (test_bare_commands,
test_ci_recipe, test_input_limits, test_lazy_imports) so the entry point and a cold import of
every command stay covered.

This file is three programs: the pytest-side API (`argv_for`), the zygote (`--serve`) and the
trampoline (anything else). Its top level imports only the standard library, so the
trampoline starts fast under `python -S`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from typing import Any

_LEN = struct.Struct("!Q")
_INT = struct.Struct("!q")
#: Signals a test may send to the process; the trampoline passes them on to the CLI child.
_FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


# -- pytest side ------------------------------------------------------------------------------

_zygote: Any = None  # this pytest process's zygote: (Popen, socket path, folder, owner pid)


def argv_for(script: str, args: list[str]) -> list[str]:
    """The argv that runs `script args...` in a fork of this process's warm zygote."""
    return [sys.executable, "-S", __file__, _socket_path(script), script, *args]


def shim(script: str, folder: str) -> str:
    """Write `folder/<name of script>`, an executable that runs `script` as argv_for does (for
    tests whose commands find the tool on PATH); returns the folder."""
    import shlex

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, os.path.basename(script))
    command = shlex.join([sys.executable, "-S", __file__, _socket_path(script), script])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f'#!/bin/sh\nexec {command} "$@"\n')
    os.chmod(path, 0o755)
    return folder


def _socket_path(script: str) -> str:
    global _zygote
    if _zygote is not None and _zygote[0].poll() is None and _zygote[3] == os.getpid():
        return str(_zygote[1])
    import atexit
    import shutil
    import subprocess
    import tempfile

    folder = tempfile.mkdtemp(prefix="reconciler-zygote-")  # short: AF_UNIX paths are <108
    path = os.path.join(folder, "sock")
    log = open(os.path.join(folder, "log"), "wb")  # noqa: SIM115 - closed with the zygote
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", path, script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    proc.stdout.close()
    if ready != b"ready\n":
        proc.wait()
        log.close()
        with open(os.path.join(folder, "log"), encoding="utf-8", errors="replace") as fh:
            raise RuntimeError(f"the CLI zygote did not start: {fh.read()[-2000:]}")

    def stop() -> None:
        proc.terminate()
        proc.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    _zygote = (proc, path, folder, os.getpid())
    return path


# -- zygote -------------------------------------------------------------------------------------


def _preload() -> None:
    """Import every reconciler module (the lazily imported ones included): the
    part of a cold start that the children then share. A module that fails to import is left
    out; the child imports it itself and fails as a cold process would."""
    import importlib
    import pkgutil

    import reconciler

    names = [m.name for m in pkgutil.walk_packages(reconciler.__path__, "reconciler.")]
    for name in ["reconciler.cli", *names]:
        if name.rsplit(".", 1)[-1] == "__main__":
            continue
        with contextlib.suppress(Exception):  # see the docstring
            importlib.import_module(name)


def _serve(path: str, script: str) -> tuple[dict[str, Any], list[int]] | None:
    """Accept runs until the parent goes away. Returns only in a CLI child, with its request."""
    sys.path[0] = os.path.dirname(script)  # as for `script` run directly
    _preload()
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # waiters are reaped by the kernel
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:
                return None  # pytest is gone
            continue
        if os.fork() == 0:
            listener.close()
            return _wait_for(conn)  # returns in the CLI child only
        conn.close()


def _wait_for(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """In the waiter: start the CLI child, report its pid and then how it ended."""
    import threading

    conn.settimeout(None)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    head, fds, _, _ = socket.recv_fds(conn, _LEN.size, 3)
    head += _recv_exact(conn, _LEN.size - len(head))
    (size,) = _LEN.unpack(head)
    request = json.loads(_recv_exact(conn, size))
    child = os.fork()
    if child == 0:
        conn.close()
        return request, fds
    for fd in fds:
        os.close(fd)

    reaped = threading.Lock()
    ended = False

    def kill_when_trampoline_goes() -> None:
        with contextlib.suppress(OSError):
            conn.recv(1)
        with reaped:  # the child is not reaped before `ended`, so its pid is still its own
            if not ended:
                os.kill(child, signal.SIGKILL)

    try:
        conn.sendall(_INT.pack(child))
        threading.Thread(target=kill_when_trampoline_goes, daemon=True).start()
        os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)
        with reaped:
            ended = True
            _, status = os.waitpid(child, 0)
        conn.sendall(_INT.pack(os.waitstatus_to_exitcode(status)))
    finally:
        os._exit(0)


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """In the CLI child: take the trampoline's stdio, cwd, environment and argv."""
    import io

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    # New stdio objects, made as the interpreter makes them at start-up: line-buffered stdout
    # only on a terminal, stderr always line-buffered with backslashreplace.
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding
    )
    out = io.FileIO(1, "w", closefd=False)
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        io.BufferedWriter(out), encoding=encoding, line_buffering=out.isatty()
    )
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
    )
    sys.argv = list(request["argv"])


def _run_as_main(script: str) -> None:
    """Run `script` as __main__ and exit as the interpreter would, minus the module teardown:
    tearing down a heap shared copy-on-write with the zygote copies all of it (~0.2 s), and
    nothing a command leaves behind depends on it. What a command can see is kept, in
    Py_Finalize's order: non-daemon threads are waited for, atexit handlers run (logging's
    flush among them), stdio is flushed (a failed stdout flush exits 120), an uncaught
    KeyboardInterrupt ends the process by SIGINT, any other uncaught exception exits 1."""
    import atexit
    import runpy
    import threading

    code, interrupted = 0, False
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        interrupted = True
    except BaseException:  # noqa: BLE001 - printed as the interpreter prints it
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # type: ignore[attr-defined] # Py_Finalize's first step
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        code = 120
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


# -- trampoline ---------------------------------------------------------------------------------


def _trampoline(path: str, argv: list[str]) -> int:
    child = 0
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if child:
            os.kill(child, signum)
        else:
            pending.append(signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(sock, [_LEN.pack(len(payload))], [0, 1, 2])
    sock.sendall(payload)
    (child,) = _INT.unpack(_recv_exact(sock, _INT.size))
    for signum in pending:
        os.kill(child, signum)
    try:
        (code,) = _INT.unpack(_recv_exact(sock, _INT.size))
    except EOFError:
        os.write(2, b"forked_cli: the zygote went away before the command ended\n")
        return 255
    if code < 0:  # killed by a signal: die of the same one
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        started = _serve(sys.argv[2], sys.argv[3])
        if started is None:
            sys.exit(0)
        _become(*started)
        del started
        _run_as_main(sys.argv[0])
    else:
        sys.exit(_trampoline(sys.argv[1], sys.argv[2:]))
