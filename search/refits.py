"""Search short, then train long: chosen designs of a finished study trained again, into a child study.

A search gives every trial a short budget; the designs it finds are worth more epochs than it could
spend on each. :func:`refit` takes the designs a :class:`~search.selection.Selection` picks (the study's
front, trials by number, the front's nearest design at exact latent sizes such as ``latent=[64, 128, 256]``,
the sizes published results are quoted at, or the design best against PCA), and trains each with ``epochs``
(one number, or one per asked size: ``epochs={64: 40, 128: 30, 256: 20}``) into a child study, one trial per design.
It trains on the parent's data without its ``data.subset``: a search runs on a subset to be quick, its refit on
the whole training split unless ``overrides`` choose a subset again. The child is an ordinary study (the same
objectives, PCA on every trial, resumable, any storage, ``--workers``): its space is written out with the designs
as data (``model: {designs: [...]}``), so it never needs the parent again, and each trial records its ``lineage``
(parent study, trial, parameters).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from cae.spec import Architecture, ArchitectureError, at_latent_size
from search.run import check_epochs, check_run_arguments, optimize
from search.runtime.storage import GRACE_SECONDS, StorageError, default_storage, load_study, mask
from search.selection import DesignError, Selection, child_name, epochs_per_size
from search.space import check_study_name
from search.trials.objectives import best_val_mse, is_multi_objective, pareto_trials
from search.trials.record import read_trial
from search.trials.start import latent_front, recorded_space


def front_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's best trade-offs: its Pareto front (several objectives), else error against latent size."""
    if is_multi_objective(study):
        return pareto_trials(study)
    return latent_front(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _lineage(study: optuna.Study, trial: FrozenTrial, arch: Architecture, asked: int | None) -> dict[str, Any]:
    record = read_trial(trial)
    return {
        "study": study.study_name,
        "trial": trial.number,
        "params": dict(trial.params),
        "latent_asked": asked,
        "parent_latent": record.latent_size,
        "parent_epochs": record.epochs,
        "parent_val_mse": record.kept_val_mse,
        "parent_test_psnr": record.test_psnr,
        "latent": arch.latent_size,
    }


def _recorded_design(study: optuna.Study, trial: FrozenTrial) -> tuple[Architecture, dict[str, Any]]:
    """``trial``'s architecture and training settings (:class:`DesignError` where it recorded none)."""
    record = read_trial(trial)
    if record.architecture is None or record.train is None:
        raise DesignError(f"trial {trial.number} of study {study.study_name}: expected its architecture and training settings")
    return record.architecture, record.train


def _design(study: optuna.Study, trial: FrozenTrial, arch: Architecture | None = None, asked: int | None = None) -> dict[str, Any]:
    """A ``model.designs`` entry: ``arch`` (default: the trial's own) with the trial's training settings and its lineage."""
    recorded, train = _recorded_design(study, trial)
    arch = arch or recorded
    return {"architecture": arch.to_dict(), "train": train, "lineage": _lineage(study, trial, arch, asked)}


def _built_at(study: optuna.Study, trial: FrozenTrial, size: int) -> dict[str, Any]:
    """``trial``'s design built with exactly ``size`` latent values (:class:`ArchitectureError` where it cannot hold them)."""
    return _design(study, trial, at_latent_size(_recorded_design(study, trial)[0], size), size)


def _at_size(study: optuna.Study, front: list[FrozenTrial], size: int) -> dict[str, Any]:
    """The front's design nearest ``size`` values (in log size; the lower error on ties) that can hold exactly ``size``."""

    def distance(trial: FrozenTrial) -> float:
        latent = read_trial(trial).latent_size
        return abs(math.log(latent / size)) if latent else math.inf

    ranked = sorted(front, key=lambda t: (distance(t), best_val_mse(t)))
    reasons = []
    for trial in ranked:
        try:
            return _built_at(study, trial, size)
        except ArchitectureError as error:
            reasons.append(f"trial {trial.number}: {error}")
    raise DesignError(f"latent {size}: no design on the front of study {study.study_name} can be built at that size ({reasons[0]})")


def _trial_at_size(study: optuna.Study, trial: FrozenTrial, size: int) -> dict[str, Any]:
    try:
        return _built_at(study, trial, size)
    except ArchitectureError as error:
        raise DesignError(
            f"latent {size}: trial {trial.number} of study {study.study_name} cannot be built at that size ({error})"
        ) from None


def best_against_pca(study: optuna.Study, within: float = 0.0) -> FrozenTrial:
    """The completed trial whose best validation MSE is the smallest multiple of PCA's at its own latent size.

    That ratio is the score ``pareto_halving`` ranks designs by: it says how much better than the
    optimal linear code a design is wherever it sits, so a design can be judged apart from its size
    and then built at another one. Completed trials all ran the study's full budget, so they compare.

    With ``within`` > 0, of the trials whose score is at most ``(1 + within)`` times the best, the one
    cheapest per epoch (median seconds): a refit's compute is fixed, so the cheaper of two designs the
    short search cannot tell apart gets more epochs in it.
    """
    if not (within >= 0 and math.isfinite(within)):
        raise ValueError(f"within must be a finite fraction ≥ 0, got {within}")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    # (trial, its score, its median seconds an epoch) of the trials with a score and a design to train again
    scored = [
        (t, r.pca_score, statistics.median(r.epoch_seconds or [math.inf]))
        for t in complete
        if (r := read_trial(t)).pca_score is not None and r.architecture_dict is not None
    ]
    if not scored:
        raise DesignError(f"study {study.study_name} has no completed trial with PCA's error recorded, so none can be judged against it")
    best = min(scored, key=lambda s: s[1])
    if within == 0:
        return best[0]
    near = [s for s in scored if s[1] <= best[1] * (1 + within)]
    return min(near, key=lambda s: (s[2], s[1]))[0]


def selected_designs(study: optuna.Study, selection: Selection) -> list[dict[str, Any]]:
    """The designs ``selection`` picks from ``study``, as ``model.designs`` entries (:class:`DesignError` where it cannot
    give one): the front's by latent size; trials (``best``'s one) as asked, each built at each ``latent`` size when
    there are any; else the front's nearest design at each size."""
    by_pca = [best_against_pca(study, selection.within)] if selection.best else []
    complete = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    if not complete:
        raise DesignError(f"study {study.study_name} has no completed trial to refit")
    missing = [n for n in selection.trials if n not in complete]
    if missing:
        raise DesignError(f"trial {missing[0]} of study {study.study_name} is not a completed trial (only those keep a design)")
    chosen = by_pca or [complete[n] for n in selection.trials]
    if chosen and selection.latent:
        # One design at several sizes: a design cheap per epoch can be given more of them
        # than the front's nearest one at each size, within the same compute.
        return [_trial_at_size(study, t, size) for t in chosen for size in selection.latent]
    if chosen:
        return [_design(study, t) for t in chosen]
    front = front_trials(study)
    if selection.front:
        return [_design(study, t) for t in sorted(front, key=lambda t: read_trial(t).latent_size or 0)]
    return [_at_size(study, front, size) for size in selection.latent]


def choose_designs(
    study: optuna.Study,
    *,
    front: bool = False,
    trials: Sequence[int] = (),
    latent: Sequence[int] = (),
    best: bool = False,
    within: float = 0.0,
) -> list[dict[str, Any]]:
    """The designs to train again, as ``model.designs`` entries: :func:`selected_designs` of the :class:`Selection`
    these arguments make (``front``, ``trials`` or ``latent`` alone, or ``trials`` and ``latent`` together; ``best``,
    with ``within``, alone or with ``latent``)."""
    return selected_designs(study, Selection.of(front=front, trials=trials, latent=latent, best=best, within=within, call="choose_designs"))


def refit_space(study: optuna.Study, designs: list[dict[str, Any]], epochs: int | Mapping[int, int], name: str) -> dict[str, Any]:
    """The child study's space as a mapping: the parent's objectives and data but its subset, the designs, ``epochs``
    each (one number for all, written as ``train.epochs``; or by the size each design was asked at, written into each
    design's own ``train``), no pruning.

    A grid over the designs runs each once, whichever worker takes it; no pruner, because every design
    was chosen to be trained to the end.
    """
    parent = recorded_space(study.user_attrs)
    if parent is None:
        raise DesignError(f"study {study.study_name} recorded no space, so its data and objectives are unknown")
    # the parent's data as it was, resizing and conversion included (its designs were built for that shape), but not its
    # subset: a search's subset buys it speed, while a refit is the long training of designs already chosen
    data = {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(parent.data).items() if v is not None and k != "subset"
    }
    space = {
        "study": {
            "name": name,
            "objectives": list(parent.study.objectives),
            "sampler": {"type": "grid"},
            "pruner": {"type": "none"},
        },
        "data": data,
    }
    if not isinstance(epochs, Mapping):
        return space | {"train": {"epochs": epochs}, "model": {"designs": designs}}
    # each design's own train settings are what search.sample trains it with, where the space writes no train.epochs
    sized = [d | {"train": d["train"] | {"epochs": epochs[d["lineage"]["latent_asked"]]}} for d in designs]
    return space | {"model": {"designs": sized}}


def design_epochs(raw: dict[str, Any]) -> list[int | None]:
    """The epochs each design of a refit space (a mapping, as :func:`refit_space` writes it) is trained: the space's
    ``train.epochs`` where it writes one, else each design's own."""
    written = (raw.get("train") or {}).get("epochs")
    designs = (raw.get("model") or {}).get("designs") or []
    return [written if written is not None else (d.get("train") or {}).get("epochs") for d in designs]


def epochs_words(raw: dict[str, Any]) -> str:
    """``4`` (every design), or ``{64: 40, 128: 30}`` (by the size each was asked at): a refit space's epochs as
    ``epochs=`` takes them."""
    each = design_epochs(raw)
    if len(set(each)) <= 1:
        return str(each[0] if each else None)
    sizes = [(d.get("lineage") or {}).get("latent_asked") for d in raw["model"]["designs"]]
    return "{" + ", ".join(f"{size}: {e}" for size, e in dict(zip(sizes, each, strict=True)).items()) + "}"


def _without_epochs(model: dict[str, Any]) -> list[dict[str, Any]]:
    """A refit space's designs but their epochs: what two refits of the same designs at other epochs share."""
    return [d | {"train": {k: v for k, v in (d.get("train") or {}).items() if k != "epochs"}} for d in model.get("designs") or []]


def _designs_words(raw: dict[str, Any]) -> str:
    """``study pareto's trials 3, 7`` (``trial 3 at latent 64, …`` for designs built at a size): what a refit space trains."""
    lineages = [d.get("lineage") or {} for d in raw.get("model", {}).get("designs", [])]
    parents = sorted({str(lineage.get("study")) for lineage in lineages})
    if any(lineage.get("latent_asked") for lineage in lineages):
        chosen = ", ".join(f"trial {lineage.get('trial')} at latent {lineage.get('latent_asked')}" for lineage in lineages)
    else:
        chosen = f"trial{'s' * (len(lineages) != 1)} {', '.join(str(lineage.get('trial')) for lineage in lineages)}"
    return f"study {' and '.join(parents)}'s {chosen}"


def _sizes(raw: dict[str, Any]) -> str:
    """``64, 128, 256``: the sizes a refit space's designs were asked at, in its order."""
    return ", ".join(str((d.get("lineage") or {}).get("latent_asked")) for d in raw["model"]["designs"])


def _existing(name: str, url: str) -> optuna.Study | None:
    """The study ``name`` in ``url``, if there is one (nothing is created to find out)."""
    try:
        return load_study(name, url)[0]
    except StorageError:  # no such study, or no such file: the refit creates it (a storage that cannot be opened is said then)
        return None


def _recorded(child: optuna.Study) -> dict[str, Any] | None:
    """The space ``child`` recorded, as a mapping (``None`` when it recorded none, or not a mapping)."""
    text = child.user_attrs.get("space")
    raw = yaml.safe_load(text) if isinstance(text, str) else None
    return raw if isinstance(raw, dict) else None


def _in_recorded_order(child: optuna.Study, designs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``designs`` in the order ``child`` numbered them where it holds the same ones (a design is what it is, not where it
    was asked: ``--trial 1 0`` resumes the refit of ``--trial 0 1``); else as they are."""
    model = (_recorded(child) or {}).get("model")
    recorded = model if isinstance(model, dict) and isinstance(model.get("designs"), list) else {}
    # without their epochs: a refit's per-size epochs are written into its designs only once they are ordered
    ours = [yaml.safe_dump(d, sort_keys=True) for d in _without_epochs({"designs": yaml.safe_load(yaml.safe_dump(designs))})]
    theirs = [yaml.safe_dump(d, sort_keys=True) for d in _without_epochs(recorded)]
    if sorted(ours) != sorted(theirs):
        return designs
    return [designs[ours.index(key)] for key in theirs]


def _check_same_refit(child: optuna.Study, url: str, space: dict[str, Any], overrides: Sequence[str]) -> None:
    """Refuse (:class:`StorageError`) an existing ``child`` that is not this very refit (same parent, designs, epochs and
    settings): resumed with other epochs or designs it would hold trials of two refits, and its record (``refit_of``)
    would name epochs never trained."""
    name, theirs = child.study_name, _recorded(child)
    if theirs is None and not child.trials:  # made, but never run: nothing in it to mix with
        return
    ours = yaml.safe_load(yaml.safe_dump(space, sort_keys=False))  # as the study records it (search.space.space_from_dict)
    where = f"into={name!r}: study {name} in {mask(url)}"
    if theirs is None or "designs" not in (theirs.get("model") or {}):
        source = child.user_attrs.get("space_file")
        what = f"a search of {source}" if theirs is not None and source else "a study of no recorded refit space"
        count = f"{len(child.trials)} trial{'s' * (len(child.trials) != 1)}"
        raise StorageError(f"{where} is {what} with {count}, not a refit; give into= another name")
    if _without_epochs(theirs["model"]) != _without_epochs(ours["model"]):
        words, asked = _designs_words(theirs), _designs_words(ours)
        other = f"this refit trains {asked}" if words != asked else f"this refit's designs of {asked} differ (was that study run again?)"
        raise StorageError(f"{where} is the refit of {words}; {other}: give into= another name")
    if design_epochs(theirs) != design_epochs(ours):
        epochs, asked_epochs = epochs_words(theirs), epochs_words(ours)
        raise StorageError(
            f"{where} is the refit of {_designs_words(ours)} at epochs={epochs}; this one asks epochs={asked_epochs}: "
            f"resume it with epochs={epochs}, or give into= another name"
        )
    if theirs != ours or list(child.user_attrs.get("overrides") or []) != list(overrides):
        differ = next((k for k in (*ours, *theirs) if theirs.get(k) != ours.get(k)), "overrides")
        raise StorageError(f"{where} is the refit of {_designs_words(ours)} with other {differ}; give into= another name")


def _designs_left(child: optuna.Study, designs: int) -> list[int]:
    """The designs (``design`` parameter) that no finished trial of ``child`` trained; :class:`StorageError` where
    finished trials are as many as the designs but some design is missing (a refit stopped by a version that ran one twice)."""
    finished = [t.params.get("design") for t in child.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))]
    left = [i for i in range(designs) if i not in finished]
    if left and len(finished) >= designs:
        raise StorageError(
            f"into={child.study_name!r}: study {child.study_name} holds {len(finished)} finished trials of {designs} designs, "
            f"and design {', '.join(map(str, left))} was never trained (a refit interrupted under an earlier version, "
            "which trained another design twice); give into= another name"
        )
    return left


def refit(
    study_name: str,
    *,
    epochs: int | Mapping[int, int],
    front: bool = False,
    trials: Sequence[int] = (),
    latent: Sequence[int] = (),
    best: bool = False,
    within: float = 0.0,
    storage: str | None = None,
    into: str | None = None,
    overrides: Sequence[str] = (),
    workers: int = 1,
    timeout: float | None = None,
    deadline: float | None = None,
    grace: int = GRACE_SECONDS,
    progress: bool = False,
    console: Console | None = None,
) -> optuna.Study:
    """Train chosen designs of ``study_name`` for ``epochs`` each, into the child study ``into`` (default ``NAME-refit``),
    on the parent's data without its subset (the whole training split) unless ``overrides`` say ``data.subset=N``.

    Example: the front's designs at the sizes published results are quoted at, trained ten times longer, the
    smaller codes longer still (they are cheaper per epoch)::

        child = search.refit("pareto", latent=[64, 128, 256], epochs={64: 40, 128: 30, 256: 20})
        search.trials_table(child)[["latent_size", "epochs", "test_psnr", "pca_psnr", "gain_db"]]

    Args:
        study_name: the finished study whose designs are trained again.
        epochs: each design's epochs in the child study; or, with ``latent``, a mapping from each of those sizes to the
            epochs of the designs built at it (the same keys as ``latent``, or it is refused).
        front: every design on the study's front; or ``trials``, numbers of completed trials; or
            ``latent``, sizes at which the front's nearest design is built with exactly that many values;
            or ``trials`` and ``latent`` together, each of those trials' designs at each of those sizes; or
            ``best``, the completed trial with the lowest validation error relative to PCA's at its size
            (:func:`best_against_pca`), with ``latent`` built at each of those sizes.
        within: with ``best``, the cheapest per epoch of the trials within a factor ``1 + within`` of the best score.
        storage: where the parent is (default ``sqlite:///studies/NAME.db``); the child is written beside it
            (the same URL when given, else ``sqlite:///studies/INTO.db``).
        into: the child study's name. Calling again with the same arguments resumes it, training the designs it lacks;
            a study there that is not this refit (another study, other designs, other ``epochs``) is refused.
        overrides: as :func:`search.optimize`: ``["data.subset=12000"]`` trains on a subset again.
        workers, timeout, deadline, grace, progress, console: as :func:`search.optimize`; ``deadline`` ends every design's
            training by that many seconds from the call, each keeping its best epoch (``stopped`` says where it stopped).

    Returns:
        The child ``optuna.Study``; its trials carry ``lineage`` beside the usual records.
    """
    # every argument checked before the parent is read (a study of thousands of trials takes seconds to load)
    check_study_name(study_name, "refit", "study_name=")
    for each in epochs.values() if isinstance(epochs, Mapping) else (epochs,):
        check_epochs("refit", each)
    check_run_arguments("refit", timeout=timeout, workers=workers, grace=grace, deadline=deadline)
    until = None if deadline is None else time.time() + deadline
    selection = Selection.of(front=front, trials=trials, latent=latent, best=best, within=within)
    epochs = epochs_per_size(epochs, selection.latent)
    name = child_name(study_name, into)
    parent, _ = load_study(study_name, storage or default_storage(study_name))
    designs = selected_designs(parent, selection)
    url = storage or default_storage(name)
    resumed = _existing(name, url)
    if resumed is not None:
        designs = _in_recorded_order(resumed, designs)
    # The child's space stays a mapping that optimize parses like any space, not a Space built here: the study records
    # its YAML text, which worker processes and every resume parse again, and ``overrides`` edit that mapping before it
    # is parsed. A Space built beside the text would be a second rendering of the designs that nothing checks against it.
    space = refit_space(parent, designs, epochs, name)
    # per-size epochs as a list beside the trials: a study's attributes are JSON, whose keys are strings
    each = design_epochs(space)
    trained = [d["lineage"]["trial"] for d in designs]
    record = {"study": study_name, "trials": trained, "epochs": epochs if isinstance(epochs, int) else each}
    if resumed is not None:
        _check_same_refit(resumed, url, space, overrides)
    if resumed is not None and not _designs_left(resumed, len(designs)):
        if resumed.user_attrs.get("refit_of") != record:  # stopped after its last trial, before it was written
            resumed.set_user_attr("refit_of", record)
        how = f"{epochs} epochs each" if isinstance(epochs, int) else f"{', '.join(map(str, each))} epochs at latent {_sizes(space)}"
        (console or Console(quiet=not progress)).print(
            f"nothing to do: study {name} holds every design of this refit ({len(designs)}), trained {how}", highlight=False
        )
        return resumed
    child = optimize(
        space,
        trials=len(designs),
        study_name=name,
        storage=url,
        overrides=tuple(overrides),
        workers=workers,
        timeout=timeout,
        deadline=None if until is None else max(until - time.time(), 1e-3),
        grace=grace,
        progress=progress,
        console=console,
    )
    child.set_user_attr("refit_of", record)
    return child
