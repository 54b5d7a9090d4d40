"""Source locations and the pragmas that govern a schema.

A :class:`SourceInfo` names a file, a line, the chain of ``include``
directives that led to the file, and (once the expression checker has seen
it) the definition the line belongs to.  Its ``str()`` is the location
prefix of a diagnostic, in QEMU's format.
"""

from __future__ import annotations


class Pragmas:
    """Schema-wide settings made with ``{ 'pragma': { ... } }``.

    Pragmas apply to the whole schema, wherever they stand: every file of an
    include tree shares one instance.
    """

    def __init__(self) -> None:
        self.doc_required = False
        self.command_name_exceptions: list[str] = []
        self.command_returns_exceptions: list[str] = []
        self.documentation_exceptions: list[str] = []
        self.member_name_exceptions: list[str] = []


class SourceInfo:
    """Where something stands in the schema source."""

    __slots__ = ("defn_meta", "defn_name", "fname", "line", "parent", "pragmas")

    def __init__(
        self,
        fname: str,
        line: int,
        parent: SourceInfo | None,
        pragmas: Pragmas,
    ) -> None:
        self.fname = fname
        self.line = line
        self.parent = parent
        self.pragmas = pragmas
        # Filled in by the expression checker.  Every token of a line shares
        # one SourceInfo, so two definitions on one line share a context,
        # exactly as QEMU reports it.
        self.defn_meta: str | None = None
        self.defn_name: str | None = None

    def at_line(self, line: int) -> SourceInfo:
        """A new location in the same file and include chain."""
        return SourceInfo(self.fname, line, self.parent, self.pragmas)

    def set_defn(self, meta: str, name: str) -> None:
        self.defn_meta = meta
        self.defn_name = name

    def loc(self) -> str:
        return f"{self.fname}:{self.line}"

    def include_chain(self) -> str:
        text = ""
        parent = self.parent
        while parent is not None:
            text = f"In file included from {parent.loc()}:\n" + text
            parent = parent.parent
        return text

    def context(self) -> str:
        if self.defn_name:
            return f"{self.fname}: In {self.defn_meta} '{self.defn_name}':\n"
        return ""

    def __str__(self) -> str:
        return self.include_chain() + self.context() + self.loc()

    def __repr__(self) -> str:
        return f"<SourceInfo {self.loc()}>"
