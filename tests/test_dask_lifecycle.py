"""The in-process Dask cluster exists only while there is work (dynamics.sweep.LocalDask).

An idle LocalCluster keeps an event loop, heartbeats and worker threads running for good (the
issue measured ≈ 12 % of a core on the idle server after one phase-diagram visit). It is started
by the first sweep that needs it, kept while the scheduler holds tasks, and closed after
``idle_seconds`` without any; the page's default sweep (one chunk) never starts it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dynamics.sweep import LocalDask, Sweep, plan_chunks, run_sweep, shared_local_dask

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
SMALL = Sweep.from_dict(
    {"betas": {"min": 0.5, "max": 6.0, "count": 4}, "systems": 5, "n": 10, "T": 4.0, "checkpoints": 5}
)


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.02)


def _cluster_threads() -> set[str]:
    """Live threads of a cluster: its event loop, worker threads, our idle watcher. (distributed's
    process-wide "Dask-Offload" pool is created once, sleeps, and is not the cluster's.)"""
    return {
        t.name
        for t in threading.enumerate()
        if t.is_alive() and (t.name in ("IO loop", "adx-dask-idle") or "Dask-Default-Threads" in t.name)
    }


def test_started_on_demand_closed_when_idle_and_started_again() -> None:
    assert not _cluster_threads()
    local = LocalDask(workers=2, idle_seconds=2.0, poll_seconds=0.1)  # no close between client() and run
    assert not local.running and local.starts == 0  # creating it starts nothing

    client = local.client()
    assert local.running and client.status == "running" and _cluster_threads()
    result = run_sweep(SMALL, client=client, chunk_systems=5)  # several chunks through the cluster
    assert np.array_equal(result.stats["pairs"], run_sweep(SMALL, client="serial").stats["pairs"])

    wait_until(lambda: not local.running)
    assert client.status == "closed"
    wait_until(lambda: not _cluster_threads())  # its event loop and worker threads are gone

    again = local.client()
    assert again is not client and again.status == "running" and local.starts == 2
    local.close()
    assert not local.running and again.status == "closed"


def wait_for_file(path: str, timeout_s: float) -> bool:
    """A Dask task that runs until ``path`` exists (tasks are pickled: no Event to share)."""
    deadline = time.monotonic() + timeout_s
    while not Path(path).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_cluster_with_work_in_flight_is_not_closed(tmp_path: Path) -> None:
    local = LocalDask(workers=1, idle_seconds=1.0, poll_seconds=0.05)
    release = tmp_path / "release"
    try:
        future = local.client().submit(wait_for_file, str(release), 60, pure=False)
        wait_until(local.busy)
        time.sleep(5 * local.idle_seconds)  # many reaper polls past the idle time, task still running
        assert local.running, "the cluster was closed under a running task"
        release.touch()
        assert future.result(timeout=30) is True
        del future  # released: the scheduler forgets the task, the cluster becomes idle
        wait_until(lambda: not local.running)
    finally:
        release.touch()
        local.close()


def test_the_phase_diagram_default_sweep_starts_no_cluster() -> None:
    from streamlit.testing.v1 import AppTest

    from pages.phase_diagram import DEFAULTS, build_sweep, dask_for

    sweep, error = build_sweep(DEFAULTS)
    assert error is None and sweep is not None
    assert len(plan_chunks(sweep)) == 1 and dask_for(sweep) == "serial"
    headline = Sweep.from_dict({"betas": {"min": 0.1, "max": 9.0, "count": 90}, "systems": 2048, "n": 32})
    assert dask_for(headline) is None  # 90 chunks: the cluster's two threads pay off

    import streamlit as st

    shared = shared_local_dask(False, None)
    shared.close()
    starts = shared.starts
    st.cache_data.clear()  # a finished sweep from another test would be served without a run
    at = AppTest.from_file(str(ROOT / "pages" / "phase_diagram.py"), default_timeout=120).run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "systems × 300 steps in" in captions and "cache" not in captions  # it ran, now
    assert at.get("plotly_chart")
    assert not shared.running and shared.starts == starts
