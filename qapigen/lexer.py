"""Turns schema text into tokens.

The schema syntax is a small subset of JSON with single-quoted strings,
``true``/``false`` and ``#`` comments.  Every comment becomes a token, so
that the parser can read documentation comments as lines; the parser skips
ordinary comments itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from .errors import QAPIParseError
from .source import SourceInfo

# Token kinds.  Punctuation tokens use the character itself as their kind.
STRING = "'"
BOOL = "b"
COMMENT = "#"
EOF = ""

# The common tokens in one pass; anything this does not match is an error
# (or a string that needs the careful scan to report its error).
_SCAN = re.compile(
    r"(?P<ws>[^\S\n]+)"
    r"|(?P<nl>\n)"
    r"|(?P<comment>#[^\n]*)"
    r"|(?P<punct>[{}:,\[\]])"
    r"|'(?P<str>(?:[\x20-\x26\x28-\x5b\x5d-\x7e]|\\\\)*)'"
    r"|(?P<true>true)"
    r"|(?P<false>false)"
)
_STRAY = re.compile(r"[^\[\]{}:,\s']+")


class Token(NamedTuple):
    """One token: its kind, its value, where it starts."""

    kind: str
    value: str | bool | None
    pos: int
    info: SourceInfo


class Lexer:
    """Tokenizes one source file.  ``tokens()`` yields its tokens."""

    def __init__(self, src: str, info: SourceInfo) -> None:
        # A file is read as if it ended with a newline.
        if not src.endswith("\n"):
            src += "\n"
        self.src = src
        self.first_info = info

    def column(self, pos: int) -> int:
        """The 1-based column of ``pos``, with tabs at every 8th column."""
        start = self.src.rfind("\n", 0, pos) + 1
        col = 1
        for ch in self.src[start:pos]:
            col = (col + 7) % 8 + 1 if ch == "\t" else col + 1
        return col

    def error(self, token: Token, msg: str) -> QAPIParseError:
        return QAPIParseError(token.info, msg, self.column(token.pos))

    def tokens(self) -> Iterator[Token]:
        """Yield every token, comments included, ending with one ``EOF``."""
        src = self.src
        end = len(src)
        scan = _SCAN.match
        info = self.first_info
        line = info.line
        stale = False  # whether ``info`` is for an earlier line
        pos = 0
        while True:
            m = scan(src, pos)
            if m is None:
                if stale:
                    info, stale = info.at_line(line), False
                raise self._bad_token(pos, info)
            group = m.lastgroup
            new_pos = m.end()
            if group == "ws":
                pos = new_pos
                continue
            if group == "nl":
                if new_pos == end:
                    if stale:
                        info = info.at_line(line)
                    yield Token(EOF, None, pos, info)
                    return
                line += 1
                stale = True
                pos = new_pos
                continue
            if stale:
                info, stale = info.at_line(line), False
            if group == "punct":
                yield Token(src[pos], None, pos, info)
            elif group == "str":
                yield Token(STRING, m.group("str").replace("\\\\", "\\"), pos, info)
            elif group == "comment":
                yield Token(COMMENT, m.group(), pos, info)
            else:
                yield Token(BOOL, group == "true", pos, info)
            pos = new_pos

    def _bad_token(self, pos: int, info: SourceInfo) -> QAPIParseError:
        """The error for text at ``pos`` that is not a token."""
        src = self.src
        token = Token(EOF, None, pos, info)
        if src[pos] != "'":
            stray = _STRAY.match(src, pos)
            assert stray is not None
            return self.error(token, f"stray '{stray.group()}'")
        # A string the fast scan rejected: find its first fault.
        i = pos + 1
        escaped = False
        while True:
            ch = src[i]
            i += 1
            if ch == "\n":
                return self.error(token, 'missing terminating "\'"')
            if escaped:
                if ch != "\\":
                    return self.error(token, f"unknown escape \\{ch}")
                escaped = False
            elif ch == "\\":
                escaped = True
                continue
            elif ch == "'":
                raise AssertionError("the fast scan accepts this string")
            if not " " <= ch <= "~":
                return self.error(token, "funny character in string")
