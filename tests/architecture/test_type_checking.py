"""``TYPE_CHECKING`` is spelled one way: each module defines it as False itself.

Not ``typing.TYPE_CHECKING`` (importing typing costs milliseconds on paths
that must start fast), and not imported from another module (the front end
and the runtime may not import each other).  Generated modules read the
runtime's, ``_rt.TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ..support.paths import REPO

PACKAGE = REPO / "qapigen"


def _modules() -> list[Path]:
    # qapigen/simulator_api is a link to generated code, which reads _rt.TYPE_CHECKING.
    return sorted(p for p in PACKAGE.rglob("*.py") if "simulator_api" not in p.parts)


def _defines_it(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign)
        and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["TYPE_CHECKING"]
        and isinstance(node.value, ast.Constant)
        and node.value.value is False
        for node in tree.body
    )


def test_no_module_imports_type_checking() -> None:
    """No module takes TYPE_CHECKING from typing or from another module."""
    importers = [
        str(path.relative_to(REPO))
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and any(a.name == "TYPE_CHECKING" for a in node.names)
    ]
    assert importers == []


def test_every_module_that_reads_it_defines_it() -> None:
    """A module that reads TYPE_CHECKING says ``TYPE_CHECKING = False`` at its top level."""
    readers = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        reads = any(
            isinstance(node, ast.Name)
            and node.id == "TYPE_CHECKING"
            and isinstance(node.ctx, ast.Load)
            for node in ast.walk(tree)
        )
        if reads and not _defines_it(tree):
            readers.append(str(path.relative_to(REPO)))
    assert readers == []
    # The runtime defines it for generated modules too.
    assert _defines_it(ast.parse((PACKAGE / "runtime" / "__init__.py").read_text()))
