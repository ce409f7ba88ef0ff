"""Ops whose shape-only kernels are slow, answered by the shapes PyTorch's CPU kernel returns.

On the meta device many kernels are Python: ``native_batch_norm`` and its backward run
decompositions of ~3-4 ms a call (two thirds of a ResNet-50 trace once), ``hardtanh`` (ReLU6)
~2 ms, hardswish ~8 ms, and convolution, add/sub/mul and cat work out shapes, promotion and
layouts with symbolic-shape helpers at ~0.1-2 ms; several import TorchDynamo and sympy on first
use (~1-2 s). Their outputs are fully determined by their inputs' shapes, dtypes and layouts,
so for the common cases we build them with ``torch.empty_strided`` or ``torch.empty``. A fast
path returns NotImplemented for every other case, and for every input the kernel would reject,
so PyTorch's own error messages still reach ``analyses.diagnose``; ``run_op`` uses none for a
tensor that holds values.
One module a family of ops, each fast path named after its op: ``conv``, ``norms`` (batch,
layer, group), ``pooling``, ``upsampling``, ``activations`` (GELU and softmax too),
``arithmetic`` (Linear's addmm and an optimizer's in-place ops too), ``attention`` (the
CPU's fused op), ``embedding`` (EmbeddingBag, whose meta kernel's bookkeeping shapes are not
the CPU's), ``loss`` and ``tensors`` (cat, empty); ``layout`` holds the layout checks they
share. ``FAST_PATHS`` below is the one table of which op goes to which fast path.
Sizes go to ``torch.empty`` as separate ints: it parses them ~0.7 us faster than one tuple, and
~1.4 us faster than a ``torch.Size``.
``tests/trace/test_fastpaths.py`` (CNN ops) and ``tests/trace/test_fastpaths_modern.py`` (the
ops of today's architectures: ConvNeXt, ViT, U-Net, YOLO's neck, and the Adam step) pin each
answer (shape, dtype, strides) against the real CPU kernel, so an upgrade of PyTorch cannot
silently change our numbers; every case not covered there returns NotImplemented for PyTorch's
own kernel (and error).
"""
from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensor

from .activations import (_activation_backward, _gelu, _gelu_backward, _hardtanh, _hardtanh_,
                          _relu, _relu_, _safe_softmax, _softmax, _softmax_backward_data)
from .arithmetic import (_add_, _addmm, _div, _mul_, _number_binary, _pointwise_,
                         _same_layout_binary)
from .attention import _flash_attention_for_cpu, _flash_attention_for_cpu_backward
from .conv import _convolution
from .embedding import _embedding_bag, _embedding_bag_forward_only
from .loss import _mean, _nll_loss_backward, _nll_loss_forward
from .norms import (_native_batch_norm, _native_batch_norm_backward, _native_group_norm,
                    _native_group_norm_backward, _native_layer_norm, _native_layer_norm_backward)
from .pooling import _adaptive_avg_pool2d, _avg_pool2d, _max_pool2d_with_indices, _mean_dim
from .tensors import _cat, _empty, _empty_like
from .upsampling import _upsample_bilinear2d, _upsample_nearest2d

aten = torch.ops.aten


def _one_entry_per_op(*entries) -> dict:
    """{op: fast path}. A dict literal would let a second entry for an op silently replace the
    first; here it is an error at import."""
    table = {}
    for op, fast in entries:
        if op in table:
            raise ValueError(f"FAST_PATHS: {op} has two fast paths, {table[op].__name__} and "
                             f"{fast.__name__}; keep the one the tests pin and remove the other")
        table[op] = fast
    return table


FAST_PATHS = _one_entry_per_op(
    (aten.convolution.default, _convolution),
    # norms
    (aten.native_batch_norm.default, _native_batch_norm),
    (aten.native_batch_norm_backward.default, _native_batch_norm_backward),
    (aten.native_layer_norm.default, _native_layer_norm),
    (aten.native_layer_norm_backward.default, _native_layer_norm_backward),
    (aten.native_group_norm.default, _native_group_norm),
    (aten.native_group_norm_backward.default, _native_group_norm_backward),
    # pooling and upsampling
    (aten.max_pool2d_with_indices.default, _max_pool2d_with_indices),
    (aten.avg_pool2d.default, _avg_pool2d),
    (aten._adaptive_avg_pool2d.default, _adaptive_avg_pool2d),
    (aten.mean.dim, _mean_dim),
    (aten.upsample_bilinear2d.default, _upsample_bilinear2d),
    (aten.upsample_nearest2d.default, _upsample_nearest2d),
    # activations, in place and not, and their gradients
    (aten.relu_.default, _relu_),
    (aten.relu.default, _relu),
    (aten.hardtanh_.default, _hardtanh_),
    (aten.hardtanh.default, _hardtanh),
    (aten.hardswish_.default, _relu_),
    (aten.hardswish.default, _relu),
    (aten.hardsigmoid_.default, _relu_),
    (aten.hardsigmoid.default, _relu),
    (aten.silu_.default, _relu_),
    (aten.silu.default, _relu),
    (aten.sigmoid_.default, _relu_),
    (aten.sigmoid.default, _relu),
    (aten.sqrt.default, _relu),  # a float tensor's square root: laid out like it
    (aten.gelu.default, _gelu),
    (aten.threshold_backward.default, _activation_backward),
    (aten.hardtanh_backward.default, _activation_backward),
    (aten.hardswish_backward.default, _activation_backward),
    (aten.hardsigmoid_backward.default, _activation_backward),
    (aten.silu_backward.default, _activation_backward),
    (aten.sigmoid_backward.default, _activation_backward),
    (aten.gelu_backward.default, _gelu_backward),
    # softmax
    (aten._softmax.default, _softmax),
    (aten._safe_softmax.default, _safe_softmax),
    (aten._softmax_backward_data.default, _softmax_backward_data),
    (aten._log_softmax.default, _softmax),
    (aten._log_softmax_backward_data.default, _softmax_backward_data),
    # arithmetic
    (aten.add.Tensor, _same_layout_binary),
    (aten.sub.Tensor, _same_layout_binary),
    (aten.mul.Tensor, _same_layout_binary),
    (aten.mul.Scalar, _number_binary),
    (aten.div.Scalar, _number_binary),
    (aten.div.Tensor, _div),
    (aten.addmm.default, _addmm),
    (aten.add_.Tensor, _add_),
    (aten.mul_.Tensor, _mul_),
    (aten.lerp_.Scalar, _pointwise_),
    (aten.addcmul_.default, _pointwise_),
    (aten.addcdiv_.default, _pointwise_),
    # attention, as the CPU fuses it (trace.attention)
    (aten._scaled_dot_product_flash_attention_for_cpu.default, _flash_attention_for_cpu),
    (aten._scaled_dot_product_flash_attention_for_cpu_backward.default,
     _flash_attention_for_cpu_backward),
    # EmbeddingBag: the CPU's shapes of its bookkeeping outputs, which the meta kernel's miss
    (aten._embedding_bag.default, _embedding_bag),
    (aten._embedding_bag_forward_only.default, _embedding_bag_forward_only),
    # the loss
    (aten.nll_loss_forward.default, _nll_loss_forward),
    (aten.nll_loss_backward.default, _nll_loss_backward),
    (aten.mean.default, _mean),
    # making and joining tensors
    (aten.cat.default, _cat),
    (aten.empty.memory_format, _empty),
    (aten.empty_like.default, _empty_like),
    (aten.zeros_like.default, _empty_like),  # Adam's state: no values on a meta tensor
)

# the same, by id: an op overload hashes in Python (~0.4 us a lookup), its id does not; the
# overloads stay alive as FAST_PATHS' keys
_BY_ID = {id(func): fast for func, fast in FAST_PATHS.items()}


def fast_path(func):
    """``FAST_PATHS.get(func)``, without hashing the op."""
    return _BY_ID.get(id(func))


def run_op(func, args, kwargs):
    """Run ``func`` through its fast path when it has one and its tensors hold no values, else
    through PyTorch's kernel."""
    fast = fast_path(func)
    out = fast(*args, **kwargs) if fast is not None and _shape_only(args) else NotImplemented
    return func(*args, **kwargs) if out is NotImplemented else out


def _shape_only(args) -> bool:
    """The op's first tensor (cat's first in its list) is meta, or fake without a value. A real
    tensor, or a fake one that carries its value (FakeTensorMode keeps the value of a small
    tensor it lifts), goes to the kernel: a trace may read it. ``n = torch.tensor(2.0)`` made in
    a forward is a real CPU tensor even in a meta trace; answered by a fast path, ``n.mul_(3)``
    left it 2 and ``x.repeat(int(n), ...)`` repeated twice; Adam's step counter stayed 0."""
    first = args[0] if args else None
    if type(first) in (list, tuple):
        first = first[0] if first else None
    if not isinstance(first, torch.Tensor):
        return True  # a factory (empty): it reads no tensor
    return first.is_meta or (isinstance(first, FakeTensor) and first.constant is None)


def run_kernel(func, args, kwargs):
    """Run ``func`` through PyTorch's kernel: for real tensors, whose values must be computed."""
    return func(*args, **kwargs)
