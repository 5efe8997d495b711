"""Circle and sphere plots: the margin band's geometry, what is drawn, and bad input."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Wedge  # noqa: E402

from cplus_edu.viz import plot_circle, plot_sphere  # noqa: E402
from cplus_edu.viz.hypersphere import (  # noqa: E402
    DEFAULT_VIEW,
    RING_BACKGROUND,
    RING_NOVEL,
    _cap_circle,
    center_labels,
    embedding_legend,
    facing_view,
    margin_half_angle,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("r, m", [(1.0, 0.5), (1.0, 1.0), (1.0, 1.9), (0.6, 0.7), (1.4, 0.8)])
def test_margin_band_edge_is_at_distance_margin(r, m):
    # a unit point at the band's edge lies exactly m from the centre (loop over a few centres)
    half = margin_half_angle(r, m)
    for phi in (0.0, 1.0, -2.5):
        c = r * np.array([math.cos(phi), math.sin(phi)])
        edge = np.array([math.cos(phi + half), math.sin(phi + half)])
        assert np.linalg.norm(edge - c) == pytest.approx(m, abs=1e-9)
        inside = np.array([math.cos(phi + 0.9 * half), math.sin(phi + 0.9 * half)])
        assert np.linalg.norm(inside - c) < m


def test_margin_band_limits():
    assert margin_half_angle(1.0, 1.0) == pytest.approx(math.pi / 3)  # 2 arcsin(1/2)
    assert margin_half_angle(1.0, 2.0) == pytest.approx(math.pi)  # covers the whole sphere
    assert margin_half_angle(1.0, 0.0) == 0.0
    assert margin_half_angle(0.3, 0.5) == 0.0  # the unit sphere never comes within 0.5 of it
    with pytest.raises(ValueError, match="margin must be >= 0"):
        margin_half_angle(1.0, -0.1)


def test_cap_circle_points_are_on_the_sphere_at_the_half_angle():
    c = np.array([0.3, -0.5, 0.8])
    ring = _cap_circle(c, 0.4, n=50)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
    np.testing.assert_allclose(ring @ (c / np.linalg.norm(c)), math.cos(0.4))


def test_facing_view_looks_at_the_points():
    direction = np.array([0.2, -0.7, 0.3])
    points = direction + 0.05 * np.random.default_rng(0).normal(size=(50, 3))
    elev, azim = facing_view(points)
    d = direction / np.linalg.norm(direction)
    assert azim == pytest.approx(math.degrees(math.atan2(d[1], d[0])), abs=3)
    assert elev == pytest.approx(math.degrees(math.asin(d[2])) + 15, abs=3)
    below = np.array([[0.1, 0.1, -1.0]] * 3)
    assert facing_view(below)[0] == -10.0  # a view from straight below is clipped
    assert facing_view(np.zeros((0, 3))) == DEFAULT_VIEW


def test_center_labels_skip_the_background():
    assert center_labels(3, 0) == [1, 2, 3]
    assert center_labels(3, 3) == [0, 1, 2]
    assert center_labels(3, 1) == [0, 2, 3]


def _embedding(dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(80) % 4
    centers = torch.nn.functional.normalize(torch.randn(3, dim, generator=g), dim=1)
    features = torch.randn(80, dim, generator=g)
    return features, labels, centers


def test_plot_circle_draws_one_band_per_centre_around_it():
    features, labels, centers = _embedding(2)
    ax = plot_circle(features, labels, centers, 0.8, novel=features[:5], title="demo")
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    assert len(wedges) == 3
    half = math.degrees(margin_half_angle(1.0, 0.8))
    for wedge, c in zip(wedges, centers, strict=True):
        mid = math.degrees(math.atan2(c[1], c[0]))
        assert wedge.theta1 == pytest.approx(mid - half)
        assert wedge.theta2 == pytest.approx(mid + half)
    # background, 3 classes, novel, 3 centre stars
    assert len(ax.collections) == 1 + 3 + 1 + 3
    assert ax.get_title().startswith("demo") and "m_b" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    labels_in_legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels_in_legend == [
        "background",
        "class 1",
        "class 2",
        "class 3",
        "novel background",
        "centres",
    ]


def test_plot_circle_keeps_the_angle_and_puts_each_group_on_its_ring():
    features, labels, _ = _embedding(2)
    ax = plot_circle(features * 7.0, labels, novel=features[:5], jitter=0.0)
    radii = [np.linalg.norm(points.get_offsets(), axis=1) for points in ax.collections]
    expected = [RING_BACKGROUND, 1.0, 1.0, 1.0, RING_NOVEL]  # background, 3 classes, novel
    for r, ring in zip(radii, expected, strict=True):
        np.testing.assert_allclose(r, ring, rtol=1e-6)
    drawn = ax.collections[1].get_offsets()
    np.testing.assert_allclose(
        np.arctan2(drawn[:, 1], drawn[:, 0]),
        np.arctan2(*features[labels == 1].numpy().T[::-1]),
        rtol=1e-5,
    )
    assert not any(isinstance(p, Wedge) for p in ax.patches)


def test_plot_sphere_draws_caps_and_centres():
    features, labels, centers = _embedding(3)
    ax = plot_sphere(features, labels, centers, 1.0, novel=features[:4])
    assert ax.name == "3d"
    # the wireframe, then one boundary ring per centre
    rings = [line for line in ax.lines if len(line.get_xdata()) == 48]
    assert len(rings) == 3
    assert "caps" in ax.get_title()
    assert ax.get_zlabel()


def test_bad_input_is_named():
    features, labels, centers = _embedding(2)
    with pytest.raises(ValueError, match=r"features must be \[N, 3\]"):
        plot_sphere(features, labels)
    with pytest.raises(ValueError, match=r"centers must be \[N, 2\]"):
        plot_circle(features, labels, centers[:, :1], 1.0)
    with pytest.raises(ValueError, match=r"labels must be \[80\]"):
        plot_circle(features, labels[:-1])
    _, ax = plt.subplots()
    f3, l3, _ = _embedding(3)
    with pytest.raises(ValueError, match="ax must be a 3-D axes"):
        plot_sphere(f3, l3, ax=ax)


def _sphere_row(view=None):
    fig = plt.figure(figsize=(12, 4))
    axes = []
    for i in range(3):
        features, labels, centers = _embedding(3, seed=i)
        kwargs = {} if view is None else {"view": view}
        axes.append(
            plot_sphere(
                features,
                labels,
                centers,
                1.0,
                novel=features[:4],
                legend=False,
                ax=fig.add_subplot(1, 3, i + 1, projection="3d"),
                **kwargs,
            )
        )
    return fig, axes, labels


def test_every_sphere_panel_shares_one_view():
    _, axes, _ = _sphere_row()
    assert {(ax.elev, ax.azim) for ax in axes} == {DEFAULT_VIEW}
    _, axes, _ = _sphere_row(view=(10, -60))
    assert {(ax.elev, ax.azim) for ax in axes} == {(10.0, -60.0)}
    features, labels, _ = _embedding(3)
    with pytest.raises(ValueError, match=r"view must be \(elevation, azimuth\)"):
        plot_sphere(features, labels, view=(10,))


def test_unit_sphere_has_only_the_ticks_minus_one_zero_one_and_equal_aspect():
    features, labels, centers = _embedding(3)
    ax = plot_sphere(features * 5.0, labels, centers, 0.5)
    for axis, limits in (
        (ax.xaxis, ax.get_xlim()),
        (ax.yaxis, ax.get_ylim()),
        (ax.zaxis, ax.get_zlim()),
    ):
        assert list(axis.get_ticklocs()) == [-1.0, 0.0, 1.0]
        assert [t.get_text() for t in axis.get_ticklabels()] == ["-1", "0", "1"]
        assert limits == pytest.approx((-1.05, 1.05))
    np.testing.assert_allclose(ax.get_box_aspect() / ax.get_box_aspect()[0], 1.0)


def test_sphere_legend_is_outside_the_axes():
    features, labels, centers = _embedding(3)
    ax = plot_sphere(features, labels, centers, 1.0, novel=features[:4])
    fig = ax.figure
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend_box.x0 >= axes_box.x1  # entirely to the right of the axes
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["background", "class 1", "class 2", "class 3", "novel background", "centres"]


def test_one_legend_for_a_figure_of_sphere_panels():
    fig, axes, labels = _sphere_row()
    assert all(ax.get_legend() is None for ax in axes)
    legend = embedding_legend(fig, labels, novel=True, centers=True)
    fig.subplots_adjust(bottom=0.15)
    fig.canvas.draw()
    assert fig.legends == [legend]
    assert [t.get_text() for t in legend.get_texts()][-2:] == ["novel background", "centres"]
    box = legend.get_window_extent()
    for ax in axes:  # below every panel, not on it
        assert box.y1 <= ax.get_window_extent().y0 + 1
