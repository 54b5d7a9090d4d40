"""What the libvirt tests give libvirt and read back: domains, emulators, logs.

Not a test module.  The same domain XML serves every emulator: real QEMU
10.0.2, and ``qapigen vm`` behind a wrapper script (:func:`qapigen_vm_wrapper`).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

REAL_QEMU = "/usr/bin/qemu-system-x86_64"

ON_CRASH = ("destroy", "restart", "preserve", "coredump-destroy", "coredump-restart")


def domain_xml(
    name: str, emulator: str, image: Path, on_crash: str = "destroy", *, acpi: bool = False
) -> str:
    """A TCG PC of 64 MiB with an ISA pvpanic at 0x505, booting ``image``.

    Nothing else: no USB, no balloon, no network, no graphics; ACPI only with
    ``acpi`` (for a guest that answers the power button).  Its uuid follows
    from its name, so that defining it again updates it.
    """
    features = "  <features>\n    <acpi/>\n  </features>\n" if acpi else ""
    return f"""\
<domain type='qemu'>
  <name>{escape(name)}</name>
  <uuid>{uuid.uuid5(uuid.NAMESPACE_URL, "qapigen-test:" + name)}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
{features}  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>{escape(on_crash)}</on_crash>
  <devices>
    <emulator>{escape(emulator)}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file={quoteattr(str(image))}/>
      <target dev='hda' bus='ide'/>
    </disk>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <panic model='isa'>
      <address type='isa' iobase='0x505'/>
    </panic>
  </devices>
</domain>
"""


def qapigen_vm_wrapper(path: Path) -> Path:
    """An ``<emulator>`` for libvirt that runs ``qapigen vm`` with this Python.

    libvirt probes an emulator again whenever its ctime changes: write it
    once per session and leave it alone.
    """
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m qapigen vm "$@"\n')
    path.chmod(0o700)
    return path


# --- the command line libvirt gives the emulator, from the domain's log -----


@dataclass(frozen=True)
class CommandLine:
    """The environment and arguments of one start, as the domain log shows them."""

    env: dict[str, str]
    argv: list[str]


def command_lines(domain_log: str) -> list[CommandLine]:
    """Every start in a domain log (one per ``starting up`` record), oldest first.

    libvirt writes the command line one shell-quoted word (or option and value)
    a line, each but the last ending in `` \\``; environment assignments first.
    """
    starts = []
    lines = domain_log.splitlines()
    for i, line in enumerate(lines):
        if ": starting up libvirt version" not in line:
            continue
        words: list[str] = []
        for cont in lines[i + 1 :]:
            words += shlex.split(cont.removesuffix(" \\"))
            if not cont.endswith(" \\"):
                break
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        starts.append(CommandLine(env, words))
    return starts


_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def normalise(cmd: CommandLine, *, emulator: str, image: Path, name: str) -> list[str]:
    """The arguments with what differs between starts, domains and emulators replaced.

    As ``qapigen.profiles.libvirt.DOMAIN_ARGV`` writes them: the emulator's
    path becomes ``<EMULATOR>``, the domain's name ``<NAME>``, the guest's image
    ``<IMAGE>``, libvirt's folder for this start ``<DOMAIN_DIR>``, uuids
    ``<UUID>`` and the number of a passed descriptor ``<FD>``.  The
    environment is left out (PATH and HOME are the daemon's).
    """
    assert cmd.argv[0] == emulator, cmd.argv[0]
    out = ["<EMULATOR>"]
    # libvirt cuts the name to 20 characters in the folder's.
    domain_dir = re.compile(r"/var/lib/libvirt/qemu/domain-\d+-[^/\"',]+")
    for arg in cmd.argv[1:]:
        arg = arg.replace(str(image), "<IMAGE>")
        arg = domain_dir.sub("<DOMAIN_DIR>", arg)
        arg = _UUID.sub("<UUID>", arg)
        arg = re.sub(r"\bfd=\d+", "fd=<FD>", arg)
        arg = re.sub(r"\bguest=" + re.escape(name) + r"(?=,|$)", "guest=<NAME>", arg)
        out.append(arg)
    return out


# --- libvirt's monitor traffic, from its debug log ----------------------------

# The message keeps its line end, so the descriptor comes on the next line.
_SEND = re.compile(r"QEMU_MONITOR_SEND_MSG: mon=(\S+) msg=(\{.*\})\s*$")
_FD = re.compile(r" fd=(-?\d+)$")
_EVENT = re.compile(r"QEMU_MONITOR_RECV_EVENT: mon=(\S+) event=(\{.*\})\s*$")
_REPLY = re.compile(r"QEMU_MONITOR_RECV_REPLY: mon=(\S+) reply=(\{.*\})\s*$")


@dataclass(frozen=True)
class Message:
    """One QMP message between libvirt and an emulator, from libvirt's debug log.

    ``direction`` is ``"->"`` (libvirt sends; ``fd`` when it passes one) or
    ``"<-"`` (a reply or an event).
    """

    monitor: str
    direction: str
    json: dict[str, Any]
    fd: int | None = None

    def brief(self) -> str:
        """``-> execute {args}`` or ``<- EVENT {data}``; ids, timestamps and fds left out."""
        if self.direction == "->":
            args = self.json.get("arguments")
            suffix = " " + json.dumps(args, sort_keys=True) if args else ""
            return f"-> {self.json['execute']}{suffix}"
        if "event" in self.json:
            data = self.json.get("data")
            suffix = " " + json.dumps(data, sort_keys=True) if data else ""
            return f"<- {self.json['event']}{suffix}"
        return "<- " + ("error" if "error" in self.json else "return")


def monitor_traffic(log: str) -> list[Message]:
    """Every QMP command libvirt sent and every reply and event it received, in order."""
    messages = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if match := _SEND.search(line):
            fd_line = _FD.match(lines[i + 1]) if i + 1 < len(lines) else None
            fd = int(fd_line.group(1)) if fd_line else -1
            msg = Message(match.group(1), "->", json.loads(match.group(2)), fd if fd >= 0 else None)
            messages.append(msg)
        elif match := _EVENT.search(line) or _REPLY.search(line):
            messages.append(Message(match.group(1), "<-", json.loads(match.group(2))))
    return messages


def question(message: Message) -> list[Any]:
    """A command libvirt sent, as the reviewed data lists it: ``[execute]`` or
    ``[execute, arguments]``."""
    execute = message.json["execute"]
    return [execute, message.json["arguments"]] if "arguments" in message.json else [execute]


_PROBE = re.compile(r"Try to probe capabilities of '([^']+)' via QMP, machine none,accel=(\S+)")


def probe_questions(log: str, binary: str) -> dict[str, list[list[Any]]]:
    """What the last probe round of ``binary`` in the debug log asked, by accelerator."""
    rounds: dict[str, list[list[Any]]] = {}
    current: list[list[Any]] | None = None
    for line in log.splitlines():
        if match := _PROBE.search(line):
            current = None
            if match.group(1) == binary:
                current = rounds[match.group(2)] = []
            continue
        if current is not None and (match := _SEND.search(line)):
            current.append(question(Message(match.group(1), "->", json.loads(match.group(2)))))
    return rounds


def matches(seen: list[str], pattern: list[str]) -> bool:
    """Whether ``seen`` is ``pattern`` with some of its optional items (``?item``) left out."""
    if not pattern:
        return not seen
    first, rest = pattern[0], pattern[1:]
    if first.startswith("?"):
        if seen and seen[0] == first[1:] and matches(seen[1:], rest):
            return True
        return matches(seen, rest)
    return bool(seen) and seen[0] == first and matches(seen[1:], rest)


# Commands libvirt sends after each RESET to refresh what it knows; when,
# relative to the rest, varies.
_REFRESH = ("qom-list", "query-block")
# The commands of a simulated guest, played over libvirt's monitor
# (libvirt_guests.py); QEMU has none by this prefix, so libvirt sends none.
GUEST_COMMAND_PREFIX = "x-guest-"


def qmp_summary(log: str, *, after_cont: bool) -> tuple[list[str], list[str]]:
    """The QMP events the emulator sent and the commands libvirt sent, in ``log``.

    Events as ``NAME {data}``; commands as ``execute {arguments}`` (`` +fd`` when
    libvirt passed a descriptor with it), without the refreshing ``qom-list`` and
    ``query-block`` and without a simulated guest's ``x-guest-*``.  With
    ``after_cont``, from the first ``cont`` on (what comes before is the
    domain's start).
    """
    traffic = monitor_traffic(log)
    if after_cont:
        starts = [i for i, m in enumerate(traffic) if m.json.get("execute") == "cont"]
        assert starts, "libvirt sent no cont"
        traffic = traffic[starts[0] :]
    events = [m.brief()[3:] for m in traffic if m.direction == "<-" and "event" in m.json]
    commands = [
        m.brief()[3:] + (" +fd" if m.fd is not None else "")
        for m in traffic
        if m.direction == "->"
        and m.json["execute"] not in _REFRESH
        and not m.json["execute"].startswith(GUEST_COMMAND_PREFIX)
    ]
    return events, commands
