"""The project's own schema: valid, documented, and wire-compatible with QEMU 10.0."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapigen import load_schema
from qapigen.frontend.schema import (
    AlternateType,
    ArrayType,
    Command,
    Definition,
    EnumType,
    Event,
    ObjectType,
    Schema,
    Type,
)

from ...support.paths import REPO

PROJECT_SCHEMA = REPO / "schemas" / "qapi-schema.json"

REQUIRED = [
    "RunState",
    "ShutdownCause",
    "StatusInfo",
    "query-status",
    "SHUTDOWN",
    "POWERDOWN",
    "RESET",
    "STOP",
    "RESUME",
    "WATCHDOG",
    "WatchdogAction",
    "RebootAction",
    "ShutdownAction",
    "PanicAction",
    "watchdog-set-action",
    "set-action",
    "GUEST_PANICKED",
    "GUEST_CRASHLOADED",
    "GUEST_PVSHUTDOWN",
    "GuestPanicAction",
    "GuestPanicInformation",
    "GuestPanicInformationHyperV",
    "GuestPanicInformationS390",
    "qmp_capabilities",
    "query-version",
    "query-commands",
    "quit",
]


@pytest.fixture(scope="module")
def project() -> Schema:
    return load_schema(str(PROJECT_SCHEMA))


def test_project_schema_defines_what_the_project_needs(project: Schema) -> None:
    """Every definition the simulator and QMP layer rely on is there."""
    missing = [name for name in REQUIRED if project.lookup(name) is None]
    assert missing == []


def test_project_schema_is_fully_documented(project: Schema) -> None:
    """doc-required holds, and every definition has its doc block."""
    for defn in project.definitions():
        if not defn.is_implicit():
            assert defn.doc is not None, defn.name


def _type_sig(t: Type | None) -> object:
    if t is None:
        return None
    if isinstance(t, ArrayType):
        return ["array", _type_sig(t.element_type)]
    return t.name


def _signature(defn: Definition) -> object:
    """What a definition means on the wire, conditions left out."""
    feats = [f.name for f in defn.features]
    if isinstance(defn, EnumType):
        return ("enum", [(m.name, [f.name for f in m.features]) for m in defn.members], feats)
    if isinstance(defn, ObjectType):
        members = [
            (m.name, _type_sig(m.type), m.optional, [f.name for f in m.features])
            for m in defn.members
        ]
        branches = None
        if defn.branches is not None:
            branches = (
                defn.branches.tag_member.name,
                [(v.name, _signature(v.type)) for v in defn.branches.variants],
            )
        return ("object", members, branches, feats)
    if isinstance(defn, AlternateType):
        return ("alternate", [(v.name, _type_sig(v.type)) for v in defn.alternatives.variants])
    if isinstance(defn, Command):
        return (
            "command",
            _signature(defn.arg_type) if defn.arg_type else None,
            _type_sig(defn.ret_type),
            defn.gen,
            defn.success_response,
            defn.boxed,
            defn.allow_oob,
            defn.allow_preconfig,
            defn.coroutine,
            feats,
        )
    if isinstance(defn, Event):
        return ("event", _signature(defn.arg_type) if defn.arg_type else None, defn.boxed, feats)
    raise AssertionError(defn)


def test_project_schema_is_wire_compatible_with_qemu(project: Schema, qemu_schemas: Path) -> None:
    """Each definition means on the wire what QEMU 10.0's of the same name does."""
    qemu = load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))
    compared = 0
    for defn in project.definitions():
        if defn.is_implicit():
            continue
        theirs = qemu.lookup(defn.name)
        if theirs is None:
            # The project's own additions: the simulated guest's side, all of
            # it in one module, and its commands unstable x- commands.
            assert defn.module == "guest.json", f"{defn.name} is not in QEMU 10.0"
            if isinstance(defn, Command):
                assert defn.name.startswith("x-") and defn.is_unstable(), defn.name
            continue
        assert _signature(defn) == _signature(theirs), defn.name
        compared += 1
    assert compared >= len(REQUIRED)


def test_project_schema_examples_are_valid(project: Schema) -> None:
    """Every qmp-example in the project's doc comments matches the schema."""
    from qapigen.backends.validate import Validator, check_examples

    assert check_examples(Validator(project)) == []
