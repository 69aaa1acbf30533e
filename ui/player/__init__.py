"""The 3D trajectory player: a ``st.components.v2`` component that plays a whole trajectory in
the browser (plotly.js gl3d) and keeps the user's camera across Streamlit reruns.

How it works
------------
* Python ships the WHOLE trajectory once per data change as base64 little-endian float32
  (``build_player_payload``, a pure function). Playback, stepping and scrubbing happen in the
  browser with ``Plotly.restyle`` on the trail + marker traces only; no rerun per frame.
* The browser owns the current frame, the camera, the chosen view and the trails switch. The
  payload's ``start`` (frame, autoplay) is applied when the plot is first drawn and afterwards only
  when ``start_id`` changes (a lesson switch, Reset): a rerun never moves a mounted player back to a
  stale frame. A new trajectory under the same ``start_id`` keeps the time on screen.
* The plot is one ``<div>`` that only ever receives ``Plotly.react`` (constant ``uirevision``)
  and ``restyle``/``relayout``, so the camera survives data-changing reruns (Streamlit's own
  ``st.plotly_chart`` remounts and resets it, issue #8882). What the browser reports back
  (``setStateValue``): ``camera``, ``frame`` (when playback stops, on step and scrub, and every
  ``report_every_ms`` while playing, with ``report_frame=True``), ``view``, ``trails`` and
  ``tokens`` (hand-placed tokens, with ``edit=``); see :class:`PlayerState`. ``camera_preset`` is
  applied only when its value (or ``camera_nonce``) changes, ``initial_camera`` only when the plot
  is created.
* One copy of plotly.js per page: the player imports Streamlit's own plotly chunk (the code behind
  ``st.plotly_chart``, ``static/js/PlotlyChart.<hash>.js``, found in the installed streamlit
  package by :func:`plotly_sources`). A module URL is fetched and evaluated once per document, so
  the player and every ``st.plotly_chart`` on the page share one parse, and Streamlit serves the
  hashed file as ``immutable`` (cached by the browser for a year). Evaluating it sets
  ``window.Plotly``. Fallback (another Streamlit layout): ``./app/static/plotly.min.js`` from the
  plotly wheel via static serving (``[server] enableStaticServing = true``; ``ensure_plotly_js``
  puts the file there). A spinner stands in for the plot until the first frame is drawn.
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
* ``fit=(min, max)`` sizes the plot so that the whole player (plot, bar, note) fits in the window
  below its top edge (a projector at 1280×720), between ``min`` and ``max`` pixels.
* Keyboard: Space, ←/→, Home, ``?`` (the list), E (edit mode), Ctrl+Z (undo an edit), Esc — on
  the whole page whenever the focus is not in a field or a control that uses the key itself.
* Hooks for browser tests: ``.adx-player[data-frame][data-source-frame][data-playing][data-ready]
  [data-editing]``, ``.js-adx-plot`` (the plotly div), ``.adx-time`` ("t = 3.20"), ``.adx-note``,
  ``.adx-msg``, ``.adx-loading``, ``.adx-help``, ``.adx-views button[data-view]``; buttons named
  "Play (Space)" / "Pause (Space)", "Step back (←)", "Step forward (→)", "Go to start (Home)",
  "Edit tokens by hand (E)", "Undo the last token edit (Ctrl+Z)"; the scrubber is the slider
  "Time", the speed the combobox "Playback speed"; ``window.__adxLastPlayer.tokenScreen(i)`` is a
  token's position on screen. Performance marks: ``adx:mount``, ``adx:plotly-ready``,
  ``adx:react-start``, ``adx:first-frame``.
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
PAYLOAD_VERSION = 2
#: At most this many tokens can be placed by hand (the link holds them: 4 characters each).
MAX_HAND_TOKENS = 128
#: While playing, the frame is reported at most this often (the page's curves and heatmap follow).
REPORT_EVERY_MS = 600
_HERE = Path(__file__).resolve().parent

CameraPreset = str | Sequence[float] | Mapping[str, Any] | None


@dataclass(frozen=True)
class View:
    """A camera preset offered over the plot: ``id`` (reported back), ``label``, and the camera (a
    preset name, eye vector or camera dict for :func:`ui.figures.resolve_camera`), or None with a
    ``reason`` when unavailable (the button is shown disabled)."""

    id: str
    label: str
    camera: CameraPreset
    reason: str = ""


@dataclass(frozen=True)
class EditOptions:
    """Token editing in the player: ``enabled`` (else ``reason`` says why), the token bounds, and
    the SPD matrix ``ellipsoid`` of the surface (None: unit sphere / circle)."""

    enabled: bool
    reason: str = ""
    max_tokens: int = MAX_HAND_TOKENS
    min_tokens: int = 2
    ellipsoid: np.ndarray | None = None


@cache
def plotly_sources() -> dict[str, str | None]:
    """Where the player gets plotly.js: Streamlit's own plotly chunk (a module URL relative to the
    app root; None if this Streamlit has no such file) and the fallback script URL."""
    module = None
    try:
        import streamlit

        chunks = sorted(
            (Path(streamlit.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js")
        )
        if len(chunks) == 1:
            module = f"./static/js/{chunks[0].name}"
    except Exception:  # pragma: no cover - streamlit missing or relaid out: use the fallback
        module = None
    return {"module": module, "script": PLOTLY_JS_URL}


@dataclass(frozen=True)
class PlayerState:
    """What the player reports back to Python after a run.

    ``camera``: last camera the user left the view in (plotly ``scene.camera`` dict with
    ``eye``/``up``/``center``, rounded to 4 decimals) or None before any interaction;
    ``frame``: source-frame index last reported (only with ``report_frame=True``);
    ``view``/``trails``: the view button and trails switch last chosen (None before any click);
    ``tokens``: the last hand edit, ``{"rev": int, "xyz": [[x, y, z], …]}`` or
    ``{"rev": int, "clear": True}`` (undone back to the start), None before any;
    ``display_frames``/``source_frames``: frames shipped vs given;
    ``note``: human-readable decimation note or ""; ``error``: message shown instead of a plot.
    """

    camera: dict[str, Any] | None
    frame: int | None
    display_frames: int
    source_frames: int
    note: str
    error: str | None
    payload_chars: int
    view: str | None = None
    trails: bool | None = None
    tokens: dict[str, Any] | None = None


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
    start_id: str = "start",
    autoplay: bool = False,
    height: int = 560,
    fit: tuple[int, int] | None = None,
    report_frame: bool = False,
    report_every_ms: int = REPORT_EVERY_MS,
    views: Sequence[View] = (),
    view: str | None = None,
    hide: Sequence[str] = (),
    edit: EditOptions | None = None,
    max_frames: int = MAX_DISPLAY_FRAMES,
    max_points: int = MAX_POINTS_3D,
    plotly: Mapping[str, str | None] | None = None,
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
    ``start_frame`` (negative: from the end) and ``autoplay`` apply on the first drawing and when
    ``start_id`` changes; ``trails`` and ``view`` (an id of ``views``) only on the first drawing.
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
    if fit is not None and not (100 <= int(fit[0]) <= int(fit[1]) <= 2000):
        raise ValueError("fit must be (min, max) pixels with 100 ≤ min ≤ max ≤ 2000")

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
    payload["start"] = {
        "id": str(start_id),
        "frame": 0 if start is None else start,
        "autoplay": bool(autoplay),
    }
    payload["trails"] = bool(trails)
    payload["views"] = [
        {
            "id": v.id,
            "label": v.label,
            "camera": None if v.camera is None else resolve_camera(v.camera, flat=flat),
            "reason": v.reason,
        }
        for v in views
    ]
    payload["view"] = view
    payload["hide"] = sorted({str(h) for h in hide})
    payload["fit"] = None if fit is None else {"min": int(fit[0]), "max": int(fit[1]), "gap": 6}
    payload["report"] = {"frame": bool(report_frame), "playing_ms": int(report_every_ms)}
    payload["edit"] = _edit_payload(edit, n=n, dim=2 if flat else 3)
    payload["plotly"] = dict(plotly) if plotly is not None else plotly_sources()
    return payload


def _edit_payload(edit: EditOptions | None, *, n: int, dim: int) -> dict[str, Any]:
    if edit is None:
        return {"enabled": False, "reason": "Tokens cannot be edited on this page."}
    enabled, reason = bool(edit.enabled), edit.reason
    if enabled and n > edit.max_tokens:
        enabled, reason = (
            False,
            f"Tokens can be placed by hand for at most {edit.max_tokens} tokens (now {n}).",
        )
    p = check_ellipsoid(edit.ellipsoid, dim=dim)
    return {
        "enabled": enabled,
        "reason": "" if enabled else (reason or "Editing is not available here."),
        "max_tokens": int(edit.max_tokens),
        "min_tokens": int(edit.min_tokens),
        "P": None if p is None else [[float(v) for v in row] for row in np.asarray(p)[:3, :3]],
    }


def error_payload(message: str, *, height: int = 560) -> dict:
    """Payload that makes the component show ``message`` instead of a plot."""
    return {
        "version": PAYLOAD_VERSION,
        "error": str(message),
        "height": int(height),
        "plotly": plotly_sources(),
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


@cache
def _renderer() -> Callable[..., Any]:
    """The component, registered once per process (components v2 re-registers it on a fresh
    runtime, e.g. AppTest)."""
    import streamlit as st

    js, css = _assets()
    return st.components.v2.component(COMPONENT_NAME, js=js, css=css, isolate_styles=False)


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
    fit: tuple[int, int] | None = None,
    title: str = "",
    start_frame: int | None = None,
    start_id: str = "start",
    autoplay: bool = False,
    report_frame: bool = False,
    views: Sequence[View] = (),
    view: str | None = None,
    hide: Sequence[str] = (),
    edit: EditOptions | None = None,
    flat: bool | None = None,
    on_change: Callable[[], None] | None = None,
) -> PlayerState:
    """Mount the in-browser 3D trajectory player and return what it last reported.

    Controls: play/pause, step back/forward, go to start, a scrub slider, speed, a time readout
    (``.adx-time``, "t = 3.20"), the ``views`` as buttons over the plot with a trails switch, an
    edit mode for tokens (with ``edit``), ``?`` for the keyboard list. ``camera_preset``
    ("pole", "equator", "oblique", an eye 3-vector, or a camera dict) is applied when it or
    ``camera_nonce`` changes — bump the nonce to re-apply the same preset; ``initial_camera``
    (e.g. parsed from the URL) only when the plot is first drawn; ``start_frame``/``autoplay``
    on the first drawing and when ``start_id`` changes. ``report_frame=True`` reports the frame
    (each report reruns the script, or the fragment the player is in). Invalid input shows a
    message in place of the plot (``PlayerState.error``).
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
            start_id=start_id,
            autoplay=autoplay,
            height=height,
            fit=fit,
            report_frame=report_frame,
            views=views,
            view=view,
            hide=hide,
            edit=edit,
            flat=flat,
        )
    except ValueError as exc:
        error = str(exc)
        payload = error_payload(error, height=height)
    callback = on_change or (lambda: None)
    callbacks = {f"on_{name}_change": callback for name in ("camera", "frame", "view", "trails", "tokens")}
    result = _renderer()(data=payload, key=key, height="content", **callbacks)
    get = (lambda name: result.get(name)) if result is not None else (lambda name: None)
    camera, frame, chosen, trails_on, tokens = (
        get(k) for k in ("camera", "frame", "view", "trails", "tokens")
    )
    if isinstance(frame, dict):  # {"frame": i, "start": id}: a frame of an older start is stale
        frame = frame.get("frame") if frame.get("start") in (None, str(start_id)) else None
    return PlayerState(
        camera=camera if isinstance(camera, dict) else None,
        frame=int(frame)
        if isinstance(frame, int | float) and not isinstance(frame, bool) and report_frame
        else None,
        display_frames=int(payload.get("K", 0)),
        source_frames=int(payload.get("source_frames", 0)),
        note=str(payload.get("note", "")),
        error=error,
        payload_chars=len(json.dumps(payload)),
        view=chosen if isinstance(chosen, str) else None,
        trails=trails_on if isinstance(trails_on, bool) else None,
        tokens=tokens if isinstance(tokens, dict) else None,
    )


__all__ = [
    "COMPONENT_NAME",
    "MAX_HAND_TOKENS",
    "PLOTLY_JS_URL",
    "EditOptions",
    "PlayerState",
    "View",
    "build_player_payload",
    "camera_from_param",
    "camera_to_param",
    "decode_b64",
    "ensure_plotly_js",
    "error_payload",
    "plotly_sources",
    "trajectory_player",
]
