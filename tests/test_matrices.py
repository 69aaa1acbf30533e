"""Weight builders (dynamics/matrices.py): spectra, symmetry, definiteness and the heads a
scenario describes — checked by linear algebra, not by comparing with stored outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamics import Scenario
from dynamics.matrices import (
    build_heads,
    from_spectrum,
    gaussian,
    random_orthogonal,
    spd_from_spectrum,
    sym_sqrt,
)

eigenvalue_lists = st.integers(2, 6).flatmap(
    lambda d: st.lists(st.floats(-5, 5).filter(lambda v: abs(v) > 1e-3), min_size=d, max_size=d)
)


@settings(max_examples=50)
@given(st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_random_orthogonal_is_orthogonal(d, seed):
    q = random_orthogonal(d, np.random.default_rng(seed))
    np.testing.assert_allclose(q.T @ q, np.eye(d), atol=1e-13)
    assert abs(abs(np.linalg.det(q)) - 1) < 1e-12


def test_random_orthogonal_is_haar_distributed():
    """For Haar Q the entries have mean 0 and variance 1/d, and det = ±1 with probability ½ each
    (the sign fix of Mezzadri matters for the latter two)."""
    rng = np.random.default_rng(0)
    d, trials = 3, 4000
    qs = np.stack([random_orthogonal(d, rng) for _ in range(trials)])
    se = math.sqrt(1 / d / trials)
    assert np.abs(qs.mean(axis=0)).max() <= 5 * se
    # q_ij² ~ Beta(1/2, (d-1)/2) for Haar Q: variance αβ/((α+β)²(α+β+1))
    a, b = 0.5, (d - 1) / 2
    se2 = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)) / trials)
    assert np.abs((qs**2).mean(axis=0) - 1 / d).max() <= 5 * se2
    dets = np.sign(np.linalg.det(qs))
    assert abs(dets.mean()) <= 5 / math.sqrt(trials)


@settings(max_examples=50)
@given(eigenvalue_lists, st.integers(0, 2**32 - 1))
def test_from_spectrum_has_the_requested_eigenvalues(eigs, seed):
    rng = np.random.default_rng(seed)
    lam = np.sort(eigs)
    diag = from_spectrum(eigs, basis="identity")
    np.testing.assert_array_equal(diag, np.diag(eigs))
    sym = from_spectrum(eigs, basis="random", symmetric=True, rng=rng)
    np.testing.assert_array_equal(sym, sym.T)
    np.testing.assert_allclose(np.linalg.eigvalsh(sym), lam, atol=1e-12)
    general = from_spectrum(eigs, basis="random", symmetric=False, rng=rng)
    got = np.linalg.eigvals(general)
    np.testing.assert_allclose(np.sort(got.real), lam, atol=1e-8)
    np.testing.assert_allclose(got.imag, 0, atol=1e-8)


def test_non_symmetric_spectrum_is_not_normal():
    m = from_spectrum([1.0, 2.0, 3.0], basis="random", symmetric=False, rng=np.random.default_rng(1))
    assert np.abs(m @ m.T - m.T @ m).max() > 1e-3


def test_random_basis_needs_a_generator():
    with pytest.raises(ValueError):
        from_spectrum([1.0, 2.0], basis="random")


@settings(max_examples=50)
@given(
    st.integers(2, 6).flatmap(lambda d: st.lists(st.floats(1e-3, 50), min_size=d, max_size=d)),
    st.integers(0, 2**32 - 1),
)
def test_spd_and_its_square_root(eigs, seed):
    m = spd_from_spectrum(eigs, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(m, m.T)
    assert np.linalg.eigvalsh(m).min() > 0
    np.testing.assert_allclose(np.linalg.eigvalsh(m), np.sort(eigs), rtol=1e-10, atol=1e-12)
    r = sym_sqrt(m)
    np.testing.assert_allclose(r, r.T, atol=1e-14 * max(eigs))
    np.testing.assert_allclose(r @ r, m, atol=1e-12 * max(eigs))


@pytest.mark.parametrize("eigs", [[1.0, 0.0], [1.0, -2.0]])
def test_spd_refuses_non_positive_eigenvalues(eigs):
    with pytest.raises(ValueError):
        spd_from_spectrum(eigs, rng=np.random.default_rng(0))


def test_gaussian_scale():
    rng = np.random.default_rng(3)
    g = np.stack([gaussian(8, rng) for _ in range(500)])
    assert g.std() == pytest.approx(1 / math.sqrt(8), rel=0.02)
    assert gaussian(4, rng, scale=0.0).max() == 0


# ------------------------------------------------------------------ build_heads


def _m(spec, t=0.0):
    return spec.at(t)


def test_identity_heads():
    heads = build_heads(Scenario(d=4, n_heads=3))
    assert len(heads) == 3
    for h in heads:
        for m in (h.Q, h.K, h.V):
            assert m.is_constant
            np.testing.assert_array_equal(_m(m), np.eye(4))


@pytest.mark.parametrize("basis", ["identity", "random"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_value_from_spectrum(basis, symmetric):
    eigs = (2.0, -0.7, -2.3)
    heads = build_heads(
        Scenario(value="spectrum", v_eigs=eigs, v_basis=basis, v_symmetric=symmetric, n_heads=2)
    )
    for h in heads:
        V = _m(h.V)
        np.testing.assert_allclose(np.sort(np.linalg.eigvals(V).real), np.sort(eigs), atol=1e-10)
        if symmetric or basis == "identity":
            np.testing.assert_allclose(V, V.T, atol=1e-14)
        np.testing.assert_array_equal(_m(h.Q), np.eye(3))


def test_spd_key_query_product():
    """qk='spd': Q = K = A^{1/2}, so QᵀK = A is symmetric positive definite with the given spectrum."""
    eigs = (4.0, 1.0, 0.2)
    for h in build_heads(Scenario(qk="spd", qk_eigs=eigs, n_heads=2, seed=3)):
        A = _m(h.Q).T @ _m(h.K)
        np.testing.assert_allclose(A, A.T, atol=1e-14)
        np.testing.assert_allclose(np.linalg.eigvalsh(A), np.sort(eigs), atol=1e-12)


def test_time_varying_keys():
    """qk_amp > 0: K(t) = K₀ + amp·G·sin(ω t + 2πk/h), bounded, with the head's phase."""
    s = Scenario(qk="gaussian", qk_amp=0.5, qk_omega=2.0, n_heads=4, seed=1)
    heads = build_heads(s)
    for k, h in enumerate(heads):
        assert not h.K.is_constant and h.Q.is_constant
        assert h.K.omega == 2.0
        assert h.K.phase == pytest.approx(2 * math.pi * k / 4)
        k0, k1 = np.array(h.K.const), np.array(h.K.sin)
        t = 0.37
        np.testing.assert_allclose(_m(h.K, t), k0 + math.sin(2.0 * t + h.K.phase) * k1, atol=1e-15)
        assert h.K.norm_bound() >= max(np.linalg.norm(_m(h.K, tt), 2) for tt in np.linspace(0, 4, 41))


def test_heads_depend_on_the_seed_not_on_the_tokens():
    s = Scenario(qk="gaussian", value="gaussian", n_heads=2, seed=5)
    assert build_heads(s) == build_heads(s.replace(n=7, init="hemisphere"))
    assert build_heads(s) == build_heads(Scenario(qk="gaussian", value="gaussian", n_heads=2, seed=5))
    assert build_heads(s) != build_heads(s.replace(seed=6))
    # heads of one scenario are independent draws
    a, b = build_heads(s)
    assert a != b


def test_explicit_heads_are_used_as_given():
    d = 3
    heads = [{"Q": np.diag([1.0, 2, 3]).tolist(), "V": (-np.eye(d)).tolist()}]
    built = build_heads(Scenario(heads=heads, qk="gaussian"))
    assert len(built) == 1
    np.testing.assert_array_equal(_m(built[0].Q), np.diag([1.0, 2, 3]))
    np.testing.assert_array_equal(_m(built[0].K), np.eye(d))  # omitted → identity
    np.testing.assert_array_equal(_m(built[0].V), -np.eye(d))
