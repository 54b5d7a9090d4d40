"""QEMU's own ``query-qmp-schema`` of a schema: its generator's tree, conditions resolved.

Not a test module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Runs QEMU's introspection visitor and prints its tree with the conditions
# resolved, as a QEMU built with the given symbols would answer.
_QEMU_INTROSPECT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from qapi.schema import QAPISchema
from qapi.introspect import Annotated, QAPISchemaGenIntrospectVisitor

unmask = sys.argv[3] == "unmask"
defined = set(sys.argv[4:])
DROP = object()

def holds(cond):
    if cond is None:
        return True
    if isinstance(cond, str):
        return cond in defined
    if "not" in cond:
        return not holds(cond["not"])
    if "all" in cond:
        return all(holds(c) for c in cond["all"])
    return any(holds(c) for c in cond["any"])

def plain(obj):
    if isinstance(obj, Annotated):
        return plain(obj.value) if holds(obj.ifcond.ifcond) else DROP
    if isinstance(obj, dict):
        return {k: v for k, v in ((k, plain(v)) for k, v in obj.items()) if v is not DROP}
    if isinstance(obj, list):
        return [v for v in (plain(v) for v in obj) if v is not DROP]
    return obj

class Capture(QAPISchemaGenIntrospectVisitor):
    def visit_end(self):
        for typ in self._used_types:
            typ.visit(self)
        print(json.dumps(plain(self._trees)))

QAPISchema(sys.argv[2]).visit(Capture("", unmask))
"""


def qemu_introspect(tree: Path, schema: Path, unmask: bool, defines: list[str]) -> Any:
    """The reply of a QEMU built with ``defines``, by QEMU's own generator."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _QEMU_INTROSPECT,
            str(tree / "scripts"),
            str(schema),
            "unmask" if unmask else "mask",
            *defines,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def canonical(reply: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """A reply with its masked type names replaced by names that depend only
    on its shape: ``T0``, ``T1``, ... in the order a walk reaches the types
    from the commands and events (by name).  Types no walk reaches (those of
    parts a build left out) are dropped.  Two replies describe the same
    schema when their canonical forms are equal.
    """
    entries = {e["name"]: e for e in reply}
    ids: dict[str, str] = {}
    order: list[str] = []

    def reach(ref: str) -> None:
        if ref.startswith("["):
            reach(ref[1:-1])
        elif entries[ref]["meta-type"] != "builtin" and ref not in ids:
            ids[ref] = f"T{len(ids)}"
            order.append(ref)

    for e in sorted(
        (e for e in reply if e["meta-type"] in ("command", "event")),
        key=lambda e: (e["meta-type"], e["name"]),
    ):
        reach(e["arg-type"])
        if "ret-type" in e:
            reach(e["ret-type"])
    for name in order:  # grows as the walk goes
        e = entries[name]
        if "element-type" in e:
            reach(e["element-type"])
        if e["meta-type"] in ("object", "alternate"):
            for m in e["members"]:
                reach(m["type"])
        for v in e.get("variants", ()):
            reach(v["type"])

    def ref(r: str) -> str:
        return f"[{ref(r[1:-1])}]" if r.startswith("[") else ids.get(r, r)

    out = {}
    for e in reply:
        e = dict(e)
        if e["meta-type"] not in ("command", "event", "builtin"):
            inner = e["name"][1:-1] if e["meta-type"] == "array" else e["name"]
            if inner not in ids and entries[inner]["meta-type"] != "builtin":
                continue  # not reached
            e["name"] = ref(e["name"])
        for key in ("arg-type", "ret-type", "element-type"):
            if key in e:
                e[key] = ref(e[key])
        if e["meta-type"] in ("object", "alternate"):
            e["members"] = [dict(m, type=ref(m["type"])) for m in e["members"]]
        if "variants" in e:
            e["variants"] = [dict(v, type=ref(v["type"])) for v in e["variants"]]
        out[(e["meta-type"], e["name"])] = e
    return out
