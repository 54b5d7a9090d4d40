"""Checks what each expression says, one at a time, and normalizes it.

This is the context-free half of checking: an expression's keys, the shape
of its values, its names.  Sugared forms are rewritten into canonical ones
in place (``'member': 'type'`` becomes ``'member': {'type': 'type'}``,
``'feature'`` becomes ``{'name': 'feature'}``).  What needs the whole schema
(types that exist, clashes, branches) is :mod:`qapigen.frontend.builder`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .c_names import c_name
from .errors import QAPISemError
from .parser import Expression, Value
from .source import SourceInfo

META_KEYS = ("enum", "struct", "union", "alternate", "command", "event")

# Keys each kind of definition requires, and the keys it may also have.
_KEYS: dict[str, tuple[list[str], list[str]]] = {
    "enum": (["enum", "data"], ["if", "features", "prefix"]),
    "struct": (["struct", "data"], ["base", "if", "features"]),
    "union": (["union", "base", "discriminator", "data"], ["if", "features"]),
    "alternate": (["alternate", "data"], ["if", "features"]),
    "command": (
        ["command"],
        [
            "data",
            "returns",
            "boxed",
            "if",
            "features",
            "gen",
            "success-response",
            "allow-oob",
            "allow-preconfig",
            "coroutine",
        ],
    ),
    "event": (["event"], ["data", "boxed", "if", "features"]),
}

_VALID_NAME = re.compile(r"(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$", re.IGNORECASE)
_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")
_IF_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_UPPER = re.compile(r"[A-Z]")
_LOWER_OR_DASH = re.compile(r"[a-z-]")


def check_exprs(exprs: list[Expression], *, legacy: bool = False) -> None:
    """Check and normalize every expression, in order."""
    for expr in exprs:
        if "include" not in expr:
            _Checker(expr, legacy).check()


# -- names --------------------------------------------------------------


def _require_str(name: object, info: SourceInfo, source: str) -> str:
    if not isinstance(name, str):
        raise QAPISemError(info, f"{source} requires a string name")
    return name


def _stem(name: str, info: SourceInfo, source: str) -> str:
    """The name without its downstream and ``x-`` prefixes, if it is valid."""
    match = _VALID_NAME.match(name)
    if not match or c_name(name).startswith("q_"):
        raise QAPISemError(info, f"{source} has an invalid name")
    return match.group(3)


def _check_upper(name: str, info: SourceInfo, source: str) -> None:
    if _LOWER_OR_DASH.search(_stem(name, info, source)):
        raise QAPISemError(info, f"name of {source} must not use lowercase or '-'")


def _check_lower(
    name: str,
    info: SourceInfo,
    source: str,
    permit_upper: bool = False,
    permit_underscore: bool = False,
) -> None:
    stem = _stem(name, info, source)
    if (not permit_upper and _UPPER.search(stem)) or (not permit_underscore and "_" in stem):
        raise QAPISemError(info, f"name of {source} must not use uppercase or '_'")


def _check_camel(name: str, info: SourceInfo, source: str) -> None:
    if not _CAMEL.match(_stem(name, info, source)):
        raise QAPISemError(info, f"name of {source} must use CamelCase")


# -- generic shapes -------------------------------------------------------


def _quoted(keys: Iterable[str]) -> str:
    return ", ".join(f"'{k}'" for k in sorted(keys))


def check_keys(
    value: dict[str, Value],
    info: SourceInfo,
    source: str,
    required: list[str],
    optional: list[str],
) -> None:
    """``value`` has every key of ``required`` and no key outside both lists."""
    missing = set(required) - set(value)
    if missing:
        raise QAPISemError(
            info,
            f"{source} misses key{'s' if len(missing) > 1 else ''} {_quoted(missing)}",
        )
    allowed = set(required) | set(optional)
    unknown = set(value) - allowed
    if unknown:
        raise QAPISemError(
            info,
            f"{source} has unknown key{'s' if len(unknown) > 1 else ''} "
            f"{_quoted(unknown)}\nValid keys are {_quoted(allowed)}.",
        )


def check_if(value: dict[str, Value], info: SourceInfo, source: str) -> None:
    """Check the condition under ``value['if']``, if there is one."""

    def condition(cond: Value) -> None:
        if isinstance(cond, str):
            if not _IF_NAME.fullmatch(cond):
                raise QAPISemError(
                    info, f"'if' condition '{cond}' of {source} is not a valid identifier"
                )
            return
        if not isinstance(cond, dict):
            raise QAPISemError(info, f"'if' condition of {source} must be a string or an object")
        check_keys(cond, info, f"'if' condition of {source}", [], ["all", "any", "not"])
        if len(cond) != 1:
            raise QAPISemError(info, f"'if' condition of {source} has conflicting keys")
        if "not" in cond:
            condition(cond["not"])
            return
        operator = "all" if "all" in cond else "any"
        operands = cond[operator]
        if not isinstance(operands, list):
            raise QAPISemError(info, f"'{operator}' condition of {source} must be an array")
        if not operands:
            raise QAPISemError(info, f"'if' condition [] of {source} is useless")
        for operand in operands:
            condition(operand)

    cond = value.get("if")
    if cond is not None:
        condition(cond)


def _as_members(value: Value | None) -> None:
    """Desugar ``{'name': 'type'}`` into ``{'name': {'type': 'type'}}``."""
    if isinstance(value, dict):
        for key, member in value.items():
            if not isinstance(member, dict):
                value[key] = {"type": member}


def check_features(features: Value | None, info: SourceInfo, legacy: bool = False) -> None:
    """Check and desugar a ``features`` list."""
    if features is None:
        return
    if not isinstance(features, list):
        raise QAPISemError(info, "'features' must be an array")
    features[:] = [f if isinstance(f, dict) else {"name": f} for f in features]
    for feat in features:
        assert isinstance(feat, dict)
        source = "'features' member"
        check_keys(feat, info, source, ["name"], ["if"])
        name = _require_str(feat["name"], info, source)
        source = f"{source} '{name}'"
        _check_lower(name, info, source, permit_underscore=legacy)
        check_if(feat, info, source)


def _type_name(value: Value | None, info: SourceInfo, source: str) -> None:
    if value is not None and not isinstance(value, str):
        raise QAPISemError(info, f"{source} should be a type name")


def _type_name_or_array(value: Value | None, info: SourceInfo, source: str) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        raise QAPISemError(info, f"{source} should be a type name or array")
    if len(value) != 1 or not isinstance(value[0], str):
        raise QAPISemError(info, f"{source}: array type must contain single type name")


def _implicit_type(
    value: Value | None, info: SourceInfo, source: str, owner: str | None, legacy: bool
) -> None:
    """Check members given in place (``'data': { ... }``)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise QAPISemError(info, f"{source} should be an object or type name")
    permissive = owner in info.pragmas.member_name_exceptions
    for key, member in value.items():
        key_source = f"{source} member '{key}'"
        name = key[1:] if key.startswith("*") else key
        # Before QEMU 6.0, underscores were allowed everywhere.
        _check_lower(name, info, key_source, permissive, permissive or legacy)
        cname = c_name(name)
        if cname == "u" or cname.startswith("has_"):
            raise QAPISemError(info, f"{key_source} uses reserved name")
        assert isinstance(member, dict)
        check_keys(member, info, key_source, ["type"], ["if", "features"])
        check_if(member, info, key_source)
        check_features(member.get("features"), info, legacy)
        _type_name_or_array(member["type"], info, key_source)


def _type_name_or_implicit(
    value: Value | None, info: SourceInfo, source: str, owner: str | None, legacy: bool
) -> None:
    if value is None or isinstance(value, str):
        return
    _implicit_type(value, info, source, owner, legacy)


def _check_flags(expr: Expression) -> None:
    for key in ("gen", "success-response"):
        if key in expr and expr[key] is not False:
            raise QAPISemError(expr.info, f"flag '{key}' may only use false value")
    for key in ("boxed", "allow-oob", "allow-preconfig", "coroutine"):
        if key in expr and expr[key] is not True:
            raise QAPISemError(expr.info, f"flag '{key}' may only use true value")
    if "allow-oob" in expr and "coroutine" in expr:
        raise QAPISemError(expr.info, "flags 'allow-oob' and 'coroutine' are incompatible")


# -- one expression -------------------------------------------------------


class _Checker:
    def __init__(self, expr: Expression, legacy: bool) -> None:
        self.expr = expr
        self.info = expr.info
        self.legacy = legacy

    def check(self) -> None:
        expr, info = self.expr, self.info
        metas = [key for key in META_KEYS if key in expr]
        if len(metas) != 1:
            raise QAPISemError(
                info,
                "expression must have exactly one key 'enum', 'struct', 'union',"
                " 'alternate', 'command', 'event'",
            )
        meta = metas[0]
        name = _require_str(expr[meta], info, f"'{meta}'")
        info.set_defn(meta, name)
        self._check_defn_name(name, meta)

        doc = expr.doc
        if doc is not None:
            if doc.symbol != name:
                raise QAPISemError(info, f"documentation comment is for '{doc.symbol}'")
            doc.check_expr(expr)
        elif info.pragmas.doc_required:
            raise QAPISemError(info, "documentation comment required")

        required, optional = _KEYS[meta]
        if self.legacy and meta == "union":
            required = ["union", "data"]
            optional = ["base", "discriminator", "if", "features"]
        check_keys(expr, info, meta, required, optional)
        getattr(self, "_" + meta)(name)
        check_if(expr, info, meta)
        check_features(expr.get("features"), info, self.legacy)
        _check_flags(expr)

    def _check_defn_name(self, name: str, meta: str) -> None:
        info = self.info
        if self.legacy:
            # Before QEMU 6.0, definition names had no case rules.
            _stem(name, info, meta)
            if meta not in ("command", "event") and name.endswith("List"):
                raise QAPISemError(info, f"{meta} name should not end in 'List'")
            return
        if meta == "event":
            _check_upper(name, info, meta)
        elif meta == "command":
            _check_lower(
                name,
                info,
                meta,
                permit_underscore=name in info.pragmas.command_name_exceptions,
            )
        else:
            _check_camel(name, info, meta)
            if name.endswith("List"):
                raise QAPISemError(info, f"{meta} name should not end in 'List'")

    def _enum(self, name: str) -> None:
        expr, info = self.expr, self.info
        members = expr["data"]
        prefix = expr.get("prefix")
        if not isinstance(members, list):
            raise QAPISemError(info, "'data' must be an array")
        if prefix is not None and not isinstance(prefix, str):
            raise QAPISemError(info, "'prefix' must be a string")
        permissive = name in info.pragmas.member_name_exceptions
        members[:] = [m if isinstance(m, dict) else {"name": m} for m in members]
        for member in members:
            assert isinstance(member, dict)
            source = "'data' member"
            check_keys(member, info, source, ["name"], ["if", "features"])
            member_name = _require_str(member["name"], info, source)
            source = f"{source} '{member_name}'"
            # Enum values may start with a digit; the name rules may not.
            if member_name[:1].isdigit():
                member_name = "d" + member_name
            _check_lower(member_name, info, source, permissive, permissive or self.legacy)
            check_if(member, info, source)
            check_features(member.get("features"), info, self.legacy)

    def _struct(self, name: str) -> None:
        expr = self.expr
        _as_members(expr["data"])
        _implicit_type(expr["data"], self.info, "'data'", name, self.legacy)
        _type_name(expr.get("base"), self.info, "'base'")

    def _union(self, name: str) -> None:
        expr, info = self.expr, self.info
        base = expr.get("base")
        _as_members(base)
        data = expr["data"]
        _as_members(data)
        simple = self.legacy and "discriminator" not in expr
        if simple:
            # A simple union (QEMU before 6.2): no discriminator, and its
            # branches name types or arrays.
            if base is not None:
                raise QAPISemError(info, "'base' requires 'discriminator'")
        else:
            if "base" not in expr:
                check_keys(expr, info, "union", ["base", "discriminator"], [])
            _type_name_or_implicit(base, info, "'base'", name, self.legacy)
            _require_str(expr["discriminator"], info, "'discriminator'")
        if not isinstance(data, dict):
            raise QAPISemError(info, "'data' must be an object")
        for key, value in data.items():
            source = f"'data' member '{key}'"
            if simple:
                _check_lower(key, info, source, permit_underscore=True)
            assert isinstance(value, dict)
            check_keys(value, info, source, ["type"], ["if"])
            check_if(value, info, source)
            if simple:
                _type_name_or_array(value["type"], info, source)
            else:
                _type_name(value["type"], info, source)

    def _alternate(self, name: str) -> None:
        info = self.info
        data = self.expr["data"]
        _as_members(data)
        if not data:
            raise QAPISemError(info, "'data' must not be empty")
        if not isinstance(data, dict):
            raise QAPISemError(info, "'data' must be an object")
        for key, value in data.items():
            source = f"'data' member '{key}'"
            _check_lower(key, info, source, permit_underscore=self.legacy)
            assert isinstance(value, dict)
            check_keys(value, info, source, ["type"], ["if"])
            check_if(value, info, source)
            _type_name_or_array(value["type"], info, source)

    def _arguments(self) -> None:
        expr, info = self.expr, self.info
        args = expr.get("data")
        _as_members(args)
        if expr.get("boxed", False):
            if args is None:
                raise QAPISemError(info, "'boxed': true requires 'data'")
            _type_name(args, info, "'data'")
        else:
            _type_name_or_implicit(args, info, "'data'", None, self.legacy)

    def _command(self, name: str) -> None:
        self._arguments()
        _type_name_or_array(self.expr.get("returns"), self.info, "'returns'")

    def _event(self, name: str) -> None:
        self._arguments()
