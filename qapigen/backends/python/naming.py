"""How schema names become Python names (see docs/bindings.md, "Names").

One rule, applied the same way everywhere: non-identifier characters become
``_``; enum values are upper-cased; a leading digit gets a ``_`` in front;
names Python or the generated API reserve get a ``_`` behind; and a name
already taken in its scope gets more ``_`` until it is free.
"""

from __future__ import annotations

import re

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")

# Names of the generated API that a member must not shadow.  (Enums' ``value``
# and ``known`` need no place here: enum members are upper-cased, and an
# alternate's one field ``value`` is no member's.)
API_NAMES = frozenset(
    {
        "from_wire",
        "to_wire",
        "NAME",
        "HAS_DATA",
        "QAPI_INFO",
        # Method parameters' names in generated code.
        "self",
        "cls",
    }
)

# Python 3.11's keywords, soft keywords and builtins, fixed here so that the
# generated names do not depend on the Python that runs the generator.
RESERVED = frozenset(
    {
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "BaseException",
        "BaseExceptionGroup",
        "BlockingIOError",
        "BrokenPipeError",
        "BufferError",
        "BytesWarning",
        "ChildProcessError",
        "ConnectionAbortedError",
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "DeprecationWarning",
        "EOFError",
        "Ellipsis",
        "EncodingWarning",
        "EnvironmentError",
        "Exception",
        "ExceptionGroup",
        "False",
        "FileExistsError",
        "FileNotFoundError",
        "FloatingPointError",
        "FutureWarning",
        "GeneratorExit",
        "IOError",
        "ImportError",
        "ImportWarning",
        "IndentationError",
        "IndexError",
        "InterruptedError",
        "IsADirectoryError",
        "KeyError",
        "KeyboardInterrupt",
        "LookupError",
        "MemoryError",
        "ModuleNotFoundError",
        "NameError",
        "None",
        "NotADirectoryError",
        "NotImplemented",
        "NotImplementedError",
        "OSError",
        "OverflowError",
        "PendingDeprecationWarning",
        "PermissionError",
        "ProcessLookupError",
        "RecursionError",
        "ReferenceError",
        "ResourceWarning",
        "RuntimeError",
        "RuntimeWarning",
        "StopAsyncIteration",
        "StopIteration",
        "SyntaxError",
        "SyntaxWarning",
        "SystemError",
        "SystemExit",
        "TabError",
        "TimeoutError",
        "True",
        "TypeError",
        "UnboundLocalError",
        "UnicodeDecodeError",
        "UnicodeEncodeError",
        "UnicodeError",
        "UnicodeTranslateError",
        "UnicodeWarning",
        "UserWarning",
        "ValueError",
        "Warning",
        "ZeroDivisionError",
        "abs",
        "aiter",
        "all",
        "and",
        "anext",
        "any",
        "as",
        "ascii",
        "assert",
        "async",
        "await",
        "bin",
        "bool",
        "break",
        "breakpoint",
        "bytearray",
        "bytes",
        "callable",
        "case",
        "chr",
        "class",
        "classmethod",
        "compile",
        "complex",
        "continue",
        "copyright",
        "credits",
        "def",
        "del",
        "delattr",
        "dict",
        "dir",
        "divmod",
        "elif",
        "else",
        "enumerate",
        "eval",
        "except",
        "exec",
        "exit",
        "filter",
        "finally",
        "float",
        "for",
        "format",
        "from",
        "frozenset",
        "getattr",
        "global",
        "globals",
        "hasattr",
        "hash",
        "help",
        "hex",
        "id",
        "if",
        "import",
        "in",
        "input",
        "int",
        "is",
        "isinstance",
        "issubclass",
        "iter",
        "lambda",
        "len",
        "license",
        "list",
        "locals",
        "map",
        "match",
        "max",
        "memoryview",
        "min",
        "next",
        "nonlocal",
        "not",
        "object",
        "oct",
        "open",
        "or",
        "ord",
        "pass",
        "pow",
        "print",
        "property",
        "quit",
        "raise",
        "range",
        "repr",
        "return",
        "reversed",
        "round",
        "set",
        "setattr",
        "slice",
        "sorted",
        "staticmethod",
        "str",
        "sum",
        "super",
        "try",
        "tuple",
        "type",
        "vars",
        "while",
        "with",
        "yield",
        "zip",
    }
)


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
    """The Python name of a member or type (before de-duplication in its scope)."""
    ident = identifier(name)
    if ident in RESERVED or ident in API_NAMES:
        ident += "_"
    return ident


def type_name(name: str) -> str:
    """The Python name of a type (before de-duplication)."""
    return member_name(name) if name[:1].isalpha() else identifier(name, "Q_")


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
