"""qapigen.records: value classes that behave as the dataclasses they replace."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from qapigen.runtime.records import FrozenRecord, Record


class Point(Record):
    __slots__ = ("x", "y")
    _FIELDS = ("x", "y")

    def __init__(self, x: int, y: object) -> None:
        self.x = x
        self.y = y


class Frozen(FrozenRecord):
    __slots__ = ("x", "y")
    _FIELDS = ("x", "y")

    x: int
    y: object

    def __init__(self, x: int, y: object) -> None:
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)


@dataclasses.dataclass
class PointDC:
    x: int
    y: object


@dataclasses.dataclass(frozen=True)
class FrozenDC:
    x: int
    y: object


def test_record_compares_and_prints_as_a_dataclass() -> None:
    nan = float("nan")
    assert Point(1, "a") == Point(1, "a") and Point(1, "a") != Point(1, "b")
    assert Point(1, nan) == Point(1, nan)  # the same object: equal, as in a tuple
    assert (Point(1, "a") == PointDC(1, "a")) is False  # another class is never equal
    assert repr(Point(1, "a")) == repr(PointDC(1, "a")).replace("PointDC", "Point")
    with pytest.raises(TypeError):
        hash(Point(1, "a"))
    p = Point(1, "a")
    p.x = 2
    assert p == Point(2, "a")


def test_frozen_record_is_immutable_and_hashable() -> None:
    f = Frozen(1, "a")
    assert f == Frozen(1, "a") and hash(f) == hash(Frozen(1, "a"))
    assert repr(f) == repr(FrozenDC(1, "a")).replace("FrozenDC", "Frozen")
    with pytest.raises(AttributeError):
        f.x = 2
    with pytest.raises(AttributeError):
        del f.x
    with pytest.raises(TypeError):
        hash(Frozen(1, [1]))  # as a frozen dataclass with a list in it
    with pytest.raises(TypeError):
        hash(FrozenDC(1, [1]))


# -- NamedTuple: typing.NamedTuple's class syntax without importing typing ------------

from typing import NamedTuple as TypingNamedTuple  # noqa: E402

from qapigen.runtime.records import NamedTuple  # noqa: E402


class Option(NamedTuple):
    """An option."""

    name: str
    value: str = ""
    number: int = 0

    @property
    def twice(self) -> int:
        return self.number * 2


class OptionT(TypingNamedTuple):
    """An option."""

    name: str
    value: str = ""
    number: int = 0

    @property
    def twice(self) -> int:
        return self.number * 2


def test_named_tuple_behaves_as_typing_named_tuple() -> None:
    """Fields, defaults, tuple equality, repr, methods, docstring and pickling match
    typing.NamedTuple's for the same class body."""
    import pickle

    ours, theirs = Option("a", number=2), OptionT("a", number=2)
    assert Option._fields == OptionT._fields == ("name", "value", "number")
    assert Option._field_defaults == OptionT._field_defaults
    # Two unrelated classes to mypy's strict equality; tuples, and so equal, at run time.
    assert ours == theirs == ("a", "", 2)  # type: ignore[comparison-overlap]
    assert tuple(ours) == tuple(theirs)
    assert repr(ours) == repr(theirs).replace("OptionT", "Option")
    assert ours.twice == theirs.twice == 4
    assert Option.__doc__ == OptionT.__doc__ == "An option."
    assert Option.__qualname__ == "Option" and Option.__module__ == __name__
    assert ours._replace(value="v") == theirs._replace(value="v")  # type: ignore[comparison-overlap]
    assert ours._asdict() == theirs._asdict()
    assert pickle.loads(pickle.dumps(ours)) == ours
    with pytest.raises(TypeError):
        Option()  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        ours.name = "b"  # type: ignore[misc]


def test_named_tuple_has_the_rest_of_a_named_tuples_interface() -> None:
    """What else ``collections.namedtuple`` gives, which the class is made without:
    ``_make``, pattern matching, hashing, copies, no instance dictionary, and the
    same kinds of error for a bad call."""
    import copy

    ours, theirs = Option("a", "b", 3), OptionT("a", "b", 3)
    assert Option._make(["a", "b", 3]) == ours
    assert Option.__match_args__ == OptionT.__match_args__
    match ours:
        case Option(name, value, number):
            assert (name, value, number) == ("a", "b", 3)
    assert hash(ours) == hash(theirs) == hash(("a", "b", 3))
    assert copy.copy(ours) == ours and copy.deepcopy(ours) == ours
    assert type(copy.deepcopy(ours)) is Option
    assert not hasattr(ours, "__dict__")
    bad_calls: list[Callable[[], object]] = [
        lambda: Option("a", "b", 3, 4),  # type: ignore[call-arg]
        lambda: Option("a", nosuch=1),  # type: ignore[call-arg]
        lambda: Option("a", name="b"),  # type: ignore[misc]
        lambda: Option._make(["a"]),
    ]
    for bad_call in bad_calls:
        with pytest.raises(TypeError):
            bad_call()
    with pytest.raises(ValueError):
        ours._replace(nosuch=1)  # type: ignore[call-arg]
