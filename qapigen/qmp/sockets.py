"""Listening sockets, private by default, for both server adapters.

They are made with ``_socket``, the C module under :mod:`socket`
(``_socket.socket`` is :data:`socket.SocketType`): importing :mod:`socket`
itself builds its enums (``AddressFamily`` and others), about 2.5 ms of the
~35 ms in which ``qapigen vm`` must start, for nothing these sockets need.
"""

from __future__ import annotations

import _socket
import os

#: Connections the kernel holds for a listening socket until they are accepted.
BACKLOG = 100


def unix_listener(path: str, mode: int = 0o600) -> _socket.socket:
    """A unix socket listening at ``path`` (replacing a stale one), created with ``mode``.

    The socket appears at ``path`` only once it accepts connections (it is
    bound under another name and renamed), so a client that waits for the
    file to exist can connect at once.
    """
    staging = f"{path}.{os.getpid()}~"
    if len(os.fsencode(staging)) > 107:  # beyond sun_path: bind in place
        staging = path
    if os.path.exists(staging):
        os.unlink(staging)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    # Created private: no window in which others could connect.
    old = os.umask(0o777 & ~mode)
    try:
        sock.bind(staging)
        os.chmod(staging, mode)
        sock.listen(BACKLOG)
        if staging != path:
            os.replace(staging, path)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    return sock


def tcp_listener(host: str = "127.0.0.1", port: int = 0) -> _socket.socket:
    """A TCP socket listening on ``host`` (loopback by default) and ``port`` (0: any free one)."""
    family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
