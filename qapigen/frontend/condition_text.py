"""Conditions (``'if'``) as expressions: the symbols they name, and how they read."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import IfExpr


def condition_text(expr: IfExpr) -> str:
    """A condition as people read it: ``CONFIG_VNC``, ``TARGET_I386 or TARGET_S390X``,
    ``CONFIG_LINUX and not CONFIG_WIN32`` (inner groups in parentheses)."""

    def text(cond: IfExpr, inner: bool) -> str:
        if isinstance(cond, str):
            return cond
        if "not" in cond:
            return "not " + text(cond["not"], True)
        op = "all" if "all" in cond else "any"
        joined = (" and " if op == "all" else " or ").join(text(c, True) for c in cond[op])
        return f"({joined})" if inner and len(cond[op]) > 1 else joined

    return text(expr, False)


def condition_symbols(expr: object, into: set[str]) -> None:
    """Add the symbols condition ``expr`` names to ``into``."""
    if isinstance(expr, str):
        into.add(expr)
    elif isinstance(expr, dict):
        for value in expr.values():
            condition_symbols(value, into)
    elif isinstance(expr, list):
        for value in expr:
            condition_symbols(value, into)
