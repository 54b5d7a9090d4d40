"""How schema names become Python names (see docs/bindings.md, "Names").

One rule, applied the same way everywhere: non-identifier characters become
``_``; enum values are upper-cased; a leading digit gets a prefix; a keyword
gets a ``_`` behind; and a name already taken in its scope (by another
member, or by what the generated class, module or client defines or names
there) gets ``_`` behind until it is free.  Nothing else: a member ``id``,
``type`` or ``format`` is called so.
"""

from __future__ import annotations

import re

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")

# Python 3.11's keywords, fixed here so that the generated names do not depend
# on the Python that runs the generator.  Soft keywords (``match``, ``case``,
# ``type``, ``_``) are not among them: they are valid names wherever a member's
# name goes.  Builtins are not either: a member ``id`` or ``format`` shadows
# nothing the generated code uses where the member lives.
KEYWORDS = frozenset(
    {
        "False",
        "None",
        "True",
        "and",
        "as",
        "assert",
        "async",
        "await",
        "break",
        "class",
        "continue",
        "def",
        "del",
        "elif",
        "else",
        "except",
        "finally",
        "for",
        "from",
        "global",
        "if",
        "import",
        "in",
        "is",
        "lambda",
        "nonlocal",
        "not",
        "or",
        "pass",
        "raise",
        "return",
        "try",
        "while",
        "with",
        "yield",
    }
)

# The builtins a generated class's body names (its annotations): a member or
# method of that name would stand for them there, to mypy and to
# ``typing.get_type_hints``.
CLASS_BODY_NAMES = frozenset({"bool", "dict", "float", "frozenset", "int", "list", "str", "tuple"})

# What the body of a class with deprecated members names besides (each such
# member is a property).
DEPRECATED_BODY_NAMES = frozenset({"property"})

# What generated structs (and the runtime's ``Struct``) define, and the
# parameter every method has: a member must not take their place.  (Enums'
# ``value`` and ``known`` need no place here: enum members are upper-cased,
# and an alternate's one field ``value`` is no member's.)
STRUCT_NAMES = frozenset({"from_wire", "to_wire", "QAPI_INFO", "self"})

# What generated events (and the runtime's ``Event``) add: a member of an
# event's data must not take their place.
EVENT_NAMES = frozenset({"NAME", "HAS_DATA", "timestamp"})

# What the typed clients (``qapigen.runtime.client``'s ``AsyncClient`` and
# ``SyncClient``, and the generated ``SyncClient``'s ``client``) define, public:
# no command's method may take their place.  tests/backends/python/
# test_naming.py holds this list equal to the runtime's.
CLIENT_NAMES = frozenset(
    {
        "COMMANDS",
        "EVENTS",
        "accept",
        "async_client",
        "client",
        "close",
        "closed",
        "connect",
        "disconnect",
        "events",
        "execute",
        "greeting",
        "is_guest_agent",
        "listen",
        "oob_enabled",
        "pass_fd",
        "qmp",
        "strict",
        "timeout",
        "with_options",
    }
)

# The capitalised builtins that generated modules name (their decoders catch
# them): no type may take their names.
MODULE_NAMES = frozenset({"KeyError", "TypeError"})


def identifier(name: str, prefix: str = "q_") -> str:
    """``name`` as an identifier: rules 1 and 2.

    Other characters than ASCII letters, digits and ``_`` become ``_``; a
    name that then starts with a digit or ``_`` gets ``prefix`` in front
    (QAPI reserves ``q_``, so this cannot collide with another name).
    """
    ident = _NOT_IDENT.sub("_", name) or "_"
    if not ident[0].isalpha():
        ident = prefix + ident
    return ident


def member_name(name: str) -> str:
    """The Python name of a member, command or module (before de-duplication
    in its scope): a keyword gets a ``_`` behind."""
    ident = identifier(name)
    return ident + "_" if ident in KEYWORDS else ident


def type_name(name: str) -> str:
    """The Python name of a type (before de-duplication)."""
    if not name[:1].isalpha():
        return identifier(name, "Q_")
    ident = identifier(name)
    return ident + "_" if ident in KEYWORDS or ident in MODULE_NAMES else ident


def enum_member_name(value: str) -> str:
    """The Python name of an enum value (before de-duplication)."""
    return identifier(value.upper(), "Q_")


def camel(name: str) -> str:
    """``set-action`` → ``SetAction``; ``GUEST_PANICKED`` → ``GuestPanicked``."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    out = "".join(p[:1].upper() + (p[1:].lower() if p.isupper() else p[1:]) for p in parts)
    return identifier(out or "_", "Q_")


class Scope:
    """A namespace in which every name is unique (rule 4)."""

    def __init__(self, taken: frozenset[str] = frozenset()) -> None:
        self._taken = set(taken)

    def claim(self, ident: str) -> str:
        """``ident``, or ``ident`` with ``_`` appended until it is free; now taken."""
        while ident in self._taken:
            ident += "_"
        self._taken.add(ident)
        return ident
