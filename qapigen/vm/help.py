"""What ``qapigen vm`` prints instead of running: QEMU's ``-version``, ``-h``,
``-machine help``, ``-device help`` and ``-cpu help`` as the impersonated QEMU
printed them (from its profile), ``-device MODEL,help`` from the properties it
listed for MODEL, and ``--help``, the program's own help.
"""

from __future__ import annotations

from .options import PROG, CommandLineError, Options
from .output import print_stdout

__all__ = ["OWN_HELP", "print_help"]

#: ``qapigen vm --help``: what the program is, takes and honours.
OWN_HELP = f"""\
usage: {PROG} [QEMU's options] [--count N --qmp-dir DIR] [--profile FILE]

A simulated QEMU machine (x86_64, pc) for what management software sees of
guest panics: run states, -action, pvpanic (ISA and PCI), the ib700 watchdog,
QMP with QEMU's replies and events, qtest.  It takes QEMU's command line, so a
program that starts qemu-system-x86_64 can start it instead; -version, -h and
the help options print what the impersonated QEMU prints (QEMU's own --help is
-h; this is the simulator's).

Simulated:
  -qmp unix:PATH|tcp:HOST:PORT[,server=on][,wait=off]    a QMP monitor
  -qmp stdio                                 a QMP monitor on stdin and stdout
  -chardev socket,id=ID,path=P|host=H,port=N|fd=N[,server=on][,wait=off]
  -chardev stdio,id=ID[,signal=on|off]
  -mon chardev=ID[,id=NAME],mode=control                  a QMP monitor on it
  -qtest CHARDEV [-qtest-log FILE|none]                   QEMU's test protocol
  -S, -action, -no-shutdown, -no-reboot, -watchdog-action
  -device pvpanic|pvpanic-pci|ib700[,...] (key=value or JSON)
  -machine TYPE[,accel=..][,memory-backend=ID][,...], -accel, -enable-kvm
  -m [size=]SIZE
  -smp, -cpu MODEL           (query-cpus-fast, query-hotpluggable-cpus, qom-*)
  -blockdev (file nodes)     (query-block, query-named-block-nodes)
  -drive file=..,format=raw|qcow2,if=ide|floppy|virtio|none,..., IMAGE,
  -hda..-hdd, -cdrom, -fda, -fdb
                             (query-block, query-named-block-nodes)
  -object memory-backend-*,id=..,size=.. / secret,file=.. (key=value or JSON)
  -nodefaults, -nographic, -vga std|none, -nic none, -net none, -serial,
  -parallel, -name, -pidfile, -daemonize, -d guest_errors [-D FILE]
Checked, then without effect:
  other -device models and -object types the profile's QEMU has, -audiodev,
  -uuid, -rtc, -overcommit, -sandbox, -msg, -boot, -display, -trace,
  -no-user-config, -audio none, -monitor, -global
Its own:
  --count N --qmp-dir DIR    N machines in one process, socket DIR/vmNNNN.sock
  --profile FILE             impersonate the QEMU recorded in FILE
                             (qapigen profile record); default: QEMU 10.0.2
  --help                     this text

It refuses to run without a monitor (-qmp, -mon, -qtest or --qmp-dir): nothing
could drive the machine.  Where it differs from QEMU: docs/behaviour.md.
"""


def _typename(device_list: str, driver: str) -> str | None:
    """The device model ``driver`` names (itself or by its alias), from what
    ``-device help`` printed; None: it has none of that name."""
    for line in device_list.splitlines():
        if not line.startswith('name "'):
            continue
        name = line[6 : line.index('"', 6)]
        alias = line.partition(', alias "')[2].partition('"')[0]
        if driver in (name, alias):
            return name
    return None


def _default_text(value: object) -> str:
    """A property's default as QEMU's help writes it: strings bare, booleans
    on/off, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "on" if value else "off"
    from ..qmp.json_writer import encode

    return encode(value)


def _device_properties(options: Options, location: str) -> int:
    """``-device DRIVER,help``: the model's properties, as QEMU prints them (from
    the profile's ``device-list-properties`` answer for it)."""
    from ..machine.options import parse_opts
    from .output import print_stderr

    driver = parse_opts(location.removeprefix("-device "), implied="driver")[0].value
    profile = options.catalogue.profile
    listed = profile.help("-device help")
    typename = _typename(listed[0] if listed else "", driver) or driver
    reply = profile.reply("device-list-properties", {"typename": typename})
    if reply is None:
        if _typename(listed[0] if listed else "", driver) is None:
            print_stderr(f"{PROG}: {location}: Device '{driver}' not found\n")
            return 0
        raise CommandLineError(
            location,
            f"the properties of '{typename}' were not recorded in the profile "
            "(its device-list-properties answers: the models libvirt asks about)",
        )
    if reply.error is not None or not isinstance(reply.value, list):
        # QEMU reports the error, then exits as from any help.
        print_stderr(f"{PROG}: {location}: {reply.error[1] if reply.error else ''}\n")
        return 0
    lines = []
    for prop in reply.value:
        assert isinstance(prop, dict)
        line = f"  {prop['name']}=<{prop['type']}>"
        description, default = prop.get("description"), prop.get("default-value")
        if description is not None or "default-value" in prop:
            line = f"{line:<24} - "
        if description is not None:
            line += str(description)
        if "default-value" in prop:
            line += f" (default: {_default_text(default)})"
        lines.append(line)
    head = f"{typename} options:" if lines else f"There are no options for {typename}."
    print_stdout("".join(f"{line}\n" for line in [head, *sorted(lines)]))
    return 0


def print_help(options: Options) -> int:
    """Print what ``options.help`` asks for; the exit status (0, as QEMU's)."""
    if options.help == "--help":
        print_stdout(OWN_HELP)
        return 0
    assert options.help is not None
    from ..machine import ConfigError

    if options.help.startswith("-device ") and options.help != "-device help":
        try:
            return _device_properties(options, options.help)
        except ConfigError as err:
            raise CommandLineError(err.location, err.message) from None

    try:
        recorded = options.catalogue.profile.help(options.help)
    except ConfigError as err:
        raise CommandLineError(err.location, err.message) from None
    if recorded is None:
        raise CommandLineError(options.help, "the profile did not record what QEMU prints")
    text, status = recorded
    if options.help == "-h":
        # QEMU's usage line names the program as it was started.
        head, found, rest = text.partition("\nusage: ")
        if found:
            text = f"{head}{found}{PROG} {rest.partition(' ')[2]}"
    print_stdout(text)
    return status
