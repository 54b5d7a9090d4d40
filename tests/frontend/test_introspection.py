"""The schema a query-qmp-schema reply describes (bindings without a source tree).

Replies come from real QEMU 10.0.2 and from QEMU's own generator; the model
read from one must give the same reply back (``introspect``), type for type.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from qapigen import QAPIError, load_schema
from qapigen.backends.introspect import introspect
from qapigen.frontend.introspection import camel, load_introspection, read_reply
from qapigen.frontend.schema import Command, Event, ObjectType

from ..backends.test_introspect import X86_64
from ..support.qemu_introspect import canonical, qemu_introspect

Reply = list[dict[str, Any]]


def _definitions(reply: Reply) -> list[str]:
    return [e["name"] for e in reply if e["meta-type"] in ("command", "event")]


def _no_empty_features(value: Any) -> Any:
    """``value`` without ``"features": []``: QEMU writes one where conditions
    left none of a part's features, and it says no more than none."""
    if isinstance(value, dict):
        return {
            k: _no_empty_features(v) for k, v in value.items() if not (k == "features" and v == [])
        }
    if isinstance(value, list):
        return [_no_empty_features(v) for v in value]
    return value


def _same_schema(ours: Reply, reply: Reply) -> None:
    """Equal up to the masked names and to types no command or event reaches."""
    assert _definitions(ours) == _definitions(reply)
    assert canonical(ours) == canonical(_no_empty_features(reply))


def test_real_qemu_reply_round_trips(qemu_introspection: Reply) -> None:
    """Real QEMU 10.0.2's reply: the model gives it back, type for type."""
    schema = load_introspection(qemu_introspection, "qemu-system-x86_64")
    _same_schema(introspect(schema), qemu_introspection)
    assert sum(1 for _ in schema.commands()) == len(
        [e for e in qemu_introspection if e["meta-type"] == "command"]
    )


@pytest.mark.parametrize("defines", [[], X86_64], ids=["no-symbols", "x86_64"])
def test_qemu_generators_reply_round_trips(
    defines: list[str], qemu_schemas: Path, qemu_tree: Path
) -> None:
    """Replies QEMU's own generator builds for QEMU 10.0's schema."""
    path = qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    reply = qemu_introspect(qemu_tree, path, False, defines)
    _same_schema(introspect(load_introspection(reply, "reply.json")), reply)


def test_names_follow_the_documented_rule(qemu_introspection: Reply) -> None:
    """Names worked out by hand from the rule in docs/bindings.md."""
    schema = load_introspection(qemu_introspection, "qemu-system-x86_64")
    expansion = schema.lookup("query-cpu-model-expansion")
    assert isinstance(expansion, Command)
    assert expansion.arg_type is not None and expansion.ret_type is not None
    # Arguments given in place (used by this command alone), as the schema writes them.
    assert expansion.arg_type.name == "q_obj_query-cpu-model-expansion-arg"
    assert [(m.name, m.type.name) for m in expansion.arg_type.members] == [
        ("type", "QueryCpuModelExpansionType"),
        # Also the result's member 'model': the shorter name wins.
        ("model", "QueryCpuModelExpansionModel"),
    ]
    assert expansion.ret_type.name == "QueryCpuModelExpansionResult"
    status = schema.lookup("query-status")
    assert isinstance(status, Command) and status.ret_type is not None
    assert status.ret_type.name == "QueryStatusResult"
    assert isinstance(status.ret_type, ObjectType)
    # Its member's parts: QueryStatus (no Result), Status.
    assert [m.type.name for m in status.ret_type.members] == ["bool", "QueryStatusStatus"]
    # The elements of a list a command returns.
    block = schema.lookup("query-block")
    assert isinstance(block, Command) and block.ret_type is not None
    assert block.ret_type.name == "QueryBlockResultList"
    # Boxed arguments: a union, named after the command; its branches after it.
    add = schema.lookup("blockdev-add")
    assert isinstance(add, Command) and add.arg_type is not None and add.boxed
    assert add.arg_type.name == "BlockdevAddArguments"
    assert add.arg_type.branches is not None
    qcow2 = next(v for v in add.arg_type.branches.variants if v.name == "qcow2")
    assert qcow2.type.name == "BlockdevAddQcow2"
    # The last two of three parts: BlockdevAdd, Qcow2, OverlapCheck.
    assert isinstance(qcow2.type, ObjectType)
    overlap = next(m for m in qcow2.type.members if m.name == "overlap-check")
    assert overlap.type.name == "Qcow2OverlapCheck"
    # Shared by SHUTDOWN's and RESET's 'reason': the shortest name.
    shutdown = schema.lookup("SHUTDOWN")
    assert isinstance(shutdown, Event) and shutdown.arg_type is not None
    assert [m.type.name for m in shutdown.arg_type.members] == ["bool", "ResetReason"]
    # No command or event uses the types of parts this build left out.
    assert not any(d.name.startswith("Unused") for d in schema.definitions())


def _shuffled(reply: Reply, seed: int) -> Reply:
    """The same reply in another order, with other masked numbers."""
    rng = random.Random(seed)
    masked = [e["name"] for e in reply if e["name"].isdigit()]
    numbers = list(range(len(masked)))
    rng.shuffle(numbers)
    renamed = {old: str(new) for old, new in zip(masked, numbers, strict=True)}

    def ref(r: str) -> str:
        return f"[{ref(r[1:-1])}]" if r.startswith("[") else renamed.get(r, r)

    text = json.dumps(reply)
    out: Reply = json.loads(text)
    for e in out:
        for key in ("name", "arg-type", "ret-type", "element-type"):
            if key in e and (key != "name" or e["meta-type"] not in ("command", "event")):
                e[key] = ref(e[key])
        for part in ("members", "variants"):
            if e["meta-type"] in ("object", "alternate") or part == "variants":
                for m in e.get(part, ()):
                    if "type" in m:
                        m["type"] = ref(m["type"])
    rng.shuffle(out)
    return out


def test_names_depend_on_the_shape_not_order_or_numbers(qemu_introspection: Reply) -> None:
    """Shuffled and renumbered, the reply gives the same names to the same types."""

    def named(reply: Reply) -> list[Any]:
        schema = load_introspection(reply, "qemu-system-x86_64")
        return sorted(introspect(schema, unmask=True), key=lambda e: (e["meta-type"], e["name"]))

    expected = named(qemu_introspection)
    for seed in (1, 2):
        assert named(_shuffled(qemu_introspection, seed)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("query-cpu-model-expansion", "QueryCpuModelExpansion"),
        ("BLOCK_JOB_READY", "BlockJobReady"),
        ("tls-creds", "TlsCreds"),
        ("x-perf", "XPerf"),
        ("__com.redhat_drive-mirror", "ComRedhatDriveMirror"),
        ("vcpusCount", "VcpusCount"),
    ],
)
def test_camel(name: str, expected: str) -> None:
    assert camel(name) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[", "r.json:1: not JSON: Expecting value"),
        ('{"QMP": {}}', "r.json: not a query-qmp-schema reply"),
        ("[1]", "r.json: SchemaInfo 1: a SchemaInfo must be an object"),
        ('[{"name": "x"}]', "r.json: SchemaInfo 1 (x): 'meta-type' must be one of builtin, "),
        (
            '[{"name": "x", "meta-type": "command", "arg-type": "7", "ret-type": "7"}]',
            "r.json: SchemaInfo 1 (x): uses type '7', which the reply does not describe",
        ),
        (
            '{"return": [{"name": "e", "meta-type": "event"}]}',
            "r.json: SchemaInfo 1 (e): 'arg-type' must be a string",
        ),
        (
            '[{"name": "0", "meta-type": "object"}]',
            "r.json: SchemaInfo 1 (0): 'members' must be an array of objects",
        ),
    ],
)
def test_bad_replies_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(QAPIError) as caught:
        load_introspection(read_reply(text, "r.json"), "r.json")
    assert str(caught.value).startswith(message)


def test_a_project_schema_round_trips(tmp_path: Path) -> None:
    """The project's own schema, through introspection and back, loses no type."""
    from ..support.paths import REPO

    reply = introspect(load_schema(str(REPO / "schemas" / "qapi-schema.json")))
    _same_schema(introspect(load_introspection(reply, "project")), reply)
