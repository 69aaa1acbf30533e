"""Thm A of Abella et al.: one head, V = I, QᵀK constant symmetric positive definite — a gradient flow.

Conclusion: from every start the tokens converge to an equilibrium. The energy
E = ½ Σᵢⱼ exp(β⟨xᵢ, QᵀK xⱼ⟩) is non-decreasing where the gradient structure is proven — on the
ellipsoid P ∝ QᵀK, or on the sphere when QᵀK = cI — and only there is it checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..metrics import log_gradient_energy
from ..scenario import Scenario
from ..solve import Result
from . import predicates as p
from .base import Observation, Theorem, num
from .edits import add_head, keep, skew, with_qk, with_values
from .facts import PROPORTIONAL_TOL, VELOCITY_FLOOR, VELOCITY_RATIO, Facts
from .observe import INVARIANT_RULE, frames, invariant, max_decrease, velocity
from .sources import ABELLA

ENERGY = "½ Σᵢⱼ exp(β⟨xᵢ, QᵀK xⱼ⟩)"


def regime(f: Facts) -> str:
    """'sphere' (QᵀK = cI on the sphere), 'ellipsoid' (P ∝ QᵀK) or 'unproven'."""
    a = f.A[0]
    if f.h != 1 or not (a.constant and a.symmetric and a.min_eig > 0):
        return "unproven"
    if f.scenario.space == "sphere":
        return "sphere" if a.scalar_defect <= PROPORTIONAL_TOL else "unproven"
    P = np.array(f.scenario.P)
    gap = float(np.linalg.norm(P / np.linalg.norm(P) - a.M / max(a.norm, 1e-300)))
    return "ellipsoid" if gap <= PROPORTIONAL_TOL else "unproven"


def _predicates(f: Facts) -> list:
    return [
        p.one_head(f),
        p.value_identity(f),
        p.qk_constant(f),
        p.qk_symmetric(f),
        p.qk_positive_definite(f),
        p.mask(f, "none"),
        p.softmax(f),
    ]


def _predict(f: Facts) -> str:
    base = "the tokens converge to an equilibrium (the velocity tends to 0), from every initial position"
    where = regime(f)
    if where == "sphere":
        return base + f"; on the sphere with QᵀK = cI the energy {ENERGY} never decreases"
    if where == "ellipsoid":
        return base + f"; on the ellipsoid P ∝ QᵀK the energy {ENERGY} never decreases"
    return base + (
        "; energy monotonicity is NOT asserted here: the gradient structure is proven on the "
        f"ellipsoid P ∝ QᵀK (or the sphere with QᵀK = cI), and elsewhere {ENERGY} can decrease"
    )


def _observe(f: Facts, result: Result) -> Observation:
    got = frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    v0, vT = velocity(f, float(t[0]), xs[0]), velocity(f, float(t[-1]), xs[-1])
    where = regime(f)
    numbers: dict[str, Any] = {
        "velocity_start": v0,
        "velocity_end": vT,
        "velocity_ratio": vT / v0 if v0 > 0 else 0.0,
        "energy_regime": where,
    }
    if where != "unproven":
        logE = np.asarray(log_gradient_energy(xs, f.A[0].M, f.scenario.beta), dtype=float)
        drop = max_decrease(logE)  # a relative drop of E is a drop of log E (to first order)
        numbers.update(log_energy_start=float(logE[0]), log_energy_end=float(logE[-1]), energy_max_drop=drop)
        verdict = invariant(f, drop, f"the energy ({where} regime, relative)", numbers)
        if verdict is not None:
            return verdict
    if vT <= max(VELOCITY_RATIO * v0, VELOCITY_FLOOR):
        extra = "" if where == "unproven" else " and the energy never decreased"
        return Observation(
            True,
            f"the fastest token's speed fell from {num(v0)} to {num(vT)}{extra}: at an equilibrium by "
            f"T = {t[-1]:g}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: the fastest token's speed fell from {num(v0)} to {num(vT)}, not yet below "
        f"{num(VELOCITY_RATIO)}× its start (the theorem gives no rate)",
        numbers,
    )


def _counter_examples(scenario: Scenario) -> list[tuple[str, Scenario]]:
    d = scenario.d
    A = np.diag(np.linspace(2.0, 0.5, d))
    return keep(
        [
            ("two heads (the gradient structure is for one head)", add_head(scenario)),
            ("QᵀK not symmetric", with_qk(scenario, A + skew(d, 1.0))),
            ("QᵀK indefinite (eigenvalue −1)", with_qk(scenario, np.diag([1.0] * (d - 1) + [-1.0]))),
            ("V = −I instead of I", with_values(scenario, -np.eye(d))),
            ("causal mask", scenario.replace(mask="causal")),
        ]
    )


THEOREM = Theorem(
    id="ast-gradient",
    short="Gradient flow ⇒ an equilibrium",
    cite="Abella et al., Thm 3.1",
    title="One head, V = I, QᵀK symmetric positive definite: a gradient flow",
    source=f"{ABELLA}, Thm A (v1 §3; v2 Thm 3.1)",
    status="theorem",
    model="sphere",
    statement=(
        "gradient flow: the tokens converge to an equilibrium from every initial position; the energy "
        f"{ENERGY} is non-decreasing on the ellipsoid P ∝ QᵀK (on the sphere only if QᵀK = cI)"
    ),
    tolerance=(
        f"equilibrium: the fastest token's speed at T ≤ {num(VELOCITY_RATIO)}× its speed at t = 0 (or ≤ "
        f"{num(VELOCITY_FLOOR)}) — near an equilibrium at T, which may be a saddle that a longer run "
        f"leaves; energy (only where proven): relative {INVARIANT_RULE}"
    ),
    predicates=_predicates,
    observer=_observe,
    predict=_predict,
    describe=lambda f: {"energy_regime": regime(f), "space": f.scenario.space},
    counter_examples=_counter_examples,
    preset="ellipsoid-gradient",
    priority=80,
    finding=(
        "The energy is monotone only where the gradient structure holds: on the unit sphere with a "
        "general symmetric positive definite QᵀK it decreased for some configurations, on the matched "
        "ellipsoid P ∝ QᵀK it never did. Equilibria other than consensus exist (two antipodal tokens)."
    ),
)
