"""Initial token configurations on the sphere or the ellipsoid {x : xᵀPx = 1}.

Generated tokens are drawn on the unit sphere and then moved radially onto the ellipsoid
(x ↦ x / ‖x‖_P), which keeps every statement about hemispheres and cones true: those are
conditions on directions only.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .errors import ScenarioError
from .scenario import Scenario


def normalize(x: np.ndarray, P: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``x`` scaled onto the unit sphere (P = None) or the ellipsoid xᵀPx = 1."""
    if P is None:
        sq = np.einsum("...i,...i->...", x, x)
    else:
        sq = np.einsum("...i,ij,...j->...", x, P, x)
    return x / np.sqrt(sq)[..., None]


def uniform_sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform on S^{d-1} (normalised Gaussians)."""
    x = rng.standard_normal((n, d))
    return normalize(x)


def spherical_cap(
    n: int, d: int, rng: np.random.Generator, *, pole: np.ndarray, min_cos: float
) -> np.ndarray:
    """n points uniform on the cap {x ∈ S^{d-1} : ⟨x, ŵ⟩ ≥ min_cos}, ŵ = pole/‖pole‖.

    Exact sampler: the height h = ⟨x, ŵ⟩ of a uniform point has (h+1)/2 ~ Beta((d-1)/2, (d-1)/2);
    draw it from that law conditioned on h ≥ min_cos (inverse CDF), and the rest of x uniformly in
    the sphere of ŵ^⊥ with radius √(1 - h²). ``min_cos`` may be negative (caps wider than a
    hemisphere).
    """
    w = np.asarray(pole, dtype=float)
    w = w / np.linalg.norm(w)
    a = (d - 1) / 2
    law = stats.beta(a, a)
    lo = law.cdf((min_cos + 1) / 2)
    u = lo + (1 - lo) * rng.random(n)
    h = np.clip(2 * law.ppf(u) - 1, min_cos, 1.0)
    g = rng.standard_normal((n, d))
    g -= np.outer(g @ w, w)  # project onto w^⊥
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return h[:, None] * w + np.sqrt(1 - h**2)[:, None] * g / norms


def antipodal_pairs(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n/2 random points and their antipodes: contained in no open hemisphere."""
    half = uniform_sphere(n // 2, d, rng)
    out = np.empty((n, d))
    out[0::2], out[1::2] = half, -half
    return out


def great_circle(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n points evenly spread (with a random phase) on the great circle of the first two axes.

    For n ≥ 3 no open hemisphere contains them all (their LP margin is 0).
    """
    theta = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n) / n
    out = np.zeros((n, d))
    out[:, 0], out[:, 1] = np.cos(theta), np.sin(theta)
    return out


def default_pole(d: int) -> np.ndarray:
    """The last basis vector e_d (the "north pole" in the 3D view)."""
    e = np.zeros(d)
    e[-1] = 1.0
    return e


def initial_tokens(scenario: Scenario) -> np.ndarray:
    """The (n, d) initial tokens of a scenario, on its manifold, in float64.

    Explicit ``x0`` is validated (non-zero rows) and normalised onto the manifold; otherwise the
    ``init`` kind is drawn with a generator seeded by ``(seed, 0)``.
    """
    P = scenario.ellipsoid_matrix()
    if scenario.x0 is not None:
        x = np.array(scenario.x0, dtype=float)
        norms = np.linalg.norm(x, axis=1)
        if np.any(norms < 1e-12):
            bad = int(np.argmax(norms < 1e-12))
            raise ScenarioError(f"x0: token {bad + 1} is the zero vector and has no direction")
        return normalize(x, P)
    n, d = scenario.n, scenario.d
    rng = np.random.default_rng([scenario.seed, 0])
    pole = default_pole(d) if scenario.pole is None else np.array(scenario.pole)
    if scenario.init == "uniform":
        x = uniform_sphere(n, d, rng)
    elif scenario.init == "hemisphere":
        x = spherical_cap(n, d, rng, pole=pole, min_cos=scenario.margin)
    elif scenario.init == "cap":
        x = spherical_cap(n, d, rng, pole=pole, min_cos=float(np.cos(scenario.cap_angle)))
    elif scenario.init == "antipodal":
        x = antipodal_pairs(n, d, rng)
    else:
        x = great_circle(n, d, rng)
    return normalize(x, P)
