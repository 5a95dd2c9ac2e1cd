"""How often an image size halves evenly, and which encoder depth therefore fits it (no torch here).

An encoder of 2× down-sampling stages mirrored by 2× up-sampling lands back on its input only while every
map it halves has an even size: 28 halves twice (28 → 14 → 7), 32 five times, 96 five times.
"""

from __future__ import annotations


def halvings(size: int) -> int:
    """How many times ``size`` halves evenly: 2 for 28 (28 → 14 → 7), 5 for 32, 0 for any odd size.

    It is the most 2× down-sampling stages (max-pools or stride-2 convolutions) an encoder can have on a
    ``size``×``size`` image and still be mirrored by 2× up-sampling stages back to ``size``: one more
    meets an odd map, which a max-pool refuses (a row it never reads) and a strided convolution
    rounds up (7 → 4, doubled back to 8, not 7). A sampler can refuse such a depth before building.

        >>> [halvings(size) for size in (8, 28, 32, 64, 96, 27)]
        [3, 2, 5, 6, 5, 0]
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"expected an image size, an integer ≥ 1, got {size!r}")
    return (size & -size).bit_length() - 1  # the number of trailing zero bits


def halving_chain(size: int) -> str:
    """The sizes an image passes through while it halves evenly: ``28 → 14 → 7``.

    >>> halving_chain(28), halving_chain(27)
    ('28 → 14 → 7', '27')
    """
    return " → ".join(str(size >> i) for i in range(halvings(size) + 1))


def depth_hint(image_size: int, depth: int) -> str:
    """Why an encoder that halves ``depth`` times cannot work on ``image_size`` images, and which depth fits;
    an empty string when ``depth`` fits (its failure has another cause).

        >>> depth_hint(28, 3)
        '28×28 halves evenly 2 times (28 → 14 → 7): a depth of at most 2 fits, not 3'
    """
    fits = halvings(image_size)
    if depth <= fits:
        return ""
    if fits == 0:
        return f"{image_size}×{image_size} does not halve evenly ({image_size} is odd): only a depth of 0 fits, not {depth}"
    times = "once" if fits == 1 else f"{fits} times"
    return f"{image_size}×{image_size} halves evenly {times} ({halving_chain(image_size)}): a depth of at most {fits} fits, not {depth}"
