"""File descriptors passed to ``qapigen vm``'s unix monitors (SCM_RIGHTS), side by
side with real QEMU 10.0.2: getfd, closefd, add-fd, remove-fd, query-fdsets give
the same replies, and both processes hold the same number of descriptors after
every step (nothing unclaimed is leaked)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.qemu import VM, QMPProcess, RawQMP, normalized, pair, skip_without_qemu

# (request, how many descriptors come with it)
SCRIPT: list[tuple[bytes, int]] = [
    (b'{"execute": "getfd", "arguments": {"fdname": "dump"}}', 0),
    (b'{"execute": "getfd", "arguments": {"fdname": "1x"}}', 1),
    (b'{"execute": "getfd", "arguments": {"fdname": ""}}', 1),
    (b'{"execute": "closefd", "arguments": {"fdname": ""}}', 0),
    (b'{"execute": "closefd", "arguments": {"fdname": "x"}}', 0),
    # Held by a command that takes none, for the next one that takes one.
    (b'{"execute": "query-status"}', 2),
    (b'{"execute": "getfd", "arguments": {"fdname": "late"}}', 0),
    (b'{"execute": "getfd", "arguments": {"fdname": "late"}}', 0),
    # Replacing a name closes the descriptor it had.
    (b'{"execute": "getfd", "arguments": {"fdname": "late"}}', 1),
    (b'{"execute": "closefd", "arguments": {"fdname": "late"}}', 0),
    # Newer descriptors replace the held ones.
    (b'{"execute": "query-status"}', 3),
    (b'{"execute": "query-status"}', 1),
    (b'{"execute": "getfd", "arguments": {"fdname": "a", "x": 1}}', 0),
    (b'{"execute": "getfd", "arguments": {"fdname": "a"}}', 0),
    (b'{"execute": "add-fd"}', 1),
    (b'{"execute": "add-fd", "arguments": {"opaque": "hello"}}', 1),
    (b'{"execute": "add-fd", "arguments": {"fdset-id": 5}}', 1),
    (b'{"execute": "add-fd", "arguments": {"fdset-id": 5, "opaque": "b"}}', 1),
    (b'{"execute": "add-fd", "arguments": {"fdset-id": -1}}', 1),
    (b'{"execute": "add-fd", "arguments": {"fdset-id": 3}}', 0),
    (b'{"execute": "add-fd", "arguments": {"fdset-id": "x"}}', 1),
    (b'{"execute": "add-fd", "arguments": {"fdset-id": 3}}', 0),
    (b'{"execute": "query-fdsets"}', 0),
    (b'{"execute": "remove-fd", "arguments": {"fdset-id": 9}}', 0),
    (b'{"execute": "remove-fd", "arguments": {"fdset-id": 5, "fd": 999}}', 0),
    (b'{"execute": "remove-fd", "arguments": {"fdset-id": 0}}', 0),
    (b'{"execute": "remove-fd", "arguments": {"fdset-id": 3}}', 0),
    (b'{"execute": "query-fdsets"}', 0),
    (b'{"execute": "add-fd"}', 1),
    (b'{"execute": "query-fdsets"}', 0),
]

_FD_NUMBER = re.compile(rb'"fd": \d+')


@pytest.fixture
def programs() -> Iterator[tuple[QMPProcess, QMPProcess]]:
    yield from pair()


def open_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Files:
    """Descriptors to pass: a private file opened anew each time."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="qapigen-fds-")
        self.path = os.path.join(self.folder, "file")

    def open(self, count: int) -> list[int]:
        return [os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600) for _ in range(count)]

    def close(self) -> None:
        os.unlink(self.path)
        os.rmdir(self.folder)


def play(conn: RawQMP, pid: int, files: Files) -> list[tuple[bytes, int]]:
    """Each reply, fd numbers hidden, and how many descriptors the process gained."""
    conn.command(b'{"execute": "qmp_capabilities"}')
    start = open_count(pid)
    seen = []
    numbers: dict[int, bytes] = {}
    for text, count in SCRIPT:
        fds = files.open(count)
        try:
            conn.send_fds(text, fds) if fds else conn.send(text)
            reply = conn.line()
        finally:
            for fd in fds:
                os.close(fd)
        for match in _FD_NUMBER.finditer(reply):
            numbers.setdefault(int(match.group()[6:]), b"%d" % len(numbers))
        shown = _FD_NUMBER.sub(lambda m: b'"fd": <' + numbers[int(m.group()[6:])] + b">", reply)
        seen.append((normalized(shown), open_count(pid) - start))
    return seen


def test_descriptor_commands_answer_and_hold_as_qemu(
    programs: tuple[QMPProcess, QMPProcess],
) -> None:
    files = Files()
    try:
        results = {}
        for program in programs:
            conn = program.connect()
            try:
                results[program.name] = play(conn, program.proc.pid, files)
            finally:
                conn.close()
    finally:
        files.close()
    for step, (qemu, ours) in enumerate(zip(results["qemu"], results["qapigen"], strict=True)):
        assert ours == qemu, f"step {step}: {SCRIPT[step][0]!r}"
    # The script ends holding: "a", sets 1 and 5 (3 descriptors), a new set 0.
    assert results["qapigen"][-1][1] == 5


def test_unclaimed_descriptors_are_closed_when_the_client_goes(
    programs: tuple[QMPProcess, QMPProcess],
) -> None:
    files = Files()
    try:
        gained = {}
        for program in programs:
            pid = program.proc.pid
            conn = program.connect()
            conn.command(b'{"execute": "qmp_capabilities"}')
            start = open_count(pid)
            fds = files.open(4)
            conn.send_fds(b'{"execute": "query-status"}', fds)
            conn.line()
            for fd in fds:
                os.close(fd)
            held = open_count(pid) - start
            conn.close()
            # A second client's round trip: the first one's end has been handled.
            second = program.connect()
            second.command(b'{"execute": "qmp_capabilities"}')
            gained[program.name] = (held, open_count(pid) - start)
            second.close()
    finally:
        files.close()
    assert gained["qapigen"] == gained["qemu"]
    # Four held; then only the second client's socket, in place of the first's.
    assert gained["qapigen"] == (4, 0)


def test_names_belong_to_the_monitor_and_outlive_its_client(tmp_path: Path) -> None:
    qemu = skip_without_qemu()
    files = Files()
    replies: dict[str, list[bytes]] = {}
    try:
        for program in ((qemu,), VM):
            second = tmp_path / f"{len(replies)}.sock"
            process = QMPProcess(program, ("-qmp", f"unix:{second},server=on,wait=off"))
            try:
                first = process.connect()
                first.command(b'{"execute": "qmp_capabilities"}')
                (fd,) = files.open(1)
                first.send_fds(b'{"execute": "getfd", "arguments": {"fdname": "mine"}}', [fd])
                os.close(fd)
                seen = [first.line()]
                other = RawQMP(str(second))
                other.command(b'{"execute": "qmp_capabilities"}')
                seen.append(
                    other.command(b'{"execute": "closefd", "arguments": {"fdname": "mine"}}')
                )
                other.close()
                first.close()
                again = process.connect()
                again.command(b'{"execute": "qmp_capabilities"}')
                seen.append(
                    again.command(b'{"execute": "closefd", "arguments": {"fdname": "mine"}}')
                )
                again.close()
                replies[process.name] = seen
            finally:
                process.close()
    finally:
        files.close()
    assert replies["qapigen"] == replies["qemu"]
    assert replies["qapigen"] == [
        b'{"return": {}}\r\n',
        b'{"error": {"class": "GenericError", '
        b'"desc": "File descriptor named \'mine\' not found"}}\r\n',
        b'{"return": {}}\r\n',
    ]
