"""``qapigen vm`` serves QEMU's whole QMP surface from an impersonation profile.

Real QEMU 10.0.2 and ``qapigen vm`` side by side, same options, raw bytes: the
greeting, ``query-version``, ``query-commands`` and ``query-qmp-schema`` (the
profile's, with the simulator's ``x-guest-*`` commands added as unstable
extensions), recorded answers as this host gives them (the accelerator, KVM),
argument errors of commands the machine does not model, ``query-chardev``,
migration capabilities.  Then what only the simulator has: the documented error
for what was not recorded, answers that describe another host or the recorded
domain withheld, ``--profile FILE``, and the lazy reading of the shipped profile.
"""

from __future__ import annotations

import json
import lzma
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from qapigen import simulator_api
from qapigen.profiles import profile
from qapigen.vm import host
from qapigen.vm.surface import NOT_RECORDED, SHIPPED_GREETING, MachineSurface, ServedProfile

from ..support.paths import REPO
from ..support.qemu import NEGOTIATE, VM, Both, QMPProcess, both_running, command, skip_without_qemu


@pytest.fixture(scope="module")
def tcg() -> Iterator[Both]:
    """Both, as libvirt's second probe round runs them (TCG)."""
    yield from both_running(("-S", "-no-user-config", "-nographic", "-machine", "accel=tcg"))


@pytest.fixture(scope="module")
def kvm_first() -> Iterator[Both]:
    """Both, as libvirt's first probe round runs them (KVM if usable here, else TCG)."""
    yield from both_running(("-S", "-no-user-config", "-nographic", "-machine", "accel=kvm:tcg"))


# -- the greeting and the schema ---------------------------------------------------------


def test_the_greeting_and_version_are_qemus_byte_for_byte(tcg: Both) -> None:
    qemu, ours = (conn.greeting for conn in tcg.conns)
    assert qemu == ours
    for execute in ("query-version", "query-target"):
        q, o = tcg.ask(execute)
        assert q == o


def test_the_shipped_greeting_is_known_without_reading_the_profile() -> None:
    greeting = profile.default().greeting["QMP"]
    assert isinstance(greeting, dict)
    assert (greeting["version"]["qemu"], greeting["version"]["package"]) == SHIPPED_GREETING


def _entries(reply: bytes) -> list[Any]:
    value = json.loads(reply)["return"]
    assert isinstance(value, list)
    return value


def test_query_commands_is_qemus_with_the_guest_commands_first(tcg: Both) -> None:
    q, o = tcg.ask("query-commands")
    theirs, ours = _entries(q), _entries(o)
    extensions = [c for c in ours if c["name"].startswith("x-guest-")]
    assert len(extensions) == 8
    assert ours == extensions + theirs


def test_query_qmp_schema_is_qemus_then_the_guest_commands_as_unstable(tcg: Both) -> None:
    q, o = tcg.ask("query-qmp-schema")
    # QEMU's reply, byte for byte (members in QEMU's order), then the extensions.
    assert o.startswith(q[: -len(b"]}\r\n")] + b", ")
    ours = _entries(o)
    names = [e["name"] for e in ours]
    assert len(names) == len(set(names))
    by_name = {e["name"]: e for e in ours}
    added = ours[len(_entries(q)) :]
    commands = [e for e in added if e["meta-type"] == "command"]
    assert sorted(c["name"] for c in commands) == sorted(
        n for n in simulator_api.COMMANDS if n.startswith("x-guest-")
    )
    for entry in commands:
        assert "unstable" in entry["features"]
        for key in ("arg-type", "ret-type"):
            assert entry[key] in by_name
    write = by_name[by_name["x-guest-io-write"]["arg-type"]]
    assert [m["name"] for m in write["members"]] == ["port", "value"]


# -- recorded answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("execute", "arguments"),
    [
        ("query-kvm", None),
        ("query-machines", None),
        ("query-cpu-definitions", None),
        ("qom-list-types", None),
        ("device-list-properties", {"typename": "virtio-blk-pci"}),
        ("qom-list-properties", {"typename": "max-x86_64-cpu"}),
        ("query-command-line-options", None),
        ("query-tpm-models", None),
        ("query-sev-capabilities", None),
        ("query-sgx-capabilities", None),
        ("query-cpu-model-expansion", {"type": "static", "model": {"name": "host"}}),
        ("query-cpu-model-expansion", {"type": "static", "model": {"name": "max"}}),
    ],
)
def test_recorded_answers_are_what_qemu_says_under_tcg(
    tcg: Both, execute: str, arguments: dict[str, Any] | None
) -> None:
    q, o = tcg.ask(execute, arguments)
    assert q == o


@pytest.mark.parametrize(
    ("execute", "arguments"),
    [
        ("query-kvm", None),
        ("query-cpu-definitions", None),
        ("query-sev-capabilities", None),
        ("query-cpu-model-expansion", {"type": "static", "model": {"name": "host"}}),
    ],
)
def test_answers_that_depend_on_kvm_are_this_hosts(
    kvm_first: Both, execute: str, arguments: dict[str, Any] | None
) -> None:
    q, o = kvm_first.ask(execute, arguments)
    assert q == o


def test_the_probes_questions_are_all_answered_as_qemu_answers(kvm_first: Both) -> None:
    """Every question of libvirt's first probe round, as recorded (the host's CPU model
    is the recording host's here, or the comparison is of the TCG round)."""
    if host.cpu_model() != profile.default().host.get("cpu"):
        pytest.skip("this host's CPU is not the profile's recording host's")
    session = profile.default().sessions["probe"]
    for exchange in session.exchanges:
        if exchange.execute in ("qmp_capabilities", "query-qmp-schema"):
            continue
        q, o = kvm_first.ask(exchange.execute, exchange.arguments)
        assert q == o, exchange.execute


# -- arguments, live commands, state ------------------------------------------------------


@pytest.mark.parametrize(
    ("execute", "arguments"),
    [
        ("query-stats", {"target": "bogus"}),
        ("query-stats", {"target": "vcpu", "vcpus": [1]}),
        ("query-machines", {"compat-props": 1}),
        ("device-list-properties", {}),
        ("qom-list-types", {"zz": 1, "abstract": True, "aa": 2, "implements": 3}),
        ("blockdev-add", {"driver": "qcow2", "node-name": "n", "file": "f", "cache": []}),
        ("query-chardev", {"x": 1}),
        ("migrate-set-capabilities", {"capabilities": [{"capability": "nosuch", "state": True}]}),
    ],
)
def test_argument_errors_of_commands_not_modelled_are_qemus(
    tcg: Both, execute: str, arguments: dict[str, Any]
) -> None:
    q, o = tcg.ask(execute, arguments)
    assert b'"error"' in q
    assert q == o


def test_the_machines_own_commands_stay_live(tcg: Both) -> None:
    q, o = tcg.ask("query-status")
    assert q == o == b'{"return": {"status": "prelaunch", "running": false}}\r\n'
    for conn in tcg.conns:
        conn.send(b'{"execute": "cont"}\n')
        assert b'"RESUME"' in conn.line()
        assert conn.line() == b'{"return": {}}\r\n'
    q, o = tcg.ask("query-status")
    assert q == o == b'{"return": {"status": "running", "running": true}}\r\n'
    # The simulator's guest-side extensions answer from the machine too.
    reply = command(tcg.conns[1], "x-guest-pvpanic-read")
    assert (
        reply
        == b'{"error": {"class": "GenericError", "desc": "The machine has no pvpanic device"}}\r\n'
    )


def test_a_command_with_nothing_recorded_gets_the_documented_error(tcg: Both) -> None:
    q, o = tcg.ask("device-list-properties", {"typename": "pvpanic"})
    assert b'"return"' in q
    desc = NOT_RECORDED.format("device-list-properties")
    assert json.loads(o) == {"error": {"class": "GenericError", "desc": desc}}


# -- query-chardev -------------------------------------------------------------------------


def _chardev_options(folder: Path, ids: Sequence[str]) -> list[str]:
    options = ["-qmp", f"unix:{folder}/second.sock,server=on,wait=off"]
    for n, ident in enumerate(ids):
        options += ["-chardev", f"socket,id={ident},path={folder}/c{n}.sock,server=on,wait=off"]
    options += ["-mon", f"chardev={ids[1]},mode=control"]
    return options


def test_query_chardev_lists_the_monitors_as_qemu_does(tmp_path: Path) -> None:
    rng = random.Random(5)
    ids = ["charmonitor", "serial0"] + [
        "c" + "".join(rng.choice("abcdefghij_-.") for _ in range(rng.randrange(9))) + str(n)
        for n in range(12)
    ]
    replies: list[bytes] = []
    for program in ((skip_without_qemu(),), VM):
        folder = tmp_path / str(len(replies))
        folder.mkdir()
        process = QMPProcess(program, _chardev_options(folder, ids))
        try:
            conn = process.connect()
            assert conn.command(NEGOTIATE) == b'{"return": {}}\r\n'
            reply = command(conn, "query-chardev")
            replies.append(
                reply.replace(str(folder).encode(), b"<D>").replace(process.folder.encode(), b"<F>")
            )
            conn.close()
        finally:
            process.close()
    assert b'"label": "compat_monitor1"' in replies[0]
    mine = b'"filename": "unix:<F>/qmp.sock,server=on", "label": "compat_monitor1"}'
    assert b'{"frontend-open": true, ' + mine in replies[1]
    assert replies[0] == replies[1]


# -- without QEMU: the profile's reading, --profile -----------------------------------


def _surface(accelerator: str = "tcg") -> MachineSurface:
    return MachineSurface(ServedProfile(None, "qapigen.simulator_api"), accelerator, [], list)


def test_answers_describing_the_recorded_domain_are_not_served() -> None:
    machine = _surface()
    with pytest.raises(Exception, match="query-block is not simulated"):
        machine.recorded("query-block", {})
    assert machine.recorded("query-iothreads", {}) == []


def test_kvm_answers_when_the_machine_uses_kvm() -> None:
    assert _surface("kvm").accel == "kvm"
    assert _surface("tcg").accel == "tcg"
    assert _surface("qtest").accel == "tcg"
    assert _surface("kvm").recorded("query-kvm", {}) == {"present": True, "enabled": True}
    assert _surface("tcg").recorded("query-kvm", {}) == {"present": True, "enabled": False}


def test_the_host_cpu_under_kvm_is_answered_only_on_the_recording_hosts_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arguments = {"type": "static", "model": {"name": "host"}}
    monkeypatch.setattr(host, "cpu_model", lambda: profile.default().host["cpu"])
    assert "model" in _surface("kvm").recorded("query-cpu-model-expansion", arguments)
    monkeypatch.setattr(host, "cpu_model", lambda: "Some Other CPU")
    with pytest.raises(Exception, match="query-cpu-model-expansion is not simulated"):
        _surface("kvm").recorded("query-cpu-model-expansion", arguments)
    # Under TCG the host model's expansion is TCG's, whatever the host.
    assert "model" in _surface("tcg").recorded("query-cpu-model-expansion", arguments)


def test_kvm_needs_a_kvm_device(tmp_path: Path) -> None:
    # A device that opens but is not KVM's does not know KVM_GET_API_VERSION.
    assert host.kvm_error("/dev/null") == (
        "kvm version too old",
        "Inappropriate ioctl for device",
    )
    assert host.kvm_error(str(tmp_path / "none")) == (
        "Could not access KVM kernel module: No such file or directory",
        "No such file or directory",
    )
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU @ 1GHz\nflags\t: fpu\n")
    assert host.cpu_model(str(cpuinfo)) == "Test CPU @ 1GHz"
    assert host.cpu_model(str(tmp_path / "none")) is None


def test_starting_reads_no_profile() -> None:
    code = (
        "import sys\n"
        "from qapigen.vm.surface import MachineSurface, ServedProfile\n"
        "served = ServedProfile(None, 'qapigen.simulator_api')\n"
        "MachineSurface(served, 'kvm', [], list)\n"
        "print(*sorted(m for m in sys.modules if m in ('lzma', 'qapigen.profiles')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def _vm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VM, *args], cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read a profile: No such file or directory"),
        (b"plain text", "not an xz-compressed profile: "),
        (lzma.compress(b"[1]"), "not a profile: no 'qapigen-profile' member"),
        (
            lzma.compress(
                b'{"qapigen-profile": 1, "greeting": {"QMP": {}}, "replies": [], "sessions": {}}'
            ),
            "not a profile: its greeting is malformed ('version')",
        ),
        (
            lzma.compress(
                b'{"qapigen-profile": 1, "replies": [], "sessions": {}, "greeting": {"QMP": '
                b'{"version": {"qemu": {"major": 1, "minor": 2, "micro": 3}, "package": ""}}}}'
            ),
            "not a profile: no query-qmp-schema answer of its first probe (KeyError('probe'))",
        ),
    ],
)
def test_a_bad_profile_is_refused_as_a_bad_option(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "p.json.xz"
    if content is not None:
        path.write_bytes(content)
    result = _vm("--profile", str(path), "-qmp", f"unix:{tmp_path}/q.sock,server=on,wait=off")
    assert result.returncode == 1
    assert result.stderr.startswith(f"qapigen vm: --profile {path}: {message}")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "q.sock").exists()


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"names": {"1": 2}, "integers": {}}, "'names' is not an object of type names"),
        ({"integers": {}}, "'names' is not an object of type names"),
        ({"names": {}, "integers": {"7": {"x": "uint7"}}}, "'integers' of '7': not an object"),
    ],
)
def test_a_profile_with_malformed_schema_facts_is_refused(
    tmp_path: Path, facts: dict[str, Any], message: str
) -> None:
    document = profile.load(profile.SHIPPED).document()
    document[profile.SCHEMA_FACTS] = facts
    path = tmp_path / "p.json.xz"
    path.write_bytes(profile.dump(document))
    result = _vm("--profile", str(path), "-qmp", f"unix:{tmp_path}/q.sock,server=on,wait=off")
    assert result.returncode == 1
    prefix = f"qapigen vm: --profile {path}: not a profile: its schema-facts are malformed ("
    assert result.stderr.startswith(prefix + message), result.stderr
    assert result.stderr.count("\n") == 1


def test_another_profile_is_served(tmp_path: Path) -> None:
    document: Any = profile.load(profile.SHIPPED).document()
    package = "Test 1:10.0.2-other"
    document["greeting"]["QMP"]["version"]["package"] = package
    for reply in document["replies"]:
        if isinstance(reply.get("return"), dict) and "package" in reply["return"]:
            reply["return"]["package"] = package
    path = tmp_path / "other.json.xz"
    path.write_bytes(profile.dump(document))
    process = QMPProcess(VM, ("--profile", str(path)))
    try:
        conn = process.connect()
        assert json.loads(conn.greeting)["QMP"]["version"]["package"] == package
        conn.command(NEGOTIATE)
        assert json.loads(command(conn, "query-version"))["return"]["package"] == package
        conn.close()
    finally:
        process.close()


def test_served_schema_builds_from_the_shipped_profile() -> None:
    served = ServedProfile(None, "qapigen.simulator_api")
    schema = served.schema()
    assert schema.command("migrate-pause") is not None
    assert schema.command("migrate-pause").allow_oob  # type: ignore[union-attr]
    assert schema.command("x-guest-reset") is not None
    assert schema.command("no-such-command") is None


def test_the_profile_s_commands_are_served_alike_before_and_after_the_whole_schema() -> None:
    """A command of the profile is looked up and its arguments checked from the
    profile's schema alone until the served schema is needed (the simulator's
    commands, ``query-commands``), and alike once it is built."""
    bad = {"capabilities": [{"capability": "events", "state": 1}]}
    expected = "Invalid parameter type for 'capabilities[0].state', expected: boolean"

    def ask(machine: MachineSurface) -> tuple[bool | None, str]:
        spec = machine.lookup("migrate-set-capabilities")
        with pytest.raises(Exception, match="expected: boolean") as error:
            machine.run("migrate-set-capabilities", bad)
        return (spec.allow_oob if spec else None), str(error.value)

    machine = _surface()
    before = ask(machine)
    assert machine.lookup("no-such-command") is None
    # The simulator's own command needs the whole served schema.
    assert machine.lookup("x-guest-reset") is not None
    names = [c["name"] for c in machine.run("query-commands", {})]
    assert "x-guest-reset" in names and "migrate-set-capabilities" in names
    assert ask(machine) == before == (False, expected)
    assert ask(_surface()) == before


def _chardevs_over_a_socket_pair(program: Sequence[str], folder: Path) -> bytes:
    """``query-chardev`` of ``program`` whose monitor is one end of a socket pair
    (QEMUMachine's way), with a TCP ``-qmp`` a client is connected to and a
    chardev that connected out to a listener of ours."""
    import socket
    import time

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "out.sock"))
    listener.listen(1)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    ours, theirs = socket.socketpair()
    args = [
        *program,
        *("-machine", "none", "-display", "none", "-nodefaults"),
        *("-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"),
        *("-chardev", f"socket,id=out,path={folder}/out.sock"),
        *("-chardev", f"socket,id=pair,fd={theirs.fileno()}"),
        *("-mon", "chardev=pair,mode=control"),
    ]
    process = subprocess.Popen(args, cwd=REPO, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
    theirs.close()
    tcp = accepted = None
    try:
        listener.settimeout(30)
        accepted = listener.accept()[0]  # kept: QEMU sees a peer's end only in its own time
        ours.settimeout(30)
        conn = ours.makefile("rb")
        conn.readline()
        ours.sendall(NEGOTIATE)
        assert conn.readline() == b'{"return": {}}\r\n'
        deadline = time.monotonic() + 30
        while tcp is None:
            try:
                tcp = socket.create_connection(("127.0.0.1", port), timeout=30)
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        tcp.makefile("rb").readline()  # greeted: accepted
        local = tcp.getsockname()[1]
        ours.sendall(b'{"execute": "query-chardev"}\n')
        reply = conn.readline()
        return (
            reply.replace(str(folder).encode(), b"<D>")
            .replace(f":{port},".encode(), b":<PORT>,")
            .replace(f':{local}"'.encode(), b':<PEER>"')
        )
    finally:
        process.kill()
        process.wait()
        for sock in (ours, listener, tcp, accepted):
            if sock is not None:
                sock.close()


def test_query_chardev_describes_connected_sockets_as_qemu_does(tmp_path: Path) -> None:
    replies = []
    for n, program in enumerate(((skip_without_qemu(),), VM)):
        folder = tmp_path / str(n)
        folder.mkdir()
        replies.append(_chardevs_over_a_socket_pair(program, folder))
    assert b'"filename": "unix:", "label": "pair"' in replies[0]
    assert b'"filename": "unix:<D>/out.sock", "label": "out"' in replies[0]
    assert b'"tcp:127.0.0.1:<PORT>,server=on <-> 127.0.0.1:<PEER>"' in replies[0]
    assert replies[0] == replies[1]


def test_a_chardev_whose_peer_has_gone_reads_disconnected(tmp_path: Path) -> None:
    """As QEMU 10.0.2 showed a connected chardev once the listener it had reached
    closed the connection (seen while writing the test above)."""
    import socket

    from qapigen.vm.chardev_info import Chardev

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "l.sock"))
    listener.listen(1)
    out = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    out.connect(str(tmp_path / "l.sock"))
    accepted = listener.accept()[0]
    chardev = Chardev("out", False, sock=out)
    try:
        assert chardev.filename([]) == f"unix:{tmp_path}/l.sock"
        accepted.close()
        assert chardev.filename([]) == f"disconnected:unix:{tmp_path}/l.sock"
    finally:
        for sock in (listener, out):
            sock.close()


_COUNT_READS = """
import sys
from qapigen.profiles import profile
from qapigen.vm.program import main

real = profile.load
def counting(path):
    sys.stderr.write("READ\\n")
    return real(path)
profile.load = counting
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "options",
    [
        ["-machine", "pc-i440fx-10.0"],  # the served profile reads it first
        ["-object", '{"qom-type":"secret","id":"s","data":"x"}'],  # the options' checks do
    ],
    ids=["served-first", "options-first"],
)
def test_a_profile_file_is_read_once(tmp_path: Path, options: list[str]) -> None:
    """--profile FILE: the options' checks and the served schema share one reading."""
    path = tmp_path / "copy.json.xz"
    path.write_bytes(Path(profile.SHIPPED).read_bytes())
    sock = tmp_path / "qmp.sock"
    argv = ["--profile", str(path), "-S", *options, "-qmp", f"unix:{sock},server=on,wait=off"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _COUNT_READS, *argv],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(6000):  # up to 60 s to serve
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.01)
        proc.terminate()
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "terminating on signal 15" in err
    assert err.count("READ\n") == 1, err
