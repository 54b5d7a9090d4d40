"""The numbers and ids of QEMU's options, scanned by hand (qapigen.machine.options),
read as the regular expressions that state QEMU's syntax read them.

The scanners replaced these expressions (``qapigen vm`` must not import ``re``
before its greeting); each expression below is the reviewed statement of what
QEMU accepts, and the scanners must accept exactly that, with the same value.
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from qapigen.machine.options import id_wellformed, parse_size, parse_uint64

# strtoull with base 0 on the whole string (leading isspace() skipped).
UINT = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")
# -m: a number (hexadecimal, or decimal with a fraction), then one unit letter.
SIZE = re.compile(r"[ \t\n\v\f\r]*(0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?)([bBkKmMgGtTpPeE]?)\Z")
ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*\Z")

UNITS = {"": 20, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}

# Characters that matter to the syntax, and some that look like them but are
# not ASCII (a Unicode digit, the Kelvin sign that lowercases to "k", ...).
ALPHABET = "0123456789abcdefxXABCDEFbBkKmMgGtTpPeEzZ.+-_ \t\n\v\f\r\u0663\u212a\u00e9"
texts = st.text(alphabet=ALPHABET, max_size=12)


def uint_by_regex(text: str) -> int | None:
    m = UINT.match(text)
    if m is None:
        return None
    sign, digits = m.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits, 10)
    if value >= 1 << 64:
        return None
    return (-value) % (1 << 64) if sign == "-" else value


def size_by_regex(text: str) -> int | None:
    m = SIZE.match(text)
    if m is None:
        return None
    number, unit = m.groups()
    shift = UNITS[unit.lower()]
    if number[:2] in ("0x", "0X"):
        value = int(number, 16) << shift
    else:
        whole, _, fraction = number.partition(".")
        value = (int(whole + fraction) << shift) // 10 ** len(fraction)
    return value if value < 1 << 64 else None


@given(texts)
@example("0x")
@example("08")
@example(" -0x10")
@example("\u0663")
@example("18446744073709551616")
def test_uint64_is_read_as_strtoull_on_the_whole_string(text: str) -> None:
    assert parse_uint64(text) == uint_by_regex(text)


@given(texts)
@example("0x1b")
@example("0x1bk")
@example("1.")
@example(".5")
@example("1\u212a")
@example("2kk")
@example("0xk")
def test_size_is_a_number_and_one_unit_letter(text: str) -> None:
    assert parse_size(text) == size_by_regex(text)


@given(st.text(alphabet="aZ09._-\u00e9 ,", max_size=8))
@example("")
@example("9a")
@example("a\u00e9")
def test_id_is_a_letter_then_letters_digits_dots_dashes_underscores(text: str) -> None:
    assert id_wellformed(text) == (ID.match(text) is not None)
