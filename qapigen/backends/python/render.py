"""Renders the Python view of a schema with the Jinja2 templates.

The templates' output is already formatted as black formats it, so that
``black --check`` passes without running black over the whole package:
statements are written on one line, and the few that are longer than
black's limit are handed to black one at a time.
"""

from __future__ import annotations

import functools
import json
import os
import re
import textwrap
from typing import Any

from .pymodel import Alternative, PyClass, PyCommand, PyField, PyModule, PyPackage

LINE_LENGTH = 88


def templates_dir() -> str:
    """Where the templates are: the repository's ``templates/``, or the installed copy."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(here, "..", "..", "..", "templates"),
        os.path.join(here, "..", "..", "templates"),
    ):
        if os.path.isfile(os.path.join(candidate, "module.py.j2")):
            return os.path.normpath(candidate)
    raise FileNotFoundError("qapigen's templates are missing")


def pystr(text: str) -> str:
    """A Python string literal for ``text``, in black's quotes.

    JSON's escapes are all valid in Python, and ``ensure_ascii`` keeps the
    literal free of anything unusual; nothing in ``text`` can end the literal.
    Like black, single quotes are used where they need fewer escapes.
    """
    double = json.dumps(text)
    if text.count('"') <= text.count("'"):
        return double
    inner = double[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{inner}'"


def docstring(text: str, indent: int) -> str:
    """A docstring holding ``text``, as black would leave it."""
    pad = " " * indent
    lines = [line.rstrip().expandtabs(8) for line in text.strip().splitlines()] or [""]
    # black takes the common indentation off the lines after the first.
    lines[1:] = textwrap.dedent("\n".join(lines[1:])).splitlines()
    # Escape what could end the string or start an escape sequence.
    lines = [line.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') for line in lines]
    # black strips a docstring's leading blanks (first line) and its indentation.
    lines[0] = lines[0].lstrip()
    # ... and pads a docstring that starts or ends with a quote with a space.
    if lines[0].startswith('"'):
        lines[0] = " " + lines[0]
    if len(lines) == 1:
        # (At the end only when the closing quotes follow on the same line.)
        if lines[0].endswith('"'):
            lines[0] += " "
        return f'{pad}"""{lines[0]}"""'
    body = "\n".join(f"{pad}{line}" if line else "" for line in lines[1:])
    return f'{pad}"""{lines[0]}\n{body}\n{pad}"""'


@functools.cache
def statement(code: str, indent: int, fragment: bool = False) -> str:
    """``code`` at ``indent``, split as black splits it when it is too long.

    ``fragment``: ``code`` is an argument of an exploded call (``name=value,``).
    """
    line = " " * indent + code
    if len(line) <= LINE_LENGTH:
        return line
    split = _split_last_brackets(code, indent) or _split_assigned_name(code, indent)
    if split is not None:
        return split
    if code.endswith(":"):
        # black needs a body to format a block's header; the body is dropped again.
        return statement(code + " pass", indent).rsplit("\n", 1)[0]
    if fragment:
        # Format it as the only argument of a call one level out, then take
        # the call away again.
        outer = " " * (indent - 4)
        return "\n".join(_black(f"{outer}f(\n{line}\n{outer})", indent - 4).splitlines()[1:-1])
    return _black(line, indent)


# An assigned value with nothing to split inside: a dotted name, maybe called
# without arguments (``self.x``, ``self.x.to_wire()``).
_PLAIN_VALUE = re.compile(r"[A-Za-z_][\w.]*(\(\))?")


def _split_assigned_name(code: str, indent: int) -> str | None:
    """black's split of ``target = value`` where ``value`` has nothing to split:
    the value in parentheses, on a line of its own.  None where that does not fit."""
    target, sep, value = code.partition(" = ")
    if not sep or not _PLAIN_VALUE.fullmatch(value) or "(" in target:
        return None
    pad = " " * indent
    if len(pad) + len(target) + 4 > LINE_LENGTH or len(pad) + 4 + len(value) > LINE_LENGTH:
        return None
    return f"{pad}{target} = (\n{pad}    {value}\n{pad})"


def _black(text: str, indent: int) -> str:
    """``text`` (indented by ``indent``) as black formats it, there."""
    import black  # only for the few long lines
    from black.mode import TargetVersion

    # Give black the same indentation to work with, inside dummy blocks.
    depth = indent // 4
    wrapper = "".join("    " * i + "if x:\n" for i in range(depth))
    mode = black.Mode(target_versions={TargetVersion.PY311})
    formatted = black.format_str(wrapper + text + "\n", mode=mode).splitlines()[depth:]
    while formatted and not formatted[0]:
        del formatted[0]
    return "\n".join(formatted)


_CLOSING = {")": "(", "]": "[", "}": "{"}


def _split_last_brackets(code: str, indent: int) -> str | None:
    """black's usual split of a long line, or None where it would do more.

    black splits at the last pair of brackets: what is inside goes on a line
    of its own if it fits (unless it is the items of a display), else one
    item a line with a trailing comma.  (The generated code has no brackets
    inside its string literals.)
    """
    end = len(code)
    while end and code[end - 1] in ":,":
        end -= 1
    if not end or code[end - 1] not in _CLOSING:
        return None
    depth = 0
    items: list[str] = []
    item_end = end - 1
    for i in range(end - 1, -1, -1):
        ch = code[i]
        if ch in _CLOSING:
            depth += 1
        elif ch in "([{":
            depth -= 1
            if depth == 0:
                items.append(code[i + 1 : item_end].strip())
                head, tail = code[: i + 1], code[end - 1 :]
                break
        elif ch == "," and depth == 1:
            items.append(code[i + 1 : item_end].strip())
            item_end = i
    else:
        return None
    pad = " " * indent
    if len(pad) + len(head) > LINE_LENGTH or not items[-1]:
        return None
    items.reverse()
    body = ", ".join(items)
    before = head[-2:-1]
    display = not before or not (before.isalnum() or before in "_)]")
    # A display ({...}, [...]) of several items is always one item a line.
    if not (display and len(items) > 1) and len(pad) + 4 + len(body) <= LINE_LENGTH:
        return f"{pad}{head}\n{pad}    {body}\n{pad}{tail}"
    # An item too long for its line stays whole if black cannot split it either.
    if len(items) == 1 or any(
        len(pad) + 5 + len(item) > LINE_LENGTH and any(b in item for b in "([{") for item in items
    ):
        return None
    exploded = "".join(f"{pad}    {item},\n" for item in items)
    return f"{pad}{head}\n{exploded}{pad}{tail}"


def _bracketed(
    head: str, items: list[str], tail: str, indent: int, comma: bool = False
) -> str | None:
    """``head(items)tail`` split as black splits a bracket pair, or None.

    On one line if it fits; else the items on a line of their own if they
    fit (``comma``: unless there is only one); else one item a line with a
    trailing comma.  None when an item is too long even for a line of its
    own, or the tail for its line (black's finer rules apply).
    """
    pad = " " * indent
    joined = ", ".join(items)
    one = f"{pad}{head}({joined}){tail}"
    if len(one) <= LINE_LENGTH:
        return one
    if len(pad) + 1 + len(tail) > LINE_LENGTH:
        return None  # black splits the tail too (a long return annotation)
    if len(pad) + 4 + len(joined) <= LINE_LENGTH and not (comma and len(items) == 1):
        return f"{pad}{head}(\n{pad}    {joined}\n{pad}){tail}"
    if any(len(pad) + 5 + len(item) > LINE_LENGTH for item in items):
        return None
    exploded = "".join(f"{pad}    {item},\n" for item in items)
    return f"{pad}{head}(\n{exploded}{pad}){tail}"


def function(head: str, params: list[str], tail: str, indent: int) -> str:
    """``head(params)tail``, a ``def`` or ``class`` line, split as black splits it.

    (black gives a ``def``'s only parameter a trailing comma when it splits,
    which then keeps it on a line of its own.)
    """
    split = _bracketed(head, params, tail, indent, comma=head.startswith("def "))
    if split is not None:
        return split
    # black needs a body to format a def; the body is dropped again.
    return statement(f"{head}({', '.join(params)}){tail} pass", indent).rsplit("\n", 1)[0]


def literal_tuple(head: str, items: list[str], indent: int) -> str:
    """``head(items)``: a tuple literal ending a statement, as black writes it
    (on one line if it fits, else one item a line with a trailing comma)."""
    pad = " " * indent
    one = f"{pad}{head}({items[0]},)" if len(items) == 1 else f"{pad}{head}({', '.join(items)})"
    if len(one) <= LINE_LENGTH:
        return one
    exploded = "".join(f"{pad}    {item},\n" for item in items)
    return f"{pad}{head}(\n{exploded}{pad})"


def init_def(cls: PyClass) -> str:
    """The ``def __init__`` line(s) of a struct, union branch or event class.

    Every member is a keyword parameter (optional ones default to their absent
    value); a branch's tag is fixed, not a parameter.
    """
    params = ["self", "*"]
    if cls.wraps:
        params.append(f"data: {cls.wraps}")
    for f in cls.members:
        if not f.fixed:
            params.append(f"{f.name}: {f.annotation}" + (f" = {f.absent}" if f.optional else ""))
    params.append("_unknown: dict[str, _rt.JSONValue] | None = None")
    return function("def __init__", params, " -> None:", 4)


def decorator(func: str, arg: str) -> str:
    """``@func(arg)``, at the top level, split as black splits it (even if ``arg`` is too long)."""
    one = f"@{func}({arg})"
    if len(one) <= LINE_LENGTH:
        return one
    return f"@{func}(\n    {arg}\n)"


def call_arg(name: str, func: str, args: list[str], indent: int, tuple: bool = False) -> str:
    """``name=func(args),`` as one argument of an exploded call, split as black does.

    ``tuple``: the argument is a tuple (``func`` empty).
    """
    if tuple and len(args) == 1:
        return f"{' ' * indent}{name}=({args[0]},),"
    split = _bracketed(f"{name}={func}", args, ",", indent)
    if split is not None:
        return split
    # An argument too long for any line: black leaves it whole, one a line.
    pad = " " * indent
    exploded = "".join(f"{pad}    {a},\n" for a in args)
    return f"{pad}{name}={func}(\n{exploded}{pad}),"


def literal(head: str, items: list[str], tail: str, indent: int) -> str:
    """``head{items}tail``: a set literal as the last argument of a call.

    Split as black splits it: the set on a line of its own if it fits, else
    one item a line with a trailing comma.
    """
    pad = " " * indent
    one = f"{pad}{head}{{{', '.join(items)}}}{tail}"
    if len(one) <= LINE_LENGTH:
        return one
    inner = f"{pad}    {{{', '.join(items)}}}"
    if len(inner) <= LINE_LENGTH:
        return f"{pad}{head}\n{inner}\n{pad}{tail}"
    exploded = "".join(f"{pad}        {item},\n" for item in items)
    return f"{pad}{head}\n{pad}    {{\n{exploded}{pad}    }}\n{pad}{tail}"


def signature(command: PyCommand) -> str:
    """The handler method's ``def`` line(s) for ``command``."""
    if not command.gen:
        params = ["self", "arguments: dict[str, _rt.JSONValue]"]
        ret = "_rt.JSONValue"
    else:
        params = ["self", *_argument_params(command)]
        ret = command.ret_annotation or "None"
    return function(f"def {command.method}", params, f" -> {ret}:", 4)


# Optional members before the last required one are decoded in runs of at
# most this many, each skipped as a whole once every member present is found.
DECODE_RUN = 4


def decode_presets(fields: list[PyField], indent: int) -> str:
    """The absent values of the optional members, set before decoding.

    Decoding then only looks for the members the message may still have.
    """
    return "\n".join(
        statement(f"self.{f.attr} = {f.absent}", indent)
        for f in fields
        if f.optional and not f.fixed
    )


def decode_members(fields: list[PyField], indent: int) -> str:
    """Decoding ``fields`` into ``self`` from ``obj``, in schema order (QEMU's).

    ``left`` counts the members of the message not decoded yet (the required
    ones are counted off from the start: a missing one is an error).  Before
    the last required member (or discriminator check), optional members go
    in runs, each skipped once none is left; after it, decoding returns as
    soon as none is.  ``left`` is -1 when a required member that comes after
    optional ones is missing: no run may be skipped then, so that an earlier
    member's fault is reported first, as QEMU does.
    """
    pad = " " * indent
    required = sum(1 for f in fields if not f.optional and not f.fixed)
    lines = [f"{pad}left = len(obj) - {required}" if required else f"{pad}left = len(obj)"]
    last = max((i for i, f in enumerate(fields) if f.fixed or not f.optional), default=-1)
    seen_optional = False
    for f in fields[: last + 1]:
        if f.optional and not f.fixed:
            seen_optional = True
        elif seen_optional and not f.fixed:
            lines.append(statement(f"if {pystr(f.wire)} not in obj:", indent))
            lines.append(f"{pad}    left = -1")
    # The variable that holds a union's branch decoder: one for each union the
    # function dispatches, so that mypy sees one type per variable.
    decoders: dict[str, str] = {}
    for f in fields:
        union = _union_of(f)
        if union is not None and union not in decoders:
            decoders[union] = f"decode{len(decoders) + 1 if decoders else ''}"
    run: list[PyField] = []

    def flush() -> None:
        if run:
            lines.append(f"{pad}if left:")
            lines.extend(_decode_member_of(g, indent + 4, False, decoders) for g in run)
            run.clear()

    for f in fields[: last + 1]:
        if f.optional and not f.fixed:
            run.append(f)
            if len(run) == DECODE_RUN:
                flush()
        else:
            flush()
            lines.append(_decode_member_of(f, indent, False, decoders))
    flush()
    if last + 1 < len(fields):
        lines += [f"{pad}if not left:", f"{pad}    return self"]
        lines.extend(_decode_member_of(f, indent, True, decoders) for f in fields[last + 1 :])
    return "\n".join(lines)


def _union_of(f: PyField) -> str | None:
    """The union whose branch decoding ``f`` picks by tag (its own decoder), if any."""
    if f.dispatch is not None:
        return f.dispatch[2]
    if f.alternate is not None:
        for alt in f.alternate[1]:
            if alt.dispatch is not None:
                return alt.dispatch[2]
    return None


def _decode_member_of(f: PyField, indent: int, tail: bool, decoders: dict[str, str]) -> str:
    union = _union_of(f)
    var = decoders[union] if union is not None else "decode"
    return _decode_member(
        f.attr, f.wire, f.optional, f.decode_head, f.fast_test, f.members, f.dispatch,
        f.alternate, f.fixed_wire, var, tail, indent,
    )  # fmt: skip


@functools.cache
def _decode_member(
    name: str,
    wire: str,
    optional: bool,
    head: str,
    fast_test: str | None,
    members: str | None,
    dispatch: tuple[str, str, str] | None,
    alternate: tuple[str, tuple[Alternative, ...]] | None,
    fixed: str | None,
    var: str,
    tail: bool,
    indent: int,
) -> str:
    """Decoding one member: the fast test settles the usual values inline; the
    decoder the rest, errors included.  A discriminator that a branch fixes is
    checked, not decoded.  A required member is looked up unguarded: the
    decoder's ``except KeyError`` reports it missing.  ``tail``: return once
    all members present are found.  (Cached: a base's members come again in
    each branch.)
    """
    wire_str = pystr(wire)
    attr = f"self.{name}"
    if fixed is not None:
        # The tag, decoded already, is this branch's exactly when its wire
        # value is (``E.X`` itself is slow to look up).
        return "\n".join(
            (
                statement(f"if obj[{wire_str}] != {pystr(fixed)}:", indent),
                statement(f"raise _rt.WireError.not_this_branch({wire_str}, obj)", indent + 4),
            )
        )
    lines: list[tuple[int, str]] = []
    at = 0
    if optional:
        lines.append((0, f"if {wire_str} in obj:"))
        at = 4
    call = f"{head}v, {wire_str}, strict)"
    if members is not None:
        # An enum: a known value is a key of the table; the decoder reports
        # the rest (a value that is no key, or no string).
        lines.append((at, f"v = obj[{wire_str}]"))
        lines += [(at, "try:"), (at + 4, f"{attr} = {members}[v]")]
        lines += [(at, "except (KeyError, TypeError):"), (at + 4, f"{attr} = {call}")]
    elif dispatch is not None:
        lines.append((at, f"v = obj[{wire_str}]"))
        lines += [
            (at + extra, code) for extra, code in _dispatch(dispatch, var, f"{attr} = ", wire_str)
        ]
    elif alternate is not None:
        lines.append((at, f"v = obj[{wire_str}]"))
        branches = _alternatives(*alternate, var, f"{attr} = ", wire_str)
        lines += [(at + extra, code) for extra, code in branches]
    elif head == "_rt.d_any(":
        lines.append((at, f"{attr} = obj[{wire_str}]"))  # any JSON value will do
    elif fast_test is None:
        lines.append((at, f"{attr} = {head}obj[{wire_str}], {wire_str}, strict)"))
    else:
        lines.append((at, f"v = obj[{wire_str}]"))
        # Only null passes d_null, and the fast test took it: the call raises.
        slow = [call, f"{attr} = None"] if head == "_rt.d_null(" else [f"{attr} = {call}"]
        lines += [(at, f"if {fast_test}:"), (at + 4, f"{attr} = v"), (at, "else:")]
        lines += [(at + 4, code) for code in slow]
    if optional:
        lines.append((4, "left -= 1"))
        if tail:
            lines += [(4, "if not left:"), (8, "return self")]
    return "\n".join(statement(code, indent + extra) for extra, code in lines)


def _dispatch(
    dispatch: tuple[str, str, str], var: str, target: str, name: str
) -> list[tuple[int, str]]:
    """Decoding a union's value ``v`` into ``target`` by the branch its tag picks,
    as the union's own decoder does.

    Its own decoder decodes a value whose tag is no branch's (and says why),
    as well as one without a tag, or that is no JSON object (subscripting
    anything else but a dict by a string raises TypeError).  ``var`` holds
    the decoder.
    """
    tag, table, own = dispatch
    return [
        (0, "try:"),
        (4, f"{var} = {table}[v[{pystr(tag)}]]"),
        (0, "except (KeyError, TypeError):"),
        (4, f"{var} = {own}"),
        (0, f"{target}{var}(v, {name}, strict)"),
    ]


def decode_alternatives(
    alternate: str,
    alternatives: tuple[Alternative, ...],
    target: str,
    name: str,
    indent: int,
) -> str:
    """Decoding ``v`` by its JSON type into the branch's value, as the
    alternate called ``alternate`` does.

    ``target``: what takes the value (``return `` in the alternate's own
    function, ``self.x = `` inline where a member decodes it); ``name``: the
    expression naming ``v`` in messages.
    """
    lines = _alternatives(alternate, alternatives, "decode", target, name)
    return "\n".join(statement(code, indent + extra) for extra, code in lines)


def _alternatives(
    alternate: str, alternatives: tuple[Alternative, ...], var: str, target: str, name: str
) -> list[tuple[int, str]]:
    """The lines of ``decode_alternatives``; ``var`` holds a union branch's decoder."""
    returns = target == "return "
    lines: list[tuple[int, str]] = []
    for i, alt in enumerate(alternatives):
        lines.append((0, f"{'if' if returns or not i else 'elif'} {alt.test}:"))
        lines += [(4 + extra, code) for extra, code in _alternative(alt, var, target, name)]
    fail = f"raise _rt.WireError.no_alternative({pystr(alternate)}).inside({name})"
    if returns or not alternatives:
        lines.append((0, fail))
    else:
        lines += [(0, "else:"), (4, fail)]
    return lines


def _alternative(alt: Alternative, var: str, target: str, name: str) -> list[tuple[int, str]]:
    """One branch of ``decode_alternatives``, its JSON type already tested."""
    call = f"{target}{alt.head}v, {name}, strict)"
    if alt.dispatch is not None:
        return _dispatch(alt.dispatch, var, target, name)
    if alt.fast_test is None:
        return [(0, call)]
    fast_value = PyField.value_of(alt.fast_test)
    if alt.fast_test == alt.test:
        return [(0, f"{target}{fast_value}")]
    # What the JSON type's test already told need not be asked again.
    fast_test = alt.fast_test.removeprefix(f"{alt.test} and ")
    if target == "return ":
        return [(0, f"if {fast_test}:"), (4, f"return {fast_value}"), (0, call)]
    return [(0, f"if {fast_test}:"), (4, f"{target}{fast_value}"), (0, "else:"), (4, call)]


def branches_table(cls: PyClass) -> str:
    """A union's table of branch decoders by tag value, declared apart from
    its value where both would not start one line (black would split the
    annotation)."""
    name = f"_{cls.name}_BRANCHES"
    declared = f"{name}: _rt.Branches[{cls.name}]"
    items = ", ".join(f"{pystr(value)}: _{branch}_DECODE" for value, branch in cls.branches)
    if len(declared) + len(" = {") <= LINE_LENGTH:
        return statement(f"{declared} = {{{items}}}", 0)
    return f"{statement(declared, 0)}\n{statement(f'{name} = {{{items}}}', 0)}"


def type_info(cls: PyClass) -> str:
    """The statement that records what the schema says of ``cls``."""
    args = [pystr(cls.schema_name)]
    if cls.since:
        args.append(f"since={pystr(cls.since)}")
    if cls.ifcond:
        args.append(f"ifcond={json.dumps(cls.ifcond)}")
    if cls.features:
        items = ", ".join(pystr(f) for f in cls.features)
        args.append(f"features=({items},)" if len(cls.features) == 1 else f"features=({items})")
    return statement(f"{cls.name}.QAPI_INFO = _rt.TypeInfo({', '.join(args)})", 0)


def _client_params(command: PyCommand) -> tuple[list[str], str]:
    """The parameters of a client method (after ``self``) and its return type."""
    if not command.gen:
        return ["arguments: dict[str, _t.Any]"], "_t.Any"
    return _argument_params(command), command.ret_annotation or "None"


def _argument_params(command: PyCommand) -> list[str]:
    """A command's arguments as parameters: its members keyword-only, or one object."""
    params: list[str] = []
    if command.unpack:
        if command.params:
            params.append("*")
        for f in command.params:
            default = f" = {f.absent}" if f.optional else ""
            params.append(f"{f.name}: {f.annotation}{default}")
    elif command.arg_class:
        params.append(f"arguments: {command.arg_class}")
    return params


def client_signature(command: PyCommand, is_async: bool) -> str:
    """The ``def`` line of ``command``'s client method."""
    params, ret = _client_params(command)
    head = f"{'async ' if is_async else ''}def {command.method}"
    return function(head, ["self", *params], f" -> {ret}:", 4)


def client_body(command: PyCommand, call: str, indent: int) -> str:
    """The body of ``command``'s async client method."""
    pad = " " * indent
    lines = []
    if not command.gen:
        args = "arguments"
    elif command.unpack and command.params:
        kwargs = ", ".join(f"{f.name}={f.name}" for f in command.params)
        # Locals start with "_": no member's Python name does.
        lines.append(statement(f"_arguments = {command.arg_class}({kwargs})", indent))
        args = "_arguments.to_wire()"
    elif command.arg_class and not command.unpack:
        args = "arguments.to_wire()"
    else:
        args = "None"
    invocation = f"{call}({pystr(command.name)}, {args})"
    _, ret = _client_params(command)
    if ret == "None":
        lines.append(statement(invocation, indent))
    else:
        lines.append(statement(f"_result = {invocation}", indent))
        lines.append(statement(f"return _t.cast({pystr(ret)}, _result)", indent))
    return "\n".join(line if line.startswith(pad) else pad + line for line in lines)


def sync_body(command: PyCommand, indent: int) -> str:
    """The body of ``command``'s blocking client method."""
    params, ret = _client_params(command)
    names = [p.split(":")[0] for p in params if p != "*"]
    args = [f"{n}={n}" for n in names] if command.unpack and command.params else names
    outer = "self._run" if ret == "None" else "return self._run"
    return call_in_call(outer, f"self.client.{command.method}", args, indent)


def call_in_call(outer: str, inner: str, args: list[str], indent: int) -> str:
    """``outer(inner(args))`` split as black splits it: the outer call first,
    then the inner one as any call."""
    one = f"{outer}({inner}({', '.join(args)}))"
    if indent + len(one) <= LINE_LENGTH:
        return statement(one, indent)
    split = _bracketed(inner, args, "", indent + 4) if args else None
    if split is None:
        return statement(one, indent)
    pad = " " * indent
    return f"{pad}{outer}(\n{split}\n{pad})"


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Python source, not HTML: values are quoted by pystr
        extensions=["jinja2.ext.do"],
    )
    env.filters["pystr"] = pystr
    env.filters["pyrepr"] = json.dumps
    env.globals.update(
        docstring=docstring,
        statement=statement,
        literal=literal,
        literal_tuple=literal_tuple,
        init_def=init_def,
        signature=signature,
        function=function,
        decorator=decorator,
        call_arg=call_arg,
        type_info=type_info,
        branches_table=branches_table,
        decode_presets=decode_presets,
        decode_members=decode_members,
        decode_alternatives=decode_alternatives,
        client_signature=client_signature,
        client_body=client_body,
        sync_body=sync_body,
    )
    return env


def render(package: PyPackage, header: str, digest: str) -> dict[str, str]:
    """Every file of the package: relative path → content."""
    env = _environment()
    files: dict[str, str] = {}
    module_template = env.get_template("module.py.j2")
    for module in package.modules:
        files[module.filename] = module_template.render(
            header=header,
            module=module,
            package=package.name,
            module_doc=_module_doc(module),
        )
    for sub in package.subpackages:
        path = os.path.join(*sub.split("."), "__init__.py")
        files.setdefault(path, f'{header}\n"""Modules of the schema folder {sub}."""\n')
    files["__init__.py"] = env.get_template("init.py.j2").render(
        header=header, pkg=package, package=package.name, digest=digest
    )
    files["client.py"] = env.get_template("client.py.j2").render(
        header=header, pkg=package, package=package.name
    )
    files["py.typed"] = ""
    return files


def _module_doc(module: PyModule) -> str:
    if module.schema_module.startswith("./"):
        return "QAPI's built-in types."
    return f"The definitions of schema module {module.schema_module}."
