"""Hostile names, drawn at random: the names are the schema's but where Python requires
a suffix, and every path a name takes (constructor, fields, wire, handler, clients,
events' timestamps) agrees.

Each example is a schema whose members and commands are drawn from names that clash
with something somewhere: keywords, soft keywords, builtins, what generated classes,
events and the typed clients define, the schema's own class names.  A base, a struct
derived from it that is an event's data, a union whose branches are those, an event
with members in place, a command and a ``'gen': false`` command take them.  The
packages generated for all examples then pass ``mypy --strict`` and ``black --check``
in one run each.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import importlib
import inspect
import keyword
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qapigen import load_schema
from qapigen import runtime as rt
from qapigen.backends.python.generate import generate

from ...support.bindings import handler, import_package, run_black_check, run_mypy

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

CLASSES = ["Kind", "Base", "Data", "Mixed"]
# Lower-case names clash-prone somewhere; the rest are names of the schema's classes
# and what generated code defines (allowed upper case and "_" by the pragma).
LOWER = sorted(
    {n for n in keyword.kwlist if n.islower()}
    | {"match", "case", "type", "id", "format", "len", "help", "object", "bytes", "input"}
    | {"str", "int", "float", "bool", "list", "dict", "tuple", "frozenset", "property"}
    | {"connect", "execute", "listen", "events", "timeout", "close", "client", "qmp"}
    | {"strict", "greeting", "accept", "closed", "pass-fd", "with-options", "disconnect"}
    | {"self", "cls", "extra", "value", "known", "data", "timestamp", "name", "arguments"}
    | {"obj", "strict", "left", "v", "decode", "branch", "err", "out", "kind"}
)
OTHER = ["from_wire", "to_wire", "QAPI_INFO", "NAME", "HAS_DATA", *CLASSES, "KeyError"]
# QAPI's built-in types cannot be command names.
NOT_COMMANDS = {"str", "int", "bool", "number", "any", "null", "size"}

# Why a member may get a suffix (docs/bindings.md, "Names"), the keywords aside: what
# any class's body names or defines, what an event defines, what a deprecated
# member's property needs.  (For each name, the test checks the reason holds.)
CLASS_BODY = {"bool", "dict", "float", "frozenset", "int", "list", "str", "tuple"}
STRUCT_API = {"from_wire", "to_wire", "QAPI_INFO", "self"}
EVENT_API = {"NAME", "HAS_DATA", "timestamp"}
CLIENT = {"COMMANDS", "EVENTS", "accept", "async_client", "client", "close", "closed"}
CLIENT |= {"connect", "disconnect", "events", "execute", "greeting", "is_guest_agent"}
CLIENT |= {"listen", "oob_enabled", "pass_fd", "qmp", "strict", "timeout", "with_options"}


def _cname(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


@st.composite
def schemas(draw: st.DrawFn) -> tuple[str, dict[str, list[str]]]:
    """A schema's text, and the members (wire names) of its parts."""
    # A struct's, its base's and its union's members are distinct; an event's and a
    # command's members in place are lower case (the pragma is for types).
    parts = _parts(draw, sorted({*LOWER, *OTHER}), ["base", "data", "tag"])
    parts |= _parts(draw, LOWER, ["inline"]) | _parts(draw, LOWER, ["args"])
    names = draw(st.permutations(LOWER))
    commands = [n for n in names if n.islower() and n not in NOT_COMMANDS]
    command, raw = draw(st.permutations(commands))[:2]
    deprecated = draw(st.booleans())

    def members(part: str, typ: str = "int") -> str:
        items = [
            f"'*{n}': '{typ}'" if i % 2 else f"'{n}': '{typ}'" for i, n in enumerate(parts[part])
        ]
        return ", ".join(items)

    old = ", '*old': { 'type': 'int', 'features': [ 'deprecated' ] }" if deprecated else ""
    exceptions = ", ".join(f"'{n}'" for n in [*CLASSES, command, raw])
    text = f"""
{{ 'pragma': {{ 'member-name-exceptions': [ {exceptions} ],
               'command-name-exceptions': [ '{command}', '{raw}' ] }} }}
{{ 'enum': 'Kind', 'data': [ 'one', 'two' ] }}
{{ 'struct': 'Base', 'data': {{ {members("base")}{old} }} }}
{{ 'struct': 'Data', 'base': 'Base', 'data': {{ {members("data", "Kind")} }} }}
{{ 'union': 'Mixed', 'base': {{ 'kind': 'Kind', {members("tag", "str")} }},
  'discriminator': 'kind', 'data': {{ 'one': 'Data', 'two': 'Base' }} }}
{{ 'event': 'DATA', 'data': 'Data' }}
{{ 'event': 'INLINE', 'data': {{ {members("inline")} }} }}
{{ 'command': '{command}', 'data': {{ {members("args")} }}, 'returns': 'Mixed' }}
{{ 'command': '{raw}', 'data': {{ {members("args")} }}, 'gen': false }}
"""
    parts["commands"] = [command, raw]
    parts["old"] = ["old"] if deprecated else []
    return text, parts


def _parts(draw: st.DrawFn, pool: list[str], parts: list[str]) -> dict[str, list[str]]:
    """Members for ``parts``, each 1 to 5 distinct names of ``pool``, none in two parts."""
    names = draw(st.permutations(pool))
    out: dict[str, list[str]] = {}
    taken = {"kind", "old"}  # the union's tag, the deprecated member
    for part in parts:
        size = draw(st.integers(1, 5))
        chosen = [n for n in names if _cname(n) not in taken][:size]
        taken |= {_cname(n) for n in chosen}
        out[part] = chosen
    return out


def _suffix_is_required(name: str, wire: str, taken: set[str]) -> bool:
    """``name`` is ``wire`` as an identifier, with a suffix only if one is required."""
    plain = _cname(wire)
    if name == plain:
        return plain not in taken and not keyword.iskeyword(plain)
    return name.rstrip("_") == plain and (keyword.iskeyword(plain) or plain in taken)


def _fields(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _check(pkg: Any, parts: dict[str, list[str]]) -> None:
    classes = {"Kind", "Base", "Data", "Mixed", "MixedBase", "DataEvent", "InlineEvent"}
    classes |= {n for n in dir(pkg) if n.endswith("Arguments")}
    struct_taken = CLASS_BODY | STRUCT_API | classes
    if parts["old"]:
        struct_taken |= {"property"}
    base_names = _fields(pkg.Base)
    wire_base = [*parts["base"], *parts["old"]]
    for name, wire in zip(base_names, wire_base, strict=True):
        assert _suffix_is_required(name, wire, struct_taken | EVENT_API), (name, wire)
    data_names = _fields(pkg.Data)
    assert data_names[: len(base_names)] == base_names  # a base's names everywhere
    for name, wire in zip(data_names[len(base_names) :], parts["data"], strict=True):
        assert _suffix_is_required(name, wire, struct_taken - {"property"} | EVENT_API)
    inline = _fields(pkg.InlineEvent)
    for name, wire in zip(inline, parts["inline"], strict=True):
        assert _suffix_is_required(name, wire, CLASS_BODY | STRUCT_API | classes | EVENT_API)
    for command in parts["commands"]:
        method = pkg.COMMANDS[command].method
        assert _suffix_is_required(method, command, CLASS_BODY | CLIENT)

    # The same value through every path: constructor, wire, dispatch, client.
    values = {n: i for i, n in enumerate(base_names)}
    if parts["old"]:
        del values["old"]
    data = pkg.Data(**values, **{n: pkg.Kind.TWO for n in data_names[len(base_names) :]})
    wire = data.to_wire()
    assert list(wire) == [w for w in [*parts["base"], *parts["data"]]]
    assert pkg.Data.from_wire(wire) == data and pkg.DataEvent.from_wire(wire).to_wire() == wire
    event = pkg.DataEvent.from_wire(wire)
    event._received_at({"timestamp": {"seconds": 3, "microseconds": 0}})
    assert event.timestamp == 3.0 and event.NAME == "DATA"

    command, raw = parts["commands"]
    # The branch is a class of its own, its members named in its own scope: by
    # position (kind, the union's members, then Base's), not by Base's names.
    branch_names = [n for n in _fields(pkg.Mixed_two) if n != "kind"]
    tags = {w: "t" for w in parts["tag"]}
    branch_wire = [*parts["tag"], *wire_base]
    branch_values = {
        n: tags.get(w, i) for i, (n, w) in enumerate(zip(branch_names, branch_wire, strict=True))
    }
    branch_values.pop(branch_names[-1]) if parts["old"] else None
    plain_taken = CLASS_BODY | STRUCT_API | classes  # the union's members': no property
    for i, (name, wire) in enumerate(zip(branch_names, branch_wire, strict=True)):
        taken = plain_taken if i < len(parts["tag"]) else struct_taken
        assert _suffix_is_required(name, wire, taken), (name, wire)
    args = {w: i for i, w in enumerate(parts["args"])}
    params = _fields(pkg.COMMANDS[command].arg_type)
    got: list[dict[str, Any]] = []

    class Impl:
        def call(self, **kwargs: Any) -> Any:
            got.append(kwargs)
            return pkg.Mixed_two(**branch_values)

    impl = type("Impl", (), {pkg.COMMANDS[command].method: Impl.call})
    dispatched = rt.Dispatcher(pkg.COMMANDS, handler(pkg, impl)).dispatch(command, args)
    assert got == [dict(zip(params, args.values(), strict=True))]
    expected = {
        w: branch_values[n]
        for n, w in zip(branch_names, branch_wire, strict=True)
        if n in branch_values
    }
    assert dispatched == {"kind": "two", **expected}
    client = importlib.import_module(f"{pkg.__name__}.client")
    signature = inspect.signature(getattr(client.Client, pkg.COMMANDS[command].method))
    assert list(signature.parameters)[1:] == params
    raw_params = list(
        inspect.signature(getattr(client.Client, pkg.COMMANDS[raw].method)).parameters
    )
    assert raw_params[1:-1] == params and raw_params[-1].rstrip("_") == "extra"
    sent: list[Any] = []

    class Recording(client.Client):  # type: ignore[misc,name-defined]
        async def _call(self, name: str, arguments: Any) -> Any:
            sent.append((name, arguments))

    async def calls() -> None:
        recording = Recording()
        kwargs = dict(zip(params, args.values(), strict=True))
        await getattr(recording, pkg.COMMANDS[command].method)(**kwargs)
        await getattr(recording, pkg.COMMANDS[raw].method)(**kwargs, **{raw_params[-1]: 0})

    asyncio.run(calls())
    assert sent == [(command, args), (raw, {**args, raw_params[-1]: 0})]


def test_hostile_names_drawn_at_random(tmp_path: Path) -> None:
    """Every drawn schema's package names as docs/bindings.md says, and all agree;
    then ``mypy --strict`` and ``black --check`` find nothing in any of them."""
    out = tmp_path / "out"
    packages: list[str] = []

    @SETTINGS
    @given(schemas())
    def one(drawn: tuple[str, dict[str, list[str]]]) -> None:
        text, parts = drawn
        package = f"names{len(packages)}"
        schema = tmp_path / f"{package}.json"
        schema.write_text(text)
        generate(load_schema(str(schema)), str(out), package)
        packages.append(package)
        pkg, _ = import_package(out, package)
        _check(pkg, parts)

    one()
    assert len(packages) >= 6
    assert not set(dir(builtins)) & set(packages)
    proc = run_mypy(out, packages, tmp_path / "mypy")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr
    black = run_black_check(*(out / p for p in packages))
    assert black.returncode == 0, black.stderr[-5000:]
