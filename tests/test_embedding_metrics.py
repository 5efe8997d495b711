"""Embedding metrics (what each C+1 term does) against slow, obvious loops; their errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from cplus_edu import metrics as es
from cplus_edu.experiments import embedding_report, free_share


def _toy(n=60, dim=3, num_classes=4, background_index=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=g)
    labels = torch.arange(n) % num_classes  # every class present
    labels = labels[torch.randperm(n, generator=g)]
    centers = torch.randn(num_classes - 1, dim, generator=g)
    return features, labels, centers


def _unit(v):
    return v / v.norm()


def _slow_center_row(label, background_index):
    rows = [k for k in range(label + 2) if k != background_index]
    return rows.index(label)


@pytest.mark.parametrize("background_index", [0, 2])
def test_intra_class_spread_matches_loop(background_index):
    features, labels, centers = _toy(background_index=background_index)
    total, count = 0.0, 0
    for f, y in zip(features, labels, strict=True):
        if y == background_index:
            continue
        c = centers[_slow_center_row(int(y), background_index)]
        total += (_unit(f) - _unit(c)).norm().item()
        count += 1
    got = es.intra_class_spread(features, labels, centers, background_index)
    assert got == pytest.approx(total / count, rel=1e-5)


def test_nearest_center_distance_and_outside_margin_match_loop():
    features, _, centers = _toy()
    expected = torch.tensor(
        [min((_unit(f) - _unit(c)).norm().item() for c in centers) for f in features]
    )
    got = es.nearest_center_distance(features, centers)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    ordered = expected.sort().values
    margin = float(ordered[29] + ordered[30]) / 2  # between two samples: no tie at the margin
    assert es.outside_margin_rate(features, centers, margin) == pytest.approx(
        sum(d >= margin for d in expected.tolist()) / len(expected)
    )
    raw = es.nearest_center_distance(features, centers, normalize=False)
    assert raw[0].item() == pytest.approx(min((features[0] - c).norm().item() for c in centers))


@pytest.mark.parametrize("background_index", [0, 3])
def test_class_means_skip_background_and_keep_class_order(background_index):
    features, labels, _ = _toy(background_index=background_index)
    means = es.class_means(features, labels, 4, background_index)
    kept = [k for k in range(4) if k != background_index]
    assert means.shape == (3, 3)
    for row, k in enumerate(kept):
        expected = _unit(F.normalize(features[labels == k], dim=1).mean(0))
        torch.testing.assert_close(means[row], expected)
    raw = es.class_means(features, labels, 4, background_index, normalize=False)
    torch.testing.assert_close(raw[0], features[labels == kept[0]].mean(0))


def test_ball_radius_is_quantile_of_own_distances():
    features, labels, centers = _toy()
    own = sorted(
        (_unit(f) - _unit(centers[int(y) - 1])).norm().item()
        for f, y in zip(features, labels, strict=True)
        if y != 0
    )
    assert es.ball_radius(features, labels, centers, quantile=1.0) == pytest.approx(own[-1])
    median = es.ball_radius(features, labels, centers, quantile=0.5)
    assert own[0] <= median <= own[-1]


def test_report_on_a_hand_made_embedding():
    # two classes at angle 0 and 90 degrees on the circle, background at 225 degrees
    def at(deg):
        return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]

    features = torch.tensor([at(0), at(10), at(90), at(100), at(225), at(235)])
    labels = torch.tensor([1, 1, 2, 2, 0, 0])
    centers = torch.tensor([at(5), at(95)])
    logits = torch.tensor([[0, 1.0, 0]] * 6)  # everything predicted class 1
    novel = torch.tensor([at(45)])
    report = embedding_report(features, logits, labels, centers, novel, logits[:1], margin=1.0)
    chord = 2 * math.sin(math.radians(5) / 2)  # every class sample is 5 degrees from its centre
    assert report["intra_class_spread"] == pytest.approx(chord, rel=1e-5)
    assert report["interest_accuracy"] == 0.5
    assert report["novel_background_rejection"] == 0.0
    # 225 degrees is 130 from the centre at 95; 235 degrees is 130 from the centre at 5 (= 365)
    nearest_bg = 2 * math.sin(math.radians(130) / 2)
    assert report["background_to_nearest_center"] == pytest.approx(nearest_bg, rel=1e-5)
    assert report["background_outside_margin"] == 1.0
    assert report["novel_to_nearest_center"] == pytest.approx(2 * math.sin(math.radians(20)))
    assert report["novel_outside_balls"] == 1.0  # 40 degrees away, the balls are 5 degrees wide


def test_bad_input_names_the_argument():
    features, labels, centers = _toy()
    with pytest.raises(ValueError, match="features must have 2 dims"):
        es.nearest_center_distance(features[0], centers)
    with pytest.raises(ValueError, match=r"centers must be \[C, 3\]"):
        es.nearest_center_distance(features, centers[:, :2])
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        es.intra_class_spread(features, labels.float(), centers)
    with pytest.raises(ValueError, match=r"labels must be \[N\] with N=60"):
        es.intra_class_spread(features, labels[:-1], centers)
    with pytest.raises(ValueError, match="no class-of-interest sample"):
        es.intra_class_spread(features, torch.zeros_like(labels), centers)
    with pytest.raises(ValueError, match="centers has 2 rows"):
        es.intra_class_spread(features, labels, centers[:2])
    with pytest.raises(ValueError, match="no sample of class 3"):
        es.class_means(features, labels.clamp(max=2), 4)
    with pytest.raises(ValueError, match=r"background_index must be an int in \[0, 3\]"):
        es.class_means(features, labels, 4, background_index=4)
    with pytest.raises(TypeError, match="features must be a floating-point tensor"):
        es.nearest_center_distance(features.long(), centers)
    with pytest.raises(ValueError, match="quantile must be in"):
        es.ball_radius(features, labels, centers, quantile=0.0)


def test_class_means_are_normalised_means_of_the_classes_of_interest():
    features = torch.tensor([[3.0, 0.0], [0.0, 2.0], [0.0, 5.0], [1.0, 1.0]])
    labels = torch.tensor([1, 2, 2, 0])
    assert torch.allclose(es.class_means(features, labels, 3), torch.tensor([[1.0, 0.0], [0, 1]]))


def _free_share_by_angle(centers, margin, steps=36_000):
    # the slow, obvious way on the circle: walk round it in small steps
    free = 0
    for i in range(steps):
        t = 2 * math.pi * (i + 0.5) / steps
        p = torch.tensor([math.cos(t), math.sin(t)], dtype=torch.float64)
        free += all((p - c).norm() >= margin for c in centers.double())
    return free / steps


@pytest.mark.parametrize(
    "angles, margin",
    [
        ((0.0,), 1.0),
        ((0.0, 90.0, 180.0, 270.0), 1.0),
        ((0.0, 50.0, 100.0, 150.0), 1.0),
        ((0.0, 90.0), 0.5),
    ],
)
def test_free_share_on_the_circle_matches_a_walk_round_it(angles, margin):
    rad = torch.tensor(angles) * math.pi / 180
    centers = torch.stack([rad.cos(), rad.sin()], 1)
    assert free_share(centers, margin) == pytest.approx(_free_share_by_angle(centers, margin),
                                                        abs=0.005)  # fmt: skip


def test_free_share_on_the_sphere_is_one_minus_the_caps():
    # one unit centre, m_b = 1: a cap of 60 degrees, (1 - cos 60) / 2 = 1/4 of the sphere
    assert free_share(torch.tensor([[0.0, 0.0, 1.0]]), 1.0) == pytest.approx(0.75, abs=0.005)
    # four spread centres (a tetrahedron) leave room on the sphere, none on the circle
    tetra = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
    assert 0.0 < free_share(tetra, 1.0) < 0.25
    square = torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    assert free_share(square, 1.0) == 0.0


@pytest.mark.parametrize(
    "centers, margin", [(torch.zeros(3), 1.0), (torch.zeros(0, 2), 1.0), (torch.zeros(2, 2), 0.0)]
)
def test_free_share_rejects_bad_input(centers, margin):
    with pytest.raises(ValueError, match="centers|margin"):
        free_share(centers, margin)
