"""Plotly figures of the "Real transformer" page (pure: arrays and JSON-like dicts in, figures out).

* ``depth_curve(y, title, n_blocks)`` — a per-block curve (1 − mean cos, cluster counts), with a
  dotted line at the end of every pass of the stack;
* ``cosine_heatmap(cos, labels, k)`` and ``pca_paths(pca, labels, three_d)`` — the tokens at a block;
* ``spectra(report)`` — the non-zero eigenvalues of every head's V_h and A_h = QᵀK in the complex
  plane, with the layer's total value map Σ_h V_h (``dynamics.weights.LayerReport.to_json``);
* ``comparison(cmp)`` — the paper's ODE (sphere, ellipsoid) against the network with the layer
  repeated (with / without MLP) and the discrete ladder between them
  (``dynamics.weights.Comparison.to_json``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MARGIN = {"l": 50, "r": 10, "t": 50, "b": 40}
HEAD_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
)  # fmt: skip
NETWORK_STYLE = {
    "without MLP": {"color": "#111111", "width": 3},
    "with MLP": {"color": "#888888", "width": 3},
}
ODE_STYLE = {
    "ellipsoid": {"color": "#1f77b4", "width": 3, "dash": "dash"},
    "sphere": {"color": "#ff7f0e", "width": 3, "dash": "dash"},
}
LADDER_STYLE = {"width": 1.5, "dash": "dot"}


def depth_curve(y: np.ndarray, title: str, n_blocks: int, *, log_y: bool = False) -> go.Figure:
    k = np.arange(len(y))
    fig = go.Figure(go.Scatter(x=k, y=np.asarray(y, dtype=float), mode="lines", name=title))
    passes = (len(y) - 1) // max(n_blocks, 1)
    if 1 < passes <= 40:
        for p in range(1, passes):
            fig.add_vline(x=p * n_blocks, line={"width": 1, "dash": "dot", "color": "#aaa"})
    fig.update_layout(title=title, xaxis_title="block applications", height=300, margin=MARGIN)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def cosine_heatmap(cos: np.ndarray, labels: list[str], k: int) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(cos, dtype=np.float32), x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu_r",
            colorbar={"title": "cos"},
        )
    )  # fmt: skip
    fig.update_layout(
        title=f"cos(x_i, x_j) after block application {k}", height=460, yaxis={"autorange": "reversed"}
    )
    return fig


def pca_paths(pca: np.ndarray, labels: list[str], three_d: bool) -> go.Figure:
    fig = go.Figure()
    for i in range(pca.shape[1]):
        path = pca[:, i]
        common = {"mode": "lines+markers", "name": labels[i], "marker": {"size": 3}, "line": {"width": 1}}
        if three_d:
            fig.add_trace(go.Scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], **common))
        else:
            fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], **common))
    fig.update_layout(title="Token directions through depth (PCA of all blocks)", height=480)
    return fig


def _eig(entry: dict[str, Any]) -> np.ndarray:
    values = entry.get("eigenvalues") or []
    return np.array(values, dtype=float).reshape(-1, 2)


def spectra(report: dict[str, Any]) -> go.Figure:
    """Non-zero eigenvalues of V_h (left, with Σ_h V_h) and A_h (right), one colour per head.

    The cross marks 1, the eigenvalue of V = I; Σ_h V_h is drawn as small black dots."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("value maps V_h and Σ_h V_h", "key–query products A_h = s·W_qᵀW_k"),
        horizontal_spacing=0.08,
    )
    total = _eig(report["total_value"])
    if total.size:
        fig.add_trace(
            go.Scatter(
                x=total[:, 0], y=total[:, 1], mode="markers", name="Σ_h V_h",
                marker={"size": 4, "color": "rgba(0,0,0,0.35)"},
                hovertemplate="Σ_h V_h: %{x:.3g} %{y:+.3g}i<extra></extra>",
            ),
            row=1, col=1,
        )  # fmt: skip
    for h, head in enumerate(report["per_head"]):
        color = HEAD_COLORS[h % len(HEAD_COLORS)]
        for col, key in ((1, "value"), (2, "qk")):
            e = _eig(head[key])
            fig.add_trace(
                go.Scatter(
                    x=e[:, 0], y=e[:, 1], mode="markers", name=f"head {h}", legendgroup=f"h{h}",
                    showlegend=col == 1, marker={"size": 6, "color": color, "opacity": 0.8},
                    hovertemplate=f"head {h}: " + "%{x:.3g} %{y:+.3g}i<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[1.0], y=[0.0], mode="markers", name="1 (V = I)",
            marker={"symbol": "x", "size": 12, "color": "#cf222e", "line": {"width": 2}},
        ),
        row=1, col=1,
    )  # fmt: skip
    for col in (1, 2):
        fig.add_hline(y=0, line={"width": 1, "color": "#bbb"}, row=1, col=col)
        fig.add_vline(x=0, line={"width": 1, "color": "#bbb"}, row=1, col=col)
        fig.update_xaxes(title_text="Re λ", row=1, col=col)
        fig.update_yaxes(title_text="Im λ", row=1, col=col)
    fig.update_layout(height=430, margin=MARGIN, legend={"font": {"size": 10}})
    return fig


def comparison(cmp: dict[str, Any]) -> go.Figure:
    """1 − mean cos(x₁, x_j) and ε-cluster counts against block applications: network (solid),
    the paper's ODE (dashed), the ladder's intermediate rungs (dotted)."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("1 − mean cos(x₁, x_j)", "ε-clusters"), horizontal_spacing=0.08
    )
    k = np.arange(cmp["repeats"] + 1)
    palette = ("#2ca02c", "#9467bd", "#8c564b")
    rungs = [name for name in cmp.get("ladder", {}) if name != "network"]
    groups = [
        *(
            (f"network {name}", curves, {"line": NETWORK_STYLE[name]})
            for name, curves in cmp["network"].items()
        ),
        *(
            (f"ODE, {space}", curves, {"line": ODE_STYLE.get(space, {"dash": "dash"})})
            for space, curves in cmp["ode"].items()
        ),
        *(
            (f"ladder: {name}", cmp["ladder"][name], {"line": {**LADDER_STYLE, "color": palette[i % 3]}})
            for i, name in enumerate(rungs)
        ),
    ]
    for label, curves, style in groups:
        x = curves.get("blocks", k)  # the ODE may cover fewer blocks, at fractional positions
        for col, key in ((1, "deviation"), (2, "clusters")):
            fig.add_trace(
                go.Scatter(
                    x=x, y=curves[key], mode="lines", name=label, legendgroup=label, showlegend=col == 1,
                    **style,
                ),
                row=1, col=col,
            )  # fmt: skip
    for col in (1, 2):
        fig.update_xaxes(title_text="block applications of the layer", row=1, col=col)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(height=420, margin=MARGIN, legend={"font": {"size": 10}})
    return fig
