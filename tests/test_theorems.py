"""The theorem registry (the dynamics/theorems/ package) and ``python -m dynamics check``.

For every registered theorem: a batch of seeded random scenarios that satisfy its assumptions,
on which the prediction is observed (count and tolerance stated per test), and broken-assumption
scenarios on which it does not apply. Then the predicates' edge cases, the refutation paths
(synthetic trajectories that violate an invariant), the words the app shows, the no-run API on
layer-sized matrices, JSON hygiene and the CLI. The maths: docs/theory.md.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import dynamics.theorems as theorems_package
from dynamics import Ensemble, Scenario, simulate
from dynamics.euclidean import EuclideanScenario
from dynamics.matrices import from_spectrum
from dynamics.metrics import diameter
from dynamics.presets import PRESETS
from dynamics.theorems import (
    CONSENSUS_TOL,
    EUCLIDEAN_REASON,
    IDS,
    LIMIT_TOL,
    MONOTONE_TOL,
    REGISTRY,
    Card,
    MatrixFacts,
    Theorem,
    counter_examples,
    evaluate,
    get,
    scenario_facts,
)
from dynamics.theorems.base import STATUSES

REPO = Path(__file__).resolve().parents[1]
CONTRACT_KEYS = {"id", "source", "assumptions", "applies", "prediction", "observed", "reason", "numbers"}
REQUIRED_IDS = {
    "ast-gradient",
    "ast-hemisphere",
    "ast-causal-identity",
    "ast-causal-symmetric",
    "glpr-sphere-d3",
    "glpr-cone-collapse",
    "glpr-polytope",
    "glpr-hyperplanes",
    "glpr-boolean-1d",
    "glpr-negative-identity",
    "open-causal-symmetric-multihead",
    "open-metastability",
}


def card(scenario: Scenario, card_id: str, result=None) -> Card:
    return {c.id: c for c in evaluate(scenario, result)}[card_id]


def observed(scenario: Scenario, card_id: str) -> Card:
    return card(scenario, card_id, simulate(scenario))


def _m(a: np.ndarray) -> list[list[float]]:
    return np.asarray(a, dtype=float).tolist()


# ================================================================== registry contract
def test_registry_has_the_public_ids_once_each():
    assert REQUIRED_IDS <= set(IDS)
    assert len(IDS) == len(set(IDS))
    for th in REGISTRY:
        assert "arXiv:" in th.source, th.id
        assert th.statement and th.tolerance and th.title and th.short and th.cite
        assert th.status in STATUSES
        assert th.name == f"{th.short} ({th.cite})"
        assert (th.model == "sphere") == (th.off_model is None), th.id
        assert (th.preset is None) == (th.model == "euclidean"), th.id  # a lesson, or a Euclidean example
        assert (th.example is not None) == (th.model == "euclidean"), th.id
    priorities = [th.priority for th in REGISTRY]
    assert len(priorities) == len(set(priorities)), "ties in the display priority"


def test_every_theorem_module_is_registered_once():
    """Adding a theorem = one module defining THEOREM + one line in REGISTRY: forgetting the line fails."""
    defined = {}
    for info in pkgutil.iter_modules(theorems_package.__path__):
        module = importlib.import_module(f"dynamics.theorems.{info.name}")
        if isinstance(getattr(module, "THEOREM", None), Theorem):
            defined[module.THEOREM.id] = info.name
    assert set(defined) == set(IDS), set(defined) ^ set(IDS)


# Words a student reads: no TeX, no internal labels or ids, no notes-file jargon.
NOT_FOR_STUDENTS = re.compile(
    r"[\\^_]\{|(?<=[\w‖)])_[A-Za-z0-9]|\\[a-z]+|\bt:\w|\b[dlp]:\w|UNCONFIRMED|/wor[k]/|[a-z]+-[a-z]+-[a-z0-9]+"
)


def _shown_words(c: Card) -> list[str]:
    words = [c.name, c.title, c.prediction, c.tolerance, c.reason, c.finding]
    for a in c.assumptions.values():
        words += [a.label, a.quantity, a.detail]
    return words


def test_card_words_have_no_tex_ids_or_internal_labels():
    scenarios = [p.scenario for p in PRESETS] + [th.example() for th in REGISTRY if th.example]
    for s in scenarios:
        for c in evaluate(s):
            for text in _shown_words(c):
                assert not NOT_FOR_STUDENTS.search(text), (c.id, text)
            assert all(a.label for a in c.assumptions.values()), c.id
    for th in REGISTRY:
        for text in (th.name, th.title, th.statement, th.tolerance, th.finding):
            assert not NOT_FOR_STUDENTS.search(text), (th.id, text)
    for card_id, base in BASES.items():
        for label, _ in counter_examples(card_id, base):
            assert not NOT_FOR_STUDENTS.search(label) and card_id not in label, label


def test_get_and_counter_examples_refuse_unknown_ids():
    with pytest.raises(KeyError, match="known"):
        get("no-such-theorem")
    with pytest.raises(KeyError):
        counter_examples("no-such-theorem", Scenario())


def test_cards_are_json_with_the_contract_keys_for_every_preset():
    for preset in PRESETS:
        result = simulate(preset.scenario.replace(T=min(preset.scenario.T, 5.0)))
        cards = evaluate(result.scenario, result)
        assert [c.id for c in cards] == list(IDS)
        for c in cards:
            out = c.to_json()
            assert CONTRACT_KEYS <= set(out)
            assert all(isinstance(v, bool) for v in out["assumptions"].values())
            assert out["observed"] in (True, False, None)
            assert isinstance(out["applies"], bool) and isinstance(out["reason"], str) and out["reason"]
            json.dumps(out, allow_nan=False)  # no NaN / inf, no numpy types
            if not c.applies:
                assert c.observed is None


def test_evaluate_refuses_a_result_of_another_scenario():
    s = Scenario(n=4, T=0.5, frames=3)
    with pytest.raises(ValueError, match="another scenario"):
        evaluate(s.replace(seed=1), simulate(s))


# ================================================================== batches: prediction observed
# ast-gradient: 9 scenarios — 3 on the ellipsoid P = QᵀK (energy asserted), 3 on the sphere with
# QᵀK = cI (energy asserted), 3 on the sphere with a general SPD QᵀK (velocity only).
# Tolerance: max‖ẋ_i(T)‖ ≤ 1e-3 max‖ẋ_i(0)‖; energy relative drops ≤ 1e-8 between frames.
def _gradient_scenario(seed: int, regime: str) -> Scenario:
    rng = np.random.default_rng([seed, 42])
    d = int(rng.integers(2, 5))
    if regime == "sphere":
        A = float(rng.uniform(0.5, 3.0)) * np.eye(d)
    else:
        A = from_spectrum(rng.uniform(0.3, 3.0, d), basis="random", rng=rng)
    extra = {"space": "ellipsoid", "P": _m(A)} if regime == "ellipsoid" else {}
    return Scenario(
        n=int(rng.integers(4, 16)),
        d=d,
        heads=({"Q": _m(np.eye(d)), "K": _m(A)},),
        beta=float(rng.uniform(0.5, 2.0)),
        T=400.0,  # long: some starts pass near a saddle (velocity ≈ 5e-4 at t = 40, escape at 280)
        dt=0.05,
        frames=81,
        seed=seed,
        **extra,
    )


@pytest.mark.parametrize("regime", ["ellipsoid", "sphere", "unproven"])
@pytest.mark.parametrize("seed", range(3))
def test_ast_gradient_batch(seed, regime):
    c = observed(_gradient_scenario(seed, regime), "ast-gradient")
    assert c.applies, c.reason
    assert c.numbers["energy_regime"] == regime
    assert c.observed is True, c.reason
    assert c.numbers["velocity_end"] <= 1e-3 * c.numbers["velocity_start"]
    if regime == "unproven":
        assert "NOT asserted" in c.prediction and "energy_max_drop" not in c.numbers
    else:
        assert c.numbers["energy_max_drop"] <= MONOTONE_TOL


# ast-hemisphere: 8 scenarios, 1–3 heads with Gaussian time-varying QᵀK(t), tokens in a cap of
# margin 0.05, sphere or a random ellipsoid. Tolerance: angular diameter < 1e-3 at T = 30 and
# min_i⟨x_i, w⟩ drops ≤ 1e-8 between frames.
def _hemisphere_scenario(seed: int) -> Scenario:
    rng = np.random.default_rng([seed, 43])
    d = int(rng.integers(2, 5))
    extra = {}
    if seed % 2:
        extra = {"space": "ellipsoid", "P": _m(np.diag(rng.uniform(0.5, 2.0, d)))}
    return Scenario(
        n=int(rng.integers(5, 21)),
        d=d,
        n_heads=int(rng.integers(1, 4)),
        qk="gaussian",
        qk_amp=0.8,
        qk_omega=float(rng.uniform(0.5, 2.0)),
        init="hemisphere",
        margin=0.05,
        beta=float(rng.choice([0.5, 1.0, 3.0])),
        T=30.0,
        frames=61,
        seed=seed,
        **extra,
    )


@pytest.mark.parametrize("seed", range(8))
def test_ast_hemisphere_batch(seed):
    c = observed(_hemisphere_scenario(seed), "ast-hemisphere")
    assert c.applies, c.reason
    assert c.observed is True, c.reason
    assert c.numbers["diameter_end"] < CONSENSUS_TOL
    assert c.numbers["margin_max_drop"] <= MONOTONE_TOL
    assert c.numbers["margin_end"] >= c.numbers["margin_start"]


# ast-causal-identity: 6 scenarios, causal, 1–3 time-varying Gaussian heads, tokens uniform on
# the sphere (no hemisphere). Tolerance: first token moves ≤ 1e-10; every token within 1e-3 rad
# of it at T = 40.
@pytest.mark.parametrize("seed", range(6))
def test_ast_causal_identity_batch(seed):
    rng = np.random.default_rng([seed, 44])
    s = Scenario(
        n=int(rng.integers(3, 13)),
        d=int(rng.integers(2, 5)),
        mask="causal",
        n_heads=int(rng.integers(1, 4)),
        qk="gaussian",
        qk_amp=0.5,
        beta=1.0,
        T=40.0,
        frames=41,
        seed=seed,
    )
    c = observed(s, "ast-causal-identity")
    assert c.applies, c.reason
    assert c.observed is True, c.reason
    assert c.numbers["first_token_drift"] <= 1e-10
    assert c.numbers["max_angle_to_first_end"] < LIMIT_TOL


# ast-causal-symmetric: 6 scenarios, one causal head, V symmetric with a random spectrum whose top
# eigenvalue is positive with gap ≥ 0.5 (random orthogonal basis; other eigenvalues may be larger
# in modulus), Gaussian QᵀK, tokens reflected into ⟨x, v⟩ > 0 (or < 0).
# Tolerance: every token within 1e-3 rad of s·v at T = 40.
def _causal_symmetric_scenario(seed: int) -> Scenario:
    rng = np.random.default_rng([seed, 45])
    d = int(rng.integers(2, 5))
    eigs = np.sort(rng.uniform(-2.5, 1.5, d))[::-1].copy()
    eigs[0] = max(eigs[1], 0.0) + rng.uniform(0.5, 1.5)  # simple and positive
    V = from_spectrum(eigs, basis="random", symmetric=True, rng=rng)
    v = np.linalg.eigh(V)[1][:, -1]
    x = rng.standard_normal((int(rng.integers(3, 13)), d))
    x *= (1 if seed % 2 else -1) * np.sign(x @ v)[:, None]
    Q, K = rng.standard_normal((d, d)) / math.sqrt(d), rng.standard_normal((d, d)) / math.sqrt(d)
    return Scenario(x0=_m(x), heads=({"Q": _m(Q), "K": _m(K), "V": _m(V)},), mask="causal", T=40.0, frames=41)


@pytest.mark.parametrize("seed", range(6))
def test_ast_causal_symmetric_batch(seed):
    s = _causal_symmetric_scenario(seed)
    c = observed(s, "ast-causal-symmetric")
    assert c.applies, c.reason
    assert c.observed is True, c.reason
    assert c.numbers["max_angle_to_limit_end"] < LIMIT_TOL
    # the limit is on the side of the tokens: ⟨x_1(0), limit⟩ > 0
    assert float(np.array(s.x0[0]) @ np.array(c.numbers["limit_point"])) > 0


# glpr-sphere-d3: 6 scenarios, d ∈ {3,…,6}, β ∈ {0, 0.5, 1, 2}, SA or USA, uniform start.
# Tolerance: angular diameter < 1e-3 at T = 40; E_β relative drops ≤ 1e-8 between frames.
@pytest.mark.parametrize("seed", range(6))
def test_glpr_sphere_d3_batch(seed):
    rng = np.random.default_rng([seed, 46])
    s = Scenario(
        n=int(rng.integers(4, 25)),
        d=int(rng.integers(3, 7)),
        beta=float(rng.choice([0.0, 0.5, 1.0, 2.0])),
        attention=["softmax", "unnormalized"][seed % 2],
        T=40.0,
        frames=81,
        seed=seed,
    )
    c = observed(s, "glpr-sphere-d3")
    assert c.applies, c.reason
    assert c.observed is True, c.reason
    assert c.numbers["energy_max_drop"] <= MONOTONE_TOL


# glpr-cone-collapse: 6 scenarios, d ∈ {2, 3, 4, 5}, β ∈ {0.5, 1, 4}, SA or USA, tokens in a cap
# of margin 0.1. Tolerance: angular diameter < 1e-3 at T = 30, fitted decay rate > 0.
@pytest.mark.parametrize("seed", range(6))
def test_glpr_cone_collapse_batch(seed):
    rng = np.random.default_rng([seed, 47])
    s = Scenario(
        n=int(rng.integers(4, 25)),
        d=int(rng.integers(2, 6)),
        beta=float(rng.choice([0.5, 1.0, 4.0])),
        attention=["softmax", "unnormalized"][seed % 2],
        init="hemisphere",
        margin=0.1,
        T=30.0,
        dt=0.02 if seed % 2 else 0.05,
        frames=61,
        seed=seed,
    )
    c = observed(s, "glpr-cone-collapse")
    assert c.applies, c.reason
    assert c.observed is True, c.reason
    # exponential: a positive fitted rate (or, if it collapsed within one frame, a lower bound)
    assert c.numbers.get("decay_rate", c.numbers.get("decay_rate_lower_bound", 0)) > 0


def test_open_causal_symmetric_multihead_reports_numbers_not_a_verdict():
    s = _causal_symmetric_scenario(0)
    V = np.array(s.heads[0].V.const)
    heads = (s.heads[0], {"Q": _m(np.eye(s.d)), "K": _m(np.eye(s.d)), "V": _m(0.5 * V)})
    s2 = s.replace(heads=heads)  # Σ V_k = 1.5 V: same eigenvector, tokens on the same side
    c = observed(s2, "open-causal-symmetric-multihead")
    assert c.applies and c.observed is None
    assert "open question" in c.reason
    assert c.numbers["consistent_with_conjecture"] is True  # what this run shows
    assert card(s2, "ast-causal-symmetric").applies is False


@pytest.mark.parametrize("seed", range(4))
def test_open_metastability_reports_cluster_counts(seed):
    # Cluster counts are not a property of β alone (seed 0 shows 3 clusters at β = 9, seed 1 two):
    # what holds for every seed tried is a lasting multi-cluster plateau at β = 9, one cluster at β = 1.
    s = Scenario(n=32, d=2, beta=9.0, integrator="euler", dt=0.1, T=100.0, frames=101, seed=seed)
    c = observed(s, "open-metastability")
    assert c.applies and c.observed is None and "open question" in c.reason
    assert c.numbers["clusters_end"] >= 2
    assert c.numbers["plateau_clusters"] >= 2
    assert c.numbers["plateau_end"] - c.numbers["plateau_start"] >= 50.0  # at least half the horizon
    assert all(len(pair) == 2 for pair in c.numbers["cluster_counts"])
    hot = observed(s.replace(beta=1.0), "open-metastability")  # high temperature: no lasting plateau
    assert hot.numbers["clusters_end"] == 1
    assert hot.numbers.get("plateau_end", 0.0) - hot.numbers.get("plateau_start", 0.0) < 10.0
    assert card(s.replace(d=3), "open-metastability").applies is False


@pytest.mark.parametrize(
    "card_id", ["glpr-polytope", "glpr-hyperplanes", "glpr-boolean-1d", "glpr-negative-identity"]
)
def test_euclidean_entries_exist_but_never_apply_or_observe(card_id):
    s = Scenario(n=6, T=1.0, frames=3)
    c = card(s, card_id, simulate(s))
    assert c.applies is False and c.observed is None
    assert EUCLIDEAN_REASON in c.reason
    assert c.assumptions["euclidean_model"].holds is False
    assert counter_examples(card_id, s) == []


# ================================================================== broken assumptions
BASES = {
    "ast-gradient": Scenario(n=8, d=3, T=2.0, frames=5, seed=1),
    "ast-hemisphere": Scenario(n=8, d=3, init="hemisphere", n_heads=2, qk="gaussian", qk_amp=0.5, T=2.0),
    "ast-causal-identity": Scenario(n=8, d=3, mask="causal", n_heads=2, qk="gaussian", T=2.0),
    "ast-causal-symmetric": Scenario(
        n=8, d=3, mask="causal", value="spectrum", v_eigs=(2.0, -0.7, -2.3), init="hemisphere",
        pole=(1.0, 0.0, 0.0), qk="gaussian", T=2.0,
    ),
    "glpr-sphere-d3": Scenario(n=8, d=3, T=2.0),
    "glpr-cone-collapse": Scenario(n=8, d=3, init="hemisphere", T=2.0),
}  # fmt: skip


@pytest.mark.parametrize("card_id", sorted(BASES))
def test_counter_examples_break_the_card(card_id):
    base = BASES[card_id]
    assert card(base, card_id).applies, card(base, card_id).reason
    examples = counter_examples(card_id, base)
    assert len(examples) >= 3
    for label, s in examples:
        c = card(s, card_id)
        assert not c.applies, f"{card_id}: counter-example {label!r} still applies"
        assert c.observed is None and "fails" in c.reason


def test_counter_examples_run():
    # every counter-example is a valid, runnable scenario
    for card_id, base in BASES.items():
        for _, s in counter_examples(card_id, base):
            assert simulate(s.replace(T=0.2, frames=3)).success


def test_open_questions_have_no_counter_examples():
    assert counter_examples("open-metastability", Scenario(d=2)) == []


@pytest.mark.parametrize(
    ("card_id", "scenario", "failing"),
    [
        ("ast-gradient", Scenario(qk="gaussian"), "qk_symmetric"),
        ("ast-gradient", Scenario(n_heads=2), "one_head"),
        ("ast-gradient", Scenario(qk="spd", qk_eigs=(1.0, 2.0, 3.0), qk_amp=0.3), "qk_constant"),
        ("ast-gradient", Scenario(beta=0.0), "qk_positive_definite"),
        ("ast-gradient", Scenario(attention="unnormalized"), "softmax_attention"),
        ("ast-hemisphere", Scenario(n=32, seed=0), "open_hemisphere"),
        ("ast-hemisphere", Scenario(init="hemisphere", value="gaussian"), "value_identity"),
        ("ast-hemisphere", Scenario(init="hemisphere", mask="causal"), "full_attention"),
        ("ast-causal-identity", Scenario(), "causal_mask"),
        ("ast-causal-symmetric", Scenario(mask="causal", value="gaussian"), "value_constant_symmetric"),
        ("ast-causal-symmetric", Scenario(mask="causal", value="spectrum", v_eigs=(-1.0, -2.0, -3.0)),
         "value_top_positive"),
        ("glpr-sphere-d3", Scenario(d=2), "d_at_least_3"),
        ("glpr-sphere-d3", Scenario(qk="spd", qk_eigs=(1.0, 2.0, 3.0)), "qk_identity"),
        ("glpr-sphere-d3", Scenario(space="ellipsoid", P=np.diag([1.0, 2.0, 3.0]).tolist()), "unit_sphere"),
        ("glpr-cone-collapse", Scenario(init="antipodal"), "open_hemisphere"),
        ("glpr-cone-collapse", Scenario(init="hemisphere", beta=0.0), "beta_positive"),
        ("open-metastability", Scenario(d=3), "d_equals_2"),
    ],
)  # fmt: skip
def test_broken_assumption_is_named(card_id, scenario, failing):
    c = card(scenario, card_id)
    assert not c.applies
    assert c.assumptions[failing].holds is False
    assert f"{c.assumptions[failing].label} fails" in c.reason  # named in words, with its numbers


# ================================================================== predicate edge cases
def test_points_on_a_great_circle_are_in_no_open_hemisphere():
    f = scenario_facts(Scenario(n=7, d=3, init="great_circle"))
    assert not f.hemisphere.contained
    assert abs(f.hemisphere.margin) <= 1e-9
    # also in a closed but not an open hemisphere: ±e1 and the pole e3 (margin exactly 0)
    c = card(Scenario(x0=[[1, 0, 0], [-1, 0, 0], [0, 0, 1]]), "ast-hemisphere")
    assert c.assumptions["open_hemisphere"].holds is False


def test_an_antipodal_pair_is_in_no_open_hemisphere():
    c = card(Scenario(x0=[[0.3, -0.5, 0.8], [-0.3, 0.5, -0.8], [0, 0, 1]]), "glpr-cone-collapse")
    assert c.assumptions["open_hemisphere"].holds is False


def test_a_double_top_eigenvalue_fails_simplicity():
    s = Scenario(
        mask="causal", value="spectrum", v_eigs=(1.0, 1.0, -1.0), init="hemisphere", pole=(1.0, 0, 0)
    )
    c = card(s, "ast-causal-symmetric")
    assert c.assumptions["value_top_simple"].holds is False
    assert c.assumptions["value_top_simple"].value == 0.0
    assert not c.applies


def test_nearly_symmetric_v_within_tolerance_counts_as_symmetric():
    base = np.diag([2.0, -0.7, -2.3])
    skew = np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 0]])
    for eps, expected in ((1e-10, True), (1e-5, False)):
        s = Scenario(
            mask="causal",
            heads=({"V": _m(base + eps * skew)},),
            x0=[[1.0, 0.2, 0.1], [0.9, -0.3, 0.2], [0.5, 0.5, -0.4]],
        )
        c = card(s, "ast-causal-symmetric")
        assert c.assumptions["value_constant_symmetric"].holds is expected, eps
        assert c.applies is expected


def test_nearly_identity_v_counts_as_identity():
    V = np.eye(3) + 1e-12 * np.ones((3, 3))
    c = card(Scenario(init="hemisphere", heads=({"V": _m(V)},)), "ast-hemisphere")
    assert c.assumptions["value_identity"].holds and c.applies


def test_top_eigenvalue_not_largest_in_modulus_still_qualifies_and_wins():
    s = Scenario(
        n=10, d=3, mask="causal", value="spectrum", v_eigs=(2.0, -0.7, -2.3), init="hemisphere",
        pole=(1.0, 0.0, 0.0), margin=0.05, qk="gaussian", T=20.0, frames=21, seed=5,
    )  # fmt: skip
    c = observed(s, "ast-causal-symmetric")
    assert c.assumptions["value_top_simple"].holds
    assert c.applies and c.observed is True, c.reason
    # the limit is e1 (eigenvalue 2), not e3 (eigenvalue −2.3, the largest in modulus)
    assert np.allclose(c.numbers["limit_point"], [1.0, 0.0, 0.0], atol=1e-12)


def _all_negative_scenario(seed: int) -> tuple[Scenario, np.ndarray]:
    """One causal head, V symmetric with every eigenvalue negative (top one simple), tokens on the
    side ⟨x, v⟩ > 0 of the top eigenvector v; returns the scenario and V's eigenvectors (ascending)."""
    rng = np.random.default_rng([seed, 48])
    d = int(rng.integers(3, 6))
    G = rng.standard_normal((d, d))
    w = np.linalg.eigvalsh((G + G.T) / 2)
    eigs = np.sort(w - w[-1] - rng.uniform(0.2, 1.0))[::-1]  # top eigenvalue in [−1, −0.2]
    V = from_spectrum(eigs, basis="random", symmetric=True, rng=rng)
    u = np.linalg.eigh(V)[1]
    x = rng.standard_normal((int(rng.integers(4, 13)), d))
    x *= np.sign(x @ u[:, -1])[:, None]
    Q, K = rng.standard_normal((d, d)) / math.sqrt(d), rng.standard_normal((d, d)) / math.sqrt(d)
    s = Scenario(x0=_m(x), heads=({"Q": _m(Q), "K": _m(K), "V": _m(V)},), mask="causal", T=100.0, frames=21)
    return s, u


@pytest.mark.parametrize("seed", range(6))
def test_a_negative_top_eigenvalue_fails_and_consensus_does_not_come(seed):
    # Why value_top_positive is an assumption (docs/theory.md, Thm D): with every eigenvalue of V
    # negative the first token still goes to v, but the tokens end in the plane of the two top
    # eigenvectors without consensus — at least one of them at −v (spread π).
    s, u = _all_negative_scenario(seed)
    c = observed(s, "ast-causal-symmetric")
    assert c.assumptions["value_top_positive"].holds is False and c.observed is None
    assert all(a.holds for n, a in c.assumptions.items() if n != "value_top_positive")
    X = simulate(s).x[-1]
    assert np.linalg.norm(X[0] - u[:, -1]) < 1e-6  # the first token at +v
    plane = u[:, -2:]
    assert np.linalg.norm(X - (X @ plane) @ plane.T, axis=1).max() < 1e-4  # in the top-two plane
    assert diameter(X) > 3.0  # no consensus: someone sits at −v


def test_tokens_on_both_sides_of_the_eigenvector_fail():
    s = Scenario(mask="causal", value="spectrum", v_eigs=(2.0, -0.7, -2.3), x0=[[1, 0, 0.2], [-0.5, 1, 0]])
    c = card(s, "ast-causal-symmetric")
    assert c.assumptions["tokens_one_side"].holds is False


def test_a_zero_sinusoid_is_constant_and_bounded():
    d = 3
    spec = {"const": _m(np.eye(d)), "sin": _m(np.zeros((d, d))), "omega": 2.0}
    c = card(Scenario(heads=({"K": spec, "V": spec},)), "ast-gradient")
    assert c.assumptions["qk_constant"].holds and c.assumptions["value_identity"].holds
    assert c.applies


def test_boundedness_is_always_true_for_sinusoids_and_reports_the_bound():
    s = Scenario(init="hemisphere", n_heads=2, qk="gaussian", qk_amp=2.0)
    a = card(s, "ast-hemisphere").assumptions["qk_bounded_uniformly_continuous"]
    assert a.holds and 0 < a.value < math.inf and "Lipschitz" in a.detail


def test_gradient_card_says_where_the_energy_is_monotone():
    A = np.diag([4.0, 1.0, 0.2])
    heads = ({"Q": _m(np.sqrt(A)), "K": _m(np.sqrt(A))},)
    on_sphere = card(Scenario(heads=heads), "ast-gradient")
    on_ellipsoid = card(Scenario(heads=heads, space="ellipsoid", P=_m(2 * A)), "ast-gradient")
    scalar = card(Scenario(heads=({"K": _m(3 * np.eye(3))},)), "ast-gradient")
    assert on_sphere.applies and on_ellipsoid.applies and scalar.applies
    assert "NOT asserted" in on_sphere.prediction
    assert "ellipsoid P ∝ QᵀK the energy" in on_ellipsoid.prediction
    assert "sphere with QᵀK = cI the energy" in scalar.prediction


# ================================================================== observed: None and False paths
def test_no_trajectory_or_short_horizon_gives_none():
    s = Scenario(n=10, init="hemisphere", T=0.5, frames=6)
    assert card(s, "ast-hemisphere").observed is None
    assert "no trajectory" in card(s, "ast-hemisphere").reason
    c = observed(s, "ast-hemisphere")
    assert c.applies and c.observed is None and "horizon too short" in c.reason
    zero = Scenario(n=10, init="hemisphere", T=0.0, frames=2)
    assert "horizon too short" in observed(zero, "ast-hemisphere").reason


def test_not_applicable_gives_none_even_with_a_trajectory():
    s = Scenario(n=10, T=1.0, frames=3)  # no causal mask
    c = observed(s, "ast-causal-identity")
    assert c.observed is None and c.reason.startswith("does not apply")


def test_centrally_symmetric_start_is_named_as_the_null_set():
    c = observed(Scenario(n=8, d=3, init="antipodal", T=5.0, seed=2), "glpr-sphere-d3")
    assert c.applies and c.observed is None and "centrally symmetric" in c.reason


def _fake(result, x):
    return replace(result, x=np.ascontiguousarray(x))


def test_reversed_trajectories_refute_the_invariants():
    # Time-reversed runs make every monotone quantity decrease: a resolved run must say False.
    s = _hemisphere_scenario(0).replace(dt=0.01)
    r = simulate(s)
    c = card(s, "ast-hemisphere", _fake(r, r.x[::-1]))
    assert c.observed is False and "minᵢ ⟨xᵢ, w⟩" in c.reason
    s = Scenario(n=10, d=3, T=5.0, frames=11)
    r = simulate(s)
    assert card(s, "glpr-sphere-d3", _fake(r, r.x[::-1])).observed is False
    g = _gradient_scenario(0, "ellipsoid")
    r = simulate(g)
    assert card(g, "ast-gradient", _fake(r, r.x[::-1])).observed is False


def test_a_coarse_step_gives_no_verdict_on_an_invariant():
    s = Scenario(n=10, d=3, integrator="euler", dt=5.0, T=10.0, frames=3, beta=1.0)
    r = simulate(s)
    c = card(s, "glpr-sphere-d3", _fake(r, r.x[::-1]))
    assert c.observed is None and "too coarse" in c.reason
    assert c.numbers["step_stiffness"] > 2


def test_a_moving_first_token_refutes_the_causal_theorem():
    s = Scenario(n=5, d=3, mask="causal", T=2.0, frames=5)
    r = simulate(s)
    x = np.array(r.x)
    x[-1, 0] = x[0, 1]
    c = card(s, "ast-causal-identity", _fake(r, x))
    assert c.observed is False and "first token moved" in c.reason


def test_consensus_at_the_wrong_pole_refutes_theorem_d():
    s = BASES["ast-causal-symmetric"]
    r = simulate(s)
    x = np.array(r.x)
    x[-1] = [[-1.0, 0.0, 0.0]] * s.n  # consensus at −e1, the tokens were on the +e1 side
    c = card(s, "ast-causal-symmetric", _fake(r, x))
    assert c.observed is False and "away from the predicted" in c.reason


def test_failed_and_ensemble_runs_are_not_judged():
    s = Scenario(n=6, init="hemisphere", T=1.0, frames=3)
    r = simulate(s)
    x = np.array(r.x)
    x[-1, 0, 0] = np.nan
    assert "failed" in card(s, "ast-hemisphere", replace(r, x=x, message="boom")).reason
    ens = simulate(s, ensemble=Ensemble(seeds=(0, 1)))
    assert "ensemble" in card(s, "ast-hemisphere", ens).reason


# ================================================================== no run: matrices of a real layer
def _layer(d: int, heads: int, value, rng: np.random.Generator, n: int = 16) -> Scenario:
    """Explicit heads as a real-weights check builds them: Q = I, K = QᵀK of rank d/4, V given."""
    r = max(1, d // 4)
    out = []
    for _ in range(heads):
        wq, wk = rng.standard_normal((2, r, d)) / math.sqrt(d)
        out.append({"Q": _m(np.eye(d)), "K": _m(wq.T @ wk), "V": _m(value(d))})
    return Scenario(x0=_m(rng.standard_normal((n, d))), heads=tuple(out), mask="causal", T=1.0)


def test_evaluate_without_a_run_on_layer_matrices_names_the_deciding_numbers():
    rng = np.random.default_rng(11)
    low_rank = _layer(96, 12, lambda d: rng.standard_normal((d, 8)) @ rng.standard_normal((8, d)) / d, rng)
    cards = {c.id: c for c in evaluate(low_rank)}
    assert all(c.observed is None for c in cards.values()) and not any(c.applies for c in cards.values())
    v = cards["ast-causal-identity"].assumptions["value_identity"]
    assert v.holds is False and v.detail.startswith("V is not the identity") and "‖V − cI‖/‖V‖" in v.detail
    assert cards["ast-causal-identity"].assumptions["causal_mask"].holds
    one = cards["ast-gradient"].assumptions["one_head"]
    assert one.holds is False and one.value == 12
    # planted structure: every head's value map the identity — the causal theorem applies …
    planted = _layer(96, 12, np.eye, rng)
    c = card(planted, "ast-causal-identity")
    assert c.applies and c.assumptions["value_identity"].value == 0.0
    # … and with −I it does not, for the right reason
    flipped = card(_layer(96, 12, lambda d: -np.eye(d), rng), "ast-causal-identity")
    assert [a.name for a in flipped.broken] == ["value_identity"]
    assert "nearest multiple of I is cI with c = tr V/d = −1" in flipped.assumptions["value_identity"].detail


@pytest.mark.parametrize("d", [1, 2, 5, 40])
def test_partial_spectra_agree_with_a_full_eigendecomposition(d):
    rng = np.random.default_rng(d)
    M = rng.standard_normal((d, d))
    f = MatrixFacts.of([M], True)
    full, vecs = np.linalg.eigh((M + M.T) / 2)
    assert f.min_eig == pytest.approx(full[0], abs=1e-12)
    np.testing.assert_allclose(f.top_eigs, full[::-1][: min(2, d)], atol=1e-12)
    assert abs(abs(float(f.top_vector @ vecs[:, -1])) - 1) < 1e-10
    assert f.top_gap == (pytest.approx(full[-1] - full[-2], abs=1e-12) if d > 1 else math.inf)


def test_euclidean_examples_satisfy_their_theorem_and_are_observed():
    from dynamics.euclidean import simulate_euclidean

    for th in REGISTRY:
        if th.example is None:
            continue
        es = th.example()
        assert isinstance(es, EuclideanScenario)
        c = next(c for c in evaluate(es, simulate_euclidean(es)) if c.id == th.id)
        assert c.applies and c.observed is True, (th.id, c.reason)
        for label, broken_es in counter_examples(th.id, es):
            assert not next(c for c in evaluate(broken_es) if c.id == th.id).applies, (th.id, label)


# ================================================================== the check CLI
def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dynamics", "check", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def test_check_cli_prints_the_cards_as_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(Scenario(n=10, init="hemisphere", T=15.0, frames=31).to_json())
    proc = _cli(str(path))
    assert proc.returncode == 0, proc.stderr
    cards = json.loads(proc.stdout)
    assert isinstance(cards, list) and {c["id"] for c in cards} == set(IDS)
    for c in cards:
        assert CONTRACT_KEYS <= set(c)
        assert isinstance(c["assumptions"], dict)
        assert all(isinstance(v, bool) for v in c["assumptions"].values())
        assert c["observed"] in (True, False, None) and isinstance(c["numbers"], dict)
    by_id = {c["id"]: c for c in cards}
    assert by_id["ast-hemisphere"]["applies"] is True and by_id["ast-hemisphere"]["observed"] is True
    assert by_id["glpr-polytope"]["applies"] is False and by_id["glpr-polytope"]["observed"] is None


def test_check_cli_no_run_and_stdin():
    proc = _cli("--no-run", "-", stdin=json.dumps({"n": 6, "mask": "causal"}))
    assert proc.returncode == 0, proc.stderr
    cards = json.loads(proc.stdout)
    assert all(c["observed"] is None for c in cards)
    assert {c["id"]: c["applies"] for c in cards}["ast-causal-identity"] is True


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"n": 0}),
        json.dumps({"nn": 3}),
        json.dumps([1, 2]),
        json.dumps({"x0": [[0, 0, 0]]}),
    ],
)
def test_check_cli_refuses_bad_files_in_one_line(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    proc = _cli(str(path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "Traceback" not in proc.stderr


def test_check_cli_missing_file():
    proc = _cli("/nonexistent/scenario.json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
