"""The qtest protocol core: framing, the log, interrupt lines, and every command's
reply, against a simulated machine, without sockets.

Expected replies are QEMU 10.0.2's as observed; ``tests/qtest/test_qtest_qemu.py``
sends the same kinds of requests to a running QEMU and to ``qapigen vm`` side by
side.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from qapigen.machine import CommandLine, Machine
from qapigen.qtest.numbers import strtoi, strtoi64, strtou64
from qapigen.qtest.protocol import QtestConnection
from qapigen.qtest.service import MAX_TRANSFER, QtestService


class Session:
    """A machine, a qtest service and one open connection, with its log."""

    def __init__(self, *options: tuple[str, ...], qtest_accel: bool = True) -> None:
        cl = CommandLine()
        if qtest_accel:
            cl.accel("qtest")
        for opt in options:
            getattr(cl, opt[0])(*opt[1:])
        self.machine = Machine(cl.build())
        self.events: list[tuple[str, Any]] = []
        self.machine.subscribe(
            lambda e, t: self.events.append((e.NAME, e.to_wire() if e.HAS_DATA else None))
        )
        self.log: list[str] = []
        self.service = QtestService(self.machine.qtest_access)
        self.conn = self.service.connection(self.log.append)
        self.conn.opened()

    def send(self, data: bytes) -> list[str]:
        """The lines sent back for ``data``."""
        self.service.received(self.conn, data)
        out = self.conn.data_to_send().decode("latin-1")
        assert out.endswith("\n") or not out
        return out.split("\n")[:-1]

    def __call__(self, request: str) -> str:
        """The reply to one request (after any IRQ lines, which must not come)."""
        lines = self.send(request.encode("latin-1") + b"\n")
        assert len(lines) == 1, lines
        return lines[0]


@pytest.fixture
def s() -> Session:
    return Session(("device", "pvpanic"), ("device", "pvpanic-pci,addr=04.0"))


# -- framing and the log -------------------------------------------------------------------


def test_lines_and_words(s: Session) -> None:
    assert s.send(b"endian") == []  # not a line yet
    assert s.send(b"ness\ninb 0x505\n") == ["OK little", "OK 0x0007"]
    assert s("bogus 1 2") == "FAIL Unknown command 'bogus'"
    assert s(" inb 0x505") == "FAIL Unknown command ''"  # a leading space: an empty word
    assert s("endianness\r") == "FAIL Unknown command 'endianness\r'"
    assert s("endianness extra words") == "OK little"
    assert s("\xff\xfe") == "FAIL Unknown command '\xff\xfe'"  # bytes as they came
    assert s.send(b"inb\x00 whatever\n") == ["ERR 'inb' needs 1 argument"]  # a NUL ends it


def test_log_lines(s: Session) -> None:
    s("endianness")
    s.conn.closed()
    stamp = r"\d+\.\d{6}"
    assert len(s.log) == 4
    assert re.fullmatch(rf"\[I {stamp}\] OPENED\n", s.log[0])
    assert re.fullmatch(rf"\[R \+{stamp}\] endianness\n", s.log[1])
    assert re.fullmatch(rf"\[S \+{stamp}\] OK little\n", s.log[2])
    assert re.fullmatch(rf"\[I \+{stamp}\] CLOSED\n", s.log[3])


def test_log_of_an_empty_line_and_of_words() -> None:
    log: list[str] = []
    conn = QtestConnection(log.append, timer=lambda: 2.5)
    conn.opened()
    conn.receive_data(b"\na  b\n")
    assert conn.next_request() == []
    assert conn.next_request() == ["a", "", "b"]
    assert conn.next_request() is None
    conn.send("OK")
    assert log == [
        "[I 0.000000] OPENED\n",
        "[R +0.000000]\n",
        "[R +0.000000] a  b\n",
        "[S +0.000000] OK\n",
    ]
    conn.closed()
    conn.closed()  # once only
    assert log[-1] == "[I +0.000000] CLOSED\n" and len(log) == 5


def test_sends_before_the_connection_opens_are_not_logged() -> None:
    log: list[str] = []
    conn = QtestConnection(log.append)
    conn.send("OK")
    assert log == [] and conn.data_to_send() == b"OK\n"


# -- ports and memory --------------------------------------------------------------------


def test_ports(s: Session) -> None:
    assert s("inb 0x505") == "OK 0x0007"
    assert s("inw 0x505") == "OK 0x0707"
    assert s("inl 0x505") == "OK 0x7070707"
    assert s("inb 0x1234") == "OK 0x00ff"
    assert s("inl 1") == "OK 0xffffffff"
    assert s("inw 0xffff") == "OK 0x00ff"
    assert s("outl 0xcf8 0x80002000") == "OK"
    assert s("inl 0xcfc") == "OK 0x111b36"
    assert s("outb 0x1234 0x1ff") == "OK"  # the value is cut to the width


def test_memory(s: Session) -> None:
    assert s("read 0 4") == "OK 0x00000000"
    assert s("writeq 0x2000 0x0102030405060708") == "OK"
    assert s("readq 0x2000") == "OK 0x0102030405060708"
    assert s("readl 0x2000") == "OK 0x0000000005060708"
    assert s("readw 0x2001") == "OK 0x0000000000000607"
    assert s("readb 0x2007") == "OK 0x0000000000000001"
    assert s("writew 0x2000 0x12345") == "OK"
    assert s("read 0x2000 3") == "OK 0x452306"
    assert s("write 0x3000 4 0xdeadbeef") == "OK"
    assert s("read 0x3000 4") == "OK 0xdeadbeef"
    assert s("read 0xe0000000 2") == "OK 0x0000"  # unassigned


def test_write_data_as_qemu_reads_it(s: Session) -> None:
    assert s("write 0x1000 4 0x1") == "OK"  # 3 characters: no whole byte, zeros
    assert s("read 0x1000 4") == "OK 0x00000000"
    assert s("write 0x1000 4 0xabc") == "OK"  # one byte, the rest zeros
    assert s("read 0x1000 4") == "OK 0xab000000"
    assert s("write 0x1000 3 0xzz1gx5") == "OK"  # bad digits count as all ones
    assert s("read 0x1000 3") == "OK 0xfffff5"
    assert s("write 0x1000 2 yy0102") == "OK"  # the prefix is skipped, whatever it is
    assert s("read 0x1000 2") == "OK 0x0102"
    assert s("write 0x1000 4 0x") == "ERR invalid argument size"
    assert s("write 0x1000 0 0x00") == "OK"


def test_base64(s: Session) -> None:
    assert s("b64read 0x1000 4") == "OK AAAAAA=="
    assert s("b64read 0x1000 0") == "OK "
    assert s("b64write 0x1000 3 AQID") == "OK"
    assert s("read 0x1000 4") == "OK 0x01020300"
    # Told more than the data holds: the word's own characters follow the
    # decoded bytes (QEMU decodes in place), and the log says so.
    assert s("b64write 0x1000 4 AQID") == "OK"
    assert s("read 0x1000 4") == "OK 0x01020344"  # 'D'
    assert re.fullmatch(
        r"\[S \+\d+\.\d{6}\] b64write: data length mismatch \(told 4, found 3\)\n", s.log[-4]
    )
    assert s("b64write 0x1000 2 AQ") == "ERR invalid argument size"
    assert s("b64write 0x1000 3 AQ!I=") == "OK"  # '!' is skipped; '=' pads
    assert s("read 0x1000 3") == "OK 0x010221"  # 2 bytes decoded, then the word's '!'

    data = bytes(range(40))
    assert s(f"b64write 0x4000 40 {base64.b64encode(data).decode()}") == "OK"
    assert s("b64read 0x4000 40") == "OK " + base64.b64encode(data).decode()


def test_memset(s: Session) -> None:
    assert s("memset 0x1000 3 0x1ff") == "OK"  # the byte of the pattern
    assert s("read 0x1000 4") == "OK 0xffffff00"
    assert s("memset 0x1000 0 5") == "OK"


def test_pvpanic_writes_act_in_every_run_state() -> None:
    s = Session(("device", "pvpanic"), ("option_S",), ("no_shutdown",))
    assert s("outb 0x505 1") == "OK"
    assert s.events == [("GUEST_PANICKED", {"action": "pause"})]  # prelaunch: nothing stops
    assert s.machine.status.value == "prelaunch"


def test_a_test_programs_write_stops_at_once() -> None:
    """Off the guest's CPUs vm_stop acts at once: GUEST_PANICKED, STOP, SHUTDOWN
    and guest-panicked under panic=exit-failure,shutdown=pause (QEMU 10.0.2 under
    qtest; from the guest's CPU it is GUEST_PANICKED, SHUTDOWN, STOP, shutdown)."""
    s = Session(("device", "pvpanic"), ("action", "panic=exit-failure,shutdown=pause"))
    assert s("outb 0x505 1") == "OK"
    assert [name for name, _ in s.events] == ["GUEST_PANICKED", "STOP", "SHUTDOWN"]
    assert s.machine.status.value == "guest-panicked"


# -- the clock ----------------------------------------------------------------------------


def test_clock(s: Session) -> None:
    assert s("clock_step") == "OK 27462700"
    assert s("clock_step 0") == "FAIL could not advance time"
    assert s("clock_step -5") == "FAIL could not advance time"
    assert s("clock_set 0") == "FAIL 27462700"
    assert s("clock_step 0x10") == "OK 27462716"
    assert s("clock_set 30000000") == "OK 30000000"
    assert s("clock_step 9223372036854775807") == "FAIL could not advance time"  # wraps


def test_clock_without_a_deadline() -> None:
    s = Session(("option_S",))
    assert s("clock_step") == (
        "FAIL cannot advance clock to the next deadline because there is no pending deadline"
    )
    assert s("clock_step 100") == "OK 100"  # stopped, it still moves


def test_clock_commands_need_the_qtest_accelerator() -> None:
    s = Session(qtest_accel=False)
    assert s("clock_step") == "FAIL Unknown command 'clock_step'"
    assert s("clock_set 5") == "FAIL Unknown command 'clock_set'"


def test_watchdog_poweroff_ends_it_mid_request() -> None:
    """exit(0) in the timer: QEMU never answers that clock_step, nor anything after."""
    s = Session(("device", "ib700"), ("watchdog_action", "poweroff"))
    assert s("outb 0x443 15") == "OK"
    assert s.send(b"clock_step 10\nendianness\n") == []
    assert s.machine.exit_status == 0
    assert s.send(b"endianness\n") == []


# -- interrupts --------------------------------------------------------------------------


def test_irq_intercept_and_set_irq_in(s: Session) -> None:
    assert s("irq_intercept_in nope") == "FAIL Unknown device"
    assert s("irq_intercept_in /machine/peripheral-anon/device[0]") == (
        "FAIL No intercepts installed"
    )
    assert s("irq_intercept_in ioapic foo") == (
        "FAIL Interception of named in-GPIOs not yet supported"
    )
    assert s("irq_intercept_in ioapic") == "OK"
    assert s("irq_intercept_in ioapic") == "OK"
    assert s("irq_intercept_out ioapic") == "OK"  # the same device: OK whatever it is
    assert s("irq_intercept_in /machine/i440fx") == "FAIL IRQ intercept already enabled"
    assert s.send(b"set_irq_in ioapic unnamed-gpio-in 4 1\n") == ["IRQ raise 4", "OK"]
    assert s.send(b"set_irq_in ioapic unnamed-gpio-in 4 1\n") == ["OK"]  # no change
    # Levels are compared as numbers: -1 is another "raise".
    assert s.send(b"set_irq_in ioapic unnamed-gpio-in 4 -1\n") == ["IRQ raise 4", "OK"]
    assert s.send(b"set_irq_in ioapic unnamed-gpio-in 4 0\n") == ["IRQ lower 4", "OK"]
    assert s("set_irq_in nope unnamed-gpio-in 4 0") == "FAIL Unknown device"


def test_pit_ticks_come_as_irq_lines(s: Session) -> None:
    assert s("irq_intercept_in ioapic") == "OK"
    assert s.send(b"clock_step 60000000\n") == [
        "IRQ raise 0",
        "IRQ lower 0",
        "IRQ raise 0",
        "OK 60000000",
    ]


def test_named_outbound_interception() -> None:
    s = Session()
    assert s("irq_intercept_out ioapic foo") == "FAIL No intercepts installed"
    assert s("irq_intercept_out /machine/i440fx/ioapic") == "OK"  # an absolute path


# -- what QEMU would abort on ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "reply"),
    [
        ("", "ERR empty request"),
        ("inb", "ERR 'inb' needs 1 argument"),
        ("outb 0x505", "ERR 'outb' needs 2 arguments"),
        ("inb 0x5q5", "ERR invalid number '0x5q5'"),
        ("inb 0x505\r", "ERR invalid number '0x505\r'"),
        ("inb 0x10000", "ERR port 0x10000 is above 0xffff"),
        ("outb 0x10000 1", "ERR port 0x10000 is above 0xffff"),
        ("inb 0x10000000000000000", "ERR invalid number '0x10000000000000000'"),
        ("read 0 0", "ERR size 0"),
        ("read 0", "ERR 'read' needs 2 arguments"),
        (
            f"read 0 {MAX_TRANSFER + 1}",
            f"ERR size {MAX_TRANSFER + 1} is above the simulator's limit of {MAX_TRANSFER}",
        ),
        ("clock_step x", "ERR invalid number 'x'"),
        ("clock_set", "ERR 'clock_set' needs 1 argument"),
        ("clock_set 9223372036854775808", "ERR invalid number '9223372036854775808'"),
        ("module_load foo", "ERR 'module_load' needs 2 arguments"),
        ("irq_intercept_in", "ERR 'irq_intercept_in' needs 1 argument"),
        ("irq_intercept_in /machine", "ERR '/machine' is not a device"),
        ("set_irq_in ioapic unnamed-gpio-in 4", "ERR 'set_irq_in' needs 4 arguments"),
        (
            "set_irq_in ioapic unnamed-gpio-in 24 1",
            "ERR no input 24 in 'unnamed-gpio-in' of 'ioapic'",
        ),
        ("set_irq_in ioapic foo 0 1", "ERR no input 0 in 'foo' of 'ioapic'"),
        ("set_irq_in ioapic unnamed-gpio-in 0 2147483648", "ERR invalid number '2147483648'"),
    ],
)
def test_requests_qemu_aborts_on_get_err_and_the_connection_goes_on(
    s: Session, request_: str, reply: str
) -> None:
    assert s(request_) == reply
    assert s("endianness") == "OK little"


def test_module_load_finds_no_module(s: Session) -> None:
    assert s("module_load accel qtest-x86_64") == "FAIL"


def test_nothing_is_answered_once_the_machine_exited() -> None:
    s = Session(("device", "pvpanic"))
    # The shutdown is a request: the batch's other requests are answered first.
    assert s.send(b"outb 0x505 4\ninb 0x505\n") == ["OK", "OK 0x0007"]
    assert s.machine.exit_status == 0
    assert [name for name, _ in s.events] == ["GUEST_PVSHUTDOWN", "SHUTDOWN"]
    assert s.send(b"endianness\n") == []


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "u64", "i64"),
    [
        ("0", 0, 0),
        ("10", 10, 10),
        ("0x1F", 31, 31),
        ("017", 15, 15),
        (" \t5", 5, 5),
        ("+5", 5, 5),
        ("-1", (1 << 64) - 1, -1),
        ("0x", None, None),
        ("08", None, None),
        ("5 ", None, None),
        ("", None, None),
        ("0xffffffffffffffff", (1 << 64) - 1, None),
        ("0x10000000000000000", None, None),
        ("-9223372036854775808", 1 << 63, -(1 << 63)),
    ],
)
def test_numbers_as_c_reads_them(text: str, u64: int | None, i64: int | None) -> None:
    assert strtou64(text) == u64
    assert strtoi64(text) == i64


def test_int_range() -> None:
    assert strtoi("2147483647") == 2147483647
    assert strtoi("-2147483648") == -2147483648
    assert strtoi("2147483648") is None
