"""A QMP server on asyncio: sockets around :class:`.service.QMPService`.

It serves any number of clients at once, each negotiating on its own; what
the server does with their bytes is :mod:`.service`'s.  Sockets are private
by default: a unix socket is created with mode 0600, and TCP listens on the
loopback interface unless told otherwise.  Flow control is :mod:`.service`'s:
a client whose output piles up unread is not read from until it has taken it
(the transport's write buffer limits are the service's marks), and a client
with more than :data:`MAX_PENDING_OUTPUT` bytes unread is disconnected.

Descriptors passed over a unix socket (SCM_RIGHTS) are received as the
selectors adapter receives them (:func:`.fds.recv_with_fds`: at most
:data:`.fds.MAX_FDS_PER_READ` a read, close-on-exec, made blocking) and held
and claimed alike; a listening socket's clients share its monitor's ``getfd``
names.  asyncio's transports read with the socket's ``recv()`` and pass no
ancillary data, so a unix socket's clients get a socket whose ``recv()`` takes
the descriptors along (:class:`_FdSocket`), for the protocol to pick up with
the bytes.  That holds on asyncio's own event loops, which read through the
socket object; another loop (uvloop) reads the descriptor itself, and no
descriptor is received there.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .fds import NamedFds, close_fds, recv_with_fds
from .protocol import Request
from .service import DEFAULT_VERSION, HIGH_WATER, LOW_WATER, MAX_PENDING_OUTPUT, QMPService
from .sockets import SocketFile, tcp_listener, unix_listener

# Not typing.TYPE_CHECKING: each module spells it one way (docs/architecture.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..runtime import Event
    from .service import Peer

__all__ = ["DEFAULT_VERSION", "MAX_PENDING_OUTPUT", "QMPServer"]


class _FdSocket(socket.socket):
    """A unix socket whose ``recv()`` also takes the descriptors that come
    with the bytes, kept in :attr:`fds` until the protocol takes them."""

    __slots__ = ("fds",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Received, not yet taken by the protocol.
        self.fds: list[int] = []

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        assert not flags  # asyncio's transports pass none
        data, fds = recv_with_fds(self, bufsize)
        self.fds += fds
        return data

    def take_fds(self) -> list[int]:
        """The descriptors received since last asked."""
        fds, self.fds = self.fds, []
        return fds

    def close(self) -> None:
        close_fds(self.take_fds())
        super().close()


class _FdListener(socket.socket):
    """A listening unix socket whose clients are :class:`_FdSocket` objects,
    each noted by its descriptor's number until its protocol claims it."""

    __slots__ = ("accepted",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted: dict[int, _FdSocket] = {}

    def accept(self) -> tuple[socket.socket, Any]:
        # socket.socket.accept(), making an _FdSocket (asyncio makes it non-blocking).
        fd, address = self._accept()  # type: ignore[attr-defined]
        sock = _FdSocket(self.family, self.type, self.proto, fileno=fd)
        # A number reused by a later client replaces the entry of one that never got a protocol.
        self.accepted[fd] = sock
        return sock, address


class _Client(asyncio.Protocol):
    """One connected client: its protocol state and its transport.

    Bytes are handled as they arrive (``data_received``), with no task and
    no stream in between: one event-loop pass per request.  ``listener`` is
    the listening socket it came from, ``named_fds`` its monitor's names.
    """

    def __init__(self, server: QMPServer, listener: socket.socket, named_fds: NamedFds) -> None:
        self.server = server
        self.service = server.service
        self.conn = self.service.connection()
        self.named_fds = named_fds
        self._listener = listener
        # The socket that receives descriptors (a unix one's), once connected.
        self._sock: _FdSocket | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.backlog: list[Request] = []
        self._paused = False  # not reading: its output piles up
        self._writing_paused = False  # the transport's buffer is over HIGH_WATER

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if isinstance(self._listener, _FdListener):
            sock = transport.get_extra_info("socket")
            self._sock = self._listener.accepted.pop(sock.fileno(), None)
        # asyncio calls pause_writing() once more than HIGH_WATER bytes wait,
        # resume_writing() once they are down to LOW_WATER.
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        self.service.clients.add(self)
        self.flush()  # the greeting

    def data_received(self, data: bytes) -> None:
        fds = self._sock.take_fds() if self._sock is not None else []
        if self.closed:
            close_fds(fds)
            return
        self.service.received(self, data, fds)
        # Descriptors no command claimed and none will: closed, not leaked.
        close_fds(self.conn.discarded_fds())
        self._watch()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._watch()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self.backlog and not self.closed:
            self.service.serve_backlog(self)
        self._watch()

    def unsent(self) -> int:
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    def _watch(self) -> None:
        """Read the client's requests unless its output piles up (until it drains)."""
        if self.closed or self.transport is None:
            return
        # Requests wait only while the buffer is over the mark (then asyncio
        # calls resume_writing() once it drains).
        paused = bool(self.backlog) or self._writing_paused
        if paused != self._paused:
            self._paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        # A client gone mid-message costs nothing else.
        self.closed = True
        self.service.clients.discard(self)
        # What it held; its monitor's names stay for the monitor's next client.
        close_fds(self.conn.release_fds())
        if self._sock is not None:
            close_fds(self._sock.take_fds())

    def flush(self) -> None:
        """Hand what the protocol queued to the transport; drop a stalled client."""
        if self.closed or self.transport is None:
            return
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)
        if self.transport.get_write_buffer_size() > MAX_PENDING_OUTPUT:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class QMPServer:
    """Serves a :class:`.service.QMPService` on asyncio sockets.

    The service, made from ``package``, ``handler`` and ``options`` (see
    :class:`.service.QMPService`), is :attr:`service`: the server owns the
    sockets and hands each client's bytes to it.
    """

    def __init__(self, package: ModuleType, handler: object, **options: Any) -> None:
        #: What the clients are served: sessions, commands, events.
        self.service = QMPService(package, handler, **options)
        self._servers: list[asyncio.AbstractServer] = []
        self._files: list[SocketFile] = []
        # Each listening socket's monitor's names (getfd), shared by its clients.
        self._named: list[NamedFds] = []

    @property
    def clients(self) -> set[Peer]:
        """The clients connected now."""
        return self.service.clients

    def broadcast(self, event: Event, timestamp: float | None = None) -> None:
        """Send an event to every negotiated client, now (see :meth:`.QMPService.broadcast`)."""
        self.service.broadcast(event, timestamp)

    async def listen_unix(self, path: str, mode: int = 0o600) -> None:
        """Listen on a unix socket at ``path`` (replacing a stale one), mode 0600.

        The socket appears at ``path`` only once it accepts connections, and
        :meth:`close` removes it.  See :func:`.sockets.unix_listener` for what
        stands at ``path`` already.
        """
        listener, file = unix_listener(path, mode)
        self._files.append(file)
        sock = _FdListener(fileno=listener.detach())
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_unix_server(self._clients_of(sock), sock=sock))

    async def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on TCP (loopback by default); returns the port."""
        sock = socket.socket(fileno=tcp_listener(host, port).detach())
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_server(self._clients_of(sock), sock=sock))
        return int(sock.getsockname()[1])

    def _clients_of(self, sock: socket.socket) -> Callable[[], _Client]:
        """The protocol factory of listening socket ``sock``: its clients share
        its monitor's names."""
        named = NamedFds()
        self._named.append(named)
        return lambda: _Client(self, sock, named)

    async def close(self) -> None:
        """Stop listening (removing the unix sockets' files) and disconnect every client."""
        for server in self._servers:
            server.close()
        for file in self._files:
            file.remove()
        self._files.clear()
        for client in list(self.service.clients):
            client.flush()
            client.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        for named in self._named:
            named.close_all()
        self._named.clear()
        self.service.close()
