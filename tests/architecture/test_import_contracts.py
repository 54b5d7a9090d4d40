"""The parts import one another only in the directions docs/architecture.md gives.

The contracts are import-linter's, in pyproject.toml; these tests run them on
the package, and show that each kind of contract does catch a breach, on a copy
of the package with one import added.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..support.paths import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(REPO / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_package_keeps_every_import_contract() -> None:
    proc = _lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "added", "contract"),
    [
        (
            "runtime/errors.py",
            "from qapigen.frontend import errors as _breach",
            "the runtime imports nothing of qapigen outside itself",
        ),
        (
            "frontend/lexer.py",
            "from qapigen.runtime import codec as _breach",
            "the front end imports no back end",
        ),
        ("machine/errors.py", "import qapigen.qmp.sockets as _breach", "the machine and QMP meet"),
        ("qtest/numbers.py", "import qapigen.machine.bus as _breach", "the machine and QMP meet"),
        (
            "simulator_api/_builtin.py",
            "import jinja2 as _breach",
            "generated code imports only the runtime",
        ),
        ("frontend/source.py", "import qapigen.frontend.schema as _breach", "no import cycles"),
        ("backends/dump.py", "import qapigen.cli.project as _breach", "face → programs"),
        (
            "profiles/profile.py",
            "import qemu.qmp as _breach",
            "profiles are standard library only",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, added: str, contract: str
) -> None:
    shutil.copytree(REPO / "qapigen", tmp_path / "qapigen", symlinks=False)
    target = tmp_path / "qapigen" / module
    target.write_text(target.read_text() + f"\n{added}\n")
    proc = _lint_imports(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    broken = [line for line in proc.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), proc.stdout
