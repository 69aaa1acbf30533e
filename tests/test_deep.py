"""dynamics.deep: diagnostics of large token clouds against constructed configurations, the
streaming histogram against the direct one, and a small real run that collapses in float32."""

from __future__ import annotations

import numpy as np

from dynamics import Scenario, simulate
from dynamics import deep as D


def test_consensus_all_cosines_one_and_histogram_mass_at_one():
    x = np.tile(np.array([0.6, 0.8, 0.0], dtype=np.float32), (10, 1))
    diag = D.diagnostics(np.array([0.0, 1.0]), np.stack([x, x]))
    assert diag.cos.dtype == np.float32
    np.testing.assert_allclose(diag.cos, 1.0, atol=1e-6)
    assert diag.hist[-1].tolist() == [1.0, 1.0] and diag.hist[:-1].sum() == 0
    np.testing.assert_allclose(diag.one_minus_mean_cos, 0.0, atol=1e-6)
    assert diag.collapse_t == 0.0


def test_orthonormal_start_zero_off_diagonal():
    x = np.eye(8, dtype=np.float32)
    c = D.cosine_matrix(x)
    np.testing.assert_allclose(c, np.eye(8), atol=1e-7)
    h = D.pair_histogram(x, bins=60)
    assert h[30] == 1.0 and h.sum() == 1.0  # ⟨x_i, x_j⟩ = 0 falls in the bin [0, 1/30)
    assert abs(D.one_minus_mean_cos(x) - 1.0) < 1e-7


def test_collapse_time_on_a_synthetic_trajectory():
    t = np.linspace(0, 4, 5)
    min_cos = np.array([-0.5, 0.2, 0.99, 0.9995, 1.0])
    assert D.collapse_time(t, min_cos, 1e-3) == 3.0
    assert D.collapse_time(t, min_cos, 0.05) == 2.0
    assert D.collapse_time(t, min_cos[:3], 1e-3) is None
    # from a trajectory: a cap shrinking to its centre
    rng = np.random.default_rng(0)
    base = rng.standard_normal((20, 5))
    pole = np.array([1.0, 0, 0, 0, 0])
    xs = np.stack([D.unit_rows(pole + s * base) for s in (1.0, 0.1, 0.001, 0.0)])
    diag = D.diagnostics(np.arange(4.0), xs)
    assert diag.collapse_t == 2.0


def test_streaming_histogram_equals_direct():
    rng = np.random.default_rng(1)
    xs = D.unit_rows(rng.standard_normal((7, 40, 16))).astype(np.float32)
    diag = D.diagnostics(np.arange(7.0), xs, bins=25)
    edges = np.linspace(-1, 1, 26)
    iu = np.triu_indices(40, 1)
    for k in range(7):
        g = (xs[k] @ xs[k].T)[iu].astype(np.float64)
        direct, _ = np.histogram(np.clip(g, -1, 1), bins=edges)
        np.testing.assert_allclose(diag.hist[:, k], direct / g.size, atol=1e-7)
    np.testing.assert_array_equal(diag.hist_edges, edges)


def test_pca_and_chosen_frames():
    rng = np.random.default_rng(2)
    xs = D.unit_rows(rng.standard_normal((3, 30, 10)))
    diag = D.diagnostics(np.arange(3.0), xs, cos_idx=np.array([0, 2]))
    assert diag.x3.shape == (3, 30, 3) and diag.x3.dtype == np.float32
    assert 0 < diag.explained <= 1
    assert diag.cos.shape == (2, 30, 30)
    idx = D.chosen_frames(101, 1024)
    assert idx[0] == 0 and idx[-1] == 100 and len(idx) * 4 * 1024**2 <= D.COS_BYTES


def test_small_real_run_collapses_in_float32():
    s = Scenario(n=64, d=96, n_heads=4, qk="gaussian", value="gaussian", beta=1.0, T=10.0,
                 dt=0.25, integrator="euler", frames=21, dtype="float32")  # fmt: skip
    res = D.run(s)
    assert res.x.dtype == np.float32
    ref = simulate(s.replace(T=2.0, frames=5))
    np.testing.assert_allclose(D.run(s.replace(T=2.0, frames=5)).x, ref.x, atol=1e-5)
    diag = D.diagnostics(res.t, res.x)
    assert diag.one_minus_mean_cos[0] > 0.5
    assert abs(diag.one_minus_mean_cos[-1]) < 1e-3
    assert diag.collapse_t is not None
    assert diag.cos.dtype == np.float32 and diag.x3.dtype == np.float32
