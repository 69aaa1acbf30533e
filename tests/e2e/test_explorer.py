"""The explorer in a real browser (Debian chromium via Playwright; fixtures in conftest.py).

What a person at a projector relies on: the 3D canvas is drawn (pixels, not just a node), a
slider re-draws it, a camera rotated by hand survives a slider change, a copied link opens the
same view, and Play advances the time readout.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page

PLOT = ".js-adx-plot"
CANVAS = f"{PLOT} .gl-container canvas"
TOKENS_JS = """() => {
  const gd = document.querySelector('.js-adx-plot');
  const tr = gd && gd.data && gd.data.find((t) => t.name === 'tokens');
  return tr ? tr.x.length : null;
}"""
# The camera on screen: the live gl3d camera (the layout copy can lag behind a drag).
CAMERA_JS = """() => {
  const gd = document.querySelector('.js-adx-plot');
  const scene = gd && gd._fullLayout && gd._fullLayout.scene;
  const cam = scene && (scene._scene ? scene._scene.getCamera() : scene.camera);
  return cam ? [cam.eye.x, cam.eye.y, cam.eye.z] : null;
}"""


def open_explorer(app_page, **query) -> Page:
    # The explorer is the default page: its address is the root ("/explorer" is answered with
    # the main page plus a "page does not exist" console error and 404 path probes).
    app_page.goto("", **query)
    page = app_page.page
    page.locator(CANVAS).first.wait_for(state="visible")
    page.wait_for_function(f"({TOKENS_JS})() !== null")
    return page


def slider(page: Page, name: str):
    return page.get_by_test_id("stSidebar").get_by_role("slider", name=name)


def wait_tokens(page: Page, n: int) -> None:
    page.wait_for_function(f"({TOKENS_JS})() === {n}")


def test_the_3d_canvas_is_drawn(app_page) -> None:
    page = open_explorer(app_page)
    plot = page.locator(PLOT).first
    box = plot.bounding_box()
    assert box and box["width"] > 400 and box["height"] > 400  # big on a 1280-px screen
    assert app_page.ink(plot) > 20_000  # sphere, trails and tokens, not an empty node
    assert "Consensus at t" in page.get_by_test_id("stAlertContentSuccess").first.inner_text()
    app_page.assert_healthy()


def test_a_slider_redraws_the_sphere_and_keeps_a_hand_rotated_camera(app_page) -> None:
    page = open_explorer(app_page)
    plot = page.locator(PLOT).first
    # rotate by hand
    before_cam = page.evaluate(CAMERA_JS)
    box = plot.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(cx + 18 * k, cy + 5 * k)
    page.mouse.up()
    ex, ey, ez = before_cam
    page.wait_for_function(
        f"() => {{ const c = ({CAMERA_JS})();"
        f" return c && Math.abs(c[0] - {ex}) + Math.abs(c[1] - {ey}) + Math.abs(c[2] - {ez}) > 0.05; }}"
    )
    page.wait_for_url(re.compile(r"[?&]cam="))  # the player reported it (a rerun wrote the URL)
    app_page.wait_idle()
    rotated = page.evaluate(CAMERA_JS)
    assert max(abs(a - b) for a, b in zip(rotated, before_cam, strict=True)) > 0.05
    picture = app_page.digest(plot)

    n = slider(page, "n (tokens)")
    with app_page.expect_rerun():
        n.focus()
        page.keyboard.press("ArrowRight")
    wait_tokens(page, 33)
    app_page.wait_for_change(plot, picture)  # the new picture is drawn (and holds still)
    after = page.evaluate(CAMERA_JS)
    assert max(abs(a - b) for a, b in zip(after, rotated, strict=True)) < 1e-3, (rotated, after)
    assert re.search(r"[?&]n=33\b", page.url)
    assert "cam=" in page.url
    app_page.assert_healthy()


def test_a_copied_link_opens_the_same_view(app_page) -> None:
    first = open_explorer(app_page, lesson="metastable", n="24", beta="5", seed="4")
    with app_page.expect_rerun():
        slider(first, "β (inverse temperature)").focus()
        first.keyboard.press("ArrowRight")
    wait_tokens(first, 24)
    url = first.url
    assert "lesson=metastable" in url and "beta=5.1" in url

    def state(p: Page) -> tuple:
        return (
            slider(p, "n (tokens)").input_value(),
            slider(p, "β (inverse temperature)").input_value(),
            p.get_by_test_id("stSidebar").get_by_role("spinbutton", name="Seed").input_value(),
            p.locator("h4").first.inner_text(),
            p.get_by_test_id("stAlert").first.inner_text(),
        )

    expected = state(first)
    other = first.context.new_page()
    try:
        other.goto(url)
        other.locator(CANVAS).first.wait_for(state="visible")
        app_page.wait_idle()
        assert state(other) == expected
        assert expected[:3] == ("24", "5.1", "4")
        assert other.evaluate(TOKENS_JS) == 24
    finally:
        other.close()


def test_play_advances_the_time_readout(app_page) -> None:
    page = open_explorer(app_page)
    readout = page.locator(".adx-time").first
    page.get_by_role("button", name=re.compile(r"Go to start")).click()
    page.wait_for_function("() => document.querySelector('.adx-time').textContent.includes('0.00')")
    assert "t = 0.00" in readout.inner_text()
    page.get_by_role("button", name=re.compile(r"^Play")).click()
    page.wait_for_function(
        "() => { const m = document.querySelector('.adx-time').textContent.match(/t = ([0-9.]+)/);"
        " return m && parseFloat(m[1]) > 0.5; }"
    )
    app_page.assert_healthy()


# ------------------------------------------------------------------------------ lesson links (issue 7)
def test_a_lesson_link_hides_controls_and_restores_camera_and_frame(app_page) -> None:
    page = open_explorer(
        app_page,
        lesson="metastable",
        beta="5",
        hide="beta,n_heads,mask",
        cam="0,0,1.6,0,1,0,0,0,0",
        frame="40",
    )
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_role("slider", name="n (tokens)").is_visible()
    assert not sidebar.get_by_role("slider", name="β (inverse temperature)").is_visible()
    assert not sidebar.get_by_text("Mask").is_visible()
    page.wait_for_function("() => document.querySelector('.adx-player').dataset.frame === '40'")
    # the link's camera (eye at (0, 0, 1.6)) once the scene is drawn
    page.wait_for_function(
        f"() => {{ const e = ({CAMERA_JS})(); "
        "return !!e && Math.abs(e[0]) < 1e-3 && Math.abs(e[1]) < 1e-3 && Math.abs(e[2] - 1.6) < 1e-3; }"
    )
    app_page.assert_healthy()


def test_copy_link_copies_the_address_or_shows_it(app_page) -> None:
    page = open_explorer(app_page, lesson="metastable", n="24")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy link").click()
    page.wait_for_function(
        "() => { const m = document.querySelector('.adx-copy-msg'); return m && m.textContent.length > 0; }"
    )
    msg = page.locator(".adx-copy-msg").inner_text()
    if "copied" in msg.lower():
        copied = page.evaluate("navigator.clipboard.readText()")
    else:  # no clipboard: the link is shown, selected, in a text field
        copied = page.locator(".adx-copy-url").input_value()
    assert "lesson=metastable" in copied and "n=24" in copied
    app_page.assert_healthy()


def test_embed_mode_has_no_sidebar_and_a_big_player(app_page) -> None:
    page = open_explorer(app_page, embed="true", lesson="consensus")
    assert page.get_by_test_id("stSidebar").count() == 0 or not page.get_by_test_id("stSidebar").is_visible()
    box = page.locator(PLOT).first.bounding_box()
    assert box and box["width"] > 550
    assert app_page.ink(page.locator(PLOT).first) > 20_000
    app_page.assert_healthy()
