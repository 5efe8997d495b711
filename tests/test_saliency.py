"""Saliency tools: channel choice, adaptive threshold, F-beta against torchmetrics, MAE."""

import pytest
import torch
from torchmetrics.classification import BinaryFBetaScore

from cplus_edu.metrics import (
    binarize_saliency,
    channel_correlations,
    choose_salient_channel,
    evaluate_saliency,
    f_beta,
    mean_absolute_error,
)


def random_maps(seed, n=6, size=12):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(n, size, size, generator=g) < 0.3).long()
    saliency = (0.6 * mask + 0.5 * torch.rand(n, size, size, generator=g)).clamp(0, 1)
    return saliency, mask


@pytest.mark.parametrize("seed", range(3))
def test_f_beta_matches_torchmetrics(seed):
    saliency, mask = random_maps(seed)
    saliency[0] = 0.0  # T = 0 and nothing above it: F = 0 (torchmetrics' zero_division=0)
    binary = binarize_saliency(saliency).float()
    metric = BinaryFBetaScore(beta=0.3**0.5, threshold=0.5, multidim_average="samplewise")
    expected = metric(binary, mask).double()
    torch.testing.assert_close(f_beta(saliency, mask), expected, rtol=1e-6, atol=1e-6)
    assert f_beta(saliency, mask)[0] == 0


def test_threshold_is_twice_the_mean_per_image():
    saliency = torch.tensor([[[0.1, 0.2, 0.9, 0.2]], [[0.5, 0.5, 0.5, 0.6]]])
    # image 0: T = 0.7 -> only 0.9 passes; image 1: T = 1.05 -> nothing passes
    expected = torch.tensor([[[False, False, True, False]], [[False, False, False, False]]])
    assert torch.equal(binarize_saliency(saliency), expected)


def test_mae_and_perfect_map():
    saliency, mask = random_maps(4)
    expected = (saliency - mask).abs().mean(dim=(1, 2)).double()
    torch.testing.assert_close(mean_absolute_error(saliency, mask), expected)
    scores = evaluate_saliency(mask.float(), mask)
    assert scores == {"f_beta": pytest.approx(1.0), "mae": 0.0}


def test_channel_choice_finds_the_correlated_channel():
    saliency, mask = random_maps(5)
    probabilities = torch.stack([1 - saliency, torch.rand_like(saliency), saliency], dim=1)
    correlations = channel_correlations(probabilities, mask)
    assert correlations[2] > 0.5 and correlations[0] < -0.5 and abs(correlations[1]) < 0.2
    torch.testing.assert_close(correlations[0], -correlations[2])
    assert choose_salient_channel(probabilities, mask) == 2
    constant = torch.full_like(probabilities, 0.5)
    assert torch.equal(channel_correlations(constant, mask), torch.zeros(3, dtype=torch.float64))


def test_bad_input():
    saliency, mask = random_maps(6)
    with pytest.raises(ValueError, match="mask must have the shape"):
        f_beta(saliency, mask[:, :3])
    with pytest.raises(ValueError, match="only 0 and 1"):
        mean_absolute_error(saliency, mask * 2)
    with pytest.raises(TypeError, match="floating-point"):
        f_beta(mask, mask)
    with pytest.raises(ValueError, match=r"\[N, M, H, W\]"):
        choose_salient_channel(saliency, mask)
