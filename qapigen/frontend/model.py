"""The checked schema model: what back ends read.

One entity per definition, plus the implicit types QAPI defines (built-ins,
arrays, ``q_empty``, ``QType``, argument and base types), grouped in modules
(schema files).  :mod:`qapigen.frontend.builder` makes it from a schema's
text; back ends read it through :class:`qapigen.frontend.visitor.SchemaVisitor`.

The model is immutable throughout, its doc blocks, sections and source
locations included (:mod:`qapigen.frontend.immutable`): every attribute
refuses assignment, every container is a tuple or read-only; it pickles and
copies.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence

from .immutable import Immutable, ReadOnlyDict, ReadOnlyList, seal_each
from .wire_types import ALTERNATE_QTYPE

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from .doc_comments import Doc
    from .source import SourceInfo
    from .visitor import SchemaVisitor

    IfExpr = str | dict[str, Any]

#: The name of the module that holds the built-in types.
BUILTIN_MODULE = "./builtin"

#: Features with a meaning of their own.
SPECIAL_FEATURES = ("deprecated", "unstable")


class IfCond(Immutable):
    """A condition (``'if'``): a symbol, or ``all``/``any``/``not`` of them.

    ``expr`` is as the schema writes it, its dicts and lists read-only.
    """

    __slots__ = ("expr",)
    expr: IfExpr | None

    def __init__(self, expr: IfExpr | None = None) -> None:
        object.__setattr__(self, "expr", _read_only(expr))

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


def _read_only(expr: IfExpr | None) -> IfExpr | None:
    if isinstance(expr, dict):
        return ReadOnlyDict((key, _read_only(value)) for key, value in expr.items())
    if isinstance(expr, list):
        return ReadOnlyList(_read_only(e) for e in expr)
    return expr


#: The condition of what has none: it always holds.
NO_CONDITION = IfCond()


# -- members --------------------------------------------------------------


class Member(Immutable):
    """Something named inside a definition: a member, value, branch or feature."""

    __slots__ = ("defined_in", "ifcond", "info", "name")
    #: How diagnostics call it.
    role: ClassVar[str] = "member"

    def __init__(self, name: str, info: SourceInfo | None, ifcond: IfCond | None = None) -> None:
        self.name = name
        self.info = info
        self.ifcond = ifcond or NO_CONDITION
        # The name of the definition this belongs to.
        self.defined_in = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


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

    def _seal_parts(self) -> None:
        if self.features:
            seal_each(self.features, Feature)


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


class Variant(ObjectMember):
    """A branch of a union or an alternate: the tag value and its type."""

    __slots__ = ()
    role = "branch"

    def __init__(self, name: str, info: SourceInfo | None, type_name: str, ifcond: IfCond) -> None:
        super().__init__(name, info, type_name, False, ifcond)


class Variants(Immutable):
    """The branches of a union (selected by a tag member) or an alternate."""

    __slots__ = ("info", "tag_member", "tag_name", "variants")

    def __init__(
        self,
        info: SourceInfo,
        variants: list[Variant],
        tag_name: str,
        tag_member: ObjectMember | None = None,
    ) -> None:
        self.info = info
        self.tag_name = tag_name
        self.tag_member: ObjectMember
        if tag_member is not None:
            self.tag_member = tag_member
        self.variants: Sequence[Variant] = variants

    def set_defined_in(self, name: str) -> None:
        for v in self.variants:
            v.defined_in = name

    def _seal_parts(self) -> None:
        self.variants = tuple(self.variants)
        for v in self.variants:
            v.seal()


# -- implicit object types ------------------------------------------------


class ImplicitRole(enum.Enum):
    """What an implicit object type holds for the definition it was made for."""

    #: A command's arguments or an event's data, given in place.
    ARGUMENTS = "arg"
    #: A union's base, given in place.
    BASE = "base"
    #: (Legacy) a simple union's branch: one member, ``data``, of the branch's type.
    WRAPPER = "wrapper"


class ImplicitOrigin(Immutable):
    """Whom the builder made an implicit object type for, and what it holds.

    ``owner`` is the name of the command, event or union the type holds the
    arguments or base of; for a wrapper, the name of the type it wraps.
    """

    __slots__ = ("owner", "role")
    owner: str
    role: ImplicitRole

    def __init__(self, owner: str, role: ImplicitRole) -> None:
        object.__setattr__(self, "owner", owner)
        object.__setattr__(self, "role", role)

    def __repr__(self) -> str:
        return f"ImplicitOrigin({self.owner!r}, {self.role})"

    def type_name(self) -> str:
        """The name QAPI gives the type: ``q_obj_OWNER-ROLE``."""
        return f"q_obj_{self.owner}-{self.role.value}"


# -- entities -------------------------------------------------------------


class Entity(Immutable):
    """Something the schema defines or includes, in a module."""

    __slots__ = ("info", "module")

    def __init__(self, info: SourceInfo | None) -> None:
        self.info = info
        # The name of the module the entity belongs to.
        self.module = ""

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
        self.ifcond = ifcond or NO_CONDITION
        self.features = tuple(features)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def is_implicit(self) -> bool:
        return self.info is None

    def is_deprecated(self) -> bool:
        return any(f.name == "deprecated" for f in self.features)

    def is_unstable(self) -> bool:
        return any(f.name == "unstable" for f in self.features)

    def describe(self) -> str:
        """How diagnostics name the definition."""
        return f"{self.meta} '{self.name}'"

    def _seal_parts(self) -> None:
        if self.features:
            seal_each(self.features, Feature)


class Type(Definition):
    """A type."""

    __slots__ = ()

    def json_type(self) -> str:
        """The JSON type of its values, as ``query-qmp-schema`` names it."""
        raise NotImplementedError

    def alternate_qtype(self) -> str | None:
        """The QType by which an alternate would tell this branch apart (None: it cannot)."""
        return ALTERNATE_QTYPE.get(self.json_type())

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

    def is_implicit(self) -> bool:
        return self.implicit

    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def json_type(self) -> str:
        return "string"

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_enum_type(self)

    def _seal_parts(self) -> None:
        super()._seal_parts()
        for m in self.members:
            m.seal()


class ArrayType(Type):
    """``[T]``: named ``TList``, defined where first used."""

    __slots__ = ("element_type", "element_type_name")
    meta = "array"

    def __init__(self, name: str, info: SourceInfo | None, element_type: str) -> None:
        super().__init__(name, info, None)
        self.element_type_name = element_type
        self.element_type: Type

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
    front.  A union has ``branches``.  An implicit type that holds another
    definition's arguments, base or branch has its ``origin``.
    """

    __slots__ = ("base", "base_name", "branches", "local_members", "members", "origin")

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
        *,
        origin: ImplicitOrigin | None = None,
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
        self.origin = origin

    @property
    def meta(self) -> str:  # type: ignore[override]
        return "union" if self.branches else "struct"

    def is_implicit(self) -> bool:
        # q_empty, and the types made for other definitions.
        return self.info is None or self.origin is not None

    def is_empty(self) -> bool:
        return not self.members and not self.branches

    def has_conditional_members(self) -> bool:
        return any(m.ifcond.is_present() for m in self.members)

    def json_type(self) -> str:
        return "object"

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_object_type(self)

    def _seal_parts(self) -> None:
        super()._seal_parts()
        for m in self.local_members:
            m.seal()
        if self.branches:
            self.branches.seal()


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

    def json_type(self) -> str:
        return "value"

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_alternate_type(self)

    def _seal_parts(self) -> None:
        super()._seal_parts()
        self.alternatives.tag_member.seal()
        self.alternatives.seal()


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

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_event(self)


class Module(Immutable):
    """A schema file (or ``./builtin``) and the entities defined in it."""

    __slots__ = ("entities", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.entities: Sequence[Entity] = []

    def is_builtin(self) -> bool:
        return self.name == BUILTIN_MODULE

    def _seal_parts(self) -> None:
        self.entities = tuple(self.entities)
        for entity in self.entities:
            entity.seal()

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_module(self)
        for entity in self.entities:
            if visitor.visit_needed(entity):
                entity.visit(visitor)


class Schema(Immutable):
    """A checked schema.

    Sealing it seals everything it holds but the source locations and the
    pragmas, which the builder seals apart.
    """

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
        self.fname = fname
        self.modules = tuple(modules)
        self.entities = tuple(entities)
        self.docs = tuple(docs)
        self.features = tuple(features)
        self._by_name: Mapping[str, Definition] = ReadOnlyDict(by_name)

    def _seal_parts(self) -> None:
        for module in self.modules:
            module.seal()
        for feature in self.features:
            feature.seal()
        for doc in self.docs:
            doc.seal()

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
