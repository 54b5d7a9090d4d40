"""Objects that cannot change once built: the base of the checked model's classes.

The front end makes each object of the model (entities, members, doc blocks
and their sections, source locations, pragmas) as a *draft*, an instance of
a subclass of its class that takes assignments (:func:`draft`), because it
completes them step by step: a member's type is resolved after every type is
defined, a doc block learns what each section describes.  When the model is
complete, :meth:`Immutable.seal` makes each draft an instance of its own
class, which refuses assignment and deletion.  Building pays nothing for the
guard, and a sealed object is an ordinary instance of its class
(``type(x) is Command``) that pickles and copies.  Objects that are complete
when made (a condition) are made sealed.

The model's containers are tuples and the read-only :class:`ReadOnlyDict`
and :class:`ReadOnlyList` (which print, compare and serialize as a dict and a
list do).
"""

from __future__ import annotations

from collections.abc import Iterable

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn, TypeVar

    T = TypeVar("T", bound="Immutable")


class Immutable:
    """Refuses attribute assignment and deletion (see the module's documentation)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"the schema model is immutable ({type(self).__name__}.{name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"the schema model is immutable ({type(self).__name__}.{name})")

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        # How pickle and copy restore the slots: assignment would refuse.
        for name, value in state[1].items():
            object.__setattr__(self, name, value)

    def seal(self) -> None:
        """Make this draft, with its parts, immutable for good; nothing if it is sealed."""
        cls = _SEALED.get(type(self))
        if cls is not None:
            self._seal_parts()
            object.__setattr__(self, "__class__", cls)

    def _seal_parts(self) -> None:
        """Make the draft's containers immutable and seal the parts it owns."""


def seal_each(drafts: Iterable[Immutable], cls: type[Immutable]) -> None:
    """Seal drafts of ``cls``, a class whose objects own no parts to seal.

    What :meth:`Immutable.seal` does for each, without its look-ups: the
    model's most numerous objects (locations, sections) are sealed this way.
    """
    for obj in drafts:
        obj.__class__ = cls


# Each draft class, and the class it is a draft of.
_SEALED: dict[type, type] = {}
_DRAFTS: dict[type, type] = {}


def draft(cls: type[T]) -> type[T]:
    """The class of ``cls``'s drafts: objects that take assignments until sealed."""
    made = _DRAFTS.get(cls)
    if made is None:
        namespace = {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
            "__qualname__": f"{cls.__qualname__} (draft)",
            "__doc__": cls.__doc__,
        }
        made = _DRAFTS[cls] = type(cls.__name__, (cls,), namespace)
        _SEALED[made] = cls
    return made


def _refuse(self: object, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"the schema model is immutable ({type(self).__name__})")


class ReadOnlyDict(dict):  # type: ignore[type-arg]  # generic at run time would need typing
    """A dict that cannot be changed."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type, tuple[dict[Any, Any]]]:
        return ReadOnlyDict, (dict(self),)


class ReadOnlyList(list):  # type: ignore[type-arg]  # generic at run time would need typing
    """A list that cannot be changed."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __reduce__(self) -> tuple[type, tuple[list[Any]]]:
        return ReadOnlyList, (list(self),)
