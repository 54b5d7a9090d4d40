"""Real QEMU 10.0 and ``qapigen vm`` side by side: the same options, raw QMP bytes.

A :class:`QMPProcess` is one of the two programs with its QMP monitor on a unix
socket in a private folder; :class:`RawQMP` is a blocking connection that sends
bytes as they are and returns the lines that come back, exactly.  Tests that
compare the two start both with :func:`pair` and skip, saying why, when QEMU
10.0 is not installed.
"""

from __future__ import annotations

import array
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import pytest

from .paths import REPO

QEMU = shutil.which("qemu-system-x86_64")
VM = (sys.executable, "-m", "qapigen", "vm")
#: What both are started with (QEMU needs no machine for QMP).
BASE_OPTIONS = ("-machine", "none", "-display", "none", "-nodefaults")
TIMEOUT = 30.0
_EARLY_EVENTS = 8  # at most, before a greeting (QEMU's start sends one, RESUME)


def qemu_version() -> tuple[int, int]:
    """QEMU's (major, minor), or (0, 0) without it."""
    if QEMU is None:
        return (0, 0)
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    try:
        major, minor = out.split("version ", 1)[1].split(".")[:2]
        return int(major), int(minor)
    except (IndexError, ValueError):
        return (0, 0)


_NO_QEMU = "needs qemu-system-x86_64 10.0 (Debian's bookworm-backports; .ci/run installs it)"

#: Skips a test (or module) without QEMU 10.0, saying what is missing.
needs_qemu = pytest.mark.skipif(qemu_version() != (10, 0), reason=_NO_QEMU)


def skip_without_qemu() -> str:
    """QEMU's path; skips the calling test or fixture, saying why, without QEMU 10.0."""
    if QEMU is None or qemu_version() != (10, 0):
        pytest.skip(_NO_QEMU)
    return QEMU


class QMPProcess:
    """``qemu-system-x86_64`` or ``qapigen vm`` serving QMP on a private unix socket."""

    def __init__(
        self,
        program: Sequence[str],
        options: Sequence[str] = (),
        base: Sequence[str] = BASE_OPTIONS,
    ) -> None:
        self.folder = tempfile.mkdtemp(prefix="qapigen-pair-")
        self.path = os.path.join(self.folder, "qmp.sock")
        self.name = "qemu" if program[0] == QEMU else "qapigen"
        self.proc = subprocess.Popen(
            [*program, *base, *options, "-qmp", f"unix:{self.path},server=on,wait=off"],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.005)

    def connect(self) -> RawQMP:
        """A connection; QEMU's may bring the events of its start before the greeting."""
        return RawQMP(self.path, early_events=self.name == "qemu")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class RawQMP:
    """A blocking QMP connection: bytes out, exact lines (``\\r\\n`` kept) in.

    QEMU may send events before the greeting: its monitor passes events on to a
    client from the moment the client is connected, and greets it a moment later, so
    a client that connects while QEMU starts may get the start's RESUME first (see
    docs/behaviour.md).  With ``early_events`` such events are taken and kept in
    :attr:`early`; without, the first line is the greeting, whatever it is.
    """

    def __init__(self, path: str, *, early_events: bool = False) -> None:
        # The socket file appears at bind(), a moment before listen(): a connect in
        # between is refused, so try again until the deadline.
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(TIMEOUT)
            try:
                self.sock.connect(path)
                break
            except ConnectionRefusedError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self._buf = b""
        self.early: list[bytes] = []  # events before the greeting
        self.greeting = self.line()
        for _ in range(_EARLY_EVENTS if early_events else 0):
            if not self.greeting.startswith(b'{"timestamp": '):
                break
            self.early.append(self.greeting)
            self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_fds(self, data: bytes, fds: Sequence[int]) -> None:
        """Send ``data`` in one message with ``fds`` attached (SCM_RIGHTS)."""
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = self.sock.sendmsg([data], ancillary)
        self.sock.sendall(data[sent:])

    def line(self) -> bytes:
        """The next line; AssertionError when the stream ends first."""
        while b"\n" not in self._buf:
            chunk = self.sock.recv(1 << 16)
            assert chunk, f"the connection closed; unterminated: {self._buf[:200]!r}"
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    def until(self, marker: bytes) -> list[bytes]:
        """Lines up to and including the first that contains ``marker``."""
        lines = []
        while True:
            lines.append(self.line())
            if marker in lines[-1]:
                return lines

    def command(self, text: bytes) -> bytes:
        """Send one command that gets one reply and no event; the reply."""
        self.send(text)
        return self.line()

    def close(self) -> None:
        self.sock.close()


_TIMESTAMP = re.compile(rb'"timestamp": \{"seconds": \d+, "microseconds": \d+\}')
_PACKAGE = re.compile(rb'"package": "(?:[^"\\]|\\.)*"')


def normalized(line: bytes) -> bytes:
    """A line without what differs between any two runs: timestamps, the package string."""
    return _PACKAGE.sub(b'"package": "<P>"', _TIMESTAMP.sub(b'"timestamp": <T>', line))


def pair(
    options: Sequence[str] = (), base: Sequence[str] = BASE_OPTIONS
) -> Generator[tuple[QMPProcess, QMPProcess], None, None]:
    """Real QEMU and ``qapigen vm`` with the same options (a fixture's body), after
    ``base`` (:data:`BASE_OPTIONS` unless given); skips without QEMU 10.0."""
    qemu = QMPProcess((skip_without_qemu(),), options, base)
    try:
        ours = QMPProcess(VM, options, base)
    except BaseException:
        qemu.close()
        raise
    try:
        yield qemu, ours
    finally:
        qemu.close()
        ours.close()


NEGOTIATE = b'{"execute": "qmp_capabilities"}\n'


def command(conn: RawQMP, execute: str, arguments: dict[str, Any] | None = None) -> bytes:
    """The raw reply to ``execute`` with ``arguments`` (one reply, no event expected)."""
    request: dict[str, Any] = {"execute": execute}
    if arguments is not None:
        request["arguments"] = arguments
    return conn.command(json.dumps(request).encode() + b"\n")


class Both:
    """Real QEMU and ``qapigen vm``, each with a negotiated connection."""

    def __init__(self, qemu: QMPProcess, ours: QMPProcess) -> None:
        self.processes = (qemu, ours)
        self.conns = (qemu.connect(), ours.connect())
        for conn in self.conns:
            assert conn.command(NEGOTIATE) == b'{"return": {}}\r\n'

    def ask(self, execute: str, arguments: dict[str, Any] | None = None) -> tuple[bytes, bytes]:
        """The raw replies of QEMU and of the simulator (socket folders masked)."""
        q, o = (command(conn, execute, arguments) for conn in self.conns)
        for process, _ in zip(self.processes, (q, o), strict=True):
            folder = process.folder.encode()
            q, o = q.replace(folder, b"<F>"), o.replace(folder, b"<F>")
        return q, o

    def close(self) -> None:
        for conn in self.conns:
            conn.close()


def both_running(options: Sequence[str]) -> Iterator[Both]:
    """:class:`Both` with ``options`` (a fixture's body); skips without QEMU 10.0."""
    for qemu, ours in pair(options):
        both = Both(qemu, ours)
        try:
            yield both
        finally:
            both.close()
