"""The explorer's data layer: one cached simulation per scenario, plus everything the page shows.

``build_display(scenario)`` (pure: no Streamlit) integrates the scenario under the app's tighter
``APP_LIMITS`` and derives the display arrays once — float32 3D positions of ≤ 200 frames (PCA for
d > 3), cluster labels, metric curves, the verdict, the camera direction of V's top eigenvector and
a few full-dimensional frames for the attention heatmap. ``cached_display(scenario)`` wraps it in
``st.cache_data`` keyed on the scenario's canonical JSON (a short string: never on arrays, whose
hash Streamlit samples), bounded in bytes (``$ADX_CACHE_MB`` per process, see ``cache_budget``);
the curves, heatmap and static figures are cached the same way, as plain figure dicts.

``attention_matrix(scenario, t, x, head)`` computes the heatmap matrix of one saved frame on
demand (cheap; used inside an ``st.fragment``).
"""

from __future__ import annotations

import functools
import logging
import math
import os
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
#: Memory for the explorer's caches, per server process (MB); $ADX_CACHE_MB overrides it.
DEFAULT_CACHE_MB = 128.0
CACHE_MB_ENV = "ADX_CACHE_MB"

METRIC_NAMES = ("diameter (rad)", "min cosine", "clusters", "energy E_β / max")
#: Fixed y ranges of the bounded curves (an axis that means the same in every lesson).
METRIC_RANGES = {"diameter (rad)": (0.0, 3.3), "min cosine": (-1.05, 1.05), "energy E_β / max": (0.0, 1.05)}


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


def frame_clusters(xs: np.ndarray, eps: float = CLUSTER_EPS, pairs_per_chunk: float = 2e6) -> np.ndarray:
    """``dynamics.metrics.clusters`` of every frame of (K, n, d) → (K, n) labels, many frames per
    call: the graphs "‖u_i − u_j‖ < eps" (u = x/‖x‖, the same arithmetic) of a chunk of frames are
    the blocks of one block-diagonal graph, whose connected components are found at once; labels
    are then numbered 0, 1, … per frame in order of each cluster's first token, as ``clusters``
    does. (One SciPy call per frame cost ≈ 0.3 ms of overhead: ≈ 45 ms for the default lesson.)"""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    k, n, _ = xs.shape
    out = np.empty((k, n), dtype=np.int64)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)  # an undirected graph needs each pair once
    step = max(1, int(pairs_per_chunk // max(1, n * n)))
    for start in range(0, k, step):
        x = xs[start : start + step]
        m = x.shape[0]
        u = x / np.linalg.norm(x, axis=-1, keepdims=True)
        sq = np.vecdot(u, u)
        d2 = sq[:, :, None] + sq[:, None, :] - 2 * (u @ np.swapaxes(u, -1, -2))
        f, i, j = np.nonzero((d2 < eps * eps) & upper)
        graph = coo_matrix((np.ones(f.size, dtype=np.int8), (f * n + i, f * n + j)), shape=(m * n, m * n))
        _, labels = connected_components(graph.tocsr(), directed=False)
        _, first = np.unique(labels, return_index=True)  # global first-appearance order …
        rank = np.empty_like(first)
        rank[np.argsort(first)] = np.arange(first.size)
        ranked = rank[labels].reshape(m, n)
        out[start : start + m] = ranked - ranked[:, :1]  # … restarted at 0 in every frame
    return out


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
    labels_all = frame_clusters(xs, CLUSTER_EPS).astype(np.int16)
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


# ------------------------------------------------------------------------------------- caches
# Everything cached here is keyed on the scenario's canonical JSON (plus a few small display
# choices), never on arrays, and held by st.cache_data: values are stored pickled, each cache is
# a least-recently-used store bounded in BYTES (``max_size``), and concurrent sessions asking for
# the same missing key compute it once (Streamlit's per-key compute lock; the others wait for it,
# tests/test_rerun_cost.py counts). What a hit costs is one unpickling: ≈ 0.3 ms for the default
# lesson's display (160 kB), ≈ 0.1 ms for a curves or heatmap spec.


def _budget_mb() -> float:
    """Memory for this process's explorer caches in MB: $ADX_CACHE_MB, default 128 (each replica
    of a multi-process deployment has its own)."""
    try:
        return max(16.0, float(os.environ.get(CACHE_MB_ENV, "") or DEFAULT_CACHE_MB))
    except ValueError:
        return DEFAULT_CACHE_MB


def cache_budget() -> dict[str, int]:
    """Bytes (pickled) each cache may hold: the displays ¾ of the budget; the figure specs ¼,
    shared by their three caches (curves, heatmaps, static 3D)."""
    total = int(_budget_mb() * 2**20)
    return {"display": total * 3 // 4, "figure": total // 12}


def _cached(scenario_json: str) -> Display:
    from ui import budget

    scenario = Scenario.from_json(scenario_json)
    t0 = time.perf_counter()
    display = build_display(scenario)
    budget.record(scenario, time.perf_counter() - t0)  # calibrates the next estimates
    return display


@functools.cache
def freeze_startup_heap() -> int:
    """Move every object alive now (modules, classes, plotly's validators: ≈ 170k) out of reach of
    Python's cyclic garbage collector (``gc.freeze``), once per process, and return how many.

    A full collection walks every tracked object: ≈ 30–100 ms here, triggered every few reruns
    by allocation counts, nearly all of it re-checking objects that live as long as the process.
    Called on the caches' first use, when the app's imports are done."""
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@functools.cache
def _display_cache() -> Any:
    """``_cached`` wrapped in ``st.cache_data`` on first use (this module imports no Streamlit)."""
    import streamlit as st

    freeze_startup_heap()
    return st.cache_data(max_size=cache_budget()["display"], show_spinner="Integrating…")(_cached)


def cached_display(scenario: Scenario) -> Display:
    """``build_display`` behind ``st.cache_data`` (keyed on the canonical scenario JSON)."""
    return _display_cache()(scenario.to_json())


@functools.cache
def _figure_caches() -> dict[str, Any]:
    """The figure-spec builders wrapped in ``st.cache_data``, each bounded in bytes."""
    import streamlit as st

    wrap = st.cache_data(max_size=cache_budget()["figure"], show_spinner=False)
    return {"curves": wrap(_curves_spec), "heatmap": wrap(_heatmap_spec), "static": wrap(_static_spec)}


def clear_cache() -> None:
    if _display_cache.cache_info().currsize:
        _display_cache().clear()
    if _figure_caches.cache_info().currsize:
        for fn in _figure_caches().values():
            fn.clear()


# ------------------------------------------------------------------------------------- figures
# Building a plotly figure validates every property as it is set (the curves: make_subplots,
# update_layout, add_vline ≈ 35 ms; a heatmap ≈ 8 ms; the static 3D figure ≈ 90 ms), far more than
# serialising it (< 1 ms). How these figures look does not depend on the data: ui.figures (the one
# source of their style) builds each SHAPE once around placeholder arrays (``_skeleton_*``,
# cached per process), and a scenario's spec is a copy of that dict with its own arrays and event
# times put in. The result is the figure ui.figures would build, byte for byte as JSON
# (tests/test_rerun_cost.py). Pages receive a ``SpecFigure``: st.plotly_chart only needs its dict.


@functools.cache
def _spec_figure_type() -> type:
    """A ``go.Figure`` subclass that holds a finished figure dict and builds no plotly objects:
    st.plotly_chart (and plotly.io) only call ``to_dict()``, which returns the dict as is, so the
    figure is never validated again. Other ``go.Figure`` methods are not available on it."""
    import plotly.graph_objects as go

    class SpecFigure(go.Figure):
        def __init__(self, spec: dict[str, Any]) -> None:  # no super().__init__: nothing to validate
            self._adx_spec = spec

        def to_dict(self) -> dict[str, Any]:
            spec = self._adx_spec  # plotly.io.to_json pops each trace's "uid": fresh trace dicts
            return {**spec, "data": [dict(trace) for trace in spec.get("data", ())]}

        def to_plotly_json(self) -> dict[str, Any]:
            return self.to_dict()

        def __repr__(self) -> str:
            return f"SpecFigure({len(self._adx_spec.get('data', ()))} traces)"

    return SpecFigure


def spec_figure(spec: dict[str, Any]) -> Any:
    """``spec`` (a plotly figure dict) as a figure for st.plotly_chart, without re-validation."""
    return _spec_figure_type()(spec)


def _typed_arrays(spec: dict[str, Any]) -> dict[str, Any]:
    """NumPy arrays → plotly.js typed-array specs (base64), as ``go.Figure.to_dict()`` emits them."""
    from _plotly_utils.utils import convert_to_base64  # what plotly's to_dict() itself calls

    convert_to_base64(spec)
    return spec


@functools.cache
def _skeleton_curves(names: tuple[str, ...], integer: tuple[bool, ...], events: tuple[str, ...]) -> str:
    """``metric_curves`` for these series (integer ones drawn as steps), these event labels and a
    time marker, around two-point placeholder arrays (as JSON: events at t = 0.5, marker at 0.25)."""
    import plotly.io as pio

    from ui.figures import metric_curves

    placeholder = {n: np.zeros(2, np.int64 if i else np.float64) for n, i in zip(names, integer, strict=True)}
    events_at = [(0.5, label) for label in events]
    fig = metric_curves(
        np.zeros(2),
        placeholder,
        current_t=0.25,
        events=events_at,
        row_height=CURVES_ROW_HEIGHT,
        ranges={name: METRIC_RANGES[name] for name in names if name in METRIC_RANGES},
    )
    return pio.to_json(fig.to_dict(), validate=False)


def _curves_spec(key: str, _display: Display) -> dict[str, Any]:
    """The scenario's curves: arrays and event times in the skeleton (built once per scenario);
    the time marker is still at the placeholder time (``curves_figure`` moves it)."""
    import json

    d = _display
    names = tuple(d.metrics)
    integer = tuple(bool(np.issubdtype(np.asarray(d.metrics[n]).dtype, np.integer)) for n in names)
    events = [("consensus", d.consensus_t)] if d.consensus_t is not None else []
    spec = json.loads(_skeleton_curves(names, integer, tuple(e for e, _ in events)))
    t = np.asarray(d.t, dtype=np.float64).ravel()
    for trace, name in zip(spec["data"], names, strict=True):
        trace["x"] = t
        trace["y"] = np.asarray(d.metrics[name]).ravel().astype(np.float64)
    layout = spec["layout"]
    rows = len(names)
    shapes = layout.get("shapes", [])  # add_vline(row="all"): one line per row; events, then marker
    for e, (_, t_ev) in enumerate(events):
        for shape in shapes[e * rows : (e + 1) * rows]:
            shape["x0"] = shape["x1"] = float(t_ev)
    titles = len(layout.get("annotations", [])) - len(events)
    for annotation, (_, t_ev) in zip(layout.get("annotations", [])[titles:], events, strict=True):
        annotation["x"] = float(t_ev)
    return _typed_arrays(spec)


#: Row height of the explorer's curves (px).
CURVES_ROW_HEIGHT = 84


def curves_figure(display: Display, t_now: float) -> Any:
    """The metric curves with a marker at ``t_now``: ``metric_curves(..., current_t=t_now)``."""
    spec = _figure_caches()["curves"](display.scenario_json, display)  # a fresh copy: ours to edit
    rows = len(spec.get("data", ()))
    if rows:
        for shape in spec["layout"]["shapes"][-rows:]:  # the marker: the last line of every row
            shape["x0"] = shape["x1"] = float(t_now)
    return spec_figure(spec)


def _static_spec(key: str, _display: Display, trails: bool) -> dict[str, Any]:
    from ui.figures import static_sphere_figure

    d = _display
    fig = static_sphere_figure(d.x3[-1], d.labels[-1], ellipsoid=d.ellipsoid, trails=d.x3 if trails else None)
    return fig.to_dict()


def static_figure(display: Display, trails: bool = True) -> Any:
    """The last frame (+ trails) as a plain plotly 3D figure (a ``go.Figure``: the exports need
    one); built once per scenario, a fresh object per call."""
    import plotly.graph_objects as go

    spec = _figure_caches()["static"](display.scenario_json, display, bool(trails))
    return go.Figure(spec, _validate=False)


@functools.cache
def _skeleton_heatmap() -> str:
    """``attention_heatmap`` (with a title) at the explorer's height, around a 2×2 placeholder."""
    import plotly.io as pio

    from ui.figures import attention_heatmap

    fig = attention_heatmap(np.zeros((2, 2)), order=np.arange(2), title="title")
    fig.update_layout(height=HEATMAP_HEIGHT)
    return pio.to_json(fig.to_dict(), validate=False)


HEATMAP_HEIGHT = 380


def _heatmap_spec(
    key: str, _scenario: Scenario, _display: Display, i: int, head: int | None
) -> dict[str, Any]:
    import json

    from ui.figures import cluster_order

    d = _display
    t_now = float(d.t[d.heat_idx[i]])
    a = attention_matrix(_scenario, t_now, d.heat_x[i], head)
    order = cluster_order(d.heat_labels[i])
    z, block = pooled(a, order)
    if block == 1:
        title, labels = f"attention α(t = {t_now:.3g})", [str(int(k)) for k in order]
    else:
        title, labels = (
            f"attention α(t = {t_now:.3g}), {block}×{block} blocks",
            [str(k) for k in range(len(z))],
        )
    spec = json.loads(_skeleton_heatmap())
    trace = spec["data"][0]
    trace["z"] = np.asarray(z, dtype=np.float32)  # attention_heatmap: m[perm][:, perm] as float32
    trace["x"] = labels
    trace["y"] = list(labels)
    spec["layout"]["title"]["text"] = title
    return _typed_arrays(spec)


def heatmap_figure(scenario: Scenario, display: Display, i: int, head: int | None) -> Any:
    """The attention heatmap of heatmap frame ``i`` (one head, or the mean when ``head`` is None),
    rows/columns sorted by cluster and block-averaged when large (``attention_heatmap``'s figure)."""
    spec = _figure_caches()["heatmap"](display.scenario_json, scenario, display, int(i), head)
    return spec_figure(spec)


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
