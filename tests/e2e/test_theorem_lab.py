"""The Theorem lab in a real browser (Debian chromium via Playwright; fixtures in conftest.py).

What a teacher does with it: open a shared link to a theorem, see its assumptions ticked and the run
beside them, click a counter-example (or flip a control) and see the ✓ turn into ✗ with the card
saying what the theorem no longer guarantees.

Needs the page registered in app.py:
``st.Page("pages/theorem_lab.py", title="Theorem lab", url_path="theorem_lab")``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from dynamics.theorems import IDS, get
from ui.theorem_card import LAB_URL_PATH

PLOT = ".js-adx-plot"
# Opening a page URL directly makes the frontend probe the path for the app's base URL (404s).
PROBE_404 = (r"Failed to load resource: the server responded with a status of 404",)


def assumption(page: Page, name: str):
    return page.locator(f'.adx-assumption[data-name="{name}"]')


def open_lab(app_page, **query) -> Page:
    # Warm up on "/" first: on a fresh server Streamlit 1.67 treats the very first request as a
    # legacy pages/ app until app.py's st.navigation has run once (see ui.session
    # .leave_legacy_pages_mode); a first request on a page whose url_path differs from its file
    # name is then answered with "page not found" and loses its query string.
    app_page.goto("")
    app_page.goto(LAB_URL_PATH, **query)
    page = app_page.page
    if page.get_by_text("Theorem lab", exact=True).count() == 0:
        pytest.fail("the Theorem lab is not registered in app.py's st.navigation")
    return page


def test_a_counter_example_turns_the_hemisphere_tick_into_a_cross(app_page) -> None:
    page = open_lab(app_page, theorem="ast-hemisphere")
    row = assumption(page, "open_hemisphere")
    expect(row).to_have_attribute("data-holds", "true")
    expect(row).to_contain_text("✓")
    expect(row).to_contain_text("depth inside the best hemisphere")
    expect(page.get_by_text("Observed", exact=False).first).to_be_visible()
    app_page.wait_for_ink(page.locator(PLOT).first, min_pixels=20_000)  # the run beside the card

    with app_page.expect_rerun():
        page.get_by_role("button", name=re.compile("tokens in no open hemisphere")).click()
    expect(row).to_have_attribute("data-holds", "false")
    expect(row).to_contain_text("✗")
    expect(page.get_by_text("no longer guarantees").first).to_be_visible()
    expect(page.get_by_text("Counter-example loaded", exact=False).first).to_be_visible()
    assert "x0=" in page.url  # the address bar now links to the broken scenario
    app_page.assert_healthy(ignore_console=PROBE_404)


def test_the_mask_toggle_flips_full_attention_live(app_page) -> None:
    page = open_lab(app_page, theorem="ast-hemisphere")
    row = assumption(page, "full_attention")
    expect(row).to_have_attribute("data-holds", "true")
    with app_page.expect_rerun():
        page.get_by_test_id("stSidebar").get_by_text("Causal mask").click()
    expect(row).to_have_attribute("data-holds", "false")
    expect(page.get_by_text("no longer guarantees").first).to_be_visible()
    assert "mask=causal" in page.url
    with app_page.expect_rerun():
        page.get_by_test_id("stSidebar").get_by_text("Causal mask").click()
    expect(row).to_have_attribute("data-holds", "true")
    app_page.assert_healthy(ignore_console=PROBE_404)


def test_the_picker_shows_theorem_names_and_links_by_id(app_page) -> None:
    page = open_lab(app_page, theorem="ast-hemisphere")
    picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first
    picker.click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    expect(options).to_have_count(len(IDS))
    shown = options.all_inner_texts()
    assert shown == [get(t).name for t in IDS]  # names, never ids
    with app_page.expect_rerun():
        page.get_by_role("option", name=get("ast-causal-identity").name).click()
    expect(page.get_by_role("heading", name=get("ast-causal-identity").name)).to_be_visible()
    expect(page).to_have_url(re.compile(r"theorem=ast-causal-identity"))
    app_page.assert_healthy(ignore_console=PROBE_404)
