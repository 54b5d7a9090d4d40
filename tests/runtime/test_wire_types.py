"""The runtime's copy of the wire facts is the front end's (qapigen.frontend.wire_types)."""

from __future__ import annotations

import pytest

from qapigen.frontend.wire_types import (
    ALTERNATE_QTYPE,
    BUILTIN_TYPES,
    INTEGER_RANGES,
    PYTHON_QTYPE,
    accepted_range,
)
from qapigen.runtime import codec
from qapigen.runtime.errors import WireError

# One value of each JSON type, as json.loads gives it.
SAMPLES = {
    "string": "s",
    "number": 1.5,
    "int": 7,
    "boolean": True,
    "null": None,
    "array": [],
    "object": {},
}


def _takes(json_type: str, sample_type: str) -> bool:
    """Whether a value of ``json_type`` may be a JSON value of ``sample_type``."""
    return json_type in ("value", sample_type) or (json_type, sample_type) == ("number", "int")


def test_runtime_integer_ranges_are_the_front_ends() -> None:
    """The runtime's table of integer ranges equals the front end's."""
    assert codec.INTEGER_RANGES == INTEGER_RANGES


@pytest.mark.parametrize("name", sorted(INTEGER_RANGES))
def test_runtime_decoders_take_exactly_the_accepted_range(name: str) -> None:
    """Each integer decoder takes the ends of QEMU's input range and nothing beyond."""
    decode = getattr(codec, f"d_{name}")
    lo, hi = accepted_range(name)
    assert decode(hi, "x", True) == hi
    # Below the type's own range (uint64 and size), QEMU wraps modulo 2**64.
    wrapped = lo + 2**64 if lo < INTEGER_RANGES[name][0] else lo
    assert decode(lo, "x", True) == wrapped
    for outside in (lo - 1, hi + 1):
        with pytest.raises(WireError):
            decode(outside, "x", True)


@pytest.mark.parametrize(("name", "json_type"), BUILTIN_TYPES)
def test_runtime_decoders_take_their_json_type(name: str, json_type: str) -> None:
    """Each built-in's decoder takes the values of its JSON type, and only those."""
    decode = getattr(codec, f"d_{name}")
    for sample_type, value in SAMPLES.items():
        if _takes(json_type, sample_type):
            decode(value, "x", True)
        else:
            with pytest.raises(WireError):
                decode(value, "x", True)


def test_integer_types_are_the_builtins_of_json_type_int() -> None:
    """The range table covers exactly the built-ins whose JSON type is int."""
    assert set(INTEGER_RANGES) == {name for name, json_type in BUILTIN_TYPES if json_type == "int"}


def test_alternate_qtype_of_each_json_type_is_that_of_its_values() -> None:
    """An alternate's QType for a JSON type is the QType of that type's values."""
    for json_type, value in SAMPLES.items():
        assert ALTERNATE_QTYPE[json_type] == PYTHON_QTYPE[type(value)]
    assert "value" not in ALTERNATE_QTYPE
