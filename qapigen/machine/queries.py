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
    ImageInfoSpecificFile,
    ObjectPropertyInfo,
)

from .config import BlockNodeConfig, MachineConfig

__all__ = ["MachineObjects"]

_PERIPHERAL = "/machine/peripheral"
_ANONYMOUS = "/machine/peripheral-anon"
_UNATTACHED = "/machine/unattached/device"
# The pc machine's default drives, and how far past the vCPUs their devices
# come among /machine/unattached's (QEMU 10.0.2's pc-i440fx-10.0 and q35).
_I440FX_DEFAULT_DRIVES = (("ide1-cd0", 3, True), ("floppy0", 13, False))
_Q35_DEFAULT_DRIVES = (("ide2-cd0", 14, True),)


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

    __slots__ = ("_anonymous", "_config", "_cpu_paths", "_named", "_thread_id")

    def __init__(self, config: MachineConfig, thread_id: int | None = None) -> None:
        self._config = config
        #: The host thread that runs the vCPUs (the simulator's only one).
        self._thread_id = os.getpid() if thread_id is None else thread_id
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
        return [
            CpuInfoFast_x86_64(
                cpu_index=index,
                qom_path=self.cpu_path(index),
                thread_id=self._thread_id,
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

    def qom_list(self, path: str) -> list[ObjectPropertyInfo]:
        """``qom-list`` of a container of devices or of a vCPU."""
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
        if self._cpu_at(path):
            facts = self._config.cpu_facts
            listed = facts.properties(self._config.cpu_type) if facts is not None else None
            if listed is None:
                return [ObjectPropertyInfo(name="type", type="string")]
            return [ObjectPropertyInfo(name=name, type=kind) for name, kind in listed]
        raise rt.QMPError("DeviceNotFound", f"Device '{path}' not found")

    def qom_get(self, path: str, name: str) -> rt.JSONValue:
        """``qom-get`` of a container's, a device's or a vCPU's property."""
        if path in self._cpu_paths:  # first: libvirt asks for all of the CPU's at every start
            cpu_type = self._config.cpu_type
            if name == "type":
                return cpu_type
            facts = self._config.cpu_facts
            found, value = facts.value(cpu_type, name) if facts is not None else (False, None)
            if found:
                return value  # type: ignore[return-value]
            raise rt.QMPError("GenericError", f"Property '{cpu_type}.{name}' not found")
        if path in (_PERIPHERAL, _ANONYMOUS):
            if name == "type":
                return "container"
            raise rt.QMPError("GenericError", f"Property 'container.{name}' not found")
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

    def block(self) -> list[BlockInfo]:
        """``query-block``: the default drives, then the devices' nodes."""
        config = self._config
        found: list[BlockInfo] = []
        if config.default_drives:
            defaults = (
                _Q35_DEFAULT_DRIVES if "q35" in config.machine_type else _I440FX_DEFAULT_DRIVES
            )
            for name, offset, cdrom in defaults:
                found.append(
                    BlockInfo(
                        device=name,
                        qdev=f"{_UNATTACHED}[{config.topology.cpus + offset}]",
                        type="unknown",
                        removable=True,
                        locked=False,
                        tray_open=False if cdrom else None,
                        io_status=BlockDeviceIoStatus.OK if cdrom else None,
                    )
                )
        nodes = {node.node_name: node for node in config.block_nodes}
        anonymous = 0
        for device in config.peripherals:
            qdev = device.id
            if qdev is None:
                qdev = f"{_ANONYMOUS}/device[{anonymous}]"
                anonymous += 1
            node = nodes.get(device.drive) if device.drive is not None else None
            if node is None:
                continue
            found.append(
                BlockInfo(
                    device="",
                    qdev=qdev,
                    type="unknown",
                    removable=False,
                    locked=False,
                    inserted=_node_info(node),
                    io_status=BlockDeviceIoStatus.OK,
                )
            )
        return found

    def named_block_nodes(self) -> list[BlockDeviceInfo]:
        """``query-named-block-nodes``: the nodes, the last made first (as QEMU lists them)."""
        return [_node_info(node) for node in reversed(self._config.block_nodes)]


def _node_info(node: BlockNodeConfig) -> BlockDeviceInfo:
    """A file node as QEMU reports it: its image's sizes read now."""
    try:
        st = os.stat(node.filename)
        virtual_size, actual_size = st.st_size, st.st_blocks * 512
    except OSError:
        virtual_size, actual_size = 0, 0
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
        image=ImageInfo(
            filename=node.filename,
            format=node.driver,
            dirty_flag=False,
            actual_size=actual_size,
            virtual_size=virtual_size,
            format_specific=ImageInfoSpecific_file(data=ImageInfoSpecificFile()),
        ),
        cache=BlockdevCacheInfo(writeback=True, direct=False, no_flush=False),
        write_threshold=0,
    )
