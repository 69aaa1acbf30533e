"""The registry of attention kinds: one strategy object per kind, the one place to add a kind.

Every model of the engine reads its list of kinds, each kind's ``supports_causal`` and its
parameters (name, default, bounds) from :data:`KINDS` — the sphere / ellipsoid particle model
(:mod:`dynamics.field`, :mod:`dynamics.scenario`), the Euclidean model (:mod:`dynamics.euclidean`),
the Gaussian mean field (:mod:`dynamics.gaussian`: the kinds with a closed moment ODE) and the
app's controls. A kind turns the *logits* of one head into attention weights α (…, n, n):

    L_ij = β⟨Q x_i, K x_j⟩ = β⟨x_i, A x_j⟩,   A = QᵀK      (β the inverse temperature, no 1/√d)

and the particle model is ẋ_i = Σ_k Π_{x_i}( Σ_{j ∈ N(i)} α^k_ij V_k(t) x_j ), with N(i) = {1 … n}
(no mask) or {1 … i} (causal mask). The kinds:

* ``softmax`` — α_ij = e^{L_ij} / Σ_{l ∈ N(i)} e^{L_il} (SA, Geshkovski et al.);
* ``unnormalized`` — α_ij = e^{L_ij} / n on N(i) (USA: a gradient flow of the interaction energy);
* ``l2`` — L² attention (Kim et al. 2021): α_ij ∝ exp(−β‖Q x_i − K x_j‖²) over N(i). Since
  ‖Qx − Ky‖² = ‖Qx‖² − 2⟨Qx, Ky⟩ + ‖Ky‖² and the ‖Qx_i‖² term cancels in the normalisation, the
  weights are the softmax of 2L_ij − β‖K x_j‖² (shifted by the row maximum: no overflow for any β);
* ``sinkhorn`` — Sinkformers (Sander et al. 2022): (e^{L_ij}) scaled to a doubly stochastic matrix
  by log-domain Sinkhorn iterations (:func:`sinkhorn`, warm-started from the head's potentials of
  the previous evaluation) until the largest marginal error is ≤ ``sinkhorn_tol`` or
  ``sinkhorn_iters`` iterations were made. **No causal mask**: the only
  lower-triangular doubly stochastic matrix is the identity (row 1 is e₁, which fills column 1,
  then row 2 is e₂, …) — every token attending only to itself, a zero field — so such a scenario
  is refused rather than silently redefined;
* ``sigmoid`` — Ramapuram et al. 2024: α_ij = σ(L_ij + b)/n on N(i), b = ``sigmoid_bias``, rows
  **not** normalised (with the mask, still divided by n, as the unnormalized model).

Multi-head attention with output maps Γ(x) = Σ_h W_h (attention_h · V'_h)(x) is the engine's
multi-head model with V_h = W_h V'_h; no separate kind is needed (tests/test_variants.py checks it).

Adding a kind: subclass :class:`AttentionKind` here (name, ``supports_causal``, ``params``,
``models``, ``weights``, and ``extra_work`` if it iterates), register it in :data:`KINDS`, and
add its tests — nothing else. A kind's parameters become keys of the scenarios
(:class:`KindParameters` is a base of ``Scenario`` and ``EuclideanScenario``; existing keys:
``sinkhorn_tol``, ``sinkhorn_iters``, ``sigmoid_bias``), validated against the bounds declared here;
the app's controls list the kinds from here, the budget prices them with ``extra_work``.

:class:`HeadMixer` applies a kind to the heads of a particle model: the weights per head and
the mixed values Σ_k α^k X V_kᵀ, for single systems (n, d) or ensembles (B, n, d), in float64 or
float32 (float32 stays float32). Softmax and unnormalized are also evaluated by the fused
in-place kernel of :class:`dynamics.field.AttentionField` (``fused``), which tests compare with
these strategies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.special import expit, logsumexp

from .errors import ScenarioError

if TYPE_CHECKING:  # scenario.py imports this module (for the registry)
    from .scenario import Head

SINKHORN_CAUSAL_REASON = (
    "mask: causal Sinkhorn attention is refused — a lower-triangular doubly stochastic matrix is "
    "the identity (row 1 must be e₁, which fills column 1, then row 2 is e₂, …), so every token "
    "would attend only to itself; use mask='none' with sinkhorn, or another attention with the mask"
)


@dataclass(frozen=True)
class Param:
    """A numeric parameter of an attention kind: its scenario key, default and allowed range."""

    name: str
    default: float
    lo: float
    hi: float
    integer: bool = False
    help: str = ""


# ------------------------------------------------------------------------------------ Sinkhorn
@dataclass(frozen=True)
class SinkhornInfo:
    iterations: int
    error: float  # max |row sum − 1| (columns are exact to rounding after the last update)
    converged: bool


def sinkhorn(
    L: np.ndarray, tol: float = 1e-9, max_iter: int = 200, v: np.ndarray | None = None
) -> tuple[np.ndarray, SinkhornInfo, np.ndarray]:
    """α_ij = exp(L_ij + u_i + v_j) doubly stochastic, by log-domain Sinkhorn iterations.

    L is (…, n, n). Each iteration: u ← −logsumexp_j(L + v) (rows sum to 1; skipped on the first
    iteration unless ``v`` warm-starts it), v ← −logsumexp_i(L + u) (columns sum to 1); it stops
    when the row sums are within ``tol`` of 1 (max over every row of every system) or after
    ``max_iter`` iterations. Returns (α, info, v); pass v back to warm-start the next call.
    """
    u = np.zeros(L.shape[:-1], dtype=L.dtype)
    if v is not None:
        u = -logsumexp(L + v[..., None, :], axis=-1)
    iterations = 0
    while True:
        iterations += 1
        v = -logsumexp(L + u[..., :, None], axis=-2)
        r = logsumexp(L + v[..., None, :], axis=-1)
        error = float(np.max(np.abs(np.expm1(u + r))))
        if error <= tol or iterations >= max_iter:
            break
        u = -r
    alpha = L + u[..., :, None]
    alpha += v[..., None, :]
    np.exp(alpha, out=alpha)
    return alpha, SinkhornInfo(iterations, error, error <= tol), v


# ------------------------------------------------------------------------------------ kinds
class AttentionKind:
    """Strategy: the weights α of one head from its logits L (…, n, n), for n tokens.

    Class attributes declare the kind: ``name``, ``label`` (for people), ``supports_causal``,
    ``params`` (its scenario keys), ``models`` (where it is implemented: "sphere", "euclidean",
    "gaussian"), ``row_stochastic`` (rows of α sum to 1), ``key_norms`` (the logits need
    β‖K x_j‖², L2), ``fused`` (the particle field's in-place kernel: "rows" or "n").
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    help: ClassVar[str] = ""
    supports_causal: ClassVar[bool] = True
    row_stochastic: ClassVar[bool] = True
    shift_invariant: ClassVar[bool] = False
    key_norms: ClassVar[bool] = False
    params: ClassVar[tuple[Param, ...]] = ()
    models: ClassVar[frozenset[str]] = frozenset({"sphere", "euclidean"})
    fused: ClassVar[str | None] = None
    causal_reason: ClassVar[str] = "mask: this attention kind does not support the causal mask"

    def __init__(self, *, n: int, causal: bool = False, params: Mapping[str, Any] | None = None) -> None:
        if causal and not self.supports_causal:
            raise ScenarioError(self.causal_reason)
        self.n = n
        self.causal = causal
        given = dict(params or {})
        self.values = {p.name: given.get(p.name, p.default) for p in self.params}
        self._masks: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}

    def mask(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """(additive mask: 0 on N(i), −∞ above the diagonal; multiplicative lower-triangular 0/1)."""
        dtype = np.dtype(dtype)
        m = self._masks.get(dtype)
        if m is None:
            lower = np.tril(np.ones((self.n, self.n), dtype=bool))
            m = self._masks[dtype] = (np.where(lower, 0.0, -np.inf).astype(dtype), lower.astype(dtype))
        return m

    def logits(self, S: np.ndarray, key_sq: np.ndarray | None = None) -> np.ndarray:
        """The logits from the scores S = β⟨Q x_i, K x_j⟩ (and β‖K x_j‖², for ``key_norms``)."""
        return S

    def weights(self, L: np.ndarray, slot: int = 0) -> np.ndarray:  # pragma: no cover - abstract
        """α from the logits (L may be overwritten). ``slot`` names the head: a kind may keep state
        per head between evaluations (Sinkhorn warm-starts from the head's previous potentials)."""
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        """Statistics of the last evaluations (Sinkhorn iterations and error), or {}."""
        return {}

    @classmethod
    def extra_work(cls, n: int, params: Mapping[str, Any]) -> float:
        """Flops one head's weights cost beyond a row softmax of n×n logits, in the worst case
        its ``params`` allow (what :mod:`dynamics.limits` adds to a field evaluation): 0 here."""
        return 0.0


def _row_softmax(L: np.ndarray, causal: bool, mask_add: np.ndarray | None) -> np.ndarray:
    if causal:
        L += mask_add
    L -= L.max(axis=-1, keepdims=True)
    np.exp(L, out=L)
    L /= L.sum(axis=-1, keepdims=True)
    return L


class Softmax(AttentionKind):
    """α_ij = e^{L_ij} / Σ_{l ∈ N(i)} e^{L_il}."""

    name = "softmax"
    label = "softmax (SA)"
    help = "softmax (SA)"
    shift_invariant = True
    models = frozenset({"sphere", "euclidean", "gaussian"})
    fused = "rows"

    def weights(self, L: np.ndarray, slot: int = 0) -> np.ndarray:
        return _row_softmax(L, self.causal, self.mask(L.dtype)[0] if self.causal else None)


class Unnormalized(AttentionKind):
    """α_ij = e^{L_ij} / n on N(i), 0 elsewhere."""

    name = "unnormalized"
    label = "unnormalized (USA)"
    help = "unnormalized: denominator n (USA, a gradient flow)"
    row_stochastic = False
    models = frozenset({"sphere"})  # e^{L} with the Euclidean model's growing scores overflows
    fused = "n"

    def weights(self, L: np.ndarray, slot: int = 0) -> np.ndarray:
        np.exp(L, out=L)
        if self.causal:
            L *= self.mask(L.dtype)[1]
        L *= 1.0 / self.n
        return L


class L2(AttentionKind):
    """α_ij ∝ exp(−β‖Q x_i − K x_j‖²) on N(i): softmax of 2L_ij − β‖K x_j‖²."""

    name = "l2"
    label = "L² (Kim et al.)"
    help = "l2: exp(−β‖Qx−Ky‖²)"
    key_norms = True
    shift_invariant = True
    models = frozenset({"sphere", "euclidean", "gaussian"})

    def logits(self, S: np.ndarray, key_sq: np.ndarray | None = None) -> np.ndarray:
        S *= 2
        S -= key_sq[..., None, :]  # the same for every row i
        return S

    def weights(self, L: np.ndarray, slot: int = 0) -> np.ndarray:
        return _row_softmax(L, self.causal, self.mask(L.dtype)[0] if self.causal else None)


class Sigmoid(AttentionKind):
    """α_ij = σ(L_ij + b)/n on N(i), σ by ``scipy.special.expit`` (no overflow)."""

    name = "sigmoid"
    label = "sigmoid (Ramapuram et al.)"
    help = "sigmoid: σ(score + b)/n"
    row_stochastic = False
    params = (Param("sigmoid_bias", 0.0, -1e6, 1e6, help="the bias b of σ(β⟨x, Ay⟩ + b)"),)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bias = float(self.values["sigmoid_bias"])
        if not math.isfinite(self.bias):
            raise ScenarioError("sigmoid_bias: must be a finite number")

    def weights(self, L: np.ndarray, slot: int = 0) -> np.ndarray:
        if self.bias:
            L += self.bias
        expit(L, out=L)
        if self.causal:
            L *= self.mask(L.dtype)[1]
        L *= 1.0 / self.n
        return L


class Sinkhorn(AttentionKind):
    """(e^{L_ij}) scaled to doubly stochastic by :func:`sinkhorn` (no causal mask)."""

    name = "sinkhorn"
    label = "Sinkhorn (doubly stochastic)"
    help = "sinkhorn: doubly stochastic (no causal mask)"
    supports_causal = False
    causal_reason = SINKHORN_CAUSAL_REASON
    shift_invariant = True
    models = frozenset({"sphere", "euclidean", "gaussian"})
    params = (
        Param("sinkhorn_tol", 1e-9, 1e-15, 0.1, help="stop when the max marginal error is ≤ this"),
        Param("sinkhorn_iters", 200, 1, 10_000, integer=True, help="iteration cap per evaluation and head"),
    )

    @classmethod
    def extra_work(cls, n: int, params: Mapping[str, Any]) -> float:
        """Every evaluation may run all ``sinkhorn_iters`` iterations: two n×n logsumexp passes
        each (≈ 20 n² flop-equivalents, exponentials counted as ~8)."""
        return float(params.get("sinkhorn_iters", 200)) * 20.0 * n * n

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tol = float(self.values["sinkhorn_tol"])
        self.iters = int(self.values["sinkhorn_iters"])
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
        # the column potentials v of the previous evaluation, per head and shape: consecutive
        # evaluations (the stages of a step) have nearby kernels, so a warm start saves iterations
        self._potentials: dict[tuple, np.ndarray] = {}

    def weights(self, L: np.ndarray, slot: int = 0) -> np.ndarray:
        key = (slot, L.shape)
        alpha, info, self._potentials[key] = sinkhorn(L, self.tol, self.iters, self._potentials.get(key))
        # the achieved error over both marginals (rows: the stopping test; columns: rounding)
        error = max(
            float(np.max(np.abs(alpha.sum(axis=-1) - 1))), float(np.max(np.abs(alpha.sum(axis=-2) - 1)))
        )
        self.calls += 1
        self.last_iterations, self.last_error = info.iterations, error
        self.max_iterations = max(self.max_iterations, info.iterations)
        self.max_error = max(self.max_error, error)
        if error > self.tol:
            self.capped += 1
        return alpha

    def report(self) -> dict[str, Any]:
        """The Sinkhorn statistics (last evaluation, and worst over all calls)."""
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


KINDS: dict[str, type[AttentionKind]] = {k.name: k for k in (Softmax, Unnormalized, L2, Sinkhorn, Sigmoid)}
"""Every attention kind, by name (the order is the order shown to people)."""

ATTENTION_KINDS: tuple[str, ...] = tuple(KINDS)
VARIANTS: tuple[str, ...] = tuple(name for name, k in KINDS.items() if k.fused is None)
"""The kinds without the particle field's fused kernel (formerly: the attention 'variants')."""


def kinds_for(model: str) -> tuple[str, ...]:
    """Names of the kinds implemented for ``model`` ("sphere", "euclidean" or "gaussian")."""
    return tuple(name for name, k in KINDS.items() if model in k.models)


def kind(name: str) -> type[AttentionKind]:
    """The registered kind ``name`` (ScenarioError listing the known ones otherwise)."""
    try:
        return KINDS[name]
    except KeyError:
        raise ScenarioError(f"attention: must be one of {', '.join(KINDS)}; got {name!r}") from None


def all_params() -> tuple[Param, ...]:
    """Every kind's parameters (each scenario key once)."""
    seen: dict[str, Param] = {}
    for k in KINDS.values():
        for p in k.params:
            seen.setdefault(p.name, p)
    return tuple(seen.values())


def _parameter_fields() -> list[tuple[str, type, Any]]:
    return [
        (p.name, int if p.integer else float, dataclasses.field(default=p.default, kw_only=True))
        for p in all_params()
    ]


KindParameters = dataclasses.make_dataclass("KindParameters", _parameter_fields(), frozen=True)
KindParameters.__doc__ = """Base of the scenario dataclasses: one keyword-only field per kind
parameter (registry defaults), so a kind's new parameter is a scenario key (JSON, URL) without
touching the scenarios; they validate the values against the registry's bounds."""
KindParameters.__module__ = __name__


def kind_params(scenario: Any) -> dict[str, Any]:
    """The values of every kind parameter in a scenario (missing keys get their defaults)."""
    return {p.name: getattr(scenario, p.name, p.default) for p in all_params()}


variant_params = kind_params  # the former name


def make(
    name: str, *, n: int, causal: bool = False, params: Mapping[str, Any] | None = None
) -> AttentionKind:
    """An instance of the kind ``name`` for n tokens."""
    return kind(name)(n=n, causal=causal, params=params)


# ------------------------------------------------------------------------------------ heads
class HeadMixer:
    """A kind applied to the heads of the particle model: weights α^k and Σ_k α^k X V_kᵀ.

    ``beta`` is one number or one per system (shape (B,)) for ensembles (B, n, d).
    """

    def __init__(
        self,
        attention: AttentionKind,
        heads: Sequence[Head],
        *,
        beta: float | np.ndarray,
        dtype: np.dtype,
    ) -> None:
        self.kind = attention
        self.heads = tuple(heads)
        self.dtype = np.dtype(dtype)
        beta_arr = np.asarray(beta, dtype=float)
        # β as a Python float (keeps float32 float32) or a (B, 1, 1) column for ensembles
        self.beta: float | np.ndarray = (
            beta_arr.astype(self.dtype)[:, None, None] if beta_arr.ndim == 1 else float(beta_arr)
        )
        # constant matrices built once; time-varying ones at every call
        # (V is left out when it is applied through its factors below)
        self._const = [
            tuple(
                None if m is h.V and h.v_rank is not None else np.array(m.const, dtype=self.dtype)
                for m in (h.Q, h.K, h.V)
            )
            if h.Q.is_constant and h.K.is_constant and h.V.is_constant
            else None
            for h in self.heads
        ]
        # value maps V = L R of low rank: (Lᵀ, Rᵀ), applied as (α (X Rᵀ)) Lᵀ
        self._value_factors = [
            None
            if h.v_rank is None
            else tuple(np.ascontiguousarray(f.T, dtype=self.dtype) for f in h.V.factors)
            for h in self.heads
        ]

    def matrices(self, k: int, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Q_k(t), K_k(t), V_k(t)) in the run's dtype (Q, K: r×d for a head of rank r; V None
        for a constant value map of low rank, which is applied through its factors)."""
        c = self._const[k]
        if c is not None:
            return c
        h = self.heads[k]
        return tuple(m.at(t).astype(self.dtype) for m in (h.Q, h.K, h.V))  # type: ignore[return-value]

    def _values(self, k: int, t: float, alpha: np.ndarray, X: np.ndarray) -> np.ndarray:
        """α (X V_kᵀ), through V's factors when it has low rank."""
        factors = self._value_factors[k]
        if factors is not None:
            Lt, Rt = factors
            return (alpha @ (X @ Rt)) @ Lt
        return alpha @ (X @ self.matrices(k, t)[2].T)

    def weights(self, k: int, t: float, X: np.ndarray) -> np.ndarray:
        """α^k(t) for the state X: (…, n, n)."""
        Q, K, _ = self.matrices(k, t)
        XK = X @ K.T
        S = (X @ Q.T) @ np.swapaxes(XK, -1, -2)
        S *= self.beta
        key_sq = None
        if self.kind.key_norms:
            key_sq = np.vecdot(XK, XK)
            key_sq *= self.beta if isinstance(self.beta, float) else self.beta[..., 0]
        return self.kind.weights(self.kind.logits(S, key_sq), slot=k)

    def mix(self, t: float, X: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out ← Σ_k α^k (X V_kᵀ) (before the projection)."""
        for k in range(len(self.heads)):
            term = self._values(k, t, self.weights(k, t, X), X)
            if k == 0:
                out[...] = term
            else:
                out += term
        return out

    def report(self) -> dict[str, Any]:
        return self.kind.report()


__all__ = [
    "ATTENTION_KINDS",
    "KINDS",
    "L2",
    "SINKHORN_CAUSAL_REASON",
    "VARIANTS",
    "AttentionKind",
    "HeadMixer",
    "KindParameters",
    "Param",
    "Sigmoid",
    "Sinkhorn",
    "SinkhornInfo",
    "Softmax",
    "Unnormalized",
    "all_params",
    "kind",
    "kind_params",
    "kinds_for",
    "make",
    "sinkhorn",
]
