"""What a space can build, learnt from seeded random draws before a study starts, all at once (:func:`checked`, what a
run's plan asks): whether any architecture of it works (:func:`check_space`), the grid sampler's grid
(:func:`grid_search_space`); and whether it can resume a study without changing a parameter's choices
(:func:`check_choices_kept`).
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)

from cae.halving import halving_chain, halvings
from cae.spec import Architecture, ArchitectureError, Shape
from cae.tasks import TaskError
from search.factories import check_components
from search.sample import CHECK_SAMPLES, Suggest, TrialConfig, random_suggest, sample, space_shape
from search.space import Choice, FloatRange, IntRange, Space, SpaceError, TemplateModel


def check_depth(space: Space, shape: Shape) -> None:
    """Refuse a template whose depth can halve the image more often than its size halves evenly (28 → 14 → 7),
    before any training: the decoder could not land on the input's shape."""
    if not isinstance(space.model, TemplateModel):
        return
    match depth := space.model.params["depth"]:
        case Choice(values):
            deepest = max(values)
        case IntRange(high=high):
            deepest = high
        case _:
            deepest = depth
    size, fits = shape[1], halvings(shape[1])
    if deepest > fits:
        raise SpaceError(
            space.path,
            "model.depth",
            f"expected at most {fits}: a {size}×{size} image halves evenly {fits} time{'s' * (fits != 1)} ({halving_chain(size)}), "
            f"and a depth of {deepest} would halve it {deepest} times",
        )


@dataclass(frozen=True)
class Checked:
    """What a space builds for images of one shape, learnt once before a study starts (:func:`checked`)."""

    shape: Shape
    fixed: TrialConfig | None  # a fixed space's one configuration; None where trials draw
    grid: dict[str, list[Any]] | None  # the grid sampler's points (parameter name → values); None for other samplers


def checked(space: Space, shape: Shape | None = None, tries: int = CHECK_SAMPLES) -> Checked:
    """``space`` checked for images of ``shape`` (default: what its data gives, :func:`~search.sample.space_shape`)
    before any study starts: its depth, its grid (built once, where the sampler is a grid), an architecture that can
    be built (:func:`check_space`), and the sampler's and pruner's settings as Optuna judges them. :class:`SpaceError`
    for the first that fails."""
    shape = shape or space_shape(space)
    check_depth(space, shape)
    # built where the sampler is a grid, which refuses keys it cannot enumerate
    grid = grid_search_space(space, shape, tries) if space.study.sampler["type"] == "grid" else None
    reason = ""
    for seed in range(tries):
        drawn: dict[str, Any] = {}
        try:
            config = sample(space, random_suggest(random.Random(seed), drawn), shape=shape)
            break
        except TaskError as error:
            raise SpaceError(space.path, "task", f"expected a task these images allow: {error}") from None
        except ArchitectureError as error:
            reason = reason or str(error)
        if not drawn:
            raise SpaceError(space.path, "model", f"expected an architecture that can be built: {reason}")
    else:
        raise SpaceError(space.path, "model", f"expected some architecture that can be built; none of {tries} random draws can ({reason})")
    check_components(space.study, space.path, grid)
    return Checked(shape, None if drawn else config, grid)


def check_space(space: Space, shape: Shape | None = None, tries: int = CHECK_SAMPLES) -> TrialConfig | None:
    """Refuse a space in which no architecture can be built for images of ``shape`` (default: what its data gives,
    :func:`~search.sample.space_shape`), before any study starts (:func:`checked`, whose configuration it returns).

    A fixed space is built once and its configuration returned; a space with distributions is
    sampled ``tries`` times at random and accepted (``None``) when any draw works: the others are
    refused trial by trial, with their reason.
    """
    return checked(space, shape, tries).fixed


def draw(space: Space, seed: int = 0, tries: int = CHECK_SAMPLES, *, shape: Shape | None = None) -> TrialConfig:
    """One configuration of ``space`` (architecture and training): the fixed one, or the first buildable seeded draw.

    ``shape`` is the images' (C, H, W); default what the space's data gives (:func:`space_shape`).
    Draws that cannot be built (shapes that do not work out, a latent over ``model.max_latent``) are skipped,
    as a study refuses them trial by trial; :class:`SpaceError` when none of ``tries`` draws can be built.
    """
    shape = shape or space_shape(space)
    rng = random.Random(seed)
    reason = ""
    for _ in range(tries):
        try:
            return sample(space, random_suggest(rng), shape=shape)
        except ArchitectureError as error:
            reason = reason or str(error)
    raise SpaceError(
        space.path, "model", f"expected some architecture that can be built; none of {tries} draws from seed {seed} can ({reason})"
    )


def architecture(space: Space, seed: int = 0, *, shape: Shape | None = None) -> Architecture:
    """One architecture of ``space`` (see :func:`draw`), ready for :func:`cae.build`: ``cae.build(architecture(space, seed=1))``."""
    return draw(space, seed, shape=shape).architecture


def check_batch_size(space: Space, train_images: int) -> None:
    """Refuse a space whose ``train.batch_size`` can be larger than its training split (:class:`SpaceError`).

    Refused rather than clamped: a clamped batch would run a value that the trial's record and the
    sampler never saw (one step per epoch over every image), and a user who wrote 100,000 for 480
    images meant another data size or another batch; the line says both numbers.
    """
    batch = space.train.get("batch_size")
    match batch:
        case Choice(values):
            largest, shown = max(values), f"a choice up to {max(values):,}"
        case IntRange(high=high):
            largest, shown = high, f"a range up to {high:,}"
        case int():
            largest, shown = batch, f"{batch:,}"
        case _:
            return
    if largest > train_images:
        raise SpaceError(
            space.path,
            "train.batch_size",
            f"expected at most the training split's {train_images:,} images (data.subset and data.split decide it), got {shown}",
        )


def _optuna_distribution(dist: Any) -> BaseDistribution:
    """The distribution Optuna records for a space's ``dist`` (as :func:`~search.sample.optuna_suggest` asks for it)."""
    match dist:
        case Choice(values):
            return CategoricalDistribution(list(values))
        case IntRange(low, high, step, log):
            return IntDistribution(low, high, step=step, log=log)
        case FloatRange(low, high, step, log):
            return FloatDistribution(low, high, step=step, log=log)
    raise TypeError(f"not a distribution: {dist!r}")


def check_choices_kept(space: Space, study: optuna.Study, shape: Shape | None = None, tries: int = CHECK_SAMPLES) -> None:
    """Refuse a space that resumes ``study`` with other choices for a parameter its trials drew (or another kind of
    draw): Optuna keeps a parameter's choices fixed within a study and raises in the middle of the next trial that
    draws it, so a grid widened by one value, resumed, ended in a traceback after the first trial started."""
    recorded: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, dist in trial.distributions.items():
            recorded.setdefault(name, dist)
    if not recorded:
        return
    shape = shape or space_shape(space)
    for seed in range(tries):
        dists: dict[str, Any] = {}
        draw = random_suggest(random.Random(seed))

        def suggest(name: str, dist: Any, draw: Suggest = draw, dists: dict[str, Any] = dists) -> Any:
            dists[name] = dist
            return draw(name, dist)

        with contextlib.suppress(ArchitectureError):  # refused trial by trial, as in any study
            sample(space, suggest, shape=shape)
        for name, dist in dists.items():
            if name not in recorded:
                continue
            try:
                check_distribution_compatibility(recorded[name], _optuna_distribution(dist))
            except ValueError:
                was = recorded[name]
                held = f"choices {list(was.choices)}" if isinstance(was, CategoricalDistribution) else f"draws of {was}"
                raise SpaceError(
                    space.path,
                    _space_key(space, name),
                    f"expected the {held} that study {study.study_name}'s trials were drawn from: Optuna keeps a parameter's "
                    "choices fixed within a study; give this search another name with study_name=",
                ) from None


def _space_key(space: Space, name: str) -> str:
    if name in space.train:
        return f"train.{name}"
    return name if name == "task" else f"classes.{name}" if name in space.classes else f"model.{name}"


def _grid_values(space: Space, name: str, dist: Any) -> list[Any]:
    match dist:
        case Choice(values):
            return list(values)
        case IntRange(low, high, step, False):
            return list(range(low, high + 1, step))
        case FloatRange(low, high, step, False) if step:
            return [low + i * step for i in range(round((high - low) / step) + 1)]
    raise SpaceError(space.path, _space_key(space, name), "expected {choice: [...]} or a stepped, non-log range with the grid sampler")


def grid_search_space(space: Space, shape: Shape | None = None, tries: int = CHECK_SAMPLES) -> dict[str, list[Any]]:
    """The grid sampler's search space: every searched key with all its values.

    Sampling itself names the parameters (random draws, as in :func:`check_space`), so the grid can
    never disagree with what a trial asks for. A parameter that exists only in some draws (the
    per-stage ``channels.2`` of a searched depth) has no place in a grid and is refused.
    """
    shape = shape or space_shape(space)
    grid: dict[str, list[Any]] = {}
    names: set[str] | None = None
    for seed in range(tries):
        drawn: dict[str, Any] = {}
        dists: dict[str, Any] = {}
        draw = random_suggest(random.Random(seed), drawn)

        def suggest(name: str, dist: Any, draw: Suggest = draw, dists: dict[str, Any] = dists) -> Any:
            dists[name] = dist
            return draw(name, dist)

        try:
            sample(space, suggest, shape=shape)
        except ArchitectureError:
            continue  # refused trial by trial, as in any study
        if names is not None and set(dists) != names:
            odd = sorted(set(dists) ^ names)[0]
            expected = "expected a key that every trial has: the grid sampler cannot search conditional keys"
            raise SpaceError(space.path, _space_key(space, odd), expected)
        names = set(dists)
        grid |= {name: _grid_values(space, name, dist) for name, dist in dists.items() if name not in grid}
    if not grid:
        raise SpaceError(space.path, "study.sampler", "expected a space with at least one {choice: [...]} for the grid sampler to search")
    return grid
