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
# # 10 · PASCAL VOC at paper scale: the GPU run, proven on the CPU
#
# The C+1 paper's headline segmentation result (its Table 1; [1] in
# [REFERENCES.md](../REFERENCES.md)) is on PASCAL VOC 2012 with
# DeepLabV3+ on a ResNet-50: plain cross-entropy gives **75.93** mIoU, the C+1 loss with
# moving-average centres **77.35**. The baseline is exactly mmsegmentation's model-zoo figure for
# `deeplabv3plus_r50-d8_512x512_20k_voc12aug`, so that recipe is the paper's setting, and
# `cplus_edu.voc` implements it, model and loss included: one command on a GPU machine, the same
# code on a laptop.
#
# | part | mmsegmentation | ours (`cplus_edu.voc`) |
# |---|---|---|
# | backbone | `ResNetV1c`-50: deep stem 3->32->32->64 | `backbone.ResNetV1c(50)` |
# | strides, dilations | (1, 2, 1, 1), (1, 1, 2, 4), `contract_dilation=True` | the same |
# | ImageNet weights | `open-mmlab://resnet50_v1c` | `--backbone-weights open-mmlab` or a file |
# | decode head | `DepthwiseSeparableASPPHead` | `heads.SeparableASPPDecoder` |
# | ASPP | image pool, 1x1, separable 3x3 at rates 12/24/36 | the same |
# | bottleneck, skip | full 3x3 2560->512; 1x1 256->48 from layer1 | the same |
# | decoder | separable 3x3 560->512->512, Dropout2d 0.1, 1x1 | the same |
# | separable conv | BN + ReLU after the depthwise and the pointwise conv | the same (`layers`) |
# | auxiliary head | `FCNHead` on layer3: 3x3 1024->256, weight 0.4 | `heads.FCNHead`, the same |
# | BatchNorm | SyncBN | SyncBatchNorm under DDP on GPUs |
# | size (21 classes) | 43.6 M parameters | the same (tested) |
# | CE averaging | `avg_non_ignore=False`: sum / all pixels of the batch | `ce_average="all"` |
# | recipe | SGD 0.01, poly, 20k x 16, 512x512 crops, transforms, metrics | the same |
#
# This chapter
#
# 1. shows the commands for a GPU machine and works out, **on paper**, what they cost (FLOPs and
#    memory counted from the model, time from assumed GPU throughput: estimates);
# 2. runs the very same runner on the CPU, on a small VOC-format tree generated on disk, for CE and
#    C+1 with two seeds each (`cpu-smoke`: a ResNet-18, 32x32 crops, a few iterations);
# 3. reads a run directory the way you would read a real one: the loss-term curves, per-class IoU,
#    CE vs C+1 side by side, and the paper's Tables 1 and 2 beside the place your numbers go.
#
# The CPU runs use the same model at ResNetV1c-18 size (`cpu-smoke`) from random weights.
#
# The CPU run proves the *machinery* (data layout, transforms, model wiring, loss, evaluation,
# logs); its numbers say nothing about the paper's claim. Point `RUN_DIRS` below at real runs to
# read those instead.

# %% [markdown] tags=["before-you-start"]
# ## Before you start
#
# **You will be able to**
# * launch the paper's VOC runs (cross-entropy and C+1) on a GPU machine, and estimate on paper
#   what they cost;
# * run the very same runner on a CPU, on a generated VOC-format data set, and find your way
#   around a run directory (config, log, checkpoint, metrics);
# * read a run's loss-term curves and per-class IoU, and say which curve would signal a problem;
# * put your own runs' numbers beside the paper's Tables 1 and 2, with the course's verdict rule.
#
# **Prerequisites.** Chapters 01 and 02 (the C+1 loss, its terms and its moving-average centres).
# Semantic segmentation: a class per pixel, intersection over union (IoU) and its mean (mIoU).
# For the GPU part, PyTorch's `torchrun`. DeepLabV3+, ResNet, PASCAL VOC and SBD are cited in
# [REFERENCES.md](../REFERENCES.md); the glossary is [GLOSSARY.md](../GLOSSARY.md).
#
# **Run time.** About a minute or two on a 2-core laptop CPU at teaching size (the GPU runs are
# not part of it); the last cell prints how long this run took.

# %%
from cplus_edu.utils import Stopwatch

stopwatch = Stopwatch()  # the last cell prints the chapter's run time

# %% [markdown]
# ## Parameters
# Teaching size: four `cpu-smoke` runs of a few iterations on 12 generated images, about a minute
# on a 2-core CPU. `RUN_DIRS` may name real run directories written by the GPU commands below,
# one per seed (`{"ce": ["runs/ce-s0", "runs/ce-s1"], "cplus1": [...]}`; also `"compact"` for
# `--beta 0`, `"learnable"`, `"shared"`); their numbers then fill the tables and the verdicts.
# `IMAGE_SIZE = (375, 500)` makes the generated images VOC-sized (slower on a CPU, and no closer
# to the paper: the paper-scale run itself needs GPUs).

# %% tags=["parameters"]
LOSSES = ("ce", "cplus1")
SEEDS = (0, 1)
ITERS = 8  # iterations per CPU run (the paper: 20,000)
N_TRAIN, N_VAL = 8, 4  # generated VOC-format images
IMAGE_SIZE = (48, 64)  # (height, width) of the generated images, varied by +-25 %
RUN_DIRS: dict = {}  # e.g. {"ce": ["runs/ce-s0"], "cplus1": ["runs/cplus1-s0"]} from GPUs

# %%
import json
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from PIL import Image

import cplus_edu
from cplus_edu.experiments import (
    check_ledger,
    claims_markdown,
    comparison_table,
    gpu_estimates,
    paper_tables,
    plot_loss_terms,
    plot_per_class_iou,
    smoke_runs,
    voc_claims,
)
from cplus_edu.voc import (
    VOC_CLASSES,
    format_table,
    get_config,
    list_samples,
    load_checkpoint,
    metrics_from_confusion,
    read_run,
    write_voc_tree,
)

cplus_edu.seed_everything(0)
torch.set_num_threads(2)
workdir = Path(tempfile.mkdtemp(prefix="cplus_edu_ch10_"))

# %% [markdown]
# ## 1. On a GPU machine
#
# Put VOC 2012 and SBD under the data root (`$CPLUS_EDU_DATA`, default `~/.cache/cplus_edu`) in
# torchvision's layouts: `VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets}` and
# `SBD/{img,cls,train.txt,val.txt}` (or mmsegmentation's converted
# `VOCdevkit/VOC2012/SegmentationClassAug`). The training split `trainaug` is then VOC train +
# SBD minus VOC val: 10,582 images. Then, for the CE baseline and the C+1 loss:
#
# ```bash
# torchrun --nproc_per_node 8 -m cplus_edu.voc train --data-root $CPLUS_EDU_DATA \
#     --out runs/ce-s0 --config paper-voc-20k --loss ce --amp --backbone-weights open-mmlab
# torchrun --nproc_per_node 8 -m cplus_edu.voc train --data-root $CPLUS_EDU_DATA \
#     --out runs/cplus1-s0 --config paper-voc-20k --loss cplus1 --centers moving_average \
#     --amp --backbone-weights open-mmlab
# python -m cplus_edu.voc eval --data-root $CPLUS_EDU_DATA --checkpoint runs/ce-s0/last.pt \
#     --out runs/ce-s0/metrics.json
# python -m cplus_edu.voc eval --data-root $CPLUS_EDU_DATA --checkpoint runs/cplus1-s0/last.pt \
#     --out runs/cplus1-s0/metrics.json
# ```
#
# Repeat with `--seed 1`, `--seed 2` (into `runs/*-s1`, ...): the verdict rule needs at least
# two paired seeds, and the paper's gain (+1.42 mIoU) is about the size of mmseg's seed-to-seed
# spread on VOC.
#
# The global batch is 16 whatever the number of GPUs (8 x 2 here, mmseg used 4 x 4); a killed job
# continues with `--resume` from `runs/*/last.pt` (checkpoints every 2,000 iterations). For
# Table 2 add runs with `--centers learnable` and `--centers shared`; `--loss fused` trains with
# chapter 06's fused softmax + positive-sharing loss (`--ws`, `--wp`) under the same recipe.
# `--backbone-weights open-mmlab` downloads mmcv's ImageNet ResNetV1c-50, the checkpoint mmseg's
# config names; offline, pass a local copy of that file instead. `paper-voc-20k` refuses to start
# from random weights unless you say `--backbone-weights none`: such a run cannot come near 75.93.
#
# What would that cost? The cell below counts the FLOPs and the activations saved for backward of
# one 512x512 training image, on PyTorch's `meta` device (shapes only, nothing is computed), and
# turns them into time and memory for a few GPUs at an assumed 30 % of their float32 peak
# throughput. These are **estimates**, not measurements. With AMP we assume only half the float32
# time and no memory saved: tensor-core peaks are 8-16x the float32 ones, but BatchNorm, ReLU, the
# depthwise convolutions and the interpolations are limited by memory traffic, not arithmetic,
# and gain far less (the conservative side; a real run will likely be faster).

# %%
estimate_text, estimate = gpu_estimates()
print(estimate_text)
cost = estimate["cost"]
print(f"forward alone: {cost.forward_flops / 1e9:.0f} GFLOP per image (backward ~2x forward)")
assert round(cost.parameters / 1e6, 1) == 43.6  # mmseg's DeepLabV3+ R50-D8, 21 classes
assert 2.5 < cost.train_flops / cost.forward_flops < 3.5

# %% [markdown]
# ## 2. The same run on the CPU
#
# First a VOC-format tree on disk: JPEG images and *palette* PNG labels with VOC's colour map and
# its void (255) band around every object, plus the `ImageSets/Segmentation` lists. The runner
# cannot tell it from the real thing.

# %%
data_root = write_voc_tree(workdir / "data", n_train=N_TRAIN, n_val=N_VAL, size=IMAGE_SIZE)
train_samples = list_samples("train", data_root)
print(f"{len(train_samples)} train, {len(list_samples('val', data_root))} val images under "
      f"{data_root / 'VOCdevkit' / 'VOC2012'}")  # fmt: skip

fig, axes = plt.subplots(2, 4, figsize=(9, 3.6))
for k, sample in enumerate(train_samples[:4]):
    axes[0, k].imshow(Image.open(sample.image))
    axes[0, k].set_title(sample.image.name, fontsize=8)
    axes[1, k].imshow(Image.open(sample.label))  # the palette PNG, shown in VOC's colours
    axes[1, k].set_title("label (cream = void 255)", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("Generated VOC-format images (top) and palette labels (bottom)")
fig.tight_layout()

# %% [markdown]
# Now the runner itself, called exactly as `python -m cplus_edu.voc train ... --config cpu-smoke`
# and `python -m cplus_edu.voc eval ...` (through `run_cli`, in this process): CE and C+1 with
# moving-average centres, two seeds each. Each run writes `last.pt`, `config.json` and
# `log.jsonl`; the eval writes `metrics.json` (run quietly here; below, one run's per-class table
# as `eval` prints it).

# %%
runs = smoke_runs(data_root, workdir / "runs", losses=LOSSES, seeds=SEEDS, iters=ITERS)
for (loss, seed), run in runs.items():
    state = load_checkpoint(run.path / "last.pt")
    assert state["iteration"] == ITERS and len(run.train) == ITERS, (loss, seed)
    assert all(np.isfinite(r["total"]) for r in run.train)
    assert len(run.metrics["per_class_iou"]) == len(VOC_CLASSES) == 21
print("run directories:", sorted(p.name for p in (workdir / "runs").iterdir()))
print(json.dumps(runs[(LOSSES[-1], SEEDS[0])].train[-1], indent=1))
print(format_table(runs[(LOSSES[-1], SEEDS[0])].metrics))

# %% [markdown]
# ## 3. Reading a run
#
# Every logged iteration has each loss term unweighted, the learning rate and the throughput:
# `separability` is the cross-entropy over all 21 classes (for the CE run it is the whole main
# loss, logged as `ce`), `compact` and `background` are the C+1 loss's centre terms, `aux_ce`
# the auxiliary head's CE, `total` what is minimised (main + 0.4 x aux). Colours tell the losses
# apart, line styles and markers the seeds; the CE runs are drawn wide and pale, under C+1's:
# a CE run and a C+1 run of one seed start from the same weights and see the same images, and
# with alpha = 0.1 their cross-entropies can stay close (the cell prints how close). On the CPU
# the terms are noisy and the runs far too short to converge; on a real run these are the curves
# to watch (a `compact` term that does not fall means the centres and features are not meeting).
# `background` (eq. (2)) is a hinge that only acts on a background feature closer than the
# margin $m_b = 1$ to a centre: the cell prints how close the features came.

# %%
fig = plot_loss_terms(runs)
first = {key: np.mean([r["total"] for r in run.train[:2]]) for key, run in runs.items()}
last = {key: np.mean([r["total"] for r in run.train[-2:]]) for key, run in runs.items()}
print("total loss, first two vs last two iterations:")
for key in runs:
    print(f"  {key[0]:<7} seed {key[1]}: {first[key]:.3f} -> {last[key]:.3f}")
for seed in SEEDS if {"ce", "cplus1"} <= set(LOSSES) else ():
    sep, ce = runs[("cplus1", seed)].curve("separability")[1], runs[("ce", seed)].curve("ce")[1]
    print(f"seed {seed}: C+1's separability term vs the CE run's loss: largest gap "
          f"{np.abs(sep - ce).max():.3f}")  # fmt: skip
background = [r["background"] for (loss, _), run in runs.items() if loss == "cplus1"
              for r in run.train]  # fmt: skip
print(f"C+1 background term: largest {max(background):.4f} over {len(background)} logged "
      "iterations\n(0 = every background feature at least m_b from every centre)")  # fmt: skip
assert np.mean([last[k] < first[k] for k in runs]) >= 0.5, "most runs should reduce their loss"
assert all(0 <= b <= 1 for b in background)  # a mean of [m_b - d]_+ with m_b = 1

# %%
per_loss = {loss: runs[(loss, SEEDS[0])].metrics for loss in LOSSES}
fig = plot_per_class_iou(per_loss, title=f"Per-class IoU, generated val split, seed {SEEDS[0]}")
print(comparison_table(runs))
for loss in LOSSES:  # the classes of the generated data: background, aeroplane, cat, person
    assert per_loss[loss]["per_class_iou"][0] is not None  # background is in every val image

# %% [markdown]
# ### The paper's tables, and where your numbers go
# With `RUN_DIRS` empty the column shows this CPU run (labelled as such: it is a smoke test of
# the code, not a result). With real run directories it shows theirs (the first seed of each).

# %%
real = {name: [read_run(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        for name, paths in RUN_DIRS.items()}  # fmt: skip
if real:
    chosen = {name: group[0].last_eval for name, group in real.items()}
    print("from", {name: [str(run.path) for run in group] for name, group in real.items()})
else:
    chosen = {loss: runs[(loss, SEEDS[0])].metrics for loss in LOSSES}
    print("CPU smoke run (cpu-smoke, generated data): NOT comparable with the paper")
print(
    paper_tables(
        ce=chosen.get("ce"),
        cplus=chosen.get("cplus1"),
        centers={k: chosen[k] for k in ("learnable", "shared") if k in chosen}
        | ({"moving_average": chosen["cplus1"]} if "cplus1" in chosen else {}),
    )
)

# %% [markdown]
# ### What this CPU would need
# The smoke runs logged their throughput; multiplied by the smoke step's counted FLOPs it gives
# the rate this CPU sustained, and the paper's run at that rate.

# %%
throughput = np.median([r["images_per_s"] for run in runs.values() for r in run.train[1:]])
text, numbers = gpu_estimates(cpu_images_per_s=throughput)
print(numbers["cpu_text"])
assert numbers["cpu_days"] > 30  # the paper's run is out of a CPU's reach: hence the GPU chapter

# %% [markdown]
# ## What we measured vs the paper
#
# The ledger rows of this chapter (CLAIMS.md). No GPU run has been made, so every claim is
# **not tested yet**: the CPU runs above prove the runner (it trains, checkpoints, evaluates and
# logs CE and C+1 on VOC-format data; kill-and-resume and 2-process DDP are proven in
# `tests/test_voc_engine.py`), and their numbers, from an untrained network that mostly finds the
# background, carry no information about CE against C+1. Given real runs in `RUN_DIRS` (at least
# two seeds per loss), the same cell applies the course's verdict rule to their per-seed mIoU
# differences.

# %%
claims = voc_claims(runs, real)
assert [c.id for c in claims] == ["10-table1-cplus1", "10-table1-compact", "10-table2-centres"]
display(claims_markdown(claims))
if real:
    print("verdicts from your runs in RUN_DIRS; CLAIMS.md lists the repository's (no GPU run)")
else:
    assert {c.verdict for c in claims} == {"not tested yet"}
    check_ledger(claims, "10_voc_paper_scale")

# %% [markdown]
#

# %% [markdown]
# ## Try this
# These take longer than the chapter or need a terminal or GPUs; there is no worked answer.
# * **Longer CPU runs.** Set `ITERS = 40` and rerun: the `compact` term of C+1 should fall as the
#   moving-average centres and the features find each other; does the CE run's mIoU move first?
# * **Kill and resume.** Run `python -m cplus_edu.voc train --config cpu-smoke --loss cplus1
#   --centers shared ...` in a terminal, stop it with Ctrl-C half way and rerun with `--resume`:
#   compare `log.jsonl` with an uninterrupted run (every iteration appears once, with the same
#   numbers).
# * **The real thing.** On a GPU machine, run the commands of section 1 for two or three seeds and
#   set `RUN_DIRS`: is C+1's gain over CE close to the paper's +1.42 mIoU, and on which classes
#   (the per-class bars) does it come?

# %% [markdown] tags=["exercises"]
# ## Exercises
# Unlike the "Try this" ideas above, which retrain, these need no training. Each has a hint and an
# answer to unfold (click the small triangle). The code of each answer is in the hidden cell under
# it (click the three dots to show it and its output): it ran with the rest of the chapter, and
# its `assert`s check what the answer says.

# %% [markdown]
# ### Exercise 1 · How much does the paper's run see?
# The recipe is 20,000 iterations at a global batch of 16 crops, with a "poly" learning rate.
# How many passes over VOC's `trainaug` (10,582 images) is that, and what is the learning rate
# half way through? Read both from `get_config("paper-voc-20k")`.
#
# <details><summary>Hint</summary>
#
# The config has `iterations`, `global_batch`, `lr`, `min_lr` and `power`; mmseg's poly rate is
# $(lr - lr_{min})(1 - it/iterations)^{power} + lr_{min}$.
#
# </details>
#
# <details><summary>Answer</summary>
#
# $20{,}000 \times 16 = 320{,}000$ crops, about 30 passes over `trainaug`: not much for a
# ResNet-50, which is why the recipe starts from ImageNet weights. Half way, the rate is
# $(0.01 - 0.0001) \cdot 0.5^{0.9} + 0.0001 \approx 0.0054$, a little more than half the initial
# rate (the power 0.9 makes the decay slightly slower than linear at first).
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
paper_cfg = get_config("paper-voc-20k")
crops = paper_cfg.iterations * paper_cfg.global_batch
half_way = ((paper_cfg.lr - paper_cfg.min_lr) * (1 - 0.5) ** paper_cfg.power + paper_cfg.min_lr)
print(f"{crops:,} crops = {crops / 10_582:.1f} passes over trainaug; lr half way {half_way:.5f}")
assert crops == 320_000 and 30 < crops / 10_582 < 31
assert 0.005 < half_way < 0.0055

# %% [markdown]
# ### Exercise 2 · IoU from a confusion matrix
# A 3-class confusion matrix (rows: true class, columns: predicted) counts
# `[[50, 5, 0], [10, 30, 0], [0, 0, 0]]`: class 2 is nowhere. Compute each class's IoU and the
# mIoU by hand, then with `metrics_from_confusion`.
#
# <details><summary>Hint</summary>
#
# IoU of class $k$ = true positives / (true positives + false positives + false negatives): the
# diagonal entry over its row sum plus its column sum minus itself. What should a class that is
# neither labelled nor predicted count for?
#
# </details>
#
# <details><summary>Answer</summary>
#
# Class 0: $50 / (55 + 60 - 50) = 50/65 \approx 0.769$; class 1: $30 / (40 + 35 - 30) = 30/45
# \approx 0.667$. Class 2 has $0/0$: it is left out (`None`), not counted as 0, so the mIoU is
# the mean of the two, about 71.8 %. A class that is *predicted* but never labelled would count
# as 0 and pull the mean down: on the CPU smoke run above, an untrained net does exactly that.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
toy = metrics_from_confusion(torch.tensor([[50, 5, 0], [10, 30, 0], [0, 0, 0]]),
                             class_names=["a", "b", "c"])  # fmt: skip
print("per-class IoU (%):", [None if v is None else round(v, 1) for v in toy["per_class_iou"]],
      f" mIoU {toy['mIoU']:.1f}")  # fmt: skip
assert math.isclose(toy["per_class_iou"][0], 100 * 50 / 65)
assert math.isclose(toy["per_class_iou"][1], 100 * 30 / 45)
assert toy["per_class_iou"][2] is None
assert math.isclose(toy["mIoU"], 100 * (50 / 65 + 30 / 45) / 2)

# %% [markdown]
# ### Exercise 3 · Which classes does a run's mIoU average?
# The generated data holds only a few of VOC's 21 classes. For the first C+1 run, which classes
# have an IoU at all (`metrics["per_class_iou"]` not `None`), and are they exactly the classes
# in the validation labels? Check that `metrics["mIoU"]` is the mean of the defined IoUs.
#
# <details><summary>Hint</summary>
#
# Read each validation label with `np.array(Image.open(sample.label))` for `sample in
# list_samples("val", data_root)`; 255 is the void band, not a class.
#
# </details>
#
# <details><summary>Answer</summary>
#
# Every class that appears in the validation labels has an IoU. A class that is absent from the
# labels has one too when the net *predicts* it somewhere, and then it is 0; only classes neither
# labelled nor predicted are `None`. The mIoU is the mean over the defined ones, so the cell
# prints which classes an untrained net "invents", each one pulling its mIoU down.
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["answer"]
metrics = runs[(LOSSES[-1], SEEDS[0])].metrics
labelled = set()
for sample in list_samples("val", data_root):
    labelled |= set(np.unique(np.array(Image.open(sample.label))).tolist()) - {255}
defined = {k for k, v in enumerate(metrics["per_class_iou"]) if v is not None}
print("labelled in val:", sorted(VOC_CLASSES[k] for k in labelled))
print("predicted only :", sorted(VOC_CLASSES[k] for k in defined - labelled))
assert labelled <= defined
assert all(metrics["per_class_iou"][k] == 0 for k in defined - labelled)
defined_ious = [metrics["per_class_iou"][k] for k in defined]
assert math.isclose(metrics["mIoU"], sum(defined_ious) / len(defined_ious), rel_tol=1e-9)

# %%
print(stopwatch.report())
