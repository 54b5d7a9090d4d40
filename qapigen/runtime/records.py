"""Small value classes, without the dataclasses module.

``qapigen vm`` must start in a few tens of milliseconds, and importing
:mod:`dataclasses` (with :mod:`inspect`, :mod:`ast`, :mod:`dis` ...) would
take ~10 ms of that.  The records of the modules it loads (the QMP core's
results, the machine's configuration) derive from these instead: a subclass
declares its ``__slots__``, lists its fields in ``_FIELDS`` and sets them in
its ``__init__``; equality and ``repr`` are a dataclass's.  The runtime's
generated structs and alternates build on :class:`Record` too.

Immutable records that may compare equal to a tuple are named tuples
instead (machine options, the runtime's ``CommandInfo``); :class:`Record` and
:class:`FrozenRecord` are for the rest: records that must not equal a tuple or
another record type, or that change.

Nothing here imports :mod:`typing` (~3 ms): :class:`NamedTuple` stands in for
``typing.NamedTuple`` at run time, and annotations that name typing's
constructs are for the type checker only (``TYPE_CHECKING`` blocks), so that
``typing.get_type_hints`` still works on the classes.
"""

from __future__ import annotations

import collections

# Not typing.TYPE_CHECKING: importing typing is what this module avoids.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar
    from typing import NamedTuple as NamedTuple
else:

    class _NamedTupleType(type):
        """Makes each class that derives from :class:`NamedTuple` a
        ``collections.namedtuple`` of its annotated fields."""

        def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> type:
            if not bases:  # NamedTuple itself
                return super().__new__(mcs, name, bases, ns)
            fields = list(ns.get("__annotations__", {}))
            defaults = [ns[f] for f in fields if f in ns]
            cls = collections.namedtuple(name, fields, defaults=defaults, module=ns["__module__"])
            cls.__qualname__ = ns["__qualname__"]
            for key, value in ns.items():
                # Methods, properties and the docstring; not the field defaults.
                if key not in fields and key not in ("__module__", "__qualname__"):
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleType):
        """``typing.NamedTuple``'s class syntax, without importing typing:
        fields are the class's annotations, defaults their values."""


class _Fields:
    """Equality and ``repr`` from ``_FIELDS``."""

    __slots__ = ()

    if TYPE_CHECKING:
        #: The fields, in the order of ``repr`` and comparison.
        _FIELDS: ClassVar[tuple[str, ...]]
    _FIELDS = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._FIELDS])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__qualname__}({fields})"


class Record(_Fields):
    """A mutable record: equal when its fields are (hence not hashable)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]


class FrozenRecord(_Fields):
    """An immutable record, hashable when its fields are.

    ``__init__`` sets the fields with ``object.__setattr__``.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field '{name}'")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field '{name}'")

    def __hash__(self) -> int:
        return hash(self._values())
