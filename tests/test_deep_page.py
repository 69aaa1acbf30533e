"""The Deep (GPT-2 scale) page through AppTest, run on its own: the default run shows its
figures, a parameter change changes the data, an over-limit request is refused with st.error."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "deep.py")
TIMEOUT = 120


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
    assert at.error and "work budget" in at.error[0].value


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
