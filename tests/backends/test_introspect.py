"""``query-qmp-schema``: the introspection QEMU's own generator builds, exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.introspect import introspect
from qapigen.cli.commands import main

from ..support.paths import REPO

# Runs QEMU's introspection visitor and prints its tree with the conditions
# resolved, as a QEMU built with the given symbols would answer.
QEMU_INTROSPECT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from qapi.schema import QAPISchema
from qapi.introspect import Annotated, QAPISchemaGenIntrospectVisitor

unmask = sys.argv[3] == "unmask"
defined = set(sys.argv[4:])
DROP = object()

def holds(cond):
    if cond is None:
        return True
    if isinstance(cond, str):
        return cond in defined
    if "not" in cond:
        return not holds(cond["not"])
    if "all" in cond:
        return all(holds(c) for c in cond["all"])
    return any(holds(c) for c in cond["any"])

def plain(obj):
    if isinstance(obj, Annotated):
        return plain(obj.value) if holds(obj.ifcond.ifcond) else DROP
    if isinstance(obj, dict):
        return {k: v for k, v in ((k, plain(v)) for k, v in obj.items()) if v is not DROP}
    if isinstance(obj, list):
        return [v for v in (plain(v) for v in obj) if v is not DROP]
    return obj

class Capture(QAPISchemaGenIntrospectVisitor):
    def visit_end(self):
        for typ in self._used_types:
            typ.visit(self)
        print(json.dumps(plain(self._trees)))

QAPISchema(sys.argv[2]).visit(Capture("", unmask))
"""

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


def _qemu(tree: Path, schema: Path, unmask: bool, defines: list[str]) -> Any:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            QEMU_INTROSPECT,
            str(tree / "scripts"),
            str(schema),
            "unmask" if unmask else "mask",
            *defines,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


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
    assert ours == _qemu(qemu_tree, path, unmask, defines)


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
