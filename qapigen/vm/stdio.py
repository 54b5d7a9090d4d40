"""``qapigen vm``'s ``stdio`` character device: a QMP monitor on the program's
standard input and output (``-qmp stdio``, or ``-chardev stdio,id=ID`` with
``-mon chardev=ID,mode=control``), as QEMU 10.0 has it.

One character device at a time may use stdio: QEMU refuses a second one
(``cannot use stdio by multiple character devices``), and one under
``-daemonize`` (``cannot use stdio with -daemonize``), where the device is
made: the ``-chardev``, ``-qmp`` and ``-monitor`` options in command-line
order, before the machine.  The serial and parallel ports' and the debug
console's devices (``-serial stdio``, ``-serial mon:stdio``, ``-parallel``,
``-debugcon``, and ``-nographic``'s default serial port) are made after the
monitors: QEMU then fails (:func:`check_ports`), its monitor's greeting
out or not (its I/O thread races the exit; mostly not), the simulator's not.
Under ``-daemonize`` all of them are refused (``cannot use stdio with
-daemonize``), and ``-nographic`` (which puts the default ports and monitor on
stdio) before any device is made (:func:`refuse_under_daemonize`).

The monitor itself is :class:`qapigen.qmp.stdio.StdioClient`: it goes on
after the end of its input (its events are still written), as QEMU's does.
Stdin and stdout are made non-blocking while the program runs, as QEMU makes
them (the flag belongs to the file, which the program's parent may share):
what stdout does not take at once waits for room (:mod:`qapigen.qmp.stdio`).  With
``signal=off`` and a terminal on stdin, the terminal's interrupt keys are
plain input for as long as the program runs (QEMU clears ``ISIG``); the
terminal is otherwise left as it is (a QMP monitor turns echo back on).
Both are put back as they were when the program ends.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .chardev import ChardevError
from .daemon import is_daemonized
from .options import PROG, CommandLineError

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..qmp.selector_server import SelectorServer
    from .chardev import ChardevSpec
    from .options import Options

__all__ = [
    "STDIO_VALUES",
    "StdioChardev",
    "check_ports",
    "open_stdio",
    "refuse_under_daemonize",
]

#: The short forms of a character device that use stdio.
STDIO_VALUES = ("stdio", "mon:stdio")

_MULTIPLE = "cannot use stdio by multiple character devices"
_DAEMONIZE = "cannot use stdio with -daemonize"
# Whether a character device uses stdio (QEMU's stdio_in_use).
_in_use = False


class StdioChardev:
    """The stdio character device of ``spec``: the claim on the program's
    standard input and output, until :meth:`close`."""

    def __init__(self, spec: ChardevSpec) -> None:
        global _in_use
        self.spec = spec
        _in_use = True
        # Whether stdin and stdout were blocking: QEMU makes them non-blocking,
        # and puts their flags back at exit.
        self._blocking: list[tuple[int, bool]] = []
        for fd in (0, 1):
            with contextlib.suppress(OSError):
                self._blocking.append((fd, os.get_blocking(fd)))
                os.set_blocking(fd, False)
        # A terminal's settings to put back (signal=off only).
        self._terminal: list[Any] | None = None
        if not spec.signal:
            self._terminal = _clear_isig()

    def serve(self, server: SelectorServer) -> None:
        """Serve ``server``'s QMP on stdin and stdout (greeted at once)."""
        from ..qmp.stdio import StdioClient

        StdioClient(server, 0, 1)

    def close(self) -> None:
        """Let stdio go, the terminal's settings back as they were."""
        global _in_use
        _in_use = False
        for fd, blocking in self._blocking:
            with contextlib.suppress(OSError):
                os.set_blocking(fd, blocking)
        self._blocking = []
        if self._terminal is not None:
            import termios

            # No longer a terminal: nothing to put back.
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(0, termios.TCSANOW, self._terminal)
            self._terminal = None


def open_stdio(spec: ChardevSpec, options: Options) -> StdioChardev:
    """The stdio device of ``spec``, or QEMU's :class:`ChardevError`: under
    ``-daemonize``, or when another device has stdio (a ``-monitor stdio``
    among them, though the simulator makes no device for it: a human monitor
    is not simulated)."""
    if is_daemonized():
        raise ChardevError(_DAEMONIZE, spec.location)
    at = options.chardevs.index(spec)
    monitors = [
        (where, value)
        for opt, value, where in options.char_options
        if opt == "-monitor" and value in STDIO_VALUES
    ]
    if _in_use or any(where <= at for where, _ in monitors):
        raise ChardevError(_MULTIPLE, spec.location)
    for _, value in monitors:  # one after this device (made later in QEMU)
        raise ChardevError(_MULTIPLE, f"-monitor {value}")
    # Python found no stdin or stdout at start (their descriptors may be other
    # files of the program's by now): QEMU fails to make them non-blocking
    # (stdout's failure is an assertion that aborts it).
    if sys.stdin is None or sys.stdout is None:
        raise ChardevError("Failed to set FD nonblocking: Bad file descriptor", spec.location)
    return StdioChardev(spec)


def refuse_under_daemonize(options: Options) -> None:
    """What wants stdio under ``-daemonize`` and is no stdio chardev (whose
    opening refuses it, :func:`open_stdio`): ``-nographic`` with a default
    port or monitor left on stdio, a ``-monitor``, ``-serial``, ``-parallel``
    or ``-debugcon`` on stdio; QEMU's :class:`CommandLineError`, in its order."""
    _refuse_nographic(options)
    first = next((at for at, spec in enumerate(options.chardevs) if spec.stdio), None)
    for opt, value, at in options.char_options:
        if opt == "-monitor" and value in STDIO_VALUES and (first is None or at <= first):
            raise CommandLineError(f"-monitor {value}", _DAEMONIZE)
    if first is None:
        error = _late_conflict(options, None, _DAEMONIZE)
        if error is not None:
            raise error


def _refuse_nographic(options: Options) -> None:
    """``-nographic`` under ``-daemonize``, with a default port or monitor left
    on stdio: QEMU's :class:`CommandLineError`."""
    found = _found(options)
    if not found["-nographic"]:
        return
    defaults = not found["-nodefaults"]
    board = _machine_type(options) != "none"  # the none machine has no ports
    serial = defaults and board and not found["-serial"]
    parallel = defaults and board and not found["-parallel"]
    if serial or parallel or (defaults and not _has_monitor(options)):
        raise CommandLineError(None, "-nographic cannot be used with -daemonize")


def _has_monitor(options: Options) -> bool:
    """Whether a monitor is asked for, so that QEMU makes no default one
    (``-qmp``, ``-mon``, ``-monitor``, a port muxed with one: ``mon:``)."""
    if options.monitors or options.mons:
        return True
    return any(
        opt == "-monitor" or (opt in ("-serial", "-parallel") and value.startswith("mon:"))
        for opt, value, _ in options.char_options
    )


def _found(options: Options) -> dict[str, bool]:
    found = dict.fromkeys(("-nographic", "-nodefaults", "-serial", "-parallel", "-monitor"), False)
    for opt, _, _ in options.char_options:
        found[opt] = True
    return found


def _machine_type(options: Options) -> str | None:
    """The machine type the ``-machine`` options name (the last one), or None."""
    from ..machine.options import parse_opts

    name = None
    for opt, value, _ in options.char_options:
        if opt in ("-machine", "-M"):
            for item in parse_opts(value, implied="type"):
                if item.name == "type":
                    name = item.value
    return name


def check_ports(options: Options, machine_type: str) -> None:
    """QEMU's :class:`CommandLineError` for the first port or console that
    wants stdio, given a ``stdio`` chardev (made after the monitors, once the
    machine is checked: nothing is greeted on stdio before)."""
    error = _late_conflict(options, machine_type, _MULTIPLE)
    if error is not None:
        raise error


def _late_conflict(options: Options, machine_type: str | None, why: str) -> CommandLineError | None:
    """The first port or console on stdio (-nographic's serial port, if
    ``machine_type`` is given and has one), refused for ``why``."""
    serials: list[str] = []
    parallels: list[str] = []
    debugcons: list[str] = []
    nographic = nodefaults = False
    for opt, value, _ in options.char_options:
        if opt == "-serial":
            serials.append(value)
        elif opt == "-parallel":
            parallels.append(value)
        elif opt == "-debugcon":
            debugcons.append(value)
        elif opt == "-nographic":
            nographic = True
        elif opt == "-nodefaults":
            nodefaults = True
    board = machine_type is not None and machine_type != "none"
    if nographic and not serials and not nodefaults and board:
        # -nographic's serial port, with the default monitor muxed on it if
        # no other monitor is asked for.
        value = "stdio" if _has_monitor(options) else "mon:stdio"
        return CommandLineError(None, _late_message(why, None, "serial", value))
    for kind, values in (("serial", serials), ("parallel", parallels)):
        for value in values:
            if value in STDIO_VALUES:
                location = f"-{kind} {value}"
                return CommandLineError(location, _late_message(why, location, kind, value))
    for value in debugcons:
        if value in STDIO_VALUES:
            location = f"-debugcon {value}"
            return CommandLineError(
                location, f"{why}\n{PROG}: {location}: invalid character backend '{value}'"
            )
    return None


def _late_message(why: str, location: str | None, kind: str, value: str) -> str:
    where = f"{PROG}: " if location is None else f"{PROG}: {location}: "
    return f"{why}\n{where}could not connect {kind} device to character backend '{value}'"


def _clear_isig() -> list[Any] | None:
    """Clear a terminal's ``ISIG`` on stdin; its settings before (None: not a terminal)."""
    import termios

    try:
        before = termios.tcgetattr(0)
    except (OSError, termios.error):
        return None
    after = list(before)
    after[3] = int(after[3]) & ~termios.ISIG  # the local modes
    try:
        termios.tcsetattr(0, termios.TCSANOW, after)
    except (OSError, termios.error):
        return None
    return before
