"""Gaussian mean field: the closed ODEs for mean and covariance next to a particle system
(arXiv 2501.18322; docs/theory.md).

Pick a preset (the settings of arXiv 2501.18322's experiments), an attention variant and a
few parameters; the page integrates the moment ODEs (``dynamics.gaussian.solve_gaussian``), moves n
samples of the same Gaussian by the particle system and draws: the mean, the eigenvalues of Σ over
time, the covariance as an ellipse (d = 2) or ellipsoid (d = 3, the page's only WebGL figure), the
normalised Σ/tr Σ in the unit-disk section of the PSD cone (d = 2), and the particle–ODE gap against
n on log–log axes with the reference slope −1/2. Every computation is cached on the scenario's JSON.
A scenario can also be pasted as JSON; anything refused is shown as an error, never a traceback.

Registered in app.py as ``st.Page("pages/mean_field.py", title="Gaussian mean field",
icon=":material/blur_on:", url_path="mean_field")``; also runs alone.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import streamlit as st

from dynamics import CANCELLED, FAILED, STOPPED, ScenarioError
from dynamics.errors import BudgetError
from dynamics.gaussian import (
    PRESETS,
    VARIANTS,
    GaussianScenario,
    disk_coords,
    moment_gap,
    particle_moments,
    sigma0_family,
    solve_gaussian,
)
from dynamics.limits import GaussianLimits
from ui import finished, session
from ui import meanfield_figures as mf
from ui.text import escaped

log = logging.getLogger("adx.mean_field")

PRESET_KEY, VARIANT_KEY, T_KEY, SEED_KEY, N_KEY = "mf_preset", "mf_variant", "mf_T", "mf_seed", "mf_n"
FRAME_KEY, JSON_KEY, GAP_KEY = "mf_frame", "mf_json", "mf_gap"
AS_PRESET = "as in the preset"
N_OPTIONS = (250, 500, 1000, 2000)
N_DEFAULT = 500
SINKHORN_MAX_N = 500
PARTICLE_FRAMES = 41
MAX_PARTICLE_STEPS = 60  # RK4 steps of the particle run shown (step = max(dt, t_end / 60))
GAP_NS = (100, 200, 400, 800)
GAP_NS_SINKHORN = (50, 100, 200, 400)
GAP_SEEDS = (0, 1, 2)
GAP_TIME = 1.0
MAX_POINTS = 600
CACHE = {"max_entries": 32, "show_spinner": False}
#: This page's share of the engine's budget: about 3 s of moment-ODE evaluations here (the presets
#: need < 1 % of it). A pasted scenario that needs more stops with a message, and the page keeps
#: showing the preset; the particle runs and the n-sweep are priced in advance against it.
PAGE_LIMITS = GaussianLimits(max_work=2e10)
ODE_KIND = "mean-field ODE"
VARIANT_LABELS = {
    "softmax": "softmax",
    "multihead": "multi-head",
    "l2": "L² (Kim et al.)",
    "sinkhorn": "Sinkhorn (doubly stochastic)",
}


# ------------------------------------------------------------------------------- cached compute
def ode_record(r: Any) -> dict[str, Any]:
    """What the page keeps of a ``GaussianResult``."""
    return {
        "t": np.array(r.t),
        "m": np.array(r.m),
        "Sigma": np.array(r.Sigma),
        "status": r.status,
        "message": r.message,
        "blowup_time": r.blowup_time,
        "event_time": r.event_time,
    }


@st.cache_data(**CACHE)
def cached_particles(js: str, n: int, seed: int, t_end: float) -> dict[str, Any]:
    gs = GaussianScenario.from_json(js)
    times = np.linspace(0.0, t_end, PARTICLE_FRAMES)
    gs = gs.replace(dt=max(gs.dt, t_end / MAX_PARTICLE_STEPS))
    pm = particle_moments(gs, n, seed, times, keep=MAX_POINTS, limits=PAGE_LIMITS)
    return {
        "t": pm.t,
        "m": pm.m,
        "Sigma": pm.Sigma,
        "X": pm.X,
        "status": pm.status,
        "message": pm.message,
        "info": pm.info,
        "dt": gs.dt,
    }


@st.cache_data(**CACHE)
def cached_gap(js: str, ns: tuple[int, ...], t: float) -> dict[str, Any]:
    g = moment_gap(GaussianScenario.from_json(js), ns=ns, seeds=GAP_SEEDS, time_=t, limits=PAGE_LIMITS)
    return {
        "ns": g.ns,
        "gap": g.gap,
        "mean_err": g.mean_err,
        "cov_err": g.cov_err,
        "slope": g.slope,
        "time": g.time,
        "message": g.message,
    }


@st.cache_data(**CACHE)
def cached_family(js: str) -> list[np.ndarray]:
    """Disk trajectories from other Σ₀ of the same trace (d = 2)."""
    gs = GaussianScenario.from_json(js)
    out = []
    for S in sigma0_family(gs.sigma0()):
        r = solve_gaussian(gs.replace(Sigma0=S, frames=81), limits=PAGE_LIMITS)
        out.append(disk_coords(np.array(r.Sigma)))
    return out


# ------------------------------------------------------------------------------- scenario
def with_variant(gs: GaussianScenario, variant: str) -> GaussianScenario:
    """``gs`` with another attention variant (multi-head: 2 heads when d and the rows of Q allow)."""
    if variant == gs.variant:
        return gs
    if variant == "multihead":
        h = 2 if gs.d % 2 == 0 and gs.rank % 2 == 0 else 1
        return gs.replace(variant=variant, n_heads=h, heads=None)
    return gs.replace(variant=variant, n_heads=1, heads=None)


def build_scenario(
    preset_key: str, variant: str, T: float, seed: int, text: str
) -> tuple[GaussianScenario, str | None]:
    """(scenario, error): the JSON text if given and valid, else the preset with the controls
    (:func:`controls_scenario`)."""
    base = PRESETS[preset_key].scenario
    gs = base
    error = None
    try:
        if variant != AS_PRESET:
            gs = with_variant(gs, variant)
        gs = gs.replace(T=T, seed=seed)
    except ScenarioError as exc:
        error = f"These controls give no valid scenario: {exc}"
        gs = base
    if text.strip():
        try:
            gs = GaussianScenario.from_json(text)
        except ScenarioError as exc:
            error = f"The pasted scenario was refused: {exc}"
    return gs, error


def sidebar() -> dict[str, Any]:
    keys = list(PRESETS)
    with st.sidebar:
        preset = st.selectbox(
            "Preset",
            keys,
            format_func=lambda k: PRESETS[k].title,
            key=PRESET_KEY,
            help="Settings of the experiments of arXiv 2501.18322 and of this project's checks "
            "P3-1 … P3-7 (About page, Experiments).",
        )
        base = PRESETS[preset].scenario
        variant = st.selectbox(
            "Attention",
            (AS_PRESET, *VARIANTS),
            key=VARIANT_KEY,
            format_func=lambda v: v if v == AS_PRESET else VARIANT_LABELS[v],
        )
        T = st.number_input(
            "Horizon T",
            min_value=0.1,
            max_value=200.0,
            value=float(base.T),
            step=0.5,
            key=f"{T_KEY}_{preset}",
        )
        seed = st.number_input(
            "Seed of generated Q, K, V",
            min_value=0,
            max_value=10_000,
            value=int(base.seed),
            step=1,
            key=f"{SEED_KEY}_{preset}",
            help="Only changes presets whose matrices are drawn at random.",
        )
        n = st.select_slider("Particles n", N_OPTIONS, value=N_DEFAULT, key=N_KEY)
        frame = st.slider("Time shown (fraction of the run)", 0.0, 1.0, 1.0, 0.05, key=FRAME_KEY)
        gap = st.toggle(
            "Measure the gap against n",
            value=True,
            key=GAP_KEY,
            help=f"{len(GAP_SEEDS)} seeds per n; a few seconds the first time.",
        )
        with st.expander("Scenario as JSON"):
            text = st.text_area(
                "Paste a scenario (overrides the controls)", value="", key=JSON_KEY, height=120
            )
    return {
        "preset": preset,
        "variant": variant,
        "T": float(T),
        "seed": int(seed),
        "n": int(n),
        "frame": float(frame),
        "gap": bool(gap),
        "text": text,
    }


# ------------------------------------------------------------------------------- ellipse panel
#: Σ with an eigenvalue above this (or not finite) has blown up: no ellipse to draw.
SIGMA_BLOWUP = 1e12
#: The panel shows this many ODE 2σ-ellipse radii around the ODE mean.
ELLIPSE_ZOOM = 1.6


def _fmt(v: float) -> str:
    return f"{v / 1000:.3g}k" if abs(v) >= 1e4 else f"{v:.3g}"


def ellipse_view(
    m: np.ndarray, S: np.ndarray, mp: np.ndarray | None, pts: np.ndarray | None
) -> tuple[float | None, str]:
    """(half-width of a panel centred on the ODE mean that shows its 2σ ellipse, a note in words).

    The mean can drift far (e^{λt}) while Σ stays small: axes fitted to every particle would span
    tens of thousands and shrink the ellipse to a dot. The panel is in coordinates relative to the
    mean m(t), sized by the ellipse; particles outside it are counted in the note. None when Σ has
    blown up (no ellipse to draw)."""
    w = np.linalg.eigvalsh((S + S.T) / 2)
    if not np.all(np.isfinite(w)) or w.max() > SIGMA_BLOWUP:
        return None, f"Σ has blown up by this time (largest eigenvalue {w.max():.3g}): no ellipse to draw."
    half = ELLIPSE_ZOOM * 2.0 * math.sqrt(max(float(w.max()), 0.0))
    notes = [f"Centred on the ODE's mean m(t) = ({', '.join(_fmt(v) for v in m)})."]
    if half <= 0:
        return None, "Σ = 0: the cloud is a point (no ellipse to draw)."
    if mp is not None:
        gap = float(np.linalg.norm(mp - m))
        if gap > half:
            notes.append(
                f"The particles' mean is {_fmt(gap)} away (outside this panel): the mean grows like "
                "e^{λt}, so n samples drift apart from the ODE far faster than their covariance does."
            )
    if pts is not None and len(pts):
        out = int(np.sum(np.max(np.abs(pts - m), axis=1) > half))
        if out:
            notes.append(f"{out} of {len(pts)} particles lie outside the panel.")
    return half, " ".join(notes)


def ellipse_panel(
    m: np.ndarray,
    S: np.ndarray,
    mp: np.ndarray | None,
    Sp: np.ndarray | None,
    pts: np.ndarray | None,
    t: float,
    blowup_time: float | None = None,
) -> None:
    """The covariance ellipse at time t, in coordinates relative to the ODE mean (see ellipse_view)."""
    half, note = ellipse_view(m, S, mp, pts)
    if blowup_time is not None:
        note = (
            f"Σ blows up at t* ≈ {blowup_time:.3g}: the ODE stops there, and this is Σ just before "
            f"(its largest eigenvalue {np.linalg.eigvalsh((S + S.T) / 2).max():.3g}). " + note
        )
    if half is None:
        st.info(f"**Covariance ellipse at t = {t:.3g}**: {note}", icon=":material/trending_up:")
        return
    fig = mf.ellipse_figure(
        np.zeros_like(m),
        S,
        None if mp is None else mp - m,
        Sp,
        None if pts is None else pts - m,
        t,
    )
    fig.update_xaxes(range=[-half, half], autorange=False, title_text="x₁ − m₁(t)")
    fig.update_yaxes(range=[-half, half], autorange=False, title_text="x₂ − m₂(t)")
    st.plotly_chart(fig, key="mf_ellipse", width="stretch")
    st.caption(note)


# ------------------------------------------------------------------------------- the ODE run
CANCELLED_KEY, CANCEL_BUTTON = "_mf_cancelled", "mf_cancel"
PROGRESS_AFTER_S = 0.4  # runs shorter than this show no progress bar (the presets: ≈ 0.02 s)


def run_ode(gs: GaussianScenario) -> dict[str, Any] | None:
    """The moment ODE of ``gs`` from the finished runs, or integrated now under PAGE_LIMITS.

    A run that lasts longer than PROGRESS_AFTER_S shows a progress bar and a Cancel button. A click
    on Cancel reruns the page, and so does the session ending: Streamlit then stops this script at
    its next call — the progress callback — so the integration ends with it. Returns None when
    this scenario's run was cancelled (it does not start again by itself)."""
    js = gs.to_json()
    ode = finished.lookup(ODE_KIND, js)
    if ode is not None:
        return ode
    if st.session_state.get(CANCELLED_KEY) == js:
        return None
    with finished.turn(ODE_KIND, js, "Another session is integrating this same scenario; waiting for it…"):
        ode = finished.lookup(ODE_KIND, js)  # the same run asked for twice at once: computed once
        if ode is None:
            ode = _integrate_with_progress(gs, js)
    return ode


def _integrate_with_progress(gs: GaussianScenario, js: str) -> dict[str, Any]:
    slot = st.empty()
    started = time.perf_counter()
    bar: list[Any] = []

    def progress(fraction: float) -> None:
        if not bar and time.perf_counter() - started > PROGRESS_AFTER_S:
            with slot.container():
                bar.append(st.progress(0.0, text="Integrating the moment ODE…"))
                st.button("Cancel", key=CANCEL_BUTTON, icon=":material/stop_circle:")
        if bar:
            bar[0].progress(min(1.0, max(0.0, fraction)), text=f"Integrating the moment ODE… {fraction:.0%}")

    result = solve_gaussian(gs, progress, limits=PAGE_LIMITS)
    slot.empty()
    ode = ode_record(result)
    if result.status != CANCELLED:
        finished.store(ODE_KIND, js, ode)
    return ode


def ode_or_fallback(
    gs: GaussianScenario, fallback: GaussianScenario
) -> tuple[GaussianScenario, dict[str, Any], str | None]:
    """(scenario shown, its ODE, problem): a pasted scenario whose run was cancelled or needs more
    than this page's budget is reported, and the controls' scenario is shown instead."""
    ss = st.session_state
    if ss.get(CANCEL_BUTTON):  # this rerun comes from the Cancel button: the run was stopped
        ss[CANCELLED_KEY] = gs.to_json()
    ode = run_ode(gs)
    pasted = gs != fallback
    what, instead = ("The pasted scenario", "; showing the preset") if pasted else ("This scenario", "")
    problem = None
    if ode is None:
        problem = f"{what}'s run was cancelled{instead}. Change a setting to run again."
    elif ode["status"] == FAILED and "budget" in ode["message"]:
        problem = (
            f"{what} needs more work than this page allows ({escaped(ode['message'])}){instead}. "
            "Shorten T, loosen rtol/atol or lower d."
        )
    if problem is None or not pasted:
        return gs, ode if ode is not None else {}, problem
    return fallback, run_ode(fallback) or {}, problem


# ------------------------------------------------------------------------------- page
def header(gs: GaussianScenario, preset_key: str, ode: dict[str, Any]) -> None:
    p = PRESETS[preset_key]
    st.title("Gaussian mean field")
    st.caption(
        "A Gaussian cloud N(m, Σ) stays Gaussian under softmax, multi-head, L² and Sinkhorn attention: "
        "the field is affine, Γ(x) = Gx + c, so ṁ = Gm + c and Σ̇ = GΣ + ΣGᵀ (arXiv 2501.18322). "
        "Convention: 𝖠 = KᵀQ/s (the authors' code), the transpose of the explorer's A = QᵀK."
    )
    st.markdown(f"**{p.title}** — {p.caption}  \n*{p.source}*")
    status, msg = ode["status"], ode["message"]
    if status == FAILED:
        st.error(f"The moment ODE failed: {escaped(msg)}", icon=":material/error:")
    elif status == STOPPED:
        st.warning(f"ODE ({gs.variant}): {escaped(msg)}", icon=":material/trending_up:")
    else:
        st.success(f"ODE ({gs.variant}): {escaped(msg)}", icon=":material/check_circle:")


def main() -> None:
    session.leave_legacy_pages_mode()
    v = sidebar()
    gs, error = build_scenario(v["preset"], v["variant"], v["T"], v["seed"], v["text"])
    controls_gs, _ = build_scenario(v["preset"], v["variant"], v["T"], v["seed"], "")
    gs, ode, problem = ode_or_fallback(gs, controls_gs)
    if error or problem:
        st.error(error or problem, icon=":material/error:")
    if not ode:
        st.info("Nothing to show: the run was cancelled.", icon=":material/stop_circle:")
        return
    js = gs.to_json()
    header(gs, v["preset"], ode)
    t, m, Sigma = ode["t"], ode["m"], ode["Sigma"]
    t_end = float(t[-1])
    n = v["n"]
    note = ""
    if gs.variant == "sinkhorn" and n > SINKHORN_MAX_N:
        n, note = SINKHORN_MAX_N, f"Sinkhorn keeps the full n×n plan: n capped at {SINKHORN_MAX_N}. "
    part = None
    if t_end > 0:
        try:
            part = cached_particles(js, n, 0, t_end)
        except BudgetError as exc:
            st.caption(f"Particles not run: {escaped(exc)} (this page's budget).")
    tp = mp = Sp = None
    if part is not None:
        tp, mp, Sp = part["t"], part["m"], part["Sigma"]
        info = part["info"]
        sk = (
            f" Sinkhorn: ≤ {info['sinkhorn_max_iterations']} iterations per evaluation, marginal "
            f"error ≤ {info['sinkhorn_error']:.1e} (tol {info['sinkhorn_tol']:g}, cap "
            f"{info['sinkhorn_max_iter']})."
            if "sinkhorn_error" in info
            else ""
        )
        st.caption(
            f"{note}Particles: n = {n} samples of N(m₀, Σ₀), RK4 step {part['dt']:.3g}; "
            f"{part['message']}.{sk}"
        )

    eig = np.linalg.eigvalsh(Sigma)[:, ::-1]
    eigp = None if Sp is None else np.linalg.eigvalsh(Sp)[:, ::-1]
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(mf.mean_figure(t, m, tp, mp), key="mf_mean", width="stretch")
    with c2:
        st.plotly_chart(mf.eigen_figure(t, eig, tp, eigp, ode["blowup_time"]), key="mf_eig", width="stretch")

    k = round(v["frame"] * (len(t) - 1))
    t_show = float(t[k])
    kp = None if tp is None or not len(tp) else int(np.argmin(np.abs(tp - t_show)))
    mp_k = None if kp is None else mp[kp]
    Sp_k = None if kp is None else Sp[kp]
    pts = None if kp is None else part["X"][kp]
    c3, c4 = st.columns(2)
    with c3:
        if gs.d == 2:
            ellipse_panel(m[k], Sigma[k], mp_k, Sp_k, pts, t_show, ode["blowup_time"])
        elif gs.d == 3:
            st.plotly_chart(
                mf.ellipsoid_figure(m[k], Sigma[k], mp_k, Sp_k, pts, t_show),
                key="mf_ellipsoid",
                width="stretch",
            )
        else:
            st.info(f"d = {gs.d}: the covariance is shown through its eigenvalues only.")
    with c4:
        if gs.d == 2:
            fam = cached_family(js)
            st.plotly_chart(
                mf.disk_figure(
                    disk_coords(Sigma), None if Sp is None else disk_coords(Sp), fam, disk_coords(Sigma[k])
                ),
                key="mf_disk",
                width="stretch",
            )
            st.caption(
                "Boundary = rank one; centre = isotropic. Grey: the same weights from other Σ₀ "
                "of equal trace (the authors' grids of initial covariances, thinned)."
            )
        else:
            tr = np.trace(Sigma, axis1=1, axis2=2)
            st.markdown(
                f"**Σ/tr Σ at t = {t_show:.3g}** (largest eigenvalue share "
                f"{eig[k, 0] / tr[k]:.3f}; 1 = rank one)"
            )
            st.dataframe(np.round(Sigma[k] / tr[k], 4))
    g = None
    if v["gap"] and t_end > 0:
        ns = GAP_NS_SINKHORN if gs.variant == "sinkhorn" else GAP_NS
        try:
            g = cached_gap(js, ns, min(GAP_TIME, gs.T))
        except BudgetError as exc:
            st.caption(f"The particle-number sweep was not run: {escaped(exc)} (this page's budget).")
    if g is not None:
        st.plotly_chart(
            mf.gap_figure(g["ns"], g["gap"], g["mean_err"], g["cov_err"], g["slope"], g["time"]),
            key="mf_gap_fig",
            width="stretch",
        )
        st.caption(
            f"{g['message']}; rms over seeds {', '.join(map(str, GAP_SEEDS))} of the gap "
            "(‖Δm‖² + ‖ΔΣ‖_F²)^½ — the O(n^{-1/2}) of sampling, carried along by the flow."
        )
    with st.expander("This scenario (JSON) — paste it back in the sidebar to edit"):
        st.code(gs.to_json(indent=1), language="json")
        W = gs.weights()
        st.markdown("Code-convention 𝖠 (per head) and value–output maps C:")
        for h, (A, C) in enumerate(zip(W.A, W.C, strict=True)):
            st.text(f"head {h + 1}: 𝖠 = {np.round(A, 3).tolist()}   C = {np.round(C, 3).tolist()}")
    if not math.isfinite(t_end):
        st.error("The run produced no finite time.")


try:
    main()
except ScenarioError as exc:
    st.error(f"Something in this view is not a valid scenario: {escaped(exc)}", icon=":material/error:")
except Exception as exc:  # the page must never show a traceback to a class
    log.exception("mean-field page failed")
    st.error(
        f"Something went wrong while drawing this view ({type(exc).__name__}: {escaped(exc)}).",
        icon=":material/error:",
    )
