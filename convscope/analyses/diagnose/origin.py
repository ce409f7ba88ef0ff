"""Where a failure happened, and where the tensors it met came from: the layer that was running,
the layer that made a tensor (looking through reshapes and ops that keep the channels), the shape
a tensor had before it was flattened, and the line of the model's own code that reached torch.
"""
from __future__ import annotations

from ..windows import VIEW_OPS, shape_before_views, window_of


def failing_layer(failure) -> tuple[str | None, str, str]:
    """(qualified name, type, words) of the innermost named module that was running."""
    chain = [c for c in failure.calls if c.name]
    if not chain:
        kind = failure.calls[0].type if failure.calls else "model"
        return None, kind, f"the model's own forward ({kind})"
    return chain[-1].name, chain[-1].type, f"layer {chain[-1].name} ({chain[-1].type})"


def _carried(node, channels: bool):
    """The one data input an op merely carries forward: reshapes, and when ``channels``, ops
    that keep the channel count (ReLU, BatchNorm, pooling). None for any other op."""
    data = [r for r in node.refs if r.kind in ("node", "input")]
    if len(data) != 1:
        return None
    window = window_of(node)
    keeps = (channels and (window is None or window.kind in ("max", "avg")) and node.outputs
             and data[0].shape[1:2] == node.outputs[0].shape[1:2])
    return data[0] if node.packet in VIEW_OPS or keeps else None


def made_by(failure, index: int, channels: bool = False) -> str:
    """The layer whose op ``index`` made a tensor, looking through ``_carried`` ops."""
    nodes, calls = getattr(failure, "nodes", ()), getattr(failure, "all_calls", ())
    if not 0 <= index < len(nodes):
        return "the previous op"
    node = nodes[index]
    while (ref := _carried(node, channels)) is not None:
        if ref.kind == "input":
            return "the model's input"
        node = nodes[ref.source]
    if node.call is not None and node.call < len(calls) and calls[node.call].name:
        return f"layer {calls[node.call].name} ({calls[node.call].type})"
    return "the previous op"


def producer(failure, ref, channels: bool = False) -> str:
    if ref is None or ref.kind == "input":
        return "the model's input"
    return made_by(failure, ref.source, channels) if ref.kind == "node" else "the previous op"


def unflattened(failure, ref):
    """The shape ``ref`` had before the views that flattened it (None if it was not flattened)."""
    return shape_before_views(getattr(failure, "nodes", ()), ref)


def user_line(cause) -> str:
    """``net.py:21: `if y.mean().item() > 0:` ``: the last line of the model's own code (not
    torch's, not convscope's) on the way to ``cause``; "" when there is none."""
    import linecache
    import traceback

    found = None
    for frame, lineno in traceback.walk_tb(getattr(cause, "__traceback__", None)):
        if frame.f_globals.get("__name__", "").split(".")[0] not in ("torch", "convscope"):
            found = (frame.f_code.co_filename, lineno)
    if found is None:
        return ""
    code = linecache.getline(*found).strip()
    return f"{found[0].rsplit('/', 1)[-1]}:{found[1]}" + (f": `{code}`" if code else "")
