"""Small edits of a sphere/ellipsoid scenario, the building blocks of counter-examples.

Each returns a new :class:`~dynamics.Scenario` (or None when the edit cannot be made, e.g. one
token only): the theorem modules combine them into their one-click counter-examples.
"""

from __future__ import annotations

import math

import numpy as np

from ..initial import initial_tokens
from ..matrices import build_heads
from ..scenario import Head, MatrixSpec, Scenario

NO_HEMISPHERE = "tokens in no open hemisphere (last token = −first: an antipodal pair)"


def spec(m: np.ndarray) -> MatrixSpec:
    """A constant MatrixSpec of an array."""
    return MatrixSpec(const=tuple(tuple(float(v) for v in row) for row in np.asarray(m, dtype=float)))


def with_values(scenario: Scenario, V: np.ndarray) -> Scenario:
    """Every head's value matrix set to V."""
    heads = tuple(Head(Q=h.Q, K=h.K, V=spec(V)) for h in build_heads(scenario))
    return scenario.replace(heads=heads)


def with_qk(scenario: Scenario, A: np.ndarray) -> Scenario:
    """Every head's QᵀK set to A (Q = I, K = A)."""
    eye = spec(np.eye(scenario.d))
    heads = tuple(Head(Q=eye, K=spec(A), V=h.V) for h in build_heads(scenario))
    return scenario.replace(heads=heads)


def skew(d: int, scale: float) -> np.ndarray:
    """A rotation generator in the (e₁, e₂) plane, times ``scale``."""
    j = np.zeros((d, d))
    j[0, 1], j[1, 0] = scale, -scale
    return j


def add_head(scenario: Scenario) -> Scenario:
    """One more head: random Q, K (seeded by the scenario's seed) and the first head's V."""
    heads = build_heads(scenario)
    rng = np.random.default_rng([scenario.seed, 7])
    d = scenario.d
    q, k = rng.standard_normal((d, d)) / math.sqrt(d), rng.standard_normal((d, d)) / math.sqrt(d)
    return scenario.replace(heads=(*heads, Head(Q=spec(q), K=spec(k), V=heads[0].V)))


def _with_tokens(scenario: Scenario, x: np.ndarray) -> Scenario:
    return scenario.replace(x0=tuple(tuple(float(v) for v in row) for row in x))


def antipodal_pair(scenario: Scenario) -> Scenario | None:
    """The last token moved to the antipode of the first: no open hemisphere holds both."""
    if scenario.n < 2:
        return None
    x = initial_tokens(scenario).copy()
    x[-1] = -x[0]
    return _with_tokens(scenario, x)


def circle(scenario: Scenario) -> Scenario:
    """The same n, β and attention on the circle S¹ with Q = K = V = I and uniform tokens."""
    return scenario.replace(
        d=2,
        x0=None,
        heads=None,
        n_heads=1,
        value="identity",
        qk="identity",
        v_eigs=None,
        qk_eigs=None,
        pole=None,
        init="uniform",
        space="sphere",
        P=None,
    )


def flip_side(scenario: Scenario, v: np.ndarray) -> Scenario | None:
    """The last token reflected through v⊥ (pushed across when it lies on v⊥ already)."""
    if scenario.n < 2:
        return None
    x = initial_tokens(scenario).copy()
    x[-1] = x[-1] - 2 * (x[-1] @ v) * v
    if abs(x[-1] @ v) < 1e-3:
        x[-1] = x[-1] - 0.5 * np.sign(x[0] @ v) * v
    return _with_tokens(scenario, x)


def keep(examples: list[tuple[str, Scenario | None]]) -> list[tuple[str, Scenario]]:
    """The edits that could be made."""
    return [(label, s) for label, s in examples if s is not None]
