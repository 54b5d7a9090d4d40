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

from _operator import itemgetter

# Not typing.TYPE_CHECKING: importing typing is what this module avoids.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar
    from typing import NamedTuple as NamedTuple
else:

    class _NamedTupleType(type):
        """Makes each class that derives from :class:`NamedTuple` a named
        tuple of its annotated fields, as ``collections.namedtuple`` makes them
        (``_fields``, ``_field_defaults``, ``_make``, ``_replace``, ``_asdict``,
        its ``repr``, pickling), without ``collections``: importing it, and the
        code ``namedtuple`` compiles for each class, would weigh on every start
        of ``qapigen vm``."""

        def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> type:
            if not bases:  # NamedTuple itself
                return super().__new__(mcs, name, bases, ns)
            fields = tuple(ns.get("__annotations__", {}))
            defaults = {f: ns[f] for f in fields if f in ns}
            namespace = {
                key: value
                for key, value in ns.items()
                # Methods, properties and the docstring; not the field defaults.
                if key not in fields
            }
            namespace.update(_tuple_methods(name, fields, defaults))
            for index, field in enumerate(fields):
                namespace[field] = property(
                    itemgetter(index), doc=f"Alias for field number {index}"
                )
            return type(name, (tuple,), namespace)

    def _tuple_methods(
        name: str, fields: tuple[str, ...], defaults: dict[str, Any]
    ) -> dict[str, Any]:
        """What a named tuple of ``fields`` has besides its fields' properties."""
        count = len(fields)
        new_tuple = tuple.__new__

        def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
            if not kwargs and len(args) == count:
                return new_tuple(cls, args)
            if len(args) > count:
                raise TypeError(
                    f"{name}.__new__() takes {count + 1} positional arguments "
                    f"but {len(args) + 1} were given"
                )
            values = list(args)
            for field in fields[len(args) :]:
                if field in kwargs:
                    values.append(kwargs.pop(field))
                elif field in defaults:
                    values.append(defaults[field])
                else:
                    raise TypeError(
                        f"{name}.__new__() missing 1 required positional argument: {field!r}"
                    )
            if kwargs:
                extra = next(iter(kwargs))
                if extra in fields:
                    raise TypeError(f"{name}.__new__() got multiple values for argument {extra!r}")
                raise TypeError(f"{name}.__new__() got an unexpected keyword argument {extra!r}")
            return new_tuple(cls, values)

        def _make(cls: type, iterable: Any) -> Any:
            values = tuple(iterable)
            if len(values) != count:
                raise TypeError(f"Expected {count} arguments, got {len(values)}")
            return new_tuple(cls, values)

        def _replace(self: tuple[Any, ...], **changes: Any) -> Any:
            values = [changes.pop(field, value) for field, value in zip(fields, self, strict=True)]
            if changes:
                raise ValueError(f"Got unexpected field names: {list(changes)!r}")
            return new_tuple(type(self), values)

        def _asdict(self: tuple[Any, ...]) -> dict[str, Any]:
            return dict(zip(fields, self, strict=True))

        def __repr__(self: tuple[Any, ...]) -> str:
            shown = ", ".join(
                f"{field}={value!r}" for field, value in zip(fields, self, strict=True)
            )
            return f"{type(self).__name__}({shown})"

        def __getnewargs__(self: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(self)

        return {
            "__slots__": (),
            "_fields": fields,
            "_field_defaults": defaults,
            "__match_args__": fields,
            "__new__": __new__,
            "_make": classmethod(_make),
            "_replace": _replace,
            "_asdict": _asdict,
            "__repr__": __repr__,
            "__getnewargs__": __getnewargs__,
        }

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
