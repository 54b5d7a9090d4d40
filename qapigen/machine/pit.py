"""The 8254 interval timer's channel 0, as it runs from reset: the PC's timer tick.

After reset channel 0 counts 65536 periods of 1.193182 MHz in mode 3 (a
square wave), so its output (ISA interrupt 0) changes every 27.46 ms of
virtual time.  Each change is a timer on the virtual clock, computed with
QEMU's integer arithmetic (rounding down, and the 1 ns nudge it gives a
change that rounds onto the current time), so the levels and the clock's
next deadline are QEMU's to the nanosecond.

While nobody watches its interrupt line (a test intercepts it), the changes
the clock passes over at once are skipped: the next deadline is the same,
and a clock moved years ahead does not take years of changes to get there.

Its I/O ports (0x40-0x43) are not modelled: the guest cannot reprogram it.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False


if TYPE_CHECKING:
    from .clock import VirtualClock
    from .irq import IrqLine

#: The input clock, Hz.
PIT_FREQ = 1193182
_NS = 1_000_000_000
#: The count after reset (0 means 65536).
RESET_COUNT = 0x10000


class PitChannel0:
    """Channel 0 in mode 3 from reset, driving ``irq``."""

    def __init__(self, clock: VirtualClock, irq: IrqLine) -> None:
        self._clock = clock
        self._irq = irq
        self._count = RESET_COUNT
        self._load_time = 0
        self._next = -1
        # Nobody sees its ticks unless a test intercepts the line.
        self._timer = clock.new_timer(self._tick, quiet=True)

    def reset(self) -> None:
        """Restart the count from now (QEMU resets it with the machine)."""
        now = self._clock.now()
        self._load_time = now
        self._next = self._next_transition(now)
        self._timer.mod(self._next)

    def output(self, now: int) -> int:
        """The output level at ``now``."""
        d = (now - self._load_time) * PIT_FREQ // _NS
        return 1 if d % self._count < (self._count + 1) >> 1 else 0

    def _next_transition(self, now: int) -> int:
        d = (now - self._load_time) * PIT_FREQ // _NS
        base = d - d % self._count
        half = (self._count + 1) >> 1
        ticks = base + half if d - base < half else base + self._count
        when = self._load_time + ticks * _NS // PIT_FREQ
        return when if when > now else now + 1

    def _tick(self) -> None:
        now = self._next
        horizon = self._clock.horizon
        if not self._irq.observed and horizon > now:
            # Nobody sees the line: the changes before where the clock is going
            # make no difference, and the next one after it is the same.
            now = horizon
        self._irq.set(self.output(now))
        self._next = self._next_transition(now)
        self._timer.mod(self._next)
