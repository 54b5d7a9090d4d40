"""``qapigen jsonschema``: JSON Schema for QMP messages, checked by the ``jsonschema`` library."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from qapigen import load_schema
from qapigen.backends.jsonschema_export import (
    BUNDLE_FILE,
    MESSAGE_KINDS,
    arguments_def,
    data_def,
    export_bundle,
    message_def,
    returns_def,
    standalone,
)
from qapigen.cli.commands import main
from qapigen.frontend.schema import Command, Event, Schema, Type

from ..support.paths import REPO, need_shared

# What Debian's qemu-system-x86_64 10.0 was built with, as far as QMP shows:
# with these, the commands the schema defines are exactly those the oracle's
# query-commands lists (checked below).
X86_64 = [
    "CONFIG_EBPF",
    "CONFIG_FDT",
    "CONFIG_KVM",
    "CONFIG_LINUX",
    "CONFIG_PIXMAN",
    "CONFIG_POSIX",
    "CONFIG_REPLICATION",
    "CONFIG_SPICE",
    "CONFIG_TCG",
    "CONFIG_TPM",
    "CONFIG_VNC",
    "TARGET_I386",
]

JSON = dict[str, Any]


def _load(tmp_path: Path, text: str) -> Schema:
    path = tmp_path / "schema.json"
    path.write_text(text)
    return load_schema(str(path))


def _validator(bundle: JSON, name: str | None = None) -> Draft202012Validator:
    return Draft202012Validator(bundle if name is None else standalone(bundle, name))


def _errors(validator: Draft202012Validator, doc: object) -> list[tuple[str, str]]:
    """(JSON path, message) of the error the library ranks most relevant."""
    error = best_match(validator.iter_errors(doc))
    return [] if error is None else [(error.json_path, error.message)]


def _all_errors(validator: Draft202012Validator, doc: object) -> set[tuple[str, str]]:
    """(JSON path, message) of every error, those under oneOf/anyOf included."""
    found = set()
    pending = list(validator.iter_errors(doc))
    while pending:
        error = pending.pop()
        found.add((error.json_path, error.message))
        pending.extend(error.context or ())
    return found


@pytest.fixture(scope="module")
def qemu_10_0(qemu_schemas: Path) -> Schema:
    return load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))


@pytest.fixture(scope="module")
def x86_64(qemu_10_0: Schema) -> JSON:
    return export_bundle(qemu_10_0, X86_64)


# -- the meta-schema --------------------------------------------------------


def _all_symbols(schema: Schema) -> set[str]:
    """Every condition symbol in the schema's files (conditions sit on
    definitions, members, values and features alike; the text has them all)."""
    symbols: set[str] = set()
    for path in Path(schema.fname).parent.glob("*.json"):
        symbols |= set(re.findall(r"'((?:CONFIG|TARGET|HAVE)_[A-Z0-9_]+)'", path.read_text()))
    return symbols


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.mark.parametrize("build", ["none", "x86_64", "everything"])
def test_qemu_schema_is_valid_json_schema(qemu_10_0: Schema, build: str) -> None:
    """QEMU 10.0's whole schema, under several sets of conditions, gives a
    document the draft 2020-12 meta-schema accepts."""
    defined = {"none": set(), "x86_64": set(X86_64), "everything": _all_symbols(qemu_10_0)}[build]
    bundle = export_bundle(qemu_10_0, defined)
    Draft202012Validator.check_schema(bundle)
    assert bundle["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    refs = set(_refs(bundle))
    assert {r.removeprefix("#/$defs/") for r in refs} <= set(bundle["$defs"])
    assert all(r.startswith("#/$defs/") for r in refs)
    if build == "everything":
        # Every type, command and event whose condition holds is there.
        names = set(bundle["$defs"])
        for defn in qemu_10_0.definitions():
            if not defn.ifcond.evaluate(defined.__contains__) or defn.is_implicit():
                continue
            if isinstance(defn, Type):
                assert defn.name in names
            elif isinstance(defn, Command):
                assert arguments_def(defn.name) in names
                assert returns_def(defn.name) in names
            elif isinstance(defn, Event) and defn.arg_type is not None:
                assert data_def(defn.name) in names
        assert len(defined) > 20


def test_project_schema_is_valid_json_schema() -> None:
    bundle = export_bundle(load_schema(str(REPO / "schemas" / "qapi-schema.json")))
    Draft202012Validator.check_schema(bundle)
    assert {message_def(k) for k in MESSAGE_KINDS} <= set(bundle["$defs"])
    assert returns_def("query-status") in bundle["$defs"]


def test_legacy_schema_is_valid_json_schema(qemu_schemas: Path) -> None:
    """A 7.2 schema read with --legacy exports too."""
    old = load_schema(
        str(qemu_schemas / "7.2" / "schema" / "qapi" / "qapi-schema.json"), legacy=True
    )
    bundle = export_bundle(old, X86_64)
    Draft202012Validator.check_schema(bundle)
    assert {r.removeprefix("#/$defs/") for r in _refs(bundle)} <= set(bundle["$defs"])


# -- the mapping, on small schemas --------------------------------------------

SMALL = """\
##
# @Colour:
#
# Colours.
#
# @red: warm
#
# @blue: cold
#
# @green: old
#
# Features:
#
# @deprecated: do not use green
##
{ 'enum': 'Colour',
  'data': [ 'red', { 'name': 'blue', 'if': 'HAVE_BLUE' },
            { 'name': 'green', 'features': [ 'deprecated' ] } ] }

##
# @Base:
#
# The common part.
#
# @kind: which colour
#
# @name: a name
#
# @secret: only with HAVE_SECRET
##
{ 'struct': 'Base',
  'data': { 'kind': 'Colour', '*name': 'str',
            '*secret': { 'type': 'str', 'if': 'HAVE_SECRET' } } }

##
# @Warm:
#
# Warm things.
#
# @heat: how hot
#
# @old: an old member
#
# Features:
#
# @deprecated: gone soon
##
{ 'struct': 'Warm',
  'data': { 'heat': 'uint8', '*old': { 'type': 'bool', 'features': [ 'deprecated' ] } } }

##
# @Paint:
#
# A paint, by colour.
##
{ 'union': 'Paint', 'base': 'Base', 'discriminator': 'kind',
  'data': { 'red': 'Warm' } }

##
# @Either:
#
# A number, a colour or nothing.
#
# @n: a number
#
# @c: a colour
#
# @nothing: nothing at all
##
{ 'alternate': 'Either', 'data': { 'n': 'number', 'c': 'Colour', 'nothing': 'null' } }

##
# @paint:
#
# Paint something.
#
# @what: the paint
#
# @amount: how much
#
# Returns: the paints used
##
{ 'command': 'paint',
  'data': { 'what': 'Paint', '*amount': 'Either' },
  'returns': [ 'Paint' ] }

##
# @bonus:
#
# Only with HAVE_BONUS.
#
# Features:
#
# @deprecated: old
##
{ 'command': 'bonus', 'if': 'HAVE_BONUS', 'features': [ 'deprecated' ] }

##
# @PAINTED:
#
# Something was painted.
#
# @count: how many
##
{ 'event': 'PAINTED', 'data': { 'count': 'int8' } }

##
# @DRIED:
#
# Paint dried.
##
{ 'event': 'DRIED' }
"""


@pytest.fixture
def small(tmp_path: Path) -> Schema:
    return _load(tmp_path, SMALL)


def test_layout_and_references(small: Schema) -> None:
    """$defs named by type name, COMMAND:arguments/returns, EVENT:data, messages."""
    bundle = export_bundle(small)
    Draft202012Validator.check_schema(bundle)
    defs = bundle["$defs"]
    for name in ("Colour", "Base", "Warm", "Paint", "Either", "int8", "uint64", "size", "any"):
        assert name in defs
    assert defs[arguments_def("paint")]["properties"]["what"] == {
        "$ref": "#/$defs/Paint",
        "description": "the paint",
    }
    assert defs[returns_def("paint")] == {
        "type": "array",
        "items": {"$ref": "#/$defs/Paint"},
        "description": "the paints used",
    }
    assert defs[data_def("PAINTED")]["properties"]["count"]["$ref"] == "#/$defs/int8"
    assert data_def("DRIED") not in defs
    assert defs["Warm"]["additionalProperties"] is False
    assert defs["Paint"]["unevaluatedProperties"] is False
    assert bundle["oneOf"] == [{"$ref": f"#/$defs/message:{k}"} for k in MESSAGE_KINDS]


def test_descriptions_and_deprecation(small: Schema) -> None:
    defs = export_bundle(small, ["HAVE_BONUS"])["$defs"]
    assert defs["Warm"]["description"] == "Warm things."
    assert defs["Warm"]["properties"]["heat"]["description"] == "how hot"
    assert defs["Warm"]["properties"]["old"]["deprecated"] is True
    assert "deprecated" not in defs["Warm"]["properties"]["heat"]
    # The union's own members are documented where the base is.
    assert defs["Paint"]["properties"]["name"]["description"] == "a name"
    assert defs["Colour"]["anyOf"] == [
        {"const": "red", "description": "warm"},
        {"const": "green", "description": "old", "deprecated": True},
    ]
    assert defs[arguments_def("bonus")]["deprecated"] is True
    assert defs[arguments_def("paint")]["description"] == "Paint something."


def test_conditions(small: Schema) -> None:
    """What is conditional on an undefined symbol is left out."""
    plain = export_bundle(small)["$defs"]
    assert plain["Colour"]["enum"] == ["red", "green"]
    assert "secret" not in plain["Base"]["properties"]
    assert "secret" not in plain["Paint"]["properties"]
    assert arguments_def("bonus") not in plain
    assert "bonus" not in plain[message_def("command")]["properties"]["execute"]["enum"]
    full = export_bundle(small, ["HAVE_BLUE", "HAVE_SECRET", "HAVE_BONUS"])["$defs"]
    assert full["Colour"]["enum"] == ["red", "blue", "green"]
    assert "secret" in full["Paint"]["properties"]
    assert "bonus" in full[message_def("command")]["properties"]["execute"]["enum"]


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"kind": "red", "heat": 3}, None),
        ({"kind": "red", "heat": 3, "name": "x", "old": True}, None),
        # An implicit empty branch: the common members only.
        ({"kind": "green"}, None),
        ({"kind": "green", "heat": 3}, ("$", "Unevaluated properties are not allowed")),
        ({"kind": "red"}, ("$", "'heat' is a required property")),
        ({"kind": "red", "heat": 256}, ("$.heat", "256 is greater than the maximum of 255")),
        ({"kind": "red", "heat": 3, "extra": 1}, ("$", "Unevaluated properties are not allowed")),
        ({"kind": "blue"}, ("$.kind", "'blue' is not one of ['red', 'green']")),
        ({"heat": 3}, ("$", "'kind' is a required property")),
    ],
)
def test_union_by_discriminator(small: Schema, doc: JSON, error: tuple[str, str] | None) -> None:
    validator = _validator(export_bundle(small), "Paint")
    errors = _all_errors(validator, doc)
    if error is None:
        assert errors == set()
    else:
        # A member of a branch that fails its type is also left unevaluated,
        # which the library reports too; the real error must be among them.
        path, message = error
        assert any(p == path and m.startswith(message) for p, m in errors), errors


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (1.5, True),
        ("red", True),
        (None, True),
        ("blue", False),
        ("1", False),
        (True, False),
        ([1], False),
        ({}, False),
    ],
)
def test_alternate_by_json_type(small: Schema, value: object, ok: bool) -> None:
    """A number (integers too, as QEMU accepts them), a colour or null."""
    assert _validator(export_bundle(small), "Either").is_valid(value) is ok


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("int8", [-128, 127], [-129, 128, 1.5, "1"]),
        ("uint8", [0, 255], [-1, 256]),
        ("int16", [-(2**15), 2**15 - 1], [-(2**15) - 1, 2**15]),
        ("uint16", [0, 2**16 - 1], [-1, 2**16]),
        ("int32", [-(2**31), 2**31 - 1], [-(2**31) - 1, 2**31]),
        ("uint32", [0, 2**32 - 1], [-1, 2**32]),
        ("int", [-(2**63), 2**63 - 1], [-(2**63) - 1, 2**63]),
        ("int64", [-(2**63), 2**63 - 1], [-(2**63) - 1, 2**63]),
        # QEMU takes negative uint64/size values too, wrapping them (oracle fact 28).
        ("uint64", [0, 2**64 - 1, -1, -(2**63)], [-(2**63) - 1, 2**64]),
        ("size", [0, 2**64 - 1, -1, -(2**63)], [-(2**63) - 1, 2**64]),
        ("number", [0, -1.5, 1e300], ["1", True, None]),
        ("bool", [True, False], [0, "true", None]),
        ("str", ["", "x"], [1, None, ["x"]]),
        ("null", [None], [0, "", False]),
        ("any", [None, 1, "x", [1, {}], {"a": []}], []),
    ],
)
def test_builtin_types(small: Schema, name: str, good: list[object], bad: list[object]) -> None:
    validator = _validator(export_bundle(small), name)
    assert [v for v in good if not validator.is_valid(v)] == []
    assert [v for v in bad if validator.is_valid(v)] == []


def test_messages(small: Schema) -> None:
    root = _validator(export_bundle(small))
    ts = {"seconds": 1, "microseconds": 2}
    good = [
        {"execute": "paint", "arguments": {"what": {"kind": "green"}}, "id": [1, {"x": None}]},
        {"execute": "paint", "arguments": {"what": {"kind": "red", "heat": 1}, "amount": 2.5}},
        {"return": [{"kind": "green"}], "id": "a"},
        {"return": {}},
        {"error": {"class": "GenericError", "desc": "no"}, "id": 7},
        {"event": "PAINTED", "data": {"count": 1}, "timestamp": ts},
        {"event": "DRIED", "timestamp": ts},
        {"QMP": {"version": {"qemu": {"major": 1}}, "capabilities": ["oob"]}},
    ]
    bad = [
        {"execute": "paint"},  # a mandatory argument is missing
        {"execute": "paint", "arguments": {"what": {"kind": "red"}}},
        {"execute": "bonus"},  # conditional on an undefined symbol
        {"execute": "nope"},
        {"exec-oob": "paint", "arguments": {"what": {"kind": "green"}}},
        {"execute": "paint", "exec-oob": "paint"},
        {"execute": "paint", "arguments": {"what": {"kind": "green"}}, "extra": 1},
        {"return": 1, "error": {"class": "GenericError", "desc": "x"}},
        {"error": {"class": "GenericError"}},
        {"event": "PAINTED", "data": {"count": 200}, "timestamp": ts},
        {"event": "PAINTED", "timestamp": ts},
        {"event": "DRIED", "data": {}, "timestamp": ts},
        {"event": "DRIED", "timestamp": {"seconds": 1}},
        {"event": "DRIED"},
        {"QMP": {"version": {}}},
        [],
        "x",
    ]
    assert [m for m in good if not root.is_valid(m)] == []
    assert [m for m in bad if root.is_valid(m)] == []


def test_gen_false_arguments_are_open(tmp_path: Path) -> None:
    """QEMU passes a 'gen': false command's arguments on unchecked."""
    schema = _load(
        tmp_path,
        "{ 'command': 'device-add', 'data': { 'driver': 'str' }, 'gen': false }\n"
        "{ 'command': 'strict', 'data': { 'driver': 'str' } }\n",
    )
    root = _validator(export_bundle(schema))
    assert root.is_valid({"execute": "device-add", "arguments": {"driver": "x", "id": "y"}})
    assert not root.is_valid({"execute": "device-add", "arguments": {"id": "y"}})
    assert not root.is_valid({"execute": "strict", "arguments": {"driver": "x", "id": "y"}})


def test_nested_union_branch(x86_64: JSON) -> None:
    """QEMU 10.0's MigrationAddress has a branch that is itself a union."""
    validator = _validator(x86_64, "MigrationAddress")
    good = {"transport": "socket", "type": "inet", "host": "h", "port": "1"}
    assert _errors(validator, good) == []
    assert validator.is_valid({"transport": "socket", "type": "unix", "path": "/p"})
    assert not validator.is_valid({"transport": "socket", "type": "unix", "host": "h"})
    assert not validator.is_valid({"transport": "exec", "type": "inet", "host": "h"})


# -- real messages from QEMU 10.0 ---------------------------------------------


def _oracle(name: str) -> Any:
    return json.loads(need_shared("oracle", name).read_text())


def test_commands_match_query_commands(x86_64: JSON) -> None:
    """With the build's symbols, the schema's commands are the ones QEMU lists."""
    listed = {c["name"] for c in _oracle("query-commands.json")["reply"]["return"]}
    execute = x86_64["$defs"][message_def("command")]["properties"]["execute"]["enum"]
    assert set(execute) == listed


@pytest.mark.parametrize("name", ["query-version.json", "query-commands.json"])
def test_query_replies(x86_64: JSON, name: str) -> None:
    recorded = _oracle(name)
    command = recorded["request"]["execute"]
    root = _validator(x86_64)
    assert _errors(root, recorded["request"]) == []
    assert _errors(root, recorded["reply"]) == []
    assert _errors(_validator(x86_64, returns_def(command)), recorded["reply"]["return"]) == []


def test_greeting(x86_64: JSON) -> None:
    greeting = _oracle("qmp-greeting.json")["greeting"]
    assert _errors(_validator(x86_64), greeting) == []
    assert _errors(_validator(x86_64, message_def("greeting")), greeting) == []


def _event(recorded: JSON) -> JSON:
    """An event as it was on the wire: the oracle masks the timestamp's numbers."""
    assert recorded["timestamp_ok"] is True
    event: JSON = {"event": recorded["event"], "timestamp": {"seconds": 1, "microseconds": 0}}
    if "data" in recorded:
        event["data"] = recorded["data"]
    return event


def _scenario_messages() -> Iterator[tuple[str, str, JSON, JSON | None]]:
    """(scenario, direction, message, the command a reply answers)."""
    for scenario in _oracle("scenarios.json")["scenarios"]:
        pending: list[JSON] = []
        for entry in scenario["transcript"]:
            if entry["dir"] == "send":
                command = json.loads(entry["text"])
                pending.append(command)
                yield scenario["name"], "send", command, None
            elif entry["dir"] == "recv" and entry["kind"] == "event":
                yield scenario["name"], "event", _event(entry["msg"]), None
            elif entry["dir"] == "recv":
                # No ids were sent: replies come in the order of the commands.
                answers = pending.pop(0) if entry["kind"] != "greeting" else None
                yield scenario["name"], entry["kind"], entry["msg"], answers


def _input_error(reply: JSON) -> bool:
    """Whether QEMU refused a command's arguments as its schema says."""
    desc = str(reply.get("error", {}).get("desc", ""))
    return desc.startswith(("Parameter '", "Invalid parameter type"))


def test_scenario_transcripts(x86_64: JSON) -> None:
    """Every message of the recorded scenarios: what QEMU sent validates; a
    command validates exactly when QEMU accepted its arguments; each success
    reply validates against its command's return schema."""
    root = _validator(x86_64)
    returns: dict[str, Draft202012Validator] = {}
    replies: dict[int, JSON] = {}
    commands: list[JSON] = []
    counts = {"send": 0, "return": 0, "error": 0, "event": 0, "greeting": 0}
    for scenario, kind, message, answers in _scenario_messages():
        counts[kind] += 1
        if kind == "send":
            commands.append(message)
            continue
        assert _errors(root, message) == [], (scenario, message)
        if answers is not None:
            replies[id(answers)] = message
        if kind == "return":
            assert answers is not None
            name = answers["execute"]
            validator = returns.setdefault(name, _validator(x86_64, returns_def(name)))
            assert _errors(validator, message["return"]) == [], (scenario, message)
    refused = 0
    for command in commands:
        reply = replies.get(id(command))
        if reply is None:
            continue
        expected = not _input_error(reply)
        refused += not expected
        assert root.is_valid(command) is expected, (command, reply)
    assert refused >= 5
    assert counts["event"] > 50 and counts["return"] > 100 and counts["error"] >= 8


_DELETE = object()


def _mutate(doc: JSON, path: list[str], value: object) -> JSON:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def _recorded(source: str) -> tuple[JSON, str]:
    """A message QEMU sent, and the $defs entry it must match: a command's
    return value (from the query replies or the scenarios), or an event."""
    if source == "query-version":
        return _oracle("query-version.json")["reply"]["return"], returns_def(source)
    for _, kind, message, answers in _scenario_messages():
        if kind == "event" and message["event"] == source:
            return message, message_def("event")
        if kind == "return" and answers is not None and answers["execute"] == source:
            return message["return"], returns_def(source)
    raise AssertionError(f"nothing recorded for {source}")


@pytest.mark.parametrize(
    ("source", "path", "value", "pointer", "message"),
    [
        # A wrong type.
        ("query-version", ["qemu", "major"], "10", "$.qemu.major", "'10' is not of type 'integer'"),
        ("query-status", ["running"], "yes", "$.running", "'yes' is not of type 'boolean'"),
        # A missing member.
        ("query-version", ["package"], _DELETE, "$", "'package' is a required property"),
        ("SHUTDOWN", ["data", "guest"], _DELETE, "$.data", "'guest' is a required property"),
        # An unknown member.
        (
            "query-version",
            ["qemu", "nano"],
            0,
            "$.qemu",
            "Additional properties are not allowed ('nano' was unexpected)",
        ),
        # An unknown enum value.
        ("query-status", ["status"], "sleeping", "$.status", "'sleeping' is not one of ['"),
        (
            "GUEST_PANICKED",
            ["data", "action"],
            "explode",
            "$.data.action",
            "'explode' is not one of ['pause', 'poweroff', 'run']",
        ),
        # Out of range.
        (
            "SHUTDOWN",
            ["timestamp", "microseconds"],
            1000000,
            "$.timestamp.microseconds",
            "1000000 is greater than the maximum of 999999",
        ),
    ],
)
def test_mutated_messages_are_rejected(
    x86_64: JSON, source: str, path: list[str], value: object, pointer: str, message: str
) -> None:
    """A recorded message validates; broken in one place, it is rejected, and
    the error points at that place."""
    original, definition = _recorded(source)
    validator = _validator(x86_64, definition)
    assert _errors(validator, original) == []
    errors = _errors(validator, _mutate(original, path, value))
    assert len(errors) == 1
    assert errors[0][0] == pointer
    assert errors[0][1].startswith(message)


# -- the command line -------------------------------------------------------


def test_cli_writes_the_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(SMALL)
    out = tmp_path / "out" / "deeper"
    assert main(["jsonschema", str(schema), "-o", str(out), "--define", "HAVE_BONUS"]) == 0
    assert capsys.readouterr() == ("", "")
    written = json.loads((out / BUNDLE_FILE).read_text())
    assert written == export_bundle(load_schema(str(schema)), ["HAVE_BONUS"])
    assert arguments_def("bonus") in written["$defs"]
    # The same input gives the same bytes.
    first = (out / BUNDLE_FILE).read_bytes()
    assert main(["jsonschema", str(schema), "-o", str(out), "--define", "HAVE_BONUS"]) == 0
    assert (out / BUNDLE_FILE).read_bytes() == first


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ 'struct': 'Foo', 'data': { 'a': 'Bar' } }\n")
    assert main(["jsonschema", str(bad), "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.endswith("member 'a' uses unknown type 'Bar'\n")
    good = tmp_path / "good.json"
    good.write_text("{ 'command': 'x' }\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["jsonschema", str(good), "-o", str(blocker)]) == 1
    assert capsys.readouterr().err.startswith("can't write ")
