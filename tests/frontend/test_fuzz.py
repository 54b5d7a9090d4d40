"""No input makes it crash: mutated schemas give a model or a located error.

The inputs are QEMU's own test schemas, read at test time from the suite and
mutated by hypothesis: truncated, mutated byte by byte (non-UTF-8 bytes, NUL,
tabs, CR, quotes, braces, comments), and mutated token by token.  Whatever
comes out, ``load_schema`` must return a model or raise a ``QAPISourceError``
that names the file and a line, never anything else, and never hang.

``QAPIGEN_FUZZ_EXAMPLES`` raises the number of examples per test (150 by
default, so that the file runs in seconds).  The examples are the same on
every run; ``QAPIGEN_FUZZ_RANDOM=1`` draws new ones, to hunt for bugs.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qapigen import QAPIError, load_schema
from qapigen.frontend.errors import QAPISourceError

from ..support.schema_mutants import (
    RANDOM_EXAMPLES,
    Corpus,
    byte_mutants,
    copy_suite,
    load_corpus,
    token_mutants,
    tokenize,
    truncated,
)

EXAMPLES = int(os.environ.get("QAPIGEN_FUZZ_EXAMPLES", "150"))

# Derandomized so that CI sees the same examples on every run; no example
# database, since a derandomized run has nothing to replay.
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM_EXAMPLES,
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# A load that takes this long is a hang: fail instead of blocking the run.
HANG_SECONDS = 20

MUTANT = "mutant.json"


@pytest.fixture(scope="module")
def corpus(qapi_tests_dir: Path) -> Corpus:
    return load_corpus(qapi_tests_dir)


@pytest.fixture(scope="module")
def workdir(qapi_tests_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fuzz")
    copy_suite(qapi_tests_dir, work)
    return work


# -- the property -----------------------------------------------------------


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError in the block after ``seconds`` (where SIGALRM exists)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"load_schema still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_model_or_located_error(workdir: Path, source: bytes) -> None:
    """Load ``source`` as the main file: a model, or an error naming a place."""
    path = workdir / MUTANT
    path.write_bytes(source)
    fname = str(path)
    try:
        with time_limit(HANG_SECONDS):
            load_schema(fname)
    except QAPISourceError as err:
        text = str(err)
        top = err.info
        while top.parent is not None:
            top = top.parent
        assert top.fname == fname, text
        assert err.info.line >= 1, text
        assert text.startswith((f"{fname}:", f"In file included from {fname}:")), text
        # A line of the message starts with the error's own place.
        where = f"{err.info.fname}:{err.info.line}"
        if err.col is not None:
            where += f":{err.col}"
        assert any(line.startswith(where + ": ") for line in text.splitlines()), text
    except QAPIError as err:
        pytest.fail(f"an error without a location: {err}")


@pytest.mark.parametrize("case", ["include-simple.json", "qapi-schema-test.json"])
def test_workdir_resolves_includes(case: str, workdir: Path, corpus: Corpus) -> None:
    """The mutants' folder holds the suite's include files: a case including one loads."""
    (workdir / MUTANT).write_bytes(corpus.cases[case])
    load_schema(str(workdir / MUTANT))


def test_tokenize_round_trips(corpus: Corpus) -> None:
    """Joining the tokens gives the text back, so token mutants start from the case."""
    for source in corpus.cases.values():
        text = source.decode()
        assert "".join(tokenize(text)) == text


@FUZZ
@given(data=st.data())
def test_truncated_inputs(data: st.DataObject, corpus: Corpus, workdir: Path) -> None:
    """A suite case cut at any byte loads or fails with a located error."""
    assert_model_or_located_error(workdir, data.draw(truncated(corpus)))


@FUZZ
@given(data=st.data())
def test_byte_mutants(data: st.DataObject, corpus: Corpus, workdir: Path) -> None:
    """Inserted, deleted and replaced bytes (bad UTF-8, NUL, CR, ...) never crash it."""
    assert_model_or_located_error(workdir, data.draw(byte_mutants(corpus)))


@FUZZ
@given(data=st.data())
def test_token_mutants(data: st.DataObject, corpus: Corpus, workdir: Path) -> None:
    """Swapped, duplicated, deleted and replaced tokens never crash it."""
    assert_model_or_located_error(workdir, data.draw(token_mutants(corpus)))


@pytest.mark.parametrize("opener", ["[", "{'a':", "{'a':[", "\n["])
def test_deep_nesting_is_a_located_error(opener: str, tmp_path: Path) -> None:
    """10,000 nested openers give a located QAPIError, not a RecursionError."""
    path = tmp_path / "deep.json"
    path.write_text(opener * 10_000 + "\n")
    with pytest.raises(QAPISourceError) as excinfo:
        load_schema(str(path))
    err = excinfo.value
    assert err.col is not None
    assert str(err).startswith(f"{path}:{err.info.line}:{err.col}: ")


def test_bad_utf8_is_a_located_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give a QAPISourceError, with the include chain."""
    (tmp_path / "sub.json").write_bytes(b"# caf\xe9\n")
    (tmp_path / "main.json").write_bytes(b"\n{ 'include': 'sub.json' }\n")
    with pytest.raises(QAPISourceError) as excinfo:
        load_schema(str(tmp_path / "main.json"))
    assert str(excinfo.value) == (
        f"In file included from {tmp_path}/main.json:2:\n{tmp_path}/sub.json:1:6: invalid UTF-8"
    )


def test_deep_condition_loads(tmp_path: Path) -> None:
    """A condition nested as deep as the parser allows is checked without overflow."""
    path = tmp_path / "deep-if.json"
    depth = 120  # each 'not' is one object level; well inside the parser's limit
    cond = "{'not': " * depth + "'CONFIG_X'" + "}" * depth
    path.write_text(f"{{ 'struct': 'Deep', 'data': {{}}, 'if': {cond} }}\n")
    schema = load_schema(str(path))
    assert schema.lookup("Deep") is not None
