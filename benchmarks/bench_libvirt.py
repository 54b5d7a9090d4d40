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
  start (libvirt's questions in between: ``tests/support/data/libvirt-11.3.json``).

Target (issue 14, item 6): ``qapigen vm`` to ``cont``'s reply at most 0.1x
real QEMU's (a minimal prototype: about 42 ms against 300 ms).  libvirt's
log has millisecond timestamps.  The ``<emulator>`` of ``qapigen vm`` is a
wrapper script that runs the ``qapigen`` of a fresh virtual environment with
this checkout installed, as ``bench_qmp.py`` does (users' installs, with
bytecode), in a folder of its own (``$TMPDIR/qapigen-bench-libvirt-venv``).
Before the timed runs, defining each domain makes libvirt probe its emulator
(untimed); when libvirt cannot define or start the domain with ``qapigen
vm``, the script says at which step and with what message, prints real
QEMU's times alone, and exits with status 1.

Start to greeting with the default profile (target at most 1.0x QEMU's) is
``bench_qmp.py``'s.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bench_qmp import describe_times, install, qapigen_vm, qemu_binary, qemu_version

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The tests' private libvirtd and domain: one definition of each, shared.
from tests.support.guest_images import GuestImages  # noqa: E402
from tests.support.libvirt_domain import REAL_QEMU, domain_xml  # noqa: E402
from tests.support.libvirtd import LOG_FILTERS, Libvirtd, LibvirtError, missing  # noqa: E402

TARGET = 0.1  # qapigen vm / QEMU, at most
# Its own installed copy, so that it can run beside the other benchmarks.
VENV = Path(tempfile.gettempdir()) / "qapigen-bench-libvirt-venv"

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\+0000: ")
_SEND = re.compile(r"QEMU_MONITOR_SEND_MSG: mon=(\S+) msg=(\{.*\})\s*$")
_REPLY = re.compile(r"QEMU_MONITOR_RECV_REPLY: mon=(\S+) reply=(\{.*\})\s*$")
_ID = re.compile(r'"id":\s*"([^"]+)"')


class NotDriven(Exception):
    """libvirt could not take the domain through a step; the message says which and why."""


def _stamp(line: str) -> datetime:
    match = _STAMP.match(line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f")


def start_times(log: str, emulator: str, name: str) -> tuple[float, float]:
    """Seconds from libvirt running ``emulator`` for domain ``name`` to its replies
    to ``qmp_capabilities`` and to ``cont``, from the debug log of one start."""
    started = None
    sent: dict[tuple[str, str], str] = {}  # (monitor, id) -> command
    replied: dict[str, datetime] = {}
    for line in log.splitlines():
        if started is None:
            if "About to run " in line and f" {emulator} -name guest={name}," in line:
                started = _stamp(line)
            continue
        if match := _SEND.search(line):
            execute = re.search(r'"execute":\s*"([^"]+)"', match.group(2))
            ident = _ID.search(match.group(2))
            if execute and ident:
                sent[match.group(1), ident.group(1)] = execute.group(1)
        elif match := _REPLY.search(line):
            ident = _ID.search(match.group(2))
            command = sent.get((match.group(1), ident.group(1))) if ident else None
            if command in ("qmp_capabilities", "cont") and command not in replied:
                replied[command] = _stamp(line)
    if started is None:
        raise NotDriven(f"libvirt's log shows no start of {emulator} for {name}")
    missing_replies = [c for c in ("qmp_capabilities", "cont") if c not in replied]
    if missing_replies:
        raise NotDriven(f"libvirt's log shows no reply to {', '.join(missing_replies)}")
    return (
        (replied["qmp_capabilities"] - started).total_seconds(),
        (replied["cont"] - started).total_seconds(),
    )


def one_start(daemon: Libvirtd, emulator: str, name: str) -> tuple[float, float]:
    """Start the defined domain ``name``, read its times, destroy it."""
    offset = daemon.log_offset()
    try:
        daemon.virsh("start", name)
    except LibvirtError as error:
        raise NotDriven(f"virsh start: {error}") from None
    try:
        return start_times(daemon.log_since(offset), emulator, name)
    finally:
        daemon.virsh("destroy", name)


def wrapper(path: Path) -> str:
    """The ``<emulator>`` for ``qapigen vm``, as installed in :data:`VENV`."""
    path.write_text("#!/bin/sh\nexec " + shlex.join(qapigen_vm(venv=VENV)) + ' "$@"\n')
    path.chmod(0o700)
    return str(path)


def measure(daemon: Libvirtd, runs: int) -> int:
    images = GuestImages(daemon.root / "images")
    folder = daemon.root / "bin"
    folder.mkdir(mode=0o700)
    emulators = {"QEMU": REAL_QEMU, "qapigen vm": wrapper(folder / "qapigen-vm")}
    names = {"QEMU": "bench-qemu", "qapigen vm": "bench-qapigen-vm"}
    failed: dict[str, str] = {}
    for label, emulator in emulators.items():  # untimed: the probe, a first start
        xml = daemon.root / f"{names[label]}.xml"
        xml.write_text(domain_xml(names[label], emulator, images.idle))
        try:
            daemon.virsh("define", str(xml))
        except LibvirtError as error:
            failed[label] = f"virsh define (libvirt probes the emulator): {error}"
            continue
        try:
            one_start(daemon, emulator, names[label])
        except NotDriven as error:
            failed[label] = str(error)
    if "QEMU" in failed:
        sys.exit(f"real QEMU did not start through libvirt: {failed['QEMU']}")
    timed = [label for label in emulators if label not in failed]
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in timed}
    for _ in range(runs):
        for label in timed:
            times[label].append(one_start(daemon, emulators[label], names[label]))

    print(f"QEMU: {qemu_version(REAL_QEMU)}")
    print(f"libvirt: {daemon.virsh('version', '--daemon').splitlines()[-1].strip()}")
    print(f"qapigen vm installed in {VENV}, behind a wrapper script as <emulator>")
    print(f"libvirt's log_filters: {LOG_FILTERS}")
    print(f"domain start, {runs} runs each, alternating, from libvirt running the emulator:")
    for label in emulators:
        if label in failed:
            print(f"  {label:12} NOT DRIVEN by libvirt yet: {failed[label]}")
            continue
        capabilities = [t[0] for t in times[label]]
        cont = [t[1] for t in times[label]]
        print(f"  {label:12} to qmp_capabilities' reply {describe_times(capabilities)}")
        print(f"  {'':12} to cont's reply             {describe_times(cont)}")
    if failed:
        print(f"  ratio qapigen vm/QEMU: not measured (target <= {TARGET:g})")
        return 1
    ratio = statistics.median(t[1] for t in times["qapigen vm"]) / statistics.median(
        t[1] for t in times["QEMU"]
    )
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(
        f"  ratio qapigen vm/QEMU, to cont's reply: {ratio:.2f} (target <= {TARGET:g}: {verdict})"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="starts of each (default 10)")
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        sys.exit(f"cannot run a private libvirtd: {reason}")
    qemu_binary()
    install(VENV)
    root = Path(tempfile.mkdtemp(prefix="qapigen-bench-libvirt-"))
    daemon = Libvirtd(root)
    try:
        daemon.start()
        return measure(daemon, args.runs)
    finally:
        daemon.stop()
        shutil.rmtree(root)


if __name__ == "__main__":
    raise SystemExit(main())
