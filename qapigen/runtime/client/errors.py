"""A refused command, as the typed client raises it: one class per QMP error class.

Each is a ``qemu.qmp.ExecuteError`` (it keeps the message sent and the reply
received) and a :class:`qapigen.runtime.CommandError` (``error_class``,
``desc``), and prints as ``CommandNotFound: The command foo has not been
found``.  QEMU's error classes are QAPI's ``QapiErrorClass``; a class a newer
server invents comes as :class:`CommandFailed` itself.
"""

from __future__ import annotations

from qemu.qmp import ExecuteError

from ..errors import CommandError


class CommandFailed(ExecuteError, CommandError):
    """The server refused a command: its error class and text, what was sent and received.

    ``sent`` and ``received`` are the QMP messages (``qemu.qmp.Message``);
    ``error_class`` and ``desc`` the reply's error.
    """

    def __init__(self, error: ExecuteError) -> None:
        # ExecuteError's __init__ would pass its arguments on to CommandError's:
        # set what it sets instead.
        Exception.__init__(self, error.error, error.sent, error.received)
        self.error = error.error
        self.sent = error.sent
        self.received = error.received

    @property
    def desc(self) -> str:
        return self.error.error.desc

    def __str__(self) -> str:
        return f"{self.error_class}: {self.desc}"


class GenericError(CommandFailed):
    """QMP's ``GenericError``: most failures (bad arguments, a refused state change ...)."""


class CommandNotFound(CommandFailed):
    """QMP's ``CommandNotFound``: the server has no such command, or not in this state."""


class DeviceNotActive(CommandFailed):
    """QMP's ``DeviceNotActive``: the device is there but not active."""


class DeviceNotFound(CommandFailed):
    """QMP's ``DeviceNotFound``: no device of that name."""


class KVMMissingCap(CommandFailed):
    """QMP's ``KVMMissingCap``: the host's KVM lacks what the command needs."""


_BY_CLASS: dict[str, type[CommandFailed]] = {
    cls.__name__: cls
    for cls in (GenericError, CommandNotFound, DeviceNotActive, DeviceNotFound, KVMMissingCap)
}


def command_failed(error: ExecuteError) -> CommandFailed:
    """The exception of ``error``'s QMP error class, carrying the same messages."""
    return _BY_CLASS.get(error.error_class, CommandFailed)(error)


__all__ = [
    "CommandFailed",
    "CommandNotFound",
    "DeviceNotActive",
    "DeviceNotFound",
    "GenericError",
    "KVMMissingCap",
    "command_failed",
]
