"""Every bad input real QEMU 10.0.2 was recorded answering (``oracle/qmp-errors.json``),
replayed against ``qapigen vm`` on the oracle's own command line: the same lines,
byte for byte, and the connection usable after each (integer widths too: the shipped
profile's schema facts give them).

Unlike the bare QMP service's replay (``tests/qmp``), ``qapigen vm`` serves QEMU's
whole schema from its profile, so no case is out of reach for lack of a command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ..support.oracle_payloads import payload
from ..support.paths import shared_dir
from ..support.qemu import VM, QMPProcess, normalized

Case = dict[str, Any]


def _cases() -> list[Any]:
    base = shared_dir()
    path = base / "oracle" / "qmp-errors.json" if base else None
    if path is None or not path.exists():
        reason = "../shared/oracle/qmp-errors.json is absent (set QAPIGEN_SHARED)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    data = json.loads(path.read_text())
    assert data["argv"][1:-2] == ["-machine", "none", "-display", "none", "-nodefaults"]
    return [pytest.param(case, id=case["name"]) for case in data["cases"]]


@pytest.fixture(scope="module")
def vm() -> Iterator[QMPProcess]:
    """One ``qapigen vm`` for every case, as the oracle used one QEMU."""
    process = QMPProcess(VM)
    try:
        yield process
    finally:
        process.close()


def _recorded(messages: list[dict[str, Any]]) -> list[bytes]:
    return [normalized(m["raw"].encode()) for m in messages if m["dir"] == "recv"]


@pytest.mark.parametrize("case", _cases())
def test_vm_answers_recorded_bad_input_as_qemu_did(case: Case, vm: QMPProcess) -> None:
    """The lines QEMU sent after the bad input and after the probe that followed it."""
    conn = vm.connect()
    try:
        if case["negotiated"]:
            enable = case["capabilities_enabled"]
            arguments = f', "arguments": {{"enable": {json.dumps(enable)}}}' if enable else ""
            reply = conn.command(f'{{"execute": "qmp_capabilities"{arguments}}}\n'.encode())
            assert reply == b'{"return": {}}\r\n'
        for item in case["sent"]:
            conn.send(payload(item))
        want = _recorded(case["replies"])
        assert [normalized(conn.line()) for _ in want] == want
        probe = [m for m in case["probe_after"]["messages"] if m["dir"] == "send"]
        recovery = case.get("recovery")
        if recovery is None:
            assert case["probe_after"]["usable"]
            conn.send(payload(probe[0]))
            late = _recorded(case["probe_after"]["messages"])
            assert [normalized(conn.line()) for _ in late] == late
        else:
            # QEMU's parser took the probe into the object left open and answered
            # nothing; the simulator's reports the stray object and reads the probe
            # again (docs/behaviour.md).  Then QEMU's recovery, byte for byte.
            assert not case["probe_after"]["usable"]
            conn.send(payload(probe[0]))
            assert normalized(conn.line()) == (
                b'{"error": {"class": "GenericError", '
                b'"desc": "JSON parse error, key is not a string in object"}}\r\n'
            )
            assert b'"id": "probe"}' in conn.line()
            conn.send(payload(recovery["messages"][0]))
            late = _recorded(recovery["messages"])
            assert [normalized(conn.line()) for _ in late] == late
            conn.send(payload(recovery["probe_messages"][0]))
            late = _recorded(recovery["probe_messages"])
            assert [normalized(conn.line()) for _ in late] == late
    finally:
        conn.close()
    assert vm.alive()
