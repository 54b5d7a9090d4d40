"""Turns schema text into tokens.

The schema syntax is a small subset of JSON with single-quoted strings,
``true``/``false`` and ``#`` comments.  Every comment becomes a token, so
that the parser can read documentation comments as lines; the parser skips
ordinary comments itself.

A token is a plain tuple ``(kind, value, pos, line)`` (tuples are much
cheaper than objects, and QEMU's full schema has some 50,000 tokens):
``kind`` is one of the constants below or the punctuation character itself,
``pos`` the offset of its first character, ``line`` its 1-based line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import QAPIParseError
from .source import SourceInfo

# Token kinds.  Punctuation tokens use the character itself as their kind.
STRING = "'"
BOOL = "b"
COMMENT = "#"
EOF = ""
# Not a token: text that is not one.  Its value is the error message; the
# parser raises it when it gets there, so that errors come in source order.
BAD = "!"

Token = tuple[str, str | bool | None, int, int]

# Leading blanks and one token, or a newline.  What this does not match is
# an error (or a string that needs the careful scan to report its error).
_SCAN = re.compile(
    r"[^\S\n]*(?:"
    r"(\n)"
    r"|(#[^\n]*)"
    r"|([{}:,\[\]])"
    r"|'((?:[\x20-\x26\x28-\x5b\x5d-\x7e]|\\\\)*)'"
    r"|(true)"
    r"|(false))"
)
_BLANKS = re.compile(r"[^\S\n]*")
_STRAY = re.compile(r"[^\[\]{}:,\s']+")


class Lexer:
    """Tokenizes one source file."""

    def __init__(self, src: str, info: SourceInfo) -> None:
        # A file is read as if it ended with a newline.
        if not src.endswith("\n"):
            src += "\n"
        self.src = src
        self._first_info = info
        self._infos: dict[int, SourceInfo] = {info.line: info}

    def info(self, line: int) -> SourceInfo:
        """The location of ``line``.  All tokens of a line share one."""
        info = self._infos.get(line)
        if info is None:
            info = self._infos[line] = self._first_info.at_line(line)
        return info

    def infos(self) -> Iterable[SourceInfo]:
        """Every location made so far."""
        return self._infos.values()

    def column(self, pos: int) -> int:
        """The 1-based column of ``pos``, with tabs at every 8th column."""
        start = self.src.rfind("\n", 0, pos) + 1
        col = 1
        for ch in self.src[start:pos]:
            col = (col + 7) % 8 + 1 if ch == "\t" else col + 1
        return col

    def error(self, token: Token, msg: str) -> QAPIParseError:
        return QAPIParseError(self.info(token[3]), msg, self.column(token[2]))

    def tokens(self) -> list[Token]:
        """Every token, comments included, ending with ``EOF`` or ``BAD``."""
        src = self.src
        scan = _SCAN.match
        out: list[Token] = []
        append = out.append
        line = self._first_info.line
        pos = 0  # where the current line starts
        # Line by line: most lines are comments or blank, and need no regex.
        for text in src.split("\n")[:-1]:
            stripped = text.lstrip()
            if stripped:
                p = pos + len(text) - len(stripped)
                if stripped[0] == "#":
                    append((COMMENT, stripped, p, line))
                else:
                    while True:
                        m = scan(src, p)
                        if m is None:
                            start = _BLANKS.match(src, p)
                            assert start is not None
                            p = start.end()
                            append((BAD, self._bad_token(p), p, line))
                            return out
                        kind = m.lastindex
                        if kind == 1:  # the end of the line
                            break
                        new_p = m.end()
                        if kind == 3:
                            append((src[new_p - 1], None, new_p - 1, line))
                        elif kind == 4:
                            value = m.group(4)
                            if "\\" in value:
                                value = value.replace("\\\\", "\\")
                            append((STRING, value, m.start(4) - 1, line))
                        elif kind == 2:
                            append((COMMENT, m.group(2), m.start(2), line))
                            break
                        else:
                            append((BOOL, kind == 5, new_p - (4 if kind == 5 else 5), line))
                        p = new_p
            pos += len(text) + 1
            line += 1
        # The end: at the final newline, on the last line (as QEMU reports it).
        append((EOF, None, len(src) - 1, line - 1))
        return out

    def _bad_token(self, pos: int) -> str:
        """The error message for text at ``pos`` that is not a token."""
        src = self.src
        if src[pos] != "'":
            stray = _STRAY.match(src, pos)
            assert stray is not None
            return f"stray '{stray.group()}'"
        # A string the fast scan rejected: find its first fault.
        i = pos + 1
        escaped = False
        while True:
            ch = src[i]
            i += 1
            if ch == "\n":
                return 'missing terminating "\'"'
            if escaped:
                if ch != "\\":
                    return f"unknown escape \\{ch}"
                escaped = False
            elif ch == "\\":
                escaped = True
                continue
            elif ch == "'":
                raise AssertionError("the fast scan accepts this string")
            if not " " <= ch <= "~":
                return "funny character in string"
