"""One figure for paired evidence, used by every chapter that shows stored reference results:
per comparison, one dot per pair (a seed, or a split), the mean and its 95 % interval (the
verdict rule's, :func:`.verdicts.paired_verdict`), the line at 0, and the verdict in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .verdicts import HOLDS, NOT_AT_THIS_SCALE, paired_verdict

_COLOURS = {HOLDS: "tab:green", NOT_AT_THIS_SCALE: "tab:red"}


def _row(ax, y: float, values: list[float], effect: float | None) -> list[float]:
    """Draw one comparison at height ``y``; return the x values it spans."""
    e = paired_verdict(values, paper_effect=effect if effect and effect > 0 else None)
    colour = _COLOURS.get(e.verdict, "tab:gray")
    jitter = [y + 0.18 * ((k % 7) / 6 - 0.5) for k in range(len(values))]
    ax.scatter(values, jitter, s=14, color=colour, alpha=0.55, zorder=2)
    ends = [*values, 0.0]
    if e.n > 1:
        ax.errorbar(e.mean, y, xerr=[[e.mean - e.low], [e.high - e.mean]], fmt="o",
                    color=colour, capsize=4, linewidth=2, zorder=3)  # fmt: skip
        ends += [e.low, e.high]
    if effect is not None:
        ax.plot(effect, y, marker="*", markersize=12, color="k", zorder=4, label="paper's effect")
        ends.append(effect)
    digits = 1 if max(abs(v) for v in values) >= 1 else 3
    ax.annotate(f"{e.verdict}\n{e.describe(digits=digits)}", (1.01, y),
                xycoords=("axes fraction", "data"), va="center", fontsize=8,
                color=colour)  # fmt: skip
    return ends


def plot_evidence(comparisons: Mapping[str, Sequence[float]], *, ax=None, scale: float = 1.0,
                  unit: str = "", paper: Mapping[str, float] | None = None,
                  title: str | None = None, pair: str = "seed",
                  own_scale: bool = False):  # fmt: skip
    """Plot ``{comparison: paired differences}`` (positive = the paper's direction) times
    ``scale`` in ``unit``; a dot is one pair (``pair`` names what a pair is: "seed", "split").
    ``paper`` marks the paper's effect (same units) where it has one. Each row's colour is its
    verdict (green holds, red does not reproduce at this scale, grey otherwise), written beside
    it with the mean and interval. ``own_scale=True`` gives each row its own axes and x range
    (for comparisons in units that differ by orders of magnitude). Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    if not comparisons or any(len(v) == 0 for v in comparisons.values()):
        raise ValueError("comparisons must map at least one comparison to a non-empty list")
    paper = dict(paper or {})
    unknown = set(paper) - set(comparisons)
    if unknown:
        raise ValueError(f"paper names comparisons not plotted: {sorted(unknown)}")
    if own_scale and ax is not None:
        raise ValueError("own_scale draws its own axes: pass ax=None")
    names = list(comparisons)
    if own_scale:
        fig, grid = plt.subplots(len(names), 1, figsize=(9, 1.2 + 0.8 * len(names)), squeeze=False)
        axes = list(grid[:, 0])
    else:
        if ax is None:
            _, ax = plt.subplots(figsize=(9, 1.0 + 0.55 * len(names)))
        fig, axes = ax.figure, [ax] * len(names)
    for row, (name, axis) in enumerate(zip(names, axes)):
        values = [scale * float(v) for v in comparisons[name]]
        y = 0 if own_scale else row
        ends = _row(axis, y, values, paper.get(name))
        axis.axvline(0, color="k", linewidth=0.8)
        if own_scale:
            pad = 0.08 * (max(ends) - min(ends) or 1.0)
            axis.set_xlim(min(ends) - pad, max(ends) + pad)
            axis.set_yticks([0], [name])
            axis.set_ylim(-0.5, 0.5)
    if not own_scale:
        axes[0].set_yticks(range(len(names)), names)
        axes[0].set_ylim(len(names) - 0.5, -0.5)
    axes[-1].set_xlabel(f"paired difference{f' ({unit})' if unit else ''}: dots = {pair}s, "
                        "bar = mean and 95 % interval" +
                        ("; each row has its own scale" if own_scale else ""))  # fmt: skip
    axes[0].set_title(title or "Paired differences (positive = the paper's direction)",
                      fontsize=10)  # fmt: skip
    if paper:
        axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
