"""The code is typed and tidy: ruff and ``mypy --strict`` find nothing, in the package
and in its tests."""

from __future__ import annotations

import subprocess
import sys

from ..support.paths import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_ruff_check() -> None:
    """ruff's lint rules (pyproject.toml) hold for the whole tree, the committed
    generated bindings included (``qapigen/simulator_api`` is a link to them,
    which ruff does not follow)."""
    proc = _run("ruff", "check", "qapigen", "generated", "tests", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    """The package is formatted as ruff formats it."""
    proc = _run("ruff", "format", "--check", "qapigen", "tests", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict() -> None:
    """``mypy --strict`` is clean over the package."""
    proc = _run("mypy", "--strict", "qapigen")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_tests() -> None:
    """``mypy --strict`` is clean over the tests, and so the golden tests' uses of the
    golden package agree with its generated types (pyproject.toml's [tool.mypy])."""
    proc = _run("mypy", "--strict", "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
