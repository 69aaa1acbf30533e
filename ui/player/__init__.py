"""The 3D trajectory player: a ``st.components.v2`` component that plays a whole trajectory in
the browser (plotly.js gl3d) and keeps the user's camera across Streamlit reruns.

How it works
------------
* Python ships the WHOLE trajectory once per data change as base64 little-endian float32
  (``build_player_payload``, a pure function). Playback, stepping and scrubbing happen in the
  browser with ``Plotly.restyle`` on the trail + marker traces only; no rerun per frame.
* The plot is one ``<div>`` that only ever receives ``Plotly.react`` (constant ``uirevision``)
  and ``restyle``/``relayout``, so the camera survives data-changing reruns (Streamlit's own
  ``st.plotly_chart`` remounts and resets it, issue #8882). The camera is reported back with
  ``setStateValue("camera", ...)`` (→ ``PlayerState.camera``); ``camera_preset`` is applied only
  when its value (or ``camera_nonce``) changes, ``initial_camera`` only when the plot is created.
* plotly.js is loaded from ``./app/static/plotly.min.js`` (Streamlit static serving,
  ``[server] enableStaticServing = true``; ``ensure_plotly_js`` puts the file there). Chosen over
  a components-v2 ``asset_dir``: that one only works for an *installed* distribution whose
  ``pyproject.toml`` declares ``[tool.streamlit.component]`` entries (scanned at start-up), whereas
  static serving works from a plain checkout, in Docker and in CI alike; inlining the 4.8 MB
  bundle in ``js=`` would resend it with every rerun.
* Budgets: ≤ ``MAX_DISPLAY_FRAMES`` (200) display frames and ≤ ``MAX_POINTS_3D`` (100k)
  frames × tokens; longer trajectories are decimated in time (first and last frame kept) and
  the player says so (``PlayerState.note`` and a line under the plot).
* Per frame cost: plotly re-converts every trace of a gl3d scene on each restyle, so the sphere
  is a ``mesh3d`` (about half the cost of a ``surface``) and trails are one NaN-separated line
  trace per palette colour (per-vertex colour arrays cost more than the geometry). During a
  drag, the live camera is copied into the layout before each restyle (else plotly re-applies
  the layout camera every frame and rotating while playing is impossible).
* Requires ``[runner] enforceSerializableSessionState = false``: Streamlit 1.67 exposes a keyed
  components-v2 state in ``st.session_state`` as an unpicklable local class.
* Hooks for browser tests: ``.adx-player[data-frame][data-playing]``, ``.js-adx-plot`` (the
  plotly div), ``.adx-time`` ("t = 3.20"), ``.adx-note``, ``.adx-msg``; buttons named
  "Play (Space)" / "Pause (Space)", "Step back (←)", "Step forward (→)", "Go to start (Home)";
  the scrubber is the slider "Time", the speed the combobox "Playback speed".
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ui.colors import NOISE_COLOR, OKABE_ITO, palette_indices
from ui.figures import (
    MAX_DISPLAY_FRAMES,
    MAX_POINTS_3D,
    as_positions,
    axis_half_range,
    check_ellipsoid,
    circle_outline,
    frame_indices,
    is_flat,
    resolve_camera,
    sphere_mesh,
)

COMPONENT_NAME = "adx_trajectory_player"
PLOTLY_JS_URL = "./app/static/plotly.min.js"
PAYLOAD_VERSION = 1
_HERE = Path(__file__).resolve().parent

CameraPreset = str | Sequence[float] | Mapping[str, Any] | None


@dataclass(frozen=True)
class PlayerState:
    """What the player reports back to Python after a run.

    ``camera``: last camera the user left the view in (plotly ``scene.camera`` dict with
    ``eye``/``up``/``center``, rounded to 4 decimals) or None before any interaction;
    ``frame``: source-frame index shown when playback last stopped (only with
    ``report_frame=True``); ``display_frames``/``source_frames``: frames shipped vs given;
    ``note``: human-readable decimation note or ""; ``error``: message shown instead of a plot.
    """

    camera: dict[str, Any] | None
    frame: int | None
    display_frames: int
    source_frames: int
    note: str
    error: str | None
    payload_chars: int


def _b64(arr: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes()).decode("ascii")


def decode_b64(s: str, dtype: str) -> np.ndarray:
    """Inverse of the payload encoding (for tests and debugging)."""
    return np.frombuffer(base64.b64decode(s), dtype=np.dtype(dtype))


def build_player_payload(
    *,
    t: np.ndarray,
    x: np.ndarray,
    clusters: np.ndarray | None = None,
    ellipsoid: np.ndarray | None = None,
    trails: bool = True,
    camera_preset: CameraPreset = None,
    camera_nonce: int = 0,
    initial_camera: Mapping[str, Any] | None = None,
    title: str = "",
    start_frame: int | None = None,
    height: int = 560,
    report_frame: bool = False,
    max_frames: int = MAX_DISPLAY_FRAMES,
    max_points: int = MAX_POINTS_3D,
    plotly_src: str = PLOTLY_JS_URL,
    flat: bool | None = None,
) -> dict[str, Any]:
    """Build the JSON-serialisable dict the component receives (pure; no Streamlit needed).

    ``t`` (K,), ``x`` (K, n, 3) or (K, n, 2) (2D is padded with z = 0 → circle + top view;
    ``flat`` overrides the "every z is 0" detection, e.g. for 3D data confined to a plane),
    ``clusters`` (K, n) integer labels (< 0: unclustered), ``ellipsoid`` SPD P of
    {xᵀPx = 1} or None for the unit sphere. Arrays are sent as base64 little-endian float32
    (positions, times) and int16/int32 labels (clusters). Raises ``ValueError`` on invalid input.
    The output is deterministic, so an unchanged trajectory re-sends identical bytes (Streamlit
    caches repeated large messages) and the browser skips the redraw (same ``sig``).
    """
    tt = np.asarray(t, dtype=np.float64).ravel()
    xx = as_positions(x)
    if xx.ndim != 3:
        raise ValueError(f"x must be (K, n, 3), got shape {np.shape(x)}")
    k, n, _ = xx.shape
    if k == 0 or n == 0:
        raise ValueError("empty trajectory: nothing to play")
    if tt.shape != (k,):
        raise ValueError(f"t has {tt.shape[0]} times for {k} frames")
    if not np.any(np.isfinite(xx)):
        raise ValueError("trajectory has no finite positions")
    lab = None
    c_dtype = None
    if clusters is not None:
        raw = np.asarray(clusters)
        if raw.shape != (k, n):
            raise ValueError(f"clusters must be (K, n) = {(k, n)}, got {raw.shape}")
        palette_indices(raw)  # validates integer labels
        lab = np.where(raw < 0, -1, raw).astype(np.int64)
        c_dtype = "<i2" if lab.max(initial=0) < 2**15 else "<i4"
    flat = is_flat(xx) if flat is None else bool(flat)
    p = check_ellipsoid(ellipsoid, dim=2 if flat else 3)
    if not (100 <= int(height) <= 2000):
        raise ValueError("height must be between 100 and 2000 px")

    idx = frame_indices(k, n, max_frames=max_frames, max_points=max_points)
    kd = int(idx.size)
    xs = xx[idx].astype(np.float32)
    ts = tt[idx].astype(np.float32)
    note = ""
    if kd < k:
        note = f"Showing {kd} of {k} frames (evenly spaced; display budget)."

    if flat:
        ring = circle_outline(p)
        surface: dict[str, Any] = {
            "kind": "circle" if p is None else "ellipse",
            "x": _b64(ring[:, 0], "<f4"),
            "y": _b64(ring[:, 1], "<f4"),
            "z": _b64(ring[:, 2], "<f4"),
            "rows": 1,
            "cols": int(ring.shape[0]),
        }
    else:
        sx, sy, sz = sphere_mesh(p)
        surface = {
            "kind": "sphere" if p is None else "ellipsoid",
            "x": _b64(sx, "<f4"),
            "y": _b64(sy, "<f4"),
            "z": _b64(sz, "<f4"),
            "rows": int(sx.shape[0]),
            "cols": int(sx.shape[1]),
        }

    start = None
    if start_frame is not None:
        sf = int(start_frame) % k if start_frame < 0 else min(int(start_frame), k - 1)
        start = int(np.argmin(np.abs(idx - sf)))

    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "error": None,
        "K": kd,
        "n": n,
        "flat": flat,
        "t": _b64(ts, "<f4"),
        "x": _b64(xs, "<f4"),
        "c": None if lab is None else _b64(lab[idx], c_dtype),
        "c_dtype": c_dtype,
        "frames": [int(i) for i in idx],
        "palette": [*OKABE_ITO, NOISE_COLOR],
        "surface": surface,
        "range": axis_half_range(xs, p, flat=flat),
        "trails": bool(trails),
        "title": str(title),
        "height": int(height),
        "note": note,
        "source_frames": k,
    }
    payload["sig"] = hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=12).hexdigest()
    # Not part of the signature: these never force a redraw of the data.
    payload["default_camera"] = resolve_camera(None, flat=flat)
    payload["preset"] = (
        None
        if camera_preset is None
        else {
            "camera": (cam := resolve_camera(camera_preset, flat=flat)),
            # The id ignores the projection so a d = 2 <-> 3 switch does not re-apply it.
            "id": json.dumps(
                [{k: v for k, v in cam.items() if k != "projection"}, int(camera_nonce)],
                sort_keys=True,
            ),
        }
    )
    payload["initial_camera"] = None if initial_camera is None else resolve_camera(initial_camera, flat=flat)
    payload["start_frame"] = start
    payload["report_frame"] = bool(report_frame)
    payload["plotly_src"] = plotly_src
    return payload


def error_payload(message: str, *, height: int = 560, plotly_src: str = PLOTLY_JS_URL) -> dict:
    """Payload that makes the component show ``message`` instead of a plot."""
    return {
        "version": PAYLOAD_VERSION,
        "error": str(message),
        "height": int(height),
        "plotly_src": plotly_src,
        "sig": "error",
    }


def camera_to_param(camera: Mapping[str, Any]) -> str:
    """Compact URL form of a camera: "ex,ey,ez,ux,uy,uz,cx,cy,cz" (3 decimals)."""
    cam = resolve_camera(camera)
    return ",".join(
        format(round(cam[part][c], 3) + 0.0, "g") for part in ("eye", "up", "center") for c in "xyz"
    )


def camera_from_param(value: str | None) -> dict[str, Any] | None:
    """Parse ``camera_to_param`` output (e.g. from a URL); None when absent or invalid."""
    if not value or len(value) > 200:
        return None
    try:
        nums = [float(v) for v in value.split(",")]
    except ValueError:
        return None
    if len(nums) != 9:
        return None
    cam = {
        part: dict(zip("xyz", nums[3 * i : 3 * i + 3], strict=True))
        for i, part in enumerate(("eye", "up", "center"))
    }
    try:
        return resolve_camera(cam)
    except ValueError:
        return None


def ensure_plotly_js(app_dir: Path) -> Path:
    """Copy plotly.min.js from the installed plotly package to ``<app_dir>/static/`` if it is
    missing or has a different size (cheap, idempotent, atomic); return its path.

    Streamlit serves it at ``./app/static/plotly.min.js`` when
    ``[server] enableStaticServing = true``; the player loads it from there (offline-safe).
    """
    import plotly

    src = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not src.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package at {src}")
    dst = Path(app_dir) / "static" / "plotly.min.js"
    if dst.is_file() and dst.stat().st_size == src.stat().st_size:
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".plotly-", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


@cache
def _assets() -> tuple[str, str]:
    return (_HERE / "player.js").read_text(encoding="utf-8"), (_HERE / "player.css").read_text(
        encoding="utf-8"
    )


def _component() -> Callable[..., Any]:
    import streamlit as st

    js, css = _assets()
    # Registered once per process; components v2 re-registers it on a fresh runtime (AppTest).
    return st.components.v2.component(COMPONENT_NAME, js=js, css=css, isolate_styles=False)


_RENDERER: Callable[..., Any] | None = None


def _renderer() -> Callable[..., Any]:
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = _component()
    return _RENDERER


def trajectory_player(
    *,
    t: np.ndarray,
    x: np.ndarray,
    clusters: np.ndarray | None,
    ellipsoid: np.ndarray | None = None,
    trails: bool = True,
    camera_preset: CameraPreset = None,
    camera_nonce: int = 0,
    initial_camera: Mapping[str, Any] | None = None,
    key: str,
    height: int = 560,
    title: str = "",
    start_frame: int | None = None,
    report_frame: bool = False,
    flat: bool | None = None,
    on_change: Callable[[], None] | None = None,
) -> PlayerState:
    """Mount the in-browser 3D trajectory player and return what it last reported.

    Controls: play/pause, step back/forward, go to start, a scrub slider, speed, a time readout
    (``.adx-time``, "t = 3.20"); keys Space / ← / → / Home when focus is in the player or on
    the page body. ``camera_preset`` ("pole", "equator", "oblique", an eye 3-vector, or a camera
    dict) is applied when it or ``camera_nonce`` changes — bump the nonce to re-apply the same
    preset; ``initial_camera`` (e.g. parsed from the URL) only when the plot is first drawn.
    ``report_frame=True`` also reports the frame when playback stops (each report reruns the
    script). Invalid input shows a message in place of the plot (``PlayerState.error``).
    """
    error = None
    try:
        payload = build_player_payload(
            t=t,
            x=x,
            clusters=clusters,
            ellipsoid=ellipsoid,
            trails=trails,
            camera_preset=camera_preset,
            camera_nonce=camera_nonce,
            initial_camera=initial_camera,
            title=title,
            start_frame=start_frame,
            height=height,
            report_frame=report_frame,
            flat=flat,
        )
    except ValueError as exc:
        error = str(exc)
        payload = error_payload(error, height=height)
    callback = on_change or (lambda: None)
    callbacks = {"on_camera_change": callback}
    if report_frame:
        callbacks["on_frame_change"] = callback
    result = _renderer()(data=payload, key=key, height="content", **callbacks)
    camera = result.get("camera") if result is not None else None
    frame = result.get("frame") if result is not None else None
    return PlayerState(
        camera=camera if isinstance(camera, dict) else None,
        frame=int(frame) if isinstance(frame, int | float) and report_frame else None,
        display_frames=int(payload.get("K", 0)),
        source_frames=int(payload.get("source_frames", 0)),
        note=str(payload.get("note", "")),
        error=error,
        payload_chars=len(json.dumps(payload)),
    )


__all__ = [
    "COMPONENT_NAME",
    "PLOTLY_JS_URL",
    "PlayerState",
    "build_player_payload",
    "camera_from_param",
    "camera_to_param",
    "decode_b64",
    "ensure_plotly_js",
    "error_payload",
    "trajectory_player",
]
