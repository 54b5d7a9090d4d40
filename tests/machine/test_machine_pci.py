"""PCI: configuration mechanism #1, the pc machine's functions, pvpanic-pci's
configuration space and BAR, placement by ``addr`` (QEMU's messages).

The values are QEMU 10.0.2's, observed through qtest; ``tests/qtest/test_qtest_qemu.py``
compares whole configuration spaces with a running QEMU.
"""

from __future__ import annotations

from typing import Any

import pytest

from qapigen.machine import CommandLine, ConfigError, Machine, PvpanicPCI
from qapigen.machine.pci import Bar

CF8, CFC = 0xCF8, 0xCFC


def make(*options: tuple[str, ...]) -> tuple[Machine, list[tuple[str, Any]]]:
    cl = CommandLine()
    for opt in options:
        getattr(cl, opt[0])(*opt[1:])
    machine = Machine(cl.build())
    events: list[tuple[str, Any]] = []
    machine.subscribe(lambda e, t: events.append((e.NAME, e.to_wire() if e.HAS_DATA else None)))
    return machine, events


class Config:
    """Configuration space through ports 0xcf8/0xcfc, as libqos's pc bus does it."""

    def __init__(self, machine: Machine, slot: int, function: int = 0) -> None:
        self.io = machine.io
        self.devfn = slot << 3 | function

    def _select(self, offset: int) -> None:
        self.io.write_int(CF8, 4, 1 << 31 | self.devfn << 8 | offset & 0xFC)

    def read(self, offset: int, size: int = 4) -> int:
        self._select(offset)
        return self.io.read_int(CFC + (offset & 3), size)

    def write(self, offset: int, value: int, size: int = 4) -> None:
        self._select(offset)
        self.io.write_int(CFC + (offset & 3), size, value)


def test_pvpanic_pci_configuration_space() -> None:
    """What issue 13 lists: ids, COMMAND's write mask, class and revision, a
    2-byte 32-bit memory BAR, QEMU's subsystem ids, no interrupt pin."""
    machine, _ = make(("device", "pvpanic-pci,addr=04.0"))
    cfg = Config(machine, 4)
    assert cfg.read(0x00) == 0x00111B36
    assert cfg.read(0x08) == 0x08800001
    assert cfg.read(0x2C) == 0x11001AF4
    assert cfg.read(0x3C) == 0
    cfg.write(0x04, 0xFFFF, 2)
    assert cfg.read(0x04, 2) == 0x0507
    cfg.write(0x10, 0xFFFFFFFF)
    assert cfg.read(0x10) == 0xFFFFFFFE
    for offset in (0x14, 0x18, 0x1C, 0x20, 0x24, 0x30):
        cfg.write(offset, 0xFFFFFFFF)
        assert cfg.read(offset) == 0, hex(offset)
    cfg.write(0x40, 0xA5A5A5A5)  # the function's own registers: plain, writable bytes
    assert cfg.read(0x40) == 0xA5A5A5A5


def test_bar_reaches_the_device_only_while_enabled() -> None:
    machine, events = make(("device", "pvpanic-pci,addr=04.0"), ("action", "panic=pause"))
    cfg = Config(machine, 4)
    cfg.write(0x10, 0xE0000000)
    assert machine.memory.read(0xE0000000, 1) == b"\0"  # memory decoding is off
    cfg.write(0x04, 0x0002, 2)
    assert machine.memory.read(0xE0000000, 2) == b"\x07\x07"
    assert machine.memory.read(0xE0000002, 1) == b"\0"  # past the BAR
    cfg.write(0x10, 0xF0000000)  # moved
    assert machine.memory.read(0xE0000000, 1) == b"\0"
    assert machine.memory.read(0xF0000000, 1) == b"\x07"
    machine.memory.write(0xF0000001, b"\x01")
    assert events == [("GUEST_PANICKED", {"action": "pause"}), ("STOP", None)]
    cfg.write(0x04, 0, 2)
    assert machine.memory.read(0xF0000000, 1) == b"\0"
    # A BAR at 0 is never mapped.
    cfg.write(0x10, 0)
    cfg.write(0x04, 0x0002, 2)
    assert machine.memory.read(0, 1) == b"\0"


def test_ram_hides_a_bar_under_it() -> None:
    machine, _ = make(("device", "pvpanic-pci,addr=04.0"))
    cfg = Config(machine, 4)
    machine.memory.write(0x100000, b"\x42")
    cfg.write(0x10, 0x100000)
    cfg.write(0x04, 0x0002, 2)
    assert machine.memory.read(0x100000, 1) == b"\x42"


def test_absent_functions_and_other_buses_read_all_ones() -> None:
    machine, _ = make()
    assert Config(machine, 5).read(0) == 0xFFFFFFFF
    assert Config(machine, 1, 2).read(0) == 0xFFFFFFFF
    machine.io.write_int(CF8, 4, 1 << 31 | 1 << 16)  # bus 1, 00.0
    assert machine.io.read_int(CFC, 4) == 0xFFFFFFFF
    machine.io.write_int(CF8, 4, 0)  # enable bit off
    assert machine.io.read_int(CFC, 4) == 0xFFFFFFFF
    assert machine.io.read_int(CF8, 4) == 0
    machine.io.write_int(CF8, 2, 0xFFFF)  # only a 4-byte write sets the address
    assert machine.io.read_int(CF8, 4) == 0


@pytest.mark.parametrize(
    ("options", "layout"),
    [
        (
            [],
            {
                (0, 0): 0x12378086,
                (1, 0): 0x70008086,
                (1, 1): 0x70108086,
                (1, 3): 0x71138086,
                (2, 0): 0x11111234,
                (3, 0): 0x100E8086,
            },
        ),
        ([("nodefaults",)], {(0, 0): 0x12378086, (2, 0): None, (3, 0): None}),
        ([("nographic",)], {(2, 0): 0x100E8086, (3, 0): None}),
        ([("vga", "none")], {(2, 0): 0x100E8086}),
        ([("nic", "none")], {(2, 0): 0x11111234, (3, 0): None}),
        ([("nodefaults",), ("vga", "std")], {(2, 0): 0x11111234, (3, 0): None}),
        ([("device", "pvpanic-pci")], {(4, 0): 0x00111B36}),
        ([("nodefaults",), ("device", "pvpanic-pci")], {(2, 0): 0x00111B36}),
        ([("device", "pvpanic-pci,addr=01.2")], {(1, 2): 0x00111B36, (4, 0): None}),
        (
            [("device", "pvpanic-pci,addr=5,multifunction=on"), ("device", "pvpanic-pci,addr=5.3")],
            {(5, 0): 0x00111B36, (5, 3): 0x00111B36},
        ),
    ],
)
def test_functions_are_where_qemu_puts_them(
    options: list[tuple[str, ...]], layout: dict[tuple[int, int], int | None]
) -> None:
    """The chipset always, the default VGA and NIC in the first free slots unless
    turned off, ``-device`` functions at ``addr`` or in the first free slot."""
    machine, _ = make(*options)
    for (slot, function), ids in layout.items():
        assert Config(machine, slot, function).read(0) == (0xFFFFFFFF if ids is None else ids)


def test_multifunction_bit() -> None:
    machine, _ = make(("device", "pvpanic-pci,addr=5,multifunction=on"))
    assert Config(machine, 5).read(0x0E, 1) == 0x80
    assert Config(machine, 1).read(0x0E, 1) == 0x80  # the PIIX3
    assert Config(machine, 0).read(0x0E, 1) == 0


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        (
            ["pvpanic-pci,addr=01.0"],
            "PCI: slot 1 function 0 not available for pvpanic-pci, in use by PIIX3,id=(null)",
        ),
        (
            ["pvpanic-pci,addr=00.0"],
            "PCI: slot 0 function 0 not available for pvpanic-pci, in use by i440FX,id=(null)",
        ),
        (
            ["pvpanic-pci,addr=02.0"],
            "PCI: slot 2 function 0 not available for pvpanic-pci, in use by VGA,id=(null)",
        ),
        (
            ["pvpanic-pci,addr=03.0"],
            "PCI: slot 3 function 0 not available for pvpanic-pci, in use by e1000,id=(null)",
        ),
        (
            ["pvpanic-pci,id=p1,addr=04.0", "pvpanic-pci,addr=04.0"],
            "PCI: slot 4 function 0 not available for pvpanic-pci, in use by pvpanic-pci,id=p1",
        ),
        (
            ["pvpanic-pci,addr=04.1", "pvpanic-pci,addr=04.0"],
            "PCI: 4.0 indicates single function, but 4.1 is already populated.",
        ),
        (
            ["pvpanic-pci,addr=04.0", "pvpanic-pci,addr=04.1"],
            "PCI: single function device can't be populated in function 4.1",
        ),
        (["pvpanic-pci,addr=zz"], "Property 'pvpanic-pci.addr' doesn't take value 'zz'"),
        (["pvpanic-pci,addr=32.0"], "Property 'pvpanic-pci.addr' doesn't take value '32.0'"),
        (["pvpanic-pci,addr=04.8"], "Property 'pvpanic-pci.addr' doesn't take value '04.8'"),
        (["pvpanic-pci,addr=4.0.0"], "Property 'pvpanic-pci.addr' doesn't take value '4.0.0'"),
        (["pvpanic-pci,addr=00:04.0"], "Property 'pvpanic-pci.addr' doesn't take value '00:04.0'"),
        (["pvpanic-pci,addr=-1"], "Property 'pvpanic-pci.addr' doesn't take value '-1'"),
        (["pvpanic-pci,addr="], "Property 'pvpanic-pci.addr' doesn't take value ''"),
        (["pvpanic-pci,multifunction=maybe"], "Parameter 'multifunction' expects 'on' or 'off'"),
        (["ib700,foo=1"], "Property 'ib700.foo' not found"),
    ],
)
def test_placement_errors(devices: list[str], message: str) -> None:
    """QEMU 10.0.2's messages, blamed on the ``-device`` that fails."""
    cl = CommandLine()
    for dev in devices:
        cl.device(dev)
    with pytest.raises(ConfigError) as info:
        cl.build()
    assert str(info.value) == f"-device {devices[-1]}: {message}"


@pytest.mark.parametrize("addr", ["4", "0x4", "04.0", "+4", "4.0x0", "0X4.0"])
def test_addr_spellings_qemu_accepts(addr: str) -> None:
    machine, _ = make(("nodefaults",), ("device", f"pvpanic-pci,addr={addr}"))
    assert Config(machine, 4).read(0) == 0x00111B36


def test_reset_clears_command_bars_and_line_but_not_the_rest() -> None:
    machine, _ = make(("device", "pvpanic-pci,addr=04.0"), ("device", "pvpanic"))
    cfg = Config(machine, 4)
    cfg.write(0x10, 0xE0000000)
    cfg.write(0x04, 0x0507, 2)
    cfg.write(0x0C, 0x10, 1)  # cache line size
    cfg.write(0x3C, 0x0B, 1)  # interrupt line
    cfg.write(0x44, 0x12345678)
    pm = Config(machine, 1, 3)
    pm.write(0x40, 0xB001)  # the PM base: a chipset register with a reset value
    machine.system_reset()
    assert cfg.read(0x04, 2) == 0
    assert cfg.read(0x10) == 0
    assert cfg.read(0x0C, 1) == 0 and cfg.read(0x3C, 1) == 0
    assert cfg.read(0x44) == 0x12345678
    assert pm.read(0x40) == 0x00000001
    assert machine.memory.read(0xE0000000, 1) == b"\0"


def test_status_error_bits_clear_on_write() -> None:
    machine, _ = make(("device", "pvpanic-pci,addr=04.0"))
    dev = machine.devices[0]
    assert isinstance(dev, PvpanicPCI)
    dev.function.config[0x07] = 0xF9  # the error bits set, as hardware would
    cfg = Config(machine, 4)
    cfg.write(0x06, 0x0100, 2)  # write 1 to clear bit 8 only
    assert cfg.read(0x06, 2) == 0xF800
    cfg.write(0x06, 0xFFFF, 2)
    assert cfg.read(0x06, 2) == 0


def test_config_access_widths_and_offsets() -> None:
    machine, _ = make(("device", "pvpanic-pci,addr=04.0"))
    cfg = Config(machine, 4)
    assert cfg.read(0x00, 1) == 0x36
    assert cfg.read(0x01, 1) == 0x1B
    assert cfg.read(0x02, 2) == 0x0011
    # A 4-byte read at 0xcfd: one byte at a time (aligned accesses), the last
    # past 0xcff unassigned.
    machine.io.write_int(CF8, 4, 1 << 31 | 4 << 11 | 0)
    assert machine.io.read_int(CFC + 1, 4) == 0xFF00111B


def test_programmatic_placement_is_checked() -> None:
    from qapigen.machine import MachineConfig, PvpanicConfig

    config = MachineConfig(devices=(PvpanicConfig(driver="pvpanic-pci", addr=0x08),))
    with pytest.raises(ConfigError) as info:
        Machine(config)
    assert "in use by PIIX3" in str(info.value)


@pytest.mark.parametrize("size", [0, 3, -4])
def test_bar_sizes_are_powers_of_two(size: int) -> None:
    with pytest.raises(ValueError):
        Bar(0, size)
