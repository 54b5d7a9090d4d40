"""``query-qmp-schema``: the schema as QMP introspection shows it.

QEMU's rules (docs/devel/qapi-code-gen.rst, "Client JSON Protocol
introspection"): the commands and events, in definition order, then every
type they use, in order of first use; type names are masked as numbers
(unless unmasked) in order of first mention; integer types show as ``int``;
arrays are ``[T]``; optional members have ``default: null``.  Conditions are
resolved against the defined symbols: an entity, member, value or branch
whose condition is false is left out (the numbering stays that of the whole
schema, as in every build of QEMU).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..frontend.conditions import Defines
from ..frontend.model import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    Definition,
    Entity,
    EnumType,
    Event,
    Feature,
    ObjectType,
    Schema,
    Type,
)
from ..frontend.visitor import SchemaVisitor

JSON = dict[str, Any]


def introspect(schema: Schema, defines: Iterable[str] = (), *, unmask: bool = False) -> list[JSON]:
    """The ``query-qmp-schema`` reply for ``schema`` (a list of SchemaInfo)."""
    return _Introspector(schema, unmask, Defines(defines)).run()


class _Introspector:
    def __init__(self, schema: Schema, unmask: bool, defines: Defines) -> None:
        self.schema = schema
        self.unmask = unmask
        self.defines = defines
        self.names: dict[str, str] = {}
        self.used: list[Type] = []
        self.out: list[JSON] = []

    def name(self, name: str) -> str:
        if self.unmask:
            return name
        return self.names.setdefault(name, str(len(self.names)))

    def use(self, typ: Type) -> str:
        """The name a reference to ``typ`` shows, noting the type as used."""
        if typ.json_type() == "int":
            found = self.schema.lookup_type("int")
            assert found is not None
            typ = found
        elif isinstance(typ, ArrayType) and typ.element_type.json_type() == "int":
            found = self.schema.lookup_type("intList")
            assert found is not None
            typ = found
        if typ not in self.used:
            self.used.append(typ)
        if isinstance(typ, BuiltinType):
            return typ.name
        if isinstance(typ, ArrayType):
            return "[" + self.use(typ.element_type) + "]"
        return self.name(typ.name)

    def features(self, features: Sequence[Feature]) -> list[str]:
        return [f.name for f in self.defines.kept(features)]

    def add(self, defn: Definition, meta: str, info: JSON, shown: str | None = None) -> None:
        name = shown or defn.name
        if meta not in ("command", "event", "builtin", "array"):
            name = self.name(name)
        entry: JSON = {"name": name, "meta-type": meta, **info}
        # As in QEMU, the key is there when the schema gives features, even
        # if the conditions leave none.
        if defn.features:
            entry["features"] = self.features(defn.features)
        if self.defines.holds(defn.ifcond):
            self.out.append(entry)

    def run(self) -> list[JSON]:
        # Commands and events in the order the visitor walks the schema
        # (module by module), as QEMU's generator does.
        self.schema.visit(_CommandsAndEvents(self))
        # Types used by what is shown, and by those types: the list grows as we go.
        i = 0
        while i < len(self.used):
            self.type(self.used[i])
            i += 1
        return self.out

    def type(self, typ: Type) -> None:
        if isinstance(typ, BuiltinType):
            self.add(typ, "builtin", {"json-type": typ.json_type()})
        elif isinstance(typ, EnumType):
            members = self.defines.kept(typ.members)
            entries = []
            for m in members:
                entry: JSON = {"name": m.name}
                if m.features:
                    entry["features"] = self.features(m.features)
                entries.append(entry)
            self.add(typ, "enum", {"members": entries, "values": [m.name for m in members]})
        elif isinstance(typ, ArrayType):
            element = self.use(typ.element_type)
            self.add(typ, "array", {"element-type": element}, f"[{element}]")
        elif isinstance(typ, ObjectType):
            shown = [self.member(m) for m in typ.members]
            info: JSON = {"members": [m for m in shown if m is not None]}
            if typ.branches is not None:
                info["tag"] = typ.branches.tag_member.name
                variants = [(v, self.use(v.type)) for v in typ.branches.variants]
                info["variants"] = [
                    {"case": v.name, "type": shown}
                    for v, shown in variants
                    if self.defines.holds(v.ifcond)
                ]
            self.add(typ, "object", info)
        else:
            assert isinstance(typ, AlternateType)
            alts = [(v, self.use(v.type)) for v in typ.alternatives.variants]
            shown_alts = [{"type": shown} for v, shown in alts if self.defines.holds(v.ifcond)]
            self.add(typ, "alternate", {"members": shown_alts})

    def member(self, m: Any) -> JSON | None:
        entry: JSON = {"name": m.name, "type": self.use(m.type)}
        if m.optional:
            entry["default"] = None
        if m.features:
            entry["features"] = self.features(m.features)
        return entry if self.defines.holds(m.ifcond) else None


class _CommandsAndEvents(SchemaVisitor):
    def __init__(self, introspector: _Introspector) -> None:
        self.i = introspector
        empty = introspector.schema.lookup_type("q_empty")
        assert empty is not None
        self.empty = empty

    def visit_needed(self, entity: Entity) -> bool:
        return isinstance(entity, (Command, Event))

    def visit_command(self, command: Command) -> None:
        info: JSON = {
            "arg-type": self.i.use(command.arg_type or self.empty),
            "ret-type": self.i.use(command.ret_type or self.empty),
        }
        if command.allow_oob:
            info["allow-oob"] = True
        self.i.add(command, "command", info)

    def visit_event(self, event: Event) -> None:
        self.i.add(event, "event", {"arg-type": self.i.use(event.arg_type or self.empty)})
