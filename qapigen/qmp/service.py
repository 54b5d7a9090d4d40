"""What a QMP server does, whatever carries its bytes.

A :class:`QMPService` runs commands through a generated package's dispatcher
against a handler object, answers ``query-version``, ``query-commands`` and
``query-qmp-schema`` itself (as QEMU's monitor does), and sends events to
every negotiated client.  It reads no socket: the transport adapters
(:mod:`.server` on asyncio, :mod:`.selector_server` on the ``selectors``
module) own the sockets and hand each client's bytes to :meth:`QMPService.received`.

Both adapters apply the same policy to a client that stops reading: what is
queued for it is capped (:data:`MAX_PENDING_OUTPUT` bytes) and a client over
the cap is disconnected.  QEMU instead lets its output buffer grow;
disconnecting is the better choice for a simulator meant to serve many clients.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from types import ModuleType

from ..runtime import CommandInfo, Dispatcher, Event, QMPError, event_message
from .protocol import COMMAND_NOT_FOUND, Request, ServerConnection

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

#: Bytes queued for one client beyond which it is disconnected.
MAX_PENDING_OUTPUT = 4 * 1024 * 1024

#: The ``query-version`` of the QEMU the server stands in for.
DEFAULT_VERSION = {"major": 10, "minor": 0, "micro": 2}

# Commands the server answers itself, from what it knows of the schema.
_SERVER_COMMANDS = ("query-version", "query-commands", "query-qmp-schema")


if TYPE_CHECKING:
    from typing import Any, Protocol

    class Peer(Protocol):
        """A connected client, as a transport adapter keeps it."""

        conn: ServerConnection
        closed: bool

        def flush(self) -> None:
            """Write what ``conn`` queued; disconnect the client when over the cap."""

        def close(self) -> None:
            """Disconnect the client."""


class QMPService:
    """Serves QMP for ``handler``, typed by the generated ``package``.

    ``package`` is a generated bindings package (its ``COMMANDS``, and its
    ``introspection.json`` for ``query-qmp-schema``); ``handler`` implements
    the commands (see the package's ``Handler``).  ``version`` and
    ``package_name`` are what the greeting and ``query-version`` report.
    """

    def __init__(
        self,
        package: ModuleType,
        handler: object,
        *,
        version: Mapping[str, int] = DEFAULT_VERSION,
        package_name: str = "qapigen",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.commands: Mapping[str, CommandInfo] = package.COMMANDS
        self.package = package
        self.dispatcher = Dispatcher(dict(self.commands), handler)
        self.version = dict(version)
        self.package_name = package_name
        self.clock = clock
        #: The clients connected now.
        self.clients: set[Peer] = set()
        self._introspection: list[Any] | None = None
        #: Set once the handler can run no more commands (the emulator it stands
        #: for has exited): later requests go unanswered, as QEMU, once it has
        #: exited, answers none; replies already due are still sent.
        self.halted = False

    def connection(self) -> ServerConnection:
        """The protocol state of a new client (its greeting queued)."""
        # QEMU offers oob on every monitor with its own I/O thread, TCP ones too.
        return ServerConnection(
            self.version, self.package_name, ("oob",), commands=self.commands.get
        )

    def received(self, peer: Peer, data: bytes) -> None:
        """Handle bytes from ``peer``: run what they complete, then write the replies."""
        for item in peer.conn.receive_data(data):
            # Once the machine has exited, QEMU is gone: nothing more is answered.
            if type(item) is Request and not self.halted:
                self._run(peer, item)
        peer.flush()

    def broadcast(self, event: Event, timestamp: float | None = None) -> None:
        """Send an event to every negotiated client, now."""
        message = event_message(event, self.clock() if timestamp is None else timestamp)
        for peer in list(self.clients):
            if peer.conn.send_event(message):
                peer.flush()

    def _run(self, peer: Peer, request: Request) -> None:
        """Run a command and queue its reply (after any events it caused)."""
        try:
            if request.name in _SERVER_COMMANDS:
                result = self._server_command(request)
            else:
                result = self.dispatcher.dispatch(request.name, request.arguments)
        except QMPError as err:
            peer.conn.send_error(request, err.error_class, err.desc)
            return
        peer.conn.send_return(request, {} if result is None else result)

    def _server_command(self, request: Request) -> Any:
        if request.arguments:
            key = next(iter(request.arguments))
            raise QMPError("GenericError", f"Parameter '{key}' is unexpected")
        if request.name == "query-version":
            return {"qemu": dict(self.version), "package": self.package_name}
        if request.name == "query-commands":
            names = ["qmp_capabilities", *(n for n in self.commands if n != "qmp_capabilities")]
            return [{"name": n} for n in names]
        return self.introspection()

    def introspection(self) -> list[Any]:
        """The package's ``query-qmp-schema`` reply, loaded on first use."""
        if self._introspection is None:
            import json  # here: most runs never need it, and every start would pay

            path = os.path.join(os.path.dirname(self.package.__file__ or ""), "introspection.json")
            try:
                with open(path, encoding="utf-8") as fp:
                    self._introspection = json.load(fp)
            except OSError:
                raise QMPError(
                    COMMAND_NOT_FOUND, "The command query-qmp-schema has not been found"
                ) from None
        assert self._introspection is not None
        return self._introspection
