"""qapigen and QEMU's own front end print the same for the same schema.

Both read the same schema in the same folder (bare file names, as QEMU's
suite runs): qapigen through ``qapigen dump``, QEMU through the dump of its
test harness (``tests/qapi-schema/test-qapi.py``, imported from the
reference tree at test time).  Standard output and standard error must be
equal.  The schemas are the suite's cases mutated by hypothesis, and random
schemas built from the language's constructs.

Two kinds of difference are not failures:

* QEMU's front end crashes (a Python traceback, not a QAPIError): then
  qapigen must report a QAPIError instead, and the example counts as
  "QEMU crashes, we don't" in hypothesis's statistics.  Known cases: bytes
  that are not UTF-8 (UnicodeDecodeError) and nesting deeper than Python's
  recursion limit allows (RecursionError).
* Which earlier branch an alternate's "can't be distinguished from" error
  names when several conflict: QEMU iterates over a set of strings there,
  so its answer depends on PYTHONHASHSEED.  The reference runs with a fixed
  seed; when only that name differs, qapigen's answer must be one QEMU
  gives under some seed.

Not compared: nesting deeper than 256 levels, which qapigen refuses with an
error while QEMU recurses on until Python's recursion limit (at a depth
that depends on the interpreter's stack).  The generators stay far below;
test_nesting_beyond_our_limit_differs pins the difference.

``QAPIGEN_DIFF_EXAMPLES`` raises the number of examples per test (150 by
default); ``QAPIGEN_FUZZ_RANDOM=1`` draws new examples instead of the same
ones on every run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from qapigen.cli.commands import LEGACY_HINT
from qapigen.cli.commands import main as qapigen_main

from ..support.schema_mutants import (
    RANDOM_EXAMPLES,
    Corpus,
    byte_mutants,
    copy_suite,
    load_corpus,
    token_mutants,
    tokenize,
)

EXAMPLES = int(os.environ.get("QAPIGEN_DIFF_EXAMPLES", "150"))

DIFF = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM_EXAMPLES,
    database=None,
    deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SCHEMA = "schema.json"

# The seed of QEMU's reference runs, and the seeds tried to find the other
# answers of its hash-order dependent message.
REFERENCE_SEED = 0
OTHER_SEEDS = range(1, 33)

# How long one reference run may take before it counts as a hang.
TIMEOUT = 60

# The reference runner, written to a temporary folder at test time.  It
# imports QEMU's front end and its test harness from the tree and serves
# requests (one JSON line each: folder and file), each in a forked child so
# that no state is shared between schemas and a fatal crash is reported.
# With a file name as second argument it runs that file once instead.
RUNNER = """\
import contextlib, importlib.util, io, json, os, sys, traceback

tree = sys.argv[1]
sys.path.insert(0, os.path.join(tree, "scripts"))
harness = os.path.join(tree, "tests", "qapi-schema", "test-qapi.py")
spec = importlib.util.spec_from_file_location("test_qapi", harness)
test_qapi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_qapi)
from qapi.error import QAPIError


def run(fname):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            test_qapi.test_frontend(fname)
    except QAPIError as err:
        return {"out": out.getvalue(), "err": str(err) + "\\n"}
    except BaseException:
        trace = traceback.format_exc().splitlines()
        return {"out": out.getvalue(), "err": "", "crash": "\\n".join(trace[-4:])}
    return {"out": out.getvalue(), "err": ""}


def serve():
    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.chdir(request["dir"])
            with os.fdopen(write_end, "w") as pipe:
                pipe.write(json.dumps(run(request["file"])))
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        if data:
            result = json.loads(data)
        else:
            result = {"out": "", "err": "", "crash": "child died: status %d" % status}
        sys.stdout.write(json.dumps(result) + "\\n")
        sys.stdout.flush()


if len(sys.argv) > 2:
    print(json.dumps(run(sys.argv[2])))
else:
    serve()
"""


@dataclass(frozen=True)
class Outcome:
    """What a front end printed; ``crash`` is the end of QEMU's traceback."""

    out: str
    err: str
    crash: str | None = None


class QemuFrontEnd:
    """QEMU's front end in a server process, run on files of ``workdir``."""

    def __init__(self, tree: Path, runner: Path, workdir: Path) -> None:
        self.tree = tree
        self.runner = runner
        self.workdir = workdir
        self.proc = subprocess.Popen(
            [sys.executable, str(runner), str(tree)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self._env(REFERENCE_SEED),
        )

    @staticmethod
    def _env(seed: int) -> dict[str, str]:
        return {**os.environ, "PYTHONHASHSEED": str(seed)}

    def run(self, fname: str) -> Outcome:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"dir": str(self.workdir), "file": fname}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        if not ready:
            # Its answer would come late and pair with the next request.
            self.proc.kill()
            raise TimeoutError(f"QEMU's front end still running on {fname} after {TIMEOUT} s")
        line = self.proc.stdout.readline()
        assert line, "the reference runner died"
        return Outcome(**json.loads(line))

    def run_seeded(self, fname: str, seed: int) -> Outcome:
        """One run in a fresh process with hash seed ``seed``."""
        proc = subprocess.run(
            [sys.executable, str(self.runner), str(self.tree), fname],
            cwd=self.workdir,
            env=self._env(seed),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        return Outcome(**json.loads(proc.stdout))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def workdir(qapi_tests_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("differential")
    copy_suite(qapi_tests_dir, work)
    return work


@pytest.fixture(scope="module")
def qemu(
    qemu_tree: Path, workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QemuFrontEnd]:
    runner = tmp_path_factory.mktemp("runner") / "qemu_dump.py"
    runner.write_text(RUNNER)
    front_end = QemuFrontEnd(qemu_tree, runner, workdir)
    yield front_end
    front_end.close()


@pytest.fixture(scope="module")
def corpus(qapi_tests_dir: Path) -> Corpus:
    return load_corpus(qapi_tests_dir)


# -- comparing --------------------------------------------------------------


def run_qapigen(workdir: Path, fname: str) -> Outcome:
    """``qapigen dump FNAME`` in ``workdir``, in process."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(workdir),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        status = qapigen_main(["dump", fname])
    assert status == (1 if err.getvalue() else 0)
    # QEMU's diagnostic, without the --legacy hint the command adds after it.
    return Outcome(out.getvalue(), err.getvalue().removesuffix(f"{LEGACY_HINT}\n"))


_INDISTINGUISHABLE = re.compile(r"(.*can't be distinguished from )'[^']*'\n\Z", re.DOTALL)


def _seed_dependent(ours: Outcome, theirs: Outcome) -> bool:
    """Whether the outcomes differ only in the name QEMU picks by hash order."""
    mine, reference = _INDISTINGUISHABLE.match(ours.err), _INDISTINGUISHABLE.match(theirs.err)
    return bool(mine and reference and mine.group(1) == reference.group(1))


def _tally(what: str) -> None:
    """Count ``what`` in hypothesis's statistics (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(what)


def assert_same(workdir: Path, qemu: QemuFrontEnd, source: str | bytes) -> None:
    """Both front ends print the same for ``source``, or QEMU crashes and we don't."""
    (workdir / SCHEMA).write_bytes(source.encode() if isinstance(source, str) else source)
    ours = run_qapigen(workdir, SCHEMA)
    theirs = qemu.run(SCHEMA)
    if theirs.crash is not None:
        exception = theirs.crash.splitlines()[-1].split(":")[0]
        _tally(f"QEMU crashes, we don't: {exception}")
        assert ours.err and not ours.out, f"QEMU crashed:\n{theirs.crash}\nqapigen: {ours}"
        return
    _tally("error" if theirs.err else "model")
    if ours != theirs and _seed_dependent(ours, theirs):
        _tally("alternate conflict named by hash order")
        answers = {qemu.run_seeded(SCHEMA, seed).err for seed in OTHER_SEEDS}
        assert ours.err in answers, f"qapigen: {ours.err}QEMU under some seed: {answers}"
        return
    assert (ours.err, ours.out) == (theirs.err, theirs.out)


# -- mutating the suite's cases ---------------------------------------------

# Keys of the language, for inserted members.
KEYS = [
    "enum", "struct", "union", "alternate", "command", "event", "include", "pragma",
    "data", "base", "discriminator", "prefix", "returns", "boxed", "gen",
    "success-response", "allow-oob", "allow-preconfig", "coroutine", "if", "features",
    "type", "name", "all", "any", "not", "doc-required", "documentation-exceptions",
    "member-name-exceptions", "command-name-exceptions", "command-returns-exceptions",
    "a", "*b", "kind", "x-c", "d_e",
]  # fmt: skip

VALUES = [
    "'str'", "'int'", "'bool'", "'any'", "'null'", "'number'", "'Enum'", "'Foo'",
    "'q_empty'", "'QType'", "true", "false", "[]", "{}", "[ 'int' ]", "[ 'a', 'b' ]",
    "{ 'type': 'int' }", "{ 'type': 'str', 'if': 'IFX' }", "{ 'name': 'one' }",
    "'CONFIG_X'", "'lower'", "{ 'not': 'IFX' }", "{ 'all': [ 'IFA', 'IFB' ] }",
    "{ 'any': [] }", "[ 'deprecated' ]", "[ 'unstable', { 'name': 'feat', 'if': 'IFX' } ]",
]  # fmt: skip

CONDITIONS = [
    "'IFX'", "'bad cond'", "{ 'not': 'IFY' }", "{ 'all': [ 'IFA', { 'not': 'IFB' } ] }",
    "{ 'any': [ 'IFA', 'IFB' ] }", "{ 'any': [] }", "{ 'all': 'IFA' }", "[ 'IFA' ]",
    "{ 'not': 'IFA', 'all': [ 'IFB' ] }", "{}",
]  # fmt: skip

FEATURE_LISTS = [
    "[ 'deprecated' ]", "[ 'unstable', 'feat-a' ]", "[ { 'name': 'feat', 'if': 'IFX' } ]",
    "[ 'Bad_Name' ]", "[ 'feat', 'feat' ]", "'deprecated'", "[ { 'if': 'IFX' } ]",
]  # fmt: skip

DOC_LINES = [
    "##", "#", "# @Foo:", "# @foo:", "# @a: text", "# @b:", "# @enum-feat: a feature",
    "# Features:", "# Returns: something", "# Errors: some", "# Since: 1.0", "# TODO: x",
    "# Note: x", "# Example:", "#  indented", "#     deeper", "# = Heading",
    "# plain text", "#no space", "## junk", "# @:", "# @a: text\n#   more", "#   more",
    "# Features:\n# @feat-a: a feature", "# Since: 10.0\n#   more", "# @feat-a: a feature",
    "# Returns:\n#  on the next line", "# .. note:: text", "#\t@a: tab",
]  # fmt: skip


def _renames(name: str) -> list[str]:
    """Variations of a name that the naming rules treat differently."""
    return [
        name + "_",
        name.upper(),
        name.lower(),
        name.capitalize(),
        "q_" + name,
        "x-" + name,
        "*" + name,
        name.removeprefix("*"),
        name + "List",
        "__org.qemu_" + name,
        name.replace("-", "_"),
        name.replace("_", "-"),
        name[:-1],
        "",
    ]


def _solid(tokens: list[str]) -> list[int]:
    """Positions of the tokens that are neither white space nor comments."""
    return [i for i, tok in enumerate(tokens) if tok.strip() and not tok.startswith("#")]


def _value_end(tokens: list[str], start: int) -> int:
    """The position after the value that starts at ``start``."""
    if tokens[start] not in ("{", "["):
        return start + 1
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i] in ("{", "["):
            depth += 1
        elif tokens[i] in ("}", "]"):
            depth -= 1
            if depth == 0:
                return i + 1
    return len(tokens)


def _next_solid(tokens: list[str], i: int) -> int | None:
    for j in range(i, len(tokens)):
        if tokens[j].strip() and not tokens[j].startswith("#"):
            return j
    return None


def _prev_solid(tokens: list[str], i: int) -> int | None:
    for j in range(i - 1, -1, -1):
        if tokens[j].strip() and not tokens[j].startswith("#"):
            return j
    return None


def _keys(tokens: list[str]) -> list[int]:
    """Positions of the strings that are keys of an object."""
    result = []
    for i in _solid(tokens):
        after = _next_solid(tokens, i + 1)
        if tokens[i].startswith("'") and after is not None and tokens[after] == ":":
            result.append(i)
    return result


@st.composite
def suite_mutants(draw: st.DrawFn, corpus: Corpus) -> str:
    """A suite case changed in the ways that matter to the language."""
    text = corpus.cases[draw(st.sampled_from(sorted(corpus.cases)))].decode()
    for _ in range(draw(st.integers(1, 3))):
        text = draw(_one_mutation(text, corpus))
    return text


@st.composite
def _one_mutation(draw: st.DrawFn, text: str, corpus: Corpus) -> str:
    tokens = tokenize(text)
    op = draw(
        st.sampled_from(
            ["delete-key", "insert-key", "retype", "rename", "if", "features", "doc-line"]
        )
    )
    keys = _keys(tokens)
    opens = [i for i in _solid(tokens) if tokens[i] == "{"]
    if op == "delete-key" and keys:
        start = draw(st.sampled_from(keys))
        colon = _next_solid(tokens, start + 1)
        value = _next_solid(tokens, (colon or start) + 1)
        if value is None:
            return text
        end = _value_end(tokens, value)
        comma = _next_solid(tokens, end)
        if comma is not None and tokens[comma] == ",":
            end = comma + 1
        else:
            before = _prev_solid(tokens, start)
            if before is not None and tokens[before] == ",":
                start = before
        tokens[start:end] = []
    elif op == "retype" and keys:
        colon = _next_solid(tokens, draw(st.sampled_from(keys)) + 1)
        value = _next_solid(tokens, (colon or 0) + 1)
        if value is None:
            return text
        tokens[value : _value_end(tokens, value)] = [draw(st.sampled_from(VALUES))]
    elif op == "rename":
        strings = [i for i in _solid(tokens) if tokens[i].startswith("'")]
        if not strings:
            return text
        i = draw(st.sampled_from(strings))
        name = tokens[i][1:-1]
        choices = st.sampled_from(_renames(name)).map(lambda s: f"'{s}'")
        tokens[i] = draw(choices | st.sampled_from(corpus.strings))
    elif op in ("insert-key", "if", "features") and opens:
        i = draw(st.sampled_from(opens))
        if op == "if":
            member = "'if': " + draw(st.sampled_from(CONDITIONS))
        elif op == "features":
            member = "'features': " + draw(st.sampled_from(FEATURE_LISTS))
        else:
            key, literal = draw(st.sampled_from(KEYS)), draw(st.sampled_from(VALUES))
            member = f"'{key}': {literal}"
        after = _next_solid(tokens, i + 1)
        empty = after is not None and tokens[after] == "}"
        tokens[i] += " " + member + ("" if empty else ",")
    elif op == "doc-line":
        lines = text.split("\n")
        comments = [n for n, line in enumerate(lines) if line.startswith("#")] or [0]
        n = draw(st.sampled_from(comments))
        how = draw(st.sampled_from(["delete", "duplicate", "replace", "insert"]))
        if how == "delete":
            del lines[n]
        elif how == "duplicate":
            lines.insert(n, lines[n])
        else:
            new = draw(
                st.sampled_from(DOC_LINES)
                | st.sampled_from(corpus.strings).map(lambda s: f"# @{s[1:-1]}:")
            )
            lines[n : n + (how == "replace")] = [new]
        return "\n".join(lines)
    return "".join(tokens)


# -- schemas built from the language's constructs ---------------------------

TYPE_NAMES = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta"]
MEMBER_NAMES = ["a", "b", "c-d", "e", "x-f", "name", "kind", "data", "on", "off"]
ENUM_VALUES = ["one", "two", "three", "four", "on", "off", "1", "a-b", "x-y"]
COMMAND_NAMES = ["do-it", "query-things", "x-test", "cmd", "set-one"]
EVENT_NAMES = ["EVT_A", "EVT_B", "X_EVT", "SHUTDOWN"]
FEATURES = ["feat-a", "feat-b", "x-feat"]
SPECIAL_FEATURES = ["deprecated", "unstable"]
SYMBOLS = ["IFA", "IFB", "CONFIG_C"]
BUILTINS = ["str", "int", "bool", "number", "any", "null", "size", "uint8", "int64"]

# What a schema with faults may use instead.
BAD_TYPE_NAMES = ["lower", "Alpha_b", "AlphaList", "q_Obj", "x-Alpha", "ALPHA", "Q", "Alpha"]
BAD_MEMBER_NAMES = ["g_h", "Upper", "u", "has-i", "q_j", "1", "*k", "a", "", "-x"]
BAD_COMMAND_NAMES = ["Bad_Cmd", "cmd_x", "cmd"]
BAD_EVENT_NAMES = ["evt_lower", "Evt", "EVT_A"]
BAD_FEATURES = ["Bad_feat", "feat-a", "q_feat"]
BAD_CONDITIONS: list[Any] = ["lower", "", {"all": []}, {"any": []}, {"not": "IFA", "all": ["IFB"]}]
BAD_DOC_LINES = ["# Errors: some", "# TODO: later", "# Since:", "# Returns:", "# = Heading"]


def render(value: Any) -> str:
    """A value in the schema syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "[ " + ", ".join(render(v) for v in value) + " ]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"'{k}': {render(v)}" for k, v in value.items()) + " }"


def conditions(depth: int = 0) -> st.SearchStrategy[Any]:
    symbol = st.sampled_from(SYMBOLS)
    if depth >= 2:
        return symbol
    inner = conditions(depth + 1)
    return st.one_of(
        symbol,
        st.builds(lambda c: {"not": c}, inner),
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=2)),
    )


class _Builder:
    """Draws definitions that mostly refer to each other correctly.

    Half the schemas are meant to be valid; in the other half ("faulty"),
    about one choice in ten takes a value that breaks a rule.
    """

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.faulty = draw(st.booleans())
        self.enums: dict[str, list[str]] = {}
        self.structs: list[str] = []
        self.types: list[str] = []
        # Names not used yet, so that valid schemas define each name once.
        self.unused = {
            "type": list(draw(st.permutations(TYPE_NAMES))),
            "command": list(draw(st.permutations(COMMAND_NAMES))),
            "event": list(draw(st.permutations(EVENT_NAMES))),
        }
        self.texts: list[str] = []
        self.doc_required = False
        # A free-form doc block must not stand right before a definition.
        self.free_form_pending = False

    def bad(self) -> bool:
        return self.faulty and self.draw(st.integers(0, 9)) == 0

    def sometimes(self) -> bool:
        return self.draw(st.integers(0, 2)) == 0

    def pick(self, good: list[Any], bad: list[Any]) -> Any:
        return self.draw(st.sampled_from(bad if self.bad() else good))

    def fresh_name(self, kind: str, bad: list[str]) -> str:
        unused = self.unused[kind]
        if unused and not self.bad():
            return unused.pop()
        return self.draw(st.sampled_from(bad))

    def type_name(self) -> str:
        return self.fresh_name("type", BAD_TYPE_NAMES)

    def type_ref(self, arrays: bool = True) -> Any:
        name = self.pick(self.types + BUILTINS, ["Unknown", "q_empty", "QType"])
        return [name] if arrays and self.draw(st.integers(0, 5)) == 0 else name

    def condition(self) -> Any:
        return self.pick([self.draw(conditions())], BAD_CONDITIONS)

    def features(self, special: bool) -> list[Any]:
        result: list[Any] = []
        choices = FEATURES + (SPECIAL_FEATURES if special else [])
        for name in self.draw(st.lists(st.sampled_from(choices), unique=True, max_size=2)):
            if self.bad():
                name = self.draw(st.sampled_from(BAD_FEATURES))
            result.append({"name": name, "if": self.condition()} if self.sometimes() else name)
        return result

    def common(self, expr: dict[str, Any], special_features: bool = True) -> None:
        """Maybe a condition and features for ``expr``."""
        if self.sometimes():
            expr["if"] = self.condition()
        if self.sometimes():
            expr["features"] = self.features(special_features or self.bad())

    def members(self, optional: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for _ in range(self.draw(st.integers(0, 3))):
            name = self.pick(MEMBER_NAMES, BAD_MEMBER_NAMES)
            if optional and self.sometimes():
                name = "*" + name
            typ = self.type_ref()
            if self.sometimes():
                member: dict[str, Any] = {"type": typ}
                self.common(member)
                result[name] = member
            else:
                result[name] = typ
        return result

    def add(self, expr: dict[str, Any], documented: list[str], feats: list[str]) -> None:
        """Emit ``expr``, maybe after a doc comment for what it defines."""
        if self.sometimes() or self.doc_required or self.free_form_pending:
            self.texts.append(self.doc(expr, documented, feats))
        self.free_form_pending = False
        self.texts.append(render(expr))

    def doc(self, expr: dict[str, Any], members: list[str], feats: list[str]) -> str:
        draw = self.draw
        symbol = expr[next(iter(expr))]
        if self.bad():
            symbol = draw(st.sampled_from(["Other", "", symbol + ":"]))
        lines = ["##", f"# @{symbol}:"]
        if self.sometimes():
            lines += ["#", "# Some text."]
        names = [m.removeprefix("*") for m in members] + (["bogus"] if self.bad() else [])
        described = list(dict.fromkeys(names))
        if self.bad() and names:
            described = draw(st.lists(st.sampled_from(names), unique=True))
        if described:
            lines.append("#")
            for name in described:
                lines.append(f"# @{name}: the {name}")
                if self.sometimes():
                    lines.append(self.pick(["#     more about it"], ["# not indented"]))
        if feats and not self.bad():
            lines += ["#", "# Features:"]
            lines += [f"# @{name}: a feature" for name in dict.fromkeys(feats)]
        if (self.sometimes() and "returns" in expr) or self.bad():
            lines += ["#", "# Returns: something"]
        if self.bad():
            lines += ["#", draw(st.sampled_from(BAD_DOC_LINES))]
        if self.sometimes():
            lines += ["#", "# Since: 10.0"]
        lines.append("##")
        return "\n".join(lines)

    @staticmethod
    def feature_names(value: Any) -> list[str]:
        """The features of ``value`` and of everything in it."""
        found: list[str] = []
        if isinstance(value, dict):
            for f in value.get("features", []):
                found.append(f if isinstance(f, str) else f["name"])
            for key, inner in value.items():
                if key != "features":
                    found += _Builder.feature_names(inner)
        elif isinstance(value, list):
            for inner in value:
                found += _Builder.feature_names(inner)
        return found

    def enum(self) -> None:
        draw = self.draw
        name = self.type_name()
        values = draw(st.lists(st.sampled_from(ENUM_VALUES), min_size=1, max_size=4, unique=True))
        values += [draw(st.sampled_from(BAD_MEMBER_NAMES + ENUM_VALUES))] if self.bad() else []
        data: list[Any] = []
        for value in values:
            if self.sometimes():
                member: dict[str, Any] = {"name": value}
                self.common(member)
                data.append(member)
            else:
                data.append(value)
        expr: dict[str, Any] = {"enum": name, "data": data}
        if self.sometimes():
            expr["prefix"] = self.pick(["PFX"], [True])
        self.common(expr, special_features=False)
        self.enums[name] = values
        self.types.append(name)
        self.add(expr, values, self.feature_names(expr))

    def struct(self) -> None:
        name = self.type_name()
        data = self.members()
        expr: dict[str, Any] = {"struct": name, "data": data}
        if self.structs and self.sometimes():
            expr["base"] = self.pick(self.structs, ["int", "Unknown", name])
        self.common(expr, special_features=False)
        self.structs.append(name)
        self.types.append(name)
        self.add(expr, list(data), self.feature_names(expr))

    def union(self) -> None:
        draw = self.draw
        if not self.enums or self.bad():
            self.enum()
        if not self.structs and not self.bad():
            self.struct()
        tag_type = draw(st.sampled_from(sorted(self.enums)))
        name = self.type_name()
        tag = self.pick(["kind", "type", "tag"], ["*kind", "a"])
        base: Any = {**self.members(optional=False), tag: tag_type}
        if self.bad():
            base = self.pick(self.structs, ["int"]) if self.structs else "int"
        values = self.enums[tag_type] + (["nonesuch"] if self.bad() else [])
        data: dict[str, Any] = {}
        for value in draw(st.lists(st.sampled_from(values), unique=True)):
            branch = self.pick(self.structs, ["int", "Unknown"]) if self.structs else "Unknown"
            data[value] = {"type": branch, "if": self.condition()} if self.sometimes() else branch
        discriminator = self.pick([tag.removeprefix("*")], ["nonesuch", "one"])
        expr = {"union": name, "base": base, "discriminator": discriminator, "data": data}
        self.common(expr, special_features=False)
        self.types.append(name)
        members = list(base) if isinstance(base, dict) else []
        self.add(expr, members, self.feature_names(expr))

    def alternate(self) -> None:
        name = self.type_name()
        data: dict[str, Any] = {}
        for _ in range(self.draw(st.integers(1, 3))):
            data[self.pick(MEMBER_NAMES, BAD_MEMBER_NAMES)] = self.type_ref()
        expr: dict[str, Any] = {"alternate": name, "data": data}
        self.common(expr, special_features=False)
        self.types.append(name)
        self.add(expr, list(data), self.feature_names(expr))

    def arguments(self, expr: dict[str, Any]) -> list[str]:
        """Maybe arguments (by name, boxed, or in place); the names to document."""
        choice = self.draw(st.sampled_from(["none", "members", "named", "boxed"]))
        if choice == "members":
            expr["data"] = self.members()
            return list(expr["data"])
        if choice in ("named", "boxed") and self.structs:
            expr["data"] = self.pick(self.structs, [*self.types, "int"])
            if choice == "boxed":
                expr["boxed"] = self.pick([True], [False])
        return []

    def command(self) -> None:
        draw = self.draw
        expr: dict[str, Any] = {"command": self.fresh_name("command", BAD_COMMAND_NAMES)}
        args = self.arguments(expr)
        if self.structs and self.sometimes():
            # Commands return objects or arrays of them, bar exceptions.
            returns = self.pick(self.structs, BUILTINS)
            expr["returns"] = [returns] if self.sometimes() else returns
        flags = {
            "gen": False,
            "success-response": False,
            "allow-oob": True,
            "allow-preconfig": True,
            "coroutine": True,
        }
        for flag in draw(st.lists(st.sampled_from(sorted(flags)), unique=True, max_size=2)):
            expr[flag] = self.pick([flags[flag]], [not flags[flag]])
        self.common(expr)
        self.add(expr, args, self.feature_names(expr))

    def event(self) -> None:
        expr: dict[str, Any] = {"event": self.fresh_name("event", BAD_EVENT_NAMES)}
        args = self.arguments(expr)
        self.common(expr)
        self.add(expr, args, self.feature_names(expr))

    def pragma(self) -> None:
        draw = self.draw
        pragma: dict[str, Any] = {}
        if self.sometimes():
            self.doc_required = True
            pragma["doc-required"] = self.pick([True], ["yes"])
        if self.sometimes():
            pragma["documentation-exceptions"] = draw(
                st.lists(st.sampled_from(TYPE_NAMES + COMMAND_NAMES), max_size=3)
            )
        if self.sometimes():
            pragma["member-name-exceptions"] = draw(st.lists(st.sampled_from(TYPE_NAMES)))
        if self.sometimes():
            pragma["command-returns-exceptions"] = draw(st.lists(st.sampled_from(COMMAND_NAMES)))
        if self.bad():
            pragma["nonesuch"] = True
        self.texts.append(render({"pragma": pragma}))

    def free_form(self) -> None:
        text = self.pick(["# = Heading", "# == Sub", "# Text.", "#"], ["# @a: x", "# Text.\n# = H"])
        self.texts.append(f"##\n{text}\n##")
        self.free_form_pending = not self.bad()


@st.composite
def generated_schemas(draw: st.DrawFn) -> str:
    """A schema of a few definitions of every kind, with docs and conditions."""
    builder = _Builder(draw)
    if builder.sometimes():
        builder.pragma()
    kinds = ["enum", "struct", "union", "alternate", "command", "event", "free_form"]
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=6)):
        getattr(builder, kind)()
    return "\n".join(builder.texts) + "\n"


# -- the tests --------------------------------------------------------------


@pytest.mark.parametrize("case", ["qapi-schema-test.json", "doc-good.json", "alternate-clash.json"])
def test_runner_reproduces_suite(
    case: str, qemu: QemuFrontEnd, qapi_tests_dir: Path, workdir: Path
) -> None:
    """The reference runner prints the suite's expected .out and .err."""
    name = case.removesuffix(".json")
    outcome = qemu.run(case)
    assert outcome.crash is None
    assert outcome.out == (qapi_tests_dir / f"{name}.out").read_text()
    assert outcome.err == (qapi_tests_dir / f"{name}.err").read_text()
    assert run_qapigen(workdir, case) == outcome


def test_comparison_can_fail(qemu: QemuFrontEnd, workdir: Path) -> None:
    """A schema the two front ends disagree on is told apart (the test has teeth)."""
    path = workdir / SCHEMA
    path.write_text("{ 'struct': 'Foo', 'data': {} }\n")
    theirs = qemu.run(SCHEMA)
    path.write_text("{ 'struct': 'Bar', 'data': {} }\n")
    assert run_qapigen(workdir, SCHEMA) != theirs


@pytest.mark.parametrize(
    ("source", "crash"),
    [
        (b"{ 'enum': '\xff' }\n", "UnicodeDecodeError"),
        (b"[" * 1000 + b"\n", "RecursionError"),
        (b"{ 'a': " * 1000 + b"\n", "RecursionError"),
    ],
)
def test_qemu_crashes_we_dont(source: bytes, crash: str, qemu: QemuFrontEnd, workdir: Path) -> None:
    """Where QEMU's front end dies with a traceback, qapigen reports an error."""
    (workdir / SCHEMA).write_bytes(source)
    theirs = qemu.run(SCHEMA)
    assert theirs.crash is not None and crash in theirs.crash
    ours = run_qapigen(workdir, SCHEMA)
    assert ours.out == ""
    assert ours.err.startswith(f"{SCHEMA}:1:")


@pytest.mark.parametrize("opener", ["[", "{ 'a': "])
@pytest.mark.parametrize("depth", [1, 100, 256])
def test_nesting_within_our_limit_agrees(
    opener: str, depth: int, qemu: QemuFrontEnd, workdir: Path
) -> None:
    """Up to qapigen's limit of 256 levels, deep nesting reads as QEMU reads it."""
    assert_same(workdir, qemu, opener * depth + "\n")


def test_nesting_beyond_our_limit_differs(qemu: QemuFrontEnd, workdir: Path) -> None:
    """The one known difference: past 256 levels qapigen refuses what QEMU still parses.

    QEMU goes on until Python's recursion limit (about 500 levels here, fewer
    when it is called from deeper in a stack), then crashes.
    """
    (workdir / SCHEMA).write_text("[" * 300 + "]" * 300 + "\n")
    theirs = qemu.run(SCHEMA)
    assert theirs.crash is None
    assert theirs.err == f"{SCHEMA}:1: top-level expression must be an object\n"
    assert run_qapigen(workdir, SCHEMA).err == f"{SCHEMA}:1:257: nesting deeper than 256 levels\n"


def test_alternate_conflict_depends_on_hash_seed(qemu: QemuFrontEnd, workdir: Path) -> None:
    """QEMU names either conflicting branch, by hash order; qapigen one of them."""
    source = "{ 'alternate': 'Alt', 'data': { 'a': 'int', 'b': 'bool', 'c': 'str' } }\n"
    (workdir / SCHEMA).write_text(source)
    answers = {qemu.run_seeded(SCHEMA, seed).err for seed in OTHER_SEEDS}
    prefix = f"{SCHEMA}: In alternate 'Alt':\n{SCHEMA}:1: branch 'c' can't be distinguished from "
    assert answers == {prefix + "'a'\n", prefix + "'b'\n"}
    assert run_qapigen(workdir, SCHEMA).err in answers
    # The comparison accepts it, whichever the reference seed picks.
    assert_same(workdir, qemu, source)


@DIFF
@given(data=st.data())
def test_suite_mutants(
    data: st.DataObject, corpus: Corpus, qemu: QemuFrontEnd, workdir: Path
) -> None:
    """Cases with keys deleted or added, values retyped, names changed, docs edited."""
    assert_same(workdir, qemu, data.draw(suite_mutants(corpus)))


@DIFF
@given(data=st.data())
def test_token_mutants(
    data: st.DataObject, corpus: Corpus, qemu: QemuFrontEnd, workdir: Path
) -> None:
    """Cases with tokens swapped, duplicated, deleted or replaced."""
    assert_same(workdir, qemu, data.draw(token_mutants(corpus)))


@DIFF
@given(data=st.data())
def test_byte_mutants(
    data: st.DataObject, corpus: Corpus, qemu: QemuFrontEnd, workdir: Path
) -> None:
    """Cases with characters inserted, deleted or replaced (tabs, CR, NUL, quotes, ...).

    Only valid UTF-8: QEMU crashes on anything else (see test_qemu_crashes_we_dont).
    """
    assert_same(workdir, qemu, data.draw(byte_mutants(corpus, utf8=True)))


@DIFF
@given(source=generated_schemas())
def test_generated_schemas(source: str, qemu: QemuFrontEnd, workdir: Path) -> None:
    """Random schemas of enums, structs, unions, alternates, commands, events."""
    assert_same(workdir, qemu, source)


@DIFF
@given(data=st.data())
def test_generated_mutants(
    data: st.DataObject, corpus: Corpus, qemu: QemuFrontEnd, workdir: Path
) -> None:
    """Random schemas changed as the suite's cases are (docs edited, keys added, ...)."""
    source = data.draw(generated_schemas())
    for _ in range(data.draw(st.integers(1, 2))):
        source = data.draw(_one_mutation(source, corpus))
    assert_same(workdir, qemu, source)
