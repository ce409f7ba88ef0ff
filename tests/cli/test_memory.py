"""`convscope memory` and the memory columns of `convscope summary`."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from convscope.cli import app

runner = CliRunner()


def test_memory_json_has_every_part_and_the_largest_batch():
    result = runner.invoke(app, ["memory", "zoo:simple_cnn", "--batch", "64", "--optimizer",
                                 "adam", "--budget", "3MiB", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    params = 6722 * 4
    assert data["param_bytes"] == params and data["gradient_bytes"] == params
    assert data["optimizer"] == "adam" and data["optimizer_bytes"] == 2 * params + 10 * 4
    assert data["batch_size"] == 64 and data["input_bytes"] == 64 * 28 * 28 * 4
    assert data["train_peak_bytes"] > data["baseline_bytes"] + data["saved_activation_bytes"]
    assert 1 < data["largest_batch"]
    relus = [l for l in data["layers"] if l["name"] == "0.1"]
    assert relus[0]["saved_bytes"] == 64 * 4 * 14 * 14 * 4


def test_memory_table_names_peak_and_budget():
    result = runner.invoke(app, ["memory", "zoo:lenet5", "--batch", "8", "--budget", "1GiB"])
    assert result.exit_code == 0, result.output
    for words in ["Training step peak", "Inference peak", "Largest batch within 1GiB",
                  "Saved for backward", "kernel workspaces"]:
        assert words in result.stdout


def test_summary_json_carries_saved_bytes_and_train_peak():
    result = runner.invoke(app, ["summary", "zoo:simple_cnn", "--batch", "64", "--format",
                                 "json", "--optimizer", "sgd"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["saved_bytes"] for r in data["rows"]][:2] == [0, 64 * 4 * 14 * 14 * 4]
    assert data["totals"]["train_peak_bytes"] > data["totals"]["param_bytes"]
    skipped = json.loads(runner.invoke(app, ["summary", "zoo:simple_cnn", "--no-memory",
                                             "--format", "json"]).stdout)
    assert skipped["totals"]["train_peak_bytes"] is None
    assert skipped["rows"][0]["saved_bytes"] is None


def test_amp_without_a_dtype_autocasts_to_bfloat16():
    amp = runner.invoke(app, ["memory", "zoo:simple_cnn", "--amp", "--format", "json"])
    bf16 = runner.invoke(app, ["memory", "zoo:simple_cnn", "--amp", "--dtype", "bfloat16",
                               "--format", "json"])
    full = runner.invoke(app, ["memory", "zoo:simple_cnn", "--format", "json"])
    assert amp.exit_code == bf16.exit_code == full.exit_code == 0
    assert json.loads(amp.stdout) == json.loads(bf16.stdout) != json.loads(full.stdout)


def test_a_budget_without_a_unit_exits_2_with_units_to_choose():
    # 16 was read as 16 bytes: no batch fits, and nothing said why
    result = runner.invoke(app, ["memory", "zoo:simple_cnn", "--budget", "16"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'16' has no unit" in result.output and "16GiB" in result.output


def test_bad_budget_and_optimizer_exit_2():
    for extra in (["--budget", "lots"], ["--optimizer", "lion"]):
        result = runner.invoke(app, ["memory", "zoo:simple_cnn", *extra])
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_dtype_no_training_step_can_take_exits_2_with_the_fix():
    # int8 crashed ("internal error: only Tensors of floating point dtype can require
    # gradients", exit 1); autocast to float64 predicted a float32 step labelled amp, as
    # PyTorch turns autocast off for a dtype it does not support
    # an integer dtype is the input's: the conv then refuses it, as it would for real
    cases = {("--dtype", "int8"): "the tensor arriving is int8. Fix: give it a floating input",
             ("--dtype", "bool", "--budget", "1GiB"): "the tensor arriving is bool",
             ("--amp", "--dtype", "float64"): "amp with dtype float64: autocast on the CPU"}
    for extra, words in cases.items():
        result = runner.invoke(app, ["memory", "zoo:simple_cnn", *extra])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert words in " ".join(result.output.split()), result.output
    assert runner.invoke(app, ["memory", "zoo:simple_cnn", "--dtype", "float64"]).exit_code == 0


def test_weight_decay_and_nesterov_reach_the_prediction_and_the_budget():
    def run(*extra):
        result = runner.invoke(app, ["memory", "zoo:resnet18", "--arg", "num_classes=10",
                                     "--input", "3x64x64", "--batch", "4", "--budget", "145MB",
                                     "--format", "json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    plain, decay = run(), run("--weight-decay", "5e-4", "--nesterov")
    # the two gradient copies of the largest conv (512x512x3x3 float32) are alive at the peak
    assert decay["train_peak_bytes"] - plain["train_peak_bytes"] > 2 * 512 * 512 * 9 * 4 * 0.7
    assert decay["peak_phase"] == "step" and decay["largest_batch"] < plain["largest_batch"]
    for extra in (["--nesterov", "--optimizer", "adam"], ["--weight-decay", "-0.1"]):
        result = runner.invoke(app, ["memory", "zoo:simple_cnn", *extra])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
