"""Where ``qapigen vm`` writes: stderr and logs that a vanished reader cannot break.

QEMU goes on when nobody reads what it writes; so does the program: a write
that fails ends that log, never the program, nor changes its exit status.
"""

from __future__ import annotations

import os
import sys

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["FileLog", "StreamLog", "print_stderr", "print_stdout", "quiet_streams"]


def print_stdout(text: str) -> None:
    """Write ``text`` to stdout now; nothing if nobody reads it any more."""
    if sys.stdout is None:  # there was none at start
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # nobody reads stdout any more: that must not change the exit status


def print_stderr(text: str) -> None:
    """Write ``text`` to stderr now; nothing if nobody reads it any more."""
    if sys.stderr is None:  # there was none at start
        return
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # nobody reads stderr any more: that must not end the program


def quiet_streams() -> None:
    """Flush stdout and stderr now; if nobody reads them, point them at
    /dev/null, so that Python's own flush at exit cannot fail (and turn the
    exit status into 120)."""
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        if stream is None:  # there was none at start: its descriptor is not ours
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, fd)
                os.close(devnull)
            except OSError:
                pass


class StreamLog:
    """A log on a text stream, flushed at every write (as QEMU's log: whatever
    happens next, it is there)."""

    def __init__(self, fp: TextIO) -> None:
        self._fp = fp
        self._broken = False

    def write(self, text: str) -> None:
        """Append ``text``, unless the log has ended."""
        if self._broken:
            return
        try:
            self._fp.write(text)
            self._fp.flush()
        except OSError:
            self._broken = True  # the reader is gone: the log ends, the program goes on


class FileLog:
    """A log on a file descriptor, written a line at a time, whole (qtest's log)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._broken = False

    def write(self, text: str) -> None:
        """Append ``text``, unless the log has ended."""
        if not self._broken:
            try:
                os.write(self.fd, text.encode("latin-1"))
            except OSError:
                self._broken = True  # the reader is gone: the log ends, the program goes on

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self.fd)
