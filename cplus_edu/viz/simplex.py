"""The probability simplex: softmax descriptors on a triangle (M = 3) or a tetrahedron (M = 4),
and the CAS loss landscape over two region means.

A point `p` of the simplex (`p_m >= 0`, `sum_m p_m = 1`) is drawn at `sum_m p_m * corner_m`: corner
`m` is the one-hot descriptor "channel m", the centre is the uniform descriptor.
"""

from __future__ import annotations

import math

import torch

_TRIANGLE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
_TETRAHEDRON = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / (
    2 * math.sqrt(2)
)


def simplex_corners(num_channels: int) -> torch.Tensor:
    """Corners `[M, M - 1]` of a regular simplex with unit edges: a triangle or a tetrahedron."""
    if num_channels == 3:
        return _TRIANGLE.clone()
    if num_channels == 4:
        return _TETRAHEDRON.clone()
    raise ValueError(
        f"only M = 3 (triangle) or M = 4 (tetrahedron) can be drawn, got {num_channels}"
    )


def simplex_to_cartesian(points) -> torch.Tensor:
    """Barycentric `[N, M]` -> Cartesian `[N, M - 1]` coordinates on the drawn simplex."""
    points = torch.as_tensor(points, dtype=torch.float32).detach().cpu()
    if points.ndim != 2:
        raise ValueError(f"points must be [N, M], got shape {tuple(points.shape)}")
    return points @ simplex_corners(points.shape[1])


def plot_simplex(
    points,
    labels=None,
    means=None,
    mean_labels=None,
    ax=None,
    title=None,
    palette=None,
    label_names=None,
):
    """Scatter softmax descriptors `points` `[N, 3]` on a triangle or `[N, 4]` in a tetrahedron.

    `labels` `[N]` colour the points (`palette[label]`, tab10 by default); `means` `[R, M]` are
    drawn as large circles with a black edge, coloured by `mean_labels` `[R]`. With
    `label_names` (indexed by label), a legend names the labels of the means drawn. Returns the
    matplotlib `Axes` (3-D for M = 4).
    """
    import matplotlib.pyplot as plt

    points = torch.as_tensor(points).detach().cpu()
    m = points.shape[1] if points.ndim == 2 else -1
    corners = simplex_corners(m)
    three_d = m == 4
    if ax is None:
        fig = plt.figure(figsize=(5, 5))
        ax = fig.add_subplot(projection="3d" if three_d else None)
    cmap = plt.get_cmap("tab10")

    def colours(values, n):
        if values is None:
            return ["tab:blue"] * n
        if palette is not None:
            rgb = torch.as_tensor(palette, dtype=torch.float32)
            return [tuple(rgb[int(v)].tolist()) for v in torch.as_tensor(values).tolist()]
        return [cmap(int(v) % 10) for v in torch.as_tensor(values).tolist()]

    for i in range(m):  # edges
        for j in range(i + 1, m):
            ax.plot(*corners[[i, j]].T.tolist(), color="black", lw=1)
    for k, corner in enumerate(corners):
        offset = (corner - corners.mean(dim=0)) * 0.12
        ax.text(*(corner + offset).tolist(), f"channel {k + 1}", ha="center", va="center")
    xy = simplex_to_cartesian(points)
    ax.scatter(*xy.T.tolist(), s=4, alpha=0.35, c=colours(labels, len(xy)))
    if means is not None:
        centre_xy = simplex_to_cartesian(means)
        ax.scatter(
            *centre_xy.T.tolist(),
            s=120,
            c=colours(mean_labels, len(centre_xy)),
            edgecolors="black",
            linewidths=1.5,
            zorder=3,
        )
        if label_names is not None and mean_labels is not None:
            shown = sorted(set(torch.as_tensor(mean_labels).tolist()))
            handles = [
                plt.Line2D([], [], ls="", marker="o", ms=8, mec="black", mfc=colour)
                for colour in colours(shown, len(shown))
            ]
            ax.legend(handles, [label_names[v] for v in shown], fontsize=8, loc="upper right")
    ax.set_title(title or "softmax descriptors on the simplex")
    if three_d:
        ax.set_xlabel("x (tetrahedron)")
        ax.set_ylabel("y (tetrahedron)")
        ax.set_zlabel("z (tetrahedron)")
    else:
        ax.set_xlabel("channel 1  <-  ->  channel 2")
        ax.set_ylabel("towards channel 3")
        ax.set_aspect("equal")
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.12, 1.0)
        ax.set_xticks([])  # positions on the drawn triangle carry no units
        ax.set_yticks([])
    return ax


def plot_cas_landscape(shares, values, alpha: float, ax=None):
    """Heat map of `values` `[S, S]` from `cas_two_region_landscape`, minima marked with stars."""
    import matplotlib.pyplot as plt

    shares = torch.as_tensor(shares).cpu()
    values = torch.as_tensor(values).detach().cpu()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    extent = (float(shares[0]), float(shares[-1]), float(shares[0]), float(shares[-1]))
    image = ax.imshow(
        values.T.numpy(), origin="lower", extent=extent, cmap="viridis", aspect="equal"
    )
    ax.figure.colorbar(image, ax=ax, label="CAS loss of the image")
    minima = (values - values.min()).abs() < 1e-9
    a, b = minima.nonzero(as_tuple=True)
    ax.scatter(
        shares[a].numpy(),
        shares[b].numpy(),
        marker="*",
        s=260,
        c="red",
        edgecolors="white",
        zorder=3,
        clip_on=False,
    )
    ax.set_xlim(extent[0] - 0.04, extent[1] + 0.04)
    ax.set_ylim(extent[2] - 0.04, extent[3] + 0.04)
    ax.set_xlabel("region A: share of its pixels on channel 1")
    ax.set_ylabel("region B: share of its pixels on channel 1")
    ax.set_title(f"CAS over two region means\nalpha = {alpha:.2f} (stars: minima)")
    return ax
