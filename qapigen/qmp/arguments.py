"""A command's arguments checked as QEMU's QMP marshaller checks them, from
introspection alone.

QEMU's generated marshaller reads a command's arguments with its QObject
input visitor (``qapi/qobject-input-visitor.c``): the members in schema order
(base first, then the branch a union's tag selects), each as its type says,
stopping at the first fault; then any key left over is unexpected (the one
QEMU names: :func:`..runtime.key_order.first_unexpected`).  :func:`check_arguments`
does the same walk over a :class:`.schema_info.SchemaInfo`, raising the
runtime's :class:`~..runtime.errors.WireError`, whose messages are QEMU's:

- ``Parameter 'a.b' is missing``, ``Parameter 'a.b' is unexpected``;
- ``Invalid parameter type for 'a[0]', expected: string`` (``integer``,
  ``number``, ``boolean``, ``null``, ``object``, ``array``);
- ``Parameter 'b' does not accept value 'v'`` (enums name the member only);
- for an alternate whose branches do not take the value's JSON type,
  ``Invalid parameter type for 'b', expected: NAME``;
- for an integer, as its type says: ``int``/``int64`` take -2**63 to 2**63-1
  (``expected: integer``), ``uint64`` and ``size`` any integer from -2**63 to
  2**64-1 (``Parameter 'a.b' expects uint64``), the narrower types their range
  besides (``Parameter 'b' expects uint8_t``).

Introspection masks what the last two need: every integer type shows as
``int``, and type names are numbers.  A profile's schema facts
(:attr:`.schema_info.SchemaInfo.integers` and ``names``, recovered from
QEMU's schema) give them back.  Without them (see docs/behaviour.md) an
integer is taken if QEMU's JSON parser keeps it as one (from -2**63 to
2**64-1), anything else is ``expected: integer``, and an alternate's NAME is
its masked one.  ``device_add`` takes its device's properties besides the
members introspection lists ('gen': false, which introspection does not show
either): only ``driver`` is checked there.
"""

from __future__ import annotations

import sys

from ..runtime import codec
from ..runtime.errors import WireError
from ..runtime.key_order import first_unexpected
from .schema_info import HAND_MARSHALLED

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .schema_info import Entry, SchemaInfo

__all__ = ["check_arguments"]

# Python frames the walk may need: a few per level of nesting, which QEMU's JSON
# parser bounds at 1024 levels (the walk's frames are Python's own, not C's).
_FRAMES = 8 * 1024

# QEMU's JSON parser keeps integers in this range as integers (int64, then uint64).
_INT_MIN = -(1 << 63)
_INT_END = 1 << 64

# The JSON type each builtin takes, as QEMU's messages name it.
_EXPECTED = {"string": "string", "int": "integer", "number": "number", "boolean": "boolean"}

# A JSON value's QType, as an alternate's branches are chosen by it.
_QTYPE_OF_BUILTIN = {
    "string": "string",
    "int": "number",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}


# An integer type's check, by its name: the codec's decoders raise QEMU's errors.
_INTEGER_CHECKS: dict[str, Any] = {
    name: getattr(codec, "d_" + name) for name in codec.INTEGER_RANGES if name != "int"
}


def check_arguments(schema: SchemaInfo, command: str, arguments: dict[str, Any]) -> None:
    """Check ``arguments`` of ``command`` (a command of ``schema``) as QEMU does;
    :class:`WireError` with QEMU's message at the first fault."""
    entry = schema.commands[command]
    checker = schema.checker
    if type(checker) is not _Checker:
        checker = schema.checker = _Checker(schema)
    hand = HAND_MARSHALLED.get(command)
    limit = sys.getrecursionlimit()
    # Arguments nested as deep as QEMU reads them (a chain of blockdev-add's
    # ``file``) are walked as QEMU walks them, not refused for Python's limit.
    sys.setrecursionlimit(max(limit, _FRAMES))
    try:
        if hand is not None:
            arg_type = schema.types[entry["arg-type"]]
            hand_members = [m for m in arg_type["members"] if m["name"] in hand]
            checker.members(hand_members, arguments, [], None)
            return
        checker.object_members(schema.types[entry["arg-type"]], arguments)
    finally:
        sys.setrecursionlimit(limit)


def _qtype(value: object) -> str:
    """The QType QEMU's parser gives ``value``."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) is int or type(value) is float:
        return "number"
    if type(value) is str:
        return "string"
    if type(value) is list:
        return "array"
    return "object"


class _Checker:
    __slots__ = ("integers", "names", "plain_int", "types")

    def __init__(self, schema: SchemaInfo) -> None:
        self.types = schema.types
        self.names = schema.names
        # Without facts, nothing tells the widths: {} is never consulted.
        self.integers = schema.integers if schema.integers is not None else {}
        # An integer of no known width: ``int64`` if the facts are known, else anything QEMU
        # keeps as an integer.
        self.plain_int = _INTEGER_CHECKS["int64"] if schema.integers is not None else None

    def value(
        self, type_name: str, value: object, name: str | int | None, width: str | None = None
    ) -> None:
        """Visit ``value`` as a ``type_name`` standing under ``name`` (``width``: the
        integer type that ``int`` stands for, for it or its elements)."""
        entry = self.types[type_name]
        meta = entry["meta-type"]
        if meta == "builtin":
            self.builtin(entry["json-type"], value, name, width)
        elif meta == "enum":
            if type(value) is not str:
                raise WireError.wrong_type("string").inside(name)
            if value not in entry["values"]:
                raise WireError(
                    f"Parameter '%s' does not accept value '{value}'", full=False
                ).inside(name)
        elif meta == "array":
            if type(value) is not list:
                raise WireError.wrong_type("array").inside(name)
            element = entry["element-type"]
            try:
                for index, item in enumerate(value):
                    self.value(element, item, index, width)
            except WireError as err:
                raise err.inside(name) from None
        elif meta == "object":
            if type(value) is not dict:
                raise WireError.wrong_type("object").inside(name)
            try:
                self.object_members(entry, value)
            except WireError as err:
                raise err.inside(name) from None
        else:  # alternate
            self.alternate(entry, value, name)

    def builtin(
        self, json_type: str, value: object, name: str | int | None, width: str | None
    ) -> None:
        if json_type == "value":
            return
        if json_type == "int":
            if width is not None:
                _INTEGER_CHECKS[width](value, name, True)
                return
            if self.plain_int is not None:
                self.plain_int(value, name, True)
                return
            ok = type(value) is int and _INT_MIN <= value < _INT_END
        elif json_type == "string":
            ok = type(value) is str
        elif json_type == "number":
            ok = type(value) is int or type(value) is float
        elif json_type == "boolean":
            ok = type(value) is bool
        else:  # null
            ok = value is None
        if not ok:
            raise WireError.wrong_type(_EXPECTED.get(json_type, json_type)).inside(name)

    def alternate(self, entry: Entry, value: object, name: str | int | None) -> None:
        """The branch the value's QType selects, as QEMU's generated code picks it."""
        qtype = _qtype(value)
        for member in entry["members"]:
            branch = self.types[member["type"]]
            meta = branch["meta-type"]
            if meta == "builtin":
                takes = _QTYPE_OF_BUILTIN.get(branch["json-type"])
            elif meta == "enum":
                takes = "string"
            else:
                takes = meta  # object, array
            if takes == qtype:
                widths = self.integers.get(entry["name"])
                width = widths.get(member["type"]) if widths else None
                self.value(member["type"], value, name, width)
                return
        alternate: str = entry["name"]
        raise WireError.no_alternative(self.names.get(alternate) or alternate).inside(name)

    def object_members(self, entry: Entry, obj: dict[str, Any]) -> None:
        """An object's members, its branch's, then what is left over."""
        visited: list[str] = []
        self.variant_members(entry, obj, visited)
        unexpected = first_unexpected(obj, visited)
        if unexpected is not None:
            raise WireError.unexpected(unexpected)

    def variant_members(self, entry: Entry, obj: dict[str, Any], visited: list[str]) -> None:
        self.members(entry["members"], obj, visited, self.integers.get(entry["name"]))
        tag = entry.get("tag")
        if tag is None:
            return
        case = obj[tag]  # a member visited above: present and valid
        for variant in entry["variants"]:
            if variant["case"] == case:
                self.variant_members(self.types[variant["type"]], obj, visited)
                return

    def members(
        self,
        members: list[Entry],
        obj: dict[str, Any],
        visited: list[str],
        widths: dict[str, str] | None,
    ) -> None:
        for member in members:
            name = member["name"]
            if name not in obj:
                if "default" in member:
                    continue  # optional
                raise WireError.missing(name)
            visited.append(name)
            self.value(member["type"], obj[name], name, widths.get(name) if widths else None)
