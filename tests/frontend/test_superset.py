"""The superset of a schema's builds: every conditional part kept, conditional members optional."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qapigen import QAPIError, load_schema
from qapigen.backends.validate import Validator
from qapigen.frontend.builds import symbols
from qapigen.frontend.schema import (
    AlternateType,
    Command,
    EnumType,
    Event,
    ObjectType,
    Schema,
)

from ..support.qemu_model import qemu_model

# Every place a condition can stand, and a definition that is conditional.
SCHEMA = """\
##
# @Mode:
#
# @fast: quick
#
# @turbo: quicker
##
{ 'enum': 'Mode', 'data': [ 'fast', { 'name': 'turbo', 'if': 'CONFIG_TURBO' } ] }

##
# @Info:
#
# @name: what
#
# @extra: more
#     on two lines
#
# @hint: maybe
#
# Features:
#
# @fancy: fancier
##
{ 'struct': 'Info',
  'data': { 'name': 'str',
            'extra': { 'type': 'int', 'if': { 'any': [ 'TARGET_A', 'TARGET_B' ] } },
            '*hint': { 'type': 'str', 'if': 'TARGET_A' } },
  'features': [ { 'name': 'fancy', 'if': 'CONFIG_FANCY' } ] }

##
# @Turbo:
#
# @boost: how much
##
{ 'struct': 'Turbo', 'data': { 'boost': 'int' }, 'if': 'CONFIG_TURBO' }

##
# @Choice:
#
# @mode: which
#
# @level: how deep
##
{ 'union': 'Choice',
  'base': { 'mode': 'Mode', 'level': { 'type': 'int', 'if': 'CONFIG_DEEP' } },
  'discriminator': 'mode',
  'data': { 'turbo': { 'type': 'Turbo', 'if': 'CONFIG_TURBO' } } }

##
# @Pick:
#
# @mode: which
#
# @turbo: a member named as a branch
##
{ 'union': 'Pick',
  'base': { 'mode': 'Mode', '*turbo': 'str' },
  'discriminator': 'mode',
  'data': { 'turbo': { 'type': 'Info', 'if': 'CONFIG_PICK' } } }

##
# @Moded:
#
# @mode: which
##
{ 'struct': 'Moded', 'data': { 'mode': 'Mode' } }

##
# @Based:
#
# @depth: how deep
##
{ 'struct': 'Based', 'base': 'Moded', 'data': { 'depth': 'int' } }

##
# @Plain:
##
{ 'union': 'Plain', 'base': 'Based', 'discriminator': 'mode', 'data': { 'fast': 'Info' } }

##
# @Either:
#
# @n: a number
#
# @l: a list
##
{ 'alternate': 'Either', 'data': { 'n': 'int', 'l': { 'type': ['str'], 'if': 'CONFIG_L' } } }

##
# @go:
#
# @speed: how fast
#
# @mode: how
#
# Since: 1.0
##
{ 'command': 'go', 'data': { 'speed': { 'type': 'int', 'if': 'CONFIG_SPEED' }, '*mode': 'Mode' },
  'boxed': false, 'returns': 'Info', 'if': { 'not': 'CONFIG_STOPPED' } }

##
# @GONE:
#
# @why: the reason
##
{ 'event': 'GONE', 'data': { 'why': { 'type': 'str', 'if': 'CONFIG_WHY' } } }
"""


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    path = tmp_path_factory.mktemp("superset") / "s.json"
    # QEMU 10.0 wants 'boxed' for conditional arguments; legacy reads either.
    path.write_text(SCHEMA.replace("'boxed': false, ", ""))
    return load_schema(str(path), legacy=True, superset=True)


def test_no_condition_is_left(superset: Schema) -> None:
    assert symbols(superset) == []
    for defn in superset.definitions():
        assert not defn.ifcond.is_present(), defn.name


def test_every_part_is_kept_and_conditional_members_are_optional(superset: Schema) -> None:
    mode = superset.lookup("Mode")
    assert isinstance(mode, EnumType) and mode.member_names() == ["fast", "turbo"]
    info = superset.lookup("Info")
    assert isinstance(info, ObjectType)
    assert [(m.name, m.optional) for m in info.members] == [
        ("name", False),
        ("extra", True),
        ("hint", True),
    ]
    assert [f.name for f in info.features] == ["fancy"]
    choice = superset.lookup("Choice")
    assert isinstance(choice, ObjectType) and choice.branches is not None
    assert [(m.name, m.optional) for m in choice.members] == [("mode", False), ("level", True)]
    assert [v.name for v in choice.branches.variants] == ["turbo", "fast"]
    either = superset.lookup("Either")
    assert isinstance(either, AlternateType)
    assert [v.name for v in either.alternatives.variants] == ["n", "l"]
    go = superset.lookup("go")
    assert isinstance(go, Command) and go.arg_type is not None
    assert [(m.name, m.optional) for m in go.arg_type.members] == [
        ("speed", True),
        ("mode", True),
    ]
    gone = superset.lookup("GONE")
    assert isinstance(gone, Event) and gone.arg_type is not None
    assert [(m.name, m.optional) for m in gone.arg_type.members] == [("why", True)]


def test_docs_say_each_condition(superset: Schema) -> None:
    """What the conditions said stays with the descriptions, for generated docstrings."""
    info = superset.lookup("Info")
    assert info is not None and info.doc is not None
    assert info.doc.args["extra"].text == (
        "more\n    on two lines\n\n"
        "    Only in builds where TARGET_A or TARGET_B (so optional here).\n"
    )
    # Optional already: nothing to say of that.
    assert info.doc.args["hint"].text == "maybe\n\nOnly in builds where TARGET_A.\n"
    assert info.doc.features["fancy"].text.endswith("\n\nOnly in builds where CONFIG_FANCY.\n")
    mode = superset.lookup("Mode")
    assert mode is not None and mode.doc is not None
    assert mode.doc.args["turbo"].text == "quicker\n\nOnly in builds where CONFIG_TURBO.\n"
    turbo = superset.lookup("Turbo")
    assert turbo is not None and turbo.doc is not None
    assert turbo.doc.body.text == "Only in builds where CONFIG_TURBO.\n"
    go = superset.lookup("go")
    assert go is not None and go.doc is not None
    assert go.doc.body.text == "Only in builds where not CONFIG_STOPPED.\n"
    # An alternate's branches are its descriptions.
    either = superset.lookup("Either")
    assert either is not None and either.doc is not None
    assert either.doc.args["l"].text == "a list\n\nOnly in builds where CONFIG_L.\n"


def test_a_union_branchs_condition_is_noted_with_the_branch(superset: Schema) -> None:
    """A union's doc describes its members, not its branches: a branch's
    condition is noted apart, by branch name, even where a base member has
    the branch's name (whose description stays its own)."""
    pick = superset.lookup("Pick")
    assert pick is not None and pick.doc is not None
    assert pick.doc.args["turbo"].text == "a member named as a branch"
    assert pick.doc.branch_notes == {"turbo": "Only in builds where CONFIG_PICK."}
    choice = superset.lookup("Choice")
    assert choice is not None and choice.doc is not None
    assert choice.doc.branch_notes == {"turbo": "Only in builds where CONFIG_TURBO."}
    assert [(name, s.text) for name, s in choice.doc.args.items()] == [
        ("mode", "which"),
        ("level", "how deep\n\nOnly in builds where CONFIG_DEEP (so optional here).\n"),
    ]
    # An implicit branch (a tag value without one) has its value's condition;
    # here the tag is the base's base's member.
    plain = superset.lookup("Plain")
    assert plain is not None and plain.doc is not None
    assert plain.doc.branch_notes == {"turbo": "Only in builds where CONFIG_TURBO."}
    # Nothing is noted where nothing was conditional.
    info = superset.lookup("Info")
    assert info is not None and info.doc is not None and info.doc.branch_notes == {}


def test_one_validator_takes_every_builds_values(superset: Schema) -> None:
    """A value of the build with a member, and one of the build without it."""
    validator = Validator(superset)
    assert validator.check_type("Info", {"name": "a", "extra": 1}) == []
    assert validator.check_type("Info", {"name": "a"}) == []
    assert validator.check_type("Choice", {"mode": "turbo", "boost": 2}) == []
    assert validator.check_type("Either", ["s"]) == []
    # Still strict about what no build has.
    [problem] = validator.check_type("Info", {"name": "a", "other": 1})
    assert problem.message == "Parameter 'other' is unexpected"


@pytest.fixture(scope="module")
def qemu_superset(qemu_schemas: Path) -> Schema:
    path = qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    return load_schema(str(path), superset=True)


def test_qemu_superset_is_qemus_model_with_every_condition_true(
    qemu_superset: Schema, qemu_schemas: Path, qemu_tree: Path
) -> None:
    """QEMU 10.0's superset against QEMU's own model of the schema: the same
    definitions, values, members (optional where QEMU's are optional or
    conditional), branches and features, and no condition."""
    path = qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    reference: list[dict[str, Any]] = qemu_model(qemu_tree, path)
    assert symbols(qemu_superset) == []
    checked = 0
    for d in reference:
        ours = qemu_superset.lookup(d["name"])
        assert ours is not None, d["name"]
        assert [f.name for f in ours.features] == [f for f, _ in d["features"]]
        if d["meta"] == "enum":
            assert isinstance(ours, EnumType)
            assert ours.member_names() == [v["name"] for v in d["values"]]
        elif d["meta"] in ("struct", "union"):
            assert isinstance(ours, ObjectType)
            expected = [(m["name"], m["optional"] or m["if"] is not None) for m in d["members"]]
            assert [(m.name, m.optional) for m in ours.members] == expected, d["name"]
            if d["branches"] is not None:
                assert ours.branches is not None
                assert sorted(v.name for v in ours.branches.variants) == sorted(
                    v["name"] for v in d["branches"]
                )
        elif d["meta"] == "alternate":
            assert isinstance(ours, AlternateType)
            assert [v.name for v in ours.alternatives.variants] == [
                v["name"] for v in d["branches"]
            ]
        checked += 1
    assert checked > 1000
    expansion = qemu_superset.lookup("CpuModelExpansionInfo")
    assert isinstance(expansion, ObjectType)
    assert [(m.name, m.optional) for m in expansion.members] == [
        ("model", False),
        ("deprecated-props", True),
    ]


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        (
            "{ 'union': 'Un', 'base': 'Nowhere', 'discriminator': 'k', 'data': {} }",
            "'base' uses unknown type 'Nowhere'",
        ),
        (
            "{ 'enum': 'Kind', 'data': [ { 'name': 'v', 'if': 'C' } ] }\n"
            "{ 'struct': 'Ab', 'base': 'Ba', 'data': { 'k': 'Kind' } }\n"
            "{ 'struct': 'Ba', 'base': 'Ab', 'data': {} }\n"
            "{ 'union': 'Un', 'base': 'Ab', 'discriminator': 'k', 'data': {} }",
            "object Ab contains itself",
        ),
    ],
)
def test_a_wrong_union_base_is_reported_as_without_superset(
    tmp_path: Path, schema: str, error: str
) -> None:
    """Finding a union's tag values does not trip over what building reports."""
    path = tmp_path / "s.json"
    path.write_text(schema + "\n")
    reported = []
    for superset in (False, True):
        with pytest.raises(QAPIError) as caught:
            load_schema(str(path), superset=superset)
        reported.append(str(caught.value))
    assert reported[0] == reported[1] and error in reported[0]
