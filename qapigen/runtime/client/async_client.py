"""The typed client's engine, over ``qemu.qmp`` (QEMU's official client library).

A generated package's ``client`` module subclasses :class:`AsyncClient` with
one typed method per command (and :class:`~.sync.SyncClient` for programs
without an event loop).  Replies are decoded leniently by default, so that
a newer QEMU's extra members, enum values and events do not break a client;
a refused command raises the :mod:`~.errors` class of its QMP error.

A client of a guest agent's schema (one with ``guest-sync-delimited`` and no
``qmp_capabilities``) speaks the agent's protocol instead (see :mod:`.agent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import socket
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from qemu.qmp import ExecuteError, QMPClient, Runstate

from ..commands import CommandInfo, call_deprecated
from ..events import Event
from .agent import GuestAgentProtocol
from .errors import command_failed
from .sockets import Address, server_socket
from .streams import EventStream
from .timeouts import DEFAULT, Default, seconds, within

# As in every module, not typing.TYPE_CHECKING (see docs/architecture.md).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from qemu.qmp.models import Greeting

C = TypeVar("C", bound="AsyncClient")


class _Shared:
    """What a client and its :meth:`~AsyncClient.with_options` views share."""

    def __init__(self) -> None:
        #: Streams opened by listen() and not yet closed, besides the client's own.
        self.streams: set[EventStream] = set()
        #: Held while a file descriptor and the command that takes it go out.
        self.fd_lock: asyncio.Lock | None = None
        #: The task that notices the end of the connection.
        self.watcher: asyncio.Task[None] | None = None
        #: A guest agent's reply went missing: synchronise before the next command.
        self.resync = False


class AsyncClient:
    """A QMP client whose commands and events are the schema's types.

    ``timeout`` (seconds, None: none) bounds every wait of the client unless
    a call says otherwise: connecting, each command, each event wait.
    """

    COMMANDS: ClassVar[Mapping[str, CommandInfo]] = {}
    EVENTS: ClassVar[Mapping[str, type[Event]]] = {}

    def __init__(
        self, name: str | None = None, *, strict: bool = False, timeout: float | None = None
    ) -> None:
        #: The underlying ``qemu.qmp`` client, for what this one does not wrap.
        self.qmp: QMPClient = GuestAgentProtocol(name) if self.is_guest_agent() else QMPClient(name)
        #: Decode replies and events strictly (reject what the schema does not know).
        self.strict = strict
        #: The default timeout of commands and waits, in seconds (None: wait for ever).
        self.timeout = timeout
        #: Every event received since the client was made, until taken.
        self.events = EventStream(self)
        self.qmp.register_listener(self.events._listener)
        self._shared = _Shared()
        # Set by with_options() on a view.
        self._call_timeout: float | Default | None = DEFAULT
        self._oob = False
        self._fd: int | None = None

    @classmethod
    def is_guest_agent(cls) -> bool:
        """Whether the bindings are a guest agent's (so the client speaks its protocol)."""
        return "guest-sync-delimited" in cls.COMMANDS and "qmp_capabilities" not in cls.COMMANDS

    # -- the connection -----------------------------------------------------

    async def connect(
        self, address: Address | socket.socket, *, timeout: float | Default | None = DEFAULT
    ) -> None:
        """Connect to a server and start the session (greeting and capabilities
        negotiation; with a guest agent, synchronisation).

        ``address``: a unix socket's path, a ``(host, port)`` pair, or a
        connected socket (one end of a ``socket.socketpair()``, say).
        """
        limit = seconds(timeout, self.timeout)
        await within(self.qmp.connect(address), limit, "connect")
        self._connected()
        if isinstance(self.qmp, GuestAgentProtocol):
            await within(self.qmp.sync(), limit, "guest-sync-delimited")

    async def accept(
        self,
        address: Address | socket.socket,
        *,
        timeout: float | Default | None = DEFAULT,
    ) -> None:
        """Wait for a server that connects to us (QEMU's ``-chardev socket`` without
        ``server=on``), then start the session as :meth:`connect` does.

        ``address`` is where to listen (a unix socket's path, made 0600 and
        removed once the server is in; or ``(host, port)``: give a loopback
        host), or a listening socket, which stays the caller's: a caller that
        must start the server before it can wait makes one with
        :func:`~.sockets.server_socket` first.  ``timeout`` bounds the wait
        for the server, then the session's start.
        """
        limit = seconds(timeout, self.timeout)
        listener = address if isinstance(address, socket.socket) else server_socket(address)
        blocking = listener.getblocking()
        try:
            listener.setblocking(False)
            loop = asyncio.get_running_loop()
            conn, _ = await within(loop.sock_accept(listener), limit, "accept")
        finally:
            if listener is address:
                listener.setblocking(blocking)
            else:
                listener.close()
                if isinstance(address, str):
                    os.unlink(address)
        await self.connect(conn, timeout=timeout)

    def _connected(self) -> None:
        for stream in (self.events, *self._shared.streams):
            stream._set_closed(False)
        self._shared.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        """Wait for the connection to end, then end the waits for events."""
        while self.qmp.runstate is Runstate.RUNNING:
            await self.qmp.runstate_changed()
        for stream in (self.events, *self._shared.streams):
            stream._set_closed(True)

    async def disconnect(self) -> None:
        """Disconnect; a server that already closed the connection (after ``quit``) is fine."""
        with contextlib.suppress(EOFError, ConnectionError):
            await self.qmp.disconnect()
        watcher, self._shared.watcher = self._shared.watcher, None
        if watcher is not None:
            await watcher

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def greeting(self) -> Greeting | None:
        """The server's greeting (``greeting.QMP.version``, ``.capabilities``); None
        before connecting, and from a guest agent, which sends none."""
        return self.qmp.greeting

    @property
    def oob_enabled(self) -> bool:
        """Whether out-of-band execution was negotiated (the server offered it)."""
        greeting = self.qmp.greeting
        return greeting is not None and "oob" in greeting.QMP.capabilities

    # -- events -------------------------------------------------------------

    def listen(self, *kinds: type[Event] | str) -> EventStream:
        """A stream of the events of ``kinds`` (classes or wire names; all
        when none are given) from the moment it is entered (``async with``)
        until it is left, for one consumer besides :attr:`events`."""
        return EventStream(self, kinds)

    def _open_stream(self, stream: EventStream) -> None:
        self.qmp.register_listener(stream._listener)
        self._shared.streams.add(stream)
        stream._set_closed(self.qmp.runstate is not Runstate.RUNNING)

    def _close_stream(self, stream: EventStream) -> None:
        self._shared.streams.discard(stream)
        self.qmp.remove_listener(stream._listener)

    # -- commands -----------------------------------------------------------

    def with_options(
        self: C,
        *,
        timeout: float | Default | None = DEFAULT,
        oob: bool = False,
        fd: int | None = None,
    ) -> C:
        """A view of this client whose commands run with these options (the
        connection, events and all else shared)::

            await client.with_options(timeout=2).query_status()
            await client.with_options(oob=True).migrate_pause()
            await client.with_options(fd=fd).add_fd(fdset_id=1)

        ``timeout``: seconds for each command's reply (None: no limit);
        ``oob``: run out of band (``exec-oob``; the server refuses it unless
        it offered the capability, see :attr:`oob_enabled`); ``fd``: a file
        descriptor sent with the command (``SCM_RIGHTS``; unix sockets only),
        for commands such as ``getfd`` and ``add-fd`` that take one.  The
        caller keeps ``fd`` open or closes it; the server has its own copy.
        """
        view = copy.copy(self)
        if timeout is not DEFAULT:
            view._call_timeout = timeout
        view._oob = oob or self._oob
        view._fd = self._fd if fd is None else fd
        return view

    async def execute(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run any command, the bindings' or not; its ``return`` value as JSON.

        For commands a newer server has and the bindings lack; the typed
        methods are better for the rest.  Errors are raised as for them.
        """
        return await self._execute(name, arguments)

    async def pass_fd(self, fdname: str, fd: int) -> None:
        """Give the server a copy of ``fd`` under ``fdname`` (``SCM_RIGHTS``, then
        QEMU's ``getfd``), for commands that take a file descriptor by name."""
        await self.with_options(fd=fd)._execute("getfd", {"fdname": fdname})

    async def _call(self, name: str, arguments: dict[str, Any] | None) -> Any:
        """Run a command of the bindings; its decoded return value (None: it returns nothing)."""
        info = self.COMMANDS[name]
        call_deprecated(info)
        result = await self._execute(name, arguments)
        if info.ret_type is None:
            return None
        return info.ret_type.decode(result, None, self.strict)

    async def _execute(self, name: str, arguments: dict[str, Any] | None) -> Any:
        limit = seconds(self._call_timeout, self.timeout)
        protocol = self.qmp
        shared = self._shared
        if shared.resync and isinstance(protocol, GuestAgentProtocol):
            await within(protocol.sync(), limit, "guest-sync-delimited")
            shared.resync = False
        message = QMPClient.make_execute_msg(name, arguments, oob=self._oob)
        try:
            if self._fd is None:
                return await within(protocol.execute_msg(message), limit, name)
            if shared.fd_lock is None:
                shared.fd_lock = asyncio.Lock()
            # The descriptor goes with the next command the server reads: no
            # other descriptor may go out before that command has.
            async with shared.fd_lock:
                protocol.send_fd_scm(self._fd)
                return await within(protocol.execute_msg(message), limit, name)
        except ExecuteError as err:
            raise command_failed(err) from None
        except TimeoutError:
            shared.resync = True
            raise
