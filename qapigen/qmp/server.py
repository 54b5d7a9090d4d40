"""A QMP server on asyncio: sockets around :class:`.service.QMPService`.

It serves any number of clients at once, each negotiating on its own; what
the server does with their bytes is :mod:`.service`'s.  Sockets are private
by default: a unix socket is created with mode 0600, and TCP listens on the
loopback interface unless told otherwise.  Flow control is :mod:`.service`'s:
a client whose output piles up unread is not read from until it has taken it
(the transport's write buffer limits are the service's marks), and a client
with more than :data:`MAX_PENDING_OUTPUT` bytes unread is disconnected.
"""

from __future__ import annotations

import asyncio
import socket
from types import ModuleType
from typing import Any

from .fds import NamedFds
from .protocol import Request
from .service import DEFAULT_VERSION, HIGH_WATER, LOW_WATER, MAX_PENDING_OUTPUT, QMPService
from .sockets import SocketFile, tcp_listener, unix_listener

# Not typing.TYPE_CHECKING: each module spells it one way (docs/architecture.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..runtime import Event
    from .service import Peer

__all__ = ["DEFAULT_VERSION", "MAX_PENDING_OUTPUT", "QMPServer"]


class _Client(asyncio.Protocol):
    """One connected client: its protocol state and its transport.

    Bytes are handled as they arrive (``data_received``), with no task and
    no stream in between: one event-loop pass per request.
    """

    def __init__(self, server: QMPServer) -> None:
        self.server = server
        self.service = server.service
        self.conn = self.service.connection()
        # asyncio's transports pass no descriptors: getfd and add-fd find none,
        # and the names a client keeps (none) are its own.
        self.named_fds = NamedFds()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.backlog: list[Request] = []
        self._paused = False  # not reading: its output piles up
        self._writing_paused = False  # the transport's buffer is over HIGH_WATER

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # asyncio calls pause_writing() once more than HIGH_WATER bytes wait,
        # resume_writing() once they are down to LOW_WATER.
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        self.service.clients.add(self)
        self.flush()  # the greeting

    def data_received(self, data: bytes) -> None:
        if not self.closed:
            self.service.received(self, data)
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
        self.named_fds.close_all()

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
        sock = socket.socket(fileno=listener.detach())
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_unix_server(lambda: _Client(self), sock=sock))

    async def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on TCP (loopback by default); returns the port."""
        sock = socket.socket(fileno=tcp_listener(host, port).detach())
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_server(lambda: _Client(self), sock=sock))
        return int(sock.getsockname()[1])

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
        self.service.close()
