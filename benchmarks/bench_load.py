"""Load QEMU 10.0's whole schema: qapigen against QEMU's own front end.

Each run is a whole process, start-up included, as a build would run it:

* qapigen: ``python -m qapigen check SCHEMA``;
* QEMU: a Python process that imports ``qapi.schema`` from the reference
  tree's ``scripts`` and constructs ``QAPISchema(SCHEMA)``.

The runs alternate (qapigen, QEMU, qapigen, ...) so that a change in the
machine's load hits both alike; the medians and their ratio are printed
with the target, qapigen taking at most half QEMU's time.

Both run under one interpreter: that of a fresh virtual environment with
this checkout installed as users install it (``pip install --no-deps .``,
see ``bench_qmp.py``), unless ``--python`` names another.  A development
environment's editable install adds an import hook to every Python start
(~10 ms here), which both would pay and no user does.  Both get a bytecode
cache, as an installed package and a build tree have (filled by the untimed
first runs, in a folder of the benchmark's own: neither tree is written),
whatever ``PYTHONDONTWRITEBYTECODE`` says; ``--no-bytecode-cache`` makes
both compile their own modules at every run instead (this checkout's and
QEMU's tree's, where neither holds a ``__pycache__``).

The schema comes from the shared data (``$QAPIGEN_SHARED``, else ``../shared``
beside the repository); the QEMU tree from ``$QAPIGEN_QEMU_SRC``, else the
shared ``tools/qemu-source``, which unpacks it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench_qmp import BENCH_VENV, install

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


def child_env(cache: str | None) -> dict[str, str]:
    """The environment of both: a bytecode cache in the folder ``cache``, or
    none written (None)."""
    env = dict(os.environ)
    if cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    else:
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_once(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, float]:
    """Wall-clock seconds of one run, and the processor seconds (user and
    system) it took; a failing run ends the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stdout}{proc.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


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
        "--python",
        help="the interpreter for both, with qapigen importable (default: a fresh install's)",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="both compile their own modules at every run",
    )
    args = parser.parse_args(argv)

    shared = shared_dir()
    schema = args.schema or shared / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    if not schema.exists():
        sys.exit(f"no schema at {schema}: set QAPIGEN_SHARED or pass --schema")
    tree = qemu_tree(shared)
    if args.python is None:
        install()
        python = str(BENCH_VENV / "bin" / "python")
    else:
        python = args.python
    commands = {
        "qapigen": [python, "-m", "qapigen", "check", str(schema)],
        "QEMU": [python, "-c", QEMU_LOAD, str(tree / "scripts"), str(schema)],
    }
    with tempfile.TemporaryDirectory(prefix="qapigen-bench-load-") as folder:
        if args.no_bytecode_cache:
            # This checkout's source and QEMU's compile at every run (the
            # standard library's cached bytecode is used as ever).
            env, cwd = child_env(None), REPO
            for tree_dir in (REPO / "qapigen", tree / "scripts" / "qapi"):
                if next(tree_dir.rglob("__pycache__"), None) is not None:
                    print(f"note: {tree_dir} has cached bytecode, which is used")
        else:
            env = child_env(os.path.join(folder, "pycache"))
            # The installed qapigen, not this checkout's folder (unless --python).
            cwd = Path(folder) if args.python is None else REPO
        # One untimed run each: both must succeed, and the files get cached.
        for command in commands.values():
            run_once(command, cwd, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                elapsed, used = run_once(command, cwd, env)
                times[name].append(elapsed)
                cpu[name].append(used)

    ratio = statistics.median(times["qapigen"]) / statistics.median(times["QEMU"])
    cpu_ratio = statistics.median(cpu["qapigen"]) / statistics.median(cpu["QEMU"])
    cache = "off (both compile their own modules at every run)" if args.no_bytecode_cache else "on"
    print(f"schema: {schema}")
    print(f"QEMU tree: {tree}")
    print(f"interpreter (both): {python}; bytecode cache {cache}")
    print(f"runs: {args.runs} of each, interleaved, whole processes")
    for name, measured in times.items():
        print(describe(name, measured))
    verdict = "met" if ratio <= TARGET else "missed"
    print(f"ratio qapigen/QEMU: {ratio:.2f} (target <= {TARGET}: {verdict})")
    # On a machine shared with other work, waiting for a processor inflates
    # wall-clock times; the processor time the runs took does not include it.
    print(
        f"processor time (user + system), medians: qapigen {statistics.median(cpu['qapigen']):.3f}"
        f" s, QEMU {statistics.median(cpu['QEMU']):.3f} s, ratio {cpu_ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
