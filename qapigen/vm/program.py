"""``qapigen vm``: a simulated QEMU machine behind real QMP sockets.

It takes QEMU's option syntax for what it models, so that a harness that
starts ``qemu-system-x86_64`` can start it unchanged:

- modelled: ``-qmp unix:PATH[,server=on][,wait=off]`` and ``-qmp
  tcp:HOST:PORT,...`` (several allowed); ``-chardev socket,id=ID,fd=N`` with
  ``-mon chardev=ID,mode=control`` (a monitor on a connected socket the
  caller passed down, one end of a socket pair say); ``-S``, ``-action``, ``-no-shutdown``,
  ``-no-reboot``, ``-watchdog-action``, ``-device pvpanic[,ioport=..][,events=..]``,
  ``-device pvpanic-pci``, ``-name``, ``-pidfile``, ``-d guest_errors`` with ``-D
  FILE`` (what QEMU logs of the guest's errors, to FILE, else to stderr);
- accepted and without effect (nothing the simulator shows depends on them):
  ``-machine``, ``-accel``, ``-cpu``, ``-smp``, ``-m``, ``-display``,
  ``-nodefaults``, ``-nographic``, ``-serial``, ``-monitor``, ``-vga``, ``-boot``,
  ``-enable-kvm``, ``-no-user-config``, ``-d``'s other items, ``-drive``, ``-debugcon``,
  ``-bios``, ``-global``; ``-daemonize`` is refused;
- anything else is refused as QEMU refuses an unknown option.

A bad option gets QEMU's message and exit status 1.  SIGTERM and SIGINT
shut the machine down as QEMU does (``SHUTDOWN`` with reason
``host-signal``, exit status 0).  ``--count N --qmp-dir DIR`` serves N
machines from one process, each with its own socket ``DIR/vmNNNN.sock``.

The machines are served by :mod:`qapigen.qmp.selector_server` (one thread,
no asyncio: importing asyncio alone would double the program's start-up).

TCP sockets listen where the option says; ``wait=on`` (QEMU's default for
a server socket) does not hold the machine back: the simulator starts at
once either way.
"""

from __future__ import annotations

import _socket
import os
import signal
import sys
from collections.abc import Callable, Sequence

from ..runtime.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

PROG = "qapigen vm"

_MODELLED_WITH_ARG = {
    "-qmp",
    "-chardev",
    "-mon",
    "-action",
    "-watchdog-action",
    "-device",
    "-name",
    "-pidfile",
}
_IGNORED_WITH_ARG = {
    "-machine",
    "-M",
    "-accel",
    "-cpu",
    "-smp",
    "-m",
    "-display",
    "-serial",
    "-monitor",
    "-vga",
    "-boot",
    "-d",
    "-D",
    # The oracle's guest: its disk, its debug console, its firmware.
    "-drive",
    "-debugcon",
    "-bios",
    "-global",
}
_IGNORED_FLAGS = {"-nodefaults", "-nographic", "-enable-kvm", "-no-user-config"}


class CommandLineError(Exception):
    """A command line the program refuses: ``location`` and QEMU's message."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")


def _qmp_address(value: str) -> tuple[str, str | tuple[str, int]]:
    """('unix', path) or ('tcp', (host, port)) from a ``-qmp`` value."""
    spec, *options = value.split(",")
    for option in options:
        key, _, val = option.partition("=")
        if key not in ("server", "wait", "nowait") or (val and val not in ("on", "off")):
            raise CommandLineError(f"-qmp {value}", f"Invalid parameter '{key}'")
    if spec.startswith("unix:"):
        return "unix", spec[5:]
    if spec.startswith("tcp:"):
        host, _, port = spec[4:].rpartition(":")
        if not port.isdigit():
            raise CommandLineError(f"-qmp {value}", f"Failed to parse port '{port}'")
        if host.startswith("[") and host.endswith("]"):  # an IPv6 address, as QEMU writes it
            host = host[1:-1]
        return "tcp", (host or "127.0.0.1", int(port))
    raise CommandLineError(f"-qmp {value}", "only unix: and tcp: monitors are simulated")


# A socket chardev's keys that QEMU knows and the simulator does not model.
_SOCKET_KEYS_NOT_SIMULATED = {
    "path",
    "abstract",
    "tight",
    "host",
    "port",
    "to",
    "ipv4",
    "ipv6",
    "server",
    "wait",
    "nodelay",
    "telnet",
    "tn3270",
    "websocket",
    "reconnect",
    "reconnect-ms",
    "tls-creds",
    "tls-authz",
    "mux",
    "logfile",
    "logappend",
}


# QEMU 10.0's chardev backends (``-chardev help``).
_CHARDEV_BACKENDS = {
    "braille",
    "dbus",
    "file",
    "memory",
    "msmouse",
    "mux",
    "null",
    "parallel",
    "pipe",
    "pty",
    "qemu-vdagent",
    "ringbuf",
    "serial",
    "socket",
    "spiceport",
    "spicevmc",
    "stdio",
    "testdev",
    "tty",
    "udp",
    "vc",
    "wctablet",
}


def _chardev(value: str, chardevs: dict[str, tuple[int, str]]) -> None:
    """Record ``-chardev socket,id=ID,fd=N`` in ``chardevs`` (id → descriptor and option)."""
    from ..machine.options import id_wellformed, parse_opts

    location = f"-chardev {value}"
    items = parse_opts(value, "backend")
    keys = {item.name: item.value for item in items}
    backend = keys.pop("backend", "")
    ident = keys.pop("id", None)
    if ident is None:
        raise CommandLineError(location, "chardev: no id specified")
    if not id_wellformed(ident):
        raise CommandLineError(
            location,
            "Parameter 'id' expects an identifier\n"
            "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
        )
    if backend not in _CHARDEV_BACKENDS:
        raise CommandLineError(location, f"'{backend}' is not a valid char driver name")
    if backend != "socket":
        raise CommandLineError(location, "only socket chardevs (with fd=) are simulated")
    for key in keys:
        if key in _SOCKET_KEYS_NOT_SIMULATED:
            raise CommandLineError(
                location, f"'{key}' is not simulated: only fd= socket chardevs are"
            )
        if key != "fd":
            raise CommandLineError(location, f"Invalid parameter '{key}'")
    if ident in chardevs:
        raise CommandLineError(location, f"Duplicate ID '{ident}' for chardev")
    fd = keys.get("fd", "")
    if not fd.isdigit():
        raise CommandLineError(location, f"Unable to parse FD number {fd}")
    chardevs[ident] = (int(fd), location)


def _mon(value: str) -> str:
    """The chardev of ``-mon chardev=ID,mode=control``."""
    from ..machine.options import parse_opts

    location = f"-mon {value}"
    keys: dict[str, str] = {}
    for item in parse_opts(value, "chardev"):
        if item.name not in ("chardev", "mode", "pretty"):
            raise CommandLineError(location, f"Invalid parameter '{item.name}'")
        keys[item.name] = item.value
    if "chardev" not in keys:
        raise CommandLineError(location, "Parameter 'chardev' is missing")
    mode = keys.get("mode", "readline")
    if mode not in ("readline", "control"):
        raise CommandLineError(location, f"Parameter 'mode' does not accept value '{mode}'")
    if mode != "control":
        raise CommandLineError(location, "only mode=control monitors (QMP) are simulated")
    if keys.get("pretty", "off") != "off":
        raise CommandLineError(location, "pretty=on is not simulated")
    return keys["chardev"]


class _Options:
    """What the command line asks for."""

    def __init__(self) -> None:
        #: The machine configuration (a ``MachineConfig``, once built).
        self.config: object = None
        #: The monitors: (kind, address, the option that asked for it); a
        #: monitor on a passed-down socket is ("fd", descriptor, option).
        self.monitors: list[tuple[str, object, str]] = []
        self.pidfile: str | None = None
        #: Fleet size, and the folder of its sockets.
        self.count = 1
        self.qmp_dir: str | None = None
        #: ``-d guest_errors``, and the ``-D`` file (None: stderr, as QEMU's log).
        self.guest_errors = False
        self.logfile: str | None = None


def _parse(argv: Sequence[str]) -> _Options:
    """The options of a command line, or :class:`CommandLineError`."""
    from ..machine import CommandLine, ConfigError

    cmdline = CommandLine()
    options = _Options()
    monitors = options.monitors
    chardevs: dict[str, tuple[int, str]] = {}
    # QEMU makes the chardevs before the monitors that use them.
    mons: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        opt = args[i]
        if opt.startswith("--") and opt not in ("--count", "--qmp-dir"):
            opt = opt[1:]  # QEMU accepts --option too
        needs_arg = (
            opt in _MODELLED_WITH_ARG
            or opt in _IGNORED_WITH_ARG
            or opt
            in (
                "--count",
                "--qmp-dir",
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
                monitors.append((*_qmp_address(value), f"-qmp {value}"))
            elif opt == "-chardev":
                _chardev(value, chardevs)
            elif opt == "-mon":
                mons.append(value)
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
            elif opt in _IGNORED_WITH_ARG or opt in _IGNORED_FLAGS or opt == "-name":
                pass
            else:
                raise CommandLineError(opt, "invalid option")
        except ConfigError as err:
            raise CommandLineError(err.location or opt, err.message) from None
    used: set[str] = set()
    for value in mons:
        ident = _mon(value)
        if ident not in chardevs:
            raise CommandLineError(f"-mon {value}", f'chardev "{ident}" not found')
        if ident in used:
            raise CommandLineError(f"-mon {value}", f"chardev '{ident}' is already in use")
        used.add(ident)
        monitors.append(("fd", *chardevs[ident]))
    try:
        options.config = cmdline.build()
    except ConfigError as err:
        raise CommandLineError(err.location or "-action", err.message) from None
    if options.count > 1 and options.qmp_dir is None:
        raise CommandLineError("--count", "a fleet needs --qmp-dir")
    return options


def _serve(options: _Options, log: Callable[[str], None] | None) -> int:
    """Serve the machines until they have all exited, or a signal ends them; the exit status.

    ``log`` takes what QEMU logs under ``-d guest_errors``.
    """
    from qapigen import simulator_api

    from .. import __version__
    from ..machine import Machine, MachineConfig
    from ..qmp.selector_server import Loop, SelectorServer

    config, monitors, count, qmp_dir = (
        options.config,
        options.monitors,
        options.count,
        options.qmp_dir,
    )
    assert isinstance(config, MachineConfig)
    loop = Loop()
    servers: list[SelectorServer] = []
    machines: list[Machine] = []
    alive = count
    status = 0

    def exit_handler(server_index: int) -> Callable[[int], None]:
        def exited(code: int) -> None:
            # Reply first: the exit takes effect once the current command is answered.
            def finish() -> None:
                nonlocal alive, status
                alive -= 1
                if count > 1:
                    servers[server_index].close()
                if alive == 0 or count == 1:
                    status = code
                    loop.stop()

            # No later command runs: QEMU is on its way out.
            servers[server_index].halted = True
            loop.call_soon(finish)

        return exited

    def on_signal(signum: int) -> None:
        # The status stays 0, unless a machine's exit already decided it.
        print(f"{PROG}: terminating on signal {signum}", file=sys.stderr)
        for machine in machines:
            if not machine.exited:
                machine.host_signal()
        loop.stop()

    try:
        for n in range(count):
            machine = Machine(
                config, on_exit=exit_handler(n), guest_error_log=log, stderr=_print_stderr
            )
            server = SelectorServer(
                simulator_api, machine, loop, package_name=f"qapigen {__version__}"
            )
            machine.subscribe(server.broadcast)
            servers.append(server)
            machines.append(machine)
            addresses = list(monitors)
            if qmp_dir is not None:
                path = os.path.join(qmp_dir, f"vm{n:04d}.sock")
                addresses.append(("unix", path, f"--qmp-dir {qmp_dir}"))
            for kind, address, location in addresses:
                try:
                    if kind == "fd":
                        assert isinstance(address, int)
                        server.serve_connected(_connected_socket(address, location))
                    elif kind == "unix":
                        assert isinstance(address, str)
                        server.listen_unix(address)
                    else:
                        assert isinstance(address, tuple)
                        server.listen_tcp(*address)
                except OSError as err:  # QEMU's words for it
                    why = os.strerror(err.errno) if err.errno else str(err)
                    if kind == "unix":
                        raise CommandLineError(
                            location, f"Failed to bind socket to {address}: {why}"
                        ) from None
                    raise CommandLineError(
                        location, f"Failed to find an available port: {why}"
                    ) from None
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal)
        loop.run()
    finally:
        for server in servers:
            server.close()
        loop.close()
    return status


def _connected_socket(fd: int, location: str) -> _socket.socket:
    """The socket behind descriptor ``fd``, or QEMU's complaint about it."""
    try:
        sock = _socket.socket(fileno=fd)
    except OSError:
        raise CommandLineError(location, f"File descriptor '{fd}' is not a socket") from None
    return sock


def _writer(fp: TextIO) -> Callable[[str], None]:
    def write(text: str) -> None:
        fp.write(text)
        fp.flush()  # as QEMU's log: whatever happens next, it is there

    return write


def _print_stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def main(argv: Sequence[str]) -> int:
    """Run the simulated machine(s); the exit status."""
    try:
        options = _parse(argv)
    except CommandLineError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    if options.qmp_dir is not None:
        try:
            os.makedirs(options.qmp_dir, mode=0o700, exist_ok=True)
        except OSError as err:
            print(f"{PROG}: --qmp-dir {options.qmp_dir}: {err.strerror}", file=sys.stderr)
            return 1
    logfile = None
    log: Callable[[str], None] | None = None
    if options.guest_errors:
        if options.logfile is None:
            log = _print_stderr
        else:
            try:
                logfile = open(options.logfile, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as err:
                print(
                    f"{PROG}: could not open '{options.logfile}': {err.strerror}", file=sys.stderr
                )
                return 1
            log = _writer(logfile)
    pidfile = options.pidfile
    if pidfile:
        try:
            with open(pidfile, "w") as fp:
                fp.write(f"{os.getpid()}\n")
        except OSError as err:
            print(
                f"{PROG}: cannot create PID file: Could not create '{pidfile}': {err.strerror}",
                file=sys.stderr,
            )
            return 1
    try:
        return _serve(options, log)
    except CommandLineError as err:  # a monitor that cannot listen
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    finally:
        if logfile is not None:
            logfile.close()
        if pidfile and os.path.exists(pidfile):
            os.unlink(pidfile)
