"""Behaviour of the pure figure functions in ui/figures.py (arrays in → plotly figures out)."""

from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from ui.colors import NOISE_COLOR, OKABE_ITO, cluster_colors, palette_indices
from ui.figures import (
    MAX_POINTS_3D,
    attention_heatmap,
    axis_half_range,
    circle_outline,
    cluster_order,
    frame_indices,
    metric_curves,
    nan_separated,
    resolve_camera,
    sphere_mesh,
    static_sphere_figure,
)


def _sphere_points(k: int, n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(k, n, 3))
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _trace(fig: go.Figure, name: str) -> go.BaseTraceType:
    return next(t for t in fig.data if t.name == name)


# --- colours ---------------------------------------------------------------------------------


def test_palette_is_okabe_ito_cycled_with_grey_for_unclustered() -> None:
    labels = np.array([0, 1, 8, 9, -1])
    assert cluster_colors(labels) == [OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[0], OKABE_ITO[1], NOISE_COLOR]
    assert palette_indices(labels).tolist() == [0, 1, 0, 1, len(OKABE_ITO)]
    assert cluster_colors(None, 3) == [NOISE_COLOR] * 3


def test_non_integer_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="integers"):
        palette_indices(np.array([0.5, 1.0]))


# --- static 3D figure ------------------------------------------------------------------------


def test_static_sphere_markers_match_positions_and_clusters() -> None:
    x = _sphere_points(1, 12)[0]
    labels = np.arange(12) % 3
    fig = static_sphere_figure(x, labels)
    tokens = _trace(fig, "tokens")
    assert isinstance(tokens, go.Scatter3d)
    np.testing.assert_allclose(tokens.x, x[:, 0], rtol=1e-6)
    np.testing.assert_allclose(tokens.z, x[:, 2], rtol=1e-6)
    assert list(tokens.marker.color) == cluster_colors(labels)
    assert np.asarray(tokens.x).dtype == np.float32
    sphere = _trace(fig, "sphere")
    assert isinstance(sphere, go.Surface) and sphere.opacity <= 0.2 and sphere.showscale is False
    scene = fig.layout.scene
    assert scene.aspectmode == "cube"
    assert tuple(scene.xaxis.range) == tuple(scene.zaxis.range) == (-1.1, 1.1)
    assert fig.layout.uirevision is not None


def test_static_sphere_trails_are_one_nan_separated_trace() -> None:
    k, n = 30, 5
    paths = _sphere_points(k, n)
    fig = static_sphere_figure(paths[-1], None, trails=paths)
    trails = [t for t in fig.data if t.name == "trails"]
    assert len(trails) == 1
    xs = np.asarray(trails[0].x)
    assert xs.shape == (n * (k + 1),)
    assert np.isnan(xs).sum() == n  # one separator per token
    np.testing.assert_allclose(xs[:k], paths[:, 0, 0], rtol=1e-6)  # token 0's path first


def test_static_sphere_trails_respect_the_point_budget() -> None:
    k, n = 1000, 400
    paths = np.zeros((k, n, 3), dtype=np.float32)
    paths[..., 0] = 1.0
    fig = static_sphere_figure(paths[-1], None, trails=paths)
    total = sum(np.asarray(t.x).size for t in fig.data if isinstance(t, go.Scatter3d))
    assert total <= MAX_POINTS_3D + 2 * n


def test_static_sphere_flat_data_shows_circle_from_the_top() -> None:
    x2 = np.stack([np.cos(np.arange(8.0)), np.sin(np.arange(8.0))], axis=-1)
    fig = static_sphere_figure(x2, None)
    names = [t.name for t in fig.data]
    assert "circle" in names and "sphere" not in names
    np.testing.assert_array_equal(np.asarray(_trace(fig, "tokens").z), 0.0)
    cam = fig.layout.scene.camera
    assert cam.projection.type == "orthographic" and cam.eye.z > 0 and cam.eye.x == 0
    assert fig.layout.scene.zaxis.visible is False


def test_static_sphere_ellipsoid_surface_solves_its_equation() -> None:
    p = np.diag([1.0, 4.0, 0.25])
    fig = static_sphere_figure(np.array([[1.0, 0, 0]]), [0], ellipsoid=p, flat=False)
    surf = _trace(fig, "ellipsoid")
    pts = np.stack([np.asarray(surf.x), np.asarray(surf.y), np.asarray(surf.z)], -1).reshape(-1, 3)
    np.testing.assert_allclose(np.einsum("ij,jk,ik->i", pts, p, pts), 1.0, rtol=1e-5)
    assert fig.layout.scene.xaxis.range[1] >= 2.0 * 1.1 - 1e-9  # longest semi-axis is 2


def test_flat_can_be_forced_for_planar_3d_data() -> None:
    ring = np.stack([np.cos(np.arange(6.0)), np.sin(np.arange(6.0)), np.zeros(6)], axis=-1)
    assert _trace(static_sphere_figure(ring, None), "circle")
    assert _trace(static_sphere_figure(ring, None, flat=False), "sphere")


def test_static_sphere_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        static_sphere_figure(np.zeros((4, 5)), None)
    with pytest.raises(ValueError, match="labels"):
        static_sphere_figure(np.zeros((4, 3)), [0, 1])
    with pytest.raises(ValueError, match="positive definite"):
        static_sphere_figure(np.zeros((4, 3)), None, ellipsoid=-np.eye(3))


def test_static_figure_json_roundtrip_keeps_float32() -> None:
    fig = static_sphere_figure(_sphere_points(1, 6)[0], np.zeros(6, int))
    spec = json.loads(fig.to_json())
    tokens = next(t for t in spec["data"] if t.get("name") == "tokens")
    assert tokens["x"]["dtype"] == "f4"  # typed-array encoding, not a float64 list
    decoded = np.frombuffer(base64.b64decode(tokens["x"]["bdata"]), dtype="<f4")
    np.testing.assert_array_equal(decoded, _trace(fig, "tokens").x)
    assert pio.from_json(fig.to_json()).data[-1].name == "tokens"


# --- display geometry helpers ----------------------------------------------------------------


def test_sphere_mesh_grid_is_40_by_20_on_the_unit_sphere() -> None:
    x, y, z = sphere_mesh()
    assert x.shape == (21, 41)
    np.testing.assert_allclose(x**2 + y**2 + z**2, 1.0, rtol=1e-5)


def test_circle_outline_of_an_ellipse() -> None:
    p = np.array([[2.0, 0.5], [0.5, 1.0]])
    ring = circle_outline(p)
    np.testing.assert_allclose(np.einsum("ij,jk,ik->i", ring[:, :2], p, ring[:, :2]), 1, rtol=1e-5)
    np.testing.assert_array_equal(ring[:, 2], 0)


def test_frame_indices_decimate_to_budget_keeping_ends() -> None:
    assert frame_indices(50, 10).tolist() == list(range(50))
    idx = frame_indices(1000, 64)
    assert idx.size == 200 and idx[0] == 0 and idx[-1] == 999 and np.all(np.diff(idx) > 0)
    idx = frame_indices(200, 1000)
    assert idx.size * 1000 <= MAX_POINTS_3D and idx[-1] == 199
    with pytest.raises(ValueError, match="budget"):
        frame_indices(10, MAX_POINTS_3D + 1)


def test_nan_separated_layout() -> None:
    paths = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    pts = nan_separated(paths)
    assert pts.shape == (9, 3)
    np.testing.assert_array_equal(pts[0], paths[0, 0])
    np.testing.assert_array_equal(pts[1], paths[1, 0])
    assert np.isnan(pts[2]).all()


def test_axis_range_covers_data_outside_the_sphere() -> None:
    assert axis_half_range(np.zeros((2, 3))) == pytest.approx(1.1)
    assert axis_half_range(np.array([[3.0, 0, 0]])) == pytest.approx(3.15)


def test_resolve_camera_presets() -> None:
    assert resolve_camera("pole")["eye"] == {"x": 0.0, "y": 0.0, "z": 2.0}
    assert resolve_camera("equator")["up"] == {"x": 0.0, "y": 0.0, "z": 1.0}
    eye = resolve_camera([0.0, 3.0, 4.0])["eye"]
    assert np.hypot(eye["y"], eye["z"]) == pytest.approx(2.0) and eye["y"] == pytest.approx(1.2)
    assert resolve_camera(None, flat=True)["projection"] == {"type": "orthographic"}
    reported = {"eye": {"x": 1, "y": 2, "z": 0.5}, "up": {"x": 0, "y": 0, "z": 1}}
    assert resolve_camera(reported)["center"] == {"x": 0.0, "y": 0.0, "z": 0.0}
    for bad in ("sideways", [0, 0, 0], [1, 2], {"eye": {"x": float("nan"), "y": 0, "z": 1}}):
        with pytest.raises(ValueError):
            resolve_camera(bad)


# --- metric curves ---------------------------------------------------------------------------


def test_metric_curves_are_svg_small_multiples_with_shared_x() -> None:
    t = np.linspace(0, 5, 51)
    series = {
        "diameter": np.linspace(2, 0.1, 51),
        "min cosine": np.linspace(-1, 1, 51),
        "clusters": (np.arange(51) // 20 + 1)[::-1],
        "energy": np.exp(-t),
    }
    fig = metric_curves(t, series, current_t=2.0, events={"merge": 3.0})
    assert len(fig.data) == 4
    assert all(type(tr) is go.Scatter for tr in fig.data)  # never Scattergl (WebGL contexts)
    np.testing.assert_allclose(fig.data[1].y, series["min cosine"])
    np.testing.assert_allclose(fig.data[0].x, t)
    assert fig.data[2].line.shape == "hv"  # integer series drawn as steps
    assert fig.data[0].line.shape == "linear"
    assert fig.layout.xaxis.matches == "x4" or fig.layout.xaxis2.matches == "x4"
    xs = sorted({s.x0 for s in fig.layout.shapes})
    assert xs == [2.0, 3.0] and len(fig.layout.shapes) == 8  # one line per row per marker
    assert any(a.text == "merge" for a in fig.layout.annotations)


def test_metric_curves_rejects_length_mismatch_and_handles_empty() -> None:
    with pytest.raises(ValueError, match="diameter"):
        metric_curves(np.arange(3.0), {"diameter": np.arange(4.0)})
    assert len(metric_curves(np.arange(3.0), {}).data) == 0


# --- attention heatmap -----------------------------------------------------------------------


def test_attention_heatmap_order_mask_and_scale() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((6, 6))
    a[np.triu_indices(6, 1)] = np.nan  # causal mask
    order = np.array([3, 0, 5, 1, 4, 2])
    fig = attention_heatmap(a, order=order, title="layer 1")
    hm = fig.data[0]
    assert isinstance(hm, go.Heatmap)
    assert (hm.zmin, hm.zmax) == (0.0, 1.0)
    z = np.asarray(hm.z, dtype=float)
    np.testing.assert_allclose(z, a[np.ix_(order, order)], rtol=1e-6, equal_nan=True)
    assert np.isnan(z).sum() == np.isnan(a).sum()  # masked entries stay NaN → blank cells
    assert hm.hoverongaps is False
    assert list(hm.x) == [str(i) for i in order] == list(hm.y)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.xaxis.type == "category"
    assert fig.layout.title.text == "layer 1"


def test_attention_heatmap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="square"):
        attention_heatmap(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="permutation"):
        attention_heatmap(np.zeros((3, 3)), order=[0, 0, 1])


def test_cluster_order_sorts_stably_with_unclustered_last() -> None:
    assert cluster_order(np.array([2, 0, -1, 0, 2, 1])).tolist() == [1, 3, 5, 0, 4, 2]
