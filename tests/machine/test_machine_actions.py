"""Reaction settings: the panic table (fact 6), set-action (facts 10, 19),
-no-shutdown/-no-reboot, the watchdog, and the command line (fact 20)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from qapigen import simulator_api
from qapigen.machine import (
    Actions,
    CommandLine,
    ConfigError,
    HelpRequested,
    Machine,
    MachineConfig,
    PvpanicConfig,
    UnknownDeviceError,
)
from qapigen.runtime import Dispatcher, QMPError
from qapigen.simulator_api import PanicAction, RebootAction, ShutdownAction, WatchdogAction

Events = list[tuple[str, dict[str, Any] | None]]

PANICKED_POWEROFF = ("GUEST_PANICKED", {"action": "poweroff"})
PANICKED_PAUSE = ("GUEST_PANICKED", {"action": "pause"})
PANICKED_RUN = ("GUEST_PANICKED", {"action": "run"})
SHUTDOWN_PANIC = ("SHUTDOWN", {"guest": True, "reason": "guest-panic"})
STOP = ("STOP", None)
RESUME = ("RESUME", None)


def build(options: list[tuple[str, ...]], *, stderr: list[str] | None = None) -> Machine:
    cl = CommandLine()
    cl.device("pvpanic")
    for opt in options:
        getattr(cl, opt[0])(*opt[1:])
    return Machine(cl.build(), stderr=stderr.append if stderr is not None else None)


def record(machine: Machine) -> Events:
    events: Events = []
    machine.subscribe(lambda e, t: events.append((e.NAME, e.to_wire() if e.HAS_DATA else None)))
    return events


# The README's table "Guest panic (value 1) vs. panic action": options, QMP
# commands before the panic, events (from those commands on), status after
# (None: exited), exit status.
PANIC_TABLE: list[tuple[str, list[tuple[str, ...]], list[dict[str, Any]], Events, Any, Any]] = [
    ("default", [], [], [PANICKED_POWEROFF, SHUTDOWN_PANIC], None, 0),
    (
        "panic=shutdown",
        [("action", "panic=shutdown")],
        [],
        [PANICKED_POWEROFF, SHUTDOWN_PANIC],
        None,
        0,
    ),
    (
        "panic=exit-failure",
        [("action", "panic=exit-failure")],
        [],
        [PANICKED_POWEROFF, SHUTDOWN_PANIC],
        None,
        1,
    ),
    ("-no-shutdown", [("no_shutdown",)], [], [PANICKED_PAUSE, STOP], "guest-panicked", None),
    (
        "panic=pause",
        [("action", "panic=pause")],
        [],
        [PANICKED_PAUSE, STOP],
        "guest-panicked",
        None,
    ),
    (
        "panic=shutdown,shutdown=pause",
        [("action", "panic=shutdown,shutdown=pause")],
        [],
        [PANICKED_PAUSE, STOP],
        "guest-panicked",
        None,
    ),
    ("panic=none", [("action", "panic=none")], [], [PANICKED_RUN], "running", None),
    (
        "panic=exit-failure,shutdown=pause",
        [("action", "panic=exit-failure,shutdown=pause")],
        [],
        [PANICKED_POWEROFF, SHUTDOWN_PANIC, STOP],
        "shutdown",
        None,
    ),
    (
        "-S set-action panic=pause, cont",
        [("option_S",)],
        [{"panic": "pause"}],
        [RESUME, PANICKED_PAUSE, STOP],
        "guest-panicked",
        None,
    ),
    (
        "-S set-action shutdown=pause",
        [("option_S",)],
        [{"shutdown": "pause"}],
        [RESUME, PANICKED_PAUSE, STOP],
        "guest-panicked",
        None,
    ),
    (
        "-S set-action panic=none",
        [("option_S",)],
        [{"panic": "none"}],
        [RESUME, PANICKED_RUN],
        "running",
        None,
    ),
    (
        "-S set-action panic=exit-failure",
        [("option_S",)],
        [{"panic": "exit-failure"}],
        [RESUME, PANICKED_POWEROFF, SHUTDOWN_PANIC],
        None,
        1,
    ),
]


@pytest.mark.parametrize(
    ("options", "set_actions", "events", "status", "exit_status"),
    [pytest.param(*row[1:], id=row[0]) for row in PANIC_TABLE],
)
def test_panic_table(
    options: list[tuple[str, ...]],
    set_actions: list[dict[str, Any]],
    events: Events,
    status: str | None,
    exit_status: int | None,
) -> None:
    machine = build(options)
    seen = record(machine)
    d = Dispatcher(simulator_api.COMMANDS, machine)
    for args in set_actions:
        assert d.dispatch("set-action", args) == {}
        assert d.dispatch("query-status", None) == {"status": "prelaunch", "running": False}
    if machine.status is simulator_api.RunState.PRELAUNCH:
        d.dispatch("cont", None)
    machine.guest.pvpanic_write(1)
    assert seen == events
    assert machine.exit_status == exit_status
    if status is not None:
        assert machine.status.value == status
        if status == "shutdown":
            # panic=exit-failure,shutdown=pause: a later quit exits 0.
            machine.quit()
            assert machine.exit_status == 0


# -- set-action is all or nothing (fact 10) -------------------------------------------

GOOD = {"reboot": "shutdown", "shutdown": "pause", "panic": "none", "watchdog": "pause"}


@pytest.mark.parametrize(
    "members",
    [c for n in range(1, 5) for c in itertools.combinations(GOOD, n)],
    ids=lambda c: "+".join(c),
)
@pytest.mark.parametrize("bad", ["bogus", 1, None])
def test_set_action_is_all_or_nothing(members: tuple[str, ...], bad: object) -> None:
    """One bad member (any of them) and none of the good ones is applied."""
    for culprit in members:
        machine = build([])
        d = Dispatcher(simulator_api.COMMANDS, machine)
        args: dict[str, object] = {m: GOOD[m] for m in members}
        args[culprit] = bad
        with pytest.raises(QMPError) as info:
            d.dispatch("set-action", args)
        assert info.value.error_class == "GenericError"
        assert culprit in info.value.desc
        assert machine.actions == Actions()
        # The same through the Python API, with wire strings.
        if isinstance(bad, str):
            with pytest.raises(QMPError) as info:
                machine.set_action(**args)  # type: ignore[arg-type]
            assert info.value.desc == f"Parameter '{culprit}' does not accept value 'bogus'"
            assert machine.actions == Actions()
        d.dispatch("set-action", {m: GOOD[m] for m in members})
        assert machine.actions == Actions(**{m: _enum(m, GOOD[m]) for m in GOOD if m in members})


def _enum(member: str, value: str) -> Any:
    kinds = {
        "reboot": RebootAction,
        "shutdown": ShutdownAction,
        "panic": PanicAction,
        "watchdog": WatchdogAction,
    }
    return kinds[member](value)


def test_fact_10() -> None:
    """{"panic":"pause","shutdown":"bogus"} fails, and a later panic follows the default."""
    machine = build([])
    seen = record(machine)
    d = Dispatcher(simulator_api.COMMANDS, machine)
    with pytest.raises(QMPError) as info:
        d.dispatch("set-action", {"panic": "pause", "shutdown": "bogus"})
    assert info.value.desc == "Parameter 'shutdown' does not accept value 'bogus'"
    machine.guest.pvpanic_write(1)
    assert seen == [PANICKED_POWEROFF, SHUTDOWN_PANIC]
    assert machine.exit_status == 0


def test_fact_19_messages() -> None:
    machine = build([])
    d = Dispatcher(simulator_api.COMMANDS, machine)
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        ("set-action", {"panic": "bogus"}, "Parameter 'panic' does not accept value 'bogus'"),
        ("set-action", {"panic": 1}, "Invalid parameter type for 'panic', expected: string"),
        ("set-action", {"bogus": "pause"}, "Parameter 'bogus' is unexpected"),
        ("set-action", {}, None),
        ("set-action", GOOD, None),
        ("watchdog-set-action", {"action": "pause"}, None),
        (
            "watchdog-set-action",
            {"action": "bogus"},
            "Parameter 'action' does not accept value 'bogus'",
        ),
        ("watchdog-set-action", {}, "Parameter 'action' is missing"),
    ]
    for name, args, error in cases:
        if error is None:
            assert d.dispatch(name, args) == {}
        else:
            with pytest.raises(QMPError) as info:
                d.dispatch(name, args)
            assert info.value.to_wire() == {"class": "GenericError", "desc": error}
    assert machine.actions == Actions(
        reboot=RebootAction.SHUTDOWN,
        shutdown=ShutdownAction.PAUSE,
        panic=PanicAction.NONE,
        watchdog=WatchdogAction.PAUSE,
    )


# -- -no-shutdown and -no-reboot ---------------------------------------------------------

SHUT_GUEST = ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
SHUT_REBOOT = ("SHUTDOWN", {"guest": True, "reason": "guest-reset"})
SHUT_HOST_RESET = ("SHUTDOWN", {"guest": False, "reason": "host-qmp-system-reset"})
RESET_GUEST = ("RESET", {"guest": True, "reason": "guest-reset"})
RESET_HOST = ("RESET", {"guest": False, "reason": "host-qmp-system-reset"})

# trigger -> {(no_shutdown, no_reboot): (events, status or None for exit 0)}
COMBOS: dict[str, dict[tuple[bool, bool], tuple[Events, str | None]]] = {
    "guest-reset": {
        (False, False): ([RESET_GUEST], "running"),
        (False, True): ([SHUT_REBOOT], None),
        (True, False): ([RESET_GUEST], "running"),
        (True, True): ([SHUT_REBOOT, STOP], "shutdown"),
    },
    "system_reset": {
        (False, False): ([RESET_HOST], "running"),
        (False, True): ([SHUT_HOST_RESET], None),
        (True, False): ([RESET_HOST], "running"),
        (True, True): ([SHUT_HOST_RESET, STOP], "shutdown"),
    },
    "guest-shutdown": {
        (False, False): ([SHUT_GUEST], None),
        (False, True): ([SHUT_GUEST], None),
        (True, False): ([SHUT_GUEST, STOP], "shutdown"),
        (True, True): ([SHUT_GUEST, STOP], "shutdown"),
    },
    "pvpanic-shutdown": {
        (False, False): ([("GUEST_PVSHUTDOWN", None), SHUT_GUEST], None),
        (False, True): ([("GUEST_PVSHUTDOWN", None), SHUT_GUEST], None),
        (True, False): ([("GUEST_PVSHUTDOWN", None), SHUT_GUEST, STOP], "shutdown"),
        (True, True): ([("GUEST_PVSHUTDOWN", None), SHUT_GUEST, STOP], "shutdown"),
    },
    "panic": {
        (False, False): ([PANICKED_POWEROFF, SHUTDOWN_PANIC], None),
        (False, True): ([PANICKED_POWEROFF, SHUTDOWN_PANIC], None),
        (True, False): ([PANICKED_PAUSE, STOP], "guest-panicked"),
        (True, True): ([PANICKED_PAUSE, STOP], "guest-panicked"),
    },
}


@pytest.mark.parametrize("no_reboot", [False, True], ids=["", "no-reboot"])
@pytest.mark.parametrize("no_shutdown", [False, True], ids=["", "no-shutdown"])
@pytest.mark.parametrize("trigger", list(COMBOS))
def test_no_shutdown_no_reboot(trigger: str, no_shutdown: bool, no_reboot: bool) -> None:
    """-no-shutdown is shutdown=pause, -no-reboot is reboot=shutdown: every
    reset, system_reset included, becomes a shutdown with the reset's cause."""
    options: list[tuple[str, ...]] = []
    if no_shutdown:
        options.append(("no_shutdown",))
    if no_reboot:
        options.append(("no_reboot",))
    machine = build(options)
    seen = record(machine)
    triggers: dict[str, Callable[[], None]] = {
        "guest-reset": machine.guest.reset,
        "system_reset": machine.system_reset,
        "guest-shutdown": machine.guest.shutdown,
        "pvpanic-shutdown": lambda: machine.guest.pvpanic_write(4),
        "panic": lambda: machine.guest.pvpanic_write(1),
    }
    triggers[trigger]()
    events, status = COMBOS[trigger][no_shutdown, no_reboot]
    assert seen == events
    if status is None:
        assert machine.exit_status == 0
    else:
        assert machine.status.value == status


@pytest.mark.parametrize(
    ("options", "shutdown", "reboot"),
    [
        ([("no_shutdown",), ("action", "shutdown=poweroff")], "poweroff", "reset"),
        ([("action", "shutdown=poweroff"), ("no_shutdown",)], "pause", "reset"),
        ([("no_reboot",), ("action", "reboot=reset")], "poweroff", "reset"),
        ([("action", "reboot=reset"), ("no_reboot",)], "poweroff", "shutdown"),
        ([("no_reboot",), ("no_shutdown",)], "pause", "shutdown"),
    ],
)
def test_options_merge_last_wins(
    options: list[tuple[str, ...]], shutdown: str, reboot: str
) -> None:
    """QEMU merges all these options into one list; the last value of a key wins."""
    actions = build(options).actions
    assert (actions.shutdown.value, actions.reboot.value) == (shutdown, reboot)


# -- the watchdog ------------------------------------------------------------------------

WATCHDOG: dict[str, tuple[Events, str | None]] = {
    "reset": ([("WATCHDOG", {"action": "reset"}), RESET_GUEST], "running"),
    "shutdown": ([("WATCHDOG", {"action": "shutdown"}), ("POWERDOWN", None)], "running"),
    "poweroff": ([("WATCHDOG", {"action": "poweroff"})], None),
    "pause": ([("WATCHDOG", {"action": "pause"}), STOP], "watchdog"),
    "debug": ([("WATCHDOG", {"action": "debug"})], "running"),
    "none": ([("WATCHDOG", {"action": "none"})], "running"),
    "inject-nmi": ([("WATCHDOG", {"action": "inject-nmi"})], "running"),
}


@pytest.mark.parametrize("how", ["-watchdog-action", "-action", "watchdog-set-action"])
@pytest.mark.parametrize("action", list(WATCHDOG))
def test_watchdog_actions(action: str, how: str) -> None:
    """Every WatchdogAction: WATCHDOG first, then what the action does;
    poweroff exits on the spot, without SHUTDOWN."""
    stderr: list[str] = []
    options: list[tuple[str, ...]] = []
    if how == "-watchdog-action":
        options.append(("watchdog_action", action))
    elif how == "-action":
        options.append(("action", f"watchdog={action}"))
    machine = build(options, stderr=stderr)
    if how == "watchdog-set-action":
        d = Dispatcher(simulator_api.COMMANDS, machine)
        d.dispatch("watchdog-set-action", {"action": action})
    seen = record(machine)
    machine.guest.watchdog_expire()
    events, status = WATCHDOG[action]
    assert seen == events
    if status is None:
        assert machine.exit_status == 0
    else:
        assert machine.status.value == status
    assert stderr == (["watchdog: timer fired\n"] if action == "debug" else [])
    assert machine.guest.nmi_count == (1 if action == "inject-nmi" else 0)
    if action == "pause":
        machine.cont()
        assert machine.running


def test_watchdog_reset_under_no_reboot() -> None:
    machine = build([("no_reboot",)])
    seen = record(machine)
    machine.guest.watchdog_expire()
    assert seen == [("WATCHDOG", {"action": "reset"}), SHUT_REBOOT]
    assert machine.exit_status == 0


# -- the command line -------------------------------------------------------------------


def config_error(*options: tuple[str, ...]) -> ConfigError:
    cl = CommandLine()
    with pytest.raises(ConfigError) as info:
        for opt in options:
            getattr(cl, opt[0])(*opt[1:])
        cl.build()
    return info.value


def test_fact_20() -> None:
    err = config_error(("action", "panic=bogus"))
    assert str(err) == "-action panic=bogus: Parameter 'panic' does not accept value 'bogus'"
    assert config_error(("action", "bogus=pause")).message == "Invalid parameter 'bogus'"
    err = config_error(("watchdog_action", "bogus"))
    assert str(err) == "-watchdog-action bogus: Parameter 'watchdog' does not accept value 'bogus'"


def test_action_errors_follow_qemus_order_and_location() -> None:
    """Keys are checked as each option is read, values at the end, in the
    order reboot, shutdown, panic, watchdog, blamed on the first option of
    the merged list."""
    err = config_error(("action", "panic=bogus"), ("action", "bogus=x"))
    assert str(err) == "-action bogus=x: Invalid parameter 'bogus'"
    err = config_error(("no_shutdown",), ("action", "panic=bogus,reboot=nope"))
    assert str(err) == "-no-shutdown: Parameter 'reboot' does not accept value 'nope'"
    err = config_error(("action", "panic=bogus"), ("action", "panic=pause,watchdog=x"))
    assert str(err) == "-action panic=bogus: Parameter 'watchdog' does not accept value 'x'"
    assert config_error(("action", "panic=pause,id=a")).message == "Invalid parameter 'id'"
    # The last value wins, so a bad value can be overridden.
    cl = CommandLine()
    cl.action("panic=bogus")
    cl.action("panic=pause")
    assert cl.build().actions.panic is PanicAction.PAUSE


def test_action_flags_and_help() -> None:
    """A bare key means key=on (deprecated, with QEMU's warning); help lists the keys."""
    cl = CommandLine()
    cl.action("panic")
    assert cl.warnings == [
        "-action panic: warning: short-form boolean option 'panic' deprecated\n"
        "Please use panic=on instead"
    ]
    with pytest.raises(ConfigError) as info:
        cl.build()
    assert info.value.message == "Parameter 'panic' does not accept value 'on'"
    with pytest.raises(HelpRequested) as help_info:
        CommandLine().action("help")
    assert help_info.value.text == (
        "action options:\n  panic=<str>\n  reboot=<str>\n  shutdown=<str>\n  watchdog=<str>\n"
    )
    assert help_info.value.status == 1


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("pvpanic,ioport=bogus", "Parameter 'ioport' expects integer"),
        ("pvpanic,ioport=0x10000", "Parameter 'ioport' expects uint16_t"),
        ("pvpanic,ioport=-1", "Parameter 'ioport' expects uint16_t"),
        ("pvpanic,events=256", "Parameter 'events' expects uint8_t"),
        ("pvpanic,events=", "Parameter 'events' expects integer"),
        ("pvpanic,bogus=1", "Property 'pvpanic.bogus' not found"),
        ("pvpanic-pci,ioport=0x505", "Property 'pvpanic-pci.ioport' not found"),
        ("id=a", "Parameter 'driver' is missing"),
        ("pvpanic,id=1a", "Parameter 'id' expects an identifier"),
        ("pvpanic,id=a,,b", "Parameter 'id' expects an identifier"),
    ],
)
def test_device_errors(device: str, message: str) -> None:
    err = config_error(("device", device))
    assert str(err) == f"-device {device}: {message}"


def test_device_errors_between_devices() -> None:
    err = config_error(("device", "pvpanic,id=a"), ("device", "pvpanic-pci,id=a"))
    assert str(err) == "-device pvpanic-pci,id=a: Duplicate ID 'a' for device"
    # Two ISA devices would share the firmware's fw_cfg file: QEMU exits.
    err = config_error(("device", "pvpanic"), ("device", "pvpanic,ioport=0x600"))
    assert str(err) == (
        "-device pvpanic,ioport=0x600: duplicate fw_cfg file name: etc/pvpanic-port"
    )
    err = config_error(("device", "virtio-net-pci"))
    assert isinstance(err, UnknownDeviceError)
    assert err.message == "'virtio-net-pci' is not a valid device model name"


def test_device_values() -> None:
    """Numbers as QEMU reads them (hex, octal, decimal); several PCI devices are fine."""
    cl = CommandLine()
    cl.device("pvpanic,ioport=0x600,events=010,id=isa")
    cl.device("driver=pvpanic-pci,events=2,addr=0x5,bus=pcie.0")
    cl.device("pvpanic-pci")
    config = cl.build()
    assert config.devices == (
        PvpanicConfig(driver="pvpanic", id="isa", ioport=0x600, events=8),
        PvpanicConfig(driver="pvpanic-pci", events=2, addr=0x5 << 3),
        PvpanicConfig(driver="pvpanic-pci"),
    )


def test_programmatic_config_is_checked() -> None:
    with pytest.raises(ConfigError):
        Machine(MachineConfig(devices=(PvpanicConfig(), PvpanicConfig(ioport=0x600))))
    with pytest.raises(ConfigError):
        Machine(MachineConfig(devices=(PvpanicConfig(id="a"), PvpanicConfig(id="a"))))
    with pytest.raises(ConfigError):
        Machine(MachineConfig(devices=(PvpanicConfig(events=300),)))
