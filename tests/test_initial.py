"""Initial tokens (dynamics/initial.py): constraints hold exactly, laws match their analytic
moments (uniform on the sphere, uniform on a cap), structured configurations are what they claim."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from dynamics import Scenario, ScenarioError
from dynamics import metrics as M
from dynamics.initial import (
    antipodal_pairs,
    default_pole,
    great_circle,
    initial_tokens,
    normalize,
    spherical_cap,
    uniform_sphere,
)


def cap_height_moments(d: int, c: float) -> tuple[float, float, float]:
    """Mean, variance and 4th central moment of h = ⟨x, ŵ⟩ for x uniform on
    {x ∈ S^{d-1} : h ≥ c}: the density of h is ∝ (1 − h²)^{(d−3)/2} on [c, 1]."""

    def density(h):
        return (1 - h * h) ** ((d - 3) / 2)

    z = quad(density, c, 1)[0]
    m1 = quad(lambda h: h * density(h), c, 1)[0] / z
    var = quad(lambda h: (h - m1) ** 2 * density(h), c, 1)[0] / z
    mu4 = quad(lambda h: (h - m1) ** 4 * density(h), c, 1)[0] / z
    return m1, var, mu4


# ------------------------------------------------------------------ constraints, exactly


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    d=st.integers(2, 7),
    margin=st.floats(0.0, 0.999),
    pole_seed=st.integers(0, 1000),
)
def test_hemisphere_sampler_respects_the_margin(seed, n, d, margin, pole_seed):
    pole = np.random.default_rng(pole_seed).standard_normal(d)
    s = Scenario(n=n, d=d, seed=seed, init="hemisphere", margin=margin, pole=pole.tolist())
    x = initial_tokens(s)
    assert x.shape == (n, d)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=0, atol=1e-15)
    heights = x @ (pole / np.linalg.norm(pole))
    assert heights.min() >= margin - 1e-15
    if margin > 0:
        assert M.open_hemisphere(x).contained


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    d=st.integers(2, 7),
    angle=st.floats(1e-3, math.pi),
)
def test_cap_sampler_respects_the_angle(seed, n, d, angle):
    s = Scenario(n=n, d=d, seed=seed, init="cap", cap_angle=angle)
    x = initial_tokens(s)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=0, atol=1e-15)
    heights = x @ default_pole(d)
    assert heights.min() >= math.cos(angle) - 1e-15
    assert np.all(np.isfinite(x))


@pytest.mark.parametrize("d", [2, 3, 5])
def test_generated_tokens_on_the_ellipsoid(d):
    """Generated tokens are moved radially onto {xᵀPx = 1}: same directions as on the sphere."""
    rng = np.random.default_rng(d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    P = (q * rng.uniform(0.2, 5, d)) @ q.T
    P = (P + P.T) / 2
    for init in ("uniform", "hemisphere", "cap", "antipodal", "great_circle"):
        s = Scenario(n=10, d=d, init=init, seed=3, space="ellipsoid", P=P.tolist())
        x = initial_tokens(s)
        np.testing.assert_allclose(np.einsum("ij,jk,ik->i", x, P, x), 1.0, atol=1e-14)
        on_sphere = initial_tokens(Scenario(n=10, d=d, init=init, seed=3))
        np.testing.assert_allclose(normalize(x), on_sphere, atol=1e-14)


# ------------------------------------------------------------------ laws


@pytest.mark.parametrize(("d", "angle"), [(2, 0.5), (3, 0.6), (3, 2.0), (4, 1.2), (8, 0.3), (20, 1.4)])
def test_cap_sampler_is_uniform_on_the_cap(d, angle):
    """Mean and variance of the height match the analytic law (5 standard errors); the component
    orthogonal to the pole has mean zero (rotational symmetry about the pole)."""
    n = 20_000
    pole = np.arange(1.0, d + 1.0)
    w = pole / np.linalg.norm(pole)
    x = spherical_cap(n, d, np.random.default_rng(d), pole=pole, min_cos=math.cos(angle))
    h = x @ w
    mean, var, mu4 = cap_height_moments(d, math.cos(angle))
    assert abs(h.mean() - mean) <= 5 * math.sqrt(var / n)
    assert abs(h.var() - var) <= 5 * math.sqrt((mu4 - var * var) / n)  # SE of a sample variance
    tangential = x - np.outer(h, w)
    np.testing.assert_allclose(tangential @ w, 0.0, atol=1e-15)
    radius = math.sqrt(max(1 - mean * mean, 1e-12))
    assert np.abs(tangential.mean(axis=0)).max() <= 5 * radius / math.sqrt(n)


def test_hemisphere_sampler_is_uniform_on_the_spherical_band():
    """init='hemisphere' is the cap {h ≥ margin}: its height law is the truncated one."""
    n, d, margin = 20_000, 3, 0.1
    x = initial_tokens(Scenario(n=n, d=d, init="hemisphere", margin=margin, seed=1))
    mean, var, _ = cap_height_moments(d, margin)
    h = x[:, -1]
    assert abs(h.mean() - mean) <= 5 * math.sqrt(var / n)
    assert mean == pytest.approx((1 + margin) / 2)  # d = 3: h is uniform (Archimedes)


@pytest.mark.parametrize("d", [2, 3, 6])
def test_uniform_sphere_moments(d):
    """Uniform on S^{d-1}: E[x] = 0 and E[xxᵀ] = I/d."""
    n = 20_000
    x = uniform_sphere(n, d, np.random.default_rng(d))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-15)
    assert np.abs(x.mean(axis=0)).max() <= 5 / math.sqrt(d * n)
    second = x.T @ x / n
    # Var(x_k²) = E[x_k⁴] − 1/d² = 3/(d(d+2)) − 1/d²
    se = math.sqrt((3 / (d * (d + 2)) - 1 / d**2) / n)
    assert np.abs(np.diag(second) - 1 / d).max() <= 5 * se


# ------------------------------------------------------------------ structured configurations


@pytest.mark.parametrize("d", [2, 3, 5])
def test_antipodal_pairs(d):
    x = initial_tokens(Scenario(n=12, d=d, init="antipodal", seed=4))
    np.testing.assert_array_equal(x[1::2], -x[0::2])
    assert not M.open_hemisphere(x).contained
    direct = antipodal_pairs(6, d, np.random.default_rng(0))
    np.testing.assert_array_equal(direct[1::2], -direct[0::2])


@pytest.mark.parametrize("n", [3, 5, 16])
def test_great_circle_is_evenly_spread(n):
    x = great_circle(n, 4, np.random.default_rng(n))
    assert np.all(x[:, 2:] == 0)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-15)
    angles = np.sort(np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi))
    gaps = np.diff(np.append(angles, angles[0] + 2 * np.pi))
    np.testing.assert_allclose(gaps, 2 * np.pi / n, atol=1e-12)
    assert not M.open_hemisphere(x).contained


def test_explicit_tokens_are_normalised():
    raw = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, -2.0], [1e-6, 0.0, 1e-6]])
    x = initial_tokens(Scenario(x0=raw.tolist()))
    np.testing.assert_allclose(x, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-16)
    P = np.diag([4.0, 1.0, 0.25])
    y = initial_tokens(Scenario(x0=raw.tolist(), space="ellipsoid", P=P.tolist()))
    np.testing.assert_allclose(np.einsum("ij,jk,ik->i", y, P, y), 1.0, atol=1e-15)
    np.testing.assert_allclose(normalize(y), x, atol=1e-15)  # same directions


def test_zero_token_is_refused():
    s = Scenario(x0=[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(ScenarioError, match="x0") as info:
        initial_tokens(s)
    assert "2" in str(info.value)  # names the token


def test_tokens_depend_on_the_seed_only():
    """Same seed, same tokens; the weight settings never change the tokens (separate streams)."""
    a = initial_tokens(Scenario(n=9, seed=5))
    np.testing.assert_array_equal(a, initial_tokens(Scenario(n=9, seed=5)))
    np.testing.assert_array_equal(a, initial_tokens(Scenario(n=9, seed=5, qk="gaussian", n_heads=3, beta=7)))
    assert not np.array_equal(a, initial_tokens(Scenario(n=9, seed=6)))


def test_default_pole_is_the_last_axis():
    np.testing.assert_array_equal(default_pole(4), [0, 0, 0, 1.0])
    x = initial_tokens(Scenario(n=50, d=4, init="hemisphere", margin=0.2, seed=2))
    assert x[:, -1].min() >= 0.2 - 1e-15
