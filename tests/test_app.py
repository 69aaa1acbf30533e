"""The Streamlit app through AppTest (no browser): pages load, links set widgets, widgets change
the picture, every lesson tells its story, junk links never reach a traceback.

AppTest cannot run the 3D player's JavaScript, so the picture checked here is the static figure of
the "Static view / export" expander (``st.plotly_chart`` keyed ``static_3d``), decoded from its
plotly JSON. That figure is drawn only when its toggle is on (off by default: it costs ~0.1 s per
scenario); ``run_app`` switches it on, and one test checks it stays unbuilt while off.
The real-browser tests are in tests/e2e/test_explorer.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
import pytest
from rendered import as_read  # tests/rendered.py
from streamlit.testing.v1 import AppTest

from dynamics import Scenario
from dynamics.presets import DEFAULT_PRESET, PRESETS

TIMEOUT = 60
APP = str(Path(__file__).resolve().parents[1] / "app.py")


#: The export panel's "Static 3D figure" toggle (pages/explorer.py STATIC_KEY): off by default (the
#: figure is built only on request), switched on here so that ``picture()`` can read it.
STATIC_KEY = "static_view"


def run_app(*, static: bool = True, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if static:
        at.session_state[STATIC_KEY] = True
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart(at: AppTest, key: str) -> Any:
    """The plotly figure of the chart with this widget key (decoded from its JSON spec)."""
    found = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    assert found, f"no plotly chart keyed {key!r}"
    return pio.from_json(found[0].proto.spec)


def _array(value: Any) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:  # plotly's typed-array JSON
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
        return arr
    return np.asarray(value if value is not None else [], dtype=float)


def traces(at: AppTest) -> dict[str, dict[str, np.ndarray]]:
    fig = chart(at, "static_3d")
    return {
        tr.name: {axis: _array(getattr(tr, axis)) for axis in ("x", "y", "z")}
        for tr in fig.data
        if tr.type == "scatter3d"
    }


def picture(at: AppTest) -> str:
    """A digest of the static figure's data (tokens and trails)."""
    h = hashlib.sha256()
    for name, xyz in sorted(traces(at).items()):
        h.update(name.encode())
        for axis in "xyz":
            h.update(np.nan_to_num(xyz[axis].astype(np.float64)).round(6).tobytes())
    return h.hexdigest()


CARD_PREFIXES = ("**Observed**", "**Contradicted**", "**Undecided**", "**Not simulated", "**This result")


def verdict(at: AppTest) -> str:
    """The explorer's verdict line (not the theorem card's observation boxes below it)."""
    boxes = [*at.success, *at.info, *at.warning]
    texts = [b.value for b in boxes if b.value.startswith("**") and not b.value.startswith(CARD_PREFIXES)]
    assert texts, "no verdict on the page"
    return texts[0]


def shown_scenario(at: AppTest) -> Scenario:
    """The scenario printed in the export panel (the JSON code block)."""
    blocks = [c.value for c in at.code if c.language == "json"]
    assert blocks, "no scenario JSON on the page"
    return Scenario.from_json(blocks[0])


def widget(at: AppTest, key: str) -> Any:
    return at.session_state[key]


# --------------------------------------------------------------------------------------- pages
def test_explorer_loads_with_default_lesson_telling_its_story() -> None:
    at = run_app()
    assert DEFAULT_PRESET.title in at.markdown[0].value
    assert any(DEFAULT_PRESET.caption[:40] in c.value for c in at.caption)
    assert at.success and "Consensus at t ≈" in at.success[0].value
    tokens = traces(at)["tokens"]
    assert tokens["x"].size == DEFAULT_PRESET.scenario.n
    assert np.allclose(tokens["x"] ** 2 + tokens["y"] ** 2 + tokens["z"] ** 2, 1.0, atol=1e-5)
    assert not at.error


def test_about_page_loads() -> None:
    at = run_app()
    at.switch_page("pages/about.py").run()
    assert not at.exception
    assert at.title[0].value == "About the maths"
    text = " ".join(m.value for m in at.markdown)
    for needle in ("2412.02682", "2312.10794", "What this project found", "Thm D", "w-(x^\\top Pw)x"):
        assert needle in text
    assert len(at.get("latex")) >= 6


# --------------------------------------------------------------------------------------- links
def test_deep_link_sets_the_widgets() -> None:
    at = run_app(
        lesson="metastable",
        n="48",
        beta="4.5",
        mask="causal",
        init="hemisphere",
        seed="3",
        T="30",
        integrator="rk4",
        v_eig1="1.5",
    )
    assert "Metastability" in at.markdown[0].value
    assert widget(at, "n") == 48
    assert widget(at, "beta") == pytest.approx(4.5)
    assert widget(at, "mask") == "causal"
    assert widget(at, "init") == "hemisphere"
    assert widget(at, "seed") == 3
    assert widget(at, "T") == pytest.approx(30.0)
    assert widget(at, "integrator") == "rk4"
    assert widget(at, "d") == 2  # from the lesson
    assert widget(at, "v_eig1") == pytest.approx(1.5)
    shown = shown_scenario(at)
    assert (shown.n, shown.beta, shown.mask, shown.seed, shown.T) == (48, 4.5, "causal", 3, 30.0)
    assert shown.v_eigs == (1.5, 1.0) and shown.d == 2
    assert traces(at)["tokens"]["x"].size == 48
    assert not at.error


def test_link_in_scenario_query_form_opens_the_same_scenario() -> None:
    """Scenario.to_query's ``v_eigs=a,b,c`` works for d ≤ 4 too (sliders are v_eig1…)."""
    preset = next(p for p in PRESETS if p.key == "causal-symmetric-v")
    at = run_app(
        lesson="consensus",
        **{
            k: v
            for k, v in preset.scenario.to_query().items()
            if k in ("n", "mask", "v_eigs", "init", "margin", "seed", "T", "qk")
        },
    )
    assert [widget(at, f"v_eig{i}") for i in (1, 2, 3)] == pytest.approx([2.0, -0.7, -2.3])
    assert widget(at, "mask") == "causal" and widget(at, "init") == "hemisphere"


# --------------------------------------------------------------------------------------- widgets
CHANGES: list[tuple[str, str, Any]] = [
    ("n", "slider", 40),
    ("d", "number_input", 4),
    ("beta", "slider", 4.0),
    ("n_heads", "slider", 2),
    ("v_eig1", "slider", 2.0),
    ("mask", "radio", "causal"),
    ("init", "selectbox", "hemisphere"),
    ("T", "slider", 6.0),
    ("seed", "number_input", 8),
]


@pytest.fixture(scope="module")
def default_picture() -> str:
    return picture(run_app())


@pytest.mark.parametrize(("key", "kind", "value"), CHANGES, ids=[c[0] for c in CHANGES])
def test_each_main_widget_changes_the_picture(key: str, kind: str, value: Any, default_picture: str) -> None:
    at = run_app()
    assert picture(at) == default_picture  # deterministic
    getattr(at, kind)(key=key).set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert widget(at, key) == value
    assert picture(at) != default_picture


def test_d_above_four_uses_the_text_spectrum_and_keeps_the_last_good_value() -> None:
    at = run_app(d="6")
    assert traces(at)["tokens"]["x"].size == DEFAULT_PRESET.scenario.n
    assert any("d = 6" in c.value and "principal" in c.value for c in at.caption)
    box = at.text_input(key="v_eigs")
    assert box.value.count(",") == 5
    box.set_value("2, 1, 1, 1, 1, -1").run()
    good = picture(at)
    at.text_input(key="v_eigs").set_value("2, 1, oops").run()
    assert not at.exception
    assert any("oops is not a number" in as_read(w.value) for w in at.warning)
    assert picture(at) == good  # the previous spectrum is kept
    assert shown_scenario(at).v_eigs == (2.0, 1.0, 1.0, 1.0, 1.0, -1.0)


def test_lesson_switch_reset_and_new_seed() -> None:
    at = run_app()
    at.selectbox(key="_lesson").set_value("hemisphere").run()
    hemi = next(p for p in PRESETS if p.key == "hemisphere").scenario
    assert widget(at, "n") == hemi.n and widget(at, "init") == "hemisphere"
    assert widget(at, "n_heads") == hemi.n_heads and widget(at, "qk") == "gaussian"
    assert widget(at, "seed") == hemi.seed
    at.slider(key="beta").set_value(3.0).run()
    at.number_input(key="seed").set_value(99).run()
    at.button(key="_reset").click().run()  # lesson values, same seed
    assert widget(at, "beta") == pytest.approx(hemi.beta)
    assert widget(at, "seed") == 99
    at.button(key="_new_seed").click().run()
    assert widget(at, "seed") != 99
    assert not at.exception


def player_payload(at: AppTest) -> dict[str, Any]:
    """The data the explorer sent to the 3D player (the components-v2 element's JSON)."""

    def walk(node: Any) -> Any:
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else ():
            yield child
            yield from walk(child)

    for el in walk(at._tree):
        proto = getattr(el, "proto", None)
        if type(proto).__name__ == "BidiComponent" and proto.component_name == "adx_trajectory_player":
            return json.loads(proto.json)
    raise AssertionError("no 3D player on the page")


def heatmap_time(at: AppTest) -> float:
    title = chart(at, "heatmap").layout.title.text
    return float(re.search(r"t = ([-0-9.e+]+)", title).group(1))


def cursor_time(at: AppTest) -> float:
    """x of the curves' solid orange cursor (one per row, all at the same time)."""
    lines = {round(s.x0, 9) for s in chart(at, "curves").layout.shapes if s.line.color == "#D55E00"}
    assert len(lines) == 1, lines
    return lines.pop()


def test_one_time_for_the_page_the_heatmap_and_cursor_follow_the_player(monkeypatch) -> None:
    """The curves' cursor and the heatmap are drawn at the player's frame (here the link's
    ``frame``; in the browser, what the player reports) — no separate time slider, and changing
    the frame or the head never re-integrates."""
    from ui import session

    calls: list[str] = []
    real = session.build_display

    def counting(scenario, *args, **kwargs):
        calls.append(scenario.to_json())
        return real(scenario, *args, **kwargs)

    monkeypatch.setattr(session, "build_display", counting)
    at = run_app(seed="424242", mask="causal", n_heads="2", qk="gaussian", frame="30")
    assert not at.get("select_slider") or all(s.key != "at" for s in at.select_slider)
    payload = player_payload(at)
    t30 = float(session.cached_display(shown_scenario(at)).t[payload["frames"][30]])
    assert cursor_time(at) == pytest.approx(t30, abs=1e-6)
    assert heatmap_time(at) == pytest.approx(t30, abs=0.06)
    before = _array(chart(at, "heatmap").data[0].z)
    at.button_group(key="head").set_value("2").run()
    at2 = run_app(seed="424242", mask="causal", n_heads="2", qk="gaussian", frame="120")
    assert cursor_time(at2) > cursor_time(at) + 5 and heatmap_time(at2) > heatmap_time(at) + 5
    assert not at.exception and not at2.exception
    assert len(set(calls)) == 1  # one scenario, integrated once in this process
    z = _array(chart(at, "heatmap").data[0].z).astype(float)
    assert z.shape == before.shape == (32, 32)
    assert not np.array_equal(before, z, equal_nan=True)
    assert np.isnan(z).any()  # causal: masked entries are blank


def test_a_lesson_opens_at_t0_and_a_link_can_autoplay() -> None:
    at = run_app(lesson="metastable")
    start = player_payload(at)["start"]
    assert start["frame"] == 0 and start["autoplay"] is False  # every token visible, not the ending
    assert cursor_time(at) == pytest.approx(0.0)
    linked = player_payload(run_app(lesson="metastable", frame="40", autoplay="true"))["start"]
    assert linked["frame"] == 40 and linked["autoplay"] is True
    assert linked["id"] == start["id"]  # the same lesson start: only a lesson switch or Reset changes it


def test_a_lesson_switch_and_reset_restart_the_player_but_sliders_do_not() -> None:
    at = run_app(frame="40")
    first = player_payload(at)["start"]
    at.slider(key="beta").set_value(2.0).run()
    assert player_payload(at)["start"]["id"] == first["id"]  # the player keeps its time
    at.button(key="_reset").click().run()
    after_reset = player_payload(at)["start"]
    assert after_reset["id"] != first["id"] and after_reset["frame"] == 0
    at.selectbox(key="_lesson").set_value("metastable").run()
    switched = player_payload(at)["start"]
    assert switched["id"] not in (first["id"], after_reset["id"]) and switched["frame"] == 0
    assert not at.exception


# --------------------------------------------------------------------------------------- lessons
STORIES = {
    "consensus": "Consensus at t",
    "hemisphere": "Consensus at t",
    "causal": "at the first token",
    "causal-symmetric-v": "Consensus at t",
    "metastable": "3 clusters at T = 100",
    "antipodal": "no consensus by T",
    "ellipsoid-gradient": "Consensus at t",
    "usa": "Consensus at t",
    "cone-collapse": "Consensus at t",
    "causal-multihead": "at the first token",
}


@pytest.mark.parametrize("preset", PRESETS, ids=[p.key for p in PRESETS])
def test_every_lesson_runs_and_its_verdict_matches_its_story(preset) -> None:
    at = run_app(lesson=preset.key)
    assert preset.title in at.markdown[0].value
    assert not at.error, [e.value for e in at.error]
    story = STORIES.get(preset.key)  # a lesson added later must at least produce a verdict
    assert story is None or story in verdict(at), verdict(at)
    assert traces(at)["tokens"]["x"].size == preset.scenario.n


# --------------------------------------------------------------------------------------- junk
JUNK = [
    {"n": "-5", "beta": "abc", "d": "99999", "v_eigs": "x,y", "lesson": "nope"},
    {"seed": "-1", "T": "1e309", "dt": "0", "mask": "sideways", "init": "<script>"},
    {"cam": "1,2", "view": "nowhere", "at": "-3", "head": "7", "trails": "maybe"},
]


@pytest.mark.parametrize("query", JUNK, ids=["numbers", "choices", "display"])
def test_junk_links_show_a_message_and_never_a_traceback(query: dict[str, str]) -> None:
    at = run_app(**query)
    assert not at.exception
    assert at.success or at.info  # the default view still works


def test_junk_link_names_the_refused_values() -> None:
    at = run_app(n="-5", beta="abc", d="99999", v_eigs="x,y", lesson="nope")
    assert at.error
    message = at.error[0].value
    for part in ("n=-5", "beta=abc", "d=99999", "lesson=nope", "v_eigs=x,y"):
        assert part in message


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"init": "antipodal", "n": "33"}, "even number"),
        ({"qk": "spd", "qk_eigs": "-1,1,1"}, "positive definite"),
    ],
    ids=["antipodal-odd-n", "qk-not-spd"],
)
def test_refused_scenarios_show_the_engine_message(query: dict[str, str], needle: str) -> None:
    at = run_app(**query)
    assert not at.exception
    assert any(needle in e.value for e in at.error)
    assert at.get("selectbox")  # the sidebar still works
    assert traces(at)["tokens"]["x"].size == DEFAULT_PRESET.scenario.n  # a picture, the lesson's


@pytest.mark.parametrize(
    "query",
    [{"n": "512", "n_heads": "8", "beta": "4"}, {"n": "512", "T": "400", "dt": "0.005"}],
    ids=["512-tokens-8-heads", "long-horizon"],
)
def test_a_link_over_the_budget_is_refused_before_integrating_and_names_what_runs(
    query: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui import session

    built: list[int] = []
    real = session.build_display
    monkeypatch.setattr(session, "build_display", lambda s, *a, **k: built.append(s.n) or real(s, *a, **k))
    at = run_app(**query)
    assert not at.exception
    refusal = " ".join(w.value for w in at.warning if w.value.startswith("Not run"))
    assert "would take about" in refusal and "Nearest settings that run" in refusal
    assert re.search(r"n ≤ \d+", refusal) or "raise dt" in refusal
    assert 512 not in built  # refused before integrating
    # The picture stays: the lesson's own (nothing ran before in this session), curves included.
    assert traces(at)["tokens"]["x"].size == DEFAULT_PRESET.scenario.n
    assert chart(at, "curves").data
    assert player_payload(at)["n"] == DEFAULT_PRESET.scenario.n


def test_a_refused_slider_value_keeps_the_last_picture_on_screen() -> None:
    at = run_app(lesson="metastable", n="40")
    before, payload = picture(at), player_payload(at)
    at.slider(key="n").set_value(512).run()
    at.slider(key="n_heads").set_value(8).run()
    assert not at.exception
    refusal = " ".join(w.value for w in at.warning if w.value.startswith("Not run"))
    assert "n = 512" in refusal and "8 heads" in refusal and "Still showing the last settings" in refusal
    suggested = int(re.search(r"n ≤ (\d+) at 8 heads", refusal).group(1))
    assert 2 <= suggested < 512
    assert picture(at) == before and player_payload(at)["sig"] == payload["sig"]
    # The suggestion runs: moving n to it draws a new picture with no refusal.
    at.slider(key="n").set_value(min(suggested, 64)).run()
    assert not [w for w in at.warning if w.value.startswith("Not run")]
    assert traces(at)["tokens"]["x"].size == min(suggested, 64)


# --------------------------------------------------------------------------------------- export
@pytest.mark.parametrize("preset", PRESETS, ids=[p.key for p in PRESETS])
def test_exported_python_rebuilds_the_same_scenario(preset) -> None:
    from ui.session import python_snippet

    code = python_snippet(preset.scenario).split("result = ")[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    assert namespace["scenario"] == preset.scenario


# --------------------------------------------------------------------------------------- lesson links
def _styles(at: AppTest) -> str:
    return " ".join(h.proto.body for h in at.get("html"))


def test_hide_flags_hide_controls_but_keep_their_link_values() -> None:
    at = run_app(lesson="metastable", beta="5", hide="beta,n_heads,mask")
    css = _styles(at)
    for key in ("beta", "n_heads", "mask"):
        assert f".st-key-{key}" in css
    assert ".st-key-n," not in css and ".st-key-n " not in css  # n stays visible
    assert widget(at, "beta") == pytest.approx(5.0)  # the hidden control still sets the run
    assert shown_scenario(at).beta == 5.0
    assert not at.error


def test_hiding_every_control_of_a_group_hides_the_group_and_unknown_names_are_reported() -> None:
    at = run_app(hide="T,integrator,dt,wings")
    assert ".st-key-grp_solver" in _styles(at)
    assert any("hide=wings (unknown control)" in as_read(e.value) for e in at.error)


def test_hide_export_and_card_leave_them_out() -> None:
    at = run_app(hide="export,card")
    assert not at.get("download_button")
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-static_3d")]


def test_static_figure_is_built_only_when_its_toggle_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from ui import session

    calls: list[bool] = []
    real = session.static_figure

    def counting(display, trails=True):
        calls.append(trails)
        return real(display, trails)

    monkeypatch.setattr(session, "static_figure", counting)
    at = run_app(static=False, seed="424243")
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-static_3d")]
    assert not calls  # neither built nor sent
    assert shown_scenario(at).seed == 424243  # the rest of the export panel is there
    at.toggle(key=STATIC_KEY).set_value(True).run()
    assert not at.exception
    assert calls and traces(at)["tokens"]["x"].shape == (32,)


def test_embed_mode_hides_the_sidebar_and_compacts_the_page() -> None:
    at = run_app(embed="true")
    css = _styles(at)
    assert '[data-testid="stSidebar"]' in css and "display: none" in css
    assert not at.get("download_button")  # no export panel on a slide
    assert at.markdown[0].value.startswith("##### ")
    assert at.success and "Consensus" in at.success[0].value


def test_frame_links_round_trip_and_an_old_heatmap_time_is_harmless() -> None:
    at = run_app(lesson="metastable", frame="40", at="12.5")  # ``at`` (the old heatmap slider) is ignored
    assert player_payload(at)["start"]["frame"] == 40
    assert cursor_time(at) == pytest.approx(heatmap_time(at), abs=0.6)
    assert not at.error


@pytest.mark.parametrize("frame", ["abc", "-1", "99999999999999"])
def test_a_bad_frame_link_is_reported_not_fatal(frame: str) -> None:
    at = run_app(frame=frame)
    assert at.success  # the view still works
    assert any("frame=" in e.value for e in at.error)


def test_camera_param_round_trips() -> None:
    from ui.player import camera_from_param, camera_to_param

    cam = camera_from_param("1.2,0.3,-0.9,0,0,1,0,0,0")
    assert cam is not None
    assert camera_to_param(cam) == "1.2,0.3,-0.9,0,0,1,0,0,0"
    assert camera_from_param("1,2") is None and camera_from_param("nan," * 8 + "1") is None


# --------------------------------------------------------------------------------------- uploads
def test_uploaded_tokens_set_x0() -> None:
    at = run_app()
    rows = "x,y,z\n1,0,0\n0,1,0\n0,0,1\n-1,-1,0.2\n"
    at.file_uploader(key="_upload_x0").set_value(("tokens.csv", rows.encode(), "text/csv")).run()
    assert not at.exception
    shown = shown_scenario(at)
    assert shown.n == 4 and shown.d == 3 and shown.x0 is not None
    assert traces(at)["tokens"]["x"].size == 4
    assert any("4 uploaded tokens" in c.value for c in at.caption)


def test_uploaded_npy_in_d4_and_refused_uploads() -> None:
    import io as _io

    buf = _io.BytesIO()
    np.save(buf, np.random.default_rng(0).normal(size=(10, 4)))
    at = run_app()
    at.file_uploader(key="_upload_x0").set_value(("x.npy", buf.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert (shown_scenario(at).n, shown_scenario(at).d) == (10, 4)
    at.file_uploader(key="_upload_x0").set_value(("bad.csv", b"1,2,3\n0,0,0\n", "text/csv")).run()
    assert not at.exception
    assert any("row 2 is zero" in w.value for w in at.warning)
    assert shown_scenario(at).x0 is None  # back to the lesson's tokens


@pytest.mark.parametrize("kind", ["l2", "sinkhorn", "sigmoid"])
def test_attention_variants_from_a_link_run_in_the_explorer(kind):
    at = run_app(attention=kind)
    assert not at.error, [e.value for e in at.error]
    assert shown_scenario(at).attention == kind
    assert verdict(at)


def test_causal_sinkhorn_is_refused_with_a_reason_not_a_traceback():
    at = run_app(attention="sinkhorn", mask="causal")
    assert not at.exception
    assert any("doubly stochastic" in e.value or "identity" in e.value for e in at.error), [
        e.value for e in at.error
    ]


# --------------------------------------------------------------------------------------- words
def test_the_caption_says_what_differs_from_the_lesson() -> None:
    at = run_app(lesson="metastable")
    caption = next(c.value for c in at.caption if "On the circle" in c.value)
    assert "Lesson settings" not in caption
    at.slider(key="beta").set_value(7.0).run()
    caption = next(c.value for c in at.caption if "On the circle" in c.value)
    assert "**Lesson settings:** β = 9" in caption and "**now:** β = 7" in caption
    assert "modified" in at.markdown[0].value


def test_hand_placed_tokens_from_a_link_become_x0_and_a_bad_link_is_named() -> None:
    from ui.token_link import decode, encode

    hemisphere = next(p for p in PRESETS if p.key == "hemisphere")
    x = np.array([[1.0, 0.0, 0.2], [0.0, 1.0, 0.3], [-1.0, 0.2, 0.1], [0.1, -1.0, 0.4], [0.0, 0.0, -1.0]])
    code = encode(x)
    at = run_app(lesson="hemisphere", tokens=code)
    shown = shown_scenario(at)
    np.testing.assert_allclose(np.array(shown.x0), decode(code), atol=1e-12)  # exactly the link's tokens
    assert shown.n == 5 and shown.n_heads == hemisphere.scenario.n_heads
    assert at.slider(key="n").disabled
    assert any("5 tokens placed by hand" in c.value for c in at.caption)
    assert any("now:** tokens = 5 placed by hand" in c.value for c in at.caption)
    at.button(key="_forget_tokens").click().run()
    assert shown_scenario(at).x0 is None and shown_scenario(at).n == hemisphere.scenario.n
    bad = run_app(lesson="hemisphere", tokens="3AB!")
    assert any("tokens=3AB!" in e.value and "base64url" in e.value for e in bad.error)
    assert shown_scenario(bad).x0 is None  # the lesson's tokens, and a message


def test_a_lesson_switch_forgets_hand_placed_tokens() -> None:
    from ui.token_link import encode

    at = run_app(tokens=encode(np.eye(3)))
    assert shown_scenario(at).n == 3
    at.selectbox(key="_lesson").set_value("metastable").run()
    assert shown_scenario(at).x0 is None and "tokens" not in at.query_params


def test_energy_axis_means_the_same_on_the_ellipsoid_lesson() -> None:
    """ "energy E_β / max" reached 20 on the ellipsoid lesson. On {xᵀPx = 1}, ⟨x_i, P x_j⟩ ≤ 1
    (Cauchy–Schwarz in the P inner product): the normalised energy lies in (0, 1], = 1 exactly at
    consensus; and its gradient flow makes it non-decreasing."""
    from ui.session import metric_series

    P = np.diag([4.0, 1.0, 0.2])
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 24, 3))
    x /= np.sqrt(np.einsum("kni,ij,knj->kn", x, P, x))[..., None]  # onto the ellipsoid
    labels = np.zeros((5, 24), dtype=np.int16)
    energy = metric_series(x, 1.0, labels, P)["energy E_β / max"]
    assert np.all(energy > 0) and np.all(energy <= 1 + 1e-12)
    same = np.repeat(x[:, :1], 24, axis=1)
    assert metric_series(same, 1.0, labels, P)["energy E_β / max"] == pytest.approx(np.ones(5))
    at = run_app(lesson="ellipsoid-gradient")
    row = next(
        i for i, a in enumerate(chart(at, "curves").layout.annotations) if a.text == "energy E_β / max"
    )
    axis = chart(at, "curves").layout[f"yaxis{row + 1}" if row else "yaxis"]
    assert list(axis.range) == [0.0, 1.05]
    curve = next(tr for tr in chart(at, "curves").data if tr.name == "energy E_β / max")
    y = _array(curve.y)
    assert y.max() <= 1 + 1e-9 and np.all(np.diff(y) >= -1e-9)  # bounded, and never decreases


def test_hide_flags_reach_the_players_own_buttons() -> None:
    at = run_app(hide="view,trails,edit")
    assert player_payload(at)["hide"] == ["edit", "trails", "view"]
    assert not at.error  # known names
    views = {v["id"]: v for v in player_payload(run_app())["views"]}
    assert list(views) == ["oblique", "pole", "equator", "eigvec"]
    assert views["eigvec"]["camera"] is None and views["eigvec"]["reason"]  # V = I: no direction
    linked = player_payload(run_app(view="pole", trails="false"))
    assert linked["view"] == "pole" and linked["trails"] is False
    assert player_payload(run_app(view="along V"))["view"] == "eigvec"  # the old links still work
