"""A few images of each dataset written in its real on-disk format, exactly what torchvision's loaders read.

Each writer lays its files out under ``root`` as torchvision's download leaves them and returns what
it wrote (:class:`Written`): per part (``train``, ``test``, ``extra``, ``unlabeled``) the images as
N×C×H×W uint8 and the labels as torchvision reports them (0-based; SVHN's 10 read as 0; STL-10's
unlabeled part -1), so tests compare pixels exactly. The files' md5 sums are not the published ones:
torchvision's own CIFAR-100, SVHN and STL-10 classes refuse them unless their ``_check_integrity`` is
patched; the project only checks that the files exist.

- :func:`write_cifar100`: ``ROOT/cifar-100-python/{train,test,meta}`` pickles;
- :func:`write_svhn`: ``ROOT/{train,test,extra}_32x32.mat`` (MATLAB 5, ``X`` 32×32×3×N, ``y`` 1..10);
- :func:`write_stl10`: ``ROOT/stl10_binary/*.bin`` (column-major 3×96×96 bytes) and ``class_names.txt``;
- :func:`write_mnist_family`: ``ROOT/<Name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (idx files);
- :func:`digits_folder`: scikit-learn's 1,797 digits (8×8 gray) as ``ROOT/<digit>/NNNN.png``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CIFAR100_FINE = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip
CIFAR100_COARSE = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
    "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
    "vehicles_1", "vehicles_2",
)  # fmt: skip
STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
MNIST_CLASSES = {  # as torchvision names them (its classes attribute; the files hold none)
    "MNIST": ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"),
    "FashionMNIST": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "KMNIST": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}
SVHN_CLASSES = tuple(str(d) for d in range(10))
DIGITS_CLASSES = tuple(str(d) for d in range(10))


@dataclass
class Written:
    """What a writer wrote: per part, images N×C×H×W uint8 and labels int64 (as torchvision reports them)."""

    root: Path
    classes: tuple[str, ...]
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def images(self, *parts: str) -> np.ndarray:
        """The images of ``parts`` joined in that order (all parts, in writing order, when none are named)."""
        return np.concatenate([self.parts[p][0] for p in parts or self.parts])

    def labels(self, *parts: str) -> np.ndarray:
        return np.concatenate([self.parts[p][1] for p in parts or self.parts])

    def __len__(self) -> int:
        return sum(len(y) for _, y in self.parts.values())


def random_images(n: int, channels: int, size: int, seed: int) -> np.ndarray:
    """``n`` distinct images N×C×H×W uint8: smooth gradients (so resizing keeps them recognisable) plus noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size, dtype=np.float64)
    base = rng.uniform(0, 255, (n, channels, 1, 1)) * ramp[None, None, :, None] + rng.uniform(0, 255, (n, channels, 1, 1)) * (
        1 - ramp[None, None, None, :]
    )
    noise = rng.integers(-20, 21, (n, channels, size, size))
    return np.clip(base / 2 + noise + 64, 0, 255).astype(np.uint8)


def _labels(n: int, n_classes: int, seed: int) -> np.ndarray:
    """Every class in turn from a random start: each class present once n ≥ n_classes."""
    start = int(np.random.default_rng(seed).integers(n_classes))
    return ((np.arange(n) + start) % n_classes).astype(np.int64)


# --- CIFAR-100: cifar-100-python/{train,test,meta}, read by torchvision.datasets.CIFAR100 ---------------------


def write_cifar100(root: str | Path, n_train: int = 20, n_test: int = 10, seed: int = 0) -> Written:
    """``ROOT/cifar-100-python/{train,test,meta}`` as the original tarball holds them.

    Each part is a pickled dict: ``data`` (N×3072 uint8, each row the red, green then blue plane,
    row-major), ``fine_labels`` and ``coarse_labels`` (lists of ints), ``filenames``, ``batch_label``;
    ``meta`` holds ``fine_label_names`` and ``coarse_label_names``. The keys are text, as the Python 2
    pickles read with ``encoding="latin1"`` (torchvision looks up ``entry["data"]``, not ``b"data"``).
    """
    root = Path(root)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    written = Written(root, CIFAR100_FINE)
    for offset, (part, n) in enumerate((("train", n_train), ("test", n_test))):
        x = random_images(n, 3, 32, seed + 101 * offset)
        fine = _labels(n, 100, seed + offset)
        coarse = fine // 5  # any coarse label: torchvision reads only the fine ones
        entry = {
            "filenames": [f"image_{part}_{i}.png" for i in range(n)],
            "batch_label": f"{part}ing batch 1 of 1",
            "fine_labels": fine.tolist(),
            "coarse_labels": coarse.tolist(),
            "data": x.reshape(n, 3 * 32 * 32),
        }
        with open(folder / part, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        written.parts[part] = (x, fine)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": list(CIFAR100_FINE), "coarse_label_names": list(CIFAR100_COARSE)}, f, protocol=2)
    return written


# --- SVHN: {train,test,extra}_32x32.mat, read by torchvision.datasets.SVHN ------------------------------------


def write_svhn(root: str | Path, n_train: int = 20, n_test: int = 10, n_extra: int = 0, seed: int = 0) -> Written:
    """``ROOT/{train,test}_32x32.mat`` (and ``extra_32x32.mat`` when ``n_extra``), MATLAB 5 files.

    ``X`` is 32×32×3×N uint8 (height, width, channel, image) and ``y`` N×1 with labels 1..10, the
    digit 0 labelled 10: torchvision turns the 10s into 0s, as the returned labels are.
    """
    from scipy.io import savemat

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written = Written(root, SVHN_CLASSES)
    for offset, (part, n) in enumerate((("train", n_train), ("test", n_test), ("extra", n_extra))):
        if part == "extra" and not n:
            continue
        x = random_images(n, 3, 32, seed + 211 * offset)
        digits = _labels(n, 10, seed + offset)
        y = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(n, 1)
        savemat(root / f"{part}_32x32.mat", {"X": np.ascontiguousarray(x.transpose(2, 3, 1, 0)), "y": y})
        written.parts[part] = (x, digits)
    return written


# --- STL-10: stl10_binary/*.bin, read by torchvision.datasets.STL10 -------------------------------------------


def write_stl10(root: str | Path, n_train: int = 12, n_test: int = 8, n_unlabeled: int = 6, seed: int = 0) -> Written:
    """``ROOT/stl10_binary/{train,test}_{X,y}.bin``, ``unlabeled_X.bin`` and ``class_names.txt``.

    Images are raw bytes, each 3×96×96 with every channel column-major (the MATLAB order: the file
    holds image, channel, column, row); labels one byte each, 1..10. torchvision checks that the
    unlabeled file exists even to read the train part, so it is always written (possibly empty).
    """
    root = Path(root)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    written = Written(root, STL10_CLASSES)
    for offset, (part, n) in enumerate((("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled))):
        x = random_images(n, 3, 96, seed + 307 * offset)
        np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tofile(folder / f"{part}_X.bin")
        if part == "unlabeled":
            y = np.full(n, -1, dtype=np.int64)
        else:
            y = _labels(n, 10, seed + offset)
            (y + 1).astype(np.uint8).tofile(folder / f"{part}_y.bin")
        written.parts[part] = (x, y)
    (folder / "class_names.txt").write_text("".join(f"{name}\n" for name in STL10_CLASSES))
    return written


# --- MNIST, Fashion-MNIST, KMNIST: <Name>/raw/*-ubyte, read by torchvision.datasets.MNIST and kin --------------


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """``array`` (uint8, 1 to 3 dimensions) as an idx file.

    The header is the magic number 0x0000_08_NN (08: unsigned bytes; NN: the dimensions; 2051 for
    images, 2049 for labels), then each size, all big-endian 32-bit; then the bytes, row-major.
    """
    array = np.asarray(array, dtype=np.uint8)
    header = np.array([0x0800 | array.ndim, *array.shape], dtype=">u4")
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.ascontiguousarray(array).tobytes())


MNIST_PARTS = {"train": "train", "test": "t10k"}


def write_mnist_family(root: str | Path, name: str = "MNIST", n_train: int = 20, n_test: int = 10, seed: int = 0) -> Written:
    """``ROOT/<name>/raw/{train,t10k}-images-idx3-ubyte`` (magic 2051, N×28×28) and ``-labels-idx1-ubyte`` (magic 2049).

    ``name`` is torchvision's class name: ``MNIST``, ``FashionMNIST`` or ``KMNIST``. A part of 0
    images is not written at all (its files are missing), as in a copy of the test set alone.
    """
    root = Path(root)
    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    written = Written(root, MNIST_CLASSES[name])
    for offset, (part, n) in enumerate((("train", n_train), ("test", n_test))):
        if not n:
            continue
        x = random_images(n, 1, 28, seed + 401 * offset)
        y = _labels(n, 10, seed + offset)
        write_idx(raw / f"{MNIST_PARTS[part]}-images-idx3-ubyte", x[:, 0])
        write_idx(raw / f"{MNIST_PARTS[part]}-labels-idx1-ubyte", y)
        written.parts[part] = (x, y)
    return written


# --- scikit-learn's digits as a folder of PNG class folders ---------------------------------------------------


def digits_folder(root: str | Path) -> Written:
    """scikit-learn's ``load_digits`` (1,797 images 8×8, values 0..16 scaled to 0..255) as ``ROOT/<digit>/NNNN.png`` (mode L).

    ``NNNN`` is the image's index in ``load_digits``; the returned part ``all`` is in the order an
    image folder reads them (by class, then by file name), 1×8×8 each.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    root = Path(root)
    digits = load_digits()
    pixels = np.rint(digits.images * (255 / 16)).astype(np.uint8)  # 1797×8×8
    labels = digits.target.astype(np.int64)
    for digit in range(10):
        (root / str(digit)).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        Image.fromarray(image).save(root / str(label) / f"{i:04d}.png")
    order = np.argsort(labels, kind="stable")  # by class, then by index (= file name)
    written = Written(root, DIGITS_CLASSES)
    written.parts["all"] = (pixels[order][:, None], labels[order])
    return written
