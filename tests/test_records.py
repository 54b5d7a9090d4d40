"""qapigen.records: value classes that behave as the dataclasses they replace."""

from __future__ import annotations

import dataclasses

import pytest

from qapigen.records import FrozenRecord, Record


class Point(Record):
    __slots__ = ("x", "y")
    _FIELDS = ("x", "y")

    def __init__(self, x: int, y: object) -> None:
        self.x = x
        self.y = y


class Frozen(FrozenRecord):
    __slots__ = ("x", "y")
    _FIELDS = ("x", "y")

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
