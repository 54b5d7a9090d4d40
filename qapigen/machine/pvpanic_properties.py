"""What the pvpanic devices' properties take: the event bits of ``events``
(all of them by default) and the ISA device's ``ioport``.

Apart from the devices (:mod:`.pvpanic`): the command line's configuration
needs these, and ``qapigen vm`` reads its command line before its greeting,
without the devices and buses.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_IOPORT",
    "PVPANIC_CRASH_LOADED",
    "PVPANIC_EVENTS",
    "PVPANIC_PANICKED",
    "PVPANIC_SHUTDOWN",
]

PVPANIC_PANICKED = 1 << 0
PVPANIC_CRASH_LOADED = 1 << 1
PVPANIC_SHUTDOWN = 1 << 2
#: Every event bit QEMU knows; the default of ``events``.
PVPANIC_EVENTS = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED | PVPANIC_SHUTDOWN

#: The ISA device's default I/O port.
DEFAULT_IOPORT = 0x505
