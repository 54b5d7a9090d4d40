"""The typed client for a guest agent, against a real qemu-ga 10.0.2 on a unix socket.

qemu-ga runs with ``--allow-rpcs`` limited to commands that read (``guest-sync``,
``guest-sync-delimited``, ``guest-ping``, ``guest-info``, ``guest-get-osinfo``,
``guest-get-time``) and its state file in the test's folder: nothing it may do acts on
the machine running the tests.  Its bindings are generated from QEMU 10.0's
``qga/qapi-schema.json`` at test time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
from pathlib import Path
from types import ModuleType

import pytest

from qapigen.runtime.client import CommandNotFound
from qapigen.simulator_api.client import Client as SimulatorClient

from ..support.apis import qemu_api, qga_api
from ..support.emulators import TIMEOUT, needs_qemu_ga, private_folder, qemu_ga

pytestmark = needs_qemu_ga

#: What an earlier client may leave in the agent's parser: a request cut off in a string.
HALF_SENT = b'{"execute": "guest-ping", "arguments": {"note": "cut off'


@pytest.fixture
def agent() -> ModuleType:
    """The guest agent's bindings."""
    return qga_api()


def _sent(records: list[logging.LogRecord]) -> list[str]:
    """The commands qemu.qmp logged as sent, in order."""
    sent = []
    for record in records:
        message = record.getMessage()
        if message.startswith("--> "):
            request = json.loads(message[4:])
            sent.append(request.get("execute") or request.get("exec-oob"))
    return sent


def test_a_guest_agents_bindings_speak_its_protocol(agent: ModuleType) -> None:
    """The client of an agent's schema is an agent client; QEMU's and the simulator's not."""
    assert agent.client.Client.is_guest_agent()
    assert not SimulatorClient.is_guest_agent()
    assert not qemu_api().client.Client.is_guest_agent()


def test_typed_commands(agent: ModuleType, tmp_path: Path) -> None:
    """No greeting, no negotiation: the client synchronises and the commands are typed;
    a command the agent refuses raises CommandNotFound with its text."""
    with qemu_ga(private_folder(tmp_path)) as (_, path):

        async def scenario() -> None:
            async with agent.client.Client(timeout=TIMEOUT, strict=True) as client:
                await client.connect(path)
                assert client.greeting is None
                assert await client.guest_ping() is None
                info = await client.guest_info()
                assert isinstance(info, agent.GuestAgentInfo)
                assert info.version == "10.0.2"
                enabled = {c.name: c.enabled for c in info.supported_commands}
                assert enabled["guest-ping"] and not enabled["guest-exec"]
                osinfo = await client.guest_get_osinfo()
                assert osinfo.machine == os.uname().machine
                assert osinfo.kernel_release == os.uname().release
                assert isinstance(await client.guest_get_time(), int)
                with pytest.raises(CommandNotFound) as err:
                    await client.guest_get_host_name()
                assert str(err.value) == (
                    "CommandNotFound: Command guest-get-host-name has been disabled: "
                    "the command is not allowed"
                )

        asyncio.run(scenario())
        with agent.client.SyncClient(timeout=TIMEOUT) as sync:
            sync.connect(path)
            assert sync.guest_info().version == "10.0.2"


def test_connecting_recovers_what_an_earlier_client_left(agent: ModuleType, tmp_path: Path) -> None:
    """The agent's parser outlives connections: after a client that left a request half
    sent, a plain request is swallowed.  The client's synchronisation (0xFF, then
    guest-sync-delimited) recovers, and its commands are answered."""
    with qemu_ga(private_folder(tmp_path)) as (_, path):
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(path)
            raw.sendall(HALF_SENT)
        # What a client without synchronisation would see: no reply to its request.
        with socket.socket(socket.AF_UNIX) as raw:
            raw.settimeout(TIMEOUT)
            raw.connect(path)
            raw.sendall(b'{"execute": "guest-ping", "id": "plain"}')
            raw.sendall(b'\xff{"execute": "guest-sync-delimited", "arguments": {"id": 7}}')
            received = b""
            while b"\xff" not in received or not received.endswith(b"\n"):  # bounded: timeout
                chunk = raw.recv(4096)
                assert chunk, received
                received += chunk
            assert b'"plain"' not in received
            assert received.endswith(b'\xff{"return": 7}\n')
            raw.sendall(HALF_SENT)

        async def scenario() -> None:
            async with agent.client.Client(timeout=TIMEOUT) as client:
                await client.connect(path)
                assert await client.guest_ping() is None
                assert (await client.guest_info()).version == "10.0.2"

        asyncio.run(scenario())


def test_a_timeout_then_resynchronisation(
    agent: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stopped agent (SIGSTOP) times out a command; the next command first synchronises
    again, and gets its own reply (the late one to the timed-out command is dropped)."""
    caplog.set_level(logging.DEBUG, logger="qemu.qmp")
    with qemu_ga(private_folder(tmp_path)) as (proc, path):

        async def scenario() -> None:
            async with agent.client.Client(timeout=TIMEOUT, strict=True) as client:
                await client.connect(path)
                os.kill(proc.pid, signal.SIGSTOP)
                try:
                    with pytest.raises(TimeoutError, match=r"^guest-get-time: nothing within"):
                        await client.with_options(timeout=0.2).guest_get_time()
                finally:
                    os.kill(proc.pid, signal.SIGCONT)
                info = await client.guest_info()
                assert isinstance(info, agent.GuestAgentInfo)
                assert await client.guest_ping() is None

        asyncio.run(scenario())
    assert _sent(caplog.records) == [
        "guest-sync-delimited",
        "guest-get-time",
        "guest-sync-delimited",
        "guest-info",
        "guest-ping",
    ]


def test_an_agent_without_guest_sync_delimited_gets_guest_sync(
    agent: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Where guest-sync-delimited is refused, the client synchronises with guest-sync."""
    caplog.set_level(logging.DEBUG, logger="qemu.qmp")
    with (
        qemu_ga(private_folder(tmp_path), "guest-sync,guest-ping") as (_, path),
        agent.client.SyncClient(timeout=TIMEOUT) as client,
    ):
        client.connect(path)
        assert client.guest_ping() is None
    assert _sent(caplog.records) == ["guest-sync-delimited", "guest-sync", "guest-ping"]
