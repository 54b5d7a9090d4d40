"""docs/guide.md as the tests read it: its fenced blocks, the notes that say what each
block is, shown outputs as patterns, and shell transcripts as scripts.

A note is an HTML comment on the line right before a block's fence:

- ``<!-- example: KIND -->``: an example the test suite runs (``tests/docs/test_guide.py``
  says what each kind runs beside);
- ``<!-- output -->``: what the example right before it prints (its standard output);
- ``<!-- file: NAME -->``: a file the section's ``console`` and ``section`` examples find
  in their folder, written when the guide reaches it.

In a shown output, a line ``...`` stands for any lines (none included), and ``...``
within a line for any text on that line: what changes from run to run (times, process
ids) is left out that way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from .paths import REPO

GUIDE = REPO / "docs" / "guide.md"

_NOTE = re.compile(r"^<!-- (.*?) -->$")
_HEADING = re.compile(r"^(#+) (.*)$")


class Block(NamedTuple):
    """One fenced block: the line of its first text line, its section (the heading
    above it), its fence's language, its note (empty: none) and its text."""

    line: int
    section: str
    lang: str
    note: str
    text: str

    @property
    def kind(self) -> str | None:
        """The kind of an example (its note ``example: KIND``), else None."""
        what, _, kind = self.note.partition(": ")
        return kind if what == "example" else None

    @property
    def file_name(self) -> str | None:
        """The name of a file block (its note ``file: NAME``), else None."""
        what, _, name = self.note.partition(": ")
        return name if what == "file" else None


def blocks(path: Path = GUIDE) -> list[Block]:
    """Every fenced block of ``path``, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _HEADING.match(line)
        if heading:
            section = heading.group(2)
        if not line.startswith("```"):
            i += 1
            continue
        note = _NOTE.match(lines[i - 1]) if i else None
        start = i + 1
        end = start
        while end < len(lines) and lines[end] != "```":
            end += 1
        text = "".join(f"{text_line}\n" for text_line in lines[start:end])
        found.append(Block(start + 1, section, line[3:], note.group(1) if note else "", text))
        i = end + 1
    return found


def output_pattern(shown: str) -> re.Pattern[str]:
    """The pattern of an output as the guide shows it (see the module's documentation)."""
    parts = []
    for line in shown.splitlines():
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def matches(shown: str, printed: str) -> bool:
    """Whether ``printed`` is what the guide's ``shown`` output says."""
    return output_pattern(shown).fullmatch(printed) is not None


class Command(NamedTuple):
    """One command of a shell transcript (``$ `` lines, continued by a trailing ``\\``),
    and the output shown after it."""

    line: int
    command: str
    shown: str


def transcript(block: Block) -> list[Command]:
    """The commands of a ``console`` block."""
    commands: list[Command] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"docs/guide.md:{block.line + i}: output before any command")
        line = block.line + i
        command = lines[i][2:]
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command += "\n" + lines[i]
        i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i] + "\n")
            i += 1
        commands.append(Command(line, command, "".join(shown)))
    return commands


_STATUS = re.compile(r"\n?@@guide-status (\d+)@@\n")


def script(commands: list[Command]) -> str:
    """A shell script that runs ``commands`` in one shell, as a reader would type them,
    and marks where each one's output ends, with its exit status (see :func:`results`)."""
    text = "exec 2>&1\n__status=0\n"
    for command in commands:
        # $? as the previous command left it, for an "echo $?".
        text += f"(exit $__status)\n{command.command}\n__status=$?\n"
        text += "printf '\\n@@guide-status %s@@\\n' \"$__status\"\n"
    return text


def results(printed: str) -> list[tuple[str, int]]:
    """(output, exit status) of each command, from what :func:`script` printed."""
    pieces = _STATUS.split(printed)
    return [(pieces[i], int(pieces[i + 1])) for i in range(0, len(pieces) - 1, 2)]
