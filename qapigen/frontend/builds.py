"""The builds of a schema: which condition symbols it uses, and what one build leaves out.

QEMU compiles a schema's ``if`` conditions with the C preprocessor, so each
build of QEMU (a configuration and a target) has the definitions, members,
enum values, branches and features whose condition holds for the symbols
that build defines.  ``qapigen`` names a build by its ``--define`` symbols.
This module answers what tools ask of builds before they pick one: which
symbols can matter (:func:`symbols`) and what a build leaves out
(:func:`left_out`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from .condition_text import condition_symbols
from .conditions import Defines
from .schema import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    Definition,
    EnumType,
    Event,
    Feature,
    IfCond,
    ObjectType,
    Schema,
)


def owner_name(defn: Definition) -> str:
    """How people name a definition: an implicit type by what defines it
    (``q_obj_query-cpus-fast-arg`` → ``query-cpus-fast``)."""
    name = defn.name
    if name.startswith("q_obj_"):
        return name[6:].rpartition("-")[0]
    return name


def _kind(defn: Definition) -> str | None:
    """How reports count a definition: None for the implicit types, which go
    with what defines them (a command's arguments, a union's base)."""
    if isinstance(defn, Command):
        return "command"
    if isinstance(defn, Event):
        return "event"
    return None if defn.is_implicit() else "type"


def _parts(defn: Definition) -> Iterator[tuple[str, str, IfCond]]:
    """The conditional parts inside a definition, each followed by its features."""
    owner = owner_name(defn)
    yield from _features(owner, defn.features)
    if isinstance(defn, EnumType):
        for value in defn.members:
            yield "value", f"{owner}.{value.name}", value.ifcond
            yield from _features(f"{owner}.{value.name}", value.features)
    elif isinstance(defn, ObjectType):
        for member in defn.local_members:
            yield "member", f"{owner}.{member.name}", member.ifcond
            yield from _features(f"{owner}.{member.name}", member.features)
        if defn.branches is not None:
            for v in defn.branches.variants:
                # Not the empty branches of tag values the schema gives none:
                # the value says it.
                if v.type_name != "q_empty":
                    yield "branch", f"{owner}.{v.name}", v.ifcond
    elif isinstance(defn, AlternateType):
        for v in defn.alternatives.variants:
            yield "branch", f"{owner}.{v.name}", v.ifcond


def _definitions(schema: Schema) -> Iterator[Definition]:
    # Built-in types have no condition; an array is as conditional as its element.
    for defn in schema.definitions():
        if not isinstance(defn, (BuiltinType, ArrayType)):
            yield defn


def conditional_parts(schema: Schema) -> Iterator[tuple[str, str, IfCond]]:
    """(kind, name, condition) of everything in ``schema`` that can have a
    condition: kinds ``command``, ``event``, ``type``, ``member``, ``value``,
    ``branch`` and ``feature``; a part is named ``Owner.part``, the parts of
    implicit types after what defines them (``query-cpus-fast.arg``)."""
    for defn in _definitions(schema):
        kind = _kind(defn)
        if kind is not None:
            yield kind, defn.name, defn.ifcond
        yield from _parts(defn)


def _features(owner: str, features: Iterable[Feature]) -> Iterator[tuple[str, str, IfCond]]:
    for f in features:
        yield "feature", f"{owner}.{f.name}", f.ifcond


def symbols(schema: Schema) -> list[str]:
    """Every condition symbol ``schema`` uses, sorted."""
    found: set[str] = set()
    for _kind, _name, cond in conditional_parts(schema):
        condition_symbols(cond.expr, found)
    return sorted(found)


def unknown_symbols(schema: Schema, defines: Iterable[str]) -> list[str]:
    """The symbols of ``defines`` that no condition of ``schema`` uses, in order."""
    used = set(symbols(schema))
    return [s for s in dict.fromkeys(defines) if s not in used]


#: The kinds of :func:`conditional_parts`, in the order reports list them.
KINDS = ("command", "event", "type", "member", "value", "branch", "feature")


@dataclasses.dataclass
class LeftOut:
    """What a build leaves out, by kind (see :data:`KINDS`): names in schema order.

    A part of something left out is not listed again (the members of a
    command left out are not counted as members).
    """

    parts: dict[str, list[str]]

    def count(self) -> int:
        return sum(len(names) for names in self.parts.values())

    def summary(self) -> str:
        """``37 commands, 8 events, 1 type``: the kinds that have any."""
        counts = []
        for kind in KINDS:
            n = len(self.parts.get(kind, ()))
            if n:
                plural = {"branch": "branches"}.get(kind, kind + "s")
                counts.append(f"{n} {kind if n == 1 else plural}")
        return ", ".join(counts)


def left_out(schema: Schema, defines: Iterable[str]) -> LeftOut:
    """What the build with the symbols ``defines`` leaves out of ``schema``."""
    build = Defines(defines)
    parts: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for defn in _definitions(schema):
        if not build.holds(defn.ifcond):
            kind = _kind(defn)
            if kind is not None:
                parts[kind].append(defn.name)
            continue
        gone = ""
        for kind, name, cond in _parts(defn):
            if gone and name.startswith(gone + "."):
                continue  # a feature of a member or value left out
            if not build.holds(cond):
                gone = name
                parts[kind].append(name)
    return LeftOut({kind: names for kind, names in parts.items() if names})
