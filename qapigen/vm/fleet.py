"""``qapigen vm``'s fleet: N machines, each behind its QMP server, on one loop.

A :class:`Fleet` opens the sockets QEMU's options ask for in QEMU's order
(character devices, then ``-qtest``'s, then the machine is built), serves every
machine's monitors and the qtest socket from one :class:`qapigen.qmp.loop.Loop`,
and ends as QEMU ends: when its machines have exited, or on a terminating signal.

One machine (the usual case) is built once the command line is checked and
its monitors listen, but only after the greeting: clients that connect are
greeted at once, and the machine and its QMP server are made when the first
of them sends anything (or hangs up).  QEMU too greets from its monitor's own
I/O thread while its main thread may still be building the machine, and runs
the commands once its main loop does; here, as there, no command is read
before the machine is built.  A machine that must be running before anyone
asks (one with a watchdog's timer, or a qtest socket), and a fleet, are built
before anything is greeted.
"""

from __future__ import annotations

import _socket
import gc
import os

from ..qmp.poller import EVENT_READ
from .options import PROG, CommandLineError, Options, UnixMonitor
from .output import FileLog, print_stderr

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import signal as _signal  # _signal's functions, with types
    from collections.abc import Callable

    from ..machine import Machine, MachineConfig
    from ..qmp.loop import Loop
    from ..qmp.selector_server import SelectorServer
    from ..qmp.sockets import SocketFile
    from ..qtest.protocol import QtestConnection
    from ..qtest.transport import QtestPort
    from .chardev_info import Chardev
    from .options import TcpMonitor
    from .stdio import StdioChardev
    from .surface import ServedProfile

    #: A character device: a socket, or stdio.
    Channel = _socket.socket | StdioChardev
else:
    import _signal  # not signal: it imports enum, which a start cannot afford

__all__ = ["Fleet"]

_NO_MONITOR = (
    "no monitor: nothing could drive the simulated machine; "
    "give -qmp, -chardev with -mon, -qtest or --qmp-dir"
)

# Signals that end the machines as QEMU's termsig_handler() does.
_TERMINATING = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP)


class Fleet:
    """The machines ``options`` ask for, served until they have all exited or a
    signal ends them (:meth:`serve`).

    ``log`` takes what QEMU logs under ``-d guest_errors``.
    """

    def __init__(self, options: Options, log: Callable[[str], None] | None) -> None:
        from ..qmp.loop import Loop

        self.options = options
        self.log = log
        self.loop = Loop()
        self.servers: list[SelectorServer] = []
        self.machines: list[Machine] = []
        self.sockets = _Sockets()
        self.qtest_port: QtestPort | None = None
        self._qtest_log: FileLog | None = None
        self.served: ServedProfile | None = None
        self._greeter: _Greeter | None = None
        #: Machines that have not exited yet, and the exit status.
        self.alive = options.count
        self.status = 0

    def serve(self, ready: Callable[[], None] | None = None) -> int:
        """Serve the machines until they have all exited, or a signal ends them;
        the exit status.  ``ready`` is called once they are built and their
        sockets listen (``-daemonize``'s parent exits then)."""
        try:
            # From here a terminating signal shuts the machines down, once the loop runs.
            for signum in _TERMINATING:
                self.loop.add_signal_handler(signum, self._on_signal)
            self._start()
            # What is made by now lives as long as the program; the collector
            # (off until now when run as `qapigen vm`) need not traverse it.
            gc.freeze()
            gc.enable()
            if ready is not None:
                ready()
            self.loop.run()
        finally:
            self._close()
        return self.status

    def _start(self) -> None:
        """Open the sockets, build the machines and put them behind their servers."""
        from ..machine import ConfigError, WatchdogConfig
        from .surface import ProfileError, ServedProfile

        options, sockets = self.options, self.sockets
        catalogue = options.catalogue
        try:
            self.served = ServedProfile(options.profile, "qapigen.simulator_api", catalogue.loaded)
        except ProfileError as err:
            raise CommandLineError(f"--profile {options.profile}", str(err)) from None
        if options.profile is not None:
            catalogue.adopt(self.served.profile())  # one reading of --profile FILE
        if options.daemonize:
            from .stdio import refuse_under_daemonize

            refuse_under_daemonize(options)
        _open_sockets(options, sockets)
        qtest_log, self._qtest_log = _qtest_log(options)
        qtest_conn = None
        if sockets.qtest is not None and not sockets.qtest[1]:
            from ..qtest.protocol import QtestConnection

            qtest_conn = QtestConnection(qtest_log)
            qtest_conn.opened()  # QEMU opens it before it looks at anything else
        mon_sockets = _monitor_sockets(options, sockets)
        kvm = None
        if "kvm" in options.cmdline.accelerators:
            from .host import kvm_error

            kvm = kvm_error()
        try:
            config = options.cmdline.build(
                options.catalogue, options.catalogue, kvm_error=kvm, qtest=sockets.qtest is not None
            )
        except ConfigError as err:
            error = CommandLineError(err.location, err.message)
            error.warnings = list(options.cmdline.warnings)
            raise error from None
        for warning in options.cmdline.warnings:
            print_stderr(f"{PROG}: {warning}\n")
        if any(spec.stdio for spec in options.chardevs):
            from .stdio import check_ports

            check_ports(options, config.machine_type)
        if not options.has_monitor:
            # QEMU would run; the simulated machine could not be driven at all.
            raise CommandLineError(None, _NO_MONITOR)
        # Only a watchdog's timer must wake the host (the PIT's fire when the
        # machine is next looked at): the loop asks every deadline at every turn,
        # which for a fleet would cost each request in proportion to its size.
        wakes_host = not config.manual_clock and any(
            isinstance(device, WatchdogConfig) for device in config.devices
        )
        if (
            options.count == 1
            and options.qmp_dir is None
            and sockets.qtest is None
            and not wakes_host
            and all(isinstance(sock, _socket.socket) for sock, _ in mon_sockets)  # not stdio
        ):
            self._greet_first(config, mon_sockets)
            return
        for n in range(options.count):
            self._add_machine(n, config, wakes_host, mon_sockets)
        if sockets.qtest is not None:
            self._serve_qtest(qtest_log, qtest_conn)

    def _greet_first(self, config: MachineConfig, mon_sockets: list[tuple[Channel, bool]]) -> None:
        """Listen on the monitors' sockets and greet who connects; the machine
        is built when a greeted client first sends anything (see the module's
        description)."""
        from ..qmp.json_writer import encode

        assert self.served is not None and self.options.qmp_dir is None
        version = self.served.version
        # As qapigen.qmp.protocol's ServerConnection greets (the server checks
        # that they agree when it takes the socket over).
        triple = {key: version[key] for key in ("major", "minor", "micro")}
        qmp = {"version": {"qemu": triple, "package": self.served.package}, "capabilities": ["oob"]}
        greeting = (encode({"QMP": qmp}) + "\r\n").encode("ascii")
        listening = [
            (monitor, *_bind(monitor, self.sockets.files)) for monitor in self.options.monitors
        ]

        def build(greeted: list[tuple[_socket.socket, _socket.socket | None, bytes]]) -> None:
            self._greeter = None
            self._add_machine(0, config, False, mon_sockets, listening, greeted)

        greeter = self._greeter = _Greeter(self.loop, greeting, build)
        for _, sock, _ in listening:
            greeter.listen(sock)
        for channel, is_listening in mon_sockets:
            assert isinstance(channel, _socket.socket)  # stdio is served once built
            if is_listening:
                greeter.listen(channel)
            else:
                greeter.greet(channel, None)

    def _add_machine(
        self,
        n: int,
        config: MachineConfig,
        wakes_host: bool,
        mon_sockets: list[tuple[Channel, bool]],
        listening: list[tuple[UnixMonitor | TcpMonitor, _socket.socket, str | tuple[str, int]]]
        | None = None,
        greeted: list[tuple[_socket.socket, _socket.socket | None, bytes]] | None = None,
    ) -> None:
        """Machine ``n``, behind its server, on its monitors' sockets.

        ``listening`` are its ``-qmp`` monitors' sockets if they listen already
        (with the addresses they are bound to), and ``greeted`` the clients
        greeted before (the socket, the listening one it came from, what of
        the greeting was sent): see :meth:`_greet_first`.
        """
        import functools  # here: the start path does without it (see docs/architecture.md)

        from qapigen import simulator_api

        from ..machine import Machine
        from ..qmp.selector_server import SelectorServer
        from .dump_files import DumpFiles
        from .surface import MachineSurface

        machine = Machine(
            config,
            on_exit=functools.partial(self._exited, n),
            guest_error_log=self.log,
            stderr=print_stderr,
        )
        assert self.served is not None
        # Its character devices, listed once its monitors listen (below).
        chardevs: list[Chardev] = []
        surface = MachineSurface(
            self.served,
            config.accelerator,
            chardevs,
            functools.partial(_client_sockets, self.servers, n),
            config.machine_type,
        )
        server = SelectorServer(simulator_api, machine, self.loop, surface=surface)
        machine.subscribe(server.service.broadcast)
        # Dumps: files opened through the monitors; a detached one written
        # once the command is answered.
        machine.dump_files = DumpFiles(server.service)
        machine.defer = self.loop.call_soon
        self.servers.append(server)
        self.machines.append(machine)
        if wakes_host:
            self.loop.add_deadline(
                functools.partial(_wake_at, machine), functools.partial(_timers_due, machine)
            )
        monitors = list(self.options.monitors)
        qmp_dir = self.options.qmp_dir
        if qmp_dir is not None:
            path = os.path.join(qmp_dir, f"vm{n:04d}.sock")
            monitors.append(UnixMonitor(path, f"--qmp-dir {qmp_dir}"))
        # The monitors' descriptor names, by id() of their listening socket.
        tables = {}
        if listening is None:
            bound = {id(m): _listen(server, m) for m in monitors}
        else:
            bound = {}
            for monitor, sock, name in listening:
                tables[id(sock)] = server.listen_socket(sock)
                bound[id(monitor)] = name
        fleet_monitor = monitors[-1] if qmp_dir is not None else None
        assert fleet_monitor is None or isinstance(fleet_monitor, UnixMonitor)
        chardevs += _chardevs(self.options, self.sockets, bound, fleet_monitor)
        for channel, is_listening in mon_sockets:
            if not isinstance(channel, _socket.socket):
                channel.serve(server)
            elif is_listening:
                tables[id(channel)] = server.listen_socket(channel)
            elif greeted is None:
                server.serve_connected(channel)
        for sock, origin, sent in greeted or ():
            named = tables[id(origin)] if origin is not None else None
            server.serve_connected(sock, named, greeted=sent)
        # What is made by now (modules, the profile read so far, the machine)
        # lives as long as the program: the cyclic garbage collector need not
        # traverse it again while the clients are served (libvirt's start
        # paid a collection of the middle generation, ~1 ms, for nothing).
        gc.freeze()

    def _serve_qtest(self, log: Callable[[str], None] | None, conn: QtestConnection | None) -> None:
        """Serve qtest on its socket, for the first machine."""
        from ..qtest.service import QtestService
        from ..qtest.transport import QtestPort

        assert self.sockets.qtest is not None
        service = QtestService(self.machines[0].qtest_access)
        sock, listening = self.sockets.qtest
        self.sockets.qtest = None  # the port owns it now
        self.qtest_port = QtestPort(
            service, self.loop, sock, listening=listening, log=log, conn=conn
        )

    def _exited(self, index: int, code: int) -> None:
        """Machine ``index`` exits with ``code``."""
        # No later command runs: QEMU is on its way out.
        self.servers[index].service.halted = True
        # Reply first: the exit takes effect once the current command is answered.
        self.loop.call_soon(lambda: self._finish(index, code))

    def _finish(self, index: int, code: int) -> None:
        self.alive -= 1
        single = self.options.count == 1
        if not single:
            self.servers[index].close()
        if self.alive == 0 or single:
            self.status = code
            self.loop.stop()

    def _on_signal(self, signum: int) -> None:
        # The status stays 0, unless a machine's exit already decided it.
        # Under a qtest driver QEMU keeps quiet about it.
        if self.options.qtest is None:
            print_stderr(f"{PROG}: terminating on signal {signum}\n")
        for machine in self.machines:
            if not machine.exited:
                machine.host_signal()
        self.loop.stop()

    def _close(self) -> None:
        # On the way out a terminating signal changes nothing (QEMU, past its
        # main loop, only notes it): harnesses send SIGTERM as soon as they see
        # SHUTDOWN, and the exit status, the files to remove and the replies
        # still due must not depend on when it lands.
        for signum in _TERMINATING:
            _signal.signal(signum, _signal.SIG_IGN)
        for server in self.servers:
            server.close()
        if self._greeter is not None:
            self._greeter.close()
        if self.qtest_port is not None:
            self.qtest_port.close()
        self.sockets.close()
        self.loop.close()
        if self._qtest_log is not None:
            self._qtest_log.close()


def _listen(server: SelectorServer, monitor: UnixMonitor | TcpMonitor) -> str | tuple[str, int]:
    """Make ``server`` listen where ``monitor`` says; QEMU's errors as
    :class:`.options.CommandLineError`.  The address the socket is bound to."""
    try:
        if isinstance(monitor, UnixMonitor):
            return server.listen_unix(monitor.path)
        return (monitor.host, server.listen_tcp(monitor.host, monitor.port))
    except OSError as err:
        raise _socket_error(monitor, err) from None


def _bind(
    monitor: UnixMonitor | TcpMonitor, files: list[SocketFile]
) -> tuple[_socket.socket, str | tuple[str, int]]:
    """A listening socket where ``monitor`` says (a unix one's file added to
    ``files``), and the address it is bound to; QEMU's errors as
    :class:`.options.CommandLineError` (as :func:`_listen`'s)."""
    from ..qmp.sockets import tcp_listener, unix_listener

    try:
        if isinstance(monitor, UnixMonitor):
            sock, file = unix_listener(monitor.path)
            files.append(file)
            return sock, str(sock.getsockname())
        sock = tcp_listener(monitor.host, monitor.port)
    except OSError as err:
        raise _socket_error(monitor, err) from None
    return sock, (monitor.host, int(sock.getsockname()[1]))


def _socket_error(monitor: UnixMonitor | TcpMonitor, err: OSError) -> CommandLineError:
    """QEMU's words for a monitor's socket that could not be made."""
    from ..qmp.sockets import UnlinkError

    why = os.strerror(err.errno) if err.errno else str(err)
    if not isinstance(monitor, UnixMonitor):
        return CommandLineError(monitor.location, f"Failed to find an available port: {why}")
    if isinstance(err, UnlinkError):
        return CommandLineError(monitor.location, f"Failed to unlink socket {monitor.path}: {why}")
    return CommandLineError(monitor.location, f"Failed to bind socket to {monitor.path}: {why}")


class _Greeter:
    """The monitors' sockets before the machine is built: who connects is
    greeted, and the first to send anything (or to hang up) has ``build``
    called with every client greeted so far (socket, the listening socket it
    came from or None, what of ``greeting`` was sent)."""

    def __init__(
        self,
        loop: Loop,
        greeting: bytes,
        build: Callable[[list[tuple[_socket.socket, _socket.socket | None, bytes]]], None],
    ) -> None:
        self.loop = loop
        self.greeting = greeting
        self._build = build
        self._listening: list[_Accepting] = []
        self._greeted: list[tuple[_socket.socket, _socket.socket | None, bytes]] = []
        self.built = False
        # A descriptor kept for building the machine (its modules are imported
        # then), so that clients that take all the others cannot prevent it.
        self._reserve: int | None = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def listen(self, sock: _socket.socket) -> None:
        """Greet the clients of ``sock``, a listening socket."""
        sock.setblocking(False)
        accepting = _Accepting(self, sock)
        self.loop.selector.register(sock, EVENT_READ, accepting)
        self._listening.append(accepting)

    def greet(self, sock: _socket.socket, origin: _socket.socket | None) -> None:
        """Greet the client at the other end of ``sock`` (accepted from ``origin``)."""
        sock.setblocking(False)
        try:
            sent = sock.send(self.greeting)
        except OSError:  # full, or gone: the server sends it, or finds it gone
            sent = 0
        self._greeted.append((sock, origin, self.greeting[:sent]))
        self.loop.selector.register(sock, EVENT_READ, _Greeted(self))

    def build(self) -> None:
        """Hand every socket over: the machine's server takes them from here.
        Once only: other sockets ready in the same turn of the loop are the
        server's by then."""
        if self.built:
            return
        self.built = True
        self._let_go()
        greeted, self._greeted = self._greeted, []
        self._build(greeted)

    def close(self) -> None:
        """Close every socket it still holds (the machine was never built)."""
        greeted = self._greeted
        for accepting in self._let_go():
            accepting.sock.close()
        self._greeted = []
        for sock, _, _ in greeted:
            sock.close()

    def _let_go(self) -> list[_Accepting]:
        """Stop waiting on the sockets; the listening ones it had."""
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None
        for accepting in self._listening:
            accepting.closed = True
            self.loop.forget(accepting)  # type: ignore[arg-type]  # as a server's listener
        for sock, _, _ in self._greeted:
            self.loop.selector.unregister(sock)
        listening, self._listening = self._listening, []
        return listening


class _Accepting:
    """A listening socket of a :class:`_Greeter`."""

    __slots__ = ("closed", "greeter", "sock")

    def __init__(self, greeter: _Greeter, sock: _socket.socket) -> None:
        self.greeter = greeter
        self.sock = sock
        self.closed = False

    def on_readable(self) -> None:
        import _socket

        if self.closed:  # the server's now (built earlier in this turn)
            return
        for _ in range(64):  # a burst of connections
            try:
                fd, _address = self.sock._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError:
                # No descriptor left: pending connections wait (as the server's
                # do) until a client leaves, which builds the machine.
                self.greeter.loop.pause_accepting(self)  # type: ignore[arg-type]
                return
            self.greeter.greet(_socket.socket(fileno=fd), self.sock)

    def on_writable(self) -> None:
        """Never asked for."""


class _Greeted:
    """A greeted client's socket, until it sends anything or hangs up."""

    __slots__ = ("greeter",)

    def __init__(self, greeter: _Greeter) -> None:
        self.greeter = greeter

    def on_readable(self) -> None:
        self.greeter.build()

    def on_writable(self) -> None:
        """Never asked for."""


def _chardevs(
    options: Options,
    sockets: _Sockets,
    bound: dict[int, str | tuple[str, int]],
    fleet_monitor: UnixMonitor | None,
) -> list[Chardev]:
    """A machine's character devices, in the order QEMU makes them (see
    :mod:`.chardev_info`); ``bound`` gives the addresses its ``-qmp`` monitors'
    sockets are bound to, by ``id()`` of their option, and ``fleet_monitor`` is
    its fleet's socket, if it has one (shown as one more ``-qmp``)."""
    from .chardev_info import Chardev
    from .options import TcpMonitor

    used = {mon.chardev for mon in options.mons}
    if options.qtest is not None and options.qtest.startswith("chardev:"):
        used.add(options.qtest[8:])
    out = []
    qmp = 0
    for backend in [*options.backends, *([fleet_monitor] if fleet_monitor else [])]:
        if isinstance(backend, (UnixMonitor, TcpMonitor)):
            name = bound[id(backend)]
            address = backend.path if isinstance(backend, UnixMonitor) else name
            out.append(
                Chardev(f"compat_monitor{qmp}", True, listening=True, address=address, bound=name)
            )
            qmp += 1
        elif backend.stdio:
            if backend.location == "-qmp stdio":
                qmp += 1
            out.append(Chardev(backend.id, backend.id in used, filename="stdio"))
        else:
            sock, listening = sockets.made[backend.id]
            assert isinstance(sock, _socket.socket)
            # A unix socket it made listens under a staging name: show its path.
            path = backend.path if listening else None
            out.append(
                Chardev(
                    backend.id, backend.id in used, sock=sock, listening=listening, address=path
                )
            )
    if sockets.qtest_made is not None:
        sock, listening, path = sockets.qtest_made
        out.append(Chardev("qtest", True, sock=sock, listening=listening, address=path))
    return out


def _client_sockets(servers: list[SelectorServer], index: int) -> list[_socket.socket]:
    """The sockets of the clients of machine ``index``'s monitors."""
    # A selector server's clients have their socket as ``sock``.
    found = (getattr(peer, "sock", None) for peer in servers[index].clients)
    return [sock for sock in found if sock is not None]


def _wake_at(machine: Machine) -> float | None:
    """When ``machine``'s next timer is due (``time.monotonic()``), or None."""
    if machine.exited:
        return None
    when = machine.virtual_clock.wake_at()
    return None if when is None else when / 1e9


def _timers_due(machine: Machine) -> None:
    if not machine.exited:
        machine.run_timers()


class _Sockets:
    """The character devices' sockets, opened before the machine is built (QEMU's order)."""

    def __init__(self) -> None:
        #: chardev id -> (its socket, whether it listens).
        self.chardevs: dict[str, tuple[Channel, bool]] = {}
        #: The qtest socket, whether it listens, and its connection's log.
        self.qtest: tuple[_socket.socket, bool] | None = None
        #: The files of the unix sockets they listen on, removed at close().
        self.files: list[SocketFile] = []
        #: Every chardev's socket as made (``chardevs`` loses ``-qtest``'s),
        #: and ``-qtest``'s own when it names none: what ``query-chardev`` shows.
        self.made: dict[str, tuple[Channel, bool]] = {}
        self.qtest_made: tuple[_socket.socket, bool, str | None] | None = None

    def close(self) -> None:
        for sock, _ in self.chardevs.values():
            sock.close()
        if self.qtest is not None:
            self.qtest[0].close()
        for file in self.files:
            file.remove()


def _open_sockets(options: Options, sockets: _Sockets) -> None:
    """Open the ``-chardev`` sockets, then ``-qtest``'s; QEMU's errors as
    :class:`CommandLineError`."""
    if not options.chardevs and options.qtest is None:
        return  # (without importing .chardev: most lines have only -qmp)
    from .chardev import ChardevError, open_chardev, parse_compat

    for spec in options.chardevs:
        try:
            if spec.stdio:
                from .stdio import open_stdio

                sockets.chardevs[spec.id] = (open_stdio(spec, options), False)
            else:
                sockets.chardevs[spec.id] = (open_chardev(spec, sockets.files), spec.server)
            sockets.made[spec.id] = sockets.chardevs[spec.id]
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
        channel, listening = found
        if not isinstance(channel, _socket.socket):
            raise CommandLineError(None, "qtest on stdio is not simulated")
        sockets.qtest = (channel, listening)
        return
    qtest_spec = parse_compat(text, f"-qtest {text}", "qtest")
    if qtest_spec is None:
        raise CommandLineError(None, failed)  # a backend the simulator does not have
    try:
        sockets.qtest = (open_chardev(qtest_spec, sockets.files), qtest_spec.server)
        sockets.qtest_made = (*sockets.qtest, qtest_spec.path)
    except ChardevError as err:
        # QEMU names no option here, and adds a line of its own.
        raise CommandLineError(None, f"{err.message}\n{PROG}: {failed}") from None


def _monitor_sockets(options: Options, sockets: _Sockets) -> list[tuple[Channel, bool]]:
    """The sockets of the ``-mon`` monitors; QEMU's errors as :class:`CommandLineError`."""
    used: list[tuple[Channel, bool]] = []
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


def _qtest_log(options: Options) -> tuple[Callable[[str], None] | None, FileLog | None]:
    """The qtest log's writer and its file: ``-qtest-log FILE`` (opened as QEMU
    opens it, ``w+``: truncated, read-write, so that ``/dev/fd/2`` works on a
    pipe), ``none``, or stderr by default; a file that cannot be opened gives no
    log (QEMU says nothing either)."""
    if options.qtest is None:
        return None, None
    name = options.qtest_log
    if name is None:
        return print_stderr, None
    if name == "none":
        return None, None
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    except OSError:
        return None, None
    log = FileLog(fd)
    return log.write, log
