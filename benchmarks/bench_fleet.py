"""Fleet mode: `qapigen vm --count N --qmp-dir DIR`, its start time and memory per machine.

Starts the fleet (default 1,000 machines, each with an ISA pvpanic device and
its own socket ``DIR/vmNNNN.sock``) and measures:

* the time from starting the process until every socket accepts;
* the process's resident memory (VmRSS, from /proc/PID/status): of a single
  machine (``qapigen vm`` without ``--count``), of the idle fleet, after
  connecting to a sample of machines (negotiate, query-status), and with
  ``--all`` after connecting to every machine (in batches, connections kept
  open); memory per machine is (fleet - single) / (N - 1), memory per client
  (connected - idle) / clients;
* a query-status round on every connected machine, and independence: one
  machine panics (the default action ends it), the others are asked whether
  they still run;
* the time SIGTERM takes to shut the fleet down (every connected client gets
  SHUTDOWN{reason: host-signal}).

Target (issue 5): 1,000 machines on this 2-core machine, memory per machine
measured.  Bytecode as in ``bench_qmp.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence

from bench_qmp import QMP, REPO, child_env, install, qapigen_vm, rss_kib, stop, unix


def wait_for_sockets(proc: subprocess.Popen[bytes], paths: list[str], timeout: float) -> float:
    """Seconds until every socket exists (each accepts connections from then on)."""
    start = time.perf_counter()
    missing = list(paths)
    while missing:
        missing = [p for p in missing if not os.path.exists(p)]
        if proc.poll() is not None:
            raise SystemExit(f"qapigen vm exited with {proc.returncode} while starting")
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"{len(missing)} sockets still missing after {timeout} s")
        if missing:
            time.sleep(0.002)
    return time.perf_counter() - start


def settle_rss(pid: int) -> int:
    time.sleep(0.2)
    return rss_kib(pid)


def single_machine_rss(env: dict[str, str], folder: str) -> int:
    sock = os.path.join(folder, "single.sock")
    proc = subprocess.Popen(
        qapigen_vm("-device", "pvpanic", "-qmp", unix(sock)),
        cwd=REPO,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_sockets(proc, [sock], 30)
        return settle_rss(proc.pid)
    finally:
        stop(proc)


def connect(paths: list[str]) -> tuple[list[QMP], float]:
    """Connected, negotiated clients (and the seconds it took)."""
    start = time.perf_counter()
    clients = []
    for path in paths:
        qmp = QMP.connect(path)
        qmp.negotiate()
        clients.append(qmp)
    return clients, time.perf_counter() - start


def status_round(clients: list[QMP]) -> tuple[dict[str, int], float]:
    """query-status on each client, one after another: statuses counted, seconds."""
    counts: dict[str, int] = {}
    start = time.perf_counter()
    for qmp in clients:
        state = qmp.execute("query-status")["status"]
        counts[state] = counts.get(state, 0) + 1
    return counts, time.perf_counter() - start


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="machines (default 1000)")
    parser.add_argument("--sample", type=int, default=100, help="machines to connect to first")
    parser.add_argument(
        "--all", action="store_true", help="then connect to every machine, in batches"
    )
    parser.add_argument("--batch", type=int, default=100, help="connections per batch (--all)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="start qapigen vm without a bytecode cache (compiling every module at every start)",
    )
    args = parser.parse_args(argv)
    n = args.count
    install()
    env = child_env(not args.no_bytecode_cache)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

    with tempfile.TemporaryDirectory(prefix="qapigen-fleet-") as folder:
        single = single_machine_rss(env, folder)
        print(f"one machine (qapigen vm -device pvpanic -qmp ...): VmRSS {mib(single)}")

        fleet_dir = os.path.join(folder, "fleet")
        paths = [os.path.join(fleet_dir, f"vm{i:04d}.sock") for i in range(n)]
        command = qapigen_vm("--count", str(n), "--qmp-dir", fleet_dir, "-device", "pvpanic")
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE)
        clients: list[QMP] = []
        try:
            wait_for_sockets(proc, paths, 120)
            started = time.perf_counter() - start
            idle = settle_rss(proc.pid)
            per_machine = (idle - single) / max(n - 1, 1)
            print(f"fleet of {n}: every socket accepting {started * 1e3:.0f} ms after start")
            print(f"  idle: VmRSS {mib(idle)}; per machine {per_machine:.1f} KiB")

            step = max(n // max(args.sample, 1), 1)
            sample = paths[::step][: args.sample]
            clients, seconds = connect(sample)
            counts, round_s = status_round(clients)
            sampled = settle_rss(proc.pid)
            print(
                f"  {len(clients)} clients (every {step}th machine): connected and negotiated "
                f"in {seconds * 1e3:.0f} ms; query-status round {round_s * 1e3:.0f} ms {counts}"
            )
            per_client = (sampled - idle) / len(clients)
            print(f"    VmRSS {mib(sampled)}; per connected client {per_client:.1f} KiB")

            if args.all:
                chosen = set(sample)
                rest = [p for p in paths if p not in chosen]
                batch_times = []
                for i in range(0, len(rest), args.batch):
                    more, seconds = connect(rest[i : i + args.batch])
                    clients += more
                    batch_times.append(seconds)
                counts, round_s = status_round(clients)
                everyone = settle_rss(proc.pid)
                slowest = max(batch_times) * 1e3 if batch_times else 0.0
                print(
                    f"  all {len(clients)} connected (batches of {args.batch}, slowest "
                    f"{slowest:.0f} ms); query-status round {round_s * 1e3:.0f} ms {counts}"
                )
                per_client = (everyone - idle) / len(clients)
                print(f"    VmRSS {mib(everyone)}; per connected client {per_client:.1f} KiB")

            # Independence: one machine panics and exits; the rest run on.
            victim = clients.pop(0)
            victim.execute("x-guest-pvpanic-write", {"value": 1})
            victim.until_eof()
            victim.close()
            counts, _ = status_round(clients)
            print(f"  after one machine panicked (and exited): the others {counts}")

            start = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            reasons: dict[str, int] = {}
            for qmp in clients:
                shutdown = qmp.event("SHUTDOWN")
                reason = shutdown["data"]["reason"]
                reasons[reason] = reasons.get(reason, 0) + 1
            status = proc.wait(60)
            print(
                f"  SIGTERM: exit status {status} after {(time.perf_counter() - start) * 1e3:.0f}"
                f" ms; SHUTDOWN reasons received {reasons}"
            )
        finally:
            for qmp in clients:
                qmp.close()
            stop(proc)
            if proc.stderr is not None:
                proc.stderr.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
