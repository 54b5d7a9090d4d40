"""Every generated value class is slotted: no instance has a ``__dict__``.

A class without ``__slots__`` gives its instances, and those of every class
below it, a ``__dict__``: any misspelt attribute is then taken silently, and
each value costs more memory.  Unions, branches that add no member, empty
structs, events without data or whose data is a struct declare ``__slots__ =
()``; no class repeats a slot its bases hold, and no class has two bases that
both add slots (the instance layouts would conflict).  Checked on the golden
package, the project's ``generated/`` and QEMU 10.0's whole schema (the
superset of its builds, so that conditional branches are there too).

Left out, on purpose: enums (their members are the class's singletons, and
Python's ``enum`` keeps each member's name and value in its ``__dict__``) and
the typed clients of ``client.py`` (one per connection, not values).
"""

from __future__ import annotations

import copy
import inspect
import pickle
import warnings
from collections.abc import Iterator
from types import ModuleType

import everything as ev
import pytest

import qapigen.simulator_api
from qapigen import load_schema
from qapigen import runtime as rt
from qapigen.backends.python.generate import generate

from ...support.bindings import forget_package, import_modules, import_package
from ...support.paths import need_shared

Value = rt.Struct | rt.Alternate


@pytest.fixture(scope="module")
def qemu10_all(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The bindings of every build of QEMU 10.0's system emulator schema."""
    path = need_shared("qemu", "10.0", "schema", "qapi", "qapi-schema.json")
    out = tmp_path_factory.mktemp("qemu10-all")
    generate(load_schema(str(path), superset=True), str(out), "qemu10_all")
    pkg, _ = import_package(out, "qemu10_all")
    yield pkg
    forget_package("qemu10_all")


@pytest.fixture(params=["golden", "project", "qemu10-superset"])
def package(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "golden":
        return ev
    if request.param == "project":
        return qapigen.simulator_api
    pkg: ModuleType = request.getfixturevalue("qemu10_all")
    return pkg


def value_classes(pkg: ModuleType) -> list[type[Value]]:
    """Every struct, union, branch, event and alternate class the package defines."""
    found: list[type[Value]] = []
    for module in import_modules(pkg):
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and issubclass(obj, (rt.Struct, rt.Alternate))
            ):
                found.append(obj)
    return found


def sample(cls: type[Value]) -> Value:
    """An instance of ``cls`` with every field set (to its own name: what is
    kept is what matters here, not the types), and an event's timestamp."""
    value = rt.new(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated members
        for name in cls._FIELDS:
            setattr(value, name, name)
    if isinstance(value, rt.Struct):
        value._unknown = {"kept": [1]}
    if isinstance(value, rt.Event):
        value._received_at({"timestamp": {"seconds": 1700000000, "microseconds": 5}})
    return value


def own_slots(cls: type) -> tuple[str, ...]:
    """The slots ``cls`` adds (none when it declares no ``__slots__``)."""
    slots = cls.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def test_every_value_class_and_its_bases_declare_slots(package: ModuleType) -> None:
    classes = value_classes(package)
    assert len(classes) > 10
    unslotted = sorted(
        f"{cls.__qualname__} (through {base.__qualname__})"
        for cls in classes
        for base in cls.__mro__[:-1]  # not object
        if "__slots__" not in base.__dict__
    )
    assert not unslotted


def test_instances_have_no_dict_and_refuse_unknown_attributes(package: ModuleType) -> None:
    taken = []
    for cls in value_classes(package):
        value = sample(cls)
        if hasattr(value, "__dict__"):
            taken.append(cls.__qualname__)
            continue
        with pytest.raises(AttributeError):
            value.no_such_member = 1  # type: ignore[union-attr]
    assert not taken


def test_no_class_repeats_a_slot_of_its_bases(package: ModuleType) -> None:
    repeated = []
    for cls in value_classes(package):
        inherited = {slot for base in cls.__mro__[1:-1] for slot in own_slots(base)}
        repeated += [f"{cls.__qualname__}.{s}" for s in own_slots(cls) if s in inherited]
    assert not repeated


def test_no_class_has_two_bases_that_add_slots(package: ModuleType) -> None:
    """An event whose data is a struct derives from the struct's class and from
    ``Event``, which adds nothing to ``Struct``'s layout: one layout, no conflict."""
    assert rt.Event.__basicsize__ == rt.Struct.__basicsize__
    several = [cls for cls in value_classes(package) if len(cls.__bases__) > 1]
    for cls in several:
        laid_out = [b for b in cls.__bases__ if b.__basicsize__ > rt.Struct.__basicsize__]
        assert len(laid_out) <= 1, cls.__qualname__
    if package is ev:
        assert ev.ChildBornEvent in several and ev.NumbersReadEvent in several


def test_pickle_and_copy_keep_every_value(package: ModuleType) -> None:
    """Protocols 2 and up, ``copy.copy`` and ``copy.deepcopy``: the members,
    those lenient decoding kept, an event's timestamp."""
    for cls in value_classes(package):
        value = sample(cls)
        copies = [copy.copy(value), copy.deepcopy(value)]
        copies += [
            pickle.loads(pickle.dumps(value, protocol))
            for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1)
        ]
        for other in copies:
            assert type(other) is cls and other == value, cls.__qualname__
            if isinstance(value, rt.Event):
                assert isinstance(other, rt.Event) and other.timestamp == value.timestamp


def test_golden_classes_without_members_of_their_own_add_no_slots() -> None:
    """Each kind of class that adds no member, as decoding makes its values."""
    values: list[Value] = [
        ev.Shape.from_wire({"kind": "point"}),  # a branch with only its tag
        ev.Shape.from_wire({"kind": "nested", "style": "plain"}),  # a union's branch's branch
        ev.Inner.from_wire({"style": "bare"}),
        ev.Empty.from_wire({}),
        ev.PingedEvent.from_wire({}),
        ev.ChildBornEvent.from_wire({"id": "a", "count": 1}),
        ev.NumbersReadEvent.from_wire(
            {"i": 0, "i8": 0, "i16": 0, "i32": 0, "i64": 0, "u8": 0, "u16": 0, "u32": 0}
            | {"u64": 0, "sz": 0, "num": 0.5, "flag": False, "text": ""}
        ),
    ]
    assert [type(v).__name__ for v in values] == [
        "Shape_point",
        "Shape_nested_plain",
        "Inner_bare",
        "Empty",
        "PingedEvent",
        "ChildBornEvent",
        "NumbersReadEvent",
    ]
    for value in values:
        assert type(value).__dict__["__slots__"] == ()
        assert not hasattr(value, "__dict__")
        with pytest.raises(AttributeError):
            value.nmae = "a misspelt name"  # type: ignore[union-attr]
    # The unions themselves, whose members are their bases'.
    assert ev.Shape.__dict__["__slots__"] == ev.Inner.__dict__["__slots__"] == ()
