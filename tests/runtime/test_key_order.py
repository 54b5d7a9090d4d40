"""With several unexpected arguments, the one named is the one QEMU names.

QEMU's input visitor reports the first key left in a GLib hash table after the
known members are taken out (see :mod:`qapigen.runtime.key_order`).  These tests
send the same random requests to real QEMU 10.0 and to ``qapigen vm`` (commands
without arguments, with a few, and the server's own), and decode random argument
sets of QEMU's own many-member commands with bindings generated from QEMU's
schema, where taking the known members out shrinks the table under the keys left.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.python.generate import generate
from qapigen.frontend.schema import AlternateType, ArrayType, BuiltinType, EnumType, Schema
from qapigen.runtime import WireError
from qapigen.runtime.key_order import (
    _KeyTable,
    _str_hash,
    first_unexpected,
    ghash_order,
    qdict_order,
)

from ..support.qemu import QMPProcess, RawQMP, pair, skip_without_qemu

CASES = int(os.environ.get("QAPIGEN_KEY_ORDER_CASES", "400"))

# Characters of keys: ASCII, bytes above 0x7F (g_str_hash takes them as signed),
# a character beyond the BMP, and U+0000 (kept as C0 80).
_ALPHABET = "abcdefghijklmnopqrstuvwxyz-_0123456789\u00e9\u20ac\U0001f600\x00"
# Key counts around GLib's table sizes (8, 16, 32, ... slots) and beyond.
_COUNTS = (2, 3, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 60, 100, 250)


def _random_keys(rng: random.Random, count: int) -> list[str]:
    keys = ("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 8))) for _ in range(count))
    return list(dict.fromkeys(keys))


def test_str_hash_is_glibs() -> None:
    """g_str_hash: h = h * 33 + c from 5381, over signed chars, 32 bits (values by hand)."""
    assert _str_hash("") == 5381
    assert _str_hash("a") == 5381 * 33 + 97
    assert _str_hash("\u00e9") == ((5381 * 33 - 61) * 33 - 87) & 0xFFFFFFFF  # C3 A9, signed
    assert _str_hash("\x00") == ((5381 * 33 - 64) * 33 - 128) & 0xFFFFFFFF  # C0 80


def test_table_keeps_every_key_through_growth_and_shrinking() -> None:
    """Whatever the layout, the table holds exactly the keys inserted and not removed."""
    rng = random.Random(7)
    for _ in range(200):
        keys = _random_keys(rng, rng.choice(_COUNTS))
        table = _KeyTable()
        for key in keys:
            table.insert(key)
        gone = rng.sample(keys, rng.randint(0, len(keys)))
        for key in gone:
            table.remove(key)
        assert sorted(k for k in table.keys if k is not None) == sorted(set(keys) - set(gone))
        assert table.nnodes == len(keys) - len(gone)
        assert table.size >= 8 and table.size & (table.size - 1) == 0


def test_nothing_left_is_none_and_one_left_is_that_one() -> None:
    assert first_unexpected(["a", "b"], ["b", "a"]) is None
    assert first_unexpected(["a", "b", "c"], ["c", "a"]) == "b"
    assert qdict_order([]) == []


def test_ghash_order_is_the_order_qemu_lists_its_character_devices_in() -> None:
    """Observed on QEMU 10.0.2: ``-qmp``, ``-qmp``, ``-chardev id=c1``, ``-chardev
    id=mon2``, ``-qmp`` (made in that order) come back from ``query-chardev`` as mon2,
    compat_monitor1, compat_monitor2, c1, compat_monitor0: the table's order, reversed.
    (tests/vm/test_vm_surface.py compares larger sets with a running QEMU.)"""
    made = ["compat_monitor0", "compat_monitor1", "c1", "mon2", "compat_monitor2"]
    listed = ["mon2", "compat_monitor1", "compat_monitor2", "c1", "compat_monitor0"]
    assert ghash_order(made)[::-1] == listed
    assert sorted(ghash_order(made)) == sorted(made)


# -- against real QEMU ---------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RawQMP, RawQMP]]:
    """A negotiated connection to real QEMU and one to ``qapigen vm`` (same options)."""
    for qemu, ours in pair(("-S",)):
        conns = qemu.connect(), ours.connect()
        for conn in conns:
            assert conn.command(b'{"execute": "qmp_capabilities"}') == b'{"return": {}}\r\n'
        yield conns
        for conn in conns:
            conn.close()


# Members with values the visitor takes, for the commands both serve.
_KNOWN: dict[str, dict[str, object]] = {
    "stop": {},
    "query-status": {},
    "query-version": {},
    "set-action": {"reboot": "reset", "shutdown": "poweroff", "panic": "pause", "watchdog": "none"},
    "watchdog-set-action": {"action": "reset"},
    "qmp_capabilities": {"enable": []},
}
_REQUIRED = {"action"}  # watchdog-set-action's


def _request(rng: random.Random) -> bytes:
    command = rng.choice(sorted(_KNOWN))
    known = [(k, v) for k, v in _KNOWN[command].items() if k in _REQUIRED or rng.random() < 0.6]
    values: list[object] = [1, "x", None, [], {}]
    unknown = [(k, rng.choice(values)) for k in _random_keys(rng, rng.choice(_COUNTS))]
    members = [(k, v) for k, v in unknown if k not in _KNOWN[command]] + known
    rng.shuffle(members)  # the insertion order is the text's
    arguments = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in members) + "}"
    return f'{{"execute": "{command}", "arguments": {arguments}, "id": 1}}'.encode()


def test_unexpected_argument_named_as_qemu_names_it(servers: tuple[RawQMP, RawQMP]) -> None:
    """Random sets of unknown keys (with or without known members) for commands without
    arguments, with some, and the server's own: the same reply, byte for byte."""
    qemu, ours = servers
    rng = random.Random(20250612)
    for case in range(CASES):
        request = _request(rng)
        want = qemu.command(request)
        assert b"is unexpected" in want, (request, want)
        assert ours.command(request) == want, f"case {case}: {request[:300]!r}"


# -- QEMU's own commands, through bindings generated from its schema -------------------


@pytest.fixture(scope="module")
def qemu_schema(qemu_schemas: Path) -> Schema:
    return load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json"))


@pytest.fixture(scope="module")
def qemu_package(qemu_schema: Schema, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    out = tmp_path_factory.mktemp("qemu-key-order")
    generate(qemu_schema, str(out), "qemu_key_order")
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("qemu_key_order")
    finally:
        sys.path.remove(str(out))


@pytest.fixture(scope="module")
def qemu_alone() -> Iterator[RawQMP]:
    qemu = QMPProcess((skip_without_qemu(),), ("-S",))
    try:
        conn = qemu.connect()
        assert conn.command(b'{"execute": "qmp_capabilities"}') == b'{"return": {}}\r\n'
        yield conn
        conn.close()
    finally:
        qemu.close()


def _value(typ: Any) -> Any:
    """A value QEMU's visitor takes for a member of type ``typ`` (NotImplemented: none)."""
    if isinstance(typ, EnumType):
        return typ.members[0].name
    if isinstance(typ, ArrayType):
        return []
    if isinstance(typ, AlternateType):
        for variant in typ.alternatives.variants:
            value = _value(variant.type)
            if value is not NotImplemented:
                return value
        return NotImplemented
    if isinstance(typ, BuiltinType):
        return {"str": "x", "number": 1.5, "bool": True, "null": None}.get(typ.name, 1)
    return NotImplemented


# Commands of QEMU 10.0 with many members: taking the known ones out of the table
# shrinks it (in place) under the unknown ones, which moves them.
_MANY_MEMBERS = (
    "migrate-set-parameters",
    "block_set_io_throttle",
    "drive-mirror",
    "drive-backup",
    "block-commit",
    "blockdev-mirror",
    "block-stream",
)


def test_many_member_commands_name_what_qemu_names(
    qemu_schema: Schema, qemu_package: ModuleType, qemu_alone: RawQMP
) -> None:
    """Random subsets of a command's members (valid values) and random unknown keys:
    strict decoding names the member QEMU names."""
    rng = random.Random(612)
    for name in _MANY_MEMBERS:
        command = qemu_schema.lookup(name)
        arg_type = command.arg_type  # type: ignore[union-attr]
        members = {
            m.name: _value(m.type)
            for m in arg_type.members
            if not m.ifcond.is_present() and _value(m.type) is not NotImplemented
        }
        decode = qemu_package.COMMANDS[name].arg_type.from_wire
        for case in range(max(1, CASES // 10)):
            chosen = [(k, v) for k, v in members.items() if rng.random() < 0.8]
            extra = [
                (k, 1) for k in _random_keys(rng, rng.choice(_COUNTS[:10])) if k not in members
            ]
            items = chosen + extra
            rng.shuffle(items)
            arguments = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items)
            request = f'{{"execute": "{name}", "arguments": {{{arguments}}}, "id": 1}}'.encode()
            reply = json.loads(qemu_alone.command(request))
            assert "error" in reply, (name, reply)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                with pytest.raises(WireError) as err:
                    decode(dict(items))
            assert err.value.desc == reply["error"]["desc"], f"{name} case {case}: {items}"
