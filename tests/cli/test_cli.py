"""The ``qapigen`` command: exit statuses, streams, the main job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qapigen.cli.commands import main

from ..support.paths import REPO


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_ok_is_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A good schema: exit 0, nothing printed."""
    schema = _write(tmp_path, "ok.json", "{ 'enum': 'Colour', 'data': [ 'red' ] }\n")
    assert main(["check", str(schema)]) == 0
    assert capsys.readouterr() == ("", "")


def test_check_error_goes_to_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad schema: QEMU's diagnostic on stderr, with the file name as given, exit 1."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "bad.json", "{ 'struct': 'Foo', 'data': { 'a': 'Bar' } }\n")
    assert main(["check", "bad.json"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "bad.json: In struct 'Foo':\nbad.json:1: member 'a' uses unknown type 'Bar'\n"


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unreadable schema file is an error like any other, not a traceback."""
    missing = str(tmp_path / "nope.json")
    assert main(["check", missing]) == 1
    err = capsys.readouterr().err
    assert err == f"can't read schema file '{missing}': No such file or directory\n"


def test_directory_as_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory is not a schema file; the error says so."""
    assert main(["check", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"can't read schema file '{tmp_path}': ")


def test_invalid_utf8_names_the_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bytes that are not UTF-8 give a located error."""
    path = tmp_path / "bin.json"
    path.write_bytes(b"# ok\n{ 'enum': 'E', 'data': [ '\xff' ] }\n")
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}:2:27: invalid UTF-8\n"


def test_include_chain_in_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors in included files show the chain of includes, as QEMU does."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    _write(tmp_path, "main.json", "# top\n{ 'include': 'sub/a.json' }\n")
    _write(tmp_path, "sub/a.json", "{ 'include': 'b.json' }\n")
    _write(tmp_path, "sub/b.json", "\n{ 'command': 'x', 'data': { 'A': 'int' } }\n")
    assert main(["check", "main.json"]) == 1
    assert capsys.readouterr().err == (
        "In file included from main.json:2:\n"
        "In file included from sub/a.json:1:\n"
        "sub/b.json: In command 'x':\n"
        "sub/b.json:2: name of 'data' member 'A' must not use uppercase or '_'\n"
    )


def test_summary_of_project_schema(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check --summary says what the project's schema defines."""
    monkeypatch.chdir(REPO)
    assert main(["check", "--summary", "schemas/qapi-schema.json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("schemas/qapi-schema.json: OK, ")
    assert "query-status" in out and "GUEST_PANICKED" in out


def test_main_job_shows_a_guest_panic() -> None:
    """qapigen alone: a simulated machine's guest panics; typed events and states show it."""
    proc = subprocess.run(
        [sys.executable, "-m", "qapigen"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    events = [line for line in lines if line.startswith("event: ")]
    assert [e.split("(")[0] for e in events] == [
        "event: GuestPanickedEvent",
        "event: StopEvent",
        "event: ResumeEvent",
        "event: ShutdownEvent",
    ]
    assert "status: StatusInfo(running=False, status=<RunState.GUEST_PANICKED" in proc.stdout
    assert lines[-1] == "the machine exited with status 0"
    assert proc.stderr == ""


def test_python_dash_m(tmp_path: Path) -> None:
    """``python -m qapigen`` is the same command."""
    schema = _write(tmp_path, "s.json", "{ 'struct': 'Foo', 'data': { 'a': 'Bar' } }\n")
    proc = subprocess.run(
        [sys.executable, "-m", "qapigen", "check", str(schema)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 1
    assert proc.stderr.endswith("1: member 'a' uses unknown type 'Bar'\n")


def test_a_schema_only_legacy_reads_gets_qemus_diagnostic_then_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QEMU 10.0's text stands unchanged; one more line says that --legacy reads it."""
    schema = _write(tmp_path, "old.json", "{ 'pragma': { 'returns-whitelist': [ 'x' ] } }\n")
    assert main(["check", str(schema)]) == 1
    diagnostic, hint = capsys.readouterr().err.splitlines()
    assert diagnostic == f"{schema}:1: unknown pragma 'returns-whitelist'"
    assert hint == "hint: --legacy reads schemas written for QEMU 5.0 to 9.2, and reads this one"
    assert main(["check", "--legacy", str(schema)]) == 0


def test_a_schema_legacy_cannot_read_either_gets_no_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = _write(tmp_path, "bad.json", "{ 'struct': 'Foo', 'data': { 'a': 'Bar' } }\n")
    assert main(["check", str(schema)]) == 1
    assert "hint" not in capsys.readouterr().err


def test_diff_of_qemu_7_2_without_legacy_says_legacy_reads_it(
    qemu_schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QEMU 7.2's schema fails 10.0's rules (exit 2, QEMU's text), and the hint follows."""
    old = str(qemu_schemas / "7.2" / "schema" / "qapi" / "qapi-schema.json")
    new = str(qemu_schemas / "10.0" / "schema" / "qapi" / "qapi-schema.json")
    assert main(["diff", old, new]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"{old}:32:1: '=' heading must come first in a comment block"
    assert lines[1].startswith("hint: --legacy reads")
    assert main(["diff", "--legacy-old", old, new]) == 1


def _check_bounded(path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``qapigen check PATH`` in a process that may use 1 GiB of memory and 30 s."""
    import resource

    def one_gibibyte() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    try:
        return subprocess.run(
            [sys.executable, "-m", "qapigen", "check", path],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            preexec_fn=one_gibibyte,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"qapigen check {path} hangs")


def _hostile_files(tmp_path: Path) -> None:
    """A FIFO, a file beyond the size cap, and a schema including each (and /dev/zero)."""
    import os

    os.mkfifo(tmp_path / "fifo")
    with open(tmp_path / "huge.json", "wb") as fp:
        fp.truncate((16 << 20) + 1)  # sparse: a file of spaces' size, nothing written
    for name, target in (("zero", "/dev/zero"), ("fifo", "fifo"), ("huge", "huge.json")):
        _write(tmp_path, f"inc-{name}.json", f"# a comment\n\n{{ 'include': '{target}' }}\n")
    _write(
        tmp_path, "outer.json", "{ 'enum': 'E', 'data': [ 'a' ] }\n{ 'include': 'inc-zero.json' }\n"
    )


@pytest.mark.parametrize(
    ("schema", "stderr"),
    [
        (
            "inc-zero.json",
            "inc-zero.json:3: can't read include file '/dev/zero': not a regular file",
        ),
        ("inc-fifo.json", "inc-fifo.json:3: can't read include file 'fifo': not a regular file"),
        (
            "inc-huge.json",
            "inc-huge.json:3: can't read include file 'huge.json': larger than 16 MiB",
        ),
        (
            "outer.json",
            "In file included from outer.json:2:\n"
            "inc-zero.json:3: can't read include file '/dev/zero': not a regular file",
        ),
        ("/dev/zero", "can't read schema file '/dev/zero': not a regular file"),
        ("fifo", "can't read schema file 'fifo': not a regular file"),
        ("huge.json", "can't read schema file 'huge.json': larger than 16 MiB"),
    ],
)
def test_what_is_not_a_schema_file_is_refused(schema: str, stderr: str, tmp_path: Path) -> None:
    """An include (or the schema itself) that is a device, a FIFO or a file beyond 16 MiB:
    a located error and exit 1, without reading it (QEMU's generator runs out of memory
    on /dev/zero and hangs on a FIFO)."""
    _hostile_files(tmp_path)
    proc = _check_bounded(schema, tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", stderr + "\n")


_STDLIB = "a module of Python's standard library, which the package would shadow or be shadowed by"
_RUNTIME = "a package generated code imports, which the package would shadow"


@pytest.mark.parametrize(
    ("package", "why"),
    [
        ("os", _STDLIB),
        ("sys", _STDLIB),
        ("json", _STDLIB),
        ("_thread", _STDLIB),
        ("qapigen", _RUNTIME),
        ("qapigen_qmp", _RUNTIME),
        ("qemu", _RUNTIME),
        ("__init__", "a special name of Python's"),
        ("__main__", "a special name of Python's"),
        ("class", "a Python keyword"),
        ("a.b", "not a Python identifier"),
        ("2fast", "not a Python identifier"),
        ("", "not a Python identifier"),
    ],
)
def test_generate_refuses_a_package_name_that_cannot_work(
    package: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A package that could never be imported as itself, or would shadow what it or
    others import: a clear error, exit 1, nothing written."""
    schema = _write(tmp_path, "ok.json", "{ 'enum': 'Colour', 'data': [ 'red' ] }\n")
    out = tmp_path / "out"
    assert main(["generate", str(schema), "-o", str(out), "--package", package]) == 1
    assert capsys.readouterr() == ("", f"package name '{package}' is {why}\n")
    assert not out.exists()


def test_a_reader_that_leaves_early_ends_the_output_quietly(tmp_path: Path) -> None:
    """``qapigen defines ... | head -1``: no traceback once the reader has gone,
    and the status a shell shows for a program stopped by SIGPIPE."""
    # Printed a line at a time, and far more than a pipe holds.
    schema = _write(
        tmp_path,
        "many.json",
        "".join(
            f"{{ 'enum': 'E{i}x', 'data': [ 'x' ], 'if': 'CONFIG_{i}' }}\n" for i in range(20000)
        ),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "qapigen", "defines", str(schema)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader leaves with most of the output unread
    stderr = proc.stderr.read().decode()
    status = proc.wait(timeout=60)
    assert first
    assert stderr == ""
    assert status == 141
