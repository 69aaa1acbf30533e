"""The theorem registry: what the papers prove, when it applies, and whether a run shows it.

    from dynamics.theorems import evaluate, counter_examples, REGISTRY
    cards = evaluate(scenario)                 # assumptions only
    cards = evaluate(scenario, simulate(s))    # … and what the trajectory shows
    [c.to_json() for c in cards]               # the JSON of ``python -m dynamics check``

One :class:`Theorem` per result. Its assumptions are named predicates evaluated on a scenario,
each with the number that decides it (:class:`Assumption`); its ``observed(result)`` decides from
a trajectory whether the prediction came true (:class:`Observation`), with the tolerance stated
in the card. ``observed`` is ``None`` when the theorem does not apply, when the horizon is too
short to decide, or for open questions (which report numbers, not verdicts).

Honesty rules followed here (see /work/shared/math/README.md §A.3, §D, §E, §F):

* asymptotic statements without a rate are never "refuted" by a finite run: not reaching the
  tolerance by T gives ``None`` ("horizon too short"); ``False`` is reserved for what a finite run
  can contradict — an invariant that must hold at every time (a monotone energy or margin, a
  token that must not move) or convergence to a point other than the predicted one;
* energy monotonicity for the gradient-flow theorem is asserted only where it is proven (sphere
  with QᵀK = cI, or the ellipsoid P ∝ QᵀK); elsewhere the card says it is not asserted;
* hypotheses that the notes mark UNCONFIRMED are said so in the assumption's ``detail``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from . import euclidean as _eu
from .field import AttentionField
from .initial import initial_tokens
from .limits import check_facts
from .matrices import build_heads
from .metrics import (
    HemisphereTest,
    clusters,
    diameter,
    interaction_energy,
    log_gradient_energy,
    open_hemisphere,
)
from .scenario import Head, MatrixSpec, Scenario
from .solve import Result, effective_dt

# ------------------------------------------------------------------ tolerances (stated in cards)
SYMMETRY_TOL = 1e-8  # ‖M − Mᵀ‖_F / ‖M‖_F below this counts as symmetric
IDENTITY_TOL = 1e-9  # ‖M − I‖_F / √d below this counts as the identity
PROPORTIONAL_TOL = 1e-8  # ‖M/‖M‖ − N/‖N‖‖_F below this: M ∝ N (positive factor)
GAP_TOL = 1e-8  # (λ₁ − λ₂) / max(1, max|λ|) above this: the top eigenvalue is simple
HEMISPHERE_TOL = 1e-9  # LP margin above this: the tokens lie in an open hemisphere
SIDE_TOL = 1e-9  # min_i s⟨u_i, v⟩ above this: all tokens strictly on one side of v^⊥
CONSENSUS_TOL = 1e-3  # angular diameter (rad) at T below this: consensus
LIMIT_TOL = 1e-3  # max angle (rad) to a predicted limit point
WRONG_LIMIT_TOL = 1e-2  # consensus farther than this from the predicted point: refuted
VELOCITY_RATIO = 1e-3  # max‖ẋ_i(T)‖ ≤ this × max‖ẋ_i(0)‖: converged to an equilibrium
VELOCITY_FLOOR = 1e-9  # … or below this in absolute terms
MONOTONE_TOL = 1e-8  # largest relative decrease between saved frames tolerated (integration error)
FIXED_TOL = 1e-10  # max‖x_1(t) − x_1(0)‖ of a token that must not move
CLUSTER_COS = 0.999  # ⟨u_i, u_j⟩ > 0.999: same cluster (Geshkovski et al.'s threshold)
STABILITY = {"euler": 2.0, "rk4": 2.5}  # a fixed step resolves the flow if h·L is at most this
INVARIANT_RULE = (
    f"drops between saved frames ≤ {MONOTONE_TOL:g} (adaptive runs: ≤ 10·rtol); a larger drop refutes "
    "only if the run resolves the flow (fixed step with h·L ≤ 2 for Euler, 2.5 for RK4), otherwise no verdict"
)

A1 = (
    "Rodríguez Abella, Silvestre, Tabuada — The asymptotic behavior of attention in transformers, "
    "arXiv:2412.02682"
)
G4 = (
    "Geshkovski, Letrouit, Polyanskiy, Rigollet — A mathematical perspective on Transformers, "
    "arXiv:2312.10794 (v5)"
)
G2 = (
    "Geshkovski, Letrouit, Polyanskiy, Rigollet — The emergence of clusters in self-attention "
    "dynamics, arXiv:2305.05465 (v6)"
)
EUCLIDEAN_REASON = (
    "a result about the Euclidean model in R^d: evaluate it on a dynamics.euclidean.EuclideanScenario "
    "(evaluate_euclidean; the app's Euclidean-model page)"
)


# ------------------------------------------------------------------ public dataclasses
@dataclass(frozen=True)
class Assumption:
    """One hypothesis evaluated on a scenario: does it hold, and the number (or word) deciding it."""

    name: str
    holds: bool
    value: float | str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"holds": self.holds, "value": _clean(self.value), "detail": self.detail}


@dataclass(frozen=True)
class Observation:
    """What a trajectory shows: True/False, or None (does not apply, undecided, open question)."""

    value: bool | None
    reason: str
    numbers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Card:
    """A theorem evaluated on one scenario (and, if given, one trajectory)."""

    id: str
    title: str
    source: str
    status: str
    assumptions: dict[str, Assumption]
    applies: bool
    prediction: str
    tolerance: str
    observed: bool | None
    reason: str
    numbers: dict

    def to_json(self) -> dict[str, Any]:
        """The ``check`` contract keys, plus title, status, tolerance and assumption details."""
        return {
            "id": self.id,
            "source": self.source,
            "assumptions": {k: bool(a.holds) for k, a in self.assumptions.items()},
            "applies": bool(self.applies),
            "prediction": self.prediction,
            "observed": self.observed,
            "reason": self.reason,
            "numbers": _clean(self.numbers),
            "title": self.title,
            "status": self.status,
            "tolerance": self.tolerance,
            "assumption_details": {k: a.to_json() for k, a in self.assumptions.items()},
        }


# ------------------------------------------------------------------ facts about a scenario
@dataclass(frozen=True)
class MatrixFacts:
    """Spectral facts of one value matrix V or key–query product A = QᵀK of one head."""

    constant: bool
    M: np.ndarray  # the matrix at t = 0 (the matrix, if constant)
    norm: float  # ‖M‖_F
    symmetry_defect: float  # ‖M − Mᵀ‖_F / ‖M‖_F (worst over the sampled times if not constant)
    identity_defect: float  # ‖M − I‖_F / √d (inf if not constant)
    scalar_defect: float  # ‖M/‖M‖ − I/√d‖_F: distance of the direction of M to that of I
    eigs: np.ndarray  # eigenvalues of the symmetric part of M, descending
    top_vector: np.ndarray  # unit eigenvector of the largest one
    bound: float  # sup_t ‖M(t)‖₂ (upper bound)
    lipschitz: float  # sup_t ‖Ṁ(t)‖₂ (upper bound)

    @property
    def symmetric(self) -> bool:
        return self.symmetry_defect <= SYMMETRY_TOL

    @property
    def identity(self) -> bool:
        return self.constant and self.identity_defect <= IDENTITY_TOL

    @property
    def top_gap(self) -> float:
        return float(self.eigs[0] - self.eigs[1]) if self.eigs.size > 1 else math.inf

    @property
    def top_simple(self) -> bool:
        scale = max(1.0, float(np.abs(self.eigs).max()))
        return self.top_gap > GAP_TOL * scale

    @property
    def min_eig(self) -> float:
        return float(self.eigs[-1])


@dataclass(frozen=True)
class Facts:
    """Everything the assumptions look at, computed once per scenario."""

    scenario: Scenario
    heads: tuple[Head, ...]
    x0: np.ndarray
    hemisphere: HemisphereTest
    V: tuple[MatrixFacts, ...]
    A: tuple[MatrixFacts, ...]

    @property
    def h(self) -> int:
        return len(self.heads)

    @property
    def d(self) -> int:
        return self.scenario.d


def _spec_constant(ms: MatrixSpec) -> bool:
    return ms.sin is None or ms.omega == 0 or not np.any(np.array(ms.sin))


def _sym_defect(m: np.ndarray) -> float:
    norm = float(np.linalg.norm(m))
    return 0.0 if norm == 0 else float(np.linalg.norm(m - m.T)) / norm


def _matrix_facts(mats: Sequence[np.ndarray], constant: bool, bound: float, lipschitz: float) -> MatrixFacts:
    m = np.asarray(mats[0], dtype=float)
    d = m.shape[0]
    norm = float(np.linalg.norm(m))
    sym = (m + m.T) / 2
    w, u = np.linalg.eigh(sym)
    order = np.argsort(w)[::-1]
    eigs, top = w[order], u[:, order[0]]
    return MatrixFacts(
        constant=constant,
        M=m,
        norm=norm,
        symmetry_defect=max(_sym_defect(np.asarray(x, dtype=float)) for x in mats),
        identity_defect=float(np.linalg.norm(m - np.eye(d))) / math.sqrt(d) if constant else math.inf,
        scalar_defect=(float(np.linalg.norm(m / norm - np.eye(d) / math.sqrt(d))) if norm > 0 else math.inf),
        eigs=eigs,
        top_vector=top / np.linalg.norm(top),
        bound=bound,
        lipschitz=lipschitz,
    )


def _spec_lipschitz(ms: MatrixSpec) -> float:
    return 0.0 if _spec_constant(ms) else abs(ms.omega) * float(np.linalg.norm(np.array(ms.sin), 2))


def _head_facts(head: Head, T: float) -> tuple[MatrixFacts, MatrixFacts]:
    v_const = _spec_constant(head.V)
    # time-varying V(t) = V₀ + V₁ sin(…) is symmetric at all times iff V₀ and V₁ are
    v_mats = [head.V.at(0.0)] if v_const else [head.V.at(0.0), np.array(head.V.const), np.array(head.V.sin)]
    V = _matrix_facts(v_mats, v_const, head.V.norm_bound(), _spec_lipschitz(head.V))
    # A(t) = Q(t)ᵀK(t): constant if Q and K are; otherwise sampled (it may still be constant).
    times = (
        [0.0]
        if (_spec_constant(head.Q) and _spec_constant(head.K))
        else list(np.linspace(0.0, max(T, 2 * math.pi), 97) + 0.137)
    )
    a_mats = [head.Q.at(t).T @ head.K.at(t) for t in [0.0, *times]]
    a0 = a_mats[0]
    variation = max(float(np.linalg.norm(a - a0)) for a in a_mats)
    a_const = variation <= 1e-12 * (1.0 + float(np.linalg.norm(a0)))
    qb, kb = head.Q.norm_bound(), head.K.norm_bound()
    a_lip = _spec_lipschitz(head.Q) * kb + qb * _spec_lipschitz(head.K)
    A = _matrix_facts(a_mats, a_const, qb * kb, a_lip)
    return V, A


def scenario_facts(scenario: Scenario) -> Facts:
    """Compute the facts of a scenario (tokens, hemisphere LP, spectra of V and QᵀK per head)."""
    check_facts(scenario)  # the budget before any work (BudgetError: too large to check)
    heads = build_heads(scenario)
    x0 = initial_tokens(scenario)
    hemi = open_hemisphere(x0, tol=HEMISPHERE_TOL)
    pairs = [_head_facts(h, scenario.T) for h in heads]
    return Facts(
        scenario=scenario,
        heads=heads,
        x0=x0,
        hemisphere=hemi,
        V=tuple(p[0] for p in pairs),
        A=tuple(p[1] for p in pairs),
    )


# ------------------------------------------------------------------ predicates
def _a(name: str, holds: bool, value: float | str, detail: str) -> Assumption:
    return Assumption(name, bool(holds), value if isinstance(value, str) else float(value), detail)


def p_one_head(f: Facts) -> Assumption:
    return _a("one_head", f.h == 1, f.h, f"{f.h} head(s); the theorem is stated for a single head")


def p_several_heads(f: Facts) -> Assumption:
    return _a("several_heads", f.h >= 2, f.h, f"{f.h} head(s); the open question is about h ≥ 2")


def p_value_identity(f: Facts) -> Assumption:
    if not all(v.constant for v in f.V):
        return _a("value_identity", False, "time-varying", "V(t) varies in time, so it is not I")
    worst = max(v.identity_defect for v in f.V)
    return _a(
        "value_identity",
        worst <= IDENTITY_TOL,
        worst,
        f"max over heads of ‖V − I‖_F/√d = {worst:.3g} (tolerance {IDENTITY_TOL:g})",
    )


def p_softmax(f: Facts) -> Assumption:
    att = f.scenario.attention
    return _a(
        "softmax_attention",
        att == "softmax",
        att,
        "the paper's model is softmax self-attention; unnormalized attention (USA) is not covered "
        "by the theorem as stated",
    )


def p_sa_or_usa(f: Facts) -> Assumption:
    att = f.scenario.attention
    return _a("sa_or_usa", att in ("softmax", "unnormalized"), att, "SA and USA are both covered")


def p_mask(f: Facts, want: str) -> Assumption:
    mask = f.scenario.mask
    name = "causal_mask" if want == "causal" else "full_attention"
    return _a(name, mask == want, mask, f"mask = {mask!r}; the theorem needs {want!r}")


def p_qk_constant(f: Facts) -> Assumption:
    ok = all(a.constant for a in f.A)
    return _a(
        "qk_constant",
        ok,
        "constant" if ok else "time-varying",
        "QᵀK must be time-invariant (Q(t)ᵀK(t) sampled over [0, max(T, 2π)])",
    )


def p_qk_symmetric(f: Facts) -> Assumption:
    worst = max(a.symmetry_defect for a in f.A)
    return _a(
        "qk_symmetric",
        worst <= SYMMETRY_TOL,
        worst,
        f"max over heads of ‖A − Aᵀ‖_F/‖A‖_F = {worst:.3g}, A = QᵀK (tolerance {SYMMETRY_TOL:g})",
    )


def p_qk_positive_definite(f: Facts) -> Assumption:
    lo = min(a.min_eig for a in f.A)
    return _a(
        "qk_positive_definite",
        lo > 0 and f.scenario.beta > 0,
        lo,
        f"smallest eigenvalue of sym(QᵀK) = {lo:.4g} (must be > 0; the score matrix is β·QᵀK, "
        f"β = {f.scenario.beta:g} must be > 0)",
    )


def p_qk_bounded(f: Facts) -> Assumption:
    bound = max(a.bound for a in f.A)
    lip = max(a.lipschitz for a in f.A)
    return _a(
        "qk_bounded_uniformly_continuous",
        math.isfinite(bound) and math.isfinite(lip),
        bound,
        f"QᵀK(t) = (Q₀ + Q₁ sin)ᵀ(K₀ + K₁ sin) is bounded by ‖Q‖‖K‖ ≤ {bound:.4g} and Lipschitz "
        f"with constant ≤ {lip:.4g}, hence uniformly continuous (always true for sinusoids)",
    )


def p_qk_identity(f: Facts) -> Assumption:
    if not all(a.constant for a in f.A):
        return _a("qk_identity", False, "time-varying", "Q(t)ᵀK(t) varies in time, so it is not I")
    worst = max(a.identity_defect for a in f.A)
    return _a(
        "qk_identity",
        all(a.identity for a in f.A),
        worst,
        f"‖QᵀK − I‖_F/√d = {worst:.3g} (the dynamics sees Q, K only through QᵀK; tolerance {IDENTITY_TOL:g})",
    )


def p_open_hemisphere(f: Facts) -> Assumption:
    hemi = f.hemisphere
    return _a(
        "open_hemisphere",
        hemi.contained,
        hemi.margin,
        f"LP margin max_w min_i ⟨u_i, w⟩ = {hemi.margin:.4g} (> {HEMISPHERE_TOL:g} needed; 0 for "
        "points on a great circle or with an antipodal pair)",
    )


def p_sphere(f: Facts) -> Assumption:
    return _a("unit_sphere", f.scenario.space == "sphere", f.scenario.space, "the theorem is on S^{d−1}")


def p_dim(f: Facts, lo: int, hi: int | None = None) -> Assumption:
    d = f.d
    ok = d >= lo and (hi is None or d <= hi)
    name = f"d_at_least_{lo}" if hi is None else (f"d_equals_{lo}" if hi == lo else f"d_{lo}_{hi}")
    return _a(name, ok, d, f"d = {d}")


def p_beta_positive(f: Facts) -> Assumption:
    b = f.scenario.beta
    return _a("beta_positive", b > 0, b, f"β = {b:g} (> 0 needed)")


def p_value_constant_symmetric(f: Facts) -> Assumption:
    ok = all(v.constant and v.symmetric for v in f.V)
    worst = max(v.symmetry_defect for v in f.V)
    return _a(
        "value_constant_symmetric",
        ok,
        worst,
        f"V time-invariant and ‖V − Vᵀ‖_F/‖V‖_F = {worst:.3g} ≤ {SYMMETRY_TOL:g}",
    )


def _value_sum(f: Facts) -> MatrixFacts:
    """Facts of Σ_k V_k (the matrix the first token of a causal mask follows)."""
    m = sum(v.M for v in f.V)
    return _matrix_facts([m], all(v.constant for v in f.V), 0.0, 0.0)


def p_value_top_simple(f: Facts, vf: MatrixFacts, label: str = "V") -> Assumption:
    return _a(
        "value_top_simple",
        vf.top_simple,
        vf.top_gap,
        f"eigenvalues of {label}: {', '.join(f'{x:.4g}' for x in vf.eigs)}; gap λ₁ − λ₂ = "
        f"{vf.top_gap:.3g} (the algebraically largest must be simple; it need not be the largest "
        "in modulus)",
    )


def p_value_top_positive(f: Facts, vf: MatrixFacts, label: str = "V") -> Assumption:
    return _a(
        "value_top_positive",
        vf.eigs[0] > 0,
        float(vf.eigs[0]),
        f"largest eigenvalue of {label} = {vf.eigs[0]:.4g} (> 0 needed). The paper's exact "
        "hypothesis is UNCONFIRMED; without it the result is false in our simulations: with "
        "λ₁ < 0 the first token still goes to ±v, but it pushes the later tokens away "
        "(Σ_j α_ij λ₁ v points to −v), and they split between +v and −v",
    )


def _side(f: Facts, v: np.ndarray) -> tuple[int, float]:
    """(s, margin): s = ±1 the side of v^⊥ holding the tokens, margin = min_i s⟨u_i, v⟩."""
    u = f.x0 / np.linalg.norm(f.x0, axis=1, keepdims=True)
    c = u @ v
    s = 1 if c[0] >= 0 else -1
    return s, float((s * c).min())


def p_one_side(f: Facts, vf: MatrixFacts, label: str = "V") -> Assumption:
    s, margin = _side(f, vf.top_vector)
    return _a(
        "tokens_one_side",
        margin > SIDE_TOL,
        margin,
        f"min_i ⟨u_i, {'+' if s > 0 else '−'}v⟩ = {margin:.4g} with v the top eigenvector of {label} "
        "(> 0 needed: all tokens in one open half of the sphere cut by v^⊥)",
    )


def p_euclidean(f: Facts) -> Assumption:
    return _a(
        "euclidean_model",
        False,
        f.scenario.space,
        "the result is about the unnormalized dynamics in R^d (no layer norm); this engine "
        f"integrates on the {f.scenario.space} — {EUCLIDEAN_REASON}",
    )


# ------------------------------------------------------------------ helpers for observations
def _frames(result: Result) -> tuple[np.ndarray, np.ndarray] | str:
    """(t, xs) in float64, or a reason why the trajectory cannot be judged."""
    xs = np.asarray(result.x, dtype=np.float64)
    if xs.ndim != 3:
        return "an ensemble result: evaluate each system's scenario separately"
    if not np.all(np.isfinite(xs)):
        return f"the run failed ({result.message}); nothing to observe"
    if len(result.t) < 2 or float(result.t[-1]) <= 0:
        return "horizon too short: the run has no time span (T = 0)"
    return np.asarray(result.t, dtype=float), xs


def _angles_to(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Angles (rad) between the rows of x and the vector p (accurate near 0)."""
    u = x / np.linalg.norm(x, axis=-1, keepdims=True)
    q = p / np.linalg.norm(p)
    chord = np.linalg.norm(u - q, axis=-1)
    return 2 * np.arcsin(np.minimum(chord / 2, 1.0))


def _max_relative_decrease(values: np.ndarray) -> float:
    """Largest drop between consecutive frames, relative to the value before it (≥ 0)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return 0.0
    drop = (v[:-1] - v[1:]) / np.maximum(np.abs(v[:-1]), 1e-300)
    return float(max(0.0, drop.max()))


def _max_decrease(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    return float(max(0.0, (v[:-1] - v[1:]).max())) if v.size > 1 else 0.0


def _diameter(xs: np.ndarray) -> np.ndarray:
    """Angular diameter per frame, accurate near 0.

    metrics.diameter forms ‖u_i − u_j‖² from Gram entries, which cancels catastrophically: it
    cannot report diameters below ≈ 2e-8 rad. Frames it puts below 1e-6 are recomputed from
    explicit differences: all pairs when that is cheap, else 2·max_i‖u_i − u_1‖ (an upper bound
    within a factor 2).
    """
    diam = np.array(diameter(xs), dtype=float, ndmin=1)
    n, d = xs.shape[-2], xs.shape[-1]
    small = np.nonzero(diam < 1e-6)[0]
    exact = n > 1 and small.size * n * n * d <= 2e8
    for k in small:
        u = xs[k] / np.linalg.norm(xs[k], axis=-1, keepdims=True)
        if exact:
            chord = max(float(np.linalg.norm(u[i + 1 :] - u[i], axis=-1).max()) for i in range(n - 1))
        else:
            chord = min(2.0, 2 * float(np.linalg.norm(u - u[0], axis=-1).max()))
        diam[k] = 2 * math.asin(chord / 2)
    return diam


def _consensus_numbers(t: np.ndarray, xs: np.ndarray) -> dict[str, Any]:
    diam = _diameter(xs)
    below = np.nonzero(diam >= CONSENSUS_TOL)[0]
    if below.size == 0:
        tc: float | None = float(t[0])
    elif below[-1] == len(t) - 1:
        tc = None
    else:
        tc = float(t[below[-1] + 1])
    return {
        "diameter_start": float(diam[0]),
        "diameter_end": float(diam[-1]),
        "consensus_time": tc,
        "T": float(t[-1]),
    }


def _velocity(f: Facts, t: float, X: np.ndarray) -> float:
    fld = AttentionField.from_scenario(f.scenario, f.heads)
    with np.errstate(all="ignore"):
        v = fld(t, np.array(X, dtype=np.float64))
    return float(np.linalg.norm(v, axis=-1).max())


def _cluster_count(X: np.ndarray) -> int:
    eps = math.sqrt(2 * (1 - CLUSTER_COS))
    return int(clusters(X, eps).max()) + 1


def _centrally_symmetric(x0: np.ndarray, tol: float = 1e-9) -> bool:
    """Every token's antipode is also a token (then x ↦ −x keeps the configuration symmetric)."""
    u = x0 / np.linalg.norm(x0, axis=1, keepdims=True)
    dist, _ = cKDTree(u).query(-u)
    return bool(np.all(dist < tol))


def _stiffness(f: Facts) -> float:
    """h·L: the fixed step times a bound L of the field's rate, L = Σ_k ‖V_k‖(1 + β‖A_k‖r²)·g_k,
    g_k = e^{β‖A_k‖r²} for unnormalized attention (whose weights are not bounded by 1), else 1."""
    s = f.scenario
    r2 = 1.0 if s.P is None else 1.0 / float(np.linalg.eigvalsh(np.array(s.P))[0])
    rate = 0.0
    for v, a in zip(f.V, f.A, strict=True):
        ba = s.beta * a.bound * r2
        rate += v.bound * (1.0 + ba) * (math.exp(min(ba, 700.0)) if s.attention == "unnormalized" else 1.0)
    return effective_dt(s) * rate


def _invariant(f: Facts, drop: float, what: str, numbers: dict[str, Any]) -> Observation | None:
    """Judge a drop of a quantity that is non-decreasing along the exact flow.

    None (no verdict from this check) when the drop is within the allowance; otherwise False if
    the run resolves the flow, None with the reason if the step is too coarse for the discrete
    scheme to inherit the invariant (the theorems are about the continuous flow).
    """
    s = f.scenario
    if s.integrator == "adaptive":
        allowance = max(MONOTONE_TOL, 10 * s.rtol)
        resolved, note = True, f"adaptive steps, rtol {s.rtol:g}"
    else:
        allowance = MONOTONE_TOL
        sigma = _stiffness(f)
        limit = STABILITY[s.integrator]
        resolved = sigma <= limit
        note = f"{s.integrator} step h·L ≈ {sigma:.3g} (resolved if ≤ {limit:g})"
        numbers["step_stiffness"] = sigma
    numbers["invariant_allowance"] = allowance
    if drop <= allowance:
        return None
    if resolved:
        return Observation(
            False,
            f"{what} decreased by {drop:.3g} > {allowance:g} between saved frames although it is "
            f"proven non-decreasing ({note})",
            numbers,
        )
    return Observation(
        None,
        f"{what} decreased by {drop:.3g} between saved frames, but the step is too coarse to "
        f"decide ({note}): the theorem is about the continuous flow; reduce dt",
        numbers,
    )


# ------------------------------------------------------------------ the Theorem type
Predicates = Callable[[Facts], list[Assumption]]
Observer = Callable[[Facts, Result], Observation]


@dataclass(frozen=True)
class Theorem:
    """One registered result. ``assumptions(facts)`` → predicates, ``observe(facts, result)``."""

    id: str
    title: str
    source: str
    status: str  # "theorem" | "lemma" | "open question" | "not in this model"
    statement: str  # the prediction in words (scenario-independent)
    tolerance: str
    predicates: Predicates
    observer: Observer | None = None
    predict: Callable[[Facts], str] | None = None  # scenario-specific wording, if any
    not_applicable_reason: str | None = None  # a fixed reason (e.g. a model this engine lacks)
    describe: Callable[[Facts], dict[str, Any]] | None = None  # extra scenario numbers for the card
    euclidean: EuclideanEntry | None = None  # how it is checked on the Euclidean model, if it is about it

    def facts(self, scenario: Scenario) -> Facts:
        return scenario_facts(scenario)

    def assumptions(self, scenario_or_facts: Scenario | Facts) -> dict[str, Assumption]:
        f = scenario_or_facts if isinstance(scenario_or_facts, Facts) else scenario_facts(scenario_or_facts)
        return {a.name: a for a in self.predicates(f)}

    def applies(self, scenario_or_facts: Scenario | Facts) -> bool:
        if self.not_applicable_reason is not None:
            return False
        return all(a.holds for a in self.assumptions(scenario_or_facts).values())

    def prediction(self, f: Facts) -> str:
        return self.predict(f) if self.predict is not None else self.statement

    def observed(self, result: Result, facts: Facts | None = None) -> Observation:
        """Decide from a trajectory whether the prediction came true (see the card's tolerance)."""
        f = facts if facts is not None else scenario_facts(result.scenario)
        assumptions = self.assumptions(f)
        if self.not_applicable_reason is not None:
            return Observation(None, self.not_applicable_reason)
        failed = [a for a in assumptions.values() if not a.holds]
        if failed and self.status != "open question":
            return Observation(None, "does not apply: " + _failed_text(failed))
        if failed:
            return Observation(None, "the open question's setting does not hold: " + _failed_text(failed))
        if self.observer is None:  # pragma: no cover - every applicable entry has an observer
            return Observation(None, "no observation is defined for this entry")
        return self.observer(f, result)

    def card(self, f: Facts, result: Result | None = None) -> Card:
        assumptions = self.assumptions(f)
        applies = self.not_applicable_reason is None and all(a.holds for a in assumptions.values())
        numbers: dict[str, Any] = {
            name: a.value for name, a in assumptions.items() if not isinstance(a.value, str)
        }
        numbers.update({"heads": f.h, "d": f.d, "n": f.scenario.n, "beta": f.scenario.beta})
        if self.describe is not None:
            numbers.update(self.describe(f))
        if result is None:
            if self.not_applicable_reason is not None:
                obs = Observation(None, self.not_applicable_reason)
            elif not applies:
                failed = [a for a in assumptions.values() if not a.holds]
                what = (
                    "the open question's setting does not hold"
                    if self.status == "open question"
                    else ("does not apply")
                )
                obs = Observation(None, f"{what}: {_failed_text(failed)}")
            else:
                obs = Observation(None, "assumptions hold; no trajectory given, nothing observed")
        else:
            obs = self.observed(result, f)
        numbers.update(obs.numbers)
        return Card(
            id=self.id,
            title=self.title,
            source=self.source,
            status=self.status,
            assumptions=assumptions,
            applies=applies,
            prediction=self.prediction(f),
            tolerance=self.tolerance,
            observed=obs.value,
            reason=obs.reason,
            numbers=numbers,
        )

    def euclidean_card(
        self, es_or_facts: _eu.EuclideanScenario | EuclideanFacts, result: _eu.EuclideanResult | None = None
    ) -> Card:
        """This result evaluated on the Euclidean model (ValueError for results about the sphere)."""
        entry = self.euclidean
        if entry is None:
            raise ValueError(f"{self.id} is not a result about the Euclidean model")
        f = es_or_facts if isinstance(es_or_facts, EuclideanFacts) else euclidean_facts(es_or_facts)
        assumptions = {a.name: a for a in entry.predicates(f)}
        failed = [a for a in assumptions.values() if not a.holds]
        applies = not failed
        numbers: dict[str, Any] = {
            name: a.value for name, a in assumptions.items() if not isinstance(a.value, str)
        }
        numbers.update({"d": f.d, "n": f.scenario.n})
        if not applies:
            obs = Observation(None, "does not apply: " + _failed_text(failed))
        elif result is None:
            obs = Observation(None, "assumptions hold; no trajectory given, nothing observed")
        else:
            obs = entry.observer(f, result)
        numbers.update(obs.numbers)
        return Card(
            id=self.id,
            title=self.title,
            source=self.source,
            status=entry.status,
            assumptions=assumptions,
            applies=applies,
            prediction=entry.predict(f) if entry.predict is not None else self.statement,
            tolerance=entry.tolerance,
            observed=obs.value,
            reason=obs.reason,
            numbers=numbers,
        )


def _failed_text(failed: Sequence[Assumption]) -> str:
    return "; ".join(f"{a.name} fails ({a.detail})" for a in failed)


# ------------------------------------------------------------------ ast-gradient (Thm A)
def _gradient_regime(f: Facts) -> str:
    """'sphere' (A = cI on S^{d−1}), 'ellipsoid' (P ∝ A) or 'unproven'."""
    a = f.A[0]
    if f.h != 1 or not (a.constant and a.symmetric and a.min_eig > 0):
        return "unproven"
    if f.scenario.space == "sphere":
        return "sphere" if a.scalar_defect <= PROPORTIONAL_TOL else "unproven"
    P = np.array(f.scenario.P)
    gap = float(np.linalg.norm(P / np.linalg.norm(P) - a.M / max(a.norm, 1e-300)))
    return "ellipsoid" if gap <= PROPORTIONAL_TOL else "unproven"


def _gradient_predicates(f: Facts) -> list[Assumption]:
    return [
        p_one_head(f),
        p_value_identity(f),
        p_qk_constant(f),
        p_qk_symmetric(f),
        p_qk_positive_definite(f),
        p_mask(f, "none"),
        p_softmax(f),
    ]


def _gradient_predict(f: Facts) -> str:
    base = "the tokens converge to an equilibrium (the velocity tends to 0), from every initial position"
    regime = _gradient_regime(f)
    if regime == "sphere":
        return base + "; on the sphere with QᵀK = cI the energy ½Σ_ij e^{β⟨x_i, QᵀK x_j⟩} never decreases"
    if regime == "ellipsoid":
        return base + "; on the ellipsoid P ∝ QᵀK the energy ½Σ_ij e^{β⟨x_i, QᵀK x_j⟩} never decreases"
    return base + (
        "; energy monotonicity is NOT asserted here: the gradient structure is proven on the "
        "ellipsoid P ∝ QᵀK (or the sphere with QᵀK = cI), and on this manifold ½Σe^{β⟨x_i,QᵀKx_j⟩} "
        "can decrease (§A.3, test P1-8)"
    )


def _gradient_observe(f: Facts, result: Result) -> Observation:
    got = _frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    v0, vT = _velocity(f, float(t[0]), xs[0]), _velocity(f, float(t[-1]), xs[-1])
    regime = _gradient_regime(f)
    numbers: dict[str, Any] = {
        "velocity_start": v0,
        "velocity_end": vT,
        "velocity_ratio": vT / v0 if v0 > 0 else 0.0,
        "energy_regime": regime,
    }
    if regime != "unproven":
        logE = np.asarray(log_gradient_energy(xs, f.A[0].M, f.scenario.beta), dtype=float)
        # a relative drop of E is a drop of log E (to first order)
        drop = _max_decrease(logE)
        numbers.update(log_energy_start=float(logE[0]), log_energy_end=float(logE[-1]), energy_max_drop=drop)
        verdict = _invariant(f, drop, f"the energy ({regime} regime, relative)", numbers)
        if verdict is not None:
            return verdict
    if vT <= max(VELOCITY_RATIO * v0, VELOCITY_FLOOR):
        extra = "" if regime == "unproven" else " and the energy never decreased"
        return Observation(
            True,
            f"max‖ẋ_i‖ fell from {v0:.3g} to {vT:.3g}{extra}: at an equilibrium by T = {t[-1]:g}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: max‖ẋ_i‖ fell from {v0:.3g} to {vT:.3g}, not yet below "
        f"{VELOCITY_RATIO:g}× its start (the theorem gives no rate)",
        numbers,
    )


# ------------------------------------------------------------------ hemisphere-type observations
def _margin_series(f: Facts, xs: np.ndarray) -> np.ndarray:
    """m(t) = min_i ⟨x_i(t), w⟩ with w the LP pole of the initial tokens."""
    return (xs @ f.hemisphere.pole).min(axis=-1)


def _consensus_observe(
    f: Facts, result: Result, *, margin: bool, energy: bool, rate: bool, what: str
) -> Observation:
    got = _frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    numbers = _consensus_numbers(t, xs)
    if margin:
        m = _margin_series(f, xs)
        drop = _max_decrease(m)
        numbers.update(margin_start=float(m[0]), margin_end=float(m[-1]), margin_max_drop=drop)
        verdict = _invariant(f, drop, "min_i ⟨x_i, w⟩", numbers)
        if verdict is not None:
            return verdict
    if energy:
        E = np.asarray(interaction_energy(xs, f.scenario.beta, normalized=True), dtype=float)
        drop = _max_relative_decrease(E)
        numbers.update(energy_start=float(E[0]), energy_end=float(E[-1]), energy_max_drop=drop)
        verdict = _invariant(f, drop, "E_β (relative)", numbers)
        if verdict is not None:
            return verdict
    diam = _diameter(xs)
    if rate:
        # fit log(diameter) on the later half of the frames above the rounding floor
        keep = np.nonzero(diam > 1e-12)[0]
        if keep.size >= 2:
            late = keep[keep.size // 2 :] if keep.size >= 6 else keep
            numbers["decay_rate"] = -float(np.polyfit(t[late], np.log(diam[late]), 1)[0])
        elif diam[0] > 1e-12:  # collapsed to the floor within one frame: only a lower bound
            first = int(np.nonzero(diam <= 1e-12)[0][0])
            numbers["decay_rate_lower_bound"] = math.log(diam[0] / 1e-12) / float(t[first])
    if numbers["diameter_end"] < CONSENSUS_TOL:
        return Observation(
            True,
            f"{what}: angular diameter {numbers['diameter_end']:.3g} < {CONSENSUS_TOL:g} at "
            f"T = {t[-1]:g} (below from t = {numbers['consensus_time']:g})",
            numbers,
        )
    if _centrally_symmetric(f.x0):
        numbers["centrally_symmetric_start"] = True
        return Observation(
            None,
            f"no consensus by T = {t[-1]:g} (diameter {numbers['diameter_end']:.3g}), and none will "
            "come: every token starts with its antipode, and x ↦ −x maps solutions to solutions, so "
            "the configuration stays centrally symmetric — one of the null set of starts that "
            "'almost every' excludes",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: angular diameter {numbers['diameter_end']:.3g} ≥ {CONSENSUS_TOL:g} "
        f"at T = {t[-1]:g} (the theorem gives no rate; try a longer T)",
        numbers,
    )


def _hemisphere_predicates(f: Facts) -> list[Assumption]:
    return [
        p_value_identity(f),
        p_qk_bounded(f),
        p_open_hemisphere(f),
        p_mask(f, "none"),
        p_softmax(f),
    ]


# ------------------------------------------------------------------ ast-causal-identity (Thm C)
def _causal_identity_predicates(f: Facts) -> list[Assumption]:
    return [p_mask(f, "causal"), p_value_identity(f), p_qk_bounded(f), p_softmax(f)]


def _causal_identity_observe(f: Facts, result: Result) -> Observation:
    got = _frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    x1 = xs[0, 0]
    drift = float(np.linalg.norm(xs[:, 0] - x1, axis=-1).max())
    ang = _angles_to(xs[-1], x1)
    numbers = {"first_token_drift": drift, "max_angle_to_first_end": float(ang.max()), "T": float(t[-1])}
    if drift > FIXED_TOL:
        return Observation(
            False, f"the first token moved by {drift:.3g} > {FIXED_TOL:g}; it must stay fixed", numbers
        )
    if ang.max() < LIMIT_TOL:
        return Observation(
            True,
            f"the first token stayed fixed (drift {drift:.2g}) and every token is within "
            f"{ang.max():.3g} rad of it at T = {t[-1]:g}",
            numbers,
        )
    return Observation(
        None,
        f"the first token stayed fixed (drift {drift:.2g}), but at T = {t[-1]:g} some token is still "
        f"{ang.max():.3g} rad away: horizon too short (no rate; or an exceptional, measure-zero "
        "start such as x_2 = −x_1)",
        numbers,
    )


# ------------------------------------------------------------------ ast-causal-symmetric (Thm D)
def _causal_sym_predicates(f: Facts) -> list[Assumption]:
    vf = f.V[0]
    return [
        p_one_head(f),
        p_mask(f, "causal"),
        p_value_constant_symmetric(f),
        p_value_top_simple(f, vf),
        p_value_top_positive(f, vf),
        p_one_side(f, vf),
        _a(
            "qk_bounded",
            True,
            max(a.bound for a in f.A),
            "QᵀK bounded (sinusoids always are). The paper's hypotheses on QᵀK are UNCONFIRMED "
            "(§A.3); our checks used constant and sinusoidal QᵀK",
        ),
        p_softmax(f),
    ]


def _limit_point(f: Facts, vf: MatrixFacts) -> np.ndarray:
    s, _ = _side(f, vf.top_vector)
    p = s * vf.top_vector
    P = f.scenario.ellipsoid_matrix()
    return p / math.sqrt(float(p @ p)) if P is None else p / math.sqrt(float(p @ P @ p))


def _causal_sym_predict(f: Facts, vf: MatrixFacts) -> str:
    p = _limit_point(f, vf)
    return (
        "consensus at the pole of the tokens' half: every token → s·v normalised onto the manifold, "
        f"v the top eigenvector of V (here ({', '.join(f'{x:.3f}' for x in p)}))"
    )


def _limit_observe(f: Facts, result: Result, vf: MatrixFacts, *, open_question: bool) -> Observation:
    got = _frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    p = _limit_point(f, vf)
    ang = _angles_to(xs[-1], p)
    numbers = _consensus_numbers(t, xs)
    numbers.update(
        max_angle_to_limit_end=float(ang.max()),
        first_token_angle_end=float(ang[0]),
        limit_point=[float(x) for x in p],
    )
    at_limit = bool(ang.max() < LIMIT_TOL)
    if open_question:
        numbers["consistent_with_conjecture"] = at_limit
        seen = (
            f"consensus at s·v (max angle {ang.max():.3g} rad)"
            if at_limit
            else f"max angle to s·v {ang.max():.3g} rad, diameter {numbers['diameter_end']:.3g}"
        )
        return Observation(
            None,
            "open question (the theorem is proven for one head only): at T = "
            f"{t[-1]:g} the simulation shows {seen}, v the top eigenvector of Σ_k V_k",
            numbers,
        )
    if at_limit:
        return Observation(True, f"every token within {ang.max():.3g} rad of s·v at T = {t[-1]:g}", numbers)
    if numbers["diameter_end"] < CONSENSUS_TOL and ang.max() > WRONG_LIMIT_TOL:
        return Observation(
            False,
            f"consensus reached at T = {t[-1]:g}, but {ang.max():.3g} rad away from the predicted s·v",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: at T = {t[-1]:g} some token is {ang.max():.3g} rad from s·v "
        "(the theorem gives no rate)",
        numbers,
    )


# ------------------------------------------------------------------ open: Thm D with several heads
def _multihead_predicates(f: Facts) -> list[Assumption]:
    vsum = _value_sum(f)
    return [
        p_several_heads(f),
        p_mask(f, "causal"),
        p_value_constant_symmetric(f),
        p_value_top_simple(f, vsum, "Σ_k V_k"),
        p_value_top_positive(f, vsum, "Σ_k V_k"),
        p_one_side(f, vsum, "Σ_k V_k"),
        p_softmax(f),
    ]


# ------------------------------------------------------------------ GLPR (2312.10794)
def _glpr_identity(f: Facts) -> list[Assumption]:
    return [
        p_sphere(f),
        p_one_head(f),
        p_qk_identity(f),
        p_value_identity(f),
        p_mask(f, "none"),
        p_sa_or_usa(f),
    ]


def _sphere_d3_predicates(f: Facts) -> list[Assumption]:
    return [*_glpr_identity(f), p_dim(f, 3)]


def _cone_predicates(f: Facts) -> list[Assumption]:
    return [*_glpr_identity(f), p_dim(f, 2), p_beta_positive(f), p_open_hemisphere(f)]


def _metastability_predicates(f: Facts) -> list[Assumption]:
    return [*_glpr_identity(f), p_dim(f, 2, 2), p_beta_positive(f)]


def _metastability_observe(f: Facts, result: Result) -> Observation:
    got = _frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, xs = got
    counts = np.array([_cluster_count(x) for x in xs])
    # longest run of frames with the same count ≥ 2 (a multi-cluster plateau)
    best = (0, 0.0, 0.0, 0)  # (frames, start, end, count)
    start = 0
    for k in range(1, len(counts) + 1):
        if k == len(counts) or counts[k] != counts[start]:
            if counts[start] >= 2 and k - start > best[0]:
                best = (k - start, float(t[start]), float(t[k - 1]), int(counts[start]))
            start = k
    picks = np.unique(np.linspace(0, len(t) - 1, min(len(t), 11)).round().astype(int))
    numbers: dict[str, Any] = {
        "cluster_threshold_cos": CLUSTER_COS,
        "cluster_counts": [[float(t[k]), int(counts[k])] for k in picks],
        "clusters_end": int(counts[-1]),
        "T": float(t[-1]),
    }
    if best[0] > 1:
        numbers.update(plateau_clusters=best[3], plateau_start=best[1], plateau_end=best[2])
        plateau = f"; longest multi-cluster plateau: {best[3]} clusters on t ∈ [{best[1]:g}, {best[2]:g}]"
    else:
        plateau = "; no multi-cluster plateau"
    return Observation(
        None,
        "open question (metastability on the circle: how long multi-cluster plateaus last): "
        f"{int(counts[-1])} cluster(s) at T = {t[-1]:g}{plateau}",
        numbers,
    )


# ------------------------------------------------------------------ Euclidean-model entries
def _euclid(extra: Callable[[Facts], list[Assumption]]) -> Predicates:
    return lambda f: [p_euclidean(f), *extra(f)]


# ------------------------------------------------------------------ the Euclidean model (2305.05465)
# Evaluated on a dynamics.euclidean.EuclideanScenario and its EuclideanResult; the sphere path above
# keeps answering "not in this model" for these entries (their not_applicable_reason).
EU_LIMIT_TOL = 1e-3  # distinct limit points / values: single-linkage clusters at this distance (× scale)
EU_WRONG_TOL = 1e-2  # a converged limit farther than this (× scale) from the predicted set: refuted
EU_VELOCITY_TOL = 1e-4  # max_i‖ż_i(T)‖ ≤ this × scale: the rescaled tokens have converged
EU_HULL_TOL = 1e-9  # hull nesting: z_i(t_{k+1}) at most this (× scale) outside conv{z_j(t_k)}
EU_BOOLEAN_TOL = 1e-2  # a row of P within this (max-norm) of e_min or e_max is Boolean
EU_NORM_RATIO = 0.1  # V = −I: max_i‖x_i(T)‖ ≤ this × max_i‖x_i(0)‖ counts as "→ 0"
EU_UNIFORM_TOL = 0.05  # V = −I: max_ij |n P_ij − 1| ≤ this counts as "P = 11ᵀ/n"
EU_BALL_TOL = 1e-9  # ‖x_i(t)‖ may exceed max(‖x_i(0)‖, √(2n)) by this (relative) before refuting
EU_DISTINCT_TOL = 1e-12  # min pairwise distance of x(0) above this (× scale): distinct tokens
EU_RANK_TOL = 1e-6  # numerical rank of P: singular values above this × σ_max


@dataclass(frozen=True)
class EuclideanFacts:
    """What the Euclidean-model assumptions look at, computed once per EuclideanScenario."""

    scenario: _eu.EuclideanScenario
    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    A: np.ndarray  # QᵀK
    x0: np.ndarray
    top: _eu.TopEigen
    min_distance: float

    @property
    def d(self) -> int:
        return self.scenario.d

    @property
    def scale(self) -> float:
        return max(1.0, float(np.abs(self.x0).max()))


def euclidean_facts(es: _eu.EuclideanScenario) -> EuclideanFacts:
    Q, K, V = es.matrices()
    x0 = es.initial_tokens()
    return EuclideanFacts(es, Q, K, V, Q.T @ K, x0, _eu.top_eigen(V), _eu.min_pairwise_distance(x0))


@dataclass(frozen=True)
class EuclideanEntry:
    """How a registered result is checked on the Euclidean model."""

    predicates: Callable[[EuclideanFacts], list[Assumption]]
    observer: Callable[[EuclideanFacts, _eu.EuclideanResult], Observation]
    tolerance: str
    predict: Callable[[EuclideanFacts], str] | None = None
    status: str = "theorem"


def e_model(f: EuclideanFacts) -> Assumption:
    return _a(
        "euclidean_model",
        True,
        f"R^{f.d}",
        f"unnormalised dynamics in ℝ^{f.d} (no layer norm), drawn as z = e^{{−tV}}x"
        + ("" if f.scenario.rescaled else " (integrated in x, z derived)"),
    )


def e_softmax(f: EuclideanFacts) -> Assumption:
    kind = getattr(f.scenario, "attention", "softmax")
    return _a(
        "softmax_attention",
        kind == "softmax",
        kind,
        f"attention is {kind}; the theorem is proved for softmax attention only",
    )


def e_value_identity(f: EuclideanFacts, sign: float = 1.0) -> Assumption:
    defect = float(np.linalg.norm(f.V - sign * np.eye(f.d))) / math.sqrt(f.d)
    name, what = ("value_identity", "V − I") if sign > 0 else ("value_minus_identity", "V + I")
    return _a(
        name,
        defect <= IDENTITY_TOL,
        defect,
        f"‖{what}‖_F/√d = {defect:.3g} (tolerance {IDENTITY_TOL:g})",
    )


def e_qk_symmetric(f: EuclideanFacts) -> Assumption:
    defect = _sym_defect(f.A)
    return _a(
        "qk_symmetric",
        defect <= SYMMETRY_TOL,
        defect,
        f"‖A − Aᵀ‖_F/‖A‖_F = {defect:.3g}, A = QᵀK (tolerance {SYMMETRY_TOL:g}; QᵀK ≻ 0 in the "
        "paper means symmetric positive definite, A^{1/2} is used)",
    )


def e_qk_positive_definite(f: EuclideanFacts) -> Assumption:
    lo = float(np.linalg.eigvalsh((f.A + f.A.T) / 2)[0])
    return _a("qk_positive_definite", lo > 0, lo, f"smallest eigenvalue of sym(QᵀK) = {lo:.4g} (> 0 needed)")


def e_qk_identity(f: EuclideanFacts) -> Assumption:
    defect = float(np.linalg.norm(f.A - np.eye(f.d))) / math.sqrt(f.d)
    return _a(
        "qk_identity",
        defect <= IDENTITY_TOL,
        defect,
        f"‖QᵀK − I‖_F/√d = {defect:.3g} (tolerance {IDENTITY_TOL:g})",
    )


def e_tokens_distinct(f: EuclideanFacts) -> Assumption:
    tol = EU_DISTINCT_TOL * f.scale
    return _a(
        "tokens_distinct",
        f.min_distance > tol,
        f.min_distance,
        f"min_{{i<j}} ‖x_i(0) − x_j(0)‖ = {f.min_distance:.3g} (> {tol:.3g} needed: pairwise distinct)",
    )


def e_dim_one(f: EuclideanFacts) -> Assumption:
    return _a("d_equals_1", f.d == 1, f.d, f"d = {f.d} (the Boolean theorem is one-dimensional)")


def e_scalar_positive(f: EuclideanFacts, name: str, label: str, m: np.ndarray) -> Assumption:
    v = float(m[0, 0]) if f.d == 1 else math.nan
    return _a(
        name,
        f.d == 1 and v > 0,
        v if f.d == 1 else "d ≠ 1",
        f"{label} = {v:.4g} (> 0 needed)" if f.d == 1 else f"{label} is a scalar only in d = 1",
    )


def e_top_real(f: EuclideanFacts) -> Assumption:
    lam = f.top.value
    return _a(
        "value_top_real",
        f.top.real,
        abs(lam.imag),
        f"λ₁ (largest modulus) = {_fmt_complex(lam)}; |Im λ₁| = {abs(lam.imag):.3g} (must be 0)",
    )


def e_top_positive(f: EuclideanFacts) -> Assumption:
    lam = f.top.value
    return _a(
        "value_top_positive",
        f.top.real and lam.real > 0,
        lam.real,
        f"Re λ₁ = {lam.real:.4g} for the eigenvalue of largest modulus (> 0 needed)",
    )


def e_top_simple(f: EuclideanFacts) -> Assumption:
    gap = f.top.modulus_gap
    tol = GAP_TOL * max(1.0, abs(f.top.value))
    mods = ", ".join(f"{abs(w):.4g}" for w in f.top.eigenvalues)
    return _a(
        "value_top_modulus_simple",
        gap > tol,
        gap,
        f"moduli of V's eigenvalues: {mods}; |λ₁| − |λ₂| = {gap:.3g} (> {tol:.2g} needed: "
        "λ₁ > |λ₂| ≥ … ≥ |λ_d|)",
    )


def e_qk_on_top(f: EuclideanFacts) -> Assumption:
    if not f.top.real:
        return _a("qk_positive_on_top", False, "complex φ₁", "λ₁ is not real: no real eigenvector φ₁")
    phi = f.top.phi
    val = float((f.Q @ phi) @ (f.K @ phi))
    return _a(
        "qk_positive_on_top",
        val > 0,
        val,
        f"⟨Qφ₁, Kφ₁⟩ = {val:.4g} with φ₁ the unit eigenvector of λ₁ (> 0 needed)",
    )


def _fmt_complex(z: complex) -> str:
    return f"{z.real:.4g}" if z.imag == 0 else f"{z.real:.4g} {'+' if z.imag > 0 else '−'} {abs(z.imag):.4g}i"


def _eu_frames(result: _eu.EuclideanResult) -> tuple[np.ndarray, np.ndarray] | str:
    """(t, z) in float64, or a reason why the run cannot be judged."""
    z = np.asarray(result.z, dtype=float)
    if result.status == -1:
        return f"the run failed ({result.message}); nothing to observe"
    if not np.all(np.isfinite(z)):
        return "the rescaled tokens z left the float range; nothing to observe"
    if len(result.t) < 2 or float(result.t[-1]) <= 0:
        return "horizon too short: the run has no time span (T = 0)"
    return np.asarray(result.t, dtype=float), z


def _eu_resolved(es: _eu.EuclideanScenario, h_max: float) -> tuple[bool, str]:
    if es.integrator == "adaptive":
        return False, f"adaptive {es.method}"
    _, h = _eu.fixed_steps(es)
    return es.integrator == "euler" and h <= h_max, f"{es.integrator} step h = {h:.3g}"


def _hull_nesting(z: np.ndarray) -> float:
    """max_k max_i distance of z_i(t_{k+1}) outside conv{z_j(t_k)} (Qhull facets)."""
    return max(float(_eu.hull_excess(z[k + 1], z[k]).max()) for k in range(len(z) - 1))


def _polytope_observe(f: EuclideanFacts, result: _eu.EuclideanResult) -> Observation:
    got = _eu_frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, z = got
    es = f.scenario
    scale = max(1.0, float(np.abs(z[0]).max()))
    nest = _hull_nesting(z)
    numbers: dict[str, Any] = {"hull_nesting_excess": nest, "T": float(t[-1])}
    if nest > EU_HULL_TOL * scale:
        exact, note = _eu_resolved(es, 1.0)
        if exact:
            return Observation(
                False,
                f"a rescaled token left the convex hull of the previous frame by {nest:.3g} > "
                f"{EU_HULL_TOL:g}·{scale:.3g}, although conv{{z_i(t)}} is non-increasing (p:noninc) and "
                f"an Euler step h ≤ 1 is a convex combination ({note})",
                numbers,
            )
        numbers["hull_nesting_note"] = (
            f"excess {nest:.3g} with {note}: only Euler steps h ≤ 1 keep hulls nested exactly; "
            "no verdict from it"
        )
    vel = float(np.linalg.norm(_eu.z_velocity(es, float(t[-1]), z[-1]), axis=1).max())
    tol = EU_LIMIT_TOL * scale
    centres, _ = _eu.distinct_points(z[-1], tol)
    hull = _eu.convex_hull(z[-1])
    bd = hull.boundary_distance(centres)
    at_zero = np.linalg.norm(centres, axis=1) <= tol
    on_bd = np.abs(bd) <= tol
    vertices = len(_eu.convex_hull(centres).vertices)
    numbers.update(
        velocity_end=vel,
        limit_points=len(centres),
        limit_vertices=vertices,
        limits_at_zero=int(at_zero.sum()),
        limits_inside=int((~(on_bd | at_zero)).sum()),
        max_depth_inside=float(max(0.0, float((-bd[~at_zero]).max()) if (~at_zero).any() else 0.0)),
    )
    if len(centres) <= 32:
        numbers["limit_values"] = centres.round(6).tolist()
    converged = vel <= EU_VELOCITY_TOL * scale
    where = f"{len(centres)} distinct limit point(s) (tol {tol:.2g}), {vertices} vertex(es) of their hull"
    if converged and np.all(on_bd | at_zero):
        return Observation(
            True,
            f"z converged (max‖ż‖ = {vel:.2g}) to {where}, every one on ∂K or at 0"
            + f"; hulls nested to {nest:.2g}",
            numbers,
        )
    deep = (-bd > EU_WRONG_TOL * scale) & ~at_zero
    if converged and deep.any():
        return Observation(
            False,
            f"z converged (max‖ż‖ = {vel:.2g}) but {int(deep.sum())} limit point(s) lie inside K, "
            f"deeper than {EU_WRONG_TOL:g}·{scale:.3g}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: max‖ż_i(T)‖ = {vel:.3g} > {EU_VELOCITY_TOL:g}·{scale:.3g} at T = {t[-1]:g} "
        f"({where} so far; no rate is proven)",
        numbers,
    )


def _hyperplanes_observe(f: EuclideanFacts, result: _eu.EuclideanResult) -> Observation:
    got = _eu_frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, z = got
    psi = f.top.psi
    c = z @ psi
    scale = max(1.0, float(np.abs(c[0]).max()))
    tol = EU_LIMIT_TOL * scale
    cvel = float(np.abs(_eu.z_velocity(f.scenario, float(t[-1]), z[-1]) @ psi).max())
    values, _ = _eu.hyperplane_values(z[-1], psi, tol)
    a, b = float(values.min()), float(values.max())
    off = np.min(np.abs(values[:, None] - np.array([a, b, 0.0])[None]), axis=1)
    counts = [len(_eu.hyperplane_values(zk, psi, tol)[0]) for zk in z]
    since = next((float(t[k]) for k in range(len(t)) if all(m <= 3 for m in counts[k:])), None)
    numbers: dict[str, Any] = {
        "psi1": psi.tolist(),
        "lambda1": f.top.value.real,
        "distinct_values": len(values),
        "values": values.round(6).tolist() if len(values) <= 32 else None,
        "at_most_three_from": since,
        "coordinate_velocity_end": cvel,
        "T": float(t[-1]),
    }
    converged = cvel <= EU_VELOCITY_TOL * scale
    if converged and np.all(off <= tol) and len(values) <= 3:
        return Observation(
            True,
            f"ψ₁ᵀz_i converged (max|ψ₁ᵀż| = {cvel:.2g}) to {len(values)} value(s) "
            f"{{{', '.join(f'{v:.4g}' for v in values)}}} ⊂ {{a, 0, b}} (tol {tol:.2g})"
            + (f", at most three from t = {since:g}" if since is not None else ""),
            numbers,
        )
    if converged and np.any(off > EU_WRONG_TOL * scale):
        return Observation(
            False,
            f"ψ₁ᵀz_i converged (max|ψ₁ᵀż| = {cvel:.2g}) to {len(values)} values, some farther than "
            f"{EU_WRONG_TOL:g}·{scale:.3g} from {{min, 0, max}}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: max|ψ₁ᵀż_i(T)| = {cvel:.3g} > {EU_VELOCITY_TOL:g}·{scale:.3g}; "
        f"{len(values)} distinct value(s) of ψ₁ᵀz_i at T = {t[-1]:g}",
        numbers,
    )


def _attention_frames(f: EuclideanFacts, result: _eu.EuclideanResult, t: np.ndarray, z: np.ndarray):
    if result.attention is not None:
        return np.asarray(result.attention, dtype=float)
    return np.stack([_eu.attention_matrix(f.scenario, float(tk), zk) for tk, zk in zip(t, z, strict=True)])


def _boolean_observe(f: EuclideanFacts, result: _eu.EuclideanResult) -> Observation:
    got = _eu_frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, z = got
    Ps = _attention_frames(f, result, t, z)
    # every row's largest entry sits on a leader of its frame at all times (x_i x_j is maximal at
    # the smallest or the largest token): a row concentrated elsewhere contradicts the dynamics
    for k in range(len(t)):
        lo_k, hi_k = _eu.leaders(z[k])
        arg = Ps[k].argmax(axis=1)
        bad = (Ps[k].max(axis=1) >= 1 - EU_BOOLEAN_TOL) & (arg != lo_k) & (arg != hi_k)
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            return Observation(
                False,
                f"at t = {t[k]:g} row {i} of P is concentrated on token {int(arg[i])}, which is neither "
                f"the smallest ({lo_k}) nor the largest ({hi_k}) token",
                {"T": float(t[-1])},
            )
    P = Ps[-1]
    lo, hi = _eu.leaders(z[-1])
    defects = _eu.row_leader_defects(P, lo, hi)
    order = np.argsort(defects)
    rest = float(defects[order[:-1]].max()) if len(defects) > 1 else 0.0
    non_boolean = int((defects > EU_BOOLEAN_TOL).sum())
    cols = np.nonzero(P.max(axis=0) > EU_BOOLEAN_TOL)[0]
    series = [_eu.boolean_defect(Pk) for Pk in Ps]
    numbers: dict[str, Any] = {
        "leaders": [lo, hi],
        "boolean_defect_end": _eu.boolean_defect(P),
        "row_defect_all_but_one": rest,
        "rows_not_boolean": non_boolean,
        "exceptional_row": int(order[-1]) if defects[order[-1]] > EU_BOOLEAN_TOL else None,
        "columns_carrying_weight": cols.tolist(),
        "rank_end": _eu.numerical_rank(P, EU_RANK_TOL),
        "rank_tol": EU_RANK_TOL,
        "boolean_defect_series": [
            [float(t[k]), float(series[k])] for k in range(0, len(t), max(1, len(t) // 10))
        ],
        "T": float(t[-1]),
    }
    if non_boolean <= 1:
        return Observation(
            True,
            f"P(T) is Boolean to {rest:.2g} ≤ {EU_BOOLEAN_TOL:g} on every row but at most one: each token "
            f"attends to token {lo} (the smallest) or {hi} (the largest); rank P(T) = {numbers['rank_end']}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: {non_boolean} rows of P(T) are farther than {EU_BOOLEAN_TOL:g} from e_{lo} and "
        f"e_{hi} at T = {t[-1]:g} (the theorem gives no rate for bounded tokens)",
        numbers,
    )


def _negative_identity_observe(f: EuclideanFacts, result: _eu.EuclideanResult) -> Observation:
    x = np.asarray(result.x, dtype=float)
    if result.status == -1 or not np.all(np.isfinite(x)):
        return Observation(None, f"the run failed or left the float range ({result.message}); nothing to see")
    t = np.asarray(result.t, dtype=float)
    if len(t) < 2 or t[-1] <= 0:
        return Observation(None, "horizon too short: the run has no time span (T = 0)")
    n = f.scenario.n
    norms = np.linalg.norm(x, axis=-1)
    r0 = norms[0]
    bound = np.maximum(r0, math.sqrt(2 * n))
    sharp = np.maximum(r0, math.sqrt(math.log(n))) if n > 1 else r0
    excess = float((norms - bound[None]).max())
    rmax = norms.max(axis=1)
    tail = np.nonzero(np.diff(rmax) > 1e-12 * max(1.0, float(rmax[0])))[0]
    if tail.size == 0:
        monotone_from: float | None = float(t[0])
    else:
        monotone_from = float(t[tail[-1] + 1]) if tail[-1] + 1 < len(t) - 1 else None
    if result.attention is not None:
        P = np.asarray(result.attention[-1], dtype=float)
    else:
        P = _eu.EuclideanField(f.scenario.replace(rescaled=False)).attention(float(t[-1]), x[-1])
    uniform = float(np.abs(n * P - 1).max())
    ratio = float(rmax[-1] / rmax[0]) if rmax[0] > 0 else 0.0
    numbers: dict[str, Any] = {
        "max_norm_start": float(rmax[0]),
        "max_norm_end": float(rmax[-1]),
        "norm_ratio_end": ratio,
        "max_norm_nonincreasing_from": monotone_from,
        "uniform_defect_end": uniform,
        "ball_bound_excess": excess,
        "sharper_bound_excess": float((norms - sharp[None]).max()),
        "T": float(t[-1]),
    }
    scale = max(1.0, float(bound.max()))
    if excess > EU_BALL_TOL * scale:
        resolved = f.scenario.integrator != "adaptive" and _eu.fixed_steps(f.scenario)[1] <= 0.5
        if resolved:
            return Observation(
                False,
                f"a token left the ball ‖x_i‖ ≤ max(‖x_i(0)‖, √(2n)) by {excess:.3g} (step ≤ 0.5)",
                numbers,
            )
    if ratio <= EU_NORM_RATIO and uniform <= EU_UNIFORM_TOL:
        return Observation(
            True,
            f"max‖x_i‖ fell from {rmax[0]:.3g} to {rmax[-1]:.3g} (≤ {EU_NORM_RATIO:g}×) and "
            f"max|nP − 1| = {uniform:.2g} ≤ {EU_UNIFORM_TOL:g} at T = {t[-1]:g}; the ball bound held",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: max‖x_i‖ is {ratio:.3g}× its start and max|nP − 1| = {uniform:.2g} at "
        f"T = {t[-1]:g} (the decay is algebraic, ≈ (1 + 2ct)^(−1/2): try T of a few hundred)",
        numbers,
    )


EU_POLYTOPE = EuclideanEntry(
    predicates=lambda f: [
        e_model(f),
        e_softmax(f),
        e_value_identity(f),
        e_qk_symmetric(f),
        e_qk_positive_definite(f),
        e_tokens_distinct(f),
    ],
    observer=_polytope_observe,
    tolerance=(
        f"limits: clusters of z(T) at {EU_LIMIT_TOL:g}·s (s = max(1, max|z(0)|)), converged when "
        f"max‖ż_i(T)‖ ≤ {EU_VELOCITY_TOL:g}·s, each at 0 or within {EU_LIMIT_TOL:g}·s of ∂conv z(T); "
        f"refuted if converged with a limit deeper than {EU_WRONG_TOL:g}·s inside; hull nesting "
        f"≤ {EU_HULL_TOL:g}·s between saved frames (refutes only for Euler, h ≤ 1)"
    ),
)
EU_HYPERPLANES = EuclideanEntry(
    predicates=lambda f: [
        e_model(f),
        e_softmax(f),
        e_top_real(f),
        e_top_positive(f),
        e_top_simple(f),
        e_qk_on_top(f),
    ],
    observer=_hyperplanes_observe,
    tolerance=(
        f"values of ψ₁ᵀz_i(T) clustered at {EU_LIMIT_TOL:g}·s (s = max(1, max|ψ₁ᵀz(0)|)), converged when "
        f"max|ψ₁ᵀż_i(T)| ≤ {EU_VELOCITY_TOL:g}·s; observed if ≤ 3 values, each within the tolerance of "
        f"min, max or 0; refuted if converged with a value farther than {EU_WRONG_TOL:g}·s from them"
    ),
    predict=lambda f: (
        f"ψ₁ᵀz_i(t) → one of at most three values {{a, 0, b}}: the rescaled tokens cluster on at most three "
        f"parallel lines/planes ψ₁ᵀz = const, ψ₁ = ({', '.join(f'{v:.3f}' for v in f.top.psi)}) the left "
        f"eigenvector of λ₁ = {f.top.value.real:.4g}"
        if f.top.real
        else "ψ₁ᵀz_i → at most three values (needs a real λ₁)"
    ),
)
EU_BOOLEAN = EuclideanEntry(
    predicates=lambda f: [
        e_model(f),
        e_softmax(f),
        e_dim_one(f),
        e_scalar_positive(f, "value_positive", "V", f.V),
        e_scalar_positive(f, "qk_positive", "QK", f.A),
        e_tokens_distinct(f),
    ],
    observer=_boolean_observe,
    tolerance=(
        f"P(T) Boolean: every row but at most one within {EU_BOOLEAN_TOL:g} (max-norm) of e_min or e_max "
        f"(the leaders = argmin/argmax token); rank with singular values > {EU_RANK_TOL:g}·σ_max; refuted "
        f"if a row is ≥ 1 − {EU_BOOLEAN_TOL:g} on a non-leader column at any saved time"
    ),
    predict=lambda f: (
        "P(t) → a Boolean matrix whose rows (all but at most one) are e_min or e_max: every token attends "
        f"to the smallest (token {_eu.leaders(f.x0)[0]}) or the largest (token {_eu.leaders(f.x0)[1]}) "
        "token — the two leaders; rank P* ≤ 3"
        if f.d == 1
        else "P(t) → Boolean with two leaders (d = 1 only)"
    ),
)
EU_NEGATIVE_IDENTITY = EuclideanEntry(
    predicates=lambda f: [e_model(f), e_softmax(f), e_value_identity(f, -1.0), e_qk_identity(f)],
    observer=_negative_identity_observe,
    tolerance=(
        f"→ 0: max‖x_i(T)‖ ≤ {EU_NORM_RATIO:g}·max‖x_i(0)‖; P → 11ᵀ/n: max|nP_ij − 1| ≤ {EU_UNIFORM_TOL:g}; "
        f"the ball ‖x_i(t)‖ ≤ max(‖x_i(0)‖, √(2n)) at every saved time (relative slack {EU_BALL_TOL:g}; "
        "refutes for fixed steps h ≤ 0.5)"
    ),
)


def _eu_counter_examples(card_id: str, es: _eu.EuclideanScenario) -> list[tuple[str, _eu.EuclideanScenario]]:
    d = es.d
    eye = np.eye(d)
    x = es.initial_tokens().copy()
    twin = None
    if len(x) >= 2:
        x[-1] = x[0]
        twin = es.replace(x0=[list(r) for r in x])
    out: list[tuple[str, _eu.EuclideanScenario | None]] = []
    Q, _, V = es.matrices()
    if card_id == "glpr-polytope":
        out = [
            ("V = 2I instead of I", es.replace(V=(2 * eye).tolist())),
            (
                "QᵀK indefinite (eigenvalue −1)",
                es.replace(Q=eye.tolist(), K=np.diag([1.0] * (d - 1) + [-1.0]).tolist()),
            ),
            ("two equal tokens", twin),
        ]
    elif card_id == "glpr-hyperplanes" and d >= 2:
        rot = np.eye(d)
        rot[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]
        out = [
            ("V = −V (largest-modulus eigenvalue negative)", es.replace(V=(-V).tolist())),
            ("V with a rotation block (complex top eigenvalue)", es.replace(V=(2 * rot).tolist())),
            (
                "V = diag(1, −1, …) (top modulus not simple)",
                es.replace(V=np.diag([1.0, -1.0] + [0.5] * (d - 2)).tolist()),
            ),
            ("K = −Q (⟨Qφ₁, Kφ₁⟩ < 0)", es.replace(Q=Q.tolist(), K=(-Q).tolist())),
        ]
    elif card_id == "glpr-boolean-1d":
        out = [
            ("V < 0", es.replace(V=-abs(float(V[0, 0])) if d == 1 else (-eye).tolist())),
            ("QK < 0", es.replace(Q=1.0 if d == 1 else eye.tolist(), K=-1.0 if d == 1 else (-eye).tolist())),
            ("two equal tokens", twin),
        ]
    elif card_id == "glpr-negative-identity":
        out = [
            ("V = I instead of −I", es.replace(V=eye.tolist())),
            ("QᵀK = 2I", es.replace(Q=eye.tolist(), K=(2 * eye).tolist())),
        ]
    return [(label, s) for label, s in out if s is not None]


def euclidean_counter_examples(
    card_id: str, es: _eu.EuclideanScenario
) -> list[tuple[str, _eu.EuclideanScenario]]:
    """Small edits of ``es`` that break one assumption of a Euclidean-model card each."""
    th = get(card_id)
    if th.euclidean is None:
        return []
    return _eu_counter_examples(card_id, es)


def evaluate_euclidean(es: _eu.EuclideanScenario, result: _eu.EuclideanResult | None = None) -> list[Card]:
    """The cards of the results about the Euclidean model, on ``es`` (and observed on ``result``)."""
    if result is not None and result.scenario != es:
        raise ValueError("evaluate_euclidean: the result is a run of another scenario")
    f = euclidean_facts(es)
    return [th.euclidean_card(f, result) for th in REGISTRY if th.euclidean is not None]


# ------------------------------------------------------------------ the registry
REGISTRY: tuple[Theorem, ...] = (
    Theorem(
        id="ast-gradient",
        title="One head, V = I, QᵀK symmetric positive definite: a gradient flow",
        source=f"{A1}, Thm A (v1 §3; v2 Thm 3.1)",
        status="theorem",
        statement=(
            "gradient flow: the tokens converge to an equilibrium from every initial position; the "
            "energy ½Σe^{β⟨x_i, QᵀK x_j⟩} is non-decreasing on the ellipsoid P ∝ QᵀK (sphere: only "
            "if QᵀK = cI)"
        ),
        tolerance=(
            f"equilibrium: max_i‖ẋ_i(T)‖ ≤ {VELOCITY_RATIO:g}·max_i‖ẋ_i(0)‖ (or ≤ {VELOCITY_FLOOR:g}) — "
            "near an equilibrium at T, which may be a saddle that a longer run leaves; "
            f"energy (only where proven): relative {INVARIANT_RULE}"
        ),
        predicates=_gradient_predicates,
        observer=_gradient_observe,
        predict=_gradient_predict,
        describe=lambda f: {
            "energy_regime": _gradient_regime(f),
            "space": f.scenario.space,
        },
    ),
    Theorem(
        id="ast-hemisphere",
        title="Tokens in an open hemisphere reach consensus, whatever the heads",
        source=f"{A1}, Thm B (v1 §4; v2 Thm 4.1)",
        status="theorem",
        statement=(
            "consensus (all tokens → one point), and min_i ⟨x_i, w⟩ never decreases, w the LP pole "
            "of the initial hemisphere"
        ),
        tolerance=(
            f"consensus: angular diameter < {CONSENSUS_TOL:g} rad at T; invariant min_i⟨x_i, w⟩: "
            + INVARIANT_RULE
        ),
        predicates=_hemisphere_predicates,
        observer=lambda f, r: _consensus_observe(
            f, r, margin=True, energy=False, rate=False, what="consensus"
        ),
    ),
    Theorem(
        id="ast-causal-identity",
        title="Causal attention, V = I: everybody goes to the first token",
        source=f"{A1}, Thm C (v1 §5; v2 Thm 5.1)",
        status="theorem",
        statement=(
            "the first token never moves; for almost every start every token converges to it "
            "(asymptotically stable consensus)"
        ),
        tolerance=(
            f"first token: max_t‖x_1(t) − x_1(0)‖ ≤ {FIXED_TOL:g}; convergence: max_i ∠(x_i(T), "
            f"x_1(0)) < {LIMIT_TOL:g} rad"
        ),
        predicates=_causal_identity_predicates,
        observer=_causal_identity_observe,
    ),
    Theorem(
        id="ast-causal-symmetric",
        title="Causal attention, symmetric V with a simple top eigenvalue: consensus at its eigenvector",
        source=f"{A1}, Thm D (v1 §6; v2 number UNCONFIRMED)",
        status="theorem",
        statement=(
            "consensus at ±v (normalised onto the manifold), v the eigenvector of V's algebraically "
            "largest eigenvalue (simple, and positive in our reading), the sign being the side of v^⊥ "
            "holding the tokens"
        ),
        tolerance=(
            f"limit: max_i ∠(x_i(T), s·v) < {LIMIT_TOL:g} rad; refuted if consensus (diameter < "
            f"{CONSENSUS_TOL:g}) is reached more than {WRONG_LIMIT_TOL:g} rad from s·v"
        ),
        predicates=_causal_sym_predicates,
        observer=lambda f, r: _limit_observe(f, r, f.V[0], open_question=False),
        predict=lambda f: _causal_sym_predict(f, f.V[0]),
        describe=lambda f: {"limit_point": [float(x) for x in _limit_point(f, f.V[0])]},
    ),
    Theorem(
        id="open-causal-symmetric-multihead",
        title="Open: Thm D with several heads",
        source=(f"{A1}, after Thm D: proven for one head only; the authors believe it holds more generally"),
        status="open question",
        statement=(
            "conjecture: with several heads, constant symmetric V_k and tokens on one side of the top "
            "eigenvector v of Σ_k V_k (which the first token follows), consensus at ±v"
        ),
        tolerance=f"reported only: max_i ∠(x_i(T), s·v) (consistent if < {LIMIT_TOL:g} rad)",
        predicates=_multihead_predicates,
        observer=lambda f, r: _limit_observe(f, r, _value_sum(f), open_question=True),
    ),
    Theorem(
        id="glpr-sphere-d3",
        title="d ≥ 3, Q = K = V = I: consensus for almost every start, any β",
        source=f"{G4}, Thm 6.1",
        status="theorem",
        statement=(
            "for almost every initial configuration all tokens converge to one point (SA and USA, "
            "any β ≥ 0, no rate); the energy E_β is non-decreasing along the way (§3)"
        ),
        tolerance=(
            f"consensus: angular diameter < {CONSENSUS_TOL:g} rad at T; E_β: relative " + INVARIANT_RULE
        ),
        predicates=_sphere_d3_predicates,
        observer=lambda f, r: _consensus_observe(
            f, r, margin=False, energy=True, rate=False, what="consensus"
        ),
    ),
    Theorem(
        id="glpr-cone-collapse",
        title="Cone collapse: tokens in an open hemisphere converge exponentially to one point",
        source=f"{G4}, Lemma 6.4 (lem: hemisphere.clustering)",
        status="lemma",
        statement=(
            "exponential convergence to a single point: ‖x_i(t) − x*‖ ≤ C e^{−λt} (Q = K = V = I, "
            "one head, any β > 0, d ≥ 2)"
        ),
        tolerance=(
            f"consensus: angular diameter < {CONSENSUS_TOL:g} rad at T (the fitted decay rate is "
            f"reported); min_i⟨x_i, w⟩ and E_β: " + INVARIANT_RULE
        ),
        predicates=_cone_predicates,
        observer=lambda f, r: _consensus_observe(
            f, r, margin=True, energy=True, rate=True, what="exponential collapse"
        ),
    ),
    Theorem(
        id="open-metastability",
        title="Open: metastable clusters on the circle at large β",
        source=(
            f"{G4}, §6.3, Problem 1 and Fig. 4 (numerics, open there); partial answers: "
            "Geshkovski–Koubbi–Polyanskiy–Rigollet arXiv:2410.06833 (dynamic metastability)"
        ),
        status="open question",
        statement=(
            "on the circle (d = 2) with Q = K = V = I, tokens quickly form a few clusters that persist "
            "for very long times (plateaus) before merging; how long, and how many, is the open "
            "question (Thm 6.1's a.e. consensus needs d ≥ 3; for the circle later work cited by the "
            "survey arXiv:2512.01868 covers all β > −0.16)"
        ),
        tolerance=f"reported only: cluster counts, clusters = components of ⟨u_i, u_j⟩ > {CLUSTER_COS}",
        predicates=_metastability_predicates,
        observer=_metastability_observe,
    ),
    Theorem(
        id="glpr-polytope",
        title="V = I in R^d: rescaled tokens converge to the vertices of a convex polytope",
        source=f"{G2}, Thm t:Idcase11int (§3; full form t:Idcase11, §8)",
        status="not in this model",
        statement=(
            "with V = I and QᵀK ≻ 0, every rescaled token z_i = e^{−t}x_i converges to 0 or to a point "
            "of the boundary of a convex polytope (generically a vertex)"
        ),
        tolerance="not observed: " + EUCLIDEAN_REASON,
        predicates=_euclid(lambda f: [p_value_identity(f), p_qk_positive_definite(f)]),
        not_applicable_reason=EUCLIDEAN_REASON,
        euclidean=EU_POLYTOPE,
    ),
    Theorem(
        id="glpr-hyperplanes",
        title="Simple positive top eigenvalue of V: clustering on at most three parallel hyperplanes",
        source=f"{G2}, Thm l:3hyperplanes11 with Definition d:good (§4)",
        status="not in this model",
        statement=(
            "for a good triple (V's eigenvalue of largest modulus real, positive, simple; "
            "⟨Qφ₁, Kφ₁⟩ > 0), the coordinate φ₁*(z_i(t)) converges to one of at most three values"
        ),
        tolerance="not observed: " + EUCLIDEAN_REASON,
        predicates=_euclid(lambda f: [p_one_head(f)]),
        not_applicable_reason=EUCLIDEAN_REASON,
        euclidean=EU_HYPERPLANES,
    ),
    Theorem(
        id="glpr-boolean-1d",
        title="d = 1: attention becomes Boolean, two leaders",
        source=f"{G2}, Thm t:boolean (§2, proof §7)",
        status="not in this model",
        statement=(
            "in d = 1 with V > 0, QK > 0, the attention matrix converges to one whose rows (but at most "
            "one) are e_1 or e_n: every token ends up attending to the smallest or the largest one"
        ),
        tolerance="not observed: " + EUCLIDEAN_REASON,
        predicates=_euclid(lambda f: [p_dim(f, 1, 1)]),
        not_applicable_reason=EUCLIDEAN_REASON,
        euclidean=EU_BOOLEAN,
    ),
    Theorem(
        id="glpr-negative-identity",
        title="V = −I in R^d: a single cluster at the origin",
        source=f"{G2}, Thm t:cas-Idintro (§8)",
        status="not in this model",
        statement=(
            "with V = −I and QᵀK = I every token converges to 0 and the attention matrix to the "
            "uniform matrix 11ᵀ/n"
        ),
        tolerance="not observed: " + EUCLIDEAN_REASON,
        predicates=_euclid(lambda f: [p_qk_identity(f)]),
        not_applicable_reason=EUCLIDEAN_REASON,
        euclidean=EU_NEGATIVE_IDENTITY,
    ),
)

IDS: tuple[str, ...] = tuple(th.id for th in REGISTRY)


def get(theorem_id: str) -> Theorem:
    """The registered theorem with this id (KeyError listing the known ids otherwise)."""
    for th in REGISTRY:
        if th.id == theorem_id:
            return th
    raise KeyError(f"unknown theorem {theorem_id!r}; known: {', '.join(IDS)}")


def evaluate(scenario: Scenario, result: Result | None = None) -> list[Card]:
    """Evaluate every registered result on ``scenario`` (and observe it on ``result`` if given).

    ``result`` must be a run of this very scenario (``result.scenario == scenario``).
    Raises ScenarioError for scenarios whose tokens cannot be built (e.g. a zero row in x0).
    """
    if isinstance(scenario, _eu.EuclideanScenario):  # the Euclidean model: its own cards only
        return evaluate_euclidean(scenario, result)
    if result is not None and result.scenario != scenario:
        raise ValueError("evaluate: the result is a run of another scenario")
    f = scenario_facts(scenario)
    return [th.card(f, result) for th in REGISTRY]


# ------------------------------------------------------------------ counter-examples
def _spec(m: np.ndarray) -> MatrixSpec:
    return MatrixSpec(const=tuple(tuple(float(v) for v in row) for row in np.asarray(m, dtype=float)))


def _with_values(scenario: Scenario, V: np.ndarray) -> Scenario:
    heads = tuple(Head(Q=h.Q, K=h.K, V=_spec(V)) for h in build_heads(scenario))
    return scenario.replace(heads=heads)


def _with_qk(scenario: Scenario, A: np.ndarray) -> Scenario:
    eye = _spec(np.eye(scenario.d))
    heads = tuple(Head(Q=eye, K=_spec(A), V=h.V) for h in build_heads(scenario))
    return scenario.replace(heads=heads)


def _skew(d: int, scale: float) -> np.ndarray:
    j = np.zeros((d, d))
    j[0, 1], j[1, 0] = scale, -scale
    return j


def _add_head(scenario: Scenario) -> Scenario:
    heads = build_heads(scenario)
    rng = np.random.default_rng([scenario.seed, 7])
    d = scenario.d
    q, k = rng.standard_normal((d, d)) / math.sqrt(d), rng.standard_normal((d, d)) / math.sqrt(d)
    return scenario.replace(heads=(*heads, Head(Q=_spec(q), K=_spec(k), V=heads[0].V)))


def _antipodal_pair(scenario: Scenario) -> Scenario | None:
    if scenario.n < 2:
        return None
    x = initial_tokens(scenario).copy()
    x[-1] = -x[0]
    return scenario.replace(x0=tuple(tuple(float(v) for v in row) for row in x))


def _circle(scenario: Scenario) -> Scenario:
    return scenario.replace(
        d=2,
        x0=None,
        heads=None,
        n_heads=1,
        value="identity",
        qk="identity",
        v_eigs=None,
        qk_eigs=None,
        pole=None,
        init="uniform",
        space="sphere",
        P=None,
    )


def _flip_side(scenario: Scenario, v: np.ndarray) -> Scenario | None:
    if scenario.n < 2:
        return None
    x = initial_tokens(scenario).copy()
    x[-1] = x[-1] - 2 * (x[-1] @ v) * v  # reflect the last token through v^⊥
    if abs(x[-1] @ v) < 1e-3:  # on v^⊥ already: push it across
        x[-1] = x[-1] - 0.5 * np.sign(x[0] @ v) * v
    return scenario.replace(x0=tuple(tuple(float(c) for c in row) for row in x))


NO_HEMISPHERE = "tokens in no open hemisphere (last token = −first: an antipodal pair)"


def counter_examples(card_id: str, scenario: Scenario) -> list[tuple[str, Scenario]]:
    """One-click scenarios that break one assumption of the card each (label, scenario).

    Each returned scenario is a small edit of ``scenario`` (tokens, V, QᵀK, mask or head count)
    for which the card no longer applies. Euclidean-model entries and open questions have none.
    """
    th = get(card_id)
    if th.not_applicable_reason is not None or th.status == "open question":
        return []
    d = scenario.d
    eye = np.eye(d)
    out: list[tuple[str, Scenario | None]] = []
    if card_id == "ast-gradient":
        A = np.diag(np.linspace(2.0, 0.5, d))
        out = [
            ("two heads (the gradient structure is for one head)", _add_head(scenario)),
            ("QᵀK not symmetric", _with_qk(scenario, A + _skew(d, 1.0))),
            ("QᵀK indefinite (eigenvalue −1)", _with_qk(scenario, np.diag([1.0] * (d - 1) + [-1.0]))),
            ("V = −I instead of I", _with_values(scenario, -eye)),
            ("causal mask", scenario.replace(mask="causal")),
        ]
    elif card_id == "ast-hemisphere":
        out = [
            (NO_HEMISPHERE, _antipodal_pair(scenario)),
            ("V = −I instead of I", _with_values(scenario, -eye)),
            ("V with a rotation part (V ≠ I)", _with_values(scenario, eye + _skew(d, 1.0))),
            ("causal mask (see ast-causal-identity)", scenario.replace(mask="causal")),
        ]
    elif card_id == "ast-causal-identity":
        out = [
            ("mask off (full attention)", scenario.replace(mask="none")),
            ("V = −I instead of I", _with_values(scenario, -eye)),
            (
                "V symmetric with a simple top eigenvalue (see ast-causal-symmetric)",
                _with_values(scenario, np.diag(np.linspace(1.0, -1.0, d))),
            ),
        ]
    elif card_id == "ast-causal-symmetric":
        f = scenario_facts(scenario)
        vf = f.V[0]
        w, u = np.linalg.eigh((vf.M + vf.M.T) / 2)
        rep = w.copy()
        rep[-2] = rep[-1]  # repeat the top eigenvalue
        out = [
            ("V with a repeated top eigenvalue", _with_values(scenario, (u * rep) @ u.T)),
            (
                "V with a negative top eigenvalue (V − (λ₁ + 1)I)",
                _with_values(scenario, vf.M - (w[-1] + 1) * eye),
            ),
            ("V not symmetric", _with_values(scenario, vf.M + _skew(d, 1.0 + vf.norm))),
            ("tokens on both sides of v^⊥ (last token reflected)", _flip_side(scenario, vf.top_vector)),
            ("mask off (full attention)", scenario.replace(mask="none")),
            ("two heads (see open-causal-symmetric-multihead)", _add_head(scenario)),
        ]
    elif card_id == "glpr-sphere-d3":
        out = [
            ("the circle, d = 2 (see open-metastability)", _circle(scenario)),
            ("QᵀK ≠ I (diagonal SPD)", _with_qk(scenario, np.diag(np.linspace(2.0, 0.5, d)))),
            ("V = −I instead of I", _with_values(scenario, -eye)),
            ("two heads", _add_head(scenario)),
            ("causal mask", scenario.replace(mask="causal")),
        ]
    elif card_id == "glpr-cone-collapse":
        out = [
            (NO_HEMISPHERE, _antipodal_pair(scenario)),
            ("QᵀK ≠ I (diagonal SPD)", _with_qk(scenario, np.diag(np.linspace(2.0, 0.5, d)))),
            ("V = −I instead of I", _with_values(scenario, -eye)),
            ("two heads", _add_head(scenario)),
        ]
    return [(label, s) for label, s in out if s is not None]


# ------------------------------------------------------------------ JSON hygiene
def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars → Python, NaN/inf → None, tuples/arrays → lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_clean(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


__all__ = [
    "IDS",
    "REGISTRY",
    "Assumption",
    "Card",
    "EuclideanEntry",
    "EuclideanFacts",
    "Facts",
    "Observation",
    "Theorem",
    "counter_examples",
    "euclidean_counter_examples",
    "euclidean_facts",
    "evaluate",
    "evaluate_euclidean",
    "get",
    "scenario_facts",
]
