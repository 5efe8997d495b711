# ---
# jupyter:
#   jupytext:
#     formats: ipynb,scripts//py:percent
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
# promise on real images, small enough to run on a laptop CPU (the run time is below).
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

# %% [markdown] tags=["before-you-start"]
# ## Before you start
#
# **You will be able to**
# * set up an open-set test on real images: classes of interest, background seen in training, and
#   three kinds of background never seen (held-out digits, clothes, photos);
# * measure background recall, the AUROC of a background score, and the share of unseen
#   background inside a class ball;
# * compare cross-entropy and the C+1 loss over random digit splits, with runs paired by seed and
#   split, and put the paper's Tables 1-4 beside ours;
# * explain the far-OOD failure: photos that a digit classifier names with high confidence.
#
# **Prerequisites.** Chapters 00 and 01 (the C+1 loss, its centres and weights, the course's
# verdict rule); chapter 03 helps with the "inside a class ball" measurements but is not needed.
# Receiver operating characteristic (ROC) curves and the area under them. MNIST, Fashion-MNIST and
# CIFAR-10 are cited in [REFERENCES.md](../REFERENCES.md); the glossary,
# [GLOSSARY.md](../GLOSSARY.md), defines *unseen background* and *paired difference*.
#
# **Run time.** About a minute on a 2-core laptop CPU at teaching size; the last cell prints how
# long this run took.

# %%
from cplus_edu.utils import Stopwatch

stopwatch = Stopwatch()  # the last cell prints the chapter's run time

# %% [markdown]
# ## Parameters
# Two scales, one recipe (`cplus_edu/experiments/open_set.py`):
#
# * **teaching** (this notebook's live run): about 60 training runs of a one-hidden-layer MLP on
#   2,100 images, each a second or two on a 2-core CPU; four random digit splits.
# * **reference** (stored in `results/02_open_set_mnist.json`, shown beside the live run below):
#   every training image of the seven digits (about 42,000), every test image of the unseen
#   sets, a two-hidden-layer MLP, **ten other random digit splits** with two training seeds
#   each, and each loss's learning rate picked from the same small grid on held-out training
#   images. Made once
#   with `python -m cplus_edu.experiments run 02_open_set_mnist --scale reference`; the ledger's
#   verdicts on CE against C+1 come from it.
#
# `SCALE = "reference"` (e.g. `papermill ... -p SCALE reference`) runs this notebook live with
# the reference parameters: far slower, and it only repeats what the stored results hold.

# %% tags=["parameters"]
SCALE = "teaching"  # "teaching" | "reference"

# %%
from cplus_edu.experiments.reference import scale_params

P = scale_params("02_open_set_mnist", SCALE)
COI_DIGITS = tuple(P["coi_digits"])  # the first split: classes of interest -> labels 1..4
BACKGROUND_DIGITS = tuple(P["background_digits"])  # background seen in training -> label 0
UNSEEN_DIGITS = tuple(P["unseen_digits"])  # background only at test time (+ clothes, photos)
N_PER_CLASS = P["n_per_class"]  # training images per digit (None: all)
N_TEST_PER_CLASS = P["n_test_per_class"]  # test images per digit (None: all)
N_FASHION = P["n_fashion"]  # Fashion-MNIST test images (unseen background)
N_CIFAR = P["n_cifar"]  # greyscale CIFAR-10 test images (far unseen background)
EMBEDDING_DIM = P["embedding_dim"]  # feature size D the C+1 loss works on
HIDDEN = tuple(P["hidden"])
EPOCHS = P["epochs"]
LR = P["lr"]  # learning rate of each split-study loss (the first split trains at CE's)
SEEDS = tuple(P["seeds"])  # the first split: centre types and Tables 1-4
SPLIT_SEEDS = tuple(P["split_seeds"])  # random digit splits (draw_digit_split)
SPLIT_RUN_SEEDS = tuple(P["split_run_seeds"])  # training seeds on each random split

# %%
import statistics

import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch import nn

import cplus_edu
from cplus_edu.experiments import (
    CIFAR10_CLASSES,
    CONFIDENCE_METRICS,
    INSIDE_METRICS,
    OPEN_SET_METRICS,
    PAPER_VOC_MIOU,
    STUDY_LOSSES,
    Claim,
    center_distances,
    check_ledger,
    claims_markdown,
    class_predictions,
    coi_confidence,
    draw_digit_split,
    format_table,
    make_mnist_open_set,
    metric_table,
    paired_differences,
    paired_table,
    paired_verdict,
    plot_confidence_histogram,
    plot_confident_gallery,
    plot_evidence,
    plot_open_set,
    plot_paired_differences,
    run_open_set,
    run_split_study,
    summarize,
    text_table,
)
from cplus_edu.experiments.open_set import (
    ALLOWED_INSIDE,
    credibility,
    over_splits,
    per_split_differences,
    plot_split_spread,
    reference_claims,
    study_rows,
)
from cplus_edu.experiments.reference import describe_provenance, load_results
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
                    epochs=EPOCHS, lr=LR["CE"], keep_models=models)  # fmt: skip
main_rows = [r for r in rows if r["loss"] in main_losses]
summary = summarize(main_rows, [*OPEN_SET_METRICS, "coi_spread"])
print(f"first split, mean ± std over seeds {SEEDS}, in %")
print(metric_table(summary, [*OPEN_SET_METRICS, "coi_spread"]))

# %%
plot_open_set(summary, OPEN_SET_METRICS, title=f"First split, mean ± std over seeds {SEEDS}")
plt.show()

# %% [markdown]
# Means over seeds hide a lot: the seed changes the initial weights and the batch order, and
# that moves every number by a few points. Runs with the **same seed** differ only in the loss,
# so the per-seed difference to CE is the fair comparison. Each cell below is the mean paired
# difference in points, its 95 % interval and the number of pairs up: the course's verdict rule
# (`paired_verdict`) calls an effect real only when the interval excludes 0.

# %%
metrics = ["coi_acc", "recall_seen", "recall_digits", "recall_fashion", "recall_cifar",
           "auroc_digits", "auroc_cifar", "coi_spread"]  # fmt: skip
diffs = paired_differences(main_rows, "CE", metrics)
print(paired_table(diffs, metrics, "CE"))

# %% [markdown]
# What this one split supports (the asserts below check each one):
#
# 1. Every model learns the task, and the C+1 loss costs no accuracy on the classes of interest
#    (within a point).
# 2. With moving-average or learnable centres the classes of interest become **much more
#    compact** (`coi_spread` drops on every seed) — $L_{compact}$ does what it says.
#    Shared centres do **not** compact the classes here: the centre is the classifier's weight
#    row, which cross-entropy keeps pulling elsewhere.
#
# What it does *not* settle: whether C+1 calls more unseen background background. The paired
# differences in the `recall_*` rows are a few points at most, and three pairs on one split rest
# on little: a loss can be up on all three seeds by chance (one time in eight when it has no
# effect at all), and the interval of three pairs may exclude 0 on one split and not on the
# next — exactly the kind of result that reads like a finding. The next section asks the
# question on other splits.

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
assert all(abs(v) < 0.03 for v in small.values()), small  # a few points at most

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
study_losses = {name: make(K, D) for name, make in STUDY_LOSSES.items()}
split_models = {}
split_rows = run_split_study(SPLIT_SEEDS, study_losses, SPLIT_RUN_SEEDS, data_kwargs=data_kwargs,
                             make_model=make_model, epochs=EPOCHS, lr=LR,
                             keep_models=split_models)  # fmt: skip
n_pairs = len(SPLIT_SEEDS) * len(SPLIT_RUN_SEEDS)
study_metrics = ["coi_acc", "recall_digits", "recall_fashion", "recall_cifar", "auroc_digits",
                 "auroc_fashion", "auroc_cifar", "auroc_dist_digits", "auroc_dist_cifar",
                 "coi_spread"]  # fmt: skip
print(f"\nmean ± std over {n_pairs} runs (splits x seeds), in %")
print(metric_table(summarize(split_rows, study_metrics), study_metrics))
split_diffs = paired_differences(split_rows, "CE", study_metrics, pair_on=("seed", "split"))
print("\npaired by (seed, split): mean difference to CE in points [95 % interval], pairs up")
print(paired_table(split_diffs, study_metrics, "CE"))

# %%
shown = ["coi_acc", "recall_digits", "recall_fashion", "recall_cifar", "auroc_cifar",
         "auroc_dist_digits", "auroc_dist_cifar"]  # fmt: skip
plot_paired_differences(split_diffs, shown, "CE")
plt.show()

# %% [markdown]
# What these four splits support (this run, teaching size; asserted below, the numbers are the
# table's). They are the first four splits the chapter drew, and four are few: the reference
# section further down asks the same questions on ten other splits, and the ledger follows it.
#
# 1. **The C+1 loss at the paper's weights makes little difference to what is called
#    background.** Its paired changes in recall are small next to the spread of the pairs: read
#    each interval against 0. It does compact the classes (`coi_spread` lower on every pair).
# 2. **With $\alpha = 1$, $\beta = 1$ it does.** Photos are called background much more often,
#    clothes more often, and the distance score ranks the unseen sets better. The gain on the
#    *near* background (held-out digits) is the smallest of the three.
# 3. Neither costs more than about a point of accuracy on the classes of interest.
# 4. The spread **between splits** is larger than any effect of the loss: `recall_cifar` under CE
#    depends on which digits were the background (per-split table in the next section).

# %%
paper_d, strong_d = split_diffs["C+1 (paper)"], split_diffs["C+1 alpha=1 beta=1"]
up = lambda values: sum(v > 0 for v in values)  # noqa: E731
avg = statistics.mean
verdict = lambda values: paired_verdict(values).verdict  # noqa: E731
HOLDS = "holds"
assert verdict([-d for d in paper_d["coi_spread"]]) == HOLDS
assert up([-d for d in paper_d["coi_spread"]]) == n_pairs
for m in ["recall_cifar", "auroc_dist_digits", "auroc_dist_cifar"]:
    assert verdict(strong_d[m]) == HOLDS, (m, strong_d[m])
assert avg(strong_d["recall_fashion"]) > 0.03
assert avg(strong_d["recall_digits"]) < avg(strong_d["recall_cifar"])
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
print(metric_table(summarize(split_rows, CONFIDENCE_METRICS), CONFIDENCE_METRICS))
ce_rows = [r for r in split_rows if r["loss"] == "CE"]
per_split = summarize(ce_rows, ["recall_cifar", "auroc_cifar", "confident_cifar", "conf_cifar"],
                      by="split")  # fmt: skip
print(f"\nCE, photos per split (digits as printed above; mean ± std over seeds "
      f"{SPLIT_RUN_SEEDS}), in %")  # fmt: skip
print(format_table(per_split, ["recall_cifar", "auroc_cifar", "confident_cifar", "conf_cifar"],
                   headings=["recall", "AUROC", "confident", "conf"],
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
    confidences = {"digits of interest": split_data.x_test[split_data.y_test != 0],
                   "CIFAR-10 (grey)": split_data.unseen["CIFAR-10 (grey)"],
                   "Fashion-MNIST": split_data.unseen["Fashion-MNIST"]}  # fmt: skip
    confidences = {k: coi_confidence(cplus_edu.predict(model, x)[1])
                   for k, x in confidences.items()}  # fmt: skip
    confidence_shares[name] = {k: (v > 0.9).float().mean().item() for k, v in confidences.items()}
    plot_confidence_histogram(confidences, ax=ax, title=f"{name}, split {worst['split']}, seed "
                              f"{worst['seed']}")  # fmt: skip
plt.show()
print("share given a digit at p > 0.9:")
for name, shares in confidence_shares.items():
    print(f"  {name:20}" + "; ".join(f"{k} {v:.1%}" for k, v in shares.items()))

# %% [markdown]
# What this shows on these four splits (asserted below; the reference section further down
# shows the same numbers for ten other splits):
#
# * Under CE a **large share of photos gets a digit with p > 0.9** on the worst run (gallery
#   title and the shares printed above: animals and vehicles named as digits, many at p > 0.9),
#   and a smaller share on average over all runs (printed below). On the digits of interest
#   themselves the same model is that sure of most images: on this split, confidence barely
#   tells a photo from a digit. A softmax classifier's confidence is not a novelty detector:
#   nothing in training tells it what to say about inputs unlike any training image.
# * Yet the *ranking* is better than the confident mistakes suggest: the AUROC of the background
#   probability on photos stays well above 50 % on every run (the photos are, on average, less
#   sure than the digits); the failure is a heavy tail of confident mistakes, not a reversed
#   score. (Other conversions — inverted photos, other models — can push it below 50 %; try it.)
# * The C+1 loss at the paper's weights leaves the confident share where CE has it (within two
#   points on average); with $\alpha = 1$, $\beta = 1$ it falls on average (printed interval),
#   but does not reach zero on the worst run.

# %%
strong_conf = paired_differences(split_rows, "CE", ["confident_cifar"],
                                 pair_on=("seed", "split"))  # fmt: skip
paper_conf, strong_conf = (strong_conf[n]["confident_cifar"] for n in
                           ["C+1 (paper)", "C+1 alpha=1 beta=1"])  # fmt: skip
ce_confident = [r["confident_cifar"] for r in ce_rows]
auroc_cifar = [r["auroc_cifar"] for r in split_rows]
print(f"CE, photos given a digit at p > 0.9: worst run {max(ce_confident):.1%}, "
      f"mean {avg(ce_confident):.1%}")  # fmt: skip
print(f"AUROC of p(background) on photos, all runs: {min(auroc_cifar):.1%} to "
      f"{max(auroc_cifar):.1%}")  # fmt: skip
conf_evidence = {name: paired_verdict(d) for name, d in
                 [("C+1 (paper)", paper_conf), ("C+1 alpha=1 beta=1", strong_conf)]}  # fmt: skip
for name, ev in conf_evidence.items():
    print(f"confident share on photos, {name} - CE: {ev.describe(scale=100, unit=' points')}")
assert max(ce_confident) > 0.2 and avg(ce_confident) > 0.05
assert min(auroc_cifar) > 0.6  # the score still ranks photos above digits
assert abs(avg(paper_conf)) < 0.02
assert conf_evidence["C+1 alpha=1 beta=1"].mean < -0.05  # fewer confident photos on average
assert confidence_shares["C+1 alpha=1 beta=1"]["CIFAR-10 (grey)"] > 0.01
assert confidence_shares["CE"]["digits of interest"] > 0.5  # digits are sure, too

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
print(metric_table(summarize(split_rows, INSIDE_METRICS), INSIDE_METRICS))
inside_d = paired_differences(split_rows, "CE", INSIDE_METRICS, pair_on=("seed", "split"))
print("\npaired by (seed, split), in points [95 % interval], pairs up")
print(paired_table(inside_d, INSIDE_METRICS, "CE"))

# %% [markdown]
# Reading it (this run, four splits): under every loss a large share of the unseen background —
# most of all the *near* one, the held-out digits — lies inside a class ball, far from the
# paper's "almost impossible". The paper's Sec. 3.5 treats a novel sample as a *random* point of
# feature space; a trained network maps a 7 close to the 1s it has learned, not to a random
# point. On these four splits C+1 shrinks the balls and pulls fewer unseen images inside them: a
# little at the paper's weights, clearly with $\alpha = 1$, $\beta = 1$, and more for the far
# photos than for the near digits. Whether that survives a change of split is the reference
# section's question (next).

# %%
summary_inside = summarize(split_rows, INSIDE_METRICS)
for name in study_losses:
    assert summary_inside[name]["inside_digits"][0] > 0.2, name  # many held-out digits inside
strong_inside = inside_d["C+1 alpha=1 beta=1"]
for m in INSIDE_METRICS:
    assert verdict([-d for d in strong_inside[m]]) == HOLDS, (m, strong_inside[m])
assert avg(strong_inside["inside_cifar"]) < avg(strong_inside["inside_digits"])
assert avg(inside_d["C+1 (paper)"]["inside_cifar"]) < 0

# %% [markdown]
# ## The reference scale: ten other splits, every image (stored results)
# Everything above is **this run (teaching size)**: four splits, 2,100 training images each. Four
# splits are few, and they were the first four the chapter drew: a claim that holds on them may
# not hold on the next split. The **stored reference results** below answer the same questions
# on ten *other* random splits (split seeds 10-19), with every training image of the seven digits,
# a two-hidden-layer MLP, every test image of the unseen sets, and two training seeds per split (no
# two splits share initial weights). Each loss got the same tuning budget: its learning rate
# picked from the same grid by accuracy on a tenth of the training images of one more split,
# held out from training (never on test data).
#
# A verdict here is about the **distribution over splits**: per split, the mean over its two
# seeds of the paired difference (C+1 minus CE, same split, same seed); the course's rule is then
# applied to the ten split means. The per-split figure shows both seeds of every split, so the
# spread within a split (initial weights, batch order) can be read beside the spread between
# splits (which digits play which part). The CE baseline must first reach its credibility bar
# (printed).

# %%
stored = load_results("02_open_set_mnist")
if stored is None:
    print("This copy has no results/02_open_set_mnist.json: only the teaching-size run above.")
else:
    print("stored reference results:", describe_provenance(stored))
    for name, (measured, bar) in credibility(stored).items():
        print(f"  baseline {name}: {100 * measured:.2f} % (bar {100 * bar:.0f} %)")
    tune = [r for r in stored["runs"] if r["job"]["stage"] == "tune"]
    print("learning rate by validation accuracy (split "
          f"{stored['params']['tune_split_seed']}, held-out tenth of the training images):")
    for name in STUDY_LOSSES:
        cells = [f"lr {r['job']['lr']:g}: {100 * r['metrics']['val_acc']:.2f} %" for r in tune
                 if r["job"]["loss"] == name]  # fmt: skip
        print(f"  {name:20s} " + ", ".join(cells) + f" -> {stored['params']['lr'][name]:g}")
    ref_rows = study_rows(stored)
    for s in stored["params"]["split_seeds"]:
        print(f"split {s}: {draw_digit_split(s)}")
    ref_metrics = [*study_metrics, *INSIDE_METRICS, "confident_cifar"]
    print(f"\nmean ± std over {len(ref_rows) // len(STUDY_LOSSES)} runs (splits x seeds), in %")
    print(metric_table(summarize(ref_rows, ref_metrics), ref_metrics))
    ref_split = per_split_differences(ref_rows, "CE", ref_metrics)
    ref_over = {name: {m: over_splits(per_m[m]) for m in ref_metrics}
                for name, per_m in ref_split.items()}  # fmt: skip
    print(f"\nover the {len(stored['params']['split_seeds'])} splits (each "
          "the mean of its seeds' pairs): mean difference to CE in points [95 % interval], "
          "splits up")
    print(paired_table(ref_over, ref_metrics, "CE"))

# %%
if stored is not None:
    shown_ref = ["recall_digits", "recall_fashion", "recall_cifar", "auroc_cifar", "coi_acc"]
    ref_figure = {}
    for name, short in [("C+1 (paper)", "paper"), ("C+1 alpha=1 beta=1", "a=b=1")]:
        ref_figure.update({f"{short}: {m}": ref_over[name][m] for m in shown_ref})
        ref_figure[f"{short}: -inside_cifar"] = [-d for d in ref_over[name]["inside_cifar"]]
    plot_evidence(ref_figure, scale=100, unit="points", pair="split",
                  title="Reference scale: C+1 minus CE (paper: alpha = 0.1, beta = "
                                "1e-4; a=b=1: alpha = beta = 1)\na dot per digit split; "
                                "-inside: fewer photos inside the class balls")  # fmt: skip
    plt.show()
    digits_of = {s: "".join(map(str, draw_digit_split(s).coi))
                 for s in stored["params"]["split_seeds"]}  # fmt: skip
    by_split = {f"{name}: {m}": {f"{s}\n{digits_of[s]}": v for s, v in ref_split[name][m].items()}
                for name in ref_split for m in ("recall_cifar", "inside_cifar")}  # fmt: skip
    plot_split_spread(by_split, title="Reference scale, per split (tick: split seed and its "
                      "classes of interest): C+1 minus CE on photos, a dot per seed; band = 95 % "
                      "interval over splits")  # fmt: skip
    plt.show()
    per_run = {(r["loss"], r["split"], r["seed"]): r for r in ref_rows}
    photo_lines = [[s, seed, digits_of[s], *(f"{100 * per_run[name, s, seed][m]:.1f}"
                    for name, m in [("CE", "recall_cifar"), ("CE", "auroc_cifar"),
                                    ("CE", "confident_cifar"), ("C+1 (paper)", "recall_cifar"),
                                    ("C+1 alpha=1 beta=1", "recall_cifar")])]
                   for (loss, s, seed) in per_run if loss == "CE"]  # fmt: skip
    print("photos per split and seed, in %: CE's recall, AUROC and share named a digit at "
          "p > 0.9; recall of C+1 (paper) and of alpha = beta = 1")  # fmt: skip
    print(text_table(["split", "seed", "CoI", "CE recall", "CE AUROC", "CE confident",
                      "paper recall", "a=b=1 recall"], photo_lines))  # fmt: skip

# %% [markdown]
# What the reference scale says (asserted below on the stored runs; the numbers are printed
# above):
#
# 1. **The CE baseline is credible**: with every training image the MLP reaches its bar on the
#    classes of interest on every split, and neither C+1 weighting costs accuracy.
# 2. **$L_{compact}$ compacts** the classes of interest on every split: this claim holds at
#    both scales.
# 3. **Calling unseen background background.** With $\alpha = \beta = 1$ C+1 does so more than
#    CE over the ten splits (the mean of the three kinds), mostly through clothes and photos; its
#    gain on the *near* background, the held-out digits, is not decided. At the paper's weights
#    the average points the same way but the interval of the split means still contains 0.
# 4. **Photos depend on the split, and on the seed.** On most splits CE already calls nearly
#    every photo background and there is little to gain; the average gain comes from the few
#    splits where CE names digits for many photos. And it is not guaranteed even there: on one
#    (split, seed) pair C+1 with $\alpha = \beta = 1$ calls far *fewer* photos background than
#    CE and puts more of them inside the class balls, while the other seed of the same split
#    gains a lot (per-split figure and table). The spread within a split can be as large as the
#    effect: a photo claim measured on four splits, or on one seed, is a claim about those runs.
# 5. **Sec. 3.5 does not carry over**: a sizeable share of the unseen background, above all the
#    held-out digits, still lies inside a class ball under every loss.

# %%
if stored is not None:
    compact_ref = paired_verdict([-d for d in ref_over["C+1 (paper)"]["coi_spread"]])
    assert compact_ref.verdict == HOLDS and compact_ref.up == compact_ref.n, compact_ref
    unseen_ref = {}
    for name in ref_over:
        assert paired_verdict(ref_over[name]["coi_acc"]).low > -0.01, name
        unseen_ref[name] = paired_verdict([statistics.mean(v) for v in
                                           zip(*(ref_over[name][m] for m in recalls))])  # fmt: skip
    strong_ref = ref_over["C+1 alpha=1 beta=1"]
    assert unseen_ref["C+1 alpha=1 beta=1"].verdict == HOLDS
    assert paired_verdict(strong_ref["recall_digits"]).low < 0  # the near background: undecided
    assert paired_verdict(strong_ref["recall_fashion"]).verdict == HOLDS
    assert unseen_ref["C+1 (paper)"].mean > 0 and unseen_ref["C+1 (paper)"].low < 0
    strong_split = ref_split["C+1 alpha=1 beta=1"]
    pairs = zip((d for per in strong_split["recall_cifar"].values() for d in per),
                (d for per in strong_split["inside_cifar"].values() for d in per))  # fmt: skip
    assert any(gain < -0.1 and inside > 0 for gain, inside in pairs)  # a pair that goes wrong
    ce_inside = summarize(ref_rows, ["inside_digits"])["CE"]["inside_digits"][0]
    assert ce_inside > 2 * ALLOWED_INSIDE, ce_inside

# %% [markdown]
# ## Ablation in the shape of the paper's Tables 1–4
# First split, seeds `SEEDS`; each table changes one thing against the default
# (moving-average centres, $\alpha = 0.1$, $\beta = 10^{-4}$). Beside our numbers is the paper's
# mIoU on PASCAL VOC 2012 (DeepLabV3+, ResNet-50, 20K iterations) — a different task and metric,
# so compare the *ranking and the size of the effects*, not the values.

# %%
table_metrics = ["coi_acc", "recall_digits", "recall_fashion", "coi_spread", "term_background"]
table_headings = ["coi_acc", "digits", "fashion", "coi_spread", "L_bg"]
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
print(f"mean ± std over seeds {tuple(SEEDS)}, in %; digits, fashion: recall of held-out digits "
      "and clothes;\nL_bg: final L_background; VOC mIoU: the paper's")  # fmt: skip
for title, mapping in tables.items():
    print(f"\n{title}")
    rows_here = {paper_row: ours[run] for paper_row, run in mapping.items()}
    print(format_table(rows_here, table_metrics, headings=table_headings, first_heading="row",
                       paper=PAPER_VOC_MIOU[title], paper_heading="VOC mIoU"))  # fmt: skip

# %% [markdown]
# Reading the tables:
#
# * **Table 1 (terms).** Adding $L_{compact}$ shrinks `coi_spread`; adding $L_{background}$ with
#   $\beta = 10^{-4}$ changes nothing measurable. The paper credits most of its +1.42 mIoU to the
#   background term (+1.10); at our scale, with mean-reduced terms, that weight is far too small
#   to move anything (next cell).
# * **Table 2 (centres).** The paper ranks moving average > shared > learnable, within 0.7 mIoU.
#   Here moving average and learnable centres are close on every metric, and shared centres fail
#   to compact.
# * **Table 3 (alpha).** The paper's $\alpha = 1$ *hurts* VOC by 2.1 mIoU. Here $\alpha = 1$
#   keeps the accuracy and gives the most compact classes.
# * **Table 4 (beta).** The paper reports a 1.4 mIoU swing between $\beta = 10^{-3}$ and
#   $10^{-4}$. Here $\beta \in \{0, 10^{-4}, 10^{-3}\}$ give the same numbers within the largest
#   per-seed change printed below (a fraction of a point); only $\beta = 1$ (10,000 times the
#   paper's value) empties the margin (`L_bg` falls several-fold).

# %%
outcomes = table_metrics[:-1]  # every measured outcome (CE has no L_background to compare)
paired = paired_differences(rows, "sep + compact (beta=0)", outcomes)
for name in ["C+1 moving average", "beta=1e-3"]:  # beta = 1e-4 and 1e-3 against beta = 0
    worst_change = max(abs(d) for m in outcomes for d in paired[name][m])
    print(f"{name}: largest per-seed change against beta=0, any metric: "
          f"{100 * worst_change:.2f} points")  # fmt: skip
    assert worst_change < 0.005, (name, worst_change)
bg = {name: ours[name]["term_background"][0] for name in
      ["sep + compact (beta=0)", "C+1 moving average", "beta=1 (beyond the paper)"]}  # fmt: skip
print("final L_background, mean over seeds:")
for name, value in bg.items():
    print(f"  {name:26} {value:.4f}")
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
# The ledger's verdicts on CE against C+1 (the first four rows) come from the **stored reference
# results**: ten random digit splits with every training image, each verdict over the ten split
# means. The Table 4 row comes from **this run (teaching size)**, the only place the chapter
# sweeps $\beta$; the teaching-size verdicts of the other rows are printed under the table for
# comparison. The cell checks that `CLAIMS.md` lists the same verdicts. How each claim is
# measured:
#
# * **separates the background better than CE**: the recall of the unseen background averaged
#   over its three kinds (held-out digits, clothes, photos), C+1 minus CE, paired by (split,
#   seed), averaged over each split's seeds; each kind's own interval is in the "ours" column;
# * **compact classes**: `coi_spread`, CE minus C+1 at the paper's weights, the same way;
# * **Sec. 3.5** is no comparison of two losses: each run of the C+1 loss at the paper's weights
#   gives one number, the share of its unseen background (the three kinds averaged) *outside*
#   every class ball minus 95 % — our generous reading of the paper's "close to 1" — averaged
#   per split, and the rule is applied to the split means;
# * **Table 4**: first split, $\beta = 10^{-4}$ minus $\beta = 10^{-3}$ per seed, on the same
#   averaged recall.
#
# The paper measures mIoU on PASCAL VOC 2012 segmentation (DeepLabV3+ on a ResNet-50, 20K
# iterations), another task and metric, so no verdict compares effect sizes. Even the reference
# scale cannot reach that setting here: VOC segmentation needs a pretrained backbone and GPU days
# this course has not got. What is different, and why a verdict could differ there: in VOC the
# background is a *pixel* class made of many kinds of stuff, seen in every image, and the losses
# act on 2,048-D features of a deep network; here the background is three digits and the
# features come from a small MLP. A loss that rejects novel digits here need not help VOC's
# pixels, and the reverse.

# %%


def unseen_mean(per_metric, metrics):
    """Per pair (or run), the mean over the three unseen sets of ``metrics``."""
    return [statistics.mean(values) for values in zip(*(per_metric[m] for m in metrics))]


def kinds(per_metric, metrics=recalls):
    return "; ".join(f"{m.split('_')[1]} {paired_verdict(per_metric[m]).describe(100)}"
                     for m in metrics)  # fmt: skip


ev_paper = paired_verdict(unseen_mean(paper_d, recalls))
ev_strong = paired_verdict(unseen_mean(strong_d, recalls))
ev_compact = paired_verdict([-d for d in paper_d["coi_spread"]])
paper_runs = [r for r in split_rows if r["loss"] == "C+1 (paper)"]
outside = [1 - statistics.mean(r[m] for m in INSIDE_METRICS) for r in paper_runs]
ev_outside = paired_verdict([o - (1 - ALLOWED_INSIDE) for o in outside])
table4 = paired_differences(rows, "beta=1e-3", recalls)["C+1 moving average"]
ev_beta = paired_verdict(unseen_mean(table4, recalls))
inside_pct = {name: "/".join(f"{100 * v[m][0]:.0f}" for m in INSIDE_METRICS)
              for name, v in summary_inside.items()}  # fmt: skip
spread_cells = {name: "{:.1f} ± {:.1f}".format(*(100 * v for v in values["coi_spread"]))
                for name, values in summarize(split_rows, ["coi_spread"]).items()}  # fmt: skip
beta_change = max(abs(d) for name in ["C+1 moving average", "beta=1e-3"] for m in outcomes
                  for d in paired[name][m])  # fmt: skip
teaching_claims = [
    Claim("02-paper-weights", "The C+1 loss at the paper's weights (moving-average centres, "
          "alpha = 0.1, beta = 1e-4) separates the background better than CE",
          "+1.42 mIoU on VOC 2012 (Table 1: 75.93 -> 77.35)",
          f"MNIST, unseen background called background, C+1 minus CE over {n_pairs} pairs "
          f"({len(SPLIT_SEEDS)} random digit splits x {len(SPLIT_RUN_SEEDS)} seeds), in points: "
          f"mean of the three kinds {ev_paper.describe(100)}; {kinds(paper_d)}; class-of-interest "
          f"accuracy {paired_verdict(paper_d['coi_acc']).describe(100)}", ev_paper.verdict),
    Claim("02-strong-weights", "The same loss with alpha = 1, beta = 1 (beyond the paper's "
          "weights) separates the unseen background better than CE",
          "(Table 3: alpha = 1 costs 2.1 mIoU; beta = 1 not tried)",
          f"same pairs: mean of the three kinds {ev_strong.describe(100)}; {kinds(strong_d)}; "
          f"class-of-interest accuracy {paired_verdict(strong_d['coi_acc']).describe(100)}",
          ev_strong.verdict),
    Claim("02-compact", "L_compact makes the classes of interest compact",
          "(design of the loss; no number)",
          f"MNIST, mean squared distance of class-of-interest features to their centre (x100): "
          f"CE {spread_cells['CE']}, C+1 {spread_cells['C+1 (paper)']} ({n_pairs} runs); CE minus "
          f"C+1 {ev_compact.describe(100)}; shared centres: CE minus C+1 "
          f"{paired_verdict([-d for d in diffs['C+1 shared']['coi_spread']]).describe(100)} "
          f"(first split)", ev_compact.verdict),
    Claim("02-unseen-inside", "Sec. 3.5, same claim for real unseen background over random digit "
          "splits (held-out digits, Fashion-MNIST, greyscale CIFAR-10)",
          "p(x_random) = 1 - C R^d / R_L^d, close to 1",
          f"MNIST, share inside the radius holding 95 % of class-of-interest test images, in % "
          f"(digits/clothes/photos, {n_pairs} runs): CE {inside_pct['CE']}, C+1 "
          f"{inside_pct['C+1 (paper)']}, alpha = beta = 1 {inside_pct['C+1 alpha=1 beta=1']}; "
          f"C+1's share outside minus 95 %: {ev_outside.describe(100)}", ev_outside.verdict),
    Claim("02-beta-table4", "Table 4: beta between 1e-5 and 1e-3 matters (1.4 mIoU between 1e-3 "
          "and 1e-4)", "75.93 / 77.35 / 76.47 mIoU on VOC",
          f"MNIST, first split, {len(SEEDS)} seeds: beta = 1e-4 minus 1e-3, unseen recall (mean of "
          f"the three kinds) {ev_beta.describe(100, digits=2)}; beta in {{0, 1e-4, 1e-3}} moves "
          f"every table metric by at most {100 * beta_change:.2f} points per seed",
          ev_beta.verdict),
]  # fmt: skip
if stored is not None:
    claims = [*reference_claims(stored), teaching_claims[-1]]  # Table 4: this run
    display(claims_markdown(claims))
    print("this run (teaching size), the same claims over its four splits:")
    for c in teaching_claims[:-1]:
        print(f"  {c.id}: {c.verdict}")
    check_ledger(claims, "02_open_set_mnist")
else:  # an installed copy without results/: the live run only, not compared with the ledger
    display(claims_markdown(teaching_claims))

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

# %% [markdown] tags=["exercises"]
# ## Exercises
# Unlike the "Try this" ideas above, which retrain, these need no training. Each has a hint and an
# answer to unfold (click the small triangle). The code of each answer is in the hidden cell under
# it (click the three dots to show it and its output): it ran with the rest of the chapter, and
# its `assert`s check what the answer says.

# %% [markdown]
# ### Exercise 1 · Why pair the runs?
# Five seeds give a baseline accuracy of 0.60, 0.70, 0.80, 0.65 and 0.75 (the seed moves it a
# lot), and a method that adds 0.010, 0.012, 0.009, 0.011 and 0.010 to the run of the same seed.
# Does the method help? Compare two ways of asking: the paired verdict on the five differences,
# and an unpaired comparison of the two lists (Welch's t-test).
#
# <details><summary>Hint</summary>
#
# `paired_verdict(differences)` (from `cplus_edu.experiments`) applies the course's rule;
# `scipy.stats.ttest_ind(a, b, equal_var=False).pvalue` is the unpaired test.
#
# </details>
#
# <details><summary>Answer</summary>
#
# Paired, the method wins on every seed by about a point and the interval of the mean difference
# lies far above 0: *holds*. Unpaired, the small gain is lost in the seed-to-seed spread of ten
# points, and the t-test sees nothing (a p-value near 1). That is why this chapter pairs every
# C+1 run with the CE run of the same seed and split: the pair shares its data order, initial
# weights and digits, so the difference cancels what the seed does to both.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
from scipy.stats import ttest_ind

from cplus_edu.experiments import paired_verdict

baseline = [0.60, 0.70, 0.80, 0.65, 0.75]
method = [b + d for b, d in zip(baseline, [0.010, 0.012, 0.009, 0.011, 0.010])]
paired_evidence = paired_verdict([m - b for m, b in zip(method, baseline)])
unpaired_p = ttest_ind(method, baseline, equal_var=False).pvalue
print(f"paired: {paired_evidence.describe(digits=4)}, {paired_evidence.verdict}")
print(f"unpaired (Welch): p = {unpaired_p:.2f}")
assert paired_evidence.verdict == "holds" and unpaired_p > 0.5

# %% [markdown]
# ### Exercise 2 · Recall needs a threshold, AUROC does not
# A model shows three digits and three unseen clothes; its logits (background first) are below.
# What is its background recall on the clothes, and the AUROC of its background score
# (clothes against digits)? What would you change to get a useful recall out of this model?
#
# ```
# digits:  [0.0, 3.0, 0.5], [0.2, 2.5, 0.1], [0.1, 0.3, 2.8]
# clothes: [1.2, 1.5, 0.4], [1.0, 1.4, 0.2], [1.1, 0.3, 1.6]
# ```
#
# <details><summary>Hint</summary>
#
# `background_recall(logits)` counts the arg-max predictions of "background" (with no target,
# every sample is background); `background_auroc(scores_background, scores_interest)` ranks
# `background_score(logits)`, the softmax probability of class 0. All three are in
# `cplus_edu.metrics`.
#
# </details>
#
# <details><summary>Answer</summary>
#
# No garment wins the arg-max for background, so the recall is 0. Yet every garment has a higher
# background probability than every digit, so the AUROC is 1: the score *ranks* perfectly, and a
# threshold between the two groups (instead of the arg-max) would reject all clothes and keep all
# digits. That is why the chapter reports both: recall at the arg-max, which is what a deployed
# model does, and AUROC, which says whether any threshold could work.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
from cplus_edu.metrics import background_auroc, background_recall, background_score

digit_logits = torch.tensor([[0.0, 3.0, 0.5], [0.2, 2.5, 0.1], [0.1, 0.3, 2.8]])
clothes_logits = torch.tensor([[1.2, 1.5, 0.4], [1.0, 1.4, 0.2], [1.1, 0.3, 1.6]])
clothes_recall = background_recall(clothes_logits)
auroc = background_auroc(background_score(clothes_logits), background_score(digit_logits))
print(f"background recall on the clothes {clothes_recall:.2f}; AUROC {auroc:.2f}")
print("background probabilities: digits",
      [round(v, 3) for v in background_score(digit_logits).tolist()], "clothes",
      [round(v, 3) for v in background_score(clothes_logits).tolist()])  # fmt: skip
assert clothes_recall == 0.0 and auroc == 1.0

# %% [markdown]
# ### Exercise 3 · Confident about something it never saw
# The photos above got a digit with high confidence. Here is one mechanism. Take a small ReLU
# network without biases and any input $x$. What happens to its logits, and to its largest
# softmax probability, when you feed it $10x$ or $100x$?
#
# <details><summary>Hint</summary>
#
# A linear layer without bias and a ReLU both commute with multiplying by a positive number:
# $\mathrm{relu}(W(cx)) = c\,\mathrm{relu}(Wx)$ for $c > 0$.
#
# </details>
#
# <details><summary>Answer</summary>
#
# The logits scale by the same factor, so the gaps between them grow, and the softmax's largest
# probability goes to 1 (unless two logits tie exactly). The confidence measures how far apart the
# logits are, not how familiar the input is: an input far from the training data, in a direction
# that happens to favour one class, is called that class with near certainty. Biases and
# normalisation layers blur this picture, but the far-OOD photos of this chapter show the same
# effect on a real network. A C+1 model with normalised features bounds the logits, but it still
# takes the class whose direction the input points to.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
toy_net = torch.nn.Sequential(torch.nn.Linear(20, 16, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(16, 5, bias=False))  # fmt: skip
toy_x = torch.randn(1, 20, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    toy_logits = {c: toy_net(c * toy_x) for c in (1.0, 10.0, 100.0)}
confidence = {c: logits.softmax(dim=1).max().item() for c, logits in toy_logits.items()}
print({f"{c:g} x": round(p, 4) for c, p in confidence.items()})
assert torch.allclose(toy_logits[10.0], 10 * toy_logits[1.0], rtol=1e-4, atol=1e-5)
assert confidence[1.0] < confidence[10.0] <= confidence[100.0]

# %%
print(stopwatch.report())
