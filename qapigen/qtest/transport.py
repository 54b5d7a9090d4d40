"""A qtest connection served on the loop that serves QMP (``selectors``' events).

:class:`QtestPort` is the qtest server's character device: a connected socket
(the program connected out, as libqtest has it) or a listening one that
takes one connection at a time.  It reads at most 1024 bytes at a time, as
QEMU's qtest character device does, and each read is one batch of requests.
"""

from __future__ import annotations

import _socket  # not socket: see qapigen.qmp.sockets
import contextlib
import errno
import selectors

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Callable

    from ..qmp.loop import Loop
    from .protocol import QtestConnection
    from .service import QtestService

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
#: Bytes read at a time (what QEMU's qtest device accepts at a time).
CHUNK = 1024
# Seconds the last replies may take to leave when the program exits.
_LAST_WORDS_TIMEOUT = 1.0


class QtestPort:
    """The qtest server's socket: ``sock`` connected (``listening`` false) or
    listening; ``log`` receives the qtest log.  ``conn`` is the protocol state
    of ``sock``'s connection if it was opened already (its log started)."""

    def __init__(
        self,
        service: QtestService,
        loop: Loop,
        sock: _socket.socket,
        *,
        listening: bool,
        log: Callable[[str], None] | None,
        conn: QtestConnection | None = None,
    ) -> None:
        self._service = service
        self._loop = loop
        self._log = log
        self._listener: _socket.socket | None = None
        self._sock: _socket.socket | None = None
        self._conn: QtestConnection | None = None
        self._unsent = bytearray()
        self._writing = False
        sock.setblocking(False)
        if listening:
            self._listener = sock
            loop.selector.register(sock, _READ, _Accepting(self))
        else:
            self._connected(sock, conn)

    def _connected(self, sock: _socket.socket, conn: QtestConnection | None = None) -> None:
        self._sock = sock
        if conn is None:
            conn = self._service.connection(self._log)
            conn.opened()
        else:
            self._service.adopt(conn)
        self._conn = conn
        self._service.notify = self.flush
        self._loop.selector.register(sock, _READ, self)
        if self._listener is not None:
            self._loop.selector.unregister(self._listener)  # one connection at a time

    def accept(self) -> None:
        """A client is waiting on the listening socket."""
        assert self._listener is not None
        try:
            fd, _address = self._listener._accept()  # type: ignore[attr-defined]
        except OSError:
            return
        self._connected(_socket.socket(fileno=fd))

    def on_readable(self) -> None:
        sock, conn = self._sock, self._conn
        if sock is None or conn is None:
            return
        try:
            data = sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.disconnect()
            return
        self._service.received(conn, data)
        self.flush()

    def on_writable(self) -> None:
        self._send()

    def flush(self) -> None:
        """Write what the connection queued."""
        if self._conn is None:
            return
        data = self._conn.data_to_send()
        if data:
            waiting = bool(self._unsent)
            self._unsent += data
            if not waiting:
                self._send()

    def _send(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as err:  # the peer is gone (EPIPE, ECONNRESET): no signal, no death
            if err.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.disconnect()
                return
            raise
        del self._unsent[:sent]
        if bool(self._unsent) != self._writing:
            self._writing = not self._writing
            self._loop.selector.modify(sock, _READ | _WRITE if self._writing else _READ, self)

    def disconnect(self) -> None:
        """End the connection (logged ``CLOSED``); a listening port takes the next."""
        sock, conn = self._sock, self._conn
        if sock is None or conn is None:
            return
        self._sock = self._conn = None
        self._service.notify = None
        self._unsent.clear()
        self._writing = False
        self._loop.selector.unregister(sock)
        sock.close()
        conn.closed()
        if self._listener is not None:
            self._loop.selector.register(self._listener, _READ, _Accepting(self))

    def close(self) -> None:
        """Write what is due, end the connection, stop listening (the program exits)."""
        if self._sock is not None:
            self.flush()
            if self._unsent:
                self._sock.settimeout(_LAST_WORDS_TIMEOUT)  # a peer that reads nothing
                with contextlib.suppress(OSError):
                    self._sock.sendall(self._unsent)
        self.disconnect()
        if self._listener is not None:
            with contextlib.suppress(KeyError):  # it had a connection: not waited on
                self._loop.selector.unregister(self._listener)
            self._listener.close()
            self._listener = None


class _Accepting:
    """The loop's handler for the listening socket."""

    __slots__ = ("_port",)

    def __init__(self, port: QtestPort) -> None:
        self._port = port

    def on_readable(self) -> None:
        self._port.accept()

    def on_writable(self) -> None:
        """Never asked for."""
