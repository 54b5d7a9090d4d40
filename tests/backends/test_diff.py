"""``qapigen diff``: wire changes between schema versions, classified by QMP's rules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from qapigen import load_schema
from qapigen.backends.diff import KINDS, Change, diff_schemas, format_text
from qapigen.cli.commands import main
from qapigen.frontend.schema import (
    AlternateType,
    ArrayType,
    BuiltinType,
    EnumType,
    ObjectType,
    Schema,
    Type,
)

B = "breaking"
C = "compatible"

Row = tuple[str, str, str, str, str]


def _load(tmp_path: Path, name: str, text: str) -> Schema:
    path = tmp_path / name
    path.write_text(text)
    return load_schema(str(path))


def _rows(changes: list[Change]) -> set[Row]:
    return {(c.kind, c.path, c.detail, c.client, c.server) for c in changes}


def _diff(tmp_path: Path, old: str, new: str) -> set[Row]:
    return _rows(diff_schemas(_load(tmp_path, "old.json", old), _load(tmp_path, "new.json", new)))


# -- hand-written pairs, one kind of change each ----------------------------

CASES = [
    pytest.param(
        "{ 'command': 'a' }",
        "{ 'command': 'a' }\n{ 'command': 'b' }",
        {("command-added", "b", "", C, B)},
        id="command-added",
    ),
    pytest.param(
        "{ 'command': 'a' }\n{ 'command': 'b' }",
        "{ 'command': 'a' }",
        {("command-removed", "b", "", B, C)},
        id="command-removed",
    ),
    pytest.param(
        "{ 'command': 'a' }",
        "{ 'command': 'a' }\n{ 'event': 'E' }",
        {("event-added", "E", "", C, B)},
        id="event-added",
    ),
    pytest.param(
        "{ 'event': 'E' }",
        "{ 'command': 'a' }",
        {("event-removed", "E", "", B, C), ("command-added", "a", "", C, B)},
        id="event-removed",
    ),
    pytest.param(
        "{ 'command': 'a', 'data': { 'x': 'int' } }",
        "{ 'command': 'a', 'data': { 'x': 'int', '*y': 'str' } }",
        {("member-added", "a/arguments/y", "optional str", C, B)},
        id="optional-argument-added",
    ),
    pytest.param(
        "{ 'command': 'a', 'data': { 'x': 'int' } }",
        "{ 'command': 'a', 'data': { 'x': 'int', 'y': 'str' } }",
        {("member-added", "a/arguments/y", "mandatory str", B, B)},
        id="mandatory-argument-added",
    ),
    pytest.param(
        "{ 'command': 'a' }",
        "{ 'command': 'a', 'data': { '*y': 'bool' } }",
        {("member-added", "a/arguments/y", "optional bool", C, B)},
        id="first-argument-added",
    ),
    pytest.param(
        "{ 'command': 'a', 'data': { 'x': 'int', '*y': 'str' } }",
        "{ 'command': 'a', 'data': { 'x': 'int' } }",
        {("member-removed", "a/arguments/y", "optional str", B, C)},
        id="optional-argument-removed",
    ),
    pytest.param(
        "{ 'command': 'a', 'data': { 'x': 'int', 'y': 'str' } }",
        "{ 'command': 'a', 'data': { 'x': 'int' } }",
        {("member-removed", "a/arguments/y", "mandatory str", B, B)},
        id="mandatory-argument-removed",
    ),
    pytest.param(
        "{ 'command': 'a', 'data': { 'x': 'int' } }",
        "{ 'command': 'a', 'data': { '*x': 'int' } }",
        {("member-optional", "a/arguments/x", "", C, B)},
        id="argument-made-optional",
    ),
    pytest.param(
        "{ 'command': 'a', 'data': { '*x': 'int' } }",
        "{ 'command': 'a', 'data': { 'x': 'int' } }",
        {("member-mandatory", "a/arguments/x", "", B, C)},
        id="argument-made-mandatory",
    ),
    pytest.param(
        "{ 'struct': 'Ret', 'data': { 'x': 'int' } }\n{ 'command': 'a', 'returns': 'Ret' }",
        "{ 'struct': 'Ret', 'data': { 'x': 'int', 'y': 'int', '*z': 'int' } }\n"
        "{ 'command': 'a', 'returns': 'Ret' }",
        {
            ("member-added", "a/returns/y", "mandatory int", C, B),
            ("member-added", "a/returns/z", "optional int", C, C),
        },
        id="reply-members-added",
    ),
    pytest.param(
        "{ 'struct': 'Ret', 'data': { 'x': 'int', 'y': 'int', '*z': 'int' } }\n"
        "{ 'command': 'a', 'returns': 'Ret' }",
        "{ 'struct': 'Ret', 'data': { 'x': 'int' } }\n{ 'command': 'a', 'returns': 'Ret' }",
        {
            ("member-removed", "a/returns/y", "mandatory int", B, C),
            ("member-removed", "a/returns/z", "optional int", C, C),
        },
        id="reply-members-removed",
    ),
    pytest.param(
        "{ 'event': 'E', 'data': { 'x': 'int', '*y': 'int' } }",
        "{ 'event': 'E', 'data': { '*x': 'int', 'y': 'int' } }",
        {
            ("member-optional", "E/data/x", "", B, C),
            ("member-mandatory", "E/data/y", "", C, B),
        },
        id="event-data-optionality",
    ),
    pytest.param(
        "{ 'enum': 'Letter', 'data': [ 'a' ] }\n{ 'command': 'c', 'data': { 'e': 'Letter' } }",
        "{ 'enum': 'Letter', 'data': [ 'a', 'b' ] }\n{ 'command': 'c', 'data': { 'e': 'Letter' } }",
        {("enum-value-added", "c/arguments/e", "b", C, B)},
        id="enum-value-added-to-input",
    ),
    pytest.param(
        "{ 'enum': 'Letter', 'data': [ 'a' ] }\n{ 'event': 'V', 'data': { 'e': 'Letter' } }",
        "{ 'enum': 'Letter', 'data': [ 'a', 'b' ] }\n{ 'event': 'V', 'data': { 'e': 'Letter' } }",
        {("enum-value-added", "V/data/e", "b", B, C)},
        id="enum-value-added-to-output",
    ),
    pytest.param(
        "{ 'enum': 'Letter', 'data': [ 'a', 'b' ] }\n"
        "{ 'command': 'c', 'data': { 'e': 'Letter' }, 'returns': ['Box'] }\n"
        "{ 'struct': 'Box', 'data': { 'e': 'Letter' } }",
        "{ 'enum': 'Letter', 'data': [ 'a' ] }\n"
        "{ 'command': 'c', 'data': { 'e': 'Letter' }, 'returns': ['Box'] }\n"
        "{ 'struct': 'Box', 'data': { 'e': 'Letter' } }",
        {
            ("enum-value-removed", "c/arguments/e", "b", B, C),
            ("enum-value-removed", "c/returns/[]/e", "b", C, B),
        },
        id="enum-value-removed-both-directions",
    ),
    pytest.param(
        "{ 'struct': 'Old', 'data': { 'x': 'int' } }\n"
        "{ 'command': 'c', 'data': { 's': 'Old' }, 'returns': 'Old' }",
        "{ 'struct': 'Base', 'data': { 'x': 'int' } }\n"
        "{ 'struct': 'New', 'base': 'Base', 'data': {} }\n"
        "{ 'command': 'c', 'data': { 's': 'New' }, 'returns': 'New' }",
        set(),
        id="renamed-and-refactored-type-is-no-change",
    ),
    pytest.param(
        "{ 'command': 'c', 'data': { 'n': 'int', 'w': 'uint64' } }",
        "{ 'command': 'c', 'data': { 'n': 'int64', 'w': 'size' } }",
        set(),
        id="same-range-is-no-change",
    ),
    pytest.param(
        "{ 'command': 'c', 'data': { 'n': 'int8', 'm': 'int32', 'w': 'int' } }",
        "{ 'command': 'c', 'data': { 'n': 'int64', 'm': 'uint32', 'w': 'uint64' } }",
        {
            ("type-changed", "c/arguments/n", "int8 -> int64", C, B),
            ("type-changed", "c/arguments/m", "int32 -> uint32", B, B),
            # QEMU's input takes negative numbers for uint64 (and wraps them).
            ("type-changed", "c/arguments/w", "int -> uint64", C, B),
        },
        id="integer-ranges-in-input",
    ),
    pytest.param(
        "{ 'struct': 'Ret', 'data': { 'n': 'int8', 'w': 'int', 'f': 'int' } }\n"
        "{ 'command': 'c', 'returns': 'Ret' }",
        "{ 'struct': 'Ret', 'data': { 'n': 'int64', 'w': 'uint64', 'f': 'number' } }\n"
        "{ 'command': 'c', 'returns': 'Ret' }",
        {
            ("type-changed", "c/returns/n", "int8 -> int64", B, C),
            ("type-changed", "c/returns/w", "int -> uint64", B, B),
            ("type-changed", "c/returns/f", "int -> number", B, C),
        },
        id="integer-ranges-in-output",
    ),
    pytest.param(
        "{ 'enum': 'Letter', 'data': [ 'a' ] }\n"
        "{ 'command': 'c', 'data': { 's': 'str', 'e': 'Letter', 'x': 'int', 'y': 'any' } }",
        "{ 'enum': 'Letter', 'data': [ 'a' ] }\n"
        "{ 'command': 'c', 'data': { 's': 'Letter', 'e': 'str', 'x': 'str', 'y': 'bool' } }",
        {
            ("type-changed", "c/arguments/s", "str -> Letter", B, C),
            ("type-changed", "c/arguments/e", "Letter -> str", C, B),
            ("type-changed", "c/arguments/x", "int -> str", B, B),
            ("type-changed", "c/arguments/y", "any -> bool", B, C),
        },
        id="scalar-type-changes",
    ),
    pytest.param(
        "{ 'struct': 'Sub', 'data': { 'x': 'int' } }\n{ 'command': 'c', 'data': { 'a': 'Sub' } }",
        "{ 'struct': 'Sub', 'data': { 'x': 'int' } }\n"
        "{ 'alternate': 'Alt', 'data': { 's': 'Sub', 'name': 'str' } }\n"
        "{ 'command': 'c', 'data': { 'a': 'Alt' } }",
        {("alternative-added", "c/arguments/a", "string", C, B)},
        id="type-turned-into-alternate",
    ),
    pytest.param(
        "{ 'alternate': 'Alt', 'data': { 'n': 'int', 'list': ['str'] } }\n"
        "{ 'struct': 'Ret', 'data': { 'a': 'Alt' } }\n{ 'command': 'c', 'returns': 'Ret' }",
        "{ 'alternate': 'Alt', 'data': { 'n': 'int', 'b': 'bool', 'list': ['int'] } }\n"
        "{ 'struct': 'Ret', 'data': { 'a': 'Alt' } }\n{ 'command': 'c', 'returns': 'Ret' }",
        {
            ("alternative-added", "c/returns/a", "boolean", B, C),
            ("type-changed", "c/returns/a/[]", "str -> int", B, B),
        },
        id="alternate-in-output",
    ),
    pytest.param(
        "{ 'enum': 'Kind', 'data': [ 'a', 'b' ] }\n"
        "{ 'struct': 'Aa', 'data': { 'x': 'int' } }\n"
        "{ 'union': 'Un', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',\n"
        "  'data': { 'a': 'Aa' } }\n"
        "{ 'command': 'c', 'data': 'Un', 'boxed': true }",
        "{ 'enum': 'Kind', 'data': [ 'a', 'b', 'c' ] }\n"
        "{ 'struct': 'Aa', 'data': { 'x': 'int', '*y': 'int' } }\n"
        "{ 'struct': 'Bb', 'data': { 'z': 'int' } }\n"
        "{ 'union': 'Un', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',\n"
        "  'data': { 'a': 'Aa', 'b': 'Bb' } }\n"
        "{ 'command': 'c', 'data': 'Un', 'boxed': true }",
        {
            ("enum-value-added", "c/arguments/kind", "c", C, B),
            ("member-added", "c/arguments/kind=a/y", "optional int", C, B),
            # b had an implicit empty branch; now it wants z.
            ("member-added", "c/arguments/kind=b/z", "mandatory int", B, B),
        },
        id="union-branches",
    ),
    pytest.param(
        "{ 'struct': 'Ret', 'data': { 'kind': 'str', 'n': 'int' } }\n"
        "{ 'command': 'c', 'returns': 'Ret' }",
        "{ 'enum': 'Kind', 'data': [ 'one', 'two' ] }\n"
        "{ 'struct': 'One', 'data': { 'n': 'int' } }\n"
        "{ 'union': 'Ret', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',\n"
        "  'data': { 'one': 'One' } }\n"
        "{ 'command': 'c', 'returns': 'Ret' }",
        {
            ("type-changed", "c/returns/kind", "str -> Kind", C, B),
            ("member-removed", "c/returns/n", "mandatory int; now only in kind=one", B, C),
        },
        id="member-moved-into-a-branch",
    ),
    pytest.param(
        "{ 'enum': 'Letter', 'data': [ 'a', 'b' ] }\n"
        "{ 'command': 'c', 'data': { 'x': 'int', 'e': 'Letter' } }",
        "{ 'enum': 'Letter', 'data': [ 'a', { 'name': 'b', 'features': [ 'deprecated' ] } ] }\n"
        "{ 'command': 'c', 'data': { 'x': { 'type': 'int', 'features': [ 'unstable' ] },\n"
        "  'e': 'Letter' }, 'features': [ 'deprecated' ] }",
        {
            ("feature-added", "c", "deprecated", C, C),
            ("feature-added", "c/arguments/x", "unstable", C, C),
            ("feature-added", "c/arguments/e", "deprecated (value b)", C, C),
        },
        id="features",
    ),
    pytest.param(
        "{ 'command': 'a', 'features': [ 'deprecated' ] }",
        "{ 'command': 'a' }",
        {("feature-removed", "a", "deprecated", C, C)},
        id="feature-removed",
    ),
    pytest.param(
        "{ 'command': 'a' }\n{ 'command': 'b', 'if': 'CONFIG_B' }",
        "{ 'command': 'a', 'if': 'CONFIG_A' }\n{ 'command': 'b' }",
        {
            ("if-changed", "a", "always -> CONFIG_A", B, C),
            ("if-changed", "b", "CONFIG_B -> always", C, B),
        },
        id="conditions",
    ),
    pytest.param(
        "{ 'command': 'a', 'if': { 'all': [ 'X', 'Y' ] } }\n"
        "{ 'command': 'b', 'if': { 'any': [ 'X', 'Y' ] } }\n"
        "{ 'command': 'c', 'if': 'X' }",
        "{ 'command': 'a', 'if': { 'not': { 'any': [ { 'not': 'Y' }, { 'not': 'X' } ] } } }\n"
        "{ 'command': 'b', 'if': { 'all': [ 'X', 'Z' ] } }\n"
        "{ 'command': 'c', 'if': 'Z' }",
        {
            # Present in fewer builds: a loss for clients.
            ("if-changed", "b", "(X or Y) -> (X and Z)", B, C),
            # In some builds gained, in others lost.
            ("if-changed", "c", "X -> Z", B, B),
        },
        id="equivalent-conditions-are-no-change",
    ),
    pytest.param(
        "{ 'enum': 'Letter', 'data': [ 'a', 'b' ] }\n{ 'command': 'c', 'data': { 'e': 'Letter' } }",
        "{ 'enum': 'Letter', 'data': [ 'a', { 'name': 'b', 'if': 'CONFIG_B' } ] }\n"
        "{ 'command': 'c', 'data': { 'e': 'Letter' } }",
        {("if-changed", "c/arguments/e", "value b: always -> CONFIG_B", B, C)},
        id="enum-value-condition",
    ),
    pytest.param(
        "{ 'command': 'a' }\n{ 'command': 'b', 'allow-oob': true }",
        "{ 'command': 'a', 'allow-oob': true }\n{ 'command': 'b' }",
        {
            ("flag-changed", "a", "allow-oob: false -> true", C, B),
            ("flag-changed", "b", "allow-oob: true -> false", B, C),
        },
        id="flags",
    ),
    pytest.param(
        "{ 'struct': 'Node', 'data': { 'name': 'str', '*next': 'Node', '*kids': ['Node'] } }\n"
        "{ 'command': 'c', 'returns': 'Node' }",
        "{ 'struct': 'Node', 'data': { 'name': 'str', '*next': 'Node', '*kids': ['Node'],\n"
        "  '*size': 'int' } }\n"
        "{ 'command': 'c', 'returns': 'Node' }",
        {("member-added", "c/returns/size", "optional int", C, C)},
        id="recursive-type",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), CASES)
def test_change_is_classified(tmp_path: Path, old: str, new: str, expected: set[Row]) -> None:
    """Each kind of change, with the verdicts QMP's compatibility rules give it."""
    assert _diff(tmp_path, old, new) == expected


def test_reverse_swaps_client_and_server(tmp_path: Path) -> None:
    """What breaks an old server facing new clients is what breaks a client when
    the versions are swapped: the server verdict of OLD->NEW is the client verdict
    of NEW->OLD, change for change."""
    old = _load(
        tmp_path,
        "a.json",
        "{ 'enum': 'Letter', 'data': [ 'a', 'b' ] }\n"
        "{ 'struct': 'Ret', 'data': { 'x': 'int', '*y': 'Letter' } }\n"
        "{ 'command': 'c', 'data': { 'e': 'Letter', '*n': 'int8' }, 'returns': 'Ret' }\n"
        "{ 'event': 'V', 'data': { 'r': 'Ret' } }",
    )
    new = _load(
        tmp_path,
        "b.json",
        "{ 'enum': 'Letter', 'data': [ 'a', 'c' ] }\n"
        "{ 'struct': 'Ret', 'data': { '*x': 'int', 'y': 'Letter', 'z': 'str' } }\n"
        "{ 'command': 'c', 'data': { 'e': 'Letter', 'n': 'int16', '*m': 'str' },\n"
        "  'returns': 'Ret' }\n"
        "{ 'command': 'd' }",
    )
    forward = diff_schemas(old, new)
    backward = diff_schemas(new, old)
    assert len(forward) == len(backward) > 10
    opposite = {
        "added": "removed",
        "removed": "added",
        "optional": "mandatory",
        "mandatory": "optional",
    }

    def key(c: Change, flip: bool) -> tuple[str, str]:
        kind = c.kind
        if flip:
            head, _, tail = kind.rpartition("-")
            kind = f"{head}-{opposite.get(tail, tail)}"
        # A type change's detail names both ends; the path and kind suffice.
        return kind, c.path

    back = {key(c, True): c for c in backward}
    for c in forward:
        mirror = back[key(c, False)]
        assert (c.client, c.server) == (mirror.server, mirror.client), c


def test_identical_schemas_have_no_changes(qemu_schemas: Path) -> None:
    """A schema compared with itself, here QEMU 10.0's whole, changes nothing."""
    path = str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json")
    assert diff_schemas(load_schema(path), load_schema(path)) == []


# -- the command line -------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_cli_no_change_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path, "a.json", "{ 'command': 'x' }\n")
    assert main(["diff", a, a]) == 0
    assert capsys.readouterr() == ("No changes on the wire.\n", "")


def test_cli_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Grouped by kind in a fixed order, one line per change, sorted, a summary; then
    the changes in the bindings' terms."""
    a = _write(tmp_path, "a.json", "{ 'command': 'x', 'data': { 'b': 'int', 'a': 'int' } }\n")
    b = _write(tmp_path, "b.json", "{ 'command': 'y' }\n{ 'command': 'x' }\n")
    assert main(["diff", a, b]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        "Commands added (1):\n"
        "  y  [client: compatible, server: breaking]\n"
        "\n"
        "Members removed (2):\n"
        "  x/arguments/a: mandatory int  [client: breaking, server: breaking]\n"
        "  x/arguments/b: mandatory int  [client: breaking, server: breaking]\n"
        "\n"
        "3 changes; breaking for clients: 2, for servers: 3\n"
        "\n"
        "In the bindings' terms (3):\n"
        "  command x: argument 'a' removed\n"
        "  command x: argument 'b' removed\n"
        "  command y: added\n"
    )


def test_cli_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json: the documented structure, the same changes in the same order; the
    changes in the bindings' terms under "definitions"."""
    a = _write(tmp_path, "a.json", "{ 'command': 'x', 'data': { '*o': 'str' } }\n")
    b = _write(tmp_path, "b.json", "{ 'command': 'x' }\n{ 'event': 'E' }\n")
    assert main(["diff", "--json", a, b]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "changes": [
            {
                "kind": "event-added",
                "path": "E",
                "detail": "",
                "client": "compatible",
                "server": "breaking",
            },
            {
                "kind": "member-removed",
                "path": "x/arguments/o",
                "detail": "optional str",
                "client": "breaking",
                "server": "compatible",
            },
        ],
        "definitions": [
            {
                "meta": "event",
                "definition": "E",
                "kind": "added",
                "name": "",
                "detail": "",
                "text": "event E: added",
            },
            {
                "meta": "command",
                "definition": "x",
                "kind": "member-removed",
                "name": "o",
                "detail": "",
                "text": "command x: argument 'o' removed",
            },
        ],
        "summary": {
            "changes": 2,
            "client-breaking": 1,
            "server-breaking": 1,
            "by-kind": {"event-added": 1, "member-removed": 1},
            "definition-changes": 2,
        },
    }


def test_cli_schema_error_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid schema: QEMU's diagnostic on stderr, nothing on stdout, exit 2."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "good.json", "{ 'command': 'x' }\n")
    _write(tmp_path, "bad.json", "{ 'struct': 'Foo', 'data': { 'a': 'Bar' } }\n")
    assert main(["diff", "good.json", "bad.json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "bad.json: In struct 'Foo':\nbad.json:1: member 'a' uses unknown type 'Bar'\n"
    assert main(["diff", "missing.json", "good.json"]) == 2
    assert "can't read schema file 'missing.json'" in capsys.readouterr().err


def test_cli_legacy_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--legacy-old reads only OLD with 5.0-9.2 rules; --legacy reads both that way."""
    # A C-expression condition is legal only in legacy mode.
    old = _write(tmp_path, "old.json", "{ 'command': 'x', 'if': 'defined(CONFIG_X)' }\n")
    new = _write(tmp_path, "new.json", "{ 'command': 'x', 'if': 'CONFIG_X' }\n")
    assert main(["diff", old, new]) == 2
    capsys.readouterr()
    assert main(["diff", "--legacy-old", old, new]) == 0
    assert main(["diff", "--legacy-old", new, old]) == 2
    capsys.readouterr()
    assert main(["diff", "--legacy", new, old]) == 0
    assert capsys.readouterr().out == "No changes on the wire.\n"


# -- QEMU 7.2 -> 10.0, checked against an independent reading ----------------


@dataclass
class _Node:
    """What one wire path holds, as read straight off one schema's model."""

    member: bool = False
    optional: bool = False
    # JSON types a value here may have (several for an alternate).
    json_types: set[str] = field(default_factory=set)
    # Enum values, when the string here is an enum.
    values: set[str] | None = None
    # Scalar types here, integers by range.
    scalars: set[str] = field(default_factory=set)


_INT_WIDTH = {
    "int": "i64",
    "int64": "i64",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "size": "u64",
}


@dataclass
class _Reading:
    """One schema flattened to wire paths."""

    commands: set[str]
    events: set[str]
    nodes: dict[str, _Node]
    # Where a recursive type was cut off: what lies below is not read.
    cuts: set[str]

    def below_cut(self, path: str) -> bool:
        return any(path.startswith(cut + "/") for cut in self.cuts)


def _wire_paths(schema: Schema) -> _Reading:
    """Commands, events, and every wire path below them with what it holds.

    Independent of qapigen.diff: each schema is flattened on its own (a
    recursive type is cut where its name repeats on the path), and the
    differences come from comparing the flattened sets.
    """
    nodes: dict[str, _Node] = {}
    cuts: set[str] = set()

    def at(path: str) -> _Node:
        return nodes.setdefault(path, _Node())

    def walk(typ: Type, path: str, seen: frozenset[str]) -> None:
        node = at(path)
        repeated = typ.name in seen
        seen = seen | {typ.name}
        choices = (
            [v.type for v in typ.alternatives.variants] if isinstance(typ, AlternateType) else [typ]
        )
        for t in choices:
            # What the place holds is read in full; what is inside, only
            # where no type repeats.
            again = repeated or (t is not typ and t.name in seen)
            inner = seen | {t.name}
            if isinstance(t, ArrayType):
                node.json_types.add("array")
                if again:
                    cuts.add(path)
                else:
                    walk(t.element_type, path + "/[]", inner)
            elif isinstance(t, EnumType):
                node.json_types.add("string")
                node.scalars.add("enum")
                node.values = {m.name for m in t.members}
            elif isinstance(t, ObjectType):
                node.json_types.add("object")
                if again:
                    cuts.add(path)
                else:
                    objects(t, path, inner)
            else:
                assert isinstance(t, BuiltinType)
                json_type = t.json_type()
                node.json_types.add("number" if json_type == "int" else json_type)
                node.scalars.add(_INT_WIDTH.get(t.name, t.name))

    def objects(t: ObjectType, path: str, seen: frozenset[str]) -> None:
        for m in t.members:
            child = at(f"{path}/{m.name}")
            child.member = True
            child.optional = m.optional
            walk(m.type, f"{path}/{m.name}", seen)
        if t.branches is not None:
            tag = t.branches.tag_member.name
            for v in t.branches.variants:
                walk(v.type, f"{path}/{tag}={v.name}", seen)

    def root(typ: Type | None, path: str) -> None:
        if typ is None:
            # No arguments, return value or data: {} on the wire.
            at(path).json_types.add("object")
        else:
            walk(typ, path, frozenset())

    commands = set()
    for c in schema.commands():
        commands.add(c.name)
        root(c.arg_type, f"{c.name}/arguments")
        root(c.ret_type, f"{c.name}/returns")
    events = set()
    for e in schema.events():
        events.add(e.name)
        root(e.arg_type, f"{e.name}/data")
    return _Reading(commands, events, nodes, cuts)


@pytest.fixture(scope="module")
def qemu_7_2_to_10_0(qemu_schemas: Path) -> tuple[Schema, Schema, list[Change]]:
    old = load_schema(
        str(qemu_schemas / "7.2" / "schema" / "qapi" / "qapi-schema.json"), legacy=True
    )
    new = load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))
    return old, new, diff_schemas(old, new)


def _of(changes: list[Change], kind: str) -> set[str]:
    return {c.path for c in changes if c.kind == kind}


def test_qemu_commands_and_events(qemu_7_2_to_10_0: tuple[Schema, Schema, list[Change]]) -> None:
    """Exactly the commands and events that are in one version only."""
    old, new, changes = qemu_7_2_to_10_0
    before, after = _wire_paths(old), _wire_paths(new)
    assert _of(changes, "command-removed") == before.commands - after.commands
    assert _of(changes, "command-added") == after.commands - before.commands
    assert _of(changes, "event-removed") == before.events - after.events
    assert _of(changes, "event-added") == after.events - before.events
    assert all(
        (c.client, c.server) == (B, C)
        for c in changes
        if c.kind in ("command-removed", "event-removed")
    )


def _compared(
    before: _Reading, after: _Reading, changes: list[Change]
) -> tuple[set[str], list[Change]]:
    """The paths both readings cover in full, and the changes reported there.

    Below a place where a recursive type was cut off in either reading, the
    two readings are not comparable; the diff follows type pairs, not names,
    and may look further (it does, in 7.2's vmdk extents, which were
    ImageInfo inside ImageInfo).
    """
    paths = {
        p
        for p in before.nodes.keys() | after.nodes.keys()
        if not before.below_cut(p) and not after.below_cut(p)
    }
    kept = [c for c in changes if not before.below_cut(c.path) and not after.below_cut(c.path)]
    return paths, kept


def test_qemu_members(qemu_7_2_to_10_0: tuple[Schema, Schema, list[Change]]) -> None:
    """Members removed, added, made optional or mandatory, and enum values
    removed or added: exactly the differences between the two flattened
    schemas, where the object that holds them exists in both."""
    old, new, all_changes = qemu_7_2_to_10_0
    before, after = _wire_paths(old), _wire_paths(new)
    paths, changes = _compared(before, after, all_changes)
    old_nodes, new_nodes = before.nodes, after.nodes

    def parent_in_both(path: str) -> bool:
        parent = path.rsplit("/", 1)[0]
        return (
            "object" in old_nodes.get(parent, _Node()).json_types
            and "object" in new_nodes.get(parent, _Node()).json_types
        )

    removed = {
        p
        for p in paths
        if p in old_nodes and old_nodes[p].member and p not in new_nodes and parent_in_both(p)
    }
    added = {
        p
        for p in paths
        if p in new_nodes and new_nodes[p].member and p not in old_nodes and parent_in_both(p)
    }
    both = {p for p in paths if p in old_nodes and p in new_nodes}
    assert _of(changes, "member-removed") == removed
    assert _of(changes, "member-added") == added
    assert _of(changes, "member-optional") == {
        p
        for p in both
        if old_nodes[p].member and new_nodes[p].optional and not old_nodes[p].optional
    }
    assert _of(changes, "member-mandatory") == {
        p
        for p in both
        if old_nodes[p].member and old_nodes[p].optional and not new_nodes[p].optional
    }
    values_removed = set()
    values_added = set()
    for p in both:
        old_values, new_values = old_nodes[p].values, new_nodes[p].values
        if old_values is not None and new_values is not None:
            values_removed |= {(p, v) for v in old_values - new_values}
            values_added |= {(p, v) for v in new_values - old_values}
    assert {(c.path, c.detail) for c in changes if c.kind == "enum-value-removed"} == values_removed
    assert {(c.path, c.detail) for c in changes if c.kind == "enum-value-added"} == values_added
    # Real differences of each kind, not an agreement on nothing.
    assert len(removed) > 20 and len(added) > 100 and len(values_removed) > 5
    # What lies below a cut is a removal inside the old vmdk extents only.
    below = [c for c in all_changes if c not in changes]
    assert all(c.kind == "member-removed" and "/extents/[]/" in c.path for c in below)


def test_qemu_type_changes(qemu_7_2_to_10_0: tuple[Schema, Schema, list[Change]]) -> None:
    """A type change is reported where, and only where, the JSON a place holds
    differs (integers by range); alternatives where the JSON types differ."""
    old, new, all_changes = qemu_7_2_to_10_0
    before, after = _wire_paths(old), _wire_paths(new)
    paths, changes = _compared(before, after, all_changes)
    old_nodes, new_nodes = before.nodes, after.nodes
    reported = _of(changes, "type-changed") | _of(changes, "alternative-added")
    reported |= _of(changes, "alternative-removed")
    differs = {
        p
        for p in paths
        if p in old_nodes
        and p in new_nodes
        and (
            old_nodes[p].json_types != new_nodes[p].json_types
            or old_nodes[p].scalars != new_nodes[p].scalars
        )
    }
    # Below a place that changed kind, nothing is compared.
    differs = {p for p in differs if not any(q in differs for q in _ancestors(p))}
    assert reported == differs
    assert reported


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(2, len(parts))]


def _defined_in(text: str, pattern: str) -> bool:
    return re.search(pattern, text) is not None


def test_qemu_known_facts(
    qemu_schemas: Path, qemu_7_2_to_10_0: tuple[Schema, Schema, list[Change]]
) -> None:
    """Facts read off the schema files' text, and how each is classified."""
    old_dir = qemu_schemas / "7.2" / "schema" / "qapi"
    new_dir = qemu_schemas / "10.0" / "schema" / "qapi"
    old_text = "".join(p.read_text() for p in sorted(old_dir.glob("*.json")))
    new_text = "".join(p.read_text() for p in sorted(new_dir.glob("*.json")))
    # The text says so ...
    for name in ("x-query-rdma", "x-query-profile"):
        assert _defined_in(old_text, rf"'command': '{name}'")
        assert not _defined_in(new_text, rf"'command': '{name}'")
    for name in ("MEM_UNPLUG_ERROR", "RDMA_GID_STATUS_CHANGED"):
        assert _defined_in(old_text, rf"'event': '{name}'")
        assert not _defined_in(new_text, rf"'event': '{name}'")
    assert _defined_in(old_text, r"'command': 'migrate',\n  'data': \{'uri': 'str', '\*blk'")
    assert _defined_in(new_text, r"'command': 'migrate',\n  'data': \{'\*uri': 'str',\n")
    assert _defined_in(old_text, r"'skipped': 'int'") and "'skipped'" not in new_text
    # ... and so does the diff, with QMP's verdicts.
    _, _, changes = qemu_7_2_to_10_0
    rows = _rows(changes)
    assert ("command-removed", "x-query-rdma", "", B, C) in rows
    assert ("command-removed", "x-query-profile", "", B, C) in rows
    assert ("event-removed", "MEM_UNPLUG_ERROR", "", B, C) in rows
    assert ("member-removed", "migrate/arguments/blk", "optional bool", B, C) in rows
    assert ("member-removed", "migrate/arguments/inc", "optional bool", B, C) in rows
    assert ("member-optional", "migrate/arguments/uri", "", C, B) in rows
    assert (
        "member-added",
        "migrate/arguments/channels",
        "optional [MigrationChannel]",
        C,
        B,
    ) in rows
    assert ("member-removed", "query-migrate/returns/ram/skipped", "mandatory int", B, C) in rows
    # Unchanged commands report nothing.
    assert not [c for c in changes if c.path.split("/")[0] in ("quit", "stop", "cont")]


def test_qemu_report_is_grouped_and_stable(
    qemu_7_2_to_10_0: tuple[Schema, Schema, list[Change]],
) -> None:
    """The text report lists every change once, grouped in the order of KINDS."""
    old, new, changes = qemu_7_2_to_10_0
    assert diff_schemas(old, new) == changes
    text = format_text(changes)
    lines = [line for line in text.splitlines() if line.startswith("  ")]
    assert len(lines) == len(changes)
    headings = [line.split(" (")[0] for line in text.splitlines() if line and line[0] != " "]
    order = [heading for _, heading in KINDS]
    assert headings[:-1] == [h for h in order if h in headings]
