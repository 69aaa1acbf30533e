"""Attention variants at the particle level (dynamics/attention.py, maths notes §C.2).

Expectations come from the definitions, transcribed loop by loop (slow, obviously correct):

    L2:       α_ij = exp(−β‖Q x_i − K x_j‖²) / Σ_{l∈N(i)} exp(−β‖Q x_i − K x_l‖²)
    sigmoid:  α_ij = σ(β⟨x_i, A x_j⟩ + b) / n            (causal: j ≤ i, still divided by n)
    sinkhorn: exp(β⟨x_i, A x_j⟩) scaled to doubly stochastic (no causal mask: refused)
    field:    ẋ_i = Σ_k Π_{x_i}( Σ_{j∈N(i)} α^k_ij V_k(t) x_j ),  Π_x(w) = w − (xᵀPw) x

and from the invariants of §F.2 (tangency / manifold, permutation equivariance, doubly stochastic
Sinkhorn matrices), plus the scenario contract (JSON / URL round trip, errors naming the key).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

# ------------------------------------------------------------------ helpers
from test_field import matrix_at, spec  # the same independent helpers as the field tests

from dynamics import Scenario, ScenarioError, simulate
from dynamics.attention import VARIANTS
from dynamics.field import AttentionField
from dynamics.scenario import Head


def random_heads(rng, d, count, *, varying=False, scale=0.6):
    heads = []
    for _ in range(count):
        parts = {}
        for name in ("Q", "K", "V"):
            m0 = np.eye(d) + scale * rng.normal(size=(d, d))
            m1 = scale * rng.normal(size=(d, d)) if varying else None
            parts[name] = spec(m0, m1, omega=1.3, phase=0.4)
        heads.append(Head(**parts))
    return heads


def on_manifold(rng, n, d, P=None):
    X = rng.normal(size=(n, d))
    PX = X if P is None else X @ P
    return X / np.sqrt(np.einsum("ij,ij->i", X, PX))[:, None]


def spd(rng, d):
    B = rng.normal(size=(d, d))
    return np.eye(d) + 0.3 * B @ B.T


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def reference_weights(t, X, head, *, beta, attention, causal=False, bias=0.0):
    """α for one head, entry by entry (L2 and sigmoid)."""
    n = X.shape[0]
    Q, K = matrix_at(head.Q, t), matrix_at(head.K, t)
    alpha = np.zeros((n, n))
    for i in range(n):
        allowed = list(range(i + 1)) if causal else list(range(n))
        if attention == "l2":
            s = np.array([-beta * np.sum((Q @ X[i] - K @ X[j]) ** 2) for j in allowed])
            a = np.exp(s - s.max())
            a /= a.sum()
        else:
            a = np.array([sigmoid(beta * float((Q @ X[i]) @ (K @ X[j])) + bias) / n for j in allowed])
        for a_j, j in zip(a, allowed, strict=True):
            alpha[i, j] = a_j
    return alpha


def reference_field(t, X, heads, *, beta, attention, causal=False, P=None, bias=0.0):
    n, d = X.shape
    out = np.zeros((n, d))
    alphas = [
        reference_weights(t, X, h, beta=beta, attention=attention, causal=causal, bias=bias) for h in heads
    ]
    for i in range(n):
        w = np.zeros(d)
        for h, alpha in zip(heads, alphas, strict=True):
            V = matrix_at(h.V, t)
            for j in range(n):
                w += alpha[i, j] * (V @ X[j])
        px = X[i] if P is None else P @ X[i]
        out[i] = w - (px @ w) * X[i]
    return out


def field(heads, n, attention, *, beta=2.0, causal=False, P=None, dtype=np.float64, **params):
    return AttentionField(
        heads, n=n, beta=beta, attention=attention, causal=causal, P=P, dtype=dtype, variant_params=params
    )


# ------------------------------------------------------------------ L2 and sigmoid against the loops


@pytest.mark.parametrize("attention", ["l2", "sigmoid"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("ellipsoid", [False, True])
@pytest.mark.parametrize("varying", [False, True])
def test_l2_and_sigmoid_fields_match_the_loop_by_loop_definition(attention, causal, ellipsoid, varying):
    rng = np.random.default_rng(hash((attention, causal, ellipsoid, varying)) % 2**32)
    n, d, t = 9, 3, 0.7
    P = spd(rng, d) if ellipsoid else None
    heads = random_heads(rng, d, 2, varying=varying)
    X = on_manifold(rng, n, d, P)
    bias = -0.7 if attention == "sigmoid" else 0.0
    fld = field(heads, n, attention, beta=1.7, causal=causal, P=P, sigmoid_bias=bias)
    got = fld(t, X)
    want = reference_field(t, X, heads, beta=1.7, attention=attention, causal=causal, P=P, bias=bias)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    alphas = fld.attention_matrices(t, X)
    for k, h in enumerate(heads):
        ref = reference_weights(t, X, h, beta=1.7, attention=attention, causal=causal, bias=bias)
        np.testing.assert_allclose(alphas[k], ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", ["l2", "sigmoid"])
def test_causal_attention_is_lower_triangular(attention):
    rng = np.random.default_rng(3)
    n, d = 12, 4
    heads = random_heads(rng, d, 2)
    X = on_manifold(rng, n, d)
    alphas = field(heads, n, attention, causal=True).attention_matrices(0.0, X)
    assert np.all(alphas[:, np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] == 0)
    assert np.all(np.diagonal(alphas, axis1=-2, axis2=-1) > 0)
    if attention == "l2":
        np.testing.assert_allclose(alphas.sum(-1), 1.0, atol=1e-14)
        np.testing.assert_allclose(alphas[:, 0, 0], 1.0, atol=1e-15)  # token 1 attends to itself
    else:  # divided by n, not by |N(i)| = i
        assert np.all(alphas.sum(-1) <= np.arange(1, n + 1) / n + 1e-15)


def test_l2_drops_the_query_norm_only():
    """With Q ≠ K the L2 weights differ from softmax with A = QᵀK by the −β‖Kx_j‖² column term."""
    rng = np.random.default_rng(5)
    n, d, beta = 10, 3, 1.3
    heads = random_heads(rng, d, 1)
    X = on_manifold(rng, n, d)
    l2 = field(heads, n, "l2", beta=beta).attention_matrices(0.0, X)[0]
    K = matrix_at(heads[0].K, 0.0)
    soft2 = field(heads, n, "softmax", beta=2 * beta).attention_matrices(0.0, X)[0]
    w = soft2 * np.exp(-beta * np.sum((X @ K.T) ** 2, axis=1))[None, :]
    np.testing.assert_allclose(l2, w / w.sum(1, keepdims=True), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ Sinkhorn


@pytest.mark.parametrize("beta", [0.5, 3.0, 8.0])
@pytest.mark.parametrize("tol", [1e-6, 1e-9, 1e-12])
def test_sinkhorn_matrix_is_doubly_stochastic_to_its_tolerance(beta, tol):
    rng = np.random.default_rng(int(beta * 10) + int(-math.log10(tol)))
    n, d = 14, 3
    heads = random_heads(rng, d, 2)
    X = on_manifold(rng, n, d)
    fld = field(heads, n, "sinkhorn", beta=beta, sinkhorn_tol=tol, sinkhorn_iters=5000)
    alphas = fld.attention_matrices(0.3, X)
    assert np.all(alphas >= 0)
    assert np.max(np.abs(alphas.sum(-1) - 1)) <= tol
    assert np.max(np.abs(alphas.sum(-2) - 1)) <= tol
    rep = fld.sinkhorn_report
    err = max(np.max(np.abs(alphas[-1].sum(-1) - 1)), np.max(np.abs(alphas[-1].sum(-2) - 1)))
    assert rep["sinkhorn_error"] == err  # the achieved error of the last head, as measured
    assert 1 <= rep["sinkhorn_iterations"] < 5000
    assert rep["sinkhorn_error"] <= tol and rep["sinkhorn_capped"] == 0
    assert rep["sinkhorn_calls"] == 2  # one per head


def test_sinkhorn_is_the_scaling_of_the_exponential_kernel():
    """α = diag(a) E diag(b) with E = exp(β⟨x_i, A x_j⟩): the ratio α/E has rank one."""
    rng = np.random.default_rng(8)
    n, d, beta = 8, 3, 2.0
    heads = random_heads(rng, d, 1)
    X = on_manifold(rng, n, d)
    alpha = field(
        heads, n, "sinkhorn", beta=beta, sinkhorn_tol=1e-13, sinkhorn_iters=10_000
    ).attention_matrices(0.0, X)[0]
    A = matrix_at(heads[0].Q, 0).T @ matrix_at(heads[0].K, 0)
    R = np.log(alpha) - beta * X @ A @ X.T
    # log α_ij − L_ij = u_i + v_j: all second differences vanish
    second = R[1:, 1:] - R[1:, :1] - R[:1, 1:] + R[0, 0]
    assert np.max(np.abs(second)) < 1e-10


def test_sinkhorn_cap_is_reported():
    rng = np.random.default_rng(9)
    n, d = 14, 3
    X = on_manifold(rng, n, d)
    fld = field(random_heads(rng, d, 1), n, "sinkhorn", beta=30.0, sinkhorn_tol=1e-14, sinkhorn_iters=3)
    fld(0.0, X)
    rep = fld.report()
    assert rep["sinkhorn_iterations"] == 3 and rep["sinkhorn_capped"] == 1
    assert rep["sinkhorn_error"] > 1e-14 and math.isfinite(rep["sinkhorn_error"])


def test_sinkhorn_report_reaches_the_result():
    res = simulate(Scenario(n=10, attention="sinkhorn", beta=2.0, T=0.5, frames=3, sinkhorn_tol=1e-8))
    assert res.success
    assert res.extra["sinkhorn_iterations"] >= 1
    assert res.extra["sinkhorn_max_error"] <= 1e-8
    assert res.extra["sinkhorn_calls"] == res.evaluations
    assert not any(k.startswith("sinkhorn") for k in simulate(Scenario(n=10, T=0.5, frames=3)).extra)


def test_causal_sinkhorn_is_refused_with_the_reason():
    with pytest.raises(ScenarioError, match=r"^mask: .*identity"):
        Scenario(attention="sinkhorn", mask="causal")
    with pytest.raises(ScenarioError, match="identity"):
        Scenario.from_query({"attention": "sinkhorn", "mask": "causal"})
    rng = np.random.default_rng(0)
    with pytest.raises(ScenarioError, match="lower-triangular doubly stochastic"):
        field(random_heads(rng, 3, 1), 5, "sinkhorn", causal=True)


# ------------------------------------------------------------------ invariants


@pytest.mark.parametrize("attention", VARIANTS)
@pytest.mark.parametrize("integrator", ["euler", "rk4", "adaptive"])
@pytest.mark.parametrize("space", ["sphere", "ellipsoid"])
def test_manifold_is_preserved(attention, integrator, space):
    P = [[2.0, 0.3, 0.0], [0.3, 1.0, 0.0], [0.0, 0.0, 0.5]] if space == "ellipsoid" else None
    mask = "none" if attention == "sinkhorn" else "causal"
    sc = Scenario(
        n=12, d=3, seed=4, attention=attention, beta=2.0, space=space, P=P, mask=mask,
        integrator=integrator, T=1.0, dt=0.05, frames=5, n_heads=2, qk="gaussian", value="gaussian",
    )  # fmt: skip
    res = simulate(sc)
    assert res.success, res.message
    Pm = np.eye(3) if P is None else np.array(P)
    q = np.einsum("kni,ij,knj->kn", res.x, Pm, res.x)
    assert np.max(np.abs(q - 1)) <= 1e-12
    # and the field is tangent: ⟨P x_i, ẋ_i⟩ = 0
    fld = AttentionField.from_scenario(sc, __import__("dynamics.matrices").matrices.build_heads(sc))
    X = np.array(res.x[-1])
    assert np.max(np.abs(np.einsum("ni,ij,nj->n", X, Pm, fld(1.0, X)))) <= 1e-12


@pytest.mark.parametrize("attention", VARIANTS)
def test_permutation_equivariance(attention):
    rng = np.random.default_rng(11)
    n, d = 10, 4
    heads = random_heads(rng, d, 2, varying=True)
    X = on_manifold(rng, n, d)
    perm = rng.permutation(n)
    fld = field(heads, n, attention, beta=1.5, sinkhorn_tol=1e-13, sinkhorn_iters=5000, sigmoid_bias=0.3)
    np.testing.assert_allclose(fld(0.4, X[perm]), fld(0.4, X)[perm], rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_beta_is_finite_without_warnings(attention, dtype):
    rng = np.random.default_rng(12)
    n, d = 16, 3
    heads = random_heads(rng, d, 2)
    X = on_manifold(rng, n, d).astype(dtype)
    causal = attention != "sinkhorn"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            fld = field(heads, n, attention, beta=1e4, causal=causal, dtype=dtype, sigmoid_bias=-50.0)
            F = fld(0.0, X)
            alphas = fld.attention_matrices(0.0, X)
            Fb = fld(0.0, np.stack([X, X[::-1]]))  # batched (B, n, d)
    for arr in (F, alphas, Fb):
        assert arr.dtype == dtype
        assert np.all(np.isfinite(arr))
    res = simulate(
        Scenario(n=8, attention=attention, beta=1e4, T=0.1, dt=0.01, frames=3, dtype=np.dtype(dtype).name)
    )
    assert res.x.dtype == dtype and np.all(np.isfinite(res.x))


@pytest.mark.parametrize("attention", VARIANTS)
def test_batched_and_per_system_beta_match_single_systems(attention):
    rng = np.random.default_rng(13)
    n, d = 9, 3
    heads = random_heads(rng, d, 2)
    Xs = np.stack([on_manifold(rng, n, d) for _ in range(3)])
    betas = np.array([0.5, 2.0, 4.0])
    opts = {"sinkhorn_tol": 1e-14, "sinkhorn_iters": 5000}  # a batch stops when its worst system has
    got = field(heads, n, attention, beta=betas, **opts)(0.2, Xs)
    for b in range(3):
        want = field(heads, n, attention, beta=betas[b], **opts)(0.2, Xs[b])
        np.testing.assert_allclose(got[b], want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", ["softmax", "l2", "sigmoid", "sinkhorn"])
def test_multi_head_with_output_maps_is_heads_with_v_equal_w_times_v(attention):
    """Γ(x) = Σ_h W_h Σ_j α^h_ij V'_h x_j with Q_h, K_h, V'_h ∈ R^{k×d}, W_h ∈ R^{d×k}, k = d/H,
    equals the engine's heads with Q, K padded by zero rows and V_h = W_h V'_h."""
    rng = np.random.default_rng(14)
    n, d, H = 8, 4, 2
    k = d // H
    beta = 1.2
    X = on_manifold(rng, n, d)
    blocks = [
        {m: rng.normal(size=(k, d)) for m in ("Q", "K", "V")} | {"W": rng.normal(size=(d, k))}
        for _ in range(H)
    ]
    heads = []
    for b in blocks:
        pad = lambda m: np.vstack([m, np.zeros((d - k, d))])  # noqa: E731
        heads.append(Head(Q=spec(pad(b["Q"])), K=spec(pad(b["K"])), V=spec(b["W"] @ b["V"])))
    fld = field(heads, n, attention, beta=beta, sinkhorn_tol=1e-13, sinkhorn_iters=5000)
    alphas = fld.attention_matrices(0.0, X)
    want = np.zeros((n, d))
    for h, b in enumerate(blocks):
        qx, kx, vx = X @ b["Q"].T, X @ b["K"].T, X @ b["V"].T
        if attention == "softmax":
            S = beta * qx @ kx.T
            a = np.exp(S - S.max(1, keepdims=True))
            a /= a.sum(1, keepdims=True)
        elif attention == "l2":
            D = np.sum((qx[:, None, :] - kx[None, :, :]) ** 2, axis=-1)
            a = np.exp(-beta * (D - D.min(1, keepdims=True)))
            a /= a.sum(1, keepdims=True)
        elif attention == "sigmoid":
            a = 1 / (1 + np.exp(-beta * qx @ kx.T)) / n
        else:  # the engine's own doubly stochastic matrix of the same kernel
            a = alphas[h]
        want += (a @ vx) @ b["W"].T
    want -= np.sum(X * want, axis=1)[:, None] * X
    np.testing.assert_allclose(fld(0.0, X), want, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ the scenario contract


def test_new_keys_round_trip_through_json_and_url():
    for sc in (
        Scenario(attention="sinkhorn", sinkhorn_tol=1e-7, sinkhorn_iters=55),
        Scenario(attention="sigmoid", sigmoid_bias=-1.25, mask="causal"),
        Scenario(attention="l2", beta=3.5),
    ):
        assert Scenario.from_json(sc.to_json()) == sc
        assert Scenario.from_query(sc.to_query()) == sc
    q = Scenario(attention="sinkhorn", sinkhorn_tol=1e-7, sinkhorn_iters=55).to_query()
    assert q["attention"] == "sinkhorn" and q["sinkhorn_iters"] == "55" and float(q["sinkhorn_tol"]) == 1e-7
    # defaults are omitted: existing scenarios keep their JSON and digest
    assert "sinkhorn_tol" not in Scenario().to_json() and "sigmoid_bias" not in Scenario().to_json()


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"sinkhorn_tol": 0}, "sinkhorn_tol"),
        ({"sinkhorn_tol": -1e-9}, "sinkhorn_tol"),
        ({"sinkhorn_tol": "abc"}, "sinkhorn_tol"),
        ({"sinkhorn_iters": 0}, "sinkhorn_iters"),
        ({"sinkhorn_iters": 2.5}, "sinkhorn_iters"),
        ({"sinkhorn_iters": 10**9}, "sinkhorn_iters"),
        ({"sigmoid_bias": float("nan")}, "sigmoid_bias"),
        ({"sigmoid_bias": "x"}, "sigmoid_bias"),
        ({"attention": "l3"}, "attention"),
    ],
)
def test_invalid_variant_parameters_name_the_key(changes, key):
    with pytest.raises(ScenarioError, match=rf"^{key}:"):
        Scenario(**changes)


def test_sinkhorn_iterations_count_in_the_work_budget():
    """The iteration cap multiplies the cost: a huge cap is refused before anything runs."""
    from dynamics import BudgetError, Limits

    cheap = Scenario(n=64, attention="sinkhorn", sinkhorn_iters=10, T=1.0)
    costly = cheap.replace(sinkhorn_iters=10_000)
    limits = Limits(max_work=1e10)
    assert simulate(cheap, limits=limits).success
    with pytest.raises(BudgetError, match="work budget"):
        simulate(costly, limits=limits)


# ------------------------------------------------------------------ the registry (issue 10)


def test_registry_declares_every_kind():
    from dynamics import attention

    assert set(attention.KINDS) == {"softmax", "unnormalized", "l2", "sinkhorn", "sigmoid"}
    for name, kind in attention.KINDS.items():
        assert kind.name == name and kind.label and isinstance(kind.supports_causal, bool)
        assert kind.models <= {"sphere", "euclidean", "gaussian"} and "sphere" in kind.models
        for p in kind.params:
            assert p.lo <= p.default <= p.hi
    assert VARIANTS == ("l2", "sinkhorn", "sigmoid")  # the kinds without the fused kernel
    assert attention.kinds_for("euclidean") == ("softmax", "l2", "sinkhorn", "sigmoid")
    assert attention.kinds_for("gaussian") == ("softmax", "l2", "sinkhorn")


@pytest.mark.parametrize("attention", ["softmax", "unnormalized"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("batched", [False, True])
def test_fused_kernel_equals_the_strategy(attention, causal, batched):
    """Softmax and unnormalized are strategies like the others; the field's fused in-place kernel
    computes the same field as the generic strategy path (Σ_k α^k X V_kᵀ, then Π_x)."""
    rng = np.random.default_rng(11)
    heads = random_heads(rng, 3, 2, varying=True)
    beta = np.array([0.5, 2.0]) if batched else 1.4
    fld = AttentionField(heads, n=6, beta=beta, attention=attention, causal=causal)
    X = np.stack([on_manifold(rng, 6, 3) for _ in range(2)]) if batched else on_manifold(rng, 6, 3)
    W = fld._mixer.mix(0.7, X, np.empty_like(X))
    want = W - np.einsum("...ij,...ij->...i", X, W)[..., None] * X
    np.testing.assert_allclose(fld(0.7, X), want, rtol=1e-13, atol=1e-13)


def test_one_sinkhorn_serves_every_model():
    """The sphere field, the Euclidean model and the Gaussian particles share dynamics.attention's
    sinkhorn: the same plan for the same logits, doubly stochastic to the tolerance."""
    from dynamics import euclidean, gaussian
    from dynamics.attention import sinkhorn

    assert gaussian.sinkhorn is sinkhorn
    assert not hasattr(euclidean, "sinkhorn_log")
    L = np.random.default_rng(2).normal(0, 2, (7, 7))
    P, info, v = sinkhorn(L, 1e-12, 1000)
    assert info.converged and np.abs(P.sum(axis=1) - 1).max() <= 1e-12
    np.testing.assert_allclose(P.sum(axis=0), 1.0, atol=1e-13)
    # a warm start from the converged column potentials needs one iteration
    _, again, _ = sinkhorn(L, 1e-12, 1000, v=v)
    assert again.iterations == 1


def test_the_budgets_price_a_kinds_worst_case_from_the_registry():
    """limits.run_cost and the Euclidean budget read a kind's extra work from dynamics.attention
    (a new iterative kind is priced without touching them): Sinkhorn's cost grows by its
    iteration cap × 20 n² per head and evaluation."""
    from dynamics import euclidean as eu
    from dynamics.attention import Sinkhorn
    from dynamics.limits import estimated_evaluations, run_cost

    s = Scenario(
        n=16, d=3, n_heads=2, T=1.0, dt=0.1, integrator="rk4", attention="sinkhorn", sinkhorn_iters=100
    )
    extra = 20.0 * 16 * 16 * 100
    assert Sinkhorn.extra_work(16, {"sinkhorn_iters": 100}) == extra
    grown = run_cost(s.replace(sinkhorn_iters=200)).work - run_cost(s).work
    assert grown == pytest.approx(estimated_evaluations(s) * 2 * extra)
    assert run_cost(s.replace(attention="softmax")).work < run_cost(s).work
    es = eu.EuclideanScenario(n=16, attention="sinkhorn", sinkhorn_iters=100)
    assert eu._evaluation_work(es) - eu._evaluation_work(es.replace(attention="softmax")) == extra
