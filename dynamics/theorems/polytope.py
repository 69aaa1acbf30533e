"""Geshkovski et al. (The emergence of clusters, §3): V = I in ℝᵈ — limits on a convex polytope.

Euclidean model, V = I, QᵀK symmetric positive definite, pairwise distinct tokens: every rescaled
token zᵢ = e⁻ᵗxᵢ converges to 0 or to a point of the boundary of a convex polytope K (generically a
vertex). The hulls conv{zᵢ(t)} are nested (non-increasing in t), which a run can refute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import euclidean as eu
from . import predicates as p
from .base import Observation, Theorem, num
from .facts import EU_HULL_TOL, EU_LIMIT_TOL, EU_VELOCITY_TOL, EU_WRONG_TOL, EuclideanFacts
from .observe import eu_frames
from .sources import GLPR_CLUSTERS


def _predicates(f: EuclideanFacts) -> list:
    return [
        p.e_model(f),
        p.e_softmax(f),
        p.e_value_identity(f),
        p.e_qk_symmetric(f),
        p.e_qk_positive_definite(f),
        p.e_tokens_distinct(f),
    ]


def hull_nesting(z: np.ndarray) -> float:
    """max_k max_i distance of z_i(t_{k+1}) outside conv{z_j(t_k)} (Qhull facets)."""
    return max(float(eu.hull_excess(z[k + 1], z[k]).max()) for k in range(len(z) - 1))


def _nesting(
    es: eu.EuclideanScenario, nest: float, scale: float, numbers: dict[str, Any]
) -> Observation | None:
    """False if the hulls are not nested although an Euler step h ≤ 1 keeps them so; else None."""
    if nest <= EU_HULL_TOL * scale:
        return None
    exact = es.integrator == "euler" and eu.fixed_steps(es)[1] <= 1.0
    note = (
        f"adaptive {es.method}"
        if es.integrator == "adaptive"
        else f"{es.integrator} step h = {num(eu.fixed_steps(es)[1])}"
    )
    if exact:
        return Observation(
            False,
            f"a rescaled token left the convex hull of the previous frame by {num(nest)} > "
            f"{num(EU_HULL_TOL)}·{num(scale)}, although the hulls are nested along the flow and an Euler "
            f"step h ≤ 1 is a convex combination ({note})",
            numbers,
        )
    numbers["hull_nesting_note"] = (
        f"excess {num(nest)} with {note}: only Euler steps h ≤ 1 keep hulls nested exactly; "
        "no verdict from it"
    )
    return None


def _observe(f: EuclideanFacts, result: eu.EuclideanResult) -> Observation:
    got = eu_frames(result)
    if isinstance(got, str):
        return Observation(None, got)
    t, z = got
    es = f.scenario
    scale = max(1.0, float(np.abs(z[0]).max()))
    nest = hull_nesting(z)
    numbers: dict[str, Any] = {"hull_nesting_excess": nest, "T": float(t[-1])}
    refuted = _nesting(es, nest, scale, numbers)
    if refuted is not None:
        return refuted
    vel = float(np.linalg.norm(eu.z_velocity(es, float(t[-1]), z[-1]), axis=1).max())
    tol = EU_LIMIT_TOL * scale
    centres, _ = eu.distinct_points(z[-1], tol)
    bd = eu.convex_hull(z[-1]).boundary_distance(centres)
    at_zero = np.linalg.norm(centres, axis=1) <= tol
    on_bd = np.abs(bd) <= tol
    vertices = len(eu.convex_hull(centres).vertices)
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
    where = f"{len(centres)} distinct limit point(s) (tol {num(tol, 2)}), {vertices} vertex(es) of their hull"
    if converged and np.all(on_bd | at_zero):
        return Observation(
            True,
            f"z converged (fastest ‖żᵢ‖ = {num(vel, 2)}) to {where}, every one on the boundary of K or at 0; "
            f"hulls nested to {num(nest, 2)}",
            numbers,
        )
    deep = (-bd > EU_WRONG_TOL * scale) & ~at_zero
    if converged and deep.any():
        return Observation(
            False,
            f"z converged (fastest ‖żᵢ‖ = {num(vel, 2)}) but {int(deep.sum())} limit point(s) lie inside K, "
            f"deeper than {num(EU_WRONG_TOL)}·{num(scale)}",
            numbers,
        )
    return Observation(
        None,
        f"horizon too short: the fastest ‖żᵢ(T)‖ = {num(vel)} > {num(EU_VELOCITY_TOL)}·{num(scale)} at "
        f"T = {t[-1]:g} ({where} so far; no rate is proven)",
        numbers,
    )


def _counter_examples(es: eu.EuclideanScenario) -> list[tuple[str, eu.EuclideanScenario]]:
    d = es.d
    eye = np.eye(d)
    out = [
        ("V = 2I instead of I", es.replace(V=(2 * eye).tolist())),
        (
            "QᵀK indefinite (eigenvalue −1)",
            es.replace(Q=eye.tolist(), K=np.diag([1.0] * (d - 1) + [-1.0]).tolist()),
        ),
    ]
    x = es.initial_tokens().copy()
    if len(x) >= 2:
        x[-1] = x[0]
        out.append(("two equal tokens", es.replace(x0=[list(r) for r in x])))
    return out


THEOREM = Theorem(
    id="glpr-polytope",
    short="V = I in ℝᵈ ⇒ limits on a polytope",
    cite="Geshkovski et al., NeurIPS 2023, §3",
    title="V = I in ℝᵈ: rescaled tokens converge to the vertices of a convex polytope",
    source=f"{GLPR_CLUSTERS}, the V = I theorem of §3 (general form in §8)",
    status="theorem",
    model="euclidean",
    statement=(
        "with V = I and QᵀK ≻ 0, every rescaled token zᵢ = e⁻ᵗxᵢ converges to 0 or to a point of the "
        "boundary of a convex polytope (generically a vertex)"
    ),
    tolerance=(
        f"limits: clusters of z(T) at {num(EU_LIMIT_TOL)}·s (s = max(1, max|z(0)|)), converged when the "
        f"fastest ‖żᵢ(T)‖ ≤ {num(EU_VELOCITY_TOL)}·s, each at 0 or within {num(EU_LIMIT_TOL)}·s of the "
        f"boundary of conv z(T); refuted if converged with a limit deeper than {num(EU_WRONG_TOL)}·s inside; "
        f"hull nesting ≤ {num(EU_HULL_TOL)}·s between saved frames (refutes only for Euler, h ≤ 1)"
    ),
    predicates=_predicates,
    observer=_observe,
    counter_examples=_counter_examples,
    off_model=lambda f: [p.euclidean_model(f), p.value_identity(f), p.qk_positive_definite(f)],
    example=lambda: eu.EuclideanScenario(n=20, d=2, T=12.0, dt=0.05, frames=121),
    priority=90,
)
