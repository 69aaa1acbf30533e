"""The 3D player's Python side: payload builder (pure), plotly.js provisioning, AppTest mount.

The browser behaviour (drawing, playback, camera across reruns) is covered by the e2e tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

from ui.figures import MAX_POINTS_3D
from ui.player import (
    build_player_payload,
    camera_from_param,
    camera_to_param,
    decode_b64,
    ensure_plotly_js,
    error_payload,
)

PLAYER_DIR = Path(__file__).resolve().parents[1] / "ui" / "player"


def _traj(k: int = 20, n: int = 8, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).normal(size=(k, n, d))
    return np.linspace(0.0, 1.0, k), x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_payload_ships_float32_positions_and_times() -> None:
    t, x = _traj()
    labels = np.tile(np.arange(8) % 3, (20, 1))
    p = build_player_payload(t=t, x=x, clusters=labels)
    assert (p["K"], p["n"], p["flat"], p["note"], p["error"]) == (20, 8, False, "", None)
    xs = decode_b64(p["x"], "<f4")
    assert xs.dtype == np.float32 and xs.size == 20 * 8 * 3
    np.testing.assert_array_equal(xs.reshape(20, 8, 3), x.astype(np.float32))
    np.testing.assert_array_equal(decode_b64(p["t"], "<f4"), t.astype(np.float32))
    np.testing.assert_array_equal(decode_b64(p["c"], p["c_dtype"]).reshape(20, 8), labels)
    assert p["surface"]["kind"] == "sphere" and p["surface"]["rows"] * p["surface"]["cols"] == 861
    assert json.loads(json.dumps(p)) == p  # JSON-serialisable as is
    # Compact: base64 float32 is ~5.3 chars per coordinate, not a ~20-char JSON float.
    assert len(p["x"]) < 6 * x.size


def test_payload_is_deterministic_and_sig_tracks_data_only() -> None:
    t, x = _traj()
    a = build_player_payload(t=t, x=x, clusters=None)
    assert json.dumps(a) == json.dumps(build_player_payload(t=t, x=x, clusters=None))
    b = build_player_payload(t=t, x=x, clusters=None, camera_preset="pole", start_frame=3, trails=False)
    assert a["sig"] == b["sig"]  # camera, start frame, trails (the browser's switch) never force a redraw
    x2 = x.copy()
    x2[5, 1, 0] += 1e-3
    assert build_player_payload(t=t, x=x2, clusters=None)["sig"] != a["sig"]


@pytest.mark.parametrize(("k", "n"), [(1000, 64), (200, 512), (5000, 3), (7, 100_000)])
def test_payload_decimates_frames_to_the_display_budget(k: int, n: int) -> None:
    t = np.arange(k, dtype=float)
    x = np.zeros((k, n, 3), dtype=np.float32)
    x[..., 2] = 1.0
    p = build_player_payload(t=t, x=x, clusters=None)
    assert p["K"] <= 200 and p["K"] * n <= MAX_POINTS_3D
    assert p["frames"][0] in (0, k - 1) and p["frames"][-1] == k - 1
    assert decode_b64(p["x"], "<f4").size == p["K"] * n * 3
    if p["K"] < k:
        assert f"{p['K']} of {k} frames" in p["note"]
    np.testing.assert_array_equal(decode_b64(p["t"], "<f4"), t[p["frames"]])


def test_payload_refuses_more_tokens_than_the_budget() -> None:
    with pytest.raises(ValueError, match="budget"):
        build_player_payload(t=np.zeros(1), x=np.zeros((1, MAX_POINTS_3D + 1, 3)), clusters=None)


def test_start_frame_maps_to_the_nearest_display_frame() -> None:
    t = np.arange(1000.0)
    x = np.ones((1000, 2, 3))
    p = build_player_payload(t=t, x=x, clusters=None, start_frame=500, start_id="lesson:3", autoplay=True)
    assert abs(p["frames"][p["start"]["frame"]] - 500) <= 3
    assert p["start"]["id"] == "lesson:3" and p["start"]["autoplay"] is True
    assert build_player_payload(t=t, x=x, clusters=None, start_frame=-1)["start"]["frame"] == 199
    # Without a start frame a trajectory opens at t = 0, not at the end (which gives the story away).
    assert build_player_payload(t=t, x=x, clusters=None)["start"] == {
        "id": "start",
        "frame": 0,
        "autoplay": False,
    }


def test_flat_data_is_padded_and_shows_a_circle_from_the_top() -> None:
    t, x2 = _traj(d=2)
    p = build_player_payload(t=t, x=x2, clusters=None)
    assert p["flat"] is True and p["surface"]["kind"] == "circle" and p["surface"]["rows"] == 1
    np.testing.assert_array_equal(decode_b64(p["x"], "<f4").reshape(20, 8, 3)[..., 2], 0.0)
    assert p["default_camera"]["projection"] == {"type": "orthographic"}
    padded = np.concatenate([x2, np.zeros((*x2.shape[:2], 1))], axis=-1)
    assert build_player_payload(t=t, x=padded, clusters=None)["flat"] is True
    forced = build_player_payload(t=t, x=padded, clusters=None, flat=False)
    assert forced["flat"] is False and forced["surface"]["kind"] == "sphere"


def test_ellipsoid_surface_and_range() -> None:
    t, x = _traj()
    p_mat = np.diag([0.25, 1.0, 1.0])  # semi-axis 2 along x
    p = build_player_payload(t=t, x=x, clusters=None, ellipsoid=p_mat)
    assert p["surface"]["kind"] == "ellipsoid" and p["range"] == pytest.approx(2.2)
    sx = decode_b64(p["surface"]["x"], "<f4")
    assert sx.max() == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": np.zeros((5, 4, 4))}, "last dimension"),
        ({"x": np.zeros((5, 4, 3)), "t": np.zeros(4)}, "times"),
        ({"x": np.zeros((0, 4, 3)), "t": np.zeros(0)}, "empty"),
        ({"x": np.full((5, 4, 3), np.nan)}, "finite"),
        ({"x": np.zeros((5, 4, 3)), "clusters": np.zeros((5, 3), int)}, "clusters"),
        ({"x": np.ones((5, 4, 3)), "ellipsoid": np.eye(2)}, "ellipsoid"),
        ({"x": np.ones((5, 4, 3)), "camera_preset": "upside"}, "preset"),
    ],
)
def test_invalid_input_raises_value_error(kwargs: dict, match: str) -> None:
    args = {"t": np.zeros(5), "clusters": None, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_player_payload(**args)


def test_camera_preset_id_changes_only_with_value_or_nonce() -> None:
    t, x = _traj()
    base = build_player_payload(t=t, x=x, clusters=None, camera_preset=[0, 1, 0])["preset"]
    same = build_player_payload(t=t, x=x, clusters=None, camera_preset=[0, 2, 0])["preset"]
    assert base["id"] == same["id"]  # same direction, same preset
    bumped = build_player_payload(t=t, x=x, clusters=None, camera_preset=[0, 1, 0], camera_nonce=1)
    assert bumped["preset"]["id"] != base["id"]
    t2, x2 = _traj(d=2)
    flat = build_player_payload(t=t2, x=x2, clusters=None, camera_preset=[0, 1, 0])["preset"]
    assert flat["id"] == base["id"]  # d = 2 <-> 3 switch does not re-apply the preset


def test_camera_url_param_roundtrip_and_rejection() -> None:
    cam = {"eye": {"x": 1.2345, "y": -0.5, "z": 0.25}, "up": {"x": 0, "y": 0, "z": 1}}
    s = camera_to_param(cam)
    assert s == "1.234,-0.5,0.25,0,0,1,0,0,0" or s == "1.235,-0.5,0.25,0,0,1,0,0,0"
    back = camera_from_param(s)
    assert back is not None and back["eye"]["y"] == -0.5
    for bad in (None, "", "1,2,3", "a,b,c,d,e,f,g,h,i", "nan,0,0,0,0,1,0,0,0", "9" * 500):
        assert camera_from_param(bad) is None


def test_error_payload_is_shown_not_raised() -> None:
    p = error_payload("no data", height=300)
    assert p["error"] == "no data" and p["height"] == 300


def test_ensure_plotly_js_copies_once_and_is_idempotent(tmp_path: Path) -> None:
    dst = ensure_plotly_js(tmp_path)
    assert dst == tmp_path / "static" / "plotly.min.js" and dst.stat().st_size > 1_000_000
    stamp = dst.stat().st_mtime_ns
    os.utime(dst, ns=(stamp - 10**9, stamp - 10**9))
    ensure_plotly_js(tmp_path)
    assert dst.stat().st_mtime_ns == stamp - 10**9  # untouched on the second call
    dst.write_text("stale")
    ensure_plotly_js(tmp_path)
    assert dst.stat().st_size > 1_000_000  # a different size is replaced
    assert [p.name for p in dst.parent.iterdir()] == ["plotly.min.js"]  # no temp files left


def test_player_assets_are_packaged_and_self_contained() -> None:
    js = (PLAYER_DIR / "player.js").read_text(encoding="utf-8")
    css = (PLAYER_DIR / "player.css").read_text(encoding="utf-8")
    assert "export default function" in js and "adx-time" in js
    assert "http://" not in js and "https://" not in js  # offline: no CDN
    assert "Plotly.newPlot" not in js  # one div, react/restyle only (camera survives)
    assert ".adx-player" in css


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_player_js_parses(tmp_path: Path) -> None:
    mod = tmp_path / "player.mjs"
    shutil.copy(PLAYER_DIR / "player.js", mod)
    subprocess.run(["node", "--check", str(mod)], check=True, timeout=60)


def _player_app() -> None:
    import numpy as np
    import streamlit as st

    from ui.player import trajectory_player

    x = np.random.default_rng(0).normal(size=(30, 6, 3))
    ok = trajectory_player(t=np.arange(30.0), x=x, clusters=None, key="player", title="demo")
    bad = trajectory_player(t=np.arange(3.0), x=np.zeros((3, 2, 5)), clusters=None, key="bad")
    st.write(f"frames={ok.display_frames} camera={ok.camera} error={bad.error}")


def test_player_mounts_in_apptest_without_a_browser() -> None:
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    # Streamlit 1.67 presents a keyed components-v2 state as an unpicklable local class, so
    # runner.enforceSerializableSessionState must be off wherever the player is used.
    old = config.get_option("runner.enforceSerializableSessionState")
    config.set_option("runner.enforceSerializableSessionState", False)
    try:
        at = AppTest.from_function(_player_app).run(timeout=30)
    finally:
        config.set_option("runner.enforceSerializableSessionState", old)
    assert not at.exception
    text = at.markdown[0].value
    assert "frames=30" in text and "camera=None" in text and "last dimension" in text


def test_repo_config_allows_keyed_components() -> None:
    cfg = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
    if not cfg.exists():
        pytest.skip("no .streamlit/config.toml")
    runner = tomllib.loads(cfg.read_text(encoding="utf-8")).get("runner", {})
    assert not runner.get("enforceSerializableSessionState", False), (
        "enforceSerializableSessionState=true breaks the 3D player: Streamlit 1.67 stores a keyed "
        "components-v2 state as an unpicklable _WriteThrough object (UnserializableSessionStateError)"
    )
