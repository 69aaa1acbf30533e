"""The Euclidean model of Geshkovski et al. (arXiv:2305.05465): tokens in ℝ^d without layer norm.

Pick a case — polytope (V = I), hyperplanes (a good triple), paranormal V, V = −I, 1-D leaders — and
its parameters in the sidebar. The page integrates ``dynamics.euclidean.simulate_euclidean`` (cached
on the scenario's JSON), draws the rescaled tokens z = e^{−tV}x (x itself for V = −I) with the
predicted limit set overlaid (the convex hull K, the hyperplanes ψ₁ᵀz = const), in 1-D the attention
matrix turning Boolean and low-rank with its two leaders named, and the matching glpr-* theorem card
(``dynamics.theorems.evaluate_euclidean``). A scenario JSON pasted in the sidebar replaces the
controls. Registered in app.py as
``st.Page("pages/euclidean.py", title="Euclidean model", icon=":material/hexagon:", url_path="euclidean")``;
also runs alone (AppTest.from_file).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import streamlit as st

from dynamics import ScenarioError
from dynamics.euclidean import (
    EuclideanLimits,
    EuclideanResult,
    EuclideanScenario,
    boolean_defect,
    convex_hull,
    distinct_points,
    leaders,
    numerical_rank,
    simulate_euclidean,
    top_eigen,
)
from dynamics.theorems import Card, evaluate_euclidean
from ui import euclidean_figures as figs
from ui.session import leave_legacy_pages_mode
from ui.text import escaped
from ui.theorem_card import theorem_card, theorem_name

log = logging.getLogger("adx.euclidean")

#: Limits of the app (a server must not freeze on one click).
APP_LIMITS = EuclideanLimits(
    max_n=200, max_d=8, max_steps=200_000, max_frames=2001, max_work=5e10, attention_entries=2_000_000
)
CASES: dict[str, tuple[str, str | None, str]] = {
    "polytope": (
        "Polytope — V = I",
        "glpr-polytope",
        "With V = I and QᵀK ≻ 0 the rescaled tokens z_i = e^{−t}x_i converge to 0 or to the boundary "
        "of a convex polytope K — generically to its vertices, the 'leaders'.",
    ),
    "hyperplanes": (
        "Hyperplanes — a good triple",
        "glpr-hyperplanes",
        "If V's eigenvalue of largest modulus is real, positive and simple and ⟨Qφ₁, Kφ₁⟩ > 0, the "
        "coordinate ψ₁ᵀz_i converges to one of at most three values: at most three parallel hyperplanes.",
    ),
    "paranormal": (
        "Paranormal V = diag(1, …, 1, −0.5)",
        None,
        "V = λ on a subspace 𝓕 and smaller spectral radius on its complement 𝓖: the 𝓕-components "
        "converge to the boundary of a polytope (or 0), the 𝓖-component stays free (the paper's §5; "
        "its key–query condition is not in the excerpts we had, so no card is registered for it).",
    ),
    "negative": (
        "V = −I — one cluster at the origin",
        "glpr-negative-identity",
        "With V = −I and QᵀK = I every token converges to 0 (no rescaling) and the attention matrix to "
        "the uniform matrix 11ᵀ/n; tokens stay in the ball of radius max(‖x_i(0)‖, √(2n)).",
    ),
    "leaders": (
        "1-D — Boolean attention, two leaders",
        "glpr-boolean-1d",
        "In d = 1 with V > 0 and QK > 0 the attention matrix becomes Boolean: every token ends up "
        "attending to the smallest or the largest token — the two leaders; rank P ≤ 3.",
    ),
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "polytope": {"n": 20, "d": 2, "T": 12.0, "dt": 0.05, "frames": 121},
    "hyperplanes": {"n": 20, "d": 2, "T": 12.0, "dt": 0.05, "frames": 121, "value": "good_triple"},
    "paranormal": {"n": 20, "d": 3, "T": 10.0, "dt": 0.05, "frames": 101, "value": "paranormal"},
    "negative": {
        "n": 20,
        "d": 2,
        "T": 300.0,
        "dt": 0.2,
        "frames": 151,
        "value": "minus_identity",
        "rescaled": False,
    },
    "leaders": {"n": 12, "d": 1, "T": 8.0, "dt": 0.02, "frames": 81},
}
HEATMAP_TIMES = 4


# ------------------------------------------------------------------------------------ scenario
def scenario_from_controls(case: str, c: dict[str, Any]) -> EuclideanScenario:
    """The scenario of the sidebar's values (ScenarioError if they give none)."""
    base = dict(DEFAULTS[case])
    base.update(
        n=c["n"], seed=c["seed"], half_width=c["half_width"], T=c["T"], dt=c["dt"], integrator=c["integrator"]
    )
    if case in ("polytope", "hyperplanes", "negative"):
        base["d"] = c["d"]
    if case == "polytope":
        base["qk"] = c["qk"]
    if case == "hyperplanes":
        base["value"] = c["value"]
        if c["value"] == "good_triple":
            base["d"] = 2
    if case == "leaders":
        base.update(V=c["v1"], Q=1.0, K=c["qk1"])
    return EuclideanScenario(**base)


def sidebar() -> tuple[str, EuclideanScenario | None, str | None]:
    """(case, scenario or None, error message or None)."""
    case = st.selectbox("Case", list(CASES), format_func=lambda k: CASES[k][0], key="eu_case")
    d0 = DEFAULTS[case]
    c: dict[str, Any] = {}
    c["n"] = st.slider("Tokens n", 2, 60, int(d0["n"]), key=f"eu_n_{case}")
    if case in ("polytope", "hyperplanes", "negative"):
        c["d"] = st.radio("Dimension d", [2, 3], index=0, horizontal=True, key=f"eu_d_{case}")
    if case == "polytope":
        c["qk"] = st.radio(
            "QᵀK",
            ["identity", "spd"],
            horizontal=True,
            key="eu_qk",
            format_func=lambda k: {"identity": "I", "spd": "random SPD"}[k],
        )
    if case == "hyperplanes":
        c["value"] = st.radio(
            "V",
            ["good_triple", "positive"],
            key="eu_value",
            format_func=lambda k: {
                "good_triple": "the paper's 2-D example",
                "positive": "random, positive entries",
            }[k],
        )
    if case == "leaders":
        c["v1"] = st.slider("V (a number)", -2.0, 2.0, 1.0, 0.1, key="eu_v1")
        c["qk1"] = st.slider("QK (a number)", -2.0, 2.0, 1.0, 0.1, key="eu_qk1")
    c["seed"] = int(st.number_input("Seed", 0, 2**31 - 1, 0, key=f"eu_seed_{case}"))
    c["half_width"] = float(st.number_input("x(0) ~ U[−w, w]^d, w =", 0.05, 10.0, 1.0, 0.25, key="eu_w"))
    c["T"] = float(st.number_input("Horizon T", 0.0, 2000.0, float(d0["T"]), key=f"eu_T_{case}"))
    c["dt"] = float(
        st.number_input("Step dt", 0.001, 1.0, float(d0["dt"]), format="%.3f", key=f"eu_dt_{case}")
    )
    c["integrator"] = st.radio("Integrator", ["rk4", "euler", "adaptive"], horizontal=True, key="eu_int")
    with st.expander("Scenario JSON (replaces the controls)"):
        raw = st.text_area(
            "Paste a Euclidean scenario",
            "",
            key="eu_json",
            height=120,
            placeholder='{"model": "euclidean", "n": 20, "d": 2, "value": "identity"}',
        )
    try:
        if raw.strip():
            return case, EuclideanScenario.from_json(raw), None
        return case, scenario_from_controls(case, c), None
    except ScenarioError as exc:
        return case, None, str(exc)


# ------------------------------------------------------------------------------------ data
@st.cache_data(max_entries=16, show_spinner="Integrating…")
def _run(scenario_json: str) -> tuple[EuclideanResult, list[Card]]:
    es = EuclideanScenario.from_json(scenario_json)
    result = simulate_euclidean(es, limits=APP_LIMITS)
    return result, evaluate_euclidean(es, result)


def cached_run(es: EuclideanScenario) -> tuple[EuclideanResult, list[Card]]:
    return _run(es.to_json())


def case_of(es: EuclideanScenario) -> str:
    """Which case a (pasted) scenario shows best."""
    V = es.value_matrix()
    if es.d == 1:
        return "leaders"
    if np.allclose(V, -np.eye(es.d)):
        return "negative"
    if np.allclose(V, np.eye(es.d)):
        return "polytope"
    if (
        es.d >= 2
        and np.allclose(V, np.diag(np.diag(V)))
        and np.sum(np.isclose(np.diag(V), np.diag(V).max())) > 1
    ):
        return "paranormal"
    return "hyperplanes"


# ------------------------------------------------------------------------------------ card
def render_card(card: Card) -> None:
    """A glpr card, drawn by the app's one card builder (ui.theorem_card)."""
    theorem_card(card, compact=False, key=f"eu_card_{card.id}")


# ------------------------------------------------------------------------------------ views
def _polygon(points: np.ndarray) -> np.ndarray | None:
    hull = convex_hull(points)
    if hull.dim == 0:
        return None
    return points[hull.vertices]  # 2-D Qhull vertices are counter-clockwise; a segment is 2 points


def geometry_view(case: str, es: EuclideanScenario, r: EuclideanResult) -> None:
    z = np.asarray(r.z, dtype=float)
    d = es.d
    if case == "negative":
        x = np.asarray(r.x, dtype=float)
        st.markdown("**Tokens x_i(t)** (no rescaling: they all go to 0)")
        if d == 2:
            st.plotly_chart(figs.trajectories_2d(x, labels=("x₁", "x₂")), key="eu_fig")
        else:
            st.plotly_chart(figs.trajectories_3d(x), key="eu_fig")
        norms = np.linalg.norm(x, axis=-1).max(axis=1)
        uni = [float(np.abs(es.n * P - 1).max()) for P in r.attention] if r.attention is not None else None
        curves = {"max_i ‖x_i(t)‖": norms}
        if uni is not None:
            curves["max_ij |n P_ij − 1|"] = np.array(uni)
        st.plotly_chart(figs.series(r.t, curves, log_y=True), key="eu_series")
        return
    if case == "leaders":
        view_1d(es, r)
        return
    te = top_eigen(es.value_matrix())
    limit_pts = distinct_points(z[-1])[0]
    if case == "hyperplanes" and te.real:
        from dynamics.euclidean import hyperplane_values

        scale = max(1.0, float(np.abs(z[0] @ te.psi).max()))
        values, _ = hyperplane_values(z[-1], te.psi, 1e-3 * scale)
        st.markdown(
            f"**Rescaled tokens z = e^(−tV)x** · predicted: ψ₁ᵀz ∈ {{a, 0, b}}; at T: "
            f"{', '.join(f'{v:.4g}' for v in values)}"
        )
        if d == 2:
            st.plotly_chart(figs.trajectories_2d(z, lines=(te.psi, values)), key="eu_fig")
        elif d == 3:
            st.plotly_chart(figs.trajectories_3d(z, planes=(te.psi, values)), key="eu_fig")
        return
    if case == "paranormal":
        k = int(np.sum(np.isclose(np.diag(es.value_matrix()), 1.0)))
        F = z[:, :, :k]
        st.markdown(f"**Rescaled tokens z** · the 𝓕-components (first {k}) → ∂K or 0; the rest is free")
        if d == 3:
            st.plotly_chart(figs.trajectories_3d(z), key="eu_fig")
        if k == 2:
            st.plotly_chart(
                figs.trajectories_2d(F, hull=_polygon(F[-1]), title="𝓕-components (z₁, z₂)"), key="eu_fig_f"
            )
        return
    st.markdown(
        f"**Rescaled tokens z = e^(−tV)x** · {len(limit_pts)} distinct limit point(s) at T "
        "(tol 1e-3), predicted on ∂K or at 0"
    )
    if d == 2:
        st.plotly_chart(figs.trajectories_2d(z, hull=_polygon(z[-1])), key="eu_fig")
    elif d == 3:
        hull = convex_hull(z[-1])
        st.plotly_chart(figs.trajectories_3d(z, hull_points=z[-1], simplices=hull.simplices), key="eu_fig")


def view_1d(es: EuclideanScenario, r: EuclideanResult) -> None:
    z = np.asarray(r.z, dtype=float)[:, :, 0]
    lo, hi = leaders(z[-1])
    st.markdown(
        f"**Leaders:** token **{lo}** (the smallest, x₀ = {es.initial_tokens()[lo, 0]:.3g}) and "
        f"token **{hi}** (the largest, x₀ = {es.initial_tokens()[hi, 0]:.3g})"
    )
    st.plotly_chart(figs.trajectories_1d(r.t, z, (lo, hi)), key="eu_fig")
    if r.attention is None:
        st.info("The attention matrices were not kept (too many tokens × frames).")
        return
    picks = np.unique(np.linspace(0, len(r.t) - 1, HEATMAP_TIMES).round().astype(int))
    mats = [r.attention[k] for k in picks]
    ranks = [numerical_rank(P, 1e-6) for P in mats]
    st.markdown("**Attention P(t)** turning Boolean and low-rank (colour scale fixed to [0, 1])")
    st.plotly_chart(figs.attention_heatmaps(mats, [float(r.t[k]) for k in picks], ranks), key="eu_heat")
    defect = np.array([boolean_defect(P) for P in r.attention])
    rank = np.array([numerical_rank(P, 1e-6) for P in r.attention], dtype=float)
    st.plotly_chart(figs.series(r.t, {"max|P − round(P)|": defect}, log_y=True), key="eu_bool")
    st.plotly_chart(figs.series(r.t, {"rank P (σ > 1e-6 σ_max)": rank}, ytitle="rank"), key="eu_rank")


def main() -> None:
    leave_legacy_pages_mode()
    with st.sidebar:
        case, es, problem = sidebar()
    title, card_id, blurb = CASES[case]
    st.markdown(f"#### Euclidean model · {title}")
    st.caption(
        f"{blurb}  \n*Source: Geshkovski, Letrouit, Polyanskiy, Rigollet — The emergence of clusters "
        "in self-attention dynamics, arXiv:2305.05465.*"
    )
    if es is None:
        st.error(f"This is not a valid scenario: {escaped(problem)}", icon=":material/error:")
        return
    if st.session_state.get("eu_json", "").strip():
        case = case_of(es)
        card_id = CASES[case][1]
    try:
        result, cards = cached_run(es)
    except ScenarioError as exc:
        st.error(f"This scenario cannot be run: {escaped(exc)}", icon=":material/error:")
        return
    (st.success if result.success else st.error)(
        f"{result.message} · n = {es.n}, d = {es.d}, {es.integrator}, dt = {es.dt:g}",
        icon=":material/check:" if result.success else ":material/error:",
    )
    left, right = st.columns([1.25, 1], gap="medium")
    with left:
        if np.all(np.isfinite(result.z)):
            geometry_view(case, es, result)
        else:
            st.warning("The rescaled tokens left the float range; nothing to draw.")
    with right:
        by_id = {c.id: c for c in cards}
        if card_id is not None:
            render_card(by_id[card_id])
        else:
            st.info(
                "No registered card for the paranormal case (its key–query hypothesis is not in the excerpts "
                "we had). "
                "The nearest results:",
                icon=":material/info:",
            )
            render_card(by_id["glpr-polytope"])
        applying = [c for c in cards if c.applies and c.id != card_id]
        if applying:
            words = {True: "observed", False: "contradicted", None: "undecided"}
            st.caption(
                "Also applies here: "
                + ", ".join(f"{theorem_name(c.id)} ({words[c.observed]})" for c in applying)
            )
        with st.expander("Scenario JSON"):
            st.code(es.to_json(indent=1), language="json")


try:
    main()
except ScenarioError as exc:
    st.error(f"Something in this view is not a valid scenario: {escaped(exc)}", icon=":material/error:")
except Exception as exc:  # the page must never show a traceback
    log.exception("euclidean page failed")
    st.error(
        f"Something went wrong while drawing this view ({type(exc).__name__}: {escaped(exc)}).",
        icon=":material/error:",
    )
