"""How the machine reacts to guest events: the panic, shutdown, reboot and
watchdog actions (the command-line options that set them are
:mod:`.action_options`).

QEMU keeps four settings.  Their defaults make a guest panic end the emulator
(panic=shutdown, and shutdown=poweroff), which surprises people who read
``GUEST_PANICKED``'s documentation; ``-no-shutdown`` turns that into a pause
only because panic=shutdown defers to the shutdown action.  The decisions are
made here, as pure functions of the settings, so that :mod:`.machine` only
carries them out.
"""

from __future__ import annotations

from qapigen.runtime import QMPError
from qapigen.simulator_api import (
    GuestPanicAction,
    PanicAction,
    RebootAction,
    ShutdownAction,
    ShutdownCause,
    WatchdogAction,
)

from ..runtime.records import NamedTuple, Record

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

# -- the settings ----------------------------------------------------------------


if TYPE_CHECKING:
    from typing import TypeVar

    _E = TypeVar("_E", RebootAction, ShutdownAction, PanicAction, WatchdogAction)


def _coerce(enum: type[_E], name: str, value: _E | str) -> _E:
    """``value`` as a member of ``enum``; wire strings are accepted too.

    An unknown value gets QEMU's message for it, as QMP and the command line
    would give it.
    """
    if isinstance(value, enum):
        if not value.known:
            # A pseudo-member made by lenient decoding: QEMU would not know it.
            raise QMPError(
                "GenericError", f"Parameter '{name}' does not accept value '{value.value}'"
            )
        return value
    member = enum._value2member_map_.get(value) if isinstance(value, str) else None
    if member is None:
        shown = value.value if isinstance(value, enum) else value
        raise QMPError("GenericError", f"Parameter '{name}' does not accept value '{shown}'")
    return member  # type: ignore[return-value]  # _value2member_map_ is untyped


class Actions(Record):
    """The four reaction settings, with QEMU's defaults."""

    __slots__ = ("panic", "reboot", "shutdown", "watchdog")
    _FIELDS = ("reboot", "shutdown", "panic", "watchdog")

    def __init__(
        self,
        reboot: RebootAction = RebootAction.RESET,
        shutdown: ShutdownAction = ShutdownAction.POWEROFF,
        panic: PanicAction = PanicAction.SHUTDOWN,
        watchdog: WatchdogAction = WatchdogAction.RESET,
    ) -> None:
        self.reboot = reboot
        self.shutdown = shutdown
        self.panic = panic
        self.watchdog = watchdog

    def set(
        self,
        *,
        reboot: RebootAction | str | None = None,
        shutdown: ShutdownAction | str | None = None,
        panic: PanicAction | str | None = None,
        watchdog: WatchdogAction | str | None = None,
    ) -> None:
        """``set-action``: change the settings given, all or none.

        Every value is checked before any is applied, so a bad one leaves all
        four settings as they were (fact 10).  Raises ``QMPError`` with QEMU's
        message for an unknown value.
        """
        new_reboot = None if reboot is None else _coerce(RebootAction, "reboot", reboot)
        new_shutdown = None if shutdown is None else _coerce(ShutdownAction, "shutdown", shutdown)
        new_panic = None if panic is None else _coerce(PanicAction, "panic", panic)
        new_watchdog = None if watchdog is None else _coerce(WatchdogAction, "watchdog", watchdog)
        # QEMU's order, shutdown last; nothing can fail any more.
        if new_reboot is not None:
            self.reboot = new_reboot
        if new_panic is not None:
            self.panic = new_panic
        if new_watchdog is not None:
            self.watchdog = new_watchdog
        if new_shutdown is not None:
            self.shutdown = new_shutdown

    def copy(self) -> Actions:
        """An independent copy."""
        return Actions(self.reboot, self.shutdown, self.panic, self.watchdog)


# -- the decisions -----------------------------------------------------------------


class PanicResponse(NamedTuple):
    """What QEMU does when the guest reports a panic."""

    #: The ``action`` member of ``GUEST_PANICKED``.
    action: GuestPanicAction
    #: Whether the CPUs are stopped in state ``guest-panicked``.
    stop: bool
    #: Whether a shutdown (cause ``guest-panic``) is requested as well.
    shutdown: bool


_PANIC_PAUSE = PanicResponse(GuestPanicAction.PAUSE, stop=True, shutdown=False)
_PANIC_POWEROFF = PanicResponse(GuestPanicAction.POWEROFF, stop=True, shutdown=True)
_PANIC_RUN = PanicResponse(GuestPanicAction.RUN, stop=False, shutdown=False)


def panic_response(actions: Actions) -> PanicResponse:
    """QEMU's reaction to a guest panic under ``actions``.

    panic=shutdown with shutdown=pause is reported as a pause and goes to
    ``guest-panicked``, not through a shutdown; panic=exit-failure with
    shutdown=pause goes through the shutdown and so ends in ``shutdown``
    (that shutdown pauses, and the exit status stays 0).
    """
    panic = actions.panic
    if panic is PanicAction.PAUSE or (
        panic is PanicAction.SHUTDOWN and actions.shutdown is ShutdownAction.PAUSE
    ):
        return _PANIC_PAUSE
    if panic is PanicAction.SHUTDOWN or panic is PanicAction.EXIT_FAILURE:
        return _PANIC_POWEROFF
    return _PANIC_RUN


def reset_is_shutdown(actions: Actions, cause: ShutdownCause) -> bool:
    """Whether a reset request for ``cause`` becomes a shutdown request.

    reboot=shutdown (``-no-reboot``) turns every reset into a shutdown with
    the same cause, ``system_reset`` included, except the partial resets s390
    does for itself.
    """
    return actions.reboot is RebootAction.SHUTDOWN and cause is not ShutdownCause.SUBSYSTEM_RESET


def exit_status(actions: Actions, cause: ShutdownCause) -> int:
    """The emulator's exit status when a shutdown for ``cause`` ends it.

    Only a panic under panic=exit-failure fails; the setting is read when the
    shutdown is carried out.
    """
    if cause is ShutdownCause.GUEST_PANIC and actions.panic is PanicAction.EXIT_FAILURE:
        return 1
    return 0


_CAUSE_INDEX = {cause: i for i, cause in enumerate(ShutdownCause)}
_FIRST_GUEST_CAUSE = _CAUSE_INDEX[ShutdownCause.GUEST_SHUTDOWN]


def caused_by_guest(cause: ShutdownCause) -> bool:
    """The ``guest`` member of ``SHUTDOWN`` and ``RESET`` for ``cause``.

    QEMU compares the enum's position: every cause from ``guest-shutdown`` on
    counts as the guest's.
    """
    return _CAUSE_INDEX[cause] >= _FIRST_GUEST_CAUSE
