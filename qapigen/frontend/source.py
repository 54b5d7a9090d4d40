"""Source locations and the pragmas that govern a schema.

A :class:`SourceInfo` names a file, a line, the chain of ``include``
directives that led to the file, and (once the expression checker has seen
it) the definition the line belongs to.  Its ``str()`` is the location
prefix of a diagnostic, in QEMU's format.
"""

from __future__ import annotations

from .immutable import Immutable, draft


class Pragmas(Immutable):
    """Schema-wide settings made with ``{ 'pragma': { ... } }``.

    Pragmas apply to the whole schema, wherever they stand: every file of an
    include tree shares one instance, which the parser completes as it meets
    them (see :func:`new_pragmas`).
    """

    __slots__ = (
        "command_name_exceptions",
        "command_returns_exceptions",
        "doc_required",
        "documentation_exceptions",
        "member_name_exceptions",
    )

    def __init__(self) -> None:
        self.doc_required = False
        self.command_name_exceptions: tuple[str, ...] = ()
        self.command_returns_exceptions: tuple[str, ...] = ()
        self.documentation_exceptions: tuple[str, ...] = ()
        self.member_name_exceptions: tuple[str, ...] = ()


class SourceInfo(Immutable):
    """Where something stands in the schema source.

    The lexer makes them as drafts (:func:`new_source_info`), since the
    expression checker tells each the definition it is in.
    """

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
        """A new location in the same file and include chain (a draft)."""
        return _SourceInfo(self.fname, line, self.parent, self.pragmas)

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


_SourceInfo = draft(SourceInfo)
_Pragmas = draft(Pragmas)


def new_source_info(
    fname: str, line: int, parent: SourceInfo | None, pragmas: Pragmas
) -> SourceInfo:
    """A location that the front end completes, then seals."""
    return _SourceInfo(fname, line, parent, pragmas)


def new_pragmas() -> Pragmas:
    """The pragmas of a schema about to be parsed, which the parser sets."""
    return _Pragmas()
