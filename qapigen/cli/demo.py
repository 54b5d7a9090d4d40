"""The project's main job (``qapigen`` with no arguments).

It regenerates ``generated/`` from ``schemas/`` (when run in the project),
starts a simulated machine behind a QMP socket, connects with the typed
client, makes the guest panic, and prints the typed events and states as
they come; then ``cont`` and ``quit``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time


def _regenerate() -> None:
    from ..backends.python.generate import generate
    from ..frontend.schema import load_schema
    from .project import DEFAULT_SCHEMA, project_defaults

    if not os.path.exists(DEFAULT_SCHEMA):
        print("(not in the project: using the installed bindings as they are)")
        return
    defaults = project_defaults()
    schema = load_schema(defaults["schema"])
    result = generate(schema, defaults["output"], defaults["package"])
    print(f"regenerated {result.package_dir}: {len(result.changed)} files changed")


async def _session(sock: str) -> None:
    import qapigen.simulator_api as qmp
    from qapigen.simulator_api.client import Client

    async with Client("demo") as client:
        await client.connect(sock)
        print("connected:", client.greeting)
        print("status:", await client.query_status())
        async with client.listen() as events:
            print("-> the guest writes 1 to the pvpanic port (x-guest-pvpanic-write)")
            await client.x_guest_pvpanic_write(value=1)
            print("event:", await events.wait_for(qmp.GuestPanickedEvent, timeout=5))
            print("event:", await events.wait_for(qmp.StopEvent, timeout=5))
            print("status:", await client.query_status())
            print("-> cont")
            await client.cont()
            print("event:", await events.wait_for(qmp.ResumeEvent, timeout=5))
            print("status:", await client.query_status())
            print("-> quit")
            await client.quit_()
            print("event:", await events.wait_for(qmp.ShutdownEvent, timeout=5))


def main() -> int:
    """Run the demonstration; its exit status."""
    _regenerate()
    folder = tempfile.mkdtemp(prefix="qapigen-demo-")
    sock = os.path.join(folder, "qmp.sock")
    argv = [sys.executable, "-m", "qapigen", "vm", "-qmp", f"unix:{sock},server=on,wait=off"]
    argv += ["-no-shutdown", "-device", "pvpanic", "-name", "demo"]
    print("starting:", " ".join(argv[2:]))
    vm = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if vm.poll() is not None or time.monotonic() > deadline:
                print("the simulated machine did not start", file=sys.stderr)
                return 1
            time.sleep(0.01)
        asyncio.run(_session(sock))
        status = vm.wait(10)
        print("the machine exited with status", status)
        return status
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
