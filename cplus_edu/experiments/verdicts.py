"""One rule for every verdict of the course: from paired per-seed differences to a word.

A chapter measures a paper's claim ("C+1 rejects more unseen background than CE") as **paired
differences** :math:`d_1, \\dots, d_n`: each run of the method minus the baseline run that
shares its seed (and split), so both saw the same data order and initial weights. The
differences are signed so that a positive one points the paper's way. The rule
looks at the two-sided 95 % Student-t interval of their mean,

.. math::  \\bar d \\pm t_{0.975,\\,n-1}\\, s / \\sqrt{n},

(``s`` the sample standard deviation) and says:

- **holds**: the interval lies above 0, and (when the paper gives an effect size in the same
  units, ``paper_effect``) it does not lie wholly below the paper's effect;
- **holds in direction only**: the interval lies above 0 but wholly below the paper's effect:
  the effect is real here, and smaller than the paper's;
- **inconclusive at this scale**: the interval contains 0: the effect, if any, is smaller than
  the seed-to-seed spread of this run (more seeds or a larger run could tell);
- **does not reproduce at this scale**: the interval lies below 0: the effect points the other
  way beyond noise, at this scale.

With fewer than two pairs there is no spread to compare with: the verdict is *inconclusive*.
Two more verdicts are not decided by this rule: **does not reproduce** is for a claim that is
wrong at any scale (a bound that a worked example violates), and **not tested yet** for a claim no
run has measured. A chapter that uses either says why next to it.

A claim made of several comparisons that must all hold ("focal and A-softmax sit between CE and
CC-loss": four pairs) takes :func:`all_of` its parts' verdicts.

Why a t interval and not "better on every seed": with three seeds, "3/3 up" happens by chance one
time in eight when there is no effect at all, and it ignores how far apart the pairs are.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

HOLDS = "holds"
DIRECTION_ONLY = "holds in direction only"
INCONCLUSIVE = "inconclusive at this scale"
NOT_AT_THIS_SCALE = "does not reproduce at this scale"
DOES_NOT_REPRODUCE = "does not reproduce"
NOT_TESTED = "not tested yet"
VERDICTS = (HOLDS, DIRECTION_ONLY, INCONCLUSIVE, NOT_AT_THIS_SCALE, DOES_NOT_REPRODUCE, NOT_TESTED)

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Evidence:
    """What the rule saw: ``n`` pairs, their mean, the interval ``[low, high]``, how many pairs
    point the paper's way (``up``), and the verdict."""

    n: int
    mean: float
    low: float
    high: float
    up: int
    verdict: str

    def describe(self, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
        """``+1.8 [+0.4, +3.2]{unit}, 5/5 up`` (the values multiplied by ``scale``)."""
        if self.n == 0:
            return "no pairs"
        f = lambda v: f"{scale * v:+.{digits}f}"  # noqa: E731
        interval = f" [{f(self.low)}, {f(self.high)}]" if self.n > 1 else " (1 pair)"
        return f"{f(self.mean)}{interval}{unit}, {self.up}/{self.n} up"


def t_quantile(n: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t quantile for the mean of ``n`` >= 2 values."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, n - 1))


def paired_verdict(
    differences: Sequence[float],
    *,
    paper_effect: float | None = None,
    confidence: float = CONFIDENCE,
) -> Evidence:
    """Apply the rule above to paired differences (positive = the paper's direction).

    ``paper_effect`` is the paper's effect in the **same units** as ``differences`` (e.g. +0.85
    accuracy points), or ``None`` when the paper gives none or measures something else (VOC
    mIoU against our MNIST recall): then a positive interval is a plain *holds*.
    """
    values = [float(d) for d in differences]
    if any(not math.isfinite(v) for v in values):
        raise ValueError(f"differences must be finite, got {values}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if paper_effect is not None and not (math.isfinite(paper_effect) and paper_effect > 0):
        raise ValueError(f"paper_effect must be a positive number, got {paper_effect}")
    n = len(values)
    up = sum(v > 0 for v in values)
    if n == 0:
        return Evidence(0, math.nan, math.nan, math.nan, 0, INCONCLUSIVE)
    mean = statistics.mean(values)
    if n == 1:
        return Evidence(1, mean, math.nan, math.nan, up, INCONCLUSIVE)
    half = t_quantile(n, confidence) * statistics.stdev(values) / math.sqrt(n)
    low, high = mean - half, mean + half
    if low > 0:
        verdict = DIRECTION_ONLY if paper_effect is not None and high < paper_effect else HOLDS
    elif high < 0:
        verdict = NOT_AT_THIS_SCALE
    else:
        verdict = INCONCLUSIVE
    return Evidence(n, mean, low, high, up, verdict)


def all_of(evidence: Iterable[Evidence]) -> str:
    """The verdict of a claim made of several parts that must all hold: **does not reproduce at
    this scale** if any part points the other way beyond noise, else **holds** if every part
    holds (**holds in direction only** if some part does only in direction), else
    **inconclusive at this scale**."""
    verdicts = [e.verdict for e in evidence]
    if not verdicts:
        raise ValueError("all_of needs at least one part")
    if NOT_AT_THIS_SCALE in verdicts:
        return NOT_AT_THIS_SCALE
    if all(v in (HOLDS, DIRECTION_ONLY) for v in verdicts):
        return DIRECTION_ONLY if DIRECTION_ONLY in verdicts else HOLDS
    return INCONCLUSIVE
