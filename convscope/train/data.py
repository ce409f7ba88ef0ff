"""Data for training: a train/validation split of images as tensors, resized to the model input.

Sources (``--data``):

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), the
  default, as it needs no download;
- a folder with one sub-folder of images per class (read with Pillow);
- ``mnist`` and ``cifar10`` through torchvision, when it is installed (downloaded into
  ``~/.cache/convscope``).

Images are resized to the model's input (``C x H x W``), grey images repeated to three channels
when the model wants colour, and standardised with the training split's mean and standard
deviation, which the checkpoint keeps so ``evaluate`` and ``show`` see inputs the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset, TensorDataset

from ..errors import UsageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
TORCHVISION_SETS = ("mnist", "cifar10")
DATA_HELP = ("--data is digits (scikit-learn's 8x8 digits), a folder with one sub-folder of "
             "images per class, or mnist/cifar10 (needs torchvision)")


@dataclass(frozen=True)
class Normalisation:
    """x -> (x - mean) / std, one value for all channels (measured on the training split)."""

    mean: float
    std: float

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


@dataclass
class DataSplit:
    """What training needs: the two splits, the class names, and how inputs were standardised."""

    train: Dataset
    val: Dataset
    classes: list[str]
    normalisation: Normalisation
    name: str


def load_data(name: str, input_size: Sequence[int], seed: int = 0, val_fraction: float = 0.2,
              normalisation: Normalisation | None = None) -> DataSplit:
    """The data set ``name`` as a seeded train/validation split of ``input_size`` images.

    ``normalisation`` (from a checkpoint) replaces the one measured on the training split.
    """
    _check_split(input_size, val_fraction)
    if name in TORCHVISION_SETS:
        return _torchvision_split(name, input_size, normalisation)
    source = _source(name, input_size)
    train_index, val_index = _split(source, val_fraction, seed)
    images = source.fitted(torch.arange(source.count))
    if normalisation is None:
        train_images = images[train_index]
        normalisation = Normalisation(train_images.mean().item(), train_images.std().item() or 1.0)
    dataset = TensorDataset(normalisation.apply(images), source.labels)
    return DataSplit(Subset(dataset, train_index.tolist()), Subset(dataset, val_index.tolist()),
                     source.classes, normalisation, name)


@dataclass(frozen=True)
class OneImage:
    """One validation image as ``load_data`` would give it, standardised, with its label, the
    data's class names, and what it is."""

    image: torch.Tensor  # [C, H, W]
    label: int
    classes: list[str]
    what: str  # "validation image N"


def validation_image(name: str, input_size: Sequence[int], index: int, seed: int = 0,
                     val_fraction: float = 0.2,
                     normalisation: Normalisation | None = None) -> OneImage:
    """Validation image ``index`` of ``name`` (out of range: a UsageError naming --index), as
    ``load_data(name, input_size, seed, val_fraction, normalisation)`` has it, without resizing
    the whole data set: one picture of a 224-pixel model would otherwise hold every image of
    the data set at 224 pixels, twice. ``normalisation`` None: measured as ``load_data``
    measures it, to within float rounding (``measured_normalisation``)."""
    _check_split(input_size, val_fraction)
    if name in TORCHVISION_SETS:  # read one image at a time already
        split = load_data(name, input_size, seed, val_fraction, normalisation)
        _check_index(index, len(split.val), name)
        image, label = split.val[index]
        return OneImage(image, int(label), split.classes, f"validation image {index}")
    source = _source(name, input_size)
    train_index, val_index = _split(source, val_fraction, seed)
    _check_index(index, len(val_index), name)
    normalisation = normalisation or _measured(source, train_index)
    picked = val_index[index]
    image = normalisation.apply(source.fitted(picked[None]))[0]
    return OneImage(image, int(source.labels[picked]), source.classes,
                    f"validation image {index}")


def _check_index(index: int, count: int, name: str) -> None:
    if not 0 <= index < count:
        raise UsageError(f"--index {index} is out of range: the validation split of {name} "
                         f"has {count} images (0..{count - 1}).")


def measured_normalisation(name: str, input_size: Sequence[int], seed: int = 0,
                           val_fraction: float = 0.2) -> Normalisation:
    """The standardisation training on ``name`` would measure (``load_data``'s, to within float
    rounding), a few images at a time."""
    _check_split(input_size, val_fraction)
    if name in TORCHVISION_SETS:
        return load_data(name, input_size, seed, val_fraction).normalisation
    source = _source(name, input_size)
    return _measured(source, _split(source, val_fraction, seed)[0])


@dataclass(frozen=True)
class _Source:
    """A data set's labels and class names, and its images resized on demand."""

    name: str
    count: int
    labels: torch.Tensor
    classes: list[str]
    fitted: Callable[[torch.Tensor], torch.Tensor]  # indices -> [n, C, H, W] in [0, 1]


def _check_split(input_size: Sequence[int], val_fraction: float) -> None:
    if len(input_size) != 3:
        raise UsageError(f"training needs image inputs C x H x W, got {tuple(input_size)}; "
                         "pass --input, e.g. --input 1x28x28.")
    if not 0 < val_fraction < 1:
        raise UsageError(f"the validation fraction (--val-fraction) must lie strictly between 0 "
                         f"and 1, got {val_fraction}; e.g. --val-fraction 0.2 holds out 20%.")


def _source(name: str, input_size: Sequence[int]) -> _Source:
    if name == "digits":
        images, labels, classes = _digits()
        return _Source(name, len(labels), labels, classes,
                       lambda index: fit_images(images[index], input_size))
    if Path(name).is_dir():
        files, labels, classes = _folder(Path(name))
        return _Source(name, len(labels), labels, classes, lambda index: torch.stack(
            [fit_images(_read_image(files[i], input_size[0])[None], input_size)[0]
             for i in index.tolist()]))
    if Path(name).is_absolute():  # what a run records of the folder it trained on
        raise UsageError(f"the data folder {name} does not exist: give an existing folder (a "
                         "run records the folder it trained on; if that one moved, pass --data "
                         "FOLDER with the same classes).")
    raise UsageError(f"unknown data {name!r}. {DATA_HELP}.")


def _split(source: _Source, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    train_index, val_index = split_indices(source.count, val_fraction, seed)
    if len(train_index) == 0:  # round(count * fraction) can hold out every sample
        raise UsageError(f"--val-fraction {val_fraction} holds out all {source.count} samples "
                         f"of {source.name} for validation and leaves none to train on; give a "
                         "smaller fraction, e.g. --val-fraction 0.2.")
    return train_index, val_index


_CHUNK = 64  # images resized at a time while measuring a standardisation


def _measured(source: _Source, train_index: torch.Tensor) -> Normalisation:
    """The training images' mean and (unbiased) standard deviation, as ``load_data`` takes
    them, from float32 sums over chunks of ``_CHUNK`` images added up in float64 (a float64 sum
    in torch costs 20 times a float32 one)."""
    total = squares = 0.0
    count = 0
    for chunk in train_index.split(_CHUNK):
        images = source.fitted(chunk)
        total += images.sum().item()
        squares += images.square().sum().item()
        count += images.numel()
    mean = total / count
    variance = max(squares - total * mean, 0.0) / max(count - 1, 1)
    return Normalisation(mean, variance ** 0.5 or 1.0)


def split_indices(count: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded permutation cut into train and validation indices (the same on every machine)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    val_count = max(1, round(count * val_fraction))
    return order[val_count:], order[:val_count]


def fit_images(images: torch.Tensor, input_size: Sequence[int]) -> torch.Tensor:
    """[N, c, h, w] images in [0, 1] -> [N, C, H, W]: bilinear resize, grey repeated to colour."""
    channels, height, width = input_size
    if tuple(images.shape[-2:]) != (height, width):
        shrinks = images.shape[-2] > height or images.shape[-1] > width  # either axis aliases
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False,
                               antialias=shrinks)
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return images.expand(-1, channels, -1, -1).contiguous()
    if channels == 1:
        return images.mean(1, keepdim=True)
    raise UsageError(f"the images have {images.shape[1]} channels and the model wants "
                     f"{channels}; pass --input with {images.shape[1]} channels.")


def load_image(path: str | Path, input_size: Sequence[int],
               normalisation: Normalisation) -> torch.Tensor:
    """One image file as the model sees it: [C, H, W], resized and standardised."""
    image = _read_image(Path(path), input_size[0])
    return normalisation.apply(fit_images(image[None], input_size))[0]


def _digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError("--data digits needs scikit-learn: pip install 'convscope[train]'.") from None
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0  # pixels are 0..16
    return images, torch.tensor(digits.target), [str(c) for c in digits.target_names]


def _folder(root: Path) -> tuple[list[Path], torch.Tensor, list[str]]:
    """The image files of a folder of class folders, their labels and the class names."""
    # hidden folders (.ipynb_checkpoints, .git) are not classes
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [(f, label) for label, c in enumerate(classes) for f in sorted((root / c).iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES]
    if len(classes) < 2 or not files:
        raise UsageError(f"{root} should hold one sub-folder of images per class (at least two); "
                         f"found {len(classes)} sub-folders and {len(files)} images.")
    found = {label for _, label in files}
    empty = [c for label, c in enumerate(classes) if label not in found]
    if empty:  # a class no sample has would still get a logit, and "-" in every evaluation
        raise UsageError(f"class folder{'s' * (len(empty) > 1)} {', '.join(empty)} of {root} "
                         f"{'hold' if len(empty) > 1 else 'holds'} no images (PNG, JPEG, ...; "
                         "sub-folders are not read); add images or remove the folder.")
    return [f for f, _ in files], torch.tensor([label for _, label in files]), classes


def _read_image(path: Path, channels: int) -> torch.Tensor:
    """An image file as a float [c, h, w] tensor in [0, 1]."""
    try:
        from PIL import Image
    except ImportError:
        raise UsageError("reading images needs Pillow: pip install 'convscope[train]'.") from None
    try:
        with Image.open(path) as image:
            if image.mode in ("I", "I;16", "I;16L", "I;16B"):  # 16-bit grey: convert() clips
                return _sixteen_bit(image)  # every value above 255 to white
            image = image.convert("L" if channels == 1 else "RGB")
            data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
            size = (image.height, image.width, len(image.getbands()))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read image {path}: {exc}.") from None
    return data.view(size).permute(2, 0, 1).float() / 255.0


def _sixteen_bit(image) -> torch.Tensor:
    """A 16-bit grey image (Pillow's mode I;16, or I for older Pillow) as [1, h, w] in [0, 1]:
    pixel / 65535, so 1,040 is 0.016 (``convert("L")`` would make it 255, white)."""
    values = torch.frombuffer(bytearray(image.convert("I").tobytes()), dtype=torch.int32)
    return (values.float() / 65535.0).clamp(0, 1).view(1, image.height, image.width)


def _torchvision_split(name: str, input_size: Sequence[int],
                       normalisation: Normalisation | None) -> DataSplit:
    try:
        import torchvision
    except ImportError:
        raise UsageError(f"--data {name} needs torchvision (pip install torchvision); "
                         "--data digits needs nothing more.") from None
    maker = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]
    root = Path.home() / ".cache" / "convscope"
    normalisation = normalisation or Normalisation(0.5, 0.25)
    transform = torchvision.transforms.Compose([
        torchvision.transforms.ToTensor(),
        lambda image: normalisation.apply(fit_images(image[None], input_size)[0]),
    ])
    train = maker(root, train=True, download=True, transform=transform)
    val = maker(root, train=False, download=True, transform=transform)
    return DataSplit(train, val, [str(c) for c in train.classes], normalisation, name)
