"""The virtual clock and its timers, the PC's timer tick (PIT channel 0), and the
ib700 watchdog: its ports, its timeouts, its actions.

The PIT's times are QEMU 10.0.2's, observed through qtest (``clock_step``
without an argument steps to the next one).
"""

from __future__ import annotations

from typing import Any

import pytest

from qapigen.machine import CommandLine, Ib700, Machine
from qapigen.machine.clock import VirtualClock, add_ns
from qapigen.machine.watchdog import timeout_ns

S = 1_000_000_000


def make(*options: tuple[str, ...]) -> tuple[Machine, list[tuple[str, Any]]]:
    cl = CommandLine()
    cl.accel("qtest")
    for opt in options:
        getattr(cl, opt[0])(*opt[1:])
    machine = Machine(cl.build(), stderr=lambda text: None)
    events: list[tuple[str, Any]] = []
    machine.subscribe(lambda e, t: events.append((e.NAME, e.to_wire() if e.HAS_DATA else None)))
    return machine, events


# -- the clock ------------------------------------------------------------------------


def test_timers_fire_in_time_order_then_in_the_order_set() -> None:
    clock = VirtualClock(manual=True)
    clock.enabled = True
    fired: list[tuple[str, int]] = []
    a = clock.new_timer(lambda: fired.append(("a", clock.now())))
    b = clock.new_timer(lambda: fired.append(("b", clock.now())))
    c = clock.new_timer(lambda: fired.append(("c", clock.now())))
    c.mod(30)
    b.mod(20)
    a.mod(20)
    assert clock.deadline() == 20
    assert clock.advance_to(25) == 25
    assert fired == [("b", 20), ("a", 20)]
    c.delete()
    assert clock.deadline() is None
    assert clock.advance_to(10) == 25  # never backwards


def test_a_stopped_clock_moves_but_fires_nothing() -> None:
    clock = VirtualClock(manual=True)
    fired: list[int] = []
    clock.new_timer(lambda: fired.append(clock.now())).mod(10)
    assert clock.deadline() is None
    assert clock.advance_to(100) == 100
    assert fired == []
    clock.enabled = True
    assert clock.deadline() == 0  # overdue: due now
    clock.run_due()
    assert fired == [100]


def test_real_time_clock_follows_the_host_while_running() -> None:
    host = [1_000]
    clock = VirtualClock(manual=False, host_ns=lambda: host[0])
    host[0] += 500
    assert clock.now() == 0  # not running yet
    clock.enabled = True
    host[0] += 300
    assert clock.now() == 300
    clock.enabled = False
    host[0] += 1_000
    assert clock.now() == 300
    clock.enabled = True
    fired: list[int] = []
    clock.new_timer(lambda: fired.append(clock.now())).mod(400)
    quiet = clock.new_timer(lambda: None, quiet=True)
    quiet.mod(350)
    assert clock.wake_at() == host[0] + 100  # the quiet timer does not wake the host
    host[0] += 150
    clock.run_due()
    assert fired == [450]


def test_c_arithmetic_of_clock_step() -> None:
    assert add_ns(5, 7) == 12
    assert add_ns(1, (1 << 63) - 1) == -(1 << 63)


# -- the PIT ---------------------------------------------------------------------------


def test_pit_sets_the_next_deadlines_as_qemu() -> None:
    """From reset: 27462700, 27462701, 54925401, 54925402 ns (QEMU 10.0.2)."""
    machine, _ = make()
    access = machine.qtest_access
    times = []
    for _ in range(4):
        deadline = access.clock_deadline()
        assert deadline is not None
        times.append(access.clock_step(deadline))
    assert times == [27462700, 27462701, 54925401, 54925402]


def test_pit_level_changes_reach_the_ioapic() -> None:
    machine, _ = make()
    levels: list[tuple[int, int]] = []
    machine.board.ioapic_inputs.intercept_inputs(lambda n, level: levels.append((n, level)))
    machine.qtest_access.clock_step(60_000_000)
    # Raised at the first half period (the output was high from reset, the line
    # never set), lowered 1 ns later, raised again after a whole period.
    assert levels == [(0, 1), (0, 0), (0, 0), (0, 1)]


def test_unwatched_changes_are_skipped_with_the_same_deadlines() -> None:
    """Without an intercepted line the PIT jumps over the changes a step passes:
    the deadline afterwards is the one that firing each change gives."""
    watched, _ = make()
    watched.board.ioapic_inputs.intercept_inputs(lambda n, level: None)
    unwatched, _ = make()
    for step in (10 * S, 1, 27462700, 3 * S + 17):
        assert watched.qtest_access.clock_step(step) == unwatched.qtest_access.clock_step(step)
        assert watched.qtest_access.clock_deadline() == unwatched.qtest_access.clock_deadline()
    before = unwatched.qtest_access.clock_ns()
    far = unwatched.qtest_access.clock_step(1 << 62)  # centuries: one jump, not 10**17 changes
    deadline = unwatched.qtest_access.clock_deadline()
    assert far == before + (1 << 62) and deadline is not None and 0 < deadline <= 27462701


def test_no_deadline_while_stopped_and_a_reset_restarts_the_count() -> None:
    machine, _ = make(("option_S",))
    assert machine.qtest_access.clock_deadline() is None
    machine.cont()
    assert machine.qtest_access.clock_deadline() == 27462700
    machine.qtest_access.clock_step(10_000_000)
    machine.system_reset()
    assert machine.qtest_access.clock_deadline() == 27462700


# -- the watchdog ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [(0, 30), (1, 28), (13, 4), (14, 2), (15, 0)])
def test_timeouts(value: int, seconds: int) -> None:
    assert timeout_ns(value) == seconds * S
    assert timeout_ns(value | 0xF0) == seconds * S


def test_ports_arm_and_disarm() -> None:
    machine, events = make(("device", "ib700"))
    dog = machine.devices[0]
    assert isinstance(dog, Ib700)
    io = machine.io
    io.write_int(0x443, 1, 14)
    assert dog.expires == 2 * S
    io.write_int(0x441, 1, 0)
    assert dog.expires is None
    io.write_int(0x444, 1, 13)  # the second port of each pair does the same
    assert dog.expires == 4 * S
    io.write_int(0x442, 1, 0)
    assert dog.expires is None
    io.write_int(0x443, 4, 14)  # no 4-byte port: nothing
    assert dog.expires is None
    assert io.read_int(0x443, 1) == 0xFF  # write-only
    assert events == []


def test_the_qtest_program_of_qemus_test() -> None:
    """wdt_ib700-test's steps: nothing until the armed timer runs out, once."""
    machine, events = make(("device", "ib700"), ("watchdog_action", "pause"))
    step, io = machine.qtest_access.clock_step, machine.io
    step(40 * S)
    io.write_int(0x443, 1, 14)  # 2 s
    step(S)
    io.write_int(0x443, 1, 14)  # ping
    step(S)
    io.write_int(0x441, 1, 1)  # disable
    step(3 * S)
    io.write_int(0x443, 1, 13)  # 4 s
    step(3 * S)
    assert events == []
    with machine.qtest_access.batch():
        step(2 * S)
        # The stop is a request: the clock_step finishes first.
        assert events == [("WATCHDOG", {"action": "pause"})]
    assert events == [("WATCHDOG", {"action": "pause"}), ("STOP", None)]
    assert machine.status.value == "watchdog"
    assert machine.qtest_access.clock_deadline() is None


@pytest.mark.parametrize(
    ("flags", "after", "status", "exit_status"),
    [
        (
            [("watchdog_action", "reset")],
            [("RESET", {"guest": True, "reason": "guest-reset"})],
            "running",
            None,
        ),
        (
            [("watchdog_action", "reset"), ("no_reboot",)],
            [("SHUTDOWN", {"guest": True, "reason": "guest-reset"})],
            None,
            0,
        ),
        ([("watchdog_action", "none")], [], "running", None),
        ([("watchdog_action", "shutdown")], [("POWERDOWN", None)], "running", None),
        ([("watchdog_action", "poweroff")], [], None, 0),
        ([("action", "watchdog=debug")], [], "running", None),
        ([("action", "watchdog=inject-nmi")], [], "running", None),
    ],
)
def test_expiry_carries_out_the_watchdog_action(
    flags: list[tuple[str, ...]],
    after: list[tuple[str, Any]],
    status: str | None,
    exit_status: int | None,
) -> None:
    machine, events = make(("device", "ib700"), *flags)
    machine.io.write_int(0x443, 1, 15)  # 0 s: due at once
    with machine.qtest_access.batch():
        machine.qtest_access.clock_step(1)
    assert events[0][0] == "WATCHDOG"
    assert events[1:] == after
    assert machine.exit_status == exit_status
    if status is not None:
        assert machine.status.value == status
    dog = machine.devices[0]
    assert isinstance(dog, Ib700) and dog.expires is None  # disarmed after it fired


def test_reset_disarms_the_watchdog() -> None:
    machine, events = make(("device", "ib700"))
    machine.io.write_int(0x443, 1, 0)
    machine.system_reset()
    machine.qtest_access.clock_step(60 * S)
    assert [name for name, _ in events] == ["RESET"]
