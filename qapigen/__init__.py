"""qapigen: QEMU's QAPI schema language, in Python.

``load_schema(path)`` parses and checks a schema and returns its model;
:class:`QAPIError` is raised with QEMU's diagnostic when it is invalid.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["QAPIError", "Schema", "__version__", "load_schema"]

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .frontend.builder import load_schema
    from .frontend.errors import QAPIError
    from .frontend.model import Schema


def __getattr__(name: str) -> Any:
    # The front end is imported on first use, so that importing the package
    # (as generated bindings do) stays cheap.
    if name == "QAPIError":
        from .frontend.errors import QAPIError

        return QAPIError
    if name == "load_schema":
        from .frontend.builder import load_schema

        return load_schema
    if name == "Schema":
        from .frontend.model import Schema

        return Schema
    raise AttributeError(f"module 'qapigen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
