"""Migration as a QEMU that never migrates answers it.

``qapigen vm`` has no migration stream, so its migration state is always
``none``.  What QEMU does in that state is still answered as QEMU answers it:

* ``migrate-set-capabilities`` is remembered and shows in
  ``query-migrate-capabilities`` (the recorded list, with what was set);
* ``migrate-set-parameters`` is checked as QEMU checks the parameters it would
  have after the change (ranges, powers of two, the bounds one parameter puts
  on another, with QEMU's words), then remembered, and shows in
  ``query-migrate-parameters`` (the recorded defaults, with what was set);
* ``query-migrate`` is empty, ``migrate_cancel`` does nothing, and the
  commands that need a migration under way (``migrate-pause``,
  ``migrate-continue``) give QEMU's errors for the state ``none``.

The defaults come from the profile (``query-migrate-parameters`` as the
recorded QEMU answered it): what a QEMU version's defaults are is a fact of
that version.  Unsigned integers come in as QEMU's input visitor leaves them:
a negative number given for a 64-bit one is taken modulo 2**64.
"""

from __future__ import annotations

from ..runtime.errors import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["COMMANDS", "Migration"]

#: The commands this module answers.
COMMANDS = frozenset(
    {
        "migrate-set-capabilities",
        "query-migrate-capabilities",
        "migrate-set-parameters",
        "query-migrate-parameters",
        "query-migrate",
        "migrate_cancel",
        "migrate-pause",
        "migrate-continue",
    }
)

# Parameters QEMU holds in 64-bit unsigned fields (uint64 and size in the schema).
_UNSIGNED_64 = frozenset(
    {
        "announce-initial",
        "announce-max",
        "announce-rounds",
        "announce-step",
        "max-bandwidth",
        "avail-switchover-bandwidth",
        "downtime-limit",
        "xbzrle-cache-size",
        "max-postcopy-bandwidth",
        "x-vcpu-dirty-limit-period",
        "vcpu-dirty-limit",
    }
)

# The StrOrNull parameters: null stands for "" (QEMU rewrites it so).
_STRING_OR_NULL = ("tls-creds", "tls-hostname", "tls-authz")

_PAGE_SIZE = 4096  # x86_64's target page size


def _range_error(name: str, expectation: str) -> CommandError:
    return CommandError("GenericError", f"Parameter '{name}' expects {expectation}")


class Migration:
    """The migration state of one machine; ``recorded(name, arguments)`` gives the
    profile's answer to a command (:class:`CommandError` when it has none)."""

    def __init__(self, recorded: Callable[[str, dict[str, Any]], Any]) -> None:
        self._recorded = recorded
        self._capabilities: dict[str, bool] = {}
        self._parameters: dict[str, Any] = {}

    def answer(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run ``name`` (one of :data:`COMMANDS`, arguments already checked)."""
        if name == "migrate-set-capabilities":
            for item in arguments["capabilities"]:
                self._capabilities[item["capability"]] = item["state"]
            return {}
        if name == "query-migrate-capabilities":
            listed = self._recorded(name, arguments)
            return [
                dict(c, state=self._capabilities.get(c["capability"], c["state"])) for c in listed
            ]
        if name == "migrate-set-parameters":
            self._set_parameters(arguments)
            return {}
        if name == "query-migrate-parameters":
            return {**self._recorded(name, arguments), **self._parameters}
        if name in ("query-migrate", "migrate_cancel"):
            return {}
        if name == "migrate-pause":
            raise CommandError(
                "GenericError",
                "migrate-pause is currently only supported during postcopy-active "
                "or postcopy-recover state",
            )
        # migrate-continue: from the state it names, which is always none here.
        if arguments["state"] != "none":
            raise CommandError("GenericError", "Migration not in expected state: none")
        return {}

    def _set_parameters(self, arguments: dict[str, Any]) -> None:
        change = dict(arguments)
        for name in _UNSIGNED_64 & change.keys():
            change[name] %= 1 << 64
        for name in _STRING_OR_NULL:
            if name in change and change[name] is None:
                change[name] = ""
        current = {**self._defaults(), **self._parameters}
        self._check({**current, **change}, current)
        self._parameters.update(change)

    def _defaults(self) -> dict[str, Any]:
        try:
            defaults: dict[str, Any] = self._recorded("query-migrate-parameters", {})
        except CommandError:
            return {}  # a profile without them: only what is set is checked
        return defaults

    def _check(self, after: dict[str, Any], now: dict[str, Any]) -> None:
        """QEMU's checks of the parameters ``after`` the change, in QEMU's order
        (the first failing one is reported); ``now`` is before it."""

        def outside(name: str, low: int, high: int) -> bool:
            return name in after and not low <= after[name] <= high

        if outside("throttle-trigger-threshold", 1, 100):
            raise _range_error("throttle_trigger_threshold", "an integer in the range of 1 to 100")
        for name in ("cpu-throttle-initial", "cpu-throttle-increment"):
            if outside(name, 1, 99):
                raise _range_error(name.replace("-", "_"), "an integer in the range of 1 to 99")
        # max_bandwidth's and avail_switchover_bandwidth's bound, SIZE_MAX, is
        # their type's own on a 64-bit host: never failed.
        if outside("downtime-limit", 0, 2000 * 1000):
            raise _range_error("downtime_limit", "an integer in the range of 0 to (2000 * 1000) ms")
        if outside("multifd-channels", 1, 255):
            raise _range_error("multifd_channels", "a value between 1 and 255")
        for name, low, high in (
            ("multifd-zlib-level", 0, 9),
            ("multifd-qatzip-level", 1, 9),
            ("multifd-zstd-level", 0, 20),
        ):
            if outside(name, low, high):
                raise _range_error(name.replace("-", "_"), f"a value between {low} and {high}")
        cache = after.get("xbzrle-cache-size")
        if cache is not None and (cache < _PAGE_SIZE or cache & (cache - 1)):
            raise _range_error(
                "xbzrle_cache_size", "a power of two no less than the target page size"
            )
        if "max-cpu-throttle" in after and not (
            after.get("cpu-throttle-initial", 0) <= after["max-cpu-throttle"] <= 99
        ):
            raise _range_error(
                "max_cpu_throttle", "an integer in the range of cpu_throttle_initial to 99"
            )
        for name, high in (
            ("announce-initial", 100000),
            ("announce-max", 100000),
            ("announce-rounds", 1000),
        ):
            if outside(name, 0, high):
                raise _range_error(name.replace("-", "_"), f"a value between 0 and {high}")
        if outside("announce-step", 1, 10000):
            # QEMU's words say 0, though it refuses 0.
            raise _range_error("announce_step", "a value between 0 and 10000")
        tls = bool(after.get("tls-creds"))
        if self._capabilities.get("zero-copy-send") and (
            after.get("multifd-compression", "none") != "none" or tls
        ):
            raise CommandError(
                "GenericError",
                "Zero copy only available for non-compressed non-TLS multifd migration",
            )
        # QEMU reads this one's compression and TLS from before the change.
        if self._capabilities.get("mapped-ram") and (
            now.get("multifd-compression", "none") != "none" or bool(now.get("tls-creds"))
        ):
            raise CommandError(
                "GenericError",
                "Mapped-ram only available for non-compressed non-TLS multifd migration",
            )
        if outside("x-vcpu-dirty-limit-period", 1, 1000):
            raise _range_error("x-vcpu-dirty-limit-period", "a value between 1 and 1000")
        if "vcpu-dirty-limit" in after and after["vcpu-dirty-limit"] < 1:
            raise CommandError(
                "GenericError", "Parameter 'vcpu_dirty_limit' must be greater than 1 MB/s"
            )
