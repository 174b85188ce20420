"""Exponential time decay, in the "forward decay" form (Cormode et al., 2009): an observation at
time t is added with weight 2^((t - origin) / half_life), and any total is read at time `now` by
multiplying it by 2^(-(now - origin) / half_life). Adding never touches older totals, so counts
update incrementally in any order of arrival, and a ratio of two totals (cosine, lift) does not
depend on `now` at all.

Weights grow with time; before one would pass 2^60, the owner rescales every total it keeps by
`factor` and moves the origin forward (every ~60 half-lives: a rare, linear pass).
"""

from __future__ import annotations

import math

REBASE_EXPONENT = 60.0  # weights stay below 2^60: far from overflow, far above the precision floor


class ForwardDecay:
    def __init__(self, half_life_s: float, origin: float) -> None:
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")
        self.half_life_s = half_life_s
        self.origin = origin

    def _exponent(self, at: float) -> float:
        return (at - self.origin) / self.half_life_s

    def needs_rebase(self, at: float) -> bool:
        """True when an observation at `at` would weigh more than 2^60: rebase first."""
        return self._exponent(at) > REBASE_EXPONENT

    def weight(self, at: float) -> float:
        exponent = min(self._exponent(at), REBASE_EXPONENT)
        return 0.0 if exponent < -1000 else 2.0**exponent

    def factor(self, now: float) -> float:
        """What a total is multiplied by to read it at `now` (1.0 at the origin)."""
        exponent = -self._exponent(now)
        return math.inf if exponent > 1000 else 0.0 if exponent < -1000 else 2.0**exponent

    def rebase(self, now: float) -> float:
        """Moves the origin to `now`; returns the factor every stored total must be multiplied by."""
        scale = self.factor(now)
        self.origin = now
        return scale
