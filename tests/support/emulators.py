"""The real programs the client and harness tests talk to: QEMU 10.0, qemu-ga 10.0, ``qapigen vm``.

Each is found or the test skips, saying what is missing; each is started
with its QMP monitor on a socket the test owns, and killed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

QEMU = shutil.which("qemu-system-x86_64")
# qemu-ga lives in sbin, which a user's PATH may lack.
QEMU_GA = shutil.which("qemu-ga") or shutil.which("qemu-ga", path="/usr/sbin:/sbin")
VM = (sys.executable, "-m", "qapigen", "vm")
#: How long a test waits for a program to start or answer (generous: the machine is shared).
TIMEOUT = 30.0
#: The only commands the tests let qemu-ga run: none of them acts on this machine.
GA_RPCS = "guest-sync,guest-sync-delimited,guest-ping,guest-info,guest-get-osinfo,guest-get-time"


def _version(program: str | None) -> tuple[int, int]:
    """The major and minor version that ``program --version`` prints; (0, 0) without it."""
    if program is None:
        return (0, 0)
    out = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    for word in out.stdout.split():
        parts = word.split(".")
        if len(parts) == 3 and all(part.isdigit() for part in parts):
            return int(parts[0]), int(parts[1])
    return (0, 0)


HAVE_QEMU = _version(QEMU) >= (10, 0)
HAVE_QEMU_GA = _version(QEMU_GA) >= (10, 0)
NO_QEMU = "needs qemu-system-x86_64 10.0 (Debian's qemu-system-x86 from bookworm-backports)"
NO_QEMU_GA = "needs qemu-ga 10.0 (Debian's qemu-guest-agent from bookworm-backports)"
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason=NO_QEMU)
needs_qemu_ga = pytest.mark.skipif(not HAVE_QEMU_GA, reason=NO_QEMU_GA)

#: QEMU with nothing to run: no guest code, no display, no default devices.
QEMU_NONE = ("-machine", "none", "-display", "none", "-nodefaults")


@contextlib.contextmanager
def qemu_on_socketpair(
    *args: str, program: tuple[str, ...] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], socket.socket]]:
    """QEMU (or ``program``, ``qapigen vm`` say) with its QMP monitor on one end of a
    socket pair; the other end is yielded with the process, which is killed after."""
    ours, theirs = socket.socketpair()
    argv = [*(program or (str(QEMU),)), *args]
    argv += ["-chardev", f"socket,id=mon,fd={theirs.fileno()}", "-mon", "chardev=mon,mode=control"]
    proc = subprocess.Popen(
        argv,
        pass_fds=(theirs.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    theirs.close()
    try:
        yield proc, ours
    finally:
        ours.close()
        _end(proc)


@contextlib.contextmanager
def qemu_ga(folder: Path, rpcs: str = GA_RPCS) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """qemu-ga listening on a unix socket in ``folder`` (its state file there too,
    not in /run), allowed only ``rpcs``; killed after."""
    assert QEMU_GA is not None
    path = str(folder / "qga.sock")
    argv = [QEMU_GA, "-m", "unix-listen", "-p", path, "-t", str(folder), "--allow-rpcs", rpcs]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for_socket(proc, path)
        yield proc, path
    finally:
        _end(proc)


def wait_for_socket(proc: subprocess.Popen[bytes], path: str) -> None:
    """Wait until ``proc`` accepts connections at ``path`` (bounded by :data:`TIMEOUT`)."""
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read() if proc.stderr else b""
            raise RuntimeError(f"{proc.args!r} did not start: {err!r}")
        time.sleep(0.01)


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(TIMEOUT)
    if proc.stderr:
        proc.stderr.close()


def private_folder(tmp_path: Path) -> Path:
    """``tmp_path``, readable by its owner only (for the sockets in it)."""
    tmp_path.chmod(0o700)
    return tmp_path
