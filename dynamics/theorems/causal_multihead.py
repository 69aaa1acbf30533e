"""Open question after Thm D of Abella et al.: does it hold with several heads?

The first token of a causal mask follows the normalised linear flow of Σₖ Vₖ, so the natural
conjecture is consensus at ±v, v the top eigenvector of Σₖ Vₖ. The card reports what a run shows.
"""

from __future__ import annotations

from . import predicates as p
from .base import Theorem, num
from .facts import LIMIT_TOL, Facts
from .observe import limit
from .sources import ABELLA


def _predicates(f: Facts) -> list:
    vsum = f.value_sum
    return [
        p.several_heads(f),
        p.mask(f, "causal"),
        p.value_constant_symmetric(f),
        p.value_top_simple(vsum, "Σₖ Vₖ"),
        p.value_top_positive(vsum, "Σₖ Vₖ"),
        p.tokens_one_side(f, vsum, "Σₖ Vₖ"),
        p.softmax(f),
    ]


THEOREM = Theorem(
    id="open-causal-symmetric-multihead",
    short="Open: symmetric V with several heads",
    cite="after Abella et al., Thm D",
    title="Open: Thm D with several heads",
    source=f"{ABELLA}, after Thm D: proven for one head only; the authors believe it holds more generally",
    status="open question",
    model="sphere",
    statement=(
        "conjecture: with several heads, constant symmetric Vₖ and tokens on one side of the top "
        "eigenvector v of Σₖ Vₖ (which the first token follows), consensus at ±v"
    ),
    tolerance=f"reported only: the largest angle to s·v at T (consistent if < {num(LIMIT_TOL)} rad)",
    predicates=_predicates,
    observer=lambda f, r: limit(f, r, f.value_sum, open_question=True),
    preset="causal-multihead",
    priority=60,
)
