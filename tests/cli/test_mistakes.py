"""A user's mistake is never a crash: one message on stderr that says what was received, what
was expected and how to fix it, exit code 2, and no traceback (the CLI's sweep of wrong inputs;
the Python API's are pinned at the end)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch import nn
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


def test_memory_at_an_integer_dtype_is_the_inputs_and_a_conv_says_it_wants_a_float_one():
    # it exited 1 with "internal error: RuntimeError: only Tensors of floating point dtype
    # can require gradients"; then every integer dtype was refused, Embedding models' too
    assert mistake("memory", "zoo:lenet5", "--dtype", "int64") == (
        "error: layer features.0 (Conv2d): dtype mismatch: float32 and int64 tensors meet in one "
        "op, which needs one. The layer's parameters are float32, the tensor arriving is int64. "
        "Fix: give it a floating input (dtype=torch.float32, CLI: --dtype float32); integer ids "
        "go through an nn.Embedding first.")


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


# --- the Python API: a wrong argument raises a ConvscopeError that teaches, not a TypeError,
# AttributeError or IndexError from deep inside (what each raised before is in its comment)

def _lenet():
    from convscope import zoo

    return zoo.create("lenet5")


@pytest.mark.parametrize("call,expected", [
    # TypeError: 'int' object is not iterable
    (lambda m: convscope.analyze(m, 32), "input_size must be a shape like (3, 224, 224) or a "
     "list of shapes, got 32."),
    # TypeError from torch.empty: a bool is an int
    (lambda m: convscope.analyze(m, (1, 32, 32), batch_size=True), "the batch size must be a "
     "whole number of at least 1, got True; e.g. batch_size=8 (CLI: --batch 8)."),
    # AttributeError: 'str' object has no attribute 'itemsize'
    (lambda m: convscope.analyze(m, (1, 32, 32), dtype="float32"), "dtype must be a torch.dtype "
     "such as torch.float32, got 'float32'."),
    # TypeError: '<' not supported between instances of 'str' and 'int'
    (lambda m: convscope.analyze(m, (1, 32, 32), depth="1"), "depth must be a whole number, 0 "
     "or more, got '1': rows deeper than it are folded into their ancestor, e.g. depth=1 (CLI: "
     "--depth 1); None keeps every row."),
    # TypeError: list indices must be integers or slices, not float
    (lambda m: convscope.analyze(m, (1, 32, 32), depth=1.5), "depth must be a whole number, 0 "
     "or more, got 1.5: rows deeper than it are folded into their ancestor, e.g. depth=1 (CLI: "
     "--depth 1); None keeps every row."),
    # TypeError: 'int' object is not iterable
    (lambda m: convscope.analyze(m, input_data=3), "input_data must be an example tensor or a "
     "tuple of them, e.g. torch.randn(1, 3, 224, 224), got 3."),
    # ModelError: "conv2d() received an invalid combination of arguments - got (tuple, ..."
    (lambda m: convscope.analyze(m, input_data=[(1, 1, 32, 32)]), "input_data must be an "
     "example tensor or a tuple of them, e.g. torch.randn(1, 3, 224, 224), got [(1, 1, 32, "
     "32)]; for shapes, pass input_size=."),
    # TypeError: cannot convert dictionary update sequence element #0 to a sequence
    (lambda m: convscope.analyze(m, (1, 32, 32), input_kwargs=[1]), "input_kwargs must be a "
     "dict of the forward's keyword inputs, e.g. {'x': torch.randn(1, 3, 32, 32)}, got list."),
    # TypeError: analyze() got an unexpected keyword argument 'batch' (naming analyze)
    (lambda m: convscope.summary(m, (1, 32, 32), batch=2), "summary got unknown option batch; "
     "it takes those of analyze: input_size, batch_size, dtype, train, input_data, "
     "input_kwargs, depth, real, name, memory, optimizer, weight_decay, nesterov."),
    # AttributeError: 'NoneType' object has no attribute 'named_modules'
    (lambda m: convscope.training_memory(None, (1, 32, 32)), "training memory is predicted for "
     "a torch.nn.Module, got NoneType."),
    (lambda m: convscope.largest_batch(None, (1, 32, 32)), "training memory is predicted for "
     "a torch.nn.Module, got NoneType."),
    # AttributeError: 'str' object has no attribute 'itemsize'
    (lambda m: convscope.training_memory(m, (1, 32, 32), dtype="bfloat16"), "dtype must be a "
     "torch.dtype such as torch.bfloat16, got 'bfloat16'."),
    # returned 0: a negative budget read as bytes
    (lambda m: convscope.largest_batch(m, (1, 32, 32), budget=-1), "a memory budget of -1 bytes "
     "is negative; give bytes or a size such as '16GiB'."),
])
def test_a_wrong_argument_to_the_api_raises_a_usage_error_that_teaches(call, expected):
    with pytest.raises(convscope.UsageError) as caught:
        call(_lenet())
    assert str(caught.value) == expected


@pytest.mark.parametrize("call,expected", [
    # TypeError: 'NoneType' object is not iterable (from difflib)
    (lambda zoo: zoo.create(None), "a zoo model is named by a string such as 'resnet18', got "
     "None; zoo.names() lists them."),
    (lambda zoo: zoo.info(3), "a zoo model is named by a string such as 'resnet18', got 3; "
     "zoo.names() lists them."),
    # TypeError: expected str, bytes or os.PathLike object, not NoneType
    (lambda zoo: zoo.names(None), "names takes a shell pattern such as 'resnet*', got None."),
])
def test_a_zoo_name_that_is_not_a_string_is_a_usage_error(call, expected):
    from convscope import zoo

    with pytest.raises(convscope.UsageError) as caught:
        call(zoo)
    assert str(caught.value) == expected


def test_an_input_of_no_size_is_named_for_a_conv_and_still_runs_an_embedding():
    # () is one value per sample (an Embedding's ids run); a conv raised IndexError while its
    # message was written
    from torch import nn

    report = convscope.analyze(nn.Embedding(10, 4), (), batch_size=5, dtype=torch.int64)
    assert report.rows[0].output_shape == list(nn.Embedding(10, 4)(torch.zeros(5).long()).shape)
    with pytest.raises(convscope.ModelError) as caught:
        convscope.analyze(_lenet(), ())
    assert str(caught.value) == (
        "layer features.0 (Conv2d) works on [batch, channels, height, width] but receives a 1-D "
        "tensor [1]. The input size () has 0 dimensions; give 3: channels x height x width "
        "without the batch (e.g. 1x32x32).")


# --- builder arguments: zoo.check_arguments writes the one "It takes: ..." message

def test_a_misspelt_argument_is_named_with_the_closest_one_not_as_the_one_missing(tmp_path):
    # it said "missing a required argument: 'width'", though width was given, misspelt
    (tmp_path / "nets.py").write_text("from torch import nn\n"
                                      "def build(width, classes=3):\n"
                                      "    return nn.Conv2d(3, width, 3)\n")
    spec = f"{tmp_path}/nets.py:build"
    assert mistake("summary", spec, "--input", "3x8x8", "--arg", "widht=3") == (
        f"error: {spec}: got an unexpected keyword argument 'widht' (did you mean 'width'?). It "
        "takes: width, classes; give values with --arg NAME=VALUE.")


@pytest.mark.parametrize("word,params", [("false", 6_624_904), ("FALSE", 6_624_904),
                                         ("0", 6_624_904), ("true", 13_004_888)])
def test_a_flag_given_as_a_word_is_that_bool(word, params):
    # "--arg aux_logits=false" stayed the text "false", which is true: the aux heads were built
    result = runner.invoke(app, ["summary", "zoo:googlenet", "--arg", f"aux_logits={word}",
                                 "--no-memory", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["params"] == params


def test_the_word_none_stays_text_for_a_text_option(tmp_path):
    (tmp_path / "net.py").write_text("from torch import nn\n"
                                     "def build(norm='batch'):\n"
                                     "    assert norm in ('batch', 'none'), norm\n"
                                     "    layers = [nn.Conv2d(3, 4, 3)]\n"
                                     "    return nn.Sequential(*layers, *([nn.BatchNorm2d(4)] if "
                                     "norm == 'batch' else []))\n")
    result = runner.invoke(app, ["summary", f"{tmp_path}/net.py:build", "--input", "3x8x8",
                                 "--arg", "norm=none", "--no-memory", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["params"] == 112  # no batch norm


def test_a_flag_given_a_value_that_is_no_bool_is_refused():
    assert mistake("summary", "zoo:googlenet", "--arg", "aux_logits=maybe") == (
        "error: --arg aux_logits='maybe': zoo:googlenet takes true or false for aux_logits "
        "(default false), e.g. --arg aux_logits=false.")


def test_a_zoo_models_arguments_are_checked_as_a_files_are():
    # the CLI said "zoo model 'lenet5': lenet5() got an unexpected keyword argument
    # 'num_clases'. It takes: num_classes, in_channels." without the closest name or --arg
    assert mistake("summary", "zoo:lenet5", "--arg", "num_clases=3") == (
        "error: zoo:lenet5: got an unexpected keyword argument 'num_clases' (did you mean "
        "'num_classes'?). It takes: num_classes, in_channels; give values with --arg "
        "NAME=VALUE.")
    from convscope import zoo

    with pytest.raises(convscope.UsageError) as caught:
        zoo.create("lenet5", num_clases=3)
    assert str(caught.value) == (
        "zoo model 'lenet5': got an unexpected keyword argument 'num_clases' (did you mean "
        "'num_classes'?). It takes: num_classes, in_channels.")


def test_a_value_of_the_wrong_type_is_not_called_a_wrong_name():
    # a TypeError from inside the builder read "... must be tuple of ints, but found element of
    # type str at pos 0. It takes: num_classes, in_channels." as if the name were wrong
    from convscope import zoo

    with pytest.raises(convscope.UsageError) as caught:
        zoo.create("lenet5", num_classes="ten")
    message = str(caught.value)
    assert message.startswith("zoo model 'lenet5' cannot be built with num_classes='ten': ")
    assert message.endswith("Give values of the defaults' types: num_classes=10, "
                            "in_channels=1.")


def _broken(num_classes: int = 10):
    """A zoo builder with a bug: a TypeError whatever its arguments."""
    return nn.Linear(4, num_classes) + 1


def test_a_type_error_of_a_zoo_builders_own_is_not_blamed_on_the_users_values(monkeypatch):
    # any TypeError read "zoo model 'broken' cannot be built with num_classes=3: unsupported
    # operand ... Give values of the defaults' types: num_classes=10.": a 3 is of 10's type
    from convscope import zoo

    zoo.names()  # the families are registered first
    entry = zoo.ModelInfo("broken", "tests", (3, 8, 8), "", _broken)
    monkeypatch.setitem(zoo._REGISTRY, "broken", entry)
    with pytest.raises(TypeError, match="unsupported operand"):
        zoo.create("broken", num_classes=3)
    line = mistake("summary", "zoo:broken", "--arg", "num_classes=3")
    assert line.startswith("error: building zoo:broken failed at ")
    assert line.endswith("`return nn.Linear(4, num_classes) + 1`: TypeError: unsupported "
                         "operand type(s) for +: 'Linear' and 'int'")
    with pytest.raises(convscope.UsageError, match="defaults' types: num_classes=10"):
        zoo.create("broken", num_classes="3")  # a str where an int goes: it may be the cause


def test_a_zoo_builder_that_fails_is_named_at_its_own_line_not_the_registrys():
    # it said "failed at .../convscope/zoo/__init__.py:106 `return func(*args, **kwargs)`": the
    # frame of zoo.shapes_only's torch-function mode
    line = mistake("summary", "zoo:lenet5", "--arg", "num_classes=-5")
    assert "convscope/zoo/lenet.py:" in line and "zoo/__init__.py" not in line
    assert line.endswith("`layers.append(nn.Linear(in_features, num_classes))`: RuntimeError: "
                         "Trying to create tensor with negative dimension -5: [-5, 84]")


# --- Ctrl-C

def test_ctrl_c_while_torch_loads_exits_130_without_a_traceback(tmp_path):
    # `import convscope` imported torch (seconds) before the command line could catch a Ctrl-C:
    # it printed a traceback from inside torch's import. A torch that raises KeyboardInterrupt
    # on import stands in for a Ctrl-C at that moment.
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise KeyboardInterrupt\n")
    root = Path(convscope.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(root)]))
    result = subprocess.run([sys.executable, "-m", "convscope", "summary", "zoo:lenet5"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert (result.returncode, result.stderr) == (130, "")


def test_import_convscope_leaves_torch_to_the_functions_that_need_it():
    import subprocess
    import sys

    code = ("import sys, convscope; print('torch' in sys.modules); "
            "print(convscope.analyze.__module__, convscope.Report.__name__, "
            "convscope.largest_batch.__module__); import torch")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=str(__import__("pathlib").Path(
                             convscope.__file__).resolve().parents[1]))
    assert out.stdout.split() == ["False", "convscope.api", "Report", "convscope.memory"]


# --- the CLI's messages say what was received and how to fix it

SEVERAL = NETS + "\n\nclass B(A):\n    pass\n"


@pytest.mark.parametrize("args,expected", [
    # exit 0: an empty --input (an unset shell variable) fell back to the default input
    (["summary", "zoo:lenet5", "--input", ""], "error: --input '' is not a shape. Write channels "
     "x height x width without the batch, e.g. --input 3x224x224 (several inputs: --input "
     "3x32x32,10)."),
    # "batch_size must be a positive integer, got 0.": the Python name, no example
    (["summary", "zoo:lenet5", "--batch", "0"], "error: the batch size must be a whole number "
     "of at least 1, got 0; e.g. batch_size=8 (CLI: --batch 8)."),
    # "depth must be 0 or more, got -1."
    (["rf", "zoo:lenet5", "--depth", "-1"], "error: depth must be a whole number, 0 or more, "
     "got -1: rows deeper than it are folded into their ancestor, e.g. depth=1 (CLI: --depth "
     "1); None keeps every row."),
    # "no checkpoint at zoo:lenet5; train one with: convscope train MODEL --data digits --out
    # zoo:lenet5."
    (["evaluate", "zoo:lenet5"], "error: zoo:lenet5 is a MODEL spec, not a trained run: this "
     "command takes a run folder written by `convscope train` (it holds best.pt) or one of its "
     ".pt files, e.g. runs/simple_cnn or runs/simple_cnn/last.pt. Train it first: convscope "
     "train zoo:lenet5 --out runs/NAME."),
    # "the validation fraction must lie between 0 and 1, got 0.0."
    (["train", "zoo:simple_cnn", "--val-fraction", "0"], "error: the validation fraction "
     "(--val-fraction) must lie strictly between 0 and 1, got 0.0; e.g. --val-fraction 0.2 "
     "holds out 20%."),
    # "--momentum, --weight-decay and --workers cannot be negative."
    (["train", "zoo:simple_cnn", "--workers", "-2"], "error: --workers cannot be negative, got "
     "-2; give 0 or more."),
    # started that many loader processes, torch only warning
    (["train", "zoo:simple_cnn", "--workers", "99999999999999999999"],
     f"error: --workers 99999999999999999999 would start 99,999,999,999,999,999,999 loader "
     f"processes on a machine of {os.cpu_count()} cores; give at most {8 * os.cpu_count()} "
     f"(8 a core), e.g. --workers {os.cpu_count()}."),
    # "--out-channels and --groups must be at least 1."
    (["conv", "--input", "3x64x64", "--out-channels", "8", "--kernel", "3", "--groups", "0"],
     "error: --groups must be at least 1, got 0; e.g. --groups 1."),
])
def test_a_cli_mistake_says_what_it_got_and_how_to_fix_it(args, expected, tmp_path):
    assert mistake(*args, *(["--out", str(tmp_path)] if args[0] == "train" else [])) == expected


def test_a_model_file_or_folder_without_a_callable_is_told_what_to_write(tmp_path):
    # both said only "cannot read MODEL '...'" and listed the kinds of MODEL
    (tmp_path / "nets.py").write_text(SEVERAL)
    path = tmp_path / "nets.py"
    expected = (f"error: {path} names a file but not the model in it: write {path}:NAME, the "
                f"class or function that builds the model, e.g. {path}:A (it defines A, B).")
    assert mistake("summary", str(path)) == expected
    assert mistake("summary", f"{path}:") == expected
    (tmp_path / "empty").mkdir()
    assert mistake("summary", str(tmp_path / "empty")).startswith(
        f"error: {tmp_path / 'empty'} is a folder but not a run: it holds no best.pt, which "
        f"`convscope train MODEL --out {tmp_path / 'empty'}` writes.")


@pytest.mark.parametrize("device,expected", [
    # it said "--device cuda: ..." for cuda:7, not the value given
    ("cuda:7", "error: --device cuda:7: this machine has no CUDA GPU; use --device cpu."),
    ("mps:0", "error: --device mps:0: Apple's Metal GPU (MPS) is not available on this machine; "
     "use --device cpu (or cuda where there is an NVIDIA GPU)."),
])
def test_a_device_this_machine_lacks_is_repeated_as_given(device, expected, tmp_path):
    if torch.cuda.is_available() and device.startswith("cuda") or (
            torch.backends.mps.is_available() and device.startswith("mps")):
        pytest.skip("this machine has that GPU")
    line = mistake("train", "zoo:simple_cnn", "--device", device, "--out", str(tmp_path))
    assert line == expected


@pytest.mark.parametrize("budget", ["99999999999999999999999GiB", "1048577TiB",
                                    "1" + "0" * 400 + "GiB"])
def test_a_budget_beyond_any_machine_is_blamed_on_the_budget(budget):
    # it said "the input tensor [1773490063424946997106249083, 1, 32, 32] would have ... elements
    # ... use a smaller batch size or input size" (or, at 1e400GiB, "internal error:
    # OverflowError: cannot convert float infinity to integer"). 2**60 bytes is 1,048,576 TiB:
    # 1048577TiB, one more, was read (a lenet5 batch of 19 million million samples)
    assert mistake("memory", "zoo:lenet5", "--budget", budget) == (
        f"error: a memory budget of {budget} is beyond any machine: a budget is at most 2**60 "
        "bytes (1 EiB = 1,048,576 TiB); give the memory of the device that trains, e.g. '80GiB' "
        "(CLI: --budget 80GiB).")


def test_a_budget_of_2_to_the_60_bytes_is_read_and_one_byte_more_is_not():
    from convscope.memory import parse_bytes

    assert parse_bytes("1048576TiB") == parse_bytes(2**60) == 2**60
    with pytest.raises(convscope.UsageError, match="a memory budget of 1,152,921,504,606,846,977 "
                                                    "bytes is beyond any machine"):
        parse_bytes(2**60 + 1)


LENET_LAYERS = ("features.0, features.1, features.2, features.3, features.4, features.5, "
                "flatten, classifier.0, classifier.1, classifier.2, classifier.3, classifier.4")


def test_rf_layer_that_names_none_suggests_and_lists_as_explain_does():
    # rf said only "--layer 'nope': no such layer in lenet5. `convscope rf MODEL` lists every
    # layer.", and suggested nothing for 'fc1' (difflib at 0.4, explain at 0.3); both commands
    # now share cli.app.layer_hint. The 2 more are the Sequentials features and classifier.
    assert mistake("rf", "zoo:lenet5", "--layer", "nope") == (
        f"error: --layer 'nope': no such layer in lenet5. Its layers: {LENET_LAYERS} and 2 more. "
        "`convscope rf MODEL` lists every layer.")
    assert mistake("rf", "zoo:lenet5", "--layer", "fc1").startswith(
        "error: --layer 'fc1': no such layer in lenet5. Did you mean: features.1? Its layers: ")
    assert mistake("explain", "zoo:lenet5", "--layer", "fc1") == (
        f"error: lenet5 has no layer 'fc1'. Did you mean: features.1? Its layers: {LENET_LAYERS}.")


def test_explain_lists_each_layer_once_and_counts_the_rest():
    # resnet18's relu runs twice per block: it was listed twice, and the list ended ", ...."
    line = mistake("explain", "zoo:resnet18", "--layer", "nope")
    listed = line.split("Its layers: ")[1].split(" and ")[0].split(", ")
    assert len(listed) == len(set(listed)) == 12 and line.endswith(" more.")


@pytest.mark.parametrize("flag,dropped", [("--no-memory", "--no-memory"),
                                          ("--real", "--real (a real forward, no training step)")])
def test_an_optimizer_without_the_memory_columns_is_refused_not_ignored(flag, dropped):
    # exit 0: --optimizer adam only sizes the memory columns, which --no-memory (or --real)
    # leaves out, and the table came out as without it
    assert mistake("summary", "zoo:lenet5", flag, "--optimizer", "adam") == (
        f"error: --optimizer adam sizes the optimizer state in the memory columns, which "
        f"{dropped} leaves out: drop {flag} to see them, or drop --optimizer.")


def test_summary_optimizer_still_defaults_to_momentum_and_says_so():
    # the default became None to know a given --optimizer; the table and --help still say
    # momentum: LeNet-5's peak with momentum is its peak with an explicit --optimizer momentum
    def peak(*args):
        result = runner.invoke(app, ["summary", "zoo:lenet5", "--format", "json", *args])
        assert result.exit_code == 0, result.output
        return __import__("json").loads(result.stdout)["totals"]["train_peak_bytes"]

    assert peak() == peak("--optimizer", "momentum") != peak("--optimizer", "adam")
    assert "[default: momentum; a run's own]" in runner.invoke(app, ["summary", "--help"],
                                                  terminal_width=200).output


# --- reflect padding: P < W (torch's own check), with the fixes PyTorch allows

REFLECT = """
from torch import nn
import torch.nn.functional as F

class Deep(nn.Module):  # the second conv receives [8, 2, 2] from a 3x4x4 input
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, padding_mode='reflect'),
                                  nn.ReLU(), nn.Conv2d(8, 8, 7, padding=3, padding_mode='reflect'))

    def forward(self, x):
        return self.body(x)

class Pad(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d(3)

    def forward(self, x):
        return self.pad(x)

class Functional(nn.Module):
    def forward(self, x):
        return F.pad(x, (4, 4, 4, 4), mode='reflect')
"""

MIRRORS = ("reflection mirrors the values inside each edge, so the padding must be smaller than "
           "the side it mirrors")


def test_the_conv_calculator_gives_reflect_paddings_arithmetic_and_fixes():
    # it was torch's "layer conv (Conv2d) failed in aten.reflection_pad2d.default: Argument #4:
    # Padding size should be less than the corresponding input dimension, but got: padding
    # (70, 70) at dimension 3 of input torch.Size([1, 3, 64, 64])", with no fix
    from torch import nn

    assert mistake("conv", "--input", "3x64x64", "--out-channels", "8", "--kernel", "3",
                   "--padding-mode", "reflect", "--padding", "70") == (
        f"error: layer conv (Conv2d): reflect padding 70 is too large for the 64x64 input: "
        f"{MIRRORS} (P < H and P < W), and the height is 64 ≤ 70, the width is 64 ≤ 70. Fix: "
        "padding=63 or less, or padding_mode='zeros' or 'replicate' (any padding) or "
        "'circular' (padding at most 64); or an input of at least 3x71x71.")
    # PyTorch itself: the limits are exact, and every fix runs
    def runs(padding, mode, side=64):
        try:
            nn.Conv2d(3, 8, 3, padding=padding, padding_mode=mode)(torch.zeros(1, 3, side, side))
            return True
        except RuntimeError:
            return False

    assert not runs(64, "reflect") and runs(63, "reflect") and runs(70, "reflect", 71)
    assert runs(70, "zeros") and runs(70, "replicate") and runs(64, "circular")
    assert not runs(65, "circular")


def test_only_the_side_too_short_for_its_padding_is_named():
    line = mistake("conv", "--input", "3x64x32", "--out-channels", "8", "--kernel", "3",
                   "--padding-mode", "reflect", "--padding", "40")
    assert "(P < W), and the width is 32 ≤ 40. Fix: padding=31 or less" in line
    assert line.endswith("or an input of at least 3x64x41.")


@pytest.mark.parametrize("spec,input,expected", [
    ("Deep", "3x4x4", "error: layer body.2 (Conv2d): reflect padding 3 is too large for the 2x2 "
     f"feature map it receives: {MIRRORS} (P < H and P < W), and the height is 2 ≤ 3, the width "
     "is 2 ≤ 3. Fix: padding=1 or less, or padding_mode='zeros' or 'replicate' (any padding) or "
     "'circular' (padding at most 2); or a larger input (the smallest input that works is "
     "3x7x7)."),
    ("Pad", "3x3x3", "error: layer pad (ReflectionPad2d): reflect padding 3 is too large for "
     f"the 3x3 input: {MIRRORS} (P < H and P < W), and the height is 3 ≤ 3, the width is 3 ≤ 3. "
     "Fix: padding 2 or less on each side, e.g. nn.ReflectionPad2d(2), or nn.ReplicationPad2d or "
     "nn.ZeroPad2d (any padding) or nn.CircularPad2d (padding at most 3); or an input of at "
     "least 3x4x4."),
    ("Functional", "3x3x3", "error: the model's own forward (Functional): reflect padding 4 is "
     f"too large for the 3x3 input: {MIRRORS} (P < H and P < W), and the height is 3 ≤ 4, the "
     "width is 3 ≤ 4. Fix: F.pad(..., mode='reflect') with padding 2 or less, or "
     "mode='replicate' or 'constant' (any padding) or 'circular' (padding at most 3); or an "
     "input of at least 3x5x5."),
])
def test_a_models_reflect_padding_too_large_for_its_input_is_named_with_its_fix(
        spec, input, expected, tmp_path):
    # each was torch's "failed in aten.reflection_pad2d.default: Argument #4: Padding size
    # should be less than the corresponding input dimension, ..."; summary's training-step
    # simulation (no --no-memory) reports it the same way
    (tmp_path / "nets.py").write_text(REFLECT)
    assert mistake("summary", f"{tmp_path}/nets.py:{spec}", "--input", input) == expected
    assert mistake("summary", f"{tmp_path}/nets.py:{spec}", "--input", input,
                   "--no-memory") == expected
    # PyTorch: the input it names runs, one less on a side does not
    import importlib.util

    loader = importlib.util.spec_from_file_location("reflect_nets", tmp_path / "nets.py")
    nets = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(nets)
    side = int(expected.rstrip(").").split("x")[-1])
    getattr(nets, spec)()(torch.zeros(1, 3, side, side))
    with pytest.raises(RuntimeError, match="Padding size should be less"):
        getattr(nets, spec)()(torch.zeros(1, 3, side - 1, side - 1))


class _TakesAList(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(6, 4, 3)

    def forward(self, xs):
        return self.conv(torch.cat(xs, 1))


class _TakesAKeyword(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, *, x):
        return self.conv(x)


def test_valid_inputs_the_sweep_once_refused_still_run():
    # a forward taking a list of tensors (FPN, detection heads), keyword-only inputs with
    # input_data=(), and numpy integers: each ran before the argument checks, which refused them
    a, b = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8)
    listed = convscope.analyze(_TakesAList(), input_data=([a, b],))
    assert listed.rows[-1].output_shape == list(_TakesAList()([a, b]).shape) == [1, 4, 6, 6]
    keyword = convscope.analyze(_TakesAKeyword(), input_data=(), input_kwargs={"x": a})
    assert keyword.totals.params == 3 * 4 * 9 + 4
    model = _TakesAKeyword()
    folded = convscope.analyze(nn.Sequential(model.conv), (3, 8, 8), batch_size=np.int64(2),
                               depth=np.int64(0))
    assert folded.totals.macs == 2 * 4 * 6 * 6 * 27 and len(folded.rows) == 1
    assert folded.graph.inputs[0].shape[0] == 2


def test_training_step_options_without_memory_are_refused_not_ignored():
    # analyze(optimizer="adam") without memory=True returned a report the option changed
    # nothing in, and a misspelt optimizer passed unnoticed; the CLI refused both already
    model = _TakesAKeyword()
    kwargs = dict(input_kwargs={"x": torch.randn(1, 3, 8, 8)}, input_size=None)
    with pytest.raises(convscope.UsageError, match=r"^optimizer 'bogus' is not one of sgd, "):
        convscope.analyze(model, memory=True, optimizer="bogus", **kwargs)
    with pytest.raises(convscope.UsageError) as caught:
        convscope.analyze(model, optimizer="adam", nesterov=True, **kwargs)
    assert str(caught.value) == (
        "optimizer='adam', nesterov=True size the training step's memory, which memory=False "
        "leaves out: pass memory=True to see it, or leave them out.")
    assert convscope.analyze(model, optimizer="momentum", **kwargs).totals.train_peak_bytes is None


def test_every_layer_name_hint_is_one_helper():
    # show's and the Python receptive-field API's hint (cutoff 0.4, 'It has: ...') missed the
    # suggestion rf and explain gave for 'fc1'
    from convscope import zoo
    from convscope.receptive_field import measure

    with pytest.raises(convscope.UsageError) as caught:
        measure(zoo.create("lenet5"), (1, 32, 32), "fc1")
    assert "Did you mean: features.1? Its layers: features, features.0" in str(caught.value)


def test_a_weight_decay_of_text_and_a_budget_of_float_bytes():
    # weight_decay="5e-4" was a raw TypeError from math.isfinite; a budget of 1.5e9 (bytes, as
    # a calculation gives them) was refused as "1500000000.0" with no unit
    from convscope import zoo

    with pytest.raises(convscope.UsageError, match="weight decay must be 0 or more, got '5e-4'"):
        convscope.training_memory(zoo.create("lenet5"), (1, 32, 32), weight_decay="5e-4")
    model = zoo.create("lenet5")
    assert convscope.largest_batch(model, (1, 32, 32), budget=1.5e9) == \
        convscope.largest_batch(model, (1, 32, 32), budget=1_500_000_000)


@pytest.mark.parametrize("layer,size", [(nn.Conv2d, (3, 16, 16)), (nn.Conv1d, (3, 16)),
                                        (nn.ConvTranspose2d, (3, 16, 16))])
def test_a_kernel_size_of_zero_fails_as_the_cpu_fails_it(layer, size):
    # the meta kernel takes it: a Conv2d with kernel_size=0 was [1, 8, 17, 17], exit 0
    with pytest.warns(UserWarning, match="zero-element"):  # torch's, while building the layer
        conv = layer(3, 8, 0)
    with pytest.raises(RuntimeError, match="kernel size should be greater than zero"):
        conv(torch.zeros(1, *size))
    with pytest.raises(convscope.ModelError) as caught:
        convscope.analyze(conv, size)
    sizes = "kernel_width: 0" if layer is nn.Conv1d else "kernel_height: 0 kernel_width: 0"
    assert str(caught.value) == (
        f"the model's own forward ({layer.__name__}) failed in aten.convolution.default: kernel "
        f"size should be greater than zero, but got {sizes}. Fix: a kernel_size of 1 or more "
        "along every axis")


def test_numbers_past_int64_and_tensors_past_the_memory_are_usage_errors():
    # both were "internal error: ... please report it", exit 1, with C++ frames for the first
    # conv and pool read their sizes themselves: padding, dilation and a pool's kernel reached
    # PyTorch and came back as its C++ text
    for command, option in [("conv", "-k"), ("conv", "-p"), ("conv", "-d"), ("pool", "-k"),
                            ("pool", "-s")]:
        extra = (["-o", "4"] if command == "conv" else []) + (["-k", "3"] if option != "-k" else [])
        name = {"-k": "--kernel", "-p": "--padding", "-d": "--dilation", "-s": "--stride"}[option]
        assert mistake(command, "--input", "3x8x8", *extra, option, "99999999999999999999") == (
            "error: a number is too large for PyTorch, which takes at most "
            f"9,223,372,036,854,775,807 (2**63 - 1): {name} '99999999999999999999'.")
    assert mistake("summary", "zoo:simple_cnn", "--real", "--batch", "100000000",
                   "--no-memory") == (
        "error: a real forward (real=True, CLI: --real) makes a real input of batch 100000000, "
        "more than this machine's memory holds: use a smaller batch, or leave real out "
        "(shape-only tensors take no memory).")
    from convscope.cli.app import beyond_limits  # where a real tensor fails past the input

    assert beyond_limits(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried "
                                      "to allocate 313600000000 bytes.")) == (
        "this machine does not have the memory for a real tensor of 292.1 GiB (a real forward, "
        "training or pictures): use a smaller --batch or input size; summary, explain, memory "
        "and rf without --real use shape-only tensors, which take none.")


def test_inputs_of_two_dtypes_are_sent_to_input_data_not_round_in_a_loop(tmp_path):
    # --dtype int64 for the ids made the image integer, and that message asked for float32
    (tmp_path / "two.py").write_text(
        "from torch import nn\n"
        "class TwoIn(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.c, self.e = nn.Conv2d(3, 4, 3), nn.Embedding(10, 4)\n"
        "    def forward(self, x, ids):\n"
        "        return self.c(x).mean((2, 3)) + self.e(ids).mean(1)\n")
    spec = f"{tmp_path}/two.py:TwoIn"
    way_out = ("With several inputs, dtype= (CLI: --dtype) sets every input's: for inputs of "
               "different dtypes (an image and ids) pass example tensors, input_data=(torch.rand("
               "1, 3, 32, 32), torch.zeros(1, 10, dtype=torch.long)) with your sizes, in Python; "
               "the CLI has no dtype per input.")
    for dtype in ("float32", "int64"):
        assert mistake("summary", spec, "--input", "3x8x8,5", "--dtype", dtype).endswith(way_out)
    assert not mistake("summary", "zoo:lenet5", "--dtype", "int64").endswith(way_out)


def test_flags_and_the_name_are_checked_and_keyword_inputs_replace_the_default_size():
    # train="no" set every module's training flag to "no" and failed in the user's Dropout;
    # name=123 reached the JSON; input_kwargs alone met the default size as a second input
    model = nn.Sequential(nn.Dropout())
    with pytest.raises(convscope.UsageError, match="train takes True or False, got 'no'"):
        convscope.analyze(model, (3,), train="no")
    with pytest.raises(convscope.UsageError, match="name is the model's name in the report"):
        convscope.analyze(model, (3,), name=123)
    assert convscope.analyze(model, (3,), train=1).to_dict()["train"] is True
    assert convscope.analyze(model, (3,), train=np.bool_(False)).to_dict()["train"] is False

    class Keyword(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)

        def forward(self, x):
            return self.fc(x)

    report = convscope.analyze(Keyword(), input_kwargs={"x": torch.randn(2, 3)})
    assert report.rows[0].output_shape == [2, 4]
    half = nn.Conv2d(3, 4, 3).half()  # example tensors bring their dtype to the report
    assert convscope.analyze(half, input_data=torch.zeros(1, 3, 8, 8).half()).to_dict()[
        "dtype"] == "float16"


def test_a_builder_s_torch_error_is_one_message_without_the_c_plus_plus_stack():
    said = mistake("summary", "zoo:resnet18", "--no-memory", "--arg",
                   "num_classes=99999999999999999999")
    assert said.startswith("error: building zoo:resnet18 failed at ") and "Overflow" in said
    assert "Exception raised from" not in said and "frame #" not in said
    assert len(said.splitlines()) == 1


@pytest.mark.parametrize("body,code", [("import sys\nsys.exit(0)\n", "0"),
                                       ("raise SystemExit('bye')\n", "'bye'")])
def test_a_file_that_exits_while_imported_is_named_not_obeyed(tmp_path, body, code):
    (tmp_path / "exits.py").write_text(body)
    result = runner.invoke(app, ["summary", f"{tmp_path}/exits.py:Net", "--input", "3x8x8"])
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        f"exits.py:Net called sys.exit({code}) while convscope loaded it (argparse or a script's "
        "own entry point run at import?). Put that code under `if __name__ == \"__main__\":`.")


@pytest.mark.parametrize("args,said", [
    (["summary", ""], "error: MODEL is empty. MODEL is zoo:NAME"),
    (["explain", ""], "error: MODEL is empty. MODEL is zoo:NAME"),
    (["evaluate", ""], "error: the run is empty: this command takes a run folder"),
    (["train", "zoo:simple_cnn", "--epochs", "1", "--out", ""], "error: --out is empty"),
    (["memory", "zoo:simple_cnn", "--budget", ""], "error: cannot read the size ''"),
])
def test_an_empty_value_is_refused_not_read_as_the_working_folder_or_as_absent(args, said):
    assert mistake(*args).startswith(said)


def test_a_model_file_that_is_not_python_is_told_so(tmp_path):
    (tmp_path / "net.txt").write_text("class Net: pass\n")
    assert mistake("summary", f"{tmp_path}/net.txt:Net") == (
        f"error: {tmp_path}/net.txt is a file but not a Python file: MODEL names a .py file, "
        "e.g. net.py:Net. MODEL is zoo:NAME, package.module:callable, path/to/file.py:callable "
        "or a run folder written by convscope train.")


@pytest.mark.parametrize("command", ["summary", "memory"])
@pytest.mark.parametrize("dtype,kind", [("qint8", "a quantized dtype"),
                                        ("quint4x2", "a quantized dtype"),
                                        ("bits8", "a storage-only dtype"),
                                        ("int4", "a storage-only dtype")])
def test_a_dtype_no_layer_computes_with_is_named_with_the_fix(command, dtype, kind):
    # qint8 exited 1: "internal error: NotImplementedError: Could not run 'aten::empty_strided'
    # with arguments from the 'QuantizedMeta' backend" after a deprecation warning; bits8 and
    # int4 reached the first conv and printed PyTorch's words only ("Input type (c10::bits8)
    # and bias type (float) should be the same")
    line = mistake(command, "zoo:lenet5", "--dtype", dtype)
    assert line.startswith(f"error: dtype {dtype} is {kind}") and "--dtype float32" in line
    with pytest.raises(convscope.UsageError, match=f"dtype {dtype} is {kind}"):
        convscope.analyze(_lenet(), (1, 32, 32), dtype=getattr(torch, dtype))


@pytest.mark.parametrize("args", [
    ["train", "zoo:simple_cnn", "--batch", "99999999999999999999"],
    ["train", "zoo:simple_cnn", "--epochs", "99999999999999999999"],
    ["evaluate", "runs/none", "--batch", "99999999999999999999"],
])
def test_a_batch_past_int64_is_a_number_too_large_not_an_internal_error(args, tmp_path):
    # train and evaluate exited 1: "internal error: ValueError: Stop argument for islice() must
    # be None or an integer: 0 <= x <= sys.maxsize" (the DataLoader's); --epochs trained for ever
    extra = ["--out", str(tmp_path)] if args[0] == "train" else []
    assert mistake(*args, *extra) == (
        "error: a number is too large for PyTorch, which takes at most 9,223,372,036,854,775,807 "
        f"(2**63 - 1): {args[2]} 99999999999999999999.")


def test_sizes_of_a_huge_input_lists_up_to_its_limit_and_never_past_a_tensor():
    # the default --max, twice the input, traced 1x2000000000x2000000000: "internal error:
    # RuntimeError: Storage size calculation overflowed"; a side whose input no tensor can
    # hold failed so too under --max
    result = runner.invoke(app, ["sizes", "zoo:simple_cnn", "--input", "1x1000000000x1000000000"])
    assert result.exit_code == 0, result.output
    assert "every size up to 65536 runs (larger ones not tried: --max)" in result.stdout
    result = runner.invoke(app, ["sizes", "zoo:simple_cnn", "--input", "1000000000x100x100",
                                 "--arg", "in_channels=1000000000", "--max", "65536"])
    assert result.exit_code == 0, result.output
    # 10^9 channels x 48019² sides x 4 bytes is the last input under 2**63 bytes
    assert "largest input that runs: 1000000000x48019x48019" in result.stdout
