"""Waiting on many descriptors at once, with ``selectors``' interface: Linux's
``epoll`` directly, ``selectors.DefaultSelector`` elsewhere.

:class:`qapigen.qmp.loop.Loop` waits with it.  ``selectors`` itself would do
(this is its epoll selector, reduced to what the loop uses), but importing it
(with ``math``) costs ``qapigen vm`` a twentieth of its start-up, which must not
take longer than QEMU's.  Registration errors are ``selectors``': ``KeyError``
for a descriptor registered twice or not at all, ``ValueError`` for no events.
"""

from __future__ import annotations

import select

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class HasFileno(Protocol):
        def fileno(self) -> int: ...

    FileObj = int | HasFileno

__all__ = ["EVENT_READ", "EVENT_WRITE", "Key", "Poller", "new_poller"]

#: ``selectors``' event bits.
EVENT_READ = 1
EVENT_WRITE = 2


class Key:
    """A registered descriptor: what ``selectors`` calls a ``SelectorKey``."""

    __slots__ = ("data", "events", "fd", "fileobj")

    def __init__(self, fileobj: FileObj, fd: int, events: int, data: Any) -> None:
        self.fileobj = fileobj
        self.fd = fd
        self.events = events
        self.data = data


def _fd(fileobj: FileObj) -> int:
    fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def _epoll_mask(events: int) -> int:
    return (select.EPOLLIN if events & EVENT_READ else 0) | (
        select.EPOLLOUT if events & EVENT_WRITE else 0
    )


class Poller:
    """Descriptors waited on with ``epoll``."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._keys: dict[int, Key] = {}

    def register(self, fileobj: FileObj, events: int, data: Any = None) -> Key:
        """Wait on ``fileobj`` for ``events``; ``data`` comes back with them."""
        if not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = _fd(fileobj)
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        self._epoll.register(fd, _epoll_mask(events))
        key = self._keys[fd] = Key(fileobj, fd, events, data)
        return key

    def unregister(self, fileobj: FileObj) -> Key:
        """Stop waiting on ``fileobj``; its key."""
        key = self._keys.pop(_fd(fileobj))  # KeyError: not registered
        try:
            self._epoll.unregister(key.fd)
        except OSError:
            pass  # closed already: the kernel forgot it
        return key

    def modify(self, fileobj: FileObj, events: int, data: Any = None) -> Key:
        """Wait on ``fileobj`` for ``events`` now, with ``data``."""
        fd = _fd(fileobj)
        key = self._keys[fd]  # KeyError: not registered
        if events != key.events:
            if not events or events & ~(EVENT_READ | EVENT_WRITE):
                raise ValueError(f"Invalid events: {events!r}")
            self._epoll.modify(fd, _epoll_mask(events))
            key.events = events
        key.data = data
        return key

    def select(self, timeout: float | None = None) -> list[tuple[Key, int]]:
        """The keys ready within ``timeout`` seconds (None: wait for one), with
        the events each is ready for.  An error or a hang-up counts as both,
        as far as they were asked for."""
        if timeout is None:
            timeout = -1
        elif timeout <= 0:
            timeout = 0
        else:
            # epoll counts milliseconds: round up, or a wait shorter than one
            # would return at once, again and again.
            timeout = -(-timeout * 1000 // 1) / 1000
        keys = self._keys
        ready = []
        for fd, happened in self._epoll.poll(timeout, max(len(keys), 1)):
            key = keys.get(fd)
            if key is None:
                continue  # unregistered by a handler of this same turn
            events = (EVENT_WRITE if happened & ~select.EPOLLIN else 0) | (
                EVENT_READ if happened & ~select.EPOLLOUT else 0
            )
            ready.append((key, events & key.events))
        return ready

    def close(self) -> None:
        """Stop waiting on everything."""
        self._epoll.close()
        self._keys.clear()


def new_poller() -> Poller:
    """A :class:`Poller`, or where there is no ``epoll``, ``selectors``' best
    (whose interface it has)."""
    if hasattr(select, "epoll"):
        return Poller()
    import selectors

    return selectors.DefaultSelector()  # type: ignore[return-value]
