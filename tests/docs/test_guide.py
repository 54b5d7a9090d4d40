"""docs/guide.md's examples run as written.

Each Python block of the guide carries a note (``<!-- example: KIND -->``) saying what runs
beside it, and runs in a fresh private folder (its current directory):

- ``vm``: ``qapigen vm -S`` with its QMP monitor on ``qmp.sock``;
- ``qemu``: QEMU 10.0 (``-S -machine none``) on ``qmp.sock``, and QEMU's bindings
  importable as ``qemu_api``;
- ``qga``: qemu-ga on ``qga.sock`` (allowed only commands that read), and its bindings
  importable as ``qga_api``;
- ``plain``: nothing (the example starts what it needs);
- ``pytest``: the block is a test file, which pytest runs.

A block passes when it exits with status 0 (the examples assert what they show).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from ..support.apis import qemu_api, qga_api
from ..support.emulators import (
    HAVE_QEMU,
    HAVE_QEMU_GA,
    NO_QEMU,
    NO_QEMU_GA,
    QEMU,
    QEMU_NONE,
    TIMEOUT,
    VM,
    private_folder,
    qemu_ga,
    wait_for_socket,
)
from ..support.paths import REPO

GUIDE = REPO / "docs" / "guide.md"
KINDS = ("vm", "qemu", "qga", "plain", "pytest")
_BLOCK = re.compile(r"^<!-- example: (\S+) -->\n```python\n(.*?)^```$", re.M | re.S)


def _examples() -> list[tuple[int, str, str]]:
    """(line, kind, code) of each noted Python block of the guide."""
    text = GUIDE.read_text()
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(1), m.group(2)) for m in _BLOCK.finditer(text)
    ]


def test_every_python_block_is_an_example() -> None:
    """No Python block escapes the test: each has a note, of a known kind."""
    blocks = GUIDE.read_text().count("```python\n")
    examples = _examples()
    assert len(examples) == blocks
    assert {kind for _, kind, _ in examples} <= set(KINDS)


def _package_folder(module: object) -> str:
    return str(Path(str(getattr(module, "__file__", ""))).parent.parent)


@contextmanager
def _beside(kind: str, folder: Path) -> Iterator[dict[str, str]]:
    """Start what ``kind`` needs in ``folder``; the environment for the example."""
    env = dict(os.environ)
    # The installed qapigen command, as a user's shell finds it.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with ExitStack() as stack:
        if kind in ("vm", "qemu"):
            if kind == "qemu" and not HAVE_QEMU:
                pytest.skip(NO_QEMU)
            program = VM if kind == "vm" else (str(QEMU), *QEMU_NONE)
            argv = [*program, "-S", "-qmp", "unix:qmp.sock,server=on,wait=off"]
            proc = subprocess.Popen(argv, cwd=folder, stderr=subprocess.PIPE)
            stack.callback(_end, proc)
            wait_for_socket(proc, str(folder / "qmp.sock"))
            if kind == "qemu":
                env["PYTHONPATH"] = _package_folder(qemu_api())
        elif kind == "qga":
            if not HAVE_QEMU_GA:
                pytest.skip(NO_QEMU_GA)
            stack.enter_context(qemu_ga(folder))
            env["PYTHONPATH"] = _package_folder(qga_api())
        yield env


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(TIMEOUT)
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.mark.parametrize(
    ("line", "kind", "code"), _examples(), ids=[f"line{n}-{k}" for n, k, _ in _examples()]
)
def test_example(line: int, kind: str, code: str, tmp_path: Path) -> None:
    folder = private_folder(tmp_path)
    with _beside(kind, folder) as env:
        if kind == "pytest":
            (folder / "test_example.py").write_text(code)
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        else:
            (folder / "example.py").write_text(code)
            argv = [sys.executable, "example.py"]
        proc = subprocess.run(
            argv, cwd=folder, env=env, capture_output=True, text=True, timeout=10 * TIMEOUT
        )
    assert proc.returncode == 0, f"docs/guide.md:{line}\n{proc.stdout}{proc.stderr}"
