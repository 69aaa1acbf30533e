"""The 3D player as a teacher drives it for an hour (issue 11), in a real browser.

* §1 the frame shown is the frame the user chose, and it stays so through the reruns that follow
  (play/pause, step, scrub, keyboard): read from the DOM and from the URL, equal, for 5 s;
* §3 a lesson opens at t = 0 with every token visible, ``autoplay=true`` plays, the curves' cursor
  and the heatmap follow the player's time, keyboard shortcuts work after clicking blank space;
* §2 a placeholder with a spinner until the sphere is drawn, one copy of plotly.js.

Fixtures (one app server for the whole session) are in conftest.py.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

PLAYER = ".adx-player"
PLOT = ".js-adx-plot"
CANVAS = f"{PLOT} .gl-container canvas"
TOKENS_JS = """() => {
  const gd = document.querySelector('.js-adx-plot');
  const tr = gd && gd.data && gd.data.find((t) => t.name === 'tokens');
  return tr ? tr.x.length : null;
}"""
HOLD_SECONDS = 5.0


def open_explorer(app_page, **query) -> Page:
    app_page.goto("", **query)
    page = app_page.page
    page.locator(CANVAS).first.wait_for(state="visible")
    page.wait_for_function(f"({TOKENS_JS})() !== null")
    app_page.wait_idle()
    return page


def dom_frame(page: Page) -> int:
    """The source-frame index the player shows (what the URL's ``frame`` refers to)."""
    return int(page.locator(PLAYER).first.get_attribute("data-source-frame"))


def url_frame(page: Page) -> int | None:
    values = parse_qs(urlparse(page.url).query).get("frame")
    return int(values[-1]) if values else None


def wait_url_frame(page: Page, frame: int) -> None:
    page.wait_for_url(re.compile(rf"[?&]frame={frame}(&|$)"))


def assert_frame_holds(app_page, frame: int, seconds: float = HOLD_SECONDS) -> None:
    """The issue's check: after the action, for ``seconds``, the player shows ``frame`` and the URL
    says ``frame`` (a bounded poll that fails on the first jump)."""
    page = app_page.page
    deadline = time.monotonic() + seconds
    while True:
        shown, linked = dom_frame(page), url_frame(page)
        assert shown == frame, f"the player jumped from frame {frame} to {shown}"
        assert linked == frame, f"the URL says frame={linked}, the player shows {shown}"
        assert page.locator(PLAYER).first.get_attribute("data-playing") == "false"
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    app_page.wait_idle()
    assert dom_frame(page) == frame and url_frame(page) == frame


# ------------------------------------------------------------------------------ §1 never jumps back
def test_pause_after_play_stays_on_the_paused_frame(app_page) -> None:
    page = open_explorer(app_page)
    page.get_by_role("button", name=re.compile(r"Go to start")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "0")
    page.get_by_role("button", name=re.compile(r"^Play")).click()
    page.wait_for_function(f"() => +document.querySelector('{PLAYER}').dataset.sourceFrame >= 30")
    page.get_by_role("button", name=re.compile(r"^Pause")).click()
    paused = dom_frame(page)
    assert 30 <= paused < 150
    wait_url_frame(page, paused)
    assert_frame_holds(app_page, paused)
    app_page.assert_healthy()


def test_step_forward_stays_on_the_stepped_frame(app_page) -> None:
    page = open_explorer(app_page)
    page.get_by_role("button", name=re.compile(r"Go to start")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "0")
    page.get_by_role("button", name=re.compile(r"Step forward")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "1")
    wait_url_frame(page, 1)
    assert_frame_holds(app_page, 1)
    page.get_by_role("button", name=re.compile(r"Step forward")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "2")
    page.get_by_role("button", name=re.compile(r"Step back")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "1")
    wait_url_frame(page, 1)
    assert_frame_holds(app_page, 1, seconds=2.0)


def test_scrubbing_to_70_percent_stays_there(app_page) -> None:
    page = open_explorer(app_page)
    scrub = page.get_by_role("slider", name="Time", exact=True)
    box = scrub.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 0.7 * box["width"], box["y"] + box["height"] / 2)
    frame = dom_frame(page)
    assert 90 <= frame <= 120, frame  # 70 % of 151 frames
    wait_url_frame(page, frame)
    assert_frame_holds(app_page, frame)


def test_keyboard_steps_after_clicking_blank_space_and_stay(app_page) -> None:
    page = open_explorer(app_page)
    page.get_by_role("button", name=re.compile(r"Go to start")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "0")
    # Click the lesson title (not focusable), then blank space: the keys still drive the player.
    page.locator("h4").first.click()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "2")
    box = page.get_by_test_id("stMain").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 8, box["y"] + box["height"] - 8)
    page.keyboard.press("ArrowLeft")
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "1")
    wait_url_frame(page, 1)
    assert_frame_holds(app_page, 1, seconds=2.0)
    page.keyboard.press("Home")
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "0")
    page.keyboard.press(" ")
    expect(page.locator(PLAYER).first).to_have_attribute("data-playing", "true")
    page.keyboard.press(" ")
    expect(page.locator(PLAYER).first).to_have_attribute("data-playing", "false")
    # "?" lists the shortcuts.
    page.keyboard.press("?")
    expect(page.locator(".adx-help")).to_be_visible()
    expect(page.locator(".adx-help")).to_contain_text("Space")
    page.keyboard.press("Escape")
    expect(page.locator(".adx-help")).to_be_hidden()


def test_keys_in_a_text_field_are_not_taken_by_the_player(app_page) -> None:
    page = open_explorer(app_page, d="5")
    page.get_by_role("button", name=re.compile(r"Go to start")).click()
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "0")
    page.get_by_test_id("stSidebar").get_by_text("Weights V and QᵀK").click()
    field = page.get_by_test_id("stSidebar").get_by_role("textbox", name="V eigenvalues")
    field.click()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press(" ")
    assert dom_frame(page) == 0
    assert page.locator(PLAYER).first.get_attribute("data-playing") == "false"
