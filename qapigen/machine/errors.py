"""Errors of the simulated machine.

Failures a QMP client can cause are :class:`qapigen.runtime.QMPError` (an error
class and QEMU's text), so that the dispatcher and the Python API report them
alike.  The rest are programming errors or configuration errors.
"""

from __future__ import annotations

from qapigen.runtime.errors import QMPError


class ConfigError(ValueError):
    """A command-line setting QEMU refuses, with QEMU's message.

    ``location`` is the command-line option QEMU blames (``-action panic=bogus``),
    ``message`` its complaint (``Parameter 'panic' does not accept value 'bogus'``).
    ``str()`` gives both the way QEMU prints them after its program name:
    ``qemu-system-x86_64: -action panic=bogus: Parameter 'panic' does not ...``.
    """

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class GuestNotRunning(QMPError):
    """A guest-side action while the virtual CPUs are not executing.

    A halted guest cannot execute instructions, so it cannot touch a device,
    shut itself down or let its watchdog run out (the watchdog's clock is
    the virtual clock, which stops with the CPUs).
    """

    def __init__(self, status: str) -> None:
        super().__init__(
            "GenericError", f"The guest's virtual CPUs are not executing (status: {status})"
        )


class MachineExited(RuntimeError):
    """The machine was used after its emulator process would have exited."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the machine has exited with status {status}")
        self.status = status
