"""Formats the generated Python files in black's style, with ruff's formatter.

The templates write plain code (one statement a line, however long); the
formatter then splits and spaces it.  black's style is the contract
(``black --check`` passes on every generated file); ruff's formatter keeps
that style and formats QEMU's whole schema in a tenth of a second, where
black takes half a minute.  It runs once, as one process, over the whole
package.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from typing import TypeVar

from ...frontend.errors import QAPIError

#: black's defaults, which ``black --check`` applies to a user's checkout.
LINE_LENGTH = 88
TARGET_VERSION = "py311"

T = TypeVar("T")


class FormatError(QAPIError):
    """The generated code could not be formatted (ruff is missing, or it failed)."""


def format_python(files: dict[str, str], meanwhile: Callable[[], T]) -> tuple[dict[str, str], T]:
    """``files`` (relative path → content) with every ``.py`` file formatted,
    and what ``meanwhile`` returns, called while the formatter runs."""
    sources = sorted(rel for rel in files if rel.endswith(".py"))
    ruff = _ruff()
    with tempfile.TemporaryDirectory(prefix="qapigen-format-") as tmp:
        # Flat names of our own: nothing of the package's paths reaches the
        # command line, and no configuration file is read (--isolated).
        names = [f"m{i}.py" for i in range(len(sources))]
        for name, rel in zip(names, sources, strict=True):
            with open(os.path.join(tmp, name), "w", encoding="utf-8", newline="") as fp:
                fp.write(files[rel])
        args = [ruff, "format", "--isolated", "--no-cache", "--quiet"]
        args += ["--line-length", str(LINE_LENGTH), "--target-version", TARGET_VERSION, *names]
        try:
            proc = subprocess.Popen(
                args, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        except OSError as err:
            raise FormatError(f"cannot run ruff's formatter ({ruff}): {err}") from None
        with proc:
            try:
                also = meanwhile()
            finally:
                _, errors = proc.communicate()
        if proc.returncode != 0:
            # The generator wrote something that is not Python: a bug of ours.
            raise FormatError(f"ruff could not format the generated code:\n{errors.strip()}")
        formatted = dict(files)
        for name, rel in zip(names, sources, strict=True):
            with open(os.path.join(tmp, name), encoding="utf-8", newline="") as fp:
                formatted[rel] = fp.read()
    return formatted, also


def _ruff() -> str:
    """The ruff executable that comes with the ``ruff`` package."""
    try:
        from ruff import find_ruff_bin
    except ImportError:
        raise FormatError("generating Python needs ruff (pip install ruff)") from None
    try:
        return str(find_ruff_bin())
    except FileNotFoundError as err:
        raise FormatError(f"generating Python needs ruff's executable: {err}") from None
