"""Checks JSON documents and QMP transcripts against a schema.

Acceptance is that of QEMU's strict QMP input: integer ranges (with QEMU's
wrap-around of negative ``uint64``/``size``), enum values, alternates by JSON
type, unions by discriminator, no unknown members.  Unlike QEMU, which stops
at the first fault, every fault is reported, each with a JSON pointer
(RFC 6901) and QEMU's wording for it.

Conditions (``if``) are resolved against the ``defines`` a :class:`Validator`
is given, as for one build of QEMU.  Given none (None), it does not resolve
them: every conditional part is there.  ``qapigen validate`` by default loads
the superset of the schema's builds (``load_schema(..., superset=True)``: no
condition left, conditional members optional), so that a value is accepted
when some build of the schema would accept it; ``--define`` picks one build.

Many faults are one fault repeated, once per element of a list:
:func:`group` folds them into one line each, with a count.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from ..frontend.conditions import Defines
from ..frontend.model import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    EnumType,
    Event,
    IfCond,
    ObjectType,
    Schema,
    Type,
)
from ..frontend.wire_types import PYTHON_QTYPE
from ..runtime import codec
from ..runtime.errors import WireError
from ..runtime.key_order import first_unexpected


@dataclasses.dataclass(frozen=True)
class Problem:
    """One fault: where (a JSON pointer, and for files a line) and what."""

    pointer: str
    message: str
    line: int | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where += f":{self.line}"
        where += f" {self.pointer or '/'}" if where else (self.pointer or "/")
        return f"{where}: {self.message}"


def _pointer(parts: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Validator:
    """Validates values against the types, commands and events of a schema."""

    def __init__(self, schema: Schema, defines: Iterable[str] | None = None) -> None:
        self.schema = schema
        self.defines = None if defines is None else Defines(defines)

    def holds(self, cond: IfCond) -> bool:
        """Whether the build has a part with condition ``cond``."""
        return self.defines is None or self.defines.holds(cond)

    # -- entry points ---------------------------------------------------

    def check_type(self, name: str, value: object) -> list[Problem]:
        """Faults of ``value`` as a value of the type ``name``."""
        typ = self.schema.lookup_type(name)
        if typ is None or not self.holds(typ.ifcond):
            return [Problem("", f"the schema has no type '{name}'")]
        return list(self._check(typ, value, (), (), None))

    def check_arguments(self, command: str, arguments: object) -> list[Problem]:
        """Faults of ``arguments`` as the arguments of ``command``."""
        cmd = self.schema.lookup(command)
        if not isinstance(cmd, Command) or not self.holds(cmd.ifcond):
            return [Problem("", f"The command {command} has not been found")]
        if cmd.arg_type is None or not cmd.gen:
            if cmd.gen and isinstance(arguments, dict) and arguments:
                first = first_unexpected(arguments, ()) or ""  # the one QEMU names
                return [Problem(_pointer((first,)), f"Parameter '{first}' is unexpected")]
            return []
        return list(self._check(cmd.arg_type, arguments, (), (), None))

    def check_return(self, command: str, value: object) -> list[Problem]:
        """Faults of ``value`` as what ``command`` returns."""
        cmd = self.schema.lookup(command)
        if not isinstance(cmd, Command) or not self.holds(cmd.ifcond):
            return [Problem("", f"The command {command} has not been found")]
        if cmd.ret_type is None:
            if value != {}:
                return [Problem("", "the command returns no value: expected {}")]
            return []
        return list(self._check(cmd.ret_type, value, (), (), None))

    def check_event(self, event: str, data: object) -> list[Problem]:
        """Faults of ``data`` as the data of ``event`` (None: the event has no data)."""
        evt = self.schema.lookup(event)
        if not isinstance(evt, Event) or not self.holds(evt.ifcond):
            return [Problem("", f"the schema has no event '{event}'")]
        if evt.arg_type is None:
            return [] if data is None else [Problem("/data", "the event has no data")]
        if data is None:
            return [Problem("", "Parameter 'data' is missing")]
        return list(self._check(evt.arg_type, data, (), (), None))

    # -- the walk -------------------------------------------------------

    def _problem(
        self, err: WireError, ptr: tuple[str | int, ...], names: tuple[str | int, ...]
    ) -> Problem:
        for name in reversed(names):
            err.inside(name)
        return Problem(_pointer(ptr), err.desc)

    def _check(
        self,
        typ: Type,
        value: object,
        ptr: tuple[str | int, ...],
        names: tuple[str | int, ...],
        name: str | int | None,
    ) -> Iterator[Problem]:
        """Faults of ``value`` as a ``typ``.

        ``ptr`` is the JSON pointer of ``value``; ``names`` the path QEMU
        names it by (member names and list indexes); ``name`` its own name.
        """
        if isinstance(typ, BuiltinType):
            err = _check_builtin(typ.name, value)
            if err is not None:
                yield self._problem(err, ptr, names)
        elif isinstance(typ, EnumType):
            if type(value) is not str:
                yield self._problem(WireError.wrong_type("string"), ptr, names)
            elif not any(m.name == value and self.holds(m.ifcond) for m in typ.members):
                bare = name if isinstance(name, str) else "null"
                msg = f"Parameter '{bare}' does not accept value '{value}'"
                yield Problem(_pointer(ptr), msg)
        elif isinstance(typ, ArrayType):
            if type(value) is not list:
                yield self._problem(WireError.wrong_type("array"), ptr, names)
                return
            for i, element in enumerate(value):
                yield from self._check(typ.element_type, element, (*ptr, i), (*names, i), i)
        elif isinstance(typ, AlternateType):
            qtype = PYTHON_QTYPE.get(type(value))
            for v in typ.alternatives.variants:
                if v.type.alternate_qtype() == qtype and self.holds(v.ifcond):
                    yield from self._check(v.type, value, ptr, names, name)
                    return
            bare = name if isinstance(name, str) else "null"
            msg = f"Invalid parameter type for '{bare}', expected: {typ.name}"
            yield Problem(_pointer(ptr), msg)
        else:
            assert isinstance(typ, ObjectType)
            yield from self._check_object(typ, value, ptr, names)

    def _check_object(
        self,
        typ: ObjectType,
        value: object,
        ptr: tuple[str | int, ...],
        names: tuple[str | int, ...],
    ) -> Iterator[Problem]:
        if type(value) is not dict:
            yield self._problem(WireError.wrong_type("object"), ptr, names)
            return
        members = [m for m in typ.members if self.holds(m.ifcond)]
        branch = typ
        while branch.branches is not None:
            tag = value.get(branch.branches.tag_member.name)
            chosen = next(
                (v for v in branch.branches.variants if v.name == tag and self.holds(v.ifcond)),
                None,
            )
            if chosen is None:
                break  # the tag member's own check reports it
            assert isinstance(chosen.type, ObjectType)
            branch = chosen.type
            members += [m for m in branch.members if m not in members and self.holds(m.ifcond)]
        for m in members:
            if m.name in value:
                yield from self._check(
                    m.type, value[m.name], (*ptr, m.name), (*names, m.name), m.name
                )
            elif not m.optional:
                yield self._problem(WireError.missing(m.name), ptr, names)
        known = {m.name for m in members}
        for key in value:
            if key not in known:
                yield self._problem(WireError.unexpected(key), (*ptr, key), names)

    # -- QMP transcripts ------------------------------------------------

    def check_transcript(self, text: str, source: str | None = None) -> list[Problem]:
        """Faults of a transcript written as QEMU's documentation writes them.

        ``-> {...}`` is what the client sends, ``<- {...}`` what the server
        sends; a message may span lines.  A reply is matched to its command
        by ``id``, else to the oldest unanswered command.
        """
        return self._transcript(text, source, None)

    def _transcript(
        self, text: str, source: str | None, stats: ExampleStats | None
    ) -> list[Problem]:
        """:meth:`check_transcript`; with ``stats`` (examples), messages that
        hold the notation's ``...`` are skipped, and messages counted there."""
        problems: list[Problem] = []
        pending: list[tuple[object, str]] = []
        for line, direction, message, error in _messages(text):

            def add(found: list[Problem], base: tuple[str | int, ...] = (), at: int = line) -> None:
                for p in found:
                    problems.append(Problem(_pointer(base) + p.pointer, p.message, at, source))

            if stats is not None:
                stats.messages += 1
            if error is not None:
                if stats is not None and error is PLACEHOLDER:
                    stats.skipped += 1
                    # What it answers, or what answers it, is not checked either.
                    if direction == "->":
                        pending.append((None, ""))
                    elif pending:
                        pending.pop(0)
                    continue
                add([Problem("", error)])
                continue
            if not isinstance(message, dict):
                add([Problem("", "QMP input must be a JSON object")])
                continue
            if direction == "->":
                name = message.get("execute", message.get("exec-oob"))
                if not isinstance(name, str):
                    add([Problem("", "QMP input lacks member 'execute'")])
                    continue
                pending.append((message.get("id"), name))
                add(self.check_arguments(name, message.get("arguments", {})), ("arguments",))
            elif "return" in message:
                command = _match(pending, message)
                if command:
                    add(self.check_return(command, message["return"]), ("return",))
            elif "error" in message:
                _match(pending, message)
                err = message["error"]
                if not (isinstance(err, dict) and isinstance(err.get("class"), str)):
                    add([Problem("/error", "an error needs 'class' and 'desc'")])
            elif "event" in message:
                add(self._check_event_message(message))
            elif "QMP" not in message:
                add([Problem("", "not a QMP message")])
        return problems

    def _check_event_message(self, message: dict[str, Any]) -> list[Problem]:
        name = message["event"]
        if not isinstance(name, str):
            return [Problem("/event", "Invalid parameter type for 'event', expected: string")]
        found = [
            Problem("/data" + p.pointer, p.message) if p.pointer != "/data" else p
            for p in self.check_event(name, message.get("data"))
        ]
        stamp = message.get("timestamp")
        if stamp is not None and not (
            isinstance(stamp, dict) and set(stamp) == {"seconds", "microseconds"}
        ):
            found.append(Problem("/timestamp", "a timestamp has seconds and microseconds"))
        return found


def _match(pending: list[tuple[object, str]], reply: dict[str, Any]) -> str | None:
    """The command a reply answers, taken off ``pending``."""
    if "id" in reply:
        for i, (cid, name) in enumerate(pending):
            if cid == reply["id"]:
                del pending[i]
                return name
    if pending:
        return pending.pop(0)[1]
    return None


def _check_builtin(name: str, value: object) -> WireError | None:
    """QEMU's error for ``value`` as a built-in type, or None."""
    # The generated bindings' decoder of the type (``d_int8`` ...) states the rule.
    decode = getattr(codec, f"d_{name}")
    try:
        decode(value, None, True)
    except WireError as err:
        return err
    return None


_MARKER = re.compile(r"^\s*(->|<-)\s?(.*)$")

#: The error of a message that holds ``...`` outside its strings: in QEMU's
#: doc examples, the notation for what is left out (or the notation's own
#: description, ``-> ... text sent by client (commands) ...``).
PLACEHOLDER = "holds the notation's '...' placeholder"

# JSON strings, to look for "..." outside them.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _has_placeholder(text: str) -> bool:
    return "..." in _JSON_STRING.sub('""', text)


def _messages(text: str) -> Iterator[tuple[int, str, object, str | None]]:
    """(line, direction, message, error) for each message of a transcript;
    the error of a message with a placeholder is :data:`PLACEHOLDER`."""
    decoder = json.JSONDecoder()
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        start, direction = i + 1, m.group(1)
        buf = m.group(2)
        i += 1
        while True:
            try:
                value, _ = decoder.raw_decode(buf.strip())
                yield start, direction, value, None
                break
            except json.JSONDecodeError as err:
                more = i < len(lines) and not _MARKER.match(lines[i]) and lines[i].strip()
                if not more:
                    error = PLACEHOLDER if _has_placeholder(buf) else f"not JSON: {err.msg}"
                    yield start, direction, None, error
                    break
                buf += "\n" + lines[i]
                i += 1


_EXAMPLE = re.compile(r"^(\s*)\.\. qmp-example::")


@dataclasses.dataclass
class ExampleStats:
    """What :func:`check_examples` checked: blocks, messages, the messages
    skipped for their placeholders, and the blocks with faults."""

    blocks: int = 0
    messages: int = 0
    skipped: int = 0
    faulty: int = 0

    def summary(self, faults: int) -> str:
        """One line: ``212 examples, 530 messages: 12 faults in 9 examples; 6 messages
        skipped (they hold the notation's '...' placeholders)``."""
        text = f"{self.blocks} examples, {self.messages} messages: "
        if faults:
            text += f"{faults} {_plural(faults, 'fault')} in "
            text += f"{self.faulty} {_plural(self.faulty, 'example')}"
        else:
            text += "no faults"
        if self.skipped:
            text += (
                f"; {self.skipped} {_plural(self.skipped, 'message')} skipped "
                "(they hold the notation's '...' placeholders)"
            )
        return text


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def check_examples(validator: Validator, stats: ExampleStats | None = None) -> list[Problem]:
    """Faults of the ``qmp-example`` blocks in the schema's doc comments.

    Each block is checked as a transcript; a problem names the doc comment's
    file and the line of the message in it.  Messages that hold the
    notation's ``...`` (what an example leaves out) are skipped, not faults;
    ``stats``, if given, counts what was checked.
    """
    stats = ExampleStats() if stats is None else stats
    problems = []
    for doc in validator.schema.docs:
        for section in doc.all_sections:
            lines = section.text.splitlines()
            for start, block in _example_blocks(lines):
                base = section.info.line + start
                stats.blocks += 1
                found = validator._transcript("\n".join(block), None, stats)
                stats.faulty += bool(found)
                for p in found:
                    line = base + (p.line or 1)
                    problems.append(dataclasses.replace(p, line=line, source=section.info.fname))
    return problems


def _example_blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(index of the directive, the block's lines) for each qmp-example."""
    i = 0
    while i < len(lines):
        m = _EXAMPLE.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        start = i
        i += 1
        block = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            block.append(lines[i])
            i += 1
        yield start, block


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


# -- grouping -------------------------------------------------------------

_INDEX_STEP = re.compile(r"(?<=/)\d+(?=/|$)")
_INDEX_NAME = re.compile(r"\[\d+\]")


@dataclasses.dataclass(frozen=True)
class Group:
    """Faults that differ only in list indexes: the first, and how many.

    ``pattern`` is the first's pointer and message with every list index
    written ``*``; ``lines`` are the lines the faults are on, in order.
    """

    first: Problem
    count: int
    lines: tuple[int, ...]

    @property
    def pattern(self) -> Problem:
        p = self.first
        return dataclasses.replace(
            p,
            pointer=_INDEX_STEP.sub("*", p.pointer),
            message=_INDEX_NAME.sub("[*]", p.message),
        )

    def __str__(self) -> str:
        if self.count == 1:
            return str(self.first)
        where = ""
        if len(set(self.lines)) > 1:
            where = f", lines {self.lines[0]} to {self.lines[-1]}"
        return f"{self.pattern} ({self.count} times{where})"


def group(problems: Iterable[Problem]) -> list[Group]:
    """``problems`` folded by source, pointer and message, list indexes aside,
    in the order of each group's first fault."""
    groups: dict[tuple[str | None, str, str], list[Problem]] = {}
    for p in problems:
        key = (p.source, _INDEX_STEP.sub("*", p.pointer), _INDEX_NAME.sub("[*]", p.message))
        groups.setdefault(key, []).append(p)
    return [
        Group(found[0], len(found), tuple(p.line for p in found if p.line is not None))
        for found in groups.values()
    ]
