"""Hypothesis strategies of valid wire values, derived from a checked schema model.

:class:`WireStrategies` walks the model (``qapigen.frontend.schema``) and
produces values for any type: built-in scalars in their exact ranges, enum
values, arrays, objects with their required members and any subset of the
optional ones, union branches chosen by the tag, one branch of an alternate,
recursive JSON for ``any``.  It knows nothing of the generated code or of the
JSON Schema export, so the tests that use it check those against the schema,
not against themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from hypothesis import strategies as st

from qapigen.frontend.schema import (
    INTEGER_RANGES,
    AlternateType,
    ArrayType,
    BuiltinType,
    EnumType,
    IfCond,
    ObjectMember,
    ObjectType,
    Type,
)

_FLOATS = st.floats(allow_nan=False, allow_infinity=False)

# Any JSON value: what an ``any`` member takes.
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | _FLOATS | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def no_defines(ifcond: IfCond) -> bool:
    """Conditions as a generation without --define sees them."""
    return bool(ifcond.evaluate(lambda _symbol: False))


class WireStrategies:
    """Strategies of valid wire values for the types of a schema.

    ``wanted`` says which conditions hold.  Below ``max_depth`` objects
    get random subsets of their optional members and arrays up to 3
    elements; at it, optional members are left out, arrays are empty and
    alternates take a scalar branch where they have one, so that recursive
    types stay finite.
    """

    def __init__(self, wanted: Callable[[IfCond], bool], max_depth: int = 3) -> None:
        self.wanted = wanted
        self.max_depth = max_depth
        self._cache: dict[tuple[str, int], st.SearchStrategy[Any]] = {}

    def __call__(self, typ: Type, depth: int = 0) -> st.SearchStrategy[Any]:
        key = (typ.name, min(depth, self.max_depth))
        strategy = self._cache.get(key)
        if strategy is None:
            strategy = self._cache[key] = st.deferred(lambda: self._build(typ, key[1]))
        return strategy

    def members(self, typ: ObjectType) -> list[ObjectMember]:
        """The members of ``typ`` the conditions keep."""
        return [m for m in typ.members if self.wanted(m.ifcond)]

    def _build(self, typ: Type, depth: int) -> st.SearchStrategy[Any]:
        if isinstance(typ, BuiltinType):
            return self.builtin(typ.name)
        if isinstance(typ, EnumType):
            values = [m.name for m in typ.members if self.wanted(m.ifcond)]
            return st.sampled_from(values) if values else st.nothing()
        if isinstance(typ, ArrayType):
            if depth >= self.max_depth:
                return st.just([])
            return st.lists(self(typ.element_type, depth + 1), max_size=3)
        if isinstance(typ, AlternateType):
            variants = [v for v in typ.alternatives.variants if self.wanted(v.ifcond)]
            if depth >= self.max_depth:
                scalars = [v for v in variants if isinstance(v.type, (BuiltinType, EnumType))]
                variants = scalars or variants
            return st.one_of([self(v.type, depth + 1) for v in variants])
        assert isinstance(typ, ObjectType)
        return self.object(typ, depth)

    @staticmethod
    def builtin(name: str) -> st.SearchStrategy[Any]:
        """Values of the built-in type ``name``; integers in their canonical range
        (negative ``uint64`` and ``size`` values, which wrap, are not canonical)."""
        if name in INTEGER_RANGES:
            low, high = INTEGER_RANGES[name]
            return st.integers(low, high)
        return {
            "str": st.text(max_size=8),
            "bool": st.booleans(),
            "number": _FLOATS | st.integers(-(2**64), 2**64),
            "null": st.none(),
            "any": JSON_VALUES,
        }[name]

    def object(self, typ: ObjectType, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        """Objects of ``typ``: its required members, a subset of its optional ones and,
        for a union, the members of a branch its tag names."""
        tag = typ.branches.tag_member.name if typ.branches else None
        required: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for m in self.members(typ):
            if m.name == tag:
                continue
            if not m.optional:
                required[m.name] = self(m.type, depth + 1)
            elif depth < self.max_depth:
                optional[m.name] = self(m.type, depth + 1)
        common = st.fixed_dictionaries(required, optional=optional)
        if typ.branches is None:
            return common
        tag_type = typ.branches.tag_member.type
        assert isinstance(tag_type, EnumType)
        values = {m.name for m in tag_type.members if self.wanted(m.ifcond)}
        choices = []
        for variant in typ.branches.variants:
            if variant.name not in values or not self.wanted(variant.ifcond):
                continue
            branch = self(variant.type, depth)
            parts = st.tuples(st.just(variant.name), common, branch)
            choices.append(parts.map(partial(_union_value, typ.branches.tag_member.name)))
        return st.one_of(choices)


def _union_value(tag: str, parts: tuple[str, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """A union's wire value: the tag's value, the common members, the branch's members."""
    value, common, branch = parts
    return {tag: value, **common, **branch}
