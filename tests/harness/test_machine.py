"""The machine harness, for real QEMU 10.0.2 and ``qapigen vm`` alike, with the same options:
launch (socket pair or socket monitor), the typed client, output, graceful shutdown
(quit, then SIGTERM, then SIGKILL), exit status and output afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import qapigen.simulator_api as qmp
from qapigen.harness import VM_COMMAND, LaunchError, Machine

from ..support.apis import qemu_api
from ..support.emulators import HAVE_QEMU, NO_QEMU, QEMU, QEMU_NONE, needs_qemu

#: How long each step of a shutdown may take in the tests that must see it run out.
#: They make sure it does (the process is stopped, or its monitor closed): no timing
#: is asserted.
SHORT = 0.3


@pytest.fixture(params=["vm", "qemu"])
def binary(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``qapigen vm`` (None: the default), then real QEMU 10.0.2."""
    if request.param == "qemu":
        if not HAVE_QEMU:
            pytest.skip(NO_QEMU)
        yield QEMU
    else:
        yield None


@pytest.mark.parametrize("monitor", ["socketpair", "socket"])
def test_launch_talk_quit(binary: str | None, monitor: Any) -> None:
    """The typed client is ready at once; leaving the block quits it: exit status 0, the
    process gone, its private folder (and the socket in it) removed."""
    with Machine(["-S", *QEMU_NONE], binary=binary, monitor=monitor) as machine:
        assert machine.client.query_status().status is qmp.RunState.PRELAUNCH
        machine.client.cont()
        assert machine.client.events.wait_for(qmp.ResumeEvent).timestamp is not None
        assert machine.exitcode is None
        if monitor == "socket":
            spec = machine.argv[machine.argv.index("-qmp") + 1]
            folder = Path(spec.removeprefix("unix:").split(",")[0]).parent
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        pid = machine.pid
    assert machine.exitcode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    if monitor == "socket":
        assert not folder.exists()
    with pytest.raises(RuntimeError, match="not running"):
        machine.client.query_status()


@needs_qemu
def test_the_simulator_gets_qemus_options() -> None:
    """The default program is qapigen vm, started with the very options QEMU gets."""
    assert QEMU is not None
    argvs = []
    for binary in (None, QEMU):
        with Machine(["-S", *QEMU_NONE], binary=binary) as machine:
            argvs.append([re.sub(r"fd=\d+", "fd=N", arg) for arg in machine.argv])
    assert argvs[0][: len(VM_COMMAND)] == list(VM_COMMAND)
    assert argvs[1][0] == QEMU
    assert argvs[0][len(VM_COMMAND) :] == argvs[1][1:]
    assert argvs[1][-4:] == [
        "-chardev",
        "socket,id=qapigen-monitor,fd=N",
        "-mon",
        "chardev=qapigen-monitor,mode=control",
    ]


def test_a_bad_command_line_is_a_launch_error(binary: str | None) -> None:
    """The program refuses its options: LaunchError with its exit status and message."""
    with pytest.raises(LaunchError) as err:
        Machine(["-no-such-option"], binary=binary).launch()
    assert err.value.exitcode == 1
    assert err.value.stderr.endswith(": -no-such-option: invalid option\n")
    assert "exited with status 1" in str(err.value)


def test_output_is_captured_and_kept(binary: str | None) -> None:
    """What the process prints is readable while it runs and after it ended.  Here: the
    line each program prints on SIGTERM, which shutdown() sends when quit cannot be
    asked (the client closed) and the process has not ended within the timeout."""
    machine = Machine([*QEMU_NONE], binary=binary, shutdown_timeout=SHORT).launch()
    assert machine.stderr == ""
    machine.client.close()
    assert machine.shutdown() == 0
    assert "terminating on signal 15" in machine.stderr
    assert machine.stdout == ""


def test_a_hung_machine_is_killed(binary: str | None) -> None:
    """Neither quit nor SIGTERM ends a stopped process: SIGKILL does, after the timeouts."""
    machine = Machine([*QEMU_NONE], binary=binary, shutdown_timeout=SHORT).launch()
    os.kill(machine.pid, signal.SIGSTOP)
    assert machine.shutdown() == -signal.SIGKILL
    assert machine.exitcode == -signal.SIGKILL


def test_kill(binary: str | None) -> None:
    """kill(): SIGKILL at once."""
    machine = Machine([*QEMU_NONE], binary=binary).launch()
    assert machine.kill() == -signal.SIGKILL
    assert machine.shutdown() == -signal.SIGKILL  # ended already: the same status


def test_a_machine_that_exits_by_itself() -> None:
    """A guest panic with -action panic=exit-failure ends qapigen vm with status 1, as it
    ends QEMU; wait() gives the status, and the events that came before are still there."""
    with Machine(["-device", "pvpanic", "-action", "panic=exit-failure"]) as machine:
        machine.client.x_guest_pvpanic_write(value=1)
        assert machine.wait() == 1
        panic = machine.client.events.wait_for(qmp.GuestPanickedEvent)
        assert panic.action is qmp.GuestPanicAction.POWEROFF
    assert machine.exitcode == 1


@needs_qemu
def test_any_bindings_client() -> None:
    """The client of other bindings: here QEMU's full schema's, decoding strictly."""
    q = qemu_api()

    def strict_client() -> Any:
        return q.client.SyncClient(strict=True)

    assert QEMU is not None
    with Machine([*QEMU_NONE], binary=QEMU, client=strict_client) as machine:
        assert machine.client.strict
        assert machine.client.query_version().qemu.major == 10
        assert any(c.name == "blockdev-add" for c in machine.client.query_commands())


def test_a_program_that_never_answers(tmp_path: Path) -> None:
    """A program that runs but never speaks QMP: LaunchError once the timeout has run out
    (the program sleeps far longer), and the process does not outlive it."""
    script = tmp_path / "mute.py"
    script.write_text("import time\ntime.sleep(600)\n")
    machine = Machine([str(script)], binary=sys.executable, timeout=SHORT)
    with pytest.raises(LaunchError, match="did not answer") as err:
        machine.launch()
    assert err.value.exitcode is None
    assert machine.exitcode == -signal.SIGKILL


# A program that binds its monitor's socket, waits, and only then listens (as QEMU
# does, in a shorter moment), then serves it as qapigen vm: a connection in between
# is refused although the socket's file is there.
_LATE_LISTENER = """
import os, socket, sys, time
args = sys.argv[1:]
at = args.index("-qmp")
path = args[at + 1].removeprefix("unix:").split(",")[0]
del args[at : at + 2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(path)
time.sleep(0.5)
sock.listen()
os.set_inheritable(sock.fileno(), True)
chardev = f"socket,id=m,fd={sock.fileno()},server=on,wait=off"
os.execv(sys.executable, [sys.executable, "-m", "qapigen", "vm", *args,
         "-chardev", chardev, "-mon", "chardev=m,mode=control"])
"""


def test_a_socket_bound_before_it_listens_is_waited_for(tmp_path: Path) -> None:
    """The harness connects once the program listens, not once the file exists."""
    program = tmp_path / "late_listener.py"
    program.write_text(_LATE_LISTENER)
    binary = [sys.executable, str(program)]
    with Machine(["-S", *QEMU_NONE], binary=binary, monitor="socket") as machine:
        assert machine.client.query_status().status is qmp.RunState.PRELAUNCH
    assert machine.exitcode == 0
