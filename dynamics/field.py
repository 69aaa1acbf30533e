"""The multi-head attention velocity field on the sphere or an ellipsoid.

For tokens x_1 … x_n on M = {x : xᵀPx = 1} (P = I: the unit sphere) and heads k = 1 … h,

    ẋ_i = Σ_k Π_{x_i}( Σ_{j ∈ N(i)} α^k_ij(t) V_k(t) x_j ),        Π_x(w) = w − (xᵀP w) x,

    softmax:       α^k_ij = exp(β⟨x_i, A_k x_j⟩) / Σ_{l ∈ N(i)} exp(β⟨x_i, A_k x_l⟩),
    unnormalized:  α^k_ij = exp(β⟨x_i, A_k x_j⟩) / n,

with A_k = Q_kᵀK_k and N(i) = {1 … n} (no mask) or {1 … i} (causal mask). Π_x is the
layer-norm projection of Abella–Silvestre–Tabuada (the oblique projection along x); it keeps
xᵀPx = 1 invariant and is the orthogonal tangent projection P_x^⊥ on the sphere, where the
model is the SA / USA dynamics of Geshkovski et al.

Arrays are (n, d) for one system or (B, n, d) for B systems integrated together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ScenarioError
from .scenario import Head, Scenario

# Below this bound on |β⟨x_i, A x_j⟩| the exponentials cannot overflow or lose precision, in
# float32 or float64, so the per-row max shift (two extra passes over n×n) is skipped.
_NO_SHIFT_BOUND = 60.0


@dataclass(frozen=True)
class _HeadOps:
    head: Head
    constant: bool
    a_identity: bool
    v_identity: bool
    A: np.ndarray | None  # β·QᵀK (β folded in when it is one scalar), in the run's dtype
    Vt: np.ndarray | None  # Vᵀ, so that rows x_jᵀ map to (V x_j)ᵀ = x_jᵀ Vᵀ


def _is_identity(m: np.ndarray) -> bool:
    return bool(np.array_equal(m, np.eye(m.shape[0])))


class AttentionField:
    """Callable F(t, X) → Ẋ for a fixed model; X is (n, d) or (B, n, d).

    ``beta`` is one number, or one per system (shape (B,)) for ensembles.
    """

    def __init__(
        self,
        heads: Sequence[Head],
        *,
        n: int,
        beta: float | np.ndarray,
        attention: str = "softmax",
        causal: bool = False,
        P: np.ndarray | None = None,
        dtype: np.dtype | str = np.float64,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.n = n
        self.attention = attention
        self.causal = causal
        self.P = None if P is None else np.asarray(P, dtype=self.dtype)
        beta_arr = np.asarray(beta, dtype=float)
        self.beta_per_system = beta_arr.ndim == 1
        self._beta_scalar = 1.0 if self.beta_per_system else float(beta_arr)
        self._beta_col = (
            beta_arr.astype(self.dtype)[:, None, None] if self.beta_per_system else None
        )
        beta_max = float(np.max(np.abs(beta_arr))) if beta_arr.size else 0.0

        ops = []
        a_bound = 0.0
        for head in heads:
            constant = head.Q.is_constant and head.K.is_constant and head.V.is_constant
            a0 = head.Q.at(0.0).T @ head.K.at(0.0)
            v0 = head.V.at(0.0)
            a_bound = max(a_bound, head.Q.norm_bound() * head.K.norm_bound())
            a_id = constant and _is_identity(a0)
            v_id = constant and _is_identity(v0)
            A = None if (a_id or not constant) else (self._beta_scalar * a0).astype(self.dtype)
            Vt = None if (v_id or not constant) else np.ascontiguousarray(v0.T, dtype=self.dtype)
            ops.append(_HeadOps(head, constant, a_id, v_id, A, Vt))
        self._heads = tuple(ops)
        # |⟨x, A y⟩| ≤ ‖A‖ ‖x‖ ‖y‖ and ‖x‖² ≤ 1/λ_min(P) on the ellipsoid.
        r2 = 1.0 if self.P is None else 1.0 / float(np.linalg.eigvalsh(np.asarray(P))[0])
        self.logit_bound = beta_max * a_bound * r2
        self.shift = self.logit_bound > _NO_SHIFT_BOUND
        # Unnormalised attention has no denominator to cancel the growth of e^{β⟨x, Ay⟩}:
        # refuse what would overflow the dtype (sums of n terms) instead of producing inf.
        usa_limit = float(np.log(np.finfo(self.dtype).max)) - float(np.log(max(n, 1))) - 5.0
        if attention == "unnormalized" and self.logit_bound > usa_limit:
            raise ScenarioError(
                f"beta: unnormalized attention with β‖QᵀK‖ ≈ {self.logit_bound:.3g} overflows "
                f"{self.dtype.name} (velocities of size e^{self.logit_bound:.0f}); use "
                f"β‖QᵀK‖ ≤ {usa_limit:.0f} or softmax attention"
            )
        if causal:
            lower = np.tril(np.ones((n, n), dtype=bool))
            self._tril = lower.astype(self.dtype)
            self._mask_add = np.where(lower, 0.0, -np.inf).astype(self.dtype)
        self.evaluations = 0

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, heads: Sequence[Head], *, beta: float | np.ndarray | None = None
    ) -> AttentionField:
        return cls(
            heads,
            n=scenario.n,
            beta=scenario.beta if beta is None else beta,
            attention=scenario.attention,
            causal=scenario.causal,
            P=scenario.ellipsoid_matrix(),
            dtype=scenario.dtype,
        )

    # ------------------------------------------------------------------ pieces
    def _head_matrices(self, op: _HeadOps, t: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        if op.constant:
            return op.A, op.Vt
        h = op.head
        A = (self._beta_scalar * (h.Q.at(t).T @ h.K.at(t))).astype(self.dtype)
        Vt = np.ascontiguousarray(h.V.at(t).T, dtype=self.dtype)
        return A, Vt

    def _weights(self, op: _HeadOps, t: float, X: np.ndarray) -> np.ndarray:
        """Unnormalised weights exp(β⟨x_i, A x_j⟩ − shift_i) on the mask, zero elsewhere."""
        A, _ = self._head_matrices(op, t)
        Xt = np.swapaxes(X, -1, -2)
        if A is None:
            S = X @ Xt
            if self._beta_scalar != 1.0:
                S *= self._beta_scalar
        else:
            S = (X @ A) @ Xt
        if self._beta_col is not None:
            S *= self._beta_col
        if self.shift and self.attention == "softmax":
            if self.causal:
                S += self._mask_add
            S -= S.max(axis=-1, keepdims=True)
            np.exp(S, out=S)
        else:
            np.exp(S, out=S)
            if self.causal:
                S *= self._tril
        return S

    def attention_matrices(self, t: float, X: np.ndarray) -> np.ndarray:
        """α^k(t): shape (h, …, n, n); masked entries are 0, softmax rows sum to 1."""
        X = np.asarray(X, dtype=self.dtype)
        out = []
        with np.errstate(all="ignore"):
            for op in self._heads:
                E = self._weights(op, t, X)
                if self.attention == "softmax":
                    E /= E.sum(axis=-1, keepdims=True)
                else:
                    E /= self.n
                out.append(E)
        return np.stack(out)

    def project(self, X: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Π_X(W) = W − (xᵀP w) x row by row (in place on W)."""
        PX = X if self.P is None else X @ self.P
        W -= np.vecdot(PX, W)[..., None] * X
        return W

    def retract(self, X: np.ndarray) -> np.ndarray:
        """Rows scaled back onto the manifold: x / √(xᵀPx) (in place)."""
        PX = X if self.P is None else X @ self.P
        X /= np.sqrt(np.vecdot(X, PX))[..., None]
        return X

    # ------------------------------------------------------------------ the field
    def __call__(self, t: float, X: np.ndarray) -> np.ndarray:
        """Ẋ = F(t, X)."""
        self.evaluations += 1
        W = None
        for op in self._heads:
            E = self._weights(op, t, X)
            _, Vt = self._head_matrices(op, t)
            Wk = E @ (X if Vt is None else X @ Vt)
            if self.attention == "softmax":
                Wk /= E.sum(axis=-1, keepdims=True)
            else:
                Wk *= 1.0 / self.n
            if W is None:
                W = Wk
            else:
                W += Wk
        assert W is not None
        return self.project(X, W)
