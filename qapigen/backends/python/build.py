"""Builds the Python view of a checked schema (``pymodel``).

It decides every Python name (``naming``), which module each class
goes in, what value each member holds, and which definitions the
``--define`` symbols leave out.  It reads the schema model through the
visitor interface and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from ...frontend.conditions import Defines
from ...frontend.doc_comments import Doc
from ...frontend.errors import QAPIError
from ...frontend.schema import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    Definition,
    EnumType,
    Event,
    IfCond,
    ImplicitRole,
    Module,
    ObjectMember,
    ObjectType,
    Schema,
    Type,
    Variants,
)
from ...frontend.visitor import SchemaVisitor
from ...frontend.wire_types import ALTERNATE_QTYPE, BUILTIN_TYPES, INTEGER_RANGES
from . import doctext, naming
from .documenting import Documenter
from .pymodel import (
    AlternateBranch,
    AlternateValue,
    ClassRef,
    EnumValue,
    FixedTag,
    Integer,
    ListValue,
    PyClass,
    PyCommand,
    PyField,
    PyModule,
    PyPackage,
    Scalar,
    StructValue,
    UnionValue,
    Value,
)

BUILTIN_MODULE_PY = "_builtin"


class GenerateError(QAPIError):
    """The schema cannot be generated as asked (e.g. ``--define`` leaves a hole)."""


def build(schema: Schema, package: str, defines: Sequence[str]) -> PyPackage:
    """The Python view of ``schema`` for a package called ``package``."""
    return _Builder(schema, package, Defines(defines)).build()


# The Python class name of an implicit type, after its owner's, by its role.
_IMPLICIT_CLASS_SUFFIX = {
    ImplicitRole.ARGUMENTS: "Arguments",
    ImplicitRole.BASE: "Base",
    ImplicitRole.WRAPPER: "Wrapper",
}

# The QType of each built-in type's values (None: any JSON value).
_BUILTIN_QTYPES = {name: ALTERNATE_QTYPE.get(qtype) for name, qtype in BUILTIN_TYPES}


class _Builder(SchemaVisitor):
    def __init__(self, schema: Schema, package: str, defines: Defines) -> None:
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
        self.docs = Documenter(schema, defines, self.class_of)
        # Method names of the handler and the clients: the clients' own names
        # and the builtins the classes' annotations name are taken.
        self.methods = naming.Scope(naming.KEYWORDS | naming.CLIENT_NAMES | naming.CLASS_BODY_NAMES)
        # What every member's scope has taken (set once the classes are named).
        self.member_taken: frozenset[str] = frozenset()
        # Object types whose members are an event's (its data, and its bases).
        self.event_data: set[str] = set()
        # Object type name → its members' Python names by wire name, the base's first.
        self._member_names: dict[str, dict[str, str]] = {}

    # -- conditions -----------------------------------------------------

    def wanted(self, ifcond: IfCond) -> bool:
        return self.defines.holds(ifcond)

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
        if isinstance(defn, ObjectType) and defn.origin is not None:
            suffix = _IMPLICIT_CLASS_SUFFIX[defn.origin.role]
            return self.top.claim(naming.camel(defn.origin.owner) + suffix)
        return self.top.claim(naming.type_name(defn.name))

    def ref(self, typ: Type, needed_by: PyClass | None = None, *, spelled: bool = True) -> ClassRef:
        """How the current module reaches the class of ``typ``.

        ``needed_by``: the class whose creation needs it (as a base, or for
        a default value).  ``spelled``: False when the code never names the
        class (the module is then not imported for it).
        """
        assert self.current is not None
        module, cls = self.class_of[typ.name]
        if self.in_init:
            return ClassRef(cls, from_init=True)
        if module == self.current.path:
            if needed_by is not None:
                needed_by.deps.add(cls)
            return ClassRef(cls)
        alias = "_m_" + module.replace(".", "_")
        if not spelled:
            return ClassRef(cls, alias)
        self.current.imports[module] = alias
        if needed_by is not None:
            self.current.early_imports[module] = alias
        return ClassRef(cls, alias)

    # -- values ---------------------------------------------------------

    def require(self, typ: Type, user: str) -> None:
        if not self.defn_wanted(typ):
            raise GenerateError(
                f"{user} uses type '{typ.name}', which the --define symbols leave out"
            )

    def value(self, typ: Type, *, member: bool = False) -> Value:
        """What a member of type ``typ`` holds (``member``: the member's own
        value, not a list's element)."""
        if isinstance(typ, BuiltinType):
            limits = INTEGER_RANGES.get(typ.name)
            if limits is not None:
                return Integer(typ.name, *limits)
            return Scalar(typ.name, _BUILTIN_QTYPES[typ.name])
        if isinstance(typ, ArrayType):
            return ListValue(self.value(typ.element_type))
        if isinstance(typ, EnumType):
            return EnumValue(self.ref(typ))
        if isinstance(typ, AlternateType):
            # A member's alternate is decoded inline, by its branches: its own
            # class is not named (a list's element's decoder is).
            cls = self.ref(typ, spelled=not member)
            return AlternateValue(cls, typ.name, self.alternate_branches(typ))
        assert isinstance(typ, ObjectType)
        if typ.branches is not None:
            return UnionValue(self.ref(typ), typ.branches.tag_member.name)
        return StructValue(self.ref(typ))

    def alternate_branches(self, typ: AlternateType) -> tuple[AlternateBranch, ...]:
        """The branches of ``typ`` the conditions keep."""
        branches = []
        for v in self.defines.kept(typ.alternatives.variants):
            self.require(v.type, f"branch '{v.name}' of '{typ.name}'")
            qtype = v.type.alternate_qtype()
            assert qtype is not None
            branches.append(AlternateBranch(qtype, self.value(v.type)))
        return tuple(branches)

    def member_scope(
        self, members: Iterable[ObjectMember], taken: Iterable[str] = (), *, event: bool = False
    ) -> naming.Scope:
        """A scope for a class's own ``members``: what every class has taken (the
        struct's API, the builtins its body names, the package's classes, to
        which its ``__init__`` refers), what a body with deprecated members
        names, an event's API for an event's, and ``taken``."""
        reserved = self.member_taken | frozenset(taken)
        if event:
            reserved |= naming.EVENT_NAMES
        if any(m.is_deprecated() for m in self.defines.kept(members)):
            reserved |= naming.DEPRECATED_BODY_NAMES
        return naming.Scope(reserved)

    def member_names(self, typ: ObjectType) -> dict[str, str]:
        """The Python names of ``typ``'s members (those the conditions keep), by
        wire name: its base's as the base names them, then its own."""
        names = self._member_names.get(typ.name)
        if names is None:
            names = dict(self.member_names(typ.base)) if typ.base is not None else {}
            own = typ.local_members
            scope = self.member_scope(own, names.values(), event=typ.name in self.event_data)
            for m in self.defines.kept(own):
                names[m.name] = scope.claim(naming.member_name(m.name))
            self._member_names[typ.name] = names
        return names

    def fields(
        self, typ: ObjectType, members: Iterable[ObjectMember], doc: Doc | None
    ) -> list[PyField]:
        """``members`` of ``typ`` (kept by the conditions), named as ``typ`` names them."""
        names = self.member_names(typ)
        return [self.field(m, names[m.name], doc) for m in self.defines.kept(members)]

    def field(self, member: ObjectMember, name: str, doc: Doc | None) -> PyField:
        """A member's field, called ``name``; ``self.docs`` documents it with its
        class (``doc`` describes it)."""
        typ = member.type
        self.require(typ, f"member '{member.name}' of '{member.defined_in}'")
        field = PyField(
            name=name,
            wire=member.name,
            value=self.value(typ, member=True),
            optional=member.optional,
            deprecated=member.is_deprecated(),
            ifcond=member.ifcond.expr,
            features=[f.name for f in member.features],
            description="",
        )
        self.docs.expect(field, member, doc)
        return field

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
        # Members' names: what every class defines, the builtins its body
        # names, and the package's classes, to which an ``__init__`` (a
        # branch's fixed tag) and a client's method (its arguments) refer.
        self.member_taken = (
            naming.KEYWORDS
            | naming.STRUCT_NAMES
            | naming.CLASS_BODY_NAMES
            | frozenset(cls for _, cls in self.class_of.values())
        )
        for event in self.schema.events():
            data = event.arg_type
            while data is not None and data.branches is None:
                self.event_data.add(data.name)
                data = data.base
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
                for m in self.defines.kept(typ.members)
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
        doc, value_docs = self.docs.enum_docs(typ, names)
        self.add(
            PyClass(
                kind="enum",
                name=self.class_of[typ.name][1],
                schema_name=typ.name,
                described=typ.name,
                doc=doc,
                values=values,
                value_docs=value_docs,
                since=_since(typ.doc),
                ifcond=typ.ifcond.expr,
                features=[f.name for f in typ.features],
            )
        )

    def visit_object_type(self, typ: ObjectType) -> None:
        if not self.defn_wanted(typ) or typ.name in self.skip:
            return
        base_fields: list[PyField] = []
        if typ.base is not None:
            self.require(typ.base, f"'{typ.name}'")
            base_fields = self.fields(typ, typ.base.members, typ.base.doc)
        fields = self.fields(typ, typ.local_members, typ.doc)
        resolve = self.docs.member_resolver(base_fields + fields)
        self.docs.document(base_fields + fields, resolve)
        cls = PyClass(
            kind="union" if typ.branches else "struct",
            name=self.class_of[typ.name][1],
            schema_name=typ.name,
            described=typ.origin.owner if typ.origin else typ.name,
            doc=self.docs.class_doc(
                typ.doc,
                _implicit_doc(typ),
                doctext.condition_note(typ.ifcond.expr),
                resolve,
                base_fields + fields,
            ),
            fields=fields,
            base_fields=base_fields,
            since=_since(typ.doc),
            ifcond=typ.ifcond.expr,
            features=[f.name for f in typ.features],
        )
        if typ.base is not None:
            cls.base = self.ref(typ.base, cls)
        self.add(cls)
        if typ.branches is not None:
            self._branches(cls, typ.branches, typ.doc)

    def _branches(self, union: PyClass, branches: Variants, union_doc: Doc | None) -> None:
        assert self.current is not None
        tag = branches.tag_member
        union.tag = tag.name
        tag_field = next(f for f in union.all_fields if f.wire == tag.name)
        tag_enum = tag.type
        assert isinstance(tag_enum, EnumType)
        for variant in self.defines.kept(branches.variants):
            vtype = variant.type
            assert isinstance(vtype, ObjectType)
            self.require(vtype, f"branch '{variant.name}' of '{union.schema_name}'")
            branch_scope = self.member_scope(vtype.members, (f.name for f in union.all_fields))
            fields = [
                self.field(m, branch_scope.claim(naming.member_name(m.name)), vtype.doc)
                for m in self.defines.kept(vtype.members)
            ]
            resolve = self.docs.member_resolver(union.all_fields + fields)
            self.docs.document(fields, resolve)
            schema_name = f"{union.schema_name} ({tag.name}: {variant.name})"
            summary = f"{union.schema_name} with {tag.name} '{variant.name}'."
            # The constructor's arguments: not the tags, which the branches fix.
            tags = {tag.name} | {f.wire for f in union.all_fields if f.fixed}
            described = [f for f in union.all_fields + fields if f.wire not in tags]
            vdoc = self.docs.owner_doc(vtype)
            note = self.docs.branch_note(union_doc, variant)
            body = self.docs.class_doc(vdoc, "", note, resolve, described)
            branch = PyClass(
                kind="branch",
                name=self.top.claim(f"{union.name}_{naming.member_name(variant.name)}"),
                schema_name=schema_name,
                described=schema_name,
                doc=doctext.join([summary, body]),
                fields=fields,
                base_fields=union.all_fields,
                base=ClassRef(union.name),
                ifcond=variant.ifcond.expr,
                deps={union.name},
            )
            member = self.enum_value_name(tag_enum, variant.name)
            fixed = FixedTag(self.ref(tag_enum, branch), member, variant.name)
            branch.fields.insert(0, dataclasses.replace(tag_field, fixed=fixed))
            self.add(branch)
            union.branches.append((variant.name, branch.name))
            if vtype.branches is not None:
                # A union as a branch: its own branches go one level deeper.
                inner = dataclasses.replace(branch, fields=list(branch.fields))
                self._branches(inner, vtype.branches, vtype.doc)
                branch.kind = "union"
                branch.tag = inner.tag
                branch.branches = inner.branches

    def visit_alternate_type(self, typ: AlternateType) -> None:
        if not self.defn_wanted(typ):
            return
        value = self.value(typ)
        assert isinstance(value, AlternateValue)
        self.add(
            PyClass(
                kind="alternate",
                name=self.class_of[typ.name][1],
                schema_name=typ.name,
                described=typ.name,
                doc=self.docs.alternate_doc(typ),
                alternate=value,
                since=_since(typ.doc),
                ifcond=typ.ifcond.expr,
                features=[f.name for f in typ.features],
            )
        )

    def visit_event(self, event: Event) -> None:
        if not self.defn_wanted(event):
            return
        name = self.class_of["event " + event.name][1]
        arg = event.arg_type
        fields: list[PyField] = []
        base_fields: list[PyField] = []
        if arg is not None:
            self.require(arg, f"event '{event.name}'")
            if arg.is_implicit():
                fields = self.fields(arg, arg.members, event.doc)
            elif arg.branches is None:
                base_fields = self.fields(arg, arg.members, arg.doc)
        assert self.current is not None
        resolve = self.docs.member_resolver(base_fields + fields)
        self.docs.document(base_fields + fields, resolve)
        cls = PyClass(
            kind="event",
            name=name,
            schema_name=event.name,
            described=event.name,
            doc=self.docs.class_doc(
                event.doc,
                f"The event {event.name}.",
                doctext.condition_note(event.ifcond.expr),
                resolve,
                base_fields + fields,
            ),
            fields=fields,
            base_fields=base_fields,
            event_name=event.name,
            has_data=arg is not None,
            since=_since(event.doc),
            ifcond=event.ifcond.expr,
            features=[f.name for f in event.features],
        )
        if arg is not None and not arg.is_implicit():
            if arg.branches is not None:
                # Union data: the event holds it whole, as decoding picks its class.
                data = self.value(arg)
                assert isinstance(data, UnionValue)
                cls.wraps = data
            else:
                cls.base = self.ref(arg, cls)
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
        arguments = None
        unpack = False
        params: list[PyField] = []
        extra = None
        if arg is not None:
            self.require(arg, f"command '{command.name}'")
            arguments = self.ref(arg)
            unpack = arg.is_implicit() and not command.boxed
            # Not generated (QEMU's 'gen': false): the client takes the
            # members, and whatever else the command takes as it is.
            typed = unpack or (not command.gen and arg.branches is None)
            if typed:
                params = self.fields(arg, arg.members, command.doc if unpack else arg.doc)
        if not command.gen and (arg is None or arg.branches is None):
            extra = naming.Scope(frozenset(f.name for f in params)).claim("extra")
        ret = command.ret_type
        if ret is not None:
            self.require(ret, f"command '{command.name}'")
        returns = self.value(ret) if ret is not None else None
        self.commands.append(
            PyCommand(
                name=command.name,
                method=self.methods.claim(naming.member_name(command.name)),
                module=self.current.path,
                arguments=arguments,
                unpack=unpack,
                params=params,
                extra=extra,
                returns=returns,
                doc=self.docs.command_doc(command, params, arguments, returns, client=False),
                client_doc=self.docs.command_doc(
                    command, params, arguments, returns, client=True, extra=extra
                ),
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


def _since(doc: Doc | None) -> str | None:
    return doc.since.text if doc is not None and doc.since is not None else None


def _implicit_doc(typ: ObjectType) -> str:
    if typ.origin is not None:
        what = {
            ImplicitRole.ARGUMENTS: "The arguments of",
            ImplicitRole.BASE: "The common members of",
            ImplicitRole.WRAPPER: "A branch",
        }
        return f"{what[typ.origin.role]} {typ.origin.owner}."
    return f"The struct {typ.name}."
