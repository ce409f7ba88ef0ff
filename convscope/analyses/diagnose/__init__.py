"""Turn a failed trace into one message that names the layer, shows the arithmetic with the
layer's numbers, and says how to fix it.

``classify(failure)`` says what went wrong in numbers (a ``Finding``); ``diagnose`` words it.
The failing op's arguments (``failure.node``), the ops before it (``failure.nodes``) and the
module calls (``failure.calls``, ``failure.all_calls``) are all it reads; nothing here runs torch:
the smallest input that works comes in through the ``smallest`` callback (``probe``).
Checks on graphs that traced fine, and on models that cannot be built, are in ``validate``.

The pieces, in the order ``diagnose`` uses them: ``finding`` (torch's failure read into a
``Finding``), ``origin`` (the layer that was running, the layer that made a tensor),
``context`` (what a message may quote of the model and the input), and the words for each kind
of finding: ``shape_messages``, ``window_messages`` and ``run_messages``.
"""
from __future__ import annotations

from typing import Callable

from ...errors import ConvscopeError, ModelError, TraceError
from . import run_messages, shape_messages, window_messages
from .context import Context
from .finding import Finding, classify, with_pool_check
from .shape_messages import short_input

__all__ = ["Finding", "classify", "diagnose", "with_pool_check"]

_WORDS = {**shape_messages.WORDS, **window_messages.WORDS, **run_messages.WORDS}


def diagnose(failure, model=None, *, input_shapes=None,
             smallest: Callable[[], tuple | None] | None = None,
             one_input: bool = False) -> ConvscopeError:
    """The one error to show for a ``trace.TraceFailure``.

    ``model`` lets the message quote the layer as built; ``input_shapes`` (without the batch)
    lets it refer to the input; ``smallest()`` finds the smallest input that works, when needed;
    ``one_input``: the caller can feed only one tensor, so a shape per argument is no fix.
    """
    if isinstance(failure.cause, ConvscopeError):
        return failure.cause
    failure = with_pool_check(failure, model)
    finding = classify(failure)
    context = Context(model, [list(s) for s in input_shapes or []], smallest, one_input)
    short = short_input(failure, context)
    if short is not None:
        return ModelError(short[0], layer=short[1])
    message = _WORDS.get(finding.kind, _WORDS["other"])(failure, finding, context)
    return (TraceError if finding.kind == "data" else ModelError)(message, layer=finding.layer)
