"""Bindings that match the QEMU you run, proved on a transcript of real QEMU 10.0.2.

The test starts qemu-system-x86_64 with a machine, a disk, a NIC, a balloon,
a memory backend and an iothread, and records a QMP session of more than
thirty different commands (query-cpu-model-expansion, query-cpu-definitions,
query-machines, query-block, query-qmp-schema, qom-list-types,
device-list-properties among them), with the events they cause.  Every
message of it must decode strictly, and encode back to the same JSON, with
bindings generated from the binary itself and with superset bindings from
QEMU's source schema; and ``qapigen validate`` must find no fault.  The
bindings of one two-target build fail where issue 16 said they did: that is
what the superset is for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.defines import match_build
from qapigen.cli.commands import main
from qapigen.runtime import WireError

from ...support.bindings import import_package, run_black_check, run_mypy, wire_equal
from ...support.real_qemu import Session, disk_image, need_qemu_10

# (command, arguments): each one a reply of real QEMU's to decode.
SESSION: list[tuple[str, dict[str, Any] | None]] = [
    ("qmp_capabilities", None),
    ("query-version", None),
    ("query-status", None),
    ("query-name", None),
    ("query-uuid", None),
    ("query-kvm", None),
    ("query-target", None),
    ("query-commands", None),
    ("query-qmp-schema", None),
    ("query-machines", {"compat-props": True}),
    ("query-current-machine", None),
    ("query-cpu-definitions", None),
    ("query-cpu-model-expansion", {"type": "full", "model": {"name": "qemu64"}}),
    ("query-cpu-model-expansion", {"type": "static", "model": {"name": "max"}}),
    ("query-cpus-fast", None),
    ("query-hotpluggable-cpus", None),
    ("query-block", None),
    ("query-blockstats", None),
    ("query-blockstats", {"query-nodes": True}),
    ("query-named-block-nodes", None),
    ("query-block-jobs", None),
    ("query-block-exports", None),
    ("query-jobs", None),
    ("qom-list-types", None),
    ("qom-list", {"path": "/machine"}),
    ("qom-get", {"path": "/machine", "property": "type"}),
    ("qom-list-properties", {"typename": "virtio-blk-pci"}),
    ("device-list-properties", {"typename": "virtio-net-pci"}),
    ("device-list-properties", {"typename": "e1000"}),
    ("query-chardev", None),
    ("query-chardev-backends", None),
    ("query-pci", None),
    ("query-balloon", None),
    ("query-memdev", None),
    ("query-iothreads", None),
    ("query-memory-size-summary", None),
    ("query-memory-devices", None),
    ("query-migrate", None),
    ("query-migrate-capabilities", None),
    ("query-migrate-parameters", None),
    ("query-rx-filter", {"name": "nic0"}),
    ("query-mice", None),
    ("query-vnc", None),
    ("query-spice", None),
    ("query-display-options", None),
    ("query-tpm-models", None),
    ("query-tpm-types", None),
    ("query-tpm", None),
    ("query-dump-guest-memory-capability", None),
    ("query-dump", None),
    ("query-fdsets", None),
    ("query-command-line-options", None),
    ("query-acpi-ospm-status", None),
    ("query-yank", None),
    ("query-replay", None),
    ("query-stats-schemas", None),
    ("query-stats", {"target": "vm"}),
    ("query-sev", None),
    ("query-audiodevs", None),
    ("query-dirty-rate", None),
    ("query-vcpu-dirty-limit", None),
    ("query-pr-managers", None),
    ("x-query-roms", None),
    ("x-query-virtio", None),
    ("human-monitor-command", {"command-line": "info version"}),
    ("cont", None),
    ("stop", None),
    ("query-status", None),
    # Errors are part of a transcript too (not decoded: they have no type).
    ("query-sgx-capabilities", None),
    ("query-vm-generation-id", None),
    ("quit", None),
]

# The commands issue 16 names.
NAMED = {
    "query-cpu-model-expansion",
    "query-cpu-definitions",
    "query-machines",
    "query-block",
    "query-qmp-schema",
    "qom-list-types",
    "device-list-properties",
}

Message = tuple[str, dict[str, Any]]


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The session's lines, ``->`` and ``<-``, as QEMU sent them."""
    need_qemu_10()
    folder = tmp_path_factory.mktemp("qemu-session")
    disk = disk_image(folder)
    options = ["-machine", "pc", "-accel", "tcg", "-S", "-m", "128"]
    options += ["-display", "none", "-nodefaults"]
    options += ["-blockdev", f"driver=file,filename={disk},node-name=file0"]
    options += ["-blockdev", "driver=raw,file=file0,node-name=disk0"]
    options += ["-device", "virtio-blk-pci,drive=disk0,id=vblk0"]
    options += ["-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,id=nic0"]
    options += ["-device", "virtio-balloon-pci,id=balloon0"]
    options += ["-object", "memory-backend-ram,id=mem0,size=32M"]
    options += ["-object", "iothread,id=io0", "-chardev", "null,id=char0"]
    session = Session(options)
    try:
        for command, arguments in SESSION:
            session.execute(command, arguments)
    finally:
        session.close()
    (folder / "transcript.txt").write_text("\n".join(session.lines) + "\n")
    return session.lines


def _messages(lines: list[str]) -> Iterator[Message]:
    for line in lines:
        yield line[:2], json.loads(line[3:])


def test_the_transcript_has_what_issue_16_asks(transcript: list[str]) -> None:
    """At least 30 different commands that QEMU answered, the named ones among them."""
    sent = {}
    answered = set()
    for direction, message in _messages(transcript):
        if direction == "->":
            sent[message["id"]] = message["execute"]
        elif "return" in message:
            answered.add(sent[message["id"]])
    assert len(answered) >= 30
    assert answered >= NAMED
    events = [m["event"] for d, m in _messages(transcript) if "event" in m]
    assert events == ["RESUME", "STOP", "SHUTDOWN"]


@pytest.fixture(scope="module")
def two_targets(qemu_introspection: list[dict[str, Any]], qemu_schemas: Path) -> list[str]:
    """The --define options of the binary's build, and TARGET_S390X: the package
    for x86 and s390x at once that issue 16 tried."""
    schema = load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))
    symbols = [*match_build(schema, qemu_introspection).defines, "TARGET_S390X"]
    return [option for symbol in symbols for option in ("--define", symbol)]


@pytest.fixture(scope="module")
def bindings(
    tmp_path_factory: pytest.TempPathFactory, qemu_schemas: Path, two_targets: list[str]
) -> Path:
    """Three packages: from the binary; the superset of QEMU 10.0's schema; and
    that of two targets."""
    qemu = need_qemu_10()
    out = tmp_path_factory.mktemp("bindings")
    schema = str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json")
    assert main(["generate", "--from-qemu", qemu, "-o", str(out), "--package", "frombinary"]) == 0
    assert main(["generate", schema, "-o", str(out), "--package", "superset", "--superset"]) == 0
    args = [schema, "-o", str(out), "--package", "twotargets", *two_targets, "--quiet"]
    assert main(["generate", *args]) == 0
    return out


def _faults(pkg: ModuleType, transcript: list[str]) -> tuple[int, list[str]]:
    """Decode every message strictly (arguments, returns, event data), and encode
    it back; the number of values decoded, and each fault."""
    pending: dict[int, str] = {}
    faults = []
    decoded = 0
    for direction, message in _messages(transcript):
        try:
            if direction == "->":
                name = message["execute"]
                pending[message["id"]] = name
                info = pkg.COMMANDS[name]
                if "arguments" in message:
                    arguments = info.arg_type.from_wire(message["arguments"], strict=True)
                    assert wire_equal(arguments.to_wire(), message["arguments"]), name
                    decoded += 1
            elif "return" in message:
                name = pending.pop(message["id"])
                codec = pkg.COMMANDS[name].ret_type
                if codec is None:
                    assert message["return"] == {}, name
                else:
                    value = codec.decode(message["return"], None, True)
                    assert wire_equal(codec.encode(value), message["return"]), name
                decoded += 1
            elif "event" in message:
                name = message["event"]
                event = pkg.EVENTS[name].from_wire(message.get("data", {}), strict=True)
                if "data" in message:
                    assert wire_equal(event.to_wire(), message["data"]), name
                decoded += 1
            elif "error" in message:
                pending.pop(message["id"])
        except WireError as err:
            faults.append(f"{name}: {err.desc}")
    return decoded, faults


@pytest.mark.parametrize("package", ["frombinary", "superset"])
def test_every_message_decodes_strictly(
    package: str, bindings: Path, transcript: list[str]
) -> None:
    pkg, _ = import_package(bindings, package, walk=False)
    decoded, faults = _faults(pkg, transcript)
    assert faults == []
    assert decoded > 70


def test_one_build_of_two_targets_fails_as_issue_16_said(
    bindings: Path, transcript: list[str]
) -> None:
    """x86's reply to query-cpu-model-expansion lacks what s390x builds always send."""
    pkg, _ = import_package(bindings, "twotargets", walk=False)
    _, faults = _faults(pkg, transcript)
    assert faults == ["query-cpu-model-expansion: Parameter 'deprecated-props' is missing"] * 2


def test_an_s390x_reply_decodes_with_the_superset_only(
    bindings: Path, transcript: list[str]
) -> None:
    """The x86 reply with the member s390x builds add: the superset takes it; the
    binary's own bindings (an x86 build) refuse it, strictly, as that build would."""
    sent: dict[int, str] = {}
    reply = None
    for direction, message in _messages(transcript):
        if direction == "->":
            sent[message["id"]] = message["execute"]
        elif sent.get(message.get("id", -1)) == "query-cpu-model-expansion":
            reply = message["return"]
            break
    assert reply is not None and "deprecated-props" not in reply
    s390x = {**reply, "deprecated-props": ["bpb", "te"]}
    superset, _ = import_package(bindings, "superset", walk=False)
    codec = superset.COMMANDS["query-cpu-model-expansion"].ret_type
    assert codec.decode(s390x, None, True).deprecated_props == ["bpb", "te"]
    binary, _ = import_package(bindings, "frombinary", walk=False)
    with pytest.raises(WireError) as caught:
        binary.COMMANDS["query-cpu-model-expansion"].ret_type.decode(s390x, None, True)
    assert caught.value.desc == "Parameter 'deprecated-props' is unexpected"


def test_the_transcript_validates_clean(
    transcript: list[str],
    two_targets: list[str],
    qemu_schemas: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """validate's default (the superset) takes all of it; the two-target build does not."""
    schema = str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json")
    path = tmp_path / "transcript.txt"
    path.write_text("\n".join(transcript) + "\n")
    assert main(["validate", schema, "--qmp", str(path)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["validate", schema, "--qmp", str(path), *two_targets]) == 1
    [fault] = capsys.readouterr().out.splitlines()
    lines = [i + 1 for i, line in enumerate(transcript) if '"deprecated-props"' in line]
    assert not lines  # x86 never sends it
    replies = [
        i + 1
        for i, line in enumerate(transcript)
        if line.startswith("<-") and '"model": {"name": "' in line and "props" in line
    ]
    assert fault == (
        f"{path}:{replies[0]} /return: Parameter 'deprecated-props' is missing "
        f"(2 times, lines {replies[0]} to {replies[-1]})"
    )


def test_bindings_from_the_binary_pass_black_and_mypy(bindings: Path, tmp_path: Path) -> None:
    proc = run_black_check(bindings / "frombinary")
    assert proc.returncode == 0, proc.stderr
    proc = run_mypy(bindings, ["frombinary"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
