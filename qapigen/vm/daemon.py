"""``-daemonize``, as QEMU does it: the program detaches from its terminal and
its parent, which exits only once the daemon is ready.

The parent forks and waits on a pipe; the child starts a session of its own
and forks again, so that the daemon (the grandchild) can never take a
controlling terminal, and sets the umask to 027.  What goes wrong before the
daemon is ready is printed on the standard error it inherited, the parent's,
and the daemon exits with QEMU's status; the parent then exits 1 (it reads no
status byte).  Once its sockets listen and its pid file holds its pid, the
daemon changes to ``/``, points its standard streams at ``/dev/null`` and
writes a zero byte to the pipe: the parent exits 0.
"""

from __future__ import annotations

import contextlib
import os
import signal

__all__ = ["Daemon", "is_daemonized"]

# Whether this process is a daemon that -daemonize made.
_daemonized = False


def is_daemonized() -> bool:
    """Whether this process is the daemon (QEMU's ``is_daemonized()``)."""
    return _daemonized


class Daemon:
    """The daemon's side of the pipe to the waiting parent."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        if os.fork() > 0:
            os.close(write_end)
            _wait_for_child(read_end)
        os.close(read_end)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        os.umask(0o027)
        global _daemonized
        _daemonized = True
        for signum in (signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN):
            signal.signal(signum, signal.SIG_IGN)
        self._pipe: int | None = write_end

    def ready(self) -> None:
        """Detach from the terminal's streams and let the parent exit 0."""
        if self._pipe is None:
            return
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        with contextlib.suppress(OSError):  # the parent is gone: nobody waits for the status
            os.write(self._pipe, b"\0")
        os.close(self._pipe)
        self._pipe = None


def _wait_for_child(fd: int) -> None:
    """The parent: exit 0 once the daemon says it is ready, else 1 (as QEMU's)."""
    try:
        status = os.read(fd, 1)
    except OSError:
        status = b""
    os._exit(0 if status == b"\0" else 1)
