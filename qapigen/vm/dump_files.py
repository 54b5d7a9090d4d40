"""Where ``qapigen vm``'s memory dumps go: the machine's files, opened for it.

The machine writes a dump to an open file (:mod:`qapigen.machine.dump`) and
knows neither monitors nor paths; :class:`DumpFiles` opens what
``dump-guest-memory``'s ``protocol`` names:

- ``fd:NAME``: the descriptor the current client's monitor keeps as NAME
  (``getfd``), taken from it (the dump closes it);
- ``file:PATH``: a file created as QEMU creates it (write-only, mode 0400
  before the umask, an existing file truncated), but more carefully: the
  path's last component is not followed if it is a symbolic link, and what
  stands there already must be a regular file of this user's, so that a
  dump never writes through a link, into a device or a FIFO, or over
  someone else's file (the error says why, in QEMU's form: ``Could not
  create 'PATH': REASON``).
"""

from __future__ import annotations

import fcntl
import io
import os
import stat

from ..runtime import QMPError

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import BinaryIO

    from ..qmp.service import QMPService

__all__ = ["DumpFiles"]


class DumpFiles:
    """Opens dump targets for a machine served by ``service``."""

    __slots__ = ("_service",)

    def __init__(self, service: QMPService) -> None:
        self._service = service

    def named(self, name: str) -> BinaryIO:
        """``fd:NAME``: the current monitor's descriptor NAME, as a file."""
        fd = self._service.take_named_fd(name)
        try:
            # A file opened to append puts every write at its end: holes made
            # by seeking would be lost, so it is written sequentially, zeros too.
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
                return _Sequential(fd, "wb")
            return open(fd, "wb", buffering=0)  # the dump closes it
        except OSError as err:  # a directory, say: it cannot be written
            os.close(fd)
            raise QMPError(
                "GenericError", f"dump: failed to write elf header: {err.strerror}"
            ) from None

    def create(self, path: str) -> BinaryIO:
        """``file:PATH``: a file created (or a regular file of ours truncated) at PATH."""

        def refuse(reason: str) -> QMPError:
            return QMPError("GenericError", f"Could not create '{path}': {reason}")

        # O_NONBLOCK: a FIFO at the path must not hold the program up.
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(path, flags, stat.S_IRUSR)
        except OSError as err:
            raise refuse(err.strerror or str(err)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise refuse("not a regular file")
            if st.st_uid != os.geteuid():
                raise refuse(f"the file belongs to another user (uid {st.st_uid})")
            os.ftruncate(fd, 0)
            os.set_blocking(fd, True)
        except OSError as err:
            os.close(fd)
            raise refuse(err.strerror or str(err)) from None
        except QMPError:
            os.close(fd)
            raise
        return open(fd, "wb", buffering=0)  # the dump closes it


class _Sequential(io.FileIO):
    """A file written only in order (one that appends: it cannot have holes)."""

    def seekable(self) -> bool:
        return False
