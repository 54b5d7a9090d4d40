"""Record a QEMU binary's profile by running it as libvirt does.

Three runs of the binary (:mod:`qapigen.profiles.libvirt` has the facts):

* ``probe``: libvirt's first probe round (``-machine none,accel=kvm:tcg``,
  ``-daemonize``, ``-pidfile``), asked the first round's questions;
* ``probe-tcg``: the second round (``accel=tcg``), asked the first round's
  questions too, so that a host without KVM (where the first round runs
  TCG) can be answered, then the second round's;
* ``domain``: a domain's start as libvirt starts it (the monitor a listening
  socket passed down as ``fd=N``), asked what libvirt asks up to ``cont``.

The document it builds is the profile format of :mod:`qapigen.profiles.profile`.
Everything runs in a private temporary folder, removed at the end.
"""

from __future__ import annotations

import json
import lzma
import os
import platform
import signal
import socket
import subprocess
import tempfile
import time

from . import libvirt
from .profile import FORMAT, arguments_key, load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from .libvirt import Question

_START_TIMEOUT = 60.0  # seconds for a probe's parent to exit, or a monitor to answer
_REPLY_TIMEOUT = 60.0  # seconds for one reply
_STOP_TIMEOUT = 10.0  # seconds for a process to go after SIGTERM, then after SIGKILL
HELP_OPTIONS = ("-version", "-h", "-machine help", "-device help", "-cpu help")

# Asked in the first probe round besides libvirt's questions: where what the
# simulator keeps live starts from (qapigen/vm/migration.py).
_SIMULATOR_QUESTIONS: Sequence[Question] = (("query-migrate-parameters", None),)
# Commands whose answers depend on the host's devices rather than the binary.
_HOST_DEVICE_COMMANDS = ("query-sev-capabilities", "query-sgx-capabilities")
# Questions of a domain's start whose answers reflect that domain or change it.
_MACHINE_COMMANDS = (
    "migrate-set-capabilities",
    "query-chardev",
    "query-hotpluggable-cpus",
    "query-cpus-fast",
    "query-named-block-nodes",
    "query-block",
    "cont",
)


class RecordError(Exception):
    """The binary could not be recorded; the message says why."""


class _Monitor:
    """A blocking QMP client, enough to ask questions one at a time."""

    def __init__(self, sock: socket.socket, what: str) -> None:
        self._sock = sock
        self._what = what
        self._buffer = b""
        self._id = 0
        sock.settimeout(_REPLY_TIMEOUT)
        self.greeting = self._message()
        if "QMP" not in self.greeting:
            raise RecordError(f"{what}: no QMP greeting: {self.greeting}")

    def _message(self) -> dict[str, object]:
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError:
                raise RecordError(f"{self._what}: no answer in {_REPLY_TIMEOUT:.0f} s") from None
            if not chunk:
                raise RecordError(f"{self._what}: the monitor closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        if not isinstance(message, dict):
            raise RecordError(f"{self._what}: not a QMP message: {line[:200]!r}")
        return message

    def ask(self, execute: str, arguments: dict[str, object] | None) -> dict[str, object]:
        """The reply to one command, without its ``id``; events are left aside."""
        self._id += 1
        command: dict[str, object] = {"execute": execute, "id": self._id}
        if arguments is not None:
            command["arguments"] = arguments
        self._sock.sendall(json.dumps(command).encode() + b"\n")
        while True:
            message = self._message()
            if "event" in message:
                continue
            if message.get("id") != self._id:
                raise RecordError(f"{self._what}: a reply to something else: {message}")
            del message["id"]
            return message

    def close(self) -> None:
        self._sock.close()


def _connect(path: str, what: str, deadline: float) -> _Monitor:
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return _Monitor(sock, what)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                raise RecordError(f"{what}: no monitor at {path}") from None
            time.sleep(0.02)


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fp:
            stat = fp.read()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def _kill(pid: int) -> None:
    """End a daemonized emulator as libvirt does: SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + _STOP_TIMEOUT
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if _gone(pid):
            return


class _Transcript:
    """The exchanges of one session, replies as QEMU sent them."""

    def __init__(self, name: str, argv: list[str], workdir: str) -> None:
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.accel = ""
        self.exchanges: list[tuple[str, dict[str, object] | None, dict[str, object]]] = []

    def ask(self, monitor: _Monitor, questions: Iterable[Question]) -> None:
        for execute, arguments in questions:
            reply = _scrub(monitor.ask(execute, arguments), self.workdir)
            assert isinstance(reply, dict)
            self.exchanges.append((execute, arguments, reply))

    def answer(self, execute: str, arguments: dict[str, object] | None = None) -> object:
        key = arguments_key(arguments)
        for e, a, reply in self.exchanges:
            if e == execute and arguments_key(a) == key:
                return reply.get("return")
        return None


def _scrub(value: object, workdir: str) -> object:
    """``value`` with the recorder's temporary folder written ``<WORKDIR>``."""
    if isinstance(value, str):
        return value.replace(workdir, "<WORKDIR>")
    if isinstance(value, list):
        return [_scrub(v, workdir) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, workdir) for k, v in value.items()}
    return value


def _env() -> dict[str, str]:
    return dict(os.environ, LC_ALL="C")


def _probe(
    binary: str, accel: str, questions: Sequence[Question], workdir: str, name: str
) -> tuple[_Transcript, dict[str, object]]:
    """One probe round; returns its transcript and the greeting."""
    folder = tempfile.mkdtemp(prefix="qmp-", dir=workdir)
    monitor_path = os.path.join(folder, "qmp.monitor")
    pidfile = os.path.join(folder, "qmp.pid")
    argv = libvirt.probe_argv(binary, accel, monitor_path, pidfile)
    try:
        started = subprocess.run(
            argv,
            env=_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT,
            check=False,
        )
    except OSError as err:
        raise RecordError(f"cannot run {binary}: {err.strerror}") from None
    except subprocess.TimeoutExpired:
        raise RecordError(f"{binary} did not daemonize in {_START_TIMEOUT:.0f} s") from None
    said = started.stderr.strip()
    if started.returncode != 0:
        raise RecordError(
            f"{binary} -machine none,accel={accel} exited with status {started.returncode}"
            + (f": {said}" if said else "")
        )
    try:
        with open(pidfile) as fp:
            pid = int(fp.read())
    except (OSError, ValueError):
        raise RecordError(f"{binary} -daemonize wrote no pid to its -pidfile") from None
    try:
        monitor = _connect(monitor_path, f"{binary} ({name})", time.monotonic() + _START_TIMEOUT)
        try:
            transcript = _Transcript(name, _placeholders(argv, binary, folder), workdir)
            transcript.ask(monitor, [("qmp_capabilities", None)])
            transcript.ask(monitor, questions)
            kvm = transcript.answer("query-kvm")
            enabled = isinstance(kvm, dict) and kvm.get("enabled") is True
            transcript.accel = "kvm" if enabled else "tcg"
            return transcript, monitor.greeting
        finally:
            monitor.close()
    finally:
        _kill(pid)


def _placeholders(argv: list[str], binary: str, folder: str) -> list[str]:
    out = ["<EMULATOR>"]
    for arg in argv[1:]:
        out.append(arg.replace(folder, "<DIR>"))
    return out


def _domain(binary: str, workdir: str) -> _Transcript:
    """A domain's start, as libvirt does it, up to the guest's ``cont``."""
    folder = tempfile.mkdtemp(prefix="domain-", dir=workdir)
    image = os.path.join(folder, "disk.img")
    with open(image, "wb") as fp:
        fp.write(bytes(512))
    key = os.path.join(folder, "master-key.aes")
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fp:
        fp.write(os.urandom(32))
    path = os.path.join(folder, "monitor.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    substitutions = {
        "<EMULATOR>": binary,
        "<NAME>": "qapigen-profile",
        "<DOMAIN_DIR>": folder,
        "<UUID>": "00000000-0000-4000-8000-000000000000",
        "<IMAGE>": image,
        "<FD>": str(listener.fileno()),
    }
    argv = []
    for arg in libvirt.DOMAIN_ARGV:
        for token, value in substitutions.items():
            arg = arg.replace(token, value)
        argv.append(arg)
    what = f"{binary} (domain)"
    with open(os.path.join(folder, "stderr"), "wb") as log:
        try:
            proc = subprocess.Popen(
                argv,
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=[listener.fileno()],
            )
        except OSError as err:
            raise RecordError(f"cannot run {binary}: {err.strerror}") from None
    listener.close()
    try:
        try:
            monitor = _connect(path, what, time.monotonic() + _START_TIMEOUT)
        except RecordError:
            proc.poll()
            with open(os.path.join(folder, "stderr"), errors="replace") as fp:
                said = fp.read().strip()
            raise RecordError(f"{what}: status {proc.returncode}: {said}") from None
        try:
            transcript = _Transcript("domain", list(libvirt.DOMAIN_ARGV), workdir)
            transcript.accel = "tcg"
            transcript.ask(monitor, [("qmp_capabilities", None)])
            transcript.ask(monitor, libvirt.DOMAIN_BEFORE_CPU)
            cpus = transcript.answer("query-cpus-fast")
            if not isinstance(cpus, list) or not cpus or "qom-path" not in cpus[0]:
                raise RecordError(f"{what}: query-cpus-fast gave no vCPU: {cpus}")
            cpu = {"path": cpus[0]["qom-path"]}
            transcript.ask(monitor, [("qom-list", cpu)])
            listed = transcript.answer("qom-list", cpu)
            assert isinstance(listed, list)
            names = [p["name"] for p in listed if p.get("type") == "bool"]
            names += libvirt.CPU_EXTRA_PROPERTIES
            transcript.ask(monitor, [("qom-get", {**cpu, "property": n}) for n in names])
            transcript.ask(monitor, libvirt.DOMAIN_AFTER_CPU)
            return transcript
        finally:
            monitor.close()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_TIMEOUT)


def _help(binary: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for option in HELP_OPTIONS:
        proc = subprocess.run(
            [binary, *option.split()],
            env=_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT,
            check=False,
        )
        out[option] = {"stdout": proc.stdout, "status": proc.returncode}
    return out


def _host_cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fp:
            for line in fp:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _marks(
    execute: str, arguments: dict[str, object] | None, session: str, differs: set[str]
) -> list[str]:
    marks = []
    if execute == "query-kvm" or arguments_key(arguments) + execute in differs:
        marks.append("accel")
    model = arguments.get("model") if arguments else None
    if isinstance(model, dict) and model.get("name") == "host":
        marks.append("host-cpu")
    if execute in _HOST_DEVICE_COMMANDS:
        marks.append("host-devices")
    peripherals = execute == "qom-list" and arguments == {"path": "/machine/peripheral"}
    if session == "domain" and (execute in _MACHINE_COMMANDS or peripherals):
        marks.append("machine")
    return marks


def record(binary: str, progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """Run ``binary`` as libvirt does and return its profile (the JSON document)."""
    say = progress or (lambda _text: None)
    with tempfile.TemporaryDirectory(prefix="qapigen-profile-") as workdir:
        say("probe, accel=kvm:tcg")
        questions = [*libvirt.PROBE, *_SIMULATOR_QUESTIONS]
        probe, greeting = _probe(binary, "kvm:tcg", questions, workdir, "probe")
        say("probe, accel=tcg")
        tcg_questions = list(libvirt.PROBE)
        tcg_questions += [q for q in libvirt.PROBE_TCG if q not in tcg_questions]
        tcg, _ = _probe(binary, "tcg", tcg_questions, workdir, "probe-tcg")
        say("domain start")
        domain = _domain(binary, workdir)
        say("-version and help")
        helps = _help(binary)
    # What the two probe rounds answered differently depends on the accelerator.
    differs = set()
    if probe.accel == "kvm":
        for execute, arguments, reply in probe.exchanges:
            key = arguments_key(arguments)
            for e, a, other in tcg.exchanges:
                if e == execute and arguments_key(a) == key and other != reply:
                    differs.add(key + execute)
    replies: list[dict[str, object]] = []
    index: dict[str, int] = {}
    sessions: dict[str, object] = {}
    for transcript in (probe, tcg, domain):
        exchanges = []
        for execute, arguments, reply in transcript.exchanges:
            text = json.dumps(reply, separators=(",", ":"))
            if text not in index:
                index[text] = len(replies)
                replies.append(reply)
            marks = _marks(execute, arguments, transcript.name, differs)
            exchanges.append([execute, arguments, index[text], marks])
        sessions[transcript.name] = {
            "argv": transcript.argv,
            "accel": transcript.accel,
            "exchanges": exchanges,
        }
    return {
        "qapigen-profile": FORMAT,
        "emulator": {
            "binary": binary,
            "version": probe.answer("query-version"),
            "target": _arch(probe.answer("query-target")),
        },
        "greeting": greeting,
        "help": helps,
        "host": {"kvm": probe.accel == "kvm", "cpu": _host_cpu(), "machine": platform.machine()},
        "sessions": sessions,
        "replies": replies,
    }


def _arch(target: object) -> str:
    return str(target.get("arch")) if isinstance(target, dict) else ""


def write(document: dict[str, object], path: str) -> int:
    """Write a profile, xz-compressed; returns its size in bytes."""
    data = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    packed = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    with open(path, "wb") as fp:
        fp.write(packed)
    return len(packed)


def with_section(path: str, key: str, section: dict[str, object]) -> dict[str, object]:
    """The profile at ``path`` as a document, with ``section`` as its member ``key``
    (replacing any); :class:`~.profile.ProfileError` if ``path`` is not a profile."""
    load(path)
    with lzma.open(path, "rb") as fp:
        document: dict[str, object] = json.load(fp)
    document[key] = section
    return document
