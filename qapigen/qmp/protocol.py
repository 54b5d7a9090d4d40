"""The server side of a QMP connection, sans I/O, as QEMU 10.0's monitor behaves.

A :class:`ServerConnection` is fed the bytes a client sends
(:meth:`~ServerConnection.receive_data`) and returns what they mean, in order:

- :class:`Request`: a valid command for the caller to run, answered with
  :meth:`~ServerConnection.send_return` or :meth:`~ServerConnection.send_error`;
- :class:`Rejected`: input the connection answered itself with an error: JSON
  parse errors, malformed requests, unknown commands, commands before
  negotiation, ``exec-oob`` misuse, a bad ``qmp_capabilities``;
- :class:`CapabilitiesNegotiated`: ``qmp_capabilities`` succeeded (answered
  too); from now on commands run and events are sent.

File descriptors
----------------
On a unix socket a client may attach open files to its bytes (SCM_RIGHTS).
The adapter that reads them passes their numbers along with the bytes
(``receive_data(data, fds)``); the connection holds them as QEMU's socket
character device does: those of the latest read that carried any, until a
command takes the first of them (:meth:`~ServerConnection.take_fd`, QEMU's
``qemu_chr_fe_get_msgfd()``: the others are let go) or more arrive (the
held ones are let go).  Whatever is let go is listed by
:meth:`~ServerConnection.discarded_fds` for the adapter to close, and
:meth:`~ServerConnection.release_fds` gives up everything at the end of the
connection.  So descriptors sent with one command stay for a later one that
comes without any, as in QEMU.  The connection never closes a descriptor
itself: numbers in, numbers out.

Everything the server says, starting with the greeting, is collected as bytes
for :meth:`~ServerConnection.data_to_send`: one message a line, ``\\r\\n``,
written as QEMU writes it (see :func:`.json_writer.encode`). Nothing here reads
a clock, a socket or a thread.

Order
-----
QEMU runs in-band commands one at a time, in the order they arrived, and
answers them in that order; input errors take their turn among them. What is
out of band (``exec-oob`` once the client enabled the ``oob`` capability) QEMU
runs the moment it reads it, before reading further. The connection writes
replies in the order that gives, whatever order the caller answers in: an
in-band reply waits for every earlier reply; an out-of-band reply (or the error
for malformed ``exec-oob`` input) waits only for earlier out-of-band ones, and so
may overtake in-band requests still running. Answer out-of-band requests at
once: replies to later input wait for them.

Events are written when sent: an event a command causes, sent before the
command's reply, arrives before it. Before negotiation events are dropped, as
QEMU sends none to a client that has not negotiated.

Requests
--------
A request is checked as QEMU's ``qmp_dispatch()`` checks it, member by member in
QEMU's (hash) order, so that where several members are wrong the same one is
reported: ``QMP input must be a JSON object``, ``QMP input member 'X' must be a
string``, ``... clashes with ...``, ``QMP input member 'arguments' must be an
object``, ``QMP input member 'X' is unexpected``, ``QMP input lacks member
'execute'``; then the command is looked up (``The command X has not been found``,
class CommandNotFound; before negotiation every command but
``qmp_capabilities`` gets ``Expecting capabilities negotiation with
'qmp_capabilities'``) and ``exec-oob`` is refused for commands without
``allow-oob`` (``The command X does not support OOB``). Checking a command's
arguments is the caller's job, except for ``qmp_capabilities``, which the
connection runs itself.

The ``id`` is echoed as QEMU echoes it: parsed, then written again, so it comes
back as QEMU's writer prints the value it parsed: an integer beyond 64 bits
becomes a double (``18446744073709551616`` → ``1.8446744073709552e+19``), ``3.0``
comes back as ``3``, ``1e999`` as ``inf`` (not JSON, but what QEMU sends), object
members in QEMU's order, strings re-escaped. We chose to reproduce this rather
than echo the bytes received: clients of QEMU see exactly these ids.

Where we differ from QEMU
-------------------------
- QEMU stops reading from a client while an in-band command runs (without the
  ``oob`` capability) or while eight are queued (with it); this core reads
  whatever it is fed. :attr:`ServerConnection.pending` tells the caller how
  many requests are unanswered, so that it can stop reading the same way.
- Whether a known command is available now (QEMU's ``--preconfig`` check,
  disabled commands, the deprecation policy) is the lookup's or the caller's
  decision: the core only asks whether the command exists and allows OOB.
- Commands that send no reply (``success-response: false``, only used by the
  guest agent) are not supported: every request is answered.

See :mod:`.json_reader` for the differences in reading JSON.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping

from ..runtime.key_order import first_unexpected
from ..runtime.records import FrozenRecord
from .json_reader import JSONError, JSONStreamReader
from .json_writer import encode, qdict_order

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Final, Protocol, TypeAlias

    from qapigen.runtime import JSONValue

__all__ = [
    "COMMAND_NOT_FOUND",
    "GENERIC_ERROR",
    "KNOWN_CAPABILITIES",
    "CapabilitiesNegotiated",
    "ConnectionMisuseError",
    "Received",
    "Rejected",
    "Request",
    "ServerConnection",
]

GENERIC_ERROR: Final = "GenericError"
COMMAND_NOT_FOUND: Final = "CommandNotFound"
#: The values of QEMU 10.0's QMPCapability enum.
KNOWN_CAPABILITIES: Final = ("oob",)

_CAPABILITIES_COMMAND: Final = "qmp_capabilities"
_CRLF: Final = "\r\n"


if TYPE_CHECKING:

    class CommandLike(Protocol):
        """What the connection needs to know of a command (a ``runtime.CommandInfo`` will do)."""

        @property
        def allow_oob(self) -> bool:
            """Whether the command may run out of band (``exec-oob``)."""
            ...


# The records below are not dataclasses: see qapigen.records.


class _BuiltinCommand:
    __slots__ = ()
    allow_oob = False


# qmp_capabilities when the command table leaves it out: in QEMU it is not allow-oob.
_CAPABILITIES_SPEC: Final = _BuiltinCommand()


class Request:
    """A valid command for the caller to run and answer (read-only).

    Requests compare by identity: each is one arrival, answered once.
    """

    __slots__ = ("arguments", "has_id", "id", "name", "oob")

    #: The command's name.
    name: str
    #: Its arguments (``{}`` when the request had none), not checked.
    arguments: dict[str, JSONValue]
    #: The request's ``id`` (None when absent: see ``has_id``).
    id: JSONValue
    #: Whether the request had an ``id`` (which may be ``null``).
    has_id: bool
    #: Whether it came as ``exec-oob``: the caller may run it at once, before
    #: in-band requests still running.
    oob: bool

    def __init__(
        self, name: str, arguments: dict[str, JSONValue], id: JSONValue, has_id: bool, oob: bool
    ) -> None:
        self.name = name
        self.arguments = arguments
        self.id = id
        self.has_id = has_id
        self.oob = oob

    def __repr__(self) -> str:
        return (
            f"Request(name={self.name!r}, arguments={self.arguments!r}, id={self.id!r}, "
            f"has_id={self.has_id!r}, oob={self.oob!r})"
        )


class Rejected(FrozenRecord):
    """Input the connection answered with an error itself (already queued)."""

    __slots__ = ("desc", "error_class", "has_id", "id")
    _FIELDS = ("error_class", "desc", "id", "has_id")

    #: QAPI's error class: ``GenericError`` or ``CommandNotFound``.
    error_class: str
    #: QEMU's text.
    desc: str
    #: The input's ``id``, echoed in the reply (None when absent: see ``has_id``).
    id: JSONValue
    has_id: bool

    def __init__(self, error_class: str, desc: str, id: JSONValue, has_id: bool) -> None:
        for name, value in zip(self._FIELDS, (error_class, desc, id, has_id), strict=True):
            object.__setattr__(self, name, value)


class CapabilitiesNegotiated(FrozenRecord):
    """``qmp_capabilities`` succeeded (already answered); events may flow now."""

    __slots__ = ("enabled",)
    _FIELDS = ("enabled",)

    #: The capabilities the client enabled.
    enabled: frozenset[str]

    def __init__(self, enabled: frozenset[str]) -> None:
        object.__setattr__(self, "enabled", enabled)


#: What :meth:`ServerConnection.receive_data` makes of the client's bytes.
Received: TypeAlias = Request | Rejected | CapabilitiesNegotiated


class ConnectionMisuseError(Exception):
    """The caller used the connection wrongly (answered a request twice, ...)."""


class _Reply:
    """A reply's place in the order: its position, and its bytes once known."""

    __slots__ = ("data", "seq")

    def __init__(self, seq: int, data: bytes | None) -> None:
        self.seq = seq
        self.data = data


def _error_reply(error_class: str, desc: str, has_id: bool, id_: JSONValue) -> bytes:
    # QEMU's hash order puts "id" before "error", and "class" before "desc".
    head = '{"id": ' + encode(id_) + ", " if has_id else "{"
    line = head + '"error": {"class": ' + encode(error_class) + ', "desc": ' + encode(desc)
    return (line + "}}" + _CRLF).encode("ascii")


def _return_reply(value: JSONValue, has_id: bool, id_: JSONValue) -> bytes:
    # ... and "return" before "id".
    tail = ', "id": ' + encode(id_) + "}" if has_id else "}"
    return ('{"return": ' + encode(value) + tail + _CRLF).encode("ascii")


# The members of a well-formed in-band request.
_PLAIN_KEYS: Final = frozenset({"execute", "arguments", "id"})
_NO_ARGUMENTS: Final[dict[str, JSONValue]] = {}


def _check_request(request: dict[str, JSONValue], allow_oob: bool) -> str | None:
    """QEMU's ``qmp_dispatch_check_obj()``: the first problem in QDict order."""
    # A well-formed request (nearly every one) has no problem to put in order.
    if (
        type(request.get("execute")) is str
        and type(request.get("arguments", _NO_ARGUMENTS)) is dict
        and _PLAIN_KEYS.issuperset(request)
    ):
        return None
    exec_key = None
    for key in qdict_order(request):
        value = request[key]
        if key == "execute" or (key == "exec-oob" and allow_oob):
            if not isinstance(value, str):
                return f"QMP input member '{key}' must be a string"
            if exec_key is not None:
                return f"QMP input member '{key}' clashes with '{exec_key}'"
            exec_key = key
        elif key == "arguments":
            if not isinstance(value, dict):
                return "QMP input member 'arguments' must be an object"
        elif key != "id":
            return f"QMP input member '{key}' is unexpected"
    if exec_key is None:
        return "QMP input lacks member 'execute'"
    return None


def _capabilities_arguments(arguments: dict[str, JSONValue]) -> list[str] | str:
    """The ``enable`` list of qmp_capabilities, or the QAPI visitor's error."""
    enable: list[str] = []
    if "enable" in arguments:
        value = arguments["enable"]
        if not isinstance(value, list):
            return "Invalid parameter type for 'enable', expected: array"
        for i, capability in enumerate(value):
            if not isinstance(capability, str):
                return f"Invalid parameter type for 'enable[{i}]', expected: string"
            if capability not in KNOWN_CAPABILITIES:
                # QEMU's enum visitor names list elements "null".
                return f"Parameter 'null' does not accept value '{capability}'"
            enable.append(capability)
    key = first_unexpected(arguments, ("enable",))
    if key is not None:
        return f"Parameter '{key}' is unexpected"
    return enable


class ServerConnection:
    """One client's QMP connection, server side; see the module's documentation.

    ``greeting_version`` is the ``qemu`` member of the greeting (``major``,
    ``minor``, ``micro``), ``package`` its ``package``; ``capabilities`` are those
    offered (QEMU offers ``oob`` where the monitor has its own I/O thread, as on
    a unix socket). ``commands`` says which commands exist: a mapping from name
    to something with ``allow_oob`` (a generated package's ``COMMANDS``), or a
    function returning that or None. ``qmp_capabilities`` is always known.
    ``reader`` replaces the JSON reader (to set other limits).
    """

    def __init__(
        self,
        greeting_version: Mapping[str, int],
        package: str,
        capabilities: Iterable[str] = ("oob",),
        *,
        commands: Mapping[str, CommandLike] | Callable[[str], CommandLike | None],
        reader: JSONStreamReader | None = None,
    ) -> None:
        offered = tuple(capabilities)
        unknown = [c for c in offered if c not in KNOWN_CAPABILITIES]
        if unknown:
            raise ValueError(f"unknown QMP capabilities: {', '.join(unknown)}")
        self._offered = frozenset(offered)
        self._lookup = commands.get if isinstance(commands, Mapping) else commands
        self._reader = reader if reader is not None else JSONStreamReader()
        self._negotiated = False
        self._oob = False
        self._out: list[bytes] = []
        self._out_size = 0  # bytes in _out
        # Replies not yet written, in arrival order, in-band and out-of-band
        # apart (see _flush()); the requests they answer.
        self._seq = 0
        self._in_band: deque[_Reply] = deque()
        self._out_of_band: deque[_Reply] = deque()
        self._unanswered: dict[Request, _Reply] = {}
        self._received: list[Received] = []
        # Descriptors held for the next command that takes one, and those let go.
        self._fds: list[int] = []
        self._discarded: list[int] = []
        # VersionTriple's members in schema order: within a QDict bucket the
        # order of insertion decides, and QEMU inserts them in this order.
        triple = {key: greeting_version[key] for key in ("major", "minor", "micro")}
        greeting = {
            "QMP": {"version": {"qemu": triple, "package": package}, "capabilities": list(offered)}
        }
        self._write((encode(greeting) + _CRLF).encode("ascii"))

    @property
    def negotiated(self) -> bool:
        """Whether ``qmp_capabilities`` has succeeded."""
        return self._negotiated

    @property
    def oob_enabled(self) -> bool:
        """Whether the client enabled the ``oob`` capability."""
        return self._oob

    @property
    def buffered(self) -> int:
        """How many bytes are queued for :meth:`data_to_send`."""
        return self._out_size

    @property
    def pending(self) -> int:
        """How many requests handed out are not answered yet."""
        return len(self._unanswered)

    def receive_data(self, data: bytes, fds: Iterable[int] = ()) -> list[Received]:
        """Read bytes from the client, and the file descriptors that came with
        them (see the module's documentation); return what they complete, in order.

        An incomplete message waits for more bytes. At the end of the stream
        there is nothing to do: like QEMU, drop the connection and what it holds
        (close what :meth:`release_fds` gives).
        """
        fds = list(fds)
        if fds:
            self._discarded += self._fds
            self._fds = fds
        received = self._received = []
        for item in self._reader.feed(data):
            if isinstance(item, JSONError):
                self._reject(GENERIC_ERROR, item.desc, False, None, oob=False)
            else:
                self._handle(item.value)
        self._received = []
        return received

    def input_ended(self) -> None:
        """The client's input ended while its output stays open (a monitor on
        standard input and output, whose input closed): what it sent of an
        unfinished message is dropped, as QEMU drops it; the session goes on,
        its events are still sent."""
        self._reader.clear()

    def send_return(self, request: Request, value: JSONValue) -> None:
        """Answer ``request`` with success: ``{"return": value}`` (``{}`` for none)."""
        self._answer(request, _return_reply(value, request.has_id, request.id))

    def send_error(self, request: Request, error_class: str, desc: str) -> None:
        """Answer ``request`` with an error of QAPI class ``error_class``."""
        self._answer(request, _error_reply(error_class, desc, request.has_id, request.id))

    def send_event(self, message: Mapping[str, JSONValue]) -> bool:
        """Send an event message (``timestamp``, ``event``, ``data``) now.

        Returns False, sending nothing, before negotiation.
        """
        if not self._negotiated:
            return False
        self._write((encode(message) + _CRLF).encode("ascii"))
        return True

    def take_fd(self) -> int | None:
        """The first descriptor held, for a command that takes one (None: none
        is held); the others held with it are let go."""
        if not self._fds:
            return None
        fd, *rest = self._fds
        self._discarded += rest
        self._fds = []
        return fd

    @property
    def held_fds(self) -> tuple[int, ...]:
        """The descriptors held for the next command that takes one."""
        return tuple(self._fds)

    def discarded_fds(self) -> list[int]:
        """The descriptors let go since last asked, for the caller to close
        (not to change: when there are none, the list is the connection's own)."""
        discarded = self._discarded
        if discarded:
            self._discarded = []
        return discarded

    def release_fds(self) -> list[int]:
        """Every descriptor held or let go, for the caller to close (the
        connection is over)."""
        released = self._discarded + self._fds
        self._discarded, self._fds = [], []
        return released

    def data_to_send(self) -> bytes:
        """Everything queued for the client so far; the queue is emptied."""
        data = b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        return data

    # -- internals ------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def _answer(self, request: Request, data: bytes) -> None:
        reply = self._unanswered.pop(request, None)
        if reply is None:
            raise ConnectionMisuseError(f"request {request.name!r} is not awaiting an answer here")
        reply.data = data
        self._flush()

    def _queue(self, data: bytes | None, *, oob: bool) -> _Reply:
        """Give a reply its place in the order; ``data`` None until answered."""
        reply = _Reply(self._seq, data)
        self._seq += 1
        (self._out_of_band if oob else self._in_band).append(reply)
        if data is not None:
            self._flush()
        return reply

    def _flush(self) -> None:
        """Write every reply whose turn has come, in arrival order.

        QEMU runs what is out-of-band the moment it reads it, before reading on,
        and the rest one at a time in order. So an in-band reply waits for every
        earlier reply, and an out-of-band one only for earlier out-of-band ones.
        """
        in_band = self._in_band
        out_of_band = self._out_of_band
        while True:
            first = in_band[0] if in_band else None
            first_oob = out_of_band[0] if out_of_band else None
            if (
                first is not None
                and first.data is not None
                and (first_oob is None or first.seq < first_oob.seq)
            ):
                in_band.popleft()
                self._write(first.data)
            elif first_oob is not None and first_oob.data is not None:
                out_of_band.popleft()
                self._write(first_oob.data)
            else:
                return

    def _reject(
        self, error_class: str, desc: str, has_id: bool, id_: JSONValue, *, oob: bool
    ) -> None:
        self._queue(_error_reply(error_class, desc, has_id, id_), oob=oob)
        self._received.append(Rejected(error_class, desc, id_, has_id))

    def _handle(self, message: JSONValue) -> None:
        if not isinstance(message, dict):
            self._reject(GENERIC_ERROR, "QMP input must be a JSON object", False, None, oob=False)
            return
        has_id = "id" in message
        id_ = message.get("id")
        # QEMU runs what looks out-of-band at once, even when it then fails.
        # Before the client enables OOB it reads no input while a command runs,
        # so there everything keeps its turn.
        oob_input = self._oob and "exec-oob" in message and "execute" not in message
        problem = _check_request(message, self._oob)
        if problem is not None:
            self._reject(GENERIC_ERROR, problem, has_id, id_, oob=oob_input)
            return
        oob_request = "execute" not in message
        name = message["exec-oob" if oob_request else "execute"]
        assert isinstance(name, str)  # _check_request saw to it
        spec: CommandLike | None
        if not self._negotiated:
            spec = _CAPABILITIES_SPEC if name == _CAPABILITIES_COMMAND else None
            not_found = "Expecting capabilities negotiation with 'qmp_capabilities'"
        else:
            spec = self._lookup(name)
            if spec is None and name == _CAPABILITIES_COMMAND:
                spec = _CAPABILITIES_SPEC
            not_found = f"The command {name} has not been found"
        if spec is None:
            self._reject(COMMAND_NOT_FOUND, not_found, has_id, id_, oob=oob_input)
            return
        if oob_request and not spec.allow_oob:
            desc = f"The command {name} does not support OOB"
            self._reject(GENERIC_ERROR, desc, has_id, id_, oob=oob_input)
            return
        arguments = message.get("arguments", {})
        assert isinstance(arguments, dict)  # _check_request saw to it
        if name == _CAPABILITIES_COMMAND:
            self._capabilities(arguments, has_id, id_, oob_input)
            return
        request = Request(name, arguments, id_, has_id, oob_request)
        self._unanswered[request] = self._queue(None, oob=oob_request)
        self._received.append(request)

    def _capabilities(
        self, arguments: dict[str, JSONValue], has_id: bool, id_: JSONValue, oob: bool
    ) -> None:
        """qmp_capabilities: QEMU's marshaller, then ``qmp_qmp_capabilities()``."""
        enable = _capabilities_arguments(arguments)
        if isinstance(enable, str):
            self._reject(GENERIC_ERROR, enable, has_id, id_, oob=oob)
            return
        if self._negotiated:
            desc = "Capabilities negotiation is already complete, command ignored"
            self._reject(COMMAND_NOT_FOUND, desc, has_id, id_, oob=oob)
            return
        unavailable = [c for c in enable if c not in self._offered]
        if unavailable:
            desc = f"Capability {', '.join(unavailable)} not available"
            self._reject(GENERIC_ERROR, desc, has_id, id_, oob=oob)
            return
        self._negotiated = True
        self._oob = "oob" in enable
        self._queue(_return_reply({}, has_id, id_), oob=oob)
        self._received.append(CapabilitiesNegotiated(frozenset(enable)))
