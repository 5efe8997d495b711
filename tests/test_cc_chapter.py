"""Chapter 09's recipe: paired gains per seed, the four "between" comparisons, the all-of rule."""

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
