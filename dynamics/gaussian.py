"""Gaussian mean field (Castin–Ablin–Carrillo–Peyré, arXiv 2501.18322; docs/theory.md, the Gaussian
closure and experiments P3-1 … P3-7).

A Gaussian cloud of tokens ``N(m, Σ)`` in R^d (no normalisation) stays Gaussian under softmax,
multi-head, L² and Sinkhorn attention, because each of these fields is *affine* on a Gaussian:
``Γ_μ(x) = G x + c`` with ``G = V R(Σ) 𝖠`` (sums over heads for multi-head). Hence

    ṁ = G m + c,          Σ̇ = G Σ + Σ Gᵀ   (= M + Mᵀ with M = G Σ).

**Convention.** The score of a token x against y is ``⟨Q x, K y⟩/s = ⟨𝖠 x, y⟩`` with the *code
convention* ``𝖠 = KᵀQ/s`` of the authors' scripts. The particle model of the other pages writes
``A = QᵀK`` (score ``xᵀ A y``), so ``𝖠 = Aᵀ/s``: transpose (and rescale) when comparing. ``Q`` and
``K`` are r×d (r = d by default), ``V`` is d×d. The scale s is fixed per variant as in the code:

* ``softmax``: s = √d;  R = Σ;   c = V m.
* ``multihead``: heads h with Q_h, K_h (k×d), V_h (k_v×d), output map W_h (d×k_v); s_h = √k,
  C_h = W_h V_h, 𝖠_h = K_hᵀQ_h/√k;  G = Σ_h C_h Σ 𝖠_h, c = Σ_h C_h m. Without explicit heads,
  Q, K, V are cut into ``n_heads`` consecutive row blocks and W_h are the matching column blocks
  of I (as in the code).
* ``l2``: kernel ``exp(−‖Q x/√d − K y‖²)`` normalised like softmax; 𝖠 = KᵀQ/√d,
  R = 2Σ(I + 2KᵀKΣ)⁻¹ = 2F(I + 2FᵀKᵀKF)⁻¹Fᵀ, c = V(I − R KᵀK) m. (Derived: the tilted measure is
  ``N((I+2ΣKᵀK)⁻¹m + R𝖠x, ·)``; the M = GΣ it gives is the code's ``2VΣ(I+2KᵀKΣ)⁻¹𝖠Σ``.)
* ``sinkhorn``: ε = 1, 𝖠 = KᵀQ unscaled; the plan ``e^{⟨𝖠x,y⟩+f(x)+g(y)} μ⊗μ`` with both
  marginals μ is Gaussian with ``E[y|x] = m + R𝖠(x − m)`` where, for any factor Σ = FFᵀ,
  ``R = 2F(I + (I + 4BBᵀ)^{1/2})⁻¹Fᵀ``, ``B = Fᵀ𝖠F``; so c = V(I − R𝖠)m and ṁ = V m. This equals
  the notes' ``M = V(𝖠ᵀ)⁻¹Σ⁻¹C_Σ Σ`` whenever 𝖠 and Σ are invertible, but needs neither.

**Integration (choice).** ``form="factor"`` (default) integrates ``(m, F)`` with ``Ḟ = G F`` and
``Σ = F Fᵀ`` (F₀ = Σ₀^{1/2} from an eigendecomposition): Σ is symmetric PSD by construction and its
rank is preserved exactly (F = Φ F₀ with Φ the invertible fundamental matrix of ``Φ̇ = GΦ``).
``form="covariance"`` integrates Σ itself (symmetrised at every evaluation) — a cross-check.
Both go through the engine's integration core (``dynamics._integrate``: a ``scipy.integrate``
solver, DOP853 by default, stepped with dense output). A terminal event stops the run when
``tr Σ`` reaches ``blowup`` (1e3, as the authors' "diverged"); for softmax / multi-head (Riccati
growth ~ 1/(t*−t)) the blow-up time is extrapolated as ``t_e + tr Σ / (d tr Σ/dt)`` — exact when
tr Σ ∝ 1/(t*−t) (P3-2), error O(1/blowup) otherwise.

The covariance form reports ``max_deviation``: how far the integrated Σ left the symmetric PSD
cone (an adaptive run that leaves it by more than its tolerances promise is INACCURATE).

Particles (``particle_moments``): n samples of N(m₀, Σ₀) moved by the particle system with the
same kernels and scales (RK4, step ≤ ``dt``); Sinkhorn in the log domain to ``sinkhorn_tol`` within
``sinkhorn_max_iter`` iterations (iterations and error reported). ``moment_gap`` measures the
particle–ODE gap against n (≈ n^{-1/2}).

Pure NumPy/SciPy: never imports streamlit or plotly.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from . import attention as _attention
from . import limits as _limits

# the run's status and progress types, re-exported (pages import them from here)
from ._integrate import CANCELLED as CANCELLED
from ._integrate import FAILED as FAILED
from ._integrate import INACCURATE as INACCURATE
from ._integrate import RK4, Abort, Adaptive, FunctionField, Outcome, integrate, steps_per_interval
from ._integrate import STOPPED as STOPPED
from ._integrate import SUCCESS as SUCCESS
from ._integrate import Progress as Progress
from ._integrate import Status as Status
from .attention import SinkhornInfo, sinkhorn  # noqa: F401 - re-exported (one Sinkhorn)
from .errors import BudgetError, ScenarioError
from .limits import GaussianLimits
from .scenario import JsonRecord
from .threads import blas_threads
from .validate import Matrix, Vector
from .validate import choice as _choice
from .validate import matrix as _matrix
from .validate import number as _number
from .validate import vector as _vector

#: The attention kinds with a closed Gaussian moment ODE (dynamics.attention registry), and the
#: multi-head layer with output maps (softmax per head).
VARIANTS = (*_attention.kinds_for("gaussian")[:1], "multihead", *_attention.kinds_for("gaussian")[1:])
QK_KINDS = ("identity", "gaussian", "gaussian_neg", "uniform_neg")
VALUE_KINDS = ("identity", "neg_identity", "gram", "gaussian")
METHODS = ("DOP853", "RK45", "Radau")
FORMS = ("factor", "covariance")
MAX_D = 16
MAX_PARTICLES = GaussianLimits.max_particles
MAX_SINKHORN_PARTICLES = GaussianLimits.max_sinkhorn_particles
MAX_PARTICLE_STEPS = GaussianLimits.max_particle_steps


# ------------------------------------------------------------------------------------ scenario
def _covariance(value: Any, d: int) -> Matrix:
    """A d×d covariance: symmetric (to 1e-9 relative, then symmetrised), PSD, positive trace."""
    arr = np.array(_matrix(value, "Sigma0", (d, d)))
    scale = max(1e-300, float(np.abs(arr).max()))
    if not np.allclose(arr, arr.T, rtol=0, atol=1e-9 * scale):
        raise ScenarioError("Sigma0: a covariance matrix must be symmetric")
    arr = (arr + arr.T) / 2
    eig = np.linalg.eigvalsh(arr)
    if eig[-1] <= 0 or eig[0] < -1e-10 * eig[-1]:
        raise ScenarioError(
            f"Sigma0: must be positive semi-definite with positive trace "
            f"(eigenvalues from {eig[0]:.3g} to {eig[-1]:.3g})"
        )
    return tuple(tuple(float(v) for v in row) for row in arr)


@dataclass(frozen=True)
class GaussHead:
    """One head of a multi-head layer: Q, K (k×d), V (k_v×d), output map W (d×k_v)."""

    Q: Matrix
    K: Matrix
    V: Matrix
    W: Matrix

    @classmethod
    def parse(cls, value: Any, name: str, d: int) -> GaussHead:
        if isinstance(value, GaussHead):
            value = value.to_json()
        if not isinstance(value, Mapping):
            raise ScenarioError(f"{name}: expected an object with keys Q, K, V, W")
        unknown = set(value) - {"Q", "K", "V", "W"}
        if unknown or len(value) != 4:
            raise ScenarioError(f"{name}: needs exactly the keys Q, K, V, W")
        Q = _matrix(value["Q"], f"{name}.Q")
        k = len(Q)
        if len(Q[0]) != d:
            raise ScenarioError(f"{name}.Q: expected {d} columns, got {len(Q[0])}")
        K = _matrix(value["K"], f"{name}.K", (k, d))
        Vh = _matrix(value["V"], f"{name}.V")
        if len(Vh[0]) != d:
            raise ScenarioError(f"{name}.V: expected {d} columns, got {len(Vh[0])}")
        W = _matrix(value["W"], f"{name}.W", (d, len(Vh)))
        return cls(Q=Q, K=K, V=Vh, W=W)

    def to_json(self) -> dict[str, Any]:
        return {k: [list(r) for r in getattr(self, k)] for k in ("Q", "K", "V", "W")}


@dataclass(frozen=True)
class Weights:
    """The resolved weights: per head (C_h = W_h V_h, 𝖠_h), plus KᵀK for L² (arrays)."""

    C: tuple[np.ndarray, ...]  # (d, d) value–output maps
    A: tuple[np.ndarray, ...]  # (d, d) 𝖠_h = K_hᵀQ_h / s_h  (code convention)
    Q: tuple[np.ndarray, ...]  # (k, d), already divided by s_h (score = (Q_h x)·(K_h y))
    K: tuple[np.ndarray, ...]  # (k, d)
    KtK: np.ndarray | None  # L² only: KᵀK (unscaled K)


@dataclass(frozen=True)
class GaussianScenario(JsonRecord):
    """A Gaussian mean-field run: weights, initial Gaussian N(m0, Sigma0), solver settings.

    Q, K (r×d) and V (d×d) are given, or generated from ``seed`` with ``qk`` / ``value`` (rows
    ``qk_rank``, default d): ``qk`` "identity" (Q = K = I), "gaussian" (independent N(0,1)),
    "gaussian_neg" (Q ~ N(0,1), K = −Q), "uniform_neg" (Q ~ U[0,1), K = −Q); ``value`` "identity",
    "neg_identity", "gram" (BBᵀ, B ~ N(0,1)/√d) or "gaussian" (N(0,1)/√d). ``m0`` defaults to 0,
    ``Sigma0`` to I; Sigma0 must be symmetric positive semi-definite with positive trace (singular
    is allowed: a degenerate Gaussian, whose rank the flow preserves). Invalid values raise
    :class:`ScenarioError` with a one-line reason.
    """

    d: int = 2
    variant: str = "softmax"
    Q: Matrix | None = None
    K: Matrix | None = None
    V: Matrix | None = None
    heads: tuple[GaussHead, ...] | None = None
    n_heads: int = 1
    qk: str = "gaussian"
    qk_rank: int | None = None
    value: str = "identity"
    seed: int = 0
    m0: Vector | None = None
    Sigma0: Matrix | None = None
    T: float = 1.0
    frames: int = 101
    method: str = "DOP853"
    form: str = "factor"
    rtol: float = 1e-10
    atol: float = 1e-12
    blowup: float = 1e3
    dt: float = 0.1
    sinkhorn_tol: float = 1e-9
    sinkhorn_max_iter: int = 1000

    VECTOR_KEYS: ClassVar[tuple[str, ...]] = ("m0",)
    MATRIX_KEYS: ClassVar[tuple[str, ...]] = ("Q", "K", "V", "Sigma0")

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "d", _number(self.d, "d", 1, MAX_D, integer=True))
        s(self, "variant", _choice(self.variant, "variant", VARIANTS))
        self._validate_weights()
        self._validate_heads()
        if self.m0 is not None:
            s(self, "m0", _vector(self.m0, "m0", self.d))
        if self.Sigma0 is not None:
            s(self, "Sigma0", _covariance(self.Sigma0, self.d))
        self._validate_solver()

    def _validate_weights(self) -> None:
        s, d = object.__setattr__, self.d
        s(self, "qk", _choice(self.qk, "qk", QK_KINDS))
        s(self, "value", _choice(self.value, "value", VALUE_KINDS))
        s(self, "seed", _number(self.seed, "seed", 0, 2**32 - 1, integer=True))
        if self.qk_rank is not None:
            s(self, "qk_rank", _number(self.qk_rank, "qk_rank", 1, 4 * MAX_D, integer=True))
            if self.qk == "identity" and self.qk_rank != d:
                raise ScenarioError("qk_rank: qk='identity' means Q = K = I, of rank d")
        if self.Q is not None:
            Q = _matrix(self.Q, "Q")
            if len(Q[0]) != d:
                raise ScenarioError(f"Q: expected {d} columns (one per dimension), got {len(Q[0])}")
            s(self, "Q", Q)
        if self.K is not None:
            K = _matrix(self.K, "K")
            if len(K[0]) != d:
                raise ScenarioError(f"K: expected {d} columns (one per dimension), got {len(K[0])}")
            if self.Q is not None and len(K) != len(self.Q):
                raise ScenarioError(f"K: must have as many rows as Q ({len(self.Q)}), got {len(K)}")
            s(self, "K", K)
        if self.V is not None:
            s(self, "V", _matrix(self.V, "V", (d, d)))

    def _validate_heads(self) -> None:
        s, d = object.__setattr__, self.d
        if self.heads is not None:
            heads = self.heads
            if isinstance(heads, Mapping) or not hasattr(heads, "__len__") or len(heads) == 0:
                raise ScenarioError("heads: expected a non-empty list of {Q, K, V, W} objects")
            if self.variant != "multihead":
                raise ScenarioError("heads: explicit heads are for variant='multihead' only")
            if len(heads) > 64:
                raise ScenarioError("heads: at most 64 heads")
            s(self, "heads", tuple(GaussHead.parse(h, f"heads[{i}]", d) for i, h in enumerate(heads)))
            s(self, "n_heads", len(self.heads))
        s(self, "n_heads", _number(self.n_heads, "n_heads", 1, 64, integer=True))
        if self.variant != "multihead" and self.n_heads != 1:
            raise ScenarioError("n_heads: more than one head needs variant='multihead'")
        if self.variant == "multihead" and self.heads is None:
            r = self.rank
            H = self.n_heads
            if r % H or d % H:
                raise ScenarioError(
                    f"n_heads: {H} heads need the rows of Q, K (r = {r}) and d = {d} divisible by {H}"
                )

    def _validate_solver(self) -> None:
        s = object.__setattr__
        s(self, "T", _number(self.T, "T", 0.0, 1e4))
        s(self, "frames", _number(self.frames, "frames", 2, 20_001, integer=True))
        s(self, "method", _choice(self.method, "method", METHODS))
        s(self, "form", _choice(self.form, "form", FORMS))
        s(self, "rtol", _number(self.rtol, "rtol", 1e-13, 1e-2))
        s(self, "atol", _number(self.atol, "atol", 1e-15, 1e-2))
        s(self, "blowup", _number(self.blowup, "blowup", 1.0, 1e12))
        tr0 = float(np.trace(self.sigma0()))
        if tr0 >= self.blowup:
            raise ScenarioError(f"blowup: the threshold must exceed tr Sigma0 = {tr0:.3g}")
        s(self, "dt", _number(self.dt, "dt", 1e-5, 10.0))
        s(self, "sinkhorn_tol", _number(self.sinkhorn_tol, "sinkhorn_tol", 1e-14, 1e-2))
        s(
            self,
            "sinkhorn_max_iter",
            _number(self.sinkhorn_max_iter, "sinkhorn_max_iter", 1, 100_000, integer=True),
        )

    # ------------------------------------------------------------------ derived
    @property
    def rank(self) -> int:
        """Rows r of Q and K."""
        if self.Q is not None:
            return len(self.Q)
        if self.K is not None:
            return len(self.K)
        return self.qk_rank or self.d

    def m0_array(self) -> np.ndarray:
        return np.zeros(self.d) if self.m0 is None else np.array(self.m0, dtype=float)

    def sigma0(self) -> np.ndarray:
        return np.eye(self.d) if self.Sigma0 is None else np.array(self.Sigma0, dtype=float)

    def matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Q, K, V) as arrays: the given ones, or generated from ``seed`` (each from its own stream)."""
        d, r = self.d, self.rank
        Q = None if self.Q is None else np.array(self.Q)
        K = None if self.K is None else np.array(self.K)
        if Q is None or K is None:
            rq = np.random.default_rng([self.seed, 1])
            rk = np.random.default_rng([self.seed, 2])
            if self.qk == "identity":
                gq, gk = np.eye(d), np.eye(d)
            elif self.qk == "gaussian":
                gq, gk = rq.standard_normal((r, d)), rk.standard_normal((r, d))
            elif self.qk == "gaussian_neg":
                gq = rq.standard_normal((r, d))
                gk = -gq
            else:  # uniform_neg
                gq = rq.random((r, d))
                gk = -gq
            Q = gq if Q is None else Q
            K = gk if K is None else K
        if self.V is not None:
            V = np.array(self.V)
        else:
            rv = np.random.default_rng([self.seed, 3])
            if self.value == "identity":
                V = np.eye(d)
            elif self.value == "neg_identity":
                V = -np.eye(d)
            elif self.value == "gram":
                B = rv.standard_normal((d, d)) / math.sqrt(d)
                V = B @ B.T
            else:
                V = rv.standard_normal((d, d)) / math.sqrt(d)
        return Q, K, V

    def weights(self) -> Weights:
        """Per-head arrays with the variant's scaling (see the module docstring)."""
        d = self.d
        Q, K, V = self.matrices()
        if self.variant == "multihead":
            if self.heads is not None:
                hs = [(np.array(h.Q), np.array(h.K), np.array(h.W) @ np.array(h.V)) for h in self.heads]
            else:
                H = self.n_heads
                r = Q.shape[0]
                kq, kv = r // H, d // H
                eye = np.eye(d)
                hs = []
                for h in range(H):
                    q, k = Q[h * kq : (h + 1) * kq], K[h * kq : (h + 1) * kq]
                    c = eye[:, h * kv : (h + 1) * kv] @ V[h * kv : (h + 1) * kv]
                    hs.append((q, k, c))
            qs = tuple(q / math.sqrt(q.shape[0]) for q, _, _ in hs)
            ks = tuple(k for _, k, _ in hs)
            return Weights(
                C=tuple(c for _, _, c in hs),
                A=tuple(k.T @ q for q, k in zip(qs, ks, strict=True)),
                Q=qs,
                K=ks,
                KtK=None,
            )
        scale = 1.0 if self.variant == "sinkhorn" else math.sqrt(d)
        Qs = Q / scale
        return Weights(C=(V,), A=(K.T @ Qs,), Q=(Qs,), K=(K,), KtK=K.T @ K if self.variant == "l2" else None)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GaussianScenario:
        if not isinstance(data, Mapping):
            raise ScenarioError("gaussian scenario: expected a JSON object of key: value pairs")
        names = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(data) - names))
        if unknown:
            raise ScenarioError(
                f"unknown gaussian scenario key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
            )
        return cls(**dict(data))

    def to_dict(self, *, minimal: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if minimal and v == f.default:
                continue
            if f.name == "n_heads" and self.heads is not None and minimal:
                continue
            if f.name == "heads" and v is not None:
                v = [h.to_json() for h in v]
            elif isinstance(v, tuple):
                v = [list(r) if isinstance(r, tuple) else r for r in v]
            out[f.name] = v
        return out


def qk_for(A: np.ndarray, variant: str = "softmax") -> tuple[np.ndarray, np.ndarray]:
    """(Q, K) whose code-convention matrix 𝖠 = KᵀQ/s is ``A`` for ``variant`` (softmax, l2, sinkhorn).

    Q = s·I, K = Aᵀ (for ``l2`` this fixes KᵀK = AAᵀ as well: the L² model is not determined by 𝖠).
    """
    A = np.asarray(A, dtype=float)
    d = A.shape[0]
    s = 1.0 if variant == "sinkhorn" else math.sqrt(d)
    return s * np.eye(d), A.T.copy()


# ------------------------------------------------------------------------------- mean-field field
def psd_factor(Sigma: np.ndarray) -> np.ndarray:
    """A factor F with F Fᵀ = Σ (symmetric square root; negative rounding eigenvalues set to 0)."""
    Sigma = (np.asarray(Sigma, dtype=float) + np.asarray(Sigma, dtype=float).T) / 2
    w, U = np.linalg.eigh(Sigma)
    return (U * np.sqrt(np.clip(w, 0.0, None))) @ U.T


def _R(gs: GaussianScenario, W: Weights, F: np.ndarray) -> np.ndarray:
    """R(Σ) of the single-head variants, from a factor F of Σ."""
    eye = np.eye(F.shape[1])
    if gs.variant == "softmax":
        return F @ F.T
    if gs.variant == "l2":
        inner = eye + 2 * F.T @ W.KtK @ F
        R = 2 * F @ np.linalg.solve(inner, F.T)
    else:  # sinkhorn
        B = F.T @ W.A[0] @ F
        w, U = np.linalg.eigh(B @ B.T)
        x = 2.0 / (1.0 + np.sqrt(1.0 + 4.0 * np.clip(w, 0.0, None)))
        R = F @ ((U * x) @ U.T) @ F.T
    return (R + R.T) / 2


def affine_field(
    gs: GaussianScenario, m: np.ndarray, F: np.ndarray, W: Weights | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(G, c) with Γ_μ(x) = G x + c for μ = N(m, F Fᵀ) (F any factor of Σ)."""
    W = W or gs.weights()
    if gs.variant == "multihead":
        Sigma = F @ F.T
        G = sum(C @ Sigma @ A for C, A in zip(W.C, W.A, strict=True))
        c = sum(C for C in W.C) @ m
        return G, c
    V, A = W.C[0], W.A[0]
    R = _R(gs, W, F)
    G = V @ R @ A
    if gs.variant == "softmax":
        c = V @ m
    elif gs.variant == "l2":
        c = V @ (m - R @ (W.KtK @ m))
    else:
        c = V @ (m - R @ (A @ m))
    return G, c


def moment_rates(gs: GaussianScenario, m: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ṁ, Σ̇) of the closed ODEs at (m, Σ): ṁ = Gm + c, Σ̇ = GΣ + ΣGᵀ."""
    Sigma = (np.asarray(Sigma, float) + np.asarray(Sigma, float).T) / 2
    G, c = affine_field(gs, np.asarray(m, float), psd_factor(Sigma))
    M = G @ Sigma
    return G @ m + c, M + M.T


# ------------------------------------------------------------------------------------ ODE solve
@dataclass(frozen=True)
class GaussianResult(Outcome):
    """What ``solve_gaussian`` returns; arrays are read-only.

    ``status``: SUCCESS (reached T), STOPPED (tr Σ reached ``blowup``: ``event_time``; for softmax
    and multi-head ``blowup_time`` is the extrapolated finite blow-up time t*), CANCELLED, FAILED.
    """

    t: np.ndarray  # (K,)
    m: np.ndarray  # (K, d)
    Sigma: np.ndarray  # (K, d, d) symmetric PSD
    status: int
    message: str
    scenario: GaussianScenario
    blowup_time: float | None = None
    event_time: float | None = None
    evaluations: int = 0
    wall_time: float = 0.0
    extra: dict = field(default_factory=dict)
    max_deviation: float | None = None  # covariance form: off the symmetric PSD cone (None: factor form)

    @property
    def blew_up(self) -> bool:
        return self.event_time is not None


def _pack(m: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.concatenate([m, X.ravel()])


#: flop-equivalents of one moment-ODE evaluation: a few d×d products and an eigendecomposition,
#: and the Python overhead of a dozen NumPy calls (≈ 20 µs)
def _evaluation_work(d: int) -> float:
    return 60.0 * d**3 + 2e5


class PsdCone:
    """The invariant of the covariance form: Σ symmetric positive semi-definite.

    ``deviation(y)`` = max(|Σ − Σᵀ|) + max(0, −λ_min((Σ + Σᵀ)/2)) for the state y = (m, Σ): how far
    the integrator's Σ left the cone (the flow Σ(t) = Φ Σ₀ Φᵀ never does).
    """

    def __init__(self, d: int) -> None:
        self.d = d

    def deviation(self, y: np.ndarray) -> float:
        S = np.asarray(y)[self.d :].reshape(self.d, self.d)
        asym = float(np.abs(S - S.T).max())
        low = float(np.linalg.eigvalsh((S + S.T) / 2)[0])
        return asym + max(0.0, -low)

    def retract(self, y: np.ndarray) -> None:  # pragma: no cover - adaptive runs never retract
        raise NotImplementedError

    def drift(self) -> float:  # pragma: no cover
        raise NotImplementedError


class _BlowUp:
    """Stop event: value = blowup − tr Σ crosses zero when tr Σ reaches ``blowup``."""

    def __init__(self, d: int, factor: bool, blowup: float) -> None:
        self.d, self.factor, self.blowup = d, factor, blowup

    def trace(self, y: np.ndarray) -> float:
        X = np.asarray(y)[self.d :]
        return float(np.sum(X * X)) if self.factor else float(np.trace(X.reshape(self.d, self.d)))

    def value(self, t: float, y: np.ndarray) -> float:
        return self.blowup - self.trace(y)

    def __repr__(self) -> str:
        return f"tr Σ ≥ {self.blowup:g}"


def solve_gaussian(
    gs: GaussianScenario, progress: Progress | None = None, *, limits: GaussianLimits | None = None
) -> GaussianResult:
    """Integrate the closed moment ODEs of ``gs`` from 0 to T (see the module docstring).

    Saved times: ``frames`` evenly spaced in [0, T], cut at the blow-up event (whose state is the
    last frame). ``progress(fraction)`` is called at every percent of T; returning False cancels.
    The evaluations are capped by ``limits.max_work`` (status FAILED "work budget exhausted").
    Numerical trouble is reported in ``status``/``message``, never raised; no numpy warnings.
    """
    lim = limits or GaussianLimits()
    d = gs.d
    _limits.check_sizes((("frames", gs.frames, lim.max_frames),), "the mean field's")
    _limits.check_memory(8.0 * gs.frames * (d + d * d) * 3, lim.max_memory, "save fewer frames")
    with blas_threads(0):
        return _solve_gaussian(gs, progress, lim)


def _solve_gaussian(gs: GaussianScenario, progress: Progress | None, lim: GaussianLimits) -> GaussianResult:
    start = time.perf_counter()
    d = gs.d
    W = gs.weights()
    m0 = gs.m0_array()
    S0 = gs.sigma0()
    factor = gs.form == "factor"
    X0 = psd_factor(S0) if factor else S0.copy()

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        m, X = y[:d], y[d:].reshape(d, d)
        try:
            if factor:
                G, c = affine_field(gs, m, X, W)
                return _pack(G @ m + c, G @ X)
            Sigma = (X + X.T) / 2
            G, c = affine_field(gs, m, psd_factor(Sigma), W)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise Abort(FAILED, f"the moment ODE failed near t = {t:.4g} ({exc})") from None
        M = G @ Sigma
        return _pack(G @ m + c, M + M.T)

    event = _BlowUp(d, factor, gs.blowup)
    t_frames = np.linspace(0.0, gs.T, gs.frames)
    fld = FunctionField(rhs)
    sol = integrate(
        fld,
        _pack(m0, X0),
        t_frames,
        Adaptive(gs.method, gs.rtol, gs.atol),
        manifold=None if factor else PsdCone(d),
        event=event,
        progress=progress,
        max_evaluations=_limits.evaluation_cap(lim.max_work, _evaluation_work(d)),
    )
    status, message = sol.status, sol.message
    t = np.array(sol.t, dtype=float)
    Y = np.asarray(sol.y)
    event_time = blowup_time = None
    if status == STOPPED:
        te, ye = float(t[-1]), Y[-1]
        event_time = te
        with np.errstate(all="ignore"):
            dtr = _trace_rate(rhs(te, ye), d, factor, ye)
        if gs.variant in ("softmax", "multihead") and dtr > 0:
            blowup_time = te + event.trace(ye) / dtr
            message = f"blow-up at t* ≈ {blowup_time:.4f} (tr Σ reached {gs.blowup:.3g} at t = {te:.4f})"
        else:
            message = (
                f"diverged: tr Σ reached {gs.blowup:.3g} at t = {te:.4f} "
                f"({gs.variant} attention: growth need not be a finite-time blow-up)"
            )
    elif status == FAILED and len(Y):
        size = float(np.abs(Y[-1][:d]).max())
        if size > 1e50:
            message += f" (|m| reached {size:.3g}: V's growth e^(tV) outruns the solver)"
    elif status == CANCELLED:
        message = f"cancelled at t = {t[-1]:.4g}"
    elif status == SUCCESS and gs.T > 0:
        message = f"reached T = {gs.T:g}"
    m = Y[:, :d].copy()
    X = Y[:, d:].reshape(-1, d, d)
    Sigma = X @ np.swapaxes(X, 1, 2) if factor else X
    Sigma = (Sigma + np.swapaxes(Sigma, 1, 2)) / 2
    for arr in (t, m, Sigma):
        arr.setflags(write=False)
    return GaussianResult(
        t=t,
        m=m,
        Sigma=Sigma,
        status=status,
        message=message,
        scenario=gs,
        blowup_time=blowup_time,
        event_time=event_time,
        evaluations=fld.evaluations,
        wall_time=time.perf_counter() - start,
        max_deviation=sol.max_deviation,
    )


def _trace_rate(dy: np.ndarray, d: int, factor: bool, y: np.ndarray) -> float:
    dX = dy[d:].reshape(d, d)
    if factor:
        X = y[d:].reshape(d, d)
        return float(2 * np.sum(X * dX))
    return float(np.trace(dX))


# ------------------------------------------------------------------------------ closed forms etc.
def closed_form_identity_V(A: np.ndarray, Sigma0: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Σ(t) = (Σ₀⁻¹ − t(𝖠+𝖠ᵀ))⁻¹ for softmax with V = I, written Σ₀(I − tSΣ₀)⁻¹ (Σ₀ may be singular).

    Valid for t < t* (see ``blowup_time_identity_V``). ``t`` scalar or array → (d,d) or (K,d,d).
    """
    A = np.asarray(A, float)
    S0 = np.asarray(Sigma0, float)
    S = A + A.T
    ts = np.atleast_1d(np.asarray(t, float))
    eye = np.eye(S0.shape[0])
    out = np.empty((len(ts), *S0.shape))
    for i, tt in enumerate(ts):
        # Σ₀(I − tSΣ₀)⁻¹ = (I − tΣ₀S)⁻¹Σ₀ (push-through identity)
        X = np.linalg.solve((eye - tt * S0 @ S), S0)
        out[i] = (X + X.T) / 2
    return out[0] if np.ndim(t) == 0 else out


def blowup_time_identity_V(A: np.ndarray, Sigma0: np.ndarray) -> float:
    """t* = 1/λ_max(Σ₀^{1/2}(𝖠+𝖠ᵀ)Σ₀^{1/2}) (inf when that eigenvalue is ≤ 0)."""
    F = psd_factor(Sigma0)
    A = np.asarray(A, float)
    lam = float(np.linalg.eigvalsh(F.T @ (A + A.T) @ F)[-1])
    return 1.0 / lam if lam > 0 else math.inf


def cone_coords(Sigma: np.ndarray) -> np.ndarray:
    """2×2 covariance(s) [[a, c], [c, b]] → (a − b, 2c, a + b): PSD cone z ≥ √(x²+y²), rank one on its
    boundary (the authors' disk picture of Σ/tr Σ). Shape (..., 2, 2) → (..., 3)."""
    S = np.asarray(Sigma, float)
    a, b, c = S[..., 0, 0], S[..., 1, 1], (S[..., 0, 1] + S[..., 1, 0]) / 2
    return np.stack([a - b, 2 * c, a + b], axis=-1)


def disk_coords(Sigma: np.ndarray) -> np.ndarray:
    """Σ/tr Σ of 2×2 covariances as a point of the unit disk ((a−b)/(a+b), 2c/(a+b)); boundary =
    rank one. Shape (..., 2, 2) → (..., 2)."""
    xyz = cone_coords(Sigma)
    tr = xyz[..., 2:3]
    with np.errstate(all="ignore"):
        out = np.where(tr > 0, xyz[..., :2] / np.where(tr > 0, tr, 1.0), 0.0)
    return out


def normalized(Sigma: np.ndarray) -> np.ndarray:
    """Σ / tr Σ (batched)."""
    S = np.asarray(Sigma, float)
    tr = np.trace(S, axis1=-2, axis2=-1)[..., None, None]
    return S / np.where(tr > 0, tr, 1.0)


def sigma0_family(Sigma0: np.ndarray, k: int = 12, rho: float = 0.85) -> np.ndarray:
    """k 2×2 covariances of the same trace as Σ₀ on the circle of radius ρ of the disk picture
    (the authors' grids of initial covariances, thinned): shape (k, 2, 2)."""
    tr = float(np.trace(np.asarray(Sigma0, float)))
    th = np.linspace(0, 2 * np.pi, k, endpoint=False)
    c, s = np.cos(th), np.sin(th)
    out = np.empty((k, 2, 2))
    out[:, 0, 0], out[:, 1, 1] = 1 + rho * c, 1 - rho * c
    out[:, 0, 1] = out[:, 1, 0] = rho * s
    return tr / 2 * out


def numerical_rank(Sigma: np.ndarray, tol: float = 0.1) -> int:
    """#eigenvalues > tol (the authors' rank of a limit covariance, tol 0.1)."""
    return int(np.sum(np.linalg.eigvalsh((np.asarray(Sigma) + np.asarray(Sigma).T) / 2) > tol))


def limit_identity_V(A: np.ndarray, Sigma0: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """lim Σ(t) for V = I and 𝖠+𝖠ᵀ ⪯ 0 (Σ₀ PD): N (NᵀΣ₀⁻¹N)⁻¹ Nᵀ, N an orthonormal basis of ker S."""
    A = np.asarray(A, float)
    S = A + A.T
    w, U = np.linalg.eigh(S)
    if w[-1] > tol * max(1.0, abs(w[0])):
        raise ValueError("limit_identity_V: 𝖠+𝖠ᵀ has a positive eigenvalue (blow-up, no limit)")
    N = U[:, np.abs(w) <= tol * max(1.0, abs(w[0]))]
    if N.shape[1] == 0:
        return np.zeros_like(S)
    inner = N.T @ np.linalg.solve(np.asarray(Sigma0, float), N)
    L = N @ np.linalg.solve(inner, N.T)
    return (L + L.T) / 2


# ------------------------------------------------------------------------------------ particles
class ParticleField:
    """Γ at particle level for ``gs`` (same kernels and scales as the ODE); Sinkhorn warm-started."""

    CHUNK = 4_000_000  # score entries per block (memory bound)

    def __init__(self, gs: GaussianScenario, max_sinkhorn_work: float | None = None) -> None:
        self.gs = gs
        self.W = gs.weights()
        self.g: np.ndarray | None = None
        self.max_sinkhorn_work = max_sinkhorn_work  # flops of Sinkhorn iterations allowed in all
        self.sinkhorn_iterations = 0
        self.sinkhorn_max_iterations = 0
        self.sinkhorn_error = 0.0
        self.sinkhorn_converged = True
        self.evaluations = 0

    def _rows(self, Xq: np.ndarray, Xk: np.ndarray, Y: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        n = Xq.shape[0]
        out = np.empty((n, Y.shape[1]))
        step = max(1, self.CHUNK // max(1, Xk.shape[0]))
        for lo in range(0, n, step):
            S = Xq[lo : lo + step] @ Xk.T
            if bias is not None:
                S += bias[None, :]
            S -= S.max(axis=1, keepdims=True)
            np.exp(S, out=S)
            out[lo : lo + step] = (S @ Y) / S.sum(axis=1, keepdims=True)
        return out

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        gs, W = self.gs, self.W
        if gs.variant in ("softmax", "multihead"):
            out = np.zeros_like(X)
            for q, k, C in zip(W.Q, W.K, W.C, strict=True):
                out += self._rows(X @ q.T, X @ k.T, X @ C.T, None)
            return out
        q, k, C = W.Q[0], W.K[0], W.C[0]
        if gs.variant == "l2":
            Xk = X @ k.T  # K y
            # −‖a − Ky‖² = 2⟨a, Ky⟩ − ‖Ky‖² − ‖a‖²; the last term cancels in the row normalisation
            return self._rows(2 * (X @ q.T), Xk, X @ C.T, -np.sum(Xk * Xk, axis=1))
        S = (X @ q.T) @ (X @ k.T).T
        P, info, self.g = sinkhorn(S, gs.sinkhorn_tol, gs.sinkhorn_max_iter, self.g)
        self.sinkhorn_iterations += info.iterations
        if (
            self.max_sinkhorn_work is not None
            and self.sinkhorn_iterations * SINKHORN_ITERATION_FLOPS * S.size > (self.max_sinkhorn_work)
        ):
            raise Abort(FAILED, f"work budget exhausted after {self.sinkhorn_iterations} Sinkhorn iterations")
        self.sinkhorn_max_iterations = max(self.sinkhorn_max_iterations, info.iterations)
        self.sinkhorn_error = max(self.sinkhorn_error, info.error)
        self.sinkhorn_converged &= info.converged
        return P @ (X @ C.T)

    def info(self) -> dict[str, Any]:
        if self.gs.variant != "sinkhorn":
            return {"evaluations": self.evaluations}
        return {
            "evaluations": self.evaluations,
            "sinkhorn_iterations": self.sinkhorn_iterations,
            "sinkhorn_max_iterations": self.sinkhorn_max_iterations,
            "sinkhorn_error": self.sinkhorn_error,
            "sinkhorn_converged": self.sinkhorn_converged,
            "sinkhorn_tol": self.gs.sinkhorn_tol,
            "sinkhorn_max_iter": self.gs.sinkhorn_max_iter,
        }


def _check_n(gs: GaussianScenario, n: int, lim: GaussianLimits | None = None) -> int:
    lim = lim or GaussianLimits()
    n = _number(n, "n", 2, 1_000_000, integer=True)
    _limits.check_sizes((("n", n, lim.max_particles),), "the particle system's")
    if gs.variant == "sinkhorn" and n > lim.max_sinkhorn_particles:
        raise BudgetError(
            f"n: Sinkhorn particles keep the full n×n plan; at most {lim.max_sinkhorn_particles}"
        )
    return n


#: Flops per entry of one Sinkhorn iteration (two logsumexp passes over the n×n plan).
SINKHORN_ITERATION_FLOPS = 10.0
#: Sinkhorn iterations per particle evaluation assumed when pricing a run in advance: warm-started
#: from the previous evaluation's potentials it takes a few; the actual total is capped while running.
SINKHORN_TYPICAL_ITERATIONS = 20


def _particle_evaluation_work(gs: GaussianScenario, n: int) -> float:
    """Flops of one particle-field evaluation (Sinkhorn: at its typical warm-started iterations)."""
    r, d, h = gs.rank, gs.d, gs.n_heads
    work = h * (2.0 * n * n * (r + d) + 10.0 * n * n)
    if gs.variant == "sinkhorn":
        work += SINKHORN_ITERATION_FLOPS * n * n * min(gs.sinkhorn_max_iter, SINKHORN_TYPICAL_ITERATIONS)
    return work


def sample_particles(gs: GaussianScenario, n: int, seed: int = 0) -> np.ndarray:
    """n samples of N(m₀, Σ₀), shape (n, d) (x = m₀ + F z with F = Σ₀^{1/2}, z standard normal)."""
    n = _check_n(gs, n)
    seed = _number(seed, "seed", 0, 2**32 - 1, integer=True)
    z = np.random.default_rng([seed, 11]).standard_normal((n, gs.d))
    return gs.m0_array()[None, :] + z @ psd_factor(gs.sigma0()).T


def empirical_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the empirical measure (divisor n)."""
    m = X.mean(axis=0)
    Y = X - m
    C = Y.T @ Y / X.shape[0]
    return m, (C + C.T) / 2


def empirical_rates(gs: GaussianScenario, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean of Γ, Cov(X, Γ) + Cov(Γ, X)) of the particle field at X: the particles' moment rates."""
    with np.errstate(all="ignore"):
        Gam = ParticleField(gs)(np.asarray(X, float))
    Xc = X - X.mean(axis=0)
    Gc = Gam - Gam.mean(axis=0)
    C = Gc.T @ Xc / X.shape[0]
    return Gam.mean(axis=0), C + C.T


@dataclass(frozen=True)
class ParticleMoments:
    t: np.ndarray  # (K,)
    m: np.ndarray  # (K, d) sample mean
    Sigma: np.ndarray  # (K, d, d) sample covariance (divisor n)
    n: int
    seed: int
    status: int
    message: str
    info: dict = field(default_factory=dict)
    X: np.ndarray | None = None  # (K, keep, d): the first ``keep`` particles at the saved times
    steps: int = 0  # RK4 steps taken


def _particle_times(times: Sequence[float] | np.ndarray) -> np.ndarray:
    times = np.asarray(times, float)
    if (
        times.ndim != 1
        or times.size == 0
        or not np.all(np.isfinite(times))
        or times[0] < 0
        or np.any(np.diff(times) < 0)
    ):
        raise ScenarioError("times: expected increasing finite times ≥ 0")
    return times


def particle_cost(gs: GaussianScenario, n: int, times: np.ndarray) -> tuple[int, float, float]:
    """(RK4 steps, flops, bytes) of ``particle_moments`` (equal steps ≤ dt landing on every time;
    Sinkhorn at its typical iterations — the actual iterations are capped while running)."""
    grid = np.r_[0.0, times]
    steps = sum(steps_per_interval(float(b - a), gs.dt) for a, b in itertools.pairwise(grid))
    memory = 8.0 * (len(grid) * n * gs.d + 6 * n * gs.d + 3 * n * min(n, ParticleField.CHUNK // max(n, 1)))
    return steps, 4.0 * steps * _particle_evaluation_work(gs, n), memory


def particle_moments(
    gs: GaussianScenario,
    n: int,
    seed: int = 0,
    times: Sequence[float] | None = None,
    progress: Progress | None = None,
    keep: int = 0,
    *,
    limits: GaussianLimits | None = None,
) -> ParticleMoments:
    """Move n samples of N(m₀, Σ₀) by the particle system (RK4, equal steps ≤ ``gs.dt`` landing on
    every requested time; default times: the scenario's frames) and return their sample moments
    (and the positions of the first ``keep`` particles, for drawing). Priced against ``limits``
    before any work."""
    lim = limits or GaussianLimits()
    n = _check_n(gs, n, lim)
    times = _particle_times(np.linspace(0, gs.T, gs.frames) if times is None else times)
    total, work, memory = particle_cost(gs, n, times)
    if total > lim.max_particle_steps:
        raise BudgetError(f"dt: {total} particle steps exceed the limit {lim.max_particle_steps}")
    _limits.check_work(work, 0.0, lim.max_work, "use fewer particles or a larger dt")
    _limits.check_memory(memory, lim.max_memory, "use fewer particles or fewer times")
    with blas_threads(_particle_evaluation_work(gs, n)):
        return _particle_moments(gs, n, seed, times, progress, keep, lim.max_work)


def _particle_moments(gs, n, seed, times, progress, keep, max_work: float) -> ParticleMoments:
    X0 = sample_particles(gs, n, seed)
    fld = ParticleField(gs, max_sinkhorn_work=max_work)
    first = times[0] == 0  # the saved times, with t = 0 prepended when it is not one of them
    t_save = times if first else np.r_[0.0, times]
    sol = integrate(FunctionField(lambda t, X: fld(X)), X0, t_save, RK4(gs.dt), progress=progress)
    states = sol.y if first else sol.y[1:]
    done = sol.t if first else sol.t[1:]
    status, message = sol.status, f"reached t = {times[-1]:g} with n = {n}"
    if status == FAILED:
        message = (
            sol.message
            if "budget" in sol.message
            else f"particles became non-finite before t = {sol.t[-1]:.4g}"
        )
    elif status == CANCELLED:
        message = f"cancelled at t = {sol.t[-1]:.4g}"
    moments = [empirical_moments(X) for X in states]
    info = fld.info()
    if gs.variant == "sinkhorn" and not info["sinkhorn_converged"]:
        message += (
            f"; Sinkhorn hit its cap of {gs.sinkhorn_max_iter} iterations "
            f"(marginal error {info['sinkhorn_error']:.2g} > tol {gs.sinkhorn_tol:g})"
        )
    d = gs.d
    keep = max(0, min(int(keep), n))
    return ParticleMoments(
        t=np.array(done, dtype=float),
        m=np.array([m for m, _ in moments]).reshape(-1, d),
        Sigma=np.array([S for _, S in moments]).reshape(-1, d, d),
        n=n,
        seed=int(seed),
        status=status,
        message=message,
        info=info,
        X=np.array(states[:, :keep]) if keep else None,
        steps=sol.steps,
    )


@dataclass(frozen=True)
class GapResult:
    """Particle–ODE gap at ``time`` against n: rms over seeds of ‖m_n − m‖ and ‖Σ_n − Σ‖_F."""

    ns: np.ndarray
    mean_err: np.ndarray
    cov_err: np.ndarray
    gap: np.ndarray  # rms over seeds of (‖Δm‖² + ‖ΔΣ‖_F²)^{1/2}
    slope: float  # least-squares slope of log gap against log n (≈ −1/2)
    time: float
    seeds: tuple[int, ...]
    message: str


def moment_gap(
    gs: GaussianScenario,
    ns: Sequence[int] = (250, 1000, 4000),
    seeds: Sequence[int] = (0, 1, 2),
    time_: float | None = None,
    *,
    limits: GaussianLimits | None = None,
) -> GapResult:
    """The particle–ODE gap at ``time_`` (default T; halved event time if the ODE diverges first).

    Every particle run is priced against ``limits`` before the first one starts."""
    lim = limits or GaussianLimits()
    ns = np.array([_check_n(gs, n, lim) for n in ns], dtype=int)
    if len(ns) < 2 or len(set(ns.tolist())) < 2:
        raise ScenarioError("ns: give at least two different particle counts")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ScenarioError("seeds: give at least one seed")
    t_end = gs.T if time_ is None else float(time_)
    costs = [particle_cost(gs, int(n), np.array([t_end])) for n in ns]
    if max(c[0] for c in costs) > lim.max_particle_steps:
        raise BudgetError(
            f"dt: {max(c[0] for c in costs)} particle steps exceed the limit {lim.max_particle_steps}"
        )
    _limits.check_work(
        sum(c[1] for c in costs) * len(seeds), 0.0, lim.max_work, "use fewer n values or seeds"
    )
    ode = solve_gaussian(gs.replace(T=t_end, frames=2), limits=lim)
    note = ""
    if ode.event_time is not None:
        t_end = 0.5 * ode.event_time
        note = f" (the ODE diverges at t = {ode.event_time:.3g}: compared at t = {t_end:.3g})"
        ode = solve_gaussian(gs.replace(T=t_end, frames=2), limits=lim)
    if not ode.success:
        raise ScenarioError(f"the moment ODE failed: {ode.message}")
    m_ref, S_ref = ode.m[-1], ode.Sigma[-1]
    me = np.zeros(len(ns))
    ce = np.zeros(len(ns))
    for i, n in enumerate(ns):
        for s in seeds:
            pm = particle_moments(gs, int(n), s, [t_end], limits=lim)
            if pm.status != SUCCESS:
                raise ScenarioError(f"particles failed: {pm.message}")
            me[i] += float(np.sum((pm.m[-1] - m_ref) ** 2))
            ce[i] += float(np.sum((pm.Sigma[-1] - S_ref) ** 2))
    me, ce = np.sqrt(me / len(seeds)), np.sqrt(ce / len(seeds))
    gap = np.sqrt(me**2 + ce**2)
    slope = float(np.polyfit(np.log(ns), np.log(np.maximum(gap, 1e-300)), 1)[0])
    return GapResult(
        ns=ns,
        mean_err=me,
        cov_err=ce,
        gap=gap,
        slope=slope,
        time=t_end,
        seeds=seeds,
        message=f"gap ∝ n^{slope:.2f} at t = {t_end:.3g}{note}",
    )


# ------------------------------------------------------------------------------------ presets
@dataclass(frozen=True)
class GaussianPreset:
    key: str
    title: str
    caption: str
    source: str
    scenario: GaussianScenario


def _paper_experiment(name: str) -> str:
    return f"arXiv 2501.18322, experiment “{name}” (code vcastin/2025-transformers-PDEs); our own draws"


PRESETS: dict[str, GaussianPreset] = {
    p.key: p
    for p in (
        GaussianPreset(
            "collapse",
            "Collapse to a point",
            "Q a 2×2 matrix with entries uniform in [0, 1), K = −Q (𝖠 = −QᵀQ/√2 ⪯ 0), V = BBᵀ: Σ → 0, "
            "the cloud clusters at a point.",
            _paper_experiment("trad_neg_def_V"),
            GaussianScenario(
                d=2,
                qk="uniform_neg",
                value="gram",
                seed=35,
                m0=(1.0, -0.5),
                Sigma0=((1.0, 0.3), (0.3, 0.5)),
                T=20.0,
            ),
        ),
        GaussianPreset(
            "line",
            "Convergence to a line",
            "Q = q (one row), K = −q, V = I, m₀ = 0 (with V = I the mean grows like e^t): Σ converges to "
            "rank one along q^⊥ (P3-7).",
            _paper_experiment("trad_rank_1"),
            GaussianScenario(
                d=2,
                Q=((0.6, 0.8),),
                K=((-0.6, -0.8),),
                value="identity",
                Sigma0=((1.0, 0.2), (0.2, 0.8)),
                T=20.0,
            ),
        ),
        GaussianPreset(
            "plane_3d",
            "Low-rank limit in 3D",
            "d = 3, Q ∈ R^{1×3} Gaussian, K = −Q, V = I: the limit has rank ⌈d/2⌉ = 2 — a flat ellipse "
            "(P3-6).",
            _paper_experiment("histograms_trad"),
            GaussianScenario(
                d=3,
                qk="gaussian_neg",
                qk_rank=1,
                value="identity",
                seed=4,
                Sigma0=((1.0, 0.2, 0.0), (0.2, 0.8, 0.1), (0.0, 0.1, 0.6)),
                T=20.0,
            ),
        ),
        GaussianPreset(
            "blowup",
            "Finite-time blow-up",
            "V = I, 𝖠 = ½I (Q = I, K = I/√2 in d = 2), Σ₀ = I: tr Σ = 2/(1 − t), blow-up at t* = 1 (P3-2).",
            "closed form of Σ(t) for V = I; experiment P3-2 (About page, Experiments)",
            GaussianScenario(
                d=2,
                Q=((1.0, 0.0), (0.0, 1.0)),
                K=((2**-0.5, 0.0), (0.0, 2**-0.5)),
                value="identity",
                m0=(0.3, 0.1),
                T=1.5,
            ),
        ),
        GaussianPreset(
            "blowup_aniso",
            "Blow-up along a line",
            "𝖠+𝖠ᵀ ≻ 0 with a rotation part, V = I, anisotropic Σ₀: tr Σ → ∞ in finite time and Σ/tr Σ "
            "tends to a rank-one projector (the boundary of the disk).",
            _paper_experiment("trad_explosion"),
            GaussianScenario(
                d=2,
                Q=((1.0, 0.0), (0.0, 1.0)),
                K=((0.6, 0.5), (-0.5, 0.3)),
                value="identity",
                m0=(0.2, -0.2),
                Sigma0=((0.6, 0.2), (0.2, 0.5)),
                T=3.0,
            ),
        ),
        GaussianPreset(
            "both",
            "Converge or blow up",
            "𝖠+𝖠ᵀ indefinite, V random: depending on Σ₀ the covariance collapses or blows up (see the "
            "family of initial covariances in the disk).",
            _paper_experiment("trad_both_V"),
            GaussianScenario(
                d=2,
                Q=((1.0, 0.0), (0.0, 1.0)),
                K=((1.35, 0.34), (-1.16, -0.19)),
                V=((-0.34, -0.23), (0.6, -1.28)),
                m0=(0.5, 0.0),
                Sigma0=((0.925, 0.0), (0.0, 0.075)),
                T=20.0,
            ),
        ),
        GaussianPreset(
            "particles",
            "Particles vs ODE",
            "V = BBᵀ/2, 𝖠 = −I + 0.3G (d = 3), m₀ ≠ 0: sample moments of the particle system follow the "
            "ODE up to O(n^{-1/2}) (P3-3).",
            "experiment P3-3 (About page, Experiments)",
            GaussianScenario(
                d=3,
                Q=tuple(tuple(math.sqrt(3) * float(i == j) for j in range(3)) for i in range(3)),
                K=((-1.0, 0.21, -0.12), (0.09, -1.0, 0.27), (0.15, -0.18, -1.0)),
                V=((0.6, 0.1, -0.1), (0.1, 0.4, 0.05), (-0.1, 0.05, 0.3)),
                m0=(1.0, -0.5, 0.3),
                Sigma0=((1.0, 0.2, 0.1), (0.2, 0.7, 0.0), (0.1, 0.0, 0.5)),
                T=2.0,
            ),
        ),
        GaussianPreset(
            "multihead",
            "Multi-head collapse",
            "The collapse setting with H = 2 heads (k = 1): C_h = W_hV_h, W = I, heads = row blocks.",
            _paper_experiment("MH_neg_def_V"),
            GaussianScenario(
                d=2,
                variant="multihead",
                n_heads=2,
                qk="uniform_neg",
                value="gram",
                seed=35,
                m0=(1.0, -0.5),
                Sigma0=((1.0, 0.3), (0.3, 0.5)),
                T=20.0,
            ),
        ),
        GaussianPreset(
            "l2_collapse",
            "L² attention",
            "The collapse setting with the L² kernel exp(−‖Qx/√d − Ky‖²).",
            _paper_experiment("L2_neg_def_V"),
            GaussianScenario(
                d=2,
                variant="l2",
                qk="uniform_neg",
                value="gram",
                seed=35,
                m0=(1.0, -0.5),
                Sigma0=((1.0, 0.3), (0.3, 0.5)),
                T=20.0,
            ),
        ),
        GaussianPreset(
            "sinkhorn",
            "Sinkhorn attention",
            "The collapse setting with doubly stochastic (Sinkhorn, ε = 1) attention: the mean moves by "
            "ṁ = V m exactly.",
            _paper_experiment("sink_convergence"),
            GaussianScenario(
                d=2,
                variant="sinkhorn",
                qk="uniform_neg",
                value="gram",
                seed=35,
                m0=(1.0, -0.5),
                Sigma0=((1.0, 0.3), (0.3, 0.5)),
                T=20.0,
            ),
        ),
    )
}


def get_preset(key: str) -> GaussianPreset:
    try:
        return PRESETS[key]
    except KeyError:
        raise ScenarioError(f"preset: unknown {key!r}; one of {', '.join(PRESETS)}") from None
