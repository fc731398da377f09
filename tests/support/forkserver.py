"""`python -m tether` as a real process, without paying for the interpreter and its imports
each time.

Starting `tether` costs about half a second of CPU, almost all of it importing the CLI and
what it uses; the CLI tests start hundreds of commands. So each test worker keeps one
helper process (this file run as a script) that has imported `tether.cli.main` once and
does nothing else; every command is a fork of it that sets the command's environment,
working directory, arguments and standard streams, and then runs `tether`'s `__main__` as
`python -m tether` would. The command is still a process of its own: its exit code, its
stdout and stderr, signals sent to it and what it leaves behind are real. What is shared
is only what importing did, and that does not depend on a command's environment (rich's
consoles read COLUMNS and the like when they print, and the helper starts with the
environment every command's is derived from).

A command whose environment differs from the helper's in what Python reads at start-up
(PYTHONPATH, locale, ...) is started the ordinary way instead, and so is every command
when fork is not available.

The client side, `run` and `Popen`, mirrors the parts of `subprocess.run` and
`subprocess.Popen` the tests use.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

# What the interpreter reads from the environment while it starts and imports; a command
# whose environment disagrees with the helper's here gets a fresh interpreter.
# (rich and typer read their colour and terminal settings when they are imported.)
_STARTUP = (
    "PYTHON",
    "LANG",
    "LC_",
    "TERM",
    "COLORTERM",
    "FORCE_COLOR",
    "NO_COLOR",
    "TTY_",
    "_TYPER",
    "SSL_CERT",  # the TLS context the helper builds (tether.tls)
)
_PER_COMMAND = {"PYTHONUNBUFFERED"}  # set up again in each fork


def _startup_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_STARTUP) and k not in _PER_COMMAND}


# ---------------------------------------------------------------------------- the helper


def _serve(control: socket.socket) -> None:  # pragma: no cover - runs in the helper
    import importlib
    import runpy
    import traceback

    sys.path.pop(0)  # this file's directory; each command gets its own cwd there instead
    # The point of the helper; then what the store commands and `tether serve` import
    # when they run.
    for module in ("tether.cli.main", "tether.relay.store", "tether.server"):
        importlib.import_module(module)
    from tether import tls

    tls.client_context()  # what every command that talks to the relay builds first

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    reports: dict[int, socket.socket] = {}
    control.send(b"ready")

    def command(request: dict[str, Any], stdio: list[int]) -> int:
        """In the fork: become `python -m tether` with the request's world; its exit code."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        selector.close()
        control.close()
        os.close(wake_r)
        os.close(wake_w)
        for report in reports.values():
            report.close()
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # Standard streams as the interpreter makes them for pipes: stdout block-buffered,
        # stderr line-buffered, both unbuffered under PYTHONUNBUFFERED.
        unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
        encoding = sys.stdout.encoding

        def writer(fd: int, errors: str, line_buffering: bool) -> io.TextIOWrapper:
            raw = open(fd, "wb", buffering=0 if unbuffered else -1, closefd=False)  # noqa: SIM115
            return io.TextIOWrapper(
                raw, encoding, errors, line_buffering=line_buffering, write_through=unbuffered
            )

        sys.stdin = sys.__stdin__ = open(0, encoding=encoding, closefd=False)  # noqa: SIM115
        sys.stdout = sys.__stdout__ = writer(1, "strict", False)
        sys.stderr = sys.__stderr__ = writer(2, "backslashreplace", True)
        sys.path[0] = os.getcwd()
        sys.argv = ["-m", *request["args"]]
        try:
            runpy.run_module("tether", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            if stop.code is None:
                code = 0
            elif isinstance(stop.code, int):
                code = stop.code
            else:
                print(stop.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            traceback.print_exc()
            code = -signal.SIGINT
        except BaseException:
            traceback.print_exc()
            code = 1
        # What the interpreter does on its way out: wait for threads, run atexit hooks.
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if code < 0:  # an uncaught Ctrl-C: the process dies of SIGINT, as Python's does
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        return code & 0xFF

    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_r, selectors.EVENT_READ, "wake")
    while True:
        for key, _ in selector.select():
            if key.data == "wake":
                os.read(wake_r, 4096)
            else:
                message, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
                if not message:  # the test worker is gone
                    return
                report = socket.socket(fileno=fds[3])
                pid = os.fork()
                if pid == 0:  # never return into the helper's loop
                    code = 1
                    try:
                        report.close()
                        code = command(json.loads(message), fds[:3])
                    finally:
                        os._exit(code)
                for fd in fds[:3]:
                    os.close(fd)
                report.sendall(f"{pid}\n".encode())
                reports[pid] = report
        while reports:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            report = reports.pop(pid, None)
            if report is not None:
                with contextlib.suppress(OSError):
                    report.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                report.close()


# ---------------------------------------------------------------------------- the client


class _Helper:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self.env = _startup_env(env)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            cwd="/",
        )
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        if ours.recv(16) != b"ready":
            raise RuntimeError("the tether fork server did not start")

    def spawn(
        self, args: Sequence[str], env: Mapping[str, str], cwd: str, stdio: list[int]
    ) -> tuple[int, socket.socket, bytes]:
        """The command's pid, the socket its exit status will come on, and what of that
        already came with the pid (a command that ends at once sends both together)."""
        report, theirs = socket.socketpair()
        request = json.dumps({"args": list(args), "env": dict(env), "cwd": cwd}).encode()
        with self.lock:
            socket.send_fds(self.control, [request], [*stdio, theirs.fileno()])
        theirs.close()
        received = b""
        while b"\n" not in received:
            chunk = report.recv(64)
            if not chunk:
                raise RuntimeError("the tether fork server did not start the command")
            received += chunk
        pid, _, rest = received.partition(b"\n")
        return int(pid), report, rest

    def close(self) -> None:
        self.control.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_helper: _Helper | None = None
_helper_pid = 0


def _get_helper(env: Mapping[str, str]) -> _Helper | None:
    global _helper, _helper_pid
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return None
    if _helper is None or _helper_pid != os.getpid():
        _helper = _Helper()
        _helper_pid = os.getpid()
        atexit.register(_helper.close)
    if _startup_env(env) != _helper.env:
        return None
    return _helper


class Popen:
    """`subprocess.Popen([sys.executable, "-m", "tether", *args], ...)`, text mode, for
    stdin/stdout/stderr each PIPE, DEVNULL, STDOUT (stderr only), None (inherit), a file
    descriptor or an open file."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        bufsize: int = -1,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.args = [sys.executable, "-m", "tether", *args]
        self.returncode: int | None = None
        self.stdin: IO[str] | None = None
        self.stdout: IO[str] | None = None
        self.stderr: IO[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        helper = _get_helper(env)
        if helper is None:
            self._proc = subprocess.Popen(
                self.args,
                env=dict(env),
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                text=True,
                bufsize=bufsize,
            )
            self.pid = self._proc.pid
            self.stdin, self.stdout, self.stderr = (
                self._proc.stdin,
                self._proc.stdout,
                self._proc.stderr,
            )
            return
        theirs: list[int] = []
        close: list[int] = []

        def end(how: int | IO[Any] | None, fd: int, reading: bool) -> IO[str] | None:
            if how is not None and not isinstance(how, int):
                how = how.fileno()
            if how is None or how >= 0:
                theirs.append(os.dup(fd if how is None else how))
                close.append(theirs[-1])
                return None
            if how == subprocess.DEVNULL:
                theirs.append(os.open(os.devnull, os.O_RDWR))
                close.append(theirs[-1])
                return None
            if how == subprocess.STDOUT:
                theirs.append(theirs[1])
                return None
            assert how == subprocess.PIPE, how
            r, w = os.pipe()
            child, mine = (r, w) if not reading else (w, r)
            theirs.append(child)
            close.append(child)
            buffering = 1 if bufsize == 1 and not reading else -1
            return open(mine, "w" if not reading else "r", buffering=buffering)

        self.stdin = end(stdin, 0, reading=False)
        self.stdout = end(stdout, 1, reading=True)
        self.stderr = end(stderr, 2, reading=True)
        try:
            self.pid, self._report, self._pending = helper.spawn(
                args, env, os.path.abspath(cwd or "."), theirs
            )
        finally:
            for fd in close:
                os.close(fd)

    def _collect(self, timeout: float | None) -> int | None:
        if self.returncode is None:
            self._report.settimeout(timeout)
            try:
                while not self._pending.endswith(b"\n"):
                    chunk = self._report.recv(64)
                    if not chunk:
                        raise RuntimeError("the tether fork server went away")
                    self._pending += chunk
            except (TimeoutError, BlockingIOError):
                return None
            self.returncode = int(self._pending)
            self._report.close()
        return self.returncode

    def poll(self) -> int | None:
        if self._proc is not None:
            self.returncode = self._proc.poll()
            return self.returncode
        return self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        if self._proc is not None:
            self.returncode = self._proc.wait(timeout)
            return self.returncode
        code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(
        self, input: str | None = None, timeout: float | None = None
    ) -> tuple[str | None, str | None]:
        if self._proc is not None:
            return self._proc.communicate(input, timeout)
        # Our own pipes: write stdin and read both outputs on threads, as subprocess does.
        out: dict[str, str] = {}

        def read(name: str, stream: IO[str]) -> None:
            out[name] = stream.read()
            stream.close()

        readers = [
            threading.Thread(target=read, args=(name, stream), daemon=True)
            for name, stream in (("out", self.stdout), ("err", self.stderr))
            if stream is not None
        ]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass
        self.wait(timeout)
        for reader in readers:
            reader.join(timeout)
        return out.get("out"), out.get("err")


def run(
    args: Sequence[str],
    env: Mapping[str, str],
    input: str | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([sys.executable, "-m", "tether", *args], env=env, input=input,
    capture_output=True, text=True, timeout=timeout, cwd=cwd)`."""
    proc = Popen(
        args,
        env,
        stdin=subprocess.PIPE if input is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = proc.communicate(input, timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(proc.args, proc.wait(), stdout, stderr)


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])))
