"""Shared fixtures: where QEMU's data and reference tree are (see support/paths.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .support.paths import need_shared, qemu_source_tree
from .support.real_qemu import Session


@pytest.fixture(scope="session")
def qapi_tests_dir() -> Path:
    """QEMU 10.0's schema test suite."""
    return need_shared("qemu", "10.0", "qapi-tests")


@pytest.fixture(scope="session")
def qemu_schemas() -> Path:
    """QEMU's real schemas, one folder per release."""
    return need_shared("qemu")


@pytest.fixture(scope="session")
def qemu_tree() -> Path:
    """QEMU 10.0's source tree, or skip."""
    tree = qemu_source_tree()
    if tree is None:
        pytest.skip("no QEMU 10.0 source tree: set QAPIGEN_QEMU_SRC or provide tools/qemu-source")
    return tree


@pytest.fixture(scope="session")
def qemu_introspection() -> list[dict[str, Any]]:
    """The query-qmp-schema reply of the real qemu-system-x86_64 10.0
    (``-machine none``), recorded here; or skip."""
    session = Session(["-machine", "none", "-display", "none", "-nodefaults"])
    try:
        session.execute("qmp_capabilities")
        reply: list[dict[str, Any]] = session.execute("query-qmp-schema")["return"]
        session.execute("quit")
    finally:
        session.close()
    return reply
