"""What QEMU's qtest accelerator lets a test program do to a machine.

A test program acts from outside the guest's CPUs: it reads and writes I/O
ports and memory whatever the run state, moves the virtual clock (under
``-accel qtest``), watches and drives interrupt lines of devices it names by
QOM path.  :class:`QtestAccess` offers that to a protocol adapter (the qtest
server) without the machine knowing the protocol: requests are carried out
in a :meth:`QtestAccess.batch`, after which the machine's main loop runs, as
QEMU's does once it has read a chunk of requests.
"""

from __future__ import annotations

from .clock import add_ns
from .irq import resolve

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from .irq import QomNode
    from .machine import Machine, _Handling


class QtestAccess:
    """A test program's access to ``machine`` (see the module's description)."""

    __slots__ = ("_machine",)

    #: x86 is little-endian.
    big_endian = False

    def __init__(self, machine: Machine) -> None:
        self._machine = machine

    @property
    def exited(self) -> bool:
        """Whether the emulator has exited."""
        return self._machine.exited

    @property
    def manual_clock(self) -> bool:
        """Whether the virtual clock moves only when told (``-accel qtest``)."""
        return self._machine.virtual_clock.manual

    def batch(self) -> _Handling:
        """A context for a batch of requests; the main loop runs at its end."""
        return self._machine.handling()

    # -- accesses ------------------------------------------------------------------------

    def io_read(self, port: int, size: int) -> int:
        """``in``: ``size`` (1, 2, 4) bytes from ``port``."""
        return self._machine.io.read_int(port, size)

    def io_write(self, port: int, size: int, value: int) -> None:
        """``out``: the low ``size`` bytes of ``value`` to ``port``."""
        self._machine.io.write_int(port, size, value)

    def memory_read(self, addr: int, length: int) -> bytes:
        """``length`` bytes of memory from ``addr``."""
        return self._machine.memory.read(addr, length)

    def memory_write(self, addr: int, data: bytes) -> None:
        """Write ``data`` to memory at ``addr``."""
        self._machine.memory.write(addr, data)

    def memory_fill(self, addr: int, length: int, byte: int) -> None:
        """Write ``length`` copies of ``byte`` from ``addr``."""
        self._machine.memory.fill(addr, length, byte)

    # -- the virtual clock ---------------------------------------------------------------

    def clock_ns(self) -> int:
        """The virtual time (ns)."""
        return self._machine.virtual_clock.now()

    def clock_deadline(self) -> int | None:
        """Nanoseconds to the next timer; None when no timer can fire."""
        return self._machine.virtual_clock.deadline()

    def clock_step(self, ns: int) -> int:
        """Move the clock ``ns`` on (C's 64-bit arithmetic), firing timers; the time reached."""
        clock = self._machine.virtual_clock
        return clock.advance_to(add_ns(clock.now(), ns))

    def clock_set(self, ns: int) -> int:
        """Move the clock on to ``ns`` (never back), firing timers; the time reached."""
        return self._machine.virtual_clock.advance_to(ns)

    # -- devices -------------------------------------------------------------------------

    def find(self, path: str) -> QomNode | None:
        """The object at QOM ``path`` (absolute, or a unique partial path)."""
        return resolve(self._machine.board.qom, path)
