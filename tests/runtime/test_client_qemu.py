"""The typed client against a real QEMU 10.0 (``-machine none``).

Needs ``qemu-system-x86_64`` 10.0 (Debian's bookworm-backports; ``.ci/run``
installs it); skips without it.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from qapigen import load_schema
from qapigen.backends.python.generate import generate
from qapigen.runtime import QMPError

QEMU = shutil.which("qemu-system-x86_64")


def _qemu_version() -> tuple[int, int]:
    if QEMU is None:
        return (0, 0)
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    major, minor = out.split("version ", 1)[1].split(".")[:2]
    return int(major), int(minor)


pytestmark = pytest.mark.skipif(
    _qemu_version() < (10, 0), reason="needs qemu-system-x86_64 10.0 (bookworm-backports)"
)


@pytest.fixture
def qemu_socket() -> Iterator[str]:
    """A QEMU with no machine, its QMP monitor on a unix socket; stopped afterwards."""
    assert QEMU is not None
    folder = tempfile.mkdtemp(prefix="qapigen-qemu-")
    sock = f"{folder}/qmp.sock"
    proc = subprocess.Popen(
        [
            QEMU,
            "-machine",
            "none",
            "-display",
            "none",
            "-nodefaults",
            "-S",
            "-qmp",
            f"unix:{sock},server=on,wait=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        # The file appears at bind(), a moment before listen(): wait until a
        # connection is taken, so that the tests' clients are never refused.
        while not _listening(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"QEMU did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.01)
        yield sock
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _listening(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    finally:
        probe.close()
    return True


@pytest.fixture(scope="module")
def qemu_bindings(qemu_schemas: Path, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """Bindings for QEMU 10.0's whole schema."""
    out = tmp_path_factory.mktemp("qemu-bindings")
    generate(
        load_schema(str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json")),
        str(out),
        "qemu_bindings",
    )
    sys.path.insert(0, str(out))
    return importlib.import_module("qemu_bindings")


def test_project_client_against_real_qemu(qemu_socket: str) -> None:
    """The project's typed client: query-status, query-version, query-commands, STOP/RESUME."""
    import qapigen.simulator_api as qmp
    from qapigen.simulator_api.client import Client

    async def scenario() -> None:
        async with Client("test") as client:
            await client.connect(qemu_socket)
            status = await client.query_status()
            assert status == qmp.StatusInfo(running=False, status=qmp.RunState.PRELAUNCH)
            version = await client.query_version()
            assert (version.qemu.major, version.qemu.minor) == (10, 0)
            commands = await client.query_commands()
            names = {c.name for c in commands}
            assert {"query-status", "stop", "cont", "quit"} <= names
            async with client.listen(qmp.StopEvent, qmp.ResumeEvent) as events:
                await client.cont()
                assert isinstance(await events.wait_for(timeout=5), qmp.ResumeEvent)
                await client.stop()
                assert isinstance(await events.wait_for(qmp.StopEvent, timeout=5), qmp.StopEvent)
            assert (await client.query_status()).status is qmp.RunState.PAUSED

    asyncio.run(scenario())


def test_errors_carry_the_qmp_class(qemu_socket: str) -> None:
    """A refused command raises QMPError with QEMU's class and text."""
    from qapigen.simulator_api.client import Client

    async def scenario() -> None:
        async with Client() as client:
            await client.connect(qemu_socket)
            with pytest.raises(QMPError) as err:
                await client.qmp_capabilities()
            assert err.value.error_class == "CommandNotFound"
            assert err.value.desc == "Capabilities negotiation is already complete, command ignored"

    asyncio.run(scenario())


def test_sync_client(qemu_socket: str) -> None:
    """The blocking facade does the same without an event loop in the caller."""
    import qapigen.simulator_api as qmp
    from qapigen.simulator_api.client import SyncClient

    with SyncClient() as client:
        client.connect(qemu_socket)
        assert client.query_status().status is qmp.RunState.PRELAUNCH
        with client.listen(qmp.ResumeEvent) as events:
            client.cont()
            assert isinstance(events.wait_for(timeout=5), qmp.ResumeEvent)


def test_full_schema_client_introspection(qemu_socket: str, qemu_bindings: ModuleType) -> None:
    """query-qmp-schema decodes into the typed SchemaInfo union, strictly."""
    client_module = importlib.import_module("qemu_bindings.client")

    async def scenario() -> None:
        async with client_module.Client(strict=True) as client:
            await client.connect(qemu_socket)
            infos = await client.query_qmp_schema()
            commands = [i for i in infos if i.meta_type.value == "command"]
            assert any(c.name == "query-status" for c in commands)
            version = await client.query_version()
            assert version.qemu.major == 10

    asyncio.run(scenario())


def test_blockdev_add_with_alternate_members(qemu_socket: str, qemu_bindings: ModuleType) -> None:
    """Alternate members are plain values both ways: a raw node over a null-co node, the
    ``file`` given once as a node name (the string branch of BlockdevRef) and once inline
    (the object branch); QEMU accepts both and its node list decodes strictly."""
    q = qemu_bindings
    client_module = importlib.import_module("qemu_bindings.client")

    async def scenario() -> None:
        async with client_module.Client(strict=True) as client:
            await client.connect(qemu_socket)
            await client.blockdev_add(q.BlockdevOptions_null_co(node_name="null0", size=1 << 20))
            by_name = q.BlockdevOptions_raw(node_name="raw0", file="null0")
            inline = q.BlockdevOptions_raw(
                node_name="raw1", file=q.BlockdevOptions_null_co(node_name="null1")
            )
            assert by_name.to_wire()["file"] == "null0"
            assert inline.to_wire()["file"] == {"driver": "null-co", "node-name": "null1"}
            await client.blockdev_add(by_name)
            await client.blockdev_add(inline)
            nodes = await client.query_named_block_nodes(flat=True)
            assert {n.node_name for n in nodes} == {"null0", "null1", "raw0", "raw1"}
            drivers = {n.node_name: n.drv for n in nodes}
            assert drivers["raw0"] == "raw" and drivers["null1"] == "null-co"
            with pytest.raises(QMPError) as err:
                await client.blockdev_add(q.BlockdevOptions_raw(node_name="raw2", file="nowhere"))
            assert err.value.desc == "Cannot find device='nowhere' nor node-name='nowhere'"

    asyncio.run(scenario())
