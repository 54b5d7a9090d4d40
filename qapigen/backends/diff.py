"""What changed on the wire between two versions of a schema.

(``qapigen diff`` also reports the changes in the bindings' terms, definition
by definition: :mod:`qapigen.backends.diff_definitions`.)

:func:`diff_schemas` compares what a QMP peer can see — the commands and
events, and every type reachable from their arguments, return values and
event data, as ``query-qmp-schema`` would show it — and classifies each
change by QMP's compatibility rules.  Types are compared by their wire
structure, never by name: renaming a type, or moving members into a base
type, is no change.

Each :class:`Change` has a verdict for two parties:

``client``
    A client written against OLD talking to a server that implements NEW.
    It breaks when something it may send is now rejected (a removed
    command, argument or enum value; a new mandatory argument; a narrower
    integer type), or when something it may receive is now outside what
    it understands (a removed mandatory reply member; a new enum value or
    alternative in a reply — strict clients reject unknown values).
    Clients must ignore unknown members and events, so new reply members
    and new events are compatible.

``server``
    A server written against OLD (an older QEMU, a simulator, a mock)
    serving clients written against NEW.  This is the same question with
    the roles of the versions swapped: a new command or optional argument
    breaks it, a removed one does not.

Some rules in detail.  Removing an optional reply member is compatible: a
client must cope with its absence anyway.  Features only inform, so gaining
or losing one (``deprecated`` and ``unstable`` included) is compatible for
both.  An ``if`` that now holds in more builds counts as an addition, in
fewer as a removal, in some more and some fewer as both; conditions that
hold in the same builds (by truth table) are no change.  A type's own
``if`` is not compared: the conditions of the members, commands and
events that use it say where it is visible.  Integer types compare by
range; in arguments ``uint64`` and ``size`` reach down to -2**63, since
QEMU's input takes negative values there (and wraps them).

Where a change is located is a *path*, built from ``/``-separated steps:

* the command or event name;
* ``arguments`` or ``returns`` for a command, ``data`` for an event;
* then a member name, ``[]`` for the elements of an array, or
  ``TAG=VALUE`` for the branch of a union selected by that tag value.

An alternate adds no step: its object branch's members and its array
branch's elements sit directly below it, since JSON type alone picks the
branch.  For example ``blockdev-add/arguments/driver=file/filename``, or
``query-block/returns/[]/inserted/image/backing-image``.  Recursive types
are followed until the same pair of (old, new) types comes round again.

Change kinds, in the order :func:`format_text` groups them (see
:data:`KINDS`): ``command-removed``, ``command-added``, ``event-removed``,
``event-added``, ``member-removed``, ``member-added``, ``member-mandatory``
(an optional member made mandatory), ``member-optional`` (the reverse),
``type-changed`` (another JSON type, or another integer range),
``enum-value-removed``, ``enum-value-added``, ``alternative-removed``,
``alternative-added`` (a JSON type an alternate, or a type turned into
one, no longer or newly takes), ``flag-changed`` (a command's
``allow-oob``, ``allow-preconfig`` or ``success-response``),
``feature-removed``, ``feature-added`` and ``if-changed``.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, TypeVar

from ..frontend.condition_text import condition_symbols
from ..frontend.model import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    EnumType,
    Event,
    Feature,
    IfCond,
    ObjectMember,
    ObjectType,
    Schema,
    Type,
)
from ..frontend.wire_types import INTEGER_RANGES, accepted_range
from .diff_definitions import DefinitionChange, diff_definitions

Verdict = Literal["breaking", "compatible"]

BREAKING: Verdict = "breaking"
COMPATIBLE: Verdict = "compatible"

# kind, heading in the text output.
KINDS: tuple[tuple[str, str], ...] = (
    ("command-removed", "Commands removed"),
    ("command-added", "Commands added"),
    ("event-removed", "Events removed"),
    ("event-added", "Events added"),
    ("member-removed", "Members removed"),
    ("member-added", "Members added"),
    ("member-mandatory", "Members made mandatory"),
    ("member-optional", "Members made optional"),
    ("type-changed", "Types changed"),
    ("enum-value-removed", "Enum values removed"),
    ("enum-value-added", "Enum values added"),
    ("alternative-removed", "Alternatives removed"),
    ("alternative-added", "Alternatives added"),
    ("flag-changed", "Command flags changed"),
    ("feature-removed", "Features removed"),
    ("feature-added", "Features added"),
    ("if-changed", "Conditions changed"),
)

_D = TypeVar("_D", Command, Event)

_KIND_ORDER = {kind: i for i, (kind, _) in enumerate(KINDS)}


@dataclass(frozen=True)
class Change:
    """One difference between two schemas, as a QMP peer sees it.

    ``kind`` is one of :data:`KINDS`; ``path`` locates it (see the module
    documentation); ``detail`` says what changed (a member's optionality
    and type, an enum value, a feature, the old and new condition);
    ``client`` and ``server`` are ``"breaking"`` or ``"compatible"``.
    """

    kind: str
    path: str
    detail: str
    client: Verdict
    server: Verdict

    def sort_key(self) -> tuple[int, str, str]:
        """The order of the report: grouped by kind, then by path."""
        return (_KIND_ORDER[self.kind], self.path, self.detail)


# -- classification -------------------------------------------------------

# Which way a change moves the set of valid JSON at a place.  "Widens":
# something is valid now that was not; "narrows": something valid before
# is not any more.  Arguments are read by the server, so narrowing them
# breaks old clients and widening them breaks old servers; replies and
# event data are read by the client, the other way round.
_IN = "in"
_OUT = "out"


def _verdicts(direction: str, widens: bool, narrows: bool) -> tuple[Verdict, Verdict]:
    if direction == _IN:
        client, server = narrows, widens
    else:
        client, server = widens, narrows
    return (BREAKING if client else COMPATIBLE, BREAKING if server else COMPATIBLE)


def _worst(a: tuple[Verdict, Verdict], b: tuple[Verdict, Verdict]) -> tuple[Verdict, Verdict]:
    return (
        BREAKING if BREAKING in (a[0], b[0]) else COMPATIBLE,
        BREAKING if BREAKING in (a[1], b[1]) else COMPATIBLE,
    )


# Something a peer may use (a command, an event, a flag): gaining it is
# fine for old clients, but new clients may then use it with old servers.
_GAINED = (COMPATIBLE, BREAKING)
_LOST = (BREAKING, COMPATIBLE)
_HARMLESS = (COMPATIBLE, COMPATIBLE)


def _member_added(direction: str, optional: bool) -> tuple[Verdict, Verdict]:
    if direction == _IN:
        # A mandatory argument is demanded from old clients and rejected
        # by old servers.
        return _verdicts(_IN, True, not optional)
    # Clients ignore reply members they do not know; a mandatory one is
    # only missing from old servers' replies.
    return _verdicts(_OUT, False, not optional)


def _member_removed(direction: str, optional: bool) -> tuple[Verdict, Verdict]:
    if direction == _IN:
        return _verdicts(_IN, not optional, True)
    # A client must cope with the absence of an optional member anyway.
    return _verdicts(_OUT, not optional, False)


# -- conditions -----------------------------------------------------------


# Conditions with more symbols than this are compared only for equality:
# QEMU's have a handful, and the truth table doubles with each.
_MAX_SYMBOLS = 14


def _implications(old: IfCond, new: IfCond) -> tuple[bool, bool] | None:
    """(old implies new, new implies old), or None when too big to tell."""
    names: set[str] = set()
    condition_symbols(old.expr, names)
    condition_symbols(new.expr, names)
    if len(names) > _MAX_SYMBOLS:
        return None
    ordered = sorted(names)
    old_implies_new = new_implies_old = True
    for values in itertools.product((False, True), repeat=len(ordered)):
        defined = {n for n, v in zip(ordered, values, strict=True) if v}
        a = old.evaluate(defined.__contains__)
        b = new.evaluate(defined.__contains__)
        if a and not b:
            old_implies_new = False
        if b and not a:
            new_implies_old = False
    return old_implies_new, new_implies_old


def cond_text(cond: IfCond) -> str:
    """A condition as text: ``always``, ``CONFIG_X``, ``(A and not B)``."""

    def text(expr: object) -> str:
        if isinstance(expr, str):
            return expr
        assert isinstance(expr, dict)
        if "not" in expr:
            return "not " + text(expr["not"])
        op = "all" if "all" in expr else "any"
        joiner = " and " if op == "all" else " or "
        return "(" + joiner.join(text(e) for e in expr[op]) + ")"

    return "always" if cond.expr is None else text(cond.expr)


# -- the comparison -------------------------------------------------------


# Integer types compare by range: int is int64, size is uint64.
def _int_range(name: str, direction: str) -> tuple[int, int]:
    """The integers accepted (input) or sent (output) for an integer type."""
    return accepted_range(name) if direction == _IN else INTEGER_RANGES[name]


def _json_class(t: Type) -> str:
    """The JSON type by which an alternate picks ``t``'s branch: integers are numbers."""
    json_type = t.json_type()
    return "number" if json_type == "int" else json_type


def _shape(t: Type) -> str:
    """What kind of JSON a type is: a built-in's kind, or its meta."""
    if isinstance(t, BuiltinType):
        return "int" if t.name in INTEGER_RANGES else t.name
    if isinstance(t, EnumType):
        return "enum"
    if isinstance(t, ArrayType):
        return "array"
    if isinstance(t, AlternateType):
        return "alternate"
    return "object"


def _wire_name(t: Type) -> str:
    if isinstance(t, BuiltinType):
        return t.name
    if isinstance(t, ArrayType):
        return "[" + _wire_name(t.element_type) + "]"
    if t.is_implicit():
        return _shape(t)
    return t.name


# Conversions between shapes that only widen (old, new); the reverse
# only narrows.  A number accepts integers; a string accepts any enum
# value; 'any' accepts everything.
_WIDENINGS = {("int", "number"), ("enum", "str")}


class _Differ:
    def __init__(self, old: Schema, new: Schema) -> None:
        self.old = old
        self.new = new
        self.changes: list[Change] = []
        # The (old, new) type pairs being compared further up the path:
        # recursive types stop there.
        self.active: set[tuple[str, str]] = set()

    def add(self, kind: str, path: str, detail: str, verdict: tuple[Verdict, Verdict]) -> None:
        self.changes.append(Change(kind, path, detail, verdict[0], verdict[1]))

    def empty(self, schema: Schema) -> ObjectType:
        # No 'data' is the same on the wire as an empty object.
        empty = schema.lookup_type("q_empty")
        assert isinstance(empty, ObjectType)
        return empty

    # -- definitions ---------------------------------------------------

    def run(self) -> list[Change]:
        self.definitions(
            "command",
            {c.name: c for c in self.old.commands()},
            {c.name: c for c in self.new.commands()},
            self.command,
        )
        self.definitions(
            "event",
            {e.name: e for e in self.old.events()},
            {e.name: e for e in self.new.events()},
            self.event,
        )
        return sorted(self.changes, key=Change.sort_key)

    def definitions(
        self,
        meta: str,
        old: dict[str, _D],
        new: dict[str, _D],
        compare: Callable[[_D, _D], None],
    ) -> None:
        for name in sorted(old.keys() | new.keys()):
            o = old.get(name)
            n = new.get(name)
            if n is None:
                self.add(f"{meta}-removed", name, "", _LOST)
            elif o is None:
                self.add(f"{meta}-added", name, "", _GAINED)
            else:
                self.condition(name, "", o.ifcond, n.ifcond, _GAINED, _LOST)
                self.features(name, "", o.features, n.features)
                compare(o, n)

    def command(self, o: Command, n: Command) -> None:
        name = o.name
        for flag, what in (
            ("allow_oob", "allow-oob"),
            ("allow_preconfig", "allow-preconfig"),
        ):
            before, after = getattr(o, flag), getattr(n, flag)
            if before != after:
                self.add(
                    "flag-changed",
                    name,
                    f"{what}: {str(before).lower()} -> {str(after).lower()}",
                    _GAINED if after else _LOST,
                )
        if o.success_response != n.success_response:
            # Whether a reply comes at all: either way, someone waits in
            # vain or gets a reply it does not expect.
            self.add(
                "flag-changed",
                name,
                f"success-response: {str(o.success_response).lower()} -> "
                f"{str(n.success_response).lower()}",
                (BREAKING, BREAKING),
            )
        self.type(
            o.arg_type or self.empty(self.old),
            n.arg_type or self.empty(self.new),
            f"{name}/arguments",
            _IN,
        )
        self.type(
            o.ret_type or self.empty(self.old),
            n.ret_type or self.empty(self.new),
            f"{name}/returns",
            _OUT,
        )

    def event(self, o: Event, n: Event) -> None:
        self.type(
            o.arg_type or self.empty(self.old),
            n.arg_type or self.empty(self.new),
            f"{o.name}/data",
            _OUT,
        )

    # -- annotations ---------------------------------------------------

    def condition(
        self,
        path: str,
        what: str,
        old: IfCond,
        new: IfCond,
        gained: tuple[Verdict, Verdict],
        lost: tuple[Verdict, Verdict],
    ) -> None:
        """Report a changed ``if``, as a gain in the builds it newly covers
        and a loss in those it no longer does."""
        if old == new:
            return
        implied = _implications(old, new)
        if implied == (True, True):
            # Written differently, true in the same builds.
            return
        if implied is None:
            verdict = _worst(gained, lost)
        else:
            old_implies_new, new_implies_old = implied
            verdict = _HARMLESS
            if not new_implies_old:
                verdict = _worst(verdict, gained)
            if not old_implies_new:
                verdict = _worst(verdict, lost)
        prefix = f"{what}: " if what else ""
        self.add("if-changed", path, f"{prefix}{cond_text(old)} -> {cond_text(new)}", verdict)

    def features(
        self, path: str, what: str, old: Sequence[Feature], new: Sequence[Feature]
    ) -> None:
        """Features only inform (deprecated, unstable, or a capability a
        client may probe for); the wire accepts and sends the same."""
        before = {f.name: f for f in old}
        after = {f.name: f for f in new}
        suffix = f" ({what})" if what else ""
        for name in sorted(before.keys() - after.keys()):
            self.add("feature-removed", path, name + suffix, _HARMLESS)
        for name in sorted(after.keys() - before.keys()):
            self.add("feature-added", path, name + suffix, _HARMLESS)
        for name in sorted(before.keys() & after.keys()):
            self.condition(
                path,
                f"feature {name}{suffix}",
                before[name].ifcond,
                after[name].ifcond,
                _HARMLESS,
                _HARMLESS,
            )

    # -- types ---------------------------------------------------------

    def type(self, o: Type, n: Type, path: str, direction: str) -> None:
        key = (o.name, n.name)
        if key in self.active:
            return
        self.active.add(key)
        try:
            self._type(o, n, path, direction)
        finally:
            self.active.discard(key)

    def _type(self, o: Type, n: Type, path: str, direction: str) -> None:
        so, sn = _shape(o), _shape(n)
        if so == sn == "int":
            self.int_range(o, n, path, direction)
        elif so == sn and so in ("number", "str", "bool", "null", "any"):
            pass
        elif so == sn == "enum":
            assert isinstance(o, EnumType) and isinstance(n, EnumType)
            self.enum(o, n, path, direction)
        elif so == sn == "array":
            assert isinstance(o, ArrayType) and isinstance(n, ArrayType)
            self.type(o.element_type, n.element_type, path + "/[]", direction)
        elif so == sn == "object":
            assert isinstance(o, ObjectType) and isinstance(n, ObjectType)
            self.object(o, n, path, direction)
        elif "any" not in (so, sn) and "alternate" in (so, sn):
            self.alternatives(o, n, path, direction)
        else:
            if sn == "any" or (so, sn) in _WIDENINGS:
                widens, narrows = True, False
            elif so == "any" or (sn, so) in _WIDENINGS:
                widens, narrows = False, True
            else:
                widens = narrows = True
            detail = f"{_wire_name(o)} -> {_wire_name(n)}"
            self.add("type-changed", path, detail, _verdicts(direction, widens, narrows))

    def int_range(self, o: Type, n: Type, path: str, direction: str) -> None:
        lo_o, hi_o = _int_range(o.name, direction)
        lo_n, hi_n = _int_range(n.name, direction)
        if (lo_o, hi_o) == (lo_n, hi_n):
            return
        widens = lo_n < lo_o or hi_n > hi_o
        narrows = lo_n > lo_o or hi_n < hi_o
        self.add(
            "type-changed", path, f"{o.name} -> {n.name}", _verdicts(direction, widens, narrows)
        )

    def enum(self, o: EnumType, n: EnumType, path: str, direction: str) -> None:
        self.features(path, "type", o.features, n.features)
        before = {m.name: m for m in o.members}
        after = {m.name: m for m in n.members}
        gained = _verdicts(direction, True, False)
        lost = _verdicts(direction, False, True)
        for name in sorted(before.keys() - after.keys()):
            self.add("enum-value-removed", path, name, lost)
        for name in sorted(after.keys() - before.keys()):
            self.add("enum-value-added", path, name, gained)
        for name in sorted(before.keys() & after.keys()):
            mo, mn = before[name], after[name]
            self.condition(path, f"value {name}", mo.ifcond, mn.ifcond, gained, lost)
            self.features(path, f"value {name}", mo.features, mn.features)

    def alternatives(self, o: Type, n: Type, path: str, direction: str) -> None:
        """Compare branch by JSON type; a plain type is an alternate of one."""
        before = _branches(o)
        after = _branches(n)
        if isinstance(o, AlternateType) and isinstance(n, AlternateType):
            self.features(path, "type", o.features, n.features)
        gained = _verdicts(direction, True, False)
        lost = _verdicts(direction, False, True)
        for json_type in sorted(before.keys() - after.keys()):
            self.add("alternative-removed", path, json_type, lost)
        for json_type in sorted(after.keys() - before.keys()):
            self.add("alternative-added", path, json_type, gained)
        for json_type in sorted(before.keys() & after.keys()):
            (to, co), (tn, cn) = before[json_type], after[json_type]
            self.condition(path, f"alternative {json_type}", co, cn, gained, lost)
            self.type(to, tn, path, direction)

    def object(self, o: ObjectType, n: ObjectType, path: str, direction: str) -> None:
        self.features(path, "type", o.features, n.features)
        self.members(o, n, path, direction)
        if o.branches is None or n.branches is None:
            return
        tag = o.branches.tag_member.name
        if n.branches.tag_member.name != tag:
            # A different discriminator: the members that changed say so.
            return
        before = {v.name: v for v in o.branches.variants}
        after = {v.name: v for v in n.branches.variants}
        for value in sorted(before.keys() & after.keys()):
            # A branch comes and goes with its tag value, which the
            # tag member's enum reports.
            self.type(before[value].type, after[value].type, f"{path}/{tag}={value}", direction)

    def members(
        self, old_owner: ObjectType, new_owner: ObjectType, path: str, direction: str
    ) -> None:
        before = {m.name: m for m in old_owner.members}
        after = {m.name: m for m in new_owner.members}
        for name in sorted(before.keys() | after.keys()):
            mo = before.get(name)
            mn = after.get(name)
            where = f"{path}/{name}"
            if mn is None:
                assert mo is not None
                self.add(
                    "member-removed",
                    where,
                    _member_text(mo) + _in_branches("now only", new_owner, name),
                    _member_removed(direction, mo.optional),
                )
                continue
            if mo is None:
                self.add(
                    "member-added",
                    where,
                    _member_text(mn) + _in_branches("before only", old_owner, name),
                    _member_added(direction, mn.optional),
                )
                continue
            if mo.optional and not mn.optional:
                self.add("member-mandatory", where, "", _verdicts(direction, False, True))
            elif mn.optional and not mo.optional:
                self.add("member-optional", where, "", _verdicts(direction, True, False))
            self.condition(
                where,
                "",
                mo.ifcond,
                mn.ifcond,
                _member_added(direction, mn.optional),
                _member_removed(direction, mo.optional),
            )
            self.features(where, "", mo.features, mn.features)
            self.type(mo.type, mn.type, where, direction)


def _member_text(m: ObjectMember) -> str:
    return f"{'optional' if m.optional else 'mandatory'} {_wire_name(m.type)}"


def _in_branches(when: str, owner: ObjectType, name: str) -> str:
    """Where a member moved between the common part and the branches."""
    if owner.branches is None:
        return ""
    tag = owner.branches.tag_member.name
    where = [
        f"{tag}={v.name}"
        for v in owner.branches.variants
        if isinstance(v.type, ObjectType) and any(m.name == name for m in v.type.members)
    ]
    return f"; {when} in {', '.join(where)}" if where else ""


def _branches(t: Type) -> dict[str, tuple[Type, IfCond]]:
    if isinstance(t, AlternateType):
        return {_json_class(v.type): (v.type, v.ifcond) for v in t.alternatives.variants}
    return {_json_class(t): (t, IfCond())}


# -- the public interface -------------------------------------------------


def diff_schemas(old: Schema, new: Schema) -> list[Change]:
    """The wire-visible changes from ``old`` to ``new``, in report order."""
    return _Differ(old, new).run()


def summary(changes: Iterable[Change]) -> dict[str, object]:
    """Counts: all changes, breaking ones for each party, and by kind."""
    changes = list(changes)
    by_kind: dict[str, int] = {}
    for c in changes:
        by_kind[c.kind] = by_kind.get(c.kind, 0) + 1
    return {
        "changes": len(changes),
        "client-breaking": sum(c.client == BREAKING for c in changes),
        "server-breaking": sum(c.server == BREAKING for c in changes),
        "by-kind": {kind: by_kind[kind] for kind, _ in KINDS if kind in by_kind},
    }


def to_json(
    changes: Sequence[Change], definitions: Sequence[DefinitionChange] | None = None
) -> str:
    """The ``--json`` report.

    ``{"changes": [{"kind", "path", "detail", "client", "server"}, ...],
    "summary": {"changes": N, "client-breaking": N, "server-breaking": N,
    "by-kind": {KIND: N}}}``, changes in report order; with ``definitions``
    (:mod:`qapigen.backends.diff_definitions`), also ``"definitions":
    [{"meta", "definition", "kind", "name", "detail", "text"}, ...]`` and
    their number as the summary's ``"definition-changes"``.
    """
    doc: dict[str, object] = {"changes": [asdict(c) for c in changes]}
    counts = summary(changes)
    if definitions is not None:
        doc["definitions"] = [{**asdict(d), "text": str(d)} for d in definitions]
        counts["definition-changes"] = len(definitions)
    doc["summary"] = counts
    return json.dumps(doc, indent=2) + "\n"


def format_text(changes: Sequence[Change], definitions: Sequence[DefinitionChange] = ()) -> str:
    """The human-readable report: one group per kind, one line per change;
    then ``definitions``, one line each, in the bindings' terms."""
    text = _format_wire(changes)
    if definitions:
        text += f"\nIn the bindings' terms ({len(definitions)}):\n"
        text += "".join(f"  {d}\n" for d in definitions)
    return text


def _format_wire(changes: Sequence[Change]) -> str:
    if not changes:
        return "No changes on the wire.\n"
    lines: list[str] = []
    for kind, heading in KINDS:
        group = [c for c in changes if c.kind == kind]
        if not group:
            continue
        if lines:
            lines.append("")
        lines.append(f"{heading} ({len(group)}):")
        for c in group:
            what = f"{c.path}: {c.detail}" if c.detail else c.path
            lines.append(f"  {what}  [client: {c.client}, server: {c.server}]")
    counts = summary(changes)
    lines.append("")
    lines.append(
        f"{counts['changes']} changes; breaking for clients: {counts['client-breaking']}, "
        f"for servers: {counts['server-breaking']}"
    )
    return "\n".join(lines) + "\n"


def report(old: Schema, new: Schema, *, as_json: bool = False) -> int:
    """``qapigen diff``: print what changed, on the wire and in the bindings'
    terms; exit status 0 (no change) or 1 (changes)."""
    changes = diff_schemas(old, new)
    definitions = diff_definitions(old, new)
    text = to_json(changes, definitions) if as_json else format_text(changes, definitions)
    sys.stdout.write(text)
    return 1 if changes or definitions else 0
