"""The Python view of a checked schema: what the templates render.

It decides every Python name (``qapigen.naming``), which module each class
goes in, how each member is annotated, decoded and encoded, and which
definitions the ``--define`` symbols leave out.  It reads the schema model
through the visitor interface and nothing else.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from .. import naming
from ..docs import Doc, Kind, Section
from ..errors import QAPIError
from ..runtime import DEPRECATED_SLOT_PREFIX
from ..schema import (
    INTEGER_RANGES,
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    Definition,
    EnumType,
    Event,
    IfCond,
    Module,
    ObjectMember,
    ObjectType,
    Schema,
    Type,
    Variants,
)
from ..visitor import SchemaVisitor

BUILTIN_MODULE_PY = "_builtin"

_SCALARS = {
    "str": ("str", "_rt.d_str"),
    "bool": ("bool", "_rt.d_bool"),
    "number": ("float", "_rt.d_number"),
    "int": ("int", "_rt.d_int"),
    "int8": ("int", "_rt.d_int8"),
    "int16": ("int", "_rt.d_int16"),
    "int32": ("int", "_rt.d_int32"),
    "int64": ("int", "_rt.d_int64"),
    "uint8": ("int", "_rt.d_uint8"),
    "uint16": ("int", "_rt.d_uint16"),
    "uint32": ("int", "_rt.d_uint32"),
    "uint64": ("int", "_rt.d_uint64"),
    "size": ("int", "_rt.d_size"),
    "any": ("_rt.JSONValue", "_rt.d_any"),
    "null": ("None", "_rt.d_null"),
}


class GenerateError(QAPIError):
    """The schema cannot be generated as asked (e.g. ``--define`` leaves a hole)."""


class Alternative(NamedTuple):
    """How an alternate decodes its branch for one JSON type."""

    test: str  # of the JSON type of ``v``
    head: str  # the decoding call, up to its arguments ``v, name, strict)``
    fast_test: str | None  # see PyField
    annotation: str
    dispatch: tuple[str, str, str] | None  # see PyField


@dataclasses.dataclass
class PyField:
    """A member of a generated class."""

    name: str
    wire: str
    annotation: str
    optional: bool
    # The "absent" default of an optional member: None or _rt.ABSENT.
    absent: str
    decoder: str
    # The decoding call up to its arguments ``v, name, strict)``.
    decode_head: str
    encode: str  # an expression in ``{v}``, the value
    # Decoding's fast path: a test of ``v`` and the value when it passes (a
    # scalar), or the table of an enum's members by wire value; the decoder
    # handles everything else (errors included).
    fast_test: str | None
    members: str | None
    # A union: its tag's wire name, and its table of branch decoders and its
    # own decoder, to pick the branch's decoder inline (one call less).
    dispatch: tuple[str, str, str] | None
    deprecated: bool
    ifcond: object
    features: list[str]
    description: str
    # An alternate: its schema name and its branches (see Alternative), to
    # pick the branch inline (one call less).
    alternate: tuple[str, tuple[Alternative, ...]] | None = None
    # A discriminator whose value a branch class fixes: the enum member, and
    # its wire value.
    fixed: str | None = None
    fixed_wire: str | None = None
    # The annotation is a union of types (an optional member's, an alternate's).
    union: bool = False

    @staticmethod
    def value_of(fast_test: str | None) -> str:
        """The decoded value when ``fast_test`` passes: ``v``, or an enum's member."""
        if fast_test and " in " in fast_test:
            return f"{fast_test.rsplit(' in ', 1)[1]}[v]"
        return "v"

    @property
    def attr(self) -> str:
        """The attribute that holds the member: a deprecated member's is private,
        behind a property that warns when it is set (no member's Python name
        starts with ``_``, so none can clash)."""
        if self.deprecated and not self.fixed:
            return DEPRECATED_SLOT_PREFIX + self.name
        return self.name


@dataclasses.dataclass
class PyClass:
    """A generated class."""

    kind: str  # enum | struct | union | branch | alternate | event
    name: str
    schema_name: str
    bases: list[str]
    doc: str
    fields: list[PyField] = dataclasses.field(default_factory=list)
    # Fields inherited from the bases (decoded by them).
    base_fields: list[PyField] = dataclasses.field(default_factory=list)
    base_class: str | None = None
    # enum: (python name, wire value, deprecated)
    values: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)
    # union/branch: the tag's wire name and {wire value: branch class}
    tag: str | None = None
    branches: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    alternatives: tuple[Alternative, ...] = ()
    event_name: str | None = None
    # Classes of the same module that must be created before this one.
    deps: set[str] = dataclasses.field(default_factory=set)
    # event: the union its data is (held whole in ``data``), and its decoder.
    wraps: str | None = None
    wraps_decoder: str | None = None
    has_data: bool = False
    since: str | None = None
    ifcond: object = None
    features: list[str] = dataclasses.field(default_factory=list)

    @property
    def described(self) -> str:
        """How messages name the class: its schema name, or its owner's for implicit types."""
        name = self.schema_name
        if name.startswith("q_obj_"):
            return name[6:].rpartition("-")[0]
        return name

    @property
    def value_annotation(self) -> str:
        """An alternate's: the union of its branches' types."""
        return _union(a.annotation for a in self.alternatives)

    @property
    def all_fields(self) -> list[PyField]:
        return self.base_fields + self.fields

    @property
    def members(self) -> list[PyField]:
        """Every field once, in order; a field the class redefines (a branch's
        fixed tag) keeps its base's place."""
        by_name = {f.name: f for f in self.all_fields}
        return list(by_name.values())

    @property
    def wire_names(self) -> list[str]:
        return list(dict.fromkeys(f.wire for f in self.all_fields))

    @property
    def deprecated_fields(self) -> list[PyField]:
        """Deprecated members, inherited ones included (``__init__`` warns of all)."""
        return [f for f in self.all_fields if f.deprecated and not f.fixed]


@dataclasses.dataclass
class PyCommand:
    """A command, for the registry and the handler interface."""

    name: str
    method: str
    arg_class: str | None
    unpack: bool
    params: list[PyField]
    ret_annotation: str | None
    ret_decoder: str | None
    doc: str
    gen: bool
    success_response: bool
    boxed: bool
    allow_oob: bool
    allow_preconfig: bool
    coroutine: bool
    features: list[str]
    ifcond: object
    since: str | None


@dataclasses.dataclass
class PyModule:
    """A generated module: one per schema module."""

    schema_module: str
    path: str  # dotted, relative to the package
    classes: list[PyClass] = dataclasses.field(default_factory=list)
    # dotted module path → import alias.  Modules whose classes are needed
    # while this module's classes are created are imported first; the others
    # last, so that modules may refer to each other.
    early_imports: dict[str, str] = dataclasses.field(default_factory=dict)
    imports: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def late_imports(self) -> dict[str, str]:
        return {k: v for k, v in self.imports.items() if k not in self.early_imports}

    @property
    def filename(self) -> str:
        parts = self.path.split(".")
        return os.path.join(*parts) + ".py"


@dataclasses.dataclass
class PyPackage:
    """The whole generated package."""

    name: str
    modules: list[PyModule]
    commands: list[PyCommand]
    events: list[tuple[str, str, str]]  # wire name, module path, class
    exports: list[tuple[str, str]]  # (module path, class)
    subpackages: list[str]


def build(schema: Schema, package: str, defines: Sequence[str]) -> PyPackage:
    """The Python view of ``schema`` for a package called ``package``."""
    return _Builder(schema, package, frozenset(defines)).build()


def _doc_text(doc: Doc | None, wanted: Callable[[IfCond], bool], *, members: bool = True) -> str:
    """A docstring's text from a doc comment block; members and features whose
    condition ``wanted`` rejects are not described (they are not generated)."""
    if doc is None:
        return ""

    def kept(section: Section) -> bool:
        ifcond = getattr(section.described, "ifcond", None)
        return bool(section.text) and (ifcond is None or wanted(ifcond))

    parts = []
    if doc.body.text:
        parts.append(doc.body.text)
    elif doc.symbol:
        parts.append(f"{doc.symbol}.")
    if members:
        described = [(n, s.text) for n, s in doc.args.items() if kept(s)]
        if described:
            parts.append("Members:\n" + "\n".join(_indented_item(n, t) for n, t in described))
    features = [(n, s.text) for n, s in doc.features.items() if kept(s)]
    if features:
        parts.append("Features:\n" + "\n".join(_indented_item(n, t) for n, t in features))
    for section in doc.sections:
        if not section.text:
            continue
        if section.kind is Kind.PLAIN:
            parts.append(section.text)
        elif "\n" in section.text:
            body = textwrap.indent(textwrap.dedent(section.text), "    ")
            parts.append(f"{section.kind}:\n{body}")
        else:
            parts.append(f"{section.kind}: {section.text.strip()}")
    return "\n\n".join(parts)


def _indented_item(name: str, text: str) -> str:
    lines = text.splitlines() or [""]
    first = f"    {name}: {lines[0]}"
    rest = textwrap.dedent("\n".join(lines[1:])).splitlines()
    return "\n".join([first, *(f"        {line}" if line.strip() else "" for line in rest)])


class _Builder(SchemaVisitor):
    def __init__(self, schema: Schema, package: str, defines: frozenset[str]) -> None:
        self.schema = schema
        self.package = package
        self.defines = defines
        self.modules: dict[str, PyModule] = {}
        self.module_paths: dict[str, str] = {}
        self.top = naming.Scope(
            frozenset(
                {
                    "EVENTS",
                    "COMMANDS",
                    "SCHEMA_DIGEST",
                    "Handler",
                    "Client",
                    "SyncClient",
                    "annotations",
                }
            )
        )
        # schema type name → (module path, python class name)
        self.class_of: dict[str, tuple[str, str]] = {}
        self.commands: list[PyCommand] = []
        self.events: list[tuple[str, str, str]] = []
        self.exports: list[tuple[str, str]] = []
        self.current: PyModule | None = None
        # Naming types from the package's __init__, which imports them all.
        self.in_init = False
        self._enum_values: dict[str, dict[str, str]] = {}
        self.skip: set[str] = set()
        # Method names of the handler and the clients, with theirs reserved.
        self.methods = naming.Scope(
            frozenset(
                {
                    "connect",
                    "disconnect",
                    "close",
                    "listen",
                    "greeting",
                    "qmp",
                    "strict",
                    "client",
                    "async_client",
                    "COMMANDS",
                    "EVENTS",
                }
            )
        )

    # -- conditions -----------------------------------------------------

    def wanted(self, ifcond: IfCond) -> bool:
        return ifcond.evaluate(self.defines.__contains__)

    def defn_wanted(self, defn: Definition) -> bool:
        if isinstance(defn, ArrayType):
            return self.defn_wanted(defn.element_type)
        return self.wanted(defn.ifcond)

    # -- names ----------------------------------------------------------

    def _module_path(self, module_name: str) -> str:
        if module_name in self.module_paths:
            return self.module_paths[module_name]
        if module_name.startswith("./"):
            path = BUILTIN_MODULE_PY
        else:
            stem = module_name[:-5] if module_name.endswith(".json") else module_name
            parts = [p for p in stem.split("/") if p not in ("", ".", "..")]
            path = ".".join(naming.member_name(p.lower()) for p in parts) or "schema"
        # The package's own modules keep their names.
        taken = set(self.module_paths.values()) | {"client", "introspection"}
        while path in taken:
            path += "_"
        self.module_paths[module_name] = path
        self.top.claim(path.split(".")[0])
        return path

    def _class_name(self, defn: Definition) -> str:
        name = defn.name
        if isinstance(defn, ObjectType) and name.startswith("q_obj_"):
            owner, _, role = name[6:].rpartition("-")
            suffix = {"arg": "Arguments", "base": "Base", "wrapper": "Wrapper"}.get(role)
            if suffix:
                return self.top.claim(naming.camel(owner) + suffix)
        return self.top.claim(naming.type_name(name))

    def ref(self, typ: Type, needed_by: PyClass | None = None) -> str:
        """How the current module names the class of ``typ``.

        ``needed_by``: the class whose creation needs it (as a base, or for
        a default value).
        """
        assert self.current is not None
        module, cls = self.class_of[typ.name]
        if self.in_init:
            return cls
        if module == self.current.path:
            if needed_by is not None:
                needed_by.deps.add(cls)
            return cls
        alias = "_m_" + module.replace(".", "_")
        self.current.imports[module] = alias
        if needed_by is not None:
            self.current.early_imports[module] = alias
        return f"{alias}.{cls}"

    # -- types ----------------------------------------------------------

    def require(self, typ: Type, user: str) -> None:
        if not self.defn_wanted(typ):
            raise GenerateError(
                f"{user} uses type '{typ.name}', which the --define symbols leave out"
            )

    def annotation(self, typ: Type) -> str:
        """The Python type of a value of ``typ``: an alternate's value is its
        branch's value itself (the alternate's class only wraps one for
        standalone use)."""
        if isinstance(typ, BuiltinType):
            return _SCALARS[typ.name][0]
        if isinstance(typ, ArrayType):
            return f"list[{self.annotation(typ.element_type)}]"
        if isinstance(typ, AlternateType):
            return self.alternatives_annotation(typ)
        return self.ref(typ)

    def branch_count(self, typ: Type) -> int:
        """How many branches of the alternate ``typ`` the conditions keep (0: no alternate)."""
        if not isinstance(typ, AlternateType):
            return 0
        return sum(1 for v in typ.alternatives.variants if self.wanted(v.ifcond))

    def alternatives_annotation(self, typ: AlternateType) -> str:
        """The union of the types of ``typ``'s branches that the conditions keep."""
        return _union(
            self.annotation(v.type) for v in typ.alternatives.variants if self.wanted(v.ifcond)
        )

    def decoder(self, typ: Type) -> str:
        """A function ``decode(v, name, strict)`` of ``typ``."""
        if isinstance(typ, BuiltinType):
            return _SCALARS[typ.name][1]
        if isinstance(typ, ArrayType):
            return f"_rt.list_of({self.decoder(typ.element_type)})"
        if isinstance(typ, EnumType) or self.in_init:
            return f"{self.ref(typ)}._decode_named"
        return self.decode_ref(typ)

    def decode_head(self, typ: Type) -> str:
        """The call decoding ``typ``, up to its arguments ``v, name, strict)``.

        A list's is ``d_list`` itself, not a closure made per call.
        """
        if isinstance(typ, ArrayType):
            return f"_rt.d_list({self.decoder(typ.element_type)}, "
        return f"{self.decoder(typ)}("

    def decode_ref(self, typ: Type) -> str:
        """The module-level decoding function of a struct, union or alternate."""
        module, _, name = self.ref(typ).rpartition(".")
        return f"{module}._{name}_DECODE" if module else f"_{name}_DECODE"

    def dispatch(self, typ: Type) -> tuple[str, str, str] | None:
        """A union's tag, table of branch decoders and own decoder (see PyField)."""
        if not isinstance(typ, ObjectType) or typ.branches is None or self.in_init:
            return None
        decoder = self.decode_ref(typ)
        table = decoder.removesuffix("_DECODE") + "_BRANCHES"
        return typ.branches.tag_member.name, table, decoder

    def fast_test(self, typ: Type) -> str | None:
        """A cheap test that ``v`` is already a valid value of ``typ``."""
        if isinstance(typ, BuiltinType):
            low_end = _INT_FAST.get(typ.name)
            if low_end is not None:
                return f"type(v) is int and {low_end[0]} <= v < {low_end[1]}"
            return _FAST_TESTS.get(typ.name)
        if isinstance(typ, EnumType):
            return f"type(v) is str and v in {self.values_ref(typ)}"
        return None

    def values_ref(self, typ: EnumType) -> str:
        """The module-level table of ``typ``'s members by wire value."""
        cls = self.ref(typ)
        module, _, name = cls.rpartition(".")
        return f"{module}._{name}_VALUES" if module else f"_{name}_VALUES"

    def encoder(self, typ: Type, value: str) -> str:
        if isinstance(typ, BuiltinType):
            return value
        if isinstance(typ, ArrayType):
            element = typ.element_type
            if isinstance(element, BuiltinType):
                return f"list({value})"
            return f"[{self.encoder(element, 'e')} for e in {value}]"
        if isinstance(typ, AlternateType):
            # A branch's value: a plain one, or one of the generated types.
            return f"_rt.encode({value})"
        return f"{value}.to_wire()"

    @staticmethod
    def nullable(typ: Type) -> bool:
        if isinstance(typ, BuiltinType):
            return typ.name in ("null", "any")
        if isinstance(typ, AlternateType):
            return any(v.type.name == "null" for v in typ.alternatives.variants)
        return False

    def field(self, member: ObjectMember, scope: naming.Scope, doc: Doc | None) -> PyField:
        typ = member.type
        self.require(typ, f"member '{member.name}' of '{member.defined_in}'")
        annotation = self.annotation(typ)
        absent = "None"
        if member.optional:
            if self.nullable(typ):
                absent = "_rt.ABSENT"
                annotation = f"{annotation} | _rt.Absent"
            else:
                annotation = f"{annotation} | None"
        description = ""
        if doc is not None and member.name in doc.args:
            description = doc.args[member.name].text
        return PyField(
            name=scope.claim(naming.member_name(member.name)),
            wire=member.name,
            annotation=annotation,
            optional=member.optional,
            absent=absent,
            decoder=self.decoder(typ),
            decode_head=self.decode_head(typ),
            fast_test=None if isinstance(typ, EnumType) else self.fast_test(typ),
            members=self.values_ref(typ) if isinstance(typ, EnumType) else None,
            dispatch=self.dispatch(typ),
            alternate=(
                (typ.name, self.alternatives(typ))
                if isinstance(typ, AlternateType) and not self.in_init
                else None
            ),
            encode=self.encoder(typ, "{v}"),
            union=member.optional or self.branch_count(typ) > 1,
            deprecated=member.is_deprecated(),
            ifcond=member.ifcond.expr,
            features=[f.name for f in member.features],
            description=description,
        )

    # -- the walk -------------------------------------------------------

    def build(self) -> PyPackage:
        # An event's implicit data type has no class: the event class has its members.
        self.skip = {
            e.arg_type.name
            for e in self.schema.events()
            if e.arg_type is not None and e.arg_type.is_implicit()
        }
        # Names first, for every class, so that references resolve in any order.
        for module in self.schema.modules:
            path = self._module_path(module.name)
            self.modules[module.name] = PyModule(module.name, path)
            for entity in module.entities:
                if isinstance(entity, (EnumType, ObjectType, AlternateType)):
                    if self._generated(entity) and self.defn_wanted(entity):
                        self.class_of[entity.name] = (path, self._class_name(entity))
                elif isinstance(entity, Event) and self.defn_wanted(entity):
                    cls = self.top.claim(naming.camel(entity.name) + "Event")
                    self.class_of["event " + entity.name] = (path, cls)
        self.schema.visit(self)
        for pymod in self.modules.values():
            pymod.classes = _creation_order(pymod.classes)
        _check_import_cycles(self.modules.values())
        modules = [m for m in self.modules.values() if m.classes or m.path != BUILTIN_MODULE_PY]
        subpackages = sorted(
            {
                ".".join(m.path.split(".")[: i + 1])
                for m in modules
                for i in range(m.path.count("."))
            }
        )
        return PyPackage(
            self.package, modules, self.commands, self.events, self.exports, subpackages
        )

    def _generated(self, defn: Definition) -> bool:
        # Built-in types and arrays have no class of their own.
        return not isinstance(defn, (BuiltinType, ArrayType)) and defn.name not in self.skip

    def visit_module(self, module: Module) -> None:
        self.current = self.modules[module.name]

    def add(self, cls: PyClass) -> None:
        assert self.current is not None
        self.current.classes.append(cls)
        self.exports.append((self.current.path, cls.name))

    def enum_values(self, typ: EnumType) -> dict[str, str]:
        """Wire value → Python name, for the values the conditions keep."""
        values = self._enum_values.get(typ.name)
        if values is None:
            scope = naming.Scope(frozenset({"known", "QAPI_INFO"}))
            values = {
                m.name: scope.claim(naming.enum_member_name(m.name))
                for m in typ.members
                if self.wanted(m.ifcond)
            }
            self._enum_values[typ.name] = values
        return values

    def enum_value_name(self, typ: EnumType, value: str) -> str:
        name = self.enum_values(typ).get(value)
        if name is None:
            raise GenerateError(
                f"value '{value}' of enum '{typ.name}' is left out by the --define symbols"
            )
        return name

    def visit_enum_type(self, typ: EnumType) -> None:
        if not self.defn_wanted(typ):
            return
        names = self.enum_values(typ)
        values = [
            (names[m.name], m.name, m.is_deprecated()) for m in typ.members if m.name in names
        ]
        self.add(
            PyClass(
                kind="enum",
                name=self.class_of[typ.name][1],
                schema_name=typ.name,
                bases=["_rt.Enum"],
                doc=_doc_text(typ.doc, self.wanted) or f"The enum {typ.name}.",
                values=values,
                since=_since(typ.doc),
                ifcond=typ.ifcond.expr,
                features=[f.name for f in typ.features],
            )
        )

    def visit_object_type(self, typ: ObjectType) -> None:
        if not self.defn_wanted(typ) or typ.name in self.skip:
            return
        name = self.class_of[typ.name][1]
        scope = naming.Scope(naming.API_NAMES)
        base_fields: list[PyField] = []
        bases = ["_rt.Struct"]
        base_class = None
        fields = []
        if typ.base is not None:
            self.require(typ.base, f"'{typ.name}'")
            base_fields = [
                self.field(m, scope, typ.base.doc)
                for m in typ.base.members
                if self.wanted(m.ifcond)
            ]
        fields = [self.field(m, scope, typ.doc) for m in typ.local_members if self.wanted(m.ifcond)]
        cls = PyClass(
            kind="union" if typ.branches else "struct",
            name=name,
            schema_name=typ.name,
            bases=bases,
            doc=_doc_text(typ.doc, self.wanted) or _implicit_doc(typ),
            fields=fields,
            base_fields=base_fields,
            base_class=base_class,
            since=_since(typ.doc),
            ifcond=typ.ifcond.expr,
            features=[f.name for f in typ.features],
        )
        if typ.base is not None:
            cls.base_class = self.ref(typ.base, cls)
            cls.bases = [cls.base_class]
        self.add(cls)
        if typ.branches is not None:
            self._branches(cls, typ.branches, scope)

    def _branches(self, union: PyClass, branches: Variants, scope: naming.Scope) -> None:
        assert self.current is not None
        tag = branches.tag_member
        union.tag = tag.name
        tag_field = next(f for f in union.all_fields if f.wire == tag.name)
        tag_enum = tag.type
        assert isinstance(tag_enum, EnumType)
        for variant in branches.variants:
            if not self.wanted(variant.ifcond):
                continue
            vtype = variant.type
            assert isinstance(vtype, ObjectType)
            self.require(vtype, f"branch '{variant.name}' of '{union.schema_name}'")
            branch_scope = naming.Scope(
                frozenset(f.name for f in union.all_fields) | naming.API_NAMES
            )
            fields = [
                self.field(m, branch_scope, vtype.doc)
                for m in vtype.members
                if self.wanted(m.ifcond)
            ]
            branch = PyClass(
                kind="branch",
                name=self.top.claim(f"{union.name}_{naming.member_name(variant.name)}"),
                schema_name=f"{union.schema_name} ({tag.name}: {variant.name})",
                bases=[union.name],
                doc=f"{union.schema_name} with {tag.name} '{variant.name}'."
                + (f"\n\n{_doc_text(vtype.doc, self.wanted, members=True)}" if vtype.doc else ""),
                fields=fields,
                base_fields=union.all_fields,
                base_class=union.name,
                ifcond=variant.ifcond.expr,
                deps={union.name},
            )
            value = self.enum_value_name(tag_enum, variant.name)
            fixed = dataclasses.replace(
                tag_field,
                fixed=f"{self.ref(tag_enum, branch)}.{value}",
                fixed_wire=variant.name,
            )
            branch.fields.insert(0, fixed)
            self.add(branch)
            union.branches.append((variant.name, branch.name))
            if vtype.branches is not None:
                # A union as a branch: its own branches go one level deeper.
                inner = dataclasses.replace(branch, fields=list(branch.fields))
                self._branches(inner, vtype.branches, branch_scope)
                branch.kind = "union"
                branch.tag = inner.tag
                branch.branches = inner.branches

    def alternatives(self, typ: AlternateType) -> tuple[Alternative, ...]:
        """How the current module decodes each branch of ``typ`` the conditions keep."""
        alternatives = []
        for v in typ.alternatives.variants:
            if not self.wanted(v.ifcond):
                continue
            self.require(v.type, f"branch '{v.name}' of '{typ.name}'")
            alternatives.append(
                Alternative(
                    _JSON_TESTS[v.type.alternate_qtype() or ""],
                    self.decode_head(v.type),
                    self.fast_test(v.type),
                    self.annotation(v.type),
                    self.dispatch(v.type),
                )
            )
        return tuple(alternatives)

    def visit_alternate_type(self, typ: AlternateType) -> None:
        if not self.defn_wanted(typ):
            return
        self.add(
            PyClass(
                kind="alternate",
                name=self.class_of[typ.name][1],
                schema_name=typ.name,
                bases=["_rt.Alternate"],
                doc=_doc_text(typ.doc, self.wanted) or f"The alternate {typ.name}.",
                alternatives=self.alternatives(typ),
                since=_since(typ.doc),
                ifcond=typ.ifcond.expr,
                features=[f.name for f in typ.features],
            )
        )

    def visit_event(self, event: Event) -> None:
        if not self.defn_wanted(event):
            return
        name = self.class_of["event " + event.name][1]
        scope = naming.Scope(naming.API_NAMES)
        arg = event.arg_type
        bases = ["_rt.Event"]
        fields: list[PyField] = []
        base_fields: list[PyField] = []
        base_class = None
        if arg is not None:
            self.require(arg, f"event '{event.name}'")
            if arg.is_implicit():
                fields = [
                    self.field(m, scope, event.doc) for m in arg.members if self.wanted(m.ifcond)
                ]
            elif arg.branches is None:
                base_fields = [
                    self.field(m, scope, arg.doc) for m in arg.members if self.wanted(m.ifcond)
                ]
        assert self.current is not None
        cls = PyClass(
            kind="event",
            name=name,
            schema_name=event.name,
            bases=bases,
            doc=_doc_text(event.doc, self.wanted) or f"The event {event.name}.",
            fields=fields,
            base_fields=base_fields,
            base_class=base_class,
            event_name=event.name,
            has_data=arg is not None,
            since=_since(event.doc),
            ifcond=event.ifcond.expr,
            features=[f.name for f in event.features],
        )
        if arg is not None and not arg.is_implicit():
            if arg.branches is not None:
                # Union data: the event holds it whole, as decoding picks its class.
                cls.wraps = self.ref(arg)
                cls.wraps_decoder = self.decode_ref(arg)
            else:
                cls.base_class = self.ref(arg, cls)
                cls.bases = [cls.base_class, "_rt.Event"]
        self.add(cls)
        self.events.append((event.name, self.current.path, name))

    def visit_command(self, command: Command) -> None:
        if not self.defn_wanted(command):
            return
        self.in_init = True
        try:
            self._command(command)
        finally:
            self.in_init = False

    def _command(self, command: Command) -> None:
        assert self.current is not None
        arg = command.arg_type
        arg_class = None
        unpack = False
        params: list[PyField] = []
        if arg is not None:
            self.require(arg, f"command '{command.name}'")
            arg_class = self.ref(arg)
            unpack = arg.is_implicit() and not command.boxed
            if unpack:
                scope = naming.Scope(frozenset({"self"}))
                params = [
                    self.field(m, scope, command.doc) for m in arg.members if self.wanted(m.ifcond)
                ]
        ret = command.ret_type
        if ret is not None:
            self.require(ret, f"command '{command.name}'")
        self.commands.append(
            PyCommand(
                name=command.name,
                method=self.methods.claim(naming.member_name(command.name)),
                arg_class=arg_class,
                unpack=unpack,
                params=params,
                ret_annotation=self.annotation(ret) if ret is not None else None,
                ret_decoder=self.decoder(ret) if ret is not None else None,
                doc=_doc_text(command.doc, self.wanted) or f"The command {command.name}.",
                gen=command.gen,
                success_response=command.success_response,
                boxed=command.boxed,
                allow_oob=command.allow_oob,
                allow_preconfig=command.allow_preconfig,
                coroutine=command.coroutine,
                features=[f.name for f in command.features],
                ifcond=command.ifcond.expr,
                since=_since(command.doc),
            )
        )


def _check_import_cycles(modules: Iterable[PyModule]) -> None:
    """Refuse modules that need each other's classes to create their own.

    Python cannot import two modules each of whose classes derive from the
    other's (QEMU's C has no such order); such a schema is refused clearly
    rather than generated into a package that fails to import.
    """
    needs = {m.path: set(m.early_imports) for m in modules}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(path: str, trail: list[str]) -> None:
        state[path] = 1
        for other in sorted(needs.get(path, ())):
            if state.get(other) == 1:
                cycle = [*trail[trail.index(other) :], other] if other in trail else [path, other]
                raise GenerateError(
                    "schema modules take base types from each other, which Python cannot "
                    f"import: {' -> '.join(cycle)}"
                )
            if other not in state:
                visit(other, [*trail, other])
        state[path] = 2

    for path in sorted(needs):
        if path not in state:
            visit(path, [path])


def _creation_order(classes: list[PyClass]) -> list[PyClass]:
    """``classes`` in schema order, except that a class comes after its deps."""
    by_name = {c.name: c for c in classes}
    done: set[str] = set()
    ordered: list[PyClass] = []

    def place(cls: PyClass) -> None:
        if cls.name in done:
            return
        done.add(cls.name)
        for dep in sorted(cls.deps):
            if dep in by_name:
                place(by_name[dep])
        ordered.append(cls)

    for cls in classes:
        place(cls)
    return ordered


def _union(annotations: Iterable[str]) -> str:
    """The union of ``annotations``, each once (an alternate with no branch left: None)."""
    return " | ".join(dict.fromkeys(annotations)) or "None"


def _int_literal(value: int) -> str:
    """``value`` as the generated code writes it (``1 << 63`` rather than its digits)."""
    if abs(value) > 65536 and abs(value).bit_count() == 1:
        shift = f"1 << {abs(value).bit_length() - 1}"
        return f"-({shift})" if value < 0 else shift
    return str(value)


# The fast test's range of each integer type: QEMU's range, except that the
# negative values uint64 and size wrap around go the slow way.  (Constant
# expressions: Python folds them.)
_INT_FAST = {
    name: (_int_literal(low), _int_literal(high + 1))
    for name, (low, high) in INTEGER_RANGES.items()
}

_FAST_TESTS = {
    "str": "type(v) is str",
    "bool": "type(v) is bool",
    "number": "type(v) is float or type(v) is int",
    "null": "v is None",
}

# An alternate's branch by the JSON type of ``v`` (as json.loads gives it).
_JSON_TESTS = {
    "qstring": "type(v) is str",
    "qnum": _FAST_TESTS["number"],
    "qbool": "type(v) is bool",
    "qnull": "v is None",
    "qlist": "type(v) is list",
    "qdict": "type(v) is dict",
}


def _since(doc: Doc | None) -> str | None:
    return doc.since.text if doc is not None and doc.since is not None else None


def _implicit_doc(typ: ObjectType) -> str:
    name = typ.name
    if name.startswith("q_obj_"):
        owner, _, role = name[6:].rpartition("-")
        what = {"arg": "The arguments of", "base": "The common members of", "wrapper": "A branch"}
        return f"{what.get(role, 'Part of')} {owner}."
    return f"The struct {name}."
