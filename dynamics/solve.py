"""One entry point, ``simulate``, in the style of ``scipy.integrate.solve_ivp`` / diffrax.

    result = simulate(scenario, progress=None, stop=None)
    result.t  (K,)        saved times: 0, T/(frames-1), …, T (fewer if stopped early)
    result.x  (K, n, d)   tokens at those times; (K, B, n, d) for an ensemble
    result.status         a Status: 0 reached T · 1 stopped by ``stop`` · 2 cancelled · −1 failed ·
                          3 inaccurate (reached T, but off the manifold by more than rtol/atol promise)
    result.message        one sentence for a person
    result.max_deviation  max_i |√(x_iᵀPx_i) − 1| over the integrator's own states, before retraction
    result.attention(k)   the attention matrices α^h at saved time k (computed on demand)

Integrators (``scenario.integrator``), all on the manifold {x : xᵀPx = 1}, all through the one
integration core (``dynamics._integrate``):

* ``euler``: X ← R(X + h F(t, X)) with the retraction R(x) = x/√(xᵀPx) — exactly a stack of
  discrete attention layers with residual connection and normalisation, of step h;
* ``rk4``: classical fourth-order Runge–Kutta on the ambient field (attention re-evaluated at
  every stage), retracted after each step;
* ``adaptive``: a ``scipy.integrate`` solver (``method``, ``rtol``, ``atol``) on the neutral
  ambient field (see ``dynamics.field``: it neither attracts nor repels states off the manifold);
  saved states are retracted, the deviation is measured before.

Fixed steps are equal and at most ``dt`` (to a relative 1e-9), chosen so every saved time is hit
exactly (``dynamics._integrate.steps_per_interval``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import limits as _limits

# the run's status and progress types, re-exported (pages import them from here)
from ._integrate import CANCELLED as CANCELLED
from ._integrate import FAILED as FAILED
from ._integrate import INACCURATE as INACCURATE
from ._integrate import RK4, Adaptive, Euler, Outcome, integrate
from ._integrate import STOPPED as STOPPED
from ._integrate import SUCCESS as SUCCESS
from ._integrate import Progress as Progress
from ._integrate import Status as Status
from .errors import ScenarioError
from .field import AttentionField
from .initial import initial_tokens
from .matrices import build_heads
from .scenario import Scenario
from .threads import blas_threads


class Consensus:
    """Stop event: all tokens within ``tol`` of each other (max pairwise Euclidean distance).

    Continuous for the adaptive integrator: ``value(t, X) = distance(X) − tol`` crosses zero where
    the run stops (located by root finding, not by bisecting a ±1 step).
    """

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

    def value(self, t: float, X: np.ndarray) -> float:
        """distance(X) − tol: positive before consensus, ≤ 0 from it on."""
        return self.distance(X) - self.tol

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
class Result(Outcome):
    """What ``simulate`` returns; arrays are read-only.

    ``max_deviation``: the largest |√(x_iᵀPx_i) − 1| of the states the integrator produced, before
    any retraction (fixed steps: every step; adaptive: every accepted step and saved time).
    """

    t: np.ndarray
    x: np.ndarray
    status: Status
    message: str
    scenario: Scenario
    steps: int = 0
    evaluations: int = 0
    step_size: float = 0.0
    wall_time: float = 0.0
    extra: dict = field(default_factory=dict)
    max_deviation: float | None = None
    ensemble: Ensemble | None = None
    work: float = 0.0  # flops of the field evaluations made (for a limits.RateMeter)

    @property
    def x_final(self) -> np.ndarray:
        return self.x[-1]

    @cached_property
    def _field(self) -> AttentionField:
        return _field_and_x0(self.scenario, self.ensemble, tokens=False)[0]

    def attention(self, k: int | None = None, head: int | None = None) -> np.ndarray:
        """The attention matrices α^h(t_k) of the saved states, computed on demand from the field.

        Shape (heads, n, n) at one saved index ``k`` ((heads, B, n, n) for an ensemble), or with
        a leading axis K over every saved time when ``k`` is None; ``head`` selects one head (its
        axis dropped). Masked entries are 0; softmax rows sum to 1.
        """
        fld = self._field
        idx = range(len(self.t)) if k is None else [range(len(self.t))[k]]
        with np.errstate(all="ignore"):
            mats = [fld.attention_matrices(float(self.t[i]), self.x[i]) for i in idx]
        out = np.stack(mats) if k is None else mats[0]
        if head is not None:
            out = out[:, head] if k is None else out[head]
        return out


def _field_and_x0(scenario: Scenario, ensemble: Ensemble | None, *, tokens: bool = True):
    """The field (neutral for the adaptive integrator, which never retracts) and the tokens."""
    heads = build_heads(scenario)
    neutral = scenario.integrator == "adaptive"
    if ensemble is None:
        x0 = initial_tokens(scenario) if tokens else None
        fld = AttentionField.from_scenario(scenario, heads, neutral=neutral)
        return fld, x0
    size = ensemble.size()
    seeds = ensemble.seeds or (scenario.seed,) * size
    x0 = np.stack([initial_tokens(scenario.replace(seed=int(s))) for s in seeds]) if tokens else None
    betas = None if ensemble.betas is None else np.asarray(ensemble.betas, dtype=float)
    if betas is not None and (np.any(~np.isfinite(betas)) or np.any(betas < 0)):
        raise ScenarioError("ensemble: betas must be finite and ≥ 0")
    fld = AttentionField.from_scenario(scenario, heads, beta=betas, neutral=neutral)
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
    per_evaluation = _limits.scenario_work_per_evaluation(scenario, systems)
    with blas_threads(per_evaluation) as threads:
        return _simulate(scenario, progress, stop, ensemble, lim, per_evaluation, threads)


def _solver(scenario: Scenario) -> Euler | RK4 | Adaptive:
    if scenario.integrator == "adaptive":
        return Adaptive(scenario.method, scenario.rtol, scenario.atol, first_step=scenario.dt)
    return RK4(scenario.dt) if scenario.integrator == "rk4" else Euler(scenario.dt)


def _simulate(scenario, progress, stop, ensemble, lim, per_evaluation: float, threads: int) -> Result:
    fld, x0 = _field_and_x0(scenario, ensemble)
    X = fld.retract(np.array(x0, dtype=scenario.dtype))
    manifold = fld.manifold(outward=scenario.integrator == "euler")
    start = time.perf_counter()  # wall_time: the integration (and saving frames), not the set-up
    t_frames = np.linspace(0.0, scenario.T, scenario.frames)
    t_frames[-1] = scenario.T
    solver = _solver(scenario)
    h = effective_dt(scenario)
    sol = integrate(
        fld,
        X,
        t_frames,
        solver,
        manifold=manifold,
        event=stop,
        progress=progress,
        max_evaluations=max(100, int(lim.max_work / per_evaluation)),
        failure_hint="" if isinstance(solver, Adaptive) else f"; try a smaller dt (now {h:.3g})",
    )
    xs = np.asarray(sol.y, dtype=scenario.dtype)
    if isinstance(solver, Adaptive):  # saved states onto the manifold (measured before, in sol)
        with np.errstate(all="ignore"):
            for k in range(len(xs)):
                fld.retract(xs[k])
    t = np.array(sol.t, dtype=float)
    xs.setflags(write=False)
    t.setflags(write=False)
    return Result(
        t=t,
        x=xs,
        status=sol.status,
        message=sol.message,
        scenario=scenario,
        steps=sol.steps,
        evaluations=fld.evaluations,
        step_size=h if not isinstance(solver, Adaptive) else sol.step_size,
        wall_time=time.perf_counter() - start,
        # the attention kind's statistics (Sinkhorn iterations, error) and the BLAS threads used
        extra={**fld.report(), "blas_threads": threads},
        max_deviation=sol.max_deviation,
        ensemble=ensemble,
        work=fld.evaluations * per_evaluation,
    )


def _run_fixed(scenario: Scenario, fld: AttentionField, X, t_frames, progress, stop):
    """(t, xs, status, message, steps, h) of a fixed-step run through the core (for dynamics.deep)."""
    h = effective_dt(scenario)
    sol = integrate(
        fld, X, t_frames, _solver(scenario), manifold=fld.manifold(outward=scenario.integrator == "euler"),
        event=stop, progress=progress,
        failure_hint=f"; try a smaller dt (now {h:.3g})",
    )  # fmt: skip
    return sol.t, sol.y, sol.status, sol.message, sol.steps, h


def effective_dt(scenario: Scenario) -> float:
    """The fixed step actually used (≤ dt, so that saved times are hit exactly)."""
    return _limits.fixed_steps(scenario)[1] if scenario.frames > 1 else math.nan
