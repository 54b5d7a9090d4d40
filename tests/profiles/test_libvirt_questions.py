"""The recorder asks what libvirt asks, and the shipped profile answers all of it.

``tests/support/data/libvirt-11.3.json`` is the reviewed record of what
libvirt 11.3 asked real QEMU 10.0.2 (tests/libvirt holds a live libvirt to it);
``qapigen.profiles.libvirt`` is what the recorder asks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from qapigen.profiles import libvirt, profile

from ..support.paths import REPO

LIBVIRT = json.loads((REPO / "tests" / "support" / "data" / "libvirt-11.3.json").read_text())
SHIPPED = profile.default()


def _listed(questions: Any) -> list[list[Any]]:
    """``(execute, arguments)`` pairs as the record writes them."""
    return [[e] if a is None else [e, a] for e, a in questions]


def test_the_recorders_questions_are_libvirts() -> None:
    negotiate = [["qmp_capabilities"]]
    assert negotiate + _listed(libvirt.PROBE) == LIBVIRT["probe"]
    assert negotiate + _listed(libvirt.PROBE_TCG) == LIBVIRT["probe_tcg"]
    start = LIBVIRT["domain_start"]
    assert negotiate + _listed(libvirt.DOMAIN_BEFORE_CPU) == start["before_cpu"]
    assert _listed(libvirt.DOMAIN_AFTER_CPU) == start["after_cpu"]


def test_the_recorders_domain_command_line_is_libvirts() -> None:
    assert list(libvirt.DOMAIN_ARGV) == LIBVIRT["command_line"]
    assert SHIPPED.sessions["domain"].argv == LIBVIRT["command_line"]


@pytest.mark.parametrize(("round_", "session"), [("probe", "probe"), ("probe_tcg", "probe-tcg")])
def test_the_shipped_profile_answers_every_probe_question(round_: str, session: str) -> None:
    unanswered = [
        q
        for q in LIBVIRT[round_]
        if SHIPPED.reply(q[0], q[1] if len(q) > 1 else None, session=session) is None
    ]
    assert unanswered == []


def test_the_shipped_profile_answers_a_domains_start() -> None:
    start = LIBVIRT["domain_start"]
    cpu = start["cpu"][0][1]["path"]
    questions = start["before_cpu"] + start["cpu"] + start["after_cpu"]
    questions += [["qom-get", {"path": cpu, "property": p}] for p in start["cpu_properties"]]
    unanswered = [
        q
        for q in questions
        if SHIPPED.reply(q[0], q[1] if len(q) > 1 else None, session="domain") is None
    ]
    assert unanswered == []
    # And no more CPU properties than libvirt asks: the recorder's rule is libvirt's.
    asked = [e.arguments for e in SHIPPED.sessions["domain"].exchanges if e.execute == "qom-get"]
    assert sorted(str(a["property"]) for a in asked if a) == start["cpu_properties"]
