"""Run-state commands from every state the oracle visited (facts 11-18), the
seed's point, panic details, the guest side, events and exit."""

from __future__ import annotations

from typing import Any

import pytest

from qapigen import simulator_api
from qapigen.machine import (
    CommandLine,
    GuestNotRunning,
    Machine,
    MachineConfig,
    MachineExited,
    PvpanicConfig,
)
from qapigen.qmp.fds import FD_COMMANDS
from qapigen.runtime import Dispatcher, Event, QMPError, event_message
from qapigen.simulator_api import (
    GuestPanicInformation_hyper_v,
    GuestPanicInformation_s390,
    RunState,
    S390CrashReason,
    StatusInfo,
)

Events = list[tuple[str, dict[str, Any] | None]]
STOP = ("STOP", None)
RESUME = ("RESUME", None)
RESET_HOST = ("RESET", {"guest": False, "reason": "host-qmp-system-reset"})
QUIT = ("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})


class Harness:
    """A machine, its events, and a dispatcher for wire-form commands."""

    def __init__(self, *options: tuple[str, ...]) -> None:
        cl = CommandLine()
        cl.device("pvpanic")
        for opt in options:
            getattr(cl, opt[0])(*opt[1:])
        self.exits: list[int] = []
        self.machine = Machine(cl.build(), on_exit=self.exits.append)
        self.events: Events = []
        self.machine.subscribe(self._on_event)
        self.qmp = Dispatcher(simulator_api.COMMANDS, self.machine)

    def _on_event(self, event: Event, timestamp: float) -> None:
        self.events.append((event.NAME, event.to_wire() if event.HAS_DATA else None))

    def run(self, command: str) -> tuple[Any, Events]:
        """A command's reply (or QMPError's wire form) and the events it caused."""
        self.events.clear()
        try:
            reply: Any = {"return": self.qmp.dispatch(command, None)}
        except QMPError as err:
            reply = {"error": err.to_wire()}
        return reply, list(self.events)

    def status(self) -> tuple[str, bool]:
        info = self.machine.query_status()
        return info.status.value, info.running


OK: dict[str, Any] = {"return": {}}


def in_state(state: str) -> Harness:
    """A harness whose machine is in ``state``, reached as the oracle reached it."""
    if state == "running":
        h = Harness()
    elif state == "prelaunch":
        h = Harness(("option_S",))
    elif state == "paused":
        h = Harness()
        h.machine.stop()
    elif state == "guest-panicked":
        h = Harness(("no_shutdown",))
        h.machine.guest.pvpanic_write(1)
    elif state == "shutdown":
        h = Harness(("no_shutdown",))
        h.machine.guest.pvpanic_write(4)
    elif state == "watchdog":
        h = Harness(("watchdog_action", "pause"))
        h.machine.guest.watchdog_expire()
    else:
        raise AssertionError(state)
    assert h.status()[0] == state
    return h


# state -> command -> (reply, events, status after)
COMMANDS: dict[str, dict[str, tuple[Any, Events, str]]] = {
    "running": {  # fact 15
        "cont": (OK, [], "running"),
        "stop": (OK, [STOP], "paused"),
        "system_reset": (OK, [RESET_HOST], "running"),
    },
    "paused": {  # fact 15; a reset of a stopped machine leads to prelaunch
        "cont": (OK, [RESUME], "running"),
        "stop": (OK, [], "paused"),
        "system_reset": (OK, [RESET_HOST], "prelaunch"),
    },
    "guest-panicked": {  # facts 11, 12, 13
        "cont": (OK, [RESUME], "running"),
        "stop": (OK, [], "guest-panicked"),
        "system_reset": (OK, [RESET_HOST], "prelaunch"),
    },
    "shutdown": {  # fact 14
        "cont": (
            {
                "error": {
                    "class": "GenericError",
                    "desc": "Resetting the Virtual Machine is required",
                }
            },
            [],
            "shutdown",
        ),
        "stop": (OK, [], "shutdown"),
        "system_reset": (OK, [RESET_HOST], "prelaunch"),
    },
    "prelaunch": {  # fact 16
        "cont": (OK, [RESUME], "running"),
        "stop": (OK, [], "prelaunch"),
        "system_reset": (OK, [RESET_HOST], "prelaunch"),
    },
    "watchdog": {
        "cont": (OK, [RESUME], "running"),
        "stop": (OK, [], "watchdog"),
        "system_reset": (OK, [RESET_HOST], "prelaunch"),
    },
}


@pytest.mark.parametrize(
    ("state", "command"), [(s, c) for s, cmds in COMMANDS.items() for c in cmds]
)
def test_run_state_commands(state: str, command: str) -> None:
    h = in_state(state)
    reply, events, after = COMMANDS[state][command]
    assert h.run(command) == (reply, events)
    assert h.status() == (after, after == "running")
    if after == "prelaunch":
        # ... and cont starts it again (facts 13, 14).
        assert h.run("cont") == (OK, [RESUME])
        assert h.status() == ("running", True)


@pytest.mark.parametrize("state", list(COMMANDS))
def test_quit_and_powerdown_in_any_state(state: str) -> None:
    """Fact 18: quit gives SHUTDOWN{host-qmp-quit} and exit 0 from anywhere;
    system_powerdown only sends POWERDOWN (the guest decides)."""
    h = in_state(state)
    assert h.run("system_powerdown") == (OK, [("POWERDOWN", None)])
    assert h.status()[0] == state
    assert h.run("quit") == (OK, [QUIT])
    assert h.machine.exit_status == 0
    assert h.exits == [0]
    with pytest.raises(MachineExited):
        h.machine.query_status()
    with pytest.raises(MachineExited):
        h.machine.guest.reset()


def test_quit_after_exit_failure_panic_exits_zero_when_it_paused() -> None:
    h = Harness(("action", "panic=exit-failure,shutdown=pause"))
    h.machine.guest.pvpanic_write(1)
    assert h.status() == ("shutdown", False)
    h.run("quit")
    assert h.machine.exit_status == 0


def test_double_panic() -> None:
    """Fact 9: under panic=none two GUEST_PANICKED{run}; under -no-shutdown
    each write pauses and needs its own cont."""
    h = Harness(("action", "panic=none"))
    h.machine.guest.pvpanic_write(1)
    h.machine.guest.pvpanic_write(1)
    assert h.events == [("GUEST_PANICKED", {"action": "run"})] * 2
    h = Harness(("no_shutdown",))
    h.machine.guest.pvpanic_write(1)
    with pytest.raises(GuestNotRunning):
        h.machine.guest.pvpanic_write(1)  # the CPU is stopped: no second write yet
    h.run("cont")
    h.machine.guest.pvpanic_write(1)
    assert h.status() == ("guest-panicked", False)
    assert h.run("cont") == (OK, [RESUME])


# -- the seed's point -----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        [("no_shutdown",)],
        [("action", "panic=pause")],
        [("action", "panic=shutdown,shutdown=pause")],
    ],
    ids=["-no-shutdown", "panic=pause", "panic=shutdown,shutdown=pause"],
)
def test_seeds_point(options: list[tuple[str, ...]]) -> None:
    """A management client that dies before a panic and comes back after it
    learns of the panic from query-status when the action pauses."""
    cl = CommandLine()
    cl.device("pvpanic")
    for opt in options:
        getattr(cl, opt[0])(*opt[1:])
    machine = Machine(cl.build())
    first: list[str] = []
    disconnect = machine.subscribe(lambda e, t: first.append(e.NAME))
    qmp = Dispatcher(simulator_api.COMMANDS, machine)
    assert qmp.dispatch("query-status", None) == {"status": "running", "running": True}
    disconnect()  # the client dies
    machine.guest.pvpanic_write(1)  # the panic nobody hears
    later: list[str] = []
    machine.subscribe(lambda e, t: later.append(e.NAME))  # the client is back
    assert first == [] and later == []
    assert qmp.dispatch("query-status", None) == {"status": "guest-panicked", "running": False}
    # It can let the guest go on, without a reset (fact 11).
    assert qmp.dispatch("cont", None) == {}
    assert later == ["RESUME"]


def test_seeds_point_needs_a_pausing_action() -> None:
    """By default QEMU exits on a panic; under panic=none nothing is left to see."""
    h = Harness()
    h.machine.guest.pvpanic_write(1)
    assert h.machine.exited
    h = Harness(("action", "panic=none"))
    h.machine.guest.pvpanic_write(1)
    assert h.status() == ("running", True)


# -- panic details -----------------------------------------------------------------------

HYPER_V = {"type": "hyper-v", "arg1": 30, "arg2": 0, "arg3": 1 << 63, "arg4": 4, "arg5": 5}
S390 = {
    "type": "s390",
    "core": 2,
    "psw-mask": 0x0002000180000000,
    "psw-addr": 0xDEADBEEF,
    "reason": "disabled-wait",
}


@pytest.mark.parametrize("info", [HYPER_V, S390], ids=["hyper-v", "s390"])
def test_panic_information_is_carried_once(info: dict[str, Any]) -> None:
    log: list[str] = []
    cl = CommandLine()
    cl.device("pvpanic")
    cl.no_shutdown()
    machine = Machine(cl.build(), guest_error_log=log.append)
    events: list[Event] = []
    machine.subscribe(lambda e, t: events.append(e))
    qmp = Dispatcher(simulator_api.COMMANDS, machine)
    assert qmp.dispatch("x-guest-panic-info", info) == {}
    assert qmp.dispatch("x-guest-pvpanic-write", {"value": 1}) == {}
    assert events[0].to_wire() == {"action": "pause", "info": info}
    assert event_message(events[0], 1.5)["data"] == {"action": "pause", "info": info}
    if info["type"] == "hyper-v":
        assert "".join(log) == (
            "Guest crashed\nHV crash parameters: (0x1e 0 0x8000000000000000 0x4 0x5)\n"
        )
    else:
        assert "".join(log) == (
            "Guest crashed on cpu 2: disabled-wait\nPSW: 0x0002000180000000 0x00000000deadbeef\n"
        )
    qmp.dispatch("cont", None)
    qmp.dispatch("x-guest-pvpanic-write", {"value": 1})
    assert events[-2].to_wire() == {"action": "pause"}  # used once


def test_panic_information_python_api_and_reset() -> None:
    h = Harness(("action", "panic=none"))
    g = h.machine.guest
    info = GuestPanicInformation_s390(
        core=0, psw_mask=1, psw_addr=2, reason=S390CrashReason.PGMINT_LOOP
    )
    g.set_panic_info(info)
    h.run("system_reset")  # a reset clears the guest's crash registers
    g.pvpanic_write(1)
    assert h.events[-1] == ("GUEST_PANICKED", {"action": "run"})
    g.set_panic_info(GuestPanicInformation_hyper_v(arg1=1, arg2=2, arg3=3, arg4=4, arg5=5))
    g.set_panic_info(info)  # the later one wins
    g.pvpanic_write(3)
    assert h.events[-1] == ("GUEST_PANICKED", {"action": "run", "info": info.to_wire()})
    # A crash-loaded report does not carry (or use up) them: QEMU's pvpanic passes none.
    g.set_panic_info(info)
    g.pvpanic_write(2)
    assert h.events[-1] == ("GUEST_CRASHLOADED", {"action": "run"})
    g.pvpanic_write(1)
    assert h.events[-1] == ("GUEST_PANICKED", {"action": "run", "info": info.to_wire()})


# -- the guest side ------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["prelaunch", "paused", "guest-panicked", "shutdown"])
def test_guest_cannot_act_while_halted(state: str) -> None:
    h = in_state(state)
    g = h.machine.guest
    h.events.clear()
    for action in (
        lambda: g.pvpanic_write(1),
        g.pvpanic_read,
        lambda: g.io_write(0x80, 0),
        lambda: g.io_read(0x80),
        g.shutdown,
        g.reset,
        g.watchdog_expire,
    ):
        with pytest.raises(GuestNotRunning) as info:
            action()
        assert info.value.error_class == "GenericError"
        assert state in info.value.desc
    g.set_panic_info(None)  # only prepares data: allowed
    assert h.events == []
    assert h.status()[0] == state
    with pytest.raises(QMPError) as qinfo:
        h.qmp.dispatch("x-guest-shutdown", None)
    assert qinfo.value.error_class == "GenericError"


def test_guest_commands_over_the_dispatcher() -> None:
    h = Harness(("no_shutdown",), ("no_reboot",))
    q = h.qmp
    assert q.dispatch("x-guest-pvpanic-read", None) == {"value": 7}
    assert q.dispatch("x-guest-io-read", {"port": 0x505}) == {"value": 7}
    assert q.dispatch("x-guest-io-read", {"port": 0x80}) == {"value": 0xFF}
    assert q.dispatch("x-guest-io-write", {"port": 0x80, "value": 1}) == {}
    assert h.events == []
    assert q.dispatch("x-guest-watchdog-expire", None) == {}
    assert h.events[:2] == [
        ("WATCHDOG", {"action": "reset"}),
        ("SHUTDOWN", {"guest": True, "reason": "guest-reset"}),
    ]
    assert h.status() == ("shutdown", False)
    # Under -no-reboot even system_reset is a shutdown: the machine stays shut down.
    assert h.run("system_reset") == (
        OK,
        [("SHUTDOWN", {"guest": False, "reason": "host-qmp-system-reset"})],
    )
    assert h.status() == ("shutdown", False)
    h = Harness(("no_shutdown",))
    assert h.qmp.dispatch("x-guest-reset", None) == {}
    assert h.events == [("RESET", {"guest": True, "reason": "guest-reset"})]
    assert h.qmp.dispatch("x-guest-shutdown", None) == {}
    assert h.status() == ("shutdown", False)


def test_every_machine_command_is_implemented() -> None:
    """All commands but the QMP session's own (and its monitor's descriptors)
    are the machine's."""
    session = {"qmp_capabilities", "query-version", "query-commands", "query-qmp-schema"}
    session |= FD_COMMANDS
    for name, info in simulator_api.COMMANDS.items():
        implemented = getattr(Machine, info.method) is not getattr(
            simulator_api.Handler, info.method
        )
        assert implemented is (name not in session), name


def test_events_carry_the_clocks_time() -> None:
    times = iter([100.25, 200.5, 300.75])
    seen: list[tuple[str, float]] = []
    cl = CommandLine()
    cl.option_S()
    machine = Machine(cl.build(), clock=lambda: next(times))
    machine.subscribe(lambda e, t: seen.append((e.NAME, t)))
    machine.cont()
    machine.stop()
    assert seen == [("RESUME", 100.25), ("STOP", 200.5)]
    assert event_message(simulator_api.StopEvent(), seen[1][1]) == {
        "timestamp": {"seconds": 200, "microseconds": 500000},
        "event": "STOP",
    }


def test_query_status_returns_typed_status() -> None:
    machine = Machine(MachineConfig(devices=(PvpanicConfig(),)))
    assert machine.query_status() == StatusInfo(running=True, status=RunState.RUNNING)
    assert machine.status is RunState.RUNNING and machine.running


def test_host_signal() -> None:
    h = Harness(("no_shutdown",))
    h.machine.host_signal()
    assert h.events == [("SHUTDOWN", {"guest": False, "reason": "host-signal"})]
    assert h.machine.exit_status == 0
