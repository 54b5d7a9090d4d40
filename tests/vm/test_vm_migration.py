"""Migration commands as QEMU 10.0.2 answers them with no migration under way.

Real QEMU and ``qapigen vm`` side by side, same options, raw bytes: parameters
checked (each of QEMU's bounds, the one parameter puts on another), remembered
and reported; capabilities likewise; the commands that need a migration under
way refused with QEMU's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ..support.qemu import Both, both_running


@pytest.fixture
def both() -> Iterator[Both]:
    """Both, fresh for each test (the parameters are state)."""
    yield from both_running(("-S",))


# Each bound of migrate_params_check, just outside and just inside it.
SETTINGS: list[dict[str, Any]] = [
    {"throttle-trigger-threshold": 0},
    {"throttle-trigger-threshold": 100},
    {"cpu-throttle-initial": 0},
    {"cpu-throttle-initial": 100},
    {"cpu-throttle-increment": 99},
    {"cpu-throttle-increment": 100},
    {"downtime-limit": 2000001},
    {"downtime-limit": 2000000},
    {"downtime-limit": -1},
    {"max-bandwidth": -1},
    {"multifd-channels": 0},
    {"multifd-channels": 255},
    {"multifd-zlib-level": 10},
    {"multifd-qatzip-level": 0},
    {"multifd-zstd-level": 21},
    {"multifd-zstd-level": 20},
    {"xbzrle-cache-size": 1000},
    {"xbzrle-cache-size": 12288},
    {"xbzrle-cache-size": 8192},
    {"cpu-throttle-initial": 50},
    {"max-cpu-throttle": 49},
    {"max-cpu-throttle": 50},
    {"announce-initial": 100001},
    {"announce-max": 100000},
    {"announce-rounds": 1001},
    {"announce-step": 0},
    {"announce-step": 10001},
    {"x-vcpu-dirty-limit-period": 0},
    {"x-vcpu-dirty-limit-period": 1000},
    {"vcpu-dirty-limit": 0},
    {"tls-creds": None},
    {"tls-hostname": "example"},
    {"direct-io": True},
    {"block-bitmap-mapping": []},
    {"multifd-compression": "zlib", "cpu-throttle-tailslow": True},
    {},
]


@pytest.mark.parametrize("change", SETTINGS, ids=lambda c: ",".join(c) or "nothing")
def test_parameters_are_checked_as_qemu_checks_them(both: Both, change: dict[str, Any]) -> None:
    """The reply to one change, then the parameters as they are after it."""
    q, o = both.ask("migrate-set-parameters", change)
    assert q == o
    q, o = both.ask("query-migrate-parameters")
    assert b'"downtime-limit"' in q
    assert q == o


def test_parameters_are_remembered_in_order(both: Both) -> None:
    """Every setting of :data:`SETTINGS`, one after another on one machine."""
    for change in SETTINGS:
        q, o = both.ask("migrate-set-parameters", change)
        assert q == o, change
    assert both.ask("query-migrate-parameters")[0] == both.ask("query-migrate-parameters")[1]


@pytest.mark.parametrize(
    ("execute", "arguments"),
    [
        ("query-migrate", None),
        ("migrate_cancel", None),
        ("migrate-pause", None),
        ("migrate-continue", {"state": "pre-switchover"}),
        ("migrate-continue", {"state": "none"}),
    ],
)
def test_commands_needing_a_migration_answer_as_without_one(
    both: Both, execute: str, arguments: dict[str, Any] | None
) -> None:
    q, o = both.ask(execute, arguments)
    assert q == o


def test_capabilities_are_remembered(both: Both) -> None:
    caps = {"capabilities": [{"capability": "events", "state": True}]}
    assert both.ask("migrate-set-capabilities", caps) == (b'{"return": {}}\r\n',) * 2
    q, o = both.ask("query-migrate-capabilities")
    assert b'{"state": true, "capability": "events"}' in q
    assert q == o
