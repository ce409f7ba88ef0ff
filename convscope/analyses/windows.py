"""Sliding windows: kernel, stride, padding and dilation of conv and pool ops, read from the aten
arguments the trace recorded, and the arithmetic PyTorch does with them.

The output size along one spatial dimension (PyTorch's formula; cs231n writes (W - F + 2P)/S + 1,
which is the same with dilation D = 1 when the division is exact)::

    out = floor((H + 2P - D(K-1) - 1) / S) + 1       e.g. floor((64 + 0 - 4 - 1) / 2) + 1 = 30

``span = H + 2P - D(K-1) - 1`` is how far the window's first row can travel; when S does not divide
it, the last ``span mod S`` rows of the padded input are never inside a window.

Receptive fields are ``analyses/receptive_field.py``'s: explain and sizes read them there.
"""
from __future__ import annotations

from ..graph import Node, record
from ..rules.matmul import ATTENTION_OPS  # noqa: F401  (re-exported beside MATMUL_OPS)

# the names of a layer's spatial axes, by how many it has, and what one step along each is
AXES = {1: ["length"], 2: ["height", "width"], 3: ["depth", "height", "width"]}
UNITS = {"height": "row", "width": "column", "length": "position", "depth": "slice"}


def pixels(spatial: int, plural: bool = True) -> str:
    """One step of the input, in words: a position of a 1-d signal, a pixel of an image."""
    return ("position" if spatial == 1 else "pixel") + "s" * plural

CONV_OPS = ("aten.convolution", "aten._convolution")
MAX_POOL_OPS = ("aten.max_pool1d_with_indices", "aten.max_pool2d_with_indices",
                "aten.max_pool3d_with_indices", "aten.max_pool1d", "aten.max_pool2d",
                "aten.max_pool3d")
AVG_POOL_OPS = ("aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d")
ADAPTIVE_OPS = ("aten._adaptive_avg_pool1d", "aten._adaptive_avg_pool2d",
                "aten._adaptive_avg_pool3d", "aten.adaptive_max_pool1d",
                "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d",
                "aten.adaptive_avg_pool1d", "aten.adaptive_avg_pool2d")
MATMUL_OPS = ("aten.addmm", "aten.mm", "aten.bmm", "aten.matmul", "aten.linear", "aten.baddbmm")
WINDOW_OPS = frozenset(CONV_OPS + MAX_POOL_OPS + AVG_POOL_OPS)
VIEW_OPS = ("aten.view", "aten._unsafe_view", "aten.reshape", "aten.flatten", "aten.squeeze",
            "aten.unsqueeze", "aten.alias", "aten.clone", "aten.contiguous")


def shape_before_views(nodes, ref) -> tuple[int, ...] | None:
    """The last shape of more than two dims that ``ref`` had before the views (flatten, view,
    reshape, ...) that made it, among ``nodes``: a Linear's input before it was flattened. None
    if it was never flattened. The walk stops at a layer's own squeeze: a 1-d pool's output
    [1, 64, 1] is flattened, not the [1, 64, 1, 1] it was squeezed from."""
    shape = None
    while ref is not None and ref.kind == "node" and ref.source < len(nodes):
        node = nodes[ref.source]
        if node.packet not in VIEW_OPS or not node.args or _undoes_unsqueeze(nodes, node):
            break
        ref = node.args[0]
        shape = ref.shape if len(ref.shape) > 2 else shape
    return shape


def _undoes_unsqueeze(nodes, node: Node) -> bool:
    """Whether ``node`` squeezes away the dim its layer added for the op before it: a 1-d pool
    runs as a 2-d one, [1, 64, 6] -> unsqueeze -> [1, 64, 1, 6] -> pool -> [1, 64, 1, 1] ->
    squeeze -> [1, 64, 1]. The height of 1 is PyTorch's, no axis of the model's."""
    ref = node.args[0]
    if node.packet != "aten.squeeze" or getattr(ref, "kind", None) != "node" \
            or ref.source >= len(nodes):
        return False
    op = nodes[ref.source]
    if op.view or op.call != node.call or not op.args or getattr(op.args[0], "kind", None) is None:
        return False
    made = nodes[op.args[0].source] if op.args[0].kind == "node" else None
    return unsqueezed_by_layer(op, made) is not None


def _tuple(value, dims: int, default: int) -> tuple[int, ...]:
    if value is None or value == []:
        return (default,) * dims
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(value)
    return value * dims if len(value) == 1 else value


@record
class Window:
    """One conv or pool op: ``kind`` is conv|transposed|max|avg; tuples hold one value per dim."""

    kind: str
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool = False
    output_padding: tuple[int, ...] = ()
    groups: int = 1

    def effective_kernel(self, dim: int) -> int:
        """D(K-1) + 1: the rows one window spans, holes included."""
        return self.dilation[dim] * (self.kernel[dim] - 1) + 1

    def span(self, size: int, dim: int) -> int:
        # H + 2P - D(K-1) - 1
        return size + 2 * self.padding[dim] - self.dilation[dim] * (self.kernel[dim] - 1) - 1

    def output_size(self, size: int, dim: int) -> int:
        s, p = self.stride[dim], self.padding[dim]
        if self.kind == "transposed":
            # (H - 1)S - 2P + D(K-1) + output_padding + 1
            extra = self.output_padding[dim] if self.output_padding else 0
            return (size - 1) * s - 2 * p + self.effective_kernel(dim) - 1 + extra + 1
        if not self.ceil_mode:
            return self.span(size, dim) // s + 1
        out = -(-self.span(size, dim) // s) + 1
        # PyTorch drops a last window that would start in the right padding
        return out - 1 if (out - 1) * s >= size + p else out

    def formula(self, size: int, dim: int) -> str:
        """The formula with this window's numbers, without the result."""
        k, s, p, d = self.kernel[dim], self.stride[dim], self.padding[dim], self.dilation[dim]
        if self.kind == "transposed":
            extra = self.output_padding[dim] if self.output_padding else 0
            return f"({size} − 1)·{s} − 2·{p} + {d}·({k}−1) + {extra} + 1"
        left, right = ("⌈", "⌉") if self.ceil_mode else ("⌊", "⌋")
        return f"{left}({size} + 2·{p} − {d}·({k}−1) − 1) / {s}{right} + 1"

    def unseen(self, size: int, dim: int) -> tuple[int, int]:
        """(rows at the end of the padded input no window reaches, how many of them are input)."""
        if self.kind == "transposed" or self.ceil_mode or self.span(size, dim) < 0:
            return 0, 0
        rest = self.span(size, dim) % self.stride[dim]
        return rest, max(0, rest - self.padding[dim])

    def skips(self, dim: int) -> int:
        """Rows skipped between windows when the stride is larger than the window (1x1 stride 2)."""
        if self.dilation[dim] != 1:
            return 0
        return max(0, self.stride[dim] - self.effective_kernel(dim))


def window_of(node: Node) -> Window | None:
    """The window of a conv or pool op, defaults filled in as the aten schema has them."""
    packet, args = node.packet, node.args
    if packet not in WINDOW_OPS or not args:
        return None
    dims = len(args[0].shape) - 2
    if dims < 1:
        return None
    if packet in CONV_OPS:
        # input, weight, bias, stride, padding, dilation, transposed, output_padding, groups
        weight = args[1]
        transposed = bool(args[6])
        return Window("transposed" if transposed else "conv", tuple(weight.shape[2:]),
                      _tuple(args[3], dims, 1), _tuple(args[4], dims, 0), _tuple(args[5], dims, 1),
                      output_padding=_tuple(args[7], dims, 0), groups=int(args[8]))
    names = (["kernel_size", "stride", "padding", "dilation", "ceil_mode"] if packet in MAX_POOL_OPS
             else ["kernel_size", "stride", "padding", "ceil_mode"])
    values = dict(zip(names, args[1:]))
    values.update({k: v for k, v in node.kwargs.items() if k in names})
    kernel = _tuple(values["kernel_size"], dims, 1)
    stride = values.get("stride") or kernel
    return Window("max" if packet in MAX_POOL_OPS else "avg", kernel, _tuple(stride, dims, 1),
                  _tuple(values.get("padding"), dims, 0), _tuple(values.get("dilation"), dims, 1),
                  ceil_mode=bool(values.get("ceil_mode", False)))


def unsqueezed_by_layer(node: Node, made: Node | None) -> int | None:
    """The dim of a window op's input that its own layer added with an unsqueeze (in the same
    call), or None: 0 where PyTorch batched an unbatched sample, a spatial dim of 1 where a 1-d
    pool runs as a 2-d one. ``made``: the node that made the op's input (None: the model's)."""
    if made is None or made.packet != "aten.unsqueeze" or made.call != node.call \
            or len(made.args) < 2 or not isinstance(made.args[1], int):
        return None
    return made.args[1] % len(node.args[0].shape)


def own_dims(node: Node, made: Node | None) -> tuple[int, ...]:
    """The spatial dims of a window op that are its layer's own. A 1-d pool runs as a 2-d one on
    its input unsqueezed at dim -2: [1, 8, 50] -> [1, 8, 1, 50], so of the op's dims (0, 1) only
    1 is the layer's; dim 0, a height of 1, is PyTorch's. ``made``: the node that made the op's
    input (None when it is the model's input)."""
    x = node.args[0].shape
    spatial = tuple(range(len(x) - 2))
    added = unsqueezed_by_layer(node, made)
    if added is None:
        return spatial
    # unsqueeze(-2) of a 3-d tensor adds dim 2: spatial 0
    return tuple(d for d in spatial if d != added - 2 or x[2 + d] != 1)
