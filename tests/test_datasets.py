"""Every registered dataset read at its own shape from a few images written in its real file format.

:mod:`tests.dataset_files` writes each dataset as torchvision's download leaves it; the first tests
check those files against torchvision's own classes (their md5 checks patched out), the rest read
them through :func:`cae.data.load_splits` and compare shapes, classes and pixels exactly.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from PIL import Image

from cae.data import load_images, load_splits, open_source, split_indices, split_sizes
from cae.datasets import DATASETS, REGISTRY
from cae.settings import DataConfig, DataDescription, DataError
from tests.dataset_files import (
    CIFAR100_FINE,
    DIGITS_CLASSES,
    MNIST_CLASSES,
    STL10_CLASSES,
    SVHN_CLASSES,
    Written,
    digits_folder,
    random_images,
    write_cifar100,
    write_idx,
    write_mnist_family,
    write_stl10,
    write_svhn,
)

MNIST_TEST_SET = Path("/work/shared/data/mnist")  # the MNIST test set alone (t10k files), where the project keeps it
MNIST_FAMILY = {"mnist": "MNIST", "fashionmnist": "FashionMNIST", "kmnist": "KMNIST"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here reaches the network: a download torchvision tries fails at once, as on an offline machine."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("offline (tests/test_datasets.py)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# --- the files written, as torchvision's own classes read them --------------------------------------------------


@pytest.fixture(scope="module")
def cifar100(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return write_cifar100(tmp_path_factory.mktemp("cifar100"), n_train=20, n_test=10)


@pytest.fixture(scope="module")
def svhn(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return write_svhn(tmp_path_factory.mktemp("svhn"), n_train=20, n_test=10, n_extra=5)


@pytest.fixture(scope="module")
def stl10(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return write_stl10(tmp_path_factory.mktemp("stl10"), n_train=12, n_test=8, n_unlabeled=6)


@pytest.fixture(scope="module")
def mnist_family(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Written]:
    """The three MNIST-like datasets side by side under one root, as torchvision keeps them."""
    root = tmp_path_factory.mktemp("mnist_family")
    return {name: write_mnist_family(root, cls, n_train=20, n_test=10, seed=i) for i, (name, cls) in enumerate(MNIST_FAMILY.items())}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return digits_folder(tmp_path_factory.mktemp("digits"))


def _no_md5(cls: type) -> mock._patch:
    return mock.patch.object(cls, "_check_integrity", return_value=True)


def test_cifar100_files_read_by_torchvision(cifar100: Written) -> None:
    for part in ("train", "test"):
        # CIFAR's meta file is checked through the module's check_integrity, not the method
        with _no_md5(tvd.CIFAR100), mock.patch("torchvision.datasets.cifar.check_integrity", return_value=True):
            dataset = tvd.CIFAR100(str(cifar100.root), train=part == "train")
        x, y = cifar100.parts[part]
        np.testing.assert_array_equal(dataset.data, x.transpose(0, 2, 3, 1))
        assert dataset.targets == y.tolist()
        assert tuple(dataset.classes) == CIFAR100_FINE
        image, label = dataset[3]
        np.testing.assert_array_equal(np.asarray(image).transpose(2, 0, 1), x[3])
        assert label == y[3]


def test_svhn_files_read_by_torchvision(svhn: Written) -> None:
    for part in ("train", "test", "extra"):
        with _no_md5(tvd.SVHN):
            dataset = tvd.SVHN(str(svhn.root), split=part)
        x, y = svhn.parts[part]
        np.testing.assert_array_equal(dataset.data, x)
        np.testing.assert_array_equal(dataset.labels, y)
        image, _ = dataset[1]
        np.testing.assert_array_equal(np.asarray(image).transpose(2, 0, 1), x[1])
    assert 0 in svhn.labels() and set(svhn.labels("train").tolist()) == set(range(10))  # the 10s written came back as 0s


def test_stl10_files_read_by_torchvision(stl10: Written) -> None:
    for part in ("train", "test", "unlabeled"):
        with _no_md5(tvd.STL10):
            dataset = tvd.STL10(str(stl10.root), split=part)
        x, y = stl10.parts[part]
        np.testing.assert_array_equal(dataset.data, x)
        np.testing.assert_array_equal(dataset.labels, y)
        assert tuple(dataset.classes) == STL10_CLASSES
        image, _ = dataset[2]
        np.testing.assert_array_equal(np.asarray(image).transpose(2, 0, 1), x[2])


def test_mnist_family_files_read_by_torchvision(mnist_family: dict[str, Written]) -> None:
    for name, written in mnist_family.items():
        for part in ("train", "test"):
            dataset = getattr(tvd, MNIST_FAMILY[name])(str(written.root), train=part == "train")  # no md5 here: only existence
            x, y = written.parts[part]
            np.testing.assert_array_equal(dataset.data.numpy(), x[:, 0])
            np.testing.assert_array_equal(dataset.targets.numpy(), y)
            assert tuple(dataset.classes) == MNIST_CLASSES[MNIST_FAMILY[name]]


def test_idx_header(tmp_path: Path) -> None:
    write_idx(tmp_path / "images", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "labels", np.arange(3, dtype=np.uint8))
    assert (tmp_path / "images").read_bytes()[:16] == bytes.fromhex("00000803 00000003 0000001c 0000001c")
    assert (tmp_path / "labels").read_bytes()[:8] == bytes.fromhex("00000801 00000003")
    assert int.from_bytes((tmp_path / "images").read_bytes()[:4], "big") == 2051
    assert int.from_bytes((tmp_path / "labels").read_bytes()[:4], "big") == 2049


def test_digits_folder_read_by_image_folder(digits: Written) -> None:
    dataset = tvd.ImageFolder(str(digits.root))
    x, y = digits.parts["all"]
    assert len(dataset) == len(x) == 1797 and tuple(dataset.classes) == DIGITS_CLASSES
    assert [label for _, label in dataset.samples] == y.tolist()
    for i in (0, 500, 1796):
        with Image.open(dataset.samples[i][0]) as image:
            assert image.mode == "L" and image.size == (8, 8)
            np.testing.assert_array_equal(np.asarray(image), x[i, 0])
    assert x.min() == 0 and x.max() == 255


# --- through cae.data ---------------------------------------------------------------------------------------------


def _check_read(cfg: DataConfig, written: Written, parts: tuple[str, ...], shape: tuple[int, int, int], classes: tuple[str, ...]) -> None:
    """``cfg`` reads ``parts`` of ``written`` in that order, permuted and cut 80/10/10, at ``shape``, pixel for pixel."""
    x, y = written.images(*parts), written.labels(*parts)
    splits = load_splits(cfg)
    assert splits.shape == shape
    assert splits.classes == classes
    for s in (splits.train, splits.val, splits.test):
        assert s.images.dtype == torch.uint8 and s.labels.dtype == torch.int64
        assert s.images.shape[1:] == shape and s.images.is_contiguous()
    assert (len(splits.train), len(splits.val), len(splits.test)) == split_sizes(len(x), cfg.split)
    order = torch.cat(split_indices(len(x), cfg.split, cfg.seed)).numpy()
    got = torch.cat([splits.train.images, splits.val.images, splits.test.images]).numpy()
    np.testing.assert_array_equal(got, x[order])
    np.testing.assert_array_equal(torch.cat([splits.train.labels, splits.val.labels, splits.test.labels]).numpy(), y[order])
    # in source order, unsplit
    source = load_images(cfg, torch.arange(len(x)))
    np.testing.assert_array_equal(source.images.numpy(), x)
    np.testing.assert_array_equal(source.labels.numpy(), y)
    described = splits.describe()
    assert described == DataDescription(cfg.dataset, shape, classes, splits.source, str(Path(cfg.root).resolve()))
    assert str(Path(cfg.root)) in splits.source


def test_cifar100(cifar100: Written) -> None:
    cfg = DataConfig(dataset="cifar100", root=str(cifar100.root))
    _check_read(cfg, cifar100, ("train", "test"), (3, 32, 32), CIFAR100_FINE)
    assert "CIFAR-100" in load_splits(cfg).source


def test_svhn(svhn: Written) -> None:
    cfg = DataConfig(dataset="svhn", root=str(svhn.root))
    _check_read(cfg, svhn, ("train", "test"), (3, 32, 32), SVHN_CLASSES)
    assert set(load_images(cfg, torch.arange(30)).labels.tolist()) == set(range(10))  # label 10 read as 0
    # the extra part only when asked
    asked = DataConfig(dataset="svhn", root=str(svhn.root), parts=("train", "test", "extra"))
    _check_read(asked, svhn, ("train", "test", "extra"), (3, 32, 32), SVHN_CLASSES)


def test_stl10(stl10: Written) -> None:
    cfg = DataConfig(dataset="stl10", root=str(stl10.root))
    _check_read(cfg, stl10, ("train", "test"), (3, 96, 96), STL10_CLASSES)
    # the unlabeled part only when asked (torchvision labels it -1)
    asked = DataConfig(dataset="stl10", root=str(stl10.root), parts=("train", "test", "unlabeled"))
    _check_read(asked, stl10, ("train", "test", "unlabeled"), (3, 96, 96), STL10_CLASSES)


def test_stl10_without_unlabeled_file(tmp_path: Path) -> None:
    """torchvision's own check wants unlabeled_X.bin (2.4 GB) even for the train part; the project does not."""
    written = write_stl10(tmp_path, n_train=10, n_test=10, n_unlabeled=0)
    (tmp_path / "stl10_binary" / "unlabeled_X.bin").unlink()
    _check_read(DataConfig(dataset="stl10", root=str(tmp_path)), written, ("train", "test"), (3, 96, 96), STL10_CLASSES)


@pytest.mark.parametrize("name", list(MNIST_FAMILY))
def test_mnist_family(name: str, mnist_family: dict[str, Written]) -> None:
    written = mnist_family[name]
    classes = MNIST_CLASSES[MNIST_FAMILY[name]]
    _check_read(DataConfig(dataset=name, root=str(written.root)), written, ("train", "test"), (1, 28, 28), classes)


def test_mnist_part_missing_left_out(tmp_path: Path) -> None:
    written = write_mnist_family(tmp_path, "FashionMNIST", n_train=0, n_test=20)
    assert not (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()
    cfg = DataConfig(dataset="fashionmnist", root=str(tmp_path))
    _check_read(cfg, written, ("test",), (1, 28, 28), MNIST_CLASSES["FashionMNIST"])
    source = load_splits(cfg).source
    assert "test" in source and "train" in source  # says which part was read and which was not there


@pytest.mark.skipif(not (MNIST_TEST_SET / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file(), reason="no MNIST test set here")
def test_mnist_test_set_alone() -> None:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = MNIST_TEST_SET / "MNIST" / "raw"
    x = read_image_file(str(raw / "t10k-images-idx3-ubyte")).numpy()
    y = read_label_file(str(raw / "t10k-labels-idx1-ubyte")).numpy()
    cfg = DataConfig(dataset="mnist", root=str(MNIST_TEST_SET))
    assert open_source(cfg).n == 10_000
    splits = load_splits(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (8_000, 1_000, 1_000)
    assert splits.shape == (1, 28, 28) and splits.classes == MNIST_CLASSES["MNIST"]
    order = torch.cat(split_indices(10_000, cfg.split, cfg.seed)).numpy()
    np.testing.assert_array_equal(splits.test.images[:, 0].numpy(), x[order[9_000:]])
    np.testing.assert_array_equal(splits.train.labels.numpy(), y[order[:8_000]])
    small = load_splits(DataConfig(dataset="mnist", root=str(MNIST_TEST_SET), subset=200))
    assert (len(small.train), len(small.val), len(small.test)) == (160, 20, 20)
    # a subset is the first N of the same order
    np.testing.assert_array_equal(small.train.images.numpy(), splits.train.images[:160].numpy())
    with pytest.raises(DataError, match="10000"):
        load_splits(DataConfig(dataset="mnist", root=str(MNIST_TEST_SET), subset=10_001))


def test_digits_folder(digits: Written) -> None:
    cfg = DataConfig(dataset="imagefolder", root=str(digits.root))
    _check_read(cfg, digits, ("all",), (1, 8, 8), DIGITS_CLASSES)


# --- image_size and channels -------------------------------------------------------------------------------------


def test_channels_gray_to_rgb_and_back(mnist_family: dict[str, Written]) -> None:
    written = mnist_family["kmnist"]
    x = written.images("train", "test")
    root = str(written.root)
    rgb = load_images(DataConfig(dataset="kmnist", root=root, channels=3), torch.arange(len(x))).images.numpy()
    assert rgb.shape == (len(x), 3, 28, 28)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, c], x[:, 0])
    assert load_splits(DataConfig(dataset="kmnist", root=root, channels=3)).describe().shape == (3, 28, 28)
    same = load_images(DataConfig(dataset="kmnist", root=root, channels=1), torch.arange(len(x))).images.numpy()
    np.testing.assert_array_equal(same, x)


def test_channels_rgb_to_gray(svhn: Written) -> None:
    x = svhn.images("train", "test").astype(np.float64)
    gray = load_images(DataConfig(dataset="svhn", root=str(svhn.root), channels=1), torch.arange(len(x))).images.numpy()
    assert gray.shape == (len(x), 1, 32, 32) and gray.dtype == np.uint8
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # BT.601
    assert np.abs(gray[:, 0] - luma).max() < 1.05  # torchvision truncates the weighted sum (PIL rounds it)
    same = load_images(DataConfig(dataset="svhn", root=str(svhn.root), channels=3), torch.arange(len(x))).images.numpy()
    np.testing.assert_array_equal(same, x.astype(np.uint8))


def test_channels_on_a_folder(digits: Written) -> None:
    x = digits.parts["all"][0]
    rgb = load_images(DataConfig(dataset="imagefolder", root=str(digits.root), channels=3), torch.arange(0, 1797, 97)).images.numpy()
    assert rgb.shape == (19, 3, 8, 8)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, c], x[::97, 0])


def test_channels_refused_on_colour(svhn: Written) -> None:
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset="svhn", root=str(svhn.root), channels=2))
    assert refused.value.key == "data.channels"


@pytest.mark.parametrize("dataset", ["mnist", "imagefolder"])
def test_channels_refused_on_gray(dataset: str, mnist_family: dict[str, Written], digits: Written) -> None:
    root = mnist_family["mnist"].root if dataset == "mnist" else digits.root
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset=dataset, root=str(root), channels=2))
    assert refused.value.key == "data.channels"


def _pil_fit(images: np.ndarray, size: int) -> np.ndarray:
    """What PIL makes of N×3×H×W images: the centre square, resized to ``size`` (bicubic, antialiased)."""
    from PIL import ImageOps

    out = [np.asarray(ImageOps.fit(Image.fromarray(im.transpose(1, 2, 0)), (size, size), Image.Resampling.BICUBIC)) for im in images]
    return np.stack(out).transpose(0, 3, 1, 2)


def test_image_size_downsizes(stl10: Written) -> None:
    x = stl10.images("train", "test")
    cfg = DataConfig(dataset="stl10", root=str(stl10.root), image_size=32)
    splits = load_splits(cfg)
    assert splits.shape == (3, 32, 32) and splits.describe().shape == (3, 32, 32)
    small = load_images(cfg, torch.arange(len(x))).images.numpy()
    assert small.shape == (len(x), 3, 32, 32)
    # the same as PIL's antialiased bicubic, to a grey level or two
    assert np.abs(small.astype(int) - _pil_fit(x, 32).astype(int)).max() <= 2
    # a constant image stays that constant
    assert np.allclose(small.reshape(len(x), 3, -1).mean(-1), x.reshape(len(x), 3, -1).mean(-1), atol=3)


def test_image_size_upsizes_gray(mnist_family: dict[str, Written]) -> None:
    written = mnist_family["mnist"]
    splits = load_splits(DataConfig(dataset="mnist", root=str(written.root), image_size=32, channels=3))
    assert splits.shape == (3, 32, 32)
    assert torch.equal(splits.train.images[:, 0], splits.train.images[:, 2])
    assert load_splits(DataConfig(dataset="mnist", root=str(written.root), image_size=28)).shape == (1, 28, 28)


def test_image_size_on_a_folder_crops_the_centre(tmp_path: Path) -> None:
    """Non-square images: refused at their own size, and their centre square taken for a size."""
    wide = random_images(6, 3, 12, seed=5)[:, :, 2:10, :]  # 8 high, 12 wide
    for i, image in enumerate(wide):
        folder = tmp_path / ("a" if i % 2 else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"{i}.png")
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset="imagefolder", root=str(tmp_path)))
    assert refused.value.key == "data.image_size"
    cfg = DataConfig(dataset="imagefolder", root=str(tmp_path), image_size=8)
    got = load_images(cfg, torch.arange(6)).images.numpy()
    order = [1, 3, 5, 0, 2, 4]  # class a (odd), then class b (even)
    np.testing.assert_array_equal(got, wide[order][:, :, :, 2:10])
    assert load_splits(cfg).classes == ("a", "b")


# --- refusals ---------------------------------------------------------------------------------------------------


def test_unknown_dataset_lists_the_names(tmp_path: Path) -> None:
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset="imagenet", root=str(tmp_path)))
    assert refused.value.key == "data.dataset" and "imagenet" in str(refused.value)
    for name in ("cifar10", "cifar100", "mnist", "fashionmnist", "kmnist", "svhn", "stl10", "imagefolder"):
        assert name in DATASETS and name in str(refused.value)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_missing_files_offline_name_the_folder(name: str, tmp_path: Path) -> None:
    root = tmp_path / "nothing here"
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset=name, root=str(root)))
    message = str(refused.value)
    assert refused.value.key == "data.root"
    assert str(root) in message and "CAE_DATA_DIR" in message
    assert REGISTRY[name].folder in message  # the files (or the folder holding them) to put there


def test_missing_image_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset="imagefolder", root=str(tmp_path / "absent")))
    assert refused.value.key == "data.root" and str(tmp_path / "absent") in str(refused.value)


def test_unknown_part_refused(svhn: Written) -> None:
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset="svhn", root=str(svhn.root), parts=("train", "validation")))
    assert refused.value.key == "data.parts" and "extra" in str(refused.value) and "validation" in str(refused.value)


DAMAGED = {
    "cifar100": (write_cifar100, "cifar-100-python/train"),
    "svhn": (write_svhn, "train_32x32.mat"),
    "stl10": (write_stl10, "stl10_binary/train_X.bin"),
    "mnist": (lambda root: write_mnist_family(root, "MNIST"), "MNIST/raw/train-images-idx3-ubyte"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_file_refused(name: str, tmp_path: Path) -> None:
    """A file cut short (an interrupted copy) is refused as data, naming it, not with torchvision's own exception."""
    write, damaged = DAMAGED[name]
    write(tmp_path)
    path = tmp_path / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2 + 7])
    with pytest.raises(DataError) as refused:
        load_splits(DataConfig(dataset=name, root=str(tmp_path)))
    assert refused.value.key == "data.root" and str(tmp_path) in str(refused.value)
