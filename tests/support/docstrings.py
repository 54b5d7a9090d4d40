"""Reading generated docstrings as IDEs and Sphinx do, and checking that they are reST.

Attribute docstrings (a string right after a class attribute's annotation or
assignment, PEP 257) exist only in the source: like Sphinx's autodoc, these
helpers read them there.  docutils is no dependency of the project: where no
Python at hand has it, ``rest_problems`` says so and the caller skips.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path


def attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings of ``cls``'s attributes (cleaned as ``inspect.cleandoc``
    does), by name: those after an annotation or assignment in the class body,
    and those of properties.  (``cls`` is a generated class: one at its
    module's top level.)"""
    source = inspect.getsourcefile(cls)
    assert source is not None
    return module_attribute_docs(Path(source))[cls.__name__]


@functools.cache
def module_attribute_docs(path: Path) -> dict[str, dict[str, str]]:
    """``attribute_docs`` of every class at the top level of the module ``path``."""
    tree = ast.parse(path.read_text())
    return {
        node.name: _class_attribute_docs(node)
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def _class_attribute_docs(body: ast.ClassDef) -> dict[str, str]:
    docs: dict[str, str] = {}
    for stmt, after in zip(body.body, [*body.body[1:], None], strict=True):
        text = _string(after)
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
        elif isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
        elif isinstance(stmt, ast.FunctionDef) and stmt.decorator_list:
            decorator = stmt.decorator_list[0]
            if not (isinstance(decorator, ast.Name) and decorator.id == "property"):
                continue
            name, text = stmt.name, ast.get_docstring(stmt)
        else:
            continue
        if text is not None:
            docs[name] = inspect.cleandoc(text)
    return docs


def _string(stmt: ast.stmt | None) -> str | None:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        value = stmt.value.value
        return value if isinstance(value, str) else None
    return None


def source_docstrings(root: Path) -> Iterator[tuple[str, str]]:
    """Every docstring in the ``.py`` files under ``root`` (attribute ones
    too): (``file:line``, its text cleaned)."""
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            body = getattr(node, "body", None)
            if not isinstance(body, list):
                continue
            for stmt in body:
                text = _string(stmt)
                if text is not None:
                    where = f"{path.relative_to(root)}:{stmt.lineno}"
                    yield where, inspect.cleandoc(text)


_CHECK = """
import io, json, sys
import docutils.core
problems = {}
for where, text in json.load(sys.stdin):
    stream = io.StringIO()
    docutils.core.publish_doctree(text, settings_overrides={
        "warning_stream": stream, "report_level": 2, "halt_level": 5,
    })
    if stream.getvalue():
        problems[where] = stream.getvalue()
json.dump(problems, sys.stdout)
"""


def docutils_python() -> str | None:
    """A Python that has docutils: this one, or the ``python3`` on the PATH."""
    for python in (sys.executable, shutil.which("python3")):
        if python is None:
            continue
        probe = subprocess.run(
            [python, "-c", "import docutils.core"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return python
    return None


def rest_problems(python: str, docstrings: Iterable[tuple[str, str]]) -> dict[str, str]:
    """What docutils reports (warnings and worse) for each of ``docstrings``
    read as reST: where → its messages; empty when all parse cleanly."""
    proc = subprocess.run(
        [python, "-c", _CHECK],
        input=json.dumps(list(docstrings)),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    problems: dict[str, str] = json.loads(proc.stdout)
    return problems
