"""The ``qapigen`` command.

``qapigen`` alone runs the project's main job on the project's own schema;
the subcommands work on any schema.  Every error in a schema is printed as
QEMU prints it, on standard error, with exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import QAPIError

if TYPE_CHECKING:
    from .schema import Schema

DEFAULT_SCHEMA = os.path.join("schemas", "qapi-schema.json")


def _add_schema_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("schema", help="the schema's main file")
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="accept constructs of QEMU 5.0 to 9.2 that 10.0 rejects",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qapigen",
        description="QEMU's QAPI schema language: check, dump and generate. "
        f"Without a command, checks {DEFAULT_SCHEMA} and summarizes it.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser("check", help="check a schema (exit 1 on error)")
    _add_schema_args(check)
    check.add_argument("--summary", action="store_true", help="print what the schema defines")
    dump = commands.add_parser("dump", help="print the checked model as QEMU's test suite does")
    _add_schema_args(dump)
    return parser


def _load(path: str, legacy: bool) -> Schema:
    from .schema import load_schema

    return load_schema(path, legacy=legacy)


def summary(schema: Schema) -> str:
    """A short account of what a schema defines."""
    from .schema import AlternateType, Command, EnumType, Event, ObjectType

    counts: Counter[str] = Counter()
    for defn in schema.definitions():
        if defn.is_implicit():
            continue
        if isinstance(defn, ObjectType):
            counts[defn.meta + "s"] += 1
        elif isinstance(defn, EnumType):
            counts["enums"] += 1
        elif isinstance(defn, AlternateType):
            counts["alternates"] += 1
        elif isinstance(defn, Command):
            counts["commands"] += 1
        elif isinstance(defn, Event):
            counts["events"] += 1
    order = ("enums", "structs", "unions", "alternates", "commands", "events")
    lines = [f"{schema.fname}: OK, " + ", ".join(f"{counts[k]} {k}" for k in order)]
    modules = [m.name for m in schema.modules if not m.is_builtin()]
    lines.append(f"modules: {', '.join(modules)}")
    lines.append("commands: " + ", ".join(sorted(c.name for c in schema.commands())))
    lines.append("events: " + ", ".join(sorted(e.name for e in schema.events())))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command is None:
            print(summary(_load(DEFAULT_SCHEMA, False)))
        elif args.command == "check":
            schema = _load(args.schema, args.legacy)
            if args.summary:
                print(summary(schema))
        elif args.command == "dump":
            from .dump import dump

            sys.stdout.write(dump(_load(args.schema, args.legacy)))
    except QAPIError as err:
        sys.stdout.flush()
        print(err, file=sys.stderr)
        return 1
    return 0
