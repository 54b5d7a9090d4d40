"""The schema a ``query-qmp-schema`` reply describes: bindings without a source tree.

A QEMU binary describes its own QMP with ``query-qmp-schema``: the commands
and events of that build, and the types they use (docs/devel/
qapi-code-gen.rst, "Client JSON Protocol introspection").  This module turns
such a reply into checked expressions and builds the model from them, so
that every back end (``generate`` above all) works on a binary as on a
schema file.

What introspection does not show, the model cannot have: doc comments, the
modules, the flags other than ``allow-oob``, and which integer type a member
has (every one shows as ``int``, so it decodes as QEMU's ``int``: 64 bits,
signed).  Conditions are resolved already: the reply is one build.

Type names are masked (``"123"``), so each type gets a name derived from
where it is used (docs/bindings.md, "Bindings from a binary", states the
rule).  A name is made of parts:

- what a command takes has the parts ``<Command>``, ``Arguments``; what it
  returns (or each element of the list it returns) ``<Command>``,
  ``Result``; an event's data ``<Event>``, ``Data``.  Arguments and data
  used nowhere else are given in place, as the schema language writes
  them (the bindings call them ``<Command>Arguments`` and ``<Event>Event``);
- the type of member ``m`` (or branch ``b``) of a type continues that
  type's parts with ``M`` (the name in CamelCase), those of a command's or
  event's type without its ``Arguments``, ``Result`` or ``Data``; an
  alternate's object, enum and array-element branches continue with
  ``Object``, ``Enum``, ``Element``;
- a type's name is its last two parts (``BlockdevAdd``, ``Qcow2``,
  ``OverlapCheck``: ``Qcow2OverlapCheck``); if another type has that name,
  its last three, and so on;
- a type used in several places is named from its uses nearest to a
  command or event (fewest steps): fewest parts first, then the shortest
  name, then the first in alphabetical order; if every name is taken, the
  first with ``2``, ``3``, ... appended.  Its members continue the parts of
  the use that named it.  A name never ends in ``List`` (arrays' names do):
  ``Value`` is appended;
- a type no command or event uses is left out (QEMU lists the types of the
  parts its build leaves out, unless they have a condition of their own).

Names so derived depend on the shape of the reply, not on its order or its
masked numbers (but for ties between equal names, broken in the reply's
order): the same binary always gives the same names, and a binary of a
later release keeps the names of the types whose nearest uses did not change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from .errors import QAPIError
from .parser import Expression, ParsedSchema, Value
from .schema import BUILTIN_TYPES, Schema, build_schema
from .source import SourceInfo, new_pragmas, new_source_info

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Entry = dict[str, Any]

_META_TYPES = ("builtin", "enum", "array", "object", "alternate", "command", "event")
_BUILTINS = {name for name, _ in BUILTIN_TYPES}
# Names the model defines itself (and their arrays').
_RESERVED = _BUILTINS | {"q_empty", "QType"}


def read_reply(text: str, source: str) -> list[Entry]:
    """The SchemaInfo list of a saved ``query-qmp-schema`` reply: the list
    itself, or the whole QMP reply (``{"return": [...]}``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise QAPIError(f"{source}:{err.lineno}: not JSON: {err.msg}") from None
    if isinstance(value, dict) and "return" in value:
        value = value["return"]
    if not isinstance(value, list):
        raise QAPIError(
            f"{source}: not a query-qmp-schema reply (a JSON array of SchemaInfo objects, "
            "or the QMP reply holding one)"
        )
    return value


def load_introspection(reply: list[Entry], source: str) -> Schema:
    """The checked model of the schema that ``reply`` (a SchemaInfo list) describes.

    ``source`` names the reply in diagnostics (a file, or the binary); the
    model's one module is named after it, and a diagnostic's line is the
    number of the SchemaInfo in the reply, from 1.
    """
    converter = _Converter(reply, source)
    converter.parsed.exprs = converter.run()
    return build_schema(source, converter.parsed)


def camel(name: str) -> str:
    """``query-cpu-model-expansion`` → ``QueryCpuModelExpansion``,
    ``BLOCK_JOB_READY`` → ``BlockJobReady``, ``tls-creds`` → ``TlsCreds``."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    return "".join(
        (p.lower() if p.isupper() else p)[:1].upper() + (p.lower() if p.isupper() else p)[1:]
        for p in parts
    )


def _element(ref: str) -> str:
    """The type an array reference ``[T]`` is of (arrays are not named)."""
    while ref.startswith("[") and ref.endswith("]"):
        ref = ref[1:-1]
    return ref


class _Converter:
    def __init__(self, reply: list[Entry], source: str) -> None:
        self.reply = reply
        self.source = source
        # What a parser would have made: the expressions, their locations,
        # and pragmas (which the builder seals).
        self.parsed = ParsedSchema(new_pragmas())
        self.returns_anything: list[str] = []
        self.types: dict[str, Entry] = {}
        self.order: dict[str, int] = {}
        # masked name → the name the model gives it
        self.names: dict[str, str] = {}
        # object types given in place: masked name → the command or event
        self.in_place: dict[str, Entry] = {}
        # empty object types that stand for "no arguments" or "empty branch"
        self.empty: set[str] = set()

    def fail(self, index: int, msg: str) -> QAPIError:
        entry = self.reply[index] if index < len(self.reply) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        what = f" ({name})" if isinstance(name, str) else ""
        return QAPIError(f"{self.source}: SchemaInfo {index + 1}{what}: {msg}")

    # -- reading --------------------------------------------------------

    def run(self) -> list[Expression]:
        self.index()
        self.classify()
        self.name_types()
        exprs: list[Expression] = []
        for i, entry in enumerate(self.reply):
            meta = entry["meta-type"]
            name = entry["name"]
            # Types no command or event uses are left out: QEMU lists the
            # types of parts its build leaves out, where the type itself has
            # no condition.
            if name in self.names and meta not in ("command", "event"):
                exprs.append(self.type_expr(i, entry))
        for i, entry in enumerate(self.reply):
            if entry["meta-type"] in ("command", "event"):
                exprs.append(self.definition_expr(i, entry))
        return exprs

    def index(self) -> None:
        for i, entry in enumerate(self.reply):
            if not isinstance(entry, dict):
                raise self.fail(i, "a SchemaInfo must be an object")
            name = entry.get("name")
            meta = entry.get("meta-type")
            if not isinstance(name, str) or not name:
                raise self.fail(i, "'name' must be a string")
            if meta not in _META_TYPES:
                raise self.fail(i, f"'meta-type' must be one of {', '.join(_META_TYPES)}")
            self.order[name] = i
            if meta not in ("command", "event"):
                if name in self.types:
                    raise self.fail(i, f"type '{name}' is described twice")
                self.types[name] = entry
        for i, entry in enumerate(self.reply):
            for ref, _role in self.refs(entry, i):
                if _element(ref) not in self.types and _element(ref) not in _BUILTINS:
                    raise self.fail(i, f"uses type '{ref}', which the reply does not describe")

    def refs(self, entry: Entry, i: int) -> Iterator[tuple[str, tuple[str, str]]]:
        """(type reference, role) of each use of a type by ``entry``."""
        meta = entry["meta-type"]
        if meta in ("command", "event"):
            yield self.string(entry, "arg-type", i), ("arg", "")
            if meta == "command":
                yield self.string(entry, "ret-type", i), ("ret", "")
        elif meta == "object":
            for m in self.objects(entry, "members", i):
                yield self.string(m, "type", i), ("member", self.string(m, "name", i))
            for v in entry.get("variants", ()):
                yield self.string(v, "type", i), ("branch", self.string(v, "case", i))
        elif meta == "alternate":
            for m in self.objects(entry, "members", i):
                ref = self.string(m, "type", i)
                yield ref, ("alternative", "")
        elif meta == "array":
            yield self.string(entry, "element-type", i), ("element", "")

    def string(self, obj: object, key: str, i: int) -> str:
        value = obj.get(key) if isinstance(obj, dict) else None
        if not isinstance(value, str):
            raise self.fail(i, f"'{key}' must be a string")
        return value

    def objects(self, obj: Entry, key: str, i: int) -> list[Entry]:
        value = obj.get(key)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(i, f"'{key}' must be an array of objects")
        return value

    # -- what becomes what ------------------------------------------------

    def is_empty_object(self, name: str) -> bool:
        entry = self.types.get(name)
        return (
            entry is not None
            and entry["meta-type"] == "object"
            and not entry["members"]
            and "variants" not in entry
        )

    def classify(self) -> None:
        """Find the object types given in place, and the empty ones that
        mean "nothing" (no arguments, an empty branch)."""
        uses: dict[str, list[tuple[Entry, str]]] = {}
        for i, entry in enumerate(self.reply):
            for ref, (role, _) in self.refs(entry, i):
                uses.setdefault(ref, []).append((entry, role))
        for name, users in uses.items():
            if self.is_empty_object(name):
                # Empty: "nothing" where the schema language can say nothing.
                if all(role in ("arg", "ret", "branch") for _, role in users):
                    self.empty.add(name)
            elif (
                len(users) == 1
                and users[0][1] == "arg"
                and self.types[name]["meta-type"] == "object"
                and "variants" not in self.types[name]
            ):
                self.in_place[name] = users[0][0]

    def name_types(self) -> None:
        """Give each type its name (see the module's documentation)."""
        # Each name is a run of parts (QueryBlock, Result; BlockdevAdd, Qcow2,
        # OverlapCheck); a type's members' parts continue its own ("Arguments",
        # "Result" and "Data" aside).  Users are taken a level at a time, by
        # their distance from a command or event.
        base: dict[str, tuple[str, ...]] = {}
        frontier: list[tuple[Entry, int]] = [
            (e, i) for i, e in enumerate(self.reply) if e["meta-type"] in ("command", "event")
        ]
        for entry, _ in frontier:
            base["\0" + entry["name"]] = (camel(entry["name"]),)
        taken = set(_RESERVED) | {name + "List" for name in _RESERVED}
        seen: set[str] = set()
        while frontier:
            uses: dict[str, set[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
            for entry, i in frontier:
                definition = entry["meta-type"] in ("command", "event")
                owner = base.get(("\0" if definition else "") + entry["name"], ())
                for ref, role in self.refs(entry, i):
                    target = _element(ref)
                    if target in _BUILTINS or target in seen:
                        continue
                    uses.setdefault(target, set()).add(self.parts(entry, owner, role, target))
            ranked = {target: _candidates(found) for target, found in uses.items()}
            level = sorted(ranked, key=lambda t: ([name for name, _ in ranked[t]], t))
            for target in level:
                seen.add(target)
                if target in self.empty:
                    continue
                if target in self.in_place:
                    # No name of its own: its members' types are named after
                    # the command or event.
                    base[target] = (camel(self.in_place[target]["name"]),)
                    continue
                self.names[target], base[target] = self.claim(ranked[target], taken)
            frontier = [(self.types[t], self.order[t]) for t in level]

    def parts(
        self, user: Entry, owner: tuple[str, ...], role: tuple[str, str], target: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The parts of a name for ``target`` from one use, and the parts its own
        members' types continue."""
        kind, name = role
        if kind in ("arg", "ret"):
            suffix = "Result" if kind == "ret" else "Arguments"
            if user["meta-type"] == "event":
                suffix = "Data"
            return (*owner, suffix), owner
        if kind in ("member", "branch"):
            parts = (*owner, camel(name))
        else:  # an alternative
            entry = self.types[target]
            suffix = {"object": "Object", "enum": "Enum"}.get(entry["meta-type"], "Element")
            parts = (*owner, suffix)
        return parts, parts

    @staticmethod
    def claim(
        candidates: list[tuple[str, tuple[str, ...]]], taken: set[str]
    ) -> tuple[str, tuple[str, ...]]:
        """The first candidate name not taken (else the first numbered), and its base."""
        free = [(name, parts) for name, parts in candidates if name not in taken]
        if free:
            name, parts = free[0]
        else:
            first, parts = candidates[0]
            n = 2
            while f"{first}{n}" in taken:
                n += 1
            name = f"{first}{n}"
        taken.add(name)
        taken.add(name + "List")
        return name, parts

    # -- expressions ------------------------------------------------------

    def info(self, i: int, meta: str, name: str) -> SourceInfo:
        info = new_source_info(self.source, i + 1, None, self.parsed.pragmas)
        self.parsed.infos.append(info)
        info.set_defn(meta, name)
        return info

    def ref(self, ref: str) -> Value:
        """A type reference as the schema language writes it."""
        if ref.startswith("[") and ref.endswith("]"):
            inner = self.ref(ref[1:-1])
            assert isinstance(inner, str)
            return [inner]
        if ref in _BUILTINS:
            return ref
        return self.names[ref]

    def members(self, entry: Entry, i: int) -> dict[str, Value]:
        members: dict[str, Value] = {}
        for m in self.objects(entry, "members", i):
            name = self.string(m, "name", i)
            member: dict[str, Value] = {"type": self.ref(self.string(m, "type", i))}
            features = _features(m)
            if features:
                member["features"] = features
            members[("*" if "default" in m else "") + name] = member
        return members

    def type_expr(self, i: int, entry: Entry) -> Expression:
        meta = entry["meta-type"]
        name = self.names[entry["name"]]
        expr: dict[str, Value]
        if meta == "enum":
            values: list[Value] = []
            if "members" in entry:
                for m in self.objects(entry, "members", i):
                    value: dict[str, Value] = {"name": self.string(m, "name", i)}
                    features = _features(m)
                    if features:
                        value["features"] = features
                    values.append(value)
            else:  # before QEMU 6.0: names only
                values = [{"name": v} for v in entry.get("values", ()) if isinstance(v, str)]
            expr = {"enum": name, "data": values}
        elif meta == "alternate":
            branches: dict[str, Value] = {}
            for m in self.objects(entry, "members", i):
                ref = self.string(m, "type", i)
                branch = ref if ref in _BUILTINS else self.types[ref]["meta-type"]
                branches[branch] = {"type": self.ref(ref)}
            expr = {"alternate": name, "data": branches}
        elif "variants" in entry:
            variants: dict[str, Value] = {}
            for v in self.objects(entry, "variants", i):
                ref = self.string(v, "type", i)
                if ref not in self.empty:
                    variants[self.string(v, "case", i)] = {"type": self.ref(ref)}
            expr = {
                "union": name,
                "base": self.members(entry, i),
                "discriminator": self.string(entry, "tag", i),
                "data": variants,
            }
        else:
            expr = {"struct": name, "data": self.members(entry, i)}
        features = _features(entry)
        if features:
            expr["features"] = features
        return Expression(expr, self.info(i, "struct" if meta == "object" else meta, name))

    def definition_expr(self, i: int, entry: Entry) -> Expression:
        meta = entry["meta-type"]
        name = entry["name"]
        expr: dict[str, Value] = {meta: name}
        arg = self.string(entry, "arg-type", i)
        if arg in self.in_place:
            expr["data"] = self.members(self.types[arg], i)
        elif arg not in self.empty:
            expr["data"] = self.ref(arg)
            target = self.types.get(arg)
            if target is not None and "variants" in target:
                expr["boxed"] = True
        if meta == "command":
            ret = self.string(entry, "ret-type", i)
            if ret not in self.empty:
                expr["returns"] = self.ref(ret)
                # Commands may return what they like (QEMU lists its
                # exceptions to "an object" in a pragma).
                self.returns_anything.append(name)
                self.parsed.pragmas.command_returns_exceptions = tuple(self.returns_anything)
            if entry.get("allow-oob") is True:
                expr["allow-oob"] = True
        features = _features(entry)
        if features:
            expr["features"] = features
        return Expression(expr, self.info(i, meta, name))


def _features(obj: Entry) -> list[Value]:
    features = obj.get("features")
    if not isinstance(features, list):
        return []
    return [{"name": f} for f in features if isinstance(f, str)]


def _candidates(
    uses: set[tuple[tuple[str, ...], tuple[str, ...]]],
) -> list[tuple[str, tuple[str, ...]]]:
    """The names a type's uses give it, best first, each with its base: the
    last two parts of a use's name, then three, ..., then all; of as many
    parts, the shortest, then the first in alphabetical order."""
    ranked: dict[str, tuple[int, tuple[str, ...]]] = {}
    for parts, base in uses:
        for k in range(min(2, len(parts)), len(parts) + 1):
            name = "".join(parts[-k:])
            if name.endswith("List"):
                name += "Value"
            if name not in ranked or k < ranked[name][0]:
                ranked[name] = (k, base)
    order = sorted(ranked, key=lambda n: (ranked[n][0], len(n), n))
    return [(name, ranked[name][1]) for name in order]
