"""Renders the Python view of a schema with the Jinja2 templates.

The templates write plain code, a statement a line however long it is;
``formatting`` then formats it in black's style.
"""

from __future__ import annotations

import functools
import json
import os
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

from .formatting import LINE_LENGTH
from .pymodel import Alternative, PyClass, PyCommand, PyField, PyModule, PyPackage


def templates_dir() -> str:
    """Where the templates are: the repository's ``templates/``, or the installed copy."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(here, "..", "..", "templates"),
        os.path.join(here, "..", "templates"),
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


def alternate_init_def(cls: PyClass) -> str:
    """The ``def __init__`` line of an alternate class: its one value."""
    value = param("value", cls.value_annotation, union=len(cls.alternatives) > 1)
    return function("def __init__", ["self", value], " -> None:", 4)


def statement(code: str, indent: int) -> str:
    """``code`` at ``indent``, on one line (the formatter splits it)."""
    return " " * indent + code


def function(head: str, params: list[str], tail: str, indent: int) -> str:
    """``head(params)tail``: a ``def`` or ``class`` line."""
    return f"{' ' * indent}{head}({', '.join(params)}){tail}"


def literal_tuple(head: str, items: list[str], indent: int) -> str:
    """``head(items)``: a tuple literal ending a statement."""
    body = f"{items[0]}," if len(items) == 1 else ", ".join(items)
    return f"{' ' * indent}{head}({body})"


def param(name: str, annotation: str, default: str | None = None, *, union: bool) -> str:
    """A method's parameter ``name: annotation = default``.

    A union too long for the parameter's own line goes in parentheses: black
    adds them there, and ruff keeps them but does not add them.
    """
    tail = "" if default is None else f" = {default}"
    # A method's parameters, split one a line, are at 8 columns, with a comma.
    if union and 8 + len(f"{name}: {annotation}{tail},") > LINE_LENGTH:
        annotation = f"({annotation})"
    return f"{name}: {annotation}{tail}"


def field_param(f: PyField) -> str:
    """The parameter of the member ``f`` (keyword-only, an optional one defaulted)."""
    return param(f.name, f.annotation, f.absent if f.optional else None, union=f.union)


def init_def(cls: PyClass) -> str:
    """The ``def __init__`` line of a struct, union branch or event class.

    Every member is a keyword parameter (optional ones default to their absent
    value); a branch's tag is fixed, not a parameter.
    """
    params = ["self", "*"]
    if cls.wraps:
        params.append(f"data: {cls.wraps}")
    params.extend(field_param(f) for f in cls.members if not f.fixed)
    params.append("_unknown: dict[str, _rt.JSONValue] | None = None")
    return function("def __init__", params, " -> None:", 4)


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
    """A union's table of branch decoders by tag value."""
    items = ", ".join(f"{pystr(value)}: _{branch}_DECODE" for value, branch in cls.branches)
    return f"_{cls.name}_BRANCHES: _rt.Branches[{cls.name}] = {{{items}}}"


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
        params.extend(field_param(f) for f in command.params)
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
    return statement(f"{outer}(self.client.{command.method}({', '.join(args)}))", indent)


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
        auto_reload=False,  # one run: an included template is not looked at again
    )
    env.filters["pystr"] = pystr
    env.filters["pyrepr"] = json.dumps
    env.globals.update(
        docstring=docstring,
        statement=statement,
        literal_tuple=literal_tuple,
        param=param,
        init_def=init_def,
        alternate_init_def=alternate_init_def,
        signature=signature,
        function=function,
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


# Names longer than this make a file verbatim (see ``_verbatim``).  The
# longest of QEMU 10.0's schema is 50 characters (a union branch's class).
NAME_LIMIT = 56

# Tells black and ruff to leave the rest of the file as written.
VERBATIM = "# fmt: off"


def _verbatim(header: str, names: Iterable[str]) -> str:
    """``header``, and a mark to leave the file unformatted if it names
    something too long for a line.

    Where nothing can make a statement fit, black and ruff split it
    differently (black wraps an assignment's value in parentheses even when
    its target alone is too long, ruff does not: ruff issue 11820), so such a
    file keeps its plain, one statement a line, layout, which both accept.
    """
    if any(len(name) > NAME_LIMIT for name in names):
        return f"{header}\n{VERBATIM}"
    return header


def _module_names(module: PyModule) -> Iterator[str]:
    """The names a module's code is written with, those of the schema included."""
    yield from module.imports.values()
    for cls in module.classes:
        yield cls.name
        for f in cls.all_fields:
            yield from (f.name, f.attr, f.wire)
        for name, wire, _ in cls.values:
            yield from (name, wire)
        for value, branch in cls.branches:
            yield from (value, branch)


def _package_names(package: PyPackage) -> Iterator[str]:
    """The names ``__init__.py`` and ``client.py`` are written with."""
    for _, name in package.exports:
        yield name
    for wire, _, cls in package.events:
        yield from (wire, cls)
    for c in package.commands:
        yield from (c.name, c.method)
        yield from (f.name for f in c.params)


def render(package: PyPackage, header: str, digest: str) -> dict[str, str]:
    """Every file of the package: relative path → content."""
    env = _environment()
    files: dict[str, str] = {}
    module_template = env.get_template("module.py.j2")
    for module in package.modules:
        files[module.filename] = module_template.render(
            header=_verbatim(header, _module_names(module)),
            module=module,
            package=package.name,
            module_doc=_module_doc(module),
        )
    for sub in package.subpackages:
        path = os.path.join(*sub.split("."), "__init__.py")
        files.setdefault(path, f'{header}\n"""Modules of the schema folder {sub}."""\n')
    top_header = _verbatim(header, _package_names(package))
    files["__init__.py"] = env.get_template("init.py.j2").render(
        header=top_header, pkg=package, package=package.name, digest=digest
    )
    files["client.py"] = env.get_template("client.py.j2").render(
        header=top_header, pkg=package, package=package.name
    )
    files["py.typed"] = ""
    return files


def _module_doc(module: PyModule) -> str:
    if module.schema_module.startswith("./"):
        return "QAPI's built-in types."
    return f"The definitions of schema module {module.schema_module}."
