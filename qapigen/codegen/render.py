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
import textwrap
from typing import Any

from .pymodel import PyClass, PyCommand, PyField, PyModule, PyPackage

LINE_LENGTH = 88


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


@functools.cache
def statement(code: str, indent: int, fragment: bool = False) -> str:
    """``code`` at ``indent``, split as black splits it when it is too long.

    ``fragment``: ``code`` is an argument of an exploded call (``name=value,``).
    """
    line = " " * indent + code
    if len(line) <= LINE_LENGTH:
        return line
    split = _split_last_brackets(code, indent)
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
    if len(items) == 1 or any(len(pad) + 5 + len(item) > LINE_LENGTH for item in items):
        return None
    exploded = "".join(f"{pad}    {item},\n" for item in items)
    return f"{pad}{head}\n{exploded}{pad}{tail}"


def _bracketed(head: str, items: list[str], tail: str, indent: int) -> str | None:
    """``head(items)tail`` split as black splits a bracket pair, or None.

    On one line if it fits; else the items on a line of their own if they
    fit; else one item a line with a trailing comma.  None when an item is
    too long even for a line of its own (black's finer rules apply).
    """
    pad = " " * indent
    joined = ", ".join(items)
    one = f"{pad}{head}({joined}){tail}"
    if len(one) <= LINE_LENGTH:
        return one
    if len(pad) + 4 + len(joined) <= LINE_LENGTH:
        return f"{pad}{head}(\n{pad}    {joined}\n{pad}){tail}"
    if any(len(pad) + 5 + len(item) > LINE_LENGTH for item in items):
        return None
    exploded = "".join(f"{pad}    {item},\n" for item in items)
    return f"{pad}{head}(\n{exploded}{pad}){tail}"


def function(head: str, params: list[str], tail: str, indent: int) -> str:
    """``head(params)tail``, a ``def`` or ``class`` line, split as black splits it."""
    split = _bracketed(head, params, tail, indent)
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


def decode_slow(f: PyField, indent: int) -> str:
    """Decoding a member the fast test did not settle (which raises where QEMU would)."""
    call = f"{f.decoder}(v, {pystr(f.wire)}, strict)"
    if f.decoder == "_rt.d_null":
        # Only null passes, and the fast test took it: this raises.
        return statement(call, indent) + "\n" + statement(f"self.{f.name} = None", indent)
    return statement(f"self.{f.name} = {call}", indent)


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
    if command.unpack and command.params:
        args = ", ".join(f"{n}={n}" for n in names)
    else:
        args = ", ".join(names)
    call = f"self._run(self.client.{command.method}({args}))"
    return statement(call if ret == "None" else f"return {call}", indent)


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
    env.filters["branch_item"] = lambda b: f"{pystr(b[0])}: {b[1]}"
    env.filters["alternative_items"] = lambda a: ", ".join(f"{t}: {a[1]}" for t in a[0])
    env.globals.update(
        docstring=docstring,
        statement=statement,
        literal=literal,
        literal_tuple=literal_tuple,
        init_def=init_def,
        signature=signature,
        function=function,
        call_arg=call_arg,
        type_info=type_info,
        decode_slow=decode_slow,
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
