"""Prints a checked schema in the format of QEMU's schema test suite.

The format is that of the ``.out`` files of ``tests/qapi-schema`` in QEMU's
tree: every module and its entities, then every doc block.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..frontend.model import (
    AlternateType,
    ArrayType,
    Command,
    EnumType,
    Event,
    Feature,
    IfCond,
    Include,
    Module,
    ObjectType,
    Schema,
    Variants,
)
from ..frontend.visitor import SchemaVisitor


class _Dumper(SchemaVisitor):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def out(self, line: str) -> None:
        self.lines.append(line)

    def cond(self, ifcond: IfCond, indent: int = 4) -> None:
        if ifcond.is_present():
            self.out(f"{' ' * indent}if {ifcond.expr}")

    def features(self, features: Sequence[Feature], indent: int = 4) -> None:
        for f in features:
            self.out(f"{' ' * indent}feature {f.name}")
            self.cond(f.ifcond, indent + 4)

    def variants(self, variants: Variants | None) -> None:
        if variants is None:
            return
        self.out(f"    tag {variants.tag_member.name}")
        for v in variants.variants:
            self.out(f"    case {v.name}: {v.type.name}")
            self.cond(v.ifcond, 8)

    def visit_module(self, module: Module) -> None:
        self.out(f"module {module.name}")

    def visit_include(self, include: Include) -> None:
        self.out(f"include {include.included}")

    def visit_enum_type(self, typ: EnumType) -> None:
        self.out(f"enum {typ.name}")
        if typ.prefix:
            self.out(f"    prefix {typ.prefix}")
        for m in typ.members:
            self.out(f"    member {m.name}")
            self.cond(m.ifcond, 8)
            self.features(m.features, 8)
        self.cond(typ.ifcond)
        self.features(typ.features)

    def visit_array_type(self, typ: ArrayType) -> None:
        if typ.info is None:
            return  # the built-in arrays are not listed
        self.out(f"array {typ.name} {typ.element_type.name}")
        self.cond(typ.ifcond)

    def visit_object_type(self, typ: ObjectType) -> None:
        self.out(f"object {typ.name}")
        if typ.base is not None:
            self.out(f"    base {typ.base.name}")
        for m in typ.local_members:
            self.out(f"    member {m.name}: {m.type.name} optional={m.optional}")
            self.cond(m.ifcond, 8)
            self.features(m.features, 8)
        self.variants(typ.branches)
        self.cond(typ.ifcond)
        self.features(typ.features)

    def visit_alternate_type(self, typ: AlternateType) -> None:
        self.out(f"alternate {typ.name}")
        self.variants(typ.alternatives)
        self.cond(typ.ifcond)
        self.features(typ.features)

    def visit_command(self, command: Command) -> None:
        arg = command.arg_type.name if command.arg_type else None
        ret = command.ret_type.name if command.ret_type else None
        self.out(f"command {command.name} {arg} -> {ret}")
        coroutine = " coroutine=True" if command.coroutine else ""
        self.out(
            f"    gen={command.gen} success_response={command.success_response}"
            f" boxed={command.boxed} oob={command.allow_oob}"
            f" preconfig={command.allow_preconfig}{coroutine}"
        )
        self.cond(command.ifcond)
        self.features(command.features)

    def visit_event(self, event: Event) -> None:
        arg = event.arg_type.name if event.arg_type else None
        self.out(f"event {event.name} {arg}")
        self.out(f"    boxed={event.boxed}")
        self.cond(event.ifcond)
        self.features(event.features)


def dump(schema: Schema) -> str:
    """The model and its documentation, as QEMU's test suite prints them."""
    dumper = _Dumper()
    schema.visit(dumper)
    out = dumper.out
    for doc in schema.docs:
        out(f"doc symbol={doc.symbol}" if doc.symbol else "doc freeform")
        out(f"    body=\n{doc.body.text}")
        for name, section in doc.args.items():
            out(f"    arg={name}\n{section.text}")
        for name, section in doc.features.items():
            out(f"    feature={name}\n{section.text}")
        for section in doc.sections:
            out(f"    section={section.kind}\n{section.text}")
    return "".join(line + "\n" for line in dumper.lines)
