"""The interface through which back ends read a checked schema.

:meth:`qapigen.frontend.model.Schema.visit` walks the schema module by module and
calls one method per entity, in definition order.  Subclass
:class:`SchemaVisitor` and override what you need; every method does
nothing by default.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from .model import (
        AlternateType,
        ArrayType,
        BuiltinType,
        Command,
        Entity,
        EnumType,
        Event,
        Include,
        Module,
        ObjectType,
        Schema,
    )


class SchemaVisitor:
    """Receives a schema's entities; see :meth:`Schema.visit`."""

    def visit_begin(self, schema: Schema) -> None:
        """Called first."""

    def visit_end(self) -> None:
        """Called last."""

    def visit_module(self, module: Module) -> None:
        """Called before the entities of ``module``."""

    def visit_needed(self, entity: Entity) -> bool:
        """Whether to visit ``entity``; all of them by default."""
        return True

    def visit_include(self, include: Include) -> None:
        """An ``include`` directive."""

    def visit_builtin_type(self, typ: BuiltinType) -> None:
        """A built-in type."""

    def visit_enum_type(self, typ: EnumType) -> None:
        """An enum."""

    def visit_array_type(self, typ: ArrayType) -> None:
        """An array type."""

    def visit_object_type(self, typ: ObjectType) -> None:
        """A struct, union or implicit object type."""

    def visit_alternate_type(self, typ: AlternateType) -> None:
        """An alternate."""

    def visit_command(self, command: Command) -> None:
        """A command."""

    def visit_event(self, event: Event) -> None:
        """An event."""
