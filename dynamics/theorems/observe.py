"""Judging a trajectory: the observation helpers several theorems share.

Honesty rules (docs/theory.md, "How a run is judged"):

* an asymptotic statement without a rate is never "refuted" by a finite run: not reaching the
  tolerance by T gives ``None`` ("horizon too short"); ``False`` is reserved for what a finite run
  can contradict — an invariant that must hold at every time (a monotone energy or margin, a
  token that must not move) or convergence to a point other than the predicted one;
* a drop of a proven-monotone quantity refutes only if the run resolves the flow (adaptive steps,
  or a fixed step with h·L small enough); otherwise the card says the step is too coarse to decide.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .. import euclidean as eu
from ..field import AttentionField
from ..metrics import clusters, diameter, interaction_energy
from ..solve import Result, effective_dt
from .base import Observation, num
from .facts import (
    CLUSTER_COS,
    CONSENSUS_TOL,
    LIMIT_TOL,
    MONOTONE_TOL,
    STABILITY,
    WRONG_LIMIT_TOL,
    Facts,
    MatrixFacts,
)
from .predicates import side_of

INVARIANT_RULE = (
    f"drops between saved frames ≤ {num(MONOTONE_TOL)} (adaptive runs: ≤ 10·rtol); a larger drop refutes "
    "only if the run resolves the flow (fixed step with h·L ≤ 2 for Euler, 2.5 for RK4), otherwise no verdict"
)


# ------------------------------------------------------------------ trajectories
def frames(result: Result) -> tuple[np.ndarray, np.ndarray] | str:
    """(t, xs) in float64, or a reason why the trajectory cannot be judged."""
    xs = np.asarray(result.x, dtype=np.float64)
    if xs.ndim != 3:
        return "an ensemble result: evaluate each system's scenario separately"
    if not np.all(np.isfinite(xs)):
        return f"the run failed ({result.message}); nothing to observe"
    if len(result.t) < 2 or float(result.t[-1]) <= 0:
        return "horizon too short: the run has no time span (T = 0)"
    return np.asarray(result.t, dtype=float), xs


def angles_to(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Angles (rad) between the rows of x and the vector p (accurate near 0)."""
    u = x / np.linalg.norm(x, axis=-1, keepdims=True)
    q = p / np.linalg.norm(p)
    chord = np.linalg.norm(u - q, axis=-1)
    return 2 * np.arcsin(np.minimum(chord / 2, 1.0))


def max_relative_decrease(values: np.ndarray) -> float:
    """Largest drop between consecutive frames, relative to the value before it (≥ 0)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return 0.0
    drop = (v[:-1] - v[1:]) / np.maximum(np.abs(v[:-1]), 1e-300)
    return float(max(0.0, drop.max()))


def max_decrease(values: np.ndarray) -> float:
    """Largest drop between consecutive frames (≥ 0)."""
    v = np.asarray(values, dtype=float)
    return float(max(0.0, (v[:-1] - v[1:]).max())) if v.size > 1 else 0.0


def consensus_numbers(t: np.ndarray, xs: np.ndarray) -> dict[str, Any]:
    """Angular diameter at start and end, and the first saved time after which it stays < tol."""
    diam = np.array(diameter(xs), dtype=float, ndmin=1)
    above = np.nonzero(diam >= CONSENSUS_TOL)[0]
    if above.size == 0:
        tc: float | None = float(t[0])
    elif above[-1] == len(t) - 1:
        tc = None
    else:
        tc = float(t[above[-1] + 1])
    return {
        "diameter_start": float(diam[0]),
        "diameter_end": float(diam[-1]),
        "consensus_time": tc,
        "T": float(t[-1]),
    }


def velocity(f: Facts, t: float, X: np.ndarray) -> float:
    """max_i ‖ẋ_i‖ of the scenario's field at (t, X)."""
    fld = AttentionField.from_scenario(f.scenario, f.heads)
    with np.errstate(all="ignore"):
        v = fld(t, np.array(X, dtype=np.float64))
    return float(np.linalg.norm(v, axis=-1).max())


def cluster_count(X: np.ndarray) -> int:
    """Clusters = connected components of ⟨u_i, u_j⟩ > CLUSTER_COS."""
    eps = math.sqrt(2 * (1 - CLUSTER_COS))
    return int(clusters(X, eps).max()) + 1


def centrally_symmetric(x0: np.ndarray, tol: float = 1e-9) -> bool:
    """Every token's antipode is also a token (then x ↦ −x keeps the configuration symmetric)."""
    u = x0 / np.linalg.norm(x0, axis=1, keepdims=True)
    dist, _ = cKDTree(u).query(-u)
    return bool(np.all(dist < tol))


# ------------------------------------------------------------------ invariants
def stiffness(f: Facts) -> float:
    """h·L: the fixed step times a bound L of the field's rate, L = Σ_k ‖V_k‖(1 + β‖A_k‖r²)·g_k,
    g_k = e^{β‖A_k‖r²} for unnormalized attention (whose weights are not bounded by 1), else 1."""
    s = f.scenario
    r2 = 1.0 if s.P is None else 1.0 / float(np.linalg.eigvalsh(np.array(s.P))[0])
    rate = 0.0
    for v, a in zip(f.V, f.A, strict=True):
        ba = s.beta * a.bound * r2
        rate += v.bound * (1.0 + ba) * (math.exp(min(ba, 700.0)) if s.attention == "unnormalized" else 1.0)
    return effective_dt(s) * rate


def invariant(f: Facts, drop: float, what: str, numbers: dict[str, Any]) -> Observation | None:
    """Judge a drop of a quantity that is non-decreasing along the exact flow.

    None (no verdict from this check) when the drop is within the allowance; otherwise False if
    the run resolves the flow, None with the reason if the step is too coarse for the discrete
    scheme to inherit the invariant (the theorems are about the continuous flow).
    """
    s = f.scenario
    if s.integrator == "adaptive":
        allowance = max(MONOTONE_TOL, 10 * s.rtol)
        resolved, note = True, f"adaptive steps, rtol {num(s.rtol)}"
    else:
        allowance = MONOTONE_TOL
        sigma = stiffness(f)
        limit = STABILITY[s.integrator]
        resolved = sigma <= limit
        note = f"{s.integrator} step h·L ≈ {num(sigma)} (resolved if ≤ {limit:g})"
        numbers["step_stiffness"] = sigma
    numbers["invariant_allowance"] = allowance
    if drop <= allowance:
        return None
    if resolved:
        return Observation(
            False,
            f"{what} decreased by {num(drop)} > {num(allowance)} between saved frames although it is "
            f"proven non-decreasing ({note})",
            numbers,
        )
    return Observation(
        None,
        f"{what} decreased by {num(drop)} between saved frames, but the step is too coarse to decide "
        f"({note}): the theorem is about the continuous flow; reduce dt",
        numbers,
    )


# ------------------------------------------------------------------ consensus
def decay_rate(t: np.ndarray, diam: np.ndarray) -> dict[str, float]:
    """Fit log(diameter) on the later half of the frames above the rounding floor."""
    keep = np.nonzero(diam > 1e-12)[0]
    if keep.size >= 2:
        late = keep[keep.size // 2 :] if keep.size >= 6 else keep
        return {"decay_rate": -float(np.polyfit(t[late], np.log(diam[late]), 1)[0])}
    if diam[0] > 1e-12:  # collapsed to the floor within one frame: only a lower bound
        first = int(np.nonzero(diam <= 1e-12)[0][0])
        return {"decay_rate_lower_bound": math.log(diam[0] / 1e-12) / float(t[first])}
    return {}


def consensus(f: Facts, result: Result, *, margin: bool, energy: bool, rate: bool, what: str) -> Observation:
    """Consensus by T, with the optional invariants (hemisphere margin, E_β) and decay rate."""
    got = frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    numbers = consensus_numbers(t, xs)
    if margin:
        m = (xs @ f.hemisphere.pole).min(axis=-1)  # min_i ⟨x_i(t), w⟩, w the LP pole at t = 0
        drop = max_decrease(m)
        numbers.update(margin_start=float(m[0]), margin_end=float(m[-1]), margin_max_drop=drop)
        verdict = invariant(f, drop, "minᵢ ⟨xᵢ, w⟩", numbers)
        if verdict is not None:
            return verdict
    if energy:
        E = np.asarray(interaction_energy(xs, f.scenario.beta, normalized=True), dtype=float)
        drop = max_relative_decrease(E)
        numbers.update(energy_start=float(E[0]), energy_end=float(E[-1]), energy_max_drop=drop)
        verdict = invariant(f, drop, "the energy E_β (relative)", numbers)
        if verdict is not None:
            return verdict
    if rate:
        numbers.update(decay_rate(t, np.array(diameter(xs), dtype=float, ndmin=1)))
    end = numbers["diameter_end"]
    if end < CONSENSUS_TOL:
        return Observation(
            True,
            f"{what}: the tokens' angular spread is {num(end)} rad < {num(CONSENSUS_TOL)} at T = {t[-1]:g} "
            f"(below it from t = {numbers['consensus_time']:g})",
            numbers,
        )
    if centrally_symmetric(f.x0):
        numbers["centrally_symmetric_start"] = True
        return Observation(
            None,
            f"no consensus by T = {t[-1]:g} (spread {num(end)} rad), and none will come: every token "
            "starts with its antipode, and x ↦ −x maps solutions to solutions, so the configuration "
            "stays centrally symmetric — one of the exceptional starts that 'almost every' excludes",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: the tokens' angular spread is {num(end)} rad ≥ {num(CONSENSUS_TOL)} at "
        f"T = {t[-1]:g} (the theorem gives no rate; try a longer T)",
        numbers,
    )


# ------------------------------------------------------------------ consensus at an eigenvector
def limit_point(f: Facts, vf: MatrixFacts) -> np.ndarray:
    """s·v normalised onto the manifold: v the top eigenvector, s the side of the first token."""
    s, _ = side_of(f, vf.top_vector)
    p = s * vf.top_vector
    P = f.scenario.ellipsoid_matrix()
    return p / math.sqrt(float(p @ p)) if P is None else p / math.sqrt(float(p @ P @ p))


def limit(f: Facts, result: Result, vf: MatrixFacts, *, open_question: bool) -> Observation:
    """Consensus at s·v (Thm D), or — for the open question — the numbers only."""
    got = frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    p = limit_point(f, vf)
    ang = angles_to(xs[-1], p)
    numbers = consensus_numbers(t, xs)
    numbers.update(
        max_angle_to_limit_end=float(ang.max()),
        first_token_angle_end=float(ang[0]),
        limit_point=[float(x) for x in p],
    )
    at_limit = bool(ang.max() < LIMIT_TOL)
    if open_question:
        numbers["consistent_with_conjecture"] = at_limit
        seen = (
            f"consensus at s·v (largest angle {num(ang.max())} rad)"
            if at_limit
            else f"largest angle to s·v {num(ang.max())} rad, spread {num(numbers['diameter_end'])} rad"
        )
        return Observation(
            None,
            "open question (the theorem is proven for one head only): at T = "
            f"{t[-1]:g} the simulation shows {seen}, v the top eigenvector of Σₖ Vₖ",
            numbers,
        )
    if at_limit:
        return Observation(True, f"every token within {num(ang.max())} rad of s·v at T = {t[-1]:g}", numbers)
    if numbers["diameter_end"] < CONSENSUS_TOL and ang.max() > WRONG_LIMIT_TOL:
        return Observation(
            False,
            f"consensus reached at T = {t[-1]:g}, but {num(ang.max())} rad away from the predicted s·v",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: at T = {t[-1]:g} some token is {num(ang.max())} rad from s·v "
        "(the theorem gives no rate)",
        numbers,
    )


# ------------------------------------------------------------------ the Euclidean model
def eu_frames(result: eu.EuclideanResult) -> tuple[np.ndarray, np.ndarray] | str:
    """(t, z) in float64, or a reason why the run cannot be judged."""
    z = np.asarray(result.z, dtype=float)
    if result.status == -1:
        return f"the run failed ({result.message}); nothing to observe"
    if not np.all(np.isfinite(z)):
        return "the rescaled tokens z left the float range; nothing to observe"
    if len(result.t) < 2 or float(result.t[-1]) <= 0:
        return "horizon too short: the run has no time span (T = 0)"
    return np.asarray(result.t, dtype=float), z
