"""The server side of one qtest connection, without I/O: bytes in, lines out.

A request is a line; its words are what lies between single spaces (two
spaces make an empty word, as QEMU's ``g_strsplit`` makes them).  Replies are
lines: ``OK[ VALUE]``, ``FAIL reason``, ``ERR reason``; ``IRQ raise N`` and
``IRQ lower N`` may come at any time before a reply.  Bytes are bytes: a word
is kept as it came (Latin-1 in, Latin-1 out), so a reply quotes it exactly.

The connection also writes QEMU's qtest log (``-qtest-log``): ``[I T] OPENED``
when the connection opens, ``[R +T] WORDS`` for each request as it is
carried out, ``[S +T] LINE`` for each line sent, ``[I +T] CLOSED``; T is the
time since the connection opened, in seconds with six decimals.
"""

from __future__ import annotations

import time

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Callable

#: The interrupt numbers a connection keeps levels for (QEMU's MAX_IRQ).
MAX_IRQ = 256


class QtestConnection:
    """One qtest connection's state: its unread input, its unsent output, its log.

    ``log`` receives the log's text (None: no log); ``timer`` is the clock its
    times are read from.
    """

    def __init__(
        self,
        log: Callable[[str], None] | None = None,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._timer = timer
        self._start = 0.0
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        #: Whether the connection is open (QEMU logs sends only then).
        self.is_open = False
        # The last level reported for each interrupt (reported on change only).
        self._levels = [0] * MAX_IRQ

    # -- the connection ----------------------------------------------------------------

    def opened(self) -> None:
        """The peer connected: the log's clock starts, interrupt levels read 0."""
        self._levels = [0] * MAX_IRQ
        self._start = self._timer()
        self.is_open = True
        if self._log is not None:
            self._log(f"[I {self._elapsed()}] OPENED\n")

    def closed(self) -> None:
        """The connection ended (either side)."""
        if not self.is_open:
            return
        self.is_open = False
        if self._log is not None:
            self._log(f"[I +{self._elapsed()}] CLOSED\n")

    def _elapsed(self) -> str:
        return f"{self._timer() - self._start:.6f}"

    # -- input ------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer; complete lines become requests (:meth:`next_request`)."""
        self._inbuf += data

    def next_request(self) -> list[str] | None:
        """The words of the next complete request (logged now), or None."""
        end = self._inbuf.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._inbuf[:end])
        del self._inbuf[: end + 1]
        # QEMU copies the line as a C string: a NUL ends it.
        line = line.split(b"\0", 1)[0]
        text = line.decode("latin-1")
        words = text.split(" ") if text else []
        if self._log is not None:
            self._log(f"[R +{self._elapsed()}]" + "".join(" " + w for w in words) + "\n")
        return words

    # -- output -----------------------------------------------------------------------

    def send(self, line: str) -> None:
        """Send a reply line (its text without the newline)."""
        text = line + "\n"
        self._outbuf += text.encode("latin-1")
        self.note(line)

    def irq(self, n: int, level: int) -> None:
        """Interrupt ``n`` was set to ``level``: ``IRQ raise|lower N`` if it changed."""
        if n < MAX_IRQ and self._levels[n] != level:
            self._levels[n] = level
            self.send(f"IRQ {'raise' if level else 'lower'} {n}")

    def note(self, line: str) -> None:
        """A line in the log only (QEMU's remarks on a request), as sent lines are."""
        if self._log is not None and self.is_open:
            # One write per line: a log shared with others (stderr) keeps it whole.
            self._log(f"[S +{self._elapsed()}] {line}\n")

    def data_to_send(self) -> bytes:
        """What to write to the peer now (and forget)."""
        data = bytes(self._outbuf)
        self._outbuf.clear()
        return data
