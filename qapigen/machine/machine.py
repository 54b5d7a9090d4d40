"""The simulated machine: run state, reaction settings and pvpanic devices,
behind the generated QMP handler interface.

The machine knows nothing of sockets or JSON.  Commands arrive as calls of the
``simulator_api.Handler`` methods (so ``qapigen.runtime.Dispatcher`` can drive
it), events leave as generated event objects passed to subscribers, and the
guest is played by whoever calls :attr:`Machine.guest`.

How QEMU orders things, and how this model keeps that order
------------------------------------------------------------
In QEMU, guest code (on a vCPU thread) and most commands do not act at once:
they post *requests* (shutdown, reset, powerdown, stop) that the main loop
carries out in a fixed order: shutdown, then reset, then powerdown, then
stop.  The events a guest action sends itself (``GUEST_PANICKED``, ``WATCHDOG``
...) come before those of the requests it posts.  The model does the same:
guest actions and commands post requests, then :meth:`Machine._main_loop`
runs one pass over them before the call returns.  So the events caused by a
call have all been delivered when it returns, which is what a client sees
(fact 3: the events of a command come before its reply), and the relative
orders come out as QEMU's, e.g. a panic under panic=exit-failure,
shutdown=pause sends GUEST_PANICKED, SHUTDOWN, STOP and leaves the machine in
``shutdown``: the stop in ``guest-panicked`` QEMU also posts comes last and
finds the machine already stopped.
"""

from __future__ import annotations

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

from .actions import Actions, caused_by_guest, exit_status, panic_response, reset_is_shutdown
from .config import MachineConfig
from .errors import GuestNotRunning, MachineExited
from .pvpanic import PvpanicDevice, PvpanicISA
from .runstate import RunStateMachine

#: A subscriber: receives every event with its time (seconds since the epoch).
EventSubscriber = Callable[[rt.Event, float], None]

# States from which a reset leaves the machine where it is; from any other the
# machine goes to prelaunch and needs `cont` (fact 13, 14).
_RESET_KEEPS = frozenset({RunState.RUNNING, RunState.INMIGRATE, RunState.FINISH_MIGRATE})
# Resets QEMU carries out without a RESET event.
_SILENT_RESETS = frozenset(
    {ShutdownCause.NONE, ShutdownCause.SUBSYSTEM_RESET, ShutdownCause.SNAPSHOT_LOAD}
)


def _c_alt_hex(value: int) -> str:
    # C's "%#x": like Python's "#x", except that zero has no "0x".
    return f"{value:#x}" if value else "0"


class Machine(Handler):
    """A QEMU 10.0 machine as far as guest panics and run states go.

    ``config`` says how it is built (``-S``, actions, pvpanic devices);
    ``clock`` gives event times; ``subscriber`` (more with :meth:`subscribe`)
    receives every event; ``guest_error_log`` receives what QEMU logs under
    ``-d guest_errors`` (None: not logged); ``stderr`` what QEMU prints on its
    standard error; ``on_exit`` is called once with the exit status when the
    emulator would exit (before the call that caused it returns: a server
    still sends that command's reply, then closes).

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
    ) -> None:
        config = MachineConfig() if config is None else config
        config.validate()
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
        # Guest-side state.
        self._panic_info: GuestPanicInformation | None = None
        self._unknown_event_logged = False
        self._nmi_count = 0
        host = _PvpanicHost(self)
        devices = [dev.create() for dev in config.devices]
        self._devices = tuple(devices)
        self._by_id = {dev.id: dev for dev in devices if dev.id is not None}
        self._ports: dict[int, PvpanicDevice] = {}
        for dev in devices:
            dev.attach(host)
            if isinstance(dev, PvpanicISA):
                self._ports[dev.ioport] = dev
        self.guest = Guest(self)
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
    def devices(self) -> tuple[PvpanicDevice, ...]:
        """The pvpanic devices, in configuration order."""
        return self._devices

    # -- QMP commands ------------------------------------------------------------------

    def query_status(self) -> StatusInfo:
        """``query-status``."""
        self._check_alive()
        state = self._runstate.state
        return StatusInfo(running=state is RunState.RUNNING, status=state)

    def stop(self) -> None:
        """``stop``: pause a running guest (STOP); elsewhere a silent no-op (fact 12, 14, 15)."""
        self._check_alive()
        # (QEMU's special case for an incoming migration is left out: the
        # simulator never migrates.)
        self._do_vm_stop(RunState.PAUSED)

    def cont(self) -> None:
        """``cont``: resume the guest (RESUME), unless it must be reset first."""
        self._check_alive()
        if self._runstate.needs_reset:
            raise rt.QMPError("GenericError", "Resetting the Virtual Machine is required")
        # The simulator never suspends nor migrates, so QEMU's cases for
        # suspended, finish-migrate and inmigrate cannot arise here.
        self._vm_start()

    def system_reset(self) -> None:
        """``system_reset``: RESET{guest: false}; a stopped machine goes to prelaunch."""
        self._check_alive()
        self._request_reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)
        self._main_loop()

    def system_powerdown(self) -> None:
        """``system_powerdown``: POWERDOWN (pressing the power button)."""
        self._check_alive()
        self._powerdown_request = True
        self._main_loop()

    def quit_(self) -> None:
        """``quit``: SHUTDOWN{guest: false, reason: host-qmp-quit}, then exit 0."""
        self._check_alive()
        # QEMU forces poweroff, so that quit ends the emulator even under
        # shutdown=pause.
        self._actions.shutdown = ShutdownAction.POWEROFF
        self._shutdown_request = ShutdownCause.HOST_QMP_QUIT
        self._main_loop()

    def set_action(
        self,
        *,
        reboot: RebootAction | str | None = None,
        shutdown: ShutdownAction | str | None = None,
        panic: PanicAction | str | None = None,
        watchdog: WatchdogAction | str | None = None,
    ) -> None:
        """``set-action``: all of the given settings, or none (fact 10)."""
        self._check_alive()
        self._actions.set(reboot=reboot, shutdown=shutdown, panic=panic, watchdog=watchdog)

    def watchdog_set_action(self, *, action: WatchdogAction | str) -> None:
        """``watchdog-set-action``."""
        self._check_alive()
        self._actions.set(watchdog=action)

    def host_signal(self) -> None:
        """SIGINT, SIGTERM or SIGHUP reached the emulator: it shuts down and exits 0.

        QEMU first prints ``terminating on signal N`` (with the sender's pid
        if known); that is the program's to print.
        """
        self._check_alive()
        self._actions.shutdown = ShutdownAction.POWEROFF  # as QEMU's signal handler does
        self._shutdown_request = ShutdownCause.HOST_SIGNAL
        self._main_loop()

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

    # -- events and exit ------------------------------------------------------------

    def _emit(self, event: rt.Event) -> None:
        now = self._clock()
        for subscriber in self._subscribers:
            subscriber(event, now)

    def _log(self, text: str) -> None:
        if self._guest_error_log is not None:
            self._guest_error_log(text)

    def _check_alive(self) -> None:
        if self._exit_status is not None:
            raise MachineExited(self._exit_status)

    def _exit(self, status: int) -> None:
        self._exit_status = status
        # QEMU stops the CPUs on its way out, without a STOP event.
        self._do_vm_stop(RunState.SHUTDOWN, send_stop=False)
        self._shutdown_request = self._reset_request = self._vmstop_request = None
        self._powerdown_request = False
        if self._on_exit is not None:
            self._on_exit(status)

    # -- QEMU's run-state primitives ------------------------------------------------

    def _do_vm_stop(self, state: RunState, send_stop: bool = True) -> None:
        # Stopping changes something only while the guest's clock ticks; so a
        # stop while paused, panicked or shut down is silent (fact 12, 14, 15).
        if self._runstate.live:
            self._runstate.set(state)
            if send_stop:
                self._emit(StopEvent())

    def _vm_start(self) -> None:
        # QEMU also answers a stop request still pending at this point with
        # STOP and RESUME; here requests never outlive the call that made them.
        if self._runstate.running:
            return
        self._runstate.check(RunState.RUNNING)
        self._emit(ResumeEvent())  # QEMU sends it just before the CPUs run
        self._runstate.set(RunState.RUNNING)

    def _request_reset(self, cause: ShutdownCause) -> None:
        if reset_is_shutdown(self._actions, cause):
            self._shutdown_request = cause
        else:
            self._reset_request = cause

    def _system_reset(self, cause: ShutdownCause) -> None:
        # The guest's crash details live in CPU registers, which a reset clears.
        self._panic_info = None
        if cause not in _SILENT_RESETS:
            self._emit(ResetEvent(guest=caused_by_guest(cause), reason=cause))

    def _main_loop(self) -> None:
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
                self._runstate.set(RunState.PRELAUNCH)
        if self._powerdown_request:
            self._powerdown_request = False
            self._emit(PowerdownEvent())
        state = self._vmstop_request
        if state is not None:
            self._vmstop_request = None
            self._do_vm_stop(state)

    # -- guest-side primitives (called by Guest and by the pvpanic devices) -------

    def _guest_check(self) -> None:
        self._check_alive()
        if not self._runstate.running:
            raise GuestNotRunning(self._runstate.state.value)

    def _pvpanic(self, device: str | None) -> PvpanicDevice:
        if device is not None:
            found = self._by_id.get(device)
            if found is None:
                raise rt.QMPError("DeviceNotFound", f"Device '{device}' not found")
            return found
        if len(self._devices) == 1:
            return self._devices[0]
        if not self._devices:
            raise rt.QMPError("GenericError", "The machine has no pvpanic device")
        raise rt.QMPError(
            "GenericError", "The machine has several pvpanic devices; say which with 'device'"
        )

    def _guest_panicked(self) -> None:
        info = self._panic_info
        self._panic_info = None
        self._log("Guest crashed")
        response = panic_response(self._actions)
        self._emit(GuestPanickedEvent(action=response.action, info=info))
        if response.stop:
            # From guest code QEMU cannot stop at once: it posts the stop.
            self._vmstop_request = RunState.GUEST_PANICKED
        if response.shutdown:
            self._shutdown_request = ShutdownCause.GUEST_PANIC
        if info is not None:
            self._log_panic_info(info)

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

    def _guest_crashloaded(self) -> None:
        self._log("Guest crash loaded")
        # QEMU never acts on a crash kernel report: the guest goes on (fact 5).
        self._emit(GuestCrashloadedEvent(action=GuestPanicAction.RUN))

    def _guest_pvshutdown(self) -> None:
        self._emit(GuestPvshutdownEvent())
        self._shutdown_request = ShutdownCause.GUEST_SHUTDOWN

    def _pvpanic_unknown(self, value: int) -> None:
        # QEMU logs the first such write only (a static flag in the device code).
        if not self._unknown_event_logged:
            self._unknown_event_logged = True
            self._log(f"pvpanic: unknown event {_c_alt_hex(value)}.\n")


class _PvpanicHost:
    """Connects the pvpanic devices to their machine (the device's view of it).

    A device can be written directly too (ACPI methods, the PCI BAR), not
    only through :class:`Guest`: each report is therefore carried out here,
    main loop included.  Writing a device does not check that the CPUs run:
    that is the CPU's business, i.e. :class:`Guest`'s.
    """

    __slots__ = ("_machine",)

    def __init__(self, machine: Machine) -> None:
        self._machine = machine

    def pvpanic_unknown(self, value: int) -> None:
        self._machine._check_alive()
        self._machine._pvpanic_unknown(value)

    def pvpanic_panicked(self) -> None:
        m = self._machine
        m._check_alive()
        m._guest_panicked()
        m._main_loop()

    def pvpanic_crashloaded(self) -> None:
        m = self._machine
        m._check_alive()
        m._guest_crashloaded()
        m._main_loop()

    def pvpanic_shutdown(self) -> None:
        m = self._machine
        m._check_alive()
        m._guest_pvshutdown()
        m._main_loop()


def _check_range(what: str, value: int, end: int) -> None:
    if not 0 <= value < end:
        raise ValueError(f"{what} must be 0..{end - 1}, not {value}")


class Guest:
    """The guest side of a :class:`Machine`: what code on its CPUs would do.

    Every action but :meth:`set_panic_info` needs the virtual CPUs to be
    executing (status ``running``) and raises
    :class:`~qapigen.machine.errors.GuestNotRunning` otherwise.  Device
    lookups fail with ``QMPError`` (``DeviceNotFound`` for an unknown id,
    ``GenericError`` when ``device`` is needed but absent).  The effects of an
    action (events, run state, exit) are complete when it returns.
    """

    __slots__ = ("_machine",)

    def __init__(self, machine: Machine) -> None:
        self._machine = machine

    def pvpanic_write(self, value: int, device: str | None = None) -> None:
        """Write ``value`` to the register of pvpanic device ``device``
        (its ``id``; None when there is only one)."""
        m = self._machine
        m._guest_check()
        _check_range("value", value, 0x100)
        m._pvpanic(device).write(value)

    def pvpanic_read(self, device: str | None = None) -> int:
        """Read the register of pvpanic device ``device``: its ``events``."""
        m = self._machine
        m._guest_check()
        return m._pvpanic(device).read()

    def io_write(self, port: int, value: int) -> None:
        """Write a byte to an I/O port; one no device decodes drops it."""
        m = self._machine
        m._guest_check()
        _check_range("port", port, 0x10000)
        _check_range("value", value, 0x100)
        dev = m._ports.get(port)
        if dev is not None:
            dev.write(value)

    def io_read(self, port: int) -> int:
        """Read a byte from an I/O port; one no device decodes reads 0xff."""
        m = self._machine
        m._guest_check()
        _check_range("port", port, 0x10000)
        dev = m._ports.get(port)
        return 0xFF if dev is None else dev.read()

    def shutdown(self) -> None:
        """Power off through ACPI: SHUTDOWN{guest: true, reason: guest-shutdown}."""
        m = self._machine
        m._guest_check()
        m._shutdown_request = ShutdownCause.GUEST_SHUTDOWN
        m._main_loop()

    def reset(self) -> None:
        """Reboot the machine: RESET{guest: true, reason: guest-reset}, or a
        shutdown with that reason under reboot=shutdown (``-no-reboot``)."""
        m = self._machine
        m._guest_check()
        m._request_reset(ShutdownCause.GUEST_RESET)
        m._main_loop()

    def watchdog_expire(self) -> None:
        """Let the watchdog timer run out: WATCHDOG, then the watchdog action."""
        m = self._machine
        m._guest_check()
        action = m._actions.watchdog
        m._emit(WatchdogEvent(action=action))
        if action is WatchdogAction.RESET:
            m._request_reset(ShutdownCause.GUEST_RESET)
        elif action is WatchdogAction.SHUTDOWN:
            m._powerdown_request = True  # like system_powerdown: the guest decides
        elif action is WatchdogAction.POWEROFF:
            m._exit(0)  # QEMU calls exit(0) on the spot: no SHUTDOWN event
            return
        elif action is WatchdogAction.PAUSE:
            m._vmstop_request = RunState.WATCHDOG
        elif action is WatchdogAction.DEBUG:
            if m._stderr is not None:
                m._stderr("watchdog: timer fired\n")
        elif action is WatchdogAction.INJECT_NMI:
            m._nmi_count += 1
        m._main_loop()

    def set_panic_info(self, info: GuestPanicInformation | None) -> None:
        """Crash details for the next panic's GUEST_PANICKED (None forgets them).

        They are used once; a reset forgets them, as it clears the registers
        a real guest would have put them in.
        """
        m = self._machine
        m._check_alive()
        m._panic_info = info

    @property
    def nmi_count(self) -> int:
        """How many NMIs the guest received (watchdog action inject-nmi)."""
        return self._machine._nmi_count
