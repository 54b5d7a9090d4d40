"""The ``pc`` board: QEMU's i440FX machine as far as the simulator goes.

What is on it:

- the memory address space: RAM from 0 (``-m``; above 3.5 GiB of it, the
  rest from 4 GiB on, as QEMU splits it), PCI memory BARs under it, nothing
  else (reads 0);
- the I/O address space: PCI configuration mechanism #1 at 0xcf8/0xcfc, the
  PIIX3's reset control register at 0xcf9 (writing bit 2 resets the
  machine), the ISA devices' ports, PCI I/O BARs; ports nothing decodes read
  all-ones;
- PCI bus 0 with the machine's own functions, always there: 00.0 host
  bridge (i440FX, 8086:1237), 01.0 ISA bridge (PIIX3, 8086:7000), 01.1 IDE
  (8086:7010), 01.3 power management (PIIX4_PM, 8086:7113); then, unless
  turned off, the default VGA adapter (1234:1111) and network adapter
  (e1000, 8086:100e), each in the first free slot (02.0 and 03.0); then the
  ``-device`` PCI functions in command-line order, at their ``addr`` or in
  the first free slot;
- the I/O APIC (``/machine/i440fx/ioapic``, 24 inputs) and the 8254 timer's
  channel 0 on its input 0.

The machine's own functions show QEMU's configuration space as it is after
reset (ids, class, revision, status, BAR kinds and sizes, interrupt pin, and
their chipset registers' values); the chipset registers are plain bytes
(writing them changes nothing else), and the BARs have nothing behind them.
"""

from __future__ import annotations

from qapigen.simulator_api import ShutdownCause

from .bus import AddressSpace, Ram, Region, UnassignedIO, UnassignedMemory
from .irq import GpioList, QomNode
from .pci import Bar, PciBus, PciHost, PciKind, devfn
from .pci_placement import place_pci_functions
from .pit import PitChannel0
from .pvpanic import PvpanicISA, PvpanicPCI
from .watchdog import Ib700

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Protocol

    from .clock import VirtualClock
    from .config import MachineConfig
    from .pvpanic import PvpanicDevice, PvpanicHost
    from .watchdog import WatchdogHost

    class BoardHost(PvpanicHost, WatchdogHost, Protocol):
        """What the board's devices need of their machine."""

        def request_reset(self, cause: ShutdownCause) -> None:
            """Ask for a reset (or a shutdown under reboot=shutdown)."""


_GiB = 1 << 30
#: The number of I/O APIC inputs.
IOAPIC_PINS = 24


_I440FX = PciKind(
    "i440FX",
    vendor=0x8086,
    device=0x1237,
    revision=2,
    class_code=0x060000,
    registers={0x57: 0x10, 0x72: 0x02},  # DRAM control, SMRAM
)
_PIIX3 = PciKind(
    "PIIX3",
    vendor=0x8086,
    device=0x7000,
    class_code=0x060100,
    status=0x0200,
    # ISA clock, PCI IRQ routing (disabled), top of memory, ...
    registers={
        0x4C: 0x4D,
        0x4E: 0x03,
        **dict.fromkeys(range(0x60, 0x64), 0x80),
        0x69: 0x02,
        0x70: 0x80,
        0x76: 0x0C,
        0x77: 0x0C,
        0x78: 0x02,
        0xA0: 0x08,
        0xA8: 0x0F,
    },
)
_PIIX3_IDE = PciKind(
    "piix3-ide",
    vendor=0x8086,
    device=0x7010,
    class_code=0x010180,
    status=0x0280,
    bars=(Bar(4, 16, io=True),),
)
_PIIX4_PM = PciKind(
    "PIIX4_PM",
    vendor=0x8086,
    device=0x7113,
    revision=3,
    class_code=0x068000,
    status=0x0280,
    interrupt_pin=1,
    # PM base (I/O), device resources, SMBus base 0xb100 and host config.
    registers={0x40: 0x01, 0x63: 0x60, 0x90: 0x01, 0x91: 0xB1, 0xD2: 0x09},
)
_VGA = PciKind(
    "VGA",
    vendor=0x1234,
    device=0x1111,
    revision=2,
    class_code=0x030000,
    bars=(Bar(0, 16 << 20, prefetch=True), Bar(2, 4096), Bar(6, 64 << 10)),
)
_E1000 = PciKind(
    "e1000",
    vendor=0x8086,
    device=0x100E,
    revision=3,
    class_code=0x020000,
    interrupt_pin=1,
    bars=(Bar(0, 128 << 10), Bar(1, 64, io=True), Bar(6, 256 << 10)),
)


def _legacy_ports(serial_ports: tuple[bool, ...], parallel_ports: int) -> dict[int, int]:
    # The PIIX4 PM's device resource registers: which of LPT1, COM1 and COM2
    # the board has (QEMU sets them once the machine is ready).
    com1, com2 = (*serial_ports, False, False)[:2]
    return {
        0x5F: 0x10 | (0x80 if parallel_ports else 0),
        0x67: (0x08 if com1 else 0) | (0x90 if com2 else 0),
    }


def ram_layout(size: int) -> tuple[int, int]:
    """RAM below 4 GiB and above it, as the pc machine splits ``size`` bytes."""
    if size >= 0xE0000000:
        return 3 * _GiB, size - 3 * _GiB
    return size, 0


class PcBoard:
    """The board of one machine: address spaces, buses, devices and the object tree.

    ``host`` is the machine the devices report to; ``clock`` the virtual clock
    their timers run on; ``placement`` where the PCI ``-device`` functions go
    (:func:`place_pci_functions`, worked out here if not given).
    """

    def __init__(
        self,
        config: MachineConfig,
        host: BoardHost,
        clock: VirtualClock,
        placement: dict[int, int] | None = None,
    ) -> None:
        self.memory = AddressSpace("memory", 1 << 64, UnassignedMemory("unassigned", 1 << 64))
        self.io = AddressSpace("I/O", 0x10000, UnassignedIO("io", 0x10000))
        below, above = ram_layout(config.ram_size)
        self.ram = Ram("pc.ram", config.ram_size)
        self.memory.map(0, _RamWindow(self.ram, 0, below))
        if above:
            self.memory.map(4 * _GiB, _RamWindow(self.ram, below, above))
        self.pci = PciBus(self.memory, self.io)
        self.pci_host = PciHost(self.pci)
        self.pci_host.attach(self.io)
        self.reset_control = ResetControl(host)
        self.io.map(RESET_CONTROL_PORT, self.reset_control, priority=1)  # over 0xcf8's 4 bytes
        pci = self.pci
        pci.plug_kind(_I440FX, devfn(0, 0))
        pci.plug_kind(_PIIX3, devfn(1, 0), multifunction=True)
        pci.plug_kind(_PIIX3_IDE, devfn(1, 1))
        registers = _legacy_ports(config.serial_ports, config.parallel_ports)
        pci.plug_kind(_PIIX4_PM, devfn(1, 3), registers=registers)
        for wanted, kind in ((config.default_vga, _VGA), (config.default_nic, _E1000)):
            if wanted:
                free = pci.first_free_slot()
                assert free is not None
                pci.plug_kind(kind, free)

        #: The I/O APIC's inputs; the PIT's output is the first.
        self.ioapic_inputs = GpioList(None, IOAPIC_PINS)
        self.pit = PitChannel0(clock, self.ioapic_inputs.input(0))
        self._qom: QomNode | None = None

        #: The ``-device`` devices, in command-line order.
        self.devices: list[PvpanicDevice | Ib700] = []
        placed = place_pci_functions(config) if placement is None else placement
        for index, dev_config in enumerate(config.devices):
            dev: PvpanicDevice | Ib700
            if dev_config.driver == "ib700":
                dev = Ib700(clock, host, id=dev_config.id)
                self.io.map(dev.region.base, dev.region)
            else:
                dev = dev_config.create()
                dev.attach(host)
                if isinstance(dev, PvpanicISA):
                    self.io.map(dev.ioport, dev.region)
                else:
                    assert isinstance(dev, PvpanicPCI)
                    self.pci.plug(dev.function, placed[index])
            self.devices.append(dev)
        # Everything starts as a reset leaves it; the timer tick starts counting.
        self.pit.reset()

    @property
    def qom(self) -> QomNode:
        """The object tree, for tests that name devices (made when first asked for)."""
        if self._qom is None:
            self._qom = root = QomNode("")
            machine = root.add(QomNode("machine"))
            for name in ("unattached", "peripheral", "peripheral-anon"):
                machine.child(name)
            i440fx = machine.add(QomNode("i440fx", is_device=True))
            ioapic = i440fx.add(QomNode("ioapic", is_device=True))
            ioapic.gpios.append(self.ioapic_inputs)
            anonymous = 0
            for dev in self.devices:
                if dev.id is not None:
                    machine.child("peripheral").add(QomNode(dev.id, is_device=True))
                else:
                    node = QomNode(f"device[{anonymous}]", is_device=True)
                    machine.child("peripheral-anon").add(node)
                    anonymous += 1
        return self._qom

    def reset(self) -> None:
        """Reset every device (a system reset)."""
        self.reset_control.value = 0
        self.pci.reset()
        self.pit.reset()
        for dev in self.devices:
            if isinstance(dev, Ib700):
                dev.reset()


#: The PIIX3's reset control register.
RESET_CONTROL_PORT = 0xCF9
_RESET_CPU = 0x4
_SYSTEM_RESET = 0x2


class ResetControl(Region):
    """Port 0xcf9: writing bit 2 asks for a reset; bit 1 is kept and read back."""

    __slots__ = ("_host", "value")

    def __init__(self, host: BoardHost) -> None:
        super().__init__("piix-reset-control", 1, impl_min=1, impl_max=1)
        self._host = host
        self.value = 0

    def read(self, offset: int, size: int) -> int:
        return self.value

    def write(self, offset: int, value: int, size: int) -> None:
        if value & _RESET_CPU:
            self._host.request_reset(ShutdownCause.GUEST_RESET)
            return
        self.value = value & _SYSTEM_RESET


class _RamWindow(Ram):
    """A stretch of the machine's RAM, mapped at one address."""

    __slots__ = ("_offset", "_ram")

    def __init__(self, ram: Ram, offset: int, size: int) -> None:
        super().__init__(ram.name, size)
        self._ram = ram
        self._offset = offset

    def read_bytes(self, offset: int, length: int) -> bytes:
        return self._ram.read_bytes(self._offset + offset, length)

    def write_bytes(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        self._ram.write_bytes(self._offset + offset, data)

    def fill(self, offset: int, length: int, byte: int) -> None:
        self._ram.fill(self._offset + offset, length, byte)
