"""Turn a failed trace into one message that names the layer and says how to fix it."""
from __future__ import annotations

from ..errors import ConvscopeError, ModelError, TraceError

DATA_DEPENDENT = ("item()", "data-dependent", "DataDependentOutput", "DynamicOutputShape",
                  "meta tensors", "Cannot copy out of meta tensor", "data_ptr", "numpy()")


def _where(failure) -> tuple[str | None, str]:
    chain = [c for c in failure.calls if c.name]
    if not chain:
        return None, "the model's own forward"
    call = chain[-1]
    return call.name, f"layer {call.name} ({call.type})"


def diagnose(failure) -> ConvscopeError:
    """The error to show for a ``trace.TraceFailure``."""
    layer, where = _where(failure)
    cause = failure.cause
    if isinstance(cause, ConvscopeError):
        return cause
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    op = f" in {failure.node.op}" if failure.node is not None else ""
    if any(marker in f"{type(cause).__name__} {cause}" for marker in DATA_DEPENDENT):
        return TraceError(
            f"{where} needs real tensor values{op}: {text}. Shape-only analysis cannot follow "
            "control flow that reads tensor values (.item(), data-dependent shapes). "
            "Run with --real (Python: real=True) to analyse with a real random input.",
            layer=layer,
        )
    return ModelError(f"{where} failed{op}: {text}", layer=layer)
