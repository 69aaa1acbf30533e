"""Exports (ui/exports.py): every format rebuilds or names the same run, carries the stamp, and the
explorer offers each one as a lazy download. PNG/SVG go through kaleido + the system chromium."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import dynamics
from dynamics import Scenario
from dynamics.presets import DEFAULT_PRESET, PRESETS
from ui import exports, session

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCENARIO = next(p for p in PRESETS if p.key == "metastable").scenario.replace(n=12, T=8.0)


@pytest.fixture(scope="module")
def display() -> session.Display:
    return session.build_display(SCENARIO)


def test_stamp_names_version_digest_and_seed() -> None:
    s = exports.stamp(SCENARIO)
    assert (s.version, s.digest, s.seed) == (dynamics.__version__, SCENARIO.digest(), SCENARIO.seed)
    name = exports.file_name("trajectory", SCENARIO, "npz")
    assert name == f"trajectory-v{dynamics.__version__}-{SCENARIO.digest()}-seed{SCENARIO.seed}.npz"


def test_scenario_json_is_what_the_cli_reads() -> None:
    text = exports.scenario_json(SCENARIO)
    back = Scenario.from_json(text)
    assert back == SCENARIO and back.digest() == SCENARIO.digest()


def test_npz_has_the_cli_keys_and_documented_extras(display, tmp_path: Path) -> None:
    from dynamics import simulate
    from dynamics.cli import main as cli

    explorer = np.load(io.BytesIO(exports.trajectory_npz(SCENARIO, display)), allow_pickle=False)
    (tmp_path / "s.json").write_text(exports.scenario_json(SCENARIO))
    assert cli(["simulate", str(tmp_path / "s.json"), "-o", str(tmp_path / "cli.npz"), "--quiet"]) in (
        0,
        None,
    )
    with explorer as z, np.load(tmp_path / "cli.npz", allow_pickle=False) as c:
        assert set(c.files) <= set(z.files)  # the CLI's names, the CLI's meaning
        assert set(z.files) - set(c.files) <= set(exports.NPZ_EXTRAS)  # extras are documented
        for key in ("t", "x", "status"):
            assert np.array_equal(z[key], c[key]), key
        result = simulate(SCENARIO)
        assert z["x"].shape == (len(result.t), SCENARIO.n, SCENARIO.d)
        np.testing.assert_array_equal(z["x"], result.x)
        assert Scenario.from_json(str(z["scenario"])) == SCENARIO
        stamp = json.loads(str(z["stamp"]))
        assert stamp["scenario_digest"] == SCENARIO.digest() and stamp["seed"] == SCENARIO.seed
        assert str(z["version"]) == stamp["version"] == dynamics.__version__
        assert z["x_display"].shape == display.x3.shape
        assert np.array_equal(z["t"][z["frame_index"]], display.t[display.frame_idx])
        assert {"metric_diameter", "metric_clusters"} <= set(z.files)


def test_csv_has_a_stamped_header_and_one_row_per_frame_and_token(display) -> None:
    text = exports.trajectory_csv(SCENARIO, display)
    meta = exports.read_csv_header(text)
    assert meta["scenario_digest"] == SCENARIO.digest() and meta["seed"] == str(SCENARIO.seed)
    assert meta["version"] == dynamics.__version__
    assert Scenario.from_json(meta["scenario"]) == SCENARIO
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert body[0].split(",")[:4] == ["frame", "t", "token", "cluster"]
    k, n, _ = display.x3.shape
    assert len(body) == 1 + k * n
    last = np.array([[float(v) for v in row.split(",")[4:]] for row in body[-n:]])
    assert np.allclose(last, display.x3[-1], atol=1e-6)
    assert "nan" not in text.lower()


def test_python_snippet_is_stamped_and_rebuilds_the_scenario() -> None:
    code = exports.python_snippet(SCENARIO)
    assert exports.stamp(SCENARIO).text() in code
    ns: dict = {}
    exec(code.split("result = ")[0], ns)
    assert ns["scenario"] == SCENARIO


def test_html_is_standalone_and_stamped(display) -> None:
    html = exports.figure_html(session.static_figure(display), SCENARIO, "Metastability")
    assert "<script src=" not in html.split("</head>")[0] or "cdn" not in html[:5000].lower()
    assert len(html) > 3_000_000  # plotly.js inlined: works offline
    assert f'content="{SCENARIO.digest()}"' in html
    m = re.search(r'<script type="application/json" id="adx-scenario">(.*?)</script>', html, re.S)
    assert m and Scenario.from_json(m.group(1)) == SCENARIO
    assert f"scenario {SCENARIO.digest()} \\u00b7 seed {SCENARIO.seed}" in html  # the annotation


def test_stamped_figure_never_mutates_the_shared_figure(display) -> None:
    fig = session.static_figure(display)
    before = fig.to_json()
    exports.stamped_figure(fig, SCENARIO, "title")
    assert fig.to_json() == before


def test_error_image_says_why() -> None:
    from PIL import Image

    png = exports.error_image("no chromium here", "png")
    assert Image.open(io.BytesIO(png)).size == (900, 160)
    assert b"no chromium here" in exports.error_image("no chromium here", "svg")


def test_unavailable_image_export_is_refused_with_a_reason(monkeypatch) -> None:
    monkeypatch.setattr(exports, "chromium_path", lambda: None)
    exports.image_support.cache_clear()
    monkeypatch.setattr(exports, "image_support", exports.image_support.__wrapped__)
    reason = exports.image_support()
    assert reason and "chromium" in reason
    with pytest.raises(exports.ExportUnavailable, match="chromium"):
        exports.image_server().render({"data": [], "layout": {}}, "png", 100, 100)


def test_the_title_sits_inside_the_figure_with_room_above_the_plot(display) -> None:
    fig = exports.stamped_figure(session.static_figure(display), SCENARIO, "Causal attention")
    layout = fig.layout
    assert layout.title.text == "Causal attention"
    assert layout.title.yref == "container" and layout.title.yanchor == "top" and layout.title.y == 1.0
    assert layout.margin.t >= layout.title.font.size + layout.title.pad.t  # never cut at y = 0


@pytest.mark.skipif(exports.image_support() is not None, reason=str(exports.image_support()))
def test_png_and_svg_render_offline_with_the_whole_title(display) -> None:
    fig = session.static_figure(display)
    png = exports.figure_image(fig, SCENARIO, "png", size=(500, 400), title="Causal attention")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = exports.figure_image(fig, SCENARIO, "svg", size=(500, 400), title="Causal attention").decode()
    assert svg.lstrip().startswith("<svg") and SCENARIO.digest() in svg
    tag = re.search(r'<text class="gtitle"([^>]*)>(.*?)</text>', svg)
    assert tag and tag.group(2) == "Causal attention"
    attrs = tag.group(1)
    size = float(re.search(r"font-size: ([0-9.]+)px", attrs).group(1))
    dy = re.search(r'dy="([-0-9.]+)em"', attrs)
    baseline = float(re.search(r'\by="([-0-9.]+)"', attrs).group(1)) + (
        float(dy.group(1)) * size if dy else 0
    )
    assert baseline - 0.8 * size >= 0  # the tallest glyphs (≈ 0.8 em above the baseline) are inside


def test_the_explorer_offers_every_export_lazily(monkeypatch) -> None:
    calls: list[str] = []
    real = exports.trajectory_npz
    monkeypatch.setattr(exports, "trajectory_npz", lambda *a: calls.append("npz") or real(*a))
    monkeypatch.setattr(exports, "figure_image", lambda *a, **k: calls.append("image") or b"")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    for label in ("Scenario JSON", "Python script", "Trajectory NPZ", "Trajectory CSV", "3D view HTML"):
        assert label in labels
    assert "Figure PNG" not in labels  # images are rendered on request, with progress
    assert at.button(key="_render_images").label == "Render PNG + SVG"
    assert calls == []  # nothing was built on the page run
    caption = " ".join(c.value for c in at.caption)
    assert exports.stamp(DEFAULT_PRESET.scenario).text() in caption


def test_image_export_shows_progress_and_carries_the_current_lessons_title(monkeypatch) -> None:
    titles: list[str | None] = []

    def fake(fig, scenario, fmt="png", size=exports.IMAGE_SIZE, title=None):
        titles.append(title)
        return b"\x89PNG fake" if fmt == "png" else b"<svg/>"

    monkeypatch.setattr(exports, "figure_image", fake)
    monkeypatch.setattr(exports, "image_support", lambda: None)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lesson"] = "causal"
    at.run()
    at.button(key="_render_images").click().run()
    assert not at.exception
    causal = next(p for p in PRESETS if p.key == "causal")
    assert titles == [causal.title, causal.title]  # not "Consensus on the sphere"
    assert any("Images ready" in s.proto.label for s in at.status)  # the progress box, complete
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Figure PNG" in labels and "Figure SVG" in labels
    at.slider(key="beta").set_value(2.0).run()  # another scenario: render again (and say so)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Figure PNG" not in labels and at.button(key="_render_images")
