"""The command line libvirt writes, side by side with real QEMU 10.0.2.

Each refused command line goes to both programs; the exit status and what is
printed after the program's name must be the same.  The help options print
what QEMU prints (from the shipped profile, recorded from the same binary).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..support.paths import REPO
from ..support.qemu import skip_without_qemu

VM = (sys.executable, "-m", "qapigen", "vm")
TIMEOUT = 30.0
DISK = (
    '{"driver":"file","filename":"<TMP>/disk.img","node-name":"libvirt-1-storage",'
    '"read-only":false}'
)
RAM = '{"qom-type":"memory-backend-ram","id":"pc.ram","size":67108864}'


def _run(program: str, args: list[str], tmp: Path) -> tuple[int, str, str]:
    """Exit status, stdout and stderr (the program's name as ``PROG``)."""
    if program == "qemu":
        argv, prefix = [skip_without_qemu()], "qemu-system-x86_64: "
    else:
        argv, prefix = [*VM], "qapigen vm: "
    args = [a.replace("<TMP>", str(tmp)) for a in args]
    proc = subprocess.run(
        [*argv, *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr.replace(prefix, "PROG: ")


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    (tmp_path / "disk.img").write_bytes(bytes(512))
    return tmp_path


# Refused lines (each with -machine and -display none, so that QEMU would not
# open a window had it accepted them).
REFUSED = [
    # JSON and key=value forms of the QAPI-typed options.
    ["-device", '{"driver":"nosuch"}'],
    ["-device", '{"driver":"ide-hd"'],
    ["-device", '{"driver":1}'],
    ["-device", '{"id":"x"}'],
    ["-device", "nosuch"],
    ["-device", "[1]"],
    ["-device", '{"driver":"ib700","id":"w","id":"x"}'],
    ["-machine", "pc", "-device", '{"driver":"pvpanic","ioport":"x"}'],
    ["-machine", "pc", "-device", '{"driver":"pvpanic","ioport":true}'],
    ["-machine", "pc", "-device", '{"driver":"pvpanic","ioport":-1}'],
    ["-machine", "pc", "-device", '{"driver":"pvpanic","ioport":70000}'],
    ["-machine", "pc", "-device", '{"driver":"pvpanic","ioport":1285,"bogus":1}'],
    ["-machine", "pc", "-device", '{"driver":"ide-hd","drive":"nosuch","id":"x"}'],
    [
        "-blockdev",
        "driver=file,filename=<TMP>/disk.img,node-name=n,read-only=on",
        "-device",
        "ide-hd,drive=n",
    ],
    # The key=value devices are made first: the JSON one's error comes second.
    ["-device", '{"driver":"nosuch"}', "-device", "pvpanic,ioport=70000"],
    ["-object", '{"qom-type":"nosuch","id":"a"}'],
    ["-object", "nosuch,id=a"],
    ["-object", '{"id":"a"}'],
    ["-object", '{"qom-type":"memory-backend-ram","size":1}'],
    ["-object", '{"qom-type":"memory-backend-ram","id":"pc.ram"}'],
    ["-object", '{"qom-type":"memory-backend-ram","id":"pc.ram","size":"x"}'],
    ["-object", "memory-backend-ram,id=a"],
    ["-object", "memory-backend-ram,id=a,size=x"],
    ["-object", '{"qom-type":"secret","id":"a"}'],
    ["-object", RAM, "-object", RAM],
    ["-machine", "pc,memory-backend=nosuch"],
    [
        "-machine",
        "pc,memory-backend=pc.ram",
        "-m",
        "64M",
        "-object",
        RAM.replace("67108864", "1048576"),
    ],
    ["-blockdev", '{"driver":"nosuch","node-name":"a"}'],
    ["-blockdev", '{"driver":"file","node-name":"a"}'],
    ["-blockdev", '{"driver":"file","filename":"/nonexistent","node-name":"a"}'],
    ["-blockdev", "driver=file,filename=<TMP>/disk.img"],
    ["-blockdev", "driver=file,filename=<TMP>/disk.img,node-name=a,read-only=x"],
    ["-blockdev", DISK, "-blockdev", DISK],
    # Nested and typed members of JSON -blockdev and -object, as QEMU's visitor checks them.
    ["-blockdev", '{"driver":"raw","node-name":"r","file":{"driver":"file"}}'],
    ["-blockdev", '{"driver":"raw","node-name":"r","file":{"driver":"nosuch","filename":"x"}}'],
    ["-blockdev", '{"driver":"raw","node-name":"r","file":{"driver":"file","filename":1}}'],
    [
        "-blockdev",
        '{"driver":"raw","node-name":"r","file":{"driver":"file","filename":"x","bogus":1}}',
    ],
    ["-blockdev", '{"driver":"raw","node-name":"r","file":1}'],
    ["-blockdev", '{"driver":"qcow2","node-name":"r","file":"x","backing":1}'],
    ["-blockdev", '{"driver":"qcow2","node-name":"r","file":"x","overlap-check":1}'],
    ["-blockdev", '{"driver":"file","node-name":"r","filename":"<TMP>/disk.img","read-only":"x"}'],
    ["-blockdev", '{"driver":"file","node-name":"r","filename":"x","cache":{"direct":"x"}}'],
    ["-blockdev", '{"driver":"file","node-name":"r","filename":"x","cache":[]}'],
    ["-blockdev", '{"driver":"file","node-name":"r","filename":"x","discard":"x"}'],
    ["-blockdev", '{"driver":"file","node-name":1,"filename":"x"}'],
    ["-object", '{"qom-type":"memory-backend-ram","id":"m","size":1048576,"share":"x"}'],
    ["-object", '{"qom-type":"memory-backend-ram","id":"m","size":1048576,"host-nodes":["x"]}'],
    ["-object", '{"qom-type":"memory-backend-ram","id":"m","size":1048576,"host-nodes":1}'],
    ["-object", '{"qom-type":"secret","id":"s","data":1}'],
    ["-object", '{"qom-type":"secret","id":"s","data":"x","format":"x"}'],
    ["-object", '{"qom-type":"memory-backend-ram","id":1,"size":1}'],
    ["-object", '{"qom-type":"throttle-group","id":"t","limits":{"iops-total":"x"}}'],
    ["-object", '{"qom-type":"throttle-group","id":"t","limits":{"bogus":1}}'],
    ["-blockdev", '{"driver":"qcow2","node-name":"q","file":"nosuch"}'],
    [
        "-blockdev",
        '{"driver":"qcow2","node-name":"q","file":{"driver":"file","filename":"<TMP>/disk.img"}}',
    ],
    ["-blockdev", '{"driver":"raw","node-name":"r","file":{"driver":"file","filename":"/x"}}'],
    # A recorded device model's properties given JSON values of the wrong type.
    ["-device", '{"driver":"ide-hd","drive":{"x":1}}'],
    ["-device", '{"driver":"ide-hd","drive":null}'],
    ["-device", '{"driver":"ide-hd","bootindex":"x"}'],
    ["-device", '{"driver":"ide-hd","bootindex":1.5}'],
    ["-device", '{"driver":"ide-hd","bootindex":3000000000}'],
    ["-device", '{"driver":"ide-hd","serial":1}'],
    ["-device", '{"driver":"ide-hd","wwn":"x"}'],
    ["-device", '{"driver":"ide-hd","wwn":1.5}'],
    ["-device", '{"driver":"ide-hd","account-failed":1}'],
    ["-device", '{"driver":"ide-hd","share-rw":"x"}'],
    ["-device", '{"driver":"ide-hd","cyls":-1}'],
    ["-device", '{"driver":"ide-hd","cyls":"x","bogus":1}'],
    ["-device", '{"driver":"virtio-blk-pci","num-queues":70000}'],
    ["-device", '{"driver":"virtio-blk-pci","iothread":1}'],
    # -drive and a positional image (a raw one: QEMU's probing warning first).
    ["-drive", "bogus=1"],
    ["-drive", "file=/nonexistent"],
    ["/nonexistent.img"],
    ["-drive", "file=<TMP>/disk.img,format=nosuch"],
    ["-drive", "file=<TMP>/disk.img,format=qcow2"],
    ["-drive", "file=<TMP>/disk.img,format=raw,if=nosuch"],
    ["-drive", "file=<TMP>/disk.img,format=raw,media=x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,readonly=x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,index=x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,index=4"],
    ["-drive", "file=<TMP>/disk.img,format=raw,unit=2"],
    ["-drive", "file=<TMP>/disk.img,format=raw,if=floppy,index=2"],
    ["-drive", "file=<TMP>/disk.img,format=raw,id=1x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,node-name=1x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,bogus=1"],
    ["-drive", "file=<TMP>/disk.img,format=raw,file.bogus=1"],
    ["-drive", "file=<TMP>/disk.img,format=raw,cache=x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,aio=x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,snapshot=x"],
    ["-drive", "file=<TMP>/disk.img,format=raw,driver=raw"],
    ["-drive", "file=<TMP>/disk.img,format=raw,readonly=on"],
    ["-drive", "media=disk"],
    ["-drive", "file=<TMP>/disk.img,if=none,id=a", "-drive", "if=none,id=a"],
    ["-drive", "if=none,index=0", "-drive", "if=none,index=0"],
    ["<TMP>/disk.img", "-drive", "file=<TMP>/disk.img,format=raw,index=0,readonly=on"],
    ["-hda", "/nonexistent"],
    ["-cdrom", "/nonexistent"],
    ["-fdb", "/nonexistent"],
    ["-hdb", "<TMP>/disk.img", "-hdb", "/nonexistent"],
    ["-hdc", "<TMP>/disk.img", "-cdrom", "/nonexistent"],
    ["-hda", "<TMP>/disk.img", "-drive", "file=/nonexistent,index=0"],
    [
        "-drive",
        "file=<TMP>/disk.img,format=raw,if=none,node-name=n",
        "-drive",
        "if=none,file=<TMP>/disk.img,format=raw,node-name=n,readonly=on",
    ],
    [
        "-drive",
        "file=<TMP>/disk.img,format=raw,if=none,id=a",
        "-device",
        "ide-hd,drive=a",
        "-device",
        "ide-hd,drive=a",
    ],
    ["-drive", "file=<TMP>/disk.img,format=raw", "-device", "ide-hd,drive=ide0-hd0"],
    ["-audiodev", '{"id":"a","driver":"nosuch"}'],
    ["-audiodev", '{"driver":"none"}'],
    # The other options of libvirt's domain command line.
    ["-uuid", "x"],
    ["-uuid", "00000000-0000-4000-8000-00000000000g"],
    ["-uuid", "{00000000-0000-4000-8000-000000000000}"],
    ["-rtc", "base=foo"],
    ["-rtc", "bogus=1"],
    ["-rtc", "base=utc,clock=x"],
    ["-overcommit", "mem-lock=x"],
    ["-overcommit", "foo=on"],
    ["-overcommit", "cpu-pm=x"],
    ["-sandbox", "foo"],
    ["-sandbox", "on,bogus=deny"],
    ["-sandbox", "on,obsolete=x"],
    ["-msg", "timestamp=x"],
    ["-msg", "bogus=on"],
    ["-boot", "strict=x"],
    ["-boot", "bogus=x"],
    ["-smp", "x"],
    ["-smp", "0"],
    ["-smp", "1,sockets=2,cores=1,threads=1"],
    ["-smp", "2,maxcpus=1"],
    ["-smp", "1,sockets=1,cores=1,threads=1", "-smp", "2"],
    ["-machine", "none", "-smp", "2"],
    ["-smp", "300"],
    ["-machine", "q35", "-smp", "5000"],
    ["-m", "size=x"],
    ["-name", "guest=a,debug-threads=x"],
    ["-name", "bogus=a"],
    ["-cpu", "nosuch"],
    ["-accel", "nosuch"],
    ["-accel", "xen"],
    ["-accel", "tcg,bogus=1"],
    ["-accel", "tcg,thread=x"],
    ["-accel", "tcg,tb-size=x"],
    ["-accel", "tcg,one-insn-per-tb=x"],
    ["-accel", "nosuch,bogus=1", "-accel", "tcg,bogus=1"],
    ["-accel", "tcg,bogus=1", "-accel", "nosuch"],
    ["-accel", "nosuch", "-accel", "nosuch2"],
    # Deprecation warnings come first, as QEMU prints them while it reads the line.
    ["-device", "pvpanic-pci,multifunction", "-uuid", "x"],
    ["-device", "pvpanic-pci,nomultifunction", "-device", "nosuch"],
    ["-display", "nosuch"],
    ["-display", "none,bogus=1"],
    ["-machine", "nosuch"],
    ["-machine", "pc,bogus=on"],
    ["-mon", "chardev=nosuch,id=monitor,mode=control"],
    ["-mon", "chardev=c,id=1m,mode=control"],
    ["-mon", "chardev=c,id=m,mode=control", "-mon", "chardev=d,id=m,mode=control"],
    ["-smp", "2,bogus=1"],
    ["-smp", "2,bogus=1,cpus=x"],
    ["-machine", "none", "-smp", "2,dies=2"],
    ["-smp", "2,clusters=2"],
    ["-boot", "order=cc"],
    ["-boot", "order=cdna"],
    ["-boot", "order=e"],
    ["-boot", "once=z"],
    ["-device", "ide-hd,bogus=1,drive=x"],
    ["-device", '{"driver":"ide-hd","id":"d","bogus":1}'],
    [
        "-device",
        '{"driver":"ib700","id":"x"}',
        "-device",
        '{"driver":"pvpanic","id":"x","bogus":1}',
    ],
    ["-device", "pvpanic-pci,id=x", "-device", '{"driver":"ib700","id":"x"}'],
    ["-device", '{"driver":"ib700","id":"x"}', "-device", '{"driver":"nosuch","id":"x"}'],
    ["-device", "pvpanic,id=x", "-device", "ib700,id=x"],
    ["-blockdev", "driver=file,node-name=a,bogus=1,filename=<TMP>/disk.img"],
    ["-blockdev", "driver=raw,node-name=r"],
    [
        "-blockdev",
        "driver=raw,node-name=r,file.driver=file,file.filename=<TMP>/disk.img,bogus.x=1",
    ],
    ["-object", '{"qom-type":"secret","id":"s","data":"x","b":1,"a":2,"zz":3}'],
    ["-object", "secret,id=s,data=x,b=1,a=2,zz=3"],
    ["-object", "memory-backend-ram,id=a,bogus=1"],
    ["-object", "secret,id=s,data=x", "-object", "secret,id=s,data=y"],
    ["-object", '{"qom-type":"secret","id":"s","file":"/nonexistent"}'],
    ["-object", "secret,id=s,file=<TMP>"],
    ["-audiodev", "none,id=a,bogus=1"],
    ["-audiodev", "none,bogus=1"],
    # What QEMU reports first when several things are wrong.
    ["-device", "nosuch", "-machine", "nosuch"],
    ["-device", "nosuch", "-cpu", "nosuch"],
    ["-machine", "none", "-cpu", "nosuch", "-accel", "nosuch"],
    ["-machine", "pc,memory-backend=nosuch", "-cpu", "nosuch"],
    ["-machine", "pc,bogus=1", "-cpu", "nosuch"],
    [
        "-device",
        "nosuch",
        "-blockdev",
        '{"driver":"file","filename":"/nonexistent","node-name":"a"}',
    ],
    ["-cpu", "nosuch", "-object", '{"qom-type":"secret","id":"a"}'],
    ["-uuid", "x", "-machine", "nosuch"],
    ["-version", "-bogus"],
    ["-machine", "help", "-bogus"],
]


@pytest.mark.parametrize("args", REFUSED, ids=" ".join)
def test_refused_as_qemu_refuses(args: list[str], disk: Path) -> None:
    """Same message (after the program's name), same exit status, nothing on stdout."""
    line = ["-display", "none", "-nodefaults", *args]
    if "-machine" not in args and "-M" not in args:
        line = ["-machine", "pc", *line]
    qemu = _run("qemu", line, disk)
    ours = _run("qapigen", line, disk)
    assert qemu[0] == 1, qemu
    assert ours == qemu


HELP = [
    ["-version"],
    ["-machine", "help"],
    ["-M", "help"],
    ["-device", "help"],
    ["-cpu", "help"],
    ["-h"],
    ["-help"],
    ["--help"],  # QEMU's; `qapigen vm --help` is the simulator's own (below)
    ["-version", "-uuid", "x"],
    ["-cpu", "help", "-machine", "help"],
    ["-device", "help", "-cpu", "help"],
    ["-machine", "help", "-uuid", "x"],
    ["-device", "help", "-version"],
    # A recorded model's properties (device-list-properties), as QEMU prints them.
    ["-device", "ide-hd,help"],
    ["-device", "virtio-blk,?"],
    ["-device", "scsi-hd,id=x,help"],
    ["-device", "virtio-gpu-pci,help"],
    ["-device", "usb-redir,help"],
    ["-device", "kvm-pit,help"],
    ["-device", "virtio-net-ccw,help"],
    ["-device", "nosuch,help"],
    ["-device", "ide-hd,help", "-device", "scsi-hd,help"],
    ["-device", "help", "-device", "ide-hd,help"],
    ["-device", "ide-hd,help", "-device", "help"],
    ["-device", "ide-hd,help", "-cpu", "help"],
    ["-device", "ide-hd,help", "-machine", "nosuch"],
    ["-device", "ide-hd,help", "-version"],
]


@pytest.mark.parametrize("args", HELP, ids=" ".join)
def test_help_prints_what_qemu_prints(args: list[str], tmp_path: Path) -> None:
    """-version, -h and the lists, from the profile, exit 0; -h names the program."""
    qemu = _run("qemu", args, tmp_path)
    ours = _run("qapigen", args, tmp_path)
    if args == ["--help"]:
        assert ours[0] == 0 and ours[1].startswith("usage: qapigen vm ")
        assert "docs/behaviour.md" in ours[1]
        return
    expected = qemu[1].replace("usage: qemu-system-x86_64 ", "usage: qapigen vm ", 1)
    assert qemu[0] == 0
    assert ours == (0, expected, qemu[2])


ACTION_HELP = [
    ["-action", "help"],
    ["-action", "panic=pause,help"],
    ["-action", "help", "-version"],
    ["-action", "panic=bogus", "-action", "help"],
    ["-no-shutdown", "-action", "help"],
]


@pytest.mark.parametrize("args", ACTION_HELP, ids=" ".join)
def test_action_help_prints_the_keys_and_fails_as_qemu(args: list[str], tmp_path: Path) -> None:
    """-action help: the keys on stdout as QEMU meets the option, exit status 1."""
    qemu = _run("qemu", args, tmp_path)
    ours = _run("qapigen", args, tmp_path)
    assert qemu[0] == 1 and qemu[1].startswith("action options:\n")
    assert ours == qemu


def test_properties_of_a_model_not_recorded_are_not_made_up(tmp_path: Path) -> None:
    """-device MODEL,help of a model QEMU has whose properties the profile did not
    record: said so, status 1 (QEMU prints them; the simulator cannot)."""
    status, out, err = _run("qapigen", ["-device", "pvpanic,help"], tmp_path)
    assert (status, out) == (1, "")
    assert err == (
        "PROG: -device pvpanic,help: the properties of 'pvpanic' were not recorded in the "
        "profile (its device-list-properties answers: the models libvirt asks about)\n"
    )


def test_libvirts_domain_line_is_accepted_as_qemu_accepts_it(disk: Path) -> None:
    """The whole of libvirt's domain start (its monitor on a socket it made and
    passes down) starts, serves QMP and stops on SIGTERM with status 0."""
    from qapigen.profiles import libvirt

    path = str(disk / "monitor.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    (disk / "master-key.aes").write_bytes(os.urandom(32))
    values = {
        "<NAME>": "t",
        "<DOMAIN_DIR>": str(disk),
        "<UUID>": "00000000-0000-4000-8000-000000000000",
        "<IMAGE>": str(disk / "disk.img"),
        "<FD>": str(listener.fileno()),
    }
    argv = []
    for arg in libvirt.DOMAIN_ARGV[1:]:
        for key, value in values.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    proc = subprocess.Popen(
        [*VM, *argv],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=[listener.fileno()],
    )
    listener.close()
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(TIMEOUT)
        client.connect(path)
        reader = client.makefile("rb")
        assert b'"QMP"' in reader.readline()
        client.sendall(b'{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n')
        assert reader.readline() == b'{"return": {}}\r\n'
        assert reader.readline() == b'{"return": {"status": "prelaunch", "running": false}}\r\n'
        proc.terminate()
        _out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _daemonize(program: str, tmp: Path, *extra: str) -> tuple[int, str, str, str, str]:
    """libvirt's probe line; the parent's status and stderr, the socket and pid file."""
    sock, pidfile = tmp / "qmp.monitor", tmp / "qmp.pid"
    argv = [skip_without_qemu()] if program == "qemu" else [*VM]
    prefix = "qemu-system-x86_64: " if program == "qemu" else "qapigen vm: "
    proc = subprocess.run(
        [
            *argv,
            "-S",
            "-no-user-config",
            "-nodefaults",
            "-nographic",
            "-machine",
            "none,accel=kvm:tcg",
            "-qmp",
            f"unix:{sock},server=on,wait=off",
            "-pidfile",
            str(pidfile),
            "-daemonize",
            *extra,
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return proc.returncode, proc.stderr.replace(prefix, "PROG: "), str(sock), str(pidfile), ""


@pytest.mark.parametrize("program", ["qemu", "qapigen"])
def test_daemonize_returns_once_the_daemon_serves(program: str, tmp_path: Path) -> None:
    """The parent exits 0 with the monitor listening and the pid file holding the
    daemon's pid (a process of its own session, not the parent's child, in /)."""
    status, err, sock, pidfile, _ = _daemonize(program, tmp_path)
    assert (status, err) == (0, "")
    pid = int(Path(pidfile).read_text())
    try:
        with open(f"/proc/{pid}/stat") as fp:
            fields = fp.read().rsplit(")", 1)[1].split()
        # Field 6 of stat(5) is the session; a session of its own, whatever
        # ours is (0 where our session leader is outside this pid namespace).
        assert int(fields[3]) not in (0, os.getsid(0))
        assert int(fields[1]) != os.getpid()  # not our child
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert os.readlink(f"/proc/{pid}/fd/2") == "/dev/null"
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(TIMEOUT)
        client.connect(sock)  # listening already: no retry
        assert b'"QMP"' in client.makefile("rb").readline()
        client.close()
    finally:
        os.kill(pid, 15)


@pytest.mark.parametrize("program", ["qemu", "qapigen"])
def test_daemonize_reports_errors_on_the_parents_stderr(program: str, tmp_path: Path) -> None:
    """An error before the daemon serves: QEMU's message on the parent's stderr, status 1."""
    status, err, _sock, pidfile, _ = _daemonize(
        program, tmp_path, "-qmp", "unix:/nonexistent/x,server=on,wait=off"
    )
    assert status == 1
    assert err == (
        "PROG: -qmp unix:/nonexistent/x,server=on,wait=off: "
        "Failed to bind socket to /nonexistent/x: No such file or directory\n"
    )
    assert not os.path.exists(pidfile)


def test_profile_option_names_the_qemu_impersonated(tmp_path: Path) -> None:
    """--profile FILE: -version and the checks come from that profile; a file
    that is not one is refused, saying why, with status 1."""
    from typing import Any

    from qapigen.profiles import profile

    document: Any = profile.load(profile.SHIPPED).document()
    document["help"]["-version"]["stdout"] = "QEMU emulator version 9.9.9\n"
    path = tmp_path / "other.json.xz"
    path.write_bytes(profile.dump(document))
    status, out, err = _run("qapigen", ["--profile", str(path), "-version"], tmp_path)
    assert (status, out, err) == (0, "QEMU emulator version 9.9.9\n", "")

    (tmp_path / "bad.json.xz").write_bytes(b"not xz")
    status, out, err = _run(
        "qapigen", ["--profile", str(tmp_path / "bad.json.xz"), "-cpu", "qemu64"], tmp_path
    )
    assert status == 1 and out == ""
    bad = tmp_path / "bad.json.xz"
    assert err.startswith(f"PROG: --profile {bad}: not an xz-compressed profile")
    # The same where the command line itself needs the profile.
    status, out, err = _run("qapigen", ["--profile", str(bad), "-object", "x,id=y"], tmp_path)
    assert status == 1 and out == ""
    assert err.startswith(f"PROG: --profile {bad}: not an xz-compressed profile")


@pytest.mark.parametrize(
    "args",
    [
        ["-accel", "nosuch", "-accel", "tcg"],
        ["-accel", "nosuch", "-accel", "nosuch2", "-accel", "tcg,thread=single"],
        ["-device", "pvpanic-pci,multifunction"],
    ],
    ids=" ".join,
)
def test_what_qemu_says_of_a_line_it_runs(args: list[str], tmp_path: Path) -> None:
    """Accelerators it lacks, the one it falls back to, deprecated spellings: the
    same lines on stderr from a program that then runs (and quits, status 0)."""
    said = []
    for program in ("qemu", "qapigen"):
        sock = tmp_path / f"{program}.sock"
        argv, prefix = (
            ([skip_without_qemu()], "qemu-system-x86_64: ")
            if program == "qemu"
            else ([*VM], "qapigen vm: ")
        )
        proc = subprocess.Popen(
            [
                *argv,
                "-display",
                "none",
                "-nodefaults",
                "-machine",
                "pc",
                *args,
                "-qmp",
                f"unix:{sock},server=on,wait=off",
            ],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(TIMEOUT)
            for _ in range(3000):  # up to 30 s for the socket to accept
                try:
                    client.connect(str(sock))
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    time.sleep(0.01)
            reader = client.makefile("rb")
            reader.readline()
            client.sendall(b'{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n')
            _out, err = proc.communicate(timeout=TIMEOUT)
            client.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        said.append((proc.returncode, err.replace(prefix, "PROG: ")))
    assert said[0][0] == 0
    assert said[1] == said[0]
