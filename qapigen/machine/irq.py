"""Interrupt lines, devices' GPIO lists, and the object tree that names devices.

An :class:`IrqLine` carries a level to whatever handles it (QEMU's
``qemu_irq``).  A device's inputs and outputs come in :class:`GpioList`\\ s,
unnamed or named, and a test may *intercept* them: every level set on an
intercepted line is reported (the line still reaches its handler).

Devices are found by QOM path in a small tree of :class:`QomNode`\\ s:
``/machine``, ``/machine/peripheral/ID`` and ``/machine/peripheral-anon/device[N]``
for ``-device``, the interrupt controller at ``/machine/i440fx/ioapic``.  A
path without a leading ``/`` is *partial*: it names the one object whose path
ends that way (none if several do), as QEMU resolves it.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would slow down every start.
TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    #: handler(n, level)
    IrqHandler = Callable[[int, int], None]


def _ignore(n: int, level: int) -> None:
    pass


class IrqLine:
    """One interrupt line: ``set(level)`` calls its handler with its number."""

    __slots__ = ("handler", "n")

    def __init__(self, n: int, handler: IrqHandler = _ignore) -> None:
        self.n = n
        self.handler = handler

    def set(self, level: int) -> None:
        """Drive the line to ``level``."""
        self.handler(self.n, level)

    @property
    def observed(self) -> bool:
        """Whether a level set on it can make any difference (it has a handler)."""
        return self.handler is not _ignore


class GpioList:
    """A device's input lines and output lines of one name (None: unnamed)."""

    __slots__ = ("inputs", "name", "outputs")

    def __init__(self, name: str | None, inputs: int = 0, handler: IrqHandler = _ignore) -> None:
        self.name = name
        self.inputs = [IrqLine(n, handler) for n in range(inputs)]
        #: The lines the device drives, connected by whoever wires the board.
        self.outputs: list[IrqLine] = []

    def intercept_inputs(self, report: IrqHandler) -> None:
        """Report every level set on an input, then let it through."""
        for line in self.inputs:
            line.handler = _chain(report, line.handler)

    def intercept_outputs(self, report: IrqHandler) -> None:
        """Report every level the device sets on an output, then pass it on."""
        for line in self.outputs:
            line.handler = _chain(report, line.handler)


def _chain(report: IrqHandler, original: IrqHandler) -> IrqHandler:
    def intercepted(n: int, level: int) -> None:
        original(n, level)  # QEMU passes the level on first, then reports it
        report(n, level)

    return intercepted


class QomNode:
    """An object in the tree: a container, or a device with its GPIO lists."""

    __slots__ = ("children", "gpios", "is_device", "name", "parent")

    def __init__(self, name: str, *, is_device: bool = False) -> None:
        self.name = name
        self.is_device = is_device
        self.children: dict[str, QomNode] = {}
        self.parent: QomNode | None = None
        self.gpios: list[GpioList] = []

    def add(self, child: QomNode) -> QomNode:
        """Make ``child`` a child of this node; returns it."""
        child.parent = self
        self.children[child.name] = child
        return child

    def child(self, name: str) -> QomNode:
        """The child called ``name`` (a container, made if missing)."""
        node = self.children.get(name)
        return node if node is not None else self.add(QomNode(name))

    @property
    def path(self) -> str:
        """Its absolute path."""
        parts: list[str] = []
        node: QomNode | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(parts))

    def walk(self) -> Iterator[QomNode]:
        """This node and every node under it."""
        yield self
        for child in self.children.values():
            yield from child.walk()

    def gpio_list(self, name: str | None) -> GpioList | None:
        """Its GPIO list called ``name``, or None."""
        for gpios in self.gpios:
            if gpios.name == name:
                return gpios
        return None


def resolve(root: QomNode, path: str) -> QomNode | None:
    """The node at ``path``: absolute from ``root``, or partial (unique match)."""
    parts = [p for p in path.split("/") if p]
    if path.startswith("/"):
        return _follow(root, parts)
    if not parts:
        return None
    found, ambiguous = _partial(root, parts)
    return None if ambiguous else found


def _follow(node: QomNode, parts: list[str]) -> QomNode | None:
    for part in parts:
        found = node.children.get(part)
        if found is None:
            return None
        node = found
    return node


def _partial(node: QomNode, parts: list[str]) -> tuple[QomNode | None, bool]:
    # QEMU's object_resolve_partial_path(): a match here, or exactly one below.
    found = _follow(node, parts)
    for child in node.children.values():
        below, ambiguous = _partial(child, parts)
        if ambiguous:
            return None, True
        if below is not None:
            if found is not None:
                return None, True
            found = below
    return found, False
