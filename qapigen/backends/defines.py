"""Which build of a schema a binary is: the ``--define`` set behind a ``query-qmp-schema`` reply.

``qapigen defines SCHEMA --match FILE`` walks the schema and the reply side
by side, from each command and event to every type they use (masked names
are matched by where they are used), and notes for every conditional part
whether the reply has it.  Each note is a constraint on the symbols: a
command present whose condition is ``CONFIG_VNC`` says that the build
defines ``CONFIG_VNC``.  The symbols are solved for (the fewest defined that
satisfy every note), and the answer is checked the only way that counts:
``introspect(schema, defines)`` must equal the reply, as JSON.

What no set of symbols explains — a command the schema lacks, a member it
always has and the reply does not, a type of another shape — is reported
as it is found; so is a set that satisfies every note and still does not
reproduce the reply.  Symbols no part of the reply depends on are left
undefined and named.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from typing import Any

from ..frontend.builds import symbols
from ..frontend.condition_text import condition_symbols, condition_text
from ..frontend.schema import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    EnumType,
    Event,
    Feature,
    IfCond,
    ObjectType,
    Schema,
    Type,
)
from .introspect import introspect

JSON = dict[str, Any]

# A group of symbols that constraints tie together is solved by trying every
# assignment; groups larger than this are solved symbol by symbol.
_MAX_GROUP = 16


@dataclasses.dataclass
class Match:
    """What ``--match`` found.

    ``defines``: the symbols of the build, sorted; ``exact``: whether
    ``introspect`` with them gives the reply; ``unknown``: symbols the reply
    does not depend on (left undefined); ``problems``: what no set of
    symbols can reproduce, one sentence each.
    """

    defines: list[str]
    exact: bool
    unknown: list[str]
    problems: list[str]

    def command_line(self) -> str:
        """The ``--define`` options of the set, on one line."""
        return " ".join(f"--define {s}" for s in self.defines)


def match_build(schema: Schema, reply: list[JSON]) -> Match:
    """The build of ``schema`` whose ``query-qmp-schema`` reply is ``reply``."""
    aligner = _Aligner(schema, reply)
    aligner.run()
    solver = _Solver(aligner.notes)
    defines, violated = solver.solve()
    problems = aligner.problems + violated
    exact = introspect(schema, defines) == reply
    if not exact and not problems:
        problems.append(_first_difference(introspect(schema, defines), reply))
    used = solver.symbols
    unknown = [s for s in symbols(schema) if s not in used]
    return Match(sorted(defines), exact, unknown, problems)


# -- aligning the schema with the reply -----------------------------------


@dataclasses.dataclass(frozen=True)
class _Note:
    """A conditional part, where it is, and whether the reply has it."""

    cond: IfCond
    present: bool
    what: str


class _Aligner:
    def __init__(self, schema: Schema, reply: list[JSON]) -> None:
        self.schema = schema
        self.entries = {e.get("name"): e for e in reply if isinstance(e, dict)}
        self.reply = reply
        self.notes: list[_Note] = []
        self.problems: list[str] = []
        self.done: set[tuple[str, str]] = set()

    def note(self, cond: IfCond, present: bool, what: str) -> None:
        if cond.is_present():
            self.notes.append(_Note(cond, present, what))
        elif not present:
            self.problems.append(f"{what}: the schema always has it, the reply does not")

    def run(self) -> None:
        commands = {e["name"]: e for e in self.reply if e.get("meta-type") == "command"}
        events = {e["name"]: e for e in self.reply if e.get("meta-type") == "event"}
        definitions: list[Command | Event] = [*self.schema.commands(), *self.schema.events()]
        for defn in definitions:
            table = commands if isinstance(defn, Command) else events
            entry = table.pop(defn.name, None)
            what = f"{defn.meta} {defn.name}"
            self.note(defn.ifcond, entry is not None, what)
            if entry is None:
                continue
            self.features(defn.features, entry, what)
            empty = self.schema.lookup_type("q_empty")
            assert empty is not None
            self.type(defn.arg_type or empty, entry.get("arg-type"), f"{what}, arguments")
            if isinstance(defn, Command):
                self.type(defn.ret_type or empty, entry.get("ret-type"), f"{what}, returns")
        for name in [*commands, *events]:
            meta = "command" if name in commands else "event"
            self.problems.append(f"{meta} {name}: the reply has it, the schema does not")

    def features(self, features: Iterable[Feature], entry: JSON, what: str) -> None:
        shown = entry.get("features", [])
        names = set()
        for f in features:
            names.add(f.name)
            self.note(f.ifcond, f.name in shown, f"{what}, feature {f.name}")
        for name in shown:
            if name not in names:
                self.problems.append(f"{what}: the reply has feature {name}, the schema does not")

    def type(self, typ: Type, ref: object, what: str) -> None:
        if not isinstance(ref, str):
            self.problems.append(f"{what}: the reply names no type")
            return
        if isinstance(typ, ArrayType):
            if not (ref.startswith("[") and ref.endswith("]")):
                self.problems.append(f"{what}: an array in the schema, not in the reply")
                return
            self.type(typ.element_type, ref[1:-1], f"{what}, elements")
            return
        if isinstance(typ, BuiltinType):
            shown = "int" if typ.json_type() == "int" else typ.name
            if ref != shown:
                self.problems.append(f"{what}: {shown} in the schema, {ref} in the reply")
            return
        entry = self.entries.get(ref)
        if entry is None:
            self.problems.append(f"{what}: the reply does not describe type {ref}")
            return
        expected = (
            "enum"
            if isinstance(typ, EnumType)
            else "object"
            if isinstance(typ, ObjectType)
            else "alternate"
        )
        if entry.get("meta-type") != expected:
            self.problems.append(
                f"{what}: {expected} in the schema, {entry.get('meta-type')} in the reply"
            )
            return
        if (typ.name, ref) in self.done:
            return
        self.done.add((typ.name, ref))
        what = f"{typ.describe()}" if not typ.is_implicit() else what
        self.note(typ.ifcond, True, what)
        self.features(typ.features, entry, what)
        if isinstance(typ, EnumType):
            self.enum(typ, entry, what)
        elif isinstance(typ, ObjectType):
            self.object(typ, entry, what)
        else:
            assert isinstance(typ, AlternateType)
            self.alternate(typ, entry, what)

    def enum(self, typ: EnumType, entry: JSON, what: str) -> None:
        shown: dict[str, JSON] = {
            m["name"]: m for m in entry.get("members", []) if isinstance(m, dict) and "name" in m
        }
        if not shown:
            shown = {v: {} for v in entry.get("values", [])}
        for value in typ.members:
            present = value.name in shown
            self.note(value.ifcond, present, f"{what}, value {value.name}")
            if present:
                self.features(value.features, shown[value.name], f"{what}, value {value.name}")
        for name in sorted(set(shown) - set(typ.member_names())):
            self.problems.append(f"{what}: the reply has value {name}, the schema does not")

    def object(self, typ: ObjectType, entry: JSON, what: str) -> None:
        shown: dict[str, JSON] = {
            m["name"]: m for m in entry.get("members", []) if isinstance(m, dict) and "name" in m
        }
        for m in typ.members:
            member = shown.get(m.name)
            where = f"{what}, member {m.name}"
            self.note(m.ifcond, member is not None, where)
            if member is None:
                continue
            if ("default" in member) != m.optional:
                optional = "optional" if m.optional else "mandatory"
                self.problems.append(f"{where}: {optional} in the schema, not in the reply")
            self.features(m.features, member, where)
            self.type(m.type, member.get("type"), where)
        for name in sorted(set(shown) - {m.name for m in typ.members}):
            self.problems.append(f"{what}: the reply has member {name}, the schema does not")
        if typ.branches is None:
            return
        cases = {v.get("case"): v for v in entry.get("variants", []) if isinstance(v, dict)}
        for v in typ.branches.variants:
            case = cases.get(v.name)
            where = f"{what}, branch {v.name}"
            self.note(v.ifcond, case is not None, where)
            if case is not None:
                self.type(v.type, case.get("type"), where)

    def alternate(self, typ: AlternateType, entry: JSON, what: str) -> None:
        shown: dict[str, str] = {}
        for m in entry.get("members", []):
            ref = m.get("type") if isinstance(m, dict) else None
            if isinstance(ref, str):
                shown[self.json_kind(ref)] = ref
        for v in typ.alternatives.variants:
            kind = _json_kind(v.type)
            where = f"{what}, branch {v.name}"
            self.note(v.ifcond, kind in shown, where)
            if kind in shown:
                self.type(v.type, shown.pop(kind), where)

    def json_kind(self, ref: str) -> str:
        if ref.startswith("["):
            return "array"
        entry = self.entries.get(ref, {})
        if entry.get("meta-type") == "builtin":
            return str(entry.get("json-type"))
        return str(entry.get("meta-type"))


def _json_kind(typ: Type) -> str:
    """How the reply shows the kind of an alternate's branch."""
    if isinstance(typ, BuiltinType):
        return typ.json_type()
    if isinstance(typ, ArrayType):
        return "array"
    return "enum" if isinstance(typ, EnumType) else "object"


# -- solving for the symbols ----------------------------------------------


class _Solver:
    def __init__(self, notes: list[_Note]) -> None:
        self.notes = notes
        found: set[str] = set()
        for n in notes:
            condition_symbols(n.cond.expr, found)
        self.symbols = found

    def solve(self) -> tuple[list[str], list[str]]:
        """The symbols to define, and the notes no assignment satisfies."""
        defined: set[str] = set()
        # Symbols tied together by the notes' conditions, solved a group at a time.
        groups = _groups(self.notes)
        for group, notes in groups:
            if len(group) <= _MAX_GROUP:
                defined |= _best(group, notes)
            else:
                defined |= _greedy(group, notes)
        violated = [
            f"{n.what}: {'present' if n.present else 'absent'} in the reply, but its condition "
            f"({_text(n.cond)}) is {'false' if n.present else 'true'} "
            "for the symbols that the rest of the reply needs"
            for n in self.notes
            if n.cond.evaluate(defined.__contains__) != n.present
        ]
        return sorted(defined), violated


def _text(cond: IfCond) -> str:
    assert cond.expr is not None
    return condition_text(cond.expr)


def _groups(notes: list[_Note]) -> list[tuple[list[str], list[_Note]]]:
    """Symbols that share a condition, transitively, with the notes on them."""
    parent: dict[str, str] = {}

    def find(s: str) -> str:
        while parent.setdefault(s, s) != s:
            s = parent[s]
        return s

    note_symbols = []
    for n in notes:
        found: set[str] = set()
        condition_symbols(n.cond.expr, found)
        names = sorted(found)
        note_symbols.append(names)
        for other in names[1:]:
            parent[find(other)] = find(names[0])
    groups: dict[str, tuple[list[str], list[_Note]]] = {}
    for n, names in zip(notes, note_symbols, strict=True):
        root = find(names[0])
        group = groups.setdefault(root, ([], []))
        group[1].append(n)
    for s in sorted(parent):
        groups[find(s)][0].append(s)
    return [groups[root] for root in sorted(groups)]


def _violations(defined: frozenset[str], notes: list[_Note]) -> int:
    return sum(n.cond.evaluate(defined.__contains__) != n.present for n in notes)


def _best(group: list[str], notes: list[_Note]) -> set[str]:
    """The assignment with the fewest violated notes, then the fewest symbols defined."""
    best: tuple[int, int, list[str]] | None = None
    for size in range(len(group) + 1):
        for chosen in itertools.combinations(group, size):
            bad = _violations(frozenset(chosen), notes)
            if best is None or (bad, size) < best[:2]:
                best = (bad, size, list(chosen))
            if bad == 0:
                return set(chosen)
    assert best is not None
    return set(best[2])


def _greedy(group: list[str], notes: list[_Note]) -> set[str]:
    """Flip one symbol at a time while that lowers the violated notes."""
    defined: set[str] = set()
    current = _violations(frozenset(defined), notes)
    improved = True
    while improved and current:
        improved = False
        for s in group:
            trial = defined ^ {s}
            bad = _violations(frozenset(trial), notes)
            if bad < current:
                defined, current, improved = trial, bad, True
    return defined


def _first_difference(ours: list[JSON], reply: list[JSON]) -> str:
    for i, (a, b) in enumerate(zip(ours, reply, strict=False)):
        if a != b:
            return (
                f"SchemaInfo {i + 1} differs: the schema with these symbols gives {a}, "
                f"the reply has {b}"
            )
    return f"the schema with these symbols gives {len(ours)} SchemaInfo, the reply {len(reply)}"
