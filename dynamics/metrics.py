"""Measurements of a configuration X (n, d) or a trajectory (K, n, d).

Angles are between directions (x/‖x‖), so on an ellipsoid they measure the same cone geometry as
the hemisphere theorems; on the sphere they are geodesic distances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import logsumexp


def cosines(x: np.ndarray) -> np.ndarray:
    """Matrix of ⟨x_i, x_j⟩ / (‖x_i‖‖x_j‖): (…, n, n)."""
    u = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return np.clip(u @ np.swapaxes(u, -1, -2), -1.0, 1.0)


def min_cosine(x: np.ndarray) -> np.ndarray | float:
    """min_{i,j} cos∠(x_i, x_j) — 1 at consensus. Shape (…)."""
    return cosines(x).min(axis=(-1, -2))


def diameter(x: np.ndarray) -> np.ndarray | float:
    """max_{i,j} ∠(x_i, x_j) in radians (the geodesic diameter on the unit sphere).

    Computed as 2·arcsin(‖u_i − u_j‖/2) for unit directions u, which stays accurate near 0 where
    arccos of a cosine would lose half the digits.
    """
    u = x / np.linalg.norm(x, axis=-1, keepdims=True)
    # Centre first: ‖u_i − u_j‖ is unchanged, and the Gram identity below then cancels only the
    # small spread around the mean (without it, ‖u‖² ≈ 1 leaves a floor of √ε ≈ 1.5e-8).
    u = u - u.mean(axis=-2, keepdims=True)
    sq = np.vecdot(u, u)
    d2 = sq[..., :, None] + sq[..., None, :] - 2 * (u @ np.swapaxes(u, -1, -2))
    chord = np.sqrt(np.clip(d2.max(axis=(-1, -2)), 0.0, 4.0))
    return 2 * np.arcsin(np.minimum(chord / 2, 1.0))


def max_distance(x: np.ndarray) -> np.ndarray | float:
    """max_{i,j} ‖x_i − x_j‖ (Euclidean, in the ambient space)."""
    x = x - x.mean(axis=-2, keepdims=True)  # accurate near 0 (see diameter)
    sq = np.vecdot(x, x)
    d2 = sq[..., :, None] + sq[..., None, :] - 2 * (x @ np.swapaxes(x, -1, -2))
    return np.sqrt(np.clip(d2.max(axis=(-1, -2)), 0.0, None))


def clusters(x: np.ndarray, eps: float = 1e-2) -> np.ndarray:
    """ε-clusters of one configuration (n, d): labels (n,) of the connected components of the
    graph "‖u_i − u_j‖ < eps" on directions u (single linkage at distance eps).

    Labels are 0, 1, … in order of each cluster's first token, so colours stay stable over time.
    """
    u = x / np.linalg.norm(x, axis=-1, keepdims=True)
    sq = np.vecdot(u, u)
    d2 = sq[:, None] + sq[None, :] - 2 * (u @ u.T)
    _, labels = connected_components(csr_matrix(d2 < eps * eps), directed=False)
    _, first = np.unique(labels, return_index=True)
    rank = np.empty_like(first)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[labels]


def cluster_labels(xs: np.ndarray, eps: float = 1e-2) -> np.ndarray:
    """ε-cluster labels for every frame of a trajectory (K, n, d) → (K, n)."""
    return np.stack([clusters(frame, eps) for frame in xs])


def cluster_sizes(labels: np.ndarray) -> np.ndarray:
    """Sizes of the clusters of one labelling, largest first."""
    return np.sort(np.bincount(labels))[::-1]


def distance_to_first(x: np.ndarray) -> np.ndarray:
    """‖x_i − x_1‖ for every token (the causal theorems: every token → the first one)."""
    return np.linalg.norm(x - x[..., :1, :], axis=-1)


def interaction_energy(x: np.ndarray, beta: float, *, normalized: bool = False) -> np.ndarray:
    """E_β(X) = 1/(2βn²) Σ_ij e^{β⟨x_i, x_j⟩} (Geshkovski et al., 2312.10794 §3).

    Non-decreasing along SA and USA with Q = K = V = I; equal to e^β/(2β) at consensus on the
    sphere. ``normalized=True`` returns E_β / (e^β/(2β)) = mean_ij e^{β(⟨x_i,x_j⟩−1)} ∈ (0, 1],
    finite for any β (computed in the log domain). For β = 0 it returns the limit
    E_β − 1/(2β) → ½ mean_ij ⟨x_i, x_j⟩ (normalized: the same plus ½).
    """
    g = x @ np.swapaxes(x, -1, -2)
    n = x.shape[-2]
    if beta == 0:
        half_mean = 0.5 * g.mean(axis=(-1, -2))
        return half_mean + 0.5 if normalized else half_mean
    flat = g.reshape(*g.shape[:-2], -1)
    log_sum = logsumexp(beta * flat, axis=-1)
    if normalized:
        return np.exp(log_sum - beta - 2 * np.log(n))
    return np.exp(log_sum - np.log(2 * beta * n * n))


def gradient_energy(x: np.ndarray, A: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """E(X) = ½ Σ_ij e^{β⟨x_i, A x_j⟩}: the energy of the gradient-flow theorem (§A.3).

    One head, V = I and A = QᵀK symmetric positive definite: on the ellipsoid {xᵀAx = 1} the
    dynamics is a gradient ascent of E, which is then non-decreasing. On the unit sphere this
    only holds for A = cI. May overflow to inf for large β‖A‖; use ``log_gradient_energy``.
    """
    return np.exp(log_gradient_energy(x, A, beta))


def log_gradient_energy(x: np.ndarray, A: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """log E(X) for the energy of :func:`gradient_energy`, finite for any β."""
    s = beta * (x @ A @ np.swapaxes(x, -1, -2))
    return logsumexp(s.reshape(*s.shape[:-2], -1), axis=-1) - np.log(2.0)


@dataclass(frozen=True)
class HemisphereTest:
    """Result of :func:`open_hemisphere`.

    ``contained``: some open hemisphere {x : ⟨x, w⟩ > 0} holds every token.
    ``margin``: min_i ⟨x_i/‖x_i‖, w⟩ for the returned unit ``pole`` w (> 0 iff contained; 0 for
    points that only fit in a closed hemisphere, e.g. on a great circle; < 0 otherwise).
    """

    contained: bool
    margin: float
    pole: np.ndarray
    lp_value: float


def open_hemisphere(x: np.ndarray, *, tol: float = 1e-9) -> HemisphereTest:
    """Exact test whether the tokens lie in an open hemisphere, by linear programming.

    Solves  max m  s.t.  ⟨u_i, w⟩ ≥ m for all i,  −1 ≤ w_k ≤ 1,  m ≤ 1  (scipy HiGHS), with
    u_i = x_i/‖x_i‖. The optimum m* > 0 iff an open hemisphere contains all tokens; m* = 0 for
    points that span a closed one only (a great circle, antipodal pairs). ``tol`` decides m* > 0.
    """
    u = np.asarray(x, dtype=float)
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    n, d = u.shape
    c = np.zeros(d + 1)
    c[-1] = -1.0  # maximise m
    a_ub = np.hstack([-u, np.ones((n, 1))])  # m − ⟨u_i, w⟩ ≤ 0
    bounds = [(-1.0, 1.0)] * d + [(None, 1.0)]
    res = linprog(c, A_ub=a_ub, b_ub=np.zeros(n), bounds=bounds, method="highs")
    if not res.success:  # pragma: no cover - the LP is always feasible and bounded
        raise RuntimeError(f"hemisphere LP failed: {res.message}")
    w = res.x[:d]
    m_star = float(res.x[-1])
    norm = float(np.linalg.norm(w))
    if m_star <= tol or norm == 0:
        pole = w / norm if norm > 0 else np.eye(d)[-1]
        return HemisphereTest(False, min(0.0, float((u @ pole).min())), pole, m_star)
    pole = w / norm
    return HemisphereTest(True, float((u @ pole).min()), pole, m_star)


def hemisphere_margin(x: np.ndarray, pole: np.ndarray) -> float:
    """min_i ⟨x_i, w⟩ for a given pole w (non-decreasing in time when V = I, Thm B)."""
    return float((x @ pole).min())


def consensus_time(t: np.ndarray, xs: np.ndarray, tol: float = 1e-3) -> float | None:
    """First saved time after which the angular diameter stays below ``tol``; None if never."""
    diam = np.asarray(diameter(xs))
    above = np.nonzero(diam >= tol)[0]
    if above.size == 0:
        return float(t[0])
    last = above[-1]
    return None if last == len(t) - 1 else float(t[last + 1])


def pca_3d(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project a trajectory (K, n, d) to its 3 leading principal directions (pooled over time).

    Returns (projected (K, n, 3), basis (d, 3)). Directions are not centred (the sphere's
    centre is meaningful), so for d = 3 with the identity basis nothing changes.
    """
    K, n, d = xs.shape
    if d <= 3:
        out = np.zeros((K, n, 3), dtype=xs.dtype)
        out[..., :d] = xs
        return out, np.eye(d, 3)
    flat = xs.reshape(-1, d).astype(np.float64)
    _, vecs = np.linalg.eigh(flat.T @ flat)  # second-moment matrix, d×d
    basis = vecs[:, ::-1][:, :3]
    return (xs @ basis).astype(xs.dtype), basis
