"""The data a run trains on: a seeded split, images fitted to the model input, standardised."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from convscope.errors import UsageError
from convscope.train.data import (Normalisation, fit_images, load_data, load_image,
                                  measured_normalisation, split_indices, validation_image)


def test_split_is_seeded_disjoint_and_complete():
    train, val = split_indices(1797, 0.2, seed=0)
    assert len(val) == 359 and len(train) == 1438  # round(1797 * 0.2) held out
    assert sorted(torch.cat([train, val]).tolist()) == list(range(1797))
    again, _ = split_indices(1797, 0.2, seed=0)
    other, _ = split_indices(1797, 0.2, seed=1)
    assert torch.equal(train, again) and not torch.equal(train, other)


def test_digits_are_resized_and_standardised_with_the_training_split():
    from sklearn.datasets import load_digits

    data = load_data("digits", (1, 28, 28), seed=0)
    assert data.classes == [str(d) for d in range(10)]
    assert len(data.train) == 1438 and len(data.val) == 359
    image, label = data.val[5]
    assert image.shape == (1, 28, 28)
    raw = load_digits()
    index = split_indices(1797, 0.2, 0)[1][5].item()
    assert label.item() == raw.target[index]
    # the oracle: torch's bilinear resize of the 0..16 pixels scaled to [0, 1]
    pixels = torch.tensor(raw.images[index], dtype=torch.float32)[None, None] / 16
    expected = F.interpolate(pixels, size=(28, 28), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(image, data.normalisation.apply(expected))
    # standardised on the training split only: mean 0 and std 1 there
    train_images = torch.stack([data.train[i][0] for i in range(len(data.train))])
    assert abs(train_images.mean().item()) < 1e-5
    assert train_images.std().item() == pytest.approx(1.0, abs=1e-4)


def test_grey_images_are_repeated_for_a_colour_model_and_colour_averaged_for_grey():
    grey = torch.rand(2, 1, 8, 8)
    colour = fit_images(grey, (3, 8, 8))
    assert colour.shape == (2, 3, 8, 8) and all(torch.equal(colour[:, c], grey[:, 0])
                                                for c in range(3))
    torch.testing.assert_close(fit_images(colour, (1, 8, 8)), grey)
    with pytest.raises(UsageError, match="4 channels and the model wants 3"):
        fit_images(torch.rand(1, 4, 8, 8), (3, 8, 8))


@pytest.mark.parametrize("shape", [(64, 8), (64, 4), (8, 64)])
def test_resizing_treats_height_and_width_alike(shape):
    # a tall image is the transpose of a wide one: both shrink with the same antialiasing
    images = torch.rand(2, 1, *shape, generator=torch.Generator().manual_seed(0))
    tall = fit_images(images, (1, 8, 8))
    wide = fit_images(images.transpose(2, 3), (1, 8, 8)).transpose(2, 3)
    torch.testing.assert_close(tall, wide)


def _write_folder(root, size=(10, 12)):
    """Two classes: dark images and bright images (PNG, grey)."""
    for name, value in (("dark", 20), ("bright", 230)):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", size, value + i).save(root / name / f"{i}.png")


def test_a_folder_of_class_folders(tmp_path):
    _write_folder(tmp_path)
    data = load_data(str(tmp_path), (1, 6, 5), seed=0, val_fraction=0.4)
    assert data.classes == ["bright", "dark"]  # sorted sub-folder names
    assert len(data.train) == 6 and len(data.val) == 4
    for image, label in [data.train[i] for i in range(6)]:
        assert image.shape == (1, 6, 5)
        raw = image * data.normalisation.std + data.normalisation.mean  # back to [0, 1]
        expected_low = 230 / 255 if label == 0 else 20 / 255
        assert expected_low - 1e-4 <= raw.min().item() <= raw.max().item() <= expected_low + 5 / 255


def test_hidden_folders_are_not_classes_and_an_empty_class_is_refused(tmp_path):
    _write_folder(tmp_path)
    (tmp_path / ".ipynb_checkpoints").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / ".ipynb_checkpoints" / "0.png")
    data = load_data(str(tmp_path), (1, 6, 5), seed=0, val_fraction=0.4)
    assert data.classes == ["bright", "dark"] and len(data.train) + len(data.val) == 10
    (tmp_path / "cats" / "nested").mkdir(parents=True)
    Image.new("L", (4, 4)).save(tmp_path / "cats" / "nested" / "0.png")
    with pytest.raises(UsageError, match="class folder cats of .* holds no images"):
        load_data(str(tmp_path), (1, 6, 5))


def test_one_image_file_is_read_as_the_model_sees_it(tmp_path):
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "red.png")
    image = load_image(tmp_path / "red.png", (3, 2, 2), Normalisation(0.5, 0.5))
    assert image.shape == (3, 2, 2)
    assert image[0].eq(1).all() and image[1:].eq(-1).all()  # (1 - .5)/.5 and (0 - .5)/.5


@pytest.mark.parametrize("channels", [1, 3])
def test_a_sixteen_bit_grey_png_keeps_its_levels(tmp_path, channels):
    import numpy as np

    levels = np.arange(0, 65536, 4369, dtype=np.uint16).reshape(4, 4)  # 0, 4369, ... 65535
    Image.fromarray(levels).save(tmp_path / "deep.png")  # Pillow reads it back as mode I;16
    image = load_image(tmp_path / "deep.png", (channels, 4, 4), Normalisation(0.0, 1.0))
    expected = torch.tensor(levels / 65535.0, dtype=torch.float32)  # not clipped at 255 (white)
    for channel in image:
        torch.testing.assert_close(channel, expected)


@pytest.mark.parametrize("name, input_size, message", [
    ("imagenet", (1, 28, 28), "unknown data 'imagenet'"),
    # a run's recorded folder, since deleted: "unknown data ... --data is digits, ..." blamed a
    # --data the user never gave
    ("/no/such/folder", (1, 28, 28), "the data folder /no/such/folder does not exist: give an "
                                     "existing folder"),
    ("digits", (28, 28), "needs image inputs C x H x W"),
])
def test_bad_data_requests_say_what_to_do(name, input_size, message):
    with pytest.raises(UsageError, match=message):
        load_data(name, input_size)


@pytest.mark.parametrize("fraction, train_count", [(0.9995, 1), (0.9998, 0)])
def test_a_validation_fraction_that_leaves_nothing_to_train_on_is_refused(fraction, train_count):
    # 1,797 digits: round(1797 * 0.9995) = 1796 held out leaves 1; round(1797 * 0.9998) = 1797
    if train_count:
        assert len(load_data("digits", (1, 8, 8), val_fraction=fraction).train) == train_count
    else:
        with pytest.raises(UsageError, match="holds out all 1797 samples of digits"):
            load_data("digits", (1, 8, 8), val_fraction=fraction)


def test_a_folder_without_class_folders_is_refused(tmp_path):
    (tmp_path / "only").mkdir()
    with pytest.raises(UsageError, match="one sub-folder of images per class"):
        load_data(str(tmp_path), (1, 8, 8))


@pytest.mark.parametrize("size", [(1, 8, 8), (3, 20, 20), (1, 5, 7)])
def test_the_standardisation_measured_in_chunks_is_load_datas(size):
    # show measures it a few images at a time: one picture of a 224-pixel model held every
    # digit at 224 pixels twice (4.4 GB)
    expected = load_data("digits", size, seed=2, val_fraction=0.3).normalisation
    measured = measured_normalisation("digits", size, seed=2, val_fraction=0.3)
    assert measured.mean == pytest.approx(expected.mean, rel=1e-6)
    assert measured.std == pytest.approx(expected.std, rel=1e-6)
    assert measured != measured_normalisation("digits", size, seed=3, val_fraction=0.5)


def test_the_standardisation_of_a_folder_is_measured_on_its_training_split(tmp_path):
    _write_folder(tmp_path)
    expected = load_data(str(tmp_path), (1, 6, 5), seed=1, val_fraction=0.4).normalisation
    measured = measured_normalisation(str(tmp_path), (1, 6, 5), seed=1, val_fraction=0.4)
    assert measured.mean == pytest.approx(expected.mean, rel=1e-6)
    assert measured.std == pytest.approx(expected.std, rel=1e-6)


@pytest.mark.parametrize("normalisation", [None, Normalisation(0.2, 0.7)])
def test_one_validation_image_is_load_datas(normalisation, monkeypatch):
    from convscope.train import data as data_module

    split = load_data("digits", (3, 12, 12), seed=4, val_fraction=0.25,
                      normalisation=normalisation)
    resized = []
    fit = data_module.fit_images
    monkeypatch.setattr(data_module, "fit_images",
                        lambda images, size: resized.append(len(images)) or fit(images, size))
    for index in (0, 7, len(split.val) - 1):
        one = validation_image("digits", (3, 12, 12), index, seed=4, val_fraction=0.25,
                               normalisation=normalisation)
        image, label = split.val[index]
        assert torch.allclose(one.image, image, atol=1e-5) and one.label == int(label)
        assert one.classes == split.classes and one.what == f"validation image {index}"
    assert resized and max(resized) <= data_module._CHUNK  # never the whole data set at once
    with pytest.raises(UsageError, match=r"--index 450 is out of range: the validation split "
                                         r"of digits has 449 images \(0..448\)"):
        validation_image("digits", (3, 12, 12), 450, seed=4, val_fraction=0.25)
