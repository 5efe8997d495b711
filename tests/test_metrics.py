"""C+1 metrics against slow loops and scikit-learn."""

import pytest
import torch
from sklearn.metrics import roc_auc_score

from cplus_edu.metrics import (
    background_auroc,
    background_recall,
    background_score,
    coi_accuracy,
)


def one_hot_logits(predictions, num_classes=4):
    return torch.nn.functional.one_hot(torch.tensor(predictions), num_classes).float()


@pytest.mark.parametrize("background_index", [0, 2])
def test_coi_accuracy_and_background_recall_match_counting(background_index):
    torch.manual_seed(0)
    logits, target = torch.randn(200, 4), torch.randint(0, 4, (200,))
    pred = logits.argmax(1).tolist()
    pairs = list(zip(pred, target.tolist()))
    coi = [p == t for p, t in pairs if t != background_index]
    bg = [p == background_index for p, t in pairs if t == background_index]
    assert coi_accuracy(logits, target, background_index) == pytest.approx(sum(coi) / len(coi))
    assert background_recall(logits, target, background_index) == pytest.approx(sum(bg) / len(bg))


def test_predicting_background_for_a_class_of_interest_is_wrong():
    logits = one_hot_logits([0, 1, 2, 0])
    assert coi_accuracy(logits, torch.tensor([1, 1, 2, 0])) == pytest.approx(2 / 3)


def test_background_recall_without_target_treats_all_as_background():
    logits = one_hot_logits([0, 0, 3, 1])
    assert background_recall(logits) == 0.5
    assert background_recall(logits, background_index=3) == 0.25


def test_background_score_is_the_softmax_column():
    logits = torch.randn(5, 3)
    assert torch.allclose(background_score(logits, 1), logits.softmax(1)[:, 1])


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_background_auroc_matches_sklearn_and_pair_counting(scale):
    torch.manual_seed(1)
    bg, coi = scale * torch.randn(60) + 0.5, scale * torch.randn(80)
    bg[:5] = coi[:5]  # ties count half
    pairs = [(b > c) + 0.5 * (b == c) for b in bg.tolist() for c in coi.tolist()]
    expected = sum(pairs) / len(pairs)
    labels = [1] * 60 + [0] * 80
    assert background_auroc(bg, coi) == pytest.approx(expected, abs=1e-6)  # float32 result
    assert background_auroc(bg, coi) == pytest.approx(roc_auc_score(labels, torch.cat([bg, coi])))


def test_background_auroc_of_perfect_and_reversed_scores():
    assert background_auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert background_auroc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])) == 0.0


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: coi_accuracy(torch.randn(4, 3), torch.zeros(4).long()), ValueError, "no class"),
        (lambda: coi_accuracy(torch.randn(4, 3), torch.zeros(4)), TypeError, "integer"),
        (lambda: coi_accuracy(torch.randn(4, 3), torch.ones(5).long()), ValueError, "5 samples"),
        (lambda: coi_accuracy(torch.randn(4), torch.ones(4).long()), ValueError,
         "logits must have 2 dims"),
        (lambda: background_recall(torch.randn(4, 3), torch.ones(4).long()), ValueError,
         "no background"),
        (lambda: background_recall(torch.randn(4, 3), background_index=3), ValueError,
         "background_index"),
        (lambda: background_auroc(torch.tensor([]), torch.ones(3)), ValueError,
         "background_scores"),
    ],
)  # fmt: skip
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error, match=words):
        call()
