"""The exceptions of the schema front end."""

from __future__ import annotations

from .source import SourceInfo


class QAPIError(Exception):
    """A schema cannot be loaded.  ``str()`` is the diagnostic, as QEMU's."""


class QAPISourceError(QAPIError):
    """An error at a place in the schema source."""

    def __init__(self, info: SourceInfo, msg: str, col: int | None = None) -> None:
        super().__init__(msg)
        self.info = info
        self.msg = msg
        self.col = col

    def __str__(self) -> str:
        where = str(self.info)
        if self.col is not None:
            where += f":{self.col}"
        return f"{where}: {self.msg}"


class QAPIParseError(QAPISourceError):
    """A syntax error; it carries a column."""


class QAPISemError(QAPISourceError):
    """A well-formed schema that breaks the language's rules."""
