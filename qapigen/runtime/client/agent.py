"""The guest agent's protocol (``qemu-ga``), on ``qemu.qmp``'s client.

QMP's framing, without QMP's session: the agent sends no greeting and takes
no ``qmp_capabilities``.  It has no sessions at all: its JSON parser lives
as long as the agent, so whatever an earlier client left half-sent (or a
reply it never read) is still there for the next one.  Hence the agent's
synchronisation, which :meth:`GuestAgentProtocol.sync` does on connecting and
after a reply went missing:

1. a 0xFF byte, which no JSON text contains: the agent's parser drops what
   it held and answers with a parse error (without an ``id``);
2. ``guest-sync-delimited`` with a fresh number, whose reply the agent
   prefixes with 0xFF and which returns that number; what comes before it
   answers earlier requests.

Agents without ``guest-sync-delimited`` get ``guest-sync``.
"""

from __future__ import annotations

import random

from qemu.qmp import ExecuteError, Message, QMPClient
from qemu.qmp.error import ProtocolError

#: The byte that resets the agent's parser, and starts a delimited reply.
DELIMITER = b"\xff"


class GuestAgentProtocol(QMPClient):
    """``qemu.qmp``'s client for a guest agent: no greeting, 0xFF-delimited replies, sync."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.await_greeting = False
        self.negotiate = False

    async def _do_recv(self) -> Message:
        # Each round consumes a line: bounded by what the agent sends.
        while True:
            line = await self._readline()
            # A delimited reply, and the rest of a line an earlier client
            # left unread before it: the reply is what follows the delimiter.
            _, delimiter, reply = line.rpartition(DELIMITER)
            try:
                return Message(reply if delimiter else line, eager=True)
            except ProtocolError:
                self.logger.warning("Skipped a line that is no JSON object: %r", line[:80])

    async def _on_message(self, msg: Message) -> None:
        if "error" in msg and "id" not in msg:
            # The agent's answer to input it could not parse (the 0xFF of a
            # sync, or what an earlier client left): nobody's reply.
            self.logger.debug("Dropped an error without id: %s", msg)
            return
        await super()._on_message(msg)

    async def sync(self) -> None:
        """Synchronise with the agent (see the module's docstring)."""
        assert self._writer is not None
        self._writer.write(DELIMITER)
        token = random.randrange(1, 1 << 31)
        try:
            value = await self.execute("guest-sync-delimited", {"id": token})
        except ExecuteError as err:
            if err.error_class != "CommandNotFound":
                raise
            value = await self.execute("guest-sync", {"id": token})
        if value != token:
            raise ProtocolError(f"the agent's sync returned {value!r}, not {token}")
