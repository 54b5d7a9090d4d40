"""Where the tests find the repository, QEMU's shared data and a QEMU source tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    """``$QAPIGEN_SHARED``, else ``../shared`` beside the repository."""
    env = os.environ.get("QAPIGEN_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    return path if path.is_dir() else None


def need_shared(*parts: str) -> Path:
    """A path under the shared data, or skip the test saying what is missing."""
    base = shared_dir()
    if base is None:
        pytest.skip("QEMU's test data is absent: set QAPIGEN_SHARED or put it at ../shared")
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data")
    return path


_qemu_tree: list[Path | None] = []


def qemu_source_tree() -> Path | None:
    """An unpacked QEMU 10.0 source tree, for reference runs of scripts/qapi.

    ``$QAPIGEN_QEMU_SRC`` names one; otherwise the shared ``tools/qemu-source``
    unpacks one (once per session).  None when neither works.
    """
    if not _qemu_tree:
        tree: Path | None = None
        env = os.environ.get("QAPIGEN_QEMU_SRC")
        if env:
            tree = Path(env)
        else:
            base = shared_dir()
            tool = base / "tools" / "qemu-source" if base else None
            if tool is not None and tool.exists():
                try:
                    proc = subprocess.run(
                        ["bash", str(tool)], capture_output=True, text=True, timeout=900
                    )
                    if proc.returncode == 0 and proc.stdout.strip():
                        tree = Path(proc.stdout.strip())
                except (OSError, subprocess.TimeoutExpired):
                    tree = None
        if tree is not None and not (tree / "scripts" / "qapi" / "schema.py").exists():
            tree = None
        _qemu_tree.append(tree)
    return _qemu_tree[0]
