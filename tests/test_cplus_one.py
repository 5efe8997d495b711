"""The C+1 loss against a slow per-sample loop, gradients, and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from cplus_edu.losses import BackgroundMarginLoss, CenterLoss, CPlusOneLoss
from cplus_edu.losses.cplus_one import UnitCosine

KINDS = ["learnable", "moving_average", "shared"]


def slow_terms(features, logits, target, centers, *, background_index, margin, normalize,
               ignore_index=-100):
    """Eq. (1)-(2) the obvious way: one sample at a time, plain Python sums.

    ``features [N, D]``, ``logits [N, K]``, ``target [N]``, ``centers [C, D]``.
    """
    num_centers = centers.shape[0]
    sep, n_valid, compact, n_coi, background, n_bg = 0.0, 0, 0.0, 0, 0.0, 0
    for f, z, y in zip(features, logits, target.tolist()):
        if y == ignore_index:
            continue
        n_valid += 1
        sep += -(z[y] - torch.logsumexp(z, 0))
        if normalize:
            f = f / f.norm()
        if y == background_index:
            n_bg += 1
            hinges = [max(0.0, margin - (f - centers[k]).norm()) for k in range(num_centers)]
            background += sum(hinges) / num_centers  # eq. (2)
        else:
            n_coi += 1
            k = y if y < background_index else y - 1  # centres skip the background row
            compact += ((f - centers[k]) ** 2).sum()
    return (float(sep) / max(n_valid, 1), float(compact) / max(n_coi, 1),
            float(background) / max(n_bg, 1))  # fmt: skip


def make_loss(kind, num_classes=5, feat_dim=6, **kwargs):
    head = torch.nn.Linear(feat_dim, num_classes)
    return CPlusOneLoss(num_classes, feat_dim, centers=kind, classifier=head, **kwargs), head


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("background_index", [0, 2])
def test_terms_match_slow_loop_classification(kind, normalize, background_index):
    torch.manual_seed(0)
    loss_fn, _ = make_loss(kind, normalize=normalize, background_index=background_index,
                           alpha=0.3, beta=0.7, margin=1.3 if normalize else 3.0)  # fmt: skip
    features, logits = torch.randn(40, 6), torch.randn(40, 5)
    target = torch.randint(0, 5, (40,))
    target[:3] = -100
    centers = loss_fn.centers.detach().clone()
    loss = loss_fn(features, logits, target)
    sep, compact, background = slow_terms(features, logits, target, centers,
                                          background_index=background_index,
                                          margin=loss_fn.margin, normalize=normalize)  # fmt: skip
    assert background > 0  # the margin is active, so the hinge is really tested
    terms = loss_fn.terms
    assert terms["separability"].item() == pytest.approx(sep, rel=1e-5)
    assert terms["compact"].item() == pytest.approx(compact, rel=1e-5)
    assert terms["background"].item() == pytest.approx(background, rel=1e-5)
    assert loss.item() == pytest.approx(sep + 0.3 * compact + 0.7 * background, rel=1e-5)


def test_separability_is_torch_cross_entropy_with_ignore_index():
    torch.manual_seed(1)
    loss_fn, _ = make_loss("learnable", ignore_index=255)
    logits, target = torch.randn(30, 5), torch.randint(0, 5, (30,))
    target[::4] = 255
    loss_fn(torch.randn(30, 6), logits, target)
    expected = torch.nn.CrossEntropyLoss(ignore_index=255)(logits, target)
    assert torch.allclose(loss_fn.terms["separability"], expected, rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_segmentation_matches_slow_loop_over_pixels(kind):
    torch.manual_seed(2)
    loss_fn, _ = make_loss(kind, alpha=0.5, beta=2.0, margin=1.2)
    features, logits = torch.randn(2, 6, 3, 4), torch.randn(2, 5, 3, 4)
    target = torch.randint(0, 5, (2, 3, 4))
    target[0, 0, :2] = -100
    centers = loss_fn.centers.detach().clone()
    loss = loss_fn(features, logits, target)
    pixels = lambda t: t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])  # noqa: E731
    sep, compact, background = slow_terms(pixels(features), pixels(logits), target.flatten(),
                                          centers, background_index=0, margin=1.2,
                                          normalize=True)  # fmt: skip
    assert loss.item() == pytest.approx(sep + 0.5 * compact + 2.0 * background, rel=1e-5)
    assert loss_fn.terms["compact"].item() == pytest.approx(compact, rel=1e-5)


def test_coarse_feature_map_uses_nearest_resized_target():
    """DeepLab's features are 1/8 of the labels: the centre terms see target[::s, ::s]."""
    torch.manual_seed(3)
    loss_fn, _ = make_loss("learnable", alpha=1.0, beta=1.0, margin=1.5)
    features, logits = torch.randn(2, 6, 2, 3), torch.randn(2, 5, 4, 6)
    target = torch.randint(0, 5, (2, 4, 6))
    centers = loss_fn.centers.detach().clone()
    loss_fn(features, logits, target)
    coarse = target[:, ::2, ::2]  # nearest neighbour, factor 2
    pixels = features.permute(0, 2, 3, 1).reshape(-1, 6)
    _, compact, background = slow_terms(pixels, torch.zeros(12, 5), coarse.flatten(), centers,
                                        background_index=0, margin=1.5, normalize=True)
    sep = F.cross_entropy(logits, target).item()
    assert loss_fn.terms["separability"].item() == pytest.approx(sep, rel=1e-6)
    assert loss_fn.terms["compact"].item() == pytest.approx(compact, rel=1e-5)
    assert loss_fn.terms["background"].item() == pytest.approx(background, rel=1e-5)


def test_ignored_samples_do_not_change_the_loss():
    torch.manual_seed(4)
    loss_fn, _ = make_loss("learnable", beta=1.0, margin=2.0)
    features, logits = torch.randn(20, 6), torch.randn(20, 5)
    target = torch.randint(0, 5, (20,))
    target[5:9] = -100
    first = loss_fn(features, logits, target)
    features[5:9], logits[5:9] = 100 * torch.randn(4, 6), 100 * torch.randn(4, 5)
    assert torch.equal(loss_fn(features, logits, target), first)


def test_standalone_terms_equal_the_cplus_one_parts():
    torch.manual_seed(5)
    kwargs = dict(background_index=1, centers="learnable")
    full = CPlusOneLoss(4, 3, margin=1.1, **kwargs)
    center, margin = CenterLoss(4, 3, **kwargs), BackgroundMarginLoss(4, 3, margin=1.1, **kwargs)
    center.load_state_dict(full.state_dict())
    margin.load_state_dict(full.state_dict())
    features, target = torch.randn(25, 3), torch.randint(0, 4, (25,))
    full(features, torch.randn(25, 4), target)
    assert torch.allclose(center(features, target), full.terms["compact"])
    assert torch.allclose(margin(features, target), full.terms["background"])


def test_zero_margin_switches_the_background_term_off():
    loss_fn, _ = make_loss("learnable", margin=0.0, beta=1.0)
    loss_fn(torch.randn(10, 6), torch.randn(10, 5), torch.zeros(10, dtype=torch.long))
    assert loss_fn.terms["background"].item() == 0.0


def test_background_sample_on_a_centre_gets_the_full_margin_and_a_finite_gradient():
    loss_fn, _ = make_loss("learnable", margin=0.5, beta=1.0, alpha=0.0)
    features = loss_fn.centers.detach()[:1].clone().requires_grad_(True)  # exactly on centre 0
    loss_fn(features, torch.zeros(1, 5), torch.zeros(1, dtype=torch.long)).backward()
    # d = 0 to centre 0; the other centres are random unit vectors, farther than 0.5 or not
    assert loss_fn.terms["background"].item() >= 0.5 / 4 - 1e-4  # float32 round-off in d
    assert torch.isfinite(features.grad).all()


def test_unit_cosine_equals_centres_times_normalised_features():
    torch.manual_seed(9)
    f, centers = torch.randn(3, 5, 7, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    cosines, inv_norm = UnitCosine.apply(f, centers)
    assert torch.allclose(cosines, centers @ F.normalize(f, dim=1))
    assert torch.allclose(inv_norm, 1 / f.norm(dim=1))
    f.requires_grad_(True)
    centers.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: UnitCosine.apply(a, b)[0], [f, centers])


def test_a_zero_feature_sits_at_the_origin_like_f_normalize_puts_it():
    loss_fn, _ = make_loss("learnable", alpha=1.0)
    loss_fn(torch.zeros(1, 6), torch.zeros(1, 5), torch.tensor([1]))
    assert loss_fn.terms["compact"].item() == pytest.approx(1.0)  # ||0 - c||^2 = |c|^2 = 1


# -- gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("normalize", [True, False])
def test_gradcheck_float64(kind, normalize):
    torch.manual_seed(6)
    loss_fn, head = make_loss(kind, num_classes=4, feat_dim=3, normalize=normalize, alpha=0.7,
                              beta=0.9, margin=1.4 if normalize else 3.0)  # fmt: skip
    loss_fn.double()
    head.double()
    loss_fn.eval()  # a moving average must not move between gradcheck's evaluations
    features = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(8, 4, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 1, 2, 3, 0, 0, -100, 3])
    inputs = [features, logits]
    if kind != "moving_average":  # the centres' own gradient too
        centers_param = head.weight if kind == "shared" else loss_fn.center_representation.weight
        inputs.append(centers_param)

    def fn(f, z, *_):
        return loss_fn(f, z, target)

    assert torch.autograd.gradcheck(fn, inputs)


def test_gradcheck_float64_segmentation_coarse_features():
    torch.manual_seed(7)
    loss_fn, _ = make_loss("moving_average", num_classes=3, feat_dim=3, alpha=0.5, beta=1.0,
                           margin=1.4)  # fmt: skip
    loss_fn.double().eval()
    features = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 4))
    assert torch.autograd.gradcheck(lambda f, z: loss_fn(f, z, target), [features, logits])


def test_backward_after_a_training_mode_call_with_moving_average():
    """The in-place centre update after forward must not break backward (GUIDE.md section 6)."""
    loss_fn, _ = make_loss("moving_average")
    loss_fn.train()
    features = torch.randn(16, 6, requires_grad=True)
    target = torch.arange(16) % 5
    first = loss_fn(features, torch.randn(16, 5), target)
    second = loss_fn(features, torch.randn(16, 5), target)  # updates the centres again
    (first + second).backward()
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0


def test_shared_centres_send_gradient_to_the_classifier_but_not_its_background_row():
    torch.manual_seed(8)
    loss_fn, head = make_loss("shared", background_index=2, alpha=1.0, beta=1.0, margin=2.0)
    assert list(loss_fn.parameters()) == []  # the model owns the classifier
    loss_fn(torch.randn(20, 6), torch.randn(20, 5), torch.randint(0, 5, (20,))).backward()
    grad = head.weight.grad
    assert grad[2].abs().sum() == 0  # background row: no centre, logits were not from head
    assert grad[[0, 1, 3, 4]].abs().sum(1).min() > 0


def test_learnable_centres_are_parameters_of_the_loss_and_get_a_gradient():
    loss_fn, _ = make_loss("learnable")
    (param,) = loss_fn.parameters()
    loss_fn(torch.randn(20, 6), torch.randn(20, 5), torch.arange(20) % 5).backward()
    assert param.shape == (4, 6) and param.grad.abs().sum(1).min() > 0


# -- degenerate but legal batches ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", ["no_background", "no_class_of_interest", "all_ignored"])
def test_degenerate_batches_give_finite_loss_and_gradient(kind, case):
    loss_fn, _ = make_loss(kind, beta=1.0)
    target = {"no_background": torch.tensor([1, 2, 3, 4, 1, 2]),
              "no_class_of_interest": torch.zeros(6, dtype=torch.long),
              "all_ignored": torch.full((6,), -100)}[case]  # fmt: skip
    features = torch.randn(6, 6, requires_grad=True)
    logits = torch.randn(6, 5, requires_grad=True)
    before = loss_fn.centers.detach().clone()
    loss = loss_fn(features, logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(features.grad).all()
    assert torch.isfinite(loss_fn.centers).all()
    if case == "all_ignored":
        assert loss.item() == 0.0 and features.grad.abs().sum() == 0
        assert torch.equal(loss_fn.centers.detach(), before)
    if case == "no_class_of_interest":
        assert loss_fn.terms["compact"].item() == 0.0


def test_segmentation_batch_with_a_single_class_is_finite():
    loss_fn, _ = make_loss("moving_average", beta=1.0)
    loss = loss_fn(torch.randn(1, 6, 4, 4), torch.randn(1, 5, 4, 4), torch.ones(1, 4, 4).long())
    assert torch.isfinite(loss)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "features, logits, target, error, words",
    [
        (torch.randn(8, 7), torch.randn(8, 5), torch.zeros(8).long(), ValueError, "feat_dim=6"),
        (torch.randn(8, 6), torch.randn(8, 4), torch.zeros(8).long(), ValueError, "logits"),
        (torch.randn(8, 6), torch.randn(8, 5), torch.zeros(7).long(), ValueError, "target"),
        (torch.randn(8, 6), torch.randn(8, 5), torch.full((8,), 5), ValueError, "[0, 4]"),
        (torch.randn(8, 6), torch.randn(8, 5), torch.full((8,), -1), ValueError, "target"),
        (torch.randn(8, 6), torch.randn(8, 5), torch.zeros(8), TypeError, "integer"),
        (torch.randn(8, 6, 1), torch.randn(8, 5), torch.zeros(8).long(), ValueError, "features"),
        (torch.randn(2, 6, 4, 4), torch.randn(2, 5, 4, 4), torch.zeros(2, 4).long(), ValueError,
         "target"),
        (torch.randn(2, 6, 4, 4), torch.randn(2, 5, 3, 4), torch.zeros(2, 4, 4).long(), ValueError,
         "logits"),
        ([[0.0] * 6] * 8, torch.randn(8, 5), torch.zeros(8).long(), TypeError, "torch.Tensor"),
        (torch.randn(0, 6), torch.randn(0, 5), torch.zeros(0).long(), ValueError, "empty"),
        (torch.zeros(8, 6).long(), torch.randn(8, 5), torch.zeros(8).long(), TypeError,
         "floating"),
    ],
)  # fmt: skip
def test_bad_input_raises_a_clear_error(features, logits, target, error, words):
    loss_fn, _ = make_loss("moving_average")
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        loss_fn(features, logits, target)


@pytest.mark.parametrize("name", ["features", "logits"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nan_or_inf_input_is_named(name, value):
    loss_fn, _ = make_loss("learnable")
    inputs = {"features": torch.randn(8, 6), "logits": torch.randn(8, 5)}
    inputs[name][3, 2] = value
    with pytest.raises(ValueError, match=f"{name} contains NaN or Inf"):
        loss_fn(inputs["features"], inputs["logits"], torch.arange(8) % 5)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(centers="median"), "centers must be one of"),
        (dict(centers="shared"), "classifier="),
        (dict(alpha=-1.0), "alpha"),
        (dict(margin=float("nan")), "margin"),
        (dict(background_index=5), "background_index"),
        (dict(ignore_index=3), "ignore_index"),
        (dict(momentum=1.0), "momentum"),
    ],
)
def test_bad_constructor_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        CPlusOneLoss(5, 6, **kwargs)


def test_shared_centres_need_a_matching_classifier():
    with pytest.raises(ValueError, match="expected \\(4, 6\\)"):
        CPlusOneLoss(5, 6, centers="shared", classifier=torch.nn.Linear(6, 4))
    with pytest.raises(TypeError, match="weight"):
        CPlusOneLoss(5, 6, centers="shared", classifier=torch.nn.ReLU())


# -- in the training loop --------------------------------------------------------------------------


def test_fit_trains_with_the_cplus_one_loss_and_records_the_terms():
    from cplus_edu import MLP, fit, predict, seed_everything
    from cplus_edu.data import make_cplus_one_data

    seed_everything(0)
    data = make_cplus_one_data(num_classes=3, n_per_class=40, n_background=80, dim=2, seed=0)
    model = MLP(2, 4, embedding_dim=3, hidden=(32,))
    loss_fn = CPlusOneLoss(4, 3, beta=1.0, margin=1.0)
    history = fit(model, loss_fn, (data.x, data.y), epochs=20, batch_size=50, lr=2e-2,
                  progress=False)  # fmt: skip
    assert set(history.terms) == {"separability", "compact", "background"}
    assert history.loss[-1] < 0.6 * history.loss[0]
    assert history.terms["compact"][-1] < 0.2 * history.terms["compact"][0]
    _, logits = predict(model, data.x)
    assert (logits.argmax(1) == data.y).float().mean() > 0.75
