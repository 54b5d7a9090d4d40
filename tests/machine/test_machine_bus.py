"""The bus model: address spaces, device regions, RAM and port lists, split and
served the way QEMU's memory core does it."""

from __future__ import annotations

from qapigen.machine.bus import (
    PAGE,
    AddressSpace,
    Port,
    PortioList,
    Ram,
    Region,
    UnassignedIO,
    UnassignedMemory,
)


class Recorder(Region):
    """A device region that answers ``base + offset`` and records every access."""

    def __init__(self, size: int, **limits: int | bool) -> None:
        super().__init__("recorder", size, **limits)  # type: ignore[arg-type]
        self.accesses: list[tuple[str, int, int, int]] = []

    def read(self, offset: int, size: int) -> int:
        value = int.from_bytes(bytes(range(0x10 + offset, 0x10 + offset + size)), "little")
        self.accesses.append(("r", offset, size, value))
        return value

    def write(self, offset: int, value: int, size: int) -> None:
        self.accesses.append(("w", offset, size, value))


def io_space() -> AddressSpace:
    return AddressSpace("io", 0x10000, UnassignedIO("io", 0x10000))


def memory_space() -> AddressSpace:
    return AddressSpace("memory", 1 << 64, UnassignedMemory("unassigned", 1 << 64))


def test_unassigned_ports_read_all_ones_and_memory_zero() -> None:
    io, memory = io_space(), memory_space()
    assert io.read_int(0x1234, 1) == 0xFF
    assert io.read_int(0x1234, 2) == 0xFFFF
    assert io.read_int(0x1235, 4) == 0xFFFFFFFF
    assert memory.read(0xE0000000, 16) == bytes(16)
    io.write_int(0x1234, 4, 0)  # dropped, harmlessly
    memory.write(0x1000, b"\x01\x02")
    assert memory.read(0x1000, 2) == b"\0\0"


def test_an_access_is_not_cut_at_a_device_regions_end() -> None:
    """inl at a 1-byte register that takes byte accesses: four reads of it (QEMU's
    ISA pvpanic answers inl 0x505 with 0x07070707)."""
    io = io_space()
    reg = Recorder(1, impl_min=1, impl_max=1)
    io.map(0x505, reg)
    assert io.read_int(0x505, 4) == 0x13121110
    assert [(a, o, s) for a, o, s, _ in reg.accesses] == [
        ("r", 0, 1),
        ("r", 1, 1),
        ("r", 2, 1),
        ("r", 3, 1),
    ]
    reg.accesses.clear()
    io.write_int(0x505, 2, 0xBEEF)
    assert reg.accesses == [("w", 0, 1, 0xEF), ("w", 1, 1, 0xBE)]


def test_width_is_bounded_by_alignment_and_valid_size() -> None:
    memory = memory_space()
    dev = Recorder(16)  # takes up to 4 bytes, aligned
    memory.map(0x1000, dev)
    data = memory.read(0x1001, 8)
    # 1 byte to reach 2-alignment, 2 to reach 4-alignment, then 4, then the last 1.
    assert [(o, s) for _, o, s, _ in dev.accesses] == [(1, 1), (2, 2), (4, 4), (8, 1)]
    assert data == bytes(range(0x11, 0x19))
    dev.accesses.clear()
    wide = Recorder(16, valid_max=8, impl_max=8)
    memory.map(0x2000, wide)
    memory.read(0x2000, 16)
    assert [(o, s) for _, o, s, _ in wide.accesses] == [(0, 8), (8, 8)]


def test_unaligned_region_takes_accesses_as_they_come() -> None:
    memory = memory_space()
    dev = Recorder(16, unaligned=True)
    memory.map(0x1000, dev)
    memory.read(0x1001, 4)
    assert [(o, s) for _, o, s, _ in dev.accesses] == [(1, 4)]


def test_narrow_device_gets_several_accesses_little_endian() -> None:
    memory = memory_space()
    dev = Recorder(8, impl_min=2, impl_max=2)
    memory.map(0, dev)
    assert memory.read(0, 4) == bytes([0x10, 0x11, 0x12, 0x13])
    assert [(o, s) for _, o, s, _ in dev.accesses] == [(0, 2), (2, 2)]
    dev.accesses.clear()
    # A byte read of a device that implements 2-byte accesses: one 2-byte read, cut.
    assert memory.read(0, 1) == b"\x10"
    assert [(o, s) for _, o, s, _ in dev.accesses] == [(0, 2)]


def test_ram_is_cut_at_its_end_and_stores_only_written_pages() -> None:
    memory = memory_space()
    ram = Ram("ram", 2 * PAGE)
    memory.map(0, ram)
    memory.write(PAGE - 2, b"abcd")  # across a page boundary
    assert memory.read(PAGE - 3, 6) == b"\0abcd\0"
    memory.write(2 * PAGE - 1, b"xyz")  # the last two bytes fall past the RAM
    assert memory.read(2 * PAGE - 1, 3) == b"x\0\0"
    memory.fill(0, 2 * PAGE, 0)
    assert memory.read(0, 2 * PAGE) == bytes(2 * PAGE)
    assert ram.read_bytes(0, 16) == bytes(16)
    memory.write(0x10, bytes(64))  # zeros on a fresh page keep nothing
    assert not ram._pages


def test_fill_spans_ram_and_drops_the_rest() -> None:
    memory = memory_space()
    memory.map(0, Ram("ram", PAGE))
    memory.fill(PAGE - 4, 1 << 40, 0xAB)  # far past the RAM: quick, and dropped
    assert memory.read(PAGE - 6, 8) == b"\0\0" + b"\xab" * 4 + b"\0\0"


def test_higher_priority_wins_and_equal_priority_the_last_added() -> None:
    memory = memory_space()
    low = Recorder(0x100)
    high = Recorder(0x10)
    memory.map(0x1000, high, priority=1)
    memory.map(0x1000, low, priority=0)
    memory.read(0x1000, 1)
    assert high.accesses and not low.accesses
    a, b = Recorder(0x10), Recorder(0x10)
    memory.map(0x3000, a)
    memory.map(0x3000, b)
    memory.read(0x3000, 1)
    assert b.accesses and not a.accesses
    memory.unmap(b)
    memory.read(0x3000, 1)
    assert a.accesses
    assert memory.base_of(a) == 0x3000 and memory.base_of(b) is None


def test_past_the_io_space_nothing_decodes_and_memory_wraps() -> None:
    """QEMU: ``inw 0xffff`` is 0x00ff (port 0x10000 reads 0, not port 0); a memory
    read at the top of the 64-bit space goes on at address 0."""
    io = io_space()
    reg = Recorder(1, impl_min=1, impl_max=1)
    io.map(0, reg)
    assert io.read(0xFFFF, 2) == b"\xff\0"
    assert io.read_int(0xFFFE, 4) == 0x0000FFFF
    assert not reg.accesses
    memory = memory_space()
    memory.map(0, Ram("ram", PAGE))
    memory.write(0, b"\x55")
    assert memory.read((1 << 64) - 1, 2) == b"\0\x55"


def ib700_like(log: list[tuple[str, int, int]]) -> PortioList:
    return PortioList(
        "ports",
        0x441,
        (
            Port(0x441, 2, 1, write=lambda p, v: log.append(("disable", p, v))),
            Port(0x443, 2, 1, write=lambda p, v: log.append(("enable", p, v))),
            Port(0x443, 1, 2, read=lambda p: 0x1234),
        ),
    )


def test_port_list_serves_by_port_and_size() -> None:
    log: list[tuple[str, int, int]] = []
    io = io_space()
    io.map(0x441, ib700_like(log))
    io.write_int(0x443, 1, 0x0D)
    io.write_int(0x442, 1, 1)
    assert log == [("enable", 0x443, 0x0D), ("disable", 0x442, 1)]
    log.clear()
    # A 2-byte write with no 2-byte entry: two byte writes if the entry covers both.
    io.write_int(0x443, 2, 0x0201)
    assert log == [("enable", 0x443, 1), ("enable", 0x444, 2)]
    log.clear()
    io.write_int(0x444, 2, 0x0201)  # the second port is past the entry: one write
    assert log == [("enable", 0x444, 1)]
    log.clear()
    io.write_int(0x441, 4, 0xFFFFFFFF)  # no 4-byte entry, no split: dropped
    assert log == []
    # Reads: a 2-byte entry answers; no entry at all reads all-ones.
    assert io.read_int(0x443, 2) == 0x1234
    assert io.read_int(0x441, 1) == 0xFF
    assert io.read_int(0x441, 4) == 0xFFFFFFFF
