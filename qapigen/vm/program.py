"""``qapigen vm``: a simulated QEMU machine behind real QMP sockets.

It takes QEMU's option syntax for what it models, so that a harness that
starts ``qemu-system-x86_64`` can start it unchanged:

- modelled: ``-qmp unix:PATH[,server=on][,wait=off]`` and ``-qmp
  tcp:HOST:PORT,...`` (several allowed), ``-chardev socket,...`` with ``-mon
  chardev=ID[,id=NAME],mode=control`` (a QMP monitor on a socket the program
  listens on, connects to, or was passed as ``fd=N``: QEMU's own harness passes
  one end of a socket pair, libvirt a listening socket; see :mod:`.chardev`),
  ``-qtest CHARDEV`` (QEMU's test protocol, :mod:`qapigen.qtest`) with
  ``-qtest-log FILE|none``, ``-S``, ``-action``, ``-no-shutdown``,
  ``-no-reboot``, ``-watchdog-action``, ``-device pvpanic[,ioport=..][,events=..]``,
  ``-device pvpanic-pci[,addr=..]``, ``-device ib700`` (key=value or JSON),
  ``-nodefaults``, ``-nographic``, ``-vga std|none``, ``-nic none``, ``-net
  none``, ``-m [size=]SIZE``, ``-accel`` and ``-machine accel=`` (``qtest``: the
  virtual clock moves only when a test moves it), ``-machine TYPE`` with
  ``memory-backend=ID`` and ``-object memory-backend-*``, ``-smp`` and ``-cpu``
  (the vCPUs the queries list), ``-blockdev`` (the nodes ``query-block`` and
  ``query-named-block-nodes`` list), ``-name``, ``-pidfile``, ``-daemonize``
  (:mod:`.daemon`), ``-d guest_errors`` with ``-D FILE`` (what QEMU logs of the
  guest's errors, to FILE, else to stderr), and ``-version``, ``-h``, ``-machine
  help``, ``-device help``, ``-cpu help`` (what the impersonated QEMU printed,
  from its profile: :mod:`.help`);
- checked as QEMU checks them, then without effect (nothing the simulator
  shows depends on them): the other ``-device`` models and ``-object`` types
  the profile's QEMU has, ``-audiodev``, ``-uuid``, ``-rtc``, ``-overcommit``,
  ``-sandbox``, ``-msg``, ``-boot``, ``-display``, ``-machine``'s other
  properties;
- accepted and without effect: ``-serial`` and ``-parallel`` (but which ports
  exist), ``-monitor``, ``-no-user-config``, ``-d``'s other
  items, ``-debugcon``, ``-bios``, ``-global``, ``-audio none``,
  ``-trace PATTERN`` (no trace event is written);
- anything else is refused as QEMU refuses an unknown option; a line without
  any monitor is refused too (nothing could drive the machine);
- ``--help`` prints the program's own help, ``--profile FILE`` impersonates the
  QEMU recorded in FILE (default: the shipped profile).

A bad option gets QEMU's message and exit status 1.  SIGTERM, SIGINT and
SIGHUP shut the machine down as QEMU does (``SHUTDOWN`` with reason
``host-signal``, exit status 0); one that comes while the program is already
on its way out changes nothing.  ``-pidfile`` is QEMU's: created 0600, locked
(``fcntl``) for the life of the process, so that a second instance with the
same file is refused, and removed at exit if it is still the file written.
The unix sockets' files are removed at exit too.

``--count N --qmp-dir DIR`` serves N machines from one process, each with its
own socket ``DIR/vmNNNN.sock``.  DIR is created 0700; an existing one must
belong to the user (or root) and not be writable by anyone without the sticky
bit, since whoever may rename files in it could replace the sockets.  The
program raises its file descriptor limit (soft ``RLIMIT_NOFILE``) as far as
the hard limit allows, and refuses a fleet whose sockets cannot all be open.

The machines are served by :mod:`qapigen.qmp.selector_server` (one thread,
no asyncio: importing asyncio alone would double the program's start-up).

TCP sockets listen where the option says; ``wait=on`` (QEMU's default for
a server socket) does not hold the machine back: the simulator starts at
once either way.

This module is the entry point (:func:`main`); the command line is
:mod:`.options`, the machines and their sockets :mod:`.fleet`, and where the
program writes :mod:`.output`.
"""

from __future__ import annotations

import os
import stat

from ..machine.action_options import HelpRequested
from .fleet import Fleet
from .options import PROG, CommandLineError, Options, parse
from .output import StreamLog, print_stderr, print_stdout, quiet_streams

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["main"]

# File descriptors the process holds besides the machines' sockets (standard
# streams, the selector, the loop's wake-up pipe, the pid and log files, ...).
_OWN_DESCRIPTORS = 32


def _descriptor_room(options: Options) -> None:
    """Raise the soft limit on open files as far as the hard one allows; a
    :class:`CommandLineError` when the fleet's listening sockets cannot all be open."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    sockets = options.count * (len(options.monitors) + (options.qmp_dir is not None))
    needed = sockets + _OWN_DESCRIPTORS
    # Without a hard limit the kernel's own cap applies: ask for what is needed.
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError):
            pass  # keep the soft limit there is
    if soft != resource.RLIM_INFINITY and needed > soft:
        raise CommandLineError(
            "--count",
            f"{options.count} machines need {needed} file descriptors, "
            f"but at most {soft} can be open (RLIMIT_NOFILE)",
        )


def _qmp_dir(path: str) -> bool:
    """Make the fleet's folder (mode 0700), or check an existing one; whether it was made.

    An existing folder is refused when someone else could replace the sockets
    in it: it belongs to another user (root aside), or anyone may write to it
    and it lacks the sticky bit.
    """
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # whatever the umask
        return True
    except FileExistsError:
        pass
    except OSError as err:
        raise CommandLineError(f"--qmp-dir {path}", err.strerror or str(err)) from None
    try:
        st = os.stat(path)
    except OSError as err:
        raise CommandLineError(f"--qmp-dir {path}", err.strerror or str(err)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise CommandLineError(f"--qmp-dir {path}", os.strerror(20))  # ENOTDIR
    if st.st_uid not in (os.geteuid(), 0):
        raise CommandLineError(
            f"--qmp-dir {path}",
            f"belongs to another user (uid {st.st_uid}), who could replace the sockets in it",
        )
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise CommandLineError(
            f"--qmp-dir {path}",
            "anyone may write to it and it has no sticky bit, "
            "so anyone could replace the sockets in it",
        )
    return False


class _PidFile:
    """``-pidfile``, as QEMU's ``qemu_write_pidfile()`` keeps it.

    Created 0600 (an existing file is truncated), locked with ``fcntl`` for the
    life of the process so that a second instance is refused (QEMU uses the
    same lock: the two exclude each other too), and removed at exit only if the
    path still names the file written.  Unlike QEMU it is not opened through a
    symbolic link: that would let the link truncate a file it points to.
    """

    def __init__(self, path: str) -> None:
        import fcntl

        self.path = os.path.abspath(path)  # QEMU removes the path it resolved at start
        for _ in range(100):  # another process racing on the same path: try again
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError as err:
                raise CommandLineError(
                    "cannot create PID file", f"Could not create '{path}': {err.strerror}"
                ) from None
            try:
                locked = os.fstat(fd)
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                raise CommandLineError(
                    "cannot create PID file", f"Cannot lock pid file: {err.strerror}"
                ) from None
            try:
                now = os.stat(path)
            except OSError:  # removed since it was opened
                os.close(fd)
                continue
            if (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
                break
            os.close(fd)  # replaced since it was opened
        else:
            raise CommandLineError(
                "cannot create PID file", "Cannot lock pid file: the file keeps changing"
            )
        self._fd = fd
        self._identity = (locked.st_dev, locked.st_ino)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            self.remove()
            raise CommandLineError("cannot create PID file", "Failed to write pid file") from None

    def remove(self) -> None:
        """Remove the file if it is still the one written, then let go of the lock."""
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                os.unlink(self.path)
        except OSError:
            pass  # gone already
        os.close(self._fd)


def main(argv: Sequence[str]) -> int:
    """Run the simulated machine(s); the exit status."""
    try:
        return _main(argv)
    finally:
        quiet_streams()


def _main(argv: Sequence[str]) -> int:
    made_dir = False
    logfile = None
    pidfile = None
    try:
        options = parse(argv)
        if options.help is not None:
            from .help import print_help

            return print_help(options)
        daemon = None
        if options.daemonize:
            from .daemon import Daemon

            daemon = Daemon()  # from here on, this is the daemon
        if options.count > 1:
            _descriptor_room(options)
        if options.qmp_dir is not None:
            made_dir = _qmp_dir(options.qmp_dir)
        log: Callable[[str], None] | None = None
        if options.guest_errors:
            if options.logfile is None:
                log = print_stderr
            else:
                try:
                    logfile = open(options.logfile, "w", encoding="utf-8")  # noqa: SIM115
                except OSError as err:
                    where = f"could not open '{options.logfile}'"
                    raise CommandLineError(where, err.strerror or str(err)) from None
                log = StreamLog(logfile).write
        if options.pidfile:
            pidfile = _PidFile(options.pidfile)
        # The fleet refuses a socket that cannot be made, a machine QEMU would refuse.
        return Fleet(options, log).serve(daemon.ready if daemon is not None else None)
    except CommandLineError as err:
        for warning in err.warnings:
            print_stderr(f"{PROG}: {warning}\n")
        print_stderr(f"{PROG}: {err}\n")
        return 1
    except HelpRequested as err:
        # -action help: QEMU prints the keys as it meets the option, and exits.
        print_stdout(err.text)
        return err.status
    finally:
        if logfile is not None:
            logfile.close()
        if pidfile is not None:
            pidfile.remove()
        if made_dir:
            assert options.qmp_dir is not None
            try:
                os.rmdir(options.qmp_dir)
            except OSError:
                pass  # not empty: what is in it stays
