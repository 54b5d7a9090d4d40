"""What libvirt asks an emulator and how it runs it: the probe and a domain's start.

Checked against ``tests/support/data/libvirt-11.3.json``, the reviewed record of
libvirt 11.3 with real QEMU 10.0.2, which also says what an impersonation
profile must answer (tests/profiles).  The command line is compared with
what varies between starts replaced (``libvirt_domain.normalise``), so that
the simulator's can be compared with real QEMU's.
"""

from __future__ import annotations

import json
from typing import Any

from ..support.guest_images import GuestImages
from ..support.libvirt_domain import (
    command_lines,
    domain_xml,
    monitor_traffic,
    normalise,
    probe_questions,
    question,
)
from ..support.libvirtd import Libvirtd
from ..support.paths import REPO

LIBVIRT = json.loads((REPO / "tests" / "support" / "data" / "libvirt-11.3.json").read_text())


def test_the_probe_asks_what_the_reviewed_record_lists(libvirtd: Libvirtd, emulator: str) -> None:
    # Defining a domain makes libvirt probe the emulator, unless it has already.
    name = "probe"
    xml = libvirtd.root / f"{name}.xml"
    xml.write_text(domain_xml(name, emulator, libvirtd.root / "none.img"))
    with libvirtd.define_and_watch(xml):
        pass
    rounds = probe_questions(libvirtd.debug_log.read_text(), emulator)
    # The second round comes only where KVM is usable.
    assert list(rounds) in (["kvm:tcg"], ["kvm:tcg", "tcg"]), list(rounds)
    assert rounds["kvm:tcg"] == LIBVIRT["probe"]
    if "tcg" in rounds:
        assert rounds["tcg"] == LIBVIRT["probe_tcg"]


def _start_questions(log: str) -> dict[str, Any]:
    asked = [question(m) for m in monitor_traffic(log) if m.direction == "->"]
    end = asked.index(["cont"]) + 1
    asked = asked[:end]
    gets = [q for q in asked if q[0] == "qom-get"]
    first_get = asked.index(gets[0])
    paths = {q[1]["path"] for q in gets}
    return {
        "before_cpu": asked[: first_get - 1],
        "cpu": asked[first_get - 1 : first_get],
        "cpu_properties": sorted(q[1]["property"] for q in gets),
        "cpu_paths": sorted(paths),
        "after_cpu": asked[first_get + len(gets) :],
    }


def test_a_domain_starts_with_the_reviewed_command_line_and_questions(
    libvirtd: Libvirtd, emulator: str, images: GuestImages
) -> None:
    name = "start"
    xml = libvirtd.root / f"{name}.xml"
    xml.write_text(domain_xml(name, emulator, images.idle))
    with libvirtd.define_and_watch(xml) as events:
        offset = libvirtd.log_offset()
        libvirtd.virsh("start", name)
        events.wait_for("lifecycle: Started Booted")
        log = libvirtd.log_since(offset)
    starts = command_lines(libvirtd.domain_log(name))
    argv = normalise(starts[-1], emulator=emulator, image=images.idle, name=name)
    assert argv == LIBVIRT["command_line"]
    asked = _start_questions(log)
    expected = LIBVIRT["domain_start"]
    assert asked["cpu_paths"] == [expected["cpu"][0][1]["path"]]
    for part in ("before_cpu", "cpu", "cpu_properties", "after_cpu"):
        assert asked[part] == expected[part], part
