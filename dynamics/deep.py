"""GPT-2-sized dynamics: a fast runner and the diagnostics of large token clouds (pure, no Streamlit).

``run(scenario, progress=None, *, limits=None)`` integrates exactly like ``dynamics.simulate``
(same tokens, same weights, same fixed-step integrator) but builds generated weights directly as
numpy arrays: ``simulate`` goes through tuple-of-tuple matrices, which costs ~10 s for 12 heads
at d = 768 before the first step.

``diagnostics(t, xs)`` streams over the saved frames (never more than one n×n matrix alive per
frame) and returns a :class:`Diagnostics`:

* ``cos`` — the cosine-similarity matrices (H, n, n) float32 at chosen frames ``cos_idx``;
* ``hist`` — histogram of pairwise inner products ⟨x_i, x_j⟩, i < j (``bins`` × K, fractions of
  the n(n−1)/2 pairs, edges on [−1, 1]);
* ``one_minus_mean_cos`` — 1 − mean_{j≥2} cos(x_1, x_j) over time (the paper's GPT-2 statistic);
* ``min_cos`` — the smallest pairwise cosine over time, and ``collapse_t`` — the first saved time
  with min cosine ≥ 1 − ε (None if never);
* ``x3`` — the cloud projected on its 3 leading principal directions (pooled second moment over
  time, not centred), float32, with the fraction of second moment it explains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import limits as _limits
from .field import AttentionField
from .initial import initial_tokens
from .matrices import build_heads, gaussian
from .scenario import Head, LowRankSpec, MatrixSpec, Scenario
from .solve import Progress, Result, _run_fixed, simulate

#: Collapse threshold: min pairwise cosine ≥ 1 − COLLAPSE_EPS.
COLLAPSE_EPS = 1e-3
HIST_BINS = 60
#: Bytes of cosine matrices kept by ``diagnostics`` (float32 n×n per kept frame).
COS_BYTES = 64_000_000
MAX_COS_FRAMES = 41


# ------------------------------------------------------------------------------------------ run
class ArraySpec(MatrixSpec):
    """A constant MatrixSpec holding a numpy array (AttentionField reads it with np.array).

    ``norm_bound`` is the cheap bound ‖M‖₂ ≤ √(‖M‖₁‖M‖∞) instead of an SVD (24 SVDs of 768×768
    take seconds); a larger bound only makes the field subtract row maxima (the safe path).
    Shared with dynamics.weights (real layers' d×d matrices): build it with ``array_spec``. Such a
    spec is not hashable and its JSON is huge: keep it out of caches keyed on the scenario.
    """

    def norm_bound(self) -> float:
        m = np.asarray(self.const)
        return float(np.sqrt(np.abs(m).sum(axis=0).max() * np.abs(m).sum(axis=1).max()))


def array_spec(m: np.ndarray) -> MatrixSpec:
    """A read-only, numpy-backed constant MatrixSpec of ``m`` (no tuple-of-tuples conversion)."""
    m = np.ascontiguousarray(m, dtype=np.float64)
    m.setflags(write=False)
    return ArraySpec(const=m)  # type: ignore[arg-type]


def array_low_rank(left: np.ndarray, right: np.ndarray) -> LowRankSpec:
    """A numpy-backed :class:`~dynamics.scenario.LowRankSpec` L R (d×r times r×d), read-only."""
    factors = []
    for m in (left, right):
        m = np.ascontiguousarray(m, dtype=np.float64)
        m.setflags(write=False)
        factors.append(m)
    return LowRankSpec(left=factors[0], right=factors[1])  # type: ignore[arg-type]


def fast_heads(scenario: Scenario) -> tuple[Head, ...]:
    """The heads of ``build_heads(scenario)`` (same random draws), numpy-backed when generated
    Gaussian/identity and constant in time; otherwise ``build_heads`` itself."""
    s = scenario
    simple = ("gaussian", "identity")
    if s.heads is not None or s.qk_amp > 0 or s.value not in simple or s.qk not in simple:
        return build_heads(s)
    d = s.d
    rng = np.random.default_rng([s.seed, 1])
    eye = np.eye(d)
    heads = []
    for _ in range(s.n_heads):
        v = gaussian(d, rng) if s.value == "gaussian" else eye
        q, k = (gaussian(d, rng), gaussian(d, rng)) if s.qk == "gaussian" else (eye, eye)
        heads.append(Head(Q=array_spec(q), K=array_spec(k), V=array_spec(v)))
    return tuple(heads)


def run(
    scenario: Scenario, progress: Progress | None = None, *, limits: _limits.Limits | None = None
) -> Result:
    """``simulate(scenario, progress, limits=limits)`` with fast weight construction (Euler/RK4)."""
    if scenario.integrator == "adaptive":
        return simulate(scenario, progress, limits=limits)
    import time

    lim = limits or _limits.Limits()
    _limits.check(scenario, lim)
    start = time.perf_counter()
    fld = AttentionField.from_scenario(scenario, fast_heads(scenario))
    X = np.array(initial_tokens(scenario), dtype=scenario.dtype)
    fld.retract(X)
    t_frames = np.linspace(0.0, scenario.T, scenario.frames)
    t_frames[-1] = scenario.T
    with np.errstate(all="ignore"):
        t, xs, status, message, steps, h = _run_fixed(scenario, fld, X, t_frames, progress, None)
    xs.setflags(write=False)
    t.setflags(write=False)
    return Result(
        t=t, x=xs, status=status, message=message, scenario=scenario, steps=steps,
        evaluations=fld.evaluations, step_size=h, wall_time=time.perf_counter() - start,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- diagnostics
def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), in x's float dtype."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def cosine_matrix(x: np.ndarray) -> np.ndarray:
    """(n, n) float32 matrix of cos(x_i, x_j), clipped to [−1, 1]."""
    u = unit_rows(x)
    c = (u @ u.T).astype(np.float32)
    np.clip(c, -1.0, 1.0, out=c)
    return c


def hist_edges(bins: int = HIST_BINS) -> np.ndarray:
    return np.linspace(-1.0, 1.0, bins + 1)


def pair_histogram(x: np.ndarray, bins: int = HIST_BINS) -> np.ndarray:
    """Fractions of pairs i < j whose inner product ⟨x_i, x_j⟩ falls in each of ``bins`` equal
    bins of [−1, 1] (values outside are clipped into the end bins); (bins,) float64."""
    n = x.shape[0]
    if n < 2:
        return np.zeros(bins)
    g = x @ x.T
    vals = g[np.triu_indices(n, 1)].astype(np.float64)
    idx = np.clip(np.floor((vals + 1.0) * (bins / 2.0)).astype(np.int64), 0, bins - 1)
    return np.bincount(idx, minlength=bins) / vals.size


def one_minus_mean_cos(x: np.ndarray) -> float:
    """1 − mean_{j ≥ 2} cos(x_1, x_j) of one configuration (0 at consensus)."""
    u = unit_rows(x).astype(np.float64)
    if u.shape[0] < 2:
        return 0.0
    return float(1.0 - np.mean(u[1:] @ u[0]))


def collapse_time(t: np.ndarray, min_cos: np.ndarray, eps: float = COLLAPSE_EPS) -> float | None:
    """First time with min pairwise cosine ≥ 1 − eps; None if never."""
    hit = np.nonzero(np.asarray(min_cos) >= 1.0 - eps)[0]
    return None if hit.size == 0 else float(np.asarray(t)[hit[0]])


def chosen_frames(k: int, n: int, *, budget: float = COS_BYTES, cap: int = MAX_COS_FRAMES) -> np.ndarray:
    """Evenly spaced frame indices (first and last kept) whose n×n float32 matrices fit ``budget``."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    m = int(max(1, min(k, cap, budget // max(1, 4 * n * n))))
    if m == 1:
        return np.array([k - 1])
    return np.unique(np.round(np.linspace(0, k - 1, m)).astype(np.int64))


@dataclass(frozen=True)
class Diagnostics:
    t: np.ndarray  # (K,)
    min_cos: np.ndarray  # (K,)
    one_minus_mean_cos: np.ndarray  # (K,)
    hist_edges: np.ndarray  # (bins + 1,)
    hist: np.ndarray  # (bins, K) float32 fractions of pairs
    cos_idx: np.ndarray  # (H,) frame indices of the cosine matrices
    cos: np.ndarray  # (H, n, n) float32
    x3: np.ndarray  # (K, n, 3) float32
    explained: float
    collapse_t: float | None
    eps: float

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in (self.t, self.hist, self.cos, self.x3, self.min_cos))


def diagnostics(
    t: np.ndarray,
    xs: np.ndarray,
    *,
    bins: int = HIST_BINS,
    cos_idx: np.ndarray | None = None,
    eps: float = COLLAPSE_EPS,
) -> Diagnostics:
    """All diagnostics of a trajectory xs (K, n, d), streamed frame by frame."""
    t = np.asarray(t, dtype=float)
    xs = np.asarray(xs)
    if xs.ndim != 3 or xs.shape[0] != t.shape[0] or xs.shape[0] == 0:
        raise ValueError(f"expected xs of shape (K, n, d) with K = len(t); got {xs.shape}, {t.shape}")
    K, n, d = xs.shape
    cos_idx = chosen_frames(K, n) if cos_idx is None else np.asarray(cos_idx, dtype=np.int64)
    if cos_idx.size and (cos_idx.min() < 0 or cos_idx.max() >= K):
        raise ValueError("cos_idx: frame index out of range")
    where = {int(k): i for i, k in enumerate(cos_idx)}
    cos = np.empty((len(cos_idx), n, n), dtype=np.float32)
    hist = np.empty((bins, K), dtype=np.float32)
    min_cos = np.empty(K)
    omc = np.empty(K)
    second = np.zeros((d, d))
    for k in range(K):
        x = xs[k]
        hist[:, k] = pair_histogram(x, bins)
        c = cosine_matrix(x)
        min_cos[k] = float(c.min()) if n > 1 else 1.0
        omc[k] = one_minus_mean_cos(x)
        if k in where:
            cos[where[k]] = c
        second += (x.T @ x).astype(np.float64)
    w, vecs = np.linalg.eigh(second)
    if d <= 3:
        basis, explained = np.eye(d, 3), 1.0
    else:
        basis = vecs[:, ::-1][:, :3]
        explained = float(w[::-1][:3].sum() / max(w.sum(), 1e-300))
    x3 = (xs @ basis.astype(xs.dtype)).astype(np.float32)
    return Diagnostics(
        t=t, min_cos=min_cos, one_minus_mean_cos=omc, hist_edges=hist_edges(bins), hist=hist,
        cos_idx=cos_idx, cos=cos, x3=x3, explained=explained,
        collapse_t=collapse_time(t, min_cos, eps), eps=eps,
    )  # fmt: skip


def flops_estimate(scenario: Scenario) -> float:
    """The engine's work estimate of a scenario (flops), for time estimates."""
    return _limits.estimated_evaluations(scenario) * _limits.scenario_work_per_evaluation(scenario)


def finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v
