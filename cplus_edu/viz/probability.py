"""Plots for the background-probability formula (C+1 paper, eq. 3) and its check on features.

- ``plot_background_probability``: p and 1 - p against the dimension d, for features filling a
  ball and for L2-normalised features on a sphere, with Monte Carlo points and the line below
  which Monte Carlo cannot see anything;
- ``plot_nearest_center_distances``: how far real samples lie from their nearest class centre,
  against the class radius R that eq. (3) assumes.
"""

from __future__ import annotations

import numpy as np
import torch

from cplus_edu import theory

_COLORS = {"ball": "C0", "sphere": "C1"}
DIMS = tuple(int(d) for d in np.unique(np.geomspace(1, 1024, 120).round()))  # the paper's d ~ 1024
_LOG10_FLOOR = -30  # lowest log10(1 - p) drawn: below, only the end value is printed
_FORMULAS = {"ball": r"$p = 1 - C\,(R/R_L)^d$", "sphere": r"$p = 1 - C\,cap_d(\theta)$"}


def _monte_carlo(C, R, R_L, dims, geometry, n_samples, confidence, seed):
    """Estimates at ``dims`` (those the geometry allows), or ``[]`` and why when the class balls
    do not fit disjointly (then eq. (3) is only a bound and there is nothing exact to check)."""
    dims = [int(d) for d in dims if geometry == "ball" or d >= 2]
    try:
        theory.disjoint_centers(C, R, R_L, max(dims), geometry)
    except ValueError:
        where = "along a diameter" if geometry == "ball" else "on a great circle"
        return [], f"{C} disjoint balls of radius {R:g} do not fit {where}"
    return [theory.monte_carlo_background_probability(
        C, R, R_L, d, geometry, n_samples=n_samples, confidence=confidence, seed=seed + d
    ) for d in dims], ""  # fmt: skip


def _draw_column(ax_p, ax_miss, C, R, R_L, dims, geometry, estimates, why, floor):
    """Top: p against d. Bottom: log10(1 - p), from ``log_union_bound`` (no underflow)."""
    color = _COLORS[geometry]
    dims = np.asarray([d for d in dims if geometry == "ball" or d >= 2])
    p = theory.background_probability(C, R, R_L, dims, geometry)
    log_miss = np.minimum(theory.log_union_bound(C, R, R_L, dims, geometry), 0.0) / np.log(10)
    ax_p.plot(dims, p, color=color, label="eq. (3)")
    ax_miss.plot(dims, log_miss, color=color, label="eq. (3): union bound")
    seen = [e for e in estimates if e.n_inside > 0]
    blind = [e for e in estimates if e.n_inside == 0]
    for ax, values in [(ax_p, lambda e: (e.p, e.low, e.high)),  # 1 - p: high and low swap
                       (ax_miss, lambda e: np.log10([1 - e.p, 1 - e.high, 1 - e.low]))]:
        if seen:
            mid, low, high = np.array([values(e) for e in seen]).T
            ax.errorbar([e.d for e in seen], mid, yerr=[mid - low, high - mid], fmt="o",
                        color="k", ms=3, capsize=2, label="Monte Carlo, 95% CI")  # fmt: skip
    if blind:
        ax_miss.plot([e.d for e in blind], [np.log10(1 - e.low) for e in blind], "v",
                     color="grey", ms=5, label="Monte Carlo: no hit (upper bound)")  # fmt: skip
    beyond = dims[log_miss < np.log10(floor)]
    if len(beyond):
        ax_miss.axvspan(beyond[0], dims[-1], color="grey", alpha=0.15,
                        label=f"MC cannot resolve (d ≥ {beyond[0]})")  # fmt: skip
    ax_miss.axhline(np.log10(floor), color="grey", ls="--", lw=1,
                    label=f"MC resolution {floor:.1e}")  # fmt: skip
    bottom = max(log_miss.min(), _LOG10_FLOOR)
    ax_miss.set_ylim(bottom - 0.03 * abs(bottom), 0.5)
    if log_miss.min() < bottom:  # the curve leaves the plot: say where it ends
        ax_miss.text(0.98, 0.04, f"d = {dims[-1]}: 1 - p = 1e{log_miss[-1]:.0f}", ha="right",
                     transform=ax_miss.transAxes, fontsize=8, color=color)  # fmt: skip
    theta = f", θ = {float(theory.chord_to_angle(R, R_L)):.2f} rad" if geometry == "sphere" else ""
    ax_p.set_title(f"{geometry}: {_FORMULAS[geometry]}{theta}")
    ax_p.set(ylabel="p: outside every class ball", ylim=(-0.03, 1.03))
    ax_miss.set_title(f"{geometry}: 1 - p on a log scale" + (f"\n(no MC: {why})" if why else ""),
                      fontsize=9 if why else None)  # fmt: skip
    ax_miss.set(ylabel="log10(1 - p): inside some class ball")
    for ax in (ax_p, ax_miss):
        ax.set(xscale="log", xlabel="feature dimension d (log scale)")
        ax.legend(fontsize=7, loc="lower left" if ax is ax_miss else "lower right")


def plot_background_probability(
    C: int,
    R: float,
    R_L: float = 1.0,
    dims=DIMS,
    *,
    mc_dims=(1, 2, 3, 4, 6, 8, 10, 13, 16, 20, 25, 30),
    n_samples: int = 20_000,
    confidence: float = 0.95,
    seed: int = 0,
    axes=None,
):
    """Eq. (3) against the dimension: a 2 x 2 grid, columns ball | sphere, rows p | 1 - p (log).

    Curves: the formula at every d in ``dims`` (by default up to the paper's d = 1024). Points:
    Monte Carlo at ``mc_dims`` with ``n_samples`` uniform samples each (class balls placed
    disjointly, where the formula is exact); a grey triangle where no sample landed inside a
    ball. The dashed line is the smallest 1 - p that many samples can see, the grey band the
    dimensions where the formula's 1 - p is below it. Monte Carlo costs about
    ``len(mc_dims) * n_samples * C`` operations per geometry, whatever d.
    ``axes``: a ``[2, 2]`` array of Axes, else a new figure. Returns the axes.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    axes = np.asarray(axes)
    if axes.shape != (2, 2):
        raise ValueError(f"axes must be a 2 x 2 array of Axes, got shape {axes.shape}")
    floor = theory.monte_carlo_resolution(n_samples, confidence)
    for col, geometry in enumerate(theory.GEOMETRIES):
        estimates, why = _monte_carlo(C, R, R_L, mc_dims, geometry, n_samples, confidence, seed)
        _draw_column(axes[0, col], axes[1, col], C, R, R_L, dims, geometry, estimates, why, floor)
    axes[0, 0].figure.suptitle(
        f"Background probability, C = {C} classes of radius R = {R:g}, R_L = {R_L:g}; "
        f"Monte Carlo with {n_samples:,} samples per point"
    )
    return axes


def plot_nearest_center_distances(distances: dict, R: float, ax=None, title: str | None = None):
    """Histograms of ``min_k ||f - c_k||`` per group (``{name: [N] distances}``), with the class
    radius ``R`` marked; the legend gives the share of each group inside some class ball.
    Returns the Axes."""
    import matplotlib.pyplot as plt

    if not distances:
        raise ValueError("distances must be a non-empty dict {group name: [N] distances}")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
    values = {k: torch.as_tensor(v).detach().cpu().double().numpy() for k, v in distances.items()}
    top = max(float(v.max()) for v in values.values())
    bins = np.linspace(0, max(top, R) * 1.02, 60)
    for name, v in values.items():
        ax.hist(v, bins=bins, density=True, histtype="step", lw=1.5,
                label=f"{name}: {100 * np.mean(v <= R):.1f}% inside")  # fmt: skip
    ax.axvline(R, color="k", ls="--", label=f"class radius R = {R:.2f}")
    ax.set(xlabel="distance to the nearest class centre, min_k ||f - c_k||", ylabel="density",
           title=title or "How far samples lie from the classes of interest")  # fmt: skip
    ax.legend(fontsize=8)
    return ax
