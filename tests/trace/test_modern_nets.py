"""Today's architectures (tests/modern_nets.py): the shape-only trace records the ops and
outputs a real CPU forward records, and analysing them imports neither TorchDynamo nor sympy
(~1-2 s of a first analysis, which their meta kernels imported)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from convscope.trace import run_trace
from convscope.trace.inputs import make_spec
from tests.modern_nets import MODERN


# ViT's attention is the CPU's fused op (_scaled_dot_product_flash_attention_for_cpu) in both:
# on meta tensors PyTorch would run its math decomposition (trace.attention)
@pytest.mark.parametrize("name", MODERN)
def test_every_op_output_matches_a_real_forward(name):
    build, size = MODERN[name]
    model = build().eval()
    spec = make_spec(size, batch_size=2)
    shape_only = run_trace(model, spec, train=False, backend="meta")
    # a real eval forward of nn.TransformerEncoderLayer takes PyTorch's fused path, one op
    # that a shape-only tensor never takes
    fused = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        real = run_trace(model, spec, train=False, backend="real")
    finally:
        torch.backends.mha.set_fastpath_enabled(fused)
    assert [(n.op, n.outputs) for n in shape_only.nodes] == [
        (n.op, n.outputs) for n in real.nodes]


def test_analysing_modern_architectures_imports_neither_dynamo_nor_sympy():
    script = textwrap.dedent("""
        import sys
        import convscope
        from tests.modern_nets import MODERN
        # ConvNeXt and the channels-last net are left out: a mean over a channels-last map is
        # the meta kernel's (the fast path takes row-major maps only)
        for name in ("vit", "efficientnet_v2", "unet", "yolo_neck", "resnext"):
            build, size = MODERN[name]
            convscope.analyze(build().eval(), size)
            found = [m for m in ("torch._dynamo", "sympy") if m in sys.modules]
            if found:
                print(name, found)
                break
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", out.stderr
