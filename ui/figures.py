"""Pure functions: arrays → plotly figures (no Streamlit here, no mathematics either).

Everything takes already-computed, already-projected arrays and returns a ``go.Figure`` (or a
plain array for the display-geometry helpers that the 3D player shares). Conventions:

* 3D figures have fixed axis ranges, ``aspectmode="cube"`` and a constant ``uirevision``;
  at most ``MAX_POINTS_3D`` trajectory points per figure (trails are decimated in time).
* Trails are ONE ``Scatter3d`` trace with NaN separators between tokens (20–30× cheaper than a
  trace per token), coloured per vertex by the token's current cluster.
* 2D figures use ``go.Scatter`` / ``go.Heatmap`` (never WebGL: a page holds only a few contexts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.colors import NOISE_COLOR, SURFACE_COLOR, cluster_colors

MAX_POINTS_3D = 100_000
MAX_DISPLAY_FRAMES = 200
#: Font size of the 2D curves: readable from the back of a room on a projector.
CURVE_FONT_SIZE = 14
UIREVISION = "adx-keep"
CAMERA_DISTANCE = 2.0
_Z_FLAT_ATOL = 1e-12

Camera = dict[str, Any]
Events = Mapping[str, float] | Iterable[tuple[float, str]]

# --------------------------------------------------------------------------------------
# display geometry shared with ui.player
# --------------------------------------------------------------------------------------


def as_positions(x: np.ndarray) -> np.ndarray:
    """Return ``x`` (..., 2 or 3) as float (..., 3), padding 2D data with z = 0."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] not in (2, 3):
        raise ValueError(f"positions must have last dimension 2 or 3 (project to 3D first), got {arr.shape}")
    if arr.shape[-1] == 2:
        arr = np.concatenate([arr, np.zeros((*arr.shape[:-1], 1))], axis=-1)
    return arr


def is_flat(x: np.ndarray) -> bool:
    """True when every z coordinate is 0 (d = 2 data padded to 3D): draw a circle, look from top."""
    z = np.asarray(x)[..., 2]
    finite = z[np.isfinite(z)]
    return bool(np.all(np.abs(finite) <= _Z_FLAT_ATOL))


def check_ellipsoid(p: np.ndarray | None, dim: int = 3) -> np.ndarray | None:
    """Validate a symmetric positive-definite ``dim``×``dim`` matrix (or 3×3 when ``dim`` = 2)."""
    if p is None:
        return None
    m = np.asarray(p, dtype=np.float64)
    if m.shape not in ((dim, dim), (3, 3)):
        raise ValueError(f"ellipsoid must be a {dim}×{dim} or 3×3 matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("ellipsoid matrix has non-finite entries")
    if not np.allclose(m, m.T, rtol=1e-6, atol=1e-9):
        raise ValueError("ellipsoid matrix must be symmetric")
    m = 0.5 * (m + m.T)
    if np.linalg.eigvalsh(m).min() <= 0:
        raise ValueError("ellipsoid matrix must be positive definite")
    return m


def _inv_sqrt(p: np.ndarray) -> np.ndarray:
    w, q = np.linalg.eigh(p)
    return (q / np.sqrt(w)) @ q.T


def sphere_mesh(
    ellipsoid: np.ndarray | None = None, nu: int = 40, nv: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid (nv+1, nu+1) of the unit sphere, or of {x: xᵀPx = 1} when ``ellipsoid`` is P."""
    u = np.linspace(0.0, 2.0 * np.pi, nu + 1)
    v = np.linspace(0.0, np.pi, nv + 1)
    pts = np.stack(
        [
            np.outer(np.sin(v), np.cos(u)),
            np.outer(np.sin(v), np.sin(u)),
            np.outer(np.cos(v), np.ones_like(u)),
        ],
        axis=-1,
    )
    p = check_ellipsoid(ellipsoid)
    if p is not None:
        pts = pts @ _inv_sqrt(p)
    pts = pts.astype(np.float32)
    return pts[..., 0], pts[..., 1], pts[..., 2]


def circle_outline(ellipsoid: np.ndarray | None = None, m: int = 121) -> np.ndarray:
    """(m, 3) closed outline in the z = 0 plane: the unit circle or {xᵀP₂x = 1} (P₂ = top-left 2×2)."""
    s = np.linspace(0.0, 2.0 * np.pi, m)
    pts = np.stack([np.cos(s), np.sin(s)], axis=-1)
    p = check_ellipsoid(ellipsoid, dim=2)
    if p is not None:
        pts = pts @ _inv_sqrt(p[:2, :2])
    return np.concatenate([pts, np.zeros((m, 1))], axis=-1).astype(np.float32)


def axis_half_range(x: np.ndarray, ellipsoid: np.ndarray | None = None, *, flat: bool | None = None) -> float:
    """Fixed half-range for all three axes: covers the surface and every finite position."""
    flat = is_flat(x) if flat is None else flat
    p = check_ellipsoid(ellipsoid, dim=2 if flat else 3)
    extent = 1.0
    if p is not None:
        p = p[:2, :2] if flat else p
        extent = float(1.0 / np.sqrt(np.linalg.eigvalsh(p).min()))
    arr = np.asarray(x)
    finite = np.abs(arr[np.isfinite(arr)])
    data = float(finite.max()) if finite.size else 0.0
    return round(max(1.1 * extent, 1.05 * data), 4)


def frame_indices(
    k: int, n: int, *, max_frames: int = MAX_DISPLAY_FRAMES, max_points: int = MAX_POINTS_3D
) -> np.ndarray:
    """Indices of the frames to display: all of them, or ≤ ``max_frames`` evenly spaced ones
    (first and last kept) so that frames × tokens ≤ ``max_points``.

    Raises ``ValueError`` when even a single frame would exceed the point budget.
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    limit = max_frames
    if n > 0:
        if n > max_points:
            raise ValueError(
                f"{n} tokens exceed the 3D budget of {max_points} points; subsample tokens first"
            )
        limit = min(limit, max_points // n)
    if k <= limit:
        return np.arange(k, dtype=np.int64)
    if limit == 1:
        return np.array([k - 1], dtype=np.int64)
    return np.round(np.linspace(0, k - 1, limit)).astype(np.int64)


def nan_separated(paths: np.ndarray) -> np.ndarray:
    """(K, n, 3) trajectories → (n·(K+1), 3) polyline points, one NaN row after each token."""
    k, n, _ = paths.shape
    out = np.full((n, k + 1, 3), np.nan, dtype=np.float32)
    out[:, :k] = np.swapaxes(paths, 0, 1)
    return out.reshape(n * (k + 1), 3)


def _vec(v: Sequence[float]) -> dict[str, float]:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


def resolve_camera(preset: str | Sequence[float] | Mapping[str, Any] | None, *, flat: bool = False) -> Camera:
    """A plotly ``scene.camera`` dict from a preset.

    ``None`` → default view (top-down orthographic for flat data, oblique otherwise);
    ``"pole"`` → looking down the z axis; ``"equator"`` → from the x axis, z up;
    ``"oblique"`` → the plotly-like 3/4 view; a 3-vector → looking from that direction
    (e.g. V's top eigenvector), normalised to a fixed distance; a camera dict
    (``{"eye": {...}, "up": ..., "center": ...}``, as reported by the player) → validated copy.
    """
    top = {"eye": _vec((0, 0, CAMERA_DISTANCE)), "up": _vec((0, 1, 0)), "center": _vec((0, 0, 0))}
    if preset is None:
        if flat:
            return {**top, "projection": {"type": "orthographic"}}
        preset = "oblique"
    if isinstance(preset, str):
        named = {
            "pole": top,
            "equator": {"eye": _vec((CAMERA_DISTANCE, 0, 0)), "up": _vec((0, 0, 1))},
            "oblique": {"eye": _vec((1.25, 1.25, 0.85)), "up": _vec((0, 0, 1))},
        }
        if preset not in named:
            raise ValueError(f"unknown camera preset {preset!r}; use one of {sorted(named)}")
        cam = {"center": _vec((0, 0, 0)), **named[preset]}
    elif isinstance(preset, Mapping):
        cam = {}
        for part in ("eye", "up", "center"):
            if part in preset:
                val = preset[part]
                if not isinstance(val, Mapping) or set(val) < {"x", "y", "z"}:
                    raise ValueError(f"camera {part} must be a mapping with x, y, z")
                vec = [float(val[c]) for c in "xyz"]
                if not np.all(np.isfinite(vec)) or max(abs(c) for c in vec) > 100:
                    raise ValueError(f"camera {part} out of range")
                cam[part] = _vec(vec)
        if "eye" not in cam:
            raise ValueError("camera dict needs an 'eye'")
        cam.setdefault("up", _vec((0, 0, 1)))
        cam.setdefault("center", _vec((0, 0, 0)))
    else:
        eye = np.asarray(preset, dtype=np.float64).ravel()
        if eye.shape != (3,) or not np.all(np.isfinite(eye)) or np.linalg.norm(eye) == 0:
            raise ValueError("camera eye vector must be 3 finite numbers, not all 0")
        eye = CAMERA_DISTANCE * eye / np.linalg.norm(eye)
        up = (0, 1, 0) if abs(eye[2]) > 0.95 * CAMERA_DISTANCE else (0, 0, 1)
        cam = {"eye": _vec(eye), "up": _vec(up), "center": _vec((0, 0, 0))}
    if flat:
        cam["projection"] = {"type": "orthographic"}
    return cam


def scene_layout(half_range: float, camera: Camera | None = None, *, flat: bool = False) -> dict[str, Any]:
    """Layout ``scene`` dict: fixed ranges, cube aspect, constant uirevision."""
    axis = {
        "range": [-half_range, half_range],
        "autorange": False,
        "showspikes": False,
        "zeroline": False,
        "tickvals": [-1, 0, 1],
    }
    scene: dict[str, Any] = {
        "xaxis": {**axis, "title": {"text": "x"}},
        "yaxis": {**axis, "title": {"text": "y"}},
        "zaxis": {**axis, "title": {"text": "z"}, "visible": not flat},
        "aspectmode": "cube",
        "uirevision": UIREVISION,
    }
    if camera is not None:
        scene["camera"] = camera
    return scene


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


def static_sphere_figure(
    x_frame: np.ndarray,
    clusters: np.ndarray | None,
    ellipsoid: np.ndarray | None = None,
    trails: np.ndarray | None = None,
    *,
    title: str = "",
    camera: str | Sequence[float] | Mapping[str, Any] | None = None,
    flat: bool | None = None,
) -> go.Figure:
    """One frame on the sphere as a plain plotly 3D figure (exports, AppTest inspection).

    ``x_frame`` (n, 3) or (n, 2) positions; ``clusters`` (n,) integer labels or None;
    ``trails`` (K, n, 3) past positions (decimated in time to the 3D point budget).
    ``flat`` (d = 2: circle, top view) defaults to "every z is 0"; pass it when d is known.
    Traces, in order: surface (``name`` "sphere"/"ellipsoid") or outline ("circle"),
    optional "trails" (one NaN-separated line), "tokens" (markers).
    """
    xf = as_positions(x_frame)
    if xf.ndim != 2:
        raise ValueError(f"x_frame must be (n, 3), got {np.shape(x_frame)}")
    n = xf.shape[0]
    lab = None if clusters is None else np.asarray(clusters).ravel()
    if lab is not None and lab.shape[0] != n:
        raise ValueError(f"clusters has {lab.shape[0]} labels for {n} tokens")
    paths = None
    if trails is not None:
        paths = as_positions(trails)
        if paths.ndim != 3 or paths.shape[1] != n:
            raise ValueError(f"trails must be (K, {n}, 3), got {np.shape(trails)}")
        paths = paths[frame_indices(paths.shape[0], n)]
    everything = xf if paths is None else np.concatenate([paths.reshape(-1, 3), xf])
    flat = is_flat(everything) if flat is None else bool(flat)
    half = axis_half_range(everything, ellipsoid, flat=flat)
    colors = cluster_colors(lab, n)

    fig = go.Figure()
    fig.add_trace(_surface_trace(ellipsoid, flat))
    if paths is not None and paths.shape[0] > 0:
        pts = nan_separated(paths.astype(np.float32))
        line_colors = [c for c in colors for _ in range(paths.shape[0] + 1)]
        fig.add_trace(
            go.Scatter3d(
                x=pts[:, 0],
                y=pts[:, 1],
                z=pts[:, 2],
                mode="lines",
                name="trails",
                line={"width": 2, "color": line_colors},
                opacity=0.55,
                hoverinfo="skip",
                connectgaps=False,
                showlegend=False,
            )
        )
    xf32 = xf.astype(np.float32)
    fig.add_trace(
        go.Scatter3d(
            x=xf32[:, 0],
            y=xf32[:, 1],
            z=xf32[:, 2],
            mode="markers",
            name="tokens",
            marker={"size": 5, "color": colors, "line": {"width": 0}},
            text=[f"token {i}" + ("" if lab is None else f"<br>cluster {lab[i]}") for i in range(n)],
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_layout(
        title={"text": title} if title else None,
        uirevision=UIREVISION,
        showlegend=False,
        margin={"l": 0, "r": 0, "t": 40 if title else 0, "b": 0},
        scene=scene_layout(half, resolve_camera(camera, flat=flat), flat=flat),
        paper_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def _surface_trace(ellipsoid: np.ndarray | None, flat: bool) -> go.BaseTraceType:
    if flat:
        ring = circle_outline(ellipsoid)
        return go.Scatter3d(
            x=ring[:, 0],
            y=ring[:, 1],
            z=ring[:, 2],
            mode="lines",
            name="circle" if ellipsoid is None else "ellipse",
            line={"color": SURFACE_COLOR, "width": 3},
            hoverinfo="skip",
            showlegend=False,
        )
    sx, sy, sz = sphere_mesh(ellipsoid)
    return go.Surface(
        x=sx,
        y=sy,
        z=sz,
        name="sphere" if ellipsoid is None else "ellipsoid",
        opacity=0.15,
        showscale=False,
        hoverinfo="skip",
        colorscale=[[0, SURFACE_COLOR], [1, SURFACE_COLOR]],
        contours={a: {"highlight": False} for a in "xyz"},
        lighting={"ambient": 0.9, "diffuse": 0.3, "specular": 0.05},
    )


def metric_curves(
    t: np.ndarray,
    series: Mapping[str, np.ndarray],
    *,
    current_t: float | None = None,
    events: Events | None = None,
    row_height: int = 130,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    font_size: int = CURVE_FONT_SIZE,
) -> go.Figure:
    """Small multiples (one row per series, shared x = t) of diagnostic curves.

    Integer series (e.g. cluster count) are drawn as steps. ``current_t`` draws a solid
    vertical marker on every row; ``events`` (mapping label → t, or (t, label) pairs) dashed
    ones, labelled inside the top row's plot area (below its title, never over it). ``ranges``
    fixes the y range of the named rows (a quantity with known bounds keeps a meaningful axis).
    Only ``go.Scatter`` (SVG), never WebGL.
    """
    tt = np.asarray(t, dtype=np.float64).ravel()
    names = list(series)
    if not names:
        fig = go.Figure()
        fig.add_annotation(text="no metrics", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(height=row_height, xaxis_visible=False, yaxis_visible=False)
        return fig
    fig = make_subplots(
        rows=len(names),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(0.09, 0.36 / len(names)),
        subplot_titles=names,
    )
    for row, name in enumerate(names, start=1):
        y = np.asarray(series[name]).ravel()
        if y.shape != tt.shape:
            raise ValueError(f"series {name!r} has {y.shape[0]} values for {tt.shape[0]} times")
        integer = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)
        fig.add_trace(
            go.Scatter(
                x=tt,
                y=y.astype(np.float64),
                mode="lines",
                name=name,
                line={"shape": "hv" if integer else "linear", "width": 2},
                hovertemplate=f"t = %{{x:.3g}}<br>{name} = %{{y:.4g}}<extra></extra>",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
    for t_ev, label in _event_list(events):
        fig.add_vline(x=t_ev, row="all", col=1, line={"dash": "dot", "width": 1, "color": "#888"})
        fig.add_annotation(
            x=t_ev,
            y=1.0,
            xref="x",
            yref="y domain",
            text=label,
            showarrow=False,
            xanchor="left",
            yanchor="top",
            xshift=3,
            font={"size": font_size - 2, "color": "#555"},
            bgcolor="rgba(255,255,255,0.8)",
            row=1,
            col=1,
        )
    for row, name in enumerate(names, start=1):
        if ranges and name in ranges:
            fig.update_yaxes(range=list(ranges[name]), autorange=False, row=row, col=1)
    if current_t is not None:
        fig.add_vline(x=float(current_t), row="all", col=1, line={"width": 1.5, "color": "#D55E00"})
    fig.update_xaxes(title_text="t", row=len(names), col=1)
    fig.update_annotations(selector={"text": names[0]}, font={"size": font_size})
    for name in names[1:]:
        fig.update_annotations(selector={"text": name}, font={"size": font_size})
    fig.update_layout(
        height=row_height * len(names) + 60,
        margin={"l": 50, "r": 10, "t": 30, "b": 40},
        hovermode="x",
        showlegend=False,
        uirevision=UIREVISION,
        font={"size": font_size},
    )
    return fig


def _event_list(events: Events | None) -> list[tuple[float, str]]:
    if events is None:
        return []
    if isinstance(events, Mapping):
        return [(float(v), str(k)) for k, v in events.items()]
    return [(float(te), str(lbl)) for te, lbl in events]


def cluster_order(labels: np.ndarray) -> np.ndarray:
    """Permutation sorting tokens by cluster label (stable; unclustered, label < 0, last)."""
    lab = np.asarray(labels).ravel()
    key = np.where(lab < 0, np.iinfo(np.int64).max, lab.astype(np.int64))
    return np.argsort(key, kind="stable")


def attention_heatmap(
    a: np.ndarray,
    *,
    order: np.ndarray | None = None,
    title: str = "",
    colorscale: str = "Viridis",
) -> go.Figure:
    """Attention matrix heatmap: zmin = 0, zmax = 1, NaN (masked) entries left blank, rows and
    columns permuted by ``order`` (e.g. ``cluster_order(labels)``), square cells.

    Tick labels are the ORIGINAL token indices (categorical axes), query rows top to bottom.
    """
    m = np.asarray(a, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"attention matrix must be square (n, n), got {m.shape}")
    n = m.shape[0]
    perm = np.arange(n) if order is None else np.asarray(order, dtype=np.int64).ravel()
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"order must be a permutation of range({n})")
    z = m[np.ix_(perm, perm)].astype(np.float32)
    labels = [str(i) for i in perm]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            zmin=0.0,
            zmax=1.0,
            colorscale=colorscale,
            hoverongaps=False,
            colorbar={"thickness": 10},
            hovertemplate="query %{y} → key %{x}<br>a = %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title} if title else None,
        xaxis={"type": "category", "title": {"text": "key"}, "constrain": "domain"},
        yaxis={
            "type": "category",
            "title": {"text": "query"},
            "autorange": "reversed",
            "scaleanchor": "x",
            "scaleratio": 1,
            "constrain": "domain",
        },
        plot_bgcolor="rgba(0,0,0,0)",
        margin={"l": 50, "r": 10, "t": 40 if title else 10, "b": 40},
        uirevision=UIREVISION,
    )
    return fig


__all__ = [
    "MAX_DISPLAY_FRAMES",
    "MAX_POINTS_3D",
    "NOISE_COLOR",
    "attention_heatmap",
    "axis_half_range",
    "circle_outline",
    "cluster_order",
    "frame_indices",
    "metric_curves",
    "nan_separated",
    "resolve_camera",
    "scene_layout",
    "sphere_mesh",
    "static_sphere_figure",
]
