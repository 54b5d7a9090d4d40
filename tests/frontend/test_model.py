"""The checked model: what back ends see, and that it cannot be changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapigen import QAPIError, load_schema
from qapigen.frontend.schema import (
    AlternateType,
    ArrayType,
    Command,
    EnumType,
    Event,
    ImplicitRole,
    Include,
    Module,
    ObjectType,
    Schema,
)
from qapigen.frontend.visitor import SchemaVisitor

SCHEMA = """\
##
# @Colour:
#
# @red: warm
# @blue: cold
#
# Since: 1.0
##
{ 'enum': 'Colour', 'data': [ 'red', { 'name': 'blue', 'if': 'HAVE_BLUE' } ] }

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
#
# Features:
# @paint-v2: the second version
##
{ 'union': 'Paint', 'base': 'Base', 'discriminator': 'kind',
  'data': { 'red': 'Red' }, 'features': [ 'paint-v2' ] }

##
# @Either:
#
# @n: a number
# @r: a red
##
{ 'alternate': 'Either', 'data': { 'n': 'int', 'r': 'Red' } }

##
# @paint:
#
# @what: the paint
# @where: places
#
# Returns: the colours used
##
{ 'command': 'paint', 'data': { 'what': 'Paint', 'where': ['str'] },
  'returns': ['Base'], 'allow-oob': true }

##
# @PAINTED:
#
# @colour: what colour
##
{ 'event': 'PAINTED', 'data': { 'colour': 'Colour' } }
"""


@pytest.fixture
def schema(tmp_path: Path) -> Schema:
    path = tmp_path / "paint.json"
    path.write_text(SCHEMA)
    return load_schema(str(path))


def test_definitions_and_implicit_types(schema: Schema) -> None:
    """Every definition is there, with QAPI's implicit types beside them."""
    paint = schema.lookup("Paint")
    assert isinstance(paint, ObjectType) and paint.branches is not None
    assert paint.base is schema.lookup("Base")
    assert [m.name for m in paint.members] == ["kind"]
    # 'blue' has no branch of its own: it gets the empty object.
    cases = {v.name: v.type.name for v in paint.branches.variants}
    assert cases == {"red": "Red", "blue": "q_empty"}
    assert [f.name for f in paint.features] == ["paint-v2"]
    assert not paint.is_unstable() and not paint.is_deprecated()

    cmd = schema.lookup("paint")
    assert isinstance(cmd, Command) and cmd.allow_oob and not cmd.allow_preconfig
    assert cmd.arg_type is not None and cmd.arg_type.name == "q_obj_paint-arg"
    assert cmd.arg_type.is_implicit()
    where = cmd.arg_type.members[1]
    assert isinstance(where.type, ArrayType) and where.type.element_type.name == "str"
    assert isinstance(cmd.ret_type, ArrayType) and cmd.ret_type.name == "BaseList"

    colour = schema.lookup_type("Colour")
    assert isinstance(colour, EnumType)
    assert colour.members[1].ifcond.expr == "HAVE_BLUE"
    assert colour.members[1].ifcond.evaluate(lambda sym: sym == "HAVE_BLUE")
    assert not colour.members[1].ifcond.evaluate(lambda sym: False)

    either = schema.lookup_type("Either")
    assert isinstance(either, AlternateType)
    assert [v.type.name for v in either.alternatives.variants] == ["int", "Red"]
    assert isinstance(schema.lookup("PAINTED"), Event)


def test_implicit_types_record_whom_they_were_made_for(tmp_path: Path) -> None:
    """The builder records an implicit type's owner and role; named types have none."""
    path = tmp_path / "s.json"
    path.write_text(
        "{ 'enum': 'Kind', 'data': [ 'a' ] }\n"
        "{ 'struct': 'Aa', 'data': { 'x': 'int' } }\n"
        "{ 'union': 'Un', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',"
        "  'data': { 'a': 'Aa' } }\n"
        "{ 'command': 'do-it', 'data': { 'y': 'int' } }\n"
        "{ 'event': 'DONE', 'data': { 'z': 'int' } }\n"
    )
    schema = load_schema(str(path))
    made = {
        t.name: (t.origin.owner, t.origin.role)
        for t in schema.definitions()
        if isinstance(t, ObjectType) and t.origin is not None
    }
    assert made == {
        "q_obj_Un-base": ("Un", ImplicitRole.BASE),
        "q_obj_do-it-arg": ("do-it", ImplicitRole.ARGUMENTS),
        "q_obj_DONE-arg": ("DONE", ImplicitRole.ARGUMENTS),
    }
    for name in made:
        typ = schema.lookup_type(name)
        assert typ is not None and typ.is_implicit()
        assert isinstance(typ, ObjectType) and typ.origin is not None
        assert typ.origin.type_name() == name
    empty = schema.lookup_type("q_empty")
    assert isinstance(empty, ObjectType) and empty.origin is None and empty.is_implicit()
    aa = schema.lookup_type("Aa")
    assert isinstance(aa, ObjectType) and aa.origin is None and not aa.is_implicit()


def test_docs_are_attached(schema: Schema) -> None:
    """Doc blocks are connected to what they describe."""
    colour = schema.lookup("Colour")
    assert colour is not None and colour.doc is not None
    assert colour.doc.args["red"].text == "warm"
    assert colour.doc.since is not None and colour.doc.since.text == "1.0"
    cmd = schema.lookup("paint")
    assert cmd is not None and cmd.doc is not None
    assert cmd.doc.returns is not None and cmd.doc.returns.text == "the colours used"


def test_model_is_immutable(schema: Schema) -> None:
    """No part of the checked model can be assigned to."""
    paint = schema.lookup("Paint")
    assert isinstance(paint, ObjectType)
    with pytest.raises(AttributeError):
        paint.name = "Other"
    with pytest.raises(AttributeError):
        paint.members[0].optional = True
    with pytest.raises(AttributeError):
        schema.modules = ()
    assert isinstance(paint.members, tuple)
    assert isinstance(schema.modules[1].entities, tuple)


def test_visitor_sees_everything_in_order(schema: Schema) -> None:
    """The visitor interface walks modules, then entities in definition order."""
    seen: list[str] = []

    class Recorder(SchemaVisitor):
        def visit_module(self, module: Module) -> None:
            seen.append("module " + module.name)

        def visit_include(self, include: Include) -> None:
            seen.append("include " + include.included)

        def visit_enum_type(self, typ: EnumType) -> None:
            seen.append("enum " + typ.name)

        def visit_object_type(self, typ: ObjectType) -> None:
            seen.append("object " + typ.name)

        def visit_alternate_type(self, typ: AlternateType) -> None:
            seen.append("alternate " + typ.name)

        def visit_array_type(self, typ: ArrayType) -> None:
            if typ.info is not None:
                seen.append("array " + typ.name)

        def visit_command(self, command: Command) -> None:
            seen.append("command " + command.name)

        def visit_event(self, event: Event) -> None:
            seen.append("event " + event.name)

    schema.visit(Recorder())
    assert seen == [
        "module ./builtin",
        "object q_empty",
        "enum QType",
        "module paint.json",
        "enum Colour",
        "object Base",
        "object Red",
        "object Paint",
        "alternate Either",
        "object q_obj_paint-arg",
        "array BaseList",
        "command paint",
        "object q_obj_PAINTED-arg",
        "event PAINTED",
    ]


def test_two_definitions_on_one_line_share_context(tmp_path: Path) -> None:
    """QEMU's locations are per line: the context names the line's last definition."""
    path = tmp_path / "s.json"
    path.write_text("{ 'struct': 'Aa', 'data': { 'x': 'Nope' } } { 'struct': 'Bb', 'data': {} }\n")
    with pytest.raises(QAPIError) as exc:
        load_schema(str(path))
    assert (
        str(exc.value)
        == f"{path}: In struct 'Bb':\n{path}:1: member 'x' of type 'Aa' uses unknown type 'Nope'"
    )


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """Absurdly deep nesting is refused with a location (QEMU overflows its stack)."""
    path = tmp_path / "deep.json"
    path.write_text("{ 'struct': 'Aa', 'data': " + "[" * 5000 + "]" * 5000 + " }\n")
    with pytest.raises(QAPIError) as exc:
        load_schema(str(path))
    assert str(exc.value).startswith(f"{path}:1:")
    assert "nesting deeper than 256 levels" in str(exc.value)
