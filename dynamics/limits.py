"""The one budget: size caps, set-up work and memory, and integration work, checked before any work.

Every entry point of the engine — ``simulate``, the theorem facts behind ``check`` (with or
without a run), ``run_sweep``, ``simulate_euclidean``, ``solve_gaussian``, ``particle_moments`` and
``moment_gap`` — prices its run here *before* building anything and refuses with a one-line
:class:`~dynamics.errors.BudgetError` what exceeds its limits:

* sizes (n, d, heads, frames, systems, steps) against their caps;
* work: floating-point operations of the integration, and of the set-up (building the weight
  matrices, the assumption checks: an LP over the tokens and eigendecompositions of every head),
  each within ``max_work`` (a run whose limit was sized from its integration alone stays allowed);
  Python-object work (a generated d×d matrix is kept as tuples of floats) is counted at
  :data:`PY_ELEMENT_FLOPS` per element;
* memory: the bytes of the matrices built (:data:`PY_ELEMENT_BYTES` per tuple entry), the field's
  scratch arrays and the saved frames.

``assess(scenario, limits)`` answers the app's question before integrating: would this run, and if
not, why and what is the nearest setting that would ("n ≤ 180 at 8 heads and T = 15, or raise dt
to 0.1"). A :class:`RateMeter` (an object the caller owns) records measured flops/s of recent runs
and turns work into seconds.

Adaptive runs cannot be priced exactly in advance: their evaluations are capped while they run
(``max_work`` / work per evaluation), ending with status FAILED "work budget exhausted".
"""

from __future__ import annotations

import copy
import math
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import attention as _attention
from ._integrate import steps_per_interval
from .errors import BudgetError
from .scenario import Scenario

STAGES = {"euler": 1, "rk4": 4, "adaptive": 12}  # adaptive: a typical DOP853 cost per unit dt
#: A Python float created or converted (tuples of tuples of floats) costs about this many flops.
PY_ELEMENT_FLOPS = 200.0
#: Bytes per entry of a matrix kept as tuples of floats (24 B float + 8 B tuple slot) with its
#: cached NumPy copy (8 B).
PY_ELEMENT_BYTES = 40.0
#: Flops of a d×d symmetric eigendecomposition (and of an SVD/QR/inverse), per d³.
EIG_FLOPS = 10.0


@dataclass(frozen=True)
class Limits:
    """Caps of the sphere / ellipsoid model, checked before anything runs (and, for adaptive
    steps, while it runs).

    ``max_work`` caps the floating-point operations of the field (≈ 4n²d + 4nd² + 10n² per head,
    per system, per evaluation), and separately those of the set-up; ``max_memory`` the bytes built
    (weights, scratch, saved frames). The default allows GPT-2-sized runs of a few minutes; the app
    passes tighter limits.
    """

    max_n: int = 4096
    max_d: int = 2048
    max_heads: int = 64
    max_systems: int = 100_000
    max_steps: int = 2_000_000
    max_frames: int = 20_000
    max_work: float = 5e13
    max_output_bytes: float = 4e9
    max_memory: float = 6e9


@dataclass(frozen=True)
class EuclideanLimits:
    """Caps of the Euclidean model (the app passes tighter ones)."""

    max_n: int = 2000
    max_d: int = 64
    max_steps: int = 2_000_000
    max_frames: int = 20_001
    max_work: float = 5e12  # ≈ flops: evaluations × (2n²d + 2nd² + 8n²)
    attention_entries: int = 4_000_000  # store P at every saved frame if K·n² is at most this
    max_memory: float = 4e9


@dataclass(frozen=True)
class SweepLimits:
    """Caps of a phase-diagram sweep (the app passes tighter ones)."""

    max_systems: int = 1_000_000  # systems in total (over β and the n/d/heads grid)
    max_betas: int = 2000
    max_checkpoints: int = 5000
    max_steps: int = 100_000
    max_n: int = 1024
    max_d: int = 1024
    max_heads: int = 16
    max_work: float = 1e14  # ≈ flops: systems · steps · heads · n² · (d + 8)
    max_memory: float = 4e9


@dataclass(frozen=True)
class GaussianLimits:
    """Caps of the Gaussian mean field: the moment ODE (evaluations capped while running) and the
    particle system (priced in advance)."""

    max_work: float = 2e11  # flop-equivalents (a moment-ODE evaluation costs ≥ 2e4: Python overhead)
    max_frames: int = 20_001
    max_particles: int = 20_000
    max_sinkhorn_particles: int = 5_000
    max_particle_steps: int = 100_000
    max_memory: float = 2e9


# ------------------------------------------------------------------------------------ checks
def check_sizes(sizes: Sequence[tuple[str, float, float]], where: str = "this engine's") -> None:
    """BudgetError naming the first (key, value, cap) with value > cap."""
    for name, value, cap in sizes:
        if value > cap:
            raise BudgetError(f"{name}: {value:g} exceeds {where} limit of {cap:g}")


def check_work(work: float, setup: float, limit: float, hint: str) -> None:
    """BudgetError if set-up plus integration work exceed ``limit`` flops."""
    total = work + setup
    if total > limit:
        part = f" ({setup:.2g} of them setting up)" if setup > 0.01 * total else ""
        raise BudgetError(
            f"work budget: this run needs about {total:.2g} flops{part}, more than the limit of "
            f"{limit:.2g}; {hint}"
        )


def check_memory(memory: float, limit: float, hint: str) -> None:
    """BudgetError if the bytes built exceed ``limit``."""
    if memory > limit:
        raise BudgetError(
            f"memory: this run needs about {memory / 1e9:.2g} GB, more than the limit of "
            f"{limit / 1e9:.2g} GB; {hint}"
        )


def evaluation_cap(limit: float, per_evaluation: float, floor: int = 100) -> int:
    """The evaluations an adaptive run may make within ``limit`` flops (at least ``floor``)."""
    return max(floor, int(limit / max(per_evaluation, 1.0)))


# ------------------------------------------------------------------------------------ sphere
def head_work(n: int, d: int, qk_rank: int | None = None, v_rank: int | None = None) -> float:
    """Approximate flops of one head in one field evaluation of one system: the scores
    2nd² + 2n²d as (X A) Xᵀ, or 4ndr + 2n²r as (X Qᵀ)(X Kᵀ)ᵀ with Q, K of rank r = ``qk_rank``; the
    values 2nd² + 2n²d as S (X Vᵀ), or 4ndr + 2n²r as (S (X Rᵀ)) Lᵀ with V = L R of rank ``v_rank``;
    10n² for the exponentials and row sums."""

    def product(r: int | None) -> float:
        return 2.0 * n * d * d + 2.0 * n * n * d if r is None else 4.0 * n * d * r + 2.0 * n * n * r

    return product(qk_rank) + product(v_rank) + 10.0 * n * n


def work_per_evaluation(
    n: int,
    d: int,
    heads: int,
    systems: int = 1,
    *,
    ranks: Sequence[tuple[int | None, int | None]] | None = None,
) -> float:
    """Approximate flops of one field evaluation: ``heads`` dense heads (4n²d + 4nd² + 10n² each),
    or, with ``ranks``, one (qk_rank, v_rank) pair per head as the field evaluates it
    (:attr:`Head.qk_rank <dynamics.scenario.Head.qk_rank>`, None: dense; see :func:`head_work`)."""
    if ranks is None:
        return float(systems) * heads * head_work(n, d)
    return float(systems) * sum(head_work(n, d, qk, v) for qk, v in ranks)


def head_ranks(scenario: Scenario) -> tuple[tuple[int | None, int | None], ...] | None:
    """(qk_rank, v_rank) of each explicit head of the scenario, or None (generated heads: dense)."""
    if scenario.heads is None:
        return None
    return tuple((h.qk_rank, h.v_rank) for h in scenario.heads)


def scenario_work_per_evaluation(scenario: Scenario, systems: int = 1) -> float:
    """Flops of one field evaluation of ``scenario``, counting its low-rank heads at their factored
    cost (what :class:`~dynamics.field.AttentionField` does)."""
    s = scenario
    return work_per_evaluation(s.n, s.d, s.n_heads, systems, ranks=head_ranks(s))


def fixed_steps(scenario: Scenario) -> tuple[int, float]:
    """(steps per frame interval, step size): equal steps ≤ dt that land on every frame time."""
    span = scenario.T / (scenario.frames - 1)
    per = steps_per_interval(span, scenario.dt)
    return per, (span / per if per else 0.0)


def estimated_evaluations(scenario: Scenario) -> float:
    if scenario.integrator == "adaptive":
        return STAGES["adaptive"] * scenario.T / max(scenario.dt, 1e-3) + 50
    per, _ = fixed_steps(scenario)
    return STAGES[scenario.integrator] * per * (scenario.frames - 1)


@dataclass(frozen=True)
class Cost:
    """What a run costs: integration work, set-up work (flops) and peak memory (bytes)."""

    work: float
    setup: float
    memory: float
    output_bytes: float
    steps: int | None  # fixed-step runs: total steps

    @property
    def total(self) -> float:
        return self.work + self.setup


def _setup_per_head(s: Scenario) -> tuple[float, float]:
    """(flops, bytes) of building one head's matrices (generated heads) and the field's arrays."""
    d = s.d
    flops = 2.0 * d**3 + 4.0 * d * d  # the field: QᵀK (and Vᵀ) once per head
    ranks = head_ranks(s)
    if ranks and all(qk is not None and v is not None for qk, v in ranks):
        flops = 8.0 * d * max(max(qk, v) for qk, v in ranks)  # low rank: transposed factors only
    memory = 2.0 * d * d * (8 if s.dtype == "float64" else 4)
    if s.heads is None:  # generated: random draws, kept as tuples of floats
        mats = 3 + (1 if s.qk_amp > 0 else 0)
        flops += mats * d * d * (PY_ELEMENT_FLOPS + 20.0)
        memory += mats * d * d * PY_ELEMENT_BYTES
        if s.qk == "spd" or (s.value == "spectrum" and s.v_basis == "random"):
            flops += 2 * EIG_FLOPS * d**3  # a random orthogonal basis, a symmetric square root
    if d <= 128:  # the spectral norms of the logit bound (exact SVDs up to d = 128)
        flops += 2 * EIG_FLOPS * d**3
    return flops, memory


#: Flop-equivalents per n²(d + 1) of the hemisphere LP (HiGHS on a dense n × (d+1) matrix), fitted
#: to its measured times from n = 128 to 2048, d = 256 to 1024 (within 3×; 1024 × 1024 took ~40 s).
LP_FLOPS = 2000.0


def facts_cost(scenario: Scenario) -> tuple[float, float]:
    """(flops, bytes) of the theorem facts: the hemisphere LP over the tokens and, per head,
    symmetric eigendecompositions of V and QᵀK (sampled at 98 times when Q or K vary)."""
    n, d, h = scenario.n, scenario.d, scenario.n_heads
    lp = LP_FLOPS * n * n * (d + 1)
    varying = scenario.qk_amp > 0 or (
        scenario.heads is not None and any(not (x.Q.is_constant and x.K.is_constant) for x in scenario.heads)
    )
    per_head = 2 * EIG_FLOPS * d**3 + (98 * 2.0 * d**3 if varying else 2.0 * d**3)
    head_flops, head_bytes = _setup_per_head(scenario)
    flops = lp + h * (per_head + head_flops)
    memory = 4 * 8.0 * n * (d + 2) + h * head_bytes + 8.0 * 4 * d * d
    return flops, memory


def run_cost(scenario: Scenario, systems: int = 1) -> Cost:
    """The cost of ``simulate(scenario)`` with ``systems`` systems (set-up included)."""
    n, d, h = scenario.n, scenario.d, scenario.n_heads
    item = 8 if scenario.dtype == "float64" else 4
    per_evaluation = scenario_work_per_evaluation(scenario, systems)
    kind = _attention.kind(scenario.attention)  # e.g. Sinkhorn: all its iterations, every evaluation
    per_evaluation += float(systems) * h * kind.extra_work(n, _attention.kind_params(scenario))
    steps = None
    if scenario.integrator != "adaptive":
        per, _ = fixed_steps(scenario)
        steps = per * (scenario.frames - 1)
    head_flops, head_bytes = _setup_per_head(scenario)
    output = float(scenario.frames) * systems * n * d * item
    scratch = systems * item * (2.0 * n * n + 16.0 * n * d)
    return Cost(
        work=estimated_evaluations(scenario) * per_evaluation,
        setup=h * head_flops + 50.0 * systems * n * d,
        memory=h * head_bytes + scratch + output,
        output_bytes=output,
        steps=steps,
    )


_HINT = "reduce n, d, heads, T or increase dt"


def check(scenario: Scenario, limits: Limits, systems: int = 1) -> float:
    """Raise BudgetError if ``simulate`` of the scenario exceeds ``limits``; return its work (flops).

    The message ends with the nearest setting that would run (see :func:`assess`).
    """
    verdict = assess(scenario, limits, systems=systems)
    if not verdict.ok:
        raise BudgetError(verdict.message + (f"; e.g. {verdict.suggestion}" if verdict.suggestion else ""))
    return verdict.work


def check_facts(scenario: Scenario, limits: Limits | None = None) -> float:
    """Raise BudgetError if the theorem facts (assumption checks) of the scenario exceed ``limits``."""
    verdict = assess(scenario, limits, run=False, facts=True)
    if not verdict.ok:
        raise BudgetError(verdict.message + (f"; e.g. {verdict.suggestion}" if verdict.suggestion else ""))
    return verdict.work


# ------------------------------------------------------------------------------------ verdicts
@dataclass(frozen=True)
class Verdict:
    """Would a run fit its limits? ``message`` says why not (one line, naming the key);
    ``suggestion`` the nearest settings that would ("n ≤ 180 at 8 heads and T = 15, or raise dt to
    0.1"); ``seconds`` the estimate of a :class:`RateMeter` when one was given."""

    ok: bool
    work: float
    memory: float
    seconds: float | None = None
    message: str = ""
    suggestion: str = ""
    key: str | None = None
    options: tuple[dict[str, float], ...] = ()  # the suggestion's settings, e.g. ({"n": 180}, {"dt": 0.1})


class RateMeter:
    """Measured flops per second of this process's recent runs; turns work into seconds.

    An object the caller owns (e.g. one per server process): ``meter.observe(result)`` after a run
    (or ``record(work, seconds)``), ``meter.seconds(work)`` for an estimate. The rate is the
    median of the last ``window`` runs (``default_rate`` before any).
    """

    def __init__(self, window: int = 20, default_rate: float = 1e10) -> None:
        self.default_rate = float(default_rate)
        self._rates: deque[float] = deque(maxlen=window)

    def record(self, work: float, seconds: float) -> None:
        if work > 0 and seconds > 0 and math.isfinite(work / seconds):
            self._rates.append(work / seconds)

    def observe(self, result: Any) -> None:
        """Record a result with ``work`` and ``wall_time`` (e.g. ``dynamics.Result``)."""
        self.record(float(getattr(result, "work", 0.0)), float(getattr(result, "wall_time", 0.0)))

    @property
    def rate(self) -> float:
        return statistics.median(self._rates) if self._rates else self.default_rate

    @property
    def samples(self) -> int:
        return len(self._rates)

    def seconds(self, work: float) -> float:
        return work / self.rate


def _refusal(
    scenario: Scenario, limits: Limits, systems: int, run: bool, facts: bool
) -> tuple[str, str] | None:
    """(key, message) of the first limit the run exceeds, or None."""
    s, lim = scenario, limits
    for name, value, cap in (
        ("n", s.n, lim.max_n),
        ("d", s.d, lim.max_d),
        ("n_heads", s.n_heads, lim.max_heads),
        ("systems", systems, lim.max_systems),
        ("frames", s.frames, lim.max_frames),
    ):
        if value > cap:
            return name, f"{name}: {value} exceeds this engine's limit of {cap}"
    cost = run_cost(s, systems) if run else Cost(0.0, 0.0, 0.0, 0.0, None)
    setup, memory = cost.setup, cost.memory
    if facts:
        f_flops, f_bytes = facts_cost(s)
        setup += f_flops
        memory = max(memory, f_bytes)
    if run and cost.steps is not None and cost.steps > lim.max_steps:
        return "dt", (
            f"dt: T/dt = {cost.steps} steps exceeds the limit of {lim.max_steps}; increase dt or decrease T"
        )
    if run and cost.output_bytes > lim.max_output_bytes:
        return "frames", (
            f"frames: saving {s.frames} frames needs {cost.output_bytes / 1e9:.1f} GB "
            f"(limit {lim.max_output_bytes / 1e9:.1f} GB); save fewer frames"
        )
    if memory > lim.max_memory:
        return "memory", (
            f"memory: this run needs about {memory / 1e9:.2g} GB (weights, scratch and saved frames), "
            f"more than the limit of {lim.max_memory / 1e9:.2g} GB"
        )
    if setup > lim.max_work:
        return "work", (
            f"work budget: setting up this run (building the weights"
            f"{', checking the assumptions' if facts else ''}) needs about {setup:.2g} flops, more than "
            f"the limit of {lim.max_work:.2g}; reduce n, d or heads"
        )
    if cost.work > lim.max_work:
        return "work", (
            f"work budget: this run needs about {cost.work:.2g} flops, more than the limit of "
            f"{lim.max_work:.2g}; {_HINT}"
        )
    return None


def assess(
    scenario: Scenario,
    limits: Limits | None = None,
    *,
    systems: int = 1,
    run: bool = True,
    facts: bool = False,
    meter: RateMeter | None = None,
) -> Verdict:
    """Would ``simulate(scenario)`` (``run``) and/or the theorem facts (``facts``) fit ``limits``?

    Pure arithmetic on the scenario's numbers: nothing is built. When refused, ``suggestion`` names
    the nearest settings that fit: the largest n (at the same heads and T), the smallest dt from a
    list of round values, the largest T, or the largest number of heads / frames when those are
    what exceeds the memory.
    """
    lim = limits or Limits()
    cost = run_cost(scenario, systems) if run else Cost(0.0, 0.0, 0.0, 0.0, None)
    work, memory = cost.total, cost.memory
    if facts:
        f_flops, f_bytes = facts_cost(scenario)
        work += f_flops
        memory = max(memory, f_bytes)
    seconds = None if meter is None else meter.seconds(work)
    refused = _refusal(scenario, lim, systems, run, facts)
    if refused is None:
        return Verdict(True, work, memory, seconds)
    key, message = refused
    options = _suggest(scenario, lim, systems, run, facts, key)
    return Verdict(False, work, memory, seconds, message, _describe(scenario, options), key, options)


def _describe(s: Scenario, options: tuple[dict[str, float], ...]) -> str:
    """The options as a person reads them: "n ≤ 180 at 8 heads and T = 15, or raise dt to 0.1"."""
    words = []
    for option in options:
        ((key, value),) = option.items()
        if key == "n" and s.x0 is None and value < s.n:
            heads = f"{s.n_heads} head{'s' if s.n_heads > 1 else ''}"
            words.append(f"n ≤ {value:g} at {heads} and T = {s.T:g}")
        elif key == "dt":
            words.append(f"raise dt to {value:g}")
        elif key == "T":
            words.append(f"T ≤ {value:.3g}")
        else:
            words.append(f"{key} ≤ {value:g}")
    return ", or ".join(words)


def largest_where(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """The largest k in [lo, hi] with ok(k) (ok monotone: true up to some k), or None; a
    bisection, ⌈log₂(hi − lo)⌉ + 1 calls of ok."""
    if hi < lo or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


_NICE_DT = (1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


def _with(s: Scenario, **changes: Any) -> Scenario:
    """A copy of s with some numbers changed, *not* validated again (only priced: validating
    would redo e.g. the eigendecomposition of P for every trial)."""
    out = copy.copy(s)
    for key, value in changes.items():
        object.__setattr__(out, key, value)
    return out


def _suggest(
    s: Scenario, lim: Limits, systems: int, run: bool, facts: bool, key: str
) -> tuple[dict[str, float], ...]:
    """The nearest settings that fit, one change each (at most three)."""
    caps = {"n": lim.max_n, "d": lim.max_d, "n_heads": lim.max_heads, "systems": lim.max_systems}
    if key in caps:
        return ({key: caps[key]},)
    if key == "frames" and s.frames > lim.max_frames:
        return ({"frames": lim.max_frames},)

    def ok(**changes: Any) -> bool:
        return _refusal(_with(s, **changes), lim, systems, run, facts) is None

    options: list[dict[str, float]] = []
    if s.x0 is None:
        n_max = largest_where(1, s.n, lambda n: ok(n=n))
        if n_max is not None and n_max < s.n:
            options.append({"n": n_max})
    if run and key in ("work", "dt"):
        dt = next((dt for dt in _NICE_DT if dt > s.dt and ok(dt=dt)), None)
        if dt is not None:
            options.append({"dt": dt})
        T_max = _largest_float(0.0, s.T, lambda T: ok(T=T))
        if T_max is not None and 0 < T_max < s.T:
            options.append({"T": float(f"{T_max:.3g}") if ok(T=float(f"{T_max:.3g}")) else T_max})
    if key == "memory" and s.heads is None and s.n_heads > 1:
        h_max = largest_where(1, s.n_heads, lambda h: ok(n_heads=h))
        if h_max is not None and h_max < s.n_heads:
            options.append({"n_heads": h_max})
    if run and key in ("memory", "frames"):
        f_max = largest_where(2, s.frames, lambda f: ok(frames=f))
        if f_max is not None and f_max < s.frames:
            options.append({"frames": f_max})
    return tuple(options[:3])


def _largest_float(lo: float, hi: float, ok: Callable[[float], bool]) -> float | None:
    """The largest x in (lo, hi] with ok(x) to 1% (ok monotone), or None."""
    if ok(hi):
        return hi
    a, b = lo, hi
    for _ in range(40):
        m = (a + b) / 2
        if ok(m):
            a = m
        else:
            b = m
        if b - a <= 0.01 * b:
            break
    return a if a > lo and ok(a) else None
