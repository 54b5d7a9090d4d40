"""The superset of a schema's builds: every conditional part kept, conditions dropped.

Different builds of QEMU send different JSON for the same command: an x86
build's ``query-cpu-model-expansion`` reply lacks ``deprecated-props``,
which an s390x build's always has.  Bindings or a validator made for one
build reject the other's.  The superset is one schema that takes them all:

- every definition, enum value, union and alternate branch and feature is
  kept, whatever its condition;
- a conditional member is optional (a build without it does not send it,
  and does not take it);
- no condition is left, so every back end sees one build.

It is made from the checked expressions, before the model is built
(``load_schema(..., superset=True)``), so ``generate``, ``validate``,
``jsonschema`` and ``introspect`` all get it unchanged.  The conditions are
not lost to readers: each doc comment says, where the part it describes had
one, "Only in builds where CONDITION" (generated docstrings show it); of a
union's branch, which doc comments do not describe, its union's doc says it
apart from the descriptions (``Doc.branch_notes``), of an implicit branch
too (a tag value the union gives no branch: the value's condition).
"""

from __future__ import annotations

from .condition_text import condition_text
from .doc_comments import Doc
from .parser import Expression, Value

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from .doc_comments import Section


def make_superset(exprs: list[Expression]) -> None:
    """Turn checked (normalized) expressions into the superset of their builds, in place."""
    # A union's implicit branches (the tag values it gives no branch) have
    # their values' conditions: read before they are dropped.
    value_conditions = {
        name: conditions for name, conditions in _enum_conditions(exprs) if conditions
    }
    structs = {expr["struct"]: expr for expr in exprs if "struct" in expr}
    for expr in exprs:
        if "include" in expr:
            continue
        doc = expr.doc
        cond = expr.pop("if", None)
        if cond is not None and doc is not None:
            _note(doc.body, cond)
        _features(expr, doc)
        if "enum" in expr:
            values = expr["data"]
            assert isinstance(values, list)
            for value in values:
                assert isinstance(value, dict)
                name = value["name"]
                assert isinstance(name, str)
                _drop(value, _section(doc, name))
                _features(value, doc)
        elif "alternate" in expr:
            # An alternate's descriptions are its branches'.
            branches = expr["data"]
            assert isinstance(branches, dict)
            for name, branch in branches.items():
                assert isinstance(branch, dict)
                _drop(branch, _section(doc, name))
        elif "union" in expr:
            if isinstance(expr.get("base"), dict):
                expr["base"] = _members(expr["base"], doc)
            branches = expr["data"]
            assert isinstance(branches, dict)
            for name, branch in branches.items():
                assert isinstance(branch, dict)
                # A union's descriptions are its members' (a base member may
                # have a branch's name): the note goes with the branch.
                cond = branch.pop("if", None)
                if cond is not None and doc is not None:
                    doc.note_branch(name, _condition_note(cond))
            tag_type = _tag_type(expr, structs)
            implicit = value_conditions.get(tag_type, {}) if isinstance(tag_type, str) else {}
            for name, cond in implicit.items():
                if name not in branches and doc is not None:
                    doc.note_branch(name, _condition_note(cond))
        elif isinstance(expr.get("data"), dict):
            # A struct's members, or a command's or event's arguments.
            expr["data"] = _members(expr["data"], doc)


def _enum_conditions(exprs: list[Expression]) -> Iterator[tuple[Value, dict[str, Value]]]:
    """Each enum's name, and its conditional values' conditions."""
    for expr in exprs:
        if "enum" in expr:
            values = expr["data"]
            assert isinstance(values, list)
            conditions = {}
            for value in values:
                assert isinstance(value, dict)
                name, cond = value["name"], value.get("if")
                if cond is not None:
                    assert isinstance(name, str)
                    conditions[name] = cond
            yield expr["enum"], conditions


def _tag_type(union: Expression, structs: dict[Value, Expression]) -> Value | None:
    """The type of a union's discriminator, from its base's members (and its
    base's bases'); None without one (a legacy simple union), or where the
    schema is wrong there, which building it then reports."""
    tag = union.get("discriminator")
    for members in _base_members(union.get("base"), structs):
        for key, member in members.items():
            if key.removeprefix("*") == tag:
                assert isinstance(member, dict)
                return member["type"]
    return None


def _base_members(
    base: Value | None, structs: dict[Value, Expression]
) -> Iterator[dict[str, Value]]:
    """A base's members, then its bases', as far as they are defined (once each)."""
    if isinstance(base, dict):
        yield base
        return
    seen = set()
    while isinstance(base, str) and base in structs and base not in seen:
        seen.add(base)
        struct = structs[base]
        members = struct["data"]
        assert isinstance(members, dict)
        yield members
        base = struct.get("base")


def _members(members: Value, doc: Doc | None) -> dict[str, Value]:
    """The members, the conditional ones made optional (keys in order)."""
    assert isinstance(members, dict)
    result: dict[str, Value] = {}
    for key, member in members.items():
        assert isinstance(member, dict)
        name = key.removeprefix("*")
        cond = _drop(member, _section(doc, name), optional=key == name)
        if cond is not None:
            key = "*" + name
        result[key] = member
        _features(member, doc)
    return result


def _features(owner: dict[str, Value], doc: Doc | None) -> None:
    features = owner.get("features")
    if isinstance(features, list):
        for feature in features:
            assert isinstance(feature, dict)
            name = feature["name"]
            assert isinstance(name, str)
            section = doc.features.get(name) if doc is not None else None
            _drop(feature, section)


def _section(doc: Doc | None, name: str) -> Section | None:
    return doc.args.get(name) if doc is not None else None


def _drop(
    part: dict[str, Value], section: Section | None, *, optional: bool = False
) -> Value | None:
    """Remove ``part``'s condition, noting it in its description; returns it."""
    cond = part.pop("if", None)
    if cond is not None and section is not None:
        _note(section, cond, optional)
    return cond


def _condition_note(cond: Value, optional: bool = False) -> str:
    assert isinstance(cond, (str, dict))
    note = f"Only in builds where {condition_text(cond)}"
    return note + (" (so optional here)." if optional else ".")


def _note(section: Section, cond: Value, optional: bool = False) -> None:
    note = _condition_note(cond, optional)
    text = section.text.rstrip("\n")
    # As indented as the lines that continue the text, for those that dedent it.
    rest = [line for line in text.splitlines()[1:] if line.strip()]
    indent = min((len(line) - len(line.lstrip()) for line in rest), default=0) * " "
    section.text = f"{text}\n\n{indent}{note}\n" if text else f"{note}\n"
