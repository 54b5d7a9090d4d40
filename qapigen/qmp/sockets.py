"""Listening sockets, private by default, for both server adapters.

They are made with ``_socket``, the C module under :mod:`socket`
(``_socket.socket`` is :data:`socket.SocketType`): importing :mod:`socket`
itself builds its enums (``AddressFamily`` and others), about 2.5 ms of the
~35 ms in which ``qapigen vm`` must start, for nothing these sockets need.

A unix socket's file is ours to remove, and only ours: :class:`SocketFile`
remembers which file was created (its device and inode), so that closing
removes it only if the path still names that file.
"""

from __future__ import annotations

import _socket
import errno
import os
import stat

#: Connections the kernel holds for a listening socket until they are accepted.
BACKLOG = 100

# sun_path holds 108 bytes, the terminating NUL included.
_SUN_PATH_MAX = 107


class UnlinkError(OSError):
    """What stands at a unix socket's path cannot be replaced (QEMU: "Failed to unlink socket")."""


class SocketFile:
    """The file of a unix socket this process created."""

    __slots__ = ("_identity", "path")

    def __init__(self, path: str, st: os.stat_result) -> None:
        # Absolute: a daemon changes to / once its sockets are made.
        self.path = os.path.abspath(path)
        self._identity = (st.st_dev, st.st_ino)

    def remove(self) -> None:
        """Remove the file, if ``path`` still names it (nobody replaced it since)."""
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                os.unlink(self.path)
        except OSError:
            pass  # gone already, or its folder: nothing of ours to remove


def _check_replaceable(path: str) -> None:
    """Refuse to replace anything at ``path`` but a socket (a stale one, as QEMU
    replaces): a directory as QEMU refuses it, any other file because it is not ours."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise UnlinkError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)


def unix_listener(path: str, mode: int = 0o600) -> tuple[_socket.socket, SocketFile]:
    """A unix socket listening at ``path``, created with ``mode``, and its file.

    A stale socket at ``path`` is replaced; a directory or any other file there
    is refused (:class:`UnlinkError`, :class:`FileExistsError`) and left alone.
    The socket appears at ``path`` only once it accepts connections: it is bound
    under a fresh name beside it (``bind()`` never reuses an existing name, so
    nobody else's file is touched) and renamed.  Whatever fails, nothing this
    call created is left behind.
    """
    _check_replaceable(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    created: SocketFile | None = None
    # Created private: no window in which others could connect.
    old = os.umask(0o777 & ~mode)
    try:
        bound = _bind_fresh(sock, path)
        created = SocketFile(bound, os.lstat(bound))
        sock.listen(BACKLOG)
        if bound != path:
            _check_replaceable(path)
            os.rename(bound, path)
            created.path = path
    except BaseException:
        sock.close()
        if created is not None:
            created.remove()
        raise
    finally:
        os.umask(old)
    return sock, created


def _bind_fresh(sock: _socket.socket, path: str) -> str:
    """Bind ``sock`` to a name beside ``path`` that nothing holds; that name."""
    if len(os.fsencode(path)) + 10 > _SUN_PATH_MAX:
        # No room in sun_path for a staging name: bind in place, after taking
        # away the stale socket there.
        _check_replaceable(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock.bind(path)
        return path
    for _ in range(15):
        staging = f"{path}.{os.urandom(4).hex()}~"
        try:
            sock.bind(staging)
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            continue  # the name is taken: draw another
        return staging
    raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE), path)


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
