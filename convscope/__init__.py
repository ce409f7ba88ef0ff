"""convscope: see inside convolutional networks.

    >>> import convscope
    >>> report = convscope.analyze(model, input_size=(3, 224, 224))
    >>> report.totals.params, report.totals.macs
"""
from .api import analyze, summary
from .errors import ConvscopeError, ModelError, TraceError, UsageError
from .memory import largest_batch, training_memory
from .report import Report

__all__ = ["analyze", "summary", "training_memory", "largest_batch", "Report", "ConvscopeError",
           "ModelError", "TraceError", "UsageError"]
__version__ = "0.1.0"
