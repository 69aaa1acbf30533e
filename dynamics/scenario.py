"""The scenario: one frozen, validated description of a simulation.

It is the single source of truth for the Python API, the JSON files of the CLI, the URL query
parameters of the app, the presets and the cache key. Every field is a plain, hashable value
(numbers, strings, tuples), so a scenario can be compared, hashed and serialised without pickling.

Public JSON keys (a contract: keys are added, never renamed)::

    x0 | n, d, seed         explicit n×d tokens, or the size and seed of generated ones
    heads                   [{"Q": M, "K": M, "V": M}, ...]; M a d×d matrix or
                            {"const": M0, "sin": M1, "omega": w, "phase": p} = M0 + M1 sin(w t + p);
                            Q and K may also be r×d (the same r ≤ d: a head of rank r, as in a
                            real layer), and V a constant product {"left": L, "right": R} of a
                            d×r and an r×d factor (a real head's W_O,h W_V,h)
    attention               a kind of the registry dynamics.attention.KINDS: "softmax" | "unnormalized" |
                            "l2" | "sinkhorn" | "sigmoid"
    beta, mask              inverse temperature; "none" | "causal"
    space, P                "sphere" | "ellipsoid" with P the SPD matrix of {x : xᵀPx = 1}
    T, integrator, dt       horizon; "euler" | "rk4" | "adaptive"; step
    rtol, atol, method      tolerances and scipy method of the adaptive integrator
    frames, dtype           number of saved times (0 … T, evenly spaced); "float64" | "float32"
    sinkhorn_tol            Sinkhorn attention: stop when the max marginal error is ≤ this (1e-9)
    sinkhorn_iters          Sinkhorn attention: iteration cap per evaluation and head (200)
    sigmoid_bias            sigmoid attention: the bias b of σ(β⟨x, Ay⟩ + b) (0)

Generated weights (used when ``heads`` is absent): ``n_heads`` heads, each with value matrix from
``value`` ("identity" | "spectrum" | "gaussian"; ``v_eigs``, ``v_basis``, ``v_symmetric``) and
key–query product QᵀK from ``qk`` ("identity" | "spd" | "gaussian"; ``qk_eigs``), optionally
time-varying with amplitude ``qk_amp`` and frequency ``qk_omega``. Generated tokens: ``init``
("uniform" | "hemisphere" | "cap" | "antipodal" | "great_circle") with ``pole``, ``margin`` and
``cap_angle``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np

from . import attention
from .errors import ScenarioError
from .validate import Matrix, Vector, load_json
from .validate import boolean as _boolean
from .validate import choice as _choice
from .validate import matrix as _matrix
from .validate import number as _number
from .validate import vector as _vector

INIT_KINDS = ("uniform", "hemisphere", "cap", "antipodal", "great_circle")
VALUE_KINDS = ("identity", "spectrum", "gaussian")
QK_KINDS = ("identity", "spd", "gaussian")
ATTENTION_KINDS = attention.kinds_for("sphere")
MASKS = ("none", "causal")
SPACES = ("sphere", "ellipsoid")
INTEGRATORS = ("euler", "rk4", "adaptive")
ADAPTIVE_METHODS = ("RK45", "DOP853", "RK23")
DTYPES = ("float64", "float32")
BASES = ("identity", "random")

# Hard bounds on single values: a scenario outside them is nonsense, not merely expensive.
# (Expense is judged by dynamics.limits.Limits, which callers may tighten.)
_MAX_BETA = 1e4
_MAX_T = 1e5


def _spectral_bound(m: np.ndarray) -> float:
    """‖m‖₂ (exact up to d = 128), else the upper bound √(‖m‖₁‖m‖∞)."""
    if m.shape[0] <= 128:
        return float(np.linalg.norm(m, 2))
    return float(np.sqrt(np.abs(m).sum(axis=0).max() * np.abs(m).sum(axis=1).max()))


def _ellipsoid(value: Any, d: int) -> Matrix:
    """The SPD matrix P of {x : xᵀPx = 1}: symmetric, positive definite, condition number ≤ 1e8."""
    P = _matrix(value, "P", (d, d))
    arr = np.array(P)
    if not np.allclose(arr, arr.T, rtol=0, atol=1e-12 * max(1.0, np.abs(arr).max())):
        raise ScenarioError("P: the ellipsoid matrix must be symmetric")
    eig = np.linalg.eigvalsh(arr)
    if eig[0] <= 0:
        raise ScenarioError(
            f"P: the ellipsoid matrix must be positive definite (smallest eigenvalue {eig[0]:.3g})"
        )
    if eig[-1] / eig[0] > 1e8:
        raise ScenarioError(f"P: too ill-conditioned (condition number {eig[-1] / eig[0]:.3g} > 1e8)")
    return P


def low_rank_pays(r: int, d: int) -> bool:
    """A product with rank-r factors costs 4·n·d·r flops against 2·n·d² dense: cheaper when 2r < d."""
    return 2 * r < d


def _shape(m: Any) -> tuple[int, int]:
    """(rows, columns) of a matrix kept as tuples or as a numpy array (no conversion)."""
    return len(m), len(m[0])


def _weight(value: Any, name: str, d: int, rows: int | None) -> Matrix:
    """A matrix with d columns and ``rows`` rows (None: any number from 1 to d)."""
    m = _matrix(value, name)
    r, c = _shape(m)
    if c != d or (rows is not None and r != rows) or r > d:
        want = f"a {rows}×{d} matrix" if rows is not None else f"an r×{d} matrix with r ≤ {d}"
        raise ScenarioError(f"{name}: expected {want}, got {r}×{c}")
    return m


@dataclass(frozen=True)
class MatrixSpec:
    """A weight matrix, constant or ``const + sin·sin(omega·t + phase)``: d×d, or r×d (r ≤ d) for
    the query and key maps of a head of rank r."""

    const: Matrix
    sin: Matrix | None = None
    omega: float = 1.0
    phase: float = 0.0

    @property
    def is_constant(self) -> bool:
        return self.sin is None

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        """M0 and M1 as read-only arrays, converted from the tuples once per spec."""
        m0 = np.array(self.const)
        m0.setflags(write=False)
        if self.sin is None:
            return m0, None
        m1 = np.array(self.sin)
        m1.setflags(write=False)
        return m0, m1

    def at(self, t: float) -> np.ndarray:
        """The matrix M(t) = M0 + M1 sin(ω t + φ) (read-only when constant)."""
        m0, m1 = self._arrays
        if m1 is None:
            return m0
        return m0 + math.sin(self.omega * t + self.phase) * m1

    @cached_property
    def _norm_bound(self) -> float:
        return sum(_spectral_bound(m) for m in self._arrays if m is not None)

    def norm_bound(self) -> float:
        """An upper bound of sup_t ‖M(t)‖₂: ‖M0‖₂ + ‖M1‖₂, each exact for d ≤ 128 and bounded by
        √(‖M‖₁‖M‖∞) above (an SVD per matrix would dominate the set-up of large models)."""
        return self._norm_bound

    @property
    def shape(self) -> tuple[int, int]:
        return _shape(self.const)

    @classmethod
    def parse(cls, value: Any, name: str, d: int, rows: int | None = None) -> MatrixSpec:
        """A d×d spec by default; ``rows=0``: r×d with any r ≤ d; ``rows=r``: exactly r×d."""
        rows = d if rows is None else (rows or None)
        if isinstance(value, MatrixSpec):
            value = value.to_json()
        if isinstance(value, Mapping):
            unknown = set(value) - {"const", "sin", "omega", "phase"}
            if unknown:
                raise ScenarioError(f"{name}: unknown keys {sorted(unknown)}")
            if "const" not in value:
                raise ScenarioError(f"{name}: a time-varying matrix needs 'const'")
            const = _weight(value["const"], f"{name}.const", d, rows)
            return cls(
                const=const,
                sin=None if value.get("sin") is None else _weight(value["sin"], f"{name}.sin", d, len(const)),
                omega=_number(value.get("omega", 1.0), f"{name}.omega", -1e3, 1e3),
                phase=_number(value.get("phase", 0.0), f"{name}.phase", -1e3, 1e3),
            )
        return cls(const=_weight(value, name, d, rows))

    def to_json(self) -> Any:
        if self.sin is None:
            return [list(r) for r in self.const]
        return {
            "const": [list(r) for r in self.const],
            "sin": [list(r) for r in self.sin],
            "omega": self.omega,
            "phase": self.phase,
        }


@dataclass(frozen=True)
class LowRankSpec:
    """A constant d×d matrix kept as the product M = left·right of a d×r and an r×d factor (r ≤ d):
    a real head's value map W_O,h W_V,h has rank d_head. JSON ``{"left": L, "right": R}``.

    It reads like a constant :class:`MatrixSpec` (``const`` and ``at(t)`` give the product, formed
    once on first use); the field multiplies by the factors instead when that is cheaper.
    """

    left: Matrix
    right: Matrix
    sin: ClassVar[None] = None
    omega: ClassVar[float] = 1.0
    phase: ClassVar[float] = 0.0
    is_constant: ClassVar[bool] = True

    @property
    def rank(self) -> int:
        """r, the inner dimension of the factors."""
        return len(self.right)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.left), len(self.right[0])

    @cached_property
    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(L, R) as read-only float64 arrays."""
        out = []
        for m in (self.left, self.right):
            a = np.array(m, dtype=float)
            a.setflags(write=False)
            out.append(a)
        return out[0], out[1]

    @cached_property
    def const(self) -> np.ndarray:  # type: ignore[override]
        """The product L R (read-only)."""
        L, R = self.factors
        m = L @ R
        m.setflags(write=False)
        return m

    def at(self, t: float) -> np.ndarray:
        """M = L R at every time."""
        return self.const

    @cached_property
    def _norm_bound(self) -> float:
        L, R = self.factors
        return _spectral_bound(L) * _spectral_bound(R)

    def norm_bound(self) -> float:
        """An upper bound of ‖L R‖₂: ‖L‖₂ ‖R‖₂ (each exact when it has ≤ 128 rows, else bounded)."""
        return self._norm_bound

    @classmethod
    def parse(cls, value: Any, name: str, d: int) -> LowRankSpec:
        if isinstance(value, LowRankSpec):
            value = value.to_json()
        unknown = set(value) - {"left", "right"}
        if unknown or "left" not in value or "right" not in value:
            raise ScenarioError(
                f"{name}: a factored matrix is {{'left': d×r, 'right': r×d}}"
                + (f"; unknown keys {sorted(unknown)}" if unknown else "")
            )
        right = _weight(value["right"], f"{name}.right", d, None)
        left = _matrix(value["left"], f"{name}.left")
        if _shape(left) != (d, len(right)):
            rows, cols = _shape(left)
            raise ScenarioError(
                f"{name}.left: expected a {d}×{len(right)} matrix (d × the rows of 'right'), "
                f"got {rows}×{cols}"
            )
        return cls(left=left, right=right)

    def to_json(self) -> dict[str, Any]:
        return {
            "left": [list(map(float, r)) for r in self.left],
            "right": [list(map(float, r)) for r in self.right],
        }


def _value_spec(value: Any, name: str, d: int) -> MatrixSpec | LowRankSpec:
    if isinstance(value, LowRankSpec) or (
        isinstance(value, Mapping) and ("left" in value or "right" in value)
    ):
        return LowRankSpec.parse(value, name, d)
    return MatrixSpec.parse(value, name, d)


@dataclass(frozen=True)
class Head:
    """One attention head: score ⟨Q x, K y⟩ = xᵀ QᵀK y, value map V.

    Q and K are d×d or both r×d (a head of rank r); V is d×d or a :class:`LowRankSpec` L R.
    """

    Q: MatrixSpec
    K: MatrixSpec
    V: MatrixSpec | LowRankSpec

    @classmethod
    def parse(cls, value: Any, name: str, d: int) -> Head:
        if isinstance(value, Head):
            value.check(name, d)
            return value
        if not isinstance(value, Mapping):
            raise ScenarioError(f"{name}: expected an object with keys Q, K, V")
        unknown = set(value) - {"Q", "K", "V"}
        if unknown:
            raise ScenarioError(f"{name}: unknown keys {sorted(unknown)} (allowed: Q, K, V)")
        eye = [[float(i == j) for j in range(d)] for i in range(d)]
        Q = MatrixSpec.parse(value.get("Q", eye), f"{name}.Q", d, rows=0)
        K = MatrixSpec.parse(value.get("K", eye), f"{name}.K", d, rows=Q.shape[0])
        return cls(Q=Q, K=K, V=_value_spec(value.get("V", eye), f"{name}.V", d))

    def check(self, name: str, d: int) -> None:
        """ScenarioError unless Q and K are r×d (the same r ≤ d) and V is d×d (shapes only)."""
        r = self.Q.shape[0]
        for key, spec, want in (("Q", self.Q, (r, d)), ("K", self.K, (r, d)), ("V", self.V, (d, d))):
            size = f"{want[0]}×{want[1]}"
            if spec.shape != want or r > d:
                got = f"{spec.shape[0]}×{spec.shape[1]}"
                raise ScenarioError(f"{name}.{key}: expected a {size} matrix (r ≤ d = {d}), got {got}")
            if spec.sin is not None and _shape(spec.sin) != want:
                raise ScenarioError(f"{name}.{key}.sin: expected the shape of {key}.const, {size}")

    @property
    def d(self) -> int:
        return self.Q.shape[1]

    @property
    def qk_rank(self) -> int | None:
        """r when the field scores this head in factored form, (X Qᵀ)(X Kᵀ)ᵀ: constant r×d Q and K
        with 2r < d (:func:`low_rank_pays`); None when it forms A = QᵀK."""
        r = self.Q.shape[0]
        constant = self.Q.is_constant and self.K.is_constant
        return r if constant and low_rank_pays(r, self.d) else None

    @property
    def v_rank(self) -> int | None:
        """r when the field applies V = L R through its factors, (S (X Rᵀ)) Lᵀ (2r < d); else None."""
        V = self.V
        return V.rank if isinstance(V, LowRankSpec) and low_rank_pays(V.rank, self.d) else None

    def to_json(self) -> dict[str, Any]:
        return {"Q": self.Q.to_json(), "K": self.K.to_json(), "V": self.V.to_json()}


class JsonRecord:
    """Serialisation shared by the frozen scenario dataclasses (each defines to_dict/from_dict)."""

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_json(self, *, indent: int | None = None) -> str:
        """Canonical JSON of the non-default fields (sorted keys)."""
        return json.dumps(self.to_dict(minimal=True), indent=indent, sort_keys=True)  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls, text: str) -> Any:
        return cls.from_dict(load_json(text))  # type: ignore[attr-defined]

    def digest(self) -> str:
        """A short, stable hash of the canonical JSON (for caches and reproducibility stamps)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Scenario(attention.KindParameters, JsonRecord):
    """Everything that determines a simulation. Construct with keywords or ``from_dict``.

    Invalid values raise :class:`~dynamics.errors.ScenarioError` with a one-line reason.
    """

    # tokens
    n: int = 32
    d: int = 3
    seed: int = 0
    x0: Matrix | None = None
    init: Literal["uniform", "hemisphere", "cap", "antipodal", "great_circle"] = "uniform"
    pole: Vector | None = None
    margin: float = 0.1
    cap_angle: float = 0.6
    # weights
    heads: tuple[Head, ...] | None = None
    n_heads: int = 1
    value: Literal["identity", "spectrum", "gaussian"] = "identity"
    v_eigs: Vector | None = None
    v_basis: Literal["identity", "random"] = "identity"
    v_symmetric: bool = True
    qk: Literal["identity", "spd", "gaussian"] = "identity"
    qk_eigs: Vector | None = None
    qk_amp: float = 0.0
    qk_omega: float = 1.0
    # model
    attention: str = "softmax"  # a kind of dynamics.attention.KINDS
    beta: float = 1.0
    mask: Literal["none", "causal"] = "none"
    space: Literal["sphere", "ellipsoid"] = "sphere"
    P: Matrix | None = None
    # solver
    T: float = 10.0
    integrator: Literal["euler", "rk4", "adaptive"] = "rk4"
    dt: float = 0.05
    method: Literal["RK45", "DOP853", "RK23"] = "DOP853"
    rtol: float = 1e-6
    atol: float = 1e-9
    frames: int = 101
    dtype: Literal["float64", "float32"] = "float64"
    # the parameters of the attention kinds (sinkhorn_tol, sinkhorn_iters, sigmoid_bias, …) are the
    # keyword-only fields of the base attention.KindParameters, declared in the registry

    MATRIX_KEYS: ClassVar[tuple[str, ...]] = ("x0", "P")
    VECTOR_KEYS: ClassVar[tuple[str, ...]] = ("pole", "v_eigs", "qk_eigs")

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        self._validate_tokens()
        self._validate_weights()
        self._validate_model()
        self._validate_solver()

    def _validate_tokens(self) -> None:
        s = object.__setattr__
        s(self, "d", _number(self.d, "d", 1, 4096, integer=True))
        if self.x0 is not None:
            x0 = _matrix(self.x0, "x0")
            if len(x0[0]) != self.d:
                # explicit tokens define d and n
                s(self, "d", len(x0[0]))
            s(self, "x0", x0)
            s(self, "n", len(x0))
        s(self, "n", _number(self.n, "n", 1, 1_000_000, integer=True))
        d = self.d
        if d < 2:
            raise ScenarioError("d: the sphere model needs d ≥ 2")
        s(self, "seed", _number(self.seed, "seed", 0, 2**32 - 1, integer=True))
        s(self, "init", _choice(self.init, "init", INIT_KINDS))
        if self.pole is not None:
            pole = _vector(self.pole, "pole", d)
            if max(abs(v) for v in pole) == 0:
                raise ScenarioError("pole: must be a non-zero vector")
            s(self, "pole", pole)
        s(self, "margin", _number(self.margin, "margin", 0.0, 0.999))
        s(self, "cap_angle", _number(self.cap_angle, "cap_angle", 1e-3, math.pi))
        if self.init == "antipodal" and self.x0 is None and self.n % 2:
            raise ScenarioError("init: 'antipodal' needs an even number of tokens n")

    def _validate_weights(self) -> None:
        s, d = object.__setattr__, self.d
        if self.heads is not None:
            heads = self.heads
            if isinstance(heads, Mapping) or not hasattr(heads, "__len__") or len(heads) == 0:
                raise ScenarioError("heads: expected a non-empty list of {Q, K, V} objects")
            s(self, "heads", tuple(Head.parse(h, f"heads[{i}]", d) for i, h in enumerate(heads)))
            s(self, "n_heads", len(self.heads))
        s(self, "n_heads", _number(self.n_heads, "n_heads", 1, 1024, integer=True))
        s(self, "value", _choice(self.value, "value", VALUE_KINDS))
        if self.v_eigs is not None:
            s(self, "v_eigs", _vector(self.v_eigs, "v_eigs", d))
        elif self.value == "spectrum" and self.heads is None:
            raise ScenarioError("v_eigs: value='spectrum' needs the d eigenvalues of V")
        s(self, "v_basis", _choice(self.v_basis, "v_basis", BASES))
        s(self, "v_symmetric", _boolean(self.v_symmetric, "v_symmetric"))
        s(self, "qk", _choice(self.qk, "qk", QK_KINDS))
        if self.qk_eigs is not None:
            eigs = _vector(self.qk_eigs, "qk_eigs", d)
            if min(eigs) <= 0:
                raise ScenarioError("qk_eigs: QᵀK must be positive definite: eigenvalues > 0")
            s(self, "qk_eigs", eigs)
        elif self.qk == "spd" and self.heads is None:
            raise ScenarioError("qk_eigs: qk='spd' needs the d positive eigenvalues of QᵀK")
        s(self, "qk_amp", _number(self.qk_amp, "qk_amp", 0.0, 100.0))
        s(self, "qk_omega", _number(self.qk_omega, "qk_omega", -1e3, 1e3))

    def _validate_model(self) -> None:
        s = object.__setattr__
        s(self, "attention", _choice(self.attention, "attention", ATTENTION_KINDS))
        s(self, "beta", _number(self.beta, "beta", 0.0, _MAX_BETA))
        s(self, "mask", _choice(self.mask, "mask", MASKS))
        s(self, "space", _choice(self.space, "space", SPACES))
        if self.P is not None:
            s(self, "P", _ellipsoid(self.P, self.d))
        if self.space == "ellipsoid" and self.P is None:
            raise ScenarioError("P: space='ellipsoid' needs the SPD matrix P of {x : xᵀPx = 1}")
        if self.space == "sphere" and self.P is not None:
            raise ScenarioError("P: only used with space='ellipsoid'")
        for p in attention.all_params():  # every kind's parameters, with the registry's bounds
            s(self, p.name, _number(getattr(self, p.name), p.name, p.lo, p.hi, integer=p.integer))
        kind = attention.kind(self.attention)
        if self.mask == "causal" and not kind.supports_causal:
            raise ScenarioError(kind.causal_reason)

    def _validate_solver(self) -> None:
        s = object.__setattr__
        s(self, "T", _number(self.T, "T", 0.0, _MAX_T))
        if 0 < self.T < 1e-9:  # subnormal-scale horizons collapse the saved times onto each other
            raise ScenarioError(f"T: must be 0 or at least 1e-9, got {self.T:g}")
        s(self, "integrator", _choice(self.integrator, "integrator", INTEGRATORS))
        s(self, "dt", _number(self.dt, "dt", 1e-6, 10.0))
        s(self, "method", _choice(self.method, "method", ADAPTIVE_METHODS))
        s(self, "rtol", _number(self.rtol, "rtol", 1e-13, 1e-1))
        s(self, "atol", _number(self.atol, "atol", 1e-15, 1e-1))
        s(self, "frames", _number(self.frames, "frames", 2, 100_000, integer=True))
        s(self, "dtype", _choice(self.dtype, "dtype", DTYPES))
        if self.integrator == "adaptive" and self.dtype == "float32" and self.rtol < 1e-6:
            # A float32 field is only accurate to ~1e-7: tighter tolerances make solve_ivp crawl.
            raise ScenarioError("rtol: float32 resolves about 1e-7; use rtol ≥ 1e-6 or dtype float64")

    # ------------------------------------------------------------------ derived
    @property
    def causal(self) -> bool:
        return self.mask == "causal"

    def ellipsoid_matrix(self) -> np.ndarray | None:
        """The SPD matrix P of the ellipsoid, or None on the unit sphere."""
        return None if self.P is None else np.array(self.P)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build from a JSON-like mapping; unknown keys are refused (they are usually typos)."""
        if not isinstance(data, Mapping):
            raise ScenarioError("scenario: expected a JSON object of key: value pairs")
        names = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(data) - names))
        if unknown:
            raise ScenarioError(
                f"unknown scenario key{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))}"
            )
        return cls(**dict(data))

    def to_dict(self, *, minimal: bool = False) -> dict[str, Any]:
        """A JSON-safe dict; with ``minimal`` only the fields that differ from the defaults."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if minimal and v == f.default:
                continue
            if f.name in ("n", "d") and self.x0 is not None and minimal:
                continue  # implied by x0
            if f.name == "n_heads" and self.heads is not None and minimal:
                continue  # implied by heads
            if f.name == "heads" and v is not None:
                v = [h.to_json() for h in v]
            elif isinstance(v, tuple):
                v = [list(r) if isinstance(r, tuple) else r for r in v]
            out[f.name] = v
        return out

    # URL query parameters: scalars as text, vectors comma-separated, matrices and heads as JSON.
    def to_query(self) -> dict[str, str]:
        """Query parameters for the fields that differ from the defaults."""
        out: dict[str, str] = {}
        for key, v in self.to_dict(minimal=True).items():
            if key in self.VECTOR_KEYS:
                out[key] = ",".join(_short(x) for x in v)
            elif key in self.MATRIX_KEYS or key == "heads":
                out[key] = json.dumps(v, separators=(",", ":"))
            elif isinstance(v, bool):
                out[key] = "true" if v else "false"
            elif isinstance(v, float):
                out[key] = _short(v)
            else:
                out[key] = str(v)
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, str], *, ignore_unknown: bool = True) -> Scenario:
        """Parse URL query parameters; other parameters of the app are ignored by default."""
        names = {f.name for f in fields(cls)}
        data: dict[str, Any] = {}
        for key, raw in params.items():
            if key not in names:
                if ignore_unknown:
                    continue
                raise ScenarioError(f"unknown scenario key {key}")
            if isinstance(raw, list | tuple):
                raw = raw[-1] if raw else ""
            raw = str(raw)
            if len(raw) > 200_000:
                raise ScenarioError(f"{key}: value too long")
            if key in cls.VECTOR_KEYS:
                try:
                    data[key] = [float(x) for x in raw.split(",") if x.strip()]
                except ValueError:
                    raise ScenarioError(f"{key}: expected comma-separated numbers") from None
            elif key in cls.MATRIX_KEYS or key == "heads":
                try:
                    data[key] = load_json(raw)
                except ScenarioError as exc:
                    raise ScenarioError(f"{key}: expected a JSON matrix ({exc})") from None
            else:
                data[key] = raw
        return cls.from_dict(data)


def _short(x: float) -> str:
    """Shortest text that reads back as the same float."""
    return repr(float(x)) if float(x) != int(x) or abs(x) >= 1e15 else str(int(x))


# Defaults of the dataclass, for callers that need them (e.g. to know what is omitted in URLs).
DEFAULTS = Scenario()
__all__ = ["DEFAULTS", "Head", "LowRankSpec", "MatrixSpec", "Scenario", "low_rank_pays"]
