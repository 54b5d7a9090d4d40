"""Events: the base of generated event classes, and QMP event messages."""

from __future__ import annotations

import time

from .codec import JSONValue, Struct

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import ClassVar


class Event(Struct):
    """Base of generated events.  Its fields are the event's ``data`` members.

    An event the client received also knows when the server emitted it
    (:attr:`timestamp`); that is no field: events equal in their members are
    equal, whenever they came.
    """

    # The timestamp's slot is Struct's: an event's data may be a struct type,
    # which a generated event class then derives from as well.
    __slots__ = ()

    if TYPE_CHECKING:
        #: The event's wire name.
        NAME: ClassVar[str]
        #: Whether the event has a ``data`` member on the wire.
        HAS_DATA: ClassVar[bool]
    NAME = ""
    HAS_DATA = False

    @property
    def timestamp(self) -> float | None:
        """When the server emitted the event, in seconds since the epoch (its
        message's ``timestamp``); None for an event that was not received."""
        # Decoders build events without __init__: the slot may be unset.
        return getattr(self, "_timestamp", None)

    def _received_at(self, message: Mapping[str, object]) -> None:
        """Take the timestamp of ``message``, the QMP message this event came in."""
        self._timestamp = message_timestamp(message)


class GenericEvent(Event):
    """An event the bindings do not know (a newer server's): its wire name and data.

    Events the schema lacks arrive as these instead of raising, so that a
    client keeps working against a newer QEMU; typed waits pass them over.
    """

    __slots__ = ("data", "name")
    _FIELDS = ("name", "data")
    HAS_DATA = True

    def __init__(self, name: str, data: dict[str, JSONValue] | None = None) -> None:
        super().__init__()
        #: The event's wire name (``VNC_CONNECTED``).
        self.name = name
        #: The event's ``data`` member as it came ({} when it had none).
        self.data: dict[str, JSONValue] = {} if data is None else data

    def to_wire(self) -> dict[str, JSONValue]:
        return dict(self.data)


def message_timestamp(message: Mapping[str, object]) -> float | None:
    """The ``timestamp`` of a QMP event message in seconds, or None when it has none."""
    stamp = message.get("timestamp")
    if not isinstance(stamp, dict):
        return None
    seconds, microseconds = stamp.get("seconds"), stamp.get("microseconds")
    if not isinstance(seconds, int) or not isinstance(microseconds, int):
        return None
    return seconds + microseconds / 1_000_000


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
