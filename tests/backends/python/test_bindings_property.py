"""Round trips of every type of QEMU 10.0's bindings, with wire values derived from the schema.

A small strategy builder (``tests/support/wire_strategies.py``) walks the
checked schema model and produces *valid wire values* for any type: built-in
scalars in their exact ranges, enum values, arrays, objects with their required
members and any subset of the optional ones, union branches chosen by the tag,
one branch of an alternate, recursive JSON for ``any``.  It knows nothing of
the generated code, so the generated code is checked against the schema, not
against itself.

For every enum, struct, union, alternate and event of the package generated
without ``--define`` (conditional definitions left out, as the builder leaves
them out), a few derandomized examples each:

* ``T.from_wire(wire).to_wire() == wire`` and ``T.from_wire(x.to_wire()) == x``,
  strict and lenient;
* lenient decoding keeps injected unknown members and unknown enum values
  losslessly, and strict decoding rejects them with QEMU's messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qapigen import load_schema
from qapigen import runtime as rt
from qapigen.frontend.schema import (
    AlternateType,
    BuiltinType,
    Definition,
    EnumType,
    Event,
    ImplicitRole,
    ObjectType,
    Schema,
    Type,
)

from ...support.bindings import generate_package, import_package, wire_equal
from ...support.paths import need_shared
from ...support.wire_strategies import JSON_VALUES, WireStrategies, no_defines

SETTINGS = settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

UNKNOWN_MEMBER = "x-qapigen-unknown-member"
UNKNOWN_VALUE = "x-qapigen-unknown-value"

# -- the package and the types to check --------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> Schema:
    return load_schema(str(need_shared("qemu", "10.0", "schema", "qapi", "qapi-schema.json")))


@pytest.fixture(scope="module")
def package(schema: Schema, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    out = tmp_path_factory.mktemp("qemu-property")
    generate_package(Path(schema.fname), out, "qemu10p")
    return import_package(out, "qemu10p")[0]


@pytest.fixture(scope="module")
def classes(package: ModuleType) -> dict[str, Any]:
    """Schema type name → generated class, for every class that says which type it is."""
    found: dict[str, Any] = {}
    for name in package.__all__:
        cls = getattr(package, name)
        info = getattr(cls, "QAPI_INFO", None)
        if info is not None and isinstance(cls, type) and not issubclass(cls, rt.Event):
            found[info.name] = cls
    return found


@pytest.fixture(scope="module")
def strategies() -> WireStrategies:
    return WireStrategies(no_defines)


D = TypeVar("D", bound=Definition)


def _types(schema: Schema, kind: type[D]) -> Iterator[D]:
    """The definitions of ``kind`` a generation without --define keeps."""
    for defn in schema.definitions():
        if isinstance(defn, kind) and no_defines(defn.ifcond):
            yield defn


def _check_all(items: list[tuple[str, Callable[[], None]]]) -> None:
    """Run every check; report all that fail at once."""
    failures = []
    for name, check in items:
        try:
            check()
        except Exception as err:  # a failing type must not hide the others
            failures.append(f"{name}: {type(err).__name__}: {str(err)[:300]}")
    assert not failures, f"{len(failures)} types fail:\n" + "\n".join(failures[:40])


def _round_trip(cls: Any, wire: Any) -> None:
    """The round-trip properties for one wire value of ``cls``, strict and lenient.

    ``cls.from_wire`` gives a ``cls`` (a branch class is one), which encodes
    back to ``wire`` exactly (JSON types included) and decodes equal again.
    """
    for strict in (True, False):
        value = cls.from_wire(wire, strict=strict)
        assert isinstance(value, cls), f"{cls.__name__}.from_wire gave a {type(value).__name__}"
        out = rt.encode(value)
        assert wire_equal(out, wire), (json.dumps(wire), json.dumps(out))
        assert cls.from_wire(out, strict=strict) == value


def _round_trip_check(cls: Any, strategy: st.SearchStrategy[Any]) -> Callable[[], None]:
    @SETTINGS
    @given(strategy)
    def check(wire: Any) -> None:
        _round_trip(cls, wire)

    return check


# -- round trips ---------------------------------------------------------------------


def test_strategies_cover_the_package(schema: Schema, classes: dict[str, Any]) -> None:
    """Every enum, object and alternate the package has is a schema type the builder knows."""
    for kind in (EnumType, ObjectType, AlternateType):
        for typ in _types(schema, kind):
            origin = typ.origin if isinstance(typ, ObjectType) else None
            if origin is not None and origin.role is ImplicitRole.ARGUMENTS:
                continue  # events' implicit data: the event classes stand for them
            assert typ.name in classes, typ.name
    assert len(classes) > 800


def test_enums(schema: Schema, classes: dict[str, Any]) -> None:
    """Every value of every enum round-trips; unknown values: lenient keeps, strict rejects."""
    enums = list(_types(schema, EnumType))
    assert len(enums) > 150

    def check(typ: EnumType) -> None:
        cls = classes[typ.name]
        values = [m.name for m in typ.members if no_defines(m.ifcond)]
        assert [m.value for m in cls] == values
        for value in values:
            for strict in (True, False):
                member = cls.from_wire(value, strict=strict)
                assert member.known and member.to_wire() == value
        with pytest.raises(rt.WireError) as excinfo:
            cls.from_wire(UNKNOWN_VALUE)
        assert excinfo.value.desc == f"Parameter 'null' does not accept value '{UNKNOWN_VALUE}'"
        unknown = cls.from_wire(UNKNOWN_VALUE, strict=False)
        assert not unknown.known and unknown.to_wire() == UNKNOWN_VALUE

    _check_all([(t.name, partial(check, t)) for t in enums])


def test_objects(schema: Schema, classes: dict[str, Any], strategies: WireStrategies) -> None:
    """Structs, unions and command argument types round-trip, strict and lenient."""
    objects = [t for t in _types(schema, ObjectType) if t.name in classes]
    assert len(objects) > 500
    _check_all([(t.name, _round_trip_check(classes[t.name], strategies(t))) for t in objects])


def test_alternates(schema: Schema, classes: dict[str, Any], strategies: WireStrategies) -> None:
    """Alternates round-trip, whichever branch the value takes."""
    alternates = list(_types(schema, AlternateType))
    assert len(alternates) >= 5
    _check_all([(t.name, _round_trip_check(classes[t.name], strategies(t))) for t in alternates])


def test_events(schema: Schema, package: ModuleType, strategies: WireStrategies) -> None:
    """Event data round-trips through EVENTS[name]; events without data take {}."""
    events = list(_types(schema, Event))
    assert sorted(e.name for e in events) == sorted(package.EVENTS)

    def strategy(event: Event) -> st.SearchStrategy[Any]:
        return st.just({}) if event.arg_type is None else strategies(event.arg_type)

    _check_all([(e.name, _round_trip_check(package.EVENTS[e.name], strategy(e))) for e in events])


# -- lenient and strict with what the schema does not know ---------------------------------


def _unknown_check(cls: Any, typ: ObjectType, strategy: st.SearchStrategy[Any]) -> Any:
    enum_members = [
        m.name for m in typ.members if no_defines(m.ifcond) and isinstance(m.type, EnumType)
    ]

    @SETTINGS
    @given(strategy, st.data())
    def check(wire: dict[str, Any], data: st.DataObject) -> None:
        extra = data.draw(JSON_VALUES)
        with_member = {**wire, UNKNOWN_MEMBER: extra}
        with pytest.raises(rt.WireError) as excinfo:
            cls.from_wire(with_member)
        assert excinfo.value.desc == f"Parameter '{UNKNOWN_MEMBER}' is unexpected"
        kept = cls.from_wire(with_member, strict=False)
        assert wire_equal(kept.to_wire(), with_member)
        assert cls.from_wire(kept.to_wire(), strict=False) == kept
        present = [m for m in enum_members if m in wire]
        if present:
            member = data.draw(st.sampled_from(present))
            with_value = {**wire, member: UNKNOWN_VALUE}
            with pytest.raises(rt.WireError) as excinfo:
                cls.from_wire(with_value)
            assert excinfo.value.desc == (
                f"Parameter '{member}' does not accept value '{UNKNOWN_VALUE}'"
            )
            kept = cls.from_wire(with_value, strict=False)
            assert wire_equal(kept.to_wire(), with_value)
            assert cls.from_wire(kept.to_wire(), strict=False) == kept

    return check


def test_unknown_members_and_values(
    schema: Schema, classes: dict[str, Any], strategies: WireStrategies
) -> None:
    """An unknown member or enum value: lenient keeps it losslessly, strict gives QEMU's message.

    Enum values are replaced in top-level enum members, union tags included
    (an unknown tag keeps the branch's members as unknown members).
    """
    objects = [t for t in _types(schema, ObjectType) if t.name in classes]
    checks = [(t.name, _unknown_check(classes[t.name], t, strategies(t))) for t in objects]
    _check_all(checks)


def test_uint64_and_size_wrap(
    schema: Schema, classes: dict[str, Any], strategies: WireStrategies
) -> None:
    """Negative uint64/size members decode modulo 2^64 (as QEMU) and encode as the wrapped value.

    -2^63 is the lowest such value; one lower, or 2^64, is QEMU's "expects uint64".
    """
    targets = []
    for typ in _types(schema, ObjectType):
        if typ.name not in classes:
            continue
        names = [
            m.name
            for m in typ.members
            if no_defines(m.ifcond)
            and not m.optional
            and isinstance(m.type, BuiltinType)
            and m.type.name in ("uint64", "size")
        ]
        if names:
            targets.append((typ.name, names[0], classes[typ.name], strategies(typ)))
    assert len(targets) >= 20

    def check_one(name: str, cls: Any, strategy: st.SearchStrategy[Any]) -> Callable[[], None]:
        @SETTINGS
        @given(strategy, st.integers(-(2**63), -1))
        def check(wire: dict[str, Any], negative: int) -> None:
            value = cls.from_wire({**wire, name: negative})
            assert value.to_wire()[name] == negative + 2**64
            assert wire_equal(value.to_wire(), {**wire, name: negative + 2**64})
            for bad in (-(2**63) - 1, 2**64):
                with pytest.raises(rt.WireError) as excinfo:
                    cls.from_wire({**wire, name: bad})
                assert excinfo.value.desc == f"Parameter '{name}' expects uint64"

        return check

    _check_all([(t, check_one(n, c, s)) for t, n, c, s in targets])


def test_strategy_builder_values_are_valid(tmp_path: Path) -> None:
    """The builder itself: its values keep to the ranges and shapes it claims (it can fail)."""
    schema_text = """
    { 'enum': 'Kind', 'data': [ 'a', { 'name': 'b', 'if': 'X' } ] }
    { 'struct': 'Plain', 'data': { 'n': 'uint8', '*o': 'Kind', 'l': [ 'int8' ] } }
    { 'union': 'Choice', 'base': { 't': 'Kind' }, 'discriminator': 't',
      'data': { 'a': 'Plain', 'b': { 'type': 'Plain', 'if': 'X' } } }
    { 'alternate': 'Either', 'data': { 's': 'Plain', 'n': 'null' } }
    """
    path = tmp_path / "s.json"
    path.write_text(schema_text)
    schema = load_schema(str(path))
    builder = WireStrategies(no_defines)

    def typ(name: str) -> Type:
        found = schema.lookup_type(name)
        assert found is not None
        return found

    @settings(max_examples=50, deadline=None, derandomize=True, database=None)
    @given(builder(typ("Choice")), builder(typ("Either")))
    def check(union: dict[str, Any], alt: Any) -> None:
        assert union["t"] == "a" and 0 <= union["n"] <= 255
        assert set(union) <= {"t", "n", "o", "l"} and union.get("o", "a") == "a"
        assert all(-128 <= i <= 127 for i in union["l"])
        assert alt is None or set(alt) >= {"n", "l"}

    check()
