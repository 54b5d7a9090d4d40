"""QEMU's ``key=value,...`` option syntax, as its QemuOpts parser reads it.

Only the syntax lives here; what the keys mean is up to the caller.  The
parser keeps QEMU's quirks, because a harness written against QEMU may rely on
them: a doubled comma is a literal comma, a bare ``key`` means ``key=on`` and
a bare ``nokey`` means ``key=off`` (both deprecated, with a warning), and the
first item may omit its key when the option has an implied one
(``-device pvpanic`` is ``driver=pvpanic``).
"""

from __future__ import annotations

from ..runtime.records import NamedTuple


class OptItem(NamedTuple):
    """One ``key=value`` item of an option argument."""

    name: str
    value: str
    #: How QEMU warns about a bare ``key``/``nokey`` item, or None.
    flag_warning: str | None = None
    #: A bare ``help`` or ``?``: the user asks for the list of keys.
    is_help: bool = False


def _value(params: str, p: int) -> tuple[str, int]:
    """The value starting at ``p`` (up to a single comma) and where it ends."""
    out: list[str] = []
    n = len(params)
    while True:
        comma = params.find(",", p)
        if comma < 0:
            out.append(params[p:])
            return "".join(out), n
        if comma + 1 < n and params[comma + 1] == ",":
            # ",," stands for one literal comma.
            out.append(params[p : comma + 1])
            p = comma + 2
            continue
        out.append(params[p:comma])
        return "".join(out), comma


def parse_opts(params: str, implied: str | None = None) -> list[OptItem]:
    """Split an option argument into its items, in order."""
    items: list[OptItem] = []
    p = 0
    n = len(params)
    firstname = implied
    while p < n:
        end = p
        while end < n and params[end] not in "=,":
            end += 1
        if end < n and params[end] == "=":
            name = params[p:end]
            value, p = _value(params, end + 1)
            items.append(OptItem(name, value))
        elif firstname is not None:
            value, p = _value(params, p)
            items.append(OptItem(firstname, value))
        else:
            name = params[p:end]
            p = end
            if name.startswith("no"):
                items.append(OptItem(name[2:], "off", _flag_warning("no", name[2:], "off")))
            elif name in ("help", "?"):
                items.append(OptItem(name, "on", None, is_help=True))
            else:
                items.append(OptItem(name, "on", _flag_warning("", name, "on")))
        firstname = None
        if p < n:
            p += 1  # the comma ending the item
    return items


def _flag_warning(prefix: str, name: str, value: str) -> str:
    # QEMU's two lines: a warning, then a hint (with its odd case for "delay").
    hint = f"nodelay={value}" if name == "delay" else f"{name}={value}"
    return (
        f"warning: short-form boolean option '{prefix}{name}' deprecated\nPlease use {hint} instead"
    )


# Numbers and ids are scanned by hand, not with re: importing re (and enum
# with it) would cost every start of ``qapigen vm`` more than all of its
# option parsing.
_DECIMAL = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ID_CHARS = _ASCII_LETTERS | _DECIMAL | frozenset("._-")
#: What C's isspace() skips before a number.
_WHITESPACE = " \t\n\v\f\r"


def id_wellformed(ident: str) -> bool:
    """Whether QEMU accepts ``ident`` as an ``id=``: a letter, then letters,
    digits, ``-``, ``.`` or ``_``."""
    return ident[:1] in _ASCII_LETTERS and _ID_CHARS.issuperset(ident)


def _run(text: str, start: int, digits: frozenset[str]) -> int:
    """Where the run of ``digits`` from ``start`` ends."""
    end = start
    while end < len(text) and text[end] in digits:
        end += 1
    return end


_UINT64_END = 1 << 64


def parse_uint64(text: str) -> int | None:
    """``text`` read as QEMU reads an unsigned property: C's ``strtoull`` with
    base 0 (``0x`` hexadecimal, leading ``0`` octal), the whole string, no
    overflow.  A minus sign wraps modulo 2**64, as ``strtoull`` does.  None
    when QEMU would refuse the text."""
    digits = text.lstrip(_WHITESPACE)
    sign = digits[:1] if digits[:1] in ("+", "-") else ""
    digits = digits[len(sign) :]
    if (
        digits[:2] in ("0x", "0X")
        and len(digits) > 2
        and _run(digits, 2, _HEX_DIGITS) == len(digits)
    ):
        value = int(digits[2:], 16)
    elif digits[:1] == "0" and _run(digits, 0, _OCTAL) == len(digits):
        value = int(digits, 8)
    elif digits[:1] in _DECIMAL and digits[0] != "0" and _run(digits, 0, _DECIMAL) == len(digits):
        value = int(digits, 10)
    else:
        return None
    if value >= _UINT64_END:
        return None  # ERANGE
    return (-value) % _UINT64_END if sign == "-" else value


_TRUE = ("on", "yes", "true", "y")
_FALSE = ("off", "no", "false", "n")


def parse_bool(text: str) -> bool | None:
    """A boolean property as QEMU reads it (``on``/``yes``/``true``/``y`` and
    their opposites), None when it is neither."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _scan_hex(text: str, pos: int) -> tuple[int, int] | None:
    """C's ``sscanf(..., "%x")`` from ``pos``: the value (an unsigned int) and
    where it stopped, or None when there is no number."""
    n = len(text)
    while pos < n and text[pos] in _WHITESPACE:
        pos += 1
    negative = False
    if pos < n and text[pos] in "+-":
        negative = text[pos] == "-"
        pos += 1
    if text[pos : pos + 2] in ("0x", "0X") and pos + 2 < n and text[pos + 2] in _HEX_DIGITS:
        pos += 2
    start = pos
    while pos < n and text[pos] in _HEX_DIGITS:
        pos += 1
    if pos == start:
        return None
    value = min(int(text[start:pos], 16), 0xFFFFFFFF)  # strtoul saturates, then it is cut
    return (-value if negative else value) & 0xFFFFFFFF, pos


def parse_pci_addr(text: str) -> int | None:
    """A PCI ``addr=`` (``SLOT[.FUNCTION]``, hexadecimal) as a devfn, or None
    when QEMU would refuse it."""
    first = _scan_hex(text, 0)
    if first is None:
        return None
    slot, end = first
    function = 0
    if end < len(text) and text[end] == ".":
        second = _scan_hex(text, end + 1)
        if second is not None:
            function, end = second
    if end != len(text) or function > 7 or slot > 31:
        return None
    return slot << 3 | function


_SIZE_UNITS = {"": 20, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


def parse_size(text: str) -> int | None:
    """A size as ``-m`` reads it: a number, in MiB unless a suffix (B, k, M, G,
    T, P, E) says otherwise, fractions allowed; None when QEMU would refuse it."""
    text = text.lstrip(_WHITESPACE)
    if text[:2] in ("0x", "0X") and _run(text, 2, _HEX_DIGITS) > 2:
        end = _run(text, 2, _HEX_DIGITS)
    else:
        end = _run(text, 0, _DECIMAL)
        if end == 0:
            return None
        if text[end : end + 1] == ".":
            end = _run(text, end + 1, _DECIMAL)
    number, unit = text[:end], text[end:]
    if len(unit) > 1 or unit not in "bBkKmMgGtTpPeE":  # ("" is in any string)
        return None
    shift = _SIZE_UNITS[unit.lower()]
    if number[:2] in ("0x", "0X"):
        value = int(number, 16) << shift
    else:
        whole, _, fraction = number.partition(".")
        scaled = int(whole + fraction) << shift
        value = scaled // 10 ** len(fraction)
    return value if value < _UINT64_END else None
