"""``qapigen defines``: the symbols of a schema, and the --define set behind a binary's reply.

The replies come from real QEMU 10.0.2 and from QEMU's own generator; the
set found is checked the way that counts: ``introspect`` with it must give
the reply, exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.defines import match_build
from qapigen.backends.introspect import introspect
from qapigen.cli.commands import main
from qapigen.frontend.builds import symbols

from ..support.qemu_introspect import qemu_introspect
from ..support.qemu_schemas import BACKPORTS
from ..support.qemu_schemas import schema_10_0 as _schema_10_0
from ..support.qemu_schemas import without_backports as _without_backports

Reply = list[dict[str, Any]]


def test_real_qemu_build_is_found_and_reproduced_exactly(
    qemu_introspection: Reply, qemu_schemas: Path, tmp_path: Path
) -> None:
    """Debian's QEMU 10.0.2: the set found reproduces its reply exactly from
    the schema as 10.0.2 had it; against the schema of a later 10.0.x, the
    backported member is what no set can explain, and nothing else."""
    schema = load_schema(str(_schema_10_0(qemu_schemas)))
    found = match_build(schema, qemu_introspection)
    if not found.exact:
        assert found.problems == [
            f"struct type 'BlkdebugInjectErrorOptions', member {member}: "
            "the schema always has it, the reply does not"
            for _, member, _ in BACKPORTS
        ]
        schema = load_schema(str(_without_backports(qemu_schemas, tmp_path)))
        found = match_build(schema, qemu_introspection)
    assert found.exact and found.problems == []
    assert introspect(schema, found.defines) == qemu_introspection
    # Facts of that build, from the reply itself: an x86 target, SPICE and VNC.
    commands = {e["name"] for e in qemu_introspection if e["meta-type"] == "command"}
    assert {"query-spice", "query-vnc", "query-sev"} <= commands
    targets = [s for s in found.defines if s.startswith("TARGET_")]
    assert targets == ["TARGET_I386"]
    assert {"CONFIG_SPICE", "CONFIG_VNC"} <= set(found.defines)
    assert set(found.defines) | set(found.unknown) <= set(symbols(schema))


@pytest.mark.parametrize(
    "defines",
    [
        [],
        ["TARGET_S390X", "CONFIG_LINUX", "CONFIG_POSIX", "CONFIG_KVM"],
        ["TARGET_ARM", "CONFIG_FDT", "CONFIG_WIN32", "CONFIG_VNC", "CONFIG_SDL"],
        ["TARGET_I386", "TARGET_S390X", "CONFIG_SPICE", "CONFIG_TPM", "CONFIG_BLKIO"],
    ],
    ids=["none", "s390x", "arm-win32", "two-targets"],
)
def test_builds_of_qemus_generator_are_found(
    defines: list[str], qemu_schemas: Path, qemu_tree: Path
) -> None:
    """A reply QEMU's own generator builds for some symbols: a set is found with
    which introspect gives that very reply; it differs from the symbols given
    only where they change nothing."""
    path = _schema_10_0(qemu_schemas)
    reply = qemu_introspect(qemu_tree, path, False, defines)
    schema = load_schema(str(path))
    found = match_build(schema, reply)
    assert found.exact and found.problems == []
    assert introspect(schema, found.defines) == reply
    for symbol in set(found.defines) ^ set(defines):
        flipped = set(found.defines) ^ {symbol}
        assert introspect(schema, flipped) == reply, symbol


def test_a_reply_of_another_release_is_what_no_set_reproduces(
    qemu_schemas: Path, qemu_tree: Path, tmp_path: Path
) -> None:
    """QEMU 7.2's reply (by QEMU's generator, its schema's comments stripped so
    that 10.0's front end reads it) against 10.0's schema: the commands 10.0
    no longer has are named, and the exit status says no set fits."""
    old = tmp_path / "qapi"
    shutil.copytree(qemu_schemas / "7.2" / "schema" / "qapi", old)
    for path in old.glob("*.json"):
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line for line in lines if not line.lstrip().startswith("#")))
    pragma = old / "pragma.json"
    pragma.write_text(pragma.read_text().replace("'doc-required': true", "'doc-required': false"))
    reply = qemu_introspect(qemu_tree, old / "qapi-schema.json", False, [])
    schema = load_schema(str(_schema_10_0(qemu_schemas)))
    found = match_build(schema, reply)
    assert not found.exact
    old_commands = {e["name"] for e in reply if e["meta-type"] == "command"}
    new_commands = {c.name for c in schema.commands()}
    removed = old_commands - new_commands
    assert removed
    for gone in removed:
        assert f"command {gone}: the reply has it, the schema does not" in found.problems
    saved = tmp_path / "reply.json"
    saved.write_text(json.dumps({"return": reply}))
    assert main(["defines", str(_schema_10_0(qemu_schemas)), "--match", str(saved)]) == 1


def test_cli_lists_symbols_and_prints_the_set(
    qemu_introspection: Reply,
    qemu_schemas: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``defines SCHEMA``: one symbol a line; ``--match``: the --define options on
    one line (exit 0 when they reproduce the reply), notes on stderr."""
    schema_path = _without_backports(qemu_schemas, tmp_path)
    assert main(["defines", str(schema_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == symbols(load_schema(str(schema_path)))
    saved = tmp_path / "reply.json"
    saved.write_text(json.dumps(qemu_introspection))
    assert main(["defines", str(schema_path), "--match", str(saved)]) == 0
    out, err = capsys.readouterr()
    [line] = out.splitlines()
    options = line.split()
    assert options[0::2] == ["--define"] * (len(options) // 2)
    assert main(["introspect", str(schema_path), *options]) == 0
    assert json.loads(capsys.readouterr().out) == qemu_introspection
    assert err.startswith("undefined, as nothing in the reply depends on them: ")


def test_cli_unreadable_reply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = tmp_path / "s.json"
    schema.write_text("{ 'command': 'x', 'if': 'CONFIG_X' }\n")
    assert main(["defines", str(schema)]) == 0
    assert capsys.readouterr().out == "CONFIG_X\n"
    missing = tmp_path / "nope.json"
    assert main(["defines", str(schema), "--match", str(missing)]) == 1
    assert capsys.readouterr().err == (
        f"can't read introspection file '{missing}': No such file or directory\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"return": {}}')
    assert main(["defines", str(schema), "--match", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"{bad}: not a query-qmp-schema reply")
