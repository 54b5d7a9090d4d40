"""The project's own settings: ``[tool.qapigen]`` of ``pyproject.toml``.

``qapigen generate`` with no schema, and the main job, work on the project
in the current folder; these are their defaults.
"""

from __future__ import annotations

import os

DEFAULT_SCHEMA = os.path.join("schemas", "qapi-schema.json")
DEFAULT_OUTPUT = "generated"
DEFAULT_PACKAGE = "simulator_api"


def _table() -> dict[str, object]:
    import tomllib

    try:
        with open("pyproject.toml", "rb") as fp:
            table = tomllib.load(fp).get("tool", {}).get("qapigen", {})
    except (OSError, tomllib.TOMLDecodeError):
        table = {}
    return table if isinstance(table, dict) else {}


def project_defaults() -> dict[str, str]:
    """``[tool.qapigen]`` of the project's pyproject.toml, in the current folder."""
    defaults = {"schema": DEFAULT_SCHEMA, "output": DEFAULT_OUTPUT, "package": DEFAULT_PACKAGE}
    defaults.update({k: str(v) for k, v in _table().items() if k in defaults})
    return defaults


#: Where :func:`project_defines` reads, as messages name it.
DEFINE_SETTING = "pyproject.toml's [tool.qapigen] define"


def project_defines() -> list[str]:
    """``define = [...]`` of ``[tool.qapigen]``: the condition symbols that
    ``qapigen generate`` defines when the command line gives no ``--define``.

    Raises ValueError when it is not a list of strings.
    """
    value = _table().get("define", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{DEFINE_SETTING} must be a list of strings")
    return value


#: What ``qapigen generate`` needs beyond qapigen itself: the ``generate`` extra.
GENERATOR_DEPENDENCIES = ("jinja2", "ruff")
INSTALL_GENERATOR = "pip install 'qapigen[generate]'"


def missing_generator_dependencies() -> list[str]:
    """The generator's dependencies that are not installed (a plain install leaves them out)."""
    from importlib.util import find_spec

    return [name for name in GENERATOR_DEPENDENCIES if find_spec(name) is None]
