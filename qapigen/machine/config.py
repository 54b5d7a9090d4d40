"""The machine's configuration, and how QEMU's command-line options build it.

:class:`MachineConfig` is what a :class:`~qapigen.machine.machine.Machine` is
made from.  :class:`CommandLine` fills one option at a time, the way QEMU reads
its command line, and reports what QEMU refuses with QEMU's message and the
option QEMU blames (:class:`~qapigen.machine.errors.ConfigError`).  It knows
only the options the simulator models (``-S``, ``-action``, ``-no-shutdown``,
``-no-reboot``, ``-watchdog-action``, ``-device pvpanic``/``pvpanic-pci``);
splitting ``argv`` is the program's job.
"""

from __future__ import annotations

from ..runtime.records import TYPE_CHECKING, NamedTuple, Record
from .actions import ActionOptions, Actions
from .errors import ConfigError
from .options import id_wellformed, parse_opts, parse_uint64
from .pvpanic import DEFAULT_IOPORT, PVPANIC_EVENTS, PvpanicDevice, PvpanicISA, PvpanicPCI

if TYPE_CHECKING:
    from typing import Literal, TypeAlias

    PvpanicDriver: TypeAlias = Literal["pvpanic", "pvpanic-pci"]


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

    def create(self) -> PvpanicDevice:
        """A new device as configured."""
        if self.driver == "pvpanic":
            return PvpanicISA(id=self.id, ioport=self.ioport, events=self.events)
        return PvpanicPCI(id=self.id, events=self.events)


class MachineConfig(Record):
    """Everything the simulated machine is made from."""

    __slots__ = ("actions", "devices", "start_paused")
    _FIELDS = ("start_paused", "actions", "devices")

    #: ``-S``: stay in ``prelaunch`` until ``cont``.
    start_paused: bool
    #: The reaction settings the machine starts with.
    actions: Actions
    #: The pvpanic devices, in ``-device`` order.
    devices: tuple[PvpanicConfig, ...]

    def __init__(
        self,
        *,
        start_paused: bool = False,
        actions: Actions | None = None,
        devices: tuple[PvpanicConfig, ...] = (),
    ) -> None:
        self.start_paused = start_paused
        self.actions = Actions() if actions is None else actions
        self.devices = devices

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a machine QEMU would refuse to create."""
        ids: set[str] = set()
        isa = 0
        for dev in self.devices:
            if dev.id is not None:
                if not id_wellformed(dev.id):
                    raise ConfigError("Parameter 'id' expects an identifier")
                if dev.id in ids:
                    raise ConfigError(f"Duplicate ID '{dev.id}' for device")
                ids.add(dev.id)
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


# Each ISA pvpanic device tells the firmware its port through the same fw_cfg
# file, so QEMU cannot create a second one (it exits with this message).
_DUPLICATE_FW_CFG = "duplicate fw_cfg file name: etc/pvpanic-port"


class UnknownDeviceError(ConfigError):
    """``-device`` of a driver the simulator does not model.

    QEMU says the same of a driver it does not have; a program that wants to
    accept (and ignore) devices that make no difference to the simulation
    can catch this one.
    """


# The properties each driver has, with the C type of the integer ones (None:
# accepted and ignored, as they change nothing the simulator shows).
_PROPERTIES: dict[str, dict[str, str | None]] = {
    "pvpanic": {"ioport": "uint16_t", "events": "uint8_t"},
    "pvpanic-pci": {
        "events": "uint8_t",
        "addr": None,
        "multifunction": None,
        "romfile": None,
        "rombar": None,
        "acpi-index": None,
        "failover_pair_id": None,
    },
}
_LIMITS = {"uint8_t": 0xFF, "uint16_t": 0xFFFF}


class CommandLine:
    """A :class:`MachineConfig` built from QEMU's options, one at a time.

    Call the methods in command-line order, then :meth:`build`.  Like QEMU,
    the syntax of each option and the keys of ``-action`` are checked at
    once; the action values and the device properties only at :meth:`build`,
    in that order.
    """

    __slots__ = ("_actions", "_device_ids", "_devices", "start_paused")

    def __init__(self) -> None:
        self._actions = ActionOptions()
        self._devices: list[tuple[str, str | None, dict[str, str]]] = []
        self._device_ids: set[str] = set()
        #: Whether ``-S`` was given.
        self.start_paused = False

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

    def build(self) -> MachineConfig:
        """The configuration; raises :class:`ConfigError` as QEMU would at start-up."""
        actions = self._actions.resolve()
        devices: list[PvpanicConfig] = []
        isa = 0
        for location, ident, props in self._devices:
            dev = _device(location, ident, props)
            if dev.driver == "pvpanic":
                isa += 1
                if isa > 1:
                    raise ConfigError(_DUPLICATE_FW_CFG, location)
            devices.append(dev)
        return MachineConfig(
            start_paused=self.start_paused, actions=actions, devices=tuple(devices)
        )


def _device(location: str, ident: str | None, props: dict[str, str]) -> PvpanicConfig:
    props = dict(props)
    driver = props.pop("driver", None)
    props.pop("bus", None)  # there is one bus of each kind: any name will do
    if driver is None:
        raise ConfigError("Parameter 'driver' is missing", location)
    known = _PROPERTIES.get(driver)
    if known is None:
        raise UnknownDeviceError(f"'{driver}' is not a valid device model name", location)
    values: dict[str, int] = {}
    for name, text in props.items():
        if name not in known:
            raise ConfigError(f"Property '{driver}.{name}' not found", location)
        c_type = known[name]
        if c_type is None:
            continue
        number = parse_uint64(text)
        if number is None:
            raise ConfigError(f"Parameter '{name}' expects integer", location)
        if number > _LIMITS[c_type]:
            raise ConfigError(f"Parameter '{name}' expects {c_type}", location)
        values[name] = number
    if driver == "pvpanic":
        return PvpanicConfig(
            driver="pvpanic",
            id=ident,
            ioport=values.get("ioport", DEFAULT_IOPORT),
            events=values.get("events", PVPANIC_EVENTS),
        )
    return PvpanicConfig(
        driver="pvpanic-pci", id=ident, events=values.get("events", PVPANIC_EVENTS)
    )
