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

import _socket
import contextlib
import os
import signal
import stat
import sys
from collections.abc import Callable, Sequence

from ..runtime.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

PROG = "qapigen vm"

# Signals that end the machines as QEMU's termsig_handler() does.
_TERMINATING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# File descriptors the process holds besides the machines' sockets (standard
# streams, the selector, the loop's wake-up pipe, the pid and log files, ...).
_OWN_DESCRIPTORS = 32

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
    from ..qmp.sockets import UnlinkError

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

    # From here a terminating signal shuts the machines down, once the loop runs.
    for signum in _TERMINATING:
        loop.add_signal_handler(signum, on_signal)
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
        return _serve(options, log)
    except CommandLineError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
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
