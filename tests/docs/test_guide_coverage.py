"""docs/guide.md cannot fall behind the code: every label ``qapigen diff`` can print and
every message ``qapigen validate`` can report is documented in its section of the guide,
read from the code itself (a new kind of change, or a new message, fails here until the
guide says what it means)."""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from dataclasses import fields

import pytest

from qapigen.backends import diff, diff_definitions, validate

from ..support.guide import GUIDE
from ..support.paths import REPO

_PLACEHOLDER = "\0"


def _section(title: str) -> str:
    """The text of the guide's section (``## `` heading) whose title starts with ``title``."""
    text = GUIDE.read_text()
    match = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"docs/guide.md has no section '{title}'"
    return match.group(0)


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


DIFF = "What changed between two versions"
VALIDATE = "Does it fit the schema"


def test_every_kind_of_change_on_the_wire_has_a_row() -> None:
    """Each kind ``diff`` reports on the wire has its row: the kind, its heading."""
    rows = _table_rows(_section(DIFF))
    for kind, heading in diff.KINDS:
        assert any(row.startswith(f"| `{kind}` | {heading} |") for row in rows), kind


def test_every_kind_of_change_in_the_bindings_terms_has_a_row() -> None:
    rows = _table_rows(_section(DIFF))
    for kind in diff_definitions.KINDS:
        assert any(row.startswith("| ") and f"`{kind}`" in row.split(" | ")[0] for row in rows), (
            kind
        )


def test_every_verdict_and_party_is_explained() -> None:
    """The verdicts (``breaking``, ``compatible``) and the parties they are for
    (``client``, ``server``) are each named in bold or code where the guide explains them."""
    text = _section(DIFF)
    parties = [f.name for f in fields(diff.Change)][3:]
    assert parties == ["client", "server"]
    for party in parties:
        assert f"**{party}**" in text, party
    verdicts = typing.get_args(diff.Verdict)
    assert set(verdicts) == {diff.BREAKING, diff.COMPATIBLE}
    for verdict in verdicts:
        assert f"`{verdict}`" in text, verdict
    assert "No changes on the wire." in text


def _strings(node: ast.expr, assigned: dict[str, list[ast.expr]], seen: set[str]) -> Iterator[str]:
    """The texts an expression can have, each formatted part as a placeholder; names
    are followed to whatever is assigned to them anywhere in their module."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield "".join(
            str(v.value) if isinstance(v, ast.Constant) else _PLACEHOLDER for v in node.values
        )
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body, assigned, seen)
        yield from _strings(node.orelse, assigned, seen)
    elif isinstance(node, ast.Name) and node.id not in seen:
        for value in assigned.get(node.id, ()):
            yield from _strings(value, assigned, seen | {node.id})


def _calls(module: str, callee: str, argument: int) -> Iterator[str]:
    """The texts of argument ``argument`` of every call of ``callee`` in ``module``."""
    tree = ast.parse((REPO / module).read_text())
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == callee
            and len(node.args) > argument
        ):
            yield from _strings(node.args[argument], assigned, set())


def validate_messages() -> list[str]:
    """Every message ``validate`` can report, as a template: those it makes itself
    (``Problem``'s message), and the wire codec's (``WireError``'s), whose ``%s`` is
    the member's name."""
    found = [
        *_calls("qapigen/backends/validate.py", "Problem", 1),
        *_calls("qapigen/cli/commands.py", "Problem", 1),
        *_calls("qapigen/runtime/errors.py", "cls", 0),
        *_calls("qapigen/runtime/codec.py", "WireError", 0),
    ]
    return sorted({text.replace("%s", _PLACEHOLDER) for text in found})


def test_the_messages_are_all_read_from_the_code() -> None:
    """The reading of the code finds messages of each origin (or the test below would
    check nothing)."""
    messages = validate_messages()
    assert validate.PLACEHOLDER in messages  # a name, followed to its value
    assert f"not JSON: {_PLACEHOLDER}" in messages  # made where a name is assigned
    assert f"Parameter '{_PLACEHOLDER}' is missing" in messages  # the codec's
    assert "the command returns no value: expected {}" in messages
    assert len(messages) >= 15


@pytest.mark.parametrize("message", validate_messages())
def test_every_message_validate_reports_is_documented(message: str) -> None:
    """Each message is in the table of what validate reports, its variable parts
    written as words (``Parameter 'NAME' is missing``)."""
    pattern = "[^`|\n]+?".join(re.escape(part) for part in message.split(_PLACEHOLDER))
    rows = _table_rows(_section(VALIDATE))
    assert any(re.search(f"^\\| `{pattern}`", row) for row in rows), message
