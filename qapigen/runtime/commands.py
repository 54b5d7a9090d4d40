"""Commands: their metadata, and the dispatcher that runs them on a handler."""

from __future__ import annotations

from .codec import JSONValue, Struct, warn_deprecated
from .errors import CommandError, CommandNotImplemented, WireError
from .records import NamedTuple

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

# Named tuples rather than dataclasses: a bindings package creates one per
# command at import, and dataclasses are slow to create.


class Codec(NamedTuple):
    """How a command's return value goes to and from the wire."""

    decode: Callable[[object, str | int | None, bool], Any]
    encode: Callable[[Any], JSONValue]


class CommandInfo(NamedTuple):
    """A command of the schema: its types, flags and features."""

    name: str
    #: The handler's method for the command.
    method: str
    #: The argument type; None when the command takes no arguments.
    arg_type: type[Struct] | None
    #: Whether the handler takes the arguments unpacked, as keywords.
    unpack: bool
    #: The return type's codec; None when the command returns nothing.
    ret_type: Codec | None
    gen: bool = True
    success_response: bool = True
    boxed: bool = False
    allow_oob: bool = False
    allow_preconfig: bool = False
    coroutine: bool = False
    features: tuple[str, ...] = ()
    #: The ``if`` condition, as the schema writes it (for documentation).
    ifcond: object = None
    since: str | None = None

    @property
    def deprecated(self) -> bool:
        return "deprecated" in self.features

    @property
    def unstable(self) -> bool:
        return "unstable" in self.features


def not_implemented(method: F) -> F:
    """Marks a ``Handler`` method as the default one, which no handler overrode."""
    method.__qapi_not_implemented__ = True  # type: ignore[attr-defined]
    return method


def not_found(name: str) -> CommandError:
    return CommandError("CommandNotFound", f"The command {name} has not been found")


class Dispatcher:
    """Runs wire commands on a handler object and gives back wire results."""

    def __init__(self, commands: Mapping[str, CommandInfo], handler: object) -> None:
        self.commands = commands
        self.handler = handler

    def dispatch(self, name: str, arguments: dict[str, Any] | None) -> JSONValue | None:
        """Run command ``name``; the ``return`` value, or None when there is no reply.

        Raises :class:`CommandError` with QEMU's error class and message.
        """
        info = self.commands.get(name)
        if info is None:
            raise not_found(name)
        method = getattr(self.handler, info.method, None)
        # As in a QEMU built without the command: not found, whatever the arguments.
        if method is None or getattr(method, "__qapi_not_implemented__", False):
            raise not_found(name)
        args = {} if arguments is None else arguments
        try:
            if not info.gen:
                result = method(args)
            elif info.arg_type is None:
                if args:
                    from .key_order import first_unexpected

                    raise WireError.unexpected(first_unexpected(args, ()) or "")
                result = method()
            else:
                decoded = info.arg_type.from_wire(args)
                if info.unpack:
                    # A loop, not a comprehension (a call of its own, at every command).
                    kwargs = {}
                    for field in info.arg_type._FIELDS:
                        kwargs[field] = getattr(decoded, field)
                    result = method(**kwargs)
                else:
                    result = method(decoded)
        except WireError as err:
            raise CommandError("GenericError", err.desc) from None
        except CommandNotImplemented:
            raise not_found(name) from None
        if not info.success_response:
            return None
        if info.ret_type is None:
            return {}
        return info.ret_type.encode(result)


def call_deprecated(info: CommandInfo) -> None:
    """Warn when a program calls a deprecated command."""
    if info.deprecated:
        warn_deprecated(f"command '{info.name}'", stacklevel=4)
