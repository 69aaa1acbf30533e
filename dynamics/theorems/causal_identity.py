"""Thm C of Abella et al.: causal attention with V = I — everybody goes to the first token.

Causal mask, V = I, any number of heads, any bounded QᵀK(t): the first token never moves
(ẋ₁ = Π(x₁) = 0), and for almost every start every token converges to it.
"""

from __future__ import annotations

import numpy as np

from ..scenario import Scenario
from ..solve import Result
from . import predicates as p
from .base import Observation, Theorem, num
from .edits import keep, with_values
from .facts import FIXED_TOL, LIMIT_TOL, Facts
from .observe import angles_to, frames
from .sources import ABELLA


def _predicates(f: Facts) -> list:
    return [p.mask(f, "causal"), p.value_identity(f), p.qk_bounded(f), p.softmax(f)]


def _observe(f: Facts, result: Result) -> Observation:
    got = frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    x1 = xs[0, 0]
    drift = float(np.linalg.norm(xs[:, 0] - x1, axis=-1).max())
    ang = angles_to(xs[-1], x1)
    numbers = {"first_token_drift": drift, "max_angle_to_first_end": float(ang.max()), "T": float(t[-1])}
    if drift > FIXED_TOL:
        return Observation(
            False, f"the first token moved by {num(drift)} > {num(FIXED_TOL)}; it must stay fixed", numbers
        )
    if ang.max() < LIMIT_TOL:
        return Observation(
            True,
            f"the first token stayed fixed (drift {num(drift, 2)}) and every token is within "
            f"{num(ang.max())} rad of it at T = {t[-1]:g}",
            numbers,
        )
    return Observation(
        None,
        f"the first token stayed fixed (drift {num(drift, 2)}), but at T = {t[-1]:g} some token is still "
        f"{num(ang.max())} rad away: horizon too short (no rate; or one of the exceptional starts, "
        "such as x₂ = −x₁)",
        numbers,
    )


def _counter_examples(scenario: Scenario) -> list[tuple[str, Scenario]]:
    d = scenario.d
    return keep(
        [
            ("mask off (full attention)", scenario.replace(mask="none")),
            ("V = −I instead of I", with_values(scenario, -np.eye(d))),
            (
                "V symmetric with a simple top eigenvalue",
                with_values(scenario, np.diag(np.linspace(1.0, -1.0, d))),
            ),
        ]
    )


THEOREM = Theorem(
    id="ast-causal-identity",
    short="Causal mask, V = I ⇒ all follow the first token",
    cite="Abella et al., Thm 5.1",
    title="Causal attention, V = I: everybody goes to the first token",
    source=f"{ABELLA}, Thm C (v1 §5; v2 Thm 5.1)",
    status="theorem",
    model="sphere",
    statement=(
        "the first token never moves; for almost every start every token converges to it "
        "(asymptotically stable consensus)"
    ),
    tolerance=(
        f"first token: moves by at most {num(FIXED_TOL)}; convergence: every token within "
        f"{num(LIMIT_TOL)} rad of x₁(0) at T"
    ),
    predicates=_predicates,
    observer=_observe,
    counter_examples=_counter_examples,
    preset="causal",
    priority=30,
)
