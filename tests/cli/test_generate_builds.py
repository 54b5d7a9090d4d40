"""``qapigen generate``: which build (conditions made safe), and bindings from a binary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qapigen import load_schema
from qapigen.backends.introspect import introspect
from qapigen.cli.commands import main
from qapigen.frontend.builds import symbols

from ..support.bindings import import_package, package_files, run_black_check
from ..support.qemu_introspect import canonical
from ..support.real_qemu import need_qemu_10

SCHEMA = """\
##
# @Info:
#
# @name: what
#
# @extra: more
##
{ 'struct': 'Info', 'data': { 'name': 'str', 'extra': { 'type': 'int', 'if': 'TARGET_A' } } }

##
# @go:
#
# Returns: the info
##
{ 'command': 'go', 'returns': 'Info' }

##
# @stop:
##
{ 'command': 'stop', 'if': { 'any': [ 'TARGET_A', 'TARGET_B' ] } }

##
# @GONE:
##
{ 'event': 'GONE', 'if': 'CONFIG_EVENTS' }
"""


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "s.json"
    path.write_text(SCHEMA)
    return path


def _generate(*args: str) -> int:
    return main(["generate", *args])


def test_reports_what_the_conditions_leave_out(
    schema: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    assert _generate(str(schema), "-o", out, "--package", "p") == 0
    captured = capsys.readouterr()
    assert captured.out == f"{out}/p: 6 files written, 0 unchanged\n"
    assert captured.err == (
        "qapigen generate: with no --define symbols, the conditions leave out 1 command, "
        "1 event, 1 member (--define what holds, --superset keeps all, --quiet says nothing):\n"
        "  commands: stop\n"
        "  events: GONE\n"
        "  members: Info.extra\n"
    )
    assert _generate(str(schema), "-o", out, "--package", "p", "--define", "TARGET_A") == 0
    assert capsys.readouterr().err == (
        "qapigen generate: with these --define symbols, the conditions leave out 1 event "
        "(--define what holds, --superset keeps all, --quiet says nothing):\n"
        "  events: GONE\n"
    )
    for quiet in (["--quiet"], ["--superset"]):
        assert _generate(str(schema), "-o", out, "--package", "p", *quiet) == 0
        assert capsys.readouterr().err == ""


def test_refuses_symbols_the_schema_never_uses(
    schema: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _generate(str(schema), "-o", str(out), "--package", "p", "--define", "TARGET_C") == 2
    assert capsys.readouterr().err == (
        "qapigen generate: --define TARGET_C: the schema's conditions never use it; "
        "they are: CONFIG_EVENTS, TARGET_A, TARGET_B\n"
    )
    assert not out.exists()


def test_reads_define_from_the_project(
    schema: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """[tool.qapigen] define holds when the command line gives no --define."""
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "pyproject.toml"
    project.write_text(
        '[tool.qapigen]\nschema = "s.json"\noutput = "gen"\npackage = "p"\n'
        'define = ["TARGET_B", "CONFIG_EVENTS"]\n'
    )
    assert _generate() == 0
    init = (tmp_path / "gen" / "p" / "__init__.py").read_text()
    assert "# --define CONFIG_EVENTS TARGET_B\n" in init
    pkg, _ = import_package(tmp_path / "gen", "p")
    assert sorted(pkg.COMMANDS) == ["go", "stop"] and list(pkg.EVENTS) == ["GONE"]
    capsys.readouterr()
    # The command line's --define replaces the project's.
    assert _generate("--define", "TARGET_A") == 0
    assert "# --define TARGET_A\n" in (tmp_path / "gen" / "p" / "__init__.py").read_text()
    capsys.readouterr()
    project.write_text('[tool.qapigen]\nschema = "s.json"\ndefine = ["TARGET_Z"]\n')
    assert _generate() == 2
    assert capsys.readouterr().err.startswith(
        "qapigen generate: pyproject.toml's [tool.qapigen] define names TARGET_Z: "
        "the schema's conditions never use it; they are: "
    )
    project.write_text('[tool.qapigen]\nschema = "s.json"\ndefine = "TARGET_A"\n')
    assert _generate() == 2
    assert capsys.readouterr().err == (
        "qapigen generate: pyproject.toml's [tool.qapigen] define must be a list of strings\n"
    )


def test_superset_docstrings_say_the_conditions(schema: Path, tmp_path: Path) -> None:
    assert _generate(str(schema), "-o", str(tmp_path), "--package", "sup", "--superset") == 0
    pkg, _ = import_package(tmp_path, "sup")
    assert sorted(pkg.COMMANDS) == ["go", "stop"] and list(pkg.EVENTS) == ["GONE"]
    assert "Only in builds where TARGET_A (so optional here)." in (pkg.Info.__doc__ or "")
    assert pkg.Info.from_wire({"name": "x"}).extra is None
    assert pkg.Info.from_wire({"name": "x", "extra": 1}).extra == 1
    stop = pkg.Handler.stop.__doc__ or ""
    assert "Only in builds where TARGET_A or TARGET_B." in stop


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s.json", "--from-qemu", "q"], "give a SCHEMA, or --from-qemu or --from-introspection"),
        (["--from-qemu", "q", "--from-introspection", "f"], "not allowed with argument"),
        (["--from-qemu", "q", "-o", "d", "--package", "p", "--define", "X"], "--define is for"),
        (["--from-introspection", "f", "-o", "d", "--package", "p", "--superset"], "--superset"),
        (["--from-qemu", "q", "-o", "d"], "need -o DIR and --package NAME"),
        (["s.json", "-o", "d", "--package", "p", "--", "-S"], "after -- are for --from-qemu"),
        (["s.json", "--define", "X", "--superset"], None),
    ],
)
def test_usage_errors(
    args: list[str], message: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    if message is None:
        assert _generate(*args) == 2
        assert "--define picks one build and --superset takes them all" in capsys.readouterr().err
        return
    with pytest.raises(SystemExit) as exit_:
        _generate(*args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def _same_package(a: Path, b: Path) -> None:
    assert package_files(a) == package_files(b)


def test_from_qemu_and_from_its_saved_reply_give_one_package(
    qemu_introspection: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Live or saved, the same build gives the same files (digest included); the
    package's introspection.json is the binary's reply, type for type."""
    qemu = need_qemu_10()
    live, saved = tmp_path / "live", tmp_path / "saved"
    assert _generate("--from-qemu", qemu, "-o", str(live), "--package", "q") == 0
    reply = tmp_path / "qemu-system-x86_64"
    reply.write_text(json.dumps({"return": qemu_introspection}))
    assert _generate("--from-introspection", str(reply), "-o", str(saved), "--package", "q") == 0
    _same_package(live / "q", saved / "q")
    shown = json.loads((live / "q" / "introspection.json").read_text())
    assert canonical(shown) == canonical(_no_empty_features(qemu_introspection))
    first = (live / "q" / "qemu_system_x86_64.py").read_text().splitlines()[:2]
    assert first[0].endswith("from qemu-system-x86_64")
    assert first[1].startswith("# schema sha256:")
    assert capsys.readouterr().err == ""  # one build: nothing to report


def _no_empty_features(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _no_empty_features(v) for k, v in value.items() if not (k == "features" and v == [])
        }
    if isinstance(value, list):
        return [_no_empty_features(v) for v in value]
    return value


def test_from_qemu_with_qemu_options(tmp_path: Path) -> None:
    """The options after -- replace -machine none: a machine with a device."""
    qemu = need_qemu_10()
    options = ["-machine", "q35", "-accel", "tcg", "-S", "-display", "none", "-nodefaults"]
    out = tmp_path / "out"
    args = ["--from-qemu", qemu, "-o", str(out), "--package", "q35", "--", *options]
    assert _generate(*args) == 0
    pkg, _ = import_package(out, "q35", walk=False)
    assert "query-cpu-model-expansion" in pkg.COMMANDS


def test_from_qemu_failures_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qemu = need_qemu_10()
    out = str(tmp_path / "out")
    missing = str(tmp_path / "no-such-qemu")
    assert _generate("--from-qemu", missing, "-o", out, "--package", "p") == 2
    assert capsys.readouterr().err == (
        f"qapigen generate: cannot start {missing}: No such file or directory\n"
    )
    args = ["--from-qemu", qemu, "-o", out, "--package", "p", "--", "-machine", "nonesuch"]
    assert _generate(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"qapigen generate: {qemu} closed its QMP monitor (exit status 1):\n")
    # QEMU's own message, as it printed it.
    assert 'unsupported machine type: "nonesuch"' in err
    assert not (tmp_path / "out").exists()


def test_from_introspection_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    missing = tmp_path / "nope.json"
    assert _generate("--from-introspection", str(missing), "-o", out, "--package", "p") == 1
    assert capsys.readouterr().err == (
        f"can't read introspection file '{missing}': No such file or directory\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "x", "meta-type": "command", "arg-type": "1", "ret-type": "1"}]')
    assert _generate("--from-introspection", str(bad), "-o", out, "--package", "p") == 1
    assert capsys.readouterr().err == (
        f"{bad}: SchemaInfo 1 (x): uses type '1', which the reply does not describe\n"
    )


def test_the_project_schema_through_its_introspection(tmp_path: Path) -> None:
    """The project's schema, written out as its reply and read back: the same
    commands and events, the same wire."""
    from ..support.paths import REPO

    schema = load_schema(str(REPO / "schemas" / "qapi-schema.json"))
    assert symbols(schema) == []
    reply = tmp_path / "reply.json"
    reply.write_text(json.dumps(introspect(schema)))
    assert _generate("--from-introspection", str(reply), "-o", str(tmp_path), "--package", "r") == 0
    pkg, _ = import_package(tmp_path, "r")
    assert sorted(pkg.COMMANDS) == sorted(c.name for c in schema.commands())
    assert sorted(pkg.EVENTS) == sorted(e.name for e in schema.events())
    status = pkg.COMMANDS["query-status"].ret_type
    assert status.decode({"status": "running", "running": True}, None, True).running is True


def test_a_hostile_reply_gives_safe_code(tmp_path: Path) -> None:
    """Names in a reply are text from outside: quoted, or mapped to identifiers."""
    marker = tmp_path / "pwned"
    hostile = f"x\"); open({str(marker)!r}, 'w') #"
    reply = [
        {"name": hostile, "meta-type": "command", "arg-type": "1", "ret-type": "0"},
        {"name": 'EV"""\nIL', "meta-type": "event", "arg-type": "0", "features": ['"""']},
        {"name": "0", "meta-type": "object", "members": []},
        {
            "name": "1",
            "meta-type": "object",
            "members": [
                {"name": "class", "type": "int"},
                {"name": 'a"b', "type": "2", "default": None},
                {"name": "__init__", "type": "[str]"},
            ],
        },
        {"name": "2", "meta-type": "enum", "values": ['"""', "a b", "None"]},
        {"name": "[str]", "meta-type": "array", "element-type": "str"},
        {"name": "int", "meta-type": "builtin", "json-type": "int"},
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
    ]
    path = tmp_path / "reply.json"
    path.write_text(json.dumps(reply))
    assert _generate("--from-introspection", str(path), "-o", str(tmp_path), "--package", "h") == 0
    pkg, _ = import_package(tmp_path, "h")
    assert list(pkg.COMMANDS) == [hostile] and list(pkg.EVENTS) == ['EV"""\nIL']
    args = pkg.COMMANDS[hostile].arg_type.from_wire(
        {"class": 1, 'a"b': '"""', "__init__": ["x"]}, strict=True
    )
    assert args.to_wire() == {"class": 1, 'a"b': '"""', "__init__": ["x"]}
    assert not marker.exists()
    assert run_black_check(tmp_path / "h").returncode == 0


def test_superset_and_define_for_introspect_and_jsonschema(
    schema: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every command that takes --define takes --superset, and refuses unknown symbols."""
    assert main(["introspect", str(schema), "--superset", "--unmask"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in shown if e["meta-type"] in ("command", "event")} == {
        "go",
        "stop",
        "GONE",
    }
    info = next(e for e in shown if e["name"] == "Info")
    assert info["members"] == [
        {"name": "name", "type": "str"},
        {"name": "extra", "type": "int", "default": None},
    ]
    out = tmp_path / "js"
    assert main(["jsonschema", str(schema), "-o", str(out), "--superset"]) == 0
    assert main(["jsonschema", str(schema), "-o", str(out), "--define", "TARGET_C"]) == 2
    assert main(["introspect", str(schema), "--define", "TARGET_C"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"qapigen {command}: --define TARGET_C: the schema's conditions never use it; "
        "they are: CONFIG_EVENTS, TARGET_A, TARGET_B"
        for command in ("jsonschema", "introspect")
    ]
