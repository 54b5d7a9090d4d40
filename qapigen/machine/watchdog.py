"""The iBASE 700 watchdog (``-device ib700``): two write-only I/O ports and a
timer on the virtual clock.

Writing ports 0x443 or 0x444 (re)arms the timer: the low four bits of the
value pick the timeout, 30 s for 0 down to 0 s for 15 in steps of 2 s.
Writing 0x441 or 0x442 disarms it.  Only byte writes act (a 2-byte write is
two of them); reads give all-ones.  When the timer runs out, the machine
carries out its watchdog action (``-watchdog-action``, ``-action
watchdog=``, ``watchdog-set-action``), and the timer stays disarmed.  A
reset of the machine disarms it.
"""

from __future__ import annotations

from .bus import Port, PortioList

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Protocol

    from .clock import VirtualClock

    class WatchdogHost(Protocol):
        """What the watchdog needs of its machine."""

        def watchdog_expired(self) -> None:
            """The timer ran out: carry out the watchdog action."""


DISABLE_PORT = 0x441
ENABLE_PORT = 0x443
_NS = 1_000_000_000


def timeout_ns(value: int) -> int:
    """The timeout a byte written to the enable port sets."""
    return (30 - 2 * (value & 0xF)) * _NS


class Ib700:
    """``-device ib700``."""

    DRIVER = "ib700"

    def __init__(self, clock: VirtualClock, host: WatchdogHost, *, id: str | None = None) -> None:
        self.id = id
        self._clock = clock
        self._host = host
        self._timer = clock.new_timer(self._expired)
        self.region = PortioList(
            "ib700",
            DISABLE_PORT,
            (
                Port(DISABLE_PORT, 2, 1, write=self._disable),
                Port(ENABLE_PORT, 2, 1, write=self._enable),
            ),
        )

    @property
    def expires(self) -> int | None:
        """When the timer runs out (virtual ns), or None when disarmed."""
        return self._timer.expires

    def _enable(self, port: int, value: int) -> None:
        self._timer.mod(self._clock.now() + timeout_ns(value))

    def _disable(self, port: int, value: int) -> None:
        self._timer.delete()

    def _expired(self) -> None:
        self._host.watchdog_expired()
        self._timer.delete()

    def reset(self) -> None:
        """A machine reset disarms it."""
        self._timer.delete()

    def __repr__(self) -> str:
        ident = f"id={self.id!r}" if self.id is not None else ""
        return f"Ib700({ident})"
