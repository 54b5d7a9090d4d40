"""Names of a package loaded from their modules at first use (PEP 562).

A generated package's ``__init__`` names every class of its modules and
imports none of them; the machine's own ``__init__`` does the same with its
names, so that a program that needs a few of them (the simulator before its
greeting) imports only the modules that define those.  (The runtime's
``__init__`` loads all of its names at the first one asked for: see there.)
Standard library only, and nothing else of the runtime: importing this must
cost next to nothing.
"""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["lazy_names", "load_name"]


def load_name(package: str, module: str, name: str) -> object:
    """``name`` of the package's ``module`` (a dotted path inside it), imported."""
    path = f"{package}.{module}"
    __import__(path)
    return getattr(sys.modules[path], name)


def lazy_names(
    package: str, modules: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of package ``package``, whose names
    are those ``modules`` maps to their modules.

    A name, once loaded, is stored in the package's namespace, so that the
    next use finds it there without calling ``__getattr__``.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = load_name(package, module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *modules})

    return __getattr__, __dir__
