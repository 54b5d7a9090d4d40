"""qapigen.qmp.poller: the loop's epoll waiter, held to ``selectors``' behaviour.

The poller stands in for ``selectors.DefaultSelector`` (epoll, on Linux) so that
``qapigen vm`` need not import ``selectors`` before its greeting; each scenario
here is run on both, and must give the same results.
"""

from __future__ import annotations

import os
import selectors
import socket
from collections.abc import Callable, Iterator

import pytest

from qapigen.qmp.poller import EVENT_READ, EVENT_WRITE, Poller

MAKERS: dict[str, Callable[[], object]] = {
    "poller": Poller,
    "selectors": selectors.DefaultSelector,
}


@pytest.fixture(params=sorted(MAKERS))
def waiter(request: pytest.FixtureRequest) -> Iterator[Poller]:
    made = MAKERS[request.param]()
    yield made  # type: ignore[misc]  # the two share the interface used here
    made.close()  # type: ignore[attr-defined]


def _ready(waiter: Poller, timeout: float | None = 0) -> dict[object, int]:
    return {key.data: events for key, events in waiter.select(timeout)}


def test_event_bits_are_selectors() -> None:
    assert (EVENT_READ, EVENT_WRITE) == (selectors.EVENT_READ, selectors.EVENT_WRITE)


def test_readable_writable_and_data(waiter: Poller) -> None:
    a, b = socket.socketpair()
    with a, b:
        waiter.register(a, EVENT_READ | EVENT_WRITE, "a")
        assert _ready(waiter) == {"a": EVENT_WRITE}
        b.sendall(b"x")
        assert _ready(waiter) == {"a": EVENT_READ | EVENT_WRITE}
        key = waiter.modify(a, EVENT_READ, "a2")
        assert (key.fd, key.events, key.data) == (a.fileno(), EVENT_READ, "a2")
        assert _ready(waiter) == {"a2": EVENT_READ}
        assert waiter.unregister(a).data == "a2"
        assert _ready(waiter) == {}


def test_a_hang_up_is_ready_for_what_was_asked(waiter: Poller) -> None:
    a, b = socket.socketpair()
    with a:
        waiter.register(a.fileno(), EVENT_READ, "a")  # a descriptor, not an object
        b.close()
        assert _ready(waiter) == {"a": EVENT_READ}


def test_registration_errors(waiter: Poller) -> None:
    a, b = socket.socketpair()
    with a, b:
        waiter.register(a, EVENT_READ)
        with pytest.raises(KeyError):
            waiter.register(a, EVENT_READ)
        with pytest.raises(KeyError):
            waiter.unregister(b)
        with pytest.raises(KeyError):
            waiter.modify(b, EVENT_READ)
        with pytest.raises(ValueError):
            waiter.register(b, 0)
        with pytest.raises(ValueError):
            waiter.register(-1, EVENT_READ)


def test_a_descriptor_closed_while_registered_can_be_unregistered(waiter: Poller) -> None:
    r, w = os.pipe()
    waiter.register(r, EVENT_READ, "r")
    os.close(r)
    os.close(w)
    assert waiter.unregister(r).data == "r"


def test_a_short_timeout_waits_and_none_waits_for_one(waiter: Poller) -> None:
    a, b = socket.socketpair()
    with a, b:
        waiter.register(a, EVENT_READ, "a")
        assert waiter.select(0.0001) == []  # rounded up to a millisecond, not busy
        b.sendall(b"x")
        assert _ready(waiter, None) == {"a": EVENT_READ}
