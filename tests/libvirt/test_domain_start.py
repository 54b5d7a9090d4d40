"""What libvirt asks an emulator and how it runs it: the probe and a domain's start.

Checked against ``tests/support/data/libvirt-11.3.json``, the reviewed record of
libvirt 11.3 with real QEMU 10.0.2, which also says what an impersonation
profile must answer (tests/profiles).  The command line is compared with
what varies between starts replaced (``libvirt_domain.normalise``), so that
the simulator's can be compared with real QEMU's.
"""

from __future__ import annotations

import json
from pathlib import Path
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


def _started_command_line(libvirtd: Libvirtd, emulator: str, image: Path, name: str) -> list[str]:
    """The command line libvirt ran ``emulator`` with for domain ``name``, normalised."""
    xml = libvirtd.root / f"{name}.xml"
    xml.write_text(domain_xml(name, emulator, image))
    with libvirtd.define_and_watch(xml) as events:
        libvirtd.virsh("start", name)
        events.wait_for("lifecycle: Started Booted")
    return normalise(
        command_lines(libvirtd.domain_log(name))[-1], emulator=emulator, image=image, name=name
    )


def test_libvirt_writes_the_same_command_line_for_qapigen_vm_as_for_real_qemu(
    libvirtd: Libvirtd, real_qemu: str, qapigen_vm: str, images: GuestImages
) -> None:
    # The same domain, one after the other: what libvirt writes follows from
    # what the probe found, so the two agree only if the emulators answered alike.
    name = "same-command-line"
    theirs = _started_command_line(libvirtd, real_qemu, images.idle, name)
    ours = _started_command_line(libvirtd, qapigen_vm, images.idle, name)
    assert ours == theirs
