"""Learning curves over seeds: a validation score after every epoch, each seed and the mean."""

from __future__ import annotations

from typing import Sequence


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
