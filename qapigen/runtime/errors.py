"""Errors of the wire codec and of command dispatch."""

from __future__ import annotations


class WireError(ValueError):
    """A value that strict decoding rejects.

    ``desc`` is QEMU's message for the same input.  The message names the
    member where the fault is; QEMU names it either by its full path (``a.b``,
    ``list[2].c``) or by its own name only (enum values, integer ranges,
    alternates), and the error is built up as it travels outward through the
    containers, so both forms come out right.
    """

    def __init__(self, fmt: str, *, full: bool = True) -> None:
        super().__init__(fmt)
        self._fmt = fmt
        self._full = full
        # Member names (str) and list indexes (int), innermost first.
        self._path: list[str | int] = []

    @classmethod
    def missing(cls, name: str) -> WireError:
        return cls("Parameter '%s' is missing").inside(name)

    @classmethod
    def unexpected(cls, name: str) -> WireError:
        return cls("Parameter '%s' is unexpected").inside(name)

    @classmethod
    def wrong_type(cls, expected: str) -> WireError:
        return cls(f"Invalid parameter type for '%s', expected: {expected}")

    @classmethod
    def no_alternative(cls, alternate: str) -> WireError:
        """No branch of the alternate ``alternate`` takes the value's JSON type."""
        return cls(f"Invalid parameter type for '%s', expected: {alternate}", full=False)

    @classmethod
    def bad_value(cls, what: str, *, full: bool) -> WireError:
        """QEMU's "expects" message.

        QEMU's input visitor names the member by its path (``uint64``), its
        range checks by the member's own name only (``uint8_t`` ...).
        """
        return cls(f"Parameter '%s' expects {what}", full=full)

    @classmethod
    def not_this_branch(cls, tag: str, obj: dict[str, object]) -> WireError:
        """A union branch's class given another branch's tag value."""
        return cls(f"Parameter '%s' does not accept value '{obj.get(tag)}'", full=False).inside(tag)

    def inside(self, name: str | int | None) -> WireError:
        """This error, as seen from the container holding ``name`` (None: the root)."""
        if name is not None:
            self._path.append(name)
        self.args = (self.desc,)
        return self

    @property
    def desc(self) -> str:
        return self._fmt.replace("%s", self.member_name(), 1)

    def member_name(self) -> str:
        """The name QEMU's message gives the faulty member."""
        path = self._path
        if not self._full:
            return path[0] if path and isinstance(path[0], str) else "null"
        if not path:
            return "<anonymous>"
        out = ""
        for part in reversed(path):
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out[1:] if out.startswith(".") else out

    def __str__(self) -> str:
        return self.desc


class CommandError(Exception):
    """A command's failure, as QMP reports it: an error class and a description.

    A command handler raises it, and the dispatcher's caller answers with it
    (:meth:`to_wire`).  The typed client raises its subclasses, which are
    also ``qemu.qmp.ExecuteError`` (see :mod:`qapigen.runtime.client.errors`),
    so one ``except CommandError`` catches a refused command on either side.
    """

    def __init__(self, error_class: str, desc: str) -> None:
        super().__init__(desc)
        self._error_class = error_class
        self._desc = desc

    @property
    def error_class(self) -> str:
        """The QMP error class (``GenericError``, ``CommandNotFound``, ...)."""
        return self._error_class

    @property
    def desc(self) -> str:
        """The error's text, as QEMU words it."""
        return self._desc

    def to_wire(self) -> dict[str, str]:
        """The ``error`` member of a QMP error reply."""
        return {"class": self.error_class, "desc": self.desc}


#: The old name of :class:`CommandError` (it is not ``qemu.qmp.QMPError``).
QMPError = CommandError


class CommandNotImplemented(Exception):
    """Raised by a handler for a command it does not implement."""
