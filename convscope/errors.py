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


def names_hint(name: str, names) -> str:
    """What follows "no layer 'x'.": the close names, if any, then the first 12 in order
    (``Did you mean: a, b? Its layers: a, b, c and 9 more.``). One helper for every command and
    function that takes a layer name."""
    import difflib

    names = list(dict.fromkeys(names))  # a module called twice (resnet's relu) has two rows
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.3)
    hint = f"Did you mean: {', '.join(close)}? " if close else ""
    more = f" and {len(names) - 12} more" if len(names) > 12 else ""
    return f"{hint}Its layers: {', '.join(names[:12])}{more}."


# the one fix for a model nested deeper than Python's recursion limit lets a trace follow
RECURSION_FIX = "Fix: raise the limit before analysing, e.g. sys.setrecursionlimit(10_000)."


def too_large(which: str) -> str:
    """The words for a number past int64, whichever command or option meets it; ``which`` names
    it (``": --batch 99999999999999999999"``)."""
    return (f"a number is too large for PyTorch, which takes at most {2**63 - 1:,} "
            f"(2**63 - 1){which}.")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a real tensor the machine had no memory for (PyTorch's CPU allocator
    raises a RuntimeError, Python a MemoryError)."""
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)
