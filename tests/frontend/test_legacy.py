"""``--legacy``: schemas written for QEMU 5.0 to 9.2 load; 10.0's rules hold otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qapigen import QAPIError, load_schema
from qapigen.frontend.doc_comments import Kind
from qapigen.frontend.legacy import upgrade_condition
from qapigen.frontend.schema import EnumType, ImplicitRole, ObjectType, Schema

SCHEMAS = [
    "qapi/qapi-schema.json",
    "qga/qapi-schema.json",
    "storage-daemon/qapi/qapi-schema.json",
]


def _load(tmp_path: Path, text: str, *, legacy: bool = True) -> Schema:
    path = tmp_path / "old.json"
    path.write_text(text)
    return load_schema(str(path), legacy=legacy)


@pytest.mark.parametrize("rel", SCHEMAS)
def test_qemu_7_2_schemas_load_with_legacy(rel: str, qemu_schemas: Path) -> None:
    """QEMU 7.2's schemas load with --legacy, and are refused without it."""
    path = str(qemu_schemas / "7.2" / "schema" / rel)
    schema = load_schema(path, legacy=True)
    assert any(True for _ in schema.commands())
    with pytest.raises(QAPIError):
        load_schema(path)


def _corpus() -> list[Path]:
    """Extra releases' schemas: $QAPIGEN_LEGACY_CORPUS/VERSION/<the three schemas>."""
    root = os.environ.get("QAPIGEN_LEGACY_CORPUS")
    if not root or not Path(root).is_dir():
        return []
    return sorted(p / s for p in Path(root).iterdir() for s in SCHEMAS if (p / s).exists())


@pytest.mark.skipif(not _corpus(), reason="set QAPIGEN_LEGACY_CORPUS to a folder of releases")
@pytest.mark.parametrize("path", _corpus(), ids=str)
def test_corpus_release_loads_with_legacy(path: Path) -> None:
    """Every release's schemas in the corpus load with --legacy."""
    load_schema(str(path), legacy=True)


SIMPLE_UNION = """\
{ 'struct': 'Spice', 'data': { 'port': 'int' }, 'if': 'defined(CONFIG_SPICE)' }
{ 'union': 'Backend',
  'data': { 'numbers': ['int'],
            'spice': { 'type': 'Spice', 'if': 'defined(CONFIG_SPICE)' } } }
"""


def test_simple_union_is_desugared(tmp_path: Path) -> None:
    """A union without discriminator gets a Kind enum, wrappers and tag 'type' (QEMU < 6.2)."""
    schema = _load(tmp_path, SIMPLE_UNION)
    union = schema.lookup("Backend")
    assert isinstance(union, ObjectType) and union.branches is not None
    assert [m.name for m in union.members] == ["type"]
    kind = union.members[0].type
    assert isinstance(kind, EnumType) and kind.name == "BackendKind" and kind.is_implicit()
    assert [m.name for m in kind.members] == ["numbers", "spice"]
    assert kind.members[1].ifcond.expr == "CONFIG_SPICE"
    cases = {v.name: v.type for v in union.branches.variants}
    wrapper = cases["spice"]
    assert isinstance(wrapper, ObjectType) and wrapper.name == "q_obj_Spice-wrapper"
    assert wrapper.origin is not None and wrapper.is_implicit()
    assert (wrapper.origin.owner, wrapper.origin.role) == ("Spice", ImplicitRole.WRAPPER)
    assert [(m.name, m.type.name) for m in wrapper.members] == [("data", "Spice")]
    # A wrapper is as conditional as what it wraps.
    assert wrapper.ifcond.expr == "CONFIG_SPICE"
    assert cases["numbers"].name == "q_obj_intList-wrapper"
    assert not cases["numbers"].ifcond.is_present()


def test_simple_union_refused_without_legacy(tmp_path: Path) -> None:
    """10.0's rules: a union needs base and discriminator."""
    text = SIMPLE_UNION.replace("defined(CONFIG_SPICE)", "CONFIG_SPICE")
    with pytest.raises(QAPIError, match="union misses keys 'base', 'discriminator'"):
        _load(tmp_path, text, legacy=False)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("defined(CONFIG_X)", "CONFIG_X"),
        ("CONFIG_X", "CONFIG_X"),
        ("defined CONFIG_X", "CONFIG_X"),
        ("!defined(A)", {"not": "A"}),
        ("defined(A) || defined(B) || defined(C)", {"any": ["A", "B", "C"]}),
        ("defined(A) && !defined(B) || defined(C)", {"any": [{"all": ["A", {"not": "B"}]}, "C"]}),
        ("defined(A) && (defined(B) || defined(C))", {"all": ["A", {"any": ["B", "C"]}]}),
        (["defined(A)"], "A"),
        (["defined(A)", "defined(B)"], {"all": ["A", "B"]}),
        ("CONFIG_X > 2", "CONFIG_X > 2"),
        ({"not": "A"}, {"not": "A"}),
    ],
)
def test_old_conditions_upgrade(old: object, new: object) -> None:
    """Pre-6.2 C-preprocessor conditions become all/any/not; others are left alone."""
    assert upgrade_condition(old) == new  # type: ignore[arg-type]


def test_old_condition_in_schema(tmp_path: Path) -> None:
    """Old conditions are accepted on definitions, members and enum values."""
    schema = _load(
        tmp_path,
        "{ 'enum': 'E', 'data': [ { 'name': 'a', 'if': 'defined(A)' } ],"
        " 'if': [ 'defined(X)', 'defined(Y)' ] }\n"
        "{ 'struct': 'S', 'data': { 'm': { 'type': 'int', 'if': '!defined(B)' } } }\n",
    )
    enum = schema.lookup("E")
    assert isinstance(enum, EnumType)
    assert enum.ifcond.expr == {"all": ["X", "Y"]}
    assert enum.members[0].ifcond.expr == "A"
    struct = schema.lookup("S")
    assert isinstance(struct, ObjectType)
    assert struct.members[0].ifcond.expr == {"not": "B"}


def test_old_pragma_names_and_naming_rules(tmp_path: Path) -> None:
    """QEMU 5.x pragma names, and its looser naming rules."""
    text = (
        "{ 'pragma': { 'returns-whitelist': [ 'get_int' ],"
        " 'name-case-whitelist': [ 'Info' ] } }\n"
        "{ 'command': 'get_int', 'returns': 'int' }\n"
        "{ 'struct': 'Info', 'data': { 'UUID': 'str', 'backing_file': 'str' } }\n"
        "{ 'event': 'my-event' }\n"
        "{ 'enum': 'Ev', 'data': [ 'l1_update', '2_5' ] }\n"
    )
    schema = _load(tmp_path, text)
    assert schema.lookup("get_int") is not None
    with pytest.raises(QAPIError, match="unknown pragma 'returns-whitelist'"):
        _load(tmp_path, text, legacy=False)


def test_member_case_still_needs_the_exception(tmp_path: Path) -> None:
    """Legacy is not lawless: uppercase members need name-case-whitelist."""
    with pytest.raises(QAPIError, match="must not use uppercase"):
        _load(tmp_path, "{ 'struct': 'Info', 'data': { 'UUID': 'str' } }\n")


OLD_DOCS = """\
##
# = Introduction
#
# Text.
#
# = Second heading
#
# More text.
##

##
# @cmd:
#
# Does things.
#
# @arg:
# an unindented description
# of the argument
#
# Returns: nothing on success
#
# Note: a note
#       continued
#
# Example:
#
# -> { "execute": "cmd" }
# <- { "return": {} }
#
# Since: 5.0
##
{ 'command': 'cmd', 'data': { 'arg': 'int', 'undocumented': 'str' } }
"""


def test_old_doc_conventions(tmp_path: Path) -> None:
    """Older doc comments are parsed and attached, not held to 10.0's rules."""
    schema = _load(tmp_path, OLD_DOCS)
    headings = [d.body.text.splitlines()[0] for d in schema.docs if d.symbol is None]
    assert headings == ["= Introduction", "= Second heading"]
    cmd = schema.lookup("cmd")
    assert cmd is not None and cmd.doc is not None
    doc = cmd.doc
    assert doc.args["arg"].text == "an unindented description\nof the argument"
    assert doc.args["undocumented"].text == ""
    kinds = [s.kind for s in doc.sections]
    assert kinds == [Kind.RETURNS, Kind.NOTE, Kind.EXAMPLE, Kind.SINCE]
    assert doc.sections[1].text == "a note\ncontinued"
    assert doc.sections[2].text.splitlines() == [
        '-> { "execute": "cmd" }',
        '<- { "return": {} }',
    ]
    assert doc.since is not None and doc.since.text == "5.0"


def test_old_doc_conventions_refused_without_legacy(tmp_path: Path) -> None:
    """Without --legacy, 10.0's doc rules apply."""
    with pytest.raises(QAPIError, match="'=' heading must come first"):
        _load(tmp_path, OLD_DOCS, legacy=False)


def test_documented_nonmember_still_an_error(tmp_path: Path) -> None:
    """Rules every release had still hold under --legacy."""
    with pytest.raises(QAPIError, match="documented member 'nope' does not exist"):
        _load(tmp_path, "##\n# @cmd:\n#\n# @nope: gone\n##\n{ 'command': 'cmd' }\n")
