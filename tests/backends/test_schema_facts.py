"""Schema facts: what QEMU 10.0.2's introspection masks, recovered from QEMU's schema.

The shipped profile's ``schema-facts`` must be what QEMU 10.0's schema in the
shared data gives (``qapigen profile schema-facts``, the build step
docs/libvirt.md names).  That schema is 10.0.13's, one member (``delay-ns``)
ahead of 10.0.2: the mapping found by structure must equal the exact one found
from the schema as 10.0.2 had it, and a schema that differs in any other way
must be refused.  That the names and widths are QEMU's own is proved against
QEMU's errors (tests/qmp/test_qmp_arguments.py).
"""

from __future__ import annotations

import copy
import json
import lzma
import shutil
from pathlib import Path
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.schema_facts import SchemaFactsError, schema_facts
from qapigen.cli.commands import main
from qapigen.frontend.schema import Schema
from qapigen.profiles import profile

from ..support.qemu_schemas import schema_10_0, without_backports

Reply = list[dict[str, Any]]
SHIPPED = profile.default()


@pytest.fixture(scope="module")
def schema(qemu_schemas: Path) -> Schema:
    return load_schema(str(schema_10_0(qemu_schemas)))


def _by_name(section: dict[str, Any]) -> dict[str, str]:
    """The masked names of ``section`` by real name."""
    return {real: masked for masked, real in section["names"].items()}


def test_shipped_profile_facts_are_those_of_qemus_schema(schema: Schema) -> None:
    facts = schema_facts(schema, SHIPPED.introspection())
    assert SHIPPED.schema_facts() == facts.section
    # 10.0.13's schema has one member 10.0.2 lacks: mapped by structure, that member aside.
    assert not facts.exact
    masked = _by_name(facts.section)
    assert facts.section["schema-only"] == {masked["BlkdebugInjectErrorOptions"]: ["delay-ns"]}


def test_mapping_by_structure_is_the_exact_mapping(
    schema: Schema, qemu_schemas: Path, tmp_path: Path
) -> None:
    exact = schema_facts(
        load_schema(str(without_backports(qemu_schemas, tmp_path))), SHIPPED.introspection()
    )
    by_structure = schema_facts(schema, SHIPPED.introspection())
    assert exact.exact
    assert exact.section["schema-only"] == {}
    assert {k: v for k, v in exact.section.items() if k != "schema-only"} == {
        k: v for k, v in by_structure.section.items() if k != "schema-only"
    }


def test_the_facts_name_types_and_widths(schema: Schema) -> None:
    section = schema_facts(schema, SHIPPED.introspection()).section
    masked = _by_name(section)
    integers = section["integers"]
    assert {"BlockdevRef", "BlockdevRefOrNull", "StrOrNull"} <= set(masked)
    parameters = integers[masked["MigrateSetParameters"]]
    assert parameters["throttle-trigger-threshold"] == "uint8"
    assert parameters["max-bandwidth"] == "size"
    assert parameters["x-checkpoint-delay"] == "uint32"
    assert "downtime-limit" in parameters  # uint64
    # int and int64 are introspection's own `int`: not listed.
    assert all(w not in ("int", "int64") for ws in integers.values() for w in ws.values())
    # An array of integers carries its element's width.
    histogram = integers[masked["q_obj_block-latency-histogram-set-arg"]]
    assert histogram["boundaries"] == "uint64"
    # Only objects and alternates are named; every name is a masked one.
    metas = {e["name"]: e["meta-type"] for e in SHIPPED.introspection()}
    assert {metas[n] for n in section["names"]} == {"object", "alternate"}


def _changed(reply: Reply, name: str, change: Any) -> Reply:
    out = copy.deepcopy(reply)
    for entry in out:
        if entry["name"] == name:
            change(entry)
    return out


@pytest.mark.parametrize(
    "change",
    [
        # a member of another type
        lambda e: e["members"][0].update(type="bool"),
        # a member the schema lacks
        lambda e: e["members"].append({"name": "extra", "type": "str"}),
        # a non-integer member the reply lacks (numbering may have moved)
        lambda e: e["members"].pop(0),
        # another kind of entry
        lambda e: e.update({"meta-type": "alternate"}),
    ],
    ids=["member-type", "reply-only-member", "missing-member", "meta-type"],
)
def test_a_reply_the_schema_does_not_describe_is_refused(schema: Schema, change: Any) -> None:
    reply = SHIPPED.introspection()
    target = str(next(e["arg-type"] for e in reply if e["name"] == "blockdev-add"))
    with pytest.raises(SchemaFactsError, match="entry '"):
        schema_facts(schema, _changed(reply, target, change))


def test_a_reply_with_entries_the_schema_lacks_is_refused(schema: Schema) -> None:
    reply = SHIPPED.introspection()
    reply = [*reply, {"name": "9999", "meta-type": "enum", "values": [], "members": []}]
    with pytest.raises(SchemaFactsError, match="entries"):
        schema_facts(schema, reply)


def _document(path: Path) -> dict[str, Any]:
    with lzma.open(path) as fp:
        document: dict[str, Any] = json.load(fp)
    return document


def test_cli_adds_the_section_and_keeps_the_rest(
    qemu_schemas: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.json.xz"
    shutil.copy(profile.SHIPPED, source)
    output = tmp_path / "out.json.xz"
    status = main(
        ["profile", "schema-facts", str(source), str(schema_10_0(qemu_schemas)), "-o", str(output)]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert "reproduces the introspection but for members the schema has" in captured.err
    before, after = _document(source), _document(output)
    section = after.pop(profile.SCHEMA_FACTS)
    before.pop(profile.SCHEMA_FACTS)
    assert after == before
    assert section == SHIPPED.schema_facts()
    assert profile.load(output).schema_facts() == section


def test_cli_refuses_a_schema_of_another_release(
    qemu_schemas: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = qemu_schemas / "7.2" / "schema" / "qapi" / "qapi-schema.json"
    if not other.exists():
        pytest.skip(f"{other} is absent")
    copy_path = tmp_path / "p.json.xz"
    shutil.copy(profile.SHIPPED, copy_path)
    before = copy_path.read_bytes()
    # Without --legacy, 7.2's schema is refused as unreadable, saying where.
    assert main(["profile", "schema-facts", str(copy_path), str(other)]) == 1
    assert capsys.readouterr().err.startswith(f"qapigen profile schema-facts: {other}:")
    assert main(["profile", "schema-facts", str(copy_path), str(other), "--legacy"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"qapigen profile schema-facts: {other} does not describe {copy_path}:")
    assert copy_path.read_bytes() == before


def test_cli_refuses_what_is_not_a_profile(
    qemu_schemas: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"not xz")
    assert main(["profile", "schema-facts", str(bogus), str(schema_10_0(qemu_schemas))]) == 1
    assert "not an xz-compressed profile" in capsys.readouterr().err
