"""The options whose argument is a QAPI object: ``-object``, ``-blockdev``,
``-audiodev``, and ``-device`` in its JSON form.

Each takes either JSON (an argument that starts with ``{``, read as QEMU reads
it) or ``key=value,...``.  JSON ``-object`` and ``-blockdev`` are checked
whole, nested members too, as QEMU's visitor checks them (the QMP argument
checker, over the impersonated QEMU's schema from its profile).  Otherwise the
discriminator (``qom-type``, ``driver``) is checked against that schema, and of
the other members those the simulator reads, with QEMU's messages (an object's
``id``, a memory backend's ``size``, a block node's ``node-name``, ``filename``
and ``read-only``, an audio backend's ``id``); the rest are taken as given.
A raw or qcow2 node's ``file`` (a node named earlier, or a nested file node)
is made its child, as QEMU makes it.
"""

from __future__ import annotations

from ..machine import ConfigError
from ..machine.options import parse_bool, parse_opts, parse_size
from ..runtime.key_order import first_unexpected

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ..machine import CommandLine
    from ..machine.config import BlockNodeConfig
    from ..qmp.schema_info import SchemaInfo
    from .catalogue import ProfileCatalogue

__all__ = ["audiodev", "blockdev", "device", "object_"]


def _json(location: str, text: str) -> dict[str, object]:
    """``text`` read as QEMU reads a JSON option; it must be an object."""
    from ..qmp.json_reader import JSONError, JSONStreamReader

    results = JSONStreamReader().feed(text.encode("utf-8", "surrogateescape"))
    if not results:
        raise ConfigError("JSON parse error, premature EOI", location)
    first = results[0]
    if isinstance(first, JSONError):
        raise ConfigError(first.desc, location)
    if not isinstance(first.value, dict):
        raise ConfigError("Invalid parameter type, expected: object", location)
    return dict(first.value)


def _keyval(location: str, text: str, implied: str) -> dict[str, object]:
    """``key=value,...``; dotted keys (``file.filename=``) go into nested members,
    as QEMU's keyval parser makes them."""
    values: dict[str, object] = {}
    for item in parse_opts(text, implied=implied):
        head, dot, rest = item.name.partition(".")
        if dot:
            nested = values.setdefault(head, {})
            if isinstance(nested, dict):
                nested[rest] = item.value
        else:
            values[item.name] = item.value
    return values


def _check_members(
    location: str,
    values: dict[str, object],
    members: list[tuple[str, bool]] | None,
    unexpected: str = "Parameter '{}' is unexpected",
) -> None:
    """QEMU's visitor's checks of an object's members: the first required one
    missing (in the type's order), then the first one the type does not have
    (in QEMU's hash table order)."""
    if members is None:
        return
    for name, required in members:
        if required and name not in values:
            raise ConfigError(f"Parameter '{name}' is missing", location)
    known = [name for name, _ in members if name in values]
    extra = first_unexpected(list(values), known)
    if extra is not None:
        raise ConfigError(unexpected.format(extra), location)


# The profile's schema indexed for the argument checker, for the catalogue it
# is of (one per program run).
_schema: tuple[ProfileCatalogue, SchemaInfo] | None = None


def _check_typed(
    location: str, catalogue: ProfileCatalogue, command: str, values: dict[str, object]
) -> None:
    """A JSON option's members, nested ones too, checked as QEMU's QObject input
    visitor checks them: as ``command``'s arguments (its type is the option's)."""
    global _schema
    from ..qmp.arguments import check_arguments
    from ..qmp.schema_info import SchemaInfo
    from ..runtime.errors import WireError

    if _schema is None or _schema[0] is not catalogue:
        _schema = (catalogue, SchemaInfo(catalogue.profile.introspection()))
    try:
        check_arguments(_schema[1], command, values)
    except WireError as err:
        message = _unmasked(_schema[1], err.desc)
        name = message.removeprefix("Invalid parameter type for '")[: -len("', expected: integer")]
        if command == "object-add" and message.endswith("', expected: integer") and "." not in name:
            # An object's own properties (not the members of a struct one) are
            # QOM properties, whose setters word a number they cannot read by
            # its C type; introspection shows only "int": the unsigned word,
            # every integer property's of the types -object takes but a few.
            message = f"Parameter '{name}' expects uint64"
        raise ConfigError(message, location) from None


def _unmasked(schema: SchemaInfo, message: str) -> str:
    """``message`` with an alternate's masked name (introspection numbers the
    types) made the name QEMU's message gives: of the alternates -blockdev and
    -object meet, the one whose branches these are."""
    head, marker, masked = message.rpartition("', expected: ")
    alternate = schema.types.get(masked) if marker and masked.isdigit() else None
    if alternate is None or alternate.get("meta-type") != "alternate":
        return message
    kinds = [schema.types.get(m["type"], {}).get("meta-type") for m in alternate["members"]]
    if "builtin" in kinds and any(m["type"] == "null" for m in alternate["members"]):
        name = "BlockdevRefOrNull"
    elif "enum" in kinds:
        name = "Qcow2OverlapChecks"
    else:
        name = "BlockdevRef"
    return f"{head}{marker}{name}"


def _read(location: str, text: str, implied: str) -> tuple[dict[str, object], bool]:
    """The members, and whether they came as JSON (typed) rather than text."""
    if text.startswith("{"):
        return _json(location, text), True
    return _keyval(location, text, implied), False


def _enum_member(
    location: str, values: dict[str, object], member: str, allowed: tuple[str, ...]
) -> str:
    given = values.get(member)
    if given is None:
        raise ConfigError(f"Parameter '{member}' is missing", location)
    if not isinstance(given, str):
        raise ConfigError(f"Invalid parameter type for '{member}', expected: string", location)
    if given not in allowed:
        raise ConfigError(f"Parameter '{member}' does not accept value '{given}'", location)
    return given


def _str_member(location: str, values: dict[str, object], member: str) -> str:
    given = values.get(member)
    if given is None:
        raise ConfigError(f"Parameter '{member}' is missing", location)
    if not isinstance(given, str):
        raise ConfigError(f"Invalid parameter type for '{member}', expected: string", location)
    return given


def _bool_member(location: str, values: dict[str, object], member: str, typed: bool) -> bool | None:
    given = values.get(member)
    if given is None:
        return None
    if typed:
        if not isinstance(given, bool):
            raise ConfigError(f"Invalid parameter type for '{member}', expected: boolean", location)
        return given
    flag = parse_bool(str(given)) if given in ("on", "off") else None
    if flag is None:
        raise ConfigError(f"Parameter '{member}' expects 'on' or 'off'", location)
    return flag


def object_(cmdline: CommandLine, catalogue: ProfileCatalogue, text: str) -> None:
    """``-object '{"qom-type": T, "id": ID, ...}'`` or ``-object T,id=ID,...``."""
    location = f"-object {text}"
    values, typed = _read(location, text, "qom-type")
    qom_type = _enum_member(
        location, values, "qom-type", catalogue.enum_values("object-add", "qom-type")
    )
    ident = _str_member(location, values, "id")
    if qom_type.startswith("memory-backend-"):
        size = values.get("size")
        if size is None:
            raise ConfigError("Parameter 'size' is missing", location)
        if typed:
            if not isinstance(size, int) or isinstance(size, bool):
                raise ConfigError("Parameter 'size' expects uint64", location)
            values["size"] = size % (1 << 64)
            _check_typed(location, catalogue, "object-add", {**values, "size": size})
        else:
            parsed = parse_size(str(size)) if str(size)[-1:].isalpha() else parse_size(f"{size}b")
            if parsed is None:
                raise ConfigError("Parameter 'size' expects a size value", location)
            values["size"] = parsed
    if typed and not qom_type.startswith("memory-backend-"):
        _check_typed(location, catalogue, "object-add", values)
    # A key=value -object is QEMU's older option syntax, and words it so.
    unexpected = "Parameter '{}' is unexpected" if typed else "Invalid parameter '{}'"
    _check_members(location, values, catalogue.members("object-add", qom_type), unexpected)
    rest = {k: v for k, v in values.items() if k not in ("qom-type", "id")}
    cmdline.object(location, qom_type, ident, rest, keyval=not typed)  # type: ignore[arg-type]


def blockdev(cmdline: CommandLine, catalogue: ProfileCatalogue, text: str) -> None:
    """``-blockdev '{"driver": D, "node-name": N, ...}'`` or ``driver=D,...``."""
    from ..machine.config import BlockNodeConfig

    location = f"-blockdev {text}"
    values, typed = _read(location, text, "driver")
    if typed:
        _check_typed(location, catalogue, "blockdev-add", values)
    driver = _enum_member(
        location, values, "driver", catalogue.enum_values("blockdev-add", "driver")
    )
    node_name = values.get("node-name")
    if node_name is not None and not isinstance(node_name, str):
        raise ConfigError("Invalid parameter type for 'node-name', expected: string", location)
    read_only = _bool_member(location, values, "read-only", typed)
    filename = ""
    if driver in _FILE_DRIVERS:
        filename = _str_member(location, values, "filename")
    _check_members(location, values, catalogue.members("blockdev-add", driver))
    if node_name is None:
        raise ConfigError("'node-name' must be specified for the root node", location)
    if filename:
        _open_image(location, filename, bool(read_only))
    child = _child(cmdline, location, driver, values.get("file"), bool(read_only))
    if child is not None:
        filename = child.filename
    node = BlockNodeConfig(node_name, driver, filename, bool(read_only), child=child)
    cmdline.blockdev(location, node)


def _child(
    cmdline: CommandLine, location: str, driver: str, ref: object, read_only: bool
) -> BlockNodeConfig | None:
    """A raw or qcow2 node's ``file``: a node named earlier, or one made here
    (a file node, named ``node-name`` or as QEMU names nodes); QEMU's errors."""
    from ..machine.config import BlockNodeConfig

    if driver not in ("raw", "qcow2"):
        return None  # listed as given: its children are not simulated
    if isinstance(ref, str):
        child = cmdline.block_node(ref)
        if child is None:
            raise ConfigError(f"Cannot find device='{ref}' nor node-name='{ref}'", location)
    elif isinstance(ref, dict) and ref.get("driver") in _FILE_DRIVERS:
        filename, name = ref.get("filename"), ref.get("node-name")
        if not isinstance(filename, str):
            return None  # (key=value, unchecked) no file name: taken as given
        _open_image(location, filename, read_only)
        if not isinstance(name, str):
            name = cmdline.auto_node_name()
        child = BlockNodeConfig(name, str(ref["driver"]), filename, read_only)
    else:
        return None
    if driver == "qcow2":
        with open(child.filename, "rb") as image:
            if image.read(4) != b"QFI\xfb":
                raise ConfigError("Image is not in qcow2 format", location)
    return child


_FILE_DRIVERS = ("file", "host_device", "host_cdrom")


def _open_image(location: str, filename: str, read_only: bool) -> None:
    """Open the image as QEMU does at start-up, to see that it can; QEMU's error."""
    import os

    from .drives import open_image

    os.close(open_image(location, filename, read_only))


def audiodev(catalogue: ProfileCatalogue, text: str) -> None:
    """``-audiodev '{"id": ID, "driver": D}'`` or ``D,id=ID``: checked, then
    without effect (sound is not simulated)."""
    location = f"-audiodev {text}"
    values, _typed = _read(location, text, "driver")
    _str_member(location, values, "id")
    driver = _enum_member(
        location,
        values,
        "driver",
        catalogue.enum_values("query-audiodevs", "driver", returns=True),
    )
    _check_members(location, values, catalogue.members("query-audiodevs", driver, returns=True))


def device(cmdline: CommandLine, text: str) -> None:
    """``-device '{"driver": D, ...}'`` (JSON) or ``-device D,key=value,...``."""
    if text.startswith("{"):
        location = f"-device {text}"
        cmdline.device_json(location, _json(location, text))  # type: ignore[arg-type]
    else:
        cmdline.device(text)
