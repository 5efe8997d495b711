"""The figure of the stored reference results: each comparison's paired per-seed differences
with the 95 % interval of the shared verdict rule."""

from __future__ import annotations

from typing import Sequence

from .verdicts import paired_verdict


def plot_paired_intervals(pairs: dict[str, Sequence[float]], *, unit: str = "",
                            title: str | None = None):  # fmt: skip
    """One row per comparison ``name -> [difference per seed]``: each seed a dot, the mean a
    diamond with the 95 % Student-t interval of the shared verdict rule (``paired_verdict``) as
    a bar, written beside it (``+1.8 [+0.4, +3.2], 5/5 up``). Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    if not pairs or any(len(v) == 0 for v in pairs.values()):
        raise ValueError("pairs must map each comparison to a non-empty list of differences")
    fig, axes = plt.subplots(len(pairs), 1, figsize=(9, 0.75 * len(pairs) + 1.2), squeeze=False)
    for ax, (name, raw) in zip(axes[:, 0], pairs.items()):
        values = [float(v) for v in raw]
        evidence = paired_verdict(values)
        ax.scatter(values, [0] * len(values), s=14, c="black", alpha=0.6, zorder=3,
                   label="one seed")  # fmt: skip
        ends = values + [0.0]
        if evidence.n > 1:
            ax.plot([evidence.low, evidence.high], [0, 0], color="tab:blue", linewidth=3,
                    label="95 % interval of the mean")  # fmt: skip
            ends += [evidence.low, evidence.high]
        ax.scatter([evidence.mean], [0], marker="D", s=40, c="tab:blue", zorder=4, label="mean")
        ax.axvline(0, color="grey", linewidth=1)
        pad = 0.08 * (max(ends) - min(ends) or 1.0)
        ax.set_xlim(min(ends) - pad, max(ends) + pad)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        digits = 1 if max(abs(v) for v in values) >= 1 else 3
        ax.annotate(evidence.describe(digits=digits), (1.01, 0.5), xycoords="axes fraction",
                    va="center", fontsize=8)  # fmt: skip
    axes[0, 0].legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
                      frameon=False)  # fmt: skip
    axes[-1, 0].set_xlabel(f"paired difference per seed{f' ({unit})' if unit else ''}; each row "
                           "has its own scale, the grey line is 0")  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
