"""What ``qapigen vm`` prints instead of running: QEMU's ``-version``, ``-h``,
``-machine help``, ``-device help`` and ``-cpu help`` as the impersonated QEMU
printed them (from its profile), and ``--help``, the program's own help.
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
  -chardev socket,id=ID,path=P|host=H,port=N|fd=N[,server=on][,wait=off]
  -mon chardev=ID[,id=NAME],mode=control                  a QMP monitor on it
  -qtest CHARDEV [-qtest-log FILE|none]                   QEMU's test protocol
  -S, -action, -no-shutdown, -no-reboot, -watchdog-action
  -device pvpanic|pvpanic-pci|ib700[,...] (key=value or JSON)
  -machine TYPE[,accel=..][,memory-backend=ID][,...], -accel, -m [size=]SIZE
  -smp, -cpu MODEL           (query-cpus-fast, query-hotpluggable-cpus, qom-*)
  -blockdev (file nodes)     (query-block, query-named-block-nodes)
  -drive file=..,format=raw|qcow2,if=ide|floppy|virtio|none,..., IMAGE (-hda)
                             (query-block, query-named-block-nodes)
  -object memory-backend-*,id=..,size=.. / secret,file=.. (key=value or JSON)
  -nodefaults, -nographic, -vga std|none, -nic none, -net none, -serial,
  -parallel, -name, -pidfile, -daemonize, -d guest_errors [-D FILE]
Checked, then without effect:
  other -device models and -object types the profile's QEMU has, -audiodev,
  -uuid, -rtc, -overcommit, -sandbox, -msg, -boot, -display, -trace,
  -no-user-config, -enable-kvm, -audio none, -monitor, -global
Its own:
  --count N --qmp-dir DIR    N machines in one process, socket DIR/vmNNNN.sock
  --profile FILE             impersonate the QEMU recorded in FILE
                             (qapigen profile record); default: QEMU 10.0.2
  --help                     this text

It refuses to run without a monitor (-qmp, -mon, -qtest or --qmp-dir): nothing
could drive the machine.  Where it differs from QEMU: docs/behaviour.md.
"""


def print_help(options: Options) -> int:
    """Print what ``options.help`` asks for; the exit status (0, as QEMU's)."""
    if options.help == "--help":
        print_stdout(OWN_HELP)
        return 0
    assert options.help is not None
    from ..machine import ConfigError

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
