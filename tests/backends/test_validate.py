"""``qapigen validate``: QEMU's strict acceptance, every fault with a pointer."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.validate import Validator
from qapigen.cli.commands import main
from qapigen.frontend.schema import Schema

from ..support.paths import need_shared


@pytest.fixture(scope="module")
def qemu() -> Schema:
    return load_schema(str(need_shared("qemu", "10.0", "schema", "qapi", "qapi-schema.json")))


@pytest.fixture(scope="module")
def validator(qemu: Schema) -> Validator:
    return Validator(qemu)


def _oracle(name: str) -> Any:
    return json.loads(need_shared("oracle", name).read_text())


def _line(direction: str, message: object) -> str:
    return f"{direction} {json.dumps(message)}"


def _server_transcripts() -> list[tuple[str, str]]:
    """(name, transcript) of every message real QEMU sent, with the commands it accepted."""
    out = []
    for sc in _oracle("scenarios.json")["scenarios"]:
        lines: list[str] = []
        sent: list[str] = []
        for item in sc["transcript"]:
            if item["dir"] == "send":
                sent += item["text"].splitlines()
            elif item["dir"] == "recv":
                msg = item["msg"]
                if item.get("kind") == "event":
                    msg = {k: v for k, v in msg.items() if k in ("event", "data")}
                elif item.get("kind") in ("return", "error") and sent:
                    command = sent.pop(0)
                    # A command QEMU refused is checked by the next test.
                    lines.append("-> " + (command if "return" in msg else '{"execute": "quit"}'))
                lines.append(_line("<-", msg))
        out.append((sc["name"], "\n".join(lines)))
    for name in ("query-version.json", "query-commands.json"):
        rec = _oracle(name)
        out.append((name, _line("->", rec["request"]) + "\n" + _line("<-", rec["reply"])))
    out.append(("greeting", _line("<-", _oracle("qmp-greeting.json")["greeting"])))
    return out


def test_every_recorded_message_validates(validator: Validator) -> None:
    """Everything real QEMU 10.0.2 sent, and every command it accepted, passes --qmp."""
    checked = 0
    for name, transcript in _server_transcripts():
        assert validator.check_transcript(transcript, name) == [], name
        checked += transcript.count("\n") + 1
    assert checked > 100


def test_commands_qemu_refused_are_refused_alike(validator: Validator) -> None:
    """Where QEMU refused a command's arguments, the first fault reported is QEMU's text."""
    compared = 0
    for sc in _oracle("scenarios.json")["scenarios"]:
        sent: list[dict[str, Any]] = []
        for item in sc["transcript"]:
            if item["dir"] == "send":
                sent += [json.loads(t) for t in item["text"].splitlines()]
            elif item.get("kind") in ("return", "error") and sent:
                command = sent.pop(0)
                error = item["msg"].get("error")
                if error is None or not error["desc"].startswith(("Parameter", "Invalid")):
                    continue
                problems = validator.check_arguments(
                    command["execute"], command.get("arguments", {})
                )
                assert problems and problems[0].message == error["desc"], command
                compared += 1
    assert compared >= 5


STATUS_TRANSCRIPT = """\
-> { "execute": "query-status" }
<- { "return": { "status": "running",
                 "running": true } }
"""


@pytest.mark.parametrize(
    ("mutate", "pointer", "message"),
    [
        (
            lambda r: r.update(running="yes"),
            "/return/running",
            "Invalid parameter type for 'running', expected: boolean",
        ),
        (lambda r: r.pop("status"), "/return", "Parameter 'status' is missing"),
        (
            lambda r: r.update(status="sleeping"),
            "/return/status",
            "Parameter 'status' does not accept value 'sleeping'",
        ),
        (lambda r: r.update(extra=1), "/return/extra", "Parameter 'extra' is unexpected"),
    ],
)
def test_mutated_reply_rejected_with_pointer(
    validator: Validator, mutate: Any, pointer: str, message: str
) -> None:
    """A wrong type, a missing member, an unknown enum value: each named and located."""
    reply = {"status": "running", "running": True}
    mutate(reply)
    text = "-> " + json.dumps({"execute": "query-status"}) + "\n<- " + json.dumps({"return": reply})
    problems = validator.check_transcript(text)
    assert [(p.pointer, p.message, p.line) for p in problems] == [(pointer, message, 2)]


def test_multiline_messages_and_matching_by_id(validator: Validator) -> None:
    """Messages may span lines; replies match their command by id, not order."""
    text = """\
-> { "execute": "query-status", "id": 1 }
-> { "execute": "query-version",
     "id": 2 }
<- { "return": { "qemu": { "major": 10, "minor": 0, "micro": 2 },
                 "package": "" },
     "id": 2 }
<- { "return": { "status": "paused", "running": false }, "id": 1 }
"""
    assert validator.check_transcript(text) == []
    swapped = text.replace('"id": 2 }\n<-', '"id": 1 }\n<-', 1)
    assert validator.check_transcript(swapped) != []


def test_every_fault_reported(validator: Validator) -> None:
    """Unlike QEMU's first-error-wins, all faults of a document are reported."""
    args = {"panic": "bogus", "reboot": 1, "unknown": True}
    problems = validator.check_arguments("set-action", args)
    assert sorted((p.pointer, p.message) for p in problems) == [
        ("/panic", "Parameter 'panic' does not accept value 'bogus'"),
        ("/reboot", "Invalid parameter type for 'reboot', expected: string"),
        ("/unknown", "Parameter 'unknown' is unexpected"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (300, "Parameter 'cpu-throttle-initial' expects uint8_t"),
        (-1, "Parameter 'cpu-throttle-initial' expects uint8_t"),
        (1.5, "Parameter 'cpu-throttle-initial' expects uint64"),
        (50, None),
    ],
)
def test_integer_rules_follow_qemu(
    validator: Validator, value: object, expected: str | None
) -> None:
    """QEMU's integer visitor: uint8 through uint64 (fact 28 of the oracle)."""
    problems = validator.check_arguments("migrate-set-parameters", {"cpu-throttle-initial": value})
    assert [p.message for p in problems] == ([expected] if expected else [])


def test_negative_uint64_wraps_as_in_qemu(validator: Validator) -> None:
    """QEMU accepts -1 for uint64/size members (oracle fact 28)."""
    assert validator.check_arguments("migrate-set-parameters", {"max-bandwidth": -1}) == []


def test_union_branch_members_checked(validator: Validator) -> None:
    """A union is checked by its discriminator's branch, nested unions too."""
    good = {"driver": "qcow2", "node-name": "n", "file": {"driver": "file", "filename": "f"}}
    assert validator.check_type("BlockdevOptions", good) == []
    bad = copy.deepcopy(good)
    bad["file"]["filename"] = 3  # type: ignore[index]
    problems = validator.check_type("BlockdevOptions", bad)
    assert [(p.pointer, p.message) for p in problems] == [
        ("/file/filename", "Invalid parameter type for 'file.filename', expected: string")
    ]
    assert [p.message for p in validator.check_type("BlockdevOptions", {"driver": "nope"})] == [
        "Parameter 'driver' does not accept value 'nope'"
    ]


def test_alternate_by_json_type(validator: Validator) -> None:
    """An alternate takes the branch of the value's JSON type, or names the alternate."""
    assert validator.check_type("BlockdevRef", "node0") == []
    problems = validator.check_type("BlockdevRef", 5)
    assert [p.message for p in problems] == [
        "Invalid parameter type for 'null', expected: BlockdevRef"
    ]


def test_examples_of_a_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--examples checks qmp-example blocks and reports the ones that do not match."""
    schema = tmp_path / "s.json"
    schema.write_text(
        "##\n# @Info:\n#\n# @count: how many\n##\n"
        "{ 'struct': 'Info', 'data': { 'count': 'uint8' } }\n"
        "##\n# @get-info:\n#\n# Returns: the info\n#\n"
        "# .. qmp-example::\n#\n"
        '#    -> { "execute": "get-info" }\n'
        '#    <- { "return": { "count": 3 } }\n#\n'
        "# .. qmp-example::\n#    :title: A wrong one\n#\n"
        '#    -> { "execute": "get-info" }\n'
        '#    <- { "return": { "count": 300 } }\n#\n'
        "# .. qmp-example::\n#    :title: With the notation's placeholders\n#\n"
        "#    -> ... text sent by the client ...\n"
        '#    -> { "execute": "get-info" }\n'
        '#    <- { "return": { ... } }\n'
        "##\n"
        "{ 'command': 'get-info', 'returns': 'Info' }\n"
    )
    assert main(["validate", str(schema), "--examples"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{schema}:21 /return/count: Parameter 'count' expects uint8_t",
        "3 examples, 7 messages: 1 fault in 1 example; "
        "2 messages skipped (they hold the notation's '...' placeholders)",
    ]


def test_qemu_examples_are_checked(validator: Validator) -> None:
    """QEMU's own examples: most pass, and a known wrong one is caught."""
    from qapigen.backends.validate import check_examples

    problems = check_examples(validator)
    offsets = [p for p in problems if p.pointer.endswith("/addr/offset")]
    # migration.json's file-channel example writes the offset as a string.
    assert offsets and "expects uint64" in offsets[0].message
    assert len(problems) < 100


def test_qemu_examples_cli_skips_placeholders_and_sums_up(
    qemu_schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The notation's '...' (the notation's own description in qapi-schema.json,
    elided list elements in control.json) is no fault; a real defect (missing
    commas in block-core.json's query-blockstats example) still is."""
    path = qemu_schemas / "10.0" / "schema" / "qapi"
    assert main(["validate", str(path / "qapi-schema.json"), "--examples"]) == 1
    lines = capsys.readouterr().out.splitlines()
    places = [line.split(" ", 1)[0] for line in lines[:-1]]
    assert f"{path / 'block-core.json'}:1185" in places
    for skipped in ("qapi-schema.json:15", "qapi-schema.json:16", "control.json:141"):
        assert f"{path / skipped}" not in places
    assert re.fullmatch(
        r"\d+ examples, \d+ messages: \d+ faults in \d+ examples; "
        r"6 messages skipped \(they hold the notation's '...' placeholders\)",
        lines[-1],
    )
    # One line per fault and pointer pattern: pci.json's five devices are one.
    pci = [line for line in lines if "irq_pin" in line]
    assert pci == [
        f"{path / 'pci.json'}:188 /return/*/devices/*: "
        "Parameter '[*].devices[*].irq_pin' is missing (5 times)"
    ]


def test_faults_are_grouped_by_pointer_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same fault in every element of a list, over several replies: one line, counted."""
    schema = str(need_shared("qemu", "10.0", "schema", "qapi", "qapi-schema.json"))
    transcript = tmp_path / "t.txt"
    reply = {"return": [{"running": True} for _ in range(30)]}
    transcript.write_text(
        "\n".join(
            [
                '-> {"execute": "query-status"}',
                '<- {"return": {"running": true, "status": "running"}}',
                '-> {"execute": "query-iothreads"}',
                f"<- {json.dumps(reply)}",
                '-> {"execute": "query-iothreads"}',
                f"<- {json.dumps(reply)}",
            ]
        )
    )
    assert main(["validate", schema, "--qmp", str(transcript)]) == 1
    out = capsys.readouterr().out.splitlines()
    missing = ["id", "thread-id", "poll-max-ns", "poll-grow", "poll-shrink", "aio-max-batch"]
    expected = [
        f"{transcript}:4 /return/*: Parameter '[*].{name}' is missing (60 times, lines 4 to 6)"
        for name in missing
    ]
    expected.insert(
        1,
        f"{transcript}:4 /return/*/running: Parameter '[*].running' is unexpected "
        "(60 times, lines 4 to 6)",
    )
    assert sorted(out) == sorted(expected)


def test_define_picks_one_build(
    qemu_schemas: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """By default a value is checked against every build at once; --define
    checks it against one, and refuses a symbol the schema never uses."""
    schema = str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json")
    transcript = tmp_path / "t.txt"
    transcript.write_text(
        '-> {"execute": "query-sev"}\n'
        '<- {"return": {"enabled": false, "api-major": 0, "api-minor": 0, "build-id": 0, '
        '"policy": 0, "state": "uninit", "handle": 0, "sev-type": "sev"}}\n'
    )
    assert main(["validate", schema, "--qmp", str(transcript)]) == 0
    assert main(["validate", schema, "--qmp", str(transcript), "--define", "TARGET_I386"]) == 0
    assert main(["validate", schema, "--qmp", str(transcript), "--define", "TARGET_ARM"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{transcript}:1 /arguments: The command query-sev has not been found",
        f"{transcript}:2 /return: The command query-sev has not been found",
    ]
    args = ["validate", schema, "--qmp", str(transcript)]
    assert main([*args, "--define", "TARGET_X86"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "qapigen validate: --define TARGET_X86: the schema's conditions never use it; "
        "they are: CONFIG_AF_XDP, "
    )
    assert main([*args, "--define", "TARGET_I386", "--superset"]) == 2
    assert capsys.readouterr().err == (
        "qapigen validate: --define picks one build and --superset takes them all: give one\n"
    )


def test_cli_files_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """validate --type over files: exit 0 when all pass, 1 listing every fault."""
    schema = str(need_shared("qemu", "10.0", "schema", "qapi", "qapi-schema.json"))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"status": "running", "running": true}')
    bad.write_text('{"status": "running"}')
    assert main(["validate", schema, "--type", "StatusInfo", str(good)]) == 0
    assert main(["validate", schema, "--type", "StatusInfo", str(good), str(bad)]) == 1
    assert capsys.readouterr().out == f"{bad} /: Parameter 'running' is missing\n"
