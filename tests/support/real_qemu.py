"""Real QEMU for the tests: whether it is here, and QMP transcripts recorded from it.

Not a test module.  The recorder is the tests' own (a socket pair and JSON
lines), so that what it records does not depend on the code under test.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

QEMU = shutil.which("qemu-system-x86_64")

# Each wait on QEMU is bounded (seconds).
TIMEOUT = 60


def qemu_version() -> tuple[int, int]:
    if QEMU is None:
        return (0, 0)
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    major, minor = out.split("version ", 1)[1].split(".")[:2]
    return int(major), int(minor)


def need_qemu_10() -> str:
    """The path of qemu-system-x86_64 10.0, or skip."""
    if QEMU is None or qemu_version() < (10, 0):
        pytest.skip("needs qemu-system-x86_64 10.0 (bookworm-backports; .ci/run installs it)")
    return QEMU


class Session:
    """One QMP session with a QEMU it started, recording every message.

    ``lines`` is the transcript as QEMU's documentation writes one: ``->``
    and what was sent, ``<-`` and each line QEMU sent, as it sent it.
    """

    def __init__(self, options: Sequence[str]) -> None:
        qemu = need_qemu_10()
        ours, theirs = socket.socketpair()
        args = [qemu, *options, "-chardev", f"socket,id=mon0,fd={theirs.fileno()}"]
        args += ["-mon", "chardev=mon0,mode=control"]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        ours.settimeout(TIMEOUT)
        self.sock = ours
        self.file = ours.makefile("rwb")
        self.lines: list[str] = []
        self.next_id = 0
        self.receive()  # the greeting

    def receive(self) -> dict[str, Any]:
        raw = self.file.readline()
        if not raw:
            self.close()
            assert self.proc.stderr is not None
            raise RuntimeError(f"QEMU closed QMP: {self.proc.stderr.read()!r}")
        line = raw.decode().rstrip("\r\n")
        self.lines.append(f"<- {line}")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send ``command``; its reply (events before it are recorded too)."""
        self.next_id += 1
        request: dict[str, Any] = {"execute": command, "id": self.next_id}
        if arguments is not None:
            request["arguments"] = arguments
        text = json.dumps(request)
        self.lines.append(f"-> {text}")
        self.file.write(text.encode() + b"\n")
        self.file.flush()
        while True:
            message = self.receive()
            if message.get("id") == self.next_id:
                return message

    def close(self) -> None:
        self.file.close()
        self.sock.close()
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def disk_image(folder: Path) -> Path:
    """A 1 MiB raw disk image, all zeros."""
    path = folder / "disk.raw"
    path.write_bytes(bytes(1 << 20))
    return path
