"""The guest's CPU topology: ``-smp``, as QEMU 10.0 reads and completes it.

``-smp`` may be given several times; the keys of later ones replace those of
earlier ones (QEMU merges them into one option group).  What the user leaves
out is worked out as QEMU's ``machine_parse_smp_config()`` does for the
machine type (cores preferred over sockets, threads last); the errors are
QEMU's, word for word.
"""

from __future__ import annotations

from ..runtime.records import NamedTuple
from .errors import ConfigError
from .options import parse_opts, parse_uint64

__all__ = ["SMP_KEYS", "CpuTopology", "SmpOptions"]

# -smp's keys, the first one implied (``-smp 4`` is ``cpus=4``).
SMP_KEYS = (
    "cpus",
    "drawers",
    "books",
    "sockets",
    "dies",
    "clusters",
    "modules",
    "cores",
    "threads",
    "maxcpus",
)
# The levels between sockets and threads that a pc machine's CPUs have; the
# ``none`` machine has neither (so QEMU's messages leave them out).
_PC_LEVELS = ("dies", "modules")


class CpuTopology(NamedTuple):
    """How many vCPUs the guest has, at most, and how they are arranged."""

    cpus: int = 1
    maxcpus: int = 1
    sockets: int = 1
    dies: int = 1
    modules: int = 1
    cores: int = 1
    threads: int = 1
    #: Whether the machine type has dies and modules (the pc machines do).
    pc_levels: bool = True

    def ids(self, index: int) -> dict[str, int]:
        """The topology ids of vCPU ``index`` (``socket-id``, ``core-id`` ...), as
        QEMU's pc machines number them (the inner levels first)."""
        threads, index = index % self.threads, index // self.threads
        cores, index = index % self.cores, index // self.cores
        props: dict[str, int] = {}
        if self.pc_levels:
            modules, index = index % self.modules, index // self.modules
            dies, index = index % self.dies, index // self.dies
            props["socket-id"] = index
            if self.dies > 1:
                props["die-id"] = dies
            if self.modules > 1:
                props["module-id"] = modules
        else:
            props["socket-id"] = index
        props["core-id"] = cores
        props["thread-id"] = threads
        return props


class SmpOptions:
    """Every ``-smp`` given, merged; :meth:`topology` completes them."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def add(self, text: str) -> None:
        """One ``-smp [cpus=]N[,sockets=..,cores=..,threads=..,maxcpus=..]`` (its
        keys are checked as the machine's ``smp`` property, by :meth:`topology`)."""
        for item in parse_opts(text, implied="cpus"):
            self._values[item.name] = item.value

    @property
    def given(self) -> bool:
        """Whether any ``-smp`` was given."""
        return bool(self._values)

    def topology(self, pc_levels: bool, max_cpus: int, machine: str) -> CpuTopology:
        """The topology for a machine type (``pc_levels``: whether it has dies and
        modules; ``max_cpus``: its limit); QEMU's errors, which name no option."""
        given: dict[str, int] = {}
        for key in SMP_KEYS:
            text = self._values.get(key)
            if text is None:
                continue
            number = parse_uint64(text)
            if number is None:
                raise ConfigError(f"Parameter 'smp.{key}' expects integer")
            given[key] = number
        for key in self._values:
            if key not in SMP_KEYS:
                raise ConfigError(f"Parameter 'smp.{key}' is unexpected")
        if any(value == 0 for value in given.values()):
            raise ConfigError(
                "Invalid CPU topology: CPU topology parameters must be greater than zero"
            )
        for key in ("drawers", "books", "clusters") + (() if pc_levels else _PC_LEVELS):
            if given.get(key, 1) > 1:
                raise ConfigError(f"{key} > 1 not supported by this machine's CPU topology")
        cpus = given.get("cpus", 0)
        maxcpus = given.get("maxcpus", 0)
        sockets = given.get("sockets", 0)
        dies = given.get("dies", 1)
        modules = given.get("modules", 1)
        cores = given.get("cores", 0)
        threads = given.get("threads", 0)
        if cpus == 0 and maxcpus == 0:
            sockets, cores, threads = sockets or 1, cores or 1, threads or 1
        else:
            maxcpus = maxcpus or cpus
            # Since QEMU 6.2 the cores are worked out before the sockets.
            if cores == 0:
                sockets, threads = sockets or 1, threads or 1
                cores = maxcpus // (sockets * dies * modules * threads)
            elif sockets == 0:
                threads = threads or 1
                sockets = maxcpus // (dies * modules * cores * threads)
            if threads == 0:
                threads = maxcpus // (sockets * dies * modules * cores)
        total = sockets * dies * modules * cores * threads
        maxcpus = maxcpus or total
        cpus = cpus or maxcpus
        levels = f"sockets ({sockets})"
        if pc_levels:
            levels += f" * dies ({dies}) * modules ({modules})"
        levels += f" * cores ({cores}) * threads ({threads})"
        if total != maxcpus:
            raise ConfigError(
                "Invalid CPU topology: product of the hierarchy must match maxcpus: "
                f"{levels} != maxcpus ({maxcpus})"
            )
        if maxcpus < cpus:
            raise ConfigError(
                "Invalid CPU topology: maxcpus must be equal to or greater than smp: "
                f"{levels} == maxcpus ({maxcpus}) < smp_cpus ({cpus})"
            )
        if maxcpus > max_cpus:
            raise ConfigError(
                f"Invalid SMP CPUs {maxcpus}. The max CPUs supported by machine "
                f"'{machine}' is {max_cpus}"
            )
        return CpuTopology(cpus, maxcpus, sockets, dies, modules, cores, threads, pc_levels)
