"""A QMP server on the ``selectors`` module: one thread, no asyncio.

``qapigen vm`` serves through this adapter rather than :mod:`.server`
because importing asyncio alone takes longer than the simulated machine's
whole start is allowed to (it pulls in ssl, logging, concurrent.futures and
inspect; about 45 ms on the reference machine, against QEMU's ~25 ms from
start to greeting).  It does what the asyncio adapter does, with the same
flow control (see :mod:`.service`): a client whose output piles up unread is
not read from until it has taken it, and a client with more than
:data:`MAX_PENDING_OUTPUT` bytes unread is disconnected.

A :class:`Loop` waits on the sockets of any number of servers (a fleet of
machines shares one); :meth:`Loop.run` returns once :meth:`Loop.stop` is
called, from any thread or from a signal handler added with
:meth:`Loop.add_signal_handler`.
"""

from __future__ import annotations

import _socket  # not socket: see .sockets
import contextlib
import errno
import os
import selectors
import signal
import time
from collections.abc import Callable
from types import ModuleType

from .fds import NamedFds, close_fds
from .service import HIGH_WATER, LOW_WATER, MAX_PENDING_OUTPUT, QMPService
from .sockets import SocketFile, tcp_listener, unix_listener

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..runtime import Event
    from .protocol import Request
    from .service import Peer

__all__ = ["MAX_PENDING_OUTPUT", "Loop", "SelectorServer"]

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
# Bytes read from a client at a time.
_CHUNK = 65536
# Descriptors taken with one read, as QEMU's socket channels take them; the
# kernel closes those that do not fit.
_MAX_FDS = 16
_FD_SPACE = _socket.CMSG_SPACE(_MAX_FDS * 4)

#: Seconds the loop keeps polling after serving, before it sleeps (see Loop.run).
SPIN = 0.0002


class Loop:
    """The sockets of one thread, waited on together."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._soon: list[Callable[[], None]] = []
        self._signals: list[int] = []
        self._signal_handlers: dict[int, Callable[[int], None]] = {}
        # What each signal's disposition was before the loop took it.
        self._previous: dict[int, Any] = {}
        self._deadlines: list[tuple[Callable[[], float | None], Callable[[], None]]] = []
        self._stopping = False
        # Listeners that stopped accepting for want of file descriptors.
        self._paused: list[_Listener] = []
        # Written to wake the loop from another thread or a signal handler.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.selector.register(self._wake_r, _READ, self)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the sockets ready now have been served."""
        self._soon.append(callback)

    def add_signal_handler(self, signum: int, callback: Callable[[int], None]) -> None:
        """Run ``callback(signum)`` from the loop (never in the middle of a command)."""
        self._signal_handlers[signum] = callback
        previous = signal.signal(signum, self._on_signal)
        self._previous.setdefault(signum, signal.SIG_DFL if previous is None else previous)

    def add_deadline(
        self, deadline: Callable[[], float | None], on_due: Callable[[], None]
    ) -> None:
        """Call ``on_due()`` from the loop once ``time.monotonic()`` reaches
        ``deadline()`` (asked anew at every turn; None: no deadline now)."""
        self._deadlines.append((deadline, on_due))

    def _timeout(self) -> float | None:
        """Seconds until the nearest deadline (None: none)."""
        nearest: float | None = None
        for deadline, _ in self._deadlines:
            when = deadline()
            if when is not None and (nearest is None or when < nearest):
                nearest = when
        return None if nearest is None else max(nearest - time.monotonic(), 0.0)

    def _fire_deadlines(self) -> None:
        now = time.monotonic()
        for deadline, on_due in self._deadlines:
            when = deadline()
            if when is not None and when <= now:
                on_due()

    def _on_signal(self, signum: int, frame: object) -> None:
        # Runs between any two bytecodes: note it, and let the loop act on it.
        self._signals.append(signum)
        self.wake()

    def wake(self) -> None:
        """Make the loop look at its state again (safe from any thread)."""
        # Full (a wake-up is pending anyway) or closed: nothing to do.
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def stop(self) -> None:
        """Make :meth:`run` return, or return at once if it has not started
        (safe from any thread)."""
        self._stopping = True
        self.wake()

    def on_readable(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._wake_r, 4096):
                pass
        while self._signals:
            signum = self._signals.pop(0)
            self._signal_handlers[signum](signum)

    def on_writable(self) -> None:
        """Never asked for."""

    def pause_accepting(self, listener: _Listener) -> None:
        """Stop waiting on ``listener`` until a descriptor is freed: out of
        descriptors, its pending connections would wake the loop at every turn."""
        self.selector.unregister(listener.sock)
        self._paused.append(listener)

    def forget(self, listener: _Listener) -> None:
        """Stop waiting on ``listener`` for good (it is being closed)."""
        if listener in self._paused:
            self._paused.remove(listener)
        else:
            self.selector.unregister(listener.sock)

    def descriptor_freed(self) -> None:
        """A connection closed: paused listeners may accept again."""
        while self._paused:
            listener = self._paused.pop()
            if not listener.closed:
                self.selector.register(listener.sock, _READ, listener)

    def run(self) -> None:
        """Serve until :meth:`stop`.

        After serving anything the loop keeps polling, without sleeping, for
        :data:`SPIN` seconds: a client that waits for each reply sends its
        next request within microseconds, and a processor that went to sleep
        takes tens of microseconds to wake (in a virtual machine, more than a
        whole round trip takes here).  The price is at most that much
        processor time per burst of requests; an idle machine sleeps.
        """
        select = self.selector.select
        clock = time.monotonic
        spin_until = 0.0
        while not self._stopping:
            if spin_until:
                ready = select(0)
                if not ready:
                    if clock() > spin_until:
                        spin_until = 0.0
                    continue
            else:
                ready = select(self._timeout() if self._deadlines else None)
            for key, events in ready:
                handler = key.data
                if events & _READ:
                    handler.on_readable()
                if events & _WRITE:
                    handler.on_writable()
            if self._deadlines:
                self._fire_deadlines()
            while self._soon:
                self._soon.pop(0)()
            if ready:
                spin_until = clock() + SPIN
        self._stopping = False  # it may run again

    def close(self) -> None:
        """Release the loop's own sockets and signal handlers.

        A signal's earlier disposition comes back only where the loop's handler
        is still in place: a program that set another one on its way out (to
        ignore a late SIGTERM, say) keeps it.
        """
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous)
        self._signal_handlers.clear()
        self._previous.clear()
        self.selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


class _Client:
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
                data, ancillary, _flags, _address = self.sock.recvmsg(
                    _CHUNK, _FD_SPACE, _socket.MSG_CMSG_CLOEXEC
                )
                fds = _received_fds(ancillary)
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
        if self.closed:
            return
        self._send()
        if self.backlog and len(self._unsent) <= LOW_WATER:
            self._serve(self.service.serve_backlog)
        else:
            self._watch()

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

    def unsent(self) -> int:
        return len(self._unsent)

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


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The descriptors of SCM_RIGHTS messages, made blocking as QEMU makes them
    (O_NONBLOCK is the sender's file's, kept across the passing)."""
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(memoryview(data)[:usable].cast("i"))
    for fd in fds:
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)
    return fds


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

    def listen_socket(self, sock: _socket.socket) -> None:
        """Accept clients on ``sock``, a socket that already listens."""
        self._listen(sock)

    def serve_connected(self, sock: _socket.socket, named_fds: NamedFds | None = None) -> None:
        """Serve the client at the other end of ``sock``, a connected socket.

        ``named_fds`` is the table of the monitor it belongs to (a listener's);
        None: it is a monitor of its own.
        """
        sock.setblocking(False)
        if sock.family != _socket.AF_UNIX:
            # Replies are small and awaited: no Nagle delay (asyncio does the same).
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        client = _Client(self, sock, named_fds)
        self.loop.selector.register(sock, _READ, client)
        self.service.clients.add(client)
        client.flush()  # the greeting

    def _listen(self, sock: _socket.socket) -> None:
        listener = _Listener(self, sock)
        self.loop.selector.register(sock, _READ, listener)
        self._listeners.append(listener)

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
