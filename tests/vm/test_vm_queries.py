"""What the machine's queries read back of the command line, side by side with
real QEMU 10.0.2 started with the same options: the replies' bytes must be
QEMU's, but for the vCPUs' host thread ids (each vCPU's own thread in both,
but thread ids differ between any two processes: what holds of them is
checked apart) and paths of the temporary folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qapigen.profiles import libvirt

from ..support.qemu import QMPProcess, RawQMP, pair

_THREAD_ID = re.compile(rb'"thread-id": \d+, "props"')


def _normal(line: bytes) -> bytes:
    return _THREAD_ID.sub(b'"thread-id": <TID>, "props"', line)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="qapigen-queries-"))
    (path / "disk.img").write_bytes(bytes(512))
    (path / "other.img").write_bytes(bytes(4096))
    (path / "master-key.aes").write_bytes(bytes(32))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _session(
    options: list[str], commands: list[dict[str, object]]
) -> Iterator[tuple[list[bytes], list[bytes]]]:
    for qemu, ours in pair(options):
        yield _ask(qemu, commands), _ask(ours, commands)


def _ask(process: QMPProcess, commands: list[dict[str, object]]) -> list[bytes]:
    conn: RawQMP = process.connect()
    try:
        conn.command(b'{"execute": "qmp_capabilities"}\n')
        return [_normal(conn.command(json.dumps(c).encode() + b"\n")) for c in commands]
    finally:
        conn.close()


def _libvirt_options(folder: Path) -> list[str]:
    """libvirt's domain command line, but for its monitor (the pair adds -qmp)."""
    values = {
        "<NAME>": "t",
        "<DOMAIN_DIR>": str(folder),
        "<UUID>": "00000000-0000-4000-8000-000000000000",
        "<IMAGE>": str(folder / "disk.img"),
    }
    options = []
    argv = list(libvirt.DOMAIN_ARGV[1:])
    skip = {"-chardev", "-mon", "-display", "-nodefaults"}  # the pair's own, or the monitor
    i = 0
    while i < len(argv):
        if argv[i] in skip:
            i += 1 if argv[i] == "-nodefaults" else 2
            continue
        arg = argv[i]
        for key, value in values.items():
            arg = arg.replace(key, value)
        options.append(arg)
        i += 1
    return options


def _cpu_questions() -> list[dict[str, object]]:
    """libvirt's questions about the vCPU: its properties, then each bool one's value."""
    from qapigen.profiles import profile

    path = "/machine/unattached/device[0]"
    listed = profile.default().reply("qom-list", {"path": path}, session="domain")
    assert listed is not None and isinstance(listed.value, list)
    names = [p["name"] for p in listed.value if p["type"] == "bool"]
    names += [*libvirt.CPU_EXTRA_PROPERTIES, "type"]
    questions: list[dict[str, object]] = [{"execute": "qom-list", "arguments": {"path": path}}]
    for name in names:
        questions.append({"execute": "qom-get", "arguments": {"path": path, "property": name}})
    return questions


def test_libvirts_domain_start_questions_get_qemus_answers(folder: Path) -> None:
    """What libvirt asks once it has started a domain, answered as QEMU answers
    it for the same command line (the vCPU's properties from the profile)."""
    commands: list[dict[str, object]] = [
        {"execute": "query-hotpluggable-cpus"},
        {"execute": "query-cpus-fast"},
        *_cpu_questions(),
        {"execute": "query-named-block-nodes", "arguments": {"flat": True}},
        {"execute": "qom-list", "arguments": {"path": "/machine/peripheral"}},
        {"execute": "query-block"},
    ]
    for qemu, ours in _session(_libvirt_options(folder), commands):
        assert ours == qemu


TOPOLOGIES = [
    ["-smp", "2,maxcpus=4"],
    ["-smp", "4,sockets=2"],
    ["-smp", "8,sockets=2,dies=2,threads=2"],
    ["-smp", "4,modules=2,cores=1,threads=2"],
    ["-smp", "cpus=1,maxcpus=3"],
    ["-smp", "1", "-smp", "threads=2,maxcpus=4"],
    ["-machine", "q35", "-smp", "3"],
]


@pytest.mark.parametrize("options", TOPOLOGIES, ids=" ".join)
def test_vcpus_of_smp_as_qemu_lists_them(options: list[str]) -> None:
    """query-cpus-fast and query-hotpluggable-cpus for -smp's topology, and the
    vCPUs' QOM paths answer qom-get."""
    commands: list[dict[str, object]] = [
        {"execute": "query-cpus-fast"},
        {"execute": "query-hotpluggable-cpus"},
        {
            "execute": "qom-get",
            "arguments": {"path": "/machine/unattached/device[0]", "property": "type"},
        },
    ]
    if "-machine" not in options:
        options = ["-machine", "pc", *options]
    for qemu, ours in _session([*options, "-S"], commands):
        assert ours == qemu


DEVICES = [
    ["-device", "ib700,id=b", "-device", "pvpanic,id=a", "-device", "pvpanic-pci"],
    ["-device", '{"driver":"pvpanic","id":"panic"}', "-device", "ib700,id=watchdog0"],
    [f"-device=pvpanic-pci,id=p{n}" for n in range(12)],
    ["-device", "pvpanic-pci", "-device", "pvpanic-pci", "-device", "pvpanic-pci,id=x"],
    # QEMU makes the key=value devices first, then the JSON ones.
    ["-device", '{"driver":"pvpanic-pci"}', "-device", "pvpanic-pci,id=kv", "-device", "ib700"],
]


@pytest.mark.parametrize("devices", DEVICES, ids=" ".join)
def test_peripherals_listed_in_qemus_order(devices: list[str]) -> None:
    """qom-list /machine/peripheral (and -anon): the -device ids in QEMU's order."""
    options: list[str] = []
    for item in devices:
        options += item.split("=", 1) if item.startswith("-device=") else [item]
    commands: list[dict[str, object]] = [
        {"execute": "qom-list", "arguments": {"path": "/machine/peripheral"}},
        {"execute": "qom-list", "arguments": {"path": "/machine/peripheral-anon"}},
        {"execute": "qom-get", "arguments": {"path": "/machine/peripheral", "property": "type"}},
        {
            "execute": "qom-get",
            "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "type"},
        },
        {"execute": "qom-get", "arguments": {"path": "/machine/peripheral/a", "property": "x"}},
        {"execute": "qom-list", "arguments": {"path": "/nosuch"}},
    ]
    for qemu, ours in _session(["-machine", "pc", *options, "-S"], commands):
        assert ours == qemu


BLOCK = [
    ["-machine", "pc"],
    ["-machine", "pc", "-smp", "3"],
    ["-machine", "q35"],
    ["-machine", "none"],
    ["-machine", "pc", "-nodefaults"],
    [
        "-machine",
        "pc",
        "-nodefaults",
        "-blockdev",
        '{"driver":"file","filename":"<F>/disk.img","node-name":"a","read-only":false}',
        "-blockdev",
        "driver=file,filename=<F>/other.img,node-name=b",
        "-device",
        '{"driver":"ide-hd","drive":"b"}',
        "-device",
        "ide-hd,drive=a,id=disk",
    ],
]


@pytest.mark.parametrize("options", BLOCK, ids=" ".join)
def test_block_devices_as_qemu_lists_them(options: list[str], folder: Path) -> None:
    """query-block (default drives, the devices' nodes) and query-named-block-nodes."""
    commands: list[dict[str, object]] = [
        {"execute": "query-block"},
        {"execute": "query-named-block-nodes"},
        {"execute": "query-named-block-nodes", "arguments": {"flat": True}},
        {"execute": "query-cpus-fast"},
    ]
    options = [o.replace("<F>", str(folder)) for o in options]
    for qemu, ours in _session([*options, "-S"], commands):
        assert ours == qemu


_DEVICE_PROPERTIES = {
    "pvpanic": ["ioport", "events", "pvpanic[0]"],
    "ib700": ["ib700[0]"],
    "pvpanic-pci": [
        "failover_pair_id",
        "romfile",
        "x-pcie-ext-tag",
        "addr",
        "romsize",
        "x-pcie-lnksta-dllla",
        "rombar",
        "x-max-bounce-buffer-size",
        "x-pcie-ari-nextfn-1",
        "x-pcie-err-unc-mask",
        "x-pcie-extcap-init",
        "busnr",
        "acpi-index",
        "multifunction",
        "legacy-addr",
        "events",
        "pvpanic[0]",
        "bus master[0]",
        "bus master container[0]",
    ],
}
SIMULATED_DEVICES = [
    (["-machine", "pc"], [("pvpanic,id=p", "p"), ("pvpanic-pci", None), ("ib700,id=w", "w")]),
    (
        ["-machine", "pc", "-smp", "3"],
        [("pvpanic,id=p,events=3,ioport=0x600", "p"), ("pvpanic-pci,id=q,addr=5.3", "q")],
    ),
    (
        ["-machine", "q35", "-smp", "2"],
        [("pvpanic-pci,id=q,addr=5.0,multifunction=on", "q"), ("pvpanic", None)],
    ),
]


@pytest.mark.parametrize(
    ("machine", "devices"), SIMULATED_DEVICES, ids=lambda x: " ".join(map(str, x))
)
def test_simulated_devices_qom_properties_as_qemus(
    machine: list[str], devices: list[tuple[str, str | None]]
) -> None:
    """qom-list and qom-get of each property of the pvpanic, pvpanic-pci and ib700
    devices (where they sit, their settings, their regions), and a property
    they lack, as QEMU answers them."""
    options = [*machine, "-S"]
    commands: list[dict[str, object]] = []
    anonymous = 0
    for device, ident in devices:
        options += ["-device", device]
        if ident is None:
            path = f"/machine/peripheral-anon/device[{anonymous}]"
            anonymous += 1
        else:
            path = f"/machine/peripheral/{ident}"
        driver = device.split(",")[0]
        commands.append({"execute": "qom-list", "arguments": {"path": path}})
        for name in ["type", "parent_bus", "realized", "hotplugged", "hotpluggable", "nosuch"]:
            commands.append({"execute": "qom-get", "arguments": {"path": path, "property": name}})
        for name in _DEVICE_PROPERTIES[driver]:
            commands.append({"execute": "qom-get", "arguments": {"path": path, "property": name}})
    for qemu, ours in _session(options, commands):
        assert ours == qemu


@pytest.mark.parametrize("machine", ["pc", "q35", "none", "pc-i440fx-9.2"])
def test_machine_and_its_containers_as_qemu_has_them(machine: str) -> None:
    """/machine's type and /machine/unattached's as QEMU answers them; qom-list
    /machine: QEMU's list but for what the simulator does not have (the
    machine's own properties, fw_cfg), in QEMU's order."""
    commands: list[dict[str, object]] = [
        {"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}},
        {"execute": "qom-get", "arguments": {"path": "/machine", "property": "nosuch"}},
        {"execute": "qom-get", "arguments": {"path": "/machine/unattached", "property": "type"}},
        {"execute": "qom-get", "arguments": {"path": "/machine/unattached", "property": "x"}},
        {"execute": "qom-get", "arguments": {"path": "/machine/peripheral", "property": "type"}},
        {"execute": "qom-list", "arguments": {"path": "/machine/peripheral/nosuch"}},
    ]
    listing: list[dict[str, object]] = [{"execute": "qom-list", "arguments": {"path": "/machine"}}]
    for qemu, ours in _session(["-machine", machine, "-S"], commands + listing):
        assert ours[:-1] == qemu[:-1]
        theirs = json.loads(qemu[-1])["return"]
        kept = [
            p
            for p in theirs
            if p["name"] == "type" or (p["type"].startswith("child<") and p["name"] != "fw_cfg")
        ]
        assert json.loads(ours[-1])["return"] == kept


@pytest.mark.parametrize("smp", ["1", "4", "2,maxcpus=4"])
def test_each_vcpu_has_a_thread_of_its_own(smp: str) -> None:
    """query-cpus-fast's thread ids, in both: one per vCPU, all different, none
    the process's main thread, each a live thread of the process (libvirt pins
    them), the same when asked again."""
    commands: list[dict[str, object]] = [{"execute": "query-cpus-fast"}] * 2
    for qemu, ours in pair(["-machine", "pc", "-smp", smp, "-S"]):
        for process in (qemu, ours):
            conn: RawQMP = process.connect()
            try:
                conn.command(b'{"execute": "qmp_capabilities"}\n')
                replies = [
                    json.loads(conn.command(json.dumps(c).encode() + b"\n")) for c in commands
                ]
            finally:
                conn.close()
            ids = [cpu["thread-id"] for cpu in replies[0]["return"]]
            assert [cpu["thread-id"] for cpu in replies[1]["return"]] == ids
            assert len(ids) == int(smp.split(",")[0])
            assert len(set(ids)) == len(ids)
            pid = process.proc.pid
            assert pid not in ids
            for tid in ids:
                assert os.path.exists(f"/proc/{pid}/task/{tid}"), (process.name, tid)
