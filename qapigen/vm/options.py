"""``qapigen vm``'s command line: QEMU's options for the program, as typed records.

:func:`parse` checks each option's syntax, as QEMU does, and gives the
:class:`Options`; what depends on the whole line is checked as the machine is
built (:mod:`.fleet`).  A refused line is a :class:`CommandLineError` with
QEMU's message.
"""

from __future__ import annotations

from ..runtime.records import NamedTuple

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..machine import CommandLine
    from .catalogue import ProfileCatalogue
    from .chardev import ChardevSpec
    from .drives import DriveParser

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
    "-object",
    "-blockdev",
    "-drive",
    "-hda",
    "-hdb",
    "-hdc",
    "-hdd",
    "-cdrom",
    "-fda",
    "-fdb",
    "-audiodev",
    "-uuid",
    "-rtc",
    "-overcommit",
    "-sandbox",
    "-msg",
    "-boot",
    "-smp",
    "-cpu",
    "-display",
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
    "-monitor",
    "-d",
    "-D",
    # The oracle's guest: its debug console, its firmware.
    "-debugcon",
    "-bios",
    "-global",
}
_IGNORED_FLAGS = {"-no-user-config"}
_MODELLED_FLAGS = {
    "-S",
    "-enable-kvm",
    "-no-shutdown",
    "-no-reboot",
    "-nodefaults",
    "-nographic",
    "-daemonize",
    "-version",
    "-h",
    "-help",
}
# The program's own options (two dashes), and whether they take an argument.
_OWN_OPTIONS = {"--count": True, "--qmp-dir": True, "--profile": True, "--help": False}
# What a positional argument (a disk image, QEMU's -hda) is filed under.
_IMAGE = ""
# QEMU's shorthands for a -drive.
_LEGACY_DRIVES = ("-hda", "-hdb", "-hdc", "-hdd", "-cdrom", "-fda", "-fdb")
# The help options QEMU answers once the line is read, and the profile's key for each.
HELP_QUERIES = {"-device": "-device help", "-cpu": "-cpu help"}
# -display's types (QEMU's DisplayType), and those Debian's binary has without
# its GUI packages.
_DISPLAY_TYPES = (
    "default",
    "none",
    "gtk",
    "sdl",
    "egl-headless",
    "curses",
    "cocoa",
    "spice-app",
    "dbus",
)
_DISPLAYS_BUILT = ("none", "curses")


class CommandLineError(Exception):
    """A command line the program refuses: ``location`` (None: QEMU names no
    option) and QEMU's message; ``warnings``, what QEMU printed before it."""

    def __init__(self, location: str | None, message: str) -> None:
        super().__init__(message if location is None else f"{location}: {message}")
        self.warnings: list[str] = []


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
    """``-mon chardev=ID[,id=NAME],mode=control``: a QMP monitor on a character device."""

    chardev: str
    mode: str | None
    location: str
    id: str | None = None


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
        #: Fleet size, and the folder of its sockets.
        self.count = 1
        self.qmp_dir: str | None = None
        #: ``-d guest_errors``, and the ``-D`` file (None: stderr, as QEMU's log).
        self.guest_errors = False
        self.logfile: str | None = None
        #: ``-daemonize``: the parent exits once the machine serves.
        self.daemonize = False
        #: What to print instead of running: ``-version``, ``-h``, ``-machine
        #: help`` ... (the profile's key), or ``--help`` (the program's own).
        self.help: str | None = None
        #: ``--profile FILE``: the impersonation profile served (None: the
        #: shipped one), and what it says the impersonated QEMU has (read when
        #: first asked).
        self.profile: str | None = None
        self._catalogue: ProfileCatalogue | None = None
        #: The ``-drive`` options' reader (made by the first one).
        self.drives: DriveParser | None = None

    @property
    def catalogue(self) -> ProfileCatalogue:
        """The impersonated QEMU's device models, types and CPU models."""
        if self._catalogue is None:
            from .catalogue import ProfileCatalogue

            self._catalogue = ProfileCatalogue(self.profile)
        return self._catalogue

    @property
    def has_monitor(self) -> bool:
        """Whether anything can drive the machine: a QMP monitor or qtest."""
        return bool(self.monitors or self.mons or self.qtest or self.qmp_dir)


def parse(argv: Sequence[str]) -> Options:
    """The options of a command line, or :class:`CommandLineError`.

    As QEMU does, only the syntax of each option is checked here; what
    depends on the whole line is checked as the machine is built.
    """
    from ..machine import CommandLine, ConfigError
    from ..machine.options import parse_opts

    cmdline = CommandLine()
    options = Options(cmdline)
    monitors = options.monitors
    items = _split(argv)
    if any(opt == "--help" for opt, _ in items):
        options.help = "--help"
        return options
    try:
        for opt, value in items:
            try:
                if opt in ("-version", "-h", "-help"):
                    # QEMU answers these as it meets them, and exits.
                    options.help = "-h" if opt == "-help" else opt
                    return options
                if opt in ("-machine", "-M") and _asks_help("-machine", value):
                    options.help = "-machine help"  # answered at once, as -version
                    return options
                if opt in HELP_QUERIES and _asks_help(opt, value):
                    # Answered once the whole line is read; the CPUs before the
                    # devices, the first -device that asks among them.
                    if options.help is None or opt == "-cpu":
                        options.help = HELP_QUERIES[opt]
                    continue
                if opt == "-device" and _asks_properties(value):
                    if options.help is None:
                        options.help = f"-device {value}"  # -device DRIVER,help
                    continue
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
                    from .structured import device

                    device(cmdline, value)
                elif opt == "-object":
                    from .structured import object_

                    object_(cmdline, options.catalogue, value)
                elif opt == "-blockdev":
                    from .structured import blockdev

                    blockdev(cmdline, options.catalogue, value)
                elif opt in ("-drive", _IMAGE) or opt in _LEGACY_DRIVES:
                    drives = options.drives
                    if drives is None:
                        from .drives import DriveParser

                        drives = options.drives = DriveParser()
                    if opt == _IMAGE:
                        drives.positional(cmdline, value)
                    elif opt in _LEGACY_DRIVES:
                        drives.legacy(cmdline, opt, value)
                    else:
                        drives.drive(cmdline, options.catalogue, value)
                elif opt == "-audiodev":
                    from .structured import audiodev

                    audiodev(options.catalogue, value)
                elif opt == "-smp":
                    cmdline.smp(value)
                elif opt == "-cpu":
                    cmdline.cpu(value)
                elif opt == "-daemonize":
                    options.daemonize = True
                elif opt == "-uuid":
                    _check_uuid(value)
                elif opt == "-name":
                    _check_keys(
                        f"-name {value}",
                        value,
                        "guest",
                        {"guest": None, "process": None, "debug-threads": "bool"},
                    )
                elif opt == "-rtc":
                    _check_rtc(value)
                elif opt == "-overcommit":
                    _check_keys(
                        f"-overcommit {value}",
                        value,
                        None,
                        {"mem-lock": "mem-lock", "cpu-pm": "bool"},
                    )
                elif opt == "-sandbox":
                    _check_sandbox(value)
                elif opt == "-msg":
                    _check_keys(
                        f"-msg {value}", value, None, {"timestamp": "bool", "guest-name": "bool"}
                    )
                elif opt == "-boot":
                    _check_boot(value)
                    for item in parse_opts(value, implied="order"):
                        if item.name in ("order", "once"):
                            cmdline.boot(item.value)
                elif opt == "-display":
                    _check_display(value)
                elif opt in ("-machine", "-M"):
                    cmdline.machine(value)
                elif opt == "-accel":
                    cmdline.accel(value)
                elif opt == "-enable-kvm":
                    cmdline.machine("accel=kvm")  # QEMU's own spelling of it
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
                    from .chardev import ChardevError, parse_chardev

                    try:
                        spec = parse_chardev(value)
                    except ChardevError as err:
                        raise CommandLineError(err.location or opt, err.message) from None
                    if any(c.id == spec.id for c in options.chardevs):
                        raise CommandLineError(
                            f"-chardev {value}", f"Duplicate ID '{spec.id}' for chardev"
                        )
                    options.chardevs.append(spec)
                    options.backends.append(spec)
                elif opt == "-mon":
                    options.mons.append(_parse_mon(value, options.mons))
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
                elif opt in _IGNORED_WITH_ARG or opt in _IGNORED_FLAGS:
                    pass
                else:
                    raise AssertionError(opt)  # _split() let through only what is handled
            except ConfigError as err:
                raise CommandLineError(err.location or opt, err.message) from None
    except CommandLineError as err:
        err.warnings = list(cmdline.warnings)  # QEMU printed them as it read the line
        raise
    if options.help is not None:
        return options
    if options.count > 1 and options.qmp_dir is None:
        raise CommandLineError("--count", "a fleet needs --qmp-dir")
    if options.count > 1 and (options.qtest or options.mons):
        # One socket cannot serve many machines.
        raise CommandLineError("--count", "a fleet takes no -qtest, -chardev nor -mon")
    return options


def _split(argv: Sequence[str]) -> list[tuple[str, str]]:
    """The options and their arguments, checked first as QEMU does: an unknown
    option or a missing argument is refused before anything else is looked at."""
    items: list[tuple[str, str]] = []
    args = list(argv)
    i = 0
    while i < len(args):
        opt = args[i]
        if not opt.startswith("-"):
            items.append((_IMAGE, opt))  # QEMU's -hda
            i += 1
            continue
        if opt in _OWN_OPTIONS:
            needs_arg = _OWN_OPTIONS[opt]
        else:
            if opt.startswith("--"):
                opt = opt[1:]  # QEMU accepts --option too
            needs_arg = opt in _MODELLED_WITH_ARG or opt in _IGNORED_WITH_ARG
            if not needs_arg and opt not in _MODELLED_FLAGS and opt not in _IGNORED_FLAGS:
                raise CommandLineError(opt, "invalid option")
        if needs_arg:
            if i + 1 >= len(args):
                raise CommandLineError(opt, "requires an argument")
            items.append((opt, args[i + 1]))
            i += 2
        else:
            items.append((opt, ""))
            i += 1
    return items


def _asks_help(opt: str, value: str) -> bool:
    """Whether ``-machine``/``-device``/``-cpu`` asks for the list of models."""
    first = value.split(",", 1)[0]
    if opt == "-machine" and first.startswith("type="):
        first = first[5:]
    return first in ("help", "?")


def _asks_properties(value: str) -> bool:
    """Whether a key=value ``-device`` asks for its driver's properties (``help``
    or ``?`` among its items)."""
    from ..machine.options import parse_opts

    if value.startswith("{") or not ("help" in value or "?" in value):
        return False
    return any(item.is_help for item in parse_opts(value, implied="driver"))


_UUID_GROUPS = (8, 4, 4, 4, 12)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _check_uuid(text: str) -> None:
    """``-uuid``: 36 characters, hexadecimal digits in groups of 8-4-4-4-12."""
    groups = text.split("-")
    if (
        len(text) != 36
        or [len(g) for g in groups] != list(_UUID_GROUPS)
        or not all(set(g) <= _HEX_DIGITS for g in groups)
    ):
        raise CommandLineError(f"-uuid {text}", "failed to parse UUID string: wrong format")


def _check_keys(location: str, text: str, implied: str | None, keys: dict[str, str | None]) -> None:
    """An option's ``key=value`` items: known keys, and (where typed) their values."""
    from ..machine import ConfigError
    from ..machine.options import parse_bool, parse_opts

    for item in parse_opts(text, implied=implied):
        if item.name not in keys:
            raise ConfigError(f"Invalid parameter '{item.name}'", location)
        kind = keys[item.name]
        if kind == "bool" and parse_bool(item.value) is None:
            raise ConfigError(f"Parameter '{item.name}' expects 'on' or 'off'", location)
        if kind == "mem-lock" and item.value not in ("on", "off", "on-fault"):
            raise ConfigError(
                f"parameter '{item.name}' expects one of 'on', 'off', 'on-fault'", location
            )


def _check_rtc(text: str) -> None:
    """``-rtc [base=utc|localtime|DATE][,clock=host|rt|vm][,driftfix=none|slew]``:
    checked, then without effect (the simulated board has no clock chip)."""
    from ..machine.options import parse_opts

    location = f"-rtc {text}"
    _check_keys(location, text, None, {"base": None, "clock": None, "driftfix": None})
    for item in parse_opts(text):
        if item.name == "base" and item.value not in ("utc", "localtime", *_dates(item.value)):
            raise CommandLineError(
                None,
                "invalid datetime format\nvalid formats: '2006-06-17T16:01:21' or '2006-06-17'",
            )
        allowed = {"clock": ("host", "rt", "vm"), "driftfix": ("none", "slew")}.get(item.name)
        if allowed is not None and item.value not in allowed:
            raise CommandLineError(None, f"invalid option value '{item.value}'")


def _dates(text: str) -> tuple[str, ...]:
    """``(text,)`` if ``-rtc base=`` is a date (``2006-06-17``) or a time
    (``2006-06-17T16:01:21``), else nothing."""
    import re

    return (text,) if re.match(r"\d+-\d+-\d+(T\d+:\d+:\d+)?\Z", text) else ()


_SANDBOX_VALUES = {
    "obsolete": ("allow", "deny"),
    "elevateprivileges": ("allow", "deny", "children"),
    "spawn": ("allow", "deny"),
    "resourcecontrol": ("allow", "deny"),
}


def _check_sandbox(text: str) -> None:
    """``-sandbox on|off[,obsolete=..][,elevateprivileges=..][,spawn=..][,resourcecontrol=..]``:
    checked, then without effect (the simulator makes no system calls a filter would stop)."""
    from ..machine import ConfigError
    from ..machine.options import parse_bool, parse_opts

    location = f"-sandbox {text}"
    for item in parse_opts(text, implied="enable"):
        if item.name == "enable":
            if parse_bool(item.value) is None:
                raise ConfigError("Parameter 'enable' expects 'on' or 'off'", location)
        elif item.name not in _SANDBOX_VALUES:
            raise ConfigError(f"Invalid parameter '{item.name}'", location)
        elif item.value not in _SANDBOX_VALUES[item.name]:
            raise ConfigError(f"invalid argument for {item.name}", location)


_BOOT_KEYS = ("order", "once", "menu", "splash", "splash-time", "reboot-timeout", "strict")


def _check_boot(text: str) -> None:
    """``-boot``: the machine's ``boot`` property (QEMU names no option in its errors)."""
    from ..machine.options import parse_bool, parse_opts

    for item in parse_opts(text, implied="order"):
        if item.name not in _BOOT_KEYS:
            raise CommandLineError(None, f"Parameter 'boot.{item.name}' is unexpected")
        if item.name in ("menu", "strict") and parse_bool(item.value) is None:
            raise CommandLineError(None, f"Parameter 'boot.{item.name}' expects 'on' or 'off'")


def _check_display(text: str) -> None:
    from ..machine import ConfigError
    from ..machine.options import parse_opts

    items = parse_opts(text, implied="type")
    kind = items[0].value if items and items[0].name == "type" else ""
    if kind not in _DISPLAY_TYPES:
        raise ConfigError(f"Parameter 'type' does not accept value '{kind}'", f"-display {text}")
    for item in items[1:]:
        raise ConfigError(f"Parameter '{item.name}' is unexpected", f"-display {text}")
    if kind not in _DISPLAYS_BUILT:
        raise CommandLineError(
            None,
            f"Display '{kind}' is not available. "
            "Perhaps you want to install qemu-system-gui package?",
        )


def _parse_mon(text: str, earlier: list[ChardevMonitor]) -> ChardevMonitor:
    from ..machine import ConfigError
    from ..machine.options import id_wellformed, parse_bool, parse_opts

    location = f"-mon {text}"
    chardev: str | None = None
    mode: str | None = None
    ident: str | None = None
    for item in parse_opts(text, implied="chardev"):
        if item.name == "chardev":
            chardev = item.value
        elif item.name == "mode":
            mode = item.value
        elif item.name == "id":
            # The monitor's name: nothing shows it, but QEMU checks it at once.
            if not id_wellformed(item.value):
                raise ConfigError(
                    "Parameter 'id' expects an identifier\n"
                    "Identifiers consist of letters, digits, '-', '.', '_', "
                    "starting with a letter.",
                    location,
                )
            if any(mon.id == item.value for mon in earlier):
                raise ConfigError(f"Duplicate ID '{item.value}' for mon", location)
            ident = item.value
        elif item.name == "pretty":
            if parse_bool(item.value) is None:
                raise ConfigError("Parameter 'pretty' expects 'on' or 'off'", location)
            if parse_bool(item.value):
                raise ConfigError("pretty=on is not simulated", location)
        else:
            raise ConfigError(f"Invalid parameter '{item.name}'", location)
    return ChardevMonitor(chardev or "", mode, location, ident)


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
