"""Image grids for region data: images in the first row, region maps or masks in the rows below."""

from __future__ import annotations

import torch


def plot_region_maps(
    images,
    maps=(),
    row_names=(),
    count: int = 6,
    title: str | None = None,
    match_to: int | None = None,
):
    """Show the first `count` `images` `[N, 3, H, W]` and below them each map `[N, H, W]` of
    `maps` (region ids, masks or predictions), one row per map, named by `row_names`.

    Region ids are drawn with a qualitative colour map (ids carry no meaning, only equality
    does; ids 0-9 get ten distinct colours, larger ones repeat them). With `match_to` = the index
    of a map in `maps` (the true regions), every other map's ids are first renamed to the ids of
    that map's regions they overlap most (`cplus_edu.metrics.match_region_ids`), so that a
    segment and the true region it found share a colour. Returns the matplotlib `Figure`.
    """
    import matplotlib.pyplot as plt

    images = torch.as_tensor(images).detach().cpu()
    maps = [torch.as_tensor(m).detach().cpu() for m in maps]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    if len(row_names) != len(maps):
        raise ValueError(f"got {len(maps)} maps but {len(row_names)} row_names")
    count = min(count, len(images))
    if match_to is not None:
        if not 0 <= match_to < len(maps):
            raise ValueError(f"match_to must index one of the {len(maps)} maps, got {match_to}")
        from cplus_edu.metrics.regions import match_region_ids

        reference = maps[match_to][:count].long()
        maps = [
            m if i == match_to else match_region_ids(m[:count].long(), reference)
            for i, m in enumerate(maps)
        ]
    rows = 1 + len(maps)
    fig, axes = plt.subplots(rows, count, figsize=(1.7 * count, 1.8 * rows), squeeze=False)
    for i in range(count):
        image = images[i].permute(1, 2, 0).squeeze(-1).clamp(0, 1).numpy()
        axes[0, i].imshow(image, cmap="gray" if image.ndim == 2 else None)
        axes[0, i].set_title(f"image {i + 1}", fontsize=8)
        for row, (values, name) in enumerate(zip(maps, row_names), start=1):
            axes[row, i].imshow(
                (values[i] % 10).numpy(), cmap="tab10", vmin=0, vmax=9, interpolation="nearest"
            )
            axes[row, i].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title or "images and their regions")
    fig.tight_layout()
    return fig
