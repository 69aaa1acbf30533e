"""Tokens placed by hand (issue 11 §8), in a real browser.

In the player's edit mode a token is dragged out of the open hemisphere: the run re-integrates from
the edited tokens, the link holds them (``tokens=``), the theorem card's "open hemisphere" tick
turns into a cross and the card no longer guarantees consensus; undo brings the lesson back. A click
on the sphere adds a token, a shift-click deletes one.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import numpy as np
from playwright.sync_api import Page, expect

from dynamics.initial import initial_tokens
from dynamics.metrics import open_hemisphere
from dynamics.presets import PRESETS
from ui.token_link import decode

PLAYER = ".adx-player"
HEMISPHERE = next(p for p in PRESETS if p.key == "hemisphere").scenario
TOKENS_JS = """() => {
  const gd = document.querySelector('.js-adx-plot');
  const tr = gd && gd.data && gd.data.find((t) => t.name === 'tokens');
  return tr ? tr.x.length : null;
}"""


def open_hemisphere_lesson(app_page) -> Page:
    # From the equator (the camera on the +x axis, z up): the front face shows both hemispheres.
    # T = 6 (consensus by t ≈ 3): a run so small that even a very busy test machine stays inside
    # the explorer's time budget (a refusal would keep the lesson's picture, and its card).
    app_page.goto("", lesson="hemisphere", view="equator", T="6")
    page = app_page.page
    expect(page.locator(PLAYER).first).to_have_attribute("data-ready", "true")
    app_page.wait_idle()
    return page


def drag(page: Page, start: dict, end: dict, steps: int = 12) -> None:
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    for k in range(1, steps + 1):
        f = k / steps
        page.mouse.move(start["x"] + f * (end["x"] - start["x"]), start["y"] + f * (end["y"] - start["y"]))
    page.mouse.up()


def hemisphere_breaking_move(x: np.ndarray) -> tuple[int, np.ndarray]:
    """(token, target): the front-most token (largest x) and a visible point below the equator that
    leaves the tokens in no open hemisphere, by a clear LP margin."""
    i = int(np.argmax(x[:, 0]))
    for z in np.linspace(-0.5, -0.95, 10):
        for y in np.linspace(-0.6, 0.6, 13):
            target = np.array([np.sqrt(max(1 - y * y - z * z, 0.0)), y, z])
            if target[0] < 0.25:
                continue
            moved = x.copy()
            moved[i] = target
            if open_hemisphere(moved).margin < -0.05:
                return i, target
    raise AssertionError("no hemisphere-breaking move on the front face for this lesson")


def test_drag_a_token_out_of_the_hemisphere_then_undo(app_page) -> None:
    x0 = initial_tokens(HEMISPHERE)
    assert open_hemisphere(x0).contained
    i, target = hemisphere_breaking_move(x0)
    page = open_hemisphere_lesson(app_page)
    row = page.locator('.adx-assumption[data-name="open_hemisphere"]').first
    expect(row).to_have_attribute("data-holds", "true")
    observed = page.get_by_text(re.compile(r"^Observed")).first
    not_covered = page.get_by_text("Not covered by the theorem").first
    expect(observed).to_be_visible()  # the theorem covers the lesson: consensus observed

    page.get_by_role("button", name=re.compile(r"Edit tokens")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-editing", "true")
    start = page.evaluate(f"() => window.__adxLastPlayer.tokenScreen({i})")
    end = page.evaluate(f"() => window.__adxLastPlayer.screenOf({target.tolist()})")
    drag(page, start, end)

    page.wait_for_url(re.compile(r"[?&]tokens=3"))
    expect(row).to_have_attribute("data-holds", "false")
    expect(row).to_contain_text("✗")
    expect(not_covered).to_be_visible()  # the card's verdict changed
    # The link holds the edited tokens: the dragged one where it was dropped, the others unmoved.
    linked = decode(parse_qs(urlparse(page.url).query)["tokens"][0])
    assert linked.shape == x0.shape
    angle = np.arccos(np.clip(np.sum(linked * x0, axis=1), -1, 1))
    assert np.delete(angle, i).max() < 0.003
    assert np.arccos(np.clip(linked[i] @ target, -1, 1)) < 0.06
    assert not open_hemisphere(linked).contained
    expect(page.locator(PLAYER).first).to_have_attribute("data-editing", "true")  # still editing

    page.keyboard.press("Control+z")  # undo: back to the lesson's own tokens
    page.wait_for_url(lambda url: "tokens=" not in url)
    expect(row).to_have_attribute("data-holds", "true")
    expect(observed).to_be_visible()
    expect(not_covered).to_be_hidden()
    app_page.assert_healthy()


def test_click_adds_a_token_and_shift_click_deletes_one(app_page) -> None:
    page = open_hemisphere_lesson(app_page)
    page.keyboard.press("e")  # the edit mode from the keyboard
    expect(page.locator(PLAYER).first).to_have_attribute("data-editing", "true")
    empty = page.evaluate("() => window.__adxLastPlayer.screenOf([0.8, -0.2, -0.565])")
    page.mouse.click(empty["x"], empty["y"])
    page.wait_for_url(re.compile(r"[?&]tokens=3"))
    page.wait_for_function(f"() => ({TOKENS_JS})() === {HEMISPHERE.n + 1}")
    assert decode(parse_qs(urlparse(page.url).query)["tokens"][0]).shape == (HEMISPHERE.n + 1, 3)
    expect(page.get_by_test_id("stSidebar").get_by_text("tokens placed by hand")).to_be_visible()

    last = page.evaluate(f"() => window.__adxLastPlayer.tokenScreen({HEMISPHERE.n})")
    page.keyboard.down("Shift")
    page.mouse.click(last["x"], last["y"])
    page.keyboard.up("Shift")
    page.wait_for_function(f"() => ({TOKENS_JS})() === {HEMISPHERE.n}")
    page.wait_for_url(
        lambda url: (
            "tokens=" in url and len(decode(parse_qs(urlparse(url).query)["tokens"][0])) == HEMISPHERE.n
        )
    )
    app_page.assert_healthy()
