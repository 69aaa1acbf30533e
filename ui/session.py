"""The explorer's data layer: one cached simulation per scenario, plus everything the page shows.

``build_display(scenario)`` (pure: no Streamlit) integrates the scenario under the app's tighter
``APP_LIMITS`` and derives the display arrays once — float32 3D positions of ≤ 200 frames (PCA for
d > 3), cluster labels, metric curves, the verdict, the camera direction of V's top eigenvector and
a few full-dimensional frames for the attention heatmap. ``cached_display(scenario)`` wraps it in
``st.cache_data`` keyed on the scenario's canonical JSON (a short string: never on arrays, whose
hash Streamlit samples).

``attention_matrix(scenario, t, x, head)`` computes the heatmap matrix of one saved frame on
demand (cheap; used inside an ``st.fragment``).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynamics import Limits, Scenario, ScenarioError, simulate
from dynamics import metrics as M
from dynamics.field import AttentionField
from dynamics.matrices import build_heads
from dynamics.solve import FAILED
from dynamics.theorems import evaluate
from ui.figures import MAX_DISPLAY_FRAMES, MAX_POINTS_3D, frame_indices

log = logging.getLogger(__name__)

#: Engine limits for anything reachable from the app (a URL included): ~ a few seconds at most.
APP_LIMITS = Limits(
    max_n=1024,
    max_d=256,
    max_heads=16,
    max_frames=1001,
    max_steps=200_000,
    max_work=1e10,
    max_output_bytes=2.5e8,
)
#: Bytes of full-dimensional frames kept for the attention heatmap (per cached scenario).
HEAT_BYTES = 16_000_000
#: Largest heatmap drawn cell-by-cell; bigger matrices are block-averaged down to this size.
HEAT_MAX_CELLS = 256
#: Consensus = angular diameter below this (radians) from some time on.
CONSENSUS_TOL = 1e-3
#: Tokens whose directions are closer than this (chord) belong to one cluster.
CLUSTER_EPS = 1e-2
CACHE_ENTRIES = 24

METRIC_NAMES = ("diameter (rad)", "min cosine", "clusters", "energy E_β / max")
#: Fixed y ranges of the bounded curves (an axis that means the same in every lesson).
METRIC_RANGES = {"diameter (rad)": (0.0, 3.3), "min cosine": (-1.05, 1.05), "energy E_β / max": (0.0, 1.05)}
CURVE_ROW_HEIGHT = 84


@dataclass(frozen=True)
class Display:
    """Everything the explorer draws for one scenario (small, picklable, read-only by convention)."""

    scenario_json: str
    status: int
    message: str
    wall_time: float
    steps: int
    t: np.ndarray  # (K,) all saved times that are finite
    metrics: dict[str, np.ndarray]  # name -> (K,)
    frame_idx: np.ndarray  # (Kd,) display frames (indices into t)
    x3: np.ndarray  # (Kd, n, 3) float32 positions in display coordinates
    labels: np.ndarray  # (Kd, n) int16 cluster labels of the display frames
    flat: bool  # d = 2: the circle, seen from the top
    projected: bool  # d > 3: PCA projection to 3D
    explained: float  # fraction of the second moment captured by the 3D view (1 for d ≤ 3)
    ellipsoid: np.ndarray | None  # SPD matrix of the drawn surface, or None (unit sphere)
    top_eig: np.ndarray | None  # (3,) display direction of V's top eigenvector, or None
    top_eig_note: str
    heat_idx: np.ndarray  # (H,) frames (indices into t) whose full positions are kept
    heat_x: np.ndarray  # (H, n, d) float32
    heat_labels: np.ndarray  # (H, n) cluster labels of those frames
    consensus_t: float | None
    final_clusters: int
    verdict: str
    verdict_kind: str  # "consensus" | "clusters" | "spread" | "failed"
    notes: tuple[str, ...] = field(default_factory=tuple)
    cards: tuple = ()  # dynamics.theorems.Card for this run (empty if they could not be computed)

    @property
    def n(self) -> int:
        return int(self.x3.shape[1])

    @property
    def T(self) -> float:
        return float(self.t[-1]) if self.t.size else 0.0


# ------------------------------------------------------------------------------------- metrics
def _chunks(k: int, n: int, budget: float = 8e6) -> list[slice]:
    """Frame slices whose (frames, n, n) intermediates hold ≤ ``budget`` numbers."""
    step = max(1, int(budget // max(1, n * n)))
    return [slice(i, min(k, i + step)) for i in range(0, k, step)]


def metric_series(
    xs: np.ndarray, beta: float, labels: np.ndarray, ellipsoid: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The four curves over time, computed in memory-bounded chunks of frames.

    The energy is normalised by its largest possible value on the surface, so it lies in (0, 1]
    and reaches 1 at consensus: mean_ij e^{β(⟨x_i, x_j⟩ − 1)} on the unit sphere; on the
    ellipsoid {xᵀPx = 1} the energy of its gradient flow, mean_ij e^{β(⟨x_i, P x_j⟩ − 1)}
    (⟨x_i, P x_j⟩ ≤ 1 there by Cauchy–Schwarz in the P inner product).
    """
    k, n, _ = xs.shape
    diam = np.empty(k)
    mcos = np.empty(k)
    energy = np.empty(k)
    for sl in _chunks(k, n):
        part = xs[sl].astype(np.float64, copy=False)
        diam[sl] = M.diameter(part)
        mcos[sl] = M.min_cosine(part)
        if ellipsoid is None:
            energy[sl] = M.interaction_energy(part, beta, normalized=True)
        else:  # log E = logsumexp(β⟨x_i, P x_j⟩) − log 2; its maximum is n² e^β / 2
            log_e = M.log_gradient_energy(part, ellipsoid, beta)
            energy[sl] = np.exp(log_e + np.log(2.0) - beta - 2 * np.log(n))
    count = labels.max(axis=1).astype(np.int64) + 1
    return dict(zip(METRIC_NAMES, (diam, mcos, count, energy), strict=True))


def _verdict(
    t: np.ndarray, xs: np.ndarray, diam: np.ndarray, final_clusters: int, causal: bool
) -> tuple[str, str, float | None]:
    """(sentence, kind, consensus time) for a finished run."""
    T = float(t[-1])
    above = np.nonzero(diam >= CONSENSUS_TOL)[0]
    ct: float | None
    if above.size == 0:
        ct = float(t[0])
    elif above[-1] == len(t) - 1:
        ct = None
    else:
        ct = float(t[above[-1] + 1])
    if ct is not None:
        where = ""
        if causal and float(M.distance_to_first(xs[-1]).max()) < 10 * CONSENSUS_TOL:
            where = " — every token at the first token's position"
        return f"Consensus at t ≈ {ct:.3g}{where}.", "consensus", ct
    if final_clusters == 1:
        return (
            f"One cluster at T = {T:g}, not yet a point (diameter {diam[-1]:.1e} rad): no consensus by T.",
            "clusters",
            None,
        )
    n = xs.shape[1]
    if final_clusters < n:
        return (
            f"{final_clusters} clusters at T = {T:g} — no consensus by T.",
            "clusters",
            None,
        )
    return (
        f"No consensus by T = {T:g}: the tokens are still spread (diameter {diam[-1]:.2f} rad).",
        "spread",
        None,
    )


def _top_eigvec(scenario: Scenario, basis: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Display direction of the eigenvector of V (head 1) with the largest real eigenvalue."""
    try:
        v = build_heads(scenario)[0].V.at(0.0)
    except Exception as exc:  # pragma: no cover - heads were built already by simulate
        return None, f"V unavailable ({exc})"
    w, vecs = np.linalg.eig(v)
    order = np.argsort(-w.real)
    top = order[0]
    if len(w) > 1 and abs(w.real[order[1]] - w.real[top]) < 1e-9 * max(1.0, abs(w.real[top])):
        return None, "V's largest eigenvalue is not simple (e.g. V = I): no distinguished direction"
    vec = np.real(vecs[:, top])
    vec = vec / np.linalg.norm(vec)
    shown = vec @ basis  # (3,)
    if np.linalg.norm(shown) < 1e-6:
        return None, "V's top eigenvector is orthogonal to the 3D view"
    note = f"λ_max(V) = {w.real[top]:.3g}"
    if basis.shape[0] > 3:
        note += f"; {np.linalg.norm(shown):.0%} of its eigenvector lies in the 3D view"
    return shown / np.linalg.norm(shown), note


def _pca(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    d = xs.shape[-1]
    x3, basis = M.pca_3d(xs)
    if d <= 3:
        return x3, np.asarray(basis, dtype=np.float64), 1.0
    flat = xs.reshape(-1, d).astype(np.float64)
    total = float(np.einsum("ij,ij->", flat, flat))
    shown = float(np.einsum("ij,ij->", flat @ basis, flat @ basis))
    return x3, np.asarray(basis, dtype=np.float64), shown / total if total > 0 else 1.0


# ------------------------------------------------------------------------------------- build
def build_display(scenario: Scenario, limits: Limits = APP_LIMITS) -> Display:
    """Integrate ``scenario`` and derive the display data. Raises ScenarioError if refused."""
    res = simulate(scenario, limits=limits)
    try:  # the theorem cards of this very run: the explorer's card needs no second simulation
        cards = tuple(evaluate(scenario, res))
    except Exception:  # a card must never cost the explorer its picture
        log.exception("theorem cards failed")
        cards = ()
    notes: list[str] = []
    t = np.asarray(res.t, dtype=np.float64)
    xs = np.asarray(res.x)
    finite = np.all(np.isfinite(xs.reshape(len(t), -1)), axis=1)
    if not finite.all():
        keep = max(1, int(np.argmin(finite)))  # frames before the first non-finite one
        t, xs = t[:keep], xs[:keep]
        notes.append(f"The state became non-finite; showing t ≤ {t[-1]:.3g}.")
    k, n, d = xs.shape
    labels_all = np.empty((k, n), dtype=np.int16)
    for i in range(k):
        labels_all[i] = M.clusters(xs[i], CLUSTER_EPS)
    P = scenario.ellipsoid_matrix()
    series = metric_series(xs, scenario.beta, labels_all, P)
    final_clusters = int(labels_all[-1].max()) + 1
    if res.status == FAILED:
        verdict, kind, ct = f"The run failed: {res.message}", "failed", None
    else:
        verdict, kind, ct = _verdict(t, xs, series["diameter (rad)"], final_clusters, scenario.causal)

    idx = frame_indices(k, n, max_frames=MAX_DISPLAY_FRAMES, max_points=MAX_POINTS_3D)
    if idx.size < 0.9 * k:
        notes.append(f"The 3D view shows {idx.size} of {k} saved frames (display budget).")
    x3, basis, explained = _pca(xs[idx])
    x3 = np.ascontiguousarray(x3, dtype=np.float32)
    if d == 2:
        x3 = np.ascontiguousarray(x3[..., :2])
    projected = d > 3
    if projected:
        notes.append(
            f"d = {d}: the 3D view is the projection on the 3 principal directions of the trajectory "
            f"({explained:.0%} of ‖x‖²); tokens lie inside the ball, not on the sphere."
        )
    ellipsoid = P if (P is not None and d <= 3) else None
    top, top_note = _top_eigvec(scenario, basis)

    h = int(min(k, max(2, HEAT_BYTES // max(1, 4 * n * d))))
    heat_idx = np.unique(np.round(np.linspace(0, k - 1, h)).astype(np.int64))
    heat_x = np.ascontiguousarray(xs[heat_idx], dtype=np.float32)
    for arr in (x3, labels_all, heat_x):
        arr.setflags(write=False)
    return Display(
        scenario_json=scenario.to_json(),
        status=int(res.status),
        message=res.message,
        wall_time=float(res.wall_time),
        steps=int(res.steps),
        t=t,
        metrics=series,
        frame_idx=idx,
        x3=x3,
        labels=labels_all[idx],
        flat=d == 2,
        projected=projected,
        explained=explained,
        ellipsoid=ellipsoid,
        top_eig=top,
        top_eig_note=top_note,
        heat_idx=heat_idx,
        heat_x=heat_x,
        heat_labels=labels_all[heat_idx],
        consensus_t=ct,
        final_clusters=final_clusters,
        verdict=verdict,
        verdict_kind=kind,
        notes=tuple(notes),
        cards=cards,
    )


def _cached(scenario_json: str) -> Display:
    from ui import budget

    scenario = Scenario.from_json(scenario_json)
    t0 = time.perf_counter()
    display = build_display(scenario)
    budget.record(scenario, time.perf_counter() - t0)  # calibrates the next estimates
    return display


@functools.cache
def _display_cache() -> Any:
    """``_cached`` wrapped in ``st.cache_data`` on first use (this module imports no Streamlit)."""
    import streamlit as st

    return st.cache_data(max_entries=CACHE_ENTRIES, show_spinner="Integrating…")(_cached)


def cached_display(scenario: Scenario) -> Display:
    """``build_display`` behind ``st.cache_data`` (keyed on the canonical scenario JSON)."""
    return _display_cache()(scenario.to_json())


def clear_cache() -> None:
    if _display_cache.cache_info().currsize:
        _display_cache().clear()
    for fn in _FIGURES.values():
        fn.clear()


# ------------------------------------------------------------------------------------- figures
# Building a plotly figure validates every array (the static 3D figure: ~90 ms, the curves:
# ~35 ms), far more than serialising it (~3 ms). Figures are shared read-only across reruns and
# sessions with st.cache_resource (st.plotly_chart only reads them: it calls fig.to_dict()),
# keyed on the scenario's JSON plus the few display choices — never on arrays.
_FIGURES: dict[str, Any] = {}


def _figure_cache(name: str, builder: Any) -> Any:
    if name not in _FIGURES:
        import streamlit as st

        _FIGURES[name] = st.cache_resource(max_entries=4 * CACHE_ENTRIES, show_spinner=False)(builder)
    return _FIGURES[name]


def _static_fig(key: str, _display: Display, trails: bool) -> Any:
    from ui.figures import static_sphere_figure

    d = _display
    return static_sphere_figure(
        d.x3[-1], d.labels[-1], ellipsoid=d.ellipsoid, trails=d.x3 if trails else None
    )


def _curves_base(key: str, _display: Display) -> dict[str, Any]:
    """The curves without the time marker, as plotly's validated dict (built once per scenario)."""
    from ui.figures import metric_curves

    d = _display
    events = {"consensus": d.consensus_t} if d.consensus_t is not None else None
    return metric_curves(
        d.t, d.metrics, current_t=None, events=events, row_height=CURVE_ROW_HEIGHT, ranges=METRIC_RANGES
    ).to_dict()


#: The time marker of ``metric_curves(current_t=...)`` (one vertical line per row).
_MARKER_LINE = {"color": "#D55E00", "width": 1.5}


def _prepared_figure(spec: dict[str, Any]) -> Any:
    """A figure holding an already validated dict: built without re-validating every array
    (plotly's validation is what costs), and ``to_dict()`` returns exactly ``spec``."""
    import copy

    import plotly.graph_objects as go

    class _Prepared(go.Figure):
        def to_dict(self) -> dict[str, Any]:
            return copy.deepcopy(spec)

    return _Prepared(copy.deepcopy(spec), _validate=False)


def _curves_fig(key: str, _display: Display, t_now: float) -> Any:
    # metric_curves(..., current_t=t_now) spends ~35 ms in plotly's add_vline per new time; the
    # same figure is the scenario's cached curves plus one line shape per row (its JSON is
    # identical to metric_curves(current_t=t_now)'s, byte for byte).
    base = _figure_cache("curves_base", _curves_base)(key, _display)
    if not base.get("data"):
        from ui.figures import metric_curves

        d = _display
        events = {"consensus": d.consensus_t} if d.consensus_t is not None else None
        return metric_curves(
            d.t, d.metrics, current_t=t_now, events=events, row_height=CURVE_ROW_HEIGHT, ranges=METRIC_RANGES
        )
    spec = dict(base)
    layout = dict(base.get("layout", {}))
    marker = [
        {
            "line": dict(_MARKER_LINE),
            "type": "line",
            "x0": float(t_now),
            "x1": float(t_now),
            "xref": tr.get("xaxis", "x"),
            "y0": 0,
            "y1": 1,
            "yref": tr.get("yaxis", "y") + " domain",
        }
        for tr in base["data"]
    ]
    layout["shapes"] = [*layout.get("shapes", ()), *marker]
    spec["layout"] = layout
    return _prepared_figure(spec)


def static_figure(display: Display, trails: bool = True) -> Any:
    """The last frame (+ trails) as a plain plotly 3D figure; shared, do not mutate."""
    return _figure_cache("static", _static_fig)(display.scenario_json, display, bool(trails))


def curves_figure(display: Display, t_now: float) -> Any:
    """The metric curves with a marker at ``t_now``; shared, do not mutate."""
    return _figure_cache("curves", _curves_fig)(display.scenario_json, display, float(t_now))


def _heatmap_fig(key: str, _scenario: Scenario, _display: Display, i: int, head: int | None) -> Any:
    from ui.figures import attention_heatmap, cluster_order

    d = _display
    t_now = float(d.t[d.heat_idx[i]])
    a = attention_matrix(_scenario, t_now, d.heat_x[i], head)
    order = cluster_order(d.heat_labels[i])
    z, block = pooled(a, order)
    if block == 1:
        fig = attention_heatmap(a, order=order, title=f"attention α(t = {t_now:.3g})")
    else:
        fig = attention_heatmap(z, title=f"attention α(t = {t_now:.3g}), {block}×{block} blocks")
    fig.update_layout(height=380)
    return fig


def heatmap_figure(scenario: Scenario, display: Display, i: int, head: int | None) -> Any:
    """The attention heatmap of heatmap frame ``i`` (one head, or the mean when ``head`` is None),
    rows/columns sorted by cluster and block-averaged when large; shared, do not mutate."""
    key = display.scenario_json
    return _figure_cache("heatmap", _heatmap_fig)(key, scenario, display, int(i), head)


# ------------------------------------------------------------------------------------- heatmap
def attention_matrix(scenario: Scenario, t: float, x: np.ndarray, head: int | None) -> np.ndarray:
    """α(t) for configuration ``x`` (n, d): one head, or the mean over heads (``head`` None).

    Masked (causal) entries are NaN so that the heatmap leaves them blank.
    """
    fld = AttentionField.from_scenario(scenario, build_heads(scenario))
    a = fld.attention_matrices(float(t), np.asarray(x, dtype=np.float64))
    m = a.mean(axis=0) if head is None else a[int(head)]
    m = np.array(m, dtype=np.float64)
    if scenario.causal:
        m[np.triu_indices(m.shape[0], k=1)] = np.nan
    return m


def pooled(m: np.ndarray, order: np.ndarray, cells: int = HEAT_MAX_CELLS) -> tuple[np.ndarray, int]:
    """Permute rows/columns by ``order`` and block-average to ≤ ``cells`` per side.

    Returns (matrix, block size); NaN (masked) entries are ignored in the averages, a block of
    only NaN stays NaN.
    """
    z = m[np.ix_(order, order)]
    n = z.shape[0]
    b = max(1, math.ceil(n / cells))
    if b == 1:
        return z, 1
    size = math.ceil(n / b) * b
    pad = np.full((size, size), np.nan)
    pad[:n, :n] = z
    blocks = pad.reshape(size // b, b, size // b, b)
    with np.errstate(all="ignore"), _quiet():
        out = np.nanmean(blocks, axis=(1, 3))
    return out, b


class _quiet:
    """Silence numpy's 'mean of empty slice' warning for all-NaN blocks."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def time_labels(times: np.ndarray) -> list[str]:
    """Short, distinct labels for saved times (the fewest significant digits that separate them)."""
    for digits in range(3, 10):
        labels = [format(float(t), f".{digits}g") for t in times]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(float(t)) for t in times]


# ------------------------------------------------------------------------------------- app frame
def leave_legacy_pages_mode() -> None:
    """Call first in every page script: make sure app.py (st.navigation) frames the page.

    Streamlit 1.67 decides "legacy pages/ directory app" per server process until the first run
    of app.py reaches ``st.navigation``. If the first request after a server start is a page URL
    (``/explorer?...``, a shared link), Streamlit runs pages/explorer.py directly, without app.py
    (no page config, no navigation, auto-generated "app / about / explorer" menu) — for every
    visitor until someone loads "/". Leave that mode and rerun: app.py then resolves the same
    page (st.Page hashes its url_path, equal to the file stem here).
    """
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# ------------------------------------------------------------------------------------- code export
def python_snippet(scenario: Scenario) -> str:
    """A few lines of Python that reproduce the current view with the engine."""
    args = "".join(f"    {k}={v!r},\n" for k, v in scenario.to_dict(minimal=True).items())
    return (
        "from dynamics import Scenario, simulate\n"
        "from dynamics.metrics import consensus_time\n\n"
        f"scenario = Scenario(\n{args})\n"
        "result = simulate(scenario)\n"
        "print(result.message, consensus_time(result.t, result.x))\n"
    )


def safe_scenario(**fields: Any) -> tuple[Scenario | None, str | None]:
    """Scenario(**fields) or (None, the engine's one-line message)."""
    try:
        return Scenario(**fields), None
    except ScenarioError as exc:
        return None, str(exc)
