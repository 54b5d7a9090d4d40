"""QEMU's qtest commands, carried out against a machine's test access.

:class:`QtestService` reads the requests a :class:`~.protocol.QtestConnection`
has received and answers each as QEMU 10.0's ``system/qtest.c`` does:

- ports: ``inb|inw|inl PORT`` (``OK 0x%04x``), ``outb|outw|outl PORT VALUE``;
- memory: ``readb|readw|readl|readq ADDR`` (``OK 0x%016x``),
  ``writeb|writew|writel|writeq ADDR VALUE``, ``read ADDR SIZE`` (``OK 0x`` and
  the bytes in hex), ``write ADDR SIZE 0xDATA`` (short data is padded with
  zeros; bad digits count as all-ones; under three characters: ``ERR invalid
  argument size``), ``b64read ADDR SIZE``, ``b64write ADDR SIZE B64`` (decoded
  as GLib does, in place), ``memset ADDR SIZE BYTE``;
- ``endianness`` (``OK little``);
- the virtual clock, under ``-accel qtest`` only: ``clock_step [NS]`` (to
  the next timer without NS), ``clock_set NS``; both answer the time reached;
- interrupts: ``irq_intercept_in|irq_intercept_out QOM-PATH [NAME]`` (one
  device per process, as QEMU keeps it), then ``IRQ raise|lower N`` lines as
  levels change; ``set_irq_in QOM-PATH NAME N LEVEL``;
- ``module_load PREFIX NAME``: the simulator has no modules (``FAIL``);
- anything else: ``FAIL Unknown command 'WORD'``.

Numbers are read as C's ``strtoul``/``strtoll`` with base 0 read them.  Where
QEMU would abort (a missing or malformed argument, a port above 0xffff, a
read of size 0, an empty line, a QOM path that names no device), the reply
is ``ERR`` and a reason, and the connection goes on; sizes above
:data:`MAX_TRANSFER` are refused the same way.
"""

from __future__ import annotations

from .numbers import strtoi, strtoi64, strtou64, strtoul
from .protocol import QtestConnection

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
    from typing import Protocol

    #: report(n, level): a level set on an intercepted line.
    IrqReport = Callable[[int, int], None]

    class IrqLine(Protocol):
        """An interrupt line."""

        def set(self, level: int) -> None:
            """Drive it to ``level``."""

    class GpioList(Protocol):
        """A device's inputs and outputs of one name."""

        name: str | None

        @property
        def inputs(self) -> Sequence[IrqLine]:
            """Its input lines, by number."""

        def intercept_inputs(self, report: IrqReport) -> None:
            """Report every level set on an input."""

        def intercept_outputs(self, report: IrqReport) -> None:
            """Report every level the device sets on an output."""

    class QomObject(Protocol):
        """An object found by QOM path."""

        is_device: bool

        @property
        def gpios(self) -> Sequence[GpioList]:
            """Its GPIO lists."""

        def gpio_list(self, name: str | None) -> GpioList | None:
            """Its list called ``name``."""

    class QtestTarget(Protocol):
        """What the service needs of the machine (``qapigen.machine.QtestAccess``)."""

        big_endian: bool

        @property
        def exited(self) -> bool:
            """Whether the emulator has exited."""

        @property
        def manual_clock(self) -> bool:
            """Whether the clock commands exist (``-accel qtest``)."""

        def batch(self) -> AbstractContextManager[None]:
            """The context of a batch of requests."""

        def io_read(self, port: int, size: int) -> int:
            """``in``."""

        def io_write(self, port: int, size: int, value: int) -> None:
            """``out``."""

        def memory_read(self, addr: int, length: int) -> bytes:
            """Read memory."""

        def memory_write(self, addr: int, data: bytes) -> None:
            """Write memory."""

        def memory_fill(self, addr: int, length: int, byte: int) -> None:
            """Fill memory with a byte."""

        def clock_ns(self) -> int:
            """The virtual time."""

        def clock_deadline(self) -> int | None:
            """Nanoseconds to the next timer, or None."""

        def clock_step(self, ns: int) -> int:
            """Move the clock on by ``ns``; the time reached."""

        def clock_set(self, ns: int) -> int:
            """Move the clock on to ``ns``; the time reached."""

        def find(self, path: str) -> QomObject | None:
            """The object at a QOM path."""


#: The largest ``read``, ``b64read``, ``write`` or ``b64write`` served (bytes).
MAX_TRANSFER = 16 << 20

_SIZES = {"b": 1, "w": 2, "l": 4, "q": 8}


class _Refused(Exception):
    """A request QEMU would abort on: answered ``ERR reason``."""


def _arg(words: Sequence[str], count: int) -> None:
    if len(words) <= count:
        raise _Refused(f"'{words[0]}' needs {count} argument{'s' if count > 1 else ''}")


def _number(parse: Callable[[str], int | None], word: str) -> int:
    value = parse(word)
    if value is None:
        raise _Refused(f"invalid number '{word}'")
    return value


def _size(word: str) -> int:
    size = _number(strtou64, word)
    if size > MAX_TRANSFER:
        raise _Refused(f"size {size} is above the simulator's limit of {MAX_TRANSFER}")
    return size


def _write_request(words: Sequence[str]) -> tuple[int, int, str]:
    """The address, size and data word of a ``write`` or ``b64write``."""
    _arg(words, 3)
    addr = _number(strtou64, words[1])
    size = _size(words[2])
    if len(words[3]) < 3:
        raise _Refused("invalid argument size")
    return addr, size, words[3]


def _hex_nibble(char: str) -> int:
    try:
        return int(char, 16)
    except ValueError:
        return -1  # QEMU's hex2nib(): all bits set once shifted and or-ed


def _glib_base64_decode(text: str) -> bytes:
    # GLib's g_base64_decode_step(): characters outside the alphabet are
    # skipped, '=' counts as a zero digit and drops the bytes it pads, and an
    # incomplete final group is dropped.
    out = bytearray()
    value = count = 0
    last = prev = ""
    for char in text:
        rank = _B64_RANK.get(char)
        if rank is None:
            continue
        prev, last = last, char
        value = (value << 6 | rank) & 0xFFFFFF
        count += 1
        if count == 4:
            out.append(value >> 16)
            if prev != "=":
                out.append(value >> 8 & 0xFF)
            if last != "=":
                out.append(value & 0xFF)
            count = 0
    return bytes(out)


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_RANK = {c: i for i, c in enumerate(_B64_ALPHABET)} | {"=": 0}


class QtestService:
    """Answers qtest requests against ``target``, for one connection at a time."""

    def __init__(self, target: QtestTarget) -> None:
        self.target = target
        self._intercepted: QomObject | None = None
        self._conn: QtestConnection | None = None
        #: Called when a connection has output outside :meth:`received` (an
        #: interrupt line that changed while the machine served QMP).
        self.notify: Callable[[], None] | None = None

    def connection(self, log: Callable[[str], None] | None = None) -> QtestConnection:
        """The protocol state of a new connection (the one IRQ lines go to)."""
        return self.adopt(QtestConnection(log))

    def adopt(self, conn: QtestConnection) -> QtestConnection:
        """Serve ``conn`` (made before the service): IRQ lines go to it."""
        self._conn = conn
        return conn

    def received(self, conn: QtestConnection, data: bytes) -> None:
        """Carry out the requests ``data`` completes, as one batch (the machine's
        main loop runs after it), and queue their replies.

        Nothing is answered once the machine has exited; a request during
        which it exits at once (a watchdog's poweroff) gets no reply.
        """
        if self.target.exited:
            return
        conn.receive_data(data)
        with self.target.batch():
            while (words := conn.next_request()) is not None:
                reply = self._reply(conn, words)
                if self.target.exited:
                    return
                conn.send(reply)

    def _irq(self, n: int, level: int) -> None:
        if self._conn is not None:
            self._conn.irq(n, level)
            if self.notify is not None:
                self.notify()

    # -- the commands -----------------------------------------------------------------

    def _reply(self, conn: QtestConnection, words: list[str]) -> str:
        try:
            return self._command(conn, words)
        except _Refused as why:
            return f"ERR {why}"

    def _command(self, conn: QtestConnection, words: list[str]) -> str:
        if not words:
            raise _Refused("empty request")
        command = words[0]
        target = self.target
        if command in ("irq_intercept_out", "irq_intercept_in"):
            return self._irq_intercept(words, outbound=command == "irq_intercept_out")
        if command == "set_irq_in":
            return self._set_irq_in(words)
        if command in ("outb", "outw", "outl"):
            _arg(words, 2)
            port = _number(strtoul, words[1])
            value = _number(strtoul, words[2])
            if port > 0xFFFF:
                raise _Refused(f"port {port:#x} is above 0xffff")
            target.io_write(port, _SIZES[command[3]], value)
            return "OK"
        if command in ("inb", "inw", "inl"):
            _arg(words, 1)
            port = _number(strtoul, words[1])
            if port > 0xFFFF:
                raise _Refused(f"port {port:#x} is above 0xffff")
            return f"OK 0x{target.io_read(port, _SIZES[command[2]]):04x}"
        if command in ("writeb", "writew", "writel", "writeq"):
            _arg(words, 2)
            addr = _number(strtou64, words[1])
            value = _number(strtou64, words[2])
            size = _SIZES[command[5]]
            target.memory_write(addr, (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"))
            return "OK"
        if command in ("readb", "readw", "readl", "readq"):
            _arg(words, 1)
            addr = _number(strtou64, words[1])
            data = target.memory_read(addr, _SIZES[command[4]])
            return f"OK 0x{int.from_bytes(data, 'little'):016x}"
        if command == "read":
            _arg(words, 2)
            addr = _number(strtou64, words[1])
            size = _size(words[2])
            if not size:
                raise _Refused("size 0")
            return "OK 0x" + target.memory_read(addr, size).hex()
        if command == "b64read":
            _arg(words, 2)
            addr = _number(strtou64, words[1])
            size = _size(words[2])
            import base64  # here: most runs never need it

            return "OK " + base64.b64encode(target.memory_read(addr, size)).decode("ascii")
        if command == "write":
            return self._write(words)
        if command == "memset":
            _arg(words, 3)
            addr = _number(strtou64, words[1])
            size = _number(strtou64, words[2])
            pattern = _number(strtoul, words[3])
            if size:
                target.memory_fill(addr, size, pattern & 0xFF)
            return "OK"
        if command == "b64write":
            return self._b64write(conn, words)
        if command == "endianness":
            return "OK big" if target.big_endian else "OK little"
        if target.manual_clock and command == "clock_step":
            return self._clock_step(words)
        if command == "module_load":
            _arg(words, 2)
            return "FAIL"  # the simulator has no loadable modules
        if target.manual_clock and command == "clock_set":
            _arg(words, 1)
            ns = _number(strtoi64, words[1])
            reached = target.clock_set(ns)
            return f"{'OK' if reached == ns else 'FAIL'} {reached}"
        return f"FAIL Unknown command '{command}'"

    def _write(self, words: list[str]) -> str:
        addr, size, data_word = _write_request(words)
        data = bytearray(size)
        for i in range(size):
            if i * 2 + 4 <= len(data_word):
                high = _hex_nibble(data_word[i * 2 + 2])
                low = _hex_nibble(data_word[i * 2 + 3])
                data[i] = (high << 4 | low) & 0xFF
        self.target.memory_write(addr, bytes(data))
        return "OK"

    def _b64write(self, conn: QtestConnection, words: list[str]) -> str:
        addr, size, text = _write_request(words)
        decoded = _glib_base64_decode(text)
        if len(decoded) != size:
            conn.note(f"b64write: data length mismatch (told {size}, found {len(decoded)})")
        # QEMU decodes in place and writes SIZE bytes of that buffer: past the
        # decoded bytes come the word's own remaining characters, then its NUL
        # (and past that whatever follows in QEMU's heap: zeros here).
        buffer = decoded + text.encode("latin-1")[len(decoded) :] + b"\0"
        self.target.memory_write(addr, buffer[:size].ljust(size, b"\0"))
        return "OK"

    def _clock_step(self, words: list[str]) -> str:
        target = self.target
        before = target.clock_ns()
        if len(words) > 1:
            ns = _number(strtoi64, words[1])
        else:
            deadline = target.clock_deadline()
            if deadline is None:
                return (
                    "FAIL cannot advance clock to the next deadline "
                    "because there is no pending deadline"
                )
            ns = deadline
        reached = target.clock_step(ns)
        return f"OK {reached}" if reached > before else "FAIL could not advance time"

    def _device(self, path: str) -> QomObject | None:
        found = self.target.find(path)
        if found is not None and not found.is_device:
            raise _Refused(f"'{path}' is not a device")
        return found

    def _irq_intercept(self, words: list[str], *, outbound: bool) -> str:
        _arg(words, 1)
        dev = self._device(words[1])
        if dev is None:
            return "FAIL Unknown device"
        name = words[2] if len(words) > 2 else None
        if name is not None and not outbound:
            return "FAIL Interception of named in-GPIOs not yet supported"
        if self._intercepted is not None:
            return "OK" if self._intercepted is dev else "FAIL IRQ intercept already enabled"
        installed = False
        for gpios in dev.gpios:
            if outbound:
                if gpios.name == name:
                    gpios.intercept_outputs(self._irq)
                    installed = True
            else:
                gpios.intercept_inputs(self._irq)
                installed = True
        if not installed:
            return "FAIL No intercepts installed"
        self._intercepted = dev
        return "OK"

    def _set_irq_in(self, words: list[str]) -> str:
        _arg(words, 4)
        dev = self._device(words[1])
        if dev is None:
            return "FAIL Unknown device"
        name = None if words[2] == "unnamed-gpio-in" else words[2]
        n = _number(strtoi, words[3])
        level = _number(strtoi, words[4])
        gpios = dev.gpio_list(name)
        if gpios is None or not 0 <= n < len(gpios.inputs):
            raise _Refused(f"no input {n} in {words[2]!r} of '{words[1]}'")
        gpios.inputs[n].set(level)
        return "OK"
