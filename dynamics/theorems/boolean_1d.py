"""Geshkovski et al. (The emergence of clusters, §2): d = 1 — attention becomes Boolean, two leaders.

Euclidean model in d = 1 with V > 0, QK > 0 and pairwise distinct tokens: the attention matrix
P(t) converges to a matrix whose rows, all but at most one, are the unit vectors of the smallest or
the largest token — every token ends up attending to one of these two leaders; rank P* ≤ 3.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import euclidean as eu
from . import predicates as p
from .base import Assumption, Observation, Theorem, assumption, num
from .facts import EU_BOOLEAN_TOL, EU_RANK_TOL, EuclideanFacts
from .observe import eu_frames
from .sources import GLPR_CLUSTERS


def dim_one(f: EuclideanFacts) -> Assumption:
    return assumption(
        "d_equals_1", "d = 1", "d", f.d == 1, f.d, f"d = {f.d} (the Boolean theorem is one-dimensional)"
    )


def scalar_positive(f: EuclideanFacts, name: str, label: str, m: np.ndarray) -> Assumption:
    v = float(m[0, 0]) if f.d == 1 else math.nan
    return assumption(
        name,
        f"{label} > 0",
        label,
        f.d == 1 and v > 0,
        v if f.d == 1 else "d ≠ 1",
        f"{label} = {v:.4g} (> 0 needed)" if f.d == 1 else f"{label} is a number only in d = 1",
    )


def _attention(f: EuclideanFacts, result: eu.EuclideanResult, t: np.ndarray, z: np.ndarray) -> np.ndarray:
    if result.attention is not None:
        return np.asarray(result.attention, dtype=float)
    return np.stack([eu.attention_matrix(f.scenario, float(tk), zk) for tk, zk in zip(t, z, strict=True)])


def _off_leader(t: np.ndarray, z: np.ndarray, Ps: np.ndarray) -> Observation | None:
    """False if a row of P concentrates on a token that is neither leader, at any saved time.

    x_i x_j is largest at the smallest or the largest token, so the dynamics never does that.
    """
    for k in range(len(t)):
        lo, hi = eu.leaders(z[k])
        arg = Ps[k].argmax(axis=1)
        bad = (Ps[k].max(axis=1) >= 1 - EU_BOOLEAN_TOL) & (arg != lo) & (arg != hi)
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            return Observation(
                False,
                f"at t = {t[k]:g} row {i} of P is concentrated on token {int(arg[i])}, which is neither "
                f"the smallest ({lo}) nor the largest ({hi}) token",
                {"T": float(t[-1])},
            )
    return None


def _observe(f: EuclideanFacts, result: eu.EuclideanResult) -> Observation:
    got = eu_frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, z = got
    Ps = _attention(f, result, t, z)
    refuted = _off_leader(t, z, Ps)
    if refuted is not None:
        return refuted
    P = Ps[-1]
    lo, hi = eu.leaders(z[-1])
    defects = eu.row_leader_defects(P, lo, hi)
    order = np.argsort(defects)
    rest = float(defects[order[:-1]].max()) if len(defects) > 1 else 0.0
    non_boolean = int((defects > EU_BOOLEAN_TOL).sum())
    series = [eu.boolean_defect(Pk) for Pk in Ps]
    numbers: dict[str, Any] = {
        "leaders": [lo, hi],
        "boolean_defect_end": eu.boolean_defect(P),
        "row_defect_all_but_one": rest,
        "rows_not_boolean": non_boolean,
        "exceptional_row": int(order[-1]) if defects[order[-1]] > EU_BOOLEAN_TOL else None,
        "columns_carrying_weight": np.nonzero(P.max(axis=0) > EU_BOOLEAN_TOL)[0].tolist(),
        "rank_end": eu.numerical_rank(P, EU_RANK_TOL),
        "rank_tol": EU_RANK_TOL,
        "boolean_defect_series": [
            [float(t[k]), float(series[k])] for k in range(0, len(t), max(1, len(t) // 10))
        ],
        "T": float(t[-1]),
    }
    if non_boolean <= 1:
        return Observation(
            True,
            f"P(T) is Boolean to {num(rest, 2)} ≤ {num(EU_BOOLEAN_TOL)} on every row but at most one: "
            f"each token attends to token {lo} (the smallest) or {hi} (the largest); "
            f"rank P(T) = {numbers['rank_end']}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: {non_boolean} rows of P(T) are farther than {num(EU_BOOLEAN_TOL)} from the unit "
        f"vectors of tokens {lo} and {hi} at T = {t[-1]:g} (the theorem gives no rate for bounded tokens)",
        numbers,
    )


def _predict(f: EuclideanFacts) -> str:
    if f.d != 1:
        return "P(t) → Boolean with two leaders (d = 1 only)"
    lo, hi = eu.leaders(f.x0)
    return (
        "P(t) → a Boolean matrix: every row but at most one puts all its weight on the smallest "
        f"(token {lo}) or the largest (token {hi}) token — the two leaders; rank P* ≤ 3"
    )


def _counter_examples(es: eu.EuclideanScenario) -> list[tuple[str, eu.EuclideanScenario]]:
    d = es.d
    eye = np.eye(d)
    _, _, V = es.matrices()
    out = [
        ("V < 0", es.replace(V=-abs(float(V[0, 0])) if d == 1 else (-eye).tolist())),
        ("QK < 0", es.replace(Q=1.0 if d == 1 else eye.tolist(), K=-1.0 if d == 1 else (-eye).tolist())),
    ]
    x = es.initial_tokens().copy()
    if len(x) >= 2:
        x[-1] = x[0]
        out.append(("two equal tokens", es.replace(x0=[list(r) for r in x])))
    return out


THEOREM = Theorem(
    id="glpr-boolean-1d",
    short="d = 1 ⇒ Boolean attention, two leaders",
    cite="Geshkovski et al., NeurIPS 2023, §2",
    title="d = 1: attention becomes Boolean, two leaders",
    source=f"{GLPR_CLUSTERS}, the Boolean-attention theorem of §2 (proof in §7)",
    status="theorem",
    model="euclidean",
    statement=(
        "in d = 1 with V > 0 and QK > 0, the attention matrix converges to one whose rows (all but at most "
        "one) put all their weight on the smallest or the largest token"
    ),
    tolerance=(
        f"P(T) Boolean: every row but at most one within {num(EU_BOOLEAN_TOL)} (max-norm) of the unit vector "
        "of a leader (the smallest or largest token); the rank counts singular values above "
        f"{num(EU_RANK_TOL)}× the largest; "
        f"refuted if a row is ≥ 1 − {num(EU_BOOLEAN_TOL)} on a non-leader column at any saved time"
    ),
    predicates=lambda f: [
        p.e_model(f),
        p.e_softmax(f),
        dim_one(f),
        scalar_positive(f, "value_positive", "V", f.V),
        scalar_positive(f, "qk_positive", "QK", f.A),
        p.e_tokens_distinct(f),
    ],
    observer=_observe,
    predict=_predict,
    counter_examples=_counter_examples,
    off_model=lambda f: [p.euclidean_model(f), p.dimension(f, 1, 1)],
    example=lambda: eu.EuclideanScenario(n=12, d=1, T=8.0, dt=0.02, frames=81),
    priority=92,
)
