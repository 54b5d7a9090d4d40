"""The typed QMP client, over ``qemu.qmp``: the one part of the runtime beyond
the standard library.

Generated packages subclass :class:`AsyncClient` and :class:`SyncClient`
with a typed method per command (their ``client`` module).  What is here:

- :class:`AsyncClient`, :class:`SyncClient`: connections (path, address or
  socket; :meth:`~AsyncClient.accept` for a server that connects to us),
  timeouts, out-of-band execution, file descriptors, untyped
  :meth:`~AsyncClient.execute`; a guest agent's protocol for an agent's
  bindings;
- :class:`EventStream`, :class:`SyncEventStream`: events, with a bounded
  backlog, typed waits and iteration;
- :mod:`.errors`: one exception per QMP error class.
"""

from __future__ import annotations

from .async_client import AsyncClient
from .errors import (
    CommandFailed,
    CommandNotFound,
    DeviceNotActive,
    DeviceNotFound,
    GenericError,
    KVMMissingCap,
)
from .sockets import Address, server_socket
from .streams import BACKLOG, EventStream
from .sync import SyncClient, SyncEventStream
from .timeouts import DEFAULT, Default

__all__ = [
    "BACKLOG",
    "DEFAULT",
    "Address",
    "AsyncClient",
    "CommandFailed",
    "CommandNotFound",
    "Default",
    "DeviceNotActive",
    "DeviceNotFound",
    "EventStream",
    "GenericError",
    "KVMMissingCap",
    "SyncClient",
    "SyncEventStream",
    "server_socket",
]
