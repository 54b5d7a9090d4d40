"""``qapigen vm``, the program, as a test harness uses it: a process and its QMP sockets.

Every test starts ``python -m qapigen vm ...`` from the repository's root and
talks to it over real sockets only:

* every oracle scenario is replayed with the scenario's own command line (its
  temporary paths replaced).  The recorded management transcript goes over one
  connection, byte for byte, and what comes back must be what QEMU wrote: the
  same lines (exact bytes for replies and the greeting but its ``package``,
  events with their timestamps masked), in the same order, the end of the
  stream where QEMU closed it, and the same exit status.  The guest is played
  on a second connection through the unstable ``x-guest-*`` commands by the
  boot-sector model of ``tests/support/boot_sector.py`` (see :class:`RemoteMachine`);
* a management client that dies before a panic learns of it after
  reconnecting, from ``query-status`` (the seed's point);
* the command line (QEMU's errors, ``-pidfile``, several ``-qmp``, TCP),
  signals, ``quit`` and the exit status;
* fleet mode: many machines in one process, each on its own socket.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from qapigen import simulator_api
from qapigen.runtime import Event

from ..support.boot_sector import BootSector
from ..support.oracle_scenarios import is_wait_step, oracle_params, transcript_steps
from ..support.paths import REPO
from ..support.qemu import BASE_OPTIONS, skip_without_qemu

VM = (sys.executable, "-m", "qapigen", "vm")
TIMEOUT = 10.0
_EARLY_EVENTS = 8  # at most, before a greeting (QEMU's start sends one, RESUME)
Address = str | tuple[str, int]


# -- processes ---------------------------------------------------------------------


class VMProcess:
    """A running ``qapigen vm``; its output is collected when it ends."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [*VM, *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout = self.stderr = ""
        self._collected = False

    def wait_ready(self, sockets: tuple[str, ...]) -> None:
        """Wait for the sockets to appear (they accept connections from then on)."""
        deadline = time.monotonic() + TIMEOUT
        while not all(os.path.exists(path) for path in sockets):
            if self.proc.poll() is not None:
                self.wait()
                pytest.fail(f"qapigen vm {' '.join(self.args)} exited early:\n{self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"qapigen vm {' '.join(self.args)}: no socket after {TIMEOUT} s")
            time.sleep(0.005)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = TIMEOUT) -> int:
        """The exit status, once the process has ended."""
        if not self._collected:
            out, err = self.proc.communicate(timeout=timeout)
            self.stdout, self.stderr, self._collected = out, err, True
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


@pytest.fixture
def start_vm() -> Iterator[Callable[..., VMProcess]]:
    """Starts ``qapigen vm`` processes; any still running at the end are killed."""
    started: list[VMProcess] = []

    def start(*args: str, sockets: tuple[str, ...] = ()) -> VMProcess:
        vm = VMProcess(list(args))
        started.append(vm)
        vm.wait_ready(sockets)
        return vm

    yield start
    for vm in started:
        vm.kill()


def run_vm(*args: str) -> subprocess.CompletedProcess[str]:
    """A run that should end by itself (a refused command line)."""
    return subprocess.run(
        [*VM, *args], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def unix(path: Path | str) -> str:
    return f"unix:{path},server=on,wait=off"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a raw QMP connection ---------------------------------------------------------------


class Line(NamedTuple):
    """A line received: its exact text and what it says."""

    raw: str
    msg: dict[str, Any]


class End(enum.Enum):
    EOF = "eof"


EOF = End.EOF  # the end of the stream
Received = Line | End


class Conn:
    """A blocking QMP connection that keeps the exact lines it receives.

    QEMU may send events before the greeting: its monitor passes events on to a
    client from the moment the client is connected, and greets it a moment later, so
    a client that connects while QEMU starts may get the start's RESUME first (see
    docs/behaviour.md).  With ``early_events`` such events are taken and kept in
    :attr:`early`; without, the greeting must come first.
    """

    def __init__(
        self, address: Address, *, negotiate: bool = False, early_events: bool = False
    ) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(address)
        self._buf = b""
        self.eof = False
        self._ids = 0
        self._events: list[Line] = []  # passed over by command()
        self.early: list[Line] = []  # events before the greeting
        greeting = self.read()
        for _ in range(_EARLY_EVENTS if early_events else 0):
            if not (isinstance(greeting, Line) and "event" in greeting.msg):
                break
            self.early.append(greeting)
            greeting = self.read()
        assert isinstance(greeting, Line) and "QMP" in greeting.msg, greeting
        self.greeting = greeting
        if negotiate:
            assert self.command("qmp_capabilities") == {"return": {}}

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes | dict[str, Any]) -> bool:
        """Send; False when the server has gone away."""
        if isinstance(data, dict):
            data = json.dumps(data).encode()
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.eof = True
            return False
        return True

    def _fill(self, block: bool) -> bool:
        """Read what there is (waiting for it when ``block``); False if nothing came."""
        if self.eof:
            return False
        if not block and not select.select([self.sock], [], [], 0)[0]:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self._buf += chunk
        return True

    def read(self, block: bool = True) -> Received | None:
        """The next line, EOF at the end, None when ``block`` is false and nothing is there."""
        while b"\n" not in self._buf:
            if not self._fill(block):
                if self.eof:
                    assert not self._buf, f"a partial line before EOF: {self._buf!r}"
                    return EOF
                return None
        line, _, self._buf = self._buf.partition(b"\n")
        text = line.decode("ascii") + "\n"
        return Line(text, json.loads(text))

    def until_reply(self) -> list[Received]:
        """Events up to and including the next reply (or the end of the stream)."""
        got: list[Received] = []
        while True:
            item = self.read()
            assert item is not None
            got.append(item)
            if item is EOF or "event" not in item.msg:
                return got

    def drain(self) -> list[Received]:
        """Everything already received, without waiting."""
        got: list[Received] = []
        while (item := self.read(block=False)) is not None:
            got.append(item)
            if item is EOF:
                break
        return got

    def until_eof(self) -> list[Line]:
        """The lines up to the end of the stream (events command() passed over first)."""
        got, self._events = self._events, []
        while (item := self.read()) is not EOF:
            assert item is not None
            got.append(item)
        return got

    def command(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a command (with an id of its own); its reply (events kept for events())."""
        self._ids += 1
        request: dict[str, Any] = {"execute": name, "id": self._ids}
        if arguments is not None:
            request["arguments"] = arguments
        assert self.send(request)
        for item in self.until_reply():
            assert item is not EOF, f"{name}: the connection closed"
            if "event" in item.msg:
                self._events.append(item)
            else:
                reply = dict(item.msg)
                assert reply.pop("id") == self._ids
                return reply
        raise AssertionError("unreachable")

    def events(self) -> list[tuple[str, Any]]:
        """(name, data) of the events received so far; the end of the stream fails."""
        got: list[Received] = [*self._events, *self.drain()]
        self._events = []
        return [event(x) for x in got]


def event(item: Received) -> tuple[str, Any]:
    """An event's name and data; anything else fails."""
    assert item is not EOF and "event" in item.msg, item
    return item.msg["event"], item.msg.get("data")


def last_words(conn: Conn) -> Any:
    """The data of the SHUTDOWN that ends the connection (with nothing after it)."""
    name, data = event(conn.until_eof()[-1])
    assert name == "SHUTDOWN"
    return data


def status(conn: Conn) -> tuple[str, bool]:
    info = conn.command("query-status")["return"]
    return info["status"], info["running"]


# -- the guest, over QMP ------------------------------------------------------------


class RemoteMachine:
    """What :class:`~tests.support.boot_sector.BootSector` needs of a machine, over QMP.

    The boot-sector model drives ``machine.guest`` and learns of resets from
    events; here each of its actions is an unstable ``x-guest-*`` command on a
    connection of its own, and the events it sees are those that connection
    receives.  ``running`` asks ``query-status``, which also brings in every
    event sent before it (the server writes events as they happen), so the
    model always sees the resets a management command caused before it acts.
    The machine has exited when the connection ends: the program closes its
    sockets then, and answers nothing after the command that ended it.
    """

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.guest = self  # the guest's actions are this object's methods too
        self._subscribers: list[Callable[[Event, float], None]] = []

    def subscribe(self, subscriber: Callable[[Event, float], None]) -> None:
        self._subscribers.append(subscriber)

    @property
    def exited(self) -> bool:
        return self.conn.eof

    @property
    def running(self) -> bool:
        reply = self._call("query-status")
        return reply is not None and bool(reply["running"])

    def _call(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """The command's return value; None when the machine exited on the way."""
        request: dict[str, Any] = {"execute": name, "id": "guest"}
        if arguments is not None:
            request["arguments"] = arguments
        if not self.conn.send(request):
            return None
        for item in self.conn.until_reply():
            if item is EOF:
                return None
            msg = item.msg
            if "event" in msg:
                event = simulator_api.EVENTS[msg["event"]].from_wire(msg.get("data", {}))
                stamp = msg["timestamp"]
                for subscriber in self._subscribers:
                    subscriber(event, stamp["seconds"] + stamp["microseconds"] / 1e6)
            else:
                assert msg.get("id") == "guest" and "return" in msg, (name, msg)
                return msg["return"]
        raise AssertionError("unreachable")

    # The guest's side (``machine.guest``).
    def reset(self) -> None:
        self._call("x-guest-reset")

    def pvpanic_write(self, value: int) -> None:
        self._call("x-guest-pvpanic-write", {"value": value})

    def pvpanic_read(self) -> int:
        reply = self._call("x-guest-pvpanic-read")
        assert reply is not None, "the machine exited on a read"
        return int(reply["value"])


# -- 1a: every recorded scenario, over QMP ---------------------------------------------

_STAMP = re.compile(r'"seconds": \d+, "microseconds": \d+')
_END = ("eof",)


def _comparable(item: Received) -> tuple[str, ...]:
    """What must equal the record: a reply's exact line; an event's line, time masked."""
    if item is EOF:
        return _END
    raw, msg = item
    if "event" in msg:
        stamp = msg["timestamp"]
        now = time.time()
        assert isinstance(stamp["seconds"], int) and now - 60 < stamp["seconds"] <= now + 1
        assert isinstance(stamp["microseconds"], int) and 0 <= stamp["microseconds"] < 10**6
        return ("event", _STAMP.sub('"seconds": <S>, "microseconds": <US>', raw))
    return ("reply", raw)


def _recorded(entry: dict[str, Any]) -> tuple[str, ...] | None:
    if entry["dir"] == "eof":
        return _END
    if entry["dir"] != "recv" or entry["kind"] == "greeting":
        return None
    if entry["kind"] == "event":
        return ("event", entry["raw_masked"].removesuffix("\r\n") + "\r\n")
    return ("reply", entry["raw"])


def _argv(argv: list[str], tmp: Path) -> tuple[list[str], str]:
    """The scenario's options with its placeholders made paths; and the socket."""
    paths = {
        "<SOCK>": tmp / "qmp.sock",
        "<IMG>": tmp / "disk.img",
        "<DEBUGCON>": tmp / "debugcon.log",
        "<DLOG>": tmp / "qemu-d.log",
    }
    # The guest's disk (QEMU boots it; the simulator opens it, as QEMU does).
    paths["<IMG>"].write_bytes(bytes(512))
    args = []
    for arg in argv[1:]:
        for key, path in paths.items():
            arg = arg.replace(key, str(path))
        assert "<" not in arg, f"a placeholder this test does not know: {arg}"
        args.append(arg)
    return args, str(paths["<SOCK>"])


@pytest.mark.parametrize("scenario", oracle_params("scenarios"))
def test_scenario_over_qmp(
    scenario: dict[str, Any], tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """The recorded transcript, sent as recorded, gets back what QEMU wrote, line for
    line; the guest plays on a second connection; same EOF and exit status."""
    args, sock = _argv(scenario["argv"], tmp_path)
    vm = start_vm(*args, sockets=(sock,))
    machine = RemoteMachine(Conn(sock, negotiate=True))
    guest = BootSector(machine, scenario["guest"])
    guest.run(time_passes=False)  # power-on, up to the boot sector's wait

    mgmt: Conn | None = None
    for label, entries in transcript_steps(scenario["transcript"]):
        if label == "connect":
            # The greeting, exactly, but for the package that says who we are.
            mgmt = Conn(sock)
            package = mgmt.greeting.msg["QMP"]["version"]["package"]
            recorded = entries[0]["msg"]["QMP"]["version"]["package"]
            raw = mgmt.greeting.raw.replace(json.dumps(package), json.dumps(recorded), 1)
            assert raw == entries[0]["raw"]
            continue
        assert mgmt is not None
        got: list[Received] = []
        if is_wait_step(label, entries):
            guest.run(time_passes=True)
            got += mgmt.drain()
        for entry in entries:
            if entry["dir"] != "send":
                continue
            mgmt.send(entry["text"].encode())  # the recorded bytes
            got += mgmt.until_reply()
            guest.run(time_passes=False)  # the guest goes on at once if it can
            got += mgmt.drain()
        expected = [x for x in map(_recorded, entries) if x is not None]
        if expected[-1:] == [_END] and EOF not in got:
            got += [*mgmt.until_eof(), EOF]
        assert [_comparable(x) for x in got] == expected, f"step {label}"
        if EOF not in got:
            assert mgmt.drain() == [], f"step {label}: more than QEMU sent"

    if scenario["exit"].get("killed_by_oracle"):
        assert vm.proc.poll() is None
        return
    assert vm.wait() == scenario["exit"]["exit_status"]
    assert vm.stderr == scenario["stderr"]
    assert vm.stdout == ""
    if "qemu_d_log" in scenario:  # -d guest_errors -D FILE
        assert (tmp_path / "qemu-d.log").read_text() == scenario["qemu_d_log"]
    debugcon = scenario["debugcon"]
    assert guest.read_values == debugcon.get("read_values", [])
    # Whether the instruction after a shutdown request ran is timing (fact 8).
    recorded_markers = "".join(
        t["marker"] + (str(t["value"]) if "value" in t else "") for t in debugcon["tokens"]
    )
    assert "".join(guest.markers).replace("A", "") == recorded_markers.replace("A", "")


# -- 1b: the seed's point ---------------------------------------------------------------

_DYING_CLIENT = textwrap.dedent(
    """
    import sys, time
    from qapigen.simulator_api.client import SyncClient
    client = SyncClient("doomed")
    client.connect(sys.argv[1])
    print(client.query_status().status.value, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("flags", [["-no-shutdown"], ["-action", "panic=pause"]], ids=" ".join)
def test_reconnecting_client_learns_of_the_panic(
    flags: list[str], tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """A management client killed before the panic reconnects and finds the machine
    in guest-panicked through query-status; cont then resumes the guest."""
    from qapigen.simulator_api.client import SyncClient

    sock = str(tmp_path / "qmp.sock")
    vm = start_vm("-device", "pvpanic", *flags, "-qmp", unix(sock), sockets=(sock,))
    doomed = subprocess.Popen(
        [sys.executable, "-c", _DYING_CLIENT, sock],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline() == "running\n"
    finally:
        doomed.kill()  # dies without a word
        doomed.wait()

    guest = Conn(sock, negotiate=True)
    assert guest.command("x-guest-pvpanic-write", {"value": 1}) == {"return": {}}
    assert guest.events() == [("GUEST_PANICKED", {"action": "pause"}), ("STOP", None)]

    client = SyncClient("back")
    client.connect(sock)
    try:
        info = client.query_status()
        assert info.status is simulator_api.RunState.GUEST_PANICKED and info.running is False
        with client.listen(simulator_api.ResumeEvent) as events:
            client.cont()
            assert isinstance(events.wait_for(timeout=5), simulator_api.ResumeEvent)
        assert client.query_status().status is simulator_api.RunState.RUNNING
        client.quit()
    finally:
        client.close()
    assert vm.wait() == 0


# -- 1c: the command line, signals, quit, exit status ----------------------------------


@pytest.mark.parametrize("case", oracle_params("command_line_errors"))
def test_command_line_errors(case: dict[str, Any]) -> None:
    """QEMU's message after the program's name, nothing on stdout, exit status 1."""
    proc = run_vm(*case["argv"][1:])
    assert proc.returncode == case["exit_status"] == 1
    assert proc.stderr == "qapigen vm: " + case["stderr"].removeprefix("qemu-system-x86_64: ")
    assert proc.stdout == case["stdout"]


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["-bogus"], "-bogus: invalid option"),
        # QEMU would run; nothing could drive the simulator (docs/behaviour.md).
        (
            ["-S"],
            "no monitor: nothing could drive the simulated machine; "
            "give -qmp, -chardev with -mon, -qtest or --qmp-dir",
        ),
        (
            ["-daemonize"],
            "no monitor: nothing could drive the simulated machine; "
            "give -qmp, -chardev with -mon, -qtest or --qmp-dir",
        ),
        (["-qmp"], "-qmp: requires an argument"),
        (
            ["-device", "pvpanic", "-device", "pvpanic"],
            "-device pvpanic: duplicate fw_cfg file name: etc/pvpanic-port",
        ),
        (
            ["-action", "panic=bogus", "-qmp", "unix:/nonexistent/x,server=on,wait=off"],
            "-action panic=bogus: Parameter 'panic' does not accept value 'bogus'",
        ),
        # What QEMU 10.0.2 says when it cannot create its socket or its pid file.
        (
            ["-qmp", "unix:/nonexistent/x,server=on,wait=off"],
            "-qmp unix:/nonexistent/x,server=on,wait=off: "
            "Failed to bind socket to /nonexistent/x: No such file or directory",
        ),
        (
            ["-pidfile", "/nonexistent/vm.pid"],
            "cannot create PID file: Could not create '/nonexistent/vm.pid': "
            "No such file or directory",
        ),
    ],
)
def test_refused_command_lines(args: list[str], stderr: str) -> None:
    """Unknown options, bad values, a socket or pid file that cannot be made:
    QEMU's message on stderr, exit 1, no machine."""
    proc = run_vm(*args)
    assert proc.returncode == 1
    assert proc.stderr == f"qapigen vm: {stderr}\n"
    assert proc.stdout == ""


def test_tcp_port_in_use() -> None:
    """A TCP monitor whose port is taken: QEMU's message, exit 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        option = f"tcp:127.0.0.1:{port},server=on,wait=off"
        proc = run_vm("-qmp", option)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"qapigen vm: -qmp {option}: Failed to find an available port: Address already in use\n"
    )


@pytest.mark.parametrize("end", ["quit", "SIGTERM"])
def test_pidfile_and_private_socket(
    end: str, tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """-pidfile holds the pid while the machine runs and is gone after it ends
    (by quit or by a signal); the unix socket is created mode 0600."""
    sock, pidfile = tmp_path / "qmp.sock", tmp_path / "vm.pid"
    vm = start_vm("-qmp", unix(sock), "-pidfile", str(pidfile), sockets=(str(sock),))
    assert pidfile.read_text() == f"{vm.pid}\n"
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    conn = Conn(str(sock), negotiate=True)
    if end == "quit":
        assert conn.command("quit") == {"return": {}}
    else:
        vm.proc.terminate()
    assert last_words(conn)["reason"] == ("host-qmp-quit" if end == "quit" else "host-signal")
    assert vm.wait() == 0
    assert not pidfile.exists()


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp* gives them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                found.append(address)
    return found


@pytest.mark.parametrize("host", ["127.0.0.1", ""], ids=["127.0.0.1", "no-host"])
def test_tcp_monitor_on_loopback(
    host: str, tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """-qmp tcp:HOST:PORT serves QMP; without a host it listens on loopback only."""
    port = free_port()
    sock = str(tmp_path / "qmp.sock")  # to know when the program is ready
    vm = start_vm(
        "-qmp", f"tcp:{host}:{port},server=on,wait=off", "-qmp", unix(sock), sockets=(sock,)
    )
    assert _listening(port) == ["0100007F"]
    conn = Conn(("127.0.0.1", port), negotiate=True)
    assert conn.greeting.msg["QMP"]["version"]["qemu"] == {"micro": 2, "minor": 0, "major": 10}
    assert status(conn) == ("running", True)
    conn.send(b'{"execute": "quit", "id": "bye"}\n')
    assert [_comparable(x) for x in conn.until_eof()] == [
        (
            "event",
            '{"timestamp": {"seconds": <S>, "microseconds": <US>}, "event": "SHUTDOWN", '
            '"data": {"guest": false, "reason": "host-qmp-quit"}}\r\n',
        ),
        ("reply", '{"return": {}, "id": "bye"}\r\n'),
    ]
    assert vm.wait() == 0


def test_several_monitors(tmp_path: Path, start_vm: Callable[..., VMProcess]) -> None:
    """Several -qmp: each client negotiates on its own; events go to the negotiated ones."""
    a, b = str(tmp_path / "a.sock"), str(tmp_path / "b.sock")
    port = free_port()
    vm = start_vm(
        "-S",
        "-qmp",
        unix(a),
        "-qmp",
        f"tcp:127.0.0.1:{port},server=on,wait=off",
        "-qmp",
        unix(b),
        sockets=(a, b),
    )
    first, tcp = Conn(a, negotiate=True), Conn(("127.0.0.1", port), negotiate=True)
    late, again = Conn(b), Conn(a)  # not negotiated
    assert late.command("query-status") == {
        "error": {
            "class": "CommandNotFound",
            "desc": "Expecting capabilities negotiation with 'qmp_capabilities'",
        }
    }
    assert status(first) == ("prelaunch", False)
    assert first.command("cont") == {"return": {}}
    assert first.events() == tcp.events() == [("RESUME", None)]
    assert late.command("qmp_capabilities") == {"return": {}}  # no RESUME before it
    assert tcp.command("stop") == {"return": {}}
    for conn in (first, tcp, late):
        assert status(conn) == ("paused", False)
    assert first.events() == late.events() == [("STOP", None)]
    assert again.drain() == []
    assert late.command("quit") == {"return": {}}
    for conn in (first, tcp, late):
        assert last_words(conn) == {"guest": False, "reason": "host-qmp-quit"}
    assert again.until_eof() == []
    assert vm.wait() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_signal_shuts_down(
    signum: signal.Signals, tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """SIGTERM and SIGINT: SHUTDOWN{guest: false, reason: host-signal} to every
    negotiated client, the end of the stream, exit status 0 (QEMU's behaviour)."""
    a, b = str(tmp_path / "a.sock"), str(tmp_path / "b.sock")
    vm = start_vm("-device", "pvpanic", "-qmp", unix(a), "-qmp", unix(b), sockets=(a, b))
    clients = [Conn(a, negotiate=True), Conn(b, negotiate=True)]
    quiet = Conn(a)
    os.kill(vm.pid, signum)
    for conn in clients:
        assert [event(x) for x in conn.until_eof()] == [
            ("SHUTDOWN", {"guest": False, "reason": "host-signal"})
        ]
    assert quiet.until_eof() == []
    assert vm.wait() == 0
    assert f"terminating on signal {int(signum)}" in vm.stderr


def test_quit(tmp_path: Path, start_vm: Callable[..., VMProcess]) -> None:
    """quit: SHUTDOWN{host-qmp-quit}, {} with the id, EOF, exit 0; a command sent
    behind it is not run (QEMU has exited) and does not cost quit its reply."""
    sock = str(tmp_path / "qmp.sock")
    vm = start_vm("-qmp", unix(sock), sockets=(sock,))
    conn = Conn(sock, negotiate=True)
    conn.send(b'{"execute": "quit", "id": [1]}{"execute": "query-status", "id": 2}')
    got = [_comparable(x) for x in conn.until_eof()]
    assert got == [
        (
            "event",
            '{"timestamp": {"seconds": <S>, "microseconds": <US>}, "event": "SHUTDOWN", '
            '"data": {"guest": false, "reason": "host-qmp-quit"}}\r\n',
        ),
        ("reply", '{"return": {}, "id": [1]}\r\n'),
    ]
    assert vm.wait() == 0
    assert vm.stderr == ""


@pytest.mark.parametrize(
    ("flags", "events", "exit_status"),
    [
        (
            ["-action", "panic=exit-failure"],
            [
                ("GUEST_PANICKED", {"action": "poweroff"}),
                ("SHUTDOWN", {"guest": True, "reason": "guest-panic"}),
            ],
            1,
        ),
        (
            [],
            [
                ("GUEST_PANICKED", {"action": "poweroff"}),
                ("SHUTDOWN", {"guest": True, "reason": "guest-panic"}),
            ],
            0,
        ),
    ],
    ids=["exit-failure", "default"],
)
def test_exit_status_after_panic(
    flags: list[str],
    events: list[tuple[str, Any]],
    exit_status: int,
    tmp_path: Path,
    start_vm: Callable[..., VMProcess],
) -> None:
    """A panic under panic=exit-failure ends the program with status 1, the default
    one with 0; both after GUEST_PANICKED and SHUTDOWN, with no reply to the write
    lost."""
    sock = str(tmp_path / "qmp.sock")
    vm = start_vm("-device", "pvpanic", *flags, "-qmp", unix(sock), sockets=(sock,))
    mgmt, guest = Conn(sock, negotiate=True), Conn(sock, negotiate=True)
    guest.send(b'{"execute": "x-guest-io-write", "arguments": {"port": 1285, "value": 1}}')
    got = guest.until_eof()
    assert [event(x) for x in got[:2]] == events
    assert [x.msg for x in got[2:]] == [{"return": {}}]
    assert [event(x) for x in mgmt.until_eof()] == events
    assert vm.wait() == exit_status


# -- 1d: fleet mode -----------------------------------------------------------------------


def test_fleet_of_independent_machines(tmp_path: Path, start_vm: Callable[..., VMProcess]) -> None:
    """--count 50 --qmp-dir DIR: 50 machines, one socket each; a panic, a pause or a
    stop on one leaves the others running; SIGTERM shuts down the rest."""
    folder = tmp_path / "fleet"
    count = 50
    paths = [str(folder / f"vm{n:04d}.sock") for n in range(count)]
    vm = start_vm(
        "--count", str(count), "--qmp-dir", str(folder), "-device", "pvpanic", sockets=tuple(paths)
    )
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert sorted(os.listdir(folder)) == sorted(os.path.basename(p) for p in paths)
    conns = [Conn(path, negotiate=True) for path in paths]
    assert all(status(c) == ("running", True) for c in conns)

    # Machine 7 panics under the default action: it exits, alone.
    assert conns[7].command("x-guest-pvpanic-write", {"value": 1}) == {"return": {}}
    assert [event(x)[0] for x in conns[7].until_eof()] == ["GUEST_PANICKED", "SHUTDOWN"]
    with pytest.raises(OSError):
        Conn(paths[7])  # its monitor is gone
    # Machine 11 is told to pause on a panic, machine 12 is stopped.
    assert conns[11].command("set-action", {"panic": "pause"}) == {"return": {}}
    assert conns[11].command("x-guest-pvpanic-write", {"value": 1}) == {"return": {}}
    assert conns[11].events() == [("GUEST_PANICKED", {"action": "pause"}), ("STOP", None)]
    assert conns[12].command("stop") == {"return": {}}
    assert vm.proc.poll() is None
    others = [c for n, c in enumerate(conns) if n not in (7, 11, 12)]
    for conn in others:
        assert status(conn) == ("running", True)
        assert conn.events() == []  # nobody else's events
    assert status(conns[11]) == ("guest-panicked", False)
    assert status(conns[12]) == ("paused", False)
    # Machine 13 panics under its default action: the others keep their state.
    conns[13].command("x-guest-pvpanic-write", {"value": 1})
    conns[13].until_eof()
    assert status(conns[11]) == ("guest-panicked", False)

    vm.proc.send_signal(signal.SIGTERM)
    for n, conn in enumerate(conns):
        if n in (7, 13):
            continue
        assert last_words(conn) == {"guest": False, "reason": "host-signal"}
    assert vm.wait() == 0


def test_fleet_needs_a_folder() -> None:
    proc = run_vm("--count", "3")
    assert proc.returncode == 1 and proc.stderr.startswith("qapigen vm: --count")


def test_fleet_folder_that_cannot_be_made(tmp_path: Path) -> None:
    """An uncreatable --qmp-dir is refused with a message, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_vm("--count", "2", "--qmp-dir", str(blocker / "fleet"))
    assert proc.returncode == 1
    assert proc.stderr == f"qapigen vm: --qmp-dir {blocker / 'fleet'}: Not a directory\n"


def test_guest_errors_go_to_stderr_without_a_log_file(
    tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """-d guest_errors without -D: QEMU's log is stderr; without -d nothing is logged."""
    for flags, logged in ((["-d", "guest_errors"], True), ([], False)):
        sock = str(tmp_path / f"qmp{len(flags)}.sock")
        vm = start_vm(
            "-device", "pvpanic", "-no-shutdown", *flags, "-qmp", unix(sock), sockets=(sock,)
        )
        conn = Conn(sock, negotiate=True)
        assert conn.command("x-guest-pvpanic-write", {"value": 8}) == {"return": {}}
        assert conn.command("quit") == {"return": {}}
        conn.until_eof()
        assert vm.wait() == 0
        assert vm.stderr == ("pvpanic: unknown event 0x8.\n" if logged else "")


def test_tcp_monitor_on_ipv6_loopback(tmp_path: Path, start_vm: Callable[..., VMProcess]) -> None:
    """-qmp tcp:[::1]:PORT, QEMU's way of writing an IPv6 address, listens there."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here")
    finally:
        probe.close()
    sock = str(tmp_path / "qmp.sock")
    vm = start_vm(
        "-qmp", f"tcp:[::1]:{port},server=on,wait=off", "-qmp", unix(sock), sockets=(sock,)
    )
    with socket.create_connection(("::1", port), timeout=10) as conn:
        assert b'"QMP"' in conn.makefile("rb").readline()
    vm.proc.terminate()
    assert vm.wait() == 0


def test_watchdog_debug_action_prints_to_stderr(
    tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """-watchdog-action debug: an expiry prints QEMU's line on stderr and goes on."""
    sock = str(tmp_path / "qmp.sock")
    vm = start_vm("-watchdog-action", "debug", "-qmp", unix(sock), sockets=(sock,))
    conn = Conn(sock, negotiate=True)
    assert conn.command("x-guest-watchdog-expire") == {"return": {}}
    assert conn.events() == [("WATCHDOG", {"action": "debug"})]
    assert status(conn) == ("running", True)
    assert conn.command("quit") == {"return": {}}
    conn.until_eof()
    assert vm.wait() == 0
    assert vm.stderr == "watchdog: timer fired\n"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_out_of_descriptors_waits_for_one_to_be_freed(tmp_path: Path) -> None:
    """With no file descriptor left, pending connections wait (the program does not spin
    on them) until a client leaves; then the next one is greeted."""
    import resource

    sock = str(tmp_path / "qmp.sock")

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))

    proc = subprocess.Popen(
        [*VM, "-qmp", unix(sock)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=few_descriptors,
    )
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "no socket"
            time.sleep(0.005)
        for _ in range(16):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(sock)
            clients.append(client)
            ready, _, _ = select.select([client], [], [], 1.0)
            if not ready:
                break  # accepted by the kernel, not by the program: out of descriptors
            assert b'"QMP"' in client.recv(4096)
        else:
            pytest.fail("never ran out of descriptors")
        waiting = clients[-1]
        before = _cpu_seconds(proc.pid)
        time.sleep(0.5)
        assert _cpu_seconds(proc.pid) - before < 0.2, "it spins on the pending connection"
        clients[0].close()  # a descriptor is freed: the waiting client is greeted
        ready, _, _ = select.select([waiting], [], [], 5.0)
        assert ready and b'"QMP"' in waiting.recv(4096)
    finally:
        for client in clients:
            client.close()
        proc.kill()
        proc.wait()


def test_start_path_leaves_out_typing_asyncio_and_dataclasses() -> None:
    """What ``qapigen vm`` imports to start (the command line, the machine, the QMP
    server, the project's bindings) imports none of typing, asyncio or dataclasses:
    each would cost milliseconds of every start (see benchmarks/bench_panic.py)."""
    code = (
        "import sys, qapigen.cli.commands, qapigen.vm.program, qapigen.machine, "
        "qapigen.qmp.selector_server, qapigen.simulator_api\n"
        "print(*sorted(m for m in ('typing', 'asyncio', 'dataclasses') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


# What benchmarks/bench_panic.py's scenario may import of the project's bindings:
# the package, the run states with their events, and the commands that play
# the guest.  Issue 11 measured each further module at 0.3-2 ms of every start.
_PANIC_PATH_BINDINGS = frozenset(
    {"qapigen.simulator_api", "qapigen.simulator_api.run_state", "qapigen.simulator_api.guest"}
)
# The machine's parts a panic never uses: the dump writer, the queries' answers.
_NOT_ON_PANIC_PATH = frozenset({"qapigen.machine.dump", "qapigen.machine.queries"})


def test_panic_scenario_imports_only_what_it_uses(tmp_path: Path) -> None:
    """bench_panic.py's scenario (start, negotiate, ``cont``, the guest panics,
    GUEST_PANICKED, the process exits) imports of the bindings only the run
    states, their events and the guest's commands: not the block layer's,
    the queries', the dumps', the descriptors' or introspection's types, nor
    the machine's dump writer or query answers (``-X importtime`` lists what
    the process imported)."""
    image = tmp_path / "panic.img"
    image.write_bytes(bytes(510) + b"\x55\xaa")
    sock = str(tmp_path / "qmp.sock")
    args = [
        *("-machine", "pc", "-accel", "tcg", "-display", "none", "-nodefaults"),
        *("-device", "pvpanic", "-drive", f"format=raw,file={image}", "-S", "-qmp", unix(sock)),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", *VM[1:], *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        qmp = Conn(sock, negotiate=True)
        assert qmp.command("cont") == {"return": {}}
        assert qmp.command("x-guest-pvpanic-write", {"value": 1}) == {"return": {}}
        # The default action: the process exits, and the connection ends.
        assert ("GUEST_PANICKED", {"action": "poweroff"}) in map(event, qmp.until_eof())
        qmp.close()
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", stderr, re.M))
    assert "qapigen.machine.machine" in imported  # the listing is read
    bindings = {m for m in imported if m.startswith("qapigen.simulator_api")}
    assert bindings <= _PANIC_PATH_BINDINGS, sorted(bindings - _PANIC_PATH_BINDINGS)
    assert not imported & _NOT_ON_PANIC_PATH, sorted(imported & _NOT_ON_PANIC_PATH)


# -- 1e: character devices, qtest, process life ------------------------------------------


class Harness:
    """What libqtest does: listen on a qtest and a QMP socket, start the program
    connecting to both (client mode), accept."""

    def __init__(self, folder: Path, *args: str, qtest_log: str = "none") -> None:
        folder.mkdir(exist_ok=True)
        self.folder = folder
        self.qtest_path, self.qmp_path = str(folder / "t.sock"), str(folder / "t.qmp")
        listeners = []
        for path in (self.qtest_path, self.qmp_path):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(1)
            sock.settimeout(TIMEOUT)
            listeners.append(sock)
        self.vm = VMProcess(
            [
                "-qtest",
                f"unix:{self.qtest_path}",
                "-qtest-log",
                qtest_log,
                "-chardev",
                f"socket,path={self.qmp_path},id=char0",
                "-mon",
                "chardev=char0,mode=control",
                "-display",
                "none",
                "-audio",
                "none",
                *args,
                "-accel",
                "qtest",
            ]
        )
        try:
            self.qtest = listeners[0].accept()[0]
            self.qmp_sock = listeners[1].accept()[0]
        finally:
            for sock in listeners:
                sock.close()
        self.qtest.settimeout(TIMEOUT)
        self._buf = b""

    def request(self, line: str) -> str:
        """One qtest request's reply."""
        self.qtest.sendall(line.encode() + b"\n")
        while b"\n" not in self._buf:
            chunk = self.qtest.recv(4096)
            assert chunk, f"the qtest connection closed on {line!r}"
            self._buf += chunk
        reply, _, self._buf = self._buf.partition(b"\n")
        return reply.decode()

    def qmp(self) -> Conn:
        """The QMP connection, negotiated (its greeting read now)."""
        conn = Conn.__new__(Conn)
        conn.sock, conn._buf, conn.eof, conn._ids, conn._events = self.qmp_sock, b"", False, 0, []
        conn.sock.settimeout(TIMEOUT)
        greeting = conn.read()
        assert isinstance(greeting, Line) and "QMP" in greeting.msg
        assert conn.command("qmp_capabilities") == {"return": {}}
        return conn

    def kill(self) -> None:
        self.vm.kill()
        self.qtest.close()
        self.qmp_sock.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []
    short = Path(tempfile.mkdtemp(prefix="vm", dir="/tmp"))  # socket paths are short

    def start(*args: str, qtest_log: str = "none") -> Harness:
        h = Harness(short / f"h{len(started)}", *args, qtest_log=qtest_log)
        started.append(h)
        return h

    yield start
    for h in started:
        h.kill()
    shutil.rmtree(short, ignore_errors=True)


def test_client_sockets_do_not_wait_for_each_other(harness: Callable[..., Harness]) -> None:
    """libqtest speaks qtest before it reads the QMP greeting: both connections
    are served from the start, each on its own."""
    h = harness("-device", "pvpanic")
    assert h.request("endianness") == "OK little"
    assert h.request("inb 0x505") == "OK 0x0007"
    qmp = h.qmp()
    assert status(qmp) == ("running", True)
    assert h.request("outb 0x505 1") == "OK"
    assert last_words(qmp)["reason"] == "guest-panic"
    assert h.vm.wait() == 0


@pytest.mark.parametrize(
    ("flags", "steps", "state"),
    [
        ([], [], "running"),
        (["-S"], [], "prelaunch"),
        ([], ["stop"], "paused"),
        (["-action", "panic=pause"], ["outb 0x505 1"], "guest-panicked"),
        (["-no-shutdown"], ["outb 0x505 4"], "shutdown"),
        (
            ["-watchdog-action", "pause", "-device", "ib700"],
            ["outb 0x443 15", "clock_step 1"],
            "watchdog",
        ),
    ],
    ids=["running", "prelaunch", "paused", "guest-panicked", "shutdown", "watchdog"],
)
def test_sigterm_in_any_state_exits_0(
    flags: list[str], steps: list[str], state: str, harness: Callable[..., Harness]
) -> None:
    """SIGTERM: SHUTDOWN{guest: false, reason: host-signal}, exit 0, whatever the
    state; under a qtest driver QEMU says nothing on stderr; the log ends CLOSED."""
    h = harness("-device", "pvpanic", *flags, qtest_log=str(Path(tempfile.mkdtemp()) / "log"))
    qmp = h.qmp()
    for step in steps:
        if step == "stop":
            assert qmp.command("stop") == {"return": {}}
        else:
            assert h.request(step).startswith("OK")
    assert status(qmp)[0] == state
    qmp.events()
    h.vm.proc.send_signal(signal.SIGTERM)
    assert [event(x) for x in qmp.until_eof()] == [
        ("SHUTDOWN", {"guest": False, "reason": "host-signal"})
    ]
    assert h.vm.wait() == 0
    assert h.vm.stderr == ""
    log = Path(h.vm.args[h.vm.args.index("-qtest-log") + 1]).read_text()
    assert log.startswith("[I ") and log.endswith("] CLOSED\n")


def test_guest_shutdown_exits_by_itself_after_the_reply_and_the_events(
    harness: Callable[..., Harness],
) -> None:
    h = harness("-device", "pvpanic")
    qmp = h.qmp()
    assert h.request("outb 0x505 4") == "OK"
    assert [event(x) for x in qmp.until_eof()] == [
        ("GUEST_PVSHUTDOWN", None),
        ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}),
    ]
    assert h.qtest.recv(1) == b""  # then its end of the qtest socket closes
    assert h.vm.wait() == 0


def test_sigterm_while_exiting_does_not_kill_it(harness: Callable[..., Harness]) -> None:
    """libqtest's qtest_quit sends SIGTERM to a binary that may be on its way out:
    exit status 0 whenever it lands (a few tries, signals sent back to back)."""
    for _ in range(5):
        h = harness("-device", "pvpanic")
        h.qtest.sendall(b"outb 0x505 4\n")
        deadline = time.monotonic() + TIMEOUT
        while h.vm.proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(h.vm.pid, signal.SIGTERM)
            time.sleep(0.0005)
        assert h.vm.wait() == 0, h.vm.stderr


def test_peers_that_hang_up_do_not_kill_it(harness: Callable[..., Harness]) -> None:
    """A test that closes its ends, even while replies flow, leaves the program
    running (no SIGPIPE death); it still exits 0 on SIGTERM."""
    h = harness()
    assert h.request("irq_intercept_in ioapic") == "OK"
    # Thousands of IRQ lines on their way back, and nobody to read them.
    h.qtest.sendall(b"clock_step 600000000000\n" * 4)
    h.qtest.close()
    h.qmp_sock.close()
    time.sleep(0.5)
    assert h.vm.proc.poll() is None
    h.vm.proc.send_signal(signal.SIGTERM)
    assert h.vm.wait() == 0


def test_a_closed_stderr_does_not_change_the_exit_status(tmp_path: Path) -> None:
    sock = str(tmp_path / "qmp.sock")
    proc = subprocess.Popen(
        [*VM, "-qmp", unix(sock)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.005)
        assert proc.stderr is not None
        proc.stderr.close()  # "terminating on signal 15" goes nowhere
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_qtest_log_file(harness: Callable[..., Harness], tmp_path: Path) -> None:
    log = tmp_path / "qtest.log"
    log.write_text("old contents\n")
    h = harness(qtest_log=str(log))
    assert h.request("inb 0x1234") == "OK 0x00ff"
    h.vm.proc.send_signal(signal.SIGTERM)
    assert h.vm.wait() == 0
    stamp = r"\d+\.\d{6}"
    assert re.fullmatch(
        rf"\[I {stamp}\] OPENED\n\[R \+{stamp}\] inb 0x1234\n\[S \+{stamp}\] OK 0x00ff\n"
        rf"\[I \+{stamp}\] CLOSED\n",
        log.read_text(),
    )


def test_qtest_log_defaults_to_stderr_and_a_bad_file_gives_none(
    harness: Callable[..., Harness],
) -> None:
    h = harness(qtest_log="/nonexistent/log")
    assert h.request("endianness") == "OK little"
    h.vm.proc.send_signal(signal.SIGTERM)
    assert h.vm.wait() == 0 and h.vm.stderr == ""
    sock = str(Path(tempfile.mkdtemp(prefix="vm", dir="/tmp")) / "q.sock")
    vm = VMProcess(["-qtest", f"unix:{sock},server=on,wait=off", "-accel", "qtest"])
    vm.wait_ready((sock,))
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(sock)
        conn.sendall(b"endianness\n")
        assert conn.makefile("rb").readline() == b"OK little\n"
    vm.proc.send_signal(signal.SIGTERM)
    assert vm.wait() == 0
    assert re.fullmatch(
        r"\[I 0\.\d{6}\] OPENED\n\[R \+\S+\] endianness\n\[S \+\S+\] OK little\n"
        r"\[I \+\S+\] CLOSED\n",
        vm.stderr,
    )


def test_qmp_monitor_on_a_listening_chardev(
    tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    sock = str(tmp_path / "mon.sock")
    vm = start_vm(
        "-chardev", f"socket,id=mon0,path={sock},server=on,wait=off",
        "-mon", "chardev=mon0,mode=control",
        sockets=(sock,),
    )  # fmt: skip
    conn = Conn(sock, negotiate=True)
    assert status(conn) == ("running", True)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert conn.command("quit") == {"return": {}}
    assert vm.wait() == 0


def test_watchdog_fires_in_real_time_without_qtest(
    tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    """Without -accel qtest the virtual clock follows the host's: armed for 2 s by
    the guest, the ib700 fires on its own, about 2 s later."""
    sock = str(tmp_path / "qmp.sock")
    vm = start_vm("-device", "ib700", "-watchdog-action", "none", "-qmp", unix(sock),
                  sockets=(sock,))  # fmt: skip
    conn = Conn(sock, negotiate=True)
    armed = time.monotonic()
    assert conn.command("x-guest-io-write", {"port": 0x443, "value": 14}) == {"return": {}}
    assert conn.events() == []
    item = conn.read()  # blocks until the event comes
    assert item is not None and event(item) == ("WATCHDOG", {"action": "none"})
    assert time.monotonic() - armed >= 1.9
    assert conn.command("quit") == {"return": {}}
    assert vm.wait() == 0


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        # What QEMU 10.0.2 says (tests/test_qtest_qemu.py compares them with it).
        (
            ["-chardev", "socket,path=/nonexistent/x,id=c0"],
            "-chardev socket,path=/nonexistent/x,id=c0: "
            "Failed to connect to '/nonexistent/x': No such file or directory",
        ),
        (
            ["-qtest", "unix:/nonexistent/x"],
            "Failed to connect to '/nonexistent/x': No such file or directory\n"
            'qapigen vm: Failed to initialize device for qtest: "unix:/nonexistent/x"',
        ),
        (["-qtest", "chardev:nope"], 'Failed to initialize device for qtest: "chardev:nope"'),
        (["-chardev", "socket,path=/x"], "-chardev socket,path=/x: chardev: no id specified"),
        (
            ["-chardev", "bogus,id=c0"],
            "-chardev bogus,id=c0: 'bogus' is not a valid char driver name",
        ),
        (
            ["-chardev", "socket,path=/x,id=c,foo=1"],
            "-chardev socket,path=/x,id=c,foo=1: Invalid parameter 'foo'",
        ),
        (["-chardev", "socket,id=c0"], "-chardev socket,id=c0: Unable to parse FD number "),
        (
            ["-chardev", "socket,path=/x,id=c,server=on", "-chardev", "socket,path=/y,id=c"],
            "-chardev socket,path=/y,id=c: Duplicate ID 'c' for chardev",
        ),
        (
            ["-mon", "chardev=nope,mode=control"],
            '-mon chardev=nope,mode=control: chardev "nope" not found',
        ),
        (["-mon", "mode=control"], "-mon mode=control: Parameter 'chardev' is missing"),
        (
            ["-mon", "chardev=c,mode=control,pretty=maybe"],
            "-mon chardev=c,mode=control,pretty=maybe: Parameter 'pretty' expects 'on' or 'off'",
        ),
        (["-audio", "foo"], "-audio foo: Parameter 'driver' does not accept value 'foo'"),
        (["-vga", "foo"], "unknown vga type: foo"),
        (["-nic", "foo"], "-nic foo: Parameter 'type' does not accept value 'foo'"),
        (
            ["-m", "12x"],
            "-m 12x: Parameter 'size' expects a non-negative number below 2^64\n"
            "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
            "and exabytes, respectively.",
        ),
        (["-m", "64,foo=1"], "-m 64,foo=1: Invalid parameter 'foo'"),
        # QEMU with its qtest module (Debian's package lacks it: "invalid accelerator").
        (
            ["-accel", "qtest,thread=single"],
            "-accel qtest,thread=single: Property 'qtest-accel.thread' not found",
        ),
        (
            ["-machine", "pc,accel=qtest", "-accel", "qtest"],
            'The -accel and "-machine accel=" options are incompatible',
        ),
        (
            ["--count", "2", "--qmp-dir", "/tmp", "-qtest", "unix:/x"],
            "--count: a fleet takes no -qtest, -chardev nor -mon",
        ),
    ],
)
def test_refused_character_devices_and_options(args: list[str], stderr: str) -> None:
    proc = run_vm(*args)
    assert proc.returncode == 1
    assert proc.stderr == f"qapigen vm: {stderr}\n"
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["-audio", "none"],
        ["-audio", "driver=none"],
        ["-trace", "qtest*"],
        ["-trace", "enable=pvpanic*"],
        ["-display", "none"],
        ["-machine", "pc,accel=tcg"],
        ["-nodefaults", "-vga", "std", "-nic", "none", "-net", "none", "-serial", "none"],
        ["-m", "1.5G"],
    ],
    ids=" ".join,
)
def test_options_accepted_as_qemu_accepts_them(
    args: list[str], tmp_path: Path, start_vm: Callable[..., VMProcess]
) -> None:
    sock = str(tmp_path / "qmp.sock")
    vm = start_vm(*args, "-qmp", unix(sock), sockets=(sock,))
    conn = Conn(sock, negotiate=True)
    assert conn.command("quit") == {"return": {}}
    assert vm.wait() == 0
    assert vm.stderr == ""


def test_qmp_over_passed_descriptors(tmp_path: Path) -> None:
    """-chardev socket,fd=N: a listening socket (server=on) or a connected one,
    handed over open (libvirt's way); the program never touches the path."""
    path = str(tmp_path / "passed.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [
            *VM,
            "-chardev",
            f"socket,id=m0,fd={listener.fileno()},server=on,wait=off",
            "-mon",
            "chardev=m0,mode=control",
            "-chardev",
            f"socket,id=m1,fd={theirs.fileno()}",
            "-mon",
            "chardev=m1,mode=control",
        ],
        cwd=REPO,
        pass_fds=(listener.fileno(), theirs.fileno()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener.close()
    theirs.close()
    try:
        connected = Conn.__new__(Conn)
        connected.sock, connected._buf, connected.eof = ours, b"", False
        connected._ids, connected._events = 0, []
        ours.settimeout(TIMEOUT)
        greeting = connected.read()
        assert isinstance(greeting, Line) and "QMP" in greeting.msg
        assert connected.command("qmp_capabilities") == {"return": {}}
        other = Conn(path, negotiate=True)
        assert status(other) == ("running", True)
        assert connected.command("quit") == {"return": {}}
        assert last_words(other)["reason"] == "host-qmp-quit"
        assert proc.wait(timeout=TIMEOUT) == 0
        assert os.path.exists(path)  # not ours to remove
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# -- issue 12: signals, the pid file and socket files, as QEMU has them ----------------------

PROGRAMS = ("qemu", "qapigen")


def _program(name: str) -> tuple[list[str], str]:
    """The command line's start and the stderr prefix of QEMU or of ``qapigen vm``, both
    with the same options; skips without QEMU 10.0."""
    if name == "qemu":
        return [skip_without_qemu(), *BASE_OPTIONS], "qemu-system-x86_64: "
    return [*VM, *BASE_OPTIONS], "qapigen vm: "


# Every process _start() started, killed after each test whatever happened.
_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _start(name: str, *args: str, sockets: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    argv, _prefix = _program(name)
    proc = subprocess.Popen(
        [*argv, *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _STARTED.append(proc)
    deadline = time.monotonic() + TIMEOUT
    while not all(os.path.exists(path) for path in sockets):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _out, err = proc.communicate()
            pytest.fail(f"{name} did not start: {err}")
        time.sleep(0.005)
    return proc


def _connect(sock: str, program: str) -> Conn:
    """A negotiated connection to ``program``, once the socket accepts (QEMU's exists a
    moment before); QEMU, still starting, may send its start's RESUME before the greeting."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return Conn(sock, negotiate=True, early_events=program == "qemu")
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, f"{sock} never accepted"
            time.sleep(0.005)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """The exit status and stderr of a process that is ending."""
    try:
        _out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def _run(name: str, *args: str) -> tuple[int, str]:
    return _finish(_start(name, *args))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=str)
@pytest.mark.parametrize("program", PROGRAMS)
def test_terminating_signal_as_qemu(program: str, signum: signal.Signals, tmp_path: Path) -> None:
    """SIGTERM, SIGINT and SIGHUP alike: SHUTDOWN{guest: false, reason: host-signal}, the
    end of the stream, exit 0, the socket and the pid file gone."""
    sock, pidfile = str(tmp_path / "qmp.sock"), tmp_path / "vm.pid"
    proc = _start(program, "-qmp", unix(sock), "-pidfile", str(pidfile), sockets=(sock,))
    conn = _connect(sock, program)
    proc.send_signal(signum)
    assert last_words(conn) == {"guest": False, "reason": "host-signal"}
    status, stderr = _finish(proc)
    assert status == 0
    assert f"terminating on signal {int(signum)}" in stderr
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("program", PROGRAMS)
def test_quit_removes_socket_and_pidfile(program: str, tmp_path: Path) -> None:
    sock, pidfile = str(tmp_path / "qmp.sock"), tmp_path / "vm.pid"
    proc = _start(program, "-qmp", unix(sock), "-pidfile", str(pidfile), sockets=(sock,))
    assert pidfile.read_text() == f"{proc.pid}\n"
    assert stat.S_IMODE(os.stat(pidfile).st_mode) == 0o600
    conn = _connect(sock, program)
    assert conn.command("quit") == {"return": {}}
    conn.until_eof()
    assert _finish(proc) == (0, "")
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize(
    ("holder", "second"),
    [("qemu", "qemu"), ("qapigen", "qapigen"), ("qemu", "qapigen"), ("qapigen", "qemu")],
)
def test_second_instance_with_the_same_pidfile_is_refused(
    holder: str, second: str, tmp_path: Path
) -> None:
    """The pid file is locked as QEMU locks it: a second instance (of either program) is
    refused with QEMU's message and status 1, creates nothing, and leaves the file to
    the first, which removes it when it ends."""
    pidfile, first_sock, second_sock = tmp_path / "vm.pid", tmp_path / "a.sock", tmp_path / "b.sock"
    first = _start(
        holder, "-qmp", unix(first_sock), "-pidfile", str(pidfile), sockets=(str(first_sock),)
    )
    _argv, prefix = _program(second)
    status, stderr = _run(second, "-qmp", unix(second_sock), "-pidfile", str(pidfile))
    assert (status, stderr) == (
        1,
        f"{prefix}cannot create PID file: Cannot lock pid file: Resource temporarily unavailable\n",
    )
    assert sorted(os.listdir(tmp_path)) == ["a.sock", "vm.pid"]
    assert pidfile.read_text() == f"{first.pid}\n"
    assert status_of(str(first_sock), holder) == ("running", True)
    first.terminate()
    assert _finish(first)[0] == 0
    assert sorted(os.listdir(tmp_path)) == []


def status_of(sock: str, program: str) -> tuple[str, bool]:
    conn = _connect(sock, program)
    try:
        return status(conn)
    finally:
        conn.close()


def test_pidfile_that_was_replaced_is_left_alone(tmp_path: Path) -> None:
    """A pid file someone replaced while the machine ran is not the machine's to remove
    (QEMU removes whatever is at the path)."""
    sock, pidfile = str(tmp_path / "qmp.sock"), tmp_path / "vm.pid"
    proc = _start("qapigen", "-qmp", unix(sock), "-pidfile", str(pidfile), sockets=(sock,))
    pidfile.unlink()
    pidfile.write_text("4242\n")
    proc.terminate()
    assert _finish(proc)[0] == 0
    assert pidfile.read_text() == "4242\n"


def test_pidfile_is_not_written_through_a_symbolic_link(tmp_path: Path) -> None:
    """-pidfile naming a symbolic link is refused (QEMU would truncate what it points to)."""
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    (tmp_path / "vm.pid").symlink_to(target)
    status, stderr = _run("qapigen", "-pidfile", str(tmp_path / "vm.pid"))
    assert status == 1
    assert stderr == (
        f"qapigen vm: cannot create PID file: Could not create '{tmp_path / 'vm.pid'}': "
        "Too many levels of symbolic links\n"
    )
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize("program", PROGRAMS)
def test_socket_path_that_is_a_directory(program: str, tmp_path: Path) -> None:
    """A -qmp path that is a directory: QEMU's message, status 1, nothing left behind."""
    folder = tmp_path / "d"
    folder.mkdir()
    option = unix(folder)
    _argv, prefix = _program(program)
    assert _run(program, "-qmp", option) == (
        1,
        f"{prefix}-qmp {option}: Failed to unlink socket {folder}: Is a directory\n",
    )
    assert sorted(os.listdir(tmp_path)) == ["d"] and os.listdir(folder) == []


def test_socket_path_that_is_another_file_is_left_alone(tmp_path: Path) -> None:
    """A regular file where the socket should be is refused and kept (QEMU deletes it)."""
    path = tmp_path / "notes.txt"
    path.write_text("not a socket\n")
    option = unix(path)
    assert _run("qapigen", "-qmp", option) == (
        1,
        f"qapigen vm: -qmp {option}: Failed to bind socket to {path}: File exists\n",
    )
    assert path.read_text() == "not a socket\n"
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


@pytest.mark.parametrize("program", PROGRAMS)
def test_stale_socket_is_replaced_and_removed_at_exit(program: str, tmp_path: Path) -> None:
    """A socket left by an earlier run is replaced (as QEMU does), and removed at exit."""
    path = str(tmp_path / "qmp.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    proc = _start(program, "-qmp", unix(path))
    deadline = time.monotonic() + TIMEOUT
    while True:  # the new socket, once it accepts
        try:
            conn = Conn(path, negotiate=True)
            break
        except OSError:
            assert time.monotonic() < deadline, "the stale socket was not replaced"
            time.sleep(0.01)
    assert conn.command("quit") == {"return": {}}
    conn.until_eof()
    assert _finish(proc)[0] == 0
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("program", "how"), [("qemu", "quit"), ("qapigen", "quit"), ("qapigen", "pvpanic")]
)
def test_sigterm_while_exiting_does_not_kill(program: str, how: str, tmp_path: Path) -> None:
    """A SIGTERM sent as soon as SHUTDOWN is seen (what libqtest does), while the program
    is on its way out, leaves the exit status 0, twenty times over: after quit, and
    after a guest shutdown through pvpanic (its write of 4)."""
    for round_ in range(20):
        sock = str(tmp_path / f"qmp{round_}.sock")
        device = ("-device", "pvpanic") if how == "pvpanic" else ()
        proc = _start(program, *device, "-qmp", unix(sock), sockets=(sock,))
        conn = _connect(sock, program)
        if how == "quit":
            conn.send(b'{"execute": "quit"}')
        else:
            conn.send(b'{"execute": "x-guest-pvpanic-write", "arguments": {"value": 4}}')
        while (item := conn.read()) is not EOF:
            assert item is not None
            if item.msg.get("event") == "SHUTDOWN":
                proc.send_signal(signal.SIGTERM)
                break
        status, stderr = _finish(proc)
        assert status == 0, f"round {round_}: {status} {stderr}"
        conn.close()
        assert not os.path.exists(sock)


def test_fleet_removes_its_sockets_and_folder(tmp_path: Path) -> None:
    """A fleet's sockets go as their machines exit, the rest at SIGTERM; the folder the
    program made goes with them."""
    folder = tmp_path / "fleet"
    paths = [str(folder / f"vm{n:04d}.sock") for n in range(5)]
    proc = _start("qapigen", "--count", "5", "--qmp-dir", str(folder), sockets=tuple(paths))
    conn = Conn(paths[2], negotiate=True)
    assert conn.command("quit") == {"return": {}}
    conn.until_eof()
    deadline = time.monotonic() + TIMEOUT
    while os.path.exists(paths[2]):
        assert time.monotonic() < deadline, "the socket of the machine that quit stays"
        time.sleep(0.01)
    assert sorted(os.listdir(folder)) == [os.path.basename(p) for p in paths if p != paths[2]]
    proc.terminate()
    assert _finish(proc)[0] == 0
    assert os.listdir(tmp_path) == []


def test_fleet_folder_of_anyone_without_sticky_bit_is_refused(tmp_path: Path) -> None:
    """An existing --qmp-dir anyone may write to, without the sticky bit, is refused
    (anyone could replace the sockets); with the sticky bit it is used and kept."""
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o777)
    status, stderr = _run("qapigen", "--count", "2", "--qmp-dir", str(folder))
    assert status == 1
    assert stderr == (
        f"qapigen vm: --qmp-dir {folder}: anyone may write to it and it has no sticky bit, "
        "so anyone could replace the sockets in it\n"
    )
    assert os.listdir(folder) == []
    os.chmod(folder, 0o1777)
    paths = tuple(str(folder / f"vm{n:04d}.sock") for n in range(2))
    proc = _start("qapigen", "--count", "2", "--qmp-dir", str(folder), sockets=paths)
    proc.terminate()
    assert _finish(proc)[0] == 0
    assert folder.is_dir() and os.listdir(folder) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder another user's needs root")
def test_fleet_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    status, stderr = _run("qapigen", "--count", "2", "--qmp-dir", str(folder))
    assert status == 1
    assert stderr == (
        f"qapigen vm: --qmp-dir {folder}: belongs to another user (uid 65534), "
        "who could replace the sockets in it\n"
    )


def test_fleet_raises_its_descriptor_limit_or_says_it_cannot(tmp_path: Path) -> None:
    """--count 100 under a soft limit of 64 open files: the program raises the soft limit
    to the hard one and serves; under a hard limit of 64 it says why it cannot, exit 1."""
    import resource

    def limits(soft: int, hard: int) -> Callable[[], None]:
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    folder = tmp_path / "fleet"
    args = [*VM, "--count", "100", "--qmp-dir", str(folder)]
    refused = subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=limits(64, 64)
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        "qapigen vm: --count: 100 machines need 132 file descriptors, "
        "but at most 64 can be open (RLIMIT_NOFILE)\n"
    )
    assert not folder.exists()
    proc = subprocess.Popen(
        args, cwd=REPO, stderr=subprocess.PIPE, text=True, preexec_fn=limits(64, 1024)
    )
    _STARTED.append(proc)
    paths = [str(folder / f"vm{n:04d}.sock") for n in range(100)]
    deadline = time.monotonic() + TIMEOUT
    while not all(os.path.exists(p) for p in paths):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the fleet did not start"
        time.sleep(0.01)
    assert status_of(paths[99], "qapigen") == ("running", True)
    proc.terminate()
    assert _finish(proc)[0] == 0


@pytest.mark.parametrize("program", PROGRAMS)
def test_pipelining_client_gets_every_reply_as_from_qemu(program: str, tmp_path: Path) -> None:
    """150,000 query-status written (by a thread of the client's) before it reads a
    reply: every reply comes, in order, and the connection stays, from QEMU and from
    qapigen vm alike (QEMU buffers them all; qapigen vm holds back the client's
    requests while its replies wait)."""
    count = int(os.environ.get("QAPIGEN_PIPELINED", "150000"))
    sock = str(tmp_path / "qmp.sock")
    proc = _start(program, "-qmp", unix(sock), sockets=(sock,))
    conn = _connect(sock, program)
    conn.sock.settimeout(120)  # QEMU reads a byte at a time: the whole send takes a while
    data = b"".join(b'{"execute": "query-status", "id": %d}' % i for i in range(count))
    sent: list[BaseException | None] = []

    def write() -> None:
        try:
            conn.sock.sendall(data)
            sent.append(None)
        except OSError as err:
            sent.append(err)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    for i in range(count):
        item = conn.read()
        assert isinstance(item, Line), f"{program}: the stream ended after {i} replies"
        assert item.msg.get("id") == i and "return" in item.msg, item.raw
    writer.join(TIMEOUT)
    assert sent == [None]
    assert status(conn) == ("running", True)
    proc.terminate()
    assert _finish(proc)[0] == 0


@pytest.mark.parametrize("program", PROGRAMS)
def test_chardev_socket_removed_at_exit(program: str, tmp_path: Path) -> None:
    """A -chardev socket the program listens on (server=on) is its own: removed at exit,
    as the -qmp ones are."""
    path = str(tmp_path / "mon.sock")
    proc = _start(
        program,
        "-chardev",
        f"socket,id=mon0,path={path},server=on,wait=off",
        "-mon",
        "chardev=mon0,mode=control",
        sockets=(path,),
    )
    assert status_of(path, program) == ("running", True)
    proc.terminate()
    assert _finish(proc)[0] == 0
    assert os.listdir(tmp_path) == []
