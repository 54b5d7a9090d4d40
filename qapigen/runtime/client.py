"""The typed QMP client's engine, over ``qemu.qmp`` (QEMU's official client library).

A generated package's ``client`` module subclasses :class:`AsyncClient` with
one typed method per command, and :class:`SyncClient` for programs without
an event loop.  Replies are decoded leniently by default, so that a newer
QEMU's extra members and enum values do not break a client; errors raise
:class:`~qapigen.runtime.errors.QMPError` with the QMP error class.

Events: ``listen(*event classes)`` subscribes *before* anything is sent, so
no event can be missed between a command and the wait for its events::

    async with client.listen(qmp.StopEvent) as events:
        await client.stop()
        stop = await events.wait_for(qmp.StopEvent, timeout=5)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, ClassVar, TypeVar

from .commands import CommandInfo, call_deprecated
from .errors import QMPError
from .events import Event

# As in every module, not typing.TYPE_CHECKING (see docs/architecture.md).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from qemu.qmp import EventListener, Message, QMPClient

T = TypeVar("T")
C = TypeVar("C", bound="AsyncClient")
SC = TypeVar("SC", bound="SyncClient")


class EventStream:
    """Events of chosen types, received since the stream was opened.

    Use it as an async context manager (``async with client.listen(...)``);
    iterate over it, or ``wait_for`` the next event of some types.
    """

    def __init__(self, client: AsyncClient, classes: tuple[type[Event], ...]) -> None:
        from qemu.qmp import EventListener

        self._client = client
        self._classes = {cls.NAME: cls for cls in classes}
        names = list(self._classes) or None
        self._listener: EventListener = EventListener(names)
        #: The raw message of the last event returned (its ``timestamp``, say).
        self.last_message: Message | None = None

    async def __aenter__(self) -> EventStream:
        self._client.qmp.register_listener(self._listener)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._client.qmp.remove_listener(self._listener)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.next()

    async def next(self) -> Event:
        """The next event, decoded into its class."""
        message = await self._listener.get()
        self.last_message = message
        name = str(message["event"])
        cls = self._classes.get(name) or self._client.EVENTS.get(name)
        if cls is None:
            raise QMPError("GenericError", f"event {name} is not in the schema")
        return cls.from_wire(message.get("data", {}), strict=self._client.strict)

    async def wait_for(self, *classes: type[Event], timeout: float | None = None) -> Event:
        """The next event of one of ``classes`` (others are passed over).

        Raises ``TimeoutError`` when none comes within ``timeout`` seconds.
        """

        async def first() -> Event:
            while True:
                event = await self.next()
                if not classes or isinstance(event, classes):
                    return event

        return await asyncio.wait_for(first(), timeout)


class AsyncClient:
    """A QMP client whose commands and events are the schema's types."""

    COMMANDS: ClassVar[dict[str, CommandInfo]] = {}
    EVENTS: ClassVar[dict[str, type[Event]]] = {}

    def __init__(self, name: str | None = None, *, strict: bool = False) -> None:
        from qemu.qmp import QMPClient

        #: The underlying ``qemu.qmp`` client, for what this one does not wrap.
        self.qmp: QMPClient = QMPClient(name)
        #: Decode replies and events strictly (reject what the schema does not know).
        self.strict = strict

    async def connect(self, address: str | tuple[str, int]) -> None:
        """Connect (a unix socket path, or (host, port)) and negotiate capabilities."""
        await self.qmp.connect(address)

    async def disconnect(self) -> None:
        """Disconnect; a server that already closed the connection (after ``quit``) is fine."""
        with contextlib.suppress(EOFError, ConnectionError):
            await self.qmp.disconnect()

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def greeting(self) -> Any:
        """The server's greeting message."""
        return self.qmp.greeting

    def listen(self, *classes: type[Event]) -> EventStream:
        """Subscribe to events of ``classes`` (all events when none are given)."""
        return EventStream(self, classes)

    async def _call(self, name: str, arguments: dict[str, Any] | None) -> Any:
        """Run a command; its decoded return value (None when it returns nothing)."""
        from qemu.qmp import ExecuteError

        info = self.COMMANDS[name]
        call_deprecated(info)
        try:
            result = await self.qmp.execute(name, arguments)
        except ExecuteError as err:
            raise QMPError(err.error_class, str(err)) from None
        if info.ret_type is None:
            return None
        return info.ret_type.decode(result, None, self.strict)


class SyncClient:
    """Runs an :class:`AsyncClient` on an event loop of its own, in a thread.

    For scripts and tests that have no event loop: every method blocks until
    the command's reply has arrived.
    """

    def __init__(self, client: AsyncClient) -> None:
        self._async = client
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result()

    @property
    def async_client(self) -> AsyncClient:
        return self._async

    def connect(self, address: str | tuple[str, int]) -> None:
        self._run(self._async.connect(address))

    def close(self) -> None:
        """Disconnect and stop the client's thread."""
        try:
            self._run(self._async.disconnect())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self: SC) -> SC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def listen(self, *classes: type[Event]) -> SyncEventStream:
        """As :meth:`AsyncClient.listen`; use it as a ``with`` block."""
        return SyncEventStream(self, self._async.listen(*classes))


class SyncEventStream:
    """The blocking form of :class:`EventStream`."""

    def __init__(self, client: SyncClient, stream: EventStream) -> None:
        self._client = client
        self._stream = stream

    def __enter__(self) -> SyncEventStream:
        self._client._run(self._stream.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._client._run(self._stream.__aexit__())

    def wait_for(self, *classes: type[Event], timeout: float | None = None) -> Event:
        return self._client._run(self._stream.wait_for(*classes, timeout=timeout))


__all__ = ["AsyncClient", "EventStream", "SyncClient", "SyncEventStream"]
