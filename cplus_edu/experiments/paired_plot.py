"""The figure beside every verdict: paired differences, one dot per pair, with the mean and its
95 % interval (``paired_verdict``), so a reader sees the spread the verdict was read from."""

from __future__ import annotations

from typing import Sequence

from .verdicts import paired_verdict


def plot_paired_intervals(
    diffs: dict[str, Sequence[float]],
    ax=None,
    scale: float = 1.0,
    unit: str = "",
    title: str | None = None,
    pair: str = "seed",
):
    """One row per comparison (``{label: paired differences}``, positive = the paper's way):
    a dot per pair (``pair`` names what a pair is), the mean as a bar, its 95 % Student-t
    interval as a line, the verdict of the shared rule on the right; the line at 0 = no change.
    Values are multiplied by ``scale`` (e.g. 100 for points)."""
    import matplotlib.pyplot as plt

    if not diffs:
        raise ValueError("diffs must hold at least one comparison")
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.0 + 0.45 * len(diffs)))
    for i, values in enumerate(diffs.values()):
        y = len(diffs) - 1 - i
        ev = paired_verdict(values)
        xs = [scale * v for v in values]
        jitter = [y + 0.25 * ((k % 5) / 4 - 0.5) for k in range(len(xs))]
        ax.scatter(xs, jitter, s=14, color=f"C{i % 10}", alpha=0.6, lw=0)
        if ev.n > 1:
            ax.hlines(y, scale * ev.low, scale * ev.high, color="k", lw=1.6)
        ax.vlines(scale * ev.mean, y - 0.3, y + 0.3, color="k", lw=2.5)
        ax.annotate(f"{ev.verdict} ({ev.up}/{ev.n} up)", (1.01, y), xycoords=("axes fraction",
                    "data"), va="center", fontsize=8)  # fmt: skip
    ax.axvline(0, color="0.4", lw=0.8, ls="--")
    ax.set_yticks(range(len(diffs)), list(diffs)[::-1])
    ax.set_ylim(-0.6, len(diffs) - 0.4)
    ax.set_xlabel(f"paired difference{f' ({unit})' if unit else ''}: dots = {pair}s, "
                  "bar = mean, line = 95 % interval")  # fmt: skip
    ax.set_title(title or "Paired differences and their 95 % intervals", fontsize=10)
    ax.figure.tight_layout()
    return ax
