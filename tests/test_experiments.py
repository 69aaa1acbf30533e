"""The numerical experiments of docs/theory.md ("Experiments": P1-1 … P1-9, P4-1 … P4-7).

Each test follows the table's setup and tolerance; deviations are said in a comment where they
occur. "maxdist" is ``metrics.max_distance`` (max_ij ‖x_i − x_j‖), which centres the tokens before
its Gram identity and so resolves distances far below √ε (tests/test_metrics.py checks it down to
1e-13), as the table's 1e-11 needs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from dynamics import Scenario, simulate
from dynamics.field import AttentionField
from dynamics.matrices import build_heads
from dynamics.metrics import clusters, interaction_energy, max_distance, open_hemisphere
from dynamics.theorems import evaluate


def _m(a) -> list:
    return np.asarray(a, dtype=float).tolist()


def _card(scenario, result, card_id):
    return {c.id: c for c in evaluate(scenario, result)}[card_id]


def _p1_heads(rng: np.random.Generator, h: int = 3, d: int = 3) -> list[dict]:
    """P1-1's heads: Q_k(t) = Q⁰ + 0.8 sin(ω t) Q¹ with ω = 1 + k, K_k likewise with ω = 0.5 + k."""
    heads = []
    for k in range(h):
        q0, q1, k0, k1 = (rng.standard_normal((d, d)) for _ in range(4))
        heads.append(
            {
                "Q": {"const": _m(q0), "sin": _m(0.8 * q1), "omega": 1.0 + k},
                "K": {"const": _m(k0), "sin": _m(0.8 * k1), "omega": 0.5 + k},
            }
        )
    return heads


def _upper(rng: np.random.Generator, n: int, d: int = 3) -> np.ndarray:
    x = rng.standard_normal((n, d))
    x[:, -1] = np.abs(x[:, -1])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ================================================================== paper 1 (sphere)
def test_p1_1_hemisphere_consensus_three_time_varying_heads():
    # Table: T = 60; the claim is "maxdist < 1e-6 by t = 20", so T = 20 tests it (shortened).
    rng = np.random.default_rng(2024)
    heads = _p1_heads(rng)
    s = Scenario(x0=_m(_upper(rng, 20)), heads=heads, integrator="rk4", dt=0.01, T=20.0, frames=21)
    r = simulate(s)
    assert max_distance(r.x[0]) > 1.0
    assert max_distance(r.x[-1]) < 1e-6
    assert _card(s, r, "ast-hemisphere").observed is True


def test_p1_2_hemisphere_margin_never_decreases():
    rng = np.random.default_rng(12)
    heads = []
    for omega in (1.3, 0.7):
        B = rng.standard_normal((3, 3))  # non-symmetric
        heads.append({"Q": _m(np.eye(3)), "K": {"const": _m(B), "sin": _m(0.9 * B), "omega": omega}})
    s = Scenario(x0=_m(_upper(rng, 15)), heads=heads, integrator="rk4", dt=0.01, T=30.0, frames=301)
    r = simulate(s)
    for w in (open_hemisphere(r.x[0]).pole, np.array([0.0, 0.0, 1.0])):
        m = (r.x @ w).min(axis=1)
        assert np.diff(m).min() >= -1e-12
        assert m[-1] > m[0]
    assert _card(s, r, "ast-hemisphere").observed is True


def test_p1_3_causal_everyone_goes_to_the_first_token():
    rng = np.random.default_rng(2024)
    heads = _p1_heads(rng)  # the same heads as P1-1
    x = rng.standard_normal((20, 3))  # uniform on S², no hemisphere
    s = Scenario(x0=_m(x), heads=heads, mask="causal", integrator="rk4", dt=0.01, T=20.0, frames=21)
    r = simulate(s)
    x1 = r.x[0, 0]
    assert np.abs(r.x[:, 0] - x1).max() <= 1e-12  # table: 1e-16
    assert np.linalg.norm(r.x[10] - x1, axis=1).max() < 1e-3  # table: 1.6e-5 at t = 10
    assert np.linalg.norm(r.x[20] - x1, axis=1).max() < 1e-8  # table: 5.6e-12 at t = 20
    assert _card(s, r, "ast-causal-identity").observed is True


def test_p1_4_causal_symmetric_v_goes_to_the_algebraically_largest_eigenvector():
    # The table's U had eigenvalues (−2.35, −0.66, 1.98); our seed search takes the first seed whose
    # sym(N(0,1)) has the same property: top eigenvalue simple, positive, not the largest in modulus.
    for seed in range(100):
        rng = np.random.default_rng(seed)
        G = rng.standard_normal((3, 3))
        U = (G + G.T) / 2
        w, vecs = np.linalg.eigh(U)
        if w[-1] > 0 and abs(w[0]) > w[-1]:
            break
    v1 = vecs[:, -1]
    Q, K = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    x = rng.standard_normal((10, 3))
    x *= np.sign(x @ v1)[:, None]  # reflect into ⟨x, v1⟩ > 0
    s = Scenario(x0=_m(x), heads=({"Q": _m(Q), "K": _m(K), "V": _m(U)},), mask="causal", dt=0.01, T=30.0)
    r = simulate(s)
    # table: 2e-15 by t = 20 with a top gap 2.6; this seed's gap λ₁ − λ₂ ≈ 1.2 is slower: T = 30
    assert np.linalg.norm(r.x[-1] - v1, axis=1).max() < 1e-8
    c = _card(s, r, "ast-causal-symmetric")
    assert c.applies and c.observed is True


def test_p1_5_first_token_follows_the_normalised_linear_flow():
    rng = np.random.default_rng(5)
    d = 4
    U, A = rng.standard_normal((d, d)), rng.standard_normal((d, d))  # non-symmetric
    s = Scenario(
        x0=_m(rng.standard_normal((6, d))),
        heads=({"Q": _m(np.eye(d)), "K": _m(A), "V": _m(U)},),
        mask="causal",
        integrator="rk4",
        dt=1e-3,
        T=3.0,
        frames=31,
    )
    r = simulate(s)
    x1 = r.x[0, 0]
    for t, X in zip(r.t, r.x, strict=True):
        y = expm(t * U) @ x1
        assert np.linalg.norm(X[0] - y / np.linalg.norm(y)) <= 1e-10  # table: 3.4e-14


@pytest.mark.parametrize("integrator", ["rk4", "euler"])
@pytest.mark.parametrize("beta", [1.0, 30.0])  # 30: the field's max-shifted softmax path
def test_p1_6_causal_prefix_is_bitwise_unchanged(integrator, beta):
    # Fixed steps only: adaptive steps are chosen from all tokens, so they are not causal.
    rng = np.random.default_rng(6)
    x = rng.standard_normal((10, 3))
    base = Scenario(
        x0=_m(x), mask="causal", n_heads=2, qk="gaussian", qk_amp=0.5, beta=beta,
        integrator=integrator, dt=0.01, T=3.0, frames=7,
    )  # fmt: skip
    y = x.copy()
    y[4] += 0.3 * rng.standard_normal(3)  # perturb token 5
    a, b = simulate(base), simulate(base.replace(x0=_m(y)))
    assert np.array_equal(a.x[:, :4], b.x[:, :4])
    assert not np.array_equal(a.x[:, 4], b.x[:, 4])


@pytest.mark.parametrize(("mask", "speed"), [("none", 1.0), ("causal", 0.5)])
def test_p1_7_two_tokens_at_beta_zero(mask, speed):
    theta = 2.5
    s = Scenario(
        x0=[[1.0, 0.0], [math.cos(theta), math.sin(theta)]],
        beta=0.0, mask=mask, integrator="rk4", dt=1e-3, T=3.0, frames=31,
    )  # fmt: skip
    r = simulate(s)
    rho = np.einsum("ki,ki->k", r.x[:, 0], r.x[:, 1])
    exact = np.tanh(speed * r.t + np.arctanh(math.cos(theta)))
    assert np.abs(rho - exact).max() <= 1e-10  # table: 1e-12


def _energy_rates(space: str, n: int = 3, configs: int = 200) -> list[float]:
    """dE/dt = Σ_i ⟨∂E/∂x_i, ẋ_i⟩, E = ½Σ e^{⟨x_i, A x_j⟩}, A = R diag(4, 1, 0.2) Rᵀ."""
    rng = np.random.default_rng(8)
    R, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    A = R @ np.diag([4.0, 1.0, 0.2]) @ R.T
    A = (A + A.T) / 2
    extra = {"space": "ellipsoid", "P": _m(A)} if space == "ellipsoid" else {}
    s = Scenario(n=n, d=3, heads=({"Q": _m(np.eye(3)), "K": _m(A)},), **extra)
    fld = AttentionField.from_scenario(s, build_heads(s))
    B = A if space == "ellipsoid" else np.eye(3)
    rates = []
    for _ in range(configs):
        X = rng.standard_normal((n, 3))
        X /= np.sqrt(np.einsum("ij,jk,ik->i", X, B, X))[:, None]
        F = fld(0.0, X)
        W = np.exp(X @ A @ X.T)
        rate = float(np.sum((W @ X @ A) * F))
        if space == "ellipsoid":  # the gradient identity dE/dt = Σ_i Z_i ẋ_iᵀ A ẋ_i
            assert rate == pytest.approx(
                float(np.sum(W.sum(1) * np.einsum("ij,jk,ik->i", F, A, F))), rel=1e-12
            )
        rates.append(rate)
    return rates


def test_p1_8_gradient_energy_is_monotone_on_the_matched_ellipsoid_only():
    # Table: n unspecified, min over 200 configs −0.28 (sphere), +2.35 (ellipsoid). With n = 3:
    sphere, ellipsoid = _energy_rates("sphere"), _energy_rates("ellipsoid")
    assert min(sphere) < 0  # −1.7 here: the energy can decrease on the unit sphere
    assert min(ellipsoid) > 0
    # the card asserts monotonicity only where it is proven
    A = np.diag([4.0, 1.0, 0.2])
    heads = ({"Q": _m(np.eye(3)), "K": _m(A)},)
    on_sphere = Scenario(n=12, heads=heads, T=20.0, seed=3)
    on_ellipsoid = on_sphere.replace(space="ellipsoid", P=_m(A))
    c_s = _card(on_sphere, simulate(on_sphere), "ast-gradient")
    c_e = _card(on_ellipsoid, simulate(on_ellipsoid), "ast-gradient")
    assert c_s.numbers["energy_regime"] == "unproven" and "energy_max_drop" not in c_s.numbers
    assert c_e.numbers["energy_regime"] == "ellipsoid" and c_e.numbers["energy_max_drop"] <= 1e-8


def test_p1_9_antipodal_pair_is_an_unstable_equilibrium():
    x = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    s = Scenario(x0=[x.tolist(), (-x).tolist()], T=60.0, frames=61)
    fld = AttentionField.from_scenario(s, build_heads(s))
    X = np.array([x, -x])
    assert np.abs(fld(0.0, X)).max() <= 1e-15  # table: exact
    r = simulate(s)
    assert max_distance(r.x[-1]) == pytest.approx(2.0, abs=1e-12)  # stays: not consensus
    assert _card(s, r, "ast-hemisphere").applies is False
    # unstable: a perturbation of 1e-3 grows (rate ≈ 0.48 in 1 + ⟨x_1, x_2⟩) and ends in consensus
    y = X.copy()
    y[1, 0] += 1e-3
    r = simulate(s.replace(x0=_m(y)))
    assert max_distance(r.x[-1]) < 1e-9


# ================================================================== paper 4 (SA / USA)
@pytest.mark.parametrize(("attention", "when", "tol"), [("softmax", 30, 1e-10), ("unnormalized", 20, 1e-12)])
def test_p4_1_energy_monotone_and_maximal_at_consensus(attention, when, tol):
    s = Scenario(n=32, d=3, beta=1.0, attention=attention, dt=0.01, T=30.0, frames=31, seed=0)
    r = simulate(s)
    E = interaction_energy(r.x, 1.0)
    assert np.diff(E).min() >= -1e-12
    assert E[-1] == pytest.approx(math.e / 2, abs=1e-9)  # e^β/(2β) = 1.359141
    assert max_distance(r.x[when]) < tol  # table: 2e-11 (SA, t = 30), 4e-15 (USA, t = 20)
    assert _card(s, r, "glpr-sphere-d3").observed is True


@pytest.mark.parametrize("attention", ["softmax", "unnormalized"])
def test_p4_2_energy_identity(attention):
    s = Scenario(n=32, d=3, beta=1.0, attention=attention, T=2.0, frames=5, seed=1)
    fld = AttentionField.from_scenario(s, build_heads(s))
    r = simulate(s)
    n, beta, h = s.n, s.beta, 1e-5
    for X in r.x:
        F = fld(0.0, X)
        dE = (interaction_energy(X + h * F, beta) - interaction_energy(X - h * F, beta)) / (2 * h)
        speed2 = np.einsum("ij,ij->i", F, F)
        if attention == "unnormalized":
            expected = speed2.sum() / n
        else:
            Z = np.exp(beta * X @ X.T).sum(axis=1)
            expected = (Z * speed2).sum() / n**2
        assert dE == pytest.approx(expected, rel=1e-8)  # table: 1e-9 (central differences)


@pytest.mark.parametrize(("attention", "rho_end"), [("softmax", 0.931626), ("unnormalized", 1.0)])
def test_p4_3_equiangular_start_stays_equiangular(attention, rho_end):
    n = 8  # = d: an orthonormal start
    beta = 2.0

    def rhs(t, r):
        rho = r[0]
        if attention == "softmax":
            return [2 * (1 - rho) * ((n - 1) * rho + 1) / (math.exp(beta * (1 - rho)) + n - 1)]
        return [2 / n * math.exp(beta * rho) * (1 - rho) * ((n - 1) * rho + 1)]

    s = Scenario(
        x0=_m(np.eye(n)), beta=beta, attention=attention, integrator="rk4", dt=1e-3, T=3.0, frames=31
    )
    r = simulate(s)
    G = r.x @ np.swapaxes(r.x, 1, 2)
    off = G[:, ~np.eye(n, dtype=bool)]
    assert (off.max(axis=1) - off.min(axis=1)).max() <= 1e-12  # spread 0
    ode = solve_ivp(rhs, (0.0, 3.0), [0.0], t_eval=r.t, method="DOP853", rtol=1e-12, atol=1e-14)
    assert np.abs(off - ode.y[0][:, None]).max() <= 1e-9  # table: 8e-10 (SA), 2e-9 (USA)
    assert ode.y[0][-1] == pytest.approx(rho_end, abs=1e-6)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("beta", [0.5, 2.0, 8.0])
def test_p4_4_hemisphere_exponential_collapse(d, beta):
    s = Scenario(n=16, d=d, beta=beta, init="hemisphere", margin=0.1, T=40.0, frames=41, seed=4)
    r = simulate(s)
    c = _card(s, r, "glpr-cone-collapse")
    assert c.applies and c.observed is True, c.reason
    assert c.numbers.get("decay_rate", c.numbers.get("decay_rate_lower_bound", 0)) > 0.05
    assert max_distance(r.x[-1]) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize(("n", "d"), [(10, 3), (6, 3), (8, 5)])
def test_p4_5_wendel(n, d):
    # Table: 4000 trials; 2000 here (≈ 3 s per case), with a 4σ binomial tolerance.
    trials = 2000
    rng = np.random.default_rng([n, d])
    hits = sum(open_hemisphere(rng.standard_normal((n, d))).contained for _ in range(trials))
    p = sum(math.comb(n - 1, k) for k in range(d)) / 2 ** (n - 1)
    assert abs(hits / trials - p) <= 4 * math.sqrt(p * (1 - p) / trials)


def _counts(r, cos: float = 0.999) -> dict[float, int]:
    eps = math.sqrt(2 * (1 - cos))
    return {round(float(t), 6): int(clusters(x, eps).max()) + 1 for t, x in zip(r.t, r.x, strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_p4_6_metastability_on_the_circle(seed):
    # SA, d = 2, n = 32, projected Euler dt 0.1 (the engine's "euler"), threshold ⟨x_i, x_j⟩ > 0.999.
    # The table's counts 1 / 2 / 3 for β = 1 / 4 / 9 are those of one seed (seed 0 here): seed 1 at
    # β = 9 settles on 2 clusters, seed 2 at β = 4 merges to 1 near t = 160. What holds for every
    # seed tried, at every saved time in [25, 300]: one cluster at β = 1, at least two at β = 9, and
    # more temperature never means more clusters — counts(β = 1) ≤ counts(β = 4) ≤ counts(β = 9).
    counts = {}
    for beta in (1.0, 4.0, 9.0):
        s = Scenario(n=32, d=2, beta=beta, integrator="euler", dt=0.1, T=300.0, frames=61, seed=seed)
        counts[beta] = [c for t, c in _counts(simulate(s)).items() if t >= 25]
    assert all(c == 1 for c in counts[1.0])
    assert all(c >= 2 for c in counts[9.0])
    assert all(a <= b <= c for a, b, c in zip(counts[1.0], counts[4.0], counts[9.0], strict=True))


KINETIC_X0 = [
    [0.99806638, 0.06215705],
    [0.97712061, 0.21268594],
    [-0.24578194, 0.96932515],
    [-0.97354734, 0.2284854],
    [-0.99892629, -0.04632772],
]


@pytest.mark.slow
def test_p4_7_metastable_pair():
    # The table's "2 clusters on [20, 360], merge between 360 and 380" is a fact about kinetic.py's
    # scheme: x ← (x + dt Σ_j α_ij x_j)/‖·‖, Euler on the UN-projected field. That step equals a
    # projected step of size dt/(1 + dt⟨x, Σα x⟩) ≈ dt/1.1 near a cluster, so its clock runs ≈ 10 %
    # slow. The engine's projected Euler and RK4 (the continuous flow) merge near t ≈ 330.
    def merge_time(t, counts):
        assert all(c == 2 for tt, c in zip(t, counts, strict=True) if 20 <= tt <= 320)
        return float(t[np.nonzero(np.asarray(counts) == 1)[0][0]])

    eps = math.sqrt(2 * 0.001)
    for integrator, dt in (("euler", 0.1), ("rk4", 0.05)):
        s = Scenario(x0=KINETIC_X0, beta=4.0, integrator=integrator, dt=dt, T=400.0, frames=41)
        r = simulate(s)
        counts = [int(clusters(x, eps).max()) + 1 for x in r.x]
        assert 320 < merge_time(r.t, counts) <= 340, integrator
    # the authors' un-projected scheme, as in kinetic.py
    z = np.array(KINETIC_X0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    t, counts = [], []
    for step in range(4001):
        if step % 100 == 0:
            t.append(step * 0.1)
            counts.append(int(clusters(z, eps).max()) + 1)
        W = np.exp(4.0 * z @ z.T)
        z = z + 0.1 * (W / W.sum(axis=1, keepdims=True)) @ z
        z /= np.linalg.norm(z, axis=1, keepdims=True)
    assert all(c == 2 for tt, c in zip(t, counts, strict=True) if 20 <= tt <= 360)
    assert 360 < merge_time(t, counts) <= 380
