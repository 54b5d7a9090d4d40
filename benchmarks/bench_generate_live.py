"""Bindings from a live binary: qapigen (starting QEMU) against qapi-gen.py on the source.

Each run is a whole process, cold, into an empty folder:
``python -m qapigen generate --from-qemu qemu-system-x86_64 -o DIR --package
qemu_live`` (which starts the binary with ``-machine none``, asks its
query-qmp-schema, tells it to quit, reads the reply into a model and writes
the package) against ``python scripts/qapi-gen.py -o DIR SCHEMA`` on QEMU
10.0's source schema, from QEMU's reference tree.  Runs alternate; the
medians and their ratio are printed.  Target (issue 16): at most 1.0x.
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
    parser.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    args = parser.parse_args()
    if not args.qemu:
        print("needs qemu-system-x86_64 (or --qemu BINARY)", file=sys.stderr)
        return 1
    shared = shared_dir()
    schema = shared / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    tree = qemu_tree(shared)
    work = tempfile.mkdtemp(prefix="qapigen-bench-live-")
    ours_cmd = [sys.executable, "-m", "qapigen", "generate", "--from-qemu", args.qemu]
    ours_cmd += ["-o", f"{work}/py", "--package", "qemu_live"]
    qemu_cmd = [sys.executable, str(tree / "scripts" / "qapi-gen.py"), "-o", f"{work}/c"]
    qemu_cmd.append(str(schema))
    ours, qemu = [], []
    try:
        for _ in range(args.runs):
            ours.append(timed(ours_cmd, f"{work}/py"))
            qemu.append(timed(qemu_cmd, f"{work}/c"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a, b = statistics.median(ours), statistics.median(qemu)
    print(f"runs: {args.runs} of each, interleaved, whole processes")
    print(f"qapigen generate --from-qemu ({args.qemu}) median {a:.3f} s")
    print(f"qapi-gen.py on the source schema (C)  median {b:.3f} s")
    verdict = "met" if a <= b else "missed"
    print(f"ratio qapigen/QEMU: {a / b:.2f} (target <= 1.0: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
