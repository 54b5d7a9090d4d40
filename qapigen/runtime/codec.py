"""The wire codec: how generated types decode from and encode to JSON values.

Every decoder has the signature ``decode(value, name, strict)``: ``name`` is
the member name (or the list index) the value stands under, for error
messages.  Strict decoding follows QEMU's QObject input visitor: its type
checks, integer ranges and messages.  Lenient decoding keeps what a newer
QEMU may send: unknown members and unknown enum values.
"""

from __future__ import annotations

import enum

from .errors import WireError
from .records import NamedTuple, Record

# typing is for the type checker only: importing it would cost every program
# that imports bindings ~3 ms (see qapigen.runtime.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import dataclasses
    from collections.abc import Callable
    from typing import Any, ClassVar, Protocol, TypeAlias, TypeVar

    JSONValue: TypeAlias = (
        bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
    )

    T = TypeVar("T")
    E = TypeVar("E", bound="Enum")
    S = TypeVar("S", bound="Struct")
    A = TypeVar("A", bound="Alternate")
    Decoder: TypeAlias = Callable[[object, "str | int | None", bool], T]
    #: A union's branch decoders by tag value.
    Branches: TypeAlias = dict[str, Decoder[T]]

    class _New(Protocol):
        def __call__(self, cls: type[T], /) -> T: ...

else:
    # What typing.get_type_hints sees: the recursion is the type checker's.
    JSONValue = bool | int | float | str | list | dict | None

#: A new instance of a class, its ``__init__`` not run: generated decoders set
#: every field themselves.  (``object.__new__`` itself, for speed.)
new: _New = object.__new__


class Absent(enum.Enum):
    """The type of :data:`ABSENT`."""

    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


#: An optional member that is not there, where ``None`` (JSON null) is a value.
ABSENT = Absent.ABSENT

#: Each integer type's values: (least, greatest).  A copy of the front end's
#: table (``qapigen.frontend.wire_types.INTEGER_RANGES``), which the runtime
#: may not import; tests/runtime/test_wire_types.py holds the two equal.
INTEGER_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1),
    "int8": (-(1 << 7), (1 << 7) - 1),
    "int16": (-(1 << 15), (1 << 15) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "uint8": (0, (1 << 8) - 1),
    "uint16": (0, (1 << 16) - 1),
    "uint32": (0, (1 << 32) - 1),
    "uint64": (0, (1 << 64) - 1),
    "size": (0, (1 << 64) - 1),
}

# Python's json module gives integers of any size; QEMU's parser turns those
# that do not fit 64 bits into doubles.
_INT64_MIN = INTEGER_RANGES["int64"][0]
_INT64_END = INTEGER_RANGES["int64"][1] + 1
_UINT64_END = INTEGER_RANGES["uint64"][1] + 1


# -- scalars ----------------------------------------------------------------


def d_str(v: object, name: str | int | None, strict: bool) -> str:
    if type(v) is not str:
        raise WireError.wrong_type("string").inside(name)
    return v


def d_bool(v: object, name: str | int | None, strict: bool) -> bool:
    if type(v) is not bool:
        raise WireError.wrong_type("boolean").inside(name)
    return v


def d_number(v: object, name: str | int | None, strict: bool) -> float:
    if type(v) is not float and type(v) is not int:
        raise WireError.wrong_type("number").inside(name)
    return v  # an int is a number too, and is kept as it came


def d_int(v: object, name: str | int | None, strict: bool) -> int:
    """``int``/``int64``."""
    if type(v) is not int or not _INT64_MIN <= v < _INT64_END:
        raise WireError.wrong_type("integer").inside(name)
    return v


def d_uint64(v: object, name: str | int | None, strict: bool) -> int:
    """``uint64`` and ``size``: negative values wrap around, as in QEMU."""
    if type(v) is not int or not _INT64_MIN <= v < _UINT64_END:
        raise WireError.bad_value("uint64", full=True).inside(name)
    return v if v >= 0 else v + _UINT64_END


def _int_decoder(type_name: str) -> Decoder[int]:
    """The decoder of a narrower integer type, whose errors name its C type."""
    low, high = INTEGER_RANGES[type_name]
    # Unsigned types take what uint64 takes (negative values wrap), signed ones int64's.
    base = d_uint64 if low == 0 else d_int
    c_type = type_name + "_t"

    def decode(v: object, name: str | int | None, strict: bool) -> int:
        value = base(v, name, strict)
        if not low <= value <= high:
            raise WireError.bad_value(c_type, full=False).inside(name)
        return value

    return decode


d_int8 = _int_decoder("int8")
d_int16 = _int_decoder("int16")
d_int32 = _int_decoder("int32")
d_uint8 = _int_decoder("uint8")
d_uint16 = _int_decoder("uint16")
d_uint32 = _int_decoder("uint32")
d_int64 = d_int
d_size = d_uint64


def d_null(v: object, name: str | int | None, strict: bool) -> None:
    if v is not None:
        raise WireError.wrong_type("null").inside(name)


def d_any(v: object, name: str | int | None, strict: bool) -> JSONValue:
    return v  # type: ignore[return-value]  # whatever JSON gave


def d_list(element: Decoder[T], v: object, name: str | int | None, strict: bool) -> list[T]:
    """A JSON array, each element decoded by ``element``."""
    if type(v) is not list:
        raise WireError.wrong_type("array").inside(name)
    try:
        return [element(e, i, strict) for i, e in enumerate(v)]
    except WireError as err:
        raise err.inside(name) from None


class TypeInfo(NamedTuple):
    """What the schema says of a generated type, beyond its wire format.

    (A named tuple, not a dataclass: it is created for every generated type
    at import, where dataclasses are slow to create.)
    """

    #: The schema's name for the type.
    name: str
    #: The "Since:" section of its doc comment.
    since: str | None = None
    #: Its ``if`` condition, as the schema writes it.
    ifcond: object = None
    features: tuple[str, ...] = ()


# -- enums ------------------------------------------------------------------

# The pseudo-members of unknown values, interned up to a bound: a peer that
# sends ever new values must not make a long-running client grow without end.
_unknown_values: dict[tuple[type, str], Any] = {}
_UNKNOWN_VALUES_KEPT = 4096


class Enum(enum.Enum):
    """Base of generated enums: the values are the wire strings."""

    if TYPE_CHECKING:
        QAPI_INFO: ClassVar[TypeInfo]

    @property
    def known(self) -> bool:
        """False for a value the schema does not know (kept by lenient decoding)."""
        return self._name_ in type(self)._member_map_

    def __eq__(self, other: object) -> bool:
        # Members are unique; two pseudo-members of the same unknown value are
        # equal even when the second was not interned (see _unknown).
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        return self._value_ == other._value_

    def __hash__(self) -> int:
        return hash(self._name_)

    @classmethod
    def from_wire(cls: type[E], obj: object, *, strict: bool = True) -> E:
        return cls._decode(obj, None, strict)

    def to_wire(self) -> str:
        return str(self._value_)

    @classmethod
    def _decode(cls: type[E], v: object, name: str | int | None, strict: bool) -> E:
        member = cls._value2member_map_.get(v) if type(v) is str else None
        if member is not None:
            return member  # type: ignore[return-value]
        if type(v) is not str:
            raise WireError.wrong_type("string").inside(name)
        if strict:
            raise WireError(f"Parameter '%s' does not accept value '{v}'", full=False).inside(name)
        return cls._unknown(v)

    @classmethod
    def _decode_named(cls: type[E], v: object, name: str | int | None, strict: bool) -> E:
        return cls._decode(v, name, strict)

    @classmethod
    def _unknown(cls: type[E], value: str) -> E:
        """The pseudo-member standing for a value this schema does not know."""
        key = (cls, value)
        member = _unknown_values.get(key)
        if member is None:
            member = object.__new__(cls)
            member._name_ = f"<unknown {value!r}>"
            member._value_ = value
            if len(_unknown_values) < _UNKNOWN_VALUES_KEPT:
                _unknown_values[key] = member
        return member


class _LazyTyping:
    """The :mod:`typing` module, imported when first used.

    Generated modules call it ``_t`` and name ``_t.ClassVar`` in annotations;
    only what reads annotations (``typing.get_type_hints``) touches it, so a
    program that never does pays nothing for typing (~3 ms).
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        import typing

        return getattr(typing, name)


typing = _LazyTyping()


def values_of(cls: type[E]) -> dict[str, E]:
    """``cls``'s members by wire value: the table generated decoders look up."""
    return cls._value2member_map_  # type: ignore[return-value]


# -- objects ----------------------------------------------------------------


class _FieldTable:
    """``__dataclass_fields__`` of generated classes, built on first use.

    Generated structs, events and alternates are plain slotted classes with
    generated ``__init__`` methods: having ``dataclasses`` create them would
    triple a bindings package's import time.  They remain dataclasses to
    :func:`dataclasses.fields`, ``replace``, ``asdict`` and ``is_dataclass``,
    which find this table: the fields a ``@dataclass(slots=True,
    kw_only=True)`` of the same members would have (a union branch's fixed tag
    not in ``__init__``).  The members lenient decoding kept (``_unknown``)
    are no field: they are the wire's, not the program's.
    """

    def __get__(self, obj: object, cls: type) -> dict[str, Any]:
        table = _field_tables.get(cls)
        if table is None:
            table = _field_tables[cls] = _build_field_table(cls)
        return table


_field_tables: dict[type, dict[str, Any]] = {}


def _build_field_table(cls: type) -> dict[str, Any]:
    import dataclasses
    import inspect

    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(inspect.get_annotations(klass))
    params = inspect.signature(cls).parameters
    specs: list[tuple[str, Any, Any]] = []
    for name in cls._FIELDS:  # type: ignore[attr-defined]
        param = params.get(name)
        if param is None:  # not initialised by __init__: a branch's tag
            spec = dataclasses.field(init=False)
        elif param.default is param.empty:
            spec = dataclasses.field(kw_only=param.kind is param.KEYWORD_ONLY)
        else:
            spec = dataclasses.field(
                default=param.default, kw_only=param.kind is param.KEYWORD_ONLY
            )
        # A deprecated member lives in a private slot behind a property.
        annotation = annotations.get(name) or annotations.get(
            DEPRECATED_SLOT_PREFIX + name, "object"
        )
        specs.append((name, annotation, spec))
    # A dataclass of the same fields, whose table is what dataclasses expects.
    shadow = dataclasses.make_dataclass(cls.__name__, specs)
    return {f.name: f for f in dataclasses.fields(shadow)}


#: The private slot of a deprecated member, behind a property that warns when
#: the member is set (no member's Python name starts with ``_``: no clash).
DEPRECATED_SLOT_PREFIX = "_deprecated_"


class Struct(Record):
    """Base of generated structs, unions, argument and event types.

    Generated classes are slotted and take their members as keywords; they
    print as dataclasses do (see :class:`_FieldTable`), and compare so too,
    the members lenient decoding kept (``_unknown``, no field) included: two
    values that differ on the wire are not equal.
    """

    # _timestamp is an event's (see events.Event): here, as a slot of an Event
    # subclass would clash with a struct base of the same generated class.
    __slots__ = ("_timestamp", "_unknown")

    #: Members this schema does not know, kept by lenient decoding (and sent
    #: again by :meth:`to_wire`); None when there were none.
    _unknown: dict[str, JSONValue] | None

    if TYPE_CHECKING:
        # The Python names of the members, the base's first.
        _FIELDS: ClassVar[tuple[str, ...]]
        # The wire names of the members, the base's included.
        _WIRE_NAMES: ClassVar[frozenset[str]]
        QAPI_INFO: ClassVar[TypeInfo]
        # The class's generated decoder, ``decode(obj, name, strict)``: one flat
        # function per class, the bases' members included (see ``decodes``).
        _DECODE: ClassVar[Decoder[Any]]
        # What makes a class a dataclass, to type checkers.
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    else:
        __dataclass_fields__ = _FieldTable()
    _FIELDS = ()
    _WIRE_NAMES = frozenset()

    def __init__(self) -> None:
        self._unknown = None

    def _values(self) -> tuple[Any, ...]:
        return (self._unknown, *[getattr(self, name) for name in self._FIELDS])

    @classmethod
    def from_wire(cls: type[S], obj: object, *, strict: bool = True) -> S:
        """Decode ``obj`` (a JSON object, as ``json.loads`` gives it)."""
        return cls._DECODE(obj, None, strict)  # type: ignore[no-any-return]

    def to_wire(self) -> dict[str, JSONValue]:
        """The JSON object for this value."""
        out: dict[str, JSONValue] = {}
        self._encode_fields(out)
        if self._unknown:
            out.update(self._unknown)
        return out

    @classmethod
    def _decode_named(cls: type[S], v: object, name: str | int | None, strict: bool) -> S:
        return cls._DECODE(v, name, strict)  # type: ignore[no-any-return]

    def _encode_fields(self, out: dict[str, JSONValue]) -> None:
        """Put the known members into ``out``."""

    def _extra(self, obj: dict[str, Any], strict: bool) -> None:
        """``obj`` has members this class does not know: an error, or kept.

        Called once the known members are decoded.  The error names the member
        QEMU names (see :mod:`.key_order`).
        """
        known = self._WIRE_NAMES
        unknown = {k: v for k, v in obj.items() if k not in known}
        if strict:
            from .key_order import first_unexpected

            raise WireError.unexpected(first_unexpected(obj, self._visit_order(obj)) or "")
        self._unknown = unknown

    def _visit_order(self, obj: dict[str, Any]) -> list[str]:
        """The known members of ``obj`` in the order QEMU's visitor takes them:
        the schema's (base first), as this decoded value writes them.  A present
        member that decoded to what stands for absent (an optional ``any`` that
        is null) is not written; it is put last."""
        out: dict[str, JSONValue] = {}
        self._encode_fields(out)
        order = [key for key in out if key in obj]
        order += [key for key in obj if key in self._WIRE_NAMES and key not in out]
        return order


def decodes(cls: type[Struct] | type[Alternate]) -> Callable[[Decoder[T]], Decoder[T]]:
    """Make the decorated generated function ``cls``'s decoder (see ``_DECODE``).

    The function takes ``name=None, strict=True`` by default: a struct's
    ``from_wire`` and ``_decode_named`` are then the function itself, one
    call less than the methods that call ``_DECODE``.  (``from_wire`` also
    takes ``name`` then, as its second argument.)
    """

    def register(decode: Decoder[T]) -> Decoder[T]:
        cls._DECODE = decode
        direct = staticmethod(decode)
        if issubclass(cls, Struct):
            setattr(cls, "from_wire", direct)  # noqa: B010  (not a method to mypy)
        setattr(cls, "_decode_named", direct)  # noqa: B010
        return decode

    return register


def warn_deprecated(what: str, stacklevel: int = 3) -> None:
    """Warn that a program used something the schema marks deprecated.

    The warning points at the caller of warn_deprecated's caller, or as far up
    as ``stacklevel`` says (as :func:`warnings.warn` counts).
    """
    import warnings  # here: a program that uses nothing deprecated does without it

    warnings.warn(f"{what} is deprecated", DeprecationWarning, stacklevel=stacklevel)


# -- alternates ---------------------------------------------------------------


class Alternate(Record):
    """Base of generated alternates: one value, whose JSON type picks the branch.

    A member (or array element) of an alternate type holds the branch's value
    itself, typed as the union of the branches; the class wraps one value to
    decode, encode and describe an alternate on its own.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        NAME: ClassVar[str]
        QAPI_INFO: ClassVar[TypeInfo]
        # The class's generated decoder (see ``decodes``).
        _DECODE: ClassVar[Decoder[Any]]
        _FIELDS: ClassVar[tuple[str, ...]]
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    else:
        __dataclass_fields__ = _FieldTable()
    NAME = ""
    _FIELDS = ("value",)

    @classmethod
    def from_wire(cls: type[A], obj: object, *, strict: bool = True) -> A:
        return cls(cls._DECODE(obj, None, strict))  # type: ignore[call-arg]

    @classmethod
    def _decode_named(cls, v: object, name: str | int | None, strict: bool) -> Any:
        """The branch's value of ``v`` (what a member of this type holds)."""
        return cls._DECODE(v, name, strict)

    def to_wire(self) -> JSONValue:
        return encode(self.value)  # type: ignore[attr-defined]


def encode(value: Any) -> JSONValue:
    """The JSON value of any generated value, or of a plain one."""
    if isinstance(value, (Struct, Alternate, Enum)):
        return value.to_wire()
    if type(value) is list:
        return [encode(v) for v in value]
    return value  # type: ignore[no-any-return]


def list_of(element: Decoder[T]) -> Decoder[list[T]]:
    """The decoder of a JSON array of ``element``."""

    def decode(v: object, name: str | int | None, strict: bool) -> list[T]:
        return d_list(element, v, name, strict)

    return decode
