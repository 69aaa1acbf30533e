"""Plotly figures of the Gaussian mean-field page (pure functions: arrays in, ``go.Figure`` out).

Only ``ellipsoid_figure`` is WebGL (3D); the others are SVG 2D figures, so the page uses at most one
WebGL context.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

ODE_COLOR = "#1f4e9c"
PARTICLE_COLOR = "#d1495b"
FAMILY_COLOR = "rgba(120,120,120,0.45)"
PALETTE = ("#1f4e9c", "#2a9d8f", "#e9a03b", "#6c4f9c", "#7a7a7a", "#3d7dd8", "#8ab17d", "#c06c84")
HEIGHT = 330


def _layout(fig: go.Figure, title: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=height,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.2, "font": {"size": 11}},
        template="plotly_white",
    )
    return fig


def mean_figure(t: np.ndarray, m: np.ndarray, tp: np.ndarray | None, mp: np.ndarray | None) -> go.Figure:
    """Components of the mean: ODE (lines) and particles' sample mean (markers)."""
    fig = go.Figure()
    for i in range(m.shape[1]):
        c = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=t, y=m[:, i], mode="lines", line={"color": c}, name=f"m{i + 1} ODE", legendgroup=str(i)
            )
        )
        if tp is not None and mp is not None and len(tp):
            marker = {"color": c, "size": 6, "symbol": "circle-open"}
            fig.add_trace(
                go.Scatter(
                    x=tp,
                    y=mp[:, i],
                    mode="markers",
                    marker=marker,
                    name=f"m{i + 1} particles",
                    legendgroup=str(i),
                )
            )
    fig.update_xaxes(title_text="t")
    return _layout(fig, "Mean m(t): ODE (lines) vs particles (circles)")


def eigen_figure(
    t: np.ndarray,
    eig: np.ndarray,
    tp: np.ndarray | None,
    eigp: np.ndarray | None,
    blowup_time: float | None = None,
) -> go.Figure:
    """Eigenvalues of Σ(t) (log scale), ODE lines and particle markers; blow-up time as a line."""
    fig = go.Figure()
    floor = 1e-12
    for i in range(eig.shape[1]):
        c = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=t,
                y=np.maximum(eig[:, i], floor),
                mode="lines",
                line={"color": c},
                name=f"λ{i + 1} ODE",
                legendgroup=str(i),
            )
        )
        if tp is not None and eigp is not None and len(tp):
            fig.add_trace(
                go.Scatter(
                    x=tp,
                    y=np.maximum(eigp[:, i], floor),
                    mode="markers",
                    marker={"color": c, "size": 6, "symbol": "circle-open"},
                    name=f"λ{i + 1} particles",
                    legendgroup=str(i),
                )
            )
    if blowup_time is not None and np.isfinite(blowup_time):
        fig.add_vline(
            x=blowup_time,
            line={"dash": "dash", "color": PARTICLE_COLOR},
            annotation_text=f"t* ≈ {blowup_time:.3f}",
            annotation_position="top left",
        )
    fig.update_yaxes(type="log", title_text="eigenvalue", exponentformat="power")
    fig.update_xaxes(title_text="t")
    return _layout(fig, "Eigenvalues of Σ(t)")


def disk_figure(
    ode_xy: np.ndarray,
    part_xy: np.ndarray | None,
    family: list[np.ndarray] | None = None,
    marker_xy: np.ndarray | None = None,
) -> go.Figure:
    """Σ/tr Σ in the unit disk ((a−b)/(a+b), 2c/(a+b)); the circle is the rank-one boundary (§C.4)."""
    fig = go.Figure()
    th = np.linspace(0, 2 * np.pi, 181)
    fig.add_trace(
        go.Scatter(
            x=np.cos(th),
            y=np.sin(th),
            mode="lines",
            line={"color": "black", "width": 1},
            name="rank one (boundary)",
            hoverinfo="skip",
        )
    )
    for k, xy in enumerate(family or []):
        fig.add_trace(
            go.Scatter(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="lines",
                line={"color": FAMILY_COLOR, "width": 1},
                name="other Σ₀ (same trace)",
                legendgroup="family",
                showlegend=k == 0,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xy[-1:, 0],
                y=xy[-1:, 1],
                mode="markers",
                legendgroup="family",
                marker={"color": FAMILY_COLOR, "size": 5},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=ode_xy[:, 0], y=ode_xy[:, 1], mode="lines", line={"color": ODE_COLOR, "width": 3}, name="ODE"
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ode_xy[:1, 0],
            y=ode_xy[:1, 1],
            mode="markers",
            name="Σ₀",
            marker={"color": ODE_COLOR, "size": 9, "symbol": "square"},
        )
    )
    if part_xy is not None and len(part_xy):
        fig.add_trace(
            go.Scatter(
                x=part_xy[:, 0],
                y=part_xy[:, 1],
                mode="markers",
                name="particles",
                marker={"color": PARTICLE_COLOR, "size": 6, "symbol": "circle-open"},
            )
        )
    if marker_xy is not None:
        fig.add_trace(
            go.Scatter(
                x=[marker_xy[0]],
                y=[marker_xy[1]],
                mode="markers",
                name="shown time",
                marker={"color": "black", "size": 10, "symbol": "x"},
            )
        )
    fig.update_xaxes(range=[-1.08, 1.08], title_text="(a − b)/(a + b)", zeroline=False)
    fig.update_yaxes(
        range=[-1.08, 1.08], title_text="2c/(a + b)", scaleanchor="x", scaleratio=1, zeroline=False
    )
    return _layout(fig, "Σ/tr Σ in the PSD-cone section (disk)", height=380)


def _ellipse(m: np.ndarray, S: np.ndarray, k: float = 2.0, npts: int = 121) -> np.ndarray:
    w, U = np.linalg.eigh((S + S.T) / 2)
    F = U * np.sqrt(np.clip(w, 0, None))
    th = np.linspace(0, 2 * np.pi, npts)
    return m[None, :] + k * np.stack([np.cos(th), np.sin(th)], axis=1) @ F.T


def ellipse_figure(
    m: np.ndarray,
    S: np.ndarray,
    mp: np.ndarray | None,
    Sp: np.ndarray | None,
    points: np.ndarray | None,
    t: float,
) -> go.Figure:
    """d = 2: the 2σ ellipse of the ODE's Σ and of the particles' sample covariance, with the particles."""
    fig = go.Figure()
    if points is not None and len(points):
        fig.add_trace(
            go.Scatter(
                x=points[:, 0],
                y=points[:, 1],
                mode="markers",
                name="particles",
                marker={"color": PARTICLE_COLOR, "size": 3, "opacity": 0.35},
            )
        )
    e = _ellipse(m, S)
    fig.add_trace(
        go.Scatter(
            x=e[:, 0], y=e[:, 1], mode="lines", line={"color": ODE_COLOR, "width": 3}, name="ODE 2σ ellipse"
        )
    )
    if mp is not None and Sp is not None:
        ep = _ellipse(mp, Sp)
        fig.add_trace(
            go.Scatter(
                x=ep[:, 0],
                y=ep[:, 1],
                mode="lines",
                name="sample 2σ ellipse",
                line={"color": PARTICLE_COLOR, "width": 2, "dash": "dash"},
            )
        )
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return _layout(fig, f"Covariance ellipse at t = {t:.3g}", height=380)


def _ellipsoid_mesh(m: np.ndarray, S: np.ndarray, k: float = 2.0, nu: int = 28, nv: int = 16):
    w, U = np.linalg.eigh((S + S.T) / 2)
    F = U * np.sqrt(np.clip(w, 0, None))
    u = np.linspace(0, 2 * np.pi, nu)
    v = np.linspace(0, np.pi, nv)
    sph = np.stack(
        [
            np.outer(np.cos(u), np.sin(v)),
            np.outer(np.sin(u), np.sin(v)),
            np.outer(np.ones_like(u), np.cos(v)),
        ],
        axis=-1,
    )
    return m[None, None, :] + k * sph @ F.T


def ellipsoid_figure(
    m: np.ndarray,
    S: np.ndarray,
    mp: np.ndarray | None,
    Sp: np.ndarray | None,
    points: np.ndarray | None,
    t: float,
) -> go.Figure:
    """d = 3 (WebGL): the ODE's 2σ ellipsoid as a surface, the sample one as a wireframe, particles."""
    fig = go.Figure()
    E = _ellipsoid_mesh(m, S)
    fig.add_trace(
        go.Surface(
            x=E[..., 0],
            y=E[..., 1],
            z=E[..., 2],
            opacity=0.45,
            showscale=False,
            colorscale=[[0, ODE_COLOR], [1, ODE_COLOR]],
            name="ODE 2σ ellipsoid",
            showlegend=True,
            hoverinfo="skip",
        )
    )
    if mp is not None and Sp is not None:
        Ep = _ellipsoid_mesh(mp, Sp, nu=19, nv=10)
        xs, ys, zs = [], [], []
        for grid in (Ep, np.swapaxes(Ep, 0, 1)):
            for line in grid:
                xs += [*line[:, 0], None]
                ys += [*line[:, 1], None]
                zs += [*line[:, 2], None]
        fig.add_trace(
            go.Scatter3d(
                x=xs,
                y=ys,
                z=zs,
                mode="lines",
                name="sample 2σ ellipsoid",
                line={"color": PARTICLE_COLOR, "width": 2},
                hoverinfo="skip",
            )
        )
    if points is not None and len(points):
        fig.add_trace(
            go.Scatter3d(
                x=points[:, 0],
                y=points[:, 1],
                z=points[:, 2],
                mode="markers",
                name="particles",
                marker={"color": PARTICLE_COLOR, "size": 1.8, "opacity": 0.5},
            )
        )
    fig.update_layout(
        scene={"aspectmode": "data", "xaxis_title": "x₁", "yaxis_title": "x₂", "zaxis_title": "x₃"}
    )
    fig.update_layout(margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return _layout(fig, f"Covariance ellipsoid at t = {t:.3g}", height=420)


def gap_figure(
    ns: np.ndarray, gap: np.ndarray, mean_err: np.ndarray, cov_err: np.ndarray, slope: float, t: float
) -> go.Figure:
    """Particle–ODE gap against n (log–log) with a reference slope −1/2."""
    ns = np.asarray(ns, float)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=ns,
            y=gap,
            mode="lines+markers",
            name=f"gap (fit slope {slope:.2f})",
            line={"color": ODE_COLOR, "width": 3},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ns, y=mean_err, mode="markers", name="‖m_n − m‖", marker={"color": PALETTE[1], "size": 7}
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ns,
            y=cov_err,
            mode="markers",
            name="‖Σ_n − Σ‖_F",
            marker={"color": PALETTE[2], "size": 7, "symbol": "diamond"},
        )
    )
    c = float(np.exp(np.mean(np.log(np.maximum(gap, 1e-300)) + 0.5 * np.log(ns))))
    fig.add_trace(
        go.Scatter(
            x=ns,
            y=c / np.sqrt(ns),
            mode="lines",
            name="slope −1/2",
            line={"color": "black", "dash": "dash", "width": 1},
        )
    )
    fig.update_xaxes(type="log", title_text="particles n")
    fig.update_yaxes(type="log", title_text="rms gap over seeds", exponentformat="power")
    return _layout(fig, f"Particles vs ODE at t = {t:.3g}: gap ~ n^(−1/2)")
