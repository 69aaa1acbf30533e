"""The compare page (pages/compare.py) through AppTest, run on its own (no app.py).

Two variants from the same seed: curves of both, one heatmap per variant, one 3D view; changing a
variant changes the data; Sinkhorn with the causal mask is refused with its reason (st.error).
"""

from __future__ import annotations

import json
from pathlib import Path

from rendered import as_read  # tests/rendered.py
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "compare.py")


def run_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    # small runs: the page's defaults are sized for a person, not for CI
    at.session_state["cmp_n"] = 12
    at.session_state["cmp_T"] = 3.0
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def curves(at: AppTest) -> dict[str, object]:
    """trace name → y values of the curves figure (first subplot: the diameter)."""
    spec = next(
        json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("-cmp_curves")
    )
    out = {}
    for tr in spec["data"]:
        if tr.get("xaxis", "x") == "x":
            out[tr["name"]] = tr["y"]  # a list or plotly's typed-array dict: compared as is
    return out


def test_loads_standalone_with_both_variants():
    at = run_page()
    assert not at.error
    assert at.selectbox(key="cmp_a").value == "softmax" and at.selectbox(key="cmp_b").value == "sinkhorn"
    ids = [c.proto.id for c in at.get("plotly_chart")]
    assert any(i.endswith("-cmp_curves") for i in ids)
    assert any(i.endswith("-heat_A") for i in ids) and any(i.endswith("-heat_B") for i in ids)
    heat = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("-heat_B"))
    assert heat["data"][0]["zmin"] == 0 and heat["data"][0]["zmax"] == 1
    assert set(curves(at)) == {"A: softmax", "B: sinkhorn"}
    assert any("Sinkhorn at this time" in c.value for c in at.caption)


def test_changing_a_variant_changes_the_data():
    at = run_page()
    before = curves(at)["B: sinkhorn"]
    at.selectbox(key="cmp_b").set_value("sigmoid").run()
    assert not at.exception and not at.error
    after = curves(at)
    assert "B: sigmoid" in after and after["B: sigmoid"] != before
    assert after["A: softmax"] == curves(run_page())["A: softmax"]  # A untouched


def test_causal_sinkhorn_shows_the_refusal():
    at = run_page()
    at.radio(key="cmp_mask").set_value("causal").run()
    assert not at.exception
    errors = [as_read(e.value) for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Variant B (sinkhorn): mask:")
    assert "lower-triangular doubly stochastic matrix is the identity" in errors[0]
    # variant A (softmax, causal) still runs and is drawn
    assert set(curves(at)) == {"A: softmax"}
