"""Plots for chapter 06: segmentation panels, p_0 histograms, recall by object kind, and the
fused loss of one pixel over its logits."""

from __future__ import annotations

import torch

_CLASS_COLOURS = ["#3b3b3b", "#e41a1c", "#377eb8", "#4daf4a", "#ff7f00", "#984ea3", "#a65628"]


def _label_cmap(num_classes: int):
    from matplotlib.colors import ListedColormap

    return ListedColormap(_CLASS_COLOURS[:num_classes])


def plot_segmentation_panels(
    images, columns: dict, num_classes: int, rows=(0, 1, 2), title=None, image_titles=None
):
    """One row per image index in ``rows``: the image, then one panel per entry of ``columns``
    (``name -> [N, H, W]``): integer maps are label maps (background dark grey), float maps
    (objectness) are drawn in [0, max] with a colour bar. ``image_titles`` (one per row) name
    the image panels (default ``test image <index>``). Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    names = list(columns)
    fig, axes = plt.subplots(len(rows), 1 + len(names), squeeze=False,
                             figsize=(1.9 * (1 + len(names)), 2.0 * len(rows)))  # fmt: skip
    cmap = _label_cmap(num_classes)
    for r, index in enumerate(rows):
        axes[r, 0].imshow(images[index].permute(1, 2, 0).clamp(0, 1).numpy())
        name = image_titles[r] if image_titles is not None else f"test image {index}"
        axes[r, 0].set_title(name, fontsize=8)
        for c, name in enumerate(names, start=1):
            values = columns[name][index]
            if values.is_floating_point():
                shown = axes[r, c].imshow(values.numpy(), cmap="magma", vmin=0)
                fig.colorbar(shown, ax=axes[r, c], fraction=0.046, pad=0.02)
            else:
                axes[r, c].imshow(values.numpy(), cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5,
                                  interpolation="nearest")  # fmt: skip
            axes[r, c].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or "segmentations (dark grey = background, colours = object classes)")
    fig.tight_layout()
    return fig


def plot_p0_histograms(p0: dict, title: str | None = None, bins: int = 40):
    """Histograms of the background probability ``p_0`` on object pixels, one per entry of
    ``p0`` (``name -> [M]`` values), on a shared axis; returns the ``Figure``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    edges = torch.linspace(0, 1, bins + 1).numpy()
    for name, values in p0.items():
        ax.hist(
            values.numpy(),
            bins=edges,
            histtype="step",
            linewidth=1.8,
            density=True,
            label=f"{name} (share with p_0 > 0.5: {float((values > 0.5).float().mean()):.1%})",
        )
    ax.set_yscale("log")
    ax.set_xlabel("background probability p_0 on an object pixel")
    ax.set_ylabel("density (log scale)")
    ax.legend(loc="upper center", fontsize=8)
    ax.set_title(title or "How much background does the net see on object pixels?")
    fig.tight_layout()
    return fig


def plot_recall_by_kind(per_seed: dict, kinds=("recall large", "recall thin", "recall small")):
    """Grouped bars: ``per_seed[method][kind] = [value per seed]`` in percent; a bar is the mean
    over seeds and black dots are the seeds themselves (a ± std bar would pass 100 % and hide a
    collapsed seed). Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    methods = list(per_seed)
    fig, ax = plt.subplots(figsize=(9, 4.4))
    width = 0.8 / len(methods)
    for m, method in enumerate(methods):
        for i, kind in enumerate(kinds):
            values = [float(v) for v in per_seed[method][kind]]
            x = i + (m - (len(methods) - 1) / 2) * width
            ax.bar(x, sum(values) / len(values), width, color=_CLASS_COLOURS[1 + m % 6],
                   label=method if i == 0 else None)  # fmt: skip
            ax.scatter([x] * len(values), values, s=9, c="black", zorder=3,
                       label="one seed" if m == i == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(kinds)), [k.replace("recall ", "") + " objects" for k in kinds])
    ax.set_ylabel("recall, % of object pixels\ngiven their class")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    seeds = len(next(iter(per_seed.values()))[kinds[0]])
    ax.set_title(f"Foreground recall by object kind (bars: mean of {seeds} seeds; dots: each seed)")
    fig.tight_layout()
    return fig


def pixel_loss_grid(ws: float, target: int = 1, span: float = 6.0, steps: int = 41):
    """Fused loss ``ws * CE + (1 - ws) * PS`` of one pixel with logits ``(0, s_1, s_2)`` over a
    grid of ``(s_1, s_2)``: returns ``(s1 [S], s2 [S], loss [S, S], grad [S, S, 3])``."""
    from cplus_edu.losses import FusedLoss

    axis = torch.linspace(-span, span, steps, dtype=torch.float64)
    s2, s1 = torch.meshgrid(axis, axis, indexing="ij")
    logits = torch.stack([torch.zeros_like(s1), s1, s2], dim=-1).reshape(-1, 3)
    logits.requires_grad_(True)
    target_t = torch.full((len(logits),), target)
    loss = FusedLoss(ws, 1.0 - ws, reduction="none")(logits, target_t)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    return axis, axis, loss.detach().reshape(steps, steps), grad.reshape(steps, steps, 3)


def plot_pixel_loss(ws: float, pixel=(1.0, 0.2, 0.6), target: int = 1):
    """Left: the fused loss of one object pixel (true class ``target``, background logit 0) over
    its two object logits, with the descent direction. Right: the gradient on each logit of the
    pixel ``pixel`` under this ``ws`` against plain CE (``ws = 1``). Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    from cplus_edu.losses import FusedLoss

    s1, s2, loss, grad = pixel_loss_grid(ws, target)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    shown = left.contourf(s1.numpy(), s2.numpy(), loss.numpy(), levels=20, cmap="viridis")
    fig.colorbar(shown, ax=left, label="per-pixel loss")
    step = 4
    left.quiver(s1[::step].numpy(), s2[::step].numpy(), -grad[::step, ::step, 1].numpy(),
                -grad[::step, ::step, 2].numpy(), color="white", alpha=0.8)  # fmt: skip
    left.set_xlabel(f"s_{target} (logit of the true class)")
    left.set_ylabel(f"s_{3 - target} (logit of the other object class)")
    left.set_title(f"ws = {ws:.2f}, wp = {1 - ws:.2f}: loss and descent (s_0 = 0)", fontsize=10)

    logits = torch.tensor([pixel], dtype=torch.float64)
    bars = {}
    for name, w in ((f"fused, ws = {ws:.2f}", ws), ("softmax CE (ws = 1)", 1.0)):
        x = logits.clone().requires_grad_(True)
        FusedLoss(w, 1.0 - w)(x, torch.tensor([target])).backward()
        bars[name] = x.grad[0]
    positions = torch.arange(3).numpy()
    for offset, (name, g) in zip((-0.2, 0.2), bars.items()):
        right.bar(positions + offset, g.numpy(), 0.4, label=name)
    right.axhline(0, color="black", linewidth=0.8)
    right.set_xticks(positions, ["s_0 (background)", f"s_{target} (true class)",
                                 f"s_{3 - target} (other object)"])  # fmt: skip
    p = torch.softmax(logits[0], 0)
    right.set_title(f"gradient at s = {pixel}, p = ({', '.join(f'{v:.2f}' for v in p)})",
                    fontsize=10)  # fmt: skip
    right.set_ylabel("dL / ds_k")
    right.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
