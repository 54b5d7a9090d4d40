"""Turns tokens into expressions: top-level objects, directives, doc blocks.

The parser reads one file at a time and follows ``include`` directives as it
meets them, so its output is the whole schema's expressions in source order,
each with the location it starts at and the doc comment block before it.
It checks syntax only; :mod:`qapigen.checks` checks what the expressions say.
"""

from __future__ import annotations

import errno
import os
import stat

from . import doc_comments as docs
from .errors import QAPIParseError, QAPISemError
from .lexer import BAD, BOOL, COMMENT, EOF, STRING, Lexer, Token
from .source import Pragmas, SourceInfo, new_pragmas, new_source_info

# A value of the schema syntax.
Value = dict[str, "Value"] | list["Value"] | str | bool

# Deeper nesting than this is refused (QEMU would overflow its stack).
MAX_DEPTH = 256

# Pragma names older QEMU releases used, and their 10.0 names.
LEGACY_PRAGMAS = {
    "returns-whitelist": "command-returns-exceptions",
    "name-case-whitelist": "member-name-exceptions",
}


class Expression(dict[str, Value]):
    """A top-level expression, with its location and documentation."""

    def __init__(
        self, data: dict[str, Value], info: SourceInfo, doc: docs.Doc | None = None
    ) -> None:
        super().__init__(data)
        self.info = info
        self.doc = doc


class ParsedSchema:
    """What the parser found: expressions, doc blocks, pragmas, and the
    source locations it made (drafts, which the builder seals)."""

    def __init__(self, pragmas: Pragmas) -> None:
        self.exprs: list[Expression] = []
        self.docs: list[docs.Doc] = []
        self.pragmas = pragmas
        self.infos: list[SourceInfo] = []


#: The largest schema file read (QEMU's largest is some 300 KiB).
MAX_FILE_SIZE = 16 << 20


def _read_regular_file(fname: str) -> bytes:
    """The bytes of ``fname``, which must be a regular file of at most
    :data:`MAX_FILE_SIZE` bytes; ``OSError`` otherwise.

    QEMU reads whatever it is given: ``/dev/zero`` grows until memory runs out,
    a FIFO blocks forever.  What is not a regular file is refused before it is
    opened, and opened without blocking in case it changed in between.
    """
    st = os.stat(fname)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), fname)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", fname)
    fd = os.open(fname, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as fp:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", fname)
        raw = fp.read(MAX_FILE_SIZE + 1)
    if len(raw) > MAX_FILE_SIZE:
        raise OSError(errno.EFBIG, f"larger than {MAX_FILE_SIZE >> 20} MiB", fname)
    return raw


def read_source(
    fname: str, incl_info: SourceInfo | None = None, pragmas: Pragmas | None = None
) -> str:
    """Read a schema file as QEMU does: UTF-8, universal newlines.

    Raises ``OSError`` (also for what is not a regular file, and for a file
    larger than :data:`MAX_FILE_SIZE`); bytes that are not UTF-8 raise
    :class:`QAPIParseError` (at a place in the file included from ``incl_info``).
    """
    raw = _read_regular_file(fname)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        good = raw[: err.start].decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        line = good.count("\n") + 1
        col = len(good) - (good.rfind("\n") + 1) + 1
        info = new_source_info(fname, line, incl_info, pragmas or new_pragmas())
        raise QAPIParseError(info, "invalid UTF-8", col) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_schema(fname: str, *, legacy: bool = False) -> ParsedSchema:
    """Parse the schema whose main file is ``fname``.

    Raises ``OSError`` when that file cannot be read, and
    :class:`QAPIError` for any fault in the schema's text.
    """
    result = ParsedSchema(new_pragmas())
    src = read_source(fname, None, result.pragmas)
    _FileParser(fname, src, None, result, set(), legacy).parse()
    return result


class _FileParser:
    def __init__(
        self,
        fname: str,
        src: str,
        incl_info: SourceInfo | None,
        result: ParsedSchema,
        included: set[str],
        legacy: bool,
    ) -> None:
        self.fname = fname
        self.result = result
        self.included = included
        self.legacy = legacy
        included.add(os.path.abspath(fname))
        self.lexer = Lexer(src, new_source_info(fname, 1, incl_info, result.pragmas))
        self._tokens = self.lexer.tokens()
        self._index = -1
        self.tok: Token = self._tokens[0]
        self.advance()

    # -- tokens ---------------------------------------------------------

    def advance(self, skip_comments: bool = True) -> None:
        """Move to the next token; ordinary comments are skipped unless asked."""
        tokens = self._tokens
        i = self._index + 1
        tok = tokens[i]
        if skip_comments:
            while tok[0] == COMMENT and not tok[1].startswith("##"):  # type: ignore[union-attr]
                i += 1
                tok = tokens[i]
        if tok[0] == BAD:
            assert isinstance(tok[1], str)
            raise self.lexer.error(tok, tok[1])
        self._index = i
        self.tok = tok

    @property
    def info(self) -> SourceInfo:
        """The location of the current token."""
        return self.lexer.info(self.tok[3])

    def error(self, msg: str) -> QAPIParseError:
        return self.lexer.error(self.tok, msg)

    # -- the file -------------------------------------------------------

    def parse(self) -> None:
        result = self.result
        cur_doc: docs.Doc | None = None
        while self.tok[0] != EOF:
            info = self.info
            if self.tok[0] == COMMENT:
                _reject_expr_doc(cur_doc)
                cur_doc = self._doc_block()
                result.docs.append(cur_doc)
                continue
            expr = self._value(0)
            if not isinstance(expr, dict):
                raise QAPISemError(info, "top-level expression must be an object")
            if "include" in expr:
                _reject_expr_doc(cur_doc)
                self._include(expr, info)
            elif "pragma" in expr:
                _reject_expr_doc(cur_doc)
                if len(expr) != 1:
                    raise QAPISemError(info, "invalid 'pragma' directive")
                pragma = expr["pragma"]
                if not isinstance(pragma, dict):
                    raise QAPISemError(info, "value of 'pragma' must be an object")
                for name, value in pragma.items():
                    self._pragma(name, value, info)
            else:
                if cur_doc is not None and not cur_doc.symbol:
                    raise QAPISemError(cur_doc.info, "definition documentation required")
                result.exprs.append(Expression(expr, info, cur_doc))
            cur_doc = None
        _reject_expr_doc(cur_doc)
        result.infos.extend(self.lexer.infos())

    def _include(self, expr: dict[str, Value], info: SourceInfo) -> None:
        if len(expr) != 1:
            raise QAPISemError(info, "invalid 'include' directive")
        include = expr["include"]
        if not isinstance(include, str):
            raise QAPISemError(info, "value of 'include' must be a string")
        incl_fname = os.path.join(os.path.dirname(self.fname), include)
        self.result.exprs.append(Expression({"include": incl_fname}, info))
        incl_abs = os.path.abspath(incl_fname)
        chain: SourceInfo | None = info
        while chain is not None:
            if os.path.abspath(chain.fname) == incl_abs:
                raise QAPISemError(info, f"inclusion loop for {include}")
            chain = chain.parent
        if incl_abs in self.included:
            return
        try:
            src = read_source(incl_fname, info, self.result.pragmas)
        except OSError as err:
            raise QAPISemError(
                info, f"can't read include file '{incl_fname}': {err.strerror}"
            ) from None
        _FileParser(incl_fname, src, info, self.result, self.included, self.legacy).parse()

    def _pragma(self, name: str, value: Value, info: SourceInfo) -> None:
        pragmas = self.result.pragmas
        if self.legacy:
            name = LEGACY_PRAGMAS.get(name, name)
        if name == "doc-required":
            if not isinstance(value, bool):
                raise QAPISemError(info, "pragma 'doc-required' must be boolean")
            pragmas.doc_required = value
            return
        attr = name.replace("-", "_")
        if attr not in (
            "command_name_exceptions",
            "command_returns_exceptions",
            "documentation_exceptions",
            "member_name_exceptions",
        ):
            raise QAPISemError(info, f"unknown pragma '{name}'")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QAPISemError(info, f"pragma {name} must be a list of strings")
        setattr(pragmas, attr, tuple(v for v in value if isinstance(v, str)))

    # -- values ---------------------------------------------------------

    def _value(self, depth: int) -> Value:
        tok = self.tok
        if tok[0] == "{":
            self._enter(depth)
            self.advance()
            return self._members(depth + 1)
        if tok[0] == "[":
            self._enter(depth)
            self.advance()
            return self._elements(depth + 1)
        if tok[0] in (STRING, BOOL):
            value = tok[1]
            assert isinstance(value, (str, bool))
            self.advance()
            return value
        raise self.error("expected '{', '[', string, or boolean")

    def _enter(self, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels")

    def _members(self, depth: int) -> dict[str, Value]:
        members: dict[str, Value] = {}
        if self.tok[0] == "}":
            self.advance()
            return members
        if self.tok[0] != STRING:
            raise self.error("expected string or '}'")
        while True:
            key = self.tok[1]
            assert isinstance(key, str)
            self.advance()
            if self.tok[0] != ":":
                raise self.error("expected ':'")
            self.advance()
            if key in members:
                raise self.error(f"duplicate key '{key}'")
            members[key] = self._value(depth)
            if self.tok[0] == "}":
                self.advance()
                return members
            if self.tok[0] != ",":
                raise self.error("expected ',' or '}'")
            self.advance()
            if self.tok[0] != STRING:
                raise self.error("expected string")

    def _elements(self, depth: int) -> list[Value]:
        elements: list[Value] = []
        if self.tok[0] == "]":
            self.advance()
            return elements
        if self.tok[0] not in ("{", "[", STRING, BOOL):
            raise self.error("expected '{', '[', ']', string, or boolean")
        while True:
            elements.append(self._value(depth))
            if self.tok[0] == "]":
                self.advance()
                return elements
            if self.tok[0] != ",":
                raise self.error("expected ',' or ']'")
            self.advance()

    # -- documentation --------------------------------------------------

    def _doc_block(self) -> docs.Doc:
        if self.tok[1] != "##":
            raise self.error("junk after '##' at start of documentation comment")
        if self.legacy:
            return self._legacy_doc_block()
        doc = docs.parse_doc(_DocReader(self))
        # QEMU reads the token after the block before it finishes the block.
        self.advance()
        doc.end()
        return doc

    def _legacy_doc_block(self) -> docs.Doc:
        # Legacy rules may read a block twice: read its lines once, first.
        start = self._index
        reader = _DocReader(self)
        while reader.next_line() is not None:
            pass
        end = self._index

        def open_reader() -> docs.LineReader:
            self._index = start
            self.tok = self._tokens[start]
            return _DocReader(self)

        blocks = docs.parse_doc_legacy(open_reader)
        self._index = end
        self.advance()
        # Headings split an old free-form block into several.
        self.result.docs.extend(blocks[:-1])
        return blocks[-1]


class _DocReader(docs.LineReader):
    """Feeds a doc comment block's lines to :func:`docs.parse_doc`."""

    def __init__(self, parser: _FileParser) -> None:
        self._parser = parser

    @property
    def info(self) -> SourceInfo:
        return self._parser.info

    def next_line(self) -> str | None:
        parser = self._parser
        # advance(skip_comments=False), written out: this runs for every doc line.
        i = parser._index + 1
        tok = parser._tokens[i]
        if tok[0] == BAD:
            assert isinstance(tok[1], str)
            raise parser.lexer.error(tok, tok[1])
        parser._index = i
        parser.tok = tok
        if tok[0] != COMMENT:
            raise parser.error("documentation comment must end with '##'")
        text = tok[1]
        assert isinstance(text, str)
        if text.startswith("##"):
            if text != "##":
                raise parser.error("junk after '##' at end of documentation comment")
            return None
        if text == "#":
            return ""
        if text[1] != " ":
            raise parser.error("missing space after #")
        return text[2:].rstrip()

    def error(self, msg: str) -> QAPIParseError:
        return self._parser.error(msg)


def _reject_expr_doc(doc: docs.Doc | None) -> None:
    if doc is not None and doc.symbol:
        raise QAPISemError(
            doc.info,
            f"documentation for '{doc.symbol}' is not followed by the definition",
        )
