"""The orders ruff's lint rules hold generated code to, so that it is ``ruff check`` clean.

isort's order (I001) for the names one ``from`` import lists and for the
modules of a block of imports; its order by kind for ``__all__`` (RUF022);
natural order for ``__slots__`` (RUF023).  "Natural": runs of digits compare
as numbers (``x2`` before ``x10``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_DIGITS = re.compile(r"(\d+)")

NaturalKey = tuple[tuple[int, int], ...]


def natural_key(text: str) -> NaturalKey:
    """``text`` in natural order: its characters by code point, a run of digits
    by its value (as one digit that sorts before any letter or ``_``: an
    identifier's other characters do)."""
    key: list[tuple[int, int]] = []
    for i, part in enumerate(_DIGITS.split(text)):
        if i % 2:
            key.append((ord("0"), int(part)))
        else:
            key.extend((ord(char), 0) for char in part)
    return tuple(key)


def _kind(name: str) -> int:
    """isort's kind of a name: a CONSTANT, a Class, or anything else."""
    if len(name) > 1 and name.isupper():
        return 0
    return 1 if name[:1].isupper() else 2


def _member_key(name: str) -> tuple[int, NaturalKey, NaturalKey]:
    return _kind(name), natural_key(name.lower()), natural_key(name)


def _module_key(path: str) -> tuple[NaturalKey, NaturalKey]:
    return natural_key(path.lower()), natural_key(path)


def import_order(names: Iterable[str]) -> list[str]:
    """The names a ``from`` import lists, in isort's order (by kind, then case-blind)."""
    return sorted(names, key=_member_key)


def module_order(paths: Iterable[str]) -> list[str]:
    """Modules imported one after another, in isort's order (case-blind)."""
    return sorted(paths, key=_module_key)


def all_order(names: Iterable[str]) -> list[str]:
    """The names of ``__all__``, in RUF022's order (by kind, then natural)."""
    return sorted(names, key=lambda name: (_kind(name), natural_key(name)))


def slots_order(names: Iterable[str]) -> list[str]:
    """The attributes of ``__slots__``, in RUF023's order (natural)."""
    return sorted(names, key=natural_key)
