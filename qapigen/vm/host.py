"""What the host ``qapigen vm`` runs on offers, as QEMU would find it: KVM, the CPU.

A profile's answers that depend on the host (see
:mod:`qapigen.profiles.profile`, ``marks``) are answered for this one: whether
KVM can be opened decides the accelerator a ``kvm:tcg`` machine uses, and the host
CPU's model name whether the recorded ``host`` CPU model's expansions are this
host's.  Each is read when first asked.
"""

from __future__ import annotations

import functools
import os

__all__ = ["cpu_model", "kvm_error"]

KVM_DEVICE = "/dev/kvm"
CPUINFO = "/proc/cpuinfo"


@functools.cache
def kvm_error(device: str = KVM_DEVICE) -> str | None:
    """Why KVM cannot be used here, as QEMU says it (``strerror`` of opening
    ``device`` read-write), or None when it can.  A device that opens but is not
    KVM's (a ``/dev/null`` in its place) is ``No such device``."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        return err.strerror or str(err)
    try:
        import errno
        import stat

        info = os.fstat(fd)
        if stat.S_ISCHR(info.st_mode) and os.major(info.st_rdev) == 10:
            return None
        return os.strerror(errno.ENODEV)
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
