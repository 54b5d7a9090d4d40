"""The typed client's events, against real QEMU 10.0.2 and ``qapigen vm``.

The project's own bindings (``qapigen.simulator_api``) know a handful of
QEMU's events; a block job on real QEMU emits others (``JOB_STATUS_CHANGE``,
``BLOCK_JOB_COMPLETED``), which reach them as unknown events.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import EventListener

import qapigen.simulator_api as qmp
from qapigen.runtime import GenericEvent
from qapigen.runtime.client import BACKLOG
from qapigen.simulator_api.client import Client, SyncClient

from ..support.apis import qemu_api
from ..support.bindings import run_mypy_on
from ..support.emulators import (
    HAVE_QEMU,
    NO_QEMU,
    QEMU,
    QEMU_NONE,
    TIMEOUT,
    VM,
    needs_qemu,
    qemu_on_socketpair,
)

SERVERS = {"qemu": (str(QEMU),), "vm": VM}


@pytest.fixture(params=["qemu", "vm"])
def server(request: pytest.FixtureRequest) -> Iterator[socket.socket]:
    """Real QEMU 10.0.2, then ``qapigen vm``: paused (``-S``), QMP on a socket pair."""
    if request.param == "qemu" and not HAVE_QEMU:
        pytest.skip(NO_QEMU)
    with qemu_on_socketpair("-S", *QEMU_NONE, program=SERVERS[request.param]) as (_, sock):
        yield sock


@pytest.fixture
def real_qemu() -> Iterator[tuple[subprocess.Popen[bytes], socket.socket]]:
    """Real QEMU 10.0.2, paused, QMP on a socket pair."""
    with qemu_on_socketpair("-S", *QEMU_NONE) as started:
        yield started


async def _start_backup_job(client: Client) -> None:
    """A block job between two null nodes: it runs to completion at once, with events."""
    for node in ("src", "dst"):
        await client.execute("blockdev-add", {"driver": "null-co", "node-name": node})
    arguments = {"job-id": "job0", "device": "src", "target": "dst", "sync": "full"}
    await client.execute("blockdev-backup", arguments)


def _name(event: Any) -> str:
    return str(event.name if isinstance(event, GenericEvent) else event.NAME)


@needs_qemu
def test_an_unknown_event_never_raises_and_typed_waits_pass_it_over(
    real_qemu: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    """The issue's case: with a stream of all events open, events the bindings lack come
    before the awaited RESUME.  The typed wait returns the RESUME; the unknown events stay,
    as GenericEvents with their name and data, for a wait that asks for them."""

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            await client.connect(real_qemu[1])
            async with client.listen() as everything:
                await _start_backup_job(client)
                await client.cont()
                resume = await everything.wait_for(qmp.ResumeEvent)
                assert type(resume) is qmp.ResumeEvent
                first = await everything.wait_for()
                assert isinstance(first, GenericEvent)
                assert (first.name, first.data) == (
                    "JOB_STATUS_CHANGE",
                    {"status": "created", "id": "job0"},
                )
                done = await everything.wait_for("BLOCK_JOB_COMPLETED")
                assert isinstance(done, GenericEvent)
                assert done.data["device"] == "job0" and done.data["type"] == "backup"
            # The client's own stream saw the same, in the same order.
            names = [_name(event) for event in client.events.pending()]
            assert names[0] == "JOB_STATUS_CHANGE" and "BLOCK_JOB_COMPLETED" in names
            assert names[-1] == "RESUME"

    asyncio.run(scenario())


@needs_qemu
def test_a_typed_predicate_picks_by_data(
    real_qemu: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    """With QEMU's full bindings the job's events are typed, and a predicate on their data
    picks the one wanted; the others stay in the backlog, in order."""
    q = qemu_api()
    client_module = q.client

    async def scenario() -> None:
        async with client_module.Client(timeout=TIMEOUT, strict=True) as client:
            await client.connect(real_qemu[1])
            await _start_backup_job(client)
            concluded = await client.events.wait_for(
                q.JobStatusChangeEvent, match=lambda e: e.status is q.JobStatus.CONCLUDED
            )
            assert concluded.to_wire() == {"id": "job0", "status": "concluded"}
            rest = client.events.pending()
            statuses = [e.status.value for e in rest if isinstance(e, q.JobStatusChangeEvent)]
            assert statuses[0] == "created"
            assert statuses[-3:] == ["waiting", "pending", "null"]  # "concluded" was taken
            assert "concluded" not in statuses
            assert any(isinstance(e, q.BlockJobCompletedEvent) for e in rest)

    asyncio.run(scenario())


def test_events_that_came_before_the_wait_are_not_lost(server: socket.socket) -> None:
    """Commands first, waits after: every event waits in the backlog until taken."""

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            await client.connect(server)
            for _ in range(3):
                await client.cont()
                await client.stop()
            await client.events.wait_for(qmp.StopEvent)
            for _ in range(3):
                await client.events.wait_for(qmp.ResumeEvent)
            await client.events.wait_for(qmp.StopEvent)
            await client.events.wait_for(qmp.StopEvent)
            assert client.events.pending() == []
            with pytest.raises(TimeoutError, match=r"no STOP event within 0\.01 s"):
                await client.events.wait_for(qmp.StopEvent, timeout=0.01)

    asyncio.run(scenario())


def test_timestamps_are_the_messages(server: socket.socket) -> None:
    """An event's timestamp is its message's, as qemu.qmp underneath received it."""
    raw = EventListener()

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            client.qmp.register_listener(raw)
            await client.connect(server)
            await client.cont()
            await client.stop()
            events = [
                await client.events.wait_for(qmp.ResumeEvent),
                await client.events.wait_for(qmp.StopEvent),
            ]
            messages = [await raw.get(), await raw.get()]
            for event, message in zip(events, messages, strict=True):
                stamp = message["timestamp"]
                assert isinstance(stamp, dict)
                assert event.timestamp == stamp["seconds"] + stamp["microseconds"] / 1e6
            assert qmp.StopEvent().timestamp is None  # made here, not received
            assert events[1] == qmp.StopEvent()  # the timestamp is no field

    asyncio.run(scenario())


def test_async_and_sync_streams_iterate_until_the_connection_ends(server: socket.socket) -> None:
    """Iteration yields each event once, in order, and ends after the last one once the
    server has closed the connection."""
    with SyncClient(timeout=TIMEOUT) as client:
        client.connect(server)
        with client.listen(qmp.ShutdownEvent, "RESUME") as chosen:
            client.cont()
            client.quit()
            assert [_name(e) for e in chosen] == ["RESUME", "SHUTDOWN"]
        assert [_name(e) for e in client.events] == ["RESUME", "SHUTDOWN"]
        with pytest.raises(EOFError, match="the connection closed before STOP event came"):
            client.events.wait_for(qmp.StopEvent)


def test_async_iteration(server: socket.socket) -> None:
    """``async for`` over a stream, as over the sync one."""

    async def scenario() -> list[str]:
        async with Client(timeout=TIMEOUT) as client:
            await client.connect(server)
            await client.cont()
            await client.quit()
            return [_name(event) async for event in client.events]

    assert asyncio.run(scenario()) == ["RESUME", "SHUTDOWN"]


def test_the_backlog_is_bounded(server: socket.socket) -> None:
    """Past the bound the oldest events go, counted; the newest stay, in order."""
    pairs = BACKLOG // 2 + 40

    async def scenario() -> None:
        async with Client(timeout=TIMEOUT) as client:
            await client.connect(server)
            for _ in range(pairs):
                await client.cont()
                await client.stop()
            kept = client.events.pending()
            assert len(kept) == BACKLOG
            assert client.events.dropped == 2 * pairs - BACKLOG
            assert [_name(e) for e in kept[:2]] == ["RESUME", "STOP"]

    asyncio.run(scenario())


_TYPED = """\
import qapigen.simulator_api as qmp
from qapigen.simulator_api.client import Client, SyncClient

async def waits(client: Client) -> None:
    reveal_type(await client.events.wait_for(qmp.StopEvent))
    reveal_type(await client.events.wait_for(qmp.StopEvent, qmp.ResumeEvent))
    reveal_type(await client.events.wait_for("VNC_CONNECTED"))
    await client.events.wait_for(qmp.GuestPanickedEvent, match=lambda e: e.action.value == "x")
    await client.events.wait_for(qmp.GuestPanickedEvent, match=lambda e: e.no_such_member)

def sync_waits(client: SyncClient) -> None:
    reveal_type(client.events.wait_for(qmp.ShutdownEvent, timeout=1))
    for event in client.events:
        reveal_type(event)
"""


def test_waits_are_typed(tmp_path: Path) -> None:
    """To mypy, a wait for one class returns that class, its predicate takes it, and
    anything else is an Event."""
    (tmp_path / "typed_waits.py").write_text(_TYPED)
    proc = run_mypy_on(tmp_path / "typed_waits.py")
    notes = [line.split(": ", 1)[1] for line in proc.stdout.splitlines() if ": " in line]
    assert notes == [
        'note: Revealed type is "qapigen.simulator_api.run_state.StopEvent"',
        'note: Revealed type is "qapigen.runtime.events.Event"',
        'note: Revealed type is "qapigen.runtime.events.Event"',
        'error: "GuestPanickedEvent" has no attribute "no_such_member"  [attr-defined]',
        'note: Revealed type is "qapigen.simulator_api.run_state.ShutdownEvent"',
        'note: Revealed type is "qapigen.runtime.events.Event"',
    ], proc.stdout + proc.stderr
