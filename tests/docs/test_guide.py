"""docs/guide.md's examples run as written, and print what the guide shows.

Each example block of the guide carries a note (``<!-- example: KIND -->``, see
``tests/support/guide.py``) saying what runs beside it. Python examples of these kinds
run each in a fresh private folder (its current directory):

- ``vm``: ``qapigen vm -S`` with its QMP monitor on ``qmp.sock``;
- ``qemu``: QEMU 10.0 (``-S -machine none``) on ``qmp.sock``, and QEMU's bindings
  importable as ``qemu_api``;
- ``qga``: qemu-ga on ``qga.sock`` (allowed only commands that read), and its bindings
  importable as ``qga_api``;
- ``plain``: nothing (the example starts what it needs).

A section's ``console`` examples (shell transcripts: ``$ COMMAND`` lines, each followed by
what it prints, standard error included) and ``section`` examples (Python) run in order
in one folder of the section's own, with the section's ``file`` blocks written as the
guide reaches them, and QEMU's schemas (the shared data's) at ``qemu/``.

A Python example passes when it exits with status 0 (the examples assert what they
claim) and prints what the ``output`` block after it shows (nothing, without one). A
console command passes when it prints what the guide shows, and exits with status 0
unless the next command is ``echo $?``, which shows its status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from ..support.apis import qemu_api, qga_api
from ..support.emulators import (
    HAVE_QEMU,
    HAVE_QEMU_GA,
    NO_QEMU,
    NO_QEMU_GA,
    QEMU,
    QEMU_NONE,
    TIMEOUT,
    VM,
    private_folder,
    qemu_ga,
    wait_for_socket,
)
from ..support.guide import Block, blocks, matches, results, script, transcript
from ..support.paths import shared_dir

ALONE = ("vm", "qemu", "qga", "plain")
IN_SECTION = ("console", "section")
_BLOCKS = blocks()


def _shown_output(index: int) -> str:
    """The output the guide shows after the block at ``index`` ("" if none)."""
    following = _BLOCKS[index + 1] if index + 1 < len(_BLOCKS) else None
    return following.text if following is not None and following.note == "output" else ""


def _examples() -> list[tuple[Block, str]]:
    """Each Python example run alone, and the output shown for it."""
    return [(b, _shown_output(i)) for i, b in enumerate(_BLOCKS) if b.kind in ALONE]


def _sections() -> dict[str, list[tuple[Block, str]]]:
    """The sections' own examples and files, in order, by section."""
    found: dict[str, list[tuple[Block, str]]] = {}
    for i, block in enumerate(_BLOCKS):
        if block.kind in IN_SECTION or block.file_name is not None:
            found.setdefault(block.section, []).append((block, _shown_output(i)))
    return found


def test_every_block_is_run_or_checked() -> None:
    """No example escapes the tests: every Python and console block is an example of a
    known kind (or a file a section's examples use), every output follows an example,
    every file block's section runs examples, and the only other blocks are the install
    commands (``test_install_names_real_extras``)."""
    for i, block in enumerate(_BLOCKS):
        where = f"docs/guide.md:{block.line}"
        if block.note == "output":
            before = _BLOCKS[i - 1]
            assert before.lang == "python" and before.kind is not None, where
        elif block.file_name is not None:
            section = _sections()[block.section]
            assert any(b.kind in IN_SECTION for b, _ in section), where
        elif block.lang in ("python", "console"):
            kinds = (*ALONE, "section") if block.lang == "python" else ("console",)
            assert block.kind in kinds, where
        else:
            assert block.lang == "sh" and block.text.startswith("pip install"), where


def test_install_names_real_extras() -> None:
    """The install commands name the package and extras that pyproject.toml defines, and
    what an extra brings (in brackets in the comment) is among its dependencies."""
    import tomllib

    from ..support.paths import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    commands = [b for b in _BLOCKS if b.lang == "sh"]
    assert commands
    for block in commands:
        for line in block.text.splitlines():
            command, _, comment = line.partition("#")
            name, _, extras = command.split()[2].strip("'").partition("[")
            assert name == project["name"]
            needed: list[str] = []
            for extra in filter(None, extras.rstrip("]").split(",")):
                assert extra in project["optional-dependencies"], line
                needed += project["optional-dependencies"][extra]
            brought = comment.partition("(")[2].rstrip(") ").split(", ")
            for dependency in filter(None, brought):
                assert any(n.lower().startswith(dependency.lower()) for n in needed), line


def _package_folder(module: object) -> str:
    return str(Path(str(getattr(module, "__file__", ""))).parent.parent)


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # The installed qapigen command, as a user's shell finds it.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Standard error and output in the order a terminal shows them.
    env["PYTHONUNBUFFERED"] = "1"
    # What fits the width goes by the terminal's: the guide shows 80 columns.
    env["COLUMNS"] = "80"
    return env


@contextmanager
def _beside(kind: str, folder: Path) -> Iterator[dict[str, str]]:
    """Start what ``kind`` needs in ``folder``; the environment for the example."""
    env = _environment()
    with ExitStack() as stack:
        if kind in ("vm", "qemu"):
            if kind == "qemu" and not HAVE_QEMU:
                pytest.skip(NO_QEMU)
            program = VM if kind == "vm" else (str(QEMU), *QEMU_NONE)
            argv = [*program, "-S", "-qmp", "unix:qmp.sock,server=on,wait=off"]
            proc = subprocess.Popen(argv, cwd=folder, stderr=subprocess.PIPE)
            stack.callback(_end, proc)
            wait_for_socket(proc, str(folder / "qmp.sock"))
            if kind == "qemu":
                env["PYTHONPATH"] = _package_folder(qemu_api())
        elif kind == "qga":
            if not HAVE_QEMU_GA:
                pytest.skip(NO_QEMU_GA)
            stack.enter_context(qemu_ga(folder))
            env["PYTHONPATH"] = _package_folder(qga_api())
        yield env


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(TIMEOUT)
    if proc.stderr is not None:
        proc.stderr.close()


def _check_output(block: Block, shown: str, proc: subprocess.CompletedProcess[str]) -> None:
    where = f"docs/guide.md:{block.line}"
    assert proc.returncode == 0, f"{where}\n{proc.stdout}{proc.stderr}"
    assert matches(shown, proc.stdout), f"{where} shows\n{shown}but it printed\n{proc.stdout}"


@pytest.mark.parametrize(
    ("block", "shown"), _examples(), ids=[f"line{b.line}-{b.kind}" for b, _ in _examples()]
)
def test_example(block: Block, shown: str, tmp_path: Path) -> None:
    assert block.kind is not None
    folder = private_folder(tmp_path)
    with _beside(block.kind, folder) as env:
        (folder / "example.py").write_text(block.text)
        proc = subprocess.run(
            [sys.executable, "example.py"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=10 * TIMEOUT,
        )
    _check_output(block, shown, proc)


def _needs(section: list[tuple[Block, str]]) -> None:
    """Skip, saying why, a section whose examples need what is missing here."""
    text = "".join(block.text for block, _ in section)
    if "qemu/" in text and shared_dir() is None:
        pytest.skip("QEMU's schemas are absent: set QAPIGEN_SHARED or put them at ../shared")
    if "qemu-system-x86_64" in text and not HAVE_QEMU:
        pytest.skip(NO_QEMU)


def _run_console(block: Block, folder: Path, env: dict[str, str]) -> None:
    commands = transcript(block)
    proc = subprocess.run(
        ["sh", "-c", script(commands)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=10 * TIMEOUT,
    )
    outcomes = results(proc.stdout)
    assert len(outcomes) == len(commands), f"docs/guide.md:{block.line}\n{proc.stdout}"
    for i, (command, (printed, status)) in enumerate(zip(commands, outcomes, strict=True)):
        where = f"docs/guide.md:{command.line}: $ {command.command}"
        assert matches(command.shown, printed), f"{where}\nshows\n{command.shown}prints\n{printed}"
        shows_status = i + 1 < len(commands) and commands[i + 1].command == "echo $?"
        assert status == 0 or shows_status, f"{where}\nexit status {status}, not shown"


@pytest.mark.parametrize("section", sorted(_sections()))
def test_section(section: str, tmp_path: Path) -> None:
    examples = _sections()[section]
    _needs(examples)
    folder = private_folder(tmp_path)
    shared = shared_dir()
    if shared is not None:
        (folder / "qemu").symlink_to(shared / "qemu" / "10.0" / "schema")
    env = _environment()
    env["PYTHONPATH"] = str(folder)
    for block, shown in examples:
        if block.file_name is not None:
            (folder / block.file_name).write_text(block.text)
        elif block.kind == "console":
            _run_console(block, folder, env)
        else:
            proc = subprocess.run(
                [sys.executable, "-"],
                input=block.text,
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=10 * TIMEOUT,
            )
            _check_output(block, shown, proc)


@pytest.mark.parametrize(
    ("shown", "printed", "agree"),
    [
        ("a\nb\n", "a\nb\n", True),
        ("a\nb\n", "a\nc\n", False),
        ("a\n", "a\nb\n", False),
        ("a ... c\n", "a b b c\n", True),
        ("a ... c\n", "a b\nb c\n", False),
        ("a\n...\nz\n", "a\nz\n", True),
        ("a\n...\nz\n", "a\nb\nc\nz\n", True),
        ("a\n...\nz\n", "a\nb\n", False),
        ("", "", True),
        ("", "x\n", False),
    ],
)
def test_shown_outputs_match_only_what_they_say(shown: str, printed: str, agree: bool) -> None:
    """The checks of shown outputs can fail: ``...`` stands for a line's rest or for
    lines, nothing else does."""
    assert matches(shown, printed) is agree


def test_console_results_carry_each_commands_status(tmp_path: Path) -> None:
    """A transcript's script tells each command's output and exit status apart, and
    ``echo $?`` shows the status of the command before it."""
    block = Block(1, "", "console", "example: console", "$ echo a\n$ false\n$ echo $?\n")
    proc = subprocess.run(
        ["sh", "-c", script(transcript(block))], cwd=tmp_path, capture_output=True, text=True
    )
    assert results(proc.stdout) == [("a\n", 0), ("", 1), ("1\n", 0)]
