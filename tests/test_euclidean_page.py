"""The Euclidean-model page (pages/euclidean.py) through AppTest, run on its own (no app.py).

Every case renders its figure and its glpr card with the ✓/✗ lines (``<div class="adx-assumption"
data-name=… data-holds=…>``) and an observation; the 1-D case names the two leaders and shows the
attention heatmaps; bad input (a broken JSON, a refused scenario) gives st.error, never a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from rendered import as_read  # tests/rendered.py
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "euclidean.py")
ASSUMPTION = re.compile(r'data-holds="(true|false)" data-name="([a-z0-9_]+)"')


def run_page(**state: Any) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def assumptions(at: AppTest) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for md in at.markdown:
        for holds, name in ASSUMPTION.findall(md.value):
            found[name] = holds == "true"
    return found


def texts(at: AppTest) -> str:
    parts: list[Any] = [*at.markdown, *at.warning, *at.info, *at.success, *at.error, *at.caption]
    return "\n".join(str(p.value) for p in parts)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_default_polytope_case_observes_its_card():
    at = run_page()
    assert at.selectbox(key="eu_case").value == "polytope"
    shown = assumptions(at)
    assert shown and all(shown.values()) and "value_identity" in shown
    assert any("Observed" in s.value for s in at.success), texts(at)
    specs = charts(at)
    names = {tr.get("name") for tr in specs[0]["data"]}
    assert "predicted limit set ∂K" in names and "trajectories" in names
    assert not at.error


@pytest.mark.parametrize(
    ("case", "card_name", "trace"),
    [
        ("hyperplanes", "qk_positive_on_top", "ψ₁ᵀz = const"),
        ("paranormal", "value_identity", "predicted limit set ∂K"),
        ("negative", "value_minus_identity", "trajectories"),
    ],
)
def test_each_case_renders(case, card_name, trace):
    at = run_page()
    at.selectbox(key="eu_case").set_value(case).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert card_name in assumptions(at)
    names = {tr.get("name") for spec in charts(at) for tr in spec["data"]}
    assert trace in names
    if case != "paranormal":
        assert any("Observed" in s.value for s in at.success), texts(at)


def test_one_dimension_names_the_leaders_and_shows_boolean_attention():
    at = run_page()
    at.selectbox(key="eu_case").set_value("leaders").run()
    assert not at.exception and not at.error
    body = texts(at)
    assert "**Leaders:** token" in body
    assert all(assumptions(at).values())
    heat = [s for s in charts(at) if any(tr["type"] == "heatmap" for tr in s["data"])]
    assert heat and all(tr["zmin"] == 0 and tr["zmax"] == 1 for tr in heat[0]["data"])
    assert any("Observed" in s.value and "Boolean" in s.value for s in at.success)
    # break an assumption: V < 0 → the card says the theorem no longer covers it
    at.slider(key="eu_v1").set_value(-1.0).run()
    assert not at.exception
    assert assumptions(at)["value_positive"] is False
    assert "Not covered by the theorem" in texts(at)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"model": "euclidean", "value": "good_triple", "d": 3}', "good_triple"),
        ('{"nn": 1}', "unknown scenario key"),
        ('{"model": "euclidean", "n": 5000}', "limit"),
    ],
)
def test_bad_input_is_an_error_not_a_traceback(raw, match):
    at = run_page()
    at.text_area(key="eu_json").set_value(raw).run()
    assert not at.exception
    assert any(match in as_read(e.value) for e in at.error), [e.value for e in at.error]


def test_pasted_json_replaces_the_controls():
    at = run_page()
    raw = json.dumps({"model": "euclidean", "n": 10, "d": 1, "V": 1.5, "Q": 1.0, "K": 2.0, "T": 6.0})
    at.text_area(key="eu_json").set_value(raw).run()
    assert not at.exception and not at.error
    assert "d_equals_1" in assumptions(at) and "**Leaders:** token" in texts(at)
