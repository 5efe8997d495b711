"""The CRF functions, property-style: one image convention across dtypes (integer 0..255, float
[0, 1]), value-or-refusal for images, probabilities, objectness and every CRF parameter, and
the size limits. Bad parameters go to pydensecrf only in a subprocess: were one to slip through
the checks, it would crash that process (segmentation fault), not the test run."""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from test_crf import loop_mean_field, require_pydensecrf, small_case

from cplus_edu.crf import (
    CRFParams,
    crf_unary,
    dense_crf,
    mean_field_crf,
    pixel_objectness,
    segment_proposals,
)
from cplus_edu.crf.inputs import check_params, image_255
from cplus_edu.crf.meanfield import MAX_PIXELS as CRF_MAX_PIXELS
from cplus_edu.crf.objectness import MAX_PIXELS as OBJECTNESS_MAX_PIXELS


def image_in_every_dtype(rgb: torch.Tensor) -> dict:
    """The uint8 image ``rgb`` in each dtype the convention accepts, same colours."""
    out = {dtype: rgb.to(dtype) for dtype in (torch.uint8, torch.int16, torch.int32, torch.int64)}
    for dtype in (torch.float16, torch.float32, torch.float64):
        out[dtype] = (rgb.double() / 255).to(dtype)
    return out


def test_every_image_dtype_gives_the_same_colours_and_the_same_crf():
    probs, image, _ = small_case(size=8, k=3)
    rgb = (image * 255).round().to(torch.uint8)
    params = CRFParams(iterations=3, bilateral_sxy=4.0, bilateral_srgb=30.0)
    unary = crf_unary(probs.double())
    expected = dense_crf(probs, rgb, params=params, backend="torch")
    for dtype, variant in image_in_every_dtype(rgb).items():
        colours = image_255(variant)  # 0..255 units; float16 / 255 * 255 is off by < 0.5
        assert torch.equal(colours.round(), rgb.double()), dtype
        reference = loop_mean_field(unary, colours, 3, params)  # float64, pixel by pixel
        torch.testing.assert_close(mean_field_crf(unary, variant, **vars(params)), reference,
                                   rtol=1e-9, atol=1e-9)  # fmt: skip
        assert torch.equal(dense_crf(probs, variant, params=params, backend="torch"), expected)


@pytest.mark.parametrize(
    "image, words",
    [
        (torch.full((3, 6, 6), 200.0), r"float image holds colours in \[0, 1\].*pass uint8"),
        (torch.full((3, 6, 6), 1.0001), r"float image holds colours in \[0, 1\]"),
        (torch.full((3, 6, 6), -0.01), r"float image holds colours in \[0, 1\]"),
        (torch.full((3, 6, 6), math.nan), "image contains NaN or Inf"),
        (torch.full((3, 6, 6), math.inf), "image contains NaN or Inf"),
        (torch.full((3, 6, 6), 256, dtype=torch.int64), "integer image holds colours in 0..255"),
        (torch.full((3, 6, 6), -1, dtype=torch.int16), "integer image holds colours in 0..255"),
        (torch.ones(3, 6, 6, dtype=torch.bool), "image must be uint8"),
        (torch.rand(6, 6), r"image must be a \[3, H, W\]"),
        (torch.rand(4, 6, 6), r"image must be a \[3, H, W\]"),
        (np.zeros((3, 6, 6)), r"image must be a \[3, H, W\] tensor"),
    ],
)  # fmt: skip
def test_images_outside_the_convention_are_refused_everywhere(image, words):
    probs = torch.rand(3, 6, 6).softmax(0)
    calls = [lambda: dense_crf(probs, image, backend="torch"),
             lambda: dense_crf(probs, image, backend="pydensecrf"),  # refused before pydensecrf
             lambda: mean_field_crf(crf_unary(probs), image),
             lambda: pixel_objectness(image), lambda: segment_proposals(image)]  # fmt: skip
    for call in calls:
        with pytest.raises((ValueError, TypeError), match=words):
            call()


def test_float_image_in_0_255_was_white_and_is_now_refused():
    """The bug: a float 0..255 image was clamped to [0, 1], i.e. white, and the bilateral kernel
    saw one colour. The same colours as uint8 or as float / 255 agree; as float 0..255: refused."""
    probs, image, _ = small_case(size=12, k=4)
    rgb = (image * 255).round().to(torch.uint8)
    a = dense_crf(probs, rgb, backend="torch")
    b = dense_crf(probs, rgb.double() / 255, backend="torch")
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="pass uint8"):
        dense_crf(probs, rgb.float(), backend="torch")


def test_pixel_objectness_reads_every_dtype_the_same():
    """int64 0..255 was read as [0, 1] (objectness off by 0.29 on the chapter's scenes)."""
    from cplus_edu.data import make_segmentation_scenes

    image = make_segmentation_scenes(1, 32, seed=3).images[0]
    rgb = (image * 255).round().to(torch.uint8)
    expected = pixel_objectness(rgb)
    assert expected.max() > 0  # something to compare
    for dtype, variant in image_in_every_dtype(rgb).items():
        if dtype == torch.float16:  # colours round-trip, but not bit for bit: same map anyway
            variant = variant.double()
        torch.testing.assert_close(pixel_objectness(variant), expected, msg=str(dtype))


def softmax_probs(k=3, size=6, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, size, size, generator=g).softmax(0).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_probabilities_of_every_float_dtype_are_accepted(dtype):
    probs = softmax_probs(dtype=dtype)
    image = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1))
    expected = dense_crf(softmax_probs(dtype=torch.float64), image, backend="torch")
    half = dtype in (torch.float16, torch.bfloat16)  # the inputs themselves are rounded
    torch.testing.assert_close(dense_crf(probs, image, backend="torch"), expected,
                               atol=3e-2 if half else 5e-3, rtol=0)  # fmt: skip


def test_non_probabilities_are_refused():
    probs, image = softmax_probs(), torch.rand(3, 6, 6)
    logits = torch.randn(3, 6, 6)
    bad = {
        "logits": (logits, "probs must"),
        "logits that happen to be >= 0": (logits.abs(), "sum to 1"),
        "negative": (probs - 0.01 * (probs < 0.5), "probs must"),
        "NaN": (torch.where(probs > 0.9, math.nan, probs), "probs contains NaN or Inf"),
        "Inf": (probs.masked_fill(probs < 0.1, math.inf), "probs contains NaN or Inf"),
        "scaled": (2 * probs, "sum to 1"),
        "empty": (torch.zeros(0, 6, 6), "empty"),
    }
    for p, words in bad.values():
        for call in (lambda p=p: dense_crf(p, image, backend="torch"), lambda p=p: crf_unary(p),
                     lambda p=p: dense_crf(p, image, backend="pydensecrf")):  # fmt: skip
            with pytest.raises(ValueError, match=words):
                call()
    slightly_off = probs * (1 + 5e-4)  # within the tolerance of a float16 softmax
    dense_crf(slightly_off, image, backend="torch")


def test_objectness_and_its_weight_are_checked():
    probs, image = softmax_probs(), torch.rand(3, 6, 6)
    pos = torch.rand(6, 6)
    for objectness, words in [(pos.masked_fill(pos > 0.5, math.nan), "objectness contains NaN"),
                              (pos + 1, r"objectness .* must lie in \[0, 1\]"),
                              (pos - 1, r"objectness .* must lie in \[0, 1\]"),
                              (pos[:5], "objectness must have shape")]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            dense_crf(probs, image, objectness, backend="torch")
    for weight in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="objectness_weight"):
            dense_crf(probs, image, pos, objectness_weight=weight, backend="torch")
    # weight 0 is the plain CRF
    torch.testing.assert_close(dense_crf(probs, image, pos, objectness_weight=0.0, backend="torch"),
                               dense_crf(probs, image, backend="torch"))  # fmt: skip


BAD_PARAMS = [  # field, value, words
    *[(f, v, f) for f in ("gaussian_sxy", "bilateral_sxy", "bilateral_srgb")
      for v in (0.0, -1.0, math.nan, math.inf, -math.inf, 1e-30)],
    *[(f, v, f) for f in ("gaussian_weight", "bilateral_weight")
      for v in (-1.0, math.nan, math.inf, -1e-9)],
    *[("iterations", v, "iterations") for v in (-1, 2.5, 3.0, True, "3", None)],
    ("gaussian_sxy", "3", "gaussian_sxy"), ("bilateral_weight", torch.ones(2), "bilateral_weight"),
]  # fmt: skip


@pytest.mark.parametrize("field, value, words", BAD_PARAMS)
def test_bad_parameters_are_refused_in_process(field, value, words):
    """In process only the checks and the readable CRF run (pydensecrf: see the subprocess)."""
    params = CRFParams(**{field: value})
    with pytest.raises((ValueError, TypeError), match=words):
        check_params(params, 6, 6)
    probs, image = softmax_probs(), torch.rand(3, 6, 6)
    with pytest.raises((ValueError, TypeError), match=words):
        dense_crf(probs, image, params=params, backend="torch")
    with pytest.raises((ValueError, TypeError), match=words):
        mean_field_crf(crf_unary(probs), image, **vars(params))


def test_good_parameters_at_the_edges_agree_with_the_pixel_loop():
    probs, image, _ = small_case(size=8, k=3)
    unary = crf_unary(probs.double())
    rgb = (image * 255).round().to(torch.uint8)
    for params in (CRFParams(iterations=np.int64(2)), CRFParams(gaussian_weight=0.0),
                   CRFParams(gaussian_sxy=7 / 1e6, bilateral_srgb=255 / 1e6),  # the smallest
                   CRFParams(bilateral_sxy=1e30, bilateral_srgb=1e30, iterations=0)):  # fmt: skip
        ours = mean_field_crf(unary, rgb, **vars(params))
        reference = loop_mean_field(unary, rgb, int(params.iterations), params)
        torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-9)


PYDENSECRF_SCRIPT = textwrap.dedent(
    """
    import math, sys, torch
    from cplus_edu.crf import CRFParams, crf_unary, dense_crf, pydensecrf_inference
    probs = torch.rand(3, 12, 12).softmax(0)
    image = (torch.rand(3, 12, 12) * 255).to(torch.uint8)
    refused = 0
    for field in ("gaussian_sxy", "bilateral_sxy", "bilateral_srgb"):
        for value in (0.0, -1.0, math.nan, math.inf, 1e-30, 1e-7, 3e-6):
            for call in (lambda p: dense_crf(probs, image, params=p, backend="pydensecrf"),
                         lambda p: pydensecrf_inference(crf_unary(probs), image, p)):
                try:
                    call(CRFParams(**{field: value}))
                except ValueError as error:
                    assert field in str(error), error
                    refused += 1
    for field in ("gaussian_weight", "bilateral_weight", "iterations"):
        for value in (math.nan, math.inf, -1, 2.5):
            try:
                dense_crf(probs, image, params=CRFParams(**{field: value}), backend="pydensecrf")
            except ValueError as error:
                assert field in str(error), error
                refused += 1
    # the narrowest accepted widths run (they would crash ~25x narrower)
    narrow = CRFParams(gaussian_sxy=11 / 1e6, bilateral_sxy=11 / 1e6, bilateral_srgb=255 / 1e6)
    q = dense_crf(probs, image, params=narrow, backend="pydensecrf")
    assert torch.isfinite(q).all()
    print("refused", refused)
    """
)


def test_pydensecrf_never_sees_a_value_that_crashes_it():
    require_pydensecrf()
    result = subprocess.run([sys.executable, "-c", PYDENSECRF_SCRIPT], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])  # -11: segfault
    # 3 widths x 7 values x 2 calls; 2 weights x 3 bad values (2.5 is a weight); 4 iterations
    assert result.stdout.split() == ["refused", str(3 * 7 * 2 + 2 * 3 + 4)]


def test_size_limits_are_stated_and_enforced():
    side = int(math.isqrt(CRF_MAX_PIXELS))
    assert side * side == CRF_MAX_PIXELS == 128 * 128
    probs = torch.full((2, side + 1, side), 0.5)
    image = torch.zeros(3, side + 1, side, dtype=torch.uint8)
    with pytest.raises(ValueError, match="up to 16,384 pixels.*pydensecrf2"):
        mean_field_crf(crf_unary(probs), image)
    with pytest.raises(ValueError, match="up to 16,384 pixels.*pydensecrf2"):
        dense_crf(probs, image, backend="torch")
    assert OBJECTNESS_MAX_PIXELS == 96 * 96
    with pytest.raises(ValueError, match="up to 9,216 pixels.*downscale"):
        pixel_objectness(torch.zeros(3, 97, 96))
    assert mean_field_crf.__doc__ and "MAX_PIXELS" in mean_field_crf.__doc__
    assert "MAX_PIXELS" in pixel_objectness.__doc__


def test_pydensecrf_takes_images_beyond_the_readable_limit():
    require_pydensecrf()
    probs = torch.randn(3, 160, 160).softmax(0)
    image = (torch.rand(3, 160, 160) * 255).to(torch.uint8)
    q = dense_crf(probs, image, backend="pydensecrf")
    assert q.shape == (3, 160, 160) and torch.isfinite(q).all()
    torch.testing.assert_close(q.sum(0), torch.ones(160, 160))
