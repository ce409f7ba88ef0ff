"""The exceptions convscope raises: one base class, a few kinds, each message teaches.

Every message says what was received, what was expected and how to fix it. Errors about one
layer carry its qualified name in ``layer`` so callers can point at it.
"""
from __future__ import annotations


class ConvscopeError(Exception):
    """Base class of every error convscope raises on purpose.

    ``layer`` is the qualified module name the error is about (``"features.3"``), or None.
    """

    def __init__(self, message: str, *, layer: str | None = None):
        super().__init__(message)
        self.layer = layer


class UsageError(ConvscopeError):
    """The request itself is malformed: a bad ``--input``, an unknown model name, a bad option."""


class ModelError(ConvscopeError):
    """The model cannot run on the given input: channel mismatch, collapsed size, bad Linear."""


class TraceError(ConvscopeError):
    """The model runs on real tensors but not on shape-only ones (data-dependent control flow)."""
