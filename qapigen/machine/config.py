"""The machine's configuration, and how QEMU's command-line options build it.

:class:`MachineConfig` is what a :class:`~qapigen.machine.machine.Machine` is
made from.  :class:`CommandLine` fills one option at a time, the way QEMU reads
its command line, and reports what QEMU refuses with QEMU's message and the
option QEMU blames (:class:`~qapigen.machine.errors.ConfigError`).  It knows
only the options the simulator models (``-S``, ``-action``, ``-no-shutdown``,
``-no-reboot``, ``-watchdog-action``, ``-device pvpanic``/``pvpanic-pci``/``ib700``,
``-nodefaults``, ``-vga``, ``-nographic``, ``-nic none``/``-net none``, ``-m``,
``-accel`` and ``-machine accel=``), and what shows in the machine's queries
(``-machine``'s type and properties, ``-cpu``, ``-smp``, ``-object``,
``-blockdev``, the other ``-device`` drivers); splitting ``argv`` and reading
JSON is the program's job.  What the emulator being impersonated has (device
models, machine types, CPU models) comes from a :class:`Catalogue`, which the
program makes from its profile.
"""

from __future__ import annotations

from ..runtime.key_order import qdict_order
from ..runtime.records import NamedTuple, Record
from .action_options import ActionOptions
from .errors import ConfigError
from .options import id_wellformed, parse_bool, parse_opts, parse_pci_addr, parse_size, parse_uint64
from .pvpanic_properties import DEFAULT_IOPORT, PVPANIC_EVENTS
from .topology import CpuTopology, SmpOptions

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Literal, Protocol, TypeAlias

    from .actions import Actions
    from .pvpanic import PvpanicDevice

    PvpanicDriver: TypeAlias = Literal["pvpanic", "pvpanic-pci"]
    DeviceConfig: TypeAlias = "PvpanicConfig | WatchdogConfig"
    #: A property value as the command line gives it: text (``key=value``) or
    #: a JSON scalar (``-device '{...}'``).
    OptionValue: TypeAlias = "str | int | float | bool | list[object] | dict[str, object] | None"

    class Catalogue(Protocol):
        """What the impersonated emulator has, as its profile says."""

        def has_device(self, driver: str) -> bool:
            """Whether ``-device driver`` names a device model it has."""

        def device_properties(self, driver: str) -> frozenset[str] | None:
            """The properties of device model ``driver`` (None: not known)."""

        def device_property_types(self, driver: str) -> dict[str, str] | None:
            """Those properties' QOM types (``uint32``, ``OnOffAuto`` ...)."""

        def machine_type(self, name: str) -> str | None:
            """The machine type ``name`` (or its alias) names, or None."""

        def machine_properties(self, machine_type: str) -> frozenset[str] | None:
            """The properties ``-machine machine_type,...`` takes (None: not known)."""

        def max_cpus(self, machine_type: str) -> int:
            """How many vCPUs the machine type takes at most."""

        def cpu_type(self, model: str) -> str | None:
            """The QOM type of CPU model ``model`` (``qemu64-x86_64-cpu``), or None."""

    class CpuFacts(Protocol):
        """What the CPU's QOM properties are and hold (from a recording)."""

        def properties(self, cpu_type: str) -> list[tuple[str, str]] | None:
            """The CPU's properties (name, type), in ``qom-list``'s order."""

        def value(self, cpu_type: str, name: str) -> tuple[bool, object]:
            """Whether property ``name`` has a recorded value, and that value."""

        def machine_type(self, name: str) -> str | None:
            """The machine type ``name`` (or its alias) names, or None (the
            machine's QOM type is this name's ``-machine``)."""


# Not dataclasses: see qapigen.records.


class PvpanicConfig(NamedTuple):
    """A pvpanic device to plug in: ``-device pvpanic`` or ``-device pvpanic-pci``."""

    driver: PvpanicDriver = "pvpanic"
    #: The device's ``id=``, by which the guest-side commands name it.
    id: str | None = None
    #: The ISA device's I/O port (the PCI device has none).
    ioport: int = DEFAULT_IOPORT
    #: The events the device offers, i.e. what a read of its register returns.
    events: int = PVPANIC_EVENTS
    #: The PCI device's ``addr=`` as a devfn (slot << 3 | function); None: the
    #: first free slot.
    addr: int | None = None
    #: The PCI device's ``multifunction=on``.
    multifunction: bool = False

    def create(self) -> PvpanicDevice:
        """A new device as configured."""
        from .pvpanic import PvpanicISA, PvpanicPCI

        if self.driver == "pvpanic":
            return PvpanicISA(id=self.id, ioport=self.ioport, events=self.events)
        return PvpanicPCI(id=self.id, events=self.events, multifunction=self.multifunction)


class WatchdogConfig(NamedTuple):
    """``-device ib700``: the iBASE 700 watchdog."""

    driver: Literal["ib700"] = "ib700"
    id: str | None = None


class PeripheralConfig(NamedTuple):
    """A ``-device`` whose model the emulator has but the simulator does not
    simulate (``ide-hd``, ...): it is in the object tree, and the block node of
    its ``drive`` is attached to it; it does nothing."""

    driver: str
    id: str | None = None
    #: The node name of the block node it uses (``drive=``), if any.
    drive: str | None = None


class BlockNodeConfig(NamedTuple):
    """A ``-blockdev`` (or ``-drive``'s) block node: an image file, read by a
    protocol driver (``file``) or a format driver (``raw``, ``qcow2``) over
    its ``child``, the protocol node."""

    node_name: str
    driver: str
    filename: str
    read_only: bool = False
    #: ``-drive``'s id: the block backend's name (``-blockdev``'s have none).
    backend: str | None = None
    #: A format node's protocol node (``-drive`` makes both).
    child: BlockNodeConfig | None = None


class DriveConfig(NamedTuple):
    """A ``-drive`` (or a positional image, or the board's default drives): a
    block backend named ``name``, on interface ``interface`` at ``bus`` and
    ``unit``, with its image's node (None: an empty drive)."""

    name: str
    interface: str
    bus: int
    unit: int
    cdrom: bool = False
    node: BlockNodeConfig | None = None
    #: The option that made it (None: a default drive).
    location: str | None = None
    #: Whether ``index``, ``bus`` or ``unit`` placed it (else the first free place).
    placed: bool = False


#: The CPU model of the pc machines when ``-cpu`` is not given.
DEFAULT_CPU_TYPE = "qemu64-x86_64-cpu"


#: The size of RAM without ``-m`` (QEMU's default for the pc machine).
DEFAULT_RAM_SIZE = 128 << 20


class MachineConfig(Record):
    """Everything the simulated machine is made from."""

    __slots__ = (
        "_actions",
        "accelerator",
        "block_nodes",
        "cpu_facts",
        "cpu_type",
        "default_nic",
        "default_vga",
        "devices",
        "drives",
        "machine_type",
        "parallel_ports",
        "peripherals",
        "ram_size",
        "serial_ports",
        "start_paused",
        "topology",
    )
    _FIELDS = (
        "start_paused",
        "actions",
        "devices",
        "default_vga",
        "default_nic",
        "serial_ports",
        "parallel_ports",
        "ram_size",
        "accelerator",
        "machine_type",
        "cpu_type",
        "topology",
        "peripherals",
        "block_nodes",
        "cpu_facts",
        "drives",
    )

    #: ``-S``: stay in ``prelaunch`` until ``cont``.
    start_paused: bool
    #: The devices of ``-device``, in command-line order.
    devices: tuple[DeviceConfig, ...]
    #: The default VGA adapter (off with ``-nodefaults``, ``-vga none``, ``-nographic``).
    default_vga: bool
    #: The default network adapter (off with ``-nodefaults``, ``-nic none``, ``-net none``).
    default_nic: bool
    #: Which serial ports the board has, by index (COM1, COM2 ...), and how
    #: many parallel ports (``-serial``, ``-parallel``; one each by default).
    #: They are not simulated; the chipset's registers say which are there.
    serial_ports: tuple[bool, ...]
    parallel_ports: int
    #: Bytes of RAM (``-m``).
    ram_size: int
    #: The accelerator in use: the first of those asked for (``-accel``,
    #: ``-machine accel=``, ``-enable-kvm``) that started here.
    accelerator: str
    #: The machine type, as the command line names it (``pc``, ``none`` ...).
    machine_type: str
    #: The vCPUs' QOM type (``-cpu``), and how many there are (``-smp``).
    cpu_type: str
    topology: CpuTopology
    #: Every ``-device``, in order, as the object tree lists them (the
    #: simulated ones are in :attr:`devices` too).
    peripherals: tuple[PeripheralConfig, ...]
    #: The block nodes of ``-blockdev`` and ``-drive``, in order.
    block_nodes: tuple[BlockNodeConfig, ...]
    #: What the CPU's QOM properties hold (None: none are known).
    cpu_facts: CpuFacts | None
    #: The block backends of ``-drive`` (and positional images), then the
    #: board's default drives (an empty CD-ROM and floppy, unless ``-nodefaults``
    #: or a drive in their place), in the order QEMU makes them.
    drives: tuple[DriveConfig, ...]

    def __init__(
        self,
        *,
        start_paused: bool = False,
        actions: Actions | ActionOptions | None = None,
        devices: tuple[DeviceConfig, ...] = (),
        default_vga: bool = True,
        default_nic: bool = True,
        serial_ports: tuple[bool, ...] = (True,),
        parallel_ports: int = 1,
        ram_size: int = DEFAULT_RAM_SIZE,
        accelerator: str = "tcg",
        machine_type: str = "pc",
        cpu_type: str = DEFAULT_CPU_TYPE,
        topology: CpuTopology | None = None,
        peripherals: tuple[PeripheralConfig, ...] = (),
        block_nodes: tuple[BlockNodeConfig, ...] = (),
        cpu_facts: CpuFacts | None = None,
        drives: tuple[DriveConfig, ...] = (),
    ) -> None:
        self.start_paused = start_paused
        self._actions = ActionOptions() if actions is None else actions
        self.devices = devices
        self.default_vga = default_vga
        self.default_nic = default_nic
        self.serial_ports = serial_ports
        self.parallel_ports = parallel_ports
        self.ram_size = ram_size
        self.accelerator = accelerator
        self.machine_type = machine_type
        self.cpu_type = cpu_type
        self.topology = CpuTopology() if topology is None else topology
        self.peripherals = peripherals
        self.block_nodes = block_nodes
        self.cpu_facts = cpu_facts
        self.drives = drives

    @property
    def actions(self) -> Actions:
        """The reaction settings the machine starts with.

        Given as the command line's options (already checked), they are made
        at first use: they are the generated bindings' enums, which ``qapigen
        vm`` need not import before its greeting.
        """
        actions = self._actions
        if isinstance(actions, ActionOptions):
            actions = self._actions = actions.resolve()
        return actions

    @property
    def manual_clock(self) -> bool:
        """``-accel qtest``: the virtual clock moves only when a test moves it."""
        return self.accelerator == "qtest"

    def validate(self) -> dict[int, int]:
        """Raise :class:`ConfigError` for a machine QEMU would refuse to create;
        else where each PCI device goes (device index -> devfn)."""
        from .pci_placement import place_pci_functions

        ids: set[str] = set()
        isa = 0
        for dev in self.devices:
            if dev.id is not None:
                if not id_wellformed(dev.id):
                    raise ConfigError("Parameter 'id' expects an identifier")
                if dev.id in ids:
                    raise ConfigError(f"Duplicate ID '{dev.id}' for device")
                ids.add(dev.id)
            if isinstance(dev, WatchdogConfig):
                continue
            if not 0 <= dev.events <= 0xFF:
                raise ConfigError("Parameter 'events' expects uint8_t")
            if dev.driver == "pvpanic":
                if not 0 <= dev.ioport <= 0xFFFF:
                    raise ConfigError("Parameter 'ioport' expects uint16_t")
                isa += 1
                if isa > 1:
                    raise ConfigError(_DUPLICATE_FW_CFG)
            elif dev.driver != "pvpanic-pci":
                raise ConfigError(f"'{dev.driver}' is not a valid device model name")
            elif dev.addr is not None and not 0 <= dev.addr <= 0xFF:
                raise ConfigError(f"Property 'pvpanic-pci.addr' doesn't take value '{dev.addr}'")
        return place_pci_functions(self)


# Each ISA pvpanic device tells the firmware its port through the same fw_cfg
# file, so QEMU cannot create a second one (it exits with this message).
_DUPLICATE_FW_CFG = "duplicate fw_cfg file name: etc/pvpanic-port"


class UnknownDeviceError(ConfigError):
    """``-device`` of a driver the simulator does not model.

    QEMU says the same of a driver it does not have; a program that wants to
    accept (and ignore) devices that make no difference to the simulation
    can catch this one.
    """


# The properties each driver has, with their type ("uint8_t", "uint16_t",
# "pci-devfn", "bool"), or None: accepted and ignored, as they change nothing
# the simulator shows.
_PROPERTIES: dict[str, dict[str, str | None]] = {
    "pvpanic": {"ioport": "uint16_t", "events": "uint8_t"},
    "pvpanic-pci": {
        "events": "uint8_t",
        "addr": "pci-devfn",
        "multifunction": "bool",
        "romfile": None,
        "rombar": None,
        "acpi-index": None,
        "failover_pair_id": None,
    },
    "ib700": {},
}
_LIMITS = {"uint8_t": 0xFF, "uint16_t": 0xFFFF}
# Disks that need to write to their node (a CD-ROM does not).
_WRITABLE_DISKS = ("ide-hd", "scsi-hd")
_UINT64_END = 1 << 64
# Those Debian's x86_64 binary has (``-accel help`` lists all but qtest).
_ACCELERATORS_BUILT = ("qtest", "tcg", "kvm")
# Machine types every x86_64 QEMU has, known without asking the catalogue.
_COMMON_MACHINES = ("none", "pc", "q35")
_VGA_TYPES = ("std", "none")


class CommandLine:
    """A :class:`MachineConfig` built from QEMU's options, one at a time.

    Call the methods in command-line order, then :meth:`build`.  Like QEMU,
    the syntax of each option and the keys of ``-action`` are checked at
    once; the action values and the devices only at :meth:`build`, in that
    order, each device as QEMU creates it (its properties, then its place).
    """

    __slots__ = (
        "_accel",
        "_accel_options",
        "_actions",
        "_auto_names",
        "_blockdevs",
        "_boot",
        "_cpu",
        "_defaults",
        "_device_ids",
        "_devices",
        "_drives",
        "_layout_for",
        "_machine_accel",
        "_machine_props",
        "_machine_type",
        "_memory_given",
        "_objects",
        "_openers",
        "_parallel",
        "_serial",
        "_smp",
        "_vga",
        "default_nic",
        "default_vga",
        "ram_size",
        "start_paused",
    )

    def __init__(self) -> None:
        self._actions = ActionOptions()
        #: -device: (location, id, properties, whether they came as JSON).
        self._devices: list[tuple[str, str | None, dict[str, OptionValue], bool]] = []
        #: -accel: (location, accelerator, its properties), in order.
        self._accel_options: list[tuple[str, str, list[tuple[str, str]]]] = []
        self._machine_type: str | None = None
        self._machine_props: dict[str, str] = {}
        self._cpu: str | None = None
        self._smp = SmpOptions()
        self._memory_given = False
        self._boot: list[str] = []
        #: -object: (location, qom-type, id, properties, given as key=value), in order.
        self._objects: list[tuple[str, str, str, dict[str, OptionValue], bool]] = []
        #: -blockdev and -drive: (location, node).
        self._blockdevs: list[tuple[str, BlockNodeConfig]] = []
        #: -drive: the drives placed so far; the machine type they are placed for.
        self._drives: list[DriveConfig] = []
        self._layout_for = "pc"
        self._openers: list[Callable[[], None]] = []
        self._auto_names = 0
        self._device_ids: set[str] = set()
        #: -machine accel='s accelerators, in order.
        self._accel: list[str] = []
        self._machine_accel = False
        self._vga: str | None = None
        self._defaults = True
        self._serial: list[str] | None = None
        self._parallel: list[str] | None = None
        #: Whether ``-S`` was given.
        self.start_paused = False
        #: Whether the default VGA adapter and network adapter are created.
        self.default_vga = True
        self.default_nic = True
        #: ``-m``, in bytes.
        self.ram_size = DEFAULT_RAM_SIZE

    @property
    def accelerators(self) -> tuple[str, ...]:
        """The accelerators asked for (``-accel``, ``-machine accel=``), in order."""
        return tuple(name for _, name, _ in self._accel_options) + tuple(self._accel)

    @property
    def warnings(self) -> list[str]:
        """QEMU's warnings so far, each to be printed after the program name."""
        return self._actions.warnings

    def option_S(self) -> None:  # QEMU's spelling of the option
        """``-S``: do not start the guest until ``cont``."""
        self.start_paused = True

    def action(self, text: str, *, spelling: str = "-action") -> None:
        """``-action panic=…,shutdown=…,reboot=…,watchdog=…``."""
        self._actions.action(text, spelling=spelling)

    def no_shutdown(self, *, spelling: str = "-no-shutdown") -> None:
        """``-no-shutdown``, i.e. ``-action shutdown=pause``."""
        self._actions.no_shutdown(spelling=spelling)

    def no_reboot(self, *, spelling: str = "-no-reboot") -> None:
        """``-no-reboot``, i.e. ``-action reboot=shutdown``."""
        self._actions.no_reboot(spelling=spelling)

    def watchdog_action(self, value: str, *, spelling: str = "-watchdog-action") -> None:
        """``-watchdog-action value``, i.e. ``-action watchdog=value``."""
        self._actions.watchdog_action(value, spelling=spelling)

    def device(self, text: str, *, spelling: str = "-device") -> None:
        """``-device driver[,prop=value...][,id=...]``."""
        location = f"{spelling} {text}"
        items = parse_opts(text, implied="driver")
        # QEMU takes the (first) id out first, and checks it before anything else.
        ident = next((item.value for item in items if item.name == "id"), None)
        if ident is not None:
            if not id_wellformed(ident):
                raise ConfigError("Parameter 'id' expects an identifier", location)
            if ident in self._device_ids:
                raise ConfigError(f"Duplicate ID '{ident}' for device", location)
            self._device_ids.add(ident)
        props: dict[str, OptionValue] = {}
        for item in items:
            if item.flag_warning is not None:
                self._actions.warnings.append(f"{location}: {item.flag_warning}")
            if item.name != "id":
                props[item.name] = item.value  # a repeated key: the last one counts
        self._devices.append((location, ident, props, False))

    def device_json(self, location: str, props: Mapping[str, OptionValue]) -> None:
        """``-device '{"driver": ..., ...}'``: the properties as JSON gave them."""
        props = dict(props)
        given = props.pop("id", None)
        # QEMU takes a string id as it is (checked only against the other
        # devices, once this one is made) and anything else as no id at all.
        ident = given if isinstance(given, str) else None
        if not isinstance(props.get("driver"), str):
            props.pop("driver", None)  # QEMU reads only a string as the driver
        self._devices.append((location, ident, props, True))

    def boot(self, devices: str) -> None:
        """``-boot order=..`` or ``once=..``: boot device letters (checked at :meth:`build`)."""
        self._boot.append(devices)

    def cpu(self, text: str) -> None:
        """``-cpu MODEL[,feature...]``: the vCPUs' model (checked at :meth:`build`)."""
        self._cpu = text.split(",", 1)[0]

    def smp(self, text: str) -> None:
        """``-smp [cpus=]N[,sockets=..][,cores=..][,threads=..][,maxcpus=..]``."""
        self._smp.add(text)

    def object(
        self,
        location: str,
        qom_type: str,
        ident: str,
        props: Mapping[str, OptionValue],
        *,
        keyval: bool = False,
    ) -> None:
        """``-object``: an object of a type the emulator has (the program checks
        the type and its members' syntax; what the simulator reads of them,
        a memory backend's size and a secret's source, is checked at :meth:`build`).
        ``keyval``: given as ``key=value``, whose ids QEMU checks at once."""
        if keyval and any(kv and other == ident for _, _, other, _, kv in self._objects):
            raise ConfigError(f"Duplicate ID '{ident}' for object", location)
        self._objects.append((location, qom_type, ident, dict(props), keyval))

    def blockdev(self, location: str, node: BlockNodeConfig) -> None:
        """``-blockdev``, or ``-drive``: a block node (its file is opened by the
        program, as QEMU opens it, before it comes here)."""
        for _other_location, other in self._blockdevs:
            if other.node_name == node.node_name:
                raise ConfigError(f"Duplicate nodes with node-name='{node.node_name}'", location)
        self._blockdevs.append((location, node))

    def drive(
        self,
        location: str,
        ident: str | None,
        interface: str | None,
        place: tuple[int | None, int | None, int | None],
        *,
        cdrom: bool = False,
        open_image: Callable[[], BlockNodeConfig | None] = lambda: None,
    ) -> None:
        """``-drive``: a block backend on ``interface`` (``ide``, ``floppy``,
        ``virtio``, ``none``; None: the machine type's default), at ``place``
        (its ``index``, ``bus``, ``unit``; None: not given), placed and named as
        QEMU does, then its image opened (``open_image``: its node, None for an
        empty drive).  Called by a backend opener (:meth:`open_later`), once
        the machine type is known."""
        if interface is None:  # the machine type's default interface
            interface = "none" if self._layout_for == "none" else "ide"
        units, _buses = _drive_layout(self._layout_for)[interface]
        index, bus, unit = place
        if index is not None:
            bus, unit = (index // units, index % units) if units else (0, index)
        elif unit is None:
            bus = bus or 0
            unit = 0
            while self._drive_at(interface, bus, unit):
                unit += 1
                if units and unit >= units:
                    unit -= units
                    bus += 1
        bus = bus or 0
        if units and unit >= units:
            raise ConfigError(f"unit {unit} too big (max is {units - 1})", location)
        if self._drive_at(interface, bus, unit):
            where = unit if not units else bus * units + unit
            raise ConfigError(f"drive with bus={bus}, unit={unit} (index={where}) exists", location)
        name = ident
        if name is None:
            kind = ("-cd" if cdrom else "-hd") if interface == "ide" else ""
            name = f"ide{bus}{kind}{unit}" if interface == "ide" else f"{interface}{unit}"
        node = open_image()
        if node is not None:
            self.blockdev(location, node)
        self._drives.append(
            DriveConfig(name, interface, bus, unit, cdrom, node, location, place != (None,) * 3)
        )

    def _drive_at(self, interface: str, bus: int, unit: int) -> bool:
        return any(
            d.interface == interface and (d.bus, d.unit) == (bus, unit) for d in self._drives
        )

    def block_node(self, name: str) -> BlockNodeConfig | None:
        """The block node named ``name`` so far (a ``-blockdev``'s, a drive's), or None."""
        for _location, node in self._blockdevs:
            for found in (node, node.child):
                if found is not None and found.node_name == name:
                    return found
        return None

    def auto_node_name(self) -> str:
        """A name for a node the command line does not name, as QEMU makes one:
        ``#block``, a counter, then two random digits."""
        import os

        name = f"#block{self._auto_names}{os.urandom(1)[0] % 100:02d}"
        self._auto_names += 1
        return name

    def open_later(self, opener: Callable[[], None]) -> None:
        """Have ``opener`` called where QEMU opens its drives' images: once the
        machine type is known, before anything else is made (``-drive``)."""
        self._openers.append(opener)

    def nodefaults(self) -> None:
        """``-nodefaults``: no default VGA, network adapter, serial nor parallel port."""
        self._defaults = self.default_vga = self.default_nic = False

    def serial(self, value: str) -> None:
        """``-serial BACKEND``: a serial port (``none``: no default one)."""
        self._serial = [*(self._serial or ()), value]

    def parallel(self, value: str) -> None:
        """``-parallel BACKEND``: a parallel port (``none``: no default one)."""
        self._parallel = [*(self._parallel or ()), value]

    def nographic(self) -> None:
        """``-nographic``: no display, hence no default VGA adapter (unless ``-vga std``)."""
        self.default_vga = False

    def vga(self, value: str) -> None:
        """``-vga std|none`` (the last one counts; checked, as QEMU does, once
        all is read: the simulator has no other adapter, and refuses one in
        QEMU's words for a type it does not know)."""
        self._vga = value

    def nic(self, value: str, *, spelling: str = "-nic") -> None:
        """``-nic none`` or ``-net none``: no default network adapter."""
        if value != "none":
            # Networking is not simulated; QEMU's words for a backend it lacks.
            backend = parse_opts(value, implied="type")[0].value if value else value
            raise ConfigError(
                f"Parameter 'type' does not accept value '{backend}'", f"{spelling} {value}"
            )
        self.default_nic = False

    def memory(self, text: str) -> None:
        """``-m [size=]SIZE[,slots=N,maxmem=SIZE]``: the size of RAM."""
        location = f"-m {text}"
        size: int | None = None
        for item in parse_opts(text, implied="size"):
            if item.name not in ("size", "slots", "maxmem"):
                raise ConfigError(f"Invalid parameter '{item.name}'", location)
            if item.name == "size":
                size = parse_size(item.value)
                if size is None:
                    raise ConfigError(_SIZE_EXPECTED, location)
        if size:
            self.ram_size = size
            self._memory_given = True

    def accel(self, text: str) -> None:
        """``-accel NAME[,prop=value...]``: the first one QEMU has is used."""
        items = parse_opts(text, implied="accel")
        name = items[0].value if items and items[0].name == "accel" else ""
        props = [(item.name, item.value) for item in items[1:]]
        self._accel_options.append((f"-accel {text}", name, props))

    def machine(self, text: str) -> None:
        """``-machine [type=]TYPE[,accel=A:B...][,prop=value...]`` (several merge;
        the type and properties are checked at :meth:`build`)."""
        for item in parse_opts(text, implied="type"):
            if item.name == "accel":
                self._machine_accel = True
                # A later accel= replaces an earlier one, as any repeated key.
                self._accel = item.value.split(":")
            elif item.name == "type":
                self._machine_type = item.value
            else:
                self._machine_props[item.name] = item.value

    def build(
        self,
        catalogue: Catalogue | None = None,
        cpu_facts: CpuFacts | None = None,
        *,
        kvm_error: str | None = None,
        qtest: bool = False,
    ) -> MachineConfig:
        """The configuration; raises :class:`ConfigError` as QEMU would at start-up.

        ``catalogue`` says which devices, machine types and CPU models the
        emulator has (None: only those the simulator simulates); ``cpu_facts``
        what the CPU's properties hold; ``kvm_error`` why this host's KVM
        cannot be opened (``strerror``; None: it can); ``qtest``, whether
        ``-qtest`` is given (QEMU is quieter about accelerators then).
        """
        if self._accel_options and self._machine_accel:
            raise ConfigError('The -accel and "-machine accel=" options are incompatible')
        if self._vga is not None and self._vga not in _VGA_TYPES:
            raise ConfigError(f"unknown vga type: {self._vga}")
        machine_type = self._check_machine(catalogue)
        self._layout_for = machine_type
        for opener in self._openers:
            opener()
        self._openers.clear()
        accelerator = self._accelerator(kvm_error, qtest)
        topology = self._topology(catalogue, machine_type)
        for boot_order in self._boot:
            _check_boot_devices(boot_order, machine_type != "none")
        memory_backends = self._check_objects()
        drives = self._place_drives(machine_type)
        # QEMU makes the -blockdev nodes first, then the drives'.
        ordered_nodes = sorted(self._blockdevs, key=lambda b: not b[0].startswith("-blockdev"))
        block_nodes = tuple(node for _, node in ordered_nodes)
        cpu_type = self._cpu_type(catalogue)
        ram_size = self._ram_size(memory_backends)
        # A value the line wrote is checked now (QEMU refuses a bad one at
        # start-up); otherwise the settings are made with the machine.
        actions = self._actions.resolve() if self._actions.written else self._actions
        devices: list[DeviceConfig] = []
        peripherals: list[PeripheralConfig] = []
        locations: list[str] = []  # the modelled devices' options
        isa = 0
        nodes = {node.node_name: node for node in block_nodes}
        backends = _Backends(nodes, drives)
        # QEMU creates the key=value devices first (those -drive if=virtio
        # asks for after them), then the JSON ones.
        ordered = sorted(self._devices, key=lambda device: device[3])
        for drive in drives:
            if drive.interface == "virtio" and machine_type == "none":
                raise ConfigError("No 'PCI' bus found for device 'virtio-blk-pci'", drive.location)
        virtio: list[tuple[str, str | None, dict[str, OptionValue], bool]] = [
            (drive.location or "", None, {"driver": "virtio-blk-pci", "drive": drive.name}, False)
            for drive in drives
            if drive.interface == "virtio"
        ]
        keyval = sum(not typed for *_, typed in ordered)
        ordered[keyval:keyval] = virtio
        made: set[str] = set()
        for location, ident, props, typed in ordered:
            dev = _device(location, ident, props, typed, catalogue, backends, made)
            if isinstance(dev, PeripheralConfig):
                peripherals.append(dev)
                continue
            peripherals.append(PeripheralConfig(dev.driver, dev.id))
            if isinstance(dev, PvpanicConfig) and dev.driver == "pvpanic":
                isa += 1
                if isa > 1:
                    raise ConfigError(_DUPLICATE_FW_CFG, location)
            devices.append(dev)
            locations.append(location)
        config = MachineConfig(
            start_paused=self.start_paused,
            actions=actions,
            devices=tuple(devices),
            default_vga=self.default_vga if self._vga is None else self._vga == "std",
            default_nic=self.default_nic,
            serial_ports=_serial_ports(self._serial, self._defaults),
            parallel_ports=_parallel_ports(self._parallel, self._defaults),
            ram_size=ram_size,
            accelerator=accelerator,
            machine_type=self._machine_type or "pc",
            cpu_type=cpu_type,
            topology=topology,
            peripherals=tuple(peripherals),
            block_nodes=block_nodes,
            cpu_facts=cpu_facts,
            drives=drives,
        )
        from .pci_placement import PlacementError, place_pci_functions

        try:
            place_pci_functions(config)
        except PlacementError as err:
            raise ConfigError(err.message, locations[err.index]) from None
        return config

    def _place_drives(self, machine_type: str) -> tuple[DriveConfig, ...]:
        """The drives, then the board's default ones where no drive is; QEMU's
        errors for a place the board lacks, a disk it cannot use."""
        q35 = "q35" in machine_type
        pc = machine_type != "none"
        layout = _drive_layout(machine_type)
        placed = list(self._drives)
        if self._defaults and pc:
            cd = (2, 0) if q35 else (1, 0)
            if not self._drive_at("ide", *cd):
                placed.append(DriveConfig(f"ide{cd[0]}-cd{cd[1]}", "ide", *cd, cdrom=True))
            if not q35 and not self._drive_at("floppy", 0, 0):
                placed.append(DriveConfig("floppy0", "floppy", 0, 0))
        for drive in placed:
            _units, buses = layout[drive.interface]
            if drive.bus >= buses or (drive.interface == "floppy" and drive.unit > 1):
                raise ConfigError(
                    f"machine type does not support if={drive.interface},"
                    f"bus={drive.bus},unit={drive.unit}",
                    drive.location,
                )
        for drive in placed:
            # The board makes an IDE disk's device, which needs a writable image.
            if drive.interface == "ide" and not drive.cdrom:
                if drive.node is None:
                    raise ConfigError("Device needs media, but drive is empty")
                if drive.node.read_only:
                    raise ConfigError("Block node is read-only")
        return tuple(placed)

    def _accelerator(self, kvm_error: str | None, qtest: bool) -> str:
        """The accelerator used, chosen as QEMU chooses it: each ``-accel`` in
        turn, else ``-machine accel=``'s list (``tcg:kvm`` when neither is
        given), the first that starts here; the others' failures reported on
        the way (a ``-accel``'s with its location), as QEMU reports them."""
        failed = False  # QEMU's init_failed
        if self._accel_options:
            entries = self._accel_options
        else:
            entries = []
            for name in self._accel if self._machine_accel else ["tcg", "kvm"]:
                if name in _ACCELERATORS_BUILT:
                    entries.append(("", name, []))
                else:
                    failed = True
                    self.warnings.append(f"invalid accelerator {name}")
        for location, name, props in entries:
            where = f"{location}: " if location else ""
            # QEMU lets a qtest run on a host without KVM quietly.
            quiet = qtest and name == "kvm"
            if name not in _ACCELERATORS_BUILT:
                failed = True
                if not quiet:
                    self.warnings.append(f"{where}invalid accelerator {name}")
                continue
            for prop, value in props:
                message = _accel_property(name, prop, value)
                if message is not None:
                    raise ConfigError(message, location)
            if name == "kvm" and kvm_error is not None:
                failed = True
                self.warnings.append(f"{where}Could not access KVM kernel module: {kvm_error}")
                if not (quiet and kvm_error == _NO_SUCH_FILE):
                    self.warnings.append(f"{where}failed to initialize kvm: {kvm_error}")
                continue
            if failed and not qtest:
                self.warnings.append(f"falling back to {_ACCEL_NAMES.get(name, name)}")
            return name
        if not failed:
            raise ConfigError("no accelerator found")
        # QEMU exits with what it last said: the last warning is the error.
        raise ConfigError(self.warnings.pop() if self.warnings else "no accelerator found")

    def _check_machine(self, catalogue: Catalogue | None) -> str:
        """The machine type's full name; QEMU's errors for an unknown type or property."""
        name = self._machine_type
        if name is None or (name in _COMMON_MACHINES and not self._machine_props):
            return name or "pc"
        full = catalogue.machine_type(name) if catalogue is not None else None
        if full is None and (catalogue is not None or name not in _COMMON_MACHINES):
            raise ConfigError(
                f'unsupported machine type: "{name}"\nUse -machine help to list supported machines'
            )
        if catalogue is None or full is None:
            return name
        known = catalogue.machine_properties(full)
        if known is not None:
            for prop in self._machine_props:
                if prop not in known:
                    raise ConfigError(f"Property '{full}-machine.{prop}' not found")
        return full

    def _topology(self, catalogue: Catalogue | None, machine_type: str) -> CpuTopology:
        none = machine_type == "none"
        if not self._smp.given:
            return CpuTopology(pc_levels=not none)  # one vCPU: no limit to look up
        if catalogue is not None:
            limit = catalogue.max_cpus(machine_type)
            machine_type = catalogue.machine_type(machine_type) or machine_type
        else:
            limit = 1 if none else 255
        return self._smp.topology(not none, limit, machine_type)

    def _check_objects(self) -> dict[str, int]:
        """Create the objects as QEMU does (secrets first, memory backends once the
        accelerator is set up); the memory backends' sizes by id."""
        ids: set[str] = set()
        backends: dict[str, int] = {}
        ordered = sorted(self._objects, key=lambda o: o[1].startswith("memory-backend-"))
        for _location, qom_type, ident, props, _keyval in ordered:
            if ident in ids:
                raise ConfigError(
                    f"attempt to add duplicate property '{ident}' to object (type 'container')"
                )
            ids.add(ident)
            if qom_type == "secret":
                _check_secret(props)
            size = props.get("size")
            if qom_type.startswith("memory-backend-") and isinstance(size, int):
                backends[ident] = size
        return backends

    def _cpu_type(self, catalogue: Catalogue | None) -> str:
        if self._cpu is None:
            return DEFAULT_CPU_TYPE
        if catalogue is None:
            if self._cpu == "qemu64":
                return DEFAULT_CPU_TYPE
            raise ConfigError(f"unable to find CPU model '{self._cpu}'")
        found = catalogue.cpu_type(self._cpu)
        if found is None:
            raise ConfigError(f"unable to find CPU model '{self._cpu}'")
        return found

    def _ram_size(self, backends: dict[str, int]) -> int:
        """RAM's size: ``-m``, or the size of ``-machine memory-backend=ID``."""
        backend = self._machine_props.get("memory-backend")
        if backend is None:
            return self.ram_size
        size = backends.get(backend)
        if size is None:
            raise ConfigError(f"Memory backend '{backend}' not found")
        if self._memory_given and size != self.ram_size:
            raise ConfigError("Machine memory size does not match the size of the memory backend")
        return size


# strerror(ENOENT): KVM's device is absent.
_NO_SUCH_FILE = "No such file or directory"
# How QEMU names an accelerator when it falls back to it.
_ACCEL_NAMES = {"kvm": "KVM"}
# The properties of TCG (``-accel tcg,...``): their kinds.
_TCG_PROPERTIES = {
    "thread": "thread",
    "tb-size": "uint",
    "one-insn-per-tb": "bool",
    "split-wx": "bool",
}


def _accel_property(accel: str, prop: str, value: str) -> str | None:
    """QEMU's complaint about ``-accel accel,prop=value``, or None (KVM's many
    properties are taken as given)."""
    if accel == "kvm":
        return None
    kind = _TCG_PROPERTIES.get(prop) if accel == "tcg" else None
    if kind is None:
        return f"Property '{accel}-accel.{prop}' not found"
    if kind == "thread" and value not in ("single", "multi"):
        return f"Invalid 'thread' setting {value}"
    if kind == "uint" and parse_uint64(value) is None:
        return f"Parameter '{prop}' expects uint64"
    if kind == "bool" and parse_bool(value) is None:
        return f"Parameter '{prop}' expects 'on' or 'off'"
    return None


def _check_secret(props: Mapping[str, OptionValue]) -> None:
    """A secret's source: ``data``, or a ``file`` QEMU can read (GLib's words)."""
    import os

    path = props.get("file")
    if path is None and "data" not in props:
        raise ConfigError("Either 'file' or 'data' must be provided")
    if isinstance(path, str):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            why = os.strerror(err.errno or 0)
            raise ConfigError(
                f"Unable to read {path}: Failed to open file \u201c{path}\u201d: {why}"
            ) from None
        try:
            os.read(fd, 1)
        except OSError as err:
            why = os.strerror(err.errno or 0)
            raise ConfigError(
                f"Unable to read {path}: Error reading file \u201c{path}\u201d: {why}"
            ) from None
        finally:
            os.close(fd)


def _check_boot_devices(devices: str, pc: bool) -> None:
    """QEMU's checks of a boot order: letters ``a`` to ``p``, each once; a pc
    machine boots from at most three of floppy (a, b), disk (c), CD (d), net (n)."""
    seen: set[str] = set()
    for letter in devices:
        if not "a" <= letter <= "p":
            raise ConfigError(f"Invalid boot device '{letter}'")
        if letter in seen:
            raise ConfigError(f"Boot device '{letter}' was given twice")
        seen.add(letter)
    if not pc:
        return
    for letter in devices[:3]:
        if letter not in "abcdn":
            raise ConfigError(f"Invalid boot device for PC: '{letter}'")
    if len(devices) > 3:
        raise ConfigError("Too many boot devices for PC")


def _serial_ports(given: list[str] | None, defaults: bool) -> tuple[bool, ...]:
    # Without the option, COM1 unless -nodefaults; with it, one index per
    # option, "none" leaving its index empty.
    if given is None:
        return (True,) if defaults else ()
    return tuple(value != "none" for value in given)


def _parallel_ports(given: list[str] | None, defaults: bool) -> int:
    # As for serial ports, but "none" takes no index.
    if given is None:
        return 1 if defaults else 0
    return sum(value != "none" for value in given)


def _drive_layout(machine_type: str) -> dict[str, tuple[int, int]]:
    """Each interface's units per bus (0: the index is the unit) and buses on
    the board ``machine_type``."""
    q35 = "q35" in machine_type
    pc = machine_type != "none"
    return {
        "ide": (1 if q35 else 2, (6 if q35 else 2) if pc else 0),
        "floppy": (0, 1 if pc else 0),
        "virtio": (0, 1),
        "none": (0, 1),
    }


class _Backends:
    """What a device's ``drive=`` can name: a drive (by its name), else a
    block node (by its node name); and which are attached already."""

    __slots__ = ("drives", "nodes", "used")

    def __init__(
        self, nodes: Mapping[str, BlockNodeConfig], drives: tuple[DriveConfig, ...]
    ) -> None:
        self.nodes = nodes
        self.drives = {d.name: d for d in drives}
        # The board's drives are attached to its own devices.
        self.used = {d.name for d in drives if d.interface in ("ide", "floppy")}


_SIZE_EXPECTED = (
    "Parameter 'size' expects a non-negative number below 2^64\n"
    "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
    "and exabytes, respectively."
)


_SIGNED = {"int32": 32, "int": 64, "int64": 64}
_UNSIGNED = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}


def _json_property(kind: str, name: str, value: object) -> str | None:
    """QEMU's complaint about a JSON ``-device`` property ``name`` of QOM type
    ``kind`` given ``value``, or None.  Checked: strings (and links, enums:
    their values are not known), booleans, the integer types; other types
    (a PCI ``addr``, sizes, lists ...) are taken as given."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if (
        kind in ("str", "string")
        or kind.startswith("link<")
        or (kind[:1].isupper() and kind != "QemuUUID")
    ):
        if not isinstance(value, str):
            return f"Invalid parameter type for '{name}', expected: string"
    elif kind == "bool":
        if not isinstance(value, bool):
            return f"Invalid parameter type for '{name}', expected: boolean"
    elif kind in _SIGNED and name != "addr":
        if not is_int:
            return f"Invalid parameter type for '{name}', expected: integer"
        bits = _SIGNED[kind]
        if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):  # type: ignore[operator]
            return f"Parameter '{name}' expects int{bits}_t"
    elif kind in _UNSIGNED:
        if not is_int:
            return f"Parameter '{name}' expects uint64"
        bits = _UNSIGNED[kind]
        if value % _UINT64_END >= 1 << bits:  # type: ignore[operator]
            return f"Parameter '{name}' expects uint{bits}_t"
    return None


def _device(
    location: str,
    ident: str | None,
    props: dict[str, OptionValue],
    typed: bool,
    catalogue: Catalogue | None,
    backends: _Backends,
    made: set[str],
) -> DeviceConfig | PeripheralConfig:
    """The device of one ``-device``; ``typed``: its properties came as JSON;
    ``made``: the ids of the devices made so far (this one's is added)."""
    props = dict(props)
    driver = props.pop("driver", None)
    props.pop("bus", None)  # there is one bus of each kind: any name will do
    if not isinstance(driver, str):
        raise ConfigError("Parameter 'driver' is missing", location)
    known = _PROPERTIES.get(driver)
    if known is None and (catalogue is None or not catalogue.has_device(driver)):
        raise UnknownDeviceError(f"'{driver}' is not a valid device model name", location)
    if ident is not None:
        if ident in made:  # only a JSON one's can be (QEMU checks key=value ids first)
            raise ConfigError(f"Duplicate device ID '{ident}'", location)
        made.add(ident)
    # QEMU sets the properties in its QDict's order.
    props = {name: props[name] for name in qdict_order(props)}
    if known is None:
        assert catalogue is not None
        listed = catalogue.device_properties(driver)
        types = catalogue.device_property_types(driver) if typed and listed else None
        for name, given in props.items():
            if listed is not None and name not in listed:
                raise ConfigError(f"Property '{driver}.{name}' not found", location)
            problem = _json_property(types.get(name, ""), name, given) if types else None
            if problem is not None:
                raise ConfigError(problem, location)
        drive = props.get("drive")
        if drive is not None:
            drive = str(drive)
            backend = backends.drives.get(drive)
            node = backend.node if backend is not None else backends.nodes.get(drive)
            if backend is None and node is None:
                raise ConfigError(f"Property '{driver}.drive' can't find value '{drive}'", location)
            if backend is not None:
                if drive in backends.used:
                    if backend.interface != "none":
                        raise ConfigError(
                            f"Drive '{drive}' is already in use because it has been "
                            "automatically connected to another device "
                            "(did you need 'if=none' in the drive options?)",
                            location,
                        )
                    raise ConfigError(
                        f"Drive '{drive}' is already in use by another device", location
                    )
                backends.used.add(drive)
            if node is not None and node.read_only and driver in _WRITABLE_DISKS:
                raise ConfigError("Block node is read-only", location)
        return PeripheralConfig(driver, ident, drive)
    values: dict[str, int] = {}
    addr: int | None = None
    multifunction = False
    for name, given in props.items():
        if name not in known:
            raise ConfigError(f"Property '{driver}.{name}' not found", location)
        kind = known[name]
        if kind is None:
            continue
        if kind == "pci-devfn":
            if isinstance(given, int) and not isinstance(given, bool):
                addr = given  # a number is the devfn itself
            elif isinstance(given, str):
                addr = parse_pci_addr(given)
            else:
                addr = None
            if addr is None:
                raise ConfigError(
                    f"Property '{driver}.{name}' doesn't take value '{given}'", location
                )
            continue
        if kind == "bool":
            flag = parse_bool(given) if isinstance(given, str) and not typed else given
            if isinstance(flag, bool):
                multifunction = flag
                continue
            if isinstance(given, str) and not typed:
                raise ConfigError(f"Parameter '{name}' expects 'on' or 'off'", location)
            raise ConfigError(f"Invalid parameter type for '{name}', expected: boolean", location)
        if isinstance(given, str) and not typed:
            number = parse_uint64(given)
            if number is None:
                raise ConfigError(f"Parameter '{name}' expects integer", location)
        elif isinstance(given, int) and not isinstance(given, bool):
            number = given % _UINT64_END  # QEMU takes a negative number modulo 2**64
        else:
            raise ConfigError(f"Parameter '{name}' expects uint64", location)
        if number > _LIMITS[kind]:
            raise ConfigError(f"Parameter '{name}' expects {kind}", location)
        values[name] = number
    if driver == "ib700":
        return WatchdogConfig(id=ident)
    if driver == "pvpanic":
        return PvpanicConfig(
            driver="pvpanic",
            id=ident,
            ioport=values.get("ioport", DEFAULT_IOPORT),
            events=values.get("events", PVPANIC_EVENTS),
        )
    return PvpanicConfig(
        driver="pvpanic-pci",
        id=ident,
        events=values.get("events", PVPANIC_EVENTS),
        addr=addr,
        multifunction=multifunction,
    )
