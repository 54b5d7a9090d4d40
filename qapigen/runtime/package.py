"""A generated package's ``__init__``: its names, ``COMMANDS`` and ``EVENTS``,
each loaded from its module when first asked for.

A program that imports a bindings package uses a few of its modules: the
simulated machine answering a guest's panic needs the run states and events,
not the block layer's types.  So the package's ``__init__`` imports none of
its modules (only the type checker sees them imported): :func:`.lazy.lazy_names`
gives it a module ``__getattr__`` (PEP 562) that imports a class's module at
the first use of the class, and :class:`Commands` and :class:`Events` are its
tables, which load an entry's module at its first lookup.

Loading is thread-safe: Python's import lock makes a module's first importer
run it while the others wait; what is then stored (the same objects) is
stored whole, whichever thread stores it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from .commands import CommandInfo
from .events import Event
from .lazy import load_name

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False

if TYPE_CHECKING:
    #: A module's commands, made when the first of them is looked up.
    CommandLoader = Callable[[], dict[str, CommandInfo]]

__all__ = ["Commands", "Events"]


class Commands(Mapping[str, CommandInfo]):
    """A package's ``COMMANDS``: each command's :class:`CommandInfo`, by wire
    name, in the schema's order.

    The commands of one schema module are made together, by their loader,
    when the first of them is looked up (their types imported then).  Names,
    membership, the count and :meth:`method` load nothing.
    """

    __slots__ = ("_entries", "_loaded")

    def __init__(self, entries: dict[str, tuple[str, CommandLoader]]) -> None:
        #: Wire name → (the handler's method, the loader of its module's commands).
        self._entries = entries
        self._loaded: dict[str, CommandInfo] = {}

    def method(self, name: str) -> str:
        """The handler's method for command ``name`` (KeyError if none)."""
        return self._entries[name][0]

    def __getitem__(self, name: str) -> CommandInfo:
        info = self._loaded.get(name)
        if info is None:
            loader = self._entries[name][1]
            self._loaded.update(loader())
            info = self._loaded[name]
        return info

    def get(self, name: str, default: CommandInfo | None = None) -> CommandInfo | None:  # type: ignore[override]
        """The command ``name``'s info, or ``default`` (a server asks at every request)."""
        info = self._loaded.get(name)
        if info is not None:
            return info
        return self[name] if name in self._entries else default

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._entries)!r})"


class Events(Mapping[str, type[Event]]):
    """A package's ``EVENTS``: each event's class, by wire name, in the
    schema's order; a class's module is imported when it is first looked up."""

    __slots__ = ("_classes", "_package")

    def __init__(self, package: str, classes: dict[str, tuple[str, str]]) -> None:
        self._package = package
        #: Wire name → (the class's module in the package, the class's name).
        self._classes = classes

    def __getitem__(self, name: str) -> type[Event]:
        module, cls = self._classes[name]
        loaded = load_name(self._package, module, cls)
        assert isinstance(loaded, type) and issubclass(loaded, Event)
        return loaded

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._classes)!r})"
