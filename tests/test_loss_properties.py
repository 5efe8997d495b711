"""Every loss on unusual but legal-looking input (issue 16): the value a float64 / int64 reference
gives, or a clear refusal naming the argument. Integer labels and maps of every dtype, half
precision, ignored labels and regions, ids far apart, near-uniform outputs, infinite settings,
and second derivatives (``gradgradcheck``) of every loss.

The float64 / int64 references are the losses' own int64 / float64 paths, which the per-loss test
files check against slow loops (``loop_cas``, ``loop_cace``, the margin loops, ...); where this
file needs a loop of its own it writes one.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from cplus_edu.checks import check_class_target
from cplus_edu.losses import (
    ArcFaceLoss,
    BackgroundMarginLoss,
    CASLoss,
    CCLoss,
    CenterLoss,
    ClassAgnosticCELoss,
    CosFaceLoss,
    CPlusOneLoss,
    DiscriminativeLoss,
    FusedLoss,
    NormFaceLoss,
    PositiveSharingLoss,
    SphereFaceLoss,
)
from cplus_edu.losses.segments import DENSE_MAX_BINS, RegionBins

INT_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
SIGNED = [torch.int8, torch.int16, torch.int32, torch.int64]  # dtypes that hold -100
HEADS = {"NormFace": NormFaceLoss, "CosFace": CosFaceLoss, "ArcFace": ArcFaceLoss,
         "SphereFace": SphereFaceLoss}  # fmt: skip


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=torch.float64, scale=1.0):
    return (torch.randn(*shape, generator=gen(seed), dtype=dtype) * scale).requires_grad_()


def labels(n, k, seed=1):
    """``[n]`` labels covering every class of ``k``."""
    return torch.arange(n) % k if seed is None else torch.randperm(n, generator=gen(seed)) % k


def regions(batch=2, height=4, width=5, num_ids=3, seed=2):
    return torch.randint(0, num_ids, (batch, height, width), generator=gen(seed))


# Every loss as `name: (loss, inputs, label-like argument positions)`, float64; the label-like
# arguments are the integer tensors (class labels, region maps). `eval()` keeps moving-average
# centres still, so repeated calls see the same loss.
def cases():
    f, lg, y = randn(8, 4, seed=0), randn(8, 3, seed=3), labels(8, 3)
    seg, seg_y = randn(2, 3, 4, 5, seed=4), regions(num_ids=3)
    two, two_y = randn(2, 2, 4, 5, seed=5), regions(num_ids=2, seed=6)
    raw = CPlusOneLoss(3, 4, beta=1.0, margin=2.0, normalize=False, centers="learnable").double()
    head = torch.nn.Linear(4, 3).double()
    cam = CCLoss(mode="difference", attention="cam", classifier=head)
    out = {
        "CPlusOne": (CPlusOneLoss(3, 4, beta=1.0, margin=2.0).double().eval(), [f, lg, y]),
        "CPlusOne-raw": (raw, [f, lg, y]),
        "Center": (CenterLoss(3, 4).double().eval(), [f, y]),
        "BackgroundMargin": (BackgroundMarginLoss(3, 4, margin=2.0).double().eval(), [f, y]),
        "CAS": (CASLoss(), [seg, seg_y]),
        "CACE": (ClassAgnosticCELoss(), [two, two_y, seg_y]),
        "Discriminative": (DiscriminativeLoss(delta_v=0.1), [seg, seg_y]),
        "Fused": (FusedLoss(0.3, 0.7), [seg, seg_y]),
        "PositiveSharing": (PositiveSharingLoss(), [seg, seg_y]),
        "CC-hinge": (CCLoss(margin=2.0), [f, lg, y]),
        "CC-cam": (cam, [f, lg, y]),
    }
    for name, head in HEADS.items():
        out[name] = (head(3, 4, scale=4.0).double(), [f, y])
    return out


CASES = cases()


def float_args(args):
    return [a for a in args if a.is_floating_point()]


def call_with(loss, args, floats):
    """``loss`` with the float arguments of ``args`` replaced by ``floats`` (in order)."""
    it = iter(floats)
    return loss(*[next(it) if a.is_floating_point() else a for a in args])


# ------------------------------------------------------------------------ second derivatives


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_are_exact(name):
    loss, args = CASES[name]
    floats = [a.detach().requires_grad_() for a in float_args(args)]
    fn = lambda *xs: call_with(loss, args, xs)  # noqa: E731
    assert gradcheck(fn, floats)
    assert gradgradcheck(fn, floats)


def test_second_derivatives_where_norms_vanish():
    """A one-pixel region sits at its mean (||x - mu|| = 0), a region pair with itself has a zero
    gap: vector_norm's second derivative there is NaN; the loss's is finite and exact."""
    x = randn(1, 2, 3, 3, seed=7)
    r = torch.tensor([[[0, 0, 0], [1, 1, 1], [1, 1, 2]]])  # region 2: one pixel
    loss = DiscriminativeLoss(delta_v=0.0, delta_d=5.0, gamma=0.1)
    (grad,) = torch.autograd.grad(loss(x, r), x, create_graph=True)
    (hessian_row,) = torch.autograd.grad(grad.square().sum(), x)
    assert torch.isfinite(hessian_row).all()
    assert gradgradcheck(lambda a: loss(a, r), [x])


def test_gradient_penalty_through_a_model():
    """A gradient penalty (grad w.r.t. the input, create_graph, then backward to the weights):
    the incoming gradient of the loss does not require grad, the case a `once_differentiable`
    backward silently gets wrong. Against finite differences in the weights."""
    conv = torch.nn.Conv2d(2, 3, 1).double()
    x, r = randn(2, 2, 4, 5, seed=8), regions(num_ids=3, seed=9)

    def penalty(weight, loss):
        out = F.conv2d(x, weight, conv.bias)
        (g,) = torch.autograd.grad(loss(out, r), x, create_graph=True)
        return g.square().sum()

    for loss in (CASLoss(), FusedLoss()):
        weight = conv.weight.detach().clone().requires_grad_()
        assert gradcheck(lambda w, loss=loss: penalty(w, loss), [weight])


def test_fused_backward_twice_with_retain_graph():
    """The first backward writes the gradient into the saved exponentials' buffer; a second
    backward through the same graph must compute them again, not reuse the overwritten ones."""
    logits, target = randn(2, 4, 3, 3, seed=10), regions(height=3, width=3, num_ids=4)
    loss = FusedLoss()(logits, target)
    (first,) = torch.autograd.grad(loss, logits, retain_graph=True)
    (second,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


# ------------------------------------------------------------------ integer dtypes, sentinels


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_labels_of_every_dtype_give_the_int64_value(name, dtype):
    loss, args = CASES[name]
    expected = loss(*args)
    narrow = [a if a.is_floating_point() else a.to(dtype) for a in args]
    torch.testing.assert_close(loss(*narrow), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_unsigned_64_bit_and_bool_labels_are_refused_by_name(name):
    loss, args = CASES[name]
    for dtype, match in ((torch.uint64, "fit in int64"), (torch.bool, "integer tensor")):
        bad = [a if a.is_floating_point() else a.to(dtype) for a in args]
        with pytest.raises(TypeError, match=match):
            loss(*bad)


@pytest.mark.parametrize("dtype", SIGNED)
def test_ignore_index_in_narrow_signed_labels(dtype):
    """-100 in int8/int16/int32 labels is ignored exactly as in int64 labels."""
    f, lg, seg = randn(8, 4), randn(8, 3, seed=3), randn(2, 3, 4, 5, seed=4)
    y, seg_y = labels(8, 3), regions(num_ids=3)
    y[[1, 5]], seg_y[0, 0] = -100, -100
    checks = [
        (CPlusOneLoss(3, 4, beta=1.0).double().eval(), [f, lg, y]),
        (FusedLoss(), [seg, seg_y]),
        (CASLoss(), [seg, seg_y]),
        (DiscriminativeLoss(), [seg, seg_y]),
        (CosFaceLoss(3, 4).double(), [f, y]),
        (CCLoss(), [f, lg, y]),
    ]
    for loss, args in checks:
        narrow = [a if a.is_floating_point() else a.to(dtype) for a in args]
        torch.testing.assert_close(loss(*narrow), loss(*args), rtol=0, atol=0)


def loop_cace(logits, target, regions, ignore_index=-100):
    """Per region, the smaller of the summed CE with the labels and with them flipped; divided
    by the number of pixels that have a label and a region. int64 comparisons only."""
    target, regions = target.long(), regions.long()
    log_p = logits.log_softmax(1)
    total, count = 0.0, 0
    for b in range(len(target)):
        keep = (target[b] != ignore_index) & (regions[b] != ignore_index)
        count += int(keep.sum())
        for rid in regions[b][keep].unique().tolist():
            mask = keep & (regions[b] == rid)
            y, lp = target[b][mask], log_p[b][:, mask]
            picked = -lp[y, torch.arange(len(y))].sum()
            flipped = -lp[1 - y, torch.arange(len(y))].sum()
            total += torch.minimum(picked, flipped).item()
    return total / max(count, 1)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_cace_narrow_region_map_with_ignored_labels(dtype):
    """int64 target with -100, region map in a narrow dtype: the -100 fill used to wrap to 156
    in uint8 and make the ignored pixels a region of their own."""
    logits = randn(2, 2, 6, 6, seed=11, scale=2.0)
    target = torch.randint(0, 2, (2, 6, 6), generator=gen(12))
    target[:, :2] = -100
    region_map = torch.randint(0, 3, (2, 6, 6), generator=gen(13))
    got = ClassAgnosticCELoss()(logits, target, region_map.to(dtype))
    assert got.item() == pytest.approx(loop_cace(logits, target, region_map), rel=1e-12)


def test_cace_pixel_in_no_region_leaves_the_mean():
    """Region -100 at a labelled pixel: the pixel leaves the sum and the count, exactly as if
    its label were -100."""
    logits = randn(2, 2, 5, 5, seed=14, scale=2.0)
    target = torch.randint(0, 2, (2, 5, 5), generator=gen(15))
    region_map = torch.randint(0, 3, (2, 5, 5), generator=gen(16))
    region_map[0, :2] = -100
    loss = ClassAgnosticCELoss()
    as_unlabelled = torch.where(region_map == -100, -100, target)
    torch.testing.assert_close(loss(logits, target, region_map),
                               loss(logits, as_unlabelled, region_map))  # fmt: skip
    assert loss(logits, target, region_map).item() == pytest.approx(
        loop_cace(logits, target, region_map), rel=1e-12
    )


def test_class_target_check_with_ignore_index_above_the_classes():
    """The one-pass check (aminmax) must still see a bad class beside an ignore_index of 255."""
    target = torch.tensor([0, 3, 255, 2])
    assert check_class_target(target, 4, 255) is target
    with pytest.raises(ValueError, match=r"got values in \[0, 4\]"):
        check_class_target(torch.tensor([0, 4, 255]), 4, 255)
    with pytest.raises(ValueError, match=r"got values in \[-1, 2\]"):
        check_class_target(torch.tensor([-1, 2, 255], dtype=torch.int16), 4, 255)
    all_ignored = torch.full((3,), 255, dtype=torch.uint8)
    assert check_class_target(all_ignored, 4, 255).dtype == torch.int64


# ------------------------------------------------------------------ ignore_index like CE


@pytest.mark.parametrize("head", sorted(HEADS))
def test_margin_heads_ignore_labels_like_cross_entropy(head):
    loss = HEADS[head](3, 4, scale=4.0).double()
    e, y = randn(8, 4, seed=17), labels(8, 3)
    y[[0, 6]] = -100
    keep = y != -100
    torch.testing.assert_close(loss(e, y), loss(e[keep], y[keep]))
    all_ignored = torch.full_like(y, -100)
    value = loss(e, all_ignored)
    value.backward()
    assert value.item() == 0.0 and e.grad.abs().max() == 0
    with pytest.raises(ValueError, match="ignore_index must not be a class index"):
        HEADS[head](3, 4, ignore_index=2)


@pytest.mark.parametrize("mode", ["hinge", "difference"])
def test_cc_loss_ignores_labels_in_both_terms(mode):
    f, lg, y = randn(9, 4, seed=18), randn(9, 3, seed=19), labels(9, 3)
    y[[2, 3]] = -100
    keep = y != -100
    for attention in ("se", "cam"):
        classifier = torch.nn.Linear(4, 3).double()
        loss = CCLoss(mode=mode, attention=attention, classifier=classifier)
        torch.testing.assert_close(loss(f, lg, y), loss(f[keep], lg[keep], y[keep]))


# ------------------------------------------------------------------------- half precision


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(CASES))
def test_half_precision_is_computed_in_float32(name, dtype):
    """The loss of half inputs is the float32 loss of the same (rounded) values, returned in
    float32, with the float32 gradient carried back to the half input (non-zero)."""
    loss, args = cases()[name]  # a fresh copy: .float() converts the module in place
    loss = loss.float()
    if name == "CC-cam":
        loss._classifier[0].float()
    halves = [a.detach().to(dtype).requires_grad_() for a in float_args(args)]
    singles = [h.detach().float().requires_grad_() for h in halves]
    got, expected = call_with(loss, args, halves), call_with(loss, args, singles)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
    got.backward()
    expected.backward()
    for h, s in zip(halves, singles):
        assert h.grad.dtype == dtype and h.grad.abs().max() > 0
        torch.testing.assert_close(h.grad, s.grad.to(dtype))


# --------------------------------------------------------- CAS: near-uniform outputs, signs


@pytest.mark.parametrize("seed", range(8))
def test_cas_near_uniform_float32_keeps_the_float64_value_and_sign(seed):
    """Logits ~1e-3: every term is ~1e-7 next to ||s||^2 ~ 1/M. float32 used to get even the
    sign wrong (-7.8e-8 for +4.5e-8) and a negative uniformer."""
    logits = torch.randn(2, 3, 16, 16, generator=gen(seed), dtype=torch.float64) * 1e-3
    region_map = torch.randint(0, 4, (2, 16, 16), generator=gen(seed + 100))
    loss = CASLoss()
    reference = loss(logits, region_map)
    ref_terms = dict(loss.terms)
    got = loss(logits.float(), region_map)
    assert torch.sign(got) == torch.sign(reference)
    assert float(got) == pytest.approx(float(reference), rel=1e-3)
    for term in ("uniformer", "discriminator"):
        assert loss.terms[term] >= 0
        assert float(loss.terms[term]) == pytest.approx(float(ref_terms[term]), rel=1e-3)


def test_cas_terms_never_negative_for_a_saturated_perfect_segmentation():
    """Confident, perfect outputs: the uniformer is ~0; computed as a sum of squares it stays
    >= 0 (the variance identity left float32 rounding of either sign)."""
    region_map = torch.randint(0, 3, (2, 32, 32), generator=gen(20))
    logits = 30 * F.one_hot(region_map, 3).permute(0, 3, 1, 2).float()
    logits = logits + torch.randn(logits.shape, generator=gen(21)) * 1e-3
    loss = CASLoss()
    loss(logits, region_map)
    assert 0 <= loss.terms["uniformer"] < 1e-10
    assert loss.terms["discriminator"] > 0


# -------------------------------------------------------------------------- settings


ARGUMENTS = [
    (CPlusOneLoss, (3, 4), ["alpha", "beta", "margin"]),
    (CenterLoss, (3, 4), ["momentum"]),
    (BackgroundMarginLoss, (3, 4), ["margin"]),
    (CASLoss, (), ["alpha"]),
    (FusedLoss, (), ["ws", "wp"]),
    (DiscriminativeLoss, (), ["delta_v", "delta_d", "alpha", "beta", "gamma"]),
    (CCLoss, (), ["weight", "margin"]),
    (CosFaceLoss, (3, 4), ["margin", "scale"]),
    (ArcFaceLoss, (3, 4), ["margin", "scale"]),
    (NormFaceLoss, (3, 4), ["scale"]),
    (SphereFaceLoss, (3, 4), ["margin", "scale", "lambda_"]),
]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("cls, positional, names", ARGUMENTS,
                         ids=[c.__name__ for c, _, _ in ARGUMENTS])  # fmt: skip
def test_non_finite_settings_are_refused_by_name(cls, positional, names, value):
    for name in names:
        with pytest.raises(ValueError, match=name):
            cls(*positional, **{name: value})


@pytest.mark.parametrize("margin", [math.pi, 4.0, 10.0])
def test_arcface_refuses_a_margin_of_pi_or_more(margin):
    with pytest.raises(ValueError, match="margin"):
        ArcFaceLoss(3, 4, margin=margin)


@pytest.mark.parametrize("margin", [0.1, 0.5, 1.5, 2.5, 3.0, math.pi - 1e-3])
def test_arcface_margin_below_pi_is_always_a_penalty(margin):
    """psi(theta) < cos(theta) for every angle once m > 0: at the fallback too, where m >= pi
    turned it into a bonus (loss 0.0 at m = 10)."""
    head = ArcFaceLoss(3, 4, margin=margin, scale=4.0).double()
    e = randn(64, 4, seed=22)
    y = labels(64, 3)
    with torch.no_grad():
        plain = head.logits(e).gather(1, y[:, None])
        penalised = head.margin_logits(e, y).gather(1, y[:, None])
    assert (penalised < plain).all()
    free = F.cross_entropy(head.logits(e), y)
    assert head(e, y) > free


def test_margin_head_refuses_embeddings_of_another_dtype():
    head = CosFaceLoss(3, 4)  # float32 weight
    with pytest.raises(TypeError, match="float64.*float32"):
        head(torch.randn(5, 4, dtype=torch.float64), labels(5, 3))
    with pytest.raises(TypeError, match="float32.*float64"):
        head.double()(torch.randn(5, 4), labels(5, 3))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_margin_head_in_half_precision_computes_in_float32(dtype):
    """A half head with half embeddings (or a float32 head with half embeddings, as under
    autocast) is the float32 head on the same values."""
    e, y = torch.randn(6, 4, generator=gen(24)).to(dtype), labels(6, 3)
    single = ArcFaceLoss(3, 4)
    half = ArcFaceLoss(3, 4).to(dtype)
    with torch.no_grad():
        single.weight.copy_(half.weight.float())
    expected = single(e.float(), y)
    torch.testing.assert_close(half(e, y), expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(single(e, y), expected, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- ids far apart: O(distinct)


@pytest.mark.parametrize(
    "ids",
    [[0, 4000], [0, 5, 9, 13, 4000], [-7, 2, 10**12], list(range(DENSE_MAX_BINS + 3))],
)
def test_region_bins_cost_one_bin_per_distinct_id(ids):
    g = gen(23)
    region_map = torch.tensor(ids)[torch.randint(0, len(ids), (2, 64, 64), generator=g)]
    region_map[0, 0, : len(ids)] = torch.tensor(ids)  # every id occurs
    region_map[1, 0, 0] = -100
    bins = RegionBins(region_map)
    assert bins.num_bins == len(ids)
    assert bins.ids.tolist() == sorted(ids)
    compact = torch.searchsorted(torch.tensor(sorted(ids)), region_map.clamp_min(min(ids)))
    compact = torch.where(region_map == -100, -100, compact)  # the same map, ids 0..n-1
    x = torch.randn(2, 3, 64, 64, generator=g, dtype=torch.float64)
    for loss in (DiscriminativeLoss(), CASLoss()):
        torch.testing.assert_close(loss(x, region_map), loss(x, compact), rtol=1e-12, atol=0)
