"""Limits on the size and total work of a simulation, so no caller can freeze a server."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BudgetError
from .scenario import Scenario

STAGES = {"euler": 1, "rk4": 4, "adaptive": 12}  # adaptive: a typical DOP853 cost per unit dt


@dataclass(frozen=True)
class Limits:
    """Caps checked before anything runs (and, for adaptive steps, while it runs).

    ``max_work`` counts floating-point operations of the field (≈ 4n²d + 4nd² + 10n² per head,
    per system, per evaluation). The default allows GPT-2-sized runs of a few minutes; the app
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


def work_per_evaluation(n: int, d: int, heads: int, systems: int = 1) -> float:
    """Approximate flops of one field evaluation."""
    return float(systems) * heads * (4.0 * n * n * d + 4.0 * n * d * d + 10.0 * n * n)


def fixed_steps(scenario: Scenario) -> tuple[int, float]:
    """(steps per frame interval, step size): equal steps ≤ dt that land on every frame time."""
    intervals = scenario.frames - 1
    span = scenario.T / intervals
    if span == 0:
        return 0, 0.0
    per = max(1, int(-(-span // scenario.dt)))  # ceil(span/dt)
    if per * scenario.dt < span * (1 - 1e-12):
        per += 1
    return per, span / per


def estimated_evaluations(scenario: Scenario) -> float:
    if scenario.integrator == "adaptive":
        return STAGES["adaptive"] * scenario.T / max(scenario.dt, 1e-3) + 50
    per, _ = fixed_steps(scenario)
    return STAGES[scenario.integrator] * per * (scenario.frames - 1)


def check(scenario: Scenario, limits: Limits, systems: int = 1) -> float:
    """Raise BudgetError if the scenario exceeds ``limits``; return its estimated work (flops)."""
    n, d, h = scenario.n, scenario.d, scenario.n_heads
    for name, value, cap in (
        ("n", n, limits.max_n),
        ("d", d, limits.max_d),
        ("n_heads", h, limits.max_heads),
        ("systems", systems, limits.max_systems),
        ("frames", scenario.frames, limits.max_frames),
    ):
        if value > cap:
            raise BudgetError(f"{name}: {value} exceeds this engine's limit of {cap}")
    if scenario.integrator != "adaptive":
        per, _ = fixed_steps(scenario)
        steps = per * (scenario.frames - 1)
        if steps > limits.max_steps:
            raise BudgetError(
                f"dt: T/dt = {steps} steps exceeds the limit of {limits.max_steps}; increase dt or decrease T"
            )
    out_bytes = scenario.frames * systems * n * d * (8 if scenario.dtype == "float64" else 4)
    if out_bytes > limits.max_output_bytes:
        raise BudgetError(
            f"frames: saving {scenario.frames} frames needs {out_bytes / 1e9:.1f} GB "
            f"(limit {limits.max_output_bytes / 1e9:.1f} GB); save fewer frames"
        )
    per_evaluation = work_per_evaluation(n, d, h, systems)
    if scenario.attention == "sinkhorn":
        # worst case: every evaluation runs all Sinkhorn iterations (two n×n logsumexp passes each)
        per_evaluation += float(systems) * h * scenario.sinkhorn_iters * 20.0 * n * n
    work = estimated_evaluations(scenario) * per_evaluation
    if work > limits.max_work:
        raise BudgetError(
            f"work budget: this run needs about {work:.2g} flops, more than the limit of "
            f"{limits.max_work:.2g}; reduce n, d, heads, T or increase dt"
        )
    return work
