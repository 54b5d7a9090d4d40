"""The runtime of generated bindings: the wire codec, events, commands.

Generated packages import this and the standard library only.
"""

from __future__ import annotations

from .codec import (
    ABSENT,
    MISSING,
    Absent,
    Alternate,
    Enum,
    JSONValue,
    Struct,
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
    decode_struct,
    encode,
    list_of,
    warn_deprecated,
)
from .commands import Codec, CommandInfo, Dispatcher, call_deprecated, not_found
from .errors import CommandNotImplemented, QMPError, WireError
from .events import Event, event_message

__all__ = [
    "ABSENT",
    "MISSING",
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
    "decode_struct",
    "encode",
    "event_message",
    "list_of",
    "not_found",
    "warn_deprecated",
]
