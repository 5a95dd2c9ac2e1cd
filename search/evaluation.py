"""A trial's network on images it was not searched on, scored in both PSNR conventions beside PCA of its latent size.

::

    result = search.evaluate(("recon", 12), data="../shared/data/cifar10-original-sample/test")
    result.network.psnr_of_mean_mse, result.network.mean_of_psnrs, result.pca.psnr_of_mean_mse

``fit=CodeFit(steps)`` (:mod:`cae.code_fit`) also scores the network from each image's code fitted to its decoder by
gradient steps, as ``result.fitted``: the same code size and decoder, a better code than the encoder's one pass. A
``linear_skip`` network is also scored from PCA's code alone through its decoder (``result.linear_code``), which splits
its gain over PCA into its decoder's share and its encoder's (:attr:`Evaluation.shares_db`).

"PSNR" means two things in the literature, and they differ by most of a dB on the same reconstructions:
the **PSNR of the mean MSE**, 10·log10(1 / MSE averaged over the images) (this project's, and the UvA
tutorial's), and the **mean of per-image PSNRs** (COIN++'s), which is never lower (Jensen). Every
figure here is given in both, each named.

PCA is the study's own baseline: fitted on the trial's training split (:func:`cae.pca.linear_code`, cached),
keeping as many components as the network's latent holds, then measured on the same images.

``data`` names the images: a folder (a class-folder export with ``train/`` and ``test/`` gives its
``test/`` part; any other folder all its images; a folder of a dataset's torchvision files its test
part), a dataset's name (its test part under ``$CAE_DATA_DIR``), or a :class:`cae.data.DataConfig`,
whose images are all read, its parts joined. A folder or a name is read as the trial read its own data
(its ``data.image_size`` and ``data.channels``); images of another shape are refused in one line naming both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial

from cae.code_fit import CodeFit, FittedCodes, LinearCodes
from cae.data import DataConfig, DataError, fit_images, open_source
from cae.datasets import DATASETS, IMAGEFOLDER, REGISTRY
from cae.metrics import psnr
from cae.pca import CHUNK_ROWS, linear_code, pca_reconstruct
from cae.settings import Shape
from cae.training import rgb_batches
from search.trials.trial_model import LoadedTrial, load_trial

MEAN_MSE = "PSNR of the mean MSE"  # 10·log10(1 / mean over images of their MSE)
MEAN_PSNR = "mean of per-image PSNRs"


@dataclass(frozen=True)
class Scores:
    """Reconstruction errors of a set of images (pixels in [0, 1]): their mean MSE and PSNR in both conventions."""

    images: int
    mse: float  # the mean of the per-image MSEs: the MSE over every value, all images having as many
    psnr_of_mean_mse: float  # MEAN_MSE
    mean_of_psnrs: float  # MEAN_PSNR: inf where an image is reconstructed exactly

    @classmethod
    def of(cls, per_image_mse: torch.Tensor | np.ndarray) -> Scores:
        """The scores of images whose MSEs are ``per_image_mse``.

        >>> s = Scores.of(np.array([0.01, 0.0001]))   # 20 dB and 40 dB
        >>> round(s.psnr_of_mean_mse, 2), round(s.mean_of_psnrs, 2)
        (22.97, 30.0)
        """
        mse = np.asarray(per_image_mse, dtype=np.float64)
        if mse.ndim != 1 or not len(mse):
            raise ValueError(f"expected the MSEs of one or more images, got shape {mse.shape}")
        return cls(len(mse), float(mse.mean()), float(psnr(float(mse.mean()))), float(np.mean(psnr(mse))))


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured: the network's scores and PCA's at its latent size on the same images."""

    trial: str  # "study S, trial N"
    images: str  # the images evaluated, in words
    pixels: str  # what their files hold: "original" or "JPEG export"
    shape: Shape
    trained_on: str  # the trial's own data, in words
    latent_size: int
    network: Scores
    pca: Scores | None  # None where PCA has no code of the latent's size (see pca_problem)
    pca_problem: str = ""
    fitted: Scores | None = None  # the network from each image's fitted code (cae.code_fit), where asked for
    fit: str = ""  # how the codes were fitted, in words
    linear_code: Scores | None = None  # a linear_skip network's decoder from PCA's code alone (cae.code_fit.LinearCodes)

    @property
    def gains_db(self) -> tuple[float, float] | None:
        """The network over PCA in dB, in each convention (PSNR of the mean MSE, mean of per-image PSNRs); ``None`` without PCA."""
        if self.pca is None:
            return None
        return _gains(self.network, self.pca)

    @property
    def fitted_gains_db(self) -> tuple[float, float] | None:
        """As :attr:`gains_db`, for the network from fitted codes; ``None`` without PCA or fitted codes."""
        return None if self.pca is None or self.fitted is None else _gains(self.fitted, self.pca)

    @property
    def shares_db(self) -> dict[str, float] | None:
        """Where a ``linear_skip`` network's gain over PCA comes from, in dB of the PSNR of the mean MSE: ``decoder``
        (PCA's code through the trained decoder, over PCA), ``encoder`` (the encoder's code over PCA's, both decoded),
        and, where codes were fitted, ``fitted`` (fitted codes over the encoder's: what its one pass leaves).
        ``None`` without PCA or without a linear code."""
        if self.pca is None or self.linear_code is None:
            return None
        shares = {
            "decoder": self.linear_code.psnr_of_mean_mse - self.pca.psnr_of_mean_mse,
            "encoder": self.network.psnr_of_mean_mse - self.linear_code.psnr_of_mean_mse,
        }
        if self.fitted is not None:
            shares["fitted"] = self.fitted.psnr_of_mean_mse - self.network.psnr_of_mean_mse
        return shares


def _gains(network: Scores, pca: Scores) -> tuple[float, float]:
    return (network.psnr_of_mean_mse - pca.psnr_of_mean_mse, network.mean_of_psnrs - pca.mean_of_psnrs)


def _loaded(trial: Any, study: str | optuna.Study | None, storage: str | None) -> LoadedTrial:
    """The trial asked for, with its weights: a :class:`LoadedTrial`, ``(study, number)`` or a ``FrozenTrial`` with ``study=``."""
    if isinstance(trial, LoadedTrial):
        return trial
    if isinstance(trial, tuple) and len(trial) == 2:
        study, trial = trial
    if study is None:
        raise TypeError(
            f"trial={trial!r}: expected a LoadedTrial (search.load_trial), (study, number), or a FrozenTrial with study= "
            "(a FrozenTrial does not name its study)"
        )
    name = study.study_name if isinstance(study, optuna.Study) else study
    number = trial.number if isinstance(trial, FrozenTrial) else trial
    return load_trial(name, storage, number)


def _dataset_root(folder: Path) -> str | None:
    """The registered dataset whose test files ``folder`` holds as torchvision's download leaves them, if any."""
    for name, entry in REGISTRY.items():
        if all((folder / file).is_file() for file in entry.files["test"]):
            return name
    return None


def images_config(data: str | Path | DataConfig, trial: DataConfig) -> DataConfig:
    """What ``data`` names (see the module's docstring), read as ``trial``'s data is (its image size and channels)."""
    if isinstance(data, DataConfig):
        return data
    fitted = {"image_size": trial.image_size, "channels": trial.channels}
    if isinstance(data, str) and data in DATASETS and data != IMAGEFOLDER and not Path(data).is_dir():
        return DataConfig(dataset=data, parts=("test",), **fitted)
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise DataError("data", f"{str(data)!r}: expected a folder of images or a dataset's name ({', '.join(DATASETS[:-1])}), got neither")
    dataset = _dataset_root(folder)
    if dataset is not None:
        return DataConfig(dataset=dataset, root=str(folder), parts=("test",), **fitted)
    parts = ("test",) if (folder / "train").is_dir() and (folder / "test").is_dir() else None
    return DataConfig(dataset=IMAGEFOLDER, root=str(folder), parts=parts, **fitted)


def _network_mse(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Each image's MSE against the model's image of it (as :func:`cae.training.evaluate` measures, per image), float64."""
    with torch.no_grad():
        return torch.cat([(out - x).square().flatten(1).double().mean(1).cpu() for x, out in rgb_batches(model, images)])


def pca_image_mse(train: torch.Tensor, images: torch.Tensor, latent: int) -> tuple[torch.Tensor | None, str]:
    """Each image's MSE (float64) against PCA's reconstruction from ``latent`` components fitted on ``train`` (uint8 images
    both; the reconstruction clamped to [0, 1], as a network's is); or ``None`` and why not."""
    values = math.prod(images.shape[1:])
    if latent >= values:
        return None, f"a latent of {latent:,} values holds the whole image ({values:,} values): PCA at that size copies it"
    code = linear_code(train)
    if latent > code.n_axes:
        return None, f"PCA of the {len(train):,} training images has {code.n_axes:,} axes, fewer than the latent's {latent:,}"
    chunks = []
    for start in range(0, len(images), CHUNK_ROWS):
        x = images[start : start + CHUNK_ROWS]
        chunks.append((pca_reconstruct(code, x, latent) - x.double().div(255)).square().flatten(1).mean(1))
    return torch.cat(chunks).double(), ""


def evaluate(
    trial: LoadedTrial | tuple[str | optuna.Study, int | FrozenTrial] | FrozenTrial,
    data: str | Path | DataConfig,
    *,
    study: str | optuna.Study | None = None,
    storage: str | None = None,
    fit: CodeFit | None = None,
) -> Evaluation:
    """Reconstruct every image ``data`` names with ``trial``'s network and with PCA of its latent size, and score both.

    ``trial``: a :class:`~search.trials.trial_model.LoadedTrial`, ``(study, number)`` (a study's name or an
    ``optuna.Study``, in ``storage`` where given), or a ``FrozenTrial`` with ``study=``. ``data``: see the module.
    ``fit``: also score the network from each image's code fitted to its decoder (:mod:`cae.code_fit`), as
    ``Evaluation.fitted``. A ``linear_skip`` network is also scored from PCA's code alone, as ``Evaluation.linear_code``.
    Raises :class:`~cae.data.DataError` (key ``data``) for images of another shape than the trial's, naming both.
    """
    loaded = _loaded(trial, study, storage)
    cfg = images_config(data, loaded.data_config)
    arch = loaded.model.arch
    want = (arch.in_channels, arch.image_size, arch.image_size)
    source = open_source(cfg)  # once: a folder is listed (and its cache checked) each time it is opened

    def read(indices: torch.Tensor) -> torch.Tensor:  # as cae.data.load_images reads, from the source opened here
        return fit_images(source.read(indices)[0], cfg.image_size, cfg.channels)

    have = tuple(read(torch.tensor([0])).shape[1:])  # the first image's shape, before every image is read
    if have != want:
        shown = " × ".join(map(str, have)), " × ".join(map(str, want))
        raise DataError("data", f"{source.description} holds {shown[0]} images; {loaded.name} was trained on {shown[1]}")
    images = read(torch.arange(source.n))
    own = loaded.data()
    pca, problem = pca_image_mse(own.train.images, images, arch.latent_size)
    return Evaluation(
        trial=loaded.name,
        images=f"{len(images):,} images of {source.description}" + (", its test part" if cfg.parts == ("test",) else ""),
        pixels=source.pixels,
        shape=want,
        trained_on=f"{len(own.train):,} training images of {own.source}",
        latent_size=arch.latent_size,
        network=Scores.of(_network_mse(loaded.model, images)),
        pca=None if pca is None else Scores.of(pca),
        pca_problem=problem,
        fitted=None if fit is None else Scores.of(_network_mse(FittedCodes(loaded.model, fit), images)),
        fit="" if fit is None else fit.words(),
        linear_code=Scores.of(_network_mse(LinearCodes(loaded.model), images)) if arch.linear_skip else None,
    )
