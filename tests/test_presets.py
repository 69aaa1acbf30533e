"""Lessons (dynamics/presets.py): every preset is a valid, serialisable scenario that runs, meets
the hypotheses of the result it illustrates, and tells its story at T."""

from __future__ import annotations

import numpy as np
import pytest

from dynamics import Scenario, simulate
from dynamics import metrics as M
from dynamics.initial import initial_tokens
from dynamics.matrices import build_heads
from dynamics.presets import DEFAULT_PRESET, PRESETS, get

KEYS = [p.key for p in PRESETS]
CONSENSUS = ["consensus", "hemisphere", "causal", "causal-symmetric-v", "usa"]


@pytest.fixture(scope="module")
def runs():
    """Each preset simulated once (all together take about a second)."""
    return {p.key: simulate(p.scenario) for p in PRESETS}


def test_keys_are_unique_and_known():
    assert len(set(KEYS)) == len(KEYS)
    assert DEFAULT_PRESET is PRESETS[0]
    for key in KEYS:
        assert get(key).key == key
    with pytest.raises(KeyError, match="consensus"):
        get("no-such-lesson")
    assert {*CONSENSUS, "metastable", "antipodal", "ellipsoid-gradient"} <= set(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_preset_is_a_valid_serialisable_scenario(key):
    p = get(key)
    assert p.title and p.caption and p.source
    s = p.scenario
    assert isinstance(s, Scenario)
    assert Scenario.from_json(s.to_json()) == s
    assert Scenario.from_query(s.to_query()) == s
    assert Scenario.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("key", KEYS)
def test_preset_runs(runs, key):
    r = runs[key]
    s = get(key).scenario
    assert r.status == 0, r.message
    assert r.x.shape == (s.frames, s.n, s.d)
    assert np.all(np.isfinite(r.x))
    P = s.ellipsoid_matrix()
    q = np.einsum("kni,kni->kn", r.x, r.x) if P is None else np.einsum("kni,ij,knj->kn", r.x, P, r.x)
    assert np.abs(q - 1).max() <= 1e-12


@pytest.mark.parametrize("key", CONSENSUS)
def test_consensus_presets_reach_consensus(runs, key):
    assert M.diameter(runs[key].x[-1]) < 1e-2
    assert M.diameter(runs[key].x[0]) > 0.3  # they did start apart


def test_hemisphere_preset_meets_theorem_b(runs):
    """Thm B: V = I for every head, tokens in the open hemisphere of e₃, whose height only grows."""
    s = get("hemisphere").scenario
    heads = build_heads(s)
    assert len(heads) > 1 and all(not h.K.is_constant for h in heads)
    for h in heads:
        np.testing.assert_array_equal(h.V.at(0.0), np.eye(3))
    x = runs["hemisphere"].x
    assert x[0, :, 2].min() > 0
    m = x[..., 2].min(axis=1)
    assert np.diff(m).min() >= -1e-12


@pytest.mark.parametrize("key", ["causal", "causal-symmetric-v"])
def test_causal_presets(runs, key):
    s = get(key).scenario
    assert s.causal
    x = runs[key].x
    if key == "causal":  # Thm C: V = I, token 1 fixed, everyone goes to x₁(0)
        x1 = initial_tokens(s)[0]
        assert np.abs(x[:, 0] - x1).max() <= 1e-15
        assert M.distance_to_first(x[-1]).max() < 1e-2
    else:  # Thm D: all tokens → e₁, the eigenvector of V's (simple) largest eigenvalue
        V = build_heads(s)[0].V.at(0.0)
        w, vecs = np.linalg.eigh(V)
        top = vecs[:, -1] * np.sign(vecs[0, -1])
        assert w[-1] - w[-2] > 0 and abs(w[0]) > w[-1]  # simple, but not largest in modulus
        assert np.abs(x[-1] - top).max() < 1e-6
        assert (x[0] @ top).min() > 0  # they start in its hemisphere


def test_metastable_preset_keeps_several_clusters(runs):
    """§E P4-6: d = 2, β = 9: several clusters form early and are still there at T."""
    x = runs["metastable"].x
    assert len(set(M.clusters(x[-1], eps=1e-2))) >= 2
    assert len(set(M.clusters(x[0], eps=1e-2))) > len(set(M.clusters(x[-1], eps=1e-2)))  # they did form
    mid = len(x) // 2
    assert len(set(M.clusters(x[mid], eps=1e-2))) == len(set(M.clusters(x[-1], eps=1e-2)))  # a plateau


def test_antipodal_preset_does_not_reach_consensus(runs):
    s = get("antipodal").scenario
    x0 = initial_tokens(s)
    assert not M.open_hemisphere(x0).contained  # the broken hypothesis
    assert M.diameter(runs["antipodal"].x[-1]) > 1.0


def test_ellipsoid_gradient_preset(runs):
    """Thm A: one head, V = I, P = QᵀK SPD (the matched ellipsoid): the energy never decreases and
    the tokens settle (the velocity at T is small)."""
    s = get("ellipsoid-gradient").scenario
    (head,) = build_heads(s)
    A = head.Q.at(0.0).T @ head.K.at(0.0)
    np.testing.assert_allclose(A, np.array(s.P), atol=1e-14)
    np.testing.assert_array_equal(head.V.at(0.0), np.eye(3))
    r = runs["ellipsoid-gradient"]
    logE = M.log_gradient_energy(r.x, A, s.beta)
    assert np.diff(logE).min() >= -1e-13
    from dynamics.field import AttentionField

    fld = AttentionField.from_scenario(s, build_heads(s))
    assert np.abs(fld(s.T, r.x[-1].copy())).max() < 1e-2


def test_usa_preset_energy(runs):
    r = runs["usa"]
    E = M.interaction_energy(r.x, get("usa").scenario.beta)
    assert np.diff(E).min() >= -1e-12
