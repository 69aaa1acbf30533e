"""``simulate``: every integrator checked against invariants, closed forms, measured convergence
orders and theorem predictions of the maths notes (§A.2–A.3, §D.4, §E, §F) — never against the
engine's own earlier output.

References used: scipy's DOP853 at rtol 1e-13 on the field (whose formula tests/test_field.py
checks term by term), closed forms (two tokens at β = 0, the normalized linear flow of the first
causal token, the equiangular ODE), and exact invariants.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import dynamics.field as field_module
from dynamics import (
    BudgetError,
    Consensus,
    Ensemble,
    Limits,
    Scenario,
    ScenarioError,
    simulate,
)
from dynamics import metrics as M
from dynamics.field import AttentionField
from dynamics.initial import initial_tokens
from dynamics.matrices import build_heads
from dynamics.scenario import Head
from dynamics.solve import effective_dt

INTEGRATORS = ("euler", "rk4", "adaptive")

# Step or tolerances per integrator used by the invariant tests (many steps: T/dt ≥ 1000).
SOLVER = {
    "euler": {"integrator": "euler", "dt": 0.01},
    "rk4": {"integrator": "rk4", "dt": 0.01},
    "adaptive": {"integrator": "adaptive", "rtol": 1e-10, "atol": 1e-12},
}


def eye(d: int) -> list[list[float]]:
    return np.eye(d).tolist()


def gaussian_heads(rng, d, count, *, identity_v=False, amp=0.8):
    """Heads with time-varying, non-symmetric QᵀK(t) (and V unless identity_v)."""
    heads = []
    for k in range(count):
        q = rng.standard_normal((d, d))
        k0 = rng.standard_normal((d, d))
        k1 = amp * rng.standard_normal((d, d))
        v = np.eye(d) if identity_v else rng.standard_normal((d, d)) / np.sqrt(d)
        heads.append(
            {
                "Q": q.tolist(),
                "K": {"const": k0.tolist(), "sin": k1.tolist(), "omega": 1.0 + k, "phase": 0.3 * k},
                "V": v.tolist(),
            }
        )
    return heads


def reference_solution(scenario: Scenario, t_eval=None) -> np.ndarray:
    """DOP853 at rtol 1e-13 on the scenario's field, straight from scipy (no dynamics.solve)."""
    fld = AttentionField.from_scenario(scenario, build_heads(scenario))
    x0 = initial_tokens(scenario)
    t_eval = [scenario.T] if t_eval is None else t_eval
    sol = solve_ivp(
        lambda t, y: fld(t, y.reshape(x0.shape).copy()).ravel(),
        (0.0, scenario.T),
        x0.ravel(),
        method="DOP853",
        rtol=1e-13,
        atol=1e-15,
        t_eval=t_eval,
    )
    assert sol.success
    return sol.y.T.reshape(len(t_eval), *x0.shape)


def manifold_residual(x: np.ndarray, P: np.ndarray | None = None) -> float:
    q = np.einsum("...i,...i->...", x, x) if P is None else np.einsum("...i,ij,...j->...", x, P, x)
    return float(np.abs(q - 1).max())


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# ====================================================================== invariants (§F)


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("space", ["sphere", "ellipsoid"])
def test_tokens_stay_on_the_manifold(integrator, space):
    """§F.1: ‖x_i‖ = 1 (xᵀPx = 1 on the ellipsoid) to 1e-12 after 2000 steps, with a general
    non-symmetric time-varying multi-head field that pushes tokens off the manifold."""
    rng = np.random.default_rng(1)
    d = 4
    P = None
    extra = {}
    if space == "ellipsoid":
        R = random_rotation(rng, d)
        P = (R * np.array([5.0, 1.0, 0.5, 0.2])) @ R.T
        P = (P + P.T) / 2
        extra = {"space": "ellipsoid", "P": P.tolist()}
    s = Scenario(
        n=12,
        d=d,
        heads=gaussian_heads(rng, d, 2),
        beta=1.5,
        T=20.0,
        frames=201,
        seed=2,
        **extra,
        **SOLVER[integrator],
    )
    r = simulate(s)
    assert r.status == 0, r.message
    assert r.x.shape == (201, 12, d)
    assert manifold_residual(r.x, P) <= 1e-12
    assert np.abs(r.x[-1] - r.x[0]).max() > 0.1  # they did move


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_permutation_equivariance_without_mask(integrator):
    """Permuting x0 permutes the whole trajectory (full attention, §F.4)."""
    rng = np.random.default_rng(3)
    n, d = 10, 3
    base = Scenario(n=n, d=d, heads=gaussian_heads(rng, d, 2), beta=1.5, T=5.0, seed=4, **SOLVER[integrator])
    x0 = initial_tokens(base)
    perm = rng.permutation(n)
    a = simulate(base.replace(x0=x0.tolist()))
    b = simulate(base.replace(x0=x0[perm].tolist()))
    np.testing.assert_allclose(b.x, a.x[:, perm], rtol=0, atol=1e-12)


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_rotation_equivariance(integrator):
    """§F.4: rotating x0 by R and conjugating Q, K, V (A ↦ RAR^T, V ↦ RVR^T) rotates the
    trajectory."""
    rng = np.random.default_rng(6)
    n, d = 9, 3
    heads = gaussian_heads(rng, d, 2)
    R = random_rotation(rng, d)

    def rot(m):
        if isinstance(m, dict):
            return {
                **m,
                "const": (np.array(m["const"]) @ R.T).tolist(),
                "sin": (np.array(m["sin"]) @ R.T).tolist(),
            }
        return (np.array(m) @ R.T).tolist()

    rotated = [
        {"Q": rot(h["Q"]), "K": rot(h["K"]), "V": (R @ np.array(h["V"]) @ R.T).tolist()} for h in heads
    ]
    base = Scenario(n=n, d=d, heads=heads, beta=1.2, T=5.0, seed=1, **SOLVER[integrator])
    x0 = initial_tokens(base)
    a = simulate(base.replace(x0=x0.tolist()))
    b = simulate(base.replace(x0=(x0 @ R.T).tolist(), heads=rotated))
    # the adaptive error norm is componentwise, hence not rotation invariant: the two runs take
    # different steps and agree to the solver tolerance (rtol 1e-10), not to roundoff
    tol = 1e-12 if integrator != "adaptive" else 100 * SOLVER["adaptive"]["rtol"]
    np.testing.assert_allclose(b.x, a.x @ R.T, rtol=0, atol=tol)


@pytest.mark.parametrize(
    ("integrator", "dtype"),
    [
        ("euler", "float64"),
        ("rk4", "float64"),
        ("adaptive", "float64"),
        ("euler", "float32"),
        ("rk4", "float32"),
    ],
)
def test_causal_prefix_is_untouched_by_later_tokens(integrator, dtype):
    """§E P1-6 / §F.3: token i depends only on tokens ≤ i. Perturbing token 5 of 10 leaves tokens
    1..4 bitwise unchanged (fixed steps). The adaptive step control sees the whole state, so
    there the prefix agrees to the solver tolerance only."""
    rng = np.random.default_rng(7)
    n, d = 10, 3
    base = Scenario(
        n=n,
        d=d,
        mask="causal",
        heads=gaussian_heads(rng, d, 2),
        beta=2.0,
        T=10.0,
        seed=5,
        dtype=dtype,
        **SOLVER[integrator],
    )
    x0 = initial_tokens(base)
    x0b = x0.copy()
    x0b[4] = x0b[4] + 0.3 * rng.standard_normal(d)
    a = simulate(base.replace(x0=x0.tolist()))
    b = simulate(base.replace(x0=x0b.tolist()))
    assert np.abs(a.x[:, 4:] - b.x[:, 4:]).max() > 1e-2  # the perturbation did matter
    if integrator == "adaptive":
        np.testing.assert_allclose(b.x[:, :4], a.x[:, :4], rtol=0, atol=100 * SOLVER["adaptive"]["rtol"])
    else:
        assert np.array_equal(a.x[:, :4], b.x[:, :4])


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_first_token_is_fixed_under_causal_mask(integrator):
    """Thm C / §F.3: V = I under a causal mask: token 1 never moves, even with three time-varying
    heads, and (Thm C) every other token converges to it."""
    rng = np.random.default_rng(8)
    s = Scenario(
        n=9,
        d=3,
        mask="causal",
        heads=gaussian_heads(rng, 3, 3, identity_v=True),
        beta=2.0,
        T=20.0,
        frames=201,
        seed=4,
        **SOLVER[integrator],
    )
    r = simulate(s)
    assert r.status == 0
    x1 = initial_tokens(s)[0]
    # fixed steps: Π_x(x) is 0 to roundoff and the retraction restores x bit for bit; the adaptive
    # solver integrates in the ambient space (retracting only saved frames), where the purely
    # radial ẋ₁ = (1 − ‖x₁‖²)x₁ still leaves a few ulps of drift
    assert np.abs(r.x[:, 0] - x1).max() <= (1e-15 if integrator != "adaptive" else 1e-13)
    # Thm C: all → x₁(0)
    assert M.distance_to_first(r.x[-1]).max() < 1e-6


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_consensus_is_an_equilibrium(integrator):
    """§F.7: all tokens at one point, V = I, any time-varying A: nothing moves."""
    rng = np.random.default_rng(10)
    d, n = 3, 6
    p = rng.standard_normal(d)
    s = Scenario(
        x0=np.tile(p, (n, 1)).tolist(),
        heads=gaussian_heads(rng, d, 2, identity_v=True),
        beta=3.0,
        T=10.0,
        **SOLVER[integrator],
    )
    r = simulate(s)
    assert np.abs(r.x - r.x[0]).max() <= 1e-14


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("attention", ["softmax", "unnormalized"])
def test_two_antipodal_tokens_stay_put(integrator, attention):
    """§E P1-9: x, −x with V = I is a (non-consensus) equilibrium: velocity 0, nothing moves.

    It is unstable: the roundoff of the field (≈1e-16, FMA makes F(−X) ≠ −F(X)
    bitwise) grows like e^{2t}. Fixed steps round such tiny increments away (x + h·1e-17 = x); the
    adaptive solver accumulates them (USA here: rate ≈ 6), so it is checked on a short horizon."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(3)
    T = 10.0 if integrator != "adaptive" else 1.0
    s = Scenario(
        x0=[x.tolist(), (-x).tolist()],
        heads=gaussian_heads(rng, 3, 2, identity_v=True),
        beta=1.0,
        attention=attention,
        T=T,
        **SOLVER[integrator],
    )
    r = simulate(s)
    assert np.abs(r.x - r.x[0]).max() <= (1e-14 if integrator != "adaptive" else 1e-11)


# ====================================================================== convergence orders


ORDER_CASES = {
    # causal, two heads with time-varying non-symmetric QᵀK(t), Gaussian V: every term of the field
    "sphere": dict(
        n=8,
        d=3,
        value="gaussian",
        qk="gaussian",
        qk_amp=0.5,
        n_heads=2,
        mask="causal",
        beta=1.0,
        T=2.0,
        seed=1,
        frames=2,
    ),
    "ellipsoid": dict(
        n=6,
        d=3,
        space="ellipsoid",
        P=np.diag([4.0, 1.0, 0.2]).tolist(),
        value="gaussian",
        qk="gaussian",
        beta=1.0,
        T=2.0,
        seed=1,
        frames=2,
    ),
}


def _slope(dts, errs):
    return float(np.polyfit(np.log(dts), np.log(errs), 1)[0])


@pytest.mark.parametrize("case", sorted(ORDER_CASES))
@pytest.mark.parametrize(
    ("integrator", "dts", "band"),
    [
        ("euler", [0.02, 0.01, 0.005, 0.0025, 0.00125], (0.85, 1.2)),
        ("rk4", [0.2, 0.1, 0.05, 0.025, 0.0125], (3.6, 4.5)),
    ],
)
def test_measured_convergence_order(case, integrator, dts, band):
    """Error at T against DOP853 (rtol 1e-13) for halving dt: log-log slope = the method's order.
    dt ranges are in the asymptotic regime and all errors ≫ roundoff (RK4's smallest ≈ 3e-12)."""
    base = Scenario(integrator=integrator, **ORDER_CASES[case])
    reference = reference_solution(base)[-1]
    errs = []
    for dt in dts:
        r = simulate(base.replace(dt=dt))
        assert r.step_size == pytest.approx(dt)
        errs.append(float(np.abs(r.x[-1] - reference).max()))
    assert min(errs) > 1e-12  # above roundoff: the slope measures truncation error
    slope = _slope(dts, errs)
    assert band[0] <= slope <= band[1], (slope, errs)
    # each halving reduces the error by about 2^order (no pre-asymptotic wiggle)
    local = np.diff(np.log(errs)) / np.diff(np.log(dts))
    assert np.all((local > band[0]) & (local < band[1])), local


@pytest.mark.parametrize("case", sorted(ORDER_CASES))
def test_adaptive_error_follows_rtol(case):
    """Adaptive DOP853: the error against the tight reference decreases as rtol decreases and stays
    within 100×rtol."""
    base = Scenario(integrator="adaptive", **ORDER_CASES[case])
    reference = reference_solution(base)[-1]
    errs = []
    for rtol in (1e-4, 1e-6, 1e-8, 1e-10):
        r = simulate(base.replace(rtol=rtol, atol=rtol * 1e-3))
        assert r.status == 0
        err = float(np.abs(r.x[-1] - reference).max())
        assert err <= 100 * rtol, (rtol, err)
        errs.append(err)
    assert all(b < a for a, b in itertools.pairwise(errs)), errs


# ====================================================================== closed forms


TWO_TOKEN_TOL = {  # tolerance fitting each method's order at the given step
    "euler": ({"integrator": "euler", "dt": 1e-4}, 2e-4),  # O(dt)
    "rk4": ({"integrator": "rk4", "dt": 1e-3}, 1e-9),  # O(dt⁴) ≈ 1e-12
    "adaptive": ({"integrator": "adaptive", "rtol": 1e-11, "atol": 1e-13}, 1e-9),
}


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("mask", ["none", "causal"])
@pytest.mark.parametrize("how", ["beta=0", "Q=K=0"])
def test_two_tokens_on_the_circle_closed_form(integrator, mask, how):
    """§E P1-7: d = 2, V = I, uniform attention (β = 0, or Q = K = 0): ρ = ⟨x₁, x₂⟩ obeys
    ρ' = 1 − ρ² (full) or ρ' = (1 − ρ²)/2 (causal), i.e. ρ(t) = tanh(t + artanh ρ₀) and
    tanh(t/2 + artanh ρ₀)."""
    theta0 = 2.5
    rho0 = math.cos(theta0)
    x0 = [[1.0, 0.0], [math.cos(theta0), math.sin(theta0)]]
    extra: dict = (
        {"beta": 0.0}
        if how == "beta=0"
        else {"beta": 1.0, "heads": [{"Q": np.zeros((2, 2)).tolist(), "K": np.zeros((2, 2)).tolist()}]}
    )
    opts, tol = TWO_TOKEN_TOL[integrator]
    r = simulate(Scenario(x0=x0, mask=mask, T=3.0, frames=31, **extra, **opts))
    assert r.status == 0
    rho = np.einsum("ki,ki->k", r.x[:, 0], r.x[:, 1])
    rate = 1.0 if mask == "none" else 0.5
    expected = np.tanh(rate * r.t + np.arctanh(rho0))
    assert np.abs(rho - expected).max() <= tol
    if mask == "causal":
        assert np.abs(r.x[:, 0] - [1.0, 0.0]).max() == 0.0


@pytest.mark.parametrize(
    ("integrator", "opts", "tol"),
    [
        ("rk4", {"dt": 1e-3}, 1e-10),
        ("adaptive", {"rtol": 1e-11, "atol": 1e-13}, 1e-9),
        ("euler", {"dt": 1e-4}, 1e-2),  # first order: O(dt · T · |V|²)
    ],
)
def test_first_token_follows_the_normalized_linear_flow(integrator, opts, tol):
    """§E P1-5: causal, any V (non-symmetric Gaussian), any A: x₁(t) = e^{tV}x₁(0)/‖e^{tV}x₁(0)‖."""
    rng = np.random.default_rng(15)
    d, n = 4, 6
    V = rng.standard_normal((d, d))
    heads = [
        {
            "Q": rng.standard_normal((d, d)).tolist(),
            "K": rng.standard_normal((d, d)).tolist(),
            "V": V.tolist(),
        }
    ]
    s = Scenario(
        n=n,
        d=d,
        mask="causal",
        heads=heads,
        beta=1.0,
        T=3.0,
        frames=31,
        seed=2,
        integrator=integrator,
        **opts,
    )
    r = simulate(s)
    assert r.status == 0
    x1 = initial_tokens(s)[0]
    for t, x in zip(r.t, r.x[:, 0], strict=True):
        y = expm(t * V) @ x1
        assert np.abs(x - y / np.linalg.norm(y)).max() <= tol


def _equiangular_rho(kind: str, n: int, beta: float, t_eval: np.ndarray) -> np.ndarray:
    """ρ(t) of §D.4 with ρ(0) = 0, by scipy's DOP853 at rtol 1e-13."""

    def rhs(t, r):
        rho = r[0]
        if kind == "softmax":
            return [2 * (1 - rho) * ((n - 1) * rho + 1) / (math.exp(beta * (1 - rho)) + n - 1)]
        return [2 / n * math.exp(beta * rho) * (1 - rho) * ((n - 1) * rho + 1)]

    sol = solve_ivp(rhs, (0, t_eval[-1]), [0.0], method="DOP853", rtol=1e-13, atol=1e-15, t_eval=t_eval)
    return sol.y[0]


@pytest.mark.parametrize("attention", ["softmax", "unnormalized"])
@pytest.mark.parametrize(
    ("integrator", "opts", "tol"),
    [
        ("rk4", {"dt": 1e-3}, 1e-8),
        ("adaptive", {"rtol": 1e-11, "atol": 1e-13}, 1e-8),
        ("euler", {"dt": 1e-3}, 2e-3),  # O(dt)
    ],
)
def test_equiangular_configuration_follows_the_scalar_ode(attention, integrator, opts, tol):
    """§E P4-3: n = d = 8 orthonormal start, β = 2, Q = K = V = I: all off-diagonal ⟨x_i, x_j⟩ stay
    equal to ρ(t), the solution of the SA (resp. USA) ODE of §D.4."""
    n = 8
    s = Scenario(
        x0=np.eye(n).tolist(), beta=2.0, attention=attention, T=3.0, frames=31, integrator=integrator, **opts
    )
    r = simulate(s)
    assert r.status == 0
    rho = _equiangular_rho(attention, n, 2.0, r.t)
    off = ~np.eye(n, dtype=bool)
    for k in range(len(r.t)):
        G = r.x[k] @ r.x[k].T
        assert np.abs(G[off] - rho[k]).max() <= tol
    if attention == "softmax" and integrator != "euler":
        assert rho[-1] == pytest.approx(0.931626, abs=1e-6)  # the value quoted in §E P4-3


# ====================================================================== theorem predictions


def _hemisphere_heads():
    """§E P1-2: two heads, non-symmetric A_k(t) = B_k (1 + 0.9 sin ω_k t), ω = (1.3, 0.7), V = I."""
    rng = np.random.default_rng(0)
    heads = []
    for omega in (1.3, 0.7):
        B = rng.standard_normal((3, 3))
        heads.append({"Q": eye(3), "K": {"const": B.tolist(), "sin": (0.9 * B).tolist(), "omega": omega}})
    return heads


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_hemisphere_theorem(integrator):
    """Thm B (§E P1-1/P1-2): tokens in the open upper hemisphere, V = I, time-varying heads:
    m(t) = min_i ⟨x_i, e₃⟩ is non-decreasing (checked at every step, to −1e-12) and the tokens
    reach consensus. The adaptive run is asked for rtol 1e-12: a check to 1e-12 needs a solution
    accurate beyond it (at rtol 1e-10 the saved states are only good to ~1e-11)."""
    solver = (
        SOLVER[integrator]
        if integrator != "adaptive"
        else {**SOLVER[integrator], "rtol": 1e-12, "atol": 1e-14}
    )
    s = Scenario(
        n=15,
        d=3,
        heads=_hemisphere_heads(),
        init="hemisphere",
        margin=0.05,
        T=30.0,
        frames=3001,
        seed=1,
        **solver,
    )
    r = simulate(s)
    assert r.status == 0
    m = r.x[..., 2].min(axis=1)
    assert m[0] > 0
    assert np.diff(m).min() >= -1e-12
    assert m[-1] > m[0] + 0.5
    assert M.max_distance(r.x[2000]) < 1e-6  # consensus by t = 20 (§E P1-1)
    assert M.open_hemisphere(r.x[0]).contained


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_causal_symmetric_value_theorem(integrator):
    """Thm D (§E P1-4): causal, one head, V symmetric with a simple algebraically largest
    eigenvalue (not the largest in modulus); tokens in the half-space of its eigenvector v:
    all tokens → v."""
    s = Scenario(
        n=10,
        d=3,
        mask="causal",
        value="spectrum",
        v_eigs=(1.98, -0.66, -2.35),
        v_basis="identity",
        init="hemisphere",
        pole=(1.0, 0.0, 0.0),
        margin=0.05,
        qk="gaussian",
        beta=1.0,
        T=20.0,
        frames=21,
        seed=5,
        **SOLVER[integrator],
    )
    r = simulate(s)
    assert r.status == 0
    assert np.abs(r.x[-1] - [1.0, 0.0, 0.0]).max() < 1e-8


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("attention", ["softmax", "unnormalized"])
def test_interaction_energy_increases_to_its_maximum(integrator, attention):
    """§E P4-1: SA and USA with Q = K = V = I, n = 32, d = 3, β = 1: E_β(t) non-decreasing (every
    step) and → e^β/(2β) = 1.359141 (consensus, Thm 6.1)."""
    s = Scenario(n=32, d=3, beta=1.0, attention=attention, T=30.0, frames=3001, seed=3, **SOLVER[integrator])
    r = simulate(s)
    assert r.status == 0
    E = M.interaction_energy(r.x, 1.0)
    assert np.diff(E).min() >= -1e-12
    assert E[-1] == pytest.approx(math.e / 2, rel=1e-9)
    assert E[0] < 0.9 * math.e / 2


# ====================================================================== safe numerics


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("mask", ["none", "causal"])
def test_huge_beta_softmax_runs_finite(integrator, mask):
    """β = 1e4 (near hardmax): finite output on the sphere, no RuntimeWarning, status 0."""
    rng = np.random.default_rng(17)
    s = Scenario(
        n=16,
        d=3,
        beta=1e4,
        mask=mask,
        heads=gaussian_heads(rng, 3, 2, identity_v=True, amp=0.3),
        T=1.0,
        seed=3,
        integrator=integrator,
        dt=0.01,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = simulate(s)
    assert r.status == 0, r.message
    assert np.all(np.isfinite(r.x))
    assert manifold_residual(r.x) <= 1e-12


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_float32_runs_stay_float32_and_agree_with_float64(integrator):
    rng = np.random.default_rng(18)
    s = Scenario(
        n=16,
        d=3,
        heads=gaussian_heads(rng, 3, 2),
        beta=1.0,
        mask="causal",
        T=5.0,
        seed=3,
        **SOLVER[integrator],
    )
    if integrator == "adaptive":  # float32 fields are accurate to ~1e-7: no tighter rtol
        s = s.replace(rtol=1e-6, atol=1e-8)
    r64 = simulate(s)
    r32 = simulate(s.replace(dtype="float32"))
    assert r32.x.dtype == np.float32 and r64.x.dtype == np.float64
    assert r32.status == 0
    np.testing.assert_allclose(r32.x, r64.x, rtol=0, atol=1e-4)
    assert manifold_residual(r32.x.astype(np.float64)) <= 1e-6


@pytest.mark.parametrize(
    ("integrator", "beta", "dt"),
    [("euler", 400.0, 0.1), ("rk4", 30.0, 1.0)],
)
def test_blow_up_is_a_status_not_an_exception(integrator, beta, dt):
    """USA at large β with a far too large step overflows the state: status −1, a message, the
    frames up to the failure, no exception and no warning."""
    s = Scenario(n=6, d=3, attention="unnormalized", beta=beta, integrator=integrator, dt=dt, T=10.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = simulate(s)
    assert r.status == -1
    assert not r.success
    assert "non-finite" in r.message
    assert r.t.shape[0] == r.x.shape[0] < 101
    assert np.all(np.isfinite(r.x[0]))
    assert not np.all(np.isfinite(r.x[-1]))


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_nan_field_is_reported_as_failure(integrator, monkeypatch):
    """Whatever makes the field non-finite (here: a patched field that returns NaN after t = 1), the
    run reports status −1 instead of raising."""
    original = field_module.AttentionField.__call__

    def poisoned(self, t, X):
        v = original(self, t, X)
        return v * np.nan if t > 1.0 else v

    monkeypatch.setattr(field_module.AttentionField, "__call__", poisoned)
    if hasattr(field_module.AttentionField, "evaluate_into"):
        original_into = field_module.AttentionField.evaluate_into

        def poisoned_into(self, t, X, out):
            res = original_into(self, t, X, out)
            if t > 1.0:
                out *= np.nan
            return res

        monkeypatch.setattr(field_module.AttentionField, "evaluate_into", poisoned_into)
    r = simulate(Scenario(n=5, T=3.0, **SOLVER[integrator]))
    assert r.status == -1
    assert r.message
    assert r.t[-1] <= 1.1


# ====================================================================== limits


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"n": 5000}, "n"),
        ({"d": 3000, "n": 4}, "d"),
        ({"n_heads": 100}, "n_heads"),
        ({"T": 1e5, "dt": 1e-6}, "dt"),
        ({"n": 4096, "d": 1024, "T": 1000.0, "dt": 0.01}, "work"),
        ({"frames": 50_000}, "frames"),
        ({"n": 4096, "d": 2048, "frames": 20_000, "T": 1.0, "integrator": "adaptive"}, "frames"),
    ],
)
def test_over_budget_is_refused_before_running(kwargs, key):
    s = Scenario(**kwargs)
    start = time.perf_counter()
    with pytest.raises(BudgetError, match=key) as info:
        simulate(s)
    assert time.perf_counter() - start < 1.0  # refused up front, nothing was integrated
    assert isinstance(info.value, ScenarioError)
    assert "\n" not in str(info.value)


def test_custom_limits_are_applied():
    s = Scenario(n=11, T=1.0)
    with pytest.raises(BudgetError, match="n"):
        simulate(s, limits=Limits(max_n=10))
    assert simulate(s.replace(n=10), limits=Limits(max_n=10)).status == 0
    with pytest.raises(BudgetError, match="systems"):
        simulate(s, ensemble=Ensemble(seeds=tuple(range(5))), limits=Limits(max_systems=4))
    with pytest.raises(BudgetError):
        simulate(s, limits=Limits(max_steps=10))


def test_adaptive_work_budget_abort_returns_failure():
    """The adaptive step count is not known in advance: the budget is enforced while running."""
    from dynamics.limits import work_per_evaluation

    s = Scenario(n=10, integrator="adaptive", T=10.0, dt=10.0, rtol=1e-12, atol=1e-15, seed=1)
    limits = Limits(max_work=100 * work_per_evaluation(10, 3, 1))
    r = simulate(s, limits=limits)
    assert r.status == -1
    assert "budget" in r.message
    assert r.evaluations <= 101


# ====================================================================== stop, progress, cancel


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_consensus_stop_event(integrator):
    s = Scenario(n=16, d=3, T=30.0, frames=301, seed=2, **SOLVER[integrator])
    tol = 1e-4
    r = simulate(s, stop=Consensus(tol))
    assert r.status == 1 and r.success
    assert r.t[-1] < s.T
    assert len(r.t) == len(r.x)
    assert Consensus(tol).distance(r.x[-1]) <= tol * (1 + 1e-9)
    assert np.all([Consensus(tol).distance(x) >= tol for x in r.x[:-1]])
    full = simulate(s)
    assert full.status == 0 and full.t[-1] == s.T


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_consensus_stop_event_with_tight_tolerance(integrator):
    """Consensus(1e-10) must be reachable: the distance has no √ε ≈ 1.5e-8 floor."""
    s = Scenario(n=8, d=3, T=40.0, frames=401, seed=2, **SOLVER[integrator])
    r = simulate(s, stop=Consensus(1e-10))
    assert r.status == 1
    assert r.t[-1] < 40.0


@pytest.mark.parametrize("angle", [1.0, 1e-4, 1e-7, 1e-10, 1e-13])
def test_consensus_distance_is_accurate_near_zero(angle):
    """Consensus.distance = max chord 2 sin(θ/2), to roundoff of the input even for θ → 0."""
    rng = np.random.default_rng(3)
    p = rng.standard_normal(3)
    p /= np.linalg.norm(p)
    q = rng.standard_normal(3)
    q -= (q @ p) * p
    q /= np.linalg.norm(q)
    X = np.stack([math.cos(a) * p + math.sin(a) * q for a in np.linspace(0, angle, 7)])
    assert Consensus(1.0).distance(X) == pytest.approx(2 * math.sin(angle / 2), rel=1e-6, abs=1e-15)
    Xb = np.stack([X, X[::-1]])  # an ensemble (B, n, d): the max over systems
    assert Consensus(1.0).distance(Xb) == pytest.approx(2 * math.sin(angle / 2), rel=1e-6, abs=1e-15)


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize(("n", "T", "frames"), [(8, 5.0, 51), (16, 30.0, 301)])
def test_progress_fractions_increase_to_one(integrator, n, T, frames):
    s = Scenario(n=n, d=3, T=T, frames=frames, seed=2, **SOLVER[integrator])
    seen: list = []
    r = simulate(s, progress=seen.append)
    assert r.status == 0
    assert all(type(f) is float for f in seen)  # plain floats, so `f < x` gives a plain bool
    assert seen[-1] == 1.0
    assert all(0 < f <= 1 for f in seen)
    assert np.all(np.diff(seen) > 0), seen  # strictly: 1.0 is reported once


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_progress_returning_false_cancels(integrator):
    s = Scenario(n=8, d=3, T=5.0, frames=51, seed=2, **SOLVER[integrator])
    calls: list[float] = []

    def progress(f):
        calls.append(f)
        return f < 0.3

    r = simulate(s, progress=progress)
    assert r.status == 2 and not r.success
    assert r.message == "cancelled"
    assert calls[-1] >= 0.3 and all(f < 0.3 for f in calls[:-1])  # stopped at the first refusal
    assert len(r.t) == len(r.x) and r.t[-1] < s.T


# ====================================================================== ensembles


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_ensemble_of_seeds_equals_single_runs(integrator):
    """Ensemble(seeds): x is (K, B, n, d), system b is the single run with seed b (Q = K = V = I,
    so the weights do not depend on the seed)."""
    seeds = (3, 4, 5)
    s = Scenario(n=10, d=3, T=3.0, beta=2.0, mask="causal", seed=0, **SOLVER[integrator])
    r = simulate(s, ensemble=Ensemble(seeds=seeds))
    assert r.x.shape == (101, 3, 10, 3)
    tol = 1e-12 if integrator != "adaptive" else 1e-8
    for b, seed in enumerate(seeds):
        single = simulate(s.replace(seed=seed))
        np.testing.assert_allclose(r.x[:, b], single.x, rtol=0, atol=tol)


@pytest.mark.parametrize("integrator", ["euler", "rk4"])
def test_ensemble_of_seeds_keeps_the_base_weights(integrator):
    """With generated random weights, an ensemble redraws the tokens only (documented): system b is
    the single run with seed b's tokens and the base scenario's heads."""
    seeds = (3, 4)
    s = Scenario(
        n=8, d=3, T=3.0, qk="gaussian", value="gaussian", n_heads=2, qk_amp=0.5, seed=0, **SOLVER[integrator]
    )
    r = simulate(s, ensemble=Ensemble(seeds=seeds))
    heads = build_heads(s)
    for b, seed in enumerate(seeds):
        x0 = initial_tokens(s.replace(seed=seed))
        single = simulate(s.replace(x0=x0.tolist(), heads=heads))
        np.testing.assert_allclose(r.x[:, b], single.x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_ensemble_of_betas_equals_single_runs(integrator):
    """System b of a β-ensemble is the single run with β_b. Adaptive: the step control of the
    ensemble is an RMS over all systems, so the stiff β = 80 system gets ~2× the single run's
    local error per step; rtol 1e-12 keeps both runs well inside the 1e-8 compared."""
    betas = (0.0, 1.0, 7.5, 80.0)
    rng = np.random.default_rng(21)
    solver = (
        SOLVER[integrator]
        if integrator != "adaptive"
        else {**SOLVER[integrator], "rtol": 1e-12, "atol": 1e-14}
    )
    s = Scenario(n=10, d=3, T=3.0, heads=gaussian_heads(rng, 3, 2), seed=2, **solver)
    r = simulate(s, ensemble=Ensemble(betas=betas))
    assert r.x.shape == (101, 4, 10, 3)
    tol = 1e-12 if integrator != "adaptive" else 1e-8
    for b, beta in enumerate(betas):
        np.testing.assert_allclose(r.x[:, b], simulate(s.replace(beta=beta)).x, rtol=0, atol=tol)


def test_ensemble_of_seeds_and_betas():
    s = Scenario(n=6, d=3, T=2.0, seed=0)
    r = simulate(s, ensemble=Ensemble(seeds=(1, 2), betas=(0.5, 4.0)))
    for b, (seed, beta) in enumerate(((1, 0.5), (2, 4.0))):
        np.testing.assert_allclose(r.x[:, b], simulate(s.replace(seed=seed, beta=beta)).x, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "ensemble",
    [
        Ensemble(),
        Ensemble(seeds=()),
        Ensemble(seeds=(1, 2), betas=(1.0,)),
        Ensemble(betas=(-1.0,)),
        Ensemble(betas=(float("nan"),)),
    ],
)
def test_invalid_ensembles_are_refused(ensemble):
    with pytest.raises(ScenarioError, match="ensemble"):
        simulate(Scenario(n=4, T=1.0), ensemble=ensemble)


# ====================================================================== result object


@settings(max_examples=25, deadline=None)
@given(
    T=st.just(0.0) | st.floats(1e-9, 3.0),
    frames=st.integers(2, 40),
    dt=st.floats(0.01, 0.5),
    integrator=st.sampled_from(INTEGRATORS),
)
def test_saved_times_and_shapes(T, frames, dt, integrator):
    """t = linspace(0, T, frames) exactly, x (K, n, d); fixed steps are equal and ≤ dt."""
    s = Scenario(n=5, d=3, T=T, frames=frames, dt=dt, integrator=integrator, seed=1)
    r = simulate(s)
    assert r.status == 0
    np.testing.assert_array_equal(r.t, np.linspace(0, T, frames))
    assert r.t[-1] == T
    assert r.x.shape == (frames, 5, 3)
    np.testing.assert_allclose(r.x[0], initial_tokens(s), rtol=0, atol=1e-15)
    if integrator != "adaptive" and T > 0:
        assert r.step_size <= dt * (1 + 1e-9)  # steps_per_interval: dt to a relative 1e-9
    assert not r.x.flags.writeable and not r.t.flags.writeable


# ====================================================================== issue 10: no silent errors

# The repelling case of issue 10: V = −I, so ⟨x, w⟩ < 0 and the tangent form w − (xᵀPw)x makes the
# manifold unstable in the ambient space (drift ∝ e^{2t}).
REPELLING = {
    "x0": [[1, 0.1, 0], [0.9, 0.3, 0.1], [0.8, -0.2, 0.3], [1, 0, -0.2]],
    "heads": [{"Q": eye(3), "K": eye(3), "V": (-np.eye(3)).tolist()}],
    "T": 30.0,
    "frames": 7,
}
ELLIPSOID_P = [[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]]
KINDS = ("softmax", "unnormalized", "l2", "sinkhorn", "sigmoid")


@pytest.mark.parametrize("space", ["sphere", "ellipsoid"])
@pytest.mark.parametrize("attention", KINDS)
def test_adaptive_is_accurate_when_attention_repels(attention, space):
    """Issue 10 defect 1: with V = −I the adaptive solvers agree with RK4 (dt 0.01, itself accurate
    to ~1e-11 here) to 1e-8 for every attention kind, on the sphere and an ellipsoid. Before the fix
    DOP853 was off by 6.6e-3, RK45 by 6.6e-2, and L² failed near t ≈ 15, all with status 0."""
    extra = {} if space == "sphere" else {"space": "ellipsoid", "P": ELLIPSOID_P}
    base = Scenario(**REPELLING, **extra, attention=attention)
    ref = simulate(base.replace(integrator="rk4", dt=0.01))
    assert ref.status == 0
    for method in ("DOP853", "RK45"):
        r = simulate(base.replace(integrator="adaptive", method=method, rtol=1e-10, atol=1e-12))
        assert r.status == 0 and r.success, r.message
        assert np.abs(r.x - ref.x).max() <= 1e-8, (method, np.abs(r.x - ref.x).max())
        assert r.max_deviation <= 1e-9


@pytest.mark.parametrize("space", ["sphere", "ellipsoid"])
@pytest.mark.parametrize("attention", KINDS)
def test_field_is_neutral_off_the_manifold(attention, space):
    """d/dt (x_iᵀP x_i) = 2 x_iᵀP F_i(X) = 0 at *every* X, on and off the manifold (rows scaled by
    0.5 … 1.7): an integrator's drift off the manifold is neither amplified nor damped."""
    rng = np.random.default_rng(5)
    P = None if space == "sphere" else np.array(ELLIPSOID_P)
    heads = [Head.parse({"Q": eye(3), "K": eye(3), "V": (-np.eye(3)).tolist()}, "h", 3)]
    fld = AttentionField(heads, n=6, beta=1.3, attention=attention, P=P)
    X = rng.standard_normal((6, 3)) * rng.uniform(0.5, 1.7, (6, 1))
    F = fld(0.0, X)
    PX = X if P is None else X @ P
    growth = np.einsum("ij,ij->i", PX, F)
    W = fld._mixer.mix(0.0, X, np.empty_like(X))  # before the projection: what cancels, to rounding
    scale = np.linalg.norm(PX, axis=1) * np.linalg.norm(W, axis=1)
    assert np.all(np.abs(growth) <= 1e-14 * scale)
    # on the manifold it is the model's field w − (xᵀPw) x (fresh fields: Sinkhorn warm-starts
    # from its previous evaluation, which moves its plan within sinkhorn_tol)
    Y = X / np.sqrt(np.einsum("ij,ij->i", X, PX))[:, None]
    PY = Y if P is None else Y @ P
    fresh = AttentionField(heads, n=6, beta=1.3, attention=attention, P=P)
    W = fresh._mixer.mix(0.0, Y, np.empty_like(Y))
    want = W - np.einsum("ij,ij->i", PY, W)[:, None] * Y
    got = AttentionField(heads, n=6, beta=1.3, attention=attention, P=P)(0.0, Y)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_a_run_that_leaves_the_manifold_says_so():
    """The core measures the drift off the manifold on the integrator's own states; an adaptive run
    whose drift exceeds what rtol/atol promise ends INACCURATE (not a success), never silently.
    Here the *tangent* form w − (xᵀw)x of the repelling case, which the engine no longer uses."""
    from dynamics._integrate import Adaptive, FunctionField, Status, integrate
    from dynamics.field import Ellipsoid

    s = Scenario(**REPELLING)
    fld = AttentionField.from_scenario(s, build_heads(s))
    X0 = np.array(s.x0)
    X0 /= np.linalg.norm(X0, axis=1, keepdims=True)

    def tangent_form(t, X):
        W = fld._mixer.mix(t, X, np.empty_like(X))
        return W - np.einsum("ij,ij->i", X, W)[:, None] * X

    t = np.linspace(0, 30, 7)
    sol = integrate(
        FunctionField(tangent_form), X0, t, Adaptive("DOP853", 1e-10, 1e-12), manifold=Ellipsoid()
    )
    assert sol.status == Status.INACCURATE and not sol.status.success
    assert sol.max_deviation > 1e-6
    assert "not accurate" in sol.message
    good = integrate(fld, X0, t, Adaptive("DOP853", 1e-10, 1e-12), manifold=Ellipsoid())
    assert good.status == Status.SUCCESS and good.max_deviation < 1e-9


@pytest.mark.parametrize("integrator", ["euler", "rk4"])
def test_deviation_is_measured_before_the_retraction(integrator):
    """One step of size h from tokens on the sphere: Euler's unretracted state has |x + hF| =
    √(1 + h²|F|²) (F is tangent), which max_deviation reports; RK4's is O(h⁵) smaller than Euler's
    but not zero."""
    s = Scenario(n=7, d=3, beta=2.0, T=0.25, frames=2, dt=0.25, integrator=integrator, seed=3)
    r = simulate(s)
    assert r.steps == 1
    fld = AttentionField.from_scenario(s, build_heads(s))
    F = fld(0.0, r.x[0])
    euler = float(np.max(np.sqrt(1 + 0.25**2 * np.einsum("ij,ij->i", F, F)) - 1))
    if integrator == "euler":
        assert r.max_deviation == pytest.approx(euler, rel=1e-12)
    else:
        assert 0 < r.max_deviation < 0.1 * euler
    assert manifold_residual(r.x) <= 1e-14  # what is saved is retracted


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_result_exposes_attention_matrices(integrator):
    """Result.attention(k) are the field's attention matrices at saved time k, computed on demand:
    softmax rows sum to 1, causal entries above the diagonal are 0, and they equal the formula."""
    s = Scenario(
        n=5, d=3, beta=1.5, n_heads=2, qk="gaussian", mask="causal", T=1.0, frames=5, **SOLVER[integrator]
    )
    r = simulate(s)
    A = r.attention()
    assert A.shape == (5, 2, 5, 5)
    np.testing.assert_allclose(A.sum(axis=-1), 1.0, atol=1e-13)
    assert np.all(np.triu(A, 1) == 0)
    heads = build_heads(s)
    Q, K = heads[1].Q.at(0.0), heads[1].K.at(0.0)
    x = r.x[3]
    S = 1.5 * (x @ Q.T) @ (x @ K.T).T
    S = np.where(np.tril(np.ones((5, 5), bool)), S, -np.inf)
    E = np.exp(S - S.max(axis=1, keepdims=True))
    np.testing.assert_allclose(r.attention(3, head=1), E / E.sum(axis=1, keepdims=True), atol=1e-13)
    np.testing.assert_array_equal(r.attention(3), A[3])
    np.testing.assert_array_equal(r.attention(head=0), A[:, 0])


# ------------------------------------------------------------------- one step-count formula


@settings(max_examples=200, deadline=None)
@given(m=st.integers(1, 10**6), dt=st.floats(1e-6, 10.0))
def test_steps_per_interval_on_whole_multiples(m, dt):
    """A span that is m steps of dt (as float arithmetic forms it) takes exactly m steps; the step
    is ≤ dt to a relative 1e-9, and any span is covered by steps ≤ dt(1 + 1e-9)."""
    from dynamics._integrate import steps_per_interval

    span = m * dt
    assert steps_per_interval(span, dt) == m
    assert steps_per_interval(span * 0.9 / m * m, dt) <= m
    per = steps_per_interval(span * 1.37, dt)
    assert span * 1.37 / per <= dt * (1 + 1e-9)


def test_step_count_is_exact_for_whole_multiples_of_dt():
    """Issue 10 defect 3: T = 10, 101 frames, dt = 0.01 is 10 steps of exactly 0.01 per frame
    (before: 11 steps of 0.00909 — 0.1/0.01 rounds to 10.000000000000002)."""
    for integrator in ("euler", "rk4"):
        r = simulate(Scenario(n=4, d=3, T=10.0, frames=101, dt=0.01, integrator=integrator))
        assert r.steps == 1000 and r.step_size == 0.01
    assert effective_dt(Scenario(T=10.0, frames=101, dt=0.01)) == 0.01


# ------------------------------------------------------------------- one budget, before any work


@pytest.mark.parametrize(
    ("scenario", "limits", "key"),
    [
        (Scenario(n=1024, d=64, n_heads=8, T=15.0, frames=16), Limits(max_work=1e10), "work"),
        (
            Scenario(n=512, d=16, T=50.0, dt=0.001, frames=11, integrator="euler"),
            Limits(max_work=1e10),
            "work",
        ),
        (Scenario(n=8, d=1024, n_heads=64), Limits(), "memory"),
        (Scenario(n=64, d=8, T=10.0, dt=1e-5, frames=11), Limits(max_steps=10_000), "dt"),
    ],
)
def test_assess_names_the_limit_and_settings_that_fit(scenario, limits, key):
    """assess() is pure arithmetic (nothing built): it names the exceeded limit, and every setting it
    suggests fits the limits; the suggested n is the largest that fits."""
    from dynamics import assess

    v = assess(scenario, limits)
    assert not v.ok and v.key == key and v.message.startswith(key if key != "work" else "work budget")
    assert v.options and v.suggestion
    for option in v.options:
        ((name, value),) = option.items()
        assert assess(dataclasses.replace(scenario, **option), limits).ok, option
        if name == "n":
            assert not assess(scenario.replace(n=int(value) + 1), limits).ok
    with pytest.raises(BudgetError, match=r"e\.g\. "):
        simulate(scenario, limits=limits)


def test_facts_budget_covers_the_assumption_checks():
    """The theorem facts (an LP over the tokens, eigendecompositions per head) are priced: the
    n = 4096, d = 2048 scenario of issue 10 is refused by the default limits, a small one is not."""
    from dynamics import assess
    from dynamics.theorems import scenario_facts

    big = Scenario(n=4096, d=2048)
    v = assess(big, run=False, facts=True)
    assert not v.ok and "setting up" in v.message
    with pytest.raises(BudgetError, match="work budget"):
        scenario_facts(big)
    assert assess(Scenario(), run=False, facts=True).ok


def test_rate_meter_turns_work_into_seconds():
    from dynamics import RateMeter, assess

    meter = RateMeter(window=3, default_rate=1e9)
    assert meter.seconds(2e9) == 2.0 and meter.samples == 0
    r = simulate(Scenario(n=16, T=1.0))
    assert r.work > 0 and r.wall_time > 0
    meter.observe(r)
    assert meter.samples == 1 and meter.rate == pytest.approx(r.work / r.wall_time)
    for rate in (1e9, 2e9, 3e9, 4e9):
        meter.record(rate, 1.0)
    assert meter.rate == 3e9  # the median of the last three
    v = assess(Scenario(n=16, T=1.0), meter=meter)
    assert v.ok and v.seconds == pytest.approx(v.work / 3e9)


def test_blas_threads_never_exceed_the_cores():
    """The thread budget: one BLAS thread while only small runs are active; a large run alone gets
    every core; concurrent runs share them; the library's own count comes back afterwards."""
    from threadpoolctl import threadpool_info

    from dynamics.threads import MULTITHREAD_MIN_WORK, ThreadBudget

    def blas() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas()
    budget = ThreadBudget(cores=4)
    with budget.run(0.0) as small:
        assert small == 1 and blas() == {1}
        with budget.run(MULTITHREAD_MIN_WORK) as large:
            assert large == 2 and blas() == {2}  # two runs on four cores
        assert blas() == {1}
    with budget.run(MULTITHREAD_MIN_WORK) as alone:
        assert alone == 4 and blas() == {4}
    assert blas() == before
