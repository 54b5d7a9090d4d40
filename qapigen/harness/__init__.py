"""A typed harness for QEMU and ``qapigen vm`` alike: launch a machine, talk to it through
the typed client, shut it down gracefully; and a pytest plugin whose ``machine`` fixture
does all that (see docs/guide.md).

``Machine``, ``LaunchError`` and ``VM_COMMAND`` come from :mod:`.machine`, imported on
first use: pytest imports the plugin beside this package in every run, where no
machine may be wanted.
"""

from __future__ import annotations

from typing import Any

# As in every module, not typing.TYPE_CHECKING (see docs/architecture.md).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from .machine import VM_COMMAND, LaunchError, Machine

__all__ = ["VM_COMMAND", "LaunchError", "Machine"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import machine

        return getattr(machine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
