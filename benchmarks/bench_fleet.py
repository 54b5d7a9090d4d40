"""Fleet mode: `qapigen vm --count N --qmp-dir DIR`, its start time and memory per machine.

Starts the fleet (default 10,000 machines, each with an ISA pvpanic device and
its own socket ``DIR/vmNNNN.sock``) in one process and measures:

* the time from starting the process until every socket accepts;
* the process's resident memory (VmRSS, from /proc/PID/status): of a single
  machine (``qapigen vm`` without ``--count``), of the idle fleet, and with one
  client connected to every machine (negotiated, in batches, connections kept
  open); memory per machine is (fleet - single) / (N - 1), memory per client
  (connected - idle) / N, each printed against the 8 KiB target;
* a query-status round on every machine;
* independence: one machine panics (the default action ends it); its client
  sees GUEST_PANICKED and SHUTDOWN, and no other client sees any event;
* the time SIGTERM takes to shut the fleet down (every client gets
  SHUTDOWN{reason: host-signal}).

N machines with a client each need 2N file descriptors in the fleet's process
(and N here): the program raises its soft limit to the hard one by itself; this
script raises the hard limit first where it may (as root), and says so when it
cannot.  Target (issue 12): 10,000 machines, each at most 8 KiB idle and 8 KiB
per connected client.  Bytecode as in ``bench_qmp.py``.
"""

from __future__ import annotations

import argparse
import os
import resource
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


#: The target of issue 12, for memory per machine and per connected client.
TARGET_KIB = 8.0


def descriptor_room(needed: int) -> int:
    """Raise this process's limit on open files to ``needed`` (the hard one too, where
    allowed); the limit there is now.  The fleet inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (OSError, ValueError):
            pass
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def against_target(kib: float) -> str:
    return f"{kib:.2f} KiB (target <= {TARGET_KIB:.0f} KiB: ratio {kib / TARGET_KIB:.2f})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="machines (default 10000)")
    parser.add_argument("--batch", type=int, default=500, help="connections per batch")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="start qapigen vm without a bytecode cache (compiling every module at every start)",
    )
    args = parser.parse_args(argv)
    n = args.count
    needed = 2 * n + 256  # the fleet's sockets and one client each, and some to spare
    limit = descriptor_room(needed)
    install()
    env = child_env(not args.no_bytecode_cache)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    print(f"open files allowed: {limit} (needed for {n} machines with a client each: {needed})")
    # The fleet's process holds N listening sockets, its own few descriptors and the
    # clients' connections: beyond its limit a client would wait to be accepted.
    connectable = min(n, limit - n - 64)
    if connectable < n:
        print(
            f"  not enough (the hard limit cannot be raised here): {connectable} of the {n} "
            "machines get a client; raise `ulimit -Hn` to connect them all"
        )

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
            wait_for_sockets(proc, paths, 600)
            started = time.perf_counter() - start
            idle = settle_rss(proc.pid)
            per_machine = (idle - single) / max(n - 1, 1)
            print(f"fleet of {n}: every socket accepting {started * 1e3:.0f} ms after start")
            print(f"  idle: VmRSS {mib(idle)}; per machine {against_target(per_machine)}")

            batch_times = []
            for i in range(0, connectable, args.batch):
                more, seconds = connect(paths[i : min(i + args.batch, connectable)])
                clients += more
                batch_times.append(seconds)
            counts, round_s = status_round(clients)
            everyone = settle_rss(proc.pid)
            print(
                f"  a client on each of the {len(clients)}: connected and negotiated in "
                f"{sum(batch_times):.1f} s (batches of {args.batch}, slowest "
                f"{max(batch_times) * 1e3:.0f} ms); query-status round {round_s * 1e3:.0f} ms "
                f"{counts}"
            )
            per_client = (everyone - idle) / len(clients)
            print(f"    VmRSS {mib(everyone)}; per connected client {against_target(per_client)}")

            # Independence: one machine panics and exits; only its client hears of it.
            victim_index = len(clients) // 2
            victim = clients.pop(victim_index)
            victim.execute("x-guest-pvpanic-write", {"value": 1})
            heard = [m["event"] for m in victim.events]
            while (message := victim.read()) is not None:
                heard.append(message.get("event", "reply"))
            victim.close()
            for qmp in clients:
                qmp.events.clear()
            counts, _ = status_round(clients)
            others = sum(bool(qmp.events) for qmp in clients)
            print(
                f"  machine {victim_index} panicked: its client heard {heard}; "
                f"{others} of the other {len(clients)} clients heard any event; they are {counts}"
            )

            start = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            reasons: dict[str, int] = {}
            for qmp in clients:
                shutdown = qmp.event("SHUTDOWN")
                reason = shutdown["data"]["reason"]
                reasons[reason] = reasons.get(reason, 0) + 1
            status = proc.wait(120)
            left = len(os.listdir(fleet_dir)) if os.path.isdir(fleet_dir) else 0
            print(
                f"  SIGTERM: exit status {status} after {(time.perf_counter() - start) * 1e3:.0f}"
                f" ms; SHUTDOWN reasons received {reasons}; sockets left behind: {left}"
            )
        finally:
            for qmp in clients:
                qmp.close()
            stop(proc)
            if proc.stderr is not None:
                proc.stderr.close()
        too_many = limit  # each needs a socket, and the process a few descriptors more
        refused = subprocess.run(
            qapigen_vm("--count", str(too_many), "--qmp-dir", os.path.join(folder, "too-many")),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        print(
            f"--count {too_many} (more than fit): exit status {refused.returncode}, "
            f"{refused.stderr.strip()!r}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
