"""It fits a projector (issue 11 §4), in a real browser.

At 1280×720 and 1440×900, on the explorer and on the presenter, without scrolling: the lesson
title, the whole player (plot and every control of its bar, on one line) and the verdict are
inside the window. The curves' labels do not overlap and are large enough to read from the back of
a room.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

PLAYER = ".adx-player"
READY = f"() => {{ const p = document.querySelector('{PLAYER}'); return p && p.dataset.ready === 'true'; }}"
BOX_JS = """(el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom,
  left: r.left, right: r.right, width: r.width, height: r.height}; }"""


def box(locator) -> dict:
    return locator.evaluate(BOX_JS)


def assert_inside(page: Page, what: str, locator) -> dict:
    viewport = page.viewport_size
    b = box(locator)
    assert b["height"] > 0 and b["width"] > 0, f"{what} is not shown"
    assert b["top"] >= 0 and b["bottom"] <= viewport["height"] + 0.5, (
        f"{what} is outside the {viewport['width']}×{viewport['height']} window: {b}"
    )
    assert b["left"] >= 0 and b["right"] <= viewport["width"] + 0.5, f"{what} is cut off: {b}"
    return b


def assert_player_fits(page: Page) -> None:
    assert page.evaluate("() => window.scrollY") == 0
    player = page.locator(PLAYER).first
    assert_inside(page, "the player", player)
    assert_inside(page, "the 3D plot", player.locator(".js-adx-plot"))
    controls = player.locator(".adx-controls > :not([hidden])")
    tops = set()
    for i in range(controls.count()):
        b = assert_inside(page, f"player control {i}", controls.nth(i))
        tops.add(round(b["top"] + b["height"] / 2))
    assert max(tops) - min(tops) <= 3, f"the player's bar wraps onto a second line: {sorted(tops)}"


@pytest.mark.parametrize("size", [(1280, 720), (1440, 900)], ids=["1280x720", "1440x900"])
def test_explorer_and_presenter_fit_without_scrolling(app_page_at, size: tuple[int, int]) -> None:
    app_page = app_page_at(*size)
    page = app_page.page
    app_page.goto("")
    page.wait_for_function(READY)
    app_page.wait_idle()
    assert_inside(page, "the lesson title", page.locator("h4").first)
    assert_player_fits(page)
    assert_inside(page, "the verdict", page.get_by_test_id("stAlertContentSuccess").first)
    assert_inside(page, "the view buttons", page.locator(".adx-views button").first)

    app_page.goto("presenter")
    page.wait_for_function(READY)
    app_page.wait_idle()
    assert_inside(page, "the slide title", page.locator("h1").first)
    assert_player_fits(page)
    assert_inside(page, "the verdict", page.get_by_test_id("stAlertContentSuccess").first)
    assert_inside(page, "the Next button", page.get_by_role("button", name="Next"))
    app_page.assert_healthy(ignore_console=(r"status of 404",))


def test_curve_labels_do_not_overlap_and_are_readable(app_page_at) -> None:
    app_page = app_page_at(1280, 720)
    page = app_page.page
    app_page.goto("")
    page.wait_for_function(READY)
    chart = page.locator(".st-key-curves .js-plotly-plot").first
    chart.wait_for()
    texts = chart.locator("text.annotation-text")
    title = event = None
    for i in range(texts.count()):
        content = texts.nth(i).text_content()
        if content == "diameter (rad)":
            title = box(texts.nth(i))
        elif content == "consensus":
            event = box(texts.nth(i))
    assert title and event, "the curves lost their 'diameter (rad)' title or 'consensus' label"
    overlap_x = min(title["right"], event["right"]) - max(title["left"], event["left"])
    overlap_y = min(title["bottom"], event["bottom"]) - max(title["top"], event["top"])
    assert overlap_x <= 0 or overlap_y <= 0, f"'consensus' {event} overlaps 'diameter (rad)' {title}"
    sizes = chart.evaluate(
        "(el) => [...el.querySelectorAll('text')].map((t) => parseFloat(getComputedStyle(t).fontSize))"
    )
    assert min(sizes) >= 12, sizes
    assert (
        float(page.locator(".adx-time").first.evaluate("(e) => parseFloat(getComputedStyle(e).fontSize)"))
        >= 16
    )
