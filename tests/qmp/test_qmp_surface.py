"""A QMP service with a :class:`~qapigen.qmp.service.Surface`: the handler's own
commands stay live, every other command of the surface's schema is the surface's."""

from __future__ import annotations

import json
from typing import Any

from qapigen import simulator_api
from qapigen.machine import Machine, MachineConfig
from qapigen.qmp.fds import NamedFds
from qapigen.qmp.protocol import Request, ServerConnection
from qapigen.qmp.schema_info import CommandSpec
from qapigen.qmp.service import QMPService
from qapigen.runtime import QMPError


class _Surface:
    """A schema of every command name but ``absent``, answering what it was asked."""

    def __init__(self) -> None:
        self.version = {"major": 9, "minor": 8, "micro": 7}
        self.package = "surface-package"
        self.ran: list[tuple[str, dict[str, Any]]] = []

    def lookup(self, name: str) -> CommandSpec | None:
        return None if name == "absent" else CommandSpec(name, name == "oob-command")

    def run(self, name: str, arguments: dict[str, Any]) -> Any:
        self.ran.append((name, arguments))
        if name == "failing":
            raise QMPError("DeviceNotFound", "no such thing")
        return {"answered-by": "surface", "command": name}


class _Peer:
    def __init__(self, service: QMPService) -> None:
        self.conn: ServerConnection = service.connection()
        self.closed = False
        self.backlog: list[Request] = []
        self.named_fds = NamedFds()
        self.out = b""

    def unsent(self) -> int:
        return 0

    def flush(self) -> None:
        self.out += self.conn.data_to_send()

    def close(self) -> None:
        self.closed = True


def _session(*requests: str) -> tuple[list[Any], _Surface, Machine]:
    surface = _Surface()
    machine = Machine(MachineConfig(start_paused=True))
    service = QMPService(simulator_api, machine, surface=surface)
    peer = _Peer(service)
    text = '{"execute": "qmp_capabilities"}' + "".join(requests)
    service.received(peer, text.encode())
    return [json.loads(line) for line in peer.out.splitlines()], surface, machine


def test_the_greeting_is_the_surfaces() -> None:
    lines, _, _ = _session()
    assert lines[0]["QMP"]["version"] == {
        "qemu": {"major": 9, "minor": 8, "micro": 7},
        "package": "surface-package",
    }


def test_the_handlers_commands_stay_live_and_the_rest_is_the_surfaces() -> None:
    lines, surface, machine = _session(
        '{"execute": "query-status"}',
        '{"execute": "cont"}',
        '{"execute": "query-machines", "arguments": {"compat-props": true}}',
        '{"execute": "query-version"}',
        '{"execute": "failing"}',
        '{"execute": "absent"}',
    )
    replies = [line for line in lines[2:] if "event" not in line]
    assert replies[0] == {"return": {"status": "prelaunch", "running": False}}
    assert replies[1] == {"return": {}}
    assert machine.running
    assert replies[2] == {"return": {"answered-by": "surface", "command": "query-machines"}}
    # The server's own commands are the surface's too: its schema, its version.
    assert replies[3] == {"return": {"answered-by": "surface", "command": "query-version"}}
    assert replies[4] == {"error": {"class": "DeviceNotFound", "desc": "no such thing"}}
    assert replies[5] == {
        "error": {"class": "CommandNotFound", "desc": "The command absent has not been found"}
    }
    assert surface.ran == [
        ("query-machines", {"compat-props": True}),
        ("query-version", {}),
        ("failing", {}),
    ]


def test_a_live_commands_arguments_are_checked_by_its_generated_type() -> None:
    lines, surface, _ = _session('{"execute": "set-action", "arguments": {"panic": "bogus"}}')
    assert lines[2] == {
        "error": {
            "class": "GenericError",
            "desc": "Parameter 'panic' does not accept value 'bogus'",
        }
    }
    assert surface.ran == []
