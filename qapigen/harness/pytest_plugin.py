"""The pytest plugin (entry point ``qapigen``): a ``machine`` fixture.

::

    def test_stop(machine):
        machine.client.stop()
        assert machine.client.query_status().status.value == "paused"

Each test that asks for ``machine`` gets a launched :class:`~.machine.Machine`,
shut down after the test.  What it runs:

- ``--qapigen-binary`` / ini ``qapigen_binary``: the program (default ``qapigen vm``);
- ``--qapigen-args`` / ini ``qapigen_args``: its arguments (shell words);
- ``@pytest.mark.qapigen_args("-S", ...)``: more arguments for one test;
- ``--qapigen-bindings`` / ini ``qapigen_bindings``: the package whose
  ``client.SyncClient`` the machine gets (default ``qapigen.simulator_api``).

This module is imported whenever pytest starts where qapigen is installed:
it imports the harness only when a test asks for a machine.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

# As in every module, not typing.TYPE_CHECKING (see docs/architecture.md).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from .machine import Machine


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qapigen", "the machine fixture (qapigen's harness)")
    group.addoption(
        "--qapigen-binary",
        metavar="PROGRAM",
        help="the machine's program, e.g. qemu-system-x86_64 (default: qapigen vm)",
    )
    group.addoption(
        "--qapigen-args",
        metavar="ARGS",
        help="the machine's arguments, as shell words (--qapigen-args='-S -m 1G')",
    )
    group.addoption(
        "--qapigen-bindings",
        metavar="PACKAGE",
        help="bindings whose client.SyncClient the machine gets (default: qapigen.simulator_api)",
    )
    parser.addini("qapigen_binary", "the machine fixture's program (default: qapigen vm)")
    parser.addini("qapigen_args", "the machine fixture's arguments, as shell words")
    parser.addini("qapigen_bindings", "the bindings of the machine fixture's client")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "qapigen_args(*args): more arguments for this test's machine fixture"
    )


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"qapigen_{name}") or config.getini(f"qapigen_{name}")
    return str(value or "")


@pytest.fixture
def machine(request: pytest.FixtureRequest) -> Iterator[Machine[Any]]:
    """A launched machine (``qapigen vm`` unless configured otherwise), its typed client
    ready as ``machine.client``; shut down after the test."""
    from .machine import Machine

    config = request.config
    args = shlex.split(_setting(config, "args"))
    for marker in reversed(list(request.node.iter_markers("qapigen_args"))):
        args += [str(arg) for arg in marker.args]
    bindings = _setting(config, "bindings") or "qapigen.simulator_api"
    client = importlib.import_module(f"{bindings}.client").SyncClient
    binary = _setting(config, "binary") or None
    with Machine(args, binary=binary, client=client) as launched:
        yield launched
