# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · CC-loss: channel correlation on MNIST and CIFAR-10
#
# Song, Chang, Ma, Li and Tan (ICPR 2020) add a term to cross-entropy that acts on **channel
# attention**: for every sample, a channel attention module weighs the channels of the last
# conv features; the CC-loss makes the attention vectors of one class alike and those of
# different classes different ("dynamic channel selection for each class", their slides say).
# Only the slides are in our seeds, so the formula is **our reading** of the paper's abstract
# (`cplus_edu/losses/channel_corr.py` states it in full):
#
# $$d_{ij} = \tfrac{1}{C}\|a_i - a_j\|^2,\qquad
# L_{CC} = \underbrace{\operatorname{mean}_{y_i = y_j,\, i \ne j} d_{ij}}_{intra}
# + \operatorname{mean}_{y_i \ne y_j} [\mu - d_{ij}]_+,\qquad L = L_{CE} + \lambda L_{CC}$$
#
# with $a_i$ the attention vector of sample $i$ over the $C$ channels. The attention comes from
# a squeeze-and-excitation (SE) block on the last conv features of a small CNN (the slides' table
# says "VGG16 + CAM"; the class-activation-map variant is `CCLoss(attention="cam")`, one of the
# exercises). The SE block is part of the model for **every** loss, so the CE model has attention
# vectors too (trained by CE alone), and we can compare them.
#
# We train CE, a softmax focal loss ($\gamma = 2$), ArcFace (chapter 08) and CC-loss on the
# same network, several seeds each, on MNIST and on **CIFAR-10** (the slides use CIFAR-100,
# which is not in the offline data here), and put our table beside the slides'.

# %% [markdown]
# ## Parameters
# Teaching size: 200 MNIST and 250 CIFAR-10 training images per class, images halved in
# resolution (MNIST 14x14, CIFAR 16x16) so that a run takes a few seconds on a CPU, a three-block
# CNN of width 8 (32 channels at the end), 3 seeds: 24 runs, about 40 s of CPU time (measured;
# 1.5 minutes of wall time on a busy 2-core machine). `PAPER_SCALE = True` trains on all images at
# full resolution, a wider net and 5 seeds (hours on a CPU).

# %% tags=["parameters"]
PAPER_SCALE = False

MNIST_PER_CLASS, CIFAR_PER_CLASS = 200, 250  # training images per class
TEST_PER_CLASS = 100
DOWNSAMPLE = 2  # average-pool the images by this factor (1: full resolution)
WIDTH = 8  # conv width; the SE block sees 4 * WIDTH channels
MNIST_EPOCHS, CIFAR_EPOCHS = 4, 5
LR = 3e-3
CC_WEIGHT, CC_MARGIN = 1.0, 0.2  # lambda and the hinge margin mu
SEEDS = (0, 1, 2)
if PAPER_SCALE:
    MNIST_PER_CLASS, CIFAR_PER_CLASS, TEST_PER_CLASS = 6000, 5000, 1000
    DOWNSAMPLE, WIDTH, MNIST_EPOCHS, CIFAR_EPOCHS, SEEDS = 1, 32, 10, 30, (0, 1, 2, 3, 4)

# %%
import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import cplus_edu
from cplus_edu.data import load_cifar10, load_mnist
from cplus_edu.experiments import (
    CC_LOSSES,
    class_heatmap,
    class_separation,
    format_runs,
    paired_gain,
    run_losses,
    summarize_runs,
)
from cplus_edu.losses import attention_distances

torch.set_num_threads(1)  # tiny models: one thread is faster than two that wait for each other
cplus_edu.seed_everything(0)


def shrink(x):
    return F.avg_pool2d(x, DOWNSAMPLE) if DOWNSAMPLE > 1 else x


datasets = {}
for name, loader, per_class in [("MNIST", load_mnist, MNIST_PER_CLASS),
                                ("CIFAR-10", load_cifar10, CIFAR_PER_CLASS)]:  # fmt: skip
    x, y = loader("train", n_per_class=per_class)
    xt, yt = loader("test", n_per_class=TEST_PER_CLASS)
    datasets[name] = (shrink(x), y, shrink(xt), yt)
    print(f"{name}: train {list(datasets[name][0].shape)}, test {list(datasets[name][2].shape)}")

# %% [markdown]
# ## Four losses, three seeds, two datasets
# Every loss trains the same network from the same initial weights with the same batches for a
# given seed. Besides the test accuracy we measure what the CC-loss optimises, on the **test**
# set: the mean attention distance between samples of different classes divided by the mean
# distance within a class (`inter/intra`; 1 would mean the attention says nothing about the
# class).

# %%
start = time.perf_counter()
runs = run_losses("MNIST", datasets["MNIST"], CC_LOSSES, SEEDS, epochs=MNIST_EPOCHS, lr=LR,
                  width=WIDTH, cc_weight=CC_WEIGHT, cc_margin=CC_MARGIN)  # fmt: skip
runs += run_losses("CIFAR-10", datasets["CIFAR-10"], CC_LOSSES, SEEDS, epochs=CIFAR_EPOCHS,
                   lr=LR, width=WIDTH, cc_weight=CC_WEIGHT, cc_margin=CC_MARGIN)  # fmt: skip
print(f"{len(runs)} runs in {time.perf_counter() - start:.0f} s\n")
summary = summarize_runs(runs)
print(format_runs(summary, runs))

# %% [markdown]
# What the numbers support at this scale (the asserts check each one):
#
# 1. Every loss learns both tasks (MNIST above 85 %, CIFAR-10 at this tiny size above 30 %,
#    against 10 % for chance).
# 2. The CC-loss does what it says to the attention: on **every seed and both datasets** the
#    test inter/intra ratio of the attention vectors is higher with CC-loss than with CE.
# 3. Accuracy: CC-loss is ahead of CE on every seed of both datasets here (about +1 point on
#    MNIST, +2 on CIFAR-10; the slides report +0.9 on MNIST with VGG16 and +0.85 on CIFAR-100
#    with ResNet18, at full scale). With three seeds and a spread of 1-2 points between seeds
#    this is the slides' direction, not a measurement of its size; and the focal loss gains as
#    much on CIFAR-10 at this size. We assert a positive mean gain, positive on at least two of
#    the three seeds.

# %%
acc = {key: row["accuracy"][0] for key, row in summary.items()}
for (dataset, loss), value in acc.items():
    assert value > (85 if dataset == "MNIST" else 30), (dataset, loss, value)
for dataset in datasets:
    ce = {r.seed: class_separation(r.attention, r.labels)["ratio"]
          for r in runs if r.dataset == dataset and r.loss == "CE"}  # fmt: skip
    cc = {r.seed: class_separation(r.attention, r.labels)["ratio"]
          for r in runs if r.dataset == dataset and r.loss == "CC-loss"}  # fmt: skip
    assert all(cc[s] > ce[s] for s in SEEDS), (dataset, ce, cc)
    gains = paired_gain(runs, dataset, "CC-loss")
    assert statistics.mean(gains) > 0 and sum(g > 0 for g in gains) >= 2, (dataset, gains)
    print(
        f"{dataset}: inter/intra CE {[round(ce[s], 2) for s in SEEDS]}, "
        f"CC {[round(cc[s], 2) for s in SEEDS]}; CC - CE accuracy {[round(g, 1) for g in gains]}"
    )

# %% [markdown]
# ## Class x channel attention heatmaps
# The mean SE attention vector of each class (test set, seed 0), channels ordered by the class
# they respond to most. With CE the attention is nearly the same for every class (vertical
# stripes: the SE block learned one gain per channel for all inputs). With CC-loss the classes
# switch channels on and off differently: the "dynamic channel selection for each class" of the
# slides. On CIFAR-10 it comes out as groups of classes rather than one pattern per class: the
# vehicles (0 airplane, 1 automobile, 8 ship, 9 truck) share one selection, the animals
# another.


# %%
def ordered(heatmap):
    def key(c):
        return int(heatmap[:, c].argmax()), -float(heatmap[:, c].max())

    order = sorted(range(heatmap.shape[1]), key=key)
    return heatmap[:, order]


seed0 = {(r.dataset, r.loss): r for r in runs if r.seed == SEEDS[0]}
fig, axes = plt.subplots(2, 2, figsize=(11, 6.5))
for row, dataset in zip(axes, datasets):
    for ax, loss in zip(row, ("CE", "CC-loss")):
        r = seed0[dataset, loss]
        image = ax.imshow(ordered(class_heatmap(r.attention, r.labels)), aspect="auto",
                          cmap="viridis", vmin=0, vmax=1)  # fmt: skip
        ax.set_title(f"{dataset}, {loss}: mean SE attention per class", fontsize=10)
        ax.set_xlabel("channel of the last conv block (ordered by preferred class)")
        ax.set_ylabel("class")
        ax.set_yticks(range(10))
        fig.colorbar(image, ax=ax, label="attention weight (0-1)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The distance matrices of the abstract
# The abstract builds a Euclidean distance matrix between the samples' attention vectors. Here
# it is on 30 test samples per class, sorted by class, divided by its own mean so that CE and
# CC-loss share a colour scale (the CC-loss's distances are also about ten times larger in
# absolute terms). A block-diagonal structure — dark squares on the diagonal, light elsewhere —
# means "same class, same channels".


# %%
def sorted_distances(r, per_class=30):
    idx = torch.cat([torch.nonzero(r.labels == k).flatten()[:per_class] for k in range(10)])
    d = attention_distances(r.attention[idx].double())
    return d / d.mean()


fig, axes = plt.subplots(2, 2, figsize=(10, 9))
for row, dataset in zip(axes, datasets):
    for ax, loss in zip(row, ("CE", "CC-loss")):
        r = seed0[dataset, loss]
        sep = class_separation(r.attention, r.labels)
        image = ax.imshow(sorted_distances(r), cmap="magma_r", vmin=0, vmax=3)
        ax.set_title(f"{dataset}, {loss}: inter/intra = {sep['ratio']:.2f}", fontsize=10)
        ticks, names = [15 + 30 * k for k in range(10)], [str(k) for k in range(10)]
        ax.set_xticks(ticks, names)
        ax.set_yticks(ticks, names)
        ax.set_xlabel("test sample, grouped by class (30 each)")
        ax.set_ylabel("test sample, grouped by class")
        fig.colorbar(image, ax=ax, label="distance / mean distance")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What we measured vs the paper
# The slides' numbers are full-scale (VGG16 / ResNet18 with CAM, whole datasets, CIFAR-100);
# ours are a 32-channel CNN on a few thousand half-resolution images of MNIST and CIFAR-10 (the
# table above has the means ± std over 3 seeds and the per-seed gains).
#
# - *CC-loss beats CE on MNIST* (slides: 97.43 → 98.32 ± 0.08 with VGG16): ahead on every seed,
#   about +1 point at 93-94 % (asserted: mean gain > 0, positive on 2 of 3 seeds or more):
#   **holds in direction only**.
# - *CC-loss beats CE on CIFAR-100* (slides: 77.38 → 78.23 ± 0.07 with ResNet18): tested on
#   CIFAR-10 instead (CIFAR-100 is not in the offline data), about +2 points at 37-39 %:
#   **holds in direction only**.
# - *Focal and A-softmax sit between CE and CC-loss* (slides): focal is level with CC-loss on
#   CIFAR-10 and ArcFace (standing in for A-softmax, see chapter 08) is level with CE: **does not
#   reproduce at this scale**.
# - *CC-loss makes the attention class-specific* (the abstract's mechanism, no number given):
#   the test inter/intra attention-distance ratio rises over CE on every seed and both datasets
#   (asserted): **holds**.
#
# ## Try this
#
# 1. Switch to the CAM attention: `run_losses(..., losses=("CE", "CC-loss (CAM)"))`. The loss then
#    works on $w_{y} \odot \mathrm{GAP}(A)$ instead of the SE output; compare the heatmaps (look at
#    `class_heatmap` of the CAM vectors) and the accuracy.
# 2. Raise `CC_WEIGHT` to 5 and 20: at what weight does the accuracy start to suffer, while the
#    inter/intra ratio keeps rising? What does that say about how much the attention matters to
#    the classifier?
# 3. Set `DOWNSAMPLE = 1` and `CIFAR_PER_CLASS = 1000` (a few minutes): does a larger CIFAR-10
#    run move CC-loss's gain over CE towards the slides' +0.85 points?
