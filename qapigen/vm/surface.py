"""QEMU's whole QMP surface for ``qapigen vm``: a profile's schema, served.

A machine's QMP server serves the schema of an impersonation profile
(:mod:`qapigen.profiles.profile`; the shipped one unless ``--profile FILE``),
with the simulator's own commands that the profile's QEMU lacks (the guest's
``x-guest-*``) added as unstable extensions.  The machine's commands are live
(:class:`qapigen.qmp.service.QMPService` runs them on the machine); a
:class:`MachineSurface` answers every other command of the schema:

1. its arguments are checked as QEMU checks them, from introspection
   (:mod:`qapigen.qmp.arguments`);
2. what reflects this machine is answered from it: ``query-commands`` and
   ``query-qmp-schema`` (the served schema), ``query-chardev`` (its
   monitors, :mod:`.chardev_info`), migration (:mod:`.migration`: what is set
   is checked and remembered, the commands that need a migration under way
   fail as QEMU's do without one);
3. anything else gets the recorded reply to the same command and arguments, as
   this host would give it (:mod:`.host`): answers that depended on the
   accelerator come from a session that used the accelerator this machine
   uses (KVM when asked for first and usable here, else TCG); the ``host``
   CPU model's expansions under KVM only when this host's CPU is the recording
   host's; answers that described the recorded domain (``machine``) never;
4. else the documented error :data:`NOT_RECORDED` (docs/behaviour.md).

The shipped profile is read when a command first needs it, never to start:
the greeting, all that a client gets before its first command, is the shipped
profile's, known without reading it (:data:`SHIPPED_GREETING`; a test holds the
two equal).  A profile named with ``--profile`` is read at start, so that a bad
file is refused as a bad option is.
"""

from __future__ import annotations

import sys

from ..runtime.errors import CommandError

# What serves commands is imported by the first command that needs it, not to start.

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable, Iterable
    from types import ModuleType
    from typing import Any

    from ..profiles.profile import Exchange, Profile, Reply, Session
    from ..qmp.schema_info import CommandSpec, SchemaInfo
    from .chardev_info import Chardev
    from .device_add import DeviceModels
    from .migration import Migration

__all__ = ["NOT_RECORDED", "SHIPPED_GREETING", "MachineSurface", "ProfileError", "ServedProfile"]

#: The shipped profile's greeting (``qemu`` version, ``package``), known
#: without reading the profile.
SHIPPED_GREETING = ({"major": 10, "minor": 0, "micro": 2}, "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1")

#: The error (class GenericError) of a command that is neither simulated nor
#: recorded with these arguments.
NOT_RECORDED = "The command {} is not simulated, and its answer to these arguments was not recorded"

# The feature the simulator's own commands carry in the served schema.
_EXTENSION_FEATURE = "unstable"


class ProfileError(Exception):
    """A ``--profile`` file the program cannot serve; the message says why."""


class ServedProfile:
    """The profile a fleet's machines serve, and its schema with the simulator's
    commands added.

    ``path`` None is the shipped profile, read when first needed; another is
    read now, unless ``loaded`` is that file read already (:class:`ProfileError`
    if it cannot be served).  ``package`` names the simulator's generated
    bindings, whose commands the profile's schema lacks are added (imported
    when the schema is first needed, after the greeting).
    """

    def __init__(self, path: str | None, package: str, loaded: Profile | None = None) -> None:
        self.path = path
        self._package = package
        self._profile: Profile | None = None
        self._own: SchemaInfo | None = None
        self._schema: SchemaInfo | None = None
        # How many of the schema's entries are the profile's; its reply, as written.
        self._recorded_entries = 0
        self._written: list[Any] | None = None
        # Recorded values ready to be written as QEMU wrote them, by id() of their Reply.
        self._values: dict[int, Any] = {}
        if path is None:
            self.version, self.package = SHIPPED_GREETING
            return
        from ..profiles.profile import ProfileError as ReadError
        from ..profiles.profile import load

        try:
            self._profile = load(path) if loaded is None else loaded
            greeting: Any = self._profile.greeting["QMP"]
            version = greeting["version"]
            self.version = {k: int(version["qemu"][k]) for k in ("major", "minor", "micro")}
            self.package = str(version["package"])
        except ReadError as err:
            raise ProfileError(str(err).removeprefix(f"{path}: ")) from None
        except (KeyError, TypeError, ValueError) as err:
            raise ProfileError(f"not a profile: its greeting is malformed ({err})") from None
        self.schema()

    def profile(self) -> Profile:
        """The profile, read on first use."""
        if self._profile is None:
            from ..profiles.profile import default

            self._profile = default()
        return self._profile

    def own_schema(self) -> SchemaInfo:
        """The profile's schema alone (what its own commands are served from)."""
        if self._own is None:
            from ..profiles.profile import ProfileError as ReadError
            from ..qmp.schema_info import SchemaInfo

            try:
                # Indexed as read; put in QEMU's written order only when
                # query-qmp-schema is asked (see written_schema()): most clients
                # never ask, and every start's first command would wait for it.
                loaded = self.profile()
                self._own = SchemaInfo(loaded.introspection(), facts=loaded.schema_facts())
            except ValueError as err:
                raise ProfileError(
                    f"not a profile: its schema-facts are malformed ({err})"
                ) from None
            except ReadError as err:
                raise ProfileError(str(err).removeprefix(f"{self.path}: ")) from None
            except (KeyError, TypeError, AttributeError) as err:
                raise ProfileError(
                    f"not a profile: no query-qmp-schema answer of its first probe ({err!r})"
                ) from None
        return self._own

    def schema(self) -> SchemaInfo:
        """The served schema: the profile's, with the simulator's commands it lacks."""
        if self._schema is None:
            from ..qmp.schema_info import SchemaInfo

            own = self.own_schema()
            __import__(self._package)
            simulator = SchemaInfo(_package_introspection(sys.modules[self._package]))
            extensions = [n for n in simulator.commands if n not in own.commands]
            self._schema = own.extended(simulator, extensions, _EXTENSION_FEATURE)
            self._recorded_entries = len(own.entries)
        return self._schema

    def schema_of(self, name: str) -> SchemaInfo:
        """A schema that serves command ``name`` as the served schema does: the
        profile's own where it has the command (the simulator's commands are
        then not read: a domain's start asks none of them), else the served one."""
        own = self.own_schema()
        return own if name in own.commands else self.schema()

    def written_schema(self) -> list[Any]:
        """The served schema's ``query-qmp-schema`` reply, to be written as QEMU
        wrote the recorded part (the simulator's commands after it)."""
        if self._written is None:
            from ..qmp.json_writer import as_written

            entries = self.schema().entries
            recorded = self._recorded_entries
            written: list[Any] = as_written(entries[:recorded])  # type: ignore[assignment]
            self._written = written + entries[recorded:]
        return self._written

    def value(self, reply: Reply) -> Any:
        """A recorded reply's ``return`` value, to be written as QEMU wrote it."""
        key = id(reply)
        if key not in self._values:
            from ..qmp.json_writer import as_written

            self._values[key] = as_written(reply.value)
        return self._values[key]


class MachineSurface:
    """The served schema as one machine answers it (see the module's description).

    ``accelerator`` is the one the machine uses (its configuration's);
    ``chardevs`` the machine's character devices, and ``clients`` gives the
    sockets of its monitors' clients (for ``query-chardev``); ``machine_type``
    is ``-machine``'s type (for ``device_add``'s refusals, :mod:`.device_add`).
    """

    def __init__(
        self,
        served: ServedProfile,
        accelerator: str,
        chardevs: list[Chardev],
        clients: Callable[[], Iterable[_socket.socket]],
        machine_type: str = "pc",
    ) -> None:
        self.version = served.version
        self.package = served.package
        self.served = served
        self.accelerator = accelerator
        self.chardevs = chardevs
        self.clients = clients
        self.machine_type = machine_type
        self._accel: str | None = None
        self._device_models: DeviceModels | None = None
        self._migration: Migration | None = None

    def lookup(self, name: str) -> CommandSpec | None:
        """The command ``name`` of the served schema, or None."""
        return self.served.schema_of(name).command(name)

    def run(self, name: str, arguments: dict[str, Any]) -> Any:
        """Answer ``name`` (not a live command); :class:`CommandError` with QEMU's error."""
        from ..qmp.arguments import check_arguments
        from ..runtime.errors import WireError

        try:
            check_arguments(self.served.schema_of(name), name, arguments)
        except WireError as err:
            raise CommandError("GenericError", err.desc) from None
        if name == "query-commands":
            return self.served.schema().query_commands()
        if name == "query-qmp-schema":
            return self.served.written_schema()
        if name == "query-chardev":
            from .chardev_info import query_chardev

            return query_chardev(self.chardevs, self.clients)
        from .migration import COMMANDS

        if name in COMMANDS:
            if self._migration is None:
                from .migration import Migration

                self._migration = Migration(self.recorded)
            return self._migration.answer(name, arguments)
        if name == "device_add":
            self._device_add(arguments)
        return self.recorded(name, arguments)

    def _device_add(self, arguments: dict[str, Any]) -> None:
        """QEMU's refusal of ``device_add`` where this machine and the profile tell it."""
        from .device_add import DeviceModels, refusal

        if self._device_models is None:
            self._device_models = DeviceModels(self.served.profile())
        desc = refusal(self._device_models, self.machine_type, arguments)
        if desc is not None:
            raise CommandError("GenericError", desc)

    @property
    def accel(self) -> str:
        """The accelerator whose recorded answers this machine gives: ``kvm`` if
        the machine uses KVM and the profile recorded a KVM session, else ``tcg``."""
        if self._accel is None:
            self._accel = "tcg"
            if self.accelerator == "kvm":
                sessions = self.served.profile().sessions.values()
                if any(s.accel == "kvm" for s in sessions):
                    self._accel = "kvm"
        return self._accel

    def recorded(self, name: str, arguments: dict[str, Any]) -> Any:
        """The recorded answer to ``name`` with ``arguments``, as this host gives it."""
        profile = self.served.profile()
        accel = self.accel
        sessions = sorted(profile.sessions.values(), key=lambda s: s.accel != accel)
        for session in sessions:
            exchange = session.exchange(name, arguments)
            if exchange is not None and self._serves(profile, session, exchange):
                reply = exchange.reply
                error = reply.error
                if error is not None:
                    raise CommandError(*error)
                return self.served.value(reply)
        raise CommandError("GenericError", NOT_RECORDED.format(name))

    def _serves(self, profile: Profile, session: Session, exchange: Exchange) -> bool:
        """Whether ``exchange`` of ``session`` answers for this machine on this host."""
        marks = exchange.marks
        if "machine" in marks:
            return False  # it described the recorded domain
        if not marks:
            return True
        if session.accel != self.accel:
            return False
        if "host-cpu" in marks and self.accel == "kvm":
            from .host import cpu_model

            return cpu_model() == profile.host.get("cpu")
        return True


def _package_introspection(package: ModuleType) -> list[dict[str, Any]]:
    """A generated package's ``query-qmp-schema`` reply (its ``introspection.json``)."""
    import json
    import os

    path = os.path.join(os.path.dirname(package.__file__ or ""), "introspection.json")
    with open(path, encoding="utf-8") as fp:
        entries: list[dict[str, Any]] = json.load(fp)
    return entries
