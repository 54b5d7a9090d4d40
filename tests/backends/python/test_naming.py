"""The naming rule's lists stay true to what they describe (docs/bindings.md, "Names")."""

from __future__ import annotations

import ast
import builtins
import keyword

import qapigen.simulator_api.client as generated_client
from qapigen.backends.python import naming
from qapigen.runtime.client import AsyncClient, SyncClient

from ...support.paths import REPO

GENERATED = REPO / "generated" / "simulator_api"
GOLDEN = REPO / "tests" / "backends" / "python" / "golden" / "expected" / "everything"


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_client_names_are_the_clients_own() -> None:
    """A command's method may take no name the clients define: the list of those is
    exactly the runtime clients' public names, their attributes set in ``__init__``
    included, and the generated ``SyncClient``'s ``client``."""
    instance_attributes = {"qmp", "strict", "timeout", "events", "client"}
    runtime = _public(AsyncClient) | _public(SyncClient) | instance_attributes
    assert runtime == naming.CLIENT_NAMES
    # The generated clients add nothing else but the commands' methods.
    commands = {info.method for info in generated_client.Client.COMMANDS.values()}
    for cls in (generated_client.Client, generated_client.SyncClient):
        assert _public(cls) - commands <= naming.CLIENT_NAMES


def test_keywords_are_python_3_11s() -> None:
    """The fixed keyword list is the running Python's hard keywords (soft ones are names)."""
    assert frozenset(keyword.kwlist) == naming.KEYWORDS
    assert not naming.KEYWORDS & {"match", "case", "type", "_"}


def test_class_body_names_are_those_generated_classes_use() -> None:
    """Every builtin a generated class's body names (annotations, decorators) is
    reserved for its members and methods: in the project's package and the golden one."""
    used: set[str] = set()
    for folder in (GENERATED, GOLDEN):
        for path in folder.rglob("*.py"):
            used |= _class_body_builtins(ast.parse(path.read_text()))
    assert used <= naming.CLASS_BODY_NAMES | naming.DEPRECATED_BODY_NAMES
    assert {"str", "int", "float", "bool", "list", "dict", "tuple", "property"} <= used


def _class_body_builtins(module: ast.Module) -> set[str]:
    """The builtins named in class bodies' annotations and decorators (methods' too)."""
    nodes: list[ast.expr] = []
    for cls in (n for n in ast.walk(module) if isinstance(n, ast.ClassDef)):
        for item in cls.body:
            if isinstance(item, ast.AnnAssign):
                nodes.append(item.annotation)
            elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                nodes += item.decorator_list
                nodes += [
                    a.annotation
                    for a in ast.walk(item.args)
                    if isinstance(a, ast.arg) and a.annotation
                ]
                nodes += [item.returns] if item.returns else []
    names = {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}
    return names & set(dir(builtins))
