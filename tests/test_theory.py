"""Eq. (3) of the C+1 paper and its sphere version: exact values, Monte Carlo, bad input."""

import math

import mpmath
import numpy as np
import pytest
import torch

from cplus_edu import theory

mpmath.mp.dps = 40


# ---------------------------------------------------------------- references, the slow way


def cap_fraction_by_integral(theta: float, d: int) -> float:
    """|cap(theta)| / |S^{d-1}| = int_0^theta sin^{d-2} / int_0^pi sin^{d-2} (polar angle).

    The full integral is Wallis' B((d-1)/2, 1/2); the partial one is integrated numerically, with
    the integrand scaled by sin(theta)^{-(d-2)} so that quad's absolute tolerance does not
    swamp a tiny value."""
    if theta == 0:
        return 0.0
    top = mpmath.sin(min(theta, math.pi / 2))
    f = lambda phi: (mpmath.sin(phi) / top) ** (d - 2)  # noqa: E731
    part = mpmath.quad(f, mpmath.linspace(0, theta, 9)) * top ** (d - 2)
    return float(part / mpmath.beta(mpmath.mpf(d - 1) / 2, 0.5))


def background_probability_mp(C, R, R_L, d) -> mpmath.mpf:
    """Eq. (3) in 40-digit arithmetic on the exact float inputs, clamped at 0."""
    return max(1 - C * (mpmath.mpf(R) / mpmath.mpf(R_L)) ** d, mpmath.mpf(0))


def inside_fraction_full_loop(C, R, R_L, d, geometry, centers, n, seed):
    """Every coordinate drawn, every centre visited in a Python loop."""
    x = theory.sample_uniform(n, d, R_L, geometry, seed=seed)
    inside = np.zeros(n, dtype=bool)
    for c in centers:
        inside |= np.sqrt(((x - c) ** 2).sum(1)) <= R
    return inside.mean()


# ---------------------------------------------------------------- the sphere


@pytest.mark.parametrize("theta", [0.0, 0.1, 0.7, np.pi / 2, 2.0, 3.0, np.pi])
def test_cap_fraction_closed_forms_in_2d_and_3d(theta):
    assert theory.cap_fraction(theta, 2) == pytest.approx(theta / np.pi, abs=1e-15)
    assert theory.cap_fraction(theta, 3) == pytest.approx((1 - np.cos(theta)) / 2, abs=1e-15)


@pytest.mark.parametrize("d", [4, 7, 50])
def test_cap_fraction_matches_the_surface_integral(d):
    thetas = np.array([0.05, 1.0, np.pi / 2, 2.5, 3.1])
    ours = theory.cap_fraction(thetas, d)
    reference = [cap_fraction_by_integral(t, d) for t in thetas]
    np.testing.assert_allclose(ours, reference, rtol=1e-12)


@pytest.mark.parametrize("d", [100, 1000, 10_000])
@pytest.mark.parametrize("theta", [1e-3, 0.1, 0.5, 1.0, 1.5, 2.0])
def test_log_cap_fraction_is_exact_where_the_fraction_underflows(d, theta):
    a = mpmath.mpf(d - 1) / 2
    if theta <= np.pi / 2:
        x = mpmath.sin(mpmath.mpf(theta)) ** 2
        reference = mpmath.log(mpmath.betainc(a, 0.5, 0, x, regularized=True) / 2)
    else:  # the complement of the cap of angle pi - theta
        x = mpmath.sin(mpmath.pi - mpmath.mpf(theta)) ** 2
        reference = mpmath.log1p(-mpmath.betainc(a, 0.5, 0, x, regularized=True) / 2)
    ours = theory.log_cap_fraction(theta, d)  # theta = 2, d = 100: log(1 - 1.7e-43)
    assert float(abs(ours - reference)) <= 1e-12 * float(abs(reference))


def test_chord_to_angle():
    np.testing.assert_allclose(theory.chord_to_angle([0.0, np.sqrt(2), 2.0]), [0, np.pi / 2, np.pi])
    assert theory.chord_to_angle(3.0, R_L=3.0) == pytest.approx(np.pi / 3)


# ---------------------------------------------------------------- eq. (3): exact values


CASES = [  # C, R, R_L, d: small and huge d, R near R_L, many classes
    (1, 0.5, 1.0, 1), (4, 0.2, 1.0, 3), (10, 0.9, 1.0, 30), (3, 0.999, 1.0, 1000),
    (1, 3.0 * (1 - 1e-9), 3.0, 10_000), (2, 0.99999, 1.0, 10_000), (100, 0.7, 2.0, 500),
    (7, 1e-3, 1.0, 2),
]


@pytest.mark.parametrize("C, R, R_L, d", CASES)
def test_background_probability_matches_40_digit_arithmetic(C, R, R_L, d):
    reference = background_probability_mp(C, R, R_L, d)
    ours = theory.background_probability(C, R, R_L, d)
    assert float(abs(ours - reference)) <= 1e-14 * float(reference)


def test_log_space_beats_the_naive_formula_near_R_L():
    """1 - C (R/R_L)^d evaluated as written loses 8 digits here; the log-space form loses none."""
    C, R, R_L, d = 1, 3.0 * (1 - 1e-9), 3.0, 10_000
    reference = background_probability_mp(C, R, R_L, d)
    naive = 1 - C * (R / R_L) ** d
    assert float(abs(naive - reference) / reference) > 1e-9
    assert float(abs(theory.background_probability(C, R, R_L, d) - reference) / reference) < 1e-15


@pytest.mark.parametrize("C, R, R_L, d", CASES + [(5, 0.01, 1.0, 10_000)])
def test_log_union_bound_matches_40_digit_arithmetic(C, R, R_L, d):
    reference = mpmath.log(C * (mpmath.mpf(R) / mpmath.mpf(R_L)) ** d)
    ours = theory.log_union_bound(C, R, R_L, d)
    assert float(abs(ours - reference)) <= 1e-14 * max(1.0, float(abs(reference)))


def test_sphere_probability_is_one_minus_C_caps():
    C, R, d = 3, 0.3, 7
    theta = 2 * math.asin(R / 2)
    expected = 1 - C * cap_fraction_by_integral(theta, d)
    ours = theory.background_probability(C, R, 1.0, d, "sphere")
    assert ours == pytest.approx(expected, rel=1e-12)


def test_union_bound_above_one_is_clamped_to_zero():
    # C (R/R_L)^d = 4 * 0.8^2 = 2.56 > 1: the formula says nothing, the value is 0
    assert theory.background_probability(4, 0.8, 1.0, 2) == 0.0
    assert theory.background_probability(1, 1.0, 1.0, 5) == 0.0
    assert theory.background_probability(4, 1.9, 1.0, 5, "sphere") == 0.0
    assert theory.background_probability(3, 0.0, 1.0, 5) == 1.0


@pytest.mark.parametrize("geometry", ["ball", "sphere"])
def test_monotone_in_d_and_in_R(geometry):
    d = np.arange(2, 3000)
    radii = [(1, 0.3), (5, 0.5), (20, 0.9), (1, 0.99)]
    if geometry == "sphere":
        radii.append((2, 1.4))  # 1.4 < sqrt(2): a cap smaller than a hemisphere
    for C, R in radii:
        p = theory.background_probability(C, R, 1.0, d, geometry)
        assert np.all(np.diff(p) >= 0), (C, R)
        assert p[-1] > p[0]
    R = np.linspace(0, 1, 501)
    for C, dim in [(1, 2), (4, 10), (30, 200)]:
        p = theory.background_probability(C, R, 1.0, dim, geometry)
        assert np.all(np.diff(p) <= 0), (C, dim)
        assert p[0] == 1.0 and p[-1] < 1.0


def test_on_the_sphere_a_cap_beyond_a_hemisphere_swallows_high_dimensions():
    """Concentration of measure: for theta > pi/2 the cap fraction grows with d, p falls."""
    p = theory.background_probability(1, 1.6, 1.0, np.arange(2, 200), "sphere")
    assert np.all(np.diff(p) <= 0) and p[-1] < 1e-3


def test_broadcasting_and_torch_in_torch_out():
    p = theory.background_probability(np.array([[1], [4]]), 0.3, 1.0, np.arange(1, 6))
    assert isinstance(p, np.ndarray) and p.shape == (2, 5)
    t = theory.background_probability(torch.tensor([1.0, 4.0], dtype=torch.float32), 0.3, 1.0, 3)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    torch.testing.assert_close(t, torch.tensor([1 - 0.027, 1 - 4 * 0.027]))
    s = theory.cap_fraction(torch.tensor([0.5, 1.0], dtype=torch.float64), 3)
    assert isinstance(s, torch.Tensor) and s.dtype == torch.float64
    assert isinstance(theory.background_probability(2, 0.1, 1.0, 2), float)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(R=-0.5), "R must be a radius >= 0, got -0.5"),
        (dict(R=1.5), "R must be <= R_L"),
        (dict(R=np.array([0.1, 1.2])), "R=1.2 > R_L=1"),
        (dict(C=0), "C must be >= 1"),
        (dict(C=2.5), "C must be a whole number"),
        (dict(d=0), "d must be >= 1"),
        (dict(d=np.array([3, 0])), "d must be >= 1"),
        (dict(R_L=0.0), "R_L must be a radius > 0"),
        (dict(R=float("nan")), "R must be finite"),
        (dict(geometry="cube"), "geometry must be one of"),
        (dict(d=1, geometry="sphere"), "d must be >= 2"),
        (dict(R=2.5, geometry="sphere"), "R must be <= 2 * R_L"),
    ],
)
def test_bad_input_names_argument_expected_and_actual(kwargs, message):
    args = dict(C=3, R=0.2, R_L=1.0, d=4) | kwargs
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        theory.background_probability(**args)


@pytest.mark.parametrize("bad", ["0.2", None, True, torch.tensor([True])])
def test_non_numbers_raise_type_error(bad):
    with pytest.raises(TypeError, match="R must"):
        theory.background_probability(3, bad, 1.0, 4)


def test_bad_angles_and_monte_carlo_arguments():
    with pytest.raises(ValueError, match=r"theta must be an angle in \[0, pi\], got 4"):
        theory.cap_fraction(4.0, 3)
    with pytest.raises(ValueError, match="n_samples must be a positive int, got 0"):
        theory.monte_carlo_background_probability(2, 0.1, 1.0, 3, n_samples=0)
    with pytest.raises(ValueError, match="confidence must be in"):
        theory.monte_carlo_background_probability(2, 0.1, 1.0, 3, confidence=95)
    with pytest.raises(ValueError, match=r"centers must be \[C, d\] = \[2, 3\], got \[2, 4\]"):
        theory.monte_carlo_background_probability(2, 0.1, 1.0, 3, centers=np.zeros((2, 4)))


# ---------------------------------------------------------------- Monte Carlo


@pytest.mark.parametrize("geometry", ["ball", "sphere"])
@pytest.mark.parametrize(
    "C, R, d", [(1, 0.5, 1), (4, 0.2, 2), (3, 0.3, 3), (2, 0.45, 5), (5, 0.15, 8)]
)
def test_monte_carlo_agrees_with_the_formula_for_disjoint_balls(geometry, C, R, d):
    if geometry == "sphere" and d == 1:
        pytest.skip("S^0 is two points")
    formula = theory.background_probability(C, R, 1.0, d, geometry)
    mc = theory.monte_carlo_background_probability(
        C, R, 1.0, d, geometry, n_samples=100_000, confidence=0.999, seed=d
    )
    assert mc.contains(formula), (mc, formula)
    assert mc.high - mc.low < 0.015  # and the interval is narrow enough to mean something


@pytest.mark.parametrize("geometry", ["ball", "sphere"])
def test_monte_carlo_matches_the_full_dimensional_loop(geometry):
    """The O(C) projection sampler against drawing all d coordinates, with centres anywhere."""
    C, R, R_L, d, n = 3, 0.9, 1.5, 6, 100_000
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(C, d))
    norm = R_L if geometry == "sphere" else 0.6
    centers *= norm / np.linalg.norm(centers, axis=1, keepdims=True)
    slow = inside_fraction_full_loop(C, R, R_L, d, geometry, centers, n, seed=1)
    fast = 1 - theory.monte_carlo_background_probability(
        C, R, R_L, d, geometry, centers=centers, n_samples=n, seed=2
    ).p
    assert 0.01 < slow < 0.99
    assert abs(fast - slow) < 4 * math.sqrt(2 * slow * (1 - slow) / n)


def test_overlapping_balls_make_the_formula_a_lower_bound():
    C, R, d = 4, 0.5, 2
    same_place = np.zeros((C, d))  # four balls on top of each other: really one ball
    mc = theory.monte_carlo_background_probability(C, R, 1.0, d, centers=same_place, seed=3)
    formula = theory.background_probability(C, R, 1.0, d)
    assert formula == 0.0 and mc.low > formula
    assert mc.contains(theory.background_probability(1, R, 1.0, d))


def test_monte_carlo_cannot_resolve_tiny_misses():
    n = 20_000
    mc = theory.monte_carlo_background_probability(3, 0.3, 1.0, 40, n_samples=n, seed=0)
    assert mc.n_inside == 0 and mc.p == 1.0
    assert mc.low == pytest.approx(1 - theory.monte_carlo_resolution(n))
    assert 3 / n < theory.monte_carlo_resolution(n) < 4 / n
    assert 1 - theory.background_probability(3, 0.3, 1.0, 40) < 1e-19  # far below what n sees


def test_monte_carlo_is_deterministic_in_seed_and_cost_free_of_d():
    a = theory.monte_carlo_background_probability(2, 0.4, 1.0, 4, seed=11)
    b = theory.monte_carlo_background_probability(2, 0.4, 1.0, 4, seed=11)
    assert a == b
    huge = theory.monte_carlo_background_probability(2, 0.999, 1.0, 5000, "sphere", n_samples=1000)
    assert huge.n_samples == 1000  # 5000 dimensions, never materialised


@pytest.mark.parametrize("geometry", ["ball", "sphere"])
def test_disjoint_centers_are_disjoint_and_in_place(geometry):
    C, R, R_L, d = 5, 0.3, 1.5, 4
    centers = theory.disjoint_centers(C, R, R_L, d, geometry)
    assert centers.shape == (C, d)
    gaps = np.linalg.norm(centers[:, None] - centers[None], axis=2)[np.triu_indices(C, 1)]
    norms = np.linalg.norm(centers, axis=1)
    if geometry == "ball":
        assert gaps.min() >= 2 * R - 1e-12 and norms.max() <= R_L - R + 1e-12
    else:  # caps disjoint: angular distance at least 2 theta
        angles = 2 * np.arcsin(gaps / (2 * R_L))
        assert angles.min() >= 2 * theory.chord_to_angle(R, R_L) - 1e-12
        np.testing.assert_allclose(norms, R_L)
    with pytest.raises(ValueError, match="do not fit disjointly"):
        theory.disjoint_centers(20, 0.5 if geometry == "ball" else 1.0, 1.0, d, geometry)


def test_sample_uniform_is_uniform():
    from scipy import stats

    d, R_L = 5, 2.0
    ball = theory.sample_uniform(20_000, d, R_L, "ball", seed=0)
    radius = np.linalg.norm(ball, axis=1) / R_L
    assert stats.kstest(radius**d, "uniform").pvalue > 1e-3  # P(|x| <= r) = (r / R_L)^d
    sphere = theory.sample_uniform(20_000, d, R_L, "sphere", seed=0)
    np.testing.assert_allclose(np.linalg.norm(sphere, axis=1), R_L)
    assert np.abs(sphere.mean(0)).max() < 0.05  # no preferred direction
    with pytest.raises(ValueError, match="d must be a positive int"):
        theory.sample_uniform(10, 0)


# ---------------------------------------------------------------- radii of trained classes


def test_class_radii_match_a_loop_over_classes():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(300, 5, generator=g)
    labels = torch.randint(0, 4, (300,), generator=g)  # 0 = background, classes 1..3
    centers = torch.nn.functional.normalize(torch.randn(3, 5, generator=g), dim=1)
    unit = torch.nn.functional.normalize(features, dim=1)
    for q in [0.5, 0.95, 1.0]:
        radii = theory.class_radii(features, labels, centers, quantile=q)
        for k in range(3):
            distances = sorted((unit[i] - centers[k]).norm().item()
                               for i in range(300) if labels[i] == k + 1)  # fmt: skip
            expected = np.quantile(distances, q)
            assert radii[k].item() == pytest.approx(expected, rel=1e-5)
    # background_index=2: the centres are those of classes 0, 1, 3
    radii = theory.class_radii(features, labels, centers, quantile=1.0, background_index=2)
    own = (unit[labels == 3] - centers[2]).norm(dim=1).max()
    assert radii[2].item() == pytest.approx(own.item(), rel=1e-6)


def test_class_radii_bad_input():
    features, centers = torch.randn(10, 3), torch.randn(2, 3)
    with pytest.raises(ValueError, match="no sample for centre row 1"):
        theory.class_radii(features, torch.ones(10, dtype=torch.long), centers)
    with pytest.raises(ValueError, match="quantile must be in"):
        theory.class_radii(features, torch.ones(10, dtype=torch.long), centers, quantile=95)
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        theory.class_radii(features, torch.ones(10), centers)


def test_effective_dimension():
    uniform = theory.sample_uniform(20_000, 12, geometry="sphere", seed=0)
    assert theory.effective_dimension(uniform) == pytest.approx(12, rel=0.03)
    line = torch.linspace(-1, 1, 50)[:, None] * torch.tensor([[1.0, 2.0, -1.0]])
    assert theory.effective_dimension(line) == pytest.approx(1.0)
    plane = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]])
    assert theory.effective_dimension(plane) == pytest.approx(2.0)
    with pytest.raises(ValueError, match=r"features must be \[N, D\] with N >= 2, got \[1, 3\]"):
        theory.effective_dimension(torch.zeros(1, 3))


def test_compare_with_embedding_on_a_planted_embedding():
    """Classes as tight caps; 'unseen' samples planted on an arc inside class 1's cap."""
    g = torch.Generator().manual_seed(0)
    d, C = 8, 3
    centers = torch.eye(d)[:C] * 3.0  # any length: normalised inside
    labels = torch.arange(C + 1).repeat_interleave(200)  # 0 = background
    noise = 0.05 * torch.randn(len(labels), d, generator=g)
    background = torch.randn(len(labels), d, generator=g)
    features = torch.where((labels > 0)[:, None], centers[(labels - 1).clamp(min=0)] / 3 + noise,
                           background)  # fmt: skip
    t = 0.1 * torch.rand(100, 1, generator=g)  # an arc from class 1's centre towards class 2's
    planted = torch.cos(t) * torch.eye(d)[0] + torch.sin(t) * torch.eye(d)[1]
    result = theory.compare_with_embedding(
        features, labels, centers, {"planted": planted, "coi": features[labels > 0]},
        n_samples=20_000,
    )
    assert result.d == d and result.radii.shape == (C,)
    assert result.R == pytest.approx(theory.class_radii(features, labels, centers).max().item())
    assert result.inside["planted"] == 1.0
    assert 0.95 <= result.inside["coi"] < 1.0  # R: the largest of the per-class 95% radii
    assert result.predicted == pytest.approx(
        3 * theory.cap_fraction(theory.chord_to_angle(result.R), d), rel=1e-6)
    assert result.uniform.contains(1 - result.predicted)
    assert result.inside[theory.UNIFORM_GROUP] < 0.01
    assert result.effective_dimension["planted"] < 1.5
    assert result.effective_dimension[theory.UNIFORM_GROUP] == pytest.approx(d, rel=0.1)


# ---------------------------------------------------------------- the plots


def test_plot_background_probability_draws_formula_monte_carlo_and_blind_spot():
    import matplotlib

    matplotlib.use("Agg")
    from cplus_edu.viz import plot_background_probability

    axes = plot_background_probability(4, 0.2, dims=range(1, 41), mc_dims=(1, 2, 3, 20),
                                       n_samples=2000)  # fmt: skip
    for ax in axes.flat:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    ball_miss = axes[1, 0]
    labels = [t.get_text() for t in ball_miss.get_legend().get_texts()]
    assert any("no hit" in t for t in labels)  # d = 20: 4 * 0.2^20 is far below 1 / 2000
    assert any("cannot resolve" in t for t in labels)
    no_mc = plot_background_probability(10, 0.5, dims=range(1, 20), mc_dims=(2, 3), n_samples=100)
    assert "do not fit" in no_mc[1, 0].get_title()
    matplotlib.pyplot.close("all")


def test_plot_nearest_center_distances_reports_the_share_inside():
    import matplotlib

    matplotlib.use("Agg")
    from cplus_edu.viz import plot_nearest_center_distances

    ax = plot_nearest_center_distances({"a": torch.tensor([0.1, 0.2, 0.9, 1.0])}, R=0.5)
    assert "a: 50.0% inside" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_nearest_center_distances({}, R=0.5)
    matplotlib.pyplot.close("all")


# ---------------------------------------------------------------- log cap fraction, property-style


def log_cap_fraction_mp(theta: float, d: float) -> mpmath.mpf:
    """log of the cap fraction in 40 digits on the exact float theta: the series
    I_x(a, 1/2) = x^a 2F1(a, 1/2; a+1; x) / (a B(a, 1/2)), x = sin^2, a = (d-1)/2; beyond
    pi/2, log(1 - the cap of pi - theta), with mpmath's pi (not the float one)."""
    a, big = mpmath.mpf(d - 1) / 2, theta > np.pi / 2
    x = mpmath.sin(mpmath.pi - mpmath.mpf(theta) if big else mpmath.mpf(theta)) ** 2
    half = x**a * mpmath.hyp2f1(a, 0.5, a + 1, x, maxterms=10**6) / (a * mpmath.beta(a, 0.5)) / 2
    return mpmath.log1p(-half) if big else mpmath.log(half)


THETAS = [*10.0 ** np.arange(-300, 0, 23.0), 1e-162, 1e-160, 1e-100, 0.3, 1.0, np.pi / 2, 2.0,
          3.1, np.pi - 1e-10, np.pi]  # fmt: skip


@pytest.mark.parametrize("d", [2, 3, 4, 7, 50, 1000, 10_000])
def test_log_cap_fraction_matches_mpmath_from_1e_300_to_pi(d):
    """No underflow to -inf for tiny angles (sin^2 theta < 1e-308), no lost digits where sin^2 is
    subnormal, and the float pi's shortfall counted near theta = pi."""
    ours = theory.log_cap_fraction(np.array(THETAS), d)
    reference = np.array([float(log_cap_fraction_mp(t, d)) for t in THETAS])
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=0)


def test_log_cap_fraction_in_huge_dimensions_for_small_angles():
    thetas = [1e-300, 1e-200, 1e-20, 1e-3]
    for d in (1e5, 1e6):
        reference = [float(log_cap_fraction_mp(t, d)) for t in thetas]
        np.testing.assert_allclose(theory.log_cap_fraction(np.array(thetas), d), reference,
                                   rtol=1e-12)  # fmt: skip


def test_log_cap_fraction_at_theta_1e_200_in_3d():
    # Archimedes: the cap of angle theta holds (1 - cos theta) / 2 = sin^2(theta/2) ~ theta^2 / 4
    assert theory.log_cap_fraction(1e-200, 3) == pytest.approx(2 * math.log(1e-200 / 2), rel=1e-14)
    assert theory.log_cap_fraction(torch.tensor(1e-200, dtype=torch.float64), 3).isfinite()
