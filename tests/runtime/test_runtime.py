"""The runtime codec against QEMU's QObject input visitor: type checks, ranges, messages, paths.

QEMU names a faulty member by its full path (``a.b``, ``l[0]``, ``l[1].c``)
in type, missing and unexpected errors and in ``expects uint64``; enum values,
the ranges of the narrow integers and alternates name the member only, and an
element of a list has no name there: ``'null'``.  Where the oracle recorded a
real QEMU 10.0.2 answer (/work/shared/oracle/README.md, facts 10, 19, 22, 28),
the test uses exactly that input.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

import pytest

from qapigen import runtime as rt
from qapigen import simulator_api

from ..support.bindings import generate_package, import_package

Decoder = Callable[[object, "str | int | None", bool], Any]

SCHEMA = """
{ 'enum': 'Mode', 'data': [ 'on', 'off' ] }
{ 'struct': 'Leaf',
  'data': { 'c': 'int', '*u8': 'uint8', '*m': 'Mode', '*n': 'number' } }
{ 'alternate': 'Alt',
  'data': { 'n': 'int', 'leaf': 'Leaf', 'words': [ 'str' ] } }
{ 'alternate': 'NumOrFlag', 'data': { 'num': 'number', 'flag': 'bool' } }
{ 'struct': 'Mid',
  'data': { 'b': 'uint64', '*l': [ 'Leaf' ], '*alt': 'Alt', '*alts': [ 'Alt' ],
            '*modes': [ 'Mode' ], '*nf': 'NumOrFlag' } }
{ 'struct': 'Top', 'data': { 'a': 'Mid' } }
"""


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """A small generated package: nested structs, lists, an enum, alternates."""
    root = tmp_path_factory.mktemp("runtime")
    (root / "codec.json").write_text(SCHEMA)
    generate_package(root / "codec.json", root, "rt_codec")
    return import_package(root, "rt_codec")[0]


def _error(decode: Callable[[], object]) -> str:
    with pytest.raises(rt.WireError) as excinfo:
        decode()
    err = excinfo.value
    assert isinstance(err, ValueError) and str(err) == err.desc
    return err.desc


# -- scalars ---------------------------------------------------------------------

SCALAR_ERRORS: list[tuple[Decoder, object, str]] = [
    # intN/uintN: a non-integer is a type error (signed) or "expects uint64"
    # (unsigned, as visit_type_uintN goes through type_uint64); out of range
    # is "expects <C type>".
    (rt.d_int8, 300, "Parameter 'x' expects int8_t"),
    (rt.d_int8, -129, "Parameter 'x' expects int8_t"),
    (rt.d_int8, "s", "Invalid parameter type for 'x', expected: integer"),
    (rt.d_int16, 32768, "Parameter 'x' expects int16_t"),
    (rt.d_int32, -(2**31) - 1, "Parameter 'x' expects int32_t"),
    (rt.d_int32, 1.0, "Invalid parameter type for 'x', expected: integer"),
    (rt.d_uint8, -1, "Parameter 'x' expects uint8_t"),
    (rt.d_uint8, 256, "Parameter 'x' expects uint8_t"),
    (rt.d_uint8, "1", "Parameter 'x' expects uint64"),
    (rt.d_uint16, 65536, "Parameter 'x' expects uint16_t"),
    (rt.d_uint32, 2**32, "Parameter 'x' expects uint32_t"),
    (rt.d_uint32, -1, "Parameter 'x' expects uint32_t"),
    (rt.d_uint64, 1.5, "Parameter 'x' expects uint64"),
    (rt.d_uint64, 2**64, "Parameter 'x' expects uint64"),
    (rt.d_uint64, -(2**63) - 1, "Parameter 'x' expects uint64"),
    (rt.d_uint64, True, "Parameter 'x' expects uint64"),
    (rt.d_size, "1", "Parameter 'x' expects uint64"),
    # int/int64: 2^63 does not fit (QEMU's parser makes it a double).
    (rt.d_int, 2**63, "Invalid parameter type for 'x', expected: integer"),
    (rt.d_int, -(2**63) - 1, "Invalid parameter type for 'x', expected: integer"),
    (rt.d_int64, 0.0, "Invalid parameter type for 'x', expected: integer"),
    (rt.d_int, True, "Invalid parameter type for 'x', expected: integer"),
    (rt.d_number, "1", "Invalid parameter type for 'x', expected: number"),
    (rt.d_number, False, "Invalid parameter type for 'x', expected: number"),
    (rt.d_number, None, "Invalid parameter type for 'x', expected: number"),
    (rt.d_bool, 0, "Invalid parameter type for 'x', expected: boolean"),
    (rt.d_bool, 1, "Invalid parameter type for 'x', expected: boolean"),
    (rt.d_bool, "true", "Invalid parameter type for 'x', expected: boolean"),
    (rt.d_str, None, "Invalid parameter type for 'x', expected: string"),
    (rt.d_str, b"x", "Invalid parameter type for 'x', expected: string"),
    (rt.d_null, 0, "Invalid parameter type for 'x', expected: null"),
    (rt.d_null, False, "Invalid parameter type for 'x', expected: null"),
    (rt.d_null, "", "Invalid parameter type for 'x', expected: null"),
]


@pytest.mark.parametrize(("decode", "value", "desc"), SCALAR_ERRORS)
def test_scalar_errors(decode: Decoder, value: object, desc: str) -> None:
    """Each scalar decoder rejects a wrong value with QEMU's message for it, strict or not."""
    assert _error(lambda: decode(value, "x", True)) == desc
    assert _error(lambda: decode(value, "x", False)) == desc


SCALAR_VALUES: list[tuple[Decoder, object, object]] = [
    (rt.d_int, -(2**63), -(2**63)),
    (rt.d_int, 2**63 - 1, 2**63 - 1),
    (rt.d_int8, -128, -128),
    (rt.d_uint8, 255, 255),
    (rt.d_uint32, 2**32 - 1, 2**32 - 1),
    # Negative numbers wrap for uint64 and size (fact 28: max-bandwidth -1).
    (rt.d_uint64, -1, 2**64 - 1),
    (rt.d_uint64, -(2**63), 2**63),
    (rt.d_size, -2, 2**64 - 2),
    (rt.d_uint64, 2**64 - 1, 2**64 - 1),
    (rt.d_number, 1, 1),
    (rt.d_number, -2.5, -2.5),
    (rt.d_bool, False, False),
    (rt.d_str, "", ""),
    (rt.d_null, None, None),
    (rt.d_any, {"a": [1, None]}, {"a": [1, None]}),
]


@pytest.mark.parametrize(("decode", "value", "result"), SCALAR_VALUES)
def test_scalar_values(decode: Decoder, value: object, result: object) -> None:
    """Values in range decode to themselves (uint64/size: modulo 2^64); number keeps an int."""
    got = decode(value, "x", True)
    assert got == result and type(got) is type(result)


def test_oracle_scalar_facts() -> None:
    """Facts 19 and 28, replayed on the decoders with QEMU's own member names."""
    assert _error(lambda: rt.d_uint8(-1, "cpu-throttle-initial", True)) == (
        "Parameter 'cpu-throttle-initial' expects uint8_t"
    )
    assert _error(lambda: rt.d_uint8(300, "cpu-throttle-initial", True)) == (
        "Parameter 'cpu-throttle-initial' expects uint8_t"
    )
    for bad in (1.5, "1"):
        assert _error(partial(rt.d_uint64, bad, "downtime-limit", True)) == (
            "Parameter 'downtime-limit' expects uint64"
        )
    assert rt.d_uint64(-1, "max-bandwidth", True) == 18446744073709551615
    assert _error(lambda: rt.d_bool("on", "enable", True)) == (
        "Invalid parameter type for 'enable', expected: boolean"
    )
    assert _error(lambda: rt.d_str({}, "option", True)) == (
        "Invalid parameter type for 'option', expected: string"
    )
    assert _error(lambda: rt.list_of(rt.d_str)("oob", "enable", True)) == (
        "Invalid parameter type for 'enable', expected: array"
    )


# -- WireError: how paths are built ---------------------------------------------------


def test_wire_error_paths() -> None:
    """Errors grow their path as they travel out; full paths or the innermost name only."""
    assert rt.WireError.missing("c").inside(1).inside("l").inside("a").desc == (
        "Parameter 'a.l[1].c' is missing"
    )
    assert rt.WireError.unexpected("z").inside("b").desc == "Parameter 'b.z' is unexpected"
    assert rt.WireError.wrong_type("integer").inside(0).inside("l").desc == (
        "Invalid parameter type for 'l[0]', expected: integer"
    )
    assert rt.WireError.bad_value("uint64", full=True).inside("b").inside("a").desc == (
        "Parameter 'a.b' expects uint64"
    )
    narrow = rt.WireError.bad_value("uint8_t", full=False)
    assert narrow.inside("x").inside(2).inside("l").desc == "Parameter 'x' expects uint8_t"
    in_list = rt.WireError.bad_value("uint8_t", full=False).inside(2).inside("l")
    assert in_list.desc == "Parameter 'null' expects uint8_t"
    assert str(in_list) == in_list.desc and in_list.args == (in_list.desc,)


# -- lists ---------------------------------------------------------------------------


def test_list_paths() -> None:
    """Elements are named ``l[i]`` in full paths and ``null`` where only the name counts."""
    ints = rt.list_of(rt.d_int)
    assert ints([1, 2], "l", True) == [1, 2]
    assert _error(lambda: ints([1, "a"], "l", True)) == (
        "Invalid parameter type for 'l[1]', expected: integer"
    )
    assert _error(lambda: rt.list_of(rt.d_uint8)([1, 300], "l", True)) == (
        "Parameter 'null' expects uint8_t"
    )
    assert _error(lambda: rt.list_of(rt.d_uint64)([1.5], "l", True)) == (
        "Parameter 'l[0]' expects uint64"
    )
    nested = rt.list_of(rt.list_of(rt.d_str))
    assert _error(lambda: nested([["a"], ["b", 1]], "l", True)) == (
        "Invalid parameter type for 'l[1][1]', expected: string"
    )
    assert _error(lambda: ints({"0": 1}, "l", True)) == (
        "Invalid parameter type for 'l', expected: array"
    )
    assert _error(lambda: ints((1,), "l", True)) == (
        "Invalid parameter type for 'l', expected: array"
    )


# -- structs, enums and alternates of a generated package ------------------------------


@pytest.mark.parametrize(
    ("wire", "desc"),
    [
        ({}, "Parameter 'a' is missing"),
        ({"a": {}}, "Parameter 'a.b' is missing"),
        ({"a": {"b": 1.5}}, "Parameter 'a.b' expects uint64"),
        ({"a": {"b": "1"}}, "Parameter 'a.b' expects uint64"),
        ({"a": []}, "Invalid parameter type for 'a', expected: object"),
        ({"a": {"b": 1, "zz": 0}}, "Parameter 'a.zz' is unexpected"),
        ({"a": {"b": 1}, "zz": 0}, "Parameter 'zz' is unexpected"),
        ({"a": {"b": 1, "l": ["x"]}}, "Invalid parameter type for 'a.l[0]', expected: object"),
        ({"a": {"b": 1, "l": [{"c": 1}, {}]}}, "Parameter 'a.l[1].c' is missing"),
        (
            {"a": {"b": 1, "l": [{"c": 1}, {"c": "x"}]}},
            "Invalid parameter type for 'a.l[1].c', expected: integer",
        ),
        ({"a": {"b": 1, "l": [{"c": 1, "q": 1}]}}, "Parameter 'a.l[0].q' is unexpected"),
        # Enum values and narrow ranges: the member's own name, 'null' in a list.
        ({"a": {"b": 1, "l": [{"c": 1, "m": "x"}]}}, "Parameter 'm' does not accept value 'x'"),
        (
            {"a": {"b": 1, "l": [{"c": 1, "m": 0}]}},
            "Invalid parameter type for 'a.l[0].m', expected: string",
        ),
        ({"a": {"b": 1, "l": [{"c": 1, "u8": 256}]}}, "Parameter 'u8' expects uint8_t"),
        ({"a": {"b": 1, "l": [{"c": 1, "u8": -1}]}}, "Parameter 'u8' expects uint8_t"),
        ({"a": {"b": 1, "modes": ["on", "dim"]}}, "Parameter 'null' does not accept value 'dim'"),
        (
            {"a": {"b": 1, "modes": ["on", None]}},
            "Invalid parameter type for 'a.modes[1]', expected: string",
        ),
        # Alternates: no branch for the JSON type names the alternate and the member only.
        ({"a": {"b": 1, "alt": None}}, "Invalid parameter type for 'alt', expected: Alt"),
        ({"a": {"b": 1, "alt": True}}, "Invalid parameter type for 'alt', expected: Alt"),
        ({"a": {"b": 1, "alt": "s"}}, "Invalid parameter type for 'alt', expected: Alt"),
        ({"a": {"b": 1, "alts": [1, "s"]}}, "Invalid parameter type for 'null', expected: Alt"),
        # ... a branch's own errors keep their form.
        ({"a": {"b": 1, "alt": 1.5}}, "Invalid parameter type for 'a.alt', expected: integer"),
        ({"a": {"b": 1, "alt": {}}}, "Parameter 'a.alt.c' is missing"),
        ({"a": {"b": 1, "alt": {"c": 1, "m": "x"}}}, "Parameter 'm' does not accept value 'x'"),
        (
            {"a": {"b": 1, "alts": [["w", 2]]}},
            "Invalid parameter type for 'a.alts[0][1]', expected: string",
        ),
        ({"a": {"b": 1, "nf": "1"}}, "Invalid parameter type for 'nf', expected: NumOrFlag"),
    ],
)  # fmt: skip
def test_struct_paths(codec: ModuleType, wire: dict[str, Any], desc: str) -> None:
    """Strict decoding of nested structs, lists, enums and alternates names members as QEMU does."""
    assert _error(lambda: codec.Top.from_wire(wire)) == desc


def test_alternates_choose_by_json_type(codec: ModuleType) -> None:
    """An int/float goes to the number branch (kept as it came), a bool to the boolean branch."""
    assert codec.NumOrFlag.from_wire(1).value == 1
    assert type(codec.NumOrFlag.from_wire(1).value) is int
    assert codec.NumOrFlag.from_wire(1.5).value == 1.5
    assert codec.NumOrFlag.from_wire(True).value is True
    assert codec.Alt.from_wire(3).value == 3
    assert codec.Alt.from_wire(["a"]).value == ["a"]
    assert codec.Alt.from_wire({"c": 1}).value == codec.Leaf(c=1)
    for value in (1, 1.5, True, ["a"], {"c": 1}):
        alt = codec.NumOrFlag if not isinstance(value, (list, dict)) else codec.Alt
        assert alt.from_wire(value).to_wire() == value


def test_enum_codec(codec: ModuleType) -> None:
    """Strict enums reject unknown values, ('null' at the top); lenient keep them."""
    assert codec.Mode.from_wire("on") is codec.Mode.ON
    assert _error(lambda: codec.Mode.from_wire("dim")) == (
        "Parameter 'null' does not accept value 'dim'"
    )
    dim = codec.Mode.from_wire("dim", strict=False)
    assert (dim.known, dim.value, dim.to_wire()) == (False, "dim", "dim")
    assert codec.Mode.ON.known and codec.Mode.ON.to_wire() == "on"
    leaf = codec.Leaf.from_wire({"c": 1, "m": "dim"}, strict=False)
    assert leaf.m is dim and leaf.to_wire() == {"c": 1, "m": "dim"}


def test_lenient_keeps_unknown_members_at_every_level(codec: ModuleType) -> None:
    """Lenient decoding keeps unknown members in lists and alternates; to_wire gives them back."""
    wire = {
        "a": {
            "b": 2,
            "l": [{"c": 1, "new": [1]}],
            "alt": {"c": 2, "more": {}},
            "modes": ["off", "dim"],
            "future": "x",
        },
        "top-level": None,
    }
    value = codec.Top.from_wire(wire, strict=False)
    assert value.to_wire() == wire
    assert codec.Top.from_wire(value.to_wire(), strict=False) == value
    assert _error(lambda: codec.Top.from_wire(wire)).endswith("is unexpected")


# -- dispatch of the project's commands, against the oracle ----------------------------------


class Recorder(simulator_api.Handler):  # the documented way: subclass Handler
    """A handler of the project's commands that records set-action, watchdog-set-action, ..."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def set_action(self, **kwargs: Any) -> None:
        self.calls.append(("set-action", kwargs))

    def watchdog_set_action(self, **kwargs: Any) -> None:
        self.calls.append(("watchdog-set-action", kwargs))

    def qmp_capabilities(self, **kwargs: Any) -> None:
        self.calls.append(("qmp_capabilities", kwargs))

    def query_status(self) -> simulator_api.StatusInfo:
        self.calls.append(("query-status", {}))
        return simulator_api.StatusInfo(running=True, status=simulator_api.RunState.RUNNING)


_BOGUS = "does not accept value 'bogus'"
ORACLE_ERRORS = [
    # fact 19
    ("set-action", {"panic": "bogus"}, f"Parameter 'panic' {_BOGUS}"),
    ("set-action", {"panic": 1}, "Invalid parameter type for 'panic', expected: string"),
    ("set-action", {"bogus": "pause"}, "Parameter 'bogus' is unexpected"),
    ("watchdog-set-action", {"action": "bogus"}, f"Parameter 'action' {_BOGUS}"),
    ("watchdog-set-action", {}, "Parameter 'action' is missing"),
    # fact 10: all or nothing
    ("set-action", {"panic": "pause", "shutdown": "bogus"}, f"Parameter 'shutdown' {_BOGUS}"),
    # fact 22
    ("qmp_capabilities", {"enable": ["bogus"]}, f"Parameter 'null' {_BOGUS}"),
    ("qmp_capabilities", {"enable": "oob"}, "Invalid parameter type for 'enable', expected: array"),
    ("qmp_capabilities", {"foo": 1}, "Parameter 'foo' is unexpected"),
    # fact 28
    ("watchdog-set-action", None, "Parameter 'action' is missing"),
    ("watchdog-set-action", {"action": 1}, "Invalid parameter type for 'action', expected: string"),
    ("query-status", {"foo": 1}, "Parameter 'foo' is unexpected"),
]


@pytest.mark.parametrize(("command", "arguments", "desc"), ORACLE_ERRORS)
def test_dispatch_errors_as_recorded(
    command: str, arguments: dict[str, Any] | None, desc: str
) -> None:
    """The dispatcher answers the recorded bad inputs with QEMU 10.0.2's GenericError text."""
    handler = Recorder()
    dispatcher = rt.Dispatcher(simulator_api.COMMANDS, handler)
    with pytest.raises(rt.QMPError) as excinfo:
        dispatcher.dispatch(command, arguments)
    assert (excinfo.value.error_class, excinfo.value.desc) == ("GenericError", desc)
    assert handler.calls == [], "the handler ran although decoding failed"


def test_dispatch_successes_as_recorded() -> None:
    """Facts 19 and 22: the recorded good inputs reach the handler and answer {}."""
    handler = Recorder()
    dispatcher = rt.Dispatcher(simulator_api.COMMANDS, handler)
    assert dispatcher.dispatch("set-action", {}) == {}
    assert dispatcher.dispatch("watchdog-set-action", {"action": "pause"}) == {}
    assert dispatcher.dispatch("qmp_capabilities", {"enable": ["oob"]}) == {}
    assert dispatcher.dispatch("qmp_capabilities", {"enable": []}) == {}
    all_four = {"reboot": "reset", "shutdown": "pause", "panic": "none", "watchdog": "debug"}
    assert dispatcher.dispatch("set-action", all_four) == {}
    assert [name for name, _ in handler.calls] == [
        "set-action",
        "watchdog-set-action",
        "qmp_capabilities",
        "qmp_capabilities",
        "set-action",
    ]
    assert {k: v.to_wire() for k, v in handler.calls[-1][1].items()} == all_four
    with pytest.raises(rt.QMPError) as excinfo:
        dispatcher.dispatch("no-such-command", {})
    assert (excinfo.value.error_class, excinfo.value.desc) == (
        "CommandNotFound",
        "The command no-such-command has not been found",
    )


def test_commands_get_loads_a_command_s_module_only_when_it_is_there() -> None:
    """``COMMANDS.get`` (a server asks it at every request) gives what ``COMMANDS[name]``
    gives, loading the command's module then, and ``default`` for a name the
    package lacks, loading nothing."""
    script = """
import sys
from qapigen import simulator_api
commands = simulator_api.COMMANDS
module = "qapigen.simulator_api.machine"
assert module not in sys.modules
missing = object()
assert commands.get("no-such-command") is None
assert commands.get("no-such-command", missing) is missing
assert module not in sys.modules
info = commands.get("qom-get")
assert module in sys.modules
assert info is commands["qom-get"] and info.name == "qom-get" and info.method == "qom_get"
assert commands.get("qom-get", missing) is info
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout == "ok\n", done.stderr
