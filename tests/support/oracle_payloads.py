"""The bytes the QMP oracle (``oracle/qmp-errors.json``) sent, as recorded."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["payload"]


def payload(sent: dict[str, Any]) -> bytes:
    """The exact bytes of a "sent" record, rebuilt from head and tail when summarised."""
    if "hex" in sent:
        return bytes.fromhex(sent["hex"])
    if "text" in sent:
        data: bytes = sent["text"].encode()
        return data
    head, tail, length = sent["text_head"].encode(), sent["text_tail"].encode(), sent["len"]
    middle = length - len(head) - len(tail)
    for period in range(1, 9):
        unit = head[-period:]
        data = head + (unit * (middle // period + 1))[:middle] + tail
        if hashlib.sha256(data).hexdigest() == sent["sha256"]:
            return data
    raise AssertionError("cannot rebuild the summarised payload")
