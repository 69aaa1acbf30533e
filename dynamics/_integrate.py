"""The one integration core of the engine (private): every model integrates through ``integrate``.

In the style of ``diffrax.diffeqsolve`` / ``scipy.integrate.solve_ivp``::

    sol = integrate(field, y0, t_save, RK4(dt), manifold=None, event=None, progress=None,
                    max_evaluations=None)
    sol.t, sol.y (K, *y0.shape), sol.status (Status), sol.message, sol.steps, sol.max_deviation

* ``field``: any object with ``evaluate_into(t, y, out) -> out`` (ẏ = F(t, y) written into
  ``out``), for any state shape; :class:`FunctionField` wraps a plain ``f(t, y) -> ẏ``.
* solvers (small strategy objects): :class:`Euler` and :class:`RK4` take equal steps ≤ ``dt``
  that land on every saved time (:func:`steps_per_interval`: one formula for every engine), in
  preallocated arrays (no allocation per step); :class:`Adaptive` steps a
  ``scipy.integrate`` solver (RK45, DOP853, RK23, Radau) with ``rtol`` / ``atol`` and reads the
  saved times off its dense output.
* ``manifold`` (optional): ``deviation(y) -> float`` (how far y is off the invariant set) and, for
  fixed steps, ``retract(y)`` (project back in place after every step) with ``drift() -> float``
  (the largest deviation it removed since the previous call). The deviation is measured on the
  states the integrator produced, *before* any retraction, so ``max_deviation`` is honest. An
  adaptive run whose deviation exceeds what its tolerances promise ends with status
  :attr:`Status.INACCURATE` (not a success).
* ``event`` (optional): a stop condition. An object with ``value(t, y) -> float`` is continuous
  (the run stops where it crosses from > 0 to ≤ 0; e.g. ``distance − tol``) and is located by
  root finding on the dense output; a plain callable ``(t, y) -> bool`` is checked at saved
  times (fixed steps) or accepted steps (adaptive).
* ``progress(fraction)``: called with plain floats in (0, 1], strictly increasing (fixed steps:
  at every saved frame; adaptive: at every percent of the span and at least every REPORT_SECONDS
  of wall time); returning False cancels. ``max_evaluations``: the work budget of an adaptive run
  (fixed runs are counted in advance by :mod:`dynamics.limits`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

import numpy as np
from scipy.integrate import DOP853, RK23, RK45, Radau
from scipy.optimize import brentq

Progress = Callable[[float], bool | None]
"""Called with the fraction done in (0, 1]; returning False cancels the run."""


class Status(IntEnum):
    """How a run ended. Integer values are stable (0 reached T · 1 stopped · 2 cancelled · −1 failed)."""

    FAILED = -1
    SUCCESS = 0
    STOPPED = 1
    CANCELLED = 2
    INACCURATE = 3

    @property
    def success(self) -> bool:
        """True when the run reached its end or its stop event, within its promised accuracy."""
        return self in (Status.SUCCESS, Status.STOPPED)

    @property
    def explanation(self) -> str:
        return MESSAGES[self]


FAILED, SUCCESS, STOPPED, CANCELLED, INACCURATE = (
    Status.FAILED,
    Status.SUCCESS,
    Status.STOPPED,
    Status.CANCELLED,
    Status.INACCURATE,
)


class Outcome:
    """Mixin of the result types: ``success`` from their ``status``."""

    status: int

    @property
    def success(self) -> bool:
        """True when the run reached its end or its stop event, within its promised accuracy."""
        return Status(self.status).success


MESSAGES: dict[Status, str] = {
    Status.FAILED: "the integration failed (non-finite state, solver failure or work budget)",
    Status.SUCCESS: "the integration reached the final time",
    Status.STOPPED: "the stop event occurred",
    Status.CANCELLED: "cancelled by the progress callback",
    Status.INACCURATE: (
        "reached the final time, but the state left its invariant set by more than the tolerances "
        "promise: the trajectory is not accurate to rtol/atol"
    ),
}

#: An adaptive step keeps its local error within atol + rtol·|y| (RMS over the components); a drift
#: off the invariant set larger than this many times that, per accepted step, was not controlled.
DEVIATION_SAFETY = 100.0
#: An adaptive run reports progress at every percent of its span and at least this often (wall
#: seconds), so a caller can stop a run whose steps are tiny compared with its span.
REPORT_SECONDS = 0.1


def steps_per_interval(span: float, dt: float) -> int:
    """Number of equal steps of size ≤ dt that cover ``span`` (0 for an empty span).

    ``round(span/dt)`` when span/dt is within a relative 1e-9 of a whole number (so T = 10,
    101 frames, dt = 0.01 gives exactly 10 steps of 0.01 per frame, whatever the rounding of
    0.1/0.01), else ``ceil(span/dt)``. The one formula of every engine.
    """
    if not span > 0:
        return 0
    q = span / dt
    r = round(q)
    if r >= 1 and abs(q - r) <= 1e-9 * q:
        return int(r)
    return max(1, math.ceil(q))


def report(progress: Progress | None, fraction: float) -> bool:
    """Call the progress callback with a plain float ≤ 1; True means: go on."""
    # a plain float: a callback's own comparison (``f < 0.5``) then returns a bool, not np.False_
    return progress is None or progress(min(1.0, float(fraction))) is not False


# ------------------------------------------------------------------------------------ protocols
class Field(Protocol):
    def evaluate_into(self, t: float, y: np.ndarray, out: np.ndarray) -> np.ndarray: ...


class Manifold(Protocol):
    def deviation(self, y: np.ndarray) -> float: ...

    def retract(self, y: np.ndarray) -> None: ...

    def drift(self) -> float: ...


class FunctionField:
    """A field given as a plain function ``f(t, y) -> ẏ`` (allocating), counted."""

    def __init__(self, fn: Callable[[float, np.ndarray], np.ndarray]) -> None:
        self.fn = fn
        self.evaluations = 0

    def evaluate_into(self, t: float, y: np.ndarray, out: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        np.copyto(out, self.fn(t, y))
        return out

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        return self.fn(t, y)


# ------------------------------------------------------------------------------------ solvers
@dataclass(frozen=True)
class Euler:
    """y ← y + h F(t, y), then the retraction (if any): equal steps h ≤ dt."""

    dt: float
    stages = 1


@dataclass(frozen=True)
class RK4:
    """Classical fourth-order Runge–Kutta on the ambient field, then the retraction (if any)."""

    dt: float
    stages = 4


_ADAPTIVE = {"RK45": RK45, "RK23": RK23, "DOP853": DOP853, "Radau": Radau}


@dataclass(frozen=True)
class Adaptive:
    """An adaptive ``scipy.integrate`` solver (``method``) with local error ≤ atol + rtol·|y|."""

    method: str = "DOP853"
    rtol: float = 1e-6
    atol: float = 1e-9
    first_step: float | None = None

    def deviation_bound(self, steps: int, scale: float) -> float:
        """What the tolerances promise for the drift off an invariant set after ``steps`` steps."""
        return DEVIATION_SAFETY * max(1, steps) * (self.atol + self.rtol * scale)


Solver = Euler | RK4 | Adaptive


@dataclass(frozen=True)
class Solution:
    """What ``integrate`` returns (arrays are the integrator's own; adapters freeze them)."""

    t: np.ndarray
    y: np.ndarray
    status: Status
    message: str
    steps: int = 0
    step_size: float = math.nan
    evaluations: int = 0
    max_deviation: float | None = None  # None: no manifold was given


class _Event:
    """A stop event: continuous (``value``) or a Boolean condition (``__call__``)."""

    def __init__(self, stop: Any) -> None:
        self.stop = stop
        self.continuous = callable(getattr(stop, "value", None))

    def value(self, t: float, y: np.ndarray) -> float:
        if self.continuous:
            return float(self.stop.value(t, y))
        return -1.0 if self.stop(t, y) else 1.0

    def met(self, t: float, y: np.ndarray) -> bool:
        return self.value(t, y) <= 0

    def describe(self, t: float) -> str:
        return f"stopped at t = {t:.4g}: {self.stop!r} met"


class Abort(Exception):
    """Raised by a field (or the core) to end a run with ``status`` and a one-line message."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------------------------ entry point
def integrate(
    field: Field,
    y0: np.ndarray,
    t_save: np.ndarray,
    solver: Solver,
    *,
    manifold: Manifold | None = None,
    event: Any = None,
    progress: Progress | None = None,
    max_evaluations: int | None = None,
    failure_hint: str = "",
) -> Solution:
    """Integrate ẏ = F(t, y) from y(t_save[0]) = y0 and save y at every time of ``t_save``.

    Numerical trouble ends the run with a status and a message (never an exception or a numpy
    warning). ``y0`` must already be on the manifold if one is given. ``failure_hint`` is
    appended to the message of a non-finite state (e.g. "try a smaller dt").
    """
    t_save = np.asarray(t_save, dtype=float)
    ev = None if event is None else _Event(event)
    with np.errstate(all="ignore"):
        if isinstance(solver, Adaptive):
            return _AdaptiveRun(
                field, y0, t_save, solver, manifold, ev, progress, max_evaluations, failure_hint
            ).run()
        return _fixed(field, y0, t_save, solver, manifold, ev, progress, failure_hint)


def _fixed(field, y0, t_save, solver, manifold, ev, progress, hint) -> Solution:
    K = len(t_save)
    X = np.array(y0, copy=True)
    xs = np.empty((K, *X.shape), dtype=X.dtype)
    xs[0] = X
    rk4 = isinstance(solver, RK4)
    evaluate = field.evaluate_into
    retract = None if manifold is None else manifold.retract
    deviation = 0.0 if manifold is None else manifold.deviation(X)
    steps = 0
    h = math.nan
    # The stages live in preallocated arrays: the same arithmetic as X ← X + h·F(t, X) (Euler) and
    # X ← X + (h/6)(k1 + 2k2 + 2k3 + k4) (RK4), without allocating. The new state is formed in k1's
    # array and the two arrays swap roles: writing into X itself, which the BLAS threads have just
    # read, costs a cache-line transfer per line (1 ms a step at n=1024, d=768 on 2 cores).
    k1 = np.empty_like(X)
    if rk4:
        k2, k3, k4, Xs = (np.empty_like(X) for _ in range(4))
    k = 1
    try:
        for k in range(1, K):  # k: the frame reached when a field aborts
            t0 = float(t_save[k - 1])
            span = float(t_save[k]) - t0
            per = steps_per_interval(span, solver.dt)
            h = span / per if per else 0.0
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
                if retract is not None:
                    retract(k1)
                X, k1 = k1, X
            steps += per
            xs[k] = X
            if manifold is not None:
                deviation = max(deviation, manifold.drift())
            done = (t_save[: k + 1], xs[: k + 1])
            if not np.all(np.isfinite(X)):
                message = f"the state became non-finite before t = {t_save[k]:.4g}"
                return Solution(*done, Status.FAILED, message + hint, steps, h, 0, _dev(manifold, deviation))
            if ev is not None and ev.met(float(t_save[k]), X):
                msg = ev.describe(float(t_save[k]))
                return Solution(*done, Status.STOPPED, msg, steps, h, 0, _dev(manifold, deviation))
            if not report(progress, k / (K - 1)):
                return Solution(*done, Status.CANCELLED, "cancelled", steps, h, 0, _dev(manifold, deviation))
    except (Abort, np.linalg.LinAlgError) as exc:
        status = exc.status if isinstance(exc, Abort) else Status.FAILED
        return Solution(t_save[:k], xs[:k], status, str(exc), steps, h, 0, _dev(manifold, deviation))
    message = (
        f"reached T = {t_save[-1]:g}" if K > 1 and t_save[-1] > t_save[0] else "T = 0: nothing to integrate"
    )
    return Solution(t_save, xs, Status.SUCCESS, message, steps, h, 0, _dev(manifold, deviation))


def _dev(manifold: Manifold | None, deviation: float) -> float | None:
    return None if manifold is None else float(deviation)


class _AdaptiveRun:
    """One adaptive run: a scipy solver stepped to T, saving frames from its dense output."""

    def __init__(self, field, y0, t_save, solver: Adaptive, manifold, ev, progress, max_evaluations, hint):
        self.field, self.solver, self.manifold, self.ev = field, solver, manifold, ev
        self.progress, self.max_evaluations, self.hint = progress, max_evaluations, hint
        self.shape = np.shape(y0)
        self.dtype = np.asarray(y0).dtype
        self.t_save = t_save
        self.t0, self.T = float(t_save[0]), float(t_save[-1])
        self.ys = np.empty((len(t_save), *self.shape), dtype=self.dtype)
        self.ys[0] = y0
        self.k = 1  # the next frame to save
        self.steps = 0
        self.evaluations = 0
        self.last_report = self.t0
        self.last_report_wall = time.perf_counter()
        self.deviation = 0.0 if manifold is None else manifold.deviation(np.asarray(y0))

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """The field for the solver: counted against the budget, in a new float64 array."""
        if self.max_evaluations is not None and self.evaluations >= self.max_evaluations:
            raise Abort(Status.FAILED, f"work budget exhausted at t = {t:.4g} (tolerances too tight?)")
        self.evaluations += 1
        out = np.empty(self.shape, dtype=self.dtype)  # new: the solver keeps references to its f values
        try:
            self.field.evaluate_into(t, y.reshape(self.shape).astype(self.dtype, copy=False), out)
        except np.linalg.LinAlgError as exc:
            raise Abort(Status.FAILED, f"the field failed at t = {t:.4g} ({exc})") from None
        # a non-finite value (a trial step too large) makes the error estimate non-finite: the
        # solver rejects the step and shrinks it; a non-finite *accepted* state ends the run
        return out.astype(np.float64, copy=False).ravel()

    def measure(self, y: np.ndarray) -> None:
        if self.manifold is not None:
            self.deviation = max(self.deviation, self.manifold.deviation(y))

    def result(self, status: Status, message: str, t_last: float | None = None) -> Solution:
        k = self.k
        t = self.t_save[:k] if t_last is None else np.append(self.t_save[: k - 1], t_last)
        dev = _dev(self.manifold, self.deviation)
        mean_h = (self.T - self.t0) / self.steps if status == Status.SUCCESS and self.steps else math.nan
        return Solution(t, self.ys[:k], status, message, self.steps, mean_h, self.evaluations, dev)

    def stop_time(self, ode, g_old: float, y_new: np.ndarray) -> tuple[float | None, float]:
        """(where the event fired in this step or None, the event's value at the step's end)."""
        g_new = self.ev.value(ode.t, y_new)
        if not g_old > 0 >= g_new:
            return None, g_new
        if not self.ev.continuous:
            return ode.t, g_new
        dense = ode.dense_output()
        eps = 4 * np.finfo(float).eps
        root = brentq(
            lambda s: self.ev.value(s, dense(s).reshape(self.shape)), ode.t_old, ode.t, xtol=eps, rtol=eps
        )
        return float(root), g_new

    def save_frames(self, ode, y_new: np.ndarray, until: float, before: float | None) -> None:
        """Frames t_save[k] ≤ until (and < before, the stop time, if any) from the step just made."""
        dense = None
        K = len(self.t_save)
        while (
            self.k < K and self.t_save[self.k] <= until and (before is None or self.t_save[self.k] < before)
        ):
            tk = self.t_save[self.k]
            if tk == ode.t:
                self.ys[self.k] = y_new
            else:
                dense = dense or ode.dense_output()
                self.ys[self.k] = dense(tk).reshape(self.shape)
            self.measure(self.ys[self.k])
            self.k += 1

    def run(self) -> Solution:
        if self.T <= self.t0:
            self.ys[:] = self.ys[0]
            self.k = len(self.t_save)
            return self.result(Status.SUCCESS, "T = 0: nothing to integrate")
        try:
            return self._steps()
        except Abort as abort:
            return self.result(abort.status, str(abort))

    def _steps(self) -> Solution:
        s, span = self.solver, self.T - self.t0
        first = {} if s.first_step is None else {"first_step": min(s.first_step, span)}
        y0 = np.asarray(self.ys[0], dtype=np.float64).ravel()
        ode = _ADAPTIVE[s.method](self.rhs, self.t0, y0, self.T, rtol=s.rtol, atol=s.atol, **first)
        g_old = self.ev.value(self.t0, self.ys[0]) if self.ev is not None else 1.0
        while True:
            if ode.step() is not None or ode.status == "failed":
                return self.result(
                    Status.FAILED, f"the solver failed after t = {ode.t:.4g}: step size too small"
                )
            self.steps += 1
            y_new = ode.y.reshape(self.shape)
            if not np.all(np.isfinite(y_new)):
                return self.result(
                    Status.FAILED, f"the state became non-finite before t = {ode.t:.4g}{self.hint}"
                )
            self.measure(y_new)
            stop_at = None
            if self.ev is not None:
                stop_at, g_old = self.stop_time(ode, g_old, y_new)
            self.save_frames(ode, y_new, ode.t if stop_at is None else stop_at, stop_at)
            if stop_at is not None:
                self.ys[self.k] = (
                    y_new if stop_at == ode.t else ode.dense_output()(stop_at).reshape(self.shape)
                )
                self.k += 1
                return self.result(Status.STOPPED, self.ev.describe(stop_at), stop_at)
            if ode.status == "finished":
                return self.finished()
            if self.progress is not None and self.report_due(ode.t, span):
                self.last_report, self.last_report_wall = ode.t, time.perf_counter()
                if not report(self.progress, (ode.t - self.t0) / span):
                    return self.result(Status.CANCELLED, "cancelled")

    def report_due(self, t: float, span: float) -> bool:
        """A percent of the span since the last report, or REPORT_SECONDS of wall time."""
        waited = time.perf_counter() - self.last_report_wall
        return t - self.last_report >= span / 100 or waited >= REPORT_SECONDS

    def finished(self) -> Solution:
        """Reached T: SUCCESS, or INACCURATE when the drift exceeds what the tolerances promise."""
        if self.last_report < self.T:  # 1.0 may already have been reported at t = T
            report(self.progress, 1.0)
        message = f"reached T = {self.T:g} ({self.evaluations} evaluations)"
        if self.manifold is None:
            return self.result(Status.SUCCESS, message)
        s = self.solver
        bound = s.deviation_bound(self.steps, float(np.abs(self.ys).max()) if self.ys.size else 1.0)
        if self.deviation <= bound:
            return self.result(Status.SUCCESS, message)
        return self.result(
            Status.INACCURATE,
            f"{message}, but the state left its invariant set by {self.deviation:.2g}, more than the "
            f"{bound:.2g} that rtol = {s.rtol:g}, atol = {s.atol:g} promise over {self.steps} steps: "
            "the trajectory is not accurate to the tolerances",
        )
