"""Where the ``pc`` board's PCI ``-device`` functions go, by QEMU's rules.

Apart from the board (:mod:`.pc`): placement decides whether a command line is
accepted, so ``qapigen vm`` works it out before its greeting, without the
board's devices and buses.
"""

from __future__ import annotations

from .errors import ConfigError

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import DeviceConfig, MachineConfig

__all__ = ["CHIPSET", "PlacementError", "place_pci_functions"]


#: The functions every pc machine has, where it has them.
CHIPSET: tuple[tuple[int, str], ...] = (
    (0 << 3 | 0, "i440FX"),  # slot << 3 | function
    (1 << 3 | 0, "PIIX3"),
    (1 << 3 | 1, "piix3-ide"),
    (1 << 3 | 3, "PIIX4_PM"),
)


class PlacementError(ConfigError):
    """A PCI function that cannot go where it should; ``index`` is the
    ``-device`` (its position among the configuration's devices) to blame."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class _Slot:
    """What placement needs to know of a function on the bus."""

    __slots__ = ("id", "multifunction", "name")

    def __init__(self, name: str, id: str | None, multifunction: bool) -> None:
        self.name = name
        self.id = id
        self.multifunction = multifunction


def place_pci_functions(config: MachineConfig) -> dict[int, int]:
    """Where each PCI ``-device`` goes: device index -> devfn.

    QEMU's rules, in its order: the chipset, the default adapters, then each
    device at its ``addr`` (which must be free) or in the first slot whose
    function 0 is free; a function 0 without ``multifunction=on`` cannot share
    its slot, and a slot's other functions need a multifunction function 0.
    Raises :class:`PlacementError` with QEMU's message.
    """
    if not any(_is_pci(dev) for dev in config.devices):
        return {}  # nothing to place
    taken = {number: _Slot(name, None, False) for number, name in CHIPSET}
    taken[1 << 3].multifunction = True  # the PIIX3's slot
    for wanted, name in ((config.default_vga, "VGA"), (config.default_nic, "e1000")):
        if wanted:
            taken[_first_free(taken)] = _Slot(name, None, False)
    placed: dict[int, int] = {}
    for index, dev in enumerate(config.devices):
        if dev.driver != "pvpanic-pci":
            continue
        name = dev.driver
        number = dev.addr
        if number is None:
            number = _first_free(taken)
            if number < 0:
                raise PlacementError(
                    f"PCI: no slot/function available for {name}, all in use or reserved", index
                )
        elif number in taken:
            other = taken[number]
            raise PlacementError(
                f"PCI: slot {number >> 3} function {number & 7} not available for {name},"
                f" in use by {other.name},id={other.id or '(null)'}",
                index,
            )
        slot, function = number >> 3, number & 7
        if function:
            first = taken.get(slot << 3)
            if first is not None and not first.multifunction:
                raise PlacementError(
                    "PCI: single function device can't be populated in function "
                    f"{slot:x}.{function:x}",
                    index,
                )
        elif not dev.multifunction:
            for other_function in range(1, 8):
                if (slot << 3 | other_function) in taken:
                    raise PlacementError(
                        f"PCI: {slot:x}.0 indicates single function, but "
                        f"{slot:x}.{other_function:x} is already populated.",
                        index,
                    )
        taken[number] = _Slot(name, dev.id, dev.multifunction)
        placed[index] = number
    return placed


def _is_pci(dev: DeviceConfig) -> bool:
    return dev.driver == "pvpanic-pci"


def _first_free(taken: dict[int, _Slot]) -> int:
    for number in range(0, 256, 8):
        if number not in taken:
            return number
    return -1
