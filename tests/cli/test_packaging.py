"""A plain install is what bindings, the typed client and ``qapigen vm`` need, and no more.

That includes the shipped impersonation profile (package data).

The generator's dependencies come with the ``generate`` extra; without them,
``qapigen generate`` says how to get them instead of failing on an import.
"""

from __future__ import annotations

import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

from ..support.paths import REPO

GENERATOR_ONLY = ("jinja2", "ruff", "black", "jsonschema")


def test_the_plain_dependencies_leave_out_the_generators_tools() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    plain = " ".join(project["dependencies"]).lower()
    assert not [name for name in GENERATOR_ONLY if name in plain]
    generate = " ".join(project["optional-dependencies"]["generate"]).lower()
    assert "jinja2" in generate and "ruff" in generate


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install .`` (no extras) of this repository."""
    env = tmp_path_factory.mktemp("plain") / "venv"
    venv.create(env, with_pip=True)
    proc = subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "-q", str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"pip could not install the package here: {proc.stderr[-500:]}")
    return env


def test_a_plain_install_has_bindings_client_and_vm_without_the_generator(
    plain_install: Path,
) -> None:
    python = str(plain_install / "bin" / "python")
    code = (
        "import importlib.util, sys\n"
        "from qapigen.simulator_api.client import Client\n"
        "from qapigen.simulator_api import RunState, StatusInfo\n"
        "import qapigen.vm.program\n"
        "from qapigen.profiles import profile\n"
        "assert profile.default().version_text == '10.0.2'  # the shipped profile\n"
        "info = StatusInfo.from_wire({'status': 'running', 'running': True})\n"
        "assert info.status is RunState.RUNNING\n"
        f"print(*[n for n in {GENERATOR_ONLY!r} if importlib.util.find_spec(n)])\n"
    )
    # Not from the repository's folder: `python -c` would import the checkout's package.
    proc = subprocess.run(
        [python, "-c", code], cwd=plain_install, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"installed without being asked for: {proc.stdout}"


def test_generate_without_the_extra_says_how_to_install_it(
    plain_install: Path, tmp_path: Path
) -> None:
    schema = tmp_path / "s.json"
    schema.write_text("{ 'struct': 'Point', 'data': { 'x': 'int' } }\n")
    proc = subprocess.run(
        [str(plain_install / "bin" / "qapigen"), "generate", str(schema), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "pip install 'qapigen[generate]'" in proc.stderr
    assert not (tmp_path / "s").exists()
