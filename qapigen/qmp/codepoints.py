"""Which code points are characters, as QEMU's ``util/unicode.c`` decides.

Shared by the JSON reader (what a string may hold) and the writer (what it
writes as U+FFFD).
"""

from __future__ import annotations

__all__ = ["is_valid_codepoint"]


def is_valid_codepoint(cp: int) -> bool:
    """Whether ``cp`` is a Unicode scalar value and not a noncharacter."""
    return (
        0 <= cp <= 0x10FFFF
        and not 0xFDD0 <= cp <= 0xFDEF
        and cp & 0xFFFE != 0xFFFE
        and not 0xD800 <= cp <= 0xDFFF
    )
