"""QMP on a pair of descriptors, a program's standard input and output, on the
loop of :mod:`.loop` (QEMU's ``-qmp stdio``).

A :class:`StdioClient` is one client of a :class:`.selector_server.SelectorServer`
whose requests are read from one descriptor and whose replies and events are
written to another.  Unlike a socket's client it outlives the end of its input,
as QEMU's monitor on a ``stdio`` character device does: at end of file what
was read of an unfinished message is dropped (QEMU makes its JSON parser anew)
and nothing more is read, but replies due and events are still written, for as
long as the program runs.

The output descriptor is written as it is, as QEMU writes it: blocking unless
whoever opened it made it non-blocking (then what does not fit waits for room,
with the service's flow control).  A write that fails (nobody reads any more)
drops what it was to write, as QEMU's monitor drops it; the program goes on.
No descriptor comes with the bytes (SCM_RIGHTS needs a unix socket): ``getfd``
and ``add-fd`` find none, as in QEMU.

An input the loop cannot wait on (a regular file, ``/dev/null``: ``epoll``
refuses them) is always ready to read: it is read a chunk at every turn of the
loop, until its end.
"""

from __future__ import annotations

import os

from .fds import NamedFds, close_fds
from .poller import EVENT_READ as _READ
from .poller import EVENT_WRITE as _WRITE
from .selector_server import LoopPeer
from .service import HIGH_WATER, MAX_PENDING_OUTPUT

# Not typing.TYPE_CHECKING: each module spells it one way (docs/architecture.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .protocol import Request
    from .selector_server import SelectorServer

__all__ = ["StdioClient"]

# Bytes read at a time (QEMU's character devices read 4 KiB; the size is not seen).
_CHUNK = 65536


class StdioClient(LoopPeer):
    """The client of ``server`` on ``infd`` (its requests) and ``outfd`` (its
    replies and events); greeted at once.  A monitor of its own: the names
    ``getfd`` keeps are its own (none can come)."""

    __slots__ = (
        "_ended",
        "_events",
        "_in",
        "_out",
        "_polled",
        "_unsent",
        "_writer",
        "backlog",
        "closed",
        "conn",
        "named_fds",
        "server",
        "service",
    )

    def __init__(self, server: SelectorServer, infd: int = 0, outfd: int = 1) -> None:
        self.server = server
        self.service = server.service
        self.conn = self.service.connection()
        self.named_fds = NamedFds()
        self.backlog: list[Request] = []
        self.closed = False
        self._in = infd
        self._out = outfd
        self._unsent = bytearray()
        self._writer = _Writer(self)
        # What the loop waits for: reading the input, room in the output.
        self._events = 0
        # The input's end was read; the input cannot be waited on (read at every turn).
        self._ended = False
        self._polled = False
        self.service.clients.add(self)
        self.flush()  # the greeting
        self._watch()

    # -- the input --------------------------------------------------------------

    def on_readable(self) -> None:
        if self.closed or self._ended or self._paused():
            return
        try:
            data = os.read(self._in, _CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # unreadable from now on: as its end
        if not data:
            self._ended = True
            self.conn.input_ended()
            self._watch()
            return
        self._serve(self.service.received, data)

    def on_writable(self) -> None:
        """Never asked for: the output has its own watcher."""

    def _poll_due(self) -> float | None:
        """The loop's deadline for an input it cannot wait on: now, while it is read."""
        if self._polled and not (self.closed or self._ended or self._paused()):
            return 0.0
        return None

    # -- the output -------------------------------------------------------------

    def unsent(self) -> int:
        return len(self._unsent)

    def flush(self) -> None:
        """Write what the protocol queued (see the module's description)."""
        if self.closed:
            return
        data = self.conn.data_to_send()
        if not data:
            return
        if self._unsent:
            self._unsent += data
        else:
            self._unsent = bytearray(data)
            self._send()
        if len(self._unsent) > MAX_PENDING_OUTPUT:
            self.close()
        else:
            self._watch()

    def _send(self) -> None:
        """Write what waits, until it is all written or the output is full."""
        while self._unsent:
            try:
                sent = os.write(self._out, self._unsent)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            except OSError:
                self._unsent.clear()  # nobody reads: dropped, as QEMU drops it
                return
            del self._unsent[:sent]

    # -- both -------------------------------------------------------------------

    def _paused(self) -> bool:
        """Whether requests wait for the client to read its output."""
        return bool(self.backlog) or len(self._unsent) > HIGH_WATER

    def _watch(self) -> None:
        """Wait for requests unless the input has ended or the output piles up,
        and for room in the output while anything waits to be written."""
        if self.closed:
            return
        reading = not (self._ended or self._paused() or self._polled)
        events = (_READ if reading else 0) | (_WRITE if self._unsent else 0)
        changed = events ^ self._events
        selector = self.server.loop.selector
        if changed & _READ:
            if reading:
                try:
                    selector.register(self._in, _READ, self)
                except PermissionError:  # a file or a device: always ready
                    self._polled = True
                    self.server.loop.add_deadline(self._poll_due, self.on_readable)
                    events &= ~_READ
            else:
                selector.unregister(self._in)
        if changed & _WRITE:
            if events & _WRITE:
                try:
                    selector.register(self._out, _WRITE, self._writer)
                except PermissionError:  # a file: never full, so written already
                    events &= ~_WRITE
            else:
                selector.unregister(self._out)
        self._events = events

    def close(self) -> None:
        """Stop reading and writing (the descriptors stay open: they are not
        the client's to close)."""
        if self.closed:
            return
        selector = self.server.loop.selector
        if self._events & _READ:
            selector.unregister(self._in)
        if self._events & _WRITE:
            selector.unregister(self._out)
        self._events = 0
        self.closed = True
        self.service.clients.discard(self)
        close_fds(self.conn.release_fds())
        self.named_fds.close_all()


class _Writer:
    """The output's watcher on the loop (its input's is the client itself)."""

    __slots__ = ("client",)

    def __init__(self, client: StdioClient) -> None:
        self.client = client

    def on_readable(self) -> None:
        """Never asked for."""

    def on_writable(self) -> None:
        self.client._writable()
