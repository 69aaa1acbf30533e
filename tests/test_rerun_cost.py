"""The explorer's cache layer (ui.session): cheaper, bounded, shared — and showing the same thing.

* ``frame_clusters`` (all frames in one graph) labels every frame exactly as
  ``dynamics.metrics.clusters`` does frame by frame;
* the curves and heatmaps built from cached skeletons are, as JSON, byte for byte the figures
  ui.figures builds (``metric_curves``, ``attention_heatmap``), with and without events, pooled
  heatmaps, causal masks, several heads; the cached static figure equals ``static_sphere_figure``;
* the caches hold at most their byte budget (``$ADX_CACHE_MB``), whatever the number of scenarios;
* two sessions asking for the same uncached scenario at once integrate it once.
(Speed itself is measured by benchmarks/rerun_profile.py, not asserted here.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import numpy as np
import plotly.io as pio
import pytest
import streamlit  # noqa: F401  - as in the app: importing it makes "streamlit" plotly's default template

from dynamics import Scenario
from dynamics import metrics as M
from ui import session
from ui.figures import attention_heatmap, cluster_order, metric_curves, static_sphere_figure


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    session.clear_cache()
    yield
    session.clear_cache()


def _json(fig) -> str:
    return pio.to_json(fig.to_dict(), validate=False)


# ------------------------------------------------------------------------------------ clusters
def test_frame_clusters_label_every_frame_as_metrics_clusters_does() -> None:
    rng = np.random.default_rng(13)
    for trial in range(200):
        n, d, k = int(rng.integers(1, 40)), int(rng.integers(2, 6)), int(rng.integers(1, 7))
        centers = rng.normal(size=(4, d))  # tokens around a few points, at scales around eps
        x = centers[rng.integers(0, 4, size=(k, n))] + rng.normal(
            scale=10 ** rng.uniform(-4, -1), size=(k, n, d)
        )
        if trial % 2:
            x = x.astype(np.float32)
        chunk = float(rng.integers(1, 4000))  # frames per graph: 1 … all
        expected = np.stack([M.clusters(frame, 1e-2) for frame in x])
        assert np.array_equal(session.frame_clusters(x, 1e-2, pairs_per_chunk=chunk), expected)


def test_frame_clusters_of_a_trajectory_count_its_merging_clusters() -> None:
    display = session.build_display(Scenario(n=24, d=3, T=12.0, dt=0.05, frames=61, seed=2))
    counts = display.metrics["clusters"]
    assert counts[0] == 24 and counts[-1] == 1  # every token alone, then consensus
    assert np.all(np.diff(counts) <= 0)  # β = 1 on the sphere: clusters only merge


# ------------------------------------------------------------------------------------ figures
SCENARIOS = {
    "consensus": Scenario(n=32, d=3, T=15.0, dt=0.05, frames=151, seed=7),
    "no consensus, 2 heads, causal": Scenario(n=20, d=3, n_heads=2, mask="causal", T=2.0, frames=21, seed=1),
    "pooled heatmap": Scenario(n=300, d=4, T=1.0, dt=0.1, frames=6, seed=3),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cached_curves_are_metric_curves_byte_for_byte(name: str) -> None:
    d = session.build_display(SCENARIOS[name])
    events = {"consensus": d.consensus_t} if d.consensus_t is not None else None
    assert (events is None) == (name != "consensus")
    for t_now in (float(d.t[0]), float(d.t[len(d.t) // 2]), d.T):
        expected = metric_curves(
            d.t,
            d.metrics,
            current_t=t_now,
            events=events,
            row_height=session.CURVES_ROW_HEIGHT,
            ranges=session.METRIC_RANGES,
        )
        assert _json(session.curves_figure(d, t_now)) == _json(expected)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cached_heatmaps_are_attention_heatmap_byte_for_byte(name: str) -> None:
    scenario = SCENARIOS[name]
    d = session.build_display(scenario)
    heads = [None, *range(scenario.n_heads)] if scenario.n_heads > 1 else [None]
    for i in (0, len(d.heat_idx) - 1):
        for head in heads:
            t_now = float(d.t[d.heat_idx[i]])
            a = session.attention_matrix(scenario, t_now, d.heat_x[i], head)
            order = cluster_order(d.heat_labels[i])
            z, block = session.pooled(a, order)
            if block == 1:
                expected = attention_heatmap(a, order=order, title=f"attention α(t = {t_now:.3g})")
            else:
                title = f"attention α(t = {t_now:.3g}), {block}×{block} blocks"
                expected = attention_heatmap(z, title=title)
            expected.update_layout(height=session.HEATMAP_HEIGHT)
            assert (block > 1) == (name == "pooled heatmap")
            assert _json(session.heatmap_figure(scenario, d, i, head)) == _json(expected)


def test_static_figure_is_static_sphere_figure() -> None:
    d = session.build_display(SCENARIOS["consensus"])
    for trails in (True, False):
        expected = static_sphere_figure(
            d.x3[-1], d.labels[-1], ellipsoid=d.ellipsoid, trails=d.x3 if trails else None
        )
        fig = session.static_figure(d, trails)
        assert json.loads(_json(fig)) == json.loads(_json(expected))  # a go.Figure: keys re-ordered
        fig.update_layout(title="mine")  # a real go.Figure, and the caller's own copy
    assert "mine" not in _json(session.static_figure(d, True))


def test_a_spec_figure_goes_through_st_plotly_chart() -> None:
    """What st.plotly_chart does with a figure: ``return_figure_from_figure_or_data`` (a
    BaseFigure → ``to_dict()``, no validation), then ``plotly.io.to_json(validate=False)``."""
    import plotly.tools

    d = session.build_display(SCENARIOS["consensus"])
    fig = session.curves_figure(d, 1.0)
    spec = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    assert pio.to_json(spec, validate=False) == _json(fig)
    assert pio.from_json(_json(fig)).data[0].name == "diameter (rad)"


# ------------------------------------------------------------------------------------ bounded
def _held_bytes() -> dict[str, int]:
    """Pickled bytes in each of ui.session's st.cache_data caches (Streamlit's own accounting)."""
    from streamlit.runtime.caching import get_data_cache_stats_provider

    held: dict[str, int] = {}
    for stats in get_data_cache_stats_provider().get_stats().values():
        for stat in stats:
            if stat.cache_name.startswith("ui.session."):
                held[stat.cache_name] = held.get(stat.cache_name, 0) + stat.byte_length
    return held


def test_the_display_cache_holds_at_most_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(session.CACHE_MB_ENV, "16")  # the smallest budget: 12 MB of displays
    session._display_cache.cache_clear()
    session._figure_caches.cache_clear()
    try:
        budget = session.cache_budget()
        assert budget["display"] == 12 * 2**20
        big = Scenario(n=400, d=16, T=2.0, dt=0.1, frames=21, seed=0)  # ≈ 2 MB pickled each
        sizes = []
        for k in range(12):
            session.cached_display(big.replace(beta=1.0 + 0.1 * k))
            sizes.append(_held_bytes()["ui.session._cached"])
        assert max(sizes) <= budget["display"]
        assert sizes[-1] > budget["display"] / 2  # it does fill up to the budget: an LRU, not a leak
        assert session.cached_display(big.replace(beta=2.1)).n == 400  # the newest is still there
    finally:
        session.clear_cache()
        session._display_cache.cache_clear()
        session._figure_caches.cache_clear()


# ------------------------------------------------------------------------------------ single flight
def test_two_sessions_asking_for_the_same_uncached_run_compute_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Session A starts integrating; session B asks for the same scenario while A is still busy
    (B is seen arriving at the cache's compute lock); A finishes; both get the result, from one
    integration. (Streamlit's st.cache_data holds a per-key lock; this checks cached_display uses
    it, which a compute-outside-the-cache pattern would not.)"""
    from streamlit.runtime.caching import cache_utils

    builds: list[str] = []
    started, release = threading.Event(), threading.Event()
    arrivals: list[str] = []
    real_build, real_hold = session.build_display, cache_utils._hold_compute_lock

    def slow_build(scenario, *args, **kwargs):
        builds.append(scenario.to_json())
        started.set()
        assert release.wait(60)
        return real_build(scenario, *args, **kwargs)

    def observed_hold(lock):
        arrivals.append(threading.current_thread().name)
        return real_hold(lock)

    monkeypatch.setattr(session, "build_display", slow_build)
    monkeypatch.setattr(cache_utils, "_hold_compute_lock", observed_hold)
    scenario = Scenario(n=16, d=3, T=3.0, seed=12345)
    results: dict[str, session.Display] = {}

    def ask(name: str) -> None:
        results[name] = session.cached_display(scenario)

    a = threading.Thread(target=ask, args=("A",), name="A")
    b = threading.Thread(target=ask, args=("B",), name="B")
    a.start()
    assert started.wait(60)  # A holds the key's lock and is integrating
    b.start()
    deadline = threading.Event()
    for _ in range(600):  # B reaches the same lock (it cannot be served: nothing is cached yet)
        if "B" in arrivals:
            break
        deadline.wait(0.05)
    assert "B" in arrivals and len(builds) == 1
    release.set()
    a.join(60)
    b.join(60)
    assert len(builds) == 1, "the same scenario was integrated twice"
    assert results["A"].scenario_json == results["B"].scenario_json == scenario.to_json()
