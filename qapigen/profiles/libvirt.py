"""How libvirt runs an emulator, and what it asks it: facts, observed.

Read from the debug log (``log_filters="1:qemu.qemu_monitor
1:qemu.qemu_monitor_json 1:qemu.qemu_process 1:util.command 3:*"``) of
Debian's libvirt 11.3.0 (bookworm-backports) probing Debian's QEMU 10.0.2
for x86_64 and starting a TCG domain on it (the domain of
``tests/support/libvirt_domain.py``).  ``tests/support/data/libvirt-11.3.json``
holds the same lists as they came from the log, and the tests hold these to it.

The probe runs the emulator twice, and asks the same questions whether KVM
is usable or not (libvirt 11.3 asks the ``host`` CPU model's expansions even
where ``query-kvm`` says KVM is off); the second round, with
``accel=tcg``, comes only where KVM is usable.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    # A QMP command and its arguments (None: none given).
    Question = tuple[str, dict[str, object] | None]

# The probe's options; -machine, -qmp, -pidfile and -daemonize follow.
PROBE_OPTIONS = ("-S", "-no-user-config", "-nodefaults", "-nographic")
# The two rounds' accelerators.
PROBE_ACCELS = ("kvm:tcg", "tcg")


def probe_argv(binary: str, accel: str, monitor: str, pidfile: str) -> list[str]:
    """The command line of one probe round, as libvirt runs it."""
    return [
        binary,
        *PROBE_OPTIONS,
        "-machine",
        f"none,accel={accel}",
        "-qmp",
        f"unix:{monitor},server=on,wait=off",
        "-pidfile",
        pidfile,
        "-daemonize",
    ]


# The devices whose properties the probe lists, in its order.
DEVICE_TYPES = (
    "virtio-blk-pci",
    "virtio-net-pci",
    "virtio-scsi-pci",
    "virtio-net-ccw",
    "virtio-scsi-ccw",
    "vfio-pci",
    "scsi-hd",
    "ide-hd",
    "PIIX4_PM",
    "usb-redir",
    "usb-storage",
    "kvm-pit",
    "VGA",
    "vmware-svga",
    "virtio-gpu-pci",
    "virtio-gpu-device",
    "ICH9-LPC",
    "virtio-balloon-pci",
    "virtio-balloon-ccw",
    "virtio-balloon-device",
    "intel-iommu",
    "mch",
    "nvdimm",
    "pcie-root-port",
    "usb-host",
    "vhost-user-fs-device",
    "virtio-mem-pci",
    "virtio-iommu-pci",
)


def _device(typename: str) -> Question:
    return ("device-list-properties", {"typename": typename})


def _expansion(kind: str, model: str, **props: bool) -> Question:
    spec: dict[str, object] = {"name": model}
    if props:
        spec["props"] = {k.replace("_", "-"): v for k, v in props.items()}
    return ("query-cpu-model-expansion", {"type": kind, "model": spec})


# The first round's questions after qmp_capabilities, in libvirt's order.
PROBE: Sequence[Question] = (
    ("query-version", None),
    ("query-target", None),
    ("query-qmp-schema", None),
    ("query-kvm", None),
    ("qom-list-types", None),
    *(_device(t) for t in DEVICE_TYPES),
    ("qom-list-properties", {"typename": "memory-backend-file"}),
    ("qom-list-properties", {"typename": "memory-backend-memfd"}),
    ("qom-list-properties", {"typename": "max-x86_64-cpu"}),
    ("query-machines", None),
    ("qom-list-properties", {"typename": "none-machine"}),
    ("qom-list-properties", {"typename": "generic-pc-machine"}),
    ("query-cpu-definitions", None),
    ("query-tpm-models", None),
    ("query-tpm-types", None),
    ("query-command-line-options", None),
    ("query-migrate-capabilities", None),
    ("query-sev-capabilities", None),
    ("query-sgx-capabilities", None),
    _expansion("static", "host"),
    _expansion("static", "host", migratable=False),
    _expansion("full", "host", migratable=False, hv_passthrough=True),
)

# The second round's (accel=tcg) questions after qmp_capabilities.
PROBE_TCG: Sequence[Question] = (
    ("query-cpu-definitions", None),
    _expansion("static", "max"),
    _expansion("static", "max", migratable=False),
    ("query-machines", None),
)

# The command line of a domain's start, with what varies as placeholders:
# <EMULATOR>, <NAME> (the domain's), <DOMAIN_DIR> (libvirt's folder for this
# start; it holds master-key.aes), <UUID>, <IMAGE> (the boot disk, a file),
# <FD> (the monitor: a listening socket libvirt made and passes down).
# The domain: type qemu, 64 MiB, 1 vCPU, machine pc, an IDE raw disk, no USB,
# no balloon, <panic model='isa'> at 0x505, on_crash as it may be.
DOMAIN_ARGV = (
    "<EMULATOR>",
    "-name",
    "guest=<NAME>,debug-threads=on",
    "-S",
    "-object",
    '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"<DOMAIN_DIR>/master-key.aes"}',
    "-machine",
    "pc-i440fx-10.0,usb=off,dump-guest-core=off,memory-backend=pc.ram,acpi=off",
    "-accel",
    "tcg",
    "-cpu",
    "qemu64",
    "-m",
    "size=65536k",
    "-object",
    '{"qom-type":"memory-backend-ram","id":"pc.ram","size":67108864}',
    "-overcommit",
    "mem-lock=off",
    "-smp",
    "1,sockets=1,cores=1,threads=1",
    "-uuid",
    "<UUID>",
    "-display",
    "none",
    "-no-user-config",
    "-nodefaults",
    "-chardev",
    "socket,id=charmonitor,fd=<FD>,server=on,wait=off",
    "-mon",
    "chardev=charmonitor,id=monitor,mode=control",
    "-rtc",
    "base=utc",
    "-no-shutdown",
    "-boot",
    "strict=on",
    "-blockdev",
    '{"driver":"file","filename":"<IMAGE>","node-name":"libvirt-1-storage","read-only":false}',
    "-device",
    '{"driver":"ide-hd","bus":"ide.0","unit":0,"drive":"libvirt-1-storage",'
    '"id":"ide0-0-0","bootindex":1}',
    "-audiodev",
    '{"id":"audio1","driver":"none"}',
    "-sandbox",
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    "-device",
    '{"driver":"pvpanic","ioport":1285}',
    "-msg",
    "timestamp=on",
)

# A domain's start, after qmp_capabilities and before the CPU's properties.
DOMAIN_BEFORE_CPU: Sequence[Question] = (
    ("query-migrate-capabilities", None),
    (
        "migrate-set-capabilities",
        {"capabilities": [{"capability": "events", "state": True}]},
    ),
    ("query-chardev", None),
    ("query-hotpluggable-cpus", None),
    ("query-cpus-fast", None),
)
# Then ``qom-list`` of the first vCPU's ``qom-path`` (from query-cpus-fast) and
# ``qom-get`` of each of its properties of type ``bool``, and of this one:
CPU_EXTRA_PROPERTIES = ("unavailable-features",)
# Then, the last question being the guest's start:
DOMAIN_AFTER_CPU: Sequence[Question] = (
    ("query-iothreads", None),
    ("query-named-block-nodes", {"flat": True}),
    ("qom-list", {"path": "/machine/peripheral"}),
    ("query-block", None),
    ("cont", None),
)
