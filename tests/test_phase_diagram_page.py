"""The phase-diagram page through AppTest (no browser), run on its own (no app.py navigation):
the default small sweep runs by itself and draws the heatmap with the equiangular curve; bad
input is an st.error, never a traceback; big sweeps wait for the Run button; finished sweeps come
from the cache; the downloads carry the sweep JSON.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from dynamics.sweep import Sweep, SweepResult

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "phase_diagram.py")
TIMEOUT = 60


def run_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _array(value) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            arr = arr.reshape([int(v) for v in str(shape).split(",")])
        return arr.astype(float)
    return np.array(value, dtype=float)


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_default_sweep_runs_and_draws_the_diagram():
    at = run_page()
    assert not at.error
    figs = _figures(at)
    heat = figs[0]
    kinds = [tr["type"] for tr in heat["data"]]
    assert kinds == ["heatmap", "scatter"]  # the statistic and the equiangular curve
    assert heat["data"][0]["zmin"] == 0 and heat["data"][0]["zmax"] == 1
    z = _array(heat["data"][0]["z"])
    assert z.shape == (30, 100) and np.isfinite(z).all()
    assert z[0, -1] > 0.9 > z[-1, -1]  # β = 0.1 clustered at T, β = 9 not entirely
    assert any("systems × 300 steps" in c.value for c in at.caption)
    # the second run is served from the cache of finished sweeps
    at.run()
    assert any("cache" in c.value for c in at.caption)


def test_bad_input_is_an_error_not_a_traceback():
    at = run_page()
    at.sidebar.number_input(key="pd_beta_min").set_value(5.0)
    at.sidebar.number_input(key="pd_beta_max").set_value(1.0).run()
    assert not at.exception
    assert at.error and "β max" in at.error[0].value
    at.sidebar.number_input(key="pd_beta_max").set_value(9.0)
    at.sidebar.number_input(key="pd_d").set_value(3)
    at.sidebar.selectbox(key="pd_qk").set_value("goe")
    at.sidebar.radio(key="pd_attention").set_value("unnormalized").run()
    assert not at.exception and at.error and "unnormalized" in at.error[0].value


def test_big_sweep_waits_for_run_button_with_estimate():
    at = run_page()
    at.sidebar.number_input(key="pd_systems").set_value(4096).run()
    assert not at.exception and not at.error
    assert at.info and "about" in at.info[0].value
    labels = [b.label for b in at.button]
    assert any(label.startswith("Run (≈") for label in labels)
    assert any(label.startswith("Headline sweep") for label in labels)
    assert not at.get("plotly_chart")  # nothing ran


def test_downloads_and_npz_of_the_shown_sweep():
    at = run_page()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download NPZ", "Download sweep JSON"]
    # what the NPZ button serialises: a SweepResult with its sweep JSON embedded
    sweep = Sweep.from_dict({"betas": [1.0], "systems": 2, "n": 6, "T": 1.0, "checkpoints": 3})
    from dynamics.sweep import run_sweep

    result = run_sweep(sweep, client="serial")
    back = SweepResult.from_npz(io.BytesIO(result.to_bytes()))
    assert back.sweep == sweep and np.array_equal(back.stat, result.stat)
