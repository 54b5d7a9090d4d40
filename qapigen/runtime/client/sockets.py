"""Listening sockets for a client that waits for its server to connect."""

from __future__ import annotations

import os
import socket

#: Where a socket is: a unix socket's path, or a TCP ``(host, port)``.
Address = str | tuple[str, int]


def server_socket(address: Address) -> socket.socket:
    """A socket listening at ``address``, for :meth:`AsyncClient.accept`.

    A unix socket's file is made 0600 before it listens (no one else can
    connect at any moment); an existing file is an error, never replaced.
    A TCP socket listens where it is told: give a loopback host to keep it
    private.
    """
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(address)
            try:
                os.chmod(address, 0o600)  # before listen(): no connection yet
                sock.listen(1)
            except BaseException:
                os.unlink(address)
                raise
        except BaseException:
            sock.close()
            raise
        return sock
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
        sock.listen(1)
    except BaseException:
        sock.close()
        raise
    return sock
