"""How long after a slider change does the explorer show the new picture?

Two measurements, each the median of repeated runs, for the default lesson:

1. server side (no browser):
   * ``build_display`` — integrate + derive the display arrays (what a cache miss costs);
   * an AppTest rerun after a slider change, uncached (a β never seen before) and cached (back to
     a value seen before): the whole script — sidebar, cached data, player payload, curves,
     heatmap (the static figure is off by default: built only when its toggle is on);
2. in a real browser (Playwright + Debian chromium against ``streamlit run app.py``): from the key
   press on the "n (tokens)" slider to the player's plot holding the new tokens (polled every
   animation frame), uncached (a new n) and cached (back to an n seen before).

Targets: server rerun ≤ 250 ms, browser ≤ 1 s.

    .venv/bin/python benchmarks/app_latency.py [--repeat 7] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKENS_JS = """() => {
  const gd = document.querySelector('.js-adx-plot');
  const tr = gd && gd.data && gd.data.find((t) => t.name === 'tokens');
  return tr ? tr.x.length : null;
}"""


def median_ms(samples: list[float]) -> str:
    return f"{1000 * statistics.median(samples):8.1f}"


def spread_ms(samples: list[float]) -> str:
    return f"{1000 * min(samples):.0f}–{1000 * max(samples):.0f}"


# ------------------------------------------------------------------------------------------ server
def server_side(repeat: int) -> list[tuple[str, list[float], float]]:
    from streamlit.testing.v1 import AppTest

    from dynamics.presets import DEFAULT_PRESET
    from ui.session import build_display

    rows: list[tuple[str, list[float], float]] = []
    base = DEFAULT_PRESET.scenario
    samples = []
    for k in range(repeat):
        scenario = base.replace(beta=1.0 + 0.01 * (k + 1))
        t0 = time.perf_counter()
        build_display(scenario)
        samples.append(time.perf_counter() - t0)
    rows.append(("build_display (integrate + derive), uncached", samples, 0.25))

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    uncached, cached = [], []
    for k in range(repeat):
        beta = round(1.5 + 0.1 * k, 1)  # a new value each time: a cache miss
        t0 = time.perf_counter()
        at.slider(key="beta").set_value(beta).run()
        uncached.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        at.slider(key="beta").set_value(1.0).run()
        cached.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    rows.append(("AppTest rerun after a β change, uncached", uncached, 0.25))
    rows.append(("AppTest rerun after a β change, cached", cached, 0.25))
    return rows


# ------------------------------------------------------------------------------------------ browser
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_side(repeat: int) -> list[tuple[str, list[float], float]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        print("no chromium: skipping the browser measurement")
        return []
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            t0 = time.perf_counter()
            page.goto(base + "/", wait_until="domcontentloaded")
            page.locator(".js-adx-plot .gl-container canvas").first.wait_for(state="visible", timeout=60_000)
            page.wait_for_function(f"({TOKENS_JS})() === 32", timeout=60_000)
            first_load = time.perf_counter() - t0
            slider = page.get_by_test_id("stSidebar").get_by_role("slider", name="n (tokens)")
            slider.focus()

            def press(key: str, n: int) -> float:
                page.evaluate("() => { window.__t0 = performance.now(); }")
                page.keyboard.press(key)
                page.wait_for_function(
                    f"() => {{ if (({TOKENS_JS})() === {n}) {{ window.__t1 = performance.now();"
                    " return true; } return false; }",
                    polling="raf",
                    timeout=60_000,
                )
                page.wait_for_timeout(400)  # let the follow-up (fragment, curves) settle
                return page.evaluate("() => (window.__t1 - window.__t0) / 1000")

            uncached, cached = [], []
            n = 32
            for _ in range(repeat):  # n only grows: every ArrowRight to n + 1 is a new scenario
                uncached.append(press("ArrowRight", n + 1))
                cached.append(press("ArrowLeft", n))  # seen before: served from the cache
                press("ArrowRight", n + 1)
                n += 1
            browser.close()
        return [
            ("browser: first load to a drawn sphere", [first_load], 15.0),
            ("browser: key press → new sphere, uncached", uncached, 1.0),
            ("browser: key press → new sphere, cached", cached, 1.0),
        ]
    finally:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    rows = server_side(args.repeat)
    if not args.no_browser:
        rows += browser_side(args.repeat)
    print(f"\n{'measurement (default lesson)':50s} {'median ms':>9s}  {'range ms':>12s}  target  ok")
    print("-" * 92)
    for name, samples, target in rows:
        ok = statistics.median(samples) <= target
        print(
            f"{name:50s} {median_ms(samples)}  {spread_ms(samples):>12s}  "
            f"{1000 * target:5.0f}   {'yes' if ok else 'NO'}"
        )
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
