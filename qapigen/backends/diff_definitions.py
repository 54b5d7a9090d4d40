"""What changed between two schemas in the bindings' terms: definitions by name.

:mod:`qapigen.backends.diff` compares what a QMP peer sees, by wire path;
renaming a type is no change there.  Generated bindings name a class after
each type, a method after each command, a class after each event, a field
after each member and an enum member after each value, so someone who
regenerates them needs the other view: which of those they lose, gain or
see change.  This module compares the two schemas definition by definition,
by name:

- a type, command or event removed or added (or a type of another kind:
  ``struct Foo: now a union``);
- an enum's values; a struct's or union's members (its base's included),
  whether each is optional, and its type (by name: ``['str']`` for an
  array); a union's branches and an alternate's, and their types; a type's
  base;
- a command's arguments (its members, or the type it names) and what it
  returns; an event's data likewise.

Conditions are not compared (the wire report does): every definition counts,
whatever its ``if``.  Implicit types (a command's arguments, a union's base)
are compared as part of what defines them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..frontend.schema import (
    AlternateType,
    ArrayType,
    Command,
    Definition,
    EnumType,
    Event,
    ObjectMember,
    ObjectType,
    Schema,
    Type,
)

#: The kinds of change, in report order within a definition.
KINDS = (
    "removed",
    "added",
    "meta-changed",
    "base-changed",
    "arguments-changed",
    "returns-changed",
    "value-removed",
    "value-added",
    "member-removed",
    "member-added",
    "member-optional",
    "member-mandatory",
    "member-type-changed",
    "branch-removed",
    "branch-added",
    "branch-type-changed",
)

_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}


@dataclasses.dataclass(frozen=True)
class DefinitionChange:
    """One change to a definition: ``meta`` (``enum``, ``struct``, ``union``,
    ``alternate``, ``command``, ``event``) and ``definition`` name it;
    ``kind`` is one of :data:`KINDS`; ``name`` the value, member or branch
    concerned (empty for the definition itself); ``detail`` the old and new
    type or kind, where one changed."""

    meta: str
    definition: str
    kind: str
    name: str = ""
    detail: str = ""

    def __str__(self) -> str:
        """``enum MigrationCapability: value 'compress' removed``."""
        return f"{self.meta} {self.definition}: {self.what()}"

    def what(self) -> str:
        part = {
            "value": "value",
            "member": "argument" if self.meta == "command" else "member",
            "branch": "branch",
        }
        kind = self.kind
        if kind in ("removed", "added"):
            return kind
        if kind == "meta-changed":
            return f"now {self.detail}"
        if kind in ("base-changed", "arguments-changed", "returns-changed"):
            what = kind.partition("-")[0]
            return f"{'data' if self.meta == 'event' else what} {self.detail}"
        thing, _, change = kind.partition("-")
        text = f"{part[thing]} '{self.name}'"
        if change == "type-changed":
            return f"{text}: type {self.detail}"
        if change in ("optional", "mandatory"):
            return f"{text} now {change}"
        return f"{text} {change}"

    def sort_key(self) -> tuple[str, str, str, int, str]:
        """Definitions by name (case aside), then the kind of change, then the part."""
        name = self.definition
        return (name.lower(), name, self.meta, _KIND_ORDER[self.kind], self.name)


def diff_definitions(old: Schema, new: Schema) -> list[DefinitionChange]:
    """The changes from ``old`` to ``new``, definition by definition, in report order."""
    differ = _Differ()
    before = _named(old)
    after = _named(new)
    for name in sorted(before.keys() | after.keys()):
        o, n = before.get(name), after.get(name)
        if n is None:
            assert o is not None
            differ.add(_meta(o), name, "removed")
        elif o is None:
            differ.add(_meta(n), name, "added")
        elif _meta(o) != _meta(n):
            article = "an" if _meta(n) in ("alternate", "enum", "event") else "a"
            differ.add(_meta(o), name, "meta-changed", detail=f"{article} {_meta(n)}")
        else:
            differ.definition(o, n)
    return sorted(differ.changes, key=DefinitionChange.sort_key)


def _named(schema: Schema) -> dict[str, Definition]:
    """What the bindings name: types not implicit, commands and events."""
    return {
        d.name: d
        for d in schema.definitions()
        if isinstance(d, (Command, Event))
        or (isinstance(d, (EnumType, ObjectType, AlternateType)) and not d.is_implicit())
    }


def _meta(defn: Definition) -> str:
    return defn.meta


def _type_name(typ: Type | None) -> str:
    if typ is None:
        return "nothing"
    if isinstance(typ, ArrayType):
        return f"['{typ.element_type.name}']"
    return f"'{typ.name}'"


class _Differ:
    def __init__(self) -> None:
        self.changes: list[DefinitionChange] = []

    def add(self, meta: str, definition: str, kind: str, name: str = "", detail: str = "") -> None:
        self.changes.append(DefinitionChange(meta, definition, kind, name, detail))

    def definition(self, o: Definition, n: Definition) -> None:
        meta, name = _meta(o), o.name
        if isinstance(o, EnumType) and isinstance(n, EnumType):
            self.parts(meta, name, "value", o.member_names(), n.member_names())
        elif isinstance(o, ObjectType) and isinstance(n, ObjectType):
            self.object(meta, name, o, n)
        elif isinstance(o, AlternateType) and isinstance(n, AlternateType):
            self.branches(
                meta,
                name,
                {v.name: v.type for v in o.alternatives.variants},
                {v.name: v.type for v in n.alternatives.variants},
            )
        elif isinstance(o, Command) and isinstance(n, Command):
            self.data(meta, name, o.arg_type, n.arg_type)
            if _type_name(o.ret_type) != _type_name(n.ret_type):
                self.add(
                    meta,
                    name,
                    "returns-changed",
                    detail=f"{_type_name(o.ret_type)} -> {_type_name(n.ret_type)}",
                )
        elif isinstance(o, Event) and isinstance(n, Event):
            self.data(meta, name, o.arg_type, n.arg_type)

    def object(self, meta: str, name: str, o: ObjectType, n: ObjectType) -> None:
        ob = o.base.name if o.base is not None and not o.base.is_implicit() else None
        nb = n.base.name if n.base is not None and not n.base.is_implicit() else None
        if ob != nb:
            shown = [f"'{b}'" if b else "none" for b in (ob, nb)]
            self.add(meta, name, "base-changed", detail=" -> ".join(shown))
        self.members(meta, name, o.members, n.members)
        if o.branches is not None and n.branches is not None:
            self.branches(
                meta,
                name,
                {v.name: v.type for v in o.branches.variants if v.type_name != "q_empty"},
                {v.name: v.type for v in n.branches.variants if v.type_name != "q_empty"},
            )

    def data(self, meta: str, name: str, o: ObjectType | None, n: ObjectType | None) -> None:
        """A command's arguments or an event's data: members given in place
        are compared one by one; a type named there, by its name."""
        o_named = o is not None and not o.is_implicit()
        n_named = n is not None and not n.is_implicit()
        if o_named or n_named:
            shown = ["members in place" if t and t.is_implicit() else _type_name(t) for t in (o, n)]
            if shown[0] != shown[1]:
                self.add(meta, name, "arguments-changed", detail=" -> ".join(shown))
            return
        self.members(meta, name, o.members if o else (), n.members if n else ())

    def members(
        self,
        meta: str,
        name: str,
        old: Iterable[ObjectMember],
        new: Iterable[ObjectMember],
    ) -> None:
        before = {m.name: m for m in old}
        after = {m.name: m for m in new}
        self.parts(meta, name, "member", list(before), list(after))
        for member in before.keys() & after.keys():
            mo, mn = before[member], after[member]
            if mo.optional != mn.optional:
                kind = "member-optional" if mn.optional else "member-mandatory"
                self.add(meta, name, kind, member)
            if _type_name(mo.type) != _type_name(mn.type):
                detail = f"{_type_name(mo.type)} -> {_type_name(mn.type)}"
                self.add(meta, name, "member-type-changed", member, detail)

    def branches(self, meta: str, name: str, old: dict[str, Type], new: dict[str, Type]) -> None:
        self.parts(meta, name, "branch", list(old), list(new))
        for branch in old.keys() & new.keys():
            if _type_name(old[branch]) != _type_name(new[branch]):
                detail = f"{_type_name(old[branch])} -> {_type_name(new[branch])}"
                self.add(meta, name, "branch-type-changed", branch, detail)

    def parts(self, meta: str, name: str, part: str, old: list[str], new: list[str]) -> None:
        for gone in set(old) - set(new):
            self.add(meta, name, f"{part}-removed", gone)
        for came in set(new) - set(old):
            self.add(meta, name, f"{part}-added", came)
