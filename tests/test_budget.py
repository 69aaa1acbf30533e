"""The explorer's run budget (ui/budget.py): a timing model calibrated on this process, refusals
that name settings which do run, and a scale that follows measured runs without being swung by
one odd run. Timings are injected (no wall clock here: speed lives in benchmarks/)."""

from __future__ import annotations

import pytest

from dynamics import Scenario
from dynamics.presets import DEFAULT_PRESET
from ui import budget

BASE = DEFAULT_PRESET.scenario
#: A model whose seconds are exactly the feature sum (c₀ = 0, 1 µs per evaluation, …).
COEF = (0.0, 1e-6, 1e-11, 1e-7, 1e-8)


def model(scale_samples: tuple[float, ...] = ()) -> budget.Calibration:
    m = budget.Calibration()
    m._coef = COEF
    m.benchmarked = True
    for ratio in scale_samples:
        m._ratios.append(ratio)
    return m


def test_the_estimate_is_the_feature_model_times_the_measured_scale() -> None:
    m = model()
    raw = sum(c * f for c, f in zip(COEF, budget.features(BASE), strict=True))
    assert m.predict(BASE) == pytest.approx(raw)
    slow = model((3.0, 3.0, 3.0))
    assert slow.predict(BASE) == pytest.approx(3 * raw)


def test_one_odd_run_cannot_swing_the_scale_but_three_do() -> None:
    m = model()
    big = BASE.replace(n=256)
    raw = m.raw(big)
    m.record(big, 40 * raw)  # e.g. a build that paid the imports of a cold process
    assert m.scale == pytest.approx(1.0)
    m.record(big, 4 * raw)
    m.record(big, 4 * raw)
    assert m.scale == pytest.approx(4.0)
    m.record(BASE.replace(n=4, T=1.0), 100.0)  # predicted under 0.1 s: ignored
    assert m.scale == pytest.approx(4.0)


def test_builds_before_the_benchmark_are_not_recorded() -> None:
    m = budget.Calibration()
    assert not m.benchmarked
    m.record(BASE.replace(n=256), 1000.0)
    assert m.scale == 1.0


def test_a_refusal_names_settings_that_run_and_they_do() -> None:
    m = model((5.0, 5.0, 5.0))
    s = BASE.replace(n=512, n_heads=8, beta=4.0)
    verdict = budget.assess(s, model=m)
    assert not verdict.ok and verdict.seconds > budget.BUDGET_SECONDS
    assert "n = 512" in verdict.message and "8 heads" in verdict.message
    assert "Nearest settings that run" in verdict.message and verdict.suggestions
    n_max = int(verdict.suggestions[0].split("≤ ")[1].split(" ")[0])
    assert budget.assess(s.replace(n=n_max), model=m).ok  # the named setting runs…
    assert not budget.assess(s.replace(n=n_max + 1), model=m).ok  # …and is the nearest one
    assert "flops" not in verdict.message


def test_when_no_single_change_fits_a_combined_one_is_named() -> None:
    m = model((5.0, 5.0, 5.0))
    s = BASE.replace(n=512, T=400.0, dt=0.005)
    verdict = budget.assess(s, model=m)
    assert not verdict.ok
    combined = [x for x in verdict.suggestions if "with dt" in x]
    assert combined or any(x.startswith(("n ≤", "raise dt", "T ≤")) for x in verdict.suggestions)
    for text in verdict.suggestions:
        if "with dt" in text:
            n_max = int(text.split("≤ ")[1].split(" ")[0])
            dt = float(text.split("dt = ")[1])
            assert budget.assess(s.replace(n=n_max, dt=dt), model=m).ok


def test_the_engine_limits_refuse_too_in_plain_words() -> None:
    m = model()
    s = BASE.replace(attention="sinkhorn", n=256)  # beyond the engine's work cap for the app
    verdict = budget.assess(s, model=m)
    assert not verdict.ok and "more work than this server does for one view" in verdict.message
    assert "flops" not in verdict.message


def test_every_lesson_runs_within_the_budget_on_the_reference_model() -> None:
    from dynamics.presets import PRESETS

    m = budget.Calibration()  # the reference (busy 2-core) coefficients, scale 1
    for preset in PRESETS:
        assert budget.assess(preset.scenario, model=m).ok, preset.key


def test_the_rate_meter_waits_only_when_a_benchmark_runs() -> None:
    meter = budget.RateMeter(rate=1e11, setup=1e-8)
    assert meter.ready(timeout=0)
    s = Scenario(n=64, d=128, n_heads=2, T=1.0, dt=0.25, frames=3, integrator="euler")
    flops, units = meter.work(s)
    assert meter.estimate(s) == pytest.approx(meter.overhead + 1e-8 * units + flops / 1e11)
