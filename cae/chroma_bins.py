"""Chroma as classes: the quantised colours a classifying colorizer chooses among, as a plain value.

Zhang, Isola & Efros ("Colorful Image Colorization", ECCV 2016) predict a distribution over
quantised chroma bins instead of one chroma value, because the squared error's minimiser is the
mean of the plausible colours (a gray car may be red or blue: the mean is brown-gray).

The chroma plane here is BT.601 (Cb, Cr), the one :mod:`cae.color` already uses, rather than the
paper's CIE a*b*: it is linear in RGB, so the luma the network is given plus any predicted (Cb, Cr)
is an exact RGB image with exactly the photograph's brightness, and converting costs one 3×3
matrix. The price is that equal bins are not perceptually equal (a*b* is closer to uniform); the
rebalancing below acts on frequencies, not perceptual distances, so it is unaffected.

The grid has ``per_axis`` × ``per_axis`` cells over the offset plane ``(Cb + 0.5, Cr + 0.5) ∈ [0, 1]²``.
The classes are the cells the training split's pixels fall in (its gamut: most of the plane is never
used by photographs) and ``prior`` is their Gaussian-smoothed frequency there. This module holds the
value only (no torch): architectures carry it, so a checkpoint knows how to decode its own outputs.
The tensor operations are in :mod:`cae.chroma_classes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Zhang et al.'s annealed-mean temperature and rebalancing mix (their λ = 0.5, here a strength of 0.5)
PAPER_TEMPERATURE = 0.38
PAPER_REBALANCE = 0.5


class ChromaBinsError(ValueError):
    """Chroma bins that cannot be used; the message is the one-line reason."""


@dataclass(frozen=True)
class ChromaBins:
    """The colour classes of a classifying colorizer, how its loss weighs them and how it decodes them.

    ``rebalance`` is the strength ``s`` of class rebalancing: pixels of class ``q`` weigh
    ``w_q ∝ 1 / (s · p_q + (1 − s) / Q)``, normalised so that the expected weight over the training
    pixels is 1. ``s = 0`` weighs every pixel alike; ``s = 1`` is full inverse frequency (a rare,
    saturated colour counts as much in total as the common grays); the paper's λ is ``1 − s`` and its
    0.5 is ``s = 0.5``. ``temperature`` decodes a distribution into one colour (the annealed mean):
    1 is the mean (faded, like regression), towards 0 the mode (vivid, but patchy), 0.38 the paper's.
    """

    per_axis: int
    cells: tuple[int, ...]  # grid cells in use, row-major: cell = Cb index × per_axis + Cr index
    prior: tuple[float, ...]  # smoothed training frequency of each class (sums to 1)
    rebalance: float = PAPER_REBALANCE
    temperature: float = PAPER_TEMPERATURE

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(int(c) for c in self.cells))
        object.__setattr__(self, "prior", tuple(float(p) for p in self.prior))
        if isinstance(self.per_axis, bool) or not isinstance(self.per_axis, int) or self.per_axis < 2:
            raise ChromaBinsError(f"classes.bins must be an integer ≥ 2 (grid cells per chroma axis), got {self.per_axis!r}")
        if len(self.cells) < 2 or len(self.cells) != len(self.prior):
            raise ChromaBinsError(f"chroma bins need ≥ 2 cells and one prior per cell, got {len(self.cells)} and {len(self.prior)}")
        if list(self.cells) != sorted(set(self.cells)) or not 0 <= self.cells[0] <= self.cells[-1] < self.per_axis**2:
            raise ChromaBinsError(f"chroma bin cells must be distinct, sorted and below {self.per_axis**2}")
        if min(self.prior) < 0 or not math.isclose(sum(self.prior), 1, rel_tol=1e-6):
            raise ChromaBinsError(f"the chroma prior must be non-negative and sum to 1, got a sum of {sum(self.prior):g}")
        if not 0 <= self.rebalance <= 1:
            raise ChromaBinsError(f"classes.rebalance must be in [0, 1], got {self.rebalance!r}")
        if not self.temperature > 0:
            raise ChromaBinsError(f"classes.temperature must be > 0, got {self.temperature!r}")

    @property
    def n_classes(self) -> int:
        return len(self.cells)

    @property
    def width(self) -> float:
        """A cell's side on the offset chroma plane (chroma values span 1)."""
        return 1 / self.per_axis

    @property
    def centres(self) -> tuple[tuple[float, float], ...]:
        """Each class's (Cb + 0.5, Cr + 0.5) centre."""
        n, w = self.per_axis, self.width
        return tuple(((c // n + 0.5) * w, (c % n + 0.5) * w) for c in self.cells)

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_axis": self.per_axis,
            "cells": list(self.cells),
            "prior": list(self.prior),
            "rebalance": self.rebalance,
            "temperature": self.temperature,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChromaBins:
        return cls(**data)


def full_grid(per_axis: int, rebalance: float = PAPER_REBALANCE, temperature: float = PAPER_TEMPERATURE) -> ChromaBins:
    """Every cell of the grid, equally likely: the stand-in used to check shapes before data is read.

    Its class count is the most any training split can give, so parameter bounds checked on it are safe.
    """
    cells = tuple(range(per_axis**2))
    return ChromaBins(per_axis, cells, tuple([1 / len(cells)] * len(cells)), rebalance, temperature)
