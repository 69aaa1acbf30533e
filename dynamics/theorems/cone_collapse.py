"""Lemma 6.4 of Geshkovski et al. (A mathematical perspective): cone collapse.

Q = K = V = I, one head, β > 0, d ≥ 2, every token in one open hemisphere: the tokens converge to a
single point exponentially fast, ‖xᵢ(t) − x*‖ ≤ C e^{−λt}.
"""

from __future__ import annotations

import numpy as np

from ..scenario import Scenario
from . import predicates as p
from .base import Theorem, num
from .edits import NO_HEMISPHERE, add_head, antipodal_pair, keep, with_qk, with_values
from .facts import CONSENSUS_TOL, Facts
from .observe import INVARIANT_RULE, consensus
from .sources import GLPR_PERSPECTIVE
from .sphere_d3 import identity_setting


def _predicates(f: Facts) -> list:
    return [*identity_setting(f), p.dimension(f, 2), p.beta_positive(f), p.open_hemisphere(f)]


def _counter_examples(scenario: Scenario) -> list[tuple[str, Scenario]]:
    d = scenario.d
    return keep(
        [
            (NO_HEMISPHERE, antipodal_pair(scenario)),
            ("QᵀK ≠ I (diagonal, positive definite)", with_qk(scenario, np.diag(np.linspace(2.0, 0.5, d)))),
            ("V = −I instead of I", with_values(scenario, -np.eye(d))),
            ("two heads", add_head(scenario)),
        ]
    )


THEOREM = Theorem(
    id="glpr-cone-collapse",
    short="Cone collapse: exponentially fast consensus",
    cite="Geshkovski et al., Lemma 6.4",
    title="Cone collapse: tokens in an open hemisphere converge exponentially to one point",
    source=f"{GLPR_PERSPECTIVE}, Lemma 6.4",
    status="lemma",
    model="sphere",
    statement=(
        "exponential convergence to a single point: ‖xᵢ(t) − x*‖ ≤ C e^(−λt) (Q = K = V = I, one head, "
        "any β > 0, d ≥ 2)"
    ),
    tolerance=(
        f"consensus: angular spread < {num(CONSENSUS_TOL)} rad at T (the fitted decay rate is reported); "
        f"minᵢ ⟨xᵢ, w⟩ and E_β: {INVARIANT_RULE}"
    ),
    predicates=_predicates,
    observer=lambda f, r: consensus(f, r, margin=True, energy=True, rate=True, what="exponential collapse"),
    counter_examples=_counter_examples,
    preset="cone-collapse",
    priority=10,
)
