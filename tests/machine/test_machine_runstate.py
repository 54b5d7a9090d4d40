"""The run-state machine: QEMU's table, and no way around it."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qapigen import simulator_api
from qapigen.machine import (
    TRANSITIONS,
    Actions,
    CommandLine,
    GuestNotRunning,
    InvalidTransition,
    Machine,
    MachineConfig,
    MachineExited,
    PvpanicConfig,
    RunStateMachine,
    transition_allowed,
)
from qapigen.runtime import QMPError
from qapigen.simulator_api import (
    PanicAction,
    RebootAction,
    RunState,
    ShutdownAction,
    WatchdogAction,
)

ALL_PAIRS = list(itertools.product(RunState, RunState))


def test_table_is_qemus(qemu_tree: Path) -> None:
    """The table is the one in QEMU 10.0's system/runstate.c, pair for pair."""
    source = (qemu_tree / "system" / "runstate.c").read_text()
    start = source.index("runstate_transitions_def[] = {")
    end = source.index("{ RUN_STATE__MAX, RUN_STATE__MAX }", start)
    pairs = set(re.findall(r"\{\s*RUN_STATE_(\w+),\s*RUN_STATE_(\w+)\s*\}", source[start:end]))
    assert {(a.name, b.name) for a, b in TRANSITIONS} == pairs


def test_table_facts() -> None:
    """The moves the oracle saw are legal; a few QEMU never makes are not."""
    for old, new in [
        (RunState.PRELAUNCH, RunState.RUNNING),  # cont after -S (fact 16)
        (RunState.RUNNING, RunState.GUEST_PANICKED),  # panic, pause
        (RunState.GUEST_PANICKED, RunState.RUNNING),  # cont, no reset (fact 11)
        (RunState.GUEST_PANICKED, RunState.PRELAUNCH),  # system_reset (fact 13)
        (RunState.SHUTDOWN, RunState.PRELAUNCH),  # system_reset (fact 14)
        (RunState.RUNNING, RunState.PAUSED),
        (RunState.PAUSED, RunState.RUNNING),
    ]:
        assert transition_allowed(old, new)
    for old, new in [
        (RunState.SHUTDOWN, RunState.RUNNING),  # cont needs a reset (fact 14)
        (RunState.RUNNING, RunState.PRELAUNCH),  # a reset keeps a running guest running
        (RunState.GUEST_PANICKED, RunState.PAUSED),  # stop is a no-op there (fact 12)
        (RunState.GUEST_PANICKED, RunState.SHUTDOWN),
        (RunState.PRELAUNCH, RunState.PAUSED),
    ]:
        assert not transition_allowed(old, new)


@pytest.mark.parametrize(("old", "new"), ALL_PAIRS, ids=lambda s: s.value)
def test_every_transition(old: RunState, new: RunState) -> None:
    """Legal moves happen; any other raises and leaves the state alone."""
    machine = RunStateMachine(old)
    if old is new or (old, new) in TRANSITIONS:
        machine.set(new)
        assert machine.state is new
    else:
        with pytest.raises(InvalidTransition) as info:
            machine.set(new)
        assert machine.state is old
        assert str(info.value) == f"invalid runstate transition: '{old.value}' -> '{new.value}'"
        with pytest.raises(InvalidTransition):
            machine.check(new)


def test_predicates() -> None:
    assert RunStateMachine().state is RunState.PRELAUNCH
    for state in RunState:
        m = RunStateMachine(state)
        assert m.running is (state is RunState.RUNNING)
        assert m.live is (state in (RunState.RUNNING, RunState.SUSPENDED))
        assert m.needs_reset is (state in (RunState.SHUTDOWN, RunState.INTERNAL_ERROR))


# -- the machine never leaves the table -------------------------------------------

_ACTIONS = st.builds(
    Actions,
    reboot=st.sampled_from(list(RebootAction)),
    shutdown=st.sampled_from(list(ShutdownAction)),
    panic=st.sampled_from(list(PanicAction)),
    watchdog=st.sampled_from(list(WatchdogAction)),
)
_SIMPLE = [
    "stop",
    "cont",
    "system_reset",
    "system_powerdown",
    "query_status",
    "guest.shutdown",
    "guest.reset",
    "guest.watchdog_expire",
]
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(_SIMPLE), st.none()),
        st.tuples(st.just("write"), st.integers(0, 255)),
        st.tuples(st.just("set_action"), _ACTIONS),
    ),
    max_size=25,
)


def _step(machine: Machine, kind: str, arg: object) -> None:
    if kind == "write":
        assert isinstance(arg, int)
        machine.guest.pvpanic_write(arg)
    elif kind == "set_action":
        assert isinstance(arg, Actions)
        machine.set_action(
            reboot=arg.reboot, shutdown=arg.shutdown, panic=arg.panic, watchdog=arg.watchdog
        )
    elif kind.startswith("guest."):
        getattr(machine.guest, kind.removeprefix("guest."))()
    else:
        getattr(machine, kind)()


@settings(max_examples=300, deadline=None)
@given(actions=_ACTIONS, paused=st.booleans(), steps=_STEPS)
def test_random_walks_stay_in_the_table(
    actions: Actions, paused: bool, steps: list[tuple[str, object]]
) -> None:
    """Whatever clients and guest do, the machine only makes QEMU's moves,
    ``running`` agrees with the status, and after exit nothing works."""
    config = MachineConfig(start_paused=paused, actions=actions, devices=(PvpanicConfig(),))
    machine = Machine(config)
    previous = machine.status
    for kind, arg in steps:
        if machine.exited:
            with pytest.raises(MachineExited):
                machine.query_status()
            return
        try:
            _step(machine, kind, arg)
        except GuestNotRunning:
            assert not machine.running
        except QMPError as err:
            assert err.desc == "Resetting the Virtual Machine is required"
            assert machine.status is RunState.SHUTDOWN
        if not machine.exited:
            assert transition_allowed(previous, machine.status) or _via_running(
                previous, machine.status
            )
            info = machine.query_status()
            assert info.running is (info.status is RunState.RUNNING)
            previous = machine.status


def _via_running(old: RunState, new: RunState) -> bool:
    # One call may make two moves (cont, then the guest's stop).
    return transition_allowed(old, RunState.RUNNING) and transition_allowed(RunState.RUNNING, new)


def test_command_line_machine_starts_like_qemu() -> None:
    """Without -S the guest runs at once (RESUME, sent before any client can
    listen); with -S it waits in prelaunch."""
    seen: list[str] = []
    cl = CommandLine()
    Machine(cl.build(), subscriber=lambda e, t: seen.append(e.NAME))
    assert seen == ["RESUME"]
    cl.option_S()
    machine = Machine(cl.build(), subscriber=lambda e, t: seen.append(e.NAME))
    assert seen == ["RESUME"]
    assert machine.query_status() == simulator_api.StatusInfo(
        running=False, status=RunState.PRELAUNCH
    )
