"""``query-chardev``: the character devices of a ``qapigen vm`` machine, as QEMU
describes them.

QEMU makes a character device for each ``-chardev`` and ``-qmp`` (labelled
``compat_monitorN``, N counting the ``-qmp`` options), in command-line order,
then one for ``-qtest`` (``qtest``, unless it names a ``-chardev``).  It keeps
them as QOM children of ``/chardevs``, a GLib hash table, and
``query-chardev`` prepends each to its reply as it iterates the table: the
reply is that table's order reversed (:func:`..runtime.key_order.ghash_order`).

A device's ``filename`` is its socket's address as QEMU writes it:
``unix:PATH,server=on`` for a listening unix socket with a client,
``disconnected:unix:PATH,server=on`` without one, ``unix:PEER`` for a
connected one (``unix:`` for an unnamed peer, as a socket pair's);
``tcp:HOST:PORT,server=on <-> PEERHOST:PEERPORT`` and
``disconnected:tcp:HOST:PORT,server=on`` for TCP; ``stdio`` for stdio (its
input's end changes nothing).  ``frontend-open`` is true
for the devices a monitor or qtest uses.
"""

from __future__ import annotations

import _socket
import contextlib

from ..runtime.key_order import ghash_order

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["Chardev", "query_chardev"]


class Chardev:
    """One character device: its label, whether a front end uses it, and its socket.

    ``sock`` is the device's socket (listening when ``listening``); a ``-qmp``
    monitor's listening socket is its server's, so it is given by its
    ``address`` instead (a unix path, or ``(host, port)``).  A listening unix
    socket is bound under a staging name before its file is renamed to its
    path: ``bound`` is that name (its clients' sockets give it as their own),
    ``address`` the path QEMU shows.
    """

    __slots__ = (
        "_filename",
        "address",
        "bound",
        "frontend_open",
        "label",
        "listening",
        "local",
        "sock",
    )

    def __init__(
        self,
        label: str,
        frontend_open: bool,
        *,
        sock: _socket.socket | None = None,
        listening: bool = False,
        address: str | tuple[str, int] | None = None,
        bound: str | tuple[str, int] | None = None,
        filename: str | None = None,
    ) -> None:
        self.label = label
        # What it is called whatever happens (stdio), or None: its socket says.
        self._filename = filename
        self.frontend_open = frontend_open
        self.sock = sock
        self.listening = listening
        if bound is None and sock is not None and listening:
            bound = _name(sock.getsockname)
        self.bound = bound if bound is not None else address
        self.address = address if address is not None else self.bound
        self.local: str | tuple[str, int] | None = None
        if sock is not None and not listening:
            # Named now: once the peer has gone, the socket may not say.
            self.local, self.address = _name(sock.getsockname), _name(sock.getpeername)

    def filename(self, clients: Iterable[_socket.socket]) -> str:
        """What QEMU calls the device, given the sockets of the clients connected now."""
        if self._filename is not None:
            return self._filename
        if not self.listening:
            assert self.sock is not None
            if isinstance(self.address, str) or self.address is None:
                connected = f"unix:{self.address or ''}"
            else:
                connected = f"tcp:{_host_port(self.local)} <-> {_host_port(self.address)}"
            if _hung_up(self.sock):
                return f"disconnected:{connected.partition(' <-> ')[0]}"
            return connected
        for client in clients:
            if client.fileno() >= 0 and _name(client.getsockname) == self.bound:
                if isinstance(self.address, str):
                    return f"unix:{self.address},server=on"
                peer = _name(client.getpeername)
                return f"tcp:{_host_port(self.address)},server=on <-> {_host_port(peer)}"
        if isinstance(self.address, str):
            return f"disconnected:unix:{self.address},server=on"
        return f"disconnected:tcp:{_host_port(self.address)},server=on"


def query_chardev(
    chardevs: list[Chardev], clients: Callable[[], Iterable[_socket.socket]]
) -> list[dict[str, object]]:
    """``query-chardev``'s reply for ``chardevs`` (in the order QEMU made them)."""
    by_label = {c.label: c for c in chardevs}
    connected = list(clients())
    return [
        {
            "frontend-open": by_label[label].frontend_open,
            "filename": by_label[label].filename(connected),
            "label": label,
        }
        for label in reversed(ghash_order(by_label))
    ]


def _hung_up(sock: _socket.socket) -> bool:
    """Whether ``sock``'s peer has gone (QEMU notices even where nothing reads)."""
    if sock.fileno() < 0:
        return True
    try:
        return sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def _name(get: Callable[[], object]) -> str | tuple[str, int] | None:
    """A socket's address (``getsockname`` or ``getpeername``): a path, or host and port."""
    with contextlib.suppress(OSError):
        address = get()
        if isinstance(address, bytes):  # an abstract or unnamed unix address
            return address.decode(errors="replace")
        if isinstance(address, str):
            return address
        if isinstance(address, tuple):
            return (str(address[0]), int(address[1]))
    return None


def _host_port(address: str | tuple[str, int] | None) -> str:
    if not isinstance(address, tuple):
        return ""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
