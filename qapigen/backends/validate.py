"""Checks JSON documents and QMP transcripts against a schema.

Acceptance is that of QEMU's strict QMP input: integer ranges (with QEMU's
wrap-around of negative ``uint64``/``size``), enum values, alternates by JSON
type, unions by discriminator, no unknown members.  Unlike QEMU, which stops
at the first fault, every fault is reported, each with a JSON pointer
(RFC 6901) and QEMU's wording for it.

Conditions (``if``) are not resolved: a value is accepted when some build of
the schema would accept it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

from ..frontend.model import (
    AlternateType,
    ArrayType,
    BuiltinType,
    Command,
    EnumType,
    Event,
    ObjectType,
    Schema,
    Type,
)
from ..frontend.wire_types import PYTHON_QTYPE
from ..runtime import codec
from ..runtime.errors import WireError


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

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    # -- entry points ---------------------------------------------------

    def check_type(self, name: str, value: object) -> list[Problem]:
        """Faults of ``value`` as a value of the type ``name``."""
        typ = self.schema.lookup_type(name)
        if typ is None:
            return [Problem("", f"the schema has no type '{name}'")]
        return list(self._check(typ, value, (), (), None))

    def check_arguments(self, command: str, arguments: object) -> list[Problem]:
        """Faults of ``arguments`` as the arguments of ``command``."""
        cmd = self.schema.lookup(command)
        if not isinstance(cmd, Command):
            return [Problem("", f"The command {command} has not been found")]
        if cmd.arg_type is None or not cmd.gen:
            if cmd.gen and isinstance(arguments, dict) and arguments:
                first = next(iter(arguments))
                return [Problem(_pointer((first,)), f"Parameter '{first}' is unexpected")]
            return []
        return list(self._check(cmd.arg_type, arguments, (), (), None))

    def check_return(self, command: str, value: object) -> list[Problem]:
        """Faults of ``value`` as what ``command`` returns."""
        cmd = self.schema.lookup(command)
        if not isinstance(cmd, Command):
            return [Problem("", f"The command {command} has not been found")]
        if cmd.ret_type is None:
            if value != {}:
                return [Problem("", "the command returns no value: expected {}")]
            return []
        return list(self._check(cmd.ret_type, value, (), (), None))

    def check_event(self, event: str, data: object) -> list[Problem]:
        """Faults of ``data`` as the data of ``event`` (None: the event has no data)."""
        evt = self.schema.lookup(event)
        if not isinstance(evt, Event):
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
            elif value not in typ.member_names():
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
                if v.type.alternate_qtype() == qtype:
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
        members = list(typ.members)
        branch = typ
        while branch.branches is not None:
            tag = value.get(branch.branches.tag_member.name)
            chosen = next((v for v in branch.branches.variants if v.name == tag), None)
            if chosen is None:
                break  # the tag member's own check reports it
            assert isinstance(chosen.type, ObjectType)
            branch = chosen.type
            members += [m for m in branch.members if m not in members]
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
        problems: list[Problem] = []
        pending: list[tuple[object, str]] = []
        for line, direction, message, error in _messages(text):

            def add(found: list[Problem], base: tuple[str | int, ...] = (), at: int = line) -> None:
                for p in found:
                    problems.append(Problem(_pointer(base) + p.pointer, p.message, at, source))

            if error is not None:
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
                if command is not None:
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


def _messages(text: str) -> Iterator[tuple[int, str, object, str | None]]:
    """(line, direction, message, error) for each message of a transcript."""
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
                    yield start, direction, None, f"not JSON: {err.msg}"
                    break
                buf += "\n" + lines[i]
                i += 1


_EXAMPLE = re.compile(r"^(\s*)\.\. qmp-example::")


def check_examples(validator: Validator) -> list[Problem]:
    """Faults of the ``qmp-example`` blocks in the schema's doc comments.

    Each block is checked as a transcript; a problem names the doc comment's
    file and the line of the message in it.
    """
    problems = []
    for doc in validator.schema.docs:
        for section in doc.all_sections:
            lines = section.text.splitlines()
            for start, block in _example_blocks(lines):
                base = section.info.line + start
                for p in validator.check_transcript("\n".join(block)):
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
