"""Geshkovski et al. (The emergence of clusters, §8): V = −I — one cluster at the origin.

Euclidean model with V = −I and QᵀK = I: every token converges to 0 (no rescaling needed), the
attention matrix to the uniform matrix 11ᵀ/n, and the tokens stay in the ball of radius
max(‖xᵢ(0)‖, √(2n)).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import euclidean as eu
from . import predicates as p
from .base import Observation, Theorem, num
from .facts import EU_BALL_TOL, EU_NORM_RATIO, EU_UNIFORM_TOL, EuclideanFacts
from .sources import GLPR_CLUSTERS


def _monotone_from(t: np.ndarray, rmax: np.ndarray) -> float | None:
    """First saved time from which max‖xᵢ‖ never increases again (None: it still did at the end)."""
    rises = np.nonzero(np.diff(rmax) > 1e-12 * max(1.0, float(rmax[0])))[0]
    if rises.size == 0:
        return float(t[0])
    return float(t[rises[-1] + 1]) if rises[-1] + 1 < len(t) - 1 else None


def _numbers(f: EuclideanFacts, result: eu.EuclideanResult, t: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    n = f.scenario.n
    norms = np.linalg.norm(x, axis=-1)
    bound = np.maximum(norms[0], math.sqrt(2 * n))
    sharp = np.maximum(norms[0], math.sqrt(math.log(n))) if n > 1 else norms[0]
    rmax = norms.max(axis=1)
    if result.attention is not None:
        P = np.asarray(result.attention[-1], dtype=float)
    else:
        P = eu.EuclideanField(f.scenario.replace(rescaled=False)).attention(float(t[-1]), x[-1])
    return {
        "max_norm_start": float(rmax[0]),
        "max_norm_end": float(rmax[-1]),
        "norm_ratio_end": float(rmax[-1] / rmax[0]) if rmax[0] > 0 else 0.0,
        "max_norm_nonincreasing_from": _monotone_from(t, rmax),
        "uniform_defect_end": float(np.abs(n * P - 1).max()),
        "ball_bound_excess": float((norms - bound[None]).max()),
        "ball_radius_max": float(bound.max()),
        "sharper_bound_excess": float((norms - sharp[None]).max()),
        "T": float(t[-1]),
    }


def _observe(f: EuclideanFacts, result: eu.EuclideanResult) -> Observation:
    x = np.asarray(result.x, dtype=float)
    if result.status == -1 or not np.all(np.isfinite(x)):
        return Observation(None, f"the run failed or left the float range ({result.message}); nothing to see")
    t = np.asarray(result.t, dtype=float)
    if len(t) < 2 or t[-1] <= 0:
        return Observation(None, "horizon too short: the run has no time span (T = 0)")
    numbers = _numbers(f, result, t, x)
    excess, ratio, uniform = (
        numbers["ball_bound_excess"],
        numbers["norm_ratio_end"],
        numbers["uniform_defect_end"],
    )
    resolved = f.scenario.integrator != "adaptive" and eu.fixed_steps(f.scenario)[1] <= 0.5
    if excess > EU_BALL_TOL * max(1.0, numbers["ball_radius_max"]) and resolved:
        return Observation(
            False, f"a token left the ball ‖xᵢ‖ ≤ max(‖xᵢ(0)‖, √(2n)) by {num(excess)} (step ≤ 0.5)", numbers
        )
    start, end = numbers["max_norm_start"], numbers["max_norm_end"]
    if ratio <= EU_NORM_RATIO and uniform <= EU_UNIFORM_TOL:
        return Observation(
            True,
            f"the largest ‖xᵢ‖ fell from {num(start)} to {num(end)} (≤ {num(EU_NORM_RATIO)}×) and "
            f"max|nP − 1| = {num(uniform, 2)} ≤ {num(EU_UNIFORM_TOL)} at T = {t[-1]:g}; the ball bound held",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: the largest ‖xᵢ‖ is {num(ratio)}× its start and max|nP − 1| = "
        f"{num(uniform, 2)} at T = {t[-1]:g} (the decay is algebraic, ≈ (1 + 2ct)^(−1/2): "
        "try T of a few hundred)",
        numbers,
    )


def _counter_examples(es: eu.EuclideanScenario) -> list[tuple[str, eu.EuclideanScenario]]:
    eye = np.eye(es.d)
    return [
        ("V = I instead of −I", es.replace(V=eye.tolist())),
        ("QᵀK = 2I", es.replace(Q=eye.tolist(), K=(2 * eye).tolist())),
    ]


THEOREM = Theorem(
    id="glpr-negative-identity",
    short="V = −I ⇒ one cluster at the origin",
    cite="Geshkovski et al., NeurIPS 2023, §8",
    title="V = −I in ℝᵈ: a single cluster at the origin",
    source=f"{GLPR_CLUSTERS}, the V = −I theorem of §8",
    status="theorem",
    model="euclidean",
    statement=(
        "with V = −I and QᵀK = I every token converges to 0 and the attention matrix to the uniform "
        "matrix 11ᵀ/n"
    ),
    tolerance=(
        f"→ 0: the largest ‖xᵢ(T)‖ ≤ {num(EU_NORM_RATIO)}× the largest ‖xᵢ(0)‖; P → 11ᵀ/n: "
        f"max|nPᵢⱼ − 1| ≤ {num(EU_UNIFORM_TOL)}; the ball ‖xᵢ(t)‖ ≤ max(‖xᵢ(0)‖, √(2n)) at every saved time "
        f"(relative slack {num(EU_BALL_TOL)}; refutes for fixed steps h ≤ 0.5)"
    ),
    predicates=lambda f: [p.e_model(f), p.e_softmax(f), p.e_value_identity(f, -1.0), p.e_qk_identity(f)],
    observer=_observe,
    counter_examples=_counter_examples,
    off_model=lambda f: [p.euclidean_model(f), p.qk_identity(f)],
    example=lambda: eu.EuclideanScenario(
        n=20, d=2, T=300.0, dt=0.2, frames=151, value="minus_identity", rescaled=False
    ),
    priority=93,
    finding=(
        "The ball radius √(2n) is loose: in our runs ‖xᵢ(t)‖ ≤ max(‖xᵢ(0)‖, √(log n)) held. The decay to "
        "the origin is algebraic, about (1 + 2ct)^(−1/2), not exponential."
    ),
)
