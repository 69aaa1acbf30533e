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
    wait_url_frame(page, 2)  # (else the URL's old frame=1 would pass the wait below at once)
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
    wait_url_frame(page, 2)
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


# ------------------------------------------------------------------------------ §3 one time for the page
CURSOR_JS = """() => {
  const gd = document.querySelector('.st-key-curves .js-plotly-plot');
  const shapes = (gd && gd.layout && gd.layout.shapes) || [];
  const line = shapes.find((s) => s.line && s.line.color === '#D55E00');
  return line ? line.x0 : null;
}"""
HEATMAP_T_JS = """() => {
  const gd = document.querySelector('.st-key-heatmap .js-plotly-plot');
  const title = gd && gd.layout && gd.layout.title && gd.layout.title.text;
  const m = title && title.match(/t = ([-0-9.e+]+)/);
  return m ? parseFloat(m[1]) : null;
}"""
PLAYER_T_JS = "() => { const p = window.__adxLastPlayer; return p.traj.t[p.frame]; }"


def test_a_lesson_opens_at_t0_with_every_token_and_autoplay_plays(app_page) -> None:
    page = open_explorer(app_page, lesson="metastable")
    expect(page.locator(PLAYER).first).to_have_attribute("data-source-frame", "0")
    assert "t = 0.00" in page.locator(".adx-time").first.inner_text()
    trails = page.evaluate(
        "() => document.querySelector('.js-adx-plot').data.filter((t) => t.name === 'trails')"
        ".reduce((n, t) => n + t.x.filter((v) => Number.isFinite(v)).length, 0)"
    )
    assert trails == 32  # one point per token: no trail yet, nothing of the ending given away
    page.wait_for_function(f"() => ({CURSOR_JS})() === 0")  # the curves are drawn, cursor at t = 0
    page.goto(app_page.url("", lesson="metastable", autoplay="true"))
    expect(page.locator(PLAYER).first).to_have_attribute("data-playing", "true")
    page.wait_for_function(f"() => +document.querySelector('{PLAYER}').dataset.sourceFrame > 5")


def test_the_curves_cursor_and_the_heatmap_follow_the_player(app_page) -> None:
    page = open_explorer(app_page)
    page.get_by_role("button", name=re.compile(r"^Play")).click()
    page.wait_for_function(f"() => +document.querySelector('{PLAYER}').dataset.sourceFrame >= 40")
    # While playing, the cursor moves with the player (throttled reports, no re-integration).
    page.wait_for_function(f"() => ({CURSOR_JS})() > 1")
    page.get_by_role("button", name=re.compile(r"^Pause")).click()
    t_player = page.evaluate(PLAYER_T_JS)
    page.wait_for_function(f"() => Math.abs(({CURSOR_JS})() - {t_player}) < 1e-3")
    page.get_by_role("tab", name="Attention").click()
    page.wait_for_function(f"() => Math.abs(({HEATMAP_T_JS})() - {t_player}) < 0.06")
    assert page.get_by_text("Heatmap time t").count() == 0  # no second clock on the page
    app_page.assert_healthy()


# ------------------------------------------------------------------------------ §2 the sphere in seconds
def test_a_spinner_stands_in_until_the_sphere_is_drawn_and_plotly_loads_once(app_page) -> None:
    page = app_page.page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "lotly" in r.url.split("/")[-1] else None)
    held: list = []
    page.route(re.compile(r"PlotlyChart\.[^/]*\.js$"), lambda route: held.append(route))
    with page.expect_request(re.compile(r"PlotlyChart\.[^/]*\.js$")):
        page.goto(app_page.url(""), wait_until="domcontentloaded")
    loading = page.locator(".adx-loading").first
    expect(loading).to_be_visible()
    expect(loading).to_contain_text("Loading the 3D view")
    assert loading.locator(".adx-spinner").count() == 1
    assert held, "plotly.js was not requested while the page loads"
    for route in held:
        route.continue_()
    page.unroute(re.compile(r"PlotlyChart\.[^/]*\.js$"))
    expect(page.locator(PLAYER).first).to_have_attribute("data-ready", "true")
    expect(loading).to_be_hidden()
    app_page.wait_idle()
    assert app_page.ink(page.locator(PLOT).first) > 20_000
    bundles = {u.split("?")[0] for u in requests if u.endswith(".js")}
    assert len(bundles) == 1, f"plotly.js loaded more than once: {bundles}"
    assert page.evaluate("() => typeof window.Plotly.react") == "function"


# ------------------------------------------------------------------------------ views and trails
def test_view_buttons_and_trails_switch_act_at_once_and_go_into_the_link(app_page) -> None:
    page = open_explorer(app_page)
    page.locator('.adx-views button[data-view="pole"]').click()
    page.wait_for_function(
        "() => { const s = document.querySelector('.js-adx-plot')._fullLayout.scene._scene.getCamera();"
        " return Math.abs(s.eye.x) < 1e-3 && Math.abs(s.eye.y) < 1e-3 && s.eye.z > 1; }"
    )
    page.wait_for_url(re.compile(r"[?&]view=pole\b"))
    expect(page.locator('.adx-views button[data-view="pole"]')).to_have_attribute("aria-pressed", "true")
    page.locator(".adx-views .adx-trails").click()
    page.wait_for_url(re.compile(r"[?&]trails=false\b"))
    page.get_by_role("button", name=re.compile(r"Go to start")).click()
    page.get_by_role("button", name=re.compile(r"Step forward")).click()
    segments = page.evaluate(
        "() => document.querySelector('.js-adx-plot').data.filter((t) => t.name === 'trails')"
        ".reduce((n, t) => n + t.x.length, 0)"
    )
    assert segments == 0  # trails off: no path drawn
    app_page.wait_idle()
    other = page.context.new_page()
    try:
        other.goto(page.url)
        expect(other.locator(PLAYER).first).to_have_attribute("data-ready", "true")
        expect(other.locator('.adx-views button[data-view="pole"]')).to_have_attribute("aria-pressed", "true")
        expect(other.locator(".adx-views .adx-trails")).to_have_attribute("aria-pressed", "false")
    finally:
        other.close()
