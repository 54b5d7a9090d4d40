"""A QMP schema as ``query-qmp-schema`` describes it, indexed for a server.

A :class:`SchemaInfo` holds the ``SchemaInfo`` entries of one reply (a
recorded QEMU binary's, or a generated package's ``introspection.json``): its
commands and types by name, what the connection must know of a command
(``allow-oob``), and, with :meth:`SchemaInfo.extended`, the same schema with
commands of another one added (the simulator's own commands served beside a
QEMU's).  Type names are what the reply calls them: masked (``"123"``) in
QEMU's, so an added command's types are renumbered past the schema's own.
What masking hides — the real names of types, the widths of integers — a
profile may give (its ``schema-facts``, :mod:`qapigen.backends.schema_facts`):
:attr:`SchemaInfo.names` and :attr:`SchemaInfo.integers`.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    Entry = dict[str, Any]

__all__ = ["HAND_MARSHALLED", "INTEGER_TYPES", "CommandSpec", "SchemaInfo"]

#: Commands QEMU marshals by hand ('gen': false, which introspection does not
#: show): the members introspection lists that its code checks (``device_add``
#: takes its device's properties besides).  QEMU registers them after the others.
HAND_MARSHALLED = {"device_add": ("driver",)}


#: The integer types schema facts may name (``int`` and ``int64`` are introspection's ``int``).
INTEGER_TYPES = ("int8", "int16", "int32", "uint8", "uint16", "uint32", "uint64", "size")


def _names(value: object) -> dict[str, str]:
    """Schema facts' ``names``; ValueError if it is not an object of strings."""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("'names' is not an object of type names")
    return dict(value)


def _integers(value: object) -> dict[str, dict[str, str]]:
    """Schema facts' ``integers``; ValueError if it names what is not an integer type."""
    if not isinstance(value, dict):
        raise ValueError("'integers' is not an object")
    for type_name, members in value.items():
        if not isinstance(members, dict) or not all(v in INTEGER_TYPES for v in members.values()):
            raise ValueError(f"'integers' of {type_name!r}: not an object of integer types")
    return dict(value)


class CommandSpec:
    """What the QMP connection asks of a command: whether it may run out of band."""

    __slots__ = ("allow_oob", "name")

    def __init__(self, name: str, allow_oob: bool) -> None:
        self.name = name
        self.allow_oob = allow_oob


class SchemaInfo:
    """The entries of a ``query-qmp-schema`` reply, indexed."""

    def __init__(
        self,
        entries: list[Entry],
        extensions: Iterable[str] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        #: The reply, in its order.
        self.entries = entries
        #: The commands added by :meth:`extended`.
        self.extensions = tuple(extensions)
        #: The schema facts this was made with (None: introspection alone).
        self.facts = facts
        #: Real names of masked types (objects, alternates), where known.
        self.names: dict[str, str] = _names(facts.get("names")) if facts else {}
        #: Integer types other than ``int``/``int64``: masked type name -> member
        #: (an alternate's branch: ``int``, ``[int]``) -> type name.  None when
        #: unknown: then every integer of -2**63 to 2**64-1 is taken.
        self.integers: dict[str, dict[str, str]] | None = (
            _integers(facts.get("integers")) if facts else None
        )
        #: Commands by name, in the reply's order.
        self.commands: dict[str, Entry] = {}
        #: Types (builtins, enums, arrays, objects, alternates) by name.
        self.types: dict[str, Entry] = {}
        for entry in entries:
            meta = entry.get("meta-type")
            if meta == "command":
                self.commands[entry["name"]] = entry
            elif meta != "event":
                self.types[entry["name"]] = entry
        self._specs: dict[str, CommandSpec] = {}
        #: What :mod:`.arguments` made of this schema to check arguments (made once).
        self.checker: object = None

    def command(self, name: str) -> CommandSpec | None:
        """The command ``name`` as the connection sees it, or None if the schema lacks it."""
        spec = self._specs.get(name)
        if spec is None:
            entry = self.commands.get(name)
            if entry is None:
                return None
            spec = self._specs[name] = CommandSpec(name, bool(entry.get("allow-oob", False)))
        return spec

    def extended(self, other: SchemaInfo, names: Iterable[str], feature: str) -> SchemaInfo:
        """This schema with ``other``'s commands ``names`` added (each with
        ``feature`` among its features), and the types they use.

        The added types are renumbered after this schema's highest number;
        builtins this schema has already are shared.
        """
        names = tuple(names)
        number = max((int(n) for n in self.types if n.isdigit()), default=-1)
        renamed: dict[str, str] = {}
        added: list[Entry] = []

        def adopt(name: str) -> str:
            nonlocal number
            if name in renamed:
                return renamed[name]
            entry = other.types[name]
            if entry["meta-type"] == "builtin" and name in self.types:
                renamed[name] = name
                return name
            if entry["meta-type"] == "builtin":
                new = name
            else:
                number += 1
                new = str(number)
            renamed[name] = new
            copy = dict(entry, name=new)
            added.append(copy)
            if "element-type" in entry:
                copy["element-type"] = adopt(entry["element-type"])
            if "members" in entry and entry["meta-type"] in ("object", "alternate"):
                copy["members"] = [dict(m, type=adopt(m["type"])) for m in entry["members"]]
            if "variants" in entry:
                copy["variants"] = [dict(v, type=adopt(v["type"])) for v in entry["variants"]]
            return new

        commands: list[Entry] = []
        for name in names:
            entry = dict(other.commands[name])
            entry["arg-type"] = adopt(entry["arg-type"])
            entry["ret-type"] = adopt(entry["ret-type"])
            features = list(entry.get("features", ()))
            if feature not in features:
                features.append(feature)
            entry["features"] = features
            commands.append(entry)
        return SchemaInfo(
            [*self.entries, *commands, *added], (*self.extensions, *names), self.facts
        )

    def query_commands(self) -> list[dict[str, str]]:
        """``query-commands``' reply: the commands, last registered first (QEMU
        registers them in the schema's order, those it marshals by hand last;
        the added ones come after)."""
        added = set(self.extensions)
        names = [n for n in self.commands if n not in HAND_MARSHALLED and n not in added]
        names += [n for n in HAND_MARSHALLED if n in self.commands]
        names += self.extensions
        return [{"name": n} for n in reversed(names)]
