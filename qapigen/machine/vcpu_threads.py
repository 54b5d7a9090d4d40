"""Host threads that stand for the vCPUs, so that ``query-cpus-fast`` gives each
vCPU a thread id of its own, as QEMU does.

libvirt reads those ids to pin each vCPU (``sched_setaffinity``) and, with
cgroups on, to move it into its own cgroup: with real threads behind them, both
work and act on a thread of the program (which sleeps: the simulator runs no
guest code).  The threads are made when the ids are first asked for, never to
start (a forked ``-daemonize`` child keeps no thread of its parent's), and end
when the machine's objects are let go.
"""

from __future__ import annotations

import _thread

__all__ = ["VcpuThreads"]


class VcpuThreads:
    """Idle host threads, one per vCPU, made on demand."""

    __slots__ = ("_ids", "_stop")

    def __init__(self) -> None:
        self._ids: list[int] = []
        #: Held until :meth:`close`; each thread waits for it, then passes it on.
        self._stop = _thread.allocate_lock()
        self._stop.acquire()

    def ids(self, count: int) -> list[int]:
        """The native thread ids of the first ``count`` vCPUs' threads."""
        while len(self._ids) < count:
            ready = _thread.allocate_lock()
            ready.acquire()
            _thread.start_new_thread(self._idle, (ready,))
            ready.acquire()  # the thread has put its id in
        return self._ids[:count]

    def _idle(self, ready: _thread.LockType) -> None:
        self._ids.append(_thread.get_native_id())
        ready.release()
        self._stop.acquire()  # until close()
        self._stop.release()  # the next thread's turn

    def close(self) -> None:
        """Let the threads end."""
        if self._stop.locked() and self._ids:
            self._stop.release()
        self._ids = []
