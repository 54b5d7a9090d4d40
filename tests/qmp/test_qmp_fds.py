"""Descriptors passed with QMP messages: held by the sans-IO connection as QEMU's
socket character device holds them, kept by name per monitor and in sets per
server (qapigen.qmp.protocol, qapigen.qmp.fds).

The rules come from QEMU 10.0's chardev/char-socket.c and monitor/fds.c and
were checked on QEMU 10.0.2 (tests/vm/test_vm_fds.py replays them side by
side); here they are held without sockets: descriptors are plain numbers and
closing one is recorded.
"""

from __future__ import annotations

import json

import pytest

from qapigen import simulator_api
from qapigen.qmp.fds import FdSets, MonitorCommands, NamedFds
from qapigen.qmp.protocol import Request, ServerConnection
from qapigen.runtime import QMPError

VERSION = {"major": 10, "minor": 0, "micro": 2}


def connection() -> ServerConnection:
    conn = ServerConnection(VERSION, "", commands=simulator_api.COMMANDS)
    conn.receive_data(b'{"execute": "qmp_capabilities"}')
    conn.data_to_send()
    return conn


def request(conn: ServerConnection, text: str, fds: tuple[int, ...] = ()) -> Request:
    (item,) = conn.receive_data(text.encode(), fds)
    assert isinstance(item, Request)
    return item


class Closed:
    """A ``close`` that records what it closes, refusing to close twice."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def __call__(self, fd: int) -> None:
        assert fd not in self.fds, f"{fd} closed twice"
        self.fds.append(fd)


def test_descriptors_wait_for_the_command_that_takes_one() -> None:
    conn = connection()
    request(conn, '{"execute": "query-status"}', (7, 8))
    assert conn.held_fds == (7, 8)
    # A later command without descriptors still finds them (QEMU 10.0.2 too).
    request(conn, '{"execute": "getfd", "arguments": {"fdname": "x"}}')
    assert conn.take_fd() == 7
    assert conn.discarded_fds() == [8]  # the others of that read go
    assert conn.take_fd() is None
    assert conn.discarded_fds() == []


def test_new_descriptors_let_the_held_ones_go() -> None:
    conn = connection()
    conn.receive_data(b'{"execute": "query-status"}', [3, 4])
    conn.receive_data(b'{"execute": "query-status"}', [5])
    assert conn.discarded_fds() == [3, 4]
    assert conn.held_fds == (5,)
    # A read without descriptors changes nothing.
    conn.receive_data(b'{"execute": "query-status"}')
    assert conn.held_fds == (5,)
    assert conn.release_fds() == [5]
    assert not conn.held_fds


def test_descriptors_with_a_partial_message_are_held_for_it() -> None:
    conn = connection()
    assert conn.receive_data(b'{"execute": "getfd", ', [9]) == []
    (item,) = conn.receive_data(b'"arguments": {"fdname": "a"}}')
    assert isinstance(item, Request) and item.name == "getfd"
    assert conn.take_fd() == 9


def test_release_gives_back_held_and_discarded() -> None:
    conn = connection()
    conn.receive_data(b"{}", [1, 2])
    conn.receive_data(b"{}", [3])
    assert sorted(conn.release_fds()) == [1, 2, 3]
    assert conn.release_fds() == []


def test_named_descriptor_replaced_closes_the_old_one() -> None:
    closed = Closed()
    named = NamedFds(closed)
    named.keep("dump", 10)
    named.keep("dump", 11)
    assert closed.fds == [10]
    assert named.take("dump") == 11
    assert closed.fds == [10]  # taken, not closed: the taker closes it
    with pytest.raises(QMPError, match=r"^File descriptor named 'dump' has not been found$"):
        named.take("dump")


def test_names_starting_with_a_digit_are_refused_and_closed() -> None:
    closed = Closed()
    named = NamedFds(closed)
    with pytest.raises(QMPError) as info:
        named.keep("1x", 12)
    assert info.value.desc == "Parameter 'fdname' expects a name not starting with a digit"
    assert closed.fds == [12]
    # Only ASCII digits count, and the empty name is a name.
    named.keep("\u0661", 13)
    named.keep("", 14)
    assert sorted(named.names()) == ["", "\u0661"]


def test_closefd_closes_and_forgets() -> None:
    closed = Closed()
    named = NamedFds(closed)
    named.keep("a", 20)
    named.close("a")
    assert closed.fds == [20]
    with pytest.raises(QMPError, match=r"^File descriptor named 'a' not found$"):
        named.close("a")


def test_fdsets_number_and_order_as_qemu() -> None:
    closed = Closed()
    sets = FdSets(closed)
    assert sets.add(30, None, None) == (0, 30)
    assert sets.add(31, None, "hello") == (1, 31)
    assert sets.add(32, 5, None) == (5, 32)
    assert sets.add(33, 5, "b") == (5, 33)
    assert sets.add(34, None, None) == (2, 34)  # the lowest free number
    # Highest set first; within a set, oldest first (QEMU 10.0.2's reply).
    assert sets.query() == [
        {"fdset-id": 5, "fds": [{"fd": 32}, {"fd": 33, "opaque": "b"}]},
        {"fdset-id": 2, "fds": [{"fd": 34}]},
        {"fdset-id": 1, "fds": [{"fd": 31, "opaque": "hello"}]},
        {"fdset-id": 0, "fds": [{"fd": 30}]},
    ]
    sets.remove(5, 32)
    assert closed.fds == [32]
    sets.remove(0, None)
    assert closed.fds == [32, 30]
    assert sets.add(35, None, None) == (0, 35)  # set 0 went with its last descriptor
    sets.close_all()
    assert sorted(closed.fds) == [30, 31, 32, 33, 34, 35]
    assert sets.query() == []


def test_fdset_errors_are_qemus() -> None:
    closed = Closed()
    sets = FdSets(closed)
    with pytest.raises(QMPError) as info:
        sets.add(40, -1, None)
    assert info.value.desc == "Parameter 'fdset-id' expects a non-negative value"
    assert closed.fds == [40]
    sets.add(41, 5, None)
    for fdset_id, fd, text in (
        (9, None, "File descriptor named 'fdset-id:9' not found"),
        (5, 999, "File descriptor named 'fdset-id:5, fd:999' not found"),
        (9, 41, "File descriptor named 'fdset-id:9, fd:41' not found"),
    ):
        with pytest.raises(QMPError) as info:
            sets.remove(fdset_id, fd)
        assert info.value.desc == text
    assert closed.fds == [40]


def run(commands: MonitorCommands, conn: ServerConnection, named: NamedFds, text: str) -> object:
    message = json.loads(text)
    return commands.run(message["execute"], message.get("arguments", {}), conn, named)


def test_monitor_commands_check_arguments_before_claiming_the_descriptor() -> None:
    closed = Closed()
    commands = MonitorCommands(simulator_api, FdSets(closed))
    named = NamedFds(closed)
    conn = connection()
    conn.receive_data(b"{}", [50])
    for text, desc in (
        (
            '{"execute": "getfd", "arguments": {"fdname": "a", "x": 1}}',
            "Parameter 'x' is unexpected",
        ),
        ('{"execute": "getfd"}', "Parameter 'fdname' is missing"),
        (
            '{"execute": "add-fd", "arguments": {"fdset-id": "x"}}',
            "Invalid parameter type for 'fdset-id', expected: integer",
        ),
        ('{"execute": "query-fdsets", "arguments": {"a": 1}}', "Parameter 'a' is unexpected"),
    ):
        with pytest.raises(QMPError) as info:
            run(commands, conn, named, text)
        assert info.value.desc == desc
    assert conn.held_fds == (50,)
    assert run(commands, conn, named, '{"execute": "add-fd", "arguments": {"opaque": "o"}}') == {
        "fdset-id": 0,
        "fd": 50,
    }
    with pytest.raises(QMPError, match=r"^No file descriptor supplied via SCM_RIGHTS$"):
        run(commands, conn, named, '{"execute": "getfd", "arguments": {"fdname": "b"}}')
    assert run(commands, conn, named, '{"execute": "query-fdsets"}') == [
        {"fdset-id": 0, "fds": [{"fd": 50, "opaque": "o"}]}
    ]
    assert closed.fds == []
