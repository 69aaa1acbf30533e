"""The Gaussian mean-field page through AppTest (no browser), run on its own without app.py.

Loads; every preset renders without an error; a parameter change changes the plotted data; junk or
refused JSON shows ``st.error`` and never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

from rendered import as_read  # tests/rendered.py
from streamlit.testing.v1 import AppTest

from dynamics.gaussian import PRESETS

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "mean_field.py")
TIMEOUT = 90


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_page_loads_with_its_figures() -> None:
    at = _run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    assert not at.error, [e.value for e in at.error]
    assert any("Gaussian mean field" in t.value for t in at.title)
    charts = _charts(at)
    assert len(charts) >= 5  # mean, eigenvalues, ellipse, disk, gap
    webgl = [c for c in charts if any(tr.get("type") in ("surface", "scatter3d") for tr in c["data"])]
    assert len(webgl) <= 1


def test_every_preset_runs() -> None:
    at = _run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.select_slider(key="mf_n").set_value(250)
    for key in PRESETS:
        at.selectbox(key="mf_preset").set_value(key)
        _run(at)
        assert not at.error, (key, [e.value for e in at.error])
        assert len(_charts(at)) >= 4, key
        if PRESETS[key].scenario.d == 3:
            assert sum(any(tr.get("type") == "surface" for tr in c["data"]) for c in _charts(at)) == 1


def test_parameter_change_changes_the_data() -> None:
    at = _run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.toggle(key="mf_gap").set_value(False)
    before = _charts(_run(at))[0]["data"]
    at.number_input(key="mf_T_collapse").set_value(5.0)
    after = _charts(_run(at))[0]["data"]
    assert before[0]["x"] != after[0]["x"]  # (typed arrays: compared as encoded)
    at.selectbox(key="mf_variant").set_value("l2")
    l2 = _charts(_run(at))[0]["data"]
    assert l2[0]["y"] != after[0]["y"]
    assert not at.error


def test_junk_input_shows_an_error() -> None:
    at = _run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.toggle(key="mf_gap").set_value(False)
    at.text_area(key="mf_json").set_value("{not json")
    _run(at)
    assert any("refused" in e.value for e in at.error)
    at.text_area(key="mf_json").set_value('{"d": 2, "Sigma0": [[1, 2], [2, 1]]}')
    _run(at)
    assert any("Sigma0" in e.value for e in at.error)
    at.text_area(key="mf_json").set_value('{"d": 3, "variant": "l2", "T": 0.5, "m0": [1, 0, 0]}')
    _run(at)
    assert not at.error
    assert any(any(tr.get("type") == "surface" for tr in c["data"]) for c in _charts(at))


def _array(value) -> list[float]:
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return list(value)


def test_the_covariance_panel_shows_an_ellipse_not_a_dot() -> None:
    """ "Collapse to a point" at t = 20: the mean has run off to (−5.7k, −50k) while Σ ≈ 0.1 — axes
    fitted to the points spanned thousands and the ellipse was one dot. The panel is centred on the
    mean and sized by the ellipse, and says where the particles went."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["mf_gap"] = False
    _run(at)
    chart = next(c for c in _charts(at) if "Covariance ellipse" in c["layout"]["title"]["text"])
    ode = next(tr for tr in chart["data"] if tr.get("name") == "ODE 2σ ellipse")
    xs, ys = _array(ode["x"]), _array(ode["y"])
    lo, hi = chart["layout"]["xaxis"]["range"]
    width = max(xs) - min(xs)
    assert lo < min(xs) and max(xs) < hi and width > 0.3 * (hi - lo)  # the ellipse fills the panel
    assert chart["layout"]["yaxis"]["range"][0] < min(ys) and max(ys) < chart["layout"]["yaxis"]["range"][1]
    note = " ".join(c.value for c in at.caption)
    assert "Centred on the ODE's mean" in note and "particles' mean is" in note


def test_a_blow_up_is_said_next_to_the_ellipse() -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["mf_gap"] = False
    at.session_state["mf_preset"] = "blowup"
    _run(at)
    assert any("Covariance ellipse" in c["layout"]["title"]["text"] for c in _charts(at))
    assert any("Σ blows up at t*" in c.value for c in at.caption)


HOSTILE = (
    '{"d": 16, "variant": "sinkhorn", "T": 10000, "frames": 20001, "rtol": 1e-13, "atol": 1e-15, '
    '"sinkhorn_max_iter": 100000, "sinkhorn_tol": 1e-14, "dt": 0.001, "blowup": 1e12}'
)


def test_a_scenario_beyond_the_page_budget_stops_and_keeps_the_preset(monkeypatch) -> None:
    """Issue 13 §2: the JSON that once held a core for 11 minutes stops at this page's budget
    (about 3 s of evaluations), says so, and the preset's view stays drawn; the refused run is
    remembered, so a rerun does not integrate it again."""
    import dynamics.gaussian as G

    calls: list[int] = []
    real = G.solve_gaussian

    def counting(gs, *args, **kwargs):
        calls.append(gs.d)
        return real(gs, *args, **kwargs)

    monkeypatch.setattr(G, "solve_gaussian", counting)
    at = _run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    before = len(_charts(at))
    at.text_area(key="mf_json").set_value(HOSTILE)
    _run(at)
    errors = [as_read(e.value) for e in at.error]
    assert len(errors) == 1 and "needs more work than this page allows" in errors[0], errors
    assert "work budget exhausted" in errors[0]
    assert any(PRESETS["collapse"].title in m.value for m in at.markdown)  # the preset is shown
    assert len(_charts(at)) == before
    assert calls.count(16) == 1
    at.select_slider(key="mf_n").set_value(250)
    _run(at)
    assert calls.count(16) == 1 and len(at.error) == 1
