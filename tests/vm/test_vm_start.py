"""What ``qapigen vm`` imports before its greeting: its start-path import budget.

Every module imported before the greeting is paid for by every start (issue 14:
start to greeting at most QEMU's, ``benchmarks/bench_qmp.py``).  The program is
run for real, as the ``qapigen`` script runs it, with ``-X importtime``: what it
imported up to the greeting is on its standard error when the greeting
arrives, and what the interpreter had before (``site``, and an editable
install's import hooks, which the script's own users do not have) is left out.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# What no start may import before the greeting.  Each is imported by some
# other path of the package (or by a library it uses), so each can be caught.
NEVER_BEFORE_THE_GREETING = (
    # The schema language and its back ends: `qapigen vm` needs none of them.
    "qapigen.frontend",
    "qapigen.backends",
    # The standard library's heavy or unneeded parts (QMP is read and written by
    # qapigen.qmp's own JSON code; typing's names are for the type checker only).
    "typing",
    "asyncio",
    "dataclasses",
    "argparse",
    "json",
    "inspect",
    "logging",
    "threading",
    "socket",
    # The typed client and the generator's tools.
    "qemu",
    "jinja2",
)
# Not before the greeting of a line whose machine is built after it (see
# docs/architecture.md, the start-up rules): the machine and the generated
# bindings, whose enums need the enum module, and the standard library's
# modules that the start path does without, for what their import costs.
MACHINE_AND_HEAVY_LIBRARY = (
    "qapigen.machine.machine",
    "qapigen.machine.pvpanic",
    "qapigen.simulator_api",
    "qapigen.runtime.codec",
    "enum",
    "re",
    "signal",
    "selectors",
    "contextlib",
    "functools",
    "collections",
)
# Not before the greeting of a line that names nothing the profile must
# confirm: the profile, and the served schema that is built from it.
# Not before the greeting of a line whose machine need not run before anyone
# asks (no watchdog, no qtest, one machine): QMP's service, which comes with the
# machine, after the greeting (as QEMU greets from its monitor's I/O thread).
SERVICE = (
    "qapigen.qmp.selector_server",
    "qapigen.qmp.service",
    "qapigen.qmp.protocol",
    "qapigen.qmp.json_reader",
    "qapigen.vm.dump_files",
)
PROFILE_AND_SCHEMA = (
    "qapigen.profiles",
    "lzma",
    "qapigen.qmp.schema_info",
    "qapigen.qmp.arguments",
)


def _imported_before_greeting(args: list[str], sock: Path) -> set[str]:
    """The modules ``qapigen vm ARGS`` imported before its greeting on ``sock``
    (not those the interpreter had imported before the program began)."""
    # What the qapigen script does, after saying what was imported already.
    program = (
        "import sys\n"
        "print(*sys.modules, flush=True)\n"
        f"sys.argv = ['qapigen', 'vm', *{args!r}]\n"
        "from qapigen.cli.commands import main\n"
        "sys.exit(main())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-c", program],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None and proc.stdout is not None
    already = set(proc.stdout.readline().decode().split())
    assert "sys" in already
    client = socket.socket(socket.AF_UNIX)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.connect(str(sock))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "no socket within 30 s"
                time.sleep(0.005)
        client.settimeout(30)
        greeting = client.makefile("rb").readline()
        assert greeting.startswith(b'{"QMP": ')
        # What it wrote before the greeting is all in the pipe by now.
        fd = proc.stderr.fileno()
        os.set_blocking(fd, False)
        text = b""
        while select.select([fd], [], [], 0)[0]:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            text += chunk
        client.sendall(b'{"execute": "qmp_capabilities"}{"execute": "quit"}')
        proc.wait(30)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    modules = set()
    for line in text.decode().splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert "qapigen.vm.program" in modules  # it did report its imports
    return modules - already


def _within(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


@pytest.mark.parametrize(
    "line",
    [
        ["-machine", "none", "-display", "none", "-nodefaults"],
        ["-S", "-machine", "pc", "-device", "pvpanic", "-nodefaults", "-display", "none"],
        # libvirt's reactions (-no-shutdown cannot be a bad value: no bindings to check it).
        ["-no-shutdown", "-no-reboot", "-device", "pvpanic-pci", "-display", "none"],
    ],
    ids=["machine-none", "pc-pvpanic", "pc-no-shutdown-pvpanic-pci"],
)
def test_the_greeting_comes_before_the_profile_and_any_front_end(
    tmp_path: Path, line: list[str]
) -> None:
    sock = tmp_path / "q.sock"
    modules = _imported_before_greeting([*line, "-qmp", f"unix:{sock},server=on,wait=off"], sock)
    assert _within(modules, NEVER_BEFORE_THE_GREETING) == []
    assert _within(modules, MACHINE_AND_HEAVY_LIBRARY) == []
    assert _within(modules, PROFILE_AND_SCHEMA) == []
    assert _within(modules, SERVICE) == []


def test_a_machine_with_a_watchdog_is_built_before_the_greeting(tmp_path: Path) -> None:
    """Its timer runs whether or not anyone asks: QMP's service is there to greet."""
    sock = tmp_path / "q.sock"
    line = ["-machine", "pc", "-device", "ib700", "-nodefaults", "-display", "none"]
    modules = _imported_before_greeting([*line, "-qmp", f"unix:{sock},server=on,wait=off"], sock)
    assert "qapigen.qmp.service" in modules
    assert _within(modules, NEVER_BEFORE_THE_GREETING) == []


def _greeting_and_replies(client: socket.socket, count: int) -> list[bytes]:
    reader = client.makefile("rb")
    return [reader.readline() for _ in range(count)]


def test_clients_greeted_before_the_machine_is_built_are_served(tmp_path: Path) -> None:
    """Requests sent before the greeting is read are answered after it; a client
    that leaves before asking anything stops nothing; those greeted first share
    their monitor's descriptor names, as a listener's clients do."""
    sock = tmp_path / "q.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qapigen", "vm", "-qmp", f"unix:{sock},server=on,wait=off"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    clients = []
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        for _ in range(3):
            client = socket.socket(socket.AF_UNIX)
            client.settimeout(30)
            client.connect(str(sock))
            clients.append(client)
        first, leaving, third = clients
        assert leaving.makefile("rb").readline().startswith(b'{"QMP": ')
        leaving.close()  # before anything is built, or while it is
        first.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "query-status"}\n')
        greeting, negotiated, status = _greeting_and_replies(first, 3)
        assert greeting.startswith(b'{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, ')
        assert negotiated == b'{"return": {}}\r\n'
        assert status == b'{"return": {"status": "running", "running": true}}\r\n'
        # The third, greeted with the others, is served too.
        third.sendall(b'{"execute": "qmp_capabilities"}{"execute": "quit"}')
        lines = _greeting_and_replies(third, 3)
        assert lines[0] == greeting and lines[1] == negotiated
        assert proc.wait(30) == 0
        assert proc.stderr is not None and proc.stderr.read() == b""
    finally:
        for client in clients:
            client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_a_line_the_profile_must_confirm_reads_it_but_no_front_end(tmp_path: Path) -> None:
    """A device model not every x86_64 QEMU has is looked up in the profile
    before the greeting (QEMU refuses an unknown one before it greets), which
    does not bring in the served schema or the rest of the budget (but the
    standard library's JSON, which the profile is read with)."""
    sock = tmp_path / "q.sock"
    line = ["-machine", "pc", "-device", "virtio-rng-pci", "-nodefaults", "-display", "none"]
    modules = _imported_before_greeting([*line, "-qmp", f"unix:{sock},server=on,wait=off"], sock)
    assert "qapigen.profiles.profile" in modules
    budget = tuple(m for m in NEVER_BEFORE_THE_GREETING if m != "json")
    assert _within(modules, budget) == []
    assert _within(modules, ("qapigen.qmp.schema_info", "qapigen.qmp.arguments")) == []
