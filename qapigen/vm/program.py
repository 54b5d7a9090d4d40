"""``qapigen vm``: a simulated QEMU machine behind real QMP sockets.

It takes QEMU's option syntax for what it models, so that a harness that
starts ``qemu-system-x86_64`` can start it unchanged:

- modelled: ``-qmp unix:PATH[,server=on][,wait=off]`` and ``-qmp
  tcp:HOST:PORT,...`` (several allowed), ``-chardev socket,...`` with ``-mon
  chardev=ID,mode=control`` (a QMP monitor on a socket the program listens on,
  connects to, or was passed as ``fd=N``: QEMU's own harness passes one end of
  a socket pair; see :mod:`.chardev`), ``-qtest CHARDEV`` (QEMU's
  test protocol, :mod:`qapigen.qtest`) with ``-qtest-log FILE|none``, ``-S``,
  ``-action``, ``-no-shutdown``, ``-no-reboot``, ``-watchdog-action``,
  ``-device pvpanic[,ioport=..][,events=..]``, ``-device pvpanic-pci[,addr=..]``,
  ``-device ib700``, ``-nodefaults``, ``-nographic``, ``-vga std|none``, ``-nic
  none``, ``-net none``, ``-m``, ``-accel`` and ``-machine accel=`` (``qtest``:
  the virtual clock moves only when a test moves it), ``-name``, ``-pidfile``,
  ``-d guest_errors`` with ``-D FILE`` (what QEMU logs of the guest's errors, to
  FILE, else to stderr);
- accepted and without effect (nothing the simulator shows depends on them):
  ``-machine``'s other keys, ``-cpu``, ``-smp``, ``-display``, ``-serial`` and
  ``-parallel`` (but which ports exist), ``-monitor``, ``-boot``,
  ``-enable-kvm``, ``-no-user-config``, ``-d``'s other items, ``-drive``,
  ``-debugcon``, ``-bios``, ``-global``, ``-audio none``, ``-trace PATTERN``
  (no trace event is written); ``-daemonize`` is refused;
- anything else is refused as QEMU refuses an unknown option.

A bad option gets QEMU's message and exit status 1.  SIGTERM, SIGINT and
SIGHUP shut the machine down as QEMU does (``SHUTDOWN`` with reason
``host-signal``, exit status 0); one that comes while the program is already
on its way out changes nothing.  ``-pidfile`` is QEMU's: created 0600, locked
(``fcntl``) for the life of the process, so that a second instance with the
same file is refused, and removed at exit if it is still the file written.
The unix sockets' files are removed at exit too.

``--count N --qmp-dir DIR`` serves N machines from one process, each with its
own socket ``DIR/vmNNNN.sock``.  DIR is created 0700; an existing one must
belong to the user (or root) and not be writable by anyone without the sticky
bit, since whoever may rename files in it could replace the sockets.  The
program raises its file descriptor limit (soft ``RLIMIT_NOFILE``) as far as
the hard limit allows, and refuses a fleet whose sockets cannot all be open.

The machines are served by :mod:`qapigen.qmp.selector_server` (one thread,
no asyncio: importing asyncio alone would double the program's start-up).

TCP sockets listen where the option says; ``wait=on`` (QEMU's default for
a server socket) does not hold the machine back: the simulator starts at
once either way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
from collections.abc import Callable, Sequence

from ..runtime.records import NamedTuple

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import _socket
    from typing import TextIO

    from ..machine import CommandLine
    from ..qmp.sockets import SocketFile
    from .chardev import ChardevSpec

PROG = "qapigen vm"

# Signals that end the machines as QEMU's termsig_handler() does.
_TERMINATING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# File descriptors the process holds besides the machines' sockets (standard
# streams, the selector, the loop's wake-up pipe, the pid and log files, ...).
_OWN_DESCRIPTORS = 32

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


class _Monitor(NamedTuple):
    """``-mon chardev=ID,mode=control``: a QMP monitor on a character device."""

    chardev: str
    mode: str | None
    location: str


class _Options:
    """What the command line asks for."""

    def __init__(self, cmdline: CommandLine) -> None:
        #: The machine's options, built into a ``MachineConfig`` once the
        #: character devices are open (QEMU's order).
        self.cmdline = cmdline
        #: The monitors: (kind, address, the option that asked for it).
        self.monitors: list[tuple[str, object, str]] = []
        #: ``-chardev`` sockets, in order, and ``-mon`` monitors on them.
        self.chardevs: list[ChardevSpec] = []
        self.mons: list[_Monitor] = []
        #: ``-qtest``'s character device (the last one given counts), and ``-qtest-log``.
        self.qtest: str | None = None
        self.qtest_log: str | None = None
        self.pidfile: str | None = None
        #: Fleet size, and the folder of its sockets.
        self.count = 1
        self.qmp_dir: str | None = None
        #: ``-d guest_errors``, and the ``-D`` file (None: stderr, as QEMU's log).
        self.guest_errors = False
        self.logfile: str | None = None


def _parse(argv: Sequence[str]) -> _Options:
    """The options of a command line, or :class:`CommandLineError`.

    As QEMU does, only the syntax of each option is checked here; what
    depends on the whole line is checked as the machine is built.
    """
    from ..machine import CommandLine, ConfigError
    from .chardev import ChardevError, parse_chardev

    cmdline = CommandLine()
    options = _Options(cmdline)
    monitors = options.monitors
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


def _parse_mon(text: str) -> _Monitor:
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
    return _Monitor(chardev or "", mode, location)


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


class _Sockets:
    """The character devices' sockets, opened before the machine is built (QEMU's order)."""

    def __init__(self) -> None:
        #: chardev id -> (its socket, whether it listens).
        self.chardevs: dict[str, tuple[_socket.socket, bool]] = {}
        #: The qtest socket, whether it listens, and its connection's log.
        self.qtest: tuple[_socket.socket, bool] | None = None
        #: The files of the unix sockets they listen on, removed at close().
        self.files: list[SocketFile] = []

    def close(self) -> None:
        for sock, _ in self.chardevs.values():
            sock.close()
        if self.qtest is not None:
            self.qtest[0].close()
        for file in self.files:
            file.remove()


def _open_sockets(options: _Options, sockets: _Sockets) -> None:
    """Open the ``-chardev`` sockets, then ``-qtest``'s; QEMU's errors as
    :class:`CommandLineError`."""
    from .chardev import ChardevError, open_chardev, parse_compat

    for spec in options.chardevs:
        try:
            sockets.chardevs[spec.id] = (open_chardev(spec, sockets.files), spec.server)
        except ChardevError as err:
            raise CommandLineError(err.location or "-chardev", err.message) from None
    text = options.qtest
    if text is None:
        return
    failed = f'Failed to initialize device for qtest: "{text}"'
    if text.startswith("chardev:"):
        found = sockets.chardevs.pop(text[8:], None)
        if found is None:
            raise CommandLineError(None, failed)
        sockets.qtest = found
        return
    qtest_spec = parse_compat(text, f"-qtest {text}", "qtest")
    if qtest_spec is None:
        raise CommandLineError(None, failed)  # a backend the simulator does not have
    try:
        sockets.qtest = (open_chardev(qtest_spec, sockets.files), qtest_spec.server)
    except ChardevError as err:
        # QEMU names no option here, and adds a line of its own.
        raise CommandLineError(None, f"{err.message}\n{PROG}: {failed}") from None


def _monitor_sockets(options: _Options, sockets: _Sockets) -> list[tuple[_socket.socket, bool]]:
    """The sockets of the ``-mon`` monitors; QEMU's errors as :class:`CommandLineError`."""
    used: list[tuple[_socket.socket, bool]] = []
    taken: set[str] = set()
    for mon in options.mons:
        if not mon.chardev:
            raise CommandLineError(mon.location, "Parameter 'chardev' is missing")
        if mon.mode not in (None, "control", "readline"):
            raise CommandLineError(
                mon.location, f"Parameter 'mode' does not accept value '{mon.mode}'"
            )
        found = sockets.chardevs.get(mon.chardev)
        if found is None:
            raise CommandLineError(mon.location, f'chardev "{mon.chardev}" not found')
        if mon.chardev in taken:
            raise CommandLineError(mon.location, f"chardev '{mon.chardev}' is already in use")
        if mon.mode != "control":
            # The human monitor (readline, -mon's default) is not simulated.
            raise CommandLineError(mon.location, "only mode=control monitors (QMP) are simulated")
        taken.add(mon.chardev)
        used.append(found)
    return used


def _qtest_log(options: _Options) -> tuple[Callable[[str], None] | None, int | None]:
    """The qtest log's writer and its descriptor: ``-qtest-log FILE`` (opened
    as QEMU opens it, ``w+``: truncated, read-write, so that ``/dev/fd/2`` works
    on a pipe), ``none``, or stderr by default; a file that cannot be opened
    gives no log (QEMU says nothing either)."""
    if options.qtest is None:
        return None, None
    name = options.qtest_log
    if name is None:
        return _print_stderr, None
    if name == "none":
        return None, None
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    except OSError:
        return None, None
    broken = False

    def write(text: str) -> None:
        nonlocal broken
        if not broken:
            try:
                os.write(fd, text.encode("latin-1"))  # a line at a time, whole
            except OSError:
                broken = True  # the reader is gone: the log ends, the program goes on

    return write, fd


def _serve(options: _Options, log: Callable[[str], None] | None) -> int:
    """Serve the machines until they have all exited, or a signal ends them; the exit status.

    ``log`` takes what QEMU logs under ``-d guest_errors``.
    """
    from qapigen import simulator_api

    from .. import __version__
    from ..machine import ConfigError, Machine, WatchdogConfig
    from ..qmp.selector_server import Loop, SelectorServer
    from ..qmp.sockets import UnlinkError

    count, qmp_dir = options.count, options.qmp_dir
    loop = Loop()
    servers: list[SelectorServer] = []
    machines: list[Machine] = []
    qtest_port: object = None
    sockets = _Sockets()
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
        # Under a qtest driver QEMU keeps quiet about it.
        if options.qtest is None:
            _print_stderr(f"{PROG}: terminating on signal {signum}\n")
        for machine in machines:
            if not machine.exited:
                machine.host_signal()
        loop.stop()

    qtest_log, qtest_log_fd = None, None
    try:
        # From here a terminating signal shuts the machines down, once the loop runs.
        for signum in _TERMINATING:
            loop.add_signal_handler(signum, on_signal)
        _open_sockets(options, sockets)
        qtest_log, qtest_log_fd = _qtest_log(options)
        qtest_conn = None
        if sockets.qtest is not None and not sockets.qtest[1]:
            from ..qtest.protocol import QtestConnection

            qtest_conn = QtestConnection(qtest_log)
            qtest_conn.opened()  # QEMU opens it before it looks at anything else
        mon_sockets = _monitor_sockets(options, sockets)
        try:
            config = options.cmdline.build()
        except ConfigError as err:
            raise CommandLineError(err.location, err.message) from None
        # Only a watchdog's timer must wake the host (the PIT's fire when the
        # machine is next looked at): the loop asks every deadline at every turn,
        # which for a fleet would cost each request in proportion to its size.
        wakes_host = not config.manual_clock and any(
            isinstance(device, WatchdogConfig) for device in config.devices
        )
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
            if wakes_host:
                loop.add_deadline(_wake_at(machine), _timers_due(machine))
            addresses = list(options.monitors)
            if qmp_dir is not None:
                path = os.path.join(qmp_dir, f"vm{n:04d}.sock")
                addresses.append(("unix", path, f"--qmp-dir {qmp_dir}"))
            for kind, address, location in addresses:
                try:
                    if kind == "unix":
                        assert isinstance(address, str)
                        server.listen_unix(address)
                    else:
                        assert isinstance(address, tuple)
                        server.listen_tcp(*address)
                except UnlinkError as err:  # QEMU's words for it, here and below
                    why = os.strerror(err.errno) if err.errno else str(err)
                    raise CommandLineError(
                        location, f"Failed to unlink socket {address}: {why}"
                    ) from None
                except OSError as err:
                    why = os.strerror(err.errno) if err.errno else str(err)
                    if kind == "unix":
                        raise CommandLineError(
                            location, f"Failed to bind socket to {address}: {why}"
                        ) from None
                    raise CommandLineError(
                        location, f"Failed to find an available port: {why}"
                    ) from None
            for sock, listening in mon_sockets:
                if listening:
                    server.listen_socket(sock)
                else:
                    server.serve_connected(sock)
        if sockets.qtest is not None:
            from ..qtest.service import QtestService
            from ..qtest.transport import QtestPort

            service = QtestService(machines[0].qtest_access)
            sock, listening = sockets.qtest
            sockets.qtest = None  # the port owns it now
            qtest_port = QtestPort(
                service, loop, sock, listening=listening, log=qtest_log, conn=qtest_conn
            )
        loop.run()
    finally:
        # On the way out a terminating signal changes nothing (QEMU, past its
        # main loop, only notes it): harnesses send SIGTERM as soon as they see
        # SHUTDOWN, and the exit status, the files to remove and the replies
        # still due must not depend on when it lands.
        for signum in _TERMINATING:
            signal.signal(signum, signal.SIG_IGN)
        for server in servers:
            server.close()
        if qtest_port is not None:
            from ..qtest.transport import QtestPort

            assert isinstance(qtest_port, QtestPort)
            qtest_port.close()
        sockets.close()
        loop.close()
        if qtest_log_fd is not None:
            os.close(qtest_log_fd)
    return status


def _wake_at(machine: object) -> Callable[[], float | None]:
    from ..machine import Machine

    assert isinstance(machine, Machine)

    def wake_at() -> float | None:
        if machine.exited:
            return None
        when = machine.virtual_clock.wake_at()
        return None if when is None else when / 1e9

    return wake_at


def _timers_due(machine: object) -> Callable[[], None]:
    from ..machine import Machine

    assert isinstance(machine, Machine)

    def due() -> None:
        if not machine.exited:
            machine.run_timers()

    return due


def _writer(fp: TextIO) -> Callable[[str], None]:
    broken = False

    def write(text: str) -> None:
        nonlocal broken
        if broken:
            return
        try:
            fp.write(text)
            fp.flush()  # as QEMU's log: whatever happens next, it is there
        except OSError:
            broken = True  # the reader is gone: the log ends, the program goes on

    return write


def _print_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # nobody reads stderr any more: that must not end the program


def _quiet_streams() -> None:
    """Flush stdout and stderr now; if nobody reads them, point them at
    /dev/null, so that Python's own flush at exit cannot fail (and turn the
    exit status into 120)."""
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, fd)
                os.close(devnull)
            except OSError:
                pass


def _descriptor_room(options: _Options) -> None:
    """Raise the soft limit on open files as far as the hard one allows; a
    :class:`CommandLineError` when the fleet's listening sockets cannot all be open."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    sockets = options.count * (len(options.monitors) + (options.qmp_dir is not None))
    needed = sockets + _OWN_DESCRIPTORS
    # Without a hard limit the kernel's own cap applies: ask for what is needed.
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError):
            pass  # keep the soft limit there is
    if soft != resource.RLIM_INFINITY and needed > soft:
        raise CommandLineError(
            "--count",
            f"{options.count} machines need {needed} file descriptors, "
            f"but at most {soft} can be open (RLIMIT_NOFILE)",
        )


def _qmp_dir(path: str) -> bool:
    """Make the fleet's folder (mode 0700), or check an existing one; whether it was made.

    An existing folder is refused when someone else could replace the sockets
    in it: it belongs to another user (root aside), or anyone may write to it
    and it lacks the sticky bit.
    """
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # whatever the umask
        return True
    except FileExistsError:
        pass
    except OSError as err:
        raise CommandLineError(f"--qmp-dir {path}", err.strerror or str(err)) from None
    try:
        st = os.stat(path)
    except OSError as err:
        raise CommandLineError(f"--qmp-dir {path}", err.strerror or str(err)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise CommandLineError(f"--qmp-dir {path}", os.strerror(20))  # ENOTDIR
    if st.st_uid not in (os.geteuid(), 0):
        raise CommandLineError(
            f"--qmp-dir {path}",
            f"belongs to another user (uid {st.st_uid}), who could replace the sockets in it",
        )
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise CommandLineError(
            f"--qmp-dir {path}",
            "anyone may write to it and it has no sticky bit, "
            "so anyone could replace the sockets in it",
        )
    return False


class _PidFile:
    """``-pidfile``, as QEMU's ``qemu_write_pidfile()`` keeps it.

    Created 0600 (an existing file is truncated), locked with ``fcntl`` for the
    life of the process so that a second instance is refused (QEMU uses the
    same lock: the two exclude each other too), and removed at exit only if the
    path still names the file written.  Unlike QEMU it is not opened through a
    symbolic link: that would let the link truncate a file it points to.
    """

    def __init__(self, path: str) -> None:
        import fcntl

        self.path = os.path.abspath(path)  # QEMU removes the path it resolved at start
        for _ in range(100):  # another process racing on the same path: try again
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError as err:
                raise CommandLineError(
                    "cannot create PID file", f"Could not create '{path}': {err.strerror}"
                ) from None
            try:
                locked = os.fstat(fd)
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                raise CommandLineError(
                    "cannot create PID file", f"Cannot lock pid file: {err.strerror}"
                ) from None
            try:
                now = os.stat(path)
            except OSError:  # removed since it was opened
                os.close(fd)
                continue
            if (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
                break
            os.close(fd)  # replaced since it was opened
        else:
            raise CommandLineError(
                "cannot create PID file", "Cannot lock pid file: the file keeps changing"
            )
        self._fd = fd
        self._identity = (locked.st_dev, locked.st_ino)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            self.remove()
            raise CommandLineError("cannot create PID file", "Failed to write pid file") from None

    def remove(self) -> None:
        """Remove the file if it is still the one written, then let go of the lock."""
        with contextlib.suppress(OSError):  # gone already
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                os.unlink(self.path)
        os.close(self._fd)


def main(argv: Sequence[str]) -> int:
    """Run the simulated machine(s); the exit status."""
    try:
        return _main(argv)
    finally:
        _quiet_streams()


def _main(argv: Sequence[str]) -> int:
    made_dir = False
    logfile = None
    pidfile = None
    try:
        options = _parse(argv)
        if options.count > 1:
            _descriptor_room(options)
        if options.qmp_dir is not None:
            made_dir = _qmp_dir(options.qmp_dir)
        log: Callable[[str], None] | None = None
        if options.guest_errors:
            if options.logfile is None:
                log = _print_stderr
            else:
                try:
                    logfile = open(options.logfile, "w", encoding="utf-8")  # noqa: SIM115
                except OSError as err:
                    where = f"could not open '{options.logfile}'"
                    raise CommandLineError(where, err.strerror or str(err)) from None
                log = _writer(logfile)
        if options.pidfile:
            pidfile = _PidFile(options.pidfile)
        # _serve() refuses a socket that cannot be made, a machine QEMU would refuse.
        return _serve(options, log)
    except CommandLineError as err:
        _print_stderr(f"{PROG}: {err}\n")
        return 1
    finally:
        if logfile is not None:
            logfile.close()
        if pidfile is not None:
            pidfile.remove()
        if made_dir:
            assert options.qmp_dir is not None
            with contextlib.suppress(OSError):  # not empty: what is in it stays
                os.rmdir(options.qmp_dir)
