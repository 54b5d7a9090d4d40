"""``qapigen vm``'s command line: QEMU's options for the program, as typed records.

:func:`parse` checks each option's syntax, as QEMU does, and gives the
:class:`Options`; what depends on the whole line is checked as the machine is
built (:mod:`.fleet`).  A refused line is a :class:`CommandLineError` with
QEMU's message.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..runtime.records import NamedTuple

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ..machine import CommandLine
    from .chardev import ChardevSpec

__all__ = [
    "PROG",
    "ChardevMonitor",
    "CommandLineError",
    "Options",
    "TcpMonitor",
    "UnixMonitor",
    "parse",
]

#: The program's name, as its messages spell it.
PROG = "qapigen vm"

_MODELLED_WITH_ARG = {
    "-qmp",
    "-action",
    "-watchdog-action",
    "-device",
    "-name",
    "-pidfile",
    "-machine",
    "-M",
    "-accel",
    "-m",
    "-vga",
    "-nic",
    "-net",
    "-chardev",
    "-mon",
    "-qtest",
    "-qtest-log",
    "-audio",
    "-trace",
    "-serial",
    "-parallel",
}
_IGNORED_WITH_ARG = {
    "-cpu",
    "-smp",
    "-display",
    "-monitor",
    "-boot",
    "-d",
    "-D",
    # The oracle's guest: its disk, its debug console, its firmware.
    "-drive",
    "-debugcon",
    "-bios",
    "-global",
}
_IGNORED_FLAGS = {"-enable-kvm", "-no-user-config"}


class CommandLineError(Exception):
    """A command line the program refuses: ``location`` (None: QEMU names no
    option) and QEMU's message."""

    def __init__(self, location: str | None, message: str) -> None:
        super().__init__(message if location is None else f"{location}: {message}")


def _qmp_monitor(value: str) -> UnixMonitor | TcpMonitor:
    """The monitor a ``-qmp`` value asks for."""
    location = f"-qmp {value}"
    spec, *options = value.split(",")
    for option in options:
        key, _, val = option.partition("=")
        if key not in ("server", "wait", "nowait") or (val and val not in ("on", "off")):
            raise CommandLineError(location, f"Invalid parameter '{key}'")
    if spec.startswith("unix:"):
        return UnixMonitor(spec[5:], location)
    if spec.startswith("tcp:"):
        host, _, port = spec[4:].rpartition(":")
        if not port.isdigit():
            raise CommandLineError(location, f"Failed to parse port '{port}'")
        if host.startswith("[") and host.endswith("]"):  # an IPv6 address, as QEMU writes it
            host = host[1:-1]
        return TcpMonitor(host or "127.0.0.1", int(port), location)
    raise CommandLineError(location, "only unix: and tcp: monitors are simulated")


class UnixMonitor(NamedTuple):
    """A QMP monitor listening on a unix socket at ``path`` (``-qmp unix:PATH``,
    or a fleet's socket); ``location`` is the option that asked for it."""

    path: str
    location: str


class TcpMonitor(NamedTuple):
    """A QMP monitor listening on TCP (``-qmp tcp:HOST:PORT``)."""

    host: str
    port: int
    location: str


class ChardevMonitor(NamedTuple):
    """``-mon chardev=ID,mode=control``: a QMP monitor on a character device."""

    chardev: str
    mode: str | None
    location: str


class Options:
    """What the command line asks for."""

    def __init__(self, cmdline: CommandLine) -> None:
        #: The machine's options, built into a ``MachineConfig`` once the
        #: character devices are open (QEMU's order).
        self.cmdline = cmdline
        #: The ``-qmp`` monitors.
        self.monitors: list[UnixMonitor | TcpMonitor] = []
        #: ``-chardev`` sockets, in order, and ``-mon`` monitors on them.
        self.chardevs: list[ChardevSpec] = []
        self.mons: list[ChardevMonitor] = []
        #: ``-qtest``'s character device (the last one given counts), and ``-qtest-log``.
        self.qtest: str | None = None
        self.qtest_log: str | None = None
        self.pidfile: str | None = None
        #: The ``-qmp`` monitors and ``-chardev`` sockets in command-line order
        #: (the order QEMU makes their character devices in).
        self.backends: list[UnixMonitor | TcpMonitor | ChardevSpec] = []
        #: ``--profile FILE``: the impersonation profile served (None: the shipped one).
        self.profile: str | None = None
        #: Fleet size, and the folder of its sockets.
        self.count = 1
        self.qmp_dir: str | None = None
        #: ``-d guest_errors``, and the ``-D`` file (None: stderr, as QEMU's log).
        self.guest_errors = False
        self.logfile: str | None = None


def parse(argv: Sequence[str]) -> Options:
    """The options of a command line, or :class:`CommandLineError`.

    As QEMU does, only the syntax of each option is checked here; what
    depends on the whole line is checked as the machine is built.
    """
    from ..machine import CommandLine, ConfigError
    from .chardev import ChardevError, parse_chardev

    cmdline = CommandLine()
    options = Options(cmdline)
    monitors = options.monitors
    args = list(argv)
    i = 0
    while i < len(args):
        opt = args[i]
        if opt.startswith("--") and opt not in ("--count", "--qmp-dir", "--profile"):
            opt = opt[1:]  # QEMU accepts --option too
        needs_arg = (
            opt in _MODELLED_WITH_ARG
            or opt in _IGNORED_WITH_ARG
            or opt
            in (
                "--count",
                "--qmp-dir",
                "--profile",
            )
        )
        if needs_arg:
            if i + 1 >= len(args):
                raise CommandLineError(opt, "requires an argument")
            value = args[i + 1]
            i += 2
        else:
            value = ""
            i += 1
        try:
            if opt == "-qmp":
                monitors.append(_qmp_monitor(value))
                options.backends.append(monitors[-1])
            elif opt == "-S":
                cmdline.option_S()
            elif opt == "-action":
                cmdline.action(value)
            elif opt == "-no-shutdown":
                cmdline.no_shutdown()
            elif opt == "-no-reboot":
                cmdline.no_reboot()
            elif opt == "-watchdog-action":
                cmdline.watchdog_action(value)
            elif opt == "-device":
                cmdline.device(value)
            elif opt in ("-machine", "-M"):
                cmdline.machine(value)
            elif opt == "-accel":
                cmdline.accel(value)
            elif opt == "-m":
                cmdline.memory(value)
            elif opt == "-nodefaults":
                cmdline.nodefaults()
            elif opt == "-nographic":
                cmdline.nographic()
            elif opt == "-vga":
                cmdline.vga(value)
            elif opt == "-serial":
                cmdline.serial(value)
            elif opt == "-parallel":
                cmdline.parallel(value)
            elif opt in ("-nic", "-net"):
                cmdline.nic(value, spelling=opt)
            elif opt == "-chardev":
                spec = parse_chardev(value)
                if any(c.id == spec.id for c in options.chardevs):
                    raise CommandLineError(
                        f"-chardev {value}", f"Duplicate ID '{spec.id}' for chardev"
                    )
                options.chardevs.append(spec)
                options.backends.append(spec)
            elif opt == "-mon":
                options.mons.append(_parse_mon(value))
            elif opt == "-qtest":
                options.qtest = value
            elif opt == "-qtest-log":
                options.qtest_log = value
            elif opt == "-audio":
                _check_audio(value)
            elif opt == "-trace":
                pass  # accepted; no trace event is written (docs/behaviour.md)
            elif opt == "-pidfile":
                options.pidfile = value
            elif opt == "-d":
                # QEMU's other log items concern what is not simulated.
                options.guest_errors = "guest_errors" in value.split(",")
            elif opt == "-D":
                options.logfile = value
            elif opt == "--count":
                if not value.isdigit() or int(value) < 1:
                    raise CommandLineError("--count", f"'{value}' is not a positive number")
                options.count = int(value)
            elif opt == "--qmp-dir":
                options.qmp_dir = value
            elif opt == "--profile":
                options.profile = value
            elif opt in _IGNORED_WITH_ARG or opt in _IGNORED_FLAGS or opt == "-name":
                pass
            else:
                raise CommandLineError(opt, "invalid option")
        except ConfigError as err:
            raise CommandLineError(err.location or opt, err.message) from None
        except ChardevError as err:
            raise CommandLineError(err.location or opt, err.message) from None
    if options.count > 1 and options.qmp_dir is None:
        raise CommandLineError("--count", "a fleet needs --qmp-dir")
    if options.count > 1 and (options.qtest or options.mons):
        # One socket cannot serve many machines.
        raise CommandLineError("--count", "a fleet takes no -qtest, -chardev nor -mon")
    return options


def _parse_mon(text: str) -> ChardevMonitor:
    from ..machine import ConfigError
    from ..machine.options import parse_bool, parse_opts

    location = f"-mon {text}"
    chardev: str | None = None
    mode: str | None = None
    for item in parse_opts(text, implied="chardev"):
        if item.name == "chardev":
            chardev = item.value
        elif item.name == "mode":
            mode = item.value
        elif item.name == "pretty":
            if parse_bool(item.value) is None:
                raise ConfigError("Parameter 'pretty' expects 'on' or 'off'", location)
            if parse_bool(item.value):
                raise ConfigError("pretty=on is not simulated", location)
        else:
            raise ConfigError(f"Invalid parameter '{item.name}'", location)
    return ChardevMonitor(chardev or "", mode, location)


def _check_audio(text: str) -> None:
    from ..machine import ConfigError
    from ..machine.options import parse_opts

    for item in parse_opts(text, implied="driver"):
        if item.name == "driver" and item.value != "none":
            # Sound is not simulated: QEMU's words for a driver it lacks.
            raise ConfigError(
                f"Parameter 'driver' does not accept value '{item.value}'", f"-audio {text}"
            )
        if item.name not in ("driver", "id"):
            raise ConfigError(f"Invalid parameter '{item.name}'", f"-audio {text}")
