"""The typed client's event streams: a bounded backlog, typed waits, iteration.

A stream keeps the events it received and no one has taken yet, oldest
first, up to a bound (the oldest are dropped beyond it, and counted in
:attr:`EventStream.dropped`).  :meth:`EventStream.wait_for` takes the first
event that matches, whether it came before the wait or comes during it; the
events it passes over stay for later waits.  So a command's events are never
lost between the command and the wait for them::

    await client.stop()
    stop = await client.events.wait_for(qmp.StopEvent, timeout=5)

Events decode into the bindings' classes; one the bindings do not know
arrives as a :class:`~qapigen.runtime.GenericEvent`, which waits for typed
events pass over.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, overload

from qemu.qmp import EventListener, Message

from ..events import Event, GenericEvent
from .timeouts import DEFAULT, Default, seconds

# As in every module, not typing.TYPE_CHECKING (see docs/architecture.md).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from .async_client import AsyncClient

E = TypeVar("E", bound=Event)

#: How many untaken events a stream keeps, by default.
BACKLOG = 1024


class _Received:
    """An event message, decoded when first asked for."""

    __slots__ = ("_event", "message", "name")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.name = str(message.get("event"))
        self._event: Event | None = None

    def event(self, cls: type[Event] | None, strict: bool) -> Event:
        """The event, decoded into ``cls`` (None: a :class:`GenericEvent`)."""
        if self._event is None or (cls is not None and type(self._event) is not cls):
            data = self.message.get("data", {})
            if cls is None:
                event: Event = GenericEvent(self.name, data if isinstance(data, dict) else {})
            else:
                event = cls.from_wire(data, strict=strict)
            event._received_at(self.message)
            self._event = event
        return self._event


class _Listener(EventListener):
    """Hands ``qemu.qmp``'s events to a stream (the listener's own queue and
    history would grow without bound)."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__()
        self._stream = stream

    async def put(self, event: Message) -> None:
        self._stream._put(event)


class EventStream:
    """Events a client received and no one has taken yet, oldest first.

    A client's own stream (``client.events``) starts at its creation; one
    opened by ``client.listen(...)`` starts then and keeps only the kinds it
    was opened for.  Iterate over it (``async for``), which ends once the
    connection has closed and every event is taken, or :meth:`wait_for` the
    event you expect.
    """

    def __init__(
        self, client: AsyncClient, kinds: tuple[type[Event] | str, ...] = (), maxlen: int = BACKLOG
    ) -> None:
        self._client = client
        self._classes = {kind.NAME: kind for kind in kinds if not isinstance(kind, str)}
        names = {kind if isinstance(kind, str) else kind.NAME for kind in kinds}
        self._names = frozenset(names) or None
        self._maxlen = maxlen
        self._backlog: collections.deque[_Received] = collections.deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._listener = _Listener(self)
        #: How many events were dropped, the backlog being full.
        self.dropped = 0

    # -- fed by the client ------------------------------------------------

    def _put(self, message: Message) -> None:
        if self._names is not None and message.get("event") not in self._names:
            return
        self._backlog.append(_Received(message))
        if len(self._backlog) > self._maxlen:
            self._backlog.popleft()
            self.dropped += 1
        self._wake()

    def _set_closed(self, closed: bool) -> None:
        """The connection closed (waits then end), or opened again."""
        self._closed = closed
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    # -- taking events ----------------------------------------------------

    def _class_for(self, name: str) -> type[Event] | None:
        return self._classes.get(name) or self._client.EVENTS.get(name)

    def _take(
        self, kinds: tuple[type[Event] | str, ...], match: Callable[[Any], bool] | None
    ) -> Event | None:
        """Remove and return the first event of the backlog that matches."""
        strict = self._client.strict
        for index, item in enumerate(self._backlog):
            if not kinds:
                cls = self._class_for(item.name)
            else:
                for kind in kinds:
                    if isinstance(kind, str):
                        if kind == item.name:
                            cls = self._class_for(item.name)
                            break
                    elif item.name == kind.NAME:
                        cls = kind
                        break
                else:
                    continue
            try:
                event = item.event(cls, strict)
            except Exception:
                del self._backlog[index]  # taken: it would fail every later wait too
                raise
            if match is None or match(event):
                del self._backlog[index]
                return event
        return None

    @overload
    async def wait_for(
        self,
        kind: type[E],
        /,
        *,
        match: Callable[[E], bool] | None = None,
        timeout: float | Default | None = DEFAULT,
    ) -> E: ...

    @overload
    async def wait_for(
        self,
        *kinds: type[Event] | str,
        match: Callable[[Event], bool] | None = None,
        timeout: float | Default | None = DEFAULT,
    ) -> Event: ...

    async def wait_for(
        self,
        *kinds: type[Event] | str,
        match: Callable[[Any], bool] | None = None,
        timeout: float | Default | None = DEFAULT,
    ) -> Event:
        """Take the first event of ``kinds`` (classes, or wire names) for which
        ``match`` holds, from the backlog or as it comes.

        Without ``kinds``, any event will do (an unknown one included, as a
        :class:`GenericEvent`).  ``timeout`` defaults to the client's; after it
        :class:`TimeoutError`.  :class:`EOFError` when the connection closes
        first.  Strict clients raise the decoding error of a malformed event.
        """
        limit = seconds(timeout, self._client.timeout)
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit
        while True:  # each round takes an event, or waits for one more
            event = self._take(kinds, match)
            if event is not None:
                return event
            if self._closed:
                raise EOFError(f"the connection closed before {_describe(kinds)} came")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            remaining = None if deadline is None else deadline - loop.time()
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                raise TimeoutError(f"no {_describe(kinds)} within {limit:g} s") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.wait_for(timeout=None)
        except EOFError:
            raise StopAsyncIteration from None

    def pending(self) -> list[Event]:
        """Take every event of the backlog, oldest first, without waiting."""
        events = []
        while self._backlog:
            event = self._take((), None)
            if event is not None:
                events.append(event)
        return events

    # -- as a context manager (client.listen) ------------------------------

    async def __aenter__(self) -> EventStream:
        self._client._open_stream(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._client._close_stream(self)


def _describe(kinds: tuple[type[Event] | str, ...]) -> str:
    if not kinds:
        return "event"
    names = [kind if isinstance(kind, str) else kind.NAME for kind in kinds]
    return " or ".join(names) + " event"
