"""``zoo.shapes_only``: models built on the meta device, as the CLI builds them for analysis."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

import convscope
from convscope import zoo


def test_a_shapes_only_model_has_the_shapes_of_a_real_one_and_no_values():
    real = zoo.create("googlenet")
    with zoo.shapes_only():
        meta = zoo.create("googlenet")
    assert all(t.is_meta for t in [*meta.parameters(), *meta.buffers()])
    assert [(n, t.shape, t.dtype, t.requires_grad) for n, t in meta.named_parameters()] == \
        [(n, t.shape, t.dtype, t.requires_grad) for n, t in real.named_parameters()]
    assert [(n, t.shape) for n, t in meta.named_buffers()] == \
        [(n, t.shape) for n, t in real.named_buffers()]
    ours, theirs = (convscope.analyze(m.eval(), (3, 224, 224)) for m in (meta, real))
    assert ours.totals == theirs.totals
    assert torch.empty(2).device.type == "cpu"  # the meta device is the default no longer


def test_building_shapes_only_and_analysing_zoo_models_imports_neither_dynamo_nor_sympy():
    """PyTorch's meta normal_ (kaiming and truncated-normal initialisation) and meta
    empty_like (our parameter copies) are Python references that import TorchDynamo and sympy
    on first use: ~1 s of `convscope summary zoo:resnet50`'s start, for values a meta tensor does
    not have. So are the meta kernels of hardswish (MobileNetV3), silu and a broadcast mul
    (EfficientNet) and adaptive average pooling (AlexNet), which the trace's fast paths answer.
    (An op answered by a Python meta kernel in the trace may still import sympy.)"""
    script = textwrap.dedent("""
        import sys
        import convscope
        from convscope import zoo
        for name in zoo.names():
            with zoo.shapes_only():
                model = zoo.create(name)
        for name in ("resnet50", "mobilenet_v3_large", "efficientnet_b0", "alexnet"):
            with zoo.shapes_only():
                convscope.analyze(zoo.create(name).eval(), (3, 224, 224))
        print(sorted(m for m in ("torch._dynamo", "sympy") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stderr
