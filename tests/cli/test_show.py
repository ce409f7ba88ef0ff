"""`convscope show` from the command line: one PNG per --what, one stdout line per file."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from convscope import zoo
from convscope.cli import app
from convscope.show.draw import PANEL_GAP, TITLE_PX
from convscope.train.checkpoint import BEST, Run, save_checkpoint
from convscope.train.data import Normalisation, load_data
from tests.show.helpers import read_png
from tests.show.test_curves import HISTORY

runner = CliRunner()
MODEL = ["zoo:simple_cnn", "--arg", "num_classes=10", "--input", "1x16x16"]


def invoke(*args):
    return runner.invoke(app, ["show", *map(str, args)])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder as `convscope train` leaves it: simple_cnn on 16 x 16 digits, 3 epochs."""
    torch.manual_seed(0)
    model = zoo.create("simple_cnn", num_classes=10)
    record = Run(model="zoo:simple_cnn", model_args={"num_classes": 10}, name="tiny",
                 input_size=(1, 16, 16), classes=[f"digit {k}" for k in range(10)],
                 data="digits", seed=3, val_fraction=0.25,
                 normalisation=Normalisation(0.3, 0.4), epoch=3, history=HISTORY)
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    save_checkpoint(record, model, folder, BEST)
    return folder, model.eval(), record


# simple_cnn on 1x16x16: 4 filters 3x3 are a 2 x 2 grid of 9 x 9 px, drawn at 512 // 9 = 56;
# conv 0.0 gives 4 maps of 8 x 8, a 19 x 19 mosaic at 512 // 19 = 26; Grad-CAM shows two
# 16 x 16 panels at 512 // 16 = 32; the last map over one position is layer 2 (16 -> 8 -> 4 -> 2),
# its unit (0, 0) sees rows -7 .. 7 (r 15, S 8, P 7), clipped to 0 .. 7.
@pytest.mark.parametrize("what,file,shape,about", [
    ("filters", "filters.png", (9 * 56 + TITLE_PX, 9 * 56), "0.0: 4 filters 3x3 over 1 input"),
    ("features", "features-0.0.png", (19 * 26 + TITLE_PX, 19 * 26),
     "0.0: 4 maps 8x8 of validation image 0 of digits"),
    ("gradcam", "gradcam.png", (16 * 32 + TITLE_PX, 2 * 16 * 32 + PANEL_GAP), "; layer 2.1)"),
    ("erf", "erf-2.1.png", (16 * 32 + TITLE_PX, 16 * 32),
     "unit (0, 0) of 2.1: theoretical field 15 s8, rows 0..7 x columns 0..7; 100% of the "
     "gradient inside"),
])
def test_each_picture_of_a_model_spec(tmp_path, what, file, shape, about):
    out = tmp_path / "pictures"
    result = invoke(*MODEL, "--what", what, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [result.stdout.strip()]  # one line per file
    assert result.stdout.startswith(f"wrote {out / file} (") and about in result.stdout
    png = read_png(out / file)
    assert png.shape[:2] == shape
    assert len(np.unique(png.reshape(-1, 4), axis=0)) > 5  # a picture, not a blank page


def test_gradcam_of_a_run_names_the_prediction_and_the_true_class(tmp_path, run):
    folder, model, record = run
    result = invoke(folder, "--what", "gradcam", "--index", 5, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    split = load_data("digits", (1, 16, 16), seed=3, val_fraction=0.25,
                      normalisation=record.normalisation)
    image, label = split.val[5]  # the run's own split and standardisation
    with torch.no_grad():
        probabilities = model(image[None])[0].softmax(0)
    k = int(probabilities.argmax())
    assert result.stdout.strip() == (
        f"wrote {tmp_path / 'gradcam.png'} (predicted digit {k}, p={probabilities[k]:.2f}, "
        f"true digit {int(label)}; layer 2.1)")
    chosen = invoke(folder, "--what", "gradcam", "--class", (k + 1) % 10, "--out", tmp_path)
    assert f"; class digit {(k + 1) % 10}, p=" in chosen.stdout


def test_gradcam_of_a_model_whose_outputs_are_not_the_datas_classes_says_so(tmp_path):
    # "predicted 1, p=0.52, true 6" for simple_cnn's 2 outputs against the digits' 10 classes
    result = invoke("zoo:simple_cnn", "--what", "gradcam", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        r"wrote \S+gradcam\.png \(predicted [01], p=0\.\d\d, true \d; the model has 2 outputs and "
        r"the data 10 classes, so its outputs are numbers, not the data's classes \(train it on "
        r"the data first\); layer 3\.1\)", result.stdout.strip())


def test_curves_of_a_run(tmp_path, run):
    result = invoke(run[0], "--what", "curves", "--out", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"wrote {tmp_path / 'c' / 'curves.png'} (3 epochs: loss, "
                                     "accuracy, learning rate)")
    assert read_png(tmp_path / "c" / "curves.png").shape[:2] == (340, 1260)


def test_an_out_that_is_a_file_exits_2(tmp_path, run):
    picture = tmp_path / "img.png"
    picture.write_bytes(b"")
    for out in (picture, picture / "inside"):
        result = invoke(run[0], "--what", "curves", "--out", out)
        assert result.exit_code == 2, result.output
        assert "is a file or inside one, but must be a folder" in result.output
        assert "Traceback" not in result.output and "internal error" not in result.output


def test_features_of_an_image_file_through_a_run(tmp_path, run):
    picture = tmp_path / "seven.png"
    Image.fromarray((np.random.default_rng(0).random((20, 24)) * 255).astype("uint8")).save(
        picture)
    result = invoke(run[0] / BEST, "--what", "features", "--layer", "1", "--image", picture,
                    "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"wrote {tmp_path / 'features-1.png'} (1: 8 maps 4x4 of "
                                     f"{picture})")


@pytest.mark.parametrize("source", [["--image", "seven.png"], ["--index", "5"]])
def test_a_picture_of_a_model_spec_resizes_one_image_not_the_data_set(tmp_path, source,
                                                                         monkeypatch):
    # it loaded every digit at the model's size, twice: 4.4 GB for one picture of resnet18
    import convscope.train.data as data

    def whole_data_set(*args, **kwargs):
        raise AssertionError("load_data resizes every image")

    monkeypatch.setattr(data, "load_data", whole_data_set)
    Image.fromarray((np.random.default_rng(0).random((20, 24)) * 255).astype("uint8")).save(
        tmp_path / "seven.png")
    monkeypatch.chdir(tmp_path)
    result = invoke(*MODEL, "--what", "features", *source, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    about = "seven.png" if source[0] == "--image" else "validation image 5 of digits"
    assert result.stdout.strip() == (f"wrote {tmp_path / 'features-0.0.png'} (0.0: 4 maps 8x8 "
                                     f"of {about})")


@pytest.mark.parametrize("args,words", [
    ([*MODEL, "--what", "saliency"], "--what 'saliency' is not one of filters, features"),
    ([*MODEL, "--what", "features", "--layer", "3.O"], "no layer named '3.O'"),
    ([*MODEL, "--what", "erf", "--layer", "5"], "[N, C, H, W] map; 5 gives [8, 10]"),
    ([*MODEL, "--what", "curves"], "--what curves needs a run"),
    ([*MODEL, "--what", "gradcam", "--class", "10"], "class 10 is out of range"),
    ([*MODEL, "--what", "gradcam", "--index", "1", "--image", "x.png"], "not both"),
    # read by no picture of that kind, they were silently left unread
    ([*MODEL, "--what", "filters", "--layer", "1", "--class", "3"],
     "--what filters does not use --layer, --class: leave them out (--layer is for --what "
     "features, gradcam or erf)"),
    ([*MODEL, "--what", "erf", "--index", "3"], "--what erf does not use --index: leave it out "
                                                "(--index is for --what features or gradcam)"),
    ([*MODEL, "--what", "features", "--class", "3"], "--class is for --what gradcam"),
    ([*MODEL, "--what", "gradcam", "--index", "100000"], "--index 100000 is out of range"),
    ([*MODEL, "--what", "gradcam", "--image", "missing.png"], "cannot read image missing.png"),
])
def test_usage_errors_exit_2_with_one_message(tmp_path, args, words):
    result = invoke(*args, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.output.startswith("error: ") and result.output.count("error") == 1
    assert words in re.sub(r"\s*\n", " ", result.output), result.output
    assert "Traceback" not in result.output


def test_features_of_a_model_without_a_conv_asks_for_a_layer(tmp_path):
    source = tmp_path / "pooling.py"
    source.write_text("from torch import nn\n"
                      "def Pooling():\n"
                      "    return nn.Sequential(nn.AvgPool2d(2), nn.Flatten(),\n"
                      "                         nn.Linear(16, 10))\n")
    model = [f"{source}:Pooling", "--input", "1x8x8"]
    result = invoke(*model, "--what", "features", "--out", tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert re.sub(r"\s*\n", " ", result.output).strip() == (
        "error: Sequential has no nn.Conv2d (the default layer of --what features: pass --layer "
        "NAME, a layer whose output is a [N, C, H, W] map).")
    result = invoke(*model, "--what", "features", "--layer", "0", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "(0: 1 maps 4x4 of validation image 0 of digits)" in result.stdout  # 8x8 pooled by 2


@pytest.mark.parametrize("what", ["features", "gradcam", "erf"])
@pytest.mark.parametrize("args,words", [
    (["zoo:simple_cnn", "--input", "3x16x16"],
     "layer 0.0 (Conv2d): channel mismatch. Conv2d(1, 4,"),
    (["zoo:lenet5", "--input", "1x28x28"],
     "layer classifier.0 (Linear): expects in_features=400 but the flatten of [16, 4, 4]"),
    (["zoo:lenet5", "--input", "1x8x8"], "the smallest input that works is 1x32x32"),
    (["{source}:Raises", "--input", "1x8x8"], "the model's own forward (Raises) failed: boom"),
])
def test_a_model_that_cannot_run_on_the_input_names_the_layer(tmp_path, what, args, words):
    # the check summary makes, before the real forward would raise PyTorch's own error
    source = tmp_path / "raising.py"
    source.write_text("from torch import nn\n"
                      "class Raises(nn.Module):\n"
                      "    def forward(self, x):\n"
                      "        raise RuntimeError('boom')\n")
    args = [a.format(source=source) for a in args]
    result = invoke(*args, "--what", what, "--out", tmp_path / "pictures")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "Traceback" not in result.output
    assert words in re.sub(r"\s*\n", " ", result.output), result.output
    assert not (tmp_path / "pictures").exists()


def test_run_options_that_belong_to_a_model_spec_are_refused(tmp_path, run):
    result = invoke(run[0], "--what", "filters", "--input", "1x8x8", "--out", tmp_path)
    assert result.exit_code == 2 and "a run already records its model" in result.output


def _class_folder(root, names):
    for label, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), 30 + 190 * label + i).save(root / name / f"{i}.png")


def test_gradcam_names_the_true_class_by_its_data_and_numbers_outputs_no_run_named(tmp_path):
    names = [f"class {k}" for k in range(9)]
    _class_folder(tmp_path / "nine", names)
    # an untrained 10-output model over a 9-class folder: its outputs are not the folder's
    # classes (they were named by it, but the tenth)
    torch.manual_seed(0)
    result = invoke(*MODEL, "--data", tmp_path / "nine", "--what", "gradcam", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    about = re.search(r"\(predicted (\d), p=[\d.]+, true (class \d); the model has 10 outputs "
                      r"and the data 9 classes", result.stdout)
    assert about is not None and int(about[1]) < 9, result.stdout  # a number, not "class k"


def test_gradcam_of_a_run_on_other_data_names_its_true_class_by_that_data(tmp_path, run):
    folder, model, record = run
    names = [f"class {k}" for k in range(10)]
    _class_folder(tmp_path / "ten", names)
    result = invoke(folder, "--data", tmp_path / "ten", "--what", "gradcam", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    about = re.search(r"\(predicted (digit \d), p=[\d.]+, true (class \d); layer", result.stdout)
    assert about is not None, result.stdout  # outputs by the run's names, the truth by the data's


def test_curves_of_a_run_of_a_model_passed_as_a_python_object(tmp_path):
    # refused: "holds the weights of a model passed as a Python object", though curves need the
    # history alone
    from torch import nn

    from convscope.train import TrainOptions, train

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    train(model, TrainOptions(epochs=2, device="cpu"), input_size=(1, 8, 8), out=tmp_path / "run")
    result = runner.invoke(app, ["show", str(tmp_path / "run"), "--what", "curves", "--out",
                                 str(tmp_path / "pictures")])
    assert result.exit_code == 0, result.output
    assert "(2 epochs: " in result.stdout and (tmp_path / "pictures" / "curves.png").is_file()


def test_an_empty_layer_is_refused_not_read_as_the_default(tmp_path):
    # --layer '' drew the default layer's Grad-CAM, as explain and rf refuse it
    result = invoke("zoo:lenet5", "--what", "gradcam", "--layer", "", "--out", tmp_path)
    assert result.exit_code == 2 and result.stderr.startswith("error: --layer is empty")
