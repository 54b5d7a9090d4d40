"""dump-guest-memory through ``qapigen vm``, side by side with real QEMU 10.0.2 on
the same command line: libvirt's way (a descriptor passed with ``getfd``, then a
detached dump, then DUMP_COMPLETED), a running guest's STOP and RESUME around it,
QEMU's errors, and the file: the same size, the same headers and notes byte for
byte (the memory differs: QEMU's holds its firmware)."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..support.qemu import QMPProcess, RawQMP, normalized, pair

PC_PAUSED = ("-machine", "pc", "-m", "64", "-S")
PC_RUNNING = ("-machine", "pc", "-m", "16")


def negotiated(program: QMPProcess) -> RawQMP:
    conn = program.connect()
    conn.command(b'{"execute": "qmp_capabilities"}')
    return conn


def until_reply(conn: RawQMP) -> list[bytes]:
    """Lines up to the reply (events before it included), normalised."""
    lines = []
    while True:
        line = conn.line()
        lines.append(normalized(line))
        if line.startswith((b'{"return"', b'{"error"')):
            return lines


def pass_fd(conn: RawQMP, path: Path, name: bytes = b"dump") -> bytes:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        conn.send_fds(b'{"execute": "getfd", "arguments": {"fdname": "%s"}}' % name, [fd])
    finally:
        os.close(fd)
    return conn.line()


def memory_offset(core: bytes) -> int:
    """Where the guest's memory starts: the first PT_LOAD's offset."""
    phoff, phnum = struct.unpack_from("<Q", core, 32)[0], struct.unpack_from("<H", core, 56)[0]
    loads = [struct.unpack_from("<IIQ", core, phoff + 56 * i) for i in range(phnum)]
    return min(int(offset) for kind, _, offset in loads if kind == 1)


@pytest.fixture
def paused() -> Iterator[tuple[QMPProcess, QMPProcess]]:
    yield from pair(PC_PAUSED)


@pytest.fixture
def running() -> Iterator[tuple[QMPProcess, QMPProcess]]:
    yield from pair(PC_RUNNING)


def test_libvirts_detached_dump_as_qemu(
    paused: tuple[QMPProcess, QMPProcess], tmp_path: Path
) -> None:
    seen = {}
    cores = {}
    for program in paused:
        conn = negotiated(program)
        path = tmp_path / f"{program.name}.core"
        assert pass_fd(conn, path) == b'{"return": {}}\r\n'
        conn.send(
            b'{"execute": "dump-guest-memory", '
            b'"arguments": {"paging": false, "protocol": "fd:dump", "detach": true}}'
        )
        lines = [normalized(line) for line in conn.until(b"DUMP_COMPLETED")]
        conn.send(b'{"execute": "query-dump"}')
        lines += until_reply(conn)
        seen[program.name] = lines
        conn.close()
        cores[program.name] = path.read_bytes()
    assert seen["qapigen"] == seen["qemu"]
    assert seen["qapigen"][0] == b'{"return": {}}\r\n'  # the reply first, then the event
    ours, qemu = cores["qapigen"], cores["qemu"]
    assert len(ours) == len(qemu)
    start = memory_offset(qemu)
    assert memory_offset(ours) == start
    assert ours[:start] == qemu[:start]  # headers and notes
    assert ours[-11:] == qemu[-11:]  # the section names


def test_a_dump_has_the_notes_of_every_vcpu_as_qemu_writes_them(tmp_path: Path) -> None:
    """With ``-smp 3`` the core holds three processors' notes, headers and all as QEMU's."""
    cores = {}
    with contextmanager(pair)((*PC_PAUSED, "-smp", "3")) as programs:
        for program in programs:
            conn = negotiated(program)
            path = tmp_path / f"{program.name}.core"
            pass_fd(conn, path)
            conn.send(
                b'{"execute": "dump-guest-memory", '
                b'"arguments": {"paging": false, "protocol": "fd:dump"}}'
            )
            assert until_reply(conn)[-1] == b'{"return": {}}\r\n'
            conn.close()
            cores[program.name] = path.read_bytes()
    ours, qemu = cores["qapigen"], cores["qemu"]
    start = memory_offset(qemu)
    assert memory_offset(ours) == start
    assert ours[:start] == qemu[:start]
    assert ours.count(b"CORE\0") == 3  # one PRSTATUS note per vCPU


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_readelf_reads_both_dumps_alike(
    paused: tuple[QMPProcess, QMPProcess], tmp_path: Path
) -> None:
    outputs = {}
    for program in paused:
        conn = negotiated(program)
        path = tmp_path / f"{program.name}.core"
        pass_fd(conn, path)
        conn.send(
            b'{"execute": "dump-guest-memory", '
            b'"arguments": {"paging": false, "protocol": "fd:dump"}}'
        )
        until_reply(conn)
        conn.close()
        out = subprocess.run(
            ["readelf", "-h", "-l", "-S", str(path)], capture_output=True, text=True, check=True
        )
        outputs[program.name] = out.stdout.replace(str(path), "CORE")
    assert outputs["qapigen"] == outputs["qemu"]
    assert "Intel 80386" in outputs["qapigen"]


DUMP = b'{"execute": "dump-guest-memory", "arguments": {"paging": false, %s}}'
ERRORS = [
    DUMP % b'"protocol": "bad"',
    DUMP % b'"protocol": "fd:nothing"',
    DUMP % b'"protocol": "fd:dump", "begin": 4096',
    DUMP % b'"protocol": "fd:dump", "length": 4096',
    DUMP % b'"protocol": "fd:dump", "format": "kdump-zlib", "begin": 0, "length": 1',
    b'{"execute": "dump-guest-memory", "arguments": {"paging": true, "protocol": "fd:dump", '
    b'"format": "kdump-snappy"}}',
    DUMP % b'"protocol": "fd:dump", "begin": 0, "length": 0',
    DUMP % b'"protocol": "fd:dump", "begin": 134217728, "length": 10',
    DUMP % b'"protocol": "fd:dump", "format": "win-dmp"',
    DUMP % b'"protocol": "file:/nonexistent-folder/core"',
    DUMP % b'"protocol": "file:/"',
    DUMP % b'"protocol": "fd:dump", "detach": true, "begin": 1048576, "length": 8192',
    b'{"execute": "query-dump"}',
    DUMP % b'"protocol": "fd:dump", "format": "elf"',
    b'{"execute": "query-dump"}',
    b'{"execute": "query-status"}',
]


def test_running_guest_errors_and_events_as_qemu(
    running: tuple[QMPProcess, QMPProcess], tmp_path: Path
) -> None:
    seen: dict[str, list[list[bytes]]] = {}
    for program in running:
        conn = negotiated(program)
        replies = []
        for number, request in enumerate(ERRORS):
            # A fresh descriptor as "dump" for each request: a failed dump uses it up.
            pass_fd(conn, tmp_path / f"{program.name}-{number}.core")
            conn.send(request)
            lines = until_reply(conn)
            if b'"detach": true' in request:
                if not any(b'"RESUME"' in line for line in lines):
                    lines += [normalized(line) for line in conn.until(b"RESUME")]
                lines = _reply_before_completion(lines)
            replies.append(lines)
        seen[program.name] = replies
        conn.close()
    for request, qemu, ours in zip(ERRORS, seen["qemu"], seen["qapigen"], strict=True):
        assert ours == qemu, request


def _reply_before_completion(lines: list[bytes]) -> list[bytes]:
    """A detached dump's lines with its reply before ``DUMP_COMPLETED`` and ``RESUME``:
    QEMU's dump thread races the reply (a loaded host sees the events first); the
    simulator's reply comes first."""
    done = [n for n, line in enumerate(lines) if b'"DUMP_COMPLETED"' in line or b'"RESUME"' in line]
    reply = [n for n, line in enumerate(lines) if line.startswith((b'{"return"', b'{"error"'))]
    if done and reply and done[0] < reply[0]:
        lines = list(lines)
        lines.insert(done[0], lines.pop(reply[0]))
    return lines


def test_file_dumps_are_created_as_qemu_creates_them(
    paused: tuple[QMPProcess, QMPProcess], tmp_path: Path
) -> None:
    modes = {}
    for program in paused:
        conn = negotiated(program)
        new = tmp_path / f"{program.name}-new.core"
        old = tmp_path / f"{program.name}-old.core"
        old.write_bytes(b"x" * 10_000_000)
        for path in (new, old):
            request = DUMP % (b'"protocol": "file:%s", "begin": 0, "length": 4096' % bytes(path))
            conn.send(request)
            assert until_reply(conn)[-1] == b'{"return": {}}\r\n'
        conn.close()
        modes[program.name] = (
            stat.S_IMODE(new.stat().st_mode),
            new.stat().st_size,
            old.stat().st_size,
        )
    assert modes["qapigen"] == modes["qemu"]
    assert modes["qapigen"][0] == 0o400 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_file_dumps_never_follow_a_symbolic_link(
    paused: tuple[QMPProcess, QMPProcess], tmp_path: Path
) -> None:
    # Where qapigen differs from QEMU on purpose (docs/behaviour.md): QEMU
    # follows the link and creates or truncates what it points to.
    ours = paused[1]
    conn = negotiated(ours)
    target = tmp_path / "target"
    link = tmp_path / "link"
    link.symlink_to(target)
    conn.send(DUMP % (b'"protocol": "file:%s"' % bytes(link)))
    assert until_reply(conn) == [
        b'{"error": {"class": "GenericError", "desc": "Could not create \''
        + bytes(link)
        + b"': Too many levels of symbolic links\"}}\r\n"
    ]
    assert not target.exists()
    # Nor write into a FIFO (without a reader: the open fails, nothing waits),
    # a device, or another user's file.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    others = tmp_path / "others"
    others.write_bytes(b"theirs")
    if os.geteuid() == 0:
        os.chown(others, 65534, 65534)
    refusals = [
        (fifo, b"No such device or address"),
        (Path("/dev/null"), b"not a regular file"),
    ]
    if os.geteuid() == 0:
        refusals.append((others, b"the file belongs to another user (uid 65534)"))
    for path, reason in refusals:
        conn.send(DUMP % (b'"protocol": "file:%s"' % bytes(path)))
        assert until_reply(conn) == [
            b'{"error": {"class": "GenericError", "desc": "Could not create \''
            + bytes(path)
            + b"': "
            + reason
            + b'"}}\r\n'
        ]
    assert others.read_bytes() == b"theirs"
    conn.close()


def test_a_descriptor_that_appends_gets_the_dump_after_what_it_holds(
    paused: tuple[QMPProcess, QMPProcess], tmp_path: Path
) -> None:
    files = {}
    for program in paused:
        conn = negotiated(program)
        path = tmp_path / f"{program.name}.core"
        path.write_bytes(b"kept before the dump")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            conn.send_fds(b'{"execute": "getfd", "arguments": {"fdname": "dump"}}', [fd])
        finally:
            os.close(fd)
        assert conn.line() == b'{"return": {}}\r\n'
        # Low RAM, which holds nothing yet in either (QEMU's firmware is elsewhere).
        conn.send(DUMP % b'"protocol": "fd:dump", "begin": 4096, "length": 65536')
        assert until_reply(conn)[-1] == b'{"return": {}}\r\n'
        conn.close()
        files[program.name] = path.read_bytes()
    assert files["qapigen"] == files["qemu"]
    assert files["qapigen"].startswith(b"kept before the dump\x7fELF")
