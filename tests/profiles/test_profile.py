"""Reading impersonation profiles: the shipped one, and files that are not profiles.

The shipped profile's facts are checked against the oracle's record of the same
QEMU (../shared/oracle: greeting, query-version, query-commands), which it was
not made from.
"""

from __future__ import annotations

import json
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from qapigen.cli.commands import main
from qapigen.profiles import profile
from qapigen.profiles.profile import ProfileError

from ..support.paths import need_shared

SHIPPED = profile.default()


def _oracle(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(need_shared("oracle", name).read_text())
    return data


def test_qapigen_vm_starts_without_reading_or_importing_profiles() -> None:
    code = (
        "import sys, qapigen.cli.commands, qapigen.vm.program, qapigen.machine, "
        "qapigen.qmp.selector_server, qapigen.simulator_api\n"
        "print(*sorted(m for m in sys.modules if m in ('lzma', 'qapigen.profiles')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_the_shipped_profile_is_debians_qemu_10_0_2_for_x86_64() -> None:
    assert SHIPPED.version_text == "10.0.2"
    assert SHIPPED.package == "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"
    assert SHIPPED.target == "x86_64"
    assert list(SHIPPED.sessions) == ["probe", "probe-tcg", "domain"]
    assert Path(profile.SHIPPED).stat().st_size < 100_000  # tens of KB


def test_the_shipped_greeting_and_version_are_the_oracles() -> None:
    assert SHIPPED.greeting == _oracle("qmp-greeting.json")["greeting"]
    reply = SHIPPED.reply("query-version")
    assert reply is not None
    assert reply.message == _oracle("query-version.json")["reply"]


def test_the_shipped_schema_lists_the_oracles_commands() -> None:
    reply = _oracle("query-commands.json")["reply"]
    assert isinstance(reply, dict)
    assert sorted(SHIPPED.commands()) == sorted(c["name"] for c in reply["return"])


def test_replies_are_found_by_command_and_arguments_in_any_key_order() -> None:
    kvm = SHIPPED.reply("query-kvm", session="probe-tcg")
    assert kvm is not None and kvm.ok
    assert kvm.value == {"enabled": False, "present": True}
    expansion = {"type": "static", "model": {"name": "max", "props": {"migratable": False}}}
    reordered = {"model": {"props": {"migratable": False}, "name": "max"}, "type": "static"}
    found = SHIPPED.reply("query-cpu-model-expansion", expansion, session="probe-tcg")
    assert found is not None
    assert SHIPPED.reply("query-cpu-model-expansion", reordered, session="probe-tcg") is found
    # Asked in the second round only.
    assert SHIPPED.reply("query-cpu-model-expansion", expansion) is None
    assert SHIPPED.reply("no-such-command") is None


def test_errors_are_kept_with_their_class_and_text() -> None:
    reply = SHIPPED.reply("query-sev-capabilities", session="probe-tcg")
    assert reply is not None and not reply.ok
    assert reply.error == ("GenericError", "KVM not enabled")
    assert reply.value is None


def test_what_depends_on_the_host_is_marked() -> None:
    probe = SHIPPED.sessions["probe"]
    kvm = probe.exchange("query-kvm")
    assert kvm is not None and "accel" in kvm.marks
    host = probe.exchange(
        "query-cpu-model-expansion", {"type": "static", "model": {"name": "host"}}
    )
    assert host is not None and "host-cpu" in host.marks
    sgx = probe.exchange("query-sgx-capabilities")
    assert sgx is not None and sgx.marks == {"host-devices"}
    schema = probe.exchange("query-qmp-schema")
    assert schema is not None and schema.marks == frozenset()
    block = SHIPPED.sessions["domain"].exchange("query-block")
    assert block is not None and block.marks == {"machine"}
    for _, exchange in SHIPPED.exchanges():
        assert exchange.marks <= set(profile.MARKS)


def test_the_introspection_is_query_qmp_schemas_answer() -> None:
    schema = SHIPPED.introspection()
    names = {e["name"] for e in schema}
    assert {"query-status", "GUEST_PANICKED", "query-qmp-schema", "x-exit-preconfig"} <= names
    assert all(isinstance(e, dict) and "meta-type" in e for e in schema)


def test_help_is_what_the_binary_printed() -> None:
    version = SHIPPED.help("-version")
    assert version is not None
    assert version[1] == 0
    assert version[0].startswith("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2")
    machines = SHIPPED.help("-machine help")
    assert machines is not None and "pc-i440fx-10.0" in machines[0]
    assert SHIPPED.help("-nothing") is None


def _xz(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "p.json.xz"
    path.write_bytes(lzma.compress(json.dumps(document).encode()))
    return path


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read a profile: No such file or directory"),
        (b"not xz", "not an xz-compressed profile: Input format not supported by decoder"),
        (
            lzma.compress(b"{"),
            "not a profile: not JSON (Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1))",
        ),
        (lzma.compress(b"[1]"), "not a profile: no 'qapigen-profile' member"),
        (lzma.compress(b'{"qapigen-profile": 99}'), "profile format 99; this qapigen reads 1"),
        (
            lzma.compress(b'{"qapigen-profile": 1, "replies": []}'),
            "not a profile: 'sessions' is missing or not an object",
        ),
        (
            lzma.compress(
                b'{"qapigen-profile": 1, "replies": [], '
                b'"sessions": {"probe": {"argv": [], "accel": "tcg", '
                b'"exchanges": [["query-kvm", null, 0, []]]}}}'
            ),
            "session 'probe' is malformed: list index out of range",
        ),
    ],
    ids=["absent", "not-xz", "not-json", "no-member", "format", "no-sessions", "bad-reply"],
)
def test_a_file_that_is_not_a_profile_says_why(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "p.json.xz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ProfileError) as info:
        profile.load(path)
    assert str(info.value) == f"{path}: {reason}"


def test_profile_show_lists_the_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "show"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == (
        f"{profile.SHIPPED}: QEMU 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1), target x86_64"
    )
    assert "session probe-tcg (accel tcg): 52 exchanges" in lines
    # Every object and alternate of the introspection is named.
    named = [
        e for e in profile.default().introspection() if e["meta-type"] in ("object", "alternate")
    ]
    assert f"schema facts: {len(named)} type names, the integer members of 139 types" in lines
    assert (
        "  query-sev-capabilities -> GenericError: KVM not enabled  [accel, host-devices]" in lines
    )
    assert "  qom-get x464" in lines


def test_profile_show_of_a_bad_file_is_one_line_and_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _xz(tmp_path, {"qapigen-profile": 2})
    assert main(["profile", "show", str(path)]) == 1
    assert capsys.readouterr() == (
        "",
        f"qapigen profile show: {path}: profile format 2; this qapigen reads 1\n",
    )
