"""Helpers of the bindings tests: generate a package, import it, run mypy, black and ruff on it.

Not a test module; the bindings tests (tests/backends/python) share it.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from qapigen import load_schema
from qapigen.backends.python.generate import Result, generate

from .paths import REPO

# mypy --strict for the generated code only: the runtime it imports is
# checked by test_lint, so errors there are not this test's business.
_MYPY_INI = """\
[mypy]
python_version = 3.11
strict = True

[mypy-qapigen.*]
follow_imports = silent
"""


def generate_package(
    schema: Path,
    out_dir: Path,
    package: str,
    defines: Sequence[str] = (),
    *,
    legacy: bool = False,
) -> Result:
    """Generate ``package`` for ``schema`` into ``out_dir``."""
    return generate(load_schema(str(schema), legacy=legacy), str(out_dir), package, defines)


def package_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes), caches left out."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def forget_package(package: str) -> None:
    """Drop ``package`` and its modules from ``sys.modules``."""
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def import_package(
    out_dir: Path, package: str, *, walk: bool = True
) -> tuple[ModuleType, list[ModuleType]]:
    """Import ``out_dir/package`` afresh and, with ``walk``, every module in it.

    Returns the package and the modules walked (sub-packages included).
    """
    forget_package(package)
    path = str(out_dir)
    sys.path.insert(0, path)
    try:
        importlib.invalidate_caches()
        pkg = importlib.import_module(package)
    finally:
        # Its modules are found through the package's __path__ from now on.
        sys.path.remove(path)
    return pkg, import_modules(pkg) if walk else []


def import_modules(pkg: ModuleType) -> list[ModuleType]:
    """Every module of the package ``pkg`` (sub-packages included), imported."""
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
    ]


def handler(pkg: ModuleType, methods: type) -> Any:
    """A handler of ``pkg``'s commands: its ``Handler``, with ``methods``'s methods
    overriding the defaults.

    For packages generated at test time, whose ``Handler`` is known at run time
    only: the class is made then, as ``class Impl(methods, pkg.Handler)`` would.
    """
    return type(methods.__name__, (methods, pkg.Handler), {})()


def run_mypy(
    search_dir: Path, packages: Iterable[str], work_dir: Path
) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` over ``packages`` found in ``search_dir``.

    ``MYPYPATH`` holds the repository too, so that ``qapigen.runtime``
    resolves (mypy does not see editable installs).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / "mypy.ini"
    config.write_text(_MYPY_INI)
    env = dict(os.environ, MYPYPATH=os.pathsep.join([str(search_dir), str(REPO)]))
    args = [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config)]
    args += ["--cache-dir", str(work_dir / "mypy-cache"), "--no-error-summary"]
    for package in packages:
        args += ["-p", package]
    return subprocess.run(args, cwd=work_dir, env=env, capture_output=True, text=True, check=False)


def run_mypy_on(path: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` over one file that uses the package (its own errors only)."""
    work_dir = path.parent / "mypy-work"
    work_dir.mkdir(exist_ok=True)
    config = work_dir / "mypy.ini"
    config.write_text(_MYPY_INI)
    env = dict(os.environ, MYPYPATH=str(REPO))
    args = [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config)]
    args += ["--cache-dir", str(work_dir / "mypy-cache"), "--no-error-summary", str(path)]
    return subprocess.run(args, cwd=work_dir, env=env, capture_output=True, text=True, check=False)


def run_black_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    """``black --check`` as a user runs it: default settings (line length 88)."""
    args = [sys.executable, "-m", "black", "--check", *map(str, paths)]
    return subprocess.run(args, capture_output=True, text=True, check=False)


def run_ruff_check(*paths: Path, ignore: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """``ruff check`` under the project's own rules (pyproject.toml's [tool.ruff]), which
    generated code keeps; no cache is written next to the package.  ``ignore``: rules
    left out of this run."""
    args = [sys.executable, "-m", "ruff", "check", "--config", str(REPO / "pyproject.toml")]
    args += ["--no-cache", "--output-format", "concise"]
    if ignore:
        args += ["--ignore", ",".join(ignore)]
    return subprocess.run([*args, *map(str, paths)], capture_output=True, text=True, check=False)


def wire_equal(a: object, b: object) -> bool:
    """Equal as JSON values, and of the same JSON types (``1`` is not ``1.0``, nor ``True``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(wire_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(wire_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b
