"""Thm 6.1 of Geshkovski et al. (A mathematical perspective): d ≥ 3, Q = K = V = I.

For almost every initial configuration on 𝕊ᵈ⁻¹, d ≥ 3, all tokens converge to one point, for SA
and USA and every β ≥ 0 (no rate). Along the way the energy E_β never decreases.
"""

from __future__ import annotations

import numpy as np

from ..scenario import Scenario
from . import predicates as p
from .base import Theorem, num
from .edits import add_head, circle, keep, with_qk, with_values
from .facts import CONSENSUS_TOL, Facts
from .observe import INVARIANT_RULE, consensus
from .sources import GLPR_PERSPECTIVE


def identity_setting(f: Facts) -> list:
    """The setting of the paper's theory: unit sphere, one head, Q = K = V = I, full SA or USA."""
    return [
        p.unit_sphere(f),
        p.one_head(f),
        p.qk_identity(f),
        p.value_identity(f),
        p.mask(f, "none"),
        p.sa_or_usa(f),
    ]


def _counter_examples(scenario: Scenario) -> list[tuple[str, Scenario]]:
    d = scenario.d
    return keep(
        [
            ("the circle, d = 2", circle(scenario)),
            ("QᵀK ≠ I (diagonal, positive definite)", with_qk(scenario, np.diag(np.linspace(2.0, 0.5, d)))),
            ("V = −I instead of I", with_values(scenario, -np.eye(d))),
            ("two heads", add_head(scenario)),
            ("causal mask", scenario.replace(mask="causal")),
        ]
    )


THEOREM = Theorem(
    id="glpr-sphere-d3",
    short="d ≥ 3 ⇒ consensus for almost every start",
    cite="Geshkovski et al., Thm 6.1",
    title="d ≥ 3, Q = K = V = I: consensus for almost every start, any β",
    source=f"{GLPR_PERSPECTIVE}, Thm 6.1",
    status="theorem",
    model="sphere",
    statement=(
        "for almost every initial configuration all tokens converge to one point (SA and USA, any "
        "β ≥ 0, no rate); the energy E_β never decreases along the way"
    ),
    tolerance=f"consensus: angular spread < {num(CONSENSUS_TOL)} rad at T; E_β: relative {INVARIANT_RULE}",
    predicates=lambda f: [*identity_setting(f), p.dimension(f, 3)],
    observer=lambda f, r: consensus(f, r, margin=False, energy=True, rate=False, what="consensus"),
    counter_examples=_counter_examples,
    preset="consensus",
    priority=40,
)
