"""Load QEMU 10.0's whole schema: qapigen against QEMU's own front end.

Each run is a whole process, start-up included, as a build would run it:

* qapigen: ``python -m qapigen check SCHEMA``;
* QEMU: a Python process that imports ``qapi.schema`` from the reference
  tree's ``scripts`` and constructs ``QAPISchema(SCHEMA)``.

The runs alternate (qapigen, QEMU, qapigen, ...) so that a change in the
machine's load hits both alike; the medians and their ratio are printed
with the target, qapigen taking at most half QEMU's time.

The schema comes from the shared data (``$QAPIGEN_SHARED``, else ``../shared``
beside the repository); the QEMU tree from ``$QAPIGEN_QEMU_SRC``, else the
shared ``tools/qemu-source``, which unpacks it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TARGET = 0.5

# QEMU's front end, loaded as its generator loads it; argv: scripts folder, schema.
QEMU_LOAD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from qapi.schema import QAPISchema; QAPISchema(sys.argv[2])"
)


def shared_dir() -> Path:
    env = os.environ.get("QAPIGEN_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def qemu_tree(shared: Path) -> Path:
    """The QEMU 10.0 source tree, unpacking it if need be."""
    env = os.environ.get("QAPIGEN_QEMU_SRC")
    if env:
        return Path(env)
    tool = shared / "tools" / "qemu-source"
    if not tool.exists():
        sys.exit(f"no QEMU tree: set QAPIGEN_QEMU_SRC or provide {tool}")
    proc = subprocess.run(["bash", str(tool)], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        sys.exit(f"{tool} failed:\n{proc.stderr}")
    return Path(proc.stdout.strip())


def run_once(command: Sequence[str]) -> float:
    """Wall-clock seconds of one run; a failing run ends the benchmark."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stdout}{proc.stderr}")
    return elapsed


def describe(name: str, times: list[float]) -> str:
    return (
        f"{name:8} median {statistics.median(times):.3f} s"
        f"  (min {min(times):.3f}, max {max(times):.3f})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    parser.add_argument("--schema", type=Path, help="the schema (default: QEMU 10.0's)")
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter for both (default: this one)"
    )
    args = parser.parse_args(argv)

    shared = shared_dir()
    schema = args.schema or shared / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    if not schema.exists():
        sys.exit(f"no schema at {schema}: set QAPIGEN_SHARED or pass --schema")
    tree = qemu_tree(shared)
    commands = {
        "qapigen": [args.python, "-m", "qapigen", "check", str(schema)],
        "QEMU": [args.python, "-c", QEMU_LOAD, str(tree / "scripts"), str(schema)],
    }

    # One untimed run each: both must succeed, and the files get cached.
    for command in commands.values():
        run_once(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(run_once(command))

    ratio = statistics.median(times["qapigen"]) / statistics.median(times["QEMU"])
    print(f"schema: {schema}")
    print(f"QEMU tree: {tree}")
    print(f"runs: {args.runs} of each, interleaved, whole processes")
    for name, measured in times.items():
        print(describe(name, measured))
    verdict = "met" if ratio <= TARGET else "missed"
    print(f"ratio qapigen/QEMU: {ratio:.2f} (target <= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
