"""Generated docstrings are reST that IDEs and Sphinx render, reachable from every attribute.

QAPI's doc markup (``@name``, ``.. qmp-example::``, member descriptions,
``Returns:``, ``Errors:``, ``Since:``, ``TODO:``) becomes reST with Google-style
sections (``Args:``, ``Returns:``, ``Raises:``); every member's description
is its attribute's docstring.  The expected texts here are written by hand
from docs/bindings.md, not taken from the generator.
"""

from __future__ import annotations

import ast
import inspect
import tempfile
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from qapigen import QAPIError, load_schema
from qapigen.backends.python import doctext
from qapigen.backends.python.codewriter import docstring
from qapigen.backends.python.generate import generate, render_package

from ...support.bindings import generate_package, import_package, run_black_check
from ...support.docstrings import (
    attribute_docs,
    docutils_python,
    rest_problems,
    source_docstrings,
)
from ...support.paths import REPO

SCHEMA = """
##
# @Mode:
#
# How to go.
#
# @fast: quickly, see @go
#
# @slow: slowly
#
# @turbo: only in turbo builds
#
# Features:
#
# @deprecated: the value @slow is deprecated
##
{ 'enum': 'Mode',
  'data': [ 'fast', { 'name': 'slow', 'features': [ 'deprecated' ] },
            { 'name': 'turbo', 'if': 'CONFIG_TURBO' } ] }

##
# @Info:
#
# What @go reports.
#
# @name: the name
#
# @mode: how it went
#
# @extra: only in TARGET_A builds
#
# Features:
#
# @fancy: a conditional feature
##
{ 'struct': 'Info',
  'data': { 'name': 'str', '*mode': 'Mode',
            '*extra': { 'type': 'int', 'if': 'TARGET_A' } },
  'features': [ { 'name': 'fancy', 'if': 'TARGET_A' } ] }

##
# @go:
#
# Go somewhere, as @Info says.
#
# @class: which one; see ``@literal`` and user@example.org
#
# @mode: how, as a :doc:`manual page </interop/qmp-spec>` says
#
# Returns: an @Info for @class
#
# Errors:
#     - If @class is unknown, DeviceNotFound
#     - If the machine is stopped, GenericError
#     - if anything else fails
#
# Since: 9.0
#
# TODO: developers' notes, not the users'
#
# .. note:: Going can take a while; see :ref:`going`.
#
# .. admonition:: Notes
#
#     1. A first note on @mode.
#     2. A second note.
#
# .. qmp-example::
#
#     -> { "execute": "go", "arguments": { "class": "@x" } }
#     <- { "return": { "name": "x" } }
#
# .. qmp-example::
#    :annotated:
#    :title: Going fast
#
#    With @mode set::
#
#     -> { "execute": "go", "arguments": { "class": "x", "mode": "fast" } }
#     <- { "return": { "name": "x", "mode": "fast" } }
#
#    Then it is gone.
##
{ 'command': 'go', 'data': { 'class': 'str', '*mode': 'Mode' }, 'returns': 'Info' }

##
# @GONE:
#
# It went.
#
# @name: which one
#
# @class: a keyword as a member
##
{ 'event': 'GONE', 'data': { 'name': 'str', 'class': 'str' }, 'if': 'CONFIG_EVENTS' }

##
# @Detour:
#
# A longer way.
#
# @length: how much longer
##
{ 'struct': 'Detour', 'data': { 'length': 'int' } }

##
# @Shortcut:
#
# A shorter way.
#
# @gain: how much shorter
##
{ 'struct': 'Shortcut', 'data': { 'gain': 'int' }, 'if': 'TARGET_A' }

##
# @Way:
#
# Which way to go.
#
# @mode: how
#
# @slow: a member named as a branch
##
{ 'union': 'Way', 'base': { 'mode': 'Mode', '*slow': 'str' }, 'discriminator': 'mode',
  'data': { 'slow': { 'type': 'Detour', 'if': 'TARGET_A' },
            'fast': { 'type': 'Shortcut', 'if': 'TARGET_A' } } }
"""

DEFINES = ["TARGET_A", "CONFIG_EVENTS"]


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The schema's bindings for a build with TARGET_A and CONFIG_EVENTS."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "schema.json").write_text(SCHEMA)
    generate_package(folder / "schema.json", folder / "out", "docs_pkg", DEFINES)
    module, _ = import_package(folder / "out", "docs_pkg")
    return module


@pytest.fixture(scope="module")
def superset_pkg(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The schema's bindings for every build at once (the superset)."""
    folder = tmp_path_factory.mktemp("superset-docs")
    (folder / "schema.json").write_text(SCHEMA)
    generate(load_schema(str(folder / "schema.json"), superset=True), str(folder), "sup_docs")
    module, _ = import_package(folder, "sup_docs")
    return module


def _doc(obj: object) -> str:
    text = obj.__doc__
    assert text is not None
    return inspect.cleandoc(text)


GO_HEAD = r"""
Go somewhere, as ``Info`` says.

Args:
    class\_: which one; see ``@literal`` and user@example.org
    mode: how, as a manual page says

Returns:
    Info: an ``Info`` for ``class_``
"""

GO_TAIL = """
Since: 9.0

.. note:: Going can take a while; see ``going``.

.. admonition:: Notes

    1. A first note on ``mode``.
    2. A second note.

Example::

    -> { "execute": "go", "arguments": { "class": "@x" } }
    <- { "return": { "name": "x" } }

Example: Going fast

    With ``mode`` set::

     -> { "execute": "go", "arguments": { "class": "x", "mode": "fast" } }
     <- { "return": { "name": "x", "mode": "fast" } }

    Then it is gone.
"""


def test_client_method_docs_are_google_style_rest(pkg: ModuleType) -> None:
    """Args name the Python parameters, Returns its type, Raises the client's
    exception of each documented error class; examples are literal blocks;
    the TODO section is gone."""
    raises = """
Raises:
    qapigen.runtime.client.DeviceNotFound:
        If ``class_`` is unknown.

    qapigen.runtime.client.GenericError:
        If the machine is stopped.

    qapigen.runtime.client.CommandFailed:
        if anything else fails
"""
    want = (GO_HEAD + raises + GO_TAIL).strip()
    assert _doc(pkg.client.Client.go) == want
    assert _doc(pkg.client.SyncClient.go) == want


def test_handler_method_docs_raise_command_error(pkg: ModuleType) -> None:
    """A handler signals a documented error with CommandError and the error class."""
    raises = """
Raises:
    qapigen.runtime.CommandError:
        DeviceNotFound: If ``class_`` is unknown.

    qapigen.runtime.CommandError:
        GenericError: If the machine is stopped.

    qapigen.runtime.CommandError:
        if anything else fails
"""
    assert _doc(pkg.Handler.go) == (GO_HEAD + raises + GO_TAIL).strip()


def test_each_member_doc_is_its_attributes(pkg: ModuleType) -> None:
    """Structs, command arguments, events and enums: every member's description
    is the docstring that follows its attribute; a condition of this build is stated."""
    assert attribute_docs(pkg.Info) == {
        "name": "the name",
        "mode": "how it went",
        "extra": "only in TARGET_A builds\n\nOnly in builds where TARGET_A.",
    }
    assert attribute_docs(pkg.GoArguments) == {
        "class_": "which one; see ``@literal`` and user@example.org",
        "mode": "how, as a manual page says",
    }
    assert attribute_docs(pkg.GoneEvent) == {"name": "which one", "class_": "a keyword as a member"}
    assert attribute_docs(pkg.Mode) == {
        "FAST": "quickly, see ``go``",
        "SLOW": "slowly\n\nFeature ``deprecated``: the value ``SLOW`` is deprecated",
    }


def test_class_docs_list_members_and_state_conditions(pkg: ModuleType) -> None:
    assert _doc(pkg.Info) == textwrap.dedent(
        """\
        What ``go`` reports.

        Args:
            name: the name

            mode: how it went

            extra: only in TARGET_A builds

                Only in builds where TARGET_A.

        Features:
            fancy: a conditional feature

                Only in builds where TARGET_A."""
    )
    assert _doc(pkg.Mode) == textwrap.dedent(
        """\
        How to go.

        Values:
            FAST: quickly, see ``go``

            SLOW: slowly

        Features:
            deprecated: the value ``SLOW`` is deprecated"""
    )
    assert _doc(pkg.GoneEvent) == textwrap.dedent(
        """\
        It went.

        Only in builds where CONFIG_EVENTS.

        Args:
            name: which one
            class\\_: a keyword as a member"""
    )


def test_define_build_and_superset_state_conditions_alike(
    pkg: ModuleType, superset_pkg: ModuleType
) -> None:
    """Issue 16: a --define build's docstrings say the conditions of what they
    document, in the superset's words."""
    sup = superset_pkg
    note = "Only in builds where TARGET_A."
    assert attribute_docs(sup.Info)["extra"].endswith(note)
    assert attribute_docs(pkg.Info)["extra"].endswith(note)
    feature = "fancy: a conditional feature\n\n        Only in builds where TARGET_A."
    assert _doc(sup.Info).endswith(feature) and _doc(pkg.Info).endswith(feature)
    assert "Only in builds where CONFIG_EVENTS." in _doc(sup.GoneEvent)
    assert "Only in builds where CONFIG_EVENTS." in _doc(pkg.GoneEvent)
    # The superset has the value no --define build above has; it says why.
    assert attribute_docs(sup.Mode)["TURBO"] == (
        "only in turbo builds\n\nOnly in builds where CONFIG_TURBO."
    )
    assert "TURBO" not in attribute_docs(pkg.Mode)


def test_a_union_branchs_condition_is_said_of_the_branch(
    pkg: ModuleType, superset_pkg: ModuleType
) -> None:
    """The superset says a union's conditional branch's condition in the
    branch's docstring, as a --define build does; not in the description of
    the base member that has the branch's name.  Once, where the branch's
    type has the same condition (the superset's description of the type says
    it too)."""
    way = textwrap.dedent(
        """\
        Which way to go.

        Args:
            mode: how
            slow: a member named as a branch"""
    )
    way_slow = textwrap.dedent(
        """\
        Way with mode 'slow'.

        A longer way.

        Only in builds where TARGET_A.

        Args:
            slow: a member named as a branch
            length: how much longer"""
    )
    way_fast = textwrap.dedent(
        """\
        Way with mode 'fast'.

        A shorter way.

        Only in builds where TARGET_A.

        Args:
            slow: a member named as a branch
            gain: how much shorter"""
    )
    for bindings in (pkg, superset_pkg):
        assert _doc(bindings.Way) == way
        assert _doc(bindings.Way_slow) == way_slow
        assert _doc(bindings.Way_fast) == way_fast
        assert attribute_docs(bindings.WayBase)["slow"] == "a member named as a branch"
    # An implicit branch (a tag value without one) has its value's condition.
    assert _doc(superset_pkg.Way_turbo) == textwrap.dedent(
        """\
        Way with mode 'turbo'.

        Only in builds where CONFIG_TURBO.

        Args:
            slow: a member named as a branch"""
    )
    assert not hasattr(pkg, "Way_turbo")


# -- the markup, piece by piece ------------------------------------------------------


def _names(name: str) -> str:
    return {"id": "id_", "Thing": "ThingClass"}.get(name, name)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Use @id, not @gone.", "Use ``id_``, not ``gone``."),
        ("@Thing's @dotted-name-2", "``ThingClass``'s ``dotted-name-2``"),
        ("e-mail user@host.org and ``@id`` stay", "e-mail user@host.org and ``@id`` stay"),
        (
            "a ``literal\nover two lines @id``, then @id",
            "a ``literal\nover two lines @id``, then ``id_``",
        ),
        ("See :doc:`the spec </interop/qmp-spec>`.", "See the spec."),
        (
            "See :doc:`/devel/qapi-code-gen` and :ref:`x`.",
            "See ``/devel/qapi-code-gen`` and ``x``.",
        ),
        ("Kept: :strong:`bold`, :code:`x`, *emph*.", "Kept: :strong:`bold`, :code:`x`, *emph*."),
        (".. note:: About @id.", ".. note:: About ``id_``."),
        ("Text::\n\n    @id stays\n\nthen @id", "Text::\n\n    @id stays\n\nthen ``id_``"),
        (
            ".. table:: T\n   :widths: auto\n\n   ===  ===\n   @id  b\n   ===  ===\n\n@id",
            ".. table:: T\n   :widths: auto\n\n   ===  ===\n   @id  b\n   ===  ===\n\n``id_``",
        ),
        (
            '.. qmp-example::\n\n    -> { "execute": "x" }\n\n    <- { "return": {} }',
            'Example::\n\n    -> { "execute": "x" }\n\n    <- { "return": {} }',
        ),
        (
            ".. qmp-example::\n   :title: Titled @id\n\n   -> {}\n   <- {}",
            "Example: Titled ``id_``::\n\n    -> {}\n    <- {}",
        ),
        (
            "* item\n\n  .. qmp-example::\n     :annotated:\n\n"
            "     Say::\n\n      -> {}\n\n  after",
            "* item\n\n  Example:\n\n      Say::\n\n       -> {}\n\n  after",
        ),
    ],
)
def test_markup_becomes_rest(text: str, want: str) -> None:
    assert doctext.rest(text, _names) == want


def test_errors_sections_give_classes() -> None:
    """An Errors list's items name their class last (QEMU's way) or first (the
    project's schema's); a prose section is one item."""
    text = (
        "- If ``device`` is not found, DeviceNotFound\n"
        "- If Spice is not enabled,\n  DeviceNotActive\n"
        "- Any other error returns a GenericError.\n"
        "- KVMMissingCap if the host's KVM\n  cannot do it\n"
        "- if nothing else"
    )
    assert doctext.errors(text) == [
        ("DeviceNotFound", "If ``device`` is not found."),
        ("DeviceNotActive", "If Spice is not enabled."),
        ("GenericError", "Any other error."),
        ("KVMMissingCap", "If the host's KVM\ncannot do it."),
        (None, "if nothing else"),
    ]
    assert doctext.errors("Fails when it fails") == [(None, "Fails when it fails")]


def test_error_classes_are_the_clients() -> None:
    """The classes Raises names are those the typed client has an exception for."""
    from qapigen.runtime import client

    for name in doctext.ERROR_CLASSES:
        assert issubclass(getattr(client, name), client.CommandFailed)


# -- hostile text ------------------------------------------------------------------

_HOSTILE = st.text(
    st.characters(codec="utf-8") | st.sampled_from("\"\\'\n\t"),
    max_size=60,
)


# What Python and the schema's lexer take as line breaks.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _squeezed(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=300, deadline=None)
@given(_HOSTILE, st.sampled_from([0, 4, 8]))
@example('"""', 4)
@example('a """ b \\', 4)
@example("\\N{BULLET} \\x41 '''\n\"\"\"", 8)
@example("nul \x00 ff \x0c cr \r sep \u2028 nel \x85", 4)
@example('"quoted at both ends"', 0)
def test_docstring_literal_holds_any_text(text: str, indent: int) -> None:
    """Whatever a doc comment says, its docstring is one string literal, as
    black writes it, holding every character (whitespace aside) of the text."""
    literal = docstring(text, indent)
    tree = ast.parse(textwrap.dedent(literal))
    assert len(tree.body) == 1
    stmt = tree.body[0]
    assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
    value = stmt.value.value
    assert isinstance(value, str)
    assert _squeezed(value) == _squeezed(text.expandtabs(8))


# Doc comment text that QAPI's markup leaves as it is (no reference, role,
# literal block or directive), on one line.
_PLAIN_DOC = (
    st.lists(
        st.characters(codec="utf-8", exclude_characters=_LINE_BREAKS + "@`:")
        | st.sampled_from(['"', '"""', "\\", "'''", "\\N{BULLET}", "\x00", "é", "🙂"]),
        min_size=1,
        max_size=30,
    )
    .map("".join)
    .filter(lambda text: bool(text.strip()) and not text.lstrip().startswith(("=", "#")))
)


@settings(max_examples=25, deadline=None)
@given(_PLAIN_DOC, _PLAIN_DOC)
def test_any_doc_text_stays_in_its_docstrings(body: str, member: str) -> None:
    """Whatever a definition's and a member's descriptions say, the generated
    module compiles, and the class's and the attribute's docstrings hold the
    text (whitespace aside)."""
    with tempfile.TemporaryDirectory(prefix="docstrings-") as folder:
        path = Path(folder) / "odd.json"
        path.write_text(
            f"##\n# @Odd:\n#\n# {body}\n#\n# @m: {member}\n##\n"
            "{ 'struct': 'Odd', 'data': { 'm': 'int' } }\n"
        )
        try:
            files = render_package(load_schema(str(path)), "odd_docs")
        except QAPIError:
            assume(False)  # not a doc comment QAPI reads (a tag, say)
            raise
    for name, text in files.items():
        if name.endswith(".py"):
            compile(text, name, "exec")
    tree = ast.parse(files["odd.py"])
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Odd")
    assert _squeezed(ast.get_docstring(cls) or "").startswith(_squeezed(body))
    index = next(i for i, n in enumerate(cls.body) if isinstance(n, ast.AnnAssign))
    attr = cls.body[index + 1]
    assert isinstance(attr, ast.Expr) and isinstance(attr.value, ast.Constant)
    assert isinstance(attr.value.value, str)
    assert _squeezed(attr.value.value) == _squeezed(member)


def test_hostile_member_docs_stay_inside_their_docstrings(tmp_path: Path) -> None:
    """Quotes, backslashes, triple quotes, control characters and non-ASCII in
    member and value descriptions: the package imports, black accepts it, and
    each attribute's docstring holds the text."""
    hostile = 'x """ y \\ z \\N{BULLET} é 中文 🙂 \' "" end"'
    schema = tmp_path / "schema.json"
    schema.write_text(
        '##\n# @Hostile:\n#\n# Body """ \\\n#\n'
        f"# @m: {hostile}\n#\n# @n: nul \x00 and form feed \x0c here\n##\n"
        "{ 'struct': 'Hostile', 'data': { 'm': 'int', 'n': 'int' } }\n"
        f"##\n# @Hostility:\n#\n# @v: {hostile}\n##\n{{ 'enum': 'Hostility', 'data': [ 'v' ] }}\n"
    )
    generate_package(schema, tmp_path / "out", "hostile_docs")
    module, _ = import_package(tmp_path / "out", "hostile_docs")
    # (A one-line docstring that ends with a quote gets a space before the
    # closing quotes, as black writes it.)
    assert attribute_docs(module.Hostile) == {
        "m": hostile + " ",
        "n": "nul \x00 and form feed \x0c here",
    }
    assert attribute_docs(module.Hostility) == {"V": hostile + " "}
    assert _doc(module.Hostile).startswith('Body """ \\\n')
    assert run_black_check(tmp_path / "out" / "hostile_docs").returncode == 0


@pytest.mark.parametrize(
    "package",
    [
        REPO / "generated" / "simulator_api",
        REPO / "tests" / "backends" / "python" / "golden" / "expected" / "everything",
    ],
    ids=["generated", "golden"],
)
def test_committed_packages_docstrings_parse_as_rest(package: Path) -> None:
    """The project's bindings and the golden package: every docstring is reST
    that docutils reads without a warning."""
    python = docutils_python()
    if python is None:
        pytest.skip("no Python with docutils here (the project does not depend on it)")
    docstrings = list(source_docstrings(package))
    assert len(docstrings) > 100
    assert rest_problems(python, docstrings) == {}


_MARKUP = st.text(st.sampled_from(list('@`:.-_ >\n*aZ9{}"\\é')), max_size=80)


@settings(max_examples=300, deadline=None)
@given(_MARKUP)
def test_markup_conversion_takes_any_text(text: str) -> None:
    """Any text converts without an error; text without a reference, role,
    literal or directive comes out as it went in."""
    converted = doctext.rest(text, _names)
    if not any(mark in text for mark in "@`:"):
        assert converted == text
