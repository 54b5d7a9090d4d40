"""QEMU's schema test suite as a corpus, and hypothesis strategies that mutate its cases.

The suite is read at test time from the shared data (it stays out of the
repository).  The mutants are what the fuzz test feeds ``load_schema`` and
what the differential test feeds both qapigen and QEMU's own front end:
cases truncated, changed byte by byte, and changed token by token.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TypeVar

from hypothesis import strategies as st

# ``QAPIGEN_FUZZ_RANDOM=1``: draw new examples on every run instead of the
# same ones (derandomized, as CI runs them), to hunt for bugs.
RANDOM_EXAMPLES = bool(os.environ.get("QAPIGEN_FUZZ_RANDOM"))

# Bytes that matter to the lexer, the parser or the UTF-8 decoder.
INTERESTING_BYTES = [
    b"\x00",
    b"\t",
    b"\r",
    b"\r\n",
    b"\n",
    b"\x0b",
    b"\x0c",
    b"\x7f",
    b"'",
    b'"',
    b"\\",
    b"\\\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"#",
    b"##",
    b"\n##\n",
    b"# @",
    b"@",
    b" ",
    b"true",
    b"false",
    b"\xff",
    b"\xc3",
    b"\x80",
    b"\xe2\x82\xac",
    b"\xed\xa0\x80",
]

# Tokens of the schema syntax, roughly: the whole text is the tokens joined.
_TOKEN = re.compile(r"'[^'\n]*'|#[^\n]*|[{}\[\]:,]|\s+|[^\s{}\[\]:,'#]+|.", re.DOTALL)

_PUNCTUATION = ["{", "}", "[", "]", ":", ",", "true", "false", "#", "##"]


class Corpus:
    """The suite's schemas, and the words they use."""

    def __init__(self, cases: dict[str, bytes], strings: list[str]) -> None:
        self.cases = cases
        # Every string literal of the suite, quotes included.
        self.strings = strings

    def __repr__(self) -> str:
        # Hypothesis prints the arguments of a failing example: keep it short.
        return f"<Corpus of {len(self.cases)} cases>"


def load_corpus(qapi_tests_dir: Path) -> Corpus:
    """The suite's cases, read now (QEMU's data stays out of the repository)."""
    names = (qapi_tests_dir / "CASES.txt").read_text().split()
    # One case (missing-schema.json) is a file that does not exist.
    paths = [qapi_tests_dir / name for name in names]
    cases = {path.name: path.read_bytes() for path in paths if path.exists()}
    strings: set[str] = set()
    for text in cases.values():
        strings.update(re.findall(r"'[^'\n]*'", text.decode()))
    return Corpus(cases, sorted(strings))


def copy_suite(qapi_tests_dir: Path, dest: Path) -> None:
    """Copy the suite's schemas, include files too, so that a mutant's includes resolve."""
    for src in qapi_tests_dir.rglob("*.json"):
        target = dest / src.relative_to(qapi_tests_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)


# -- strategies -----------------------------------------------------------


def case_source(corpus: Corpus) -> st.SearchStrategy[bytes]:
    """One of the suite's cases, as it is."""
    return st.sampled_from(sorted(corpus.cases)).map(corpus.cases.__getitem__)


@st.composite
def truncated(draw: st.DrawFn, corpus: Corpus) -> bytes:
    """A case cut at any byte."""
    source = draw(case_source(corpus))
    return source[: draw(st.integers(0, len(source)))]


_CHUNK = st.sampled_from(INTERESTING_BYTES) | st.binary(min_size=1, max_size=3)


def _is_utf8(chunk: bytes) -> bool:
    try:
        chunk.decode()
    except UnicodeDecodeError:
        return False
    return True


# The same, as text: mutants that QEMU can read (it crashes on bad UTF-8).
_TEXT_CHUNK = st.sampled_from(
    [chunk.decode() for chunk in INTERESTING_BYTES if _is_utf8(chunk)]
) | st.text(min_size=1, max_size=3)

_Seq = TypeVar("_Seq", str, bytes)


def _splice(draw: st.DrawFn, data: _Seq, chunk: st.SearchStrategy[_Seq]) -> _Seq:
    """``data`` with a few chunks inserted, deleted or replaced."""
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data = data[:pos] + draw(chunk) + data[pos:]
        elif op == "delete":
            data = data[:pos] + data[pos + draw(st.integers(1, 8)) :]
        else:
            data = data[:pos] + draw(chunk) + data[pos + draw(st.integers(1, 3)) :]
    return data


@st.composite
def byte_mutants(draw: st.DrawFn, corpus: Corpus, utf8: bool = False) -> bytes:
    """A case with bytes inserted, deleted or replaced; valid UTF-8 if ``utf8``."""
    source = draw(case_source(corpus))
    if utf8:
        return _splice(draw, source.decode(), _TEXT_CHUNK).encode()
    return _splice(draw, source, _CHUNK)


def tokenize(text: str) -> list[str]:
    """The text cut into tokens; joining them gives the text back."""
    return _TOKEN.findall(text)


@st.composite
def token_mutants(draw: st.DrawFn, corpus: Corpus) -> bytes:
    """A case with tokens swapped, duplicated, deleted or replaced by the suite's words."""
    tokens = tokenize(draw(case_source(corpus)).decode())
    # Positions of the tokens that are not white space.
    solid = [i for i, tok in enumerate(tokens) if not tok.isspace()]
    replacement = st.sampled_from(corpus.strings) | st.sampled_from(_PUNCTUATION)
    for _ in range(draw(st.integers(1, 4))):
        if not solid:
            break
        i = draw(st.sampled_from(solid))
        op = draw(st.sampled_from(["swap", "duplicate", "delete", "replace"]))
        if op == "swap":
            j = draw(st.sampled_from(solid))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "duplicate":
            tokens[i] += " " + tokens[i]
        elif op == "delete":
            tokens[i] = ""
        else:
            tokens[i] = draw(replacement)
    return "".join(tokens).encode()
