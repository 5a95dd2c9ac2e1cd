"""``data.split: official``: the dataset's own test part is the test split, validation is carved from its training part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cae.data import DataConfig, DataError, load_images, load_splits, official_indices, open_source
from search.space import SpaceError, space_from_dict
from tests.dataset_files import random_images, write_cifar100, write_mnist_family, write_stl10, write_svhn

CIFAR10_PARTS = {"train": 50_000, "test": 10_000}


def test_the_test_split_is_exactly_the_test_part_and_validation_comes_from_training() -> None:
    train, val, test = official_indices(CIFAR10_PARTS, None, seed=0)
    assert (len(train), len(val), len(test)) == (45_000, 5_000, 10_000)  # the UvA tutorial's split
    assert torch.equal(test, torch.arange(50_000, 60_000))  # the test part, whole and in its order
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(50_000))  # the training part, disjoint, nothing lost
    assert [len(s) for s in official_indices(CIFAR10_PARTS, 2_000, seed=0)] == [48_000, 2_000, 10_000]  # a count


def test_the_official_split_is_seeded() -> None:
    first, again, other = (official_indices(CIFAR10_PARTS, 0.1, seed=s, subset=600) for s in (0, 0, 1))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


def test_a_subset_takes_each_part_its_share() -> None:
    train, val, test = official_indices(CIFAR10_PARTS, 0.1, seed=0, subset=600)
    assert (len(train), len(val), len(test)) == (450, 50, 100)  # 500 of the training part, 100 of the test part
    assert int(torch.cat([train, val]).max()) < 50_000 <= int(test.min())


def test_on_the_real_cifar10_export_no_test_image_is_trained_on() -> None:
    cfg = DataConfig(split="official", subset=600)
    splits = load_splits(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (450, 50, 100)
    assert splits.split == "official" and splits.describe().split == "official"
    assert splits.source.endswith(", official split")  # the run's first line says so
    assert splits.pixels == splits.describe().pixels == "JPEG export"
    train, val, test = official_indices(open_source(cfg).part_sizes, None, 0, 600)
    assert int(torch.cat([train, val]).max()) < 50_000 <= int(test.min())  # the export's train/ part first, then test/
    # the images are those indices' images of the export: test/ files in the test split, train/ files in the others
    for images, indices in ((splits.test, test), (splits.train, train)):
        assert torch.equal(images.images, load_images(DataConfig(), indices).images)
    assert torch.equal(load_splits(cfg).test.images, splits.test.images)  # the same on every call


@pytest.mark.parametrize(
    ("dataset", "write"),
    [
        ("cifar100", write_cifar100),
        ("svhn", write_svhn),
        ("stl10", write_stl10),
        ("mnist", lambda root: write_mnist_family(root, "MNIST")),
        ("fashionmnist", lambda root: write_mnist_family(root, "FashionMNIST")),
        ("kmnist", lambda root: write_mnist_family(root, "KMNIST")),
    ],
)
def test_every_dataset_with_parts_splits_officially(dataset: str, write, tmp_path: Path) -> None:
    written = write(tmp_path)
    splits = load_splits(DataConfig(dataset=dataset, root=str(tmp_path), split="official", val=2))
    np.testing.assert_array_equal(splits.test.images.numpy(), written.parts["test"][0])  # pixel for pixel, in order
    training = written.parts["train"][0]
    assert len(splits.val) == 2 and len(splits.train) == len(training) - 2
    seen = {image.tobytes() for image in torch.cat([splits.train.images, splits.val.images]).numpy()}
    assert seen == {image.tobytes() for image in training}


def test_an_image_folder_with_train_and_test_splits_officially(tmp_path: Path) -> None:
    for part, n, seed in (("train", 12, 0), ("test", 5, 1)):
        for i, image in enumerate(random_images(n, 3, 8, seed)):
            (tmp_path / part / "a").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.transpose(1, 2, 0)).save(tmp_path / part / "a" / f"{i:02d}.png")
    splits = load_splits(DataConfig(dataset="imagefolder", root=str(tmp_path), split="official", val=0.25))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9, 3, 5)
    np.testing.assert_array_equal(splits.test.images.numpy(), random_images(5, 3, 8, 1))
    assert splits.pixels == "original"  # lossless files


def test_a_dataset_without_a_test_part_is_refused(tmp_path: Path) -> None:
    write_mnist_family(tmp_path, "MNIST", n_train=0, n_test=10)  # the test set alone, as ../shared/data/mnist
    with pytest.raises(DataError, match=r"^data.split: official needs MNIST's train and test parts; .* holds only its test files"):
        load_splits(DataConfig(dataset="mnist", root=str(tmp_path), split="official"))
    (tmp_path / "photos" / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "a" / "0.png")
    with pytest.raises(DataError, match=r"^data.split: .*photos: no train/ or test/ folder \(data.split: official reads the folder's"):
        load_splits(DataConfig(dataset="imagefolder", root=str(tmp_path / "photos"), split="official"))


def test_a_validation_set_too_large_for_the_training_part_is_refused(tmp_path: Path) -> None:
    write_svhn(tmp_path, n_train=20, n_test=10)
    with pytest.raises(DataError, match=r"^data.val: expected 1 to 19 validation images of the training part's 20 images, got 20$"):
        load_splits(DataConfig(dataset="svhn", root=str(tmp_path), split="official", val=20))


SPACE = {"study": {"name": "s"}, "train": {"epochs": 1}, "model": {"depth": 1, "channels": 4, "latent_channels": 2}}


def test_the_space_reads_official_and_val() -> None:
    data = space_from_dict({**SPACE, "data": {"split": "official", "val": 5000}}).data
    assert data.split == "official" and data.val == 5000 and data.official
    assert space_from_dict({**SPACE, "data": {"split": "official"}}).data.val is None  # 10% of the training part


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"split": "offical"}, "data.split: expected three fractions in (0, 1) summing to 1 (train, val, test) or official"),
        ({"val": 0.1}, "data.val: expected only with data.split: official (fractions set their own), got 0.1"),
        (
            {"split": "official", "val": 1.5},
            "data.val: expected a fraction in (0, 1) of the training part or a count of images ≥ 1, got 1.5",
        ),
        (
            {"split": "official", "val": True},
            "data.val: expected a fraction in (0, 1) of the training part or a count of images ≥ 1, got True",
        ),
    ],
)
def test_bad_split_settings_are_refused_in_one_line(data: dict, message: str) -> None:
    with pytest.raises(SpaceError) as caught:
        space_from_dict({**SPACE, "data": data})
    assert message in str(caught.value) and "\n" not in str(caught.value)
