"""Thm B of Abella et al.: tokens in an open hemisphere reach consensus, whatever the heads do.

Any number of heads, V = I, QᵀK(t) bounded and uniformly continuous, full attention, every token
in one open hemisphere {x : ⟨x, w⟩ > 0}: all tokens converge to one point, and the lowest height
minᵢ ⟨xᵢ(t), w⟩ never decreases (the invariant a run can refute).
"""

from __future__ import annotations

import numpy as np

from ..scenario import Scenario
from . import predicates as p
from .base import Theorem, num
from .edits import NO_HEMISPHERE, antipodal_pair, keep, skew, with_values
from .facts import CONSENSUS_TOL, Facts
from .observe import INVARIANT_RULE, consensus
from .sources import ABELLA


def _predicates(f: Facts) -> list:
    return [p.value_identity(f), p.qk_bounded(f), p.open_hemisphere(f), p.mask(f, "none"), p.softmax(f)]


def _counter_examples(scenario: Scenario) -> list[tuple[str, Scenario]]:
    eye = np.eye(scenario.d)
    return keep(
        [
            (NO_HEMISPHERE, antipodal_pair(scenario)),
            ("V = −I instead of I", with_values(scenario, -eye)),
            ("V with a rotation part (V ≠ I)", with_values(scenario, eye + skew(scenario.d, 1.0))),
            ("causal mask", scenario.replace(mask="causal")),
        ]
    )


THEOREM = Theorem(
    id="ast-hemisphere",
    short="Hemisphere ⇒ consensus",
    cite="Abella et al., Thm 4.1",
    title="Tokens in an open hemisphere reach consensus, whatever the heads",
    source=f"{ABELLA}, Thm B (v1 §4; v2 Thm 4.1)",
    status="theorem",
    model="sphere",
    statement=(
        "consensus (all tokens → one point), and minᵢ ⟨xᵢ, w⟩ never decreases, w the pole of the "
        "initial hemisphere"
    ),
    tolerance=(
        f"consensus: angular spread < {num(CONSENSUS_TOL)} rad at T; invariant minᵢ ⟨xᵢ, w⟩: {INVARIANT_RULE}"
    ),
    predicates=_predicates,
    observer=lambda f, r: consensus(f, r, margin=True, energy=False, rate=False, what="consensus"),
    counter_examples=_counter_examples,
    preset="hemisphere",
    priority=50,
)
