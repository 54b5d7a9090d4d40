"""Guests for a real QEMU: 512-byte boot sectors, machine code written out by hand.

Not a test module.  SeaBIOS loads the first sector of the boot disk at
0x7c00 and jumps to it in real mode; each guest here ends in ``hlt`` in a loop.
(``boot_sector.py`` is something else: a model of the oracle's guest, for the
simulated machine.)
"""

from __future__ import annotations

from pathlib import Path

# hlt; jmp back to the hlt
_HALT = bytes([0xF4, 0xEB, 0xFD])

# mov dx, 0x505; mov al, 1; out dx, al: a guest panic through the ISA pvpanic.
_PANIC = bytes([0xBA, 0x05, 0x05, 0xB0, 0x01, 0xEE])

# A CMOS byte no firmware or QEMU uses (QEMU's pc fills 0x10-0x3d and
# 0x5b-0x5f); CMOS keeps it across resets, not across a new QEMU process.
CMOS_FLAG = 0x7E
_FLAG_VALUE = 0xA5

# mov al, CMOS_FLAG; out 0x70, al; in al, 0x71; cmp al, FLAG; je to the hlt (+14);
# mov al, CMOS_FLAG; out 0x70, al; mov al, FLAG; out 0x71, al
_ONCE = bytes((0xB0, CMOS_FLAG, 0xE6, 0x70, 0xE4, 0x71, 0x3C, _FLAG_VALUE, 0x74, 0x0E)) + bytes(
    (0xB0, CMOS_FLAG, 0xE6, 0x70, 0xB0, _FLAG_VALUE, 0xE6, 0x71)
)


def _sector(code: bytes) -> bytes:
    """``code`` as an MBR boot sector: padded to 510 bytes, then the 0x55 0xAA signature."""
    assert len(code) <= 510
    return code.ljust(510, b"\0") + b"\x55\xaa"


def panicking() -> bytes:
    """Writes 1 to port 0x505 at every boot, then halts (the benchmarks' guest)."""
    return _sector(_PANIC + _HALT)


def panicking_once() -> bytes:
    """Writes 1 to port 0x505 at its first boot in a QEMU process, then halts.

    It marks a CMOS byte before the write and, finding it marked after a reset,
    only halts: a guest that libvirt restarts after its crash stays running,
    where one that panics at every boot would crash again at once.
    """
    return _sector(_ONCE + _PANIC + _HALT)


# The power button, answered as an ACPI operating system answers it, but polling
# at each timer tick (BIOS's IRQ 0) instead of taking the SCI: the PIIX4 PM
# function's I/O base from its PCI configuration (00:01.3, register 0x40;
# SeaBIOS puts it at 0x600), PWRBTN_EN set in PM1_EN (base + 2), then PWRBTN_STS
# awaited in PM1_STS (base), then SLP_EN with SLP_TYP 0, soft off, in PM1_CNT
# (base + 4):
#   mov eax, 0x80000b40; mov dx, 0xcf8; out dx, eax; mov dl, 0xfc; in ax, dx
#   and al, 0xc0; mov bx, ax; lea dx, [bx+2]; mov ax, 0x100; out dx, ax
#   wait: sti; hlt; mov dx, bx; in ax, dx; test ah, 1; jz wait
#   lea dx, [bx+4]; mov ax, 0x2000; out dx, ax
_POWER_BUTTON = bytes.fromhex(
    "66b8400b0080 baf80c 66ef b2fc ed 24c0 89c3 8d5702 b80001 ef"
    " fb f4 89da ed f6c401 74f6 8d5704 b80020 ef"
)


# Where the guest waits for the button, in memory (SeaBIOS loads it at 0x7c00):
# a CPU there has enabled the button, so that a press now is heard.
_LOAD_ADDRESS = 0x7C00
POWER_BUTTON_WAIT = range(
    _LOAD_ADDRESS + _POWER_BUTTON.index(b"\xfb\xf4"),  # sti; hlt
    _LOAD_ADDRESS + _POWER_BUTTON.index(b"\x74\xf6") + 2,  # jz wait
)


def answering_power_button() -> bytes:
    """Waits for the power button and powers the machine off, at every boot.

    The machine needs ACPI (libvirt: ``<features><acpi/></features>``): without
    it the PC has no PIIX4 power management and the button goes unheard.
    """
    return _sector(_POWER_BUTTON + _HALT)


def idle() -> bytes:
    """Halts at once, and runs until stopped."""
    return _sector(_HALT)


class GuestImages:
    """The guests as disk images in ``folder`` (made here, private)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700)
        self.panicking_once = folder / "panicking-once.img"
        self.panicking_once.write_bytes(panicking_once())
        self.idle = folder / "idle.img"
        self.idle.write_bytes(idle())
        self.answering_power_button = folder / "answering-power-button.img"
        self.answering_power_button.write_bytes(answering_power_button())
