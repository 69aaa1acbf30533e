"""Builders for weight matrices: identity, spectra, SPD key–query products, Gaussians.

All random builders take a ``numpy.random.Generator`` so a seed reproduces them exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .scenario import Head, MatrixSpec, Scenario


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian with the sign fix of Mezzadri)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def from_spectrum(
    eigenvalues: Sequence[float],
    *,
    basis: str = "identity",
    symmetric: bool = True,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """M = R diag(λ) R⁻¹ with R = I, a random orthogonal R (symmetric M) or a random R (not).

    ``basis="identity"`` gives diag(λ). With ``basis="random"``: ``symmetric=True`` draws R
    orthogonal, so M is symmetric with eigenvalues λ; ``symmetric=False`` draws R Gaussian
    (well conditioned by rejection), so M has eigenvalues λ but is not normal.
    """
    lam = np.asarray(eigenvalues, dtype=float)
    d = lam.size
    if basis == "identity":
        return np.diag(lam)
    if rng is None:
        raise ValueError("a random basis needs a numpy Generator")
    if symmetric:
        r = random_orthogonal(d, rng)
        m = (r * lam) @ r.T
        return (m + m.T) / 2
    for _ in range(100):
        r = rng.standard_normal((d, d))
        if np.linalg.cond(r) < 50:
            break
    return (r * lam) @ np.linalg.inv(r)


def spd_from_spectrum(
    eigenvalues: Sequence[float], *, basis: str = "random", rng: np.random.Generator | None = None
) -> np.ndarray:
    """A symmetric positive definite matrix with the given (positive) eigenvalues."""
    lam = np.asarray(eigenvalues, dtype=float)
    if np.any(lam <= 0):
        raise ValueError("SPD matrices need positive eigenvalues")
    return from_spectrum(lam, basis=basis, symmetric=True, rng=rng)


def gaussian(d: int, rng: np.random.Generator, *, scale: float | None = None) -> np.ndarray:
    """A d×d matrix with i.i.d. N(0, scale²) entries; scale defaults to 1/√d (unit-order norm)."""
    return rng.standard_normal((d, d)) * (1 / np.sqrt(d) if scale is None else scale)


def sym_sqrt(m: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric PSD matrix."""
    w, u = np.linalg.eigh((m + m.T) / 2)
    return (u * np.sqrt(np.clip(w, 0, None))) @ u.T


def _spec(m: np.ndarray) -> MatrixSpec:
    # tolist() makes the Python floats in C (a d = 768 head: ~10 ms instead of ~80 ms per matrix)
    return MatrixSpec(const=tuple(map(tuple, np.asarray(m, dtype=np.float64).tolist())))


def build_heads(scenario: Scenario) -> tuple[Head, ...]:
    """The heads of a scenario: its explicit ``heads``, or the ones its builder fields describe.

    Generated heads use a generator seeded by ``(seed, 1)`` (tokens use ``(seed, 0)``), so changing
    the weights never changes the tokens and vice versa. For head k:

    * V: I, ``from_spectrum(v_eigs, basis=v_basis, symmetric=v_symmetric)`` or Gaussian/√d;
    * QᵀK: I (Q = K = I), SPD with spectrum ``qk_eigs`` (Q = K = its square root), or Q, K
      Gaussian/√d; with ``qk_amp > 0`` the key matrix varies in time,
      K(t) = K₀ + qk_amp·G·sin(qk_omega·t + 2πk/h) with G Gaussian/√d — bounded and uniformly
      continuous, as the hemisphere theorem requires.
    """
    if scenario.heads is not None:
        return scenario.heads
    d, h = scenario.d, scenario.n_heads
    rng = np.random.default_rng([scenario.seed, 1])
    eye = np.eye(d)
    heads = []
    for k in range(h):
        if scenario.value == "identity":
            v = eye
        elif scenario.value == "spectrum":
            assert scenario.v_eigs is not None
            v = from_spectrum(
                scenario.v_eigs, basis=scenario.v_basis, symmetric=scenario.v_symmetric, rng=rng
            )
        else:
            v = gaussian(d, rng)
        if scenario.qk == "identity":
            q = k0 = eye
        elif scenario.qk == "spd":
            assert scenario.qk_eigs is not None
            q = k0 = sym_sqrt(spd_from_spectrum(scenario.qk_eigs, basis="random", rng=rng))
        else:
            q, k0 = gaussian(d, rng), gaussian(d, rng)
        key = _spec(k0)
        if scenario.qk_amp > 0:
            wobble = gaussian(d, rng) * scenario.qk_amp
            key = MatrixSpec(
                const=key.const,
                sin=_spec(wobble).const,
                omega=scenario.qk_omega,
                phase=2 * np.pi * k / h,
            )
        heads.append(Head(Q=_spec(q), K=key, V=_spec(v)))
    return tuple(heads)
