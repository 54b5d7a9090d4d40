"""The scenarios a real QEMU 10.0.2 recorded: ``oracle/scenarios.json`` of the shared data.

Each scenario holds QEMU's command line, what its guest did, every QMP
message of the oracle's management connection (by step), ``query-status``
after every step and the exit status; ``command_line_errors`` holds the
options QEMU refused, with its message.  The machine's tests replay them in
process, ``qapigen vm``'s tests over real sockets.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .paths import shared_dir

Entry = dict[str, Any]
"""One transcript entry: ``step``, ``dir`` (send, recv, eof) and the message."""


def _load() -> dict[str, Any] | None:
    base = shared_dir()
    path = base / "oracle" / "scenarios.json" if base else None
    if path is None or not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


_DATA = _load()
_SKIP = pytest.mark.skip(reason="../shared/oracle/scenarios.json is absent (set QAPIGEN_SHARED)")


def oracle_params(key: str) -> list[Any]:
    """The recorded cases under ``key`` (``scenarios``, ``command_line_errors``) as
    pytest parameters, each named after its scenario; one skipped parameter when the
    shared data is absent."""
    if _DATA is None:
        return [pytest.param(None, marks=_SKIP)]
    items = _DATA[key]
    return [pytest.param(s, id=s.get("name") or " ".join(s["argv"][-2:])) for s in items]


def transcript_steps(transcript: list[Entry]) -> list[tuple[str, list[Entry]]]:
    """The transcript cut into its steps, in order: (label, the step's entries)."""
    steps: list[tuple[str, list[Entry]]] = []
    for entry in transcript:
        if not steps or steps[-1][0] != entry["step"]:
            steps.append((entry["step"], []))
        steps[-1][1].append(entry)
    return steps


def is_wait_step(label: str, entries: list[Entry]) -> bool:
    """Whether the oracle waited for the guest in this step: it sent nothing but
    ``query-status`` there, and the step is not one of the first three."""
    # A step that sends nothing (QEMU exited before the oracle could ask) is
    # a wait too; the first three are over before the guest's second passes.
    if label in ("connect", "negotiate", "initial"):
        return False
    sends = [json.loads(e["text"]) for e in entries if e["dir"] == "send"]
    return all(s.get("execute") == "query-status" for s in sends)
