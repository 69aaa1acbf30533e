"""Geshkovski et al. (The emergence of clusters, §4): a good triple — at most three hyperplanes.

Euclidean model; V's eigenvalue of largest modulus λ₁ is real, positive and simple
(λ₁ > |λ₂| ≥ …), and ⟨Qφ₁, Kφ₁⟩ > 0 for its eigenvector φ₁. Then the coordinate ψ₁ᵀzᵢ(t) along φ₁
(ψ₁ the left eigenvector) converges to one of at most three values {a, 0, b}: the rescaled tokens
cluster on at most three parallel hyperplanes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import euclidean as eu
from . import predicates as p
from .base import Assumption, Observation, Theorem, assumption, num
from .facts import EU_LIMIT_TOL, EU_VELOCITY_TOL, EU_WRONG_TOL, GAP_TOL, EuclideanFacts
from .observe import eu_frames
from .sources import GLPR_CLUSTERS


def _complex(z: complex) -> str:
    return f"{z.real:.4g}" if z.imag == 0 else f"{z.real:.4g} {'+' if z.imag > 0 else '−'} {abs(z.imag):.4g}i"


def top_real(f: EuclideanFacts) -> Assumption:
    lam = f.top.value
    return assumption(
        "value_top_real",
        "λ₁ (largest modulus) real",
        "|Im λ₁|",
        f.top.real,
        abs(lam.imag),
        f"V's eigenvalue of largest modulus λ₁ = {_complex(lam)}; |Im λ₁| = {num(abs(lam.imag))} (must be 0)",
    )


def top_positive(f: EuclideanFacts) -> Assumption:
    lam = f.top.value
    return assumption(
        "value_top_positive",
        "λ₁ positive",
        "Re λ₁",
        f.top.real and lam.real > 0,
        lam.real,
        f"Re λ₁ = {lam.real:.4g} for the eigenvalue of largest modulus (> 0 needed)",
    )


def top_simple(f: EuclideanFacts) -> Assumption:
    gap = f.top.modulus_gap
    tol = GAP_TOL * max(1.0, abs(f.top.value))
    mods = ", ".join(f"{abs(w):.4g}" for w in f.top.eigenvalues[:8])
    more = ", …" if len(f.top.eigenvalues) > 8 else ""
    return assumption(
        "value_top_modulus_simple",
        "λ₁ simple: λ₁ > |λ₂|",
        "|λ₁| − |λ₂|",
        gap > tol,
        gap,
        f"moduli of V's eigenvalues: {mods}{more}; |λ₁| − |λ₂| = {num(gap)} (> {num(tol, 2)} needed: "
        "λ₁ > |λ₂| ≥ |λ₃| ≥ …)",
    )


def qk_on_top(f: EuclideanFacts) -> Assumption:
    name, label, quantity = "qk_positive_on_top", "⟨Qφ₁, Kφ₁⟩ > 0", "⟨Qφ₁, Kφ₁⟩"
    if not f.top.real:
        return assumption(
            name, label, quantity, False, "complex φ₁", "λ₁ is not real: no real eigenvector φ₁"
        )
    phi = f.top.phi
    val = float((f.Q @ phi) @ (f.K @ phi))
    return assumption(
        name,
        label,
        quantity,
        val > 0,
        val,
        f"⟨Qφ₁, Kφ₁⟩ = {val:.4g} with φ₁ the unit eigenvector of λ₁ (> 0 needed)",
    )


def _observe(f: EuclideanFacts, result: eu.EuclideanResult) -> Observation:
    got = eu_frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, z = got
    psi = f.top.psi
    c = z @ psi
    scale = max(1.0, float(np.abs(c[0]).max()))
    tol = EU_LIMIT_TOL * scale
    cvel = float(np.abs(eu.z_velocity(f.scenario, float(t[-1]), z[-1]) @ psi).max())
    values, _ = eu.hyperplane_values(z[-1], psi, tol)
    a, b = float(values.min()), float(values.max())
    off = np.min(np.abs(values[:, None] - np.array([a, b, 0.0])[None]), axis=1)
    counts = [len(eu.hyperplane_values(zk, psi, tol)[0]) for zk in z]
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
            f"ψ₁ᵀzᵢ converged (fastest |ψ₁ᵀżᵢ| = {num(cvel, 2)}) to {len(values)} value(s) "
            f"{{{', '.join(f'{v:.4g}' for v in values)}}} ⊂ {{a, 0, b}} (tol {num(tol, 2)})"
            + (f", at most three from t = {since:g}" if since is not None else ""),
            numbers,
        )
    if converged and np.any(off > EU_WRONG_TOL * scale):
        return Observation(
            False,
            f"ψ₁ᵀzᵢ converged (fastest |ψ₁ᵀżᵢ| = {num(cvel, 2)}) to {len(values)} values, some farther than "
            f"{num(EU_WRONG_TOL)}·{num(scale)} from {{min, 0, max}}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: the fastest |ψ₁ᵀżᵢ(T)| = {num(cvel)} > {num(EU_VELOCITY_TOL)}·{num(scale)}; "
        f"{len(values)} distinct value(s) of ψ₁ᵀzᵢ at T = {t[-1]:g}",
        numbers,
    )


def _predict(f: EuclideanFacts) -> str:
    if not f.top.real:
        return "ψ₁ᵀzᵢ → at most three values (needs a real λ₁)"
    psi = ", ".join(f"{v:.3f}" for v in f.top.psi[:6]) + (", …" if f.d > 6 else "")
    return (
        "ψ₁ᵀzᵢ(t) → one of at most three values {a, 0, b}: the rescaled tokens cluster on at most three "
        f"parallel lines/planes ψ₁ᵀz = const, ψ₁ = ({psi}) the left eigenvector of "
        f"λ₁ = {f.top.value.real:.4g}"
    )


def _counter_examples(es: eu.EuclideanScenario) -> list[tuple[str, eu.EuclideanScenario]]:
    d = es.d
    if d < 2:
        return []
    Q, _, V = es.matrices()
    rot = np.eye(d)
    rot[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]
    return [
        ("V = −V (largest-modulus eigenvalue negative)", es.replace(V=(-V).tolist())),
        ("V with a rotation block (complex top eigenvalue)", es.replace(V=(2 * rot).tolist())),
        (
            "V = diag(1, −1, …) (top modulus not simple)",
            es.replace(V=np.diag([1.0, -1.0] + [0.5] * (d - 2)).tolist()),
        ),
        ("K = −Q (⟨Qφ₁, Kφ₁⟩ < 0)", es.replace(Q=Q.tolist(), K=(-Q).tolist())),
    ]


THEOREM = Theorem(
    id="glpr-hyperplanes",
    short="Good triple ⇒ at most three hyperplanes",
    cite="Geshkovski et al., NeurIPS 2023, §4",
    title="Simple positive top eigenvalue of V: clustering on at most three parallel hyperplanes",
    source=f"{GLPR_CLUSTERS}, the hyperplane theorem of §4 with its definition of a good triple",
    status="theorem",
    model="euclidean",
    statement=(
        "for a good triple (V's eigenvalue of largest modulus real, positive and simple; ⟨Qφ₁, Kφ₁⟩ > 0), "
        "the coordinate of zᵢ(t) along φ₁ converges to one of at most three values"
    ),
    tolerance=(
        f"values of ψ₁ᵀzᵢ(T) clustered at {num(EU_LIMIT_TOL)}·s (s = max(1, max|ψ₁ᵀz(0)|)), converged when "
        f"the fastest |ψ₁ᵀżᵢ(T)| ≤ {num(EU_VELOCITY_TOL)}·s; observed if ≤ 3 values, each within the "
        f"tolerance of min, max or 0; refuted if converged with a value farther than {num(EU_WRONG_TOL)}·s "
        "from them"
    ),
    predicates=lambda f: [
        p.e_model(f),
        p.e_softmax(f),
        top_real(f),
        top_positive(f),
        top_simple(f),
        qk_on_top(f),
    ],
    observer=_observe,
    predict=_predict,
    counter_examples=_counter_examples,
    off_model=lambda f: [p.euclidean_model(f), p.one_head(f)],
    example=lambda: eu.EuclideanScenario(n=20, d=2, T=12.0, dt=0.05, frames=121, value="good_triple"),
    priority=91,
)
