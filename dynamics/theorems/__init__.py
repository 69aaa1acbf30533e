"""The theorem registry: what the papers prove, when it applies, and whether a run shows it.

    from dynamics.theorems import evaluate, counter_examples, get
    cards = evaluate(scenario)                 # assumptions only (no run: fast, also for real weights)
    cards = evaluate(scenario, simulate(s))    # … and what the trajectory shows
    [c.to_json() for c in cards]               # the JSON of ``python -m dynamics check``
    get("ast-hemisphere").name                 # "Hemisphere ⇒ consensus (Abella et al., Thm 4.1)"

Each result is one :class:`Theorem` object in its own module of this package, owning its
assumptions (named predicates with the numbers that decide them and the words the app shows),
prediction, observer, counter-examples, lesson preset, display priority and names. The maths and
what this project found where it differs from the papers are in docs/theory.md.

Layout: ``base`` (Assumption, Observation, Card, Theorem — the one card builder), ``facts``
(tolerances and :func:`scenario_facts`, the single place where a scenario's spectra and hemisphere
LP are computed), ``predicates`` (assumptions several theorems share), ``observe`` (judging a
trajectory), ``edits`` (scenario edits for counter-examples), then one module per theorem.

Adding a theorem: write ``dynamics/theorems/<name>.py`` defining ``THEOREM = Theorem(...)``, add
``<name>.THEOREM`` to :data:`REGISTRY` below (the only registration), add its test (a batch of
scenarios satisfying its assumptions on which the prediction is observed, and its counter-examples
breaking it — see tests/test_theorems.py) and its section in docs/theory.md. The app (Theorem lab,
explorer card, ``check`` command) picks it up from the registry.
"""

from __future__ import annotations

from typing import Any

from .. import euclidean as _eu
from ..scenario import Scenario
from . import (
    boolean_1d,
    causal_identity,
    causal_multihead,
    causal_symmetric,
    cone_collapse,
    gradient,
    hemisphere,
    hyperplanes,
    metastability,
    negative_identity,
    polytope,
    sphere_d3,
)
from .base import OFF_MODEL, Assumption, Card, Observation, Theorem, clean
from .facts import (
    CLUSTER_COS,
    CONSENSUS_TOL,
    EU_BALL_TOL,
    EU_BOOLEAN_TOL,
    EU_DISTINCT_TOL,
    EU_HULL_TOL,
    EU_LIMIT_TOL,
    EU_NORM_RATIO,
    EU_RANK_TOL,
    EU_UNIFORM_TOL,
    EU_VELOCITY_TOL,
    EU_WRONG_TOL,
    FIXED_TOL,
    GAP_TOL,
    HEMISPHERE_TOL,
    IDENTITY_TOL,
    LIMIT_TOL,
    MONOTONE_TOL,
    SYMMETRY_TOL,
    VELOCITY_RATIO,
    EuclideanFacts,
    Facts,
    MatrixFacts,
    euclidean_facts,
    scenario_facts,
)
from .predicates import EUCLIDEAN_REASON

#: Every registered result, in the order of ``evaluate``'s cards (the one place to add a theorem).
REGISTRY: tuple[Theorem, ...] = (
    gradient.THEOREM,
    hemisphere.THEOREM,
    causal_identity.THEOREM,
    causal_symmetric.THEOREM,
    causal_multihead.THEOREM,
    sphere_d3.THEOREM,
    cone_collapse.THEOREM,
    metastability.THEOREM,
    polytope.THEOREM,
    hyperplanes.THEOREM,
    boolean_1d.THEOREM,
    negative_identity.THEOREM,
)

IDS: tuple[str, ...] = tuple(th.id for th in REGISTRY)
_BY_ID = {th.id: th for th in REGISTRY}
if len(_BY_ID) != len(REGISTRY):  # pragma: no cover - a registration mistake
    raise ImportError("dynamics.theorems: two registered theorems share an id")


def get(theorem_id: str) -> Theorem:
    """The registered theorem with this id (KeyError listing the known ids otherwise)."""
    try:
        return _BY_ID[theorem_id]
    except KeyError:
        raise KeyError(f"unknown theorem {theorem_id!r}; known: {', '.join(IDS)}") from None


def _model(scenario: Any) -> str:
    return "euclidean" if isinstance(scenario, _eu.EuclideanScenario) else "sphere"


def evaluate(scenario: Scenario | _eu.EuclideanScenario, result: Any = None) -> list[Card]:
    """Every registered result evaluated on ``scenario`` (and observed on ``result`` if given).

    A sphere/ellipsoid :class:`~dynamics.Scenario` gets one card per registered theorem (results
    about the Euclidean model say "not in this model"); a
    :class:`~dynamics.euclidean.EuclideanScenario` gets the cards of the Euclidean-model results.
    Without ``result`` only the assumptions are evaluated — no integration — so this is also the
    call for matrices taken from a real network. ``result`` must be a run of this very scenario.
    Raises ScenarioError for scenarios whose tokens cannot be built (e.g. a zero row in x0).
    """
    if result is not None and result.scenario != scenario:
        raise ValueError("evaluate: the result is a run of another scenario")
    facts = scenario_facts(scenario)
    model = _model(scenario)
    return [th.card(facts, result) for th in REGISTRY if model == "sphere" or th.model == model]


def evaluate_euclidean(es: _eu.EuclideanScenario, result: _eu.EuclideanResult | None = None) -> list[Card]:
    """The cards of the results about the Euclidean model, on ``es`` (and observed on ``result``)."""
    if not isinstance(es, _eu.EuclideanScenario):
        raise TypeError(f"evaluate_euclidean needs a EuclideanScenario, not {type(es).__name__}")
    return evaluate(es, result)


def counter_examples(card_id: str, scenario: Any) -> list[tuple[str, Any]]:
    """One-click scenarios that break one assumption of the card each: ``(label, scenario)``.

    Each is a small edit of ``scenario`` (tokens, V, QᵀK, mask or head count) for which the card
    no longer applies. Empty for open questions and for a scenario of the other model.
    """
    th = get(card_id)
    if th.counter_examples is None or th.model != _model(scenario):
        return []
    return th.counter_examples(scenario)


def euclidean_counter_examples(card_id: str, es: _eu.EuclideanScenario) -> list[tuple[str, Any]]:
    """:func:`counter_examples` for a Euclidean-model scenario."""
    return counter_examples(card_id, es)


__all__ = [
    "CLUSTER_COS",
    "CONSENSUS_TOL",
    "EUCLIDEAN_REASON",
    "EU_BALL_TOL",
    "EU_BOOLEAN_TOL",
    "EU_DISTINCT_TOL",
    "EU_HULL_TOL",
    "EU_LIMIT_TOL",
    "EU_NORM_RATIO",
    "EU_RANK_TOL",
    "EU_UNIFORM_TOL",
    "EU_VELOCITY_TOL",
    "EU_WRONG_TOL",
    "FIXED_TOL",
    "GAP_TOL",
    "HEMISPHERE_TOL",
    "IDENTITY_TOL",
    "IDS",
    "LIMIT_TOL",
    "MONOTONE_TOL",
    "OFF_MODEL",
    "REGISTRY",
    "SYMMETRY_TOL",
    "VELOCITY_RATIO",
    "Assumption",
    "Card",
    "EuclideanFacts",
    "Facts",
    "MatrixFacts",
    "Observation",
    "Theorem",
    "clean",
    "counter_examples",
    "euclidean_counter_examples",
    "euclidean_facts",
    "evaluate",
    "evaluate_euclidean",
    "get",
    "scenario_facts",
]
