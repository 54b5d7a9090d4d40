"""A QMP server on a selector loop (:mod:`.loop`): one thread, no asyncio.

``qapigen vm`` serves through this adapter rather than :mod:`.server`
because importing asyncio alone takes longer than the simulated machine's
whole start is allowed to (it pulls in ssl, logging, concurrent.futures and
inspect; about 45 ms on the reference machine, against QEMU's ~25 ms from
start to greeting).  It does what the asyncio adapter does, with the same
flow control (see :mod:`.service`): a client whose output piles up unread is
not read from until it has taken it, and a client with more than
:data:`MAX_PENDING_OUTPUT` bytes unread is disconnected.

A :class:`.loop.Loop` (importable from here too) waits on the sockets of any
number of servers (a fleet of machines shares one).
"""

from __future__ import annotations

import _socket  # not socket: see .sockets
import errno
from collections.abc import Callable
from types import ModuleType

from .fds import NamedFds, close_fds, recv_with_fds
from .loop import Loop
from .poller import EVENT_READ as _READ
from .poller import EVENT_WRITE as _WRITE
from .service import HIGH_WATER, LOW_WATER, MAX_PENDING_OUTPUT, QMPService
from .sockets import SocketFile, tcp_listener, unix_listener

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..runtime import Event
    from .protocol import Request, ServerConnection
    from .service import Peer

__all__ = ["MAX_PENDING_OUTPUT", "Loop", "SelectorServer"]

# Bytes read from a client at a time.
_CHUNK = 65536


class LoopPeer:
    """What a QMP client served on the loop does alike whatever carries its
    bytes (a socket here, standard input and output in :mod:`.stdio`): serving
    the service a turn, and a turn once its output has room."""

    __slots__ = ()

    if TYPE_CHECKING:
        closed: bool
        backlog: list[Request]
        conn: ServerConnection
        service: QMPService
        _unsent: bytearray

        def _send(self) -> None: ...
        def _watch(self) -> None: ...
        def close(self) -> None: ...

    def _serve(self, serve: Callable[..., None], *args: object) -> None:
        try:
            serve(self, *args)
        except Exception:
            # A bug (bad input is answered, not raised): report it and drop
            # this client only, as asyncio does with a failing protocol.
            import traceback

            traceback.print_exc()
            self.close()
        # Descriptors no command claimed and none will: closed, not leaked.
        close_fds(self.conn.discarded_fds())
        self._watch()

    def _writable(self) -> None:
        """The output has room: send, then serve what waited for it."""
        if self.closed:
            return
        self._send()
        if self.backlog and len(self._unsent) <= LOW_WATER:
            self._serve(self.service.serve_backlog)
        else:
            self._watch()


class _Client(LoopPeer):
    """One connected client: its socket, its protocol state, its unsent bytes."""

    __slots__ = (
        "_events",
        "_owns_named_fds",
        "_paused",
        "_unix",
        "_unsent",
        "backlog",
        "closed",
        "conn",
        "named_fds",
        "server",
        "service",
        "sock",
    )

    def __init__(
        self, server: SelectorServer, sock: _socket.socket, named_fds: NamedFds | None
    ) -> None:
        self.server = server
        self.service = server.service
        self.sock = sock
        self.conn = self.service.connection()
        # A listener's clients share its monitor's names; a socket served
        # alone is a monitor of its own, whose names end with it.
        self._owns_named_fds = named_fds is None
        self.named_fds = NamedFds() if named_fds is None else named_fds
        # Descriptors come only over unix sockets (SCM_RIGHTS).
        self._unix = sock.family == _socket.AF_UNIX
        self.closed = False
        self.backlog: list[Request] = []
        self._unsent = bytearray()
        # What the selector waits for on the socket (serve_connected() registers it
        # for reading); whether its requests wait for it to read its output.
        self._events = _READ
        self._paused = False

    def on_readable(self) -> None:
        if self.closed:
            return
        fds: list[int] = []
        try:
            if self._unix:
                data, fds = recv_with_fds(self.sock, _CHUNK)
            else:
                data = self.sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # gone, perhaps mid-message: that costs nothing else
            close_fds(fds)
            self.close()
            return
        self._serve(self.service.received, data, fds)

    def on_writable(self) -> None:
        self._writable()

    def unsent(self) -> int:
        return len(self._unsent)

    def greeted(self, sent: bytes) -> None:
        """``sent``, the start of the greeting, went out before this server took
        the socket: drop it from what the connection queued (which must begin
        with it) and send the rest."""
        queued = self.conn.data_to_send()
        if not queued.startswith(sent):
            raise ValueError(f"the greeting sent, {sent!r}, is not this server's, {queued!r}")
        self._unsent += queued[len(sent) :]
        if self._unsent:
            self._send()
            self._watch()

    def flush(self) -> None:
        """Write what the protocol queued; drop a client over the cap."""
        if self.closed:
            return
        data = self.conn.data_to_send()
        if not data:
            return
        if self._unsent:
            self._unsent += data
        else:  # the usual case: written at once, not copied first
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:  # the client is gone
                self.close()
                return
            if sent == len(data):
                if self._events & _WRITE:
                    self._watch()
                return
            self._unsent += memoryview(data)[sent:]
        if len(self._unsent) > MAX_PENDING_OUTPUT:
            self.close()
        else:
            self._watch()

    def _send(self) -> None:
        try:
            sent = self.sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the client is gone
            self.close()
            return
        del self._unsent[:sent]

    def _watch(self) -> None:
        """Wait for the client's requests unless its output piles up (until it
        drains), and for room in its socket while output waits."""
        if self.closed:
            return
        unsent = len(self._unsent)
        self._paused = bool(self.backlog) or unsent > (LOW_WATER if self._paused else HIGH_WATER)
        events = (0 if self._paused else _READ) | (_WRITE if unsent else 0)
        if events != self._events:
            # Nothing to wait for happens only for a moment, inside serve_backlog().
            selector = self.server.loop.selector
            if not self._events:
                selector.register(self.sock, events, self)
            elif not events:
                selector.unregister(self.sock)
            else:
                selector.modify(self.sock, events, self)
            self._events = events

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.service.clients.discard(self)
        if self._events:
            self.server.loop.selector.unregister(self.sock)
        self.sock.close()
        close_fds(self.conn.release_fds())
        if self._owns_named_fds:
            self.named_fds.close_all()
        self.server.loop.descriptor_freed()


_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Listener:
    """A listening socket: accepts clients for its server."""

    __slots__ = ("closed", "named_fds", "server", "sock")

    def __init__(self, server: SelectorServer, sock: _socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.closed = False
        #: The monitor's descriptors kept by name, for every client it accepts.
        self.named_fds = NamedFds()
        sock.setblocking(False)

    def on_readable(self) -> None:
        for _ in range(64):  # a burst of connections, without starving the others
            try:
                # What socket.socket.accept() does, without the socket module.
                fd, _address = self.sock._accept()  # type: ignore[attr-defined]
            except OSError as err:  # none waiting, the client gave up, or no descriptors left
                if err.errno in _OUT_OF_DESCRIPTORS:
                    self.server.loop.pause_accepting(self)
                return
            self.server.serve_connected(_socket.socket(fileno=fd), self.named_fds)

    def on_writable(self) -> None:
        """Never asked for."""


class SelectorServer:
    """Serves a :class:`.service.QMPService` on sockets that ``loop`` waits on.

    The service, made from ``package``, ``handler`` and ``options`` (see
    :class:`.service.QMPService`), is :attr:`service`: the server owns the
    sockets and hands each client's bytes to it.
    """

    # A fleet holds one per machine: no __dict__ each.
    __slots__ = ("_files", "_listeners", "loop", "service")

    def __init__(self, package: ModuleType, handler: object, loop: Loop, **options: Any) -> None:
        #: What the clients are served: sessions, commands, events.
        self.service = QMPService(package, handler, **options)
        self.loop = loop
        self._listeners: list[_Listener] = []
        self._files: list[SocketFile] = []

    @property
    def clients(self) -> set[Peer]:
        """The clients connected now."""
        return self.service.clients

    def broadcast(self, event: Event, timestamp: float | None = None) -> None:
        """Send an event to every negotiated client, now (see :meth:`.QMPService.broadcast`)."""
        self.service.broadcast(event, timestamp)

    def listen_unix(self, path: str, mode: int = 0o600) -> str:
        """Listen on a unix socket at ``path`` (replacing a stale one), mode 0600.

        The socket appears at ``path`` only once it accepts connections, and
        :meth:`close` removes it.  See :func:`.sockets.unix_listener` for what
        stands at ``path`` already.  Returns the name the socket was bound to
        (what its clients' sockets give as their own name), which may be a
        staging name the file was renamed from.
        """
        sock, file = unix_listener(path, mode)
        self._files.append(file)
        self._listen(sock)
        return str(sock.getsockname())

    def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on TCP (loopback by default); returns the port."""
        sock = tcp_listener(host, port)
        self._listen(sock)
        return int(sock.getsockname()[1])

    def listen_socket(self, sock: _socket.socket) -> NamedFds:
        """Accept clients on ``sock``, a socket that already listens; the names
        its monitor keeps descriptors under (for clients it accepted before)."""
        return self._listen(sock)

    def serve_connected(
        self, sock: _socket.socket, named_fds: NamedFds | None = None, greeted: bytes = b""
    ) -> None:
        """Serve the client at the other end of ``sock``, a connected socket.

        ``named_fds`` is the table of the monitor it belongs to (a listener's);
        None: it is a monitor of its own.  ``greeted`` is what of the greeting
        was sent on it already (``qapigen vm`` greets before it builds the
        machine, as QEMU greets from its monitor's I/O thread).
        """
        sock.setblocking(False)
        if sock.family != _socket.AF_UNIX:
            # Replies are small and awaited: no Nagle delay (asyncio does the same).
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        client = _Client(self, sock, named_fds)
        self.loop.selector.register(sock, _READ, client)
        self.service.clients.add(client)
        if greeted:
            client.greeted(greeted)
        client.flush()  # the greeting

    def _listen(self, sock: _socket.socket) -> NamedFds:
        listener = _Listener(self, sock)
        self.loop.selector.register(sock, _READ, listener)
        self._listeners.append(listener)
        return listener.named_fds

    def close(self) -> None:
        """Stop listening (removing the unix sockets' files) and disconnect every
        client, after writing what is due."""
        for listener in self._listeners:
            listener.closed = True
            self.loop.forget(listener)
            listener.sock.close()
            listener.named_fds.close_all()
        self._listeners.clear()
        for file in self._files:
            file.remove()
        self._files.clear()
        for client in list(self.service.clients):
            client.flush()
            client.close()
        self.service.close()
