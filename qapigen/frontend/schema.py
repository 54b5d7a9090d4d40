"""The checked schema model.

:func:`load_schema` parses a schema, checks its expressions, builds one
entity per definition (plus the implicit types QAPI defines: built-ins,
arrays, ``q_empty``, ``QType``, argument and base types), checks what needs
the whole schema, attaches the documentation, and freezes the result.
Back ends read the model through :class:`qapigen.visitor.SchemaVisitor`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence

from .c_names import c_name
from .checks import check_exprs
from .doc_comments import Doc
from .errors import QAPIError, QAPISemError, QAPISourceError
from .parser import Expression, Value, parse_schema
from .source import SourceInfo

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from .visitor import SchemaVisitor

    IfExpr = str | dict[str, Any]

BUILTIN_MODULE = "./builtin"

# Features with a meaning of their own.
SPECIAL_FEATURES = ("deprecated", "unstable")

MAX_FEATURES = 64

# name, JSON type
BUILTIN_TYPES = (
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

#: The values of each integer built-in type: (least, greatest).  (On input,
#: QEMU also takes negative numbers for uint64 and size, wrapping them.)
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


QTYPE_VALUES = ("none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool")

# What an alternate's branch type looks like on the wire, by JSON type.
_ALTERNATE_QTYPE = {
    "null": "qnull",
    "string": "qstring",
    "number": "qnum",
    "int": "qnum",
    "boolean": "qbool",
    "array": "qlist",
    "object": "qdict",
}


class Frozen:
    """Refuses attribute assignment once :meth:`freeze` has been called.

    Freezing turns the object into an instance of a twin of its class (same
    name, same slots) whose ``__setattr__`` refuses: building the model pays
    nothing for the guard, and the frozen model keeps it for good.
    """

    __slots__ = ()

    def freeze(self) -> None:
        object.__setattr__(self, "__class__", _frozen_class(type(self)))


def _refuse(self: object, name: str, value: object) -> None:
    raise AttributeError(f"the schema model is immutable ({type(self).__name__}.{name})")


_FROZEN_TWINS: dict[type, type] = {}
_TWIN_CLASSES: set[type] = set()


def _frozen_class(cls: type) -> type:
    twin = _FROZEN_TWINS.get(cls)
    if twin is None:
        if cls in _TWIN_CLASSES:  # already frozen
            return cls
        namespace = {
            "__slots__": (),
            "__setattr__": _refuse,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        }
        twin = _FROZEN_TWINS[cls] = type(cls.__name__, (cls,), namespace)
        _TWIN_CLASSES.add(twin)
    return twin


class IfCond:
    """A condition (``'if'``): a symbol, or ``all``/``any``/``not`` of them."""

    __slots__ = ("expr",)

    def __init__(self, expr: IfExpr | None = None) -> None:
        self.expr = expr

    def is_present(self) -> bool:
        return bool(self.expr)

    def evaluate(self, defined: Callable[[str], bool]) -> bool:
        """Whether the condition holds, ``defined`` telling which symbols do."""

        def holds(cond: IfExpr) -> bool:
            if isinstance(cond, str):
                return defined(cond)
            if "not" in cond:
                return not holds(cond["not"])
            if "all" in cond:
                return all(holds(c) for c in cond["all"])
            return any(holds(c) for c in cond["any"])

        return self.expr is None or holds(self.expr)

    def __repr__(self) -> str:
        return f"IfCond({self.expr!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IfCond) and self.expr == other.expr

    def __hash__(self) -> int:
        return hash(repr(self.expr))


# -- members --------------------------------------------------------------


class Member(Frozen):
    """Something named inside a definition: a member, value, branch or feature."""

    __slots__ = ("defined_in", "ifcond", "info", "name")
    role: ClassVar[str] = "member"

    def __init__(self, name: str, info: SourceInfo | None, ifcond: IfCond | None = None) -> None:
        super().__init__()
        self.name = name
        self.info = info
        self.ifcond = ifcond or IfCond()
        # The name of the definition this belongs to.
        self.defined_in = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def check_clash(self, info: SourceInfo | None, seen: dict[str, Member]) -> None:
        cname = c_name(self.name)
        if cname in seen:
            assert info is not None
            raise QAPISemError(
                info, f"{self.describe(info)} collides with {seen[cname].describe(info)}"
            )
        seen[cname] = self

    def describe(self, info: SourceInfo) -> str:
        """How diagnostics name this member, seen from the definition at ``info``."""
        role = self.role
        meta = "type"
        owner = self.defined_in
        if owner.startswith("q_obj_"):
            owner = owner[6:]
            if owner.endswith("-arg"):
                role = "parameter"
                meta = "command"
                owner = owner[:-4]
            elif owner.endswith("-base"):
                role = "base " + role
                owner = owner[:-5]
            elif owner.endswith("-wrapper"):
                owner = owner[:-8]
        if owner != info.defn_name:
            return f"{role} '{self.name}' of {meta} '{owner}'"
        return f"{role} '{self.name}'"


class Feature(Member):
    """A feature of a definition, member or enum value."""

    __slots__ = ()
    role = "feature"

    def is_special(self) -> bool:
        return self.name in SPECIAL_FEATURES


class _HasFeatures(Member):
    __slots__ = ("features",)

    def __init__(
        self,
        name: str,
        info: SourceInfo | None,
        ifcond: IfCond | None,
        features: Sequence[Feature],
    ) -> None:
        super().__init__(name, info, ifcond)
        for f in features:
            f.defined_in = name
        self.features = tuple(features)

    def is_deprecated(self) -> bool:
        return any(f.name == "deprecated" for f in self.features)

    def is_unstable(self) -> bool:
        return any(f.name == "unstable" for f in self.features)

    def freeze(self) -> None:
        for f in self.features:
            f.freeze()
        super().freeze()


class EnumMember(_HasFeatures):
    """A value of an enum."""

    __slots__ = ()
    role = "value"


class ObjectMember(_HasFeatures):
    """A member of an object type: name, type, optional or not."""

    __slots__ = ("optional", "type", "type_name")

    def __init__(
        self,
        name: str,
        info: SourceInfo | None,
        type_name: str,
        optional: bool,
        ifcond: IfCond | None = None,
        features: Sequence[Feature] = (),
    ) -> None:
        super().__init__(name, info, ifcond, features)
        self.type_name = type_name
        self.type: Type
        self.optional = optional

    def check(self, schema: _Builder) -> None:
        assert self.info is not None
        self.type = schema.resolve_type(self.type_name, self.info, self.describe)
        seen: dict[str, Member] = {}
        for f in self.features:
            f.check_clash(self.info, seen)


class Variant(ObjectMember):
    """A branch of a union or an alternate: the tag value and its type."""

    __slots__ = ()
    role = "branch"

    def __init__(self, name: str, info: SourceInfo | None, type_name: str, ifcond: IfCond) -> None:
        super().__init__(name, info, type_name, False, ifcond)


class Variants(Frozen):
    """The branches of a union (selected by a tag member) or an alternate."""

    __slots__ = ("info", "tag_member", "tag_name", "variants")

    def __init__(
        self,
        info: SourceInfo,
        variants: list[Variant],
        tag_name: str,
        tag_member: ObjectMember | None = None,
    ) -> None:
        super().__init__()
        self.info = info
        self.tag_name = tag_name
        self.tag_member: ObjectMember
        if tag_member is not None:
            self.tag_member = tag_member
        self.variants: Sequence[Variant] = variants

    def set_defined_in(self, name: str) -> None:
        for v in self.variants:
            v.defined_in = name

    def check_union(self, schema: _Builder, seen: dict[str, Member]) -> None:
        tag = seen.get(c_name(self.tag_name))
        base = "'base'"
        if not isinstance(tag, ObjectMember) or tag.name != self.tag_name:
            raise QAPISemError(
                self.info, f"discriminator '{self.tag_name}' is not a member of {base}"
            )
        self.tag_member = tag
        owner = schema.lookup_type(tag.defined_in)
        assert owner is not None
        if not owner.is_implicit():
            base = f"base type '{tag.defined_in}'"
        tag_type = tag.type
        if not isinstance(tag_type, EnumType):
            raise QAPISemError(
                self.info,
                f"discriminator member '{self.tag_name}' of {base} must be of enum type",
            )
        if tag.optional:
            raise QAPISemError(
                self.info,
                f"discriminator member '{self.tag_name}' of {base} must not be optional",
            )
        if tag.ifcond.is_present():
            raise QAPISemError(
                self.info,
                f"discriminator member '{self.tag_name}' of {base} must not be conditional",
            )
        # Tag values without a branch get an empty one.
        variants = list(self.variants)
        cases = {v.name for v in variants}
        for value in tag_type.members:
            if value.name not in cases:
                empty = Variant(value.name, self.info, "q_empty", value.ifcond)
                empty.defined_in = tag.defined_in
                variants.append(empty)
        self.variants = variants
        if not variants:
            raise QAPISemError(self.info, "union has no branches")
        values = tag_type.member_names()
        for v in variants:
            v.check(schema)
            if seen:
                if v.name not in values:
                    raise QAPISemError(
                        self.info,
                        f"branch '{v.name}' is not a value of {tag_type.describe()}",
                    )
                if not isinstance(v.type, ObjectType):
                    raise QAPISemError(
                        self.info, f"{v.describe(self.info)} cannot use {v.type.describe()}"
                    )
                v.type.check(schema)

    def check_clash(self, info: SourceInfo | None, seen: dict[str, Member]) -> None:
        for v in self.variants:
            assert isinstance(v.type, ObjectType)
            v.type.check_clash(info, dict(seen))

    def freeze(self) -> None:
        self.variants = tuple(self.variants)
        for v in self.variants:
            v.freeze()
        super().freeze()


# -- entities -------------------------------------------------------------


class Entity(Frozen):
    """Something the schema defines or includes, in a module."""

    __slots__ = ("_checked", "info", "module")

    def __init__(self, info: SourceInfo | None) -> None:
        super().__init__()
        self.info = info
        # The name of the module the entity belongs to.
        self.module = ""
        self._checked = False

    def check(self, schema: _Builder) -> None:
        self._checked = True

    def connect_doc(self) -> None:
        pass

    def module_fname(self) -> str:
        return self.info.fname if self.info else BUILTIN_MODULE

    def visit(self, visitor: SchemaVisitor) -> None:
        raise NotImplementedError


class Include(Entity):
    """An ``include`` directive: the module it brings in."""

    __slots__ = ("included",)

    def __init__(self, included: str, info: SourceInfo) -> None:
        super().__init__(info)
        self.included = included

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_include(self)


class Definition(Entity):
    """A named definition: a type, command or event."""

    __slots__ = ("doc", "features", "ifcond", "name")
    meta: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        info: SourceInfo | None,
        doc: Doc | None,
        ifcond: IfCond | None = None,
        features: Sequence[Feature] = (),
    ) -> None:
        super().__init__(info)
        for f in features:
            f.defined_in = name
        self.name = name
        self.doc = doc
        self.ifcond = ifcond or IfCond()
        self.features = tuple(features)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def check(self, schema: _Builder) -> None:
        super().check(schema)
        seen: dict[str, Member] = {}
        for f in self.features:
            f.check_clash(self.info, seen)

    def connect_doc(self) -> None:
        if self.doc is not None:
            for f in self.features:
                self.doc.connect_feature(f)

    def is_implicit(self) -> bool:
        return self.info is None

    def is_deprecated(self) -> bool:
        return any(f.name == "deprecated" for f in self.features)

    def is_unstable(self) -> bool:
        return any(f.name == "unstable" for f in self.features)

    def describe(self) -> str:
        return f"{self.meta} '{self.name}'"

    def freeze(self) -> None:
        for f in self.features:
            f.freeze()
        super().freeze()


class Type(Definition):
    """A type."""

    __slots__ = ()

    def json_type(self) -> str:
        raise NotImplementedError

    def alternate_qtype(self) -> str | None:
        return _ALTERNATE_QTYPE.get(self.json_type())

    def check(self, schema: _Builder) -> None:
        super().check(schema)
        for f in self.features:
            if f.is_special():
                assert self.info is not None
                raise QAPISemError(self.info, f"feature '{f.name}' is not supported for types")

    def describe(self) -> str:
        return f"{self.meta} type '{self.name}'"


class BuiltinType(Type):
    """One of QAPI's built-in types (``str``, ``int8``, ``any`` ...)."""

    __slots__ = ("_json_type",)
    meta = "built-in"

    def __init__(self, name: str, json_type: str) -> None:
        super().__init__(name, None, None)
        self._json_type = json_type

    def json_type(self) -> str:
        return self._json_type

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_builtin_type(self)


class EnumType(Type):
    """An enumeration: its values, in order."""

    __slots__ = ("implicit", "members", "prefix")
    meta = "enum"

    def __init__(
        self,
        name: str,
        info: SourceInfo | None,
        doc: Doc | None,
        ifcond: IfCond | None,
        features: Sequence[Feature],
        members: Sequence[EnumMember],
        prefix: str | None,
        *,
        implicit: bool = False,
    ) -> None:
        super().__init__(name, info, doc, ifcond, features)
        for m in members:
            m.defined_in = name
        self.members = tuple(members)
        self.prefix = prefix
        # QType, and (legacy) a simple union's tag enum.
        self.implicit = implicit

    def check(self, schema: _Builder) -> None:
        super().check(schema)
        seen: dict[str, Member] = {}
        for m in self.members:
            m.check_clash(self.info, seen)

    def connect_doc(self) -> None:
        super().connect_doc()
        doc = self.doc
        if doc is not None:
            for m in self.members:
                doc.connect_member(m)
                for f in m.features:
                    doc.connect_feature(f)

    def is_implicit(self) -> bool:
        return self.implicit

    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def json_type(self) -> str:
        return "string"

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_enum_type(self)

    def freeze(self) -> None:
        for m in self.members:
            m.freeze()
        super().freeze()


class ArrayType(Type):
    """``[T]``: named ``TList``, defined where first used."""

    __slots__ = ("element_type", "element_type_name")
    meta = "array"

    def __init__(self, name: str, info: SourceInfo | None, element_type: str) -> None:
        super().__init__(name, info, None)
        self.element_type_name = element_type
        self.element_type: Type

    def check(self, schema: _Builder) -> None:
        super().check(schema)
        what = self.info.defn_meta if self.info else None
        element = schema.resolve_type(self.element_type_name, self.info, what)
        if isinstance(element, ArrayType):
            assert self.info is not None
            raise QAPISemError(
                self.info, f"{what} uses array of array type '{self.element_type_name}'"
            )
        self.element_type = element
        # An array is as conditional as its element type.
        self.ifcond = element.ifcond

    def module_fname(self) -> str:
        info = self.element_type.info
        return info.fname if info else BUILTIN_MODULE

    def is_implicit(self) -> bool:
        return True

    def json_type(self) -> str:
        return "array"

    def describe(self) -> str:
        return f"{self.meta} type ['{self.element_type_name}']"

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_array_type(self)


class ObjectType(Type):
    """A struct, a union, or an implicit object type.

    ``local_members`` are the type's own; ``members`` adds the base's in
    front.  A union has ``branches``.
    """

    __slots__ = ("_complete", "base", "base_name", "branches", "local_members", "members")

    def __init__(
        self,
        name: str,
        info: SourceInfo | None,
        doc: Doc | None,
        ifcond: IfCond | None,
        features: Sequence[Feature],
        base: str | None,
        local_members: Sequence[ObjectMember],
        branches: Variants | None,
    ) -> None:
        super().__init__(name, info, doc, ifcond, features)
        for m in local_members:
            m.defined_in = name
        if branches is not None:
            branches.set_defined_in(name)
        self.base_name = base
        self.base: ObjectType | None = None
        self.local_members = tuple(local_members)
        self.members: tuple[ObjectMember, ...] = ()
        self.branches = branches
        self._complete = False

    @property
    def meta(self) -> str:  # type: ignore[override]
        return "union" if self.branches else "struct"

    def check(self, schema: _Builder) -> None:
        if self._complete:
            return
        if self._checked:
            assert self.info is not None
            raise QAPISemError(self.info, f"object {self.name} contains itself")
        super().check(schema)
        seen: dict[str, Member] = {}
        if self.base_name:
            assert self.info is not None
            base = schema.resolve_type(self.base_name, self.info, "'base'")
            if not isinstance(base, ObjectType) or base.branches:
                raise QAPISemError(
                    self.info, f"'base' requires a struct type, {base.describe()} isn't"
                )
            self.base = base
            base.check(schema)
            base.check_clash(self.info, seen)
        for m in self.local_members:
            m.check(schema)
            m.check_clash(self.info, seen)
        members = [m for m in seen.values() if isinstance(m, ObjectMember)]
        if self.branches:
            self.branches.check_union(schema, seen)
            self.branches.check_clash(self.info, seen)
        self.members = tuple(members)
        self._complete = True

    def check_clash(self, info: SourceInfo | None, seen: dict[str, Member]) -> None:
        for m in self.members:
            m.check_clash(info, seen)
        if self.branches:
            self.branches.check_clash(info, seen)

    def connect_doc(self) -> None:
        self._connect_doc(self.doc)

    def _connect_doc(self, doc: Doc | None) -> None:
        if doc is None:
            return
        for f in self.features:
            doc.connect_feature(f)
        if self.base is not None and self.base.is_implicit():
            self.base._connect_doc(doc)
        for m in self.local_members:
            doc.connect_member(m)
            for f in m.features:
                doc.connect_feature(f)

    def is_implicit(self) -> bool:
        return self.name.startswith("q_")

    def is_empty(self) -> bool:
        return not self.members and not self.branches

    def has_conditional_members(self) -> bool:
        return any(m.ifcond.is_present() for m in self.members)

    def json_type(self) -> str:
        return "object"

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_object_type(self)

    def freeze(self) -> None:
        for m in self.local_members:
            m.freeze()
        if self.branches:
            self.branches.freeze()
        super().freeze()


class AlternateType(Type):
    """An alternate: one of several types, told apart by JSON type."""

    __slots__ = ("alternatives",)
    meta = "alternate"

    def __init__(
        self,
        name: str,
        info: SourceInfo,
        doc: Doc | None,
        ifcond: IfCond | None,
        features: Sequence[Feature],
        alternatives: Variants,
    ) -> None:
        super().__init__(name, info, doc, ifcond, features)
        alternatives.set_defined_in(name)
        alternatives.tag_member.defined_in = name
        self.alternatives = alternatives

    def check(self, schema: _Builder) -> None:
        super().check(schema)
        assert self.info is not None
        alts = self.alternatives
        alts.tag_member.check(schema)
        for v in alts.variants:
            v.check(schema)
        seen: dict[str, Member] = {}
        taken: dict[str, str] = {}
        for v in alts.variants:
            v.check_clash(self.info, seen)
            qtype = v.type.alternate_qtype()
            if not qtype:
                raise QAPISemError(
                    self.info, f"{v.describe(self.info)} cannot use {v.type.describe()}"
                )
            conflicting = {qtype}
            if qtype == "qstring":
                # A string can also be read where a number or a boolean is
                # expected (keyval input), unless an enum's values rule it out.
                if isinstance(v.type, EnumType):
                    for m in v.type.members:
                        if m.name in ("on", "off"):
                            conflicting.add("qbool")
                        if re.match(r"[-+0-9.]", m.name):
                            conflicting.add("qnum")
                else:
                    conflicting.update(("qnum", "qbool"))
            for qt in sorted(conflicting, key=_QTYPE_ORDER.index):
                if qt in taken:
                    raise QAPISemError(
                        self.info,
                        f"{v.describe(self.info)} can't be distinguished from '{taken[qt]}'",
                    )
                taken[qt] = v.name

    def connect_doc(self) -> None:
        super().connect_doc()
        if self.doc is not None:
            for v in self.alternatives.variants:
                self.doc.connect_member(v)

    def json_type(self) -> str:
        return "value"

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_alternate_type(self)

    def freeze(self) -> None:
        self.alternatives.tag_member.freeze()
        self.alternatives.freeze()
        super().freeze()


_QTYPE_ORDER = ["qstring", "qnum", "qbool", "qnull", "qlist", "qdict"]


class Command(Definition):
    """A command: arguments, return type and flags."""

    __slots__ = (
        "allow_oob",
        "allow_preconfig",
        "arg_type",
        "arg_type_name",
        "boxed",
        "coroutine",
        "gen",
        "ret_type",
        "ret_type_name",
        "success_response",
    )
    meta = "command"

    def __init__(
        self,
        name: str,
        info: SourceInfo,
        doc: Doc | None,
        ifcond: IfCond,
        features: Sequence[Feature],
        arg_type: str | None,
        ret_type: str | None,
        *,
        gen: bool,
        success_response: bool,
        boxed: bool,
        allow_oob: bool,
        allow_preconfig: bool,
        coroutine: bool,
    ) -> None:
        super().__init__(name, info, doc, ifcond, features)
        self.arg_type_name = arg_type
        self.arg_type: ObjectType | None = None
        self.ret_type_name = ret_type
        self.ret_type: Type | None = None
        self.gen = gen
        self.success_response = success_response
        self.boxed = boxed
        self.allow_oob = allow_oob
        self.allow_preconfig = allow_preconfig
        self.coroutine = coroutine

    def check(self, schema: _Builder) -> None:
        super().check(schema)
        assert self.info is not None
        self.arg_type = _check_arguments(self, schema, self.arg_type_name, self.boxed)
        if self.ret_type_name:
            ret = schema.resolve_type(self.ret_type_name, self.info, "command's 'returns'")
            self.ret_type = ret
            if self.name not in self.info.pragmas.command_returns_exceptions:
                element = ret.element_type if isinstance(ret, ArrayType) else ret
                if not isinstance(element, ObjectType):
                    raise QAPISemError(
                        self.info, f"command's 'returns' cannot take {ret.describe()}"
                    )

    def connect_doc(self) -> None:
        super().connect_doc()
        if self.doc is not None and self.arg_type is not None and self.arg_type.is_implicit():
            self.arg_type._connect_doc(self.doc)

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_command(self)


class Event(Definition):
    """An event: its data type."""

    __slots__ = ("arg_type", "arg_type_name", "boxed")
    meta = "event"

    def __init__(
        self,
        name: str,
        info: SourceInfo,
        doc: Doc | None,
        ifcond: IfCond,
        features: Sequence[Feature],
        arg_type: str | None,
        boxed: bool,
    ) -> None:
        super().__init__(name, info, doc, ifcond, features)
        self.arg_type_name = arg_type
        self.arg_type: ObjectType | None = None
        self.boxed = boxed

    def check(self, schema: _Builder) -> None:
        super().check(schema)
        self.arg_type = _check_arguments(self, schema, self.arg_type_name, self.boxed)

    def connect_doc(self) -> None:
        super().connect_doc()
        if self.doc is not None and self.arg_type is not None and self.arg_type.is_implicit():
            self.arg_type._connect_doc(self.doc)

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_event(self)


def _check_arguments(
    defn: Command | Event, schema: _Builder, type_name: str | None, boxed: bool
) -> ObjectType | None:
    """Resolve and check a command's or event's ``data``."""
    if not type_name:
        return None
    info = defn.info
    assert info is not None
    meta = defn.meta
    arg_type = schema.resolve_type(type_name, info, f"{meta}'s 'data'")
    if not isinstance(arg_type, ObjectType):
        raise QAPISemError(info, f"{meta}'s 'data' cannot take {arg_type.describe()}")
    if arg_type.branches and not boxed:
        raise QAPISemError(
            info, f"{meta}'s 'data' can take {arg_type.describe()} only with 'boxed': true"
        )
    arg_type.check(schema)
    # Before QEMU 9, conditional arguments did not need 'boxed'.
    if arg_type.has_conditional_members() and not boxed and not schema.legacy:
        raise QAPISemError(info, f"conditional {meta} arguments require 'boxed': true")
    return arg_type


class Module(Frozen):
    """A schema file (or ``./builtin``) and the entities defined in it."""

    __slots__ = ("entities", "name")

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.entities: Sequence[Entity] = []

    def is_builtin(self) -> bool:
        return self.name == BUILTIN_MODULE

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_module(self)
        for entity in self.entities:
            if visitor.visit_needed(entity):
                entity.visit(visitor)


class Schema(Frozen):
    """A checked schema."""

    __slots__ = ("_by_name", "docs", "entities", "features", "fname", "modules")

    def __init__(
        self,
        fname: str,
        modules: Sequence[Module],
        entities: Sequence[Entity],
        docs: Sequence[Doc],
        features: Sequence[Feature],
        by_name: dict[str, Definition],
    ) -> None:
        super().__init__()
        self.fname = fname
        self.modules = tuple(modules)
        self.entities = tuple(entities)
        self.docs = tuple(docs)
        self.features = tuple(features)
        self._by_name = by_name

    def lookup(self, name: str) -> Definition | None:
        return self._by_name.get(name)

    def lookup_type(self, name: str) -> Type | None:
        defn = self._by_name.get(name)
        return defn if isinstance(defn, Type) else None

    def definitions(self) -> Iterator[Definition]:
        """Every definition, built-ins first, in definition order."""
        for entity in self.entities:
            if isinstance(entity, Definition):
                yield entity

    def commands(self) -> Iterator[Command]:
        for entity in self.entities:
            if isinstance(entity, Command):
                yield entity

    def events(self) -> Iterator[Event]:
        for entity in self.entities:
            if isinstance(entity, Event):
                yield entity

    def visit(self, visitor: SchemaVisitor) -> None:
        """Walk the model module by module, in definition order."""
        visitor.visit_begin(self)
        for module in self.modules:
            module.visit(visitor)
        visitor.visit_end()


# -- building -------------------------------------------------------------


def load_schema(path: str, *, legacy: bool = False) -> Schema:
    """Load and check the schema whose main file is ``path``.

    Raises :class:`QAPIError`, whose ``str()`` is the diagnostic exactly as
    QEMU's generator prints it.  ``legacy`` accepts the constructs of QEMU
    releases 5.0 to 9.2 that 10.0 no longer does.
    """
    try:
        parsed = parse_schema(path, legacy=legacy)
    except OSError as err:
        raise QAPIError(f"can't read schema file '{path}': {err.strerror}") from None
    if legacy:
        from .legacy import upgrade_exprs

        upgrade_exprs(parsed.exprs)
    check_exprs(parsed.exprs, legacy=legacy)
    builder = _Builder(path, legacy)
    builder.define(parsed.exprs)
    return builder.finish(parsed.docs)


class _Builder:
    """Builds and checks the entities of one schema."""

    def __init__(self, fname: str, legacy: bool = False) -> None:
        self.fname = fname
        self.legacy = legacy
        # Legacy simple unions' wrapper types, conditional as what they wrap.
        self.wrappers: list[ObjectType] = []
        self.entities: list[Entity] = []
        self.by_name: dict[str, Definition] = {}
        self.modules: dict[str, Module] = {}
        self.features: dict[str, Feature] = {f: Feature(f, None) for f in SPECIAL_FEATURES}
        self.schema_dir = os.path.dirname(fname)
        self._module_names: dict[str, str] = {}
        self._module(BUILTIN_MODULE)
        self._module(fname)
        self._predefine()

    # -- entities -----------------------------------------------------

    def _module_name(self, fname: str) -> str:
        name = self._module_names.get(fname)
        if name is None:
            # relpath is slow, and every entity asks: once per file.
            name = fname if fname.startswith("./") else os.path.relpath(fname, self.schema_dir)
            self._module_names[fname] = name
        return name

    def _module(self, fname: str) -> Module:
        name = self._module_name(fname)
        module = self.modules.get(name)
        if module is None:
            module = self.modules[name] = Module(name)
        return module

    def _define(self, defn: Definition) -> None:
        self.entities.append(defn)
        other = self.by_name.get(defn.name)
        if other is not None:
            assert defn.info is not None
            if other.info is not None:
                where = QAPISourceError(other.info, "previous definition")
                raise QAPISemError(defn.info, f"'{defn.name}' is already defined\n{where}")
            raise QAPISemError(defn.info, f"{other.describe()} is already defined")
        self.by_name[defn.name] = defn

    def lookup_type(self, name: str) -> Type | None:
        defn = self.by_name.get(name)
        return defn if isinstance(defn, Type) else None

    def resolve_type(
        self,
        name: str,
        info: SourceInfo | None,
        what: str | Callable[[SourceInfo], str] | None,
    ) -> Type:
        typ = self.lookup_type(name)
        if typ is None:
            assert info is not None and what
            if callable(what):
                what = what(info)
            raise QAPISemError(info, f"{what} uses unknown type '{name}'")
        return typ

    def _predefine(self) -> None:
        for name, json_type in BUILTIN_TYPES:
            self._define(BuiltinType(name, json_type))
            self._array_of(name, None)
        self._define(ObjectType("q_empty", None, None, None, (), None, (), None))
        values = [EnumMember(n, None, None, ()) for n in QTYPE_VALUES]
        self._define(EnumType("QType", None, None, None, (), values, None, implicit=True))

    def _features(self, features: Value | None, info: SourceInfo) -> list[Feature]:
        if not isinstance(features, list):
            return []
        result = []
        for f in features:
            assert isinstance(f, dict)
            name = f["name"]
            assert isinstance(name, str)
            if name not in self.features:
                self.features[name] = Feature(name, info)
            result.append(Feature(name, info, _ifcond(f)))
        return result

    def _array_of(self, element: str, info: SourceInfo | None) -> str:
        name = element + "List"
        if self.lookup_type(name) is None:
            self._define(ArrayType(name, info, element))
        return name

    def _type_ref(self, typ: Value, info: SourceInfo) -> str:
        if isinstance(typ, list):
            element = typ[0]
            assert isinstance(element, str)
            return self._array_of(element, info)
        assert isinstance(typ, str)
        return typ

    def _members(self, data: Value, info: SourceInfo) -> list[ObjectMember]:
        assert isinstance(data, dict)
        members = []
        for key, value in data.items():
            assert isinstance(value, dict)
            optional = key.startswith("*")
            name = key[1:] if optional else key
            typ = self._type_ref(value["type"], info)
            members.append(
                ObjectMember(
                    name,
                    info,
                    typ,
                    optional,
                    _ifcond(value),
                    self._features(value.get("features"), info),
                )
            )
        return members

    def _implicit_object(
        self,
        name: str,
        info: SourceInfo,
        ifcond: IfCond,
        role: str,
        members: list[ObjectMember],
    ) -> str | None:
        if not members:
            return None
        name = f"q_obj_{name}-{role}"
        if self.by_name.get(name) is None:
            self._define(ObjectType(name, info, None, ifcond, (), None, members, None))
        return name

    def _variants(self, data: Value, info: SourceInfo) -> list[Variant]:
        assert isinstance(data, dict)
        variants = []
        for key, value in data.items():
            assert isinstance(value, dict)
            variants.append(Variant(key, info, self._type_ref(value["type"], info), _ifcond(value)))
        return variants

    # -- definitions --------------------------------------------------

    def define(self, exprs: list[Expression]) -> None:
        for expr in exprs:
            if "include" in expr:
                included = expr["include"]
                assert isinstance(included, str)
                self._module(included)
                self.entities.append(Include(self._module_name(included), expr.info))
                continue
            meta = next(
                k for k in ("enum", "struct", "union", "alternate", "command", "event") if k in expr
            )
            getattr(self, "_def_" + meta)(expr)

    def _def_enum(self, expr: Expression) -> None:
        info = expr.info
        data = expr["data"]
        assert isinstance(data, list)
        members = []
        for m in data:
            assert isinstance(m, dict)
            name = m["name"]
            assert isinstance(name, str)
            members.append(
                EnumMember(name, info, _ifcond(m), self._features(m.get("features"), info))
            )
        prefix = expr.get("prefix")
        assert prefix is None or isinstance(prefix, str)
        self._define(
            EnumType(
                _str(expr, "enum"),
                info,
                expr.doc,
                _ifcond(expr),
                self._features(expr.get("features"), info),
                members,
                prefix,
            )
        )

    def _def_struct(self, expr: Expression) -> None:
        info = expr.info
        base = expr.get("base")
        assert base is None or isinstance(base, str)
        self._define(
            ObjectType(
                _str(expr, "struct"),
                info,
                expr.doc,
                _ifcond(expr),
                self._features(expr.get("features"), info),
                base,
                self._members(expr["data"], info),
                None,
            )
        )

    def _def_union(self, expr: Expression) -> None:
        name = _str(expr, "union")
        info = expr.info
        ifcond = _ifcond(expr)
        features = self._features(expr.get("features"), info)
        if "discriminator" not in expr:
            self._def_simple_union(expr, name, ifcond, features)
            return
        base_expr = expr["base"]
        if isinstance(base_expr, dict):
            base = self._implicit_object(name, info, ifcond, "base", self._members(base_expr, info))
        else:
            assert isinstance(base_expr, str)
            base = base_expr
        variants = self._variants(expr["data"], info)
        tag = expr["discriminator"]
        assert isinstance(tag, str)
        self._define(
            ObjectType(
                name, info, expr.doc, ifcond, features, base, [], Variants(info, variants, tag)
            )
        )

    def _def_simple_union(
        self, expr: Expression, name: str, ifcond: IfCond, features: list[Feature]
    ) -> None:
        # Legacy: each branch wraps its type in an implicit object with one
        # member, 'data'; an implicit enum NAMEKind lists the branches, and
        # the union's tag member 'type' is of that enum.
        info = expr.info
        data = expr["data"]
        assert isinstance(data, dict)
        variants = []
        kinds = []
        for key, value in data.items():
            assert isinstance(value, dict)
            typ = self._type_ref(value["type"], info)
            wrapper = f"q_obj_{typ}-wrapper"
            if self.by_name.get(wrapper) is None:
                wrapper_type = ObjectType(
                    wrapper,
                    info,
                    None,
                    None,
                    (),
                    None,
                    [ObjectMember("data", info, typ, False)],
                    None,
                )
                self._define(wrapper_type)
                self.wrappers.append(wrapper_type)
            cond = _ifcond(value)
            variants.append(Variant(key, info, wrapper, cond))
            kinds.append(EnumMember(key, info, cond, ()))
        kind = name + "Kind"
        self._define(EnumType(kind, info, None, ifcond, (), kinds, None, implicit=True))
        tag = ObjectMember("type", info, kind, False)
        self._define(
            ObjectType(
                name,
                info,
                expr.doc,
                ifcond,
                features,
                None,
                [tag],
                Variants(info, variants, "type"),
            )
        )

    def _def_alternate(self, expr: Expression) -> None:
        info = expr.info
        variants = self._variants(expr["data"], info)
        tag = ObjectMember("type", info, "QType", False)
        self._define(
            AlternateType(
                _str(expr, "alternate"),
                info,
                expr.doc,
                _ifcond(expr),
                self._features(expr.get("features"), info),
                Variants(info, variants, "type", tag),
            )
        )

    def _arg_type(self, expr: Expression, name: str, ifcond: IfCond) -> str | None:
        data = expr.get("data")
        if isinstance(data, dict):
            return self._implicit_object(
                name, expr.info, ifcond, "arg", self._members(data, expr.info)
            )
        assert data is None or isinstance(data, str)
        return data

    def _def_command(self, expr: Expression) -> None:
        name = _str(expr, "command")
        info = expr.info
        ifcond = _ifcond(expr)
        features = self._features(expr.get("features"), info)
        data = self._arg_type(expr, name, ifcond)
        rets = expr.get("returns")
        ret = None if rets is None else self._type_ref(rets, info)
        self._define(
            Command(
                name,
                info,
                expr.doc,
                ifcond,
                features,
                data,
                ret,
                gen=expr.get("gen", True) is True,
                success_response=expr.get("success-response", True) is True,
                boxed=expr.get("boxed", False) is True,
                allow_oob=expr.get("allow-oob", False) is True,
                allow_preconfig=expr.get("allow-preconfig", False) is True,
                coroutine=expr.get("coroutine", False) is True,
            )
        )

    def _def_event(self, expr: Expression) -> None:
        name = _str(expr, "event")
        info = expr.info
        ifcond = _ifcond(expr)
        features = self._features(expr.get("features"), info)
        data = self._arg_type(expr, name, ifcond)
        boxed = expr.get("boxed", False) is True
        self._define(Event(name, info, expr.doc, ifcond, features, data, boxed))

    # -- checking -----------------------------------------------------

    def finish(self, docs: list[Doc]) -> Schema:
        for entity in self.entities:
            entity.check(self)
            entity.connect_doc()
        for entity in self.entities:
            module = self.modules[self._module_name(entity.module_fname())]
            entity.module = module.name
            assert isinstance(module.entities, list)
            module.entities.append(entity)
        for wrapper in self.wrappers:
            wrapper.ifcond = wrapper.members[0].type.ifcond
        for doc in docs:
            doc.check()
        features = list(self.features.values())
        if len(features) > MAX_FEATURES:
            info = features[MAX_FEATURES].info
            assert info is not None
            raise QAPISemError(info, f"Maximum of {MAX_FEATURES} schema features is permitted")
        for module in self.modules.values():
            module.entities = tuple(module.entities)
            module.freeze()
        for entity in self.entities:
            entity.freeze()
        schema = Schema(
            self.fname, list(self.modules.values()), self.entities, docs, features, self.by_name
        )
        schema.freeze()
        return schema


def _ifcond(value: dict[str, Value]) -> IfCond:
    cond = value.get("if")
    assert cond is None or isinstance(cond, (str, dict))
    return IfCond(cond)


def _str(expr: Expression, key: str) -> str:
    value = expr[key]
    assert isinstance(value, str)
    return value
