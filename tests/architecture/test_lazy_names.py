"""The runtime's and the machine's names, loaded from their modules at first use.

``qapigen.runtime`` and ``qapigen.machine`` import none of their modules until a
name is asked for (``qapigen vm`` checks its command line before its greeting
without the codec, the machine or the bindings); every name they give must
still be there, be the object its module defines, and be listed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGES = ("qapigen.runtime", "qapigen.machine")

CHECK = """
import importlib, sys
package = importlib.import_module({name!r})
loaded = sorted(m for m in sys.modules if m.startswith({name!r} + "."))
values = {{attr: getattr(package, attr) for attr in package.__all__}}
homes = [m for m in sys.modules if m.startswith({name!r} + ".")]
for attr, value in values.items():
    # The object a module of the package defines (or takes from another of them).
    assert any(getattr(sys.modules[m], attr, None) is value for m in homes), attr
assert set(package.__all__) <= set(dir(package))
print(" ".join(loaded))
"""


@pytest.mark.parametrize("name", PACKAGES)
def test_names_load_at_first_use_and_are_their_modules(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK.format(name=name)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    # Importing the package loaded only the loader of its names.
    assert proc.stdout.split() in ([], ["qapigen.runtime.lazy"])


@pytest.mark.parametrize("name", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    import importlib

    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="nosuch"):
        package.nosuch  # noqa: B018


def test_the_runtime_stops_being_lazy_at_its_first_use() -> None:
    """Once a name is asked for, the runtime has every name and no __getattr__:
    CPython specializes attribute lookups only on modules without one, and
    generated code reads the runtime's names in every decode."""
    code = (
        "import qapigen.runtime as rt\n"
        "assert '__getattr__' in vars(rt)\n"
        "rt.Struct\n"
        "assert '__getattr__' not in vars(rt)\n"
        "assert set(rt.__all__) <= set(vars(rt))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
