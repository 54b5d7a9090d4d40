"""Generated code does not drift: the committed packages are fresh, and generation is repeatable.

``qapigen generate --check`` is the guard that CI runs; these tests prove it
passes on the repository, fails on a stale copy, and that generation is
deterministic and writes only what changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qapigen import load_schema
from qapigen.backends.python.generate import generate, render_package

from ...support.bindings import package_files
from ...support.paths import REPO

PROJECT_SCHEMA = REPO / "schemas" / "qapi-schema.json"
GOLDEN_SCHEMA = REPO / "tests" / "backends" / "python" / "golden" / "everything.json"
PACKAGE = "simulator_api"


def _qapigen(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qapigen", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_committed_package_is_fresh() -> None:
    """``qapigen generate --check`` in the repository exits 0: generated/ matches the schema."""
    proc = _qapigen("generate", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_committed_golden_package_is_fresh() -> None:
    """The golden package under tests/golden/expected is what the generator writes today."""
    proc = _qapigen(
        "generate",
        str(GOLDEN_SCHEMA),
        "-o",
        str(REPO / "tests" / "backends" / "python" / "golden" / "expected"),
        "--package",
        "everything",
        "--define",
        "GOLDEN_ON",
        "--check",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """The project's package, generated into a temporary folder (returned: the folder)."""
    proc = _qapigen("generate", str(PROJECT_SCHEMA), "-o", str(tmp_path), "--package", PACKAGE)
    assert proc.returncode == 0, proc.stderr
    return tmp_path


def _check(out: Path) -> subprocess.CompletedProcess[str]:
    return _qapigen(
        "generate", str(PROJECT_SCHEMA), "-o", str(out), "--package", PACKAGE, "--check"
    )


def test_check_passes_on_a_fresh_copy(fresh: Path) -> None:
    """--check on what generate just wrote exits 0 and says nothing."""
    proc = _check(fresh)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr


def test_check_lists_a_modified_file(fresh: Path) -> None:
    """An edited generated file makes --check exit 1 naming that file (only), and stay as edited."""
    target = fresh / PACKAGE / "run_state.py"
    edited = target.read_text() + "# a local edit\n"
    target.write_text(edited)
    before = package_files(fresh)
    proc = _check(fresh)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [f"stale: {target}"]
    assert package_files(fresh) == before, "--check wrote something"


def test_check_lists_missing_and_leftover_files(fresh: Path) -> None:
    """A deleted generated file and a leftover module of an older run are both stale."""
    (fresh / PACKAGE / "control.py").unlink()
    leftover = fresh / PACKAGE / "old_module.py"
    leftover.write_text("# from an older schema\n")
    proc = _check(fresh)
    assert proc.returncode == 1
    assert sorted(proc.stdout.splitlines()) == sorted(
        [f"stale: {fresh / PACKAGE / 'control.py'}", f"stale: {leftover}"]
    )
    # generate (without --check) puts the package right: the leftover goes.
    result = generate(load_schema(str(PROJECT_SCHEMA)), str(fresh), PACKAGE)
    assert sorted(result.changed) == ["control.py", "old_module.py"]
    assert not leftover.exists()
    assert _check(fresh).returncode == 0


def test_generation_is_deterministic(tmp_path: Path) -> None:
    """Two generations in one process give byte-identical files."""
    schema = load_schema(str(GOLDEN_SCHEMA))
    first = render_package(schema, "everything", ["GOLDEN_ON"])
    second = render_package(load_schema(str(GOLDEN_SCHEMA)), "everything", ["GOLDEN_ON"])
    assert first == second
    generate(schema, str(tmp_path / "a"), "everything", ["GOLDEN_ON"])
    generate(schema, str(tmp_path / "b"), "everything", ["GOLDEN_ON"])
    assert package_files(tmp_path / "a") == package_files(tmp_path / "b")


def test_generation_does_not_depend_on_hash_seed(tmp_path: Path, qemu_schemas: Path) -> None:
    """Processes with different string hash seeds write the same package (no set-order leaks).

    QEMU 10.0's schema, with some conditions defined, gives ordering the most chances to leak.
    """
    schema = qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    defines = ["--define", "CONFIG_LINUX", "--define", "TARGET_I386", "--define", "CONFIG_SPICE"]
    trees = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        proc = _qapigen(
            "generate", str(schema), "-o", str(out), "--package", "q", *defines, PYTHONHASHSEED=seed
        )
        assert proc.returncode == 0, proc.stderr
        trees.append(package_files(out))
    assert trees[0].keys() == trees[1].keys()
    assert [n for n in trees[0] if trees[0][n] != trees[1][n]] == []


def _mtimes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def test_only_changed_files_are_rewritten(fresh: Path) -> None:
    """Regenerating rewrites nothing when nothing changed, and only the edited file otherwise."""
    root = fresh / PACKAGE
    old = 1_000_000_000_000_000_000  # 2001, in ns: any rewrite shows
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(old, old))
    proc = _qapigen("generate", str(PROJECT_SCHEMA), "-o", str(fresh), "--package", PACKAGE)
    count = len(_mtimes(root))
    assert proc.stdout.strip() == f"{root}: 0 files written, {count} unchanged"
    assert set(_mtimes(root).values()) == {old}
    target = root / "control.py"
    target.write_text(target.read_text().replace("VersionTriple", "VersionTripel"))
    os.utime(target, ns=(old, old))
    result = generate(load_schema(str(PROJECT_SCHEMA)), str(fresh), PACKAGE)
    assert (result.changed, result.unchanged) == (["control.py"], count - 1)
    changed = {name for name, t in _mtimes(root).items() if t != old}
    assert changed == {"control.py"}
    assert "VersionTripel" not in target.read_text()


def test_copy_of_repository_package_checks_clean(tmp_path: Path) -> None:
    """The committed generated/ package, copied elsewhere, is exactly what generate writes."""
    shutil.copytree(REPO / "generated" / PACKAGE, tmp_path / PACKAGE)
    proc = _check(tmp_path)
    assert proc.returncode == 0, proc.stdout
