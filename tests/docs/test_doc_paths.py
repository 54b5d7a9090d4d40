"""Every file the docs name exists: a moved or renamed module, test or data file leaves
no stale pointer behind (the README once pointed at ``qapigen/vm.py``, long gone).

A path is a code span or a link target, outside fenced blocks, with a ``/`` in it and
ending in a file name with an extension, or in ``/`` (a folder). Placeholders in capitals
(``NAME/__init__.py``) and absolute paths (``/tmp/...``: examples) are not files of the
project. A path is looked up from the repository's top, and from ``qapigen/`` and
``tests/`` (the tables of ``docs/architecture.md`` name modules from there);
the folders of their parts; then in the shared data (``../shared/...``,
``oracle/...``), and ``qemu/...`` or QEMU's own ``qapi/...`` and ``qga/...`` in its QEMU
10.0 schemas (as the guide's examples find them). Paths in QEMU's source tree
(``scripts/...``) are not checked: it is unpacked only for the differential tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..support.paths import REPO, shared_dir

DOCS = sorted(
    [REPO / "README.md", REPO / "benchmarks" / "README.md", *(REPO / "docs").glob("*.md")]
)

_FENCED = re.compile(r"^```.*?^```$", re.M | re.S)
_SPAN = re.compile(r"`([^`\n]+)`|\]\(([^)#\s]+)")
_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)*(?:/|\.[a-z]+)")


def named_paths(text: str) -> list[str]:
    """The paths a Markdown text names (see the module's documentation)."""
    text = _FENCED.sub("", text)
    found = []
    for span in _SPAN.finditer(text):
        token = span.group(1) or span.group(2)
        if "/" not in token or not _PATH.fullmatch(token):
            continue
        parts = [part for part in token.split("/") if part not in ("", "..")]
        if any(part.isupper() or re.fullmatch(r"[A-Z]+[a-z]*[A-Z]+\w*", part) for part in parts):
            continue  # a placeholder: NAME, DIR, vmNNNN
        found.append(token)
    return found


def _roots() -> list[Path]:
    """Where the docs' paths are looked up from: the top, the package and the tests, and
    the folders of their parts (``docs/architecture.md`` names a part's modules and
    folders from there: ``client/``, ``python/build.py``)."""
    tops = [REPO / "qapigen", REPO / "tests"]
    return [REPO, *tops, *(d for top in tops for d in sorted(top.iterdir()) if d.is_dir())]


def _exists(path: str) -> bool | None:
    """Whether ``path`` is there; None when what it is in is absent here."""
    shared = shared_dir()
    qemu_path = path.removeprefix("qemu/")
    if path.startswith("../shared/"):
        return None if shared is None else (shared / path.removeprefix("../shared/")).exists()
    if any((root / path).exists() for root in _roots()):
        return True
    if path.startswith("scripts/"):
        return None  # QEMU's source tree, unpacked only for the differential tests
    if shared is None:
        return None if path.split("/")[0] in ("qemu", "qapi", "qga", "oracle") else False
    schemas = shared / "qemu" / "10.0" / "schema"
    return (shared / path).exists() or (schemas / qemu_path).exists()


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_path_named_exists(doc: Path) -> None:
    paths = named_paths(doc.read_text())
    missing = [p for p in paths if _exists(p) is False]
    assert not missing, f"{doc.relative_to(REPO)} names what is not there: {missing}"


def test_paths_are_found_in_code_spans_and_links_only() -> None:
    """What counts as a named path, and what does not."""
    text = (
        "See `qapigen/vm.py`, [the guide](docs/guide.md#install), `tests/`, `NAME/x.py`,\n"
        "`DIR/vmNNNN.sock`, `/tmp/vm.sock`, `a b/c.py`, `irq_intercept_in/out`, and\n"
        "```sh\nqapigen check schemas/x.json\n```\n"
    )
    assert named_paths(text) == ["qapigen/vm.py", "docs/guide.md", "tests/"]
    assert _exists("qapigen/vm.py") is False
    assert _exists("vm/options.py") is True
