"""What a binary's ``query-qmp-schema`` masks, recovered from the schema it was built from.

QEMU's introspection numbers its types (``"586"``) and shows every integer
type as ``int``, yet its input visitor names an alternate by its real name
(``expected: BlockdevRef``) and checks each integer member's width
(``expects uint8_t``).  :func:`schema_facts` recovers both from the QAPI
schema source of the binary's QEMU: the build is found
(:func:`.defines.match_build`), introspected masked and unmasked (the two
lists agree entry by entry), and the masked list is held against the
reply.  The facts are names and widths only — no schema text:

* ``names``: each masked type name of an object or alternate, and its real one;
* ``integers``: for a masked object, its members of an integer type (or an
  array of one) other than ``int``/``int64`` and that type's name
  (``uint8``, ``size`` ...); for a masked alternate, keyed by the branch's
  shown type (``int`` or ``[int]``), the same;
* ``defines``: the build's ``--define`` symbols; ``schema-only``: members
  the schema has that the reply lacks (see below).

The mapping is exact when ``introspect(schema, defines)`` equals the reply.
When it is not (a schema from a slightly different release), the two are
compared entry by entry: the same number of entries, each of the same name
and kind, and differing only in object members the schema has and the reply
lacks, in order (members of an integer type, which are never numbered, so
the numbering is unchanged); anything else is a :class:`SchemaFactsError`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..frontend.schema import AlternateType, ArrayType, ObjectType, Schema, Type
from .defines import match_build
from .introspect import introspect

JSON = dict[str, Any]

# Integer types whose input QEMU checks as it checks ``int`` (nothing to record).
_PLAIN = ("int", "int64")


class SchemaFactsError(Exception):
    """The schema does not describe the reply closely enough to map its names."""


@dataclasses.dataclass
class Facts:
    """The section (``section``), and whether the schema's build reproduced the reply exactly."""

    section: JSON
    exact: bool


def schema_facts(schema: Schema, reply: list[JSON]) -> Facts:
    """The facts behind ``reply``'s masked names, from ``schema`` (see the module)."""
    build = match_build(schema, reply)
    masked = introspect(schema, build.defines)
    unmasked = introspect(schema, build.defines, unmask=True)
    exact = masked == reply
    schema_only = {} if exact else _compare(masked, reply)
    names: dict[str, str] = {}
    integers: dict[str, dict[str, str]] = {}
    for shown, real in zip(masked, unmasked, strict=True):
        meta = shown["meta-type"]
        if meta not in ("object", "alternate"):
            continue
        names[shown["name"]] = real["name"]
        typ = schema.lookup_type(real["name"])
        assert typ is not None
        widths = _widths(typ, real)
        if widths:
            integers[shown["name"]] = widths
    section: JSON = {
        "defines": build.defines,
        "names": names,
        "integers": integers,
        "schema-only": schema_only,
    }
    return Facts(section, exact)


def _width(typ: Type) -> str | None:
    """The integer type ``typ`` is, or has as elements, if QEMU checks it otherwise than ``int``."""
    while isinstance(typ, ArrayType):
        typ = typ.element_type
    if typ.json_type() == "int" and typ.name not in _PLAIN:
        return typ.name
    return None


def _widths(typ: Type, entry: JSON) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(typ, ObjectType):
        by_name = {m.name: m for m in typ.members}
        for member in entry["members"]:
            width = _width(by_name[member["name"]].type)
            if width is not None:
                out[member["name"]] = width
    elif isinstance(typ, AlternateType):
        shown = {m["type"] for m in entry["members"]}
        for variant in typ.alternatives.variants:
            width = _width(variant.type)
            if width is None:
                continue
            key = "[int]" if isinstance(variant.type, ArrayType) else "int"
            if key in shown:
                out[key] = width
    return out


def _compare(ours: list[JSON], reply: list[JSON]) -> dict[str, list[str]]:
    """The members each masked object has in ``ours`` and lacks in ``reply``;
    :class:`SchemaFactsError` for any other difference."""
    if len(ours) != len(reply):
        raise SchemaFactsError(
            f"the schema's build shows {len(ours)} entries, the reply {len(reply)}"
        )
    out: dict[str, list[str]] = {}
    for mine, theirs in zip(ours, reply, strict=True):
        if mine == theirs:
            continue
        what = f"entry '{theirs.get('name')}'"
        rest_mine = {k: v for k, v in mine.items() if k != "members"}
        rest_theirs = {k: v for k, v in theirs.items() if k != "members"}
        if mine.get("meta-type") != "object" or rest_mine != rest_theirs:
            raise SchemaFactsError(f"{what} differs otherwise than by members the reply lacks")
        left = list(theirs["members"])
        extra = []
        for member in mine["members"]:
            if left and left[0] == member:
                left.pop(0)
            elif member["type"] in ("int", "[int]"):
                extra.append(member["name"])
            else:
                raise SchemaFactsError(f"{what}: member '{member['name']}' differs")
        if left:
            raise SchemaFactsError(f"{what}: the reply has members the schema lacks")
        out[theirs["name"]] = extra
    return out
