"""convscope: see inside convolutional networks.

    >>> import convscope
    >>> report = convscope.analyze(model, input_size=(3, 224, 224))
    >>> report.totals.params, report.totals.macs
"""
from .errors import ConvscopeError, ModelError, TraceError, UsageError

__all__ = ["analyze", "summary", "training_memory", "largest_batch", "Report", "ConvscopeError",
           "ModelError", "TraceError", "UsageError"]
__version__ = "0.1.0"

# where each public name lives: those modules import torch, which takes seconds, so they load on
# first use; the command line then starts without torch, and a Ctrl-C while torch loads lands in
# a command, which exits quietly with 130 (it printed a traceback from the import)
_LAZY = {"analyze": "api", "summary": "api", "training_memory": "memory",
         "largest_batch": "memory", "Report": "report"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
