"""QMP on two descriptors (``-qmp stdio``'s adapter, :mod:`qapigen.qmp.stdio`) in this
process, on pipes: output that does not fit waits for room, a reader gone costs
nothing but the output, the end of input leaves the session on.  What real QEMU
does on stdio is compared in tests/vm/test_vm_stdio.py."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import threading
import time
from collections.abc import Iterator

import pytest

from qapigen import simulator_api
from qapigen.machine import Machine, MachineConfig
from qapigen.qmp.selector_server import Loop, SelectorServer
from qapigen.qmp.stdio import StdioClient

TIMEOUT = 30.0


class Piped:
    """A machine served on two pipes: requests written to :attr:`requests`,
    replies read from :attr:`replies` (non-blocking on the server's side, as
    QEMU makes stdout)."""

    def __init__(self) -> None:
        self.machine = Machine(MachineConfig(start_paused=True))
        self.loop = Loop()
        self.server = SelectorServer(simulator_api, self.machine, self.loop)
        self.machine.subscribe(self.server.broadcast)
        in_r, self.requests = os.pipe()
        self.replies, out_w = os.pipe()
        os.set_blocking(out_w, False)
        self._theirs = (in_r, out_w)
        self.client = StdioClient(self.server, in_r, out_w)
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()
        self._buf = b""

    def line(self) -> bytes:
        deadline = time.monotonic() + TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(self.replies, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                assert left > 0, f"no line in {TIMEOUT} s"
                if selector.select(left):
                    chunk = os.read(self.replies, 1 << 16)
                    assert chunk, "the output ended"
                    self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    def close(self) -> None:
        self.loop.stop()
        self.thread.join(10)
        self.server.close()
        self.loop.close()
        for fd in (*self._theirs, self.requests, self.replies):
            with contextlib.suppress(OSError):  # closed by the test
                os.close(fd)


@pytest.fixture
def piped() -> Iterator[Piped]:
    served = Piped()
    try:
        yield served
    finally:
        served.close()


def test_output_that_does_not_fit_waits_for_room(piped: Piped) -> None:
    """Sixty schemas (some 1.5 MB) asked for at once, through a 64 KiB pipe
    read only afterwards: every reply, whole and in order."""
    assert piped.line().startswith(b'{"QMP": ')
    requests = [b'{"execute": "qmp_capabilities"}\n']
    requests += [b'{"execute": "query-qmp-schema", "id": %d}\n' % n for n in range(60)]
    os.write(piped.requests, b"".join(requests))
    assert piped.line() == b'{"return": {}}\r\n'
    schemas = [json.loads(piped.line()) for _ in range(60)]
    assert [reply["id"] for reply in schemas] == list(range(60))
    assert all(reply["return"] == schemas[0]["return"] for reply in schemas)
    assert {"name": "query-status", "meta-type": "command"}.items() <= next(
        info for info in schemas[0]["return"] if info["name"] == "query-status"
    ).items()


def test_a_reader_gone_costs_only_the_output(piped: Piped) -> None:
    """With nobody reading, replies are dropped and commands still run."""
    os.close(piped.replies)
    os.write(piped.requests, b'{"execute": "qmp_capabilities"}\n{"execute": "cont"}\n')
    deadline = time.monotonic() + TIMEOUT
    while not piped.machine.running:
        assert time.monotonic() < deadline, "cont did not run"
        time.sleep(0.01)
    assert not piped.client.closed and piped.client.unsent() == 0


def test_events_go_out_after_the_end_of_input(piped: Piped) -> None:
    """What came before the end is answered, the unfinished message never
    runs, and the session goes on: an event still reaches the client."""
    assert piped.line().startswith(b'{"QMP": ')
    os.write(piped.requests, b'{"execute": "qmp_capabilities"}\n{"execute": "cont"')
    os.close(piped.requests)
    assert piped.line() == b'{"return": {}}\r\n'
    piped.loop.call_soon(piped.machine.host_signal)  # as a SIGTERM would, from the loop
    piped.loop.wake()
    event = json.loads(piped.line())
    # Next after the reply: the unfinished cont never ran (no RESUME, no reply).
    assert event["event"] == "SHUTDOWN" and event["data"]["reason"] == "host-signal"
