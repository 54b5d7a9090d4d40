"""The typed client's commands, against real QEMU 10.0.2 and ``qapigen vm``: errors,
timeouts, out-of-band execution, file descriptors, the ways to connect, and the blocking
client's parity with the asynchronous one.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qemu.qmp

import qapigen.simulator_api as qmp
from qapigen.runtime import CommandError, QMPError
from qapigen.runtime.client import (
    AsyncClient,
    CommandFailed,
    CommandNotFound,
    DeviceNotFound,
    GenericError,
    SyncClient,
    server_socket,
)
from qapigen.simulator_api.client import Client
from qapigen.simulator_api.client import SyncClient as SimulatorSyncClient

from ..support.apis import qemu_api
from ..support.emulators import (
    HAVE_QEMU,
    NO_QEMU,
    QEMU,
    QEMU_NONE,
    TIMEOUT,
    VM,
    needs_qemu,
    private_folder,
    qemu_on_socketpair,
    wait_for_socket,
)

SERVERS = {"qemu": (str(QEMU),), "vm": VM}


@pytest.fixture(params=["qemu", "vm"])
def server(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[subprocess.Popen[bytes], socket.socket]]:
    """Real QEMU 10.0.2, then ``qapigen vm``: paused (``-S``), QMP on a socket pair."""
    if request.param == "qemu" and not HAVE_QEMU:
        pytest.skip(NO_QEMU)
    with qemu_on_socketpair("-S", *QEMU_NONE, program=SERVERS[request.param]) as started:
        yield started


@pytest.fixture
def real_qemu() -> Iterator[tuple[subprocess.Popen[bytes], socket.socket]]:
    """Real QEMU 10.0.2, paused, QMP on a socket pair."""
    with qemu_on_socketpair("-S", *QEMU_NONE) as started:
        yield started


# -- errors ----------------------------------------------------------------------


def test_each_qmp_error_class_has_its_exception(
    server: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    """One exception per QMP error class; each is qemu.qmp's ExecuteError and the runtime's
    CommandError, keeps the message sent and the reply received, and prints class and text."""

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            await client.connect(server[1])
            with pytest.raises(CommandNotFound) as found:
                await client.qmp_capabilities()
            err = found.value
            assert isinstance(err, qemu.qmp.ExecuteError)
            assert isinstance(err, CommandError) and isinstance(err, QMPError)
            assert str(err) == (
                "CommandNotFound: Capabilities negotiation is already complete, command ignored"
            )
            assert err.error_class == "CommandNotFound"
            assert err.sent["execute"] == "qmp_capabilities"
            assert err.received["error"] == {"class": err.error_class, "desc": err.desc}
            assert err.received["id"] == err.sent["id"]
            with pytest.raises(GenericError, match=r"^GenericError: Parameter 'x' is unexpected$"):
                await client.execute("stop", {"x": 1})
            with pytest.raises(CommandNotFound, match="The command no-such has not been found"):
                await client.execute("no-such")

    asyncio.run(scenario())


@needs_qemu
def test_device_not_found(real_qemu: tuple[subprocess.Popen[bytes], socket.socket]) -> None:
    """QEMU's DeviceNotFound class, from a command the project's bindings lack."""

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            await client.connect(real_qemu[1])
            with pytest.raises(DeviceNotFound) as err:
                await client.execute("device_del", {"id": "nope"})
            assert str(err.value) == "DeviceNotFound: Device 'nope' not found"
            assert type(err.value).__mro__[1] is CommandFailed

    asyncio.run(scenario())


# -- timeouts ----------------------------------------------------------------------


def test_a_hung_server_times_out_and_later_replies_stay_matched(
    server: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    """A stopped server (SIGSTOP) answers nothing: per-call and default timeouts raise
    TimeoutError naming the command.  Once it resumes, its late replies are not taken for
    the replies to later commands."""
    proc, sock = server

    async def scenario() -> None:
        async with Client() as client:
            await client.connect(sock)
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                with pytest.raises(TimeoutError, match=r"^query-version: nothing within 0\.2 s$"):
                    await client.with_options(timeout=0.2).query_version()
                client.timeout = 0.2
                with pytest.raises(TimeoutError, match=r"^query-commands: "):
                    await client.query_commands()
                with pytest.raises(TimeoutError, match=r"^no STOP event within"):
                    await client.events.wait_for(qmp.StopEvent)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            client.timeout = TIMEOUT
            status = await client.query_status()
            assert status == qmp.StatusInfo(running=False, status=qmp.RunState.PRELAUNCH)
            assert (await client.with_options(timeout=None).query_version()).qemu.major == 10

    asyncio.run(scenario())


# -- out of band -------------------------------------------------------------------


@needs_qemu
def test_out_of_band_execution(real_qemu: tuple[subprocess.Popen[bytes], socket.socket]) -> None:
    """QEMU offers the oob capability and the client takes it: an allow-oob command runs
    as exec-oob; QEMU refuses exec-oob for one that is not allow-oob."""
    q = qemu_api()

    async def scenario() -> None:
        async with q.client.Client(timeout=TIMEOUT, strict=True) as client:
            await client.connect(real_qemu[1])
            assert client.oob_enabled
            instances = await client.with_options(oob=True).query_yank()
            assert q.YankInstance_chardev(id="mon") in instances
            with pytest.raises(GenericError) as err:
                await client.with_options(oob=True).query_status()
            assert err.value.desc == "The command query-status does not support OOB"
            assert err.value.sent["exec-oob"] == "query-status"

    asyncio.run(scenario())


def test_qapigen_vm_offers_out_of_band_too(
    server: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    """The simulator offers oob as QEMU does, and refuses it for commands without allow-oob."""

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            await client.connect(server[1])
            assert client.oob_enabled
            assert client.greeting is not None
            assert client.greeting.QMP.capabilities == ["oob"]
            with pytest.raises(GenericError, match="does not support OOB"):
                await client.with_options(oob=True).stop()

    asyncio.run(scenario())


# -- file descriptors --------------------------------------------------------------


@needs_qemu
def test_file_descriptors_go_with_getfd_and_add_fd(
    real_qemu: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    """pass_fd() gives QEMU a descriptor under a name (getfd): closefd finds it once.
    add-fd takes one sent with it: query-fdsets lists it."""
    q = qemu_api()
    read_end, write_end = os.pipe()

    async def scenario() -> None:
        async with q.client.Client(timeout=TIMEOUT, strict=True) as client:
            await client.connect(real_qemu[1])
            await client.pass_fd("fd0", read_end)
            await client.closefd(fdname="fd0")
            with pytest.raises(GenericError, match="File descriptor named 'fd0' not found"):
                await client.closefd(fdname="fd0")
            info = await client.with_options(fd=write_end).add_fd(fdset_id=7, opaque="ours")
            assert info.fdset_id == 7
            (fdset,) = await client.query_fdsets()
            assert fdset.fdset_id == 7
            assert [(fd.fd, fd.opaque) for fd in fdset.fds] == [(info.fd, "ours")]
            with pytest.raises(GenericError, match="No file descriptor supplied via SCM_RIGHTS"):
                await client.add_fd(fdset_id=8)

    try:
        asyncio.run(scenario())
    finally:
        os.close(read_end)
        os.close(write_end)


# -- connecting ------------------------------------------------------------------


@needs_qemu
@pytest.mark.parametrize("kind", ["path", "address"])
def test_connect_to_a_path_or_an_address(kind: str, tmp_path: Path) -> None:
    """QEMU listening on a unix socket, or on loopback TCP."""
    folder = private_folder(tmp_path)
    if kind == "path":
        address: str | tuple[str, int] = str(folder / "qmp.sock")
        spec = f"unix:{address}"
    else:
        with socket.socket() as probe:  # a free port, for QEMU to take
            probe.bind(("127.0.0.1", 0))
            address = ("127.0.0.1", probe.getsockname()[1])
        spec = f"tcp:127.0.0.1:{address[1]}"
    assert QEMU is not None
    proc = subprocess.Popen(
        [QEMU, *QEMU_NONE, "-qmp", f"{spec},server=on,wait=on"], stderr=subprocess.PIPE
    )
    try:
        if isinstance(address, str):
            wait_for_socket(proc, address)
        with SimulatorSyncClient(timeout=TIMEOUT) as client:
            deadline = time.monotonic() + TIMEOUT
            while True:  # until QEMU listens: bounded by the deadline
                try:
                    client.connect(address)
                    break
                except qemu.qmp.ConnectError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            assert client.query_status().status is qmp.RunState.RUNNING
            client.quit()
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


@needs_qemu
def test_accept_a_qemu_that_connects_to_us(tmp_path: Path) -> None:
    """QEMU's monitor as a client socket (-chardev socket,path=...): the client listens
    on a socket only its owner can reach, accepts QEMU, and removes the socket."""
    path = str(private_folder(tmp_path) / "monitor.sock")
    assert QEMU is not None
    argv = [QEMU, *QEMU_NONE, "-chardev", f"socket,id=mon,path={path}"]
    argv += ["-mon", "chardev=mon,mode=control"]

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            accepting = asyncio.create_task(client.accept(path))
            while not os.path.exists(path):  # bounded by the accept's timeout
                await asyncio.sleep(0.01)
                assert not accepting.done(), accepting
            assert os.stat(path).st_mode & 0o777 == 0o600
            proc = subprocess.Popen(argv)
            try:
                await accepting
                assert not os.path.exists(path)
                assert (await client.query_status()).status is qmp.RunState.RUNNING
                await client.quit()
                assert proc.wait(TIMEOUT) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    asyncio.run(scenario())


@needs_qemu
def test_accept_on_a_listening_socket_of_ours(tmp_path: Path) -> None:
    """The blocking client: listen first (server_socket), start QEMU, then accept."""
    path = str(private_folder(tmp_path) / "monitor.sock")
    assert QEMU is not None
    listener = server_socket(path)
    argv = [QEMU, *QEMU_NONE, "-S", "-chardev", f"socket,id=mon,path={path}"]
    proc = subprocess.Popen([*argv, "-mon", "chardev=mon,mode=control"])
    try:
        with SimulatorSyncClient(timeout=TIMEOUT) as client:
            client.accept(listener)
            assert client.query_status().status is qmp.RunState.PRELAUNCH
            assert client.greeting is not None
        assert listener.fileno() >= 0  # the caller's, still open
    finally:
        listener.close()
        os.unlink(path)
        proc.kill()
        proc.wait()


# -- the blocking client -----------------------------------------------------------


def _parameters(function: Any) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def _public(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def test_the_blocking_client_offers_what_the_asynchronous_one_does() -> None:
    """Every public method and property of AsyncClient is SyncClient's too, with the same
    parameters (but for the coroutine's ``self`` type), and so for the generated pair."""
    missing = _public(AsyncClient) - _public(SyncClient) - {"qmp", "COMMANDS", "EVENTS"}
    assert missing == set()
    for name in _public(AsyncClient) & _public(SyncClient):
        ours, theirs = getattr(AsyncClient, name), getattr(SyncClient, name)
        if callable(ours) and not isinstance(ours, type):
            assert _parameters(ours) == _parameters(theirs), name
    generated = {n for n in _public(Client) if n in Client.__dict__}
    assert generated - _public(SimulatorSyncClient) == {"COMMANDS", "EVENTS"}


def test_the_blocking_client_end_to_end(
    server: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    """Greeting, a timeout by default and per call, oob, execute, typed commands and events."""
    proc, sock = server
    with SimulatorSyncClient(timeout=TIMEOUT) as client:
        assert client.greeting is None
        client.connect(sock)
        assert client.greeting is not None
        assert client.greeting.QMP.version["qemu"]["major"] == 10
        assert client.oob_enabled and not client.is_guest_agent()
        client.cont()
        assert isinstance(client.events.wait_for(qmp.ResumeEvent), qmp.ResumeEvent)
        assert client.execute("query-status") == {"status": "running", "running": True}
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(TimeoutError):
                client.with_options(timeout=0.2).stop()
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert client.events.wait_for(qmp.StopEvent).timestamp is not None
        with pytest.raises(GenericError, match="does not support OOB"):
            client.with_options(oob=True).cont()
        client.quit()
    assert proc.wait(TIMEOUT) == 0
