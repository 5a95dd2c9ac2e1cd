"""The size–error front: the trials no other beats on both latent size and error (smaller is better).

One rule for every place that asks (``start: {latent: N}`` in :mod:`search.start`, the front of
:mod:`analysis.latent_vs_error`), so that a study's front is the same wherever it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def size_error_front(sizes: Sequence[float], errors: Sequence[float]) -> list[int]:
    """Positions of the points with the lowest error at their size or any smaller one, by increasing size.

    >>> size_error_front([64, 16, 64, 256], [0.02, 0.05, 0.01, 0.03])
    [1, 2]
    """
    kept, best = [], math.inf
    for i in sorted(range(len(sizes)), key=lambda i: (sizes[i], errors[i])):
        if errors[i] < best:
            kept.append(i)
            best = errors[i]
    return kept
