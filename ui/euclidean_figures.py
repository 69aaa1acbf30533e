"""Pure plotly figures for the Euclidean model (arrays in, ``go.Figure`` out; no Streamlit, no solving).

* ``trajectories_2d(z, hull=…, lines=…)``: trajectories of the rescaled tokens in the plane (one
  Scatter trace with NaN separators), start/end markers, the predicted limit set overlaid — a convex
  polygon (vertices in order) and/or parallel lines ψᵀz = c.
* ``trajectories_3d(z, hull_points=…, simplices=…, planes=…)``: the same in ℝ³ (one WebGL context).
* ``trajectories_1d(t, z, leaders)``: z_i(t) against t, the two leaders highlighted.
* ``attention_heatmaps(mats, times, ranks)``: P at a few times side by side, fixed zmin = 0, zmax = 1.
* ``series(t, {name: values}, log_y)``: curves over time (Boolean defect, rank, max‖x‖ …).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.colors import OKABE_ITO

TRAIL_COLOR = "#7f7f7f"
START_COLOR = "#56B4E9"
END_COLOR = "#D55E00"
HULL_COLOR = "#009E73"
LINE_COLOR = "#CC79A7"
MAX_TRAIL_FRAMES = 300


def _decimate(z: np.ndarray) -> np.ndarray:
    K = len(z)
    if K <= MAX_TRAIL_FRAMES:
        return z
    idx = np.unique(np.linspace(0, K - 1, MAX_TRAIL_FRAMES).round().astype(int))
    return z[idx]


def _trails(z: np.ndarray) -> np.ndarray:
    """(K, n, d) → (n·(K+1), d) with a NaN row after each token's path."""
    z = _decimate(np.asarray(z, dtype=float))
    K, n, d = z.shape
    out = np.full((n, K + 1, d), np.nan)
    out[:, :K] = np.swapaxes(z, 0, 1)
    return out.reshape(-1, d)


def _box(points: np.ndarray, pad: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(points, dtype=float).reshape(-1, points.shape[-1])
    p = p[np.all(np.isfinite(p), axis=1)]
    if p.size == 0:
        return -np.ones(points.shape[-1]), np.ones(points.shape[-1])
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    return lo - pad * span, hi + pad * span


def trajectories_2d(
    z: np.ndarray,
    *,
    hull: np.ndarray | None = None,
    lines: tuple[np.ndarray, Sequence[float]] | None = None,
    labels: tuple[str, str] = ("z₁", "z₂"),
    title: str = "",
    height: int = 480,
) -> go.Figure:
    """Trajectories (K, n, 2); ``hull``: polygon vertices in order (m, 2); ``lines``: (ψ, values)."""
    z = np.asarray(z, dtype=float)
    trail = _trails(z)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=trail[:, 0],
            y=trail[:, 1],
            mode="lines",
            name="trajectories",
            line={"color": TRAIL_COLOR, "width": 1},
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=z[0, :, 0], y=z[0, :, 1], mode="markers", name="start", marker={"color": START_COLOR, "size": 6}
        )
    )
    fig.add_trace(
        go.Scatter(
            x=z[-1, :, 0],
            y=z[-1, :, 1],
            mode="markers",
            name="end",
            text=[f"token {i}" for i in range(z.shape[1])],
            marker={"color": END_COLOR, "size": 8, "symbol": "x"},
        )
    )
    lo, hi = _box(z)
    if hull is not None and len(hull) >= 2:
        h = np.asarray(hull, dtype=float)
        closed = np.vstack([h, h[:1]])
        fig.add_trace(
            go.Scatter(
                x=closed[:, 0],
                y=closed[:, 1],
                mode="lines+markers",
                name="predicted limit set ∂K",
                fill="toself" if len(h) >= 3 else None,
                fillcolor="rgba(0,158,115,0.08)",
                line={"color": HULL_COLOR, "width": 2},
                marker={"size": 9, "symbol": "diamond"},
            )
        )
    if lines is not None:
        psi, values = np.asarray(lines[0], dtype=float), list(lines[1])
        for k, c in enumerate(values):
            xs, ys = _line_in_box(psi, float(c), lo, hi)
            if xs is not None:
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=ys,
                        mode="lines",
                        name="ψ₁ᵀz = const" if k == 0 else None,
                        showlegend=k == 0,
                        legendgroup="planes",
                        line={"color": LINE_COLOR, "width": 2, "dash": "dash"},
                        hovertext=f"ψ₁ᵀz = {c:.4g}",
                        hoverinfo="text",
                    )
                )
    fig.update_layout(
        title=title or None,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"title": labels[0], "range": [lo[0], hi[0]]},
        yaxis={"title": labels[1], "range": [lo[1], hi[1]], "scaleanchor": "x", "scaleratio": 1},
        legend={"orientation": "h", "y": -0.12},
        uirevision="adx-euclid",
    )
    return fig


def _line_in_box(psi: np.ndarray, c: float, lo: np.ndarray, hi: np.ndarray):
    """Endpoints of {x : ψᵀx = c} inside the box [lo, hi] (None if it misses it)."""
    pts = []
    a, b = psi
    for x in (lo[0], hi[0]):
        if abs(b) > 1e-15:
            y = (c - a * x) / b
            if lo[1] - 1e-12 <= y <= hi[1] + 1e-12:
                pts.append((x, y))
    for y in (lo[1], hi[1]):
        if abs(a) > 1e-15:
            x = (c - b * y) / a
            if lo[0] - 1e-12 <= x <= hi[0] + 1e-12:
                pts.append((x, y))
    if len(pts) < 2:
        return None, None
    pts = np.array(pts)
    i, j = 0, int(np.argmax(np.linalg.norm(pts - pts[0], axis=1)))
    return [pts[i, 0], pts[j, 0]], [pts[i, 1], pts[j, 1]]


def trajectories_3d(
    z: np.ndarray,
    *,
    hull_points: np.ndarray | None = None,
    simplices: np.ndarray | None = None,
    planes: tuple[np.ndarray, Sequence[float]] | None = None,
    title: str = "",
    height: int = 520,
) -> go.Figure:
    """Trajectories (K, n, 3), the hull as a translucent mesh, planes ψᵀz = c as surfaces."""
    z = np.asarray(z, dtype=float)
    trail = _trails(z)
    lo, hi = _box(z)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter3d(
            x=trail[:, 0],
            y=trail[:, 1],
            z=trail[:, 2],
            mode="lines",
            name="trajectories",
            line={"color": TRAIL_COLOR, "width": 2},
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter3d(
            x=z[0, :, 0],
            y=z[0, :, 1],
            z=z[0, :, 2],
            mode="markers",
            name="start",
            marker={"color": START_COLOR, "size": 3},
        )
    )
    fig.add_trace(
        go.Scatter3d(
            x=z[-1, :, 0],
            y=z[-1, :, 1],
            z=z[-1, :, 2],
            mode="markers",
            name="end",
            marker={"color": END_COLOR, "size": 4},
        )
    )
    if hull_points is not None and simplices is not None and len(simplices):
        p, s = np.asarray(hull_points, dtype=float), np.asarray(simplices)
        fig.add_trace(
            go.Mesh3d(
                x=p[:, 0],
                y=p[:, 1],
                z=p[:, 2],
                i=s[:, 0],
                j=s[:, 1],
                k=s[:, 2],
                color=HULL_COLOR,
                opacity=0.18,
                name="predicted limit set ∂K",
                showlegend=True,
            )
        )
    if planes is not None:
        psi = np.asarray(planes[0], dtype=float)
        axis = int(np.argmax(np.abs(psi)))
        others = [a for a in range(3) if a != axis]
        g0, g1 = np.meshgrid(
            np.linspace(lo[others[0]], hi[others[0]], 2), np.linspace(lo[others[1]], hi[others[1]], 2)
        )
        for k, c in enumerate(planes[1]):
            coords = [None, None, None]
            coords[others[0]], coords[others[1]] = g0, g1
            coords[axis] = (float(c) - psi[others[0]] * g0 - psi[others[1]] * g1) / psi[axis]
            fig.add_trace(
                go.Surface(
                    x=coords[0],
                    y=coords[1],
                    z=coords[2],
                    showscale=False,
                    opacity=0.25,
                    colorscale=[[0, LINE_COLOR], [1, LINE_COLOR]],
                    name="ψ₁ᵀz = const",
                    showlegend=k == 0,
                    hoverinfo="skip",
                )
            )
    fig.update_layout(
        title=title or None,
        height=height,
        margin={"l": 0, "r": 0, "t": 40 if title else 0, "b": 0},
        scene={
            "xaxis": {"title": "z₁", "range": [lo[0], hi[0]]},
            "yaxis": {"title": "z₂", "range": [lo[1], hi[1]]},
            "zaxis": {"title": "z₃", "range": [lo[2], hi[2]]},
            "aspectmode": "cube",
        },
        legend={"orientation": "h", "y": -0.05},
        uirevision="adx-euclid",
    )
    return fig


def trajectories_1d(
    t: np.ndarray,
    z: np.ndarray,
    leaders: tuple[int, int] | None = None,
    *,
    ylabel: str = "z_i(t)",
    height: int = 360,
) -> go.Figure:
    """z_i(t) for 1-D tokens (K, n) or (K, n, 1); the two leaders drawn thick."""
    t = np.asarray(t, dtype=float)
    z = np.asarray(z, dtype=float).reshape(len(t), -1)
    fig = go.Figure()
    for i in range(z.shape[1]):
        lead = leaders is not None and i in leaders
        fig.add_trace(
            go.Scatter(
                x=t,
                y=z[:, i],
                mode="lines",
                name=f"token {i}" + (" (leader)" if lead else ""),
                showlegend=lead,
                line={
                    "color": OKABE_ITO[3 if leaders and i == leaders[0] else 4] if lead else TRAIL_COLOR,
                    "width": 3 if lead else 1,
                },
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title="t",
        yaxis_title=ylabel,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def attention_heatmaps(
    mats: Sequence[np.ndarray],
    times: Sequence[float],
    ranks: Sequence[int] | None = None,
    *,
    height: int = 300,
) -> go.Figure:
    """Attention matrices side by side, all on the same colour scale [0, 1]."""
    k = len(mats)
    titles = [
        f"t = {t:.3g}" + (f" · rank {ranks[i]}" if ranks is not None else "") for i, t in enumerate(times)
    ]
    fig = make_subplots(rows=1, cols=max(k, 1), subplot_titles=titles, horizontal_spacing=0.03)
    for i, P in enumerate(mats):
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(P, dtype=float),
                zmin=0.0,
                zmax=1.0,
                colorscale="Viridis",
                showscale=i == k - 1,
                hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>",
            ),
            row=1,
            col=i + 1,
        )
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def series(
    t: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    log_y: bool = False,
    ytitle: str = "",
    height: int = 280,
) -> go.Figure:
    """Curves over time, one trace each."""
    fig = go.Figure()
    for k, (name, values) in enumerate(curves.items()):
        v = np.asarray(values, dtype=float)
        if log_y:
            v = np.where(v > 0, v, np.nan)
        fig.add_trace(
            go.Scatter(
                x=np.asarray(t, dtype=float),
                y=v,
                mode="lines",
                name=name,
                line={"color": OKABE_ITO[k % len(OKABE_ITO)]},
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title="t",
        yaxis={"title": ytitle, "type": "log" if log_y else "linear"},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


__all__ = ["attention_heatmaps", "series", "trajectories_1d", "trajectories_2d", "trajectories_3d"]
