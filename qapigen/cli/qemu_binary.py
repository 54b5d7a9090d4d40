"""Asking a QEMU binary for its ``query-qmp-schema``.

``qapigen generate --from-qemu BINARY`` starts the binary with ``-machine
none -display none -nodefaults`` (or the QEMU options given after ``--``),
its QMP monitor on one end of a socket pair whose other end stays here (no
file, no port, nothing another user could reach), negotiates capabilities,
asks ``query-qmp-schema``, and sends ``quit``.  Each wait is bounded; a
binary that fails to start, exits early or does not answer is reported
with what it printed on standard error, and is never left running.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Sequence
from typing import Any

#: The options a binary starts with when none are given: no machine, no
#: devices, no display (it only has to answer QMP).
DEFAULT_OPTIONS = ("-machine", "none", "-display", "none", "-nodefaults")

# How long QEMU may take to start, answer or exit (seconds).
TIMEOUT = 60.0

_MONITOR_ID = "qapigen-qmp"


class BinaryError(Exception):
    """The binary could not be asked: ``str()`` says why."""


class _Monitor:
    """One QMP session over a connected socket: commands with ids, events skipped."""

    def __init__(self, sock: socket.socket, binary: str) -> None:
        self.file = sock.makefile("rwb")
        self.binary = binary
        self.next_id = 0

    def read(self) -> Any:
        line = self.file.readline()
        if not line:
            raise BinaryError(f"{self.binary} closed its QMP monitor")
        try:
            return json.loads(line)
        except json.JSONDecodeError as err:
            raise BinaryError(f"{self.binary} sent something that is not JSON: {err}") from None

    def execute(self, command: str) -> Any:
        self.next_id += 1
        request = {"execute": command, "id": self.next_id}
        self.file.write(json.dumps(request).encode() + b"\n")
        self.file.flush()
        while True:
            message = self.read()
            if not isinstance(message, dict) or message.get("id") != self.next_id:
                continue  # an event
            if "error" in message:
                desc = message["error"].get("desc", message["error"])
                raise BinaryError(f"{self.binary}: {command} failed: {desc}")
            return message.get("return")


class QemuIntrospection:
    """A binary started to be asked for its ``query-qmp-schema``.

    It starts at once (so that it comes up while the caller does other
    work); :meth:`reply` asks and tells it to quit; :meth:`close` ends it
    if the caller gives up before.
    """

    def __init__(self, binary: str, options: Sequence[str] | None = None) -> None:
        self.binary = binary
        ours, theirs = socket.socketpair()
        args = [binary, *(DEFAULT_OPTIONS if options is None else options)]
        args += ["-chardev", f"socket,id={_MONITOR_ID},fd={theirs.fileno()}"]
        args += ["-mon", f"chardev={_MONITOR_ID},mode=control"]
        try:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=[theirs.fileno()],
            )
        except OSError as err:
            ours.close()
            raise BinaryError(f"cannot start {binary}: {err.strerror}") from None
        finally:
            theirs.close()
        ours.settimeout(TIMEOUT)
        self.sock = ours
        self.monitor = _Monitor(ours, binary)

    def reply(self) -> list[dict[str, Any]]:
        """The binary's ``query-qmp-schema`` reply; the binary is gone after."""
        binary, monitor = self.binary, self.monitor
        try:
            greeting = monitor.read()
            if not (isinstance(greeting, dict) and "QMP" in greeting):
                raise BinaryError(f"{binary} did not greet as a QMP server does")
            monitor.execute("qmp_capabilities")
            reply = monitor.execute("query-qmp-schema")
            monitor.execute("quit")
        except TimeoutError:
            self.proc.kill()
            raise BinaryError(f"{binary} did not answer within {TIMEOUT:g} s") from None
        except BinaryError as err:
            raise BinaryError(_with_stderr(str(err), self.proc)) from None
        finally:
            self.monitor.file.close()
            self.sock.close()
            _reap(self.proc)
        if not isinstance(reply, list):
            raise BinaryError(f"{binary}: query-qmp-schema did not return an array")
        return reply

    def close(self) -> None:
        """End the binary if :meth:`reply` did not."""
        if self.proc.returncode is None:
            self.monitor.file.close()
            self.sock.close()
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _with_stderr(message: str, proc: subprocess.Popen[bytes]) -> str:
    """``message``, with how the binary exited and what it printed."""
    _reap(proc)
    assert proc.stderr is not None
    text = proc.stderr.read().decode(errors="replace").strip()
    return f"{message} (exit status {proc.returncode})" + (f":\n{text}" if text else "")


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the binary to exit (it was told to quit, or is leaving); kill
    it if it does not."""
    if proc.returncode is not None:
        return
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
