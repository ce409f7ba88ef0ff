"""Training runs: the loop is PyTorch's own, the notes' nets learn the digits, runs reload."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convscope.errors import ModelError, UsageError
from convscope.train import TrainOptions, evaluation, load_run, load_trained_model, train
from convscope.train.data import load_data
from convscope.train.loop import predict, train_epoch

# Digits resized to the zoo's input; lr 0.05 rather than the 0.01 default: with 0.01 the
# 4-channel first layer of simple_cnn stays near chance for 10 epochs at some seeds.
RECIPE = TrainOptions(epochs=10, lr=0.05, seed=0, device="cpu")


@pytest.fixture(scope="module")
def simple_cnn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "simple_cnn"
    model, run = train("zoo:simple_cnn", RECIPE, out=out)
    return model, run, out


def test_train_epoch_is_the_plain_pytorch_loop():
    torch.manual_seed(0)
    images, labels = torch.randn(40, 1, 8, 8), torch.randint(0, 3, (40,))
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3))
    twin = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3))
    twin.load_state_dict(model.state_dict())
    loader = DataLoader(TensorDataset(images, labels), batch_size=16)
    ours = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    result = train_epoch(model, loader, ours, torch.device("cpu"))
    # the oracle: the loop every PyTorch tutorial writes
    theirs = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    losses, correct = [], 0
    for x, y in loader:
        logits = twin(x)
        loss = F.cross_entropy(logits, y)
        theirs.zero_grad()
        loss.backward()
        theirs.step()
        losses.append(loss.item() * len(y))
        correct += (logits.argmax(1) == y).sum().item()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    assert result.loss == pytest.approx(sum(losses) / 40)
    assert result.accuracy == correct / 40 and result.samples == 40


def test_simple_cnn_learns_the_digits(simple_cnn_run):
    _, run, _ = simple_cnn_run
    assert run.best["val_accuracy"] >= 0.90
    assert run.metrics["val_accuracy"] >= 0.90
    assert [r["epoch"] for r in run.history] == list(range(1, 11))
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"] / 5


def test_lenet5_learns_the_digits():
    _, run = train("zoo:lenet5", RECIPE)
    assert run.input_size == (1, 32, 32)
    assert run.best["val_accuracy"] >= 0.95


def test_a_run_folder_reloads_to_the_same_predictions(simple_cnn_run):
    model, run, out = simple_cnn_run
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "history.json", "last.pt"]
    last, _ = load_trained_model(out / "last.pt")
    data = load_data("digits", (1, 28, 28), seed=0)
    loader = DataLoader(data.val, batch_size=128)
    ours, labels = predict(last, loader, torch.device("cpu"))
    theirs, _ = predict(model, loader, torch.device("cpu"))
    assert torch.equal(ours, theirs)
    # the checkpoint's metrics are what evaluating it gives
    assert evaluation(ours, labels, run.classes).accuracy == pytest.approx(
        run.metrics["val_accuracy"])
    best, best_state = load_run(out)
    assert best.epoch == run.best["epoch"] and best.metrics == run.best
    assert best.model == "zoo:simple_cnn" and best.model_args == {"num_classes": 10}
    assert json.loads((out / "history.json").read_text()) == run.history


def test_evaluation_counts_agree_with_scikit_learn():
    from sklearn.metrics import confusion_matrix

    generator = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(200, 4, generator=generator), torch.randint(0, 4, (200,),
                                                                             generator=generator)
    result = evaluation(logits, labels, ["a", "b", "c", "d"])
    expected = confusion_matrix(labels.numpy(), logits.argmax(1).numpy(), labels=range(4))
    assert result.confusion.tolist() == expected.tolist()
    assert result.accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    for (name, count, accuracy), row in zip(result.per_class, expected):
        assert count == row.sum() and accuracy == pytest.approx(row[["abcd".index(name)]] / count)
    assert result.loss == pytest.approx(F.cross_entropy(logits, labels).item())


@pytest.mark.parametrize("schedule, expected", [
    ("step", [0.1, 0.1, 0.01, 0.001]),   # /10 at epoch 4 // 2 = 2 and 4 * 3 // 4 = 3
    ("cosine", [0.1 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]),
    ("none", [0.1] * 4),
])
def test_schedules_set_the_rate_of_each_epoch(schedule, expected):
    options = TrainOptions(epochs=4, lr=0.1, schedule=schedule, device="cpu")
    _, run = train("zoo:simple_cnn", options)
    assert [r["lr"] for r in run.history] == pytest.approx(expected)


def test_plateau_divides_the_rate_after_two_epochs_without_a_better_validation_loss():
    from convscope.train.options import make_optimizer, make_schedule, step_schedule

    options = TrainOptions(epochs=6, lr=1.0, schedule="plateau")
    optimizer = make_optimizer([nn.Parameter(torch.zeros(1))], options)
    schedule = make_schedule(optimizer, options)
    rates = []
    for val_loss in (1.0, 2.0, 2.0, 2.0, 2.0, 2.0):  # the best at epoch 1, then no better
        rates.append(optimizer.param_groups[0]["lr"])
        step_schedule(schedule, val_loss)
    # epochs 2 and 3 are two without a better loss: epoch 4 trains at 0.1; 4 and 5: epoch 6
    assert rates == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.01])


def test_a_model_without_class_logits_is_refused_before_training():
    with pytest.raises(UsageError, match=r"maps a batch of 2 inputs to \[2, 1, 28, 28\]"):
        train("zoo:broken_cnn", TrainOptions(epochs=1))


def test_only_a_zoo_model_is_told_to_pass_num_classes():
    from convscope.train.run import check_outputs

    with pytest.raises(UsageError, match=r"Give the model 10 outputs \(e\.g\. its last layer\)"):
        check_outputs(nn.Linear(4, 3), (4,), 10, "net.py:Net")  # its builder may take no such
    with pytest.raises(UsageError, match=r"\(e\.g\. --arg num_classes=10\)"):
        check_outputs(nn.Linear(4, 3), (4,), 10, "zoo:lenet5")


class LogitsAndFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(144, 10)

    def forward(self, x):
        features = self.conv(x)
        return self.fc(features.flatten(1)), features


def test_a_model_returning_a_tuple_is_told_to_return_the_logits_alone():
    model = LogitsAndFeatures()
    shapes = [list(t.shape) for t in model(torch.zeros(2, 1, 8, 8))]  # the real forward's
    assert shapes == [[2, 10], [2, 4, 6, 6]]
    with pytest.raises(UsageError) as caught:
        train(model, TrainOptions(epochs=1), input_size=(1, 8, 8))
    assert str(caught.value).startswith(
        "python:tests.train.test_run.LogitsAndFeatures returns 2 tensors for a batch of 2 inputs "
        f"({', '.join(map(str, shapes))}); training needs one, the logits [2, 10]. Return them ")
    assert "flatten" not in str(caught.value)


def test_a_model_that_cannot_run_on_the_data_names_the_layer():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(ModelError, match=r"layer 2 \(Linear\): expects in_features=100 but the "
                       r"flatten of \[4, 6, 6\] gives 4·6·6 = 144"):
        train(net, TrainOptions(epochs=1), input_size=(1, 8, 8))


class _ChangesWhatSigmoidSaved(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.act, self.fc = nn.Conv2d(1, 4, 3), nn.Sigmoid(), nn.Linear(144, 10)

    def forward(self, x):
        y = self.act(self.conv(x))
        y.mul_(2)  # sigmoid's backward needs its output as it was
        return self.fc(y.flatten(1))


def test_a_model_whose_backward_fails_is_refused_before_training():
    model = _ChangesWhatSigmoidSaved()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        model(torch.randn(2, 1, 8, 8)).sum().backward()  # what the first real step would hit
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ModelError, match=r"layer act \(Sigmoid\) cannot train: the backward of "
                       r"aten.sigmoid.default needs the float32 \[2, 4, 6, 6\] tensor"):
        train(model, TrainOptions(epochs=1), input_size=(1, 8, 8))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no step taken


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 10, 3), nn.Linear(4, 10)

    def forward(self, x, y):
        return self.conv(x).mean((2, 3)) + self.fc(y)


def test_a_model_of_two_inputs_is_told_that_training_feeds_one():
    # summary's advice, a shape per argument, is no fix: train takes one --input
    with pytest.raises(ModelError, match=r"missing 1 required positional argument: 'y'\. "
                       r"Training feeds the model one batch of images") as caught:
        train(TwoInputs(), TrainOptions(epochs=1), input_size=(1, 8, 8))
    assert "forward(x) of one tensor" in str(caught.value)
    assert "separated by commas" not in str(caught.value)


def test_a_python_model_trains_and_its_run_says_how_to_reload_it(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 10))
    trained, run = train(net, TrainOptions(epochs=1, lr=0.05), input_size=(1, 8, 8),
                         out=tmp_path)
    assert trained is net and run.model == "python:torch.nn.modules.container.Sequential"
    with pytest.raises(UsageError, match="load_state_dict"):
        load_trained_model(tmp_path)
    _, state = load_run(tmp_path / "last.pt")
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("options, message", [
    (dict(optimizer="lion"), "--optimizer 'lion' is not one of sgd, adam, rmsprop"),
    (dict(schedule="linear"), "--schedule 'linear'"),
    (dict(epochs=0), "--epochs must be at least 1"),
    (dict(lr=0), "--lr must be positive"),
    (dict(lr=float("nan")), "--lr must be positive and finite, got nan"),
    (dict(lr=float("inf")), "--lr must be positive and finite, got inf"),
])
def test_bad_options_say_what_to_do(options, message):
    with pytest.raises(UsageError, match=message):
        TrainOptions(**options)


def test_worker_processes_load_the_same_batches():
    # the shuffling generator lives in the main process: --workers changes who loads, not what
    options = TrainOptions(epochs=1, lr=0.05, device="cpu")
    _, alone = train("zoo:simple_cnn", options)
    _, helped = train("zoo:simple_cnn", TrainOptions(**{**options.to_dict(), "workers": 1}))
    metrics = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
    assert [alone.metrics[k] for k in metrics] == [helped.metrics[k] for k in metrics]
    assert helped.options["workers"] == 1


def test_a_folder_of_images_trains_a_small_model(tmp_path):
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for name, value in (("dark", 40), ("light", 200)):
        (tmp_path / name).mkdir()
        for i in range(12):
            noise = torch.randint(-30, 30, (8, 8), generator=generator)
            pixels = (value + noise).clamp(0, 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(2, 2))
    _, run = train(net, TrainOptions(data=str(tmp_path), epochs=30, batch=8, lr=0.1,
                                     val_fraction=0.25), input_size=(1, 8, 8))
    assert run.classes == ["dark", "light"] and run.data == str(tmp_path)
    assert run.best["val_accuracy"] == 1.0  # 6 held-out images, brightness tells them apart


class _Counts:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def start(self, run, samples_per_epoch, device, world):
        self.samples_per_epoch = samples_per_epoch

    def batch(self, samples, loss, accuracy):
        self.samples = samples


def test_a_last_batch_of_one_sample_is_dropped_so_batch_norm_trains():
    # 1,438 training digits = 3 * 479 + 1: the fourth batch would hold one sample, and
    # BatchNorm in training mode raises on its one value per channel
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.BatchNorm1d(2), nn.Linear(2, 10))
    counts = _Counts()
    _, run = train(net, TrainOptions(epochs=1, batch=479, device="cpu"), input_size=(1, 8, 8),
                   progress=counts)
    assert counts.samples_per_epoch == counts.samples == 3 * 479
    assert run.epoch == 1


def test_a_last_batch_of_several_samples_still_trains():
    counts = _Counts()
    train("zoo:simple_cnn", TrainOptions(epochs=1, batch=478, device="cpu"), progress=counts)
    assert counts.samples_per_epoch == counts.samples == 1438  # 3 * 478 + 4


def test_rmsprop_is_the_inception_recipe_of_the_notes():
    # seed 002: "RMSProp optimizer (learning rate 0.045, decay 0.9, epsilon 1.0)", L2 4e-5
    from convscope.train.options import make_optimizer

    layer = nn.Linear(3, 2)
    options = TrainOptions(optimizer="rmsprop", lr=0.045, weight_decay=4e-5)
    optimizer = make_optimizer(layer.parameters(), options)
    group = optimizer.param_groups[0]
    assert type(optimizer) is torch.optim.RMSprop
    assert (group["lr"], group["alpha"], group["eps"], group["weight_decay"]) == (
        0.045, 0.9, 1.0, 4e-5)
    layer(torch.ones(4, 3)).sum().backward()
    weight = layer.weight.detach().clone()
    optimizer.step()
    # first step: v = 0.1 g^2; w -= lr (g + wd w) / (sqrt(v) + 1)
    g = layer.weight.grad + 4e-5 * weight
    expected = weight - 0.045 * g / ((0.1 * g * g).sqrt() + 1.0)
    assert torch.allclose(layer.weight, expected)


class _PositionalOffset(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):  # a constant made on the CPU: traced on fake tensors, not meta
        return self.fc(x.flatten(1) + torch.arange(64.0) / 64)


def test_a_model_only_fake_tensors_can_trace_still_trains():
    model = _PositionalOffset()
    before = model.fc.weight.detach().clone()
    trained, run = train(model, TrainOptions(epochs=1), input_size=(1, 8, 8))
    assert len(run.history) == 1 and not torch.equal(trained.fc.weight, before)



@pytest.mark.parametrize("options", [
    TrainOptions(), TrainOptions(momentum=0.0), TrainOptions(optimizer="adam", lr=1e-3),
    TrainOptions(optimizer="rmsprop", lr=0.045, weight_decay=0.0),
], ids=["sgd_default", "sgd_no_momentum", "adam", "rmsprop"])
def test_the_step_memory_simulates_builds_the_optimizer_train_builds(options):
    # `convscope memory RUN` simulates the run's step: the same optimizer class with the same
    # arguments but the rate (which costs no memory) and foreach, which train leaves to
    # PyTorch: off for CPU tensors, as the simulation sets it
    from types import SimpleNamespace

    from convscope.trace.optimizers import make_optimizer as simulated_optimizer
    from convscope.train.options import make_optimizer, step_recipe

    params = list(nn.Linear(3, 2).parameters())
    recipe = step_recipe(SimpleNamespace(options=options.to_dict(), input_size=(1, 28, 28)))
    assert recipe.batch_size == options.batch and recipe.input_size == (1, 28, 28)
    real = make_optimizer(params, options)
    simulated = simulated_optimizer(recipe.optimizer, params, recipe.weight_decay,
                                    recipe.nesterov)
    assert type(simulated) is type(real)
    ignored = ("params", "lr", "foreach")
    group = {k: v for k, v in real.param_groups[0].items() if k not in ignored}
    assert {k: v for k, v in simulated.param_groups[0].items() if k not in ignored} == group
    assert real.param_groups[0]["foreach"] is None and simulated.param_groups[0]["foreach"] is False


def test_loader_workers_leave_the_shuffle_and_the_weights_as_they_were():
    # the shuffle shared the loader's generator, which draws a seed per iterator: once a run
    # with persistent workers, every epoch without, so --workers changed epoch 2 on
    weights = []
    for workers in (0, 1):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        trained, _ = train(model, TrainOptions(epochs=2, device="cpu", workers=workers),
                           input_size=(1, 8, 8))
        weights.append({k: v.clone() for k, v in trained.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
