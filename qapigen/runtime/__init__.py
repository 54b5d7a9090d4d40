"""The runtime of generated bindings: the wire codec, events, commands.

Generated packages import this and the standard library only.
"""

from __future__ import annotations

# Type aliases, for type checkers only (typing is not imported at run time;
# generated modules test TYPE_CHECKING here too).
from ..records import TYPE_CHECKING
from .codec import (
    ABSENT,
    DEPRECATED_SLOT_PREFIX,
    Absent,
    Alternate,
    Enum,
    JSONValue,
    Struct,
    TypeInfo,
    d_any,
    d_bool,
    d_int,
    d_int8,
    d_int16,
    d_int32,
    d_int64,
    d_list,
    d_null,
    d_number,
    d_size,
    d_str,
    d_uint8,
    d_uint16,
    d_uint32,
    d_uint64,
    decodes,
    encode,
    list_of,
    new,
    typing,
    values_of,
    warn_deprecated,
)
from .commands import (
    Codec,
    CommandInfo,
    Dispatcher,
    call_deprecated,
    not_found,
    not_implemented,
)
from .errors import CommandNotImplemented, QMPError, WireError
from .events import Event, event_message

if TYPE_CHECKING:
    from .codec import Branches as Branches
    from .codec import Decoder as Decoder

__all__ = [
    "ABSENT",
    "DEPRECATED_SLOT_PREFIX",
    "TYPE_CHECKING",
    "Absent",
    "Alternate",
    "Codec",
    "CommandInfo",
    "CommandNotImplemented",
    "Dispatcher",
    "Enum",
    "Event",
    "JSONValue",
    "QMPError",
    "Struct",
    "TypeInfo",
    "WireError",
    "call_deprecated",
    "d_any",
    "d_bool",
    "d_int",
    "d_int8",
    "d_int16",
    "d_int32",
    "d_int64",
    "d_list",
    "d_null",
    "d_number",
    "d_size",
    "d_str",
    "d_uint8",
    "d_uint16",
    "d_uint32",
    "d_uint64",
    "decodes",
    "encode",
    "event_message",
    "list_of",
    "new",
    "not_found",
    "not_implemented",
    "typing",
    "values_of",
    "warn_deprecated",
]
