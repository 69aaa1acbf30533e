"""Phase diagrams (Geshkovski et al., §D.5 of the math notes): sweep β × seeds, batched, via Dask.

    sweep = Sweep(betas=(0.1, 9.0, 90), systems=2048)          # the headline sweep (per β!)
    result = run_sweep(sweep, progress=None, cancel=None, client=None)
    result.betas (B,)   result.t (K,)   result.stat (B, K)     mean over systems
    result.stats {"pairs": (B, K), "clusters": (B, K)}         every requested statistic
    result.to_npz(path) / SweepResult.from_npz(path)           the sweep JSON is embedded

The model is the engine's (dynamics.field): SA or USA on the unit sphere, integrated with the
engine's projected Euler step X ← R(X + h Π_X F(X)) with h = T / ceil(T/dt) (the authors' step
``dt = 0.1``); every system starts from ``initial_tokens(base.replace(seed=s))`` — the engine's
tokens for seed s — so one system of a sweep is the engine's ``simulate`` of that scenario (tested
to 1e-5 in float32, 1e-12 in float64). The same seeds are used for every β ("common random
numbers": the diagram is smooth in β and a system's trajectory depends only on (seed, β, weights)).

"2048 systems" is read as in the authors' ``phase-diagrams.py``: a batch of 2048 systems *for each*
β, so the headline sweep integrates 90 × 2048 = 184 320 systems of 32 tokens for 300 steps.

Statistics at each checkpoint t_k (``checkpoints`` values of linspace(0, T, K); the state used is
the one after ceil(t_k/h) steps, as in the authors' script, except t_0 = 0 → the initial state):

* ``pairs``: fraction of pairs i ≠ j with ⟨x_i, x_j⟩ > 0.999 ("probability of clustering");
* ``clusters``: number of connected components of the graph ⟨x_i, x_j⟩ > 0.9999. The authors
  take the rank of that 0/1 matrix, which is the same number whenever the graph is a union of
  cliques (clean clusters); components are cheaper and defined for every configuration.

Both are averaged over the systems (the authors report the median cluster count; ``per_system``
keeps every system's value). Counts are summed as integers, so the mean does not depend on how
the work is chunked.

Random weights (per system, redrawn every ``regen_period`` Euler steps when > 0), from
``default_rng([seed, 2, epoch])``, as in the authors' script: QᵀK = ``identity`` | ``gaussian``
(G₁G₂/√d, i.e. Q and K Gaussian) | ``goe`` ((G + Gᵀ)/√2); V = ``identity`` | ``gaussian``
(BBᵀ/√d) | ``plus_qk`` / ``minus_qk`` (±QᵀK/c, c = √d, √(d+1) for GOE, 1 for identity). Values act
as V x_j (the engine's convention; the authors' script multiplies rows by V, i.e. uses Vᵀ).

Two kernels:

* ``_Circle`` (d = 2, Q = K = V = I, one head): tokens stored as (cos θ, sin θ) with the systems on
  the last (contiguous) axis and the pairs visited by diagonals of the upper triangle — half the
  exponentials of the full matrix, no gathers, no BLAS on 2×2 blocks. Exact (the same scheme, not
  an approximation): Π_x(Σ α_ij x_j) = ω_i x_i^⊥ with ω_i = Σ_j α_ij sin(θ_j − θ_i).
* ``_Generic``: (B, n, d) arrays with per-system β and weights, batched matmul.

Dask: the sweep is cut into chunks (a block of β values × a block of systems); each chunk is a
task ``_run_chunk(sweep_json, …)`` that returns integer counts. ``client`` is a
``distributed.Client``, a scheduler address (``tcp://…``), ``"serial"`` (no Dask: the reference),
or None: the scheduler in ``$ADX_DASK_SCHEDULER`` if set, else an in-process LocalCluster
(threads; started on the first sweep that needs it and closed after ``LOCAL_IDLE_SECONDS`` without
work — see ``LocalDask`` and ``local_client``).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from .errors import BudgetError, ScenarioError
from .initial import initial_tokens
from .scenario import Scenario, _boolean, _choice, _number, load_json

SUCCESS, CANCELLED, FAILED = 0, 2, -1
STATISTICS = ("pairs", "clusters")
QK_FAMILIES = ("identity", "gaussian", "goe")
V_FAMILIES = ("identity", "gaussian", "plus_qk", "minus_qk")
KERNELS = ("auto", "generic")
PAIR_THRESHOLD = 0.999
CLUSTER_THRESHOLD = 0.9999
ENV_SCHEDULER = "ADX_DASK_SCHEDULER"
#: The sweep of Fig. 3 at d = 2 (per β: 2048 systems).
HEADLINE = {"betas": {"min": 0.1, "max": 9.0, "count": 90}, "systems": 2048, "n": 32, "d": 2,
            "T": 30.0, "dt": 0.1, "checkpoints": 200}  # fmt: skip

_SWEEP_BASE = Scenario(n=32, d=2, T=30.0, dt=0.1, integrator="euler", dtype="float32", frames=2)
_SCENARIO_FIELDS = frozenset(f.name for f in fields(Scenario))
# Scenario fields a sweep does not use (it generates its own weights, tokens from seeds, Euler).
_UNUSED = ("x0", "heads", "mask", "space", "P", "value", "v_eigs", "qk", "qk_eigs", "qk_amp")
_MAX_LOGIT = 60.0  # above this |β⟨x, Ay⟩|, shift the softmax logits by β·max


@dataclass(frozen=True)
class SweepLimits:
    """Caps checked before a sweep runs (the app passes tighter ones)."""

    max_systems: int = 1_000_000  # systems in total (over β and the n/d/heads grid)
    max_betas: int = 2000
    max_checkpoints: int = 5000
    max_steps: int = 100_000
    max_n: int = 1024
    max_d: int = 1024
    max_heads: int = 16
    max_work: float = 1e14  # ≈ flops: systems · steps · heads · n² · (d + 8)


def _int_list(value: Any, name: str, lo: int, hi: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
        raise ScenarioError(f"{name}: expected a non-empty list of whole numbers")
    if len(value) > 64:
        raise ScenarioError(f"{name}: at most 64 values")
    out = tuple(_number(v, f"{name}[{i}]", lo, hi, integer=True) for i, v in enumerate(value))
    if len(set(out)) != len(out):
        raise ScenarioError(f"{name}: values must be distinct")
    return out


def _parse_betas(value: Any) -> tuple[float, ...]:
    """{"min", "max", "count"} (evenly spaced, as torch.linspace) or an explicit list."""
    if isinstance(value, Mapping):
        unknown = set(value) - {"min", "max", "count"}
        if unknown or not {"min", "max", "count"} <= set(value):
            raise ScenarioError("betas: expected {min, max, count} or a list of values")
        lo = _number(value["min"], "betas.min", 0.0, 1e4)
        hi = _number(value["max"], "betas.max", 0.0, 1e4)
        count = _number(value["count"], "betas.count", 1, 100_000, integer=True)
        if hi < lo:
            raise ScenarioError("betas: max must be ≥ min")
        if count == 1 and hi != lo:
            raise ScenarioError("betas: count 1 needs min = max")
        return tuple(float(b) for b in np.linspace(lo, hi, count))
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
        raise ScenarioError("betas: expected {min, max, count} or a non-empty list of values")
    if len(value) > 100_000:
        raise ScenarioError("betas: too many values")
    return tuple(_number(v, f"betas[{i}]", 0.0, 1e4) for i, v in enumerate(value))


@dataclass(frozen=True)
class Sweep:
    """A phase-diagram sweep: every β of ``betas`` × ``systems`` seeds (× the n/d/heads grid).

    ``base`` holds the model (n, d, n_heads, attention, β-independent fields, T, dt, init, seed,
    dtype); top-level Scenario keys in ``from_dict`` go into it. ``n_values`` / ``d_values`` /
    ``heads_values`` (optional) add grid axes. Invalid values raise ScenarioError.
    """

    base: Scenario = _SWEEP_BASE
    betas: tuple[float, ...] = tuple(float(b) for b in np.linspace(0.1, 9.0, 90))
    systems: int = 64
    n_values: tuple[int, ...] | None = None
    d_values: tuple[int, ...] | None = None
    heads_values: tuple[int, ...] | None = None
    qk: str = "identity"
    v: str = "identity"
    regen_period: int = 0
    checkpoints: int = 200
    statistics: tuple[str, ...] = ("pairs",)
    per_system: bool = False
    kernel: str = "auto"

    def __post_init__(self) -> None:
        s = object.__setattr__
        base = self.base
        if isinstance(base, Mapping):
            base = _base_from_dict(base)
        if not isinstance(base, Scenario):
            raise ScenarioError("base: expected a scenario object")
        if base.integrator != "euler":
            raise ScenarioError("integrator: sweeps use the projected Euler step (integrator 'euler')")
        for key in _UNUSED:
            if getattr(base, key) != getattr(_SWEEP_BASE, key):
                raise ScenarioError(
                    f"{key}: not used by sweeps (weights come from qk / v, tokens from seeds, sphere only)"
                )
        if base.T <= 0:
            raise ScenarioError("T: a sweep needs T > 0")
        s(self, "base", base)
        s(self, "betas", _parse_betas(self.betas))
        s(self, "systems", _number(self.systems, "systems", 1, 10_000_000, integer=True))
        s(self, "n_values", _int_list(self.n_values, "n_values", 2, 100_000))
        s(self, "d_values", _int_list(self.d_values, "d_values", 2, 4096))
        s(self, "heads_values", _int_list(self.heads_values, "heads_values", 1, 1024))
        s(self, "qk", _choice(self.qk, "qk", QK_FAMILIES))
        s(self, "v", _choice(self.v, "v", V_FAMILIES))
        s(self, "regen_period", _number(self.regen_period, "regen_period", 0, 10_000_000, integer=True))
        s(self, "checkpoints", _number(self.checkpoints, "checkpoints", 2, 100_000, integer=True))
        stats = self.statistics
        if isinstance(stats, str):
            stats = (stats,)
        if not isinstance(stats, Sequence) or len(stats) == 0:
            raise ScenarioError("statistics: expected a non-empty list of 'pairs' / 'clusters'")
        stats = tuple(_choice(v, "statistics", STATISTICS) for v in stats)
        if len(set(stats)) != len(stats):
            raise ScenarioError("statistics: listed twice")
        s(self, "statistics", stats)
        s(self, "per_system", _boolean(self.per_system, "per_system"))
        s(self, "kernel", _choice(self.kernel, "kernel", KERNELS))
        if base.attention == "unnormalized":
            if self.qk != "identity":
                raise ScenarioError("attention: unnormalized sweeps need qk 'identity' (no overflow bound)")
            n_min = min(n for n, _, _ in self.grid())
            limit = math.log(np.finfo(self.dtype).max) - math.log(n_min) - 5
            if max(self.betas) > limit:
                raise ScenarioError(
                    f"betas: unnormalized attention with β up to {max(self.betas):g} overflows "
                    f"{self.base.dtype}; use β ≤ {limit:.0f} or softmax"
                )

    # ------------------------------------------------------------------ derived
    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.base.dtype)

    @property
    def steps(self) -> int:
        """Euler steps of length h = T/steps ≤ dt."""
        return _n_steps(self.base.T, self.base.dt)

    @property
    def h(self) -> float:
        return self.base.T / self.steps

    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.base.T, self.checkpoints)

    def checkpoint_steps(self) -> np.ndarray:
        """Steps after which each checkpoint's state is measured: ceil(t_k/h)."""
        m = np.ceil(self.times() / self.h - 1e-9).astype(np.int64)
        return np.clip(m, 0, self.steps)

    def seeds(self) -> np.ndarray:
        return self.base.seed + np.arange(self.systems, dtype=np.int64)

    def grid(self) -> list[tuple[int, int, int]]:
        """(n, d, heads) of every grid point, in C order of (n_values, d_values, heads_values)."""
        ns = self.n_values or (self.base.n,)
        ds = self.d_values or (self.base.d,)
        hs = self.heads_values or (self.base.n_heads,)
        return [(n, d, h) for n in ns for d in ds for h in hs]

    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in (self.n_values, self.d_values, self.heads_values) if v is not None)

    def grid_axes(self) -> tuple[str, ...]:
        names = ("n", "d", "heads")
        vals = (self.n_values, self.d_values, self.heads_values)
        return tuple(name for name, v in zip(names, vals, strict=True) if v is not None)

    def total_systems(self) -> int:
        return self.systems * len(self.betas) * len(self.grid())

    def work(self) -> float:
        """≈ flops of the whole sweep (the budget measure)."""
        total = 0.0
        for n, d, h in self.grid():
            total += self.systems * len(self.betas) * self.steps * h * n * n * (d + 8.0)
        return total

    def fast_path(self, n: int, d: int, heads: int) -> bool:
        """True when the exact d = 2 circle kernel applies."""
        return (
            self.kernel == "auto" and d == 2 and heads == 1 and self.qk == "identity" and self.v == "identity"
        )

    def scenario(self, n: int, d: int, heads: int, beta: float, seed: int) -> Scenario:
        """The engine scenario of one system (weights: identity families only; else explicit)."""
        return self.base.replace(n=n, d=d, n_heads=heads, beta=float(beta), seed=int(seed))

    def check(self, limits: SweepLimits | None = None) -> float:
        """Raise BudgetError if over ``limits``; return the work estimate."""
        lim = limits or SweepLimits()
        for name, value, cap in (
            ("systems", self.total_systems(), lim.max_systems),
            ("betas", len(self.betas), lim.max_betas),
            ("checkpoints", self.checkpoints, lim.max_checkpoints),
            ("T/dt", self.steps, lim.max_steps),
        ):
            if value > cap:
                raise BudgetError(f"{name}: {value} exceeds the sweep limit of {cap}")
        for n, d, h in self.grid():
            for name, value, cap in (("n", n, lim.max_n), ("d", d, lim.max_d), ("heads", h, lim.max_heads)):
                if value > cap:
                    raise BudgetError(f"{name}: {value} exceeds the sweep limit of {cap}")
        work = self.work()
        if work > lim.max_work:
            raise BudgetError(
                f"work budget: this sweep needs about {work:.2g} flops, more than the limit of "
                f"{lim.max_work:.2g}; reduce systems, betas, n or T"
            )
        return work

    def replace(self, **changes: Any) -> Sweep:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base": self.base.to_dict(minimal=True)}
        for f in fields(self):
            if f.name == "base":
                continue
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sweep:
        """From a JSON-like mapping: sweep keys, a nested ``base`` and/or top-level scenario keys.

        Top-level ``n`` / ``d`` / ``n_heads`` given as lists become ``n_values`` / ``d_values`` /
        ``heads_values``. Unknown keys are refused.
        """
        if not isinstance(data, Mapping):
            raise ScenarioError("sweep: expected a JSON object of key: value pairs")
        data = dict(data)
        own = {f.name for f in fields(cls)}
        base = data.pop("base", None)
        if base is not None and not isinstance(base, Mapping | Scenario):
            raise ScenarioError("base: expected a scenario object")
        base_dict = base.to_dict(minimal=True) if isinstance(base, Scenario) else dict(base or {})
        for key, grid_key in (("n", "n_values"), ("d", "d_values"), ("n_heads", "heads_values")):
            if isinstance(data.get(key), list | tuple):
                if grid_key in data:
                    raise ScenarioError(f"{key}: give a list or {grid_key}, not both")
                data[grid_key] = data.pop(key)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in own:
                kwargs[key] = value
            elif key in _SCENARIO_FIELDS:
                base_dict[key] = value
            else:
                raise ScenarioError(f"unknown sweep key {key}")
        kwargs["base"] = _base_from_dict(base_dict)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> Sweep:
        return cls.from_dict(load_json(text))


def _base_from_dict(data: Mapping[str, Any]) -> Scenario:
    merged = _SWEEP_BASE.to_dict(minimal=True)
    merged.update(data)
    try:
        return Scenario.from_dict(merged)
    except ScenarioError as exc:
        raise ScenarioError(f"base: {exc}") from None


def _n_steps(T: float, dt: float) -> int:
    return max(1, math.ceil(T / dt - 1e-9))


# ------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class SweepResult:
    """Statistics of a sweep: ``stats[name]`` has shape (*grid_shape, len(betas), K).

    Rows of β values not finished (cancelled or failed chunks) are NaN.
    """

    sweep: Sweep
    betas: np.ndarray
    t: np.ndarray
    stats: dict[str, np.ndarray]
    status: int = SUCCESS
    message: str = ""
    wall_time: float = 0.0
    per_system: dict[str, np.ndarray] | None = None  # (*grid, len(betas), K, systems)
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def stat(self) -> np.ndarray:
        """The first requested statistic."""
        return self.stats[self.sweep.statistics[0]]

    @property
    def success(self) -> bool:
        return self.status == SUCCESS

    def to_npz(self, file: Any) -> None:
        arrays: dict[str, Any] = {
            "betas": self.betas,
            "t": self.t,
            "steps": self.sweep.checkpoint_steps(),
            "sweep": np.array(self.sweep.to_json()),
            "status": np.array(self.status),
            "message": np.array(self.message),
            "wall_time": np.array(self.wall_time),
            "version": np.array(_version()),
        }
        for name, arr in self.stats.items():
            arrays[f"stat_{name}"] = arr
        for name, arr in (self.per_system or {}).items():
            arrays[f"per_system_{name}"] = arr
        np.savez_compressed(file, **arrays)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.to_npz(buf)
        return buf.getvalue()

    @classmethod
    def from_npz(cls, file: Any) -> SweepResult:
        try:
            with np.load(file, allow_pickle=False) as z:
                sweep = Sweep.from_json(str(z["sweep"]))
                stats = {k[5:]: np.array(z[k]) for k in z.files if k.startswith("stat_")}
                per = {k[11:]: np.array(z[k]) for k in z.files if k.startswith("per_system_")}
                return cls(
                    sweep=sweep,
                    betas=np.array(z["betas"]),
                    t=np.array(z["t"]),
                    stats=stats,
                    status=int(z["status"]),
                    message=str(z["message"]),
                    wall_time=float(z["wall_time"]),
                    per_system=per or None,
                )
        except ScenarioError:
            raise
        except (OSError, KeyError, ValueError, EOFError) as exc:
            raise ScenarioError(f"not a sweep result file ({str(exc)[:100]})") from None


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------------------------------ tokens/weights
@functools.lru_cache(maxsize=64)
def _tokens(base_json: str, n: int, d: int, seed0: int, count: int) -> np.ndarray:
    """(count, n, d) float64 initial tokens of seeds seed0 … seed0+count−1 (the engine's)."""
    base = Scenario.from_json(base_json).replace(n=n, d=d, n_heads=1)
    out = np.empty((count, n, d))
    for i in range(count):
        out[i] = initial_tokens(base.replace(seed=seed0 + i))
    out.setflags(write=False)
    return out


def draw_weights(seed: int, epoch: int, d: int, heads: int, qk: str, v: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, V) of one system for one epoch, each (heads, d, d): A = QᵀK, values V x_j."""
    rng = np.random.default_rng([int(seed), 2, int(epoch)])
    A = np.empty((heads, d, d))
    V = np.empty((heads, d, d))
    for k in range(heads):
        if qk == "identity":
            a, norm_v = np.eye(d), 1.0
        elif qk == "gaussian":
            a = rng.standard_normal((d, d)) @ rng.standard_normal((d, d)) / math.sqrt(d)
            norm_v = math.sqrt(d)
        else:  # goe
            g = rng.standard_normal((d, d))
            a, norm_v = (g + g.T) / math.sqrt(2), math.sqrt(d + 1)
        if v == "identity":
            vv = np.eye(d)
        elif v == "gaussian":
            b = rng.standard_normal((d, d))
            vv = b @ b.T / math.sqrt(d)
        else:
            vv = (1.0 if v == "plus_qk" else -1.0) * a / norm_v
        A[k], V[k] = a, vv
    return A, V


# ------------------------------------------------------------------------------------ kernels
def _component_count(adj: np.ndarray) -> np.ndarray:
    """Connected components of each graph in a (..., n, n) boolean adjacency (with self-loops)."""
    n = adj.shape[-1]
    labels = np.broadcast_to(np.arange(n), adj.shape[:-1]).copy()
    big = np.int64(n)
    for _ in range(n):
        new = np.where(adj, labels[..., None, :], big).min(axis=-1)
        new = np.minimum(new, labels)
        # pointer jumping: label ← label of label
        new = np.take_along_axis(new, new, axis=-1)
        if np.array_equal(new, labels):
            break
        labels = new
    return (labels == np.arange(n)).sum(axis=-1)


class _Circle:
    """The exact d = 2, Q = K = V = I kernel on angles; state (cos θ, sin θ), shape (n, B)."""

    def __init__(self, x0: np.ndarray, betas: np.ndarray, h: float, softmax: bool, dtype: np.dtype) -> None:
        B, n, _ = x0.shape
        X = np.array(x0, dtype=dtype)
        r = 1 / np.sqrt(X[..., 0] * X[..., 0] + X[..., 1] * X[..., 1])  # the engine's retraction
        self.C = np.ascontiguousarray((X[..., 0] * r).T)
        self.S = np.ascontiguousarray((X[..., 1] * r).T)
        self.n, self.B, self.h, self.softmax = n, B, dtype.type(h), softmax
        self.beta = betas.astype(dtype)
        self.shift = bool(betas.max() > _MAX_LOGIT)
        self.diag = np.exp(self.beta - self.beta) if self.shift else np.exp(self.beta)
        shape = (n, B)
        self.Cb, self.Sb, self.G, self.D, self.T = (np.empty(shape, dtype) for _ in range(5))
        self.num, self.den = np.empty(shape, dtype), np.empty(shape, dtype)
        self.mask = np.empty(shape, bool)

    def step(self) -> None:
        C, S, n = self.C, self.S, self.n
        np.multiply(C, self.beta, out=self.Cb)
        np.multiply(S, self.beta, out=self.Sb)
        num, den = self.num, self.den
        num.fill(0)
        den[:] = self.diag
        for k in range(1, n):
            m = n - k
            g, dd, t = self.G[:m], self.D[:m], self.T[:m]
            np.multiply(self.Cb[:m], C[k:], out=g)  # β cos(θ_i − θ_j), j = i + k
            np.multiply(self.Sb[:m], S[k:], out=t)
            g += t
            if self.shift:
                g -= self.beta
            np.exp(g, out=g)
            np.multiply(C[:m], S[k:], out=dd)  # sin(θ_j − θ_i)
            np.multiply(S[:m], C[k:], out=t)
            dd -= t
            dd *= g
            num[:m] += dd
            num[k:] -= dd
            if self.softmax:
                den[:m] += g
                den[k:] += g
        if self.softmax:
            num /= den
        else:
            num *= self.beta.dtype.type(1.0 / n) * (np.exp(self.beta) if self.shift else 1)
        # x + h ω x^⊥, then x / ‖x‖ (the engine's retraction)
        num *= self.h
        C2 = C - num * S
        S2 = S + num * C
        r = C2 * C2
        r += S2 * S2
        np.sqrt(r, out=r)
        np.reciprocal(r, out=r)
        np.multiply(C2, r, out=C)
        np.multiply(S2, r, out=S)

    def pair_counts(self) -> np.ndarray:
        """Per system: #{i < j : ⟨x_i, x_j⟩ > 0.999}."""
        C, S, n = self.C, self.S, self.n
        count = np.zeros(self.B, np.int64)
        for k in range(1, n):
            m = n - k
            g, t, mask = self.G[:m], self.T[:m], self.mask[:m]
            np.multiply(C[:m], C[k:], out=g)
            np.multiply(S[:m], S[k:], out=t)
            g += t
            np.greater(g, PAIR_THRESHOLD, out=mask)
            count += np.count_nonzero(mask, axis=0)
        return count

    def cluster_counts(self) -> np.ndarray:
        """Per system: components of ⟨x_i, x_j⟩ > 0.9999 — on the circle, the arcs between
        consecutive sorted angles farther apart than arccos(0.9999)."""
        theta = np.sort(np.arctan2(self.S, self.C).astype(np.float64), axis=0)
        gaps = np.empty_like(theta)
        gaps[:-1] = np.diff(theta, axis=0)
        gaps[-1] = 2 * np.pi - (theta[-1] - theta[0])
        big = np.count_nonzero(np.cos(gaps) <= CLUSTER_THRESHOLD, axis=0)
        return np.maximum(big, 1)

    def state(self) -> np.ndarray:
        return np.stack([self.C.T, self.S.T], axis=-1)


class _Generic:
    """(B, n, d) systems with per-system β and weights (A, V per head); the engine's Euler step."""

    def __init__(self, x0, betas, h, softmax, dtype, weights: Callable[[int], tuple] | None) -> None:
        self.X = np.array(x0, dtype=dtype)
        self._retract(self.X)
        self.B, self.n, self.d = self.X.shape
        self.h, self.softmax, self.dtype = h, softmax, dtype
        self.beta = betas.astype(dtype)[:, None, None]
        self.weights = weights  # epoch → (A (B, h, d, d), V (B, h, d, d)), None: identity
        self.A = self.Vt = None
        self.heads = 1
        self.epoch = -1

    @staticmethod
    def _retract(X: np.ndarray) -> None:
        X /= np.sqrt(np.einsum("...i,...i->...", X, X))[..., None]

    def set_epoch(self, epoch: int, heads: int) -> None:
        self.heads = heads
        if self.weights is None or epoch == self.epoch:
            return
        A, V = self.weights(epoch)
        self.A = None if A is None else A.astype(self.dtype)
        self.Vt = None if V is None else np.ascontiguousarray(np.swapaxes(V, -1, -2), dtype=self.dtype)
        self.epoch = epoch

    def step(self) -> None:
        X = self.X
        Xt = np.ascontiguousarray(np.swapaxes(X, -1, -2))
        out = np.zeros_like(X)
        for k in range(self.heads):
            left = X if self.A is None else X @ self.A[:, k]
            S = (left * self.beta) @ Xt
            if self.A is not None or float(self.beta.max()) > _MAX_LOGIT:
                S -= S.max(axis=-1, keepdims=True)
            np.exp(S, out=S)
            Y = X if self.Vt is None else X @ self.Vt[:, k]
            W = S @ Y
            if self.softmax:
                W /= S.sum(axis=-1, keepdims=True)
            else:
                if self.A is not None:
                    raise ScenarioError("unnormalized attention with random QᵀK is not supported")
                W *= 1.0 / self.n
            out += W
        out -= np.einsum("...i,...i->...", X, out)[..., None] * X
        out *= self.h
        out += X
        self._retract(out)
        self.X = out

    def gram(self) -> np.ndarray:
        return self.X @ np.swapaxes(self.X, -1, -2)

    def pair_counts(self) -> np.ndarray:
        g = self.gram()
        iu = np.triu_indices(self.n, 1)
        return np.count_nonzero(g[:, iu[0], iu[1]] > PAIR_THRESHOLD, axis=-1)

    def cluster_counts(self) -> np.ndarray:
        return _component_count(self.gram() > CLUSTER_THRESHOLD)

    def state(self) -> np.ndarray:
        return self.X


def integrate_systems(
    sweep: Sweep,
    combo: tuple[int, int, int],
    betas: np.ndarray,
    seeds: np.ndarray,
    *,
    return_state: bool = False,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Integrate the systems (betas[i], seeds[i]) of one grid point; return per-system counts.

    ``counts[name]`` has shape (K, B) (int): #pairs i<j over the threshold, or #clusters.
    ``state`` (B, n, d) is the final state when ``return_state``. Systems are independent: the
    result of a system does not depend on which others are integrated with it.
    """
    n, d, heads = combo
    betas = np.asarray(betas, dtype=float)
    seeds = np.asarray(seeds, dtype=np.int64)
    dtype = sweep.dtype
    softmax = sweep.base.attention == "softmax"
    base_json = sweep.base.to_json()
    uniq, inverse = np.unique(seeds, return_inverse=True)
    # tokens per distinct seed (contiguous runs are cached: chunks reuse them across β)
    x0 = np.concatenate([_tokens(base_json, n, d, int(s0), int(c)) for s0, c in _runs(uniq)])[inverse]
    h = sweep.h
    if sweep.fast_path(n, d, heads):
        kern: Any = _Circle(x0, betas, h, softmax, dtype)
        epoch_of = None
    else:
        identity = sweep.qk == "identity" and sweep.v == "identity"

        def weights(epoch: int):
            ws = [draw_weights(int(s), epoch, d, heads, sweep.qk, sweep.v) for s in uniq]
            A = np.stack([w[0] for w in ws])[inverse]
            V = np.stack([w[1] for w in ws])[inverse]
            return (None if sweep.qk == "identity" else A), (None if sweep.v == "identity" else V)

        kern = _Generic(x0, betas, h, softmax, dtype, None if identity else weights)
        period = sweep.regen_period

        def epoch_of(step: int) -> int:
            return 0 if period <= 0 else step // period

    ck = sweep.checkpoint_steps()
    K = len(ck)
    counts = {name: np.zeros((K, len(betas)), np.int32) for name in sweep.statistics}
    finite = True

    def measure(step: int) -> None:
        for name in sweep.statistics:
            c = kern.pair_counts() if name == "pairs" else kern.cluster_counts()
            counts[name][ck == step] = c

    with np.errstate(all="ignore"):
        for step in range(sweep.steps + 1):
            if step in _set(ck):
                measure(step)
            if step == sweep.steps:
                break
            if cancel is not None and step % 16 == 0 and cancel():
                raise _Cancelled
            if epoch_of is not None:
                kern.set_epoch(epoch_of(step), heads)
            kern.step()
        state = kern.state()
        finite = bool(np.all(np.isfinite(state)))
    out: dict[str, Any] = {"counts": counts, "finite": finite}
    if return_state:
        out["state"] = np.array(state)
    return out


class _Cancelled(Exception):
    pass


def _set(ck: np.ndarray) -> frozenset:
    return frozenset(int(v) for v in ck)


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs (start, length) of sorted distinct integers."""
    out: list[tuple[int, int]] = []
    for v in values:
        v = int(v)
        if out and out[-1][0] + out[-1][1] == v:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((v, 1))
    return out


# ------------------------------------------------------------------------------------ chunks
@dataclass(frozen=True)
class Chunk:
    combo: int  # index into sweep.grid()
    beta_start: int
    beta_stop: int
    sys_start: int
    sys_stop: int


def plan_chunks(sweep: Sweep, chunk_systems: int = 2048) -> list[Chunk]:
    """Blocks of β × systems with about ``chunk_systems`` systems each (at least 1 β, 1 system)."""
    chunk_systems = max(1, int(chunk_systems))
    nb, ns = len(sweep.betas), sweep.systems
    out = []
    for c in range(len(sweep.grid())):
        if ns >= chunk_systems:
            for b in range(nb):
                for s0 in range(0, ns, chunk_systems):
                    out.append(Chunk(c, b, b + 1, s0, min(ns, s0 + chunk_systems)))
        else:
            per = max(1, chunk_systems // ns)
            for b0 in range(0, nb, per):
                out.append(Chunk(c, b0, min(nb, b0 + per), 0, ns))
    return out


def _run_chunk(sweep_json: str, chunk: Chunk) -> dict[str, Any]:
    """One Dask task: integrate a chunk; return its integer counts (K, nβ, nsys) per statistic."""
    sweep = _sweep_from_json_cached(sweep_json)
    combo = sweep.grid()[chunk.combo]
    nb, nsys = chunk.beta_stop - chunk.beta_start, chunk.sys_stop - chunk.sys_start
    betas = np.repeat(np.asarray(sweep.betas[chunk.beta_start : chunk.beta_stop]), nsys)
    seeds = np.tile(sweep.seeds()[chunk.sys_start : chunk.sys_stop], nb)
    res = integrate_systems(sweep, combo, betas, seeds)
    counts = {k: v.reshape(v.shape[0], nb, nsys) for k, v in res["counts"].items()}
    return {"chunk": chunk, "counts": counts, "finite": res["finite"]}


@functools.lru_cache(maxsize=8)
def _sweep_from_json_cached(text: str) -> Sweep:
    return Sweep.from_json(text)


# ------------------------------------------------------------------------------------ Dask
#: Seconds without a Dask task after which the in-process cluster is closed: an idle LocalCluster
#: keeps its event loop, heartbeats and worker threads ticking (≈ 3–12 % of a core for good).
LOCAL_IDLE_SECONDS = 60.0


class LocalDask:
    """An in-process LocalCluster started on demand and closed after ``idle_seconds`` without work.

    ``client()`` starts the cluster if needed (threads by default: one worker with ``workers``
    threads; ``processes=True``: ``workers`` single-threaded processes on loopback) and returns its
    ``distributed.Client``. A daemon thread polls every ``poll_seconds``; once the scheduler has held
    no task for ``idle_seconds`` since the last ``client()`` call, it closes the client and the
    cluster (no thread, no CPU left behind). The next ``client()`` starts a fresh cluster.
    Thread-safe; a client handed out stays usable while any task of it is on the scheduler.
    """

    def __init__(
        self,
        *,
        processes: bool = False,
        workers: int | None = None,
        idle_seconds: float = LOCAL_IDLE_SECONDS,
        poll_seconds: float | None = None,
    ) -> None:
        self.processes = bool(processes)
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.idle_seconds = float(idle_seconds)
        self.poll_seconds = float(poll_seconds or min(5.0, max(0.05, self.idle_seconds / 4)))
        self._lock = threading.Lock()
        self._client: Any = None
        self._last_busy = 0.0
        self._stop = threading.Event()
        self.starts = 0  # clusters started so far (each start costs ≈ 0.5–1 s)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._client is not None

    def client(self):
        """The running cluster's client, started now if there is none."""
        from distributed import Client, LocalCluster

        with self._lock:
            self._last_busy = time.monotonic()
            if self._client is not None and self._client.status == "running":
                return self._client
            self._shutdown_locked()
            cluster = LocalCluster(
                n_workers=self.workers if self.processes else 1,
                threads_per_worker=1 if self.processes else self.workers,
                processes=self.processes,
                dashboard_address=None,
                **({"host": "127.0.0.1"} if self.processes else {}),  # threads: the inproc:// transport
            )
            self._client = Client(cluster, set_as_default=False)
            self.starts += 1
            self._stop = threading.Event()
            threading.Thread(
                target=self._reap, args=(self._client, self._stop), name="adx-dask-idle", daemon=True
            ).start()
            return self._client

    def busy(self) -> bool:
        """True while the scheduler holds a task (submitted, running or not yet released)."""
        with self._lock:
            client = self._client
        if client is None:
            return False
        try:
            return bool(client.cluster.scheduler.tasks)
        except AttributeError:  # pragma: no cover - a cluster without an in-process scheduler
            return True

    def close(self) -> None:
        """Close the client and the cluster now (idempotent)."""
        with self._lock:
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        client, self._client = self._client, None
        self._stop.set()
        if client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()

    def _reap(self, client: Any, stop: threading.Event) -> None:
        """Poll until ``client`` has been idle for ``idle_seconds``, then close it."""
        while not stop.wait(self.poll_seconds):
            if self.busy():
                with self._lock:
                    self._last_busy = time.monotonic()
                continue
            with self._lock:
                if self._client is not client:
                    return  # closed or replaced meanwhile
                if time.monotonic() - self._last_busy >= self.idle_seconds:
                    self._shutdown_locked()
                    return


@functools.cache
def shared_local_dask(processes: bool = False, workers: int | None = None) -> LocalDask:
    """The process-wide ``LocalDask`` for one configuration (created on first use)."""
    return LocalDask(processes=processes, workers=workers)


def local_client(*, processes: bool = False, workers: int | None = None):
    """The in-process LocalCluster's client (threads by default), started on demand and closed
    after ``LOCAL_IDLE_SECONDS`` without work (see ``LocalDask``)."""
    return shared_local_dask(bool(processes), workers).client()


def resolve_client(client: Any = None):
    """None → $ADX_DASK_SCHEDULER or the local cluster; a str address → Client(address);
    ``"serial"`` → None (no Dask); a Client → itself."""
    if client is None:
        address = os.environ.get(ENV_SCHEDULER, "").strip()
        return _connect(address) if address else local_client()
    if isinstance(client, str):
        return None if client == "serial" else _connect(client)
    return client


@functools.lru_cache(maxsize=4)
def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout=10, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ScenarioError(f"Dask scheduler {address}: cannot connect ({str(exc)[:100]})") from None


# ------------------------------------------------------------------------------------ run
Progress = Callable[[float], bool | None]


def run_sweep(
    sweep: Sweep,
    progress: Progress | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    client: Any = None,
    *,
    limits: SweepLimits | None = None,
    chunk_systems: int = 2048,
) -> SweepResult:
    """Run ``sweep`` chunk by chunk (through Dask unless ``client="serial"``).

    ``progress(fraction)`` is called after every finished chunk; returning False cancels, as does
    ``cancel`` (an Event or a callable returning True). A cancelled sweep returns status 2 with
    the unfinished β rows NaN. Raises ScenarioError / BudgetError before running.
    """
    sweep.check(limits)
    cancelled = _cancel_fn(cancel)
    chunks = plan_chunks(sweep, chunk_systems)
    grid = sweep.grid()
    nb, K, ns = len(sweep.betas), sweep.checkpoints, sweep.systems
    totals = {k: np.zeros((len(grid), nb, K), np.int64) for k in sweep.statistics}
    per = (
        {k: np.zeros((len(grid), nb, K, ns), np.int32) for k in sweep.statistics}
        if sweep.per_system
        else None
    )
    done_rows = np.zeros((len(grid), nb, ns), bool)
    status, message, nonfinite = SUCCESS, "", False
    sweep_json = sweep.to_json()
    start = time.perf_counter()
    dask_client = resolve_client(client)

    def absorb(res: dict[str, Any]) -> None:
        nonlocal nonfinite
        ch: Chunk = res["chunk"]
        for name, c in res["counts"].items():
            totals[name][ch.combo, ch.beta_start : ch.beta_stop] += c.sum(axis=2, dtype=np.int64).T
            if per is not None:
                per[name][ch.combo, ch.beta_start : ch.beta_stop, :, ch.sys_start : ch.sys_stop] = (
                    c.transpose(1, 0, 2)
                )
        done_rows[ch.combo, ch.beta_start : ch.beta_stop, ch.sys_start : ch.sys_stop] = True
        nonfinite |= not res["finite"]

    finished = 0
    if dask_client is None:
        for ch in chunks:
            if cancelled():
                status, message = CANCELLED, "cancelled"
                break
            absorb(_run_chunk(sweep_json, ch))
            finished += 1
            if progress is not None and progress(finished / len(chunks)) is False:
                if finished < len(chunks):
                    status, message = CANCELLED, "cancelled"
                break
    else:
        from distributed import as_completed

        token = uuid.uuid4().hex  # unique keys: Dask would hand back an older result of a same key
        futures = [
            dask_client.submit(_run_chunk, sweep_json, ch, pure=False, key=f"adx-sweep-{token}-{i}")
            for i, ch in enumerate(chunks)
        ]
        try:
            iterator = as_completed(futures, loop=dask_client.loop)
            for fut in iterator:
                if cancelled():
                    status, message = CANCELLED, "cancelled"
                    break
                if fut.status == "error":
                    exc = fut.exception()
                    status, message = FAILED, f"a chunk failed: {type(exc).__name__}: {str(exc)[:200]}"
                    break
                absorb(fut.result())
                finished += 1
                if progress is not None and progress(finished / len(chunks)) is False:
                    if finished < len(chunks):
                        status, message = CANCELLED, "cancelled"
                    break
        finally:
            if finished < len(chunks):
                dask_client.cancel(futures)
    wall = time.perf_counter() - start

    pairs_norm = {}
    for n, _, _ in grid:
        pairs_norm[n] = n * (n - 1) / 2
    stats: dict[str, np.ndarray] = {}
    complete = done_rows.all(axis=2)  # (grid, β)
    for name, tot in totals.items():
        denom = np.array([pairs_norm[n] if name == "pairs" else 1.0 for n, _, _ in grid])
        mean = tot / (ns * denom[:, None, None])
        mean[~complete] = np.nan
        stats[name] = mean.reshape(*sweep.grid_shape(), nb, K)
    per_out = None
    if per is not None:
        per_out = {}
        for name, arr in per.items():
            a = arr.astype(np.float32)
            if name == "pairs":
                a /= np.array([pairs_norm[n] for n, _, _ in grid], np.float32)[:, None, None, None]
            a[~np.broadcast_to(done_rows[:, :, None, :], a.shape)] = np.nan
            per_out[name] = a.reshape(*sweep.grid_shape(), nb, K, ns)
    if status == SUCCESS:
        if nonfinite:
            status, message = FAILED, f"some systems became non-finite; try a smaller dt (now {sweep.h:.3g})"
        else:
            message = f"{sweep.total_systems()} systems × {sweep.steps} steps in {wall:.1f} s"
    return SweepResult(
        sweep=sweep,
        betas=np.asarray(sweep.betas),
        t=sweep.times(),
        stats=stats,
        status=status,
        message=message,
        wall_time=wall,
        per_system=per_out,
        extra={"chunks": len(chunks), "finished": finished},
    )


def _cancel_fn(cancel: Any) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return lambda: bool(cancel())


# ------------------------------------------------------------------------------------ equiangular
def rho_rhs(rho: np.ndarray, beta: np.ndarray, n: int, attention: str = "softmax") -> np.ndarray:
    """ρ̇ of the equiangular reduction (§D.4), vectorised over β."""
    if attention == "softmax":
        return 2 * (1 - rho) * ((n - 1) * rho + 1) / (np.exp(beta * (1 - rho)) + n - 1)
    return (2 / n) * np.exp(beta * rho) * (1 - rho) * ((n - 1) * rho + 1)


def equiangular_rho(betas, t, n: int, attention: str = "softmax", rho0: float = 0.0) -> np.ndarray:
    """ρ_β(t) for every β (rows) and t (columns), one vectorised high-accuracy solve."""
    betas = np.asarray(betas, dtype=float)
    t = np.asarray(t, dtype=float)
    sol = solve_ivp(
        lambda _s, y: rho_rhs(y, betas, n, attention),
        (0.0, float(t[-1])),
        np.full(betas.shape, float(rho0)),
        method="DOP853",
        t_eval=t,
        rtol=1e-10,
        atol=1e-13,
    )
    if not sol.success:  # pragma: no cover - the ODE is smooth and bounded
        raise RuntimeError(sol.message)
    return sol.y


def equiangular_curve(
    t,
    n: int,
    beta_range: tuple[float, float] = (0.1, 9.0),
    *,
    eps: float = 1e-3,
    rho0: float = 0.0,
    attention: str = "softmax",
    resolution: int = 400,
) -> np.ndarray:
    """For each t: the largest β in ``beta_range`` with ρ_β(t) ≥ 1 − ε (NaN if none).

    ρ is solved on a grid of ``resolution`` β values and the crossing located by linear
    interpolation of log(1 − ρ) between grid points (for SA ρ_β(t) decreases in β, so this is the boundary of
    the "already clustered" region {β ≤ curve(t)}).
    """
    t = np.asarray(t, dtype=float)
    lo, hi = float(beta_range[0]), float(beta_range[1])
    grid = np.linspace(lo, hi, resolution)
    rho = equiangular_rho(grid, t if t[0] == 0 else np.concatenate([[0.0], t]), n, attention, rho0)
    if t[0] != 0:
        rho = rho[:, 1:]
    target = 1.0 - eps
    ok = rho >= target  # (β, t)
    out = np.full(t.shape, np.nan)
    for k in range(t.size):
        idx = np.nonzero(ok[:, k])[0]
        if idx.size == 0:
            continue
        i = int(idx[-1])
        if i == resolution - 1:
            out[k] = hi
            continue
        # interpolate log(1 − ρ), nearly linear in β near the crossing
        r0, r1 = (math.log(max(1.0 - rho[j, k], 1e-300)) for j in (i, i + 1))
        frac = 0.0 if r0 == r1 else (math.log(eps) - r0) / (r1 - r0)
        out[k] = grid[i] + float(np.clip(frac, 0.0, 1.0)) * (grid[i + 1] - grid[i])
    return out


__all__ = [
    "CANCELLED",
    "FAILED",
    "HEADLINE",
    "LOCAL_IDLE_SECONDS",
    "STATISTICS",
    "SUCCESS",
    "Chunk",
    "LocalDask",
    "Sweep",
    "SweepLimits",
    "SweepResult",
    "draw_weights",
    "equiangular_curve",
    "equiangular_rho",
    "integrate_systems",
    "local_client",
    "plan_chunks",
    "resolve_client",
    "run_sweep",
    "shared_local_dask",
]
