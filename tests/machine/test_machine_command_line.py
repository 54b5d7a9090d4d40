"""What the machine makes of libvirt's command line, without a program around it:
the catalogue decides what exists, the queries read the configuration back.

(Side by side with real QEMU: tests/vm/test_vm_command_line.py and
tests/vm/test_vm_queries.py.)"""

from __future__ import annotations

import pytest

from qapigen import runtime as rt
from qapigen.machine import CommandLine, ConfigError, Machine, UnknownDeviceError
from qapigen.machine.config import BlockNodeConfig, KvmError
from qapigen.simulator_api import CpuInfoFast_x86_64


class Catalogue:
    """An emulator with two device models, the pc machine and one CPU model."""

    def has_device(self, driver: str) -> bool:
        return driver in ("ide-hd", "virtio-net-pci")

    def device_properties(self, driver: str) -> frozenset[str] | None:
        return frozenset({"drive", "unit"}) if driver == "ide-hd" else None

    def device_property_types(self, driver: str) -> dict[str, str] | None:
        return {"drive": "str", "unit": "uint32"} if driver == "ide-hd" else None

    def machine_type(self, name: str) -> str | None:
        return "pc-i440fx-10.0" if name in ("pc", "pc-i440fx-10.0") else None

    def machine_properties(self, machine_type: str) -> frozenset[str] | None:
        return frozenset({"usb", "memory-backend", "acpi"})

    def max_cpus(self, machine_type: str) -> int:
        return 8

    def cpu_type(self, model: str) -> str | None:
        return "qemu64-x86_64-cpu" if model == "qemu64" else None


class Facts:
    """A recording of one CPU type's properties."""

    def properties(self, cpu_type: str) -> list[tuple[str, str]] | None:
        return [("type", "string"), ("pse36", "bool")] if cpu_type == "qemu64-x86_64-cpu" else None

    def value(self, cpu_type: str, name: str) -> tuple[bool, object]:
        return (True, False) if name == "pse36" else (False, None)

    def machine_type(self, name: str) -> str | None:
        return {"pc": "pc-i440fx-10.0", "q35": "pc-q35-10.0"}.get(name)


def _machine(*setup: tuple[str, str]) -> Machine:
    cl = CommandLine()
    for method, text in setup:
        getattr(cl, method)(text)
    return Machine(cl.build(Catalogue(), Facts()))


def test_a_device_model_only_the_catalogue_knows_is_listed_not_simulated() -> None:
    cl = CommandLine()
    cl.device("ide-hd,id=disk")
    with pytest.raises(UnknownDeviceError, match="'ide-hd' is not a valid device model name"):
        cl.build()
    config = cl.build(Catalogue())
    assert [(p.driver, p.id) for p in config.peripherals] == [("ide-hd", "disk")]
    assert config.devices == ()


def test_smp_gives_the_vcpus_and_their_places() -> None:
    machine = _machine(("smp", "2,sockets=2,maxcpus=4"))
    cpus = machine.query_cpus_fast()
    assert [c.qom_path for c in cpus] == [
        "/machine/unattached/device[0]",
        "/machine/unattached/device[2]",
    ]
    assert all(isinstance(c, CpuInfoFast_x86_64) for c in cpus)
    assert [(c.props.socket_id, c.props.core_id) for c in cpus if c.props] == [(0, 0), (0, 1)]
    places = machine.query_hotpluggable_cpus()
    assert [(p.props.socket_id, p.props.core_id, p.qom_path) for p in places] == [
        (1, 1, None),
        (1, 0, None),
        (0, 1, "/machine/unattached/device[2]"),
        (0, 0, "/machine/unattached/device[0]"),
    ]


@pytest.mark.parametrize(
    ("smp", "message"),
    [
        ("x", "Parameter 'smp.cpus' expects integer"),
        ("0", "Invalid CPU topology: CPU topology parameters must be greater than zero"),
        (
            "16",
            "Invalid SMP CPUs 16. The max CPUs supported by machine 'pc-i440fx-10.0' is 8",
        ),
    ],
)
def test_smp_refused_as_qemu_refuses_it(smp: str, message: str) -> None:
    cl = CommandLine()
    cl.machine("pc")
    cl.smp(smp)
    with pytest.raises(ConfigError) as caught:
        cl.build(Catalogue())
    assert str(caught.value) == message


def test_the_cpus_properties_come_from_the_recording() -> None:
    machine = _machine(("cpu", "qemu64"))
    path = "/machine/unattached/device[0]"
    assert [(p.name, p.type) for p in machine.qom_list(path=path)] == [
        ("type", "string"),
        ("pse36", "bool"),
    ]
    assert machine.qom_get(path=path, property="pse36") is False
    assert machine.qom_get(path=path, property="type") == "qemu64-x86_64-cpu"
    with pytest.raises(rt.QMPError, match=r"Property 'qemu64-x86_64-cpu\.nosuch' not found"):
        machine.qom_get(path=path, property="nosuch")


def test_an_unknown_cpu_model_or_machine_type_is_refused() -> None:
    cl = CommandLine()
    cl.cpu("pentium9")
    with pytest.raises(ConfigError, match="unable to find CPU model 'pentium9'"):
        cl.build(Catalogue())
    cl = CommandLine()
    cl.machine("pc,bogus=on")
    with pytest.raises(ConfigError, match=r"Property 'pc-i440fx-10\.0-machine\.bogus' not found"):
        cl.build(Catalogue())


def test_memory_backend_gives_ram_its_size() -> None:
    cl = CommandLine()
    cl.machine("pc,memory-backend=pc.ram")
    cl.object("-object ...", "memory-backend-ram", "pc.ram", {"size": 64 << 20})
    assert cl.build(Catalogue()).ram_size == 64 << 20
    cl.memory("128M")
    with pytest.raises(ConfigError, match="does not match the size of the memory backend"):
        cl.build(Catalogue())


def test_json_device_properties_are_typed() -> None:
    cl = CommandLine()
    cl.device_json("-device {...}", {"driver": "pvpanic", "ioport": "1285"})
    with pytest.raises(ConfigError, match="Parameter 'ioport' expects uint64"):
        cl.build()
    cl = CommandLine()
    cl.device_json("-device {...}", {"driver": "pvpanic", "ioport": 1285})
    assert cl.build().devices[0].ioport == 1285  # type: ignore[union-attr]


def test_a_disk_on_a_block_node_shows_in_query_block() -> None:
    cl = CommandLine()
    cl.nodefaults()
    cl.blockdev("-blockdev ...", BlockNodeConfig("n", "file", "/nonexistent.img"))
    cl.device("ide-hd,drive=n,id=disk")
    cl.device("ide-hd,drive=n")
    machine = Machine(cl.build(Catalogue()))
    assert [(b.device, b.qdev) for b in machine.query_block()] == [
        ("", "disk"),
        ("", "/machine/peripheral-anon/device[0]"),
    ]
    assert [n.node_name for n in machine.query_named_block_nodes(flat=True)] == ["n"]
    cl = CommandLine()
    cl.device("ide-hd,drive=nosuch")
    with pytest.raises(ConfigError, match=r"Property 'ide-hd\.drive' can't find value 'nosuch'"):
        cl.build(Catalogue())


def test_the_none_machine_has_no_vcpus() -> None:
    cl = CommandLine()
    cl.machine("none")
    machine = Machine(cl.build(Catalogue()))
    assert machine.query_cpus_fast() == []
    with pytest.raises(rt.QMPError, match="machine does not support hot-plugging CPUs"):
        machine.query_hotpluggable_cpus()
    assert machine.query_block() == []


def test_machine_type_named_as_its_qom_type() -> None:
    """qom-get /machine type: the machine type's full name (the catalogue's), then
    ``-machine``; without a catalogue, the name as given."""
    machine = _machine(("machine", "q35"))
    assert machine.qom_get(path="/machine", property="type") == "pc-q35-10.0-machine"
    cl = CommandLine()
    cl.machine("none")
    assert Machine(cl.build()).qom_get(path="/machine", property="type") == "none-machine"


def test_a_qtest_run_hears_nothing_of_an_absent_kvm() -> None:
    """With -qtest, QEMU reports neither KVM's missing device as a failure to
    initialise nor the fallback (vl.c's qtest_with_kvm), but still says it
    could not access the module; without -qtest it says all three."""
    reason = "No such file or directory"
    absent = KvmError(f"Could not access KVM kernel module: {reason}", reason)
    for qtest, said in (
        (True, ["Could not access KVM kernel module: No such file or directory"]),
        (
            False,
            [
                "Could not access KVM kernel module: No such file or directory",
                "failed to initialize kvm: No such file or directory",
                "falling back to tcg",
            ],
        ),
    ):
        cl = CommandLine()
        cl.machine("accel=kvm:tcg")
        assert cl.build(kvm_error=absent, qtest=qtest).accelerator == "tcg"
        assert cl.warnings == said


def test_kvm_alone_and_absent_ends_with_its_failure() -> None:
    cl = CommandLine()
    cl.accel("kvm")
    with pytest.raises(ConfigError) as caught:
        cl.build(kvm_error=KvmError("kvm version too old", "Inappropriate ioctl for device"))
    assert caught.value.message == (
        "-accel kvm: failed to initialize kvm: Inappropriate ioctl for device"
    )
    assert cl.warnings == ["-accel kvm: kvm version too old"]
