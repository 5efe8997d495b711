"""Chapter 10's recipes: CPU smoke runs of the VOC runner, reading runs, the paper's Tables 1-2.

Everything here drives ``cplus_edu.voc`` exactly as its command line does (``run_cli``), so the
chapter runs the same code an instructor runs with ``torchrun`` on GPUs.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from cplus_edu.experiments.ledger import Claim
from cplus_edu.experiments.tables import mean_std
from cplus_edu.experiments.verdicts import NOT_TESTED, paired_verdict
from cplus_edu.voc import (
    VOC_CLASSES,
    Run,
    count_step,
    get_config,
    gpu_estimate,
    read_run,
    run_cli,
)
from cplus_edu.voc.estimates import AMP_SPEEDUP

#: the C+1 paper's Table 1 (PASCAL VOC val, DeepLabV3+ R50, 20k iterations): mIoU, mAcc, aAcc
PAPER_TABLE1 = {
    "L_sep (CE)": (75.93, 85.47, 94.59),
    "L_sep + L_compact": (76.25, 86.10, 94.61),
    "L_sep + L_compact + L_background (C+1)": (77.35, 86.37, 94.58),
}
#: the C+1 paper's Table 2: the three centre representations (alpha 0.1, beta 1e-4)
PAPER_TABLE2 = {
    "learnable": (76.68, 86.29, 94.71),
    "moving_average": (77.35, 86.70, 94.87),
    "shared": (76.99, 86.57, 94.79),
}

#: GPUs the estimates are worked out for: (name, float32 peak TFLOP/s from the vendor's data
#: sheet, AMP?); AMP's gain is ``estimates.AMP_SPEEDUP`` (conservative: 2x)
GPUS = (("V100 fp32", 15.7, False), ("V100 AMP", 15.7, True), ("A100 AMP", 19.5, True))


def smoke_runs(data_root, out_dir, *, losses=("ce", "cplus1"), seeds=(0, 1), iters: int = 8,
               centers: str = "moving_average", threads: int | None = None) -> dict:  # fmt: skip
    """Train and evaluate ``cpu-smoke`` runs: ``{(loss, seed): Run}``, each with metrics.json."""
    runs = {}
    for loss in losses:
        for seed in seeds:
            out = Path(out_dir) / f"{loss}-seed{seed}"
            args = ["--data-root", str(data_root), "--config", "cpu-smoke"]
            extra = ["--threads", str(threads)] if threads else []
            run_cli(["train", *args, "--out", str(out), "--loss", loss, "--centers", centers,
                     "--iters", str(iters), "--seed", str(seed), "--checkpoint-every",
                     str(iters), "--eval-every", str(10 * iters), *extra])  # fmt: skip
            run_cli(["eval", "--data-root", str(data_root), "--checkpoint", str(out / "last.pt"),
                     "--out", str(out / "metrics.json"), "--quiet", *extra])  # fmt: skip
            runs[(loss, seed)] = read_run(out)
    return runs


def _mean_std_text(values) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}"


def comparison_table(runs: dict) -> str:
    """mIoU / mAcc / aAcc per loss, mean ± std over seeds, as text."""
    by_loss: dict[str, list[Run]] = {}
    for (loss, _), run in runs.items():
        by_loss.setdefault(loss, []).append(run)
    lines = [f"{'loss':<10}{'runs':>5}{'mIoU':>18}{'mAcc':>18}{'aAcc':>18}"]
    for loss, group in by_loss.items():
        cells = [_mean_std_text([r.last_eval[k] for r in group]) for k in ("mIoU", "mAcc", "aAcc")]
        lines.append(f"{loss:<10}{len(group):>5}" + "".join(f"{c:>18}" for c in cells))
    return "\n".join(lines)


#: the loss terms a run logs, and the CE run's name for L_separability (CE *is* that term)
LOSS_TERMS = ("separability", "compact", "background", "aux_ce", "total")
_ALIASES = {("ce", "separability"): "ce"}


def plot_loss_terms(runs: dict, terms=LOSS_TERMS):
    """One panel per loss term, every run's curve: a colour per loss, a line style and marker per
    seed (a term a loss does not have is skipped); the legend has a panel of its own. CE runs are
    drawn wide and underneath: with the seed's weights and images, C+1's separability term can
    lie right on the CE run's loss."""
    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    colours = {"ce": "tab:blue", "cplus1": "tab:orange", "fused": "tab:green"}
    seeds = sorted({seed for _, seed in runs})
    styles = dict(zip(seeds, [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")] * 4))
    for ax, term in zip(axes.flat, terms):
        for (loss, seed), run in runs.items():
            it, values = run.curve(_ALIASES.get((loss, term), term))
            if len(it):
                line, marker = styles[seed]
                wide = loss == "ce"
                ax.plot(it, values, color=colours.get(loss, "k"), ls=line, marker=marker,
                        ms=7 if wide else 4, lw=4 if wide else 1.5, alpha=0.5 if wide else 0.9,
                        zorder=1 if wide else 2, label=f"{loss}, seed {seed}")  # fmt: skip
        title = "separability (C+1's CE; the CE run's loss)" if term == "separability" else term
        ax.set(title=title, xlabel="iteration", ylabel="loss term (unweighted)")
        ax.grid(alpha=0.3)
    legend_ax = axes.flat[len(terms)]
    legend_ax.axis("off")
    entries = {}  # every run once, from whichever panel drew it
    for ax in axes.flat[: len(terms)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    legend_ax.legend(entries.values(), entries.keys(), loc="center", title="run")
    fig.suptitle("Logged loss terms per iteration (log.jsonl)")
    fig.tight_layout()
    return fig


def plot_per_class_iou(named_metrics: dict, title: str = "Per-class IoU on the val split"):
    """Per-class IoU bars, one bar group per class, one colour per named metrics dict; classes
    undefined in every run (absent from labels and predictions) are left out."""
    keep = [i for i in range(len(VOC_CLASSES))
            if any(m["per_class_iou"][i] is not None for m in named_metrics.values())]  # fmt: skip
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(keep) * len(named_metrics)), 3.2))
    width = 0.8 / len(named_metrics)
    for j, (name, m) in enumerate(named_metrics.items()):
        values = [m["per_class_iou"][i] or 0.0 for i in keep]
        ax.bar(np.arange(len(keep)) + j * width, values, width, label=f"{name} (mIoU "
               f"{m['mIoU']:.1f})")  # fmt: skip
    ax.set_xticks(np.arange(len(keep)) + 0.4 - width / 2, [VOC_CLASSES[i] for i in keep])
    ax.set(ylabel="IoU (%)", ylim=(0, 100), title=title, xlabel="class (those in the data)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def paper_tables(ce: dict | None = None, cplus: dict | None = None,
                 centers: dict | None = None) -> str:  # fmt: skip
    """The paper's Tables 1 and 2 with a column for a run's numbers (``-`` where none)."""

    def row(name, paper, got):
        ours = "  ".join(f"{got[k]:6.2f}" for k in ("mIoU", "mAcc", "aAcc")) if got else "-"
        return f"{name:<42}{paper[0]:>7.2f}{paper[1]:>7.2f}{paper[2]:>7.2f}   {ours}"

    head = f"{'':<42}{'mIoU':>7}{'mAcc':>7}{'aAcc':>7}   your run (mIoU mAcc aAcc)"
    t1 = list(PAPER_TABLE1.items())
    lines = [
        "C+1 paper, Table 1: loss terms",
        head,
        row(*t1[0], ce),
        row(*t1[1], None),
        row(*t1[2], cplus),
        "",
        "C+1 paper, Table 2: centre representations",
        head,
    ]
    lines += [row(k, v, (centers or {}).get(k)) for k, v in PAPER_TABLE2.items()]
    return "\n".join(lines)


def gpu_estimates(cpu_images_per_s: float | None = None) -> tuple[str, dict]:
    """Per-GPU memory and time of ``paper-voc-20k`` on 8 and 4 GPUs of each kind in ``GPUS``
    (estimates from the step's counted FLOPs at 30 % of the float32 peak, AMP at
    ``AMP_SPEEDUP`` x that), and, given the CPU smoke run's measured images/s, the GFLOP/s this
    CPU sustained and what 20k paper iterations would take on it."""
    paper, smoke = get_config("paper-voc-20k"), get_config("cpu-smoke")
    cost, smoke_cost = count_step(paper), count_step(smoke)
    lines = [f"paper step: {cost.train_flops / 1e9:.0f} GFLOP per 512x512 image (forward + "
             f"backward, counted), {cost.parameters / 1e6:.1f} M parameters,",
             f"{cost.activation_bytes / 2**30:.2f} GiB of saved float32 activations per image", "",
             f"{'GPUs':<16}{'x imgs':>7}{'s/iter':>8}{'20k iters':>11}{'GiB/GPU':>9}"]  # fmt: skip
    for name, tflops, amp in GPUS:
        for gpus in (8, 4):
            e = gpu_estimate(cost, paper, gpus=gpus, fp32_tflops=tflops, amp=amp)
            lines.append(f"{gpus} x {name:<12}{e.images_per_gpu:>7}{e.seconds_per_iteration:>8.2f}"
                         f"{e.hours:>9.1f} h{e.memory_gib_per_gpu:>9.1f}")  # fmt: skip
    result = {"cost": cost, "smoke_cost": smoke_cost}
    if cpu_images_per_s:
        gflops = smoke_cost.train_flops * cpu_images_per_s / 1e9
        hours = cost.train_flops * paper.global_batch * paper.iterations / (gflops * 1e9) / 3600
        cpu = [f"this CPU sustained {gflops:.1f} GFLOP/s on the smoke model; at that rate",
               f"the paper's 20k iterations would take ~{hours / 24:.0f} days here"]  # fmt: skip
        lines += ["", *cpu]
        result.update(cpu_gflops=gflops, cpu_days=hours / 24, cpu_text="\n".join(cpu))
    lines += [f"(estimates: 30 % of the float32 peak; AMP assumed {AMP_SPEEDUP:.0f}x faster and "
              "no smaller;", " memory without the CUDA context)"]  # fmt: skip
    return "\n".join(lines), result


def _miou_by_seed(runs) -> dict[int, float]:
    return {run.config.get("seed", i): run.last_eval["mIoU"] for i, run in enumerate(runs)}


def paired_miou_differences(method, baseline) -> list[float]:
    """mIoU of each ``method`` run minus the ``baseline`` run with the same seed
    (``config.json``'s ``seed``); seeds without a partner are left out."""
    m, b = _miou_by_seed(method), _miou_by_seed(baseline)
    return [m[seed] - b[seed] for seed in sorted(m) if seed in b]


def _compare(real, method, baseline, paper_effect, names):
    """(ours text, verdict) of ``method`` against ``baseline`` (lists of runs, or ``None``)."""
    if not (real.get(method) and real.get(baseline)):
        return None
    diffs = paired_miou_differences(real[method], real[baseline])
    ev = paired_verdict(diffs, paper_effect=paper_effect)
    means = " vs ".join(_mean_std_text(_miou_by_seed(real[k]).values()) for k in names)
    return f"mIoU {means}: paired {ev.describe(digits=2)}", ev.verdict


def voc_claims(smoke: dict, real: dict | None = None) -> list[Claim]:
    """Chapter 10's ledger rows. ``smoke``: ``{(loss, seed): Run}`` of the CPU smoke runs (a
    test of the runner, never evidence); ``real``: ``{name: [Run, ...]}`` of GPU runs, names
    ``ce``, ``cplus1`` (moving-average centres), ``compact`` (``--beta 0``), ``learnable``,
    ``shared``, one run per seed. Without real runs every verdict is *not tested yet*; with them,
    the shared rule on per-seed mIoU differences (Table 2: moving average minus the better of
    learnable and shared)."""
    real = real or {}
    by_loss: dict[str, list] = {}
    for (loss, _), run in smoke.items():
        by_loss.setdefault(loss, []).append(run)
    iters = max(len(run.train) for run in smoke.values())
    smoke_text = ", ".join(f"{loss} {_mean_std_text([r.last_eval['mIoU'] for r in group])}"
                           for loss, group in by_loss.items())  # fmt: skip
    untested = (f"no GPU run yet; CPU smoke runs ({len(smoke)} runs of {iters} iterations on "
                f"generated data) give mIoU {smoke_text}: a test of the runner, not of the "
                "claim")  # fmt: skip
    table2 = None
    if real.get("cplus1") and real.get("learnable") and real.get("shared"):
        learnable, shared = _miou_by_seed(real["learnable"]), _miou_by_seed(real["shared"])
        diffs = [m - max(learnable[s], shared[s])
                 for s, m in _miou_by_seed(real["cplus1"]).items()
                 if s in learnable and s in shared]  # fmt: skip
        ev = paired_verdict(diffs, paper_effect=77.35 - 76.99)
        table2 = (f"moving average minus the better of the other two: {ev.describe(digits=2)}",
                  ev.verdict)  # fmt: skip
    rows = [
        ("10-table1-cplus1", "Table 1: C+1 (L_sep + L_compact + L_background, moving-average "
         "centres) beats CE on VOC val, DeepLabV3+ R50 (mmseg 20k recipe)",
         "mIoU 75.93 (CE) vs 77.35 (C+1), +1.42",
         _compare(real, "cplus1", "ce", 1.42, ("ce", "cplus1")), untested),
        ("10-table1-compact", "Table 1: L_sep + L_compact alone beats CE",
         "mIoU 76.25 vs 75.93, +0.32", _compare(real, "compact", "ce", 0.32, ("ce", "compact")),
         "no GPU run yet (`--loss cplus1 --beta 0`); not run on the CPU"),
        ("10-table2-centres", "Table 2: moving-average centres beat learnable and shared ones",
         "mIoU 76.68 / 77.35 / 76.99 (learnable / moving average / shared)", table2,
         "no GPU run yet; the three centre kinds run on the CPU smoke config in the tests only"),
    ]  # fmt: skip
    return [Claim(cid, claim, paper, *(measured or (fallback, NOT_TESTED)))
            for cid, claim, paper, measured, fallback in rows]  # fmt: skip
