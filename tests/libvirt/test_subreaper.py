"""The child subreaper the private libvirtd runs under (tests/support/subreaper.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..support.libvirtd import SUBREAPER


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    if stat[stat.rindex(")") + 2] == "Z":
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _wait_until(condition: Callable[[], object], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def test_orphans_come_to_it_and_go_with_the_program(tmp_path: Path) -> None:
    pidfile = tmp_path / "orphan.pid"
    # The subshell leaves its sleep behind: an orphan, reparented to the
    # nearest subreaper.
    script = f"(sleep 60 & echo $! > {pidfile}); exec sleep 60"
    proc = subprocess.Popen([sys.executable, str(SUBREAPER), "--", "sh", "-c", script])
    try:
        _wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), "the orphan's pid")
        orphan = int(pidfile.read_text())
        _wait_until(lambda: _parent(orphan) == proc.pid, "the orphan reparented to the subreaper")
        proc.send_signal(signal.SIGTERM)  # forwarded to the program
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert _parent(orphan) is None  # ended with the program
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_a_bad_command_line_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, str(SUBREAPER), "--bind", "nocolon"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "subreaper: usage: subreaper.py [--bind SRC:DST]... -- PROGRAM [ARG]...\n"
    )
