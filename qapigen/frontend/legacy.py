"""Accepts schemas written for QEMU releases 5.0 to 9.2 (``--legacy``).

Older releases wrote some constructs that QEMU 10.0 rejects.  Legacy mode
rewrites the ones that have a 10.0 form before the expressions are checked,
so that the rest is held to 10.0's rules:

- conditions written as C preprocessor expressions (``'defined(X)'``,
  ``'defined(A) && !defined(B)'``) or as lists of them (meaning all of
  them), as before QEMU 6.2, become ``all``/``any``/``not`` conditions.

The other relaxations live where the rules they relax do: old pragma names
in :mod:`qapigen.frontend.parser`, older naming rules and simple unions in
:mod:`qapigen.frontend.checks` and :mod:`qapigen.frontend.builder`, older doc
comment conventions in :mod:`qapigen.frontend.doc_comments`.
"""

from __future__ import annotations

import re

from .parser import Expression, Value

_C_TOKEN = re.compile(r"\s*(?:(defined)\b|([A-Za-z_][A-Za-z0-9_]*)|(&&|\|\||[!()]))")


class _NotACondition(Exception):
    pass


def upgrade_condition(cond: Value) -> Value:
    """The 10.0 form of a pre-6.2 condition; other values are returned as they are.

    A string that is not a C expression of ``defined()``, ``!``, ``&&``,
    ``||`` and parentheses is returned unchanged, for the checker to reject.
    """
    if isinstance(cond, list):
        if not cond or not all(isinstance(c, str) for c in cond):
            return cond
        parts = [upgrade_condition(c) for c in cond]
        return parts[0] if len(parts) == 1 else {"all": parts}
    if not isinstance(cond, str) or re.fullmatch(r"[A-Z][A-Z0-9_]*", cond):
        return cond
    try:
        return _CExpr(cond).parse()
    except _NotACondition:
        return cond


class _CExpr:
    """Recursive descent over ``||`` (lowest), ``&&``, ``!``, atoms."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _C_TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise _NotACondition
            self.tokens.append(m.group().strip())
            pos = m.end()
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _NotACondition
        self.pos += 1
        return tok

    def parse(self) -> Value:
        result = self.disjunction()
        if self.peek() is not None:
            raise _NotACondition
        return result

    def disjunction(self) -> Value:
        terms = [self.conjunction()]
        while self.peek() == "||":
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else {"any": terms}

    def conjunction(self) -> Value:
        terms = [self.negation()]
        while self.peek() == "&&":
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else {"all": terms}

    def negation(self) -> Value:
        if self.peek() == "!":
            self.take()
            return {"not": self.negation()}
        return self.atom()

    def atom(self) -> Value:
        tok = self.take()
        if tok == "(":
            inner = self.disjunction()
            self.take(")")
            return inner
        if tok == "defined":
            if self.peek() == "(":
                self.take()
                name = self.take()
                self.take(")")
            else:
                name = self.take()
            return self._symbol(name)
        return self._symbol(tok)

    @staticmethod
    def _symbol(name: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name == "defined":
            raise _NotACondition
        return name


def _upgrade_if(value: Value) -> None:
    if isinstance(value, dict) and "if" in value:
        value["if"] = upgrade_condition(value["if"])


def _upgrade_features(value: Value | None) -> None:
    if isinstance(value, list):
        for feature in value:
            _upgrade_if(feature)


def _upgrade_members(members: Value | None) -> None:
    """Conditions of members written in long form (``{'type': ..., 'if': ...}``)."""
    if isinstance(members, dict):
        for member in members.values():
            if isinstance(member, dict):
                _upgrade_if(member)
                _upgrade_features(member.get("features"))


def upgrade_exprs(exprs: list[Expression]) -> None:
    """Rewrite older constructs in place."""
    for expr in exprs:
        _upgrade_if(expr)
        _upgrade_features(expr.get("features"))
        if "enum" in expr:
            values = expr.get("data")
            if isinstance(values, list):
                for value in values:
                    if isinstance(value, dict):
                        _upgrade_if(value)
                        _upgrade_features(value.get("features"))
        else:
            _upgrade_members(expr.get("data"))
            _upgrade_members(expr.get("base"))
