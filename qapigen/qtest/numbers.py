"""Numbers as QEMU's qtest server reads them: C's ``strtoul``/``strtoll`` with
base 0 (``0x`` hexadecimal, a leading ``0`` octal), over the whole word, as
``qemu_strtou64``, ``qemu_strtoul``, ``qemu_strtoi64`` and ``qemu_strtoi`` check
them.  Each function gives the value, or None where QEMU's check fails.
"""

from __future__ import annotations

import re

# As text: re compiles it on first use, off the start path.
_PATTERN = r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z"

_U64_END = 1 << 64
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_INT_MIN = -(1 << 31)
_INT_MAX = (1 << 31) - 1


def _parse(text: str) -> tuple[bool, int] | None:
    m = re.match(_PATTERN, text)
    if m is None:
        return None
    sign, digits = m.groups()
    if digits[:2] in ("0x", "0X"):
        magnitude = int(digits[2:], 16)
    elif digits.startswith("0"):
        magnitude = int(digits, 8)
    else:
        magnitude = int(digits, 10)
    return sign == "-", magnitude


def strtou64(text: str) -> int | None:
    """An unsigned 64-bit number; a minus sign wraps it, as ``strtoull`` does."""
    parsed = _parse(text)
    if parsed is None or parsed[1] >= _U64_END:
        return None  # no number, or ERANGE
    negative, magnitude = parsed
    return (-magnitude) % _U64_END if negative else magnitude


#: ``unsigned long`` is 64 bits wide on the hosts QEMU runs qtests on.
strtoul = strtou64


def strtoi64(text: str) -> int | None:
    """A signed 64-bit number."""
    parsed = _parse(text)
    if parsed is None:
        return None
    negative, magnitude = parsed
    value = -magnitude if negative else magnitude
    return value if _I64_MIN <= value <= _I64_MAX else None


def strtoi(text: str) -> int | None:
    """A C ``int``."""
    value = strtoi64(text)
    return value if value is not None and _INT_MIN <= value <= _INT_MAX else None
