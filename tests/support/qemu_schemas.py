"""QEMU 10.0's QAPI schema in the shared data, and as Debian's QEMU 10.0.2 had it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

# What QEMU's stable releases after 10.0.2 backported into the schema the
# shared data holds (10.0.13): (file, member, its doc comment).  Real QEMU
# 10.0.2 does not have them; no --define set can make them go.
BACKPORTS = [("block-core.json", "delay-ns", r"# @delay-ns:[^\n]*\n(?:#  [^\n]*\n)*")]


def schema_10_0(qemu_schemas: Path) -> Path:
    """The main file of QEMU 10.0's schema (``qemu_schemas``: the shared ``qemu`` folder)."""
    return qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"


def without_backports(qemu_schemas: Path, folder: Path) -> Path:
    """A copy of QEMU 10.0's schema as 10.0.2 had it, made in ``folder``; its main file."""
    copy = folder / "qapi"
    shutil.copytree(schema_10_0(qemu_schemas).parent, copy)
    for name, member, doc in BACKPORTS:
        path = copy / name
        text, found = re.subn(doc, "", path.read_text())
        text, found_too = re.subn(rf"\s*'\*{member}': [^\n]*,\n", "\n", text)
        assert found == found_too == 1, member
        path.write_text(text)
    return copy / "qapi-schema.json"
