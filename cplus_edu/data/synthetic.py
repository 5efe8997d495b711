"""A synthetic C+1 world: C compact classes of interest and a diverse, undefined background.

The C+1 paper's setting in miniature. The classes of interest are tight Gaussian clusters around
centres at distance 1 from the origin in ``dim`` dimensions. The background has no shape of its own:
it is a mixture of *styles*,

- ``uniform``: anywhere in the box ``[-2, 2]^dim`` except close to a class centre,
- ``shell``: a thin shell of radius 2 around everything,
- ``clusters``: small clusters of "other objects" at radius 1.5 between the class directions,

and a held-out ``novel`` style that training never sees: points on the straight bridges between
pairs of class centres, close to the classes of interest. A model that only learned "not one of the
training background styles" can fail on it; one that learned compact classes with a margin should
still call it background.

Labels: 0 = background, 1..C = classes of interest (``background_index=0``, as in VOC).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STYLE_NAMES = ("class of interest", "uniform", "shell", "clusters")
NOVEL_STYLE = "bridges"


def _class_centres(num_classes: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """Unit-norm centres ``[C, dim]``: evenly spaced on the circle in 2-D, spread out otherwise."""
    if dim == 2:
        angles = torch.arange(num_classes) * (2 * torch.pi / num_classes) + torch.pi / 4
        return torch.stack([angles.cos(), angles.sin()], dim=1)
    best, best_gap = None, -1.0
    for _ in range(64):  # keep the draw whose closest pair of centres is farthest apart
        c = torch.nn.functional.normalize(torch.randn(num_classes, dim, generator=generator), dim=1)
        gap = torch.pdist(c).min().item() if num_classes > 1 else 2.0
        if gap > best_gap:
            best, best_gap = c, gap
    return best


@dataclass
class SyntheticCPlusOne:
    """Samples ``x [N, dim]``, labels ``y [N]`` (0 = background), background ``style [N]``.

    ``style[i]`` indexes ``STYLE_NAMES`` (0 for classes of interest). ``centers [C, dim]`` are the
    true class centres (row k-1 for label k).
    """

    x: torch.Tensor
    y: torch.Tensor
    style: torch.Tensor
    centers: torch.Tensor
    cluster_std: float
    seed: int

    @property
    def num_classes(self) -> int:
        """C + 1: the classes of interest plus background."""
        return len(self.centers) + 1

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def novel_background(self, n: int = 500, seed: int = 1) -> torch.Tensor:
        """``[n, dim]`` samples of the held-out ``bridges`` style, between class centres.

        A point ``c_a + t (c_b - c_a)`` with ``t`` uniform in [0.3, 0.7] plus small noise: between
        two classes of interest, nearer to them than any training background style comes.
        """
        g = torch.Generator().manual_seed(seed)
        C = len(self.centers)
        if C < 2:
            raise ValueError("the novel 'bridges' style needs at least 2 classes of interest")
        a = torch.randint(C, (n,), generator=g)
        b = (a + torch.randint(1, C, (n,), generator=g)) % C
        t = 0.3 + 0.4 * torch.rand(n, 1, generator=g)
        base = self.centers[a] + t * (self.centers[b] - self.centers[a])
        return base + 0.05 * torch.randn(n, self.dim, generator=g)


def make_cplus_one_data(
    num_classes: int = 4,
    n_per_class: int = 200,
    n_background: int = 800,
    dim: int = 2,
    cluster_std: float = 0.1,
    seed: int = 0,
) -> SyntheticCPlusOne:
    """Draw a C+1 data set with ``num_classes`` classes of interest (C) and mixed-style background.

    ``n_background`` is split evenly between the three training styles. Deterministic in ``seed``.
    """
    for name, value in [
        ("num_classes", num_classes),
        ("n_per_class", n_per_class),
        ("n_background", n_background),
        ("dim", dim),
    ]:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if dim < 2:
        raise ValueError(f"dim must be at least 2, got {dim}")
    if not 0 < cluster_std < 0.5:
        raise ValueError(f"cluster_std must be in (0, 0.5), got {cluster_std}")
    g = torch.Generator().manual_seed(seed)
    centers = _class_centres(num_classes, dim, g)
    xs = [
        centers[k] + cluster_std * torch.randn(n_per_class, dim, generator=g)
        for k in range(num_classes)
    ]
    ys = [torch.full((n_per_class,), k + 1) for k in range(num_classes)]
    styles = [torch.zeros(num_classes * n_per_class, dtype=torch.long)]
    counts = [n_background // 3 + (i < n_background % 3) for i in range(3)]
    background = [
        _uniform_away_from(centers, counts[0], 4 * cluster_std, g),
        2.0 * torch.nn.functional.normalize(torch.randn(counts[1], dim, generator=g), dim=1)
        + 0.05 * torch.randn(counts[1], dim, generator=g),
        _between_clusters(centers, counts[2], g),
    ]
    for i, b in enumerate(background):
        xs.append(b)
        ys.append(torch.zeros(len(b), dtype=torch.long))
        styles.append(torch.full((len(b),), i + 1))
    return SyntheticCPlusOne(
        x=torch.cat(xs).float(),
        y=torch.cat(ys).long(),
        style=torch.cat(styles),
        centers=centers.float(),
        cluster_std=cluster_std,
        seed=seed,
    )


def _uniform_away_from(
    centers: torch.Tensor, n: int, radius: float, g: torch.Generator
) -> torch.Tensor:
    """``n`` points uniform in ``[-2, 2]^dim`` farther than ``radius`` from every centre."""
    kept, total = [], 0
    while total < n:
        p = 4 * torch.rand(2 * n + 16, centers.shape[1], generator=g) - 2
        p = p[torch.cdist(p, centers).min(dim=1).values > radius]
        kept.append(p)
        total += len(p)
    return torch.cat(kept)[:n]


def _between_clusters(centers: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """Small clusters at radius 1.5 in the directions halfway between neighbouring class centres."""
    C, dim = centers.shape
    halfway = centers + centers.roll(1, dims=0)
    opposite = (
        halfway.norm(dim=1) < 1e-3
    )  # e.g. two centres on opposite sides: pick a sideways direction
    sideways = torch.randn(C, dim, generator=g)
    sideways -= (sideways * centers).sum(1, keepdim=True) * centers
    directions = torch.nn.functional.normalize(
        torch.where(opposite[:, None], sideways, halfway), dim=1
    )
    pick = torch.randint(len(directions), (n,), generator=g)
    return 1.5 * directions[pick] + 0.08 * torch.randn(n, dim, generator=g)
