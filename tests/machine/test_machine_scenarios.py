"""Every recorded QEMU scenario, replayed against the simulated machine.

``../shared/oracle/scenarios.json`` holds what a real QEMU 10.0.2 did: its
command line, what the guest wrote, every QMP message, ``query-status`` after
every step and the exit status.  Each scenario is replayed in process:

* the command line becomes a :class:`~qapigen.machine.CommandLine`;
* every command the oracle sent goes through ``qapigen.runtime.Dispatcher``
  (the recorded wire arguments, so bad ones fail with the recorded text);
* the guest is a model of the oracle's boot sector (``BootSector``, in
  ``tests/support/boot_sector.py``), driving ``machine.guest`` as the real one
  drove the hardware, with a model of the firmware's own reset after
  ``system_reset`` (``BootSector`` says when, and why that reset is the
  firmware's and not the machine's).

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
from typing import Any

import pytest

from qapigen import simulator_api
from qapigen.machine import CommandLine, ConfigError, Machine
from qapigen.runtime import Dispatcher, QMPError

from ..support.boot_sector import BootSector
from ..support.oracle_scenarios import is_wait_step, oracle_params, transcript_steps

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


_NEGOTIATED = {
    "error": {
        "class": "CommandNotFound",
        "desc": "Capabilities negotiation is already complete, command ignored",
    }
}


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


@pytest.mark.parametrize("scenario", oracle_params("scenarios"))
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
    for label, entries in transcript_steps(scenario["transcript"]):
        seen.clear()
        if is_wait_step(label, entries):
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


@pytest.mark.parametrize("case", oracle_params("command_line_errors"))
def test_command_line_errors(case: dict[str, Any]) -> None:
    """Bad options are refused with QEMU's message (fact 20)."""
    with pytest.raises(ConfigError) as info:
        cl, _ = command_line(case["argv"])
        cl.build()
    assert case["exit_status"] == 1
    assert f"qemu-system-x86_64: {info.value}\n" == case["stderr"]
