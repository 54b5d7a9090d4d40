"""The pvpanic device: a one-byte register through which a guest kernel reports
that it panicked, that it loaded a crash kernel, or that it wants to be
powered off.

Two variants, one register: the ISA device decodes an I/O port (0x505 unless
``ioport`` says otherwise; its ACPI methods RDPT and WRPT read and write that
same port), the PCI device a two-byte memory BAR whose bytes both act as the
register.  Each offers its register as a :class:`~.bus.Region` (the PCI one
behind the BAR of its :class:`~.pci.PciFunction`), which the board maps; the
register takes accesses a byte at a time, so a wider access is several
bytes, each a read or a write of the register.

A read returns the ``events`` property, the events the device offers
(PANICKED|CRASH_LOADED|SHUTDOWN by default).  A write is decoded with a fixed
priority, whatever ``events`` says (fact 4): bit 0 (panicked) wins over bit 1
(crash kernel loaded), which wins over bit 2 (shutdown request); other bits
are ignored (fact 5), and only the first write with such bits is logged.
"""

from __future__ import annotations

import enum

from .bus import Region
from .pci import Bar, PciFunction, PciKind
from .pvpanic_properties import (
    DEFAULT_IOPORT,
    PVPANIC_CRASH_LOADED,
    PVPANIC_EVENTS,
    PVPANIC_PANICKED,
    PVPANIC_SHUTDOWN,
)

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import ClassVar, Protocol


class PvpanicBit(enum.Enum):
    """An event bit of the register, valued as its mask: what a write reports."""

    PANICKED = PVPANIC_PANICKED
    CRASH_LOADED = PVPANIC_CRASH_LOADED
    SHUTDOWN = PVPANIC_SHUTDOWN


def decode_pvpanic_write(value: int) -> PvpanicBit | None:
    """The event bit a written byte reports, None for none (QEMU's priority order)."""
    if value & PVPANIC_PANICKED:
        return PvpanicBit.PANICKED
    if value & PVPANIC_CRASH_LOADED:
        return PvpanicBit.CRASH_LOADED
    if value & PVPANIC_SHUTDOWN:
        return PvpanicBit.SHUTDOWN
    return None


def unknown_bits(value: int) -> int:
    """The bits of a written byte that no event stands for."""
    return value & ~PVPANIC_EVENTS


if TYPE_CHECKING:

    class PvpanicHost(Protocol):
        """What the device calls when its register is written (the machine)."""

        def pvpanic_unknown_event(self, value: int) -> None:
            """A written byte had bits no event stands for (called before the event)."""

        def guest_panicked(self) -> None:
            """The guest reports a panic."""

        def guest_crashloaded(self) -> None:
            """The guest reports that it loaded a crash kernel."""

        def guest_pvshutdown(self) -> None:
            """The guest asks to be powered off."""


def _check_byte(what: str, value: int) -> None:
    # The register is one byte wide (QEMU splits wider accesses).
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} must be a byte (0..255), not {value}")


class PvpanicDevice:
    """The register shared by both variants."""

    #: The ``-device`` driver name.
    DRIVER: ClassVar[str] = ""

    __slots__ = ("_host", "events", "id")

    def __init__(self, *, id: str | None = None, events: int = PVPANIC_EVENTS) -> None:
        _check_byte("events", events)
        #: The ``-device ...,id=`` of the device, if it was given one.
        self.id = id
        #: The events offered to the guest: what a read returns, nothing else.
        self.events = events
        self._host: PvpanicHost | None = None

    def attach(self, host: PvpanicHost | None) -> None:
        """Connect the device to the machine that acts on the guest's writes."""
        self._host = host

    def read(self) -> int:
        """A guest read of the register."""
        return self.events

    def write(self, value: int) -> None:
        """A guest write of the register: decode it and tell the machine."""
        _check_byte("value", value)
        host = self._host
        if host is None:
            return  # not plugged into a machine: nothing listens
        if value & ~PVPANIC_EVENTS:
            host.pvpanic_unknown_event(value)
        if value & PVPANIC_PANICKED:
            host.guest_panicked()
        elif value & PVPANIC_CRASH_LOADED:
            host.guest_crashloaded()
        elif value & PVPANIC_SHUTDOWN:
            host.guest_pvshutdown()

    def __repr__(self) -> str:
        ident = f", id={self.id!r}" if self.id is not None else ""
        return f"{type(self).__name__}(events={self.events:#04x}{ident})"


class PvpanicISA(PvpanicDevice):
    """``-device pvpanic``: the register at an I/O port, with ACPI methods."""

    DRIVER: ClassVar[str] = "pvpanic"
    #: The ACPI hardware id of the device QEMU describes in its tables.
    ACPI_HID: ClassVar[str] = "QEMU0001"

    __slots__ = ("ioport", "region")

    def __init__(
        self, *, id: str | None = None, ioport: int = DEFAULT_IOPORT, events: int = PVPANIC_EVENTS
    ) -> None:
        super().__init__(id=id, events=events)
        if not 0 <= ioport <= 0xFFFF:
            raise ValueError(f"ioport must be 0..65535, not {ioport}")
        #: The I/O port the register is at (also told to the firmware).
        self.ioport = ioport
        #: The register, one port wide, to map at :attr:`ioport`.
        self.region: Region = _Register(self, 1)

    def acpi_rdpt(self) -> int:
        """The ACPI method RDPT: reads the register's port."""
        return self.read()

    def acpi_wrpt(self, value: int) -> None:
        """The ACPI method WRPT: writes the register's port."""
        self.write(value)

    def __repr__(self) -> str:
        ident = f", id={self.id!r}" if self.id is not None else ""
        return f"PvpanicISA(ioport={self.ioport:#x}, events={self.events:#04x}{ident})"


class PvpanicPCI(PvpanicDevice):
    """``-device pvpanic-pci``: the register in a memory BAR of a PCI function."""

    DRIVER: ClassVar[str] = "pvpanic-pci"
    VENDOR_ID: ClassVar[int] = 0x1B36  # Red Hat
    DEVICE_ID: ClassVar[int] = 0x0011
    REVISION: ClassVar[int] = 1
    CLASS_ID: ClassVar[int] = 0x0880  # system peripheral, other
    #: The size of BAR 0; every byte of it is the register.
    BAR0_SIZE: ClassVar[int] = 2

    __slots__ = ("function",)

    def __init__(
        self, *, id: str | None = None, events: int = PVPANIC_EVENTS, multifunction: bool = False
    ) -> None:
        super().__init__(id=id, events=events)
        #: The PCI function: QEMU's ids and class, BAR 0 (memory, 2 bytes) the register.
        self.function = PciFunction(
            _PCI_KIND,
            id=id,
            multifunction=multifunction,
            regions={0: _Register(self, self.BAR0_SIZE)},
        )

    def read_bar(self, offset: int = 0) -> int:
        """A guest read of a byte of BAR 0."""
        self._check_offset(offset)
        return self.read()

    def write_bar(self, value: int, offset: int = 0) -> None:
        """A guest write of a byte of BAR 0."""
        self._check_offset(offset)
        self.write(value)

    def _check_offset(self, offset: int) -> None:
        if not 0 <= offset < self.BAR0_SIZE:
            raise ValueError(f"BAR 0 offset must be 0..{self.BAR0_SIZE - 1}, not {offset}")


_PCI_KIND = PciKind(
    PvpanicPCI.DRIVER,
    vendor=PvpanicPCI.VENDOR_ID,
    device=PvpanicPCI.DEVICE_ID,
    revision=PvpanicPCI.REVISION,
    class_code=PvpanicPCI.CLASS_ID << 8,
    bars=(Bar(0, PvpanicPCI.BAR0_SIZE),),
)


class _Register(Region):
    """The register as a region: every byte of it reads and writes the register."""

    __slots__ = ("_device",)

    def __init__(self, device: PvpanicDevice, size: int) -> None:
        super().__init__("pvpanic", size, impl_min=1, impl_max=1)
        self._device = device

    def read(self, offset: int, size: int) -> int:
        return self._device.read()

    def write(self, offset: int, value: int, size: int) -> None:
        self._device.write(value & 0xFF)
