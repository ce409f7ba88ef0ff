"""Grad-CAM: equal to the formula done by hand, and it finds the quadrant a trained model reads."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convscope.errors import UsageError
from convscope.show import grad_cam
from convscope.show.draw import PANEL_GAP, TITLE_PX, draw_gradcam
from tests.show.helpers import assert_untouched_by, read_png

SIZE = 16  # quadrant images are 16 x 16; the top-right quadrant is rows 0..7, columns 8..15


class Tiny(nn.Module):
    """conv -> ReLU -> conv (the Grad-CAM layer, ``body``) -> global average -> linear."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(3, 4, 3, stride=stride, padding=1))
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def cam_by_hand(model: Tiny, image: torch.Tensor, target: int) -> torch.Tensor:
    """For a global-average + linear head, dy/dA_k[i, j] = W[target, k] / (h*w) everywhere, so
    Grad-CAM is CAM (Zhou et al. 2016): ReLU(sum_k W[target, k] A_k), then resized and / max."""
    with torch.no_grad():
        activation = model.body(image[None])[0]  # [K, h, w]
        h, w = activation.shape[1:]
        cam = F.relu(torch.einsum("k,khw->hw", model.head.weight[target], activation) / (h * w))
        cam = F.interpolate(cam[None, None], size=image.shape[1:], mode="bilinear",
                            align_corners=False)[0, 0]
    return cam / cam.max()


@pytest.mark.parametrize("stride", [1, 2])
def test_grad_cam_equals_the_formula_by_hand(stride):
    model, image = Tiny(stride).eval(), torch.randn(1, 12, 12)
    logits = model(image[None])[0]
    for target in range(5):
        cam = grad_cam(model, image, "body", target)
        expected = cam_by_hand(model, image, target)
        assert cam.layer == "body" and cam.target == target and cam.heat.shape == (12, 12)
        assert torch.allclose(cam.heat, expected, atol=1e-5), target
        assert torch.allclose(cam.probabilities, logits.softmax(0))
    assert grad_cam(model, image, "body").target == int(logits.argmax())


def test_grad_cam_defaults_to_the_last_spatial_layer_and_leaves_the_model_alone():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                          nn.Conv2d(4, 2, 8), nn.Flatten())  # 10x10 -> 8x8 -> 1x1 (no place)
    model[4].weight.requires_grad_(False)
    model.train()
    image = torch.randn(1, 10, 10)
    assert grad_cam(model, image).layer == "3"  # the last [N, C, H, W] output of over 1 x 1
    assert_untouched_by(model, lambda: grad_cam(model, image))


class SharedActivation(nn.Module):
    """ResNet's pattern: one ReLU called inside the block and again on its sum."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.relu, self.fc = nn.ReLU(), nn.Linear(4, 3)

    def forward(self, x):
        y = self.relu(self.conv1(x))
        return self.fc(self.relu(self.conv2(y) + y).mean((2, 3)))


class Block(nn.Module):
    """ResNet's basic block: a ReLU in place, called inside and on the sum, which is also
    the batch norm's output tensor (+= in place)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.bn, self.relu = nn.BatchNorm2d(4), nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.bn(self.conv2(self.relu(self.conv1(x))))
        out += x
        return self.relu(out)


def test_the_default_layer_names_the_last_map_by_a_module_whose_first_call_made_it():
    # ResNet's default was "relu", found at its last call (the block's output), while the
    # picture showed its first (inside the block): the block is named now, whose only call
    # returns that map
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), Block(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3)).eval()
    image = torch.randn(1, 8, 8)
    cam = grad_cam(model, image)
    assert cam.layer == "1"
    assert torch.equal(cam.heat, grad_cam(model, image, "1").heat)
    # no module's first call returns the sum (the model's own forward makes it): the last
    # leaf whose first call made a map, as capture reads it
    assert grad_cam(SharedActivation().eval(), image).layer == "conv2"


def test_grad_cam_teaches_about_bad_classes_and_outputs():
    model, image = Tiny().eval(), torch.randn(1, 8, 8)
    with pytest.raises(UsageError, match=r"class 5 is out of range: the model has 5 classes"):
        grad_cam(model, image, target=5)
    with pytest.raises(UsageError, match="output is \\[N, classes\\]"):
        grad_cam(model.body, image, "0")


class LogitsAndFeatures(Tiny):
    def forward(self, x):
        features = self.body(x)
        return self.head(features.mean((2, 3))), features


def test_grad_cam_of_a_model_returning_a_tuple_says_to_return_the_logits():
    with pytest.raises(UsageError, match=r"LogitsAndFeatures returns a tuple; return the logits "
                       r"alone\.$"):
        grad_cam(LogitsAndFeatures().eval(), torch.randn(1, 8, 8))


def quadrant_images(count: int, seed: int):
    """Noise with one bright 3x3 blob in a random quadrant; class 1 iff it is the top-right one.

    Every image has a blob, so the class is only where it is: the model must read that
    quadrant. Top-right, not top-left, so a transposed heat map would land elsewhere.
    """
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(count, 1, SIZE, SIZE, generator=generator) * 0.5
    quadrant = torch.randint(0, 4, (count,), generator=generator)
    quadrant[: count // 2] = 1  # half positives
    half = SIZE // 2
    tops = torch.randint(1, half - 3, (count,), generator=generator) + (quadrant >= 2) * half
    lefts = torch.randint(1, half - 3, (count,), generator=generator) + (quadrant % 2) * half
    for image, top, left in zip(images, tops.tolist(), lefts.tolist()):
        image[0, top:top + 3, left:left + 3] += 3.0
    return images, (quadrant == 1).long()


class WhereNet(nn.Module):
    """Two convs that also see each pixel's (y, x) (CoordConv, Liu et al. 2018), then a global
    average and a linear layer: "a blob here" is a local feature, so CAM can point at it."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        n, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(n, 1, h, w)
        return self.head(self.features(torch.cat([x, ys, xs], 1)).mean((2, 3)))


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only add contention
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def where_net(one_thread):
    """WhereNet trained for 200 steps of Adam (about 2 s on one core)."""
    torch.manual_seed(0)
    images, labels = quadrant_images(1024, seed=0)
    model = WhereNet()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    batches = torch.Generator().manual_seed(0)
    for _ in range(200):
        pick = torch.randint(0, len(labels), (64,), generator=batches)
        loss = F.cross_entropy(model(images[pick]), labels[pick])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def test_grad_cam_of_a_model_trained_on_one_quadrant_peaks_in_that_quadrant(where_net,
                                                                             one_thread):
    images, labels = quadrant_images(200, seed=1)
    with torch.no_grad():
        accuracy = (where_net(images).argmax(1) == labels).float().mean()
    assert accuracy > 0.95  # it learned the task, so it must look at the top-right quadrant
    for image in images[labels == 1][:30]:
        cam = grad_cam(where_net, image)  # default layer and the predicted class
        assert cam.layer == "features.3"  # the last ReLU, a leaf and cam.target == 1
        row, column = divmod(int(cam.heat.argmax()), SIZE)
        assert row < SIZE // 2 <= column
        assert cam.heat[: SIZE // 2, SIZE // 2:].sum() > 0.8 * cam.heat.sum()


def test_gradcam_png_shows_the_input_and_the_heat_side_by_side(tmp_path):
    image = torch.zeros(1, 8, 8)
    heat = torch.zeros(8, 8)
    heat[0, 7] = 1.0  # the top-right pixel
    png = read_png(draw_gradcam(image, heat, tmp_path / "g.png", title="Grad-CAM", scale=6))
    assert png.shape[:2] == (TITLE_PX + 8 * 6, 2 * 8 * 6 + PANEL_GAP)
    right = 8 * 6 + PANEL_GAP

    def pixel(row, column, left):
        return png[TITLE_PX + row * 6 + 3, left + column * 6 + 3, :3].astype(int)

    hot, cold = pixel(0, 7, right), pixel(7, 0, right)
    assert hot[0] > 100 > hot[2]  # jet's red over the grey input
    assert cold[2] > 100 > cold[0]  # jet's blue where there is no heat
    plain = pixel(0, 7, 0)
    assert plain[0] == plain[1] == plain[2]  # the left panel is the input alone, grey
