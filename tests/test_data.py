"""The data path: the fixed 80/10/10 split, real CIFAR-10 images, images at their own shape, the cache, and clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cae.data
import cae.folders
import cae.torchvision_source
from cae.data import CIFAR10_CLASSES, DataConfig, DataError, load_splits, split_indices, split_sizes


def test_full_split_is_48000_6000_6000() -> None:
    assert split_sizes(60_000, (0.8, 0.1, 0.1)) == (48_000, 6_000, 6_000)
    train, val, test = split_indices(60_000, (0.8, 0.1, 0.1), seed=0)
    assert (len(train), len(val), len(test)) == (48_000, 6_000, 6_000)
    together = torch.cat([train, val, test])
    assert torch.equal(together.sort().values, torch.arange(60_000))  # disjoint, nothing lost


def test_split_is_identical_on_every_call_and_a_subset_is_a_seeded_sample() -> None:
    first = split_indices(60_000, (0.8, 0.1, 0.1), seed=0)
    again = split_indices(60_000, (0.8, 0.1, 0.1), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    other = split_indices(60_000, (0.8, 0.1, 0.1), seed=1)
    assert not torch.equal(first[0], other[0])
    small = split_indices(60_000, (0.8, 0.1, 0.1), seed=0, subset=1000)
    assert [len(s) for s in small] == [800, 100, 100]
    # The subset is the start of the same permutation: the same images for the same seed.
    assert torch.equal(torch.cat(small), torch.cat(first)[:1000])


def test_real_cifar10_subset(tiny_splits) -> None:
    assert [len(s) for s in (tiny_splits.train, tiny_splits.val, tiny_splits.test)] == [320, 40, 40]
    images = tiny_splits.train.images
    assert images.dtype == torch.uint8 and images.shape == (320, 3, 32, 32)
    assert tiny_splits.classes == CIFAR10_CLASSES
    labels = torch.cat([s.labels for s in (tiny_splits.train, tiny_splits.val, tiny_splits.test)])
    assert labels.min() >= 0 and labels.max() <= 9 and len(labels.unique()) == 10
    assert 60 < images.float().mean() < 190  # real photographs, not blank or noise
    assert "CIFAR-10" in tiny_splits.source


def test_loading_twice_gives_the_same_images_and_the_second_reads_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = DataConfig(subset=120, seed=7)
    first = load_splits(cfg)

    def no_decoding(*_args):
        raise AssertionError("decoded again although the cache holds these images")

    monkeypatch.setattr(cae.folders.FolderSource, "_decode", no_decoding)
    second = load_splits(cfg)
    assert torch.equal(first.train.images, second.train.images)
    assert torch.equal(first.test.labels, second.test.labels)


def _image_folder(root: Path, sizes: dict[str, list[tuple[int, int]]]) -> Path:
    rng = np.random.default_rng(0)
    for label, shapes in sizes.items():
        (root / label).mkdir(parents=True)
        for i, (w, h) in enumerate(shapes):
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def test_an_image_folder_keeps_its_size_and_is_resized_only_when_asked(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "pets", {"cat": [(64, 64)] * 6, "dog": [(64, 64)] * 6})
    splits = load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    assert splits.classes == ("cat", "dog")
    assert [len(s) for s in (splits.train, splits.val, splits.test)] == [10, 1, 1]
    assert splits.shape == (3, 64, 64) and splits.describe().shape == (3, 64, 64)
    assert load_splits(DataConfig(dataset="imagefolder", root=str(root), image_size=32)).shape == (3, 32, 32)
    assert load_splits(DataConfig(dataset="imagefolder", root=str(root), channels=1)).shape == (1, 64, 64)


def test_a_folder_of_mixed_sizes_is_refused_naming_two_files_unless_a_size_is_asked(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "pets", {"cat": [(40, 40)] * 6, "dog": [(64, 64)] * 6})
    with pytest.raises(DataError, match=r"cat/0\.png is 40×40, .*dog/0\.png is 64×64; set data.image_size") as error:
        load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    assert error.value.key == "data.image_size"
    assert load_splits(DataConfig(dataset="imagefolder", root=str(root), image_size=48)).shape == (3, 48, 48)


def test_non_square_images_need_a_size(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "wide", {"a": [(48, 32)] * 12})
    with pytest.raises(DataError, match=r"48×32 .*square.*data.image_size"):
        load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    assert load_splits(DataConfig(dataset="imagefolder", root=str(root), image_size=16)).shape == (3, 16, 16)


def test_gray_images_stay_one_channel_and_a_folder_without_classes_is_one_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), mode="L").save(tmp_path / f"{i:02d}.png")
    splits = load_splits(DataConfig(dataset="imagefolder", root=str(tmp_path)))
    assert splits.shape == (1, 28, 28) and splits.classes == ()
    first = np.asarray(Image.open(tmp_path / "00.png"))
    images = cae.data.load_images(DataConfig(dataset="imagefolder", root=str(tmp_path)), torch.tensor([0]))
    assert np.array_equal(images.images[0, 0].numpy(), first)  # the pixels as the file holds them
    rgb = load_splits(DataConfig(dataset="imagefolder", root=str(tmp_path), channels=3))
    assert rgb.shape == (3, 28, 28) and torch.equal(rgb.train.images[:, 0], rgb.train.images[:, 2])


def test_the_mnist_test_set_alone_is_a_dataset_at_one_by_28_by_28() -> None:
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    splits = load_splits(DataConfig(dataset="mnist", root=str(root), subset=500))
    assert splits.shape == (1, 28, 28)
    assert [len(s) for s in (splits.train, splits.val, splits.test)] == [400, 50, 50]
    assert "MNIST (test part; no train files there)" in splits.source
    assert len(splits.classes) == 10 and splits.describe().dataset == "mnist"


def test_torchvision_pickles_are_joined_train_then_test(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    # the real pickles' layout (torchvision.datasets.CIFAR10 reads them), 10 images a batch file
    for name, value, label in [*((f"data_batch_{i}", 1, 0) for i in range(1, 6)), ("test_batch", 2, 1)]:
        batch = {"data": np.full((10, 3072), value, dtype=np.uint8), "labels": [label] * 10}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CIFAR10_CLASSES)}))
    splits = load_splits(DataConfig(root=str(tmp_path)))
    images = torch.cat([splits.train.images, splits.val.images, splits.test.images])
    labels = torch.cat([splits.train.labels, splits.val.labels, splits.test.labels])
    assert images.shape == (60, 3, 32, 32)
    assert torch.equal(images[:, 0, 0, 0] == 2, labels == 1)  # each image kept its own label
    assert int((labels == 1).sum()) == 10


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "test" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found") as error:
        load_splits(DataConfig(root=str(tmp_path)))
    assert error.value.key == "data.root"


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "imgs", {"a": [(32, 32)] * 12})
    (root / "a" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"broken\.png: cannot read this image"):
        load_splits(DataConfig(dataset="imagefolder", root=str(root)))


def test_subset_larger_than_the_data_is_refused(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "imgs", {"a": [(32, 32)] * 12})
    with pytest.raises(DataError, match=r"data.subset: expected between 1 and 12 images"):
        load_splits(DataConfig(dataset="imagefolder", root=str(root), subset=100))


def test_missing_cifar10_offline_says_where_to_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Offline:
        def __init__(self, *args, **kwargs) -> None:
            raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(cae.torchvision_source.torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(DataError, match=r"nothing: CIFAR-10 is not there .*cifar-10-batches-py/data_batch_1.*point data.root"):
        load_splits(DataConfig(root=str(tmp_path / "nothing")))


def test_the_cache_is_npy_read_row_by_row_and_an_old_npz_cache_is_converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAE_CACHE_DIR", str(tmp_path / "cache"))
    root = _image_folder(tmp_path / "imgs", {"a": [(32, 32)] * 8, "b": [(32, 32)] * 8})
    cfg = DataConfig(dataset="imagefolder", root=str(root))
    first = load_splits(cfg)  # every image: decoded once into the whole-source cache
    stems = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(stems) == 2 and stems[0].endswith("-all-images.npy") and stems[1].endswith("-all-labels.npy")

    def no_decoding(*_args):
        raise AssertionError("decoded again although the cache holds these images")

    monkeypatch.setattr(cae.folders.FolderSource, "_decode", no_decoding)
    again = load_splits(DataConfig(dataset="imagefolder", root=str(root), subset=10))  # rows read from the whole cache
    assert torch.equal(again.train.images, torch.cat([first.train.images, first.val.images, first.test.images])[:8])

    # a cache written by an earlier version (one .npz) is read, then replaced by the .npy pair
    images, labels = (tmp_path / "cache" / name for name in stems)
    stem = images.name.removesuffix("-images.npy")
    np.savez(tmp_path / "cache" / f"{stem}.npz", x=np.load(images), y=np.load(labels))
    images.unlink()
    labels.unlink()
    converted = load_splits(cfg)
    assert torch.equal(converted.train.images, first.train.images)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == stems


def test_rows_are_gathered_in_the_order_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cae.folders, "GATHER_ROWS", 3)  # several chunks, runs of consecutive rows across them
    array = np.arange(20 * 2 * 2, dtype=np.uint8).reshape(20, 1, 2, 2)
    np.save(tmp_path / "a.npy", array)
    for rows in ([19, 0, 5, 6, 7, 8, 2, 2], list(range(20)), [], [4]):
        chosen = np.array(rows, dtype=np.int64)
        assert np.array_equal(cae.folders.gather(tmp_path / "a.npy", chosen), array[chosen])
    with pytest.raises(ValueError, match="out of range"):
        cae.folders.gather(tmp_path / "a.npy", np.array([20]))
