"""A machine process — QEMU, or ``qapigen vm`` with the same options — and a typed
client on its QMP monitor.

::

    with Machine(["-machine", "none"]) as machine:       # qapigen vm by default
        machine.client.stop()
        assert machine.client.query_status().status is RunState.PAUSED
    machine.exitcode, machine.stderr                      # 0, and what it printed

The monitor is one end of a socket pair (``-chardev socket,fd=N`` with ``-mon
...,mode=control``, as QEMU's own harness does), or a unix socket in a folder
only the owner can enter.  The process's output goes to files in that folder,
read at any time and kept after the end.  Shutting down asks nicely first
(``quit``), then sends SIGTERM, then SIGKILL, each after a timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, overload

from qemu.qmp import QMPError

from ..runtime.client import SyncClient

# As in every module, not typing.TYPE_CHECKING (see docs/architecture.md).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from types import TracebackType

    from ..simulator_api.client import SyncClient as SimulatorClient

SC = TypeVar("SC", bound=SyncClient)

#: How to run ``qapigen vm``: with this interpreter, so that it is the installed one.
VM_COMMAND = (sys.executable, "-m", "qapigen", "vm")
#: The monitor's chardev id; unusual, so that it does not clash with the caller's ids.
MONITOR_ID = "qapigen-monitor"


class LaunchError(RuntimeError):
    """The machine did not come up: its exit status (None: it was still running, and was
    killed) and what it printed on stderr."""

    def __init__(self, argv: Sequence[str], exitcode: int | None, stderr: str, why: str) -> None:
        status = "did not answer" if exitcode is None else f"exited with status {exitcode}"
        text = f"{argv[0]} {status} ({why})"
        if stderr.strip():
            text += ":\n" + stderr.rstrip()
        super().__init__(text)
        self.exitcode = exitcode
        self.stderr = stderr


class Machine(Generic[SC]):
    """A QEMU or ``qapigen vm`` process with a typed client on its monitor.

    ``args``: the program's arguments (the harness adds only its monitor's);
    ``binary``: the program, a path or a command as a list (default
    :data:`VM_COMMAND`); ``client``: makes the typed client (the generated
    ``SyncClient`` of the bindings to use; default the project's own,
    ``qapigen.simulator_api``); ``monitor``: ``"socketpair"`` or ``"socket"``
    (a unix socket); ``timeout``: seconds for the machine to come up, and the
    client's default for each command and wait; ``shutdown_timeout``: seconds
    for each step of :meth:`shutdown`; ``env``: the process's environment.
    """

    @overload
    def __init__(
        self: Machine[SimulatorClient],
        args: Sequence[str] = (),
        *,
        binary: str | Sequence[str] | None = None,
        monitor: Literal["socketpair", "socket"] = "socketpair",
        timeout: float | None = 30.0,
        shutdown_timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        client: Callable[[], SC],
        binary: str | Sequence[str] | None = None,
        monitor: Literal["socketpair", "socket"] = "socketpair",
        timeout: float | None = 30.0,
        shutdown_timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None: ...

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        client: Callable[[], Any] | None = None,
        binary: str | Sequence[str] | None = None,
        monitor: Literal["socketpair", "socket"] = "socketpair",
        timeout: float | None = 30.0,
        shutdown_timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if monitor not in ("socketpair", "socket"):
            raise ValueError(f"monitor must be 'socketpair' or 'socket', not {monitor!r}")
        if binary is None:
            command = list(VM_COMMAND)
        elif isinstance(binary, str):
            command = [binary]
        else:
            command = list(binary)
        self.args = list(args)
        self._command = command
        self._make_client = client
        self.monitor = monitor
        self.timeout = timeout
        self.shutdown_timeout = shutdown_timeout
        self._env = None if env is None else dict(env)
        self._client: SC | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._folder: str | None = None
        self._output: tuple[str, str] | None = None
        #: The whole command line, once launched (the monitor's options included).
        self.argv: list[str] = []

    # -- starting ----------------------------------------------------------------

    def launch(self) -> Machine[SC]:
        """Start the process and connect the client (or :class:`LaunchError`)."""
        if self._proc is not None:
            raise RuntimeError("the machine was launched already")
        self._output = None
        self._folder = tempfile.mkdtemp(prefix="qapigen-machine-")  # 0700
        monitor_args, ours, theirs, path = self._monitor()
        self.argv = [*self._command, *self.args, *monitor_args]
        with (
            open(os.path.join(self._folder, "stdout"), "wb") as out,
            open(os.path.join(self._folder, "stderr"), "wb") as err,
        ):
            try:
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    pass_fds=() if theirs is None else (theirs.fileno(),),
                    env=self._env,
                )
            except BaseException:
                for sock in (ours, theirs):
                    if sock is not None:
                        sock.close()
                self._clean_up()
                raise
        if theirs is not None:
            theirs.close()  # the child's now
        try:
            self._client = self._connect(ours if ours is not None else path)
        except TimeoutError as err:  # alive but mute: no use waiting for it to end
            self._fail(str(err), wait=False)
        except (QMPError, OSError, EOFError) as err:
            self._fail(str(err) or type(err).__name__, wait=True)
        return self

    def _monitor(self) -> tuple[list[str], socket.socket | None, socket.socket | None, str]:
        """The monitor's options, our end and the child's end of a socket pair, or a path."""
        assert self._folder is not None
        if self.monitor == "socketpair":
            ours, theirs = socket.socketpair()
            args = ["-chardev", f"socket,id={MONITOR_ID},fd={theirs.fileno()}"]
            return [*args, "-mon", f"chardev={MONITOR_ID},mode=control"], ours, theirs, ""
        path = os.path.join(self._folder, "qmp.sock")
        return ["-qmp", f"unix:{path},server=on,wait=off"], None, None, path

    def _connect(self, where: socket.socket | str) -> SC:
        client: SC
        if self._make_client is None:
            from ..simulator_api.client import SyncClient as SimulatorClient

            client = SimulatorClient()  # type: ignore[assignment]
        else:
            client = self._make_client()
        client.timeout = self.timeout
        try:
            if isinstance(where, str):
                self._wait_for_socket(where)
            client.connect(where)
        except BaseException:
            client.close()
            raise
        return client

    def _wait_for_socket(self, path: str) -> None:
        """Until the process listens at ``path``: bounded by the timeout and its life.

        The file's existence is not enough: QEMU binds the socket a moment
        before it listens, and a connection in between is refused.  So a
        connection is tried (and closed: the monitor greets the next one).
        """
        assert self._proc is not None
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(path)
                    return
                except (FileNotFoundError, ConnectionRefusedError):
                    pass
            if self._proc.poll() is not None:
                raise EOFError("the process ended")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"no socket at {path} within {self.timeout:g} s")
            time.sleep(0.01)

    def _fail(self, why: str, *, wait: bool) -> None:
        """The process did not come up: end it, and raise LaunchError with its output.

        ``wait``: it is likely on its way out (it closed the monitor): let it finish,
        for its exit status and last words."""
        assert self._proc is not None
        try:
            exitcode = self._proc.wait(self.shutdown_timeout) if wait else self._proc.poll()
        except subprocess.TimeoutExpired:
            exitcode = None
        self._end(hard=True)
        raise LaunchError(self.argv, exitcode, self.stderr, why)

    # -- while it runs -----------------------------------------------------------

    @property
    def client(self) -> SC:
        """The typed client on the machine's monitor."""
        if self._client is None:
            raise RuntimeError("the machine is not running: launch() it first")
        return self._client

    @property
    def pid(self) -> int:
        """The process's id."""
        if self._proc is None:
            raise RuntimeError("the machine was not launched")
        return self._proc.pid

    @property
    def exitcode(self) -> int | None:
        """The exit status once the process has ended (minus the signal that ended it,
        as :mod:`subprocess` gives it); None while it runs or before it was launched."""
        return None if self._proc is None else self._proc.poll()

    @property
    def stdout(self) -> str:
        """What the process wrote on its standard output so far."""
        return self._read("stdout")

    @property
    def stderr(self) -> str:
        """What the process wrote on its standard error so far."""
        return self._read("stderr")

    def _read(self, name: str) -> str:
        if self._output is not None:
            return self._output[0 if name == "stdout" else 1]
        if self._folder is None:
            return ""
        with open(os.path.join(self._folder, name), "rb") as fp:
            return fp.read().decode(errors="replace")

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end by itself (a guest that powers off, a panic with
        ``-action panic=exit-failure`` ...); its exit status.  ``timeout`` defaults to
        the machine's; after it :class:`subprocess.TimeoutExpired`, and it keeps running."""
        if self._proc is None:
            raise RuntimeError("the machine was not launched")
        # The client stays, for the events that came before the end.
        return self._proc.wait(self.timeout if timeout is None else timeout)

    # -- ending ------------------------------------------------------------------

    def shutdown(self, *, hard: bool = False, timeout: float | None = None) -> int:
        """End the machine; its exit status.

        Gracefully: ``quit``, then SIGTERM if it has not ended within ``timeout``
        (default :attr:`shutdown_timeout`), then SIGKILL after as long again.
        ``hard``: SIGKILL at once.  The output stays readable afterwards.
        """
        if self._proc is None:
            raise RuntimeError("the machine was not launched")
        if not hard and self._proc.poll() is None:
            limit = self.shutdown_timeout if timeout is None else timeout
            self._ask_to_quit(limit)
            for stop in (self._proc.terminate, self._proc.kill):
                try:
                    self._proc.wait(limit)
                    break
                except subprocess.TimeoutExpired:
                    stop()
        self._end(hard=True)
        return self._proc.wait()

    def kill(self) -> int:
        """End the machine with SIGKILL; its exit status (``-signal.SIGKILL``)."""
        return self.shutdown(hard=True)

    def _ask_to_quit(self, limit: float) -> None:
        if self._client is None or self._client.closed:
            return
        # Gone already, or deaf: the signals follow.
        with contextlib.suppress(QMPError, OSError, EOFError, TimeoutError):
            self._client.with_options(timeout=limit).execute("quit")

    def _end(self, *, hard: bool) -> None:
        """Close the client, end the process, keep its output, remove the folder."""
        if self._client is not None:
            client, self._client = self._client, None
            client.close()
        if self._proc is not None and self._proc.poll() is None and hard:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()
        if self._folder is not None and self._output is None:
            self._output = (self._read("stdout"), self._read("stderr"))
        self._clean_up()

    def _clean_up(self) -> None:
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> Machine[SC]:
        if self._proc is None:
            self.launch()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._folder is not None:
            self.shutdown()

    def __repr__(self) -> str:
        state = "not launched" if self._proc is None else f"pid {self._proc.pid}"
        if self.exitcode is not None:
            state = f"exited with {self.exitcode}"
        return f"<Machine {' '.join(self._command)} ({state})>"
