"""Measurements (dynamics/metrics.py) on configurations whose answer is known in closed form:
great circles, antipodal pairs, caps, Wendel's probability (§E P4-5), constructed clusters,
tiny angles, consensus, and the gradient-flow energy along Thm A (§E P1-8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import comb

from dynamics import Scenario, simulate
from dynamics import metrics as M
from dynamics.presets import get as get_preset


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def uniform_sphere(rng, n, d):
    return unit(rng.standard_normal((n, d)))


def cap_points(rng, n, d, pole, angle):
    """Points at angle ≤ ``angle`` from ``pole``: cos(a) ŵ + sin(a) g, g a unit vector ⟂ ŵ."""
    w = unit(pole)
    g = rng.standard_normal((n, d))
    g = unit(g - np.outer(g @ w, w))
    a = rng.uniform(0, angle, (n, 1))
    return np.cos(a) * w + np.sin(a) * g


def arc(p, q, angles):
    """Points cos(a) p + sin(a) q on the great circle through orthonormal p, q."""
    return np.stack([math.cos(a) * p + math.sin(a) * q for a in angles])


def orthonormal_pair(rng, d):
    p = unit(rng.standard_normal(d))
    q = rng.standard_normal(d)
    q = unit(q - (q @ p) * p)
    return p, q


# ------------------------------------------------------------------ open hemisphere (LP)


@pytest.mark.parametrize("n", [3, 4, 7, 20])
@pytest.mark.parametrize("d", [2, 3, 5])
def test_points_spread_on_a_great_circle_are_in_no_open_hemisphere(n, d):
    rng = np.random.default_rng(n * 10 + d)
    p, q = orthonormal_pair(rng, d)
    x = arc(p, q, rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n) / n)
    res = M.open_hemisphere(x)
    assert not res.contained
    assert res.margin <= 1e-9
    assert res.lp_value <= 1e-9


def test_great_circle_plus_pole_is_only_in_a_closed_hemisphere():
    x = np.vstack([arc(np.eye(3)[0], np.eye(3)[1], 2 * np.pi * np.arange(5) / 5), [[0, 0, 1]]])
    assert not M.open_hemisphere(x).contained


@pytest.mark.parametrize("d", [2, 3, 6])
def test_antipodal_pairs_are_in_no_open_hemisphere(d):
    rng = np.random.default_rng(d)
    for pairs in (1, 3, 10):
        half = uniform_sphere(rng, pairs, d)
        res = M.open_hemisphere(np.vstack([half, -half]))
        assert not res.contained
        assert res.margin <= 1e-9


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    d=st.integers(2, 6),
    angle=st.floats(0.05, 1.5),
)
def test_points_in_a_cap_are_in_an_open_hemisphere(seed, n, d, angle):
    rng = np.random.default_rng(seed)
    pole = rng.standard_normal(d)
    x = cap_points(rng, n, d, pole, angle) * rng.uniform(0.5, 2.0, (n, 1))  # any norms
    res = M.open_hemisphere(x)
    assert res.contained
    assert res.margin > 0
    assert np.linalg.norm(res.pole) == pytest.approx(1.0)
    assert res.margin == pytest.approx(float((unit(x) @ res.pole).min()), abs=1e-12)


def _wendel(n: int, d: int) -> float:
    return sum(comb(n - 1, k, exact=True) for k in range(d)) / 2 ** (n - 1)


@pytest.mark.parametrize(("n", "d"), [(6, 3), (10, 3), (8, 5), (4, 4)])
def test_wendel_probability_of_a_hemisphere(n, d):
    """§E P4-5 / Thm 6.7: P[n uniform points lie in an open hemisphere] = 2^{-(n-1)} Σ_{k<d} C(n-1,k).
    400 trials; the frequency must lie within 4 binomial standard deviations."""
    rng = np.random.default_rng(1000 * n + d)
    trials = 400
    hits = sum(M.open_hemisphere(uniform_sphere(rng, n, d)).contained for _ in range(trials))
    p = _wendel(n, d)
    sigma = math.sqrt(max(p * (1 - p), 1e-12) / trials)
    assert abs(hits / trials - p) <= 4 * sigma + 1e-12, (hits / trials, p)


def test_hemisphere_margin_is_the_smallest_height():
    x = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8], [0.0, -0.8, 0.6]])
    assert M.hemisphere_margin(x, np.array([0.0, 0.0, 1.0])) == pytest.approx(0.6)


# ------------------------------------------------------------------ distances and angles


@pytest.mark.parametrize("angle", [3.0, 1.0, 1e-2, 1e-5, 1e-8, 1e-11, 1e-13])
def test_diameter_is_accurate_near_zero(angle):
    """The angular diameter of points spread on an arc of length θ is θ, to ~1e-15 absolute
    (the rounding of the inputs), also for θ far below √ε."""
    rng = np.random.default_rng(4)
    p, q = orthonormal_pair(rng, 4)
    x = arc(p, q, np.linspace(0, angle, 9))
    assert abs(M.diameter(x) - angle) <= 2e-15 + 1e-13 * angle
    assert abs(M.max_distance(x) - 2 * math.sin(angle / 2)) <= 2e-15 + 1e-13 * angle
    # trajectories (K, n, d): one value per frame
    xs = np.stack([x, x])
    np.testing.assert_allclose(M.diameter(xs), [angle, angle], rtol=1e-12, atol=2e-15)


def test_diameter_of_antipodal_points_is_pi():
    x = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0]])
    assert M.diameter(x) == pytest.approx(math.pi, abs=1e-15)
    assert M.max_distance(x) == pytest.approx(2.0, abs=1e-15)


def test_diameter_uses_directions_and_is_zero_at_consensus():
    x = np.array([[1.0, 2.0, 2.0]] * 5) * np.array([[1.0], [2.0], [3.0], [0.5], [7.0]])
    assert M.diameter(x) <= 1e-15
    assert M.min_cosine(x) == pytest.approx(1.0, abs=1e-15)


def test_cosines_and_distance_to_first():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    np.testing.assert_allclose(M.cosines(x), [[1, 0, -1], [0, 1, 0], [-1, 0, 1]], atol=1e-15)
    assert M.min_cosine(x) == pytest.approx(-1.0)
    np.testing.assert_allclose(M.distance_to_first(x), [0, math.sqrt(5), 4])


# ------------------------------------------------------------------ clusters


def test_clusters_of_constructed_groups():
    """Three tight groups (spread 1e-4) far apart: three clusters, labels by first appearance."""
    rng = np.random.default_rng(2)
    centres = unit(np.array([[0, 0, 1.0], [1.0, 0, 0], [0, -1.0, 0]]))
    order = [2, 0, 2, 1, 0, 1, 2, 0]
    x = np.array([centres[c] + 1e-4 * rng.standard_normal(3) for c in order])
    labels = M.clusters(x, eps=1e-2)
    assert list(labels) == [0, 1, 0, 2, 1, 2, 0, 1]  # group 2 seen first → 0, then 0 → 1, 1 → 2
    np.testing.assert_array_equal(M.cluster_sizes(labels), [3, 3, 2])
    assert len(set(M.clusters(x, eps=3.0))) == 1  # everything is within 3 of everything
    assert len(set(M.clusters(x, eps=1e-9))) == len(order)  # nothing is that close


def test_clusters_are_single_linkage_chains():
    """A chain of points 0.8·eps apart is one cluster even if its ends are far apart."""
    eps = 1e-2
    step = 0.8 * eps
    x = arc(np.eye(3)[0], np.eye(3)[1], step * np.arange(10))  # chord ≈ step < eps
    assert len(set(M.clusters(x, eps=eps))) == 1
    y = arc(np.eye(3)[0], np.eye(3)[1], 1.2 * eps * np.arange(10))
    assert len(set(M.clusters(y, eps=eps))) == 10


def test_cluster_labels_of_a_trajectory():
    x = np.array([[[1.0, 0], [0, 1.0]], [[1.0, 0], [1.0, 1e-5]]])
    np.testing.assert_array_equal(M.cluster_labels(x), [[0, 1], [0, 0]])


# ------------------------------------------------------------------ energies


@pytest.mark.parametrize("beta", [0.0, 1e-3, 0.5, 1.0, 9.0, 100.0, 1e4])
@pytest.mark.parametrize("n", [1, 5, 64])
def test_interaction_energy_is_maximal_at_consensus(beta, n):
    """E_β at consensus = e^β/(2β) (Prop. 3.4); normalized = 1 for every β (no overflow at 1e4)."""
    x = np.tile(unit([1.0, 2.0, -0.5]), (n, 1))
    assert M.interaction_energy(x, beta, normalized=True) == pytest.approx(1.0, rel=1e-12)
    if 0 < beta <= 100:
        assert M.interaction_energy(x, beta) == pytest.approx(math.exp(beta) / (2 * beta), rel=1e-12)


@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_interaction_energy_formula(beta):
    rng = np.random.default_rng(1)
    x = uniform_sphere(rng, 20, 3)
    G = x @ x.T
    want = np.exp(beta * G).sum() / (2 * beta * 20**2)
    assert M.interaction_energy(x, beta) == pytest.approx(want, rel=1e-12)
    assert M.interaction_energy(x, beta, normalized=True) == pytest.approx(
        want / (math.exp(beta) / (2 * beta))
    )
    xs = np.stack([x, x[::-1]])
    np.testing.assert_allclose(M.interaction_energy(xs, beta), [want, want], rtol=1e-12)
    assert M.interaction_energy(x, beta, normalized=True) < 1.0


def test_interaction_energy_beta_zero_limit():
    """β → 0: E_β − 1/(2β) → ½ mean_ij ⟨x_i, x_j⟩."""
    rng = np.random.default_rng(3)
    x = uniform_sphere(rng, 10, 3)
    b = 1e-7
    limit = M.interaction_energy(x, b) - 1 / (2 * b)
    assert M.interaction_energy(x, 0.0) == pytest.approx(limit, abs=1e-6)
    assert M.interaction_energy(x, 0.0, normalized=True) == pytest.approx(limit + 0.5, abs=1e-6)


def test_log_gradient_energy_formula_and_overflow():
    rng = np.random.default_rng(5)
    x = uniform_sphere(rng, 12, 3)
    A = np.diag([4.0, 1.0, 0.2])
    want = 0.5 * np.exp(2.0 * (x @ A @ x.T)).sum()
    assert M.gradient_energy(x, A, beta=2.0) == pytest.approx(want, rel=1e-12)
    assert M.log_gradient_energy(x, A, beta=2.0) == pytest.approx(math.log(want), rel=1e-12)
    assert np.isfinite(M.log_gradient_energy(x, A, beta=1e4))


def test_gradient_energy_is_monotone_along_theorem_a():
    """§E P1-8 / Thm A: one head, V = I, A = QᵀK = diag(4, 1, 0.2), on the matched ellipsoid
    {xᵀAx = 1}: E = ½ Σ e^{⟨x_i, A x_j⟩} never decreases (preset 'ellipsoid-gradient')."""
    s = get_preset("ellipsoid-gradient").scenario.replace(frames=1501, dt=0.01)
    A = np.array(s.P)
    r = simulate(s)
    assert r.status == 0
    logE = M.log_gradient_energy(r.x, A, s.beta)
    assert np.diff(logE).min() >= -1e-13
    assert logE[-1] > logE[0] + 0.1


def test_gradient_energy_is_not_monotone_on_the_unit_sphere_for_general_a():
    """§A.3: on the unit sphere with A ≠ cI the energy may decrease — so the monotonicity above is a
    property of the matched ellipsoid, not of the energy function (guards against a vacuous test)."""
    rng = np.random.default_rng(0)
    R, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    A = (R * np.array([4.0, 1.0, 0.2])) @ R.T
    A = (A + A.T) / 2
    root = (R * np.sqrt([4.0, 1.0, 0.2])) @ R.T
    rates = []
    from dynamics.field import AttentionField
    from dynamics.scenario import Head, MatrixSpec

    spec = MatrixSpec(const=tuple(map(tuple, root)))
    eye = MatrixSpec(const=tuple(map(tuple, np.eye(3))))
    fld = AttentionField((Head(Q=spec, K=spec, V=eye),), n=8, beta=1.0)
    for _ in range(200):
        x = uniform_sphere(rng, 8, 3)
        v = fld(0.0, x.copy())
        rates.append(float(np.sum((np.exp(x @ A @ x.T) @ x @ A) * v)))
    assert min(rates) < 0 < max(rates)


# ------------------------------------------------------------------ time series helpers


def test_consensus_time():
    t = np.linspace(0, 4, 5)
    p, q = np.eye(3)[0], np.eye(3)[1]
    spreads = [1.0, 0.5, 1e-4, 1e-5, 1e-6]
    xs = np.stack([arc(p, q, [0.0, a]) for a in spreads])
    assert M.consensus_time(t, xs, tol=1e-3) == 2.0
    assert M.consensus_time(t, xs, tol=2.0) == 0.0
    assert M.consensus_time(t, xs, tol=1e-7) is None
    back = np.stack([arc(p, q, [0.0, a]) for a in [1e-4, 1e-5, 1.0, 1e-4, 1e-5]])
    assert M.consensus_time(t, back, tol=1e-3) == 3.0  # must *stay* below


def test_pca_3d():
    rng = np.random.default_rng(1)
    xs3 = uniform_sphere(rng, 10, 3)[None].repeat(2, axis=0)
    proj, basis = M.pca_3d(xs3)
    np.testing.assert_array_equal(proj, xs3)
    np.testing.assert_array_equal(basis, np.eye(3))
    xs2 = uniform_sphere(rng, 10, 2)[None]
    proj2, _ = M.pca_3d(xs2)
    assert proj2.shape == (1, 10, 3) and np.all(proj2[..., 2] == 0)
    # d = 8 data living in a 3-D subspace: the projection keeps every norm
    Q, _ = np.linalg.qr(rng.standard_normal((8, 3)))
    xs8 = (uniform_sphere(rng, 30, 3) @ Q.T).reshape(3, 10, 8)
    proj8, basis8 = M.pca_3d(xs8)
    assert basis8.shape == (8, 3)
    np.testing.assert_allclose(basis8.T @ basis8, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(proj8, axis=-1), 1.0, atol=1e-12)


def test_metrics_on_a_simulated_consensus():
    r = simulate(Scenario(n=12, d=3, T=30.0, seed=5))
    assert M.diameter(r.x[-1]) < 1e-6
    assert M.interaction_energy(r.x[-1], 1.0, normalized=True) == pytest.approx(1.0, abs=1e-10)
    assert M.consensus_time(r.t, r.x, tol=1e-3) is not None
    assert len(set(M.clusters(r.x[-1]))) == 1
