"""libvirt's ``<on_crash>`` policies, with a guest that panics through an ISA pvpanic.

For each of the five policies: the domain's state and reason at the end, the
events libvirt gives for the domain, and the QMP events and commands between
libvirt and the emulator (from libvirt's debug log), for the first crash, as
``expected.json`` records them for real QEMU 10.0.2.  What is compared is what
libvirt sees, in order; never how long anything took.  Real QEMU's guest
panics by itself; ``qapigen vm``'s is played through QMP (``libvirt_guests.py``):
it panics once the domain runs, and its firmware resets the machine again after
libvirt's reset, as SeaBIOS does.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..support.guest_images import GuestImages
from ..support.libvirt_domain import ON_CRASH, domain_xml, matches, qmp_summary
from ..support.libvirt_guests import Guest
from ..support.libvirtd import Libvirtd

EXPECTED = json.loads(Path(__file__).with_name("expected.json").read_text())

_EVENTS_TIMEOUT = 60.0
_GUEST_RAM = 64 << 20


def _dumps(libvirtd: Libvirtd) -> set[Path]:
    folder = libvirtd.host_path("/var/lib/libvirt/qemu/dump")
    return set(folder.iterdir()) if folder.is_dir() else set()


def _check_core(path: Path) -> None:
    """An ELF core file holding at least the guest's RAM (sparse or not).

    QEMU 10.0.2 writes an ELFCLASS64 core whose machine is EM_386 here: its
    x86 dump names the machine by the CPU's mode, and this guest never
    leaves real mode.
    """
    with open(path, "rb") as fp:
        header = fp.read(20)
    assert header[:4] == b"\x7fELF", header[:4]
    assert (header[4], header[5]) == (2, 1), "not ELFCLASS64, ELFDATA2LSB"
    e_type, e_machine = struct.unpack_from("<HH", header, 16)
    assert (e_type, e_machine) == (4, 3), (e_type, e_machine)  # ET_CORE, EM_386
    assert path.stat().st_size >= _GUEST_RAM


def _traffic_is(log: str, expected: dict[str, Any]) -> bool:
    """Whether the QMP events and commands in ``log`` are those ``expected``."""
    qmp_events, commands = qmp_summary(log, after_cont=True)
    return matches(qmp_events, expected["qmp_events"]) and matches(
        commands, expected["qmp_commands"]
    )


@pytest.mark.parametrize("policy", ON_CRASH)
def test_the_first_crash_ends_as_the_policy_says(
    libvirtd: Libvirtd,
    emulator: str,
    images: GuestImages,
    guest_of: Callable[[str], Guest],
    policy: str,
) -> None:
    expected = EXPECTED["on_crash"][policy]
    name = f"crash-{policy}"
    xml = libvirtd.root / f"{name}.xml"
    xml.write_text(domain_xml(name, emulator, images.panicking_once, policy))
    dumps = _dumps(libvirtd)
    with libvirtd.define_and_watch(xml) as events:
        offset = libvirtd.log_offset()
        libvirtd.virsh("start", name)
        guest = guest_of(name)
        guest.panic()
        if policy.endswith("restart"):  # libvirt resets the machine
            guest.firmware_reset()
        seen = events.collect(lambda e: matches(e, expected["events"]), _EVENTS_TIMEOUT)
        state = libvirtd.virsh("domstate", "--reason", name).strip()
        # Crashed Panicked comes of GUEST_PANICKED: the STOP QEMU's main loop sends
        # after it may not have reached libvirt yet.
        log = libvirtd.log_when(offset, lambda log: _traffic_is(log, expected), _EVENTS_TIMEOUT)
    new_dumps = _dumps(libvirtd) - dumps
    for dump in new_dumps:
        _check_core(dump)
        dump.unlink()  # libvirt wrote it for this test, in the session's folder
    assert matches(seen, expected["events"]), seen
    assert state == expected["state"]
    qmp_events, commands = qmp_summary(log, after_cont=True)
    assert matches(qmp_events, expected["qmp_events"]), qmp_events
    assert matches(commands, expected["qmp_commands"]), commands
    assert len(new_dumps) == (1 if expected.get("dump") else 0), new_dumps
