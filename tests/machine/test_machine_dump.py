"""dump-guest-memory, query-dump and DUMP_COMPLETED on the machine: QEMU's ELF core
of the pc machine, its checks in QEMU's order, its events around a running guest.

The file is read back here with a reader of its own (struct, the ELF
specification's layouts) and with ``readelf`` where installed; the same dump
is compared byte for byte with real QEMU 10.0.2's in tests/vm/test_vm_dump.py.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from qapigen import simulator_api
from qapigen.machine import CommandLine, Machine, MachineConfig
from qapigen.runtime import Dispatcher, Event, QMPError
from qapigen.simulator_api import RunState

MiB = 1 << 20
STOP = ("STOP", None)
RESUME = ("RESUME", None)


class Files:
    """Dump targets: names that open files in ``folder`` (the monitors' part)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.named_files: dict[str, Callable[[], BinaryIO]] = {}

    def keep(self, name: str, opener: Callable[[], BinaryIO]) -> None:
        self.named_files[name] = opener

    def named(self, name: str) -> BinaryIO:
        opener = self.named_files.pop(name, None)
        if opener is None:
            raise QMPError("GenericError", f"File descriptor named '{name}' has not been found")
        return opener()

    def create(self, path: str) -> BinaryIO:
        raise QMPError("GenericError", f"Could not create '{path}': No such file or directory")


class Harness:
    def __init__(
        self,
        tmp: Path,
        *,
        ram: int = 64 * MiB,
        paused: bool = True,
        config: MachineConfig | None = None,
    ) -> None:
        self.tmp = tmp
        if config is None:
            config = MachineConfig(start_paused=paused, ram_size=ram)
        self.machine = Machine(config)
        self.files = Files(tmp)
        self.machine.dump_files = self.files
        self.deferred: list[Callable[[], None]] = []
        self.events: list[tuple[str, Any]] = []
        self.machine.subscribe(self._on_event)
        self.qmp = Dispatcher(simulator_api.COMMANDS, self.machine)

    def _on_event(self, event: Event, timestamp: float) -> None:
        self.events.append((event.NAME, event.to_wire() if event.HAS_DATA else None))

    def target(self, name: str = "dump") -> Path:
        path = self.tmp / f"{name}.core"
        self.files.keep(name, lambda: open(path, "wb", buffering=0))  # noqa: SIM115
        return path

    def dump(self, **arguments: Any) -> Any:
        return self.qmp.dispatch("dump-guest-memory", {"paging": False, **arguments})

    def error(self, **arguments: Any) -> str:
        with pytest.raises(QMPError) as info:
            self.dump(**arguments)
        assert info.value.error_class == "GenericError"
        return info.value.desc

    def query(self) -> Any:
        return self.qmp.dispatch("query-dump", {})


class Core:
    """An ELF64 core file, read with the ELF specification's layouts."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        (
            self.type,
            self.machine,
            _version,
            _entry,
            self.phoff,
            self.shoff,
            _flags,
            self.ehsize,
            phentsize,
            phnum,
            shentsize,
            self.shnum,
            self.shstrndx,
        ) = struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
        assert data[:7] == b"\x7fELF\x02\x01\x01"
        assert (phentsize, shentsize) == (56, 64)
        self.phdrs = [
            struct.unpack_from("<IIQQQQQQ", data, self.phoff + 56 * i) for i in range(phnum)
        ]

    def loads(self) -> list[tuple[int, int]]:
        """(physical address, size) of each PT_LOAD."""
        return [(p[4], p[5]) for p in self.phdrs if p[0] == 1]

    def notes(self) -> list[tuple[bytes, int, bytes]]:
        (note,) = [p for p in self.phdrs if p[0] == 4]
        offset, end = note[2], note[2] + note[5]
        found = []
        while offset < end:
            namesz, descsz, kind = struct.unpack_from("<III", self.data, offset)
            name_at = offset + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            found.append(
                (self.data[name_at : name_at + namesz], kind, self.data[desc_at : desc_at + descsz])
            )
            offset = desc_at + (descsz + 3) // 4 * 4
        return found

    def memory(self, address: int, length: int) -> bytes:
        """Guest memory at ``address``, from the PT_LOAD that holds it."""
        for p in self.phdrs:
            if p[0] == 1 and p[4] <= address < p[4] + p[5]:
                start = p[2] + address - p[4]
                return self.data[start : start + length]
        raise AssertionError(f"{address:#x} is in no PT_LOAD")

    def section_names(self) -> bytes:
        offset = struct.unpack_from("<Q", self.data, self.shoff + 64 * self.shstrndx + 24)[0]
        size = struct.unpack_from("<Q", self.data, self.shoff + 64 * self.shstrndx + 32)[0]
        return self.data[offset : offset + size]


def completed(total: int) -> tuple[str, Any]:
    return (
        "DUMP_COMPLETED",
        {"result": {"status": "completed", "completed": total, "total": total}},
    )


def test_dump_is_an_elf_core_of_the_pc_machines_memory(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    path = h.target()
    h.machine.memory.write(0x100005, b"panic!")
    h.machine.memory.write(0x3FFFFFC, b"end.")
    assert h.query() == {"status": "none", "completed": 0, "total": 0}
    assert h.dump(protocol="fd:dump") == {}
    total = 64 * MiB + 256 * 1024  # the RAM and the firmware's 256 KiB
    assert h.events == [completed(total)]
    assert h.query() == {"status": "completed", "completed": total, "total": total}
    core = Core(path.read_bytes())
    assert (core.type, core.machine) == (4, 3)  # ET_CORE, EM_386: not in long mode
    assert core.ehsize == 8  # QEMU writes sizeof() of a pointer there
    assert core.loads() == [
        (0, 0xC0000),
        (0xC0000, 0x20000),
        (0xE0000, 0x20000),
        (0x100000, 64 * MiB - 0x100000),
        (0xFFFC0000, 0x40000),
    ]
    assert sum(size for _, size in core.loads()) == total
    assert core.memory(0x100000, 12) == b"\0" * 5 + b"panic!" + b"\0"
    assert core.memory(0x3FFFFFC, 4) == b"end."
    assert core.section_names() == b"\0.shstrtab\0"
    assert len(core.data) == core.phdrs[-1][2] + core.phdrs[-1][5] + len(b"\0.shstrtab\0")
    # One processor: its CORE (NT_PRSTATUS, i386 layout) and QEMU notes, at reset.
    (prstatus, qemu) = core.notes()
    assert prstatus[:2] == (b"CORE\0", 1) and len(prstatus[2]) == 144
    assert struct.unpack_from("<I", prstatus[2], 24) == (1,)  # the processor's number
    eip, cs, eflags = struct.unpack_from("<III", prstatus[2], 72 + 12 * 4)
    assert (eip, cs, eflags) == (0xFFF0, 0xF000, 2)
    assert qemu[:2] == (b"QEMU\0", 0) and struct.unpack_from("<II", qemu[2]) == (1, 440)
    # Sparse: the pages never written take no room on disk.
    assert path.stat().st_blocks * 512 < 4 * MiB


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_readelf_reads_the_dump(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=8 * MiB)
    path = h.target()
    h.dump(protocol="fd:dump")
    out = subprocess.run(
        ["readelf", "-h", "-l", "-n", str(path)], capture_output=True, text=True, check=True
    )
    assert out.stderr == ""
    assert "CORE (Core file)" in out.stdout
    assert "Intel 80386" in out.stdout
    assert out.stdout.count("LOAD ") == 5
    assert "NT_PRSTATUS" in out.stdout


def test_running_guest_stops_for_the_dump_and_resumes(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=4 * MiB, paused=False)
    h.target()
    h.events.clear()
    h.dump(protocol="fd:dump")
    total = 4 * MiB + 256 * 1024
    assert h.events == [STOP, completed(total), RESUME]  # QEMU 10.0.2's order
    assert h.machine.status is RunState.RUNNING


def test_detached_dump_ends_after_the_command(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=4 * MiB, paused=False)
    h.machine.defer = h.deferred.append
    h.target()
    h.events.clear()
    assert h.dump(protocol="fd:dump", detach=True) == {}
    assert h.events == [STOP]
    assert h.machine.status is RunState.SAVE_VM
    assert h.query() == {"status": "active", "completed": 0, "total": 4 * MiB + 256 * 1024}
    h.target("again")
    assert h.error(protocol="fd:again") == "There is a dump in process, please wait."
    (job,) = h.deferred
    job()
    assert h.events == [STOP, completed(4 * MiB + 256 * 1024), RESUME]
    assert h.qmp.dispatch("query-status", {}) == {"status": "running", "running": True}


def test_checks_come_in_qemus_order_and_use_nothing_up(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=4 * MiB, paused=False)
    h.target()
    h.events.clear()
    kdump = "kdump-compressed format doesn't support paging or filter"
    assert h.error(protocol="bad", format="kdump-zlib", paging=True) == kdump
    assert h.error(protocol="bad", format="win-dmp", begin=0, length=1) == kdump
    assert h.error(protocol="bad", begin=0) == "Parameter 'length' is missing"
    assert h.error(protocol="bad", length=0) == "Parameter 'begin' is missing"
    assert h.error(protocol="bad") == "parameter 'protocol' must start with 'file:' or 'fd:'"
    assert h.error(protocol="fd:other") == "File descriptor named 'other' has not been found"
    assert h.error(protocol="file:/x") == "Could not create '/x': No such file or directory"
    assert h.error(protocol="fd:dump", format="kdump-lzo") == (
        "dump format 'kdump-lzo' is not simulated (only 'elf')"
    )
    assert h.events == []  # nothing stopped, the kept file still there
    assert h.query()["status"] == "none"
    assert "dump" in h.files.named_files


def test_range_checks_after_stopping_the_guest(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=4 * MiB, paused=False)
    h.target()
    h.events.clear()
    assert h.error(protocol="fd:dump", begin=0, length=0) == (
        "parameter 'length' expects a non-zero size"
    )
    assert h.events == [STOP, RESUME]
    assert h.query()["status"] == "failed"
    h.target()
    h.events.clear()
    assert (
        h.error(protocol="fd:dump", begin=128 * MiB, length=10) == "dump: no guest memory to dump"
    )
    assert h.events == [STOP, RESUME]


def test_range_keeps_the_parts_of_the_blocks_in_it(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=4 * MiB)
    path = h.target()
    h.machine.memory.write(0xE0001, b"x")
    h.dump(protocol="fd:dump", begin=0xDF000, length=0x3000)
    assert h.events == [completed(0x3000)]
    core = Core(path.read_bytes())
    assert core.loads() == [(0xDF000, 0x1000), (0xE0000, 0x2000)]
    assert core.memory(0xE0000, 2) == b"\0x"


def test_windows_dump_fails_as_qemus_without_vmcoreinfo(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=4 * MiB, paused=False)
    h.target()
    h.events.clear()
    error = "win-dump: invalid vmcoreinfo note size"
    assert h.error(protocol="fd:dump", format="win-dmp") == error
    total = 4 * MiB + 256 * 1024
    result = {"status": "failed", "completed": 0, "total": total}
    assert h.events == [STOP, ("DUMP_COMPLETED", {"result": result, "error": error}), RESUME]


def test_unwritable_target_fails_with_qemus_error(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=4 * MiB)
    path = tmp_path / "read-only"
    path.write_bytes(b"")
    h.files.keep("ro", lambda: open(os.open(path, os.O_RDONLY), "wb", buffering=0))  # noqa: SIM115
    error = "dump: failed to write elf header: Bad file descriptor"
    assert h.error(protocol="fd:ro") == error
    result = {"status": "failed", "completed": 0, "total": 4 * MiB + 256 * 1024}
    assert h.events == [("DUMP_COMPLETED", {"result": result, "error": error})]
    assert h.query() == result


def test_a_pipe_gets_the_same_bytes_as_a_file(tmp_path: Path) -> None:
    h = Harness(tmp_path, ram=2 * MiB)
    h.machine.memory.write(0x1FFFF0, b"last page")
    path = h.target()
    h.dump(protocol="fd:dump")
    read_end, write_end = os.pipe()
    chunks: list[bytes] = []

    def drain() -> None:
        with open(read_end, "rb") as pipe:
            while chunk := pipe.read(1 << 16):
                chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    h.files.keep("pipe", lambda: open(write_end, "wb", buffering=0))  # noqa: SIM115
    h.dump(protocol="fd:pipe")
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert b"".join(chunks) == path.read_bytes()


def test_without_dump_files_nothing_opens(tmp_path: Path) -> None:
    machine = Machine(MachineConfig(start_paused=True, ram_size=MiB))
    qmp = Dispatcher(simulator_api.COMMANDS, machine)
    with pytest.raises(QMPError, match=r"^File descriptor named 'x' has not been found$"):
        qmp.dispatch("dump-guest-memory", {"paging": False, "protocol": "fd:x"})


def test_panicked_guest_is_dumped_without_stop_or_resume(tmp_path: Path) -> None:
    # libvirt's coredump-destroy and coredump-restart: under -no-shutdown the
    # guest has panicked and stopped when the dump is asked for.
    cl = CommandLine()
    cl.no_shutdown()
    cl.memory("4")
    h = Harness(tmp_path, config=cl.build())
    h.machine.guest_panicked()
    assert h.machine.status is RunState.GUEST_PANICKED
    h.machine.defer = h.deferred.append
    h.target()
    h.events.clear()
    h.dump(protocol="fd:dump", detach=True)
    for job in h.deferred:
        job()
    assert h.events == [completed(4 * MiB + 256 * 1024)]
    assert h.machine.status is RunState.GUEST_PANICKED
