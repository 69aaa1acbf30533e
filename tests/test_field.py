"""The attention velocity field (dynamics/field.py) against the model of the maths notes (§A.2).

Every expectation comes from the formula or from a theorem: a slow, loop-by-loop transcription of
    ẋ_i = Σ_k Π_{x_i}( Σ_{j∈N(i)} α^k_ij(t) V_k(t) x_j ),  Π_x(w) = w − (xᵀPw) x,
the invariants of §F (rows of α sum to 1, causal α lower-triangular with α₁₁ = 1, tangency,
permutation and rotation equivariance, consensus and antipodal equilibria) and the energy
identities of §D.2 (P4-2), evaluated with analytic gradients.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamics import Scenario, ScenarioError
from dynamics.field import AttentionField
from dynamics.scenario import Head, MatrixSpec

# ------------------------------------------------------------------ helpers


def spec(m0: np.ndarray, m1: np.ndarray | None = None, omega: float = 1.0, phase: float = 0.0) -> MatrixSpec:
    const = tuple(tuple(float(v) for v in row) for row in m0)
    sin = None if m1 is None else tuple(tuple(float(v) for v in row) for row in m1)
    return MatrixSpec(const=const, sin=sin, omega=omega, phase=phase)


def matrix_at(s: MatrixSpec, t: float) -> np.ndarray:
    """M(t) = M0 + M1 sin(ω t + φ), written out independently of MatrixSpec.at."""
    m = np.array(s.const, dtype=float)
    if s.sin is not None:
        m = m + math.sin(s.omega * t + s.phase) * np.array(s.sin, dtype=float)
    return m


def reference_field(t, X, heads, *, beta, attention="softmax", causal=False, P=None):
    """The model of §A.2, one token and one head at a time (slow, obviously correct)."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    out = np.zeros((n, d))
    for i in range(n):
        w = np.zeros(d)
        allowed = range(i + 1) if causal else range(n)
        for h in heads:
            A = matrix_at(h.Q, t).T @ matrix_at(h.K, t)
            V = matrix_at(h.V, t)
            s = np.array([beta * (X[i] @ A @ X[j]) for j in allowed])
            if attention == "softmax":
                a = np.exp(s - s.max())
                a /= a.sum()
            else:
                a = np.exp(s) / n
            for a_j, j in zip(a, allowed, strict=True):
                w += a_j * (V @ X[j])
        px = X[i] if P is None else P @ X[i]
        out[i] = w - (px @ w) * X[i]
    return out


def reference_attention(t, X, head, *, beta, attention="softmax", causal=False):
    n = X.shape[0]
    A = matrix_at(head.Q, t).T @ matrix_at(head.K, t)
    S = beta * X @ A @ X.T
    E = np.exp(S - S.max(axis=1, keepdims=True)) if attention == "softmax" else np.exp(S)
    if causal:
        E = np.tril(E)
    return E / E.sum(axis=1, keepdims=True) if attention == "softmax" else E / n


def random_heads(rng, d, count, *, varying=True, identity_v=False, scale=1.0):
    heads = []
    for _ in range(count):
        parts = {}
        for name in ("Q", "K", "V"):
            if name == "V" and identity_v:
                parts[name] = spec(np.eye(d))
                continue
            m0 = scale * rng.standard_normal((d, d)) / np.sqrt(d)
            if varying and rng.random() < 0.6:
                m1 = scale * rng.standard_normal((d, d)) / np.sqrt(d)
                parts[name] = spec(m0, m1, omega=float(rng.uniform(0.2, 3)), phase=float(rng.uniform(0, 6)))
            else:
                parts[name] = spec(m0)
        heads.append(Head(**parts))
    return tuple(heads)


def random_spd(rng, d, lo=0.3, hi=3.0):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    m = (q * rng.uniform(lo, hi, d)) @ q.T
    return (m + m.T) / 2


def on_manifold(rng, n, d, P=None):
    x = rng.standard_normal((n, d))
    if P is None:
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.sqrt(np.einsum("ij,jk,ik->i", x, P, x))[:, None]


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


IDENTITY_HEAD = {d: Head(Q=spec(np.eye(d)), K=spec(np.eye(d)), V=spec(np.eye(d))) for d in range(2, 9)}

configs = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "n": st.integers(1, 7),
        "d": st.integers(2, 4),
        "heads": st.integers(1, 3),
        "beta": st.floats(0.0, 4.0),
        "attention": st.sampled_from(["softmax", "unnormalized"]),
        "causal": st.booleans(),
        "ellipsoid": st.booleans(),
        "t": st.floats(0.0, 20.0),
    }
)


def build(cfg):
    rng = np.random.default_rng(cfg["seed"])
    d = cfg["d"]
    P = random_spd(rng, d) if cfg["ellipsoid"] else None
    heads = random_heads(rng, d, cfg["heads"])
    X = on_manifold(rng, cfg["n"], d, P)
    fld = AttentionField(
        heads, n=cfg["n"], beta=cfg["beta"], attention=cfg["attention"], causal=cfg["causal"], P=P
    )
    return fld, heads, X, P


# ------------------------------------------------------------------ the formula


@settings(max_examples=150)
@given(configs)
def test_field_equals_the_model_formula(cfg):
    fld, heads, X, P = build(cfg)
    got = fld(cfg["t"], X.copy())
    want = reference_field(
        cfg["t"], X, heads, beta=cfg["beta"], attention=cfg["attention"], causal=cfg["causal"], P=P
    )
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale)


@settings(max_examples=40)
@given(configs, st.integers(2, 4))
def test_batched_field_with_per_system_beta_equals_each_system(cfg, systems):
    """(B, n, d) with β of shape (B,): each system is the single-system field with its own β."""
    rng = np.random.default_rng(cfg["seed"] + 1)
    d, n = cfg["d"], cfg["n"]
    P = random_spd(rng, d) if cfg["ellipsoid"] else None
    heads = random_heads(rng, d, cfg["heads"])
    Xb = np.stack([on_manifold(rng, n, d, P) for _ in range(systems)])
    betas = rng.uniform(0, 4, systems)
    fld = AttentionField(heads, n=n, beta=betas, attention=cfg["attention"], causal=cfg["causal"], P=P)
    got = fld(cfg["t"], Xb.copy())
    assert got.shape == Xb.shape
    for b in range(systems):
        want = reference_field(
            cfg["t"], Xb[b], heads, beta=betas[b], attention=cfg["attention"], causal=cfg["causal"], P=P
        )
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got[b], want, rtol=0, atol=1e-12 * scale)


@settings(max_examples=100)
@given(configs)
def test_attention_rows_are_probability_vectors(cfg):
    """§F.2: softmax rows sum to 1 with positive entries on the allowed pattern; causal matrices are
    lower triangular with α₁₁ = 1; unnormalised weights are e^{β⟨x_i,Ax_j⟩}/n."""
    fld, heads, X, _ = build(cfg)
    alpha = fld.attention_matrices(cfg["t"], X)
    n = cfg["n"]
    assert alpha.shape == (len(heads), n, n)
    for k, head in enumerate(heads):
        want = reference_attention(
            cfg["t"], X, head, beta=cfg["beta"], attention=cfg["attention"], causal=cfg["causal"]
        )
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(alpha[k], want, rtol=0, atol=1e-13 * scale)
        if cfg["causal"]:
            assert np.all(np.triu(alpha[k], 1) == 0)
            assert np.all(alpha[k][np.tril_indices(n)] > 0)
        else:
            assert np.all(alpha[k] > 0)
        if cfg["attention"] == "softmax":
            np.testing.assert_allclose(alpha[k].sum(axis=1), 1.0, rtol=0, atol=1e-14)
            if cfg["causal"]:
                assert alpha[k][0, 0] == 1.0


@settings(max_examples=100)
@given(configs)
def test_velocity_is_tangent(cfg):
    """Π_x keeps xᵀPx = 1: ⟨P x_i, ẋ_i⟩ = 0 (⟨x_i, ẋ_i⟩ = 0 on the sphere)."""
    fld, _, X, P = build(cfg)
    v = fld(cfg["t"], X.copy())
    px = X if P is None else X @ P
    scale = max(1.0, float(np.abs(v).max()))
    np.testing.assert_allclose(np.einsum("ij,ij->i", px, v), 0.0, atol=1e-13 * scale)


# ------------------------------------------------------------------ symmetries


@settings(max_examples=60)
@given(configs)
def test_permutation_equivariance_without_mask(cfg):
    """Full attention is permutation equivariant (§F.4): F(πX) = πF(X)."""
    cfg = {**cfg, "causal": False}
    fld, _, X, _ = build(cfg)
    perm = np.random.default_rng(cfg["seed"] + 7).permutation(cfg["n"])
    lhs = fld(cfg["t"], X[perm].copy())
    rhs = fld(cfg["t"], X.copy())[perm]
    scale = max(1.0, float(np.abs(rhs).max()))
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-13 * scale)


@settings(max_examples=60)
@given(configs)
def test_rotation_equivariance_with_conjugated_weights(cfg):
    """§F.4: with A ↦ RAR^T (Q ↦ QR^T, K ↦ KR^T) and V ↦ RVR^T, F(RX) = R F(X) on the sphere."""
    cfg = {**cfg, "ellipsoid": False}
    fld, heads, X, _ = build(cfg)
    R = random_rotation(np.random.default_rng(cfg["seed"] + 3), cfg["d"])
    t = cfg["t"]
    rotated = tuple(
        Head(
            Q=spec(matrix_at(h.Q, t) @ R.T),
            K=spec(matrix_at(h.K, t) @ R.T),
            V=spec(R @ matrix_at(h.V, t) @ R.T),
        )
        for h in heads
    )
    fld_r = AttentionField(
        rotated, n=cfg["n"], beta=cfg["beta"], attention=cfg["attention"], causal=cfg["causal"]
    )
    lhs = fld_r(t, X @ R.T)
    rhs = fld(t, X.copy()) @ R.T
    scale = max(1.0, float(np.abs(rhs).max()))
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12 * scale)


# ------------------------------------------------------------------ equilibria


@settings(max_examples=60)
@given(configs)
def test_consensus_is_an_equilibrium_for_identity_value(cfg):
    """§F.7: for V = I (any A_k(t), any β, any mask) a consensus configuration does not move."""
    rng = np.random.default_rng(cfg["seed"])
    d, n = cfg["d"], cfg["n"]
    P = random_spd(rng, d) if cfg["ellipsoid"] else None
    heads = random_heads(rng, d, cfg["heads"], identity_v=True)
    p = on_manifold(rng, 1, d, P)[0]
    X = np.tile(p, (n, 1))
    fld = AttentionField(heads, n=n, beta=cfg["beta"], attention=cfg["attention"], causal=cfg["causal"], P=P)
    v = fld(cfg["t"], X.copy())
    # the pull before projection is (Σ_k Σ_j α^k_ij) p: the scale of the rounding errors
    scale = max(1.0, float(fld.attention_matrices(cfg["t"], X).sum(axis=(0, 2)).max()))
    assert np.abs(v).max() <= 1e-14 * scale


def test_consensus_at_an_eigenvector_of_v_is_an_equilibrium():
    """§F.7: for a general V, consensus at p is an equilibrium iff p is an eigenvector of V."""
    rng = np.random.default_rng(5)
    d, n = 4, 6
    basis = random_rotation(rng, d)
    V = (basis * np.array([2.0, -1.0, 0.5, 0.3])) @ basis.T
    head = Head(Q=spec(rng.standard_normal((d, d))), K=spec(rng.standard_normal((d, d))), V=spec(V))
    fld = AttentionField((head,), n=n, beta=1.5)
    for k in range(d):
        X = np.tile(basis[:, k], (n, 1))
        assert np.abs(fld(0.0, X)).max() <= 1e-14
    p = on_manifold(rng, 1, d)[0]
    assert np.abs(fld(0.0, np.tile(p, (n, 1)))).max() > 1e-3


@pytest.mark.parametrize("attention", ["softmax", "unnormalized"])
@pytest.mark.parametrize("causal", [False, True])
def test_two_antipodal_tokens_are_an_equilibrium(attention, causal):
    """§E P1-9: with V = I two tokens x, −x do not move (any A, any β)."""
    rng = np.random.default_rng(9)
    for d in (2, 3, 6):
        heads = random_heads(rng, d, 2, identity_v=True, scale=2.0)
        x = on_manifold(rng, 1, d)[0]
        X = np.stack([x, -x])
        fld = AttentionField(heads, n=2, beta=3.0, attention=attention, causal=causal)
        # the pull Σ_k Σ_j α^k_ij V x_j = c_i x_i has size c_i: rounding errors are relative to it
        scale = max(1.0, float(fld.attention_matrices(0.7, X).sum(axis=(0, 2)).max()))
        assert np.abs(fld(0.7, X.copy())).max() <= 2e-15 * scale


def test_first_token_does_not_move_under_causal_mask_with_identity_value():
    """§F.3 / Thm C: token 1 only sees itself, so ẋ₁ = Π_{x₁}(x₁) = 0 (several time-varying heads)."""
    rng = np.random.default_rng(2)
    d, n = 3, 9
    heads = random_heads(rng, d, 3, identity_v=True, scale=2.0)
    fld = AttentionField(heads, n=n, beta=2.0, causal=True)
    for t in (0.0, 0.3, 5.0):
        X = on_manifold(rng, n, d)
        v = fld(t, X)
        assert np.abs(v[0]).max() <= 1e-15
        assert np.abs(v[1:]).max() > 1e-3


def test_first_token_velocity_is_the_normalized_linear_flow():
    """§A.2: under a causal mask token 1 obeys ẋ = Π_x(Vx), whatever the other tokens and A."""
    rng = np.random.default_rng(4)
    d, n = 4, 5
    V = rng.standard_normal((d, d))
    head = Head(Q=spec(rng.standard_normal((d, d))), K=spec(rng.standard_normal((d, d))), V=spec(V))
    fld = AttentionField((head,), n=n, beta=1.0, causal=True)
    X = on_manifold(rng, n, d)
    x1 = X[0]
    np.testing.assert_allclose(fld(0.0, X)[0], V @ x1 - (x1 @ V @ x1) * x1, atol=1e-14)


# ------------------------------------------------------------------ energy identities (§D.2, P4-2)


@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_usa_energy_identity(beta):
    """USA with Q=K=V=I: dE_β/dt = Σ_i ⟨∇_{x_i}E_β, ẋ_i⟩ = (1/n) Σ_i ‖ẋ_i‖²."""
    rng = np.random.default_rng(int(beta * 10))
    n, d = 12, 3
    X = on_manifold(rng, n, d)
    fld = AttentionField((IDENTITY_HEAD[d],), n=n, beta=beta, attention="unnormalized")
    v = fld(0.0, X.copy())
    G = np.exp(beta * X @ X.T)
    grad = G @ X / n**2  # ∇_{x_i} of E_β = 1/(2βn²) Σ_ij e^{β⟨x_i,x_j⟩}
    dE = float(np.sum(grad * v))
    assert dE == pytest.approx(np.sum(v * v) / n, rel=1e-12)
    # and the finite difference of E along the flow agrees (central differences, O(h²))
    h = 1e-5

    def energy(Y):
        return np.exp(beta * Y @ Y.T).sum() / (2 * beta * n * n)

    fd = (energy(X + h * v) - energy(X - h * v)) / (2 * h)
    assert fd == pytest.approx(dE, rel=1e-7)


@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_sa_energy_identity(beta):
    """SA with Q=K=V=I: dE_β/dt = (1/n²) Σ_i Z_i ‖ẋ_i‖², Z_i = Σ_j e^{β⟨x_i,x_j⟩}."""
    rng = np.random.default_rng(int(beta * 10) + 1)
    n, d = 12, 3
    X = on_manifold(rng, n, d)
    fld = AttentionField((IDENTITY_HEAD[d],), n=n, beta=beta)
    v = fld(0.0, X.copy())
    G = np.exp(beta * X @ X.T)
    dE = float(np.sum((G @ X / n**2) * v))
    Z = G.sum(axis=1)
    assert dE == pytest.approx(np.sum(Z * np.sum(v * v, axis=1)) / n**2, rel=1e-12)


def test_gradient_structure_on_the_matched_ellipsoid():
    """§A.3 Thm A [D]: one head, V = I, A SPD, on {xᵀAx = 1} with Π_x(w) = w − (xᵀAw)x the energy
    E = ½ Σ e^{⟨x_i, A x_j⟩} has dE/dt ≥ 0 at every configuration (P1-8: min over configs > 0)."""
    rng = np.random.default_rng(8)
    R = random_rotation(rng, 3)
    A = (R * np.array([4.0, 1.0, 0.2])) @ R.T
    A = (A + A.T) / 2
    root = (R * np.sqrt([4.0, 1.0, 0.2])) @ R.T
    head = Head(Q=spec(root), K=spec(root), V=spec(np.eye(3)))
    fld = AttentionField((head,), n=10, beta=1.0, P=A)
    rates = []
    for _ in range(200):
        X = on_manifold(rng, 10, 3, A)
        v = fld(0.0, X.copy())
        grad = np.exp(X @ A @ X.T) @ X @ A  # ∂E/∂x_i = Σ_j e^{⟨x_i,Ax_j⟩} A x_j (A symmetric)
        rates.append(float(np.sum(grad * v)))
    assert min(rates) > 0


# ------------------------------------------------------------------ safe numerics


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("causal", [False, True])
def test_huge_beta_softmax_has_no_overflow(dtype, causal):
    """β = 1e4: the softmax is computed with max subtraction; no overflow/invalid operation, finite
    velocities, rows still sum to 1 (underflow of tiny weights to 0 is the intended outcome)."""
    rng = np.random.default_rng(1)
    n, d = 16, 3
    heads = random_heads(rng, d, 2, scale=1.5)
    fld = AttentionField(heads, n=n, beta=1e4, causal=causal, dtype=dtype)
    X = on_manifold(rng, n, d).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        v = fld(0.5, X.copy())
        alpha = fld.attention_matrices(0.5, X)
    assert v.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(alpha))
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(alpha.sum(axis=-1), 1.0, atol=tol)
    # near-hardmax: the reference computed in float64 with max subtraction agrees
    want = reference_field(0.5, X.astype(float), heads, beta=1e4, causal=causal)
    np.testing.assert_allclose(v, want, atol=1e-9 if dtype == "float64" else 1e-4)


def test_float32_field_agrees_with_float64():
    rng = np.random.default_rng(12)
    n, d = 20, 4
    heads = random_heads(rng, d, 3)
    X = on_manifold(rng, n, d)
    for attention in ("softmax", "unnormalized"):
        f64 = AttentionField(heads, n=n, beta=2.0, attention=attention)
        f32 = AttentionField(heads, n=n, beta=2.0, attention=attention, dtype="float32")
        v32 = f32(1.0, X.astype(np.float32))
        assert v32.dtype == np.float32
        np.testing.assert_allclose(v32, f64(1.0, X.copy()), atol=1e-5 * max(1.0, np.abs(v32).max()))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unnormalized_attention_with_huge_beta_is_refused(dtype):
    """USA has no denominator to cancel e^{β⟨x,Ay⟩}: refused up front, never inf."""
    with pytest.raises(ScenarioError, match="beta"):
        AttentionField((IDENTITY_HEAD[3],), n=8, beta=1e4, attention="unnormalized", dtype=dtype)
    s = Scenario(n=8, d=3, beta=1e4, attention="unnormalized", dtype=dtype)
    from dynamics import simulate

    with pytest.raises(ScenarioError, match="beta"):
        simulate(s)


# ------------------------------------------------------------------ heads of low rank


def low_rank_heads(rng, d, r, count, *, varying=False):
    """(factored heads: Q, K r×d and V = L R; the same heads as d×d matrices: Q, K padded with
    zero rows, V = L R formed)."""
    factored, dense = [], []
    for k in range(count):
        Q, K = rng.standard_normal((2, r, d)) / np.sqrt(d)
        L, R = rng.standard_normal((d, r)), rng.standard_normal((r, d)) / np.sqrt(d)
        q_sin = rng.standard_normal((r, d)) / np.sqrt(d) if varying and k == 0 else None
        pad = np.zeros((d - r, d))
        factored.append(
            Head.parse(
                {
                    "Q": Q.tolist() if q_sin is None else {"const": Q.tolist(), "sin": q_sin.tolist()},
                    "K": K.tolist(),
                    "V": {"left": L.tolist(), "right": R.tolist()},
                },
                f"heads[{k}]",
                d,
            )
        )
        q_dense = spec(np.vstack([Q, pad]), None if q_sin is None else np.vstack([q_sin, pad]))
        dense.append(Head(Q=q_dense, K=spec(np.vstack([K, pad])), V=spec(L @ R)))
    return tuple(factored), tuple(dense)


KIND_MASKS = [(a, c) for a in ("softmax", "unnormalized", "sigmoid", "l2", "sinkhorn") for c in (False, True)]


@pytest.mark.parametrize("attention, causal", [km for km in KIND_MASKS if km != ("sinkhorn", True)])
@pytest.mark.parametrize("ellipsoid", [False, True])
@pytest.mark.parametrize("r", [2, 5])
def test_low_rank_heads_give_the_dense_field(attention: str, causal: bool, ellipsoid: bool, r: int) -> None:
    """Q, K r×d and V = L R through their factors ((X Qᵀ)(X Kᵀ)ᵀ, (S (X Rᵀ)) Lᵀ; r = 2 < d/2) or
    formed (r = 5 ≥ d/2): the field of the same heads written as d×d matrices, to rounding."""
    rng = np.random.default_rng([r, len(attention), causal, ellipsoid])
    d, n = 10, 7
    factored, dense = low_rank_heads(rng, d, r, 3)
    assert all((h.qk_rank, h.v_rank) == ((r, r) if 2 * r < d else (None, None)) for h in factored)
    P = random_spd(rng, d) if ellipsoid else None
    X = on_manifold(rng, n, d, P)
    kw = dict(n=n, beta=1.7, attention=attention, causal=causal, P=P)
    got = AttentionField(factored, **kw)(0.3, X)
    want = AttentionField(dense, **kw)(0.3, X)
    assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()
    if attention in ("softmax", "unnormalized"):  # and the model's formula itself
        ref = reference_field(0.3, X, dense, beta=1.7, attention=attention, causal=causal, P=P)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("attention", ["softmax", "unnormalized", "sigmoid"])
def test_low_rank_ensembles_with_per_system_beta_and_time_varying_heads(attention: str) -> None:
    """(B, n, d) states with one β per system, one head with a time-varying r×d query map (formed
    densely at each t) among factored ones: equal to the dense heads, to rounding."""
    rng = np.random.default_rng(7)
    d, n, r = 12, 6, 3
    factored, dense = low_rank_heads(rng, d, r, 3, varying=True)
    assert factored[0].qk_rank is None and factored[1].qk_rank == r
    X = np.stack([on_manifold(rng, n, d) for _ in range(3)])
    beta = np.array([0.2, 1.0, 3.5])
    for t in (0.0, 1.1):
        got = AttentionField(factored, n=n, beta=beta, attention=attention, causal=True)(t, X)
        want = AttentionField(dense, n=n, beta=beta, attention=attention, causal=True)(t, X)
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


def test_a_scenario_with_low_rank_heads_round_trips_through_json() -> None:
    rng = np.random.default_rng(3)
    d, r = 8, 2
    factored, _ = low_rank_heads(rng, d, r, 2)
    s = Scenario(x0=on_manifold(rng, 5, d).tolist(), heads=factored, T=0.5, dt=0.1, frames=3)
    back = Scenario.from_json(s.to_json())
    assert back == s and back.digest() == s.digest()
    assert back.heads[0].V.rank == r and back.heads[0].Q.shape == (r, d)
    assert Scenario.from_query(s.to_query()) == s
    text = json.loads(s.to_json())["heads"][0]
    assert set(text["V"]) == {"left", "right"} and len(text["Q"]) == r


def ones(*shape: int) -> list:
    return np.ones(shape).tolist()


@pytest.mark.parametrize(
    "head, message",
    [
        ({"Q": ones(2, 6), "K": ones(3, 6)}, r"heads\[0\]\.K: expected a 2×6 matrix, got 3×6"),
        ({"Q": ones(2, 5), "K": ones(2, 5)}, r"heads\[0\]\.Q: expected an r×6 matrix with r ≤ 6, got 2×5"),
        ({"Q": ones(7, 6), "K": ones(7, 6)}, r"heads\[0\]\.Q: expected an r×6 matrix with r ≤ 6, got 7×6"),
        ({"Q": ones(2, 6)}, r"heads\[0\]\.K: expected a 2×6 matrix"),
        ({"V": {"left": ones(6, 2), "right": ones(3, 6)}}, r"heads\[0\]\.V\.left: expected a 6×3 matrix"),
        ({"V": {"left": ones(6, 2)}}, r"heads\[0\]\.V: a factored matrix is"),
        ({"V": {"left": ones(6, 1), "right": ones(1, 6), "sin": ones(6, 6)}}, r"unknown keys \['sin'\]"),
        ({"V": ones(2, 6)}, r"heads\[0\]\.V: expected a 6×6 matrix"),
        (
            {"Q": {"const": ones(2, 6), "sin": ones(3, 6)}, "K": ones(2, 6)},
            r"heads\[0\]\.Q\.sin: expected a 2×6",
        ),
    ],
)
def test_wrong_shapes_of_low_rank_heads_are_refused_clearly(head: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Scenario(d=6, n=4, heads=[head])


def test_head_objects_with_wrong_shapes_are_refused() -> None:
    from dynamics.deep import array_low_rank, array_spec

    good = array_spec(np.ones((2, 6)))
    with pytest.raises(ScenarioError, match=r"heads\[0\]\.K: expected a 2×6 matrix \(r ≤ d = 6\), got 3×6"):
        Scenario(d=6, n=4, heads=[Head(Q=good, K=array_spec(np.ones((3, 6))), V=spec(np.eye(6)))])
    with pytest.raises(ScenarioError, match=r"heads\[0\]\.V: expected a 6×6 matrix"):
        Scenario(d=6, n=4, heads=[Head(Q=good, K=good, V=array_low_rank(np.ones((5, 2)), np.ones((2, 6))))])


@settings(max_examples=60)
@given(st.integers(1, 256), st.integers(16, 1024), st.integers(1, 64), st.integers(1, 12))
def test_the_work_estimate_counts_low_rank_heads_at_their_factored_cost(n, d, r, h) -> None:
    """Per head: 4n²d + 4nd² + 10n² dense; with rank-r factors (2r < d) the two n×d×d products
    become four n×d×r ones and the two n×n×d ones n×n×r, so the ratio lies in [r/d, 2r/d] up to
    the 10n² elementwise term: ≈ 2r/d when n ≪ d (0.17 at d = 768, r = 64, n = 64)."""
    from dynamics import limits

    dense = limits.work_per_evaluation(n, d, h)
    assert dense == pytest.approx(h * (4 * n * n * d + 4 * n * d * d + 10 * n * n))
    if not 2 * r < d:
        return
    low = limits.work_per_evaluation(n, d, h, ranks=[(r, r)] * h)
    elementwise = 10 * n * n / (4 * n * d * d + 4 * n * n * d)
    assert r / d <= low / dense <= 2 * r / d + elementwise
    # the budget of a scenario with such heads uses it (here: 2 heads, the second one dense)
    rng = np.random.default_rng(0)
    factored, dense_heads = low_rank_heads(rng, 10, 2, 2)
    s = Scenario(n=3, d=10, heads=(factored[0], dense_heads[1]), T=1.0, dt=0.1, frames=2)
    assert limits.scenario_work_per_evaluation(s) == pytest.approx(
        limits.head_work(3, 10, 2, 2) + limits.head_work(3, 10)
    )
    assert limits.run_cost(s).work == pytest.approx(
        limits.estimated_evaluations(s) * limits.scenario_work_per_evaluation(s)
    )
