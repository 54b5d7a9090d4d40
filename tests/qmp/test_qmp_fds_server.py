"""Descriptors through the selectors server and the asyncio one in this process:
received with ``recvmsg``, held, kept, put in sets and closed, counted in ``/proc/self/fd``
(the kernel installs the passed descriptors in this very process), and a dump
to one of them; no real QEMU needed (tests/vm/test_vm_fds.py compares with it).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qapigen import simulator_api
from qapigen.machine import Machine, MachineConfig
from qapigen.qmp.fds import MAX_FDS_PER_READ
from qapigen.qmp.selector_server import Loop, SelectorServer
from qapigen.qmp.server import QMPServer
from qapigen.vm.dump_files import DumpFiles

from ..support.qemu import RawQMP


def open_count() -> int:
    return len(os.listdir("/proc/self/fd"))


class Served:
    """A machine behind a server on a unix socket, its loop in a thread:
    the selectors server, or the asyncio one (``adapter``)."""

    def __init__(self, adapter: str = "selectors") -> None:
        self.folder = tempfile.mkdtemp(prefix="qapigen-fds-")
        self.path = os.path.join(self.folder, "qmp.sock")
        self.machine = Machine(MachineConfig(start_paused=True, ram_size=1 << 20))
        self.server: SelectorServer | QMPServer
        if adapter == "selectors":
            self.loop = Loop()
            self.server = SelectorServer(simulator_api, self.machine, self.loop)
            self.machine.defer = self.loop.call_soon
            self.server.listen_unix(self.path)
            self.thread = threading.Thread(target=self.loop.run, daemon=True)
        else:
            self.aio = asyncio.new_event_loop()
            self.server = QMPServer(simulator_api, self.machine)
            self.machine.defer = self._call_soon
            self.aio.run_until_complete(self.server.listen_unix(self.path))
            self.thread = threading.Thread(target=self.aio.run_forever, daemon=True)
        self.machine.subscribe(self.server.broadcast)
        self.machine.dump_files = DumpFiles(self.server.service)
        self.thread.start()

    def _call_soon(self, callback: Callable[[], None]) -> None:
        self.aio.call_soon(callback)

    def connect(self) -> RawQMP:
        conn = RawQMP(self.path)
        assert conn.command(b'{"execute": "qmp_capabilities"}') == b'{"return": {}}\r\n'
        return conn

    def close(self) -> None:
        if isinstance(self.server, SelectorServer):
            self.loop.stop()
            self.thread.join(10)
            self.server.close()
            self.loop.close()
        else:
            self.aio.call_soon_threadsafe(self.aio.stop)
            self.thread.join(10)
            self.aio.run_until_complete(self.server.close())
            self.aio.close()
        os.rmdir(self.folder)


@pytest.fixture(params=["selectors", "asyncio"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    served = Served(str(request.param))
    try:
        yield served
    finally:
        served.close()


def send(conn: RawQMP, text: bytes, count: int, path: Path) -> bytes:
    fds = [os.open(path, os.O_WRONLY | os.O_CREAT, 0o600) for _ in range(count)]
    try:
        conn.send_fds(text, fds)
    finally:
        for fd in fds:
            os.close(fd)
    return conn.line()


OK = b'{"return": {}}\r\n'


def test_descriptors_are_held_kept_and_closed(served: Served, tmp_path: Path) -> None:
    file = tmp_path / "file"
    conn = served.connect()
    start = open_count()
    assert send(conn, b'{"execute": "query-status"}', 3, file).startswith(b'{"return"')
    assert open_count() == start + 3  # held for the next command that takes one
    assert send(conn, b'{"execute": "getfd", "arguments": {"fdname": "x"}}', 0, file) == OK
    assert open_count() == start + 1  # the first kept, the other two closed
    assert send(conn, b'{"execute": "add-fd", "arguments": {"fdset-id": 2}}', 1, file) == (
        b'{"return": {"fd": %d, "fdset-id": 2}}\r\n'
        % served.server.service.fdsets.query()[0]["fds"][0]["fd"]
    )
    assert open_count() == start + 2
    assert send(conn, b'{"execute": "query-status"}', 2, file).startswith(b'{"return"')
    assert open_count() == start + 4
    conn.close()
    # A second client's round trip: the first one's end has been handled, and
    # what it held (not what its monitor keeps) closed.
    second = served.connect()
    assert open_count() == start + 2
    assert send(second, b'{"execute": "closefd", "arguments": {"fdname": "x"}}', 0, file) == OK
    assert send(second, b'{"execute": "remove-fd", "arguments": {"fdset-id": 2}}', 0, file) == OK
    assert open_count() == start
    second.close()


def test_at_most_sixteen_descriptors_a_read(served: Served, tmp_path: Path) -> None:
    """Twenty descriptors in one message: the first sixteen are held (the
    kernel closes the rest, as QEMU's sixteen-slot read leaves them), and a
    claim keeps the first of them and closes the others."""
    file = tmp_path / "file"
    conn = served.connect()
    start = open_count()
    assert send(conn, b'{"execute": "query-status"}', 20, file).startswith(b'{"return"')
    assert open_count() == start + MAX_FDS_PER_READ == start + 16
    assert send(conn, b'{"execute": "getfd", "arguments": {"fdname": "x"}}', 0, file) == OK
    assert open_count() == start + 1
    assert served.server.service.fdsets.query() == []
    assert send(conn, b'{"execute": "closefd", "arguments": {"fdname": "x"}}', 0, file) == OK
    assert open_count() == start
    conn.close()


def test_descriptors_wait_for_the_message_they_came_with(served: Served, tmp_path: Path) -> None:
    """Descriptors sent with the first half of a request are the request's."""
    file = tmp_path / "file"
    conn = served.connect()
    start = open_count()
    fd = os.open(file, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        conn.send_fds(b'{"execute": "getfd", ', [fd])
    finally:
        os.close(fd)
    conn.send(b'"arguments": {"fdname": "y"}}')
    assert conn.line() == OK
    assert open_count() == start + 1
    assert conn.command(b'{"execute": "closefd", "arguments": {"fdname": "y"}}') == OK
    assert open_count() == start
    conn.close()


@pytest.mark.parametrize("adapter", ["selectors", "asyncio"])
def test_closing_the_server_closes_what_it_keeps(adapter: str, tmp_path: Path) -> None:
    file = tmp_path / "file"
    start = open_count()
    served = Served(adapter)
    conn = served.connect()
    assert send(conn, b'{"execute": "getfd", "arguments": {"fdname": "x"}}', 1, file) == OK
    assert send(conn, b'{"execute": "add-fd"}', 1, file).startswith(b'{"return": {"fd"')
    assert send(conn, b'{"execute": "query-status"}', 1, file).startswith(b'{"return"')
    conn.close()
    served.close()
    assert open_count() == start


def test_a_dump_to_a_passed_descriptor(served: Served, tmp_path: Path) -> None:
    core = tmp_path / "core"
    conn = served.connect()
    assert send(conn, b'{"execute": "getfd", "arguments": {"fdname": "dump"}}', 1, core) == OK
    conn.send(
        b'{"execute": "dump-guest-memory", '
        b'"arguments": {"paging": false, "protocol": "fd:dump", "detach": true}}'
    )
    assert conn.line() == OK
    assert b'"event": "DUMP_COMPLETED"' in conn.line()
    total = (1 << 20) + (256 << 10)
    assert conn.command(b'{"execute": "query-dump"}') == (
        b'{"return": {"total": %d, "status": "completed", "completed": %d}}\r\n' % (total, total)
    )
    assert core.read_bytes()[:4] == b"\x7fELF"
    # The descriptor was used up: the name is gone.
    assert conn.command(
        b'{"execute": "dump-guest-memory", "arguments": {"paging": false, "protocol": "fd:dump"}}'
    ) == (
        b'{"error": {"class": "GenericError", '
        b'"desc": "File descriptor named \'dump\' has not been found"}}\r\n'
    )
    conn.close()
