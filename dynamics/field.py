"""The multi-head attention velocity field on the sphere or an ellipsoid.

For tokens x_1 … x_n on M = {x : xᵀPx = 1} (P = I: the unit sphere) and heads k = 1 … h,

    ẋ_i = Σ_k Π_{x_i}( Σ_{j ∈ N(i)} α^k_ij(t) V_k(t) x_j ),        Π_x(w) = w − (xᵀP w)/(xᵀP x) x,

    softmax:       α^k_ij = exp(β⟨x_i, A_k x_j⟩) / Σ_{l ∈ N(i)} exp(β⟨x_i, A_k x_l⟩),
    unnormalized:  α^k_ij = exp(β⟨x_i, A_k x_j⟩) / n,

with A_k = Q_kᵀK_k and N(i) = {1 … n} (no mask) or {1 … i} (causal mask). On the manifold
(xᵀPx = 1) Π_x is the layer-norm projection w − (xᵀPw) x of Abella–Silvestre–Tabuada (the oblique
projection along x), the orthogonal tangent projection P_x^⊥ on the sphere, where the model is the
SA / USA dynamics of Geshkovski et al. Off the manifold the division by xᵀPx makes the field
*neutral*: d/dt (xᵀPx) = 2(xᵀPw − xᵀPw) = 0 for every x, so an integrator's drift off the manifold
is neither amplified nor damped. (The form w − (xᵀPw) x also keeps xᵀPx = 1 invariant, but
d/dt (xᵀPx − 1) = 2(xᵀPw)(1 − xᵀPx) makes the manifold *unstable* wherever ⟨x, Pw⟩ < 0 — repelling
attention, V = −I — and an adaptive solver's drift grew like e^{2t} there.)

Arrays are (n, d) for one system or (B, n, d) for B systems integrated together.

Performance (see benchmarks/engine.py): one evaluation costs two n×n×d matrix products and one
n×n exponential per head; everything else is O(nd) and runs in preallocated scratch arrays, so an
instance is not safe to share between threads (make one per thread — ``simulate`` does).

Heads of rank r (Q, K r×d; V = L R with L d×r, R r×d — a real layer's heads, r = d_head) are
evaluated through their factors when 2r < d (:attr:`~dynamics.scenario.Head.qk_rank`,
:attr:`~dynamics.scenario.Head.v_rank`): scores β(X Qᵀ)(X Kᵀ)ᵀ instead of (X A) Xᵀ, values
(S (X Rᵀ)) Lᵀ instead of S (X Vᵀ) — 4ndr + 2n²r flops each instead of 2nd² + 2n²d (6× less work
at d = 768, r = 64, n = 64). Other heads form A = QᵀK and V once, as d×d matrices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .attention import HeadMixer, kind_params, make
from .errors import ScenarioError
from .scenario import Head, LowRankSpec, MatrixSpec, Scenario

# Below this bound on |β⟨x_i, A x_j⟩| the exponentials cannot overflow or lose precision, in
# float32 or float64, so the per-row max shift (two extra passes over n×n) is skipped.
_NO_SHIFT_BOUND = 60.0
# Time-varying QᵀK with d at least this: expand (Q₀ + s_q Q₁)ᵀ(K₀ + s_k K₁) once into four
# constant products, so an evaluation costs O(d²) instead of a d×d×d product.
_EXPAND_MIN_D = 64
# Ensembles with d at most this: weights·X as d matrix–vector products (much faster than
# np.matmul on thousands of tiny (n×n)·(n×d) products).
_COLUMNWISE_MAX_D = 4


def _use_syrk(n: int, d: int, itemsize: int) -> bool:
    """One system: X·Xᵀ by the symmetric rank-k update (numpy calls syrk when both factors are
    one buffer) or by gemm against a copy of X. Measured with OpenBLAS 0.3 on x86-64: syrk is up
    to 6× slower for d ≲ 128 and ~20% faster in float64 for d ≥ 256; in float32 it only pays
    for d ≥ 512 with n ≤ d."""
    if itemsize >= 8:
        return d >= 256
    return d >= 512 and n <= d


@dataclass(frozen=True)
class _Matrix:
    """A MatrixSpec with its arrays built once (M.at(t) rebuilds them from tuples at every call)."""

    const: np.ndarray
    sin: np.ndarray | None
    omega: float
    phase: float

    @classmethod
    def of(cls, spec: MatrixSpec | LowRankSpec) -> _Matrix:
        return cls(
            np.array(spec.const), None if spec.sin is None else np.array(spec.sin), spec.omega, spec.phase
        )

    def factor(self, t: float) -> float:
        return math.sin(self.omega * t + self.phase)

    def at(self, t: float) -> np.ndarray:
        """M(t), computed exactly as MatrixSpec.at."""
        if self.sin is None:
            return self.const
        return self.const + self.factor(t) * self.sin


@dataclass(frozen=True)
class _HeadOps:
    head: Head
    constant: bool
    a_identity: bool
    v_identity: bool
    A: np.ndarray | None  # β·QᵀK (β folded in when it is one scalar), in the run's dtype
    Vt: np.ndarray | None  # Vᵀ, so that rows x_jᵀ map to (V x_j)ᵀ = x_jᵀ Vᵀ
    # time-varying heads only
    Q: _Matrix | None = None
    K: _Matrix | None = None
    V: _Matrix | None = None
    V0t: np.ndarray | None = None  # V₀ᵀ, V₁ᵀ
    V1t: np.ndarray | None = None
    A_terms: tuple | None = None  # (Q₀ᵀK₀, Q₁ᵀK₀, Q₀ᵀK₁, Q₁ᵀK₁), absent terms None
    # heads of low rank r (constant): scores β(X Qᵀ)(X Kᵀ)ᵀ, values (S (X Rᵀ)) Lᵀ
    Qt: np.ndarray | None = None  # β·Qᵀ (d × r; β folded in when it is one scalar)
    Kt: np.ndarray | None = None  # Kᵀ (d × r)
    Rt: np.ndarray | None = None  # Rᵀ (d × r) of V = L R
    Lt: np.ndarray | None = None  # Lᵀ (r × d)


def _columnwise(a: np.ndarray) -> bool:
    """Many short rows (ensembles of small d): loop over the d columns, not over the rows."""
    return a.ndim >= 3 and a.shape[-1] <= _COLUMNWISE_MAX_D


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_k a[..., k] b[..., k]."""
    if not _columnwise(a):
        return np.vecdot(a, b)
    r = a[..., 0] * b[..., 0]
    for k in range(1, a.shape[-1]):
        r += a[..., k] * b[..., k]
    return r


def _scale_rows(a: np.ndarray, r: np.ndarray) -> None:
    """a[..., i, :] *= r[..., i] in place."""
    if _columnwise(a):
        for k in range(a.shape[-1]):
            a[..., k] *= r
    else:
        a *= r[..., None]


def _divide_rows(a: np.ndarray, r: np.ndarray) -> None:
    """a[..., i, :] /= r[..., i] in place (r is overwritten). Large arrays are multiplied by the
    reciprocals (~2× faster than dividing); small ones divided (one call instead of two)."""
    if a.size <= 4096:
        a /= r[..., None]
    else:
        np.reciprocal(r, out=r)
        _scale_rows(a, r)


def _is_identity(m: np.ndarray) -> bool:
    return m.shape[0] == m.shape[1] and bool(np.array_equal(m, np.eye(m.shape[0])))


def _contiguous(m: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(m, dtype=dtype)


def _constant_head_ops(head: Head, beta: float, dtype: np.dtype) -> _HeadOps:
    """The arrays of a constant head: its factors when they are cheaper (rank r with 2r < d),
    else A = β·QᵀK and Vᵀ (None for the identity)."""
    Q, K = np.asarray(head.Q.const, dtype=float), np.asarray(head.K.const, dtype=float)
    Qt = Kt = Rt = Lt = A = Vt = None
    a_id = v_id = False
    if head.qk_rank is not None:
        Qt, Kt = _contiguous(beta * Q.T, dtype), _contiguous(K.T, dtype)
    else:
        a0 = Q.T @ K
        a_id = _is_identity(a0)
        A = None if a_id else (beta * a0).astype(dtype)
    if head.v_rank is not None:
        L, R = head.V.factors  # type: ignore[union-attr]
        Rt, Lt = _contiguous(R.T, dtype), _contiguous(L.T, dtype)
    else:
        v0 = np.asarray(head.V.const, dtype=float)
        v_id = _is_identity(v0)
        Vt = None if v_id else _contiguous(v0.T, dtype)
    return _HeadOps(head, True, a_id, v_id, A, Vt, Qt=Qt, Kt=Kt, Rt=Rt, Lt=Lt)


class _Work:
    """Scratch arrays for one state shape and dtype, reused by every evaluation."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, P: np.ndarray | None) -> None:
        n = shape[-2]
        self.key = (shape, dtype)
        self.batched = len(shape) == 3
        lead = shape[:-2]
        self.S = np.empty((*lead, n, n), dtype)  # scores, then weights, of the current head
        self.s = np.empty((*lead, n), dtype)  # row sums of the weights
        self.s_col = self.s[..., None]
        self.ones = np.ones(n, dtype)
        self.ones_col = self.ones[:, None]
        self.tmp = np.empty(shape, dtype)  # (xᵀPw) x of the projection
        self.Y = np.empty(shape, dtype)  # X Vᵀ
        self.XA = np.empty(shape, dtype)  # X A, or β X
        self.Wk = np.empty(shape, dtype)  # the current head's term (heads after the first)
        # One system: X·Xᵀ by syrk on X itself, or by gemm against a copy of X.
        self.Xc = self.XcT = None
        if not self.batched and not _use_syrk(n, shape[-1], dtype.itemsize):
            self.Xc = np.empty(shape, dtype)
            self.XcT = self.Xc.T  # a view, made once (np.swapaxes costs ~1 µs a call)
        self.PX = None if P is None else np.empty(shape, dtype)
        # Ensembles: Xᵀ made contiguous (strided transposes make the batched products slow).
        self.Xt = np.empty((*lead, shape[-1], n), dtype) if self.batched else None
        self._low: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def low(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Two (…, n, r) scratch arrays for the heads of rank r (X Qᵀ, X Kᵀ; then X Rᵀ, S X Rᵀ)."""
        pair = self._low.get(r)
        if pair is None:
            shape = (*self.S.shape[:-1], r)
            pair = self._low[r] = (np.empty(shape, self.S.dtype), np.empty(shape, self.S.dtype))
        return pair


class AttentionField:
    """Callable F(t, X) → Ẋ for a fixed model; X is (n, d) or (B, n, d).

    ``beta`` is one number, or one per system (shape (B,)) for ensembles. An instance keeps
    scratch arrays between calls: do not call one instance from several threads at once.

    ``neutral`` (default): the projection w − (xᵀPw)/(xᵀPx) x, which leaves xᵀPx constant off the
    manifold too (what an integrator without retraction needs). ``neutral=False``: the tangent form
    w − (xᵀPw) x, equal on the manifold and one row-dot cheaper — for integrators that retract
    after every step (Euler evaluates only on the manifold; RK4's stages are off it by O(h²), and
    either extension of the field gives a fourth-order method).
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
        variant_params: dict | None = None,
        neutral: bool = True,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.neutral = neutral
        self.n = n
        self.attention = attention
        self.causal = causal
        self.P = None if P is None else np.asarray(P, dtype=self.dtype)
        beta_arr = np.asarray(beta, dtype=float)
        self.beta_per_system = beta_arr.ndim == 1
        self._beta_scalar = 1.0 if self.beta_per_system else float(beta_arr)
        self._beta_col = beta_arr.astype(self.dtype)[:, None, None] if self.beta_per_system else None
        beta_max = float(np.max(np.abs(beta_arr))) if beta_arr.size else 0.0

        ops = []
        a_bound = 0.0
        for head in heads:
            constant = head.Q.is_constant and head.K.is_constant and head.V.is_constant
            a_bound = max(a_bound, head.Q.norm_bound() * head.K.norm_bound())
            if constant:
                ops.append(_constant_head_ops(head, self._beta_scalar, self.dtype))
                continue
            Q, K, V = _Matrix.of(head.Q), _Matrix.of(head.K), _Matrix.of(head.V)  # type: ignore[arg-type]
            terms = None
            if Q.const.shape[1] >= _EXPAND_MIN_D:
                q1, k1 = Q.sin, K.sin
                terms = (
                    Q.const.T @ K.const,
                    None if q1 is None else q1.T @ K.const,
                    None if k1 is None else Q.const.T @ k1,
                    None if q1 is None or k1 is None else q1.T @ k1,
                )
            ops.append(
                _HeadOps(
                    head, False, False, False, None, None, Q, K, V,
                    np.ascontiguousarray(V.const.T),
                    None if V.sin is None else np.ascontiguousarray(V.sin.T),
                    terms,
                )
            )  # fmt: skip
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
        self._work_cache: _Work | None = None
        self.evaluations = 0
        # the kind's strategy (dynamics.attention); softmax and unnormalized also have the fused
        # in-place kernel below ("rows": divide by the row sums, "n": by n)
        kind = make(attention, n=n, causal=causal, params=variant_params)
        self._mixer = HeadMixer(kind, heads, beta=beta, dtype=self.dtype)
        self._fused = kind.fused
        self._softmax = kind.fused == "rows"
        self._variant = None if kind.fused else self._mixer

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        heads: Sequence[Head],
        *,
        beta: float | np.ndarray | None = None,
        neutral: bool = True,
    ) -> AttentionField:
        return cls(
            heads,
            n=scenario.n,
            beta=scenario.beta if beta is None else beta,
            attention=scenario.attention,
            causal=scenario.causal,
            P=scenario.ellipsoid_matrix(),
            dtype=scenario.dtype,
            variant_params=kind_params(scenario),
            neutral=neutral,
        )

    # ------------------------------------------------------------------ pieces
    def _head_matrices(self, op: _HeadOps, t: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        if op.constant:
            return op.A, op.Vt
        Q, K, V = op.Q, op.K, op.V
        assert Q is not None and K is not None and V is not None
        if op.A_terms is None:
            A = self._beta_scalar * (Q.at(t).T @ K.at(t))
        else:
            a00, a10, a01, a11 = op.A_terms
            sq = 0.0 if Q.sin is None else Q.factor(t)
            sk = 0.0 if K.sin is None else K.factor(t)
            A = a00.copy()
            if a10 is not None:
                A += sq * a10
            if a01 is not None:
                A += sk * a01
            if a11 is not None:
                A += (sq * sk) * a11
            A *= self._beta_scalar
        A = A.astype(self.dtype)
        Vt = op.V0t if V.sin is None else op.V0t + V.factor(t) * op.V1t
        return A, np.ascontiguousarray(Vt, dtype=self.dtype)

    def _exp_masked(self, S: np.ndarray) -> None:
        """S ← exp(S − row max on the mask) (softmax with large logits) or exp(S)·mask, in place."""
        if self.shift and self._softmax:
            if self.causal:
                S += self._mask_add
            S -= S.max(axis=-1, keepdims=True)
            np.exp(S, out=S)
        else:
            np.exp(S, out=S)
            if self.causal:
                S *= self._tril

    def attention_matrices(self, t: float, X: np.ndarray) -> np.ndarray:
        """α^k(t): shape (h, …, n, n); masked entries are 0, softmax rows sum to 1."""
        X = np.asarray(X, dtype=self.dtype)
        with np.errstate(all="ignore"):
            return np.stack([self._mixer.weights(k, t, X) for k in range(len(self._mixer.heads))])

    def report(self) -> dict:
        """Statistics of the attention kind (Sinkhorn iterations and marginal error), or {}."""
        return self._mixer.report()

    @property
    def sinkhorn_report(self) -> dict:
        """``report()`` of a Sinkhorn field: last/max iterations and achieved marginal error."""
        return self.report()

    def project(self, X: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Π_X(W) = W − (xᵀP w)/(xᵀP x) x row by row (in place on W); W − (xᵀP w) x when not
        ``neutral``."""
        PX = X if self.P is None else X @ self.P
        c = np.vecdot(PX, W)
        if self.neutral:
            c /= np.vecdot(PX, X)
        W -= c[..., None] * X
        return W

    def manifold(self, *, outward: bool = False) -> Ellipsoid:
        """The manifold {x : xᵀPx = 1} (row by row) the field lives on (see :class:`Ellipsoid`)."""
        return Ellipsoid(self.P, outward=outward)

    def retract(self, X: np.ndarray) -> np.ndarray:
        """Rows scaled back onto the manifold: x / √(xᵀPx) (in place)."""
        _divide_rows(X, Ellipsoid(self.P)._radii(X))
        return X

    # ------------------------------------------------------------------ the field
    def __call__(self, t: float, X: np.ndarray) -> np.ndarray:
        """Ẋ = F(t, X)."""
        X = np.asarray(X)
        dtype = np.result_type(X.dtype, self.dtype)
        X = X.astype(dtype, copy=False)
        return self.evaluate_into(t, X, np.empty(X.shape, dtype))

    def _work(self, X: np.ndarray, dtype: np.dtype) -> _Work:
        w = self._work_cache
        if w is None or w.key != (X.shape, dtype):
            w = self._work_cache = _Work(X.shape, dtype, self.P)
        return w

    def evaluate_into(self, t: float, X: np.ndarray, out: np.ndarray) -> np.ndarray:
        """F(t, X) written into ``out`` (same shape as X, not overlapping it); returns ``out``.

        The allocation-free form of ``__call__`` used by the fixed-step integrators; X must
        already have the dtype of ``out``.
        """
        self.evaluations += 1
        if self._variant is not None:
            return self.project(X, self._variant.mix(t, X, out))
        w = self._work(X, out.dtype)
        if w.batched:
            np.copyto(w.Xt, np.swapaxes(X, -1, -2))
            Xt = w.Xt
        elif w.Xc is None:
            Xt = X.T  # X @ Xᵀ of one buffer: numpy uses the symmetric syrk
        else:
            np.copyto(w.Xc, X)
            Xt = w.XcT
        for k, op in enumerate(self._heads):
            target = out if k == 0 else w.Wk
            self._head_into(op, t, X, Xt, target, w)
            if k:
                out += target
        return self._project_into(X, out, w)

    def _head_into(self, op: _HeadOps, t: float, X: np.ndarray, Xt: np.ndarray, target: np.ndarray, w: _Work):
        """target ← Σ_j α_ij V x_j of one head (softmax: divided by the row sums; else by n)."""
        A, Vt = self._head_matrices(op, t)
        beta_col, S = self._beta_col, w.S
        # scores β⟨x_i, A x_j⟩; per-system β scales the left factor (n×d, not n×n)
        if op.Qt is not None:  # rank r: β (X Qᵀ)(X Kᵀ)ᵀ
            xq, xk = w.low(op.Qt.shape[1])
            np.matmul(X, op.Qt, out=xq)
            if beta_col is not None:
                xq *= beta_col
            np.matmul(xq, np.swapaxes(np.matmul(X, op.Kt, out=xk), -1, -2), out=S)
        elif A is None:
            left = X if beta_col is None else np.multiply(X, beta_col, out=w.XA)
            np.matmul(left, Xt, out=S)
            if self._beta_scalar != 1.0:
                S *= self._beta_scalar
        else:
            left = np.matmul(X, A, out=w.XA)
            if beta_col is not None:
                left *= beta_col
            np.matmul(left, Xt, out=S)
        self._exp_masked(S)
        if op.Rt is not None:  # V = L R of rank r: (S (X Rᵀ)) Lᵀ
            xr, sxr = w.low(op.Rt.shape[1])
            np.matmul(S, np.matmul(X, op.Rt, out=xr), out=sxr)
            np.matmul(sxr, op.Lt, out=target)
        elif Vt is not None:
            np.matmul(S, np.matmul(X, Vt, out=w.Y), out=target)
        elif _columnwise(X):
            for c in range(X.shape[-1]):
                np.matmul(S, Xt[..., c, :, None], out=target[..., c : c + 1])
        else:
            np.matmul(S, X, out=target)
        if not self._softmax:
            target *= 1.0 / self.n
        elif w.batched:  # row sums; many small single-threaded products
            np.matmul(S, w.ones_col, out=w.s_col)
            _divide_rows(target, w.s)
        else:  # one (threaded) matrix–vector product
            np.matmul(S, w.ones, out=w.s)
            _divide_rows(target, w.s)

    def _project_into(self, X: np.ndarray, out: np.ndarray, w: _Work) -> np.ndarray:
        """out ← Π_X(out), as in ``project``: c_i = (x_iᵀP w_i)/(x_iᵀP x_i) (neutral) or x_iᵀP w_i."""
        PX = X if self.P is None else np.matmul(X, self.P, out=w.PX)
        c = _rowdot(PX, out)
        if self.neutral:
            c /= _rowdot(PX, X)
        if _columnwise(X):
            for k in range(X.shape[-1]):
                np.multiply(c, X[..., k], out=w.tmp[..., k])
        else:
            np.multiply(c[..., None], X, out=w.tmp)
        out -= w.tmp
        return out


class Ellipsoid:
    """The manifold {x : xᵀPx = 1} row by row (P = None: the unit sphere), for the integrator.

    ``deviation(X)`` = max_i |√(x_iᵀP x_i) − 1|. ``retract(X)`` scales every row back, in place,
    and remembers (elementwise, no reduction per step) the largest and smallest radius it saw;
    ``drift()`` returns the largest |radius − 1| retracted since the previous call — the deviation
    of the states as the integrator produced them, before the retraction. ``outward``: the steps
    only ever leave the manifold outwards (an Euler step x + hF from the manifold with F P-tangent
    at x has radius √(1 + h²‖F‖²_P) ≥ 1), so only the largest radius is tracked.
    """

    def __init__(self, P: np.ndarray | None = None, *, outward: bool = False) -> None:
        self.P = P
        self.outward = outward
        self._hi: np.ndarray | None = None
        self._lo: np.ndarray | None = None

    def _radii(self, X: np.ndarray) -> np.ndarray:
        PX = X if self.P is None else X @ self.P
        r = _rowdot(X, PX)
        np.sqrt(r, out=r)
        return r

    def deviation(self, X: np.ndarray) -> float:
        r = self._radii(np.asarray(X))
        return float(np.max(np.abs(r - 1.0))) if r.size else 0.0

    def retract(self, X: np.ndarray) -> None:
        r = self._radii(X)
        if self._hi is None:
            self._hi, self._lo = r.copy(), r.copy()
        else:
            np.maximum(self._hi, r, out=self._hi)
            if not self.outward:
                np.minimum(self._lo, r, out=self._lo)
        _divide_rows(X, r)

    def drift(self) -> float:
        if self._hi is None or not self._hi.size:
            return 0.0
        drift = float(self._hi.max()) - 1.0
        if not self.outward:
            drift = max(drift, 1.0 - float(self._lo.min()))
        self._hi = self._lo = None
        return drift
