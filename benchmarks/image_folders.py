"""Two folders of real images at shapes other than CIFAR-10's, for trying the toolkit on data of your own.

    python -m benchmarks.image_folders OUT [--images N]

writes ``OUT/digits28/<digit>/NNNN.png``: MNIST test digits, 28 × 28, one channel (from the files under
``$MNIST_DIR``, default ``../shared/data/mnist``), and ``OUT/photos64/<class>/NNNN.png``: CIFAR-10 photographs
enlarged to 64 × 64 RGB (bicubic). Then, for instance::

    python -m search run spaces/tiny.yaml --study digits --set data.dataset=imagefolder --set data.root=OUT/digits28
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from PIL import Image
from torchvision.datasets.mnist import read_image_file, read_label_file

from cae.data import DataConfig, load_images

MNIST_DIR = Path(os.environ.get("MNIST_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))


def digit_folder(root: Path, n: int = 100, mnist: Path = MNIST_DIR) -> Path:
    """The first ``n`` MNIST test digits as 28 × 28 gray PNGs in class folders (``ROOT/<digit>/NNNN.png``)."""
    raw = mnist / "MNIST" / "raw"
    images = read_image_file(str(raw / "t10k-images-idx3-ubyte"))[:n].numpy()
    labels = read_label_file(str(raw / "t10k-labels-idx1-ubyte"))[:n].tolist()
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(root / str(label) / f"{i:04d}.png")
    return root


def photo_folder(root: Path, n: int = 100) -> Path:
    """The first ``n`` CIFAR-10 photographs (of ``$CAE_DATA_DIR``) enlarged to 64 × 64 RGB PNGs, in their class folders."""
    cifar = load_images(DataConfig(image_size=64), torch.arange(n))
    for i, (image, label) in enumerate(zip(cifar.images, cifar.labels.tolist(), strict=True)):
        (root / f"class{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / f"class{label}" / f"{i:04d}.png")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.image_folders", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write digits28/ and photos64/ into")
    parser.add_argument("--images", type=int, default=2000, help="images in each folder (default 2,000)")
    args = parser.parse_args(argv)
    for name, make in (("digits28", digit_folder), ("photos64", photo_folder)):
        print(make(args.out / name, args.images))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
