"""The multi-replica deployment in a real browser, without Docker: Debian's nginx, configured from
deploy/nginx/adx.conf.template (the file deploy/compose.yaml uses), in front of two
`streamlit run app.py` processes on loopback ports (deploy/topology.py).

* A browser session stays on one replica: across reruns, a page reload and an upload (the PUT
  must reach the replica that holds the session). Which replica serves it is read on the replica
  side (its established connection from the proxy: the session's websocket) and in nginx's
  access log (``upstream=`` of every request carrying this browser's affinity cookie).
* That replica is killed mid-session (SIGKILL): the browser reconnects through the proxy to the
  other replica, the page is rebuilt there with everything the user set (β from the slider, the
  seed from the link, trails off, the 3D view drawn), and it keeps working (a fragment rerun).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from deploy.topology import LocalTopology, Replica

from .conftest import (
    _RUN_COUNTER_JS,
    ARTIFACTS_DIR,
    DEFAULT_TIMEOUT_MS,
    VIEWPORT,
    _failed,
    expect_rerun,
    runs_finished,
    wait_for_app_idle,
)

CANVAS = ".js-adx-plot .gl-container canvas"
BETA = "β (inverse temperature)"


@pytest.fixture(scope="module")
def topology(nginx_executable: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTopology]:
    workdir = tmp_path_factory.mktemp("proxy")
    with LocalTopology(replicas=2, workdir=workdir, nginx=nginx_executable) as topo:
        yield topo


@pytest.fixture
def proxy_page(browser: Browser, topology: LocalTopology, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=topology.base_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(_RUN_COUNTER_JS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        assert not errors, f"uncaught page errors: {errors}"
    finally:
        if _failed(request) or errors:
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS_DIR / f"{request.node.name}.png"), full_page=True)
            for r in topology.servers:
                print(f"--- {r.log_path.name}\n{r.log_path.read_text(errors='replace')[-1500:]}")
        context.close()


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def serving(topology: LocalTopology) -> Replica:
    """The one replica holding this test's websocket (the only browser on the topology)."""
    wait_until(
        lambda: sorted(r.open_connections() for r in topology.servers if r.alive()) in ([0, 1], [1]),
        "exactly one replica to hold the session's websocket",
    )
    return next(r for r in topology.servers if r.alive() and r.open_connections() == 1)


def affinity(page: Page) -> str:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert "adx_affinity" in cookies, f"the proxy set no affinity cookie: {sorted(cookies)}"
    return cookies["adx_affinity"]


def open_app(page: Page, path: str) -> None:
    page.goto(path, wait_until="domcontentloaded")
    page.wait_for_function("(window.__stRunsFinished || 0) >= 1")
    wait_for_app_idle(page)
    page.locator(CANVAS).first.wait_for(state="visible")


def sidebar_state(page: Page) -> tuple[str, str, bool]:
    sidebar = page.get_by_test_id("stSidebar")
    return (
        sidebar.get_by_role("slider", name=BETA).input_value(),
        sidebar.get_by_role("spinbutton", name="Seed").input_value(),
        page.locator(".adx-views .adx-trails").first.get_attribute("aria-pressed") == "true",
    )


def test_an_upload_reaches_the_replica_holding_the_session(
    proxy_page: Page, topology: LocalTopology, tmp_path: Path
) -> None:
    """The uploaded file is PUT over HTTP, not over the websocket: without affinity it would land
    on the other replica half of the time ("Invalid session_id")."""
    assert all(r.alive() for r in topology.servers), "runs before the failover test kills one"
    csv = tmp_path / "tokens.csv"
    csv.write_text("1,0,0\n0,1,0\n0,0,1\n-1,0,0\n", encoding="utf-8")
    page = proxy_page
    open_app(page, "/?seed=5")
    holder = serving(topology)
    with expect_rerun(page):
        page.locator(".st-key-_upload_box input[type=file]").set_input_files(str(csv))
    expect(page.get_by_test_id("stSidebar")).to_contain_text("(not in the link)")
    puts = [
        (p, t) for p, t in topology.upstreams_in_log(affinity(page)) if p.startswith("/_stcore/upload_file")
    ]
    assert puts and all(tried == [holder.address] for _, tried in puts), puts


def test_a_session_stays_on_its_replica_and_survives_losing_it(
    proxy_page: Page, topology: LocalTopology
) -> None:
    page = proxy_page
    open_app(page, "/?seed=11")
    pinned = serving(topology)
    other = next(r for r in topology.servers if r is not pinned)

    # what the user sets: β on the slider (twice), trails off; the seed came with the link
    beta = page.get_by_test_id("stSidebar").get_by_role("slider", name=BETA)
    for _ in range(2):
        with expect_rerun(page):
            beta.focus()
            page.keyboard.press("ArrowRight")
        assert serving(topology) is pinned
    page.locator(".adx-views .adx-trails").first.click()  # the player's switch: into the link
    page.wait_for_url(re.compile(r"[?&]trails=false\b"))
    wait_for_app_idle(page)
    assert sidebar_state(page) == ("1.2", "11", False)
    for param in ("beta=1.2", "seed=11", "trails=false"):
        assert param in page.url
    url = page.url

    # a reload opens a new websocket: the affinity cookie brings it to the same replica
    open_app(page, url)
    assert serving(topology) is pinned
    assert sidebar_state(page) == ("1.2", "11", False)
    mine = affinity(page)
    before_kill = topology.upstreams_in_log(mine)
    assert before_kill and {tried[-1] for _, tried in before_kill} == {pinned.address}, before_kill

    # the replica dies mid-session
    runs = runs_finished(page)
    pinned.kill()
    wait_until(lambda: other.open_connections() == 1, "the browser to reconnect to the other replica")
    page.wait_for_function(f"(window.__stRunsFinished || 0) > {runs}")  # rebuilt there, no click
    wait_for_app_idle(page)
    expect(page.locator("[data-testid=stApp]")).to_have_attribute("data-test-connection-state", "CONNECTED")
    assert sidebar_state(page) == ("1.2", "11", False)
    for param in ("beta=1.2", "seed=11", "trails=false"):
        assert param in page.url
    expect(page.locator(CANVAS).first).to_be_visible()  # the 3D view is drawn
    expect(page.get_by_test_id("stAlertContentSuccess").first).to_contain_text("Consensus at t")
    assert page.get_by_test_id("stException").count() == 0

    # and it keeps working there: a fragment rerun (the player's time → curves and heatmap), then a
    # full one
    page.get_by_role("button", name=re.compile(r"Go to start")).click()
    page.get_by_role("button", name=re.compile(r"Step forward")).click()
    page.wait_for_url(re.compile(r"[?&]frame=1\b"))
    wait_for_app_idle(page)
    with expect_rerun(page):
        beta.focus()
        page.keyboard.press("ArrowRight")
    assert sidebar_state(page) == ("1.3", "11", False)
    assert page.get_by_test_id("stException").count() == 0
    after_kill = topology.upstreams_in_log(mine)[len(before_kill) :]
    broken = ("/_stcore/stream", [pinned.address])  # the websocket open at the kill, logged as it broke
    assert after_kill.count(broken) == 1, after_kill
    after_kill.remove(broken)
    assert after_kill and {tried[-1] for _, tried in after_kill} == {other.address}, after_kill
