"""The old import path of :class:`SchemaVisitor`, which lives in :mod:`qapigen.frontend.visitor`.

Kept because the README documented ``qapigen.visitor.SchemaVisitor``.
"""

from .frontend.visitor import SchemaVisitor

__all__ = ["SchemaVisitor"]
