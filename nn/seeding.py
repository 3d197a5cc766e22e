"""Where randomness comes from: ``seed=`` (an int) or ``rng=`` (a ``random.Random``).

Every random thing in ``nn`` (initial weights, data sets, shuffling) takes both
keywords and resolves them here, so the rule is the same everywhere: give a seed for
a reproducible result, pass one generator to several calls to chain them, or give
neither to draw a seed from Python's global ``random`` state (so ``random.seed(...)``
makes a script reproducible, as in micrograd).
"""

from __future__ import annotations

import random

__all__ = ["make_rng"]


def make_rng(seed: int | None = None, rng: random.Random | None = None) -> random.Random:
    """The generator to draw from: ``rng`` itself, or a new one seeded with ``seed``.

    >>> make_rng(seed=3).random() == make_rng(seed=3).random()
    True
    """
    if seed is not None and rng is not None:
        raise ValueError("give seed= or rng=, not both")
    if rng is not None:
        if not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random, not {type(rng).__name__} ({rng!r})")
        return rng
    if seed is None:
        return random.Random(random.getrandbits(64))
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {type(seed).__name__} ({seed!r})")
    return random.Random(seed)
