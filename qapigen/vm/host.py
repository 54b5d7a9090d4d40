"""What the host ``qapigen vm`` runs on offers, as QEMU would find it: KVM, the CPU.

A profile's answers that depend on the host (see
:mod:`qapigen.profiles.profile`, ``marks``) are answered for this one: whether
KVM is usable decides the accelerator a ``kvm:tcg`` machine uses, and the host
CPU's model name whether the recorded ``host`` CPU model's expansions are this
host's.  Each is read when first asked.
"""

from __future__ import annotations

import functools
import os

__all__ = ["cpu_model", "kvm_usable"]

KVM_DEVICE = "/dev/kvm"
CPUINFO = "/proc/cpuinfo"


@functools.cache
def kvm_usable(device: str = KVM_DEVICE) -> bool:
    """Whether KVM can be used: ``device`` opens read-write as a character device
    (QEMU opens it so; a ``/dev/null`` in its place is not KVM)."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        import stat

        return stat.S_ISCHR(os.fstat(fd).st_mode) and os.major(os.fstat(fd).st_rdev) == 10
    finally:
        os.close(fd)


@functools.cache
def cpu_model(cpuinfo: str = CPUINFO) -> str | None:
    """The host CPU's model name (``/proc/cpuinfo``), or None when it says none."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fp:
            for line in fp:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return None
