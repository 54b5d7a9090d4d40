"""Bindings of QEMU's own schemas, generated at test time (never committed): QEMU 10.0's
QMP schema and its guest agent's.  Each is generated once per session, into a
temporary folder, and imported under a name of its own.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from qapigen import load_schema
from qapigen.backends.python.generate import generate

from .paths import need_shared

_made: dict[str, ModuleType] = {}
_folders: list[tempfile.TemporaryDirectory[str]] = []


def _bindings(package: str, schema: Path, defines: tuple[str, ...] = ()) -> ModuleType:
    if package not in _made:
        folder = tempfile.TemporaryDirectory(prefix=f"qapigen-{package}-")
        _folders.append(folder)  # removed when the session's interpreter ends
        generate(load_schema(str(schema)), folder.name, package, defines)
        sys.path.insert(0, folder.name)
        try:
            importlib.invalidate_caches()
            _made[package] = importlib.import_module(package)
            importlib.import_module(f"{package}.client")
        finally:
            sys.path.remove(folder.name)
    return _made[package]


def qemu_api() -> ModuleType:
    """The bindings of QEMU 10.0's QMP schema (package ``qemu_api``)."""
    schema = need_shared("qemu", "10.0", "schema", "qapi", "qapi-schema.json")
    return _bindings("qemu_api", schema)


def qga_api() -> ModuleType:
    """The bindings of QEMU 10.0's guest agent schema, as a Linux agent builds it
    (package ``qga_api``)."""
    schema = need_shared("qemu", "10.0", "schema", "qga", "qapi-schema.json")
    return _bindings("qga_api", schema, ("CONFIG_POSIX", "CONFIG_LINUX"))
