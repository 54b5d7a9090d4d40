"""``-drive`` and a positional disk image: block backends, with QEMU's syntax
and QEMU's errors.

A drive's image is opened here, as QEMU opens it before it makes the machine:
its format is ``format=`` or, as QEMU probes it, ``qcow2`` for a file with
qcow2's magic and ``raw`` (with QEMU's warning) for anything else.  The
drive's nodes (the format node over the file's protocol node) get QEMU's
automatic names, ``#block`` with a counter and two random digits, unless
``node-name=`` names the format node.  Where the drive goes (its bus and unit,
its name, the device the board makes for it) is the machine's business
(:meth:`qapigen.machine.CommandLine.drive`).
"""

from __future__ import annotations

import os

from ..machine import ConfigError
from ..machine.config import BlockNodeConfig
from ..machine.options import id_wellformed, parse_bool, parse_opts
from .output import print_stderr

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ..machine import CommandLine
    from .catalogue import ProfileCatalogue

__all__ = ["DriveParser", "open_image"]

_INTERFACES = ("ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio", "xen", "none")
_SIMULATED_INTERFACES = ("ide", "floppy", "virtio", "none")
_FORMATS = ("raw", "qcow2")
_QCOW2_MAGIC = b"QFI\xfb"
_CACHE_MODES = ("none", "writeback", "writethrough", "directsync", "unsafe")
_AIO_MODES = ("threads", "native", "io_uring")
# Keys QEMU's -drive takes that change nothing the simulator shows (checked,
# where QEMU's check is given, then without effect).
_INERT_KEYS = (
    "werror",
    "rerror",
    "discard",
    "detect-zeroes",
    "addr",
    "serial",
    "auto-read-only",
    "force-share",
    "throttling.iops-total",
    "throttling.bps-total",
)


class DriveParser:
    """The ``-drive`` options of one command line, in order (the automatic
    node names count across them)."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def positional(self, cmdline: CommandLine, path: str) -> None:
        """``qemu-system-x86_64 IMAGE``: QEMU's ``-hda IMAGE``, the first IDE disk."""
        values = {"file": path, "index": "0", "media": "disk"}
        cmdline.open_later(lambda: self._drive(cmdline, path, values, None))

    def legacy(self, cmdline: CommandLine, option: str, path: str) -> None:
        """``-hda``..``-hdd`` (IDE disks 0-3), ``-cdrom`` (the IDE CD-ROM at 2),
        ``-fda``/``-fdb`` (floppies 0-1): QEMU's shorthands for a ``-drive``."""
        if option in ("-fda", "-fdb"):
            values = {"file": path, "index": str(ord(option[-1]) - ord("a")), "if": "floppy"}
        elif option == "-cdrom":
            values = {"file": path, "index": "2", "media": "cdrom"}
        else:
            values = {"file": path, "index": str(ord(option[-1]) - ord("a")), "media": "disk"}
        location = f"{option} {path}"
        cmdline.open_later(lambda: self._drive(cmdline, location, values, None))

    def drive(self, cmdline: CommandLine, catalogue: ProfileCatalogue, text: str) -> None:
        """``-drive file=..,format=..,if=..,index=..,media=..,readonly=..,id=..,...``."""
        location = f"-drive {text}"
        values: dict[str, str] = {}
        for item in parse_opts(text):
            if item.flag_warning is not None:
                cmdline.warnings.append(f"{location}: {item.flag_warning}")
            values["read-only" if item.name == "readonly" else item.name] = item.value
        # QEMU checks the id as it reads the option, the rest once it opens
        # its drives (after the machine type).
        ident = values.get("id")
        if ident is not None:
            if not id_wellformed(ident):
                raise ConfigError(
                    "Parameter 'id' expects an identifier\n"
                    "Identifiers consist of letters, digits, '-', '.', '_', "
                    "starting with a letter.",
                    location,
                )
            if ident in self._ids:
                raise ConfigError(f"Duplicate ID '{ident}' for drive", location)
            self._ids.add(ident)
        cmdline.open_later(lambda: self._drive(cmdline, location, values, catalogue))

    def _drive(
        self,
        cmdline: CommandLine,
        location: str,
        values: dict[str, str],
        catalogue: ProfileCatalogue | None,
    ) -> None:
        values = dict(values)
        ident = values.pop("id", None)
        place: list[int | None] = []
        for key in ("index", "bus", "unit"):
            given = values.pop(key, None)
            if given is not None and not given.lstrip("-").isdigit():
                raise ConfigError(f"Parameter '{key}' expects a number", location)
            place.append(None if given is None else int(given))
        for key in ("read-only", "snapshot", "copy-on-read"):
            if key in values and parse_bool(values[key]) is None:
                raise ConfigError(f"Parameter '{key}' expects 'on' or 'off'", location)
        read_only = parse_bool(values.pop("read-only", "off")) is True
        values.pop("snapshot", None)  # nothing is written: a snapshot changes nothing
        values.pop("copy-on-read", None)
        if values.pop("cache", "writeback") not in _CACHE_MODES:
            raise ConfigError("invalid cache option", location)
        if values.pop("aio", "threads") not in _AIO_MODES:
            raise ConfigError("invalid aio option", location)
        # None: the machine type's default (ide, or none for the none machine).
        interface = values.pop("if", None)
        if interface is not None and interface not in _INTERFACES:
            raise ConfigError(f"unsupported bus type '{interface}'", location)
        media = values.pop("media", "disk")
        if media not in ("disk", "cdrom"):
            raise ConfigError(f"'{media}' invalid media", location)
        cdrom = media == "cdrom"
        read_only = read_only or cdrom
        node_name = values.pop("node-name", None)
        if node_name is not None and not id_wellformed(node_name):
            raise ConfigError(f"Invalid node-name: '{node_name}'", location)
        fmt = values.pop("format", None)
        if fmt is not None and "driver" in values:
            raise ConfigError("Cannot specify both 'driver' and 'format'", location)
        if fmt is None:
            fmt = values.pop("driver", None)
        for key in _INERT_KEYS:
            values.pop(key, None)
        filename = values.pop("file", None)
        if filename is None and (values or fmt is not None):
            raise ConfigError("Must specify either driver or file", location)
        if interface is not None and interface not in _SIMULATED_INTERFACES:
            raise ConfigError(
                f"if={interface} is not simulated (only ide, floppy, virtio and none)", location
            )

        def open_image() -> BlockNodeConfig | None:
            if filename is None:
                return None
            return self._open(
                cmdline, location, filename, fmt, values, read_only, node_name, catalogue
            )

        cmdline.drive(
            location,
            ident,
            interface,
            (place[0], place[1], place[2]),
            cdrom=cdrom,
            open_image=open_image,
        )

    def _open(
        self,
        cmdline: CommandLine,
        location: str,
        filename: str,
        fmt: str | None,
        rest: dict[str, str],
        read_only: bool,
        node_name: str | None,
        catalogue: ProfileCatalogue | None,
    ) -> BlockNodeConfig:
        """The image's nodes, opened as QEMU opens them; QEMU's errors."""
        if fmt is not None and fmt not in _FORMATS:
            known = catalogue.enum_values("blockdev-add", "driver") if catalogue else ()
            if fmt not in known:
                raise ConfigError(f"Unknown driver '{fmt}'", location)
        fd = open_image(location, filename, read_only)
        try:
            magic = os.pread(fd, 4, 0)
        except OSError:
            magic = b""
        finally:
            os.close(fd)
        if fmt is None:
            fmt = "qcow2" if magic == _QCOW2_MAGIC else "raw"
            if fmt == "raw":
                print_stderr(
                    f"WARNING: Image format was not specified for '{filename}' and probing "
                    "guessed raw.\n"
                    "         Automatically detecting the format is dangerous for raw images, "
                    "write operations on block 0 will be restricted.\n"
                    "         Specify the 'raw' format explicitly to remove the restrictions.\n"
                )
        elif fmt not in _FORMATS:
            raise ConfigError(f"format '{fmt}' is not simulated (only raw and qcow2)", location)
        elif fmt == "qcow2" and magic != _QCOW2_MAGIC:
            raise ConfigError("Image is not in qcow2 format", location)
        for key in rest:
            head, dot, option = key.partition(".")
            if dot and head == "file":
                raise ConfigError(
                    f"Block protocol 'file' doesn't support the option '{option}'", location
                )
            raise ConfigError(f"Block format '{fmt}' does not support the option '{key}'", location)
        child = BlockNodeConfig(cmdline.auto_node_name(), "file", filename, read_only)
        name = node_name if node_name is not None else cmdline.auto_node_name()
        return BlockNodeConfig(name, fmt, filename, read_only, child=child)


def open_image(location: str, filename: str, read_only: bool) -> int:
    """The image's file, opened as QEMU opens it at start-up (a descriptor the
    caller closes); QEMU's error when it cannot be."""
    try:
        return os.open(filename, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
    except OSError as err:
        raise ConfigError(
            f"Could not open '{filename}': {os.strerror(err.errno or 0)}", location
        ) from None
