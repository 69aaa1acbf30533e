"""The theorems held against a real attention layer, and the paper's ODE run with its weights.

    from dynamics import transformer as tr, weights as wt
    model = tr.load_model(tr.MINILM)
    w = tr.layer_weights(model, 2)                         # LayerWeights (numpy)
    ids = tr.encode(tr.DEFAULT_PROMPT, tr.load_tokenizer(tr.MINILM))
    states = tr.layer_states(model, ids, 2, repeats=0)     # the prompt entering block 2
    reading = wt.read_layer(w, "ellipsoid")                # the layer as the paper's model reads it
    report = wt.layer_report(w, states[0], "ellipsoid")    # per-head numbers + theorem cards
    cmp = wt.compare(model, ids, 2, repeats=24)            # ODE vs the block applied again and again

**What the paper's model keeps of a layer.** Head h scores ⟨q_i, k_j⟩·s = ⟨y_i, A_h y_j⟩ with
A_h = s·W_q^hᵀ W_k^h (s = 1/√d_head; d × d, in the residual-stream basis of the attention input y)
and writes V_h y_j with V_h = W_o^h W_v^h; Σ_h V_h = W_O W_V is the layer's total value map. The
biases are dropped (the model has none): a key bias adds ⟨W_k^hᵀ b_q^h, y_j⟩·s to the scores, and
the value/output biases add the constant drift W_O b_v + b_o to every token; their sizes are
reported. Layer norm LN(y) = γ ⊙ (y − μ)/σ + β is read without its centring and its β, as in the
paper: LN(y) = √d·D y/‖y‖ with D = diag(γ), so normalised tokens lie on the ellipsoid
{x : xᵀPx = 1}, P = D⁻²/d ("ellipsoid"), or — replacing γ by its RMS c — on the sphere of radius
√d·c, integrated on the unit sphere with β = d c² so that the scores keep the network's scale
("sphere").

* **post-LN (BERT family)**: x ← LN(x + Σ_h attn_h(x)). The state is the attention input and is
  itself normalised after every block: tokens on the ellipsoid of this LN's γ, the paper's setting.
  One block is one step of size 1 of ẋ_i = Π_x(Σ_h Σ_j α^h_ij V_h x_j) (clock 1). The caveat: on the
  ellipsoid LN is not the identity unless γ is constant — LN(x) = √d·D x/‖x‖ multiplies by D again
  at every block, so a repeated post-LN layer also performs a power iteration with diag(γ) that
  the continuous model does not have; the spread of γ (``gamma_spread``) says how far from constant.
* **pre-LN (GPT-2 family)**: x ← x + Σ_h attn_h(LN(x)). The residual stream is not normalised; the
  attention reads y = LN(x) = √d·D u with u = (x − μ)/‖x − μ‖. To first order in the update,
  u̇ = (1/r)·Π_u(Σ_h Σ_j α^h_ij V_h y_j), r = ‖x − μ‖, hence exactly (with DΠ_u(w) = Π^P_y(Dw))
        ẏ_i = (√d/r_i)·Π^P_{y_i}( Σ_h Σ_j α^h_ij (D V_h) y_j ):
  the paper's ellipsoid model for the attention inputs y, with the value maps D·V_h (γ on the left;
  the same spectrum as V_h·D, which the residual directions u see) and a per-token clock √d/r_i that
  slows down as the residual stream grows. The ODE here uses one clock for all tokens,
  √d / mean_i r_i at the start (``clock``), so a block application is ``clock`` units of ODE time.

Every theorem card is evaluated on the :class:`~dynamics.scenario.Scenario` that the ODE integrates
(heads of rank d_head: Q = s·W_q^h and K = W_k^h (d_head × d), V = the value map above as its two
factors, held in numpy through ``dynamics.deep.array_spec`` / ``array_low_rank``; tokens = the
prompt's attention inputs, moved radially onto the manifold; mask causal for GPT-2, none for
BERT), with ``dynamics.theorems.evaluate(scenario, None)``.

The per-head numbers come from the low-rank factors (exact, and cheap at d = 768): for M = L R with
L (d × r), R (r × d), the non-zero eigenvalues of M are those of R L (r × r), its singular values
those of R_L R_Rᵀ (thin QR factors), its symmetric part's non-zero eigenvalues those of the
symmetric 2r × 2r matrix R_B J R_Bᵀ, where [L Rᵀ] = Q_B R_B and J = [[0, I], [I, 0]]/2.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .deep import array_low_rank, array_spec
from .errors import ScenarioError
from .metrics import clusters
from .scenario import Head, Scenario
from .transformer import LayerWeights

SPACES = ("ellipsoid", "sphere")
#: Singular values below this fraction of the largest do not count towards the rank.
RANK_TOL = 1e-6
#: Eigenvalues of a symmetric part within this fraction of ‖M‖₂ count as zero.
ZERO_TOL = 1e-9
#: γ entries are floored at this fraction of max|γ| so that P = D⁻²/d stays well conditioned.
GAMMA_FLOOR = 1e-3
#: Fixed RK4 step of the ODE (ODE time; a post-LN block is 1) and default repetitions of the layer.
#: dt = 0.5 moved the curves by ≤ 2.3e-3 against dt = 0.125 on MiniLM (layers 0 and 3, n = 15, 54).
ODE_DT = 0.5
DEFAULT_REPEATS = 24
#: The ODE is integrated over at most this much time (≤ 4·MAX_ODE_TIME/ODE_DT field evaluations):
#: a pre-LN layer whose residual stream is small has a clock √d/r of many time units per block
#: (35 for a random GPT-2's first block), and the run would otherwise grow with it.
MAX_ODE_TIME = 24.0
#: Saved ODE frames when the horizon ends before the second block application.
MIN_ODE_FRAMES = 25
CLUSTER_EPS = 1e-2
#: BLAS threads for the spectra and the ODE. One: the matrices are d ≤ 768 and n ≤ 128, and on a
#: shared 2-core machine OpenBLAS's second thread made a field evaluation 5–25× slower (n = 15 and
#: 64, d = 384, 12 heads, load average 4.9: 7.6 ms vs 195 ms); benchmarks/real_model.py prints both.
BLAS_THREADS = 1


@contextmanager
def blas_threads(threads: int | None = BLAS_THREADS) -> Iterator[None]:
    """Limit BLAS (and OpenMP) threads with threadpoolctl while inside (None: no limit)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the [models] extra
        threadpool_limits = None
    if threads is None or threadpool_limits is None:
        yield
        return
    with threadpool_limits(limits=int(threads)):
        yield


# ------------------------------------------------------------------------- the discrete layer
def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """LN(x) = γ ⊙ (x − μ)/√(σ² + eps) + β, row by row (as torch.nn.LayerNorm)."""
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def _softmax_rows(s: np.ndarray) -> np.ndarray:
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def attention(w: LayerWeights, y: np.ndarray) -> np.ndarray:
    """The layer's multi-head attention of inputs y (n, d), with every bias, as the network computes
    it: Σ_h W_o^h softmax_j(s⟨q_i, k_j⟩)(W_v^h y_j + b_v^h) + b_o."""
    n = y.shape[0]
    out = np.zeros_like(y) + w.bo
    mask = np.tril(np.ones((n, n), dtype=bool)) if w.causal else None
    for h in range(w.n_heads):
        q = y @ w.Wq[h].T + w.bq[h]
        k = y @ w.Wk[h].T + w.bk[h]
        v = y @ w.Wv[h].T + w.bv[h]
        s = w.scale * (q @ k.T)
        if mask is not None:
            s = np.where(mask, s, -np.inf)
        out += (_softmax_rows(s) @ v) @ w.Wo[h].T
    return out


def attention_inputs(w: LayerWeights, states: np.ndarray) -> np.ndarray:
    """What Q, K, V read from states (…, n, d): LN(x) before a pre-LN attention, x itself after
    a post-LN block."""
    if w.norm == "pre":
        return layer_norm(states, w.gamma, w.beta, w.eps)
    return np.asarray(states, dtype=float)


def block_without_mlp(w: LayerWeights, x: np.ndarray) -> np.ndarray:
    """One block without its MLP: x + attn(LN x) (pre-LN) or LN(x + attn x) (post-LN)."""
    if w.norm == "pre":
        return x + attention(w, attention_inputs(w, x))
    return layer_norm(x + attention(w, x), w.gamma, w.beta, w.eps)


# ------------------------------------------------------------------------- matrix facts
@dataclass(frozen=True)
class MatrixReport:
    """Facts of one d × d matrix M = L R given by its factors (see the module docstring)."""

    d: int
    rank: int
    norm: float  # ‖M‖_F
    spectral_norm: float  # ‖M‖₂
    symmetry_defect: float  # ‖M − Mᵀ‖_F / ‖M‖_F
    trace: float
    scalar: float  # c* = tr M / d, the best multiple of the identity
    scalar_defect: float  # min_c ‖M − cI‖_F / ‖M‖_F (= at c*)
    identity_defect: float  # ‖M − I‖_F / √d (the theorem cards' number)
    eigenvalues: np.ndarray  # the non-zero eigenvalues (complex), by decreasing real part
    sym_min: float  # smallest eigenvalue of (M + Mᵀ)/2 (zeros included when rank(sym) < d)
    sym_max: float
    sym_positive: int  # eigenvalues of (M + Mᵀ)/2 above ZERO_TOL·‖M‖₂
    sym_negative: int

    @property
    def symmetric_positive_definite(self) -> bool:
        return self.symmetry_defect <= 1e-8 and self.sym_positive == self.d

    def to_json(self, *, eigenvalues: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rank": self.rank,
            "norm_fro": self.norm,
            "norm_2": self.spectral_norm,
            "symmetry_defect": self.symmetry_defect,
            "trace": self.trace,
            "best_scalar": self.scalar,
            "distance_to_scalar": self.scalar_defect,
            "identity_defect": self.identity_defect,
            "sym_eig_min": self.sym_min,
            "sym_eig_max": self.sym_max,
            "sym_positive": self.sym_positive,
            "sym_negative": self.sym_negative,
            "spd": self.symmetric_positive_definite,
        }
        if eigenvalues:
            out["eigenvalues"] = [[float(z.real), float(z.imag)] for z in self.eigenvalues]
        return {k: _finite(v) for k, v in out.items()}


def _finite(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    return v


def factored_report(L: np.ndarray, R: np.ndarray) -> MatrixReport:
    """MatrixReport of M = L R, L (d, r), R (r, d), from r × r and 2r × 2r problems only."""
    L = np.asarray(L, dtype=float)
    R = np.asarray(R, dtype=float)
    d, r = L.shape
    small = R @ L  # (r, r): same non-zero eigenvalues and traces of powers as M
    rl = np.linalg.qr(L, mode="r")
    rr = np.linalg.qr(R.T, mode="r")
    core = rl @ rr.T
    sv = np.linalg.svd(core, compute_uv=False)
    norm2 = float(np.sum(sv**2))
    norm = math.sqrt(norm2)
    rank = int(np.sum(sv > RANK_TOL * sv[0])) if sv.size and sv[0] > 0 else 0
    trace = float(np.trace(small))
    tr_sq = float(np.trace(small @ small))
    asym2 = max(0.0, 2.0 * norm2 - 2.0 * tr_sq)  # ‖M − Mᵀ‖² = 2‖M‖² − 2 tr(M²)
    scalar = trace / d
    eig = np.linalg.eigvals(small)
    eig = eig[np.argsort(-eig.real, kind="stable")]
    B = np.concatenate([L, R.T], axis=1)  # (d, 2r): sym(M) = B J Bᵀ = Q (R_B J R_Bᵀ) Qᵀ
    rb = np.linalg.qr(B, mode="r")
    J = np.zeros((2 * r, 2 * r))
    J[:r, r:] = J[r:, :r] = 0.5 * np.eye(r)
    sym = np.linalg.eigvalsh(rb @ J @ rb.T)
    scale = float(sv[0]) if sv.size else 0.0
    pos = int(np.sum(sym > ZERO_TOL * scale)) if scale > 0 else 0
    neg = int(np.sum(sym < -ZERO_TOL * scale)) if scale > 0 else 0
    zeros = d - pos - neg
    sym_min = float(sym.min()) if sym.size else 0.0
    sym_max = float(sym.max()) if sym.size else 0.0
    if zeros > 0:
        sym_min, sym_max = min(sym_min, 0.0), max(sym_max, 0.0)
    return MatrixReport(
        d=d, rank=rank, norm=norm, spectral_norm=float(sv[0]) if sv.size else 0.0,
        symmetry_defect=math.sqrt(asym2) / norm if norm > 0 else 0.0,
        trace=trace, scalar=scalar,
        scalar_defect=math.sqrt(max(0.0, norm2 - trace**2 / d)) / norm if norm > 0 else 0.0,
        identity_defect=math.sqrt(max(0.0, norm2 - 2 * trace + d)) / math.sqrt(d),
        eigenvalues=eig, sym_min=sym_min, sym_max=sym_max, sym_positive=pos, sym_negative=neg,
    )  # fmt: skip


# ------------------------------------------------------------------------- the paper's reading
@dataclass(frozen=True)
class PaperLayer:
    """A layer as the paper's continuous-time model reads it, on one manifold (see module doc).

    A_h = Q[h]ᵀ K[h] (scale included), value map V_h = VL[h] VR[h]; scores are β⟨x_i, A_h x_j⟩ on
    {x : xᵀPx = 1} (P = diag(P_diag)) or the unit sphere (P_diag None); one block application is
    ``clock`` units of ODE time.
    """

    space: str
    family: str
    norm: str
    layer: int
    causal: bool
    Q: np.ndarray  # (H, r, d)
    K: np.ndarray  # (H, r, d)
    VL: np.ndarray  # (H, d, r)
    VR: np.ndarray  # (H, r, d)
    P_diag: np.ndarray | None
    beta: float
    gamma_rms: float
    gamma_spread: float  # std(|γ|)/mean(|γ|): 0 when LN's γ is a constant
    gamma_floored: int  # entries of |γ| raised to GAMMA_FLOOR·max|γ|
    clock: float = 1.0

    @property
    def n_heads(self) -> int:
        return int(self.Q.shape[0])

    @property
    def d(self) -> int:
        return int(self.Q.shape[2])

    def qk(self, h: int) -> np.ndarray:
        return self.Q[h].T @ self.K[h]

    def value(self, h: int) -> np.ndarray:
        return self.VL[h] @ self.VR[h]

    def total_value(self) -> np.ndarray:
        return np.einsum("hij,hjk->ik", self.VL, self.VR)

    def heads(self) -> tuple[Head, ...]:
        """Scenario heads of rank r = d_head, numpy-backed: Q = Q[h], K = K[h] (r × d) and
        V = VL[h]·VR[h] as its factors (dynamics.deep.array_spec, array_low_rank), which the field
        multiplies by directly when 2r < d — 6× less work than d × d matrices at d = 768."""
        return tuple(
            Head(Q=array_spec(self.Q[h]), K=array_spec(self.K[h]), V=array_low_rank(self.VL[h], self.VR[h]))
            for h in range(self.n_heads)
        )

    def dense_heads(self) -> tuple[Head, ...]:
        """The same heads as d × d matrices: Q = A_hᵀ, K = I, V = V_h (the engine's dense path)."""
        eye = array_spec(np.eye(self.d))
        return tuple(
            Head(Q=array_spec(self.qk(h).T), K=eye, V=array_spec(self.value(h))) for h in range(self.n_heads)
        )

    def horizon(self, repeats: int, max_time: float = MAX_ODE_TIME) -> tuple[float, int]:
        """(T, frames): the ODE time of ``repeats`` block applications, capped at ``max_time``,
        saved once per block when at least two blocks fit, else in MIN_ODE_FRAMES − 1 steps."""
        repeats = max(1, int(repeats))
        fit = max_time / self.clock + 1e-9
        blocks = repeats if fit >= repeats else math.floor(fit)
        if blocks >= 2:
            return blocks * self.clock, blocks + 1
        return min(repeats * self.clock, max_time), MIN_ODE_FRAMES

    def scenario(
        self,
        tokens: np.ndarray,
        *,
        repeats: int = DEFAULT_REPEATS,
        dt: float = ODE_DT,
        dtype: str = "float32",
        max_time: float = MAX_ODE_TIME,
    ) -> Scenario:
        """The ODE of this layer from ``tokens`` (moved radially onto the manifold), over the ODE
        time of ``repeats`` block applications (capped: ``horizon``)."""
        tokens = np.asarray(tokens, dtype=float)
        if tokens.ndim != 2 or tokens.shape[1] != self.d:
            raise ScenarioError(f"tokens: expected an (n, {self.d}) array")
        P = None if self.P_diag is None else np.diag(self.P_diag)
        T, frames = self.horizon(repeats, max_time)
        return Scenario(
            x0=tokens,
            heads=self.heads(),
            beta=self.beta,
            mask="causal" if self.causal else "none",
            space=self.space,
            P=P,
            T=T,
            frames=frames,
            integrator="rk4",
            dt=dt,
            dtype=dtype,
        )


def _gamma(w: LayerWeights) -> tuple[np.ndarray, int]:
    g = np.abs(np.asarray(w.gamma, dtype=float))
    floor = GAMMA_FLOOR * float(g.max()) if g.size and g.max() > 0 else 1.0
    low = g < floor
    return np.where(low, floor, g), int(low.sum())


def read_layer(
    w: LayerWeights, space: str = "ellipsoid", *, residual: np.ndarray | None = None
) -> PaperLayer:
    """The layer as the paper's model reads it (module docstring). ``residual``: the pre-LN
    residual stream entering the layer (n, d), whose centred norms set the clock √d/mean r_i."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}")
    d = w.d
    g_abs, floored = _gamma(w)
    gamma = np.sign(np.where(w.gamma == 0, 1.0, w.gamma)) * g_abs
    c = float(np.sqrt(np.mean(g_abs**2)))
    Q = w.scale * w.Wq
    if w.norm == "pre":  # the update is D·V_h y (γ on the left); c·V_h on the sphere
        VL = (gamma[None, :, None] * w.Wo) if space == "ellipsoid" else c * w.Wo
    else:
        VL = w.Wo
    clock = 1.0
    if w.norm == "pre":
        if residual is None:
            raise ValueError("a pre-LN layer needs the residual stream entering it to set the clock")
        r = np.asarray(residual, dtype=float)
        r = np.linalg.norm(r - r.mean(axis=-1, keepdims=True), axis=-1)
        clock = float(math.sqrt(d) / max(float(r.mean()), 1e-12))
    return PaperLayer(
        space=space, family=w.family, norm=w.norm, layer=w.layer, causal=w.causal,
        Q=Q, K=w.Wk.copy(), VL=np.ascontiguousarray(VL), VR=w.Wv.copy(),
        P_diag=(1.0 / (d * g_abs**2)) if space == "ellipsoid" else None,
        beta=1.0 if space == "ellipsoid" else d * c * c,
        gamma_rms=c, gamma_spread=float(np.std(g_abs) / max(np.mean(g_abs), 1e-300)),
        gamma_floored=floored, clock=clock,
    )  # fmt: skip


def bias_sizes(w: LayerWeights, tokens: np.ndarray) -> dict[str, float]:
    """What the model drops, next to the size of what it keeps (typical over the given tokens):

    * ``value_drift``: ‖W_O b_v + b_o‖, the constant every token receives;
    * ``value_signal``: mean_i ‖Σ_h V_h y_i‖, the size of the value term for comparison;
    * ``key_bias_score``: max_h max_j s|⟨W_k^hᵀ b_q^h, y_j⟩|, the score term the model lacks;
    * ``score_scale``: max_h max_ij s|⟨y_i, A_h y_j⟩|, the scores it keeps.
    """
    y = np.asarray(tokens, dtype=float)
    drift = np.einsum("hij,hj->i", w.Wo, w.bv) + w.bo
    signal = float(np.linalg.norm(y @ w.total_value().T, axis=1).mean())
    key_bias = max(float(np.abs(y @ (w.scale * w.Wk[h].T @ w.bq[h])).max()) for h in range(w.n_heads))
    score = max(float(np.abs((y @ w.Wq[h].T) @ (y @ w.Wk[h].T).T).max()) * w.scale for h in range(w.n_heads))
    return {
        "value_drift": float(np.linalg.norm(drift)),
        "value_signal": signal,
        "key_bias_score": key_bias,
        "score_scale": score,
        "ln_beta_norm": float(np.linalg.norm(w.beta)),
        "token_norm": float(np.linalg.norm(y, axis=1).mean()),
    }


# ------------------------------------------------------------------------- report + cards
@dataclass(frozen=True)
class LayerReport:
    """Everything the panel and the CLI show about one layer."""

    model: str
    reading: PaperLayer
    heads_qk: tuple[MatrixReport, ...]
    heads_value: tuple[MatrixReport, ...]
    total_value: MatrixReport
    cards: tuple[Any, ...]  # dynamics.theorems.Card
    biases: dict[str, float]
    n_tokens: int
    seconds: float

    def to_json(self, *, eigenvalues: bool = False) -> dict[str, Any]:
        r = self.reading
        return {
            "model": self.model,
            "family": r.family,
            "layer": r.layer,
            "norm": r.norm,
            "space": r.space,
            "mask": "causal" if r.causal else "none",
            "d": r.d,
            "heads": r.n_heads,
            "tokens": self.n_tokens,
            "reading": {
                "beta": r.beta,
                "clock_per_block": r.clock,
                "gamma_rms": r.gamma_rms,
                "gamma_spread": r.gamma_spread,
                "gamma_floored": r.gamma_floored,
                "value_map": (
                    "D·W_o^h W_v^h (pre-LN: γ on the left)"
                    if r.norm == "pre" and r.space == "ellipsoid"
                    else ("c·W_o^h W_v^h, c = rms γ" if r.norm == "pre" else "W_o^h W_v^h")
                ),
                "qk": "s·W_q^hᵀ W_k^h, s = 1/√d_head",
            },
            "biases": {k: _finite(v) for k, v in self.biases.items()},
            "per_head": [
                {
                    "head": h,
                    "qk": a.to_json(eigenvalues=eigenvalues),
                    "value": v.to_json(eigenvalues=eigenvalues),
                }
                for h, (a, v) in enumerate(zip(self.heads_qk, self.heads_value, strict=True))
            ],
            "total_value": self.total_value.to_json(eigenvalues=eigenvalues),
            "cards": [card_verdict(c) for c in self.cards],
            "seconds": round(self.seconds, 3),
        }


def card_verdict(card: Any) -> dict[str, Any]:
    """A card as a verdict: applies or not, and every assumption with the number deciding it."""
    from .theorems import get as theorem

    return {
        "id": card.id,
        "name": card.name,
        "title": card.title,
        "status": card.status,
        "model": theorem(card.id).model,  # "sphere" or "euclidean"
        "applies": bool(card.applies),
        "assumptions": {
            name: {
                "holds": bool(a.holds),
                "value": a.value if isinstance(a.value, str) else _finite(a.value),
                "label": a.label or name,
                "quantity": a.quantity,
                "detail": a.detail,
            }
            for name, a in card.assumptions.items()
        },
        "failed": [name for name, a in card.assumptions.items() if not a.holds],
        "reason": card.reason,
    }


def layer_report(
    w: LayerWeights,
    states: np.ndarray,
    space: str = "ellipsoid",
    *,
    model: str = "",
    repeats: int = DEFAULT_REPEATS,
) -> LayerReport:
    """Per-head spectra and the theorem cards of layer ``w`` for the prompt whose state entering
    the layer is ``states`` (n, d): the cards see the ODE scenario of ``read_layer``."""
    from .theorems import evaluate

    start = time.perf_counter()
    states = np.asarray(states, dtype=float)
    with blas_threads():
        reading = read_layer(w, space, residual=states)
        tokens = attention_inputs(w, states)
        qk = tuple(factored_report(reading.Q[h].T, reading.K[h]) for h in range(reading.n_heads))
        val = tuple(factored_report(reading.VL[h], reading.VR[h]) for h in range(reading.n_heads))
        H, d, r = reading.VL.shape
        total = factored_report(reading.VL.transpose(1, 0, 2).reshape(d, H * r), reading.VR.reshape(H * r, d))
        cards = tuple(evaluate(reading.scenario(tokens, repeats=repeats), None))
    return LayerReport(
        model=model, reading=reading, heads_qk=qk, heads_value=val, total_value=total, cards=cards,
        biases=bias_sizes(w, tokens), n_tokens=int(states.shape[0]), seconds=time.perf_counter() - start,
    )  # fmt: skip


# ------------------------------------------------------------------------- ODE vs network
@dataclass(frozen=True)
class Curves:
    """1 − mean_j cos(x₁, x_j) and the ε-cluster count at ``blocks`` block applications (K,)."""

    deviation: np.ndarray
    clusters: np.ndarray
    blocks: np.ndarray

    def to_json(self) -> dict[str, list]:
        return {
            "blocks": [float(b) for b in self.blocks],
            "deviation": [float(v) for v in self.deviation],
            "clusters": [int(c) for c in self.clusters],
        }

    def at_blocks(self, k: np.ndarray) -> np.ndarray:
        """1 − mean cos linearly interpolated at block counts ``k`` within this curve's range."""
        return np.interp(k, self.blocks, self.deviation)


def curves(xs: np.ndarray, eps: float = CLUSTER_EPS, blocks: np.ndarray | None = None) -> Curves:
    """Curves of a trajectory (K, n, d), on directions; ``blocks`` defaults to 0, 1, …, K − 1."""
    xs = np.asarray(xs, dtype=float)
    u = xs / np.linalg.norm(xs, axis=-1, keepdims=True)
    dev = 1.0 - np.einsum("kd,kjd->kj", u[:, 0], u).mean(axis=-1)
    count = np.array([int(clusters(frame, eps).max()) + 1 for frame in u])
    k = np.arange(len(xs), dtype=float) if blocks is None else np.asarray(blocks, dtype=float)
    return Curves(deviation=dev, clusters=count, blocks=k)


#: The ladder from the network's block (without MLP) to the paper's layer, one change at a time.
LADDER = (
    "network",
    "no biases",
    "LN without centring and β",
    "ellipsoid retraction instead of LN",
)


def _zero_biases(w: LayerWeights) -> LayerWeights:
    z = np.zeros_like
    return dataclasses.replace(w, bq=z(w.bq), bk=z(w.bk), bv=z(w.bv), bo=z(w.bo))


def ladder_step(w: LayerWeights, rung: str) -> Callable[[np.ndarray], np.ndarray]:
    """One block application x ↦ x' of a rung of LADDER (numpy, no MLP):

    * "network": the block itself (``block_without_mlp``, equal to torch's);
    * "no biases": every bias of the attention set to 0;
    * "LN without centring and β": also LN(y) = √d·γ ⊙ y/‖y‖;
    * "ellipsoid retraction instead of LN" (post-LN only): x' = (x + attn x)/‖x + attn x‖_P with
      P = D⁻²/d — one Euler step of size 1 of the paper's model on the ellipsoid.
    """
    if rung not in LADDER:
        raise ValueError(f"rung must be one of {', '.join(LADDER)}")
    if rung == "network":
        return lambda x: block_without_mlp(w, x)
    w0 = _zero_biases(w)
    if rung == "no biases":
        return lambda x: block_without_mlp(w0, x)
    d = w.d
    gamma = np.asarray(w.gamma, dtype=float)

    def ln(y: np.ndarray) -> np.ndarray:
        return math.sqrt(d) * gamma * y / np.linalg.norm(y, axis=-1, keepdims=True)

    if rung == "LN without centring and β":
        if w.norm == "pre":
            return lambda x: x + attention(w0, ln(x))
        return lambda x: ln(x + attention(w0, x))
    if w.norm == "pre":
        raise ValueError("the ellipsoid-retraction rung is defined for post-LN layers only")
    g_abs, _ = _gamma(w)
    p_diag = 1.0 / (d * g_abs**2)

    def retract(y: np.ndarray) -> np.ndarray:
        return y / np.sqrt(np.einsum("ij,j,ij->i", y, p_diag, y))[:, None]

    return lambda x: retract(x + attention(w0, x))


def ladder(
    w: LayerWeights, states: np.ndarray, *, repeats: int, eps: float = CLUSTER_EPS
) -> dict[str, Curves]:
    """Curves of every rung (on the attention inputs), each started from ``states`` (n, d)."""
    out: dict[str, Curves] = {}
    x0 = np.asarray(states, dtype=float)
    for rung in LADDER:
        if rung == "ellipsoid retraction instead of LN" and w.norm == "pre":
            continue
        step = ladder_step(w, rung)
        xs = [x0]
        with np.errstate(all="ignore"):
            for _ in range(int(repeats)):
                xs.append(step(xs[-1]))
        arr = np.array(xs)
        if np.isfinite(arr).all():  # a rung that overflows is left out rather than drawn as NaN
            out[rung] = curves(attention_inputs(w, arr), eps)
    return out


@dataclass(frozen=True)
class Comparison:
    """The paper's ODE with a layer's weights frozen vs the network with that layer repeated.

    Index k of every curve is k block applications (ODE time k·clock). Network curves are taken
    on the attention inputs (pre-LN: LN of the residual stream), which is what the ODE models.
    ``ladder`` holds the discrete rungs between the two (LADDER), without MLP.
    """

    layer: int
    repeats: int
    clock: float
    network: dict[str, Curves]  # "with MLP", "without MLP" (torch)
    ode: dict[str, Curves]  # "ellipsoid", "sphere"
    ode_status: dict[str, str]
    ladder: dict[str, Curves] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def gaps(self) -> dict[str, dict[str, float]]:
        """max_k |ODE − network| of 1 − mean cos over the blocks the ODE covers, for each ODE
        against the network without MLP and with it, and the final values."""
        out: dict[str, dict[str, float]] = {}
        for space, c in self.ode.items():
            for label, net in self.network.items():
                k = net.blocks[net.blocks <= c.blocks[-1] + 1e-9]
                gap = np.abs(c.at_blocks(k) - net.deviation[: len(k)])
                out[f"{space} vs {label}"] = {  # no gap when the ODE ends before the first block
                    "max_abs_gap": float(gap.max()) if len(k) > 1 else math.nan,
                    "ode_blocks": float(c.blocks[-1]),
                    "final_ode": float(c.deviation[-1]),
                    "final_network": float(net.deviation[-1]),
                    "final_clusters_ode": int(c.clusters[-1]),
                    "final_clusters_network": int(net.clusters[-1]),
                }
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "repeats": self.repeats,
            "clock_per_block": self.clock,
            "network": {k: v.to_json() for k, v in self.network.items()},
            "ode": {k: v.to_json() for k, v in self.ode.items()},
            "ladder": {k: v.to_json() for k, v in self.ladder.items()},
            "ode_status": self.ode_status,
            "gaps": {k: {kk: _finite(vv) for kk, vv in g.items()} for k, g in self.gaps().items()},
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


#: summarize: the ODE "predicts" a network curve when 1 − mean cos differs by at most this at every block.
PREDICT_TOL = 0.05


def summarize(data: dict[str, Any]) -> str:
    """One paragraph read off a ``Comparison.to_json()``: where each curve ends, the largest gap
    between the ODE and the network (without MLP), and which rung of the ladder changes the end
    value most. Every number comes from the curves."""

    def end(curves: dict[str, list]) -> str:
        count = curves["clusters"][-1]
        return f"{curves['deviation'][-1]:.3g} ({count} cluster{'' if count == 1 else 's'})"

    net, ode = data["network"], data["ode"]
    parts = [f"After {data['repeats']} applications of layer {data['layer']}, 1 − mean cos(x₁, x_j) is"]
    parts.append(", ".join(f"{end(c)} for the network {name}" for name, c in net.items()))
    parts.append("and " + ", ".join(f"{end(c)} for the ODE on the {space}" for space, c in ode.items()) + ".")
    text = " ".join(parts)
    covered = {space: float(c["blocks"][-1]) for space, c in ode.items()}
    if covered and min(covered.values()) < data["repeats"] - 1e-9:
        text += (
            f" At {data['clock_per_block']:.3g} units of ODE time per block, the ODE (integrated up to "
            f"t = {MAX_ODE_TIME:g}) covers only the first {min(covered.values()):.3g} block applications; "
            "its value there is the one quoted."
        )
    gaps = {
        key.split(" vs ")[0]: float(g["max_abs_gap"])
        for key, g in data.get("gaps", {}).items()
        if key.endswith(" vs without MLP")
        and g["max_abs_gap"] is not None
        and math.isfinite(g["max_abs_gap"])
    }
    if ode and not gaps:
        text += " The ODE ends before the first block application: there is nothing to compare yet."
    elif gaps:
        best = min(gaps, key=gaps.__getitem__)
        if gaps[best] <= PREDICT_TOL:
            text += (
                f" The ODE on the {best} predicts the network without MLP within {gaps[best]:.2g} at every "
                f"block it covers (tolerance {PREDICT_TOL:g})."
            )
        else:
            text += (
                " The ODE does not predict this network: the gap to the network without MLP reaches "
                + ", ".join(f"{g:.2g} ({space})" for space, g in gaps.items())
                + f" (tolerance {PREDICT_TOL:g})."
            )
    rungs = data.get("ladder", {})
    if len(rungs) > 1:
        names = list(rungs)
        ends = [float(rungs[name]["deviation"][-1]) for name in names]
        steps = [abs(b - a) for a, b in itertools.pairwise(ends)]
        top = int(np.argmax(steps))
        text += (
            " One change at a time from the network's block (no MLP): "
            + "; ".join(f"{name} → {value:.3g}" for name, value in zip(names[1:], ends[1:], strict=True))
            + f". The largest single change (by {steps[top]:.2g}) comes with “{names[1 + top]}”."
        )
    return text


def run_ode(
    w: LayerWeights,
    states: np.ndarray,
    space: str,
    *,
    repeats: int = DEFAULT_REPEATS,
    dt: float = ODE_DT,
    dtype: str = "float32",
    max_time: float = MAX_ODE_TIME,
    progress: Callable[[float], bool | None] | None = None,
) -> tuple[Any, PaperLayer]:
    """Integrate the paper's model with layer ``w`` frozen from the prompt's state ``states``
    (entering the layer); returns (dynamics Result, the reading). float32 by default (twice as
    fast; the curves move by < 1e-6); float64 to hold a run to the cards' 1e-10 invariants."""
    from .solve import simulate

    with blas_threads():
        reading = read_layer(w, space, residual=states)
        tokens = attention_inputs(w, np.asarray(states, dtype=float))
        scenario = reading.scenario(tokens, repeats=repeats, dt=dt, dtype=dtype, max_time=max_time)
        return simulate(scenario, progress), reading


def compare(
    model: Any,
    input_ids: Sequence[int] | np.ndarray,
    layer: int,
    *,
    repeats: int = DEFAULT_REPEATS,
    spaces: Sequence[str] = SPACES,
    dt: float = ODE_DT,
    eps: float = CLUSTER_EPS,
) -> Comparison:
    """The ODE (each space) vs the real block ``layer`` applied ``repeats`` times (with and
    without its MLP), from the prompt's state entering that block."""
    from . import transformer as tr

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    w = tr.layer_weights(model, layer)
    seconds["extract"] = time.perf_counter() - t0
    network: dict[str, Curves] = {}
    states0 = None
    for label, no_mlp in (("without MLP", True), ("with MLP", False)):
        t0 = time.perf_counter()
        xs = tr.layer_states(model, input_ids, layer, repeats=repeats, no_mlp=no_mlp)
        states0 = xs[0]
        network[label] = curves(attention_inputs(w, xs), eps)
        seconds[f"network {label}"] = time.perf_counter() - t0
    assert states0 is not None
    t0 = time.perf_counter()
    with blas_threads():
        rungs = ladder(w, states0, repeats=repeats, eps=eps)
    seconds["ladder"] = time.perf_counter() - t0
    ode: dict[str, Curves] = {}
    status: dict[str, str] = {}
    clock = 1.0
    for space in spaces:
        t0 = time.perf_counter()
        result, reading = run_ode(w, states0, space, repeats=repeats, dt=dt)
        clock = reading.clock
        status[space] = result.message
        ode[space] = curves(result.x, eps, blocks=np.asarray(result.t) / reading.clock)
        seconds[f"ode {space}"] = time.perf_counter() - t0
    return Comparison(
        layer=int(layer), repeats=int(repeats), clock=clock, network=network, ode=ode,
        ode_status=status, ladder=rungs, seconds=seconds,
    )  # fmt: skip


# ------------------------------------------------------------------------- command line
def add_parser(sub: Any) -> None:
    """Register ``weights`` on the subparsers of ``python -m dynamics``."""
    p = sub.add_parser(
        "weights",
        help="the theorem cards and per-head spectra of one real attention layer (JSON on stdout)",
        description=(
            "Hold the theorems against a real layer: per-head A_h = s·W_qᵀW_k and V_h = W_o W_v, the "
            "total value map, and every theorem card evaluated on the paper's ODE with that layer's "
            "weights. MODEL: all-MiniLM-L6-v2 (packaged, no download), gpt2 (local cache), "
            "tiny-gpt2 (random, built in-process) or a model directory. Needs the [models] extra."
        ),
    )
    p.add_argument("model", help="all-MiniLM-L6-v2 | minilm | gpt2 | tiny-gpt2 | a model directory")
    p.add_argument("--layer", type=int, default=0, help="block index (0-based)")
    p.add_argument("--prompt", default=None, help="text (or token ids for models without a tokenizer)")
    p.add_argument("--space", choices=SPACES, default="ellipsoid", help="manifold of the paper's model")
    p.add_argument("--random", action="store_true", help="re-draw every weight (N(0, 0.02²), zero biases)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random and of tiny-gpt2")
    p.add_argument("--compare", action="store_true", help="also run the ODE against the repeated layer")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="block applications for --compare")
    p.add_argument("--eigenvalues", action="store_true", help="include every non-zero eigenvalue")
    p.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    p.set_defaults(run=main)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    """``python -m dynamics weights``: 0 and JSON on stdout, or 2 and one line on stderr."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return _fail("`weights` needs PyTorch and transformers: pip install -e '.[models]'")
    from transformers.utils import logging as hf_logging

    from . import transformer as tr

    hf_logging.disable_progress_bar()  # stderr is for the one-line error only
    hf_logging.set_verbosity_error()
    if not 0 <= args.repeats <= 10_000:
        return _fail("--repeats must lie in [0, 10000]")
    try:
        model, tokenizer, label = tr.load_named(args.model, random_init=args.random, seed=args.seed)
        vocab = int(getattr(model.config, "vocab_size", 0)) or None
        prompt = args.prompt if args.prompt is not None else tr.default_prompt(tokenizer, vocab, args.seed)
        ids = tr.encode(prompt, tokenizer, vocab_size=vocab)
        if ids.size > tr.MAX_TOKENS:
            raise ValueError(f"{ids.size} tokens: at most {tr.MAX_TOKENS}")
        states = tr.layer_states(model, ids, args.layer, repeats=0)[0]
        w = tr.layer_weights(model, args.layer)
        report = layer_report(w, states, args.space, model=label)
        out = report.to_json(eigenvalues=args.eigenvalues)
        if args.compare:
            out["comparison"] = compare(model, ids, args.layer, repeats=args.repeats).to_json()
    except tr.ModelUnavailable as exc:
        return _fail(str(exc))
    except (ValueError, ScenarioError) as exc:
        return _fail(str(exc))
    try:
        print(json.dumps(out, indent=args.indent, ensure_ascii=False))
        sys.stdout.flush()
    except BrokenPipeError:
        return 141
    return 0
