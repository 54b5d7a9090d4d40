"""The guest of a libvirt test domain, for each emulator.

Not a test module.  Real QEMU runs the guest's boot sector
(``guest_images.py``) and SeaBIOS: what the guest does, it does by itself.
``qapigen vm`` runs no guest code: its guest is played through QMP, over the
only monitor there is, libvirt's (``virsh qemu-monitor-command``), with the
simulator's ``x-guest-*`` commands, at the moments real QEMU's guest acts:

* the boot sector's panic: ``x-guest-pvpanic-write`` 1, once the domain runs;
* its answer to the power button (ACPI): ``x-guest-shutdown``, once libvirt
  has pressed it (``system_powerdown``);
* SeaBIOS's own reset after a host's reset (the oracle's fact 17, "Attempting
  a hard reboot"): ``x-guest-reset``, once the CPUs run again; until then the
  command fails (its CPUs are not executing) and is tried again.

The tests call the same methods for both emulators; for real QEMU they do
nothing.  ``libvirt_domain.qmp_summary`` leaves the played commands out of
libvirt's: they are the guest's.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from .guest_images import POWER_BUTTON_WAIT
from .libvirtd import Libvirtd, LibvirtError

# The simulator's error for a guest's action while its CPUs do not run.
_NOT_EXECUTING = "The guest's virtual CPUs are not executing"
_RETRY_WAIT = 0.05  # seconds between tries of a command whose time has not come
_RETRY_TIMEOUT = 60.0


class Guest:
    """What a test domain's guest does, at the test's word: here, by itself (real QEMU)."""

    def __init__(self, libvirtd: Libvirtd, domain: str) -> None:
        self._libvirtd = libvirtd
        self._domain = domain

    def _execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """A QMP command over libvirt's monitor; :class:`LibvirtError` for an error reply."""
        message: dict[str, Any] = {"execute": command}
        if arguments is not None:
            message["arguments"] = arguments
        reply = json.loads(
            self._libvirtd.virsh("qemu-monitor-command", self._domain, json.dumps(message))
        )
        if "error" in reply:
            raise LibvirtError(f"{command}: {reply['error']['desc']}")
        return reply["return"]

    def panic(self) -> None:
        """The guest panics (real QEMU's ``panicking_once`` guest does at its first boot)."""

    def await_power_button(self) -> None:
        """Returns once the guest would hear the power button.

        Real QEMU's ``answering_power_button`` guest hears it once its boot
        sector has enabled it: until then (SeaBIOS booting, after a start or
        a reset) a press is lost.  Its CPU is watched (HMP's ``info
        registers``) until it runs the loop that waits for the button; call
        this before the action whose log is read, which this does not touch.
        """
        deadline = time.monotonic() + _RETRY_TIMEOUT
        while True:
            registers = self._execute("human-monitor-command", {"command-line": "info registers"})
            cs = re.search(r"^CS =([0-9a-f]{4}) ", registers, re.MULTILINE)
            eip = re.search(r"\bEIP=([0-9a-f]{8})\b", registers)
            if (
                cs
                and eip
                and int(cs.group(1), 16) == 0
                and int(eip.group(1), 16) in (POWER_BUTTON_WAIT)
            ):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the guest never waited for the power button: {registers}")
            time.sleep(_RETRY_WAIT)

    def answer_power_button(self) -> None:
        """The guest powers the machine off, having heard the power button
        (real QEMU's ``answering_power_button`` guest does)."""

    def firmware_reset(self) -> None:
        """The firmware resets the machine once more after a host's reset (SeaBIOS does)."""


class PlayedGuest(Guest):
    """The guest of a ``qapigen vm`` domain, played through libvirt's monitor."""

    def panic(self) -> None:
        self._execute("x-guest-pvpanic-write", {"value": 1})

    def await_power_button(self) -> None:
        pass  # the played guest is always ready

    def answer_power_button(self) -> None:
        self._execute("x-guest-shutdown")

    def firmware_reset(self) -> None:
        # libvirt resets, then resumes the CPUs, in its own time: the firmware
        # acts once they run.
        deadline = time.monotonic() + _RETRY_TIMEOUT
        while True:
            try:
                self._execute("x-guest-reset")
                return
            except LibvirtError as error:
                if _NOT_EXECUTING not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(_RETRY_WAIT)
