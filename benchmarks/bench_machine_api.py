"""One whole guest-panic scenario through the simulated machine's Python API.

A scenario is what the oracle's ``panic_default`` does, in process: build the
machine from its command line (``-device pvpanic``), subscribe to its events,
let the guest write 1 to port 0x505, receive GUEST_PANICKED and SHUTDOWN, see
the machine exit.  Three more variants: the pausing one (``-no-shutdown``:
panic, query-status, cont, quit), the same with the commands in wire form
through ``qapigen.runtime.Dispatcher``, and a machine built from a ready
``MachineConfig`` (what a fleet reuses).  Prints the median time per scenario
over batches.  Target (issue 5): under 1 ms per scenario.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from qapigen import simulator_api
from qapigen.machine import CommandLine, Machine, MachineConfig, PvpanicConfig
from qapigen.runtime import Dispatcher, Event

TARGET_S = 1e-3


def panic_default() -> None:
    cl = CommandLine()
    cl.device("pvpanic")
    machine = Machine(cl.build())
    got: list[Event] = []
    machine.subscribe(lambda e, t: got.append(e))
    machine.guest.io_write(0x505, 1)
    assert [e.NAME for e in got] == ["GUEST_PANICKED", "SHUTDOWN"] and machine.exit_status == 0


def panic_pause_cont_quit() -> None:
    cl = CommandLine()
    cl.device("pvpanic")
    cl.no_shutdown()
    machine = Machine(cl.build())
    got: list[Event] = []
    machine.subscribe(lambda e, t: got.append(e))
    machine.guest.pvpanic_write(1)
    assert machine.query_status().status is simulator_api.RunState.GUEST_PANICKED
    machine.cont()
    machine.quit()
    assert len(got) == 4 and machine.exit_status == 0


def panic_pause_wire_commands() -> None:
    cl = CommandLine()
    cl.device("pvpanic")
    cl.no_shutdown()
    machine = Machine(cl.build())
    got: list[Event] = []
    machine.subscribe(lambda e, t: got.append(e))
    qmp = Dispatcher(simulator_api.COMMANDS, machine)
    qmp.dispatch("x-guest-pvpanic-write", {"value": 1})
    assert qmp.dispatch("query-status", None) == {"status": "guest-panicked", "running": False}
    qmp.dispatch("cont", None)
    qmp.dispatch("quit", None)
    assert len(got) == 4 and machine.exit_status == 0


_CONFIG = MachineConfig(devices=(PvpanicConfig(),))


def panic_prebuilt_config() -> None:
    machine = Machine(_CONFIG)
    got: list[Event] = []
    machine.subscribe(lambda e, t: got.append(e))
    machine.guest.pvpanic_write(1)
    assert len(got) == 2 and machine.exit_status == 0


SCENARIOS: dict[str, Callable[[], None]] = {
    "panic, default actions (exits)": panic_default,
    "panic, -no-shutdown, query-status, cont, quit": panic_pause_cont_quit,
    "the same, commands in wire form": panic_pause_wire_commands,
    "panic, machine from a ready config": panic_prebuilt_config,
}


def per_scenario(fn: Callable[[], None], batch: int, batches: int) -> float:
    """The median over ``batches`` of the mean time of one run in a batch."""
    fn()  # warm up (imports, caches)
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - start) / batch)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="runs per batch")
    parser.add_argument("--batches", type=int, default=15)
    args = parser.parse_args()
    worst = 0.0
    for name, fn in SCENARIOS.items():
        seconds = per_scenario(fn, args.batch, args.batches)
        worst = max(worst, seconds)
        print(f"{seconds * 1e6:9.1f} µs per scenario  {name}")
    verdict = "meets" if worst < TARGET_S else "MISSES"
    print(f"slowest {worst * 1e6:.1f} µs: {verdict} the target of {TARGET_S * 1e6:.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
