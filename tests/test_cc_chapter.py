"""Chapter 09's recipe: paired gains per seed, the four "between" comparisons, the all-of rule."""

import json

import pytest
import torch

from cplus_edu.experiments.channel_corr import BETWEEN, Run, between_evidence, paired_gain
from cplus_edu.experiments.verdicts import all_of, paired_verdict

# test labels 0, 0, 1, 1: attention [1, 0] for class 0 and [0, s] for class 1 gives a known ratio
LABELS = torch.tensor([0, 0, 1, 1])


def _run(dataset, loss, seed, accuracy, spread=1.0):
    attention = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, spread], [0.0, spread]])
    attention[0, 1] = 0.1 * (seed + 1)  # intra-class distance grows with the seed
    return Run(dataset, loss, seed, accuracy, attention, LABELS, 0.0)


def _slow_ratio(attention):
    d = lambda i, j: float(((attention[i] - attention[j]) ** 2).mean())  # noqa: E731
    intra = [d(i, j) for i in range(4) for j in range(4) if i != j and LABELS[i] == LABELS[j]]
    inter = [d(i, j) for i in range(4) for j in range(4) if LABELS[i] != LABELS[j]]
    return (sum(inter) / len(inter)) / (sum(intra) / len(intra))


def test_paired_gain_is_per_seed_and_in_points():
    runs = [_run("A", loss, s, acc) for s in (2, 0, 1)
            for loss, acc in (("CE", 0.5 + s / 100), ("CC-loss", 0.52 + 2 * s / 100))]  # fmt: skip
    runs.append(_run("B", "CE", 0, 0.9))  # another dataset is ignored
    assert paired_gain(runs, "A", "CC-loss") == pytest.approx([2.0, 3.0, 4.0])
    assert paired_gain(runs, "A", "CE") == [0.0, 0.0, 0.0]


def test_paired_gain_of_the_attention_ratio():
    runs = [_run("A", "CE", s, 0.5, spread=1.0) for s in (0, 1)]
    runs += [_run("A", "CC-loss", s, 0.5, spread=2.0) for s in (0, 1)]
    expected = [_slow_ratio(runs[2 + s].attention) - _slow_ratio(runs[s].attention) for s in (0, 1)]
    assert paired_gain(runs, "A", "CC-loss", metric="ratio") == pytest.approx(expected)
    assert all(e > 0 for e in expected)  # a wider class-1 attention separates the classes more


def test_paired_gain_bad_input():
    runs = [_run("A", "CE", 0, 0.5), _run("A", "CE", 1, 0.5), _run("A", "CC-loss", 0, 0.6)]
    with pytest.raises(ValueError, match="metric"):
        paired_gain(runs, "A", "CC-loss", metric="loss")
    with pytest.raises(ValueError, match=r"\('CC-loss', 1\)"):
        paired_gain(runs, "A", "CC-loss")
    with pytest.raises(ValueError, match="'B'"):
        paired_gain(runs, "B", "CC-loss")


def test_between_evidence_signs_each_comparison_the_slides_way():
    # per seed: CE < focal < CC-loss, ArcFace below CE on every seed
    acc = {"CE": 0.50, "focal": 0.52, "CC-loss": 0.55, "ArcFace": 0.45}
    runs = [_run("A", loss, s, a + 0.003 * s * (i + 1)) for s in range(4)
            for i, (loss, a) in enumerate(acc.items())]  # fmt: skip
    evidence = between_evidence(runs, ["A"])
    assert set(evidence) == {("A", better, worse) for better, worse in BETWEEN}
    for (_, better, worse), ev in evidence.items():
        assert ev == paired_verdict(paired_gain(runs, "A", better, worse))
    assert evidence["A", "focal", "CE"].verdict == "holds"
    assert evidence["A", "CC-loss", "ArcFace"].verdict == "holds"
    assert evidence["A", "ArcFace", "CE"].verdict == "does not reproduce at this scale"
    assert all_of(evidence.values()) == "does not reproduce at this scale"


# ---- the two scales (issue 18): jobs, tuning, stored results -> claims --------------------------


def _results(params, acc, ratio):
    """A stored-results dict of ``params`` with test accuracy ``acc(dataset, loss, seed)``."""
    from cplus_edu.experiments.channel_corr import jobs

    runs = []
    for job in jobs(params):
        if job["stage"] == "tune":
            metrics = {"val_accuracy": 0.5 + job["lr"], "lr": job["lr"]}
        else:
            a = acc(job["dataset"], job["loss"], job["seed"])
            metrics = {"test_accuracy": a, "ratio": ratio(job["loss"], job["seed"]), "lr": 2e-3,
                       "train_images": 100, "image_size": [28, 28]}  # fmt: skip
        runs.append({"job": job, "metrics": metrics, "wall_seconds": 1.0, "cpu_seconds": 1.0})
    return {"schema": 1, "chapter": "09_cc_loss", "scale": "reference", "params": params,
            "provenance": {}, "runs": runs}  # fmt: skip


def test_reference_jobs_tune_every_loss_on_the_same_grid_before_its_runs():
    from cplus_edu.experiments.channel_corr import SCALES, jobs

    params = SCALES["reference"]
    all_jobs = jobs(params)
    for name, d in params["datasets"].items():
        mine = [j for j in all_jobs if j["dataset"] == name]
        stages = [j["stage"] for j in mine]
        assert stages == sorted(stages, key=["tune", "test"].index)  # tuning first
        tune = [(j["loss"], j["lr"], j["seed"]) for j in mine if j["stage"] == "tune"]
        assert sorted(tune) == sorted((loss, lr, params["tune_seed"]) for loss in params["losses"]
                                      for lr in d["lr_grid"])  # fmt: skip
        test = {(j["loss"], j["seed"]) for j in mine if j["stage"] == "test"}
        assert test == {(loss, s) for loss in params["losses"] for s in params["seeds"]}
        assert all(j["settings"]["epochs"] == d["epochs"] for j in mine)
    assert not [j for j in jobs(SCALES["teaching"]) if j["stage"] == "tune"]  # one lr: no tuning


def test_tuned_lr_validation_split_and_learning_rates():
    from cplus_edu.experiments.channel_corr import (
        SCALES,
        learning_rates,
        train_settings,
        tuned_lr,
        validation_split,
    )

    params = SCALES["reference"]
    lo, hi = params["datasets"]["MNIST"]["lr_grid"]
    assert tuned_lr(params, "MNIST", "CE", {lo: 0.9, hi: 0.95}) == hi
    assert tuned_lr(params, "MNIST", "CE", {lo: 0.9, hi: 0.9}) == lo  # a tie: the smaller lr
    with pytest.raises(ValueError, match="no validation accuracy"):
        tuned_lr(params, "MNIST", "CE", {lo: 0.9})
    with pytest.raises(ValueError, match="lr must be given"):
        train_settings(params, "MNIST")
    with pytest.raises(ValueError, match="tuned on a validation split"):
        learning_rates(params)
    teaching = learning_rates(SCALES["teaching"])
    assert set(teaching.values()) == {SCALES["teaching"]["datasets"]["MNIST"]["lr_grid"][0]}

    x, y = torch.arange(20.0)[:, None], torch.arange(20) % 2
    xf, yf, xv, yv = validation_split((x, y), 0.25)
    assert len(xv) == 5 and len(xf) == 15
    assert sorted(torch.cat([xf, xv]).flatten().tolist()) == x.flatten().tolist()  # disjoint
    with pytest.raises(ValueError, match="validation_share"):
        validation_split((x, y), 1.0)


def test_reference_claims_credibility_and_picked_lrs_come_from_the_stored_runs():
    from cplus_edu.experiments.channel_corr import (
        SCALES,
        chapter_claims,
        credibility,
        learning_rates,
        ledger_claims,
        reference_claims,
        runs_from_results,
    )

    params = json.loads(json.dumps(SCALES["reference"]))  # with both datasets, whatever it has
    mnist = params["datasets"]["MNIST"]
    params["datasets"] = {"MNIST": mnist, "CIFAR-10": {**mnist, "blocks": 4}}
    base = {"MNIST": 0.991, "CIFAR-10": 0.76}
    gain = {"CE": 0.0, "focal": 0.002, "ArcFace": 0.004, "CC-loss": 0.006}

    def acc(name, loss, seed):
        return base[name] + gain[loss] + 0.001 * seed * (loss == "CC-loss")

    results = _results(params, acc, lambda loss, seed: 2.0 + (loss == "CC-loss") + 0.01 * seed)
    runs = runs_from_results(results)
    assert len(runs) == 2 * len(params["losses"]) * len(params["seeds"])  # no tuning runs
    measured = credibility(results)
    assert [m for m, _ in measured.values()] == pytest.approx([0.991, 0.76])
    assert [bar for _, bar in measured.values()] == [0.99, 0.75]
    claims = {c.id: c for c in reference_claims(results)}
    assert set(claims) == {"09-cc-mnist", "09-cc-cifar", "09-focal-arcface-between",
                           "09-attention"}  # fmt: skip
    assert all(c.scale == "reference" and c.verdict == "holds" for c in claims.values())
    assert "100 images at 28x28" in claims["09-cc-mnist"].ours  # the stored sizes
    assert set(learning_rates(params, results).values()) == {2e-3}
    params["datasets"].pop("CIFAR-10")  # a reference run of MNIST alone measures one claim
    mnist_only = _results(params, acc, lambda loss, seed: 2.0)
    assert [c.id for c in reference_claims(mnist_only)] == ["09-cc-mnist"]
    assert list(credibility(mnist_only)) == ["CE test accuracy on MNIST (mean over seeds)"]
    live = chapter_claims(runs, {"MNIST": "live", "CIFAR-10": "live"}, "teaching")
    merged = ledger_claims(live, reference_claims(mnist_only))
    assert [c.id for c in merged] == [c.id for c in live]
    assert [c.scale for c in merged] == ["reference", "teaching", "teaching", "teaching"]


def test_build_keeps_the_default_layout_unless_asked():
    from cplus_edu.experiments.channel_corr import build

    for loss in ("CE", "ArcFace", "CC-loss"):
        plain, _ = build(loss, 3, 4, 1.0, 0.2)
        fast, _ = build(loss, 3, 4, 1.0, 0.2, blocks=4, channels_last=True)
        conv = [m.weight for m in plain.modules() if isinstance(m, torch.nn.Conv2d)][1]
        fast_conv = [m.weight for m in fast.modules() if isinstance(m, torch.nn.Conv2d)][1]
        assert conv.is_contiguous() and not conv.is_contiguous(memory_format=torch.channels_last)
        assert fast_conv.is_contiguous(memory_format=torch.channels_last)
