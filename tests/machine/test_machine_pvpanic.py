"""The pvpanic device: reads, the decoding of every written byte (facts 4, 5),
the ISA port, the PCI BAR and the ACPI methods."""

from __future__ import annotations

from typing import Any

import pytest

from qapigen import simulator_api
from qapigen.machine import (
    PVPANIC_EVENTS,
    CommandLine,
    Machine,
    MachineConfig,
    PvpanicBit,
    PvpanicConfig,
    PvpanicISA,
    PvpanicPCI,
    decode_pvpanic_write,
)
from qapigen.runtime import Dispatcher, QMPError

Events = list[tuple[str, dict[str, Any] | None]]


def make(*options: tuple[str, ...], log: list[str] | None = None) -> tuple[Machine, Events]:
    """A machine from command-line options, and the list its events go to."""
    cl = CommandLine()
    for opt in options:
        getattr(cl, opt[0])(*opt[1:])
    machine = Machine(cl.build(), guest_error_log=log.append if log is not None else None)
    events: Events = []
    machine.subscribe(lambda e, t: events.append((e.NAME, e.to_wire() if e.HAS_DATA else None)))
    return machine, events


def expected_bit(value: int) -> PvpanicBit | None:
    """Fact 5, spelt out: bit 0 wins, then bit 1, then bit 2; the rest is ignored."""
    if value in (1, 3, 0xFF) or value & 1:
        return PvpanicBit.PANICKED
    if value in (2, 6) or value & 2:
        return PvpanicBit.CRASH_LOADED
    if value == 4 or value & 4:
        return PvpanicBit.SHUTDOWN
    assert value & 7 == 0  # 0, 8, ...: nothing
    return None


@pytest.mark.parametrize("value", range(256))
def test_decode_every_byte(value: int) -> None:
    assert decode_pvpanic_write(value) is expected_bit(value)


_DEFAULT: dict[PvpanicBit | None, tuple[Events, str | None, int | None]] = {
    PvpanicBit.PANICKED: (
        [
            ("GUEST_PANICKED", {"action": "poweroff"}),
            ("SHUTDOWN", {"guest": True, "reason": "guest-panic"}),
        ],
        None,
        0,
    ),
    PvpanicBit.CRASH_LOADED: ([("GUEST_CRASHLOADED", {"action": "run"})], "running", None),
    PvpanicBit.SHUTDOWN: (
        [("GUEST_PVSHUTDOWN", None), ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})],
        None,
        0,
    ),
    None: ([], "running", None),
}
_NO_SHUTDOWN: dict[PvpanicBit | None, tuple[Events, str | None, int | None]] = {
    PvpanicBit.PANICKED: (
        [("GUEST_PANICKED", {"action": "pause"}), ("STOP", None)],
        "guest-panicked",
        None,
    ),
    PvpanicBit.CRASH_LOADED: ([("GUEST_CRASHLOADED", {"action": "run"})], "running", None),
    PvpanicBit.SHUTDOWN: (
        [
            ("GUEST_PVSHUTDOWN", None),
            ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}),
            ("STOP", None),
        ],
        "shutdown",
        None,
    ),
    None: ([], "running", None),
}


@pytest.mark.parametrize("no_shutdown", [False, True], ids=["default", "no-shutdown"])
@pytest.mark.parametrize("value", range(256))
def test_every_byte_through_the_machine(value: int, no_shutdown: bool) -> None:
    """Each written byte gives fact 5's events, state and exit, and the
    guest-error log QEMU writes (unknown bits, "Guest crashed")."""
    options: list[tuple[str, ...]] = [("device", "pvpanic")]
    if no_shutdown:
        options.append(("no_shutdown",))
    log: list[str] = []
    machine, events = make(*options, log=log)
    machine.guest.io_write(0x505, value)
    table = _NO_SHUTDOWN if no_shutdown else _DEFAULT
    want_events, want_status, want_exit = table[expected_bit(value)]
    assert events == want_events
    assert machine.exit_status == want_exit
    if want_status is not None:
        assert machine.status.value == want_status
    want_log = f"pvpanic: unknown event {value:#x}.\n" if value & ~7 else ""
    want_log += _LOGGED.get(expected_bit(value), "")
    assert "".join(log) == want_log


_LOGGED: dict[PvpanicBit | None, str] = {
    PvpanicBit.PANICKED: "Guest crashed",
    PvpanicBit.CRASH_LOADED: "Guest crash loaded",
}


def test_unknown_bits_are_logged_once() -> None:
    """QEMU logs only the first write with unknown bits (fact 5's 0x8 line)."""
    log: list[str] = []
    machine, events = make(("device", "pvpanic"), log=log)
    for value in (8, 0x10, 0x18):
        machine.guest.pvpanic_write(value)
    assert events == []
    assert log == ["pvpanic: unknown event 0x8.\n"]


@pytest.mark.parametrize("events_prop", [0, 1, 2, 4, 7, 0x80, 0xFF])
def test_events_property_only_changes_reads(events_prop: int) -> None:
    """Fact 4: ``events`` is what a read returns; writes decode the same."""
    machine, events = make(("device", f"pvpanic,events={events_prop}"))
    assert machine.guest.pvpanic_read() == events_prop
    assert machine.guest.io_read(0x505) == events_prop
    machine.guest.pvpanic_write(2)
    assert events == [("GUEST_CRASHLOADED", {"action": "run"})]


def test_default_reads() -> None:
    """Fact 4: 0x07 from the ISA port and from the PCI BAR."""
    machine, _ = make(("device", "pvpanic"))
    assert machine.guest.io_read(0x505) == 0x07 == PVPANIC_EVENTS
    machine, _ = make(("device", "pvpanic-pci"))
    assert machine.guest.pvpanic_read() == 0x07
    dev = machine.devices[0]
    assert isinstance(dev, PvpanicPCI)
    assert dev.read_bar(0) == dev.read_bar(1) == 0x07
    with pytest.raises(ValueError):
        dev.read_bar(2)


def test_isa_port_is_configurable_and_other_ports_are_open_bus() -> None:
    """``ioport`` moves the register; ports nothing decodes read 0xff and drop writes."""
    machine, events = make(("device", "pvpanic,ioport=0x600"))
    assert machine.guest.io_read(0x505) == 0xFF
    machine.guest.io_write(0x505, 1)
    assert events == []
    assert machine.guest.io_read(0x600) == 7
    machine.guest.io_write(0x600, 2)
    assert events == [("GUEST_CRASHLOADED", {"action": "run"})]
    # The PCI device has no port at all.
    machine, events = make(("device", "pvpanic-pci"))
    machine.guest.io_write(0x505, 1)
    assert events == []
    assert machine.guest.io_read(0x505) == 0xFF


def test_acpi_methods_are_the_port() -> None:
    """RDPT and WRPT read and write the same register as the port."""
    machine, events = make(("device", "pvpanic,events=5"), ("no_shutdown",))
    dev = machine.devices[0]
    assert isinstance(dev, PvpanicISA)
    assert dev.ACPI_HID == "QEMU0001"
    assert dev.acpi_rdpt() == machine.guest.io_read(0x505) == 5
    dev.acpi_wrpt(1)
    assert events == [("GUEST_PANICKED", {"action": "pause"}), ("STOP", None)]


def test_pci_variant_acts_like_isa() -> None:
    """Fact 6: pvpanic-pci with value 1: exits by default, pauses under -no-shutdown."""
    machine, events = make(("device", "pvpanic-pci"))
    dev = machine.devices[0]
    assert isinstance(dev, PvpanicPCI)
    assert (dev.VENDOR_ID, dev.DEVICE_ID) == (0x1B36, 0x0011)
    machine.guest.pvpanic_write(1)
    assert machine.exit_status == 0
    assert events[-1] == ("SHUTDOWN", {"guest": True, "reason": "guest-panic"})
    machine, events = make(("device", "pvpanic-pci"), ("no_shutdown",))
    dev = machine.devices[0]
    assert isinstance(dev, PvpanicPCI)
    dev.write_bar(1, offset=1)
    assert machine.status is simulator_api.RunState.GUEST_PANICKED
    machine.cont()
    assert machine.running


def test_several_devices_are_named_by_id() -> None:
    """With several devices the guest commands need ``device``; ids are checked."""
    config = MachineConfig(
        devices=(
            PvpanicConfig(id="isa", events=1),
            PvpanicConfig(driver="pvpanic-pci", id="pci", events=2),
            PvpanicConfig(driver="pvpanic-pci"),
        )
    )
    machine = Machine(config)
    d = Dispatcher(simulator_api.COMMANDS, machine)
    assert d.dispatch("x-guest-pvpanic-read", {"device": "isa"}) == {"value": 1}
    assert d.dispatch("x-guest-pvpanic-read", {"device": "pci"}) == {"value": 2}
    with pytest.raises(QMPError) as info:
        d.dispatch("x-guest-pvpanic-read", {})
    assert info.value.error_class == "GenericError"
    with pytest.raises(QMPError) as info:
        d.dispatch("x-guest-pvpanic-write", {"value": 1, "device": "nope"})
    assert info.value.to_wire() == {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}
    # No device at all.
    with pytest.raises(QMPError) as info:
        Machine().guest.pvpanic_read()
    assert info.value.desc == "The machine has no pvpanic device"


def test_register_is_a_byte() -> None:
    machine, _ = make(("device", "pvpanic"))
    for bad in (-1, 256):
        with pytest.raises(ValueError):
            machine.guest.pvpanic_write(bad)
        with pytest.raises(ValueError):
            machine.guest.io_write(0x505, bad)
    with pytest.raises(ValueError):
        machine.guest.io_read(0x10000)
    with pytest.raises(ValueError):
        PvpanicISA(events=0x100)
    # Through QMP the decoder checks the ranges, with QEMU's messages.
    d = Dispatcher(simulator_api.COMMANDS, machine)
    with pytest.raises(QMPError) as info:
        d.dispatch("x-guest-pvpanic-write", {"value": 256})
    assert info.value.desc == "Parameter 'value' expects uint8_t"
    with pytest.raises(QMPError) as info:
        d.dispatch("x-guest-io-read", {"port": 65536})
    assert info.value.desc == "Parameter 'port' expects uint16_t"


def test_a_device_on_no_machine_decodes_to_nobody() -> None:
    dev = PvpanicISA()
    dev.write(1)  # nothing attached: nothing happens
    assert dev.read() == 7
