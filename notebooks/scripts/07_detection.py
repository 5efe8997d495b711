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
# # 07 · Detection: when the classifier and the box regressor disagree
#
# A one-stage detector such as RetinaNet reads one feature map and answers two questions at every
# anchor: *what is here?* (a classification score) and *where exactly is it?* (a box). The poster
# behind this chapter ([4] in [REFERENCES.md](../REFERENCES.md): RetinaNet on COCO and VOC 2007;
# no code or full text is public)
# starts from an observation called **task spatial misalignment**: the two heads are sensitive to
# different parts of the same object. The box cares about the object's edges and extremities, the
# classifier about its most telling parts. Three consequences, and the poster's three fixes:
#
# * **a hedge**: a well-classified box can be badly placed and vice versa. Fix: the **DC loss**
#   weighs each positive anchor's classification loss by the reciprocal of its localisation
#   error (eqs. 1-3).
# * **misjudged anchors**: anchors are labelled by IoU alone; for an irregular object an anchor on
#   the object's mass can have a small IoU and is trained as background. Fix: the **IAC score**
#   also labels an anchor positive when `alpha * p + (1 - alpha) * intersection / min-area` is
#   high (eqs. 4-5).
# * **score-only NMS**: NMS keeps the highest-scored box of a cluster, whatever its placement.
#   Fix: **CL-balanced NMS** keeps the box that balances score and distance to the score-weighted
#   cluster centre (eqs. 6-7).
#
# We build all three on a tiny detector that trains on a CPU in seconds, on synthetic
# scenes of *irregular* objects (thin rotated bars, L shapes, triangles: the box centre is not
# where the object's mass is), then on MNIST digits placed on a canvas. We measure mAP, AP50 and
# AP75 with `torchmetrics` (COCO protocol) over several seeds, beside the poster's Table 2.

# %% [markdown] tags=["before-you-start"]
# ## Before you start
#
# **You will be able to**
# * explain task spatial misalignment from the classification and localisation sensitivity maps
#   of a detector;
# * compute the IoU-classification-aware (IAC) score of an anchor, and find anchors it labels
#   positive that IoU alone would not;
# * state what the dynamic coefficient (DC) loss and CL-balanced NMS change, and check each on a
#   small example;
# * compare detector components step by step over seeds (mAP, AP50, AP75) with paired verdicts.
#
# **Prerequisites.** Chapter 00 (classes of interest against the background). Object detection:
# anchors, intersection over union (IoU), non-maximum suppression (NMS), the focal loss of
# RetinaNet, and mean average precision. Chapters 01-06 are not needed. The poster is [4] in
# [REFERENCES.md](../REFERENCES.md), which also cites RetinaNet and COCO; the glossary,
# [GLOSSARY.md](../GLOSSARY.md), defines *task spatial misalignment*, *IAC*, *DC loss* and
# *CL-balanced NMS*.
#
# **Run time.** About a minute or two on a 2-core laptop CPU at teaching size; the last cell
# prints how long this run took.

# %%
from cplus_edu.utils import Stopwatch

stopwatch = Stopwatch()  # the last cell prints the chapter's run time

# %% [markdown]
# ## Parameters
# Two scales, one code path (`cplus_edu/experiments/detection.py`, `SCALES`). **This run is the
# teaching size**: 3 training settings x 3 seeds of a ~80k-parameter detector on 300 scenes of
# 64 x 64 pixels, 6 epochs in batches of 8, plus a run of two settings on digit scenes; the
# training cell prints each run's time and the last cell the chapter's. It illustrates; its
# detectors are far from trained, so it decides nothing. The **reference scale** (more scenes,
# longer training, five seeds of every setting on the shape scenes) was run once with
# `python -m cplus_edu.experiments run 07_detection --scale reference`; its stored results are
# shown beside this run below, and the claims ledger takes its verdicts from them.
# `SCALE = "reference"` would retrain it here (half an hour of CPU or more).

# %% tags=["parameters"]
SCALE = "teaching"

# %%
import statistics

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torchvision.ops import batched_nms, box_iou

import cplus_edu
from cplus_edu.detection import (
    apply_nms,
    assign_anchors,
    cl_balanced_nms,
    class_prob_per_gt,
    draw_boxes,
    plot_anchor_labels,
    plot_detections,
    plot_nms_clusters,
    plot_sensitivity,
    sensitivity_maps,
)
from cplus_edu.experiments import (
    TABLE2_STEPS,
    Claim,
    check_ledger,
    claims_markdown,
    component_table,
    format_component_table,
    format_steps,
    gamma_sweep,
    make_scenes,
    misalignment_shares,
    paired_step,
    paired_verdict,
    plot_reference_steps,
    reference_claims,
    reference_steps,
    reference_study,
    row_summary,
    run_components,
    score_iou_correlation,
    training_kwargs,
)
from cplus_edu.experiments.reference import describe_provenance, load_results, scale_params

P = scale_params("07_detection", SCALE)  # after the parameters cell, so papermill's -p applies
SEEDS, DIGIT_SEEDS = P["seeds"], P["digit_seeds"]
ALPHA = P["alpha"]  # eq. (4): weight of the classification probability in the IAC score
SCORE_THRESHOLD = P["score_threshold"]  # eq. (5): IAC score above which an anchor is positive
GAMMA = P["gamma"]  # eq. (7): weight of the distance penalty in CL-balanced NMS
# tiny models: one thread is faster than two that wait for each other on a busy 2-core machine
torch.set_num_threads(1)
cplus_edu.seed_everything(0)

# %% [markdown]
# ## The scenes
# Three classes of irregular objects, randomly rotated, on a noisy background. The red boxes are
# the ground truth: for a diagonal bar most of its box is background, and for an L or a triangle
# the box centre lies off the object.

# %%
train, test = make_scenes(P, "shapes")
fig, axes = plt.subplots(1, 6, figsize=(13, 2.6))
for ax, i in zip(axes, range(6)):
    ax.imshow(test.images[i, 0], cmap="gray", vmin=0, vmax=1)
    draw_boxes(ax, test.boxes[i], labels=test.labels[i], names=test.class_names)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Test scenes with their ground-truth boxes (64 x 64 pixels)")
plt.show()
counts = torch.cat(train.labels).bincount().tolist()
print(f"{len(train)} training scenes, objects per class {dict(zip(train.class_names, counts))}")

# %% [markdown]
# ## Training: three settings x several seeds
# Every run trains the same `TinyDetector` (four conv layers, a RetinaNet-style head on strides 8
# and 16, 480 anchors) from the same initial weights and data order for a seed. Each cell's
# anchors sit on the centre of the cell's receptive field (pixel `stride * j`, a test checks it),
# not in the middle of its `stride x stride` block, which is 3.5 pixels away at stride 8.
#
# * **baseline**: RetinaNet's rule as torchvision's RetinaNet applies it (IoU >= 0.5 positive,
#   < 0.4 negative, and every object's highest-IoU anchors positive too, so a thin diagonal bar
#   whose box no anchor matches well still gets one), focal loss + GIoU;
# * **+ IAC**: eq. (5) with the IAC score, using the model's own (detached) class probabilities;
# * **+ IAC + DC**: and the dynamic coefficient loss.
#
# The raw predictions (before NMS) of every run on the test scenes are stored, so NMS variants
# and sliders below never retrain.

# %%
study = run_components(train, test, seeds=SEEDS, gamma=GAMMA, **training_kwargs(P))
for (name, seed), run in study.runs.items():
    h = run.history
    print(f"{name:<12s} seed {seed}: {run.seconds:5.1f} s, loss {h.loss[0]:.3f} -> "
          f"{h.loss[-1]:.3f},"
          f" positives per image {h.terms['positives'][-1]:.2f}"
          f" (by IAC score only {h.terms['by_score'][-1]:.2f})")  # fmt: skip
assert all(r.history.loss[-1] < r.history.loss[0] for r in study.runs.values())

# %% [markdown]
# ## Task spatial misalignment, made visible
# For a detection we take the gradient of its classification score and of its four box
# coordinates with respect to the input pixels (the poster's Figure 1 idea). Bright pixels are
# the ones that would change the answer most. The figure shows the first seed's baseline
# detector; the measurement below uses every seed's.

# %%
shares_by_seed = {s: misalignment_shares(study.runs[("baseline", s)].model, test,
                                          max_objects=P["misalignment_objects"])
                  for s in SEEDS}  # fmt: skip
base, shares = study.runs[("baseline", SEEDS[0])].model, shares_by_seed[SEEDS[0]]
fig, axes = plt.subplots(3, 3, figsize=(11, 10))
for row, (i, j, anchor) in zip(axes, shares["index"][:3].tolist()):
    cls_map, box_map = sensitivity_maps(base, test.images[i], anchor, int(test.labels[i][j]))
    name = test.class_names[int(test.labels[i][j])]
    plot_sensitivity(row, test.images[i], cls_map, box_map, box=test.boxes[i][j],
                     mask=test.masks[i][j], title=f"scene {i}: {name}")  # fmt: skip
fig.suptitle("Where the classifier and the box regressor look (baseline detector)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The same, measured over the test objects: for each object's best detection, the share of each
# map on the object's interior, on a 2-pixel band around its outline, and on the background
# (mean over the detections of each seed's baseline detector).

# %%
regions = ("interior", "boundary", "outside")
boundary_gap, boundary_more = [], []
print("seed  map             " + "  ".join(f"{r:>9s}" for r in regions) + "  detections")
for seed, sh in shares_by_seed.items():
    for name, key in (("classification", "cls"), ("localisation", "box")):
        values = "  ".join(f"{v:9.3f}" for v in sh[key].mean(0).tolist())
        print(f"{seed:>4d}  {name:<14s}  {values}  {len(sh[key]):>10d}")
    boundary_gap.append(float((sh["box"][:, 1] - sh["cls"][:, 1]).mean()))
    boundary_more.append(float((sh["box"][:, 1] > sh["cls"][:, 1]).float().mean()))
misalignment = paired_verdict(boundary_gap)
print("boundary share, localisation minus classification, per seed:",
      misalignment.describe(digits=3))  # fmt: skip
print("share of detections whose localisation map leans more on the outline, per seed:",
      ", ".join(f"{100 * v:.0f}%" for v in boundary_more))  # fmt: skip
# the poster's Figure 1 claim, measured: localisation leans on the margins more than
# classification, for most detections of every seed's detector
assert misalignment.low > 0 and min(boundary_more) > 0.6

# %% [markdown]
# ## The hedge: does the score rank boxes by their placement?
# If classification and localisation were aligned, a higher score would mean a better box. We
# correlate, over raw detections that hit an object, the score with the IoU to that object. The
# DC loss is meant to raise this correlation: it lets the classifier learn most from the anchors
# whose boxes are good.

# %%
corr = {name: [score_iou_correlation(study.runs[(name, s)].raw, test) for s in SEEDS]
        for name in ("baseline", "+ IAC", "+ IAC + DC")}  # fmt: skip
for name, values in corr.items():
    print(
        f"{name:<12s} score-IoU correlation {statistics.fmean(values):.3f} "
        f"± {statistics.stdev(values):.3f}  per seed {[round(v, 3) for v in values]}"
    )
dc_alignment = paired_verdict([d - b for d, b in zip(corr["+ IAC + DC"], corr["baseline"])])
print(f"+ IAC + DC minus baseline, paired per seed: {dc_alignment.describe(digits=3)}")
print(f"  -> {dc_alignment.verdict}")
# the score does rank boxes by placement, but the DC loss does not make it rank them better
# beyond the seed noise here
assert min(statistics.fmean(v) for v in corr.values()) > 0.3
assert dc_alignment.low < 0, dc_alignment

# %% [markdown]
# ## The component table (poster Table 2)
# The poster's numbers are COCO val 2017 with a ResNet-50 RetinaNet; ours are a tiny detector on
# synthetic scenes, so only the *direction* of each step can be compared. The last row applies
# CL-balanced NMS (gamma below) to the stored predictions of the third setting. Below the table,
# each step of Table 2 as a paired difference (the same seed's runs share their initial weights
# and data order), with the 95 % interval of its mean that the course's one verdict rule reads
# (`cplus_edu/experiments/verdicts.py`).

# %%
rows = component_table(study)
print(format_component_table(rows))
print()
print(format_steps(study))
steps = {name: paired_step(study, row, ref) for name, row, ref in TABLE2_STEPS}
# at teaching size every detector is far from trained (the reference scale's baseline is near
# its plateau, well above this): whatever the steps do here, they do it to weak detectors
assert all(5 < r["map"][0] < 40 for r in rows), [(r["row"], r["map"]) for r in rows]

# %% [markdown]
# ## CL-balanced NMS: how much does gamma matter?
# `gamma = 0` is plain greedy NMS (exactly `torchvision.ops.batched_nms`, checked below on every
# test image); larger values move the kept box towards the score-weighted cluster centre.

# %%
raw_full = study.runs[("+ IAC + DC", SEEDS[0])].raw
same = all(
    torch.equal(cl_balanced_nms(r["boxes"], r["scores"], r["labels"], 0.5, 0.0),
                batched_nms(r["boxes"], r["scores"], r["labels"], 0.5))
    for r in raw_full
)  # fmt: skip
assert same, "gamma = 0 must be plain NMS"
sweep = gamma_sweep(study, test, P["gammas"])
print("gamma     AP            AP50          AP75")
for g, m in sweep.items():
    print(
        f"{g:5.2f}  "
        + "  ".join(f"{m[k][0]:5.1f} ± {m[k][1]:3.1f}" for k in ("map", "map_50", "map_75"))
    )
changed = sum(
    not torch.equal(cl_balanced_nms(r["boxes"], r["scores"], r["labels"], 0.5, GAMMA),
                    batched_nms(r["boxes"], r["scores"], r["labels"], 0.5)) for r in raw_full
)  # fmt: skip
print(
    f"gamma = {GAMMA}: the kept boxes differ from plain NMS on {changed} of {len(raw_full)} images"
)
# CL-NMS changes which boxes are kept on most images, yet moves AP by well under one point
ap = [m["map"][0] for m in sweep.values()]
assert changed > len(raw_full) // 2 and max(ap) - min(ap) < 1.0

# %% [markdown]
# ## Slider: which anchors become positive (eq. 4-5)
# The trained `+ IAC + DC` detector's class probabilities on one test scene, and the anchors that
# eq. (5) labels positive as `alpha` moves: green boxes are positive by IoU (RetinaNet's rule),
# orange dashed boxes are positive only through the IAC score; small dots are negatives,
# yellow dots ignored. `alpha = 0` uses geometry alone (every anchor inside the object's box
# scores 1), `alpha = 1` the classifier alone.

# %%
full = study.runs[("+ IAC + DC", SEEDS[0])].model
with torch.no_grad():
    _, (all_logits, _) = full(test.images[:50])
all_probs = torch.sigmoid(all_logits)  # [50, A, K]
# show the scene (of the first 50) where the IAC score adds the most positive anchors
added = [
    int(assign_anchors(full.anchors, test.boxes[i], test.labels[i],
                       class_prob_per_gt(all_probs[i], test.labels[i]), alpha=ALPHA,
                       score_threshold=SCORE_THRESHOLD).by_score.sum())
    for i in range(50)
]  # fmt: skip
SCENE = max(range(50), key=lambda i: added[i])
probs = all_probs[SCENE]  # [A, K]
print(f"scene {SCENE}: {added[SCENE]} anchors positive only through the IAC score at alpha={ALPHA}")


def show_alpha(alpha):
    a = assign_anchors(full.anchors, test.boxes[SCENE], test.labels[SCENE],
                       class_prob_per_gt(probs, test.labels[SCENE]), alpha=alpha,
                       score_threshold=SCORE_THRESHOLD)  # fmt: skip
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    plot_anchor_labels(ax, test.images[SCENE], full.anchors, a, test.boxes[SCENE],
                       title=f"eq. (5) labels, alpha = {alpha:.2f}, score threshold "
                             f"{SCORE_THRESHOLD}")  # fmt: skip
    fig.tight_layout()
    plt.show()


alpha_slider = widgets.FloatSlider(value=ALPHA, min=0.0, max=1.0, step=0.05, description="alpha",
                                   continuous_update=False)  # fmt: skip
out = widgets.interactive_output(show_alpha, {"alpha": alpha_slider})
out.layout.height = "480px"
display(widgets.VBox([alpha_slider, out]))

# %% [markdown]
# ## Slider: which box each cluster keeps (eq. 6-7)
# The stored raw detections (score > 0.3) of the same detector on one scene, coloured by their
# greedy-NMS cluster. White dotted: the box plain NMS keeps (the top score). Thick: the box
# CL-balanced NMS keeps at this `gamma`.

# %%


def changed_clusters(r, min_score=0.3):
    keep = r["scores"] > min_score
    b, s, y = r["boxes"][keep], r["scores"][keep], r["labels"][keep]
    plain = set(batched_nms(b, s, y, 0.5).tolist())
    return len(set(cl_balanced_nms(b, s, y, 0.5, GAMMA).tolist()) - plain), len(plain)


# a scene with few clusters where CL-NMS keeps a different box than plain NMS
stats = [changed_clusters(r) for r in raw_full[:100]]
NMS_SCENE = max(range(100), key=lambda i: (stats[i][0] > 0, -stats[i][1], stats[i][0]))
print(
    f"scene {NMS_SCENE}: {stats[NMS_SCENE][1]} clusters above score 0.3, "
    f"{stats[NMS_SCENE][0]} keep a different box at gamma={GAMMA}"
)


def show_gamma(gamma):
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    plot_nms_clusters(ax, test.images[NMS_SCENE], raw_full[NMS_SCENE], gamma, min_score=0.3,
                      title=f"CL-balanced NMS, gamma = {gamma:.2f}")  # fmt: skip
    draw_boxes(ax, test.boxes[NMS_SCENE], color="tab:red", lw=1, ls="--")
    ax.plot([], [], c="tab:red", ls="--", lw=1, label="ground truth")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    fig.tight_layout()
    plt.show()


gamma_slider = widgets.FloatSlider(value=GAMMA, min=0.0, max=3.0, step=0.25, description="gamma",
                                   continuous_update=False)  # fmt: skip
out = widgets.interactive_output(show_gamma, {"gamma": gamma_slider})
out.layout.height = "480px"
display(widgets.VBox([gamma_slider, out]))

# %% [markdown]
# ## A second set: MNIST digits on a canvas
# Digits are less irregular than L shapes, but their boxes also hold much background (a 1 is a
# thin stroke). The baseline and the full method, with the seeds of `DIGIT_SEEDS` (one at
# teaching size: a direction, not a verdict).

# %%
digit_train, digit_test = make_scenes(P, "digits")
digit_study = run_components(digit_train, digit_test, seeds=DIGIT_SEEDS,
                             settings={"baseline": {"iac": False, "dynamic": False},
                                       "+ IAC + DC": {"iac": True, "dynamic": True}},
                             gamma=GAMMA, **training_kwargs(P))  # fmt: skip
print(format_component_table(component_table(digit_study)))
digit_gain = paired_step(digit_study, "+ IAC + DC + CL-NMS", "baseline")
print(f"whole method minus baseline, AP: {digit_gain.describe(digits=2)} -> {digit_gain.verdict}")
assert all(r.history.loss[-1] < r.history.loss[0] for r in digit_study.runs.values())

# %% [markdown]
# What the full detector finds on the first test scenes: ground truth dashed red with its digit
# under the box, detections (score > 0.3, after CL-balanced NMS) orange with their digit and
# score above it. Below, which digit the best-placed detection of each test digit (IoU > 0.5)
# names: class *k* is the digit *k* in the data, the boxes and the labels drawn, so a wrong name
# is the detector's own mistake (a tiny detector trained for seconds finds digits far better than
# it tells them apart).

# %%
final = apply_nms(digit_study.runs[("+ IAC + DC", DIGIT_SEEDS[0])].raw, gamma=GAMMA)
fig, axes = plt.subplots(1, 5, figsize=(13, 3.0))
for ax, i in zip(axes, range(5)):
    plot_detections(ax, digit_test.images[i], final[i], digit_test.boxes[i], digit_test.labels[i],
                    digit_test.class_names, min_score=0.3, title=f"test scene {i}")  # fmt: skip
fig.suptitle("Digit scenes: ground truth (red, dashed) and detections with score > 0.3 (orange)")
fig.tight_layout()
plt.show()
DIGITS = P["digits"]
confusion = torch.zeros(len(DIGITS), len(DIGITS), dtype=torch.long)
for det, boxes, labels in zip(final, digit_test.boxes, digit_test.labels):
    if len(det["boxes"]):
        iou, best = box_iou(boxes, det["boxes"]).max(dim=1)  # best-placed detection per digit
        for true, named in zip(labels[iou > 0.5].tolist(), det["labels"][best[iou > 0.5]].tolist()):
            confusion[true, named] += 1
total = sum(len(b) for b in digit_test.boxes)
print(f"{int(confusion.sum())} of {total} test digits have a detection with IoU > 0.5; it names")
print(f"the right digit for {int(confusion.trace())} of them. Rows: true digit, columns: named:")
print("     " + "".join(f"{d:>5d}" for d in DIGITS))
for d, row in zip(DIGITS, confusion.tolist()):
    print(f"{d:>5d}" + "".join(f"{v:>5d}" for v in row))

# %% [markdown]
# ## This run's verdicts (teaching size)
# Each verdict is the course's one rule on paired per-seed differences (positive = the poster's
# direction), applied to **this run**. At this size the detectors are far from trained (compare
# their AP with the reference scale's below), so these verdicts only illustrate the rule; the
# ledger does not take them.

# %%
n_seeds = f"{len(SEEDS)} seeds, shape scenes"
live_claims = [
    Claim("07-misalignment", "Task spatial misalignment: the localiser is more sensitive to an "
          "object's margins than the classifier (Figure 1)", "qualitative (saliency figure)",
          f"boundary-band share, box minus score map, per seed: {misalignment.describe(digits=3)};"
          f" box larger for {min(boundary_more):.0%} to {max(boundary_more):.0%} of the "
          f"detections of each seed's baseline", misalignment.verdict),
    Claim("07-iac", "+ IAC anchor assignment (Table 2, COCO val, R50 RetinaNet)",
          "AP 35.9 -> 36.4, AP50 56.1 -> 56.5, AP75 38.6 -> 39.1",
          f"{row_summary(study, 'baseline')} -> {row_summary(study, '+ IAC')}; AP step "
          f"{steps['+ IAC'].describe(digits=2)} ({n_seeds})", steps["+ IAC"].verdict),
    Claim("07-dc-loss", "+ DC loss on top of IAC (Table 2)", "AP 37.1, AP50 56.3, AP75 39.7",
          f"{row_summary(study, '+ IAC + DC')}; AP step {steps['+ DC'].describe(digits=2)}, "
          f"AP75 step {paired_step(study, '+ IAC + DC', '+ IAC', 'map_75').describe(digits=2)}; "
          f"score-IoU correlation {dc_alignment.describe(digits=3)} vs baseline ({n_seeds})",
          steps["+ DC"].verdict),
    Claim("07-cl-nms", "+ CL-balanced NMS on top of IAC + DC (Table 2)",
          "AP 37.5, AP50 56.9, AP75 40.0",
          f"{row_summary(study, '+ IAC + DC + CL-NMS')} at gamma {GAMMA}; AP step "
          f"{steps['+ CL-NMS'].describe(digits=2)}; kept boxes change on "
          f"{changed / len(raw_full):.0%} of the images ({n_seeds})", steps["+ CL-NMS"].verdict),
    Claim("07-second-dataset", "The three components together improve a second data set "
          "(Table 2, VOC 2007 mAP 78.2 -> 79.7)", "+1.5 mAP",
          f"MNIST digit scenes, n = {len(DIGIT_SEEDS)} seed(s): "
          f"{row_summary(digit_study, 'baseline')} -> "
          f"{row_summary(digit_study, '+ IAC + DC + CL-NMS')}; AP {digit_gain.describe(digits=2)}",
          digit_gain.verdict),
]  # fmt: skip
display(claims_markdown(live_claims))

# %% [markdown]
# ## The reference scale: stored results
# The same recipe (`run_job` in `cplus_edu/experiments/detection.py` calls the functions this
# notebook calls), run once at a scale where the baseline detector is near its plateau: more
# training scenes, longer training, five seeds of every setting. These are **stored results**,
# read from `results/07_detection.json`, not this notebook's run; the provenance line says where
# and when they were made. Every variant ran with the same, untuned hyper-parameters (the
# teaching values, fixed before the reference run: learning rate, `alpha`, score threshold,
# `gamma`); no variant got a tuning budget the baseline did not get. The printed parameters say
# whether the digit scenes were run at this scale.

# %%
data = load_results("07_detection")
if data is None:
    print("No stored reference results in this copy (results/07_detection.json): the ledger's "
          "verdicts below fall back to this run's teaching-size ones.")  # fmt: skip
else:
    print(describe_provenance(data))
    R = data["params"]
    print(f"reference scale: {R['n_train']} training and {R['n_test']} test shape scenes, "
          f"{R['epochs']} epochs in batches of {R['batch_size']}, seeds {R['seeds']}; digit "
          f"scenes {R['n_digit_train']} / {R['n_digit_test']}, seeds {R['digit_seeds']}")
    print()
    print("Shape scenes (stored reference results):")
    print(format_component_table(component_table(reference_study(data, "shapes"))))
    print()
    print(format_steps(reference_study(data, "shapes")))
    print()
    if R["digit_seeds"]:
        print("Digit scenes (stored reference results):")
        print(format_component_table(component_table(reference_study(data, "digits"))))
    else:
        print("Digit scenes: not run at the reference scale (CPU budget); the second data set's "
              "claim below is this run's, at teaching size.")  # fmt: skip
    print()
    print("Paired steps, stored reference results (points; 95 % interval of the mean):")
    ap, ap75 = reference_steps(data), reference_steps(data, "map_75")
    for name in ap:
        print(f"  {name:<22s} AP {ap[name].describe(digits=2):<34s} {ap[name].verdict:<28s}"
              f"AP75 {ap75[name].describe(digits=2)}")  # fmt: skip
    plot_reference_steps(data)
    plt.suptitle("Stored reference results: each step's paired difference per seed",
                 y=1.02)  # fmt: skip
    plt.show()

# %% [markdown]
# **What the reference scale cannot reach.** The poster trains a ResNet-50 RetinaNet with a
# feature pyramid (five levels, nine anchors per cell) for about 90k iterations on COCO (118k
# photographs, 80 classes, objects from a few pixels to the whole image) and on VOC 2007. Ours is
# a four-layer detector with two levels and six anchors per cell, trained for minutes on 64 x 64
# synthetic scenes of three shapes (or five digits) on a plain background. Two things may make
# the verdicts differ at paper scale: the poster's gains (+0.4 to +0.7 AP a step) are a few
# tenths of a point, which our seed spread may hide; and the components act on what our scenes
# barely have: IAC on anchors that sit on an object's mass with a low IoU (crowds, occlusion,
# many scales), CL-NMS on clusters of many overlapping boxes, the DC loss on a classifier and a
# box regressor that disagree on cluttered photographs. A step that helps a large detector on
# COCO can do nothing, or harm, on clean scenes a small detector nearly solves, and the reverse.

# %% [markdown]
# ## What we measured vs the paper
# The claims ledger's rows for this chapter, from the **stored reference results** where they
# exist (the "measured at" column says so), by the same rule. The poster's numbers are ResNet-50
# RetinaNet on COCO val 2017 (and VOC 2007 for the second data set); the data differ, so only
# directions are compared, not sizes.

# %%
if data is not None:
    claims = reference_claims(data)  # and this run's verdict where the reference has no runs
    claims += [c for c in live_claims if c.id not in {r.id for r in claims}]
    display(claims_markdown(claims))
    check_ledger(claims, "07_detection")
else:  # the ledger's rows come from the stored results, which this copy lacks
    print("Without the stored results, only this run's teaching-size verdicts (above) exist; "
          "the ledger was not compared.")  # fmt: skip

# %% [markdown]
# Plainly: the live run above is the teaching size, and its detectors are far weaker than the
# reference baseline (compare the two tables), so its steps show how the rule reads paired
# differences and decide nothing. The ledger's verdicts are the reference scale's, where the
# baseline is near its plateau and every setting has five paired seeds. Before these were
# measured the detector's set-up was fixed as RetinaNet builds it (anchors on their cells'
# receptive fields, each object's best anchors positive), so that no component is credited with
# repairing a set-up flaw. Where a step's interval contains 0, the effect is smaller than the
# seed spread of a small detector on clean synthetic scenes; that says nothing about a
# ResNet-50 on COCO, where the poster measured it.

# %% [markdown]
# ## Try this
# 1. Set `SCORE_THRESHOLD = 0.5` and rerun the training cell: more anchors become positive through
#    the IAC score (the printed "by IAC score only" count). Does AP50 move, and AP75?
# 2. In the alpha slider, go to `alpha = 0`: every anchor inside an object's box scores 1. Why
#    does eq. (5) with pure geometry make background anchors positive, and what does the classifier
#    term fix?
# 3. Replace the GIoU box loss by smooth-L1 (`DetectionCriterion(box_loss="smooth_l1")`, via
#    `train_detector`) and compare the score-IoU correlation with and without the DC loss.

# %% [markdown] tags=["exercises"]
# ## Exercises
# Unlike the "Try this" ideas above, which retrain, these need no training. Each has a hint and an
# answer to unfold (click the small triangle). The code of each answer is in the hidden cell under
# it (click the three dots to show it and its output): it ran with the rest of the chapter, and
# its `assert`s check what the answer says.

# %% [markdown]
# ### Exercise 1 · An anchor that IoU calls background
# A thin horizontal bar has the ground-truth box `[0, 0, 40, 10]` (x1, y1, x2, y2). A square
# anchor `[0, 0, 10, 10]` sits on one end of it, and the classifier gives the bar's class
# probability 0.8 there. What are the anchor's IoU and its IAC score (eq. 4, $\alpha = 0.5$)?
# Is it positive under RetinaNet's rule (IoU $\ge 0.5$), and under the IAC rule (score $\ge$
# `SCORE_THRESHOLD`, 0.6 by default)?
#
# <details><summary>Hint</summary>
#
# IoU divides the intersection by the union; the IAC overlap divides it by the *smaller* of the
# two areas. `iac_score(anchors, gt_boxes, cls_prob, alpha)` from `cplus_edu.detection` takes
# `[A, 4]`, `[G, 4]` and `[A, G]` tensors; `torchvision.ops.box_iou` gives the IoU.
#
# </details>
#
# <details><summary>Answer</summary>
#
# The intersection is the whole anchor, 100 pixels; the union is the bar's 400, so the IoU is
# 0.25 and RetinaNet trains this anchor as background. The overlap over the smaller area is
# $100/100 = 1$, so the IAC score is $0.5 \cdot 0.8 + 0.5 \cdot 1 = 0.9$: positive. For long,
# thin or irregular objects IAC keeps anchors that sit *on* the object, which IoU throws away
# because the box is mostly empty.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
from torchvision.ops import box_iou

from cplus_edu.detection import iac_score

bar, square = torch.tensor([[0.0, 0.0, 40.0, 10.0]]), torch.tensor([[0.0, 0.0, 10.0, 10.0]])
anchor_iou = box_iou(square, bar).item()
anchor_iac = iac_score(square, bar, torch.tensor([[0.8]]), alpha=0.5).item()
print(f"IoU {anchor_iou:.2f} (positive: {anchor_iou >= 0.5}); IAC score {anchor_iac:.2f} "
      f"(positive at 0.6: {anchor_iac >= 0.6})")  # fmt: skip
assert abs(anchor_iou - 0.25) < 1e-6 and abs(anchor_iac - 0.9) < 1e-6

# %% [markdown]
# ### Exercise 2 · Which box does CL-balanced NMS keep?
# One object, four overlapping boxes of the same class, all 20 x 20: box 0 at `[5, 0, 25, 20]`
# with score 0.6, and boxes 1-3 at `[0, 0, 20, 20]` with score 0.55 each. Greedy NMS keeps the
# top-scored box 0. Which box does `cl_balanced_nms` keep at $\gamma = 0$, $0.5$ and $1$, and
# from which $\gamma$ on does its choice change?
#
# <details><summary>Hint</summary>
#
# Eq. (6): the cluster's centre $\hat c$ is the average of the box centres weighted by
# $e^{f_i}$, with $f_i = \log(p_i / (1 - p_i))$. Eq. (7) as read here: each box scores
# $p_i - \gamma \lVert c_i - \hat c\rVert / \sqrt{w_i h_i}$, and the best score is kept.
#
# </details>
#
# <details><summary>Answer</summary>
#
# The three agreeing boxes pull $\hat c$ towards their centre (x = 10; box 0 is at x = 15), so
# box 0 is about 3.5 pixels from $\hat c$ and the others about 1.5. Box 0 keeps its lead while
# $0.6 - \gamma d_0 > 0.55 - \gamma d_1$, i.e. for $\gamma$ below $0.05 / (d_0 - d_1)$, close to
# 0.48 here. At $\gamma = 0$ the rule is greedy NMS (box 0); at 0.5 and 1 it keeps box 1, the
# lowest index of the three agreeing boxes: the place most boxes agree on beats a slightly higher
# score.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
from cplus_edu.detection import cl_balanced_nms

cluster_boxes = torch.tensor([[5.0, 0, 25, 20]] + [[0.0, 0, 20, 20]] * 3)
cluster_scores = torch.tensor([0.6, 0.55, 0.55, 0.55])
same_class = torch.zeros(4, dtype=torch.long)
weights = (cluster_scores / (1 - cluster_scores)).double()  # exp(logit) = p / (1 - p)
centre_x = (weights * torch.tensor([15.0, 10, 10, 10]).double()).sum() / weights.sum()
d0, d1 = (15 - centre_x).item() / 20, (centre_x - 10).item() / 20  # scale-free distances
switch = 0.05 / (d0 - d1)
kept = {g: cl_balanced_nms(cluster_boxes, cluster_scores, same_class, gamma=g).tolist()
        for g in (0.0, 0.5, 1.0)}  # fmt: skip
print(f"centre x {centre_x:.2f}; choice changes at gamma = {switch:.3f}; kept: {kept}")
assert kept == {0.0: [0], 0.5: [1], 1.0: [1]} and 0.45 < switch < 0.5

# %% [markdown]
# ### Exercise 3 · The DC loss's coefficients
# Two positive anchors have the same classification loss, 1.0. Anchor A's predicted box equals
# its ground truth `[0, 0, 20, 20]`; anchor B's is shifted by half a width, `[10, 0, 30, 20]`.
# Which gets the larger coefficient in `dynamic_coefficients`, and what does eq. (2)'s
# normalisation guarantee?
#
# <details><summary>Hint</summary>
#
# Eq. (1): $\lambda = 1 / (\mathrm{Sigmoid}[d^2] + \mathrm{Tanh}(|\text{aspect-ratio gap}|) +
# \varepsilon)$ with $d^2$ the squared centre distance over the ground truth's area. Eq. (2)
# rescales the $\lambda$ so that the weighted classification loss keeps its total.
#
# </details>
#
# <details><summary>Answer</summary>
#
# A has no localisation error: $\lambda_A = 1/(\mathrm{Sigmoid}(0) + 0) = 2$; B has
# $d^2 = 10^2 / 400 = 0.25$ and $\lambda_B = 1/\mathrm{Sigmoid}(0.25) \approx 1.78$. So the
# well-placed anchor weighs more in the classification loss: the classifier learns most from the
# anchors whose boxes are good, and at test time ranks them first. After eq. (2) the
# coefficients average to 1 weighted by the losses: $\sum_i \lambda'_i L_i = \sum_i L_i$, so the
# DC loss moves the classification loss *between* anchors without changing its size.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
from cplus_edu.detection import dynamic_coefficients

predicted = torch.tensor([[0.0, 0, 20, 20], [10.0, 0, 30, 20]])
matched = torch.tensor([[0.0, 0, 20, 20], [0.0, 0, 20, 20]])
losses = torch.tensor([1.0, 1.0])
coefficients = dynamic_coefficients(predicted, matched, losses)
weighted = float((coefficients * losses).sum())
print(f"coefficients A {coefficients[0]:.3f}, B {coefficients[1]:.3f}; weighted loss "
      f"{weighted:.3f} (unweighted {float(losses.sum())})")
lambda_a, lambda_b = 2.0, 1 / torch.sigmoid(torch.tensor(0.25)).item()
assert coefficients[0] > coefficients[1]
assert abs(coefficients[0].item() / coefficients[1].item() - lambda_a / lambda_b) < 1e-4
assert abs(weighted - 2.0) < 1e-5

# %%
print(stopwatch.report())
