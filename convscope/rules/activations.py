"""Activations and elementwise arithmetic: other FLOPs per output element, no MACs."""
from __future__ import annotations

from . import FREE, Cost, elementwise, rule

ONE_PER_ELEMENT = [
    "add", "sub", "mul", "div", "neg", "abs", "sign", "reciprocal", "rsub", "remainder",
    "relu", "relu6", "hardtanh", "leaky_relu", "threshold", "clamp", "clamp_min", "clamp_max",
    "maximum", "minimum", "where", "eq", "ne", "lt", "le", "gt", "ge", "logical_not",
    "logical_and", "logical_or", "masked_fill", "floor", "ceil", "round", "trunc", "square",
    "sigmoid", "tanh", "exp", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "pow", "sin",
    "cos", "erf", "silu", "gelu", "elu", "selu", "celu", "mish", "softplus", "hardswish",
    "hardsigmoid", "prelu", "_prelu_kernel", "glu", "lerp", "addcmul", "addcdiv",
    "bitwise_and", "bitwise_or", "bitwise_not", "floor_divide", "fmod", "atan2",
    "log_sigmoid_forward", "log_sigmoid", "hardshrink", "softshrink", "rrelu_with_noise",
    "xlogy",  # x * log(y), 0 where x is 0: nn.KLDivLoss
]


@rule(*[f"aten.{op}" for op in ONE_PER_ELEMENT] + [f"aten.{op}_" for op in ONE_PER_ELEMENT])
def one_per_element(node) -> Cost:
    return elementwise(node, per_element=1)


@rule("aten._softmax", "aten._log_softmax", "aten.softmax", "aten.log_softmax",
      "aten._safe_softmax")  # attention's softmax, which gives 0 where a row is all masked
def softmax(node) -> Cost:
    # exp, running sum, divide: 3 per element
    return elementwise(node, per_element=3)


@rule("aten.native_dropout", "aten.dropout", "aten.feature_dropout")
def dropout(node) -> Cost:
    # one op for the whole of dropout: scale the mask by 1 / (1 - p), multiply: 2 per element
    return elementwise(node, per_element=2)


@rule("aten.bernoulli", "aten.bernoulli_", "aten.uniform_", "aten.normal_")
def random_draw(node) -> Cost:
    # drawing random numbers is not arithmetic on the data: nn.Dropout on the CPU is
    # bernoulli_ (0) then div_ and mul (1 per element each), as one native_dropout counts
    return FREE


@rule("aten.upsample_bilinear2d", "aten._upsample_bilinear2d_aa", "aten.upsample_linear1d",
      "aten.upsample_bicubic2d", "aten._upsample_bicubic2d_aa", "aten.upsample_trilinear3d",
      "aten.grid_sampler_2d", "aten.grid_sampler_3d")
def interpolate(node) -> Cost:
    # a weighted sum of neighbours: 4 per output element for every mode and dimension, as
    # bilinear's 4 taps (trilinear's 8, bicubic's 16 and antialiasing's wider windows alike)
    return elementwise(node, per_element=4)
