"""Pixel objectness, the POS unary, the readable mean-field CRF (against a pixel loop and against
pydensecrf2) and the fallback when pydensecrf2 is missing."""

import math
import os

import pytest
import torch

from cplus_edu.crf import (
    CRFParams,
    crf_unary,
    dense_crf,
    densecrf_available,
    mean_field_crf,
    pixel_objectness,
    segment_proposals,
)
from cplus_edu.crf import dense as dense_module
from cplus_edu.data import make_segmentation_scenes


def require_pydensecrf():
    """Skip locally when pydensecrf2 is missing; under CI (``CI`` set) it must be there."""
    if densecrf_available():
        return
    if os.environ.get("CI"):
        pytest.fail("pydensecrf2 must be installed in CI (the dev extra installs it)")
    pytest.skip("pydensecrf2 is not installed")


def loop_mean_field(unary, image, iterations, params: CRFParams):
    """Mean field written pixel by pixel: explicit kernel sums, symmetric normalisation, Potts."""
    k, h, w = unary.shape
    pix = [(x, y) for y in range(h) for x in range(w)]
    colour = image.reshape(3, -1).t().double()
    theta = unary.reshape(k, -1).t().double()

    def kernel(i, j, bilateral):
        (xi, yi), (xj, yj) = pix[i], pix[j]
        d2 = (xi - xj) ** 2 + (yi - yj) ** 2
        if not bilateral:
            return math.exp(-d2 / (2 * params.gaussian_sxy**2))
        c2 = float(((colour[i] - colour[j]) ** 2).sum())
        return math.exp(-d2 / (2 * params.bilateral_sxy**2) - c2 / (2 * params.bilateral_srgb**2))

    n = len(pix)
    mats = {}
    for bilateral, weight in ((False, params.gaussian_weight), (True, params.bilateral_weight)):
        m = torch.tensor(
            [[kernel(i, j, bilateral) for j in range(n)] for i in range(n)], dtype=torch.float64
        )
        d = m.sum(1).rsqrt()
        mats[bilateral] = (weight, d[:, None] * m * d[None, :])
    q = torch.softmax(-theta, 1)
    for _ in range(iterations):
        message = sum(weight * (m @ q) for weight, m in mats.values())
        q = torch.softmax(-theta + message, 1)
    return q.t().reshape(k, h, w)


def small_case(seed=0, size=16, k=4):
    scenes = make_segmentation_scenes(1, size, num_object_classes=k - 1, seed=seed)
    g = torch.Generator().manual_seed(seed)
    onehot = torch.nn.functional.one_hot(scenes.labels[0], k).permute(2, 0, 1).float()
    logits = 1.5 * torch.randn(k, size, size, generator=g) + 2.5 * onehot
    return logits.softmax(0), scenes.images[0], scenes.labels[0]


def test_unary_is_the_slides_formula():
    probs = torch.tensor([[0.5, 0.2], [0.3, 0.7], [0.2, 0.1]])[:, :, None]  # `[3, 2, 1]`
    pos = torch.tensor([[0.8], [0.1]])
    u = crf_unary(probs, pos, background_index=0)
    torch.testing.assert_close(u[0], -probs[0].log())  # background: -log p_0
    torch.testing.assert_close(u[1:], -(probs[1:] * pos.exp()).log())  # -log(p_k exp(pos))
    torch.testing.assert_close(crf_unary(probs), -probs.log())
    u2 = crf_unary(probs, pos, background_index=2)
    torch.testing.assert_close(u2[2], -probs[2].log())
    # the objectness can turn a background-argmax pixel into an object pixel, never the reverse
    assert u[:, 0, 0].argmin() == 1 and crf_unary(probs)[:, 0, 0].argmin() == 0


def test_unary_bad_input():
    with pytest.raises(ValueError, match="objectness must have shape"):
        crf_unary(torch.rand(3, 4, 4).softmax(0), torch.rand(4, 5))
    with pytest.raises(ValueError, match="background_index"):
        crf_unary(torch.rand(3, 4, 4).softmax(0), background_index=3)
    with pytest.raises(TypeError, match="probs"):
        crf_unary(torch.ones(3, 4, 4, dtype=torch.long))


def test_mean_field_matches_the_pixel_loop():
    probs, image, _ = small_case(size=8, k=3)
    unary = crf_unary(probs.double())
    params = CRFParams(iterations=3, bilateral_sxy=4.0, bilateral_srgb=30.0)
    rgb = (image * 255).round().to(torch.uint8)  # uint8: colours in 0..255
    ours = mean_field_crf(unary, rgb, **vars(params))
    torch.testing.assert_close(ours, loop_mean_field(unary, rgb, 3, params), rtol=1e-9, atol=1e-9)
    # the same colours as a float image in [0, 1]
    torch.testing.assert_close(mean_field_crf(unary, rgb / 255.0, **vars(params)), ours)


def test_mean_field_without_pairwise_terms_is_the_unary_softmax():
    probs, image, _ = small_case(size=8)
    unary = crf_unary(probs)
    for q in (
        mean_field_crf(unary, image, iterations=0),
        mean_field_crf(unary, image, gaussian_weight=0.0, bilateral_weight=0.0),
    ):
        torch.testing.assert_close(q, probs, rtol=1e-4, atol=1e-6)


def test_mean_field_smooths_noise():
    """A noisy label map on a clean two-colour image: the CRF's argmax is closer to the truth."""
    g = torch.Generator().manual_seed(1)
    truth = torch.zeros(20, 20, dtype=torch.long)
    truth[5:15, 5:15] = 1
    image = torch.stack([truth * 200 + 20] * 3).to(torch.uint8)
    logits = 2.0 * torch.nn.functional.one_hot(truth, 2).permute(2, 0, 1) + 1.6 * torch.randn(
        2, 20, 20, generator=g
    )
    probs = logits.softmax(0)
    q = mean_field_crf(crf_unary(probs), image)
    assert (q.argmax(0) != truth).sum() < 0.3 * (probs.argmax(0) != truth).sum()
    torch.testing.assert_close(q.sum(0), torch.ones(20, 20))


@pytest.mark.parametrize("params", [CRFParams(), CRFParams(bilateral_weight=0.0, iterations=8)])
def test_readable_crf_agrees_with_pydensecrf(params):
    require_pydensecrf()
    agree, mean_diff = [], []
    for seed in range(2):
        probs, image, _ = small_case(seed, size=24, k=5)
        pos = pixel_objectness(image)
        a = dense_crf(probs, image, pos, params=params, backend="pydensecrf")
        b = dense_crf(probs, image, pos, params=params, backend="torch")
        agree.append(float((a.argmax(0) == b.argmax(0)).float().mean()))
        mean_diff.append(float((a - b).abs().mean()))
        # the CRF did something: the comparison is not between two copies of the unary
        assert (a.argmax(0) != probs.argmax(0)).float().mean() > 0.02
    assert min(agree) > 0.98, agree
    assert max(mean_diff) < 0.01, mean_diff


def test_fallback_when_pydensecrf_is_missing(monkeypatch):
    probs, image, _ = small_case(size=10)
    monkeypatch.setattr(dense_module, "densecrf_available", lambda: False)
    monkeypatch.setattr(dense_module, "_warned", False)
    with pytest.warns(UserWarning, match="pydensecrf2 is not installed"):
        q = dense_crf(probs, image)
    torch.testing.assert_close(q, dense_crf(probs, image, backend="torch"))
    with pytest.raises(ValueError, match="backend"):
        dense_crf(probs, image, backend="gpu")


def test_pydensecrf_missing_gives_a_clear_import_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pydensecrf(name, *args, **kwargs):
        if name.startswith("pydensecrf"):
            raise ImportError("No module named 'pydensecrf'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pydensecrf)
    assert not densecrf_available()
    probs, image, _ = small_case(size=8)
    with pytest.raises(ImportError, match="pip install pydensecrf2"):
        dense_crf(probs, image, backend="pydensecrf")


def test_pixel_objectness_is_the_share_of_proposals():
    scenes = make_segmentation_scenes(4, 48, seed=5)
    maps = []
    for image in scenes.images:
        proposals = segment_proposals(image)
        pos = pixel_objectness(image)
        assert pos.shape == image.shape[1:] and 0 <= pos.min() and pos.max() <= 1
        assert len(proposals) > 0
        torch.testing.assert_close(pos, proposals.float().sum(0) / len(proposals))  # g_j / G
        maps.append(pos)
    maps = torch.stack(maps)
    # object pixels are covered by a larger share of the proposals than background pixels
    assert maps[scenes.kinds > 0].mean() > 3 * maps[scenes.kinds == 0].mean()


def test_pixel_objectness_of_a_plain_image_is_zero():
    image = torch.full((3, 24, 24), 0.5)
    assert len(segment_proposals(image)) == 0
    assert torch.equal(pixel_objectness(image), torch.zeros(24, 24))


def test_pixel_objectness_bad_input():
    with pytest.raises(ValueError, match="image must be a"):
        pixel_objectness(torch.rand(24, 24))
    with pytest.raises(ValueError, match="max_area"):
        segment_proposals(torch.rand(3, 8, 8), max_area=0.0)


def test_mean_field_bad_input():
    with pytest.raises(ValueError, match="share H and W"):
        mean_field_crf(torch.rand(3, 4, 4), torch.rand(3, 5, 4))
    with pytest.raises(ValueError, match="iterations"):
        mean_field_crf(torch.rand(3, 4, 4), torch.rand(3, 4, 4), iterations=-1)
    with pytest.raises(ValueError, match="bilateral_srgb"):
        mean_field_crf(torch.rand(3, 4, 4), torch.rand(3, 4, 4), bilateral_srgb=0.0)
