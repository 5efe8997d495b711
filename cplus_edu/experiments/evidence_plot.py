"""One figure for paired evidence, used by every chapter that shows stored reference results:
per comparison, one dot per pair (seed, or seed and split), the mean and its 95 % interval (the
verdict rule's, :func:`.verdicts.paired_verdict`), the line at 0, and the verdict in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .verdicts import HOLDS, NOT_AT_THIS_SCALE, paired_verdict

_COLOURS = {HOLDS: "tab:green", NOT_AT_THIS_SCALE: "tab:red"}


def plot_evidence(comparisons: Mapping[str, Sequence[float]], *, ax=None, scale: float = 1.0,
                  unit: str = "", paper: Mapping[str, float] | None = None,
                  title: str | None = None):  # fmt: skip
    """Plot ``{comparison: paired differences}`` (positive = the paper's direction) times
    ``scale`` in ``unit``; ``paper`` marks the paper's effect (same units) where it has one.
    Each row's colour is its verdict (green holds, red does not reproduce, grey otherwise).
    Returns the axes."""
    import matplotlib.pyplot as plt

    if not comparisons:
        raise ValueError("comparisons must name at least one comparison")
    paper = dict(paper or {})
    unknown = set(paper) - set(comparisons)
    if unknown:
        raise ValueError(f"paper names comparisons not plotted: {sorted(unknown)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.6 + 0.55 * len(comparisons)))
    names = list(comparisons)
    for row, name in enumerate(names):
        values = [scale * float(v) for v in comparisons[name]]
        effect = paper.get(name)
        e = paired_verdict(values, paper_effect=effect if effect and effect > 0 else None)
        colour = _COLOURS.get(e.verdict, "tab:gray")
        jitter = [row + 0.18 * ((k % 7) / 6 - 0.5) for k in range(len(values))]
        ax.scatter(values, jitter, s=14, color=colour, alpha=0.55, zorder=2)
        if e.n > 1:
            ax.errorbar(e.mean, row, xerr=[[e.mean - e.low], [e.high - e.mean]], fmt="o",
                        color=colour, capsize=4, linewidth=2, zorder=3)  # fmt: skip
        if effect is not None:
            ax.plot(effect, row, marker="*", markersize=12, color="k", zorder=4,
                    label="paper's effect" if "paper's effect" not in
                    ax.get_legend_handles_labels()[1] else None)  # fmt: skip
        ax.annotate(f"{e.verdict} ({e.n} pairs)", (1.01, row), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8, color=colour)  # fmt: skip
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel(f"paired difference{f' ({unit})' if unit else ''}: dots = pairs, "
                  "bar = mean and 95 % interval")  # fmt: skip
    ax.set_title(title or "Paired differences (positive = the paper's direction)")
    if paper:
        ax.legend(fontsize=8, loc="lower right")
    ax.figure.tight_layout()
    return ax
