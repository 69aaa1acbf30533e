"""Exports of the explorer's current run (pure functions; the page wires them to download buttons
with lazy ``data=`` callables, so nothing is built until a button is clicked).

Every export carries a reproducibility stamp — package version (``dynamics.__version__``), scenario
digest (``Scenario.digest()``) and seed — in its content where the format allows (NPZ ``stamp``
entry, CSV ``#`` header, figure annotation, HTML ``<meta>``, Python comment) and always in its file
name (:func:`file_name`). The scenario JSON stays exactly the JSON the CLI reads (no extra keys):
its stamp is its file name; the digest is recomputable from the content.

Static images (PNG/SVG) go through kaleido 1.x with the system's chromium (``BROWSER_PATH`` or
``chromium`` on PATH; kaleido's own Chrome download is never called). One sync server per process
is started lazily and serialised with a lock (kaleido's sync server is not thread-safe).
"""

from __future__ import annotations

import copy
import csv
import functools
import html
import io
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import dynamics
from dynamics import Scenario
from ui.text import plotly_text

PACKAGE = "attention-dynamics"
IMAGE_SIZE = (1000, 800)


@dataclass(frozen=True)
class Stamp:
    version: str
    digest: str
    seed: int

    def text(self) -> str:
        return f"{PACKAGE} {self.version} · scenario {self.digest} · seed {self.seed}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": PACKAGE,
            "version": self.version,
            "scenario_digest": self.digest,
            "seed": self.seed,
        }


def stamp(scenario: Scenario) -> Stamp:
    return Stamp(str(dynamics.__version__), scenario.digest(), int(scenario.seed))


def file_name(kind: str, scenario: Scenario, ext: str) -> str:
    """``<kind>-v<version>-<digest>-seed<seed>.<ext>``."""
    s = stamp(scenario)
    return f"{kind}-v{s.version}-{s.digest}-seed{s.seed}.{ext}"


# ------------------------------------------------------------------------------------ data
def scenario_json(scenario: Scenario) -> str:
    """The scenario as the CLI reads it (``python -m dynamics simulate FILE``)."""
    return scenario.to_json(indent=1) + "\n"


def python_snippet(scenario: Scenario) -> str:
    """A stamped script that rebuilds the run with the package API."""
    from ui.session import python_snippet as body

    s = stamp(scenario)
    return (
        f"# Reproduces an Attention Dynamics Explorer view.\n"
        f"# {s.text()}\n"
        f"# pip install {PACKAGE}=={s.version}  (or the repository at that version)\n" + body(scenario)
    )


#: Arrays of the explorer's NPZ beyond the CLI's (``t``, ``x``, ``scenario``, ``status``, ``message``,
#: ``version`` — exactly ``python -m dynamics simulate``'s keys and meaning).
NPZ_EXTRAS: dict[str, str] = {
    "frame_index": "indices into t of the frames the 3D view shows",
    "x_display": "positions the 3D view shows (frame_index × n × 3, or × 2 for d = 2; a PCA view for d > 3)",
    "clusters": "cluster label of each token in each shown frame (frame_index × n)",
    "metric_diameter": "diameter in radians over t",
    "metric_min": "min cosine over t",
    "metric_clusters": "number of clusters over t",
    "metric_energy": "energy E_β / max over t",
    "stamp": "JSON: package, version, scenario digest, seed",
}


def trajectory_npz(scenario: Scenario, display: Any) -> bytes:
    """NPZ with the CLI's keys — ``t`` (every saved time), ``x`` (every saved frame, n × d),
    ``scenario`` (JSON), ``status``, ``message``, ``version`` — plus :data:`NPZ_EXTRAS`.

    ``t`` and ``x`` come from re-running the scenario (deterministic: the same seed, the same
    numbers as on screen) under the app's limits; only called when the download is clicked."""
    from dynamics import simulate
    from ui.session import APP_LIMITS

    result = simulate(scenario, limits=APP_LIMITS)
    buf = io.BytesIO()
    metrics = {
        "metric_" + k.split(" ")[0].replace("/", ""): np.asarray(v) for k, v in display.metrics.items()
    }
    np.savez_compressed(
        buf,
        t=np.asarray(result.t),
        x=np.asarray(result.x),
        scenario=np.array(scenario.to_json()),
        status=np.array(result.status),
        message=np.array(result.message),
        version=np.array(str(dynamics.__version__)),
        frame_index=np.asarray(display.frame_idx),
        x_display=np.asarray(display.x3),
        clusters=np.asarray(display.labels),
        stamp=np.array(json.dumps(stamp(scenario).as_dict(), sort_keys=True)),
        **metrics,
    )
    return buf.getvalue()


def trajectory_csv(scenario: Scenario, display: Any) -> str:
    """Long-format CSV (one row per frame × token) with a ``#`` header holding the stamp and the
    scenario JSON (``read_csv_header`` reads them back)."""
    s = stamp(scenario)
    x = np.asarray(display.x3, dtype=np.float64)
    k, n, c = x.shape
    t = np.asarray(display.t)[np.asarray(display.frame_idx)]
    out = io.StringIO()
    out.write(f"# {PACKAGE} trajectory export\n")
    for key, value in s.as_dict().items():
        out.write(f"# {key}: {value}\n")
    out.write(f"# scenario: {scenario.to_json()}\n")
    if getattr(display, "projected", False):
        out.write("# coordinates: projection on the 3 principal directions (d > 3)\n")
    else:
        out.write("# coordinates: positions on the sphere / circle\n")
    cols = ["frame", "t", "token", "cluster", *(f"x{i + 1}" for i in range(c))]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(cols)
    labels = np.asarray(display.labels)
    for f in range(k):
        tf = format(float(t[f]), ".6g")
        for i in range(n):
            writer.writerow([f, tf, i, int(labels[f, i]), *(format(float(v), ".7g") for v in x[f, i])])
    return out.getvalue()


def read_csv_header(text: str) -> dict[str, str]:
    """The ``# key: value`` header lines of :func:`trajectory_csv` (for tests and users)."""
    meta: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if ":" in line:
            key, value = line[1:].split(":", 1)
            meta[key.strip()] = value.strip()
    return meta


# ------------------------------------------------------------------------------------ figures
#: Room kept above a figure for its title (pixels), and the most characters of it shown.
TITLE_MARGIN, TITLE_CHARS = 64, 160


def titled_figure(fig: Any, title: str | None) -> Any:
    """A copy of ``fig`` with ``title`` drawn in full at the top (the 3D figures have no top
    margin of their own: a title at plotly's default position sat at y = 0, only its descenders
    showing). The title is shown as text: plotly's HTML subset in it is escaped."""
    import plotly.graph_objects as go

    out = go.Figure(copy.deepcopy(fig.to_dict()))
    if title:
        margin = out.layout.margin.to_plotly_json() if out.layout.margin else {}
        out.update_layout(
            title={
                "text": plotly_text(title, TITLE_CHARS),
                "x": 0.02,
                "xanchor": "left",
                "y": 1.0,
                "yanchor": "top",
                "yref": "container",
                "pad": {"t": 14},
                "font": {"size": 20},
            },
            margin={**margin, "t": max(int(margin.get("t") or 0), TITLE_MARGIN)},
        )
    return out


def stamped_figure(fig: Any, scenario: Scenario, title: str | None = None) -> Any:
    """A titled copy of ``fig`` with the stamp as a small annotation (the original is shared: never
    mutate it)."""
    out = titled_figure(fig, title)
    out.add_annotation(
        text=stamp(scenario).text(),
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font={"size": 11, "color": "#555"},
    )
    return out


def figure_html(fig: Any, scenario: Scenario, title: str | None = None) -> str:
    """A standalone HTML page of the figure with plotly.js inlined (works offline)."""
    s = stamp(scenario)
    body = stamped_figure(fig, scenario, title).to_html(
        include_plotlyjs=True, full_html=True, config={"displaylogo": False}
    )
    meta = (
        f'<meta name="generator" content="{PACKAGE} {s.version}">\n'
        f'<meta name="scenario-digest" content="{s.digest}">\n'
        f'<meta name="seed" content="{s.seed}">\n'
        f"<title>{html.escape(title or 'Attention dynamics', quote=False)} · {s.digest}</title>\n"
    )
    scenario_tag = (
        '<script type="application/json" id="adx-scenario">'
        + scenario.to_json().replace("</", "<\\/")
        + "</script>\n"
    )
    return body.replace("<head>", "<head>\n" + meta, 1).replace("</body>", scenario_tag + "</body>", 1)


class ExportUnavailable(RuntimeError):
    """Static image export cannot work on this machine (message says why and what to do)."""


def chromium_path() -> str | None:
    """The browser kaleido will use: ``BROWSER_PATH``, else ``chromium`` on PATH."""
    env = os.environ.get("BROWSER_PATH")
    if env and os.access(env, os.X_OK):
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@functools.cache
def image_support() -> str | None:
    """None when PNG/SVG export can work here, else the reason (shown next to the buttons).
    Checked once per process (a PATH lookup per rerun cost ≈ 5 ms)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return "PNG/SVG export needs the kaleido package (pip install kaleido); use the HTML export."
    if chromium_path() is None:
        return (
            "PNG/SVG export needs a chromium browser on this server (apt-get install chromium); "
            "use the HTML export, or your browser's camera icon on the figure."
        )
    return None


class _ImageServer:
    """One kaleido sync server per process, used under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = False
        self.timings: list[float] = []

    def render(self, fig: Any, fmt: str, width: int, height: int) -> bytes:
        reason = image_support()
        if reason:
            raise ExportUnavailable(reason)
        import kaleido

        path = chromium_path()
        if path and not os.environ.get("BROWSER_PATH"):
            os.environ["BROWSER_PATH"] = path  # choreographer reads it; never download a browser
        with self.lock:
            t0 = time.perf_counter()
            try:
                if not self.started:
                    kaleido.start_sync_server(silence_warnings=True)
                    self.started = True
                data = kaleido.calc_fig_sync(
                    fig.to_dict() if hasattr(fig, "to_dict") else fig,
                    opts={"format": fmt, "width": int(width), "height": int(height)},
                )
            except Exception as exc:
                raise ExportUnavailable(
                    f"the {fmt.upper()} export failed ({type(exc).__name__}: {str(exc)[:160]}); "
                    "use the HTML export instead"
                ) from exc
            finally:
                self.timings.append(time.perf_counter() - t0)
        return bytes(data)


@functools.cache
def image_server() -> _ImageServer:
    """The process-wide image server, created on first use."""
    return _ImageServer()


def figure_image(
    fig: Any,
    scenario: Scenario,
    fmt: str = "png",
    size: tuple[int, int] = IMAGE_SIZE,
    title: str | None = None,
) -> bytes:
    """PNG or SVG bytes of the stamped figure. Raises :class:`ExportUnavailable` with a reason."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"unsupported image format {fmt!r}")
    return image_server().render(stamped_figure(fig, scenario, title), fmt, *size)


def error_image(message: str, fmt: str = "png", size: tuple[int, int] = (900, 160)) -> bytes:
    """A small image that carries ``message`` (what a failed image download delivers)."""
    import textwrap
    from html import escape

    lines = textwrap.wrap(f"Export failed: {message}", 90)[:6]
    w, h = size
    if fmt == "svg":
        rows = "".join(
            f'<text x="12" y="{28 + 22 * i}" font-family="sans-serif" font-size="15">{escape(t)}</text>'
            for i, t in enumerate(lines)
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">'
            f'<rect width="100%" height="100%" fill="#fff"/>{rows}</svg>'
        ).encode()
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    for i, t in enumerate(lines):
        draw.text((12, 12 + 22 * i), t, fill=(120, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
