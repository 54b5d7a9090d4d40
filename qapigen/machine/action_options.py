"""The command-line options that set the machine's reactions: ``-action``,
``-no-shutdown``, ``-no-reboot`` and ``-watchdog-action``, merged as QEMU
merges them.

Apart from the settings themselves (:mod:`.actions`, whose values are the
generated bindings' enums): ``qapigen vm`` reads its command line before its
greeting, and a line whose values cannot be wrong is read without importing
the bindings (see :attr:`ActionOptions.written`).
"""

from __future__ import annotations

from qapigen.runtime.errors import QMPError

from .errors import ConfigError
from .options import parse_opts

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .actions import Actions

__all__ = ["ACTION_KEYS", "ActionOptions", "HelpRequested"]

#: The keys ``-action`` accepts, in the order QEMU checks their values.
ACTION_KEYS = ("reboot", "shutdown", "panic", "watchdog")


class HelpRequested(Exception):
    """``-action help``: QEMU prints ``text`` on stdout and exits with ``status``."""

    def __init__(self, text: str, status: int = 1) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


_ACTION_HELP = "action options:\n" + "".join(f"  {key}=<str>\n" for key in sorted(ACTION_KEYS))


class ActionOptions:
    """The ``-action``, ``-no-shutdown``, ``-no-reboot`` and ``-watchdog-action``
    options, merged as QEMU merges them.

    QEMU collects all of them into one list where the last value of a key wins,
    checks the keys as each option is parsed, and checks the values only once
    the whole command line has been read.  An error in a value is reported at
    the option that started the list (the first of these options given).
    """

    __slots__ = ("_location", "_values", "_written", "warnings")

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._location: str | None = None
        self._written = False
        #: Deprecation warnings QEMU prints (after its program name), in order.
        self.warnings: list[str] = []

    def action(self, text: str, *, spelling: str = "-action") -> None:
        """``-action text``.  Raises :class:`ConfigError` for an unknown key,
        :class:`HelpRequested` for ``help``."""
        location = f"{spelling} {text}"
        items = parse_opts(text)
        if any(item.name == "id" for item in items):
            # The merged list has no ids; QEMU checks this before the keys.
            raise ConfigError("Invalid parameter 'id'", location)
        self._start(location)
        for item in items:
            if item.is_help:
                raise HelpRequested(_ACTION_HELP)
            if item.flag_warning is not None:
                self.warnings.append(f"{location}: {item.flag_warning}")
            if item.name not in ACTION_KEYS:
                raise ConfigError(f"Invalid parameter '{item.name}'", location)
            self._values[item.name] = item.value
            self._written = True

    def no_shutdown(self, *, spelling: str = "-no-shutdown") -> None:
        """``-no-shutdown``: shutdown=pause."""
        self._start(spelling)
        self._values["shutdown"] = "pause"

    def no_reboot(self, *, spelling: str = "-no-reboot") -> None:
        """``-no-reboot``: reboot=shutdown."""
        self._start(spelling)
        self._values["reboot"] = "shutdown"

    def watchdog_action(self, value: str, *, spelling: str = "-watchdog-action") -> None:
        """``-watchdog-action value``: watchdog=value (checked later, like the rest)."""
        self._start(f"{spelling} {value}")
        self._values["watchdog"] = value
        self._written = True

    @property
    def written(self) -> bool:
        """Whether a value came from the line's own text (``-action``,
        ``-watchdog-action``): only those can be wrong, and only the settings'
        enums can say (``-no-shutdown`` and ``-no-reboot`` stand for values
        that are right)."""
        return self._written

    def _start(self, location: str) -> None:
        if self._location is None:
            self._location = location

    def resolve(self) -> Actions:
        """The settings the options give, over QEMU's defaults.

        Raises :class:`ConfigError` for the first bad value, in QEMU's order.
        """
        from .actions import Actions

        actions = Actions()
        values = self._values
        try:
            actions.set(**{key: values[key] for key in ACTION_KEYS if key in values})
        except QMPError as err:
            raise ConfigError(err.desc, self._location) from None
        return actions
