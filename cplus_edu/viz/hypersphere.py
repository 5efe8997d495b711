"""Normalised embeddings on the circle (2-D) and the sphere (3-D), with the C+1 loss's geometry.

With L2-normalised features every sample lies on the unit hypersphere. The plots draw

- the samples, coloured by class (background grey, a held-out *novel* background as black crosses);
- the centre ``c_k`` of every class of interest (a star; the background has no centre);
- the **background margin** of eq. (2) as a band around each centre: the part of the sphere within
  Euclidean distance ``m_b`` of ``c_k``, where a background sample still pays
  ``relu(m_b - ||f - c_k||)``. For a unit ``f`` and a centre of norm ``r`` the band is the cap of
  angular half-width ``theta`` with ``cos(theta) = (1 + r^2 - m_b^2) / (2 r)``; for a unit centre
  that is ``theta = 2 arcsin(m_b / 2)``.

Shapes: features ``[N, 2]`` or ``[N, 3]``, labels ``[N]``, centres ``[C, 2]`` or ``[C, 3]`` in
ascending class-index order, background left out. Points are drawn normalised. On the circle only
the *angle* is the embedding: each group is drawn on its own ring (classes of interest on the unit
circle, seen background just inside, novel background just outside) with a small seeded radial
jitter, so that groups at the same angle do not hide each other.

On the sphere every panel of a figure should be seen from the same direction, so that two panels
compare: ``plot_sphere`` uses ``view = (elevation, azimuth)`` in degrees, ``DEFAULT_VIEW`` unless
given (``facing_view`` computes one that faces a group of points, to be shared by all panels). Its
legend goes outside the axes (``legend=False`` leaves it out, and ``embedding_legend`` draws one
for a whole figure); the unit sphere keeps only the ticks -1, 0 and 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch

BACKGROUND_COLOR = "0.6"
NOVEL_COLOR = "black"
RING_BACKGROUND, RING_NOVEL = 0.9, 1.1  # radii of the background groups on the circle
DEFAULT_VIEW = (20.0, 35.0)  # (elevation, azimuth) in degrees of every sphere panel by default
SPHERE_TICKS = (-1.0, 0.0, 1.0)


def class_color(label: int):
    """Colour of class ``label`` (tab10, as ``plot_embedding_2d`` colours it)."""
    import matplotlib.pyplot as plt

    return plt.get_cmap("tab10")(int(label) % 10)


def center_labels(num_centers: int, background_index: int = 0) -> list[int]:
    """Class label of each centre row: the labels ``0..C`` without ``background_index``."""
    return [k + (k >= background_index) for k in range(num_centers)]


def margin_half_angle(center_norm: float, margin: float) -> float:
    """Angular half-width (radians) of the unit-sphere region within distance ``margin`` of a
    centre of norm ``center_norm``: ``cos(theta) = (1 + r^2 - m^2) / (2 r)``, clipped to [0, pi]."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    r = float(center_norm)
    if r == 0.0:
        return math.pi if margin >= 1 else 0.0
    return math.acos(min(1.0, max(-1.0, (1 + r * r - margin * margin) / (2 * r))))


def _as_numpy(name: str, x, dim: int | None = None) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if dim is not None and (x.ndim != 2 or x.shape[1] != dim):
        raise ValueError(f"{name} must be [N, {dim}], got shape {x.shape}")
    return x


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _check_inputs(features, labels, centers, novel, dim):
    features = _as_numpy("features", features, dim)
    labels = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)
    if labels.shape != (len(features),):
        raise ValueError(f"labels must be [{len(features)}], got shape {labels.shape}")
    centers = None if centers is None else _as_numpy("centers", centers, dim)
    novel = None if novel is None else _as_numpy("novel", novel, dim)
    return features, labels, centers, novel


def _interest_classes(labels: np.ndarray, background_index: int) -> list[int]:
    return [int(k) for k in np.unique(labels) if k != background_index]


def legend_handles(
    labels, background_index: int = 0, novel: bool = False, centers: bool = False
) -> list:
    """Legend entries with equal-size markers (scatter sizes differ too much to reuse): the
    background, every class of interest present in ``labels [N]``, and optionally the novel
    background and the centres."""
    from matplotlib.lines import Line2D

    def dot(color, name, marker="o", size=5):
        return Line2D([], [], ls="", marker=marker, color=color, markersize=size, label=name)

    labels = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)
    handles = [dot(BACKGROUND_COLOR, "background")]
    for c in _interest_classes(labels, background_index):
        handles.append(dot(class_color(c), f"class {c}"))
    if novel:
        handles.append(dot(NOVEL_COLOR, "novel background", marker="x"))
    if centers:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="*",
                color="white",
                markeredgecolor="black",
                markersize=10,
                label="centres",
            )
        )
    return handles


def embedding_legend(
    fig,
    labels,
    *,
    background_index: int = 0,
    novel: bool = False,
    centers: bool = False,
    loc: str = "lower center",
    ncol: int | None = None,
    fontsize: float = 8,
):
    """One legend for a whole figure of embedding panels (outside every axes, by default in one
    row under them; leave room with ``fig.subplots_adjust(bottom=...)``). Returns the legend."""
    handles = legend_handles(labels, background_index, novel, centers)
    return fig.legend(
        handles=handles, loc=loc, ncol=ncol or len(handles), fontsize=fontsize, frameon=False
    )


def _legend(ax, labels: np.ndarray, background_index: int, novel: bool, centers: bool, **kwargs):
    handles = legend_handles(labels, background_index, novel, centers)
    ax.legend(handles=handles, fontsize=7, framealpha=0.8, **kwargs)


def plot_circle(
    features,
    labels,
    centers=None,
    margin: float | None = None,
    *,
    novel=None,
    background_index: int = 0,
    ax=None,
    title: str | None = None,
    jitter: float = 0.025,
    seed: int = 0,
    legend: bool = True,
):
    """Draw a 2-D embedding on the unit circle with centres and margin bands; return the axes.

    Classes of interest are drawn at radius 1, seen background at 0.9 and novel background at 1.1
    (the radius carries no information; ``jitter`` spreads each ring). The legend sits in the
    empty middle of the circle (``legend=False`` leaves it out).

    ``features [N, 2]``, ``labels [N]``, ``centers [C, 2]`` (optional), ``margin`` = ``m_b``
    (optional; needs centres), ``novel [M, 2]`` a held-out background style (optional).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Wedge

    features, labels, centers, novel = _check_inputs(features, labels, centers, novel, 2)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    rng = np.random.default_rng(seed)

    def ring(x, radius):
        return _unit(x) * (radius + rng.uniform(-jitter, jitter, size=(len(x), 1)))

    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="0.8", lw=1, zorder=0)
    if centers is not None and margin is not None:
        for cls, c in zip(center_labels(len(centers), background_index), centers, strict=True):
            r = float(np.linalg.norm(c))
            half = math.degrees(margin_half_angle(r, margin))
            mid = math.degrees(math.atan2(c[1], c[0]))
            ax.add_patch(
                Wedge(
                    (0, 0),
                    1.15,
                    mid - half,
                    mid + half,
                    width=0.3,
                    color=class_color(cls),
                    alpha=0.18,
                    lw=0,
                    zorder=1,
                )
            )
    bg = labels == background_index
    xy = ring(features[bg], RING_BACKGROUND)
    ax.scatter(xy[:, 0], xy[:, 1], s=6, color=BACKGROUND_COLOR, zorder=2)
    for cls in _interest_classes(labels, background_index):
        xy = ring(features[labels == cls], 1.0)
        ax.scatter(xy[:, 0], xy[:, 1], s=6, color=class_color(cls), zorder=3)
    if novel is not None:
        xy = ring(novel, RING_NOVEL)
        ax.scatter(
            xy[:, 0], xy[:, 1], s=8, marker="x", lw=0.6, alpha=0.6, color=NOVEL_COLOR, zorder=4
        )
    if centers is not None:
        for cls, c in zip(center_labels(len(centers), background_index), centers, strict=True):
            ax.scatter(
                c[0],
                c[1],
                s=220,
                marker="*",
                color=class_color(cls),
                edgecolor="black",
                lw=1,
                zorder=5,
            )
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.set_xlabel("feature 1 (normalised)")
    ax.set_ylabel("feature 2 (normalised)")
    band = "" if margin is None or centers is None else f"; bands: margin $m_b$={margin:g}"
    ax.set_title((title or "embedding on the unit circle") + band, fontsize=10)
    if legend:
        _legend(ax, labels, background_index, novel is not None, centers is not None, loc="center")
    return ax


def _cap_circle(center: np.ndarray, half_angle: float, n: int = 100) -> np.ndarray:
    """Points ``[n, 3]`` on the unit sphere at angle ``half_angle`` from ``center``'s direction."""
    c = center / max(np.linalg.norm(center), 1e-12)
    helper = np.array([1.0, 0.0, 0.0]) if abs(c[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(c, helper)
    u /= np.linalg.norm(u)
    v = np.cross(c, u)
    t = np.linspace(0, 2 * np.pi, n)[:, None]
    return c * math.cos(half_angle) + math.sin(half_angle) * (u * np.cos(t) + v * np.sin(t))


def facing_view(points) -> tuple[float, float]:
    """``(elevation, azimuth)`` in degrees of a camera looking at the mean direction of
    ``points [N, 3]``, tilted 15 degrees up and kept within [-10, 50] degrees of elevation
    (steeper views read badly); ``DEFAULT_VIEW`` when there is no clear direction. Compute it once
    and pass it as ``view`` to every panel of a figure."""
    points = _as_numpy("points", points, 3)
    v = _unit(points).mean(0) if len(points) else np.zeros(3)
    if np.linalg.norm(v) < 0.2:
        return DEFAULT_VIEW
    v = v / np.linalg.norm(v)
    elev = min(50.0, max(-10.0, math.degrees(math.asin(float(v[2]))) + 15.0))
    return elev, math.degrees(math.atan2(v[1], v[0]))


def plot_sphere(
    features,
    labels,
    centers=None,
    margin: float | None = None,
    *,
    novel=None,
    background_index: int = 0,
    ax=None,
    title: str | None = None,
    view: tuple[float, float] = DEFAULT_VIEW,
    legend: bool = True,
):
    """Draw a 3-D embedding on the unit sphere with centres and margin caps; return the 3-D axes.

    Same arguments as ``plot_circle`` with ``[N, 3]`` features; ``ax`` must be a 3-D axes
    (``projection="3d"``) when given. The margin band is drawn as a translucent cap with its
    boundary circle. ``view = (elevation, azimuth)`` in degrees: use one for every panel of a
    figure. ``legend=True`` puts the legend outside the axes, on their right; for several panels
    pass ``legend=False`` and draw one ``embedding_legend`` for the figure.
    """
    import matplotlib.pyplot as plt

    features, labels, centers, novel = _check_inputs(features, labels, centers, novel, 3)
    if ax is None:
        ax = plt.figure(figsize=(5, 5)).add_subplot(projection="3d")
    if getattr(ax, "name", "") != "3d":
        raise ValueError("ax must be a 3-D axes (projection='3d') for plot_sphere")
    u, v = np.mgrid[0 : 2 * np.pi : 25j, 0 : np.pi : 13j]
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
    bg = labels == background_index
    xyz = _unit(features[bg])
    ax.scatter(*xyz.T, s=4, color=BACKGROUND_COLOR, depthshade=False)
    for cls in _interest_classes(labels, background_index):
        xyz = _unit(features[labels == cls])
        ax.scatter(*xyz.T, s=4, color=class_color(cls), depthshade=False)
    if novel is not None:
        xyz = _unit(novel)
        ax.scatter(*xyz.T, s=6, marker="x", lw=0.5, alpha=0.6, color=NOVEL_COLOR, depthshade=False)
    if centers is not None:
        for cls, c in zip(center_labels(len(centers), background_index), centers, strict=True):
            if margin is not None:
                half = margin_half_angle(float(np.linalg.norm(c)), margin)
                cap = np.stack([_cap_circle(c, half * f, 48) for f in np.linspace(0, 1, 8)]) * 1.01
                ax.plot_surface(
                    *np.moveaxis(cap, -1, 0), color=class_color(cls), alpha=0.08, lw=0, shade=False
                )
                ax.plot(*cap[-1].T, color=class_color(cls), lw=1.2, alpha=0.9)
            ax.scatter(
                *c, s=200, marker="*", color=class_color(cls), edgecolor="black", depthshade=False
            )
    if len(view) != 2:
        raise ValueError(f"view must be (elevation, azimuth) in degrees, got {view!r}")
    elev, azim = (float(a) for a in view)
    ax.view_init(elev=elev, azim=azim)
    limits = (-1.05, 1.05)
    ax.set(xlim=limits, ylim=limits, zlim=limits)
    ax.set_box_aspect((1, 1, 1))  # equal aspect: the sphere looks round
    for axis, name in zip((ax.xaxis, ax.yaxis, ax.zaxis), ("feature 1", "feature 2", "feature 3")):
        axis.set_ticks(SPHERE_TICKS)
        axis.set_ticklabels([f"{t:g}" for t in SPHERE_TICKS])
        axis.set_label_text(name, fontsize=9)
        axis.labelpad = 4
        axis.set_pane_color((1.0, 1.0, 1.0, 0.0))
    ax.tick_params(labelsize=8, pad=0)
    band = "" if margin is None or centers is None else f"; caps: margin $m_b$={margin:g}"
    ax.set_title((title or "embedding on the unit sphere") + band, fontsize=10)
    if legend:
        _legend(
            ax,
            labels,
            background_index,
            novel is not None,
            centers is not None,
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
        )
    return ax
