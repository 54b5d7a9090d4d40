"""The Python back end: typed bindings for a schema (``qapigen generate``)."""

from __future__ import annotations

from .generate import GenerateError, generate

__all__ = ["GenerateError", "generate"]
