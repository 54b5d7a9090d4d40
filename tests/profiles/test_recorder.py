"""Recording a real QEMU 10.0.2, and the shipped profile against it.

Needs ``/usr/bin/qemu-system-x86_64`` 10.0 (``.ci/run`` installs it).  What
the recorder wrote is checked against what the same binary answers when asked
again by another client (QEMU's own ``qemu.qmp``), and the shipped profile
against a fresh recording: every answer that depends on nothing but the binary
must be the same.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ConnectError
from qemu.qmp.legacy import QEMUMonitorProtocol

from qapigen.cli.commands import main
from qapigen.profiles import profile, recorder
from qapigen.profiles.profile import Profile

from ..support.paths import shared_dir

QEMU = "/usr/bin/qemu-system-x86_64"


def _version() -> str:
    try:
        out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return ""
    return out.split("version ", 1)[1].split()[0] if "version " in out else ""


pytestmark = pytest.mark.skipif(
    not _version().startswith("10.0."), reason=f"needs {QEMU} 10.0 (bookworm-backports)"
)


def _schema() -> Path | None:
    """QEMU 10.0's QAPI schema in the shared data, if it is there."""
    base = shared_dir()
    path = base / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json" if base else None
    return path if path is not None and path.exists() else None


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """A fresh recording of the installed QEMU, written and read back as a file (with the
    schema facts of QEMU's schema, when the shared data has it)."""
    path = tmp_path_factory.mktemp("profile") / "qemu.json.xz"
    schema = _schema()
    extra = ["--schema", str(schema)] if schema else []
    assert main(["profile", "record", QEMU, "-o", str(path), *extra]) == 0
    return profile.load(path)


@pytest.fixture
def ask_again(tmp_path: Path) -> Iterator[Any]:
    """Start the binary with some arguments, its monitor on a socket; a qemu.qmp client."""
    processes: list[subprocess.Popen[bytes]] = []
    clients: list[QEMUMonitorProtocol] = []

    def start(args: list[str]) -> QEMUMonitorProtocol:
        sock = str(tmp_path / f"qmp{len(processes)}.sock")
        proc = subprocess.Popen(
            [QEMU, *args, "-qmp", f"unix:{sock},server=on,wait=off"],
            stdin=subprocess.DEVNULL,
        )
        processes.append(proc)
        # The socket's file comes before QEMU listens on it: try until it answers.
        for _ in range(1000):
            client = QEMUMonitorProtocol(sock, server=False)
            try:
                client.connect(negotiate=True)
            except ConnectError:
                assert proc.poll() is None, f"QEMU exited with status {proc.returncode}"
                time.sleep(0.01)
                continue
            clients.append(client)
            return client
        raise AssertionError(f"QEMU's monitor at {sock} never answered")

    yield start
    for client in clients:
        client.close()
    for proc in processes:
        proc.terminate()
        proc.wait(30)


def _wire(message: object) -> str:
    """A message as text, key order kept: replies must match to the byte but for spacing."""
    return json.dumps(message)


def _probe_args(session: profile.Session) -> list[str]:
    """The session's own options, without the monitor, -pidfile and -daemonize."""
    argv = session.argv[1:]
    out = []
    i = 0
    while i < len(argv):
        if argv[i] in ("-qmp", "-pidfile"):
            i += 2
            continue
        if argv[i] != "-daemonize":
            out.append(argv[i])
        i += 1
    return out


@pytest.mark.parametrize("session", ["probe", "probe-tcg"])
def test_the_recorded_replies_are_what_qemu_answers_again(
    recorded: Profile, ask_again: Any, session: str
) -> None:
    recording = recorded.sessions[session]
    client = ask_again(_probe_args(recording))
    differ = []
    for exchange in recording.exchanges:
        if exchange.execute == "qmp_capabilities":
            continue
        command: dict[str, object] = {"execute": exchange.execute}
        if exchange.arguments is not None:
            command["arguments"] = exchange.arguments
        if _wire(client.cmd_obj(command)) != _wire(exchange.reply.message):
            differ.append(exchange.execute)
    assert differ == []


def test_the_recorded_cpu_properties_are_what_qemu_answers_again(
    recorded: Profile, ask_again: Any
) -> None:
    machine = ["-machine", "pc-i440fx-10.0,usb=off,acpi=off", "-accel", "tcg", "-cpu", "qemu64"]
    client = ask_again([*machine, "-m", "64", "-nodefaults", "-display", "none", "-S"])
    gets = [e for e in recorded.sessions["domain"].exchanges if e.execute.startswith("qom-")]
    assert len(gets) == 1 + 464 + 1  # the vCPU's list, its properties, the peripherals
    differ = []
    for exchange in gets:
        if exchange.arguments == {"path": "/machine/peripheral"}:
            continue  # this machine has none; libvirt's has its disk
        command = {"execute": exchange.execute, "arguments": exchange.arguments}
        if _wire(client.cmd_obj(command)) != _wire(exchange.reply.message):
            differ.append(exchange.arguments)
    assert differ == []


def test_the_shipped_profile_is_the_installed_qemus(recorded: Profile) -> None:
    shipped = profile.default()
    assert shipped.version == recorded.version
    assert shipped.greeting == recorded.greeting
    for option in recorder.HELP_OPTIONS:
        assert shipped.help(option) == recorded.help(option), option
    differ = []
    compared = 0
    for name, session in shipped.sessions.items():
        fresh = recorded.sessions[name]
        assert [(e.execute, e.arguments) for e in session.exchanges if e.execute != "qom-get"] == [
            (e.execute, e.arguments) for e in fresh.exchanges if e.execute != "qom-get"
        ]
        if session.accel != fresh.accel:
            continue  # recorded with KVM, and here without, or the other way round
        for exchange in session.exchanges:
            if exchange.marks:
                continue  # depends on the host or on the machine
            again = fresh.exchange(exchange.execute, exchange.arguments)
            assert again is not None, (name, exchange.execute, exchange.arguments)
            compared += 1
            if _wire(again.reply.message) != _wire(exchange.reply.message):
                differ.append((name, exchange.execute, exchange.arguments))
    assert differ == []
    assert compared > 500


def test_recording_with_the_schema_adds_the_shipped_facts(recorded: Profile) -> None:
    if _schema() is None:
        pytest.skip("QEMU's schema is absent: set QAPIGEN_SHARED or put it at ../shared")
    facts = recorded.schema_facts()
    assert facts is not None and facts["names"]
    assert facts == profile.default().schema_facts()


def test_a_schema_that_cannot_be_read_is_refused_before_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.json.xz"
    schema = tmp_path / "nosuch.json"
    assert main(["profile", "record", QEMU, "-o", str(out), "--schema", str(schema)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"qapigen profile record: can't read schema file '{schema}': No such file or directory"
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("binary", "said"),
    [
        ("/bin/false", "/bin/false -machine none,accel=kvm:tcg exited with status 1"),
        ("/bin/true", "/bin/true -daemonize wrote no pid to its -pidfile"),
        ("/nonexistent/qemu", "cannot run /nonexistent/qemu: No such file or directory"),
    ],
)
def test_a_binary_that_is_not_qemu_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], binary: str, said: str
) -> None:
    out = tmp_path / "p.json.xz"
    assert main(["profile", "record", binary, "-o", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "qapigen profile record: probe, accel=kvm:tcg",
        f"qapigen profile record: {said}",
    ]
    assert not out.exists()
