"""A QMP server on asyncio: sockets around the sans-IO :mod:`.protocol` core.

It serves any number of clients at once, each negotiating on its own;
commands run through a generated package's dispatcher against a handler
object (a subclass of the package's ``Handler``), and events go to every
negotiated client.  The server itself answers ``query-version``,
``query-commands`` and ``query-qmp-schema`` (from the package's
introspection data), as QEMU's monitor does.

Sockets are private by default: a unix socket is created with mode 0600,
and TCP listens on the loopback interface unless told otherwise.

A client that stops reading cannot hold up the others or make the server's
memory grow without bound: what is queued for it is capped
(:data:`MAX_PENDING_OUTPUT` bytes) and a client over the cap is disconnected.
QEMU instead lets its output buffer grow; disconnecting is the better
choice for a simulator meant to serve many clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ..runtime import CommandInfo, Dispatcher, Event, QMPError, event_message
from .protocol import (
    COMMAND_NOT_FOUND,
    Request,
    ServerConnection,
)

#: Bytes queued for one client beyond which it is disconnected.
MAX_PENDING_OUTPUT = 4 * 1024 * 1024

#: The ``query-version`` of the QEMU the server stands in for.
DEFAULT_VERSION = {"major": 10, "minor": 0, "micro": 2}

# Commands the server answers itself, from what it knows of the schema.
_SERVER_COMMANDS = ("query-version", "query-commands", "query-qmp-schema")


class _Client(asyncio.Protocol):
    """One connected client: its protocol state and its transport.

    Bytes are handled as they arrive (``data_received``), with no task and
    no stream in between: one event-loop pass per request.
    """

    def __init__(self, server: QMPServer, capabilities: tuple[str, ...]) -> None:
        self.server = server
        self.conn = ServerConnection(
            server.version, server.package_name, capabilities, commands=server._lookup
        )
        self.transport: asyncio.WriteTransport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport
        self.server.clients.add(self)
        self.flush()  # the greeting

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        server = self.server
        for item in self.conn.receive_data(data):
            # Once the machine has exited, QEMU is gone: nothing more is answered.
            if isinstance(item, Request) and not server.halted:
                server._run(self, item)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        # A client gone mid-message costs nothing else.
        self.closed = True
        self.server.clients.discard(self)

    def flush(self) -> None:
        """Hand what the protocol queued to the transport; drop a stalled client."""
        if self.closed or self.transport is None:
            return
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)
        if self.transport.get_write_buffer_size() > MAX_PENDING_OUTPUT:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class QMPServer:
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
        self.clients: set[_Client] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._introspection: list[Any] | None = None
        #: Set once the handler can run no more commands (the emulator it stands
        #: for has exited): later requests go unanswered, as QEMU, once it has
        #: exited, answers none; replies already due are still sent.
        self.halted = False

    # -- listening --------------------------------------------------------

    async def listen_unix(self, path: str, mode: int = 0o600) -> None:
        """Listen on a unix socket at ``path`` (replacing a stale one), mode 0600.

        The socket appears at ``path`` only once it accepts connections (it is
        bound under another name and renamed), so a client that waits for the
        file to exist can connect at once.
        """
        staging = f"{path}.{os.getpid()}~"
        if len(os.fsencode(staging)) > 107:  # beyond sun_path: bind in place
            staging = path
        if os.path.exists(staging):
            os.unlink(staging)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Create the socket private from the start: no window where others could connect.
        old = os.umask(0o777 & ~mode)
        try:
            sock.bind(staging)
        except BaseException:
            sock.close()
            raise
        finally:
            os.umask(old)
        os.chmod(staging, mode)
        sock.listen(100)
        if staging != path:
            os.replace(staging, path)
        loop = asyncio.get_running_loop()
        server = await loop.create_unix_server(lambda: _Client(self, ("oob",)), sock=sock)
        self._servers.append(server)

    async def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on TCP (loopback by default); returns the port."""
        # QEMU offers oob on a TCP monitor too when it has its own I/O thread.
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Client(self, ("oob",)), host, port)
        self._servers.append(server)
        sockname = server.sockets[0].getsockname()
        return int(sockname[1])

    async def close(self) -> None:
        """Stop listening and disconnect every client."""
        for server in self._servers:
            server.close()
        for client in list(self.clients):
            client.flush()
            client.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    # -- events -----------------------------------------------------------

    def broadcast(self, event: Event, timestamp: float | None = None) -> None:
        """Send an event to every negotiated client, now."""
        message = event_message(event, self.clock() if timestamp is None else timestamp)
        for client in list(self.clients):
            if client.conn.send_event(message):
                client.flush()

    # -- serving ------------------------------------------------------------

    def _lookup(self, name: str) -> CommandInfo | None:
        return self.commands.get(name)

    def _run(self, client: _Client, request: Request) -> None:
        """Run a command and queue its reply (after any events it caused)."""
        try:
            if request.name in _SERVER_COMMANDS:
                result = self._server_command(request)
            else:
                result = self.dispatcher.dispatch(request.name, request.arguments)
        except QMPError as err:
            client.conn.send_error(request, err.error_class, err.desc)
            return
        client.conn.send_return(request, {} if result is None else result)

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
