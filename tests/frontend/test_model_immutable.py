"""The checked model is immutable throughout, is what its types say, and pickles and copies."""

from __future__ import annotations

import copy
import enum
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qapigen import load_schema
from qapigen.backends.dump import dump
from qapigen.backends.introspect import introspect
from qapigen.frontend.doc_comments import Doc, Section
from qapigen.frontend.immutable import Immutable, ReadOnlyDict, ReadOnlyList
from qapigen.frontend.schema import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    EnumMember,
    EnumType,
    Event,
    Feature,
    IfCond,
    ImplicitOrigin,
    Include,
    Module,
    ObjectMember,
    ObjectType,
    Schema,
    Variant,
    Variants,
)
from qapigen.frontend.source import Pragmas, SourceInfo

# The classes of everything the model holds, but plain values.
MODEL_CLASSES = {
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    Doc,
    EnumMember,
    EnumType,
    Event,
    Feature,
    IfCond,
    ImplicitOrigin,
    Include,
    Module,
    ObjectMember,
    ObjectType,
    Pragmas,
    Schema,
    Section,
    SourceInfo,
    Variant,
    Variants,
}

SCHEMA = """\
{ 'pragma': { 'documentation-exceptions': [ 'Quiet' ] } }
{ 'include': 'more.json' }
##
# @Colour:
#
# @red: warm
#
# @blue: cold
#
# Features:
#
# @old: going
##
{ 'enum': 'Colour',
  'data': [ 'red', { 'name': 'blue', 'if': { 'all': [ 'HAVE_BLUE', { 'not': 'X' } ] } } ],
  'features': [ 'old' ] }

##
# @Base:
#
# @kind: which
##
{ 'struct': 'Base', 'data': { 'kind': 'Colour' } }

##
# @Red:
#
# @warmth: how warm
##
{ 'struct': 'Red', 'data': { '*warmth': 'uint8' } }

##
# @Paint:
##
{ 'union': 'Paint', 'base': 'Base', 'discriminator': 'kind', 'data': { 'red': 'Red' } }

##
# @Either:
#
# @n: a number
#
# @r: a red
##
{ 'alternate': 'Either', 'data': { 'n': 'int', 'r': 'Red' } }

##
# @paint:
#
# @where: places
#
# Features:
#
# @deprecated: use something else
#
# Returns: the colours used
#
# Since: 1.0
##
{ 'command': 'paint', 'data': { 'where': ['str'] }, 'returns': ['Base'],
  'features': [ 'deprecated' ] }

##
# @PAINTED:
#
# @colour: what colour
##
{ 'event': 'PAINTED', 'data': { 'colour': 'Colour' } }
"""

MORE = """\
##
# = A heading
##
"""


@pytest.fixture
def schema(tmp_path: Path) -> Schema:
    (tmp_path / "more.json").write_text(MORE)
    path = tmp_path / "paint.json"
    path.write_text(SCHEMA)
    return load_schema(str(path))


@pytest.fixture(scope="module")
def qemu_schema(qemu_schemas: Path) -> Schema:
    return load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))


def _slots(cls: type) -> Iterator[str]:
    for klass in cls.__mro__:
        yield from klass.__dict__.get("__slots__", ())


def _reachable(root: object) -> Iterator[object]:
    """Every object reachable from ``root`` through slots and containers, once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, (tuple, list)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, Immutable):
            stack.extend(getattr(obj, name) for name in _slots(type(obj)) if hasattr(obj, name))


def test_each_kind_of_object_is_an_instance_of_its_own_class(schema: Schema) -> None:
    """type(x) is Command, and the same for every kind of entity and what they hold."""
    paint = schema.lookup("paint")
    assert type(paint) is Command
    assert type(schema.lookup("PAINTED")) is Event
    assert type(schema.lookup("Colour")) is EnumType
    assert type(schema.lookup("Base")) is ObjectType
    assert type(schema.lookup("Either")) is AlternateType
    assert type(schema.lookup("strList")) is ArrayType
    assert type(schema.lookup("int")) is BuiltinType
    assert type(schema) is Schema
    assert {type(m) for m in schema.modules} == {Module}
    assert [type(e) for e in schema.modules[1].entities[:1]] == [Include]
    assert isinstance(paint, Command) and paint.arg_type is not None
    assert type(paint.arg_type.members[0]) is ObjectMember
    assert type(paint.arg_type.origin) is ImplicitOrigin
    assert type(paint.features[0]) is Feature
    assert type(paint.ifcond) is IfCond
    assert type(paint.info) is SourceInfo and type(paint.info.pragmas) is Pragmas
    assert type(paint.doc) is Doc and type(paint.doc.all_sections[0]) is Section
    colour = schema.lookup("Colour")
    assert isinstance(colour, EnumType) and type(colour.members[0]) is EnumMember
    union = schema.lookup("Paint")
    assert isinstance(union, ObjectType) and type(union.branches) is Variants
    assert union.branches is not None and type(union.branches.variants[0]) is Variant


def test_nothing_reachable_can_be_changed(schema: Schema) -> None:
    """Every object the model holds refuses assignment and deletion; containers refuse changes."""
    kinds = set()
    for obj in _reachable(schema):
        kinds.add(type(obj))
        if isinstance(obj, Immutable):
            assert type(obj) in MODEL_CLASSES, type(obj)
            for name in _slots(type(obj)):
                with pytest.raises(AttributeError, match="the schema model is immutable"):
                    setattr(obj, name, None)
                if hasattr(obj, name):
                    with pytest.raises(AttributeError, match="the schema model is immutable"):
                        delattr(obj, name)
            with pytest.raises(AttributeError):
                obj.added = 1
        elif isinstance(obj, ReadOnlyDict):
            with pytest.raises(TypeError):
                obj["x"] = 1
            with pytest.raises(TypeError):
                obj.clear()
        elif isinstance(obj, ReadOnlyList):
            with pytest.raises(TypeError):
                obj.append(1)
            with pytest.raises(TypeError):
                obj[0] = 1
        else:
            assert isinstance(obj, (str, int, tuple, enum.Enum, type(None))), type(obj)
    # The walk met every kind of object the model has.
    assert kinds >= MODEL_CLASSES
    assert kinds >= {ReadOnlyDict, ReadOnlyList}


def test_docs_sections_locations_and_conditions_refuse_changes(schema: Schema) -> None:
    """The parts of the model that used to be left mutable refuse, as the entities do."""
    colour = schema.lookup("Colour")
    assert isinstance(colour, EnumType) and colour.doc is not None and colour.info is not None
    doc, info = colour.doc, colour.info
    cond = colour.members[1].ifcond.expr
    assert isinstance(cond, dict)
    immutable = "the schema model is immutable"
    read_only: list[Callable[[], object]] = [
        lambda: doc.args.__setitem__("green", doc.body),  # type: ignore[index]
        lambda: doc.args.pop("red"),  # type: ignore[attr-defined]
        lambda: doc.features.clear(),  # type: ignore[attr-defined]
        lambda: cond["all"].append("Y"),
        lambda: cond.update(any=[]),
    ]
    for change in read_only:
        with pytest.raises(TypeError, match=immutable):
            change()
    for sequence in (doc.all_sections, doc.sections):
        with pytest.raises(AttributeError, match="'tuple' object has no attribute 'append'"):
            sequence.append(doc.body)  # type: ignore[attr-defined]
    refused: list[Callable[[], object]] = [
        lambda: setattr(doc, "symbol", "Other"),
        lambda: setattr(doc.args["red"], "text", "cold"),
        lambda: setattr(doc.args["red"], "described", None),
        lambda: setattr(doc.body, "info", None),
        lambda: setattr(info, "line", 1),
        lambda: info.set_defn("struct", "Other"),
        lambda: setattr(info.pragmas, "doc_required", True),
        lambda: setattr(colour.members[1], "ifcond", IfCond()),
        lambda: delattr(colour, "name"),
    ]
    for change in refused:
        with pytest.raises(AttributeError, match=immutable):
            change()
    assert doc.args["red"].text == "warm" and doc.symbol == "Colour"
    assert cond == {"all": ["HAVE_BLUE", {"not": "X"}]}
    assert info.pragmas.documentation_exceptions == ("Quiet",) and info.defn_name == "Colour"


def _round_trips() -> list[tuple[str, Callable[[Schema], Schema]]]:
    return [
        ("pickle", lambda s: pickle.loads(pickle.dumps(s))),
        ("pickle-highest", lambda s: pickle.loads(pickle.dumps(s, pickle.HIGHEST_PROTOCOL))),
        ("deepcopy", copy.deepcopy),
    ]


@pytest.mark.parametrize(("how", "round_trip"), _round_trips())
def test_qemu_schema_pickles_and_copies(
    qemu_schema: Schema, how: str, round_trip: Callable[[Schema], Schema]
) -> None:
    """QEMU 10.0's whole model survives pickle and deepcopy: equal, separate, still immutable."""
    again = round_trip(qemu_schema)
    assert type(again) is Schema and again is not qemu_schema
    assert dump(again) == dump(qemu_schema)
    assert introspect(again, ("CONFIG_LINUX",)) == introspect(qemu_schema, ("CONFIG_LINUX",))
    status = again.lookup("query-status")
    assert type(status) is Command and status is not qemu_schema.lookup("query-status")
    # References inside the copy lead to the copy's own entities.
    status_info = again.lookup("StatusInfo")
    assert status.ret_type is status_info and status_info is not None
    assert status.doc is not None and status.doc in again.docs
    # One pragmas object for the whole schema, as parsed.
    assert status.info is not None and status_info.info is not None
    assert status.info.pragmas is status_info.info.pragmas
    with pytest.raises(AttributeError, match="the schema model is immutable"):
        status.name = "query-other"
    copied = [obj for obj in _reachable(again) if isinstance(obj, Immutable)]
    assert len(copied) > 20000 and all(type(obj) in MODEL_CLASSES for obj in copied)


def test_one_entity_pickles_with_what_it_refers_to(schema: Schema) -> None:
    """A model object pickles on its own, with the objects it refers to."""
    paint = schema.lookup("paint")
    again = pickle.loads(pickle.dumps(paint))
    assert type(again) is Command and again.name == "paint"
    assert again.arg_type is not None and [m.name for m in again.arg_type.members] == ["where"]
    assert again.arg_type.origin is not None and again.arg_type.origin.owner == "paint"
    assert again.doc is not None and again.doc.returns is not None
    assert again.doc.returns.text == "the colours used"
    colour = schema.lookup("Colour")
    assert isinstance(colour, EnumType)
    copied = copy.copy(colour)
    assert type(copied) is EnumType and copied.members == colour.members
