"""QEMU's run-state machine: the states, and which moves between them are legal.

QEMU keeps one current :class:`RunState` and checks every change against a
fixed table; a change the table does not list is a bug in the emulator, and
QEMU aborts.  The simulator raises :class:`InvalidTransition` instead, so a
bug surfaces as an exception rather than as a state no QEMU could be in.
"""

from __future__ import annotations

from qapigen.simulator_api import RunState

_R = RunState

#: QEMU 10.0's table of legal run-state changes, (from, to).  Staying in the
#: same state is always allowed and is not listed (QEMU ignores it).
TRANSITIONS: frozenset[tuple[RunState, RunState]] = frozenset(
    {
        (_R.PRELAUNCH, _R.INMIGRATE),
        (_R.PRELAUNCH, _R.SUSPENDED),
        (_R.PRELAUNCH, _R.RUNNING),
        (_R.PRELAUNCH, _R.FINISH_MIGRATE),
        (_R.DEBUG, _R.RUNNING),
        (_R.DEBUG, _R.FINISH_MIGRATE),
        (_R.DEBUG, _R.PRELAUNCH),
        (_R.DEBUG, _R.SUSPENDED),
        (_R.INMIGRATE, _R.INTERNAL_ERROR),
        (_R.INMIGRATE, _R.IO_ERROR),
        (_R.INMIGRATE, _R.PAUSED),
        (_R.INMIGRATE, _R.RUNNING),
        (_R.INMIGRATE, _R.SHUTDOWN),
        (_R.INMIGRATE, _R.SUSPENDED),
        (_R.INMIGRATE, _R.WATCHDOG),
        (_R.INMIGRATE, _R.GUEST_PANICKED),
        (_R.INMIGRATE, _R.FINISH_MIGRATE),
        (_R.INMIGRATE, _R.PRELAUNCH),
        (_R.INMIGRATE, _R.POSTMIGRATE),
        (_R.INMIGRATE, _R.COLO),
        (_R.INTERNAL_ERROR, _R.PAUSED),
        (_R.INTERNAL_ERROR, _R.FINISH_MIGRATE),
        (_R.INTERNAL_ERROR, _R.PRELAUNCH),
        (_R.IO_ERROR, _R.RUNNING),
        (_R.IO_ERROR, _R.FINISH_MIGRATE),
        (_R.IO_ERROR, _R.PRELAUNCH),
        (_R.PAUSED, _R.RUNNING),
        (_R.PAUSED, _R.FINISH_MIGRATE),
        (_R.PAUSED, _R.POSTMIGRATE),
        (_R.PAUSED, _R.PRELAUNCH),
        (_R.PAUSED, _R.COLO),
        (_R.PAUSED, _R.SUSPENDED),
        (_R.POSTMIGRATE, _R.RUNNING),
        (_R.POSTMIGRATE, _R.FINISH_MIGRATE),
        (_R.POSTMIGRATE, _R.PRELAUNCH),
        (_R.FINISH_MIGRATE, _R.RUNNING),
        (_R.FINISH_MIGRATE, _R.PAUSED),
        (_R.FINISH_MIGRATE, _R.POSTMIGRATE),
        (_R.FINISH_MIGRATE, _R.PRELAUNCH),
        (_R.FINISH_MIGRATE, _R.COLO),
        (_R.FINISH_MIGRATE, _R.INTERNAL_ERROR),
        (_R.FINISH_MIGRATE, _R.IO_ERROR),
        (_R.FINISH_MIGRATE, _R.SHUTDOWN),
        (_R.FINISH_MIGRATE, _R.SUSPENDED),
        (_R.FINISH_MIGRATE, _R.WATCHDOG),
        (_R.FINISH_MIGRATE, _R.GUEST_PANICKED),
        (_R.RESTORE_VM, _R.RUNNING),
        (_R.RESTORE_VM, _R.PRELAUNCH),
        (_R.RESTORE_VM, _R.SUSPENDED),
        (_R.COLO, _R.RUNNING),
        (_R.COLO, _R.PRELAUNCH),
        (_R.COLO, _R.SHUTDOWN),
        (_R.RUNNING, _R.DEBUG),
        (_R.RUNNING, _R.INTERNAL_ERROR),
        (_R.RUNNING, _R.IO_ERROR),
        (_R.RUNNING, _R.PAUSED),
        (_R.RUNNING, _R.FINISH_MIGRATE),
        (_R.RUNNING, _R.RESTORE_VM),
        (_R.RUNNING, _R.SAVE_VM),
        (_R.RUNNING, _R.SHUTDOWN),
        (_R.RUNNING, _R.WATCHDOG),
        (_R.RUNNING, _R.GUEST_PANICKED),
        (_R.RUNNING, _R.COLO),
        (_R.RUNNING, _R.SUSPENDED),
        (_R.SAVE_VM, _R.RUNNING),
        (_R.SAVE_VM, _R.SUSPENDED),
        (_R.SHUTDOWN, _R.PAUSED),
        (_R.SHUTDOWN, _R.FINISH_MIGRATE),
        (_R.SHUTDOWN, _R.PRELAUNCH),
        (_R.SHUTDOWN, _R.COLO),
        (_R.SUSPENDED, _R.RUNNING),
        (_R.SUSPENDED, _R.FINISH_MIGRATE),
        (_R.SUSPENDED, _R.PRELAUNCH),
        (_R.SUSPENDED, _R.COLO),
        (_R.SUSPENDED, _R.PAUSED),
        (_R.SUSPENDED, _R.SAVE_VM),
        (_R.SUSPENDED, _R.RESTORE_VM),
        (_R.SUSPENDED, _R.SHUTDOWN),
        (_R.WATCHDOG, _R.RUNNING),
        (_R.WATCHDOG, _R.FINISH_MIGRATE),
        (_R.WATCHDOG, _R.PRELAUNCH),
        (_R.WATCHDOG, _R.COLO),
        (_R.GUEST_PANICKED, _R.RUNNING),
        (_R.GUEST_PANICKED, _R.FINISH_MIGRATE),
        (_R.GUEST_PANICKED, _R.PRELAUNCH),
    }
)

#: States in which the guest's clock ticks ("live" in QEMU's words): only
#: from these does stopping the machine change anything or send STOP.
LIVE_STATES: frozenset[RunState] = frozenset({_R.RUNNING, _R.SUSPENDED})

#: States that ``cont`` refuses until the machine is reset.
NEEDS_RESET_STATES: frozenset[RunState] = frozenset({_R.INTERNAL_ERROR, _R.SHUTDOWN})


def transition_allowed(old: RunState, new: RunState) -> bool:
    """Whether QEMU lets the run state go from ``old`` to ``new``."""
    return old is new or (old, new) in TRANSITIONS


class InvalidTransition(RuntimeError):
    """A run-state change QEMU's table forbids (QEMU aborts on it).

    It always means a bug in the simulator, never a client's mistake.
    """

    def __init__(self, old: RunState, new: RunState) -> None:
        # QEMU's own wording, before it aborts.
        super().__init__(f"invalid runstate transition: '{old.value}' -> '{new.value}'")
        self.old = old
        self.new = new


class RunStateMachine:
    """The current run state, changed only along QEMU's table."""

    __slots__ = ("_state",)

    def __init__(self, initial: RunState = RunState.PRELAUNCH) -> None:
        # QEMU starts every machine in prelaunch; it leaves it when it
        # starts the guest (at once, unless -S was given).
        self._state = initial

    @property
    def state(self) -> RunState:
        """The current run state."""
        return self._state

    def check(self, new: RunState) -> None:
        """Raise :class:`InvalidTransition` unless the move to ``new`` is legal."""
        if not transition_allowed(self._state, new):
            raise InvalidTransition(self._state, new)

    def set(self, new: RunState) -> None:
        """Move to ``new``; staying put is a no-op, as in QEMU.

        Raises :class:`InvalidTransition` (and changes nothing) when QEMU's
        table does not allow the move.
        """
        if new is self._state:
            return
        if (self._state, new) not in TRANSITIONS:
            raise InvalidTransition(self._state, new)
        self._state = new

    @property
    def running(self) -> bool:
        """Whether the virtual CPUs execute (``query-status``'s ``running``)."""
        return self._state is RunState.RUNNING

    @property
    def live(self) -> bool:
        """Whether the guest's clock ticks (running or suspended)."""
        return self._state in LIVE_STATES

    @property
    def needs_reset(self) -> bool:
        """Whether only a reset can make the machine run again."""
        return self._state in NEEDS_RESET_STATES

    def __repr__(self) -> str:
        return f"RunStateMachine({self._state.value!r})"
