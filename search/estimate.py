"""What a study will cost, said once its first epoch (or the first part of it) has been timed.

A pure function of measured seconds: :class:`search.display.Display` times the first trial of a run and prints
:meth:`Estimate.line`; nothing here reads a clock or prints. The figure is an upper guess for a study that prunes
(a pruned trial stops early) and a rough one where designs differ in size (the first trial is one draw of many).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """The expected wall time of one trial and of the trials still to run, from one measured epoch."""

    measured: str  # what was timed: "trial 0's first epoch" or "trial 0's first 40 of 625 batches"
    measured_seconds: float
    epoch_seconds: float
    epochs: int
    trial_seconds: float
    trials_left: int
    trials: int  # the study's target (--trials)
    parallel: int  # trials running at once (--workers, or several commands on one study)
    study_seconds: float  # the trials left, this one included, at ``parallel`` at once

    def line(self) -> str:
        """One sentence for a person: what was timed, and what a trial and the rest of the study will take."""
        took = f"{self.measured} took {duration(self.measured_seconds)}"
        if "batches" in self.measured:
            took += f" (an epoch ≈ {duration(self.epoch_seconds)})"
        asked = f"the {_count(self.trials, 'trial')} asked"
        if self.trials_left < self.trials:  # a resumed study
            asked = f"the {_count(self.trials_left, 'trial')} left of {self.trials}"
        at_once = "" if self.parallel == 1 else f" with {self.parallel} running at once"
        return (
            f"{took}: a trial of {_count(self.epochs, 'epoch')} ≈ {duration(self.trial_seconds)}, "
            f"{asked} ≈ {duration(self.study_seconds)}{at_once} on this machine "
            "(pruned trials stop early; designs of other sizes take more or less)"
        )


def estimate(
    first_epoch_seconds: float,
    epochs: int,
    trials_left: int,
    *,
    trials: int | None = None,
    parallel: int = 1,
    measured: str = "the first epoch",
    measured_seconds: float | None = None,
) -> Estimate:
    """The cost of ``trials_left`` trials of ``epochs`` epochs each, every epoch as long as the first.

    Args:
        first_epoch_seconds: wall time of one epoch (training and validation), measured or extrapolated.
        epochs: epochs per trial (``train.epochs``).
        trials_left: trials still to finish, the one measured included.
        trials: the study's target; ``trials_left`` when omitted.
        parallel: trials that run at once; the study's time is divided by it.
        measured: what was timed, for the line (``"trial 0's first epoch"``).
        measured_seconds: the time actually measured, where the epoch's was extrapolated from part of it.
    """
    if not (math.isfinite(first_epoch_seconds) and first_epoch_seconds >= 0):
        raise ValueError(f"first_epoch_seconds: expected a finite time ≥ 0, got {first_epoch_seconds!r}")
    if epochs < 1 or trials_left < 0 or parallel < 1:
        raise ValueError(f"expected epochs ≥ 1, trials_left ≥ 0 and parallel ≥ 1, got {epochs}, {trials_left} and {parallel}")
    trial = first_epoch_seconds * epochs
    # K trials at once finish K at a time: the last round is as long as a full one
    rounds = math.ceil(trials_left / parallel)
    return Estimate(
        measured=measured,
        measured_seconds=first_epoch_seconds if measured_seconds is None else measured_seconds,
        epoch_seconds=first_epoch_seconds,
        epochs=epochs,
        trial_seconds=trial,
        trials_left=trials_left,
        trials=trials_left if trials is None else trials,
        parallel=parallel,
        study_seconds=trial * rounds,
    )


def from_batches(
    seconds: float,
    batches: int,
    batches_per_epoch: int,
    epochs: int,
    trials_left: int,
    *,
    number: int,
    since: tuple[float, int] = (0.0, 0),
    **kwargs: int,
) -> Estimate:
    """:func:`estimate` from the first ``batches`` of trial ``number``'s first epoch, timed at ``seconds`` (a long
    epoch need not end before its cost is said). ``since``: (seconds, batches) at a mark after the first batches,
    whose one-off costs (memory, kernels chosen) would otherwise be counted again in every later batch."""
    marked_seconds, marked = since
    if not 0 <= marked < batches <= batches_per_epoch:
        raise ValueError(f"batches: expected {marked + 1} to {batches_per_epoch}, got {batches}")
    epoch = marked_seconds + (seconds - marked_seconds) / (batches - marked) * (batches_per_epoch - marked)
    measured = f"trial {number}'s first {batches} of {batches_per_epoch} batches"
    return estimate(epoch, epochs, trials_left, measured=measured, measured_seconds=seconds, **kwargs)


def duration(seconds: float) -> str:
    """``41 s``, ``7 min``, ``11.4 h`` or ``3.2 days``: a span as a person reads it, to about two digits."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
