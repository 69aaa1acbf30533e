"""Attention Dynamics Explorer — the Streamlit frame: page config, navigation, shared sidebar.

Run with ``.venv/bin/streamlit run app.py``. Pages live in pages/ and are declared here (not
auto-discovered), each with a stable ``url_path`` so shared links survive renames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from ui import lesson as lesson_link
from ui.reconnect import rerun_after_reconnect

APP_DIR = Path(__file__).resolve().parent
log = logging.getLogger("adx.app")


def _favicon():
    """A small shaded sphere drawn here (a material/emoji icon would be fetched from the web)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[-1:1:64j, -1:1:64j]
    r2 = x * x + y * y
    inside = r2 <= 1.0
    shade = np.clip(0.35 + 0.65 * (np.sqrt(np.clip(1 - r2, 0, 1)) * 0.8 - 0.35 * x - 0.45 * y), 0, 1)
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[..., 0] = (40 + 90 * shade).astype(np.uint8)
    rgba[..., 1] = (90 + 110 * shade).astype(np.uint8)
    rgba[..., 2] = (160 + 95 * shade).astype(np.uint8)
    rgba[..., 3] = np.where(inside, 255, 0)
    return Image.fromarray(rgba, "RGBA")


# Lesson links: ``?embed=true`` (Streamlit's own flag, read via st.context) → no sidebar, compact.
lesson_link.drop_oversized_params()  # an over-long parameter is dropped before anything parses it
_LINK = lesson_link.current_link()

st.set_page_config(
    page_title="Attention Dynamics Explorer",
    page_icon=_favicon(),
    layout="wide",
    initial_sidebar_state="collapsed" if _LINK.embed else "expanded",
    menu_items={
        "About": "Attention Dynamics Explorer — tokens as interacting particles on the sphere. "
        "Sources: arXiv 2412.02682, 2312.10794, 2305.05465, 2501.18322.",
    },
)


@st.cache_resource(show_spinner=False)
def _static_assets() -> str | None:
    """Copy plotly.min.js to static/ once per server process (the 3D player loads it offline)."""
    try:
        from ui.player import ensure_plotly_js

        ensure_plotly_js(APP_DIR)
    except Exception as exc:  # read-only image, missing plotly: the page shows a fallback
        log.warning("could not provide static/plotly.min.js: %s", exc)
        return str(exc)
    return None


_static_assets()
rerun_after_reconnect()  # a replica behind the proxy died: rebuild this view on the one that answers


# Compact layout for a 1280×800 projector: less padding above the content, tighter sidebar.
st.html(
    """<style>
    .stMainBlockContainer, [data-testid="stMainBlockContainer"] { padding-top: 3.2rem; padding-bottom: 2rem; }
    [data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
    [data-testid="stSidebar"] [data-testid="stExpander"] details summary p { font-weight: 600; }
    </style>"""
)
lesson_link.apply_page_style(_LINK)  # embed mode: hide the sidebar and the header bar

pages = [
    st.Page(
        "pages/explorer.py", title="Explorer", icon=":material/public:", url_path="explorer", default=True
    ),
    st.Page("pages/theorem_lab.py", title="Theorem lab", icon=":material/rule:", url_path="theorem_lab"),
    st.Page("pages/euclidean.py", title="Euclidean model", icon=":material/hexagon:", url_path="euclidean"),
    st.Page(
        "pages/mean_field.py", title="Gaussian mean field", icon=":material/blur_on:", url_path="mean_field"
    ),
    st.Page(
        "pages/phase_diagram.py", title="Phase diagrams", icon=":material/grid_on:", url_path="phase_diagram"
    ),
    st.Page("pages/compare.py", title="Compare attention", icon=":material/compare:", url_path="compare"),
    st.Page("pages/deep.py", title="Deep (GPT-2 scale)", icon=":material/layers:", url_path="deep"),
    st.Page("pages/real_model.py", title="Real transformer", icon=":material/memory:", url_path="real_model"),
    st.Page("pages/presenter.py", title="Presenter", icon=":material/slideshow:", url_path="presenter"),
    st.Page("pages/about.py", title="About the maths", icon=":material/functions:", url_path="about"),
]
page = st.navigation(pages)
page.run()

with st.sidebar:
    st.caption(
        "Attention Dynamics Explorer · every setting is in the URL: copy the address bar to share "
        "this exact view."
    )
