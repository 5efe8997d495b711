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
# # 08 · The margin family on the hypersphere
#
# The C+1 loss is one member of a family of losses that shape the **embedding** rather than only
# the classifier's output. The CC-loss slides (Song et al., [5] in
# [REFERENCES.md](../REFERENCES.md)) compare with the rest of that family:
#
# | loss | what it does to the target logit $s\,\psi(\theta_y)$ | paper |
# |---|---|---|
# | softmax | $W f + b$, nothing normalised | — |
# | NormFace | $s\cos\theta_y$: features and weights on the unit sphere | Wang et al. 2017 |
# | CosFace | $s(\cos\theta_y - m)$, $m = 0.35$ | Wang et al. 2018 |
# | ArcFace | $s\cos(\theta_y + m)$, $m = 0.5$ rad | Deng et al. 2019 |
# | SphereFace | $\|f\|\,\psi(\theta_y)$, $\psi=(-1)^k\cos(m\theta)-2k$, $m=4$ | Liu et al. 2017 |
# | centre loss | CE $+\ \alpha\,\|f - c_y\|^2$ | Wen et al. 2016 |
# | C+1 | CE + centre loss on the classes of interest + a background margin | the C+1 paper [1] |
#
# $\theta_j$ is the angle between the feature $f$ and the class weight $w_j$; every head is a
# cross-entropy in which the *target* class must win by a margin (in the cosine, in the angle,
# or multiplied into the angle). Here we train each one on MNIST with a **2-D** and a **3-D**
# embedding, so the whole embedding can be drawn on the circle and the sphere (the well-known
# SphereFace / ArcFace figure, made live), and measure two angles per head:
#
# * **spread**: mean angle between a test feature and its class's mean direction (small =
#   compact classes);
# * **inter-class angle**: the angle between each class's mean direction and its nearest
#   neighbour's (we report the smallest and the mean; large = separated classes).
#
# **How a margin head plugs into `fit`.** A margin head holds the class weights itself and needs
# the labels to place the margin, so it cannot just read the model's logits. `MarginModel(mlp,
# head)` returns the MLP's embedding as `features` and the head's margin-free logits
# $s\cos\theta_j$ as `logits` (what we predict with); its `model.loss` declares
# `needs_features = True`, so `fit` hands it the features, and it returns `head(features,
# labels)`. The heads are checked against pytorch-metric-learning's losses of the same name in
# `tests/test_margins.py`.

# %% [markdown] tags=["before-you-start"]
# ## Before you start
#
# **You will be able to**
# * write the target logit of NormFace, CosFace, ArcFace and SphereFace, and say what each margin
#   asks of a class on the circle;
# * plug a margin head into `fit` (`MarginModel`) and train the family on MNIST with 2-D and 3-D
#   embeddings;
# * measure a head's spread and inter-class angles, and compare heads seed by seed;
# * explain why the scale $s$ must be small when the embedding has few dimensions.
#
# **Prerequisites.** Chapter 01 (normalised embeddings, centres, the C+1 loss); softmax
# cross-entropy; cosines and angles between vectors. NormFace, CosFace, ArcFace, SphereFace and
# the centre loss are cited in [REFERENCES.md](../REFERENCES.md); the glossary,
# [GLOSSARY.md](../GLOSSARY.md), defines *angular margin*.
#
# **Run time.** About two minutes on a 2-core laptop CPU at teaching size; the last cell prints
# how long this run took.

# %%
from cplus_edu.utils import Stopwatch

stopwatch = Stopwatch()  # the last cell prints the chapter's run time

# %% [markdown]
# ## Parameters
# Two scales, one recipe (`cplus_edu/experiments/margin_family.py`):
#
# * **teaching** (this notebook's live run): six digits (0-5; the C+1 loss also sees 6-9 as its
#   background), 500 training images per digit, a one-hidden-layer MLP, 10 epochs; 5 seeds in
#   2-D and 3-D, each margin head at three margins on every seed (the slider shows seed 0), and
#   one 64-D pair for the UMAP view. The run prints how long its training took.
# * **reference** (stored in `results/08_margin_family.json`, shown beside the live run below):
#   every MNIST training and test image, the 3-D embedding the ledger's claim is about, every
#   head, 5 paired seeds, made once with
#   `python -m cplus_edu.experiments run 08_margin_family --scale reference`. The ledger's
#   verdict comes from it.
#
# `SCALE = "reference"` (e.g. `papermill ... -p SCALE reference`) runs this notebook live with
# the reference parameters: far slower, and it only repeats what the stored results hold.

# %% tags=["parameters"]
SCALE = "teaching"  # "teaching" | "reference"

# %%
from cplus_edu.experiments.reference import scale_params

P = scale_params("08_margin_family", SCALE)
N_PER_CLASS = P["n_per_class"]  # training images per digit (None: all)
N_TEST_PER_CLASS = P["n_test_per_class"]  # test images per digit (None: all)
HIDDEN = tuple(P["hidden"])
EPOCHS = P["epochs"]
LR = P["lr"]
SEEDS = tuple(P["seeds"])
UMAP_POINTS = P["umap_points"]  # test points in the UMAP view

# %%
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

import cplus_edu
from cplus_edu.experiments import (
    FAMILY_HEADS,
    MARGIN_GRID,
    Claim,
    all_of,
    angular_stats,
    check_ledger,
    claims_markdown,
    digit_legend,
    draw_circle,
    draw_sphere,
    format_head_summary,
    load_margin_data,
    paired_spread_gain,
    paired_verdict,
    plot_evidence,
    summarize_heads,
    train_head,
)
from cplus_edu.experiments.margin_family import (
    credibility,
    head_table,
    reference_claims,
    spread_gains,
)
from cplus_edu.experiments.reference import describe_provenance, load_results
from cplus_edu.viz import plot_umap

torch.set_num_threads(1)  # tiny models: one thread is faster than two that wait for each other
cplus_edu.seed_everything(0)
data = load_margin_data(N_PER_CLASS, N_TEST_PER_CLASS)
print(f"{len(data[0])} training images (digits {data[1].unique().tolist()}), "
      f"{len(data[2])} test images")  # fmt: skip

# %% [markdown]
# ## Seven heads, five seeds, on the circle and on the sphere
# Every head trains the same MLP from the same initial weights with the same batches for a given
# seed. The normalised heads use the scale $s = 4$: on a circle with six classes a larger $s$
# (the papers' 64 is for 512-D face embeddings) lets two classes collapse onto one direction
# from a random start on most seeds.

# %%
start = time.perf_counter()
snaps = {dim: [train_head(head, dim, data, seed=seed, epochs=EPOCHS, lr=LR, hidden=HIDDEN)
               for seed in SEEDS for head in FAMILY_HEADS] for dim in (2, 3)}  # fmt: skip
print(f"{sum(len(v) for v in snaps.values())} runs in {time.perf_counter() - start:.0f} s")
summary = {dim: summarize_heads(snaps[dim]) for dim in (2, 3)}
for dim in (2, 3):
    print(f"\n{dim}-D embedding, mean ± std over {len(SEEDS)} seeds (C+1: angles over its 6 "
          "digits, not its background)")  # fmt: skip
    print(format_head_summary(summary[dim]))
print("\n2-D, per seed: test accuracy % (smallest inter-class angle, degrees)")
for head in FAMILY_HEADS:
    per_seed = [f"{100 * s.accuracy:5.1f} ({s.stats['inter_min_deg']:4.1f})"
                for s in snaps[2] if s.head == head]  # fmt: skip
    print(f"  {head:12s}" + "  ".join(per_seed))

# %% [markdown]
# ### On the circle
# Seed 0. Dots: test features (a small radial jitter keeps them apart; only the angle counts).
# Spokes: each class weight's direction. Outer ring: which class owns each direction at test
# time. Inner ring (margin heads only): where a class still wins **with its margin** added, the
# region a training sample must reach to stop paying the margin; the white gaps between those
# arcs are the margin made visible. CosFace's gap is a fixed cosine, ArcFace's a fixed angle,
# SphereFace's grows with the angle (the multiplicative margin).

# %%
fig, axes = plt.subplots(2, 4, figsize=(13, 6.8))
for ax, snap in zip(axes.flat, [s for s in snaps[2] if s.seed == SEEDS[0]]):
    draw_circle(snap, ax)
digit_legend(axes.flat[-1])
fig.suptitle("2-D embeddings of MNIST digits 0-5 on the unit circle, test set, seed 0")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### On the sphere
# The same heads with a 3-D embedding (seed 0). With one more dimension the six classes have
# room to spread out. Six directions on a sphere can be at most 90 degrees from their nearest
# neighbour, and only in one arrangement: the corners of an octahedron. How close do the heads
# get? The line under the figure prints, per head, the angle between each class's mean direction
# and its nearest neighbour's (mean and smallest over the classes, mean over the seeds).

# %%
fig = plt.figure(figsize=(13, 6.8))
for i, snap in enumerate([s for s in snaps[3] if s.seed == SEEDS[0]]):
    draw_sphere(snap, fig.add_subplot(2, 4, i + 1, projection="3d"))
digit_legend(fig.add_subplot(2, 4, 8), rings=False)
fig.suptitle("3-D embeddings on the unit sphere, test set, seed 0 (angles in degrees)")
fig.tight_layout()
plt.show()
print("nearest-neighbour angle between class directions in 3-D (an octahedron: 90° for both)")
for head in FAMILY_HEADS:
    (nn_mean, _), (nn_min, _) = summary[3][head]["inter_nn_deg"], summary[3][head]["inter_min_deg"]
    print(f"  {head:12s} mean {nn_mean:5.1f}°, smallest {nn_min:5.1f}°")

# %% [markdown]
# What the measurements support at this scale (asserted below, means over the seeds):
#
# 1. On the sphere every head learns the six digits (above 85 % test accuracy on every seed;
#    C+1 also has to separate the background). On the circle a head can lose a class: two
#    classes end up on one direction (smallest inter-class angle near 0 in the per-seed lines
#    above), which caps the accuracy near 5/6. Which heads and seeds this hits changes with the
#    seed and the CPU, so for 2-D we assert only that every run is far above chance (1/6).
# 2. On the sphere, the **margin heads** CosFace and ArcFace make classes far narrower than
#    softmax (spread below 0.7 of softmax's), and tighter than NormFace, which has the same
#    normalisation and scale but no margin: the margin, not only the normalisation, compacts the
#    classes. Against NormFace the difference is small, so it is judged by the course's rule
#    (the 95 % interval of the per-seed differences, `paired_verdict`), printed below and
#    checked against CLAIMS.md at the end.
# 3. The normalised heads spread the class directions further apart than softmax (mean
#    nearest-neighbour inter-class angle).

# %%
s3 = summary[3]
spread = {h: s3[h]["spread_deg"][0] for h in FAMILY_HEADS}
for dim in (2, 3):
    low = {s.head: round(s.accuracy, 3) for s in snaps[dim] if s.accuracy <= (0.5, 0.85)[dim - 2]}
    assert not low, (dim, low)
for head in ("NormFace", "CosFace", "ArcFace"):
    assert s3[head]["inter_nn_deg"][0] > s3["softmax"]["inter_nn_deg"][0], head
runs3 = {head: [s for s in snaps[3] if s.head == head] for head in FAMILY_HEADS}
beyond_norm = {}
for head in ("CosFace", "ArcFace"):
    assert spread[head] < 0.7 * spread["softmax"], (head, spread)
    beyond_norm[head] = paired_verdict(paired_spread_gain(runs3[head], runs3["NormFace"]))
    print(f"NormFace - {head} spread, per seed: {beyond_norm[head].describe(unit='°')}: "
          f"{beyond_norm[head].verdict}")  # fmt: skip

# %% [markdown]
# ## The same comparison at the reference scale (stored results)
# Everything above is **this run (teaching size)**: 3,000 training images, minutes on a laptop.
# Below are the **stored reference results**: the same recipe (`train_head`) on every MNIST
# training image of digits 0-5 (about 36,000; the C+1 head also sees the 24,000 images of 6-9
# as its background) and every test image, in 3-D, every head, five paired seeds, the same
# learning rate and epochs for every head. They were made once (the provenance line says when,
# where and how long) and are only read here. Their baselines must be credible first: softmax
# and NormFace have to reach the accuracy bar printed below before their angles mean anything.

# %%
stored = load_results("08_margin_family")
if stored is None:
    print("This copy has no results/08_margin_family.json: only the teaching-size run above.")
else:
    print("stored reference results:", describe_provenance(stored))
    for name, (measured, bar) in credibility(stored).items():
        print(f"  baseline {name}: {100 * measured:.2f} % (bar {100 * bar:.0f} %)")
    print(f"\n3-D embedding, mean ± std over {len(stored['params']['seeds'])} seeds")
    print(format_head_summary(head_table(stored)))
    ref_gains = {"softmax - NormFace": spread_gains(stored, "softmax", ("NormFace",))["NormFace"],
                 **{f"NormFace - {h}": g for h, g in spread_gains(stored).items()}}  # fmt: skip
    plot_evidence(ref_gains, unit="degrees of spread",
                  title="Reference scale, 3-D: spread of the first head minus the "
                        "second's, per seed\n(positive = the second head's classes are "
                        "tighter)")  # fmt: skip
    plt.show()

# %% [markdown]
# Reading the two scales side by side (the table above is the stored reference, the 3-D table at
# the top of this chapter the live run; asserted below):
#
# * With every image each of the four heads the claim compares (softmax, NormFace, CosFace,
#   ArcFace) is **more accurate and tighter** than in this run:
#   the baselines now sit near what an MLP with a 3-D bottleneck gets out of MNIST, and the
#   spreads of this run were partly under-training.
# * The **ranking** is the same: softmax's classes are the widest, NormFace's normalisation
#   alone makes them much tighter, and both margin heads tighten them further on every seed.
#   The margin's extra compaction over NormFace is of the same size at both scales (compare the
#   printed intervals): it is not an artefact of short training.
# * Each row of the figure is one comparison: a dot per seed, the mean, its 95 % interval and the
#   verdict of the course's rule on the right. The ledger row at the end takes its verdict from
#   these stored runs.

# %%
if stored is not None:
    ref = head_table(stored)
    for head in ("softmax", "NormFace", "CosFace", "ArcFace"):
        assert ref[head]["accuracy"][0] > summary[3][head]["accuracy"][0], head
        assert ref[head]["spread_deg"][0] < summary[3][head]["spread_deg"][0], head
    ref_spread = {head: ref[head]["spread_deg"][0] for head in ref}
    assert ref_spread["softmax"] > ref_spread["NormFace"] > max(ref_spread["CosFace"],
                                                                ref_spread["ArcFace"])  # fmt: skip
    assert all(d > 0 for gains in ref_gains.values() for d in gains)

# %% [markdown]
# ## A margin slider over stored snapshots
# For each margin head we trained (above and here) a 2-D model at three margins on every seed;
# the slider only picks a stored seed-0 snapshot, nothing retrains. Watch the white gaps of the
# inner ring open with the margin, and the classes' spread (in the title) change with it.

# %%
start = time.perf_counter()
grid_snaps = {}  # (head, margin, seed) -> Snapshot
for head, grid in MARGIN_GRID.items():
    for m in grid:
        for seed in SEEDS:
            if m == grid[-1]:  # the paper's margin: the run above
                snap = next(s for s in snaps[2] if s.head == head and s.seed == seed)
                snap.margin = m
            else:
                snap = train_head(head, 2, data, margin=m, seed=seed, epochs=EPOCHS, lr=LR,
                                  hidden=HIDDEN)  # fmt: skip
            grid_snaps[head, m, seed] = snap
more = len(SEEDS) * sum(len(grid) - 1 for grid in MARGIN_GRID.values())
print(f"margin grid: {more} more runs ({time.perf_counter() - start:.0f} s)")
margin_snaps = {(head, m): grid_snaps[head, m, SEEDS[0]] for head, grid in MARGIN_GRID.items()
                for m in grid}  # fmt: skip

# %%
head_choice = widgets.Dropdown(options=list(MARGIN_GRID), value="ArcFace", description="head")
margin_choice = widgets.SelectionSlider(options=list(MARGIN_GRID["ArcFace"]),
                                        value=MARGIN_GRID["ArcFace"][-1], description="margin m",
                                        continuous_update=False)  # fmt: skip


def _new_head(change):
    grid = list(MARGIN_GRID[change["new"]])
    margin_choice.options, margin_choice.value = grid, grid[-1]


head_choice.observe(_new_head, names="value")


def show_margin(head, m):
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    draw_circle(margin_snaps[head, m], ax)
    plt.show()


out = widgets.interactive_output(show_margin, {"head": head_choice, "m": margin_choice})
out.layout.height = "480px"
display(widgets.HBox([head_choice, margin_choice]), out)

# %% [markdown]
# The same snapshots side by side (what the slider shows, for a printed copy):

# %%
fig, axes = plt.subplots(3, 3, figsize=(10, 10.5))
for row, (head, grid) in zip(axes, MARGIN_GRID.items()):
    for ax, m in zip(row, grid):
        draw_circle(margin_snaps[head, m], ax)
fig.suptitle("Each margin head at three margins (2-D, seed 0; SphereFace m = 1 has no margin)")
fig.tight_layout()
plt.show()

# %% [markdown]
# At $m = 0$ (CosFace, ArcFace) or $m = 1$ (SphereFace) the inner ring has no gaps: the head is
# NormFace (SphereFace with $m = 1$ keeps the feature norm as its scale). With the margin the
# gaps open: the share of directions where no class wins with its margin grows with the margin,
# by construction (asserted on every seed). Does the spread follow? The cell prints seed 0's
# spreads (the figure above) and whether they shrink at every step, then the paired
# per-seed difference between no margin and the paper's margin over all seeds, judged by the
# course's rule. One seed is not enough to tell: seeds move the 2-D spread by degrees (the 2-D
# table above).


# %%
def gap_share(snap):
    return float((snap.margin_regions < 0).mean())


margin_effect = {}
for head, grid in MARGIN_GRID.items():
    for seed in SEEDS:
        shares = [gap_share(grid_snaps[head, m, seed]) for m in grid]
        assert shares[0] < 0.01 and shares[1] > shares[0] and shares[2] > shares[1], (head, shares)
    shares = [gap_share(margin_snaps[head, m]) for m in grid]
    spreads = [margin_snaps[head, m].stats["spread_deg"] for m in grid]
    steps = "shrinks at every step" if spreads[0] > spreads[1] > spreads[2] else "not monotone"
    print(f"{head}, m = {grid}\n  seed 0: share of the circle in a margin gap "
          f"{[round(g, 2) for g in shares]}\n  seed 0: spread {[round(v, 1) for v in spreads]}° "
          f"({steps})")  # fmt: skip
    paper_m, no_m = ([grid_snaps[head, m, s] for s in SEEDS] for m in (grid[-1], grid[0]))
    margin_effect[head] = paired_verdict(paired_spread_gain(paper_m, no_m))
    print(f"  spread at m = {grid[0]} minus at m = {grid[-1]}, per seed: "
          f"{margin_effect[head].describe(unit='°')}: {margin_effect[head].verdict}")  # fmt: skip

# %% [markdown]
# ## A 64-D embedding through UMAP
# Drawing needs 2 or 3 dimensions; learning likes more. With a 64-D embedding (the normalised
# heads use $s = 16$ there) we can still look, through UMAP (cosine metric), and measure the
# same angles. (UMAP's first import compiles numba code, which takes a while the first time.)
# One seed per head: the two spreads come out close (a difference of the size seeds make in the
# tables above, asserted below 5 degrees either way), while ArcFace's class directions are far
# further apart than softmax's (asserted: the smallest inter-class angle by more than 10
# degrees).

# %%
umap_snaps = {head: train_head(head, 64, data, seed=SEEDS[0], epochs=EPOCHS, lr=LR,
                               hidden=HIDDEN) for head in ("softmax", "ArcFace")}  # fmt: skip
fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
for ax, (head, snap) in zip(axes, umap_snaps.items()):
    plot_umap(snap.features[:UMAP_POINTS], snap.labels[:UMAP_POINTS], background_index=-1,
              ax=ax, metric="cosine",
              title=f"{head}, 64-D: acc {100 * snap.accuracy:.1f} %, "
                    f"spread {snap.stats['spread_deg']:.1f}°")  # fmt: skip
fig.suptitle("UMAP of 64-D test embeddings (class k = digit k)")
fig.tight_layout()
plt.show()
for head, snap in umap_snaps.items():
    print(head, {k: round(v, 1) for k, v in angular_stats(snap.features, snap.labels).items()})
arc, soft = umap_snaps["ArcFace"].stats, umap_snaps["softmax"].stats
assert abs(arc["spread_deg"] - soft["spread_deg"]) < 5, (arc, soft)
assert arc["inter_min_deg"] > soft["inter_min_deg"] + 10, (arc, soft)

# %% [markdown]
# ## What we measured vs the paper
#
# The papers show these effects as figures of toy 2-D/3-D embeddings, not as numbers. The claim
# "a cosine or angular margin compacts the classes beyond what the normalisation does" is two
# paired comparisons on the sphere (NormFace's spread minus CosFace's, and minus ArcFace's, seed
# by seed); it holds only if both do (`all_of`). The ledger's verdict comes from the **stored
# reference results**; this run's (teaching size) is printed under the table for comparison.
#
# What even the reference scale cannot reach: the papers' setting is face recognition, with
# 512-D embeddings of a deep CNN, scale $s = 64$, hundreds of thousands of identities' images
# (CASIA-WebFace, MS-Celeb) and verification benchmarks (LFW, MegaFace), where the margin's job
# is to keep *unseen identities* apart. Here six MNIST digits, an MLP, a 3-D embedding and
# $s = 4$: a margin that compacts training classes here may still matter differently there
# (many classes crowd a large sphere; the margin's effect on unseen identities is not measured
# at all), so a verdict here is about MNIST on the sphere, not about faces.


# %%
def spread_3d(head):
    mean, sd = summary[3][head]["spread_deg"]
    return f"{head} {mean:.1f} ± {sd:.1f}°"


teaching_claim = Claim(
    "08-margin-compacts",
    "Related work (CosFace, ArcFace): a cosine or angular margin compacts classes beyond "
    "normalisation", "figures of toy embeddings",
    "3-D MNIST digits 0-5, mean angle to the class direction: "
    + ", ".join(spread_3d(h) for h in ("softmax", "NormFace", "CosFace", "ArcFace"))
    + f"; NormFace - CosFace {beyond_norm['CosFace'].describe(unit='°')}, NormFace - "
    f"ArcFace {beyond_norm['ArcFace'].describe(unit='°')} ({len(SEEDS)} seeds)",
    all_of(beyond_norm.values()))  # fmt: skip
if stored is not None:
    claims = reference_claims(stored)
    display(claims_markdown(claims))
    print(f"this run (teaching size): {teaching_claim.ours}: {teaching_claim.verdict}")
    check_ledger(claims, "08_margin_family")
else:  # an installed copy without results/: the live run only, not compared with the ledger
    display(claims_markdown([teaching_claim]))

# %% [markdown]
# ## Try this
#
# 1. Set the normalised heads' scale to 16 in 2-D (`cplus_edu.experiments.margin_family.scale_for`)
#    and rerun: look for classes that collapse onto one direction (the min inter-class angle
#    drops near 0) and ask why a large $s$ makes a random start harder.
# 2. Train SphereFace with `lambda_=0` (no softmax blend) in 3-D: does it still converge at this
#    size? Compare the spread with the blended version.
# 3. Add digits 6-9 to the five margin heads (ten classes on the circle, 36 degrees apart):
#    what happens to the ArcFace margin of 0.5 rad (28.6 degrees)?

# %% [markdown] tags=["exercises"]
# ## Exercises
# Unlike the "Try this" ideas above, which retrain, these need no training. Each has a hint and an
# answer to unfold (click the small triangle). The code of each answer is in the hidden cell under
# it (click the three dots to show it and its output): it ran with the rest of the chapter, and
# its `assert`s check what the answer says.

# %% [markdown]
# ### Exercise 1 · Four margins at two angles
# For a feature at angle $\theta_y = 10°$ from its class weight, and at $60°$, compute the target
# logit before the scale, $\psi(\theta_y)$, of NormFace ($\cos\theta$), CosFace
# ($\cos\theta - 0.35$), ArcFace ($\cos(\theta + 0.5)$) and SphereFace ($m = 4$, no softmax blend).
# Which head asks most of a feature already near its class, and which of one far from it?
#
# <details><summary>Hint</summary>
#
# Every head has `target_logit(cos_theta)`: build `NormFaceLoss(6, 2)`, `CosFaceLoss(6, 2)`,
# `ArcFaceLoss(6, 2)`, `SphereFaceLoss(6, 2)` (from `cplus_edu.losses`) and pass
# `torch.tensor([math.cos(math.radians(10)), math.cos(math.radians(60))])`. SphereFace's
# $\psi = (-1)^k\cos(m\theta) - 2k$ with $k = \lfloor m\theta/\pi \rfloor$.
#
# </details>
#
# <details><summary>Answer</summary>
#
# At $10°$: NormFace 0.985, CosFace 0.635, ArcFace $\cos 38.6° \approx 0.781$, SphereFace
# $\cos 40° \approx 0.766$: CosFace subtracts the most near the class (a constant 0.35). At
# $60°$: NormFace 0.5, CosFace 0.15, ArcFace $\cos 88.6° \approx 0.024$, SphereFace
# $-\cos 240° - 2 = -1.5$: the angular margins grow with the angle, SphereFace's multiplicative one
# most. CosFace's margin is the same everywhere in cosine, ArcFace's the same everywhere in angle.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
import math

from cplus_edu.losses import ArcFaceLoss, CosFaceLoss, NormFaceLoss, SphereFaceLoss

cosines = torch.tensor([math.cos(math.radians(10)), math.cos(math.radians(60))])
psi = {head.__name__.removesuffix("Loss"): head(6, 2).target_logit(cosines).tolist()
       for head in (NormFaceLoss, CosFaceLoss, ArcFaceLoss, SphereFaceLoss)}  # fmt: skip
for name, (near, far) in psi.items():
    print(f"{name:10} psi(10 deg) {near:6.3f}   psi(60 deg) {far:6.3f}")
assert min(psi, key=lambda h: psi[h][0]) == "CosFace"  # most demanding near the class
assert min(psi, key=lambda h: psi[h][1]) == "SphereFace"  # most demanding far from it
assert abs(psi["SphereFace"][1] + 1.5) < 1e-4
assert abs(psi["ArcFace"][0] - math.cos(math.radians(10) + 0.5)) < 1e-5

# %% [markdown]
# ### Exercise 2 · The scale sets a floor under the loss
# Put six class weights evenly on the circle and give every sample exactly its class's
# direction: a perfect embedding. What is NormFace's loss with $s = 4$ (this chapter's scale in
# 2-D and 3-D) and with $s = 64$ (the face-recognition papers')? What does that say about a small
# $s$?
#
# <details><summary>Hint</summary>
#
# With unit vectors the logits are $s\cos\theta_j$: $s$ for the own class, $s\cos 60°$ for two
# neighbours, $s\cos 120°$ for the next two, $-s$ for the opposite one. Set `head.weight.data`
# to the six directions and call `head(directions, torch.arange(6))`.
#
# </details>
#
# <details><summary>Answer</summary>
#
# With $s = 4$ even the perfect embedding pays $-\log\big(e^4 / (e^4 + 2e^2 + 2e^{-2} +
# e^{-4})\big) \approx 0.24$ per sample: the softmax cannot become confident at this scale, so
# every sample keeps a gradient and the classes keep being pulled together and apart. With
# $s = 64$ the floor is practically 0: as soon as the classes are ordered correctly the loss stops
# pushing, and a random start can settle with two classes sharing one direction, which is why the
# chapter uses $s = 4$ on the circle.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
angles = torch.arange(6) * 2 * math.pi / 6
directions = torch.stack([angles.cos(), angles.sin()], dim=1)  # six unit vectors, 60 deg apart
floor = {}
for s in (4.0, 64.0):
    head = NormFaceLoss(6, 2, scale=s)
    head.weight.data = directions.clone()
    floor[s] = head(directions, torch.arange(6)).item()
by_hand = -math.log(math.exp(4) / (math.exp(4) + 2 * math.exp(2) + 2 * math.exp(-2) + math.exp(-4)))
print(f"perfect embedding, NormFace loss: s = 4 -> {floor[4.0]:.4f} (by hand {by_hand:.4f}), "
      f"s = 64 -> {floor[64.0]:.2e}")  # fmt: skip
assert abs(floor[4.0] - by_hand) < 1e-5 and floor[64.0] < 1e-12

# %% [markdown]
# ### Exercise 3 · What "spread" and "inter-class angle" measure
# Two classes on the circle: class 0 has samples at $-10°$, $+10°$, class 1 at $70°$ and
# $110°$. Compute, by hand and with `angular_stats` (from `cplus_edu.experiments`), the spread (the
# mean angle of a sample to its class's mean direction) and the smallest inter-class angle.
#
# <details><summary>Hint</summary>
#
# The mean direction of a class is its normalised mean vector: $0°$ for class 0, $90°$ for class
# 1.
#
# </details>
#
# <details><summary>Answer</summary>
#
# Class 0's samples are $10°$ from their mean, class 1's $20°$, so the spread is
# $(10 + 10 + 20 + 20)/4 = 15°$; the class means are $90°$ apart. A margin head should make the
# first smaller and keep the second large: the chapter's table reports both per head.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
from cplus_edu.experiments import angular_stats

sample_angles = torch.tensor([-10.0, 10.0, 70.0, 110.0]).deg2rad()
samples = torch.stack([sample_angles.cos(), sample_angles.sin()], dim=1)
stats = angular_stats(samples, torch.tensor([0, 0, 1, 1]))
print({key: round(value, 3) for key, value in stats.items()})
assert abs(stats["spread_deg"] - 15.0) < 1e-6 and abs(stats["inter_min_deg"] - 90.0) < 1e-6

# %%
print(stopwatch.report())
