"""A user's mistake is never a crash: one message on stderr that says what was received, what
was expected and how to fix it, exit code 2, and no traceback (the CLI's sweep of wrong inputs;
the Python API's are pinned at the end)."""
from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import convscope
from convscope.cli import app

runner = CliRunner()


def mistake(*args) -> str:
    """Run the CLI on a mistake: exit 2, one line on stderr, no traceback; returns that line."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_memory_of_an_input_too_small_gives_summarys_message_and_no_torch_log(capfd):
    # it printed ~100 lines of torch's fake-tensor log (a traceback) before the message, and
    # said "no input size up to 4096 works" where summary says 1x32x32 does
    line = mistake("memory", "zoo:lenet5", "--input", "1x28x28")
    assert line.startswith("error: layer classifier.0 (Linear): expects in_features=400 but "
                           "the flatten of [16, 4, 4] gives 16·4·4 = 256 features. Fix: the "
                           "smallest input that works is 1x32x32 (the flatten then gives "
                           "16·5·5 = 400)")
    assert "Traceback" not in capfd.readouterr().err


def test_memory_at_an_integer_dtype_is_a_usage_error_not_an_internal_one():
    # it exited 1 with "internal error: RuntimeError: only Tensors of floating point dtype
    # can require gradients"
    assert mistake("memory", "zoo:lenet5", "--dtype", "int64") == (
        "error: dtype int64: a training step needs floating-point parameters; give "
        "torch.float32, torch.bfloat16, torch.float16 or torch.float64 (CLI: --dtype float32, "
        "bfloat16 or float16).")


def test_amp_at_a_dtype_autocast_cannot_use_is_refused(recwarn):
    # it ran without autocast, after two UserWarnings from torch, and exited 0
    assert mistake("memory", "zoo:lenet5", "--amp", "--dtype", "float64") == (
        "error: amp with dtype float64: autocast on the CPU lowers the forward to bfloat16 or "
        "float16 only; give one of them (CLI: --amp --dtype bfloat16), or leave amp off to "
        "train in float64.")
    assert not [w for w in recwarn if "autocast" in str(w.message)]


NETS = """
from torch import nn

class A(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)
"""


def test_a_spec_that_reads_as_an_emoji_code_is_printed_as_given(tmp_path):
    # "--input is needed for nets.py:A: e.g." printed as "nets.py🅰 e.g.": rich read ":A:" as
    # an emoji code
    (tmp_path / "nets.py").write_text(NETS)
    spec = f"{tmp_path}/nets.py:A"
    assert mistake("summary", spec) == (
        f"error: --input is needed for {spec}: e.g. --input 3x224x224 (channels x height x "
        "width, without the batch).")


@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_an_integer_input_to_a_float_conv_is_named_as_a_dtype_mismatch(dtype):
    # it said "layer features.0 (Conv2d) failed: Input type (long int) and bias type (float)
    # should be the same", with no fix: torch's C name "long int" was not read
    line = mistake("summary", "zoo:lenet5", "--dtype", dtype)
    assert line.startswith("error: layer features.0 (Conv2d): dtype mismatch: ")
    assert line.endswith(f"The layer's parameters are float32, the tensor arriving is {dtype}. "
                         "Fix: give it a floating input (dtype=torch.float32, CLI: --dtype "
                         "float32); integer ids go through an nn.Embedding first.")
