"""Deep (GPT-2 scale): n up to 1024 tokens in d up to 768 with up to 12 random heads.

Random Gaussian QᵀK and V per head (entries N(0, 1/d)), float32, projected Euler (= a stack of
attention layers with residual connection and normalisation). Shows the cosine matrix over time
(slider in an ``st.fragment``: scrubbing never re-integrates), the histogram of pairwise inner
products over time, 1 − mean cos(x₁, x_j), the time to collapse and the PCA 3D view in the player.

Time estimates are calibrated on this server (:func:`ui.budget.deep_meter`: a one-off
micro-benchmark, then the rate of this process's own finished runs), never a constant. Runs
estimated under ``AUTO_SECONDS`` start by themselves; bigger ones show the estimate and wait for a
Run button, then a progress bar with a Cancel button. Finished runs are kept in ``st.cache_data``
(:mod:`ui.finished`) keyed on the scenario's JSON; two sessions asking for the same run at once
compute it once. Registered in app.py as
``st.Page("pages/deep.py", title="Deep (GPT-2 scale)", icon=":material/layers:", url_path="deep")``;
also runs alone (AppTest.from_file).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import streamlit as st

from dynamics import Limits, Scenario, ScenarioError
from dynamics import deep as D
from dynamics.errors import BudgetError
from dynamics.solve import CANCELLED, FAILED
from ui import budget, finished, session
from ui.deep_figures import collapse_curves, cosine_heatmap, histogram_heatmap
from ui.text import escaped

log = logging.getLogger("adx.deep")

#: The largest run the page allows: n = 1024, d = 768, 12 heads, 20 Euler steps (T = 5, dt = 0.25).
_MAX_RUN = Scenario(n=1024, d=768, n_heads=12, qk="gaussian", value="gaussian", T=5.0, dt=0.25,
                    integrator="euler", frames=21, dtype="float32")  # fmt: skip
DEEP_LIMITS = Limits(
    max_n=1024, max_d=768, max_heads=12, max_frames=201, max_steps=2_000,
    max_work=D.flops_estimate(_MAX_RUN) * 1.01, max_output_bytes=4e8,
)  # fmt: skip
#: Runs estimated (on this server, now) above this wait for the Run button.
AUTO_SECONDS = 3.0
DEFAULTS: dict[str, Any] = {
    "deep_n": 256, "deep_d": 768, "deep_heads": 12, "deep_qk": "gaussian", "deep_v": "gaussian",
    "deep_beta": 1.0, "deep_T": 6.0, "deep_dt": 0.25, "deep_frames": 33, "deep_seed": 0,
}  # fmt: skip
RUN_KEY, CANCELLED_KEY = "_deep_run", "_deep_cancelled"

RUN_KIND = "deep run"


def lookup(js: str) -> tuple | None:
    """(Diagnostics, message, wall time, steps) of a finished run (ui.finished), or None."""
    return finished.lookup(RUN_KIND, js)


def estimate_seconds(scenario: Scenario) -> float:
    """Calibrated seconds of the whole run (weights, integration, diagnostics) on this server."""
    return budget.deep_meter().estimate(scenario)


def refusal_words(scenario: Scenario, exc: ScenarioError) -> str:
    """The engine's refusal, with the work budget in time rather than in operations."""
    if isinstance(exc, BudgetError) and "work budget" in str(exc):
        limit = estimate_seconds(_MAX_RUN)
        return (
            f"it would take {budget.plain_seconds(estimate_seconds(scenario))} on this server, more than "
            f"the largest run this page allows (GPT-2 small for 20 layers: n = 1024, d = 768, 12 heads, "
            f"{budget.plain_seconds(limit)}). Reduce n, d, heads or T, or increase dt."
        )
    return str(exc)


def sidebar() -> dict[str, Any]:
    ss = st.session_state
    for key, value in DEFAULTS.items():
        ss.setdefault(key, value)
    with st.sidebar:
        st.subheader("Tokens and weights")
        c1, c2, c3 = st.columns(3)
        c1.number_input("n", 2, 4096, step=64, key="deep_n", help="tokens (page limit 1024)")
        c2.number_input("d", 2, 4096, step=64, key="deep_d", help="dimension (GPT-2 small: 768)")
        c3.number_input("heads", 1, 64, step=1, key="deep_heads", help="GPT-2 small: 12 (limit 12)")
        c1, c2 = st.columns(2)
        c1.selectbox("QᵀK", ["gaussian", "identity"], key="deep_qk",
                     help="gaussian: Q, K with N(0, 1/d) entries, per head")  # fmt: skip
        c2.selectbox("V", ["gaussian", "identity"], key="deep_v", help="gaussian: N(0, 1/d) entries")
        st.number_input("seed", 0, 2**31, step=1, key="deep_seed")
        st.subheader("Dynamics")
        c1, c2 = st.columns(2)
        c1.number_input("β", 0.0, 1000.0, step=0.5, key="deep_beta")
        c2.number_input("T", 0.0, 1000.0, step=1.0, key="deep_T")
        c1.number_input("dt", 0.001, 10.0, step=0.05, format="%.3f", key="deep_dt")
        c2.number_input("frames", 2, 1000, step=8, key="deep_frames")
        st.caption("float32, projected Euler (one step = one attention layer).")
    return {k: ss[k] for k in DEFAULTS}


def build(v: dict[str, Any]) -> tuple[Scenario | None, str | None]:
    s = None
    try:
        s = Scenario(
            n=int(v["deep_n"]), d=int(v["deep_d"]), n_heads=int(v["deep_heads"]), qk=v["deep_qk"],
            value=v["deep_v"], beta=float(v["deep_beta"]), T=float(v["deep_T"]), dt=float(v["deep_dt"]),
            frames=int(v["deep_frames"]), seed=int(v["deep_seed"]), integrator="euler", dtype="float32",
        )  # fmt: skip
        from dynamics.limits import check

        check(s, DEEP_LIMITS)
    except ScenarioError as exc:
        return None, refusal_words(s, exc) if s is not None else str(exc)
    except (ValueError, TypeError) as exc:
        return None, str(exc)
    return s, None


def execute(s: Scenario, est: float) -> tuple | None:
    box = st.status(
        f"Integrating n = {s.n}, d = {s.d}, {s.n_heads} heads ({budget.plain_seconds(est)})…", expanded=True
    )
    t0 = time.perf_counter()
    with box:
        bar = st.progress(0.0, text="0 %")
        st.button("Cancel", key="deep_cancel", icon=":material/stop_circle:")

        def progress(fraction: float) -> None:
            bar.progress(min(1.0, fraction), text=f"{100 * fraction:.0f} %")

        try:
            res = D.run(s, progress, limits=DEEP_LIMITS)
        except ScenarioError as exc:
            box.update(label=f"Refused: {escaped(exc)}", state="error")
            return None
        if res.status in (FAILED, CANCELLED):
            box.update(label=f"Not finished: {escaped(res.message)}", state="error")
            return None
        bar.progress(1.0, text="diagnostics…")
        diag = D.diagnostics(res.t, res.x)
    budget.deep_meter().record(s, time.perf_counter() - t0)  # the next estimates use this rate
    out = (diag, res.message, res.wall_time, res.steps)
    finished.store(RUN_KIND, s.to_json(), out)
    box.update(
        label=f"Done in {res.wall_time:.1f} s: {escaped(res.message)}", state="complete", expanded=False
    )
    return out


@st.fragment
def cosine_view(diag: D.Diagnostics, order: np.ndarray) -> None:
    times = [float(diag.t[k]) for k in diag.cos_idx]
    labels = [f"{t:.3g}" for t in times]
    choice = st.select_slider("time of the cosine matrix", options=list(range(len(labels))),
                              value=len(labels) - 1 if len(labels) < 3 else len(labels) // 4,
                              format_func=lambda i: f"t = {labels[i]}", key="deep_time")  # fmt: skip
    st.plotly_chart(cosine_heatmap(diag.cos[choice], times[choice], order), key="deep_cos", width="stretch")
    st.caption("Tokens ordered by their first principal coordinate at the final time.")


def player_view(diag: D.Diagnostics) -> None:
    try:
        from ui import player

        title = "PCA of the cloud (3 leading directions)"
        state = player.trajectory_player(
            t=diag.t, x=diag.x3, clusters=None, key="deep_player", height=520, title=title
        )
        if state.note:
            st.caption(state.note)
    except Exception as exc:  # the page stays useful without the 3D view
        log.exception("3D player failed")
        st.warning(f"The 3D player could not start ({escaped(exc)}).")
    st.caption(f"The 3D view captures {100 * diag.explained:.1f} % of the second moment of the cloud.")


def show(s: Scenario, out: tuple) -> None:
    diag, message, wall, steps = out
    c1, c2, c3 = st.columns(3)
    ct = diag.collapse_t
    c1.metric("time to collapse", "not by T" if ct is None else f"{ct:.3g}",
              help=f"first saved t with min cos(x_i, x_j) ≥ 1 − {diag.eps:g}")  # fmt: skip
    c2.metric("1 − mean cos(x₁, x_j) at T", f"{diag.one_minus_mean_cos[-1]:.3g}")
    c3.metric("integration", f"{wall:.1f} s", help=f"{steps} Euler steps; {message}")
    st.plotly_chart(collapse_curves(diag.t, diag.one_minus_mean_cos, diag.min_cos, ct),
                    key="deep_curves", width="stretch")  # fmt: skip
    st.plotly_chart(histogram_heatmap(diag.t, diag.hist_edges, diag.hist), key="deep_hist", width="stretch")
    order = np.argsort(diag.x3[-1, :, 0], kind="stable")
    cosine_view(diag, order)
    player_view(diag)


def main() -> None:
    session.leave_legacy_pages_mode()
    st.title("Deep (GPT-2 scale)")
    st.caption(
        "Self-attention dynamics at the size of GPT-2 small (d = 768, 12 heads) with random "
        "Gaussian weights: how fast do the tokens collapse to one point?"
    )
    ss = st.session_state
    s, error = build(sidebar())
    if error or s is None:
        st.error(f"This run is refused: {escaped(error)}", icon=":material/error:")
        return
    js = s.to_json()
    if not budget.deep_meter().ready(timeout=0):
        with st.spinner("Measuring this server's speed (once)…"):
            budget.deep_meter().ready()
    est = estimate_seconds(s)
    out = lookup(js)
    if ss.get("deep_cancel"):
        ss[CANCELLED_KEY] = js
        ss.pop(RUN_KEY, None)
        st.warning("Run cancelled.", icon=":material/stop_circle:")
        return
    if out is None:
        auto = est <= AUTO_SECONDS and ss.get(CANCELLED_KEY) != js
        if not (auto or ss.get(RUN_KEY) == js):
            rate = budget.deep_meter().rate
            st.info(
                f"This run needs about {budget.plain_seconds(est)[2:]} on this server (measured here: "
                f"{rate / 1e9:.0f} billion arithmetic operations per second). It does not start by "
                f"itself: press Run; it can be cancelled.",
                icon=":material/schedule:",
            )
            if st.button(f"Run ({budget.plain_seconds(est)})", key="deep_run", type="primary"):
                ss[RUN_KEY] = js
                st.rerun()
            return
        ss[RUN_KEY] = js
        with finished.turn(RUN_KIND, js, "Another session is running this same scenario; waiting for it…"):
            out = lookup(js) or execute(s, est)  # the same run asked for twice at once: run once
        ss.pop(RUN_KEY, None)
        if out is None:
            return
    else:
        st.caption("From the cache of finished runs.")
    show(s, out)


try:
    main()
except Exception as exc:  # never a traceback on the page; the server log has it
    log.exception("deep page failed")
    st.error(f"This page could not be drawn ({type(exc).__name__}: {escaped(exc)}).", icon=":material/error:")
