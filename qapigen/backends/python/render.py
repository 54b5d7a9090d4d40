"""Renders the Python view of a schema with the Jinja2 templates.

The templates write plain code, a statement a line however long it is;
``formatting`` then formats it in black's style.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from . import codewriter
from .pymodel import PyModule, PyPackage


def templates_dir() -> str:
    """Where the templates are: the repository's ``templates/``, or the installed copy."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(here, "..", "..", "..", "templates"),
        os.path.join(here, "..", "..", "templates"),
    ):
        if os.path.isfile(os.path.join(candidate, "module.py.j2")):
            return os.path.normpath(candidate)
    raise FileNotFoundError("qapigen's templates are missing")


# What the templates call: codewriter's spelling of the records.
_TEMPLATE_FUNCTIONS = (
    "attribute_annotations",
    "encode_fields",
    "init_body",
    "warn_if_set",
    "alternate_init_def",
    "bases",
    "branches_table",
    "client_body",
    "client_names",
    "client_uses_runtime",
    "client_uses_typing",
    "package_all",
    "package_imports",
    "package_modules",
    "command_loaders",
    "client_signature",
    "decode_alternatives",
    "decode_members",
    "decode_presets",
    "decoder",
    "decoder_def",
    "docstring",
    "field_annotation",
    "function",
    "init_def",
    "annotation",
    "own_branches",
    "own_values",
    "ref",
    "setter_param",
    "signature",
    "sync_body",
    "slots",
    "field_names",
    "wire_names",
    "type_info",
)


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Python source, not HTML: values are quoted by pystr
        extensions=["jinja2.ext.do"],
        auto_reload=False,  # one run: an included template is not looked at again
    )
    env.filters["pystr"] = codewriter.pystr
    env.filters["pyrepr"] = json.dumps
    env.globals.update(
        {name: getattr(codewriter, name) for name in _TEMPLATE_FUNCTIONS},
    )
    return env


# Names longer than this make a file verbatim (see ``_verbatim``).  The
# longest of QEMU 10.0's schema is 50 characters (a union branch's class).
NAME_LIMIT = 56

# Tells black and ruff to leave the rest of the file as written.
VERBATIM = "# fmt: off"


def _verbatim(header: str, names: Iterable[str]) -> str:
    """``header``, and a mark to leave the file unformatted if it names
    something too long for a line.

    Where nothing can make a statement fit, black and ruff split it
    differently (black wraps an assignment's value in parentheses even when
    its target alone is too long, ruff does not: ruff issue 11820), so such a
    file keeps its plain, one statement a line, layout, which both accept.
    """
    if any(len(name) > NAME_LIMIT for name in names):
        return f"{header}\n{VERBATIM}"
    return header


def _module_names(module: PyModule) -> Iterator[str]:
    """The names a module's code is written with, those of the schema included."""
    yield from module.imports.values()
    for cls in module.classes:
        yield cls.name
        for f in cls.all_fields:
            yield from (f.name, f.attr, f.wire)
        for name, wire, _ in cls.values:
            yield from (name, wire)
        for value, branch in cls.branches:
            yield from (value, branch)


def _package_names(package: PyPackage) -> Iterator[str]:
    """The names ``__init__.py`` and ``client.py`` are written with."""
    for _, name in package.exports:
        yield name
    for wire, _, cls in package.events:
        yield from (wire, cls)
    for c in package.commands:
        yield from (c.name, c.method)
        yield from (f.name for f in c.params)


def render(package: PyPackage, header: str, digest: str) -> dict[str, str]:
    """Every file of the package: relative path → content."""
    env = _environment()
    files: dict[str, str] = {}
    module_template = env.get_template("module.py.j2")
    for module in package.modules:
        files[module.filename] = module_template.render(
            header=_verbatim(header, _module_names(module)),
            module=module,
            package=package.name,
            module_doc=_module_doc(module),
        )
    for sub in package.subpackages:
        path = os.path.join(*sub.split("."), "__init__.py")
        files.setdefault(path, f'{header}\n"""Modules of the schema folder {sub}."""\n')
    top_header = _verbatim(header, _package_names(package))
    files["__init__.py"] = env.get_template("init.py.j2").render(
        header=top_header, pkg=package, package=package.name, digest=digest
    )
    files["client.py"] = env.get_template("client.py.j2").render(
        header=top_header, pkg=package, package=package.name
    )
    files["py.typed"] = ""
    return files


def _module_doc(module: PyModule) -> str:
    if module.schema_module.startswith("./"):
        return "QAPI's built-in types."
    return f"The definitions of schema module {module.schema_module}."
