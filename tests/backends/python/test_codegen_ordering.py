"""The generator's orders are ruff's: names in the order ``ordering`` gives pass ruff's
sorting rules (I001, RUF022, RUF023), and the reverse of that order does not."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qapigen.backends.python.ordering import all_order, import_order, module_order, slots_order

from ...support.bindings import run_ruff_check

# Names that tell the orders apart: case, digits (natural order), underscores,
# kinds (CONSTANT, Class, other), a one-letter capital.
NAMES = [
    "COMMANDS", "EVENTS", "A", "X2", "X10", "Inner_bare", "InnerBase", "Inner", "QType",
    "q_empty", "abc", "Abc", "aBc", "item2", "item10", "Item_1", "_private", "__dunder",
    "Shape_nested_plain", "Shape_nested", "ShapeKind", "s1", "S1", "v4l2", "V4l2",
]  # fmt: skip
MODULES = ["_builtin", "everything", "parts.extra", "block_core", "block", "Block2", "b10", "b9"]


def _source(members: list[str], all_names: list[str], slots: list[str], modules: list[str]) -> str:
    lines = ["from __future__ import annotations", ""]
    lines += [f"import pkg.{path} as _m{i}" for i, path in enumerate(modules)]
    lines += ["", "from . import ("]
    lines += [f"    {name}," for name in members]
    lines += [")", "", "", "class C:", "    __slots__ = ("]
    lines += [f'        "{name}",' for name in slots]
    lines += ["    )", "", "", "__all__ = ["]
    lines += [f'    "{name}",' for name in all_names]
    lines += ["]", ""]
    lines += [f"_m{i}.x = 0" for i in range(len(modules))]
    return "\n".join(lines) + "\n"


def _check(tmp_path: Path, source: str) -> str:
    path = tmp_path / "pkg" / "mod.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source)
    proc = run_ruff_check(path)
    return proc.stdout + proc.stderr


def test_orders_pass_ruffs_sorting_rules(tmp_path: Path) -> None:
    """``import_order``, ``module_order``, ``all_order`` and ``slots_order`` of
    shuffled names are the orders ruff asks for."""
    shuffled = random.Random(0).sample(NAMES, len(NAMES))
    source = _source(
        import_order(shuffled), all_order(shuffled), slots_order(shuffled), module_order(MODULES)
    )
    report = _check(tmp_path, source)
    assert "All checks passed!" in report, report


@pytest.mark.parametrize("what", ["members", "modules", "all", "slots"])
def test_ruff_finds_the_reverse_order(tmp_path: Path, what: str) -> None:
    """The same check finds names out of order (it would see a wrong order)."""
    members, all_names, slots = import_order(NAMES), all_order(NAMES), slots_order(NAMES)
    modules = module_order(MODULES)
    if what == "members":
        members = members[::-1]
    elif what == "modules":
        modules = modules[::-1]
    elif what == "all":
        all_names = all_names[::-1]
    else:
        slots = slots[::-1]
    report = _check(tmp_path, _source(members, all_names, slots, modules))
    rule = {"all": "RUF022", "slots": "RUF023"}.get(what, "I001")
    assert rule in report, report
