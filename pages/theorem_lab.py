"""The Theorem lab: one theorem at a time, its assumptions checked live, its prediction against a run.

Pick a result of the registry (``dynamics.theorems``; the picker shows each theorem's name,
``theorem=<id>`` is in the URL): its lesson loads, the card shows each assumption ✓/✗ with the
number deciding it, the prediction beside what the simulation shows, and one-click
counter-examples that load a scenario breaking one assumption. Four controls in the sidebar break
assumptions by hand (mask, heads, V's eigenvalue λ₁, initial tokens); the card is re-evaluated on
every rerun, the run is cached on the scenario's JSON. The 3D player beside the card plays the
run. Results about the Euclidean model are evaluated on their example scenario of that model
(run and cached here); the Euclidean model page draws them.

State: the loaded scenario (preset, counter-example or link) is ``st.session_state["_lab_base"]``
(JSON); the controls' widgets modify it. URL: ``theorem`` (a bound selectbox) and, when the view
differs from the theorem's preset, the scenario's own query parameters (``Scenario.to_query``),
so the address bar is always a link to this view. Registered in app.py as
``st.Page("pages/theorem_lab.py", title="Theorem lab", url_path="theorem_lab")``; also runs alone.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import urllib.parse
from typing import Any

import numpy as np
import streamlit as st

from dynamics import Head, MatrixSpec, Scenario, ScenarioError
from dynamics.euclidean import EuclideanScenario, simulate_euclidean
from dynamics.limits import check as check_limits
from dynamics.matrices import build_heads
from dynamics.presets import Preset
from dynamics.presets import get as get_preset
from dynamics.theorems import IDS, Card, evaluate, get
from ui import lesson as lesson_link
from ui import session
from ui.text import escaped, literal
from ui.theorem_card import (
    EUCLIDEAN_MESSAGE,
    EUCLIDEAN_URL_PATH,
    LAB_URL_PATH,
    THEOREM_PRESETS,
    cached_cards,
    theorem_card,
    theorem_name,
)

log = logging.getLogger("adx.theorem_lab")

DEFAULT_THEOREM = "ast-hemisphere"

THEOREM_KEY = "theorem"
MASK_KEY, HEADS_KEY, V1_KEY, INIT_KEY = "lab_mask", "lab_heads", "lab_v1", "lab_init"
CONTROL_KEYS = (MASK_KEY, HEADS_KEY, V1_KEY, INIT_KEY)
BASE, FOR, ORIGIN, V1_DEFAULT = "_lab_base", "_lab_for", "_lab_origin", "_lab_v1_default"
URL_THEOREM = "_lab_url_theorem"  # the theorem the address bar last named
AS_LOADED = "as loaded"
INIT_OPTIONS = (AS_LOADED, "uniform", "hemisphere", "antipodal", "great_circle")
INIT_LABELS = {
    AS_LOADED: "as loaded",
    "uniform": "uniform",
    "hemisphere": "in an open hemisphere",
    "antipodal": "antipodal pairs (x, −x)",
    "great_circle": "on a great circle",
}
V1_RANGE = (-3.0, 3.0)
HEADS_RANGE = (1, 8)
PLAYER_HEIGHT = 430
PERSIST: dict[str, Any] = {"persist_state": "session"}  # keep the values across page switches
URL_SAFE = "[],:-"  # left readable in the link (valid in a query string)
SCENARIO_FIELDS = frozenset(f.name for f in dataclasses.fields(Scenario))


# ------------------------------------------------------------------------------------ scenarios
def preset_for(theorem_id: str) -> Preset | None:
    key = THEOREM_PRESETS.get(theorem_id)
    return None if key is None else get_preset(key)


def v1_of(s: Scenario) -> float | None:
    """V's first eigenvalue as the λ₁ control shows it (None: not adjustable for this scenario)."""
    if s.heads is None:
        if s.value == "identity":
            return 1.0
        if s.value == "spectrum" and s.v_eigs is not None:
            return float(s.v_eigs[0])
        return None
    v = s.heads[0].V
    return float(v.const[0][0]) if v.is_constant else None


def control_defaults(s: Scenario) -> dict[str, Any]:
    """The controls' values that leave ``s`` unchanged."""
    v1 = v1_of(s)
    shown = 1.0 if v1 is None else float(np.clip(round(v1, 1), *V1_RANGE))
    return {
        MASK_KEY: s.mask == "causal",
        HEADS_KEY: int(np.clip(s.n_heads, *HEADS_RANGE)),
        V1_KEY: shown,
        INIT_KEY: AS_LOADED,
    }


def _spec(m: np.ndarray) -> MatrixSpec:
    return MatrixSpec(const=tuple(tuple(float(v) for v in row) for row in np.asarray(m, dtype=float)))


def with_heads(s: Scenario, h: int) -> Scenario:
    """``s`` with ``h`` heads: generated ones re-generated; explicit ones cut, or extended by heads
    with random Q, K (seeded) and the first head's V."""
    if s.heads is None:
        return s.replace(n_heads=h)
    heads = list(build_heads(s))[:h]
    rng = np.random.default_rng([s.seed, 7])
    d = s.d
    while len(heads) < h:
        q, k = rng.standard_normal((d, d)) / np.sqrt(d), rng.standard_normal((d, d)) / np.sqrt(d)
        heads.append(Head(Q=_spec(q), K=_spec(k), V=heads[0].V))
    return s.replace(heads=tuple(heads))


def with_v1(s: Scenario, v1: float) -> Scenario:
    """``s`` with V's first eigenvalue (generated spectra) or entry V₁₁ (explicit constant V) = v1."""
    d = s.d
    if s.heads is None:
        if s.value == "identity":
            return s.replace(value="spectrum", v_eigs=(v1,) + (1.0,) * (d - 1), v_basis="identity")
        if s.value == "spectrum" and s.v_eigs is not None:
            return s.replace(v_eigs=(v1, *s.v_eigs[1:]))
        return s
    heads = []
    for head in s.heads:
        if head.V.is_constant:
            m = np.array(head.V.const, dtype=float)
            m[0, 0] = v1
            head = Head(Q=head.Q, K=head.K, V=_spec(m))
        heads.append(head)
    return s.replace(heads=tuple(heads))


def with_init(s: Scenario, init: str) -> Scenario:
    if init == AS_LOADED:
        return s
    n = s.n + (s.n % 2 if init == "antipodal" else 0)  # antipodal pairs need an even n
    return s.replace(x0=None, init=init, n=n)


def apply_controls(base: Scenario, values: dict[str, Any], v1_default: float) -> Scenario:
    """The loaded scenario modified by the controls (each control left at its default: no change)."""
    s = base
    mask = "causal" if values[MASK_KEY] else "none"
    if mask != s.mask:
        s = s.replace(mask=mask)
    if int(values[HEADS_KEY]) != control_defaults(base)[HEADS_KEY]:
        s = with_heads(s, int(values[HEADS_KEY]))
    if v1_of(base) is not None and abs(float(values[V1_KEY]) - v1_default) > 1e-9:
        s = with_v1(s, float(values[V1_KEY]))
    return with_init(s, str(values[INIT_KEY]))


# ------------------------------------------------------------------------------------ state
def _state() -> Any:
    return st.session_state


def load(theorem_id: str, base: Scenario | None, origin: str | None) -> None:
    """Make ``base`` the loaded scenario and put the controls back to its values.

    Called before the controls are drawn (first run, theorem change) or from a button callback.
    """
    ss = _state()
    ss[FOR] = theorem_id
    ss[BASE] = None if base is None else base.to_json()
    ss[ORIGIN] = origin
    defaults = control_defaults(base if base is not None else Scenario())
    for k, v in defaults.items():
        ss[k] = v
    ss[V1_DEFAULT] = defaults[V1_KEY]


def _load_counter_example(label: str, scenario: Scenario) -> None:
    load(str(_state().get(THEOREM_KEY, DEFAULT_THEOREM)), scenario, label)


def _back_to_preset() -> None:
    tid = str(_state().get(THEOREM_KEY, DEFAULT_THEOREM))
    preset = preset_for(tid)
    load(tid, None if preset is None else preset.scenario, None)


def _link_scenario() -> tuple[Scenario | None, str | None]:
    """The scenario carried by the URL's scenario parameters, if any (or the engine's message)."""
    params = {k: st.query_params.get_all(k) for k in st.query_params if k in SCENARIO_FIELDS}
    if not params:
        return None, None
    try:
        linked = Scenario.from_query({k: v[-1] for k, v in params.items() if v})
        check_limits(linked, session.APP_LIMITS)  # refuse what the app would not run
        evaluate(linked)  # and what has no tokens (e.g. a zero row in x0)
        return linked, None
    except ScenarioError as exc:
        return None, str(exc)
    except Exception as exc:  # a link is user input: never a traceback
        return None, f"{type(exc).__name__}: {exc}"


def ensure_loaded(theorem_id: str) -> str | None:
    """Load the theorem's scenario when the theorem changed (or on the first run: from the link's
    scenario parameters if present). Returns a message about a bad link, if any."""
    ss = _state()
    first = FOR not in ss
    problem = None
    if first or ss.get(FOR) != theorem_id:
        preset = preset_for(theorem_id)
        base = None if preset is None else preset.scenario
        origin = None
        if first and preset is not None:
            linked, problem = _link_scenario()
            if linked is not None:
                base, origin = linked, "the link's scenario"
        load(theorem_id, base, origin)
    elif ss.get(BASE) is not None:
        # widgets dropped while another page was shown: restore them from the loaded scenario
        defaults = control_defaults(Scenario.from_json(ss[BASE]))
        for k, v in defaults.items():
            if k not in ss:
                ss[k] = v
    return problem


# ------------------------------------------------------------------------------------ URL
def adopt_linked_theorem(linked: str | None) -> None:
    """Select the theorem a link names (first load, or a link followed inside the session).

    The picker shows names, so it is not bound to the URL (a bound selectbox would write the
    name into the link): ``theorem=<id>`` is read here and written by :func:`write_theorem_to_url`.
    """
    ss = _state()
    if linked in IDS and linked != ss.get(URL_THEOREM):
        ss[THEOREM_KEY] = linked
        ss[URL_THEOREM] = linked
    elif ss.get(THEOREM_KEY) not in IDS:
        ss[THEOREM_KEY] = DEFAULT_THEOREM


def write_theorem_to_url(theorem_id: str) -> None:
    _state()[URL_THEOREM] = theorem_id
    try:
        if st.query_params.get(THEOREM_KEY) != theorem_id:
            st.query_params[THEOREM_KEY] = theorem_id
    except Exception as exc:  # e.g. a parameter bound to another page's widget
        log.info("could not write the theorem to the URL: %s", exc)


def sync_url(scenario: Scenario | None, preset: Preset | None) -> None:
    """Scenario parameters in the address bar when the view differs from the preset, none else."""
    want = {} if scenario is None or preset is None or scenario == preset.scenario else scenario.to_query()
    try:
        for k in [k for k in st.query_params if k in SCENARIO_FIELDS and k not in want]:
            del st.query_params[k]
        for k, v in want.items():
            if st.query_params.get(k) != v:
                st.query_params[k] = v
    except Exception as exc:  # e.g. a parameter bound to another page's widget
        log.info("could not write the scenario to the URL: %s", exc)


def view_link(theorem_id: str, scenario: Scenario | None, preset: Preset | None) -> str:
    """The absolute (when known) link to this view: theorem, plus the scenario if modified."""
    params = {"theorem": theorem_id}
    if scenario is not None and preset is not None and scenario != preset.scenario:
        params.update(scenario.to_query())
    try:
        here = str(st.context.url or "")
    except Exception:  # pragma: no cover - no request context (bare mode)
        here = ""
    base = here.split("?", 1)[0].split("#", 1)[0]
    if not base:
        base = f"/{LAB_URL_PATH}"
    elif not base.rstrip("/").endswith(LAB_URL_PATH):
        base = base.rstrip("/") + f"/{LAB_URL_PATH}"
    return f"{base}?{urllib.parse.urlencode(params, safe=URL_SAFE)}"


# ------------------------------------------------------------------------------------ widgets
def sidebar(theorem_id: str, base: Scenario | None) -> dict[str, Any]:
    euclid = base is None
    v1_free = base is not None and v1_of(base) is not None
    st.markdown("**Break it by hand** — each ✓/✗ follows live")
    st.toggle(
        "Causal mask",
        key=MASK_KEY,
        disabled=euclid,
        **PERSIST,
        help="Token i attends only to tokens 1…i (auto-regressive). Off: full attention.",
    )
    st.number_input(
        "Heads",
        min_value=HEADS_RANGE[0],
        max_value=HEADS_RANGE[1],
        step=1,
        key=HEADS_KEY,
        disabled=euclid,
        **PERSIST,
        help="Number of attention heads. Extra heads get random Q, K and the first head's V.",
    )
    st.slider(
        "V's eigenvalue λ₁",
        min_value=V1_RANGE[0],
        max_value=V1_RANGE[1],
        step=0.1,
        key=V1_KEY,
        **PERSIST,
        disabled=not v1_free,
        help=(
            "V = diag(λ₁, …): the first eigenvalue of V's spectrum (for V = I the others stay 1); "
            "with explicit matrices, the entry V₁₁ of every head."
            if v1_free
            else "Not adjustable here: V is random or time-varying in this scenario."
        ),
    )
    st.selectbox(
        "Initial tokens",
        INIT_OPTIONS,
        key=INIT_KEY,
        format_func=INIT_LABELS.__getitem__,
        disabled=euclid,
        **PERSIST,
        help="'as loaded' keeps the preset's (or counter-example's) tokens.",
    )
    if base is not None:
        st.caption("Loaded tokens: " + ("explicit positions" if base.x0 is not None else _init_words(base)))
    st.button(
        "Back to the lesson",
        icon=":material/restart_alt:",
        on_click=_back_to_preset,
        disabled=euclid,
        width="stretch",
        key="lab_reset",
    )
    ss = _state()
    return {k: ss[k] for k in CONTROL_KEYS}


def _init_words(s: Scenario) -> str:
    if s.init == "hemisphere":
        pole = "north" if s.pole is None else "(" + ", ".join(f"{p:g}" for p in s.pole) + ")"
        return f"hemisphere around {pole}, margin {s.margin:g}"
    return INIT_LABELS.get(s.init, s.init)


# ------------------------------------------------------------------------------------ panels
def _euclidean_cards(scenario_json: str) -> list[Card]:
    es = EuclideanScenario.from_json(scenario_json)
    return evaluate(es, simulate_euclidean(es))


@functools.cache
def _euclidean_cache() -> Any:
    return st.cache_data(max_entries=8, show_spinner="Running the Euclidean model…")(_euclidean_cards)


def euclidean_card(theorem_id: str) -> Card:
    """The card of a Euclidean-model result on its example scenario, observed on a (cached) run."""
    example = get(theorem_id).example
    assert example is not None, f"{theorem_id} has no example scenario"
    cards = _euclidean_cache()(example().to_json())
    return next(c for c in cards if c.id == theorem_id)


def run_summary(scenario: Scenario) -> str | None:
    """The explorer's one-line verdict of the run (cached with its display data)."""
    try:
        return session.cached_display(scenario).verdict
    except ScenarioError:
        return None


def player_panel(scenario: Scenario) -> None:
    try:
        display = session.cached_display(scenario)
    except ScenarioError as exc:
        st.error(f"Cannot run this scenario: {escaped(exc)}", icon=":material/error:")
        return
    drawn = False
    try:
        from ui import player

        state = player.trajectory_player(
            t=display.t[display.frame_idx],
            x=display.x3,
            clusters=display.labels,
            ellipsoid=display.ellipsoid,
            trails=True,
            camera_preset="pole" if display.flat else "oblique",
            key="lab_player",
            height=PLAYER_HEIGHT,
            start_frame=-1,
        )
        drawn = state.error is None
    except Exception as exc:
        log.exception("3D player failed")
        st.warning(f"The 3D player could not start ({escaped(exc)}); showing a static view.")
    if not drawn:
        from ui.figures import static_sphere_figure

        fig = static_sphere_figure(
            display.x3[-1], display.labels[-1], ellipsoid=display.ellipsoid, trails=display.x3
        )
        st.plotly_chart(fig, width="stretch", key="lab_static_3d", config={"displaylogo": False}, theme=None)
    notes = [f"Run: {display.verdict}", *display.notes]
    st.caption("  \n".join(notes))


def scenario_panel(theorem_id: str, scenario: Scenario | None, preset: Preset | None) -> None:
    if preset is not None:
        st.markdown(f"**Lesson — {preset.title}**")
        st.caption(f"{preset.caption}  \n*Source: {preset.source}*")
    st.markdown("**Link to this view** (the copy button is on the right)")
    st.code(view_link(theorem_id, scenario, preset), language=None, wrap_lines=False)


def status_line(scenario: Scenario, base: Scenario, preset: Preset | None, origin: str | None) -> None:
    if origin is not None and origin != "the link's scenario":
        st.info(
            f"**Counter-example loaded:** {origin}. Watch the ✗ and what the run does now.",
            icon=":material/call_split:",
        )
    elif origin is not None:
        st.caption("Scenario from the link.")
    if scenario != base:
        st.caption("Modified with the sidebar controls — *Back to the lesson* undoes everything.")


# ------------------------------------------------------------------------------------ page
#: Narrower side margins than Streamlit's wide layout (5rem): card and player side by side at 1280 px.
PAGE_CSS = """<style>
.stMainBlockContainer, [data-testid="stMainBlockContainer"] { padding-left: 2rem; padding-right: 2rem; }
</style>"""


def main() -> None:
    session.leave_legacy_pages_mode()
    st.html(PAGE_CSS)
    refused = lesson_link.take_refusals()  # over-long values: dropped before anything reads them
    raw = st.query_params.get_all(THEOREM_KEY)
    adopt_linked_theorem(raw[-1] if raw else None)
    with st.sidebar:
        theorem_id = st.selectbox(
            "Theorem",
            IDS,
            key=THEOREM_KEY,
            persist_state="session",
            format_func=theorem_name,
            help="A result of the papers; its lesson loads with it.",
        )
    write_theorem_to_url(theorem_id)
    if raw and raw[-1] not in IDS:
        st.warning(
            f"This link asks for an unknown theorem {literal(raw[-1])}; showing "
            f"*{theorem_name(theorem_id)}*. Pick one in the sidebar.",
            icon=":material/link_off:",
        )
    if refused:
        st.warning(
            f"This link had values the lab cannot use: {'; '.join(refused)}.", icon=":material/link_off:"
        )
    link_problem = ensure_loaded(theorem_id)
    if link_problem:
        st.error(
            f"The link's scenario was refused ({escaped(link_problem)}); showing the lesson.",
            icon=":material/link_off:",
        )
    ss = _state()
    base = None if ss.get(BASE) is None else Scenario.from_json(ss[BASE])
    preset = preset_for(theorem_id)
    with st.sidebar:
        values = sidebar(theorem_id, base)

    scenario: Scenario | None = None
    if base is not None:
        try:
            scenario = apply_controls(base, values, float(ss.get(V1_DEFAULT, values[V1_KEY])))
        except ScenarioError as exc:
            st.error(f"These controls give no valid scenario: {escaped(exc)}", icon=":material/error:")
            scenario = base
    sync_url(scenario, preset)

    left, right = st.columns([1.12, 1], gap="medium")
    card: Card | None = None
    with left:
        if scenario is None:  # a Euclidean-model result: its example scenario of that model
            card = euclidean_card(theorem_id)
            theorem_card(card, compact=False, key="lab")
        else:
            status_line(scenario, base, preset, ss.get(ORIGIN))
            try:
                cards = cached_cards(scenario)
            except ScenarioError as exc:
                st.error(f"This scenario cannot be run: {escaped(exc)}", icon=":material/error:")
                cards = evaluate(scenario)
            card = next(c for c in cards if c.id == theorem_id)
            theorem_card(
                card,
                compact=False,
                key="lab",
                scenario=scenario,
                on_counter_example=_load_counter_example,
                run_summary=run_summary(scenario),
            )
    with right:
        if scenario is None:
            st.info(
                f"**No sphere here** — this result {EUCLIDEAN_MESSAGE}, with its pictures. The card on "
                "the left is evaluated on the example scenario of that model.",
                icon=":material/construction:",
            )
            st.markdown(f"[Open the Euclidean model page ↗]({EUCLIDEAN_URL_PATH})")
        else:
            player_panel(scenario)
        scenario_panel(theorem_id, scenario, preset)


try:
    main()
except ScenarioError as exc:
    st.error(f"Something in this view is not a valid scenario: {escaped(exc)}", icon=":material/error:")
except Exception as exc:  # the page must never show a traceback to a class
    log.exception("theorem lab failed")
    st.error(
        f"Something went wrong while drawing this view ({type(exc).__name__}: {escaped(exc)}). "
        "Pick the theorem again or press *Back to the lesson*.",
        icon=":material/error:",
    )
