"""QEMU 10.0's schema test suite: every run prints exactly the expected files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qapigen.cli.commands import LEGACY_HINT, main

from ..support.paths import shared_dir


def _cases() -> list[str]:
    base = shared_dir()
    listing = base / "qemu" / "10.0" / "qapi-tests" / "CASES.txt" if base else None
    if listing is None or not listing.exists():
        return []
    return listing.read_text().split()


CASES = _cases()


# Reviewed: the suite's cases that fail only on a rule of QEMU 10.0 that --legacy
# relaxes (case rules, doc-comment rules of 6.x-9.x, C-expression conditions,
# conditional arguments without 'boxed'); the command adds its hint after
# QEMU's diagnostic for exactly these.
LEGACY_READS = {
    "args-if-implicit.json",
    "args-if-unboxed.json",
    "bad-if.json",
    "doc-bad-indent.json",
    "doc-duplicate-features.json",
    "doc-empty-features.json",
    "doc-empty-section.json",
    "doc-invalid-return2.json",
    "doc-invalid-section.json",
    "event-case.json",
    "type-case.json",
}


@pytest.mark.skipif(not CASES, reason="QEMU's schema test suite (../shared) is absent")
@pytest.mark.parametrize("case", CASES)
def test_suite_case(
    case: str,
    qapi_tests_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``qapigen dump CASE`` run inside the suite's folder gives .out and .err
    (QEMU's diagnostic unchanged; the --legacy hint after it, where it applies)."""
    monkeypatch.chdir(qapi_tests_dir)
    name = case.removesuffix(".json")
    expected_out = (qapi_tests_dir / f"{name}.out").read_text()
    expected_err = (qapi_tests_dir / f"{name}.err").read_text()
    status = main(["dump", case])
    out, err = capsys.readouterr()
    hint = f"{LEGACY_HINT}\n" if case in LEGACY_READS else ""
    assert err == expected_err + hint
    assert out == expected_out
    assert status == (1 if expected_err else 0)


def test_suite_has_207_runs() -> None:
    """The suite is complete: a partial copy would silently shrink the test."""
    if not CASES:
        pytest.skip("QEMU's schema test suite (../shared) is absent")
    assert len(CASES) == 207


@pytest.mark.parametrize("case", ["doc-good.json", "union-base-no-discriminator.json"])
def test_console_command_matches_suite(case: str, qapi_tests_dir: Path) -> None:
    """The real command, in a fresh process, prints the same as in process."""
    name = case.removesuffix(".json")
    proc = subprocess.run(
        [sys.executable, "-m", "qapigen", "dump", case],
        cwd=qapi_tests_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout == (qapi_tests_dir / f"{name}.out").read_text()
    assert proc.stderr == (qapi_tests_dir / f"{name}.err").read_text()
