"""QEMU's real schemas load and check."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapigen import load_schema
from qapigen.frontend.schema import Command, Event, ObjectType

SCHEMAS = [
    "qapi/qapi-schema.json",
    "qga/qapi-schema.json",
    "storage-daemon/qapi/qapi-schema.json",
]


@pytest.mark.parametrize("rel", SCHEMAS)
def test_qemu_10_0_schema_loads(rel: str, qemu_schemas: Path) -> None:
    """Each of QEMU 10.0's schemas loads without error, with content."""
    schema = load_schema(str(qemu_schemas / "10.0" / "schema" / rel))
    assert any(True for _ in schema.commands())
    assert len(schema.docs) > 10


def test_full_schema_has_known_definitions(qemu_schemas: Path) -> None:
    """Spot checks on the full schema's model, from facts of QEMU 10.0."""
    schema = load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))
    status = schema.lookup("query-status")
    assert isinstance(status, Command)
    assert status.ret_type is not None and status.ret_type.name == "StatusInfo"
    assert status.allow_preconfig
    panicked = schema.lookup("GUEST_PANICKED")
    assert isinstance(panicked, Event)
    assert panicked.arg_type is not None
    assert [m.name for m in panicked.arg_type.members] == ["action", "info"]
    blockdev = schema.lookup("BlockdevOptions")
    assert isinstance(blockdev, ObjectType) and blockdev.branches is not None
    assert blockdev.branches.tag_member.name == "driver"
    # Every command appears once, under its wire name.
    names = [c.name for c in schema.commands()]
    assert len(names) == len(set(names)) > 200
