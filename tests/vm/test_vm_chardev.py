"""``qapigen vm`` with its monitor on a passed-down socket: ``-chardev socket,id=ID,fd=N``
with ``-mon chardev=ID,mode=control``, as QEMU's own harness (``QEMUMachine``) starts QEMU.

The command-line errors are compared with real QEMU 10.0's, message for message.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator

import pytest

from ..support.emulators import QEMU, QEMU_NONE, TIMEOUT, VM, needs_qemu, qemu_on_socketpair


def _lines(sock: socket.socket) -> Iterator[bytes]:
    """The lines that arrive on ``sock`` until it closes (bounded by the timeout)."""
    sock.settimeout(TIMEOUT)
    pending = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # the peer left unread input behind: after the data
            chunk = b""
        if not chunk:
            return
        pending += chunk
        *lines, pending = pending.split(b"\r\n")
        yield from lines


def _session(program: tuple[str, ...]) -> tuple[list[bytes], int]:
    """What ``program`` says over a socket-pair monitor to a short session, and its exit status.

    The greeting's ``package`` and the events' timestamps are masked.
    """
    with qemu_on_socketpair("-S", *QEMU_NONE, program=program) as (proc, sock):
        lines = _lines(sock)
        said = [re.sub(rb', "package": "[^"]*"', b"", next(lines))]
        for request in (
            b'{"execute": "qmp_capabilities"}',
            b'{"execute": "query-status", "id": 1}',
            b'{"execute": "cont"}',
        ):
            sock.sendall(request + b"\n")
            said += [next(lines)]
        sock.sendall(b'{"execute": "quit"}\n')
        said += list(lines)
        return [re.sub(rb'"timestamp": \{[^}]*\}', b"TIMESTAMP", line) for line in said], proc.wait(
            TIMEOUT
        )


def test_a_monitor_on_a_socket_pair() -> None:
    """The greeting, commands and events go over the passed-down socket; quit ends the
    program with status 0 and closes the socket."""
    said, status = _session(VM)
    assert said == [
        b'{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}}, '
        b'"capabilities": ["oob"]}}',
        b'{"return": {}}',
        b'{"return": {"status": "prelaunch", "running": false}, "id": 1}',
        b'{TIMESTAMP, "event": "RESUME"}',
        b'{"return": {}}',
        b'{TIMESTAMP, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}',
        b'{"return": {}}',
    ]
    assert status == 0


@needs_qemu
def test_a_socket_pair_session_is_qemus() -> None:
    """QEMU 10.0.2 says the same, byte for byte (but the greeting's package and timestamps)."""
    assert QEMU is not None
    assert _session(VM) == _session((QEMU,))


# Each with a socket pair's end as descriptor {fd}.
BAD_COMMAND_LINES = [
    "-chardev socket,fd={fd}",
    "-chardev socket,id=1m,fd={fd}",
    "-chardev bogus,id=m",
    "-chardev socket,id=m,fd=abc",
    "-chardev socket,id=m,fd={fd},bogus=1",
    "-chardev socket,id=m,fd={fd} -chardev socket,id=m,fd={fd}",
    "-chardev socket,id=m,fd=99 -mon chardev=m,mode=control",
    "-mon chardev=nope,mode=control",
    "-mon mode=control",
    "-chardev socket,id=m,fd={fd} -mon chardev=m,mode=bogus",
    "-chardev socket,id=m,fd={fd} -mon chardev=m,mode=control,bogus=1",
    "-chardev socket,id=m,fd={fd} -mon chardev=m,mode=control -mon chardev=m,mode=control",
]


def _run(program: list[str], template: str) -> tuple[int, str]:
    """Exit status and the message (after the program's name) for a bad command line."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        args = template.format(fd=theirs.fileno()).split()
        proc = subprocess.run(
            [*program, *args],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    return proc.returncode, proc.stderr.split(": ", 1)[1]


@needs_qemu
@pytest.mark.parametrize("template", BAD_COMMAND_LINES)
def test_bad_monitor_options_get_qemus_message(template: str) -> None:
    """Exit status 1 and QEMU's message, word for word (QEMU 10.0.2 run beside it)."""
    assert QEMU is not None
    qemu = _run([QEMU, *QEMU_NONE], template)
    ours = _run(list(VM), template)
    assert ours == qemu
    assert ours[0] == 1


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("-chardev null,id=m", "only socket and stdio chardevs are simulated"),
        ("-chardev socket,id=m,path=/nowhere,telnet=on", "'telnet' is not simulated"),
        ("-chardev socket,id=m,fd={fd},reconnect-ms=100", "'reconnect-ms' is not simulated"),
        ("-chardev socket,id=m,fd={fd} -mon chardev=m", "only mode=control monitors (QMP)"),
        ("-chardev socket,id=m,fd={fd} -mon chardev=m,mode=control,pretty=on", "pretty=on is not"),
    ],
)
def test_what_is_not_simulated_is_refused(template: str, message: str) -> None:
    """What the simulator cannot honour is refused, saying so, never ignored."""
    status, said = _run(list(VM), template)
    assert status == 1
    assert message in said
