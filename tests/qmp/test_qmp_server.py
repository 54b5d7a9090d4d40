"""The QMP server, on asyncio and on selectors: real sockets, many clients, QEMU's replies
end to end."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest

from qapigen import simulator_api
from qapigen.machine import Machine, MachineConfig
from qapigen.qmp.selector_server import Loop, SelectorServer
from qapigen.qmp.server import MAX_PENDING_OUTPUT, QMPServer

from ..support.oracle_payloads import payload
from ..support.paths import REPO, need_shared

ADAPTERS = ("asyncio", "selectors")


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    """Each test runs against both transport adapters of the server."""
    return str(request.param)


class Harness:
    """A server for a fresh machine on a private unix socket.

    ``adapter``: the asyncio server (in this test's event loop), or the
    selectors one (its loop in a thread of its own, as `qapigen vm` runs it).
    """

    def __init__(self, adapter: str = "asyncio", config: MachineConfig | None = None) -> None:
        self.folder = tempfile.mkdtemp(prefix="qapigen-qmp-")
        self.path = os.path.join(self.folder, "qmp.sock")
        self.machine = Machine(config or MachineConfig())
        self.server: QMPServer | SelectorServer
        self.thread: threading.Thread | None = None
        if adapter == "asyncio":
            self.server = QMPServer(simulator_api, self.machine)
        else:
            self.loop = Loop()
            self.server = SelectorServer(simulator_api, self.machine, self.loop)
        self.machine.subscribe(self.server.broadcast)

    async def __aenter__(self) -> Harness:
        if isinstance(self.server, QMPServer):
            await self.server.listen_unix(self.path)
        else:
            self.server.listen_unix(self.path)
            self.start()
        return self

    def start(self) -> None:
        """Run the selectors loop in its thread."""
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()

    async def __aexit__(self, *exc: object) -> None:
        if isinstance(self.server, QMPServer):
            await self.server.close()
        else:
            if self.thread is not None:
                self.loop.stop()
                self.thread.join(10)
            self.server.close()
            self.loop.close()

    def addresses(self) -> list[Any]:
        """Where the server listens."""
        if isinstance(self.server, QMPServer):
            addresses = []
            for srv in self.server._servers:
                assert isinstance(srv, asyncio.Server)  # what create_server gives
                addresses += [s.getsockname() for s in srv.sockets]
            return addresses
        return [listener.sock.getsockname() for listener in self.server._listeners]

    async def connect(
        self, negotiate: bool = True, enable: list[str] | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_unix_connection(self.path)
        greeting = json.loads(await reader.readline())
        assert "QMP" in greeting
        if negotiate:
            args = {} if enable is None else {"enable": enable}
            writer.write(json.dumps({"execute": "qmp_capabilities", "arguments": args}).encode())
            assert json.loads(await reader.readline()) == {"return": {}}
        return reader, writer


async def _reply(reader: asyncio.StreamReader) -> Any:
    return json.loads(await asyncio.wait_for(reader.readline(), 5))


def test_socket_is_private(adapter: str) -> None:
    """The unix socket is created with mode 0600."""

    async def run() -> None:
        async with Harness(adapter) as h:
            assert stat.S_IMODE(os.stat(h.path).st_mode) == 0o600

    asyncio.run(run())


def test_tcp_listens_on_loopback(adapter: str) -> None:
    """TCP defaults to 127.0.0.1, and serves like the unix socket."""

    async def run() -> None:
        h = Harness(adapter)
        if isinstance(h.server, QMPServer):
            port = await h.server.listen_tcp()
        else:
            port = h.server.listen_tcp()
            h.start()
        try:
            assert [address[0] for address in h.addresses()] == ["127.0.0.1"]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert "QMP" in json.loads(await reader.readline())
            writer.close()
        finally:
            await h.__aexit__()

    asyncio.run(run())


def test_events_before_reply_and_only_to_negotiated_clients(adapter: str) -> None:
    """stop → STOP then the reply (fact 3); a client that has not negotiated gets no event."""

    async def run() -> None:
        async with Harness(adapter) as h:
            r1, w1 = await h.connect()
            r2, w2 = await h.connect(negotiate=False)
            w1.write(b'{"execute": "stop", "id": 7}')
            event = await _reply(r1)
            assert event["event"] == "STOP" and list(event) == ["timestamp", "event"]
            assert await _reply(r1) == {"return": {}, "id": 7}
            w2.write(b'{"execute": "qmp_capabilities"}')
            assert await _reply(r2) == {"return": {}}  # no STOP before it

    asyncio.run(run())


def test_server_answers_version_commands_and_introspection(adapter: str) -> None:
    """query-version, query-commands and query-qmp-schema come from the model."""

    async def run() -> None:
        async with Harness(adapter) as h:
            r, w = await h.connect()
            w.write(b'{"execute": "query-version"}')
            version = (await _reply(r))["return"]
            assert version["qemu"] == {"major": 10, "minor": 0, "micro": 2}
            w.write(b'{"execute": "query-commands"}')
            names = {c["name"] for c in (await _reply(r))["return"]}
            assert {"qmp_capabilities", "query-status", "set-action", "x-guest-reset"} <= names
            w.write(b'{"execute": "query-qmp-schema"}')
            schema = (await _reply(r))["return"]
            assert {"name": "query-status", "meta-type": "command"}.items() <= next(
                e for e in schema if e["name"] == "query-status"
            ).items()

    asyncio.run(run())


def _cases() -> list[dict[str, Any]]:
    try:
        return list(json.loads(need_shared("oracle", "qmp-errors.json").read_text())["cases"])
    except pytest.skip.Exception:
        return []


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_recorded_bad_input_through_the_server(case: dict[str, Any], adapter: str) -> None:
    """Each recorded bad input gets QEMU's replies (class, desc, id) over a real socket,
    and the connection stays usable, for the commands this server knows."""
    sent = [payload(item) for item in case["sent"]]
    commands = set(simulator_api.COMMANDS) | {"qmp_capabilities"}
    unknown = {n for data in sent for n in _names_in(data)} - commands
    replies = [rep["msg"] for rep in case["replies"]]
    for name in sorted(unknown):
        # A command this machine lacks is fine where QEMU lacked it too.
        lacked = {"class": "CommandNotFound", "desc": f"The command {name} has not been found"}
        if not any(m.get("error") == lacked for m in replies):
            # tests/vm/test_vm_qmp_errors.py replays it against qapigen vm.
            pytest.skip(f"uses {name}, which the bare machine lacks")
    if case.get("recovery") or not case["probe_after"]["usable"]:
        pytest.skip("QEMU swallowed the input (a hazard we do not reproduce)")

    async def run() -> None:
        async with Harness(adapter) as h:
            enable = case["capabilities_enabled"]
            r, w = await h.connect(negotiate=case["negotiated"], enable=enable)
            for data in sent:
                w.write(data)
            got = [await _reply(r) for _ in case["replies"]]
            want = [rep["msg"] for rep in case["replies"]]
            assert [_comparable(m) for m in got] == [_comparable(m) for m in want]
            w.write(b'{"execute": "query-status", "id": "probe"}\n')
            # Input QEMU was still waiting on is answered before the probe.
            late = [m["msg"] for m in case["probe_after"]["messages"] if m["dir"] == "recv"]
            got_late = [await _reply(r) for _ in late]
            assert [_comparable(m) for m in got_late] == [_comparable(m) for m in late]
            assert got_late and got_late[-1].get("id") == "probe"

    asyncio.run(run())


def _names_in(data: bytes) -> list[str]:
    names = []
    for part in data.split(b"\n"):
        try:
            msg = json.loads(part)
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(msg, dict):
            for key in ("execute", "exec-oob"):
                if isinstance(msg.get(key), str):
                    names.append(msg[key])
    return names


def _comparable(msg: Any) -> Any:
    """A reply without what differs between QEMU runs (timestamps, QEMU's own return values)."""
    if isinstance(msg, dict) and "return" in msg:
        return {"return": "...", **{k: v for k, v in msg.items() if k == "id"}}
    return msg


def test_stalled_client_does_not_stall_others(adapter: str) -> None:
    """A client that never reads is cut off at the cap; the others keep going."""

    async def run() -> None:
        async with Harness(adapter) as h:
            _slow = await h.connect()  # kept open, never read
            r, w = await h.connect()
            # Events flow to both; the slow one never reads.  Each stop/cont
            # pair sends it two events of some 90 bytes.
            pairs = 0
            while pairs * 180 < 2 * MAX_PENDING_OUTPUT and _open(h) == 2:
                w.write(b'{"execute": "stop"}{"execute": "cont"}' * 100)
                for _ in range(400):  # 2 events and 2 replies a pair
                    await _reply(r)
                pairs += 100
            assert _open(h) == 1  # the slow client was dropped ...
            w.write(b'{"execute": "query-status", "id": "last"}')
            assert (await _reply(r)).get("id") == "last"  # ... and this one goes on

    asyncio.run(run())


async def _client_session(path: str, n: int, index: int) -> int:
    reader, writer = await asyncio.open_unix_connection(path)
    await reader.readline()
    writer.write(b'{"execute": "qmp_capabilities"}')
    await reader.readline()
    batch = b"".join(
        json.dumps({"execute": "query-status", "id": [index, i]}).encode() for i in range(n)
    )
    writer.write(batch)
    seen = 0
    while seen < n:
        msg = json.loads(await asyncio.wait_for(reader.readline(), 30))
        if "event" in msg:
            continue
        assert msg["id"] == [index, seen], msg  # in order, and nobody else's
        assert msg["return"]["status"] in ("running", "paused")
        seen += 1
    writer.close()
    return seen


def test_many_clients_with_events_flowing(adapter: str) -> None:
    """100 clients x 1,000 commands each while events flow: nothing lost or misrouted."""
    clients = int(os.environ.get("QAPIGEN_LOAD_CLIENTS", "100"))
    commands = int(os.environ.get("QAPIGEN_LOAD_COMMANDS", "1000"))

    async def run() -> None:
        async with Harness(adapter) as h:
            _r, w = await h.connect()

            async def churn() -> None:
                while True:  # STOP/RESUME events to everyone, all along
                    w.write(b'{"execute": "stop"}{"execute": "cont"}')
                    await asyncio.sleep(0.001)

            churner = asyncio.create_task(churn())
            results = await asyncio.gather(
                *(_client_session(h.path, commands, i) for i in range(clients))
            )
            churner.cancel()
            assert results == [commands] * clients

    asyncio.run(run())


def test_qemu_qmp_client_and_shell_work(tmp_path: Path) -> None:
    """qemu.qmp's QMPClient and its qmp-shell talk to `qapigen vm`."""
    sock = str(tmp_path / "vm.sock")
    vm = subprocess.Popen(
        [sys.executable, "-m", "qapigen", "vm", "-qmp", f"unix:{sock},server=on,wait=off", "-S"],
        cwd=REPO,
    )
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)

        async def run() -> None:
            from qemu.qmp import QMPClient

            qmp = QMPClient("test")
            await qmp.connect(sock)
            assert await qmp.execute("query-status") == {"running": False, "status": "prelaunch"}
            await qmp.disconnect()

        asyncio.run(run())
        shell = subprocess.run(
            [sys.executable, "-m", "qemu.qmp.qmp_shell", sock],
            input="query-status\nquery-version\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "prelaunch" in shell.stdout, shell.stdout + shell.stderr
        assert "'major': 10" in shell.stdout or '"major": 10' in shell.stdout
    finally:
        vm.terminate()
        assert vm.wait(10) == 0


def test_qemu_qmp_client_and_shell_work_with_the_asyncio_server() -> None:
    """qemu.qmp's QMPClient and qmp-shell talk to the asyncio server too (in process)."""

    async def run() -> None:
        from qemu.qmp import QMPClient

        async with Harness("asyncio") as h:
            qmp = QMPClient("test")
            await qmp.connect(h.path)
            assert await qmp.execute("query-status") == {"running": True, "status": "running"}
            await qmp.disconnect()
            shell = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "qemu.qmp.qmp_shell",
                h.path,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(shell.communicate(b"stop\nquery-status\n"), 30)
            assert "'status': 'paused'" in out.decode() or '"status": "paused"' in out.decode()

    asyncio.run(run())


def _open(h: Harness) -> int:
    """Clients the server still serves."""
    return sum(not c.closed for c in h.server.clients)


def test_selectors_loop_polls_briefly_then_sleeps() -> None:
    """After serving, the selectors loop polls without sleeping for a moment (a waiting
    client's next request comes within microseconds), then sleeps again."""
    h = Harness("selectors")
    timeouts: list[float | None] = []
    select = h.loop.selector.select

    def recording_select(timeout: float | None = None) -> Any:
        timeouts.append(timeout)
        return select(timeout)

    h.loop.selector.select = recording_select  # type: ignore[method-assign]

    async def run() -> None:
        async with h:
            r, w = await h.connect()
            timeouts.clear()
            w.write(b'{"execute": "query-status"}')
            assert "return" in await _reply(r)
            for _ in range(200):  # the loop goes back to sleep: a select without timeout
                if timeouts and timeouts[-1] is None:
                    break
                await asyncio.sleep(0.01)
            assert timeouts[-1] is None, "it sleeps again"
            assert 0 in timeouts, "it polled after serving"
            assert set(timeouts) == {0, None}

    asyncio.run(run())


def test_a_failing_handler_costs_only_its_client(
    adapter: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A handler that raises (a bug, not bad input) drops that client, with the
    traceback reported; the server and its other clients go on."""

    async def run() -> None:
        async with Harness(adapter) as h:

            def broken() -> NoReturn:
                raise RuntimeError("handler bug")

            h.machine.query_status = broken  # type: ignore[method-assign]
            r1, w1 = await h.connect()
            r2, w2 = await h.connect()
            w1.write(b'{"execute": "query-status"}')
            assert await asyncio.wait_for(r1.read(), 5) == b""  # dropped
            w2.write(b'{"execute": "query-version", "id": 1}')
            assert (await _reply(r2))["id"] == 1

    asyncio.run(run())
    if adapter == "selectors":
        assert "RuntimeError: handler bug" in capsys.readouterr().err


def test_selectors_loop_stopped_before_it_runs_returns_at_once() -> None:
    """stop() before run() (another thread was quicker) is not lost."""
    loop = Loop()
    try:
        loop.stop()
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        thread.join(5)
        assert not thread.is_alive()
    finally:
        loop.close()


def test_one_clients_input_does_not_change_anothers_replies(adapter: str) -> None:
    """A client whose id holds a character beyond U+FFFF gets it back as a surrogate
    pair; the replies of a client after it are written as before, byte for byte."""

    async def run() -> None:
        async with Harness(adapter) as h:
            r1, w1 = await h.connect()
            r2, w2 = await h.connect()
            w1.write('{"execute": "query-status", "id": "\U00010061"}'.encode())
            assert (await r1.readline()).endswith(b'"id": "\\uD800\\uDC61"}\r\n')
            w2.write('{"execute": "set-action", "arguments": {"panic": "\u00e9"}}'.encode())
            assert await r2.readline() == (
                b'{"error": {"class": "GenericError", "desc": '
                b"\"Parameter 'panic' does not accept value '\\u00E9'\"}}\r\n"
            )

    asyncio.run(run())


PIPELINED = int(os.environ.get("QAPIGEN_PIPELINED", "150000"))


async def _held_back(h: Harness) -> None:
    """Wait until the server holds back every client whose output piles up (stops
    reading it) or has dropped it: then the client has truly not read its replies
    while they piled up."""
    deadline = time.monotonic() + 60
    clients = set(h.server.clients)
    while not all(getattr(c, "_paused", False) or c.closed for c in clients):
        assert time.monotonic() < deadline, "the server neither held back nor dropped the client"
        await asyncio.sleep(0.01)


async def _pipelined_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: int, h: Harness | None
) -> None:
    """Write ``count`` query-status before reading any reply (with ``h``, until the
    server has stopped reading), then read: every reply, in order, and the connection
    still answers afterwards."""
    writer.write(b"".join(b'{"execute": "query-status", "id": %d}' % i for i in range(count)))
    if h is not None:
        await _held_back(h)
    for i in range(count):
        line = await asyncio.wait_for(reader.readline(), 60)
        assert line, f"the connection closed after {i} of {count} replies"
        msg = json.loads(line)
        assert msg.get("id") == i, msg
        assert "return" in msg, msg
    writer.write(b'{"execute": "query-status", "id": "after"}')
    assert (await _reply(reader)).get("id") == "after"


def test_pipelining_client_gets_every_reply(adapter: str) -> None:
    """150,000 query-status written before any reply is read: all replies, in order,
    the connection kept (the server stops reading the client while its replies pile
    up, and reads on once it has taken them)."""

    async def run() -> None:
        async with Harness(adapter) as h:
            reader, writer = await h.connect()
            await _pipelined_session(reader, writer, PIPELINED, h)
            assert _open(h) == 1

    asyncio.run(run())


def test_slow_reader_beside_fast_clients(adapter: str) -> None:
    """A client that pipelines 100,000 requests and reads its replies slowly, in
    spurts, while events flow, gets every reply in order and is not dropped; clients
    beside it, each waiting for every reply, are served meanwhile."""
    slow_count, fast_clients, fast_count, event_pairs = 100_000, 10, 300, 500

    async def run() -> None:
        async with Harness(adapter) as h:
            slow_r, slow_w = await h.connect()
            slow_w.write(
                b"".join(b'{"execute": "query-status", "id": %d}' % i for i in range(slow_count))
            )
            fast_done = asyncio.Event()

            async def slow() -> int:
                seen = 0
                while seen < slow_count:
                    msg = json.loads(await asyncio.wait_for(slow_r.readline(), 60))
                    if "event" in msg:
                        continue
                    assert msg.get("id") == seen, msg
                    seen += 1
                    if seen % 2000 == 0 and not fast_done.is_set():
                        await asyncio.sleep(0.02)  # a slow consumer
                return seen

            async def fast(index: int) -> int:
                reader, writer = await h.connect()
                for i in range(fast_count):
                    writer.write(json.dumps({"execute": "query-status", "id": i}).encode())
                    while "event" in (msg := await _reply(reader)):
                        pass
                    assert msg["id"] == i
                writer.close()
                return fast_count

            async def churn() -> None:
                reader, writer = await h.connect()
                for _ in range(event_pairs):
                    writer.write(b'{"execute": "stop"}{"execute": "cont"}')
                    for _ in range(4):  # STOP, its reply, RESUME, its reply
                        await _reply(reader)

            await _held_back(h)  # the slow client's replies have piled up
            slow_task = asyncio.create_task(slow())
            results = await asyncio.gather(churn(), *(fast(i) for i in range(fast_clients)))
            fast_done.set()
            assert results[1:] == [fast_count] * fast_clients
            assert await slow_task == slow_count
            slow_w.write(b'{"execute": "query-status", "id": "after"}')
            while "event" in (msg := await _reply(slow_r)):
                pass
            assert msg["id"] == "after"

    asyncio.run(run())


def test_unix_socket_files_are_the_servers_own(adapter: str) -> None:
    """Listening never touches a file it did not create (a decoy with the old staging
    name ``PATH.PID~`` survives), a failed listen leaves nothing behind, and closing
    removes the socket's file unless someone replaced it meanwhile."""

    async def run() -> None:
        h = Harness(adapter)
        folder = Path(h.folder)
        decoy = folder / f"qmp.sock.{os.getpid()}~"
        decoy.write_text("someone else's\n")
        (folder / "dir").mkdir()
        server = h.server
        with pytest.raises(OSError):  # a directory stands at the path
            if isinstance(server, QMPServer):
                await server.listen_unix(str(folder / "dir"))
            else:
                server.listen_unix(str(folder / "dir"))
        assert sorted(os.listdir(folder)) == ["dir", decoy.name]
        async with h:
            assert stat.S_ISSOCK(os.lstat(h.path).st_mode)
            assert sorted(os.listdir(folder)) == ["dir", "qmp.sock", decoy.name]
        assert sorted(os.listdir(folder)) == ["dir", decoy.name]  # closing removed it
        assert decoy.read_text() == "someone else's\n"

        h2 = Harness(adapter)
        async with h2:
            os.unlink(h2.path)
            Path(h2.path).write_text("replaced\n")
        assert Path(h2.path).read_text() == "replaced\n"

    asyncio.run(run())


def test_selectors_loop_close_leaves_a_disposition_set_since() -> None:
    """Loop.close() puts back what a signal did before the loop took it, unless the
    program set another disposition meanwhile (qapigen vm ignores SIGTERM on its way
    out; closing the loop must not make a late SIGTERM kill it)."""
    import signal

    before = signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGUSR2)
    try:
        loop = Loop()
        loop.add_signal_handler(signal.SIGUSR1, lambda signum: None)
        loop.add_signal_handler(signal.SIGUSR2, lambda signum: None)
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        loop.close()
        assert signal.getsignal(signal.SIGUSR1) == before[0]
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR1, before[0])
        signal.signal(signal.SIGUSR2, before[1])
