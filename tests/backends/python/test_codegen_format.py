"""The generator's own line splitting agrees with black.

Generated code must pass ``black --check`` as emitted, but running black over
every long line made generation slow, so ``qapigen.codegen.render`` splits the
usual shapes of long line itself.  Each shape is checked here against black
formatting the same line (black is the reference, not our output).
"""

from __future__ import annotations

import keyword

import black
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qapigen.backends.python.render import LINE_LENGTH, call_in_call, function, statement

MODE = black.Mode()

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,38}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name)
)
indents = st.sampled_from([0, 4, 8, 12, 16])


def blacken(code: str, indent: int) -> str:
    """``code`` at ``indent`` as black formats it there (inside dummy blocks)."""
    depth = indent // 4
    wrapper = "".join("    " * i + "if x:\n" for i in range(depth))
    text = black.format_str(wrapper + " " * indent + code + "\n", mode=MODE)
    return "\n".join(text.splitlines()[depth:]).lstrip("\n")


@settings(max_examples=150, deadline=None)
@given(indents, st.lists(identifiers, min_size=1, max_size=3), identifiers, st.booleans())
def test_assigned_plain_value(indent: int, path: list[str], key: str, called: bool) -> None:
    """``out["k"] = self.a.b`` (maybe ``.to_wire()``): the value alone in parentheses."""
    value = "self." + ".".join(path) + ("()" if called else "")
    code = f'out["{key}"] = {value}'
    assert statement(code, indent) == blacken(code, indent)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(identifiers, identifiers), min_size=2, max_size=6), identifiers)
def test_display_with_long_items(items: list[tuple[str, str]], name: str) -> None:
    """A dict display exploded one item a line, items too long to split left whole."""
    body = ", ".join(f'"{k}": _{v * 3}_DECODE' for k, v in items)
    code = f"_{name}_BRANCHES: _rt.Branches[{name}] = {{{body}}}"
    if len(f"_{name}_BRANCHES: _rt.Branches[{name}] = {{") > LINE_LENGTH:
        return
    assert statement(code, 0) == blacken(code, 0)


@settings(max_examples=100, deadline=None)
@given(indents, identifiers, st.lists(identifiers, min_size=1, max_size=8, unique=True))
# A def's only parameter gets a trailing comma from black (found by CI's run).
@example(indent=12, name="a", params=["a" + "0" * 27])
def test_def_with_long_return_annotation(indent: int, name: str, params: list[str]) -> None:
    """A def whose closing line would be too long splits as black splits it."""
    head = f"def {name}"
    args = [f"{p}: int" for p in params]
    ret = " | ".join(f"{p.title()}Type" for p in params)
    code = f"{head}({', '.join(args)}) -> {ret}:"
    assert (
        function(head, args, f" -> {ret}:", indent)
        == blacken(code + " pass", indent).rsplit("\n", 1)[0]
    )


@settings(max_examples=100, deadline=None)
@given(
    indents,
    st.booleans(),
    identifiers,
    st.lists(identifiers, min_size=1, max_size=9, unique=True),
)
def test_call_in_call(indent: int, returns: bool, method: str, params: list[str]) -> None:
    """The blocking client's ``self._run(self.client.m(a=a, ...))``."""
    outer = "return self._run" if returns else "self._run"
    args = [f"{p}={p}" for p in params]
    code = f"{outer}(self.client.{method}({', '.join(args)}))"
    assert call_in_call(outer, f"self.client.{method}", args, indent) == blacken(code, indent)
