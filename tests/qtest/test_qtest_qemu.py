"""QEMU's own qtests against ``qapigen vm``, and ``qapigen vm`` against QEMU over qtest.

* QEMU 10.0's ``pvpanic-test``, ``pvpanic-pci-test`` and ``wdt_ib700-test``,
  built from QEMU's source by ``../shared/tools/qemu-qtests build``, run
  unchanged against ``qapigen vm`` and, in the same run, against the real
  ``qemu-system-x86_64`` (a check of the harness itself);
* the qtest traffic of ``pvpanic-pci-test`` and ``wdt_ib700-test`` (requests,
  replies and interrupt lines, as the binaries log them with ``QTEST_LOG=1``)
  is the same from both, timestamps aside;
* requests sent to both side by side, the way libqtest starts and connects
  them, get the same replies: malformed ones QEMU answers, the pc machine's
  PCI configuration spaces and their write masks, ports and memory.

The binary is started as libqtest starts it: through ``sh -c "exec ..."``,
from a file named ``qemu-system-x86_64`` (libqtest takes the target from that
name); it connects to two sockets the test listens on.  Each start's stderr
goes to a file of its own, so that ``-qtest-log /dev/fd/2`` is that start's
log, whole (on the test program's stderr, libqtest's own lines would cut
into it).  Skipped, saying why, where the tool cannot build the programs or
where no QEMU 10.0 is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from ..support.paths import need_shared

PROGRAMS = ("pvpanic-test", "pvpanic-pci-test", "wdt_ib700-test")
VM = (sys.executable, "-m", "qapigen", "vm")
TIMEOUT = 300


# -- the programs and the binaries -------------------------------------------------------


@pytest.fixture(scope="session")
def qtests_root() -> Path:
    """Where the tool built QEMU's qtest programs (bin/) and QEMU's qtest module."""
    tool = need_shared("tools", "qemu-qtests")
    try:
        proc = subprocess.run(
            ["bash", str(tool), "build"], capture_output=True, text=True, timeout=1800
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"qemu-qtests build did not finish: {err}")
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-3:]
        pytest.skip("qemu-qtests cannot build QEMU's qtest programs here: " + " / ".join(why))
    root = Path(proc.stdout.strip().splitlines()[-1])
    for program in PROGRAMS:
        if not (root / "bin" / program).exists():
            pytest.skip(f"qemu-qtests build gave no {program}")
    return root


def _real_qemu() -> str | None:
    path = shutil.which("qemu-system-x86_64")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if re.search(r"version 10\.", out.stdout) else None


@pytest.fixture(scope="session")
def real_qemu() -> str:
    path = _real_qemu()
    if path is None:
        pytest.skip("no qemu-system-x86_64 10.0 installed")
    return path


def binary_argv(which: str, real_qemu: str | None = None) -> tuple[str, ...]:
    if which == "qapigen-vm":
        return VM
    assert real_qemu is not None
    return (real_qemu,)


def qemu_env(root: Path) -> dict[str, str]:
    """The environment for real QEMU: Debian's package lacks the qtest accelerator
    module, which the tool builds."""
    env = dict(os.environ)
    modules = root / "qemu-modules"
    if (modules / "accel-qtest-x86_64.so").exists():
        env["QEMU_MODULE_DIR"] = str(modules)
    return env


# -- running a program -----------------------------------------------------------------------


class Run(NamedTuple):
    """A qtest program's run: its exit status, TAP output, and each binary start's log."""

    status: int
    output: str
    logs: list[str]

    @property
    def planned(self) -> int:
        m = re.search(r"^1\.\.(\d+)$", self.output, re.MULTILINE)
        return int(m.group(1)) if m else 0

    @property
    def passed(self) -> int:
        return len(re.findall(r"^ok ", self.output, re.MULTILINE))

    def traffic(self) -> list[list[str]]:
        """Each start's qtest log lines, times masked."""
        return [
            [
                re.sub(r"^\[([IRS]) \+?\d+\.\d{6}\]", r"[\1 T]", line)
                for line in log.splitlines()
                if re.match(r"\[[IRS] ", line)
            ]
            for log in self.logs
        ]


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A short folder (unix socket paths are short)."""
    path = Path(tempfile.mkdtemp(prefix="qt", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_program(
    root: Path, program: str, argv: tuple[str, ...], folder: Path, *, log: bool = False
) -> Run:
    """Run ``program`` against ``argv`` the way QEMU's test suite runs it."""
    (folder / "logs").mkdir()
    (folder / "sockets").mkdir()
    wrapper = folder / "qemu-system-x86_64"
    quoted = " ".join(_sh_quote(a) for a in argv)
    wrapper.write_text(
        f'#!/bin/sh\necho $$ >>"{folder}/order"\nexec {quoted} "$@" 2>"{folder}/logs/$$.log"\n'
    )
    wrapper.chmod(0o755)
    env = qemu_env(root)
    env.update(QTEST_QEMU_BINARY=str(wrapper), TMPDIR=str(folder / "sockets"))
    env.pop("QTEST_LOG", None)
    if log:
        env["QTEST_LOG"] = "1"
    try:
        proc = subprocess.run(
            [str(root / "bin" / program), "--tap", "-k"],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        status, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as err:
        status, output = -1, f"timed out after {TIMEOUT} s: {err.stdout!r} {err.stderr!r}"
    order = (folder / "order").read_text().split() if (folder / "order").exists() else []
    logs = [(folder / "logs" / f"{pid}.log").read_text("latin-1") for pid in order]
    return Run(status, output, logs)


def _sh_quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


@pytest.mark.parametrize("binary", ["qapigen-vm", "qemu"])
@pytest.mark.parametrize("program", PROGRAMS)
def test_qemus_qtests_pass(
    program: str, binary: str, qtests_root: Path, scratch: Path, request: pytest.FixtureRequest
) -> None:
    """Every test of the program passes, unchanged, against ``qapigen vm``; and
    against QEMU itself, which holds the harness to what QEMU's suite expects."""
    real = request.getfixturevalue("real_qemu") if binary == "qemu" else None
    run = run_program(qtests_root, program, binary_argv(binary, real), scratch)
    assert run.planned >= 3, run.output
    assert (run.status, run.passed) == (0, run.planned), run.output
    assert "not ok" not in run.output


@pytest.mark.parametrize(
    ("program", "landmark"),
    [("pvpanic-pci-test", "[S T] OK 0x1b36"), ("wdt_ib700-test", "[S T] IRQ lower 0")],
)
def test_qtest_traffic_is_qemus(
    program: str, landmark: str, qtests_root: Path, real_qemu: str, scratch: Path
) -> None:
    """Request for request, reply for reply, interrupt line for interrupt line:
    what the binaries log of the qtest traffic is the same, times aside."""
    (scratch / "qemu").mkdir()
    (scratch / "vm").mkdir()
    theirs = run_program(qtests_root, program, (real_qemu,), scratch / "qemu", log=True)
    ours = run_program(qtests_root, program, VM, scratch / "vm", log=True)
    assert theirs.status == 0 and ours.status == 0, theirs.output + ours.output
    expected = theirs.traffic()
    assert len(expected) == theirs.planned
    assert all(lines[0] == "[I T] OPENED" and lines[-1] == "[I T] CLOSED" for lines in expected)
    assert any(landmark in lines for lines in expected)
    assert ours.traffic() == expected


# -- side by side ------------------------------------------------------------------------------


class QtestSession:
    """A binary started as libqtest starts it, with its qtest and QMP sockets."""

    def __init__(self, argv: tuple[str, ...], folder: Path, env: dict[str, str], *extra: str):
        qtest_path, qmp_path = str(folder / "q.sock"), str(folder / "q.qmp")
        listeners = []
        for path in (qtest_path, qmp_path):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(1)
            sock.settimeout(30)
            listeners.append(sock)
        self.proc = subprocess.Popen(
            [
                *argv,
                "-qtest",
                f"unix:{qtest_path}",
                "-qtest-log",
                "/dev/null",
                "-chardev",
                f"socket,path={qmp_path},id=char0",
                "-mon",
                "chardev=char0,mode=control",
                "-display",
                "none",
                "-audio",
                "none",
                *extra,
                "-accel",
                "qtest",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self.qtest = listeners[0].accept()[0]
            self.qmp = listeners[1].accept()[0]
        finally:
            for sock in listeners:
                sock.close()
        self.qtest.settimeout(30)
        self._buf = b""

    def request(self, line: bytes) -> list[bytes]:
        """Send one request line; the lines up to its reply (IRQ lines included)."""
        self.qtest.sendall(line + b"\n")
        got: list[bytes] = []
        while True:
            while b"\n" not in self._buf:
                chunk = self.qtest.recv(65536)
                if not chunk:
                    return [*got, b"<EOF>"]
                self._buf += chunk
            reply, _, self._buf = self._buf.partition(b"\n")
            got.append(reply)
            if not reply.startswith(b"IRQ "):
                return got

    def close(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=30)
        finally:
            self.qtest.close()
            self.qmp.close()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return status


def _side_by_side(
    root: Path,
    real_qemu: str,
    folder: Path,
    requests: list[bytes],
    *extra: str,
) -> tuple[list[list[bytes]], list[list[bytes]]]:
    results = []
    for name, argv, env in (
        ("qemu", (real_qemu,), qemu_env(root)),
        ("vm", VM, dict(os.environ)),
    ):
        sub = folder / name
        sub.mkdir()
        session = QtestSession(argv, sub, env, *extra)
        try:
            results.append([session.request(line) for line in requests])
        finally:
            assert session.close() == 0
    return results[0], results[1]


_MALFORMED = [
    b"bogus 1 2",
    b" inb 0x505",
    b"endianness\r",
    b"endianness extra words",
    b"\xff\xfe",
    b"OUTB 0x505 1",
    b"write 0x1000 4 0x",
    b"write 0x1000 4 0x1",
    b"read 0x1000 4",
    b"write 0x1000 3 0xzz1gx5",
    b"read 0x1000 3",
    b"b64write 0x1000 2 AQ",
    b"b64write 0x2000 3 AQ!I=",
    b"read 0x2000 3",
    b"b64read 0x2000 0",
    b"clock_step 0",
    b"clock_step -5",
    b"clock_set 0",
    b"clock_set -1",
    b"irq_intercept_in nope",
    b"irq_intercept_in ioapic foo",
    b"irq_intercept_out /machine/i440fx",
    b"irq_intercept_in /machine/peripheral-anon/device[0]",
    b"irq_intercept_in ioapic",
    b"irq_intercept_in /machine/i440fx",
    b"set_irq_in nope unnamed-gpio-in 4 1",
    b"set_irq_in ioapic unnamed-gpio-in 4 1",
    b"set_irq_in ioapic unnamed-gpio-in 4 -1",
    b"set_irq_in ioapic unnamed-gpio-in 4 0",
    b"clock_step 100000000",
    b"module_load foo bar",
    b"memset 0x3000 3 0x1ff",
    b"read 0x3000 4",
    b"outb 0xcf9 0x2",
    b"inl 0xcf9",
    b"inw 0xffff",
    b"inl 0xfffe",
    b"readq 0xfffffffffffffff8",
]


def test_requests_get_qemus_replies_and_the_connection_goes_on(
    qtests_root: Path, real_qemu: str, scratch: Path
) -> None:
    """Malformed requests QEMU answers (rather than aborting on), and odd valid
    ones: the same replies, each followed by a working ``endianness``."""
    requests = [line for request in _MALFORMED for line in (request, b"endianness")]
    theirs, ours = _side_by_side(qtests_root, real_qemu, scratch, requests, "-device", "pvpanic")
    assert theirs[requests.index(b"bogus 1 2")] == [b"FAIL Unknown command 'bogus'"]
    for request, expected, got in zip(requests, theirs, ours, strict=True):
        assert got == expected, request
    assert all(reply == [b"OK little"] for reply in ours[1::2])


def _config_dump_requests(functions: list[int]) -> list[bytes]:
    lines = []
    for number in functions:
        for offset in range(0, 0x100, 4):
            lines.append(b"outl 0xcf8 0x%x" % (1 << 31 | number << 8 | offset))
            lines.append(b"inl 0xcfc")
    return lines


def _write_mask_requests(functions: list[int]) -> list[bytes]:
    lines = []
    for number in functions:
        for offset in (0x04, 0x0C, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x24, 0x30, 0x3C, 0x40, 0xFC):
            address = b"outl 0xcf8 0x%x" % (1 << 31 | number << 8 | offset)
            lines += [address, b"outl 0xcfc 0xffffffff", address, b"inl 0xcfc"]
        lines += [
            b"outl 0xcf8 0x%x" % (1 << 31 | number << 8),
            b"inb 0xcfd",
            b"inw 0xcfe",
            b"inl 0xcfd",
        ]
    return lines


_EVERY_FUNCTION = [slot << 3 | function for slot in range(6) for function in range(8)]


@pytest.mark.parametrize(
    "options",
    [
        ["-device", "pvpanic-pci"],
        ["-nodefaults", "-device", "pvpanic-pci,addr=05.0"],
        [
            "-vga",
            "none",
            "-device",
            "pvpanic-pci,addr=05.0,multifunction=on",
            "-device",
            "pvpanic-pci,addr=05.2",
        ],
        ["-nodefaults", "-serial", "none", "-serial", "null", "-parallel", "null"],
    ],
    ids=["defaults", "nodefaults", "multifunction", "legacy-ports"],
)
def test_pci_configuration_spaces_are_qemus(
    options: list[str], qtests_root: Path, real_qemu: str, scratch: Path
) -> None:
    """Every function of slots 0-5 (absent ones all-ones), all 256 bytes after
    reset, then what writing all-ones leaves in the header's registers."""
    requests = _config_dump_requests(_EVERY_FUNCTION) + _write_mask_requests(_EVERY_FUNCTION)
    theirs, ours = _side_by_side(qtests_root, real_qemu, scratch, requests, *options)
    assert [b"OK 0x71138086"] in theirs  # the PIIX4 power management function
    for request, expected, got in zip(requests, theirs, ours, strict=True):
        assert got == expected, request


def test_pvpanic_pci_bar_as_qemus_test_uses_it(
    qtests_root: Path, real_qemu: str, scratch: Path
) -> None:
    """Program BAR 0, enable memory decoding, read and write the register through
    it, move it, disable it: the same replies."""
    bar = [b"outl 0xcf8 0x80002010"]
    command = [b"outl 0xcf8 0x80002004"]
    requests = [
        *bar, b"outl 0xcfc 0xe0000000",
        b"read 0xe0000000 4",
        *command, b"outw 0xcfc 0x2",
        b"read 0xe0000000 4", b"readl 0xe0000000", b"readq 0xdffffffc",
        b"b64read 0xe0000000 3",
        *bar, b"outl 0xcfc 0xe0001000",
        b"read 0xe0000000 1", b"read 0xe0001000 1",
        b"write 0xe0001001 1 0x00",
        *command, b"outw 0xcfc 0x0",
        b"read 0xe0001000 1",
    ]  # fmt: skip
    theirs, ours = _side_by_side(
        qtests_root, real_qemu, scratch, requests, "-device", "pvpanic-pci,addr=04.0"
    )
    assert theirs[requests.index(b"readl 0xe0000000")] == [b"OK 0x0000000007070707"]
    assert ours == theirs


_REFUSED = [
    ["-chardev", "socket,path=/nonexistent/x,id=c0"],
    ["-qtest", "unix:/nonexistent/x"],
    ["-qtest", "chardev:nope"],
    ["-chardev", "socket,path=/x"],
    ["-chardev", "bogus,id=c0"],
    ["-chardev", "socket,path=/x,id=c,foo=1"],
    ["-chardev", "socket,id=c0"],
    ["-mon", "chardev=nope,mode=control"],
    ["-mon", "mode=control"],
    ["-mon", "chardev=c,mode=control,pretty=maybe"],
    ["-audio", "foo"],
    ["-vga", "foo"],
    ["-nic", "foo"],
    ["-net", "foo"],
    ["-m", "12x"],
    ["-m", "64,foo=1"],
    ["-accel", "qtest,thread=single"],
    ["-machine", "pc,accel=qtest", "-accel", "qtest"],
    ["-device", "pvpanic-pci,addr=01.0"],
    ["-device", "pvpanic-pci,addr=zz"],
    ["-device", "pvpanic-pci,addr=04.0", "-device", "pvpanic-pci,addr=04.1"],
    ["-device", "ib700,foo=1"],
]


@pytest.mark.parametrize("args", _REFUSED, ids=" ".join)
def test_refused_command_lines_say_what_qemu_says(
    args: list[str], qtests_root: Path, real_qemu: str
) -> None:
    """The same message (after the program's name) and exit status 1."""
    common = ["-display", "none", "-S", *args]
    qemu = subprocess.run(
        [real_qemu, *common], env=qemu_env(qtests_root), capture_output=True, text=True, timeout=30
    )
    ours = subprocess.run([*VM, *common], capture_output=True, text=True, timeout=30)
    assert qemu.returncode == ours.returncode == 1, (qemu.stderr, ours.stderr)
    assert qemu.stderr.startswith("qemu-system-x86_64: ")
    assert ours.stderr == qemu.stderr.replace("qemu-system-x86_64: ", "qapigen vm: ")
