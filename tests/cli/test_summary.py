"""`convscope summary` and `convscope zoo` from the command line."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from typer.testing import CliRunner

from convscope.cli import app
from convscope.loading import load_model

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_summary_json_follows_the_documented_schema():
    result = invoke("summary", "zoo:simple_cnn", "--input", "1x28x28", "--batch", "64",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "convscope.summary/1"
    assert data["input_shapes"] == [[64, 1, 28, 28]]
    first = data["rows"][0]
    assert set(first) >= {"name", "type", "output_shape", "params", "macs", "output_bytes"}
    assert first["output_shape"] == [64, 4, 14, 14] and first["params"] == 1 * 4 * 9 + 4
    assert data["rows"][-1]["output_shape"] == [64, 2]
    assert set(data["totals"]) >= {"params", "trainable_params", "macs", "flops",
                                   "activation_bytes", "param_bytes"}
    assert data["totals"]["params"] == 40 + 296 + 1168 + 4640 + 578
    assert data["uncounted"] == {}


@pytest.mark.parametrize("dtype", ["bfloat16", "float64"])
def test_a_floating_dtype_converts_the_weights_as_memory_does(dtype):
    # every model failed with a dtype mismatch whose fix was model.to(...), which a
    # command-line user cannot call: the option converts the weights, as memory --dtype does
    data = json.loads(invoke("summary", "zoo:simple_cnn", "--input", "1x28x28", "--dtype",
                             dtype, "--format", "json").stdout)
    step = json.loads(invoke("memory", "zoo:simple_cnn", "--input", "1x28x28", "--dtype", dtype,
                             "--format", "json").stdout)
    totals, size = data["totals"], getattr(torch, dtype).itemsize
    assert data["dtype"] == dtype and totals["params"] == 40 + 296 + 1168 + 4640 + 578
    assert totals["param_bytes"] == totals["params"] * size
    assert totals["input_bytes"] == 28 * 28 * size
    assert totals["train_peak_bytes"] == step["train_peak_bytes"]


def test_summary_table_shows_units_and_footer():
    result = invoke("summary", "zoo:resnet18", "--depth", "1")
    assert result.exit_code == 0, result.output
    assert "layer1" in result.stdout and "layer1.0.conv1" not in result.stdout
    assert "11,689,512" in result.stdout
    assert "1.81 G" in result.stdout  # 1,814,073,344 MACs
    assert "MiB" in result.stdout and "bias excluded" in result.stdout


@pytest.mark.parametrize("fmt,marker", [("markdown", "| Layer |"), ("csv", "name,type,depth")])
def test_summary_other_formats(fmt, marker):
    result = invoke("summary", "zoo:lenet5", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(marker)


def test_summary_of_a_file_callable_with_arguments(tmp_path):
    source = tmp_path / "mynet.py"
    source.write_text(textwrap.dedent("""
        from torch import nn
        def build(width=4, classes=3):
            return nn.Sequential(nn.Conv2d(1, width, 3), nn.Flatten(), nn.LazyLinear(classes))
        def tiny(width=4):
            return nn.Sequential(nn.Conv2d(1, width, 3), nn.ReLU())
    """))
    result = invoke("summary", f"{source}:tiny", "--input", "1x10x10", "--arg", "width=6",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"][0]["output_shape"] == [1, 6, 8, 8]


def test_summary_of_a_file_that_compiles_its_model_names_the_model_s_own_layers(tmp_path):
    source = tmp_path / "compiled.py"
    source.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        def build():
            return torch.compile(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()))
    """))
    result = invoke("summary", f"{source}:build", "--input", "1x10x10", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["name"] for r in data["rows"]] == ["0", "1"]  # not "_orig_mod.0"
    assert data["model"] == "build"  # the callable, as for any file
    # every command gets the wrapped module: show and explain find "0" by its own name
    model, _ = load_model(f"{source}:build")
    assert type(model) is torch.nn.Sequential and model.get_submodule("0").out_channels == 4


def test_a_zoo_pattern_without_a_wildcard_is_shown_the_one_with_it():
    result = invoke("zoo", "resnet")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: no zoo model matches 'resnet'; 'resnet*' matches resnet101, resnet152, resnet18, "
        "resnet34 and 1 more; `convscope zoo` lists them all.")
    assert invoke("zoo", "resnet18").stdout.splitlines()[2].startswith("resnet18 ")


def test_zoo_lists_every_model_with_parameters():
    result = invoke("zoo", "resnet*", "--format", "json")
    assert result.exit_code == 0, result.output
    data = {e["name"]: e for e in json.loads(result.stdout)}
    assert data["resnet50"]["params"] == 25_557_032
    assert data["resnet50"]["macs"] == 4_089_184_256
    assert data["resnet50"]["input_size"] == [3, 224, 224]
    assert {name: entry["weight_layers"] for name, entry in data.items()} == {
        "resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152}
    table = invoke("zoo", "googlenet").stdout.splitlines()
    assert table[0].split()[:6] == ["Model", "Family", "Input", "Params", "MACs", "Layers"]
    assert table[2].split()[:6] == ["googlenet", "googlenet", "3x224x224", "6,624,904", "1.50",
                                    "G"] and table[2].split()[6] == "22"


@pytest.mark.parametrize("args,words", [
    (["summary", "zoo:resnet5"], ["resnet50"]),
    (["summary", "zoo:simple_cnn", "--input", "1x28x0"], ["1x28x0", "3x224x224"]),
    (["summary", "zoo:simple_cnn", "--input", "axb"], ["not a shape", "3x224x224"]),
    (["summary", "nomodule.sub:build", "--input", "3x8x8"], ["cannot import"]),
    (["summary", "zoo:lenet5", "--format", "yaml"], ["table, markdown, csv, json"]),
    (["summary", "zoo:lenet5", "--arg", "oops"], ["key=value"]),
    # was exit 0 with the memory columns quietly left out
    (["summary", "zoo:lenet5", "--optimizer", "lion"], ["--optimizer 'lion'", "rmsprop"]),
    # more bytes than a 64-bit storage size holds: torch's overflow, or its C++ stack trace
    (["summary", "zoo:resnet18", "--batch", "100000000000000"],
     ["[100000000000000, 3, 224, 224]", "15,052,800,000,000,000,000 elements", "2**63-1"]),
    (["summary", "zoo:resnet18", "--input", "3x1000000000x1000000000"],
     ["[1, 3, 1000000000, 1000000000]", "smaller batch size or input size"]),
    # unsigned and complex inputs got PyTorch's words alone ("Input type (short unsigned int)")
    (["summary", "zoo:lenet5", "--dtype", "uint16"],
     ["layer features.0 (Conv2d): dtype mismatch: float32 and uint16 tensors meet",
      "Fix: give it a floating input (dtype=torch.float32, CLI: --dtype float32)"]),
    (["summary", "zoo:lenet5", "--dtype", "complex64"],
     ["dtype mismatch: complex64 and float32 tensors meet", "Fix: give it a real input "
      "(dtype=torch.float32, CLI: --dtype float32), or build the layers with complex parameters"]),
    # the input fits, a layer's output does not: PyTorch's "Storage size calculation overflowed"
    # alone, with no fix
    (["summary", "zoo:lenet5", "--input", "1x1000000000x1000000000"],
     ["layer features.0 (Conv2d) would make a tensor of [1, 6, 999999996, 999999996] for the "
      "input 1x1000000000x1000000000: 5,999,999,952,000,000,096 elements",
      "Fix: a smaller input or batch"]),
    (["summary", "zoo:resnet18", "--batch", "99999999999999999999"],
     ["[99999999999999999999, 3, 224, 224]", "more than PyTorch can index"]),
])
def test_user_mistakes_exit_2_with_one_message(args, words):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output


def test_the_installed_command_exits_2_without_traceback_and_debug_shows_one():
    cmd = [sys.executable, "-m", "convscope", "summary", "zoo:simple_cnn", "--input", "3x28x28"]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr and "error:" in plain.stderr and plain.stdout == ""
    debug = subprocess.run(cmd + ["--debug"], capture_output=True, text=True)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_a_package_in_the_working_directory_loads_from_the_console_script(tmp_path):
    # the console script puts its own folder first on sys.path, not the working directory, as
    # `python -m` does; a script in another folder stands in for it
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "nets.py").write_text(
        "from torch import nn\n\ndef tiny():\n    return nn.Sequential(nn.Conv2d(3, 4, 3))\n")
    script = tmp_path / "bin" / "convscope_script.py"
    script.parent.mkdir()
    script.write_text("from convscope.cli import main\n\nmain()\n")
    for launcher in ([str(script)], ["-m", "convscope"]):
        done = subprocess.run([sys.executable, *launcher, "summary", "mypkg.nets:tiny", "--input",
                               "3x8x8", "--no-memory"], capture_output=True, text=True,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "Conv2d" in done.stdout


def test_data_dependent_model_asks_for_real_and_real_works(tmp_path):
    source = tmp_path / "gated.py"
    source.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        class Gated(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                y = self.conv(x)
                return y if y.mean().item() > -100 else -y
    """))
    result = invoke("summary", f"{source}:Gated", "--input", "3x8x8")
    assert result.exit_code == 2
    assert "--real" in result.output and "item()" in result.output
    real = invoke("summary", f"{source}:Gated", "--input", "3x8x8", "--real", "--format", "json")
    assert real.exit_code == 0, real.output
    assert json.loads(real.stdout)["rows"][0]["output_shape"] == [1, 4, 6, 6]


def test_data_dependent_message_points_at_the_users_line_and_says_what_it_does(tmp_path):
    # the old message named aten's internals twice ("in aten._local_scalar_dense.default:
    # aten._local_scalar_dense.default") and not the line of the model that read the values
    source = tmp_path / "picky.py"
    source.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        class Gate(nn.Module):
            def forward(self, x):
                if x.mean().item() > 0:
                    return x
                return -x
        class Mask(nn.Module):
            def forward(self, x):
                return x[x > 0]
        class Net(nn.Module):
            def __init__(self, kind):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
                self.gate = Gate() if kind == "gate" else Mask()
            def forward(self, x):
                return self.gate(self.conv(x))
    """))
    gate = invoke("summary", f"{source}:Net", "--input", "3x8x8", "--arg", "kind=gate")
    assert gate.exit_code == 2 and "Traceback" not in gate.output
    assert gate.output.startswith(
        "error: layer gate (Gate) needs real tensor values at picky.py:6: "
        "`if x.mean().item() > 0:`: aten._local_scalar_dense.default reads a Python number "
        "from a tensor, as .item(), float(t), int(t), bool(t) and `if t:` do.")
    mask = invoke("summary", f"{source}:Net", "--input", "3x8x8", "--arg", "kind=mask")
    assert mask.exit_code == 2 and " ".join(mask.output.split()).endswith(
        "`convscope summary` and `convscope rf` take --real (Python: analyze(..., real=True)) to "
        "analyse it with a real random input; explain, memory and sizes work on shape-only "
        "tensors only.")
    # explain has no --real: it said "Run with --real", and --real was "No such option"
    assert "take --real" in invoke("explain", f"{source}:Net", "--input", "3x8x8", "--arg",
                                   "kind=mask").output
    assert "needs real tensor values at picky.py:11: `return x[x > 0]`: aten.index.Tensor " \
           "(aten.nonzero.default) makes a tensor whose size depends on the values" in " ".join(
               mask.output.split())


def test_a_training_step_the_model_cannot_take_leaves_the_table_with_a_note():
    # Inception v3 at batch 1: its auxiliary head's BatchNorm gets one value per channel
    result = invoke("summary", "zoo:inception_v3", "--depth", "1")
    assert result.exit_code == 0, result.output
    assert "Mixed_7c" in result.stdout and "Training step peak" not in result.stdout
    assert result.stderr.startswith("note: training memory left out: layer AuxLogits.conv1.bn "
                                    "(BatchNorm2d) cannot train on this batch")
    assert "Training step peak" in invoke("summary", "zoo:inception_v3", "--depth", "1",
                                          "--batch", "2").stdout


MODEL_FILE = """
from torch import nn

class NeedsArgs(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)

class Good(nn.Module):
    def __init__(self, n=10):
        super().__init__()
        self.conv = nn.Conv2d(3, n, 3)

class TypeErrorInside(nn.Module):
    def __init__(self):
        super().__init__()
        width = 1 + "a"

class ImportInside(nn.Module):
    def __init__(self):
        super().__init__()
        import no_such_module_xyz

number = 42
"""


@pytest.mark.parametrize("spec,args,words", [
    ("{dir}/nets.py:NeedsArgs", [], ["missing a required argument: 'width'",
                                     "It takes: width, depth", "--arg"]),
    ("torch.nn:Conv2d", [], ["missing a required argument", "in_channels, out_channels"]),
    ("{dir}/nets.py:Good", ["--arg", "nn=4"], ["unexpected keyword argument 'nn'", "It takes: n"]),
    ("{dir}/nets.py:TypeErrorInside", [], ["nets.py:17", "TypeError: unsupported operand"]),
    ("{dir}/nets.py:ImportInside", [], ["nets.py:22", "ModuleNotFoundError", "no_such_module_xyz"]),
    ("{dir}/broken.py:Net", [], ["broken.py:2", "SyntaxError"]),
    ("{dir}/on_import.py:Net", [], ["on_import.py:2", "ModuleNotFoundError", "missing_dep_xyz"]),
    ("{dir}/nets.py:number", [], ["not callable", "int", "nn.Module subclass"]),
    ("os:path", [], ["not callable", "module"]),
    ("{dir}/folder.py:Good", [], ["folder.py is a folder, not a Python file"]),
    (".nets:Good", [], ["'.nets' is neither a path to a .py file nor a module name"]),
    ("{dir}/nets.py:Good:extra", [], ["nets.py:Good' is neither", "one ':'"]),
])
def test_mistakes_in_the_users_model_file_exit_2_naming_them(tmp_path, spec, args, words):
    (tmp_path / "nets.py").write_text(MODEL_FILE)
    (tmp_path / "broken.py").write_text("from torch import nn\nclass Net(nn.Module)\n    pass\n")
    (tmp_path / "on_import.py").write_text("import torch\nimport missing_dep_xyz\n")
    (tmp_path / "folder.py").mkdir()
    result = invoke("summary", spec.format(dir=tmp_path), "--input", "3x8x8", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    for word in words:
        assert word in result.output
