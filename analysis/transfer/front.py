"""Does a better reconstruction give better features? The frozen linear probe of every complete trial, ranked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from optuna.trial import TrialState
from rich.console import Console

from analysis.cli import progress_bars
from analysis.power_law import RankCorrelation, small_rank_correlation
from analysis.probe import chance
from analysis.transfer.data import LABELS, SEEDS, check_fractions, checked_trial, load_parts
from analysis.transfer.estimates import Estimate
from analysis.transfer.runs import Reporter, Run, TrialInfo, trial_runs
from cae.spec import ArchitectureError
from search.runtime.storage import StorageError
from search.trials.trial_model import find_trial

FRONT_AXES = {"latent_size": "latent size", "test_psnr": "reconstruction PSNR"}


@dataclass(frozen=True)
class FrontResult:
    """:func:`compute_front`'s numbers: the frozen linear probe of every complete trial, and its rank correlations."""

    study: str
    source: str
    train_images: int
    val_images: int
    test_images: int
    chance: float
    fractions: tuple[float, ...]
    seeds: int
    trials: tuple[TrialInfo, ...]
    runs: tuple[Run, ...]  # method "linear" only
    skipped: tuple[str, ...]  # complete trials left out, and why
    correlations: dict[tuple[float, str], RankCorrelation]  # (fraction, "latent_size" or "test_psnr") → Spearman's ρ

    def table(self) -> pd.DataFrame:
        """One row per trial and fraction: latent size, PSNR, labels, mean and spread of the probe's test accuracy."""
        rows = []
        for info in self.trials:
            for fraction in self.fractions:
                runs = [r for r in self.runs if r.trial == info.number and r.fraction == fraction]
                e = Estimate.of([r.test_accuracy for r in runs], self.test_images)
                rows.append(
                    {
                        "trial": info.number,
                        "latent_size": info.latent_size,
                        "test_psnr": info.test_psnr,
                        "fraction": fraction,
                        "labels": runs[0].labels,
                        "seeds": e.seeds,
                        "test_accuracy": e.mean,
                        "std": e.std,
                        "seconds": sum(r.seconds for r in runs),
                    }
                )
        return pd.DataFrame(rows)


def compute_front(
    study_name: str,
    *,
    storage: str | None = None,
    fractions: Iterable[float] = LABELS,
    seeds: int = SEEDS,
    console: Console | None = None,
) -> FrontResult:
    """The frozen linear probe of every complete reconstruction trial with weights, and Spearman's ρ of its accuracy
    against latent size and against the trial's test PSNR, at each fraction::

        front = compute_front("latent")
        front.correlations[(1.0, "test_psnr")].rho, front.table()

    Raises :class:`StorageError` when fewer than 3 trials can be probed (a rank correlation needs 3).
    """
    chosen = check_fractions(fractions, seeds)
    quiet = console is None
    console = console or Console(quiet=True)
    study, _, _ = find_trial(study_name, storage, None)
    loaded, skipped = [], []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        try:
            loaded.append(checked_trial(study_name, storage, trial.number))
        except (StorageError, ArchitectureError) as error:
            skipped.append(str(error))
    if len(loaded) < 3:
        raise StorageError(
            f"study {study_name} has {len(loaded)} complete reconstruction trials with weights; the front's rank correlation "
            "needs 3 or more"
        )
    console.print(f"frozen linear probe of {len(loaded)} trials of study {study_name}: loading the study's data …", highlight=False)
    parts, source, _ = load_parts(loaded[0], chosen, seeds)
    infos, runs = [], []
    with progress_bars(console, quiet=quiet) as progress:
        report = Reporter(progress, len(parts.subsets) * len(loaded))
        for trial in loaded:
            info, trial_run = trial_runs(trial, parts, report, methods=("linear",))
            infos.append(info)
            runs += trial_run
    result = FrontResult(
        study_name,
        source,
        len(parts.train),
        len(parts.val),
        len(parts.test),
        chance(parts.test.labels.numpy()),
        chosen,
        seeds,
        tuple(infos),
        tuple(runs),
        tuple(skipped),
        {},
    )
    table = result.table()
    for fraction in chosen:
        at = table[table["fraction"] == fraction]
        for axis in FRONT_AXES:
            known = at.dropna(subset=[axis])
            if len(known) >= 3:
                result.correlations[(fraction, axis)] = small_rank_correlation(known[axis].tolist(), known["test_accuracy"].tolist())
    return result


def rho_words(c: RankCorrelation) -> str:
    """``ρ = +0.80 (p = 0.33, n = 3)``."""
    return f"ρ = {c.rho:+.2f} (p = {c.p:.2g}, n = {c.n})"
