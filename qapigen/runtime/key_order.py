"""The orders in which QEMU meets a JSON object's keys, where a message names one.

QEMU holds a JSON object in a ``QDict`` (``qobject/qdict.c``): 512 buckets,
chosen by ``tdb_hash`` of the key's (modified UTF-8) bytes, each a list with
the key inserted last at its head; iteration goes bucket by bucket.  The JSON
writer writes members in that order, and ``qmp_dispatch()`` checks a request's
members in it (:func:`qdict_order`).

Its QAPI input visitor (``qapi/qobject-input-visitor.c``) copies the keys of an
object, in that order, into a GLib ``GHashTable`` keyed by ``g_str_hash``,
removes each member as it visits it, and, once the struct's members are done,
reports the first key still in the table, in the table's own order, as
``Parameter 'KEY' is unexpected`` (:func:`first_unexpected`).  QOM keeps an
object's children in such a table too (:func:`ghash_order`).  That order is
GLib 2.74's (the GLib Debian's QEMU 10.0.2 runs on): open addressing over
``2**shift`` slots, the first probe at ``(hash * 11) % prime_mod[shift]``, then
triangular steps; a removed key leaves a tombstone; the table grows or shrinks
in place (entries move in slot order, a moved entry evicting the one in its new
slot) once it is more than 15/16 occupied (tombstones included) or less than a
quarter full; iteration goes slot by slot.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["first_unexpected", "ghash_order", "qdict_order"]

_QDICT_BUCKETS = 512


class _Remembered(dict[str, int]):
    """A function's results by argument, emptied when full: replies and requests
    have few keys.  Not functools.lru_cache: this module is on ``qapigen vm``'s
    start path, which does without functools and collections."""

    __slots__ = ("_compute",)
    SIZE = 4096

    def __init__(self, compute: Callable[[str], int]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> int:
        if len(self) >= self.SIZE:
            self.clear()
        value = self[key] = self._compute(key)
        return value


def _c_string(key: str) -> bytes:
    """The bytes QEMU keeps for ``key``: UTF-8, with U+0000 as C0 80."""
    return key.encode("utf-8", "surrogatepass").replace(b"\0", b"\xc0\x80")


def _tdb_bucket(key: str) -> int:
    """The bucket of ``key`` in a QEMU QDict: ``tdb_hash`` over its modified UTF-8."""
    raw = _c_string(key)
    value = 0x238F13AF * len(raw)
    if len(raw) <= 48:
        for i, byte in enumerate(raw):
            value += byte << (i * 5 % 24)
    else:
        # The shift repeats every 24 bytes: add each residue class at once.
        for r in range(24):
            value += sum(raw[r::24]) << (r * 5 % 24)
    return ((1103515243 * value + 12345) & 0xFFFFFFFF) % _QDICT_BUCKETS


_qdict_bucket = _Remembered(_tdb_bucket).__getitem__


# Key sequences whose order is remembered: replies and requests have few
# shapes.  (Short ones only, so that what is kept stays small.)
_ORDERS_KEPT = 1024
_KEPT_KEYS = 16
_KEPT_CHARS = 256
_kept: dict[tuple[str, ...], tuple[str, ...]] = {}


def qdict_order(members: Iterable[str]) -> list[str]:
    """The keys of ``members`` in the order QEMU iterates a QDict of them.

    Buckets in ascending order; within a bucket the key inserted last comes
    first, the iteration order of ``members`` standing for QEMU's insertion order.
    """
    keys = tuple(members)
    if len(keys) < 2:
        return list(keys)
    if len(keys) <= _KEPT_KEYS and sum(map(len, keys)) <= _KEPT_CHARS:
        kept = _kept.get(keys)
        if kept is None:
            if len(_kept) >= _ORDERS_KEPT:
                _kept.clear()
            kept = _kept[keys] = tuple(_order(keys))
        return list(kept)
    return _order(keys)


def _order(keys: tuple[str, ...]) -> list[str]:
    buckets = [_qdict_bucket(key) for key in keys]
    order = sorted(range(len(keys)), key=lambda i: (buckets[i], -i))
    return [keys[i] for i in order]


def _djb2(key: str) -> int:
    """GLib's ``g_str_hash``: djb2 over the key's bytes taken as *signed* chars."""
    value = 5381
    for byte in _c_string(key):
        value = (value * 33 + (byte - 256 if byte > 127 else byte)) & 0xFFFFFFFF
    # 0 and 1 mark empty slots and tombstones: GLib stores such a hash as 2.
    return value if value > 1 else 2


_str_hash = _Remembered(_djb2).__getitem__


# The prime below each table size 2**shift; the first probe is taken modulo it.
_PRIME_MOD = (
    *(1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521),
    *(131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393),
    *(67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647),
)
_MIN_SHIFT = 3
_UNUSED, _TOMBSTONE = 0, 1


class _KeyTable:
    """A GLib 2.74 ``GHashTable`` of string keys, as far as its slot layout goes."""

    __slots__ = ("hashes", "keys", "mask", "mod", "nnodes", "noccupied", "size")

    def __init__(self) -> None:
        self._set_shift(_MIN_SHIFT)
        self.hashes = [_UNUSED] * self.size
        self.keys: list[str | None] = [None] * self.size
        self.nnodes = 0
        self.noccupied = 0  # nnodes and tombstones

    def _set_shift(self, shift: int) -> None:
        self.size = 1 << shift
        self.mod = _PRIME_MOD[shift]
        self.mask = self.size - 1

    def _first_probe(self, hash_value: int) -> int:
        return (hash_value * 11 & 0xFFFFFFFF) % self.mod  # guint arithmetic

    def _lookup(self, key: str, hash_value: int) -> int:
        """The slot holding ``key``, else the first tombstone on its path, else
        the empty slot that ends the path."""
        index = self._first_probe(hash_value)
        tombstone = -1
        step = 0
        hashes = self.hashes
        while hashes[index] != _UNUSED:
            if hashes[index] == hash_value and self.keys[index] == key:
                return index
            if hashes[index] == _TOMBSTONE and tombstone < 0:
                tombstone = index
            step += 1
            index = (index + step) & self.mask
        return tombstone if tombstone >= 0 else index

    def insert(self, key: str) -> None:
        """Add ``key`` (not in the table yet)."""
        hash_value = _str_hash(key)
        index = self._lookup(key, hash_value)
        was_unused = self.hashes[index] == _UNUSED
        self.hashes[index] = hash_value
        self.keys[index] = key
        self.nnodes += 1
        if was_unused:
            self.noccupied += 1
            self._maybe_resize()

    def remove(self, key: str) -> None:
        """Take ``key`` out, leaving a tombstone (nothing happens if it is absent)."""
        index = self._lookup(key, _str_hash(key))
        if self.hashes[index] <= _TOMBSTONE:
            return
        self.hashes[index] = _TOMBSTONE
        self.keys[index] = None
        self.nnodes -= 1
        self._maybe_resize()

    def first(self) -> str | None:
        """The first key in iteration (slot) order."""
        for index, hash_value in enumerate(self.hashes):
            if hash_value > _TOMBSTONE:
                return self.keys[index]
        return None

    def _maybe_resize(self) -> None:
        size, noccupied = self.size, self.noccupied
        if (size > self.nnodes * 4 and size > 1 << _MIN_SHIFT) or (
            size <= noccupied + noccupied // 16
        ):
            self._resize()

    def _resize(self) -> None:
        old_size = self.size
        # GLib sizes the table for nnodes * 1.333 (a double, truncated).
        self._set_shift(max(int(self.nnodes * 1.333).bit_length(), _MIN_SHIFT))
        hashes, keys = self.hashes, self.keys
        if self.size > old_size:
            hashes.extend([_UNUSED] * (self.size - old_size))
            keys.extend([None] * (self.size - old_size))
        moved = [False] * max(self.size, old_size)
        for i in range(old_size):
            node_hash = hashes[i]
            if node_hash <= _TOMBSTONE:
                hashes[i] = _UNUSED
                continue
            if moved[i]:
                continue
            hashes[i] = _UNUSED
            key, keys[i] = keys[i], None
            # Move the entry to its slot in the new layout; one that was there
            # and has not been moved yet is evicted and moved in turn.
            while True:
                index = self._first_probe(node_hash)
                step = 0
                while moved[index]:
                    step += 1
                    index = (index + step) & self.mask
                moved[index] = True
                evicted_hash = hashes[index]
                hashes[index] = node_hash
                if evicted_hash <= _TOMBSTONE:
                    keys[index] = key
                    break
                node_hash = evicted_hash
                key, keys[index] = keys[index], key
        if self.size < old_size:
            del hashes[self.size :]
            del keys[self.size :]
        self.noccupied = self.nnodes


def first_unexpected(members: Iterable[str], visited: Iterable[str]) -> str | None:
    """The key QEMU's input visitor reports as unexpected, or None when none is left.

    ``members`` are the object's keys in insertion order (a JSON object's text
    order); ``visited`` the members the visitor consumed, in the order it visited
    them (the struct's members in schema order, base first, as far as present).
    """
    keys = list(members)
    visited = list(visited)
    left = set(keys).difference(visited)
    if not left:
        return None
    if len(left) == 1:
        return next(iter(left))
    table = _KeyTable()
    for key in qdict_order(keys):
        table.insert(key)
    for key in visited:
        table.remove(key)
    return table.first()


def ghash_order(keys: Iterable[str]) -> list[str]:
    """The order in which GLib 2.74 iterates a ``GHashTable`` of string keys
    (``g_str_hash``) that were inserted in the order of ``keys`` and never removed:
    QOM's order for an object's own properties."""
    table = _KeyTable()
    for key in keys:
        table.insert(key)
    return [
        key
        for hash_value, key in zip(table.hashes, table.keys, strict=True)
        if hash_value > _TOMBSTONE and key is not None
    ]
