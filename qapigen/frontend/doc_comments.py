"""Documentation comments: their model, and the parser of their lines.

A block starts with ``##`` and ends with ``##``.  A *definition* block names
the definition that follows it (``# @name:``) and then holds the body,
member descriptions (``# @member: text``), a ``Features:`` list, and tagged
sections (``Returns:``, ``Errors:``, ``Since:``, ``TODO:``).  A *free-form*
block is text only.  The rules are QEMU 10.0's (``docs/devel/
qapi-code-gen.rst``); ``legacy`` admits the conventions of older releases.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

from .errors import QAPIError, QAPIParseError, QAPISemError
from .immutable import Immutable, ReadOnlyDict, draft, seal_each
from .source import SourceInfo

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from .parser import Expression

    class Documented(Protocol):
        """A member or feature that a doc block can describe."""

        @property
        def name(self) -> str: ...

        @property
        def info(self) -> SourceInfo | None: ...

        @property
        def role(self) -> str: ...


class Kind(enum.Enum):
    """What a section of a doc block is."""

    PLAIN = 0
    MEMBER = 1
    FEATURE = 2
    RETURNS = 3
    ERRORS = 4
    SINCE = 5
    TODO = 6
    # Older releases only (legacy mode).
    NOTE = 7
    EXAMPLE = 8

    def __str__(self) -> str:
        return self.name.title()


class Section(Immutable):
    """A run of documentation text: where it starts, what it is, its text."""

    __slots__ = ("described", "info", "kind", "name", "text")

    def __init__(self, info: SourceInfo, kind: Kind, name: str | None = None) -> None:
        self.info = info
        self.kind = kind
        # The member or feature a MEMBER or FEATURE section describes.
        self.name = name
        self.text = ""
        self.described: Documented | None = None

    def __repr__(self) -> str:
        return f"<Section {self.kind} {self.name or ''} {self.text!r}>"

    def append_line(self, line: str) -> None:
        self.text += line + "\n"


class Doc(Immutable):
    """One documentation comment block.

    The parser and the builder make it as a draft (lists and dicts they
    add to); sealed, its containers are a tuple and read-only dicts.
    """

    __slots__ = (
        "all_sections",
        "args",
        "body",
        "branch_notes",
        "errors",
        "features",
        "info",
        "legacy",
        "returns",
        "sections",
        "since",
        "symbol",
    )

    def __init__(self, info: SourceInfo, symbol: str | None = None) -> None:
        # Where the block starts (its first ``##``).
        self.info = info
        # The definition a definition block documents; None when free-form.
        self.symbol = symbol
        self.body = _Section(info, Kind.PLAIN)
        # Every section in source order, the body first.
        self.all_sections: Sequence[Section] = [self.body]
        # Member and feature descriptions, by name.
        self.args: Mapping[str, Section] = {}
        self.features: Mapping[str, Section] = {}
        # What is said of a union's branches, which no doc comment describes
        # (its descriptions are its members'): the superset's notes of their
        # conditions, by branch name (see ``note_branch``).
        self.branch_notes: Mapping[str, str] = _NO_NOTES
        self.returns: Section | None = None
        self.errors: Section | None = None
        self.since: Section | None = None
        # The sections that are neither the body nor descriptions.
        self.sections: Sequence[Section] = []
        # Read by legacy rules: members need no description, and a command
        # without a return value may still have a Returns section.
        self.legacy = False

    def __repr__(self) -> str:
        return f"<Doc {self.symbol or 'free-form'} at {self.info.loc()}>"

    # -- building -------------------------------------------------------

    def append_line(self, line: str) -> None:
        self.all_sections[-1].append_line(line)

    def plain_section(self, info: SourceInfo) -> None:
        """Continue the current untagged section, or start one."""
        last = self.all_sections[-1]
        if last.kind is Kind.PLAIN:
            if not last.text:
                # An empty section starts where its text does.
                last.info = info
            last.text += "\n"
            return
        self._add(_Section(info, Kind.PLAIN))

    def tagged_section(self, info: SourceInfo, kind: Kind) -> None:
        section = _Section(info, kind)
        for unique in (Kind.RETURNS, Kind.ERRORS, Kind.SINCE):
            if kind is unique:
                attr = kind.name.lower()
                if getattr(self, attr) is not None:
                    raise QAPISemError(info, f"duplicated '{kind}' section")
                setattr(self, attr, section)
        self._add(section)

    def _add(self, section: Section) -> None:
        """Append a section that is not a description to the draft's lists."""
        sections, all_sections = self.sections, self.all_sections
        assert isinstance(sections, list) and isinstance(all_sections, list)
        sections.append(section)
        all_sections.append(section)

    def description(self, info: SourceInfo, name: str, kind: Kind) -> None:
        table = self.args if kind is Kind.MEMBER else self.features
        # The draft's containers are a dict and a list.
        assert isinstance(table, dict)
        if not name:
            raise QAPISemError(info, "invalid parameter name")
        if name in table:
            raise QAPISemError(info, f"'{name}' parameter name duplicated")
        section = _Section(info, kind, name)
        all_sections = self.all_sections
        assert isinstance(all_sections, list)
        all_sections.append(section)
        table[name] = section

    def end(self, *, legacy: bool = False) -> None:
        """Finish the block: trim the sections, insist on text after tags.

        Member and feature descriptions count as tagged: QEMU 10.0 rejects
        an empty ``@name:`` description too.
        """
        for section in self.all_sections:
            section.text = section.text.strip("\n")
            if section.kind is not Kind.PLAIN and not section.text and not legacy:
                raise QAPISemError(section.info, f"text required after '{section.kind}:'")

    def note_branch(self, name: str, note: str) -> None:
        """Say ``note`` of the union's branch ``name``."""
        self.branch_notes = {**self.branch_notes, name: note}

    # -- connecting to the model ----------------------------------------

    def connect_member(self, member: Documented) -> None:
        """Attach the description of ``member``, or a stub for it."""
        section = self.args.get(member.name)
        if section is None:
            info = member.info
            assert info is not None
            if not self.legacy and self.symbol not in info.pragmas.documentation_exceptions:
                raise QAPISemError(info, f"{member.role} '{member.name}' lacks documentation")
            section = _Section(self.info, Kind.MEMBER, member.name)
            args, all_sections = self.args, self.all_sections
            assert isinstance(args, dict) and isinstance(all_sections, list)
            args[member.name] = section
            # The stub goes after the descriptions the block has.
            index = 1
            while index < len(all_sections) and all_sections[index].kind is Kind.MEMBER:
                index += 1
            all_sections.insert(index, section)
        section.described = member

    def connect_feature(self, feature: Documented) -> None:
        section = self.features.get(feature.name)
        if section is None:
            assert feature.info is not None
            raise QAPISemError(feature.info, f"feature '{feature.name}' lacks documentation")
        section.described = feature

    def check_expr(self, expr: Expression) -> None:
        """Check the sections that only some kinds of definition may have."""
        if "command" in expr:
            if self.returns is not None and "returns" not in expr and not self.legacy:
                raise QAPISemError(
                    self.returns.info,
                    "'Returns' section, but command doesn't return anything",
                )
            return
        if self.returns is not None:
            raise QAPISemError(self.returns.info, "'Returns' section is only valid for commands")
        if self.errors is not None:
            raise QAPISemError(self.errors.info, "'Errors' section is only valid for commands")

    def check(self) -> None:
        """Every description must describe something that exists."""
        for table, what in ((self.args, "member"), (self.features, "feature")):
            bogus = [name for name, section in table.items() if section.described is None]
            if bogus:
                many = len(bogus) > 1
                names = "', '".join(bogus)
                raise QAPISemError(
                    table[bogus[0]].info,
                    f"documented {what}{'s' if many else ''} '{names}' "
                    f"{'do' if many else 'does'} not exist",
                )

    def _seal_parts(self) -> None:
        self.all_sections = tuple(self.all_sections)
        self.sections = tuple(self.sections)
        # Most blocks describe no features: they share one empty table.
        self.args = ReadOnlyDict(self.args) if self.args else _NOTHING
        self.features = ReadOnlyDict(self.features) if self.features else _NOTHING
        if self.branch_notes:
            self.branch_notes = ReadOnlyDict(self.branch_notes)
        seal_each(self.all_sections, Section)


_NOTHING: Mapping[str, Section] = ReadOnlyDict()
_NO_NOTES: Mapping[str, str] = ReadOnlyDict()

# Drafts: the parser's and the builder's, until the builder seals them.
_Section = draft(Section)
_Doc = draft(Doc)


class LineReader(ABC):
    """The source of a doc block's lines.

    ``next_line()`` returns the next line without its ``# `` prefix, ``""``
    for a blank ``#`` line, and None at the closing ``##``.  ``info`` is the
    location of the line last read.
    """

    @property
    @abstractmethod
    def info(self) -> SourceInfo: ...

    @abstractmethod
    def next_line(self) -> str | None: ...

    @abstractmethod
    def error(self, msg: str) -> QAPIParseError: ...


_AT_NAME = re.compile(r"@([^:]*): *")
# Before QEMU 9.0 a description started only with "@NAME:" as a whole word.
_OLD_AT_NAME = re.compile(r"@(\S*):(?: +|$)")
_TAG = re.compile(r"(Returns|Errors|Since|Notes?|Examples?|TODO)(?!::): *")
_OLD_TAGS = {
    "Returns:": Kind.RETURNS,
    "Errors:": Kind.ERRORS,
    "Since:": Kind.SINCE,
    "Note:": Kind.NOTE,
    "Notes:": Kind.NOTE,
    "Example:": Kind.EXAMPLE,
    "Examples:": Kind.EXAMPLE,
    "TODO:": Kind.TODO,
}


def parse_doc(reader: LineReader, *, legacy: bool = False) -> Doc:
    """Parse a doc block whose opening ``##`` the reader has just read.

    With ``legacy``, ``Note:`` and ``Example:`` sections are accepted, and
    section tags and descriptions are recognized without a blank line
    before them, as QEMU did before 9.0.
    """
    info = reader.info
    line = reader.next_line()
    if line is not None and line.startswith("@"):
        return _DefinitionParser(reader, info, line, legacy).parse()
    return _parse_free_form(reader, info, line)


def parse_doc_legacy(open_reader: Callable[[], LineReader]) -> list[Doc]:
    """Parse a doc block written for QEMU 5.0 to 9.2.

    The block is read as 10.0 reads it, with the relaxations of
    ``parse_doc(legacy=True)``; if that fails, it is read again by the rules
    of QEMU before 9.0 (:class:`_OldParser`), which may split a free-form
    block at its headings.  When both fail, the first error is raised.
    """
    try:
        doc = parse_doc(open_reader(), legacy=True)
        doc.end()
        docs = [doc]
    except QAPIError as first:
        try:
            docs = _OldParser(open_reader()).parse()
        except QAPIError:
            raise first from None
        for doc in docs:
            doc.end(legacy=True)
    for doc in docs:
        doc.legacy = True
    return docs


def _parse_free_form(reader: LineReader, info: SourceInfo, line: str | None) -> Doc:
    doc = _Doc(info)
    doc.plain_section(reader.info)
    first = True
    while line is not None:
        match = _AT_NAME.match(line)
        if match:
            raise reader.error(f"'@{match.group(1)}:' not allowed in free-form documentation")
        if line.startswith("=") and not first:
            raise reader.error("'=' heading must come first in a comment block")
        doc.append_line(line)
        line = reader.next_line()
        first = False
    return doc


def _start_definition(reader: LineReader, info: SourceInfo, line: str) -> Doc:
    """The doc of the definition that a block's first line names."""
    if not line.endswith(":"):
        raise reader.error("line should end with ':'")
    symbol = line[1:-1]
    if not symbol:
        raise reader.error("name required after '@'")
    return _Doc(info, symbol)


class _DefinitionParser:
    """QEMU 10.0's reading of a definition's doc block."""

    def __init__(self, reader: LineReader, info: SourceInfo, line: str, legacy: bool) -> None:
        self.reader = reader
        self.legacy = legacy
        self.at_name = _OLD_AT_NAME if legacy else _AT_NAME
        self.doc = _start_definition(reader, info, line)

    def parse(self) -> Doc:
        reader = self.reader
        doc = self.doc
        line = reader.next_line()
        no_more_args = False
        while line is not None:
            while line == "":
                line = reader.next_line()
            if line is None:
                break
            if line == "Features:":
                if doc.features:
                    raise reader.error("duplicated 'Features:' line")
                line = reader.next_line()
                while line == "":
                    line = reader.next_line()
                line = self._descriptions(line, Kind.FEATURE)
                if not doc.features:
                    raise reader.error("feature descriptions expected")
                no_more_args = True
            elif match := self.at_name.match(line):
                if no_more_args:
                    raise reader.error(f"description of '@{match.group(1)}:' follows a section")
                line = self._descriptions(line, Kind.MEMBER)
                no_more_args = True
            elif match := _TAG.match(line):
                doc.tagged_section(reader.info, self._tag_kind(match.group(1)))
                text = line[match.end() :]
                if text:
                    doc.append_line(text)
                line = self._indented()
                no_more_args = True
            elif line.startswith("="):
                raise reader.error("unexpected '=' markup in definition documentation")
            else:
                doc.plain_section(reader.info)
                doc.append_line(line)
                line = self._paragraph()
        return doc

    def _tag_kind(self, tag: str) -> Kind:
        if "Note" in tag:
            if self.legacy:
                return Kind.NOTE
            raise self.reader.error(
                f"The '{tag}' section is no longer supported. Please use rST's "
                "'.. note::' or '.. admonition:: notes' directives, or another "
                "suitable admonition instead."
            )
        if "Example" in tag:
            if self.legacy:
                return Kind.EXAMPLE
            raise self.reader.error(
                f"The '{tag}' section is no longer supported. Please use the "
                "'.. qmp-example::' directive, or other suitable markup instead."
            )
        return Kind[tag.upper()]

    def _starts_section(self, line: str) -> bool:
        """Legacy: a tag or description ends a paragraph without a blank line."""
        return self.legacy and bool(_TAG.match(line) or self.at_name.match(line))

    def _descriptions(self, line: str | None, kind: Kind) -> str | None:
        """Read ``@name: text`` descriptions while they continue."""
        while line is not None and (match := self.at_name.match(line)):
            self.doc.description(self.reader.info, match.group(1), kind)
            text = line[match.end() :]
            if text:
                self.doc.append_line(text)
            line = self._indented()
        return line

    def _indented(self) -> str | None:
        """Read a section's continuation lines, which must be indented."""
        reader = self.reader
        doc = self.doc
        line = reader.next_line()
        while line == "":
            doc.append_line(line)
            line = reader.next_line()
        if line is None:
            return None
        indent = _indent(line)
        if not indent or self._starts_section(line):
            return line
        doc.append_line(line)
        # QEMU 10.0 tolerates a de-indent anywhere after the second line of a
        # section (its "previous line blank" flag is set by any line); the
        # same leniency keeps the diagnostics identical.
        prev_blank = False
        # This loop reads most of a schema's doc lines: calls are kept out of it.
        section = doc.all_sections[-1]
        next_line = reader.next_line
        at_name = self.at_name.match
        legacy = self.legacy
        while True:
            line = next_line()
            if line is None:
                return line
            # A description starts with "@" (a cheap test before the regex).
            if (line[:1] == "@" and at_name(line)) or (legacy and self._starts_section(line)):
                return line
            if line and len(line) - len(line.lstrip()) < indent:
                if prev_blank:
                    return line
                raise reader.error(f"unexpected de-indent (expected at least {indent} spaces)")
            section.text += line + "\n"
            prev_blank = True

    def _paragraph(self) -> str | None:
        next_line = self.reader.next_line
        section = self.doc.all_sections[-1]
        legacy = self.legacy
        while True:
            line = next_line()
            if not line or (legacy and self._starts_section(line)):
                return line
            section.text += line + "\n"


class _OldParser:
    """How QEMU read doc blocks before 9.0 (legacy mode's fallback).

    A definition block moves through states: its body, member descriptions,
    feature descriptions, then "various" sections.  A section tag counts
    wherever it stands; a description's text may continue on unindented
    lines; a free-form block is split at each heading that follows text.
    """

    def __init__(self, reader: LineReader) -> None:
        self.reader = reader

    def parse(self) -> list[Doc]:
        reader = self.reader
        info = reader.info
        line = reader.next_line()
        if line is not None and line.startswith("@"):
            return [self._definition(_start_definition(reader, info, line))]
        docs = [_Doc(info)]
        while line is not None:
            if line.startswith("=") and docs[-1].body.text.strip():
                docs.append(_Doc(info))
            docs[-1].append_line(line)
            line = reader.next_line()
        return docs

    def _definition(self, doc: Doc) -> Doc:
        reader = self.reader
        state = "body"
        indent = 0
        prev_blank = False
        while (line := reader.next_line()) is not None:
            word = line.split(" ", 1)[0]
            tag = _OLD_TAGS.get(word)
            at_name = _OLD_AT_NAME.match(line)
            if tag is not None:
                doc.tagged_section(reader.info, tag)
                text = line[len(word) :].lstrip(" ")
                indent = len(line) - len(text) if text else 0
                if text:
                    doc.append_line(text)
                state = "various"
            elif at_name and state in ("body", "args", "features"):
                kind = Kind.FEATURE if state == "features" else Kind.MEMBER
                doc.description(reader.info, at_name.group(1), kind)
                text = line[at_name.end() :]
                indent = at_name.end() if text else 0
                if text:
                    doc.append_line(text)
                if state == "body":
                    state = "args"
            elif at_name:
                raise reader.error(f"'@{at_name.group(1)}:' can't follow a section")
            elif line == "Features:" and (
                state in ("body", "args")
                or (state == "various" and prev_blank and not doc.features)
            ):
                state = "features"
            elif line.startswith("="):
                raise reader.error("unexpected '=' markup in definition documentation")
            elif state in ("args", "features") and line and not _indent(line) and prev_blank:
                doc.plain_section(reader.info)
                doc.append_line(line)
                state = "various"
                indent = 0
            else:
                last = doc.all_sections[-1]
                if last.kind is Kind.PLAIN and not last.text:
                    # An empty section starts where its text does.
                    last.info = reader.info
                doc.append_line(line[min(indent, _indent(line)) :])
            prev_blank = line == ""
        return doc


def _indent(line: str) -> int:
    # What \s* matches at the start; lstrip() strips the same characters.
    return len(line) - len(line.lstrip())
