"""libvirt starting a domain: `qapigen vm` against real QEMU 10.0.2, same domain XML.

libvirt 11.3 (a private ``libvirtd``, as ``tests/libvirt`` runs it: root,
``tests/support/libvirtd.py``) starts the test domain of ``tests/libvirt``
(TCG, 64 MiB, an IDE disk holding a guest that halts, an ISA pvpanic) with
each emulator in turn, ``virsh start`` then ``virsh destroy``, alternating.
What is timed is read from libvirt's own debug log (issue 14's
``log_filters``), so that it is libvirt's view and no client of ours is in
the way:

* from libvirt running the emulator (``virCommandRunAsync``'s "About to run"
  of the domain's command line) to the reply to its ``qmp_capabilities``;
* from the same moment to the reply to its ``cont``, the end of the domain's
  start (libvirt's questions in between: ``tests/support/data/libvirt-11.3.json``);
* where the time after ``qmp_capabilities`` went: for each kind of command,
  the sum of libvirt's sending it to its reading the reply (the emulator's
  time, the socket's and libvirt's reading: "in the emulator"), and the sum of
  libvirt's own gaps between a reply and its next question;
* the emulator's processor time (its threads' ``schedstat``, read as soon as
  ``virsh start`` returns: QEMU's includes its guest's first moments).

Target (issue 14, item 6): ``qapigen vm`` to ``cont``'s reply at most 0.1x
real QEMU's (a minimal prototype: about 42 ms against 300 ms).  libvirt's
log has millisecond timestamps: a single exchange reads as 0 or 1 ms, and
only sums over many mean something.  The ``<emulator>`` of ``qapigen vm`` is a
wrapper script that runs the ``qapigen`` of a fresh virtual environment with
this checkout installed, as ``bench_qmp.py`` does (users' installs, with
bytecode), in a temporary folder of the run's own.  ``--baseline CHECKOUT``
times another checkout beside it, the same way, in the same run.

The floor, timed the same way: ``minimal_responder.py``, a Python script that
checks nothing and writes back, for each request, ``qapigen vm``'s reply to it
(read from libvirt's log of its first, untimed start) with the id spliced in
(libvirt's probe of it runs ``qapigen vm``).  It is what CPython itself costs
for this conversation: what ``qapigen vm`` could at best come down to.

Before the timed runs, defining each domain makes libvirt probe its emulator,
and each is started once (untimed); when libvirt cannot define or start the
domain with ``qapigen vm``, the script says at which step and with what
message, prints the others' times, and exits with status 1.

Start to greeting with the default profile (target at most 1.0x QEMU's) is
``bench_qmp.py``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from bench_qmp import describe_times, install, qapigen_vm, qemu_binary, qemu_version

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The tests' private libvirtd and domain: one definition of each, shared.
from tests.support.guest_images import GuestImages  # noqa: E402
from tests.support.libvirt_domain import REAL_QEMU, domain_xml  # noqa: E402
from tests.support.libvirtd import LOG_FILTERS, Libvirtd, LibvirtError, missing  # noqa: E402

TARGET = 0.1  # qapigen vm / QEMU, at most
RESPONDER = Path(__file__).resolve().parent / "minimal_responder.py"

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\+0000: ")
_SEND = re.compile(r"QEMU_MONITOR_SEND_MSG: mon=(\S+) msg=(\{.*\})\s*$")
_REPLY = re.compile(r"QEMU_MONITOR_RECV_REPLY: mon=(\S+) reply=(\{.*\})\s*$")
_ID = re.compile(r'"id":\s*"([^"]+)"')
_EXECUTE = re.compile(r'"execute":\s*"([^"]+)"')


class NotDriven(Exception):
    """libvirt could not take the domain through a step; the message says which and why."""


class Exchange(NamedTuple):
    """One question libvirt asked and its reply, as its log shows them."""

    command: str
    message: str  # what libvirt sent
    sent: datetime
    reply: str  # what it read back
    replied: datetime


class Start(NamedTuple):
    """One domain start, as libvirt's log shows it, and the emulator's processor time."""

    started: datetime  # libvirt's "About to run"
    exchanges: list[Exchange]  # up to cont's reply
    cpu: float | None  # seconds the emulator's threads ran, read just after the start

    def until(self, command: str) -> float:
        """Seconds from the start to the reply to ``command``."""
        replied = next(e.replied for e in self.exchanges if e.command == command)
        return (replied - self.started).total_seconds()

    def inside(self) -> dict[str, tuple[int, float]]:
        """By command after ``qmp_capabilities``: how many, and the seconds from
        libvirt's sending each to its reading the reply (the emulator's time,
        the socket's, and libvirt's reading)."""
        kinds: dict[str, tuple[int, float]] = {}
        for e in self.exchanges[1:]:
            count, total = kinds.get(e.command, (0, 0.0))
            kinds[e.command] = (count + 1, total + (e.replied - e.sent).total_seconds())
        return kinds

    def gaps(self) -> float:
        """Seconds libvirt spent between a reply and its next question, after
        ``qmp_capabilities``."""
        pairs = zip(self.exchanges, self.exchanges[1:], strict=False)
        return sum((b.sent - a.replied).total_seconds() for a, b in pairs)


def _stamp(line: str) -> datetime:
    match = _STAMP.match(line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f")


def read_start(log: str, emulator: str, name: str) -> tuple[datetime, list[Exchange]]:
    """libvirt running ``emulator`` for domain ``name``, and its exchanges up to
    ``cont``'s reply, from the debug log of one start."""
    started = None
    sent: dict[tuple[str, str], tuple[str, str, datetime]] = {}  # (monitor, id) -> ...
    exchanges: list[Exchange] = []
    for line in log.splitlines():
        if started is None:
            if "About to run " in line and f" {emulator} -name guest={name}," in line:
                started = _stamp(line)
            continue
        if match := _SEND.search(line):
            execute = _EXECUTE.search(match.group(2))
            ident = _ID.search(match.group(2))
            if execute and ident:
                sent[match.group(1), ident.group(1)] = (
                    execute.group(1), match.group(2), _stamp(line)
                )  # fmt: skip
        elif match := _REPLY.search(line):
            ident = _ID.search(match.group(2))
            asked = sent.pop((match.group(1), ident.group(1)), None) if ident else None
            if asked is not None:
                exchanges.append(Exchange(*asked, match.group(2), _stamp(line)))
                if asked[0] == "cont":
                    break
    if started is None:
        raise NotDriven(f"libvirt's log shows no start of {emulator} for {name}")
    commands = [e.command for e in exchanges]
    missing_replies = [c for c in ("qmp_capabilities", "cont") if c not in commands]
    if missing_replies:
        raise NotDriven(f"libvirt's log shows no reply to {', '.join(missing_replies)}")
    return started, exchanges[commands.index("qmp_capabilities") :]


def emulator_cpu(name: str) -> float | None:
    """Seconds the threads of domain ``name``'s emulator have run (schedstat),
    or None when it is not found."""
    marker = f"\0guest={name},".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            tasks = Path(f"/proc/{pid}/task")
            return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir()) / 1e9
        except OSError:
            continue
    return None


def one_start(daemon: Libvirtd, emulator: str, name: str) -> Start:
    """Start the defined domain ``name``, read its times, destroy it."""
    offset = daemon.log_offset()
    try:
        daemon.virsh("start", name)
    except LibvirtError as error:
        raise NotDriven(f"virsh start: {error}") from None
    try:
        cpu = emulator_cpu(name)
        return Start(*read_start(daemon.log_since(offset), emulator, name), cpu)
    finally:
        daemon.virsh("destroy", name)


def wrapper(path: Path, venv: Path) -> str:
    """The ``<emulator>`` for ``qapigen vm``, as installed in ``venv``."""
    path.write_text("#!/bin/sh\nexec " + shlex.join(qapigen_vm(venv=venv)) + ' "$@"\n')
    path.chmod(0o700)
    return str(path)


def responder_wrapper(path: Path, venv: Path, table: Path) -> str:
    """The ``<emulator>`` of the floor: ``qapigen vm`` for libvirt's probe
    (``-daemonize``), the minimal responder for a domain."""
    probe = shlex.join(qapigen_vm(venv=venv))
    respond = shlex.join([str(venv / "bin" / "python"), str(RESPONDER), str(table)])
    path.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" -daemonize "*) exec {probe} "$@";; esac\n'
        f'exec {respond} "$@"\n'
    )
    path.chmod(0o700)
    return str(path)


def responder_table(start: tuple[datetime, list[Exchange]], path: Path) -> None:
    """What the minimal responder answers: each question of one start of
    ``qapigen vm`` (command and arguments) to its reply, split where the id goes."""
    table: dict[str, tuple[str, str]] = {
        "": (
            '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, '
            '"package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}\r\n',
            "",
        )
    }
    for exchange in start[1]:
        request = json.loads(exchange.message)
        key = request["execute"] + " " + json.dumps(request.get("arguments", {}), sort_keys=True)
        head, _, tail = exchange.reply.partition(json.dumps(request["id"]))
        table[key] = (head, tail + "\r\n")
    path.write_text(json.dumps(table))


def describe_breakdown(starts: list[Start]) -> list[str]:
    """Medians over ``starts``: where the time from the start to cont's reply went."""

    def ms(values: Iterable[float]) -> str:
        return f"{statistics.median(values) * 1e3:7.1f} ms"

    capabilities = ms(s.until("qmp_capabilities") for s in starts)
    lines = [f"    start to qmp_capabilities' reply              {capabilities}"]
    kinds = starts[0].inside()
    for kind in sorted(kinds, key=lambda k: -kinds[k][1]):
        count = kinds[kind][0]
        per = [s.inside().get(kind, (0, 0.0))[1] for s in starts]
        each = statistics.median(per) / count * 1e6
        lines.append(f"    in the emulator: {kind:27} x{count:<4} {ms(per)}  ({each:.0f} us each)")
    inside = [sum(t for _, t in s.inside().values()) for s in starts]
    lines.append(f"    in the emulator, all after qmp_capabilities {ms(inside)}")
    lines.append(f"    libvirt's own gaps between them           {ms(s.gaps() for s in starts)}")
    cont = ms(s.until("cont") for s in starts)
    lines.append(f"    start to cont's reply                     {cont}")
    cpu = [s.cpu for s in starts if s.cpu is not None]
    if cpu:
        lines.append(f"    emulator's processor time, start done     {ms(cpu)}")
    return lines


def measure(daemon: Libvirtd, runs: int, venvs: dict[str, Path]) -> int:
    images = GuestImages(daemon.root / "images")
    folder = daemon.root / "bin"
    folder.mkdir(mode=0o700)
    labels = ["QEMU", *venvs, "floor"]
    names = {
        label: "bench-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") for label in labels
    }
    emulators = {"QEMU": REAL_QEMU}
    for label, venv in venvs.items():
        emulators[label] = wrapper(folder / names[label], venv)
    emulators["floor"] = ""  # once qapigen vm's replies are known
    failed: dict[str, str] = {}
    first: dict[str, tuple[datetime, list[Exchange]]] = {}
    for label in emulators:  # untimed: the probe, a first start
        if label == "floor":
            if "qapigen vm" not in first:
                failed[label] = "qapigen vm's replies are needed first"
                continue
            table = daemon.root / "responder.json"
            responder_table(first["qapigen vm"], table)
            emulators[label] = responder_wrapper(folder / "floor", venvs["qapigen vm"], table)
        emulator = emulators[label]
        xml = daemon.root / f"{names[label]}.xml"
        xml.write_text(domain_xml(names[label], emulator, images.idle))
        try:
            daemon.virsh("define", str(xml))
        except LibvirtError as error:
            failed[label] = f"virsh define (libvirt probes the emulator): {error}"
            continue
        try:
            start = one_start(daemon, emulator, names[label])
            first[label] = (start.started, start.exchanges)
        except NotDriven as error:
            failed[label] = str(error)
    if "QEMU" in failed:
        sys.exit(f"real QEMU did not start through libvirt: {failed['QEMU']}")
    timed = [label for label in emulators if label not in failed]
    starts: dict[str, list[Start]] = {label: [] for label in timed}
    for _ in range(runs):
        for label in timed:
            starts[label].append(one_start(daemon, emulators[label], names[label]))

    print(f"QEMU: {qemu_version(REAL_QEMU)}")
    print(f"libvirt: {daemon.virsh('version', '--daemon').splitlines()[-1].strip()}")
    print("qapigen vm: installed in a fresh virtual environment, a wrapper script as <emulator>")
    if "qapigen vm (baseline)" in venvs:
        print(f"qapigen vm (baseline): {BASELINE_NOTE}")
    print(
        "floor: benchmarks/minimal_responder.py, run by the same Python: qapigen vm's replies"
        " (recorded from its first start) written back for each request, nothing checked"
    )
    print(f"libvirt's log_filters: {LOG_FILTERS} (millisecond timestamps)")
    print(f"domain start, {runs} runs each, alternating, from libvirt running the emulator:")
    for label in emulators:
        if label in failed:
            print(f"  {label:12} NOT DRIVEN by libvirt: {failed[label]}")
            continue
        cont = [s.until("cont") for s in starts[label]]
        print(f"  {label}: to cont's reply {describe_times(cont)}")
        for line in describe_breakdown(starts[label]):
            print(line)
    qemu_cont = statistics.median(s.until("cont") for s in starts["QEMU"])
    print(f"  0.1x QEMU's start to cont's reply: {qemu_cont * TARGET * 1e3:.1f} ms")
    for label in timed:
        if label != "QEMU":
            ratio = statistics.median(s.until("cont") for s in starts[label]) / qemu_cont
            print(f"  ratio {label}/QEMU, to cont's reply: {ratio:.2f}")
    if "qapigen vm" in failed:
        print(f"  ratio qapigen vm/QEMU: not measured (target <= {TARGET:g})")
        return 1
    ratio = statistics.median(s.until("cont") for s in starts["qapigen vm"]) / qemu_cont
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"  target: qapigen vm/QEMU <= {TARGET:g}: {verdict} ({ratio:.2f})")
    return 0


BASELINE_NOTE = "another checkout, installed and timed the same way, for comparing a change"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="starts of each (default 10)")
    parser.add_argument(
        "--baseline", type=Path, metavar="CHECKOUT", help=f"qapigen vm (baseline): {BASELINE_NOTE}"
    )
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        sys.exit(f"cannot run a private libvirtd: {reason}")
    qemu_binary()
    root = Path(tempfile.mkdtemp(prefix="qapigen-bench-libvirt-"))
    try:
        # Fresh installs of their own, so that the benchmark can run beside others.
        venvs = {"qapigen vm": install(root / "venv")}
        if args.baseline is not None:
            venvs["qapigen vm (baseline)"] = install(root / "venv-baseline", args.baseline)
        daemon = Libvirtd(root / "libvirtd")
        (root / "libvirtd").mkdir()
        try:
            daemon.start()
            return measure(daemon, args.runs, venvs)
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    raise SystemExit(main())
