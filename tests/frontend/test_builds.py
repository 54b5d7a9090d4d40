"""The builds of a schema: the symbols it uses, what one build leaves out.

The reference is QEMU's own front end (its model of QEMU 10.0's schema, with
the conditions it attaches), read through the tests' own evaluator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.frontend.builds import left_out, symbols, unknown_symbols
from qapigen.frontend.condition_text import condition_text
from qapigen.frontend.schema import Schema

from ..support.qemu_model import holds, qemu_model, symbols_of


@pytest.fixture(scope="module")
def schema_path(qemu_schemas: Path) -> Path:
    return qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"


@pytest.fixture(scope="module")
def schema(schema_path: Path) -> Schema:
    return load_schema(str(schema_path))


@pytest.fixture(scope="module")
def reference(qemu_tree: Path, schema_path: Path) -> list[dict[str, Any]]:
    return qemu_model(qemu_tree, schema_path)


def _conditions(d: dict[str, Any]) -> list[Any]:
    """Every condition in a definition of QEMU's model."""
    found = [d["if"], *(c for _, c in d["features"])]
    for part in ("values", "local_members", "branches"):
        for m in d.get(part) or ():
            found.append(m["if"])
            found += [c for _, c in m.get("features", ())]
    return found


def test_symbols_are_those_of_qemus_model(schema: Schema, reference: list[dict[str, Any]]) -> None:
    """Every symbol any condition of QEMU's model names, once, sorted."""
    expected: set[str] = set()
    for d in reference:
        for cond in _conditions(d):
            expected |= symbols_of(cond)
    assert symbols(schema) == sorted(expected)
    assert "TARGET_S390X" in expected and len(expected) > 40


def _owner(name: str) -> str:
    return name[6:].rpartition("-")[0] if name.startswith("q_obj_") else name


def _left_out(reference: list[dict[str, Any]], defined: set[str]) -> dict[str, list[str]]:
    """What a build leaves out, by the rules builds.left_out documents, from QEMU's model."""
    out: dict[str, list[str]] = {}

    def add(kind: str, name: str) -> None:
        out.setdefault(kind, []).append(name)

    def features(owner: str, fs: list[Any]) -> None:
        for name, cond in fs:
            if not holds(cond, defined):
                add("feature", f"{owner}.{name}")

    for d in reference:
        if d["meta"] in ("builtin", "array"):
            continue
        if not holds(d["if"], defined):
            if d["meta"] in ("command", "event"):
                add(d["meta"], d["name"])
            elif not d["implicit"]:
                add("type", d["name"])
            continue
        owner = _owner(d["name"])
        features(owner, d["features"])
        for part, kind in (("values", "value"), ("local_members", "member")):
            for m in d.get(part) or ():
                name = f"{owner}.{m['name']}"
                if not holds(m["if"], defined):
                    add(kind, name)
                else:
                    features(name, m["features"])
        for v in d.get("branches") or ():
            if v["type"] != "q_empty" and not holds(v["if"], defined):
                add("branch", f"{owner}.{v['name']}")
    return out


@pytest.mark.parametrize(
    "defined",
    [set(), {"TARGET_I386", "CONFIG_VNC", "CONFIG_LINUX", "CONFIG_POSIX"}],
    ids=["no-symbols", "some-symbols"],
)
def test_left_out_is_what_qemus_model_leaves_out(
    schema: Schema, reference: list[dict[str, Any]], defined: set[str]
) -> None:
    """Commands, events, named types, members, values, branches, features:
    each listed once, in schema order, none inside something left out."""
    gone = left_out(schema, defined)
    assert gone.parts == _left_out(reference, defined)
    assert "query-s390x-cpu-polarization" in gone.parts["command"]


def test_the_issues_counts_with_no_symbols(schema: Schema) -> None:
    """QEMU 10.0 built with nothing defined: 203 of 240 commands, 48 of 56 events."""
    gone = left_out(schema, [])
    assert len(gone.parts["command"]) == 240 - 203
    assert len(gone.parts["event"]) == 56 - 48
    assert gone.summary().startswith("37 commands, 8 events, ")
    assert left_out(schema, symbols(schema)).parts.get("command", []) == []


def test_unknown_symbols_in_the_order_given(schema: Schema) -> None:
    assert unknown_symbols(schema, ["CONFIG_VNC", "CONFIG_TYPO", "TARGET_I386", "X"]) == [
        "CONFIG_TYPO",
        "X",
    ]
    assert unknown_symbols(schema, symbols(schema)) == []


@pytest.mark.parametrize(
    ("cond", "text"),
    [
        ("CONFIG_VNC", "CONFIG_VNC"),
        ({"any": ["TARGET_I386", "TARGET_S390X"]}, "TARGET_I386 or TARGET_S390X"),
        ({"not": "CONFIG_WIN32"}, "not CONFIG_WIN32"),
        (
            {"all": ["CONFIG_LINUX", {"any": ["A", "B"]}, {"not": {"all": ["C", "D"]}}]},
            "CONFIG_LINUX and (A or B) and not (C and D)",
        ),
        ({"all": ["ONLY"]}, "ONLY"),
    ],
)
def test_condition_text(cond: Any, text: str) -> None:
    assert condition_text(cond) == text
