"""``qapigen diff`` in the bindings' terms: which definitions, members and values changed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.diff_definitions import DefinitionChange, diff_definitions
from qapigen.cli.commands import main

from ..support.qemu_model import qemu_model

OLD = """\
{ 'enum': 'Cap', 'data': [ 'compress', 'block', 'xbzrle' ] }
{ 'struct': 'Base', 'data': { 'id': 'str' } }
{ 'struct': 'Info', 'base': 'Base',
  'data': { 'a': 'int', '*b': 'str', 'c': 'int', 'd': ['Cap'] } }
{ 'struct': 'Gone', 'data': { 'x': 'int' } }
{ 'struct': 'Shape', 'data': { 'x': 'int' } }
{ 'union': 'Opts', 'base': { 'cap': 'Cap' }, 'discriminator': 'cap',
  'data': { 'compress': 'Info', 'block': 'Gone' } }
{ 'alternate': 'Alt', 'data': { 'n': 'int', 'i': 'Info' } }
{ 'command': 'set', 'data': { 'cap': 'Cap', '*on': 'bool' }, 'returns': 'Info' }
{ 'command': 'boxed', 'data': 'Info', 'boxed': true }
{ 'command': 'old' }
{ 'event': 'EV', 'data': { 'why': 'str' } }
"""

NEW = """\
{ 'enum': 'Cap', 'data': [ 'block', 'xbzrle', 'mapped-ram' ] }
{ 'struct': 'Base', 'data': { 'id': 'str' } }
{ 'struct': 'Base2', 'data': { 'id': 'str' } }
{ 'struct': 'Info', 'base': 'Base2',
  'data': { 'a': 'int', 'b': 'str', '*c': 'int', 'd': ['str'], 'e': 'bool' } }
{ 'union': 'Shape', 'base': { 'cap': 'Cap' }, 'discriminator': 'cap', 'data': {} }
{ 'union': 'Opts', 'base': { 'cap': 'Cap' }, 'discriminator': 'cap',
  'data': { 'block': 'Info', 'mapped-ram': 'Info' } }
{ 'alternate': 'Alt', 'data': { 'n': 'int', 's': ['str'] } }
{ 'command': 'set', 'data': { 'cap': 'Cap', 'on': 'bool', 'now': 'bool' },
  'returns': ['Info'] }
{ 'command': 'boxed', 'data': 'Base2', 'boxed': true }
{ 'command': 'new' }
{ 'event': 'EV', 'data': 'Base' }
"""

# Worked out by hand from OLD and NEW.
EXPECTED = [
    "alternate Alt: branch 'i' removed",
    "alternate Alt: branch 's' added",
    "struct Base2: added",
    "command boxed: arguments 'Info' -> 'Base2'",
    "enum Cap: value 'compress' removed",
    "enum Cap: value 'mapped-ram' added",
    "event EV: data members in place -> 'Base'",
    "struct Gone: removed",
    "struct Info: base 'Base' -> 'Base2'",
    "struct Info: member 'e' added",
    "struct Info: member 'c' now optional",
    "struct Info: member 'b' now mandatory",
    "struct Info: member 'd': type ['Cap'] -> ['str']",
    "command new: added",
    "command old: removed",
    "union Opts: branch 'compress' removed",
    "union Opts: branch 'mapped-ram' added",
    "union Opts: branch 'block': type 'Gone' -> 'Info'",
    "command set: returns 'Info' -> ['Info']",
    "command set: argument 'now' added",
    "command set: argument 'on' now mandatory",
    "struct Shape: now a union",
]


def _load(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_each_kind_of_change(tmp_path: Path) -> None:
    old = load_schema(_load(tmp_path, "old.json", OLD))
    new = load_schema(_load(tmp_path, "new.json", NEW))
    assert [str(c) for c in diff_definitions(old, new)] == EXPECTED
    assert diff_definitions(old, old) == []


def test_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The text report ends with them; --json lists them under "definitions"."""
    old, new = _load(tmp_path, "old.json", OLD), _load(tmp_path, "new.json", NEW)
    assert main(["diff", old, new]) == 1
    text = capsys.readouterr().out
    head, _, tail = text.partition("\nIn the bindings' terms (22):\n")
    # The wire report first, as before, its summary last.
    assert re.fullmatch(
        r"\d+ changes; breaking for clients: \d+, for servers: \d+", head.splitlines()[-1]
    )
    assert tail.splitlines() == [f"  {line}" for line in EXPECTED]
    assert main(["diff", "--json", old, new]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [d["text"] for d in doc["definitions"]] == EXPECTED
    assert doc["definitions"][4] == {
        "meta": "enum",
        "definition": "Cap",
        "kind": "value-removed",
        "name": "compress",
        "detail": "",
        "text": "enum Cap: value 'compress' removed",
    }
    assert doc["summary"]["definition-changes"] == 22


def test_a_rename_changes_the_bindings_not_the_wire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _load(
        tmp_path,
        "a.json",
        "{ 'struct': 'Old', 'data': {} }\n{ 'command': 'x', 'returns': 'Old' }\n",
    )
    new = _load(
        tmp_path,
        "b.json",
        "{ 'struct': 'New', 'data': {} }\n{ 'command': 'x', 'returns': 'New' }\n",
    )
    assert main(["diff", old, new]) == 1
    assert capsys.readouterr().out == (
        "No changes on the wire.\n"
        "\n"
        "In the bindings' terms (3):\n"
        "  struct New: added\n"
        "  struct Old: removed\n"
        "  command x: returns 'Old' -> 'New'\n"
    )


# -- against QEMU's own front end -------------------------------------------


def _tname(t: Any) -> str:
    if t is None:
        return "nothing"
    return f"['{t[0]}']" if isinstance(t, list) else f"'{t}'"


def _expected(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """(meta, definition, kind, name, detail) of each change, by the rules
    diff_definitions documents, from QEMU's models of the two schemas."""

    def named(model: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            d["name"]: d
            for d in model
            if d["meta"] in ("command", "event")
            or (d["meta"] in ("enum", "struct", "union", "alternate") and not d["implicit"])
        }

    by_name = {d["name"]: d for d in old}, {d["name"]: d for d in new}
    out: set[tuple[str, ...]] = set()

    def parts(meta: str, name: str, part: str, a: list[str], b: list[str]) -> None:
        out.update((meta, name, f"{part}-removed", x, "") for x in set(a) - set(b))
        out.update((meta, name, f"{part}-added", x, "") for x in set(b) - set(a))

    def members(meta: str, name: str, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
        ma, mb = {m["name"]: m for m in a}, {m["name"]: m for m in b}
        parts(meta, name, "member", list(ma), list(mb))
        for m in ma.keys() & mb.keys():
            if ma[m]["optional"] != mb[m]["optional"]:
                kind = "member-optional" if mb[m]["optional"] else "member-mandatory"
                out.add((meta, name, kind, m, ""))
            if _tname(ma[m]["type"]) != _tname(mb[m]["type"]):
                detail = f"{_tname(ma[m]['type'])} -> {_tname(mb[m]['type'])}"
                out.add((meta, name, "member-type-changed", m, detail))

    def branches(meta: str, name: str, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
        ba = {v["name"]: v["type"] for v in a if v["type"] != "q_empty"}
        bb = {v["name"]: v["type"] for v in b if v["type"] != "q_empty"}
        parts(meta, name, "branch", list(ba), list(bb))
        for v in ba.keys() & bb.keys():
            if _tname(ba[v]) != _tname(bb[v]):
                detail = f"{_tname(ba[v])} -> {_tname(bb[v])}"
                out.add((meta, name, "branch-type-changed", v, detail))

    def arguments(meta: str, name: str, a: Any, b: Any) -> None:
        ia = a is None or a.startswith("q_obj_")
        ib = b is None or b.startswith("q_obj_")
        if not (ia and ib):
            shown = [
                "members in place" if t and t.startswith("q_obj_") else _tname(t) for t in (a, b)
            ]
            if shown[0] != shown[1]:
                out.add((meta, name, "arguments-changed", "", " -> ".join(shown)))
            return
        members(
            meta,
            name,
            by_name[0][a]["members"] if a else [],
            by_name[1][b]["members"] if b else [],
        )

    na, nb = named(old), named(new)
    for name in na.keys() | nb.keys():
        a, b = na.get(name), nb.get(name)
        if b is None:
            assert a is not None
            out.add((a["meta"], name, "removed", "", ""))
        elif a is None:
            out.add((b["meta"], name, "added", "", ""))
        elif a["meta"] != b["meta"]:
            article = "an" if b["meta"] in ("alternate", "enum", "event") else "a"
            out.add((a["meta"], name, "meta-changed", "", f"{article} {b['meta']}"))
        elif a["meta"] == "enum":
            parts(
                "enum",
                name,
                "value",
                [v["name"] for v in a["values"]],
                [v["name"] for v in b["values"]],
            )
        elif a["meta"] in ("struct", "union"):
            bases = [
                f"'{d['base']}'" if d["base"] and not d["base"].startswith("q_obj_") else "none"
                for d in (a, b)
            ]
            if bases[0] != bases[1]:
                out.add((a["meta"], name, "base-changed", "", " -> ".join(bases)))
            members(a["meta"], name, a["members"], b["members"])
            if a["branches"] is not None and b["branches"] is not None:
                branches(a["meta"], name, a["branches"], b["branches"])
        elif a["meta"] == "alternate":
            branches("alternate", name, a["branches"], b["branches"])
        else:
            arguments(a["meta"], name, a["arg_type"], b["arg_type"])
            if a["meta"] == "command" and _tname(a["ret_type"]) != _tname(b["ret_type"]):
                detail = f"{_tname(a['ret_type'])} -> {_tname(b['ret_type'])}"
                out.add(("command", name, "returns-changed", "", detail))
    return out


def test_qemu_7_2_to_10_0_as_qemus_front_end_sees_them(
    qemu_schemas: Path, qemu_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every change QEMU's own front end shows between the two releases (7.2's
    schema read by QEMU 10.0's front end once its comments are stripped), and
    no other; among them the removal issue 16 names."""
    old_dir = tmp_path / "qapi"
    shutil.copytree(qemu_schemas / "7.2" / "schema" / "qapi", old_dir)
    for path in old_dir.glob("*.json"):
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line for line in lines if not line.lstrip().startswith("#")))
    pragma = old_dir / "pragma.json"
    pragma.write_text(pragma.read_text().replace("'doc-required': true", "'doc-required': false"))
    new_path = qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    expected = _expected(
        qemu_model(qemu_tree, old_dir / "qapi-schema.json"), qemu_model(qemu_tree, new_path)
    )
    old_path = qemu_schemas / "7.2" / "schema" / "qapi" / "qapi-schema.json"
    assert main(["diff", "--legacy-old", "--json", str(old_path), str(new_path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    found = {
        (d["meta"], d["definition"], d["kind"], d["name"], d["detail"]) for d in doc["definitions"]
    }
    assert found == expected
    assert len(found) == len(doc["definitions"]) > 300
    change = DefinitionChange("enum", "MigrationCapability", "value-removed", "compress")
    assert str(change) in [d["text"] for d in doc["definitions"]]
    assert str(change) == "enum MigrationCapability: value 'compress' removed"
