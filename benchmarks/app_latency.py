"""How long until the explorer shows a sphere, and how long after a change does it show the new one?

Three groups of measurements for the default lesson:

1. server side (no browser), medians of repeated runs:
   * ``build_display`` — integrate + derive the display arrays (what a cache miss costs);
   * an AppTest rerun after a slider change, uncached (a β never seen before) and cached;
2. first drawn sphere in a real browser (Playwright + Debian chromium against
   ``streamlit run app.py``): the first visit after the server started, then cold (new browser
   profile: empty HTTP cache, warm server) and warm (same profile, a new tab), broken down with the
   browser's own clocks (``performance.now()`` from navigation):
   * **HTML** — the document's ``responseEnd`` (Navigation Timing);
   * **plotly.js** — every copy of plotly.js the page loaded (URL, transfer end, size) and its parse
     time on V8's background threads (trace event ``v8.parseOnBackground``): two copies show as
     two rows;
   * **mount** / **plotly ready** — the player's performance marks ``adx:mount`` and
     ``adx:plotly-ready`` (plotly.js fetched, parsed, evaluated);
   * **first WebGL frame** — the first animation frame after the player's plot holds its tokens
     (polled every animation frame: plotly draws gl3d on the next frame);
   * **first script run done** — the first ``script_finished`` message on the WebSocket;
   * **main-thread JS** — all script compile + evaluation time on the main thread (trace);
3. lesson switch in the same tab (warm browser cache): pick another lesson in the sidebar and time
   until the player holds the new trajectory (its data signature changes and a frame is drawn);
   the first switch to a lesson integrates it on the server, switching back is served from cache.

Targets (idle machine, software WebGL): first drawn sphere ≤ 4 s (cold), ≤ 1 s to switch lesson
(warm). The machine is shared: the load average is printed with the table.

    .venv/bin/python benchmarks/app_latency.py [--repeat 5] [--loads 3] [--no-browser] [--no-server]
        [--compare OTHER_CHECKOUT]   # before/after in one run: e.g. main, unpacked with git archive

Known bias of ``--compare``: an A/A run (the same commit in both slots, load 2–4, 3 loads) put the
compared slot's first WebGL frame 1.0–1.2 s earlier (cold 4.1 vs 5.3 s, warm 3.7 vs 4.7 s) and its
lesson switches ~0.2 s faster; its "plotly ready" marks were missing too. Until that is found, read
a before/after only against an A/A run made the same way, or run each checkout alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Recorded from the very start of the document (an init script): the time of the first finished
# script run (protobuf field 6 of a ForwardMsg = script_finished) and of the first animation frame
# after the player's plot holds its tokens.
_PROBE_JS = """
(() => {
  window.__probe = { runs: 0, firstRun: null, firstFrame: null };
  const FINISHED = new Set([0, 1, 3]);
  const status = (buf) => {
    let i = 0;
    const varint = () => { let v = 0, s = 1, b; do { b = buf[i++]; v += (b & 0x7f) * s; s *= 128; }
      while (b & 0x80 && i < buf.length); return v; };
    while (i < buf.length) {
      const key = varint(), field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) { const v = varint(); if (field === 6) return v; }
      else if (wire === 2) { const n = varint(); i += n; }
      else if (wire === 1) i += 8; else if (wire === 5) i += 4; else return null;
    }
    return null;
  };
  const count = (data) => {
    if (FINISHED.has(status(new Uint8Array(data)))) {
      window.__probe.runs += 1;
      if (window.__probe.firstRun === null) window.__probe.firstRun = performance.now();
    }
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) { super(...a); this.addEventListener("message", (e) => {
      if (e.data instanceof ArrayBuffer) count(e.data);
      else if (e.data instanceof Blob) e.data.arrayBuffer().then(count); }); }
  };
  const poll = () => {
    const gd = document.querySelector(".js-adx-plot");
    const tr = gd && gd.data && gd.data.find((t) => t.name === "tokens");
    const canvas = gd && gd.querySelector(".gl-container canvas");
    if (tr && tr.x && tr.x.length && canvas) {
      requestAnimationFrame(() => { window.__probe.firstFrame = performance.now(); });
      return;
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();
"""

_SIG_JS = "() => (window.__adxLastPlayer && window.__adxLastPlayer.sig) || null"
_SCRIPT_EVENTS = {"v8.compile", "v8.compileModule", "EvaluateScript", "v8.evaluateModule", "v8.run"}
BIG_SCRIPT = 1_000_000  # bytes: "a copy of plotly.js" (plotly is ~4.7 MB, Streamlit's own chunks < 3.1 MB)


def median_ms(samples: list[float]) -> str:
    return f"{1000 * statistics.median(samples):8.0f}"


def spread_ms(samples: list[float]) -> str:
    return f"{1000 * min(samples):.0f}–{1000 * max(samples):.0f}"


# ------------------------------------------------------------------------------------------ server
def server_side(repeat: int) -> list[tuple[str, list[float], float | None]]:
    from streamlit.testing.v1 import AppTest

    from dynamics.presets import DEFAULT_PRESET
    from ui.session import build_display

    rows: list[tuple[str, list[float], float | None]] = []
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


def script_costs(trace: bytes) -> dict[str, Any]:
    """From a Chrome trace (ms): parse time per script URL on V8's background threads, and the
    main thread's script compile + evaluation total."""
    events = json.loads(trace)
    events = events.get("traceEvents", events) if isinstance(events, dict) else events
    background: dict[str, float] = defaultdict(float)
    main = 0.0
    for ev in events:
        if ev.get("ph") != "X":
            continue
        args = ev.get("args", {})
        data = args.get("data", {}) if isinstance(args.get("data"), dict) else {}
        dur = float(ev.get("dur", 0)) / 1000.0
        if ev.get("name") == "v8.parseOnBackground" and data.get("url"):
            background[data["url"]] += dur
        elif ev.get("name") in _SCRIPT_EVENTS:
            main += dur
    return {"background": dict(background), "main_ms": main}


_MARKS = ("adx:mount", "adx:plotly-request", "adx:plotly-ready", "adx:react-start", "adx:first-frame")


def _first_sphere(browser: Any, context: Any, base: str, label: str) -> dict[str, Any]:
    page = context.new_page()
    page.add_init_script(_PROBE_JS)
    browser.start_tracing(page=page, categories=["devtools.timeline", "v8", "disabled-by-default-v8.compile"])
    t0 = time.perf_counter()
    page.goto(base + "/", wait_until="domcontentloaded")
    page.wait_for_function("() => window.__probe && window.__probe.firstFrame !== null", timeout=180_000)
    wall = time.perf_counter() - t0
    page.wait_for_function("() => window.__probe.runs >= 1", timeout=180_000)
    trace = browser.stop_tracing()
    probe = page.evaluate("() => window.__probe")
    html = page.evaluate("() => performance.getEntriesByType('navigation')[0].responseEnd")
    marks = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('mark').filter((m) =>"
        " m.name.startsWith('adx:')).map((m) => [m.name, m.startTime]))"
    )
    resources = page.evaluate(
        "() => performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js'))"
        ".map((r) => ({url: r.name, end: r.responseEnd, size: r.decodedBodySize, transfer: r.transferSize}))"
    )
    costs = script_costs(trace)
    plotly_rows = [
        {
            "url": r["url"].split("/")[-1],
            "loaded_ms": r["end"],
            "size": r["size"],
            "transfer": r["transfer"],
            "parse_ms": costs["background"].get(r["url"], 0.0),
        }
        for r in resources
        if (r.get("size") or 0) >= BIG_SCRIPT and ("plotly" in r["url"].lower() or "PlotlyChart" in r["url"])
    ]
    page.close()
    return {
        "label": label,
        "wall_s": wall,
        "html_ms": html,
        "first_run_ms": probe["firstRun"],
        "first_frame_ms": probe["firstFrame"],
        "marks": {k: marks.get(k) for k in _MARKS},
        "script_main_ms": costs["main_ms"],
        "plotly": plotly_rows,
    }


def _switch_lesson(page: Any, title: str) -> float:
    """Pick ``title`` in the sidebar's Lesson box; seconds until the player drew the new data."""
    old = page.evaluate(_SIG_JS)
    box = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first
    box.click()
    option = page.get_by_role("option", name=title, exact=True)
    page.evaluate("() => { window.__t0 = performance.now(); }")
    option.click()
    page.wait_for_function(
        f"() => {{ const s = ({_SIG_JS})(); if (s && s !== {json.dumps(old)}) {{"
        " if (!window.__t1set) { window.__t1set = true; requestAnimationFrame(() => {"
        " window.__t1 = performance.now(); }); } return window.__t1 !== undefined; } return false; }",
        polling="raf",
        timeout=120_000,
    )
    seconds = page.evaluate("() => (window.__t1 - window.__t0) / 1000")
    page.evaluate("() => { delete window.__t1; delete window.__t1set; }")
    return float(seconds)


class _Server:
    """``streamlit run app.py`` from a checkout, on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2).read() == b"ok":
                    return
            except OSError:
                time.sleep(0.2)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


def _profile(pw: Any, chromium: str, directory: str) -> Any:
    """A persistent browser profile: its HTTP cache starts empty and survives between its tabs."""
    return pw.chromium.launch_persistent_context(
        directory, executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 720},
    )  # fmt: skip


def _lesson_switches(context: Any, base: str, repeat: int) -> tuple[list[float], list[float]]:
    from dynamics.presets import PRESETS

    page = context.new_page()
    page.goto(base + "/", wait_until="domcontentloaded")
    page.wait_for_function(f"() => ({_SIG_JS})() !== null", timeout=180_000)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.wait_for()
    others = [p.title for p in PRESETS[1 : 1 + max(1, min(repeat, len(PRESETS) - 1))]]
    first_title = PRESETS[0].title
    new, back = [], []
    for title in others:
        new.append(_switch_lesson(page, title))  # integrates on the server
        back.append(_switch_lesson(page, first_title))  # served from the cache
    for title in others:  # both lessons cached now: the warm switch
        back.append(_switch_lesson(page, title))
        back.append(_switch_lesson(page, first_title))
    page.close()
    return new, back


def browser_side(
    repeat: int, loads: int, checkouts: dict[str, Path]
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[str, list[float], float | None]]]:
    """First-sphere breakdowns per checkout (``loads`` cold + warm pairs, interleaved between the
    checkouts so that both see the same machine load) and lesson-switch times."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        print("no chromium: skipping the browser measurements")
        return {}, []
    servers = {name: _Server(root) for name, root in checkouts.items()}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
    rows: list[tuple[str, list[float], float | None]] = []
    try:
        with sync_playwright() as pw:
            for name, server in servers.items():  # the first visit also pays the server's start
                with tempfile.TemporaryDirectory() as directory:
                    context = _profile(pw, chromium, directory)
                    results[name].append(
                        _first_sphere(context.browser, context, server.base, "server just started")
                    )
                    context.close()
            for _ in range(loads):
                for name, server in servers.items():
                    with tempfile.TemporaryDirectory() as directory:
                        context = _profile(pw, chromium, directory)
                        browser = context.browser
                        results[name].append(
                            _first_sphere(browser, context, server.base, "cold browser cache")
                        )
                        results[name].append(
                            _first_sphere(browser, context, server.base, "warm browser cache")
                        )
                        context.close()
            for name, server in servers.items():
                with tempfile.TemporaryDirectory() as directory:
                    context = _profile(pw, chromium, directory)
                    new, back = _lesson_switches(context, server.base, repeat)
                    context.close()
                tag = "" if len(servers) == 1 else f" [{name}]"
                rows.append((f"browser: switch to a new lesson{tag}", new, None))
                rows.append((f"browser: switch to a lesson seen before{tag}", back, 1.0))
    finally:
        for server in servers.values():
            server.stop()
    return results, rows


def _median_row(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """The median of each column over the runs called ``label`` (plotly copies: the last run's)."""
    same = [r for r in rows if r["label"] == label]
    med = lambda values: statistics.median(values) if values else None  # noqa: E731
    return {
        "label": f"{label} (×{len(same)})" if len(same) > 1 else label,
        "html_ms": med([r["html_ms"] for r in same]),
        "first_run_ms": med([r["first_run_ms"] for r in same if r["first_run_ms"] is not None]),
        "first_frame_ms": med([r["first_frame_ms"] for r in same]),
        "script_main_ms": med([r["script_main_ms"] for r in same]),
        "marks": {k: med([r["marks"][k] for r in same if r["marks"].get(k) is not None]) for k in _MARKS},
        "plotly": same[-1]["plotly"],
    }


def print_loads(loads: list[dict[str, Any]], title: str = "") -> None:
    print(f"\n{title}First drawn sphere after navigation: ms since navigation start, 1280×720, medians")
    head = ("HTML", "mount", "plotly ready", "1st WebGL frame", "1st run done", "main-thread JS")
    print(f"{'':26s} " + " ".join(f"{h:>15s}" for h in head) + "  target ≤ 4000")
    for row in loads:
        marks = row["marks"]
        cells = (
            row["html_ms"], marks.get("adx:mount"), marks.get("adx:plotly-ready"), row["first_frame_ms"],
            row["first_run_ms"], row["script_main_ms"],
        )  # fmt: skip
        ok = "yes" if row["first_frame_ms"] <= 4000 else "NO"
        print(
            f"{row['label']:26s} "
            + " ".join(f"{'–' if v is None else format(v, '.0f'):>15s}" for v in cells)
            + f"  {ok}"
        )
        for p in row["plotly"]:
            print(
                f"    plotly.js copy {p['url'][:28]:28s} loaded at {p['loaded_ms']:6.0f} ms, "
                f"{p['size'] / 1e6:.1f} MB ({p['transfer'] / 1e6:.1f} MB over the wire), "
                f"parsed in {p['parse_ms']:5.0f} ms (background thread)"
            )
        if not row["plotly"]:
            print("    no plotly.js copy of ≥ 1 MB loaded")
    print(
        "  mount: the player's component mounted (adx:mount); plotly ready: plotly.js fetched, parsed and"
        " evaluated (adx:plotly-ready); 1st run done: the first script run finished (the page keeps"
        " drawing curves, card and export panel after the player)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="server reruns / lesson switches")
    parser.add_argument("--loads", type=int, default=3, help="cold + warm first loads per checkout")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument(
        "--compare",
        type=Path,
        help="another checkout of the app (e.g. `git archive main`, unpacked) measured in the same "
        "run, interleaved: before/after under the same machine load",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = [] if args.no_server else server_side(args.repeat)
    results: dict[str, list[dict[str, Any]]] = {}
    if not args.no_browser:
        checkouts = {"this checkout": ROOT}
        if args.compare:
            checkouts["compared"] = args.compare.resolve()
        results, browser_rows = browser_side(args.repeat, args.loads, checkouts)
        rows += browser_rows
    for name, runs in results.items():
        labels = dict.fromkeys(r["label"] for r in runs)
        print_loads([_median_row(runs, label) for label in labels], f"[{name}] ")
    print(f"\n{'measurement (default lesson)':54s} {'median ms':>9s}  {'range ms':>12s}  target  ok")
    print("-" * 96)
    for name, samples, target in rows:
        ok = "" if target is None else ("yes" if statistics.median(samples) <= target else "NO")
        tgt = "" if target is None else f"{1000 * target:5.0f}"
        print(f"{name:54s} {median_ms(samples)}  {spread_ms(samples):>12s}  {tgt:>6s}  {ok}")
    print(
        f"\n{os.cpu_count()} CPUs, load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )


if __name__ == "__main__":
    main()
