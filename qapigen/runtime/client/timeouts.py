"""How long the client waits: a per-call timeout, or the client's default."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable
from typing import Final, TypeVar

T = TypeVar("T")


class Default(enum.Enum):
    """The type of :data:`DEFAULT`."""

    DEFAULT = "default"

    def __repr__(self) -> str:
        return "DEFAULT"


#: "The client's own timeout", as a ``timeout=`` argument's default.
DEFAULT: Final = Default.DEFAULT


def seconds(timeout: float | Default | None, default: float | None) -> float | None:
    """``timeout``, or ``default`` when it is :data:`DEFAULT`; None means no limit."""
    return default if timeout is DEFAULT else timeout


async def within(awaitable: Awaitable[T], timeout: float | None, what: str) -> T:
    """``awaitable``'s result, or :class:`TimeoutError` naming ``what`` after ``timeout`` s."""
    if timeout is None:
        return await awaitable
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await awaitable
    except TimeoutError:
        if not scope.expired():  # the awaitable's own
            raise
        raise TimeoutError(f"{what}: nothing within {timeout:g} s") from None
