"""The accelerator a line asks for, chosen as QEMU 10.0.2 chooses it, side by side.

``-accel`` (each in turn), ``-machine accel=`` (a later one replaces an
earlier), ``-enable-kvm`` (QEMU's ``-machine accel=kvm``), none of them
(``tcg:kvm``): what is printed, the exit status, and ``query-kvm`` when the
machine runs.  On this host as it is, and on this host without KVM (a mount
namespace whose ``/dev`` has no ``kvm``), where QEMU reports KVM's failure and
falls back, or gives up; and on this host with a ``/dev/kvm`` that opens but is
not KVM's (``/dev/null`` bound over it), which QEMU finds when it asks the
device its API version.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ..support.paths import REPO
from ..support.qemu import BASE_OPTIONS, TIMEOUT, VM, skip_without_qemu

LINES = [
    [],
    ["-enable-kvm"],
    ["-accel", "kvm"],
    ["-accel", "tcg"],
    ["-machine", "accel=kvm"],
    ["-machine", "accel=kvm:tcg"],
    ["-enable-kvm", "-machine", "accel=tcg"],
    ["-machine", "accel=tcg", "-enable-kvm"],
    ["-machine", "accel=tcg", "-machine", "accel=kvm"],
    ["-enable-kvm", "-accel", "tcg"],
    ["-accel", "tcg", "-enable-kvm"],
    ["-accel", "kvm", "-accel", "tcg"],
    ["-accel", "bogus", "-accel", "tcg"],
    ["-accel", "bogus"],
    ["-machine", "accel=bogus:tcg"],
    ["-machine", "accel=bogus"],
    ["-machine", "accel=bogus:kvm"],
]

# Run a program where /dev has no kvm: the rest of /dev that the programs
# open is bound in from the real one.
_WITHOUT_KVM = (
    'set -e; real=$(mktemp -d); mount --bind /dev "$real"; mount -t tmpfs tmpfs /dev; '
    'for n in null zero random urandom; do touch /dev/$n; mount --bind "$real/$n" /dev/$n; done; '
    'exec "$@"'
)

# Run a program whose /dev/kvm is /dev/null.
_NOT_KVM = 'set -e; mount --bind /dev/null /dev/kvm; exec "$@"'


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-m", "sh", "-c", _WITHOUT_KVM, "sh", "true"]
    return subprocess.run(probe, capture_output=True, timeout=TIMEOUT, check=False).returncode == 0


def _outcome(argv: list[str], folder: Path) -> tuple[int | str, str]:
    """The exit status (or query-kvm's reply, if it runs) and what it printed."""
    sock = folder / "qmp.sock"
    options = [*BASE_OPTIONS, "-S", "-qmp", f"unix:{sock},server=on,wait=off"]
    proc = subprocess.Popen(
        [*argv, *options],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        outcome: int | str
        if proc.poll() is not None or not sock.exists():
            outcome = proc.wait(TIMEOUT)
        else:
            try:
                outcome = _query_kvm(str(sock), deadline)
            except (ConnectionError, EOFError):
                # It refused the line just after its socket appeared.
                outcome = proc.wait(TIMEOUT)
            else:
                outcome += f" then {proc.wait(TIMEOUT)}"
        assert proc.stderr is not None
        said = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    for name in ("qemu-system-x86_64: ", "qapigen vm: "):
        said = said.replace(name, "PROG: ")
    return outcome, said


def _query_kvm(path: str, deadline: float) -> str:
    """query-kvm's reply, then quit."""
    while True:  # the file appears at bind(), a moment before listen()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(TIMEOUT)
        try:
            conn.connect(path)
            break
        except ConnectionRefusedError:
            conn.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    with conn, conn.makefile("rwb") as stream:
        if not stream.readline():  # the greeting
            raise EOFError("the connection ended before the greeting")
        replies = []
        for request in (b"qmp_capabilities", b"query-kvm", b"quit"):
            stream.write(b'{"execute": "%s"}\n' % request)
            stream.flush()
            while b'"return"' not in (line := stream.readline()):
                if not line:
                    raise EOFError("the connection ended before the reply")
            replies.append(line)
    return json.dumps(json.loads(replies[1]))


def _both(prefix: list[str], line: list[str], tmp_path: Path) -> None:
    qemu = skip_without_qemu()
    outcomes = []
    for name, program in (("qemu", [qemu]), ("ours", [*VM])):
        folder = tmp_path / name
        folder.mkdir()
        outcomes.append(_outcome([*prefix, *program, *line], folder))
    assert outcomes[1] == outcomes[0]


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_the_accelerator_is_chosen_as_qemu_chooses_it(line: list[str], tmp_path: Path) -> None:
    _both([], line, tmp_path)


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_without_kvm_qemus_failure_and_fallback(line: list[str], tmp_path: Path) -> None:
    if not _namespaces_work():
        pytest.skip("needs root and mount namespaces (unshare -m) to hide /dev/kvm")
    _both(["unshare", "-m", "sh", "-c", _WITHOUT_KVM, "sh"], line, tmp_path)


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_a_kvm_device_that_is_not_kvm(line: list[str], tmp_path: Path) -> None:
    if not _namespaces_work() or not os.path.exists("/dev/kvm"):
        pytest.skip("needs root, mount namespaces (unshare -m) and a /dev/kvm to cover")
    _both(["unshare", "-m", "sh", "-c", _NOT_KVM, "sh"], line, tmp_path)
