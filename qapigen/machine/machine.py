"""The simulated machine: run state, reaction settings and devices, behind the
generated QMP handler interface.

The machine knows nothing of sockets or JSON.  Commands arrive as calls of the
``simulator_api.Handler`` methods (so ``qapigen.runtime.Dispatcher`` can drive
it), events leave as generated event objects passed to subscribers.  The
machine owns its state and changes it only through its named operations
(:meth:`Machine.guest_panicked`, :meth:`Machine.request_reset`,
:meth:`Machine.watchdog_expired` ...), which its devices call: it is the
host of its pvpanic devices and of its watchdog.  Its board
(:mod:`.pc`) holds the address spaces and buses the devices sit on.  Code on
the guest's CPUs is played through :attr:`Machine.guest` (:class:`Guest`),
a test program's direct accesses through :attr:`Machine.qtest_access`.

How QEMU orders things, and how this model keeps that order
------------------------------------------------------------
In QEMU most actions do not take effect at once: they post *requests*
(shutdown, reset, powerdown, stop) that the main loop carries out, once the
callback that is running returns, in a fixed order: shutdown, then reset,
then powerdown, then stop.  The events an action sends itself
(``GUEST_PANICKED``, ``WATCHDOG`` ...) come before those of its requests.
The model does the same: every entry point (a QMP command, a guest action, a
test program's batch of requests, the timers that are due) is a *handler*;
the operations it leads to post requests, and when the outermost handler
returns, :meth:`Machine._main_loop` carries them out (then fires the timers
that have come due, and carries out what they asked for).  So the events a
call causes have all been delivered when it returns, which is what a client
sees (fact 3: the events of a command come before its reply).

One decision depends on who acts.  Stopping the machine from code on a CPU
is a request (the CPU cannot stop itself mid-instruction); from anywhere
else, such as a test program writing a device, it happens at once.  So a
panic under panic=exit-failure, shutdown=pause sends GUEST_PANICKED,
SHUTDOWN, STOP and ends in ``shutdown`` when the guest's CPU reports it (the
stop QEMU also posts comes last and finds the machine already stopped), but
GUEST_PANICKED, STOP, SHUTDOWN and ends in ``guest-panicked`` when a test
program writes the device, as QEMU does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from qapigen import runtime as rt
from qapigen.simulator_api import (
    GuestCrashloadedEvent,
    GuestPanicAction,
    GuestPanicInformation,
    GuestPanicInformation_hyper_v,
    GuestPanicInformation_s390,
    GuestPanickedEvent,
    GuestPvshutdownEvent,
    GuestRegisterValue,
    Handler,
    PanicAction,
    PowerdownEvent,
    RebootAction,
    ResetEvent,
    ResumeEvent,
    RunState,
    ShutdownAction,
    ShutdownCause,
    ShutdownEvent,
    StatusInfo,
    StopEvent,
    WatchdogAction,
    WatchdogEvent,
)

from .accel import QtestAccess
from .actions import Actions, caused_by_guest, exit_status, panic_response, reset_is_shutdown
from .clock import VirtualClock
from .config import MachineConfig
from .errors import GuestNotRunning, MachineExited
from .pc import PcBoard, ram_layout
from .pvpanic import PvpanicDevice
from .runstate import RunStateMachine

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import BinaryIO

    from qapigen.simulator_api import (
        BlockDeviceInfo,
        BlockInfo,
        CpuInfoFast,
        DumpGuestMemoryFormat,
        DumpQueryResult,
        HotpluggableCPU,
        ObjectPropertyInfo,
    )

    from .bus import AddressSpace
    from .dump import CoreLayout, DumpFiles
    from .pci import PciBus
    from .queries import MachineObjects
    from .watchdog import Ib700

#: A subscriber: receives every event with its time (seconds since the epoch).
EventSubscriber = Callable[[rt.Event, float], None]

# States from which a reset leaves the machine where it is; from any other the
# machine goes to prelaunch and needs `cont` (fact 13, 14).
_RESET_KEEPS = frozenset({RunState.RUNNING, RunState.INMIGRATE, RunState.FINISH_MIGRATE})
# Resets QEMU carries out without a RESET event.
_SILENT_RESETS = frozenset(
    {ShutdownCause.NONE, ShutdownCause.SUBSYSTEM_RESET, ShutdownCause.SNAPSHOT_LOAD}
)
# Rounds of requests and due timers one main-loop pass may take (timers that
# keep posting requests cannot hold it forever).
_MAX_ROUNDS = 100


def _c_alt_hex(value: int) -> str:
    # C's "%#x": like Python's "#x", except that zero has no "0x".
    return f"{value:#x}" if value else "0"


class _Handling:
    """The context of a handler: the main loop runs when the outermost one ends.

    A ``cpu`` handler is code on the guest's CPUs, and so is everything it
    leads to.
    """

    __slots__ = ("_cpu", "_machine")

    def __init__(self, machine: Machine, cpu: bool) -> None:
        self._machine = machine
        self._cpu = cpu

    def __enter__(self) -> None:
        m = self._machine
        m._depth += 1
        if self._cpu:
            m._cpu_depth += 1

    def __exit__(self, *exc: object) -> None:
        m = self._machine
        if self._cpu:
            m._cpu_depth -= 1
        m._depth -= 1
        if m._depth == 0 and m._exit_status is None:
            m._main_loop()


class Machine(Handler):
    """A QEMU 10.0 ``pc`` machine as far as guest panics, watchdogs and run states go.

    ``config`` says how it is built (``-S``, actions, devices, ``-accel``);
    ``clock`` gives event times; ``subscriber`` (more with :meth:`subscribe`)
    receives every event; ``guest_error_log`` receives what QEMU logs under
    ``-d guest_errors`` (None: not logged); ``stderr`` what QEMU prints on its
    standard error; ``on_exit`` is called once with the exit status when the
    emulator would exit (before the call that caused it returns: a server
    still sends that command's reply, then closes).  ``host_ns`` is the host's
    monotonic clock, which the virtual clock follows unless ``-accel qtest``.

    Like QEMU, the machine starts the guest at once unless ``-S`` was given,
    and that sends ``RESUME`` (only to subscribers given here: QEMU sends it
    before any client can have negotiated).
    """

    def __init__(
        self,
        config: MachineConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        subscriber: EventSubscriber | None = None,
        guest_error_log: Callable[[str], None] | None = None,
        stderr: Callable[[str], None] | None = None,
        on_exit: Callable[[int], None] | None = None,
        host_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        config = MachineConfig() if config is None else config
        placement = config.validate()
        self.config = config
        self._clock = clock
        self._subscribers: tuple[EventSubscriber, ...] = (
            (subscriber,) if subscriber is not None else ()
        )
        self._guest_error_log = guest_error_log
        self._stderr = stderr
        self._on_exit = on_exit
        self._runstate = RunStateMachine(RunState.PRELAUNCH)
        self._actions = config.actions.copy()
        self._exit_status: int | None = None
        # Requests for the main loop (QEMU keeps one of each kind).
        self._shutdown_request: ShutdownCause | None = None
        self._reset_request: ShutdownCause | None = None
        self._powerdown_request = False
        self._vmstop_request: RunState | None = None
        # Handlers under way, and how many of them act as the guest's CPUs.
        self._depth = 0
        self._cpu_depth = 0
        self._handling = _Handling(self, cpu=False)
        self._on_cpu = _Handling(self, cpu=True)
        # State of the guest's CPUs that the machine's reactions read.
        self._panic_info: GuestPanicInformation | None = None
        self._unknown_event_logged = False
        self._nmi_count = 0
        #: The virtual clock (manual under ``-accel qtest``).
        self.virtual_clock = VirtualClock(manual=config.manual_clock, host_ns=host_ns)
        #: The board: address spaces, PCI bus, devices, object tree.
        self.board = PcBoard(config, self, self.virtual_clock, placement)
        self._by_id = {dev.id: dev for dev in self.board.devices if dev.id is not None}
        #: The guest's CPUs.
        self.guest = Guest(self)
        #: What a test program (qtest) may do from outside the guest.
        self.qtest_access = QtestAccess(self)
        self._objects: MachineObjects | None = None
        #: Where dumps go: opens ``fd:NAME`` and ``file:PATH`` targets (the
        #: program's monitors and host; None: dump-guest-memory has none).
        self.dump_files: DumpFiles | None = None
        #: Runs what QEMU does on a thread of its own (a detached dump) once the
        #: current command is answered; None: at once, before the answer.
        self.defer: Callable[[Callable[[], None]], None] | None = None
        # The latest dump's status; None: there has been none.
        self._dump: DumpQueryResult | None = None
        if not config.start_paused:
            self._vm_start()

    # -- observing ------------------------------------------------------------------

    def subscribe(self, subscriber: EventSubscriber) -> Callable[[], None]:
        """Send every later event to ``subscriber``; returns what unsubscribes it."""
        self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

        return unsubscribe

    @property
    def status(self) -> RunState:
        """The current run state."""
        return self._runstate.state

    @property
    def running(self) -> bool:
        """Whether the guest's virtual CPUs execute."""
        return self._runstate.running

    @property
    def actions(self) -> Actions:
        """A copy of the current reaction settings (change them with :meth:`set_action`)."""
        return self._actions.copy()

    @property
    def exit_status(self) -> int | None:
        """The emulator's exit status once it has exited, else None."""
        return self._exit_status

    @property
    def exited(self) -> bool:
        """Whether the emulator has exited (nothing works any more)."""
        return self._exit_status is not None

    @property
    def devices(self) -> tuple[PvpanicDevice | Ib700, ...]:
        """The ``-device`` devices, in configuration order."""
        return tuple(self.board.devices)

    @property
    def io(self) -> AddressSpace:
        """The I/O port address space."""
        return self.board.io

    @property
    def memory(self) -> AddressSpace:
        """The memory address space."""
        return self.board.memory

    @property
    def pci(self) -> PciBus:
        """PCI bus 0."""
        return self.board.pci

    @property
    def nmi_count(self) -> int:
        """How many NMIs the guest received (watchdog action inject-nmi)."""
        return self._nmi_count

    def check_alive(self) -> None:
        """Raise :class:`MachineExited` once the emulator has exited."""
        if self._exit_status is not None:
            raise MachineExited(self._exit_status)

    def find_pvpanic(self, device: str | None) -> PvpanicDevice:
        """The pvpanic device called ``device`` (its id), or the only one (None).

        ``QMPError``: ``DeviceNotFound`` for an unknown id, ``GenericError``
        when ``device`` is needed but absent.
        """
        if device is not None:
            found = self._by_id.get(device)
            if not isinstance(found, PvpanicDevice):
                raise rt.QMPError("DeviceNotFound", f"Device '{device}' not found")
            return found
        pvpanics = [dev for dev in self.board.devices if isinstance(dev, PvpanicDevice)]
        if len(pvpanics) == 1:
            return pvpanics[0]
        if not pvpanics:
            raise rt.QMPError("GenericError", "The machine has no pvpanic device")
        raise rt.QMPError(
            "GenericError", "The machine has several pvpanic devices; say which with 'device'"
        )

    # -- handlers ---------------------------------------------------------------------

    def handling(self) -> _Handling:
        """A context for a handler acting from outside the guest's CPUs: what it
        posts is carried out when the outermost handler ends."""
        return self._handling

    def on_cpu(self) -> _Handling:
        """A context for code on the guest's CPUs (see :meth:`handling`)."""
        return self._on_cpu

    def run_timers(self) -> None:
        """Fire the timers that are due now (real time: when the host woke for them)."""
        self.check_alive()
        with self._handling:
            pass  # the main loop, at the end, fires them

    # -- QMP commands ------------------------------------------------------------------

    def query_status(self) -> StatusInfo:
        """``query-status``."""
        self.check_alive()
        with self._handling:
            state = self._runstate.state
            return StatusInfo(running=state is RunState.RUNNING, status=state)

    def stop(self) -> None:
        """``stop``: pause a running guest (STOP); elsewhere a silent no-op (fact 12, 14, 15)."""
        self.check_alive()
        with self._handling:
            # (QEMU's special case for an incoming migration is left out: the
            # simulator never migrates.)
            self._do_vm_stop(RunState.PAUSED)

    def cont(self) -> None:
        """``cont``: resume the guest (RESUME), unless it must be reset first."""
        self.check_alive()
        with self._handling:
            if self._runstate.needs_reset:
                raise rt.QMPError("GenericError", "Resetting the Virtual Machine is required")
            # The simulator never suspends nor migrates, so QEMU's cases for
            # suspended, finish-migrate and inmigrate cannot arise here.
            self._vm_start()

    def system_reset(self) -> None:
        """``system_reset``: RESET{guest: false}; a stopped machine goes to prelaunch."""
        self.check_alive()
        with self._handling:
            self.request_reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)

    def system_powerdown(self) -> None:
        """``system_powerdown``: POWERDOWN (pressing the power button)."""
        self.check_alive()
        with self._handling:
            self.request_powerdown()

    def quit(self) -> None:
        """``quit``: SHUTDOWN{guest: false, reason: host-qmp-quit}, then exit 0."""
        self.check_alive()
        with self._handling:
            # QEMU forces poweroff, so that quit ends the emulator even under
            # shutdown=pause.
            self._actions.shutdown = ShutdownAction.POWEROFF
            self.request_shutdown(ShutdownCause.HOST_QMP_QUIT)

    def set_action(
        self,
        *,
        reboot: RebootAction | str | None = None,
        shutdown: ShutdownAction | str | None = None,
        panic: PanicAction | str | None = None,
        watchdog: WatchdogAction | str | None = None,
    ) -> None:
        """``set-action``: all of the given settings, or none (fact 10)."""
        self.check_alive()
        with self._handling:
            self._actions.set(reboot=reboot, shutdown=shutdown, panic=panic, watchdog=watchdog)

    def watchdog_set_action(self, *, action: WatchdogAction | str) -> None:
        """``watchdog-set-action``."""
        self.check_alive()
        with self._handling:
            self._actions.set(watchdog=action)

    def host_signal(self) -> None:
        """SIGINT, SIGTERM or SIGHUP reached the emulator: it shuts down and exits 0.

        QEMU first prints ``terminating on signal N`` (with the sender's pid
        if known); that is the program's to print.
        """
        self.check_alive()
        with self._handling:
            self._actions.shutdown = ShutdownAction.POWEROFF  # as QEMU's signal handler does
            self.request_shutdown(ShutdownCause.HOST_SIGNAL)

    # -- what the command line made, read back ----------------------------------

    @property
    def objects(self) -> MachineObjects:
        """The vCPUs, QOM objects and block devices the queries read back
        (made, and their types imported, when a query first asks)."""
        if self._objects is None:
            from .queries import MachineObjects

            self._objects = MachineObjects(self.config)
        return self._objects

    def query_cpus_fast(self) -> list[CpuInfoFast]:
        """``query-cpus-fast``: the vCPUs of ``-smp``."""
        self.check_alive()
        return self.objects.cpus_fast()

    def query_hotpluggable_cpus(self) -> list[HotpluggableCPU]:
        """``query-hotpluggable-cpus``: every place for a vCPU, up to ``maxcpus``."""
        self.check_alive()
        return self.objects.hotpluggable_cpus()

    def qom_list(self, *, path: str) -> list[ObjectPropertyInfo]:
        """``qom-list`` of ``/machine/peripheral``, ``-anon`` or a vCPU."""
        self.check_alive()
        return self.objects.qom_list(path)

    def qom_get(self, *, path: str, property: str) -> rt.JSONValue:
        """``qom-get`` of a property of a vCPU or of a device's container."""
        self.check_alive()
        return self.objects.qom_get(path, property)

    def query_block(self) -> list[BlockInfo]:
        """``query-block``: the default drives and the devices' block nodes."""
        self.check_alive()
        return self.objects.block()

    def query_named_block_nodes(self, *, flat: bool | None = None) -> list[BlockDeviceInfo]:
        """``query-named-block-nodes``: the ``-blockdev`` nodes (file nodes have no
        backing chain, so ``flat`` changes nothing)."""
        self.check_alive()
        return self.objects.named_block_nodes()

    def dump_guest_memory(
        self,
        *,
        paging: bool,
        protocol: str,
        detach: bool | None = None,
        begin: int | None = None,
        length: int | None = None,
        format: DumpGuestMemoryFormat | None = None,
    ) -> None:
        """``dump-guest-memory``: the guest's memory as an ELF core (see :mod:`.dump`).

        QEMU's checks in QEMU's order; a running guest stops (STOP, state
        ``save-vm``) while the file is written and resumes after (RESUME);
        DUMP_COMPLETED comes in between.  With ``detach`` the file is written
        through :attr:`defer`, after the command's answer.
        """
        # Here, not at start: a machine that dumps nothing never loads dumps.
        from qapigen.simulator_api import DumpGuestMemoryFormat, DumpStatus

        from .dump import KDUMP_FORMATS

        self.check_alive()
        with self._handling:
            if self._runstate.state is RunState.INMIGRATE:
                raise rt.QMPError("GenericError", "Dump not allowed during incoming migration.")
            if self._dump is not None and self._dump.status is DumpStatus.ACTIVE:
                raise rt.QMPError("GenericError", "There is a dump in process, please wait.")
            fmt = DumpGuestMemoryFormat.ELF if format is None else format
            if fmt is not DumpGuestMemoryFormat.ELF and (
                paging or begin is not None or length is not None
            ):
                raise rt.QMPError(
                    "GenericError", "kdump-compressed format doesn't support paging or filter"
                )
            if begin is not None and length is None:
                raise rt.QMPError("GenericError", "Parameter 'length' is missing")
            if begin is None and length is not None:
                raise rt.QMPError("GenericError", "Parameter 'begin' is missing")
            if fmt.value in KDUMP_FORMATS:
                raise rt.QMPError(
                    "GenericError", f"dump format '{fmt.value}' is not simulated (only 'elf')"
                )
            out = self._open_dump_target(protocol)
            self._start_dump(out, fmt, begin, length, bool(detach))

    def query_dump(self) -> DumpQueryResult:
        """``query-dump``: the latest dump's status and byte counts."""
        self.check_alive()
        if self._dump is None:
            from qapigen.simulator_api import DumpQueryResult, DumpStatus

            return DumpQueryResult(status=DumpStatus.NONE, completed=0, total=0)
        return self._dump

    def _open_dump_target(self, protocol: str) -> BinaryIO:
        files = self.dump_files
        if protocol.startswith("fd:"):
            name = protocol[3:]
            if files is None:
                desc = f"File descriptor named '{name}' has not been found"
                raise rt.QMPError("GenericError", desc)
            return files.named(name)
        if protocol.startswith("file:"):
            if files is None:
                raise rt.QMPError("GenericError", f"Could not create '{protocol[5:]}'")
            return files.create(protocol[5:])
        raise rt.QMPError("GenericError", "parameter 'protocol' must start with 'file:' or 'fd:'")

    def _start_dump(
        self,
        out: BinaryIO,
        fmt: DumpGuestMemoryFormat,
        begin: int | None,
        length: int | None,
        detach: bool,
    ) -> None:
        """QEMU's dump_init(), then the dump now or deferred."""
        from qapigen.simulator_api import DumpQueryResult, DumpStatus

        from .dump import CoreLayout, guest_memory_blocks

        resume = self._runstate.running
        self._do_vm_stop(RunState.SAVE_VM)
        below, _ = ram_layout(self.config.ram_size)
        blocks = guest_memory_blocks(self.board.ram, below)
        total = sum(block.size for block in blocks)
        self._dump = DumpQueryResult(status=DumpStatus.ACTIVE, completed=0, total=total)
        problem = None
        if begin is not None and length is not None:
            if length == 0:
                problem = "parameter 'length' expects a non-zero size"
            else:
                kept = (block.clipped(begin, begin + length) for block in blocks)
                blocks = [block for block in kept if block is not None]
                if not blocks:
                    problem = "dump: no guest memory to dump"
        if problem is not None:
            self._dump = DumpQueryResult(status=DumpStatus.FAILED, completed=0, total=total)
            self._end_dump(out, resume)
            raise rt.QMPError("GenericError", problem)
        layout = CoreLayout(blocks, cpus=self.config.topology.cpus)
        self._dump = DumpQueryResult(status=DumpStatus.ACTIVE, completed=0, total=layout.total)

        def process() -> None:
            error = self._write_dump(out, fmt, layout, resume)
            if error is not None and not detach:
                raise rt.QMPError("GenericError", error)

        if detach and self.defer is not None:
            self.defer(process)
        else:
            process()

    def _write_dump(
        self, out: BinaryIO, fmt: DumpGuestMemoryFormat, layout: CoreLayout, resume: bool
    ) -> str | None:
        """QEMU's dump_process(): write, DUMP_COMPLETED, clean up; the error, if any."""
        from qapigen.simulator_api import (
            DumpCompletedEvent,
            DumpGuestMemoryFormat,
            DumpQueryResult,
            DumpStatus,
        )

        from .dump import DumpWriteError, write_core

        if self.exited:  # the emulator is gone: nothing is written
            out.close()
            return None
        with self._handling:
            error = None
            if fmt is DumpGuestMemoryFormat.WIN_DMP:
                # A Windows dump needs the guest's vmcoreinfo, which no
                # simulated guest provides.
                error = "win-dump: invalid vmcoreinfo note size"
            else:
                try:
                    write_core(out, layout)
                except DumpWriteError as err:
                    error = str(err)
            total = layout.total
            if error is None:
                self._dump = DumpQueryResult(
                    status=DumpStatus.COMPLETED, completed=total, total=total
                )
            else:
                self._dump = DumpQueryResult(status=DumpStatus.FAILED, completed=0, total=total)
            self._emit(DumpCompletedEvent(result=self._dump, error=error))
            self._end_dump(out, resume)
            return error

    def _end_dump(self, out: BinaryIO, resume: bool) -> None:
        """QEMU's dump_cleanup(): the file closed, a guest stopped for it resumed."""
        # What was written is written; a failing close changes nothing of it.
        with contextlib.suppress(OSError):
            out.close()
        if resume:
            self._vm_start()

    # -- the guest's commands (unstable, simulator only) ------------------------

    def x_guest_pvpanic_write(self, *, value: int, device: str | None = None) -> None:
        """``x-guest-pvpanic-write``: see :meth:`Guest.pvpanic_write`."""
        self.guest.pvpanic_write(value, device)

    def x_guest_pvpanic_read(self, *, device: str | None = None) -> GuestRegisterValue:
        """``x-guest-pvpanic-read``: see :meth:`Guest.pvpanic_read`."""
        return GuestRegisterValue(value=self.guest.pvpanic_read(device))

    def x_guest_io_write(self, *, port: int, value: int) -> None:
        """``x-guest-io-write``: see :meth:`Guest.io_write`."""
        self.guest.io_write(port, value)

    def x_guest_io_read(self, *, port: int) -> GuestRegisterValue:
        """``x-guest-io-read``: see :meth:`Guest.io_read`."""
        return GuestRegisterValue(value=self.guest.io_read(port))

    def x_guest_shutdown(self) -> None:
        """``x-guest-shutdown``: see :meth:`Guest.shutdown`."""
        self.guest.shutdown()

    def x_guest_reset(self) -> None:
        """``x-guest-reset``: see :meth:`Guest.reset`."""
        self.guest.reset()

    def x_guest_watchdog_expire(self) -> None:
        """``x-guest-watchdog-expire``: see :meth:`Guest.watchdog_expire`."""
        self.guest.watchdog_expire()

    def x_guest_panic_info(self, arguments: GuestPanicInformation) -> None:
        """``x-guest-panic-info``: see :meth:`Guest.set_panic_info`."""
        self.guest.set_panic_info(arguments)

    # -- the machine's operations (what devices, the guest and tests ask of it) ----

    def request_shutdown(self, cause: ShutdownCause) -> None:
        """Ask the main loop to shut down (QEMU's qemu_system_shutdown_request)."""
        self.check_alive()
        with self._handling:
            self._shutdown_request = cause

    def request_reset(self, cause: ShutdownCause) -> None:
        """Ask the main loop to reset, or to shut down under reboot=shutdown."""
        self.check_alive()
        with self._handling:
            if reset_is_shutdown(self._actions, cause):
                self._shutdown_request = cause
            else:
                self._reset_request = cause

    def request_powerdown(self) -> None:
        """Ask the main loop to press the power button (POWERDOWN)."""
        self.check_alive()
        with self._handling:
            self._powerdown_request = True

    def vm_stop(self, state: RunState) -> None:
        """Stop the guest in ``state``: at once, or by request from a CPU (QEMU's vm_stop)."""
        self.check_alive()
        with self._handling:
            if self._cpu_depth:
                self._vmstop_request = state
            else:
                self._do_vm_stop(state)

    def guest_panicked(self) -> None:
        """The guest reports a panic: GUEST_PANICKED, then the panic action."""
        self.check_alive()
        with self._handling:
            info = self._panic_info
            self._panic_info = None
            self._log("Guest crashed")
            response = panic_response(self._actions)
            self._emit(GuestPanickedEvent(action=response.action, info=info))
            if response.stop:
                self.vm_stop(RunState.GUEST_PANICKED)
            if response.shutdown:
                self._shutdown_request = ShutdownCause.GUEST_PANIC
            if info is not None:
                self._log_panic_info(info)

    def guest_crashloaded(self) -> None:
        """The guest reports that it loaded a crash kernel: GUEST_CRASHLOADED only."""
        self.check_alive()
        with self._handling:
            self._log("Guest crash loaded")
            # QEMU never acts on a crash kernel report: the guest goes on (fact 5).
            self._emit(GuestCrashloadedEvent(action=GuestPanicAction.RUN))

    def guest_pvshutdown(self) -> None:
        """The guest asks to be powered off through pvpanic: GUEST_PVSHUTDOWN, then a shutdown."""
        self.check_alive()
        with self._handling:
            self._emit(GuestPvshutdownEvent())
            self._shutdown_request = ShutdownCause.GUEST_SHUTDOWN

    def pvpanic_unknown_event(self, value: int) -> None:
        """A pvpanic write had bits no event stands for: logged, the first time only.

        (QEMU keeps that in a static flag of the device code: once per process.)
        """
        self.check_alive()
        if not self._unknown_event_logged:
            self._unknown_event_logged = True
            self._log(f"pvpanic: unknown event {_c_alt_hex(value)}.\n")

    def watchdog_expired(self) -> None:
        """A watchdog ran out: WATCHDOG, then the watchdog action."""
        self.check_alive()
        with self._handling:
            action = self._actions.watchdog
            self._emit(WatchdogEvent(action=action))
            if action is WatchdogAction.RESET:
                self.request_reset(ShutdownCause.GUEST_RESET)
            elif action is WatchdogAction.SHUTDOWN:
                self._powerdown_request = True  # like system_powerdown: the guest decides
            elif action is WatchdogAction.POWEROFF:
                self._exit(0)  # QEMU calls exit(0) on the spot: no SHUTDOWN event
            elif action is WatchdogAction.PAUSE:
                self._vmstop_request = RunState.WATCHDOG  # a request, even off the CPUs
            elif action is WatchdogAction.DEBUG:
                if self._stderr is not None:
                    self._stderr("watchdog: timer fired\n")
            elif action is WatchdogAction.INJECT_NMI:
                self._nmi_count += 1

    def set_panic_info(self, info: GuestPanicInformation | None) -> None:
        """Crash details for the next panic's GUEST_PANICKED (None forgets them).

        They are used once; a reset forgets them, as it clears the registers
        a real guest would have put them in.
        """
        self.check_alive()
        self._panic_info = info

    # -- events and exit ------------------------------------------------------------

    def _emit(self, event: rt.Event) -> None:
        now = self._clock()
        for subscriber in self._subscribers:
            subscriber(event, now)

    def _log(self, text: str) -> None:
        if self._guest_error_log is not None:
            self._guest_error_log(text)

    def _log_panic_info(self, info: GuestPanicInformation) -> None:
        if isinstance(info, GuestPanicInformation_hyper_v):
            args = " ".join(
                _c_alt_hex(a) for a in (info.arg1, info.arg2, info.arg3, info.arg4, info.arg5)
            )
            self._log(f"\nHV crash parameters: ({args})\n")
        elif isinstance(info, GuestPanicInformation_s390):
            self._log(
                f" on cpu {info.core}: {info.reason.value}\n"
                f"PSW: 0x{info.psw_mask:016x} 0x{info.psw_addr:016x}\n"
            )

    def _exit(self, status: int) -> None:
        self._exit_status = status
        # QEMU stops the CPUs on its way out, without a STOP event.
        self._do_vm_stop(RunState.SHUTDOWN, send_stop=False)
        self._shutdown_request = self._reset_request = self._vmstop_request = None
        self._powerdown_request = False
        self.virtual_clock.clear()
        if self._on_exit is not None:
            self._on_exit(status)

    # -- QEMU's run-state primitives ------------------------------------------------

    def _set_state(self, state: RunState) -> None:
        self._runstate.set(state)
        # The virtual clock runs with the CPUs.
        self.virtual_clock.enabled = self._runstate.running

    def _do_vm_stop(self, state: RunState, send_stop: bool = True) -> None:
        # Stopping changes something only while the guest's clock ticks; so a
        # stop while paused, panicked or shut down is silent (fact 12, 14, 15).
        if self._runstate.live:
            self._set_state(state)
            if send_stop:
                self._emit(StopEvent())

    def _vm_start(self) -> None:
        # QEMU also answers a stop request still pending at this point with
        # STOP and RESUME; here requests never outlive the call that made them.
        if self._runstate.running:
            return
        self._runstate.check(RunState.RUNNING)
        self._emit(ResumeEvent())  # QEMU sends it just before the CPUs run
        self._set_state(RunState.RUNNING)

    def _system_reset(self, cause: ShutdownCause) -> None:
        # The devices first, then the event (QEMU's qemu_system_reset).  The
        # guest's crash details live in CPU registers, which a reset clears.
        self.board.reset()
        self._panic_info = None
        if cause not in _SILENT_RESETS:
            self._emit(ResetEvent(guest=caused_by_guest(cause), reason=cause))

    def _process_requests(self) -> None:
        # One pass of QEMU's main_loop_should_exit(), in its order.
        cause = self._shutdown_request
        if cause is not None:
            self._shutdown_request = None
            self._emit(ShutdownEvent(guest=caused_by_guest(cause), reason=cause))
            if self._actions.shutdown is ShutdownAction.PAUSE:
                self._do_vm_stop(RunState.SHUTDOWN)
            else:
                self._exit(exit_status(self._actions, cause))
                return
        cause = self._reset_request
        if cause is not None:
            self._reset_request = None
            self._system_reset(cause)
            if self._runstate.state not in _RESET_KEEPS:
                self._set_state(RunState.PRELAUNCH)
        if self._powerdown_request:
            self._powerdown_request = False
            self._emit(PowerdownEvent())
        state = self._vmstop_request
        if state is not None:
            self._vmstop_request = None
            self._do_vm_stop(state)

    def _requests_pending(self) -> bool:
        return (
            self._shutdown_request is not None
            or self._reset_request is not None
            or self._powerdown_request
            or self._vmstop_request is not None
        )

    def _main_loop(self) -> None:
        # Carry out the requests, then fire the timers that have come due
        # (as handlers of their own), and again, until nothing is left.
        clock = self.virtual_clock
        for _ in range(_MAX_ROUNDS):
            self._process_requests()
            if self._exit_status is not None or clock.deadline() != 0:
                return
            self._depth += 1
            try:
                clock.run_due()
            finally:
                self._depth -= 1
            if not self._requests_pending():
                return


def _check_range(what: str, value: int, end: int) -> None:
    if not 0 <= value < end:
        raise ValueError(f"{what} must be 0..{end - 1}, not {value}")


class Guest:
    """Code on the guest's CPUs: what it can do, and only while the CPUs run.

    Every action but :meth:`set_panic_info` needs the virtual CPUs to be
    executing (status ``running``) and raises
    :class:`~qapigen.machine.errors.GuestNotRunning` otherwise; values and
    ports out of range raise ``ValueError``.  Ports are decoded by the
    machine's I/O address space; what a device does with an access is the
    device's and the machine's business.  Device lookups fail with
    ``QMPError`` (``DeviceNotFound`` for an unknown id, ``GenericError`` when
    ``device`` is needed but absent).  The effects of an action (events, run
    state, exit) are complete when it returns.
    """

    __slots__ = ("_machine",)

    def __init__(self, machine: Machine) -> None:
        self._machine = machine

    def _executing(self) -> Machine:
        m = self._machine
        m.check_alive()
        if not m.running:
            raise GuestNotRunning(m.status.value)
        return m

    def pvpanic_write(self, value: int, device: str | None = None) -> None:
        """Write ``value`` to the register of pvpanic device ``device``
        (its ``id``; None when there is only one)."""
        m = self._executing()
        _check_range("value", value, 0x100)
        dev = m.find_pvpanic(device)
        with m.on_cpu():
            dev.write(value)

    def pvpanic_read(self, device: str | None = None) -> int:
        """Read the register of pvpanic device ``device``: its ``events``."""
        m = self._executing()
        dev = m.find_pvpanic(device)
        with m.on_cpu():
            return dev.read()

    def io_write(self, port: int, value: int) -> None:
        """Write a byte to an I/O port (``out``); one no device decodes drops it."""
        m = self._executing()
        _check_range("port", port, 0x10000)
        _check_range("value", value, 0x100)
        with m.on_cpu():
            m.io.write_int(port, 1, value)

    def io_read(self, port: int) -> int:
        """Read a byte from an I/O port (``in``); one no device decodes reads 0xff."""
        m = self._executing()
        _check_range("port", port, 0x10000)
        with m.on_cpu():
            return m.io.read_int(port, 1)

    def shutdown(self) -> None:
        """Power off through ACPI: SHUTDOWN{guest: true, reason: guest-shutdown}."""
        m = self._executing()
        with m.on_cpu():
            m.request_shutdown(ShutdownCause.GUEST_SHUTDOWN)

    def reset(self) -> None:
        """Reboot the machine: RESET{guest: true, reason: guest-reset}, or a
        shutdown with that reason under reboot=shutdown (``-no-reboot``)."""
        m = self._executing()
        with m.on_cpu():
            m.request_reset(ShutdownCause.GUEST_RESET)

    def watchdog_expire(self) -> None:
        """Let the watchdog timer run out: WATCHDOG, then the watchdog action."""
        m = self._executing()
        with m.on_cpu():
            m.watchdog_expired()

    def set_panic_info(self, info: GuestPanicInformation | None) -> None:
        """Crash details for the next panic's GUEST_PANICKED (None forgets them)."""
        self._machine.set_panic_info(info)

    @property
    def nmi_count(self) -> int:
        """How many NMIs the guest received (watchdog action inject-nmi)."""
        return self._machine.nmi_count
