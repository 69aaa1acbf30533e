"""Open question (Geshkovski et al., A mathematical perspective, §6.3, Problem 1): metastability.

On the circle (d = 2) with Q = K = V = I and a large β, tokens quickly form a few clusters that
last for a very long time before merging. How long, and how many, is open; the card reports the
cluster counts a run shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..solve import Result
from . import predicates as p
from .base import Observation, Theorem
from .facts import CLUSTER_COS, Facts
from .observe import cluster_count, frames
from .sources import GLPR_PERSPECTIVE
from .sphere_d3 import identity_setting


def longest_plateau(t: np.ndarray, counts: np.ndarray) -> tuple[int, float, float, int]:
    """(frames, start, end, count) of the longest run of saved frames with the same count ≥ 2."""
    best = (0, 0.0, 0.0, 0)
    start = 0
    for k in range(1, len(counts) + 1):
        if k == len(counts) or counts[k] != counts[start]:
            if counts[start] >= 2 and k - start > best[0]:
                best = (k - start, float(t[start]), float(t[k - 1]), int(counts[start]))
            start = k
    return best


def _observe(f: Facts, result: Result) -> Observation:
    got = frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    counts = np.array([cluster_count(x) for x in xs])
    length, start, end, count = longest_plateau(t, counts)
    picks = np.unique(np.linspace(0, len(t) - 1, min(len(t), 11)).round().astype(int))
    numbers: dict[str, Any] = {
        "cluster_threshold_cos": CLUSTER_COS,
        "cluster_counts": [[float(t[k]), int(counts[k])] for k in picks],
        "clusters_end": int(counts[-1]),
        "T": float(t[-1]),
    }
    if length > 1:
        numbers.update(plateau_clusters=count, plateau_start=start, plateau_end=end)
        plateau = f"; longest multi-cluster plateau: {count} clusters for t from {start:g} to {end:g}"
    else:
        plateau = "; no multi-cluster plateau"
    return Observation(
        None,
        "open question (metastability on the circle: how long multi-cluster plateaus last): "
        f"{int(counts[-1])} cluster(s) at T = {t[-1]:g}{plateau}",
        numbers,
    )


THEOREM = Theorem(
    id="open-metastability",
    short="Open: metastable clusters on the circle",
    cite="Geshkovski et al., Problem 1",
    title="Open: metastable clusters on the circle at large β",
    source=(
        f"{GLPR_PERSPECTIVE}, §6.3, Problem 1 and Fig. 4 (numerics, open there); partial answers: "
        "Geshkovski, Koubbi, Polyanskiy, Rigollet, arXiv:2410.06833 (dynamic metastability)"
    ),
    status="open question",
    model="sphere",
    statement=(
        "on the circle (d = 2) with Q = K = V = I, tokens quickly form a few clusters that persist for "
        "very long times (plateaus) before merging; how long, and how many, is the open question "
        "(Thm 6.1's consensus for almost every start needs d ≥ 3)"
    ),
    tolerance=f"reported only: cluster counts; a cluster = tokens linked by ⟨uᵢ, uⱼ⟩ > {CLUSTER_COS}",
    predicates=lambda f: [*identity_setting(f), p.dimension(f, 2, 2), p.beta_positive(f)],
    observer=_observe,
    preset="metastable",
    priority=70,
    finding=(
        "The paper's figure shows 2 clusters at β = 4 and 3 at β = 9. In our runs (n = 32) these counts "
        "depend on the seed; what held for every seed tried is the order: one cluster at β = 1, at least "
        "as many at β = 9 as at β = 4, and at least two at β = 9 from t = 25 to t = 300."
    ),
)
