"""Hostile schemas: the generator writes valid, inert, formatted Python, or refuses clearly.

Each case is a small valid (or deliberately invalid) QAPI schema built to
break naive code generation: Python keywords, soft keywords, builtins and the
generated API's own names as members, enum values, commands and types; names
that collide once mapped; doc comments full of quotes, backslashes, escapes
and an attempt at code injection; a chain of 50 nested structs and 50 bases;
names far longer than a line; odd module file names.  For every case the
outcome must be a ``qapigen.QAPIError`` with a clear message, or a package
that compiles, imports, passes ``black --check`` and ``mypy --strict``, keeps
injected text inert, and round-trips.  Known failures are ``xfail(strict=True)``
with the bug in the reason.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import importlib
import inspect
import keyword
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import qapigen
from qapigen import load_schema
from qapigen import runtime as rt
from qapigen.backends.python.generate import generate

from ...support.bindings import handler, import_modules, import_package, run_mypy

MARKER = "qapigen-pwned-marker"

KEYWORDS = sorted(keyword.kwlist)  # False, None, True and the lower-case ones
SOFT_KEYWORDS = ["match", "case", "type"]
BUILTINS = sorted(
    n
    for n in dir(builtins)
    if re.fullmatch(r"[a-z][a-z0-9]*", n) and n not in KEYWORDS + SOFT_KEYWORDS
)
# Names the generated methods use for their locals and parameters.
LOCALS = ["self_", "cls", "obj", "strict", "found", "out", "v", "e", "tag", "target"]
LOCALS += ["branches", "result", "arguments", "info", "name", "args", "kwargs", "method"]


def _members(names: list[str], typ: str = "int") -> str:
    return ", ".join(f"'{n}': '{typ}'" for n in names)


# -- the cases ---------------------------------------------------------------------------

_KEYWORDS_SCHEMA = f"""
{{ 'pragma': {{ 'member-name-exceptions': [ 'Keywords', 'KeywordValues' ] }} }}
{{ 'struct': 'Keywords',
  'data': {{ {_members(KEYWORDS + SOFT_KEYWORDS + BUILTINS + LOCALS)},
            '*optional-class': 'KeywordValues' }} }}
{{ 'enum': 'KeywordValues',
  'data': [ {", ".join(f"'{n}'" for n in KEYWORDS + SOFT_KEYWORDS + BUILTINS)},
            'none', 'true', 'false', 'mro', 'name', 'value', '0', '1st' ] }}
{{ 'command': 'lambda',
  'data': {{ 'class': 'int', 'from': 'str', '*import': 'KeywordValues',
            'print': 'int', 'arguments': 'int', 'result': 'int', 'info': 'int',
            'strict': 'bool', 'cls': 'int', 'name': 'str' }},
  'returns': 'Keywords' }}
{{ 'command': 'import' }}
{{ 'event': 'YIELD', 'data': {{ 'return': 'int', '*await': 'KeywordValues' }} }}
"""

_API_SCHEMA = """
{ 'pragma': { 'member-name-exceptions': [ 'ApiNames', 'ApiData' ] } }
{ 'struct': 'ApiNames',
  'data': { 'from_wire': 'int', 'to-wire': 'int', 'value': 'int', 'known': 'int',
            'NAME': 'int', 'INFO': 'int', 'mro': 'int', 'from_wire_': 'int',
            '*to_wire_': 'str' } }
{ 'enum': 'ApiKind', 'data': [ 'value', 'from-wire', 'known' ] }
{ 'union': 'ApiUnion', 'base': { 'kind': 'ApiKind' }, 'discriminator': 'kind',
  'data': { 'from-wire': 'ApiNames', 'value': 'ApiData' } }
{ 'struct': 'ApiData', 'data': { 'NAME': 'str', 'value': 'int' } }
{ 'event': 'API_EVENT', 'data': 'ApiData' }
{ 'alternate': 'ApiAlt', 'data': { 'value': 'int', 'known': 'ApiNames' } }
"""

_COLLISIONS_SCHEMA = """
{ 'pragma': { 'member-name-exceptions': [ 'Clash', 'ClashValues' ] } }
{ 'struct': 'Clash', 'data': { 'type_': 'int', 'type': 'int', 'id': 'str', 'id_': 'str' } }
{ 'enum': 'ClashValues', 'data': [ 'None', 'none', 'a-b', 'A_B', 'x', 'X' ] }
{ 'struct': 'FooArguments', 'data': { 'x': 'int' } }
{ 'command': 'foo', 'data': { 'y': 'int' } }
{ 'struct': 'UuBase', 'data': { 'x': 'int' } }
{ 'enum': 'Kay', 'data': [ 'a', 'b' ] }
{ 'union': 'Uu', 'base': { 'k': 'Kay' }, 'discriminator': 'k', 'data': { 'a': 'UuBase' } }
{ 'event': 'FOO_BAR' }
{ 'event': 'FOO__BAR', 'data': { 'n': 'int' } }
"""

# Names that clash only where the generated code uses them (docs/bindings.md, "Names"):
# members named after the classes and builtins a class's body names, after what a
# class, an event or the client defines; and names that clash with nothing.
_SCOPES_SCHEMA = """
{ 'pragma': { 'member-name-exceptions': [ 'Shadow', 'ShadowUnion', 'StampBase', 'Stamped',
                                          'KeyError' ] } }
{ 'enum': 'ShadowKind', 'data': [ 'one', 'two' ] }
{ 'struct': 'Shadow',
  'data': { 'ShadowKind': 'ShadowKind', 'Shadow': 'int', 'property': 'int',
            '*old': { 'type': 'int', 'features': [ 'deprecated' ] },
            'str': 'str', 'type': 'str', 'id': 'int', 'match': 'int', 'case': 'int',
            'format': 'int', 'len': 'int', 'help': 'int', 'object': 'int',
            'timestamp': 'int', 'NAME': 'int', 'self': 'int', 'to_wire': 'int' } }
{ 'union': 'ShadowUnion', 'base': { 'kind': 'ShadowKind', 'ShadowKind': 'str' },
  'discriminator': 'kind', 'data': { 'one': 'KeyError' } }
{ 'struct': 'KeyError', 'data': { 'TypeError': 'TypeError' } }
{ 'enum': 'TypeError', 'data': [ 'a' ] }
{ 'struct': 'StampBase', 'data': { 'timestamp': 'int', 'HAS_DATA': 'bool' } }
{ 'struct': 'Stamped', 'base': 'StampBase', 'data': { 'NAME': 'str', 'when': 'int' } }
{ 'struct': 'StampChild', 'base': 'StampBase', 'data': { 'property': 'int' } }
{ 'event': 'STAMPED', 'data': 'Stamped' }
{ 'event': 'STAMPED_INLINE', 'data': { 'timestamp': 'int', 'match': 'str' } }
{ 'command': 'connect' }
{ 'command': 'execute', 'data': { 'name': 'str' } }
{ 'command': 'listen' }
{ 'command': 'events', 'returns': 'StampChild' }
{ 'command': 'timeout' }
{ 'command': 'close' }
{ 'command': 'float', 'returns': 'Shadow' }
{ 'command': 'list', 'data': { 'str': 'str', 'type': 'str' }, 'returns': [ 'Shadow' ] }
{ 'command': 'quit' }
{ 'command': 'id', 'data': { 'id': 'int', 'format': 'str' } }
{ 'command': 'shadow-call', 'data': { 'self': 'int', 'key': 'KeyError' } }
{ 'command': 'raw-add', 'data': { 'driver': 'str', '*bus': 'str', '*id': 'str', '*extra': 'int' },
  'gen': false }
{ 'command': 'raw-bare', 'gen': false, 'returns': 'StampChild' }
{ 'command': 'raw-union', 'data': 'ShadowUnion', 'boxed': true, 'gen': false }
"""

_TYPE_NAMES_SCHEMA = """
{ 'struct': 'None', 'data': { 'x': 'int' } }
{ 'struct': 'True', 'data': { 'n': 'None' } }
{ 'enum': 'False', 'data': [ 'yes', 'no' ] }
{ 'struct': 'Handler', 'data': { 'f': 'False' } }
{ 'struct': 'Annotations', 'data': { 'h': 'Handler' } }
{ 'struct': 'Enum', 'data': { 'x': 'int' } }
{ 'struct': 'Struct', 'base': 'Enum', 'data': { 'y': 'int' } }
{ 'struct': 'x-Foo', 'data': { 'a': 'int' } }
{ 'struct': '__org.qemu_Thing',
  'data': { '__org.qemu_member': 'int', 'x-member': 'True' } }
{ 'enum': '__org.qemu_Enum', 'data': [ '__org.qemu_val', 'x-val' ] }
{ 'command': '__org.qemu_cmd', 'data': { '__org.qemu_arg': 'int' }, 'returns': 'None' }
{ 'event': '__ORG.QEMU_EVENT', 'data': { '__org.qemu_d': 'int' } }
"""

_DOC = '''\
Triple """ double and \'\'\' single quotes, a backslash \\ and \\\\ two,
\\N{BULLET} and \\x41 and \\u0041 and \\t stay as written; non-ASCII: é ü 中文 🙂
"""
import os; os.system("touch MARKER")
"""
\'\'\'
__import__("os").system("touch MARKER")
\'\'\'
a line that ends with a quote "
a line that ends with a backslash \\'''.replace("MARKER", MARKER)


def _comment(text: str) -> str:
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines())


_DOCSTRINGS_SCHEMA = f"""
##
# @Hostile:
#
{_comment(_DOC)}
#
# @x: member text with \""" and \\ and "quotes"
#
# Since: 1.0
##
{{ 'struct': 'Hostile', 'data': {{ 'x': 'int' }} }}

##
# @ends-with-backslash:
#
# Text whose last character is a backslash \\
##
{{ 'command': 'ends-with-backslash' }}
"""

_DOC_EDGES_SCHEMA = """
##
# @StartsWithQuote:
#
# "quoted" at the very start of the docstring
#
# @x: a member
##
{ 'struct': 'StartsWithQuote', 'data': { 'x': 'int' } }

##
# @QuotedSince:
#
# @a: a value
#
# Since: 2.0 "the quoted release"
##
{ 'enum': 'QuotedSince', 'data': [ 'a' ] }

##
# @ENDS_WITH_QUOTE:
#
# Text whose last character is a double quote "
##
{ 'event': 'ENDS_WITH_QUOTE' }
"""

_DEEP = 50


def _deep_schema() -> str:
    lines = []
    for i in range(_DEEP):
        nxt = f", '*next': 'Chain{i + 1}'" if i < _DEEP - 1 else ""
        lines.append(f"{{ 'struct': 'Chain{i}', 'data': {{ 'v{i}': 'int'{nxt} }} }}")
        base = f"'base': 'Base{i - 1}', " if i else ""
        lines.append(f"{{ 'struct': 'Base{i}', {base}'data': {{ 'm{i}': 'int' }} }}")
    lines.append("{ 'command': 'deep', 'data': 'Base49', 'boxed': true, 'returns': 'Chain0' }")
    return "\n".join(lines)


_LONG_MEMBER = "a" + "-long-member-name" * 8
_LONG_TYPE = "VeryLong" + "TypeName" * 12
_LONG_SCHEMA = f"""
{{ 'enum': '{_LONG_TYPE}Enum', 'data': [ '{_LONG_MEMBER}', 'b' ] }}
{{ 'struct': '{_LONG_TYPE}',
  'data': {{ '{_LONG_MEMBER}': '{_LONG_TYPE}Enum',
            '*{_LONG_MEMBER}-opt': [ '{_LONG_TYPE}Enum' ] }} }}
{{ 'union': '{_LONG_TYPE}Union',
  'base': {{ '{_LONG_MEMBER}-tag': '{_LONG_TYPE}Enum' }},
  'discriminator': '{_LONG_MEMBER}-tag',
  'data': {{ '{_LONG_MEMBER}': '{_LONG_TYPE}' }} }}
{{ 'alternate': '{_LONG_TYPE}Alt', 'data': {{ 's': 'str', 'o': '{_LONG_TYPE}' }} }}
{{ 'command': 'long{"-command-name" * 8}',
  'data': {{ '{_LONG_MEMBER}': '{_LONG_TYPE}Enum', '*{_LONG_MEMBER}-alt': '{_LONG_TYPE}Alt' }},
  'returns': '{_LONG_TYPE}' }}
{{ 'event': 'LONG{"_EVENT_NAME" * 8}',
  'data': {{ '{_LONG_MEMBER}': '{_LONG_TYPE}Union' }} }}

##
# @ShortName:
#
# A single line of documentation that is much longer than black's limit of 88 columns.
##
{{ 'struct': 'ShortName', 'data': {{ }} }}
"""

# Every case but one has a command and an event (see "no_commands_no_events").
COMMON = "\n{ 'command': 'hostile-ping' }\n{ 'event': 'HOSTILE_PING' }\n"

# name → (files (the main one first), defines)
CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "keywords": ({"schema.json": _KEYWORDS_SCHEMA}, []),
    "api_names": ({"schema.json": _API_SCHEMA}, []),
    "collisions": ({"schema.json": _COLLISIONS_SCHEMA}, []),
    "type_names": ({"schema.json": _TYPE_NAMES_SCHEMA}, []),
    "scopes": ({"schema.json": _SCOPES_SCHEMA}, []),
    "docstrings": ({"schema.json": _DOCSTRINGS_SCHEMA}, []),
    "deep": ({"schema.json": _deep_schema()}, []),
    "odd_module_names": (
        {
            "schema.json": "{ 'include': 'odd\"\"\"name.json' }\n"
            "{ 'include': 'sub dir/None.json' }\n"
            "{ 'struct': 'Top', 'data': { 'n': 'InNone' } }",
            'odd"""name.json': "{ 'struct': 'InOdd', 'data': { 'a': 'int' } }",
            "sub dir/None.json": "{ 'struct': 'InNone', 'data': { 'o': 'InOdd' } }",
        },
        [],
    ),
    # Known failures (see the xfail reasons below).
    "enum_value_qapi_info": (
        {
            "schema.json": "{ 'pragma': { 'member-name-exceptions': [ 'Info' ] } }\n"
            "{ 'enum': 'Info', 'data': [ 'qapi_info', 'other' ] }"
        },
        [],
    ),
    "member_qapi_info": (
        {
            "schema.json": "{ 'pragma': { 'member-name-exceptions': [ 'Info' ] } }\n"
            "{ 'struct': 'Info', 'data': { 'QAPI_INFO': 'int' } }"
        },
        [],
    ),
    "event_member_has_data": (
        {
            "schema.json": "{ 'pragma': { 'member-name-exceptions': [ 'Data' ] } }\n"
            "{ 'struct': 'Data', 'data': { 'HAS_DATA': 'bool' } }\n"
            "{ 'event': 'HAS_IT', 'data': 'Data' }"
        },
        [],
    ),
    "command_arg_self": (
        {"schema.json": "{ 'command': 'selfish', 'data': { 'self': 'int' } }"},
        [],
    ),
    "command_method_clash": (
        {
            "schema.json": "{ 'pragma': { 'command-name-exceptions': [ 'foo_bar' ] } }\n"
            "{ 'command': 'foo-bar', 'data': { 'a': 'int' } }\n"
            "{ 'command': 'foo_bar', 'data': { 'b': 'str' } }"
        },
        [],
    ),
    "type_named_client": (
        {
            "schema.json": "{ 'struct': 'Client', 'data': { 'x': 'int' } }\n"
            "{ 'command': 'get-client', 'returns': 'Client' }"
        },
        [],
    ),
    "doc_edges": ({"schema.json": _DOC_EDGES_SCHEMA}, []),
    "long_names": ({"schema.json": _LONG_SCHEMA}, []),
    "no_commands_no_events": ({"schema.json": "{ 'struct': 'Lonely', 'data': {} }"}, []),
    "keyword_module": (
        {
            "schema.json": "{ 'include': 'class.json' }",
            "class.json": "{ 'struct': 'InClass', 'data': { 'a': 'int' } }",
        },
        [],
    ),
    "client_module": (
        {
            "schema.json": "{ 'include': 'client.json' }\n"
            "{ 'struct': 'Top', 'data': { 'c': 'InClient' } }",
            "client.json": "{ 'struct': 'InClient', 'data': { 'a': 'int' } }",
        },
        [],
    ),
    "filename_injection": (
        {f'x\nimport os; os.system("touch {MARKER}")\n#.json': "{ 'struct': 'Plain', 'data': {} }"},
        [],
    ),
}  # fmt: skip

_ALLOW_UNDERSCORE = "{ 'pragma': { 'member-name-exceptions': [ 'Clashy' ] } }\n"

# Schemas QAPI itself rejects: name → (text, part of the message).
REJECTED = {
    "member_clash": (
        _ALLOW_UNDERSCORE + "{ 'struct': 'Clashy', 'data': { 'a-b': 'int', 'a_b': 'int' } }",
        "collides",
    ),
    "enum_clash": (
        _ALLOW_UNDERSCORE + "{ 'enum': 'Clashy', 'data': [ 'a-b', 'a_b' ] }",
        "collides",
    ),
    "builtin_type_name": ("{ 'struct': 'int', 'data': {} }", "CamelCase"),
    "underscore_type": ("{ 'struct': '_Private', 'data': {} }", "invalid name"),
}

_BUG_QAPI_INFO = "bug: QAPI_INFO is not reserved: "
XFAIL: dict[tuple[str, str], str] = {}


def _params(test: str) -> list[Any]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=XFAIL[(name, test)]))
        if (name, test) in XFAIL
        else name
        for name in CASES
    ]


# -- generation, once for all tests ---------------------------------------------------------


@dataclasses.dataclass
class Generated:
    out: Path
    package: str
    error: BaseException | None = None

    @property
    def root(self) -> Path:
        return self.out / self.package


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Generated]:
    base = tmp_path_factory.mktemp("hostile")
    out = base / "out"
    results = {}
    for name, (files, defines) in CASES.items():
        folder = base / "schemas" / name
        for i, (rel, text) in enumerate(files.items()):
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if i == 0 and name != "no_commands_no_events":
                text += COMMON  # an empty EVENTS or COMMANDS is a bug of its own
            path.write_text(text)
        main = folder / next(iter(files))
        result = Generated(out, f"h_{name}")
        try:
            generate(load_schema(str(main)), str(out), result.package, defines)
        except Exception as err:
            result.error = err
        results[name] = result
    return results


def _compile_errors(result: Generated) -> list[str]:
    errors = []
    for path in sorted(result.root.rglob("*.py")):
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as err:
            errors.append(f"{path.name}: {err}")
    return errors


@pytest.fixture(scope="module")
def black_report(generated: dict[str, Generated]) -> str:
    """black --check over every generated package, once: its report."""
    roots = [str(r.root) for r in generated.values() if r.error is None]
    proc = subprocess.run(
        [sys.executable, "-m", "black", "--check", *roots],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stderr


@pytest.fixture(scope="module")
def mypy_report(generated: dict[str, Generated], tmp_path_factory: pytest.TempPathFactory) -> str:
    """mypy --strict over every generated package that compiles, in one run: its report."""
    packages = [r.package for r in generated.values() if r.error is None and not _compile_errors(r)]
    out = next(iter(generated.values())).out
    proc = run_mypy(out, packages, tmp_path_factory.mktemp("hostile-mypy"))
    assert "error: " in proc.stdout or proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _marker_absent() -> None:
    assert not Path(os.getcwd(), MARKER).exists(), "injected code ran"


# -- what every case must satisfy ------------------------------------------------------------


@pytest.mark.parametrize("case", _params("generates"))
def test_generates(generated: dict[str, Generated], case: str) -> None:
    """The schema is valid QAPI, and the generator writes a package for it."""
    result = generated[case]
    assert result.error is None, f"{type(result.error).__name__}: {result.error}"
    assert (result.root / "__init__.py").is_file()


@pytest.mark.parametrize("case", _params("compiles"))
def test_compiles(generated: dict[str, Generated], case: str) -> None:
    """Every generated file is valid Python."""
    result = generated[case]
    assert result.error is None
    assert _compile_errors(result) == []


@pytest.mark.parametrize("case", _params("imports"))
def test_imports(
    generated: dict[str, Generated], case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every module imports (the client too), and no injected code runs."""
    monkeypatch.chdir(tmp_path)  # where injected code would leave its marker
    result = generated[case]
    assert result.error is None
    pkg, _ = import_package(result.out, result.package, walk=False)
    import_modules(pkg)
    _marker_absent()


@pytest.mark.parametrize("case", _params("black"))
def test_black(generated: dict[str, Generated], black_report: str, case: str) -> None:
    """``black --check`` would leave every file of the package alone."""
    result = generated[case]
    assert result.error is None
    complaints = [line for line in black_report.splitlines() if str(result.root) in line]
    assert complaints == []


@pytest.mark.parametrize("case", _params("mypy"))
def test_mypy(generated: dict[str, Generated], mypy_report: str, case: str) -> None:
    """``mypy --strict`` (one run over all packages) reports nothing in the package."""
    result = generated[case]
    assert result.error is None and not _compile_errors(result)
    mine = re.compile(rf"(^|/){result.package}/")
    errors = [line for line in mypy_report.splitlines() if mine.search(line)]
    assert errors == []


@pytest.mark.parametrize(("case", "text", "message"), [(n, t, m) for n, (t, m) in REJECTED.items()])
def test_invalid_schemas_are_refused_clearly(
    tmp_path: Path, case: str, text: str, message: str
) -> None:
    """Names QAPI forbids are refused with a QAPIError naming the problem, nothing written."""
    schema = tmp_path / f"{case}.json"
    schema.write_text(text)
    with pytest.raises(qapigen.QAPIError) as excinfo:
        generate(load_schema(str(schema)), str(tmp_path / "out"), "refused")
    assert message in str(excinfo.value) and schema.name in str(excinfo.value)
    assert not (tmp_path / "out").exists()


# -- behaviour, case by case -------------------------------------------------------------------


def _fields(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name != "_unknown"]


def _check_keywords(pkg: ModuleType) -> None:
    names = KEYWORDS + SOFT_KEYWORDS + BUILTINS + LOCALS
    fields = _fields(pkg.Keywords)
    assert len(fields) == len(names) + 1
    # A suffix for keywords and the builtins a class's body names; soft keywords
    # and other builtins keep their names.
    body = {"bool", "dict", "float", "frozenset", "int", "list", "str", "tuple"}
    for name, field in zip(names, fields, strict=False):
        assert field.isidentifier() and not keyword.iskeyword(field), field
        suffixed = name in KEYWORDS or name in body
        assert field == (name + "_" if suffixed else name), (name, field)
    wire: dict[str, Any] = {n: i for i, n in enumerate(names)}
    wire["optional-class"] = "class"
    value = pkg.Keywords.from_wire(wire)
    assert value.to_wire() == wire and value.optional_class is pkg.KeywordValues.CLASS
    assert value.class_ == names.index("class")
    extra = ["none", "true", "false", "mro", "name", "value", "0", "1st"]
    assert [m.value for m in pkg.KeywordValues] == [*KEYWORDS, *SOFT_KEYWORDS, *BUILTINS, *extra]
    assert pkg.KeywordValues("None").name == "NONE" and pkg.KeywordValues("none").name == "NONE_"
    calls = []

    class Impl:
        def lambda_(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return value

        def import_(self) -> None:
            calls.append({})

    dispatcher = rt.Dispatcher(pkg.COMMANDS, handler(pkg, Impl))
    args = {"class": 1, "from": "f", "import": "yield", "print": 2, "arguments": 3}
    args |= {"result": 4, "info": 5, "strict": True, "cls": 6, "name": "n"}
    assert dispatcher.dispatch("lambda", args) == wire
    assert calls[0]["class_"] == 1 and calls[0]["import_"] is pkg.KeywordValues.YIELD
    assert calls[0]["arguments"] == 3 and calls[0]["strict"] is True
    assert dispatcher.dispatch("import", None) == {}
    event = pkg.EVENTS["YIELD"].from_wire({"return": 1, "await": "async"})
    assert event.to_wire() == {"return": 1, "await": "async"}


def _check_api_names(pkg: ModuleType) -> None:
    fields = _fields(pkg.ApiNames)
    assert "from_wire" not in fields and "to_wire" not in fields
    wire: dict[str, int | str] = {"from_wire": 1, "to-wire": 2, "value": 3, "known": 4}
    wire |= {"NAME": 5, "INFO": 6}
    wire |= {"mro": 7, "from_wire_": 8, "to_wire_": "t"}
    value = pkg.ApiNames.from_wire(wire)
    assert value.to_wire() == wire and callable(value.to_wire)
    # value and known are only enums' API, whose members are upper-cased: members keep them.
    assert (value.value, value.known) == (3, 4)
    assert pkg.ApiKind.VALUE.value == "value" and pkg.ApiKind.KNOWN.known is True
    union = pkg.ApiUnion.from_wire({"kind": "from-wire", **wire})
    assert union.to_wire() == {"kind": "from-wire", **wire}
    assert type(union) is pkg.ApiUnion_from_wire
    assert type(pkg.ApiUnion.from_wire({"kind": "value", "NAME": "", "value": 0})) is (
        pkg.ApiUnion_value
    )
    event = pkg.EVENTS["API_EVENT"].from_wire({"NAME": "n", "value": 1})
    assert event.NAME == "API_EVENT" and event.to_wire() == {"NAME": "n", "value": 1}
    assert pkg.ApiAlt.from_wire(5).value == 5


def _check_collisions(pkg: ModuleType) -> None:
    # Soft keywords and builtins are names like any other: nothing clashes.
    assert _fields(pkg.Clash) == ["type_", "type", "id", "id_"]
    wire = {"type_": 1, "type": 2, "id": "a", "id_": "b"}
    clash = pkg.Clash.from_wire(wire)
    assert (clash.type_, clash.type) == (1, 2) and clash.to_wire() == wire
    assert [m.name for m in pkg.ClashValues] == ["NONE", "NONE_", "A_B", "A_B_", "X", "X_"]
    assert pkg.COMMANDS["foo"].arg_type is pkg.FooArguments_
    assert _fields(pkg.FooArguments) == ["x"] and _fields(pkg.FooArguments_) == ["y"]
    assert pkg.UuBase_ in pkg.Uu.__mro__ and pkg.UuBase not in pkg.Uu.__mro__
    assert (pkg.EVENTS["FOO_BAR"], pkg.EVENTS["FOO__BAR"]) == (pkg.FooBarEvent, pkg.FooBarEvent_)


def _check_scopes(pkg: ModuleType) -> None:
    # A suffix only for a name the class's body uses (its classes, builtins in its
    # annotations, @property) or defines (to_wire, self); none for the rest.
    assert _fields(pkg.Shadow) == [
        "ShadowKind_", "Shadow_", "property_", "old", "str_", "type", "id", "match", "case",
        "format", "len", "help", "object", "timestamp", "NAME", "self_", "to_wire_",
    ]  # fmt: skip
    wire: dict[str, Any] = {
        n: i for i, n in enumerate(["Shadow", "property", "old", "id", "match", "case"])
    }
    wire |= {n: i for i, n in enumerate(["format", "len", "help", "object", "timestamp"])}
    wire |= {"ShadowKind": "two", "str": "s", "type": "t", "NAME": 1, "self": 2, "to_wire": 3}
    shadow = pkg.Shadow.from_wire(wire)
    assert shadow.to_wire() == wire and shadow.ShadowKind_ is pkg.ShadowKind.TWO
    assert (shadow.type, shadow.id, shadow.str_, shadow.timestamp) == ("t", 3, "s", 4)
    # The branch's __init__ sets its tag to pkg.ShadowKind.ONE, beside a member ShadowKind_.
    branch = pkg.ShadowUnion_one(ShadowKind_="k", TypeError=pkg.TypeError_.A)
    assert branch.kind is pkg.ShadowKind.ONE
    assert branch.to_wire() == {"kind": "one", "ShadowKind": "k", "TypeError": "a"}
    assert pkg.ShadowUnion.from_wire(branch.to_wire()) == branch
    with pytest.raises(rt.WireError, match="'TypeError'"):  # KeyError_ decodes with KeyError
        pkg.KeyError_.from_wire({"TypeError": "b"})
    # Events: what Event defines gets a suffix in the data's class and its bases (so
    # in the bases' other subclasses too), nowhere else.
    assert _fields(pkg.StampedEvent) == ["timestamp_", "HAS_DATA_", "NAME_", "when"]
    # (@property is named only in the body of a class with deprecated members.)
    assert _fields(pkg.StampChild) == ["timestamp_", "HAS_DATA_", "property"]
    assert _fields(pkg.StampedInlineEvent) == ["timestamp_", "match"]
    event = pkg.StampedEvent.from_wire({"timestamp": 7, "HAS_DATA": True, "NAME": "n", "when": 1})
    event._received_at({"timestamp": {"seconds": 1, "microseconds": 500000}})
    assert (event.timestamp, event.timestamp_, event.NAME, event.NAME_) == (1.5, 7, "STAMPED", "n")
    # Commands: the clients' names and builtins the classes' annotations name get a
    # suffix; other names do not.
    methods = {name: info.method for name, info in pkg.COMMANDS.items()}
    assert methods == {
        "connect": "connect_", "execute": "execute_", "listen": "listen_", "events": "events_",
        "timeout": "timeout_", "close": "close_", "float": "float_", "list": "list_",
        "quit": "quit", "id": "id", "shadow-call": "shadow_call", "raw-add": "raw_add",
        "raw-bare": "raw_bare", "raw-union": "raw_union", "hostile-ping": "hostile_ping",
    }  # fmt: skip
    client = importlib.import_module(f"{pkg.__name__}.client")
    for name in ("connect", "execute", "listen", "events", "timeout", "close"):
        for cls in (client.Client, client.SyncClient):
            assert name not in vars(cls), (cls, name)
    params = inspect.signature(client.Client.shadow_call).parameters
    assert list(params) == ["self", "self_", "key"]
    assert list(inspect.signature(client.Client.id).parameters) == ["self", "id", "format"]
    # 'gen': false: the members, typed, and **extra (a member takes "extra" first).
    assert list(inspect.signature(client.Client.raw_add).parameters) == [
        "self", "driver", "bus", "id", "extra", "extra_",
    ]  # fmt: skip
    sent: list[tuple[str, Any]] = []

    class Recording(client.Client):  # type: ignore[misc,name-defined]
        async def _call(self, name: str, arguments: Any) -> Any:
            sent.append((name, arguments))

    async def calls() -> None:
        recording = Recording()
        await recording.raw_add(driver="d", id="x", extra=1, addr="0x3", **{"disable-legacy": "on"})
        await recording.raw_bare(anything=[1])
        await recording.raw_union({"kind": "two", "ShadowKind": "k"})  # a union: the object
        await recording.shadow_call(self_=1, key=pkg.KeyError_(TypeError=pkg.TypeError_.A))

    asyncio.run(calls())
    assert sent == [
        ("raw-add", {"driver": "d", "id": "x", "extra": 1, "addr": "0x3", "disable-legacy": "on"}),
        ("raw-bare", {"anything": [1]}),
        ("raw-union", {"kind": "two", "ShadowKind": "k"}),
        ("shadow-call", {"self": 1, "key": {"TypeError": "a"}}),
    ]


def _check_type_names(pkg: ModuleType) -> None:
    assert {"None_", "True_", "False_", "Handler_", "Enum", "Struct"} <= set(pkg.__all__)
    assert pkg.Handler is not pkg.Handler_ and issubclass(pkg.Handler_, rt.Struct)
    value = pkg.True_.from_wire({"n": {"x": 1}})
    assert isinstance(value.n, pkg.None_) and value.to_wire() == {"n": {"x": 1}}
    assert issubclass(pkg.Struct, pkg.Enum) and issubclass(pkg.Enum, rt.Struct)
    assert pkg.Struct.from_wire({"x": 1, "y": 2}).to_wire() == {"x": 1, "y": 2}
    thing = {"__org.qemu_member": 1, "x-member": {"n": {"x": 2}}}
    assert pkg.Q___org_qemu_Thing.from_wire(thing).to_wire() == thing
    assert [m.value for m in pkg.Q___org_qemu_Enum] == ["__org.qemu_val", "x-val"]
    assert pkg.EVENTS["__ORG.QEMU_EVENT"].from_wire({"__org.qemu_d": 1}).to_wire() == {
        "__org.qemu_d": 1
    }
    assert pkg.x_Foo.from_wire({"a": 1}).a == 1


def _check_docstrings(pkg: ModuleType) -> None:
    _marker_absent()
    doc = pkg.Hostile.__doc__
    assert doc is not None
    text = textwrap.dedent("\n".join(doc.splitlines()[1:]))
    got = doc.splitlines()[0] + "\n" + text
    expected_lines = _DOC.splitlines()
    assert got.splitlines()[: len(expected_lines)] == expected_lines
    assert 'member text with """ and \\ and "quotes"' in doc
    assert pkg.Handler.ends_with_backslash.__doc__.rstrip().endswith("backslash \\")
    assert pkg.Hostile.from_wire({"x": 1}).to_wire() == {"x": 1}


def _check_deep(pkg: ModuleType) -> None:
    wire: dict[str, Any] = {}
    inner = wire
    for i in range(_DEEP):
        inner[f"v{i}"] = i
        if i < _DEEP - 1:
            inner["next"] = {}
            inner = inner["next"]
    value = pkg.Chain0.from_wire(wire)
    assert value.to_wire() == wire and pkg.Chain0.from_wire(value.to_wire()) == value
    inner["v49"] = "x"
    with pytest.raises(rt.WireError) as excinfo:
        pkg.Chain0.from_wire(wire)
    assert excinfo.value.desc == (
        f"Invalid parameter type for '{'next.' * (_DEEP - 1)}v49', expected: integer"
    )
    bases = {f"m{i}": i for i in range(_DEEP)}
    deepest = pkg.Base49.from_wire(bases)
    assert deepest.to_wire() == bases and isinstance(deepest, pkg.Base0)
    assert list(deepest.to_wire()) == list(bases)  # the farthest base's members first
    dispatcher = rt.Dispatcher(pkg.COMMANDS, _Returning(pkg.Chain0(v0=0)))
    assert dispatcher.dispatch("deep", bases) == {"v0": 0}


class _Returning:
    def __init__(self, result: Any) -> None:
        self.result = result

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: self.result


def _check_odd_module_names(pkg: ModuleType) -> None:
    names = {m.__name__ for m in import_modules(pkg)}
    assert {"h_odd_module_names.odd___name", "h_odd_module_names.sub_dir.none"} <= names
    assert pkg.Top.from_wire({"n": {"o": {"a": 1}}}).to_wire() == {"n": {"o": {"a": 1}}}


def _check_doc_edges(pkg: ModuleType) -> None:
    assert pkg.StartsWithQuote.__doc__.lstrip().startswith('"quoted" at the very start')
    assert pkg.EndsWithQuoteEvent.__doc__.rstrip().endswith('double quote "')
    assert pkg.QuotedSince.QAPI_INFO.since == '2.0 "the quoted release"'


def _check_enum_value_qapi_info(pkg: ModuleType) -> None:
    assert pkg.Info("qapi_info").to_wire() == "qapi_info"


def _check_member_qapi_info(pkg: ModuleType) -> None:
    assert pkg.Info.from_wire({"QAPI_INFO": 1}).to_wire() == {"QAPI_INFO": 1}


def _check_event_member_has_data(pkg: ModuleType) -> None:
    event = pkg.EVENTS["HAS_IT"].from_wire({"HAS_DATA": False})
    assert event.to_wire() == {"HAS_DATA": False}
    assert rt.event_message(event, 0.0)["data"] == {"HAS_DATA": False}


def _check_command_arg_self(pkg: ModuleType) -> None:
    got = []

    class Impl:
        def selfish(self, **kwargs: Any) -> None:
            got.append(kwargs)

    assert rt.Dispatcher(pkg.COMMANDS, handler(pkg, Impl)).dispatch("selfish", {"self": 1}) == {}
    assert got == [{"self_": 1}]


def _check_command_method_clash(pkg: ModuleType) -> None:
    methods = [info.method for info in pkg.COMMANDS.values()]
    assert len(set(methods)) == len(methods)


def _check_round_trips_only(pkg: ModuleType) -> None:
    for name in pkg.__all__:
        cls = getattr(pkg, name)
        if isinstance(cls, type) and issubclass(cls, rt.Struct) and not _fields(cls):
            assert cls.from_wire({}).to_wire() == {}


BEHAVIOUR: dict[str, Callable[[ModuleType], None]] = {
    "keywords": _check_keywords,
    "api_names": _check_api_names,
    "collisions": _check_collisions,
    "type_names": _check_type_names,
    "scopes": _check_scopes,
    "docstrings": _check_docstrings,
    "deep": _check_deep,
    "odd_module_names": _check_odd_module_names,
    "doc_edges": _check_doc_edges,
    "enum_value_qapi_info": _check_enum_value_qapi_info,
    "member_qapi_info": _check_member_qapi_info,
    "event_member_has_data": _check_event_member_has_data,
    "command_arg_self": _check_command_arg_self,
    "command_method_clash": _check_command_method_clash,
}


@pytest.mark.parametrize("case", _params("behaviour"))
def test_behaviour(
    generated: dict[str, Generated], case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The case's names map as documented and its values round-trip (or dispatch) correctly."""
    monkeypatch.chdir(tmp_path)  # where injected code would leave its marker
    result = generated[case]
    assert result.error is None
    pkg, _ = import_package(result.out, result.package, walk=False)
    BEHAVIOUR.get(case, _check_round_trips_only)(pkg)
    _marker_absent()


def test_define_injection_refused(tmp_path: Path) -> None:
    """A --define symbol that is not an identifier is refused; nothing runs, nothing is written."""
    schema = tmp_path / "schema.json"
    schema.write_text("{ 'struct': 'Plain', 'data': { 'b': { 'type': 'int', 'if': 'ON' } } }")
    evil = f'ON\nimport os; os.system("touch {MARKER}")\n#'
    with pytest.raises(qapigen.QAPIError, match="is not a valid condition symbol"):
        generate(qapigen.load_schema(str(schema)), str(tmp_path / "out"), "pkg", [evil])
    assert not (tmp_path / "out").exists()
    assert not Path(MARKER).exists()


def test_mutual_bases_refused(tmp_path: Path) -> None:
    """Modules whose structs take bases from each other: a clear QAPIError, nothing written.

    Python cannot import two modules each needing the other's classes to
    create its own; the generator says so instead of writing a broken package.
    """
    files = {
        "schema.json": "{ 'include': 'a.json' }\n{ 'include': 'b.json' }",
        "a.json": "{ 'struct': 'AOne', 'base': 'BTwo', 'data': { 'a1': 'int' } }\n"
        "{ 'struct': 'ATwo', 'data': { 'a2': 'int' } }",
        "b.json": "{ 'struct': 'BOne', 'base': 'ATwo', 'data': { 'b1': 'int' } }\n"
        "{ 'struct': 'BTwo', 'data': { 'b2': 'int' } }",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    schema = qapigen.load_schema(str(tmp_path / "schema.json"))
    with pytest.raises(qapigen.QAPIError, match=r"take base types from each other.*a -> b -> a"):
        generate(schema, str(tmp_path / "out"), "pkg")
    assert not (tmp_path / "out").exists()
