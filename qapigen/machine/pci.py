"""The PCI bus: functions with their configuration space, configuration
mechanism #1 (ports 0xcf8/0xcfc), and BARs mapped into the address spaces.

Configuration space follows QEMU's generic rules (``hw/pci/pci.c``): 256
bytes, of which the header's COMMAND (mask 0x0507), cache line size,
interrupt line and BARs, and every byte from 0x40 on, can be written; the
error bits of STATUS are cleared by writing 1s.  A BAR of ``size`` bytes has
the write mask ``~(size - 1)``, so writing all-ones and reading back tells
its size; it is mapped where it points while COMMAND enables its kind of
space, except at 0 or where it would wrap.  A reset clears COMMAND, the BAR
addresses, the interrupt line and the cache line size, and puts the chipset
functions' own registers (from 0x40 on) back to their reset values; a
generic function's bytes from 0x40 on keep what was written.

Reading a function that does not exist gives all-ones.
"""

from __future__ import annotations

from .bus import AddressSpace, Region

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterator

COMMAND = 0x04
STATUS = 0x06
CACHE_LINE_SIZE = 0x0C
HEADER_TYPE = 0x0E
BAR0 = 0x10
SUBSYSTEM_VENDOR_ID = 0x2C
ROM_ADDRESS = 0x30
INTERRUPT_LINE = 0x3C
INTERRUPT_PIN = 0x3D
#: Where the header ends and the function's own registers begin.
HEADER_SIZE = 0x40
CONFIG_SIZE = 0x100

COMMAND_IO = 0x1
COMMAND_MEMORY = 0x2
COMMAND_MASTER = 0x4
COMMAND_SERR = 0x100
COMMAND_INTX_DISABLE = 0x400
#: The COMMAND bits a generic function lets software set.
COMMAND_WMASK = COMMAND_IO | COMMAND_MEMORY | COMMAND_MASTER | COMMAND_SERR | COMMAND_INTX_DISABLE
#: The STATUS bits that writing 1 clears (parity, aborts, system error).
STATUS_W1C = 0x0100 | 0x0800 | 0x1000 | 0x2000 | 0x4000 | 0x8000

HEADER_TYPE_MULTI_FUNCTION = 0x80

#: QEMU's subsystem ids for every function it emulates (Red Hat, QEMU).
SUBSYSTEM_VENDOR = 0x1AF4
SUBSYSTEM = 0x1100

_IO = 0x1  # a BAR's space bit
_MEM_TYPE_64 = 0x4
_MEM_PREFETCH = 0x8
_ROM_ENABLE = 0x1
_UINT32 = 0xFFFFFFFF


def devfn(slot: int, function: int) -> int:
    """The 8-bit device/function number of ``slot``.``function``."""
    return slot << 3 | function


def format_devfn(number: int) -> str:
    """``SS.F``, as QEMU writes a function's address."""
    return f"{number >> 3:02x}.{number & 7:x}"


class Bar:
    """A base address register: its kind, size, and what it maps (if anything).

    ``region`` is what the function serves there; None for a BAR that can be
    sized and programmed but has nothing behind it in the simulator.
    """

    __slots__ = ("index", "io", "mapped_at", "prefetch", "region", "size")

    def __init__(
        self,
        index: int,
        size: int,
        *,
        io: bool = False,
        prefetch: bool = False,
        region: Region | None = None,
    ) -> None:
        if size & (size - 1) or size < 1:
            raise ValueError(f"a BAR's size is a power of two, not {size}")
        #: 0..5 for BAR0..BAR5, 6 for the expansion ROM.
        self.index = index
        self.size = size
        self.io = io
        self.prefetch = prefetch
        self.region = region
        #: Where it is mapped now, or None.
        self.mapped_at: int | None = None

    @property
    def offset(self) -> int:
        """Its register's offset in configuration space."""
        return ROM_ADDRESS if self.index == 6 else BAR0 + 4 * self.index

    @property
    def type_bits(self) -> int:
        """The read-only low bits of the register."""
        if self.index == 6:
            return 0
        if self.io:
            return _IO
        return _MEM_PREFETCH if self.prefetch else 0

    @property
    def wmask(self) -> int:
        """The register's writable bits."""
        mask = ~(self.size - 1) & _UINT32
        return mask | _ROM_ENABLE if self.index == 6 else mask


class PciKind:
    """What every function of one kind has: QEMU's name for it (``in use by
    NAME,id=...``), its ids, class (24 bits: class, subclass, programming
    interface), revision, status, interrupt pin, BARs (sizes and kinds), and
    the reset values of its own registers (from 0x40: offset -> byte)."""

    __slots__ = ("_template", "bars", "name", "registers")

    def __init__(
        self,
        name: str,
        *,
        vendor: int,
        device: int,
        revision: int = 0,
        class_code: int = 0,
        status: int = 0,
        interrupt_pin: int = 0,
        bars: tuple[Bar, ...] = (),
        registers: dict[int, int] | None = None,
    ) -> None:
        self.name = name
        self.bars = bars
        self.registers = {} if registers is None else registers
        self._template = (vendor, device, revision, class_code, status, interrupt_pin)

    def template(self) -> tuple[bytes, bytes]:
        """The configuration space after reset (without the registers) and the
        write mask, made once."""
        made = _TEMPLATES.get(self)
        if made is None:
            made = _TEMPLATES[self] = _template(*self._template, self.bars)
        return made


class PciFunction:
    """One PCI function of ``kind``: its configuration space and BARs.

    ``regions``: what the function serves behind its BARs, by BAR index;
    ``registers``: reset values of its own registers beyond the kind's.
    """

    def __init__(
        self,
        kind: PciKind,
        *,
        id: str | None = None,
        multifunction: bool = False,
        regions: dict[int, Region] | None = None,
        registers: dict[int, int] | None = None,
    ) -> None:
        self.name = kind.name
        #: The function's own registers (offset 0x40 on) that reset to other
        #: than 0: offset -> byte.
        self.registers = kind.registers if registers is None else kind.registers | registers
        #: The ``-device ...,id=`` (None for the machine's own functions).
        self.id = id
        regions = regions or {}
        self.bars = tuple(
            Bar(b.index, b.size, io=b.io, prefetch=b.prefetch, region=regions.get(b.index))
            for b in kind.bars
        )
        self.bus: PciBus | None = None
        self.devfn = -1
        config, self.wmask = kind.template()
        self.config = bytearray(config)
        if multifunction:
            self.config[HEADER_TYPE] |= HEADER_TYPE_MULTI_FUNCTION
        for offset, byte in self.registers.items():
            self.config[offset] = byte
        self.w1cmask = _W1CMASK

    @property
    def multifunction(self) -> bool:
        """Whether the function says its slot has other functions."""
        return bool(self.config[HEADER_TYPE] & HEADER_TYPE_MULTI_FUNCTION)

    @property
    def command(self) -> int:
        return int.from_bytes(self.config[COMMAND : COMMAND + 2], "little")

    def config_read(self, addr: int, length: int) -> int:
        """``length`` (1..4) bytes of configuration space from ``addr``, little-endian."""
        return int.from_bytes(self.config[addr : addr + length], "little")

    def config_write(self, addr: int, value: int, length: int) -> None:
        """Write ``length`` bytes at ``addr`` through the write masks."""
        config, wmask, w1c = self.config, self.wmask, self.w1cmask
        for i in range(length):
            byte = (value >> (8 * i)) & 0xFF
            at = addr + i
            config[at] = (config[at] & ~wmask[at] | byte & wmask[at]) & ~(byte & w1c[at])
        if (
            _overlaps(addr, length, BAR0, 24)
            or _overlaps(addr, length, ROM_ADDRESS, 4)
            or addr <= COMMAND < addr + length
        ):
            self.update_mappings()

    def reset(self) -> None:
        """A system reset: COMMAND, STATUS's writable bits, the interrupt line,
        the cache line size and the BAR addresses cleared, the registers of a
        function that has its own (the chipset's) back to their reset values;
        the rest kept."""
        config = self.config
        if self.registers:
            config[HEADER_SIZE:] = bytes(CONFIG_SIZE - HEADER_SIZE)
            for offset, byte in self.registers.items():
                config[offset] = byte
        for offset in (COMMAND, STATUS):
            clear = int.from_bytes(self.wmask[offset : offset + 2], "little") | int.from_bytes(
                self.w1cmask[offset : offset + 2], "little"
            )
            word = int.from_bytes(config[offset : offset + 2], "little") & ~clear
            config[offset : offset + 2] = word.to_bytes(2, "little")
        config[INTERRUPT_LINE] &= ~(self.wmask[INTERRUPT_LINE] | self.w1cmask[INTERRUPT_LINE])
        config[CACHE_LINE_SIZE] = 0
        for bar in self.bars:
            value = int.from_bytes(config[bar.offset : bar.offset + 4], "little") & ~bar.wmask
            config[bar.offset : bar.offset + 4] = value.to_bytes(4, "little")
        self.update_mappings()

    def bar_address(self, bar: Bar) -> int | None:
        """Where ``bar`` would be mapped now, or None (QEMU's pci_bar_address)."""
        command = self.command
        raw = int.from_bytes(self.config[bar.offset : bar.offset + 4], "little")
        if bar.io:
            if not command & COMMAND_IO:
                return None
            addr = raw & ~(bar.size - 1)
            last = addr + bar.size - 1
            if last <= addr or last >= _UINT32 or addr == 0:
                return None
            return addr
        if not command & COMMAND_MEMORY:
            return None
        if bar.index == 6 and not raw & _ROM_ENABLE:
            return None
        addr = raw & ~(bar.size - 1)
        last = addr + bar.size - 1
        if last <= addr or addr == 0 or last >= _UINT32:
            return None
        return addr

    def update_mappings(self) -> None:
        """Map or move each BAR where its register and COMMAND now say."""
        bus = self.bus
        for bar in self.bars:
            new = self.bar_address(bar)
            if new == bar.mapped_at:
                continue
            if bus is not None and bar.region is not None:
                space = bus.io if bar.io else bus.memory
                if bar.mapped_at is not None:
                    space.unmap(bar.region)
                if new is not None:
                    # Below RAM in memory (the PCI hole is under it), above
                    # the ports' background in I/O.
                    space.map(new, bar.region, priority=1 if bar.io else -1)
            bar.mapped_at = new

    def __repr__(self) -> str:
        where = format_devfn(self.devfn) if self.devfn >= 0 else "unplugged"
        return f"PciFunction({self.name!r} at {where})"


# A function's reset configuration and write mask depend only on its kind:
# made once per kind, copied (the configuration) or shared (the mask).
_TEMPLATES: dict[PciKind, tuple[bytes, bytes]] = {}
_W1CMASK = bytes(STATUS) + STATUS_W1C.to_bytes(2, "little") + bytes(CONFIG_SIZE - STATUS - 2)


def _template(
    vendor: int,
    device: int,
    revision: int,
    class_code: int,
    status: int,
    interrupt_pin: int,
    bars: tuple[Bar, ...],
) -> tuple[bytes, bytes]:
    config = bytearray(CONFIG_SIZE)
    config[0:2] = vendor.to_bytes(2, "little")
    config[2:4] = device.to_bytes(2, "little")
    config[STATUS : STATUS + 2] = status.to_bytes(2, "little")
    config[8] = revision
    config[9:12] = class_code.to_bytes(3, "little")
    config[SUBSYSTEM_VENDOR_ID : SUBSYSTEM_VENDOR_ID + 2] = SUBSYSTEM_VENDOR.to_bytes(2, "little")
    config[SUBSYSTEM_VENDOR_ID + 2 : SUBSYSTEM_VENDOR_ID + 4] = SUBSYSTEM.to_bytes(2, "little")
    config[INTERRUPT_PIN] = interrupt_pin
    wmask = bytearray(CONFIG_SIZE)
    wmask[COMMAND : COMMAND + 2] = COMMAND_WMASK.to_bytes(2, "little")
    wmask[CACHE_LINE_SIZE] = 0xFF
    wmask[INTERRUPT_LINE] = 0xFF
    wmask[HEADER_SIZE:] = b"\xff" * (CONFIG_SIZE - HEADER_SIZE)
    for bar in bars:
        config[bar.offset : bar.offset + 4] = bar.type_bits.to_bytes(4, "little")
        wmask[bar.offset : bar.offset + 4] = bar.wmask.to_bytes(4, "little")
    return bytes(config), bytes(wmask)


def _overlaps(addr: int, length: int, start: int, size: int) -> bool:
    return addr < start + size and start < addr + length


class PciBus:
    """Bus 0: its functions, by devfn; BARs map into ``memory`` and ``io``.

    A function plugged with :meth:`plug_kind` is made when first addressed:
    until then it is as a reset leaves it, and most machines never look.
    """

    def __init__(self, memory: AddressSpace, io: AddressSpace) -> None:
        self.memory = memory
        self.io = io
        self._functions: dict[int, PciFunction] = {}
        self._unmade: dict[int, tuple[PciKind, bool, dict[int, int] | None]] = {}

    def plug(self, function: PciFunction, number: int) -> None:
        """Put ``function`` at devfn ``number`` (the caller checked it is free)."""
        function.bus = self
        function.devfn = number
        self._functions[number] = function
        function.update_mappings()

    def plug_kind(
        self,
        kind: PciKind,
        number: int,
        *,
        multifunction: bool = False,
        registers: dict[int, int] | None = None,
    ) -> None:
        """Put a function of ``kind`` at devfn ``number``, made when first addressed."""
        self._unmade[number] = (kind, multifunction, registers)

    def function(self, number: int) -> PciFunction | None:
        """The function at devfn ``number``, or None."""
        found = self._functions.get(number)
        if found is None and number in self._unmade:
            kind, multifunction, registers = self._unmade.pop(number)
            found = PciFunction(kind, multifunction=multifunction, registers=registers)
            self.plug(found, number)
        return found

    def first_free_slot(self) -> int | None:
        """The devfn of the first slot whose function 0 is free (QEMU's default ``addr``)."""
        for number in range(0, 256, 8):
            if number not in self._functions and number not in self._unmade:
                return number
        return None

    def __iter__(self) -> Iterator[PciFunction]:
        for number in sorted({*self._functions, *self._unmade}):
            found = self.function(number)
            assert found is not None
            yield found

    def reset(self) -> None:
        """Reset every function (those not made yet are as a reset leaves them)."""
        for function in self._functions.values():
            function.reset()

    def config_read(self, address: int, length: int) -> int:
        """A configuration read: ``address`` is bus << 16 | devfn << 8 | register."""
        function = self._find(address)
        register = address & (CONFIG_SIZE - 1)
        if function is None or length > 4:
            return _UINT32
        return function.config_read(register, min(length, CONFIG_SIZE - register))

    def config_write(self, address: int, value: int, length: int) -> None:
        """A configuration write (see :meth:`config_read`)."""
        function = self._find(address)
        register = address & (CONFIG_SIZE - 1)
        if function is None or length > 4:
            return
        function.config_write(register, value, min(length, CONFIG_SIZE - register))

    def _find(self, address: int) -> PciFunction | None:
        if (address >> 16) & 0xFF:
            return None  # there is no bus behind bus 0
        return self.function((address >> 8) & 0xFF)


#: The configuration mechanism's ports.
CONFIG_ADDRESS_PORT = 0xCF8
CONFIG_DATA_PORT = 0xCFC
_ENABLE = 1 << 31


class PciHost:
    """Configuration mechanism #1: the address register at 0xcf8 and the
    data window at 0xcfc (each a 4-byte region of the I/O space)."""

    def __init__(self, bus: PciBus) -> None:
        self.bus = bus
        #: The value last written to 0xcf8 with a 4-byte write.
        self.config_address = 0
        self.address_region = _ConfigAddress(self)
        self.data_region = _ConfigData(self)

    def attach(self, io: AddressSpace) -> None:
        """Map both registers in ``io``."""
        io.map(CONFIG_ADDRESS_PORT, self.address_region)
        io.map(CONFIG_DATA_PORT, self.data_region)


class _ConfigAddress(Region):
    __slots__ = ("_host",)

    def __init__(self, host: PciHost) -> None:
        super().__init__("pci-conf-idx", 4)
        self._host = host

    def read(self, offset: int, size: int) -> int:
        return self._host.config_address  # whatever the offset, as QEMU does

    def write(self, offset: int, value: int, size: int) -> None:
        if offset == 0 and size == 4:  # only a full write sets it
            self._host.config_address = value


class _ConfigData(Region):
    __slots__ = ("_host",)

    def __init__(self, host: PciHost) -> None:
        super().__init__("pci-conf-data", 4)
        self._host = host

    def read(self, offset: int, size: int) -> int:
        address = self._host.config_address
        if not address & _ENABLE:
            return _UINT32
        return self._host.bus.config_read(address | (offset & 3), size)

    def write(self, offset: int, value: int, size: int) -> None:
        address = self._host.config_address
        if address & _ENABLE:
            self._host.bus.config_write(address | (offset & 3), value, size)
