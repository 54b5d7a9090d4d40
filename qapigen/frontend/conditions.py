"""Which parts of a schema one build has: ``if`` conditions against ``--define`` symbols.

A back end that serves one build of a schema (``query-qmp-schema``, the JSON
Schemas, the generated bindings) keeps the definitions, members, values,
branches and features whose condition holds for that build's symbols and
leaves out the rest, as QEMU's preprocessor does.  They all ask
:class:`Defines`.
"""

from __future__ import annotations

from collections.abc import Iterable

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    from .model import IfCond

    class Conditional(Protocol):
        """Something with a condition: a definition, member, value, branch or feature."""

        @property
        def ifcond(self) -> IfCond: ...

    C = TypeVar("C", bound=Conditional)


class Defines:
    """The condition symbols one build defines (``--define``); every other is undefined."""

    __slots__ = ("symbols",)

    def __init__(self, symbols: Iterable[str] = ()) -> None:
        self.symbols = frozenset(symbols)

    def holds(self, cond: IfCond) -> bool:
        """Whether ``cond`` is true in this build (no condition always is)."""
        return cond.evaluate(self.symbols.__contains__)

    def kept(self, items: Iterable[C]) -> list[C]:
        """The items whose condition holds, in order."""
        return [item for item in items if item.ifcond.evaluate(self.symbols.__contains__)]
