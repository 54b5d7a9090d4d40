"""qapigen.qmp.protocol answers as QEMU 10.0's QMP monitor does.

Every case of the oracle's qmp-errors.json is replayed against a connection:
the same bytes in the same reads, the same reply lines byte for byte, and the
same state afterwards (the probe that followed each case is answered as QEMU
answered it). A minimal stand-in for the dispatcher runs query-status and
migrate-pause; cases whose reply comes from a command's own argument checking
need the real dispatcher and are skipped after checking that the request
reached it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qapigen.qmp.json_reader import JSONStreamReader
from qapigen.qmp.protocol import (
    COMMAND_NOT_FOUND,
    GENERIC_ERROR,
    CapabilitiesNegotiated,
    ConnectionMisuseError,
    Received,
    Rejected,
    Request,
    ServerConnection,
)
from qapigen.runtime import JSONValue

from ..support.oracle_payloads import payload
from ..support.paths import need_shared

VERSION = {"major": 10, "minor": 0, "micro": 2}
PACKAGE = "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"
STATUS: JSONValue = {"status": "running", "running": True}
PAUSE_ERROR = (
    "migrate-pause is currently only supported during postcopy-active or postcopy-recover state"
)


@dataclass(frozen=True)
class Command:
    allow_oob: bool = False


# The commands the oracle's cases use, with QEMU's allow-oob flags.
COMMANDS = {
    "qmp_capabilities": Command(),
    "query-status": Command(),
    "migrate-pause": Command(allow_oob=True),
    "watchdog-set-action": Command(),
    "trace-event-set-state": Command(),
    "migrate-set-parameters": Command(),
    "stop": Command(),
}

# Cases whose reply comes from decoding a command's arguments (or the command's
# own range check): the dispatcher's job, not the protocol core's.
NEEDS_DISPATCHER = {
    "missing_required_argument",
    "wrong_type_string_for_bool",
    "wrong_type_invalid_enum_value",
    "wrong_type_negative_for_uint64",
    "wrong_type_negative_for_uint8",
    "wrong_type_float_for_int",
    "unexpected_extra_argument",
}

# Where we differ from QEMU on purpose (qapigen.qmp.json_reader, "Where we differ"):
# case -> step -> the lines we send instead of QEMU's.
DIFFERENCES = {
    # QEMU swallows the probe in the unterminated object; we cut the object at
    # the "{" starting the probe's line, report its error and answer the probe.
    "malformed_double_open": {
        "probe": [
            '{"error": {"class": "GenericError", "desc": '
            '"JSON parse error, key is not a string in object"}}\r\n',
            '{"return": {"status": "running", "running": true}, "id": "probe"}\r\n',
        ]
    }
}


def connection(**kwargs: Any) -> ServerConnection:
    return ServerConnection(VERSION, PACKAGE, commands=COMMANDS, **kwargs)


def dispatch(conn: ServerConnection, received: list[Received]) -> list[Request]:
    """The stand-in dispatcher: runs what it can, returns the requests it cannot."""
    unhandled = []
    for item in received:
        if isinstance(item, Request):
            if item.name == "query-status" and not item.arguments:
                conn.send_return(item, STATUS)
            elif item.name == "migrate-pause":
                conn.send_error(item, GENERIC_ERROR, PAUSE_ERROR)
            else:
                unhandled.append(item)
    return unhandled


def oracle() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(need_shared("oracle", "qmp-errors.json").read_text())
    return data


def case_names() -> list[str]:
    try:
        return [case["name"] for case in oracle()["cases"]]
    except pytest.skip.Exception:
        return ["oracle-absent"]


def transcript_steps(case: dict[str, Any]) -> list[tuple[str, bytes, list[str]]]:
    """(step, bytes sent, lines received before the next send) for the whole transcript."""
    steps: list[tuple[str, bytes, list[str]]] = []
    for record in case["full_transcript"]:
        if record["dir"] == "send":
            steps.append((record["step"], payload(record), []))
        elif steps:
            steps[-1][2].append(record["raw"])
    return steps


@pytest.mark.parametrize("name", case_names())
def test_oracle_case(name: str) -> None:
    """A recorded bad-input case: same replies, same state after it."""
    (case,) = [c for c in oracle()["cases"] if c["name"] == name]
    conn = connection()
    greeting = case["full_transcript"][0]
    assert greeting["kind"] == "greeting"
    assert conn.data_to_send().decode() == greeting["raw"]
    for step, data, expected in transcript_steps(case):
        unhandled = dispatch(conn, conn.receive_data(data))
        if unhandled:
            # The request reached the dispatcher, as in QEMU: the protocol's part is
            # done; the reply is the dispatcher's (tests/vm/test_vm_qmp_errors.py
            # holds qapigen vm's equal to QEMU's).
            assert step == "bad-input" and name in NEEDS_DISPATCHER, unhandled
            assert [r.name for r in unhandled] == [json.loads(data)["execute"]]
            assert conn.data_to_send() == b""
            return
        expected = DIFFERENCES.get(name, {}).get(step, expected)
        assert conn.data_to_send().decode() == "".join(expected), step
    assert name not in NEEDS_DISPATCHER


def test_oracle_covers_every_case() -> None:
    """Each case is either answered here or named as needing the dispatcher."""
    names = {c["name"] for c in oracle()["cases"]}
    assert names >= NEEDS_DISPATCHER
    assert set(DIFFERENCES) <= names


# ---------------------------------------------------------------------------
# Negotiation.


def negotiated(arguments: str = "", **kwargs: Any) -> ServerConnection:
    conn = connection(**kwargs)
    conn.data_to_send()
    args = f', "arguments": {arguments}' if arguments else ""
    received = conn.receive_data(b'{"execute": "qmp_capabilities"' + args.encode() + b"}")
    assert [type(r) for r in received] == [CapabilitiesNegotiated]
    assert conn.data_to_send() == b'{"return": {}}\r\n'
    return conn


def reply(conn: ServerConnection, data: bytes) -> str:
    dispatch(conn, conn.receive_data(data))
    return conn.data_to_send().decode()


def error_line(desc: str, error_class: str = GENERIC_ERROR, id_: str | None = None) -> str:
    head = f'{{"id": {id_}, ' if id_ is not None else "{"
    return head + f'"error": {{"class": "{error_class}", "desc": "{desc}"}}}}\r\n'


def test_greeting() -> None:
    """Fact 1, byte for byte, whatever order the version is given in."""
    conn = ServerConnection({"micro": 2, "major": 10, "minor": 0}, PACKAGE, commands=COMMANDS)
    assert conn.data_to_send() == (
        b'{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, '
        b'"package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}\r\n'
    )
    plain = ServerConnection(VERSION, "", capabilities=(), commands=COMMANDS)
    assert plain.data_to_send().endswith(b'"capabilities": []}}\r\n')
    with pytest.raises(ValueError, match="unknown QMP capabilities: bogus"):
        ServerConnection(VERSION, "", capabilities=("bogus",), commands=COMMANDS)


@pytest.mark.parametrize(
    "unfinished",
    [b'{"execute": "query-status"', b'{"execute": "query-', b"[1, {", b"123", b'"abc'],
)
def test_the_end_of_input_forgets_the_unfinished_message(unfinished: bytes) -> None:
    """QEMU makes its parser anew when a monitor's input ends: what came of an
    unfinished message is never read, nor an error reported for it; the
    session stays negotiated (its events still go out)."""
    conn = negotiated()
    assert conn.receive_data(unfinished) == []
    conn.input_ended()
    assert conn.data_to_send() == b""
    # Fed again (as if input came back), the reader starts afresh.
    answer = reply(conn, b'{"execute": "query-status", "id": 5}')
    assert answer == '{"return": ' + json.dumps(STATUS) + ', "id": 5}\r\n'
    assert conn.negotiated


@pytest.mark.parametrize(
    ("arguments", "desc"),
    [
        ('{"enable": ["bogus"]}', "Parameter 'null' does not accept value 'bogus'"),
        ('{"enable": "oob"}', "Invalid parameter type for 'enable', expected: array"),
        ('{"enable": null}', "Invalid parameter type for 'enable', expected: array"),
        ('{"enable": ["oob", 1]}', "Invalid parameter type for 'enable[1]', expected: string"),
        ('{"foo": 1}', "Parameter 'foo' is unexpected"),
        ('{"foo": 1, "enable": 2}', "Invalid parameter type for 'enable', expected: array"),
    ],
)
def test_capabilities_arguments(arguments: str, desc: str) -> None:
    """Fact 22: QEMU's argument errors; the connection stays unnegotiated."""
    conn = connection()
    conn.data_to_send()
    request = '{"execute": "qmp_capabilities", "arguments": ' + arguments + ', "id": 1}'
    assert reply(conn, request.encode()) == error_line(desc, id_="1")
    assert not conn.negotiated
    assert reply(conn, b'{"execute": "qmp_capabilities"}') == '{"return": {}}\r\n'
    # After negotiation the arguments are still checked first.
    assert reply(conn, request.encode()) == error_line(desc, id_="1")


def test_capabilities_enable() -> None:
    conn = negotiated('{"enable": []}')
    assert not conn.oob_enabled
    assert negotiated('{"enable": ["oob"]}').oob_enabled
    plain = ServerConnection(VERSION, "", capabilities=(), commands=COMMANDS)
    plain.data_to_send()
    enable = b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob", "oob"]}}'
    assert reply(plain, enable) == error_line("Capability oob, oob not available")
    again = b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}'
    assert reply(negotiated(), again) == error_line(
        "Capabilities negotiation is already complete, command ignored", COMMAND_NOT_FOUND
    )


def test_before_negotiation() -> None:
    """Fact 21: commands are refused, input errors are the usual ones."""
    conn = connection()
    conn.data_to_send()
    refuse = "Expecting capabilities negotiation with 'qmp_capabilities'"
    assert reply(conn, b'{"execute": "stop", "id": [1]}') == error_line(
        refuse, COMMAND_NOT_FOUND, "[1]"
    )
    assert reply(conn, b"[]") == error_line("QMP input must be a JSON object")
    assert reply(conn, b'{"exec-oob": "migrate-pause"}') == error_line(
        "QMP input member 'exec-oob' is unexpected"
    )
    assert reply(conn, b"}") == error_line("JSON parse error, expecting value")
    assert not conn.send_event({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 0}})
    assert conn.data_to_send() == b""


# ---------------------------------------------------------------------------
# Requests.


@pytest.mark.parametrize(
    ("request_", "desc"),
    [
        (b'{"execute": 1, "extra": 2}', "QMP input member 'extra' is unexpected"),
        (b'{"arguments": 1, "execute": 1}', "QMP input member 'execute' must be a string"),
        (b'{"id": 1, "arguments": []}', "QMP input member 'arguments' must be an object"),
        (b'{"id": 1}', "QMP input lacks member 'execute'"),
        (b"{}", "QMP input lacks member 'execute'"),
        (b'{"execute": "stop", "exec-oob": 5}', "QMP input member 'exec-oob' must be a string"),
        (
            b'{"execute": "stop", "exec-oob": "stop"}',
            "QMP input member 'execute' clashes with 'exec-oob'",
        ),
        (b'{"exec-oob": "query-status"}', "The command query-status does not support OOB"),
        (b'{"exec-oob": "qmp_capabilities"}', "The command qmp_capabilities does not support OOB"),
        (b'{"execute": "a\\u0000b"}', "The command a\\u0000b has not been found"),
    ],
)
def test_request_checks_in_qemus_order(request_: bytes, desc: str) -> None:
    """Members are checked in QEMU's QDict order, so the same problem is named."""
    conn = negotiated('{"enable": ["oob"]}')
    error_class = COMMAND_NOT_FOUND if "not been found" in desc else GENERIC_ERROR
    expected = error_line(desc, error_class, "1" if b'"id"' in request_ else None)
    assert reply(conn, request_) == expected


@pytest.mark.parametrize(
    ("id_text", "echo"),
    [
        ("18446744073709551616", "1.8446744073709552e+19"),
        ("[3.0, 1e2, 0.1]", "[3, 100, 0.10000000000000001]"),
        (
            '{"error": 1, "id": {"running": 1, "status": 2}}',
            '{"id": {"status": 2, "running": 1}, "error": 1}',
        ),
        ("'single'", '"single"'),
        ('"\\/\\u00e9"', '"/\\u00E9"'),
        ("null", "null"),
        ("-0", "0"),
    ],
)
def test_id_is_echoed_as_qemu_echoes_it(id_text: str, echo: str) -> None:
    """Fact 29: parsed, then written again by QEMU's writer."""
    conn = negotiated()
    request = '{"execute": "query-status", "id": ' + id_text + "}"
    assert reply(conn, request.encode()) == (
        '{"return": {"status": "running", "running": true}, "id": ' + echo + "}\r\n"
    )


def test_request_event() -> None:
    conn = negotiated('{"enable": ["oob"]}')
    (request,) = conn.receive_data(b'{"exec-oob": "migrate-pause", "id": null}')
    assert isinstance(request, Request)
    assert (request.name, request.arguments, request.id, request.has_id, request.oob) == (
        "migrate-pause",
        {},
        None,
        True,
        True,
    )
    (request,) = conn.receive_data(b'{"execute": "stop", "arguments": {"a": [1]}}')
    assert isinstance(request, Request)
    assert (request.arguments, request.has_id, request.oob) == ({"a": [1]}, False, False)


def test_lookup_may_be_a_function() -> None:
    seen = []

    def lookup(name: str) -> Command | None:
        seen.append(name)
        return Command() if name == "x-custom" else None

    conn = ServerConnection(VERSION, PACKAGE, commands=lookup)
    conn.receive_data(b'{"execute": "qmp_capabilities"}')
    conn.data_to_send()
    assert [type(e) for e in conn.receive_data(b'{"execute": "x-custom"}')] == [Request]
    (rejected,) = conn.receive_data(b'{"execute": "stop"}')
    assert rejected == Rejected(
        COMMAND_NOT_FOUND, "The command stop has not been found", None, False
    )
    assert seen == ["x-custom", "stop"]


# ---------------------------------------------------------------------------
# Order of replies and events.


def test_replies_keep_arrival_order() -> None:
    """In-band replies go out in request order, whatever order they are given in."""
    conn = negotiated()
    first, second = conn.receive_data(b'{"execute": "stop", "id": 1}{"execute": "stop", "id": 2}')
    assert isinstance(first, Request) and isinstance(second, Request)
    conn.receive_data(b"}")  # a parse error takes its turn too
    assert conn.pending == 2
    conn.send_return(second, {})
    assert conn.data_to_send() == b""
    conn.send_error(first, "DeviceNotActive", "no")
    assert conn.data_to_send() == (
        b'{"id": 1, "error": {"class": "DeviceNotActive", "desc": "no"}}\r\n'
        b'{"return": {}, "id": 2}\r\n'
        b'{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n'
    )
    assert conn.pending == 0


def test_out_of_band_overtakes() -> None:
    """exec-oob replies and errors do not wait for in-band requests (QEMU runs them at once)."""
    conn = negotiated('{"enable": ["oob"]}')
    (stop,) = conn.receive_data(b'{"execute": "stop", "id": "s"}')
    assert isinstance(stop, Request)
    (pause,) = conn.receive_data(b'{"exec-oob": "migrate-pause", "id": "p"}')
    assert isinstance(pause, Request)
    conn.receive_data(b'{"exec-oob": "query-status", "id": "q"}')
    conn.send_error(pause, GENERIC_ERROR, PAUSE_ERROR)
    conn.send_return(stop, {})
    # The error for "q" waits for "p", which QEMU ran before reading "q".
    assert conn.data_to_send().decode().splitlines() == [
        error_line(PAUSE_ERROR, id_='"p"').strip(),
        error_line("The command query-status does not support OOB", id_='"q"').strip(),
        '{"return": {}, "id": "s"}',
    ]


def test_events_come_before_the_reply_of_their_command() -> None:
    """Fact 3: stop -> STOP, then the return."""
    conn = negotiated()
    (stop,) = conn.receive_data(b'{"execute": "stop"}')
    assert isinstance(stop, Request)
    assert conn.send_event(
        {"event": "STOP", "timestamp": {"seconds": 1700000000, "microseconds": 12}}
    )
    conn.send_return(stop, {})
    assert conn.data_to_send() == (
        b'{"timestamp": {"seconds": 1700000000, "microseconds": 12}, "event": "STOP"}\r\n'
        b'{"return": {}}\r\n'
    )


def test_answering_twice_is_a_connection_misuse() -> None:
    conn = negotiated()
    (stop,) = conn.receive_data(b'{"execute": "stop"}')
    assert isinstance(stop, Request)
    conn.send_return(stop, {})
    with pytest.raises(ConnectionMisuseError):
        conn.send_return(stop, {})
    with pytest.raises(ConnectionMisuseError):
        negotiated().send_error(stop, GENERIC_ERROR, "x")
    (other,) = conn.receive_data(b'{"execute": "stop"}')
    assert isinstance(other, Request)
    with pytest.raises(TypeError):
        conn.send_return(other, {"x": object()})  # type: ignore[dict-item]


# ---------------------------------------------------------------------------
# Properties.

VALID_REQUESTS = [
    b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}',
    b'{"execute": "query-status", "id": 1}',
    b"{'execute': 'stop', 'arguments': {'a': [1, 2.5, null, true]}}",
    b'{"exec-oob": "migrate-pause", "id": "o"}',
    b'{"execute": "no-such", "id": {"a": "\\u00e9"}}',
    b'  {"execute" : "query-status" , "id" : [ ] }\r\n',
    b"42",
    b"\n",
]


def run(conn: ServerConnection, chunks: list[bytes]) -> tuple[list[str], bytes]:
    """Feed the chunks, answering every request as soon as it is read."""
    seen: list[str] = []
    for chunk in chunks:
        for event in conn.receive_data(chunk):
            seen.append(repr(event))
            for request in dispatch(conn, [event]):
                conn.send_return(request, {"ran": request.name})
    return seen, conn.data_to_send()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(VALID_REQUESTS), max_size=12), st.data())
def test_chunking_does_not_change_requests_or_replies(parts: list[bytes], data: Any) -> None:
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert run(connection(), chunks) == run(connection(), [stream])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(VALID_REQUESTS)), max_size=10))
def test_garbage_only_gives_protocol_replies(chunks: list[bytes]) -> None:
    """Random input never raises; every line out is a QMP reply."""
    conn = connection()
    conn.data_to_send()
    _, out = run(conn, chunks)
    for line in out.split(b"\r\n")[:-1]:
        message = json.loads(line)
        assert set(message) in ({"return"}, {"return", "id"}, {"error"}, {"error", "id"})


def test_ten_mebibyte_command_name() -> None:
    """Fact 27: a 10 MiB unknown command is echoed in full, in one pass."""
    conn = negotiated()
    name = "a" * (10 << 20)
    out = reply(conn, b'{"execute": "' + name.encode() + b'"}\n')
    assert out == error_line(f"The command {name} has not been found", COMMAND_NOT_FOUND)


def test_reader_limits_can_be_set() -> None:
    conn = connection(reader=JSONStreamReader(max_nesting=2))
    conn.data_to_send()
    assert reply(conn, b"[[[") == error_line("JSON nesting depth limit exceeded")
