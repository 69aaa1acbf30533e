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
* ``progress(fraction)``: called with plain floats in (0, 1], strictly increasing; returning False
  cancels. ``max_evaluations``: the work budget of an adaptive run (fixed runs are counted in
  advance by :mod:`dynamics.limits`).
"""

from __future__ import annotations

import math
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
            return _adaptive(field, y0, t_save, solver, manifold, ev, progress, max_evaluations, failure_hint)
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


def _adaptive(field, y0, t_save, solver: Adaptive, manifold, ev, progress, max_evaluations, hint):
    shape = np.shape(y0)
    dtype = np.asarray(y0).dtype
    K = len(t_save)
    t0, T = float(t_save[0]), float(t_save[-1])
    ys = np.empty((K, *shape), dtype=dtype)
    ys[0] = y0
    deviation = 0.0 if manifold is None else manifold.deviation(np.asarray(y0))
    if T <= t0:
        ys[:] = y0
        return Solution(
            t_save, ys, Status.SUCCESS, "T = 0: nothing to integrate", 0, 0.0, 0, _dev(manifold, deviation)
        )
    evaluations = [0]

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        if max_evaluations is not None and evaluations[0] >= max_evaluations:
            raise Abort(Status.FAILED, f"work budget exhausted at t = {t:.4g} (tolerances too tight?)")
        evaluations[0] += 1
        out = np.empty(shape, dtype=dtype)  # a new array: the solver keeps references to its f values
        try:
            field.evaluate_into(t, y.reshape(shape).astype(dtype, copy=False), out)
        except np.linalg.LinAlgError as exc:
            raise Abort(Status.FAILED, f"the field failed at t = {t:.4g} ({exc})") from None
        # a non-finite value (a trial step too large) makes the error estimate non-finite: the
        # solver rejects the step and shrinks it; a non-finite *accepted* state ends the run below
        return out.astype(np.float64, copy=False).ravel()

    first = None if solver.first_step is None else min(solver.first_step, T - t0)
    cls = _ADAPTIVE[solver.method]
    k, steps, last_report = 1, 0, t0
    status, message = Status.SUCCESS, ""
    t_end = T

    def finish(status: Status, message: str, k: int, t_last: float | None = None) -> Solution:
        t = t_save[:k] if t_last is None else np.append(t_save[: k - 1], t_last)
        return Solution(
            t, ys[:k], status, message, steps, math.nan, evaluations[0], _dev(manifold, deviation)
        )

    try:
        ode = cls(rhs, t0, np.asarray(y0, dtype=np.float64).ravel(), T, rtol=solver.rtol, atol=solver.atol,
                  **({} if first is None else {"first_step": first}))  # fmt: skip
        g_old = ev.value(t0, np.asarray(y0)) if ev is not None else 1.0
        while True:
            if ode.step() is not None or ode.status == "failed":
                return finish(
                    Status.FAILED, f"the solver failed after t = {ode.t:.4g}: step size too small", k
                )
            steps += 1
            y_new = ode.y.reshape(shape)
            if not np.all(np.isfinite(y_new)):
                return finish(Status.FAILED, f"the state became non-finite before t = {ode.t:.4g}{hint}", k)
            if manifold is not None:
                deviation = max(deviation, manifold.deviation(y_new))
            dense = None
            stop_at = None
            if ev is not None:
                g_new = ev.value(ode.t, y_new)
                if g_old > 0 >= g_new:
                    dense = ode.dense_output()
                    if ev.continuous:
                        stop_at = brentq(
                            lambda s, dense=dense: ev.value(s, dense(s).reshape(shape)),
                            ode.t_old, ode.t, xtol=4 * np.finfo(float).eps, rtol=4 * np.finfo(float).eps,
                        )  # fmt: skip
                    else:
                        stop_at = ode.t
                g_old = g_new
            horizon = ode.t if stop_at is None else stop_at
            while k < K and t_save[k] <= horizon and (stop_at is None or t_save[k] < stop_at):
                if t_save[k] == ode.t:
                    ys[k] = y_new
                else:
                    dense = dense or ode.dense_output()
                    ys[k] = dense(t_save[k]).reshape(shape)
                if manifold is not None:
                    deviation = max(deviation, manifold.deviation(ys[k]))
                k += 1
            if stop_at is not None:
                ys[k] = dense(stop_at).reshape(shape) if stop_at != ode.t else y_new
                k += 1
                t_end = float(stop_at)
                return finish(Status.STOPPED, ev.describe(t_end), k, t_end)
            if ode.status == "finished":
                break
            if progress is not None and ode.t - last_report >= (T - t0) / 100:
                last_report = ode.t
                if not report(progress, (ode.t - t0) / (T - t0)):
                    return finish(Status.CANCELLED, "cancelled", k)
    except Abort as abort:
        return finish(abort.status, str(abort), k)
    if last_report < T:  # 1.0 may already have been reported from the last step at t = T
        report(progress, 1.0)
    message = f"reached T = {T:g} ({evaluations[0]} evaluations)"
    if manifold is not None:
        scale = float(np.abs(ys).max()) if ys.size else 1.0
        bound = solver.deviation_bound(steps, scale)
        if deviation > bound:
            status = Status.INACCURATE
            message = (
                f"{message}, but the state left its invariant set by {deviation:.2g}, more than the "
                f"{bound:.2g} that rtol = {solver.rtol:g}, atol = {solver.atol:g} promise over {steps} "
                "steps: the trajectory is not accurate to the tolerances"
            )
    return Solution(
        t_save, ys, status, message, steps, (T - t0) / steps, evaluations[0], _dev(manifold, deviation)
    )
