"""The loop ``qapigen vm`` runs on: sockets waited on together (:mod:`.poller`), one
thread, no asyncio.

A :class:`Loop` waits on the sockets of any number of servers (a fleet of
machines shares one; :mod:`.selector_server` serves QMP on it, and
``qapigen vm`` greets on it before its machine is built);
:meth:`Loop.run` returns once :meth:`Loop.stop` is called, from any thread or
from a signal handler added with :meth:`Loop.add_signal_handler`.  What waits
on it is any object with ``on_readable()`` and ``on_writable()``.
"""

from __future__ import annotations

import os
import time

from .poller import EVENT_READ as _READ
from .poller import EVENT_WRITE as _WRITE
from .poller import new_poller

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal  # _signal's functions, with types
    from collections.abc import Callable
    from typing import Any

    from .selector_server import _Listener
else:
    import _signal  # not signal: it imports enum, which a start cannot afford

__all__ = ["SPIN", "Loop"]


#: Seconds the loop keeps polling after serving, before it sleeps (see Loop.run).
SPIN = 0.0002


class Loop:
    """The sockets of one thread, waited on together."""

    def __init__(self) -> None:
        self.selector = new_poller()
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
        previous = _signal.signal(signum, self._on_signal)
        self._previous.setdefault(signum, _signal.SIG_DFL if previous is None else previous)

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
        try:
            os.write(self._wake_w, b"\0")
        except OSError:
            pass  # full (a wake-up is pending anyway) or closed: nothing to do

    def stop(self) -> None:
        """Make :meth:`run` return, or return at once if it has not started
        (safe from any thread)."""
        self._stopping = True
        self.wake()

    def on_readable(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except OSError:
            pass  # drained
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
            if _signal.getsignal(signum) == self._on_signal:
                _signal.signal(signum, previous)
        self._signal_handlers.clear()
        self._previous.clear()
        self.selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
