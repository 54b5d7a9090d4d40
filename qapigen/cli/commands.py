"""The ``qapigen`` command.

``qapigen`` alone runs the project's main job on the project's own schema;
the subcommands work on any schema.  Every error in a schema is printed as
QEMU prints it, on standard error, with exit status 1 (2 for ``diff``,
whose 1 means that the schemas differ).
"""

from __future__ import annotations

import gc
import os
import sys

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ..backends.python.generate import Origin
    from ..frontend.errors import QAPIError
    from ..frontend.model import Schema
    from .qemu_binary import QemuIntrospection


def _add_schema_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("schema", help="the schema's main file")
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="accept constructs of QEMU 5.0 to 9.2 that 10.0 rejects",
    )


def _add_build_args(parser: argparse.ArgumentParser, default: str) -> None:
    """--define and --superset: which build of the schema (``default`` says
    what holds without either)."""
    parser.add_argument(
        "--define",
        metavar="SYMBOL",
        action="append",
        default=[],
        help="a condition symbol that holds (repeatable); conditions on others are false "
        f"(default: {default})",
    )
    parser.add_argument(
        "--superset",
        action="store_true",
        help="every build at once: keep every conditional part, conditional members optional",
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
        help="run a simulated machine behind QMP sockets, with QEMU's options (see docs/guide.md)",
    )
    check = commands.add_parser("check", help="check a schema (exit 1 on error)")
    _add_schema_args(check)
    check.add_argument("--summary", action="store_true", help="print what the schema defines")
    dump = commands.add_parser("dump", help="print the checked model as QEMU's test suite does")
    _add_schema_args(dump)
    diff = commands.add_parser(
        "diff",
        help="what changed on the wire between two schemas, breaking or compatible, and "
        "in the bindings' terms (exit 0: no change, 1: changes, 2: error)",
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
    _add_build_args(jsonschema, "none")
    gen = commands.add_parser(
        "generate",
        help="generate typed Python bindings (no arguments: the project's own, in generated/)",
        usage="%(prog)s [SCHEMA | --from-introspection FILE | --from-qemu BINARY [-- OPTIONS]]"
        " [-o DIR] [--package NAME] [--define SYMBOL ... | --superset] [options]",
    )
    gen.add_argument("schema", nargs="?", help="the schema's main file")
    source = gen.add_mutually_exclusive_group()
    source.add_argument(
        "--from-qemu",
        metavar="BINARY",
        help="the schema of a QEMU binary: started with -machine none (or the QEMU options "
        "after --), asked query-qmp-schema, told to quit",
    )
    source.add_argument(
        "--from-introspection",
        metavar="FILE",
        help="the schema a saved query-qmp-schema reply describes",
    )
    gen.add_argument("-o", "--output", metavar="DIR", help="where the package goes")
    gen.add_argument("--package", metavar="NAME", help="the package's name")
    _add_build_args(gen, "those of [tool.qapigen] define, else none")
    gen.add_argument("--legacy", action="store_true", help="as for check")
    gen.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing stale files"
    )
    gen.add_argument(
        "--quiet", action="store_true", help="do not report what the conditions leave out"
    )
    intro = commands.add_parser(
        "introspect", help="print the query-qmp-schema reply for a schema, as QEMU builds it"
    )
    _add_schema_args(intro)
    _add_build_args(intro, "none")
    intro.add_argument("--unmask", action="store_true", help="show type names, not numbers")
    defines = commands.add_parser(
        "defines",
        help="the condition symbols a schema uses; with --match, the --define set of a "
        "binary's build (exit 1 when no set reproduces its introspection)",
    )
    _add_schema_args(defines)
    defines.add_argument(
        "--match",
        metavar="FILE",
        help="a saved query-qmp-schema reply: print the --define options with which "
        "'qapigen introspect' reproduces it",
    )
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
    _add_build_args(val, "--superset: accept what some build accepts")
    profile = commands.add_parser(
        "profile", help="impersonation profiles: a real QEMU binary's QMP facts"
    )
    verbs = profile.add_subparsers(dest="verb", metavar="VERB", required=True)
    record = verbs.add_parser(
        "record", help="run a QEMU binary as libvirt does and record what it answers"
    )
    record.add_argument("binary", help="the emulator, e.g. /usr/bin/qemu-system-x86_64")
    record.add_argument("-o", "--output", required=True, metavar="FILE", help="the profile")
    record.add_argument(
        "--schema",
        metavar="FILE",
        help="the QAPI schema (qapi/qapi-schema.json) of the binary's QEMU: add the facts "
        "its introspection masks (real type names, integer widths)",
    )
    facts = verbs.add_parser(
        "schema-facts",
        help="add to a profile the facts its introspection masks, from the QAPI schema "
        "of its QEMU (real type names, integer widths)",
    )
    facts.add_argument("file", help="the profile")
    facts.add_argument("schema", help="the QAPI schema's main file (qapi/qapi-schema.json)")
    facts.add_argument(
        "-o", "--output", metavar="FILE", help="where to write the profile (default: FILE)"
    )
    for verb in (record, facts):
        verb.add_argument(
            "--legacy", action="store_true", help="the schema is QEMU 5.0 to 9.2's (as for check)"
        )
    show = verbs.add_parser("show", help="list what a profile holds")
    show.add_argument("file", nargs="?", help="the profile (default: the shipped one)")
    return parser


class _Refused(Exception):
    """The command line asks for what cannot be: the message, exit status 2."""


def _build(args: argparse.Namespace, *, superset_default: bool = False) -> bool:
    """Whether the command works on the superset of the schema's builds."""
    if args.superset and args.define:
        raise _Refused("--define picks one build and --superset takes them all: give one")
    return bool(args.superset or (superset_default and not args.define))


def _check_defines(schema: Schema, defines: Sequence[str], given_by: str = "--define") -> None:
    """Refuse symbols that no condition of ``schema`` uses (a misspelling
    would otherwise just leave out what it meant to keep)."""
    from ..frontend.builds import symbols, unknown_symbols

    unknown = unknown_symbols(schema, defines)
    if unknown:
        used = symbols(schema)
        them = f"they are: {', '.join(used)}" if used else "it uses none"
        raise _Refused(
            f"{given_by} {', '.join(unknown)}: the schema's conditions never use "
            f"{'it' if len(unknown) == 1 else 'them'}; {them}"
        )


def _validate(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from ..backends.validate import ExampleStats, Problem, Validator, check_examples, group

    superset = _build(args, superset_default=True)
    schema = _load(args.schema, args.legacy, superset=superset)
    _check_defines(schema, args.define)
    validator = Validator(schema, None if superset else args.define)
    problems: list[Problem] = []
    stats = ExampleStats()
    if args.examples:
        problems = check_examples(validator, stats)
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
    for fault in group(problems):
        print(fault)
    if args.examples:
        print(stats.summary(len(problems)))
    return 1 if problems else 0


def _generate(
    args: argparse.Namespace, parser: argparse.ArgumentParser, qemu_options: list[str] | None
) -> int:
    if qemu_options is not None and not args.from_qemu:
        parser.error("the QEMU options after -- are for --from-qemu")
    introspected = bool(args.from_qemu or args.from_introspection)
    live: QemuIntrospection | None = None
    if introspected:
        if args.schema:
            parser.error("give a SCHEMA, or --from-qemu or --from-introspection: not both")
        for option, given in (
            ("--define", args.define),
            ("--superset", args.superset),
            ("--legacy", args.legacy),
        ):
            if given:
                parser.error(f"{option} is for schema files: an introspection is one build")
        if not args.output or not args.package:
            parser.error("--from-qemu and --from-introspection need -o DIR and --package NAME")
        if args.from_qemu:
            from .qemu_binary import BinaryError, QemuIntrospection

            # Started now, it comes up while the generator is imported.
            try:
                live = QemuIntrospection(args.from_qemu, qemu_options)
            except BinaryError as err:
                raise _Refused(str(err)) from None
    try:
        return _generate_package(args, live)
    finally:
        if live is not None:
            live.close()


def _generate_package(args: argparse.Namespace, live: QemuIntrospection | None) -> int:
    from .project import (
        DEFINE_SETTING,
        INSTALL_GENERATOR,
        missing_generator_dependencies,
        project_defaults,
        project_defines,
    )

    missing = missing_generator_dependencies()
    if missing:
        print(
            f"qapigen generate: {', '.join(missing)} not installed; the generator comes with "
            f"its dependencies through: {INSTALL_GENERATOR}",
            file=sys.stderr,
        )
        return 1
    from ..backends.python.generate import generate

    origin: Origin | None = None
    defines: list[str] = []
    if args.from_qemu or args.from_introspection:
        schema, origin = _introspected(args, live)
        output, package = args.output, args.package
    else:
        defaults = project_defaults()
        superset = _build(args)
        given_by = "--define"
        defines = args.define
        if not defines and not superset:
            try:
                defines = project_defines()
            except ValueError as err:
                raise _Refused(str(err)) from None
            given_by = f"{DEFINE_SETTING} names"
        schema = _load(args.schema or defaults["schema"], args.legacy, superset=superset)
        _check_defines(schema, defines, given_by)
        if not args.quiet:
            _report_left_out(schema, defines)
        output = args.output or defaults["output"]
        package = defaults["package"] if args.package is None else args.package
    result = generate(schema, output, package, defines, check=args.check, origin=origin)
    if args.check:
        for rel in result.changed:
            print(f"stale: {os.path.join(result.package_dir, rel)}")
        return 1 if result.changed else 0
    print(
        f"{result.package_dir}: {len(result.changed)} files written, {result.unchanged} unchanged"
    )
    return 0


def _introspected(
    args: argparse.Namespace, live: QemuIntrospection | None
) -> tuple[Schema, Origin]:
    """The schema of ``--from-qemu`` or ``--from-introspection``, and what it came from."""
    import hashlib
    import json

    from ..backends.python.generate import Origin
    from ..frontend.errors import QAPIError
    from ..frontend.introspection import load_introspection, read_reply

    if args.from_introspection:
        source = args.from_introspection
        try:
            with open(source, encoding="utf-8") as fp:
                reply = read_reply(fp.read(), source)
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) else "not UTF-8"
            raise QAPIError(f"can't read introspection file '{source}': {why}") from None
    else:
        from .qemu_binary import BinaryError

        assert live is not None
        source = args.from_qemu
        try:
            reply = live.reply()
        except BinaryError as err:
            raise _Refused(str(err)) from None
    # The same build gives the same digest, read live or from a file.
    canonical = json.dumps(reply, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return load_introspection(reply, source), Origin(os.path.basename(source), digest)


def _report_left_out(schema: Schema, defines: Sequence[str]) -> None:
    """Say what the conditions leave out of the bindings, on stderr."""
    import textwrap

    from ..frontend.builds import left_out

    gone = left_out(schema, defines)
    if not gone.parts:
        return
    held = "with these --define symbols" if defines else "with no --define symbols"
    lines = [
        f"qapigen generate: {held}, the conditions leave out {gone.summary()} "
        "(--define what holds, --superset keeps all, --quiet says nothing):"
    ]
    for kind, names in gone.parts.items():
        text = f"{kind}s: {', '.join(names)}" if kind != "branch" else "branches: "
        if kind == "branch":
            text += ", ".join(names)
        lines += textwrap.wrap(
            text, 100, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False
        )
    print("\n".join(lines), file=sys.stderr)


def _defines(args: argparse.Namespace) -> int:
    """``qapigen defines``: the symbols, or (``--match``) the set of a build."""
    from ..frontend.builds import symbols

    schema = _load(args.schema, args.legacy)
    if args.match is None:
        for symbol in symbols(schema):
            print(symbol)
        return 0
    from ..backends.defines import match_build
    from ..frontend.errors import QAPIError
    from ..frontend.introspection import read_reply

    try:
        with open(args.match, encoding="utf-8") as fp:
            reply = read_reply(fp.read(), args.match)
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8"
        raise QAPIError(f"can't read introspection file '{args.match}': {why}") from None
    found = match_build(schema, reply)
    print(found.command_line())
    sys.stdout.flush()
    if found.unknown:
        print(
            "undefined, as nothing in the reply depends on them: " + ", ".join(found.unknown),
            file=sys.stderr,
        )
    if not found.exact:
        print("no set of symbols reproduces the reply; these differ:", file=sys.stderr)
        for problem in found.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


LEGACY_HINT = "hint: --legacy reads schemas written for QEMU 5.0 to 9.2, and reads this one"


def _load(path: str, legacy: bool, *, superset: bool = False) -> Schema:
    """The checked schema; its error carries :data:`LEGACY_HINT` as a note where
    only a rule of QEMU 10.0 that ``--legacy`` relaxes rejects it."""
    from ..frontend.builder import load_schema
    from ..frontend.errors import QAPIError

    try:
        return load_schema(path, legacy=legacy, superset=superset)
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
    """Run the command line (``argv``, by default the process's own); returns
    the exit status."""
    own = argv is None
    if argv is None:
        argv = sys.argv[1:]
    try:
        status = _main(argv)
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        # The reader of our output left (``qapigen defines ... | head``): stop
        # quietly with the status a shell gives a program killed by SIGPIPE.
        return 128 + 13
    if own and (not argv or argv[0] != "vm"):
        # The process ends now.  What the command made (a schema's model is a
        # large graph with cycles) is left to the system: the cyclic garbage
        # collector would otherwise traverse it all once more at exit (some 4%
        # of ``qapigen check``'s time).
        gc.freeze()
    return status


def _stdout_gone() -> bool:
    """Whether standard output's reader has closed it; if so, stdout is pointed
    at /dev/null so that the interpreter's last flush cannot fail too."""
    import select

    # A pipe whose reader has gone polls as an error for its writer.
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    if not any(events & select.POLLERR for _, events in poller.poll(0)):
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return True


def _main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "vm":
        # Until its sockets are set up, the program makes little but what lives
        # as long as it does (modules, classes, its configuration): the cyclic
        # garbage collector, which would traverse it all a score of times before
        # the greeting, waits (qapigen.vm.fleet.Fleet.serve turns it back on).
        gc.disable()
        # QEMU's option syntax, which argparse cannot take.
        from ..vm.program import main as vm_main

        return vm_main(argv[1:])
    # Here, not at the top: `qapigen vm` starts without the front end.
    from ..frontend.errors import QAPIError

    parser = _parser()
    # QEMU's options for --from-qemu follow "--", for the binary alone.
    qemu_options = None
    if argv and argv[0] == "generate" and "--" in argv:
        at = list(argv).index("--")
        argv, qemu_options = argv[:at], list(argv[at + 1 :])
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
            return _generate(args, parser, qemu_options)
        elif args.command == "validate":
            return _validate(args)
        elif args.command == "defines":
            return _defines(args)
        elif args.command == "introspect":
            import json

            from ..backends.introspect import introspect

            schema = _load(args.schema, args.legacy, superset=_build(args))
            _check_defines(schema, args.define)
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

            schema = _load(args.schema, args.legacy, superset=_build(args))
            _check_defines(schema, args.define)
            write_bundle(schema, args.output, args.define)
    except QAPIError as err:
        _print_error(err)
        return 1
    except _Refused as err:
        sys.stdout.flush()
        print(f"qapigen {args.command}: {err}", file=sys.stderr)
        return 2
    return 0


def _print_error(err: QAPIError) -> None:
    """QEMU's diagnostic, unchanged, then any hint of ours on a line of its own."""
    sys.stdout.flush()
    print(err, file=sys.stderr)
    for note in getattr(err, "__notes__", ()):
        print(note, file=sys.stderr)
