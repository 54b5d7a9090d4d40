"""Where a generated decoder's time goes, step by step, beside msgspec's whole decode.

bench_decode.py gives the ratios; this says what they are made of.  For the
query-status reply and GUEST_PANICKED (hyper-v), it times a function that
does the first step of the generated decoder, then one that does the first
two, and so on, each spelled as the generated code spells it; a step's cost
is the difference from the one before.  The last rows are the generated
decoder itself and ``msgspec.convert`` into Structs of the same shape
(enums as ``enum.Enum``, unknown members forbidden), called alike
(``functools.partial(f, obj)``).  A last line gives what one instance costs
when made by calling a slotted class that has no ``__init__`` of its own,
for comparison: the generated classes have one (keyword arguments), so
decoders make instances with ``object.__new__``.

Processor time of this thread, best of several interleaved batches.  Needs
msgspec (``pip install '.[bench]'``) and QEMU's schema in ../shared (or
$QAPIGEN_SHARED).
"""

from __future__ import annotations

import argparse
import enum
import functools
import importlib
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The messages bench_decode.py measures (its folder is on the path, as the script's).
from bench_decode import PANICKED, STATUS  # noqa: E402

from qapigen import load_schema, runtime  # noqa: E402
from qapigen.backends.python.generate import generate  # noqa: E402

# The generated decoder of StatusInfo, one step a row (errors left out: the
# steps are the path a valid message takes).
STATUS_STEPS = [
    ("call and return (partial -> Python function)", ""),
    ("type(obj) is dict", "if type(obj) is not dict: raise TypeError"),
    ("_rt.new(StatusInfo), and freeing it", "self = _rt.new(StatusInfo)"),
    ("self._unknown = None", "self._unknown = None"),
    ("running: v = obj[...]", "v = obj['running']"),
    ("running: v is True or v is False", "if v is True or v is False: pass"),
    ("running: self.running = v", "self.running = v"),
    ("status: v = obj[...]", "v = obj['status']"),
    ("status: the enum's table, stored", "self.status = _RunState_VALUES[v]"),
    ("len(obj) != 2 (no unknown member)", "if len(obj) != 2: raise TypeError"),
]

_UINT64 = "type(v) is int and v >= 0 and v < 1 << 64"
# GuestPanickedEvent's decoder, then the hyper-v branch's, which it calls.
PANICKED_STEPS = [
    ("call and return", ""),
    ("type(obj) is dict", "if type(obj) is not dict: raise TypeError"),
    ("_rt.new(GuestPanickedEvent), and freeing it", "self = _rt.new(Event)"),
    ("self._unknown = None; self.info = None", "self._unknown = None\nself.info = None"),
    ("left = len(obj) - 1", "left = len(obj) - 1"),
    (
        "action: v = obj[...], enum table, stored",
        "v = obj['action']\nself.action = _Action_VALUES[v]",
    ),
    (
        "info: if not left, 'info' in obj, v = obj[...]",
        "if not left: return self\nif 'info' not in obj: raise TypeError\nv = obj['info']",
    ),
    ("info: branch = BRANCHES[v['type']]", "decode = _BRANCHES[v['type']]"),
    ("info: call the branch (an empty one)", "self.info = decode(v, 'info', strict)"),
]
BRANCH_STEPS = [
    ("branch: type(obj) is dict", "if type(obj) is not dict: raise TypeError"),
    ("branch: _rt.new(..._hyper_v), and freeing it", "self = _rt.new(HyperV)"),
    ("branch: self._unknown = None", "self._unknown = None"),
    (
        "branch: tag: v = obj[...], enum table, stored, checked",
        "v = obj['type']\nself.type = _Type_VALUES[v]\nif v != 'hyper-v': raise TypeError",
    ),
    *[
        (
            f"branch: arg{i}: v = obj[...], uint64 test, stored",
            f"v = obj['arg{i}']\nif {_UINT64}: self.arg{i} = v",
        )
        for i in range(1, 6)
    ],
    ("branch: len(obj) != 6", "if len(obj) != 6: raise TypeError"),
]


def function(lines: list[str], namespace: dict[str, Any]) -> Any:
    """A decoder-like function of the steps' code (the benchmark's own text)."""
    body = [f"    {line}" for step in lines for line in step.splitlines()]
    returns = "self" if any("self = " in line for line in body) else "obj"
    source = "\n".join(["def decode(obj, name=None, strict=True):", *body, f"    return {returns}"])
    exec(compile(source, "<decode_budget>", "exec"), namespace)  # our own text, not input
    return namespace["decode"]


def best_times(funcs: list[Any], batches: int, number: int) -> list[float]:
    """Nanoseconds a call of each of ``funcs``: the best of ``batches`` interleaved batches."""
    best = [float("inf")] * len(funcs)
    for _ in range(batches):
        for i, func in enumerate(funcs):
            seconds = timeit.Timer(func, timer=time.thread_time).timeit(number)
            best[i] = min(best[i], seconds / number * 1e9)
    return best


def msgspec_models(bindings: Any) -> tuple[Any, Any]:
    """msgspec Structs of StatusInfo's and GUEST_PANICKED's shapes."""
    from typing import Annotated

    import msgspec

    def enum_of(cls: Any) -> Any:
        return enum.Enum(cls.__name__, [(f"m{i}", m.value) for i, m in enumerate(cls)])

    run_state = enum_of(bindings.RunState)
    action = enum_of(bindings.GuestPanicAction)
    uint64 = Annotated[int, msgspec.Meta(ge=0)]  # (msgspec takes no bound above int64's)

    # defstruct: this module's annotations are strings (``from __future__``).
    strict: dict[str, Any] = {"forbid_unknown_fields": True}
    status = msgspec.defstruct("Status", [("running", bool), ("status", run_state)], **strict)
    args = [(f"arg{i}", uint64) for i in range(1, 6)]
    hyper_v = msgspec.defstruct("HyperV", args, tag_field="type", tag="hyper-v", **strict)
    info = (hyper_v | msgspec.UnsetType, msgspec.UNSET)
    panicked = msgspec.defstruct("Panicked", [("action", action), ("info", *info)], **strict)
    return status, panicked


def report(title: str, rows: list[tuple[str, Any]], batches: int, number: int) -> None:
    """Print each row's time, and the steps' increments."""
    times = best_times([func for _, func in rows], batches, number)
    print(title)
    before = 0.0
    steps = len(rows) - 2  # the last two: the generated decoder, msgspec
    for i, ((label, _), ns) in enumerate(zip(rows, times, strict=True)):
        if i < steps:
            print(f"  {label:56} {ns:7.1f} ns   +{ns - before:6.1f}")
            before = ns
        else:
            print(f"  {label:56} {ns:7.1f} ns")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=11, help="interleaved batches per row")
    parser.add_argument("--number", type=int, default=50000, help="calls per batch")
    args = parser.parse_args()

    shared = Path(os.environ.get("QAPIGEN_SHARED", REPO.parent / "shared"))
    schema_path = shared / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    if not schema_path.exists():
        print(f"needs QEMU's schema at {schema_path}", file=sys.stderr)
        return 2
    import msgspec

    out = tempfile.mkdtemp(prefix="qapigen-budget-")
    generate(load_schema(str(schema_path)), out, "budget_qemu")
    sys.path.insert(0, out)
    bindings = importlib.import_module("budget_qemu")
    run_state = importlib.import_module("budget_qemu.run_state")
    event = bindings.EVENTS["GUEST_PANICKED"]
    status_model, panicked_model = msgspec_models(bindings)
    namespace = {
        "_rt": runtime,
        "StatusInfo": bindings.StatusInfo,
        "_RunState_VALUES": run_state._RunState_VALUES,
        "Event": event,
        "HyperV": run_state.GuestPanicInformation_hyper_v,
        "_Action_VALUES": run_state._GuestPanicAction_VALUES,
        "_Type_VALUES": run_state._GuestPanicInformationType_VALUES,
    }
    # Each row is checked against the generated decoder's result first.
    assert msgspec.convert(STATUS, status_model) is not None
    assert msgspec.convert(PANICKED, panicked_model) is not None

    rows: list[tuple[str, Any]] = []
    for i in range(len(STATUS_STEPS)):
        code = [c for _, c in STATUS_STEPS[: i + 1]]
        rows.append(
            (STATUS_STEPS[i][0], functools.partial(function(code, dict(namespace)), STATUS))
        )
    full = function([c for _, c in STATUS_STEPS], dict(namespace))
    assert full(STATUS) == bindings.StatusInfo.from_wire(STATUS)
    rows.append(
        (
            "the generated StatusInfo decoder",
            functools.partial(bindings.StatusInfo.from_wire, STATUS),
        )
    )
    rows.append(("msgspec.convert", functools.partial(msgspec.convert, STATUS, status_model)))
    report("query-status reply", rows, args.batches, args.number)

    def empty(obj: object, name: object = None, strict: bool = True) -> object:
        return obj

    rows = []
    outer = [c for _, c in PANICKED_STEPS]
    for i in range(len(PANICKED_STEPS)):
        ns = dict(namespace, _BRANCHES={"hyper-v": empty})
        rows.append(
            (PANICKED_STEPS[i][0], functools.partial(function(outer[: i + 1], ns), PANICKED))
        )
    for i in range(len(BRANCH_STEPS)):
        branch = function([c for _, c in BRANCH_STEPS[: i + 1]], dict(namespace))
        ns = dict(namespace, _BRANCHES={"hyper-v": branch})
        rows.append((BRANCH_STEPS[i][0], functools.partial(function(outer, ns), PANICKED)))
    assert rows[-1][1]() == event.from_wire(PANICKED)
    rows.append(
        ("the generated GUEST_PANICKED decoder", functools.partial(event.from_wire, PANICKED))
    )
    rows.append(("msgspec.convert", functools.partial(msgspec.convert, PANICKED, panicked_model)))
    report("GUEST_PANICKED (hyper-v)", rows, args.batches, args.number)

    class Bare:
        __slots__ = ("_timestamp", "_unknown", "a", "b")

    new = runtime.new
    rows = [
        ("call and return", functools.partial(empty, STATUS)),
        (
            "object.__new__(cls), and freeing it",
            functools.partial(function(["self = _new(Bare)"], {"_new": new, "Bare": Bare}), STATUS),
        ),
        (
            "cls() without an __init__ of its own, and freeing it",
            functools.partial(function(["self = Bare()"], {"Bare": Bare}), STATUS),
        ),
    ]
    times = best_times([f for _, f in rows], args.batches, args.number)
    print("making an instance (a slotted class of the same slots)")
    for (label, _), each in zip(rows[1:], times[1:], strict=True):
        print(f"  {label:56} {each - times[0]:7.1f} ns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
