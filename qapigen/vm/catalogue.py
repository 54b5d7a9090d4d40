"""What the impersonated QEMU has, read from its profile: device models, machine
types, CPU models, the types ``-object``, ``-blockdev`` and ``-audiodev`` take,
and what the CPU's QOM properties hold.

The profile is read when a question first needs it, never to start: a command
line that names only what every x86_64 QEMU has (``-machine pc``, ``-device
pvpanic``) does not read it at all.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ..profiles.profile import Profile, Reply

__all__ = ["ProfileCatalogue"]

# -machine's keys that are not the machine type's properties: QEMU hands them
# to the accelerator.
_ACCEL_SUGAR = frozenset({"kernel-irqchip", "kvm-shadow-mem", "dirty-ring-size"})


class ProfileCatalogue:
    """:class:`qapigen.machine.config.Catalogue` and ``CpuFacts`` from a profile.

    ``path`` is the profile's file (None: the shipped one); it is loaded on
    the first question that needs it.
    """

    def __init__(self, path: str | None = None) -> None:
        self._path = path
        self._profile: Profile | None = None
        self._devices: frozenset[str] | None = None
        self._enums: dict[tuple[str, str], tuple[str, ...]] = {}
        self._index: dict[str, dict[str, object]] | None = None
        # The recorded CPU's type, and its properties' values (its successful
        # qom-get), indexed once (libvirt asks for each of its 464 at every
        # domain start).
        self._cpu_values: tuple[str | None, dict[str, object]] | None = None

    @property
    def loaded(self) -> Profile | None:
        """The profile, if a question has loaded it already."""
        return self._profile

    def adopt(self, loaded: Profile) -> None:
        """Use ``loaded`` (the same file, read elsewhere) rather than read it again."""
        if self._profile is None:
            self._profile = loaded

    @property
    def profile(self) -> Profile:
        """The profile (loaded now if it was not)."""
        if self._profile is None:
            from ..machine import ConfigError
            from ..profiles import profile

            try:
                self._profile = (
                    profile.default() if self._path is None else profile.load(self._path)
                )
            except profile.ProfileError as err:
                # As the served profile's refusal words it (vm/surface.py).
                where = f"--profile {self._path}"
                raise ConfigError(str(err).removeprefix(f"{self._path}: "), where) from None
        return self._profile

    # -- the machine's Catalogue -------------------------------------------------

    def has_device(self, driver: str) -> bool:
        """Whether ``-device help`` lists ``driver`` (by name or alias)."""
        if self._devices is None:
            found = self.profile.help("-device help")
            names: set[str] = set()
            for line in (found[0] if found else "").splitlines():
                for key in ("name", "alias"):
                    marker = f'{key} "'
                    start = line.find(marker)
                    if start >= 0 and (key == "name" or line.startswith("name ")):
                        start += len(marker)
                        names.add(line[start : line.index('"', start)])
            self._devices = frozenset(names)
        return driver in self._devices

    def device_properties(self, driver: str) -> frozenset[str] | None:
        """The device's properties, if the probe listed them (``device-list-properties``)."""
        reply = self.profile.reply("device-list-properties", {"typename": driver})
        if reply is None or not isinstance(reply.value, list):
            return None
        return frozenset(str(p["name"]) for p in reply.value if isinstance(p, dict))

    def device_property_types(self, driver: str) -> dict[str, str] | None:
        """The device's properties and their types, if the probe listed them."""
        reply = self.profile.reply("device-list-properties", {"typename": driver})
        if reply is None or not isinstance(reply.value, list):
            return None
        return {str(p["name"]): str(p["type"]) for p in reply.value if isinstance(p, dict)}

    def _machines(self) -> list[dict[str, object]]:
        reply = self.profile.reply("query-machines")
        value = reply.value if reply is not None else None
        return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []

    def machine_type(self, name: str) -> str | None:
        """The machine type ``name`` or its alias names (``pc`` is ``pc-i440fx-10.0``)."""
        for machine in self._machines():
            if name in (machine.get("name"), machine.get("alias")):
                return str(machine["name"])
        return None

    def machine_properties(self, machine_type: str) -> frozenset[str] | None:
        """``-machine``'s properties for a type: the recorded ones of its class."""
        typename = "none-machine" if machine_type == "none" else "generic-pc-machine"
        reply = self.profile.reply("qom-list-properties", {"typename": typename})
        if reply is None or not isinstance(reply.value, list):
            return None
        names = {str(p["name"]) for p in reply.value if isinstance(p, dict)}
        return frozenset(names - {"type"}) | _ACCEL_SUGAR

    def max_cpus(self, machine_type: str) -> int:
        """``cpu-max`` of the machine type (``query-machines``)."""
        for machine in self._machines():
            if machine.get("name") == machine_type or machine.get("alias") == machine_type:
                limit = machine.get("cpu-max")
                if isinstance(limit, int):
                    return limit
        return 1 if machine_type == "none" else 255

    def cpu_type(self, model: str) -> str | None:
        """The QOM type of a CPU model (``query-cpu-definitions``)."""
        reply = self.profile.reply("query-cpu-definitions")
        for cpu in reply.value if reply is not None and isinstance(reply.value, list) else ():
            if isinstance(cpu, dict) and cpu.get("name") == model:
                return str(cpu["typename"])
        return None

    # -- the machine's CpuFacts: the recorded domain's CPU -------------------------

    def _cpu_path(self) -> str | None:
        reply = self.profile.reply("query-cpus-fast", session="domain")
        value = reply.value if reply is not None else None
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return str(value[0]["qom-path"])
        return None

    def _recorded_cpu_type(self) -> str | None:
        reply = self.profile.reply("query-hotpluggable-cpus", session="domain")
        value = reply.value if reply is not None else None
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return str(value[0]["type"])
        return None

    def properties(self, cpu_type: str) -> list[tuple[str, str]] | None:
        """The recorded CPU's ``qom-list``, if it was of type ``cpu_type``."""
        path = self._cpu_path()
        if path is None or cpu_type != self._recorded_cpu_type():
            return None
        reply = self.profile.reply("qom-list", {"path": path}, session="domain")
        if reply is None or not isinstance(reply.value, list):
            return None
        return [(str(p["name"]), str(p["type"])) for p in reply.value if isinstance(p, dict)]

    def value(self, cpu_type: str, name: str) -> tuple[bool, object]:
        """The recorded CPU's ``qom-get`` of ``name``, if recorded."""
        recorded = self._cpu_values
        if recorded is None:
            replies = self._recorded_cpu_replies()
            values = {name: reply.value for name, reply in replies.items() if reply.ok}
            recorded = self._cpu_values = (self._recorded_cpu_type(), values)
        values = recorded[1]
        if cpu_type != recorded[0] or name not in values:
            return False, None
        return True, values[name]

    def _recorded_cpu_replies(self) -> dict[str, Reply]:
        """The domain session's ``qom-get`` replies for the recorded CPU, by
        property (the last of a repeated question, as ``Profile.reply`` finds it)."""
        path = self._cpu_path()
        replies: dict[str, Reply] = {}
        if path is None:
            return replies
        for exchange in self.profile.sessions["domain"].exchanges:
            arguments = exchange.arguments
            if (
                exchange.execute == "qom-get"
                and arguments is not None
                and arguments.keys() == {"path", "property"}
                and arguments["path"] == path
                and isinstance(arguments["property"], str)
            ):
                replies[arguments["property"]] = exchange.reply
        return replies

    # -- the QAPI types of -object, -blockdev, -audiodev ---------------------------

    def _entities(self) -> dict[str, dict[str, object]]:
        """The introspection's entries by name (indexed once: every -object,
        -blockdev and -audiodev asks)."""
        if self._index is None:
            self._index = {str(e["name"]): e for e in self.profile.introspection()}
        return self._index

    def _type_of(self, command: str, returns: bool) -> dict[str, object] | None:
        """The object type of ``command``'s arguments (or its returns' elements)."""
        entities = self._entities()
        found = entities.get(command)
        if found is None:
            return None
        target = entities.get(str(found["ret-type" if returns else "arg-type"]))
        if target is not None and target.get("meta-type") == "array":
            target = entities.get(str(target["element-type"]))
        return target

    def members(
        self, command: str, case: str, *, returns: bool = False
    ) -> list[tuple[str, bool]] | None:
        """The members (name, whether required) of the type ``command`` takes (or
        returns), its branch ``case`` included, in the order QEMU visits them."""
        target = self._type_of(command, returns)
        if target is None:
            return None
        entities = self._entities()
        found: list[tuple[str, bool]] = []
        types = [target]
        for variant in target.get("variants", []):  # type: ignore[attr-defined]
            if variant.get("case") == case:
                branch = entities.get(str(variant["type"]))
                if branch is not None:
                    types.append(branch)
        for entity in types:
            for member in entity.get("members", []):  # type: ignore[attr-defined]
                found.append((str(member["name"]), "default" not in member))
        return found

    def enum_values(self, command: str, member: str, *, returns: bool = False) -> tuple[str, ...]:
        """The values of the enum of ``member`` in ``command``'s argument type (or,
        with ``returns``, its return type's elements), from the introspection."""
        key = (command, member)
        if key not in self._enums:
            entities = self._entities()
            values: tuple[str, ...] = ()
            target = self._type_of(command, returns)
            members = target.get("members", []) if target is not None else []
            for m in members if isinstance(members, list) else []:
                if m.get("name") == member:
                    enum = entities.get(str(m["type"]), {})
                    values = tuple(str(v) for v in enum.get("values", []))  # type: ignore[attr-defined]
            self._enums[key] = values
        return self._enums[key]
