"""JSON as QEMU 10.0's QMP monitor writes it, sans I/O.

:func:`encode` writes a value as QEMU's JSON writer (``qobject/json-writer.c``)
does: ``", "`` and ``": "`` separators, every character outside printable ASCII
escaped as ``\\uXXXX`` (upper-case hex; surrogate pairs beyond the BMP; U+FFFD
for what is not a valid character), floats as ``%.17g``, and object members in
the order QEMU's ``QDict`` iterates them (its hash order), not in insertion order.

The reader is :mod:`.json_reader`.
"""

from __future__ import annotations

# collections.abc's own definition, loaded with the interpreter: importing
# collections.abc would import the collections package, which `qapigen vm`
# does without before its greeting (it encodes the greeting with this module).
from _collections_abc import Mapping

from ..runtime.key_order import qdict_order
from .codepoints import is_valid_codepoint

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Final

__all__ = ["as_written", "encode", "qdict_order"]


class _Escapes(dict[int, str]):
    """``str.translate`` table for QEMU's quoted_str(), filled as characters come."""

    def __missing__(self, cp: int) -> str:
        if 0x20 <= cp < 0x7F:
            text = chr(cp)
        elif not is_valid_codepoint(cp):
            text = "\\uFFFD"
        elif cp > 0xFFFF:
            # A surrogate pair; the cache key stays the character itself.
            offset = cp - 0x10000
            text = f"\\u{0xD800 + (offset >> 10):04X}\\u{0xDC00 + (offset & 0x3FF):04X}"
        else:
            text = f"\\u{cp:04X}"
        # Bounded: a stream of distinct characters must not grow it forever.
        if len(self) < 4096:
            self[cp] = text
        return text


_ESCAPES: Final = _Escapes(
    {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
)


def _quote(text: str) -> str:
    # Printable ASCII without quote or backslash is written as it is; anything
    # else (control characters, DEL, non-ASCII, quote, backslash) is escaped.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return f'"{text.translate(_ESCAPES)}"'


def _scalar(value: object) -> str | None:
    """The JSON text of a scalar, or None for a container."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        # int's own text, also for IntEnum members.
        return int.__repr__(value)
    if isinstance(value, float):
        return format(value, ".17g")  # QEMU's printf("%.17g")
    return None


def _members(members: Mapping[str, object]) -> Iterator[tuple[str, object]]:
    for key in members:
        if not isinstance(key, str):
            raise TypeError(f"object keys must be strings, not {type(key).__name__}")
    for i, key in enumerate(qdict_order(members)):
        yield (", " if i else "") + _quote(key) + ": ", members[key]


def _elements(elements: list[object] | tuple[object, ...]) -> Iterator[tuple[str, object]]:
    for i, element in enumerate(elements):
        yield (", " if i else ""), element


# How deep _plain() goes before leaving a value to the loop of _nested().
_PLAIN_DEPTH: Final = 16

# Key sequences whose layout is remembered: replies have few shapes, and a
# reply may hold hundreds of objects of one (qom-list's 512 properties).
# (Short ones only, so that what is kept stays small; not functools.lru_cache:
# this module is on the start path, which does without functools.)
_LAYOUTS_KEPT: Final = 1024
_LAID_OUT_KEYS: Final = 16
_LAID_OUT_CHARS: Final = 256
_layouts: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}


def _layout(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The keys of an object in QEMU's order, each with what is written
    before its value (``"key": ``, after a ``, `` but for the first)."""
    return tuple(
        (key, (", " if i else "") + _quote(key) + ": ") for i, key in enumerate(qdict_order(keys))
    )


def _kept_layout(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """:func:`_layout`, remembered (forgotten all at once when full)."""
    layout = _layouts.get(keys)
    if layout is None:
        if len(_layouts) >= _LAYOUTS_KEPT:
            _layouts.clear()
        layout = _layouts[keys] = _layout(keys)
    return layout


def encode(value: object) -> str:
    """``value`` (dicts, lists or tuples, str, int, float, bool, None) as QEMU writes it.

    The result is ASCII. Nesting is not limited by Python's recursion limit.
    """
    text = _plain(value, _PLAIN_DEPTH)
    return _nested(value) if text is None else text


def _plain(value: object, depth: int) -> str | None:
    """``encode(value)`` for plain values (of exactly the types JSON reads give,
    nested at most ``depth`` deep), by recursion; None for any other."""
    kind = type(value)
    if kind is str:
        return _quote(value)  # type: ignore[arg-type]
    if kind is dict:
        if not depth:
            return None
        keys: tuple[str, ...] = tuple(value)  # type: ignore[arg-type]
        for key in keys:
            if type(key) is not str:
                return None  # (the loop says what is wrong with it)
        if len(keys) <= _LAID_OUT_KEYS and sum(map(len, keys)) <= _LAID_OUT_CHARS:
            layout = _kept_layout(keys)
        else:
            layout = _layout(keys)
        parts = ["{"]
        for key, head in layout:
            text = _plain(value[key], depth - 1)  # type: ignore[index]
            if text is None:
                return None
            parts.append(head)
            parts.append(text)
        parts.append("}")
        return "".join(parts)
    if value is None or kind is bool or kind is int or kind is float:
        return _scalar(value)
    if kind is list:
        if not depth:
            return None
        parts = []
        for element in value:  # type: ignore[attr-defined]
            text = _plain(element, depth - 1)
            if text is None:
                return None
            parts.append(text)
        return "[" + ", ".join(parts) + "]"
    return None


def _nested(value: object) -> str:
    """``encode(value)`` for any value, without recursion."""
    out: list[str] = []
    # Open containers: the rest of their members and their closing bracket.
    stack: list[tuple[Iterator[tuple[str, object]], str]] = []
    while True:
        text = _scalar(value)
        if text is not None:
            out.append(text)
        elif isinstance(value, Mapping):
            out.append("{")
            stack.append((_members(value), "}"))
        elif isinstance(value, (list, tuple)):
            out.append("[")
            stack.append((_elements(value), "]"))
        else:
            raise TypeError(f"{type(value).__name__} is not a JSON value")
        while stack:
            item = next(stack[-1][0], None)
            if item is not None:
                out.append(item[0])
                value = item[1]
                break
            out.append(stack.pop()[1])
        else:
            return "".join(out)


def as_written(value: object) -> object:
    """``value`` (as JSON gave it, objects' members in the order QEMU wrote them)
    made so that :func:`encode` writes its members in that order again.

    :func:`encode` takes an object's keys in the order QEMU inserted them into
    its ``QDict``; within a bucket QEMU writes the last inserted first, so
    keys read in QEMU's written order are inserted in reverse.
    """
    if isinstance(value, dict):
        return {key: as_written(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [as_written(item) for item in value]
    return value
