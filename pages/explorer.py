"""The explorer: a lesson's tokens moving on the sphere, with its curves, attention and verdict.

Layout: sidebar controls (ui.controls) · lesson title, caption and verdict · the in-browser 3D
player (left) · curves and attention heatmap at a chosen time (right, in an ``st.fragment`` so
moving the time never re-integrates) · "Static view / export" (static plotly figure behind a toggle:
built only on request, scenario JSON, Python snippet, downloads).

Per rerun the page rebuilds nothing that depends only on the scenario: the display data, the
curves, the heatmap and the static figure are cached per scenario (ui.session).
"""

from __future__ import annotations

import logging

import numpy as np
import streamlit as st

from dynamics import ScenarioError
from ui import controls, exports, session
from ui import lesson as lesson_link
from ui.session import leave_legacy_pages_mode
from ui.theorem_card import summary_card

log = logging.getLogger("adx.explorer")
leave_legacy_pages_mode()  # a first request on /explorer must still go through app.py

PLAYER_HEIGHT = 470
CAM_PARAM = "cam"
FRAME_PARAM = lesson_link.FRAME_PARAM
#: Session-state key of the "Static 3D figure" toggle in the export panel (off: not built).
STATIC_KEY = "static_view"


def _player():
    """The 3D player module, or None when it cannot be loaded (then a static figure is shown)."""
    try:
        from ui import player

        return player
    except Exception:  # pragma: no cover - depends on the other engineers' files
        log.exception("3D player unavailable")
        return None


def _bump_nonce() -> None:
    st.session_state["_cam_nonce"] = st.session_state.get("_cam_nonce", 0) + 1


# ------------------------------------------------------------------------------------ header
def header(ctl: controls.Controls, link: lesson_link.LessonLink) -> None:
    lesson = ctl.lesson
    title = lesson.title + (" · modified" if ctl.modified else "")
    if link.embed:  # compact: title and copy-link on one line, the caption folded away
        c1, c2 = st.columns([5, 1.4], vertical_alignment="center")
        c1.markdown(f"##### {title}", help=f"{lesson.caption}  \n*Source: {lesson.source}*")
        if not link.hides("copy_link"):
            with c2:
                lesson_link.copy_link_button()
        return
    c1, c2 = st.columns([5, 1.4], vertical_alignment="bottom")
    c1.markdown(f"#### {title}")
    if not link.hides("copy_link"):
        with c2:
            lesson_link.copy_link_button()
    st.caption(f"{lesson.caption}  \n*Source: {lesson.source}*")


def verdict(display: session.Display) -> None:
    box = {
        "consensus": st.success,
        "clusters": st.info,
        "spread": st.warning,
        "failed": st.error,
    }[display.verdict_kind]
    icon = {
        "consensus": ":material/check_circle:",
        "clusters": ":material/bubble_chart:",
        "spread": ":material/scatter_plot:",
        "failed": ":material/error:",
    }[display.verdict_kind]
    box(f"**{display.verdict}**", icon=icon)


# ------------------------------------------------------------------------------------ 3D view
#: Camera presets, closer than plotly's default so the sphere fills the view on a projector.
EYE_DISTANCE = 1.6


def camera_for(view: str, top: list[float] | None, flat: bool):
    """The player's camera preset for a view id ("oblique", "pole", "equator", "eigvec")."""
    if flat:
        return "pole"  # the circle, seen from above (orthographic)
    r = EYE_DISTANCE
    if view == "eigvec" and top is not None:
        eye = np.asarray(top, dtype=float) * r
        up = (0.0, 1.0, 0.0) if abs(top[2]) > 0.95 else (0.0, 0.0, 1.0)
    elif view == "pole":
        eye, up = (0.0, 0.0, r), (0.0, 1.0, 0.0)
    elif view == "equator":
        eye, up = (r, 0.0, 0.0), (0.0, 0.0, 1.0)
    else:
        eye = np.array([1.25, 1.25, 0.85]) * (r / np.linalg.norm([1.25, 1.25, 0.85]))
        up = (0.0, 0.0, 1.0)
    vec = lambda v: dict(zip("xyz", (round(float(c), 4) for c in v), strict=True))  # noqa: E731
    return {"eye": vec(eye), "up": vec(up), "center": vec((0, 0, 0))}


def player_panel(display: session.Display, link: lesson_link.LessonLink) -> None:
    top = None if display.top_eig is None else [float(v) for v in display.top_eig]
    # The view row is drawn below the player but its widgets must run first: use a container.
    plot_box = st.container()
    c1, c2, c3 = st.columns([4.2, 0.8, 1.6], vertical_alignment="center")
    with c1:
        view = controls.view_picker(top is not None, display.flat)
    with c2:
        st.button(
            "",
            icon=":material/center_focus_strong:",
            key="_view_again",
            on_click=_bump_nonce,
            disabled=display.flat,
            help="Apply the chosen view again (after rotating by hand).",
        )
    with c3:
        trails = st.toggle(
            "Trails",
            value=True,
            key="trails",
            help="Draw each token's path up to the current time.",
            **controls.BIND,
        )
    with plot_box:
        _draw_player(display, trails, camera_for(view, top, display.flat), link)
    notes = list(display.notes)
    if view == "eigvec" or display.top_eig is not None:
        notes.append(f"V's top eigenvector: {display.top_eig_note}.")
    if notes:
        st.caption("  \n".join(notes))


def start_frame(display: session.Display, link: lesson_link.LessonLink) -> int:
    """The frame to open on: the link's ``frame`` (clamped), else the last one."""
    k = int(display.x3.shape[0])
    if link.frame is None or k == 0:
        return -1
    return min(int(link.frame), k - 1)


def _draw_player(display: session.Display, trails: bool, preset, link: lesson_link.LessonLink) -> None:
    player = _player()
    shown = False
    if player is not None:
        try:
            state = player.trajectory_player(
                t=display.t[display.frame_idx],
                x=display.x3,
                clusters=display.labels,
                ellipsoid=display.ellipsoid,
                trails=trails,
                camera_preset=preset,
                camera_nonce=int(st.session_state.get("_cam_nonce", 0)),
                initial_camera=player.camera_from_param(st.query_params.get(CAM_PARAM)),
                key="player",
                height=PLAYER_HEIGHT,
                start_frame=start_frame(display, link),
                report_frame=True,
            )
            shown = state.error is None
            if state.camera:
                param = player.camera_to_param(state.camera)
                if st.query_params.get(CAM_PARAM) != param:
                    st.query_params[CAM_PARAM] = param
            if state.frame is not None and 0 <= state.frame < display.x3.shape[0]:
                if st.query_params.get(FRAME_PARAM) != str(state.frame):
                    st.query_params[FRAME_PARAM] = str(state.frame)
        except Exception as exc:
            log.exception("3D player failed")
            st.warning(f"The 3D player could not start ({exc}); showing a static view.")
    if not shown:
        st.plotly_chart(
            session.static_figure(display, trails),
            width="stretch",
            key="fallback_3d",
            config={"displaylogo": False},
            theme=None,
        )


# ------------------------------------------------------------------------------------ curves + heatmap
@st.fragment
def side_panel(scenario, display: session.Display) -> None:
    """Time selector, curves and attention heatmap: reruns alone (never re-integrates)."""
    times = display.t[display.heat_idx]
    if display.consensus_t is not None:
        target = 0.5 * display.consensus_t
    else:
        target = display.T
    default = int(np.argmin(np.abs(times - target)))
    labels = session.time_labels(times)
    label = st.select_slider(
        "Heatmap time t",
        labels,
        value=labels[default],
        key="at",
        help="Time at which the attention matrix is drawn (marked on the curves).",
        **controls.BIND,
    )
    i = labels.index(label) if label in labels else default
    t_now = float(times[i])
    tab_curves, tab_att = st.tabs(["Curves", "Attention"])
    with tab_curves:
        fig = session.curves_figure(display, t_now)
        st.plotly_chart(fig, width="stretch", key="curves", config={"displaylogo": False})
    with tab_att:
        head = None
        if scenario.n_heads > 1:
            heads = ["mean", *[str(k + 1) for k in range(scenario.n_heads)]]
            choice = st.segmented_control(
                "Head",
                heads,
                default="mean",
                required=True,
                key="head",
                help="One head's attention, or the mean over heads.",
                **controls.BIND,
            )
            head = None if choice in (None, "mean") else int(choice) - 1
        fig = session.heatmap_figure(scenario, display, i, head)  # cached per scenario, frame, head
        st.plotly_chart(fig, width="stretch", key="heatmap", config={"displaylogo": False})
        k = int(display.heat_labels[i].max()) + 1
        st.caption(
            f"Rows = queries, columns = keys, sorted by cluster ({k} at this time)"
            + ("; masked entries blank" if scenario.causal else "")
            + "."
        )


# ------------------------------------------------------------------------------------ export
def _image(scenario, display: session.Display, fmt: str) -> bytes:
    """PNG/SVG of the static 3D view; on failure an image that says why (a download callback
    cannot show a message on the page)."""
    fig = session.static_figure(display)
    try:
        return exports.figure_image(fig, scenario, fmt, title=controls.current_lesson().title)
    except exports.ExportUnavailable as exc:
        log.warning("image export failed: %s", exc)
        return exports.error_image(str(exc), fmt)


def export_panel(scenario, display: session.Display) -> None:
    with st.expander("Static view / export", expanded=False, key="grp_export"):
        # The static figure costs ~0.1 s to build per scenario and ~170 kB per rerun on the wire:
        # drawn only on request (the downloads below build it when they are clicked).
        if st.toggle(
            "Static 3D figure",
            value=False,
            key=STATIC_KEY,
            help="A plain plotly 3D view of the last frame (what the PNG/SVG/HTML exports show).",
        ):
            st.plotly_chart(
                session.static_figure(display),
                width="stretch",
                key="static_3d",
                config={"displaylogo": False},
                theme=None,
            )
        c1, c2 = st.columns(2)
        with c1:
            st.markdown("**Scenario** (the same JSON the CLI reads)")
            st.code(scenario.to_json(indent=1), language="json")
        with c2:
            st.markdown("**Reproduce in Python**")
            st.code(exports.python_snippet(scenario), language="python")
        title = controls.current_lesson().title
        name = lambda kind, ext: exports.file_name(kind, scenario, ext)  # noqa: E731
        downloads = (  # label, data (callables run only on click), kind, extension, mime, icon
            ("Scenario JSON", exports.scenario_json(scenario), "scenario", "json", "application/json",
             ":material/data_object:"),
            ("Python script", lambda: exports.python_snippet(scenario), "reproduce", "py", "text/x-python",
             ":material/code:"),
            ("Trajectory NPZ", lambda: exports.trajectory_npz(scenario, display), "trajectory", "npz",
             "application/octet-stream", ":material/database:"),
            ("Trajectory CSV", lambda: exports.trajectory_csv(scenario, display), "trajectory", "csv",
             "text/csv", ":material/table:"),
        )  # fmt: skip
        for col, (label, data, kind, ext, mime, icon) in zip(st.columns(4), downloads, strict=True):
            col.download_button(
                label,
                data=data,
                file_name=name(kind, ext),
                mime=mime,
                icon=icon,
                width="stretch",
                on_click="ignore",
            )
        row2 = st.columns(4)
        row2[0].download_button(
            "3D view HTML",
            data=lambda: exports.figure_html(session.static_figure(display), scenario, title),
            file_name=name("view", "html"),
            mime="text/html",
            icon=":material/view_in_ar:",
            width="stretch",
            on_click="ignore",
            help="A standalone page with plotly.js inlined: rotate the sphere offline (≈ 5 MB).",
        )
        unavailable = exports.image_support()
        for col, fmt in ((row2[1], "png"), (row2[2], "svg")):
            col.download_button(
                f"Figure {fmt.upper()}",
                data=lambda fmt=fmt: _image(scenario, display, fmt),
                file_name=name("view", fmt),
                mime="image/png" if fmt == "png" else "image/svg+xml",
                icon=":material/image:",
                width="stretch",
                on_click="ignore",
                disabled=unavailable is not None,
                help=unavailable or "Rendered on the server by kaleido (≈ 1 s; the first one ≈ 3 s).",
            )
        if unavailable:
            st.caption(unavailable)
        st.caption(
            f"Integrated in {display.wall_time:.2f} s ({display.steps} steps) · {display.message} · "
            f"{exports.stamp(scenario).text()}"
        )


# ------------------------------------------------------------------------------------ page
def main() -> None:
    link = lesson_link.current_link()
    with st.sidebar:
        ctl = controls.scenario_controls()
    header(ctl, link)
    if ctl.url_problems:
        st.error(
            "This link had values the explorer cannot use; they were replaced by the lesson's: "
            + ", ".join(ctl.url_problems)
            + ".",
            icon=":material/link_off:",
        )
    if ctl.scenario is None:
        st.error(ctl.error or "invalid scenario", icon=":material/error:")
        st.caption("Change that value in the sidebar, or press Reset to return to the lesson.")
        return
    scenario = ctl.scenario
    try:
        display = session.cached_display(scenario)
    except ScenarioError as exc:
        st.error(str(exc), icon=":material/error:")
        st.caption("The explorer refuses runs that would take more than a few seconds.")
        return
    left, right = st.columns([3, 2], gap="medium")
    with left:
        player_panel(display, link)
    with right:
        verdict(display)
        side_panel(scenario, display)
        if not (link.embed or link.hides("card")):
            summary_card(scenario, key="explorer_card", cards=display.cards)
    if not (link.embed or link.hides("export")):
        export_panel(scenario, display)


try:
    main()
except Exception as exc:  # never a traceback on the page; the server log has it
    log.exception("explorer page failed")
    st.error(
        f"Something went wrong while drawing this view ({type(exc).__name__}: {exc}). "
        "Try another value or ↺ Reset.",
        icon=":material/error:",
    )
