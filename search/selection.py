"""What a refit is asked for, checked before any study is read: which designs (:class:`Selection`) and the child's name.

A refit trains the study's front, trials by number, the front's nearest design at exact latent sizes, or the one
design best against PCA; ``trials`` and ``best`` also combine with ``latent`` (each design built at each size).
:meth:`Selection.of` is the one check of that choice, and ``search.refit(...)`` and ``python -m search refit`` both go
through it. Its errors name the library's parameters (``best=``); the command line words them as its flags
(:func:`search.command_line.flag_words`), so one message serves a notebook and a terminal. Nothing here imports torch
or Optuna: the command refuses a bad choice before it loads either.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from search.space import SpaceError, check_study_name
from search.space.messages import check_count, show


class DesignError(ValueError):
    """A design the parent study cannot give: no completed trial, no such trial, none that builds at a latent size,
    or no recorded space to train it in."""


@dataclass(frozen=True)
class Selection:
    """Which designs of a finished study a refit trains; made by :meth:`of`, which checks them.

    ``front`` alone; ``trials`` or ``latent`` alone, or both (each of those trials built at each of those sizes);
    or ``best`` (:func:`search.refits.best_against_pca`, the cheapest per epoch within ``within`` of its score),
    alone or with ``latent``. ``trials`` and ``latent`` hold each number once, in the order first asked.
    """

    front: bool = False
    trials: tuple[int, ...] = ()
    latent: tuple[int, ...] = ()
    best: bool = False
    within: float = 0.0

    @classmethod
    def of(
        cls,
        *,
        front: bool = False,
        trials: Sequence[int] = (),
        latent: Sequence[int] = (),
        best: bool = False,
        within: float = 0.0,
        call: str = "refit",
    ) -> Selection:
        """The selection these arguments of ``call`` ask for; :class:`SpaceError` (a ``ValueError``) naming the
        parameter where a value or the combination is not one a refit takes.

        >>> Selection.of(trials=[3, 7, 3], latent=[64])
        Selection(front=False, trials=(3, 7), latent=(64,), best=False, within=0.0)
        >>> Selection.of(front=True, within=0.01)
        Traceback (most recent call last):
        search.space.messages.SpaceError: refit: within=: applies to best=: add best= or drop within=
        """
        for size in latent:
            check_count(call, "latent", size, 1)
        for number in trials:
            check_count(call, "trials", number, 0)
        if isinstance(within, bool) or not isinstance(within, numbers.Real) or not 0 <= within <= 1:
            raise SpaceError(call, "within=", f"expected a fraction from 0 to 1, got {show(within)}")
        if within and not best:
            raise SpaceError(call, "within=", "applies to best=: add best= or drop within=")
        if best and (front or trials):
            raise SpaceError(call, "best=", "expected best= alone or with latent=D..., not with front= or trials=")
        if not best and bool(front) == bool(trials or latent):  # the front alone, or trials and sizes (either or both)
            raise SpaceError(call, "front=", "expected one of front=, trials=N..., latent=D..., best=, or trials= or best= with latent=")
        return cls(bool(front), tuple(dict.fromkeys(trials)), tuple(dict.fromkeys(latent)), bool(best), float(within))


def epochs_per_size(epochs: int | Mapping[int, int], latent: Sequence[int], call: str = "refit") -> int | dict[int, int]:
    """``epochs`` as a refit trains them: one number for every design, or one per asked latent size (a mapping keyed by
    exactly the sizes of ``latent``); a mapping whose numbers are all equal is that one number. :class:`SpaceError`
    naming ``epochs=`` where the sizes do not match (the numbers' range is :func:`search.run.check_epochs`'s).

    >>> epochs_per_size({64: 40, 128: 30}, [64, 128]), epochs_per_size({64: 9, 128: 9}, [64, 128])
    ({64: 40, 128: 30}, 9)
    >>> epochs_per_size({64: 40}, [64, 128])
    Traceback (most recent call last):
    search.space.messages.SpaceError: refit: epochs=: expected one number for each of latent=64, 128, got them for 64
    """
    if not isinstance(epochs, Mapping):
        return epochs
    if not latent:
        raise SpaceError(call, "epochs=", "a number per latent size applies to latent=D...: give one number, or add latent=")
    for value in epochs.values():
        check_count(call, "epochs", value, 1)
    if set(epochs) != set(latent):
        asked, given = (", ".join(map(str, sizes)) for sizes in (latent, epochs))
        raise SpaceError(call, "epochs=", f"expected one number for each of latent={asked}, got them for {given or 'none'}")
    distinct = {epochs[size] for size in latent}
    return int(distinct.pop()) if len(distinct) == 1 else {size: int(epochs[size]) for size in latent}


def child_name(study_name: str, into: str | None, call: str = "refit") -> str:
    """The child study's name: ``into``, default ``NAME-refit``; :class:`SpaceError` for a name that cannot be a file's
    or that is the parent's own (a refit is a child study)."""
    name = check_study_name(into or f"{study_name}-refit", call, "into=")
    if name == study_name:
        raise SpaceError(call, "into=", f"expected a study other than its parent {study_name} (a refit is a child study)")
    return name
