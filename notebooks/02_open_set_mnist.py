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
# promise on real images, small enough to run on a laptop CPU in two to three minutes.
#
# * **Classes of interest:** four digits (labels 1–4), e.g. 0, 1, 2, 3.
# * **Background seen in training:** three other digits (label 0), e.g. 4, 5, 6.
# * **Background never seen in training:** the three remaining digits (*near* the training
#   data), Fashion-MNIST clothes, and greyscale CIFAR-10 photos shrunk to 28×28 (*far* from it).
#
# We train the same small network with plain cross-entropy (CE) and with the C+1 loss
#
# $$L_{C+1} = L_{separability} + \alpha\,L_{compact} + \beta\,L_{background}$$
#
# and measure on test images:
#
# * `coi_acc`: accuracy on the classes of interest (calling one background is wrong);
# * `recall_seen`, `recall_digits`, `recall_fashion`, `recall_cifar`: share of the seen
#   background and of each unseen background classified as background;
# * `auroc_<set>`: AUROC of the softmax background probability, unseen background against the
#   classes of interest (does the score rank them, whatever the threshold?);
# * `auroc_dist_<set>`: the same for the distance to the nearest class centre (the paper's
#   geometric argument), and `inside_<set>`: share of the unseen background *inside* a class ball;
# * `conf_<set>`, `confident_<set>`: how sure the model is of the digit it names — the mean of the
#   largest class-of-interest probability, and the share of images it gives a digit with p > 0.9;
# * `coi_spread`: mean squared distance of class-of-interest features (on the unit sphere) to
#   their class centre — what $L_{compact}$ shrinks.
#
# One split of the digits is one experiment, not a finding: which digits are background changes
# what the network learns to reject. So after a first look at one split, every claim is measured
# again on **random digit splits**, with runs paired by (seed, split).

# %% [markdown]
# ## Parameters
# Teaching size: about 60 training runs of a one-hidden-layer MLP on 2,100 images, each a second
# or two on a 2-core CPU. `PAPER_SCALE = True` takes all but a few hundred training images of the
# seven digits, a wider network, a 256-D embedding (the paper's feature size), more splits and
# more seeds (hours on a CPU). From the command line:
# `papermill notebooks/02_open_set_mnist.ipynb out.ipynb -p PAPER_SCALE True`.

# %% tags=["parameters"]
PAPER_SCALE = False

COI_DIGITS = (0, 1, 2, 3)  # the first split: classes of interest -> labels 1..4
BACKGROUND_DIGITS = (4, 5, 6)  # background seen in training -> label 0
UNSEEN_DIGITS = (7, 8, 9)  # background only at test time (with Fashion-MNIST and CIFAR-10)
N_PER_CLASS = 300  # training images per digit
N_TEST_PER_CLASS = 200  # test images per digit
N_FASHION = 600  # Fashion-MNIST test images (unseen background)
N_CIFAR = 600  # greyscale CIFAR-10 test images (far unseen background)
EMBEDDING_DIM = 32  # feature size D the C+1 loss works on
HIDDEN = (128,)
EPOCHS = 6
LR = 2e-3
SEEDS = (0, 1, 2)  # the first split: centre types and Tables 1-4
SPLIT_SEEDS = (0, 1, 2, 3)  # random digit splits (draw_digit_split)
SPLIT_RUN_SEEDS = (0, 1, 2)  # training seeds on each random split

# %%
if PAPER_SCALE:
    N_PER_CLASS, N_TEST_PER_CLASS, N_FASHION, N_CIFAR = 5000, 800, 5000, 5000
    EMBEDDING_DIM, HIDDEN, EPOCHS = 256, (512, 256), 20
    SEEDS, SPLIT_SEEDS, SPLIT_RUN_SEEDS = range(5), range(10), range(5)

# %%
import statistics

import matplotlib.pyplot as plt
import torch
from torch import nn

import cplus_edu
from cplus_edu.experiments import (
    CIFAR10_CLASSES,
    CONFIDENCE_METRICS,
    INSIDE_METRICS,
    OPEN_SET_METRICS,
    PAPER_VOC_MIOU,
    center_distances,
    class_predictions,
    coi_confidence,
    draw_digit_split,
    format_paired,
    format_table,
    make_mnist_open_set,
    paired_differences,
    plot_confidence_histogram,
    plot_confident_gallery,
    plot_open_set,
    plot_paired_differences,
    run_open_set,
    run_split_study,
    summarize,
)
from cplus_edu.losses import CPlusOneLoss
from cplus_edu.viz import plot_nearest_center_distances

cplus_edu.seed_everything(0)

# %% [markdown]
# ## The data
# One row per group of test images of the first split. The unseen background is of three kinds:
# digits 7–9 are *near* the training distribution (a 7 looks a bit like a 1), clothes are
# further, and photos (grey, shrunk, not inverted: a mid-grey scene, not a light stroke on black)
# are *far* from anything the network saw.

# %%
data_kwargs = dict(n_per_class=N_PER_CLASS, n_test_per_class=N_TEST_PER_CLASS,
                   n_fashion=N_FASHION, n_cifar=N_CIFAR)  # fmt: skip
data = make_mnist_open_set(COI_DIGITS, BACKGROUND_DIGITS, UNSEEN_DIGITS, **data_kwargs)
groups = {"classes of interest": data.x_test[data.y_test != 0],
          "seen background": data.x_test[data.y_test == 0], **data.unseen}  # fmt: skip
fig, axes = plt.subplots(len(groups), 10, figsize=(9, 5.2))
for row, (name, images) in zip(axes, groups.items()):
    picks = torch.randperm(len(images))[:10]
    for ax, image in zip(row, images[picks]):
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    row[0].set_title(f"{name} ({len(images)} test images)", loc="left", fontsize=9)
fig.suptitle("Test images by group (rows 3-5 never appear in training)")
plt.show()
print(f"training set: {len(data.x_train)} images, label counts {data.y_train.bincount().tolist()}")

# %% [markdown]
# ## One split: CE against the C+1 loss with each centre type
# On the first split, seeds `SEEDS`: CE, the C+1 loss at the paper's weights ($\alpha = 0.1$,
# $\beta = 10^{-4}$) with each of its three centre types, and the variants the ablation below
# needs (all trained here, in one go).

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
ablation_losses = {
    "sep + compact (beta=0)": lambda model: CPlusOneLoss(K, D, beta=0.0),
    "alpha=0.01": lambda model: CPlusOneLoss(K, D, alpha=0.01),
    "alpha=1": lambda model: CPlusOneLoss(K, D, alpha=1.0),
    "beta=1e-3": lambda model: CPlusOneLoss(K, D, beta=1e-3),
    "beta=1 (beyond the paper)": lambda model: CPlusOneLoss(K, D, beta=1.0),
}
models = {}
rows = run_open_set(data, {**main_losses, **ablation_losses}, SEEDS, make_model=make_model,
                    epochs=EPOCHS, lr=LR, keep_models=models)  # fmt: skip
main_rows = [r for r in rows if r["loss"] in main_losses]
summary = summarize(main_rows, [*OPEN_SET_METRICS, "coi_spread"])
print(format_table(summary, [*OPEN_SET_METRICS, "coi_spread"]))

# %%
plot_open_set(summary, OPEN_SET_METRICS, title=f"First split, mean ± std over seeds {SEEDS}")
plt.show()

# %% [markdown]
# Means over seeds hide a lot: the seed changes the initial weights and the batch order, and
# that moves every number by a few points. Runs with the **same seed** differ only in the loss,
# so the per-seed difference to CE is the fair comparison.

# %%
metrics = ["coi_acc", "recall_seen", "recall_digits", "recall_fashion", "recall_cifar",
           "auroc_digits", "auroc_cifar", "coi_spread"]  # fmt: skip
diffs = paired_differences(main_rows, "CE", metrics)
print(format_paired(diffs, metrics, "CE"))

# %% [markdown]
# What this one split supports (the asserts below check each one):
#
# 1. Every model learns the task, and the C+1 loss costs no accuracy on the classes of interest
#    (within a point).
# 2. With moving-average or learnable centres the classes of interest become about **twice as
#    compact** (`coi_spread` drops on every seed) — $L_{compact}$ does what it says.
#    Shared centres do **not** compact the classes here: the centre is the classifier's weight
#    row, which cross-entropy keeps pulling elsewhere.
#
# What it does *not* settle: whether C+1 calls more unseen background background. The paired
# differences in the `recall_*` columns are within two or three points. The moving-average loss
# is up on the held-out digits on all three seeds (about +1.4 points) — exactly the kind of
# result that reads like a finding on one split. The next section asks the question on others.

# %%
mean = lambda name, m: statistics.mean(r[m] for r in main_rows if r["loss"] == name)  # noqa: E731
for name in main_losses:
    assert mean(name, "coi_acc") > 0.9, (name, mean(name, "coi_acc"))
for name in ["C+1 moving average", "C+1 learnable", "C+1 shared"]:
    assert mean(name, "coi_acc") >= mean("CE", "coi_acc") - 0.01, name
for name in ["C+1 moving average", "C+1 learnable"]:
    assert all(d < 0 for d in diffs[name]["coi_spread"]), name
    assert mean(name, "coi_spread") < 0.7 * mean("CE", "coi_spread"), name
assert mean("C+1 shared", "coi_spread") > 0.8 * mean("CE", "coi_spread")
recalls = ["recall_digits", "recall_fashion", "recall_cifar"]
small = {(n, m): statistics.mean(diffs[n][m]) for n in diffs for m in recalls}
print("first split, mean paired change in recall (points):",
      {k: round(100 * v, 1) for k, v in small.items()})  # fmt: skip
assert all(abs(v) < 0.03 for v in small.values()), small

# %% [markdown]
# ## Does it hold on other digit splits?
# `draw_digit_split(s)` shuffles the ten digits with seed `s`: the first four are the classes of
# interest, the next three the seen background, the last three the held-out digits. On each split
# we train, with seeds `SPLIT_RUN_SEEDS`, three losses:
#
# * **CE**;
# * **C+1 (paper)**: moving-average centres, $\alpha = 0.1$, $\beta = 10^{-4}$ (the paper's best
#   VOC setting);
# * **C+1 alpha=1 beta=1**: the same loss with a strong centre term and a background margin that
#   actually weighs in (the ablation below shows $\beta = 10^{-4}$ does nothing measurable here).
#
# A *pair* is two runs on the same split with the same seed: same images, same initial weights,
# same batch order — only the loss differs.

# %%
for s in SPLIT_SEEDS:
    print(f"split {s}: {draw_digit_split(s)}")
study_losses = {
    "CE": lambda model: nn.CrossEntropyLoss(),
    "C+1 (paper)": lambda model: CPlusOneLoss(K, D, centers="moving_average"),
    "C+1 alpha=1 beta=1": lambda model: CPlusOneLoss(K, D, alpha=1.0, beta=1.0),
}
split_models = {}
split_rows = run_split_study(SPLIT_SEEDS, study_losses, SPLIT_RUN_SEEDS, data_kwargs=data_kwargs,
                             make_model=make_model, epochs=EPOCHS, lr=LR,
                             keep_models=split_models)  # fmt: skip
n_pairs = len(SPLIT_SEEDS) * len(SPLIT_RUN_SEEDS)
study_metrics = ["coi_acc", "recall_digits", "recall_fashion", "recall_cifar", "auroc_digits",
                 "auroc_fashion", "auroc_cifar", "auroc_dist_digits", "auroc_dist_cifar",
                 "coi_spread"]  # fmt: skip
print(f"\nmean ± std over {n_pairs} runs (splits x seeds), in %")
print(format_table(summarize(split_rows, study_metrics), study_metrics))
split_diffs = paired_differences(split_rows, "CE", study_metrics, pair_on=("seed", "split"))
print(f"\npaired by (seed, split): mean difference to CE in points (pairs up of {n_pairs})")
print(format_paired(split_diffs, study_metrics, "CE"))

# %%
shown = ["coi_acc", "recall_digits", "recall_fashion", "recall_cifar", "auroc_cifar",
         "auroc_dist_digits", "auroc_dist_cifar"]  # fmt: skip
plot_paired_differences(split_diffs, shown, "CE")
plt.show()

# %% [markdown]
# What the random splits support (asserted below, numbers printed):
#
# 1. **The C+1 loss at the paper's weights makes no reliable difference to what is called
#    background.** On the held-out digits its paired gain over CE averages under two points and
#    some pairs go down; on clothes and photos the pairs scatter both ways. The "+2 points on
#    held-out digits" one split seemed to show is within the noise of a split.
#    It does compact the classes (`coi_spread` lower on every pair) and nudges the distance score
#    on photos up by a point or two.
# 2. **With $\alpha = 1$, $\beta = 1$ it does.** Photos are called background much more often
#    (on every pair, by about twenty points on average), clothes more often on nearly every
#    pair, and the distance score ranks every unseen set better on nearly every pair. The gain on
#    the *near* background (held-out digits) is smaller and not on every pair.
# 3. Neither costs more than about a point of accuracy on the classes of interest.
# 4. The spread **between splits** is larger than any effect of the loss: `recall_cifar` under CE
#    ranges from about a third to nearly all photos, depending on which digits were the
#    background (per-split table in the next section).

# %%
paper_d, strong_d = split_diffs["C+1 (paper)"], split_diffs["C+1 alpha=1 beta=1"]
up = lambda values: sum(v > 0 for v in values)  # noqa: E731
avg = statistics.mean
print(f"C+1 (paper) - CE, held-out digits: {avg(paper_d['recall_digits']) * 100:+.1f} points, "
      f"{up(paper_d['recall_digits'])}/{n_pairs} pairs up")  # fmt: skip
assert abs(avg(paper_d["recall_digits"])) < 0.02 and up(paper_d["recall_digits"]) < n_pairs
for m in ["recall_fashion", "recall_cifar"]:
    assert 0 < up(paper_d[m]) < n_pairs, (m, paper_d[m])  # both signs occur
assert up([-d for d in paper_d["coi_spread"]]) == n_pairs
assert 0 < avg(paper_d["auroc_dist_cifar"]) < 0.03
print(f"C+1 alpha=1 beta=1 - CE, photos: {avg(strong_d['recall_cifar']) * 100:+.1f} points, "
      f"{up(strong_d['recall_cifar'])}/{n_pairs} up; clothes: "
      f"{avg(strong_d['recall_fashion']) * 100:+.1f}, {up(strong_d['recall_fashion'])}/{n_pairs}"
      f" up; held-out digits: {avg(strong_d['recall_digits']) * 100:+.1f}, "
      f"{up(strong_d['recall_digits'])}/{n_pairs} up")  # fmt: skip
assert up(strong_d["recall_cifar"]) == n_pairs and avg(strong_d["recall_cifar"]) > 0.1
assert up(strong_d["recall_fashion"]) >= n_pairs - 2 and avg(strong_d["recall_fashion"]) > 0.03
assert avg(strong_d["recall_digits"]) > 0 and up(strong_d["recall_digits"]) < n_pairs
assert avg(strong_d["recall_digits"]) < avg(strong_d["recall_fashion"])
for m in ["auroc_dist_digits", "auroc_dist_cifar"]:
    assert up(strong_d[m]) >= n_pairs - 2 and avg(strong_d[m]) > 0.02, (m, strong_d[m])
for d in [paper_d, strong_d]:
    assert avg(d["coi_acc"]) > -0.01, d["coi_acc"]

# %% [markdown]
# ## Far from the digits: confident answers for photos
# A photo of a truck is no digit, and a good open-set model would call it background — or at
# least not name a digit with confidence. Below, for every loss, how sure the model is of the
# digit it names (`conf_*`: mean largest class-of-interest probability; `confident_*`: share
# given a digit with p > 0.9), for the class-of-interest test digits and each unseen set.

# %%
print(f"mean ± std over {n_pairs} runs, in %")
print(format_table(summarize(split_rows, CONFIDENCE_METRICS), CONFIDENCE_METRICS))
ce_rows = [r for r in split_rows if r["loss"] == "CE"]
per_split = summarize(ce_rows, ["recall_cifar", "auroc_cifar", "confident_cifar", "conf_cifar"],
                      by="split")  # fmt: skip
print(f"\nCE, per split (mean ± std over seeds {SPLIT_RUN_SEEDS}), in %")
print(format_table({f"{s}: {draw_digit_split(s)}": v for s, v in per_split.items()},
                   ["recall_cifar", "auroc_cifar", "confident_cifar", "conf_cifar"],
                   first_heading="split"))  # fmt: skip

# %% [markdown]
# The failure is real but split-dependent. On some splits CE names a digit with more than 90 %
# confidence for a large share of the photos; on others almost none. Here is the CE run (among
# the (split, seed) runs above) with the largest share, and 24 photos drawn at random from its
# test set, each with the digit the model names and its probability (red: the model predicts
# that digit; grey: it says background).

# %%
worst = max(ce_rows, key=lambda r: r["confident_cifar"])
worst_model = split_models[(worst["split"], worst["seed"], "CE")]
split = worst["digits"]
photos = data.unseen["CIFAR-10 (grey)"]
names = [CIFAR10_CLASSES[c] for c in data.unseen_labels["CIFAR-10 (grey)"].tolist()]
picks = torch.randperm(len(photos), generator=torch.Generator().manual_seed(0))[:24]
digit, prob, predicted = class_predictions(worst_model, photos[picks], split.coi)
title = (f"CE, split {worst['split']} ({split}), seed {worst['seed']}: "
         f"{100 * worst['confident_cifar']:.0f}% of photos get a digit at p > 0.9")  # fmt: skip
plot_confident_gallery(photos[picks], digit, prob, predicted, [names[i] for i in picks],
                       title=title)  # fmt: skip
plt.show()

# %% [markdown]
# And the whole distribution for that split and seed: the largest class-of-interest probability
# for the class-of-interest test digits (which *should* be high) and for the photos and clothes
# (which should be low), under CE and under the C+1 loss with $\alpha = 1$, $\beta = 1$.

# %%
split_data = make_mnist_open_set(split.coi, split.seen, split.unseen, **data_kwargs)
fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), sharey=True)
confidence_shares = {}
for ax, name in zip(axes, ["CE", "C+1 alpha=1 beta=1"]):
    model = split_models[(worst["split"], worst["seed"], name)]
    confidences = {"class-of-interest test digits": split_data.x_test[split_data.y_test != 0],
                   "CIFAR-10 (grey)": split_data.unseen["CIFAR-10 (grey)"],
                   "Fashion-MNIST": split_data.unseen["Fashion-MNIST"]}  # fmt: skip
    confidences = {k: coi_confidence(cplus_edu.predict(model, x)[1])
                   for k, x in confidences.items()}  # fmt: skip
    confidence_shares[name] = {k: (v > 0.9).float().mean().item() for k, v in confidences.items()}
    plot_confidence_histogram(confidences, ax=ax, title=f"{name}, split {worst['split']}, seed "
                              f"{worst['seed']}")  # fmt: skip
plt.show()
for name, shares in confidence_shares.items():
    print(name, "share with p > 0.9:", {k: f"{100 * v:.1f}%" for k, v in shares.items()})

# %% [markdown]
# What this shows (asserted below):
#
# * Under CE a **large share of photos gets a digit with p > 0.9** on the worst split (about
#   half, printed above: horses, deer and trucks called "3" at 100 %), and on average over all
#   runs about one photo in eight. On the class-of-interest digits themselves the same model is
#   that sure of about 85 %: on this split, confidence barely tells a photo from a digit.
#   A softmax classifier's confidence is not a novelty detector: nothing in training tells it
#   what to say about inputs unlike any training image.
# * Yet the *ranking* is better than the confident mistakes suggest: the AUROC of the background
#   probability on photos stays well above 50 % on every run (the photos are, on average, less
#   sure than the digits); the failure is a heavy tail of confident mistakes, not a reversed
#   score. (Other conversions — inverted photos, other models — can push it below 50 %; try it.)
# * The C+1 loss at the paper's weights leaves the confident share where CE has it (within a
#   point on average); with $\alpha = 1$, $\beta = 1$ it drops by about ten points on average,
#   on every pair where CE had any, but does not reach zero on the worst split.

# %%
strong_conf = paired_differences(split_rows, "CE", ["confident_cifar"],
                                 pair_on=("seed", "split"))  # fmt: skip
paper_conf, strong_conf = (strong_conf[n]["confident_cifar"] for n in
                           ["C+1 (paper)", "C+1 alpha=1 beta=1"])  # fmt: skip
ce_confident = [r["confident_cifar"] for r in ce_rows]
auroc_cifar = [r["auroc_cifar"] for r in split_rows]
print(f"CE, photos given a digit at p > 0.9: worst run {100 * max(ce_confident):.1f}%, mean "
      f"{100 * avg(ce_confident):.1f}%; AUROC of p(background) on photos, all runs: "
      f"{100 * min(auroc_cifar):.1f}% to {100 * max(auroc_cifar):.1f}%")  # fmt: skip
down = lambda values: sum(v < 0 for v in values)  # noqa: E731
print(f"confident share, C+1 (paper) - CE: {100 * avg(paper_conf):+.1f} points "
      f"({down(paper_conf)}/{n_pairs} down); C+1 alpha=1 beta=1 - CE: "
      f"{100 * avg(strong_conf):+.1f} ({down(strong_conf)}/{n_pairs} down)")  # fmt: skip
assert max(ce_confident) > 0.2 and avg(ce_confident) > 0.05
assert min(auroc_cifar) > 0.6  # the score still ranks photos above digits
assert abs(avg(paper_conf)) < 0.02
assert all(d <= 0 for d in strong_conf) and avg(strong_conf) < -0.05
assert confidence_shares["C+1 alpha=1 beta=1"]["CIFAR-10 (grey)"] > 0.01
assert confidence_shares["CE"]["class-of-interest test digits"] > 0.5  # digits are sure, too

# %% [markdown]
# ## Where the samples lie: distance to the nearest class centre
# The paper's argument (Sec. 3.5) is geometric: background should fall *outside* every class
# ball, so that a random novel sample is almost never inside one. Below, for the first split and
# seed 0, the distance from each test feature (on the unit sphere) to the nearest class centre;
# the dashed line is the radius $R$ that holds 95 % of the classes of interest, and the legend
# gives the share of each group inside it. Then the same share (`inside_*`) over all random
# splits.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
for ax, name in zip(axes, ["CE", "C+1 moving average"]):
    distances = center_distances(models[(SEEDS[0], name)], data)
    radius = torch.quantile(distances["classes of interest"], 0.95).item()
    plot_nearest_center_distances(distances, radius, ax=ax, title=f"{name}, first split, "
                                  f"seed {SEEDS[0]}")  # fmt: skip
plt.show()
print(f"share of each unseen set inside a class ball, mean ± std over {n_pairs} runs, in %")
print(format_table(summarize(split_rows, INSIDE_METRICS), INSIDE_METRICS))
inside_d = paired_differences(split_rows, "CE", INSIDE_METRICS, pair_on=("seed", "split"))
print(format_paired(inside_d, INSIDE_METRICS, "CE"))

# %% [markdown]
# Reading it: under every loss a large share of the unseen background — most of all the *near*
# one, the held-out digits, about half of them — lies inside a class ball, far from the paper's
# "almost impossible". (On the first split the photos are mostly outside; on other splits
# almost half of them are inside under CE.)
# The paper's Sec. 3.5 treats a novel sample as a *random* point of feature space; a trained
# network maps a 7 close to the 1s it has learned, not to a random point. C+1 shrinks the balls
# and pulls fewer unseen images inside them — at the paper's weights mostly photos (about 16
# points fewer, but up on a quarter of the pairs), with $\alpha = 1$, $\beta = 1$ on every pair
# for clothes and photos and most pairs for digits; it empties the balls of photos far more
# than of digits — the direction the paper argues, at a size that depends on how far the novel
# inputs are.

# %%
summary_inside = summarize(split_rows, INSIDE_METRICS)
for name in study_losses:
    assert summary_inside[name]["inside_digits"][0] > 0.2, name  # many held-out digits inside
strong_inside = inside_d["C+1 alpha=1 beta=1"]
assert all(avg(strong_inside[m]) < 0 for m in INSIDE_METRICS), strong_inside
assert avg(strong_inside["inside_cifar"]) < avg(strong_inside["inside_digits"])
assert all(d < 0 for d in strong_inside["inside_fashion"] + strong_inside["inside_cifar"])
paper_inside = inside_d["C+1 (paper)"]["inside_cifar"]
assert avg(paper_inside) < -0.05 and 0 < up(paper_inside) < n_pairs / 2

# %% [markdown]
# ## Ablation in the shape of the paper's Tables 1–4
# First split, seeds `SEEDS`; each table changes one thing against the default
# (moving-average centres, $\alpha = 0.1$, $\beta = 10^{-4}$). Beside our numbers is the paper's
# mIoU on PASCAL VOC 2012 (DeepLabV3+, ResNet-50, 20K iterations) — a different task and metric,
# so compare the *ranking and the size of the effects*, not the values.

# %%
table_metrics = ["coi_acc", "recall_digits", "recall_fashion", "auroc_fashion", "coi_spread",
                 "term_background"]  # fmt: skip
ours = summarize(rows, table_metrics)  # CE has no background term: "-"
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
    print(f"\n{title}: mean ± std over seeds {tuple(SEEDS)}, in %")
    rows_here = {paper_row: ours[run] for paper_row, run in mapping.items()}
    print(format_table(rows_here, table_metrics, paper=PAPER_VOC_MIOU[title],
                       paper_heading="paper VOC mIoU"))  # fmt: skip

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
#   keeps the accuracy and gives the most compact classes.
# * **Table 4 (beta).** The paper reports a 1.4 mIoU swing between $\beta = 10^{-3}$ and
#   $10^{-4}$. Here $\beta \in \{0, 10^{-4}, 10^{-3}\}$ give the same numbers to a tenth of a
#   per cent; only $\beta = 1$ (10,000 times the paper's value) empties the margin
#   (`term_background` falls several-fold).

# %%
outcomes = table_metrics[:-1]  # every measured outcome (CE has no L_background to compare)
paired = paired_differences(rows, "sep + compact (beta=0)", outcomes)
for name in ["C+1 moving average", "beta=1e-3"]:  # beta = 1e-4 and 1e-3 against beta = 0
    worst_change = max(abs(d) for m in outcomes for d in paired[name][m])
    print(f"{name}: largest per-seed change against beta=0 over all metrics: "
          f"{100 * worst_change:.2f} pts")  # fmt: skip
    assert worst_change < 0.005, (name, worst_change)
bg = {name: ours[name]["term_background"][0] for name in
      ["sep + compact (beta=0)", "C+1 moving average", "beta=1 (beyond the paper)"]}  # fmt: skip
print("final L_background per run:", {k: round(v, 4) for k, v in bg.items()})
assert bg["beta=1 (beyond the paper)"] < bg["C+1 moving average"] / 3
spread = [ours[name]["coi_spread"][0] for name in ["alpha=0.01", "C+1 moving average", "alpha=1"]]
assert spread[0] > spread[1] > spread[2], spread  # alpha sets how compact the classes get
assert ours["alpha=1"]["coi_acc"][0] > ours["CE"]["coi_acc"][0] - 0.01
ma, learnable = ours["C+1 moving average"], ours["C+1 learnable"]
assert abs(ma["coi_acc"][0] - learnable["coi_acc"][0]) < 0.01
assert abs(ma["coi_spread"][0] / learnable["coi_spread"][0] - 1) < 0.25

# %% [markdown]
# ## What we measured vs the paper
#
# Numbers at teaching size, 12 (split, seed) pairs; the cell below prints each from this run and
# asserts its verdict.
#
# * **C+1 at the paper's weights separates the background better than CE** (paper: +1.42 mIoU
#   on VOC, Table 1). Ours: recall of held-out digits / clothes / photos +0.7 (9/12 pairs up),
#   +1.1 (6/12), +1.3 (4/12) points. **Does not reproduce at this scale.**
# * **The same with $\alpha = 1$, $\beta = 1$** (beyond the paper, whose Table 3 has $\alpha = 1$
#   *hurting*). Ours: +3.4 (9/12), +8.4 (11/12), +21.2 (12/12) points; distance-score AUROC up
#   on 11–12 of 12 pairs; accuracy −0.3 points. **Holds in direction only**, with weights far
#   from the paper's, and least on the near background.
# * **$L_{compact}$ makes the classes of interest compact** (the loss's design). Ours:
#   `coi_spread` about halved on every pair (moving-average and learnable centres); shared
#   centres do not compact. **Holds** (not for shared centres).
# * **Sec. 3.5: unseen background falls outside the class balls** ($p \approx 1$ for a random
#   sample). Ours: about half of the held-out digits inside a class ball under every loss
#   (57 % CE, 53 % paper's weights, 43 % $\alpha = \beta = 1$); photos 46 % → 30 % → 10 %.
#   **Does not reproduce at this scale** (the direction holds, mostly for far inputs).
# * **Not in the paper: far inputs get confident class predictions.** CE gives a digit at
#   p > 0.9 to 12 ± 15 % of the photos (about half on the worst split), while the
#   background-probability AUROC on photos stays between about 80 and 100 %. The paper's
#   weights do not change it; $\alpha = \beta = 1$ cuts it to about 2 %.
# * **Tables 1–4** (centre types, $\alpha$, $\beta$; 0.4–2.1 mIoU differences on VOC): on MNIST
#   $\beta \le 10^{-3}$ is invisible, $\alpha = 1$ does not hurt, moving average ≈ learnable —
#   the rankings do not reproduce at this scale; VOC scale is chapter 10's.

# %%
study = summarize(split_rows, ["recall_cifar", "confident_cifar", *INSIDE_METRICS])
print("recall (points, pairs up):", {m: (round(100 * avg(d[m]), 1), up(d[m]))
      for d in [paper_d, strong_d] for m in recalls})  # fmt: skip
print("inside a class ball (%):", {n: {m: round(100 * v[m][0]) for m in INSIDE_METRICS}
                                   for n, v in study.items()})  # fmt: skip
for name in ["CE", "C+1 alpha=1 beta=1"]:
    m, sd = study[name]["confident_cifar"]
    print(f"{name}: photos given a digit at p > 0.9: {100 * m:.0f} ± {100 * sd:.0f} %")
assert all(abs(avg(paper_d[m])) < 0.02 and up(paper_d[m]) < n_pairs for m in recalls)
assert all(avg(strong_d[m]) > 0 for m in recalls) and up(strong_d["recall_cifar"]) == n_pairs
assert all(study[n]["inside_digits"][0] > 0.35 for n in study)  # "about half" inside

# %% [markdown]
# ## Try this
#
# 1. **Invert the photos.** In the gallery cell, set `photos = 1 - photos` (dark scenes with
#    light edges, closer to a digit's light stroke on black) and compare
#    `(coi_confidence(cplus_edu.predict(worst_model, photos)[1]) > 0.9).float().mean()` with the
#    share above, and `background_auroc` (from `cplus_edu.metrics`) of the background score on
#    photos against the digits. Look at whether it falls towards or below 50 %: how "far" an
#    input is depends on the network's view of it, not ours.
# 2. **Add photos to the seen background.** Put a few hundred greyscale CIFAR-10 *training*
#    images (`cplus_edu.data.load_cifar10_gray("train", ...)`) into `x_train` with label 0.
#    Look at `confident_fashion`: does a little far background in training also fix the *other*
#    far set, or only the photos?
# 3. **More splits, fewer seeds.** Set `SPLIT_SEEDS = range(12)` and `SPLIT_RUN_SEEDS = (0,)`:
#    the same 12 pairs, now one per split. Look at how the "k of n pairs up" counts and the
#    spread of `recall_cifar` change: which moves the numbers more, the seed or the split?
