"""``device_add`` refused as QEMU 10.0 refuses it, where the profile and the machine type tell.

QEMU marshals ``device_add`` by hand: after ``driver`` (checked from
introspection, :mod:`qapigen.qmp.arguments`) it finds the device model, then
its bus, then asks whether the bus and the machine take hot-plugged devices,
and only then sets the device's properties.  The simulator does not plug
devices, so a ``device_add`` that gets past all that is answered with the
documented error (docs/behaviour.md).  What can be told without the device
is told with QEMU's words (observed on QEMU 10.0.2):

- a name that is neither a device model of ``-device help`` (nor its alias)
  nor any QOM type of ``qom-list-types``: ``'X' is not a valid device model
  name``;
- under ``-machine none`` (no buses but the system bus, no hot-plug handler):
  a device of a bus (``-device help``'s ``bus``) given no ``bus``: ``No 'PCI'
  bus found for device 'NAME'``; a ``bus`` named: ``Bus 'B' not found``; a
  system-bus device: ``Parameter 'driver' expects a dynamic sysbus device
  type for the machine``;
- on the ``pc`` (i440FX) and ``q35`` machines, given no ``bus``: an ISA
  device: ``Bus 'isa.0' does not support hotplugging``.

Everything else depends on what the profile does not record, and is left
unchecked (None): whether the device model may be hot-plugged at all (once
its bus is found, ``Device 'VGA' does not support hotplugging`` comes before
the bus's own refusal and before the device's properties are read, and
``-device help`` does not say which models those are), the machine's other
buses, abstract and non-pluggable types.  Hence the properties
``device-list-properties`` recorded are not checked either: QEMU reads them
only past those checks.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..profiles.profile import Profile

__all__ = ["DeviceModels", "refusal"]

# The system bus, which every machine has, -machine none included.
_SYSTEM_BUS = "main-system-bus"


class DeviceModels:
    """What a profile says of device models: ``-device help``'s names, aliases
    and buses, and every QOM type name ``qom-list-types`` mentions."""

    def __init__(self, profile: Profile) -> None:
        #: name or alias -> (the model's name, its bus type or None).
        self.models: dict[str, tuple[str, str | None]] = {}
        found = profile.help("-device help")
        for line in (found[0] if found else "").splitlines():
            if not line.startswith('name "'):
                continue
            name = line[6 : line.index('"', 6)]
            bus = alias = None
            for part in line[line.index('"', 6) + 1 :].split(", "):
                if part.startswith("bus "):
                    bus = part[4:]
                elif part.startswith('alias "'):
                    alias = part[7:-1]
            self.models[name] = (name, bus)
            if alias is not None:
                self.models.setdefault(alias, (name, bus))
        #: QOM type names: those listed and their parents (the abstract ones too).
        self.qom_types: set[str] = set()
        reply = profile.reply("qom-list-types")
        if reply is not None and isinstance(reply.value, list):
            for entry in reply.value:
                if isinstance(entry, dict):
                    self.qom_types.update(
                        str(v) for k, v in entry.items() if k in ("name", "parent")
                    )


def refusal(models: DeviceModels, machine_type: str, arguments: Mapping[str, object]) -> str | None:
    """QEMU's error for ``device_add`` with ``arguments`` (whose ``driver`` is a
    string) on a machine of ``machine_type``, where it can be told; else None."""
    driver = str(arguments["driver"])
    model = models.models.get(driver)
    if model is None:
        if driver in models.qom_types:
            return None  # not a pluggable model, or abstract, or not a device: not told
        return f"'{driver}' is not a valid device model name"
    name, bus_type = model
    bus = arguments.get("bus")
    named_bus = bus if isinstance(bus, str) else None  # QEMU reads a bus only if a string
    if bus_type is not None and bus_type != "System" and bus_type.endswith("sysbus"):
        return None  # a system-bus device of another bus type
    if machine_type == "none":
        if bus_type == "System":
            return "Parameter 'driver' expects a dynamic sysbus device type for the machine"
        if named_bus is not None:
            return None if named_bus == _SYSTEM_BUS else f"Bus '{named_bus}' not found"
        if bus_type is not None:
            return f"No '{bus_type}' bus found for device '{name}'"
        return None  # a device of no bus: whether it is hot-pluggable at all is not told
    i440fx = machine_type == "pc" or machine_type.startswith("pc-i440fx-")
    q35 = machine_type == "q35" or machine_type.startswith("pc-q35-")
    if named_bus is not None or not (i440fx or q35):
        return None
    if bus_type == "ISA":
        return "Bus 'isa.0' does not support hotplugging"
    return None
