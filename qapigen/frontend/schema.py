"""The checked schema model and its loader, at their documented import path.

:func:`load_schema`, :class:`Schema` and the entity classes are imported
from here (``qapigen.frontend.schema``); the model lives in
:mod:`qapigen.frontend.model`, the building of it in
:mod:`qapigen.frontend.builder`, the wire facts in
:mod:`qapigen.frontend.wire_types`.
"""

from __future__ import annotations

from .builder import MAX_FEATURES, build_schema, load_schema
from .model import (
    BUILTIN_MODULE,
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
from .wire_types import BUILTIN_TYPES, INTEGER_RANGES, QTYPE_VALUES, accepted_range

__all__ = [
    "BUILTIN_MODULE",
    "BUILTIN_TYPES",
    "INTEGER_RANGES",
    "MAX_FEATURES",
    "QTYPE_VALUES",
    "SPECIAL_FEATURES",
    "AlternateType",
    "ArrayType",
    "BuiltinType",
    "Command",
    "Definition",
    "Entity",
    "EnumMember",
    "EnumType",
    "Event",
    "Feature",
    "IfCond",
    "ImplicitOrigin",
    "ImplicitRole",
    "Include",
    "Member",
    "Module",
    "ObjectMember",
    "ObjectType",
    "Schema",
    "Type",
    "Variant",
    "Variants",
    "accepted_range",
    "build_schema",
    "load_schema",
]
