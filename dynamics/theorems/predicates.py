"""Assumptions shared by several theorems, each with its words and its deciding number.

A predicate reads :class:`~dynamics.theorems.facts.Facts` (sphere/ellipsoid) or
:class:`~dynamics.theorems.facts.EuclideanFacts` (Euclidean model) and returns an
:class:`~dynamics.theorems.base.Assumption`: holds or not, the number that decides it, one sentence
with that number and the tolerance, and the label the app shows. A predicate used by one theorem
only lives in that theorem's module.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Assumption, assumption, num, real_space
from .facts import (
    EU_DISTINCT_TOL,
    GAP_TOL,
    HEMISPHERE_TOL,
    IDENTITY_TOL,
    SIDE_TOL,
    SYMMETRY_TOL,
    EuclideanFacts,
    Facts,
    MatrixFacts,
    symmetry_defect,
)

EUCLIDEAN_REASON = (
    "a result about the Euclidean model in ℝᵈ: evaluate it on a EuclideanScenario "
    "(the app's Euclidean model page)"
)


# ------------------------------------------------------------------ heads, attention, mask, space
def one_head(f: Facts) -> Assumption:
    return assumption(
        "one_head",
        "one head",
        "heads",
        f.h == 1,
        f.h,
        f"{f.h} head(s); the theorem is stated for a single head",
    )


def several_heads(f: Facts) -> Assumption:
    return assumption(
        "several_heads",
        "several heads (h ≥ 2)",
        "heads",
        f.h >= 2,
        f.h,
        f"{f.h} head(s); the open question is about h ≥ 2",
    )


def softmax(f: Facts) -> Assumption:
    att = f.scenario.attention
    return assumption(
        "softmax_attention",
        "softmax attention",
        "attention",
        att == "softmax",
        att,
        f"attention is {att}; the theorem is proved for softmax self-attention only",
    )


def sa_or_usa(f: Facts) -> Assumption:
    att = f.scenario.attention
    return assumption(
        "sa_or_usa",
        "softmax or unnormalized attention",
        "attention",
        att in ("softmax", "unnormalized"),
        att,
        f"attention is {att}; the theorem covers softmax (SA) and unnormalized (USA) attention",
    )


def mask(f: Facts, want: str) -> Assumption:
    got = f.scenario.mask
    if want == "causal":
        name, label = "causal_mask", "causal mask"
    else:
        name, label = "full_attention", "full attention (no mask)"
    words = {"causal": "causal (token i sees tokens 1…i)", "none": "none (every token sees every token)"}
    return assumption(
        name, label, "mask", got == want, got, f"mask: {words.get(got, got)}; needed: {words[want]}"
    )


def unit_sphere(f: Facts) -> Assumption:
    space = f.scenario.space
    return assumption(
        "unit_sphere", "on the unit sphere", "space", space == "sphere", space, f"tokens live on the {space}"
    )


def dimension(f: Facts, lo: int, hi: int | None = None) -> Assumption:
    """lo ≤ d (≤ hi): name ``d_at_least_lo``, ``d_equals_lo`` or ``d_lo_hi``."""
    d = f.d
    ok = d >= lo and (hi is None or d <= hi)
    if hi is None:
        name, label = f"d_at_least_{lo}", f"d ≥ {lo}"
    elif hi == lo:
        name, label = f"d_equals_{lo}", f"d = {lo}"
    else:
        name, label = f"d_{lo}_{hi}", f"{lo} ≤ d ≤ {hi}"
    return assumption(name, label, "d", ok, d, f"d = {d}")


def beta_positive(f: Facts) -> Assumption:
    b = f.scenario.beta
    return assumption("beta_positive", "β > 0", "β", b > 0, b, f"β = {b:g} (> 0 needed)")


def euclidean_model(f: Facts) -> Assumption:
    """On a sphere scenario: a result about the Euclidean model does not apply."""
    return assumption(
        "euclidean_model",
        "the Euclidean model in ℝᵈ",
        "this run is on the",
        False,
        f.scenario.space,
        "the result is about the unnormalized dynamics in ℝᵈ (no layer norm); this scenario lives "
        f"on the {f.scenario.space} — {EUCLIDEAN_REASON}",
    )


# ------------------------------------------------------------------ V
def value_identity(f: Facts) -> Assumption:
    name, label, quantity = "value_identity", "V = I", "‖V − I‖/√d"
    if not all(v.constant for v in f.V):
        return assumption(name, label, quantity, False, "time-varying", "V(t) varies in time, so it is not I")
    worst = max(range(f.h), key=lambda k: f.V[k].identity_defect)
    defect = f.V[worst].identity_defect
    holds = defect <= IDENTITY_TOL
    detail = f"max over heads of ‖V − I‖/√d = {num(defect)} (tolerance {num(IDENTITY_TOL)})"
    if not holds:
        c, rel = f.V[worst].scalar
        head = f" (head {worst + 1})" if f.h > 1 else ""
        detail = (
            f"V is not the identity{head}: ‖V − I‖/√d = {num(defect)} > {num(IDENTITY_TOL)}; the nearest "
            f"multiple of I is cI with c = tr V/d = {num(c)}, and ‖V − cI‖/‖V‖ = {num(rel)}"
        )
    return assumption(name, label, quantity, holds, defect, detail)


def value_constant_symmetric(f: Facts) -> Assumption:
    ok = all(v.constant and v.symmetric for v in f.V)
    worst = max(v.symmetry_defect for v in f.V)
    varying = "" if all(v.constant for v in f.V) else "V varies in time; "
    return assumption(
        "value_constant_symmetric",
        "V constant and symmetric",
        "asymmetry ‖V − Vᵀ‖/‖V‖",
        ok,
        worst,
        f"{varying}‖V − Vᵀ‖/‖V‖ = {num(worst)} (≤ {num(SYMMETRY_TOL)} needed)",
    )


def value_top_simple(vf: MatrixFacts, label: str = "V") -> Assumption:
    return assumption(
        "value_top_simple",
        f"{label}'s top eigenvalue is simple",
        "gap λ₁ − λ₂",
        vf.top_simple,
        vf.top_gap,
        f"eigenvalues of {label}: {vf.spectrum_words()}; gap λ₁ − λ₂ = {num(vf.top_gap)} (must be > "
        f"{num(GAP_TOL)}·scale: the algebraically largest eigenvalue must be simple; it need not be the "
        "largest in modulus)",
    )


def value_top_positive(vf: MatrixFacts, label: str = "V") -> Assumption:
    top = float(vf.top_eigs[0])
    return assumption(
        "value_top_positive",
        f"{label}'s top eigenvalue is positive",
        "λ₁",
        top > 0,
        top,
        f"largest eigenvalue of {label}: λ₁ = {top:.4g} (> 0 needed). The paper asks only for a simple top "
        "eigenvalue; with every eigenvalue negative none of this project's runs reached consensus",
    )


def side_of(f: Facts, v: np.ndarray) -> tuple[int, float]:
    """(s, margin): s = ±1 the side of v^⊥ holding the first token, margin = min_i s⟨u_i, v⟩."""
    u = f.x0 / np.linalg.norm(f.x0, axis=1, keepdims=True)
    c = u @ v
    s = 1 if c[0] >= 0 else -1
    return s, float((s * c).min())


def tokens_one_side(f: Facts, vf: MatrixFacts, label: str = "V") -> Assumption:
    s, margin = side_of(f, vf.top_vector)
    return assumption(
        "tokens_one_side",
        "tokens on one side of v⊥",
        "margin min ⟨uᵢ, ±v⟩",
        margin > SIDE_TOL,
        margin,
        f"minᵢ ⟨uᵢ, {'+' if s > 0 else '−'}v⟩ = {margin:.4g} with v the top eigenvector of {label} and uᵢ "
        "the token directions (> 0 needed: all tokens in the same open half of the space cut by v⊥)",
    )


# ------------------------------------------------------------------ QᵀK
def qk_constant(f: Facts) -> Assumption:
    ok = all(a.constant for a in f.A)
    return assumption(
        "qk_constant",
        "QᵀK constant in time",
        "QᵀK(t)",
        ok,
        "constant" if ok else "time-varying",
        "QᵀK must not change in time (Q(t)ᵀK(t) sampled over [0, max(T, 2π)])",
    )


def qk_symmetric(f: Facts) -> Assumption:
    worst = max(a.symmetry_defect for a in f.A)
    return assumption(
        "qk_symmetric",
        "QᵀK symmetric",
        "asymmetry ‖A − Aᵀ‖/‖A‖",
        worst <= SYMMETRY_TOL,
        worst,
        f"max over heads of ‖A − Aᵀ‖/‖A‖ = {num(worst)}, A = QᵀK (≤ {num(SYMMETRY_TOL)} needed)",
    )


def qk_positive_definite(f: Facts) -> Assumption:
    lo = min(a.min_eig for a in f.A)
    b = f.scenario.beta
    return assumption(
        "qk_positive_definite",
        "QᵀK positive definite",
        "smallest eigenvalue",
        lo > 0 and b > 0,
        lo,
        f"smallest eigenvalue of the symmetric part of QᵀK = {lo:.4g} (must be > 0; the scores are "
        f"β·⟨xᵢ, QᵀK xⱼ⟩ and β = {b:g} must be > 0 too)",
    )


def qk_bounded(f: Facts) -> Assumption:
    bound = max(a.bound for a in f.A)
    lip = max(a.lipschitz for a in f.A)
    return assumption(
        "qk_bounded_uniformly_continuous",
        "QᵀK(t) bounded and uniformly continuous",
        "sup ‖QᵀK‖ ≤",
        math.isfinite(bound) and math.isfinite(lip),
        bound,
        f"QᵀK(t) = (Q₀ + Q₁ sin)ᵀ(K₀ + K₁ sin) is bounded by ‖Q‖‖K‖ ≤ {bound:.4g} and Lipschitz with "
        f"constant ≤ {lip:.4g}, hence uniformly continuous (always true for these sinusoids)",
    )


def qk_identity(f: Facts) -> Assumption:
    name, label, quantity = "qk_identity", "QᵀK = I", "‖QᵀK − I‖/√d"
    if not all(a.constant for a in f.A):
        return assumption(
            name, label, quantity, False, "time-varying", "Q(t)ᵀK(t) varies in time, so it is not I"
        )
    worst = max(a.identity_defect for a in f.A)
    return assumption(
        name,
        label,
        quantity,
        all(a.identity for a in f.A),
        worst,
        f"‖QᵀK − I‖/√d = {num(worst)} (≤ {num(IDENTITY_TOL)} needed; the dynamics sees Q and K only "
        "through QᵀK)",
    )


# ------------------------------------------------------------------ tokens
def open_hemisphere(f: Facts) -> Assumption:
    hemi = f.hemisphere
    return assumption(
        "open_hemisphere",
        "tokens in an open hemisphere",
        "depth inside the best hemisphere",
        hemi.contained,
        hemi.margin,
        f"the best direction w found by a linear program puts every token at least {hemi.margin:.4g} "
        f"above the plane w⊥ (minᵢ ⟨uᵢ, w⟩ > {num(HEMISPHERE_TOL)} needed; it is 0 for tokens on a great "
        "circle or with an antipodal pair)",
    )


# ------------------------------------------------------------------ the Euclidean model
def e_model(f: EuclideanFacts) -> Assumption:
    how = "" if f.scenario.rescaled else " (integrated in x, z derived)"
    return assumption(
        "euclidean_model",
        "the Euclidean model in ℝᵈ",
        "space",
        True,
        real_space(f.d),
        f"unnormalized dynamics in {real_space(f.d)} (no layer norm), drawn as z = e⁻ᵗⱽx{how}",
    )


def e_softmax(f: EuclideanFacts) -> Assumption:
    kind = getattr(f.scenario, "attention", "softmax")
    return assumption(
        "softmax_attention",
        "softmax attention",
        "attention",
        kind == "softmax",
        kind,
        f"attention is {kind}; the theorem is proved for softmax attention only",
    )


def e_value_identity(f: EuclideanFacts, sign: float = 1.0) -> Assumption:
    defect = float(np.linalg.norm(f.V - sign * np.eye(f.d))) / math.sqrt(f.d)
    if sign > 0:
        name, label, what = "value_identity", "V = I", "V − I"
    else:
        name, label, what = "value_minus_identity", "V = −I", "V + I"
    return assumption(
        name,
        label,
        f"‖{what}‖/√d",
        defect <= IDENTITY_TOL,
        defect,
        f"‖{what}‖/√d = {num(defect)} (≤ {num(IDENTITY_TOL)} needed)",
    )


def e_qk_symmetric(f: EuclideanFacts) -> Assumption:
    defect = symmetry_defect(f.A)
    return assumption(
        "qk_symmetric",
        "QᵀK symmetric",
        "asymmetry",
        defect <= SYMMETRY_TOL,
        defect,
        f"‖A − Aᵀ‖/‖A‖ = {num(defect)}, A = QᵀK (≤ {num(SYMMETRY_TOL)} needed: QᵀK ≻ 0 in the paper "
        "means symmetric positive definite; its square root is used)",
    )


def e_qk_positive_definite(f: EuclideanFacts) -> Assumption:
    lo = float(np.linalg.eigvalsh((f.A + f.A.T) / 2)[0])
    return assumption(
        "qk_positive_definite",
        "QᵀK positive definite",
        "smallest eigenvalue",
        lo > 0,
        lo,
        f"smallest eigenvalue of the symmetric part of QᵀK = {lo:.4g} (> 0 needed)",
    )


def e_qk_identity(f: EuclideanFacts) -> Assumption:
    defect = float(np.linalg.norm(f.A - np.eye(f.d))) / math.sqrt(f.d)
    return assumption(
        "qk_identity",
        "QᵀK = I",
        "‖QᵀK − I‖/√d",
        defect <= IDENTITY_TOL,
        defect,
        f"‖QᵀK − I‖/√d = {num(defect)} (≤ {num(IDENTITY_TOL)} needed)",
    )


def e_tokens_distinct(f: EuclideanFacts) -> Assumption:
    tol = EU_DISTINCT_TOL * f.scale
    return assumption(
        "tokens_distinct",
        "tokens pairwise distinct",
        "min distance",
        f.min_distance > tol,
        f.min_distance,
        f"smallest distance between two initial tokens = {num(f.min_distance)} (> {num(tol)} needed)",
    )
