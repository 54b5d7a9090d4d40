"""``qapigen profile record``, ``qapigen profile schema-facts`` and ``qapigen profile show``."""

from __future__ import annotations

import json
import sys

from ..profiles import profile, recorder

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

# Runs of one command longer than this are shown as one line.
_RUN = 4


def main(args: argparse.Namespace) -> int:
    """Run the verb; returns the exit status (1 with a message on stderr on failure)."""
    if args.verb == "record":
        return _record(args.binary, args.output, args.schema, args.legacy)
    if args.verb == "schema-facts":
        return _schema_facts(args.file, args.schema, args.output or args.file, args.legacy)
    return _show(args.file or profile.SHIPPED)


def _record(binary: str, output: str, schema: str | None, legacy: bool) -> int:
    def progress(text: str) -> None:
        print(f"qapigen profile record: {text}", file=sys.stderr)

    def document() -> dict[str, object]:
        # The schema is read first: a bad one should not cost a recording.
        facts = _facts_maker(schema, legacy) if schema else None
        made = recorder.record(binary, progress)
        if facts is not None:
            made[profile.SCHEMA_FACTS] = facts(profile.Profile(made, output))
        return made

    return _write("record", document, output)


def _write(verb: str, document: Callable[[], dict[str, object]], output: str) -> int:
    """Write the profile ``document()`` makes to ``output``; the exit status."""
    try:
        size = recorder.write(document(), output)
    except (recorder.RecordError, _FactsError, profile.ProfileError) as err:
        print(f"qapigen profile {verb}: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"qapigen profile {verb}: {output}: {err.strerror}", file=sys.stderr)
        return 1
    print(f"{output}: {size} bytes")
    return 0


class _FactsError(Exception):
    """The schema could not be read, or does not describe the profile's introspection."""


def _facts_maker(path: str, legacy: bool) -> Callable[[profile.Profile], dict[str, object]]:
    """Read the QAPI schema at ``path``; returns what makes a profile's section from it."""
    from ..backends.schema_facts import SchemaFactsError, schema_facts
    from ..frontend.errors import QAPIError
    from ..frontend.schema import load_schema

    try:
        schema = load_schema(path, legacy=legacy)
    except QAPIError as err:
        raise _FactsError(str(err)) from None

    def make(loaded: profile.Profile) -> dict[str, object]:
        try:
            facts = schema_facts(schema, loaded.introspection())
        except (SchemaFactsError, profile.ProfileError) as err:
            raise _FactsError(f"{path} does not describe {loaded.source}: {err}") from None
        lacking = facts.section["schema-only"]
        how = "exactly" if facts.exact else f"but for members the schema has: {lacking}"
        print(f"{path}: its build reproduces the introspection {how}", file=sys.stderr)
        return facts.section

    return make


def _schema_facts(path: str, schema: str, output: str, legacy: bool) -> int:
    def document() -> dict[str, object]:
        section = _facts_maker(schema, legacy)(profile.load(path))
        return recorder.with_section(path, profile.SCHEMA_FACTS, section)

    return _write("schema-facts", document, output)


def _show(path: str) -> int:
    try:
        loaded = profile.load(path)
    except profile.ProfileError as err:
        print(f"qapigen profile show: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(describe(loaded))
    return 0


def _describe_facts(facts: dict[str, object] | None) -> str:
    if facts is None:
        return "schema facts: none (integer widths and type names as introspection shows them)"
    names, integers = facts.get("names"), facts.get("integers")
    counts = [len(v) if isinstance(v, dict) else 0 for v in (names, integers)]
    return f"schema facts: {counts[0]} type names, the integer members of {counts[1]} types"


def describe(loaded: profile.Profile) -> str:
    """What a profile holds, for people: the binary, the host, each session's exchanges."""
    host = loaded.host
    lines = [
        f"{loaded.source}: QEMU {loaded.version_text} ({loaded.package}), target {loaded.target}",
        f"recorded on: {host.get('machine')}, KVM {'in use' if host.get('kvm') else 'not in use'}"
        f", CPU {host.get('cpu')!r}",
        "help: " + ", ".join(o for o in recorder.HELP_OPTIONS if loaded.help(o) is not None),
        _describe_facts(loaded.schema_facts()),
    ]
    for session in loaded.sessions.values():
        lines.append(
            f"session {session.name} (accel {session.accel}): {len(session.exchanges)} exchanges"
        )
        lines.append("  " + " ".join(session.argv))
        i = 0
        exchanges = session.exchanges
        while i < len(exchanges):
            j = i
            while (
                j < len(exchanges)
                and exchanges[j].execute == exchanges[i].execute
                and exchanges[j].marks == exchanges[i].marks
                and exchanges[j].reply.ok
            ):
                j += 1
            if j - i > _RUN:
                lines.append(f"  {exchanges[i].execute} x{j - i}")
                i = j
                continue
            exchange = exchanges[i]
            text = exchange.execute
            if exchange.arguments:
                text += " " + json.dumps(exchange.arguments, separators=(",", ":"))
            error = exchange.reply.error
            if error is not None:
                text += f" -> {error[0]}: {error[1]}"
            if exchange.marks:
                text += f"  [{', '.join(sorted(exchange.marks))}]"
            lines.append("  " + text)
            i += 1
    return "\n".join(lines) + "\n"
