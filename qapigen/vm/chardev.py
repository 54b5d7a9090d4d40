"""Character devices of ``qapigen vm``: the sockets its monitors and its qtest
server talk over, as QEMU's ``-chardev socket`` and its short forms make them.

A socket character device either *listens* (``server=on``; clients connect
to it) or *connects* (the default: the program connects out, at start-up, to
a socket someone else listens on; libqtest's way).  It is named by a unix
``path`` or a TCP ``host``/``port``, or given as an open descriptor
(``fd=N``: listening when ``server=on``, else already connected).  The short
forms ``unix:PATH[,server=on][,wait=off]`` and ``tcp:HOST:PORT[,...]`` (what
``-qtest`` takes) mean the same.  ``wait=on`` (QEMU's default for a listening
socket) does not hold the program back: it serves at once either way.

Only sockets are simulated: other backends QEMU has, and socket options the
simulator does not model (``telnet``, ``reconnect-ms``, TLS ...), are refused
saying so; what QEMU does not know either gets QEMU's message.
"""

from __future__ import annotations

import _socket  # not socket: see qapigen.qmp.sockets
import os

from ..machine.options import id_wellformed, parse_bool, parse_opts
from ..qmp.sockets import SocketFile, UnlinkError, tcp_listener, unix_listener
from ..runtime.records import NamedTuple


class ChardevError(Exception):
    """A character device QEMU would refuse: ``location`` (None: QEMU names
    no option) and QEMU's ``message`` (several lines, for some)."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


class ChardevSpec(NamedTuple):
    """A socket character device, as the command line gives it."""

    #: Its ``id=``.
    id: str
    #: The option that made it (what QEMU blames).
    location: str
    path: str | None = None
    host: str | None = None
    port: str | None = None
    #: An inherited descriptor (``fd=N``).
    fd: int | None = None
    #: Whether it listens (``server=on``) rather than connects.
    server: bool = False
    #: A ``stdio`` device (the program's standard input and output: see
    #: :mod:`.stdio`) rather than a socket, and its ``signal=`` (whether a
    #: terminal's interrupt keys still send signals).
    stdio: bool = False
    signal: bool = True

    @property
    def address(self) -> str:
        """Its address as QEMU's messages give it."""
        if self.path is not None:
            return self.path
        return f"{self.host}:{self.port}"


_SOCKET_KEYS = ("path", "host", "port", "fd", "server", "wait")

# A socket chardev's keys that QEMU knows and the simulator does not model.
_SOCKET_KEYS_NOT_SIMULATED = {
    "abstract",
    "tight",
    "to",
    "ipv4",
    "ipv6",
    "nodelay",
    "telnet",
    "tn3270",
    "websocket",
    "reconnect",
    "reconnect-ms",
    "tls-creds",
    "tls-authz",
    "mux",
    "logfile",
    "logappend",
}

# QEMU 10.0's chardev backends (``-chardev help``).
_CHARDEV_BACKENDS = {
    "braille",
    "dbus",
    "file",
    "memory",
    "msmouse",
    "mux",
    "null",
    "parallel",
    "pipe",
    "pty",
    "qemu-vdagent",
    "ringbuf",
    "serial",
    "socket",
    "spiceport",
    "spicevmc",
    "stdio",
    "testdev",
    "tty",
    "udp",
    "vc",
    "wctablet",
}


def parse_chardev(text: str) -> ChardevSpec:
    """``-chardev socket,id=ID,(path=P|host=H,port=N|fd=N)[,server=on][,wait=off]``,
    checked in QEMU's order."""
    location = f"-chardev {text}"
    values = {item.name: item.value for item in parse_opts(text, implied="backend")}
    backend = values.pop("backend", "")
    ident = values.pop("id", None)
    if ident is None:
        raise ChardevError("chardev: no id specified", location)
    if not id_wellformed(ident):
        raise ChardevError(
            "Parameter 'id' expects an identifier\n"
            "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
            location,
        )
    if backend not in _CHARDEV_BACKENDS:
        raise ChardevError(f"'{backend}' is not a valid char driver name", location)
    if backend == "stdio":
        return _stdio_spec(ident, location, values)
    if backend != "socket":
        raise ChardevError("only socket and stdio chardevs are simulated", location)
    for key in values:
        if key in _SOCKET_KEYS_NOT_SIMULATED:
            raise ChardevError(f"'{key}' is not simulated", location)
        if key not in _SOCKET_KEYS:
            raise ChardevError(f"Invalid parameter '{key}'", location)
    return _spec(ident, location, values)


# What every backend takes, and the simulator does not model.
_COMMON_KEYS_NOT_SIMULATED = ("mux", "logfile", "logappend")


def _stdio_spec(ident: str, location: str, values: dict[str, str]) -> ChardevSpec:
    """``-chardev stdio,id=ID[,signal=on|off]``; QEMU takes the other backends'
    keys and ignores them."""
    for key in values:
        if key in _COMMON_KEYS_NOT_SIMULATED:
            raise ChardevError(f"'{key}' is not simulated", location)
        if key not in _SOCKET_KEYS and key not in _SOCKET_KEYS_NOT_SIMULATED and key != "signal":
            raise ChardevError(f"Invalid parameter '{key}'", location)
    signal = parse_bool(values.get("signal", "on"))
    if signal is None:
        raise ChardevError("Parameter 'signal' expects 'on' or 'off'", location)
    return ChardevSpec(ident, location, stdio=True, signal=signal)


def parse_compat(text: str, location: str, ident: str) -> ChardevSpec | None:
    """A short form (``unix:PATH[,opts]``, ``tcp:HOST:PORT[,opts]``) named
    ``ident``; None for other forms."""
    head, _, rest = text.partition(",")
    values: dict[str, str] = {}
    if head.startswith("unix:"):
        values["path"] = head[5:]
    elif head.startswith("tcp:"):
        host, _, port = head[4:].rpartition(":")
        if host.startswith("[") and host.endswith("]"):  # an IPv6 address, as QEMU writes it
            host = host[1:-1]
        values["host"], values["port"] = host or "127.0.0.1", port
    else:
        return None
    for item in parse_opts(rest) if rest else ():
        if item.name not in ("server", "wait"):
            raise ChardevError(f"Invalid parameter '{item.name}'", location)
        values[item.name] = item.value
    return _spec(ident, location, values)


def _spec(ident: str, location: str, values: dict[str, str]) -> ChardevSpec:
    for key in ("server", "wait"):
        if key in values and parse_bool(values[key]) is None:
            raise ChardevError(f"Parameter '{key}' expects 'on' or 'off'", location)
    server = parse_bool(values.get("server", "off")) is True
    fd: int | None = None
    path = values.get("path")
    host = values.get("host")
    if path is None and host is None:
        text = values.get("fd", "")
        if not text.isdigit():
            raise ChardevError(f"Unable to parse FD number {text}", location)
        fd = int(text)
    return ChardevSpec(ident, location, path, host, values.get("port"), fd, server)


def open_chardev(spec: ChardevSpec, files: list[SocketFile] | None = None) -> _socket.socket:
    """The socket of ``spec``: listening, or connected (non-blocking either way).

    The file of a unix socket it listens on is added to ``files``, for the
    caller to remove when it is done (as QEMU removes its own).  Raises
    :class:`ChardevError` with QEMU's message when it cannot be made.
    """
    if spec.fd is not None:
        try:
            sock = _socket.socket(fileno=spec.fd)
        except OSError:
            raise ChardevError(
                f"File descriptor '{spec.fd}' is not a socket", spec.location
            ) from None
    elif spec.server:
        try:
            sock = _listener(spec, files)
        except UnlinkError as err:
            message = f"Failed to unlink socket {spec.path}: {_why(err)}"
            raise ChardevError(message, spec.location) from None
        except OSError as err:
            if spec.path is not None:
                message = f"Failed to bind socket to {spec.path}: {_why(err)}"
            else:
                message = f"Failed to find an available port: {_why(err)}"
            raise ChardevError(message, spec.location) from None
    else:
        try:
            sock = _connect(spec)
        except OSError as err:
            raise ChardevError(
                f"Failed to connect to '{spec.address}': {_why(err)}", spec.location
            ) from None
    sock.setblocking(False)
    return sock


def _listener(spec: ChardevSpec, files: list[SocketFile] | None) -> _socket.socket:
    if spec.path is not None:
        sock, file = unix_listener(spec.path)
        if files is not None:
            files.append(file)
        return sock
    port = spec.port or ""
    if not port.isdigit():
        raise OSError(0, f"Failed to parse port '{port}'")
    return tcp_listener(spec.host or "127.0.0.1", int(port))


def _connect(spec: ChardevSpec) -> _socket.socket:
    if spec.path is not None:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        target: str | tuple[str, int] = spec.path
    else:
        port = spec.port or ""
        if not port.isdigit():
            raise OSError(0, f"Failed to parse port '{port}'")
        host = spec.host or "127.0.0.1"
        sock = _socket.socket(_socket.AF_INET6 if ":" in host else _socket.AF_INET)
        target = (host, int(port))
    try:
        sock.connect(target)
    except BaseException:
        sock.close()
        raise
    return sock


def _why(err: OSError) -> str:
    return os.strerror(err.errno) if err.errno else str(err.strerror or err)
