"""Builds the checked model (:mod:`qapigen.frontend.model`) from a schema's text.

:func:`load_schema` parses a schema, checks its expressions, makes one
entity per definition (and the implicit types QAPI defines), checks what
needs the whole schema (types that exist, clashes, unions and alternates),
attaches the documentation, and seals the result (see
:mod:`qapigen.frontend.immutable`).  Every diagnostic is
QEMU's, word for word.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable

from .c_names import c_name
from .checks import check_exprs
from .doc_comments import Doc
from .errors import QAPIError, QAPISemError, QAPISourceError
from .immutable import draft, seal_each
from .model import (
    BUILTIN_MODULE,
    NO_CONDITION,
    SPECIAL_FEATURES,
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    Definition,
    Entity,
    EnumMember,
    EnumType,
    Event,
    Feature,
    IfCond,
    ImplicitOrigin,
    ImplicitRole,
    Include,
    Member,
    Module,
    ObjectMember,
    ObjectType,
    Schema,
    Type,
    Variant,
    Variants,
)
from .parser import Expression, ParsedSchema, Value, parse_schema
from .source import SourceInfo
from .wire_types import BUILTIN_TYPES, QTYPE_VALUES

MAX_FEATURES = 64

# The order in which an alternate's branches claim the JSON types they take.
_QTYPE_ORDER = ["qstring", "qnum", "qbool", "qnull", "qlist", "qdict"]


# Drafts of the model's classes: what the builder makes takes assignments
# until it seals the finished model.
_AlternateType = draft(AlternateType)
_ArrayType = draft(ArrayType)
_BuiltinType = draft(BuiltinType)
_Command = draft(Command)
_EnumMember = draft(EnumMember)
_EnumType = draft(EnumType)
_Event = draft(Event)
_Feature = draft(Feature)
_Include = draft(Include)
_Module = draft(Module)
_ObjectMember = draft(ObjectMember)
_ObjectType = draft(ObjectType)
_Schema = draft(Schema)
_Variant = draft(Variant)
_Variants = draft(Variants)


def load_schema(path: str, *, legacy: bool = False, superset: bool = False) -> Schema:
    """Load and check the schema whose main file is ``path``.

    Raises :class:`QAPIError`, whose ``str()`` is the diagnostic exactly as
    QEMU's generator prints it.  ``legacy`` accepts the constructs of QEMU
    releases 5.0 to 9.2 that 10.0 no longer does.  ``superset`` gives the
    superset of the schema's builds (:mod:`qapigen.frontend.superset`).
    """
    # The model is one large graph of objects, made in one go: the cyclic
    # garbage collector would traverse it again and again while it grows
    # (some 5% of the time), to find next to nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load(path, legacy, superset)
    finally:
        if collecting:
            gc.enable()


def _load(path: str, legacy: bool, superset: bool) -> Schema:
    try:
        parsed = parse_schema(path, legacy=legacy)
    except OSError as err:
        raise QAPIError(f"can't read schema file '{path}': {err.strerror}") from None
    if legacy:
        from .legacy import upgrade_exprs

        upgrade_exprs(parsed.exprs)
    check_exprs(parsed.exprs, legacy=legacy)
    if superset:
        from .superset import make_superset

        make_superset(parsed.exprs)
    return build_schema(path, parsed, legacy=legacy)


def build_schema(fname: str, parsed: ParsedSchema, *, legacy: bool = False) -> Schema:
    """The checked model of ``parsed``, whose expressions are checked (normalized);
    ``fname`` is the main file."""
    builder = _Builder(fname, legacy)
    builder.define(parsed.exprs)
    return builder.finish(parsed)


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
        self.features: dict[str, Feature] = {f: _Feature(f, None) for f in SPECIAL_FEATURES}
        self.schema_dir = os.path.dirname(fname)
        self._module_names: dict[str, str] = {}
        # Object types being checked, and those checked: a type met again
        # while it is being checked contains itself.
        self._checking: set[ObjectType] = set()
        self._checked: set[ObjectType] = set()
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
            module = self.modules[name] = _Module(name)
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
            self._define(_BuiltinType(name, json_type))
            self._array_of(name, None)
        self._define(_ObjectType("q_empty", None, None, None, (), None, (), None))
        values = [_EnumMember(n, None, None, ()) for n in QTYPE_VALUES]
        self._define(_EnumType("QType", None, None, None, (), values, None, implicit=True))

    def _features(self, features: Value | None, info: SourceInfo) -> list[Feature]:
        if not isinstance(features, list):
            return []
        result = []
        for f in features:
            assert isinstance(f, dict)
            name = f["name"]
            assert isinstance(name, str)
            if name not in self.features:
                self.features[name] = _Feature(name, info)
            result.append(_Feature(name, info, _ifcond(f)))
        return result

    def _array_of(self, element: str, info: SourceInfo | None) -> str:
        name = element + "List"
        if self.lookup_type(name) is None:
            self._define(_ArrayType(name, info, element))
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
                _ObjectMember(
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
        owner: str,
        info: SourceInfo,
        ifcond: IfCond,
        role: ImplicitRole,
        members: list[ObjectMember],
    ) -> str | None:
        if not members:
            return None
        origin = ImplicitOrigin(owner, role)
        name = origin.type_name()
        if self.by_name.get(name) is None:
            self._define(
                _ObjectType(name, info, None, ifcond, (), None, members, None, origin=origin)
            )
        return name

    def _variants(self, data: Value, info: SourceInfo) -> list[Variant]:
        assert isinstance(data, dict)
        variants = []
        for key, value in data.items():
            assert isinstance(value, dict)
            variants.append(
                _Variant(key, info, self._type_ref(value["type"], info), _ifcond(value))
            )
        return variants

    # -- definitions --------------------------------------------------

    def define(self, exprs: list[Expression]) -> None:
        for expr in exprs:
            if "include" in expr:
                included = expr["include"]
                assert isinstance(included, str)
                self._module(included)
                self.entities.append(_Include(self._module_name(included), expr.info))
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
                _EnumMember(name, info, _ifcond(m), self._features(m.get("features"), info))
            )
        prefix = expr.get("prefix")
        assert prefix is None or isinstance(prefix, str)
        self._define(
            _EnumType(
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
            _ObjectType(
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
            base = self._implicit_object(
                name, info, ifcond, ImplicitRole.BASE, self._members(base_expr, info)
            )
        else:
            assert isinstance(base_expr, str)
            base = base_expr
        variants = self._variants(expr["data"], info)
        tag = expr["discriminator"]
        assert isinstance(tag, str)
        self._define(
            _ObjectType(
                name, info, expr.doc, ifcond, features, base, [], _Variants(info, variants, tag)
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
            origin = ImplicitOrigin(typ, ImplicitRole.WRAPPER)
            wrapper = origin.type_name()
            if self.by_name.get(wrapper) is None:
                wrapper_type = _ObjectType(
                    wrapper,
                    info,
                    None,
                    None,
                    (),
                    None,
                    [_ObjectMember("data", info, typ, False)],
                    None,
                    origin=origin,
                )
                self._define(wrapper_type)
                self.wrappers.append(wrapper_type)
            cond = _ifcond(value)
            variants.append(_Variant(key, info, wrapper, cond))
            kinds.append(_EnumMember(key, info, cond, ()))
        kind = name + "Kind"
        self._define(_EnumType(kind, info, None, ifcond, (), kinds, None, implicit=True))
        tag = _ObjectMember("type", info, kind, False)
        self._define(
            _ObjectType(
                name,
                info,
                expr.doc,
                ifcond,
                features,
                None,
                [tag],
                _Variants(info, variants, "type"),
            )
        )

    def _def_alternate(self, expr: Expression) -> None:
        info = expr.info
        variants = self._variants(expr["data"], info)
        tag = _ObjectMember("type", info, "QType", False)
        self._define(
            _AlternateType(
                _str(expr, "alternate"),
                info,
                expr.doc,
                _ifcond(expr),
                self._features(expr.get("features"), info),
                _Variants(info, variants, "type", tag),
            )
        )

    def _arg_type(self, expr: Expression, name: str, ifcond: IfCond) -> str | None:
        data = expr.get("data")
        if isinstance(data, dict):
            return self._implicit_object(
                name, expr.info, ifcond, ImplicitRole.ARGUMENTS, self._members(data, expr.info)
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
            _Command(
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
        self._define(_Event(name, info, expr.doc, ifcond, features, data, boxed))

    # -- checking -----------------------------------------------------

    def describe(self, member: Member, info: SourceInfo) -> str:
        """How diagnostics name ``member``, seen from the definition at ``info``."""
        role = member.role
        meta = "type"
        owner = member.defined_in
        defn = self.by_name.get(owner)
        origin = defn.origin if isinstance(defn, ObjectType) else None
        if origin is not None:
            # Named for the definition the implicit type was made for.
            owner = origin.owner
            if origin.role is ImplicitRole.ARGUMENTS:
                role = "parameter"
                meta = "command"
            elif origin.role is ImplicitRole.BASE:
                role = "base " + role
        if owner != info.defn_name:
            return f"{role} '{member.name}' of {meta} '{owner}'"
        return f"{role} '{member.name}'"

    def check_clash(self, member: Member, info: SourceInfo | None, seen: dict[str, Member]) -> None:
        """Refuse ``member`` if its C name is one ``seen`` has; else add it."""
        cname = c_name(member.name)
        if cname in seen:
            assert info is not None
            raise QAPISemError(
                info,
                f"{self.describe(member, info)} collides with {self.describe(seen[cname], info)}",
            )
        seen[cname] = member

    def check_features(self, features: tuple[Feature, ...], info: SourceInfo | None) -> None:
        seen: dict[str, Member] = {}
        for f in features:
            self.check_clash(f, info, seen)

    def check_member(self, member: ObjectMember) -> None:
        info = member.info
        assert info is not None
        member.type = self.resolve_type(
            member.type_name, info, lambda at: self.describe(member, at)
        )
        self.check_features(member.features, info)

    def check(self, entity: Entity) -> None:
        if isinstance(entity, ObjectType):
            self.check_object(entity)
        elif isinstance(entity, Type):
            self.check_type(entity)
            if isinstance(entity, EnumType):
                seen: dict[str, Member] = {}
                for m in entity.members:
                    self.check_clash(m, entity.info, seen)
            elif isinstance(entity, ArrayType):
                self.check_array(entity)
            elif isinstance(entity, AlternateType):
                self.check_alternate(entity)
        elif isinstance(entity, Command):
            self.check_command(entity)
        elif isinstance(entity, Event):
            self.check_features(entity.features, entity.info)
            entity.arg_type = self.check_arguments(entity, entity.arg_type_name, entity.boxed)

    def check_type(self, typ: Type) -> None:
        """What every type's definition must satisfy."""
        self.check_features(typ.features, typ.info)
        for f in typ.features:
            if f.is_special():
                assert typ.info is not None
                raise QAPISemError(typ.info, f"feature '{f.name}' is not supported for types")

    def check_array(self, typ: ArrayType) -> None:
        what = typ.info.defn_meta if typ.info else None
        element = self.resolve_type(typ.element_type_name, typ.info, what)
        if isinstance(element, ArrayType):
            assert typ.info is not None
            raise QAPISemError(
                typ.info, f"{what} uses array of array type '{typ.element_type_name}'"
            )
        typ.element_type = element
        # An array is as conditional as its element type.
        typ.ifcond = element.ifcond

    def check_object(self, typ: ObjectType) -> None:
        if typ in self._checked:
            return
        if typ in self._checking:
            assert typ.info is not None
            raise QAPISemError(typ.info, f"object {typ.name} contains itself")
        self._checking.add(typ)
        self.check_type(typ)
        seen: dict[str, Member] = {}
        if typ.base_name:
            assert typ.info is not None
            base = self.resolve_type(typ.base_name, typ.info, "'base'")
            if not isinstance(base, ObjectType) or base.branches:
                raise QAPISemError(
                    typ.info, f"'base' requires a struct type, {base.describe()} isn't"
                )
            typ.base = base
            self.check_object(base)
            self.check_object_clash(base, typ.info, seen)
        for m in typ.local_members:
            self.check_member(m)
            self.check_clash(m, typ.info, seen)
        members = [m for m in seen.values() if isinstance(m, ObjectMember)]
        if typ.branches:
            self.check_union(typ.branches, seen)
            self.check_branches_clash(typ.branches, typ.info, seen)
        typ.members = tuple(members)
        self._checked.add(typ)

    def check_object_clash(
        self, typ: ObjectType, info: SourceInfo | None, seen: dict[str, Member]
    ) -> None:
        for m in typ.members:
            self.check_clash(m, info, seen)
        if typ.branches:
            self.check_branches_clash(typ.branches, info, seen)

    def check_branches_clash(
        self, branches: Variants, info: SourceInfo | None, seen: dict[str, Member]
    ) -> None:
        for v in branches.variants:
            assert isinstance(v.type, ObjectType)
            self.check_object_clash(v.type, info, dict(seen))

    def check_union(self, branches: Variants, seen: dict[str, Member]) -> None:
        info = branches.info
        tag_name = branches.tag_name
        tag = seen.get(c_name(tag_name))
        base = "'base'"
        if not isinstance(tag, ObjectMember) or tag.name != tag_name:
            raise QAPISemError(info, f"discriminator '{tag_name}' is not a member of {base}")
        branches.tag_member = tag
        owner = self.lookup_type(tag.defined_in)
        assert owner is not None
        if not owner.is_implicit():
            base = f"base type '{tag.defined_in}'"
        tag_type = tag.type
        if not isinstance(tag_type, EnumType):
            raise QAPISemError(
                info, f"discriminator member '{tag_name}' of {base} must be of enum type"
            )
        if tag.optional:
            raise QAPISemError(
                info, f"discriminator member '{tag_name}' of {base} must not be optional"
            )
        if tag.ifcond.is_present():
            raise QAPISemError(
                info, f"discriminator member '{tag_name}' of {base} must not be conditional"
            )
        # Tag values without a branch get an empty one.
        variants = list(branches.variants)
        cases = {v.name for v in variants}
        for value in tag_type.members:
            if value.name not in cases:
                empty = _Variant(value.name, info, "q_empty", value.ifcond)
                empty.defined_in = tag.defined_in
                variants.append(empty)
        branches.variants = variants
        if not variants:
            raise QAPISemError(info, "union has no branches")
        values = tag_type.member_names()
        for v in variants:
            self.check_member(v)
            if seen:
                if v.name not in values:
                    raise QAPISemError(
                        info, f"branch '{v.name}' is not a value of {tag_type.describe()}"
                    )
                if not isinstance(v.type, ObjectType):
                    raise QAPISemError(
                        info, f"{self.describe(v, info)} cannot use {v.type.describe()}"
                    )
                self.check_object(v.type)

    def check_alternate(self, typ: AlternateType) -> None:
        info = typ.info
        assert info is not None
        alts = typ.alternatives
        self.check_member(alts.tag_member)
        for v in alts.variants:
            self.check_member(v)
        seen: dict[str, Member] = {}
        taken: dict[str, str] = {}
        for v in alts.variants:
            self.check_clash(v, info, seen)
            qtype = v.type.alternate_qtype()
            if not qtype:
                raise QAPISemError(info, f"{self.describe(v, info)} cannot use {v.type.describe()}")
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
                        info,
                        f"{self.describe(v, info)} can't be distinguished from '{taken[qt]}'",
                    )
                taken[qt] = v.name

    def check_command(self, command: Command) -> None:
        self.check_features(command.features, command.info)
        info = command.info
        assert info is not None
        command.arg_type = self.check_arguments(command, command.arg_type_name, command.boxed)
        if command.ret_type_name:
            ret = self.resolve_type(command.ret_type_name, info, "command's 'returns'")
            command.ret_type = ret
            if command.name not in info.pragmas.command_returns_exceptions:
                element = ret.element_type if isinstance(ret, ArrayType) else ret
                if not isinstance(element, ObjectType):
                    raise QAPISemError(info, f"command's 'returns' cannot take {ret.describe()}")

    def check_arguments(
        self, defn: Command | Event, type_name: str | None, boxed: bool
    ) -> ObjectType | None:
        """Resolve and check a command's or event's ``data``."""
        if not type_name:
            return None
        info = defn.info
        assert info is not None
        meta = defn.meta
        arg_type = self.resolve_type(type_name, info, f"{meta}'s 'data'")
        if not isinstance(arg_type, ObjectType):
            raise QAPISemError(info, f"{meta}'s 'data' cannot take {arg_type.describe()}")
        if arg_type.branches and not boxed:
            raise QAPISemError(
                info, f"{meta}'s 'data' can take {arg_type.describe()} only with 'boxed': true"
            )
        self.check_object(arg_type)
        # Before QEMU 9, conditional arguments did not need 'boxed'.
        if arg_type.has_conditional_members() and not boxed and not self.legacy:
            raise QAPISemError(info, f"conditional {meta} arguments require 'boxed': true")
        return arg_type

    # -- documentation ------------------------------------------------

    def connect_doc(self, entity: Entity) -> None:
        """Attach each description of the entity's doc block to what it describes."""
        if not isinstance(entity, Definition) or entity.doc is None:
            return
        doc = entity.doc
        if isinstance(entity, ObjectType):
            _connect_object_doc(entity, doc)
            return
        for f in entity.features:
            doc.connect_feature(f)
        if isinstance(entity, EnumType):
            for m in entity.members:
                doc.connect_member(m)
                for f in m.features:
                    doc.connect_feature(f)
        elif isinstance(entity, AlternateType):
            for v in entity.alternatives.variants:
                doc.connect_member(v)
        elif (
            isinstance(entity, (Command, Event))
            and entity.arg_type is not None
            and entity.arg_type.is_implicit()
        ):
            _connect_object_doc(entity.arg_type, doc)

    # -- the whole ----------------------------------------------------

    def finish(self, parsed: ParsedSchema) -> Schema:
        for entity in self.entities:
            self.check(entity)
            self.connect_doc(entity)
        for entity in self.entities:
            module = self.modules[self._module_name(_module_fname(entity))]
            entity.module = module.name
            assert isinstance(module.entities, list)
            module.entities.append(entity)
        for wrapper in self.wrappers:
            wrapper.ifcond = wrapper.members[0].type.ifcond
        for doc in parsed.docs:
            doc.check()
        features = list(self.features.values())
        if len(features) > MAX_FEATURES:
            info = features[MAX_FEATURES].info
            assert info is not None
            raise QAPISemError(info, f"Maximum of {MAX_FEATURES} schema features is permitted")
        schema = _Schema(
            self.fname,
            list(self.modules.values()),
            self.entities,
            parsed.docs,
            features,
            self.by_name,
        )
        schema.seal()
        seal_each(parsed.infos, SourceInfo)
        parsed.pragmas.seal()
        return schema


def _connect_object_doc(typ: ObjectType, doc: Doc) -> None:
    """Connect an object type's features and members, an implicit base's too, to ``doc``."""
    for f in typ.features:
        doc.connect_feature(f)
    if typ.base is not None and typ.base.is_implicit():
        _connect_object_doc(typ.base, doc)
    for m in typ.local_members:
        doc.connect_member(m)
        for f in m.features:
            doc.connect_feature(f)


def _module_fname(entity: Entity) -> str:
    """The file whose module the entity belongs to: an array goes with its element type."""
    info = entity.element_type.info if isinstance(entity, ArrayType) else entity.info
    return info.fname if info else BUILTIN_MODULE


def _ifcond(value: dict[str, Value]) -> IfCond:
    cond = value.get("if")
    if cond is None:
        return NO_CONDITION
    assert isinstance(cond, (str, dict))
    return IfCond(cond)


def _str(expr: Expression, key: str) -> str:
    value = expr[key]
    assert isinstance(value, str)
    return value
