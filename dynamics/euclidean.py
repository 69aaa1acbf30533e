"""The unnormalised Euclidean model of Geshkovski, Letrouit, Polyanskiy, Rigollet (arXiv:2305.05465).

Tokens x_1, …, x_n live in ℝ^d (no layer norm) and follow, with time-independent Q, K, V,

    ẋ_i = Σ_j P_ij V x_j,        P_ij = softmax_j ⟨Q x_i, K x_j⟩                 (eq:trans_dyn)

Rows of P sum to one, so the rescaled tokens z_i = e^{−tV} x_i solve

    ż_i = Σ_j P_ij V (z_j − z_i),  P_ij = softmax_j ⟨Q e^{tV} z_i, K e^{tV} z_j⟩     (e:Rres)

and every clustering statement of the paper is about z (notes §B.1–B.2).

``attention`` selects the weights P (the variants of :mod:`dynamics.attention`, with β = 1 and
no 1/√d; S_ij = ⟨Q x_i, K x_j⟩):

* ``softmax`` (default) — P_ij = e^{S_ij} / Σ_l e^{S_il}, the paper's model;
* ``l2`` — P_ij ∝ exp(−‖Q x_i − K x_j‖²) over j, i.e. softmax_j of 2S_ij − ‖K x_j‖² (the
  ‖Q x_i‖² term is a row constant and cancels);
* ``sinkhorn`` — (e^{S_ij}) scaled to a doubly stochastic matrix by log-domain Sinkhorn
  iterations (stop at a max marginal error ≤ ``sinkhorn_tol`` or after ``sinkhorn_iters``);
* ``sigmoid`` — P_ij = σ(S_ij + b)/n, b = ``sigmoid_bias``, rows **not** normalised.

Rescaled form for any P: from ẋ_i = Σ_j P_ij V x_j and z = e^{−tV}x, ż = e^{−tV}(ẋ − V x) and
e^{−tV}V = V e^{−tV}, so

    ż_i = Σ_j P_ij V z_j − V z_i                                                    (general)

which is what is integrated for every kind. When rows of P sum to one (softmax, l2, sinkhorn)
it equals e:Rres, ż_i = Σ_j P_ij V (z_j − z_i); for sigmoid it does not (the row sums
r_i = Σ_j P_ij ≠ 1 leave the extra drift (r_i − 1) V z_i). The scores are always those of
x = e^{tV} z. The paper's clustering theorems (the glpr cards) are about softmax only. Usage::

    from dynamics.euclidean import EuclideanScenario, simulate_euclidean
    es = EuclideanScenario(n=20, d=2, value="identity", T=12, dt=0.01)
    res = simulate_euclidean(es)          # res.t (K,), res.x, res.z (K, n, d), res.attention (K, n, n)
    res.status, res.message               # a Status: 0 reached T · 2 cancelled · −1 failed (never raises)

With ``rescaled=True`` (the default, as the authors do) the system (general) is integrated and
x = e^{tV} z is derived; with ``rescaled=False`` eq:trans_dyn is integrated and z = e^{−tV} x is
derived (the natural view for V = −I, where x → 0 but z grows).

Scores reach 1e6 and beyond (e^{2t}⟨z_i, A z_j⟩): they are never formed as such. The score matrix
is written c·S̃ with S̃ of order one and log c tracked separately (the spectral abscissa of V is
factored out of e^{tV}); the softmax is max-shifted, and c is capped at e^{690}, beyond which the
softmax is a hard arg-max to double precision anyway. No overflow, no numpy warning. The other
kinds use the same c·S̃: l2 logits c·(2S̃_ij − ‖K ŵ_j‖²) (same scale), Sinkhorn takes the log-kernel
c·S̃ directly (log domain), sigmoid is σ(c·S̃ + b) by ``scipy.special.expit``. (Past the cap the
sigmoid and Sinkhorn weights are those of the capped scale: an approximation only there.)

Analysis helpers for the predicted limit sets (convex hull and its vertices, the hull-nesting LP
distance, distinct limit points, the left top eigenvector ψ₁ of V and the values ψ₁ᵀz_i, Boolean
attention and its two leaders) are at the end of the module. Pure NumPy/SciPy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.linalg import expm
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, QhullError

from . import attention as _attention
from . import limits as _limits

# the run's status and progress types, re-exported (pages import them from here)
from ._integrate import CANCELLED as CANCELLED
from ._integrate import FAILED as FAILED
from ._integrate import INACCURATE as INACCURATE
from ._integrate import RK4, Adaptive, Euler, FunctionField, Outcome, integrate, steps_per_interval
from ._integrate import STOPPED as STOPPED
from ._integrate import SUCCESS as SUCCESS
from ._integrate import Progress as Progress
from ._integrate import Status as Status
from .errors import BudgetError, ScenarioError
from .limits import EuclideanLimits
from .scenario import JsonRecord
from .threads import blas_threads
from .validate import Matrix, Vector
from .validate import boolean as _boolean
from .validate import choice as _choice
from .validate import matrix as _matrix
from .validate import number as _number
from .validate import vector as _vector

INIT_KINDS = ("uniform_box",)
ATTENTION_KINDS = _attention.kinds_for("euclidean")
VALUE_KINDS = ("identity", "minus_identity", "spectrum", "good_triple", "paranormal", "positive")
QK_KINDS = ("identity", "spd", "gaussian")
INTEGRATORS = ("euler", "rk4", "adaptive")
ADAPTIVE_METHODS = ("DOP853", "RK45", "RK23")

#: The 2-D "good triple" value matrix of the paper's figures ([code] borjanG/2023-transformers, §B.3).
GOOD_TRIPLE_V = ((0.64709742, 0.81911926), (0.61210449, 0.63263484))
#: Last diagonal entry of the paranormal example diag(1, …, 1, −0.5) (§B.3).
PARANORMAL_LAST = -0.5
#: log of the largest score scale used; beyond it the softmax is a hard arg-max in float64.
LOG_SCALE_CAP = 690.0

LIMIT_CLUSTER_TOL = 1e-3  # distinct limit points: single-linkage clusters at this distance


@dataclass(frozen=True)
class EuclideanScenario(_attention.KindParameters, JsonRecord):
    """One frozen, validated description of a run of the Euclidean model.

    Tokens: ``x0`` (n×d) or ``n``, ``d``, ``seed`` and ``init`` = "uniform_box" (x_i ~ U[−w, w]^d,
    w = ``half_width``). Weights: explicit ``Q``, ``K``, ``V`` (d×d; a number when d = 1), else
    built: V from ``value`` ("identity" | "minus_identity" | "spectrum" (diag ``v_eigs``) |
    "good_triple" (the paper's 2-D example) | "paranormal" (diag(1, …, 1, −0.5)) | "positive"
    (entries U(0, 1), seeded: Perron–Frobenius gives a simple positive top eigenvalue)); Q, K from
    ``qk`` ("identity" | "spd": Q = I, K = CCᵀ + 0.1 I with C ~ U[−1, 1] | "gaussian": Q, K with
    N(0, 1/d) entries). Solver: ``T``, ``integrator`` ("euler" | "rk4" | "adaptive" = scipy
    ``method`` with ``rtol``/``atol``), step ``dt``, ``frames`` saved times, ``rescaled``.
    Attention: ``attention`` ("softmax" | "l2" | "sinkhorn" | "sigmoid", see the module docstring)
    with ``sinkhorn_tol``, ``sinkhorn_iters`` (Sinkhorn) and ``sigmoid_bias`` (sigmoid); all at
    their defaults they are left out of the minimal JSON. Invalid values raise
    :class:`ScenarioError` with a one-line reason.
    """

    n: int = 20
    d: int = 2
    seed: int = 0
    x0: Matrix | None = None
    init: Literal["uniform_box"] = "uniform_box"
    half_width: float = 1.0
    Q: Matrix | None = None
    K: Matrix | None = None
    V: Matrix | None = None
    value: Literal["identity", "minus_identity", "spectrum", "good_triple", "paranormal", "positive"] = (
        "identity"
    )
    v_eigs: Vector | None = None
    qk: Literal["identity", "spd", "gaussian"] = "identity"
    T: float = 10.0
    integrator: Literal["euler", "rk4", "adaptive"] = "rk4"
    dt: float = 0.01
    method: Literal["DOP853", "RK45", "RK23"] = "DOP853"
    rtol: float = 1e-8
    atol: float = 1e-10
    frames: int = 101
    rescaled: bool = True
    attention: str = "softmax"  # a kind of dynamics.attention.kinds_for("euclidean")
    # the kinds' parameters (sinkhorn_tol, sinkhorn_iters, sigmoid_bias, …): attention.KindParameters

    MODEL: ClassVar[str] = "euclidean"

    def __post_init__(self) -> None:
        s = object.__setattr__
        if self.x0 is not None:
            x0 = self.x0
            if (
                isinstance(x0, list | tuple)
                and x0
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in x0)
            ):
                x0 = [[float(v)] for v in x0]  # d = 1 given as a flat list
            x0 = _matrix(x0, "x0")
            s(self, "x0", x0)
            s(self, "n", len(x0))
            s(self, "d", len(x0[0]))
        s(self, "d", _number(self.d, "d", 1, 4096, integer=True))
        s(self, "n", _number(self.n, "n", 1, 1_000_000, integer=True))
        d = self.d
        s(self, "seed", _number(self.seed, "seed", 0, 2**32 - 1, integer=True))
        s(self, "init", _choice(self.init, "init", INIT_KINDS))
        s(self, "half_width", _number(self.half_width, "half_width", 1e-6, 1e3))
        for name in ("Q", "K", "V"):
            m = getattr(self, name)
            if m is None:
                continue
            if d == 1 and isinstance(m, int | float) and not isinstance(m, bool):
                m = [[float(m)]]
            s(self, name, _matrix(m, name, (d, d)))
        s(self, "value", _choice(self.value, "value", VALUE_KINDS))
        if self.v_eigs is not None:
            s(self, "v_eigs", _vector(self.v_eigs, "v_eigs", d))
        if self.V is None:
            if self.value == "spectrum" and self.v_eigs is None:
                raise ScenarioError("v_eigs: value='spectrum' needs the d eigenvalues of V")
            if self.value == "good_triple" and d != 2:
                raise ScenarioError(f"value: 'good_triple' is the paper's 2-D example; needs d = 2, got {d}")
            if self.value == "paranormal" and d < 2:
                raise ScenarioError("value: 'paranormal' = diag(1, …, 1, −0.5) needs d ≥ 2")
        s(self, "qk", _choice(self.qk, "qk", QK_KINDS))
        s(self, "T", _number(self.T, "T", 0.0, 1e4))
        s(self, "integrator", _choice(self.integrator, "integrator", INTEGRATORS))
        s(self, "dt", _number(self.dt, "dt", 1e-5, 10.0))
        s(self, "method", _choice(self.method, "method", ADAPTIVE_METHODS))
        s(self, "rtol", _number(self.rtol, "rtol", 1e-13, 1e-1))
        s(self, "atol", _number(self.atol, "atol", 1e-15, 1e-1))
        s(self, "frames", _number(self.frames, "frames", 2, 100_000, integer=True))
        s(self, "rescaled", _boolean(self.rescaled, "rescaled"))
        s(self, "attention", _choice(self.attention, "attention", ATTENTION_KINDS))
        for p in _attention.all_params():  # every kind's parameters, with the registry's bounds
            s(self, p.name, _number(getattr(self, p.name), p.name, p.lo, p.hi, integer=p.integer))

    # ------------------------------------------------------------------ derived
    def _rng(self, tag: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, tag])

    def initial_tokens(self) -> np.ndarray:
        """x(0) as an (n, d) float array."""
        if self.x0 is not None:
            return np.array(self.x0, dtype=float)
        w = self.half_width
        return self._rng(0).uniform(-w, w, size=(self.n, self.d))

    def value_matrix(self) -> np.ndarray:
        if self.V is not None:
            return np.array(self.V, dtype=float)
        d = self.d
        kind = self.value
        if kind == "identity":
            return np.eye(d)
        if kind == "minus_identity":
            return -np.eye(d)
        if kind == "spectrum":
            return np.diag(np.array(self.v_eigs, dtype=float))
        if kind == "good_triple":
            return np.array(GOOD_TRIPLE_V)
        if kind == "paranormal":
            return np.diag([1.0] * (d - 1) + [PARANORMAL_LAST])
        return self._rng(1).uniform(0.0, 1.0, size=(d, d))  # positive

    def query_key(self) -> tuple[np.ndarray, np.ndarray]:
        """(Q, K) as arrays."""
        d = self.d
        if self.Q is not None or self.K is not None:
            Q = np.eye(d) if self.Q is None else np.array(self.Q, dtype=float)
            K = np.eye(d) if self.K is None else np.array(self.K, dtype=float)
            return Q, K
        if self.qk == "identity":
            return np.eye(d), np.eye(d)
        rng = self._rng(2)
        if self.qk == "spd":
            C = rng.uniform(-1.0, 1.0, size=(d, d))
            return np.eye(d), C @ C.T + 0.1 * np.eye(d)
        return rng.normal(0, 1 / math.sqrt(d), (d, d)), rng.normal(0, 1 / math.sqrt(d), (d, d))

    def matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Q, K, V) as arrays."""
        Q, K = self.query_key()
        return Q, K, self.value_matrix()

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EuclideanScenario:
        """Build from a JSON-like mapping; unknown keys are refused. ``model`` may be "euclidean"."""
        if not isinstance(data, Mapping):
            raise ScenarioError("scenario: expected a JSON object of key: value pairs")
        data = dict(data)
        model = data.pop("model", cls.MODEL)
        if model != cls.MODEL:
            raise ScenarioError(f"model: expected {cls.MODEL!r}, got {model!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(data) - names))
        if unknown:
            raise ScenarioError(f"unknown scenario key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self, *, minimal: bool = False) -> dict[str, Any]:
        """A JSON-safe dict (with ``"model": "euclidean"``); ``minimal``: only non-default fields."""
        out: dict[str, Any] = {"model": self.MODEL}
        for f in fields(self):
            v = getattr(self, f.name)
            if minimal and v == f.default:
                continue
            if minimal and f.name in ("n", "d") and self.x0 is not None:
                continue  # implied by x0
            if isinstance(v, tuple):
                v = [list(r) if isinstance(r, tuple) else r for r in v]
            out[f.name] = v
        return out


# ====================================================================== the field
def spectral_abscissa(V: np.ndarray) -> float:
    """max Re λ(V)."""
    return float(np.linalg.eigvals(V).real.max())


class EuclideanField:
    """The right-hand side of the rescaled equation (``rescaled``) or eq:trans_dyn, and P.

    ``attention(t, Y)`` returns P for the state Y (z if rescaled, else x); ``__call__(t, Y)`` the
    velocity: ż_i = Σ_j P_ij V z_j − V z_i (rescaled; e:Rres for row-stochastic P) or
    ẋ_i = Σ_j P_ij V x_j. e^{tV} = e^{ρt}·E(t), E(t) = expm(t(V − ρI)), ρ the spectral abscissa
    of V, so that E stays of moderate size; the score matrix is c·S̃ with S̃ = Ŷ A Ŷᵀ, Ŷ the rows
    of Y E(t)ᵀ divided by their largest entry m, and log c = 2ρt + 2 log m. Sinkhorn: the last
    evaluation's iterations / marginal error and the worst error are kept
    (``sinkhorn_iterations``, ``sinkhorn_error``, ``sinkhorn_max_error``, ``sinkhorn_capped``).
    """

    def __init__(self, es: EuclideanScenario) -> None:
        Q, K, V = es.matrices()
        self.A = Q.T @ K
        self.K = K
        self.kind = _attention.make(es.attention, n=es.n, params=_attention.kind_params(es))
        self.V = V
        self.VT = V.T.copy()
        self.d = es.d
        self.rescaled = es.rescaled
        self.rho = spectral_abscissa(V) if es.rescaled else 0.0
        self.shifted = V - self.rho * np.eye(es.d)
        self.evaluations = 0
        self._cache: dict[float, np.ndarray] = {}

    def propagator(self, t: float) -> np.ndarray:
        """E(t) = expm(t(V − ρI)) (cached by t: RK4 stages repeat times)."""
        E = self._cache.get(t)
        if E is None:
            if len(self._cache) > 8:
                self._cache.clear()
            if self.d == 1:
                E = np.array([[math.exp(max(min(t * self.shifted[0, 0], 700.0), -745.0))]])
            else:
                with np.errstate(all="ignore"):
                    E = expm(t * self.shifted)
            self._cache[t] = E
        return E

    def attention(self, t: float, Y: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            if self.rescaled:
                W = Y @ self.propagator(t).T
                log_c = 2.0 * self.rho * t
            else:
                W = Y
                log_c = 0.0
            m = float(np.abs(W).max()) if W.size else 0.0
            if not math.isfinite(m):
                return np.full((Y.shape[0], Y.shape[0]), np.nan)
            if m == 0.0:  # all tokens at 0: every score is 0
                W = np.zeros_like(W)
                log_c = 0.0
            else:
                W = W / m
                log_c += 2.0 * math.log(m)
            # the kind's logits are linear in (scores, key norms): form them at scale 1, shift
            # row-normalised kinds by the row maximum (a row constant), then scale by c
            key_sq = None
            if self.kind.key_norms:
                WK = W @ self.K.T
                key_sq = np.einsum("jk,jk->j", WK, WK)
            L = self.kind.logits(W @ self.A @ W.T, key_sq)
            if self.kind.shift_invariant:
                L -= L.max(axis=1, keepdims=True)
            L *= math.exp(min(log_c, LOG_SCALE_CAP))
            return self.kind.weights(L)

    def report(self) -> dict:
        """The attention kind's statistics (Sinkhorn iterations and marginal errors), or {}."""
        return self.kind.report()

    @property
    def sinkhorn_iterations(self) -> int:
        return self.report().get("sinkhorn_iterations", 0)

    @property
    def sinkhorn_error(self) -> float:
        return self.report().get("sinkhorn_error", math.nan)

    @property
    def sinkhorn_max_error(self) -> float:
        return self.report().get("sinkhorn_max_error", 0.0)

    @property
    def sinkhorn_capped(self) -> int:
        return self.report().get("sinkhorn_capped", 0)

    def velocity(self, t: float, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            if self.rescaled:  # Σ_j P_ij V z_j − V z_i, for any P (row sums need not be 1)
                return (P @ Y - Y) @ self.VT
            return P @ Y @ self.VT

    def __call__(self, t: float, Y: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        return self.velocity(t, Y, self.attention(t, Y))


def attention_matrix(es: EuclideanScenario, t: float, z: np.ndarray) -> np.ndarray:
    """The attention matrix P(t) of the rescaled tokens z at time t (any ``es.rescaled``)."""
    fld = EuclideanField(es.replace(rescaled=True))
    return fld.attention(float(t), np.asarray(z, dtype=float))


def z_velocity(es: EuclideanScenario, t: float, z: np.ndarray) -> np.ndarray:
    """ż of the rescaled system e:Rres at (t, z)."""
    fld = EuclideanField(es.replace(rescaled=True))
    return fld(float(t), np.asarray(z, dtype=float))


# ====================================================================== simulate
@dataclass(frozen=True)
class EuclideanResult(Outcome):
    """What ``simulate_euclidean`` returns; arrays are read-only.

    ``x`` may hold ±inf/NaN at late frames when e^{tV} exceeds the float range (then only z is
    meaningful there; the message says so); ``attention`` is None when K·n² is too large to keep.
    """

    t: np.ndarray
    x: np.ndarray
    z: np.ndarray
    status: int
    message: str
    scenario: EuclideanScenario
    attention: np.ndarray | None = None
    steps: int = 0
    evaluations: int = 0
    step_size: float = 0.0
    wall_time: float = 0.0
    max_deviation: float | None = None  # the Euclidean model has no invariant manifold

    @property
    def z_final(self) -> np.ndarray:
        return self.z[-1]


def fixed_steps(es: EuclideanScenario) -> tuple[int, float]:
    """(steps per frame interval, step): equal steps ≤ dt landing on every saved time."""
    span = es.T / (es.frames - 1)
    per = steps_per_interval(span, es.dt)
    return per, (span / per if per else 0.0)


def _evaluation_work(es: EuclideanScenario) -> float:
    n, d = es.n, es.d
    per_eval = 2.0 * n * n * d + 2.0 * n * d * d + 8.0 * n * n + 30.0 * d**3
    per_eval += _attention.kind(es.attention).extra_work(n, _attention.kind_params(es))  # worst case
    return per_eval


def check_limits(es: EuclideanScenario, limits: EuclideanLimits | None = None) -> float:
    """Raise BudgetError if the run exceeds ``limits`` (sizes, steps, work, memory); return its
    estimated work (flops)."""
    lim = limits or EuclideanLimits()
    _limits.check_sizes(
        (("n", es.n, lim.max_n), ("d", es.d, lim.max_d), ("frames", es.frames, lim.max_frames)),
        "the Euclidean model's",
    )
    if es.integrator == "adaptive":
        evals = 12 * es.T / max(es.dt, 1e-3) + 50
    else:
        per, _ = fixed_steps(es)
        steps = per * (es.frames - 1)
        if steps > lim.max_steps:
            raise BudgetError(
                f"dt: T/dt = {steps} steps exceeds the limit of {lim.max_steps}; increase dt or decrease T"
            )
        evals = steps * (4 if es.integrator == "rk4" else 1)
    n, d, K = es.n, es.d, es.frames
    work = evals * _evaluation_work(es)
    _limits.check_work(work, 40.0 * d**3 + 10.0 * n * d, lim.max_work, "reduce n, d or T, or increase dt")
    kept = K * n * n if K * n * n <= lim.attention_entries else 0  # P at every saved frame
    memory = 8.0 * (3 * K * n * d + kept + 8 * n * n + 8 * n * d)
    _limits.check_memory(memory, lim.max_memory, "save fewer frames or reduce n")
    return work


def simulate_euclidean(
    es: EuclideanScenario, progress: Progress | None = None, *, limits: EuclideanLimits | None = None
) -> EuclideanResult:
    """Integrate the Euclidean model from 0 to T; return x, z = e^{−tV}x and P at the saved times.

    Raises ScenarioError/BudgetError before running for anything refused; a blow-up during the
    run is reported in ``status``/``message`` (FAILED), never raised. ``progress(fraction)`` is
    called after every saved time; returning False cancels (status CANCELLED). The model has no
    invariant manifold: ``max_deviation`` is None.
    """
    lim = limits or EuclideanLimits()
    check_limits(es, lim)
    per_evaluation = _evaluation_work(es)
    with blas_threads(per_evaluation):
        return _simulate(es, progress, lim, per_evaluation)


def _solver(es: EuclideanScenario) -> Euler | RK4 | Adaptive:
    if es.integrator == "adaptive":
        return Adaptive(es.method, es.rtol, es.atol, first_step=es.dt)
    return RK4(es.dt) if es.integrator == "rk4" else Euler(es.dt)


def _simulate(
    es: EuclideanScenario, progress, lim: EuclideanLimits, per_evaluation: float
) -> EuclideanResult:
    fld = EuclideanField(es)
    Y = es.initial_tokens()  # z(0) = x(0)
    t_frames = np.linspace(0.0, es.T, es.frames)
    t_frames[-1] = es.T
    start = time.perf_counter()
    counted = FunctionField(fld)
    sol = integrate(
        counted,
        Y,
        t_frames,
        _solver(es),
        progress=progress,
        max_evaluations=_limits.evaluation_cap(lim.max_work, per_evaluation),
        failure_hint="" if es.rescaled else " (the unrescaled x grows like e^{tV}; try rescaled=True)",
    )
    status, message = sol.status, sol.message
    if status == FAILED and "non-finite" in message:
        message = f"blow-up: {message}"
    t = np.array(sol.t, dtype=float)
    with np.errstate(all="ignore"):
        x, z, note = _both_views(es, fld, t, np.asarray(sol.y))
    if note and status == SUCCESS:
        message = f"{message}; {note}"
    if fld.sinkhorn_capped:
        message = (
            f"{message}; Sinkhorn reached its cap of {es.sinkhorn_iters} iterations with a marginal "
            f"error up to {fld.sinkhorn_max_error:.2g} (> sinkhorn_tol = {es.sinkhorn_tol:g})"
        )
    keep = len(t) * es.n * es.n <= lim.attention_entries
    att = None
    if keep:
        zf = EuclideanField(es.replace(rescaled=True))
        att = np.stack([zf.attention(float(tk), zk) for tk, zk in zip(t, z, strict=True)])
        if not es.rescaled:  # P is a function of x; from x it is exact where z underflowed
            xf = EuclideanField(es)
            for k in range(len(t)):
                if np.all(np.isfinite(x[k])):
                    att[k] = xf.attention(float(t[k]), x[k])
    for arr in (t, x, z, att):
        if arr is not None:
            arr.setflags(write=False)
    h = fixed_steps(es)[1] if es.integrator != "adaptive" else sol.step_size
    return EuclideanResult(
        t=t,
        x=x,
        z=z,
        status=status,
        message=message,
        scenario=es,
        attention=att,
        steps=sol.steps,
        evaluations=fld.evaluations,
        step_size=h,
        wall_time=time.perf_counter() - start,
    )


def _both_views(es: EuclideanScenario, fld: EuclideanField, t: np.ndarray, ys: np.ndarray):
    """(x, z) from the integrated states, and a note when one view left the float range."""
    x = np.empty_like(ys)
    z = np.empty_like(ys)
    V = fld.V
    for k, tk in enumerate(t):
        if es.rescaled:
            z[k] = ys[k]
            x[k] = ys[k] @ _expm_full(V, float(tk)).T
        else:
            x[k] = ys[k]
            z[k] = ys[k] @ _expm_full(V, -float(tk)).T
    bad = [k for k in range(len(t)) if not np.all(np.isfinite(x[k] if es.rescaled else z[k]))]
    note = ""
    if bad:
        what = "x = e^{tV}z" if es.rescaled else "z = e^{−tV}x"
        note = f"{what} leaves the float range from t = {t[bad[0]]:.4g} on (NaN there)"
        for k in bad:
            (x if es.rescaled else z)[k] = np.nan
    return x, z, note


def _expm_full(V: np.ndarray, t: float) -> np.ndarray:
    """e^{tV} (±inf entries past the float range, no warning)."""
    with np.errstate(all="ignore"):
        if V.shape[0] == 1:
            return np.exp(t * V)
        return expm(t * V)


# ====================================================================== analysis
def distinct_points(points: np.ndarray, tol: float = LIMIT_CLUSTER_TOL) -> tuple[np.ndarray, np.ndarray]:
    """(centres (m, d), labels (n,)): single-linkage clusters of the rows at distance ``tol``.

    Labels are 0 … m−1 in order of first appearance; centres are cluster means.
    """
    p = np.asarray(points, dtype=float)
    if p.ndim == 1:
        p = p[:, None]
    n = len(p)
    if n == 1:
        return p.copy(), np.zeros(1, dtype=int)
    raw = fcluster(linkage(p, method="single"), t=tol, criterion="distance")
    _, first, labels = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # relabel by first appearance
    labels = order[labels]
    centres = np.array([p[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
    return centres, labels


@dataclass(frozen=True)
class Hull:
    """Convex hull of points in ℝ^d, possibly degenerate (affine dimension ``dim`` < d).

    ``vertices``: indices of the extreme points (counter-clockwise in 2-D when ``dim`` = 2 = d);
    ``simplices``: facets (index tuples) when ``dim`` = d ≥ 2, for drawing.
    """

    points: np.ndarray
    dim: int
    vertices: np.ndarray
    simplices: np.ndarray | None
    origin: np.ndarray
    basis: np.ndarray  # (dim, d) orthonormal rows spanning the affine hull
    equations: np.ndarray | None  # facets in the basis coordinates: a·y + b ≤ 0 inside, ‖a‖ = 1

    def boundary_distance(self, q: np.ndarray) -> np.ndarray:
        """Signed distance of each row of q to the relative boundary: ≤ 0 inside, 0 on it.

        Points off the affine hull (beyond rounding) count as outside by their distance to it.
        """
        q = np.atleast_2d(np.asarray(q, dtype=float))
        rel = q - self.origin
        y = rel @ self.basis.T
        off = np.linalg.norm(rel - y @ self.basis, axis=1)
        if self.dim == 0:
            return np.linalg.norm(rel, axis=1)
        if self.dim == 1:
            vals = self.points @ self.basis[0] - self.origin @ self.basis[0]
            lo, hi = vals.min(), vals.max()
            inside = np.maximum(lo - y[:, 0], y[:, 0] - hi)
        else:
            inside = (y @ self.equations[:, :-1].T + self.equations[:, -1]).max(axis=1)
        flat = 1e-12 * max(1.0, float(np.abs(self.points).max()))  # rounding off the affine hull
        return np.where(off > flat, np.maximum(off, np.maximum(inside, 0.0)), inside)


def convex_hull(points: np.ndarray, tol: float = 1e-10) -> Hull:
    """The convex hull of the rows, degenerate cases included (a point, a segment, a flat polygon)."""
    p = np.asarray(points, dtype=float)
    if p.ndim == 1:
        p = p[:, None]
    n, d = p.shape
    origin = p.mean(axis=0)
    rel = p - origin
    scale = max(1.0, float(np.abs(p).max()))
    _, sv, vt = np.linalg.svd(rel, full_matrices=False)
    dim = int(np.sum(sv > tol * scale * math.sqrt(n)))
    basis = vt[:dim]
    y = rel @ basis.T
    if dim == 0:
        return Hull(p, 0, np.array([0]), None, origin, basis, None)
    if dim == 1:
        v = np.unique([int(np.argmin(y[:, 0])), int(np.argmax(y[:, 0]))])
        return Hull(p, 1, v, None, origin, basis, None)
    try:
        qh = ConvexHull(y)
    except QhullError:  # nearly flat beyond the tolerance: joggle
        qh = ConvexHull(y, qhull_options="QJ")
    simplices = qh.simplices if dim == d else None
    return Hull(p, dim, qh.vertices.copy(), simplices, origin, basis, qh.equations.copy())


def hull_lp_distance(points: np.ndarray, hull_points: np.ndarray) -> np.ndarray:
    """∞-norm distance of each row of ``points`` to conv(rows of ``hull_points``), by linear programs.

    min s s.t. −s ≤ p − Yᵀλ ≤ s, λ ≥ 0, Σλ = 1 (HiGHS). 0 for points of the hull.
    """
    p = np.atleast_2d(np.asarray(points, dtype=float))
    Y = np.atleast_2d(np.asarray(hull_points, dtype=float))
    m, d = Y.shape
    c = np.zeros(m + 1)
    c[-1] = 1.0
    ones = np.ones((d, 1))
    A_ub = np.block([[-Y.T, -ones], [Y.T, -ones]])
    A_eq = np.concatenate([np.ones(m), [0.0]])[None]
    bounds = [(0, None)] * m + [(0, None)]
    out = np.empty(len(p))
    for i, q in enumerate(p):
        res = linprog(
            c, A_ub=A_ub, b_ub=np.concatenate([-q, q]), A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs"
        )
        out[i] = float(res.fun) if res.status == 0 else math.inf
    return out


def hull_excess(points: np.ndarray, hull_points: np.ndarray) -> np.ndarray:
    """How far each row of ``points`` lies outside conv(``hull_points``): 0 inside (fast, Qhull)."""
    return np.maximum(convex_hull(hull_points).boundary_distance(points), 0.0)


@dataclass(frozen=True)
class TopEigen:
    """The eigenvalue of V of largest modulus, its right/left eigenvectors (ψᵀφ = 1), and the gap."""

    value: complex
    phi: np.ndarray
    psi: np.ndarray
    modulus_gap: float  # |λ₁| − |λ₂| (inf for d = 1)
    eigenvalues: np.ndarray  # by decreasing modulus

    @property
    def real(self) -> bool:
        return abs(self.value.imag) <= 1e-12 * max(1.0, abs(self.value))


def top_eigen(V: np.ndarray) -> TopEigen:
    """λ₁ of largest modulus of V with φ₁ (right, unit) and ψ₁ (left, ψ₁ᵀφ₁ = 1)."""
    V = np.asarray(V, dtype=float)
    w, R = np.linalg.eig(V)
    order = np.argsort(-np.abs(w), kind="stable")
    w, R = w[order], R[:, order]
    lam = complex(w[0])
    phi = R[:, 0]
    wl, L = np.linalg.eig(V.T)
    j = int(np.argmin(np.abs(wl - lam)))
    psi = L[:, j]
    if abs(lam.imag) <= 1e-12 * max(1.0, abs(lam)):
        phi, psi = phi.real, psi.real
        phi = phi / np.linalg.norm(phi)
        if phi[np.argmax(np.abs(phi))] < 0:
            phi = -phi
    denom = psi @ phi
    psi = psi / denom if abs(denom) > 1e-300 else psi
    gap = float(abs(w[0]) - abs(w[1])) if len(w) > 1 else math.inf
    return TopEigen(lam, phi, psi, gap, w)


def hyperplane_values(z: np.ndarray, psi: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values of ψᵀz_i (sorted), labels): 1-D clusters at distance ``tol``."""
    c = np.asarray(z, dtype=float) @ np.asarray(psi, dtype=float)
    centres, labels = distinct_points(c[:, None], tol)
    order = np.argsort(centres[:, 0])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return centres[order, 0], rank[labels]


def leaders(x: np.ndarray) -> tuple[int, int]:
    """(argmin, argmax) of 1-D tokens: the two tokens every attention row ends up on."""
    v = np.asarray(x, dtype=float).reshape(len(x), -1)[:, 0]
    return int(np.argmin(v)), int(np.argmax(v))


def boolean_defect(P: np.ndarray) -> float:
    """max_ij |P_ij − round(P_ij)|."""
    P = np.asarray(P, dtype=float)
    return float(np.abs(P - np.round(P)).max())


def row_leader_defects(P: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per row: min(‖P_i − e_lo‖_∞, ‖P_i − e_hi‖_∞)."""
    P = np.asarray(P, dtype=float)
    n = P.shape[1]
    e_lo, e_hi = np.eye(n)[lo], np.eye(n)[hi]
    return np.minimum(np.abs(P - e_lo).max(axis=1), np.abs(P - e_hi).max(axis=1))


def numerical_rank(P: np.ndarray, tol: float = 1e-6) -> int:
    """Number of singular values above ``tol``·σ_max."""
    s = np.linalg.svd(np.asarray(P, dtype=float), compute_uv=False)
    return int(np.sum(s > tol * s[0])) if s.size and s[0] > 0 else 0


def min_pairwise_distance(x: np.ndarray) -> float:
    """min_{i<j} ‖x_i − x_j‖ (inf for one token)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return math.inf
    from scipy.spatial.distance import pdist

    return float(pdist(x).min())


__all__ = [
    "ATTENTION_KINDS",
    "GOOD_TRIPLE_V",
    "LIMIT_CLUSTER_TOL",
    "EuclideanField",
    "EuclideanLimits",
    "EuclideanResult",
    "EuclideanScenario",
    "Hull",
    "TopEigen",
    "attention_matrix",
    "boolean_defect",
    "check_limits",
    "convex_hull",
    "distinct_points",
    "hull_excess",
    "hull_lp_distance",
    "hyperplane_values",
    "leaders",
    "min_pairwise_distance",
    "numerical_rank",
    "row_leader_defects",
    "simulate_euclidean",
    "spectral_abscissa",
    "top_eigen",
    "z_velocity",
]
