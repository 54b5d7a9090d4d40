"""libvirt's lifecycle actions on a running domain: start, shutdown, reboot, suspend,
resume, reset, destroy.

Each action's domain state and reason, libvirt's events and the QMP traffic
are compared with ``expected.json`` (real QEMU 10.0.2), for two guests: one
that halts and never answers the power button (shutdown and reboot then
change nothing, and an event they caused would show in the next action's),
and one that answers it and powers the machine off (``guest_images.py``'s
``answering_power_button``, on a machine with ACPI), so that shutdown shuts
the domain off and reboot restarts it.  ``qapigen vm``'s guest is played
through QMP (``libvirt_guests.py``) where real QEMU's acts by itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..support.guest_images import GuestImages
from ..support.libvirt_domain import domain_xml, matches, qmp_summary
from ..support.libvirt_guests import Guest
from ..support.libvirtd import Libvirtd

EXPECTED = json.loads(Path(__file__).with_name("expected.json").read_text())

_EVENTS_TIMEOUT = 60.0

# What the guest does around each action: before it (untraced) and after it
# (as real QEMU's guests do by themselves).
Actions = dict[str, list[Callable[[], None]]]
Reactions = Callable[[Guest], tuple[Actions, Actions]]


def _halting_guest(guest: Guest) -> tuple[Actions, Actions]:
    return {}, {"reset": [guest.firmware_reset]}


def _answering_guest(guest: Guest) -> tuple[Actions, Actions]:
    before: Actions = {
        "shutdown": [guest.await_power_button],
        "reboot": [guest.await_power_button],
    }
    after: Actions = {
        "shutdown": [guest.answer_power_button],
        "reboot": [guest.answer_power_button, guest.firmware_reset],
        "reset": [guest.firmware_reset],
    }
    return before, after


def _run_and_compare(
    libvirtd: Libvirtd, xml: Path, guest: Guest, steps: list[dict[str, Any]], reactions: Reactions
) -> None:
    """Take the domain of ``xml`` through ``steps``; compare what each showed."""
    name = xml.stem
    before, after = reactions(guest)
    observed = []
    with libvirtd.define_and_watch(xml) as events:
        for step in steps:
            for prepare in before.get(step["action"], []):
                prepare()
            offset = libvirtd.log_offset()
            libvirtd.virsh(step["action"], name)
            for react in after.get(step["action"], []):
                react()
            seen = events.collect(partial(matches, pattern=step["events"]), _EVENTS_TIMEOUT)
            state = libvirtd.virsh("domstate", "--reason", name).strip()
            qmp_events, commands = qmp_summary(
                libvirtd.log_since(offset), after_cont=step["action"] == "start"
            )
            observed.append((step, seen, state, qmp_events, commands))
    for step, seen, state, qmp_events, commands in observed:
        action = step["action"]
        assert matches(seen, step["events"]), (action, seen)
        assert state == step["state"], action
        assert matches(qmp_events, step["qmp_events"]), (action, qmp_events)
        assert matches(commands, step["qmp_commands"]), (action, commands)


def test_start_shutdown_reboot_suspend_resume_reset_destroy(
    libvirtd: Libvirtd, emulator: str, images: GuestImages, guest_of: Callable[[str], Guest]
) -> None:
    name = "lifecycle"
    xml = libvirtd.root / f"{name}.xml"
    xml.write_text(domain_xml(name, emulator, images.idle))
    _run_and_compare(libvirtd, xml, guest_of(name), EXPECTED["lifecycle"], _halting_guest)


def test_shutdown_and_reboot_when_the_guest_answers_the_power_button(
    libvirtd: Libvirtd, emulator: str, images: GuestImages, guest_of: Callable[[str], Guest]
) -> None:
    name = "power-button"
    xml = libvirtd.root / f"{name}.xml"
    xml.write_text(domain_xml(name, emulator, images.answering_power_button, acpi=True))
    steps = EXPECTED["lifecycle_guest_answers"]
    _run_and_compare(libvirtd, xml, guest_of(name), steps, _answering_guest)
