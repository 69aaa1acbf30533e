"""Phase-diagram sweeps (dynamics.sweep): equal to the engine's single runs, identical through Dask
(a LocalCluster on loopback, started once for the module), independent of chunking; statistics on
constructed configurations; §E P4-6 / P4-8 qualitatively; the equiangular curve; JSON, NPZ, CLI.
"""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from dynamics import Head, Scenario, ScenarioError, simulate
from dynamics.cli import main as cli_main
from dynamics.errors import BudgetError
from dynamics.sweep import (
    CANCELLED,
    ENV_SCHEDULER,
    SUCCESS,
    Sweep,
    SweepLimits,
    SweepResult,
    _Circle,
    _Generic,
    draw_weights,
    equiangular_curve,
    integrate_systems,
    plan_chunks,
    rho_rhs,
    run_sweep,
)

SMALL = Sweep.from_dict(
    {"betas": {"min": 0.5, "max": 6.0, "count": 5}, "systems": 6, "n": 12, "T": 6.0, "checkpoints": 7,
     "statistics": ["pairs", "clusters"], "per_system": True}
)  # fmt: skip


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster, set_as_default=False)
    assert all(addr.startswith("tcp://127.0.0.1") for addr in client.nthreads())
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def serial_small() -> SweepResult:
    return run_sweep(SMALL, client="serial")


# ----------------------------------------------------------------------------- equal to single runs
@pytest.mark.parametrize(("dtype", "tol"), [("float32", 1e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("kernel", ["auto", "generic"])
@pytest.mark.parametrize("attention", ["softmax", "unnormalized"])
def test_batched_equals_single_runs(dtype, tol, kernel, attention):
    sweep = Sweep.from_dict({"betas": [0.5, 4.0], "systems": 3, "n": 9, "d": 2, "T": 3.0, "dtype": dtype,
                             "kernel": kernel, "attention": attention})  # fmt: skip
    betas = np.array([0.5, 4.0, 0.5, 4.0, 2.0])
    seeds = np.array([0, 0, 2, 1, 7])
    out = integrate_systems(sweep, (9, 2, 1), betas, seeds, return_state=True)
    for i in range(len(seeds)):
        ref = simulate(sweep.scenario(9, 2, 1, betas[i], seeds[i]))
        assert ref.steps == sweep.steps
        np.testing.assert_allclose(out["state"][i], ref.x[-1], rtol=0, atol=tol)


@pytest.mark.parametrize(
    ("qk", "v"), [("gaussian", "gaussian"), ("goe", "minus_qk"), ("identity", "plus_qk")]
)
def test_random_weights_equal_single_runs_with_explicit_heads(qk, v):
    sweep = Sweep.from_dict({"betas": [1.0], "systems": 2, "n": 7, "d": 3, "n_heads": 2, "T": 2.0,
                             "dtype": "float64", "qk": qk, "v": v})  # fmt: skip
    betas, seeds = np.array([1.0, 2.5]), np.array([0, 5])
    out = integrate_systems(sweep, (7, 3, 2), betas, seeds, return_state=True)
    for i in range(2):
        A, V = draw_weights(int(seeds[i]), 0, 3, 2, qk, v)
        eye = np.eye(3).tolist()
        heads = tuple(
            Head.parse({"Q": eye, "K": A[k].tolist(), "V": V[k].tolist()}, "h", 3) for k in range(2)
        )
        ref = simulate(sweep.base.replace(n=7, d=3, beta=float(betas[i]), seed=int(seeds[i]), heads=heads))
        np.testing.assert_allclose(out["state"][i], ref.x[-1], rtol=0, atol=1e-12)


def test_regen_period_redraws_weights():
    base = {"betas": [1.0], "systems": 2, "n": 6, "d": 3, "T": 2.0, "qk": "goe", "checkpoints": 2}
    fixed = integrate_systems(Sweep.from_dict(base), (6, 3, 1), np.ones(2), np.arange(2), return_state=True)
    redrawn = integrate_systems(Sweep.from_dict({**base, "regen_period": 5}), (6, 3, 1), np.ones(2),
                                np.arange(2), return_state=True)  # fmt: skip
    assert not np.allclose(fixed["state"], redrawn["state"])
    again = integrate_systems(Sweep.from_dict({**base, "regen_period": 5}), (6, 3, 1), np.ones(2),
                              np.arange(2), return_state=True)  # fmt: skip
    np.testing.assert_array_equal(again["state"], redrawn["state"])


# ----------------------------------------------------------------------------- Dask and chunking
def test_dask_local_cluster_identical_to_single_process(dask_client, serial_small):
    result = run_sweep(SMALL, client=dask_client, chunk_systems=7)
    assert result.status == SUCCESS and serial_small.status == SUCCESS
    for name in SMALL.statistics:
        np.testing.assert_array_equal(result.stats[name], serial_small.stats[name])
        np.testing.assert_array_equal(result.per_system[name], serial_small.per_system[name])


def test_scheduler_from_environment(dask_client, serial_small, monkeypatch):
    """$ADX_DASK_SCHEDULER is the scheduler that ran the chunks: its task stream saw every chunk,
    and the result names it (not the in-process cluster, not the serial path)."""
    from distributed import get_task_stream

    monkeypatch.setenv(ENV_SCHEDULER, dask_client.scheduler.address)
    with get_task_stream(client=dask_client) as stream:
        result = run_sweep(SMALL, client=None)
    np.testing.assert_array_equal(result.stat, serial_small.stat)
    assert result.extra["scheduler"] == dask_client.scheduler.address
    ran = [t for t in stream.data if str(t["key"]).startswith("adx-sweep-")]
    assert len(ran) == result.extra["chunks"] > 0


def test_dask_workers_run_one_blas_thread(dask_client):
    """Each chunk runs with one BLAS thread per worker thread (dynamics.threads)."""
    result = run_sweep(SMALL, client=dask_client, chunk_systems=7)
    assert result.status == SUCCESS
    assert result.extra["blas_threads"] == 1


@pytest.mark.parametrize("chunk_systems", [1, 4, 13, 10_000])
def test_chunking_independence(chunk_systems, serial_small):
    chunks = plan_chunks(SMALL, chunk_systems)
    covered = sum((c.beta_stop - c.beta_start) * (c.sys_stop - c.sys_start) for c in chunks)
    assert covered == SMALL.total_systems()
    result = run_sweep(SMALL, client="serial", chunk_systems=chunk_systems)
    for name in SMALL.statistics:
        np.testing.assert_array_equal(result.stats[name], serial_small.stats[name])


def test_progress_and_cancel():
    seen = []
    result = run_sweep(SMALL, progress=seen.append, client="serial", chunk_systems=6)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == len(plan_chunks(SMALL, 6))
    stop = threading.Event()
    stop.set()
    cancelled = run_sweep(SMALL, cancel=stop, client="serial")
    assert cancelled.status == CANCELLED and np.isnan(cancelled.stat).all()
    partial = run_sweep(SMALL, progress=lambda f: f < 0.4, client="serial", chunk_systems=6)
    assert partial.status == CANCELLED
    rows = ~np.isnan(partial.stat).any(axis=1)
    assert 0 < rows.sum() < len(SMALL.betas)
    np.testing.assert_array_equal(partial.stat[rows], result.stat[rows])


def test_cancel_through_dask(dask_client):
    result = run_sweep(SMALL, progress=lambda f: False, client=dask_client, chunk_systems=6)
    assert result.status == CANCELLED and result.extra["finished"] == 1


# ----------------------------------------------------------------------------- statistics
def _clustered(centres, sizes, d, jitter=1e-4, seed=0):
    rng = np.random.default_rng(seed)
    pts = []
    for c, m in zip(centres, sizes, strict=True):
        c = np.asarray(c, float) / np.linalg.norm(c)
        p = c + jitter * rng.standard_normal((m, d))
        pts.append(p / np.linalg.norm(p, axis=1, keepdims=True))
    return np.concatenate(pts)


@pytest.mark.parametrize("d", [2, 3])
def test_statistics_on_constructed_configurations(d):
    centres = [*np.eye(d)[:2].tolist(), (-np.ones(d)).tolist()]
    x = _clustered(centres, [5, 3, 2], d)  # 10 tokens, 3 clusters
    expected_pairs = 10 + 3 + 1  # C(5,2) + C(3,2) + C(2,2) pairs i < j
    y = np.stack([x, _clustered([np.ones(d)], [10], d)])  # 2nd system: 1 cluster
    kernels = [_Generic(y, np.ones(2), 0.1, True, np.dtype("float64"), None)]
    if d == 2:
        kernels.append(_Circle(y, np.ones(2), 0.1, True, np.dtype("float64")))
    for k in kernels:
        np.testing.assert_array_equal(k.pair_counts(), [expected_pairs, 45])
        np.testing.assert_array_equal(k.cluster_counts(), [3, 1])
    spread = np.stack([_clustered([[np.cos(a), np.sin(a)] + [0] * (d - 2)], [1], d)[0]
                       for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])[None]  # fmt: skip
    k = _Generic(spread, np.ones(1), 0.1, True, np.dtype("float64"), None)
    assert k.pair_counts()[0] == 0 and k.cluster_counts()[0] == 8


def test_chain_is_one_component():
    """Single linkage: a chain of close points is one cluster even if its ends are far apart."""
    a = np.arange(12) * 0.012  # consecutive gaps < arccos(0.9999) ≈ 0.01414, total 0.13 rad
    x = np.stack([np.cos(a), np.sin(a)], axis=-1)[None]
    for k in (_Generic(x, np.ones(1), 0.1, True, np.dtype("float64"), None),
              _Circle(x, np.ones(1), 0.1, True, np.dtype("float64"))):  # fmt: skip
        assert k.cluster_counts()[0] == 1


def test_phase_diagram_reproduces_p4_6_and_p4_8_qualitatively():
    sweep = Sweep.from_dict({"betas": [1.0, 4.0, 9.0], "systems": 24, "n": 32, "d": 2, "T": 30.0,
                             "checkpoints": 31, "statistics": ["pairs", "clusters"]})  # fmt: skip
    r = run_sweep(sweep, client="serial")
    pairs, clusters = r.stats["pairs"][:, -1], r.stats["clusters"][:, -1]
    assert pairs[0] > 0.9 and pairs[0] > pairs[1] > pairs[2]  # clustered at small β, less at large β
    assert clusters[0] < 1.3 and 1.5 < clusters[1] < 3.5 and clusters[2] > clusters[1]
    assert (np.diff(r.stats["pairs"][0]) >= -0.05).all()  # β = 1: clustering only grows
    assert r.stats["pairs"][:, 0].max() < 0.05  # random start: few close pairs


# ----------------------------------------------------------------------------- equiangular curve
@pytest.mark.parametrize("n", [32, 128])
def test_equiangular_curve_matches_direct_rho_solve(n):
    t = np.linspace(0.0, 30.0, 31)
    curve = equiangular_curve(t, n, (0.1, 9.0))
    eps = 1e-3

    def rho_at(beta, time):
        sol = solve_ivp(lambda _s, y: rho_rhs(y, np.array([beta]), n), (0, time), [0.0],
                        method="DOP853", rtol=1e-11, atol=1e-14)  # fmt: skip
        return sol.y[0, -1]

    checked = 0
    for k in range(1, len(t)):
        b = curve[k]
        if np.isnan(b):
            assert rho_at(0.1, t[k]) < 1 - eps
            continue
        if b >= 9.0:
            assert rho_at(9.0, t[k]) >= 1 - eps - 1e-6
            continue
        ref = brentq(lambda beta, time=t[k]: rho_at(beta, time) - (1 - eps), b - 0.05, b + 0.05, xtol=1e-7)
        assert abs(b - ref) < 1e-4  # log(1 − ρ) interpolated on a β grid of step 0.022
        checked += 1
    assert checked > 5
    assert np.all(np.diff(curve[~np.isnan(curve)]) >= -1e-9)  # SA: the clustered region grows in t


# ----------------------------------------------------------------------------- JSON / NPZ / limits
def test_json_round_trip_and_forms():
    s = Sweep.from_dict({"betas": {"min": 0.1, "max": 9, "count": 90}, "systems": 2048, "n": [16, 32],
                         "d": 2, "T": 30, "statistics": "clusters", "qk": "goe", "v": "minus_qk",
                         "regen_period": 3, "base": {"seed": 5}})  # fmt: skip
    assert s.n_values == (16, 32) and s.base.seed == 5 and len(s.betas) == 90 and s.betas[-1] == 9.0
    assert s.steps == 300 and s.grid_shape() == (2,) and s.statistics == ("clusters",)
    again = Sweep.from_json(s.to_json())
    assert again == s and again.to_json() == s.to_json()
    assert Sweep.from_dict({"base": s.base.to_dict(), "betas": list(s.betas)}).base == s.base


@pytest.mark.parametrize(
    "junk",
    [
        [], "x", {"betas": 3}, {"betas": {"min": 2, "max": 1, "count": 3}}, {"betas": [-1.0]},
        {"systems": 0}, {"systems": 1.5}, {"statistics": ["area"]}, {"statistics": []}, {"qk": "wishart"},
        {"kernel": "gpu"}, {"integrator": "rk4"}, {"mask": "causal"}, {"n": "many"}, {"bogus": 1},
        {"checkpoints": 1}, {"regen_period": -1}, {"n": [2, 2]}, {"T": 0}, {"base": 3},
        {"attention": "unnormalized", "betas": [200.0]}, {"attention": "unnormalized", "qk": "goe"},
    ],
)  # fmt: skip
def test_validation_refuses_junk(junk):
    with pytest.raises(ScenarioError):
        if isinstance(junk, dict):
            Sweep.from_dict(junk)
        else:
            Sweep.from_dict(junk) if not isinstance(junk, str) else Sweep.from_json(junk)


def test_limits():
    big = Sweep.from_dict({"betas": {"min": 0.1, "max": 9, "count": 90}, "systems": 2048})
    big.check()  # the headline fits the default limits
    with pytest.raises(BudgetError):
        big.check(SweepLimits(max_systems=1000))
    with pytest.raises(BudgetError):
        run_sweep(big, client="serial", limits=SweepLimits(max_work=1e9))


def test_npz_round_trip(serial_small, tmp_path):
    path = tmp_path / "r.npz"
    serial_small.to_npz(path)
    back = SweepResult.from_npz(path)
    assert back.sweep == SMALL and back.status == SUCCESS
    for name in SMALL.statistics:
        np.testing.assert_array_equal(back.stats[name], serial_small.stats[name])
        np.testing.assert_array_equal(back.per_system[name], serial_small.per_system[name])
    with np.load(path) as z:
        assert Sweep.from_json(str(z["sweep"])) == SMALL
    with pytest.raises(ScenarioError):
        SweepResult.from_npz(io.BytesIO(b"not an npz"))


# ----------------------------------------------------------------------------- CLI
def test_cli_sweep_writes_npz(tmp_path, capsys):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"betas": [0.5, 5.0], "systems": 3, "n": 8, "T": 2, "checkpoints": 4}))
    out = tmp_path / "o.npz"
    assert cli_main(["sweep", str(spec), "-o", str(out), "--serial", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == 0 and summary["systems"] == 6
    with np.load(out) as z:
        assert Sweep.from_json(str(z["sweep"])) == Sweep.from_json(spec.read_text())
        assert z["stat_pairs"].shape == (2, 4)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"betas": "many"}), None])
def test_cli_sweep_bad_file_exit_2_one_line(tmp_path, capsys, content):
    spec = tmp_path / "bad.json"
    if content is not None:
        spec.write_text(content)
    code = cli_main(["sweep", str(spec), "-o", str(tmp_path / "o.npz"), "--serial"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")


def test_scenario_of_a_system_is_the_engine_scenario():
    s = SMALL.scenario(12, 2, 1, 2.5, 3)
    assert isinstance(s, Scenario) and s.beta == 2.5 and s.seed == 3 and s.integrator == "euler"


def test_step_count_is_exact_for_whole_multiples_of_dt():
    """Issue 10 defect 3: T = 10, dt = 0.01 is 1000 Euler steps of 0.01 — the engine's count — and
    checkpoint k of 101 is the state after exactly 10k steps."""
    spec = {"betas": [1.0], "systems": 1, "n": 4, "T": 10.0, "dt": 0.01, "checkpoints": 101}
    sweep = Sweep.from_dict(spec)
    assert sweep.steps == 1000 and sweep.h == 0.01
    np.testing.assert_array_equal(sweep.checkpoint_steps(), np.arange(0, 1001, 10))
    ref = simulate(sweep.scenario(4, 2, 1, 1.0, sweep.base.seed).replace(frames=101))
    assert ref.steps == sweep.steps


def test_sweep_memory_is_priced_before_running():
    from dynamics.limits import SweepLimits

    betas = {"min": 0.1, "max": 9, "count": 90}
    spec = {"betas": betas, "systems": 2048, "checkpoints": 200, "per_system": True, "statistics": ["pairs"]}
    sweep = Sweep.from_dict(spec)
    with pytest.raises(BudgetError, match="memory"):
        sweep.check(SweepLimits(max_memory=1e8))
