"""Presenter mode: the lessons as slides for a projector.

One lesson per slide — title, caption, the 3D player big (press Space to play), the verdict; the
whole slide fits a 1280×720 projector (the player sizes itself to the window). A slide opens at
t = 0 with every token visible, as in the explorer; ``?autoplay=true`` plays each slide as it
opens. Next / previous: the buttons, or **PageDown / PageUp** (what a presentation clicker sends;
the arrow keys already step the player's frames). Large fonts; the colour-blind-safe Okabe–Ito
palette of the player. The deck and the slide are in the URL: ``?slide=2`` (1-based) and
``?slides=consensus,metastable,antipodal`` (lesson keys, a teacher's own order); unknown keys are
reported and skipped. Runs inside app.py (``url_path="presenter"``) or alone
(``AppTest.from_file("pages/presenter.py")``).
"""

from __future__ import annotations

import logging
import re

import streamlit as st

from dynamics import ScenarioError
from dynamics.presets import PRESETS, Preset
from ui import lesson as lesson_link
from ui import session
from ui.session import leave_legacy_pages_mode
from ui.text import escaped, literal

log = logging.getLogger("adx.presenter")
leave_legacy_pages_mode()

#: The default deck: the story from consensus to metastability and its exceptions.
DEFAULT_DECK = (
    "consensus",
    "hemisphere",
    "metastable",
    "antipodal",
    "causal",
    "ellipsoid-gradient",
    "usa",
)
LESSONS: dict[str, Preset] = {p.key: p for p in PRESETS}
SLIDE_PARAM, DECK_PARAM = "slide", "slides"
PLAYER_HEIGHT = 540
#: The plot's height, fitted to the window between these bounds (pixels).
PLAYER_FIT = (260, 720)
MAX_DECK = 40

PRESENTER_CSS = """<style>
.st-key-presenter h1 { font-size: 2rem !important; line-height: 1.15; padding: 0 0 .1rem; }
.st-key-presenter [data-testid="stCaptionContainer"], .st-key-presenter [data-testid="stCaptionContainer"] p {
  font-size: 1.2rem !important; line-height: 1.4; }
.st-key-presenter [data-testid="stAlertContainer"] p { font-size: 1.3rem !important; }
.st-key-presenter .adx-time { font-size: 1.15rem; }
.st-key-presenter button p { font-size: 1.1rem; }
.stMainBlockContainer, [data-testid="stMainBlockContainer"] { padding-top: 3.7rem !important; }
</style>"""


def parse_deck(raw: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``"a,b,c"`` → (known lesson keys in order, unknown ones). Empty → the default deck."""
    if not raw:
        return tuple(k for k in DEFAULT_DECK if k in LESSONS) or tuple(LESSONS), ()
    names = [p.strip() for p in re.split(r"[,;\s]+", str(raw)[:2000]) if p.strip()][:MAX_DECK]
    good = tuple(n for n in names if n in LESSONS)
    bad = tuple(n for n in names if n not in LESSONS)
    return (good or parse_deck(None)[0]), bad


def parse_slide(raw: str | None, count: int) -> int:
    """1-based ``slide`` → 0-based index, clamped; junk → 0."""
    try:
        i = int(str(raw).strip()) - 1
    except (TypeError, ValueError):
        return 0
    return min(max(i, 0), count - 1)


def _go(step: int, count: int) -> None:
    i = (int(st.session_state.get("_slide", 0)) + step) % count
    st.session_state["_slide"] = i
    st.query_params[SLIDE_PARAM] = str(i + 1)


def _player(display: session.Display, key: str, autoplay: bool) -> bool:
    try:
        from ui import player

        state = player.trajectory_player(
            t=display.t[display.frame_idx],
            x=display.x3,
            clusters=display.labels,
            ellipsoid=display.ellipsoid,
            trails=True,
            camera_preset="pole" if display.flat else "oblique",
            key=key,
            height=PLAYER_HEIGHT,
            fit=PLAYER_FIT,
            start_frame=0,
            start_id=key,
            autoplay=autoplay,
            hide=("edit",),
        )
        return state.error is None
    except Exception:
        log.exception("3D player failed on the presenter page")
        return False


def navigation(index: int, count: int) -> None:
    nav = st.container(horizontal=True, gap="small")  # wraps when the column is narrow
    nav.button(
        "Back",
        icon=":material/chevron_left:",
        key="_prev_slide",
        shortcut="PageUp",
        on_click=_go,
        args=(-1, count),
        width="content",
        help="Previous lesson (PageUp, or a clicker's back button).",
    )
    nav.button(
        "Next",
        icon=":material/chevron_right:",
        icon_position="right",
        key="_next_slide",
        shortcut="PageDown",
        on_click=_go,
        args=(1, count),
        width="content",
        type="primary",
        help="Next lesson (PageDown, or a clicker's forward button).",
    )
    st.markdown(f"**Lesson {index + 1} / {count}**")


def slide(preset: Preset, index: int, count: int, autoplay: bool = False) -> None:
    st.title(preset.title, anchor=False)
    st.caption(preset.caption)
    try:
        display = session.cached_display(preset.scenario)
    except ScenarioError as exc:
        navigation(index, count)
        st.error(escaped(exc), icon=":material/error:")
        return
    left, right = st.columns([2.6, 1], gap="medium")
    with left:
        if not _player(display, key=f"presenter_player_{preset.key}", autoplay=autoplay):
            st.plotly_chart(
                session.static_figure(display),
                width="stretch",
                key="presenter_static",
                config={"displaylogo": False},
                theme=None,
            )
    with right:
        navigation(index, count)
        box = {"consensus": st.success, "clusters": st.info, "spread": st.warning, "failed": st.error}
        box[display.verdict_kind](f"**{display.verdict}**")
        st.caption(f"*Source: {preset.source}*")
        st.caption("Space: play / pause · ← →: step · PageDown / PageUp: next / previous slide · ?: keys.")
        st.markdown(f"[Open this lesson in the explorer](./?lesson={preset.key})")


def main() -> None:
    st.set_page_config(initial_sidebar_state="collapsed", layout="wide")  # the slide gets the width
    st.html(PRESENTER_CSS)
    refused = lesson_link.take_refusals()  # over-long values: dropped before anything reads them
    link = lesson_link.current_link()
    deck, unknown = parse_deck(st.query_params.get(DECK_PARAM))
    count = len(deck)
    if "_slide" not in st.session_state or st.session_state.get("_deck") != deck:
        st.session_state["_slide"] = parse_slide(st.query_params.get(SLIDE_PARAM), count)
        st.session_state["_deck"] = deck
    i = min(int(st.session_state["_slide"]), count - 1)
    with st.container(key="presenter"):
        if unknown:
            shown = ", ".join(literal(name, 40) for name in unknown[:5]) + (" …" if len(unknown) > 5 else "")
            st.warning(f"Unknown lessons in the link, skipped: {shown}.", icon="⚠️")
        if refused:
            st.warning(f"This link had values the presenter cannot use: {'; '.join(refused)}.",
                       icon=":material/link_off:")  # fmt: skip
        slide(LESSONS[deck[i]], i, count, autoplay=link.autoplay)


try:
    main()
except Exception as exc:  # never a traceback on a projector
    log.exception("presenter page failed")
    st.error(f"Something went wrong ({type(exc).__name__}: {escaped(exc)}).", icon=":material/error:")
