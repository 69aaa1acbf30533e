"""The explorer: a lesson's tokens moving on the sphere, with its curves, attention and verdict.

Layout (fits a 1280×720 projector without scrolling: title, the whole player, the verdict): sidebar
controls (ui.controls) · lesson title, caption (what differs from the lesson's settings) and a
refusal when a setting would take too long · one ``st.fragment`` holding the in-browser 3D player
(left) and the verdict, curves, attention heatmap and theorem card (right) · "Static view /
export" (static plotly figure behind a toggle: built only on request, scenario JSON, Python
snippet, downloads).

One time for the whole page: the player owns the frame (and the camera, view, trails) and reports
it; the curves' cursor and the heatmap follow it through fragment reruns that never re-integrate.
The player's start (t = 0, or the link's ``frame``; ``autoplay``) is re-sent only when a lesson
switch or Reset changes its id, so a rerun can never move the player back.

Budgets: :func:`ui.budget.assess` estimates every scenario before it is integrated; a refused one
(or an invalid one) keeps the last picture that ran on screen and names the nearest settings that
would run. Per rerun the page rebuilds nothing that depends only on the scenario: the display
data, the curves, the heatmap and the static figure are cached per scenario (ui.session).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from dynamics import Scenario, ScenarioError
from ui import budget, controls, exports, session, token_link
from ui import lesson as lesson_link
from ui.session import leave_legacy_pages_mode
from ui.text import escaped
from ui.theorem_card import summary_card

log = logging.getLogger("adx.explorer")
leave_legacy_pages_mode()  # a first request on /explorer must still go through app.py

#: The plot's height: fitted to the window between these bounds (pixels).
PLAYER_FIT = (280, 640)
PLAYER_HEIGHT = 470
CAM_PARAM = "cam"
FRAME_PARAM = lesson_link.FRAME_PARAM
#: Session-state key of the "Static 3D figure" toggle in the export panel (off: not built).
STATIC_KEY = "static_view"
#: Session keys: the last scenario that ran (shown when a setting is refused), the link's start.
LAST_GOOD_KEY, LINK_START_KEY, TOKENS_REV_KEY = "_last_good", "_link_start", "_tokens_rev"


def _player():
    """The 3D player module, or None when it cannot be loaded (then a static figure is shown)."""
    try:
        from ui import player

        return player
    except Exception:  # pragma: no cover - depends on the other engineers' files
        log.exception("3D player unavailable")
        return None


def _set_param(name: str, value: str | None) -> None:
    """Write (or remove, for None) one URL parameter, only when it changes."""
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


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
    c1.markdown(f"#### {title}", help=f"Source: {lesson.source}")
    if not link.hides("copy_link"):
        with c2:
            lesson_link.copy_link_button()
    st.caption(lesson.caption + changes_line(ctl))


def changes_line(ctl: controls.Controls) -> str:
    """ "  \\nLesson settings: β = 9 · now: β = 7" once a control moved (the caption tells the
    lesson's story at the lesson's settings; this line says what the picture shows instead)."""
    if ctl.scenario is None or not ctl.modified:
        return ""
    changes = controls.setting_changes(ctl.lesson.scenario, ctl.scenario, by_hand=ctl.by_hand)
    if not changes:
        return ""
    before = ", ".join(f"{label} = {old}" for label, old, _ in changes)
    after = ", ".join(f"{label} = {new}" for label, _, new in changes)
    return f"  \n**Lesson settings:** {before} · **now:** {after}"


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


# ------------------------------------------------------------------------------------ budget
@dataclass(frozen=True)
class Shown:
    """What the page draws: the scenario and its display (None: nothing can be drawn), and why the
    requested settings are not the ones shown (``refusal``: "budget" or "invalid")."""

    scenario: Scenario | None
    display: session.Display | None
    message: str | None = None
    refusal: str | None = None


def resolve(ctl: controls.Controls) -> Shown:
    """A setting that would take too long (or is invalid) is refused before integrating, and the
    last picture that ran stays on screen — the lesson's own when nothing ran yet in this session."""
    ss = st.session_state
    scenario, kind = ctl.scenario, "invalid"
    problem = None if ctl.error is None else escaped(ctl.error)
    if scenario is not None:
        verdict_ = budget.assess(scenario)
        if verdict_.ok:
            try:
                display = session.cached_display(scenario)
            except ScenarioError as exc:
                problem = f"Not run: {escaped(exc)}"
            else:
                ss[LAST_GOOD_KEY] = scenario.to_json()
                return Shown(scenario, display)
        else:
            problem, kind = verdict_.message, "budget"
    if ss.get(LAST_GOOD_KEY):
        fallback = Scenario.from_json(ss[LAST_GOOD_KEY])
        shown = "Still showing the last settings that ran."
    else:
        fallback = ctl.lesson.scenario
        shown = "Showing the lesson's own settings."
    try:
        return Shown(fallback, session.cached_display(fallback), f"{problem} {shown}", kind)
    except ScenarioError as exc:  # pragma: no cover - a lesson or a run that ran before
        return Shown(None, None, f"{problem} ({exc})", kind)


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


def player_views(display: session.Display) -> list[Any]:
    """The view buttons over the plot; "along V" is disabled (with the reason) when V has no
    distinguished top eigenvector in the view."""
    from ui.player import View

    top = None if display.top_eig is None else [float(v) for v in display.top_eig]
    views = []
    for key, label in lesson_link.VIEWS.items():
        if key == "eigvec" and top is None:
            views.append(View(key, label, None, reason=display.top_eig_note))
        else:
            views.append(View(key, label, camera_for(key, top, display.flat)))
    return views


def edit_options(display: session.Display) -> Any:
    from ui.player import EditOptions

    if display.projected:
        return EditOptions(False, "Tokens can be placed by hand on the circle (d = 2) or the sphere (d = 3).")
    return EditOptions(True, max_tokens=token_link.MAX_TOKENS, ellipsoid=display.ellipsoid)


def start_of(display: session.Display, link: lesson_link.LessonLink) -> tuple[str, int, bool]:
    """(start id, start frame, autoplay). The link's ``frame``/``autoplay`` count for the session's
    first start only; after a lesson switch or Reset the player starts at t = 0."""
    ss = st.session_state
    if LINK_START_KEY not in ss:
        ss[LINK_START_KEY] = {"frame": link.frame, "autoplay": link.autoplay}
    start_id = controls.start_request()
    first = ss[LINK_START_KEY] if start_id.endswith(":0") else {"frame": None, "autoplay": False}
    k = int(display.x3.shape[0])
    frame = min(int(first["frame"] or 0), k - 1)
    return start_id, frame, bool(first["autoplay"])


def draw_player(display: session.Display, link: lesson_link.LessonLink, start: tuple[str, int, bool]) -> Any:
    """The 3D player (or, if it cannot start, a static figure); returns its PlayerState or None."""
    player = _player()
    if player is not None:
        try:
            state = player.trajectory_player(
                t=display.t[display.frame_idx],
                x=display.x3,
                clusters=display.labels,
                ellipsoid=display.ellipsoid,
                trails=link.trails,
                initial_camera=player.camera_from_param(st.query_params.get(CAM_PARAM)),
                key="player",
                height=PLAYER_HEIGHT,
                fit=PLAYER_FIT,
                start_id=start[0],
                start_frame=start[1],
                autoplay=start[2],
                report_frame=True,
                views=player_views(display),
                view=link.view,
                hide=link.player_hidden,
                edit=edit_options(display),
            )
            if state.error is None:
                return state
        except Exception as exc:
            log.exception("3D player failed")
            st.warning(f"The 3D player could not start ({escaped(exc)}); showing a static view.")
    st.plotly_chart(
        session.static_figure(display, link.trails),
        width="stretch",
        key="fallback_3d",
        config={"displaylogo": False},
        theme=None,
    )
    return None


def sync_link(state: Any, frame: int) -> None:
    """Put what the player reported into the URL (a copied link reopens this very view)."""
    _set_param(FRAME_PARAM, str(frame) if frame else None)
    if state is None:
        return
    from ui.player import camera_to_param

    if state.camera:
        _set_param(CAM_PARAM, camera_to_param(state.camera))
    if state.view in lesson_link.VIEWS:
        _set_param(lesson_link.VIEW_PARAM, None if state.view == "oblique" else state.view)
    if state.trails is not None:
        _set_param(lesson_link.TRAILS_PARAM, None if state.trails else "false")


def take_hand_tokens(state: Any, display: session.Display) -> None:
    """Tokens placed (moved, deleted, undone) in the player become the scenario's x0: a full rerun
    re-integrates from them, and the link holds them."""
    tokens = None if state is None else state.tokens
    ss = st.session_state
    if not tokens or tokens.get("rev") == ss.get(TOKENS_REV_KEY):
        return
    ss[TOKENS_REV_KEY] = tokens.get("rev")
    if tokens.get("clear"):
        controls.forget_hand_tokens()
    else:
        try:
            xyz = np.asarray(tokens.get("xyz"), dtype=np.float64)
            controls.set_hand_tokens(xyz[:, :2] if display.flat else xyz)
        except (token_link.TokenLinkError, ValueError, TypeError, IndexError) as exc:
            st.warning(f"These tokens cannot be used: {escaped(exc)}", icon=":material/warning:")
            return
    st.rerun()  # the whole page: the sidebar, the scenario and the run follow the new tokens


@st.fragment
def linked_views(scenario: Scenario, display: session.Display, link: lesson_link.LessonLink) -> None:
    """Player, verdict, curves, heatmap and card: one time for all of them. The player's reports
    rerun only this fragment (never re-integrating); hand-placed tokens rerun the page."""
    start = start_of(display, link)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        state = draw_player(display, link, start)
        notes = list(display.notes)
        if display.top_eig is not None:
            notes.append(f"V's top eigenvector: {display.top_eig_note}.")
        if notes:
            st.caption("  \n".join(notes))
    take_hand_tokens(state, display)
    k = int(display.x3.shape[0])
    reported = None if state is None else state.frame
    frame = min(max(int(reported if reported is not None else start[1]), 0), k - 1)
    sync_link(state, frame)
    with right:
        verdict(display)
        side_panel(scenario, display, frame)
        if not (link.embed or link.hides("card")):
            summary_card(scenario, key="explorer_card", cards=display.cards)


# ------------------------------------------------------------------------------------ curves + heatmap
def side_panel(scenario: Scenario, display: session.Display, frame: int) -> None:
    """Curves (cursor at the player's time) and the attention heatmap at that time."""
    t_now = float(display.t[display.frame_idx[frame]])
    times = display.t[display.heat_idx]
    i = int(np.argmin(np.abs(times - t_now)))
    tab_curves, tab_att = st.tabs(["Curves", "Attention"])
    with tab_curves:
        fig = session.curves_figure(display, t_now)
        st.plotly_chart(fig, width="stretch", key="curves", config={"displaylogo": False})
        st.caption(f"Orange line: the player's time, t = {t_now:.2f}.")
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
            f"At the player's time (t ≈ {float(times[i]):.3g}). Rows = queries, columns = keys, sorted by "
            f"cluster ({k} at this time)" + ("; masked entries blank" if scenario.causal else "") + "."
        )


# ------------------------------------------------------------------------------------ export
def _image(scenario: Scenario, display: session.Display, fmt: str, title: str) -> bytes:
    """PNG/SVG of the static 3D view; on failure an image that says why."""
    fig = session.static_figure(display)
    try:
        return exports.figure_image(fig, scenario, fmt, title=title)
    except exports.ExportUnavailable as exc:
        log.warning("image export failed: %s", exc)
        return exports.error_image(str(exc), fmt)


IMAGE_KEY, RENDER_KEY = "_export_image", "_render_request"


def _request_render() -> None:
    st.session_state[RENDER_KEY] = True


def image_exports(scenario: Scenario, display: session.Display, title: str, columns: list[Any]) -> None:
    """PNG and SVG: rendered on request with a progress indicator, then offered for download."""
    unavailable = exports.image_support()
    ss = st.session_state
    key = (scenario.to_json(), title)
    ready = ss.get(IMAGE_KEY)
    if ready is not None and ready.get("key") != key:
        ready = None
        ss.pop(IMAGE_KEY, None)
    slots = (columns[1].empty(), columns[2].empty())
    if ready is None:
        # A callback, not the button's return value: it survives any rerun before the panel draws.
        slots[0].button(
            "Render PNG + SVG",
            icon=":material/image:",
            width="stretch",
            key="_render_images",
            on_click=_request_render,
            disabled=unavailable is not None,
            help=unavailable or "Rendered on the server by kaleido (≈ 1 s; the first one a few seconds).",
        )
        if not ss.pop(RENDER_KEY, False):
            return
        with st.status("Rendering the images…", expanded=False) as box:
            images = {}
            for step, fmt in enumerate(("png", "svg")):
                box.update(label=f"Rendering the {fmt.upper()} ({step + 1} of 2)…")
                images[fmt] = _image(scenario, display, fmt, title)
            box.update(label="Images ready: download them with the buttons above.", state="complete")
        ready = ss[IMAGE_KEY] = {"key": key, **images}
    for slot, fmt in zip(slots, ("png", "svg"), strict=True):
        slot.download_button(
            f"Figure {fmt.upper()}",
            data=ready[fmt],
            file_name=exports.file_name("view", scenario, fmt),
            mime="image/png" if fmt == "png" else "image/svg+xml",
            icon=":material/image:",
            width="stretch",
            on_click="ignore",
            key=f"_download_{fmt}",
        )


def export_panel(scenario: Scenario, display: session.Display, title: str) -> None:
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
                exports.titled_figure(session.static_figure(display), title),
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
        image_exports(scenario, display, title, row2)
        unavailable = exports.image_support()
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
            + "; ".join(ctl.url_problems)  # Markdown: each value already in a code span
            + ".",
            icon=":material/link_off:",
        )
    shown = resolve(ctl)
    if shown.refusal == "budget":
        st.warning(shown.message, icon=":material/hourglass_disabled:")
    elif shown.refusal:
        st.error(shown.message, icon=":material/error:")
    scenario, display = shown.scenario, shown.display
    if scenario is None or display is None:
        st.caption("Change that value in the sidebar, or press Reset to return to the lesson.")
        return
    linked_views(scenario, display, link)
    if not (link.embed or link.hides("export")):
        title = ctl.lesson.title + (" · modified" if scenario != ctl.lesson.scenario else "")
        export_panel(scenario, display, title)


try:
    main()
except Exception as exc:  # never a traceback on the page; the server log has it
    log.exception("explorer page failed")
    st.error(
        f"Something went wrong while drawing this view ({type(exc).__name__}: {escaped(exc)}). "
        "Try another value or ↺ Reset.",
        icon=":material/error:",
    )
