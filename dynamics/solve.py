"""One entry point, ``simulate``, in the style of ``scipy.integrate.solve_ivp`` / diffrax.

    result = simulate(scenario, progress=None, stop=None)
    result.t  (K,)        saved times: 0, T/(frames-1), …, T (fewer if stopped early)
    result.x  (K, n, d)   tokens at those times; (K, B, n, d) for an ensemble
    result.status         0 reached T · 1 stopped by ``stop`` · 2 cancelled · -1 failed
    result.message        one sentence for a person

Integrators (``scenario.integrator``), all on the manifold {x : xᵀPx = 1}:

* ``euler``: X ← R(X + h F(t, X)) with the retraction R(x) = x/√(xᵀPx) — exactly a stack of
  discrete attention layers with residual connection and normalisation, of step h;
* ``rk4``: classical fourth-order Runge–Kutta on the ambient field (attention re-evaluated at
  every stage), retracted after each step;
* ``adaptive``: ``scipy.integrate.solve_ivp`` (``method``, ``rtol``, ``atol``); saved states are
  retracted.

Fixed steps are equal and at most ``dt``, chosen so every saved time is hit exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from . import limits as _limits
from .errors import ScenarioError
from .field import AttentionField
from .initial import initial_tokens
from .matrices import build_heads
from .scenario import Scenario

SUCCESS, STOPPED, CANCELLED, FAILED = 0, 1, 2, -1

Progress = Callable[[float], bool | None]
"""Called with the fraction done in [0, 1]; returning False cancels the run."""


class Consensus:
    """Stop event: all tokens within ``tol`` of each other (max pairwise Euclidean distance)."""

    def __init__(self, tol: float = 1e-6) -> None:
        if not tol > 0:
            raise ValueError("tol must be positive")
        self.tol = tol

    def distance(self, X: np.ndarray) -> float:
        """max_ij ‖x_i − x_j‖ (over all systems of an ensemble)."""
        X = X - X.mean(axis=-2, keepdims=True)  # centred: no √ε floor from the Gram identity
        sq = np.vecdot(X, X)
        g = X @ np.swapaxes(X, -1, -2)
        d2 = sq[..., :, None] + sq[..., None, :] - 2 * g
        return float(np.sqrt(max(float(d2.max()), 0.0)))

    def __call__(self, t: float, X: np.ndarray) -> bool:
        return self.distance(X) < self.tol

    def __repr__(self) -> str:
        return f"Consensus(tol={self.tol:g})"


Stop = Callable[[float, np.ndarray], bool]


@dataclass(frozen=True)
class Ensemble:
    """B systems integrated together: one per seed (tokens redrawn) and/or one per β.

    The weights are those of the base scenario for every system. Give ``seeds``, ``betas`` or
    both (then of equal length).
    """

    seeds: tuple[int, ...] | None = None
    betas: tuple[float, ...] | None = None

    def size(self) -> int:
        sizes = {len(v) for v in (self.seeds, self.betas) if v is not None}
        if not sizes:
            raise ScenarioError("ensemble: give seeds or betas")
        if len(sizes) > 1:
            raise ScenarioError("ensemble: seeds and betas must have the same length")
        size = sizes.pop()
        if size == 0:
            raise ScenarioError("ensemble: empty")
        return size


@dataclass(frozen=True)
class Result:
    """What ``simulate`` returns; arrays are read-only."""

    t: np.ndarray
    x: np.ndarray
    status: int
    message: str
    scenario: Scenario
    steps: int = 0
    evaluations: int = 0
    step_size: float = 0.0
    wall_time: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """True when the run reached T or stopped on its event."""
        return self.status in (SUCCESS, STOPPED)

    @property
    def x_final(self) -> np.ndarray:
        return self.x[-1]


def _field_and_x0(scenario: Scenario, ensemble: Ensemble | None):
    heads = build_heads(scenario)
    if ensemble is None:
        x0 = initial_tokens(scenario)
        fld = AttentionField.from_scenario(scenario, heads)
        return fld, x0
    size = ensemble.size()
    seeds = ensemble.seeds or (scenario.seed,) * size
    x0 = np.stack([initial_tokens(scenario.replace(seed=int(s))) for s in seeds])
    betas = None if ensemble.betas is None else np.asarray(ensemble.betas, dtype=float)
    if betas is not None and (np.any(~np.isfinite(betas)) or np.any(betas < 0)):
        raise ScenarioError("ensemble: betas must be finite and ≥ 0")
    fld = AttentionField.from_scenario(scenario, heads, beta=betas)
    return fld, x0


def simulate(
    scenario: Scenario,
    progress: Progress | None = None,
    stop: Stop | None = None,
    *,
    ensemble: Ensemble | None = None,
    limits: _limits.Limits | None = None,
) -> Result:
    """Integrate the attention dynamics of ``scenario`` from 0 to T.

    ``stop`` (e.g. ``Consensus(1e-6)``) is checked at every saved time; when it returns True the
    run ends there with status 1. ``progress`` is called after every saved time. Raises
    :class:`ScenarioError` (or its subclass ``BudgetError``) before running for anything refused;
    numerical failure during the run is reported in ``status``/``message``, never raised.
    """
    lim = limits or _limits.Limits()
    systems = 1 if ensemble is None else ensemble.size()
    _limits.check(scenario, lim, systems)
    fld, x0 = _field_and_x0(scenario, ensemble)
    X = np.array(x0, dtype=scenario.dtype)
    fld.retract(X)
    t_frames = np.linspace(0.0, scenario.T, scenario.frames)
    t_frames[-1] = scenario.T
    start = time.perf_counter()
    with np.errstate(all="ignore"):
        if scenario.integrator == "adaptive":
            out = _run_adaptive(scenario, fld, X, t_frames, progress, stop, lim, systems)
        else:
            out = _run_fixed(scenario, fld, X, t_frames, progress, stop)
    t, xs, status, message, steps, h = out
    xs.setflags(write=False)
    t.setflags(write=False)
    return Result(
        t=t,
        x=xs,
        status=status,
        message=message,
        scenario=scenario,
        steps=steps,
        evaluations=fld.evaluations,
        step_size=h,
        wall_time=time.perf_counter() - start,
        extra=fld.report(),  # attention-variant statistics (Sinkhorn iterations, error), or {}
    )


def _report(progress: Progress | None, fraction: float) -> bool:
    """Call the progress callback; True means: go on."""
    # a plain float: a callback's own comparison (``f < 0.5``) then returns a bool, not np.False_
    return progress is None or progress(min(1.0, float(fraction))) is not False


def _run_fixed(scenario, fld: AttentionField, X, t_frames, progress, stop):
    per, h = _limits.fixed_steps(scenario)
    K = len(t_frames)
    xs = np.empty((K, *X.shape), dtype=X.dtype)
    xs[0] = X
    rk4 = scenario.integrator == "rk4"
    steps = 0
    # The stages live in preallocated arrays: the same arithmetic as X ← X + h·F(t, X) (Euler) and
    # X ← X + (h/6)(k1 + 2k2 + 2k3 + k4) (RK4), without allocating. The new state is formed in k1's
    # array and the two arrays swap roles: writing into X itself, which the BLAS threads have just
    # read, costs a cache-line transfer per line (1 ms a step at n=1024, d=768 on 2 cores).
    evaluate = fld._evaluate_into
    k1 = np.empty_like(X)
    if rk4:
        k2, k3, k4, Xs = (np.empty_like(X) for _ in range(4))
    for k in range(1, K):
        t0 = t_frames[k - 1]
        for s in range(per):
            t = t0 + s * h
            if rk4:
                evaluate(t, X, k1)
                np.multiply(k1, h / 2, out=Xs)
                Xs += X
                evaluate(t + h / 2, Xs, k2)
                np.multiply(k2, h / 2, out=Xs)
                Xs += X
                evaluate(t + h / 2, Xs, k3)
                np.multiply(k3, h, out=Xs)
                Xs += X
                evaluate(t + h, Xs, k4)
                k2 += k3
                k2 *= 2
                k1 += k4
                k1 += k2
                k1 *= h / 6
            else:
                evaluate(t, X, k1)
                k1 *= h
            k1 += X
            fld.retract(k1)
            X, k1 = k1, X
        steps += per
        xs[k] = X
        if not np.all(np.isfinite(X)):
            return (
                t_frames[: k + 1],
                xs[: k + 1],
                FAILED,
                f"the state became non-finite before t = {t_frames[k]:.4g}; try a smaller dt (now {h:.3g})",
                steps,
                h,
            )
        if stop is not None and stop(float(t_frames[k]), X):
            return (
                t_frames[: k + 1],
                xs[: k + 1],
                STOPPED,
                f"stopped at t = {t_frames[k]:.4g}: {stop!r} met",
                steps,
                h,
            )
        if not _report(progress, k / (K - 1)):
            return (t_frames[: k + 1], xs[: k + 1], CANCELLED, "cancelled", steps, h)
    return t_frames, xs, SUCCESS, f"reached T = {scenario.T:g}", steps, h


class _Abort(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _run_adaptive(scenario, fld: AttentionField, X, t_frames, progress, stop, lim, systems):
    shape = X.shape
    T = scenario.T
    per_eval = _limits.work_per_evaluation(scenario.n, scenario.d, scenario.n_heads, systems)
    max_evals = max(100, int(lim.max_work / per_eval))
    last = [0.0]

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        if fld.evaluations >= max_evals:
            raise _Abort(FAILED, f"work budget exhausted at t = {t:.4g} (tolerances too tight?)")
        if progress is not None and T > 0 and t - last[0] >= T / 100:
            last[0] = t
            if not _report(progress, t / T):
                raise _Abort(CANCELLED, "cancelled")
        Xt = y.reshape(shape)
        return fld(t, Xt.astype(fld.dtype, copy=False)).ravel()

    events = None
    if stop is not None:
        # A continuous event function for solve_ivp: crosses zero when stop becomes true.
        def event(t: float, y: np.ndarray) -> float:
            return -1.0 if stop(t, y.reshape(shape)) else 1.0

        event.terminal = True  # type: ignore[attr-defined]
        events = [event]

    if T == 0:
        xs = np.repeat(X[None], len(t_frames), axis=0)
        return t_frames, xs, SUCCESS, "T = 0: nothing to integrate", 0, 0.0
    try:
        sol = solve_ivp(
            rhs,
            (0.0, T),
            X.astype(np.float64).ravel(),
            method=scenario.method,
            t_eval=t_frames,
            rtol=scenario.rtol,
            atol=scenario.atol,
            events=events,
            first_step=min(scenario.dt, T),
        )
    except _Abort as abort:
        return t_frames[:1], X[None].copy(), abort.status, str(abort), 0, 0.0
    xs = sol.y.T.reshape(-1, *shape).astype(scenario.dtype)
    t = np.asarray(sol.t, dtype=float)
    for k in range(len(xs)):
        fld.retract(xs[k])
    steps, mean_h = 0, math.nan  # solve_ivp does not report its accepted steps
    if sol.status == -1 or not np.all(np.isfinite(xs)):
        return t, xs, FAILED, f"solve_ivp failed: {sol.message}", steps, mean_h
    if sol.status == 1:
        t_stop = float(sol.t_events[0][0])
        y_stop = sol.y_events[0][0].reshape(shape).astype(scenario.dtype)
        fld.retract(y_stop)
        t = np.append(t[t < t_stop], t_stop)
        xs = np.concatenate([xs[: len(t) - 1], y_stop[None]])
        return t, xs, STOPPED, f"stopped at t = {t_stop:.4g}: {stop!r} met", steps, mean_h
    if last[0] < T:  # 1.0 may already have been reported from the last stage at t = T
        _report(progress, 1.0)
    return t, xs, SUCCESS, f"reached T = {T:g} ({sol.nfev} evaluations)", steps, mean_h


def effective_dt(scenario: Scenario) -> float:
    """The fixed step actually used (≤ dt, so that saved times are hit exactly)."""
    return _limits.fixed_steps(scenario)[1] if scenario.frames > 1 else math.nan
