"""Load test: N concurrent sessions of the explorer on loopback, p50/p95 rerun latency.

Two scenarios (``--mode``, both by default), websocket client:

* ``default`` — the issue's target, the default lesson as a class follows it: each session opens
  it with a seed from a small set (7, 8, 9: the lesson's own and two "new seed" presses, so
  sessions share the server's cache), then cycles through the same view again (a cached rerun),
  β → a value new at this level (the first session to ask integrates it, the others hit the
  cache), β back to the lesson's. (Until the player took over the page's time, views and trails,
  the cycle also moved a server-side heatmap time and toggled trails; those now cost the server
  nothing, so the numbers below, measured with the old cycle, are not comparable one to one.)
* ``miss`` — the worst case: every session its own seed, every rerun a β never seen before (a
  full re-integration, no cache hit at all).

At the end each session checks it sees its own state: the export stamp says "seed <its seed>"
(and nothing else) and the scenario JSON shows its own seed and last β; a session seeing
another's state, an exception or a timeout fails the run (exit 1).

Two clients:

* ``--client ws`` (default): Streamlit's own protocol — BackMsg/ForwardMsg protobufs on the
  ``/_stcore/stream`` websocket, as the browser sends them (rerun_script with the query string and
  the widget states). Latency = send → ``script_finished``. No rendering cost on the client, so it
  measures the server (the client's protobuf parsing shares the 2 cores).
* ``--client browser``: Playwright pages in one Debian chromium (β changes only, all misses);
  latency = key press on the β slider → the page's "script finished" (the websocket hook of
  tests/e2e/conftest.py) and idle. The 3D player's plotly.min.js is blocked unless ``--webgl``
  (twenty software-WebGL canvases on 2 cores measure the browser, not the server).

    .venv/bin/python benchmarks/load.py                      # both modes, N = 1, 5, 20; 5 reruns
    .venv/bin/python benchmarks/load.py -r 10 --mode default --strict
    .venv/bin/python benchmarks/load.py -n 20 -r 8 --url http://127.0.0.1:8501
    .venv/bin/python benchmarks/load.py --client browser -n 1 5

The spawned server runs without a file watcher, as in the Docker image (an edit elsewhere in a
dev tree would reload modules and empty every cache mid-run).

``--via-proxy`` (ws client): the multi-replica deployment without Docker (deploy/topology.py:
nginx from deploy/nginx/adx.conf.template in front of ``--replicas`` app processes, default 1
then 2, each on a fresh topology, each replica warmed up first), levels N = 20 and 60 by default.
The clients send no cookie, so nginx spreads their websockets over the replicas at random (a
browser would be pinned by its affinity cookie). The table adds reruns per second (all reruns of
the level / its wall time) and that rate relative to one replica, with the load average:

    .venv/bin/python benchmarks/load.py --via-proxy -r 10           # the issue-13 table
    .venv/bin/python benchmarks/load.py --via-proxy -r 10 --mode miss --replicas 1 2 3

Target (issue 7): p95 ≤ 2 s at N = 20 for the default lesson (``--strict`` enforces it in the
default mode). Measured on the 2-core dev machine with other jobs running (load average 4–7),
ws client, 10 reruns per session (rerun p50 / p95 in s):

    mode      N   before (f1d6d2a)   after
    default   1   0.09 / 0.21        0.08 / 0.13
    default   5   0.33 / 1.33        0.24 / 0.71
    default  20   1.59 / 2.84        1.40 / 1.96   <- target met, with little margin on a loaded box
    miss      1   0.41 / 0.48        0.17 / 0.18
    miss      5   1.83 / 2.27        0.83 / 1.00
    miss     20   6.95 / 9.78        3.24 / 5.10

No cross-session leaks in any run. "After": the static 3D figure is built only when its toggle in
the export panel is on (it was ≈ 0.1 s per new scenario and ≈ 170 kB per rerun), the heatmap is
cached per (scenario, frame, head), and a new heatmap time adds the marker to the scenario's
cached curves (≈ 1 ms instead of ≈ 35 ms of plotly's add_vline). What remains of a miss is the
integration + display derivation (≈ 0.1 s) and the curves (≈ 35 ms); script runs hold the GIL,
so N simultaneous misses queue up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # deploy.topology (--via-proxy)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]
IDLE = (
    '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
    ':is([data-test-script-state="notRunning"], [data-test-script-state="compilationError"])'
)


def _run_counter_js() -> str:
    """The websocket hook of the e2e fixtures (one source of truth: read from conftest.py)."""
    text = (ROOT / "tests" / "e2e" / "conftest.py").read_text(encoding="utf-8")
    m = re.search(r'_RUN_COUNTER_JS = """(.*?)"""', text, re.S)
    if not m:
        raise RuntimeError("tests/e2e/conftest.py no longer defines _RUN_COUNTER_JS")
    return m.group(1)


# ------------------------------------------------------------------------------------ server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


@contextlib.contextmanager
def app_server(url: str | None, with_process: bool = False):
    """Yield the base URL of a running app: ``url`` as given, or a fresh `streamlit run app.py`
    (the Docker command line, on a loopback port), stopped at the end. ``with_process``: yield
    (base URL, Popen) — a fresh server is then always started."""
    if url and not with_process:
        yield url.rstrip("/")
        return
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    (ROOT / "test-results").mkdir(exist_ok=True)
    log = open(ROOT / "test-results" / "load-server.log", "wb")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    # As in the Docker image, the sources do not change during the run: no file watcher (an edit
    # elsewhere in a dev tree would otherwise reload modules and drop every cache mid-run).
    cmd += ["--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start (see {log.name})")
            time.sleep(0.2)
        yield (base, proc) if with_process else base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@contextlib.contextmanager
def proxy_topology(replicas: int):
    """Yield (proxy URL, replica URLs) of deploy/topology.py: nginx in front of ``replicas`` app
    processes."""
    from deploy.topology import LocalTopology

    with LocalTopology(replicas=replicas) as topo:
        yield topo.base_url, [server.url for server in topo.servers]


async def warm_up(url: str) -> None:
    """One session on ``url``: the imports and a first integration, which no level should pay."""
    async with StreamlitClient(url, query="seed=1") as client:
        await client.run()
        await client.set(beta=1.01)


# ------------------------------------------------------------------------------------ client
#: How each explorer widget's value travels in a WidgetState (the browser's encoding).
_WIDGET_FIELDS = {"beta": "double_array", "seed": "int"}


class StreamlitClient:
    """One app session over Streamlit's own websocket protocol, as the browser speaks it.

    ``await run()`` sends a ``rerun_script`` with the query string and every widget value set so
    far and returns the seconds until ``script_finished``; ``await set(beta=1.2)`` sets values
    (by widget key) and reruns. ``ids`` maps widget keys to the ids the server gave them,
    ``texts`` holds the markdown/code bodies of the last full run, ``problems`` any exception.
    """

    def __init__(self, base: str, query: str = "", timeout_s: float = 120.0) -> None:
        self.url = base.replace("http://", "ws://").replace("https://", "wss://") + "/_stcore/stream"
        self.query = query
        self.timeout_s = timeout_s
        self.ids: dict[str, str] = {}
        self.fragments: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self.texts: list[str] = []
        self.problems: list[str] = []
        self.values: dict[str, object] = {}
        self._page_hash = ""
        self._ws = None

    async def __aenter__(self) -> StreamlitClient:
        import websockets

        self._ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()

    def _states(self) -> list:
        out = []
        for key, value in self.values.items():
            if key not in self.ids:
                continue
            w = _widget(self.ids[key])
            kind = _WIDGET_FIELDS[key]
            if kind == "double_array":
                w.double_array_value.data.append(float(value))
            else:
                w.int_value = int(value)
            out.append(w)
        return out

    async def run(self, fragment: str = "") -> float:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_script_hash = self._page_hash
        if fragment:
            msg.rerun_script.fragment_id = fragment
        for w in self._states():
            msg.rerun_script.widget_states.widgets.append(w)
        if not fragment:
            self.texts.clear()
        t = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(self._ws.recv(), self.timeout_s))
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                self._page_hash = fm.new_session.page_script_hash or self._page_hash
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                sub = getattr(el, el.WhichOneof("type"))
                if getattr(sub, "id", ""):
                    key = sub.id.rsplit("-", 1)[-1]
                    self.ids[key] = sub.id
                    if fm.delta.fragment_id:
                        self.fragments[key] = fm.delta.fragment_id
                    if list(getattr(sub, "options", [])):
                        self.options[key] = list(sub.options)
                for attr in ("body", "code_text"):
                    if getattr(sub, attr, ""):
                        self.texts.append(getattr(sub, attr))
                if el.WhichOneof("type") == "exception":
                    self.problems.append(f"exception: {sub.message[:120]}")
            elif kind == "script_finished":
                return time.perf_counter() - t

    async def set(self, fragment: str = "", **values: object) -> float:
        self.values.update(values)
        return await self.run(fragment)


# ------------------------------------------------------------------------------------ sessions
@dataclass
class SessionResult:
    seed: int
    load_s: float = 0.0
    reruns: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def _idle(page, timeout_ms: float) -> None:
    await page.locator(IDLE).wait_for(state="attached", timeout=timeout_ms)


async def one_session(context, base: str, seed: int, reruns: int, timeout_ms: float) -> SessionResult:
    res = SessionResult(seed)
    page = await context.new_page()
    try:
        t0 = time.perf_counter()
        await page.goto(f"{base}/?seed={seed}", wait_until="domcontentloaded", timeout=timeout_ms)
        await page.wait_for_function("(window.__stRunsFinished || 0) >= 1", timeout=timeout_ms)
        await _idle(page, timeout_ms)
        res.load_s = time.perf_counter() - t0
        beta = page.get_by_test_id("stSidebar").get_by_role("slider", name="β (inverse temperature)")
        for _ in range(reruns):
            before = await page.evaluate("window.__stRunsFinished || 0")
            await beta.focus()
            t = time.perf_counter()
            await page.keyboard.press("ArrowRight")
            await page.wait_for_function(f"(window.__stRunsFinished || 0) > {before}", timeout=timeout_ms)
            await _idle(page, timeout_ms)
            res.reruns.append(time.perf_counter() - t)
        # isolation: this page shows its own seed, in the widget, the URL and the export stamp
        shown = await page.get_by_test_id("stSidebar").get_by_role("spinbutton", name="Seed").input_value()
        text = await page.evaluate("document.querySelector('[data-testid=stMain]').textContent")
        stamps = set(re.findall(r"seed (\d+)", text))
        if shown != str(seed):
            res.problems.append(f"seed widget shows {shown}, expected {seed}")
        if f"seed={seed}" not in page.url:
            res.problems.append(f"URL {page.url} lacks seed={seed}")
        if stamps != {str(seed)}:
            res.problems.append(f"export stamp shows seeds {sorted(stamps)}, expected {{{seed}}}")
        if await page.get_by_test_id("stException").count():
            res.problems.append("an exception box is shown")
    except Exception as exc:  # a timeout is a result, not a crash of the benchmark
        res.problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        await page.close()
    return res


# ------------------------------------------------------------------------------------ websocket client
async def ws_session(
    base: str, seed: int, reruns: int, timeout_s: float, mode: str = "miss", beta2: float = 2.0
) -> SessionResult:
    """One session speaking Streamlit's own protocol (:class:`StreamlitClient`) — no rendering
    cost on the client.

    ``mode="miss"``: every rerun is a β never seen before (a full re-integration). ``mode="default"``:
    the lesson as a class follows it — cycles through the same view again (a cached rerun), β →
    ``beta2`` (the teacher's "now try β = 2": the first session to get there integrates it, the
    others share the cache), β back to the lesson's. (The player's time, view and trails live in
    the browser: they cost the server nothing.)"""
    res = SessionResult(seed)
    try:
        async with StreamlitClient(base, query=f"seed={seed}", timeout_s=timeout_s) as client:
            res.load_s = await client.run()
            beta = 1.0
            for k in range(reruns):
                beta = round(beta + 0.1, 1) if mode == "miss" else (1.0, beta2, 1.0)[k % 3]
                res.reruns.append(await client.set(beta=beta, seed=seed))
            res.problems.extend(client.problems)
            _check_shown(client.texts, seed, beta, res)
    except Exception as exc:
        res.problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
    return res


def _check_shown(texts: list[str], seed: int, beta: float, res: SessionResult) -> None:
    """The page of the last rerun shows this session's scenario (export stamp and JSON)."""
    stamps = set(re.findall(r"· seed (\d+)", " ".join(texts)))
    if stamps != {str(seed)}:
        res.problems.append(f"export stamp shows seeds {sorted(stamps)}, expected {{{seed}}}")
    shown = _shown_scenarios(texts)  # the export panel's scenario JSON (minimal: defaults left out)
    if [(sc.get("beta", 1.0), sc.get("seed")) for sc in shown] != [(beta, seed)]:
        res.problems.append(f"the page shows scenarios {shown}, expected β = {beta}, seed {seed}")


def _shown_scenarios(texts: list[str]) -> list[dict]:
    import json

    out = []
    for t in texts:
        if t.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(t))
    return out


def _widget(widget_id: str):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    w = WidgetState()
    w.id = widget_id
    return w


#: Seeds of the default-lesson mode: the lesson's own (7) and two "new seed" presses — a class on
#: one lesson shares a handful of scenarios (and so the server's cache).
CLASS_SEEDS = (7, 8, 9)


async def run_level_ws(
    base: str, n: int, reruns: int, timeout_s: float, mode: str = "miss", level: int = 0
) -> list[SessionResult]:
    if mode == "miss":
        seeds = [1000 + 97 * n + i for i in range(n)]  # new seeds per level: no cache hits at all
    else:
        seeds = [CLASS_SEEDS[i % len(CLASS_SEEDS)] for i in range(n)]
    beta2 = round(2.0 + 0.5 * level, 1)  # a β not seen at earlier levels: each level has misses
    return await asyncio.gather(
        *(ws_session(base, s, reruns, timeout_s, mode=mode, beta2=beta2) for s in seeds)
    )


async def run_level(
    browser, base: str, n: int, reruns: int, webgl: bool, timeout_ms: float
) -> list[SessionResult]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.add_init_script(_run_counter_js())
    if not webgl:
        await context.route(re.compile(r".*/static/plotly\.min\.js.*"), lambda route: route.abort())
    try:
        seeds = [1000 + 97 * n + i for i in range(n)]  # new seeds per level: no cache hits across levels
        return await asyncio.gather(*(one_session(context, base, s, reruns, timeout_ms) for s in seeds))
    finally:
        await context.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class LevelRow:
    replicas: int
    mode: str
    n: int
    loads: list[float]
    reruns: list[float]
    wall_s: float
    load_avg: float
    problems: list[str]

    @property
    def rate(self) -> float:
        """Reruns finished per second of the level's wall time (all sessions together)."""
        return len(self.reruns) / self.wall_s if self.wall_s > 0 else float("nan")


async def proxy_levels(args) -> list[LevelRow]:
    """Every (mode, N) level against a fresh deploy/topology.py (nginx + ``replicas`` processes),
    for each replica count: the same seeds and β values for every replica count."""
    rows: list[LevelRow] = []
    for replicas in args.replicas:
        with proxy_topology(replicas) as (base, replica_urls):
            for url in replica_urls:
                await warm_up(url)
            print(f"--- {replicas} replica(s) behind nginx: {base}", flush=True)
            for level, (mode, n) in enumerate((m, n) for m in args.mode for n in args.n):
                t0 = time.perf_counter()
                results = await run_level_ws(base, n, args.reruns, args.timeout, mode, level)
                wall = time.perf_counter() - t0
                row = LevelRow(
                    replicas,
                    mode,
                    n,
                    [r.load_s for r in results if r.load_s],
                    [x for r in results for x in r.reruns],
                    wall,
                    os.getloadavg()[0],
                    [f"seed {r.seed}: {p}" for r in results for p in r.problems],
                )
                rows.append(row)
                ok = "ok" if not row.problems else f"{len(row.problems)} PROBLEMS"
                print(
                    f"  {mode:<8}{n:>4}  rerun p50 {pct(row.reruns, 50):6.2f} s"
                    f"  p95 {pct(row.reruns, 95):6.2f} s  {row.rate:6.1f} reruns/s"
                    f"  load avg {row.load_avg:4.1f}  {ok}",
                    flush=True,
                )
                for p in row.problems[:5]:
                    print("      ", p)
    return rows


def print_proxy_table(rows: list[LevelRow]) -> None:
    print("\nreplicas  mode      N  load p50  rerun p50     p95     max  reruns/s  vs 1 replica", end="")
    print("  load avg  isolation")
    ones: dict[tuple[str, int], list[float]] = {}
    for r in rows:  # the 1-replica rate of each level (averaged if measured more than once)
        if r.replicas == 1:
            ones.setdefault((r.mode, r.n), []).append(r.rate)
    base = {key: statistics.fmean(rates) for key, rates in ones.items()}
    for r in rows:
        ratio = (
            r.rate / base[(r.mode, r.n)]
            if (r.mode, r.n) in base and base[(r.mode, r.n)] > 0
            else float("nan")
        )
        print(
            f"{r.replicas:>8}  {r.mode:<8}{r.n:>3}  {pct(r.loads, 50):7.2f}s {pct(r.reruns, 50):9.2f}s "
            f"{pct(r.reruns, 95):6.2f}s {max(r.reruns, default=float('nan')):6.2f}s {r.rate:9.1f}"
            f"  {ratio:11.2f}×  {r.load_avg:8.1f}  {'ok' if not r.problems else 'PROBLEMS'}"
        )


async def main_async(args) -> int:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    (ROOT / "test-results").mkdir(exist_ok=True)
    failed = False
    if args.via_proxy:
        print(f"ws clients via nginx · {args.reruns} reruns per session · {os.cpu_count()} CPUs · "
              f"load avg {os.getloadavg()[0]:.1f}")  # fmt: skip
        rows = await proxy_levels(args)
        print_proxy_table(rows)
        return 1 if any(r.problems for r in rows) else 0
    with app_server(args.url) as base:
        async with async_playwright() as pw:
            browser = None
            if args.client == "browser":
                browser = await pw.chromium.launch(
                    executable_path=chromium, headless=True, args=CHROMIUM_ARGS
                )
            what = "websocket clients" if args.client == "ws" else f"browser pages (webgl {args.webgl})"
            try:
                print(f"app {base} · {what} · {args.reruns} reruns per session · {os.cpu_count()} CPUs")
                print(f"{'N':>3} {'load p50':>9} {'rerun p50':>10} {'p95':>7} {'max':>7}  isolation")
                modes = args.mode if args.client == "ws" else ["miss"]  # browser: β changes only
                for level, (mode, n) in enumerate((m, n) for m in modes for n in args.n):
                    if args.client == "ws" and level % len(args.n) == 0:
                        print(f"--- mode {mode}")
                    t0 = time.perf_counter()
                    if args.client == "ws":
                        results = await run_level_ws(base, n, args.reruns, args.timeout, mode, level)
                    else:
                        results = await run_level(
                            browser, base, n, args.reruns, args.webgl, args.timeout * 1000
                        )
                    wall = time.perf_counter() - t0
                    lat = [x for r in results for x in r.reruns]
                    loads = [r.load_s for r in results if r.load_s]
                    problems = [f"seed {r.seed}: {p}" for r in results for p in r.problems]
                    p95 = pct(lat, 95)
                    ok = "ok" if not problems else f"{len(problems)} PROBLEMS"
                    print(
                        f"{n:>3} {pct(loads, 50):>8.2f}s {pct(lat, 50):>9.2f}s {p95:>6.2f}s "
                        f"{max(lat, default=float('nan')):>6.2f}s  {ok}  ({len(lat)} reruns, {wall:.0f} s)"
                    )
                    for p in problems[:10]:
                        print("    ", p)
                    failed |= bool(problems)
                    if args.strict and n >= 20 and mode == "default" and not p95 <= 2.0:
                        print(f"    p95 {p95:.2f} s > 2 s target at N = {n}")
                        failed = True
            finally:
                if browser is not None:
                    await browser.close()
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, nargs="+", default=[1, 5, 20], help="concurrent sessions (levels)")
    ap.add_argument("-r", "--reruns", type=int, default=5, help="β changes per session")
    ap.add_argument("--url", help="an already running app (default: start `streamlit run app.py`)")
    ap.add_argument(
        "--client",
        choices=("ws", "browser"),
        default="ws",
        help="ws: Streamlit's websocket protocol (default, light); browser: Playwright pages",
    )
    ap.add_argument(
        "--mode",
        nargs="+",
        choices=("default", "miss"),
        default=["default", "miss"],
        help="ws client: default = the default lesson as a class follows it (seeds from a small set, "
        "the same view and β reruns: mostly cache hits); miss = every rerun a new β (worst case)",
    )
    ap.add_argument(
        "--via-proxy",
        action="store_true",
        help="ws client through deploy/topology.py: nginx in front of --replicas app processes, each "
        "replica count on a fresh topology (default levels N = 20 60)",
    )
    ap.add_argument(
        "--replicas",
        type=int,
        nargs="+",
        default=[1, 2],
        help="--via-proxy: replica counts, in this order (e.g. 1 2 1 2 on a machine whose load drifts)",
    )
    ap.add_argument("--webgl", action="store_true", help="let the clients load the 3D player")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per wait")
    ap.add_argument(
        "--strict", action="store_true", help="exit 1 when p95 > 2 s at N ≥ 20 in the default mode"
    )
    args = ap.parse_args()
    if args.via_proxy and args.n == ap.get_default("n"):
        args.n = [20, 60]
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
