"""Strict decoding throughput: qapigen's bindings against msgspec, pydantic v2 and jsonschema.

Three representative messages of QEMU 10.0's schema are decoded strictly, each
in a tight loop, by

- the bindings qapigen generates (``T.from_wire(obj)``),
- msgspec (``msgspec.convert(obj, T)``, strict: its default) into
  ``msgspec.Struct`` models of the same shape, built here from the same schema model
  (``forbid_unknown_fields``, tagged unions, integer ranges, enums as
  ``enum.Enum``, optional members that may be absent but not null),
- pydantic v2 models of the same shape (strict mode, ``extra='forbid'``,
  discriminated unions), and
- ``jsonschema`` validating against the JSON Schema qapigen exports (which
  validates only; it builds no objects).

Each is called as ``functools.partial(f, obj, ...)`` without keywords: a
keyword bound by ``partial`` costs a dictionary copy at every call (~90 ns
here, a third of msgspec's whole decode of GUEST_PANICKED), which no caller
of ``f`` pays; strictness is each one's default (``from_wire(obj)``,
``convert(obj, T)``), which the run checks.

It prints decodes per second and the ratios.  Targets: qapigen at least 1x
msgspec on the query-status reply and GUEST_PANICKED (issue 11), 2x pydantic
v2 and 30x jsonschema on all three (issue 3).  Needs msgspec and pydantic
(``pip install '.[bench]'``) and QEMU's schema in ../shared (or
$QAPIGEN_SHARED).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import os
import sys
import tempfile
import time
import timeit
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qapigen import load_schema  # noqa: E402
from qapigen.backends.python.generate import generate  # noqa: E402
from qapigen.frontend.schema import (  # noqa: E402
    AlternateType,
    ArrayType,
    BuiltinType,
    EnumType,
    ObjectType,
    Schema,
    Type,
)
from qapigen.frontend.wire_types import INTEGER_RANGES  # noqa: E402

STATUS = {"status": "running", "running": True}
PANICKED = {
    "action": "pause",
    "info": {
        "type": "hyper-v",
        "arg1": 0x7E,
        "arg2": 0xFFFFF80000000000,
        "arg3": 0x1234,
        "arg4": 0xFFFFA00000000000,
        "arg5": 0,
    },
}
# A qcow2 image over a file, with a qcow2 backing chain two deep.
BLOCKDEV = {
    "driver": "qcow2",
    "node-name": "disk0",
    "discard": "unmap",
    "cache": {"direct": True, "no-flush": False},
    "read-only": False,
    "auto-read-only": True,
    "detect-zeroes": "unmap",
    "file": {
        "driver": "file",
        "filename": "/var/lib/images/disk0.qcow2",
        "aio": "threads",
        "locking": "auto",
        "node-name": "disk0-file",
    },
    "backing": {
        "driver": "qcow2",
        "node-name": "base1",
        "lazy-refcounts": True,
        "cache-size": 33554432,
        "l2-cache-size": 8388608,
        "overlap-check": "constant",
        "file": {"driver": "file", "filename": "/var/lib/images/base1.qcow2"},
        "backing": {
            "driver": "qcow2",
            "node-name": "base0",
            "file": {"driver": "file", "filename": "/var/lib/images/base0.qcow2"},
            "backing": None,
        },
    },
}

# (label, QAPI type, the wire value)
MESSAGES: list[tuple[str, str, dict[str, Any]]] = [
    ("query-status reply", "StatusInfo", STATUS),
    ("GUEST_PANICKED (hyper-v)", "GUEST_PANICKED", PANICKED),
    ("BlockdevOptions (qcow2 chain)", "BlockdevOptions", BLOCKDEV),
]
# The messages whose target is msgspec's speed (issue 11).
MSGSPEC_TARGETS = ("query-status reply", "GUEST_PANICKED (hyper-v)")


def shared_dir() -> Path:
    env = os.environ.get("QAPIGEN_SHARED")
    return Path(env) if env else REPO.parent / "shared"


# -- msgspec models of the same shape -------------------------------------------


class MsgspecBuilder:
    """msgspec Structs for schema types, built from qapigen's model.

    A struct forbids unknown members, as strict decoding does (msgspec's
    default, to ignore them, would skip the check that each member is known);
    an optional member may be absent but not null (``UnsetType``), as in QEMU;
    a union is msgspec's tagged union of its branches (the base's members in
    each); an enum is an ``enum.Enum`` of its values; integers carry their
    ranges.  References between models are
    forward references into a module of their own (the schema is recursive).
    """

    def __init__(self, schema: Schema) -> None:
        import msgspec

        self.ms = msgspec
        self.schema = schema
        self.module = types.ModuleType("_bench_msgspec_models")
        sys.modules[self.module.__name__] = self.module
        self.namespace: dict[str, Any] = self.module.__dict__

    def annotation(self, typ: Type) -> Any:
        from typing import Annotated, Union

        ms = self.ms
        if isinstance(typ, BuiltinType):
            name = typ.name
            plain = {"str": str, "bool": bool, "number": int | float, "any": Any, "null": None}
            if name in plain:
                return plain[name]
            low, high = INTEGER_RANGES[name]
            if high >= 1 << 63:
                # msgspec takes no bound beyond int64's: uint64's upper one is
                # not checked (an advantage to msgspec).
                return Annotated[int, ms.Meta(ge=low)]
            return Annotated[int, ms.Meta(ge=low, le=high)]
        if isinstance(typ, ArrayType):
            return list[self.annotation(typ.element_type)]  # type: ignore[misc]
        if isinstance(typ, EnumType):
            return self.enum(typ)
        if isinstance(typ, AlternateType):
            return Union[tuple(self.annotation(v.type) for v in typ.alternatives.variants)]  # noqa: UP007
        assert isinstance(typ, ObjectType)
        key = "M_" + typ.name.replace("-", "_")
        if key not in self.namespace:
            self.namespace[key] = None  # being built: recursive references
            self.namespace[key] = self.object_annotation(typ, key)
        return key  # a forward reference, resolved in the models' module

    def enum(self, typ: EnumType) -> Any:
        """An ``enum.Enum`` of the enum type's values: msgspec then gives enum
        members, as qapigen's bindings do (a ``Literal`` would give the string,
        work that is not the same)."""
        import enum

        key = "E_" + typ.name.replace("-", "_")
        if key not in self.namespace:
            members = [(f"m{i}", m.name) for i, m in enumerate(typ.members)]
            self.namespace[key] = enum.Enum(key, members, module=self.module.__name__)
        return self.namespace[key]

    def fields(self, members: Any, skip: str | None = None) -> list[tuple[str, Any, Any]]:
        from typing import Union

        ms = self.ms
        out = []
        for m in members:
            if m.name == skip:
                continue
            ann = self.annotation(m.type)
            name = "f_" + m.name.replace("-", "_")
            if m.optional:
                # (ann may be a forward reference: no ``|``)
                absent: Any = Union[tuple([ann, ms.UnsetType])]  # noqa: UP007
                out.append((name, absent, ms.field(default=ms.UNSET, name=m.name)))
            else:
                out.append((name, ann, ms.field(name=m.name)))
        return out

    def object_annotation(self, typ: ObjectType, key: str) -> Any:
        from typing import Union

        if typ.branches is None:
            return self.model(key, self.fields(typ.members))
        tag = typ.branches.tag_member.name
        branches = []
        for v in typ.branches.variants:
            assert isinstance(v.type, ObjectType)
            fields = self.fields([*typ.members, *v.type.members], skip=tag)
            name = f"{key}_{v.name.replace('-', '_')}"
            self.namespace[name] = self.model(name, fields, tag_field=tag, tag=v.name)
            branches.append(name)
        return Union[tuple(branches)]  # noqa: UP007

    def model(self, name: str, fields: list[tuple[str, Any, Any]], **tagging: str) -> Any:
        return self.ms.defstruct(
            name,
            fields,
            module=self.module.__name__,
            kw_only=True,
            forbid_unknown_fields=True,
            **tagging,  # type: ignore[arg-type]
        )

    def branch_of(self, qapi_name: str, wire: dict[str, Any]) -> Any:
        """The Struct of the union branch that ``wire`` is, if ``qapi_name`` is a union."""
        typ = self.schema.lookup_type(qapi_name)
        if not isinstance(typ, ObjectType) or typ.branches is None:
            return None
        tag = wire[typ.branches.tag_member.name]
        return self.namespace[f"M_{qapi_name.replace('-', '_')}_{tag.replace('-', '_')}"]

    def resolve(self, annotation: Any) -> Any:
        """The type to convert into for ``annotation`` (a union's branches resolved)."""
        import typing

        if isinstance(annotation, str):
            annotation = self.namespace[annotation]
        if typing.get_origin(annotation) is typing.Union:
            args = typing.get_args(annotation)
            return typing.Union[tuple(self.namespace.get(a.__forward_arg__, a) for a in args)]  # noqa: UP007
        return annotation


# -- pydantic models of the same shape ------------------------------------------


class PydanticBuilder:
    """pydantic v2 models for schema types, built from qapigen's model."""

    def __init__(self, schema: Schema) -> None:
        import pydantic

        self.pd = pydantic
        self.schema = schema
        self.namespace: dict[str, Any] = {}
        self.models: list[Any] = []
        self.config = pydantic.ConfigDict(strict=True, extra="forbid")

    def annotation(self, typ: Type) -> Any:
        from typing import Annotated, Literal, Union

        pd = self.pd
        if isinstance(typ, BuiltinType):
            name = typ.name
            if name == "str":
                return pd.StrictStr
            if name == "bool":
                return pd.StrictBool
            if name == "number":
                return Union[pd.StrictInt, pd.StrictFloat]  # noqa: UP007
            if name == "any":
                return Any
            if name == "null":
                return None
            low, high = INTEGER_RANGES[name]
            return Annotated[pd.StrictInt, pd.Field(ge=low, le=high)]
        if isinstance(typ, ArrayType):
            return list[self.annotation(typ.element_type)]  # type: ignore[misc]
        if isinstance(typ, EnumType):
            return Literal[tuple(m.name for m in typ.members)]
        if isinstance(typ, AlternateType):
            return Union[tuple(self.annotation(v.type) for v in typ.alternatives.variants)]  # noqa: UP007
        assert isinstance(typ, ObjectType)
        key = "T_" + typ.name.replace("-", "_")
        if key not in self.namespace:
            self.namespace[key] = None  # being built: recursive references
            self.namespace[key] = self.object_annotation(typ)
        return key  # a forward reference, resolved by model_rebuild

    def fields(self, members: Any) -> dict[str, Any]:
        out = {}
        for m in members:
            ann = self.annotation(m.type)
            name = "f_" + m.name.replace("-", "_")
            if m.optional:
                out[name] = (
                    ann | None if not isinstance(ann, str) else f"{ann} | None",
                    self.pd.Field(None, alias=m.name),
                )
            else:
                out[name] = (ann, self.pd.Field(alias=m.name))
        return out

    def object_annotation(self, typ: ObjectType) -> Any:
        from typing import Annotated, Literal, Union

        if typ.branches is None:
            return self.model(typ.name, self.fields(typ.members))
        tag = typ.branches.tag_member.name
        branches = []
        for v in typ.branches.variants:
            fields = self.fields(typ.members)
            fields["f_" + tag.replace("-", "_")] = (Literal[v.name], self.pd.Field(alias=tag))
            assert isinstance(v.type, ObjectType)
            fields.update(self.fields(v.type.members))
            branches.append(self.model(f"{typ.name}_{v.name}", fields))
        discriminator = self.pd.Field(discriminator="f_" + tag.replace("-", "_"))
        return Annotated[Union[tuple(branches)], discriminator]  # noqa: UP007

    def model(self, name: str, fields: dict[str, Any]) -> Any:
        model = self.pd.create_model(name.replace("-", "_"), __config__=self.config, **fields)
        self.models.append(model)
        return model

    def finish(self) -> None:
        for model in self.models:
            model.model_rebuild(_types_namespace=self.namespace)


# -- the run --------------------------------------------------------------------


def cpu_seconds(func: Any, number: int) -> float:
    """The processor time of this thread for ``number`` calls of ``func``: on
    a machine shared with other work, time spent waiting for a processor
    does not count (wall-clock time would)."""
    return timeit.Timer(func, timer=time.thread_time).timeit(number)


def rates(funcs: list[Any], seconds: float) -> list[float]:
    """Calls per second of each of ``funcs``: the best of five timed batches.

    The batches of all ``funcs`` take turns, so that a change in the
    machine's load weighs on each alike.
    """
    numbers = []
    for func in funcs:
        number = 1
        while cpu_seconds(func, number) <= seconds / 5:
            number *= 4
        numbers.append(number)
    best = [float("inf")] * len(funcs)
    for _ in range(5):
        for i, (func, number) in enumerate(zip(funcs, numbers, strict=True)):
            best[i] = min(best[i], cpu_seconds(func, number) / number)
    return [1 / b for b in best]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()

    schema_path = shared_dir() / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    if not schema_path.exists():
        print(f"needs QEMU's schema at {schema_path}", file=sys.stderr)
        return 2
    schema = load_schema(str(schema_path))
    out = tempfile.mkdtemp(prefix="qapigen-bench-")
    generate(schema, out, "bench_qemu")
    sys.path.insert(0, out)
    bindings = importlib.import_module("bench_qemu")

    import jsonschema

    from qapigen.backends.jsonschema_export import data_def, export_bundle, standalone

    bundle = export_bundle(schema)
    builder = PydanticBuilder(schema)
    ms_builder = MsgspecBuilder(schema)
    pyd_types: dict[str, Any] = {}
    ms_types: dict[str, Any] = {}
    for _, qapi_name, _ in MESSAGES:
        if qapi_name.isupper():
            event = schema.lookup(qapi_name)
            assert event is not None
            arg = event.arg_type  # type: ignore[attr-defined]
            pyd_types[qapi_name] = builder.model(qapi_name, builder.fields(arg.members))
            ms_types[qapi_name] = ms_builder.model(qapi_name, ms_builder.fields(arg.members))
        else:
            typ = schema.lookup_type(qapi_name)
            assert typ is not None
            pyd_types[qapi_name] = builder.annotation(typ)
            ms_types[qapi_name] = ms_builder.resolve(ms_builder.annotation(typ))
    builder.finish()
    import msgspec
    import pydantic

    # Strict decoding is convert's default: called without keywords (see above).
    assert inspect.signature(msgspec.convert).parameters["strict"].default is True
    assert inspect.signature(bindings.StatusInfo.from_wire).parameters["strict"].default is True

    columns = ("qapigen/s", "msgspec/s", "pydantic/s", "jsonschema/s")
    columns += ("vs msgspec", "vs pydantic", "vs jsonschema")  # type: ignore[assignment]
    print(f"{'message':30}" + "".join(f"{c:>14}" for c in columns))
    worst_ms = worst_pd = worst_js = float("inf")
    notes: list[str] = []
    for label, qapi_name, wire in MESSAGES:
        if qapi_name.isupper():
            cls = bindings.EVENTS[qapi_name]
            json_name = data_def(qapi_name)
        else:
            cls = getattr(bindings, qapi_name)
            json_name = qapi_name
        adapter = pydantic.TypeAdapter(
            builder.namespace.get(pyd_types[qapi_name], pyd_types[qapi_name])
            if isinstance(pyd_types[qapi_name], str)
            else pyd_types[qapi_name]
        )
        validator = jsonschema.Draft202012Validator(standalone(bundle, json_name))
        ms_type = ms_types[qapi_name]
        # All four must accept the message, or the comparison means nothing.
        cls.from_wire(wire)
        msgspec.convert(wire, ms_type)
        adapter.validate_python(wire)
        validator.validate(wire)
        ours, ms, pyd, js = rates(
            [
                functools.partial(cls.from_wire, wire),
                functools.partial(msgspec.convert, wire, ms_type),
                functools.partial(adapter.validate_python, wire),
                functools.partial(validator.validate, wire),
            ],
            args.seconds,
        )
        if label in MSGSPEC_TARGETS:
            worst_ms = min(worst_ms, ours / ms)
        worst_pd = min(worst_pd, ours / pyd)
        worst_js = min(worst_js, ours / js)
        cells = (
            f"{ours:,.0f}",
            f"{ms:,.0f}",
            f"{pyd:,.0f}",
            f"{js:,.0f}",
            f"{ours / ms:.2f}x",
            f"{ours / pyd:.2f}x",
            f"{ours / js:.1f}x",
        )
        print(f"{label:30}" + "".join(f"{c:>14}" for c in cells))
        branch = ms_builder.branch_of(qapi_name, wire)
        if branch is not None:
            # msgspec analyses a top-level union type on every call (a Struct's
            # analysis is cached): into the branch's Struct, it does not.
            ours_again, direct = rates(
                [
                    functools.partial(cls.from_wire, wire),
                    functools.partial(msgspec.convert, wire, branch),
                ],
                args.seconds,
            )
            notes.append(
                f"{label}: msgspec into the branch's Struct directly: {direct:,.0f}/s,"
                f" qapigen {ours_again / direct:.2f}x of that"
            )
    for note in notes:
        print(note)
    print(f"worst ratio vs msgspec: {worst_ms:.2f}x (target >= 1, {' and '.join(MSGSPEC_TARGETS)})")
    print(f"worst ratio vs pydantic: {worst_pd:.2f}x (target >= 2)")
    print(f"worst ratio vs jsonschema: {worst_js:.1f}x (target >= 30)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
