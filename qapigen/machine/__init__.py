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

from .accel import QtestAccess
from .actions import (
    ActionOptions,
    Actions,
    HelpRequested,
    PanicResponse,
    caused_by_guest,
    exit_status,
    panic_response,
    reset_is_shutdown,
)
from .config import CommandLine, MachineConfig, PvpanicConfig, UnknownDeviceError, WatchdogConfig
from .errors import ConfigError, GuestNotRunning, MachineExited
from .machine import EventSubscriber, Guest, Machine
from .pvpanic import (
    DEFAULT_IOPORT,
    PVPANIC_CRASH_LOADED,
    PVPANIC_EVENTS,
    PVPANIC_PANICKED,
    PVPANIC_SHUTDOWN,
    PvpanicBit,
    PvpanicDevice,
    PvpanicISA,
    PvpanicPCI,
    decode_pvpanic_write,
)
from .runstate import TRANSITIONS, InvalidTransition, RunStateMachine, transition_allowed
from .watchdog import Ib700

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
