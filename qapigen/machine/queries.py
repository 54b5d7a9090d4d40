"""What the machine's queries read back of its command line: its vCPUs
(``-smp``, ``-cpu``), its QOM objects (the CPUs, ``/machine/peripheral``) and
its block devices (``-blockdev`` nodes and the devices they back, the pc
machine's default drives), in the shapes and orders QEMU 10.0 answers them.

QOM lists come out in QEMU's order: an object's own properties in its GLib
hash table's order, then its class's, and the whole reversed (``qom-list``
builds its answer by prepending).  The CPUs' own properties and their values
are those a real QEMU answered (the profile's recording, given to the machine
as :class:`~qapigen.machine.config.CpuFacts`); without a recording a CPU has
its ``type`` alone.
"""

from __future__ import annotations

import os

from qapigen import runtime as rt
from qapigen.runtime.key_order import ghash_order
from qapigen.simulator_api import (
    BlockdevCacheInfo,
    BlockdevDetectZeroesOptions,
    BlockDeviceInfo,
    BlockDeviceIoStatus,
    BlockInfo,
    CpuInfoFast,
    CpuInfoFast_x86_64,
    CpuInstanceProperties,
    HotpluggableCPU,
    ImageInfo,
    ImageInfoSpecific_file,
    ImageInfoSpecific_qcow2,
    ImageInfoSpecificFile,
    ImageInfoSpecificQCow2,
    ObjectPropertyInfo,
    Qcow2CompressionType,
)

from .config import BlockNodeConfig, DriveConfig, MachineConfig, PvpanicConfig

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import DeviceConfig
    from .vcpu_threads import VcpuThreads

__all__ = ["MachineObjects"]

_PERIPHERAL = "/machine/peripheral"
_ANONYMOUS = "/machine/peripheral-anon"
_MACHINE = "/machine"
_UNATTACHED_CONTAINER = "/machine/unattached"
_UNATTACHED = "/machine/unattached/device"


# The simulated devices' QOM properties (name, type), in the order QEMU
# 10.0.2's qom-list gives them.
_DEVICE_BASE = (
    ("type", "string"),
    ("parent_bus", "link<bus>"),
    ("realized", "bool"),
    ("hotplugged", "bool"),
    ("hotpluggable", "bool"),
)
_DEVICE_PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    "pvpanic": (
        *_DEVICE_BASE,
        ("ioport", "uint16"),
        ("events", "uint8"),
        ("pvpanic[0]", "child<memory-region>"),
    ),
    "pvpanic-pci": (
        *_DEVICE_BASE,
        ("failover_pair_id", "str"),
        ("romfile", "str"),
        ("x-pcie-ext-tag", "bool"),
        ("addr", "str"),
        ("romsize", "uint32"),
        ("x-pcie-lnksta-dllla", "bool"),
        ("rombar", "int32"),
        ("x-max-bounce-buffer-size", "size"),
        ("x-pcie-ari-nextfn-1", "bool"),
        ("x-pcie-err-unc-mask", "bool"),
        ("x-pcie-extcap-init", "bool"),
        ("busnr", "busnr"),
        ("acpi-index", "uint32"),
        ("multifunction", "bool"),
        ("legacy-addr", "str"),
        ("events", "uint8"),
        ("pvpanic[0]", "child<memory-region>"),
        ("bus master[0]", "child<memory-region>"),
        ("bus master container[0]", "child<memory-region>"),
    ),
    "ib700": (*_DEVICE_BASE, ("ib700[0]", "child<memory-region>")),
}
# A PCI device's properties the simulator leaves at QEMU's defaults.
_PCI_DEFAULTS: dict[str, object] = {
    "failover_pair_id": "",
    "romfile": "",
    "x-pcie-ext-tag": True,
    "romsize": 0xFFFFFFFF,
    "x-pcie-lnksta-dllla": True,
    "rombar": -1,
    "x-max-bounce-buffer-size": 4096,
    "x-pcie-ari-nextfn-1": False,
    "x-pcie-err-unc-mask": True,
    "x-pcie-extcap-init": True,
    "busnr": 0,
    "acpi-index": 0,
}


def _props(ids: dict[str, int]) -> CpuInstanceProperties:
    return CpuInstanceProperties(
        socket_id=ids.get("socket-id"),
        die_id=ids.get("die-id"),
        module_id=ids.get("module-id"),
        core_id=ids.get("core-id"),
        thread_id=ids.get("thread-id"),
    )


class MachineObjects:
    """The machine's vCPUs, QOM objects and block devices, as ``config`` made them."""

    __slots__ = ("_anonymous", "_config", "_cpu_paths", "_named", "_threads")

    def __init__(self, config: MachineConfig) -> None:
        self._config = config
        #: The host threads that stand for the vCPUs (made when first asked for).
        self._threads: VcpuThreads | None = None
        self._named: dict[str, str] = {}
        self._anonymous: list[str] = []
        for device in config.peripherals:
            if device.id is not None:
                self._named[device.id] = device.driver
            else:
                self._anonymous.append(device.driver)
        # Asked at every qom-get (libvirt asks 464 of its CPU at every start).
        self._cpu_paths = (
            frozenset(self.cpu_path(i) for i in range(config.topology.cpus))
            if self._has_cpus
            else frozenset()
        )

    def __del__(self) -> None:
        # The vCPUs' threads end with the machine (weakref.finalize would cost
        # an import on libvirt's start path).
        if self._threads is not None:
            self._threads.close()

    # -- vCPUs ---------------------------------------------------------------------

    @property
    def _has_cpus(self) -> bool:
        return self._config.machine_type != "none"

    @staticmethod
    def cpu_path(index: int) -> str:
        """vCPU ``index``'s QOM path: the first CPU's APIC brings ``kvmvapic``,
        which comes between the first CPU and the others."""
        return f"{_UNATTACHED}[{index if index == 0 else index + 1}]"

    def cpus_fast(self) -> list[CpuInfoFast]:
        """``query-cpus-fast``: the vCPUs there are, in index order."""
        if not self._has_cpus:
            return []
        topology = self._config.topology
        if self._threads is None:
            from .vcpu_threads import VcpuThreads

            self._threads = VcpuThreads()
        threads = self._threads.ids(topology.cpus)
        return [
            CpuInfoFast_x86_64(
                cpu_index=index,
                qom_path=self.cpu_path(index),
                thread_id=threads[index],
                props=_props(topology.ids(index)),
            )
            for index in range(topology.cpus)
        ]

    def hotpluggable_cpus(self) -> list[HotpluggableCPU]:
        """``query-hotpluggable-cpus``: every place up to ``maxcpus``, last first."""
        if not self._has_cpus:
            raise rt.QMPError("GenericError", "machine does not support hot-plugging CPUs")
        topology = self._config.topology
        return [
            HotpluggableCPU(
                type=self._config.cpu_type,
                vcpus_count=1,
                props=_props(topology.ids(index)),
                qom_path=self.cpu_path(index) if index < topology.cpus else None,
            )
            for index in reversed(range(topology.maxcpus))
        ]

    def _cpu_at(self, path: str) -> bool:
        return path in self._cpu_paths

    # -- QOM -----------------------------------------------------------------------

    def _simulated(self, path: str) -> tuple[DeviceConfig, int] | None:
        """The simulated device (pvpanic, pvpanic-pci, ib700) at ``path``, with its
        index among the simulated devices; None: no simulated device is there."""
        anonymous = 0
        index = 0
        for device in self._config.peripherals:
            if device.id is not None:
                here = f"{_PERIPHERAL}/{device.id}"
            else:
                here = f"{_ANONYMOUS}/device[{anonymous}]"
                anonymous += 1
            if device.driver in _DEVICE_PROPERTIES:
                if here == path:
                    return self._config.devices[index], index
                index += 1
        return None

    def _device_value(self, path: str, device: DeviceConfig, index: int, name: str) -> object:
        """A simulated device's property, as QEMU 10.0.2 answers ``qom-get``."""
        config = self._config
        q35 = "q35" in config.machine_type
        values: dict[str, object] = {
            "type": device.driver,
            "realized": True,
            "hotplugged": False,
            # q35's PCI Express root bus takes no hot-plugged device.
            "hotpluggable": device.driver == "pvpanic-pci" and not q35,
        }
        if device.driver == "pvpanic-pci":
            from .pci_placement import place_pci_functions

            where = place_pci_functions(config).get(index, 0)
            assert isinstance(device, PvpanicConfig)
            values.update(_PCI_DEFAULTS)
            values.update(
                parent_bus="/machine/q35/pcie.0" if q35 else "/machine/i440fx/pci.0",
                events=device.events,
                addr=where,
                multifunction=device.multifunction,
                **{"legacy-addr": f"{where >> 3:02x}.{where & 7}"},
            )
            values["bus master[0]"] = f"{path}/bus master[0]"
            values["bus master container[0]"] = f"{path}/bus master container[0]"
        else:
            bridge = config.topology.cpus + (1 if q35 else 2)
            values["parent_bus"] = f"{_UNATTACHED}[{bridge}]/isa.0"
            if isinstance(device, PvpanicConfig):
                values.update(ioport=device.ioport, events=device.events)
        region = "ib700[0]" if device.driver == "ib700" else "pvpanic[0]"
        values[region] = f"{path}/{region}"
        if name not in values:
            raise rt.QMPError("GenericError", f"Property '{device.driver}.{name}' not found")
        return values[name]

    def _machine_class(self) -> str:
        """The machine's QOM type (``pc-i440fx-10.0-machine`` for ``pc``)."""
        name = self._config.machine_type
        facts = self._config.cpu_facts
        full = facts.machine_type(name) if facts is not None and name != "none" else None
        return f"{full or name}-machine"

    def _machine_children(self) -> list[tuple[str, str]]:
        """/machine's children that the simulated machine has, in QEMU 10.0.2's order."""
        container = "child<container>"
        kind = self._config.machine_type
        if kind == "none":
            return [
                ("peripheral-anon", container),
                ("peripheral", container),
                ("unattached", container),
            ]
        if "q35" in kind:
            return [
                ("peripheral-anon", container),
                ("q35", "child<q35-pcihost>"),
                ("peripheral", container),
                ("unattached", container),
            ]
        return [
            ("unattached", container),
            ("peripheral-anon", container),
            ("peripheral", container),
            ("i440fx", "child<i440FX-pcihost>"),
        ]

    def qom_list(self, path: str) -> list[ObjectPropertyInfo]:
        """``qom-list`` of /machine (its type and the children simulated), a
        container of devices, a simulated device or a vCPU."""
        if path == _MACHINE:
            return [
                ObjectPropertyInfo(name="type", type="string"),
                *(ObjectPropertyInfo(name=n, type=t) for n, t in self._machine_children()),
            ]
        if path == _UNATTACHED_CONTAINER:
            raise rt.QMPError(
                "GenericError",
                "qom-list of /machine/unattached is not simulated "
                "(qom-get of its vCPUs' properties is)",
            )
        if path in (_PERIPHERAL, _ANONYMOUS):
            children = self._children(path)
            order = ghash_order(list(children))
            return [
                ObjectPropertyInfo(name="type", type="string"),
                *(
                    ObjectPropertyInfo(name=name, type=f"child<{children[name]}>")
                    for name in reversed(order)
                ),
            ]
        simulated = self._simulated(path)
        if simulated is not None:
            own = _DEVICE_PROPERTIES[simulated[0].driver]
            return [ObjectPropertyInfo(name=name, type=kind) for name, kind in own]
        if self._cpu_at(path):
            facts = self._config.cpu_facts
            listed = facts.properties(self._config.cpu_type) if facts is not None else None
            if listed is None:
                return [ObjectPropertyInfo(name="type", type="string")]
            return [ObjectPropertyInfo(name=name, type=kind) for name, kind in listed]
        raise rt.QMPError("DeviceNotFound", f"Device '{path}' not found")

    def qom_get(self, path: str, name: str) -> rt.JSONValue:
        """``qom-get`` of /machine's type, a container's, a device's or a vCPU's property."""
        if path in self._cpu_paths:  # first: libvirt asks for all of the CPU's at every start
            cpu_type = self._config.cpu_type
            if name == "type":
                return cpu_type
            facts = self._config.cpu_facts
            found, value = facts.value(cpu_type, name) if facts is not None else (False, None)
            if found:
                return value  # type: ignore[return-value]
            raise rt.QMPError("GenericError", f"Property '{cpu_type}.{name}' not found")
        if path == _MACHINE:
            cls = self._machine_class()
            if name == "type":
                return cls
            # The machine's own properties are not simulated.
            raise rt.QMPError("GenericError", f"Property '{cls}.{name}' not found")
        if path == _UNATTACHED_CONTAINER:
            if name == "type":
                return "container"
            raise rt.QMPError("GenericError", f"Property 'container.{name}' not found")
        if path in (_PERIPHERAL, _ANONYMOUS):
            if name == "type":
                return "container"
            raise rt.QMPError("GenericError", f"Property 'container.{name}' not found")
        simulated = self._simulated(path)
        if simulated is not None:
            return self._device_value(path, *simulated, name)  # type: ignore[return-value]
        for container in (_PERIPHERAL, _ANONYMOUS):
            prefix = container + "/"
            if path.startswith(prefix):
                driver = self._children(container).get(path[len(prefix) :])
                if driver is None:
                    break
                if name == "type":
                    return driver
                raise rt.QMPError("GenericError", f"Property '{driver}.{name}' not found")
        raise rt.QMPError("DeviceNotFound", f"Device '{path}' not found")

    def _children(self, container: str) -> dict[str, str]:
        if container == _PERIPHERAL:
            return dict(self._named)
        return {f"device[{n}]": driver for n, driver in enumerate(self._anonymous)}

    # -- block devices ---------------------------------------------------------------

    def _board_device(self, drive: DriveConfig) -> str:
        """The QOM path of the device the board makes for an IDE or floppy drive:
        /machine/unattached's, numbered in the order the board makes its devices
        (observed on QEMU 10.0.2's pc-i440fx-10.0 and q35: the IDE drives in index
        order, the floppies; other devices in between, as the options make them)."""
        config = self._config
        ide = sorted((d.bus, d.unit) for d in config.drives if d.interface == "ide" and d.bus < 6)
        floppies = sorted(d.unit for d in config.drives if d.interface == "floppy")
        ports = sum(config.serial_ports) + config.parallel_ports
        start = config.topology.cpus
        if "q35" in config.machine_type:
            if drive.interface == "floppy":
                return f"{_UNATTACHED}[{start + 8 + ports + floppies.index(drive.unit)}]"
            offset = 12 + ports + (2 if floppies else 0)
            return f"{_UNATTACHED}[{start + offset + ide.index((drive.bus, drive.unit))}]"
        if drive.interface == "floppy":
            offset = 9 + config.default_vga + ports + len(ide) + floppies.index(drive.unit)
            return f"{_UNATTACHED}[{start + offset}]"
        return f"{_UNATTACHED}[{start + 3 + ide.index((drive.bus, drive.unit))}]"

    def _attached(self) -> list[tuple[str, str, str]]:
        """The devices' ``drive=``, in order: the drive or node each names, the
        device's path (its block backend's, for virtio) and driver."""
        found: list[tuple[str, str, str]] = []
        anonymous = 0
        for device in self._config.peripherals:
            qdev = device.id
            if qdev is None:
                qdev = f"{_ANONYMOUS}/device[{anonymous}]"
                anonymous += 1
            if device.drive is not None:
                if device.driver.startswith("virtio-blk"):
                    qdev += "/virtio-backend"
                found.append((device.drive, qdev, device.driver))
        return found

    def block(self) -> list[BlockInfo]:
        """``query-block``: the drives, then the nodes devices use directly."""
        config = self._config
        attached = self._attached()
        found: list[BlockInfo] = []
        for drive in config.drives:
            if drive.interface in ("ide", "floppy"):
                qdev: str | None = self._board_device(drive)
                driver = (
                    ("ide-cd" if drive.cdrom else "ide-hd")
                    if drive.interface == "ide"
                    else "floppy"
                )
            else:
                users = [(path, model) for name, path, model in attached if name == drive.name]
                qdev, driver = users[0] if users else (None, "")
            found.append(_block_info(drive.name, qdev, driver, drive.node))
        drives = {drive.name for drive in config.drives}
        nodes = {node.node_name: node for node in config.block_nodes}
        for name, qdev, driver in attached:
            node = nodes.get(name)
            if name not in drives and node is not None:
                found.append(_block_info("", qdev, driver, node))
        return found

    def named_block_nodes(self) -> list[BlockDeviceInfo]:
        """``query-named-block-nodes``: the nodes, the last made first (as QEMU lists them)."""
        nodes: list[BlockNodeConfig] = []
        named = {node.node_name for node in self._config.block_nodes}
        for node in self._config.block_nodes:
            if node.child is not None and node.child.node_name not in named:
                nodes.append(node.child)  # made before the format node over it
            nodes.append(node)
        return [_node_info(node) for node in reversed(nodes)]


# Devices whose media can be changed, and those with a tray.
_REMOVABLE = ("ide-cd", "scsi-cd", "floppy")
_TRAYS = ("ide-cd", "scsi-cd")


def _block_info(
    name: str, qdev: str | None, driver: str, node: BlockNodeConfig | None
) -> BlockInfo:
    """A block backend as ``query-block`` shows it: with no device, its media
    count as removable."""
    return BlockInfo(
        device=name,
        qdev=qdev,
        type="unknown",
        removable=qdev is None or driver in _REMOVABLE,
        locked=False,
        tray_open=False if driver in _TRAYS else None,
        io_status=BlockDeviceIoStatus.OK if qdev is not None and driver != "floppy" else None,
        inserted=_node_info(node) if node is not None else None,
    )


_QCOW2_MAGIC = b"QFI\xfb"


def _qcow2_header(path: str) -> bytes:
    try:
        with open(path, "rb") as image:
            return image.read(112)
    except OSError:
        return b""


def _image(node: BlockNodeConfig) -> ImageInfo:
    """The image of a node: its sizes and what its format says, read now."""
    try:
        st = os.stat(node.filename)
        file_size, actual_size = st.st_size, st.st_blocks * 512
    except OSError:
        file_size, actual_size = 0, 0
    if node.driver != "qcow2":
        return ImageInfo(
            filename=node.filename,
            format=node.driver,
            dirty_flag=False,
            actual_size=actual_size,
            virtual_size=file_size,
            format_specific=(
                ImageInfoSpecific_file(data=ImageInfoSpecificFile())
                if node.child is None and node.driver != "raw"
                else None
            ),
        )
    header = _qcow2_header(node.filename).ljust(112, b"\0")
    version = int.from_bytes(header[4:8], "big")
    cluster_bits = int.from_bytes(header[20:24], "big")
    incompatible = int.from_bytes(header[72:80], "big") if version >= 3 else 0
    compatible = int.from_bytes(header[80:88], "big") if version >= 3 else 0
    refcount_order = int.from_bytes(header[96:100], "big") if version >= 3 else 4
    compression = (
        header[104] if version >= 3 and int.from_bytes(header[100:104], "big") > 104 else 0
    )
    v3 = version >= 3
    return ImageInfo(
        filename=node.filename,
        format="qcow2",
        dirty_flag=bool(incompatible & 1),
        actual_size=actual_size,
        virtual_size=int.from_bytes(header[24:32], "big"),
        cluster_size=1 << cluster_bits,
        format_specific=ImageInfoSpecific_qcow2(
            data=ImageInfoSpecificQCow2(
                compat="1.1" if v3 else "0.10",
                lazy_refcounts=bool(compatible & 1) if v3 else None,
                corrupt=bool(incompatible & 2) if v3 else None,
                extended_l2=bool(incompatible & 16) if v3 else None,
                refcount_bits=1 << refcount_order,
                compression_type=(
                    Qcow2CompressionType.ZSTD if compression else Qcow2CompressionType.ZLIB
                ),
            )
        ),
    )


def _node_info(node: BlockNodeConfig) -> BlockDeviceInfo:
    """A node as QEMU reports it: its image read now."""
    return BlockDeviceInfo(
        file=node.filename,
        node_name=node.node_name,
        ro=node.read_only,
        drv=node.driver,
        backing_file_depth=0,
        active=True,
        encrypted=False,
        detect_zeroes=BlockdevDetectZeroesOptions.OFF,
        bps=0,
        bps_rd=0,
        bps_wr=0,
        iops=0,
        iops_rd=0,
        iops_wr=0,
        image=_image(node),
        cache=BlockdevCacheInfo(writeback=True, direct=False, no_flush=False),
        write_threshold=0,
    )
