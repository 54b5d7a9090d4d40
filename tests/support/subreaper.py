"""Run a daemon as a child subreaper, in a mount namespace of its own.

Usage: ``python subreaper.py [--bind SRC:DST]... -- PROGRAM [ARG]...``
(a usage error exits with status 2).

A program, not a test module (standard library only; the libvirt fixture runs
it, see ``tests/support/libvirtd.py``).  It

* becomes a child subreaper (``PR_SET_CHILD_SUBREAPER``), so that the
  processes the daemon leaves behind (QEMU after ``-daemonize``, the children
  it forks and abandons) are reaped here at once: process 1 on these machines
  reaps orphans about 1.4 s late, and libvirt polls until a pid is gone;
* with ``--bind``, enters a new mount namespace, makes every mount in it
  private and bind-mounts each SRC on DST there, so that the daemon sees
  private directories in the places it insists on (``/etc/libvirt``, ...)
  while nothing changes for any other process;
* runs PROGRAM, forwards SIGTERM and SIGINT to it, and reaps every child
  until PROGRAM exits; then it ends the orphans left (SIGTERM, then SIGKILL
  after a bounded wait: they are PROGRAM's, started in this run) and exits
  with PROGRAM's status.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

_USAGE = "subreaper.py [--bind SRC:DST]... -- PROGRAM [ARG]..."
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_BIND = 4096

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _private_mounts(binds: list[tuple[str, str]]) -> None:
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for src, dst in binds:
        _check(_libc.mount(src.encode(), dst.encode(), None, MS_BIND, None), f"bind {src} {dst}")


def _children() -> list[int]:
    """The processes whose parent is this one (the orphans reparented here too)."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fp:
                stat = fp.read()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces: read after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[1] == me:
            found.append(int(entry))
    return found


def _reap_all(deadline: float) -> None:
    """Reap what is already gone; returns when no child is left or at ``deadline``."""
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def _end_leftovers() -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        left = _children()
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        _reap_all(time.monotonic() + wait)


def main(argv: list[str]) -> int:
    binds: list[tuple[str, str]] = []
    while argv and argv[0] != "--":
        if argv[0] != "--bind" or len(argv) < 2 or ":" not in argv[1]:
            print(f"subreaper: usage: {_USAGE}", file=sys.stderr)
            return 2
        src, dst = argv[1].split(":", 1)
        binds.append((src, dst))
        argv = argv[2:]
    program = argv[1:]
    if not program:
        print("subreaper: no program to run", file=sys.stderr)
        return 2
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
    if binds:
        _private_mounts(binds)
    # The handlers come before the fork: a signal that arrives before the
    # program runs is kept for it, not lost or fatal here.
    child: list[int] = []
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if not child:
            pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(child[0], signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    main_pid = os.fork()
    if main_pid == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execvp(program[0], program)
        finally:
            os._exit(127)
    child.append(main_pid)
    for signum in pending:
        forward(signum, None)
    status = 1
    while True:
        try:
            pid, wstatus = os.wait()  # retried after a signal's handler (PEP 475)
        except ChildProcessError:
            break
        if pid == main_pid:
            status = os.waitstatus_to_exitcode(wstatus)
            break
    _end_leftovers()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
