"""File descriptors clients pass to the monitors, as QEMU 10.0 keeps them.

A descriptor comes with a client's bytes (SCM_RIGHTS, on unix sockets:
:func:`recv_with_fds`, which both transport adapters read with; see
:mod:`.protocol` for which command gets it) and a command claims it:

- ``getfd`` keeps it under a name, in a table that belongs to the monitor
  (:class:`NamedFds`: one per listening socket, shared by the clients it
  accepts, as a QEMU monitor's table outlives its client's connection);
  ``closefd`` closes it; ``dump-guest-memory``'s ``fd:NAME`` takes it
  (:meth:`NamedFds.take`);
- ``add-fd`` puts it in a numbered set shared by all monitors
  (:class:`FdSets`); ``remove-fd`` closes it; ``query-fdsets`` lists them.

:class:`MonitorCommands` runs those five commands for the client being
served, with QEMU's replies and errors.  Descriptors are closed with the
``close`` function given (``os.close``), never left open: a name kept twice
closes the first, and the tables close what they hold when the server closes.
"""

from __future__ import annotations

import _socket  # not socket: see .sockets
import contextlib
import os
from collections.abc import Callable, Mapping
from types import ModuleType

from ..runtime import QMPError

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from .protocol import ServerConnection

__all__ = [
    "FD_COMMANDS",
    "MAX_FDS_PER_READ",
    "FdSets",
    "MonitorCommands",
    "NamedFds",
    "close_fds",
    "recv_with_fds",
]

#: The commands :class:`MonitorCommands` runs.
FD_COMMANDS = frozenset({"getfd", "closefd", "add-fd", "remove-fd", "query-fdsets"})

#: Descriptors taken with one read, as QEMU's socket channels take them; the
#: kernel closes those that do not fit.
MAX_FDS_PER_READ = 16
_FD_SPACE = _socket.CMSG_SPACE(MAX_FDS_PER_READ * 4)

_GENERIC = "GenericError"
_NO_FD = "No file descriptor supplied via SCM_RIGHTS"


def _is_digit(char: str) -> bool:
    # C's isdigit() in the C locale: ASCII digits only.
    return "0" <= char <= "9"


class NamedFds:
    """One monitor's descriptors kept by name (``getfd``)."""

    __slots__ = ("_close", "_fds")

    def __init__(self, close: Callable[[int], None] = os.close) -> None:
        self._close = close
        self._fds: dict[str, int] = {}

    def keep(self, name: str, fd: int) -> None:
        """Keep ``fd`` as ``name``, closing what had that name; a name that
        starts with a digit is refused (``fd`` is closed)."""
        if name[:1] and _is_digit(name[0]):
            self._close(fd)
            raise QMPError(_GENERIC, "Parameter 'fdname' expects a name not starting with a digit")
        old = self._fds.get(name)
        self._fds[name] = fd
        if old is not None:
            self._close(old)

    def close(self, name: str) -> None:
        """Close the descriptor kept as ``name`` (``closefd``)."""
        fd = self._fds.pop(name, None)
        if fd is None:
            raise QMPError(_GENERIC, f"File descriptor named '{name}' not found")
        self._close(fd)

    def take(self, name: str) -> int:
        """Hand over the descriptor kept as ``name``: the caller closes it."""
        fd = self._fds.pop(name, None)
        if fd is None:
            raise QMPError(_GENERIC, f"File descriptor named '{name}' has not been found")
        return fd

    def names(self) -> list[str]:
        """The names kept."""
        return list(self._fds)

    def close_all(self) -> None:
        """Close everything kept (the monitor is going away)."""
        fds, self._fds = list(self._fds.values()), {}
        for fd in fds:
            self._close(fd)


class FdSets:
    """The numbered descriptor sets every monitor shares (``add-fd``)."""

    __slots__ = ("_close", "_sets")

    def __init__(self, close: Callable[[int], None] = os.close) -> None:
        self._close = close
        # Set number -> its descriptors and their opaque texts, oldest first.
        self._sets: dict[int, list[tuple[int, str | None]]] = {}

    def add(self, fd: int, fdset_id: int | None, opaque: str | None) -> tuple[int, int]:
        """Put ``fd`` in set ``fdset_id`` (made if new; None: a new set with
        the lowest free number); (the set's number, ``fd``).  A negative number
        is refused (``fd`` is closed)."""
        if fdset_id is None:
            fdset_id = 0
            while fdset_id in self._sets:
                fdset_id += 1
        elif fdset_id < 0:  # (no set has a negative number to join)
            self._close(fd)
            raise QMPError(_GENERIC, "Parameter 'fdset-id' expects a non-negative value")
        self._sets.setdefault(fdset_id, []).append((fd, opaque))
        return fdset_id, fd

    def remove(self, fdset_id: int, fd: int | None) -> None:
        """Close descriptor ``fd`` of set ``fdset_id`` (None: all of them); a
        set left empty goes."""
        members = self._sets.get(fdset_id, [])
        # Without a number, all of them; with one, that one.
        closing = [f for f, _ in members if fd is None or f == fd]
        if not closing:
            what = f"fdset-id:{fdset_id}" if fd is None else f"fdset-id:{fdset_id}, fd:{fd}"
            raise QMPError(_GENERIC, f"File descriptor named '{what}' not found")
        left = [m for m in members if m[0] not in closing]
        if left:
            self._sets[fdset_id] = left
        else:
            del self._sets[fdset_id]
        for f in closing:
            self._close(f)

    def query(self) -> list[dict[str, Any]]:
        """``query-fdsets``'s reply: the sets from the highest number, each
        set's descriptors oldest first."""
        reply = []
        for fdset_id in sorted(self._sets, reverse=True):
            fds: list[dict[str, Any]] = []
            for fd, opaque in self._sets[fdset_id]:
                entry: dict[str, Any] = {"fd": fd}
                if opaque is not None:
                    entry["opaque"] = opaque
                fds.append(entry)
            reply.append({"fdset-id": fdset_id, "fds": fds})
        return reply

    def close_all(self) -> None:
        """Close every descriptor of every set (the server is going away)."""
        sets, self._sets = self._sets, {}
        for members in sets.values():
            for fd, _ in members:
                self._close(fd)


class MonitorCommands:
    """``getfd``, ``closefd``, ``add-fd``, ``remove-fd`` and ``query-fdsets``.

    ``package`` is the generated bindings package whose argument types check
    the arguments (QEMU's errors); ``fdsets`` the server's sets.
    """

    __slots__ = ("_commands", "fdsets")

    def __init__(self, package: ModuleType, fdsets: FdSets) -> None:
        self._commands: Mapping[str, Any] = package.COMMANDS
        self.fdsets = fdsets

    def run(
        self, name: str, arguments: dict[str, Any], conn: ServerConnection, named: NamedFds
    ) -> Any:
        """Run command ``name`` for the client of ``conn``, whose monitor keeps
        ``named``; its ``return`` value.  ``QMPError`` as QEMU answers."""
        from ..runtime import WireError

        info = self._commands[name]
        if info.arg_type is None:  # query-fdsets
            if arguments:
                from ..runtime.key_order import first_unexpected

                key = first_unexpected(arguments, ())
                raise QMPError(_GENERIC, f"Parameter '{key}' is unexpected")
            return self.fdsets.query()
        try:
            args = info.arg_type.from_wire(arguments)
        except WireError as err:
            raise QMPError(_GENERIC, err.desc) from None
        if name == "getfd":
            named.keep(args.fdname, _claim(conn))
        elif name == "closefd":
            named.close(args.fdname)
        elif name == "add-fd":
            fdset_id, fd = self.fdsets.add(_claim(conn), args.fdset_id, args.opaque)
            return {"fdset-id": fdset_id, "fd": fd}
        else:
            self.fdsets.remove(args.fdset_id, args.fd)
        return {}


def recv_with_fds(sock: _socket.socket, size: int) -> tuple[bytes, list[int]]:
    """Up to ``size`` bytes from ``sock``, a unix socket, and the descriptors
    that came with them (SCM_RIGHTS), close-on-exec; raises what ``recvmsg`` raises."""
    data, ancillary, _flags, _address = sock.recvmsg(size, _FD_SPACE, _socket.MSG_CMSG_CLOEXEC)
    return data, _received_fds(ancillary)


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The descriptors of SCM_RIGHTS messages, made blocking as QEMU makes them
    (O_NONBLOCK is the sender's file's, kept across the passing); a message's
    bytes that make no whole descriptor are ignored."""
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(memoryview(data)[:usable].cast("i"))
    for fd in fds:
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)
    return fds


def close_fds(fds: list[int]) -> None:
    """Close each of ``fds`` (one closed already is no matter)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _claim(conn: ServerConnection) -> int:
    fd = conn.take_fd()
    if fd is None:
        raise QMPError(_GENERIC, _NO_FD)
    return fd
