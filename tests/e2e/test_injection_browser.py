"""A stranger's link injects nothing, in a real browser (issue 13 §1; Debian chromium via Playwright).

Every page is opened with a link whose every parameter (all those any page reads: the table of
tests/test_injection.py) holds a hostile value: a Markdown image + ``javascript:`` link, and an
``<img onerror>``. While the page runs and settles, every request the browser makes is recorded:
none may leave for another host:port than the app's (the payload's host is 127.0.0.1 too, on port
8999 — so host *and port* are compared). Afterwards the DOM (and any iframe's) holds no image from
the payload, no ``javascript:`` link, no link to the payload's host, and no dialog opened.
"""

from __future__ import annotations

import urllib.parse

import pytest
from playwright.sync_api import Page
from test_injection import EXPLORER_PARAMS, LAB_PARAMS, PRESENTER_PARAMS  # tests/test_injection.py

IMAGE_LINK = "![x](http://127.0.0.1:8999/qk.png)[clickme](javascript:alert(4))[a](https://evil.example)"
IMG_ONERROR = "<img src=http://127.0.0.1:8999/i.png onerror=alert(1)>"
BOTH = f"{IMAGE_LINK} {IMG_ONERROR} www.evil.example"
ALL_PARAMS = sorted(set(EXPLORER_PARAMS) | set(LAB_PARAMS) | set(PRESENTER_PARAMS))
#: Pages that read link parameters get both payloads in turn; the others one link with both in it.
READING_PAGES = ("explorer", "theorem_lab", "presenter")
QUIET_PAGES = ("compare", "euclidean", "mean_field", "phase_diagram", "deep", "real_model", "about")
CASES = [(p, "image-link", IMAGE_LINK) for p in READING_PAGES] + [
    (p, "img-onerror", IMG_ONERROR) for p in READING_PAGES
]
CASES += [(p, "both", BOTH) for p in QUIET_PAGES]
FORBIDDEN = (
    'img[src*="8999"], image[href*="8999"], a[href^="javascript:" i], a[href*="evil.example"], '
    'a[href*="8999"], [onerror]'
)
#: What a page that reads the link says about the payload.
NAMED = {"explorer": "cannot use", "theorem_lab": "unknown theorem", "presenter": "Unknown lessons"}
# Opening a page URL directly makes the frontend probe the path for the app's base URL (404s).
PROBE_404 = (r"Failed to load resource: the server responded with a status of 404",)


def _host_port(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return None  # data:, blob:, about: — nothing leaves the browser
    port = parts.port or {"http": 80, "ws": 80, "https": 443, "wss": 443}[parts.scheme]
    return f"{parts.hostname}:{port}"


@pytest.fixture(scope="module")
def warmed(app_server: str, browser) -> str:
    """One visit to "/" first: on a fresh server the first request on a page path is answered as a
    legacy pages/ app (see ui.session.leave_legacy_pages_mode) and would lose its query string."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(app_server, wait_until="domcontentloaded")
        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached")
    finally:
        context.close()
    return app_server


@pytest.mark.parametrize(("path", "name", "payload"), CASES, ids=[f"{p}-{n}" for p, n, _ in CASES])
def test_a_hostile_link_fetches_nothing_and_injects_nothing(
    warmed: str, app_page, path: str, name: str, payload: str
) -> None:
    page: Page = app_page.page
    app_host = _host_port(warmed)
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    query = dict.fromkeys(ALL_PARAMS, payload)
    if path in READING_PAGES:
        # the whole run: the link's values are read and answered (the explorer is the app's "/")
        app_page.goto("" if path == "explorer" else path, **query)
    else:
        # These pages read no parameter: only app.py sees the link, and its part of the page is drawn
        # before the page's heading. Their default runs take 10-30 s on a loaded 2-core machine; the
        # heading is where the link can no longer matter.
        page.goto(app_page.url(path, **query), wait_until="domcontentloaded")
        page.locator('[data-testid="stMain"] :is(h1, h2, h3, h4)').first.wait_for()
    page.wait_for_load_state("networkidle")  # anything the rendered page would fetch has been asked for

    foreign = [url for url in requests if _host_port(url) not in (None, app_host)]
    assert not foreign, foreign
    for frame in page.frames:  # the page and any component iframe
        found = frame.locator(FORBIDDEN)
        assert found.count() == 0, (frame.url, found.first.evaluate("e => e.outerHTML"))
    assert not dialogs, dialogs
    assert app_page.exceptions() == []
    app_page.assert_healthy(ignore_console=PROBE_404)
    named = NAMED.get(path)
    if named:  # the refused values are named, as text
        assert page.get_by_text(named, exact=False).count() > 0, named
