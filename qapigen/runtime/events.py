"""Events: the base of generated event classes, and QMP event messages."""

from __future__ import annotations

import time

from .codec import JSONValue, Struct
from .records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import ClassVar


class Event(Struct):
    """Base of generated events.  Its fields are the event's ``data`` members."""

    __slots__ = ()

    if TYPE_CHECKING:
        #: The event's wire name.
        NAME: ClassVar[str]
        #: Whether the event has a ``data`` member on the wire.
        HAS_DATA: ClassVar[bool]
    NAME = ""
    HAS_DATA = False


def event_message(event: Event, timestamp: float | None = None) -> dict[str, JSONValue]:
    """The QMP message announcing ``event``, as QEMU writes it.

    Keys come in QEMU's order (``timestamp``, ``event``, ``data``); ``data``
    is left out for events that have none.  ``timestamp`` defaults to now.
    """
    now = time.time() if timestamp is None else timestamp
    seconds, microseconds = divmod(round(now * 1_000_000), 1_000_000)
    message: dict[str, JSONValue] = {
        "timestamp": {"seconds": seconds, "microseconds": microseconds},
        "event": event.NAME,
    }
    if event.HAS_DATA:
        message["data"] = event.to_wire()
    return message
