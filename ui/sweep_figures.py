"""Figures of the phase-diagram page (pure plotly; no streamlit).

``phase_heatmap(result, statistic, curve)``: the statistic over (t, β) as a 2D heatmap with a
fixed colour range (pairs: [0, 1]; clusters: [1, n]) and, optionally, the equiangular curve of
§D.4 (for each t the largest β whose equiangular configuration is already clustered).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

LABELS = {
    "pairs": "fraction of pairs with ⟨xᵢ, xⱼ⟩ > 0.999",
    "clusters": "clusters (components of ⟨xᵢ, xⱼ⟩ > 0.9999), mean over systems",
}


def color_range(statistic: str, n: int) -> tuple[float, float]:
    return (0.0, 1.0) if statistic == "pairs" else (1.0, float(n))


def phase_heatmap(
    t: np.ndarray,
    betas: np.ndarray,
    stat: np.ndarray,
    *,
    statistic: str = "pairs",
    n: int = 32,
    curve: np.ndarray | None = None,
    title: str | None = None,
    height: int = 460,
) -> go.Figure:
    """Heatmap of ``stat`` (len(betas), len(t)) with β on the y axis and t on the x axis."""
    zmin, zmax = color_range(statistic, n)
    z = np.asarray(stat, dtype=float)
    fig = go.Figure(
        go.Heatmap(
            x=np.asarray(t, dtype=float),
            y=np.asarray(betas, dtype=float),
            z=z,
            zmin=zmin,
            zmax=zmax,
            colorscale="RdBu_r",
            colorbar={"title": {"text": "pairs" if statistic == "pairs" else "clusters", "side": "right"}},
            hovertemplate="t = %{x:.3g}<br>β = %{y:.3g}<br>value = %{z:.3g}<extra></extra>",
            name=statistic,
        )
    )
    if curve is not None:
        c = np.asarray(curve, dtype=float)
        fig.add_trace(
            go.Scatter(
                x=np.asarray(t, dtype=float),
                y=c,
                mode="lines",
                line={"color": "black", "width": 2, "dash": "dash"},
                name="equiangular curve (ρ(t) = 1 − 10⁻³)",
                hovertemplate="t = %{x:.3g}<br>β* = %{y:.3g}<extra>equiangular</extra>",
            )
        )
    fig.update_layout(
        title=title or LABELS.get(statistic, statistic),
        xaxis_title="t",
        yaxis_title="β",
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.25, "x": 0},
    )
    fig.update_yaxes(range=[float(np.min(betas)), float(np.max(betas))] if len(betas) > 1 else None)
    fig.update_xaxes(range=[float(t[0]), float(t[-1])])
    return fig


def final_profile(betas: np.ndarray, stat: np.ndarray, *, statistic: str = "pairs", n: int = 32) -> go.Figure:
    """The statistic at the last checkpoint against β (a slice of the diagram)."""
    zmin, zmax = color_range(statistic, n)
    fig = go.Figure(go.Scatter(x=np.asarray(betas), y=np.asarray(stat)[:, -1], mode="lines+markers"))
    fig.update_layout(
        xaxis_title="β",
        yaxis_title=f"{statistic} at t = T",
        height=260,
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
    )
    fig.update_yaxes(range=[zmin - 0.02 * (zmax - zmin), zmax + 0.02 * (zmax - zmin)])
    return fig
