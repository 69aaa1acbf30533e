"""Lesson links: hide flags, embed mode, the player's frame in the URL, and a "copy link" button.

URL parameters handled here (all validated by small typed parsers, never eval'd):

``hide=beta,n_heads,mask``
    Hides those controls (their values still apply, and still come from the link). Names are
    the sidebar widgets' URL names (:data:`ui.controls.URL_PARAMS`), whole sidebar groups
    (``model``, ``tokens``, ``weights``, ``solver``), the lesson picker and buttons (``lesson``,
    ``reset``, ``new_seed``, ``upload``) and parts of the page (``view``, ``trails``, ``export``,
    ``card``, ``copy_link``). ``hide=all`` hides every control. Unknown names are reported.
``embed=true``
    Streamlit's own flag (it removes the toolbar, padding and footer and hides ``embed`` from
    ``st.query_params``; read through ``st.context.is_embedded``). On top of it the app hides the
    sidebar entirely and draws a compact header: a view for slides or an iframe.
``frame=<int>``
    The player's frame when playback last stopped (source-frame index; out of range → clamped).
    A lesson opens at frame 0 (t = 0) without it.
``autoplay=true``
    The player starts playing as soon as the sphere is drawn.
``view=pole|equator|eigvec`` · ``trails=false``
    The player's camera preset (default: the 3/4 view; ``eigvec`` = along V's top eigenvector) and
    its trails switch, as the player last reported them.

Every parameter's length is capped before it is parsed (:data:`MAX_PARAM_CHARS`, more for spectra and
matrices: :data:`PARAM_CHARS`): an over-long value is dropped unread, with one message naming its
length and the cap (:func:`drop_oversized_params`, run first by app.py). Problem messages are
Markdown with the link's values in code spans (:func:`ui.text.literal`), never markup.

Hiding uses CSS on Streamlit's ``st-key-<key>`` classes, so a hidden widget still runs, keeps its
URL binding and its value: the teacher's link fixes it, the student cannot change it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ui.text import literal

HIDE_PARAM = "hide"
EMBED_PARAM = "embed"
FRAME_PARAM = "frame"
AUTOPLAY_PARAM = "autoplay"
VIEW_PARAM = "view"
TRAILS_PARAM = "trails"
#: The longest value a link parameter may have (characters): a longer one is dropped unread, with a
#: message (:func:`drop_oversized_params`). A few parameters legitimately hold more: a spectrum of
#: up to 256 numbers, and a scenario's matrices in Theorem-lab links (which the engine's own query
#: parser caps again). ``tokens`` has its codec's cap (:data:`ui.token_link.MAX_TOKENS`), well below.
MAX_PARAM_CHARS = 2_000
PARAM_CHARS: dict[str, int] = {
    **dict.fromkeys(("v_eigs", "qk_eigs", "pole"), 8_000),
    **dict.fromkeys(("x0", "P", "heads"), 200_000),
}
#: Session key: refusals of over-long parameters not yet shown by a page.
REFUSED_KEY = "_link_refused"
#: The player's camera presets (URL value → button label); "oblique" is the default (not written).
VIEWS: dict[str, str] = {"oblique": "3/4", "pole": "pole", "equator": "equator", "eigvec": "along V"}
#: Older spellings of ``view=`` (the bound widget wrote its labels).
_VIEW_ALIASES = {"3/4": "oblique", "along v": "eigvec", "along_v": "eigvec"}

#: Sidebar groups (expander keys) and the widgets inside each.
GROUPS: dict[str, tuple[str, ...]] = {
    "model": ("n", "beta", "d", "n_heads", "mask", "attention"),
    "tokens": ("init", "pole", "margin", "cap_angle", "seed", "upload"),
    "weights": ("v_eigs", "v_basis", "v_symmetric", "qk", "qk_eigs", "qk_amp", "qk_omega"),
    "solver": ("T", "integrator", "dt"),
}
GROUP_KEY = {g: f"grp_{g}" for g in GROUPS}

#: hide name → the Streamlit element keys it hides.
HIDE_TARGETS: dict[str, tuple[str, ...]] = {
    **{w: (w,) for ws in GROUPS.values() for w in ws if w not in ("v_eigs", "upload")},
    "v_eigs": ("v_eigs", "v_eig1", "v_eig2", "v_eig3", "v_eig4"),
    "upload": ("_upload_x0", "_upload_box"),
    **{g: (GROUP_KEY[g],) for g in GROUPS},
    "lesson": ("_lesson",),
    "reset": ("_reset",),
    "new_seed": ("_new_seed",),
    "view": (),
    "trails": (),
    "edit": (),
    "export": ("grp_export",),
    "card": ("explorer_card",),
    "copy_link": ("_copy_link_box",),
}
#: Names that are drawn by the page (or the player) rather than hidden with CSS.
PAGE_PARTS = frozenset({"export", "card", "copy_link", "view", "trails", "edit"})
#: Hide names the 3D player handles itself (its view buttons, trails switch, edit button).
PLAYER_PARTS = ("view", "trails", "edit")


@dataclass(frozen=True)
class LessonLink:
    """The lesson-link parameters of a URL, parsed."""

    hidden: frozenset[str] = frozenset()
    embed: bool = False
    frame: int | None = None
    autoplay: bool = False
    view: str = "oblique"
    trails: bool = True
    problems: tuple[str, ...] = field(default_factory=tuple)

    def hides(self, name: str) -> bool:
        return name in self.hidden

    @property
    def player_hidden(self) -> tuple[str, ...]:
        return tuple(p for p in PLAYER_PARTS if p in self.hidden)


def _raw(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return "" if value is None else str(value)


def param_cap(name: str) -> int:
    """The most characters the value of link parameter ``name`` may have."""
    return PARAM_CHARS.get(name, MAX_PARAM_CHARS)


def too_long(name: str, length: int) -> str:
    """The message for a dropped over-long parameter (Markdown; the name shown literally)."""
    return (
        f"{literal(name)}: {length:,} characters, longer than any value it can take "
        f"({param_cap(name):,}) — ignored"
    )


def oversized(params: Mapping[str, Any]) -> dict[str, int]:
    """Parameter name → its length, for every parameter of ``params`` longer than its cap (all the
    values of a repeated parameter counted). Reads lengths only, never the text."""
    out: dict[str, int] = {}
    for name in list(params):
        getter = getattr(params, "get_all", None)
        values = getter(name) if getter is not None else params.get(name)
        if not isinstance(values, list | tuple):
            values = [values]
        length = sum(len(str(v)) for v in values if v is not None)
        if length > param_cap(str(name)):
            out[str(name)] = length
    return out


def refresh_bound_params() -> None:
    """After deleting URL parameters before the widgets run: bound widgets seed from Streamlit's
    copy of the *initial* URL, so refresh that copy too (a private API; a no-op if it moved)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        ctx = get_script_run_ctx()
        ctx.session_state._state.query_params.set_initial_query_params_from_current()
    except Exception:  # pragma: no cover - private API moved; the pages' own checks remain
        pass


def drop_oversized_params() -> None:
    """Delete every over-long parameter from ``st.query_params`` before anything parses it; the
    messages wait in the session until a page that reads the link shows them
    (:func:`take_refusals`). Call first thing in a run (app.py, and pages that run alone)."""
    import streamlit as st

    long = oversized(st.query_params)
    if not long:
        return
    refused = st.session_state.setdefault(REFUSED_KEY, [])
    for name, length in long.items():
        try:
            del st.query_params[name]
        except Exception:  # pragma: no cover - a widget of this run already owns it
            continue
        refused.append(too_long(name, length))
    refresh_bound_params()


def take_refusals() -> list[str]:
    """The messages of parameters :func:`drop_oversized_params` dropped, once each."""
    import streamlit as st

    drop_oversized_params()
    return list(st.session_state.pop(REFUSED_KEY, None) or ())


def parse_hide(value: Any) -> tuple[frozenset[str], tuple[str, ...]]:
    """``"beta, n_heads,mask"`` → ({"beta", "n_heads", "mask"}, problems). Never raises."""
    text = _raw(value)
    if len(text) > MAX_PARAM_CHARS:
        return frozenset(), (too_long(HIDE_PARAM, len(text)),)
    folded = {k.lower(): k for k in HIDE_TARGETS}
    names = [p.strip() for p in re.split(r"[,;\s]+", text) if p.strip()]
    names = [n if n in HIDE_TARGETS else folded.get(n.lower(), n) for n in names]
    if any(n.lower() == "all" for n in names):
        return frozenset(HIDE_TARGETS), ()
    good = {n for n in names if n in HIDE_TARGETS}
    bad = [n for n in names if n not in HIDE_TARGETS]
    # a group whose every control is hidden disappears too
    for g, members in GROUPS.items():
        if set(members) <= good:
            good.add(g)
    problems = (f"{literal(f'{HIDE_PARAM}=' + ','.join(bad))} (unknown control)",) if bad else ()
    return frozenset(good), problems


def parse_bool(value: Any) -> bool | None:
    text = _raw(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    return None


def parse_frame(value: Any) -> tuple[int | None, str | None]:
    """A non-negative frame index, or (None, problem)."""
    text = _raw(value).strip()
    if not text:
        return None, None
    if len(text) > 12 or not (text.isascii() and text.isdigit()):
        return None, f"{literal(f'{FRAME_PARAM}={text}')} (not a frame number)"
    return int(text), None


def parse_view(value: Any) -> tuple[str, str | None]:
    """A camera preset id of :data:`VIEWS` ("oblique" when absent), or ("oblique", problem)."""
    text = _raw(value).strip()
    if not text:
        return "oblique", None
    key = _VIEW_ALIASES.get(text.lower(), text.lower())
    if key in VIEWS:
        return key, None
    return "oblique", f"{literal(f'{VIEW_PARAM}={text}')} (use {' | '.join(VIEWS)})"


def parse_link(params: Mapping[str, Any], *, embedded: bool | None = None) -> LessonLink:
    """Parse the lesson-link parameters of ``params`` (``st.query_params`` or a dict)."""
    hidden, problems = parse_hide(params.get(HIDE_PARAM))
    problems = list(problems)
    embed = bool(embedded)
    if not embed and EMBED_PARAM in params:
        flag = parse_bool(params.get(EMBED_PARAM))
        embed = bool(flag)
    frame, problem = parse_frame(params.get(FRAME_PARAM))
    if problem:
        problems.append(problem)
    flags = {}
    for name in (AUTOPLAY_PARAM, TRAILS_PARAM):
        flags[name] = parse_bool(params.get(name)) if name in params else None
        if name in params and flags[name] is None:
            problems.append(f"{literal(f'{name}={_raw(params.get(name))}')} (use true or false)")
    view, problem = parse_view(params.get(VIEW_PARAM))
    if problem:
        problems.append(problem)
    return LessonLink(
        hidden,
        embed,
        frame,
        autoplay=bool(flags[AUTOPLAY_PARAM]),
        view=view,
        trails=flags[TRAILS_PARAM] is not False,
        problems=tuple(problems),
    )


def hide_css(hidden: Iterable[str]) -> str:
    """A <style> block hiding the elements of ``hidden`` (names of :data:`HIDE_TARGETS`)."""
    keys = sorted({k for name in hidden for k in HIDE_TARGETS.get(name, ())})
    if not keys:
        return ""
    sel = ", ".join(f".st-key-{re.sub(r'[^A-Za-z0-9_-]', '', k)}" for k in keys)
    return f"<style>{sel} {{ display: none !important; }}</style>"


EMBED_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], [data-testid="stSidebarCollapseButton"],
[data-testid="stHeader"] { display: none !important; }
.stMainBlockContainer, [data-testid="stMainBlockContainer"] {
  padding-top: 0.6rem !important; padding-bottom: 0.4rem !important; max-width: 100% !important;
}
</style>"""


# ------------------------------------------------------------------------------------ Streamlit
def _raw_embed_flag() -> bool:
    """Streamlit hides ``embed`` from st.query_params; the run context's query string has it."""
    from urllib.parse import parse_qs

    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    qs = getattr(ctx, "query_string", "") or ""
    values = parse_qs(qs[:MAX_PARAM_CHARS]).get(EMBED_PARAM)
    return bool(values) and bool(parse_bool(values[-1]))


def current_link() -> LessonLink:
    """The lesson-link parameters of this session's URL."""
    import streamlit as st

    drop_oversized_params()  # idempotent: also when a page runs without app.py
    embedded = None
    try:
        embedded = st.context.is_embedded
    except Exception:  # pragma: no cover - older runtimes / bare mode
        embedded = None
    if not embedded:
        try:
            embedded = _raw_embed_flag()
        except Exception:  # pragma: no cover - private API moved
            embedded = False
    return parse_link(st.query_params, embedded=embedded)


def apply_page_style(link: LessonLink) -> None:
    """Embed mode's CSS (call once per run, from app.py; hide flags are the sidebar's job)."""
    import streamlit as st

    if link.embed:
        st.html(EMBED_CSS)


_LINK_ICON = (
    '<svg width="14" height="14" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" '
    'd="M3.9 12a3.1 3.1 0 0 1 3.1-3.1h4V7H7a5 5 0 0 0 0 10h4v-1.9H7A3.1 3.1 0 0 1 3.9 12M8 13h8v-2H8z'
    'm9-6h-4v1.9h4a3.1 3.1 0 0 1 0 6.2h-4V17h4a5 5 0 0 0 0-10"/></svg>'
)
_COPY_HTML = f"""<div class="adx-copy">
  <button type="button" class="adx-copy-btn" title="Copy a link to this exact view">
    {_LINK_ICON} Copy link</button>
  <span class="adx-copy-msg" role="status"></span>
  <input class="adx-copy-url" type="text" readonly aria-label="Link to this view" value="">
</div>"""

_COPY_CSS = """
.adx-copy { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; font-size: .9rem; }
.adx-copy-btn { border: 1px solid rgba(49,51,63,.25); background: white; border-radius: .5rem;
  padding: .3rem .75rem; cursor: pointer; font: inherit; display: inline-flex; gap: .35rem;
  align-items: center; }
.adx-copy-btn:hover { border-color: #D55E00; color: #D55E00; }
.adx-copy-msg { color: #555; }
.adx-copy-url { flex: 1 1 16rem; min-width: 10rem; font: .8rem monospace; padding: .25rem .4rem;
  border: 1px solid rgba(49,51,63,.25); border-radius: .35rem; display: none; }
.adx-copy.fallback .adx-copy-url { display: block; }
"""

# The URL is read at click time (bound widgets write the address bar after the script ran).
# navigator.clipboard needs a secure context (https or localhost): on a classroom LAN over http it
# is missing, so the fallback shows the URL selected in a text field, with execCommand as a try.
_COPY_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector('.adx-copy');
  const btn = root.querySelector('.adx-copy-btn');
  const msg = root.querySelector('.adx-copy-msg');
  const box = root.querySelector('.adx-copy-url');
  const url = () => {
    try { return window.top.location.href; } catch (e) { return window.location.href; }
  };
  const fallback = (why) => {
    root.classList.add('fallback');
    box.value = url();
    box.focus(); box.select();
    let ok = false;
    try { ok = document.execCommand && document.execCommand('copy'); } catch (e) { ok = false; }
    msg.textContent = ok ? 'Copied.' : (why + ' Press Ctrl+C (⌘C) to copy the selected link:');
  };
  if (data && data.always_show) { root.classList.add('fallback'); box.value = url(); }
  btn.onclick = async () => {
    box.value = url();
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(box.value);
        msg.textContent = 'Link copied.';
        root.classList.remove('fallback');
        setTimeout(() => { msg.textContent = ''; }, 2500);
        return;
      } catch (e) { fallback('The browser refused the clipboard.'); return; }
    }
    fallback('No clipboard access here (not https).');
  };
}
"""


@functools.cache
def _copy_component() -> Any:
    import streamlit as st

    return st.components.v2.component(
        "adx_copy_link", html=_COPY_HTML, css=_COPY_CSS, js=_COPY_JS, isolate_styles=False
    )


def copy_link_button(key: str = "copy_link", *, always_show: bool = False) -> None:
    """A "Copy link" button (components v2; AppTest shows it as an unknown element)."""
    import streamlit as st

    with st.container(key="_copy_link_box"):
        _copy_component()(data={"always_show": bool(always_show)}, key=key, height="content")
