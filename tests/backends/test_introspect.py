"""``query-qmp-schema``: the introspection QEMU's own generator builds, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qapigen import load_schema
from qapigen.backends.introspect import introspect
from qapigen.cli.commands import main

from ..support.paths import REPO
from ..support.qemu_introspect import qemu_introspect

# The symbols of an x86_64 system emulator build on Linux (enough to switch
# on most conditional parts of the schema).
X86_64 = [
    "CONFIG_LINUX",
    "CONFIG_POSIX",
    "CONFIG_KVM",
    "CONFIG_SPICE",
    "CONFIG_VNC",
    "CONFIG_SLIRP",
    "CONFIG_REPLICATION",
    "CONFIG_TPM",
    "TARGET_I386",
    "CONFIG_BLKIO",
    "CONFIG_LINUX_IO_URING",
]


@pytest.mark.parametrize(
    ("rel", "unmask", "defines"),
    [
        ("qapi/qapi-schema.json", False, []),
        ("qapi/qapi-schema.json", False, X86_64),
        ("qapi/qapi-schema.json", True, X86_64),
        ("qga/qapi-schema.json", False, ["CONFIG_POSIX", "CONFIG_LINUX"]),
        ("storage-daemon/qapi/qapi-schema.json", False, []),
    ],
    ids=["qemu", "qemu-x86_64", "qemu-unmasked", "qga", "storage-daemon"],
)
def test_same_as_qemu_generator(
    rel: str, unmask: bool, defines: list[str], qemu_schemas: Path, qemu_tree: Path
) -> None:
    """Entities, order, masked names, integer collapse, arrays, defaults: as QEMU's."""
    path = qemu_schemas / "10.0" / "schema" / rel
    ours = introspect(load_schema(str(path)), defines, unmask=unmask)
    assert ours == qemu_introspect(qemu_tree, path, unmask, defines)


def test_matches_real_qemu_commands(qemu_schemas: Path) -> None:
    """With an x86_64 build's symbols, the commands are those real QEMU 10.0.2 lists."""
    from ..support.paths import need_shared

    recorded = json.loads(need_shared("oracle", "query-commands.json").read_text())
    real = {c["name"] for c in recorded["reply"]["return"]}
    schema = load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))
    shown = {e["name"] for e in introspect(schema, X86_64) if e["meta-type"] == "command"}
    # The binary has more build options than listed here; what it has that we
    # do not show must be conditional, and nothing we show may be missing.
    assert shown <= real
    assert len(real - shown) < 15


def test_cli_prints_the_reply(capsys: pytest.CaptureFixture[str]) -> None:
    """qapigen introspect prints the JSON array, masked unless --unmask."""
    schema = str(REPO / "schemas" / "qapi-schema.json")
    assert main(["introspect", schema]) == 0
    masked = json.loads(capsys.readouterr().out)
    assert {
        "name": "query-status",
        "meta-type": "command",
        "arg-type": "0",
        "ret-type": "1",
    } in masked
    assert main(["introspect", schema, "--unmask"]) == 0
    unmasked = json.loads(capsys.readouterr().out)
    status = next(e for e in unmasked if e["name"] == "StatusInfo")
    assert status["members"] == [
        {"name": "running", "type": "bool"},
        {"name": "status", "type": "RunState"},
    ]
    assert len(masked) == len(unmasked)
