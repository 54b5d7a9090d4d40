"""JSON Schema (draft 2020-12) for the QMP messages a schema defines.

:func:`export_bundle` turns a checked schema into one JSON Schema document,
which ``qapigen jsonschema SCHEMA -o DIR`` writes to ``DIR/qapi.schema.json``.

Layout
------
The document's root schema accepts one message of a QMP stream: a command
(``{"execute"|"exec-oob": NAME, "arguments"?: ..., "id"?: ...}``), a success
reply (``{"return": ..., "id"?: ...}``), an error reply (``{"error":
{"class", "desc"}, "id"?: ...}``), an event (``{"event": NAME, "data"?: ...,
"timestamp": {"seconds", "microseconds"}}``) or the greeting (``{"QMP":
{"version", "capabilities"}}``).  Everything else is in its ``$defs``, under
readable keys that cannot collide (QAPI names never contain ``:``):

``NAME``
    every type whose condition holds, by its QAPI name, built-ins included
    (``int8``, ``size``, ``str``, ``any`` ...).  ``[T]`` is written in place,
    as an array of ``#/$defs/T``.
``COMMAND:arguments``, ``COMMAND:returns``
    a command's arguments object and its return value (``{}`` when it
    declares none; absent for commands that send no reply).
``EVENT:data``
    an event's ``data`` (absent for events without data).
``message:command``, ``message:return``, ``message:error``, ``message:event``, ``message:greeting``
    the kinds of message the root accepts.

A success reply cannot name its command, so the root accepts any return
value; check it against ``COMMAND:returns`` once replies are matched to
commands.  :func:`standalone` wraps one ``$defs`` entry as a schema of its
own.

Mapping
-------
Integer types carry their ranges (``int``/``int64``, ``int8`` ... ``uint64``,
``size`` = ``uint64``), as QEMU's input takes them: ``uint64`` and ``size``
go from -2^63 to 2^64-1, since QEMU takes negative numbers for them and
wraps them modulo 2^64; ``number`` is a JSON number (integers included, as
QEMU accepts them); ``any`` accepts everything.  Enums are ``enum``s; structs
are objects with ``properties``, ``required`` and ``additionalProperties:
false``; a union adds one ``if``/``then`` per branch, keyed on the tag value
(branches without members need none), and ``unevaluatedProperties: false``
in place of ``additionalProperties``; alternates are ``oneOf`` their
branches, which QEMU tells apart by JSON type alone.  Doc comments become
``description``; deprecated commands, events, members and enum values
carry ``"deprecated": true``.  Conditions are resolved against the
``--define`` symbols: what is conditional on anything else is left out.

Where JSON Schema cannot say what QEMU does: a number written with a
fraction or exponent whose value is integral (``1.0``, ``1e3``) passes as an
integer, where QEMU rejects it (its parser makes it a double, and its input
wants an integer), for members, array elements and alternate branches of
integer types alike; the arguments of commands with ``'gen': false`` are left
open, since QEMU passes them on unchecked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from ..frontend.conditions import Defines
from ..frontend.errors import QAPIError
from ..frontend.model import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    Definition,
    EnumType,
    Event,
    ObjectMember,
    ObjectType,
    Schema,
    Type,
)
from ..frontend.wire_types import INTEGER_RANGES, accepted_range

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# The file ``qapigen jsonschema`` writes.
BUNDLE_FILE = "qapi.schema.json"

JSON = dict[str, Any]

# What each JSON type of a built-in says of itself (an integer type's range is its own).
_DESCRIPTIONS = {
    "number": "A JSON number (integers too).",
    "string": "A JSON string.",
    "boolean": "true or false.",
    "null": "JSON null.",
    "value": "Any JSON value.",
}

MESSAGE_KINDS = ("command", "return", "error", "event", "greeting")


def ref(name: str) -> str:
    """The ``$ref`` of the ``$defs`` entry ``name``.

    QAPI names and the keys this module adds contain neither ``~`` nor
    ``/``, and nothing a URI fragment would need escaped.
    """
    return "#/$defs/" + name


def arguments_def(command: str) -> str:
    """The ``$defs`` key of a command's arguments."""
    return f"{command}:arguments"


def returns_def(command: str) -> str:
    """The ``$defs`` key of a command's return value."""
    return f"{command}:returns"


def data_def(event: str) -> str:
    """The ``$defs`` key of an event's data."""
    return f"{event}:data"


def message_def(kind: str) -> str:
    """The ``$defs`` key of a kind of QMP message (see :data:`MESSAGE_KINDS`)."""
    return f"message:{kind}"


def _text(doc_text: str | None) -> str | None:
    text = (doc_text or "").strip()
    return text or None


class _Exporter:
    def __init__(self, schema: Schema, defined: Iterable[str]) -> None:
        self.schema = schema
        self.defines = Defines(defined)
        self.defs: JSON = {}
        # Types referenced by a $ref but not yet written.
        self.pending: list[Type] = []
        self.queued: set[str] = set()

    # -- documentation ---------------------------------------------------

    def member_doc(self, member: ObjectMember) -> str | None:
        """The description of a member, from the block that documents it."""
        owner = self.schema.lookup(member.defined_in)
        doc = owner.doc if owner is not None else None
        if doc is None and isinstance(owner, ObjectType) and owner.origin is not None:
            # An implicit type's members are documented with the command,
            # event or union it was made for.
            outer = self.schema.lookup(owner.origin.owner)
            doc = outer.doc if outer is not None else None
        if doc is None:
            return None
        section = doc.args.get(member.name)
        return _text(section.text) if section is not None else None

    @staticmethod
    def annotate(target: JSON, description: str | None, deprecated: bool) -> JSON:
        if description:
            target["description"] = description
        if deprecated:
            target["deprecated"] = True
        return target

    # -- references ------------------------------------------------------

    def type_ref(self, typ: Type) -> JSON:
        if isinstance(typ, ArrayType):
            return {"type": "array", "items": self.type_ref(typ.element_type)}
        if typ.name not in self.queued:
            self.queued.add(typ.name)
            self.pending.append(typ)
        return {"$ref": ref(typ.name)}

    # -- types -----------------------------------------------------------

    def type_schema(self, typ: Type) -> JSON:
        if isinstance(typ, BuiltinType):
            return self.builtin(typ)
        if isinstance(typ, EnumType):
            return self.enum(typ)
        if isinstance(typ, ObjectType):
            result = self.object(typ)
        elif isinstance(typ, AlternateType):
            result = self.alternate(typ)
        else:
            raise AssertionError(f"no JSON Schema for {typ.describe()}")
        return self.annotate(result, self.type_doc(typ), False)

    @staticmethod
    def type_doc(defn: Definition) -> str | None:
        return _text(defn.doc.body.text) if defn.doc is not None else None

    @staticmethod
    def builtin(typ: BuiltinType) -> JSON:
        json_type = typ.json_type()
        if json_type == "int":
            least = INTEGER_RANGES[typ.name][0]
            lo, hi = accepted_range(typ.name)
            description = f"An integer from {lo} to {hi}."
            if lo < least:
                description = (
                    f"An integer from {least} to {hi}; QEMU also takes {lo} to {least - 1}, "
                    "which it wraps modulo 2^64."
                )
            return {
                "type": "integer",
                "minimum": lo,
                "maximum": hi,
                "description": description,
            }
        if json_type == "value":
            return {"description": _DESCRIPTIONS[json_type]}
        return {"type": json_type, "description": _DESCRIPTIONS[json_type]}

    def enum(self, typ: EnumType) -> JSON:
        values = self.defines.kept(typ.members)
        result: JSON = {"type": "string", "enum": [m.name for m in values]}
        self.annotate(result, self.type_doc(typ), False)
        doc = typ.doc
        if any(m.is_deprecated() for m in values):
            # 'enum' keeps the error messages plain; this says which values
            # are deprecated, in the only way JSON Schema can per value.
            choices = []
            for m in values:
                section = doc.args.get(m.name) if doc is not None else None
                choice: JSON = {"const": m.name}
                self.annotate(choice, _text(section.text) if section else None, m.is_deprecated())
                choices.append(choice)
            result["anyOf"] = choices
        return result

    def members(self, typ: ObjectType) -> JSON:
        """``properties``, ``required`` and the branches of an object type."""
        properties: JSON = {}
        required: list[str] = []
        for m in typ.members:
            if not self.defines.holds(m.ifcond):
                continue
            prop = self.type_ref(m.type)
            properties[m.name] = self.annotate(prop, self.member_doc(m), m.is_deprecated())
            if not m.optional:
                required.append(m.name)
        result: JSON = {"properties": properties}
        if required:
            result["required"] = required
        if typ.branches is not None:
            tag = typ.branches.tag_member.name
            branches = []
            for v in typ.branches.variants:
                assert isinstance(v.type, ObjectType)
                if not self.defines.holds(v.ifcond) or v.type.is_empty():
                    # An empty branch adds nothing to the common members.
                    continue
                branches.append(
                    {
                        "if": {"properties": {tag: {"const": v.name}}, "required": [tag]},
                        "then": self.members(v.type),
                    }
                )
            if branches:
                result["allOf"] = branches
        return result

    def object(self, typ: ObjectType, *, closed: bool = True) -> JSON:
        result: JSON = {"type": "object"}
        result.update(self.members(typ))
        if closed:
            # Branch members are declared inside if/then, which
            # additionalProperties cannot see; unevaluatedProperties can.
            key = "unevaluatedProperties" if typ.branches else "additionalProperties"
            result[key] = False
        return result

    def object_or_ref(self, typ: ObjectType) -> JSON:
        """The members in place for an implicit type, else a reference."""
        return self.object(typ) if typ.is_implicit() else self.type_ref(typ)

    def alternate(self, typ: AlternateType) -> JSON:
        choices = []
        for v in typ.alternatives.variants:
            if not self.defines.holds(v.ifcond):
                continue
            choice = self.type_ref(v.type)
            doc = typ.doc.args.get(v.name) if typ.doc is not None else None
            self.annotate(choice, _text(doc.text) if doc else None, False)
            choices.append(choice)
        # QEMU picks the branch by JSON type, and no two branches share
        # one, so at most one choice can match.
        return {"oneOf": choices}

    # -- commands and events ---------------------------------------------

    def command(self, cmd: Command) -> None:
        deprecated = cmd.is_deprecated()
        doc = self.type_doc(cmd)
        if cmd.arg_type is not None and not cmd.gen:
            args = self.object(cmd.arg_type, closed=False)
        elif cmd.arg_type is not None:
            args = self.object_or_ref(cmd.arg_type)
        else:
            args = {"type": "object", "additionalProperties": False}
        self.defs[arguments_def(cmd.name)] = self.annotate(args, doc, deprecated)
        if not cmd.success_response:
            return
        if cmd.ret_type is not None:
            rets = self.type_ref(cmd.ret_type)
        else:
            rets = {"type": "object", "additionalProperties": False}
        returns_doc = cmd.doc.returns if cmd.doc is not None else None
        description = _text(returns_doc.text) if returns_doc else None
        self.defs[returns_def(cmd.name)] = self.annotate(
            rets, description or f"What {cmd.name} returns.", deprecated
        )

    def event(self, event: Event) -> None:
        if event.arg_type is None:
            return
        data = self.object_or_ref(event.arg_type)
        self.defs[data_def(event.name)] = self.annotate(
            data, self.type_doc(event), event.is_deprecated()
        )

    # -- messages --------------------------------------------------------

    def messages(self, commands: list[Command], events: list[Event]) -> None:
        names = [c.name for c in commands]
        oob = [c.name for c in commands if c.allow_oob]
        per_command = []
        for c in commands:
            keys = ["execute", "exec-oob"] if c.allow_oob else ["execute"]
            when = [{"properties": {k: {"const": c.name}}, "required": [k]} for k in keys]
            then: JSON = {"properties": {"arguments": {"$ref": ref(arguments_def(c.name))}}}
            if c.arg_type is not None and any(
                not m.optional and self.defines.holds(m.ifcond) for m in c.arg_type.members
            ):
                # QEMU reads absent arguments as {}, which lacks them.
                then["required"] = ["arguments"]
            per_command.append({"if": {"anyOf": when} if len(when) > 1 else when[0], "then": then})
        self.defs[message_def("command")] = {
            "description": "A command: 'execute' (or 'exec-oob', for commands that allow "
            "out-of-band execution) names it; 'id', any JSON value, comes back in the reply.",
            "type": "object",
            "properties": {
                "execute": {"enum": names},
                "exec-oob": {"enum": oob},
                "arguments": {"type": "object"},
                "id": {},
            },
            "oneOf": [{"required": ["execute"]}, {"required": ["exec-oob"]}],
            "additionalProperties": False,
            "allOf": per_command,
        }
        self.defs[message_def("return")] = {
            "description": "A success reply. Which command it answers is known only by "
            "'id' or by order, so the value is checked against COMMAND:returns separately.",
            "type": "object",
            "properties": {"return": {}, "id": {}},
            "required": ["return"],
            "additionalProperties": False,
        }
        error_class = self.schema.lookup_type("QapiErrorClass")
        self.defs[message_def("error")] = {
            "description": "An error reply.",
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "class": self.type_ref(error_class)
                        if isinstance(error_class, EnumType)
                        else {"type": "string"},
                        "desc": {"type": "string"},
                    },
                    "required": ["class", "desc"],
                    "additionalProperties": False,
                },
                "id": {},
            },
            "required": ["error"],
            "additionalProperties": False,
        }
        per_event = []
        for e in events:
            named: JSON = {"properties": {"event": {"const": e.name}}, "required": ["event"]}
            if e.arg_type is None:
                # QEMU leaves 'data' out of events that have none.
                per_event.append({"if": named, "then": {"not": {"required": ["data"]}}})
            else:
                per_event.append(
                    {
                        "if": named,
                        "then": {
                            "properties": {"data": {"$ref": ref(data_def(e.name))}},
                            "required": ["data"],
                        },
                    }
                )
        self.defs[message_def("event")] = {
            "description": "An event, with the time it was emitted.",
            "type": "object",
            "properties": {
                "event": {"enum": [e.name for e in events]},
                "data": {"type": "object"},
                "timestamp": {
                    "type": "object",
                    "properties": {
                        "seconds": {"type": "integer"},
                        "microseconds": {"type": "integer", "minimum": 0, "maximum": 999999},
                    },
                    "required": ["seconds", "microseconds"],
                    "additionalProperties": False,
                },
            },
            "required": ["event", "timestamp"],
            "additionalProperties": False,
            "allOf": per_event,
        }
        version = self.schema.lookup_type("VersionInfo")
        capability = self.schema.lookup_type("QMPCapability")
        self.defs[message_def("greeting")] = {
            "description": "The greeting a server sends when a client connects.",
            "type": "object",
            "properties": {
                "QMP": {
                    "type": "object",
                    "properties": {
                        "version": self.type_ref(version)
                        if isinstance(version, ObjectType)
                        else {"type": "object"},
                        "capabilities": {
                            "type": "array",
                            "items": self.type_ref(capability)
                            if isinstance(capability, EnumType)
                            else {"type": "string"},
                        },
                    },
                    "required": ["version", "capabilities"],
                    "additionalProperties": False,
                }
            },
            "required": ["QMP"],
            "additionalProperties": False,
        }

    # -- the whole -------------------------------------------------------

    def run(self) -> JSON:
        types: list[Type] = []
        commands: list[Command] = []
        events: list[Event] = []
        for defn in self.schema.definitions():
            if not self.defines.holds(defn.ifcond):
                continue
            if isinstance(defn, Command):
                commands.append(defn)
            elif isinstance(defn, Event):
                events.append(defn)
            elif isinstance(defn, BuiltinType) or (
                isinstance(defn, Type) and not defn.is_implicit()
            ):
                types.append(defn)
        for typ in types:
            self.type_ref(typ)
        # Write the named types first, then commands, events and
        # messages; types only they reference follow.
        type_defs: JSON = {}
        self.flush(type_defs)
        for c in commands:
            self.command(c)
        for e in events:
            self.event(e)
        self.messages(commands, events)
        self.flush(type_defs)
        bundle: JSON = {
            "$schema": DRAFT,
            "title": "QMP message",
            "description": f"One message of a QMP stream, for the QAPI schema "
            f"{os.path.basename(self.schema.fname)}.",
            "oneOf": [{"$ref": ref(message_def(kind))} for kind in MESSAGE_KINDS],
            "$defs": {**type_defs, **self.defs},
        }
        return bundle

    def flush(self, into: JSON) -> None:
        while self.pending:
            typ = self.pending.pop(0)
            into[typ.name] = self.type_schema(typ)


def export_bundle(schema: Schema, defined: Iterable[str] = ()) -> JSON:
    """The JSON Schema document for ``schema`` (see the module docs).

    ``defined`` are the symbols that hold in ``if`` conditions.
    """
    return _Exporter(schema, defined).run()


def standalone(bundle: JSON, name: str) -> JSON:
    """A schema for the ``$defs`` entry ``name`` alone (sharing ``$defs``)."""
    if name not in bundle["$defs"]:
        raise KeyError(name)
    return {"$schema": DRAFT, "$ref": ref(name), "$defs": bundle["$defs"]}


def write_bundle(schema: Schema, outdir: str, defined: Iterable[str] = ()) -> str:
    """Write ``outdir/qapi.schema.json``; returns its path.

    Raises :class:`QAPIError` when the file cannot be written.
    """
    bundle = export_bundle(schema, defined)
    path = os.path.join(outdir, BUNDLE_FILE)
    try:
        os.makedirs(outdir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(bundle, f, indent=1, ensure_ascii=False)
            f.write("\n")
    except OSError as err:
        raise QAPIError(f"can't write '{path}': {err.strerror}") from None
    return path
