"""One build's view of ``if`` conditions: what ``--define`` keeps and leaves out."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapigen import load_schema
from qapigen.backends.introspect import introspect
from qapigen.backends.jsonschema_export import export_bundle
from qapigen.frontend.conditions import Defines
from qapigen.frontend.schema import EnumType, IfCond

SCHEMA = """\
{ 'enum': 'Colour',
  'data': [ 'red',
            { 'name': 'blue', 'if': 'HAVE_BLUE' },
            { 'name': 'green', 'if': { 'all': [ 'HAVE_BLUE', 'HAVE_YELLOW' ] } },
            { 'name': 'grey', 'if': { 'not': 'HAVE_BLUE' } },
            { 'name': 'cyan', 'if': { 'any': [ 'HAVE_BLUE', 'HAVE_GREEN' ] } } ] }
{ 'command': 'paint', 'data': { 'colour': 'Colour' } }
"""

# The values each build keeps, by its defined symbols.
KEPT = [
    ((), ["red", "grey"]),
    (("HAVE_BLUE",), ["red", "blue", "cyan"]),
    (("HAVE_BLUE", "HAVE_YELLOW"), ["red", "blue", "green", "cyan"]),
    (("HAVE_GREEN",), ["red", "grey", "cyan"]),
    (("HAVE_YELLOW", "UNUSED"), ["red", "grey"]),
]


@pytest.fixture
def colour(tmp_path: Path) -> EnumType:
    path = tmp_path / "colour.json"
    path.write_text(SCHEMA)
    typ = load_schema(str(path)).lookup_type("Colour")
    assert isinstance(typ, EnumType)
    return typ


def test_no_condition_always_holds() -> None:
    """Something without a condition is in every build."""
    assert Defines().holds(IfCond())
    assert Defines(["X"]).holds(IfCond())


@pytest.mark.parametrize(("symbols", "values"), KEPT)
def test_kept_follows_all_any_and_not(
    colour: EnumType, symbols: tuple[str, ...], values: list[str]
) -> None:
    """A symbol holds when defined; all, any and not combine them; order is kept."""
    defines = Defines(symbols)
    assert [m.name for m in defines.kept(colour.members)] == values
    assert [m.name for m in colour.members if defines.holds(m.ifcond)] == values


@pytest.mark.parametrize(("symbols", "values"), KEPT)
def test_back_ends_keep_what_the_build_has(
    tmp_path: Path, symbols: tuple[str, ...], values: list[str]
) -> None:
    """Introspection and the JSON Schemas leave out the same values for one build."""
    path = tmp_path / "colour.json"
    path.write_text(SCHEMA)
    schema = load_schema(str(path))
    shown = introspect(schema, symbols, unmask=True)
    enum = next(e for e in shown if e["name"] == "Colour")
    assert enum["values"] == values
    bundle = export_bundle(schema, symbols)
    assert bundle["$defs"]["Colour"]["enum"] == values
