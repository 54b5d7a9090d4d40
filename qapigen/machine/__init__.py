"""The simulated machine's core: QEMU's run states, reaction settings, the
``pc`` board's buses and the pvpanic and watchdog devices, driven by typed
commands and reporting typed events.

It knows nothing of sockets or JSON: a QMP server drives a :class:`Machine`
through ``qapigen.runtime.Dispatcher(simulator_api.COMMANDS, machine)`` and
forwards the events it receives as a subscriber; tests play the guest through
:attr:`Machine.guest`, and a qtest server acts on it through
:attr:`Machine.qtest_access`.
"""

from __future__ import annotations

from ..runtime.lazy import lazy_names

# Each name is imported from its module when first used (PEP 562), then kept
# here: ``qapigen vm`` checks its command line with the configuration's modules
# before its greeting, and builds the machine (the rest) only after it.  Not
# typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .accel import QtestAccess
    from .action_options import ActionOptions, HelpRequested
    from .actions import (
        Actions,
        PanicResponse,
        caused_by_guest,
        exit_status,
        panic_response,
        reset_is_shutdown,
    )
    from .config import (
        CommandLine,
        MachineConfig,
        PvpanicConfig,
        UnknownDeviceError,
        WatchdogConfig,
    )
    from .errors import ConfigError, GuestNotRunning, MachineExited
    from .machine import EventSubscriber, Guest, Machine
    from .pvpanic import (
        PvpanicBit,
        PvpanicDevice,
        PvpanicISA,
        PvpanicPCI,
        decode_pvpanic_write,
    )
    from .pvpanic_properties import (
        DEFAULT_IOPORT,
        PVPANIC_CRASH_LOADED,
        PVPANIC_EVENTS,
        PVPANIC_PANICKED,
        PVPANIC_SHUTDOWN,
    )
    from .runstate import TRANSITIONS, InvalidTransition, RunStateMachine, transition_allowed
    from .watchdog import Ib700

#: Which module of the machine defines each of its names.
_HOMES = {
    "QtestAccess": "accel",
    "ActionOptions": "action_options",
    "Actions": "actions",
    "HelpRequested": "action_options",
    "PanicResponse": "actions",
    "caused_by_guest": "actions",
    "exit_status": "actions",
    "panic_response": "actions",
    "reset_is_shutdown": "actions",
    "CommandLine": "config",
    "MachineConfig": "config",
    "PvpanicConfig": "config",
    "UnknownDeviceError": "config",
    "WatchdogConfig": "config",
    "ConfigError": "errors",
    "GuestNotRunning": "errors",
    "MachineExited": "errors",
    "EventSubscriber": "machine",
    "Guest": "machine",
    "Machine": "machine",
    "DEFAULT_IOPORT": "pvpanic_properties",
    "PVPANIC_CRASH_LOADED": "pvpanic_properties",
    "PVPANIC_EVENTS": "pvpanic_properties",
    "PVPANIC_PANICKED": "pvpanic_properties",
    "PVPANIC_SHUTDOWN": "pvpanic_properties",
    "PvpanicBit": "pvpanic",
    "PvpanicDevice": "pvpanic",
    "PvpanicISA": "pvpanic",
    "PvpanicPCI": "pvpanic",
    "decode_pvpanic_write": "pvpanic",
    "TRANSITIONS": "runstate",
    "InvalidTransition": "runstate",
    "RunStateMachine": "runstate",
    "transition_allowed": "runstate",
    "Ib700": "watchdog",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = [
    "DEFAULT_IOPORT",
    "PVPANIC_CRASH_LOADED",
    "PVPANIC_EVENTS",
    "PVPANIC_PANICKED",
    "PVPANIC_SHUTDOWN",
    "TRANSITIONS",
    "ActionOptions",
    "Actions",
    "CommandLine",
    "ConfigError",
    "EventSubscriber",
    "Guest",
    "GuestNotRunning",
    "HelpRequested",
    "Ib700",
    "InvalidTransition",
    "Machine",
    "MachineConfig",
    "MachineExited",
    "PanicResponse",
    "PvpanicBit",
    "PvpanicConfig",
    "PvpanicDevice",
    "PvpanicISA",
    "PvpanicPCI",
    "QtestAccess",
    "RunStateMachine",
    "UnknownDeviceError",
    "WatchdogConfig",
    "caused_by_guest",
    "decode_pvpanic_write",
    "exit_status",
    "panic_response",
    "reset_is_shutdown",
    "transition_allowed",
]
