"""The typed client for programs without an event loop: each call blocks.

:class:`SyncClient` runs an :class:`~.async_client.AsyncClient` on an event
loop of its own, in a thread, and offers all it does.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar, overload

from ..events import Event
from .sockets import Address
from .streams import EventStream
from .timeouts import DEFAULT, Default

# As in every module, not typing.TYPE_CHECKING (see docs/architecture.md).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from qemu.qmp.models import Greeting

    from .async_client import AsyncClient

T = TypeVar("T")
E = TypeVar("E", bound=Event)
SC = TypeVar("SC", bound="SyncClient")


class SyncClient:
    """Runs an :class:`~.async_client.AsyncClient` on an event loop of its own, in a thread.

    For scripts and tests that have no event loop: every method blocks until
    its reply has arrived (or its timeout passed).  :meth:`close` ends the
    thread.
    """

    def __init__(self, client: AsyncClient) -> None:
        self._async = client
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="qapigen-client", daemon=True
        )
        self._thread.start()
        #: Every event received since the client was made, until taken.
        self.events = SyncEventStream(self, client.events)

    def _run(self, awaitable: Awaitable[T]) -> T:
        if self.closed:
            if isinstance(awaitable, Coroutine):
                awaitable.close()  # never to run
            raise RuntimeError("the client is closed")

        async def wrapper() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ended the client (it cannot connect again)."""
        return self._loop.is_closed()

    @property
    def async_client(self) -> AsyncClient:
        """The asynchronous client underneath (it runs in this client's thread)."""
        return self._async

    # -- as AsyncClient -----------------------------------------------------

    @property
    def strict(self) -> bool:
        """Decode replies and events strictly (reject what the schema does not know)."""
        return self._async.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._async.strict = value

    @property
    def timeout(self) -> float | None:
        """The default timeout of commands and waits, in seconds (None: wait for ever)."""
        return self._async.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._async.timeout = value

    @property
    def greeting(self) -> Greeting | None:
        """As :attr:`AsyncClient.greeting`."""
        return self._async.greeting

    @property
    def oob_enabled(self) -> bool:
        """As :attr:`AsyncClient.oob_enabled`."""
        return self._async.oob_enabled

    def is_guest_agent(self) -> bool:
        """As :meth:`AsyncClient.is_guest_agent`."""
        return self._async.is_guest_agent()

    def connect(
        self, address: Address | socket.socket, *, timeout: float | Default | None = DEFAULT
    ) -> None:
        """As :meth:`AsyncClient.connect`."""
        self._run(self._async.connect(address, timeout=timeout))

    def accept(
        self, address: Address | socket.socket, *, timeout: float | Default | None = DEFAULT
    ) -> None:
        """As :meth:`AsyncClient.accept`."""
        self._run(self._async.accept(address, timeout=timeout))

    def disconnect(self) -> None:
        """As :meth:`AsyncClient.disconnect` (the thread stays, for another connection)."""
        self._run(self._async.disconnect())

    def close(self) -> None:
        """Disconnect and end the client's thread."""
        if self.closed:
            return
        try:
            self.disconnect()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self: SC) -> SC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def listen(self, *kinds: type[Event] | str) -> SyncEventStream:
        """As :meth:`AsyncClient.listen`; use it as a ``with`` block."""
        return SyncEventStream(self, self._async.listen(*kinds))

    def with_options(
        self: SC,
        *,
        timeout: float | Default | None = DEFAULT,
        oob: bool = False,
        fd: int | None = None,
    ) -> SC:
        """As :meth:`AsyncClient.with_options`: a view of this client (same
        connection, same thread) whose commands run with these options."""
        view = copy.copy(self)
        options = self._async.with_options(timeout=timeout, oob=oob, fd=fd)
        # A generated subclass keeps the asynchronous client under a name of
        # its own (``client``) too: the view's commands must go to the view.
        for name, value in vars(self).items():
            if value is self._async:
                setattr(view, name, options)
        return view

    def execute(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """As :meth:`AsyncClient.execute`."""
        return self._run(self._async.execute(name, arguments))

    def pass_fd(self, fdname: str, fd: int) -> None:
        """As :meth:`AsyncClient.pass_fd`."""
        self._run(self._async.pass_fd(fdname, fd))


class SyncEventStream:
    """The blocking form of :class:`~.streams.EventStream`.

    Iterating over it blocks for each event, and ends once the connection has
    closed and every event is taken.
    """

    def __init__(self, client: SyncClient, stream: EventStream) -> None:
        self._client = client
        self._stream = stream

    @property
    def dropped(self) -> int:
        """How many events were dropped, the backlog being full."""
        return self._stream.dropped

    def __enter__(self) -> SyncEventStream:
        self._client._run(self._stream.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._client._run(self._stream.__aexit__())

    @overload
    def wait_for(
        self,
        kind: type[E],
        /,
        *,
        match: Callable[[E], bool] | None = None,
        timeout: float | Default | None = DEFAULT,
    ) -> E: ...

    @overload
    def wait_for(
        self,
        *kinds: type[Event] | str,
        match: Callable[[Event], bool] | None = None,
        timeout: float | Default | None = DEFAULT,
    ) -> Event: ...

    def wait_for(
        self,
        *kinds: type[Event] | str,
        match: Callable[[Any], bool] | None = None,
        timeout: float | Default | None = DEFAULT,
    ) -> Event:
        """As :meth:`EventStream.wait_for`."""
        return self._client._run(self._stream.wait_for(*kinds, match=match, timeout=timeout))

    def pending(self) -> list[Event]:
        """As :meth:`EventStream.pending`."""
        return self._client._run(_call(self._stream.pending))

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        try:
            return self.wait_for(timeout=None)
        except EOFError:
            raise StopIteration from None


async def _call(function: Callable[[], T]) -> T:
    """``function()``, in the client's thread."""
    return function()
