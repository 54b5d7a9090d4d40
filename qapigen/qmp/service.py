"""What a QMP server does, whatever carries its bytes.

A :class:`QMPService` runs commands through a generated package's dispatcher
against a handler object, answers ``query-version``, ``query-commands`` and
``query-qmp-schema`` itself (as QEMU's monitor does), and sends events to
every negotiated client.  Given a :class:`Surface` (a whole QEMU's schema, as
``qapigen vm`` serves a profile), it serves that schema instead: the commands
the handler implements stay its own (they are *live*), the surface runs every
other command of its schema, and the greeting is the surface's.

It reads no socket: the transport adapters
(:mod:`.server` on asyncio, :mod:`.selector_server` on a selector loop)
own the sockets and hand each client's bytes to :meth:`QMPService.received`.

Both adapters apply the same flow control (see docs/behaviour.md):

- a client whose replies pile up unread is not read from: once more than
  :data:`HIGH_WATER` bytes wait for it, the requests it already sent are left
  to run later and its socket is not read, until it has taken its output down
  to :data:`LOW_WATER` bytes.  A client that pipelines any number of requests
  therefore gets every reply, in order, and the replies it is owed never take
  more than about :data:`HIGH_WATER` bytes of memory;
- what the server does not hold back is events: a client that stops reading
  altogether is disconnected once more than :data:`MAX_PENDING_OUTPUT` bytes wait
  for it, so that it can neither stall the others nor exhaust memory.  Replies
  alone cannot reach that cap (unless one reply were over 3 MiB).

QEMU instead reads on and lets its output buffer grow without bound.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType

from ..runtime import Commands, Dispatcher, Event, QMPError, event_message
from ..runtime.key_order import first_unexpected
from .fds import FD_COMMANDS, FdSets, MonitorCommands, close_fds
from .protocol import COMMAND_NOT_FOUND, Request, ServerConnection

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

#: Bytes queued for one client beyond which it is disconnected (only events,
#: which are not held back, can bring a client there).
MAX_PENDING_OUTPUT = 4 * 1024 * 1024
#: Bytes waiting unread beyond which a client's requests are no longer read ...
HIGH_WATER = 1024 * 1024
#: ... until it has read its output down to this.
LOW_WATER = 256 * 1024

#: The ``query-version`` of the QEMU the server stands in for.
DEFAULT_VERSION = {"major": 10, "minor": 0, "micro": 2}

# Commands the server answers itself, from what it knows of the schema.
_SERVER_COMMANDS = ("query-version", "query-commands", "query-qmp-schema")


if TYPE_CHECKING:
    from typing import Any, Protocol

    from .fds import NamedFds
    from .protocol import CommandLike

    class Peer(Protocol):
        """A connected client, as a transport adapter keeps it."""

        conn: ServerConnection
        closed: bool
        #: The descriptors its monitor keeps by name (``getfd``).
        named_fds: NamedFds
        #: Requests read but not run yet (the client's output is piling up).
        backlog: list[Request]

        def unsent(self) -> int:
            """Bytes written to the client's socket that it has not taken yet."""

        def flush(self) -> None:
            """Write what ``conn`` queued; disconnect the client when over the cap."""

        def close(self) -> None:
            """Disconnect the client."""

    class Surface(Protocol):
        """The QMP schema a server serves, beyond what its handler implements."""

        @property
        def version(self) -> Mapping[str, int]:
            """The greeting's ``qemu`` member."""

        @property
        def package(self) -> str:
            """The greeting's ``package``."""

        def lookup(self, name: str) -> CommandLike | None:
            """The command ``name`` of the schema, or None when it has none."""

        def run(self, name: str, arguments: dict[str, Any]) -> Any:
            """Run ``name`` (a command :meth:`lookup` found, not a live one): its
            ``return`` value; :class:`QMPError` with QEMU's error otherwise."""


class QMPService:
    """Serves QMP for ``handler``, typed by the generated ``package``.

    ``package`` is a generated bindings package (its ``COMMANDS``, and its
    ``introspection.json`` for ``query-qmp-schema``); ``handler`` implements
    the commands (see the package's ``Handler``).  ``version`` and
    ``package_name`` are what the greeting and ``query-version`` report.
    With a ``surface``, the surface's schema is served (see the module's
    description), and its greeting.
    """

    def __init__(
        self,
        package: ModuleType,
        handler: object,
        *,
        version: Mapping[str, int] = DEFAULT_VERSION,
        package_name: str = "qapigen",
        clock: Callable[[], float] = time.time,
        surface: Surface | None = None,
    ) -> None:
        # Shared, not copied: a fleet has one server per machine.
        commands: Commands = package.COMMANDS
        self.commands: Commands = commands
        self.package = package
        self.dispatcher = Dispatcher(commands, handler)
        self.surface = surface
        #: The commands the handler (or the monitor) runs, when a surface serves the rest.
        self.live: frozenset[str] = frozenset()
        if surface is not None:
            version, package_name = surface.version, surface.package
            self.live = _live_commands(commands, handler)
        self.version = version
        self.package_name = package_name
        self.clock = clock
        #: The clients connected now.
        self.clients: set[Peer] = set()
        self._introspection: list[Any] | None = None
        #: Set once the handler can run no more commands (the emulator it stands
        #: for has exited): later requests go unanswered, as QEMU, once it has
        #: exited, answers none; replies already due are still sent.
        self.halted = False
        #: The descriptor sets of ``add-fd``, shared by every client.
        self.fdsets = FdSets()
        self._monitor_commands = MonitorCommands(package, self.fdsets)
        #: The client whose request is running (QEMU's current monitor), else None.
        self.current: Peer | None = None

    def connection(self) -> ServerConnection:
        """The protocol state of a new client (its greeting queued)."""
        # QEMU offers oob on every monitor with its own I/O thread, TCP ones too.
        lookup = self.commands.get if self.surface is None else self._lookup
        return ServerConnection(self.version, self.package_name, ("oob",), commands=lookup)

    def _lookup(self, name: str) -> CommandLike | None:
        """A live command, else the surface's."""
        if name in self.live:
            return self.commands.get(name)
        assert self.surface is not None
        return self.surface.lookup(name)

    def received(self, peer: Peer, data: bytes, fds: Iterable[int] = ()) -> None:
        """Handle bytes from ``peer`` (and the descriptors that came with them:
        see :mod:`.protocol`): run what they complete, then write the replies.

        Requests that must wait (the client's output is over :data:`HIGH_WATER`)
        stay in ``peer.backlog``: the adapter stops reading the client until
        :meth:`serve_backlog` has run them all.
        """
        backlog = peer.backlog
        for item in peer.conn.receive_data(data, fds):
            if type(item) is Request:
                backlog.append(item)
        self.serve_backlog(peer)

    def serve_backlog(self, peer: Peer) -> None:
        """Run ``peer``'s waiting requests in order while its output stays under
        :data:`HIGH_WATER`, writing the replies as they come."""
        backlog = peer.backlog
        conn = peer.conn
        done = 0
        while done < len(backlog) and not peer.closed:
            if peer.unsent() + conn.buffered > HIGH_WATER:
                peer.flush()
                if peer.unsent() > HIGH_WATER:
                    break  # the rest waits until the client has read
                continue
            request = backlog[done]
            done += 1
            # Once the machine has exited, QEMU is gone: nothing more is answered.
            if not self.halted:
                self._run(peer, request)
        del backlog[:done]
        peer.flush()

    def broadcast(self, event: Event, timestamp: float | None = None) -> None:
        """Send an event to every negotiated client, now."""
        message = event_message(event, self.clock() if timestamp is None else timestamp)
        for peer in list(self.clients):
            if peer.conn.send_event(message):
                peer.flush()

    def _run(self, peer: Peer, request: Request) -> None:
        """Run a command and queue its reply (after any events it caused)."""
        self.current = peer
        try:
            if self.surface is not None and request.name not in self.live:
                result = self.surface.run(request.name, request.arguments)
            elif request.name in _SERVER_COMMANDS:
                result = self._server_command(request)
            elif request.name in FD_COMMANDS and request.name in self.commands:
                result = self._monitor_commands.run(
                    request.name, request.arguments, peer.conn, peer.named_fds
                )
            else:
                result = self.dispatcher.dispatch(request.name, request.arguments)
        except QMPError as err:
            peer.conn.send_error(request, err.error_class, err.desc)
            return
        finally:
            self.current = None
            # Descriptors let go (replaced, or left over from a claim) are
            # closed before the client hears the reply, as in QEMU.
            close_fds(peer.conn.discarded_fds())
        peer.conn.send_return(request, {} if result is None else result)

    def take_named_fd(self, name: str) -> int:
        """The descriptor the current client's monitor keeps as ``name``,
        handed over (the caller closes it); QEMU's error when there is none."""
        if self.current is None:
            raise QMPError("GenericError", f"File descriptor named '{name}' has not been found")
        return self.current.named_fds.take(name)

    def close(self) -> None:
        """Close the descriptor sets (the server is going away)."""
        self.fdsets.close_all()

    def _server_command(self, request: Request) -> Any:
        if request.arguments:
            key = first_unexpected(request.arguments, ())
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


def _live_commands(commands: Commands, handler: object) -> frozenset[str]:
    """The commands ``handler`` implements, and the monitor's descriptor commands
    (the server's own left out); found by method name, without loading their types."""
    live = set()
    for name in commands:
        if name in FD_COMMANDS:
            live.add(name)
            continue
        method = getattr(handler, commands.method(name), None)
        if name in _SERVER_COMMANDS or name == "qmp_capabilities" or method is None:
            continue
        if not getattr(method, "__qapi_not_implemented__", False):
            live.add(name)
    return frozenset(live)
