r"""The background probability of the C+1 paper (section 3.5, eq. 3), exact.

Paper: "C + 1 Loss: learn to classify C classes of interest and the background class
differentially", anonymous authors, ICLR 2021 submission. The argument of section 3.5: the
features live in a ball of radius :math:`R_L` in :math:`d` dimensions, each of the C classes of
interest (CoIs) fills a small ball of radius :math:`R`, and an unseen ("new-brand") background
sample is a *uniformly random* point of the feature ball. It lands outside every class ball with
probability

.. math::

    p(x_{random}) = 1 - \frac{C \cdot R^d}{R_L^d}                                     \tag{3}

Readings and additions of this module (GUIDE.md section 4):

- **eq. (3) is a union bound.** :math:`C (R/R_L)^d` adds the volumes of the class balls, so it
  ignores overlaps between them (and assumes they lie inside the feature ball). It is exact for
  disjoint balls; otherwise the true probability is larger. Where the bound exceeds 1 the formula
  says nothing and the value is clamped to 0.
- **log space.** For large d the bound underflows and :math:`1 - p` is lost to rounding, so
  ``log_union_bound`` returns :math:`\log C + d \log(R/R_L)` and
  :math:`p = -\operatorname{expm1}(\log C + d \log(R/R_L))`; for R close to :math:`R_L` the
  logarithm is taken as ``log1p((R - R_L) / R_L)``. Exact to ~1e-15 relative for d up to 1e4.
- **the sphere.** L2-normalised features do not fill a ball: they lie on the sphere
  :math:`S^{d-1}` of radius :math:`R_L` (1 for unit features). A class "ball" of Euclidean radius
  :math:`R` around a centre on the sphere cuts out a spherical cap of angular radius
  :math:`\theta = 2 \arcsin(R / 2R_L)`, which holds the fraction

  .. math::

      \frac{|cap(\theta)|}{|S^{d-1}|} = \tfrac12\, I_{\sin^2\theta}\!\left(\tfrac{d-1}{2},
      \tfrac12\right) \quad (\theta \le \pi/2), \qquad 1 - \text{that of } \pi - \theta
      \quad (\theta > \pi/2)

  of the sphere (:math:`I` the regularised incomplete beta function). ``geometry="sphere"``
  replaces :math:`(R/R_L)^d` by this fraction. It too decays exponentially in d, like
  :math:`(\sin\theta)^{d-1}` times a slowly varying factor.
- **Monte Carlo** checks both geometries: uniform samples, the fraction outside all class balls,
  an exact (Clopper-Pearson) interval. By rotational symmetry only the component of a sample in
  the span of the centres matters, so a sample costs O(C), not O(d).

Inputs are numbers, numpy arrays or torch tensors and broadcast against each other; the
computation runs in float64 numpy and a torch input gives a torch output (the value, not
differentiable). Shapes in the empirical helpers: features ``[N, D]``, labels ``[N]``, centres
``[C, D]`` of the classes of interest in ascending class order (the layout of
``CPlusOneLoss.centers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import special, stats

GEOMETRIES = ("ball", "sphere")
_TINY = 1e-280  # below this a float64 betainc value loses precision; use the series instead
_SMALL_ANGLE = 1e-100  # below this sin(theta)^2 (< 1e-200) is near the subnormals: the series
_PI_LOW = 1.2246467991473532e-16  # pi - np.pi: the float64 pi is this much short of pi


# ---------------------------------------------------------------- input handling


def _as_float64(name: str, value) -> np.ndarray:
    """``value`` as a float64 numpy array; TypeError for non-numbers, ValueError for NaN/Inf."""
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy()
    elif isinstance(value, (int, float, np.ndarray, np.number, list, tuple)):
        array = np.asarray(value)
    else:
        raise TypeError(
            f"{name} must be a number, numpy array or torch tensor, got {type(value).__name__}"
        )
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array[~np.isfinite(array)].flat[0]}")
    return array


def _require(name: str, array: np.ndarray, ok: np.ndarray, expected: str) -> None:
    if not np.all(ok):
        raise ValueError(f"{name} must be {expected}, got {array[~ok].flat[0]:g}")


def _check_count(name: str, array: np.ndarray, minimum: int, what: str) -> None:
    _require(name, array, array == np.round(array), f"a whole number ({what})")
    _require(name, array, array >= minimum, f">= {minimum} ({what})")


def _check_geometry(geometry: str) -> None:
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")


def _check_formula_inputs(C, R, R_L, d, geometry):
    """Validate and broadcast ``C, R, R_L, d`` (see ``background_probability``)."""
    _check_geometry(geometry)
    C, R, R_L, d = (_as_float64(n, v) for n, v in [("C", C), ("R", R), ("R_L", R_L), ("d", d)])
    _check_count("C", C, 1, "the number of classes of interest")
    _check_count("d", d, 2 if geometry == "sphere" else 1, f"the dimension, {geometry}")
    _require("R", R, R >= 0, "a radius >= 0")
    _require("R_L", R_L, R_L > 0, "a radius > 0")
    C, R, R_L, d = np.broadcast_arrays(C, R, R_L, d)
    limit, why = (2 * R_L, "2 * R_L (a cap of the sphere)") if geometry == "sphere" else (
        R_L, "R_L (a class ball inside the feature ball)")  # fmt: skip
    if np.any(R > limit):
        i = np.argmax(R > limit)
        raise ValueError(f"R must be <= {why}, got R={R.flat[i]:g} > R_L={R_L.flat[i]:g}")
    return C, R, R_L, d


def _like_inputs(result: np.ndarray, *inputs):
    """Return a torch tensor if any input was one (its float dtype and device), else numpy."""
    for x in inputs:
        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.is_floating_point() else torch.float64
            return torch.as_tensor(result, dtype=dtype, device=x.device)
    return result[()] if result.ndim == 0 else result


# ---------------------------------------------------------------- the sphere: cap fractions


def _angle(R: np.ndarray, R_L: np.ndarray) -> np.ndarray:
    return 2 * np.arcsin(np.minimum(R / (2 * R_L), 1.0))  # chord R -> angle, on radius R_L


def chord_to_angle(R, R_L=1.0):
    r"""Angular radius :math:`\theta = 2\arcsin(R / 2R_L)` of the cap cut out of the sphere of
    radius ``R_L`` by a ball of Euclidean radius ``R`` around a point of the sphere."""
    r, r_l = _as_float64("R", R), _as_float64("R_L", R_L)
    _require("R_L", r_l, r_l > 0, "a radius > 0")
    r, r_l = np.broadcast_arrays(r, r_l)
    _require("R", r, (r >= 0) & (r <= 2 * r_l), "in [0, 2 * R_L] (a chord of the sphere)")
    return _like_inputs(_angle(r, r_l), R, R_L)


def _log_small_cap(theta: np.ndarray, d: np.ndarray) -> np.ndarray:
    """log of the cap fraction for ``theta <= pi/2``: ``log(0.5 * I_{sin^2}((d-1)/2, 1/2))``.

    Where the fraction underflows, or ``sin^2 theta`` itself would (theta below ~1e-100: it
    loses digits as a subnormal and becomes 0 below 1e-162), the series is taken in log space
    with ``log(sin^2 theta) = 2 log(sin theta)``, which stays finite down to the smallest theta.
    """
    a, x = (d - 1) / 2, np.sin(theta) ** 2
    direct = 0.5 * special.betainc(a, 0.5, x)
    out = np.log(np.maximum(direct, _TINY))
    tiny = (direct < _TINY) | (theta < _SMALL_ANGLE)
    if np.any(tiny):  # I_x(a, b) = x^a (1-x)^b F(a+b, 1; a+1; x) / (a B(a, b)), b = 1/2
        a, x, t = a[tiny], x[tiny], theta[tiny]
        with np.errstate(divide="ignore"):  # theta = 0 gives log(0) = -inf, as it should
            out[tiny] = (np.log(0.5) + 2 * a * np.log(np.sin(t)) + np.log(np.cos(t))
                         - np.log(a) - special.betaln(a, 0.5)
                         + np.log(special.hyp2f1(a + 0.5, 1, a + 1, x)))  # fmt: skip
    return out


def _log_cap(theta: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``log_cap_fraction`` on validated, broadcast float64 arrays."""
    big = theta > np.pi / 2  # the complement of the cap of angle pi - theta
    # pi - theta, exact: np.pi - theta has no rounding error here (Sterbenz), and np.pi falls
    # short of pi by _PI_LOW, which matters for theta within ~1e-10 of pi
    other = (np.pi - theta) + _PI_LOW
    small = _log_small_cap(np.where(big, other, theta).ravel(), d.ravel())
    small = small.reshape(theta.shape)
    return np.where(big, np.log1p(-np.exp(small)), small)


def log_cap_fraction(theta, d):
    r"""log of the fraction of the sphere :math:`S^{d-1}` within angle ``theta`` of a point.

    ``theta`` in :math:`[0, \pi]`, ``d >= 2`` the dimension of the space around the sphere.
    Accurate also where the fraction underflows float64 (large d, small theta).
    """
    t, dd = _as_float64("theta", theta), _as_float64("d", d)
    _require("theta", t, (t >= 0) & (t <= np.pi), "an angle in [0, pi]")
    _check_count("d", dd, 2, "the dimension around the sphere")
    return _like_inputs(_log_cap(*np.broadcast_arrays(t, dd)), theta, d)


def cap_fraction(theta, d):
    r"""Fraction of the sphere :math:`S^{d-1}` within angle ``theta`` of a point:
    :math:`\tfrac12 I_{\sin^2\theta}((d-1)/2, 1/2)` for :math:`\theta \le \pi/2`, by symmetry
    beyond. ``d = 2`` gives :math:`\theta/\pi`, ``d = 3`` Archimedes' :math:`(1 - \cos\theta)/2`."""
    log_fraction = log_cap_fraction(theta, d)
    if isinstance(log_fraction, torch.Tensor):
        return log_fraction.exp()
    return np.exp(log_fraction)


# ---------------------------------------------------------------- eq. (3)


def _log_union_bound(C, R, R_L, d, geometry: str) -> np.ndarray:
    """``log_union_bound`` on validated, broadcast float64 arrays."""
    with np.errstate(divide="ignore"):  # R = 0 gives log 0 = -inf, and p = 1, as it should
        if geometry == "ball":
            ratio = R / R_L
            log_ratio = np.where(ratio < 0.5, np.log(ratio), np.log1p((R - R_L) / R_L))
            log_fraction = d * log_ratio  # eq. (3): log (R / R_L)^d
        else:
            log_fraction = _log_cap(_angle(R, R_L), d)
        return np.log(C) + log_fraction  # eq. (3): log(C R^d / R_L^d)


def log_union_bound(C, R, R_L, d, geometry: str = "ball"):
    r"""log of the union bound on the probability that a uniform random sample lands inside some
    class ball: :math:`\log C + d \log(R/R_L)` (ball) or :math:`\log C + \log(cap fraction)`
    (sphere). This is :math:`\log(1 - p)` while the bound is below 1; it stays finite where
    :math:`1 - p` underflows. Arguments as in ``background_probability``."""
    arrays = _check_formula_inputs(C, R, R_L, d, geometry)
    return _like_inputs(_log_union_bound(*arrays, geometry), C, R, R_L, d)


def background_probability(C, R, R_L, d, geometry: str = "ball"):
    r"""Eq. (3): probability that a uniform random sample lands outside all C class balls.

    - ``C``: number of classes of interest (whole, >= 1);
    - ``R``: radius of each class ball (>= 0; <= ``R_L`` for the ball, <= ``2 R_L`` for the sphere);
    - ``R_L``: radius of the feature ball (or of the sphere the features lie on);
    - ``d``: dimension of the feature space (whole, >= 1; >= 2 for the sphere);
    - ``geometry``: ``"ball"`` (the paper: features fill the ball, :math:`p = 1 - C(R/R_L)^d`)
      or ``"sphere"`` (L2-normalised features: caps of the sphere of radius ``R_L``).

    The formula is a union bound: it ignores overlaps between class balls (exact when they are
    disjoint, a lower bound on the true probability otherwise) and is clamped to 0 where
    :math:`C (R/R_L)^d > 1`. Computed as :math:`-\mathrm{expm1}(\log C + d \log(R/R_L))`; see
    ``log_union_bound`` for :math:`1 - p` when it is tiny. Arguments broadcast (numpy or torch).

    p grows with d and falls with R. On the sphere it grows with d only for caps smaller than a
    hemisphere (``R <= sqrt(2) R_L``): a bigger cap swallows almost all of a high-dimensional
    sphere (concentration of measure).
    """
    arrays = _check_formula_inputs(C, R, R_L, d, geometry)
    p = -np.expm1(_log_union_bound(*arrays, geometry))  # eq. (3): 1 - C R^d / R_L^d
    return _like_inputs(np.maximum(p, 0.0), C, R, R_L, d)  # clamped where the bound exceeds 1


# ---------------------------------------------------------------- Monte Carlo


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte Carlo estimate of the background probability and its exact confidence interval.

    ``p = 1 - n_inside / n_samples``; ``[low, high]`` is the Clopper-Pearson interval at
    ``confidence``. ``C, R, R_L, d, geometry`` say what was sampled.
    """

    p: float
    low: float
    high: float
    n_inside: int
    n_samples: int
    confidence: float
    C: int
    R: float
    R_L: float
    d: int
    geometry: str

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the confidence interval."""
        return self.low <= value <= self.high


def monte_carlo_resolution(n_samples: int, confidence: float = 0.95) -> float:
    r"""The smallest :math:`1 - p` a sample of ``n_samples`` points can tell from 0.

    When no sample lands inside a class ball, the Clopper-Pearson interval for :math:`1 - p` is
    :math:`[0, 1 - (\alpha/2)^{1/n}]` (about :math:`3.7/n` at 95 %): any :math:`1 - p` below this
    is invisible, and such a sample expects fewer than ~4 hits.
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(-np.expm1(np.log((1 - confidence) / 2) / n_samples))


def disjoint_centers(C: int, R: float, R_L: float, d: int, geometry: str = "ball") -> np.ndarray:
    """``[C, d]`` centres whose class balls are disjoint, so eq. (3) holds with equality.

    Ball: along a diameter, ``c_k = (-R_L + R + 2 R k) e_1``, inside the feature ball; needs
    ``C R <= R_L``. Sphere: evenly spaced on a great circle of the sphere of radius ``R_L``; the
    caps of angle ``theta`` are disjoint when ``C theta <= pi``.
    """
    C_, R_, R_L_, d_ = (float(x) for x in _check_formula_inputs(C, R, R_L, d, geometry))
    C_, d_ = int(C_), int(d_)
    centers = np.zeros((C_, d_))
    if geometry == "ball":
        if C_ * R_ > R_L_ * (1 + 1e-12):
            raise ValueError(f"C={C_} balls of radius R={R_:g} do not fit disjointly along a "
                             f"diameter of R_L={R_L_:g} (needs C * R <= R_L); pass centers=")
        centers[:, 0] = -R_L_ + R_ + 2 * R_ * np.arange(C_)
    else:
        theta = float(_angle(R_, R_L_))
        if C_ * theta > np.pi * (1 + 1e-12):
            raise ValueError(f"C={C_} caps of angle {theta:.3g} rad (R={R_:g}) do not fit "
                             "disjointly on a great circle (needs C * theta <= pi); pass centers=")
        angles = 2 * np.pi * np.arange(C_) / C_
        centers[:, 0], centers[:, 1] = R_L_ * np.cos(angles), R_L_ * np.sin(angles)
    return centers


def sample_uniform(n: int, d: int, R_L: float = 1.0, geometry: str = "ball", seed: int = 0):
    """``[n, d]`` float64 points uniform in the ball of radius ``R_L`` or on its sphere.

    Direction: a normalised Gaussian; radius (ball): ``R_L * U^(1/d)``, because the volume within
    radius r grows like r^d.
    """
    _check_geometry(geometry)
    for name, value in [("n", n), ("d", d)]:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, d))
    x = R_L * g / np.linalg.norm(g, axis=1, keepdims=True)
    return x * rng.random((n, 1)) ** (1 / d) if geometry == "ball" else x


def _count_inside(rng, n, d, R, R_L, geometry, coords):
    """How many of ``n`` uniform samples lie within ``R`` of some centre, centres given by their
    coordinates ``[C, m]`` in an orthonormal basis of their span. A uniform direction is
    ``g / |g|``; only its ``m`` components in the span matter, and ``|g|^2`` is their squared norm
    plus a chi-square with ``d - m`` degrees of freedom: the other coordinates are never drawn."""
    m = coords.shape[1]
    g = rng.standard_normal((n, m))  # `[n, m]`
    rest = rng.chisquare(d - m, n) if d > m else np.zeros(n)  # `[n]`
    radius = R_L * rng.random(n) ** (1 / d) if geometry == "ball" else np.full(n, R_L)
    x = g * (radius / np.sqrt((g**2).sum(1) + rest))[:, None]  # `[n, m]`: component in the span
    sq_dist = radius[:, None] ** 2 - 2 * x @ coords.T + (coords**2).sum(1)  # `[n, C]`
    return int((sq_dist.min(1) <= R**2).sum())


def monte_carlo_background_probability(
    C: int,
    R: float,
    R_L: float,
    d: int,
    geometry: str = "ball",
    *,
    centers=None,
    n_samples: int = 100_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> MonteCarloEstimate:
    """Estimate eq. (3) by sampling: the share of uniform points outside every class ball.

    ``centers [C, d]`` (numpy or torch) places the class balls; by default ``disjoint_centers``,
    where eq. (3) is exact. With overlapping balls the estimate exceeds the formula (the union
    bound). Samples are uniform in the ball of radius ``R_L`` (``"ball"``) or on its sphere
    (``"sphere"``). Cost O(n_samples * C), whatever ``d``.
    """
    C_, R_, R_L_, d_ = (float(x) for x in _check_formula_inputs(C, R, R_L, d, geometry))
    C_, d_ = int(C_), int(d_)
    monte_carlo_resolution(n_samples, confidence)  # validates n_samples and confidence
    if centers is None:
        centers = disjoint_centers(C_, R_, R_L_, d_, geometry)
    centers = _as_float64("centers", centers)
    if centers.shape != (C_, d_):
        raise ValueError(f"centers must be [C, d] = [{C_}, {d_}], got {list(centers.shape)}")
    q, r = np.linalg.qr(centers.T)  # `[d, m]`, `[m, C]`: centres = q @ r, m = min(d, C)
    coords = r.T  # `[C, m]`: each centre in the orthonormal basis q of the centres' span
    rng = np.random.default_rng(seed)
    chunk = 200_000
    n_inside = sum(
        _count_inside(rng, min(chunk, n_samples - start), d_, R_, R_L_, geometry, coords)
        for start in range(0, n_samples, chunk)
    )
    alpha = 1 - confidence  # two-sided: alpha / 2 on each side
    inside_low = stats.beta.ppf(alpha / 2, n_inside, n_samples - n_inside + 1) if n_inside else 0.0
    inside_high = (stats.beta.ppf(1 - alpha / 2, n_inside + 1, n_samples - n_inside)
                   if n_inside < n_samples else 1.0)  # fmt: skip
    return MonteCarloEstimate(
        p=1 - n_inside / n_samples, low=float(1 - inside_high), high=float(1 - inside_low),
        n_inside=n_inside, n_samples=int(n_samples), confidence=confidence,
        C=C_, R=R_, R_L=R_L_, d=d_, geometry=geometry,
    )


# ---------------------------------------------------------------- eq. (3) on a trained model


def class_radii(
    features,
    labels,
    centers,
    quantile: float = 0.95,
    background_index: int = 0,
    normalize: bool = True,
) -> torch.Tensor:
    """Radius ``R_k`` of each class of interest: the ``quantile`` of ``||f_i - c_k||`` over its
    samples. ``features [N, D]``, ``labels [N]``, ``centers [C, D]`` -> ``[C]``.

    Distances are on L2-normalised features and centres when ``normalize`` (where the loss
    measures them). ``quantile=1`` gives the smallest ball holding every sample of the class.
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
    features, centers, labels = (torch.as_tensor(t).detach().cpu()
                                 for t in (features, centers, labels))  # fmt: skip
    if features.ndim != 2 or centers.ndim != 2 or features.shape[1] != centers.shape[1]:
        raise ValueError(f"features must be [N, D] and centers [C, D], got {list(features.shape)} "
                         f"and {list(centers.shape)}")  # fmt: skip
    if labels.shape != (len(features),) or labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor [N] with N={len(features)}, "
                         f"got {labels.dtype} {list(labels.shape)}")  # fmt: skip
    features, centers = features.double(), centers.double()
    if normalize:
        features, centers = F.normalize(features, dim=1), F.normalize(centers, dim=1)
    rows = labels - (labels > background_index).long()  # `[N]`: centre row of each CoI label
    radii = []
    for k in range(len(centers)):
        members = features[(labels != background_index) & (rows == k)]  # `[N_k, D]`
        if len(members) == 0:
            raise ValueError(f"labels has no sample for centre row {k}; cannot measure its radius")
        radii.append(torch.quantile((members - centers[k]).norm(dim=1), quantile))
    return torch.stack(radii).float()


def effective_dimension(features) -> float:
    r"""Participation ratio :math:`(\sum_i \lambda_i)^2 / \sum_i \lambda_i^2` of the covariance
    eigenvalues of ``features [N, D]``: how many dimensions the samples really spread over.

    Uniform samples on :math:`S^{d-1}` (the assumption behind eq. (3)) give d; samples along a
    line give 1. It measures the shape of the spread, not its size: a tiny round blob counts as
    fully d-dimensional.
    """
    features = torch.as_tensor(features).detach().cpu().double()
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must be [N, D] with N >= 2, got {list(features.shape)}")
    eigenvalues = torch.linalg.eigvalsh(torch.cov(features.T).reshape(features.shape[1], -1))
    return float(eigenvalues.sum() ** 2 / (eigenvalues**2).sum())


@dataclass
class EmbeddingComparison:
    """Eq. (3) on the sphere against what a trained, L2-normalised embedding does.

    ``R``: the common class radius (largest per-class ``quantile`` radius, ``radii``); ``d``: the
    embedding dimension; ``predicted``: the formula's ``1 - p`` (union bound over the C caps);
    ``uniform``: Monte Carlo with uniform points on the sphere and the trained centres (overlaps
    included); ``inside``: per group, the measured share within ``R`` of some centre;
    ``distances``: per group, ``min_k ||f - c_k||`` ``[N]``, plus ``UNIFORM_GROUP``;
    ``effective_dimension``: per group, ``effective_dimension`` of its features.
    """

    R: float
    radii: torch.Tensor
    d: int
    predicted: float
    uniform: MonteCarloEstimate
    inside: dict[str, float]
    distances: dict[str, torch.Tensor]
    effective_dimension: dict[str, float]


UNIFORM_GROUP = "uniform on the sphere"


def compare_with_embedding(
    train_features,
    train_labels,
    centers,
    groups: dict,
    quantile: float = 0.95,
    background_index: int = 0,
    n_samples: int = 100_000,
    seed: int = 0,
) -> EmbeddingComparison:
    """Put eq. (3) next to measurements on a trained embedding.

    The class radius ``R`` comes from the training features of the classes of interest
    (``class_radii``, the largest over classes); every other number uses that one ``R``.
    ``groups`` maps a name to features ``[N, D]`` (e.g. unseen background); all features and
    ``centers [C, D]`` are L2-normalised, so the feature space is the unit sphere, ``R_L = 1``.
    """
    centers = F.normalize(torch.as_tensor(centers).detach().cpu().double(), dim=1)  # `[C, D]`
    C, d = centers.shape
    radii = class_radii(train_features, train_labels, centers, quantile, background_index)
    R = float(radii.max())
    unit = {name: F.normalize(torch.as_tensor(f).detach().cpu().double(), dim=1)
            for name, f in groups.items()}  # fmt: skip
    unit[UNIFORM_GROUP] = torch.from_numpy(sample_uniform(5000, d, geometry="sphere", seed=seed))
    distances = {name: torch.cdist(f, centers).min(1).values for name, f in unit.items()}
    return EmbeddingComparison(
        R=R, radii=radii, d=d,
        predicted=float(np.exp(min(log_union_bound(C, R, 1.0, d, "sphere"), 0.0))),
        uniform=monte_carlo_background_probability(
            C, R, 1.0, d, "sphere", centers=centers.numpy(), n_samples=n_samples, seed=seed),
        inside={name: float((dist <= R).double().mean()) for name, dist in distances.items()},
        distances=distances,
        effective_dimension={name: effective_dimension(f) for name, f in unit.items()},
    )  # fmt: skip
