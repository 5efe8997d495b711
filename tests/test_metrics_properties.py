"""Open-set and saliency metrics, property-style: random sizes, dtypes and background indices
against scikit-learn / torchmetrics and slow float64 loops; NaN, Inf, out-of-range targets and
empty batches give a ValueError that names the argument, never a number."""

import math

import pytest
import torch
from sklearn.metrics import accuracy_score, recall_score, roc_auc_score
from torchmetrics.classification import BinaryFBetaScore

from cplus_edu.metrics import (
    background_auroc,
    background_recall,
    background_score,
    binarize_saliency,
    channel_correlations,
    coi_accuracy,
    evaluate_saliency,
    f_beta,
    mean_absolute_error,
)

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
TARGET_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]


def random_case(seed):
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 60, (1,), generator=g))
    k = int(torch.randint(2, 7, (1,), generator=g))
    logits = 3 * torch.randn(n, k, generator=g, dtype=torch.float64)
    target = torch.randint(0, k, (n,), generator=g)
    background_index = int(torch.randint(0, k, (1,), generator=g))
    target[0] = (background_index + 1) % k  # at least one class-of-interest sample
    target[1] = background_index  # and one background sample
    return logits, target, background_index


@pytest.mark.parametrize("seed", range(8))
def test_open_set_metrics_match_sklearn_for_any_dtype(seed):
    logits, target, b = random_case(seed)
    for dtype in FLOATS:
        x = logits.to(dtype)
        predicted = x.argmax(1).numpy()
        coi, bg = (target != b).numpy(), (target == b).numpy()
        for tdtype in TARGET_DTYPES:
            t = target.to(tdtype)
            assert coi_accuracy(x, t, b) == pytest.approx(
                accuracy_score(target.numpy()[coi], predicted[coi]), abs=1e-6
            )
            assert background_recall(x, t, b) == pytest.approx(
                recall_score(bg, predicted == b), abs=1e-6
            )
        scores = background_score(x, b)
        torch.testing.assert_close(scores, x.softmax(1)[:, b])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("seed", range(3))
def test_non_finite_logits_are_refused(bad, seed):
    logits, target, b = random_case(seed)
    row = seed % len(logits)
    logits[row, (row + b) % logits.shape[1]] = bad
    for call in (lambda: coi_accuracy(logits, target, b), lambda: background_recall(logits),
                 lambda: background_recall(logits, target, b),
                 lambda: background_score(logits, b)):  # fmt: skip
        with pytest.raises(ValueError, match="logits contains NaN or Inf"):
            call()


@pytest.mark.parametrize("seed", range(3))
def test_targets_outside_the_classes_are_refused(seed):
    logits, target, b = random_case(seed)
    k = logits.shape[1]
    for value in (k, k + 1, 200, -1, -100):
        t = target.clone()
        t[-1] = value
        for tdtype in TARGET_DTYPES:
            info = torch.iinfo(tdtype)
            if not info.min <= value <= info.max:
                continue
            words = rf"target values must be classes in \[0, {k - 1}\]"
            for call in (coi_accuracy, background_recall):
                with pytest.raises(ValueError, match=words):
                    call(logits, t.to(tdtype), b)


def test_empty_batches_are_refused():
    empty = torch.zeros(0, 3)
    for call in (lambda: coi_accuracy(empty, torch.zeros(0, dtype=torch.long)),
                 lambda: background_recall(empty), lambda: background_score(empty),
                 lambda: background_recall(torch.zeros(4, 0))):  # fmt: skip
        with pytest.raises(ValueError, match="empty|background_index"):
            call()


def auroc_by_pairs(bg, coi):
    """P(background score > class-of-interest score), ties half: every pair, in float64."""
    wins = sum((b > c) + 0.5 * (b == c) for b in bg for c in coi)
    return wins / (len(bg) * len(coi))


@pytest.mark.parametrize("seed", range(6))
def test_background_auroc_of_any_scores_is_the_pair_count(seed):
    g = torch.Generator().manual_seed(seed)
    n_bg, n_coi = torch.randint(1, 30, (2,), generator=g).tolist()
    pool = torch.tensor([-math.inf, math.inf, -1e308, 1e308, 0.0, 1e-300, 0.5, 3.0, -7.0])
    bg = pool[torch.randint(0, len(pool), (n_bg,), generator=g)]
    coi = pool[torch.randint(0, len(pool), (n_coi,), generator=g)]
    normal = torch.randn(n_bg, generator=g, dtype=torch.float64)
    bg = torch.where(torch.rand(n_bg, generator=g) < 0.5, bg, normal)
    expected = auroc_by_pairs(bg.tolist(), coi.tolist())
    assert background_auroc(bg, coi) == pytest.approx(expected, abs=1e-6)
    finite = torch.cat([bg, coi]).clamp(-1e300, 1e300)  # sklearn refuses infinities
    labels = [1] * n_bg + [0] * n_coi
    assert background_auroc(finite[:n_bg], finite[n_bg:]) == pytest.approx(
        roc_auc_score(labels, finite.numpy()), abs=1e-6
    )
    for dtype in (torch.float16, torch.float32):  # the same order, read in a narrower type
        low_bg, low_coi = bg.clamp(-1e4, 1e4).to(dtype), coi.clamp(-1e4, 1e4).to(dtype)
        assert background_auroc(low_bg, low_coi) == pytest.approx(
            auroc_by_pairs(low_bg.double().tolist(), low_coi.double().tolist()), abs=1e-6
        )


def test_background_auroc_refuses_nan_and_empty():
    for bg, coi, name in [(torch.tensor([math.nan, 1.0]), torch.ones(2), "background_scores"),
                          (torch.ones(2), torch.tensor([0.0, math.nan]), "coi_scores"),
                          (torch.ones(0), torch.ones(2), "background_scores"),
                          (torch.ones(2), torch.ones(0), "coi_scores")]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            background_auroc(bg, coi)


# ---------------------------------------------------------------- saliency


def f_beta_loop(saliency, mask, beta_squared=0.3):
    """Per image, pixel by pixel, float64: threshold 2 * mean, precision, recall, F."""
    out = []
    for s, m in zip(saliency.double().tolist(), mask.double().tolist()):
        flat_s, flat_m = sum(s, []), sum(m, [])
        threshold = 2 * sum(flat_s) / len(flat_s)
        b = [v > threshold for v in flat_s]
        tp = sum(1 for bi, mi in zip(b, flat_m) if bi and mi == 1)
        precision = tp / max(sum(b), 1)
        recall = tp / max(sum(flat_m), 1)
        den = beta_squared * precision + recall
        out.append(0.0 if den == 0 else (1 + beta_squared) * precision * recall / den)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(5))
def test_f_beta_and_mae_match_loops_and_torchmetrics_for_any_dtype(seed):
    g = torch.Generator().manual_seed(seed)
    n, h, w = torch.randint(1, 5, (3,), generator=g).tolist()
    mask = (torch.rand(n, h, w, generator=g) < 0.3).long()
    noise = torch.rand(n, h, w, generator=g, dtype=torch.float64)
    saliency = (0.6 * mask + 0.5 * noise).clamp(0, 1)
    for dtype in FLOATS:
        s = saliency.to(dtype)
        for m in (mask, mask.bool(), mask.to(torch.uint8), mask.to(dtype)):
            torch.testing.assert_close(f_beta(s, m), f_beta_loop(s, mask), rtol=1e-9, atol=1e-12)
            mae = (s.double() - mask.double()).abs().mean(dim=(1, 2))
            torch.testing.assert_close(mean_absolute_error(s, m), mae)
        metric = BinaryFBetaScore(beta=0.3**0.5, threshold=0.5, multidim_average="samplewise")
        expected = metric(binarize_saliency(s).float(), mask).double().reshape(-1)
        torch.testing.assert_close(f_beta(s, mask), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1.5, -0.1, 255.0])
def test_saliency_out_of_range_is_refused(bad):
    mask = torch.zeros(2, 4, 4, dtype=torch.long)
    saliency = torch.rand(2, 4, 4)
    saliency[1, 2, 3] = bad
    for call in (f_beta, mean_absolute_error, evaluate_saliency):
        with pytest.raises(ValueError, match=r"saliency (contains NaN|must lie in \[0, 1\])"):
            call(saliency, mask)
    with pytest.raises(ValueError, match="saliency"):
        binarize_saliency(saliency)
    with pytest.raises(ValueError, match="probabilities"):
        channel_correlations(torch.stack([saliency, 1 - saliency], dim=1), mask)


def test_empty_saliency_batches_are_refused():
    for shape in ((0, 4, 4), (2, 0, 4)):
        saliency, mask = torch.zeros(shape), torch.zeros(shape, dtype=torch.long)
        for call in (f_beta, mean_absolute_error, evaluate_saliency):
            with pytest.raises(ValueError, match="saliency is empty"):
                call(saliency, mask)
