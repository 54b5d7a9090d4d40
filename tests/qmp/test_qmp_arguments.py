"""Arguments checked from introspection alone, as QEMU 10.0.2's marshallers check them.

``qapigen.qmp.arguments.check_arguments`` over the shipped profile's
``query-qmp-schema`` against real QEMU: hand-picked faults (missing, unexpected,
wrong JSON types, enum values, nested objects, lists, flat unions), and a
seeded, bounded stream of random argument objects, each made valid for its
command from the schema and then broken in one place, sent to QEMU.  Where
QEMU's reply is its input visitor's error, the checker must give the same
text; where QEMU ran the command or failed for another reason, the checker
must accept the arguments.  What introspection masks (integer widths,
alternates' names) comes from the shipped profile's schema facts; without
them, only the forms docs/behaviour.md lists differ from QEMU.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from qapigen.profiles import profile
from qapigen.qmp.arguments import check_arguments
from qapigen.qmp.schema_info import SchemaInfo
from qapigen.runtime.errors import WireError

from ..support.qemu import QMPProcess, RawQMP, skip_without_qemu

SCHEMA = SchemaInfo(profile.default().introspection(), facts=profile.default().schema_facts())
# The same schema from introspection alone, as a profile without schema facts is served.
BARE = SchemaInfo(profile.default().introspection())
SEED = 20251205
CASES = 400


def _desc(command: str, arguments: dict[str, Any], schema: SchemaInfo = SCHEMA) -> str | None:
    try:
        check_arguments(schema, command, arguments)
    except WireError as err:
        return err.desc
    return None


# -- without QEMU: what the checker says -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "arguments", "desc"),
    [
        ("qom-list-properties", {}, "Parameter 'typename' is missing"),
        (
            "qom-list-properties",
            {"typename": 1},
            "Invalid parameter type for 'typename', expected: string",
        ),
        (
            "set-action",
            {"panic": "bogus"},
            "Parameter 'panic' does not accept value 'bogus'",
        ),
        (
            "set-action",
            {"panic": 1},
            "Invalid parameter type for 'panic', expected: string",
        ),
        (
            "query-command-line-options",
            {"option": None},
            "Invalid parameter type for 'option', expected: string",
        ),
        (
            "query-stats",
            {"target": "vcpu", "vcpus": [1]},
            "Invalid parameter type for 'vcpus[0]', expected: string",
        ),
        (
            "query-stats",
            {"target": "vm", "vcpus": []},
            "Parameter 'vcpus' is unexpected",
        ),
        (
            "query-stats",
            {"target": "bogus"},
            "Parameter 'target' does not accept value 'bogus'",
        ),
        (
            "query-stats",
            {"target": "vm", "providers": [{}]},
            "Parameter 'providers[0].provider' is missing",
        ),
        (
            "query-cpu-model-expansion",
            {"type": "full", "model": []},
            "Invalid parameter type for 'model', expected: object",
        ),
        (
            "query-cpu-model-expansion",
            {"type": "full", "model": {"name": "max", "x": 1}},
            "Parameter 'model.x' is unexpected",
        ),
        (
            "send-key",
            {"keys": {}},
            "Invalid parameter type for 'keys', expected: array",
        ),
        (
            "human-monitor-command",
            {"command-line": "info", "cpu-index": 1.5},
            "Invalid parameter type for 'cpu-index', expected: integer",
        ),
        ("query-status", {"x": 1}, "Parameter 'x' is unexpected"),
    ],
)
def test_the_checker_names_the_fault_as_qemu_does(
    command: str, arguments: dict[str, Any], desc: str
) -> None:
    assert _desc(command, arguments) == desc


def test_valid_arguments_pass() -> None:
    assert _desc("query-stats", {"target": "vcpu", "vcpus": ["/machine/x"]}) is None
    assert (
        _desc(
            "query-cpu-model-expansion",
            {"type": "static", "model": {"name": "host", "props": {"a": [1]}}},
        )
        is None
    )
    assert _desc("device_add", {"driver": "pvpanic", "ioport": 1285, "id": "p"}) is None


def test_device_add_checks_only_its_driver() -> None:
    # Its other arguments are the device's properties: QEMU's own code reads them.
    assert _desc("device_add", {}) == "Parameter 'driver' is missing"
    assert (
        _desc("device_add", {"driver": 1})
        == "Invalid parameter type for 'driver', expected: string"
    )


# Integer members of each width, and alternates, as QEMU 10.0.2 answered them (observed with
# migrate-set-parameters, human-monitor-command and blockdev-add on -machine none).
_MSP = "migrate-set-parameters"


@pytest.mark.parametrize(
    ("command", "arguments", "desc"),
    [
        (
            _MSP,
            {"throttle-trigger-threshold": 300},
            "Parameter 'throttle-trigger-threshold' expects uint8_t",
        ),
        (
            _MSP,
            {"throttle-trigger-threshold": -1},
            "Parameter 'throttle-trigger-threshold' expects uint8_t",
        ),
        (
            _MSP,
            {"throttle-trigger-threshold": "x"},
            "Parameter 'throttle-trigger-threshold' expects uint64",
        ),
        (
            _MSP,
            {"throttle-trigger-threshold": 1.5},
            "Parameter 'throttle-trigger-threshold' expects uint64",
        ),
        (
            _MSP,
            {"x-checkpoint-delay": 1 << 32},
            "Parameter 'x-checkpoint-delay' expects uint32_t",
        ),
        (_MSP, {"max-bandwidth": 1 << 64}, "Parameter 'max-bandwidth' expects uint64"),
        (_MSP, {"max-bandwidth": "x"}, "Parameter 'max-bandwidth' expects uint64"),
        (
            _MSP,
            {"tls-creds": 1},
            "Invalid parameter type for 'tls-creds', expected: StrOrNull",
        ),
        (
            "human-monitor-command",
            {"command-line": "info", "cpu-index": 1 << 63},
            "Invalid parameter type for 'cpu-index', expected: integer",
        ),
        (
            "blockdev-add",
            {"driver": "qcow2", "node-name": "n", "file": 5},
            "Invalid parameter type for 'file', expected: BlockdevRef",
        ),
        (
            "blockdev-add",
            {"driver": "qcow2", "node-name": "n", "file": "f", "backing": 5},
            "Invalid parameter type for 'backing', expected: BlockdevRefOrNull",
        ),
    ],
)
def test_integer_widths_and_alternates_named_as_qemu_does(
    command: str, arguments: dict[str, Any], desc: str
) -> None:
    assert _desc(command, arguments) == desc


def test_integers_in_range_pass() -> None:
    assert _desc(_MSP, {"throttle-trigger-threshold": 255, "x-checkpoint-delay": 0}) is None
    # uint64 takes negative numbers (wrapped), as QEMU does.
    assert _desc(_MSP, {"max-bandwidth": -1}) is None
    assert _desc(_MSP, {"max-bandwidth": (1 << 64) - 1}) is None
    assert _desc("human-monitor-command", {"command-line": "i", "cpu-index": -(1 << 63)}) is None


def test_without_schema_facts_integers_and_alternates_are_as_introspection_shows() -> None:
    """A profile without schema facts (docs/behaviour.md): any integer QEMU's parser keeps,
    and the alternate's masked name."""
    assert _desc(_MSP, {"throttle-trigger-threshold": 300}, BARE) is None
    assert _desc("human-monitor-command", {"command-line": "i", "cpu-index": 1 << 63}, BARE) is None
    assert (
        _desc(_MSP, {"max-bandwidth": 1 << 64}, BARE)
        == "Invalid parameter type for 'max-bandwidth', expected: integer"
    )
    desc = _desc("blockdev-add", {"driver": "qcow2", "node-name": "n", "file": 5}, BARE)
    assert desc is not None
    masked = desc.rpartition(" ")[2]
    assert masked.isdigit() and BARE.types[masked]["meta-type"] == "alternate"


# -- against QEMU ------------------------------------------------------------------------

# Commands whose every valid call is harmless on a machine with nothing in it,
# for each the values (or choices) random arguments start from where it matters.
_SAFE = (
    "query-stats",
    "query-stats-schemas",
    "query-cpu-model-expansion",
    "query-command-line-options",
    "qom-list-properties",
    "device-list-properties",
    "trace-event-get-state",
    "query-rocker-of-dpa-flows",
    "block-dirty-bitmap-add",
    "input-send-event",
    "send-key",
    "set-action",
    "migrate-set-parameters",
    "display-update",
    "blockdev-add",
)
# blockdev-add's drivers that open nothing on the host.
_BLOCK_DRIVERS = (
    "null-co",
    "null-aio",
    "raw",
    "qcow2",
    "throttle",
    "copy-on-read",
    "blkdebug",
)
_BLOCKDEV_OPTIONS = SCHEMA.commands["blockdev-add"]["arg-type"]
_WRONG: tuple[Any, ...] = (1, -7, 1.5, "s", True, None, [], {}, [1], {"k": 1})
# Integers at the edges of the integer types' ranges.
_EDGES = (
    -1,
    128,
    256,
    65536,
    1 << 31,
    1 << 32,
    1 << 63,
    (1 << 64) - 1,
    1 << 64,
    -(1 << 63) - 1,
)
# The input visitor's messages (QEMU's own checks that follow say "expects an integer in
# the range ...", "expects a power of two ...": not the visitor's).
_VISITOR = re.compile(
    r"^Parameter '[^']*' (is missing|is unexpected|does not accept value .*"
    r"|expects (uint64|u?int(8|16|32)_t))$"
    r"|^Invalid parameter type for '[^']*', expected: .*$"
)


class _Maker:
    """Valid argument values of the schema's types, at random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def value(self, type_name: str, depth: int) -> Any:
        entry = SCHEMA.types[type_name]
        meta = entry["meta-type"]
        rng = self.rng
        if meta == "builtin":
            json_type = entry["json-type"]
            if json_type == "string":
                return rng.choice(["a", "", "node0", "x y"])
            if json_type == "int":
                return rng.randrange(0, 100)
            if json_type == "number":
                return rng.choice([0.5, 2])
            if json_type == "boolean":
                return rng.random() < 0.5
            return None if json_type == "null" else rng.choice([1, "a", [True]])
        if meta == "enum":
            return rng.choice(entry["values"])
        if meta == "array":
            count = 0 if depth > 3 else rng.randrange(3)
            return [self.value(entry["element-type"], depth + 1) for _ in range(count)]
        if meta == "alternate":
            branches = [m["type"] for m in entry["members"]]
            scalar = [b for b in branches if SCHEMA.types[b]["meta-type"] in ("builtin", "enum")]
            pick = rng.choice(scalar if depth > 2 and scalar else branches)
            return self.value(pick, depth + 1)
        return self.members(entry, depth)

    def members(self, entry: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for member in entry["members"]:
            if "default" in member and (depth > 2 or self.rng.random() < 0.6):
                continue
            out[member["name"]] = self.value(member["type"], depth + 1)
        tag = entry.get("tag")
        if tag is not None:
            if entry["name"] == _BLOCKDEV_OPTIONS:
                out[tag] = self.rng.choice(_BLOCK_DRIVERS)
            for variant in entry["variants"]:
                if variant["case"] == out[tag]:
                    out.update(self.members(SCHEMA.types[variant["type"]], depth))
        return out


def _places(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) of ``value``'s members and elements."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in node:
                yield node, key
                stack.append(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                yield node, index
                stack.append(node[index])


def _break(arguments: dict[str, Any], rng: random.Random) -> None:
    """Break ``arguments`` in one place (or leave them valid, now and then)."""
    places = list(_places(arguments))
    objects = [arguments] + [c[k] for c, k in places if isinstance(c[k], dict)]
    kind = rng.randrange(5)
    if kind == 0 or not places:
        target = rng.choice(objects)
        for _ in range(rng.choice([1, 1, 2, 3])):
            target[rng.choice(["bogus", "x", "zz-top", "id2", "Name"]) + str(rng.randrange(9))] = 1
        return
    container, key = rng.choice(places)
    if kind == 1 and isinstance(container, dict):
        del container[key]
    elif kind == 2 and isinstance(container[key], str):
        container[key] = "bogus"
    elif kind in (2, 3):
        if type(container[key]) is int and rng.random() < 0.7:
            container[key] = rng.choice(_EDGES)  # an integer out of its type's range, or not
        else:
            container[key] = rng.choice(_WRONG)
    # kind 4: left valid


def _harmful(command: str, arguments: Any) -> bool:
    """Whether QEMU 10.0.2 would abort on these arguments: a null block driver's negative
    ``size`` (observed: the process dies)."""
    if command != "blockdev-add" or not isinstance(arguments, dict):
        return False
    if arguments.get("driver") in ("null-co", "null-aio"):
        size = arguments.get("size")
        if type(size) is int and size < 0:
            return True
    return any(_harmful(command, v) for v in arguments.values())


@pytest.fixture(scope="module")
def qemu() -> Iterator[RawQMP]:
    process = QMPProcess((skip_without_qemu(),), ("-S",))
    try:
        conn = process.connect()
        assert conn.command(b'{"execute": "qmp_capabilities"}\n') == b'{"return": {}}\r\n'
        yield conn
        conn.close()
    finally:
        process.close()


def _qemu_desc(conn: RawQMP, command: str, arguments: dict[str, Any]) -> str | None:
    reply = json.loads(
        conn.command(json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n")
    )
    return reply["error"]["desc"] if "error" in reply else None


def test_hand_picked_faults_match_qemu(qemu: RawQMP) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("query-stats", {"target": "vcpu", "vcpus": "x"}),
        ("query-stats", {"target": "vm", "vcpus": [], "providers": []}),
        (
            "query-stats",
            {"providers": [{"provider": "kvm", "names": [1]}], "target": "vm"},
        ),
        ("query-cpu-model-expansion", {"model": {"name": "max"}}),
        ("query-cpu-model-expansion", {"type": "full", "model": {"name": 5}}),
        ("set-action", {"bogus": "pause", "other": 1, "panic": "pause"}),
        ("set-action", {"zz": 1, "aa": 2, "mm": 3, "panic": "x"}),
        ("blockdev-add", {"driver": "null-co", "read-zeroes": 1}),
        (
            "blockdev-add",
            {"driver": "qcow2", "node-name": "n", "file": "f", "bogus": 1},
        ),
        ("blockdev-add", {"driver": "nosuch", "node-name": "n"}),
        ("blockdev-add", {"node-name": "n"}),
        (
            "input-send-event",
            {
                "events": [
                    {
                        "type": "key",
                        "data": {
                            "down": True,
                            "key": {"type": "qcode", "data": "nokey"},
                        },
                    }
                ]
            },
        ),
        ("input-send-event", {"events": [{"type": "btn"}]}),
        ("send-key", {"keys": [{"type": "number", "data": "a"}]}),
        ("display-update", {"type": "vnc", "addresses": [{"type": "unix"}]}),
        (_MSP, {"throttle-trigger-threshold": 300}),
        (_MSP, {"throttle-trigger-threshold": -1}),
        (_MSP, {"throttle-trigger-threshold": "x"}),
        (_MSP, {"multifd-channels": 256}),
        (_MSP, {"x-checkpoint-delay": 1 << 32}),
        (_MSP, {"max-bandwidth": 1 << 64}),
        (_MSP, {"max-bandwidth": 1.5}),
        (_MSP, {"tls-creds": 1}),
        (_MSP, {"tls-hostname": []}),
        ("human-monitor-command", {"command-line": "info", "cpu-index": 1 << 63}),
        ("human-monitor-command", {"command-line": "info", "cpu-index": (1 << 64) - 1}),
        (
            "human-monitor-command",
            {"command-line": "info", "cpu-index": -(1 << 63) - 1},
        ),
        ("blockdev-add", {"driver": "qcow2", "node-name": "n", "file": 5}),
        (
            "blockdev-add",
            {"driver": "qcow2", "node-name": "n", "file": "f", "backing": 5},
        ),
        (
            "blockdev-add",
            {"driver": "null-co", "node-name": "n", "size": (1 << 64) - 1},
        ),
        ("block-set-write-threshold", {"node-name": "n", "write-threshold": 1 << 64}),
        ("block-latency-histogram-set", {"id": "n", "boundaries": [1, -(1 << 63) - 1]}),
    ]
    for command, arguments in cases:
        theirs = _qemu_desc(qemu, command, arguments)
        assert theirs is not None and _VISITOR.match(theirs), (
            command,
            arguments,
            theirs,
        )
        assert _desc(command, arguments) == theirs, (command, arguments)


def test_random_arguments_get_qemus_errors(qemu: RawQMP) -> None:
    rng = random.Random(SEED)
    maker = _Maker(rng)
    compared = 0
    for _ in range(CASES):
        command = rng.choice(_SAFE)
        arg_type = SCHEMA.types[SCHEMA.commands[command]["arg-type"]]
        arguments = maker.members(arg_type, 0)
        _break(arguments, rng)
        if command == "blockdev-add" and arguments.get("driver") not in _BLOCK_DRIVERS:
            continue  # an enum fault at the tag is compared by the cases above
        if _harmful(command, arguments):
            continue
        theirs = _qemu_desc(qemu, command, arguments)
        ours = _desc(command, arguments)
        if theirs is not None and _VISITOR.match(theirs):
            assert ours == theirs, (command, arguments)
            compared += 1
        else:
            assert ours is None, (command, arguments, theirs)
    # The stream exercised the checker: most faults were QEMU's visitor's, and matched.
    assert compared > CASES // 3, compared


def test_every_integer_member_of_migrate_set_parameters_at_its_edges(qemu: RawQMP) -> None:
    """Each integer member (uint8, uint32, uint64, size, int) given the values at the edges
    of every width, and a string: QEMU's error for each, or none where QEMU took it."""
    arg_type = SCHEMA.types[SCHEMA.commands[_MSP]["arg-type"]]
    members = [
        m["name"] for m in arg_type["members"] if SCHEMA.types[m["type"]].get("json-type") == "int"
    ]
    widths = SCHEMA.integers.get(arg_type["name"], {}) if SCHEMA.integers else {}
    assert {"uint8", "uint32", "uint64", "size"} <= set(widths.values())
    ranges = 0
    for name in members:
        for value in (*_EDGES, 0, "1"):
            arguments = {name: value}
            theirs = _qemu_desc(qemu, _MSP, arguments)
            ours = _desc(_MSP, arguments)
            if theirs is not None and _VISITOR.match(theirs):
                assert ours == theirs, arguments
                ranges += "expects" in theirs
            else:
                assert ours is None, (arguments, theirs)
    assert ranges > len(members), ranges


def test_arguments_nested_as_deep_as_qemu_reads_them(qemu: RawQMP) -> None:
    """A chain of a thousand ``file`` references (QEMU's JSON takes 1024 levels):
    walked to the end, as QEMU walks it, the fault at the bottom named by its path."""
    arguments: dict[str, Any] = {"driver": "null-co", "bogus": 1}
    for _ in range(1000):
        arguments = {"driver": "raw", "file": arguments}
    # Written by hand: Python's json module recurses, and stops short of this.
    text = '{"driver": "raw", "file": ' * 1000 + '{"driver": "null-co", "bogus": 1}' + "}" * 1000
    request = '{"execute": "blockdev-add", "arguments": ' + text + "}\n"
    theirs = json.loads(qemu.command(request.encode()))["error"]["desc"]
    assert theirs == "Parameter '" + "file." * 1000 + "bogus' is unexpected"
    assert _desc("blockdev-add", arguments) == theirs
