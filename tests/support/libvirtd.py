"""A private libvirtd for the tests, and what they read of it.

Not a test module: ``tests/libvirt/conftest.py`` starts one per session.

libvirtd (the monolithic daemon of Debian's libvirt 11.3, from
bookworm-backports; ``.ci/run`` installs it) runs as root, in system mode
(``qemu:///system``), but sees only directories of the session's own: it
runs in a mount namespace of its own (``subreaper.py``) where a folder
under the session's temporary directory is bind-mounted on each of
``/etc/libvirt``, ``/run``, ``/var/lib/libvirt``, ``/var/cache/libvirt`` and
``/var/log/libvirt``.  A system libvirtd, if any, is neither seen nor
disturbed; the tests reach this one through its socket
(``qemu:///system?socket=...``) and read its files under :attr:`Libvirtd.root`.

Its ``qemu.conf`` is the one the issue's recipe gives (root, no security
driver, no cgroups, no namespaces, QEMU's output to a file rather than
virtlogd), and its debug log keeps libvirt's monitor traffic and the
commands it runs (:data:`LOG_FILTERS`).  It runs under a child subreaper, so
that the processes it abandons (QEMU after ``-daemonize``) are reaped at once.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

LIBVIRTD = "/usr/sbin/libvirtd"
QEMU_DRIVER = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"
SUBREAPER = Path(__file__).with_name("subreaper.py")

# What the recipe puts in /etc/libvirt/qemu.conf.
QEMU_CONF = """\
user = "root"
group = "root"
security_driver = "none"
dynamic_ownership = 0
remember_owner = 0
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""

# libvirt's monitor traffic, the emulator's life and the commands it runs.
LOG_FILTERS = "1:qemu.qemu_monitor 1:qemu.qemu_monitor_json 1:qemu.qemu_process 1:util.command 3:*"

# Where the daemon sees each of its private folders (the folder's name under root).
_MOUNTS = {
    "etc": "/etc/libvirt",
    "run": "/run",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}

_START_TIMEOUT = 120.0  # the first `virsh version` probes every qemu-system-* on PATH
_STOP_TIMEOUT = 30.0
_LISTEN_TRIES = 60  # defines of a domain until virsh event shows one
_LISTEN_WAIT = 0.5  # seconds for each to show
_LOG_POLL = 0.05  # seconds between readings of the debug log while waiting on it


def _domain_name(xml: Path) -> str:
    name = ElementTree.parse(xml).findtext("name")
    assert name, f"{xml} names no domain"
    return name


class LibvirtError(Exception):
    """A virsh command failed; the message is virsh's."""


def missing() -> str | None:
    """Why a private libvirtd cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "libvirt's system daemon needs root"
    if not os.path.exists(LIBVIRTD) or shutil.which("virsh") is None:
        return "libvirt is not installed (libvirt-daemon, libvirt-clients: see .ci/run)"
    if not os.path.exists(QEMU_DRIVER):
        return "libvirt's QEMU driver is not installed (libvirt-daemon-driver-qemu)"
    absent = [p for p in _MOUNTS.values() if not os.path.isdir(p)]
    if absent:
        return f"libvirt's directories are missing: {', '.join(absent)}"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return "cannot make a mount namespace for a private libvirtd: " + probe.stderr.strip()
    return None


class Libvirtd:
    """A libvirtd of the session's own, under ``root`` (a fresh, private folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        """The daemon's read-write socket, as the tests reach it."""
        return self.host_path("/run/libvirt/libvirt-sock")

    @property
    def uri(self) -> str:
        """The connection URI of this daemon."""
        return f"qemu:///system?socket={self.socket}"

    @property
    def debug_log(self) -> Path:
        """libvirtd's debug log (:data:`LOG_FILTERS`)."""
        return self.host_path("/var/log/libvirt/libvirtd.log")

    def host_path(self, path: str) -> Path:
        """Where the tests find what the daemon sees at ``path``."""
        for name, mount in sorted(_MOUNTS.items(), key=lambda m: -len(m[1])):
            if path == mount or path.startswith(mount + "/"):
                return self.root / name / path[len(mount) :].lstrip("/")
        return Path(path)

    def domain_log(self, name: str) -> str:
        """The domain's log: libvirt's command line, then what QEMU printed."""
        return self.host_path(f"/var/log/libvirt/qemu/{name}.log").read_text()

    def start(self) -> None:
        """Start the daemon; returns once ``virsh version`` answers."""
        for name in _MOUNTS:
            (self.root / name).mkdir(mode=0o700)
        etc = self.root / "etc"
        (etc / "qemu").mkdir()
        (etc / "qemu.conf").write_text(QEMU_CONF)
        (etc / "libvirtd.conf").write_text(
            # The socket folder is private already; the sockets are too.
            'unix_sock_rw_perms = "0700"\n'
            'unix_sock_ro_perms = "0700"\n'
            'unix_sock_admin_perms = "0700"\n'
            'auth_unix_ro = "none"\n'
            'auth_unix_rw = "none"\n'
            f'log_filters = "{LOG_FILTERS}"\n'
            'log_outputs = "1:file:/var/log/libvirt/libvirtd.log"\n'
        )
        binds = []
        for name, mount in _MOUNTS.items():
            binds += ["--bind", f"{self.root / name}:{mount}"]
        with open(self.root / "daemon.out", "wb") as out:
            self._proc = subprocess.Popen(
                [sys.executable, str(SUBREAPER), *binds, "--", LIBVIRTD],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        for _ in range(int(_START_TIMEOUT / 0.1)):
            if self._proc.poll() is not None:
                raise RuntimeError(f"libvirtd ended at start: {self._daemon_output()}")
            if self.socket.exists():
                proc = self._run_virsh(["version"], deadline - time.monotonic())
                if proc.returncode == 0:
                    return
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"libvirtd did not answer in {_START_TIMEOUT:.0f} s")

    def _daemon_output(self) -> str:
        return (self.root / "daemon.out").read_text(errors="replace").strip()

    def stop(self) -> None:
        """Destroy the domains still running, then end the daemon (and its orphans)."""
        if self._proc is None:
            return
        if self._proc.poll() is None and self.socket.exists():
            listed = self._run_virsh(["list", "--name"], 30.0)
            for name in listed.stdout.split():
                self._run_virsh(["destroy", name], 30.0)
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(_STOP_TIMEOUT)
        self._proc = None

    def _run_virsh(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["virsh", "-q", "-c", self.uri, *args],
            capture_output=True,
            text=True,
            timeout=max(timeout, 1.0),
            check=False,
        )

    def virsh(self, *args: str, timeout: float = 60.0) -> str:
        """virsh's output for ``args``; :class:`LibvirtError` with its message if it fails."""
        proc = self._run_virsh(list(args), timeout)
        if proc.returncode != 0:
            raise LibvirtError(proc.stderr.strip())
        return proc.stdout

    @contextmanager
    def define_and_watch(self, xml: Path) -> Iterator[EventStream]:
        """Define the domain of ``xml`` and watch its events while in the block;
        then destroy and undefine it.

        ``virsh event --all --loop`` says nothing once it listens: the domain is
        defined (again) until its ``Defined`` event comes, and what is seen from
        then on is what came after.
        """
        name = _domain_name(xml)
        self.virsh("define", str(xml))  # virsh event --domain needs it defined
        proc = subprocess.Popen(
            ["virsh", "-q", "-c", self.uri, "event", "--domain", name, "--all", "--loop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        stream = EventStream(proc)
        try:
            for _ in range(_LISTEN_TRIES):
                self.virsh("define", str(xml))
                if stream.next_within(_LISTEN_WAIT, "lifecycle: Defined"):
                    break
            else:
                raise AssertionError(f"virsh event showed no Defined event for {name}")
            stream.ignore_defined = True
            yield stream
        finally:
            stream.close()
            self._forget(name)

    def _forget(self, name: str) -> None:
        """Destroy the domain if it runs, and undefine it."""
        for action in ("destroy", "undefine"):
            self._run_virsh([action, name], 60.0)  # destroy fails when it is not running

    def log_offset(self) -> int:
        """Where the debug log ends now (see :meth:`log_since`)."""
        return self.debug_log.stat().st_size

    def log_since(self, offset: int) -> str:
        """The debug log from ``offset`` on."""
        with open(self.debug_log, "rb") as fp:
            fp.seek(offset)
            return fp.read().decode(errors="replace")

    def log_when(self, offset: int, done: Callable[[str], bool], timeout: float) -> str:
        """The debug log from ``offset`` on, once ``done`` holds of it, or as it is at
        ``timeout``.

        libvirt logs what the emulator sends as its monitor thread reads it, and a
        domain event says nothing of the messages the emulator sends after the one
        that caused it: a test that has seen the events it waited for waits on the
        log too.
        """
        deadline = time.monotonic() + timeout
        log = self.log_since(offset)
        for _ in range(int(timeout / _LOG_POLL)):
            if done(log) or time.monotonic() > deadline:
                break
            time.sleep(_LOG_POLL)
            log = self.log_since(offset)
        return log


class EventStream:
    """The events ``virsh event --domain NAME --all --loop`` prints, as they come.

    Each is kept as ``kind: detail`` (``lifecycle: Started Booted``) or ``kind``
    (``reboot``), without the domain's name.
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.seen: list[str] = []  # every event so far
        self._cursor = 0  # where the next collect starts
        # The handshake's late Defined events, once it is done.
        self.ignore_defined = False

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.strip():
                self._lines.put(event_text(line.strip()))
        self._lines.put(None)

    def collect(self, done: Callable[[list[str]], bool], timeout: float = 60.0) -> list[str]:
        """The events since the last collect, once ``done`` holds of them or at ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done(self.seen[self._cursor :]):
            try:
                event = self._lines.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if event is None:
                break
            if not (self.ignore_defined and event.startswith("lifecycle: Defined ")):
                self.seen.append(event)
        new = self.seen[self._cursor :]
        self._cursor = len(self.seen)
        return new

    def wait_for(self, wanted: str, timeout: float = 60.0) -> list[str]:
        """The events since the last collect, up to ``wanted``; AssertionError if none comes."""
        new = self.collect(lambda events: wanted in events, timeout)
        assert wanted in new, f"no event {wanted!r} in {timeout} s; saw {new}"
        # What came after it is for the next collect.
        cut = new.index(wanted) + 1
        self._cursor -= len(new) - cut
        return new[:cut]

    def next_within(self, timeout: float, wanted: str) -> bool:
        """Whether an event starting ``wanted`` comes within ``timeout``; forgets all seen."""
        found = self.collect(lambda events: any(e.startswith(wanted) for e in events), timeout)
        self.seen.clear()
        self._cursor = 0
        return any(e.startswith(wanted) for e in found)

    def close(self) -> None:
        """Stop listening."""
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait(10)
        self._thread.join(10)


def event_text(line: str) -> str:
    """A ``virsh event`` line without its domain: ``lifecycle: Started Booted``."""
    match = re.fullmatch(r"event '([^']+)' for domain '[^']*'(?:: (.*))?", line)
    if match is None:
        return line
    kind, detail = match.groups()
    return f"{kind}: {detail}" if detail else kind
