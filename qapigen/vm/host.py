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

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..machine.config import KvmError

__all__ = ["cpu_model", "kvm_error"]

KVM_DEVICE = "/dev/kvm"
# <linux/kvm.h>: _IO(KVMIO, 0x00), and the only version there has been.
_KVM_GET_API_VERSION = 0xAE00
_KVM_API_VERSION = 12
CPUINFO = "/proc/cpuinfo"


@functools.cache
def kvm_error(device: str = KVM_DEVICE) -> KvmError | None:
    """Why KVM cannot be used here, as QEMU's ``kvm_init()`` finds it, or None
    when it can: ``device`` opened read-write (``Could not access KVM kernel
    module: REASON``), then asked its API version, which must be 12 (``kvm
    version too old``, its reason the ioctl's error: a device that opens but
    is not KVM's, ``/dev/null`` in its place, does not know the request)."""
    import errno

    from ..machine.config import KvmError

    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        reason = err.strerror or str(err)
        return KvmError(f"Could not access KVM kernel module: {reason}", reason)
    try:
        import fcntl

        try:
            version = fcntl.ioctl(fd, _KVM_GET_API_VERSION)
        except OSError as err:
            return KvmError("kvm version too old", err.strerror or str(err))
        if version < _KVM_API_VERSION:
            return KvmError("kvm version too old", os.strerror(errno.EINVAL))
        if version > _KVM_API_VERSION:
            return KvmError("kvm version not supported", os.strerror(errno.EINVAL))
        return None
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
