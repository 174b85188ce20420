"""The statistics of the online report, pure: a rate's confidence interval and the test of whether
two rates differ.

- Wilson score interval (95% by default): unlike the normal approximation it stays inside [0, 1]
  and behaves at small counts and rates near 0, which click and purchase rates are.
- Two-proportion z-test, pooled, two-sided: the standard test of "does variant B convert
  differently from A"; p from the normal distribution (erfc). It assumes impressions are
  independent; a shopper seeing many responses makes them less so, which makes p optimistic:
  docs/events.md says to read it with that in mind, and to fix the sample size beforehand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


@dataclass(frozen=True, slots=True)
class Difference:
    z: float
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def wilson(successes: int, trials: int, z: float = Z95) -> Rate:
    if trials <= 0:
        return Rate(successes, trials, 0.0, 1.0)
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return Rate(successes, trials, max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_test(a: Rate, b: Rate) -> Difference:
    """Does b's rate differ from a's? z > 0 when b's is higher."""
    if a.trials == 0 or b.trials == 0:
        return Difference(0.0, 1.0)
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    if se == 0:
        return Difference(0.0, 1.0)
    z = (b.value - a.value) / se
    return Difference(z, math.erfc(abs(z) / math.sqrt(2)))
