"""The figures of the stored reference results: paired per-seed differences with their 95 %
interval, and learning curves."""

from __future__ import annotations

from typing import Sequence


def plot_paired_differences(pairs: dict[str, Sequence[float]], *, unit: str = "",
                            title: str | None = None):  # fmt: skip
    """One row per comparison ``name -> [difference per seed]`` (positive = the paper's way):
    each seed a dot, the mean a diamond with the 95 % Student-t interval of the shared verdict
    rule (``paired_verdict``) as a bar, and the verdict written beside it. Returns the
    ``Figure``."""
    import matplotlib.pyplot as plt

    from cplus_edu.experiments.verdicts import paired_verdict

    if not pairs or any(len(v) == 0 for v in pairs.values()):
        raise ValueError("pairs must map each comparison to a non-empty list of differences")
    names = list(pairs)
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(names) + 1.3))
    for row, name in enumerate(names):
        y = len(names) - 1 - row
        values = [float(v) for v in pairs[name]]
        evidence = paired_verdict(values)
        ax.scatter(values, [y] * len(values), s=14, c="black", alpha=0.6, zorder=3,
                   label="one seed" if row == 0 else None)  # fmt: skip
        if evidence.n > 1:
            ax.plot([evidence.low, evidence.high], [y, y], color="tab:blue", linewidth=3,
                    label="95 % interval of the mean" if row == 0 else None)  # fmt: skip
        ax.scatter([evidence.mean], [y], marker="D", s=40, c="tab:blue", zorder=4,
                   label="mean" if row == 0 else None)  # fmt: skip
        ax.annotate(evidence.verdict, (1.01, y), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8)  # fmt: skip
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(range(len(names)), names[::-1], fontsize=8)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlabel(f"paired difference per seed{f' ({unit})' if unit else ''}; positive = the "
                  "paper's direction")  # fmt: skip
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    if title:
        ax.set_title(title, pad=22)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: dict[str, Sequence[Sequence[float]]], *, ylabel: str,
                         title: str | None = None):  # fmt: skip
    """``curves[name] = [[value per epoch] per seed]``: every seed a thin line, the mean over
    seeds a thick one, one colour per name. Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    if not curves or any(len(runs) == 0 for runs in curves.values()):
        raise ValueError("curves must map each name to a non-empty list of runs")
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (name, runs) in enumerate(curves.items()):
        colour = f"C{i}"
        epochs = range(1, len(runs[0]) + 1)
        for run in runs:
            ax.plot(epochs, run, color=colour, linewidth=0.8, alpha=0.45)
        mean = [sum(v) / len(v) for v in zip(*runs)]
        ax.plot(epochs, mean, color=colour, linewidth=2.5,
                label=f"{name} (mean of {len(runs)} seeds; thin: each seed)")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
