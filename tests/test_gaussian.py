"""Gaussian mean field (dynamics.gaussian): the §E.3 predictions P3-1…P3-7 and the solver's hygiene.

Tolerances and their reasons are stated next to each assertion; all random draws are seeded.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from dynamics import BudgetError, ScenarioError
from dynamics.gaussian import (
    CANCELLED,
    FAILED,
    PRESETS,
    STOPPED,
    SUCCESS,
    GaussianScenario,
    blowup_time_identity_V,
    closed_form_identity_V,
    cone_coords,
    disk_coords,
    empirical_moments,
    empirical_rates,
    get_preset,
    limit_identity_V,
    moment_gap,
    moment_rates,
    normalized,
    numerical_rank,
    particle_moments,
    qk_for,
    sample_particles,
    sinkhorn,
    solve_gaussian,
)


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    B = rng.standard_normal((d, d))
    return np.eye(d) * 0.5 + B @ B.T / d


def _assert_psd_path(Sigma: np.ndarray) -> None:
    assert np.array_equal(Sigma, np.swapaxes(Sigma, 1, 2)), "Σ not exactly symmetric"
    for S in Sigma:
        w = np.linalg.eigvalsh(S)
        assert w[0] >= -1e-12 * max(1.0, w[-1]), w


# ------------------------------------------------------------------------------ P3-1 closed form
@pytest.mark.parametrize("form", ["factor", "covariance"])
def test_p3_1_closed_form_identity_V(form: str) -> None:
    rng = np.random.default_rng(31)
    d = 3
    A = 0.4 * rng.standard_normal((d, d)) - 0.6 * np.eye(d)  # S = A + Aᵀ ≺ 0: no blow-up
    assert np.linalg.eigvalsh(A + A.T)[-1] < 0
    S0 = _spd(rng, d)
    Q, K = qk_for(A)
    gs = GaussianScenario(d=d, Q=Q, K=K, Sigma0=S0, m0=(1.0, 0.0, -1.0), T=5.0, form=form)
    np.testing.assert_allclose(gs.weights().A[0], A, atol=1e-14)
    r = solve_gaussian(gs)
    assert r.status == SUCCESS, r.message
    err = np.abs(r.Sigma - closed_form_identity_V(A, S0, r.t)).max()
    assert err <= 1e-9, err
    _assert_psd_path(r.Sigma)


# ------------------------------------------------------------------------------ P3-2 blow-up
@pytest.mark.parametrize("d", [1, 2, 3])
def test_p3_2_blowup_time(d: int) -> None:
    A = 0.5 * np.eye(d)
    assert blowup_time_identity_V(A, np.eye(d)) == pytest.approx(1.0, abs=1e-14)
    Q, K = qk_for(A)
    r = solve_gaussian(GaussianScenario(d=d, Q=Q, K=K, T=2.0))
    assert r.status == STOPPED and r.blew_up
    assert "blow-up" in r.message
    assert abs(r.blowup_time - 1.0) <= 1e-3, r.blowup_time
    # the event itself: tr Σ = d/(1 − t) reaches 1e3 at t = 1 − d/1e3
    assert r.event_time == pytest.approx(1 - d / 1e3, abs=1e-6)
    assert r.t[-1] == r.event_time and np.trace(r.Sigma[-1]) == pytest.approx(1e3, rel=1e-6)


def test_blowup_time_general_matches_closed_form() -> None:
    p = get_preset("blowup_aniso").scenario
    t_star = blowup_time_identity_V(p.weights().A[0], p.sigma0())
    r = solve_gaussian(p)
    assert r.status == STOPPED
    assert abs(r.blowup_time - t_star) <= 1e-2  # Riccati extrapolation: error O(1/threshold)
    # Σ/tr Σ → a rank-one projector: the disk point is near the unit circle
    assert np.linalg.norm(disk_coords(r.Sigma[-1])) > 0.99


def test_l2_divergence_is_not_called_a_blowup_time() -> None:
    A = 0.5 * np.eye(2)
    Q, K = qk_for(A, "l2")
    r = solve_gaussian(GaussianScenario(d=2, variant="l2", Q=Q, K=K, T=50.0, blowup=50.0))
    if r.blew_up:
        assert r.blowup_time is None and "diverged" in r.message


# ------------------------------------------------------------------------------ P3-3 particles
def test_p3_3_particles_agree_with_ode() -> None:
    """n = 4000, T = 0.5, seed 0. Sampling error at t = 0 alone has rms √((trΣ₀)²+tr Σ₀²)/√n ≈ 0.041
    for the covariance (Frobenius) and √(trΣ₀/n) ≈ 0.023 for the mean; the flow contracts here, so 3×
    these rms values bound the error; the largest covariance entry stays below 0.05 (the brief's)."""
    gs = get_preset("particles").scenario.replace(T=0.5)
    n = 4000
    S0 = gs.sigma0()
    cov_tol = 3 * math.sqrt((np.trace(S0) ** 2 + np.trace(S0 @ S0)) / n)
    mean_tol = 3 * math.sqrt(np.trace(S0) / n)
    ode = solve_gaussian(gs.replace(frames=6))
    pm = particle_moments(gs, n, seed=0, times=ode.t)
    assert pm.status == SUCCESS
    cov_err = np.linalg.norm(pm.Sigma[-1] - ode.Sigma[-1])
    mean_err = np.linalg.norm(pm.m[-1] - ode.m[-1])
    assert cov_err <= cov_tol, (cov_err, cov_tol)
    assert mean_err <= mean_tol, (mean_err, mean_tol)
    assert np.abs(pm.Sigma[-1] - ode.Sigma[-1]).max() <= 0.05
    assert mean_err <= 0.1


# ------------------------------------------------------------------------------ P3-4 rates
@pytest.mark.parametrize("variant", ["softmax", "l2", "sinkhorn", "multihead"])
def test_p3_4_instantaneous_rates(variant: str) -> None:
    """Cov(X,Γ)+Cov(Γ,X) of n = 3000 particles vs the closed formula at their sample (m, Σ)."""
    rng = np.random.default_rng(7)
    d = 2
    Q, K = 0.5 * rng.standard_normal((d, d)), 0.5 * rng.standard_normal((d, d))
    V = 0.5 * rng.standard_normal((d, d))
    gs = GaussianScenario(
        d=d,
        variant=variant,
        Q=Q,
        K=K,
        V=V,
        m0=(0.3, -0.2),
        Sigma0=((1.0, 0.3), (0.3, 0.6)),
        n_heads=2 if variant == "multihead" else 1,
    )
    X = sample_particles(gs, 3000, seed=1)
    m, S = empirical_moments(X)
    dm_emp, dS_emp = empirical_rates(gs, X)
    dm, dS = moment_rates(gs, m, S)
    assert np.linalg.norm(dS_emp - dS) <= 3e-2 * np.linalg.norm(dS)
    assert np.linalg.norm(dm_emp - dm) <= 3e-2 * max(np.linalg.norm(dm), 0.1)
    if variant == "sinkhorn":  # doubly stochastic plan: the mean moves by V m exactly
        np.testing.assert_allclose(dm_emp, V @ m, atol=1e-8)


def test_sinkhorn_formula_equals_the_notes_form() -> None:
    """Our R-form equals V(𝖠ᵀ)⁻¹Σ⁻¹C_ΣΣ of §C.3 when 𝖠, Σ are invertible (it needs neither)."""
    rng = np.random.default_rng(3)
    d = 3
    Q, K, V = (rng.standard_normal((d, d)) * 0.5 for _ in range(3))
    S = _spd(rng, d)
    gs = GaussianScenario(d=d, variant="sinkhorn", Q=Q, K=K, V=V)
    A = K.T @ Q
    w, U = np.linalg.eigh(S)
    Sh, Shi = (U * np.sqrt(w)) @ U.T, (U / np.sqrt(w)) @ U.T
    w2, U2 = np.linalg.eigh(4 * Sh @ A.T @ S @ A @ Sh + np.eye(d))
    C = 0.5 * (Sh @ ((U2 * np.sqrt(w2)) @ U2.T) @ Shi - np.eye(d))
    M = V @ np.linalg.inv(A.T) @ np.linalg.inv(S) @ C @ S
    _, dS = moment_rates(gs, np.zeros(d), S)
    np.testing.assert_allclose(dS, M + M.T, atol=1e-10)


# ------------------------------------------------------------------------------ P3-5 rank
@pytest.mark.parametrize("variant", ["softmax", "multihead", "l2", "sinkhorn"])
def test_p3_5_rank_preserved(variant: str) -> None:
    rng = np.random.default_rng(5)
    d = 4
    B = rng.standard_normal((d, 2))
    S0 = B @ B.T  # rank 2
    gs = GaussianScenario(
        d=d,
        variant=variant,
        qk="gaussian",
        value="gaussian",
        seed=2,
        Sigma0=S0,
        m0=(1.0, 0.0, 0.0, 0.0),
        T=1.0,
        n_heads=2 if variant == "multihead" else 1,
    )
    r = solve_gaussian(gs)
    assert r.success, r.message
    _assert_psd_path(r.Sigma)
    for S in r.Sigma:
        w = np.linalg.eigvalsh(S)
        assert np.all(np.abs(w[:2]) <= 1e-12 * w[-1]), w
        assert w[2] > 1e-6 * w[-1], w


# ------------------------------------------------------------------------------ P3-6, P3-7 limits
@pytest.mark.parametrize("d", [3, 4, 5])
def test_p3_6_low_rank_limit(d: int) -> None:
    expected = d - d // 2  # = ⌈d/2⌉ = dim ker Q
    for seed in range(3):
        rng = np.random.default_rng([6, d, seed])
        S0 = _spd(rng, d)
        gs = GaussianScenario(
            d=d, qk="gaussian_neg", qk_rank=d // 2, value="identity", seed=seed, Sigma0=S0, T=2000.0, frames=3
        )
        r = solve_gaussian(gs)
        assert r.status == SUCCESS, r.message
        A = gs.weights().A[0]
        lim = limit_identity_V(A, S0)
        assert np.linalg.matrix_rank(lim, tol=1e-8) == expected
        # decaying eigenvalues ~ 1/(t s); T = 2000 puts them far below the authors' 0.1 threshold
        assert numerical_rank(r.Sigma[-1], tol=0.1 * min(1.0, np.linalg.eigvalsh(lim)[-expected])) == expected
        assert np.abs(r.Sigma[-1] - lim).max() <= 0.02 * np.abs(lim).max()


def test_p3_7_line_along_q_perp() -> None:
    gs = get_preset("line").scenario.replace(T=5000.0, frames=3)
    q = np.array(gs.Q[0])
    r = solve_gaussian(gs)
    w, U = np.linalg.eigh(r.Sigma[-1])
    assert w[0] <= 1e-3 * w[1]
    assert abs(U[:, 1] @ q) <= 1e-3  # the surviving direction is q^⊥ (tilt O(1/t) at finite t)
    lim = limit_identity_V(gs.weights().A[0], gs.sigma0())
    np.testing.assert_allclose(r.Sigma[-1], lim, atol=1e-3)
    assert np.linalg.matrix_rank(lim, tol=1e-10) == 1
    p = disk_coords(r.Sigma[-1])
    assert np.linalg.norm(p) == pytest.approx(1.0, abs=2e-3)


# ------------------------------------------------------------------------------ invariants
@pytest.mark.parametrize("key", sorted(PRESETS))
def test_presets_symmetric_psd_no_warnings(key: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = solve_gaussian(PRESETS[key].scenario)
    assert r.success, r.message
    assert r.Sigma.shape == (len(r.t), r.scenario.d, r.scenario.d) and r.m.shape == (len(r.t), r.scenario.d)
    assert np.all(np.diff(r.t) > 0)
    _assert_psd_path(r.Sigma)
    assert not r.Sigma.flags.writeable


def test_factor_and_covariance_forms_agree() -> None:
    gs = get_preset("both").scenario.replace(T=2.0, variant="l2")
    a, b = solve_gaussian(gs), solve_gaussian(gs.replace(form="covariance"))
    np.testing.assert_allclose(a.Sigma, b.Sigma, atol=1e-7)
    np.testing.assert_allclose(a.m, b.m, atol=1e-7)


def test_progress_and_cancel() -> None:
    seen: list[float] = []
    r = solve_gaussian(get_preset("collapse").scenario, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    r = solve_gaussian(get_preset("collapse").scenario, progress=lambda f: f < 0.3)
    assert r.status == CANCELLED and r.t[-1] < r.scenario.T


def test_a_run_with_tiny_steps_still_reports_and_can_be_cancelled() -> None:
    """T = 10⁴ with tolerances that keep the steps near 10⁻³: no percent of the span is ever
    reached, yet progress is reported (every REPORT_SECONDS of wall time), so a caller can stop it
    (issue 13 §2: this scenario once held a core for 11 minutes with no way to stop it)."""
    gs = GaussianScenario.from_json(
        '{"d": 16, "variant": "sinkhorn", "T": 10000, "frames": 201, "rtol": 1e-13, "atol": 1e-15, '
        '"sinkhorn_max_iter": 100000, "sinkhorn_tol": 1e-14, "blowup": 1e12}'
    )
    seen: list[float] = []

    def stop_at_third_report(fraction: float) -> bool:
        seen.append(fraction)
        return len(seen) < 3

    r = solve_gaussian(gs, progress=stop_at_third_report)
    assert r.status == CANCELLED and len(seen) == 3
    assert seen == sorted(seen) and seen[-1] < 0.01  # reported before a percent of T was reached


@pytest.mark.parametrize("n", [5, 200])
def test_sinkhorn_doubly_stochastic(n: int) -> None:
    rng = np.random.default_rng(n)
    S = 3 * rng.standard_normal((n, n))
    P, info, _ = sinkhorn(S, tol=1e-10, max_iter=5000)
    assert info.converged and info.error <= 1e-10
    assert np.abs(P.sum(axis=1) - 1).max() <= 1e-10
    assert np.abs(P.sum(axis=0) - 1).max() <= 1e-12
    _, info2, _ = sinkhorn(S, tol=1e-14, max_iter=2)
    assert not info2.converged and info2.iterations == 2


def test_sinkhorn_particles_report_iterations() -> None:
    gs = get_preset("sinkhorn").scenario.replace(T=0.2, sinkhorn_tol=1e-10)
    pm = particle_moments(gs, 200, seed=0, times=[0.1, 0.2])
    assert pm.info["sinkhorn_converged"] and pm.info["sinkhorn_error"] <= 1e-10
    assert pm.info["sinkhorn_max_iterations"] >= 1
    # ṁ = V m holds for the particles too (columns of the plan sum to 1)
    capped = particle_moments(gs.replace(sinkhorn_max_iter=1, sinkhorn_tol=1e-14), 100, 0, [0.1])
    assert "cap" in capped.message


def test_gap_shrinks_like_inverse_sqrt_n() -> None:
    gs = get_preset("particles").scenario.replace(T=0.5)
    g = moment_gap(gs, ns=(200, 400, 800, 1600), seeds=(0, 1, 2, 3))
    assert np.all(np.diff(g.gap) < 0), g.gap
    assert -0.8 <= g.slope <= -0.3, g.slope


# ------------------------------------------------------------------------------ helpers
def test_cone_and_disk_coordinates() -> None:
    S = np.array([[3.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(cone_coords(S), [2.0, 2.0, 4.0])
    np.testing.assert_allclose(disk_coords(S), [0.5, 0.5])
    u = np.array([0.6, 0.8])
    assert np.linalg.norm(disk_coords(5 * np.outer(u, u))) == pytest.approx(1.0)  # rank one: boundary
    assert np.trace(normalized(S)) == pytest.approx(1.0)


# ------------------------------------------------------------------------------ scenario
@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"variant": "flash"}, "variant"),
        ({"Sigma0": ((1.0, 0.5), (0.0, 1.0))}, "symmetric"),
        ({"Sigma0": ((1.0, 2.0), (2.0, 1.0))}, "semi-definite"),
        ({"Sigma0": ((1.0, 0.0, 0.0),)}, "Sigma0"),
        ({"m0": (1.0,)}, "m0"),
        ({"V": ((1.0, 0.0),)}, "V"),
        ({"Q": ((1.0, 0.0, 0.0),)}, "Q"),
        ({"variant": "multihead", "n_heads": 3}, "n_heads"),
        ({"n_heads": 2}, "multihead"),
        ({"T": -1}, "T"),
        ({"T": "abc"}, "T"),
        ({"d": 0}, "d"),
        ({"blowup": 1.5}, "blowup"),
        ({"Q": ((float("nan"), 0.0), (0.0, 1.0))}, "Q"),
    ],
)
def test_scenario_validation(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        GaussianScenario(**kwargs)
    msg = str(exc.value)
    assert fragment in msg and "\n" not in msg


def test_json_round_trip() -> None:
    for p in PRESETS.values():
        s = p.scenario
        assert GaussianScenario.from_json(s.to_json()) == s
        assert GaussianScenario.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    heads = [
        {"Q": [[1.0, 0.0]], "K": [[0.0, 1.0]], "V": [[1.0, 0.5]], "W": [[1.0], [0.0]]},
        {"Q": [[0.0, 1.0]], "K": [[1.0, 0.0]], "V": [[0.2, 1.0]], "W": [[0.0], [1.0]]},
    ]
    s = GaussianScenario(d=2, variant="multihead", heads=heads)
    assert GaussianScenario.from_json(s.to_json()) == s and s.n_heads == 2
    with pytest.raises(ScenarioError, match="unknown"):
        GaussianScenario.from_dict({"dd": 3})
    with pytest.raises(ScenarioError, match="JSON"):
        GaussianScenario.from_json("{not json")


def test_explicit_heads_equal_split_heads() -> None:
    """Row-block heads with W = I blocks are the explicit heads Q_h, K_h, V_h, W_h of §C.2."""
    base = GaussianScenario(d=2, variant="multihead", n_heads=2, qk="gaussian", value="gaussian", seed=3)
    Q, K, V = base.matrices()
    eye = np.eye(2)
    heads = [
        {"Q": Q[h : h + 1], "K": K[h : h + 1], "V": V[h : h + 1], "W": eye[:, h : h + 1]} for h in range(2)
    ]
    explicit = GaussianScenario(
        d=2, variant="multihead", heads=[{k: v.tolist() for k, v in h.items()} for h in heads]
    )
    S = np.array([[1.0, 0.2], [0.2, 0.5]])
    for a, b in zip(moment_rates(base, np.ones(2), S), moment_rates(explicit, np.ones(2), S), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-14)


def test_particle_step_count_is_exact_for_whole_multiples_of_dt() -> None:
    """Issue 10 defect 3: times 0, 0.1, …, 10 with dt = 0.01 are 10 particle steps each — 1000 in
    all, the count of every engine (the integration core's one formula)."""
    gs = get_preset("collapse").scenario.replace(T=10.0, frames=101, dt=0.01)
    pm = particle_moments(gs, 20, seed=0)
    assert pm.status == SUCCESS and pm.steps == 1000
    assert len(pm.t) == 101


def test_moment_ode_obeys_the_work_budget() -> None:
    """The adaptive moment ODE is capped while it runs (issue 13's 11-minute mean-field JSON)."""
    from dynamics.limits import GaussianLimits

    gs = get_preset("sinkhorn").scenario.replace(T=10_000.0, frames=201, rtol=1e-13, atol=1e-15)
    r = solve_gaussian(gs, limits=GaussianLimits(max_work=1e8))
    assert r.status == FAILED and "budget" in r.message
    assert r.evaluations <= 1e8 / 2e5 + 1


def test_covariance_form_reports_its_distance_from_the_psd_cone() -> None:
    r = solve_gaussian(get_preset("collapse").scenario.replace(form="covariance", T=5.0))
    assert r.success and r.max_deviation is not None and r.max_deviation < 1e-8
    assert solve_gaussian(get_preset("collapse").scenario.replace(T=5.0)).max_deviation is None


def test_particles_are_priced_before_running() -> None:
    from dynamics.limits import GaussianLimits

    gs = get_preset("particles").scenario
    with pytest.raises(BudgetError, match="work budget"):
        particle_moments(gs, 5000, limits=GaussianLimits(max_work=1e9))
    with pytest.raises(BudgetError, match="work budget"):
        moment_gap(gs, ns=(1000, 2000), limits=GaussianLimits(max_work=1e9))
