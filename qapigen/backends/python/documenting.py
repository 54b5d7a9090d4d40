"""The docstrings of the view model's records, from the schema's doc comments.

``build`` names the classes and members; a ``Documenter`` then writes what
their docstrings say (with ``doctext``, which turns QAPI's markup into reST):
a class's description and ``Args:``, each member's attribute docstring, an
enum's members', a command's ``Args:``/``Returns:``/``Raises:``.  In a build
for ``--define``, a part that a condition guards says so, as the superset's
docs do (``Only in builds where CONDITION``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ...frontend.conditions import Defines
from ...frontend.doc_comments import Doc, Section
from ...frontend.schema import (
    AlternateType,
    Command,
    EnumMember,
    EnumType,
    Feature,
    ImplicitRole,
    ObjectMember,
    ObjectType,
    Schema,
    Variant,
)
from . import codewriter, doctext
from .pymodel import ClassRef, PyField, Value


class Documenter:
    """Writes the docstrings of one package's records.

    ``class_of`` is the builder's table of schema type names to (module,
    Python class name), by which ``@Type`` references become class names.
    """

    def __init__(
        self, schema: Schema, defines: Defines, class_of: dict[str, tuple[str, str]]
    ) -> None:
        self.schema = schema
        self.defines = defines
        self.class_of = class_of
        # Fields whose docs are written once their class's names are known:
        # id → (the field, its member, the doc block the builder gave for it).
        self._pending: dict[int, tuple[PyField, ObjectMember, Doc | None]] = {}

    def expect(self, field: PyField, member: ObjectMember, doc: Doc | None) -> None:
        """``field`` (of ``member``) is documented by a later ``document``."""
        self._pending[id(field)] = (field, member, doc)

    # -- references -------------------------------------------------------

    def resolver(self, names: dict[str, str]) -> doctext.Resolve:
        """How a docstring shows ``@name``: ``names`` maps the documented
        definition's members to their Python names; a type is its class."""

        def resolve(name: str) -> str:
            if name in names:
                return names[name]
            found = self.class_of.get(name)
            return found[1] if found is not None else name

        return resolve

    def member_resolver(self, fields: Iterable[PyField]) -> doctext.Resolve:
        """``resolver`` for a class (or a command) with ``fields``."""
        return self.resolver({f.wire: f.name for f in fields})

    # -- members ----------------------------------------------------------

    def document(self, fields: Iterable[PyField], resolve: doctext.Resolve) -> None:
        """Write the docs of those ``fields`` that have none yet: their
        description (for ``Args:``), and their attribute's docstring, which
        adds the member's features."""
        for field in fields:
            pending = self._pending.pop(id(field), None)
            if pending is None:
                continue
            _, member, doc = pending
            # The doc block that describes a member is its definition's, a
            # base's for a member that comes from a base.
            owner = self.schema.lookup(member.defined_in)
            if isinstance(owner, ObjectType):
                doc = self.owner_doc(owner) or doc
            field.description = doctext.with_note(
                self._described(doc, member.name, resolve), doctext.condition_note(field.ifcond)
            )
            field.doc = doctext.join(
                [field.description, *self.feature_notes(member.features, doc, resolve)]
            )

    def owner_doc(self, typ: ObjectType) -> Doc | None:
        """The doc block that describes ``typ``'s members: its own, or, for
        a command's or event's arguments or a union's base, its owner's."""
        if typ.doc is not None or typ.origin is None:
            return typ.doc
        if typ.origin.role is ImplicitRole.WRAPPER:
            return None
        owner = self.schema.lookup(typ.origin.owner)
        return owner.doc if owner is not None else None

    @staticmethod
    def _described(doc: Doc | None, name: str, resolve: doctext.Resolve) -> str:
        """What ``doc`` says of its member (value, branch) ``name``, as reST."""
        section = doc.args.get(name) if doc is not None else None
        if section is None or not section.text.strip():
            return ""
        return doctext.rest(doctext.section_text(section), resolve)

    def feature_notes(
        self, features: Iterable[Feature], doc: Doc | None, resolve: doctext.Resolve
    ) -> list[str]:
        """What a member's or enum value's docstring says of its features:
        each one's name and the doc block's description of it."""
        notes = []
        for feature in self.defines.kept(features):
            section = doc.features.get(feature.name) if doc is not None else None
            text = ""
            if section is not None and section.text.strip():
                text = doctext.rest(doctext.section_text(section), resolve)
            note = f"Feature ``{feature.name}``" + (f": {text}" if text else ".")
            notes.append(doctext.with_note(note, doctext.condition_note(feature.ifcond.expr)))
        return notes

    def kept_section(self, section: Section) -> bool:
        """Whether a description's member or feature is generated (its condition holds)."""
        ifcond = getattr(section.described, "ifcond", None)
        return ifcond is None or self.defines.holds(ifcond)

    # -- classes ----------------------------------------------------------

    def _head(self, doc: Doc | None, fallback: str, note: str, resolve: doctext.Resolve) -> str:
        """A docstring's description, and ``note``, on the condition of what it documents."""
        return doctext.with_note(doctext.description(doc, fallback, resolve), note)

    def branch_note(self, union_doc: Doc | None, variant: Variant) -> str:
        """What a union's branch's docstring says of its condition: this build's,
        or the one the superset noted in the union's doc."""
        if variant.ifcond.is_present():
            return doctext.condition_note(variant.ifcond.expr)
        return union_doc.branch_notes.get(variant.name, "") if union_doc is not None else ""

    def class_doc(
        self,
        doc: Doc | None,
        fallback: str,
        note: str,
        resolve: doctext.Resolve,
        described: Iterable[PyField] = (),
    ) -> str:
        """A struct's, union's, branch's or event's docstring: its description
        and ``note`` (see ``doctext.condition_note``), its members' (the
        constructor's arguments), features, the doc's further sections."""
        args = [(f.name, f.description) for f in described if f.description and not f.fixed]
        return doctext.join(
            [
                self._head(doc, fallback, note, resolve),
                doctext.entries("Args", args),
                doctext.features(doc, resolve, self.kept_section),
                *doctext.tagged(doc, resolve),
            ]
        )

    def enum_docs(self, typ: EnumType, names: dict[str, str]) -> tuple[str, dict[str, str]]:
        """An enum's docstring, and each of its members' (by Python name);
        ``names`` maps the values the conditions keep to their Python names."""
        resolve = self.resolver(names)
        kept: list[EnumMember] = [m for m in typ.members if m.name in names]
        descriptions = {
            names[m.name]: doctext.with_note(
                self._described(typ.doc, m.name, resolve), doctext.condition_note(m.ifcond.expr)
            )
            for m in kept
        }
        value_docs = {
            names[m.name]: doctext.join(
                [descriptions[names[m.name]], *self.feature_notes(m.features, typ.doc, resolve)]
            )
            for m in kept
        }
        described = [(name, text) for name, text in descriptions.items() if text]
        doc = doctext.join(
            [
                self._head(
                    typ.doc,
                    f"The enum {typ.name}.",
                    doctext.condition_note(typ.ifcond.expr),
                    resolve,
                ),
                doctext.entries("Values", described, spaced=True),
                doctext.features(typ.doc, resolve, self.kept_section),
                *doctext.tagged(typ.doc, resolve),
            ]
        )
        return doc, value_docs

    def alternate_doc(self, typ: AlternateType) -> str:
        """An alternate's docstring: its branches are described, not arguments."""
        resolve = self.resolver({})
        branches = []
        for v in self.defines.kept(typ.alternatives.variants):
            text = doctext.with_note(
                self._described(typ.doc, v.name, resolve), doctext.condition_note(v.ifcond.expr)
            )
            if text:
                branches.append((v.name, text))
        return doctext.join(
            [
                self._head(
                    typ.doc,
                    f"The alternate {typ.name}.",
                    doctext.condition_note(typ.ifcond.expr),
                    resolve,
                ),
                doctext.entries("Branches", branches, spaced=True),
                doctext.features(typ.doc, resolve, self.kept_section),
                *doctext.tagged(typ.doc, resolve),
            ]
        )

    # -- commands ---------------------------------------------------------

    def command_doc(
        self,
        command: Command,
        params: list[PyField],
        arguments: ClassRef | None,
        returns: Value | None,
        *,
        client: bool,
        extra: str | None = None,
    ) -> str:
        """A command's docstring, for its client methods (``client``: their
        exceptions in ``Raises:``) or its handler method: ``Args:`` names the
        Python parameters; ``Returns:`` starts with the Python type."""
        resolve = self.member_resolver(params)
        self.document(params, resolve)
        args = [(f.name, f.description) for f in params if f.description]
        if not command.gen and client and extra is not None:
            # The client takes the members, and the rest as they are.
            args.append((extra, "Further arguments, as keywords: sent as they are."))
        elif not command.gen:
            # Not generated: the arguments come as the JSON object they are.
            members = doctext.entries("Its members", args)
            what = "The command's arguments, a JSON object."
            args = [("arguments", doctext.join([what, members]))] if arguments else []
        elif arguments is not None and not params:
            args = [("arguments", f"The command's arguments, a ``{arguments.name}``.")]
        rtype = None
        if returns is not None:
            rtype = codewriter.annotation(returns).replace("_rt.", "qapigen.runtime.")
        doc = command.doc
        return doctext.join(
            [
                self._head(
                    doc,
                    f"The command {command.name}.",
                    doctext.condition_note(command.ifcond.expr),
                    resolve,
                ),
                doctext.entries("Args", args),
                doctext.features(doc, resolve, self.kept_section),
                *doctext.tagged(doc, resolve, returns=rtype, client=client),
            ]
        )
