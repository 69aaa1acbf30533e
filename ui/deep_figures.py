"""Plotly figures of the "Deep (GPT-2 scale)" page (pure: arrays in, figures out; no WebGL).

* ``cosine_heatmap(c, t)`` — an n×n cosine matrix, block-averaged to ≤ ``MAX_CELLS`` per side,
  fixed colour range [−1, 1];
* ``histogram_heatmap(t, edges, hist)`` — fractions of pairs per inner-product bin over time;
* ``collapse_curves(t, omc, min_cos, collapse_t)`` — 1 − mean cos(x₁, x_j) and 1 − min cos.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

MAX_CELLS = 256


def pool(c: np.ndarray, cells: int = MAX_CELLS) -> tuple[np.ndarray, int]:
    """Block-average a square matrix to at most ``cells`` per side; returns (matrix, block)."""
    n = c.shape[0]
    block = max(1, -(-n // cells))
    if block == 1:
        return c.astype(np.float32), 1
    m = -(-n // block)
    pad = m * block - n
    a = np.pad(c.astype(np.float64), ((0, pad), (0, pad)), constant_values=np.nan)
    a = a.reshape(m, block, m, block)
    return np.nanmean(a, axis=(1, 3)).astype(np.float32), block


def cosine_heatmap(c: np.ndarray, t: float, order: np.ndarray | None = None) -> go.Figure:
    if order is not None:
        c = c[np.ix_(order, order)]
    z, block = pool(c)
    note = "" if block == 1 else f" (blocks of {block}×{block} tokens averaged)"
    fig = go.Figure(
        go.Heatmap(z=z, zmin=-1, zmax=1, colorscale="RdBu_r", colorbar={"title": "cos"},
                   hovertemplate="i=%{y} j=%{x}<br>cos=%{z:.4f}<extra></extra>")
    )  # fmt: skip
    fig.update_layout(
        title=f"cos(x_i, x_j) at t = {t:.3g}{note}",
        height=460,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        yaxis={"autorange": "reversed", "scaleanchor": "x", "title": "token i"},
        xaxis={"title": "token j"},
    )
    return fig


def histogram_heatmap(t: np.ndarray, edges: np.ndarray, hist: np.ndarray) -> go.Figure:
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Heatmap(x=np.asarray(t, dtype=float), y=centres, z=np.asarray(hist, dtype=np.float32),
                   zmin=0, zmax=1, colorscale="Viridis", colorbar={"title": "fraction"},
                   hovertemplate="t=%{x:.3g}<br>⟨x_i,x_j⟩≈%{y:.3f}<br>%{z:.3f} of pairs<extra></extra>")
    )  # fmt: skip
    fig.update_layout(
        title="Histogram of pairwise inner products ⟨x_i, x_j⟩ (i < j) over time",
        height=380,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        xaxis={"title": "t"},
        yaxis={"title": "⟨x_i, x_j⟩", "range": [-1, 1]},
    )
    return fig


def collapse_curves(
    t: np.ndarray, omc: np.ndarray, min_cos: np.ndarray, collapse_t: float | None
) -> go.Figure:
    t = np.asarray(t, dtype=float)
    floor = 1e-8
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=np.maximum(np.abs(omc), floor), name="1 − mean_j cos(x₁, x_j)",
                             mode="lines"))  # fmt: skip
    one_minus_min = np.maximum(1 - np.asarray(min_cos), floor)
    fig.add_trace(go.Scatter(x=t, y=one_minus_min, name="1 − min_ij cos(x_i, x_j)", mode="lines",
                             line={"dash": "dot"}))  # fmt: skip
    if collapse_t is not None:
        fig.add_vline(x=collapse_t, line={"color": "gray", "dash": "dash"},
                      annotation_text=f"collapse t = {collapse_t:.3g}")  # fmt: skip
    fig.update_layout(
        title="Collapse",
        height=340,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        xaxis={"title": "t"},
        yaxis={"title": "(log scale, floored at 1e−8)", "type": "log"},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
