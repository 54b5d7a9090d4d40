"""The machine's configuration, and how QEMU's command-line options build it.

:class:`MachineConfig` is what a :class:`~qapigen.machine.machine.Machine` is
made from.  :class:`CommandLine` fills one option at a time, the way QEMU reads
its command line, and reports what QEMU refuses with QEMU's message and the
option QEMU blames (:class:`~qapigen.machine.errors.ConfigError`).  It knows
only the options the simulator models (``-S``, ``-action``, ``-no-shutdown``,
``-no-reboot``, ``-watchdog-action``, ``-device pvpanic``/``pvpanic-pci``/``ib700``,
``-nodefaults``, ``-vga``, ``-nographic``, ``-nic none``/``-net none``, ``-m``,
``-accel`` and ``-machine accel=``); splitting ``argv`` is the program's job.
"""

from __future__ import annotations

from ..runtime.records import NamedTuple, Record
from .actions import ActionOptions, Actions
from .errors import ConfigError
from .options import id_wellformed, parse_bool, parse_opts, parse_pci_addr, parse_size, parse_uint64
from .pvpanic import DEFAULT_IOPORT, PVPANIC_EVENTS, PvpanicDevice, PvpanicISA, PvpanicPCI

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Literal, TypeAlias

    PvpanicDriver: TypeAlias = Literal["pvpanic", "pvpanic-pci"]
    DeviceConfig: TypeAlias = "PvpanicConfig | WatchdogConfig"


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
        if self.driver == "pvpanic":
            return PvpanicISA(id=self.id, ioport=self.ioport, events=self.events)
        return PvpanicPCI(id=self.id, events=self.events, multifunction=self.multifunction)


class WatchdogConfig(NamedTuple):
    """``-device ib700``: the iBASE 700 watchdog."""

    driver: Literal["ib700"] = "ib700"
    id: str | None = None


#: The size of RAM without ``-m`` (QEMU's default for the pc machine).
DEFAULT_RAM_SIZE = 128 << 20


class MachineConfig(Record):
    """Everything the simulated machine is made from."""

    __slots__ = (
        "actions",
        "default_nic",
        "default_vga",
        "devices",
        "manual_clock",
        "parallel_ports",
        "ram_size",
        "serial_ports",
        "start_paused",
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
        "manual_clock",
    )

    #: ``-S``: stay in ``prelaunch`` until ``cont``.
    start_paused: bool
    #: The reaction settings the machine starts with.
    actions: Actions
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
    #: ``-accel qtest``: the virtual clock moves only when a test moves it.
    manual_clock: bool

    def __init__(
        self,
        *,
        start_paused: bool = False,
        actions: Actions | None = None,
        devices: tuple[DeviceConfig, ...] = (),
        default_vga: bool = True,
        default_nic: bool = True,
        serial_ports: tuple[bool, ...] = (True,),
        parallel_ports: int = 1,
        ram_size: int = DEFAULT_RAM_SIZE,
        manual_clock: bool = False,
    ) -> None:
        self.start_paused = start_paused
        self.actions = Actions() if actions is None else actions
        self.devices = devices
        self.default_vga = default_vga
        self.default_nic = default_nic
        self.serial_ports = serial_ports
        self.parallel_ports = parallel_ports
        self.ram_size = ram_size
        self.manual_clock = manual_clock

    def validate(self) -> dict[int, int]:
        """Raise :class:`ConfigError` for a machine QEMU would refuse to create;
        else where each PCI device goes (device index -> devfn)."""
        from .pc import place_pci_functions

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
# The accelerators QEMU 10.0 knows; the first one given is the one used.
_ACCELERATORS = ("qtest", "tcg", "kvm", "xen", "hvf", "whpx", "nvmm")
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
        "_accel_option",
        "_actions",
        "_defaults",
        "_device_ids",
        "_devices",
        "_machine_accel",
        "_parallel",
        "_serial",
        "_vga",
        "default_nic",
        "default_vga",
        "ram_size",
        "start_paused",
    )

    def __init__(self) -> None:
        self._actions = ActionOptions()
        self._devices: list[tuple[str, str | None, dict[str, str]]] = []
        self._device_ids: set[str] = set()
        self._accel: list[str] = []
        self._accel_option = False
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
        return tuple(self._accel)

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
        props: dict[str, str] = {}
        for item in items:
            if item.flag_warning is not None:
                self._actions.warnings.append(f"{location}: {item.flag_warning}")
            if item.name != "id":
                props[item.name] = item.value  # a repeated key: the last one counts
        self._devices.append((location, ident, props))

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

    def accel(self, text: str) -> None:
        """``-accel NAME[,prop=value...]``: the first one QEMU has is used."""
        location = f"-accel {text}"
        items = parse_opts(text, implied="accel")
        name = items[0].value if items and items[0].name == "accel" else ""
        if name == "qtest":
            for item in items[1:]:
                raise ConfigError(f"Property 'qtest-accel.{item.name}' not found", location)
        self._accel_option = True
        if name in _ACCELERATORS:
            self._accel.append(name)

    def machine(self, text: str) -> None:
        """``-machine [type=]TYPE[,accel=A:B...][,...]``: only ``accel`` matters here."""
        for item in parse_opts(text, implied="type"):
            if item.name == "accel":
                self._machine_accel = True
                self._accel += [a for a in item.value.split(":") if a in _ACCELERATORS]

    def build(self) -> MachineConfig:
        """The configuration; raises :class:`ConfigError` as QEMU would at start-up."""
        if self._accel_option and self._machine_accel:
            raise ConfigError('The -accel and "-machine accel=" options are incompatible')
        if self._vga is not None and self._vga not in _VGA_TYPES:
            raise ConfigError(f"unknown vga type: {self._vga}")
        actions = self._actions.resolve()
        devices: list[DeviceConfig] = []
        isa = 0
        for location, ident, props in self._devices:
            dev = _device(location, ident, props)
            if isinstance(dev, PvpanicConfig) and dev.driver == "pvpanic":
                isa += 1
                if isa > 1:
                    raise ConfigError(_DUPLICATE_FW_CFG, location)
            devices.append(dev)
        config = MachineConfig(
            start_paused=self.start_paused,
            actions=actions,
            devices=tuple(devices),
            default_vga=self.default_vga if self._vga is None else self._vga == "std",
            default_nic=self.default_nic,
            serial_ports=_serial_ports(self._serial, self._defaults),
            parallel_ports=_parallel_ports(self._parallel, self._defaults),
            ram_size=self.ram_size,
            manual_clock=self._accel[:1] == ["qtest"],
        )
        from .pc import PlacementError, place_pci_functions

        try:
            place_pci_functions(config)
        except PlacementError as err:
            raise ConfigError(err.message, self._devices[err.index][0]) from None
        return config


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


_SIZE_EXPECTED = (
    "Parameter 'size' expects a non-negative number below 2^64\n"
    "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
    "and exabytes, respectively."
)


def _device(location: str, ident: str | None, props: dict[str, str]) -> DeviceConfig:
    props = dict(props)
    driver = props.pop("driver", None)
    props.pop("bus", None)  # there is one bus of each kind: any name will do
    if driver is None:
        raise ConfigError("Parameter 'driver' is missing", location)
    known = _PROPERTIES.get(driver)
    if known is None:
        raise UnknownDeviceError(f"'{driver}' is not a valid device model name", location)
    values: dict[str, int] = {}
    addr: int | None = None
    multifunction = False
    for name, text in props.items():
        if name not in known:
            raise ConfigError(f"Property '{driver}.{name}' not found", location)
        kind = known[name]
        if kind is None:
            continue
        if kind == "pci-devfn":
            addr = parse_pci_addr(text)
            if addr is None:
                raise ConfigError(
                    f"Property '{driver}.{name}' doesn't take value '{text}'", location
                )
            continue
        if kind == "bool":
            flag = parse_bool(text)
            if flag is None:
                raise ConfigError(f"Parameter '{name}' expects 'on' or 'off'", location)
            multifunction = flag
            continue
        number = parse_uint64(text)
        if number is None:
            raise ConfigError(f"Parameter '{name}' expects integer", location)
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
