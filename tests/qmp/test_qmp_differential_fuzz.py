"""A standing differential fuzz: the same bytes to real QEMU 10.0 and to ``qapigen vm``.

Both run with the same options (``-machine none -display none -nodefaults -S``, QMP
on a unix socket).  Each case opens a fresh connection to each, sets it up (not
negotiated, negotiated, or negotiated with ``oob``), sends the case's bytes, then a
byte ``FF`` (a lexical error in any state: whatever the case left unfinished is
reported and dropped, in both) and a probe, ``query-status`` with an id of its own,
and reads every line up to the probe's reply.  The lines must be the same, byte for
byte, once timestamps and the package string are masked; and the probe's reply
shows that both servers still answer.

Input classes, dealt round robin: valid commands, mutated valid commands, wrong
types, unknown and missing arguments, deep nesting, invalid UTF-8, stray bytes
between messages, NUL bytes, duplicate keys, ids of every JSON type, ``exec-oob``
with and without the capability, messages before negotiation, huge strings and
numbers.  Commands are those both serve with the same results; a mutation that
makes the name of a command only one of them has is recognised (see below).

Every difference fails the test unless it is one of :data:`KNOWN_DIFFERENCES`,
each listed in ``docs/behaviour.md`` with its reason.

Seeded (``QAPIGEN_FUZZ_SEED``); bounded by ``QAPIGEN_FUZZ_CASES`` cases (default
1,500) and ``QAPIGEN_FUZZ_SECONDS`` seconds (default 150): raise them for longer
runs.  Skips without QEMU 10.0.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest

from qapigen import simulator_api

from ..support.paths import REPO
from ..support.qemu import QMPProcess, RawQMP, normalized, pair

SEED = int(os.environ.get("QAPIGEN_FUZZ_SEED", "20250612"))
CASES = int(os.environ.get("QAPIGEN_FUZZ_CASES", "1500"))
SECONDS = float(os.environ.get("QAPIGEN_FUZZ_SECONDS", "150"))

OPTIONS = ("-S",)
RESET = b"\xff\n"  # a lexical error in every lexer state: both drop what is unfinished


# -- what is sent --------------------------------------------------------------------

# Commands both serve with the same results on a machine with nothing in it, and
# values their arguments take.
_ACTIONS = {
    # Not "shutdown": with it system_reset ends both programs (alike, but for good).
    "reboot": ["reset"],
    "shutdown": ["poweroff", "pause"],
    "panic": ["pause", "shutdown", "exit-failure", "none"],
    "watchdog": ["reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi"],
}
_NO_ARGUMENTS = (
    "query-status",
    "query-version",
    "stop",
    "cont",
    "system_reset",
    "system_powerdown",
)
_COMMANDS = (*_NO_ARGUMENTS, "set-action", "watchdog-set-action", "qmp_capabilities")
# Never sent, even by a mutation: what ends or changes either program beyond a case.
_FORBIDDEN = (b"quit", b"x-guest", b"migrate", b"dump", b"exit", b"memsave", b"screendump")


def _text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _id_texts(rng: random.Random) -> str:
    """The text of an id of any JSON type, as a client may write it."""
    return rng.choice(
        [
            "null",
            "true",
            "false",
            "0",
            "-1",
            str(rng.randrange(-(2**70), 2**70)),
            "18446744073709551616",
            "1.5",
            "-0",
            "1e308",
            "1e999",
            "-1E-400",
            "3.0",
            '""',
            '"a"',
            '"\\u0000"',
            '"\\ud83d\\ude00"',
            '"\\ud800"',
            '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
            '"\U00010061\u00e9\u20ac"',
            "'single'",
            "[]",
            "{}",
            '[1, "a", null, [true]]',
            '{"b": 1, "a": [2], "c": {"d": null}}',
        ]
    )


def _arguments(rng: random.Random, command: str) -> dict[str, object] | None:
    if command == "set-action":
        return {k: rng.choice(v) for k, v in _ACTIONS.items() if rng.random() < 0.5}
    if command == "watchdog-set-action":
        return {"action": rng.choice(_ACTIONS["watchdog"])}
    choices: list[dict[str, object] | None] = [None, {}]
    if command == "qmp_capabilities":
        choices += [{"enable": []}, {"enable": ["oob"]}]
        return rng.choice(choices)
    return rng.choice(choices) if rng.random() < 0.3 else None


def _command(rng: random.Random, command: str | None = None, *, oob: bool = False) -> bytes:
    """A valid request (its members in any order, an id or not)."""
    command = command or rng.choice(_COMMANDS)
    members = [("exec-oob" if oob else "execute", _text(command))]
    arguments = _arguments(rng, command)
    if arguments is not None:
        members.append(("arguments", _text(arguments)))
    if rng.random() < 0.7:
        members.append(("id", _id_texts(rng)))
    rng.shuffle(members)
    space = rng.choice(["", " ", "\n", "\t "])
    body = f",{space}".join(f'"{k}":{space}{v}' for k, v in members)
    return ("{" + space + body + space + "}").encode()


def valid(rng: random.Random) -> bytes:
    return b"".join(
        _command(rng) + rng.choice([b"", b"\n", b" "]) for _ in range(rng.randint(1, 4))
    )


_POOL = b"{}[]:,\"'\\ \n\t0123456789-+.eEtrufalsn" + bytes(range(0, 256, 7))


def mutated(rng: random.Random) -> bytes:
    data = bytearray(_command(rng))
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data) + 1)
        op = rng.randrange(5)
        if op == 0 and data:
            del data[min(i, len(data) - 1)]
        elif op == 1:
            data[i:i] = bytes([rng.choice(_POOL)])
        elif op == 2 and data:
            data[min(i, len(data) - 1)] = rng.choice(_POOL)
        elif op == 3:
            j = rng.randrange(len(data) + 1)
            data[i:i] = data[min(i, j) : max(i, j)][:64]
        else:
            del data[i:]
    return bytes(data)


_WRONG = ["1", "1.5", "true", "null", '"x"', "[]", "{}", '["x"]', "[1]", "[null]", '{"a": 1}']


def wrong_types(rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    value = rng.choice(_WRONG)
    if choice == 0:
        member = rng.choice(list(_ACTIONS))
        return f'{{"execute": "set-action", "arguments": {{"{member}": {value}}}}}'.encode()
    if choice == 1:
        return f'{{"execute": "watchdog-set-action", "arguments": {{"action": {value}}}}}'.encode()
    if choice == 2:
        return f'{{"execute": "qmp_capabilities", "arguments": {{"enable": {value}}}}}'.encode()
    if choice == 3:
        return f'{{"execute": {value}, "id": 1}}'.encode()
    command = rng.choice(_COMMANDS)
    return f'{{"execute": "{command}", "arguments": {value}}}'.encode()


def unknown_and_missing(rng: random.Random) -> bytes:
    keys = [rng.choice(["foo", "bar", "x", "Action", "panic ", "enable2", "id"]) for _ in range(3)]
    extra = {k: rng.randrange(3) for k in keys[: rng.randint(0, 3)]}
    choice = rng.randrange(4)
    if choice == 0:  # watchdog-set-action without its action, perhaps with others
        return _text({"execute": "watchdog-set-action", "arguments": extra}).encode()
    if choice == 1:
        args = {**_arguments(rng, "set-action"), **extra}  # type: ignore[dict-item]
        return _text({"execute": "set-action", "arguments": args}).encode()
    if choice == 2:  # unknown members of the request itself
        return _text({"execute": rng.choice(_COMMANDS), **{k: 1 for k in keys}}).encode()
    return _text({"arguments": extra, "id": 7}).encode()  # no execute at all


def deep_nesting(rng: random.Random) -> bytes:
    depth = rng.choice([10, 500, 1000, 1022, 1023, 1024, 1025, 1100, 2000])
    if rng.random() < 0.5:
        nested = "[" * depth + "]" * depth
    else:
        nested = '{"a": ' * depth + "1" + "}" * depth
    if rng.random() < 0.2:
        nested = nested[: len(nested) // 2 + rng.randrange(-5, 5)]  # unbalanced
    where = rng.choice(["id", "arguments", "alone"])
    if where == "alone":
        return nested.encode()
    if where == "id":
        return f'{{"execute": "query-status", "id": {nested}}}'.encode()
    return f'{{"execute": "set-action", "arguments": {{"panic": {nested}}}}}'.encode()


_BAD_UTF8 = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80"]
_BAD_UTF8 += [b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xc3", b"\xe2\x82"]
_BAD_UTF8 += [b"\xef\xbf\xbe", b"\xc0\x80"]  # a noncharacter; QEMU's NUL (valid)


def invalid_utf8(rng: random.Random) -> bytes:
    bad = rng.choice(_BAD_UTF8)
    place = rng.randrange(4)
    if place == 0:
        return b'{"execute": "query-status", "id": "a' + bad + b'b"}'
    if place == 1:
        return b'{"execute": "' + bad + b'"}'
    if place == 2:
        return b'{"execute": "set-action", "arguments": {"panic": "' + bad + b'"}}'
    return _command(rng) + bad + _command(rng)


def stray_bytes(rng: random.Random) -> bytes:
    junk = [b"}", b"]", b":", b",", b"abc", b"\x1b", b"\x01", b"'", b'"', b"tru", b"-", b"0x1"]
    out = _command(rng)
    for _ in range(rng.randint(1, 3)):
        out += b"".join(rng.choice(junk) for _ in range(rng.randint(1, 3))) + _command(rng)
    return out


def nul_bytes(rng: random.Random) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return b'{"execute": "query-status\x00", "id": 1}'
    if choice == 1:
        return _command(rng) + b"\x00" + _command(rng)
    if choice == 2:
        return b'{"execute": "query-status\\u0000", "id": "\\u0000x"}'
    return b'{"execute": "set-action", "arguments": {"pan\\u0000ic": "pause"}}'


def duplicate_keys(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b'{"execute": "stop", "execute": "cont"}',
            b'{"execute": "query-status", "id": 1, "id": 2}',
            b'{"execute": "set-action", "arguments": {"panic": "pause", "panic": "none"}}',
            b'{"execute": "query-status", "arguments": {}, "arguments": {}}',
            b'{"execute": "query-status", "exec-oob": "query-status"}',
            b'{"exec-oob": "query-status", "exec-oob": "stop"}',
        ]
    )


def ids_of_every_type(rng: random.Random) -> bytes:
    command = rng.choice(_COMMANDS)
    return f'{{"execute": "{command}", "id": {_id_texts(rng)}}}'.encode()


def out_of_band(rng: random.Random) -> bytes:
    parts = [_command(rng, oob=rng.random() < 0.6) for _ in range(rng.randint(1, 4))]
    return b"".join(parts)


def before_negotiation(rng: random.Random) -> bytes:
    return b"".join(_command(rng) for _ in range(rng.randint(1, 3)))


def huge(rng: random.Random) -> bytes:
    size = rng.choice([1000, 10_000, 65_536, 100_000, 300_000])
    choice = rng.randrange(4)
    if choice == 0:
        return b'{"execute": "query-status", "id": "' + b"x" * size + b'"}'
    if choice == 1:
        return b'{"execute": "' + b"q" * size + b'"}'
    if choice == 2:
        return b'{"execute": "query-status", "id": ' + b"9" * (size // 10) + b"}"
    return b'{"execute": "query-status", "id": 1' + b"0" * (size // 100) + b".5e-" + b"7" * 5 + b"}"


class InputClass(NamedTuple):
    name: str
    make: Callable[[random.Random], bytes]
    #: How the connection is set up first: "none", "negotiated" or "oob".
    setup: str


CLASSES = (
    InputClass("valid commands", valid, "negotiated"),
    InputClass("mutated valid commands", mutated, "negotiated"),
    InputClass("wrong types", wrong_types, "negotiated"),
    InputClass("unknown and missing arguments", unknown_and_missing, "negotiated"),
    InputClass("deep nesting", deep_nesting, "negotiated"),
    InputClass("invalid UTF-8", invalid_utf8, "negotiated"),
    InputClass("stray bytes between messages", stray_bytes, "negotiated"),
    InputClass("NUL bytes", nul_bytes, "negotiated"),
    InputClass("duplicate keys", duplicate_keys, "negotiated"),
    InputClass("ids of every JSON type", ids_of_every_type, "negotiated"),
    InputClass("exec-oob with the capability", out_of_band, "oob"),
    InputClass("exec-oob without the capability", out_of_band, "negotiated"),
    InputClass("messages before negotiation", before_negotiation, "none"),
    InputClass("mutated, before negotiation", mutated, "none"),
    InputClass("huge strings and numbers", huge, "negotiated"),
)


class Case(NamedTuple):
    number: int
    cls: InputClass
    data: bytes


def cases(rng: random.Random) -> Iterator[Case]:
    """Cases of every class in turn, without what must never be sent."""
    index = 0
    while True:
        cls = CLASSES[index % len(CLASSES)]
        data = cls.make(rng)
        if any(word in data for word in _FORBIDDEN):
            continue
        yield Case(index, cls, data)
        index += 1


# -- what comes back -----------------------------------------------------------------


def exchange(server: QMPProcess, case: Case) -> list[bytes]:
    """The greeting and every line up to the probe's reply, masked."""
    conn = server.connect()
    try:
        lines = [conn.greeting]
        if case.cls.setup != "none":
            enable = b'{"enable": ["oob"]}' if case.cls.setup == "oob" else b"{}"
            lines.append(
                conn.command(b'{"execute": "qmp_capabilities", "arguments": ' + enable + b"}")
            )
        probe = f"probe-{case.number}".encode()
        conn.send(case.data + RESET + b'{"execute": "query-status", "id": "' + probe + b'"}')
        lines += conn.until(b'"id": "' + probe + b'"')
        return [normalized(line) for line in lines]
    finally:
        conn.close()


class KnownDifference(NamedTuple):
    """A difference docs/behaviour.md lists, and how to recognise it."""

    name: str
    #: The text of its row in docs/behaviour.md.
    row: str
    matches: Callable[[Case, list[bytes], list[bytes], frozenset[str], frozenset[str]], bool]


_NOT_RECORDED = re.compile(
    rb'"error": \{"class": "GenericError", "desc": "The command .* is not simulated, '
    rb'and its answer to these arguments was not recorded"\}'
)
_NOT_FOUND = re.compile(
    rb'"error": \{"class": "CommandNotFound", "desc": "The command (.*) has not been found"\}'
)


def _only_one_serves(
    case: Case,
    qemu: list[bytes],
    ours: list[bytes],
    qemu_cmds: frozenset[str],
    our_cmds: frozenset[str],
) -> bool:
    """Each differing line is one side's CommandNotFound for a command only the other
    has, or our documented error for a command QEMU runs that we neither run nor
    recorded (a mutation made its name), answering the same request."""
    if len(qemu) != len(ours):
        return False
    for q, o in zip(qemu, ours, strict=True):
        if q == o:
            continue
        unrecorded = _NOT_RECORDED.search(o)
        if unrecorded and (b'"return"' in q or b'"error"' in q) and b'"event"' not in q:
            continue
        for missing_at, other, has in ((o, q, qemu_cmds - our_cmds), (q, o, our_cmds - qemu_cmds)):
            found = _NOT_FOUND.search(missing_at)
            if (
                found
                and found.group(1).decode("utf-8", "replace") in has
                and (b'"return"' in other or b'"error"' in other)
                and b'"event"' not in other
            ):
                break
        else:
            return False
    return True


_OUT_OF_BAND = re.compile(rb"does not support OOB")


def _by_kind(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The replies to out-of-band requests, and the other lines, each in order."""
    oob = [line for line in lines if _OUT_OF_BAND.search(line)]
    return oob, [line for line in lines if not _OUT_OF_BAND.search(line)]


def _out_of_band_first(
    case: Case,
    qemu: list[bytes],
    ours: list[bytes],
    qemu_cmds: frozenset[str],
    our_cmds: frozenset[str],
) -> bool:
    """With the oob capability, the same lines, where only replies to out-of-band
    requests moved (ahead of in-band ones), each kind keeping its own order."""
    return case.cls.setup == "oob" and _by_kind(qemu) == _by_kind(ours)


def _is_subsequence(part: list[bytes], whole: list[bytes]) -> bool:
    rest = iter(whole)
    return all(any(line == other for other in rest) for line in part)


def _cut_short(
    case: Case,
    qemu: list[bytes],
    ours: list[bytes],
    qemu_cmds: frozenset[str],
    our_cmds: frozenset[str],
) -> bool:
    """A value already known to be an error, then a ``{`` at the start of a line: QEMU
    reads on as part of the value until the FF ends it, we cut the value there and read
    what follows, so every line of QEMU's comes in ours, in order, and more besides.  The
    commands we read may have run (the probe's reply may differ): the test starts both
    programs afresh after this difference.  With the oob capability, out-of-band replies
    may also have moved (the difference above): they are compared apart."""
    if b"\n{" not in case.data:
        return False
    if case.cls.setup == "oob":
        (qemu_oob, qemu), (our_oob, ours) = _by_kind(qemu), _by_kind(ours)
        if qemu_oob != our_oob:
            return False
    probe = b'"id": "probe-%d"' % case.number
    return (
        len(ours) > len(qemu)
        and _is_subsequence(qemu[:-1], ours[:-1])
        and probe in qemu[-1]
        and probe in ours[-1]
    )


KNOWN_DIFFERENCES = (
    KnownDifference(
        "an unterminated value cut short at a '{' that starts a line",
        "| an unterminated JSON object, then more commands |",
        _cut_short,
    ),
    KnownDifference(
        "a command only one of them has, or only QEMU runs",
        "| a command of QEMU's schema that the simulator neither runs nor recorded",
        _only_one_serves,
    ),
    KnownDifference(
        "an out-of-band reply ahead of earlier in-band replies",
        "| with the `oob` capability, the reply to an out-of-band request",
        _out_of_band_first,
    ),
)


# -- the test ------------------------------------------------------------------------


class Servers:
    """Real QEMU and ``qapigen vm``, which can be started afresh (both at once)."""

    def __init__(self) -> None:
        self._pairs = pair(OPTIONS)
        self.qemu, self.ours = next(self._pairs)

    def restart(self) -> None:
        self.close()
        self._pairs = pair(OPTIONS)
        self.qemu, self.ours = next(self._pairs)

    def close(self) -> None:
        self._pairs.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    both = Servers()
    try:
        yield both
    finally:
        both.close()


def _commands(conn: RawQMP) -> frozenset[str]:
    conn.command(b'{"execute": "qmp_capabilities"}')
    reply = json.loads(conn.command(b'{"execute": "query-commands"}'))
    return frozenset(c["name"] for c in reply["return"])


def test_known_differences_are_documented() -> None:
    """Each difference the fuzz forgives is a row of docs/behaviour.md."""
    text = (REPO / "docs" / "behaviour.md").read_text()
    for known in KNOWN_DIFFERENCES:
        assert known.row in text, known.name


def test_the_fuzz_speaks_commands_both_serve() -> None:
    """The generated commands are the simulator's (QEMU's are checked by the fuzz)."""
    assert set(_COMMANDS) <= set(simulator_api.COMMANDS)


def test_qemu_and_qapigen_vm_answer_alike(servers: Servers) -> None:
    conns = servers.qemu.connect(), servers.ours.connect()
    qemu_cmds, our_cmds = (_commands(conn) for conn in conns)
    for conn in conns:
        conn.close()
    rng = random.Random(SEED)
    deadline = time.monotonic() + SECONDS
    unexplained: list[str] = []
    forgiven: Counter[str] = Counter()
    run: Counter[str] = Counter()
    for case in cases(rng):
        if case.number >= CASES or time.monotonic() > deadline:
            break
        run[case.cls.name] += 1
        qemu, ours = servers.qemu, servers.ours
        got_qemu, got_ours = exchange(qemu, case), exchange(ours, case)
        assert qemu.alive() and ours.alive(), f"case {case.number}: a server died"
        if got_qemu == got_ours:
            continue
        known = next(
            (
                k
                for k in KNOWN_DIFFERENCES
                if k.matches(case, got_qemu, got_ours, qemu_cmds, our_cmds)
            ),
            None,
        )
        if known is not None:
            forgiven[known.name] += 1
            if known.matches is _cut_short:
                servers.restart()  # what one of them ran, the other did not
            continue
        unexplained.append(
            f"case {case.number} ({case.cls.name}, seed {SEED}): sent {case.data[:300]!r}\n"
            f"  qemu:    {got_qemu}\n  qapigen: {got_ours}"
        )
    print(f"\nfuzz: {sum(run.values())} cases, {dict(run)}; known differences: {dict(forgiven)}")
    assert len(run) == len(CLASSES), "the time ran out before every class had a case"
    assert not unexplained, f"{len(unexplained)} differences:\n" + "\n".join(unexplained[:10])
