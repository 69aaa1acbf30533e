"""Run budgets that tell the truth: a calibrated time estimate before anything is integrated, a
refusal that names the nearest setting that would run, and the rate calibration behind both.

Adapter: the engine (``dynamics.limits``) is getting an ``assess``-style verdict with a suggestion
and a rate calibration. Until then :func:`assess` is implemented here — a timing model of the
explorer's whole per-scenario build (integration, metric curves, cluster labels, theorem cards),
no mathematics of the dynamics — and pages call only :func:`assess`, :func:`record` and
:func:`calibration`, so pointing them at the engine later changes this module alone.

The model: seconds ≈ scale × (c₀ + c₁·E + c₂·W + c₃·F·n²·(1 + (n/256)²) + c₄·d³) with E evaluations
(``dynamics.limits.estimated_evaluations`` × heads), W the field's floating-point operations
(``estimated_evaluations × work_per_evaluation``) and F saved frames. The coefficients come from a
one-off micro-benchmark of five small builds (≈ 0.5 s on 2 cores, in a background thread a few
seconds after first use; until it finishes, coefficients measured on a busy 2-core machine stand
in); ``scale`` is the median of measured/predicted over this process's last builds, so a loaded
server estimates longer.
"""

from __future__ import annotations

import functools
import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dynamics import Limits, Scenario, ScenarioError
from dynamics.limits import check, estimated_evaluations, largest_where, scenario_work_per_evaluation

log = logging.getLogger(__name__)

#: The explorer refuses a scenario whose estimate is above this (seconds on this server).
BUDGET_SECONDS = 2.0
#: Coefficients (c₀ s, c₁ s/evaluation, c₂ s/flop, c₃ s per frame·n², c₄ s per d³) measured on a busy 2-core
#: machine (load average 4–5); used until this process's own micro-benchmark has run.
DEFAULT_COEFFICIENTS = (0.011, 1.9e-5, 1.8e-11, 7.7e-8, 2.0e-8)
SCALE_BOUNDS = (0.5, 20.0)
MIN_SAMPLES = 3
#: The micro-benchmark starts this long after the first estimate, not during the first page.
BENCH_DELAY_SECONDS = 4.0
MIN_RECORD_SECONDS = 0.1
SINKHORN_TYPICAL_ITERS = 25
SINKHORN_WEIGHT = 0.7
HISTORY = 16
DT_CHOICES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def features(scenario: Scenario) -> tuple[float, float, float, float, float]:
    """(1, E, W, F·n²·(1 + (n/256)²), d³) of the timing model (the per-frame work — curves, cluster
    labels, theorem cards — grows faster than n² once the n×n arrays leave the caches; d³: the
    d×d eigendecompositions of the 3D view's PCA and of the theorem cards)."""
    evals = float(estimated_evaluations(scenario))
    flops = evals * scenario_work_per_evaluation(scenario)
    evaluations = evals * scenario.n_heads
    if scenario.attention == "sinkhorn":  # typical iteration counts (the cap is the engine's limit):
        # one iteration ≈ SINKHORN_WEIGHT field evaluations at n = 32, growing like n² (measured)
        iters = min(scenario.sinkhorn_iters, SINKHORN_TYPICAL_ITERS)
        evaluations += evals * scenario.n_heads * iters * SINKHORN_WEIGHT * (scenario.n / 32.0) ** 2
    n = float(scenario.n)
    post = scenario.frames * n * n * (1.0 + (n / 256.0) ** 2)
    return 1.0, evaluations, flops, post, float(scenario.d) ** 3


# The micro-benchmark: five small builds, each dominated by one term of the model.
_BENCH = (
    Scenario(n=2, d=3, T=0.1, dt=0.05, frames=2, integrator="euler", seed=1),
    Scenario(n=6, d=3, T=20.0, dt=0.01, frames=11, integrator="euler", seed=1),
    Scenario(n=160, d=3, n_heads=4, T=0.5, dt=0.05, frames=3, integrator="rk4", seed=1),
    Scenario(n=160, d=3, T=0.4, dt=0.01, frames=41, integrator="euler", seed=1),
    Scenario(n=6, d=160, T=0.2, dt=0.1, frames=3, integrator="euler", seed=1),
)


def _solve(rows: Sequence[Sequence[float]], times: Sequence[float]) -> tuple[float, ...] | None:
    """Non-negative least squares for the model's coefficients (None if it fails)."""
    try:
        import numpy as np
        from scipy.optimize import nnls

        a = np.asarray(rows, dtype=float)
        norm = a.max(axis=0)
        norm[norm == 0] = 1.0
        coef, _ = nnls(a / norm, np.asarray(times, dtype=float))
        out = tuple(float(c) for c in coef / norm)
        return out if any(c > 0 for c in out[1:]) else None
    except Exception:  # pragma: no cover - scipy always present; stay with the defaults
        log.exception("budget calibration fit failed")
        return None


class Calibration:
    """This process's timing model (thread-safe; one per process, see :func:`calibration`)."""

    def __init__(
        self, builder: Callable[[Scenario], object] | None = None, *, background: bool = True
    ) -> None:
        self._lock = threading.Lock()
        self._coef = DEFAULT_COEFFICIENTS
        self._ratios: deque[float] = deque(maxlen=HISTORY)
        self.benchmarked = False
        self.bench_seconds: tuple[float, ...] = ()
        if builder is not None:
            if background:  # after a pause: the server's first page comes first
                timer = threading.Timer(BENCH_DELAY_SECONDS, self.benchmark, args=(builder,))
                timer.daemon = True
                timer.start()
            else:
                self.benchmark(builder)

    def benchmark(self, builder: Callable[[Scenario], object]) -> None:
        """Time ``builder`` on the micro-benchmark scenarios (best of two) and fit the coefficients."""
        seconds = []
        try:
            for s in _BENCH:
                best = math.inf
                for _ in range(2):
                    t0 = time.perf_counter()
                    builder(s)
                    best = min(best, time.perf_counter() - t0)
                seconds.append(best)
        except Exception:  # a failed benchmark leaves the defaults in place
            log.exception("budget micro-benchmark failed")
            return
        coef = _solve([features(s) for s in _BENCH], seconds)
        with self._lock:
            if coef is not None:
                self._coef = coef
            self.bench_seconds = tuple(seconds)
            self.benchmarked = True

    def raw(self, scenario: Scenario) -> float:
        """The model's seconds before the load scale."""
        with self._lock:
            coef = self._coef
        return sum(c * f for c, f in zip(coef, features(scenario), strict=True))

    @property
    def scale(self) -> float:
        """Median of measured/predicted over the recent builds; with fewer than
        :data:`MIN_SAMPLES` of them, the missing ones count as 1 (one odd run cannot swing it)."""
        with self._lock:
            ratios = list(self._ratios)
        ratios += [1.0] * max(0, MIN_SAMPLES - len(ratios))
        return min(max(statistics.median(ratios), SCALE_BOUNDS[0]), SCALE_BOUNDS[1])

    def predict(self, scenario: Scenario) -> float:
        """Estimated seconds of the explorer's build of ``scenario`` on this server, now."""
        return self.scale * self.raw(scenario)

    def record(self, scenario: Scenario, seconds: float) -> None:
        """Feed a measured build time back. Ignored: builds before the micro-benchmark finished (the
        process's first builds also pay imports and warm-up) and builds predicted under
        :data:`MIN_RECORD_SECONDS` (fixed costs and timer noise, not the rate)."""
        raw = self.raw(scenario)
        if self.benchmarked and raw >= MIN_RECORD_SECONDS and seconds > 0:
            with self._lock:
                self._ratios.append(seconds / raw)


@functools.cache
def calibration() -> Calibration:
    """The process-wide calibration; its micro-benchmark starts in the background on first use."""
    from ui.session import build_display

    return Calibration(build_display)


def record(scenario: Scenario, seconds: float) -> None:
    calibration().record(scenario, seconds)


# ------------------------------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Assessment:
    """``ok``: runs within ``budget`` seconds; ``seconds``: the calibrated estimate; ``message``:
    a refusal in plain words naming the nearest settings that would run ("" when ok)."""

    ok: bool
    seconds: float
    message: str
    suggestions: tuple[str, ...] = ()


def _fits(scenario: Scenario, predict: Callable[[Scenario], float], budget: float, **change: object) -> bool:
    try:
        return predict(scenario.replace(**change)) <= budget
    except ScenarioError:
        return False


def _heads(h: int) -> str:
    return f"{h} head" + ("" if h == 1 else "s")


def _single_changes(s: Scenario, fits: Callable[..., bool]) -> list[str]:
    """One setting changed at a time: fewer tokens (same heads and horizon), a larger step, fewer
    heads, a shorter horizon, a smaller dimension — each at its nearest value that runs."""
    out: list[str] = []
    if s.x0 is None and s.n > 2:
        n_max = largest_where(2, s.n - 1, lambda v: fits(n=v))
        if n_max is not None:
            out.append(f"n ≤ {n_max} at {_heads(s.n_heads)} and T = {s.T:g}")
    if s.integrator != "adaptive":
        dt = next((dt for dt in DT_CHOICES if dt > s.dt and fits(dt=dt)), None)
        if dt is not None:
            out.append(f"raise dt to {dt:g}")
    if s.heads is None and s.n_heads > 1:
        h_max = largest_where(1, s.n_heads - 1, lambda v: fits(n_heads=v))
        if h_max is not None:
            out.append(f"{_heads(h_max)} at n = {s.n}")
    t_max = largest_where(1, int(s.T) - 1, lambda v: fits(T=float(v))) if s.T > 1 else None
    if t_max is not None:
        out.append(f"T ≤ {t_max}")
    plain = s.x0 is None and s.heads is None and s.P is None and s.v_eigs is None and s.qk_eigs is None
    d_max = largest_where(3, s.d - 1, lambda v: fits(d=v)) if plain and s.pole is None and s.d > 3 else None
    if d_max is not None:
        out.append(f"d ≤ {d_max}")
    return out


def _tokens_and_step(s: Scenario, fits: Callable[..., bool]) -> list[str]:
    """When nothing single works: fewer tokens together with a larger step."""
    if s.x0 is not None or s.n <= 2 or s.integrator == "adaptive":
        return []
    for dt in (dt for dt in DT_CHOICES if dt > s.dt):
        n_max = largest_where(2, s.n - 1, lambda v, dt=dt: fits(n=v, dt=dt))
        if n_max is not None and n_max >= min(8, s.n - 1):
            return [f"n ≤ {n_max} with dt = {dt:g}"]
    return []


def suggestions(
    scenario: Scenario, predict: Callable[[Scenario], float], budget: float = BUDGET_SECONDS
) -> tuple[str, ...]:
    """The nearest settings that would run, in plain words (at most three)."""

    def fits(**change: object) -> bool:
        return _fits(scenario, predict, budget, **change)

    out = _single_changes(scenario, fits) or _tokens_and_step(scenario, fits)
    return tuple(out[:3])


def describe(scenario: Scenario) -> str:
    """ "n = 512, d = 3, 8 heads, T = 15, dt = 0.05" — the settings a refusal is about."""
    s = scenario
    return f"n = {s.n}, d = {s.d}, {_heads(s.n_heads)}, T = {s.T:g}, dt = {s.dt:g}"


def _engine_allows(scenario: Scenario, limits: Limits | None) -> bool:
    """The engine's own hard limits for anything the app runs (``ui.session.APP_LIMITS``)."""
    if limits is None:
        from ui.session import APP_LIMITS

        limits = APP_LIMITS
    try:
        check(scenario, limits)
    except ScenarioError:
        return False
    return True


def assess(
    scenario: Scenario,
    budget: float = BUDGET_SECONDS,
    model: Calibration | None = None,
    limits: Limits | None = None,
) -> Assessment:
    """Would the explorer's build of ``scenario`` finish within ``budget`` seconds on this server
    (and stay inside the engine's limits)? A refusal names the nearest settings that would run."""
    model = model or calibration()
    seconds = model.predict(scenario)
    allowed = _engine_allows(scenario, limits)
    if allowed and seconds <= budget:
        return Assessment(True, seconds, "")

    def runnable(s: Scenario) -> float:
        return model.predict(s) if _engine_allows(s, limits) else math.inf

    found = suggestions(scenario, runnable, budget)
    if allowed:
        message = (
            f"Not run: {describe(scenario)} would take about {_seconds(seconds)} on this server, and the "
            f"explorer runs only settings that take up to {budget:g} s."
        )
    else:
        message = (
            f"Not run: {describe(scenario)} is more work than this server does for one view "
            f"(it would take about {_seconds(seconds)} here)."
        )
    if found:
        message += " Nearest settings that run: " + ", or ".join(found) + "."
    else:
        message += " Reduce n, the number of heads or T."
    return Assessment(False, seconds, message, found)


def _seconds(value: float) -> str:
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.0f} min"


# ------------------------------------------------------------------------------------- deep runs
class RateMeter:
    """Time of a large run on this server: seconds ≈ overhead + setup·heads·d² + W / rate, with W
    the field's floating-point operations. ``setup`` (drawing the weight matrices) and ``rate`` come
    from a one-off micro-benchmark (background thread, at first use); ``rate`` then follows the
    median of this process's recent runs. Thread-safe."""

    def __init__(
        self,
        rate: float,
        setup: float,
        overhead: float = 0.3,
        runner: Callable[[Scenario], float] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._rate, self._setup, self.overhead = float(rate), float(setup), float(overhead)
        self._rates: deque[float] = deque(maxlen=8)
        self.benchmarked = False
        self._done = threading.Event()
        if runner is None:
            self._done.set()
        else:
            threading.Thread(target=self.benchmark, args=(runner,), name="adx-rate", daemon=True).start()

    def ready(self, timeout: float = 15.0) -> bool:
        """Wait (at most ``timeout`` s) for the micro-benchmark: an estimate from the defaults could
        start a run that takes ten times longer on a busy server."""
        return self._done.wait(timeout)

    @staticmethod
    def work(scenario: Scenario) -> tuple[float, float]:
        """(field flops, setup units = heads · d²) of a scenario."""
        flops = estimated_evaluations(scenario) * scenario_work_per_evaluation(scenario)
        return float(flops), float(scenario.n_heads * scenario.d**2)

    @property
    def rate(self) -> float:
        """Field flops per second on this server now."""
        with self._lock:
            rates = list(self._rates)
            base = self._rate
        return statistics.median(rates) if rates else base

    def estimate(self, scenario: Scenario) -> float:
        flops, units = self.work(scenario)
        with self._lock:
            setup = self._setup
        return self.overhead + setup * units + flops / self.rate

    def record(self, scenario: Scenario, seconds: float) -> None:
        """Feed back the measured wall time of a whole run (set-up, integration, diagnostics)."""
        flops, units = self.work(scenario)
        with self._lock:
            spent = seconds - self.overhead - self._setup * units
            if spent > 0.05 and flops > 0:
                self._rates.append(flops / spent)

    def benchmark(self, runner: Callable[[Scenario], float]) -> None:
        """Time ``runner`` (returns seconds) on a set-up-bound and a flop-bound small run."""
        setup_run = Scenario(n=16, d=768, n_heads=2, qk="gaussian", value="gaussian", T=0.25, dt=0.25,
                             frames=2, integrator="euler", dtype="float32")  # fmt: skip
        flop_run = setup_run.replace(n=256, T=1.0, frames=3)  # GPT-2's d: the same BLAS shapes
        try:
            units = self.work(setup_run)[1]
            setup = max(runner(setup_run), 1e-4) / units
            flops = self.work(flop_run)[0]
            spent = runner(flop_run) - setup * units
        except Exception:  # stay with the defaults
            log.exception("rate micro-benchmark failed")
            self._done.set()
            return
        with self._lock:
            self._setup = setup
            if spent > 0.005:
                self._rate = flops / spent
            self.benchmarked = True
        self._done.set()


def _time_deep_run(scenario: Scenario) -> float:
    from dynamics import deep

    t0 = time.perf_counter()
    deep.run(scenario)
    return time.perf_counter() - t0


#: Field flops/s (float32) and seconds per heads·d² of weight set-up, measured on an idle 2-core
#: machine; stand-ins until this process's micro-benchmark has run.
DEEP_DEFAULT_RATE, DEEP_DEFAULT_SETUP = 1.2e11, 6.0e-8


@functools.cache
def deep_meter() -> RateMeter:
    """The process-wide meter of the Deep page (its micro-benchmark starts on first use)."""
    return RateMeter(DEEP_DEFAULT_RATE, DEEP_DEFAULT_SETUP, runner=_time_deep_run)


def plain_seconds(value: float) -> str:
    """ "≈ 4 s", "≈ 82 s", "≈ 3 min" — an estimate in words."""
    return "≈ " + _seconds(value)


__all__ = [
    "BUDGET_SECONDS",
    "Assessment",
    "Calibration",
    "RateMeter",
    "assess",
    "calibration",
    "deep_meter",
    "describe",
    "features",
    "plain_seconds",
    "record",
    "suggestions",
]
