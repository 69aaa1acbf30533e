"""Presenter mode (pages/presenter.py), standalone through AppTest: slides, next/previous with
wrap-around, the deck and the slide in the URL, junk links never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dynamics.presets import PRESETS

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "presenter.py")
TITLES = {p.key: p.title for p in PRESETS}


def run(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def title(at: AppTest) -> str:
    return at.title[0].value


def test_next_and_previous_walk_the_deck_and_wrap() -> None:
    at = run()
    first = title(at)
    assert first == TITLES["consensus"]
    assert any("Lesson 1 / " in m.value for m in at.markdown)
    at.button(key="_next_slide").click().run()
    assert title(at) == TITLES["hemisphere"]
    assert at.query_params["slide"] == ["2"] or at.query_params["slide"] == "2"
    at.button(key="_prev_slide").click().run()
    at.button(key="_prev_slide").click().run()  # wraps to the last slide
    assert title(at) != first and not at.exception
    assert at.success or at.info or at.warning  # every slide has its verdict


def test_buttons_have_clicker_shortcuts() -> None:
    at = run()
    assert at.button(key="_next_slide").proto.shortcut.lower() == "pagedown"
    assert at.button(key="_prev_slide").proto.shortcut.lower() == "pageup"


def test_the_link_chooses_deck_and_slide() -> None:
    at = run(slides="antipodal,metastable,nope", slide="2")
    assert title(at) == TITLES["metastable"]
    assert any("nope" in w.value for w in at.warning)
    assert any("Lesson 2 / 2" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    "query", [{"slide": "-4"}, {"slide": "x" * 5000}, {"slides": ",,,"}, {"slide": "999"}]
)
def test_junk_presenter_links_are_harmless(query: dict[str, str]) -> None:
    at = run(**query)
    assert at.title and (at.success or at.info or at.warning)


def player_payload(at: AppTest) -> dict:
    for el in at.get("bidi_component"):
        return json.loads(el.proto.json)
    raise AssertionError("no player on the slide")


def test_large_fonts_and_a_big_player_that_fits_the_window() -> None:
    at = run()
    css = " ".join(h.proto.body for h in at.get("html"))
    assert "font-size: 2rem" in css and "font-size: 1.2rem" in css
    payload = player_payload(at)
    assert payload["fit"]["max"] >= 520 and payload["fit"]["min"] <= 300  # sized to the projector
    assert payload["start"]["frame"] == 0 and payload["start"]["autoplay"] is False  # t = 0, as the explorer
    assert payload["palette"][:3] == ["#E69F00", "#56B4E9", "#009E73"]  # Okabe–Ito


def test_autoplay_link_plays_each_slide() -> None:
    assert player_payload(run(autoplay="true", slide="2"))["start"]["autoplay"] is True
