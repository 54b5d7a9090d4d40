"""The floor of ``bench_libvirt.py``: the least a Python emulator can do for libvirt.

libvirt starts it as it starts QEMU (its ``<emulator>`` is a wrapper that runs
``python minimal_responder.py TABLE ARGS...``).  It checks nothing: it takes
the monitor's listening socket that libvirt hands down (``-chardev
socket,...,fd=N``), accepts libvirt's connection, writes a greeting, and
answers each request line with the bytes recorded for the same command and
arguments (``TABLE``, a JSON file the benchmark writes from ``qapigen vm``'s
replies in libvirt's log), the request's ``id`` spliced in.  It serves one
client and exits when that client goes (or on libvirt's SIGTERM).

Only what a Python program cannot do without is here: the interpreter's
start, ``json`` to find a request's command and ``id``, a ``recv`` and a
``send`` per round trip, and the polling ``qapigen vm``'s loop does (without
it, a loaded machine makes each round trip wait for a sleeping processor).
"""

import _socket
import json
import select
import sys
import time

SPIN = 0.0002  # as qapigen.qmp.selector_server's

# The answer to a question the table lacks (none, for the domain it was made for).
_UNKNOWN = (b'{"error": {"class": "GenericError", "desc": "not recorded"}, "id": ', b"}\r\n")


def _receive(conn: _socket.socket) -> bytes:
    """The next bytes, polled for as ``qapigen vm``'s loop polls (``SPIN``
    seconds after each reply) before it sleeps: libvirt's next request comes
    within microseconds, and a processor that went to sleep is slow to wake."""
    until = time.monotonic() + SPIN
    while True:
        try:
            return conn.recv(65536)
        except BlockingIOError:
            if time.monotonic() > until:
                select.select([conn], [], [])


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fp:
        table = json.load(fp)
    greeting = table.pop("")[0].encode()
    replies = {key: (head.encode(), tail.encode()) for key, (head, tail) in table.items()}
    fd = next(
        int(part[3:])
        for arg in argv[2:]
        if arg.startswith("socket,")
        for part in arg.split(",")
        if part.startswith("fd=")
    )
    listener = _socket.socket(fileno=fd)
    # _socket (not socket: the floor imports as little as it can) has only _accept.
    conn = _socket.socket(fileno=listener._accept()[0])  # type: ignore[attr-defined]
    conn.sendall(greeting)
    conn.setblocking(False)
    pending = b""
    while data := _receive(conn):
        pending += data
        out = []
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            request = json.loads(line)
            arguments = json.dumps(request.get("arguments", {}), sort_keys=True)
            key = request["execute"] + " " + arguments
            head, tail = replies.get(key, _UNKNOWN)
            out.append(head + json.dumps(request.get("id")).encode() + tail)
        if out:
            conn.sendall(b"".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
