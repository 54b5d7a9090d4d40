"""QMP speed: `qapigen vm` against real QEMU 10.0, same client, same run.

Both are started with the same command line, QEMU's:

    -machine none -display none -nodefaults -qmp unix:SOCK,server=on,wait=off

(``qapigen vm`` takes QEMU's options), and measured by the same client, a
minimal blocking one that writes JSON and reads lines (so that the numbers are
the servers', not a client library's):

* round trips per second of ``query-status``: one at a time (send, wait for
  the reply), and pipelined in batches of 100 (send 100, read 100), median
  over rounds that alternate between the two servers;
* time from starting the process to receiving the greeting: the client
  connects as soon as the socket accepts, median of N starts, alternating;
  beside it the time to the reply to ``qmp_capabilities`` (what a client
  waits for before its first real command) and the processor time of the
  whole process (user + system, start to exit after ``quit``: the least
  noisy of the three on a shared machine).

The floor under any Python program is measured in the same rounds: the bench
environment's interpreter running nothing (``python -c pass``, and with ``-I
-S``, no site), and what the ``qapigen`` script that pip writes does before
any of qapigen's code (``import re, sys``, which imports ``enum`` too).
``--baseline CHECKOUT`` installs another checkout (main's, say) in a second
environment and measures it in the same rounds, for a comparison that the
machine's load cannot skew.

Targets (issue 4): round trips at least 2x QEMU's; start to greeting at most
2x QEMU's, and (issue 14) at most 1.0x with the default profile, which ``qapigen
vm`` serves unless told otherwise: it must load it lazily.  The oracle's anchor
on this host (fact 32): 4,447/s one at a time, 5,430/s pipelined, 22.9 ms to the
greeting.

``qapigen vm`` is measured as a user runs it: the ``qapigen`` script of a
fresh virtual environment with a regular install of this checkout (``pip
install --no-deps .``, which compiles the bytecode), made at the start of the
run.  A development environment's editable install is not what users run: its
import hook alone adds some 10 ms to every Python start.
``--no-bytecode-cache`` measures starts that compile every module from source.

``bench_panic.py`` and ``bench_fleet.py`` reuse the helpers here.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QEMU = "qemu-system-x86_64"
MACHINE_NONE = ["-machine", "none", "-display", "none", "-nodefaults"]
#: Where the installed copy of qapigen under measurement lives (named for the
#: checkout's folder: checkouts side by side do not replace each other's).
BENCH_VENV = Path(tempfile.gettempdir()) / f"qapigen-bench-venv-{REPO.name}"
#: Where ``--baseline``'s checkout is installed.
BASELINE_VENV = Path(tempfile.gettempdir()) / f"qapigen-bench-baseline-venv-{REPO.name}"

TARGET_RATE = 2.0  # ours / QEMU's, at least
TARGET_START = 2.0  # ours / QEMU's, at most
# ours / QEMU's, at most, serving the default profile (issue 14: loaded lazily)
TARGET_START_PROFILE = 1.0


# -- processes ------------------------------------------------------------------------


def install(venv: Path = BENCH_VENV, checkout: Path = REPO) -> Path:
    """A fresh virtual environment with ``checkout`` installed as users install it."""
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "-q", "--no-deps", str(checkout)],
        check=True,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return venv


def qapigen_vm(*args: str, venv: Path = BENCH_VENV) -> list[str]:
    """The command that starts ``qapigen vm`` with ``args``, as installed by :func:`install`."""
    return [str(venv / "bin" / "qapigen"), "vm", *args]


def unix(path: str) -> str:
    return f"unix:{path},server=on,wait=off"


def child_env(bytecode_cache: bool = True) -> dict[str, str]:
    """The environment for ``qapigen vm``: without a bytecode cache, every start compiles."""
    env = dict(os.environ)
    if not bytecode_cache:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="qapigen-bench-nocache-")
    return env


def qemu_binary() -> str:
    path = shutil.which(QEMU)
    if path is None:
        sys.exit(f"{QEMU} is not installed (Debian: qemu-system-x86, 10.0 from bookworm-backports)")
    return path


def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def rss_kib(pid: int) -> int:
    """The process's resident set (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """End a process this benchmark started (politely first)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the client ---------------------------------------------------------------------------


class QMP:
    """A minimal blocking QMP client: JSON out, lines in (the same for every server)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.greeting: Any = json.loads(self.file.readline())
        #: Events received while waiting for replies, in order.
        self.events: list[dict[str, Any]] = []

    @classmethod
    def connect(cls, path: str, timeout: float = 30.0) -> QMP:
        """Connect as soon as the socket accepts (retrying until then); read the greeting."""
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)
        sock.settimeout(timeout)
        return cls(sock)

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> dict[str, Any] | None:
        """The next message; None at the end of the stream."""
        line = self.file.readline()
        if not line:
            return None
        message: dict[str, Any] = json.loads(line)
        return message

    def reply(self) -> dict[str, Any]:
        """The next reply; events before it are kept in ``events``."""
        while True:
            message = self.read()
            if message is None:
                raise EOFError("the server closed the connection")
            if "event" in message:
                self.events.append(message)
            else:
                return message

    def execute(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        request: dict[str, Any] = {"execute": name}
        if arguments is not None:
            request["arguments"] = arguments
        self.send(json.dumps(request).encode())
        reply = self.reply()
        if "error" in reply:
            raise RuntimeError(f"{name}: {reply['error']}")
        return reply["return"]

    def negotiate(self) -> None:
        self.execute("qmp_capabilities")

    def event(self, name: str) -> dict[str, Any]:
        """Wait for event ``name`` (events kept earlier count)."""
        while True:
            for i, message in enumerate(self.events):
                if message["event"] == name:
                    del self.events[: i + 1]
                    return message
            read = self.read()
            if read is None:
                raise EOFError(f"the server closed the connection before {name}")
            message = read
            if "event" in message:
                self.events.append(message)

    def until_eof(self) -> None:
        while self.read() is not None:
            pass


# -- measurements ---------------------------------------------------------------------------

QUERY_STATUS = b'{"execute": "query-status"}\n'


def one_at_a_time(qmp: QMP, count: int) -> float:
    """Round trips per second, each request sent after the previous reply."""
    start = time.perf_counter()
    for _ in range(count):
        qmp.send(QUERY_STATUS)
        qmp.reply()
    return count / (time.perf_counter() - start)


def pipelined(qmp: QMP, batches: int, batch: int = 100) -> float:
    """Round trips per second, ``batch`` requests in one write, then their replies."""
    data = QUERY_STATUS * batch
    start = time.perf_counter()
    for _ in range(batches):
        qmp.send(data)
        for _ in range(batch):
            qmp.reply()
    return batches * batch / (time.perf_counter() - start)


def start_to_greeting(command: list[str], sock: str, env: dict[str, str]) -> float:
    """Seconds from starting the process to holding its greeting; the process then quits."""
    return start_timings(command, sock, env)[0]


def start_timings(command: list[str], sock: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from starting the process to holding its greeting, and to the
    reply to ``qmp_capabilities``; and the processor time (user + system) the
    process took in all, to its exit after ``quit``."""
    if os.path.exists(sock):
        os.unlink(sock)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        qmp = QMP.connect(sock)
        greeted = time.perf_counter() - start
        qmp.negotiate()
        negotiated = time.perf_counter() - start
        qmp.execute("quit")
        qmp.until_eof()
        qmp.close()
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0  # reaped here, for wait4's usage
    finally:
        stop(proc)
    return greeted, negotiated, usage.ru_utime + usage.ru_stime


def run_timings(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall and processor seconds of a process that runs to its end by itself
    (the interpreter's floor), as :func:`start_timings` gives them."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} exited with status {proc.returncode}")
    return elapsed, elapsed, usage.ru_utime + usage.ru_stime


def describe_times(times: list[float]) -> str:
    return (
        f"median {statistics.median(times) * 1e3:7.1f} ms"
        f"  (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f})"
    )


def measure(args: argparse.Namespace, qemu: str, folder: str) -> None:
    install()
    if args.baseline is not None:
        install(BASELINE_VENV, args.baseline)
    env = child_env(not args.no_bytecode_cache)
    names = ("qapigen vm", "QEMU")

    def command(name: str, sock: str) -> list[str]:
        options = [*MACHINE_NONE, "-qmp", unix(sock)]
        return qapigen_vm(*options) if name == "qapigen vm" else [qemu, *options]

    # Round trips: both servers up, measured in alternation.
    procs, clients = [], {}
    try:
        for n, name in enumerate(names):
            sock = os.path.join(folder, f"rt{n}.sock")
            procs.append(
                subprocess.Popen(command(name, sock), cwd=REPO, env=env, stderr=subprocess.DEVNULL)
            )
            clients[name] = QMP.connect(sock)
            clients[name].negotiate()
            one_at_a_time(clients[name], 200)  # warm up
        single: dict[str, list[float]] = {name: [] for name in names}
        batched: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.rounds):
            for name in names:
                single[name].append(one_at_a_time(clients[name], args.count))
                batched[name].append(pipelined(clients[name], args.count // 100))
        for qmp in clients.values():
            qmp.execute("quit")
            qmp.until_eof()
            qmp.close()
    finally:
        for proc in procs:
            stop(proc)

    # Start to greeting, and the floor, interleaved.
    sock = os.path.join(folder, "start.sock")
    python = str(BENCH_VENV / "bin" / "python")
    floor = {
        "python -c pass": [python, "-c", "pass"],
        "python -I -S -c pass": [python, "-I", "-S", "-c", "pass"],
        "+ pip's script (re)": [python, "-c", "import re, sys"],
    }
    starters: dict[str, Any] = {
        name: functools.partial(start_timings, command(name, sock), sock, env) for name in names
    }
    if args.baseline is not None:
        baseline = [str(BASELINE_VENV / "bin" / "qapigen"), "vm", *MACHINE_NONE, "-qmp", unix(sock)]
        starters["baseline"] = functools.partial(start_timings, baseline, sock, env)
    for label, line in floor.items():
        starters[label] = functools.partial(run_timings, line, env)
    for starter in starters.values():  # untimed: fills the bytecode cache, warms the page cache
        starter()
    starts: dict[str, list[tuple[float, float, float]]] = {name: [] for name in starters}
    for _ in range(args.starts):
        for name, starter in starters.items():
            starts[name].append(starter())

    print(f"QEMU: {qemu_version(qemu)}")
    print(f"command line (both): {' '.join(MACHINE_NONE)} -qmp unix:SOCK,server=on,wait=off")
    cache = "off (compiled at every start)" if args.no_bytecode_cache else "on"
    print(f"qapigen vm installed in {BENCH_VENV}; bytecode cache {cache}")
    print(
        f"query-status round trips per second, median of {args.rounds} rounds "
        f"of {args.count} (same minimal client):"
    )
    print(f"{'':24}{'qapigen vm':>12}{'QEMU':>12}{'ratio':>9}")
    for label, rates in (("one at a time", single), ("pipelined, batches of 100", batched)):
        ours, theirs = statistics.median(rates[names[0]]), statistics.median(rates[names[1]])
        ratio = ours / theirs
        verdict = "met" if ratio >= TARGET_RATE else "MISSED"
        print(
            f"{label:24}{ours:12,.0f}{theirs:12,.0f}{ratio:9.2f}"
            f"   (target >= {TARGET_RATE:g}: {verdict})"
        )
    print(f"start to greeting, {args.starts} starts each, alternating (medians, ms):")
    print(
        f"  {'':24}{'greeting':>10}{'negotiated':>12}{'processor':>11}{'/QEMU':>7}{'cpu/QEMU':>10}"
    )
    qemu_times = starts[names[1]]
    qemu_wall = statistics.median(t[0] for t in qemu_times)
    qemu_cpu = statistics.median(t[2] for t in qemu_times)
    for name, times in starts.items():
        wall = statistics.median(t[0] for t in times)
        negotiated = statistics.median(t[1] for t in times)
        cpu = statistics.median(t[2] for t in times)
        label = f"baseline ({args.baseline})" if name == "baseline" else name
        print(
            f"  {label[:24]:24}{wall * 1e3:10.1f}{negotiated * 1e3:12.1f}{cpu * 1e3:11.1f}"
            f"{wall / qemu_wall:7.2f}{cpu / qemu_cpu:10.2f}"
        )
    greetings = [t[0] for t in starts[names[0]]]
    print(f"  qapigen vm greeting: {describe_times(greetings)}")
    ratio = statistics.median(greetings) / qemu_wall
    verdicts = ", ".join(
        f"target <= {target:g} ({issue}): {'met' if ratio <= target else 'MISSED'}"
        for target, issue in ((TARGET_START, "issue 4"), (TARGET_START_PROFILE, "issue 14"))
    )
    print(f"  ratio qapigen vm/QEMU: {ratio:.2f} ({verdicts})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per server (default 5)")
    parser.add_argument(
        "--count", type=int, default=5000, help="round trips per round (default 5000)"
    )
    parser.add_argument("--starts", type=int, default=15, help="starts per program (default 15)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also measure the qapigen of CHECKOUT (installed in a second environment)",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="start qapigen vm without a bytecode cache (compiling every module at every start)",
    )
    args = parser.parse_args(argv)
    qemu = qemu_binary()
    with tempfile.TemporaryDirectory(prefix="qapigen-bench-") as folder:
        measure(args, qemu, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
