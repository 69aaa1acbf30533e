"""The Theorem lab through AppTest (no browser): every theorem renders, the controls flip the ✓/✗ of
the assumption they break, counter-example buttons load a scenario the theorem no longer covers,
links reproduce the view, junk links never reach a traceback; plus ``pick_card`` and the explorer's
compact card (``ui.theorem_card.summary_card``).

The page is run on its own (``AppTest.from_file("pages/theorem_lab.py")``): it must work without
app.py's navigation. Each assumption line is a ``<div class="adx-assumption" data-name=…
data-holds=…>`` inside a markdown element, which is what ``holds()`` reads. The real-browser test
is tests/e2e/test_theorem_lab.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dynamics import Scenario, simulate
from dynamics.presets import PRESETS
from dynamics.presets import get as get_preset
from dynamics.theorems import IDS, counter_examples, evaluate, get
from ui.session import APP_LIMITS
from ui.theorem_card import EUCLIDEAN_IDS, EUCLIDEAN_MESSAGE, LAB_URL_PATH, THEOREM_PRESETS, pick_card

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "theorem_lab.py")
TIMEOUT = 60
PRESET_FOR = {k: v for k, v in THEOREM_PRESETS.items() if v is not None}
ASSUMPTION = re.compile(r'data-holds="(true|false)" data-name="([a-z0-9_]+)"')


def run_lab(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def assumptions(at: AppTest) -> dict[str, bool]:
    """name → holds, as the card shows them (✓/✗ lines)."""
    found: dict[str, bool] = {}
    for md in at.markdown:
        for holds, name in ASSUMPTION.findall(md.value):
            found[name] = holds == "true"
    assert found, "no assumption lines on the page"
    return found


def texts(at: AppTest) -> str:
    parts: list[Any] = [*at.markdown, *at.warning, *at.info, *at.success, *at.error, *at.caption]
    return "\n".join(str(p.value) for p in parts)


def _param(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value if isinstance(value, str) else value[-1]


def counter_buttons(at: AppTest) -> list[Any]:
    return [b for b in at.button if b.key and re.fullmatch(r"lab_ce_\d+", b.key)]


# --------------------------------------------------------------------------------------- loading
def test_the_page_loads_alone_on_the_hemisphere_theorem() -> None:
    at = run_lab()
    assert at.selectbox(key="theorem").value == "ast-hemisphere"
    shown = assumptions(at)
    assert shown == {
        "value_identity": True,
        "qk_bounded_uniformly_continuous": True,
        "open_hemisphere": True,
        "full_attention": True,
        "softmax_attention": True,
    }
    assert any("Observed" in s.value and "consensus" in s.value for s in at.success)
    assert "depth inside the best hemisphere" in texts(at)  # the LP's margin, in words
    assert not at.error


INTERNAL_ID = re.compile(r"\b(ast|glpr|open)-[a-z0-9]+(-[a-z0-9]+)*")


@pytest.mark.parametrize("theorem_id", IDS)
def test_every_theorem_renders_with_its_preset(theorem_id: str) -> None:
    at = run_lab(theorem=theorem_id)
    assert at.selectbox(key="theorem").value == theorem_id
    assert list(at.selectbox(key="theorem").options) == [get(t).name for t in IDS]  # names, not ids
    body = texts(at)
    assert get(theorem_id).name in body and get(theorem_id).title in body
    assert not INTERNAL_ID.search(body), INTERNAL_ID.search(body)
    assert "UNCONFIRMED" not in body and "LP margin" not in body
    assert not at.error, [e.value for e in at.error]
    if theorem_id in EUCLIDEAN_IDS:
        assert EUCLIDEAN_MESSAGE in body
        assert all(assumptions(at).values()), "evaluated on its own example of the Euclidean model"
        assert any(s.value.startswith("**Observed**") for s in at.success), body
        assert not counter_buttons(at)
        assert at.toggle(key="lab_mask").disabled
        return
    preset = get_preset(PRESET_FOR[theorem_id])
    assert f"Lesson — {preset.title}" in body
    assert preset.caption in body
    assert all(assumptions(at).values()), "the theorem's own preset satisfies all its assumptions"
    examples = counter_examples(theorem_id, preset.scenario)
    assert [b.label for b in counter_buttons(at)] == [label for label, _ in examples]
    if get(theorem_id).status == "open question":
        assert any(i.value.startswith("**Open question**") for i in at.info)
        assert "no verdict from the papers" in body
    link = next(c.value for c in at.code if "theorem=" in c.value)
    assert link.endswith(f"{LAB_URL_PATH}?theorem={theorem_id}")  # the preset: a clean link


def test_every_theorem_maps_to_a_preset_or_is_euclidean() -> None:
    assert set(THEOREM_PRESETS) == set(IDS)
    for tid, key in THEOREM_PRESETS.items():
        assert (key is None) == (tid in EUCLIDEAN_IDS)
        if key is not None:
            scenario = get_preset(key).scenario
            card = next(c for c in evaluate(scenario) if c.id == tid)
            assert card.applies, f"{tid}: its preset {key} breaks an assumption"


# --------------------------------------------------------------------------------------- controls
def test_the_mask_toggle_flips_full_attention_and_says_what_is_lost() -> None:
    at = run_lab(theorem="ast-hemisphere")
    at.toggle(key="lab_mask").set_value(True).run()
    assert not at.exception
    assert assumptions(at)["full_attention"] is False
    warnings = " ".join(w.value for w in at.warning)
    assert "no longer guarantees" in warnings and "full attention" in warnings
    assert _param(at, "mask") == "causal"  # the address bar is a link to this view
    at.toggle(key="lab_mask").set_value(False).run()
    assert assumptions(at)["full_attention"] is True
    assert "mask" not in at.query_params


def test_the_heads_control_flips_one_head_on_theorem_d() -> None:
    at = run_lab(theorem="ast-causal-symmetric")
    assert at.number_input(key="lab_heads").value == 1
    at.number_input(key="lab_heads").set_value(2).run()
    assert not at.exception
    assert assumptions(at)["one_head"] is False
    assert "no longer guarantees" in texts(at)


def test_the_init_control_flips_the_hemisphere_assumption() -> None:
    at = run_lab(theorem="ast-hemisphere")
    at.selectbox(key="lab_init").set_value("antipodal").run()
    assert not at.exception
    assert assumptions(at)["open_hemisphere"] is False
    at.selectbox(key="lab_init").set_value("hemisphere").run()
    assert assumptions(at)["open_hemisphere"] is True


def test_v_top_eigenvalue_breaks_v_identity_then_positivity_on_theorem_d() -> None:
    at = run_lab(theorem="ast-hemisphere")
    at.slider(key="lab_v1").set_value(1.5).run()
    assert assumptions(at)["value_identity"] is False
    at = run_lab(theorem="ast-causal-symmetric")
    assert at.slider(key="lab_v1").value == 2.0
    at.slider(key="lab_v1").set_value(-0.7).run()  # = λ₂: the top eigenvalue is no longer simple
    assert assumptions(at)["value_top_simple"] is False
    at.slider(key="lab_v1").set_value(-1.0).run()  # top eigenvalue −0.7 < 0
    shown = assumptions(at)
    assert shown["value_top_positive"] is False and shown["value_top_simple"] is True


def test_back_to_the_preset_restores_every_control() -> None:
    at = run_lab(theorem="ast-hemisphere")
    at.toggle(key="lab_mask").set_value(True)
    at.number_input(key="lab_heads").set_value(1)
    at.selectbox(key="lab_init").set_value("uniform").run()
    assert not all(assumptions(at).values())
    at.button(key="lab_reset").click().run()
    assert all(assumptions(at).values())
    assert at.toggle(key="lab_mask").value is False
    assert at.number_input(key="lab_heads").value == 3
    assert at.selectbox(key="lab_init").value == "as loaded"


def test_changing_the_theorem_loads_its_preset_and_resets_the_controls() -> None:
    at = run_lab(theorem="ast-hemisphere")
    at.toggle(key="lab_mask").set_value(True).run()
    at.selectbox(key="theorem").set_value("ast-causal-identity").run()
    assert not at.exception
    assert f"Lesson — {get_preset('causal').title}" in texts(at)
    assert at.toggle(key="lab_mask").value is True  # the causal preset's own mask
    assert at.number_input(key="lab_heads").value == 2
    assert all(assumptions(at).values())


# --------------------------------------------------------------------------------------- counter-examples
CASES = [
    (tid, i)
    for tid, key in PRESET_FOR.items()
    for i in range(len(counter_examples(tid, get_preset(key).scenario)))
]


@pytest.mark.parametrize(("theorem_id", "index"), CASES, ids=[f"{t}-{i}" for t, i in CASES])
def test_each_counter_example_button_loads_a_scenario_the_theorem_does_not_cover(
    theorem_id: str, index: int
) -> None:
    at = run_lab(theorem=theorem_id)
    button = counter_buttons(at)[index]
    label = button.label
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = assumptions(at)
    assert not all(shown.values()), f"{label}: every assumption still holds"
    assert "no longer guarantees" in texts(at)
    assert any(f"Counter-example loaded:** {label}" in i.value for i in at.info)
    chosen = at.session_state["lab_counter_example"]
    assert chosen["label"] == label
    scenario = Scenario.from_json(chosen["scenario"])
    card = next(c for c in evaluate(scenario) if c.id == theorem_id)
    assert not card.applies
    assert at.selectbox(key="theorem").value == theorem_id  # still the same theorem


def test_a_counter_example_view_is_a_link_that_reproduces_it() -> None:
    at = run_lab(theorem="ast-hemisphere")
    counter_buttons(at)[0].click().run()  # antipodal pair: x0 in the URL
    params = {k: _param(at, k) for k in at.query_params}
    assert "x0" in params
    again = run_lab(theorem="ast-hemisphere", **{k: v for k, v in params.items() if k != "theorem"})
    assert assumptions(again)["open_hemisphere"] is False
    assert "Scenario from the link." in texts(again)


def test_picking_a_theorem_by_name_writes_its_id_to_the_link() -> None:
    at = run_lab()
    at.selectbox(key="theorem").set_value("ast-causal-identity").run()
    assert not at.exception
    assert _param(at, "theorem") == "ast-causal-identity"
    assert get("ast-causal-identity").name in texts(at)


# --------------------------------------------------------------------------------------- junk
def test_a_junk_theorem_link_shows_a_message() -> None:
    at = run_lab(theorem="no-such-theorem")
    assert any("unknown theorem" in w.value and "no-such-theorem" in w.value for w in at.warning)
    assert at.selectbox(key="theorem").value == "ast-hemisphere"
    assert assumptions(at)


@pytest.mark.parametrize(
    "query",
    [
        {"n": "abc"},
        {"x0": "[[1, 2"},
        {"x0": "[[0, 0, 0], [1, 0, 0]]"},
        {"beta": "1e300"},
        {"init": "antipodal", "n": "7"},
        {"heads": '[{"V": "x"}]'},
        {"n": "2000"},
    ],
    ids=["n-text", "x0-broken-json", "x0-zero-row", "beta-huge", "antipodal-odd", "heads-junk", "too-big"],
)
def test_junk_scenario_links_show_a_message_not_a_traceback(query: dict[str, str]) -> None:
    at = run_lab(theorem="ast-hemisphere", **query)
    assert at.error, "a refused link must say so"
    assert assumptions(at)  # and still show a card


# --------------------------------------------------------------------------------------- pick_card
@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("consensus", "glpr-sphere-d3"),
        ("hemisphere", "ast-hemisphere"),
        ("causal", "ast-causal-identity"),
        ("causal-symmetric-v", "ast-causal-symmetric"),
        ("metastable", "open-metastability"),
        ("ellipsoid-gradient", "ast-gradient"),
        ("cone-collapse", "glpr-cone-collapse"),
        ("causal-multihead", "open-causal-symmetric-multihead"),
    ],
)
def test_pick_card_prefers_the_most_specific_applicable_card(preset: str, expected: str) -> None:
    s = get_preset(preset).scenario
    assert pick_card(evaluate(s, simulate(s, limits=APP_LIMITS))).id == expected


def test_pick_card_without_an_applicable_card_lists_the_broken_one() -> None:
    # causal mask with V = −I: Thm C's only broken assumption is V = I
    s = get_preset("causal").scenario.replace(value="spectrum", v_eigs=(-1.0, -1.0, -1.0))
    cards = evaluate(s)
    assert not any(c.applies for c in cards)
    card = pick_card(cards)
    assert card.id == "ast-causal-identity"
    assert [n for n, a in card.assumptions.items() if not a.holds] == ["value_identity"]


def test_pick_card_every_preset_gives_a_card() -> None:
    for preset in PRESETS:
        assert pick_card(evaluate(preset.scenario)).id in IDS


# --------------------------------------------------------------------------------------- compact card
def _compact_app(scenario_json: str) -> AppTest:
    def app(scenario_json: str) -> None:
        from dynamics import Scenario
        from ui.theorem_card import summary_card

        summary_card(Scenario.from_json(scenario_json), key="explorer_card")

    at = AppTest.from_function(app, args=(scenario_json,), default_timeout=TIMEOUT)
    at.run()
    return at


def test_the_compact_card_picks_and_links_to_the_lab() -> None:
    at = _compact_app(get_preset("causal").scenario.to_json())
    assert not at.exception, [e.value for e in at.exception]
    body = texts(at)
    assert get("ast-causal-identity").name in body
    assert f"]({LAB_URL_PATH}?theorem=ast-causal-identity" in body
    assert any("Observed" in s.value for s in at.success)
    assert not counter_buttons(at)


def test_the_compact_card_of_a_refused_scenario_is_an_error_message() -> None:
    at = _compact_app(Scenario(n=1000, d=3, T=100000.0, dt=1e-3).to_json())
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and "No theorem card" in at.error[0].value
