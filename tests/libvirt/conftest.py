"""A private libvirtd for the session, the guests' images, and the emulators.

Every libvirt test runs once per emulator: real QEMU 10.0.2, and ``qapigen
vm`` behind an ``<emulator>`` wrapper, which libvirt cannot drive yet (issue
14, items 2-4), so that its tests are expected to fail, at the first thing
libvirt does with it: the probe when the domain is defined.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from ..support.guest_images import GuestImages
from ..support.libvirt_domain import REAL_QEMU, qapigen_vm_wrapper
from ..support.libvirtd import Libvirtd, LibvirtError, missing

# Its probe fails first, at -daemonize; fd= monitors it has (main's 28b49cb).
QAPIGEN_VM_CANNOT = (
    "qapigen vm lacks -daemonize and the rest of libvirt's command line: issue 14 item 3"
)


@pytest.fixture(scope="session")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Libvirtd]:
    """libvirtd, running privately for the session (or skip, saying why not)."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    daemon = Libvirtd(tmp_path_factory.mktemp("libvirtd"))
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def images(libvirtd: Libvirtd) -> GuestImages:
    """The boot sectors of tests/support/guest_images.py, where the daemon can read them."""
    return GuestImages(libvirtd.root / "images")


def _real_qemu() -> str:
    if shutil.which(REAL_QEMU) is None:
        pytest.skip(f"{REAL_QEMU} is not installed (bookworm-backports' qemu-system-x86)")
    version = subprocess.run([REAL_QEMU, "--version"], capture_output=True, text=True).stdout
    if "version 10.0." not in version:
        pytest.skip(f"{REAL_QEMU} is not QEMU 10.0: {version.splitlines()[:1]}")
    return REAL_QEMU


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("qemu", id="qemu-10.0.2"),
        pytest.param(
            "qapigen-vm",
            id="qapigen-vm",
            marks=pytest.mark.xfail(raises=LibvirtError, strict=True, reason=QAPIGEN_VM_CANNOT),
        ),
    ],
)
def emulator(request: pytest.FixtureRequest, libvirtd: Libvirtd) -> str:
    """The ``<emulator>`` of the test's domain."""
    if request.param == "qemu":
        return _real_qemu()
    # One wrapper for the session, never rewritten: libvirt probes an
    # emulator again whenever its ctime changes.
    folder = libvirtd.root / "bin"
    folder.mkdir(mode=0o700, exist_ok=True)
    wrapper = folder / "qapigen-vm"
    if not wrapper.exists():
        qapigen_vm_wrapper(wrapper)
    return str(wrapper)
