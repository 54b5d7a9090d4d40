"""``-drive`` and a positional disk image, side by side with real QEMU 10.0.2:
``query-block`` and ``query-named-block-nodes`` must be QEMU's replies byte for
byte, but for the two random digits that end QEMU's automatic node names
(``#block1`` + ``78``: a counter, then ``g_random_int_range(0, 100)``), which
differ between any two runs of QEMU itself."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.disk_images import qcow2_image, raw_image
from ..support.qemu import BASE_OPTIONS, QMPProcess, RawQMP, pair

_AUTO_NODE_NAME = re.compile(rb'"#block(\d+)\d\d"')
#: Without -nodefaults: the board's default CD-ROM and floppy drives too.
WITH_DEFAULTS = ("-display", "none")


def _normal(line: bytes) -> bytes:
    return _AUTO_NODE_NAME.sub(rb'"#block\1<RANDOM>"', line)


@pytest.fixture(scope="module")
def images() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="qapigen-drives-"))
    for n in range(1, 5):
        raw_image(folder / f"r{n}.img", n << 20)
    qcow2_image(folder / "v3.qcow2", 4 << 20)
    qcow2_image(folder / "lazy.qcow2", 6 << 20, lazy_refcounts=True)
    qcow2_image(folder / "v2.qcow2", 8 << 20, version=2)
    (folder / "cd.iso").write_bytes(bytes(2048))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


QUESTIONS: list[dict[str, object]] = [
    {"execute": "query-block"},
    {"execute": "query-named-block-nodes"},
    {"execute": "query-named-block-nodes", "arguments": {"flat": True}},
]

D = "-drive"
# (options, whether the board's defaults are on)
DRIVES: list[tuple[list[str], bool]] = [
    ([D, "file=<F>/r1.img,format=raw,if=ide,id=d0"], False),
    ([D, "file=<F>/r1.img,format=raw"], False),
    (["<F>/r1.img"], False),  # a positional image: QEMU's -hda, format probed
    (["<F>/v3.qcow2"], False),  # probed qcow2
    ([D, "file=<F>/v3.qcow2,if=none,id=d0", D, "file=<F>/cd.iso,format=raw,media=cdrom"], False),
    (
        [
            D,
            "file=<F>/r1.img,format=raw",
            D,
            "file=<F>/r2.img,format=raw,index=1,readonly=on,media=cdrom",
            D,
            "file=<F>/r3.img,format=raw,index=3,node-name=disk3",
        ],
        True,
    ),
    ([D, "file=<F>/r1.img,format=raw,index=2", D, "if=ide,media=cdrom,index=3"], True),
    ([D, "file=<F>/r1.img,format=raw,if=floppy,index=1,readonly=on"], True),
    ([D, "file=<F>/r1.img,format=raw,if=floppy", "-serial", "null", "-vga", "std"], False),
    ([D, "file=<F>/lazy.qcow2,format=qcow2,if=none,id=lazy", D, "file=<F>/v2.qcow2"], False),
    (["-hdb", "<F>/r1.img", "-cdrom", "<F>/cd.iso", "-hdd", "<F>/v3.qcow2"], True),
    (["-fda", "<F>/r1.img", "-fdb", "<F>/r2.img"], False),
    (
        [
            "-machine",
            "q35",
            "-smp",
            "2",
            D,
            "file=<F>/r1.img,format=raw",
            D,
            "file=<F>/r2.img,format=raw,index=4",
        ],
        True,
    ),
    (
        [
            "-machine",
            "q35",
            D,
            "file=<F>/r1.img,format=raw,if=floppy",
            D,
            "file=<F>/r2.img,format=raw",
        ],
        False,
    ),
    (
        [
            D,
            "file=<F>/r1.img,format=raw,if=virtio",
            D,
            "file=<F>/r2.img,format=raw,if=none,id=x",
            "-device",
            "virtio-blk-pci,drive=x",
            D,
            "file=<F>/r3.img,format=raw,if=none,id=y",
            "-device",
            '{"driver":"ide-hd","drive":"y","id":"disk"}',
            D,
            "file=<F>/cd.iso,format=raw,if=none,id=z,media=cdrom",
            "-device",
            "ide-cd,drive=z",
        ],
        False,
    ),
    (
        [
            "-blockdev",
            '{"driver":"file","filename":"<F>/r4.img","node-name":"n"}',
            "-device",
            "ide-hd,drive=n,id=bd",
            D,
            "file=<F>/r1.img,format=raw,if=none,id=d",
            D,
            "file=<F>/r2.img,format=raw,if=none,id=e,readonly=on",
        ],
        False,
    ),
]


B = "-blockdev"
# -blockdev format nodes over a file node: named earlier, or nested (and named
# as QEMU names nodes, counting on into the drives' names).
BLOCKDEVS: list[tuple[list[str], bool]] = [
    (
        [
            B,
            '{"driver":"file","filename":"<F>/v3.qcow2","node-name":"s"}',
            B,
            '{"driver":"qcow2","node-name":"f","file":"s"}',
            B,
            '{"driver":"raw","node-name":"r","file":{"driver":"file","filename":"<F>/r1.img"}}',
            "-device",
            "ide-hd,drive=f,id=d",
            "-device",
            "ide-hd,drive=r",
        ],
        False,
    ),
    (
        [
            B,
            "driver=raw,node-name=r,file.driver=file,file.filename=<F>/r1.img,file.node-name=ff",
            B,
            "driver=qcow2,node-name=q,file.driver=file,file.filename=<F>/v3.qcow2,read-only=on",
        ],
        False,
    ),
    (
        [
            B,
            '{"driver":"qcow2","node-name":"q","read-only":true,'
            '"file":{"driver":"file","filename":"<F>/lazy.qcow2","node-name":"qf"}}',
            D,
            "file=<F>/r2.img,format=raw,if=none,id=x",
            "-device",
            '{"driver":"ide-cd","drive":"q"}',
        ],
        False,
    ),
]


def _ask(process: QMPProcess) -> list[bytes]:
    conn: RawQMP = process.connect()
    try:
        conn.command(b'{"execute": "qmp_capabilities"}\n')
        return [_normal(conn.command(json.dumps(c).encode() + b"\n")) for c in QUESTIONS]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("options", "defaults"),
    DRIVES + BLOCKDEVS,
    ids=[" ".join(o) + (" (defaults)" if d else "") for o, d in DRIVES + BLOCKDEVS],
)
def test_drives_listed_as_qemu_lists_them(options: list[str], defaults: bool, images: Path) -> None:
    """The drives' backends (names, devices, trays), their format and protocol
    nodes (images read: raw and qcow2 sizes, qcow2's header), in QEMU's order."""
    options = [o.replace("<F>", str(images)) for o in options]
    if "-machine" not in options:
        options = ["-machine", "pc", *options]
    base = WITH_DEFAULTS if defaults else BASE_OPTIONS
    for qemu, ours in pair([*options, "-S"], base):
        assert _ask(ours) == _ask(qemu)
