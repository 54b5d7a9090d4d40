"""Address spaces and the regions devices put in them: QEMU's memory API, small.

A device serves accesses to a stretch of an address space through a
:class:`Region`: its ``read(offset, size)`` and ``write(offset, value, size)``,
with the access sizes it implements (``impl_min``/``impl_max``) and the
sizes it accepts (``valid_max``).  An :class:`AddressSpace` (the I/O ports,
the memory) finds the region at an address, splits an access the way QEMU's
memory core does, and serves the rest from its background region (unassigned
ports read all-ones, unassigned memory reads 0).  RAM is a region whose bytes
are stored rather than computed.

What QEMU does and this model keeps:

- an access to a device region is not cut at the region's end: a 4-byte
  ``inl`` at the ISA pvpanic port (a 1-byte region) is four 1-byte reads of
  that register, as the region's device decides, not one byte of it and three
  of its neighbours; RAM accesses are cut at the end of the RAM;
- the width of each access is the largest power of two that the region
  accepts (``valid_max``, 4 when unset), that the address's alignment in the
  region allows (unless the region takes unaligned accesses) and that the
  remaining length allows;
- a device that implements narrower accesses than it is given gets several,
  assembled little-endian (every device here is little-endian, as x86 is);
- where regions overlap, the one of higher priority wins, and among equal
  priorities the one added last.
"""

from __future__ import annotations

import bisect

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class Region:
    """A stretch of an address space that a device serves (QEMU's MemoryRegion).

    Subclasses override :meth:`read` and :meth:`write`; offsets are relative
    to the region's start.
    """

    __slots__ = ("impl_max", "impl_min", "name", "size", "unaligned", "valid_max")

    #: Whether accesses copy bytes (RAM) rather than call the device.
    is_ram = False

    def __init__(
        self,
        name: str,
        size: int,
        *,
        impl_min: int = 1,
        impl_max: int = 4,
        valid_max: int = 4,
        unaligned: bool = False,
    ) -> None:
        self.name = name
        self.size = size
        #: The narrowest and widest accesses the device implements.
        self.impl_min = impl_min
        self.impl_max = impl_max
        #: The widest access the region accepts (wider ones are split).
        self.valid_max = valid_max
        #: Whether unaligned accesses reach the device as they are.
        self.unaligned = unaligned

    def read(self, offset: int, size: int) -> int:
        """A read of ``size`` bytes at ``offset``."""
        raise NotImplementedError

    def write(self, offset: int, value: int, size: int) -> None:
        """A write of ``size`` bytes at ``offset``."""
        raise NotImplementedError

    def accepts(self, offset: int, size: int) -> bool:
        """Whether the region takes this access at all (unassigned memory takes none)."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, size={self.size:#x})"


class UnassignedIO(Region):
    """Ports no device decodes: reads give all-ones, writes are dropped."""

    __slots__ = ()

    def read(self, offset: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def write(self, offset: int, value: int, size: int) -> None:
        pass


class UnassignedMemory(Region):
    """Memory nothing decodes: refuses every access, so reads give 0."""

    __slots__ = ()

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, value: int, size: int) -> None:
        pass

    def accepts(self, offset: int, size: int) -> bool:
        return False


#: The size of a RAM page: RAM is stored page by page, only where written.
PAGE = 4096


class Ram(Region):
    """Guest RAM: zero until written; only the pages written take memory."""

    __slots__ = ("_pages",)

    is_ram = True

    def __init__(self, name: str, size: int) -> None:
        super().__init__(name, size)
        self._pages: dict[int, bytearray] = {}

    def read_bytes(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (within the RAM)."""
        out = bytearray()
        while length > 0:
            page, start = divmod(offset, PAGE)
            n = min(length, PAGE - start)
            data = self._pages.get(page)
            out += bytes(n) if data is None else data[start : start + n]
            offset += n
            length -= n
        return bytes(out)

    def write_bytes(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at ``offset`` (within the RAM)."""
        view = memoryview(data)
        while view:
            page, start = divmod(offset, PAGE)
            n = min(len(view), PAGE - start)
            chunk = view[:n]
            stored = self._pages.get(page)
            if stored is None:
                if not any(chunk):
                    offset += n
                    view = view[n:]
                    continue  # zeros on a page never written: nothing to keep
                stored = self._pages[page] = bytearray(PAGE)
            stored[start : start + n] = chunk
            offset += n
            view = view[n:]

    def stored_pages(self, offset: int, length: int) -> list[tuple[int, bytes]]:
        """The pages ever written that overlap ``length`` bytes from ``offset``:
        (offset in the RAM, the bytes of the page within the range), in order.
        Everything else in the range reads as zeros."""
        end = offset + length
        first, last = offset // PAGE, (end - 1) // PAGE
        pages = []
        for page in sorted(p for p in self._pages if first <= p <= last):
            start = max(page * PAGE, offset)
            stop = min(page * PAGE + PAGE, end)
            data = self._pages[page]
            pages.append((start, bytes(data[start - page * PAGE : stop - page * PAGE])))
        return pages

    def fill(self, offset: int, length: int, byte: int) -> None:
        """Set ``length`` bytes from ``offset`` to ``byte``."""
        while length > 0:
            page, start = divmod(offset, PAGE)
            n = min(length, PAGE - start)
            if byte == 0 and n == PAGE:
                self._pages.pop(page, None)  # a whole page of zeros is a page never written
            else:
                self.write_bytes(offset, bytes([byte]) * n)
            offset += n
            length -= n

    def read(self, offset: int, size: int) -> int:
        return int.from_bytes(self.read_bytes(offset, size), "little")

    def write(self, offset: int, value: int, size: int) -> None:
        self.write_bytes(offset, value.to_bytes(size, "little"))


class _Mapping:
    __slots__ = ("base", "priority", "region", "seq")

    def __init__(self, base: int, region: Region, priority: int, seq: int) -> None:
        self.base = base
        self.region = region
        self.priority = priority
        self.seq = seq


def _pow2floor(n: int) -> int:
    return 1 << (n.bit_length() - 1)


_ADDRESS_END = 1 << 64


class AddressSpace:
    """An address space of ``size`` bytes: regions mapped at addresses, over a background.

    Addresses are 64-bit and wrap around at 2**64; past ``size`` (the I/O
    space's 0x10000) nothing decodes, so reads there give 0 (QEMU: ``inw 0xffff``
    is 0x00ff).
    """

    def __init__(self, name: str, size: int, background: Region) -> None:
        self.name = name
        self.size = size
        self._background = background
        beyond = _ADDRESS_END - size
        self._beyond = UnassignedMemory("beyond", beyond) if beyond else None
        self._mappings: list[_Mapping] = []
        self._seq = 0
        # The flat view: sorted starts, and for each stretch its mapping (None:
        # background); made anew when first needed after the map changed.
        self._starts: list[int] = [0]
        self._owners: list[_Mapping | None] = [None]
        self._stale = False

    # -- the map ---------------------------------------------------------------------

    def map(self, base: int, region: Region, priority: int = 0) -> None:
        """Put ``region`` at ``base`` (over lower priorities and earlier equals)."""
        self._seq += 1
        self._mappings.append(_Mapping(base, region, priority, self._seq))
        self._stale = True

    def unmap(self, region: Region) -> None:
        """Take ``region`` out (it must be mapped)."""
        self._mappings = [m for m in self._mappings if m.region is not region]
        self._stale = True

    def base_of(self, region: Region) -> int | None:
        """Where ``region`` is mapped, or None."""
        for mapping in self._mappings:
            if mapping.region is region:
                return mapping.base
        return None

    def _render(self) -> None:
        # Paint the regions from the lowest priority (and earliest) up: the last
        # painted owns each byte, as QEMU's flat view gives it.
        edges = {0}
        for m in self._mappings:
            edges.add(m.base)
            edges.add(min(m.base + m.region.size, self.size))
        starts = sorted(e for e in edges if e < self.size)
        owners: list[_Mapping | None] = [None] * len(starts)
        for m in sorted(self._mappings, key=lambda m: (m.priority, m.seq)):
            end = m.base + m.region.size
            i = bisect.bisect_left(starts, m.base)
            while i < len(starts) and starts[i] < end:
                owners[i] = m
                i += 1
        # Merge neighbouring stretches with the same owner.
        self._starts, self._owners = [], []
        for start, owner in zip(starts, owners, strict=True):
            if self._owners and self._owners[-1] is owner:
                continue
            self._starts.append(start)
            self._owners.append(owner)

    def _lookup(self, addr: int) -> tuple[Region, int, int]:
        """The region at ``addr``, the offset of ``addr`` in it, and where its stretch ends."""
        if addr >= self.size:
            assert self._beyond is not None
            return self._beyond, addr - self.size, _ADDRESS_END
        if self._stale:
            self._render()
            self._stale = False
        i = bisect.bisect_right(self._starts, addr) - 1
        end = self._starts[i + 1] if i + 1 < len(self._starts) else self.size
        owner = self._owners[i]
        if owner is None:
            return self._background, addr, end
        return owner.region, addr - owner.base, end

    # -- accesses ----------------------------------------------------------------------

    def read(self, addr: int, length: int) -> bytes:
        """``length`` bytes from ``addr``, as the CPU or a test reads them."""
        out = bytearray()
        addr %= _ADDRESS_END
        while length > 0:
            region, offset, end = self._lookup(addr)
            if region.is_ram:
                assert isinstance(region, Ram)
                n = min(length, end - addr)
                out += region.read_bytes(offset, n)
            elif type(region) is UnassignedMemory or type(region) is UnassignedIO:
                # Every access in the stretch reads the same: all of it at once.
                n = min(length, end - addr)
                out += (b"\xff" if type(region) is UnassignedIO else b"\0") * n
            else:
                n = _access_size(region, length, offset)
                out += _dispatch_read(region, offset, n).to_bytes(n, "little")
            addr = (addr + n) % _ADDRESS_END
            length -= n
        return bytes(out)

    def write(self, addr: int, data: bytes | bytearray) -> None:
        """Write ``data`` at ``addr``."""
        view = memoryview(data)
        addr %= _ADDRESS_END
        while view:
            region, offset, end = self._lookup(addr)
            if region.is_ram:
                assert isinstance(region, Ram)
                n = min(len(view), end - addr)
                region.write_bytes(offset, view[:n])
            elif type(region) is UnassignedMemory or type(region) is UnassignedIO:
                n = min(len(view), end - addr)  # dropped, however long
            else:
                n = _access_size(region, len(view), offset)
                _dispatch_write(region, offset, int.from_bytes(view[:n], "little"), n)
            addr = (addr + n) % _ADDRESS_END
            view = view[n:]

    def fill(self, addr: int, length: int, byte: int) -> None:
        """Write ``length`` copies of ``byte`` from ``addr`` (without building them all)."""
        addr %= _ADDRESS_END
        while length > 0:
            region, offset, end = self._lookup(addr)
            n = min(length, end - addr)
            if region.is_ram:
                assert isinstance(region, Ram)
                region.fill(offset, n, byte)
            elif type(region) is UnassignedMemory or type(region) is UnassignedIO:
                pass  # dropped, however long
            else:
                n = _access_size(region, length, offset)
                _dispatch_write(region, offset, int.from_bytes(bytes([byte]) * n, "little"), n)
            addr = (addr + n) % _ADDRESS_END
            length -= n

    def read_int(self, addr: int, size: int) -> int:
        """A little-endian value of ``size`` bytes at ``addr`` (``inb``/``inw``/``inl``)."""
        return int.from_bytes(self.read(addr, size), "little")

    def write_int(self, addr: int, size: int, value: int) -> None:
        """Write the low ``size`` bytes of ``value`` at ``addr``, little-endian."""
        self.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def regions(self) -> Sequence[tuple[int, Region]]:
        """The mapped regions and their bases, in mapping order."""
        return [(m.base, m.region) for m in self._mappings]


def _access_size(region: Region, length: int, offset: int) -> int:
    # QEMU's memory_access_size().
    limit = region.valid_max
    if not region.unaligned:
        align = offset & -offset
        if align and align < limit:
            limit = align
    return _pow2floor(min(length, limit))


def _dispatch_read(region: Region, offset: int, size: int) -> int:
    if not region.accepts(offset, size):
        return 0
    if not region.unaligned and offset & (size - 1):
        return 0  # QEMU refuses an unaligned access to such a region
    step = max(min(size, region.impl_max), region.impl_min)
    mask = (1 << (8 * step)) - 1
    value = 0
    for i in range(0, size, step):
        value |= (region.read(offset + i, step) & mask) << (8 * i)
    return value & ((1 << (8 * size)) - 1)


def _dispatch_write(region: Region, offset: int, value: int, size: int) -> None:
    if not region.accepts(offset, size):
        return
    if not region.unaligned and offset & (size - 1):
        return
    step = max(min(size, region.impl_max), region.impl_min)
    mask = (1 << (8 * step)) - 1
    for i in range(0, size, step):
        region.write(offset + i, (value >> (8 * i)) & mask, step)


class Port:
    """One entry of a :class:`PortioList`: ``length`` ports from ``offset``,
    served for accesses of exactly ``size`` bytes (QEMU's MemoryRegionPortio)."""

    __slots__ = ("length", "offset", "read", "size", "write")

    def __init__(
        self,
        offset: int,
        length: int,
        size: int,
        *,
        read: Callable[[int], int] | None = None,
        write: Callable[[int, int], None] | None = None,
    ) -> None:
        self.offset = offset
        self.length = length
        self.size = size
        #: read(port) -> value; write(port, value).  Ports are absolute.
        self.read = read
        self.write = write


class PortioList(Region):
    """Old-style I/O ports: handlers by port and access size (QEMU's portio lists).

    An access of a size no entry serves reads all-ones and is dropped, except
    a 2-byte access where a 1-byte entry serves the first port: then it is
    two 1-byte accesses (the second only if that entry covers the next port).
    """

    __slots__ = ("_ports", "base")

    def __init__(self, name: str, base: int, ports: Sequence[Port]) -> None:
        end = max(p.offset + p.length for p in ports)
        super().__init__(name, end - base, valid_max=4, impl_max=4, unaligned=True)
        #: The first port of the list; the region is mapped there.
        self.base = base
        self._ports = tuple(ports)

    def _find(self, port: int, size: int, write: bool) -> Port | None:
        for p in self._ports:
            served = p.offset <= port < p.offset + p.length and p.size == size
            if served and (p.write if write else p.read) is not None:
                return p
        return None

    def read(self, offset: int, size: int) -> int:
        port = self.base + offset
        entry = self._find(port, size, write=False)
        if entry is not None and entry.read is not None:
            return entry.read(port)
        value = (1 << (8 * size)) - 1
        if size == 2:
            entry = self._find(port, 1, write=False)
            if entry is not None and entry.read is not None:
                value = entry.read(port)
                if port + 1 < entry.offset + entry.length:
                    value |= entry.read(port + 1) << 8
                else:
                    value |= 0xFF00
        return value

    def write(self, offset: int, value: int, size: int) -> None:
        port = self.base + offset
        entry = self._find(port, size, write=True)
        if entry is not None and entry.write is not None:
            entry.write(port, value)
            return
        if size == 2:
            entry = self._find(port, 1, write=True)
            if entry is not None and entry.write is not None:
                entry.write(port, value & 0xFF)
                if port + 1 < entry.offset + entry.length:
                    entry.write(port + 1, value >> 8)
