"""How schema names map to C identifiers, which is what clash checks compare.

QAPI forbids two names that would generate the same C identifier, so the
front end compares names by their C form: every character other than an
ASCII letter, digit or underscore becomes an underscore.  (QEMU further
prefixes C keywords with ``q_``; since no valid QAPI name starts with
``q_``, that prefix can neither cause nor hide a clash, and is left out.)
"""

from __future__ import annotations

import re

_NOT_C = re.compile(r"[^A-Za-z0-9_]")


def c_name(name: str) -> str:
    """The C form of a schema name, for clash checks."""
    return _NOT_C.sub("_", name)
