"""Memory dumps: the guest's memory and processor state as an ELF core file.

``dump-guest-memory`` as QEMU 10.0 does it for the ``pc`` machine, in the
ELF format (``paging`` true or false alike: the simulated processors never
turn paging on, and QEMU then writes the same file either way):

- the file: the ELF header, two section headers (a null one and the
  ``.shstrtab`` string table's), one program header for the notes and one
  ``PT_LOAD`` per block of guest memory, the notes, the memory, and the
  string table last.  It is an ``ELFCLASS64`` file (the firmware block ends
  at 4 GiB, past what a 32-bit file can address) for machine ``EM_386`` (the
  processors are not in long mode), and its header's ``e_ehsize`` is 8, the
  size of a pointer, as QEMU writes it;
- the notes: an ``NT_PRSTATUS`` note ("CORE") per processor in the i386
  layout, then a "QEMU" note per processor (QEMU's ``QEMUCPUState``,
  version 1); the registers are those of a processor after reset (the
  simulator runs no guest code that would change them);
- the memory blocks: the RAM below 4 GiB split where QEMU's flat view splits
  it at reset (0xc0000, 0xe0000, 1 MiB), the 256 KiB firmware at
  0xfffc0000 (zeros: the simulator has no firmware), and the RAM above
  4 GiB.  ``begin`` and ``length`` keep the parts of the blocks in that
  range.

What a dump needs from outside the machine — a descriptor kept by a monitor
(``fd:NAME``) or a created file (``file:PATH``) — comes through a
:class:`DumpFiles` the program gives the machine, as an open binary file;
the dump writes to it from where it stands, skipping the pages never written
with ``seek()`` where the file allows (a sparse file), and closes it.
"""

from __future__ import annotations

import struct

from .bus import Ram

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import BinaryIO, Protocol

    class DumpFiles(Protocol):
        """Where a dump goes, opened for the machine (QMP's and the host's business)."""

        def named(self, name: str) -> BinaryIO:
            """The descriptor a monitor keeps as ``name`` (``fd:NAME``), taken
            from it; ``QMPError`` when there is none."""
            ...

        def create(self, path: str) -> BinaryIO:
            """A file created at ``path`` (``file:PATH``); ``QMPError`` with
            the reason when it cannot be."""
            ...


__all__ = [
    "KDUMP_FORMATS",
    "CoreLayout",
    "DumpWriteError",
    "MemoryBlock",
    "guest_memory_blocks",
    "write_core",
]

#: ``dump-guest-memory``'s kdump formats (wire values), which are not
#: simulated: the machine writes ELF cores only.
KDUMP_FORMATS = frozenset(
    {
        "kdump-zlib",
        "kdump-lzo",
        "kdump-snappy",
        "kdump-raw-zlib",
        "kdump-raw-lzo",
        "kdump-raw-snappy",
    }
)

_KiB = 1024
_MiB = 1024 * _KiB
_GiB = 1024 * _MiB

#: The firmware block: 256 KiB ending at 4 GiB.
FIRMWARE_BASE = 4 * _GiB - 256 * _KiB
FIRMWARE_SIZE = 256 * _KiB
# Where QEMU's flat view of the pc machine's RAM below 1 MiB is split at reset
# (the PAM windows over the option-ROM and BIOS areas).
_LOW_SPLITS = (0xC0000, 0xE0000, 0x100000)

_EM_386 = 3
_ET_CORE = 4
_PT_LOAD = 1
_PT_NOTE = 4
_SHT_STRTAB = 3
_NT_PRSTATUS = 1
_EHDR_SIZE = 64
_SHDR_SIZE = 64
_PHDR_SIZE = 56
_SHSTRTAB = b"\0.shstrtab\0"
# QEMU stores sizeof() of a pointer to the header as e_ehsize.
_QEMU_EHSIZE = 8

# An x86 processor after reset: edx holds the family/model/stepping of QEMU's
# default qemu64 model; code segment f000:fff0 based at 0xffff0000.
_RESET_EDX = 0x00060FB1
_RESET_EIP = 0xFFF0
_RESET_EFLAGS = 0x2
_RESET_CR0 = 0x60000010
# Segment caches: (selector, limit, flags, base).
_RESET_CS = (0xF000, 0xFFFF, 0x9B00, 0xFFFF0000)
_RESET_DATA = (0, 0xFFFF, 0x9300, 0)
_RESET_LDT = (0, 0xFFFF, 0x8200, 0)
_RESET_TR = (0, 0xFFFF, 0x8B00, 0)
_RESET_TABLE = (0, 0xFFFF, 0, 0)

# Zeros written at a time where the file cannot seek.
_ZERO_CHUNK = 1 * _MiB


class MemoryBlock:
    """A stretch of guest-physical memory in a dump: ``size`` bytes at
    ``start``, read from ``ram`` at ``ram_offset`` (None: zeros)."""

    __slots__ = ("ram", "ram_offset", "size", "start")

    def __init__(self, start: int, size: int, ram: Ram | None, ram_offset: int = 0) -> None:
        self.start = start
        self.size = size
        self.ram = ram
        self.ram_offset = ram_offset

    def clipped(self, begin: int, end: int) -> MemoryBlock | None:
        """The part of the block in [begin, end), or None."""
        lo, hi = max(self.start, begin), min(self.start + self.size, end)
        if lo >= hi:
            return None
        return MemoryBlock(lo, hi - lo, self.ram, self.ram_offset + (lo - self.start))

    def __repr__(self) -> str:
        return f"MemoryBlock({self.start:#x}, {self.size:#x})"


def guest_memory_blocks(ram: Ram, below_4g: int) -> list[MemoryBlock]:
    """The blocks QEMU dumps for a ``pc`` machine whose RAM ``ram`` has
    ``below_4g`` bytes mapped from 0 and the rest from 4 GiB."""
    blocks = []
    start = 0
    for split in (*_LOW_SPLITS, below_4g):
        end = min(split, below_4g)
        if end > start:
            blocks.append(MemoryBlock(start, end - start, ram, start))
            start = end
    blocks.append(MemoryBlock(FIRMWARE_BASE, FIRMWARE_SIZE, None))
    above = ram.size - below_4g
    if above > 0:
        blocks.append(MemoryBlock(4 * _GiB, above, ram, below_4g))
    return blocks


def _segment(cache: tuple[int, int, int, int]) -> bytes:
    selector, limit, flags, base = cache
    return struct.pack("<IIIIQ", selector, limit, flags, 0, base)


def _note(name: bytes, note_type: int, desc: bytes) -> bytes:
    # Name and descriptor each padded to 4 bytes.
    named = name + b"\0"
    head = struct.pack("<III", len(named), len(desc), note_type)
    pad_name = b"\0" * (-len(named) % 4)
    return head + named + pad_name + desc + b"\0" * (-len(desc) % 4)


def _prstatus(cpu_index: int) -> bytes:
    """The i386 ``elf_prstatus`` of a processor after reset (144 bytes)."""
    # ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip cs eflags esp ss
    regs = [0] * 17
    regs[2] = _RESET_EDX
    regs[12] = _RESET_EIP
    regs[13] = _RESET_CS[0]
    regs[14] = _RESET_EFLAGS
    return (
        bytes(24)
        + struct.pack("<I", cpu_index + 1)  # pr_pid: the processor's number from 1
        + bytes(44)
        + struct.pack("<17I", *regs)
        + bytes(4)
    )


def _qemu_cpu_state() -> bytes:
    """QEMU's ``QEMUCPUState`` (version 1, 440 bytes) of a processor after reset."""
    gprs = [0] * 16  # rax rbx rcx rdx rsi rdi rsp rbp r8..r15
    gprs[3] = _RESET_EDX
    body = struct.pack("<16Q", *gprs) + struct.pack("<QQ", _RESET_EIP, _RESET_EFLAGS)
    segments = (_RESET_CS, *([_RESET_DATA] * 5), _RESET_LDT, _RESET_TR, _RESET_TABLE, _RESET_TABLE)
    body += b"".join(_segment(s) for s in segments)
    body += struct.pack("<5Q", _RESET_CR0, 0, 0, 0, 0)
    body += struct.pack("<Q", 0)  # kernel_gs_base
    return struct.pack("<II", 1, 8 + len(body)) + body


class CoreLayout:
    """Where everything goes in the ELF core of ``blocks`` for ``cpus`` processors."""

    __slots__ = ("blocks", "memory_offset", "notes", "total")

    def __init__(self, blocks: list[MemoryBlock], cpus: int) -> None:
        self.blocks = blocks
        prstatus = b"".join(_note(b"CORE", _NT_PRSTATUS, _prstatus(i)) for i in range(cpus))
        qemu = _note(b"QEMU", 0, _qemu_cpu_state()) * cpus
        self.notes = prstatus + qemu
        #: Bytes of guest memory in the file (what ``query-dump`` counts).
        self.total = sum(block.size for block in blocks)
        self.memory_offset = self._notes_offset() + len(self.notes)

    def _phdr_offset(self) -> int:
        return _EHDR_SIZE + 2 * _SHDR_SIZE

    def _notes_offset(self) -> int:
        return self._phdr_offset() + _PHDR_SIZE * (1 + len(self.blocks))

    def head(self) -> bytes:
        """Everything before the memory: headers and notes."""
        strtab_offset = self.memory_offset + self.total
        ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)  # ELFCLASS64, little-endian, v1
        ehdr = ident + struct.pack(
            "<HHIQQQIHHHHHH",
            _ET_CORE,
            _EM_386,
            1,  # e_version
            0,  # e_entry
            self._phdr_offset(),
            _EHDR_SIZE,  # e_shoff: the section headers follow the ELF header
            0,  # e_flags
            _QEMU_EHSIZE,
            _PHDR_SIZE,
            1 + len(self.blocks),
            _SHDR_SIZE,
            2,
            1,  # e_shstrndx
        )
        null_shdr = bytes(_SHDR_SIZE)
        strtab_shdr = struct.pack(
            "<IIQQQQIIQQ", 1, _SHT_STRTAB, 0, 0, strtab_offset, len(_SHSTRTAB), 0, 0, 0, 0
        )
        notes_offset = self._notes_offset()
        phdrs = [
            struct.pack("<IIQQQQQQ", _PT_NOTE, 0, notes_offset, 0, 0, *[len(self.notes)] * 2, 0)
        ]
        offset = self.memory_offset
        for block in self.blocks:
            phdrs.append(
                struct.pack(
                    "<IIQQQQQQ",
                    _PT_LOAD,
                    0,
                    offset,
                    block.start,
                    block.start,
                    block.size,
                    block.size,
                    0,
                )
            )
            offset += block.size
        return ehdr + null_shdr + strtab_shdr + b"".join(phdrs) + self.notes

    @staticmethod
    def tail() -> bytes:
        """What follows the memory: the section names."""
        return _SHSTRTAB


class DumpWriteError(Exception):
    """Writing the core failed; the message is QEMU's."""


def _write_all(out: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = out.write(view)
        if n is None:  # a non-blocking file with no room: QEMU's writer gives up too
            raise BlockingIOError(11, "Resource temporarily unavailable")
        view = view[n:]


def _skip(out: BinaryIO, count: int, seekable: bool) -> None:
    """Move ``count`` bytes of zeros on: a hole where the file can seek."""
    if seekable:
        out.seek(count, 1)
        return
    while count > 0:
        n = min(count, _ZERO_CHUNK)
        _write_all(out, bytes(n))
        count -= n


def write_core(out: BinaryIO, layout: CoreLayout) -> None:
    """Write the core file of ``layout`` to ``out`` (unbuffered), from where it stands.

    Pages never written are skipped with ``seek()`` where ``out`` can seek;
    the section names written last give the file its full length.
    :class:`DumpWriteError` with QEMU's message when writing fails.
    """
    try:
        seekable = out.seekable()
        _write_all(out, layout.head())
    except OSError as err:
        raise DumpWriteError(f"dump: failed to write elf header: {err.strerror}") from None
    try:
        for block in layout.blocks:
            at = 0  # bytes of the block written or skipped
            if block.ram is not None:
                for offset, data in block.ram.stored_pages(block.ram_offset, block.size):
                    _skip(out, offset - block.ram_offset - at, seekable)
                    _write_all(out, data)
                    at = offset - block.ram_offset + len(data)
            _skip(out, block.size - at, seekable)
    except OSError as err:
        raise DumpWriteError(f"dump: failed to save memory: {err.strerror}") from None
    try:
        _write_all(out, layout.tail())
    except OSError as err:
        raise DumpWriteError(f"dump: failed to write section headers: {err.strerror}") from None
