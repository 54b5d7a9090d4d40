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

# The names are imported from their modules when the first of them is used
# (PEP 562, see __getattr__ below): a program that needs only the records or
# the errors (the simulator's start path, before its greeting) imports those
# modules and does not pay for the codec and the enum module it imports.  The
# type checker sees them imported here.
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

#: The modules whose names (those of ``__all__``, and ``typing``) the runtime gives.
_MODULES = ("codec", "commands", "errors", "events", "package")


def __getattr__(name: str) -> object:
    # The first name asked for loads them all, and the module stops having a
    # __getattr__: CPython (3.11) does not specialize attribute lookups on a
    # module that has one, and generated code reads _rt.X in every decode
    # (``_rt.new`` alone took 20 ns more a call).  Who needs only the records
    # or the errors imports those modules, and never asks here.
    if name not in __all__ and name != "typing":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    namespace = globals()
    for home in _MODULES:
        module = __import__(f"{__name__}.{home}", fromlist=["__all__"])
        for attribute in (*__all__, "typing"):
            if attribute not in namespace and hasattr(module, attribute):
                namespace[attribute] = getattr(module, attribute)
    namespace.pop("__getattr__", None)
    return namespace[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "typing"})


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
