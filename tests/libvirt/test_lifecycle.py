"""libvirt's lifecycle actions on a running domain: start, shutdown, reboot, suspend,
resume, reset, destroy.

The guest halts and waits; each action's domain state and reason, libvirt's
events and the QMP traffic are compared with ``expected.json`` (real QEMU
10.0.2).  This guest does not answer ``system_powerdown``, so shutdown and
reboot change nothing (an event they caused would show in the next action's);
those with a guest that answers come with the simulator's (issue 14, item 5).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from ..support.guest_images import GuestImages
from ..support.libvirt_domain import domain_xml, matches, qmp_summary
from ..support.libvirtd import Libvirtd

EXPECTED = json.loads(Path(__file__).with_name("expected.json").read_text())

_EVENTS_TIMEOUT = 60.0


def test_start_shutdown_reboot_suspend_resume_reset_destroy(
    libvirtd: Libvirtd, emulator: str, images: GuestImages
) -> None:
    name = "lifecycle"
    xml = libvirtd.root / f"{name}.xml"
    xml.write_text(domain_xml(name, emulator, images.idle))
    observed = []
    with libvirtd.define_and_watch(xml) as events:
        for step in EXPECTED["lifecycle"]:
            offset = libvirtd.log_offset()
            libvirtd.virsh(step["action"], name)
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
