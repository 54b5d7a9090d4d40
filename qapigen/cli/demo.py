"""The project's main job (``qapigen`` with no arguments).

It regenerates ``generated/`` from ``schemas/`` (when run in the project),
starts a simulated machine with the harness (:mod:`qapigen.harness`), makes
its guest panic through the typed client, and prints the typed events and
states as they come; then ``cont`` and ``quit``.
"""

from __future__ import annotations

import os
import sys

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from qapigen.simulator_api.client import SyncClient


def _regenerate() -> None:
    from ..backends.python.generate import generate
    from ..frontend.builder import load_schema
    from .project import DEFAULT_SCHEMA, project_defaults

    if not os.path.exists(DEFAULT_SCHEMA):
        print("(not in the project: using the installed bindings as they are)")
        return
    defaults = project_defaults()
    schema = load_schema(defaults["schema"])
    result = generate(schema, defaults["output"], defaults["package"])
    print(f"regenerated {result.package_dir}: {len(result.changed)} files changed")


def _session(client: SyncClient) -> None:
    import qapigen.simulator_api as qmp

    events = client.events
    print("connected:", client.greeting)
    print("status:", client.query_status())
    print("-> the guest writes 1 to the pvpanic port (x-guest-pvpanic-write)")
    client.x_guest_pvpanic_write(value=1)
    print("event:", events.wait_for(qmp.GuestPanickedEvent))
    print("event:", events.wait_for(qmp.StopEvent))
    print("status:", client.query_status())
    print("-> cont")
    client.cont()
    print("event:", events.wait_for(qmp.ResumeEvent))
    print("status:", client.query_status())
    print("-> quit")
    client.quit()
    print("event:", events.wait_for(qmp.ShutdownEvent))


def main() -> int:
    """Run the demonstration; its exit status."""
    from ..harness import LaunchError, Machine

    _regenerate()
    machine = Machine(["-no-shutdown", "-device", "pvpanic", "-name", "demo"], timeout=10)
    try:
        with machine:
            print("started:", " ".join(machine.argv[2:]))
            _session(machine.client)
            status = machine.wait()
    except LaunchError as err:
        print(f"the simulated machine did not start: {err}", file=sys.stderr)
        return 1
    print("the machine exited with status", status)
    return status
