"""A private libvirtd for the session, the guests' images, and the emulators.

Every libvirt test runs once per emulator (``emulator``): real QEMU 10.0.2,
and ``qapigen vm`` behind an ``<emulator>`` wrapper; one compares the two side
by side.  What libvirt cannot do yet with ``qapigen vm`` is listed, with
why, in :data:`QAPIGEN_VM_FAILS`: those tests are strict xfails.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from ..support.guest_images import GuestImages
from ..support.libvirt_domain import REAL_QEMU, qapigen_vm_wrapper
from ..support.libvirt_guests import Guest, PlayedGuest
from ..support.libvirtd import Libvirtd, LibvirtError, missing

# The tests libvirt cannot pass yet with qapigen vm, by name (all of a test's
# parameters) or by name and parameters: each is a strict xfail, with why and
# the exception it ends in.  The probe fails first, at -daemonize.
_PROBE_FAILS = (
    "libvirt's probe fails: 'qapigen vm: -daemonize: invalid option' (issue 14 item 3: "
    "-daemonize and the rest of libvirt's command line)",
    LibvirtError,
)
QAPIGEN_VM_FAILS: dict[str, tuple[str, type[Exception]]] = {
    "test_the_probe_asks_what_the_reviewed_record_lists": _PROBE_FAILS,
    "test_a_domain_starts_with_the_reviewed_command_line_and_questions": _PROBE_FAILS,
    "test_libvirt_writes_the_same_command_line_for_qapigen_vm_as_for_real_qemu": _PROBE_FAILS,
    "test_start_shutdown_reboot_suspend_resume_reset_destroy": _PROBE_FAILS,
    "test_shutdown_and_reboot_when_the_guest_answers_the_power_button": _PROBE_FAILS,
    "test_the_first_crash_ends_as_the_policy_says": _PROBE_FAILS,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what still fails with qapigen vm (:data:`QAPIGEN_VM_FAILS`) a strict xfail."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if params.get("emulator") != "qapigen-vm" and "qapigen_vm" not in item.fixturenames:
            continue
        known = QAPIGEN_VM_FAILS.get(item.name) or QAPIGEN_VM_FAILS.get(item.originalname)
        if known is not None:
            reason, raises = known
            item.add_marker(pytest.mark.xfail(raises=raises, strict=True, reason=reason))


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


@pytest.fixture(scope="session")
def real_qemu() -> str:
    """Real QEMU 10.0's ``<emulator>`` (or skip, saying why not)."""
    if shutil.which(REAL_QEMU) is None:
        pytest.skip(f"{REAL_QEMU} is not installed (bookworm-backports' qemu-system-x86)")
    version = subprocess.run([REAL_QEMU, "--version"], capture_output=True, text=True).stdout
    if "version 10.0." not in version:
        pytest.skip(f"{REAL_QEMU} is not QEMU 10.0: {version.splitlines()[:1]}")
    return REAL_QEMU


@pytest.fixture(scope="session")
def qapigen_vm(libvirtd: Libvirtd) -> str:
    """``qapigen vm``'s ``<emulator>``: a wrapper script, one for the session and
    never rewritten (libvirt probes an emulator again whenever its ctime changes)."""
    folder = libvirtd.root / "bin"
    folder.mkdir(mode=0o700, exist_ok=True)
    return str(qapigen_vm_wrapper(folder / "qapigen-vm"))


@pytest.fixture(
    scope="session",
    params=[pytest.param("qemu", id="qemu-10.0.2"), pytest.param("qapigen-vm", id="qapigen-vm")],
)
def emulator(request: pytest.FixtureRequest) -> str:
    """The ``<emulator>`` of the test's domain: each test runs with each."""
    fixture = "real_qemu" if request.param == "qemu" else "qapigen_vm"
    emulator: str = request.getfixturevalue(fixture)
    return emulator


@pytest.fixture
def guest_of(libvirtd: Libvirtd, emulator: str) -> Callable[[str], Guest]:
    """The guest of the test's domain, by the domain's name: real QEMU's runs by
    itself; ``qapigen vm``'s is played through libvirt's monitor."""
    if emulator == REAL_QEMU:
        return lambda name: Guest(libvirtd, name)
    return lambda name: PlayedGuest(libvirtd, name)
