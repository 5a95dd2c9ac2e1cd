"""A parsed space as plain values: the study's settings, the model in one of its three forms, and the
starting study as a reference that parsing never opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cae.settings import DataConfig
from cae.spec import Architecture
from search.space.params import Distribution, is_distribution
from search.space.schema import CLASSES_KEYS


@dataclass(frozen=True)
class StudySpec:
    name: str
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    objectives: tuple[str, ...] = ("val_mse",)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


@dataclass(frozen=True)
class TemplateModel:
    """The compact form: ``depth`` stages of conv + down-sampling, a bottleneck conv, and a mirror."""

    params: dict[str, Any]  # TEMPLATE_KEYS → constant or distribution
    per_stage: tuple[str, ...] = ("channels",)
    channel_list: tuple[Any, ...] | None = None  # ``channels: [8, 16]``: one entry per stage


@dataclass(frozen=True)
class ExplicitModel:
    """Layer lists; each layer is its kind plus options, any of them constant or a distribution."""

    encoder: tuple[dict[str, Any], ...]
    decoder: tuple[dict[str, Any], ...]
    activation: Any = "relu"
    output: Any = "sigmoid"
    norm: Any = "none"  # the default of every conv, transpose and residual layer that names none
    linear_skip: Any = False
    max_latent: int | None = None
    max_params: int | None = None


@dataclass(frozen=True)
class StartRef:
    """``start:`` as written: the study (and trial) to start from. Parsing never opens it:
    :func:`search.trials.start.resolve_start` does, when a run begins."""

    study: str
    storage: str | None = None
    trial: int | None = None  # a trial by number (default: the best)
    latent: int | None = None  # or the front's trial nearest this latent size


@dataclass(frozen=True)
class StartedModel:
    """The architecture of another study's trial (``start: {study: NAME}``), optionally widened and deepened."""

    ref: StartRef
    width: Any = 1.0  # every hidden layer's channels × width
    context: Any = 0  # extra down-sampling stages (cae.spec.deepen): more context for a colorizer
    architecture: Architecture | None = None  # the started trial's, once resolved
    origin: str = ""  # "study recon, trial 32 (latent 1,024)", once resolved
    record: dict[str, Any] | None = None  # the started trial, as the child study records it (search.trials.start.Start.record)


@dataclass(frozen=True)
class Design:
    """One design that a refit trains again: an architecture, its training settings and where it came from."""

    architecture: Architecture
    train: dict[str, Any]  # TrainConfig fields, constants (the space's own train keys override them)
    lineage: dict[str, Any]  # the parent study, trial and parameters it was found as (recorded on the trial)


@dataclass(frozen=True)
class DesignsModel:
    """``model: {designs: [...]}``: chosen designs, one per trial (the ``design`` parameter), as ``search refit`` writes them."""

    designs: tuple[Design, ...]


@dataclass(frozen=True)
class Space:
    path: Path
    study: StudySpec
    data: DataConfig
    train: dict[str, Any]  # TrainConfig fields → constant or distribution
    model: TemplateModel | ExplicitModel | StartedModel | DesignsModel
    text: str = ""  # the file as read, for the study's record
    overrides: tuple[str, ...] = field(default=())
    task: Any = "reconstruction"  # a task name (cae.tasks) or a choice of them
    classes: dict[str, Any] = field(default_factory=lambda: {k: key.default for k, key in CLASSES_KEYS.items()})
    train_written: tuple[str, ...] = ()  # train keys the file or --set wrote: a started space takes the others from its trial

    def distributions(self) -> dict[str, Distribution]:
        """Named distributions that are always present (conditional ones are named by sampling)."""
        found = {k: v for k, v in self.train.items() if is_distribution(v)}
        if isinstance(self.model, TemplateModel):
            found |= {k: v for k, v in self.model.params.items() if is_distribution(v)}
        return found
