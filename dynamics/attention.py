"""Attention variants at the particle level (maths notes §C.2), as small strategy objects.

The engine's own softmax / unnormalized kernels stay in :mod:`dynamics.field`; an
:class:`~dynamics.field.AttentionField` built with ``attention`` in :data:`VARIANTS` hands the
weights to one of the strategies below and keeps its own projection Π_x, so that every variant
runs on the sphere or an ellipsoid, with one or many heads, single systems (n, d) or ensembles
(B, n, d), in float64 or float32 (float32 stays float32)::

    ẋ_i = Σ_k Π_{x_i}( Σ_{j ∈ N(i)} α^k_ij V_k(t) x_j ),     A_k = Q_kᵀK_k,

with N(i) = {1 … n} (no mask) or {1 … i} (causal mask) and, for head k (β the inverse
temperature of the scenario, as in the softmax model — no 1/√d):

* ``l2`` — L² attention (Kim et al. 2021)::

      α_ij = exp(−β‖Q x_i − K x_j‖²) / Σ_{l ∈ N(i)} exp(−β‖Q x_i − K x_l‖²).

  Since ‖Qx − Ky‖² = ‖Qx‖² − 2⟨Qx, Ky⟩ + ‖Ky‖², the ‖Qx_i‖² term cancels in the normalisation
  and the kernel evaluates the logits β(2⟨x_i, A x_j⟩ − ‖K x_j‖²), shifted by their row maximum
  on N(i) (no overflow for any β).

* ``sinkhorn`` — Sinkhorn attention (Sinkformers, Sander et al. 2022): the matrix
  (exp(β⟨x_i, A x_j⟩))_ij scaled to a doubly stochastic matrix α = diag(e^u) E diag(e^v) by
  log-domain Sinkhorn iterations (alternating column / row logsumexp normalisation) until the
  largest marginal error max(|α𝟙 − 𝟙|, |αᵀ𝟙 − 𝟙|) is ≤ ``sinkhorn_tol`` or ``sinkhorn_iters``
  iterations were made. The iterations and the achieved error of the last evaluation are kept
  on the field (``field.sinkhorn_report`` / ``field.report()``) and copied into
  ``Result.extra`` by ``simulate``. **No causal mask**: the mask would ask for a lower-triangular
  doubly stochastic matrix, and the only one is the identity (row 1 is e₁, which spends column
  1; then row 2 is e₂, …), i.e. every token attending only to itself and a zero field. Such a
  scenario is refused with a ScenarioError (key ``mask``) rather than silently redefined.

* ``sigmoid`` — sigmoid attention (Ramapuram et al. 2024) with bias b = ``sigmoid_bias``::

      α_ij = σ(β⟨x_i, A x_j⟩ + b) / n,    σ(z) = 1 / (1 + e^{−z}),

  no row normalisation (particle form (1/n) Σ_j σ(·) V x_j). With the causal mask the entries
  j > i are 0 and the remaining ones are still divided by **n** (not by |N(i)| = i), exactly as
  the engine's unnormalized model does. σ is evaluated by ``scipy.special.expit`` (no overflow).

* Multi-head attention with output maps, Γ(x) = Σ_h W_h (attention_h · V'_h)(x): this is the
  engine's multi-head model with V_h = W_h V'_h (the product of the output map and the head's
  value map; heads as consecutive row blocks give W_h = columns of the output projection). No
  separate kernel is needed (tests/test_variants.py checks the identity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from .errors import ScenarioError

if TYPE_CHECKING:  # scenario.py imports this module (for the Sinkhorn refusal)
    from .scenario import Head

VARIANTS = ("l2", "sinkhorn", "sigmoid")

SINKHORN_CAUSAL_REASON = (
    "mask: causal Sinkhorn attention is refused — a lower-triangular doubly stochastic matrix is "
    "the identity (row 1 must be e₁, which fills column 1, then row 2 is e₂, …), so every token "
    "would attend only to itself; use mask='none' with sinkhorn, or another attention with the mask"
)


def _lse(a: np.ndarray, axis: int) -> np.ndarray:
    """log Σ exp(a) along ``axis`` (max-shifted; entries may be −inf, a whole slice may not)."""
    m = a.max(axis=axis, keepdims=True)
    s = np.exp(a - m).sum(axis=axis, keepdims=True)
    return np.squeeze(m + np.log(s), axis=axis)


class _Variant:
    """Base strategy: per-head score matrices, weights α^k, and the mixed values Σ_k α^k V_k X."""

    name = ""

    def __init__(
        self,
        heads: Sequence[Head],
        *,
        n: int,
        beta: float | np.ndarray,
        causal: bool,
        dtype: np.dtype,
        params: Mapping[str, Any],
    ) -> None:
        self.heads = tuple(heads)
        self.n = n
        self.causal = causal
        self.dtype = np.dtype(dtype)
        self.params = dict(params)
        beta_arr = np.asarray(beta, dtype=float)
        # β as a Python float (keeps float32 float32) or a (B, 1, 1) column for ensembles
        self.beta: float | np.ndarray = (
            beta_arr.astype(self.dtype)[:, None, None] if beta_arr.ndim == 1 else float(beta_arr)
        )
        # constant matrices built once; time-varying ones at every call
        self._const = [
            tuple(np.array(m.const, dtype=self.dtype) for m in (h.Q, h.K, h.V))
            if h.Q.is_constant and h.K.is_constant and h.V.is_constant
            else None
            for h in self.heads
        ]
        if causal:
            self._mask_add = np.where(np.tril(np.ones((n, n), dtype=bool)), 0.0, -np.inf).astype(self.dtype)

    def matrices(self, k: int, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Q_k(t), K_k(t), V_k(t)) in the run's dtype."""
        c = self._const[k]
        if c is not None:
            return c
        h = self.heads[k]
        return tuple(m.at(t).astype(self.dtype) for m in (h.Q, h.K, h.V))  # type: ignore[return-value]

    def scores(self, Q: np.ndarray, K: np.ndarray, X: np.ndarray) -> np.ndarray:
        """β⟨Q x_i, K x_j⟩ = β⟨x_i, A x_j⟩, shape (…, n, n)."""
        S = (X @ Q.T) @ np.swapaxes(X @ K.T, -1, -2)
        S *= self.beta
        return S

    def weights(self, k: int, t: float, X: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def mix(self, t: float, X: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out ← Σ_k α^k (X V_kᵀ) (before the projection)."""
        for k in range(len(self.heads)):
            V = self.matrices(k, t)[2]
            term = self.weights(k, t, X) @ (X @ V.T)
            if k == 0:
                out[...] = term
            else:
                out += term
        return out

    def report(self) -> dict[str, Any]:
        return {}


class L2Attention(_Variant):
    """α_ij ∝ exp(−β‖Q x_i − K x_j‖²) on N(i), rows summing to 1 (see the module docstring)."""

    name = "l2"

    def weights(self, k: int, t: float, X: np.ndarray) -> np.ndarray:
        Q, K, _ = self.matrices(k, t)
        XK = X @ K.T
        L = (X @ Q.T) @ np.swapaxes(XK, -1, -2)
        L *= 2
        L -= np.vecdot(XK, XK)[..., None, :]  # ‖K x_j‖², the same for every row i
        L *= self.beta
        if self.causal:
            L += self._mask_add
        L -= L.max(axis=-1, keepdims=True)
        np.exp(L, out=L)
        L /= L.sum(axis=-1, keepdims=True)
        return L


class SigmoidAttention(_Variant):
    """α_ij = σ(β⟨x_i, A x_j⟩ + b)/n, zero above the diagonal with the causal mask."""

    name = "sigmoid"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bias = float(self.params.get("sigmoid_bias", 0.0))
        if not math.isfinite(self.bias):
            raise ScenarioError("sigmoid_bias: must be a finite number")
        if self.causal:
            self._tril = np.tril(np.ones((self.n, self.n), dtype=self.dtype))

    def weights(self, k: int, t: float, X: np.ndarray) -> np.ndarray:
        Q, K, _ = self.matrices(k, t)
        S = self.scores(Q, K, X)
        if self.bias:
            S += self.bias
        expit(S, out=S)
        if self.causal:
            S *= self._tril
        S *= 1.0 / self.n
        return S


class SinkhornAttention(_Variant):
    """exp(β⟨x_i, A x_j⟩) scaled to doubly stochastic by log-domain Sinkhorn iterations."""

    name = "sinkhorn"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.causal:
            raise ScenarioError(SINKHORN_CAUSAL_REASON)
        self.tol = float(self.params.get("sinkhorn_tol", 1e-9))
        self.iters = int(self.params.get("sinkhorn_iters", 200))
        if not (self.tol > 0 and math.isfinite(self.tol)):
            raise ScenarioError("sinkhorn_tol: must be a positive number")
        if self.iters < 1:
            raise ScenarioError("sinkhorn_iters: must be at least 1")
        self.last_iterations = 0
        self.last_error = math.nan
        self.max_iterations = 0
        self.max_error = 0.0
        self.capped = 0  # evaluations (heads) that stopped at the cap above the tolerance
        self.calls = 0

    def weights(self, k: int, t: float, X: np.ndarray) -> np.ndarray:
        Q, K, _ = self.matrices(k, t)
        alpha, iterations, error = self.sinkhorn(self.scores(Q, K, X))
        self._record(iterations, error)
        return alpha

    def sinkhorn(self, L: np.ndarray) -> tuple[np.ndarray, int, float]:
        """(α, iterations, max marginal error) for the log-kernel L (…, n, n).

        Each iteration: v ← −logsumexp_i(L + u) (columns sum to 1), then the row sums
        e^{u_i + logsumexp_j(L + v)} are checked against the tolerance and u ← −logsumexp_j(L + v).
        """
        u = np.zeros(L.shape[:-1], dtype=L.dtype)
        iterations = 0
        while True:
            iterations += 1
            v = -_lse(L + u[..., :, None], axis=-2)
            r = _lse(L + v[..., None, :], axis=-1)
            row_err = float(np.max(np.abs(np.expm1(u + r))))
            if row_err <= self.tol or iterations >= self.iters:
                break
            u = -r
        alpha = L + u[..., :, None]
        alpha += v[..., None, :]
        np.exp(alpha, out=alpha)
        error = max(
            float(np.max(np.abs(alpha.sum(axis=-1) - 1))), float(np.max(np.abs(alpha.sum(axis=-2) - 1)))
        )
        return alpha, iterations, error

    def _record(self, iterations: int, error: float) -> None:
        self.calls += 1
        self.last_iterations, self.last_error = iterations, error
        self.max_iterations = max(self.max_iterations, iterations)
        self.max_error = max(self.max_error, error)
        if error > self.tol:
            self.capped += 1

    def report(self) -> dict[str, Any]:
        """The Sinkhorn statistics of this field (last evaluation, and worst over all calls)."""
        return {
            "sinkhorn_iterations": self.last_iterations,
            "sinkhorn_error": self.last_error,
            "sinkhorn_max_iterations": self.max_iterations,
            "sinkhorn_max_error": self.max_error,
            "sinkhorn_capped": self.capped,
            "sinkhorn_calls": self.calls,
            "sinkhorn_tol": self.tol,
            "sinkhorn_iters": self.iters,
        }


_KINDS: dict[str, type[_Variant]] = {
    "l2": L2Attention,
    "sinkhorn": SinkhornAttention,
    "sigmoid": SigmoidAttention,
}


def make_variant(
    attention: str,
    heads: Sequence[Head],
    *,
    n: int,
    beta: float | np.ndarray,
    causal: bool,
    dtype: np.dtype,
    params: Mapping[str, Any] | None = None,
) -> _Variant:
    """The strategy object for ``attention`` (one of :data:`VARIANTS`)."""
    try:
        cls = _KINDS[attention]
    except KeyError:
        raise ScenarioError(f"attention: unknown variant {attention!r}") from None
    return cls(heads, n=n, beta=beta, causal=causal, dtype=np.dtype(dtype), params=params or {})


def variant_params(scenario: Any) -> dict[str, Any]:
    """The variant parameters of a Scenario (missing keys get their defaults)."""
    return {
        "sinkhorn_tol": getattr(scenario, "sinkhorn_tol", 1e-9),
        "sinkhorn_iters": getattr(scenario, "sinkhorn_iters", 200),
        "sigmoid_bias": getattr(scenario, "sigmoid_bias", 0.0),
    }


__all__ = [
    "SINKHORN_CAUSAL_REASON",
    "VARIANTS",
    "L2Attention",
    "SigmoidAttention",
    "SinkhornAttention",
    "make_variant",
    "variant_params",
]
