"""Thm D of Abella et al.: causal attention, V symmetric with a simple top eigenvalue.

One head, causal mask, V constant and symmetric whose algebraically largest eigenvalue is simple,
every token on the same side of v⊥ (v its eigenvector): consensus, asymptotically stable — at s·v
normalised onto the manifold (our reading: where the first token's normalised linear flow
e^{tV}x₁/‖e^{tV}x₁‖ ends). This project also needs that eigenvalue to be positive (see ``finding``).
"""

from __future__ import annotations

import numpy as np

from ..scenario import Scenario
from . import predicates as p
from .base import Assumption, Theorem, assumption, num
from .edits import add_head, flip_side, keep, skew, with_values
from .facts import CONSENSUS_TOL, LIMIT_TOL, WRONG_LIMIT_TOL, Facts, scenario_facts
from .observe import limit, limit_point
from .sources import ABELLA


def qk_bounded(f: Facts) -> Assumption:
    """Thm D's hypotheses on QᵀK are not in our notes: we require what every sinusoid satisfies."""
    return assumption(
        "qk_bounded",
        "QᵀK bounded",
        "sup ‖QᵀK‖ ≤",
        True,
        max(a.bound for a in f.A),
        "QᵀK is bounded (every constant or sinusoidal QᵀK is). The paper's exact hypotheses on QᵀK are "
        "not in the excerpts we had; this app's checks used constant and sinusoidal QᵀK",
    )


def _predicates(f: Facts) -> list:
    vf = f.V[0]
    return [
        p.one_head(f),
        p.mask(f, "causal"),
        p.value_constant_symmetric(f),
        p.value_top_simple(vf),
        p.value_top_positive(vf),
        p.tokens_one_side(f, vf),
        qk_bounded(f),
        p.softmax(f),
    ]


def _predict(f: Facts) -> str:
    point = ", ".join(f"{x:.3f}" for x in limit_point(f, f.V[0])[:6])
    more = ", …" if f.d > 6 else ""
    return (
        "consensus at the pole of the tokens' half: every token → s·v normalised onto the manifold, "
        f"v the top eigenvector of V (here ({point}{more}))"
    )


def _counter_examples(scenario: Scenario) -> list[tuple[str, Scenario]]:
    vf = scenario_facts(scenario).V[0]
    d = scenario.d
    w, u = np.linalg.eigh(vf.sym)
    repeated = w.copy()
    repeated[-2] = repeated[-1]
    return keep(
        [
            ("V with a repeated top eigenvalue", with_values(scenario, (u * repeated) @ u.T)),
            (
                "V with a negative top eigenvalue (V − (λ₁ + 1)I)",
                with_values(scenario, vf.M - (w[-1] + 1) * np.eye(d)),
            ),
            ("V not symmetric", with_values(scenario, vf.M + skew(d, 1.0 + vf.norm))),
            ("tokens on both sides of v⊥ (last token reflected)", flip_side(scenario, vf.top_vector)),
            ("mask off (full attention)", scenario.replace(mask="none")),
            ("two heads", add_head(scenario)),
        ]
    )


THEOREM = Theorem(
    id="ast-causal-symmetric",
    short="Causal mask, symmetric V ⇒ consensus at its top eigenvector",
    cite="Abella et al., Thm D",
    title="Causal attention, symmetric V with a simple top eigenvalue: consensus at its eigenvector",
    source=f"{ABELLA}, Thm D (v1 §6; its number in v2 is not in our notes)",
    status="theorem",
    model="sphere",
    statement=(
        "consensus at ±v (normalised onto the manifold), v the eigenvector of V's algebraically largest "
        "eigenvalue, the sign being the side of v⊥ that holds the tokens"
    ),
    tolerance=(
        f"limit: every token within {num(LIMIT_TOL)} rad of s·v at T; refuted if consensus (spread < "
        f"{num(CONSENSUS_TOL)}) is reached more than {num(WRONG_LIMIT_TOL)} rad from s·v"
    ),
    predicates=_predicates,
    observer=lambda f, r: limit(f, r, f.V[0], open_question=False),
    predict=_predict,
    describe=lambda f: {"limit_point": [float(x) for x in limit_point(f, f.V[0])]},
    counter_examples=_counter_examples,
    preset="causal-symmetric-v",
    priority=20,
    finding=(
        "The paper asks for a simple top eigenvalue; this app also requires it to be positive. With every "
        "eigenvalue negative the first token still goes to v, but the others do not follow: in all our "
        "runs (d = 3 to 5, 4 to 12 tokens) the tokens ended in the plane of the two top eigenvectors "
        "without consensus — at least one at −v, the others at ±v or elsewhere in that plane."
    ),
)
