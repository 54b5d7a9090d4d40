"""Impersonation profiles: what a real QEMU binary answered, read back.

A profile is one xz-compressed JSON document that ``qapigen profile record``
writes (:mod:`qapigen.profiles.recorder`).  It holds, for one binary:

* ``emulator``: its ``query-version`` and ``query-target`` answers, the
  binary's path when recorded, and ``greeting``, its QMP greeting;
* ``help``: what it printed (and its exit status) for ``-version``, ``-h``,
  ``-machine help``, ``-device help`` and ``-cpu help``;
* ``host``: the host it was recorded on (``kvm``: whether KVM was in use in
  the first probe round; ``cpu``: the host CPU's model name);
* ``sessions``: one per run of the binary — ``probe`` (libvirt's first round,
  ``accel=kvm:tcg``), ``probe-tcg`` (``accel=tcg``, asked the first round's
  questions and the second's) and ``domain`` (a domain's start, as libvirt
  starts it).  Each has the command line it ran (``argv``, with the
  placeholders of :data:`qapigen.profiles.libvirt.DOMAIN_ARGV`), the
  accelerator in use (``accel``: ``kvm`` or ``tcg``) and its
  ``exchanges``: ``[execute, arguments or null, reply, marks]``, in the order
  asked, where reply indexes ``replies``;
* ``replies``: each distinct reply once, as QEMU sent it but for its ``id``
  (``{"return": ...}`` or ``{"error": {"class": ..., "desc": ...}}``);
* ``schema-facts`` (optional): what the introspection masks, recovered from
  the QAPI schema of the binary's QEMU (:mod:`qapigen.backends.schema_facts`):
  ``names`` (masked type name -> real name, for objects and alternates),
  ``integers`` (masked type name -> member, or an alternate's branch ``int``
  or ``[int]``, -> its integer type when not ``int``/``int64``),
  ``defines`` and ``schema-only``.  A profile without it is served with
  integers checked as introspection shows them.

``marks`` says what an answer depends on besides the binary, so that the
simulator can answer it for the host it runs on: ``accel`` (it differed
between the KVM and the TCG round, or is ``query-kvm``'s), ``host-cpu`` (it
describes the host's CPU: the ``host`` model's expansions), ``host-devices``
(it depends on the host's devices: SEV, SGX) and ``machine`` (it reflects the
recorded domain's configuration or changes its state).  Paths under the
recorder's temporary folder read ``<WORKDIR>``.

Loading is lazy: nothing here is imported on ``qapigen vm``'s start path, and
:func:`default` reads the shipped profile once, on first use.
"""

from __future__ import annotations

import json
import lzma
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

FORMAT = 1  # the document's "qapigen-profile" member
SCHEMA_FACTS = "schema-facts"  # the document's optional member of facts from QEMU's schema
MARKS = ("accel", "host-cpu", "host-devices", "machine")
SESSIONS = ("probe", "probe-tcg", "domain")
# The profile shipped with the package: Debian's QEMU 10.0.2 for x86_64.
SHIPPED = os.path.join(os.path.dirname(__file__), "data", "qemu-10.0.2-x86_64.json.xz")


class ProfileError(Exception):
    """A file that is not a profile this version reads; the message says why."""


def arguments_key(arguments: Mapping[str, object] | None) -> str:
    """The form under which a command's arguments are looked up (no arguments is ``{}``)."""
    return json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"))


class Reply:
    """One reply as QEMU sent it (without its ``id``)."""

    __slots__ = ("message",)

    def __init__(self, message: dict[str, object]) -> None:
        self.message = message

    @property
    def ok(self) -> bool:
        """Whether it is a success (``return``) rather than an error."""
        return "return" in self.message

    @property
    def value(self) -> object:
        """What ``return`` holds (``None`` for an error)."""
        return self.message.get("return")

    @property
    def error(self) -> tuple[str, str] | None:
        """The error's class and description, or None for a success."""
        error = self.message.get("error")
        if not isinstance(error, dict):
            return None
        return (str(error["class"]), str(error["desc"]))

    def __repr__(self) -> str:
        return f"Reply({self.message!r})"


class Exchange:
    """One question asked in a session, its reply and what the reply depends on."""

    __slots__ = ("arguments", "execute", "marks", "reply")

    def __init__(
        self,
        execute: str,
        arguments: dict[str, object] | None,
        reply: Reply,
        marks: frozenset[str],
    ) -> None:
        self.execute = execute
        self.arguments = arguments
        self.reply = reply
        self.marks = marks


class Session:
    """One run of the binary: its command line, accelerator and exchanges."""

    __slots__ = ("_index", "accel", "argv", "exchanges", "name")

    def __init__(self, name: str, argv: list[str], accel: str, exchanges: list[Exchange]) -> None:
        self.name = name
        self.argv = argv
        self.accel = accel
        self.exchanges = exchanges
        self._index = {(e.execute, arguments_key(e.arguments)): e for e in exchanges}

    def exchange(
        self, execute: str, arguments: Mapping[str, object] | None = None
    ) -> Exchange | None:
        """The exchange that asked ``execute`` with ``arguments``, if this session asked it."""
        return self._index.get((execute, arguments_key(arguments)))


class Profile:
    """A recorded profile (see the module's description); :func:`load` reads one."""

    def __init__(self, document: dict[str, object], source: str) -> None:
        self.source = source
        self._document = document
        self.sessions: dict[str, Session] = _sessions(document, source)

    @property
    def version(self) -> dict[str, object]:
        """The binary's ``query-version`` answer."""
        return _member(_member(self._document, "emulator", self.source), "version", self.source)

    @property
    def version_text(self) -> str:
        """``MAJOR.MINOR.MICRO`` of the binary's QEMU."""
        qemu = self.version["qemu"]
        assert isinstance(qemu, dict)
        return f"{qemu['major']}.{qemu['minor']}.{qemu['micro']}"

    @property
    def package(self) -> str:
        """The binary's package string (``Debian 1:10.0.2+ds-...``)."""
        return str(self.version.get("package", ""))

    @property
    def target(self) -> str:
        """The binary's target architecture (``query-target``)."""
        return str(_member(self._document, "emulator", self.source)["target"])

    @property
    def greeting(self) -> dict[str, object]:
        """The QMP greeting, as QEMU sent it."""
        return _member(self._document, "greeting", self.source)

    @property
    def host(self) -> dict[str, object]:
        """What the recording host was (``kvm``, ``cpu``)."""
        return _member(self._document, "host", self.source)

    def help(self, option: str) -> tuple[str, int] | None:
        """What the binary printed for ``option`` (``-version``, ``-cpu help``, ...)
        and its exit status, or None when not recorded."""
        entry = _member(self._document, "help", self.source).get(option)
        if not isinstance(entry, dict):
            return None
        return (str(entry["stdout"]), int(entry["status"]))

    def reply(
        self,
        execute: str,
        arguments: Mapping[str, object] | None = None,
        *,
        session: str = "probe",
    ) -> Reply | None:
        """The recorded reply to ``execute`` with ``arguments`` in ``session``, or None."""
        exchange = self.sessions[session].exchange(execute, arguments)
        return exchange.reply if exchange else None

    def introspection(self) -> list[dict[str, object]]:
        """The binary's ``query-qmp-schema`` answer: its whole QMP schema."""
        reply = self.reply("query-qmp-schema")
        if reply is None or not isinstance(reply.value, list):
            raise ProfileError(f"{self.source}: no query-qmp-schema answer")
        return reply.value

    def schema_facts(self) -> dict[str, object] | None:
        """The ``schema-facts`` section (see the module's description), or None."""
        facts = self._document.get(SCHEMA_FACTS)
        return facts if isinstance(facts, dict) else None

    def commands(self) -> list[str]:
        """The names of the commands the binary's schema lists."""
        return [e["name"] for e in self.introspection() if e.get("meta-type") == "command"]  # type: ignore[misc]

    def exchanges(self) -> Iterator[tuple[Session, Exchange]]:
        """Every exchange of every session, sessions in recording order."""
        for session in self.sessions.values():
            for exchange in session.exchanges:
                yield session, exchange


def load(path: str | os.PathLike[str]) -> Profile:
    """Read a profile; :class:`ProfileError` saying why if ``path`` is not one."""
    source = os.fspath(path)
    try:
        with lzma.open(source, "rb") as fp:
            data = fp.read()
    except OSError as err:
        reason = err.strerror or str(err)
        raise ProfileError(f"{source}: cannot read a profile: {reason}") from None
    except lzma.LZMAError as err:
        raise ProfileError(f"{source}: not an xz-compressed profile: {err}") from None
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as err:
        raise ProfileError(f"{source}: not a profile: not JSON ({err})") from None
    if not isinstance(document, dict) or "qapigen-profile" not in document:
        raise ProfileError(f"{source}: not a profile: no 'qapigen-profile' member")
    if document["qapigen-profile"] != FORMAT:
        raise ProfileError(
            f"{source}: profile format {document['qapigen-profile']!r}; this qapigen reads {FORMAT}"
        )
    return Profile(document, source)


_default: list[Profile] = []


def default() -> Profile:
    """The shipped profile (Debian's QEMU 10.0.2, x86_64), read on first use."""
    if not _default:
        _default.append(load(SHIPPED))
    return _default[0]


def _member(document: Mapping[str, object], name: str, source: str) -> dict[str, object]:
    """The object ``name`` of ``document``."""
    value = document.get(name)
    if not isinstance(value, dict):
        raise ProfileError(f"{source}: not a profile: '{name}' is missing or not an object")
    return value


def _sessions(document: Mapping[str, object], source: str) -> dict[str, Session]:
    replies = document.get("replies")
    sessions = _member(document, "sessions", source)
    if not isinstance(replies, list):
        raise ProfileError(f"{source}: not a profile: 'replies' is missing or not a list")
    shared = [Reply(r) if isinstance(r, dict) else None for r in replies]
    out = {}
    for name, session in sessions.items():
        try:
            if not isinstance(session, dict):
                raise TypeError("not an object")
            exchanges = []
            for execute, arguments, index, marks in session["exchanges"]:
                reply = shared[index]
                if reply is None:
                    raise ValueError(f"reply {index} is not an object")
                exchanges.append(Exchange(execute, arguments, reply, frozenset(marks)))
            out[name] = Session(name, list(session["argv"]), str(session["accel"]), exchanges)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ProfileError(f"{source}: session {name!r} is malformed: {err}") from None
    return out
