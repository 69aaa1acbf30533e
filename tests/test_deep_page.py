"""The Deep (GPT-2 scale) page through AppTest, run on its own: the default run shows its
figures, a parameter change changes the data, an over-limit request is refused with st.error, a
run estimated above 3 s waits for the Run button and shows the calibrated estimate.

Time estimates come from ``ui.budget.deep_meter()`` (calibrated on the machine): the tests pin it
to a fixed rate, so what starts by itself does not depend on how busy the test machine is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dynamics import Scenario
from ui import budget

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "deep.py")
TIMEOUT = 120
#: A fast server: GPT-2 small (n = 256, 12 heads, 32 layers) in ≈ 2.3 s, under the 3 s of auto-start.
FAST = budget.RateMeter(rate=2e11, setup=6e-8)


@pytest.fixture(autouse=True)
def fixed_meter(monkeypatch: pytest.MonkeyPatch) -> budget.RateMeter:
    meter = budget.RateMeter(rate=FAST.rate, setup=6e-8)
    monkeypatch.setattr(budget, "deep_meter", lambda: meter)
    return meter


def _titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def _hist(at: AppTest) -> object:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in specs if "Histogram" in f["layout"]["title"]["text"])["data"][0]["z"]


def _small(at: AppTest) -> AppTest:
    at.session_state["deep_n"] = 48
    at.session_state["deep_d"] = 64
    at.session_state["deep_heads"] = 2
    at.session_state["deep_T"] = 6.0
    at.session_state["deep_frames"] = 13
    return at


def test_default_run_shows_its_figures():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    titles = _titles(at)
    assert any("Collapse" in t for t in titles)
    assert any("Histogram" in t for t in titles)
    assert any("cos(x_i, x_j)" in t for t in titles)
    assert at.metric[0].label == "time to collapse"
    at.run()  # served from the cache
    assert any("cache" in c.value for c in at.caption)


def test_parameter_change_changes_data_and_slider_scrubs():
    at = _small(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.run()
    assert not at.exception and not at.error
    hist1 = _hist(at)
    at.sidebar.number_input(key="deep_beta").set_value(4.0).run()
    assert not at.exception and not at.error
    hist2 = _hist(at)
    assert hist1 != hist2
    at.select_slider(key="deep_time").set_value(0).run()
    assert not at.exception
    assert any("t = 0" in t for t in _titles(at))


def test_over_limit_request_is_refused():
    at = _small(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.run()
    at.sidebar.number_input(key="deep_n").set_value(2048).run()
    assert not at.exception
    assert at.error and "n" in at.error[0].value and "1024" in at.error[0].value
    at.sidebar.number_input(key="deep_n").set_value(1024)
    at.sidebar.number_input(key="deep_d").set_value(768)
    at.sidebar.number_input(key="deep_heads").set_value(12)
    at.sidebar.number_input(key="deep_T").set_value(50.0).run()
    assert not at.exception
    message = at.error[0].value
    assert "on this server" in message and "largest run this page allows" in message
    assert "flops" not in message  # plain words: time, not floating-point operations


def test_big_run_waits_for_the_run_button():
    at = _small(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.run()
    at.sidebar.number_input(key="deep_n").set_value(1024)
    at.sidebar.number_input(key="deep_d").set_value(768)
    at.sidebar.number_input(key="deep_heads").set_value(12)
    at.sidebar.number_input(key="deep_T").set_value(5.0)
    at.sidebar.number_input(key="deep_frames").set_value(21).run()
    assert not at.exception and not at.error
    assert at.info and "about" in at.info[0].value
    assert any(b.label.startswith("Run") for b in at.button)


def test_a_slow_server_estimates_long_and_waits_for_the_button(fixed_meter: budget.RateMeter) -> None:
    """The default run auto-starts on a fast server; on one 20× slower (measured) it shows the
    longer estimate and waits — the page's "≈ 4 s" that took 82 s cannot happen again."""
    default = Scenario(n=256, d=768, n_heads=12, qk="gaussian", value="gaussian", T=6.0, dt=0.25,
                       frames=33, integrator="euler", dtype="float32")  # fmt: skip
    flops, units = fixed_meter.work(default)
    for _ in range(3):  # three runs of this process measured 20× slower than the default rate
        fixed_meter.record(default, fixed_meter.overhead + 6e-8 * units + 20 * flops / FAST.rate)
    expected = fixed_meter.overhead + 6e-8 * units + 20 * flops / FAST.rate
    assert fixed_meter.estimate(default) == pytest.approx(expected) and expected > 10 * FAST.estimate(default)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["deep_seed"] = 5  # not among the finished runs other tests left in the cache
    at.run()
    assert not at.exception and not at.metric  # nothing ran
    info = at.info[0].value
    seconds = float(info.split("about ")[1].split(" s")[0])
    assert seconds == pytest.approx(fixed_meter.estimate(default), rel=0.05)
    assert "does not start by itself" in info and "billion arithmetic operations per second" in info
    assert any(b.label.startswith("Run (≈") for b in at.button)


def test_the_meter_follows_measured_runs() -> None:
    meter = budget.RateMeter(rate=1e11, setup=0.0, overhead=0.0)
    s = Scenario(n=128, d=256, n_heads=4, T=2.0, dt=0.25, frames=3, integrator="euler")
    flops, _ = meter.work(s)
    assert meter.estimate(s) == pytest.approx(flops / 1e11)
    meter.record(s, flops / 2.5e10)  # this server ran it at 2.5e10 flops/s
    assert meter.rate == pytest.approx(2.5e10) and meter.estimate(s) == pytest.approx(flops / 2.5e10)
