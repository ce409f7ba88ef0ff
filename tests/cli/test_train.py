"""`convscope train` and `convscope evaluate` from the command line, and a run as a MODEL."""
from __future__ import annotations

import json
import os
import re

import pytest
import torch
from typer.testing import CliRunner

from convscope.cli import app
from convscope.memory import training_memory
from convscope.train import TrainOptions, load_run, load_trained_model
from convscope.train.options import make_optimizer
from tests.measured_memory import measure_training_step

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "simple_cnn"
    result = invoke("train", "zoo:simple_cnn", "--epochs", 3, "--lr", 0.05, "--schedule", "step",
                    "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.stdout


@pytest.fixture(scope="module")
def adam_run(tmp_path_factory):
    # one epoch at batch 4 with Adam: the parameters outweigh the activations, so the copy of
    # each gradient that weight decay makes sets the step's peak
    out = tmp_path_factory.mktemp("cli") / "adam"
    result = invoke("train", "zoo:simple_cnn", "--epochs", 1, "--batch", 4, "--optimizer", "adam",
                    "--lr", 1e-3, "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def _measured_peak(folder, batch: int) -> int:
    """A real CPU step of the run's model with the optimizer train built for it."""
    model, run = load_trained_model(folder)
    options = TrainOptions(**run.options)
    x = torch.randn(batch, *run.input_size)
    return measure_training_step(model, x, lambda p: make_optimizer(p, options))["peak"]


def _predicted(*args) -> tuple[dict, str]:
    result = invoke("memory", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("which, batch, optimizer, recipe", [
    ("run_folder", 64, "momentum", "sgd, momentum 0.9, weight decay 0.0005, batch 64"),
    ("adam_run", 4, "adam", "adam, weight decay 0.0005, batch 4"),
])
def test_memory_of_a_run_predicts_the_step_the_run_took(which, batch, optimizer, recipe,
                                                         request):
    # `memory RUN` predicted momentum SGD without weight decay at batch 1: 120,800 bytes for
    # both runs, whose real steps take 911,072 and 212,496 bytes (measured here: the
    # prediction now exact, and 8 bytes low)
    folder = request.getfixturevalue(which)
    folder = folder[0] if which == "run_folder" else folder
    data, stderr = _predicted(folder)
    assert stderr == f"note: the run's recipe: {recipe}, input 1x28x28, float32\n"
    assert (data["batch_size"], data["optimizer"]) == (batch, optimizer)
    measured = _measured_peak(folder, batch)
    assert abs(data["train_peak_bytes"] - measured) <= 0.001 * measured
    model, run = load_trained_model(folder)
    old = training_memory(model, run.input_size, 1, "momentum", inference=False)
    assert old.train_peak_bytes < 0.7 * measured
    if which == "adam_run":  # the same step without the run's weight decay: 194,608, 8.4% low
        plain = training_memory(model, run.input_size, batch, "adam", inference=False)
        assert plain.train_peak_bytes < 0.92 * measured


def test_a_flag_given_replaces_its_part_of_the_runs_recipe(run_folder):
    out, _ = run_folder
    data, stderr = _predicted(out, "--batch", 1)
    assert stderr == ("note: the run's recipe: sgd, momentum 0.9, weight decay 0.0005, batch 64, "
                      "input 1x28x28, float32; as given: --batch 1\n")
    # at batch 1 weight decay's copies of the gradients make the peak: without them (the old
    # `memory RUN --batch 1`) 120,800 bytes, 7% under the step the run takes
    measured = _measured_peak(out, 1)
    assert data["batch_size"] == 1 and data["peak_phase"] == "step"
    assert abs(data["train_peak_bytes"] - measured) <= 0.001 * measured
    plain, stderr = _predicted(out, "--batch", 1, "--weight-decay", 0)
    assert plain["train_peak_bytes"] < 0.95 * measured
    assert stderr.endswith("; as given: --batch 1, --weight-decay 0.0\n")
    adam, _ = _predicted(out, "--optimizer", "adam")
    assert (adam["optimizer"], adam["batch_size"]) == ("adam", 64)


def test_summary_of_a_run_peaks_with_the_runs_optimizer(run_folder):
    out, _ = run_folder
    result = invoke("summary", out, "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ("note: training step peak with the run's optimizer: sgd, momentum "
                             "0.9, weight decay 0.0005, at the table's batch 1 (the run's: "
                             "--batch 64)\n")
    measured = _measured_peak(out, 1)
    peak = json.loads(result.stdout)["totals"]["train_peak_bytes"]
    assert abs(peak - measured) <= 0.001 * measured  # 120,800 before: no weight decay
    given = invoke("summary", out, "--format", "json", "--optimizer", "momentum", "--batch", 64)
    # the step simulated is the optimizer given, with the run's weight decay
    assert given.stderr == ("note: training step peak with momentum (as given: --optimizer "
                            "momentum) and the run's weight decay 0.0005, at the table's batch "
                            "64\n")
    assert json.loads(given.stdout)["totals"]["train_peak_bytes"] == _predicted(out)[0][
        "train_peak_bytes"]


@pytest.mark.parametrize("args,error", [
    (["summary", "--batch", 0], "error: the batch size must be a whole number of at least 1"),
    (["memory", "--optimizer", "foo"], "error: optimizer 'foo' is not one of sgd, momentum"),
])
def test_a_mistake_on_a_run_is_one_line_not_a_note_then_the_error(args, error, run_folder):
    # the note on the run's recipe came first, for a step that was never computed
    result = invoke(args[0], run_folder[0], *args[1:])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(error)


@pytest.mark.parametrize("command", ["memory", "summary"])
def test_memory_and_summary_of_a_run_read_its_checkpoint_once(command, run_folder, monkeypatch):
    # best.pt was read three times: for the weights, the default input and the recipe
    reads = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or load(*a, **k))
    result = invoke(command, run_folder[0], "--format", "json")
    assert result.exit_code == 0, result.output
    assert reads == [run_folder[0] / "best.pt"]


def test_train_prints_a_line_per_epoch_and_a_report(run_folder):
    out, stdout = run_folder
    run, _ = load_run(out / "last.pt")
    assert stdout.startswith("training simple_cnn on digits (10 classes, input 1x28x28) on cpu: "
                             "1,438 training samples per epoch")
    lines = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3
    for line, record in zip(lines, run.history):
        assert f"val loss {record['val_loss']:.4f} acc {100 * record['val_accuracy']:5.1f}%" in line
        assert f"lr {record['lr']:.3g}" in line
    assert [r["lr"] for r in run.history] == pytest.approx([0.05, 0.005, 0.0005])  # step: /10
    best = re.search(r"best\s+(\d+)\s+[\d.]+\s+[\d.]+%\s+[\d.]+\s+([\d.]+)%", stdout)
    assert int(best[1]) == run.best["epoch"]
    assert float(best[2]) == pytest.approx(100 * run.best["val_accuracy"], abs=0.05)
    assert f"checkpoints: {out}/best.pt (epoch {run.best['epoch']})" in stdout


def test_evaluate_reports_the_runs_own_validation_accuracy(run_folder):
    out, _ = run_folder
    result = invoke("evaluate", out)
    assert result.exit_code == 0, result.output
    best, _ = load_run(out)
    correct = round(best.best["val_accuracy"] * 359)
    assert (f"val split: accuracy {100 * correct / 359:.1f}% ({correct}/359)") in result.stdout
    rows = _confusion_rows(result.stdout)
    assert sum(rows[k][k] for k in range(10)) == correct
    assert sum(map(sum, rows)) == 359
    assert (out / "confusion.png").stat().st_size > 5_000


def _confusion_rows(stdout: str) -> list[list[int]]:
    lines = stdout.split("confusion matrix")[1].splitlines()
    cells = [line.split() for line in lines if line[:1].isdigit()]
    return [[0 if c == "." else int(c) for c in row[1:]] for row in cells]


def test_summary_and_evaluate_of_the_whole_data(run_folder):
    out, _ = run_folder
    summary = invoke("summary", out, "--no-memory", "--format", "csv")
    assert summary.exit_code == 0, summary.output
    # the trained simple_cnn with 10 classes: 1x28x28 -> 4x14x14, 40 parameters
    assert summary.stdout.splitlines()[1].startswith("0.0,Conv2d,2,1 4 14 14,40,40,")
    every = invoke("evaluate", out, "--split", "all", "--out", out / "all")
    assert "all split: accuracy" in every.stdout and "/1797)" in every.stdout
    # its own file: every split's evaluation wrote confusion.png, over the validation split's
    assert (out / "all" / "confusion-all.png").exists()
    assert not (out / "all" / "confusion.png").exists()


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_an_out_that_cannot_be_written_fails_before_the_work(command, run_folder, tmp_path):
    blocker = tmp_path / "picture.png"
    blocker.write_bytes(b"")
    source = "zoo:simple_cnn" if command == "train" else run_folder[0]
    for out in (blocker, blocker / "inside"):
        result = invoke(command, source, "--out", out)
        assert result.exit_code == 2, result.output
        assert "is a file or inside one, but must be a folder" in result.stderr
        assert "epoch" not in result.stdout and "Traceback" not in result.output


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_train_into_a_folder_that_cannot_be_created_fails_before_training():
    result = invoke("train", "zoo:simple_cnn", "--out", "/proc/convscope-run")
    assert result.exit_code == 2, result.output
    assert "--out /proc/convscope-run: cannot create this folder" in result.stderr
    assert "epoch" not in result.stdout and "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["train", "zoo:simple_cnn", "--optimizer", "lion"], "--optimizer 'lion' is not one of"),
    (["train", "zoo:simple_cnn", "--data", "imagenet"], "unknown data 'imagenet'"),
    (["train", "zoo:broken_cnn"], "maps a batch of 2 inputs to [2, 1, 28, 28]"),
    # its builder takes no num_classes: "--arg num_classes=10" failed as an unknown argument
    (["train", "zoo:broken_cnn"], "Give the model 10 outputs (e.g. its last layer)"),
    (["train", "zoo:simple_cnn", "--device", "cuda"], "this machine has no CUDA GPU"),
    (["train", "zoo:simple_cnn", "--device", "mps"], "(MPS) is not available on this machine"),
    (["train", "zoo:simple_cnn", "--device", "xla"], "--device xla: this PyTorch cannot use it "
                                                     "on this machine"),
    (["train", "zoo:simple_cnn", "--device", "meta"], "--device meta holds shapes, not values"),
    (["train", "zoo:simple_cnn", "--lr", "nan"], "--lr must be positive and finite, got nan"),
    (["evaluate", "no/such/run", "--batch", "0"], "--batch must be at least 1, got 0"),
    (["evaluate", "no/such/run", "--batch", "-1"], "--batch must be at least 1, got -1"),
    (["evaluate", "no/such/run"], "no checkpoint at no/such/run;"),
    # it advised "convscope train MODEL ... --out zoo:simple_cnn"
    (["evaluate", "zoo:simple_cnn"], "zoo:simple_cnn is a MODEL spec, not a trained run: "),
])
def test_mistakes_exit_2_with_one_line(args, message, tmp_path):
    if torch.cuda.is_available() and "cuda" in args:
        pytest.skip("this machine has a GPU")
    if torch.backends.mps.is_available() and "mps" in args:
        pytest.skip("this machine has an Apple GPU")
    result = invoke(*args, "--out", tmp_path) if args[0] == "train" else invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name, why", [
    ("picture.png", "torch.load cannot read it"),  # torch's words: a 'weights_only' essay
    ("notes.txt", "torch.load cannot read it"),  # torch's words: a bare KeyError, '104'
    ("tensor.pt", "it holds no convscope.checkpoint/1 record"),
])
def test_evaluate_of_a_file_that_is_no_checkpoint_says_what_it_wants(tmp_path, name, why):
    from PIL import Image

    path = tmp_path / name
    if name.endswith(".png"):
        Image.new("L", (4, 4)).save(path)
    elif name.endswith(".txt"):
        path.write_text("hello")
    else:
        torch.save(torch.zeros(2), path)
    result = invoke("evaluate", path)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path} is not a convscope checkpoint: {why}")
    assert "Expected a run folder written by `convscope train`" in result.stderr
    assert "weights_only" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_run_on_a_relative_folder_evaluates_from_anywhere(tmp_path, monkeypatch):
    from PIL import Image

    work = tmp_path / "work"
    for name, value in (("dark", 30), ("light", 220)):
        (work / "images" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), value + i).save(work / "images" / name / f"{i}.png")
    monkeypatch.chdir(work)
    trained = invoke("train", "zoo:simple_cnn", "--data", "images", "--epochs", 1, "--device",
                     "cpu", "--val-fraction", 0.4, "--out", "runs/images")
    assert trained.exit_code == 0, trained.output
    tuned = invoke("train", "runs/images", "--data", "images", "--epochs", 1, "--device", "cpu",
                   "--val-fraction", 0.4, "--out", "runs/tuned")  # a run as the MODEL
    assert tuned.exit_code == 0, tuned.output
    monkeypatch.chdir(tmp_path)  # elsewhere: "images" and "runs/images" name nothing here
    for run in ("images", "tuned"):
        best, _ = load_run(work / "runs" / run)
        correct = round(best.best["val_accuracy"] * 4)  # round(10 * 0.4) held out
        result = invoke("evaluate", work / "runs" / run, "--out", tmp_path)
        assert result.exit_code == 0, result.output
        assert f"val split: accuracy {100 * correct / 4:.1f}% ({correct}/4)" in result.stdout


def test_a_run_fine_tuned_over_its_own_folder_or_whose_source_is_gone_still_loads(tmp_path,
                                                                                   monkeypatch):
    # the new checkpoint recorded its source run's folder as its model: written over that
    # folder, it named itself and loading recursed ("not a convscope checkpoint:
    # RecursionError"); elsewhere, it could not be loaded once the source was deleted
    from PIL import Image

    for name, value in (("dark", 30), ("light", 220)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), value + i).save(tmp_path / "images" / name / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    common = ("--data", "images", "--epochs", 1, "--device", "cpu", "--val-fraction", 0.4)
    assert invoke("train", "zoo:simple_cnn", *common, "--out", "src").exit_code == 0
    assert invoke("train", "src", *common, "--out", "tuned").exit_code == 0
    assert invoke("train", "src", *common).exit_code == 0  # default: runs/src-tuned
    over = invoke("train", "src", *common, "--out", "src")
    assert over.exit_code == 0, over.output
    for run in ("src", "tuned", "runs/src-tuned"):
        recorded, _ = load_run(run)
        assert (recorded.model, recorded.name) == ("zoo:simple_cnn", "simple_cnn")
        assert recorded.model_args == {"num_classes": 2}
    import shutil

    shutil.rmtree("src")
    evaluated = invoke("evaluate", "tuned", "--out", tmp_path)
    assert evaluated.exit_code == 0, evaluated.output


def test_a_batch_of_one_at_a_batch_norm_is_a_user_mistake_with_the_fix(tmp_path):
    # "internal error: ValueError: Expected more than 1 value per channel when training", exit 1
    source = tmp_path / "net.py"
    source.write_text("from torch import nn\n\ndef build():\n    return nn.Sequential("
                      "nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10))\n")
    result = invoke("train", f"{source}:build", "--input", "1x8x8", "--epochs", 1, "--batch", 1,
                    "--device", "cpu", "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: a batch of one sample reached a BatchNorm")
    assert result.stderr.rstrip().endswith("Fix: --batch 2 or more.")
    assert not (tmp_path / "run").exists()  # made for the run, left empty: removed


def test_a_run_that_fails_before_its_first_checkpoint_leaves_a_folder_it_found_alone(tmp_path):
    # an empty run folder was left behind by every mistake found once training had begun
    kept = tmp_path / "kept"
    kept.mkdir()
    for out in (tmp_path / "new" / "run", kept):
        result = invoke("train", "zoo:simple_cnn", "--arg", "num_classes=5", "--epochs", 1,
                        "--device", "cpu", "--out", out)
        assert result.exit_code == 2 and "training on 10 classes" in result.stderr
    assert not (tmp_path / "new" / "run").exists() and kept.is_dir()


def test_evaluate_on_data_whose_class_names_differ_says_classes_match_by_position(tmp_path):
    from PIL import Image

    def folder(root, names):
        for label, name in enumerate(names):
            (root / name).mkdir(parents=True)
            for i in range(5):
                Image.new("L", (8, 8), 30 + 190 * label + i).save(root / name / f"{i}.png")

    folder(tmp_path / "a", ["dark", "light"])
    folder(tmp_path / "b", ["dark", "pale"])
    out = tmp_path / "run"
    trained = invoke("train", "zoo:simple_cnn", "--data", tmp_path / "a", "--epochs", 1,
                     "--device", "cpu", "--val-fraction", 0.4, "--out", out)
    assert trained.exit_code == 0, trained.output
    same = invoke("evaluate", out, "--data", tmp_path / "a", "--out", tmp_path)
    assert same.exit_code == 0 and same.stderr == ""
    other = invoke("evaluate", out, "--data", tmp_path / "b", "--out", tmp_path)
    assert other.exit_code == 0, other.output
    assert other.stderr == (f"note: the classes of {tmp_path / 'b'} are scored as the run's by "
                            "position, and 1 of their names differs: 'pale' as 'light'.\n")
    # scored against the run's names, in the data's order
    assert "light" in other.stdout and "pale" not in other.stdout


def test_a_loss_that_is_no_longer_a_number_stops_training_with_what_to_change(tmp_path):
    # every epoch printed "train loss nan", the NaN epoch was saved as the best, and it exited 0
    result = invoke("train", "zoo:simple_cnn", "--lr", 1e6, "--epochs", 2, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: training diverged in epoch 1: the training loss is nan (--optimizer sgd, --lr "
        "1e+06, --momentum 0.9). Lower the learning rate, e.g. --lr 0.1.")  # was 100000
    assert not list(tmp_path.iterdir())  # no checkpoint of a network of NaNs


def test_momentum_of_one_or_more_is_refused():
    result = invoke("train", "zoo:simple_cnn", "--momentum", 2, "--epochs", 1)
    assert result.exit_code == 2 and result.stderr == (
        "error: --momentum must be below 1, got 2: at 1 or more SGD's velocity keeps every past "
        "gradient and grows without bound; try 0.9.\n")


def test_arguments_for_a_run_are_refused_not_ignored(run_folder):
    # `summary RUN --arg num_classes=3` showed the run's 10 classes and exited 0
    out, _ = run_folder
    result = invoke("summary", out, "--arg", "num_classes=3")
    assert result.exit_code == 2 and result.stderr == (
        f"error: --arg num_classes: {out} is a run, whose model is rebuilt as it was trained, "
        "with the arguments it recorded; --arg builds a MODEL spec (zoo:NAME, file.py:NAME).\n")


@pytest.mark.parametrize("command", [["evaluate"], ["show", "--what", "curves"]])
def test_an_empty_out_is_refused_by_evaluate_and_show_as_by_train(run_folder, command):
    # evaluate wrote into the run's folder; show read "" as the working directory
    result = invoke(command[0], run_folder[0], *command[1:], "--out", "")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --out is empty: give a folder name")
