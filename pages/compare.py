"""Compare two attention variants (maths notes §C.2) from the same seed, side by side.

Sidebar: variant A and variant B (softmax, unnormalized, l2, sinkhorn, sigmoid) and the shared
scenario (n, d, seed, β, mask, heads, T) with the variants' own parameters (sigmoid bias,
Sinkhorn tolerance and iteration cap). Main area: 2D small multiples — diameter and cluster count
of both runs over time, the attention matrices of both at one chosen time (zmin = 0, zmax = 1) —
and ONE 3D player (WebGL contexts are scarce) with a selector of which run it shows.

Each run is ``ui.session.cached_display(scenario)`` (cached on the scenario's JSON); a refused
scenario (for instance Sinkhorn with the causal mask) is shown with st.error, never a traceback.
"""

from __future__ import annotations

import logging

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dynamics import ScenarioError
from dynamics.field import AttentionField
from dynamics.matrices import build_heads
from dynamics.scenario import ATTENTION_KINDS
from ui import session
from ui.figures import attention_heatmap, cluster_order
from ui.text import escaped

log = logging.getLogger("adx.compare")

COLORS = {"A": "#1f77b4", "B": "#d62728"}
CURVES = ("diameter (rad)", "clusters")
PLAYER_HEIGHT = 460


def controls() -> tuple[dict, str, str]:
    """The shared scenario fields and the two variants, from the sidebar."""
    with st.sidebar:
        st.subheader("Variants")
        a = st.selectbox("Variant A", ATTENTION_KINDS, index=0, key="cmp_a")
        b = st.selectbox("Variant B", ATTENTION_KINDS, index=ATTENTION_KINDS.index("sinkhorn"), key="cmp_b")
        st.subheader("Shared scenario")
        fields = {
            "n": st.number_input("tokens n", 2, 256, 32, key="cmp_n"),
            "d": st.number_input("dimension d", 2, 16, 3, key="cmp_d"),
            "seed": st.number_input("seed", 0, 2**31, 0, key="cmp_seed"),
            "beta": st.number_input("β", 0.0, 1e4, 4.0, step=0.5, key="cmp_beta"),
            "mask": st.radio("mask", ["none", "causal"], horizontal=True, key="cmp_mask"),
            "n_heads": st.number_input("heads", 1, 4, 1, key="cmp_heads"),
            "T": st.number_input("horizon T", 0.5, 50.0, 10.0, key="cmp_T"),
        }
        if fields["n_heads"] > 1:
            fields["qk"] = "gaussian"
        st.subheader("Variant parameters")
        fields["sigmoid_bias"] = st.number_input("sigmoid bias b", -20.0, 20.0, 0.0, key="cmp_bias")
        fields["sinkhorn_tol"] = st.select_slider(
            "Sinkhorn tolerance", [1e-6, 1e-8, 1e-9, 1e-10, 1e-12], value=1e-9, key="cmp_tol"
        )
        fields["sinkhorn_iters"] = st.number_input("Sinkhorn iteration cap", 1, 2000, 200, key="cmp_iters")
    return fields, a, b


def run(label: str, attention: str, fields: dict):
    """(scenario, display) of one variant, or (None, None) after an st.error."""
    scenario, err = session.safe_scenario(attention=attention, **fields)
    if scenario is None:
        st.error(f"Variant {label} ({attention}): {escaped(err)}")
        return None, None
    try:
        return scenario, session.cached_display(scenario)
    except ScenarioError as exc:
        st.error(f"Variant {label} ({attention}): {escaped(exc)}")
        return None, None


def curves_figure(runs: dict) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(CURVES), subplot_titles=CURVES, horizontal_spacing=0.1)
    for label, (attention, display) in runs.items():
        for c, name in enumerate(CURVES, start=1):
            fig.add_trace(
                go.Scatter(
                    x=display.t,
                    y=display.metrics[name],
                    name=f"{label}: {attention}",
                    legendgroup=label,
                    showlegend=c == 1,
                    line={"color": COLORS[label]},
                ),
                row=1,
                col=c,
            )
    fig.update_xaxes(title_text="t")
    fig.update_layout(height=300, margin={"t": 40, "b": 10}, legend={"orientation": "h", "y": -0.25})
    return fig


def heatmaps(runs: dict, scenarios: dict, t_target: float) -> None:
    cols = st.columns(len(runs))
    for col, (label, (attention, display)) in zip(cols, runs.items(), strict=True):
        times = display.t[display.heat_idx]
        i = int(np.argmin(np.abs(times - t_target)))
        t_now = float(times[i])
        fld = AttentionField.from_scenario(scenarios[label], build_heads(scenarios[label]))
        a = fld.attention_matrices(t_now, np.asarray(display.heat_x[i], dtype=np.float64)).mean(axis=0)
        if scenarios[label].causal:
            a[np.triu_indices(a.shape[0], k=1)] = np.nan  # blank, as in the explorer
        order = cluster_order(display.heat_labels[i])
        z, block = session.pooled(a, order)
        title = f"{label}: {attention}, α(t = {t_now:.3g})"
        fig = (
            attention_heatmap(a, order=order, title=title)
            if block == 1
            else attention_heatmap(z, title=title)
        )
        fig.update_layout(height=340, margin={"t": 40, "b": 10})
        with col:
            st.plotly_chart(fig, width="stretch", key=f"heat_{label}", config={"displaylogo": False})
            rep = fld.report()
            if rep:
                st.caption(
                    f"Sinkhorn at this time: {rep['sinkhorn_max_iterations']} iterations, marginal error "
                    f"{rep['sinkhorn_max_error']:.2g} (tolerance {rep['sinkhorn_tol']:g}, "
                    f"cap {rep['sinkhorn_iters']})"
                )


def player_view(runs: dict) -> None:
    labels = list(runs)
    choice = st.segmented_control(
        "3D view shows",
        labels,
        default=labels[0],
        required=True,
        key="cmp_view",
        format_func=lambda s: f"{s}: {runs[s][0]}",
        help="One 3D view for both runs (a page can hold only a few WebGL contexts).",
    )
    label = choice if choice in runs else labels[0]
    display = runs[label][1]
    shown = False
    try:
        from ui import player

        state = player.trajectory_player(
            t=display.t[display.frame_idx],
            x=display.x3,
            clusters=display.labels,
            ellipsoid=display.ellipsoid,
            key="cmp_player",
            height=PLAYER_HEIGHT,
            title=f"{label}: {runs[label][0]}",
            flat=display.flat,
        )
        shown = state.error is None
    except Exception as exc:
        log.exception("3D player failed")
        st.warning(f"The 3D player could not start ({escaped(exc)}); showing a static view.")
    if not shown:
        st.plotly_chart(session.static_figure(display), width="stretch", key="cmp_static", theme=None)


def summary(label: str, attention: str, display) -> str:
    return f"**{label}: {attention}** — {display.verdict} ({display.message})"


def main() -> None:
    session.leave_legacy_pages_mode()
    st.title("Compare attention variants")
    st.caption(
        "Two attention variants from the same seed and weights. L2: α ∝ exp(−β‖Qxᵢ − Kxⱼ‖²); Sinkhorn: "
        "exp(β⟨xᵢ, Axⱼ⟩) scaled to doubly stochastic; sigmoid: σ(β⟨xᵢ, Axⱼ⟩ + b)/n "
        "(definitions in dynamics/attention.py)."
    )
    fields, a, b = controls()
    runs: dict = {}
    scenarios: dict = {}
    for label, attention in (("A", a), ("B", b)):
        scenario, display = run(label, attention, fields)
        if display is not None:
            runs[label] = (attention, display)
            scenarios[label] = scenario
    if not runs:
        return
    for label, (attention, display) in runs.items():
        st.markdown(summary(label, attention, display))
    st.plotly_chart(curves_figure(runs), width="stretch", key="cmp_curves", config={"displaylogo": False})
    T = max(float(d.T) for _, d in runs.values())
    t_target = st.slider("Heatmap time t", 0.0, T, T / 2, key="cmp_t") if T > 0 else 0.0
    heatmaps(runs, scenarios, t_target)
    player_view(runs)


main()
