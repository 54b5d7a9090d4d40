"""Every recorded QEMU scenario, replayed against the simulated machine.

``../shared/oracle/scenarios.json`` holds what a real QEMU 10.0.2 did: its
command line, what the guest wrote, every QMP message, ``query-status`` after
every step and the exit status.  Each scenario is replayed in process:

* the command line becomes a :class:`~qapigen.machine.CommandLine`;
* every command the oracle sent goes through ``qapigen.runtime.Dispatcher``
  (the recorded wire arguments, so bad ones fail with the recorded text);
* the guest is a model of the oracle's boot sector (:class:`BootSector`),
  driving ``machine.guest`` as the real one drove the hardware, with a model of
  the firmware's own reset after ``system_reset`` (:class:`BootSector` says
  when, and why that reset is the firmware's and not the machine's).

and the machine must give the recorded events (names, data, order, also
relative to the replies), replies, ``query-status`` after every step, exit
status and ``-d guest_errors`` log.

Timing: the boot sector waits a second before it writes.  The oracle's steps
that send nothing but ``query-status`` (or nothing at all, when QEMU exited),
other than ``initial`` (sent just after connecting), are the ones where it
waited for the guest; in those the model lets that second pass.  Everything
else the guest does takes no time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qapigen import simulator_api
from qapigen.machine import CommandLine, ConfigError, Machine
from qapigen.runtime import Dispatcher, Event, QMPError

from ..support.paths import shared_dir

# Options that change nothing the simulator shows, with whether they take an
# argument.
_IGNORED = {
    "-machine": True,
    "-M": True,
    "-accel": True,
    "-cpu": True,
    "-smp": True,
    "-display": True,
    "-vga": True,
    "-m": True,
    "-qmp": True,
    "-monitor": True,
    "-serial": True,
    "-chardev": True,
    "-drive": True,
    "-bios": True,
    "-boot": True,
    "-debugcon": True,
    "-global": True,
    "-name": True,
    "-pidfile": True,
    "-D": True,
    "-nodefaults": False,
    "-nographic": False,
    "-no-user-config": False,
    "-enable-kvm": False,
}
_MODELLED_DEVICES = ("pvpanic", "pvpanic-pci")


def _oracle() -> dict[str, Any] | None:
    base = shared_dir()
    path = base / "oracle" / "scenarios.json" if base else None
    if path is None or not path.exists():
        return None
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


_DATA = _oracle()
_SKIP = pytest.mark.skip(reason="../shared/oracle/scenarios.json is absent (set QAPIGEN_SHARED)")


def _params(key: str) -> list[Any]:
    if _DATA is None:
        return [pytest.param(None, marks=_SKIP)]
    items = _DATA[key]
    return [pytest.param(s, id=s.get("name") or " ".join(s["argv"][-2:])) for s in items]


def command_line(argv: list[str]) -> tuple[CommandLine, bool]:
    """The simulator's view of a QEMU command line, and whether ``-d guest_errors``."""
    cl = CommandLine()
    guest_errors = False
    i = 1
    while i < len(argv):
        opt = argv[i]
        if opt == "-S":
            cl.option_S()
        elif opt == "-no-shutdown":
            cl.no_shutdown()
        elif opt == "-no-reboot":
            cl.no_reboot()
        elif opt in ("-action", "-watchdog-action", "-device", "-d"):
            i += 1
            arg = argv[i]
            if opt == "-action":
                cl.action(arg)
            elif opt == "-watchdog-action":
                cl.watchdog_action(arg)
            elif opt == "-device":
                driver = arg.split(",", 1)[0].removeprefix("driver=")
                if driver in _MODELLED_DEVICES:
                    cl.device(arg)
            else:
                guest_errors = "guest_errors" in arg.split(",")
        elif opt in _IGNORED:
            i += _IGNORED[opt]
        else:
            raise AssertionError(f"option {opt} is not handled by the replay")
        i += 1
    return cl, guest_errors


class BootSector:
    """The oracle's guest: a boot sector, and the firmware that loads it.

    The boot sector prints B, waits a second, optionally reads the pvpanic
    register (R + value), prints P, writes each value, prints A and halts.
    A write that stops the CPUs leaves the rest for when they run again.

    The firmware (SeaBIOS) loads it at power-on and after every reset.  After
    a reset that came from the host (``system_reset``), SeaBIOS resets the
    machine once more itself ("Attempting a hard reboot", fact 17) when the
    CPUs next run; that is the recorded ``RESET{guest: true}``, and here it is
    a guest reset made through ``machine.guest.reset()``.  SeaBIOS does so
    because it finds its own traces of an earlier boot in shadow RAM, so the
    model does it only when the firmware has run since its last clean start
    (not after a reset in ``prelaunch`` under ``-S``).  The model learns of
    resets from the machine's RESET events, as the firmware learns of them by
    running from its entry point again.
    """

    def __init__(self, machine: Machine, guest: dict[str, Any]) -> None:
        self.machine = machine
        self.writes: list[int] = guest["writes"]
        self.reads: bool = guest["reads_event_register"]
        self.pci = "pci" in guest["device"]
        self.markers: list[str] = []
        self.read_values: list[int] = []
        self.pc = "boot"
        self.next_write = 0
        self.posted = False  # whether the firmware ran since its last clean start
        machine.subscribe(self._on_event)

    def _on_event(self, event: Event, timestamp: float) -> None:
        if isinstance(event, simulator_api.ResetEvent):
            # Any reset sends the CPUs back to the firmware's entry point.
            if not event.guest and self.posted:
                self.pc = "firmware-reset"
            else:
                self.pc = "boot"
                self.posted = False

    def run(self, time_passes: bool) -> None:
        """Execute until the guest blocks: halted, waiting, or CPUs stopped."""
        m = self.machine
        while not m.exited and m.running:
            if self.pc == "firmware-reset":
                m.guest.reset()  # sets self.pc through the RESET event
            elif self.pc == "boot":
                self.posted = True
                self.markers.append("B")
                if self.pci:
                    self.markers.append("F")  # the boot sector found the PCI device
                self.pc = "delay"
            elif self.pc == "delay":
                if not time_passes:
                    return
                time_passes = False
                self.pc = "read"
            elif self.pc == "read":
                if self.reads:
                    value = m.guest.pvpanic_read()
                    self.read_values.append(value)
                    self.markers.append(f"R{value}")
                if self.writes:
                    self.markers.append("P")
                self.pc = "write"
                self.next_write = 0
            elif self.pc == "write":
                if self.next_write == len(self.writes):
                    self.markers.append("A")
                    self.pc = "halted"
                else:
                    value = self.writes[self.next_write]
                    self.next_write += 1
                    m.guest.pvpanic_write(value)
            else:  # halted
                return


_NEGOTIATED = {
    "error": {
        "class": "CommandNotFound",
        "desc": "Capabilities negotiation is already complete, command ignored",
    }
}


def _steps(transcript: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    steps: list[tuple[str, list[dict[str, Any]]]] = []
    for entry in transcript:
        if not steps or steps[-1][0] != entry["step"]:
            steps.append((entry["step"], []))
        steps[-1][1].append(entry)
    return steps


def _expected(entry: dict[str, Any]) -> tuple[Any, ...] | None:
    if entry["dir"] == "eof":
        return ("eof",)
    if entry["dir"] != "recv" or entry["kind"] == "greeting":
        return None
    msg = entry["msg"]
    if entry["kind"] == "event":
        return ("event", msg["event"], msg.get("data"))
    # Echoing the id is the QMP server's business, not the machine's.
    return ("reply", {k: v for k, v in msg.items() if k != "id"})


def _is_wait_step(label: str, entries: list[dict[str, Any]]) -> bool:
    # A step that sends nothing (QEMU exited before the oracle could ask) is
    # a wait too; the first three are over before the guest's second passes.
    if label in ("connect", "negotiate", "initial"):
        return False
    sends = [json.loads(e["text"]) for e in entries if e["dir"] == "send"]
    return all(s.get("execute") == "query-status" for s in sends)


@pytest.mark.parametrize("scenario", _params("scenarios"))
def test_scenario_replays(scenario: dict[str, Any]) -> None:
    """Same events, replies, statuses, exit status and guest-error log as QEMU."""
    cl, guest_errors = command_line(scenario["argv"])
    log: list[str] = []
    machine = Machine(cl.build(), guest_error_log=log.append if guest_errors else None)
    seen: list[tuple[Any, ...]] = []
    machine.subscribe(
        lambda event, ts: seen.append(
            ("event", event.NAME, event.to_wire() if event.HAS_DATA else None)
        )
    )
    guest = BootSector(machine, scenario["guest"])
    dispatcher = Dispatcher(simulator_api.COMMANDS, machine)
    guest.run(time_passes=False)  # power-on, up to the boot sector's wait

    negotiated = False
    timeline = {t["label"]: t for t in scenario["status_timeline"]}
    for label, entries in _steps(scenario["transcript"]):
        seen.clear()
        if _is_wait_step(label, entries):
            guest.run(time_passes=True)
        for entry in entries:
            if entry["dir"] != "send":
                continue
            request = json.loads(entry["text"])
            name = request["execute"]
            if name == "qmp_capabilities":
                # The QMP server's business: it succeeds once per session.
                seen.append(("reply", _NEGOTIATED if negotiated else {"return": {}}))
                negotiated = True
                continue
            try:
                result = dispatcher.dispatch(name, request.get("arguments"))
            except QMPError as err:
                seen.append(("reply", {"error": err.to_wire()}))
            else:
                seen.append(("reply", {"return": result}))
            guest.run(time_passes=False)  # the guest goes on at once if it can
        if machine.exited:
            seen.append(("eof",))
        expected = [x for x in map(_expected, entries) if x is not None]
        assert seen == expected, f"step {label}"
        status = timeline.get(label)
        if status is not None:
            if "skipped" in status:
                assert machine.exited, f"step {label}"
            else:
                info = machine.query_status()
                got = {"status": info.status.value, "running": info.running}
                assert got == {"status": status["status"], "running": status["running"]}

    if scenario["exit"].get("killed_by_oracle"):
        assert not machine.exited
    else:
        assert machine.exit_status == scenario["exit"]["exit_status"]
    debugcon = scenario["debugcon"]
    assert guest.read_values == debugcon.get("read_values", [])
    # Whether the instruction after a shutdown request ran before the CPUs
    # stopped is a matter of thread timing (fact 8); compare without the A's.
    recorded = "".join(
        t["marker"] + (str(t["value"]) if "value" in t else "") for t in debugcon["tokens"]
    )
    assert "".join(guest.markers).replace("A", "") == recorded.replace("A", "")
    if guest_errors:
        assert "".join(log) == scenario["qemu_d_log"]


@pytest.mark.parametrize("case", _params("command_line_errors"))
def test_command_line_errors(case: dict[str, Any]) -> None:
    """Bad options are refused with QEMU's message (fact 20)."""
    with pytest.raises(ConfigError) as info:
        cl, _ = command_line(case["argv"])
        cl.build()
    assert case["exit_status"] == 1
    assert f"qemu-system-x86_64: {info.value}\n" == case["stderr"]
