"""The Python code text of the view model's records (``pymodel``).

The one place that spells how a value is annotated, decoded and encoded, how
a union picks its branch and an alternate its branch, and how a struct's
members are decoded; the templates call these functions and place what they
return.  Code is written plainly, one statement a line: ``formatting``
formats it.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import textwrap
from collections.abc import Iterator

from .formatting import LINE_LENGTH
from .ordering import all_order, import_order, module_order, slots_order
from .pymodel import (
    AlternateValue,
    ClassRef,
    EnumValue,
    Integer,
    ListValue,
    PyClass,
    PyCommand,
    PyField,
    Scalar,
    UnionValue,
    Value,
)

# Text that stands in a string literal as it is.
_PLAIN = re.compile(r"[\w .,:;()+*/=<>@-]*", re.ASCII)

# Lines of code, each with its indentation relative to the block's.
Lines = list[tuple[int, str]]

# -- text ---------------------------------------------------------------------------


def pystr(text: str) -> str:
    """A Python string literal for ``text``, in black's quotes.

    JSON's escapes are all valid in Python, and ``ensure_ascii`` keeps the
    literal free of anything unusual; nothing in ``text`` can end the literal.
    Like black, single quotes are used where they need fewer escapes.
    """
    if _PLAIN.fullmatch(text):
        return f'"{text}"'  # (most are: names)
    double = json.dumps(text)
    if text.count('"') <= text.count("'"):
        return double
    inner = double[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{inner}'"


# Characters a docstring holds escaped: NUL, which no source may hold; line
# breaks other than "\n", which Python or black would take as one; the other
# control characters, which are invisible.
_ESCAPED = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")


def _escape(char: re.Match[str]) -> str:
    code = ord(char.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def docstring(text: str, indent: int) -> str:
    """A docstring holding ``text``, as black would leave it."""
    pad = " " * indent
    lines = [line.rstrip().expandtabs(8) for line in text.strip().split("\n")]
    # black takes the common indentation off the lines after the first.
    lines[1:] = textwrap.dedent("\n".join(lines[1:])).split("\n") if len(lines) > 1 else []
    # Escape what could end the string or start an escape sequence.
    lines = [line.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') for line in lines]
    lines = [_ESCAPED.sub(_escape, line) for line in lines]
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


def _indented(lines: Lines, indent: int) -> str:
    return "\n".join(" " * (indent + extra) + code for extra, code in lines)


# -- classes and their tables -------------------------------------------------------


def ref(cls: ClassRef) -> str:
    """The class itself."""
    return f"{cls.module}.{cls.name}" if cls.module else cls.name


def _module_level(cls: ClassRef, what: str) -> str:
    """A module-level table or function of the class (``_NAME_WHAT``)."""
    name = f"_{cls.name}_{what}"
    return f"{cls.module}.{name}" if cls.module else name


def values_table(enum: ClassRef) -> str:
    """An enum's members by wire value."""
    return _module_level(enum, "VALUES")


def branches_table_of(union: ClassRef) -> str:
    """A union's branch decoders by tag value."""
    return _module_level(union, "BRANCHES")


def decoding_function(cls: ClassRef) -> str:
    """A struct's, union's or alternate's module-level decoder."""
    return _module_level(cls, "DECODE")


def own_decoder(cls: PyClass) -> str:
    """The module-level decoder of a class of the module being written."""
    return decoding_function(ClassRef(cls.name))


def own_values(cls: PyClass) -> str:
    """The table of members of an enum of the module being written."""
    return values_table(ClassRef(cls.name))


def own_branches(cls: PyClass) -> str:
    """The table of branch decoders of a union of the module being written."""
    return branches_table_of(ClassRef(cls.name))


def decoder_def(cls: PyClass) -> str:
    """The ``def`` line of a class's decoder, ``decode(v, name=None, strict=True)``.

    With those defaults, the decoder is the class's ``from_wire`` itself
    (see ``qapigen.runtime.decodes``): one call less per message.
    """
    params = ["name: str | int | None = None", "strict: bool = True"]
    if cls.alternate is not None:
        ret = annotation(cls.alternate)
        params.insert(0, "v: object")
    else:
        ret = cls.name
        params.insert(0, "obj: object")
    return function(f"def {own_decoder(cls)}", params, f" -> {ret}:", 0)


def bases(cls: PyClass) -> list[str]:
    """The classes ``cls`` derives from."""
    runtime = {"enum": "_rt.Enum", "alternate": "_rt.Alternate"}
    if cls.kind in runtime:
        return [runtime[cls.kind]]
    if cls.kind == "event":
        return [ref(cls.base), "_rt.Event"] if cls.base else ["_rt.Event"]
    return [ref(cls.base)] if cls.base else ["_rt.Struct"]


def fixed_value(f: PyField) -> str:
    """The enum member a branch fixes its discriminator to."""
    assert f.fixed is not None
    return f"{ref(f.fixed.enum)}.{f.fixed.member}"


# -- annotations ----------------------------------------------------------------------

_SCALAR_TYPES = {
    "str": "str",
    "bool": "bool",
    "number": "float",
    "any": "_rt.JSONValue",
    "null": "None",
}


def _annotation_parts(value: Value) -> list[str]:
    """The Python types a value of ``value`` may be (an alternate's: each branch's once)."""
    if isinstance(value, AlternateValue):
        parts = list(dict.fromkeys(annotation(b.value) for b in value.branches))
        # None last, where ruff wants it (RUF036); a union's order means nothing.
        if "None" in parts:
            parts.remove("None")
            parts.append("None")
        return parts or ["None"]
    return [annotation(value)]


def annotation(value: Value) -> str:
    """The Python type of a value: an alternate's value is its branch's value
    itself (the alternate's class only wraps one for standalone use)."""
    if isinstance(value, Scalar):
        return _SCALAR_TYPES[value.name]
    if isinstance(value, Integer):
        return "int"
    if isinstance(value, ListValue):
        return f"list[{annotation(value.element)}]"
    if isinstance(value, AlternateValue):
        return " | ".join(_annotation_parts(value))
    if isinstance(value, EnumValue):
        return ref(value.enum)
    return ref(value.cls)


def _classes(value: Value) -> Iterator[ClassRef]:
    """The classes ``annotation(value)`` names."""
    if isinstance(value, ListValue):
        yield from _classes(value.element)
    elif isinstance(value, AlternateValue):
        for branch in value.branches:
            yield from _classes(branch.value)
    elif isinstance(value, EnumValue):
        yield value.enum
    elif not isinstance(value, Scalar | Integer):
        yield value.cls


def absent(f: PyField) -> str:
    """The value of an optional member that is absent."""
    return "None" if f.absent_is_none else "_rt.ABSENT"


def field_annotation(f: PyField) -> str:
    """The Python type of a member's attribute (an optional one's absence included)."""
    if not f.optional:
        return annotation(f.value)
    if f.absent_is_none:
        return annotation(f.value) + " | None"
    parts = _annotation_parts(f.value)
    if parts[-1] == "None":  # None last (RUF036)
        return " | ".join([*parts[:-1], "_rt.Absent", "None"])
    return " | ".join([*parts, "_rt.Absent"])


def _is_union(f: PyField) -> bool:
    return f.optional or len(_annotation_parts(f.value)) > 1


# -- signatures -----------------------------------------------------------------------


def function(head: str, params: list[str], tail: str, indent: int) -> str:
    """``head(params)tail``: a ``def`` or ``class`` line."""
    return f"{' ' * indent}{head}({', '.join(params)}){tail}"


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
    default = absent(f) if f.optional else None
    return param(f.name, field_annotation(f), default, union=_is_union(f))


def setter_param(f: PyField) -> str:
    """The parameter of a deprecated member's setter."""
    return param("value", field_annotation(f), union=_is_union(f))


def init_def(cls: PyClass) -> str:
    """The ``def __init__`` line of a struct, union branch or event class.

    Every member is a keyword parameter (optional ones default to their absent
    value); a branch's tag is fixed, not a parameter.  Unknown members are
    none of a program's business: only lenient decoding keeps them.
    """
    params = ["self"]
    if cls.wraps:
        params.append(f"data: {ref(cls.wraps.cls)}")
    params.extend(field_param(f) for f in cls.members if not f.fixed)
    if len(params) > 1:
        params.insert(1, "*")
    return function("def __init__", params, " -> None:", 4)


def attribute_annotations(cls: PyClass, indent: int) -> str:
    """The annotations of the attributes of a class's own members, each
    followed by the member's docstring (the attribute docstrings IDEs and
    Sphinx read; a deprecated member's is its property's)."""
    lines = []
    for f in cls.own_fields:
        lines.append(f"{' ' * indent}{f.attr}: {field_annotation(f)}")
        if f.doc and f.attr == f.name:
            lines.append(docstring(f.doc, indent))
    return "\n".join(lines)


def init_body(cls: PyClass, indent: int) -> str:
    """The body of a struct's, branch's or event's ``__init__``: every member
    set (a branch's tag to its value), then the warnings of deprecated ones."""
    lines: Lines = [(0, "self.data = data")] if cls.wraps else []
    for f in [] if cls.wraps else cls.members:
        if f.fixed:
            lines.append((0, f"self.{f.name} = {fixed_value(f)}"))
        else:
            lines.append((0, f"self.{f.attr} = {f.name}"))
    lines.append((0, "self._unknown = None"))
    for f in cls.deprecated_fields:
        lines += _warn_if_set(cls, f, f.name)
    return _indented(lines, indent)


def warn_if_set(cls: PyClass, f: PyField, value: str, indent: int) -> str:
    """Warning that the deprecated member ``f`` is set to ``value``."""
    return _indented(_warn_if_set(cls, f, value), indent)


def _warn_if_set(cls: PyClass, f: PyField, value: str) -> Lines:
    what = f"member '{f.wire}' of {cls.described}"
    warn = f"_rt.warn_deprecated({pystr(what)})"
    if f.optional:
        return [(0, f"if {value} is not {absent(f)}:"), (4, warn)]
    return [(0, warn)]


def alternate_init_def(cls: PyClass) -> str:
    """The ``def __init__`` line of an alternate class: its one value."""
    assert cls.alternate is not None
    union = len(_annotation_parts(cls.alternate)) > 1
    value = param("value", annotation(cls.alternate), union=union)
    return function("def __init__", ["self", value], " -> None:", 4)


# -- encoding -------------------------------------------------------------------------


def encoder(value: Value, expr: str) -> str:
    """The JSON value of ``expr``, a value of ``value``."""
    if isinstance(value, Scalar | Integer):
        return expr
    if isinstance(value, ListValue):
        element = value.element
        if isinstance(element, Scalar | Integer):
            return f"list({expr})"
        return f"[{encoder(element, 'e')} for e in {expr}]"
    if isinstance(value, AlternateValue):
        # A branch's value: a plain one, or one of the generated types.
        return f"_rt.encode({expr})"
    return f"{expr}.to_wire()"


def encode_fields(cls: PyClass, indent: int) -> str:
    """The body of ``_encode_fields``: the base's members, then the class's own
    into ``out`` (an optional one only when present)."""
    lines: Lines = [(0, f"{ref(cls.base)}._encode_fields(self, out)")] if cls.base else []
    for f in cls.own_fields:
        attr = f"self.{f.attr}"
        put = f"out[{pystr(f.wire)}] = {encoder(f.value, attr)}"
        if f.optional:
            lines += [(0, f"if {attr} is not {absent(f)}:"), (4, put)]
        else:
            lines.append((0, put))
    return _indented(lines, indent)


# -- decoding -------------------------------------------------------------------------


def decoder(value: Value) -> str:
    """A function ``decode(v, name, strict)`` of ``value``."""
    if isinstance(value, Scalar | Integer):
        return f"_rt.d_{value.name}"
    if isinstance(value, ListValue):
        return f"_rt.list_of({decoder(value.element)})"
    cls = value.enum if isinstance(value, EnumValue) else value.cls
    if isinstance(value, EnumValue) or cls.from_init:
        return f"{ref(cls)}._decode_named"
    return decoding_function(cls)


def _call(value: Value, arg: str, name: str) -> str:
    """Decoding ``arg`` as ``value``, by its decoder (``name``: ``arg``'s in messages).

    A list's is ``d_list`` itself, not a closure made per call.
    """
    if isinstance(value, ListValue):
        return f"_rt.d_list({decoder(value.element)}, {arg}, {name}, strict)"
    return f"{decoder(value)}({arg}, {name}, strict)"


_INT_SHIFT_FROM = 65536


def _int_literal(value: int) -> str:
    """``value`` as the generated code writes it (``1 << 63`` rather than its digits)."""
    if abs(value) > _INT_SHIFT_FROM and abs(value).bit_count() == 1:
        shift = f"1 << {abs(value).bit_length() - 1}"
        return f"-({shift})" if value < 0 else shift
    return str(value)


# A JSON value of each QType, as json.loads gives it: what a scalar is, and
# what an alternate's branch of each QType takes.
_QTYPE_TESTS = {
    "qstring": "type(v) is str",
    "qnum": "type(v) is float or type(v) is int",
    # (two identity tests: cheaper than calling type(), bool has two values)
    "qbool": "v is True or v is False",
    "qnull": "v is None",
    "qlist": "type(v) is list",
    "qdict": "type(v) is dict",
}


def _int_test(value: Integer) -> str:
    """``v`` is an integer the type takes as it is.  (The negative values uint64
    and size wrap around go the decoder's way.  Constant expressions: Python
    folds them.)  Two comparisons, not one chained: the chain's stack
    shuffling costs ~4 ns a member (benchmarks/bench_decode.py)."""
    low, end = _int_literal(value.low), _int_literal(value.high + 1)
    return f"type(v) is int and v >= {low} and v < {end}"


def _fast_path(value: Value) -> tuple[str, str] | None:
    """A cheap test that a member's ``v`` already is a valid value, and the
    value then; None where the decoder does it all."""
    if isinstance(value, Scalar) and value.qtype is not None:
        return _QTYPE_TESTS[value.qtype], "v"
    if isinstance(value, Integer):
        return _int_test(value), "v"
    return None


def _branch_fast_path(value: Value) -> tuple[str | None, str] | None:
    """``_fast_path`` of an alternate's branch, its JSON type known: what is
    left to test (None: nothing), and the value; None where the branch's
    decoder does it all."""
    if isinstance(value, Scalar):
        return None, "v"  # the JSON type is the scalar's
    if isinstance(value, Integer):
        return _int_test(value), "v"  # (a number may be no integer)
    if isinstance(value, EnumValue):
        table = values_table(value.enum)
        return f"v in {table}", f"{table}[v]"  # (a string, maybe no member's)
    return None


def _dispatched(value: Value) -> UnionValue | None:
    """The union whose branch the code picks inline by its tag (one call less)."""
    if isinstance(value, UnionValue) and not value.cls.from_init:
        return value
    return None


def _inline_alternate(value: Value) -> AlternateValue | None:
    """The alternate whose branch the code picks inline by the JSON type (one call less)."""
    if isinstance(value, AlternateValue) and not value.cls.from_init:
        return value
    return None


def _dispatch(union: UnionValue, var: str, target: str, name: str) -> Lines:
    """Decoding a union's value ``v`` into ``target`` by the branch its tag picks,
    as the union's own decoder does.

    Its own decoder decodes a value whose tag is no branch's (and says why),
    as well as one without a tag, or that is no JSON object (subscripting
    anything else but a dict by a string raises TypeError).  ``var`` holds
    the decoder.
    """
    return [
        (0, "try:"),
        (4, f"{var} = {branches_table_of(union.cls)}[v[{pystr(union.tag)}]]"),
        (0, "except (KeyError, TypeError):"),
        (4, f"{var} = {decoding_function(union.cls)}"),
        (0, f"{target}{var}(v, {name}, strict)"),
    ]


def decode_alternatives(alternate: AlternateValue, indent: int) -> str:
    """The body of an alternate's decoder: the branch's value of ``v``."""
    lines = _alternatives(alternate, "decode", "return ", "name", returns=True)
    return _indented(lines, indent)


def _alternatives(
    alternate: AlternateValue, var: str, target: str, name: str, *, returns: bool
) -> Lines:
    """Decoding ``v`` by its JSON type into the branch's value, as the
    alternate's decoder does.

    ``target``: what takes the value (``self.x = ``, or ``return `` when
    ``returns``); ``name``: the expression naming ``v`` in messages; ``var``
    holds a union branch's decoder.
    """
    # Branches that take the value alike share one test (ruff's SIM114).
    arms: list[tuple[list[str], Lines]] = []
    for branch in alternate.branches:
        body = _alternative(branch.value, var, target, name, returns=returns)
        if arms and arms[-1][1] == body:
            arms[-1][0].append(_QTYPE_TESTS[branch.qtype])
        else:
            arms.append(([_QTYPE_TESTS[branch.qtype]], body))
    lines: Lines = []
    for i, (tests, body) in enumerate(arms):
        lines.append((0, f"{'if' if returns or not i else 'elif'} {' or '.join(tests)}:"))
        lines += [(4 + extra, code) for extra, code in body]
    fail = f"raise _rt.WireError.no_alternative({pystr(alternate.name)}).inside({name})"
    if returns or not alternate.branches:
        lines.append((0, fail))
    else:
        lines += [(0, "else:"), (4, fail)]
    return lines


def _alternative(value: Value, var: str, target: str, name: str, *, returns: bool) -> Lines:
    """One branch of ``_alternatives``, its JSON type tested already."""
    union = _dispatched(value)
    if union is not None:
        return _dispatch(union, var, target, name)
    call = f"{target}{_call(value, 'v', name)}"
    fast = _branch_fast_path(value)
    if fast is None:
        return [(0, call)]
    test, fast_value = fast
    if test is None:
        return [(0, f"{target}{fast_value}")]
    if returns:
        return [(0, f"if {test}:"), (4, f"return {fast_value}"), (0, call)]
    return [(0, f"if {test}:"), (4, f"{target}{fast_value}"), (0, "else:"), (4, call)]


# Optional members before the last required one are decoded in runs of at
# most this many, each skipped as a whole once every member present is found.
DECODE_RUN = 4


def decode_presets(fields: list[PyField], indent: int) -> str:
    """The absent values of the optional members ``fields``, set before decoding.

    Decoding then only looks for the members the message may still have.
    """
    return _indented([(0, f"self.{f.attr} = {absent(f)}") for f in fields], indent)


def decode_members(fields: list[PyField], indent: int) -> str:
    """Decoding ``fields`` into ``self`` from ``obj``, in schema order (QEMU's),
    then what else ``obj`` has (an error, or kept).

    ``left`` counts the members of the message not decoded yet (the required
    ones are counted off from the start: a missing one is an error).  Before
    the last required member (or discriminator check), optional members go
    in runs, each skipped once none is left; after it, decoding returns as
    soon as none is.  ``left`` is -1 when a required member that comes after
    optional ones is missing: no run may be skipped then, so that an earlier
    member's fault is reported first, as QEMU does.  Without optional
    members, nothing is counted: the message has these members, or more.
    """
    pad = " " * indent
    required = sum(1 for f in fields if not f.optional and not f.fixed)
    # The variable that holds a union's branch decoder: one for each union the
    # function dispatches, so that mypy sees one type per variable.
    decoders: dict[ClassRef, str] = {}
    for f in fields:
        union = _union_of(f)
        if union is not None and union not in decoders:
            decoders[union] = f"decode{len(decoders) + 1 if decoders else ''}"

    # Discriminators checked right after their decoding: the value is in ``v``.
    tag_in_v = {
        id(f)
        for prev, f in itertools.pairwise(fields)
        if f.fixed and prev.wire == f.wire and not prev.optional and not prev.fixed
    }

    def member(f: PyField, indent: int, tail: bool, guard: str = "") -> str:
        union = _union_of(f)
        var = decoders[union] if union else "decode"
        return _decode_member(f, var, tail, indent, id(f) in tag_in_v, guard)

    if not any(f.optional and not f.fixed for f in fields):
        lines = [member(f, indent, False) for f in fields]
        more = f"len(obj) != {required}" if required else "obj"
        lines += [f"{pad}if {more}:", f"{pad}    self._extra(obj, strict)"]
        return "\n".join(lines)
    lines = [f"{pad}left = len(obj) - {required}" if required else f"{pad}left = len(obj)"]
    last = max((i for i, f in enumerate(fields) if f.fixed or not f.optional), default=-1)
    seen_optional = False
    for f in fields[: last + 1]:
        if f.optional and not f.fixed:
            seen_optional = True
        elif seen_optional and not f.fixed:
            lines.append(f"{pad}if {pystr(f.wire)} not in obj:")
            lines.append(f"{pad}    left = -1")
    run: list[PyField] = []

    def flush() -> None:
        if len(run) == 1:
            # One member: its own test takes ``left`` (ruff's SIM102).
            lines.append(member(run[0], indent, False, "left and "))
        elif run:
            lines.append(f"{pad}if left:")
            lines.extend(member(g, indent + 4, False) for g in run)
        run.clear()

    for f in fields[: last + 1]:
        if f.optional and not f.fixed:
            run.append(f)
            if len(run) == DECODE_RUN:
                flush()
        else:
            flush()
            lines.append(member(f, indent, False))
    flush()
    if last + 1 < len(fields):
        lines += [f"{pad}if not left:", f"{pad}    return self"]
        lines.extend(member(f, indent, True) for f in fields[last + 1 :])
    lines += [f"{pad}if left:", f"{pad}    self._extra(obj, strict)"]
    return "\n".join(lines)


def _union_of(f: PyField) -> ClassRef | None:
    """The union whose branch decoding ``f`` picks by tag, if any."""
    union = _dispatched(f.value)
    alternate = _inline_alternate(f.value)
    if union is None and alternate is not None:
        union = next(filter(None, map(_dispatched, (b.value for b in alternate.branches))), None)
    return union.cls if union is not None else None


# A base's members come again in each branch: decode each once.
@functools.lru_cache(maxsize=4096)
def _decode_member(
    f: PyField, var: str, tail: bool, indent: int, tag_in_v: bool = False, guard: str = ""
) -> str:
    """Decoding one member: the fast path settles the usual values inline; the
    decoder the rest, errors included.  A discriminator that a branch fixes is
    checked, not decoded (``tag_in_v``: its value is in ``v`` still).  A
    required member is looked up unguarded: the decoder's ``except KeyError``
    reports it missing.  ``tail``: return once all members present are found.
    ``var`` holds a union branch's decoder; ``guard`` starts an optional
    member's test of presence.
    """
    wire = pystr(f.wire)
    attr = f"self.{f.attr}"
    if f.fixed is not None:
        # The tag, decoded already, is this branch's exactly when its wire
        # value is (``E.X`` itself is slow to look up).
        tag = "v" if tag_in_v else f"obj[{wire}]"
        check = [
            (0, f"if {tag} != {pystr(f.fixed.wire)}:"),
            (4, f"raise _rt.WireError.not_this_branch({wire}, obj)"),
        ]
        return _indented(check, indent)
    lines: Lines = []
    at = 0
    if f.optional:
        lines.append((0, f"if {guard}{wire} in obj:"))
        at = 4
    value = f.value
    call = _call(value, "v", wire)
    union = _dispatched(value)
    alternate = _inline_alternate(value)
    fast = _fast_path(value)
    if isinstance(value, EnumValue):
        # A known value is a key of the table; the decoder reports the rest
        # (a value that is no key, or no string).
        lines.append((at, f"v = obj[{wire}]"))
        lines += [(at, "try:"), (at + 4, f"{attr} = {values_table(value.enum)}[v]")]
        lines += [(at, "except (KeyError, TypeError):"), (at + 4, f"{attr} = {call}")]
    elif union is not None:
        lines.append((at, f"v = obj[{wire}]"))
        lines += [(at + extra, code) for extra, code in _dispatch(union, var, f"{attr} = ", wire)]
    elif alternate is not None:
        lines.append((at, f"v = obj[{wire}]"))
        branches = _alternatives(alternate, var, f"{attr} = ", wire, returns=False)
        lines += [(at + extra, code) for extra, code in branches]
    elif isinstance(value, Scalar) and value.qtype is None:
        lines.append((at, f"{attr} = obj[{wire}]"))  # any JSON value will do
    elif fast is None:
        lines.append((at, f"{attr} = {_call(value, f'obj[{wire}]', wire)}"))
    else:
        lines.append((at, f"v = obj[{wire}]"))
        # Only null passes d_null, and the fast test took it: the call raises.
        null = isinstance(value, Scalar) and value.qtype == "qnull"
        slow = [call, f"{attr} = None"] if null else [f"{attr} = {call}"]
        lines += [(at, f"if {fast[0]}:"), (at + 4, f"{attr} = {fast[1]}"), (at, "else:")]
        lines += [(at + 4, code) for code in slow]
    if f.optional:
        lines.append((4, "left -= 1"))
        if tail:
            lines += [(4, "if not left:"), (8, "return self")]
    return _indented(lines, indent)


# -- module-level statements ----------------------------------------------------------


def branches_table(cls: PyClass) -> str:
    """A union's table of branch decoders by tag value."""
    items = ", ".join(
        f"{pystr(value)}: {decoding_function(ClassRef(branch))}" for value, branch in cls.branches
    )
    return f"{own_branches(cls)}: _rt.Branches[{cls.name}] = {{{items}}}"


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
    return f"{cls.name}.QAPI_INFO = _rt.TypeInfo({', '.join(args)})"


def _tuple_of(items: list[str]) -> str:
    """A tuple display of ``items`` (one item: with its comma)."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def slots(cls: PyClass) -> str:
    """The ``__slots__`` of a struct's class: its own members' attributes, sorted
    (nothing goes by their order: ``_FIELDS`` orders ``repr``, equality and
    encoding); ``()`` when it has none (its bases hold theirs)."""
    return _tuple_of([pystr(attr) for attr in slots_order(f.attr for f in cls.own_fields)])


def field_names(cls: PyClass) -> str:
    """The ``_FIELDS`` of a struct's class: every member's Python name, in order."""
    return _tuple_of([pystr(f.name) for f in cls.members])


def wire_names(cls: PyClass) -> str:
    """The set display of a struct's members' wire names (its ``_WIRE_NAMES``)."""
    return "{" + ", ".join(pystr(name) for name in cls.wire_names) + "}"


# -- commands -------------------------------------------------------------------------


def signature(command: PyCommand) -> str:
    """The handler method's ``def`` line for ``command``."""
    if not command.gen:
        params = ["self", "arguments: dict[str, _rt.JSONValue]"]
        ret = "_rt.JSONValue"
    else:
        params = ["self", *_argument_params(command)]
        ret = _returns(command)
    return function(f"def {command.method}", params, f" -> {ret}:", 4)


def _returns(command: PyCommand) -> str:
    return annotation(command.returns) if command.returns is not None else "None"


def _argument_params(command: PyCommand) -> list[str]:
    """A command's arguments as parameters: its members keyword-only, or one object."""
    params: list[str] = []
    if command.unpack:
        if command.params:
            params.append("*")
        params.extend(field_param(f) for f in command.params)
    elif command.arguments:
        params.append(f"arguments: {ref(command.arguments)}")
    return params


def _client_params(command: PyCommand) -> list[str]:
    """A client method's parameters, after ``self``: as the handler's, but a
    command not generated takes its members and ``**extra`` (the rest, as it
    is), or one JSON object."""
    if command.gen:
        return _argument_params(command)
    if command.extra is None:
        return ["arguments: dict[str, _t.Any]"]
    params = [field_param(f) for f in command.params]
    return (
        ["*", *params, f"**{command.extra}: _t.Any"] if params else [f"**{command.extra}: _t.Any"]
    )


def client_names(commands: list[PyCommand]) -> list[str]:
    """The classes the client's methods name (what ``client.py`` imports), in
    the order of an import: as ``_client_params``, ``client_body`` and
    ``_returns`` name them."""
    classes: set[ClassRef] = set()
    for c in commands:
        if c.unpack if c.gen else c.extra is not None:
            for f in c.params:
                classes.update(_classes(f.value))
        elif c.gen and c.arguments:
            classes.add(c.arguments)
        if c.params and (c.unpack or c.extra is not None) and c.arguments:
            classes.add(c.arguments)
        if c.returns is not None:
            classes.update(_classes(c.returns))
    return import_order({cls.name for cls in classes})


def client_uses_typing(commands: list[PyCommand]) -> bool:
    """Whether a client method names ``_t`` (a result's cast, or a command not
    generated: its JSON object, or ``**extra``)."""
    return any(not c.gen or c.returns is not None for c in commands)


def client_uses_runtime(commands: list[PyCommand]) -> bool:
    """Whether a client method's signature names ``_rt``."""
    return any("_rt." in client_signature(c, True) for c in commands)


def package_imports(exports: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """The imports of ``__init__.py``: each module's exported classes, in import order."""
    names: dict[str, list[str]] = {}
    for path, name in exports:
        names.setdefault(path, []).append(name)
    return [(path, import_order(names[path])) for path in module_order(names)]


def package_modules(exports: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What ``__init__.py`` loads when first asked for: each exported class
    and its module, in the order of the type checker's imports."""
    return [(name, path) for path, names in package_imports(exports) for name in names]


# The longest name of a loader of ``COMMANDS``.
_LOADER_NAME_LIMIT = 40


def command_loaders(
    commands: list[PyCommand], exports: list[tuple[str, str]]
) -> list[tuple[str, list[tuple[str, list[str]]], list[PyCommand]]]:
    """``__init__.py``'s loaders of ``COMMANDS``: one per schema module with
    commands, its function's name, what it imports (the classes its commands'
    arguments and returns name) and its commands."""
    module_of = {name: path for path, name in exports}
    groups: dict[str, list[PyCommand]] = {}
    for c in commands:
        groups.setdefault(c.module, []).append(c)
    loaders = []
    taken: set[str] = set()
    for path, group in groups.items():
        # Cut short, so that the ``def`` line fits whatever the module's name.
        base = ("_commands_" + path.replace(".", "_"))[:_LOADER_NAME_LIMIT]
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        classes: set[str] = set()
        for c in group:
            if c.arguments is not None:
                classes.add(c.arguments.name)
            if c.returns is not None:
                classes.update(cls.name for cls in _classes(c.returns))
        loaders.append((name, package_imports([(module_of[n], n) for n in classes]), group))
    return loaders


def package_all(exports: list[tuple[str, str]]) -> list[str]:
    """``__init__.py``'s ``__all__``: its own names and the classes it exports."""
    return all_order(["COMMANDS", "EVENTS", "Handler", "SCHEMA_DIGEST", *(n for _, n in exports)])


def client_signature(command: PyCommand, is_async: bool) -> str:
    """The ``def`` line of ``command``'s client method."""
    head = f"{'async ' if is_async else ''}def {command.method}"
    return function(head, ["self", *_client_params(command)], f" -> {_returns(command)}:", 4)


def client_body(command: PyCommand, call: str, indent: int) -> str:
    """The body of ``command``'s async client method."""
    lines: Lines = []
    typed = command.params and (command.unpack or command.extra is not None)
    if typed:
        assert command.arguments is not None
        kwargs = ", ".join(f"{f.name}={f.name}" for f in command.params)
        # Locals start with "_": no member's Python name does.
        lines.append((0, f"_arguments = {ref(command.arguments)}({kwargs})"))
        args = "_arguments.to_wire()"
        if command.extra is not None:
            args = f"{{**{args}, **{command.extra}}}"
    elif command.extra is not None:
        args = command.extra
    elif not command.gen or (command.arguments and not command.unpack):
        args = "arguments" if not command.gen else "arguments.to_wire()"
    else:
        args = "None"
    invocation = f"{call}({pystr(command.name)}, {args})"
    if command.returns is None:
        lines.append((0, invocation))
    else:
        lines.append((0, f"_result = {invocation}"))
        lines.append((0, f"return _t.cast({pystr(_returns(command))}, _result)"))
    return _indented(lines, indent)


def sync_body(command: PyCommand, indent: int) -> str:
    """The body of ``command``'s blocking client method."""
    if command.extra is not None or (command.gen and command.unpack):
        args = [f"{f.name}={f.name}" for f in command.params]
        if command.extra is not None:
            args.append(f"**{command.extra}")
    else:
        args = ["arguments"] if not command.gen or command.arguments else []
    outer = "self._run" if command.returns is None else "return self._run"
    return f"{' ' * indent}{outer}(self.client.{command.method}({', '.join(args)}))"
