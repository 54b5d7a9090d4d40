"""QEMU's own front end's model of a schema, as plain data, for reference.

Not a test module.  :func:`qemu_model` runs QEMU 10.0's ``scripts/qapi``
(from the reference tree, in a subprocess) on a schema and returns every
definition it builds: names, conditions, members, values, branches,
features.  Tests compare what qapigen derives from its own model with what
they derive, by their own simple code, from this one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Prints {"definitions": [...]}: one object per definition of QEMU's model.
_DUMP = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from qapi.schema import (
    QAPISchema, QAPISchemaAlternateType, QAPISchemaArrayType, QAPISchemaBuiltinType,
    QAPISchemaCommand, QAPISchemaDefinition, QAPISchemaEnumType, QAPISchemaEvent,
    QAPISchemaObjectType,
)

def cond(ifcond):
    return ifcond.ifcond if ifcond is not None else None

def features(owner):
    return [[f.name, cond(f.ifcond)] for f in owner.features]

def tname(t):
    if t is None:
        return None
    if isinstance(t, QAPISchemaArrayType):
        return [t.element_type.name]
    return t.name

def members(ms):
    return [
        {"name": m.name, "type": tname(m.type), "optional": m.optional,
         "if": cond(m.ifcond), "features": features(m)}
        for m in ms
    ]

def variants(vs):
    return [{"name": v.name, "type": tname(v.type), "if": cond(v.ifcond)} for v in vs]

out = []
for e in QAPISchema(sys.argv[2])._entity_list:
    if not isinstance(e, QAPISchemaDefinition):
        continue
    d = {"name": e.name, "if": cond(e.ifcond), "implicit": e.is_implicit(),
         "features": features(e)}
    if isinstance(e, QAPISchemaBuiltinType):
        d["meta"] = "builtin"
    elif isinstance(e, QAPISchemaArrayType):
        d["meta"] = "array"
    elif isinstance(e, QAPISchemaEnumType):
        d["meta"] = "enum"
        d["values"] = [{"name": m.name, "if": cond(m.ifcond), "features": features(m)}
                       for m in e.members]
    elif isinstance(e, QAPISchemaObjectType):
        d["meta"] = "union" if e.branches else "struct"
        d["members"] = members(e.members)
        d["local_members"] = members(e.local_members)
        d["base"] = e.base.name if e.base else None
        d["branches"] = variants(e.branches.variants) if e.branches else None
    elif isinstance(e, QAPISchemaAlternateType):
        d["meta"] = "alternate"
        d["branches"] = variants(e.alternatives.variants)
    elif isinstance(e, QAPISchemaCommand):
        d["meta"] = "command"
        d["arg_type"] = tname(e.arg_type)
        d["ret_type"] = tname(e.ret_type)
        d["boxed"] = e.boxed
    elif isinstance(e, QAPISchemaEvent):
        d["meta"] = "event"
        d["arg_type"] = tname(e.arg_type)
        d["boxed"] = e.boxed
    out.append(d)
print(json.dumps({"definitions": out}))
"""


def qemu_model(tree: Path, schema: Path) -> list[dict[str, Any]]:
    """Every definition QEMU's front end builds for ``schema``, in its order."""
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP, str(tree / "scripts"), str(schema)],
        capture_output=True,
        text=True,
        check=True,
    )
    definitions: list[dict[str, Any]] = json.loads(proc.stdout)["definitions"]
    return definitions


def holds(cond: Any, defined: set[str]) -> bool:
    """Whether a condition as QEMU's model gives it holds (the tests' own evaluator)."""
    if cond is None:
        return True
    if isinstance(cond, str):
        return cond in defined
    if "not" in cond:
        return not holds(cond["not"], defined)
    if "all" in cond:
        return all(holds(c, defined) for c in cond["all"])
    return any(holds(c, defined) for c in cond["any"])


def symbols_of(cond: Any) -> set[str]:
    """The symbols a condition names."""
    if cond is None:
        return set()
    if isinstance(cond, str):
        return {cond}
    if isinstance(cond, dict):
        return set().union(*(symbols_of(v) for v in cond.values()))
    return set().union(*(symbols_of(v) for v in cond))
