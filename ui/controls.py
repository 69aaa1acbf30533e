"""Sidebar widget groups → a validated ``Scenario``.

Every value widget is bound to the URL (``bind="query-params"``) under the name of the Scenario
field it sets (``n``, ``d``, ``beta``, ``mask``, …), so a copied link reproduces the view. The
widgets' defaults are the current lesson's values, hence the URL only holds what differs from
the lesson; the lesson itself is ``lesson=<preset key>`` (synchronised by hand: a bound selectbox
would put its display title in the URL).

URL parameters (besides the Scenario fields listed in :data:`URL_PARAMS`):
``lesson`` preset key · ``v_eig1`` … ``v_eig4`` V's eigenvalues for d ≤ 4 (``v_eigs`` comma-
separated beyond; a ``v_eigs`` link also works for d ≤ 4) · ``tokens`` tokens placed by hand in
the player (:mod:`ui.token_link`) · ``view``, ``trails``, ``cam``, ``frame`` what the player last
reported (written by the explorer page) · ``hide``, ``embed``, ``autoplay`` (lesson links,
:mod:`ui.lesson`).

Tokens placed by hand in the player set ``x0`` and are in the link (``tokens=``, at most
:data:`ui.token_link.MAX_TOKENS`); uploaded tokens (CSV/NPY, the "Initial tokens" group) set ``x0``
for the session only: they are not in the link (a note says so). A lesson switch, Reset and New
seed forget hand-placed tokens; a lesson switch and Reset also send the player back to t = 0.

``scenario_controls()`` draws the widgets (call it inside ``with st.sidebar``) and returns a
:class:`Controls`; it never raises for bad input: the engine's message is in ``Controls.error``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from dynamics import Scenario, ScenarioError
from dynamics.attention import KINDS as ATTENTION_REGISTRY
from dynamics.presets import DEFAULT_PRESET, PRESETS, Preset
from ui import lesson as lesson_link
from ui import token_link, uploads
from ui.text import escaped, literal

LESSONS: dict[str, Preset] = {p.key: p for p in PRESETS}
LESSON_PARAM = "lesson"
MAX_SLIDER_EIGS = 4  # one slider per eigenvalue up to this d, a text field beyond
BIND: dict[str, Any] = {"bind": "query-params", "persist_state": "session"}
#: Session keys: the hand-placed tokens (link text) and the player's start request counter.
HAND_TOKENS_KEY = "_hand_tokens"
START_NONCE_KEY = "_start_nonce"

POLES = ("north", "e1")
INITS = ("uniform", "hemisphere", "cap", "antipodal", "great_circle")
DT_CHOICES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)

# The widget ranges (kept wide enough for every preset; the engine validates the rest).
N_RANGE = (2, 512)
D_RANGE = (2, 256)
BETA_RANGE = (0.0, 20.0)
HEADS_RANGE = (1, 8)
EIG_RANGE = (-3.0, 3.0)
T_RANGE = (1.0, 400.0)

#: URL parameter → what it sets (documentation and tests).
URL_PARAMS: dict[str, str] = {
    "lesson": "preset key (dynamics.presets); the other parameters override its values",
    "n": "number of tokens",
    "d": "dimension (2: circle, 3: sphere, > 3: PCA view)",
    "beta": "inverse temperature β",
    "n_heads": "number of attention heads",
    "v_eig1": "V's eigenvalues one by one (d ≤ 4): v_eig1 … v_eig4",
    "v_eigs": "V's eigenvalues, comma-separated (d > 4; also accepted for d ≤ 4)",
    "v_basis": "identity | random",
    "v_symmetric": "true | false",
    "qk": "identity | spd | gaussian",
    "qk_eigs": "QᵀK's eigenvalues, comma-separated (qk=spd)",
    "qk_amp": "amplitude of the time variation of QᵀK",
    "qk_omega": "its angular frequency",
    "mask": "none | causal",
    "attention": " | ".join(ATTENTION_REGISTRY),
    "init": "uniform | hemisphere | cap | antipodal | great_circle",
    "pole": "north | e1 (hemisphere / cap centre)",
    "margin": "hemisphere margin: min ⟨x_i, pole⟩",
    "cap_angle": "cap half-angle (radians)",
    "T": "horizon",
    "integrator": "euler | rk4 | adaptive",
    "dt": "step (0.005 … 0.5)",
    "seed": "random seed of tokens and weights",
    "tokens": "tokens placed by hand in the player: dimension + 4 (d = 3) or 2 (d = 2) base64url "
    "characters per token (ui.token_link; at most 128 tokens)",
    "view": "the player's camera preset: pole | equator | eigvec (V's top eigenvector); default 3/4",
    "trails": "true | false (the player's trails switch)",
    "cam": "the camera the user left (eye, up, center: 9 numbers)",
    "head": "head of the attention heatmap (mean | 1 | 2 | …)",
    "hide": "controls to hide, comma-separated (e.g. beta,n_heads,mask; groups model, tokens, "
    "weights, solver; the player's view, trails, edit; all)",
    "embed": "true: no sidebar, compact header (for slides and iframes)",
    "frame": "the player's frame (the page's time: curves cursor, heatmap); default 0",
    "autoplay": "true: start playing when the sphere is drawn",
}


#: Keys of the sidebar's value widgets (each a URL parameter).
SCENARIO_WIDGETS = frozenset(
    {
        "n",
        "d",
        "beta",
        "n_heads",
        "v_eigs",
        "v_basis",
        "v_symmetric",
        "qk",
        "qk_eigs",
        "qk_amp",
        "qk_omega",
        "mask",
        "attention",
        "init",
        "pole",
        "margin",
        "cap_angle",
        "T",
        "integrator",
        "dt",
        "seed",
        *(f"v_eig{i + 1}" for i in range(MAX_SLIDER_EIGS)),
    }
)


@dataclass(frozen=True)
class Controls:
    """What the sidebar produced."""

    lesson: Preset
    scenario: Scenario | None
    error: str | None
    weights_locked: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: The link's unusable values, each a Markdown fragment with the value in a code span
    #: (:func:`ui.text.literal`): display as is, never re-escape, never insert raw user text.
    url_problems: tuple[str, ...] = field(default_factory=tuple)
    by_hand: bool = False

    @property
    def modified(self) -> bool:
        return self.scenario is not None and self.scenario != self.lesson.scenario


# ------------------------------------------------------------------------------------ helpers
def fmt_numbers(values: Sequence[float]) -> str:
    return ", ".join(format(float(v), "g") for v in values)


_SPLIT = re.compile(r"[,;\s]+")


def parse_numbers(text: str, d: int, name: str) -> tuple[tuple[float, ...] | None, str | None]:
    """Comma-separated numbers → (values, None) or (None, a one-line message in Markdown: the
    offending text shown literally)."""
    parts = [p for p in _SPLIT.split(str(text).strip()) if p]
    if not parts:
        return None, f"{name}: enter {d} numbers separated by commas"
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            return None, f"{name}: {literal(p)} is not a number"
        if not math.isfinite(v):
            return None, f"{name}: {literal(p)} is not a finite number"
        values.append(v)
    if len(values) != d:
        return None, f"{name}: expected {d} numbers (one per dimension), got {len(values)}"
    return tuple(values), None


def resize(values: Sequence[float], d: int, fill: float = 1.0) -> tuple[float, ...]:
    vals = [float(v) for v in values][:d]
    return tuple(vals + [fill] * (d - len(vals)))


def lesson_v_eigs(preset: Preset) -> tuple[float, ...]:
    s = preset.scenario
    if s.value == "spectrum" and s.v_eigs is not None:
        return tuple(s.v_eigs)
    return (1.0,) * s.d


def lesson_qk_eigs(preset: Preset) -> tuple[float, ...]:
    s = preset.scenario
    return tuple(s.qk_eigs) if s.qk_eigs is not None else (1.0,) * s.d


def _pole_choice(s: Scenario) -> str:
    if s.pole is not None and s.pole[0] > 0 and all(v == 0 for v in s.pole[1:]):
        return "e1"
    return "north"


def _snap(value: float, choices: Sequence[float]) -> float:
    return min(choices, key=lambda c: abs(c - value))


def lesson_values(preset: Preset, d: int | None = None) -> dict[str, Any]:
    """Widget values that reproduce ``preset`` (vectors resized to ``d`` when given)."""
    s = preset.scenario
    d = s.d if d is None else d
    eigs = resize(lesson_v_eigs(preset), d)
    vals: dict[str, Any] = {
        "n": int(min(max(s.n, N_RANGE[0]), N_RANGE[1])),
        "d": int(s.d),
        "beta": float(s.beta),
        "n_heads": int(s.n_heads),
        "v_basis": s.v_basis,
        "v_symmetric": bool(s.v_symmetric),
        "v_eigs": fmt_numbers(eigs),
        "qk": s.qk,
        "qk_eigs": fmt_numbers(resize(lesson_qk_eigs(preset), d)),
        "qk_amp": float(s.qk_amp),
        "qk_omega": float(s.qk_omega),
        "mask": s.mask,
        "attention": s.attention,
        "init": s.init,
        "pole": _pole_choice(s),
        "margin": float(s.margin),
        "cap_angle": float(s.cap_angle),
        "T": float(min(max(s.T, T_RANGE[0]), T_RANGE[1])),
        "integrator": s.integrator,
        "dt": _snap(s.dt, DT_CHOICES),
        "seed": int(s.seed),
    }
    for i in range(MAX_SLIDER_EIGS):
        vals[f"v_eig{i + 1}"] = eigs[i] if i < len(eigs) else 1.0
    return vals


def _state() -> Any:
    return st.session_state


def _apply(values: dict[str, Any], *, skip: tuple[str, ...] = ()) -> None:
    ss = _state()
    for key, value in values.items():
        if key not in skip:
            ss[key] = value
    ss.pop("_v_eigs_good", None)
    ss.pop("_qk_eigs_good", None)


def lesson_title(key: str) -> str:
    """Display name of a lesson (module-level: widget metadata must be picklable)."""
    preset = LESSONS.get(key)
    return preset.title if preset is not None else str(key)


def current_lesson() -> Preset:
    return LESSONS.get(_state().get("_lesson", DEFAULT_PRESET.key), DEFAULT_PRESET)


# ------------------------------------------------------------------------------------ callbacks
def _restart_player() -> None:
    """An explicit user action: the player goes back to t = 0 (its start request changes)."""
    ss = _state()
    ss[START_NONCE_KEY] = int(ss.get(START_NONCE_KEY, 0)) + 1


def forget_hand_tokens() -> None:
    _state().pop(HAND_TOKENS_KEY, None)


def _on_lesson() -> None:
    preset = current_lesson()
    _apply(lesson_values(preset))
    _state()["_d_prev"] = preset.scenario.d
    forget_hand_tokens()
    _restart_player()


def _on_reset() -> None:
    """Restore the lesson's values but keep the seed."""
    preset = current_lesson()
    _apply(lesson_values(preset), skip=("seed",))
    _state()["_d_prev"] = preset.scenario.d
    forget_hand_tokens()
    _restart_player()


def _on_new_seed() -> None:
    _state()["seed"] = random.randrange(0, 2**31)
    forget_hand_tokens()


def start_request() -> str:
    """The player's start id: changes on a lesson switch and on Reset, never on an ordinary rerun."""
    ss = _state()
    return f"{ss.get('_lesson', DEFAULT_PRESET.key)}:{int(ss.get(START_NONCE_KEY, 0))}"


def hand_tokens() -> Any:
    """The hand-placed tokens of this session as an (n, d) array, or None."""
    code = _state().get(HAND_TOKENS_KEY)
    if not code:
        return None
    try:
        return token_link.decode(code)
    except token_link.TokenLinkError:
        forget_hand_tokens()
        return None


def set_hand_tokens(x: Any) -> str:
    """Store tokens placed in the player (rounded to the link's resolution); returns the link text."""
    code = token_link.encode(x)
    _state()[HAND_TOKENS_KEY] = code
    return code


def _current_eigs(d: int) -> tuple[float, ...]:
    """V's eigenvalues as the widgets of dimension ``d`` hold them (best effort)."""
    ss = _state()
    if d <= MAX_SLIDER_EIGS:
        return tuple(float(ss.get(f"v_eig{i + 1}", 1.0)) for i in range(d))
    good = ss.get("_v_eigs_good")
    parsed, _ = parse_numbers(ss.get("v_eigs", ""), d, "v_eigs")
    return parsed or (tuple(good) if good else (1.0,) * d)


def _on_d() -> None:
    """Carry V's and QᵀK's eigenvalues over to the new dimension (pad with 1, truncate)."""
    ss = _state()
    new = int(ss.get("d", 3))
    old = int(ss.get("_d_prev", new))
    eigs = resize(_current_eigs(old), new)
    if new <= MAX_SLIDER_EIGS:
        for i in range(new):
            ss[f"v_eig{i + 1}"] = min(max(eigs[i], EIG_RANGE[0]), EIG_RANGE[1])
    else:
        ss["v_eigs"] = fmt_numbers(eigs)
    qk, _ = parse_numbers(ss.get("qk_eigs", ""), old, "qk_eigs")
    ss["qk_eigs"] = fmt_numbers(resize(qk or ss.get("_qk_eigs_good") or (), new))
    ss.pop("_v_eigs_good", None)
    ss.pop("_qk_eigs_good", None)
    ss["_d_prev"] = new


# ------------------------------------------------------------------------------------ URL sync
def _sync_lesson_from_url() -> None:
    """Seed the lesson from ``?lesson=`` once per session (invalid keys are ignored)."""
    ss = _state()
    if "_lesson" in ss:
        return
    key = st.query_params.get(LESSON_PARAM)
    ss["_lesson"] = key if key in LESSONS else DEFAULT_PRESET.key
    ss["_d_prev"] = None  # set after the d widget runs


def _snapshot_url() -> None:
    """Remember the link's parameters on a session's first run (to report unusable ones)."""
    ss = _state()
    if "_url_snapshot" not in ss:
        ss["_url_snapshot"] = {k: str(st.query_params.get(k)) for k in st.query_params}
        ss["_url_checked"] = False


def _sync_tokens_from_url() -> str | None:
    """Seed the hand-placed tokens from ``?tokens=`` once per session; the problem if unusable."""
    ss = _state()
    if ss.get("_tokens_link_done"):
        return None
    ss["_tokens_link_done"] = True
    x, problem = token_link.parse(st.query_params.get(token_link.TOKENS_PARAM))
    if x is not None:
        ss[HAND_TOKENS_KEY] = token_link.encode(x)
    return problem


def _write_tokens_to_url() -> None:
    code = _state().get(HAND_TOKENS_KEY)
    param = token_link.TOKENS_PARAM
    if code:
        if st.query_params.get(param) != code:
            st.query_params[param] = code
    elif param in st.query_params:
        del st.query_params[param]


INT_WIDGETS = frozenset({"n", "d", "n_heads", "seed"})
FLOAT_WIDGETS = frozenset(
    {"beta", "margin", "cap_angle", "qk_amp", "qk_omega", "T", "dt"}
    | {f"v_eig{i + 1}" for i in range(MAX_SLIDER_EIGS)}
)


def _usable_number(raw: str, integer: bool) -> bool:
    try:
        v = float(str(raw).strip())
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isfinite(v) and (not integer or abs(v) < 2**62)


def _drop_unusable_numbers() -> None:
    """Remove numeric link values Streamlit cannot even deserialize before the widgets run.

    Streamlit 1.67's bound number_input does ``int(float(value))`` on the URL value: ``seed=inf``
    or ``seed=1e400`` would raise OverflowError inside the widget. Dropped values are still in the
    snapshot, so :func:`_url_problems` names them.
    """
    dropped = False
    for key in list(st.query_params):
        if key in INT_WIDGETS or key in FLOAT_WIDGETS:
            if not _usable_number(st.query_params.get(key, ""), key in INT_WIDGETS):
                try:
                    del st.query_params[key]
                    dropped = True
                except Exception:  # pragma: no cover - a bound widget already owns it
                    pass
    if dropped:
        lesson_link.refresh_bound_params()


def _matches(raw: str, value: Any) -> bool:
    if isinstance(value, bool):
        return raw.strip().lower() in ("true", "false") and (raw.strip().lower() == "true") == value
    if isinstance(value, int | float):
        try:
            return math.isclose(float(raw), float(value), rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            return False
    return str(raw) == str(value)


def _url_problems(extra: list[str]) -> tuple[str, ...]:
    """Link parameters (first run only) that the widgets refused: Streamlit silently replaces an
    invalid bound value by the default; say so instead."""
    ss = _state()
    if ss.get("_url_checked", True):
        return ()
    ss["_url_checked"] = True
    problems = list(extra)
    for key, raw in ss.get("_url_snapshot", {}).items():
        if key == LESSON_PARAM:
            if raw not in LESSONS:
                problems.append(f"{literal(f'{key}={raw}')} (unknown lesson)")
        elif key in SCENARIO_WIDGETS and key in ss and not _matches(raw, ss[key]):
            problems.append(literal(f"{key}={raw}"))
    return tuple(problems)


def _write_lesson_to_url(key: str) -> None:
    if key == DEFAULT_PRESET.key:
        if LESSON_PARAM in st.query_params:
            del st.query_params[LESSON_PARAM]
    elif st.query_params.get(LESSON_PARAM) != key:
        st.query_params[LESSON_PARAM] = key


def _v_eigs_link_for_small_d(d: int) -> str | None:
    """Accept ``?v_eigs=a,b,c`` (Scenario.to_query's form) for d ≤ 4 on a session's first run.

    Returns a description of the parameter when it could not be used.
    """
    ss = _state()
    if ss.get("_v_link_done"):
        return None
    ss["_v_link_done"] = True
    raw = st.query_params.get("v_eigs")
    if raw is None or d > MAX_SLIDER_EIGS:
        return None
    values, problem = parse_numbers(raw, d, "v_eigs")
    if values is not None:
        for i, v in enumerate(values):
            ss[f"v_eig{i + 1}"] = min(max(v, EIG_RANGE[0]), EIG_RANGE[1])
    try:
        del st.query_params["v_eigs"]
    except Exception:  # a bound widget owns it: leave it
        pass
    return None if values is not None else f"{literal(f'v_eigs={raw}')} ({problem})"


# ------------------------------------------------------------------------------------ widgets
def _text_numbers(
    label: str, key: str, default: str, d: int, help_text: str, notes: list[str], fallback: Sequence[float]
) -> tuple[float, ...]:
    """A text spectrum editor: bad text → a message and the previous good value."""
    text = st.text_input(label, value=default, key=key, help=help_text, **BIND)
    values, problem = parse_numbers(text, d, label)
    good_key = f"_{key}_good"
    if values is not None:
        _state()[good_key] = values
        return values
    previous = _state().get(good_key)
    kept = tuple(previous) if previous is not None and len(previous) == d else resize(fallback, d)
    st.warning(f"{problem}. Keeping {fmt_numbers(kept)}.", icon="⚠️")
    notes.append(f"{problem}; kept the previous value.")
    return kept


def _group(title: str, expanded: bool, name: str) -> Any:
    return st.expander(title, expanded=expanded, key=lesson_link.GROUP_KEY[name])


UPLOAD_KEY = "_upload_x0"


def _uploaded_tokens(notes: list[str]) -> Any:
    """The "upload tokens" control: (n, d) float array, or None. Refusals are shown, not raised."""
    with st.container(key="_upload_box"):
        up = st.file_uploader(
            "Upload tokens (CSV/NPY)",
            type=["csv", "txt", "npy"],
            key=UPLOAD_KEY,
            max_upload_size=1,
            on_change=forget_hand_tokens,
            help="n rows × d columns of coordinates (each row is normalised onto the sphere); "
            f"at most {uploads.MAX_TOKENS} tokens and {uploads.MAX_DIM} columns. "
            "Replaces the random initial tokens; not stored in the link (tokens placed by hand in "
            "the player are).",
        )
    if up is None:
        return None
    try:
        x0 = uploads.parse_tokens(up.name, up.getvalue())
    except uploads.UploadError as exc:
        st.warning(f"{literal(up.name)}: {escaped(exc)}. Using the lesson's initial tokens.", icon="⚠️")
        notes.append(f"upload refused: {escaped(exc)}")
        return None
    st.caption(f"Using {uploads.describe(x0)} (not in the link).")
    return x0


@dataclass
class _Sidebar:
    """What the widget groups share while the sidebar is drawn."""

    preset: Preset
    weights_locked: bool
    geometry_locked: bool
    by_hand: Any  # hand-placed tokens (n, d) or None
    notes: list[str] = field(default_factory=list)
    link_problems: list[str] = field(default_factory=list)

    @property
    def base(self) -> Scenario:
        return self.preset.scenario


def scenario_controls() -> Controls:
    """Draw the sidebar controls and return the scenario they describe (or the engine's error)."""
    refused = lesson_link.take_refusals()  # over-long values: dropped before anything reads them
    _snapshot_url()
    _drop_unusable_numbers()
    _sync_lesson_from_url()
    tokens_problem = _sync_tokens_from_url()
    link = lesson_link.current_link()
    hide_css = lesson_link.hide_css(link.hidden - lesson_link.PAGE_PARTS)
    if hide_css:
        st.html(hide_css)
    preset = _lesson_picker()
    base = preset.scenario
    ctx = _Sidebar(
        preset,
        weights_locked=base.heads is not None or base.value == "gaussian",
        geometry_locked=base.P is not None or base.heads is not None,
        by_hand=hand_tokens(),
        link_problems=[*refused, *([tokens_problem] if tokens_problem else [])],
    )
    _write_tokens_to_url()
    _lesson_buttons()
    fields, d = _model_group(ctx)
    lv = lesson_values(preset, d)
    tokens, x0 = _tokens_group(ctx, lv, d)
    fields.update(tokens)
    fields.update(_weights_group(ctx, lv, d))
    fields.update(_solver_group(lv))
    if x0 is not None and ctx.geometry_locked and x0.shape[1] != base.d:
        st.warning(
            f"This lesson's matrices fix d = {base.d}; these tokens have d = {x0.shape[1]}. "
            "Using the lesson's initial tokens.",
            icon="⚠️",
        )
    elif x0 is not None:
        fields = _with_tokens(fields, x0)
    _state()["_d_prev"] = d
    scenario, error = _build(base, fields)
    return Controls(
        preset,
        scenario,
        error,
        ctx.weights_locked,
        tuple(ctx.notes),
        _url_problems([*ctx.link_problems, *link.problems]),
        ctx.by_hand is not None,
    )


def _lesson_picker() -> Preset:
    lesson_key = st.selectbox(
        "Lesson",
        list(LESSONS),
        format_func=lesson_title,
        key="_lesson",
        on_change=_on_lesson,
        persist_state="session",
        help="A preset scenario with its story; every control below starts from its values.",
    )
    preset = LESSONS.get(lesson_key, DEFAULT_PRESET)
    _write_lesson_to_url(preset.key)
    return preset


def _lesson_buttons() -> None:
    b1, b2 = st.columns(2)
    b1.button(
        "Reset",
        icon=":material/restart_alt:",
        key="_reset",
        on_click=_on_reset,
        width="stretch",
        help="Restore the lesson's values, keeping the current seed.",
    )
    b2.button(
        "New seed",
        icon=":material/casino:",
        key="_new_seed",
        on_click=_on_new_seed,
        width="stretch",
        help="Draw new random tokens and weights (same parameters).",
    )


def _model_group(ctx: _Sidebar) -> tuple[dict[str, Any], int]:
    """n, β, d, heads, mask, attention → (Scenario fields, d)."""
    base, by_hand = ctx.base, ctx.by_hand is not None
    lv = lesson_values(ctx.preset)
    fields: dict[str, Any] = {}
    with _group("Model", True, "model"):
        fields["n"] = int(
            st.slider(
                "n (tokens)",
                *N_RANGE,
                value=lv["n"],
                key="n",
                disabled=by_hand,
                help="Number of tokens x₁ … x_n (particles on the sphere)."
                + (" Set by the tokens placed by hand." if by_hand else ""),
                **BIND,
            )
        )
        fields["beta"] = float(
            st.slider(
                "β (inverse temperature)",
                *BETA_RANGE,
                value=lv["beta"],
                step=0.1,
                key="beta",
                help="Scales the scores β⟨x_i, QᵀK x_j⟩: small β → uniform attention, large β → "
                "local attention and long-lived clusters.",
                **BIND,
            )
        )
        d = st.number_input(
            "d (dimension)",
            min_value=D_RANGE[0],
            max_value=D_RANGE[1],
            value=base.d,
            step=1,
            key="d",
            on_change=_on_d,
            disabled=ctx.geometry_locked or by_hand,
            help="Ambient dimension: 2 → the circle, 3 → the sphere, > 3 → a 3D PCA projection."
            + (" This lesson's matrices fix d." if ctx.geometry_locked else "")
            + (" Set by the tokens placed by hand." if by_hand else ""),
            **BIND,
        )
        d = int(d) if not ctx.geometry_locked else base.d
        fields["d"] = d
        if _state().get("_d_prev") is None:
            _state()["_d_prev"] = d
        lv = lesson_values(ctx.preset, d)
        n_heads = st.slider(
            "Heads",
            *HEADS_RANGE,
            value=min(max(lv["n_heads"], 1), HEADS_RANGE[1]),
            key="n_heads",
            disabled=ctx.weights_locked,
            help="Number of attention heads; their velocities add up.",
            **BIND,
        )
        if not ctx.weights_locked:
            fields["n_heads"] = int(n_heads)
        fields["mask"] = st.radio(
            "Mask",
            ("none", "causal"),
            index=("none", "causal").index(lv["mask"]),
            key="mask",
            horizontal=True,
            help="causal: token i attends only to tokens j ≤ i.",
            **BIND,
        )
        kinds = tuple(ATTENTION_REGISTRY)
        fields["attention"] = st.selectbox(
            "Attention",
            kinds,
            index=kinds.index(lv["attention"]),
            key="attention",
            help="; ".join(k.help for k in ATTENTION_REGISTRY.values()) + ".",
            **BIND,
        )
    return fields, d


def _pole_fields(lv: dict[str, Any], init: str, d: int, base: Scenario) -> dict[str, Any]:
    """Pole, margin and cap angle of a hemisphere / cap start (drawn only for those)."""
    fields: dict[str, Any] = {}
    if init not in ("hemisphere", "cap"):
        if base.pole is not None and len(base.pole) != d:
            fields["pole"] = None
        return fields
    pole = st.radio(
        "Pole",
        POLES,
        index=POLES.index(lv["pole"]),
        key="pole",
        horizontal=True,
        help="Centre of the hemisphere / cap: the north pole e_d or the first axis e₁.",
        **BIND,
    )
    fields["pole"] = None if pole == "north" else (1.0,) + (0.0,) * (d - 1)
    if init == "hemisphere":
        fields["margin"] = float(
            st.slider(
                "Margin",
                0.0,
                0.9,
                value=lv["margin"],
                step=0.05,
                key="margin",
                help="Every token has ⟨x_i, pole⟩ ≥ margin (0: the whole open hemisphere).",
                **BIND,
            )
        )
    else:
        fields["cap_angle"] = float(
            st.slider(
                "Cap angle (rad)",
                0.05,
                3.1,
                value=lv["cap_angle"],
                step=0.05,
                key="cap_angle",
                help="Half-angle of the cap around the pole (π/2 = a hemisphere).",
                **BIND,
            )
        )
    return fields


def _tokens_group(ctx: _Sidebar, lv: dict[str, Any], d: int) -> tuple[dict[str, Any], Any]:
    """The initial tokens → (Scenario fields, explicit tokens x0 or None)."""
    with _group("Initial tokens", True, "tokens"):
        init = st.selectbox(
            "Initial tokens",
            INITS,
            index=INITS.index(lv["init"]),
            key="init",
            label_visibility="collapsed",
            help="uniform on the sphere · in an open hemisphere · in a cap · antipodal pairs x, −x "
            "(in no open hemisphere) · evenly on a great circle.",
            **BIND,
        )
        fields: dict[str, Any] = {"init": init, **_pole_fields(lv, init, d, ctx.base)}
        fields["seed"] = int(
            st.number_input(
                "Seed",
                min_value=0,
                max_value=2**32 - 1,
                value=lv["seed"],
                step=1,
                key="seed",
                help="Random seed of the initial tokens and of the random weights.",
                **BIND,
            )
        )
        x0 = _uploaded_tokens(ctx.notes)
        if ctx.by_hand is not None:
            c1, c2 = st.columns([3, 2], vertical_alignment="center")
            c1.caption(f"{len(ctx.by_hand)} tokens placed by hand (in the link).")
            c2.button(
                "Forget",
                key="_forget_tokens",
                on_click=forget_hand_tokens,
                icon=":material/undo:",
                help="Go back to the initial tokens drawn from the seed.",
            )
            x0 = ctx.by_hand
    return fields, x0


def _v_spectrum(ctx: _Sidebar, lv: dict[str, Any], d: int) -> tuple[float, ...]:
    """V's eigenvalues: one slider each up to d = 4, a text field beyond."""
    if d > MAX_SLIDER_EIGS:
        return _text_numbers(
            "V eigenvalues",
            "v_eigs",
            lv["v_eigs"],
            d,
            f"The {d} eigenvalues of V, comma-separated (e.g. 2, -0.5, 1, …).",
            ctx.notes,
            resize(lesson_v_eigs(ctx.preset), d),
        )
    problem = _v_eigs_link_for_small_d(d)
    if problem:
        ctx.link_problems.append(problem)
    return tuple(
        st.slider(
            f"λ{i + 1}(V)",
            *EIG_RANGE,
            value=float(lv[f"v_eig{i + 1}"]),
            step=0.1,
            key=f"v_eig{i + 1}",
            disabled=ctx.weights_locked,
            help=f"Eigenvalue {i + 1} of the value matrix V (all 1 with the identity basis: V = I).",
            **BIND,
        )
        for i in range(d)
    )


def _weights_group(ctx: _Sidebar, lv: dict[str, Any], d: int) -> dict[str, Any]:
    """V's spectrum and basis, QᵀK and its time variation → Scenario fields (none when the lesson
    fixes its matrices)."""
    base, locked = ctx.base, ctx.weights_locked
    plain_weights = base.value == "identity" and base.qk == "identity" and base.qk_amp == 0
    with _group("Weights V and QᵀK", not (locked or plain_weights), "weights"):
        if locked:
            st.caption("This lesson fixes its weight matrices explicitly; they are not editable here.")
        eigs = _v_spectrum(ctx, lv, d)
        v_basis = st.radio(
            "V basis",
            ("identity", "random"),
            index=("identity", "random").index(lv["v_basis"]),
            key="v_basis",
            horizontal=True,
            disabled=locked,
            help="identity: V = diag(λ); random: V = R diag(λ) R⁻¹ with a random R.",
            **BIND,
        )
        v_symmetric = st.toggle(
            "Symmetric V",
            value=lv["v_symmetric"],
            key="v_symmetric",
            disabled=locked or v_basis == "identity",
            help="With a random basis: R orthogonal (V symmetric) or a general R (V not normal).",
            **BIND,
        )
        qk = st.selectbox(
            "QᵀK",
            ("identity", "spd", "gaussian"),
            index=("identity", "spd", "gaussian").index(lv["qk"]),
            key="qk",
            disabled=locked,
            help="Key–query product: identity, symmetric positive definite with chosen "
            "eigenvalues, or random Gaussian Q and K.",
            **BIND,
        )
        qk_eigs = None
        if qk == "spd" and not locked:
            qk_eigs = _text_numbers(
                "QᵀK eigenvalues",
                "qk_eigs",
                lv["qk_eigs"],
                d,
                f"The {d} positive eigenvalues of QᵀK, comma-separated.",
                ctx.notes,
                (1.0,) * d,
            )
        qk_amp = st.slider(
            "Time variation of QᵀK",
            0.0,
            2.0,
            value=lv["qk_amp"],
            step=0.05,
            key="qk_amp",
            disabled=locked,
            help="Amplitude a of K(t) = K₀ + a·G·sin(ωt + phase): bounded, time-varying weights.",
            **BIND,
        )
        qk_omega = lv["qk_omega"]
        if qk_amp > 0 and not locked:
            qk_omega = st.slider(
                "ω (frequency)",
                0.1,
                5.0,
                value=lv["qk_omega"],
                step=0.1,
                key="qk_omega",
                help="Angular frequency of the time variation.",
                **BIND,
            )
    if locked:
        return {}
    if v_basis == "identity" and all(e == 1.0 for e in eigs):
        fields: dict[str, Any] = {
            "value": "identity",
            "v_eigs": None,
            "v_basis": "identity",
            "v_symmetric": True,
        }
    else:
        fields = {"value": "spectrum", "v_eigs": eigs, "v_basis": v_basis, "v_symmetric": bool(v_symmetric)}
    fields.update(qk=qk, qk_eigs=qk_eigs, qk_amp=float(qk_amp), qk_omega=float(qk_omega))
    return fields


def _solver_group(lv: dict[str, Any]) -> dict[str, Any]:
    with _group("Solver", False, "solver"):
        T = st.slider(
            "T (horizon)",
            *T_RANGE,
            value=lv["T"],
            step=1.0,
            key="T",
            help="Integrate from t = 0 to T (depth of the transformer, in continuous time).",
            **BIND,
        )
        integrator = st.selectbox(
            "Integrator",
            ("euler", "rk4", "adaptive"),
            index=("euler", "rk4", "adaptive").index(lv["integrator"]),
            key="integrator",
            help="euler = a stack of discrete attention layers; rk4 = accurate fixed steps; "
            "adaptive = scipy DOP853 with error control.",
            **BIND,
        )
        dt = st.select_slider(
            "dt (step)",
            DT_CHOICES,
            value=lv["dt"],
            key="dt",
            help="Step size (the first step of the adaptive integrator).",
            **BIND,
        )
    return {"T": float(T), "integrator": integrator, "dt": float(dt)}


def _with_tokens(fields: dict[str, Any], x0: Any) -> dict[str, Any]:
    """Scenario fields for uploaded tokens: x0 sets n and d; V's and QᵀK's spectra follow the
    upload's d (resized, padded with 1)."""
    n, d = (int(v) for v in x0.shape)
    out = dict(fields, x0=x0.tolist(), n=n, d=d)
    for key in ("v_eigs", "qk_eigs"):
        v = out.get(key)
        if v is not None and len(v) != d:
            out[key] = resize(v, d)
    if out.get("pole") is not None and len(out["pole"]) != d:
        out["pole"] = None
    return out


def _build(base: Scenario, fields: dict[str, Any]) -> tuple[Scenario | None, str | None]:
    try:
        return base.replace(**fields), None
    except ScenarioError as exc:
        return None, str(exc)


#: Scenario fields a caption names when they differ from the lesson's, with their labels.
_SETTING_LABELS: dict[str, str] = {
    "n": "n",
    "d": "d",
    "beta": "β",
    "n_heads": "heads",
    "mask": "mask",
    "attention": "attention",
    "init": "initial tokens",
    "pole": "pole",
    "margin": "margin",
    "cap_angle": "cap angle",
    "T": "T",
    "dt": "dt",
    "integrator": "integrator",
    "seed": "seed",
    "v_eigs": "V's eigenvalues",
    "v_basis": "V basis",
    "v_symmetric": "symmetric V",
    "qk": "QᵀK",
    "qk_eigs": "QᵀK's eigenvalues",
    "qk_amp": "QᵀK's time variation",
    "qk_omega": "ω",
}


def _fmt_setting(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, tuple):
        return (
            "(" + fmt_numbers(value) + ")" if all(isinstance(v, int | float) for v in value) else str(value)
        )
    return str(value)


def setting_changes(lesson: Scenario, now: Scenario, *, by_hand: bool = False) -> list[tuple[str, str, str]]:
    """(label, lesson's value, current value) of every setting that differs from the lesson's —
    what a caption must say once the user has moved a control ("lesson settings: β = 9",
    "now: β = 7")."""
    out: list[tuple[str, str, str]] = []
    tokens_given = now.x0 is not None and now.x0 != lesson.x0
    for name, label in _SETTING_LABELS.items():
        if tokens_given and name in ("n", "d", "init", "pole", "margin", "cap_angle"):
            continue
        before, after = getattr(lesson, name), getattr(now, name)
        if before != after:
            out.append((label, _fmt_setting(before), _fmt_setting(after)))
    if tokens_given:
        how = "placed by hand" if by_hand else "uploaded"
        out.insert(0, ("tokens", f"{lesson.n} drawn from the seed", f"{now.n} {how}"))
    return out
