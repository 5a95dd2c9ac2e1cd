"""Architecture search for convolutional autoencoders: a space in, an ``optuna.Study`` of trained models out.

The entry points a notebook needs, in the order it uses them (each returns the ecosystem's own objects):

    >>> import cae, search
    >>> space = search.space_from_dict({
    ...     "study": {"name": "toy", "objectives": ["val_mse", "latent_size"]},
    ...     "data": {"subset": 600},
    ...     "train": {"epochs": 1, "lr": {"float": [1.0e-3, 1.0e-2], "log": True}},
    ...     "model": {"depth": 2, "channels": {"int": [4, 16]}, "latent_channels": {"int": [2, 8]}},
    ... })
    >>> arch = search.architecture(space, seed=0)      # a cae.Architecture: a seeded draw of the space
    >>> arch.latent_size, arch.n_params
    (320, 3632)
    >>> model = cae.build(arch)                         # a torch.nn.Module
    >>> type(model).__name__
    'CAE'

Then, with CIFAR-10 at hand (seconds per trial for this space on a laptop CPU)::

    study = search.optimize(space, trials=3)            # an optuna.Study, resumable: call again for more
    search.trials_table(study)                          # a pandas.DataFrame: latent, PSNR, PCA's PSNR, gain, state
    loaded = search.load_trial("toy")                   # the best trial's trained nn.Module and its data split
    search.refit("toy", latent=[64, 128], epochs=30)    # the front's designs at exact sizes, trained longer
    search.evaluate(("toy", 0), data="cifar10")         # trial 0 on other images, both PSNR conventions, beside PCA

Importing :mod:`search` imports neither torch nor Optuna (names load on first use, PEP 562), so a bad
space is refused in a fraction of a second; no function here prints unless asked (``progress=True``)
or changes global state. The command line (``python -m search``) is a thin layer over these.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "LoadedTrial": "search.trials.trial_model",
    "Space": "search.space",
    "SpaceError": "search.space",
    "DesignError": "search.selection",
    "StorageError": "search.runtime.storage",
    "StorageWriteError": "search.runtime.storage",
    "StudyStopped": "search.run",
    "architecture": "search.space_check",
    "draw": "search.space_check",
    "evaluate": "search.evaluation",
    "load_space": "search.space",
    "load_trial": "search.trials.trial_model",
    "optimize": "search.run",
    "refit": "search.refits",
    "space_from_dict": "search.space",
    "trials_table": "search.trials.table",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
