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
# # 02 · Open-set background on real data (MNIST)
#
# The C+1 paper's promise is about the background you did **not** train on: if every class of
# interest sits in a small ball of feature space, a brand-new kind of background has little chance
# of landing inside one (Sec. 3.5), so it will still be called background. This chapter tests that
# promise on real images, small enough to run on a laptop CPU in about two minutes.
#
# * **Classes of interest:** the digits 0, 1, 2, 3 (labels 1–4).
# * **Background seen in training:** the digits 4, 5, 6 (label 0).
# * **Background never seen in training:** the digits 7, 8, 9, and Fashion-MNIST clothes.
#
# We train the same small network with plain cross-entropy (CE) and with the C+1 loss
#
# $$L_{C+1} = L_{separability} + \alpha\,L_{compact} + \beta\,L_{background}$$
#
# with each of its three centre types, and measure:
#
# * `coi_acc`: accuracy on test images of the classes of interest (calling one background is
#   wrong);
# * `recall_seen`: share of test images of the *seen* background digits classified as background;
# * `recall_digits`, `recall_fashion`: the same for the *unseen* background (held-out digits,
#   clothes);
# * `auroc_digits`, `auroc_fashion`: AUROC of the softmax background probability, unseen
#   background against classes of interest (does the score rank them, whatever the threshold?);
# * `auroc_dist_digits`, `auroc_dist_fashion`: the same for the distance to the nearest class
#   centre (the paper's geometric argument);
# * `coi_spread`: mean squared distance of class-of-interest features (on the unit sphere) to
#   their class centre — what $L_{compact}$ shrinks.
#
# Then a small ablation in the shape of the paper's Tables 1–4, with the paper's PASCAL VOC numbers
# beside ours, and an honest account of what carries over.

# %% [markdown]
# ## Parameters
# Teaching size: about 40 training runs of a one-hidden-layer MLP on 2,100 images, well under a
# minute of training on a 2-core CPU. Set `PAPER_SCALE = True` for all training images of the seven
# digits, a wider network, a 256-D embedding (the paper's feature size) and more seeds (an hour or
# more on a CPU).

# %%
PAPER_SCALE = False

COI_DIGITS = (0, 1, 2, 3)  # classes of interest -> labels 1..4
BACKGROUND_DIGITS = (4, 5, 6)  # background seen in training -> label 0
UNSEEN_DIGITS = (7, 8, 9)  # background only at test time (with Fashion-MNIST)
N_PER_CLASS = 300  # training images per digit
N_TEST_PER_CLASS = 200  # test images per digit
N_FASHION = 600  # Fashion-MNIST test images (unseen background)
EMBEDDING_DIM = 32  # feature size D the C+1 loss works on
HIDDEN = (128,)
EPOCHS = 6
LR = 2e-3
SEEDS = (0, 1, 2, 3, 4)  # main comparison
ABLATION_SEEDS = (0, 1, 2)  # Tables 1-4
if PAPER_SCALE:
    N_PER_CLASS, N_TEST_PER_CLASS, N_FASHION = 5000, 800, 5000
    EMBEDDING_DIM, HIDDEN, EPOCHS, SEEDS, ABLATION_SEEDS = 256, (512, 256), 20, range(10), range(5)

# %%
import statistics

import matplotlib.pyplot as plt
import torch
from torch import nn

import cplus_edu
from cplus_edu.experiments import (
    OPEN_SET_METRICS,
    PAPER_VOC_MIOU,
    center_distances,
    format_paired,
    format_table,
    make_mnist_open_set,
    paired_differences,
    plot_open_set,
    run_open_set,
    summarize,
)
from cplus_edu.losses import CPlusOneLoss
from cplus_edu.viz import plot_nearest_center_distances

cplus_edu.seed_everything(0)

# %% [markdown]
# ## The data
# One row per group of test images. The unseen background is of two kinds: digits 7–9 are
# *near* the training distribution (a 7 looks a bit like a 1), clothes are *far* from it.

# %%
data = make_mnist_open_set(COI_DIGITS, BACKGROUND_DIGITS, UNSEEN_DIGITS, N_PER_CLASS,
                           N_TEST_PER_CLASS, N_FASHION)  # fmt: skip
groups = {"classes of interest": data.x_test[data.y_test != 0],
          "seen background": data.x_test[data.y_test == 0], **data.unseen}  # fmt: skip
fig, axes = plt.subplots(len(groups), 10, figsize=(9, 4.2))
for row, (name, images) in zip(axes, groups.items()):
    picks = torch.randperm(len(images))[:10]
    for ax, image in zip(row, images[picks]):
        ax.imshow(image[0], cmap="gray")
        ax.axis("off")
    row[0].set_title(f"{name} ({len(images)} test images)", loc="left", fontsize=9)
fig.suptitle("Test images by group (rows 3-4 never appear in training)")
plt.show()
print(f"training set: {len(data.x_train)} images, label counts {data.y_train.bincount().tolist()}")

# %% [markdown]
# ## CE against the C+1 loss with each centre type
# The C+1 loss takes the paper's defaults: $\alpha = 0.1$, $\beta = 10^{-4}$, margin $m_b = 1$ on
# L2-normalised features. `make_loss` receives the model, so the *shared* centres can be its
# classifier's weight rows. Every loss trains the same network from the same initial weights
# with the same batches for a given seed.

# %%
K, D = data.num_classes, EMBEDDING_DIM


def make_model():
    return cplus_edu.MLP(28 * 28, K, embedding_dim=D, hidden=HIDDEN)


main_losses = {
    "CE": lambda model: nn.CrossEntropyLoss(),
    "C+1 moving average": lambda model: CPlusOneLoss(K, D, centers="moving_average"),
    "C+1 learnable": lambda model: CPlusOneLoss(K, D, centers="learnable"),
    "C+1 shared": lambda model: CPlusOneLoss(K, D, centers="shared", classifier=model.head),
}
models = {}
rows = run_open_set(data, main_losses, SEEDS, make_model=make_model, epochs=EPOCHS, lr=LR,
                    keep_models=models)  # fmt: skip
summary = summarize(rows, [*OPEN_SET_METRICS, "coi_spread"])
print(format_table(summary, [*OPEN_SET_METRICS, "coi_spread"]))

# %%
plot_open_set(summary, OPEN_SET_METRICS)
plt.show()

# %% [markdown]
# Means over seeds hide a lot: the seed changes the initial weights and the batch order, and
# that moves every number by a few points. Runs with the **same seed** differ only in the loss,
# so the per-seed difference to CE is the fair comparison.

# %%
metrics = ["coi_acc", "recall_seen", "recall_digits", "recall_fashion", "auroc_digits",
           "auroc_fashion", "coi_spread"]  # fmt: skip
diffs = paired_differences(rows, "CE", metrics)
print(format_paired(diffs, metrics, "CE"))

# %% [markdown]
# What the measurements support at this scale (the asserts below check each one):
#
# 1. Every model learns the task, and the C+1 loss costs no accuracy on the classes of interest.
# 2. With moving-average or learnable centres the classes of interest become about **twice as
#    compact** (`coi_spread` halves on every seed) — $L_{compact}$ does what it says.
#    Shared centres do **not** compact the classes here: the centre is the classifier's weight
#    row, which cross-entropy keeps pulling elsewhere.
# 3. On the *near* unseen background (held-out digits) the moving-average C+1 loss classifies
#    a little more as background than CE, on most seeds (about +2 points).
# 4. On the *far* unseen background (clothes) the C+1 loss does **not** beat CE: the paired
#    difference is within a point, either sign. The softmax background score ranks unseen
#    background no better either (`auroc_*`).

# %%
mean = lambda name, m: statistics.mean(r[m] for r in rows if r["loss"] == name)  # noqa: E731
for name in main_losses:
    assert mean(name, "coi_acc") > 0.9, (name, mean(name, "coi_acc"))
for name in ["C+1 moving average", "C+1 learnable", "C+1 shared"]:
    assert mean(name, "coi_acc") >= mean("CE", "coi_acc") - 0.01, name
    assert abs(statistics.mean(diffs[name]["recall_fashion"])) < 0.015, name
for name in ["C+1 moving average", "C+1 learnable"]:
    assert all(d < 0 for d in diffs[name]["coi_spread"]), name
    assert mean(name, "coi_spread") < 0.7 * mean("CE", "coi_spread"), name
assert mean("C+1 shared", "coi_spread") > 0.8 * mean("CE", "coi_spread")
near = diffs["C+1 moving average"]["recall_digits"]
assert statistics.mean(near) > 0 and sum(d > 0 for d in near) > len(near) / 2, near
print(f"held-out digits, C+1 (moving average) - CE: {[f'{100 * d:+.1f}' for d in near]} points")

# %% [markdown]
# ## Where the samples lie: distance to the nearest class centre
# The paper's argument (Sec. 3.5) is geometric: background should fall *outside* every class
# ball. Below, for seed 0, the distance from each test feature (on the unit sphere) to the
# nearest class centre; the dashed line is the radius $R$ that holds 95 % of the classes of
# interest. C+1 shrinks the class balls ($R$ drops by about a third), but it pulls the unseen
# background in by about as much: the share of clothes inside a class ball stays the same.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
inside = {}
for ax, name in zip(axes, ["CE", "C+1 moving average"]):
    distances = center_distances(models[(SEEDS[0], name)], data)
    radius = torch.quantile(distances["classes of interest"], 0.95).item()
    plot_nearest_center_distances(distances, radius, ax=ax, title=f"{name}, seed {SEEDS[0]}")
    inside[name] = (radius, (distances["Fashion-MNIST"] <= radius).float().mean().item())
plt.show()
for name, (r, share) in inside.items():
    print(f"{name}: R = {r:.2f}, Fashion-MNIST inside a class ball: {100 * share:.1f}%")
assert inside["C+1 moving average"][0] < 0.8 * inside["CE"][0]  # tighter class balls ...
assert abs(inside["C+1 moving average"][1] - inside["CE"][1]) < 0.05  # ... same share of clothes

# %% [markdown]
# ## Ablation in the shape of the paper's Tables 1–4
# Same data, seeds `ABLATION_SEEDS`; each table changes one thing against the default
# (moving-average centres, $\alpha = 0.1$, $\beta = 10^{-4}$). Beside our numbers is the paper's
# mIoU on PASCAL VOC 2012 (DeepLabV3+, ResNet-50, 20K iterations) — a different task and metric,
# so compare the *ranking and the size of the effects*, not the values.

# %%
ablation_losses = {
    "sep + compact (beta=0)": lambda model: CPlusOneLoss(K, D, beta=0.0),
    "alpha=0.01": lambda model: CPlusOneLoss(K, D, alpha=0.01),
    "alpha=1": lambda model: CPlusOneLoss(K, D, alpha=1.0),
    "beta=1e-3": lambda model: CPlusOneLoss(K, D, beta=1e-3),
    "beta=1 (beyond the paper)": lambda model: CPlusOneLoss(K, D, beta=1.0),
}
ablation_rows = run_open_set(data, ablation_losses, ABLATION_SEEDS, make_model=make_model,
                             epochs=EPOCHS, lr=LR)  # fmt: skip
both = [r for r in rows if r["seed"] in ABLATION_SEEDS] + ablation_rows
table_metrics = ["coi_acc", "recall_digits", "recall_fashion", "auroc_fashion", "coi_spread",
                 "term_background"]  # fmt: skip
ours = summarize(both, table_metrics)  # CE has no background term: "-"

# %%
tables = {  # paper row -> our run
    "Table 1 (terms)": {"L_sep (CE)": "CE", "L_sep + L_compact": "sep + compact (beta=0)",
                        "L_C+1 (all three)": "C+1 moving average"},
    "Table 2 (centres)": {"learnable": "C+1 learnable", "moving average": "C+1 moving average",
                          "shared": "C+1 shared"},
    "Table 3 (alpha, beta=1e-4)": {"0.01": "alpha=0.01", "0.1": "C+1 moving average",
                                   "1": "alpha=1"},
    "Table 4 (beta, alpha=0.1)": {"0.001": "beta=1e-3", "0.0001": "C+1 moving average",
                                  "0 (ours)": "sep + compact (beta=0)",
                                  "1 (ours)": "beta=1 (beyond the paper)"},
}  # fmt: skip
for title, mapping in tables.items():
    print(f"\n{title}: mean ± std over seeds {tuple(ABLATION_SEEDS)}, in %")
    rows_here = {paper_row: ours[run] for paper_row, run in mapping.items()}
    print(format_table(rows_here, table_metrics, paper=PAPER_VOC_MIOU[title],
                       paper_heading="paper VOC mIoU"))

# %% [markdown]
# Reading the tables:
#
# * **Table 1 (terms).** Adding $L_{compact}$ halves `coi_spread`; adding $L_{background}$ with
#   $\beta = 10^{-4}$ changes nothing measurable. The paper credits most of its +1.42 mIoU to the
#   background term (+1.10); at our scale, with mean-reduced terms, that weight is far too small
#   to move anything (next cell).
# * **Table 2 (centres).** The paper ranks moving average > shared > learnable, within 0.7 mIoU.
#   Here moving average and learnable centres are close on every metric, and shared centres fail
#   to compact.
# * **Table 3 (alpha).** The paper's $\alpha = 1$ *hurts* VOC by 2.1 mIoU. Here $\alpha = 1$
#   keeps the accuracy, gives the most compact classes, and raises the unseen-background recall
#   over CE on average (per seed below) — the knob that moves open-set behaviour most at this
#   scale, though by a few points only, about the size of the seed-to-seed spread.
# * **Table 4 (beta).** The paper reports a 1.4 mIoU swing between $\beta = 10^{-3}$ and
#   $10^{-4}$. Here $\beta \in \{0, 10^{-4}, 10^{-3}\}$ give the same numbers to a tenth of a
#   per cent; only $\beta = 1$ (10,000 times the paper's value) empties the margin
#   (`term_background` falls several-fold) — and it pays for it in compactness.

# %%
outcomes = table_metrics[:-1]  # every measured outcome (CE has no L_background to compare)
paired = paired_differences(both, "sep + compact (beta=0)", outcomes)
for name in ["C+1 moving average", "beta=1e-3"]:  # beta = 1e-4 and 1e-3 against beta = 0
    worst = max(abs(d) for m in outcomes for d in paired[name][m])
    print(f"{name}: largest per-seed change against beta=0 over all metrics: {100 * worst:.2f} pts")
    assert worst < 0.005, (name, worst)
bg = {name: ours[name]["term_background"][0] for name in
      ["sep + compact (beta=0)", "C+1 moving average", "beta=1 (beyond the paper)"]}  # fmt: skip
print("final L_background per run:", {k: round(v, 4) for k, v in bg.items()})
assert bg["beta=1 (beyond the paper)"] < bg["C+1 moving average"] / 3
spread = [ours[name]["coi_spread"][0] for name in ["alpha=0.01", "C+1 moving average", "alpha=1"]]
assert spread[0] > spread[1] > spread[2], spread  # alpha sets how compact the classes get
assert ours["alpha=1"]["coi_acc"][0] > ours["CE"]["coi_acc"][0] - 0.01
against_ce = paired_differences(both, "CE", ["recall_digits", "recall_fashion"])["alpha=1"]
print("alpha=1 - CE, unseen-background recall per seed (points):",
      {m: [round(100 * d, 1) for d in v] for m, v in against_ce.items()})  # fmt: skip
assert all(statistics.mean(v) > 0 for v in against_ce.values()), against_ce
ma, learnable = ours["C+1 moving average"], ours["C+1 learnable"]
assert abs(ma["coi_acc"][0] - learnable["coi_acc"][0]) < 0.01
assert abs(ma["coi_spread"][0] / learnable["coi_spread"][0] - 1) < 0.25

# %% [markdown]
# ## What carries over from the paper, and what does not
#
# **Carries over.** The loss does what each term says: $L_{compact}$ makes the classes of interest
# compact (about half the spread with moving-average or learnable centres, and $\alpha$ sets how
# much), at no cost in accuracy; a large enough $\beta$ clears the background out of the margin.
# The moving-average C+1 loss calls slightly more of the *near* unseen background (held-out digits)
# background than CE, on most seeds.
#
# **Does not carry over (at this scale).**
# * No gain on *far* unseen background: clothes are classified as background no more often with
#   C+1 than with CE, and the AUROC of the background score does not move. Compact classes alone do
#   not keep novel inputs out of the class balls when the network itself maps the novel inputs
#   close to a class (the histograms above) — the paper's Sec. 3.5 argument assumes a novel
#   sample is a *random* point of feature space, which a trained network's features are not.
# * The paper's sensitivity to $\beta$ between $10^{-5}$ and $10^{-3}$: here the background term
#   at those weights is invisible. Its VOC gains come from 20K iterations of DeepLabV3+ on
#   512×512 images with a 256-D head, where many more background pixels than ours feed the term.
# * The ranking of centre types and the harm of $\alpha = 1$ do not reproduce; the paper's
#   differences (under 1 mIoU for Table 2) are below the resolution of a 3-seed MNIST experiment.
#
# Try `PAPER_SCALE = True`, other digit splits, or an $\alpha$/$\beta$ of your own in
# `ablation_losses`; chapter 01 shows the same three terms at work in 2-D and 3-D.
