"""QAPI doc comments as docstring text: reST, with Google-style sections.

QAPI's doc markup is reST with extensions (``docs/devel/qapi-code-gen.rst``
in QEMU's source): ``@name`` references, the ``.. qmp-example::`` directive,
and tagged sections (member and feature descriptions, ``Returns:``,
``Errors:``, ``Since:``, ``TODO:``).  Docstrings get what IDEs and Sphinx
(with napoleon) render:

- ``@name`` becomes ````name````, the Python name where ``name`` is one
  (a member's attribute or parameter, an enum member, a class);
- a ``.. qmp-example::`` becomes ``Example::`` and a literal block (its
  ``->``/``<-`` lines as they are), or, ``:annotated:``, ``Example:`` and
  its reST text indented;
- Sphinx's cross-reference roles (``:doc:``, ``:ref:``, ...), which mean
  nothing outside QEMU's manual, become their title, or their target as a
  literal;
- descriptions become ``Args:`` sections (``Values:`` for an enum's
  members, ``Branches:`` for an alternate's), ``Returns:`` and ``Errors:``
  become ``Returns:`` and ``Raises:``, ``TODO:`` sections are dropped (they
  are for QEMU's developers), and the rest of the reST is kept as it is.

Nothing here writes code: ``codewriter.docstring`` makes the literal.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable

from ...frontend.condition_text import condition_text
from ...frontend.doc_comments import Doc, Kind, Section

# A schema name → the name a docstring shows for it.
Resolve = Callable[[str], str]

# What stands in the text: an inline literal (left alone), an ``@name``
# reference (not in the middle of a word, as in an e-mail address), a role.
_INLINE = re.compile(
    r"(?P<literal>``.+?``)"
    r"|(?<![\w@`])@(?P<ref>[\w-]+)"
    r"|(?<![\w`]):(?P<role>[\w:+.-]+):`(?P<target>[^`]*)`",
    re.DOTALL,
)
# A role's ``title <target>``.
_TITLED = re.compile(r"(?P<title>.*?)\s*<(?P<target>[^<>]*)>", re.DOTALL)
# The roles docutils knows: the others are Sphinx's, and resolve only in QEMU's manual.
_DOCUTILS_ROLES = frozenset(
    {
        "abbreviation",
        "ab",
        "acronym",
        "ac",
        "code",
        "emphasis",
        "literal",
        "math",
        "pep-reference",
        "pep",
        "PEP",
        "rfc-reference",
        "rfc",
        "RFC",
        "strong",
        "subscript",
        "sub",
        "superscript",
        "sup",
        "title-reference",
        "title",
        "t",
    }
)
_DIRECTIVE = re.compile(r"\s*\.\.\s+(?P<name>[\w:-]+)::")
# Directives whose content is not reST text: no reference is made there
# (a table's columns are as wide as their text).
_VERBATIM_DIRECTIVES = frozenset(
    {"code", "code-block", "sourcecode", "table", "csv-table", "math", "raw"}
)
_OPTION = re.compile(r"\s*:(?P<name>[\w-]+):\s*(?P<value>.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """The end of the block that starts at ``start``: its lines are indented
    deeper than ``indent`` (blank lines inside it, not after it)."""
    end = start
    for i in range(start, len(lines)):
        if not lines[i].strip():
            continue
        if _indent(lines[i]) <= indent:
            break
        end = i + 1
    return end


def rest(text: str, resolve: Resolve) -> str:
    """QAPI's doc markup in ``text`` (reST whose lines start at column 0 or
    deeper) turned into reST."""
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []  # lines of text, converted together (literals may span lines)

    def flush() -> None:
        if prose:
            out.extend(_inline("\n".join(prose), resolve).split("\n"))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        indent = _indent(line)
        directive = _DIRECTIVE.match(line)
        name = directive.group("name") if directive else None
        if name == "qmp-example":
            flush()
            end = _block_end(lines, i + 1, indent)
            out.extend(_example(lines[i + 1 : end], indent, resolve))
            i = end
        elif name in _VERBATIM_DIRECTIVES:
            flush()
            end = _block_end(lines, i + 1, indent)
            out.extend(lines[i:end])
            i = end
        elif name is None and line.rstrip().endswith("::"):
            # A literal block follows: it is shown as it is.
            prose.append(line)
            flush()
            end = _block_end(lines, i + 1, indent)
            out.extend(lines[i + 1 : end])
            i = end
        else:
            prose.append(line)
            i += 1
    flush()
    return "\n".join(out)


def _inline(text: str, resolve: Resolve) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("literal"):
            return match.group(0)
        if match.group("ref"):
            return f"``{resolve(match.group('ref'))}``"
        role = match.group("role")
        if role.split(":")[-1] in _DOCUTILS_ROLES:
            return match.group(0)
        target = match.group("target")
        titled = _TITLED.fullmatch(target)
        if titled and titled.group("title"):
            return titled.group("title")
        target = titled.group("target") if titled else target
        return f"``{target}``" if target.strip() else target

    return _INLINE.sub(replace, text)


def _example(block: list[str], indent: int, resolve: Resolve) -> list[str]:
    """A ``.. qmp-example::`` directive's options and content as plain reST."""
    options: dict[str, str] = {}
    body = list(block)
    while body and (option := _OPTION.match(body[0])):
        options[option.group("name")] = option.group("value").strip()
        body.pop(0)
    content = textwrap.dedent("\n".join(body)).strip("\n")
    pad = " " * indent
    title = _inline(options["title"], resolve) if options.get("title") else ""
    head = f"{pad}Example: {title}" if title else f"{pad}Example"
    if "annotated" in options:
        # Its own reST, with its own literal blocks.
        lines = [head if title else head + ":", ""]
        lines += _indented(rest(content, resolve), indent + 4)
        return lines
    return [head + "::", "", *_indented(content, indent + 4)]


def _indented(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return [pad + line if line.strip() else "" for line in text.split("\n")]


# -- sections -------------------------------------------------------------------------


def section_text(section: Section) -> str:
    """A section's text at column 0: a plain section's dedented; a tagged
    section's or description's first line stripped (it follows the tag or
    ``@name:``), the lines after it dedented."""
    if section.kind is Kind.PLAIN:
        return textwrap.dedent(section.text).strip("\n").rstrip()
    lines = section.text.strip("\n").split("\n")
    rest_lines = textwrap.dedent("\n".join(lines[1:])).split("\n") if len(lines) > 1 else []
    return "\n".join([lines[0].strip(), *rest_lines]).rstrip()


def condition_note(ifcond: object) -> str:
    """What a docstring says of a part a condition guards (the superset's words)."""
    if not ifcond:
        return ""
    assert isinstance(ifcond, (str, dict))
    return f"Only in builds where {condition_text(ifcond)}."


def with_note(text: str, note: str) -> str:
    """``text``, and ``note`` as a paragraph of its own, unless ``text`` ends
    with it already (a superset's branch, whose type has the same condition:
    its description says it)."""
    if not note or text == note or text.endswith("\n\n" + note):
        return text
    return f"{text}\n\n{note}" if text else note


def entries(heading: str, items: Iterable[tuple[str, str]], *, spaced: bool = False) -> str:
    """A Google-style section: ``heading:``, then ``name: text`` a line each,
    a description's further lines indented under it.

    Where a description has several lines (or ``spaced``: a heading napoleon
    does not read, whose entries would otherwise run into one paragraph),
    the entries are separated by blank lines, so that the text is also plain
    reST (a definition list closed by a blank line).
    """
    blocks = []
    for name, text in items:
        first, *more = text.split("\n")
        if _STARTS_BLOCK.match(first):
            # A list or directive cannot follow the name on its line.
            first, more = "", [first, *more]
        lines = [f"    {_escaped(name)}: {first}".rstrip()]
        if more:
            lines += _indented("\n".join(more), 8)
        blocks.append("\n".join(lines))
    if not blocks:
        return ""
    spaced = spaced or any("\n" in block for block in blocks)
    return f"{heading}:\n" + ("\n\n" if spaced else "\n").join(blocks)


# A line that starts a list item or an explicit markup block (a directive).
_STARTS_BLOCK = re.compile(r"([-*+•]|\d+\.|#\.|\(?\d+\)|\.\.)( |$)")


def _escaped(name: str) -> str:
    """A name as reST text: a trailing ``_`` would make it a reference (``type_``
    is written ``type\\_``, as napoleon writes parameters)."""
    stem = name.rstrip("_")
    return stem + "\\_" * (len(name) - len(stem))


def block(heading: str, text: str) -> str:
    """A Google-style section of one text: ``heading:``, the text indented under it."""
    return f"{heading}:\n" + "\n".join(_indented(text, 4))


# The QMP error classes (QAPI's QapiErrorClass): the typed client raises one
# exception class for each (qapigen.runtime.client).
ERROR_CLASSES = (
    "GenericError",
    "CommandNotFound",
    "DeviceNotActive",
    "DeviceNotFound",
    "KVMMissingCap",
)
CLIENT_ERRORS = "qapigen.runtime.client"
HANDLER_ERROR = "qapigen.runtime.CommandError"
_ITEM = re.compile(r"^[-*+] +", re.MULTILINE)
_CLASSES = "(?P<cls>" + "|".join(ERROR_CLASSES) + ")"
# "If X, DeviceNotFound", "Any other error returns a GenericError."
_CLASS_AT_END = re.compile(r",?\s*\b(?:returns\s+an?\s+)?" + _CLASSES + r"\b\.?$")
# "DeviceNotFound if X"
_CLASS_FIRST = re.compile(_CLASSES + r"\b[,:]?\s+(?=\S)")


def errors(text: str) -> list[tuple[str | None, str]]:
    """The entries of an ``Errors:`` section (an reST list, each item a
    condition and the error class, at its end or its start): (error class or
    None, the condition).

    A section that is no list is one entry.
    """
    if not _ITEM.match(text):
        items = [text]
    else:
        items = [_lines(item) for item in _ITEM.split(text) if item.strip()]
    result: list[tuple[str | None, str]] = []
    for item in items:
        match = _CLASS_AT_END.search(item)
        first = _CLASS_FIRST.match(item)
        if match and match.start() > 0:
            result.append((match.group("cls"), _sentence(item[: match.start()].rstrip(" ,"))))
        elif first:
            result.append((first.group("cls"), _sentence(item[first.end() :])))
        else:
            result.append((None, item))
    return result


def _lines(item: str) -> str:
    """A list item's text: its first line, and the lines after it dedented."""
    first, *more = item.strip("\n").split("\n")
    return "\n".join([first.strip(), *textwrap.dedent("\n".join(more)).split("\n")]).rstrip()


def _sentence(text: str) -> str:
    """``text`` as a sentence of its own: a capital first, a full stop last."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def raises(items: list[tuple[str | None, str]], *, client: bool) -> str:
    """The ``Raises:`` section of a command's documented errors: the typed
    client's exception of each error class (``CommandFailed`` where the class
    is not said); a handler's ``CommandError`` with the class."""
    entries_: list[tuple[str, str]] = []
    for cls, text in items:
        # The text under the exception's name, which is long.
        if client:
            entries_.append((f"{CLIENT_ERRORS}.{cls or 'CommandFailed'}", "\n" + text))
        else:
            entries_.append((HANDLER_ERROR, "\n" + (f"{cls}: {text}" if cls else text)))
    return entries("Raises", entries_)


def description(doc: Doc | None, fallback: str, resolve: Resolve) -> str:
    """The text before a docstring's sections: the doc's body, or ``fallback``."""
    if doc is not None and doc.body.text.strip():
        return rest(section_text(doc.body), resolve)
    return fallback


def features(doc: Doc | None, resolve: Resolve, wanted: Callable[[Section], bool]) -> str:
    """The ``Features:`` section: the features ``wanted`` keeps, each with its
    description and, in a build for ``--define``, its condition."""
    if doc is None:
        return ""
    items = []
    for name, section in doc.features.items():
        if not section.text or not wanted(section):
            continue
        ifcond = getattr(getattr(section.described, "ifcond", None), "expr", None)
        items.append(
            (name, with_note(rest(section_text(section), resolve), condition_note(ifcond)))
        )
    return entries("Features", items, spaced=True)


def tagged(
    doc: Doc | None, resolve: Resolve, *, returns: str | None = None, client: bool | None = None
) -> list[str]:
    """The sections after the descriptions, in source order: reST text as
    it is, ``Returns:`` (with the Python type ``returns``), ``Raises:`` for
    ``Errors:`` (``client``: the typed client's exceptions, else a handler's),
    ``Since:``; legacy ``Note:`` and ``Example:``; not ``TODO:``."""
    if doc is None:
        return []
    parts = []
    for section in doc.sections:
        if not section.text.strip():
            continue
        text = section_text(section)
        kind = section.kind
        if kind is Kind.PLAIN:
            parts.append(rest(text, resolve))
        elif kind is Kind.RETURNS:
            body = rest(text, resolve)
            parts.append(
                entries("Returns", [(returns, body)]) if returns else block("Returns", body)
            )
        elif kind is Kind.ERRORS:
            items = errors(rest(text, resolve))
            parts.append(raises(items, client=bool(client)))
        elif kind is Kind.SINCE:
            parts.append(f"Since: {text}")
        elif kind is Kind.NOTE:
            parts.append(block("Note", rest(text, resolve)))
        elif kind is Kind.EXAMPLE:
            parts.append("Example::\n\n" + "\n".join(_indented(text, 4)))
    return parts


def join(parts: Iterable[str]) -> str:
    """A docstring's text: its parts, the empty ones left out, a blank line apart."""
    return "\n\n".join(part for part in parts if part)
