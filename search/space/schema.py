"""Every key a space may hold, its kind and its default: the one table that parsing, sampling and the
documentation (spaces/README.md) follow.
"""

from __future__ import annotations

import re

from cae.chroma_bins import PAPER_REBALANCE, PAPER_TEMPERATURE
from cae.settings import DEVICES, LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULES, TASK_NAMES, TrainConfig
from cae.spec import ACTIVATIONS, NORMS, OUTPUT_ACTIVATIONS
from search.space.params import Bool, Enum, Float, Int, Key, Padding

DOWNSAMPLING = ("maxpool", "stride")


UPSAMPLING = ("nearest", "bilinear", "transpose")


STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


TRAIN_KEYS: dict[str, Key] = {
    "epochs": Key(Int(1), TrainConfig.epochs),
    "batch_size": Key(Int(1), TrainConfig.batch_size),
    "lr": Key(Float(0.0), TrainConfig.lr),
    "optimizer": Key(Enum(OPTIMIZERS), TrainConfig.optimizer),
    "schedule": Key(Enum(SCHEDULES), TrainConfig.schedule),
    "warmup": Key(Float(0.0, strict=False), TrainConfig.warmup),
    "weight_decay": Key(Float(0.0, strict=False), TrainConfig.weight_decay),
    "momentum": Key(Float(0.0, strict=False), TrainConfig.momentum),
    "loss": Key(Enum(LOSSES), TrainConfig.loss),
    "seed": Key(Int(0), TrainConfig.seed, tunable=False),
    "device": Key(Enum(DEVICES), TrainConfig.device, tunable=False),
    "precision": Key(Enum(PRECISIONS), TrainConfig.precision, tunable=False),
    "compile": Key(Bool(), TrainConfig.compile, tunable=False),
}


TEMPLATE_KEYS: dict[str, Key] = {
    "depth": Key(Int(1), 2),
    "channels": Key(Int(1), 16),
    "kernel": Key(Int(1), 3),
    "downsample": Key(Enum(DOWNSAMPLING), "maxpool"),
    "upsample": Key(Enum(UPSAMPLING), "nearest"),
    "blocks": Key(Int(1), 1),
    "residual": Key(Bool(), False),
    "norm": Key(Enum(NORMS), "none"),
    "latent_channels": Key(Int(1), 16),
    "latent_dim": Key(Int(1), None),
    "linear_bottleneck": Key(Bool(), False),
    "linear_skip": Key(Bool(), False),
    "activation": Key(Enum(ACTIVATIONS), "relu"),
    "output": Key(Enum(OUTPUT_ACTIVATIONS), "sigmoid"),
    "max_latent": Key(Int(1), None, tunable=False),
    "max_params": Key(Int(1), None, tunable=False),
}


PER_STAGE_KEYS = ("channels", "kernel", "downsample", "upsample", "activation", "blocks")


# Bounds that any model form may set: checked on every drawn architecture before it trains.
BOUND_KEYS = ("max_latent", "max_params")


# Explicit layers: the kind key holds the layer's main number; the rest are options.
LAYER_KEYS: dict[str, dict[str, Key]] = {
    "conv": {
        "conv": Key(Int(1)),
        "kernel": Key(Int(1), 3),
        "stride": Key(Int(1), 1),
        "padding": Key(Padding(), None),
        "activation": Key(Enum(ACTIVATIONS), None),
        "norm": Key(Enum(NORMS), None),
    },
    "transpose": {
        "transpose": Key(Int(1)),
        "kernel": Key(Int(1), 2),
        "stride": Key(Int(1), 2),
        "padding": Key(Int(0), 0),
        "output_padding": Key(Int(0), 0),
        "activation": Key(Enum(ACTIVATIONS), None),
        "norm": Key(Enum(NORMS), None),
    },
    "residual": {
        "residual": Key(Int(1)),
        "kernel": Key(Int(1), 3),
        "activation": Key(Enum(ACTIVATIONS), None),
        "norm": Key(Enum(NORMS), None),
    },
    "maxpool": {"maxpool": Key(Int(1)), "stride": Key(Int(1), None)},
    "upsample": {"upsample": Key(Int(1)), "mode": Key(Enum(("nearest", "bilinear")), "nearest")},
    "dense": {"dense": Key(Int(1)), "activation": Key(Enum(ACTIVATIONS), None)},
    "reshape": {"reshape": Key(Int(1)), "size": Key(Int(1))},
}


SECTIONS = ("study", "data", "train", "model")


TOP_KEYS = (*SECTIONS, "task", "start", "classes")


STUDY_KEYS = ("name", "objectives", "sampler", "pruner")


# What a study may minimise: the error always, and with it the code's size or the model's.
# A colorizer may instead maximise its colourfulness (validation images, as a share of the truth's).
OBJECTIVES = ("val_mse", "latent_size", "n_params", "colourfulness")


# Optuna's pruners read intermediate values, which multi-objective trials cannot report (optuna
# #3450); these are the pruners that work there (search/latent_pruner.py reads the curves instead).
MULTI_OBJECTIVE_PRUNERS = ("latent_percentile", "none")


START_KEYS = ("study", "storage", "trial", "latent")


# Chroma classification (task colorization_classes, cae.chroma_bins): grid cells per axis, rebalancing, temperature.
CLASSES_KEYS: dict[str, Key] = {
    "bins": Key(Int(2), 16),
    "rebalance": Key(Float(0.0, strict=False, maximum=1.0), PAPER_REBALANCE),
    "temperature": Key(Float(0.0), PAPER_TEMPERATURE),
}


CONTEXT_KEY = Key(Int(0), 0)


TASK_KEY = Key(Enum(TASK_NAMES), "reconstruction")


WIDTH_KEY = Key(Float(0.0), 1.0)


DATA_KEYS = ("dataset", "root", "split", "subset", "seed")
