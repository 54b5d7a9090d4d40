"""A model of the oracle's guest: the boot sector its QEMU ran, and the firmware.

It drives a machine as the recorded guest drove the hardware, through the
machine's ``guest`` side; the machine is either a simulated
:class:`~qapigen.machine.Machine`, in process, or one behind ``qapigen vm``'s
QMP socket (see ``tests/vm/test_vm.py``'s ``RemoteMachine``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from qapigen import simulator_api
from qapigen.runtime import Event


class GuestSide(Protocol):
    """What a guest does to the hardware: a machine's ``guest``."""

    def reset(self) -> None: ...

    def pvpanic_read(self) -> int: ...

    def pvpanic_write(self, value: int) -> None: ...


class MachineUnderTest(Protocol):
    """What :class:`BootSector` needs of a machine: its guest side, whether it
    runs or has exited, and its events."""

    @property
    def guest(self) -> GuestSide: ...

    @property
    def exited(self) -> bool: ...

    @property
    def running(self) -> bool: ...

    def subscribe(self, subscriber: Callable[[Event, float], None]) -> object: ...


class BootSector:
    """The oracle's guest: a boot sector, and the firmware that loads it.

    The boot sector prints B, waits a second, optionally reads the pvpanic
    register (R + value), prints P, writes each value, prints A and halts.
    A write that stops the CPUs leaves the rest for when they run again.

    The firmware (SeaBIOS) loads it at power-on and after every reset.  After
    a reset that came from the host (``system_reset``), SeaBIOS resets the
    machine once more itself ("Attempting a hard reboot", fact 17) when the
    CPUs next run; that is the recorded ``RESET{guest: true}``, and here it is
    a guest reset made through ``machine.guest.reset()``.  SeaBIOS does so
    because it finds its own traces of an earlier boot in shadow RAM, so the
    model does it only when the firmware has run since its last clean start
    (not after a reset in ``prelaunch`` under ``-S``).  The model learns of
    resets from the machine's RESET events, as the firmware learns of them by
    running from its entry point again.
    """

    def __init__(self, machine: MachineUnderTest, guest: dict[str, Any]) -> None:
        self.machine = machine
        self.writes: list[int] = guest["writes"]
        self.reads: bool = guest["reads_event_register"]
        self.pci = "pci" in guest["device"]
        self.markers: list[str] = []
        self.read_values: list[int] = []
        self.pc = "boot"
        self.next_write = 0
        self.posted = False  # whether the firmware ran since its last clean start
        machine.subscribe(self._on_event)

    def _on_event(self, event: Event, timestamp: float) -> None:
        if isinstance(event, simulator_api.ResetEvent):
            # Any reset sends the CPUs back to the firmware's entry point.
            if not event.guest and self.posted:
                self.pc = "firmware-reset"
            else:
                self.pc = "boot"
                self.posted = False

    def run(self, time_passes: bool) -> None:
        """Execute until the guest blocks: halted, waiting, or CPUs stopped."""
        m = self.machine
        while not m.exited and m.running:
            if self.pc == "firmware-reset":
                m.guest.reset()  # sets self.pc through the RESET event
            elif self.pc == "boot":
                self.posted = True
                self.markers.append("B")
                if self.pci:
                    self.markers.append("F")  # the boot sector found the PCI device
                self.pc = "delay"
            elif self.pc == "delay":
                if not time_passes:
                    return
                time_passes = False
                self.pc = "read"
            elif self.pc == "read":
                if self.reads:
                    value = m.guest.pvpanic_read()
                    self.read_values.append(value)
                    self.markers.append(f"R{value}")
                if self.writes:
                    self.markers.append("P")
                self.pc = "write"
                self.next_write = 0
            elif self.pc == "write":
                if self.next_write == len(self.writes):
                    self.markers.append("A")
                    self.pc = "halted"
                else:
                    value = self.writes[self.next_write]
                    self.next_write += 1
                    m.guest.pvpanic_write(value)
            else:  # halted
                return
