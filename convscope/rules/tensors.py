"""Ops that do no arithmetic: views, copies, padding, concatenation, tensor creation, and the
profiler's range markers. Writes that add into their positions (scatter_add, index_put with
accumulate, col2im) are reductions: ``pooling``."""
from __future__ import annotations

from . import free

free(*[f"aten.{op}" for op in [
    # views: share the input's storage
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "expand_as",
    "squeeze", "unsqueeze", "slice", "select", "split", "split_with_sizes", "unbind", "chunk",
    "unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk",
    "narrow", "alias", "detach", "as_strided", "unfold", "view_as", "flatten", "unflatten",
    "movedim", "diagonal", "_reshape_alias", "lift_fresh", "view_as_real", "view_as_complex",
    "squeeze_", "unsqueeze_", "t_", "transpose_", "detach_", "_nested_view_from_buffer",
    # copies and data movement: memory traffic, no arithmetic
    "clone", "contiguous", "_to_copy", "copy", "copy_", "cat", "stack", "constant_pad_nd",
    "pad", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
    "replication_pad2d", "replication_pad3d", "_pad_circular", "roll", "flip", "repeat",
    "index", "index_select", "gather", "embedding", "take", "masked_select",
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
    "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "tril",
    "triu", "lift_fresh_copy", "_unsafe_index", "masked_scatter",
    "im2col", "_local_scalar_dense", "item", "max_unpool2d", "max_unpool3d",
    # tensor creation
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
    "full_like", "fill", "fill_", "zero_", "arange", "scalar_tensor", "new_empty", "new_zeros",
    "new_ones", "new_full", "new_empty_strided", "linspace", "eye", "randn", "rand", "randint",
    "randn_like", "rand_like", "randperm", "resize_", "resize_as_", "set_", "_to_dtype",
]])

# torch.profiler.record_function's markers (nn.DataParallel's forward opens one): no data at all
free("profiler._record_function_enter", "profiler._record_function_enter_new",
     "profiler._record_function_exit")
