"""Impersonation profiles: what a real QEMU binary answered, read back.

A profile is one JSON document, stored xz-compressed in one file that
``qapigen profile record`` writes (:mod:`qapigen.profiles.recorder`, through
:func:`dump`).  It holds, for one binary:

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

The file (format 2) is a sequence of xz streams, so that a reader
decompresses and parses only what it asks for: the first stream is the
header, a JSON object with ``"qapigen-profile": 2``, the small members
(``emulator``, ``greeting``, ``host``) and ``sections``, a list of
``[member, keys, size]``: each following stream, ``size`` bytes long, holds
the whole of ``member`` (``keys`` null) or, as a JSON array, the items
``keys`` of it (names of an object's members, indexes of a list's items).
``help`` is stored one option to a section, ``replies`` grouped by the command
that asked them (``query-qmp-schema``'s alone), any other member whole: a
member this module does not know is kept and read back like the others
(:meth:`Profile.member`).  A format 1 file, one stream holding the whole
document, is the same document with no sections, and is read as well.

Loading is lazy: nothing here is imported on ``qapigen vm``'s start path;
:func:`default` reads the shipped profile's header once, on first use, and
each section when first asked for; :func:`load` reads and checks a whole file.
"""

from __future__ import annotations

import gc
import json
import lzma
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

FORMAT = 2  # the header's "qapigen-profile" member, as written
FORMATS = (1, 2)  # as read (1: the whole document in one stream)
# The members kept in the header: small, and what a start may need.
HEADER = ("emulator", "greeting", "host")
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

    __slots__ = ("_profile", "arguments", "execute", "index", "marks")

    def __init__(
        self,
        execute: str,
        arguments: dict[str, object] | None,
        index: int,
        marks: frozenset[str],
        profile: Profile,
    ) -> None:
        self.execute = execute
        self.arguments = arguments
        #: Where the reply is in the profile's ``replies``.
        self.index = index
        self.marks = marks
        self._profile = profile

    @property
    def reply(self) -> Reply:
        """The reply (read from the profile on first use)."""
        return self._profile.reply_at(self.index)


class Session:
    """One run of the binary: its command line, accelerator and exchanges."""

    __slots__ = ("_by_command", "_index", "accel", "argv", "exchanges", "name")

    def __init__(self, name: str, argv: list[str], accel: str, exchanges: list[Exchange]) -> None:
        self.name = name
        self.argv = argv
        self.accel = accel
        self.exchanges = exchanges
        self._by_command: dict[str, list[Exchange]] = {}
        for exchange in exchanges:
            self._by_command.setdefault(exchange.execute, []).append(exchange)
        # A command's exchanges by their arguments, indexed when first asked
        # for (the domain's 464 qom-get alone would cost a start a millisecond).
        self._index: dict[str, dict[str, Exchange]] = {}

    def exchange(
        self, execute: str, arguments: Mapping[str, object] | None = None
    ) -> Exchange | None:
        """The exchange that asked ``execute`` with ``arguments``, if this session asked it."""
        index = self._index.get(execute)
        if index is None:
            asked = self._by_command.get(execute, ())
            index = self._index[execute] = {arguments_key(e.arguments): e for e in asked}
        return index.get(arguments_key(arguments))


class Profile:
    """A recorded profile (see the module's description); :func:`load` reads one.

    ``header`` is the first stream's document, ``sections`` the bytes after it
    (empty for format 1).
    """

    def __init__(self, header: dict[str, object], sections: bytes, source: str) -> None:
        self.source = source
        self._header = header
        # member -> its sections: (keys or None, start, end in ``sections``)
        self._where: dict[str, list[tuple[list[object] | None, int, int]]] = {}
        self._data = sections
        self._read: dict[int, object] = {}  # a section's value, by its start
        self._members: dict[str, object] = {}
        self._replies: dict[int, Reply] = {}
        self._sessions: dict[str, Session] | None = None
        table = header.pop("sections", [])
        at = 0
        try:
            if not isinstance(table, list):
                raise TypeError("not a list")
            for member, keys, size in table:
                if not isinstance(member, str) or member in header:
                    raise ValueError(f"member {member!r} is stored twice")
                if keys is not None and not isinstance(keys, list):
                    raise TypeError(f"keys of {member!r} are not a list")
                if member in self._where and (keys is None or self._where[member][0][0] is None):
                    raise ValueError(f"member {member!r} is stored whole and in parts")
                self._where.setdefault(member, []).append((keys, at, at + int(size)))
                at += int(size)
        except (TypeError, ValueError) as err:
            raise ProfileError(
                f"{source}: not a profile: its sections are malformed ({err})"
            ) from None
        if at != len(sections):
            raise ProfileError(
                f"{source}: not a profile: its sections hold {at} bytes, the file {len(sections)}"
            )

    def member(self, name: str) -> object:
        """The document's member ``name`` (None if absent), read on first use."""
        if name in self._header:
            return self._header[name]
        if name not in self._members:
            where = self._where.get(name)
            value: object = None
            if where is not None and where[0][0] is None:
                value = self._section(name, where[0][1], where[0][2])
            elif where is not None:
                items: dict[object, object] = {}
                for keys, start, end in where:
                    assert keys is not None
                    items.update(zip(keys, self._items(name, keys, start, end), strict=True))
                if all(isinstance(k, int) for k in items):
                    if sorted(items) != list(range(len(items))):  # type: ignore[type-var]
                        raise ProfileError(
                            f"{self.source}: not a profile: the items of {name!r} have gaps"
                        )
                    value = [items[i] for i in range(len(items))]
                else:
                    value = items
            self._members[name] = value
        return self._members[name]

    def item(self, name: str, key: str | int) -> object:
        """Item ``key`` of member ``name`` (None if absent), reading only its section."""
        where = self._where.get(name)
        if where is not None and where[0][0] is not None:
            for keys, start, end in where:
                assert keys is not None
                if key in keys:
                    return self._items(name, keys, start, end)[keys.index(key)]
            return None
        whole = self.member(name)
        if isinstance(whole, dict):
            return whole.get(key)
        if isinstance(whole, list) and isinstance(key, int) and 0 <= key < len(whole):
            return whole[key]
        return None

    def item_count(self, name: str) -> int:
        """How many items member ``name`` has (without reading them, where stored by item)."""
        where = self._where.get(name)
        if where is not None and where[0][0] is not None:
            return sum(len(keys) for keys, _, _ in where if keys is not None)
        whole = self.member(name)
        return len(whole) if isinstance(whole, (list, dict)) else 0

    def _items(self, name: str, keys: list[object], start: int, end: int) -> list[object]:
        items = self._section(name, start, end)
        if not isinstance(items, list) or len(items) != len(keys):
            raise ProfileError(f"{self.source}: not a profile: a section of {name!r} is malformed")
        return items

    def _section(self, name: str, start: int, end: int) -> object:
        """The value a section holds, decompressed and parsed on first use."""
        if start not in self._read:
            # A section is one tree of containers, made in one go: the cyclic
            # garbage collector would traverse it again and again while it
            # grows (a start of libvirt's reads several), to find nothing.
            collecting = gc.isenabled()
            gc.disable()
            try:
                text = lzma.decompress(self._data[start:end])
                self._read[start] = json.loads(text)
            except lzma.LZMAError as err:
                raise ProfileError(
                    f"{self.source}: not an xz-compressed profile: {name!r}: {err}"
                ) from None
            except (UnicodeDecodeError, ValueError) as err:
                raise ProfileError(
                    f"{self.source}: not a profile: {name!r} is not JSON ({err})"
                ) from None
            finally:
                if collecting:
                    gc.enable()
        return self._read[start]

    def document(self) -> dict[str, object]:
        """The whole document, every section read (as :func:`dump` takes it)."""
        names = [*self._header, *self._where]
        return {"qapigen-profile": FORMAT, **{n: self.member(n) for n in names}}

    def check(self) -> None:
        """Read every section and check the document's structure (what
        :func:`load` does); :class:`ProfileError` saying what is wrong."""
        document = self.document()
        replies = document.get("replies")
        if not isinstance(replies, list):
            raise ProfileError(f"{self.source}: not a profile: 'replies' is missing or not a list")
        for session in self.sessions.values():
            for exchange in session.exchanges:
                self.reply_at(exchange.index)

    @property
    def sessions(self) -> dict[str, Session]:
        """The sessions, by name, in recording order (read on first use)."""
        if self._sessions is None:
            self._sessions = _sessions(self, self.source)
        return self._sessions

    def reply_at(self, index: int) -> Reply:
        """Reply ``index`` of the document's ``replies``."""
        found = self._replies.get(index)
        if found is None:
            message = self.item("replies", index)
            if not isinstance(message, dict):
                raise ProfileError(f"{self.source}: not a profile: reply {index} is not an object")
            found = self._replies[index] = Reply(message)
        return found

    @property
    def version(self) -> dict[str, object]:
        """The binary's ``query-version`` answer."""
        version = self._object("emulator").get("version")
        if not isinstance(version, dict):
            raise ProfileError(
                f"{self.source}: not a profile: 'version' is missing or not an object"
            )
        return version

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
        return str(self._object("emulator")["target"])

    @property
    def greeting(self) -> dict[str, object]:
        """The QMP greeting, as QEMU sent it."""
        return self._object("greeting")

    @property
    def host(self) -> dict[str, object]:
        """What the recording host was (``kvm``, ``cpu``)."""
        return self._object("host")

    def help(self, option: str) -> tuple[str, int] | None:
        """What the binary printed for ``option`` (``-version``, ``-cpu help``, ...)
        and its exit status, or None when not recorded."""
        if "help" not in self._where:
            self._object("help")  # stored whole: it must be an object
        entry = self.item("help", option)
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
        facts = self.member(SCHEMA_FACTS)
        return facts if isinstance(facts, dict) else None

    def commands(self) -> list[str]:
        """The names of the commands the binary's schema lists."""
        return [e["name"] for e in self.introspection() if e.get("meta-type") == "command"]  # type: ignore[misc]

    def _object(self, name: str) -> dict[str, object]:
        """Member ``name``, which must be an object."""
        value = self.member(name)
        if not isinstance(value, dict):
            raise ProfileError(
                f"{self.source}: not a profile: '{name}' is missing or not an object"
            )
        return value

    def exchanges(self) -> Iterator[tuple[Session, Exchange]]:
        """Every exchange of every session, sessions in recording order."""
        for session in self.sessions.values():
            for exchange in session.exchanges:
                yield session, exchange


def load(path: str | os.PathLike[str]) -> Profile:
    """Read a whole profile and check it; :class:`ProfileError` saying why if
    ``path`` is not one."""
    found = read(path)
    found.check()
    return found


def read(path: str | os.PathLike[str]) -> Profile:
    """A profile whose sections are read when first asked for (its header is
    read and checked now); :class:`ProfileError` saying why if ``path`` is not one."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as fp:
            data = fp.read()
    except OSError as err:
        reason = err.strerror or str(err)
        raise ProfileError(f"{source}: cannot read a profile: {reason}") from None
    decompressor = lzma.LZMADecompressor()  # as lzma.open: .xz (or legacy .lzma)
    try:
        text = decompressor.decompress(data)
        if not decompressor.eof:
            raise lzma.LZMAError(
                "Compressed file ended before the end-of-stream marker was reached"
            )
    except lzma.LZMAError as err:
        raise ProfileError(f"{source}: not an xz-compressed profile: {err}") from None
    try:
        header = json.loads(text)
    except (UnicodeDecodeError, ValueError) as err:
        raise ProfileError(f"{source}: not a profile: not JSON ({err})") from None
    if not isinstance(header, dict) or "qapigen-profile" not in header:
        raise ProfileError(f"{source}: not a profile: no 'qapigen-profile' member")
    form = header.pop("qapigen-profile")
    if form not in FORMATS:
        raise ProfileError(f"{source}: profile format {form!r}; this qapigen reads 1 and 2")
    if form == 1 and "sections" in header:
        raise ProfileError(f"{source}: not a profile: format 1 has no sections")
    return Profile(header, decompressor.unused_data, source)


def from_document(document: Mapping[str, object], source: str) -> Profile:
    """A profile over ``document`` as held in memory (a recording not yet
    written); ``source`` names it in messages."""
    members = {name: value for name, value in document.items() if name != "qapigen-profile"}
    members.pop("sections", None)
    return Profile(members, b"", source)


_default: list[Profile] = []


def default() -> Profile:
    """The shipped profile (Debian's QEMU 10.0.2, x86_64), read on first use,
    each part when first asked for."""
    if not _default:
        _default.append(read(SHIPPED))
    return _default[0]


def dump(document: Mapping[str, object]) -> bytes:
    """A document as a profile file's bytes (format 2: see the module's description)."""
    header: dict[str, object] = {"qapigen-profile": FORMAT}
    header.update((name, document[name]) for name in HEADER if name in document)
    table: list[list[object]] = []
    streams: list[bytes] = []

    def section(member: str, keys: list[object] | None, value: object) -> None:
        packed = _compress(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        table.append([member, keys, len(packed)])
        streams.append(packed)

    for name, value in document.items():
        if name in HEADER or name == "qapigen-profile":
            continue
        if name == "help" and isinstance(value, dict):
            for option, entry in value.items():
                section(name, [option], [entry])
        elif name == "replies" and isinstance(value, list):
            for indexes in _reply_groups(document.get("sessions"), len(value)):
                section(name, list(indexes), [value[i] for i in indexes])
        else:
            section(name, None, value)
    header["sections"] = table
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return b"".join([_compress(text), *streams])


def _compress(data: bytes) -> bytes:
    # A dictionary no larger than the data: each stream's reader allocates it.
    size = max(4096, 1 << len(data).bit_length())
    preset = 9 | lzma.PRESET_EXTREME
    filters = [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": size}]
    return lzma.compress(data, lzma.FORMAT_XZ, filters=filters)


def _reply_groups(sessions: object, count: int) -> list[list[int]]:
    """The replies' indexes grouped by the command that first asked each
    (what one question reads); a reply no exchange names goes with the last group."""
    groups: dict[str, list[int]] = {}
    seen: set[int] = set()
    for session in sessions.values() if isinstance(sessions, dict) else ():
        exchanges = session.get("exchanges", []) if isinstance(session, dict) else []
        for execute, _, index, _ in exchanges:
            if isinstance(index, int) and 0 <= index < count and index not in seen:
                seen.add(index)
                groups.setdefault(str(execute), []).append(index)
    rest = [i for i in range(count) if i not in seen]
    found = list(groups.values())
    if rest:
        found.append(rest)
    return found


def _sessions(profile: Profile, source: str) -> dict[str, Session]:
    sessions = profile.member("sessions")
    if not isinstance(sessions, dict):
        raise ProfileError(f"{source}: not a profile: 'sessions' is missing or not an object")
    count = profile.item_count("replies")
    out = {}
    for name, session in sessions.items():
        try:
            if not isinstance(session, dict):
                raise TypeError("not an object")
            exchanges = []
            for execute, arguments, index, marks in session["exchanges"]:
                if not isinstance(index, int) or not 0 <= index < count:
                    raise IndexError("list index out of range")
                exchanges.append(Exchange(execute, arguments, index, frozenset(marks), profile))
            out[name] = Session(name, list(session["argv"]), str(session["accel"]), exchanges)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ProfileError(f"{source}: session {name!r} is malformed: {err}") from None
    return out
