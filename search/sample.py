"""From a :class:`~search.space.Space` to one concrete trial configuration: an architecture and its training.

Sampling is define-by-run: a value is drawn only when the expansion needs it, so the per-stage
parameters ``channels.0 … channels.{depth-1}`` exist only for the depth that was drawn. What draws
the values is a ``suggest(name, distribution)`` function: an Optuna trial in a study
(:func:`optuna_suggest`), a seeded random generator when a space is checked (:func:`random_suggest`).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from cae.chroma_bins import ChromaBins, full_grid
from cae.spec import (
    LAYER_KINDS,
    Architecture,
    ArchitectureError,
    Conv,
    ConvTranspose,
    Dense,
    Layer,
    MaxPool,
    Reshape,
    Residual,
    Shape,
    Upsample,
    deepen,
    out_shape,
    widen,
)
from cae.tasks import CLASSES, adapt, check_channels, get_task, task_of_architecture, with_classes
from cae.training import TrainConfig, check_loss
from search.space import Choice, DesignsModel, ExplicitModel, FloatRange, IntRange, Space, StartedModel, TemplateModel, is_distribution
from search.space.schema import INHERITED_KEYS

Suggest = Callable[[str, Any], Any]
# (cells per axis, rebalancing strength, temperature) → the classes: fitted on the training split in
# a study (search.trials.objective), the whole grid when only shapes are checked (no data is read then).
BinsFor = Callable[[int, float, float], ChromaBins]
CHECK_SAMPLES = 200


@dataclass(frozen=True)
class TrialConfig:
    architecture: Architecture
    train: TrainConfig
    lineage: dict[str, Any] | None = None  # a refit's design: where it was found (recorded on the trial)


def optuna_suggest(trial: optuna.Trial) -> Suggest:
    def suggest(name: str, dist: Any) -> Any:
        match dist:
            case Choice(values):
                return trial.suggest_categorical(name, list(values))
            case IntRange(low, high, step, log):
                return trial.suggest_int(name, low, high, step=step, log=log)
            case FloatRange(low, high, step, log):
                return trial.suggest_float(name, low, high, step=step, log=log)
        raise TypeError(f"not a distribution: {dist!r}")

    return suggest


def random_suggest(rng: random.Random, drawn: dict[str, Any] | None = None) -> Suggest:
    """Uniform (or log-uniform) draws from ``rng``; records every draw in ``drawn``."""
    drawn = {} if drawn is None else drawn

    def suggest(name: str, dist: Any) -> Any:
        if name not in drawn:
            match dist:
                case Choice(values):
                    value: Any = rng.choice(values)
                case IntRange(low, high, step, log):
                    value = round(math.exp(rng.uniform(math.log(low), math.log(high)))) if log else rng.randrange(low, high + 1, step)
                case FloatRange(low, high, step, log):
                    value = math.exp(rng.uniform(math.log(low), math.log(high))) if log else rng.uniform(low, high)
                    if step:
                        value = low + round((value - low) / step) * step
                case _:
                    raise TypeError(f"not a distribution: {dist!r}")
            drawn[name] = value
        return drawn[name]

    return suggest


def _draw(suggest: Suggest, name: str, param: Any) -> Any:
    return suggest(name, param) if is_distribution(param) else param


def _template(model: TemplateModel, suggest: Suggest, shape: Shape) -> Architecture:
    p = model.params
    image_channels, image_size, _ = shape

    def stage(key: str, i: int) -> Any:
        if key == "channels" and model.channel_list is not None:
            return _draw(suggest, f"channels.{i}", model.channel_list[i])
        return _draw(suggest, f"{key}.{i}" if key in model.per_stage else key, p[key])

    depth = _draw(suggest, "depth", p["depth"])
    norm, residual = _draw(suggest, "norm", p["norm"]), _draw(suggest, "residual", p["residual"])

    def extras(i: int, count: int) -> list[Layer]:
        """``count`` more units at stage ``i``'s channels and resolution: residual blocks or convolutions."""
        c, k, act = stage("channels", i), stage("kernel", i), stage("activation", i)
        unit = Residual(c, k, act, norm) if residual else Conv(c, k, 1, k // 2, act, norm)
        return [unit] * count

    def stages(halving: range) -> list[Layer]:
        """The encoder's stages; those outside ``halving`` keep their input's resolution."""
        layers: list[Layer] = []
        for i in range(depth):
            c, k, act = stage("channels", i), stage("kernel", i), stage("activation", i)
            more, halves = extras(i, stage("blocks", i) - 1), i in halving
            if stage("downsample", i) == "maxpool":
                layers += [Conv(c, k, 1, k // 2, act, norm), *more, *([MaxPool(2)] if halves else [])]
            else:
                layers += [Conv(c, k, 2 if halves else 1, k // 2, act, norm), *more]
        return layers

    encoder = stages(range(depth))
    k_latent = stage("kernel", depth - 1)
    latent_dim = _draw(suggest, "latent_dim", p["latent_dim"])
    # A linear bottleneck (no activation on the code) loses nothing to a clipped or saturated
    # unit; with a dense bottleneck the dense layer is that linear code and the conv before it a hidden layer.
    linear = _draw(suggest, "linear_bottleneck", p["linear_bottleneck"]) and latent_dim is None
    latent_act = "none" if linear else stage("activation", depth - 1)
    encoder.append(Conv(_draw(suggest, "latent_channels", p["latent_channels"]), k_latent, 1, k_latent // 2, latent_act))
    decoder: list[Layer] = []
    skip = _draw(suggest, "linear_skip", p["linear_skip"])
    refine = _draw(suggest, "refine_depth", p["refine_depth"])
    if refine is not None and not skip:
        raise ArchitectureError("model.refine_depth shapes the decoder that refines the linear path's image: it needs linear_skip: true")
    if refine is not None and refine > depth:
        raise ArchitectureError(f"model.refine_depth {refine}: the hourglass can halve the image at most depth ({depth}) times")
    refine = depth if refine is None else refine
    if latent_dim is not None:
        # a dense bottleneck: flatten the conv latent, a linear map to latent_dim values and back
        latent: Shape = shape
        for layer in encoder:
            latent = out_shape(layer, latent)[0]
        encoder.append(Dense(latent_dim, "none"))
        if not skip:
            decoder += [Dense(latent[0] * latent[1] * latent[2], stage("activation", depth - 1)), Reshape(latent[0], latent[1])]
    if skip:
        # the decoder refines the linear path's image: down the encoder's stages (without its
        # latent layers) and back up the mirror below, an hourglass from image to image. With
        # refine_depth R < depth its first depth − R stages keep the full resolution and only R
        # stages halve (and come back up): a shallower hourglass keeps the detail PCA's image still
        # holds, which is where the correction's gain at 128 and 256 values was measured to come from
        # (docs/history.md, issue 18's fourth run). Stage 0 is the cheap one to keep at 32 × 32: three input channels.
        decoder += stages(range(depth - refine, depth))
    # The decoder mirrors the encoder the way the assignment's network does
    # (3 → 8 → 12 → latent 16 → 12 → 3): stage i > 0 returns to channels.i, stage 0 to the image.
    # With blocks > 1, stage i > 0 adds its extra units after its up-sampling; stage 0 works at the
    # lower resolution first (a convolution to channels.0 and blocks − 2 units), as the encoder's
    # stride-2 first stage does, so that no wide layer runs on full-size images.
    for i in reversed(range(refine if skip else depth)):
        blocks, k = stage("blocks", i), stage("kernel", i)
        if i == 0 and blocks > 1:
            decoder += [Conv(stage("channels", 0), k, 1, k // 2, stage("activation", 0), norm), *extras(0, blocks - 2)]
        out = image_channels if i == 0 else stage("channels", i)
        act, layer_norm = ("none", "none") if i == 0 else (stage("activation", i), norm)
        if (up := stage("upsample", i)) == "transpose":
            # padding and output padding that double the size exactly for any kernel
            pad = (k - 1) // 2
            decoder.append(ConvTranspose(out, k, 2, pad, 2 * pad + 2 - k, act, layer_norm))
        else:
            decoder += [Upsample(2, up), Conv(out, k, 1, k // 2, act, layer_norm)]
        if i > 0:
            decoder += extras(i, blocks - 1)
    output = _draw(suggest, "output", p["output"])
    return Architecture(
        tuple(encoder),
        tuple(decoder),
        in_channels=image_channels,
        out_channels=image_channels,
        image_size=image_size,
        output=output,
        linear_skip=skip,
    )


def _explicit(model: ExplicitModel, suggest: Suggest, shape: Shape) -> Architecture:
    default_activation = _draw(suggest, "activation", model.activation)
    default_norm = _draw(suggest, "norm", model.norm)
    parts: dict[str, list[Layer]] = {"encoder": [], "decoder": []}
    inherited = {"activation": default_activation, "norm": default_norm}
    for part, layers in (("encoder", model.encoder), ("decoder", model.decoder)):
        for i, layer in enumerate(layers):
            kind = layer["kind"]
            v = {k: _draw(suggest, f"{part}.{i}.{k}", x) for k, x in layer.items() if k != "kind"}
            is_last = part == "decoder" and i == len(layers) - 1
            for key in INHERITED_KEYS:
                if key in v and v[key] is None:
                    v[key] = "none" if is_last else inherited[key]
            # the kind's key holds the layer's first field ({conv: 8} is Conv(out_channels=8)): search.space.schema
            cls = LAYER_KINDS[kind]
            first = dataclasses.fields(cls)[0].name
            parts[part].append(cls(**{first if k == kind else k: x for k, x in v.items()}))
    output = _draw(suggest, "output", model.output)
    skip = _draw(suggest, "linear_skip", model.linear_skip)
    # the file's last convolution writes the image's channels; the task sets them to the data's (adapt)
    last = [layer.out_channels for layer in parts["decoder"] if isinstance(layer, Conv | ConvTranspose)]
    channels, size, _ = shape
    return Architecture(
        tuple(parts["encoder"]),
        tuple(parts["decoder"]),
        in_channels=channels,
        out_channels=last[-1] if last else channels,
        image_size=size,
        output=output,
        linear_skip=skip,
    )


def _check_input(architecture: Architecture, shape: Shape, what: str) -> None:
    """Refuse a stored design built for images of another shape than the data's."""
    # a colorizer reads the gray of RGB images: its input channel is not the data's
    channels = architecture.in_channels if task_of_architecture(architecture).reconstructs else 3
    if (channels, architecture.image_size) != (shape[0], shape[1]):
        had = f"{channels} × {architecture.image_size} × {architecture.image_size}"
        raise ArchitectureError(f"{what} was built for {had} images, but the data's are {' × '.join(map(str, shape))}")


def space_shape(space: Space) -> Shape:
    """The shape (C, H, W) the space's data gives its models: from the dataset's name, or its first image (a folder)."""
    from cae.data import data_shape  # torch, for a folder's first image: only once a shape is needed

    return data_shape(space.data)


def sample(space: Space, suggest: Suggest, bins_for: BinsFor = full_grid, *, shape: Shape | None = None) -> TrialConfig:
    """One configuration of ``space`` for images of ``shape`` (C, H, W; default what its data gives, :func:`space_shape`);
    :class:`ArchitectureError` says why a draw cannot be built."""
    shape = shape or space_shape(space)
    model = space.model
    train_values, lineage = space.train, None
    if isinstance(model, DesignsModel):
        design = model.designs[_draw(suggest, "design", Choice(tuple(range(len(model.designs)))))]
        architecture, lineage = design.architecture, design.lineage
        _check_input(architecture, shape, "the design")
        # the design's own training, but for what the refit's space wrote (its longer epochs)
        train_values = design.train | {k: v for k, v in space.train.items() if k in space.train_written}
    elif isinstance(model, TemplateModel):
        architecture = _template(model, suggest, shape)
    elif isinstance(model, StartedModel):
        if model.architecture is None:
            raise ValueError(f"{space.path}: start: {model.ref.study} is not read yet (search.trials.start.resolve_start)")
        _check_input(model.architecture, shape, f"the started trial's architecture ({model.origin})")
        architecture = widen(model.architecture, _draw(suggest, "width", model.width))
        for _ in range(_draw(suggest, "context", model.context)):
            architecture = deepen(architecture)
    else:
        architecture = _explicit(model, suggest, shape)
    # the task sets the image channels in and out (the image's own, gray → RGB, gray → chroma, gray → chroma classes)
    task = _draw(suggest, "task", space.task)
    if task == CLASSES:  # its settings are drawn only for the trials that classify (define-by-run)
        check_channels(task, shape[0])
        settings = (_draw(suggest, name, space.classes[name]) for name in ("bins", "rebalance", "temperature"))
        architecture = with_classes(architecture, bins_for(*settings))
    else:
        architecture = adapt(architecture, get_task(task, shape[0]))
    check_bounds(architecture, model)
    train = TrainConfig(**{k: _draw(suggest, k, v) for k, v in train_values.items()})
    check_loss(train.loss, architecture)
    return TrialConfig(architecture, train, lineage)


def check_bounds(architecture: Architecture, model: TemplateModel | ExplicitModel | StartedModel | DesignsModel) -> None:
    """Refuse an architecture above the space's ``max_latent`` or ``max_params`` (before it trains)."""
    bounds = model.params if isinstance(model, TemplateModel) else vars(model)
    for key, value, what in (("max_latent", architecture.latent_size, "latent"), ("max_params", architecture.n_params, "parameters")):
        limit = bounds.get(key)
        if limit is not None and value > limit:
            raise ArchitectureError(f"{what} {value:,} is above model.{key} ({limit:,})")
