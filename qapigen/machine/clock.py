"""The guest's virtual clock and the timers devices set on it.

Time is in nanoseconds since the machine was created.  The clock runs only
while the guest's CPUs do (QEMU stops it with them); timers fire only then.
It moves in one of two ways:

- *manual* (``-accel qtest``): only when told, by :meth:`VirtualClock.advance_to`
  (qtest's ``clock_step`` and ``clock_set``); it moves even while stopped, but
  no timer fires then;
- *real time* (any other accelerator): with the host's monotonic clock while
  running.  Whoever serves the machine asks :meth:`VirtualClock.wake_at` when
  to come back and calls :meth:`VirtualClock.run_due` then.

Timers due at the same time fire in the order they were set (QEMU's list
keeps them so).  A *quiet* timer changes nothing anyone outside the machine
sees unless they look (the PIT's interrupt line); in real time it does not
wake the host, and runs when the machine is next looked at.
"""

from __future__ import annotations

import bisect
import time

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Callable

_INT64_MAX = (1 << 63) - 1


class Timer:
    """A timer: calls ``callback()`` once the clock reaches its expiry."""

    __slots__ = ("_clock", "_key", "callback", "quiet")

    def __init__(
        self, clock: VirtualClock, callback: Callable[[], None], *, quiet: bool = False
    ) -> None:
        self._clock = clock
        self.callback = callback
        self.quiet = quiet
        self._key: tuple[int, int] | None = None

    @property
    def expires(self) -> int | None:
        """When it fires (ns), or None when not pending."""
        return None if self._key is None else self._key[0]

    def mod(self, expires: int) -> None:
        """(Re)arm it to fire at ``expires`` ns."""
        self._clock._remove(self)
        self._clock._insert(self, expires)

    def delete(self) -> None:
        """Disarm it."""
        self._clock._remove(self)


class VirtualClock:
    """The virtual clock; see the module's description."""

    def __init__(self, *, manual: bool, host_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.manual = manual
        self._host_ns = host_ns
        self._ns = 0  # the time when last frozen (real time) or now (manual)
        self._since: int | None = None  # host time it has run since (real time, enabled)
        self._enabled = False
        #: The time the clock is being brought to (while timers fire): a timer
        #: whose firings nobody sees may skip the ones before it.
        self.horizon = 0
        self._keys: list[tuple[int, int]] = []
        self._timers: dict[tuple[int, int], Timer] = {}
        self._seq = 0

    # -- time --------------------------------------------------------------------------

    def now(self) -> int:
        """The virtual time, in ns."""
        if self._since is not None:
            return self._ns + self._host_ns() - self._since
        return self._ns

    @property
    def enabled(self) -> bool:
        """Whether it runs and its timers fire (the guest's CPUs run)."""
        return self._enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        if on == self._enabled:
            return
        if not self.manual:
            if on:
                self._since = self._host_ns()
            else:
                self._ns = self.now()
                self._since = None
        self._enabled = on

    def new_timer(self, callback: Callable[[], None], *, quiet: bool = False) -> Timer:
        """A timer on this clock, not yet armed."""
        return Timer(self, callback, quiet=quiet)

    # -- timers ------------------------------------------------------------------------

    def _insert(self, timer: Timer, expires: int) -> None:
        self._seq += 1
        key = (expires, self._seq)
        bisect.insort(self._keys, key)
        self._timers[key] = timer
        timer._key = key

    def _remove(self, timer: Timer) -> None:
        key = timer._key
        if key is not None:
            self._keys.remove(key)
            del self._timers[key]
            timer._key = None

    def deadline(self) -> int | None:
        """Nanoseconds until the next timer (0 if one is due), None when none
        can fire (no timer, or the clock is stopped)."""
        if not self._enabled or not self._keys:
            return None
        return max(self._keys[0][0] - self.now(), 0)

    def run_due(self, horizon: int | None = None) -> None:
        """Fire the timers that are due (none while stopped); the clock is on its
        way to ``horizon`` (default: now)."""
        self.horizon = self.now() if horizon is None else horizon
        while self._enabled and self._keys:
            now = self.now()
            key = self._keys[0]
            if key[0] > now:
                return
            self._keys.pop(0)
            timer = self._timers.pop(key)
            timer._key = None
            timer.callback()

    def advance_to(self, dest: int) -> int:
        """Move a manual clock to ``dest``, firing the timers on the way, each at
        its own time; the time reached (unchanged if ``dest`` is not later)."""
        assert self.manual
        while self._ns < dest:
            deadline = self.deadline()
            step = dest - self._ns
            if deadline is not None and deadline < step:
                step = deadline
            self._ns += step
            self.run_due(dest)
        return self._ns

    def wake_at(self) -> int | None:
        """Host monotonic time (ns) at which the next timer that must not wait
        for anyone is due; None when there is none (real time only)."""
        if self.manual or not self._enabled:
            return None
        for key in self._keys:
            if not self._timers[key].quiet:
                return key[0] - self.now() + self._host_ns()
        return None

    def clear(self) -> None:
        """Disarm every timer (the emulator is gone)."""
        for timer in list(self._timers.values()):
            timer.delete()


def add_ns(now: int, delta: int) -> int:
    """``now + delta`` with C's 64-bit signed wrap-around (what QEMU computes)."""
    total = (now + delta) & ((1 << 64) - 1)
    return total - (1 << 64) if total > _INT64_MAX else total
