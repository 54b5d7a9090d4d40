"""The pytest plugin: installed with qapigen (entry point ``pytest11``), its ``machine``
fixture makes a management-layer test three lines, against ``qapigen vm`` by default or a
real QEMU by option or ini setting.

Each test runs pytest in a fresh folder, as a user's project would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ..support.apis import qemu_api
from ..support.emulators import QEMU, QEMU_NONE, TIMEOUT, needs_qemu

USER_TESTS = """
import os

import pytest


def test_three_lines(machine):
    machine.client.stop()
    assert machine.client.query_status().status.value == "paused"


@pytest.mark.qapigen_args("-S")
def test_a_marker_adds_arguments(machine):
    assert machine.client.query_status().status.value == "prelaunch"


def test_which_program(machine):
    with open(os.environ["PIDS"], "a") as pids:
        pids.write(f"{machine.pid}\\n")
    # Only the simulator has the guest-side commands (it greets as QEMU does).
    simulator = any(c.name == "x-guest-reset" for c in machine.client.query_commands())
    assert ("qapigen vm" if simulator else "qemu") == os.environ["EXPECTED_PROGRAM"]
"""


def _pytest(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_management.py").write_text(USER_TESTS)
    pids = folder / "pids"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env={**os.environ, "PIDS": str(pids), **env},
        capture_output=True,
        text=True,
        timeout=10 * TIMEOUT,
        check=False,
    )


def _gone(folder: Path) -> bool:
    """Whether every machine the tests recorded has ended."""
    for line in (folder / "pids").read_text().split():
        try:
            os.kill(int(line), 0)
        except ProcessLookupError:
            continue
        return False
    return True


def test_qapigen_vm_by_default(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, EXPECTED_PROGRAM="qapigen vm")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
    assert _gone(tmp_path)


@needs_qemu
def test_real_qemu_by_command_line_option(tmp_path: Path) -> None:
    """The same tests, unchanged, against QEMU 10.0.2."""
    assert QEMU is not None
    # "=": the value starts with a dash.
    args = [f"--qapigen-binary={QEMU}", f"--qapigen-args={' '.join(QEMU_NONE)}"]
    proc = _pytest(tmp_path, *args, EXPECTED_PROGRAM="qemu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
    assert _gone(tmp_path)


@needs_qemu
def test_real_qemu_and_its_bindings_by_ini_settings(tmp_path: Path) -> None:
    """ini settings, and another bindings package for the client (QEMU's full schema's)."""
    assert QEMU is not None
    bindings = Path(str(qemu_api().__file__)).parent.parent
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(
            f"""\
            [pytest]
            qapigen_binary = {QEMU}
            qapigen_args = {" ".join(QEMU_NONE)}
            qapigen_bindings = qemu_api
            """
        )
    )
    (tmp_path / "test_typed.py").write_text(
        "def test_typed(machine):\n"
        "    assert type(machine.client).__module__ == 'qemu_api.client'\n"
        "    assert machine.client.query_version().qemu.major == 10\n"
    )
    proc = _pytest(tmp_path, EXPECTED_PROGRAM="qemu", PYTHONPATH=str(bindings))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout


def test_a_failing_test_still_ends_its_machine(tmp_path: Path) -> None:
    """The machine is shut down after a test that fails, too."""
    proc = _pytest(tmp_path, EXPECTED_PROGRAM="not this one")
    assert proc.returncode == 1
    assert "1 failed, 2 passed" in proc.stdout
    assert _gone(tmp_path)


@pytest.mark.parametrize("option", ["--qapigen-binary", "--qapigen-args", "--qapigen-bindings"])
def test_the_options_are_documented(option: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert option in proc.stdout


def test_the_plugin_costs_pytest_runs_nothing_until_a_machine_is_asked_for() -> None:
    """Every pytest run where qapigen is installed imports the plugin: it must not import
    the harness, the client or asyncio on its own."""
    code = (
        "import sys, qapigen.harness.pytest_plugin; "
        "print(sorted(m for m in ('asyncio', 'qemu.qmp', 'qapigen.harness.machine', "
        "'qapigen.runtime.client') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert proc.stdout.strip() == "[]"
