"""``qapigen vm`` with its QMP monitor on its standard input and output: ``-qmp
stdio``, or ``-chardev stdio,id=ID`` with ``-mon chardev=ID,mode=control``.

Each test runs real QEMU 10.0.2 and ``qapigen vm`` the same way (the same
options, the same bytes on stdin through a pipe, a file or ``/dev/null``) and
compares what comes out: stdout byte for byte (the greeting's ``package`` and
the events' timestamps masked), stderr (the program's name masked) and the
exit status.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ..support.emulators import QEMU, QEMU_NONE, TIMEOUT, VM, needs_qemu
from ..support.qemu import RawQMP

pytestmark = needs_qemu

NEGOTIATE = b'{"execute": "qmp_capabilities"}\n'
QUIT = b'{"execute": "quit"}\n'
#: The greeting, its package masked.
GREETING = (
    b'{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "<P>"}, '
    b'"capabilities": ["oob"]}}\r\n'
)
STDIO_MONITORS = {
    "qmp": ("-qmp", "stdio"),
    "chardev": ("-chardev", "stdio,id=m", "-mon", "chardev=m,mode=control"),
}


def _masked(out: bytes) -> bytes:
    out = re.sub(rb'"package": "[^"]*"', b'"package": "<P>"', out)
    return re.sub(rb'"timestamp": \{[^}]*\}', b'"timestamp": <T>', out)


def _message(err: bytes) -> bytes:
    """stderr with each line's program name masked (and QEMU's sender of a signal)."""
    err = re.sub(rb"(?m)^(qemu-system-x86_64|qapigen vm): ", b"<PROG>: ", err)
    return re.sub(rb"(terminating on signal \d+) from pid \d+ \([^)]*\)", rb"\1", err)


class Running:
    """A program with its stdin and stdout on pipes; stdout read line by line,
    each read bounded by :data:`TIMEOUT`."""

    def __init__(
        self, program: Sequence[str], options: Sequence[str], stdin: int = subprocess.PIPE
    ) -> None:
        self.proc = subprocess.Popen(
            [*program, *options],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._out, selectors.EVENT_READ)
        self._buf = b""
        self.said = b""

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def end_input(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.stdin = None  # communicate() must not touch it

    def line(self) -> bytes:
        """The next line of stdout (``\\r\\n`` kept); AssertionError at its end."""
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no line in {TIMEOUT} s; unterminated: {self._buf!r}"
            if self._selector.select(left):
                chunk = os.read(self._out, 65536)
                assert chunk, f"stdout ended; unterminated: {self._buf!r}"
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        self.said += line + b"\n"
        return line + b"\n"

    def finish(self) -> tuple[bytes, bytes, int]:
        """All of stdout (the lines read and the rest), stderr and the exit status,
        once the program has exited."""
        out, err = self.proc.communicate(timeout=TIMEOUT)
        self._selector.close()
        return _masked(self.said + self._buf + out), _message(err), self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=TIMEOUT)
        self._selector.close()


def _both(
    options: Sequence[str], session: Callable[[Running], None]
) -> list[tuple[bytes, bytes, int]]:
    """What ``session`` (a function of a :class:`Running`) gets from QEMU, then
    from ``qapigen vm``: stdout, stderr, exit status."""
    assert QEMU is not None
    results = []
    for program in ((QEMU,), VM):
        running = Running(program, [*QEMU_NONE, *options])
        try:
            session(running)
            results.append(running.finish())
        finally:
            running.kill()
    return results


def _conversation(running: Running) -> None:
    """A session on a pipe kept open: every reply read before the next request."""
    running.line()  # the greeting
    for request in (
        NEGOTIATE,
        b'{"execute": "query-status", "id": 1}\n',
        b'{"execute": "query-chardev"}\n',
        b'{"execute": "stop"}\n',
        b'{"execute": "getfd", "arguments": {"fdname": "x"}}\n',
        b'{"execute": "bogus"}\n',
    ):
        running.send(request)
        running.line()
        if request.startswith(b'{"execute": "stop"'):
            running.line()  # STOP's event, then the reply
    running.send(QUIT)


@pytest.mark.parametrize("monitor", sorted(STDIO_MONITORS))
def test_a_session_on_stdio_is_qemus(monitor: str) -> None:
    """Greeting, replies, events and quit's SHUTDOWN then reply, each ending in
    ``\\r\\n``, query-chardev's ``stdio``, getfd finding no descriptor; then exit 0."""
    qemu, ours = _both(STDIO_MONITORS[monitor], _conversation)
    assert ours == qemu
    out, err, status = ours
    assert status == 0 and err == b""
    assert out.count(b"\r\n") == 10 and out.startswith(b'{"QMP": ')
    assert b'"filename": "stdio"' in out


def _end_then_signal(data: bytes, answers: int) -> Callable[[Running], None]:
    def session(running: Running) -> None:
        running.line()  # the greeting
        running.send(data)
        running.end_input()
        for _ in range(answers):
            running.line()
        # Still running after its input's end: it hears the signal, and says so on stdout.
        running.proc.send_signal(signal.SIGTERM)

    return session


@pytest.mark.parametrize(
    ("data", "answers"),
    [
        (NEGOTIATE, 1),
        (NEGOTIATE + b'{"execute": "query-status"', 1),  # unfinished at the end: dropped
        (NEGOTIATE + b'{"execute": "query-status", "id": 7} [1', 2),
        (NEGOTIATE + b"{", 1),
    ],
    ids=["whole", "unfinished", "answered-then-unfinished", "brace"],
)
def test_the_end_of_input_leaves_the_program_running(data: bytes, answers: int) -> None:
    """At stdin's end QEMU drops the unfinished message and goes on: events still
    come on stdout (SIGTERM's SHUTDOWN), and the exit status is 0.  (A reply is
    read before the signal: QEMU's greeting may come before its main loop
    handles signals.)"""
    qemu, ours = _both(STDIO_MONITORS["qmp"], _end_then_signal(data, answers))
    assert ours == qemu
    assert ours[2] == 0
    if data.startswith(NEGOTIATE):
        assert b'"reason": "host-signal"' in ours[0]


def _from_file(path: Path) -> list[tuple[bytes, bytes, int]]:
    assert QEMU is not None
    results = []
    for program in ((QEMU,), VM):
        with path.open("rb") as stdin:
            proc = subprocess.run(
                [*program, *QEMU_NONE, "-qmp", "stdio"],
                stdin=stdin,
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
            )
        results.append((_masked(proc.stdout), _message(proc.stderr), proc.returncode))
    return results


def test_requests_from_a_file(tmp_path: Path) -> None:
    """A regular file on stdin (which epoll cannot wait on) is read to its end,
    its last request without a newline answered."""
    requests = tmp_path / "requests"
    status = b'{"execute": "query-status", "id": %d}\n'
    requests.write_bytes(NEGOTIATE + b"".join(status % n for n in range(40)) + QUIT.rstrip(b"\n"))
    qemu, ours = _from_file(requests)
    assert ours == qemu
    assert ours[0].count(b'"status": "running"') == 40 and ours[2] == 0


def test_dev_null_on_stdin(tmp_path: Path) -> None:
    """``/dev/null``: the greeting, then the program runs on until a signal.
    (Its main loop is seen running, on a second monitor, before the signal:
    QEMU's greeting may come before it handles signals.)"""
    assert QEMU is not None
    tmp_path.chmod(0o700)
    path = str(tmp_path / "qmp.sock")
    results = []
    for program in ((QEMU,), VM):
        proc = subprocess.Popen(
            [*program, *QEMU_NONE, "-qmp", "stdio", "-qmp", f"unix:{path},server=on,wait=off"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            greeting = proc.stdout.readline()
            conn = RawQMP(path)
            assert conn.command(NEGOTIATE) == b'{"return": {}}\r\n'
            assert conn.command(b'{"execute": "query-status"}').startswith(b'{"return"')
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=TIMEOUT)
            conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=TIMEOUT)
        results.append((_masked(greeting + out), _message(err), proc.returncode))
    assert results[1] == results[0]
    assert results[1][0] == GREETING and results[1][2] == 0


REFUSED = [
    "-qmp stdio -daemonize",
    "-chardev stdio,id=m -mon chardev=m,mode=control -daemonize",
    "-qmp stdio -qmp stdio",
    "-chardev stdio,id=a -chardev stdio,id=b -mon chardev=a,mode=control",
    "-chardev stdio,id=a -qmp stdio",
    "-qmp stdio -monitor stdio",
    "-monitor stdio -qmp stdio",
    "-qmp stdio,server=on",
    "-qmp stdio,foo=bar",
    "-chardev stdio,id=m,signal=maybe -mon chardev=m,mode=control",
    "-chardev stdio,id=m,foo=bar -mon chardev=m,mode=control",
    "-chardev stdio -mon chardev=m,mode=control",
    # Made after the monitor: the greeting is out first.
    "-qmp stdio -serial stdio",
    "-qmp stdio -serial mon:stdio",
    "-qmp stdio -serial null -serial stdio",
    "-qmp stdio -parallel stdio",
    "-parallel stdio -serial stdio -qmp stdio",
    "-qmp stdio -debugcon stdio",
]


def _refused(options: list[str], base: Sequence[str]) -> list[tuple[bytes, bytes, int]]:
    assert QEMU is not None
    results = []
    for program in ((QEMU,), VM):
        proc = subprocess.run(
            [*program, *base, *options],
            input=NEGOTIATE + QUIT,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        results.append((_masked(proc.stdout), _message(proc.stderr), proc.returncode))
    return results


def _same_refusal(qemu: tuple[bytes, bytes, int], ours: tuple[bytes, bytes, int]) -> None:
    """The same messages and status; nothing on stdout from the simulator, where
    QEMU's monitor thread may have written its greeting before the main thread exited."""
    assert ours[1:] == qemu[1:]
    assert ours[0] == b""
    assert qemu[0] in (b"", GREETING)


@pytest.mark.parametrize("line", REFUSED)
def test_refused_as_qemu_refuses(line: str) -> None:
    """QEMU's messages, in its order, and its exit status 1."""
    qemu, ours = _refused(line.split(), QEMU_NONE)
    _same_refusal(qemu, ours)
    assert ours[2] == 1


@pytest.mark.parametrize(
    "line",
    [
        "-machine pc -nographic -qmp stdio",
        "-machine pc -nographic -chardev stdio,id=m -mon chardev=m,mode=control",
        "-machine pc -nographic -qmp stdio -daemonize",
        "-nographic -daemonize -qmp stdio",
        "-machine pc -nodefaults -nographic -daemonize -qmp stdio",
        "-machine none -nographic -daemonize -qmp stdio",
    ],
)
def test_nographic_puts_the_serial_port_on_stdio(line: str) -> None:
    """``-nographic``'s default serial port wants stdio too (refused naming no
    option), and ``-nographic`` is refused under ``-daemonize`` while a default
    port or monitor would use stdio."""
    qemu, ours = _refused(line.split(), ())
    _same_refusal(qemu, ours)
    assert ours[2] == 1


@pytest.mark.parametrize(
    "line",
    [
        "-machine pc -nographic -serial none -parallel none -qmp stdio",
        "-machine pc -display none -qmp stdio",
        "-machine none -nographic -qmp stdio",
    ],
)
def test_no_port_on_stdio(line: str) -> None:
    """Where no port wants stdio the monitor has it: negotiation, quit, status 0."""
    qemu, ours = _refused(line.split(), ())
    assert ours == qemu
    assert ours[2] == 0 and ours[0].startswith(GREETING)


@pytest.mark.parametrize(
    "line",
    [
        "-chardev stdio,id=x -serial stdio",
        "-chardev stdio,id=x -parallel stdio",
        "-machine pc -nographic -chardev stdio,id=x",
        "-machine pc -nographic -chardev stdio,id=x -parallel mon:stdio",
    ],
)
def test_a_stdio_chardev_no_monitor_uses(line: str, tmp_path: Path) -> None:
    """A ``stdio`` chardev takes stdio from the ports even when no monitor uses it."""
    tmp_path.chmod(0o700)
    qmp = f"unix:{tmp_path}/qmp.sock,server=on,wait=off"
    base = () if "-machine" in line else QEMU_NONE
    qemu, ours = _refused([*line.split(), "-qmp", qmp], base)
    assert ours == qemu and ours[2] == 1
    if "-machine" in line:  # without -qmp: QEMU's default monitor, muxed on the port unless
        qemu, ours = _refused(line.split(), ())  # a port asked for a monitor (mon:)
        assert ours == qemu
        assert (b"'mon:stdio'" in ours[1]) == ("mon:" not in line)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("-machine pc -nographic", b"-nographic cannot be used with -daemonize"),
        ("-monitor stdio", b"-monitor stdio: cannot use stdio with -daemonize"),
        ("-monitor mon:stdio", b"-monitor mon:stdio: cannot use stdio with -daemonize"),
        ("-serial stdio", b"-serial stdio: cannot use stdio with -daemonize"),
        ("-serial mon:stdio", b"-serial mon:stdio: cannot use stdio with -daemonize"),
        ("-parallel stdio", b"-parallel stdio: cannot use stdio with -daemonize"),
        ("-debugcon stdio", b"-debugcon stdio: cannot use stdio with -daemonize"),
        ("-monitor stdio -chardev stdio,id=m", b"-monitor stdio: cannot use stdio with"),
        ("-chardev stdio,id=m -monitor stdio", b"-chardev stdio,id=m: cannot use stdio with"),
    ],
)
def test_stdio_under_daemonize_whatever_the_monitor(line: str, said: bytes, tmp_path: Path) -> None:
    """What wants stdio is refused under -daemonize, a socket's monitor or not."""
    tmp_path.chmod(0o700)
    qmp = f"unix:{tmp_path}/qmp.sock,server=on,wait=off"
    base = () if "-machine" in line else QEMU_NONE
    qemu, ours = _refused([*line.split(), "-daemonize", "-qmp", qmp], base)
    assert ours == qemu
    assert ours[1].startswith(b"<PROG>: " + said) and ours[2] == 1


def _terminal_state(fd: int) -> tuple[int, bool]:
    """What QEMU changes of a terminal on stdin: ISIG, ECHO, ICANON; O_NONBLOCK."""
    lflag = termios.tcgetattr(fd)[3]
    return lflag & (termios.ISIG | termios.ECHO | termios.ICANON), os.get_blocking(fd)


def _read_line(fd: int) -> bytes:
    """A line from ``fd`` (a pipe), read a byte at a time, bounded by :data:`TIMEOUT`."""
    line = b""
    deadline = time.monotonic() + TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            assert left > 0, f"no line in {TIMEOUT} s: {line!r}"
            if selector.select(left):
                byte = os.read(fd, 1)
                assert byte, f"the output ended: {line!r}"
                line += byte
    return line


def _on_a_terminal(program: Sequence[str], options: Sequence[str]) -> list[object]:
    """The state of a terminal on stdin and of the pipe on stdout (whose
    writing end the test shares, flags and all) before, while the program
    serves, and once it has ended; its greeting and exit status."""
    master, slave = os.openpty()
    read_end, write_end = os.pipe()
    try:

        def state() -> tuple[object, ...]:
            return (*_terminal_state(slave), os.get_blocking(write_end))

        states: list[object] = [state()]
        proc = subprocess.Popen(
            [*program, *QEMU_NONE, *options],
            stdin=slave,
            stdout=write_end,
            stderr=subprocess.DEVNULL,
        )
        try:
            greeting = _masked(_read_line(read_end))
            states.append(state())
            os.write(master, NEGOTIATE + QUIT)
            status = proc.wait(TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT)
        return [*states, state(), greeting, status]
    finally:
        for fd in (master, slave, read_end, write_end):
            os.close(fd)


@pytest.mark.parametrize("signal_option", ["", ",signal=on", ",signal=off"])
def test_a_terminal_on_stdin(signal_option: str) -> None:
    """A terminal on stdin and a pipe on stdout are set as QEMU sets them while
    the program runs (non-blocking; no interrupt keys with signal=off), and put
    back at exit."""
    assert QEMU is not None
    options = ["-chardev", f"stdio,id=m{signal_option}", "-mon", "chardev=m,mode=control"]
    qemu = _on_a_terminal((QEMU,), options)
    ours = _on_a_terminal(VM, options)
    assert ours == qemu
    before, running, after = ours[:3]
    assert after == before and running != before


def _nonblocking(pid: int, fd: int) -> bool:
    """Whether process ``pid``'s descriptor ``fd`` has O_NONBLOCK (its fdinfo)."""
    with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as fdinfo:
        for line in fdinfo:
            key, _, value = line.partition(":")
            if key == "flags":
                return bool(int(value.strip(), 8) & os.O_NONBLOCK)
    raise AssertionError(f"no flags in /proc/{pid}/fdinfo/{fd}")


def test_stdin_and_stdout_are_made_non_blocking() -> None:
    """As QEMU makes them while it serves (pipes here, which the test shares)."""
    assert QEMU is not None
    found = []
    for program in ((QEMU,), VM):
        running = Running(program, [*QEMU_NONE, "-qmp", "stdio"])
        try:
            running.line()
            found.append((_nonblocking(running.proc.pid, 0), _nonblocking(running.proc.pid, 1)))
            running.send(NEGOTIATE + QUIT)
            assert running.finish()[2] == 0
        finally:
            running.kill()
    assert found[1] == found[0] == (True, True)


def test_a_closed_stdin_or_stdout() -> None:
    """No stdin: QEMU's error; no stdout: QEMU aborts (an assertion), the
    simulator refuses with the assertion's words."""
    assert QEMU is not None
    for closed in (0, 1):
        results = []
        for program in ((QEMU,), VM):
            script = f'exec "$@" {closed}<&-'
            proc = subprocess.run(
                ["sh", "-c", script, "sh", *program, *QEMU_NONE, "-qmp", "stdio"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=TIMEOUT,
                check=False,
            )
            results.append((_message(proc.stderr), proc.returncode))
        if closed == 0:
            assert results[1] == results[0]
        message = b"<PROG>: -qmp stdio: Failed to set FD nonblocking: Bad file descriptor\n"
        assert results[1] == (message, 1)


def test_query_chardev_among_sockets(tmp_path: Path) -> None:
    """``-qmp stdio`` is numbered among the ``-qmp`` options and listed as
    ``stdio``, in QEMU's order, beside a listening monitor and chardev."""
    tmp_path.chmod(0o700)
    options = [
        *("-qmp", f"unix:{tmp_path}/a.sock,server=on,wait=off"),
        *("-qmp", "stdio"),
        *("-chardev", f"socket,id=s,path={tmp_path}/b.sock,server=on,wait=off"),
    ]

    def session(running: Running) -> None:
        running.line()
        running.send(NEGOTIATE + b'{"execute": "query-chardev"}\n' + QUIT)

    qemu, ours = _both(options, session)
    assert ours == qemu
    chardevs = json.loads(ours[0].split(b"\r\n")[2])["return"]
    assert [c["label"] for c in chardevs] == ["compat_monitor1", "compat_monitor0", "s"]
    assert chardevs[0]["filename"] == "stdio"
