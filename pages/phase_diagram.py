"""Phase diagrams (Geshkovski et al., Figs. 3/5): clustering over (t, β), batched and run via Dask.

The sidebar describes a sweep (``dynamics.sweep.Sweep``): β range and count, systems per β, n, d,
T, dt, statistic, attention, random QᵀK / V families and their redraw period. Small sweeps (under
``AUTO_SECONDS`` by the estimate) run on their own; bigger ones wait for the Run button, and the
headline sweep of the paper (2048 systems per β, 90 β, n = 32, d = 2, T = 30) has its own button
with its time estimate. While a sweep runs the page shows a progress bar and a Cancel button
(a click reruns the script, which cancels the remaining Dask chunks). Finished sweeps are kept in
``st.cache_data`` (:mod:`ui.finished`) keyed on the sweep's JSON and can be downloaded (NPZ with
the JSON embedded, or the JSON alone). The heatmap has a fixed colour range; the dashed line is
the equiangular curve (docs/theory.md; SA, ρ₀ = 0, ε = 10⁻³, the sweep's n). Sweeps of one
chunk (the default one) run in the script's thread; bigger ones go through Dask
(``$ADX_DASK_SCHEDULER``, else an in-process cluster started on demand and closed after a minute
without work).

Registered in app.py as
``st.Page("pages/phase_diagram.py", title="Phase diagrams", icon=":material/grid_on:",
url_path="phase_diagram")``; also runs alone (AppTest.from_file). Reads no query parameters.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
import streamlit as st

from dynamics import ScenarioError
from dynamics.sweep import (
    HEADLINE,
    QK_FAMILIES,
    SUCCESS,
    V_FAMILIES,
    Sweep,
    SweepLimits,
    SweepResult,
    equiangular_curve,
    plan_chunks,
    run_sweep,
)
from ui import finished, session
from ui.sweep_figures import final_profile, phase_heatmap
from ui.text import escaped

log = logging.getLogger("adx.phase_diagram")

#: What the app lets a visitor run (the headline sweep fits, barely: it is ≈ 1 min).
APP_SWEEP_LIMITS = SweepLimits(
    max_systems=200_000, max_betas=200, max_checkpoints=400, max_steps=5_000,
    max_n=128, max_d=64, max_heads=4, max_work=7e11,
)  # fmt: skip
AUTO_SECONDS = 4.0
#: Throughput used for the time estimates (this machine, one core): pair-steps per second.
CIRCLE_RATE = 5e8  # n(n−1)/2 · steps · systems per s, exact d = 2 kernel
GENERIC_RATE = 2e9  # n² (d + 8) · steps · systems per s, generic kernel
DEFAULTS: dict[str, Any] = {
    "pd_beta_min": 0.1, "pd_beta_max": 9.0, "pd_beta_count": 30, "pd_systems": 64, "pd_n": 32,
    "pd_d": 2, "pd_T": 30.0, "pd_dt": 0.1, "pd_checkpoints": 100, "pd_stat": "pairs",
    "pd_attention": "softmax", "pd_qk": "identity", "pd_v": "identity", "pd_regen": 0,
}  # fmt: skip
STAT_OPTIONS = {"pairs": ("pairs",), "clusters": ("clusters",), "both": ("pairs", "clusters")}
RUN_KEY, HEADLINE_KEY, CANCELLED_KEY = "_pd_run", "_pd_headline", "_pd_cancelled"

SWEEP_KIND = "phase diagram"


# ------------------------------------------------------------------------------------ cache
def lookup(sweep_json: str) -> SweepResult | None:
    """A finished sweep of this process (ui.finished keeps its NPZ bytes), or None."""
    data = finished.lookup(SWEEP_KIND, sweep_json)
    return None if data is None else SweepResult.from_npz(io.BytesIO(data))


def store(result: SweepResult) -> None:
    finished.store(SWEEP_KIND, result.sweep.to_json(), result.to_bytes())


@st.cache_data(max_entries=64, show_spinner=False)
def cached_curve(n: int, beta_min: float, beta_max: float, T: float, K: int, attention: str) -> np.ndarray:
    t = np.linspace(0.0, T, K)
    return equiangular_curve(t, n, (beta_min, beta_max), attention=attention)


def estimate_seconds(sweep: Sweep) -> float:
    total = 0.0
    for n, d, h in sweep.grid():
        sys_steps = sweep.systems * len(sweep.betas) * sweep.steps
        if sweep.fast_path(n, d, h):
            total += sys_steps * n * (n - 1) / 2 / CIRCLE_RATE
        else:
            total += sys_steps * h * n * n * (d + 8) / GENERIC_RATE
    return total + 0.3


# ------------------------------------------------------------------------------------ controls
def sidebar() -> dict[str, Any]:
    ss = st.session_state
    for key, value in DEFAULTS.items():
        ss.setdefault(key, value)
    with st.sidebar:
        st.subheader("Sweep")
        c1, c2, c3 = st.columns(3)
        c1.number_input("β min", 0.0, 100.0, step=0.1, key="pd_beta_min")
        c2.number_input("β max", 0.0, 100.0, step=0.5, key="pd_beta_max")
        c3.number_input("β count", 1, 200, step=1, key="pd_beta_count")
        st.number_input(
            "systems per β", 1, 4096, step=16, key="pd_systems",
            help="random initial configurations (seeds 0, 1, …), the same for every β",
        )  # fmt: skip
        c1, c2 = st.columns(2)
        c1.number_input("tokens n", 2, 128, step=1, key="pd_n")
        c2.number_input("dimension d", 2, 64, step=1, key="pd_d")
        c1, c2, c3 = st.columns(3)
        c1.number_input("T", 0.1, 200.0, step=5.0, key="pd_T")
        c2.number_input("dt", 0.001, 1.0, step=0.01, format="%.3f", key="pd_dt")
        c3.number_input("checkpoints", 2, 400, step=10, key="pd_checkpoints")
        st.radio("statistic", list(STAT_OPTIONS), horizontal=True, key="pd_stat",
                 help="pairs: fraction of pairs with ⟨xᵢ,xⱼ⟩ > 0.999; clusters: components of "
                 "⟨xᵢ,xⱼ⟩ > 0.9999")  # fmt: skip
        st.radio("attention", ["softmax", "unnormalized"], horizontal=True, key="pd_attention",
                 help="SA (softmax) or USA (denominator n)")  # fmt: skip
        with st.expander("Random weights"):
            st.selectbox("QᵀK", QK_FAMILIES, key="pd_qk",
                         help="identity · gaussian: G₁G₂/√d · goe: (G+Gᵀ)/√2 (per system)")  # fmt: skip
            st.selectbox("V", V_FAMILIES, key="pd_v",
                         help="identity · gaussian: BBᵀ/√d · plus_qk / minus_qk: ±QᵀK/c")  # fmt: skip
            st.number_input("redraw every k steps (0: never)", 0, 100_000, step=1, key="pd_regen")
    return {k: ss[k] for k in DEFAULTS}


def build_sweep(v: dict[str, Any]) -> tuple[Sweep | None, str | None]:
    if v["pd_beta_max"] < v["pd_beta_min"]:
        return None, "β max must be at least β min."
    try:
        sweep = Sweep.from_dict(
            {
                "betas": {"min": v["pd_beta_min"], "max": v["pd_beta_max"], "count": v["pd_beta_count"]}
                if v["pd_beta_count"] > 1 else [v["pd_beta_min"]],
                "systems": v["pd_systems"], "n": v["pd_n"], "d": v["pd_d"], "T": v["pd_T"],
                "dt": v["pd_dt"], "checkpoints": v["pd_checkpoints"],
                "statistics": list(STAT_OPTIONS.get(v["pd_stat"], ("pairs",))),
                "attention": v["pd_attention"], "qk": v["pd_qk"], "v": v["pd_v"],
                "regen_period": v["pd_regen"],
            }
        )  # fmt: skip
        sweep.check(APP_SWEEP_LIMITS)
    except ScenarioError as exc:
        return None, str(exc)
    return sweep, None


# ------------------------------------------------------------------------------------ run
def dask_for(sweep: Sweep) -> str | None:
    """``"serial"`` for a sweep of one chunk (Dask would add a cluster and no parallelism: the
    page's default sweep is one chunk), else None: ``$ADX_DASK_SCHEDULER`` or the in-process
    cluster, started now and closed by ``dynamics.sweep`` after a minute without work."""
    return "serial" if len(plan_chunks(sweep)) <= 1 else None


def execute(sweep: Sweep) -> SweepResult | None:
    """Run with a progress bar and a Cancel button; a Cancel click reruns (and cancels)."""
    est = estimate_seconds(sweep)
    box = st.status(f"Running {sweep.total_systems():,} systems × {sweep.steps} steps (≈ {est:.0f} s)…",
                    expanded=True)  # fmt: skip
    with box:
        bar = st.progress(0.0, text="0 %")
        st.button("Cancel", key="pd_cancel", icon=":material/stop_circle:")

        def progress(fraction: float) -> None:
            bar.progress(min(1.0, fraction), text=f"{100 * fraction:.0f} %")

        try:
            result = run_sweep(sweep, progress=progress, limits=APP_SWEEP_LIMITS, client=dask_for(sweep))
        except ScenarioError as exc:
            box.update(label=f"Refused: {escaped(exc)}", state="error")
            return None
        except (OSError, RuntimeError, TimeoutError) as exc:
            log.exception("sweep failed")
            box.update(label=f"The sweep could not run: {escaped(str(exc)[:200])}", state="error")
            return None
    if result.status == SUCCESS:
        store(result)
        box.update(label=f"Done: {result.message}", state="complete", expanded=False)
    else:
        box.update(label=f"Not finished: {result.message}", state="error")
    return result


def show(result: SweepResult) -> None:
    sweep = result.sweep
    n = sweep.grid()[0][0]
    curve = None
    if sweep.base.attention == "softmax" and sweep.qk == "identity" and sweep.v == "identity":
        curve = cached_curve(n, float(result.betas.min()), float(result.betas.max()),
                             float(sweep.base.T), len(result.t), sweep.base.attention)  # fmt: skip
    for name in sweep.statistics:
        stat = result.stats[name]
        fig = phase_heatmap(result.t, result.betas, stat, statistic=name, n=n, curve=curve)
        st.plotly_chart(fig, key=f"pd_heat_{name}", width="stretch")
        st.plotly_chart(final_profile(result.betas, stat, statistic=name, n=n),
                        key=f"pd_final_{name}", width="stretch")  # fmt: skip
    st.caption(
        f"{sweep.systems} systems per β (seeds {sweep.base.seed}…{sweep.base.seed + sweep.systems - 1}), "
        f"n = {n}, d = {sweep.grid()[0][1]}, projected Euler h = {sweep.h:.3g}, {sweep.base.dtype}; "
        f"{result.message}."
        + ("" if curve is None else " Dashed: equiangular curve (SA, ρ₀ = 0, ε = 10⁻³): for each t "
           "the largest β whose equiangular configuration has ρ(t) ≥ 1 − ε.")
    )  # fmt: skip
    c1, c2 = st.columns(2)
    c1.download_button("Download NPZ", result.to_bytes(), file_name="phase_diagram.npz",
                       mime="application/octet-stream", key="pd_dl_npz")  # fmt: skip
    c2.download_button("Download sweep JSON", sweep.to_json(indent=2), file_name="sweep.json",
                       mime="application/json", key="pd_dl_json")  # fmt: skip


def main() -> None:
    session.leave_legacy_pages_mode()
    st.title("Phase diagrams")
    st.caption(
        "Clustering over (t, β) for random initial tokens (Geshkovski–Letrouit–Polyanskiy–Rigollet, "
        "arXiv 2312.10794, Figs. 3/5): small β collapses to one cluster quickly, large β forms "
        "several clusters that persist (metastability). A sweep runs as many small batches of "
        "systems in parallel (with Dask), so the page can show its progress and stop it."
    )
    ss = st.session_state
    v = sidebar()
    headline = Sweep.from_dict({**HEADLINE, "statistics": ["pairs"]})
    head_est = estimate_seconds(headline)
    if st.sidebar.button(f"Headline sweep (2048 systems × 90 β, ≈ {head_est:.0f} s)", key="pd_headline_btn",
                         help="n = 32, d = 2, β ∈ [0.1, 9], T = 30, dt = 0.1, float32"):  # fmt: skip
        ss[HEADLINE_KEY] = True
    use_headline = bool(ss.get(HEADLINE_KEY))
    if use_headline:
        sweep, error = headline, None
        if st.sidebar.button("Back to my sweep", key="pd_back"):
            ss[HEADLINE_KEY] = False
            st.rerun()
    else:
        sweep, error = build_sweep(v)
    if error or sweep is None:
        st.error(f"This sweep is refused: {escaped(error)}", icon=":material/error:")
        return
    js = sweep.to_json()
    try:
        result = lookup(js)
    except ScenarioError as exc:  # a corrupt cache entry: forget it
        log.warning("cached sweep unreadable: %s", exc)
        result = None
    est = estimate_seconds(sweep)
    if ss.get("pd_cancel"):  # this rerun comes from the Cancel button: the old run was stopped
        ss[CANCELLED_KEY] = js
        ss.pop(RUN_KEY, None)
        ss[HEADLINE_KEY] = use_headline = False
        st.warning("Sweep cancelled.", icon=":material/stop_circle:")
        return
    if result is None:
        auto = est <= AUTO_SECONDS and ss.get(CANCELLED_KEY) != js
        wanted = use_headline or ss.get(RUN_KEY) == js or auto
        if not wanted:
            st.info(f"{sweep.total_systems():,} systems × {sweep.steps} steps: about {est:.0f} s on this "
                    "server.", icon=":material/schedule:")  # fmt: skip
            if st.button(f"Run (≈ {est:.0f} s)", key="pd_run", type="primary"):
                ss[RUN_KEY] = js
                st.rerun()
            return
        ss[RUN_KEY] = js
        with finished.turn(SWEEP_KIND, js, "Another session is running this same sweep; waiting for it…"):
            result = lookup(js) or execute(sweep)  # the same sweep asked for twice at once: run once
        ss.pop(RUN_KEY, None)
        if result is None:
            return
    else:
        st.caption("From the cache of finished sweeps.")
    show(result)


main()
