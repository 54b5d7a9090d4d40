"""``device_add`` refused as QEMU 10.0.2 refuses it, side by side with the real QEMU.

The device models of the shipped profile's ``-device help`` (its ISA ones and
a fixed sample of the others, and a few names that are no model, aliases and
bus names) are added, with a property no device
has, to QEMU and to ``qapigen vm`` started with the same ``-machine``
(``none``, ``pc``, ``q35``).  Where the simulator tells an error
(``qapigen/vm/device_add.py``) it must be QEMU's, word for word; where it does
not, it answers the documented error (docs/behaviour.md), and QEMU's answer
is one the profile cannot tell (a hot-plug handler's, a property's).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator

import pytest

from qapigen.profiles import profile
from qapigen.vm.surface import NOT_RECORDED

from ..support.qemu import VM, QMPProcess, RawQMP, skip_without_qemu

_UNCHECKED = NOT_RECORDED.format("device_add")


# QEMU takes some 65 ms to refuse a device_add: a sample of the models, the same each run.
SEED = 20251205
SAMPLE = 60


def _models() -> list[str]:
    """Every ISA model of ``-device help``, and a sample of the others."""
    found = profile.default().help("-device help")
    assert found is not None
    models = re.findall(r'^name "([^"]+)"(, bus ISA)?', found[0], re.MULTILINE)
    isa = [name for name, on_isa in models if on_isa]
    others = sorted(name for name, on_isa in models if not on_isa)
    return isa + random.Random(SEED).sample(others, SAMPLE)


# Names that are no device model (a machine, a backend, abstract types, nothing at all),
# an alias, and explicit buses.
_OTHERS: list[dict[str, object]] = [
    {"driver": "nosuch", "bogus-property": 1},
    {"driver": "help", "bogus-property": 1},
    {"driver": "memory-backend-ram", "bogus-property": 1},
    {"driver": "pc-i440fx-10.0-machine", "bogus-property": 1},
    {"driver": "device", "bogus-property": 1},
    {"driver": "pci-device", "bogus-property": 1},
    {"driver": "kvm-pit", "bogus-property": 1},
    {"driver": "virtio-net", "bogus-property": 1},
    {"driver": "virtio-net-pci", "bus": "pci.0", "bogus-property": 1},
    {"driver": "virtio-net-pci", "bus": "nosuch", "bogus-property": 1},
    {"driver": "virtio-net-pci", "bus": 5, "bogus-property": 1},
    {"driver": "nvdimm", "bus": "nosuch", "bogus-property": 1},
    {"driver": "pvpanic", "bus": "main-system-bus", "bogus-property": 1},
]


def _connect(process: QMPProcess) -> RawQMP:
    conn = process.connect()
    assert conn.command(b'{"execute": "qmp_capabilities"}\n') == b'{"return": {}}\r\n'
    return conn


@pytest.fixture(scope="module", params=["none", "pc", "q35"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, RawQMP, RawQMP]]:
    options = ("-S", "-machine", request.param)
    qemu = QMPProcess((skip_without_qemu(),), options)
    vm = QMPProcess(VM, options)
    try:
        yield request.param, _connect(qemu), _connect(vm)
    finally:
        qemu.close()
        vm.close()


def _desc(conn: RawQMP, arguments: dict[str, object]) -> str | None:
    request = json.dumps({"execute": "device_add", "arguments": arguments}).encode()
    reply = json.loads(conn.command(request + b"\n"))
    return reply["error"]["desc"] if "error" in reply else None


def test_device_add_is_refused_in_qemus_words(pair: tuple[str, RawQMP, RawQMP]) -> None:
    machine, qemu, vm = pair
    cases = [{"driver": name, "bogus-property": 1} for name in _models()] + _OTHERS
    told = 0
    for arguments in cases:
        ours = _desc(vm, arguments)
        theirs = _desc(qemu, arguments)
        assert theirs is not None, arguments  # nothing is plugged: every case is refused
        if ours == _UNCHECKED:
            continue
        assert ours == theirs, (machine, arguments)
        told += 1
    # What the profile tells: under -machine none, nearly every model; on pc and q35,
    # the ISA devices and the names that are no model.
    isa = len(cases) - SAMPLE - len(_OTHERS)
    least = {"none": len(cases) // 2, "pc": isa + 2, "q35": isa + 2}[machine]
    assert told >= least, (machine, told)


def test_unknown_driver_whatever_the_machine(pair: tuple[str, RawQMP, RawQMP]) -> None:
    _, qemu, vm = pair
    arguments: dict[str, object] = {"driver": "no-such-model", "id": "x"}
    assert _desc(vm, arguments) == _desc(qemu, arguments)
    assert _desc(vm, arguments) == "'no-such-model' is not a valid device model name"
