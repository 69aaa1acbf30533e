"""Real-browser fixtures: Playwright (sync API) driving Debian's chromium against the real app.

The app is started once per session with the same command line the Docker image runs
(`streamlit run app.py`, plus a free loopback port), from the repository root, so that
`.streamlit/config.toml` and `static/` are used exactly as in production.

Every test in tests/e2e/ gets the `e2e` marker (`pytest -m "not e2e"` skips them). Without a
chromium, the tests skip locally with a reason, but FAIL when the CI environment variable is set.

Fixtures
    app_server  (session)  base URL of the running app, e.g. "http://127.0.0.1:43817"
    browser     (session)  a Playwright Browser (Debian chromium, headless)
    page        (function) a fresh context + page (1280x900) whose base URL is app_server;
                           console errors and uncaught page errors are recorded in `browser_log`
    browser_log (function) BrowserLog(console_errors=[...], page_errors=[...]) for that page
    app_page    (function) StreamlitPage(page, ...): goto / wait_idle / expect_rerun / ink / checks
    nginx_executable (session) path of Debian's nginx (tests/e2e/test_proxy.py)

Example
    def test_explorer_draws(app_page):
        app_page.goto("explorer", n=64)          # base_url/explorer?n=64, waits for the run
        chart = app_page.page.get_by_test_id("stPlotlyChart").first
        with app_page.expect_rerun():            # waits until the triggered rerun has finished
            app_page.page.get_by_role("slider", name="Steps").press("ArrowRight")
        assert app_page.ink(chart) > 5_000       # non-background pixels in the chart's box
        app_page.assert_healthy()                # no stException, no console or page errors

On failure, a screenshot goes to test-results/e2e/<test>.png and the console errors and the tail
of the server log are printed in the test report.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:  # playwright is in the [test] extra; a missing install is reported by the fixtures below
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the environment
    _PLAYWRIGHT_IMPORT_ERROR: ImportError | None = exc
else:
    _PLAYWRIGHT_IMPORT_ERROR = None

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
APP_SCRIPT = "app.py"
ARTIFACTS_DIR = REPO_ROOT / "test-results" / "e2e"

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",  # no GPU: WebGL falls back to SwiftShader
    "--disable-background-networking",  # no network here: no component/update/sync traffic
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
SERVER_START_TIMEOUT_S = 60.0
DEFAULT_TIMEOUT_MS = 30_000  # first load to a drawn 3D canvas takes 5-7 s on 2 cores

# Counts finished script runs (full reruns and fragment runs) as the server reports them: every
# run ends with a ForwardMsg whose field 6 (`script_finished`, a varint enum) is 0 (finished),
# 1 (compile error) or 3 (fragment finished); 2 means "stopped early for a rerun" and is not
# counted. The WebSocket is wrapped before the app's scripts run and the top level of each binary
# message is decoded (protobuf wire format, no schema needed). DOM attributes are not enough: React
# batches a fast run's running -> notRunning flip into no visible change at all.
_RUN_COUNTER_JS = """
(() => {
  window.__stRunsFinished = 0;
  const FINISHED = new Set([0, 1, 3]);
  const scriptFinished = (buf) => {
    let i = 0;
    const varint = () => {
      let value = 0, scale = 1, byte;
      do { byte = buf[i++]; value += (byte & 0x7f) * scale; scale *= 128; }
      while (byte & 0x80 && i < buf.length);
      return value;
    };
    while (i < buf.length) {
      const key = varint(), field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) { const v = varint(); if (field === 6) return v; }
      else if (wire === 2) { const length = varint(); i += length; }  // not i += varint()!
      else if (wire === 1) { i += 8; }
      else if (wire === 5) { i += 4; }
      else return null;
    }
    return null;
  };
  const count = (data) => {
    const status = scriptFinished(new Uint8Array(data));
    if (FINISHED.has(status)) window.__stRunsFinished += 1;
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (event.data instanceof ArrayBuffer) count(event.data);
        else if (event.data instanceof Blob) event.data.arrayBuffer().then(count);
      });
    }
  };
})();
"""

_APP_IDLE = (
    '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
    ':is([data-test-script-state="notRunning"], [data-test-script-state="compilationError"])'
)


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where the browser tests must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: browser tests must run; .ci/run installs chromium)")
    pytest.skip(reason)


# --- collection ---------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).resolve().is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


# --- the browser --------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """Debian's chromium (on PATH, or /usr/bin/chromium); never a test tool's own download."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if _PLAYWRIGHT_IMPORT_ERROR is not None:
        _unavailable(f"playwright is not importable ({_PLAYWRIGHT_IMPORT_ERROR}); pip install -e '.[test]'")
    path = find_chromium()
    if path is None:
        _unavailable(
            "no chromium found (not on PATH, no /usr/bin/chromium): "
            "`apt-get install -y --no-install-recommends chromium` to run the browser tests"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable: str) -> Iterator[Browser]:
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def find_nginx() -> str | None:
    """Debian's nginx (on PATH, or /usr/sbin/nginx, outside a non-root user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


@pytest.fixture(scope="session")
def nginx_executable() -> str:
    """nginx for the multi-replica proxy tests (skip locally without it; CI installs it)."""
    path = find_nginx()
    if path is None:
        _unavailable("no nginx found: `apt-get install -y nginx` to run the proxy (multi-replica) tests")
    return path


# --- the app server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(port: int) -> list[str]:
    """`streamlit run app.py` as in the Dockerfile's ENTRYPOINT, on a loopback port."""
    return [
        sys.executable, "-m", "streamlit", "run", APP_SCRIPT,
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
    ]  # fmt: skip


def _tail(path: Path, limit: int = 6_000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "<no server log>"
    return text[-limit:] or "<empty server log>"


def _health(base_url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
            return resp.read().decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError):
        return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # the whole group: streamlit and anything it started
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class AppServer:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, limit: int = 6_000) -> str:
        return _tail(self.log_path, limit)


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The running app (process, base URL, log). Most tests only need `app_server` (the URL)."""
    if not (REPO_ROOT / APP_SCRIPT).is_file():
        pytest.fail(f"{REPO_ROOT / APP_SCRIPT} does not exist: nothing to serve")
    log_dir = tmp_path_factory.mktemp("streamlit")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    last_error = ""
    for attempt in range(3):  # a free port can be taken between probing and binding: retry
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = log_dir / f"server-{attempt}.log"
        with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would block the server
            proc = subprocess.Popen(
                streamlit_command(port),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, killed as a whole at the end
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if _health(base_url) == "ok":
                break
            time.sleep(0.2)
        if proc.poll() is None and _health(base_url) == "ok":
            server = AppServer(base_url, log_path, proc)
            try:
                yield server
            finally:
                _stop(proc)
                if proc.returncode not in (0, -signal.SIGTERM):
                    print(f"streamlit exited with {proc.returncode}:\n{server.log_tail()}")
            return
        exit_code = proc.poll()
        _stop(proc)
        last_error = (
            f"`{' '.join(streamlit_command(port))}` in {REPO_ROOT} "
            + (f"exited with {exit_code}" if exit_code is not None else "never became healthy")
            + f" within {SERVER_START_TIMEOUT_S:.0f} s. Server output:\n{_tail(log_path)}"
        )
        if "already in use" not in _tail(log_path):
            break
    pytest.fail(last_error)


@pytest.fixture(scope="session")
def app_server(streamlit_server: AppServer) -> str:
    """Base URL of the running app (no trailing slash)."""
    return streamlit_server.base_url


# --- pages --------------------------------------------------------------------------------------


@dataclass
class BrowserLog:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def problems(self, ignore: tuple[str, ...] = ()) -> list[str]:
        """Console and page errors, minus those matching any regex in `ignore`."""
        found = [f"console: {m}" for m in self.console_errors]
        found += [f"pageerror: {m}" for m in self.page_errors]
        return [m for m in found if not any(re.search(p, m) for p in ignore)]


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def page(
    browser: Browser,
    streamlit_server: AppServer,
    browser_log: BrowserLog,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=streamlit_server.base_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(_RUN_COUNTER_JS)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: browser_log.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: browser_log.page_errors.append(str(exc)))
    try:
        yield page
    finally:
        if _failed(request):
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS_DIR / (re.sub(r"[^\w.-]+", "_", request.node.nodeid) + ".png")
            with contextlib.suppress(Exception):
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}")
            print("browser problems:", *browser_log.problems() or ["none"], sep="\n  ")
            print(f"server log (tail):\n{streamlit_server.log_tail(3_000)}")
        context.close()


# --- helpers ------------------------------------------------------------------------------------


def wait_for_app_idle(page: Page, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
    """Wait until the app is connected, no script run is in progress and no spinner shows."""
    page.locator(_APP_IDLE).wait_for(state="attached", timeout=timeout_ms)
    page.get_by_test_id("stStatusWidgetRunningIcon").first.wait_for(state="hidden", timeout=timeout_ms)
    # Let React commit the last messages and the browser paint them (two animation frames).
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def runs_finished(page: Page) -> int:
    """Number of script runs (reruns and fragment runs) this page has seen finish."""
    return int(page.evaluate("window.__stRunsFinished || 0"))


@contextlib.contextmanager
def expect_rerun(page: Page, timeout_ms: float = DEFAULT_TIMEOUT_MS, count: int = 1) -> Iterator[None]:
    """Wait, after the block, until `count` more script runs have finished and the app is idle.

    Usage: ``with expect_rerun(page): page.get_by_role("slider", name="n").press("ArrowRight")``
    """
    before = runs_finished(page)
    yield
    page.wait_for_function(f"(window.__stRunsFinished || 0) >= {before + count}", timeout=timeout_ms)
    wait_for_app_idle(page, timeout_ms)


def png_pixels(png: bytes) -> Any:
    """PNG bytes -> (h, w, 3) uint8 array (Pillow comes with streamlit, numpy with the engine)."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert("RGB"))


def count_ink(png: bytes, tolerance: int = 16, background: tuple[int, int, int] | None = None) -> int:
    """Pixels differing from the background by more than `tolerance` in some channel.

    The background defaults to the image's most common colour (a chart box is mostly background).
    """
    import numpy as np

    rgb = png_pixels(png).astype(np.int16)
    if background is None:
        packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        values, counts = np.unique(packed.ravel(), return_counts=True)
        mode = int(values[counts.argmax()])
        background = ((mode >> 16) & 255, (mode >> 8) & 255, mode & 255)
    diff = np.abs(rgb - np.asarray(background, dtype=np.int16)).max(axis=-1)
    return int((diff > tolerance).sum())


def screenshot_digest(locator: Locator) -> str:
    """sha256 of the locator's screenshot: compare before/after to tell whether it redrew."""
    return hashlib.sha256(locator.screenshot(animations="disabled")).hexdigest()


@dataclass
class StreamlitPage:
    """A page on the running app, with Streamlit-aware waits and drawing checks."""

    page: Page
    base_url: str
    log: BrowserLog
    server: AppServer

    def url(self, path: str = "", **query: Any) -> str:
        qs = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        return f"{self.base_url}/{path.lstrip('/')}" + (f"?{qs}" if qs else "")

    def goto(self, path: str = "", *, timeout_ms: float = DEFAULT_TIMEOUT_MS, **query: Any) -> None:
        """Open base_url/path?query and wait for the first script run to finish."""
        self.page.goto(self.url(path, **query), wait_until="domcontentloaded", timeout=timeout_ms)
        self.page.wait_for_function("(window.__stRunsFinished || 0) >= 1", timeout=timeout_ms)
        wait_for_app_idle(self.page, timeout_ms)

    def wait_idle(self, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
        wait_for_app_idle(self.page, timeout_ms)

    def expect_rerun(
        self, timeout_ms: float = DEFAULT_TIMEOUT_MS, count: int = 1
    ) -> contextlib.AbstractContextManager[None]:
        return expect_rerun(self.page, timeout_ms, count)

    def runs_finished(self) -> int:
        return runs_finished(self.page)

    def ink(self, locator: Locator, tolerance: int = 16) -> int:
        """Non-background pixels in the locator's screenshot ("did it draw anything?")."""
        return count_ink(locator.screenshot(animations="disabled"), tolerance=tolerance)

    def digest(self, locator: Locator) -> str:
        return screenshot_digest(locator)

    def wait_for_ink(
        self, locator: Locator, min_pixels: int = 1_000, timeout_s: float = 30.0, tolerance: int = 16
    ) -> int:
        """Poll the locator's screenshot until it has >= min_pixels of ink; return the count.

        For WebGL/plotly, which draw some frames after the script run has finished.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            ink = self.ink(locator, tolerance)
            if ink >= min_pixels:
                return ink
            if time.monotonic() > deadline:
                raise AssertionError(f"only {ink} px of ink after {timeout_s} s (wanted {min_pixels})")
            self.page.wait_for_timeout(250)

    def wait_for_change(self, locator: Locator, before: str, timeout_s: float = 30.0) -> str:
        """Poll until the locator's screenshot digest differs from `before` and then holds still
        for one poll (drawing finished); return the new digest."""
        deadline = time.monotonic() + timeout_s
        previous = before
        while True:
            self.page.wait_for_timeout(250)
            current = self.digest(locator)
            if current != before and current == previous:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"no stable redraw within {timeout_s} s")
            previous = current

    def exceptions(self) -> list[str]:
        """Texts of the st.exception boxes on the page (uncaught errors in the script)."""
        return self.page.get_by_test_id("stException").all_inner_texts()

    def assert_healthy(self, ignore_console: tuple[str, ...] = ()) -> None:
        """No exception box and no console/page error (minus `ignore_console` regexes)."""
        assert not self.exceptions(), f"app raised: {self.exceptions()}"
        problems = self.log.problems(ignore_console)
        assert not problems, f"browser reported: {problems}"


@pytest.fixture
def app_page(page: Page, streamlit_server: AppServer, browser_log: BrowserLog) -> StreamlitPage:
    return StreamlitPage(page, streamlit_server.base_url, browser_log, streamlit_server)


@pytest.fixture
def app_page_at(browser: Browser, streamlit_server: AppServer, browser_log: BrowserLog) -> Iterator[Any]:
    """Factory ``app_page_at(width, height)`` → a StreamlitPage in a fresh context with that
    viewport (a projector's 1280×720, a laptop's 1440×900); contexts close after the test."""
    contexts: list[Any] = []

    def make(width: int, height: int) -> StreamlitPage:
        context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=streamlit_server.base_url
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.add_init_script(_RUN_COUNTER_JS)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: browser_log.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: browser_log.page_errors.append(str(exc)))
        return StreamlitPage(page, streamlit_server.base_url, browser_log, streamlit_server)

    try:
        yield make
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                context.close()


# --- a fresh machine: the app with an empty Hugging Face cache ----------------------------------


@contextlib.contextmanager
def serve_app(log_dir: Path, env: dict[str, str]) -> Iterator[AppServer]:
    """`streamlit run app.py` (as `streamlit_server`) with extra environment ``env``."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = log_dir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            streamlit_command(port), cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None and _health(base_url) != "ok":
            time.sleep(0.2)
        if _health(base_url) != "ok":
            pytest.fail(f"the app did not start with {env}:\n{_tail(log_path)}")
        yield AppServer(base_url, log_path, proc)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def fresh_machine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app as on a fresh `pip install -e ".[models]"`: HF_HOME an empty folder (no GPT-2, no
    cache at all) and HF_ENDPOINT a closed loopback port, so nothing can reach the internet."""
    home = tmp_path_factory.mktemp("hf-home-empty")
    env = {"HF_HOME": str(home), "HF_ENDPOINT": f"http://127.0.0.1:{_free_port()}"}
    with serve_app(tmp_path_factory.mktemp("streamlit-fresh"), env) as server:
        yield server


@pytest.fixture
def fresh_app_page(
    browser: Browser, fresh_machine_server: AppServer, browser_log: BrowserLog
) -> Iterator[StreamlitPage]:
    """A StreamlitPage (1280x900) on ``fresh_machine_server``."""
    context = browser.new_context(viewport=VIEWPORT, base_url=fresh_machine_server.base_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(_RUN_COUNTER_JS)
    page = context.new_page()
    page.on("console", lambda m: browser_log.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: browser_log.page_errors.append(str(exc)))
    try:
        yield StreamlitPage(page, fresh_machine_server.base_url, browser_log, fresh_machine_server)
    finally:
        context.close()
