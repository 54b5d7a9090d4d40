"""The Python view of a checked schema: typed records of what to generate.

The records say *what* each class, member and command is (the names it gets,
the value each member holds, how an alternate picks its branch, ...), never
how that is spelled in Python: ``codewriter`` turns them into code text, and
``build`` makes them from the schema.
"""

from __future__ import annotations

import dataclasses
import os

from ...runtime import DEPRECATED_SLOT_PREFIX

# -- the values members hold ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClassRef:
    """A generated class, as the module being written reaches it."""

    name: str
    #: The import alias of the class's module; None: the module being written.
    module: str | None = None
    #: Reached from the package's ``__init__``, which imports the classes but
    #: not their modules' tables and decoding functions.
    from_init: bool = False


@dataclasses.dataclass(frozen=True)
class Scalar:
    """A value of the built-in type ``name``: str, bool, number, null or any.

    ``qtype`` is the QType of its values (None: any JSON value).
    """

    name: str
    qtype: str | None


@dataclasses.dataclass(frozen=True)
class Integer:
    """An integer of the built-in type ``name`` (int, int8, ..., uint64, size).

    ``low`` and ``high`` bound the values taken as they come; the type's
    decoder judges the rest (QEMU wraps negative uint64 and size values).
    """

    name: str
    low: int
    high: int


@dataclasses.dataclass(frozen=True)
class EnumValue:
    """A member of a generated enum."""

    enum: ClassRef


@dataclasses.dataclass(frozen=True)
class StructValue:
    """An instance of a generated struct (or event data), decoded by its decoder."""

    cls: ClassRef


@dataclasses.dataclass(frozen=True)
class UnionValue:
    """An instance of a branch of a generated union: the value of its
    discriminator, the member ``tag``, picks the branch's decoder."""

    cls: ClassRef
    tag: str


@dataclasses.dataclass(frozen=True)
class AlternateBranch:
    """A branch of an alternate: the values of one JSON type.

    ``qtype`` is QAPI's name for it (``qstring``, ``qnum``, ``qbool``,
    ``qnull``, ``qlist``, ``qdict``).
    """

    qtype: str
    value: Value


@dataclasses.dataclass(frozen=True)
class AlternateValue:
    """The value of a branch of a generated alternate (``name`` in the
    schema), picked by the value's JSON type; the branches the conditions keep."""

    cls: ClassRef
    name: str
    branches: tuple[AlternateBranch, ...]


@dataclasses.dataclass(frozen=True)
class ListValue:
    """A JSON array of ``element``."""

    element: Value


Value = Scalar | Integer | EnumValue | StructValue | UnionValue | AlternateValue | ListValue


def nullable(value: Value) -> bool:
    """Whether JSON null is a value: then an absent member is not None but ABSENT."""
    if isinstance(value, Scalar):
        return value.qtype in ("qnull", None)
    if isinstance(value, AlternateValue):
        return any(nullable(b.value) for b in value.branches)
    return False


# -- classes, commands, modules -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FixedTag:
    """The discriminator of a union branch: fixed to one member of its enum."""

    enum: ClassRef
    member: str  # the enum member's Python name
    wire: str  # and its wire value


# Compared and hashed by identity: a base's fields are shared by its branches.
@dataclasses.dataclass(eq=False)
class PyField:
    """A member of a generated class (or a command's parameter)."""

    name: str
    wire: str
    value: Value
    optional: bool
    deprecated: bool
    ifcond: object
    features: list[str]
    #: What the member's description says (reST), for ``Args:``.
    description: str
    #: A branch's discriminator: the value the branch fixes it to.
    fixed: FixedTag | None = None
    #: The attribute's docstring: the description, the member's features.
    doc: str = ""

    @property
    def attr(self) -> str:
        """The attribute that holds the member: a deprecated member's is private,
        behind a property that warns when it is set (no member's Python name
        starts with ``_``, so none can clash)."""
        if self.deprecated and not self.fixed:
            return DEPRECATED_SLOT_PREFIX + self.name
        return self.name

    @property
    def absent_is_none(self) -> bool:
        """An optional member that is absent holds None (else ABSENT: null is a value)."""
        return not nullable(self.value)


@dataclasses.dataclass
class PyClass:
    """A generated class."""

    kind: str  # enum | struct | union | branch | alternate | event
    name: str
    schema_name: str
    #: How messages name the class: its schema name, an implicit type's owner's.
    described: str
    doc: str
    fields: list[PyField] = dataclasses.field(default_factory=list)
    # Fields inherited from the base (decoded with the class's own).
    base_fields: list[PyField] = dataclasses.field(default_factory=list)
    base: ClassRef | None = None
    # enum: (python name, wire value, deprecated)
    values: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)
    # enum: python name → the member's docstring
    value_docs: dict[str, str] = dataclasses.field(default_factory=dict)
    # union: the tag's wire name and (wire value, branch class) of each branch
    tag: str | None = None
    branches: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # alternate: its branches
    alternate: AlternateValue | None = None
    event_name: str | None = None
    # Classes of the same module that must be created before this one.
    deps: set[str] = dataclasses.field(default_factory=set)
    # event: the union its data is (held whole in ``data``).
    wraps: UnionValue | None = None
    has_data: bool = False
    since: str | None = None
    ifcond: object = None
    features: list[str] = dataclasses.field(default_factory=list)

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
    def own_fields(self) -> list[PyField]:
        """The members the class adds to its base's (a branch's fixed tag is its base's)."""
        return [f for f in self.fields if not f.fixed]

    @property
    def absent_presets(self) -> list[PyField]:
        """The optional members, set to their absent value before decoding."""
        return [f for f in self.all_fields if f.optional and not f.fixed]

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
    #: The path of the module of the schema module that defines it.
    module: str
    arguments: ClassRef | None
    unpack: bool
    params: list[PyField]
    #: A command not generated (``'gen': false``): the name of its client
    #: methods' parameter ``**extra``, which takes what its members do not
    #: (None: the methods take the arguments as one JSON object).
    extra: str | None
    returns: Value | None
    #: The handler method's docstring; the client methods' (their exceptions differ).
    doc: str
    client_doc: str
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
