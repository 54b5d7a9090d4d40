"""Disk images for ``-drive`` and ``-blockdev`` tests, written from their formats'
specifications (no qemu-img needed): a sparse raw image, and an empty qcow2
image laid out as qemu-img lays out a small one (header, refcount table,
refcount block, L1 table, a 64 KiB cluster each)."""

from __future__ import annotations

import struct
from pathlib import Path

_CLUSTER = 1 << 16


def raw_image(path: Path, size: int) -> Path:
    """A sparse raw image of ``size`` bytes."""
    with open(path, "wb") as image:
        image.truncate(size)
    return path


def qcow2_image(path: Path, size: int, *, version: int = 3, lazy_refcounts: bool = False) -> Path:
    """An empty qcow2 image (version 2 or 3) whose guest sees ``size`` bytes."""
    header = struct.pack(
        ">IIQIIQIIQQIIQ",
        0x514649FB,  # magic "QFI\xfb"
        version,
        0,  # no backing file
        0,
        16,  # cluster_bits: 64 KiB clusters
        size,
        0,  # no encryption
        1,  # l1_size
        3 * _CLUSTER,  # l1_table_offset
        _CLUSTER,  # refcount_table_offset
        1,  # refcount_table_clusters
        0,  # no snapshots
        0,
    )
    if version == 3:
        # incompatible, compatible (lazy refcounts), autoclear features;
        # refcount_order 4 (16-bit counts); header length.
        header += struct.pack(">QQQII", 0, int(lazy_refcounts), 0, 4, 104)
    data = bytearray(4 * _CLUSTER)
    data[: len(header)] = header
    data[_CLUSTER : _CLUSTER + 8] = struct.pack(">Q", 2 * _CLUSTER)
    for cluster in range(4):  # each of the four clusters is used once
        data[2 * _CLUSTER + 2 * cluster : 2 * _CLUSTER + 2 * cluster + 2] = struct.pack(">H", 1)
    path.write_bytes(bytes(data))
    return path
