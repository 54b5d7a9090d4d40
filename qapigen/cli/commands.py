"""The ``qapigen`` command.

``qapigen`` alone runs the project's main job on the project's own schema;
the subcommands work on any schema.  Every error in a schema is printed as
QEMU prints it, on standard error, with exit status 1 (2 for ``diff``,
whose 1 means that the schemas differ).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..frontend.errors import QAPIError

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..frontend.model import Schema


def _add_schema_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("schema", help="the schema's main file")
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="accept constructs of QEMU 5.0 to 9.2 that 10.0 rejects",
    )


def _parser() -> argparse.ArgumentParser:
    import argparse  # here: `qapigen vm` starts without it

    parser = argparse.ArgumentParser(
        prog="qapigen",
        description="QEMU's QAPI schema language: check, generate, validate; QMP, and a "
        "simulated machine. Without a command: regenerate generated/, start a simulated "
        "machine, make its guest panic, and show it through the typed client.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "vm",
        help="run a simulated machine behind QMP sockets, with QEMU's options (see qapigen.vm)",
    )
    check = commands.add_parser("check", help="check a schema (exit 1 on error)")
    _add_schema_args(check)
    check.add_argument("--summary", action="store_true", help="print what the schema defines")
    dump = commands.add_parser("dump", help="print the checked model as QEMU's test suite does")
    _add_schema_args(dump)
    diff = commands.add_parser(
        "diff",
        help="what changed on the wire between two schemas, breaking or compatible "
        "(exit 0: no change, 1: changes, 2: error)",
    )
    diff.add_argument("old", help="the old schema's main file")
    diff.add_argument("new", help="the new schema's main file")
    diff.add_argument("--json", action="store_true", help="report as JSON")
    diff.add_argument(
        "--legacy",
        action="store_true",
        help="read both schemas accepting constructs of QEMU 5.0 to 9.2",
    )
    diff.add_argument("--legacy-old", action="store_true", help="read only the old schema that way")
    jsonschema = commands.add_parser(
        "jsonschema", help="write JSON Schemas (draft 2020-12) for a schema's QMP messages"
    )
    _add_schema_args(jsonschema)
    jsonschema.add_argument("-o", "--output", required=True, metavar="DIR", help="where to write")
    jsonschema.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="SYM",
        help="a symbol that holds in 'if' conditions (repeatable; others do not)",
    )
    gen = commands.add_parser(
        "generate",
        help="generate typed Python bindings (no arguments: the project's own, in generated/)",
    )
    gen.add_argument("schema", nargs="?", help="the schema's main file")
    gen.add_argument("-o", "--output", metavar="DIR", help="where the package goes")
    gen.add_argument("--package", metavar="NAME", help="the package's name")
    gen.add_argument(
        "--define",
        metavar="SYMBOL",
        action="append",
        default=[],
        help="a condition symbol that holds (repeatable); conditions on others are false",
    )
    gen.add_argument("--legacy", action="store_true", help="as for check")
    gen.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing stale files"
    )
    intro = commands.add_parser(
        "introspect", help="print the query-qmp-schema reply for a schema, as QEMU builds it"
    )
    _add_schema_args(intro)
    intro.add_argument(
        "--define", metavar="SYMBOL", action="append", default=[], help="as for generate"
    )
    intro.add_argument("--unmask", action="store_true", help="show type names, not numbers")
    val = commands.add_parser(
        "validate",
        help="check JSON documents or QMP transcripts against a schema (exit 1 on faults)",
    )
    val.add_argument("schema", help="the schema's main file")
    what = val.add_mutually_exclusive_group(required=True)
    what.add_argument("--type", metavar="T", help="each FILE is a value of type T")
    what.add_argument(
        "--command", metavar="C", dest="command_name", help="each FILE is the arguments of C"
    )
    what.add_argument("--event", metavar="E", help="each FILE is the data of event E")
    what.add_argument(
        "--qmp", action="store_true", help="each FILE is a QMP transcript (-> and <- lines)"
    )
    what.add_argument(
        "--examples",
        action="store_true",
        help="check the qmp-example blocks of the schema's own doc comments",
    )
    val.add_argument("files", nargs="*", metavar="FILE")
    val.add_argument("--legacy", action="store_true", help="as for check")
    profile = commands.add_parser(
        "profile", help="impersonation profiles: a real QEMU binary's QMP facts"
    )
    verbs = profile.add_subparsers(dest="verb", metavar="VERB", required=True)
    record = verbs.add_parser(
        "record", help="run a QEMU binary as libvirt does and record what it answers"
    )
    record.add_argument("binary", help="the emulator, e.g. /usr/bin/qemu-system-x86_64")
    record.add_argument("-o", "--output", required=True, metavar="FILE", help="the profile")
    show = verbs.add_parser("show", help="list what a profile holds")
    show.add_argument("file", nargs="?", help="the profile (default: the shipped one)")
    return parser


def _validate(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from ..backends.validate import Problem, Validator, check_examples

    schema = _load(args.schema, args.legacy)
    validator = Validator(schema)
    problems: list[Problem] = []
    if args.examples:
        problems = check_examples(validator)
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as fp:
                text = fp.read()
        except OSError as err:
            print(f"{path}: {err.strerror}", file=sys.stderr)
            return 2
        if args.qmp:
            problems += validator.check_transcript(text, path)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            problems.append(Problem("", f"not JSON: {err.msg}", err.lineno, path))
            continue
        if args.type:
            found = validator.check_type(args.type, value)
        elif args.command_name:
            found = validator.check_arguments(args.command_name, value)
        else:
            found = validator.check_event(args.event, value)
        problems += [dataclasses.replace(p, source=path) for p in found]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _generate(args: argparse.Namespace) -> int:
    from .project import INSTALL_GENERATOR, missing_generator_dependencies, project_defaults

    missing = missing_generator_dependencies()
    if missing:
        print(
            f"qapigen generate: {', '.join(missing)} not installed; the generator comes with "
            f"its dependencies through: {INSTALL_GENERATOR}",
            file=sys.stderr,
        )
        return 1
    from ..backends.python.generate import generate

    defaults = project_defaults()
    schema_path = args.schema or defaults["schema"]
    output = args.output or defaults["output"]
    package = args.package or defaults["package"]
    result = generate(
        _load(schema_path, args.legacy), output, package, args.define, check=args.check
    )
    if args.check:
        for rel in result.changed:
            print(f"stale: {os.path.join(result.package_dir, rel)}")
        return 1 if result.changed else 0
    print(
        f"{result.package_dir}: {len(result.changed)} files written, {result.unchanged} unchanged"
    )
    return 0


LEGACY_HINT = "hint: --legacy reads schemas written for QEMU 5.0 to 9.2, and reads this one"


def _load(path: str, legacy: bool) -> Schema:
    """The checked schema; its error carries :data:`LEGACY_HINT` as a note where
    only a rule of QEMU 10.0 that ``--legacy`` relaxes rejects it."""
    from ..frontend.builder import load_schema

    try:
        return load_schema(path, legacy=legacy)
    except QAPIError as err:
        if not legacy:
            try:
                load_schema(path, legacy=True)
            except QAPIError:
                pass
            else:
                err.add_note(LEGACY_HINT)
        raise


def summary(schema: Schema) -> str:
    """A short account of what a schema defines."""
    from collections import Counter

    from ..frontend.model import AlternateType, Command, EnumType, Event, ObjectType

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
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "vm":
        # QEMU's option syntax, which argparse cannot take.
        from ..vm.program import main as vm_main

        return vm_main(argv[1:])
    parser = _parser()
    # Files may follow validate's options (argparse stops a positional list at
    # the first option): take what is left over as files.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command != "validate" or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.files += extra
    try:
        if args.command is None:
            from .demo import main as demo

            return demo()
        elif args.command == "check":
            schema = _load(args.schema, args.legacy)
            if args.summary:
                print(summary(schema))
        elif args.command == "dump":
            from ..backends.dump import dump

            sys.stdout.write(dump(_load(args.schema, args.legacy)))
        elif args.command == "generate":
            return _generate(args)
        elif args.command == "validate":
            return _validate(args)
        elif args.command == "introspect":
            import json

            from ..backends.introspect import introspect

            schema = _load(args.schema, args.legacy)
            print(json.dumps(introspect(schema, args.define, unmask=args.unmask)))
        elif args.command == "diff":
            from ..backends.diff import report

            try:
                old = _load(args.old, args.legacy or args.legacy_old)
                new = _load(args.new, args.legacy)
            except QAPIError as err:
                _print_error(err)
                return 2  # 1 means that the schemas differ
            return report(old, new, as_json=args.json)
        elif args.command == "profile":
            from .profiles import main as profile_main

            return profile_main(args)
        elif args.command == "jsonschema":
            from ..backends.jsonschema_export import write_bundle

            write_bundle(_load(args.schema, args.legacy), args.output, args.define)
    except QAPIError as err:
        _print_error(err)
        return 1
    return 0


def _print_error(err: QAPIError) -> None:
    """QEMU's diagnostic, unchanged, then any hint of ours on a line of its own."""
    sys.stdout.flush()
    print(err, file=sys.stderr)
    for note in getattr(err, "__notes__", ()):
        print(note, file=sys.stderr)
