"""Generated code is formatted in black's style, by ruff's formatter.

The templates write plain code and ruff's formatter formats it
(``qapigen.backends.python.formatting``).  black is the contract: ``black --check``
must pass on every generated file.  Where ruff and black lay out one of the
generated shapes differently, the renderer writes it so that they agree
(a union annotation of a parameter too long for its line is parenthesized;
a file naming something longer than ``NAME_LIMIT`` is left unformatted).
Schemas with names of every length, around the line's limit and past it,
check those rules against black itself.
"""

from __future__ import annotations

import black
import black.report
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qapigen import load_schema
from qapigen.backends.python import formatting
from qapigen.backends.python.generate import render_package
from qapigen.backends.python.render import NAME_LIMIT, VERBATIM

MODE = black.Mode()

# Every shape the generator writes with the schema's names: a struct with
# required, optional, list, alternate and deprecated members, an enum, an
# alternate, a union and its branches, a command's arguments and reply, an
# event holding a union.
SHAPES = """
{ 'pragma': { 'command-returns-exceptions': [ 'MEMBER-boxed' ] } }
{ 'enum': 'TYPEKind', 'data': [ 'MEMBER', 'zz0' ] }
{ 'struct': 'TYPESub', 'data': { '*x': 'int' } }
{ 'alternate': 'TYPEAlt', 'data': { 's': 'str', 'o': 'TYPESub', 'n': 'null' } }
{ 'struct': 'TYPE',
  'data': { 'MEMBER': 'TYPEKind', '*MEMBER-opt': [ 'TYPEKind' ], '*MEMBER-alt': 'TYPEAlt',
            'MEMBER-num': 'int', 'MEMBER-any': 'any',
            '*MEMBER-dep': { 'type': 'TYPEAlt', 'features': [ 'deprecated' ] } } }
{ 'union': 'TYPEUnion', 'base': { 'MEMBER-tag': 'TYPEKind' }, 'discriminator': 'MEMBER-tag',
  'data': { 'MEMBER': 'TYPE', 'zz0': 'TYPESub' } }
{ 'command': 'MEMBER-cmd', 'data': { 'MEMBER': 'TYPEKind', '*MEMBER-alt': 'TYPEAlt' },
  'returns': 'TYPE' }
{ 'command': 'MEMBER-boxed', 'data': 'TYPEUnion', 'boxed': true, 'returns': 'TYPEAlt' }
{ 'event': 'EVENT', 'data': { 'MEMBER': 'TYPEUnion', '*MEMBER-alt': 'TYPEAlt' } }
"""


def _schema(type_name: str, member: str) -> str:
    return (
        SHAPES.replace("TYPE", type_name)
        .replace("MEMBER", member)
        .replace("EVENT", member.upper().replace("-", "_") + "_EV")
    )


def _unformatted_by_black(files: dict[str, str]) -> list[str]:
    """The generated Python files that black would change."""
    changed = []
    for rel, text in sorted(files.items()):
        if not rel.endswith(".py"):
            continue
        try:
            black.format_file_contents(text, fast=False, mode=MODE)
        except black.report.NothingChanged:
            continue
        changed.append(rel)
    return changed


# QAPI's rules: CamelCase type names, not ending in "List"; lower-case members.
type_names = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["Ty", "Ab", "Qx"]),
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGH0123456789", max_size=95),
).filter(lambda name: not name.endswith("List"))
member_names = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["ab", "mz", "ca"]),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", max_size=95).map(
        lambda s: s.replace("--", "-").rstrip("-")
    ),
)


@settings(max_examples=40, deadline=None)
@given(type_names, member_names)
# Parameter lines just past the limit; names just past NAME_LIMIT.
@example("VeryLongTypeNameThatMakesTheAnnotationOfTheMember", "maybe-alternate-member")
@example("Ty" + "x" * (NAME_LIMIT - 2), "m" + "x" * (NAME_LIMIT - 1))
@example("Ty" + "x" * NAME_LIMIT, "m")
@example("Ty", "m" + "-x" * 50)
def test_black_agrees_with_every_shape(
    tmp_path_factory: pytest.TempPathFactory, type_name: str, member: str
) -> None:
    """Whatever the names' lengths, black would leave every generated file as it is."""
    folder = tmp_path_factory.mktemp("shapes")
    path = folder / "schema.json"
    path.write_text(_schema(type_name, member))
    files = render_package(load_schema(str(path)), "shapes")
    assert _unformatted_by_black(files) == []


def test_long_names_leave_the_file_unformatted(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A module naming something longer than NAME_LIMIT is marked verbatim; others are not."""
    folder = tmp_path_factory.mktemp("long")
    (folder / "schema.json").write_text("{ 'include': 'long.json' }\n{ 'include': 'short.json' }\n")
    (folder / "long.json").write_text(f"{{ 'struct': 'Ty{'x' * NAME_LIMIT}', 'data': {{}} }}")
    (folder / "short.json").write_text(
        f"{{ 'struct': 'Ty{'x' * (NAME_LIMIT - 3)}', 'data': {{}} }}"
    )
    files = render_package(load_schema(str(folder / "schema.json")), "names")
    marked = sorted(rel for rel, text in files.items() if VERBATIM in text.splitlines())
    assert marked == ["__init__.py", "client.py", "long.py"]
    # The formatter did format the others: their lines fit.
    assert max(len(line) for line in files["short.py"].splitlines()) <= formatting.LINE_LENGTH


def test_formatter_failure_is_a_clear_error() -> None:
    """Code ruff cannot parse (a generator bug) is reported as such, not as a traceback."""
    with pytest.raises(formatting.FormatError, match="ruff could not format the generated code"):
        formatting.format_python({"a.py": "def (:\n"}, meanwhile=lambda: None)
