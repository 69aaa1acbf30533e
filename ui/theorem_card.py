"""Theorem cards in Streamlit: what a result assumes, whether each assumption holds, what it predicts
and what the run shows — drawn from the theorem objects' own words (``dynamics.theorems``).

    from ui.theorem_card import theorem_card, pick_card, summary_card, cached_cards

    cards = cached_cards(scenario)                   # simulate (cached) + dynamics.theorems.evaluate
    label = theorem_card(pick_card(cards), compact=False, key="lab", scenario=scenario,
                         on_counter_example=load)    # full card with one-click counter-examples
    summary_card(scenario, key="explorer_card")      # the explorer's compact card, self-contained

:func:`theorem_card` is the one card builder of the app (Theorem lab, explorer, Euclidean model
page). It draws one :class:`dynamics.theorems.Card`: a ✓/✗ line per assumption with its label and
the number that decides it, prediction and observation side by side with the tolerance, what this
project found where it differs from the paper, a warning saying what the theorem no longer
guarantees when an assumption breaks, "open question" where the card says so, and (when a
``scenario`` is given) one button per counter-example of ``counter_examples(card.id, scenario)``.
A click calls ``on_counter_example(label, scenario)`` as the button's ``on_click`` callback (so the
caller may change widget state there), stores ``{"label", "scenario"}`` (scenario as JSON) in
``st.session_state[f"{key}_counter_example"]`` and makes the call return the label in that run.

``cached_cards`` is keyed on the scenario's canonical JSON (a short string, never arrays) and
integrates under the app's limits (``ui.session.APP_LIMITS``).
"""

from __future__ import annotations

import functools
import html
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from dynamics import Scenario, ScenarioError, simulate
from dynamics.theorems import IDS, OFF_MODEL, REGISTRY, Card, counter_examples, evaluate, get
from dynamics.theorems.base import num
from ui.text import escaped

log = logging.getLogger(__name__)

#: Where the Theorem lab lives (``st.Page(..., url_path=LAB_URL_PATH)`` in app.py).
LAB_URL_PATH = "theorem_lab"  # = the file name: cold shared links work (see pages/)
EUCLIDEAN_URL_PATH = "euclidean"
EUCLIDEAN_MESSAGE = (
    "is about the Euclidean model (tokens in ℝᵈ, no normalisation): the Euclidean model page runs it"
)
EUCLIDEAN_IDS = frozenset(th.id for th in REGISTRY if th.model == "euclidean")
CACHE_ENTRIES = 32
#: The lesson (dynamics.presets key) that illustrates each theorem; None: a Euclidean-model result.
THEOREM_PRESETS: dict[str, str | None] = {th.id: th.preset for th in REGISTRY}
OK_COLOR, BAD_COLOR = "#1a7f37", "#cf222e"
STATUS_COLORS = {"theorem": "green", "lemma": "green", "open question": "violet", OFF_MODEL: "gray"}


# ------------------------------------------------------------------------------------ words
def theorem_name(theorem_id: str) -> str:
    """What the app calls a registered result ("Hemisphere ⇒ consensus (Abella et al., Thm 4.1)")."""
    return get(theorem_id).name


def fmt_value(value: float | str) -> str:
    """The deciding number as a short text (integers without decimals, powers of ten as 10⁻⁸)."""
    if isinstance(value, str):
        return value
    return num(value)


def is_open_question(card: Card) -> bool:
    return card.status == "open question"


def is_off_model(card: Card) -> bool:
    """A result about the other model (a Euclidean-model result evaluated on a sphere scenario)."""
    return card.status == OFF_MODEL


def broken(card: Card) -> list[str]:
    """Names of the assumptions that fail, in the card's order."""
    return [a.name for a in card.broken]


def _broken_words(card: Card) -> str:
    return ", ".join(a.label or a.name for a in card.broken)


def _has_run(card: Card) -> bool:
    """The card's observation looked at a trajectory (a verdict, or an open question's numbers)."""
    return card.observed is not None or (is_open_question(card) and card.reason.startswith("open question"))


def pick_card(cards: Sequence[Card]) -> Card:
    """The most relevant card for one scenario (the explorer shows only this one).

    1. an applicable card of the scenario's model whose observation is decided — open questions
       count when they report what the run shows — preferring the most specific (most
       assumptions), then the theorem's ``priority``;
    2. else the first applicable card in that order;
    3. else the card of the scenario's model with the fewest broken assumptions (its ✗ lines say
       which).
    """
    if not cards:
        raise ValueError("pick_card: no cards")

    def order(c: Card) -> tuple[int, int]:
        priority = get(c.id).priority if c.id in IDS else 1_000
        return (-len(c.assumptions), priority)

    usable = [c for c in cards if not is_off_model(c)] or list(cards)
    applicable = sorted((c for c in usable if c.applies), key=order)
    decided = [c for c in applicable if _has_run(c)]
    if decided:
        return decided[0]
    if applicable:
        return applicable[0]
    return min(usable, key=lambda c: (len(c.broken), *order(c)))


# ------------------------------------------------------------------------------------ data
def _cards(scenario_json: str) -> list[Card]:
    from ui.session import APP_LIMITS

    scenario = Scenario.from_json(scenario_json)
    return evaluate(scenario, simulate(scenario, limits=APP_LIMITS))


@functools.cache
def _cards_cache() -> Any:
    return st.cache_data(max_entries=CACHE_ENTRIES, show_spinner="Checking the theorems…")(_cards)


def cached_cards(scenario: Scenario) -> list[Card]:
    """``evaluate(scenario, simulate(scenario))`` behind ``st.cache_data`` keyed on the scenario JSON.

    Raises ScenarioError (a refused scenario, e.g. over the app's limits).
    """
    return _cards_cache()(scenario.to_json())


def lab_query(card_id: str, scenario: Scenario | None = None) -> dict[str, str]:
    """Query parameters of the Theorem lab showing this card (and this scenario, if given)."""
    params = {"theorem": card_id}
    if scenario is not None:
        params.update(scenario.to_query())
    return params


def lab_href(card_id: str, scenario: Scenario | None = None) -> str:
    """A relative link to the Theorem lab (works from any page of the app)."""
    return f"{LAB_URL_PATH}?{urllib.parse.urlencode(lab_query(card_id, scenario))}"


# ------------------------------------------------------------------------------------ drawing
def _badge(card: Card) -> str:
    """The card's status as an inline markdown badge."""
    return f":{STATUS_COLORS.get(card.status, 'gray')}-badge[{card.status}]"


def _assumption_html(card: Card, *, details: bool) -> str:
    """One line per assumption: ✓/✗, what it says, the number deciding it (and its detail)."""
    rows = []
    for name, a in card.assumptions.items():
        color = OK_COLOR if a.holds else BAD_COLOR
        value = ""
        if a.quantity:
            value = f" — {html.escape(a.quantity)} <b>{html.escape(fmt_value(a.value))}</b>"
        detail = (
            f'<div style="font-size:0.8rem;opacity:0.72;line-height:1.3;margin:0.05rem 0 0 1.6rem">'
            f"{html.escape(a.detail)}</div>"
            if details
            else ""
        )
        rows.append(
            f'<div class="adx-assumption" data-holds="{str(a.holds).lower()}" data-name="{name}" '
            f'title="{html.escape(a.detail)}" style="margin:0 0 0.35rem 0;line-height:1.35">'
            f'<span style="color:{color};font-weight:700;display:inline-block;width:1.4rem">'
            f"{'✓' if a.holds else '✗'}</span><b>{html.escape(a.label or name)}</b>{value}{detail}</div>"
        )
    return "".join(rows)


def _assumption_lines(card: Card, *, details: bool) -> None:
    st.markdown(_assumption_html(card, details=details), unsafe_allow_html=True)


def _open_question_text(card: Card) -> str:
    if not card.applies:
        return f"**Open question** — its setting does not hold here: {card.reason}"
    m = re.match(r"open question \((.*?)\):\s*(.*)", card.reason, re.DOTALL)
    context, shows = (m.group(1), m.group(2)) if m else ("", card.reason)
    text = "**Open question**" + (f" ({context})" if context else "")
    return text + f" — no verdict from the papers; the simulation shows: {shows}"


def _observation(card: Card, *, compact: bool, run_summary: str | None = None) -> None:
    """The observation box: ✓ observed / ✗ contradicted / open question / undecided / not applicable.

    ``run_summary`` (what the run shows, in words) replaces the card's "does not apply" reason when
    the theorem does not apply: the theorem has nothing to say, the run still happened.
    """
    if is_off_model(card):
        st.info(f"**Not simulated here** — this result {EUCLIDEAN_MESSAGE}.", icon=":material/construction:")
    elif is_open_question(card):
        st.info(_open_question_text(card), icon=":material/help:")
    elif card.observed is True:
        st.success(f"**Observed** — {card.reason}", icon=":material/check_circle:")
    elif card.observed is False:
        st.error(f"**Contradicted** — {card.reason}", icon=":material/cancel:")
    elif not card.applies:
        text = "**Not covered by the theorem**"
        if run_summary:
            text += f" — the run shows: {run_summary}"
        elif not compact:
            text += f" — {card.reason}"
        st.warning(text, icon=":material/block:")
    else:
        st.info(f"**Undecided** — {card.reason}", icon=":material/hourglass_empty:")


def _no_longer(card: Card) -> None:
    """When an assumption breaks: say what the theory no longer guarantees."""
    if card.applies or is_off_model(card):
        return
    names = _broken_words(card)
    if is_open_question(card):
        st.warning(
            f"✗ **{names}** — this is outside the open question's setting; the run below is just a run.",
            icon=":material/warning:",
        )
    else:
        st.warning(
            f"✗ **{names}** fails — the {card.status} **no longer guarantees**: {card.prediction}. "
            "What you see now is not covered by it.",
            icon=":material/warning:",
        )


def _counter_example_buttons(
    card: Card,
    scenario: Scenario,
    key: str,
    on_counter_example: Callable[[str, Scenario], None] | None,
    *,
    compact: bool,
) -> str | None:
    try:
        examples = counter_examples(card.id, scenario)
    except (ScenarioError, ValueError, KeyError) as exc:  # a scenario the edits cannot be made on
        log.info("no counter-examples for %s: %s", card.id, exc)
        examples = []
    if not examples:
        return None

    def remember(label: str, ce: Scenario) -> None:
        st.session_state[f"{key}_counter_example"] = {"label": label, "scenario": ce.to_json()}
        if on_counter_example is not None:
            on_counter_example(label, ce)

    clicked = None
    box = st.popover("Break an assumption", icon=":material/science:") if compact else st.container()
    with box:
        if not compact:
            st.markdown("**Break an assumption** — one click loads the broken scenario:")
        for i, (label, ce) in enumerate(examples):
            if st.button(
                label,
                key=f"{key}_ce_{i}",
                on_click=remember,
                args=(label, ce),
                width="stretch",
                icon=":material/call_split:",
                wrap=True,
            ):
                clicked = label
    return clicked


def _compact_card(
    card: Card,
    *,
    key: str,
    scenario: Scenario | None,
    on_counter_example: Callable[[str, Scenario], None] | None,
    link: bool,
    run_summary: str | None,
) -> str | None:
    st.markdown(f"**{card.name}** {_badge(card)}")
    _assumption_lines(card, details=False)
    _observation(card, compact=True, run_summary=run_summary)
    if not card.applies and not is_off_model(card):
        st.caption(f"What the theorem would need: {_broken_words(card)}.")
    clicked = None
    if scenario is not None and on_counter_example is not None:
        clicked = _counter_example_buttons(card, scenario, key, on_counter_example, compact=True)
    if link:
        st.markdown(f"[Open this card in the Theorem lab ↗]({lab_href(card.id, scenario)})")
    return clicked


def _full_card(
    card: Card,
    *,
    key: str,
    scenario: Scenario | None,
    on_counter_example: Callable[[str, Scenario], None] | None,
    run_summary: str | None,
) -> str | None:
    st.markdown(f"#### {card.name}")
    st.markdown(
        f"{html.escape(card.title)}  \n{_badge(card)} <small style='opacity:0.7'>{html.escape(card.source)}"
        "</small>",
        unsafe_allow_html=True,
    )
    if is_off_model(card):
        st.info(f"**This result {EUCLIDEAN_MESSAGE}.**", icon=":material/construction:")
    st.markdown("**Assumptions** — each ✓/✗ recomputed from the scenario, with the number deciding it")
    _assumption_lines(card, details=True)
    _no_longer(card)
    left, right = st.columns(2)
    with left:
        applies = card.applies or is_off_model(card)
        st.markdown("**Prediction**" if applies else "**Prediction** (if it applied)")
        st.markdown(card.prediction)
    with right:
        st.markdown("**Observation**")
        _observation(card, compact=False, run_summary=run_summary)
    st.caption(f"How a run is judged: {card.tolerance}")
    if card.finding:
        st.info(f"**What this app found** — {card.finding}", icon=":material/lightbulb:")
    clicked = None
    if scenario is not None and not is_off_model(card):
        clicked = _counter_example_buttons(card, scenario, key, on_counter_example, compact=False)
    with st.expander("All numbers of this card"):
        st.code(json.dumps(card.to_json()["numbers"], indent=1, ensure_ascii=False), language="json")
    return clicked


def theorem_card(
    card: Card,
    *,
    compact: bool,
    key: str,
    scenario: Scenario | None = None,
    on_counter_example: Callable[[str, Scenario], None] | None = None,
    link: bool = True,
    run_summary: str | None = None,
) -> str | None:
    """Draw one theorem card; return the label of the counter-example clicked in this run, if any.

    ``compact``: name, one ✓/✗ line per assumption (details in the tooltips), the observation and,
    with ``link``, a link to this card in the Theorem lab; counter-examples sit in a popover.
    Full: every assumption with its detail, the broken-assumption warning, prediction and
    observation side by side with the tolerance, what this app found, counter-example buttons and
    all numbers. ``run_summary``: what the run shows in words, shown when the theorem does not
    apply. Counter-example buttons need ``scenario`` (a sphere scenario: the card's); in compact
    mode also an ``on_counter_example`` callback (the link then carries the scenario to the lab).
    """
    with st.container(border=True, key=f"{key}_card"):
        if compact:
            return _compact_card(
                card,
                key=key,
                scenario=scenario,
                on_counter_example=on_counter_example,
                link=link,
                run_summary=run_summary,
            )
        return _full_card(
            card, key=key, scenario=scenario, on_counter_example=on_counter_example, run_summary=run_summary
        )


def summary_card(
    scenario: Scenario, *, key: str, link: bool = True, cards: Sequence[Card] | None = None
) -> Card | None:
    """The explorer's compact card: pick the most relevant card of ``cards`` (or of a cached
    simulate + evaluate of ``scenario`` when none are given) and draw it.

    Never raises for a bad scenario: the engine's message is shown with ``st.error``. Returns the
    card shown (None if none could be computed).
    """
    try:
        card = pick_card(list(cards) if cards else cached_cards(scenario))
    except ScenarioError as exc:
        st.error(f"No theorem card: {escaped(exc)}", icon=":material/error:")
        return None
    except Exception as exc:  # never a traceback in the explorer
        log.exception("theorem card failed")
        st.error(f"No theorem card ({type(exc).__name__}: {escaped(exc)})", icon=":material/error:")
        return None
    theorem_card(card, compact=True, key=key, scenario=scenario, link=link)
    return card


__all__ = [
    "EUCLIDEAN_IDS",
    "EUCLIDEAN_MESSAGE",
    "EUCLIDEAN_URL_PATH",
    "LAB_URL_PATH",
    "THEOREM_PRESETS",
    "broken",
    "cached_cards",
    "fmt_value",
    "is_off_model",
    "lab_href",
    "lab_query",
    "pick_card",
    "summary_card",
    "theorem_card",
    "theorem_name",
]
