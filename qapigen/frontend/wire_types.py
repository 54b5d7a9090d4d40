"""What QAPI's types are on the wire: the JSON facts every part reads from here.

Each built-in type's JSON type (as ``query-qmp-schema`` names it), each
integer type's range, and the QType by which an alternate tells its branches
apart.  The runtime, which may import nothing of qapigen outside itself,
keeps its own copy (:mod:`qapigen.runtime.codec`);
``tests/runtime/test_wire_types.py`` holds the two equal.
"""

from __future__ import annotations

#: Each built-in type and its JSON type, in QEMU's order.
BUILTIN_TYPES: tuple[tuple[str, str], ...] = (
    ("str", "string"),
    ("number", "number"),
    ("int", "int"),
    ("int8", "int"),
    ("int16", "int"),
    ("int32", "int"),
    ("int64", "int"),
    ("uint8", "int"),
    ("uint16", "int"),
    ("uint32", "int"),
    ("uint64", "int"),
    ("size", "int"),
    ("bool", "boolean"),
    ("any", "value"),
    ("null", "null"),
)

#: The values of each integer built-in type: (least, greatest).  On input,
#: QEMU takes more for ``uint64`` and ``size``: see :func:`accepted_range`.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "int": (-(2**63), 2**63 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "size": (0, 2**64 - 1),
}


def accepted_range(name: str) -> tuple[int, int]:
    """The integers QEMU's input takes for integer type ``name``.

    Its input visitor takes any int64 for ``uint64`` and ``size`` too and
    wraps negative ones modulo 2**64 (for backward compatibility), so those
    two reach down to -2**63.
    """
    lo, hi = INTEGER_RANGES[name]
    return (-(2**63) if hi == 2**64 - 1 else lo), hi


#: The values of the implicit enum ``QType``: the types of QEMU's JSON values.
QTYPE_VALUES = ("none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool")

#: The QType of a value of each JSON type (``value``, i.e. ``any``, has none):
#: what an alternate tells its branches apart by.
ALTERNATE_QTYPE = {
    "null": "qnull",
    "string": "qstring",
    "number": "qnum",
    "int": "qnum",
    "boolean": "qbool",
    "array": "qlist",
    "object": "qdict",
}

#: The QType of a JSON value by the Python type :mod:`json` gives it.
PYTHON_QTYPE: dict[type, str] = {
    str: "qstring",
    int: "qnum",
    float: "qnum",
    bool: "qbool",
    type(None): "qnull",
    list: "qlist",
    dict: "qdict",
}
