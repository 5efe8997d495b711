"""cplus_edu.voc.estimates (FLOPs, GPU estimates) and chapter 10's recipes (voc_runs)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from cplus_edu.experiments.voc_runs import (  # noqa: E402
    paired_miou_differences,
    plot_loss_terms,
    voc_claims,
)
from cplus_edu.voc import build_model, get_config  # noqa: E402
from cplus_edu.voc.estimates import AMP_SPEEDUP, count_step, flop_counter, gpu_estimate  # noqa: E402
from cplus_edu.voc.runs import Run  # noqa: E402


def conv_flops_by_hand(model, x):
    """2 x multiply-adds of every convolution of a real forward pass, from its output shape."""
    flops = []

    def hook(m, i, o):
        flops.append(
            2 * o.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        )

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.train()
    model(x)
    for h in handles:
        h.remove()
    return flops


@pytest.mark.parametrize("groups", [1, 8])
def test_the_convolution_backward_costs_two_forwards_also_when_grouped(groups):
    conv = nn.Conv2d(8, 16, 3, padding=1, groups=groups, bias=False)
    x = torch.randn(2, 8, 10, 10, requires_grad=True)
    with flop_counter() as fwd:
        y = conv(x)
    with flop_counter() as bwd:
        y.sum().backward()
    by_hand = 2 * y.numel() * (8 // groups) * 9
    assert fwd.get_total_flops() == by_hand and bwd.get_total_flops() == 2 * by_hand
    if groups > 1:  # what torch's own counter says (the reason for flop_counter)
        with FlopCounterMode(display=False) as plain:
            conv(x).sum().backward()
        assert plain.get_total_flops() > 3 * by_hand


def test_count_step_is_every_convolution_counted_by_hand():
    cfg = get_config("cpu-smoke")
    torch.manual_seed(0)
    flops = conv_flops_by_hand(build_model(cfg), torch.randn(2, 3, 32, 32))
    cost = count_step(cfg, size=32, batch=2)
    assert cost.forward_flops == sum(flops) / 2
    # backward: grad of input and of weight for every conv, except the image's gradient
    assert cost.train_flops == (3 * sum(flops) - flops[0]) / 2
    assert cost.parameters == sum(p.numel() for p in build_model(cfg).parameters())


def test_amp_is_assumed_half_the_time_and_no_smaller():
    cfg = get_config("paper-voc-20k")
    cost = count_step(cfg)
    fp32 = gpu_estimate(cost, cfg, gpus=8, fp32_tflops=15.7, amp=False)
    amp = gpu_estimate(cost, cfg, gpus=8, fp32_tflops=15.7, amp=True)
    assert amp.seconds_per_iteration == pytest.approx(fp32.seconds_per_iteration / AMP_SPEEDUP)
    assert amp.memory_gib_per_gpu == fp32.memory_gib_per_gpu and AMP_SPEEDUP <= 3
    # 2 images per GPU at 30 % of 15.7 TFLOP/s
    assert fp32.seconds_per_iteration == pytest.approx(cost.train_flops * 2 / (0.3 * 15.7e12))


def fake_run(loss, seed, miou, background=0.0):
    config = {"loss": loss, "centers": "moving_average", "seed": seed}
    train = [{"iteration": i, "total": 3.0 - i, "aux_ce": 3.0, "lr": 0.01,
              **({"ce": 3.0 - i} if loss == "ce" else
                 {"separability": 3.0 - i, "compact": 1.0, "background": background})}
             for i in (1, 2)]  # fmt: skip
    return Run(Path(f"runs/{loss}-s{seed}"), config, train, [], {"mIoU": miou})


def test_claims_are_not_tested_without_gpu_runs():
    smoke = {(loss, s): fake_run(loss, s, 10.0 + s) for loss in ("ce", "cplus1") for s in (0, 1)}
    claims = voc_claims(smoke)
    assert [c.id for c in claims] == ["10-table1-cplus1", "10-table1-compact", "10-table2-centres"]
    assert {c.verdict for c in claims} == {"not tested yet"}
    assert "ce 10.50 ± 0.71" in claims[0].ours and "4 runs of 2 iterations" in claims[0].ours


def test_claims_from_gpu_runs_follow_the_verdict_rule():
    smoke = {("ce", 0): fake_run("ce", 0, 1.0)}
    real = {"ce": [fake_run("ce", s, 76.0 + 0.1 * s) for s in range(3)],
            "cplus1": [fake_run("cplus1", s, 77.4 + 0.1 * s + 0.05 * (s == 1)) for s in (2, 0, 1)],
            "compact": [fake_run("cplus1", s, 76.0 + (-0.3, 0.3, 0.1)[s]) for s in range(3)],
            "learnable": [fake_run("cplus1", s, 76.7) for s in range(3)],
            "shared": [fake_run("cplus1", s, 77.0 + 0.1 * s) for s in range(3)]}  # fmt: skip
    assert paired_miou_differences(real["cplus1"], real["ce"]) == pytest.approx([1.4, 1.45, 1.4])
    cplus, compact, centres = voc_claims(smoke, real)
    assert cplus.verdict == "holds" and "+1.42" in cplus.ours
    assert compact.verdict == "inconclusive at this scale"
    # moving average minus the better of learnable / shared: +0.4, +0.45, +0.4 (paper: +0.36)
    assert centres.verdict == "holds" and "+0.42 [" in centres.ours


def test_the_loss_term_plot_tells_seeds_apart_and_plots_separability():
    runs = {(loss, s): fake_run(loss, s, 1.0) for loss in ("ce", "cplus1") for s in (0, 1)}
    fig = plot_loss_terms(runs)
    panels = {ax.get_title().split(" ")[0]: ax for ax in fig.axes if ax.get_title()}
    assert {"separability", "compact", "background", "aux_ce", "total"} <= set(panels)
    lines = panels["separability"].get_lines()
    assert len(lines) == 4  # CE's loss is its separability term
    styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in lines}
    assert len(styles) == 4  # no two runs drawn alike
    legend = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legend) == 1 and len(legend[0].get_texts()) == 4
