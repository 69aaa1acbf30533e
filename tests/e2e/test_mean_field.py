"""The Gaussian mean-field page in a real browser: a pasted scenario too big for the page shows a
progress bar and a Cancel button; Cancel stops it and the preset's view stays (issue 13 §2)."""

from __future__ import annotations

from playwright.sync_api import expect

MEAN_FIELD = "mean_field"
# Opening a page URL directly makes the frontend probe the path for the app's base URL (404s).
PROBE_404 = (r"Failed to load resource: the server responded with a status of 404",)
#: The scenario of issue 13 §2 (once 11 minutes of one core with no way to stop it).
HOSTILE = (
    '{"d": 16, "variant": "sinkhorn", "T": 10000, "frames": 20001, "rtol": 1e-13, "atol": 1e-15, '
    '"sinkhorn_max_iter": 100000, "sinkhorn_tol": 1e-14, "dt": 0.001, "blowup": 1e12}'
)


def test_cancel_stops_a_long_run_and_keeps_the_preset(app_page) -> None:
    app_page.goto("")  # a fresh server's first request must be the app's root (see test_theorem_lab)
    app_page.goto(MEAN_FIELD)
    page = app_page.page
    charts = page.locator(".stPlotlyChart")
    expect(charts.first).to_be_visible()
    drawn = charts.count()
    page.get_by_text("Scenario as JSON").click()
    box = page.get_by_label("Paste a scenario (overrides the controls)")
    box.fill(HOSTILE)
    box.press("Control+Enter")
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Integrating the moment ODE")).to_be_visible()
    cancel.click()
    expect(page.get_by_text("was cancelled; showing the preset")).to_be_visible(timeout=30_000)
    app_page.wait_idle()
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    assert charts.count() == drawn
    app_page.assert_healthy(ignore_console=PROBE_404)
