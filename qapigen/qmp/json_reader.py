"""JSON as QEMU 10.0's QMP monitor reads it, sans I/O.

:class:`JSONStreamReader` is fed bytes as they arrive and returns the JSON values
and errors they complete, exactly as QEMU's JSON lexer, streamer and parser
(``qobject/json-lexer.c``, ``json-streamer.c``, ``json-parser.c``) do:

- no separator is needed between values, and one read may hold several;
- single-quoted strings, the escape ``\\'``, ``\\u0000`` and the overlong bytes
  ``C0 80`` (both U+0000) are accepted; other malformed UTF-8, Unicode
  noncharacters and lone surrogates are not;
- a number or keyword (``true``, ``null``...) is complete only once the byte
  after it has arrived, so a lone ``42`` at the end of the input waits;
- errors carry QEMU's texts: ``JSON parse error, <what>`` from the parser,
  ``JSON parse error, stray '<text>'`` from the lexer, and the limits
  ``JSON token size limit exceeded`` (64 MiB), ``JSON token count limit
  exceeded`` (2^21 tokens) and ``JSON nesting depth limit exceeded`` (1024);
- recovery is QEMU's: a parse or limit error discards the tokens of the value
  being read, and reading goes on with the next token; after a stray byte the
  lexer skips input up to a structural character (``[]{}:,``), an ASCII
  control character other than tab, or a byte ``FE``/``FF``.

As in QEMU, a value ends as soon as the braces and brackets read since the
previous one balance (or a closing one has no opening one); only then is an
error in it reported.

The writer is :mod:`.json_writer`.

Where we differ from QEMU
-------------------------
Only where QEMU's behaviour is a hazard rather than a contract. Apart from the
cut in point 1, every value and error comes out as QEMU's, with the same text, at
the same point of the stream (checked against QEMU's own C code in the tests).

1. **An unterminated value does not swallow the commands after it.** In QEMU an
   unbalanced ``{`` (``{"execute": "stop"`` and a newline, or ``{{...}``) makes
   every later command part of the same value, unanswered, until the client
   happens to balance the braces or provokes a lexical error. We cut such a value
   short at a ``{`` that starts a line (the byte before it is ``\\n``), **if** the
   value read so far is already certain to be an error: an error has been
   found in it (QEMU would report that error once it balanced), or the ``{``
   cannot continue it (it comes where ``:``, ``,`` or a closing bracket is due:
   ``missing : in object pair``, ``expected separator in dict``/``list``), or it
   or an enclosing value stands where an object key is due (QEMU would parse the
   whole value, then report ``key is not a string in object``). We then report
   that error, as QEMU would have at the end of the value, and read the ``{`` as
   the start of a new value. A value that can still become valid is never cut,
   so multi-line values, even with a ``{`` at the start of a line, read as in
   QEMU. The difference shows only in streams QEMU never answers until a later
   lexical error: QEMU's reply is that lexical error (``stray '\\u001B'``), ours
   is the cut value's error followed by replies to the commands QEMU would have
   swallowed. Where the key of the cut value was itself malformed, QEMU's error
   (had it ever balanced) would have named that, ours says ``key is not a string
   in object``; and a limit that only the ``{`` would have crossed is checked
   against the new value.

2. **Time is linear, memory bounded.** QEMU queues every token of an unfinished
   value (up to 2^21 tokens, 64 MiB) and parses them once it balances; its
   monitor also reads a byte at a time (``monitor_can_read()`` returns 1), which
   is why 10 MiB took 33 s. We scan runs of bytes with regular expressions (a
   10 MiB string is a handful of steps, however it is split into reads; long
   arrays of scalars are read a run of elements at a time, a whole message of
   the usual kind, an object of plain strings, short integers, keywords and
   arrays and objects of those, in one step, by the standard library's JSON
   scanner) and parse each token
   as it arrives, keeping only the partial value, which QEMU's limits bound;
   once a value is known to be an error we keep nothing but its bracket counts.
   The limits are QEMU's, so what is accepted and rejected is unchanged.

QEMU's ``%`` interpolation (never enabled for QMP) is not supported.
"""

from __future__ import annotations

import enum
import functools
import re
import sys

from ..runtime.records import FrozenRecord
from .codepoints import is_valid_codepoint

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Final

    from qapigen.runtime import JSONValue

__all__ = [
    "MAX_NESTING",
    "MAX_TOKEN_COUNT",
    "MAX_TOKEN_SIZE",
    "SIMPLE_AFTER",
    "JSONError",
    "JSONMessage",
    "JSONStreamReader",
    "c_string_text",
]

#: QEMU's limit on one token and on the tokens of one value, in bytes.
MAX_TOKEN_SIZE: Final = 64 << 20
#: QEMU's limit on the number of tokens of one value.
MAX_TOKEN_COUNT: Final = 2 << 20
#: QEMU's limit on open braces plus brackets.
MAX_NESTING: Final = 1 << 10


class JSONMessage(FrozenRecord):
    """A complete JSON value read from the stream."""

    __slots__ = ("value",)
    _FIELDS = ("value",)
    value: JSONValue

    def __init__(self, value: JSONValue) -> None:
        object.__setattr__(self, "value", value)


class JSONError(FrozenRecord):
    """A value the stream could not give: ``desc`` is QEMU's error text."""

    __slots__ = ("desc",)
    _FIELDS = ("desc",)
    desc: str

    def __init__(self, desc: str) -> None:
        object.__setattr__(self, "desc", desc)


# ---------------------------------------------------------------------------
# The lexer: QEMU's transition table, json-lexer.c, without interpolation.

# States, numbered as QEMU numbers them (the numbers only need to be distinct).
_ERROR: Final = 0
_RECOVERY: Final = 1
_DQ_ESCAPE: Final = 2
_DQ: Final = 3
_SQ_ESCAPE: Final = 4
_SQ: Final = 5
_ZERO: Final = 6
_EXP_DIGITS: Final = 7
_EXP_SIGN: Final = 8
_EXP_E: Final = 9
_MANTISSA: Final = 10
_MANTISSA_DIGITS: Final = 11
_DIGITS: Final = 12
_SIGN: Final = 13
_KEYWORD: Final = 14
_START: Final = 15

# Token types, above every state as in QEMU.
_LCURLY: Final = 100
_RCURLY: Final = 101
_LSQUARE: Final = 102
_RSQUARE: Final = 103
_COLON: Final = 104
_COMMA: Final = 105
_INTEGER: Final = 106
_FLOAT: Final = 107
_KEYWORD_TOKEN: Final = 108
_STRING: Final = 109

# A transition flagged LOOKAHEAD does not consume its byte: the byte is read
# again in the new state.
_LOOKAHEAD: Final = 0x80


@functools.cache
def _table() -> tuple[tuple[int, ...], ...]:
    """QEMU's transition table, for the slow path (built on first use, as the patterns)."""
    table = [[_ERROR] * 256 for _ in range(_START + 1)]

    def put(state: int, chars: bytes | range, to: int) -> None:
        for c in chars:
            table[state][c] = to

    digits = range(0x30, 0x3A)
    put(_RECOVERY, range(0x20, 0xFE), _RECOVERY)
    put(_RECOVERY, range(0x00, 0x20), _START | _LOOKAHEAD)
    put(_RECOVERY, b"\xfe\xff[]{}:,", _START | _LOOKAHEAD)
    put(_RECOVERY, b"\t", _RECOVERY)
    for string, escape, quote in ((_DQ, _DQ_ESCAPE, b'"'), (_SQ, _SQ_ESCAPE, b"'")):
        put(escape, range(0x20, 0xFE), string)
        put(string, range(0x20, 0xFE), string)
        put(string, b"\\", escape)
        put(string, quote, _STRING)
    put(_ZERO, range(256), _INTEGER | _LOOKAHEAD)
    put(_ZERO, digits, _ERROR)
    put(_ZERO, b".", _MANTISSA)
    put(_EXP_DIGITS, range(256), _FLOAT | _LOOKAHEAD)
    put(_EXP_DIGITS, digits, _EXP_DIGITS)
    put(_EXP_SIGN, digits, _EXP_DIGITS)
    put(_EXP_E, b"-+", _EXP_SIGN)
    put(_EXP_E, digits, _EXP_DIGITS)
    put(_MANTISSA_DIGITS, range(256), _FLOAT | _LOOKAHEAD)
    put(_MANTISSA_DIGITS, digits, _MANTISSA_DIGITS)
    put(_MANTISSA_DIGITS, b"eE", _EXP_E)
    put(_MANTISSA, digits, _MANTISSA_DIGITS)
    put(_DIGITS, range(256), _INTEGER | _LOOKAHEAD)
    put(_DIGITS, digits, _DIGITS)
    put(_DIGITS, b"eE", _EXP_E)
    put(_DIGITS, b".", _MANTISSA)
    put(_SIGN, b"0", _ZERO)
    put(_SIGN, range(0x31, 0x3A), _DIGITS)
    put(_KEYWORD, range(256), _KEYWORD_TOKEN | _LOOKAHEAD)
    put(_KEYWORD, range(0x61, 0x7B), _KEYWORD)
    put(_START, b'"', _DQ)
    put(_START, b"'", _SQ)
    put(_START, b"0", _ZERO)
    put(_START, range(0x31, 0x3A), _DIGITS)
    put(_START, b"-", _SIGN)
    structural = (_LCURLY, _RCURLY, _LSQUARE, _RSQUARE, _COLON, _COMMA)
    for char, token in zip(b"{}[]:,", structural, strict=True):
        table[_START][char] = token
    put(_START, range(0x61, 0x7B), _KEYWORD)
    put(_START, b" \t\r\n", _START)
    return tuple(tuple(row) for row in table)


# The bytes that keep a state in itself and are consumed, for skipping runs of
# them at C speed instead of one transition at a time.
_DQ_PLAIN = rb"\x20\x21\x23-\x5b\x5d-\xfd"
_SQ_PLAIN = rb"\x20-\x26\x28-\x5b\x5d-\xfd"


# Regular expressions are compiled on first use (the functions below,
# cached): a short-lived `qapigen vm` answering a handful of commands never
# needs most of them, and compiling them all took longer than reading its
# whole schema package; where every message is simple (libvirt's), not even
# the token's (~1 ms).


@functools.cache
def _run_res() -> dict[int, Callable[[bytes, int], re.Match[bytes] | None]]:
    return {
        _DQ: re.compile(rb"[" + _DQ_PLAIN + rb"]*+").match,
        _SQ: re.compile(rb"[" + _SQ_PLAIN + rb"]*+").match,
        _DIGITS: re.compile(rb"[0-9]*+").match,
        _MANTISSA_DIGITS: re.compile(rb"[0-9]*+").match,
        _EXP_DIGITS: re.compile(rb"[0-9]*+").match,
        _KEYWORD: re.compile(rb"[a-z]*+").match,
        _RECOVERY: re.compile(rb"[^\x00-\x08\x0a-\x1f\xfe\xff\[\]{}:,]*+").match,
    }


# One whole token from the start state, found in one regular-expression match:
# optional whitespace, then a structural character, a complete string, or a
# number or keyword followed by the byte that ends it (QEMU needs that byte
# too). Anything else (an error, a token cut off by the end of the input) is
# left to the transition table. Group numbers give the token type.
@functools.cache
def _token_re() -> Callable[[bytes, int], re.Match[bytes] | None]:
    return re.compile(
        rb"[ \t\r\n]*+(?:(\{)|(\})|(\[)|(\])|(:)|(,)"
        rb'|("[' + _DQ_PLAIN + rb"]*+(?:\\[\x20-\xfd][" + _DQ_PLAIN + rb']*+)*+"'
        rb"|'[" + _SQ_PLAIN + rb"]*+(?:\\[\x20-\xfd][" + _SQ_PLAIN + rb"]*+)*+')"
        rb"|(-?(?:0|[1-9][0-9]*+)\.[0-9]++(?:[eE][-+]?[0-9]++(?=[^0-9])|(?=[^0-9eE]))"
        rb"|-?[1-9][0-9]*+[eE][-+]?[0-9]++(?=[^0-9]))"
        rb"|(-?(?:0(?=[^0-9.])|[1-9][0-9]*+(?=[^0-9eE.])))"
        rb"|([a-z]++(?=[^a-z])))?"
    ).match


# A run of scalar array elements, each with its comma: "0,", "true, ", '"a",'.
# Long arrays are read a run at a time (see JSONStreamReader._elements): plain
# ASCII strings, the three keywords, numbers in QEMU's forms (not "0e5", which
# QEMU reads as 0 and a keyword); a following byte always ends each.
_ELEMENT = (
    rb'"[\x20\x21\x23-\x5b\x5d-\x7f]*+"|true|false|null'
    rb"|-?(?:0(?:\.[0-9]++(?:[eE][-+]?[0-9]++)?)?|[1-9][0-9]*+(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?)"
)
# The same for integers of at most 18 digits, which int() converts as QEMU does.
_SMALL_INT = rb"-?(?:0|[1-9][0-9]{0,17}+)"


@functools.cache
def _element_res() -> tuple[re.Pattern[bytes], ...]:
    """Runs of small integers, one of them, runs of elements, one of them."""
    return (
        re.compile(rb"(?:[ \t\r\n]*+" + _SMALL_INT + rb"[ \t\r\n]*+,){1,1024}+"),
        re.compile(rb"[ \t\r\n]*+(" + _SMALL_INT + rb")[ \t\r\n]*+,"),
        re.compile(rb"(?:[ \t\r\n]*+(?:" + _ELEMENT + rb")[ \t\r\n]*+,){1,1024}+"),
        re.compile(rb"[ \t\r\n]*+(" + _ELEMENT + rb")[ \t\r\n]*+,"),
    )


# A whole message of the usual kind, read in one step (see
# JSONStreamReader._simple): an object whose members are printable ASCII
# strings without escapes, integers of at most 18 digits, keywords, or arrays
# and objects of those, nested at most _SIMPLE_DEPTH deep.  QEMU reads every
# such message into the value the standard library's JSON scanner gives,
# unless a key comes twice (QEMU's parser says so; the scanner keeps the last).
_SIMPLE_DEPTH: Final = 4
_SIMPLE_INT_END: Final = 10**18


#: The values a reader reads token by token before it reads simple messages
#: whole, unless the standard library's ``json`` is imported already: that
#: takes its scanner, and importing it (~1 ms) costs what reading some thirty
#: messages token by token would save; a short session (a harness that starts a
#: machine, sends a few commands and quits) does better without.
SIMPLE_AFTER: Final = 32


# A simple message is looked for on its line, at most this long (the bytes
# are copied for the scanner): longer ones, and messages over several
# lines, are read token by token.
_SIMPLE_LINE: Final = 64 << 10


@functools.cache
def _json_scanner() -> tuple[Callable[[str, int], tuple[Any, int]], Callable[[bytes, int], Any]]:
    """The standard library's JSON scanner (in C; strict: no control
    characters in strings), and a match of QEMU's blanks (the scanner's too)."""
    import json.scanner

    scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    return scan, re.compile(rb"[ \t\r\n]*+").match


def _simple_keys(container: dict[str, object] | list[object], depth: int) -> int:
    """How many keys ``container`` (as the JSON scanner read it) and the objects
    in it have; -1 unless it holds only strings, integers of at most 18 digits,
    keywords, and arrays and objects of those nested at most ``depth`` deep
    (``container`` being the first level)."""
    if type(container) is dict:
        count = len(container)
        items: Iterable[object] = container.values()
    else:
        count = 0
        items = container
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -_SIMPLE_INT_END < item < _SIMPLE_INT_END:  # type: ignore[operator]
                continue
            return -1
        if (kind is dict or kind is list) and depth > 1:
            inner = _simple_keys(item, depth - 1)  # type: ignore[arg-type]
            if inner < 0:
                return -1
            count += inner
            continue
        return -1  # a float (NaN and Infinity too), or nested too deep
    return count


_GROUP_TOKEN: Final = (
    0,
    _LCURLY,
    _RCURLY,
    _LSQUARE,
    _RSQUARE,
    _COLON,
    _COMMA,
    _STRING,
    _FLOAT,
    _INTEGER,
    _KEYWORD_TOKEN,
)


# ---------------------------------------------------------------------------
# Strings: QEMU's modified UTF-8 (json-parser.c parse_string, util/unicode.c).

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    chr(plane + 0xFFFE) + chr(plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000)
)


@functools.cache
def _noncharacter_re() -> re.Pattern[str]:
    return re.compile("[" + _NONCHARACTERS + "]")


@functools.cache
def _valid_utf8_re() -> re.Pattern[bytes]:
    """A run of well-formed, shortest-form UTF-8 without NUL and surrogates."""
    return re.compile(
        rb"(?:[\x01-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
        rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
        rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})++"
    )


_MIN_CODEPOINT: Final = (0x80, 0x800, 0x10000, 0x200000, 0x4000000)


def _has_noncharacter(text: str) -> bool:
    # max() is cheap, the regular expression is not: most text stays below.
    return bool(text) and max(text) >= "\ufdd0" and _noncharacter_re().search(text) is not None


def _mod_utf8_codepoint(s: bytes, i: int) -> tuple[int, int]:
    """QEMU's ``mod_utf8_codepoint`` at ``s[i]`` (not NUL): (code point or -1, end)."""
    byte = s[i]
    if byte < 0x80:
        return byte, i + 1
    if byte >= 0xFE or not byte & 0x40:
        return -1, i + 1
    length = 0
    mask = 0x80
    while byte & mask:
        length += 1
        mask >>= 1
    cp = byte & (mask - 1)
    p = i + 1
    for _ in range(1, length):
        # Past the end is the C string's NUL, which is no continuation byte.
        cont = s[p] if p < len(s) else 0
        if cont & 0xC0 != 0x80:
            return -1, p
        p += 1
        cp = cp << 6 | cont & 0x3F
    if not is_valid_codepoint(cp) or (cp < _MIN_CODEPOINT[length - 2] and (cp, length) != (0, 2)):
        return -1, p
    return cp, p


def c_string_text(raw: bytes) -> str:
    """The text QEMU's JSON writer shows for the C string ``raw``.

    The string ends at its first NUL; ``C0 80`` is U+0000; every invalid
    sequence becomes one U+FFFD, cut where QEMU's decoder cuts it.
    """
    nul = raw.find(0)
    if nul >= 0:
        raw = raw[:nul]
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        pass
    else:
        return _noncharacter_re().sub("\ufffd", text) if _has_noncharacter(text) else text
    parts = []
    i = 0
    valid_run = _valid_utf8_re().match
    noncharacter = _noncharacter_re()
    while i < len(raw):
        m = valid_run(raw, i)
        if m is not None:
            parts.append(noncharacter.sub("\ufffd", raw[i : m.end()].decode()))
            i = m.end()
        else:
            cp, i = _mod_utf8_codepoint(raw, i)
            parts.append("\ufffd" if cp < 0 else chr(cp))
    return "".join(parts)


class _SyntaxError(Exception):
    """A parse error found while converting a token: QEMU's text, unprefixed."""


def _plain_text(raw: bytes) -> str:
    """The text of the unescaped bytes of a string token, or a parse error."""
    if b"\xc0\x80" in raw:
        # C0 80 only ever starts a sequence (C0 is no continuation byte), so
        # reading it as NUL and the rest as strict UTF-8 is QEMU's decoding.
        raw = raw.replace(b"\xc0\x80", b"\0")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise _SyntaxError("invalid UTF-8 sequence in string") from None
    if _has_noncharacter(text):
        raise _SyntaxError("invalid UTF-8 sequence in string")
    return text


_SIMPLE_ESCAPES: Final = {
    0x22: '"',
    0x27: "'",
    0x5C: "\\",
    0x2F: "/",
    0x62: "\b",
    0x66: "\f",
    0x6E: "\n",
    0x72: "\r",
    0x74: "\t",
}
_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")


def _hex4(token: bytes, i: int) -> int:
    """QEMU's ``cvt4hex`` on ``token[i:i + 4]``: -1 unless four hex digits."""
    digits = token[i : i + 4]
    return int(digits, 16) if len(digits) == 4 and _HEX_DIGITS.issuperset(digits) else -1


def _parse_string(token: bytes) -> str:
    """The text of a string token (quotes included), as QEMU's ``parse_string``."""
    end = len(token) - 1
    if token.find(b"\\", 1, end) < 0:
        return _plain_text(token[1:end])
    parts = []
    i = 1
    while i < end:
        j = token.find(b"\\", i, end)
        if j < 0:
            parts.append(_plain_text(token[i:end]))
            break
        parts.append(_plain_text(token[i:j]))
        escape = token[j + 1]
        i = j + 2
        simple = _SIMPLE_ESCAPES.get(escape)
        if simple is not None:
            parts.append(simple)
            continue
        if escape != 0x75:  # not "u"
            raise _SyntaxError("invalid escape sequence in string")
        cp = _hex4(token, i)
        i += 4
        if 0xD800 <= cp <= 0xDBFF and token[i : i + 2] == b"\\u":
            trailing = _hex4(token, i + 2)
            if 0xDC00 <= trailing <= 0xDFFF:
                cp = 0x10000 + ((cp & 0x3FF) << 10 | trailing & 0x3FF)
                i += 6
            else:
                cp = -1
        if not is_valid_codepoint(cp):
            # The escape as QEMU prints it: up to where it stopped reading,
            # which may run past the closing quote (the C string's NUL ends it).
            shown = c_string_text(token[j:i])
            raise _SyntaxError(f"{shown} is not a valid Unicode character")
        parts.append(chr(cp))
    return "".join(parts)


_INT64_MIN: Final = -(1 << 63)
_UINT64_END: Final = 1 << 64


def _parse_number(kind: int, token: bytes) -> int | float:
    """QEMU's QNum for a number token: int64, else uint64, else double."""
    # Twenty characters hold every 64-bit integer; longer ones are doubles, and
    # int() would refuse the longest of them.
    if kind == _INTEGER and len(token) <= 20:
        value = int(token)
        if _INT64_MIN <= value < _UINT64_END:
            return value
    return float(token)


def _element_value(text: bytes) -> JSONValue:
    """The value of an element of a run read in bulk (see _ELEMENT)."""
    first = text[0]
    if first == 0x22:  # '"'
        return text[1:-1].decode("ascii")
    if first >= 0x61:  # a keyword
        return _KEYWORDS[text]
    is_float = b"." in text or b"e" in text or b"E" in text
    return _parse_number(_FLOAT if is_float else _INTEGER, text)


# ---------------------------------------------------------------------------
# The streamer and parser.

# Parser states of an open object or array: where in it the next token falls.
_OBJECT_START: Final = 0  # after "{": "}" or a key
_OBJECT_KEY: Final = 1  # after ",": a key
_OBJECT_COLON: Final = 2  # after a key
_OBJECT_VALUE: Final = 3  # after ":"
_OBJECT_NEXT: Final = 4  # after a member: "," or "}"
_ARRAY_START: Final = 5  # after "[": "]" or a value
_ARRAY_VALUE: Final = 6  # after ","
_ARRAY_NEXT: Final = 7  # after an element: "," or "]"

_ARRAY_VALUE_STATES: Final = (_ARRAY_START, _ARRAY_VALUE)

_PARSE_ERROR: Final = "JSON parse error, "
_KEY_NOT_STRING: Final = _PARSE_ERROR + "key is not a string in object"
# The error a "{" makes in the states that cannot take it.
_LCURLY_ERRORS: Final = {
    _OBJECT_COLON: _PARSE_ERROR + "missing : in object pair",
    _OBJECT_NEXT: _PARSE_ERROR + "expected separator in dict",
    _ARRAY_NEXT: _PARSE_ERROR + "expected separator in list",
    _OBJECT_START: _KEY_NOT_STRING,
    _OBJECT_KEY: _KEY_NOT_STRING,
}
_KEYWORDS: Final[dict[bytes, JSONValue]] = {b"true": True, b"false": False, b"null": None}
# QEMU formats parser errors into a 1024-byte buffer.
_PARSER_MESSAGE_MAX: Final = 1023


class _Nothing(enum.Enum):
    """No value finished by a token."""

    NOTHING = enum.auto()


class _Frame:
    """An open object or array, and where in it the next token falls."""

    __slots__ = ("container", "key", "state")

    def __init__(self, container: dict[str, JSONValue] | list[JSONValue], state: int) -> None:
        self.container = container
        self.state = state
        self.key = ""


class JSONStreamReader:
    """QEMU's JSON message parser, fed bytes; see the module's documentation.

    The limits default to QEMU's; smaller ones bound memory further.
    """

    def __init__(
        self,
        *,
        max_token_size: int = MAX_TOKEN_SIZE,
        max_token_count: int = MAX_TOKEN_COUNT,
        max_nesting: int = MAX_NESTING,
    ) -> None:
        self._max_size = max_token_size
        self._max_count = max_token_count
        self._max_nesting = max_nesting
        # The longest simple message that cannot reach a limit: its tokens are
        # fewer, and their bytes not more, than its length; and how deep it
        # may nest (not past the nesting limit).
        self._simple_max = min(max_token_size - 1, max_token_count)
        self._simple_depth = min(max_nesting, _SIMPLE_DEPTH)
        # Values and errors read so far.
        self._read = 0
        # Lexer: state, the bytes of the token being read, whether the last
        # byte fed was a newline (for the byte before a "{" at a read's start).
        self._state = _START
        self._token_bytes = bytearray()
        self._after_newline = False
        self._results: list[JSONMessage | JSONError] = []
        # Streamer: the counts QEMU keeps for the value being read.
        self._braces = 0
        self._brackets = 0
        self._tokens = 0
        self._size = 0
        # Parser: the open containers, the first error, the finished value.
        self._stack: list[_Frame] = []
        self._error: str | None = None
        self._value: JSONValue = None

    def feed(self, data: bytes) -> list[JSONMessage | JSONError]:
        """Read ``data``; return the values and errors it completes, in order."""
        results = self._results = []
        state = self._state
        token_bytes = self._token_bytes
        token = self._token
        max_size = self._max_size
        pos = 0
        n = len(data)
        token_re = None
        while pos < n:
            if (
                state == _START
                and not self._tokens
                and (self._read >= SIMPLE_AFTER or "json" in sys.modules)
                and self._simple_depth
            ):
                # Between values: a whole simple message is read at once.
                end = self._simple(data, pos)
                if end:
                    pos = end
                    continue
            if state == _START:
                if token_re is None:
                    token_re = _token_re()
                m = token_re(data, pos)
                assert m is not None  # every part of the pattern is optional
                group = m.lastindex
                if group is not None:
                    start = m.start(group)
                    end = m.end()
                    # A token QEMU would cut at the size limit takes the slow path.
                    if end - start <= max_size:
                        kind = _GROUP_TOKEN[group]
                        after_newline = data[start - 1] == 0x0A if start else self._after_newline
                        token(kind, data[start:end], after_newline)
                        pos = end
                        if kind in (_LSQUARE, _COMMA):
                            pos = self._elements(data, pos)
                        continue
                    pos = start
                else:
                    pos = m.end()
                    if pos == n:
                        break
            run = _run_res().get(state)
            if run is not None:
                match = run(data, pos)
                assert match is not None  # a run may be empty
                end = match.end()
                if end > pos:
                    if state == _RECOVERY:
                        pos = end
                        continue
                    # QEMU checks the size after every byte: stop where it would.
                    end = min(end, pos + max_size + 1 - len(token_bytes))
                    token_bytes += data[pos:end]
                    pos = end
                    if len(token_bytes) > max_size:
                        self._fail("JSON token size limit exceeded")
                        token_bytes.clear()
                        state = _START
                    continue
            byte = data[pos]
            following = _table()[state][byte]
            if following & _LOOKAHEAD:
                following &= ~_LOOKAHEAD
            else:
                token_bytes.append(byte)
                pos += 1
            if following >= _LCURLY:
                # Never a "{" (the fast path reads every one), so no newline check.
                token(following, bytes(token_bytes), False)
                token_bytes.clear()
                state = _START
            elif following == _ERROR:
                self._fail(f"JSON parse error, stray '{c_string_text(bytes(token_bytes))}'")
                token_bytes.clear()
                state = _RECOVERY
            elif following in (_START, _RECOVERY):
                token_bytes.clear()
                state = following
            else:
                state = following
                if len(token_bytes) > max_size:
                    self._fail("JSON token size limit exceeded")
                    token_bytes.clear()
                    state = _START
        if n:
            self._after_newline = data[-1] == 0x0A
        self._state = state
        self._read += len(results)
        self._results = []
        return results

    def _simple(self, data: bytes, pos: int) -> int:
        """Read a simple message at ``pos``, if one is there whole on its line,
        as the tokens one by one would; where it ends, the blanks after it
        read too, or 0."""
        scan, blanks = _json_scanner()
        start = blanks(data, pos).end()
        if data[start : start + 1] != b"{":
            return 0
        line_end = data.find(b"\n", start, start + _SIMPLE_LINE)
        if line_end < 0 and len(data) - start > _SIMPLE_LINE:
            return 0
        line = data[start:] if line_end < 0 else data[start:line_end]
        try:
            # One character a byte: what is not ASCII is refused below.
            value, length = scan(line.decode("latin-1"), 0)
        except (ValueError, StopIteration, RecursionError):
            return 0  # not JSON, or not whole yet: the tokens tell
        if length > self._simple_max:
            return 0
        message = line[:length]
        # No escapes, no byte but printable ASCII in strings (the scanner
        # refuses control characters there, and blanks are its only others).
        if not message.isascii() or b"\\" in message or b"\x7f" in message:
            return 0
        # One colon a key, unless a key comes twice (or a string holds one).
        keys = _simple_keys(value, self._simple_depth)
        if keys < 0 or keys != message.count(b":"):
            return 0
        self._results.append(JSONMessage(value))
        end: int = blanks(data, start + length).end()
        return end

    # -- streamer (json-streamer.c) ------------------------------------------

    def _token(self, kind: int, text: bytes, after_newline: bool) -> None:
        """QEMU's json_message_process_token(), with the parser run as tokens come."""
        if kind <= _RSQUARE:
            if kind == _LCURLY:
                if after_newline and self._tokens:
                    error = self._doomed_by_lcurly()
                    if error is not None:
                        self._fail(error)
                self._braces += 1
            elif kind == _RCURLY:
                self._braces -= 1
            elif kind == _LSQUARE:
                self._brackets += 1
            else:
                self._brackets -= 1
        size = self._size + len(text)
        if size + 1 > self._max_size:
            self._fail("JSON token size limit exceeded")
            return
        if self._tokens + 1 > self._max_count:
            self._fail("JSON token count limit exceeded")
            return
        if self._braces + self._brackets > self._max_nesting:
            self._fail("JSON nesting depth limit exceeded")
            return
        self._tokens += 1
        self._size = size
        if self._error is None:
            self._parse(kind, text)
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 and self._brackets >= 0:
            return
        if self._error is not None:
            self._fail(self._error)
        else:
            self._results.append(JSONMessage(self._value))
            self._reset()

    def _elements(self, data: bytes, pos: int) -> int:
        """Read runs of scalar elements at ``pos`` in bulk, if an array is open there.

        Returns where reading stopped. A run is only read if every token in it
        passes QEMU's limits; one that would cross them is left to _token(),
        which fails where QEMU does.
        """
        stack = self._stack
        if self._error is not None or not stack or stack[-1].state not in _ARRAY_VALUE_STATES:
            return pos
        elements = stack[-1].container
        assert isinstance(elements, list)  # array states hold lists
        small_int_run, small_int, element_run, element = _element_res()
        while True:
            m = small_int_run.match(data, pos)
            if m is not None:
                texts = small_int.findall(data, pos, m.end())
                convert: Callable[[bytes], JSONValue] = int
            else:
                m = element_run.match(data, pos)
                if m is None:
                    return pos
                texts = element.findall(data, pos, m.end())
                convert = _element_value
            tokens = self._tokens + 2 * len(texts)
            size = self._size + sum(map(len, texts)) + len(texts)
            if tokens > self._max_count or size + 1 > self._max_size:
                return pos
            self._tokens = tokens
            self._size = size
            elements.extend(map(convert, texts))
            stack[-1].state = _ARRAY_VALUE
            pos = m.end()

    def clear(self) -> None:
        """Forget the message being read, as QEMU forgets it when its monitor's
        input ends (its parser is made anew): what was fed of it is never read."""
        self._state = _START
        self._token_bytes = bytearray()
        self._after_newline = False
        self._reset()

    def _fail(self, desc: str) -> None:
        self._results.append(JSONError(desc))
        self._reset()

    def _reset(self) -> None:
        self._braces = self._brackets = self._tokens = self._size = 0
        self._stack = []
        self._error = None
        self._value = None

    def _doomed_by_lcurly(self) -> str | None:
        """The error of the open value, if it is certain once a "{" follows."""
        if self._error is not None:
            return self._error
        # Without an error, every open bracket of the value has its frame.
        stack = self._stack
        error = _LCURLY_ERRORS.get(stack[-1].state)
        if error is None and any(frame.state <= _OBJECT_KEY for frame in stack[:-1]):
            return _KEY_NOT_STRING
        return error

    # -- parser (json-parser.c, one token at a time) ---------------------------

    def _set_error(self, desc: str) -> None:
        self._error = _PARSE_ERROR + desc
        # The value is lost; keep none of it.
        self._stack = []

    def _parse(self, kind: int, text: bytes) -> None:
        """Take one token: open or close a container, or finish a scalar."""
        stack = self._stack
        value: JSONValue | _Nothing
        if stack:
            frame = stack[-1]
            state = frame.state
            if state in (_OBJECT_NEXT, _ARRAY_NEXT):
                if kind == _COMMA:
                    frame.state = _OBJECT_KEY if state == _OBJECT_NEXT else _ARRAY_VALUE
                    return
                if kind != (_RCURLY if state == _OBJECT_NEXT else _RSQUARE):
                    sort = "dict" if state == _OBJECT_NEXT else "list"
                    self._set_error(f"expected separator in {sort}")
                    return
                stack.pop()
                value = frame.container
            elif state == _OBJECT_COLON:
                if kind == _COLON:
                    frame.state = _OBJECT_VALUE
                else:
                    self._set_error("missing : in object pair")
                return
            elif (kind == _RCURLY and state == _OBJECT_START) or (
                kind == _RSQUARE and state == _ARRAY_START
            ):
                stack.pop()
                value = frame.container
            else:
                value = self._scalar(kind, text)
        else:
            value = self._scalar(kind, text)
        if value is _Nothing.NOTHING:
            return
        # Put the finished value where the parser stands.
        if not stack:
            self._value = value
            return
        frame = stack[-1]
        container = frame.container
        if isinstance(container, list):
            container.append(value)
            frame.state = _ARRAY_NEXT
        elif frame.state == _OBJECT_VALUE:
            if frame.key in container:
                self._set_error("duplicate key")
            else:
                container[frame.key] = value
                frame.state = _OBJECT_NEXT
        elif type(value) is str:
            frame.key = value
            frame.state = _OBJECT_COLON
        else:
            self._set_error("key is not a string in object")

    def _scalar(self, kind: int, text: bytes) -> JSONValue | _Nothing:
        """Read a value where QEMU's parse_value() would (a key too).

        Returns a scalar, or NOTHING after opening a container or an error.
        """
        if kind == _STRING:
            # Plain ASCII needs no decoding rules.
            if text.isascii() and 0x5C not in text:
                return text[1:-1].decode("ascii")
            try:
                return _parse_string(text)
            except _SyntaxError as e:
                self._set_error(str(e))
        elif kind == _LCURLY:
            self._stack.append(_Frame({}, _OBJECT_START))
        elif kind == _LSQUARE:
            self._stack.append(_Frame([], _ARRAY_START))
        elif kind in (_INTEGER, _FLOAT):
            return _parse_number(kind, text)
        elif kind == _KEYWORD_TOKEN:
            if text in _KEYWORDS:
                return _KEYWORDS[text]
            message = f"invalid keyword '{text.decode('ascii')}'"
            self._set_error(message[:_PARSER_MESSAGE_MAX])
        else:
            self._set_error("expecting value")
        return _Nothing.NOTHING
