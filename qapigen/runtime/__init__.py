"""The runtime of generated bindings: the wire codec, events, commands.

Generated packages import this and the standard library only.
"""

from __future__ import annotations

from .lazy import lazy_names

# TYPE_CHECKING and typing (imported on first use, see codec._LazyTyping) are
# for generated modules (``if _rt.TYPE_CHECKING:``), not in __all__: a
# star-import must not shadow typing.  Not typing.TYPE_CHECKING: importing
# typing would slow down every program that imports bindings.
TYPE_CHECKING = False

# Each name is imported from its module when first used (PEP 562), then kept
# in this namespace: a program that needs only the records or the errors (the
# simulator's start path, before its greeting) does not pay for the codec and
# the enum module it imports.  The type checker sees them imported here.
if TYPE_CHECKING:
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
        values_of,
        warn_deprecated,
    )

    # Type aliases, for type checkers only (typing is not imported at run time).
    from .codec import Branches as Branches
    from .codec import Decoder as Decoder
    from .codec import typing as typing
    from .commands import (
        Codec,
        CommandInfo,
        Dispatcher,
        call_deprecated,
        not_found,
        not_implemented,
    )
    from .errors import CommandError, CommandNotImplemented, QMPError, WireError
    from .events import Event, GenericEvent, event_message
    from .package import Commands, Events

#: Which module of the runtime defines each of its names.
_HOMES = {
    **dict.fromkeys(
        (
            "ABSENT",
            "DEPRECATED_SLOT_PREFIX",
            "Absent",
            "Alternate",
            "Enum",
            "JSONValue",
            "Struct",
            "TypeInfo",
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
            "list_of",
            "new",
            "typing",
            "values_of",
            "warn_deprecated",
        ),
        "codec",
    ),
    **dict.fromkeys(
        (
            "Codec",
            "CommandInfo",
            "Dispatcher",
            "call_deprecated",
            "not_found",
            "not_implemented",
        ),
        "commands",
    ),
    **dict.fromkeys(("CommandError", "CommandNotImplemented", "QMPError", "WireError"), "errors"),
    **dict.fromkeys(("Event", "GenericEvent", "event_message"), "events"),
    **dict.fromkeys(("Commands", "Events"), "package"),
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = [
    "ABSENT",
    "DEPRECATED_SLOT_PREFIX",
    "Absent",
    "Alternate",
    "Codec",
    "CommandError",
    "CommandInfo",
    "CommandNotImplemented",
    "Commands",
    "Dispatcher",
    "Enum",
    "Event",
    "Events",
    "GenericEvent",
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
    "lazy_names",
    "list_of",
    "new",
    "not_found",
    "not_implemented",
    "values_of",
    "warn_deprecated",
]
