"""Generating QEMU 10.0's whole schema: qapigen (Python) against qapi-gen.py (C).

Each run is a whole process, cold, into an empty folder, as a build runs it:
``python -m qapigen generate SCHEMA -o DIR --package qemu_qapi`` against
``python scripts/qapi-gen.py -o DIR SCHEMA`` from QEMU's reference tree.
Runs alternate; the medians and their ratio are printed.  Target (issue 3):
qapigen no slower than QEMU's generator.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    env = os.environ.get("QAPIGEN_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def qemu_tree(shared: Path) -> Path:
    env = os.environ.get("QAPIGEN_QEMU_SRC")
    if env:
        return Path(env)
    out = subprocess.run(
        ["bash", str(shared / "tools" / "qemu-source")], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip())


def timed(cmd: list[str], out_dir: str) -> float:
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    shared = shared_dir()
    schema = shared / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    tree = qemu_tree(shared)
    work = tempfile.mkdtemp(prefix="qapigen-bench-gen-")
    ours_cmd = [sys.executable, "-m", "qapigen", "generate", str(schema), "-o", f"{work}/py"]
    ours_cmd += ["--package", "qemu_qapi", "--quiet"]
    qemu_cmd = [sys.executable, str(tree / "scripts" / "qapi-gen.py"), "-o", f"{work}/c"]
    qemu_cmd.append(str(schema))
    ours, qemu = [], []
    for _ in range(args.runs):
        ours.append(timed(ours_cmd, f"{work}/py"))
        qemu.append(timed(qemu_cmd, f"{work}/c"))
    shutil.rmtree(work, ignore_errors=True)
    a, b = statistics.median(ours), statistics.median(qemu)
    print(f"runs: {args.runs} of each, interleaved, whole processes")
    print(f"qapigen generate  median {a:.3f} s")
    print(f"qapi-gen.py (C)   median {b:.3f} s")
    verdict = "met" if a <= b else "missed"
    print(f"ratio qapigen/QEMU: {a / b:.2f} (target <= 1: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
