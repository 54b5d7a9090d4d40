"""Validation throughput of ``qapigen validate --qmp`` against jsonschema alone.

The QMP messages real QEMU 10.0.2 exchanged in the oracle's scenarios (all
the replies, events and accepted commands), as one transcript, are checked

- by qapigen's validator, from the transcript's text (parsing included), and
- by ``jsonschema`` against the JSON Schema qapigen exports for the schema,
  each message parsed beforehand (its parsing is not counted).

It prints messages per second for both and the ratio; the target (issue 6)
is at least 10x.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qapigen import load_schema  # noqa: E402
from qapigen.backends.jsonschema_export import export_bundle  # noqa: E402
from qapigen.backends.validate import Validator  # noqa: E402


def shared_dir() -> Path:
    env = os.environ.get("QAPIGEN_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def transcript(shared: Path) -> tuple[str, list[object]]:
    """The recorded messages, as transcript text and as parsed messages."""
    lines: list[str] = []
    messages: list[object] = []
    scenarios = json.loads((shared / "oracle" / "scenarios.json").read_text())["scenarios"]
    for sc in scenarios:
        sent: list[str] = []
        for item in sc["transcript"]:
            if item["dir"] == "send":
                sent += item["text"].splitlines()
            elif item["dir"] == "recv":
                msg = item["msg"]
                if item.get("kind") == "event":
                    msg = {k: v for k, v in msg.items() if k in ("event", "data")}
                    msg["timestamp"] = {"seconds": 1, "microseconds": 0}
                elif "return" in msg and sent:
                    command = sent.pop(0)
                    lines.append("-> " + command)
                    messages.append(json.loads(command))
                elif sent:
                    sent.pop(0)
                    continue
                lines.append("<- " + json.dumps(msg))
                messages.append(msg)
    return "\n".join(lines), messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (best is kept)")
    args = parser.parse_args()
    shared = shared_dir()
    schema_path = shared / "qemu" / "10.0" / "schema" / "qapi" / "qapi-schema.json"
    if not schema_path.exists():
        print(f"needs QEMU's schema at {schema_path}", file=sys.stderr)
        return 2
    schema = load_schema(str(schema_path))
    text, messages = transcript(shared)

    import jsonschema

    validator = Validator(schema)
    checker = jsonschema.Draft202012Validator(export_bundle(schema))
    # Both must accept every message, or the comparison means nothing.
    assert validator.check_transcript(text) == [], validator.check_transcript(text)[:3]
    for m in messages:
        checker.validate(m)

    def best(func: object) -> float:
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            func()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    ours = best(lambda: validator.check_transcript(text))
    theirs = best(lambda: [checker.validate(m) for m in messages])
    n = len(messages)
    print(f"{n} messages")
    print(f"qapigen validate --qmp: {n / ours:12,.0f} messages/s (text parsed too)")
    print(f"jsonschema:             {n / theirs:12,.0f} messages/s")
    print(f"ratio: {theirs / ours:.1f}x (target >= 10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
