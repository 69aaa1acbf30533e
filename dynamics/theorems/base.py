"""The card type: a theorem, its evaluated assumptions, and the one function that builds its card.

A :class:`Theorem` is data plus a few functions of the *facts* of a scenario (see
:mod:`dynamics.theorems.facts`): its assumptions (named predicates, each with the number that
decides it and the words the app shows for it), its prediction, and an observer that judges a
trajectory. :meth:`Theorem.card` turns all of that into a :class:`Card` — for the sphere and the
Euclidean model alike — and is the only place where cards are built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATUSES = ("theorem", "lemma", "open question")
OFF_MODEL = "not in this model"  # the status of a card evaluated on the other model's scenario
MODELS = {"sphere": "sphere/ellipsoid model", "euclidean": "Euclidean model"}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def real_space(d: int) -> str:
    """ℝᵈ for a given d: "ℝ³"."""
    return "ℝ" + str(d).translate(_SUPERSCRIPT)


def num(x: float, digits: int = 3) -> str:
    """A number for prose: ``1e-08`` → "10⁻⁸", ``2.5e-12`` → "2.5·10⁻¹²", else ``:.{digits}g``."""
    x = float(x)
    if not math.isfinite(x):
        return "∞" if x > 0 else ("−∞" if x < 0 else "undefined")
    text = f"{x:.{digits}g}"
    if "e" not in text:
        return text.replace("-", "−")
    mantissa, exponent = text.split("e")
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    sign = "−" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    return f"{sign}{power}" if mantissa == "1" else f"{sign}{mantissa}·{power}"


@dataclass(frozen=True)
class Assumption:
    """One hypothesis evaluated on a scenario.

    ``name`` is the stable key (JSON, tests); ``label`` says the hypothesis in words ("V = I"),
    ``quantity`` names the deciding number ("‖V − I‖/√d"; "" when the value is self-explanatory),
    ``value`` is that number (or a word), ``detail`` one sentence with the numbers and tolerance.
    """

    name: str
    holds: bool
    value: float | str
    detail: str
    label: str = ""
    quantity: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "value": clean(self.value),
            "detail": self.detail,
            "label": self.label or self.name,
        }


def assumption(
    name: str, label: str, quantity: str, holds: bool, value: float | str, detail: str
) -> Assumption:
    """An :class:`Assumption` with a plain bool and a float (or word) value."""
    return Assumption(
        name, bool(holds), value if isinstance(value, str) else float(value), detail, label, quantity
    )


@dataclass(frozen=True)
class Observation:
    """What a trajectory shows: True/False, or None (does not apply, undecided, open question)."""

    value: bool | None
    reason: str
    numbers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Card:
    """A theorem evaluated on one scenario (and, if given, one trajectory)."""

    id: str
    name: str
    title: str
    source: str
    status: str
    assumptions: dict[str, Assumption]
    applies: bool
    prediction: str
    tolerance: str
    observed: bool | None
    reason: str
    numbers: dict
    finding: str = ""

    @property
    def broken(self) -> list[Assumption]:
        """The assumptions that fail, in the card's order."""
        return [a for a in self.assumptions.values() if not a.holds]

    def to_json(self) -> dict[str, Any]:
        """The ``check`` contract keys, plus name, title, status, tolerance and assumption details."""
        return {
            "id": self.id,
            "source": self.source,
            "assumptions": {k: bool(a.holds) for k, a in self.assumptions.items()},
            "applies": bool(self.applies),
            "prediction": self.prediction,
            "observed": self.observed,
            "reason": self.reason,
            "numbers": clean(self.numbers),
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "tolerance": self.tolerance,
            "assumption_details": {k: a.to_json() for k, a in self.assumptions.items()},
        }


def failed_text(failed: Sequence[Assumption]) -> str:
    """ "does not apply" reasons: each broken hypothesis in words with its deciding numbers."""
    return "; ".join(f"{a.label or a.name} fails ({a.detail})" for a in failed)


Predicates = Callable[[Any], list[Assumption]]
Observer = Callable[[Any, Any], Observation]


@dataclass(frozen=True)
class Theorem:
    """One result of the papers, as one object.

    Words: ``short`` ("Hemisphere ⇒ consensus"), ``cite`` ("Abella et al., Thm 4.1"), ``name`` =
    both (what the app shows wherever it names the result), ``title`` (one sentence: hypotheses and
    conclusion), ``source`` (full citation with the arXiv id), ``statement`` (the prediction in
    words), ``tolerance`` (how a run is judged), ``finding`` (what this project found where it
    differs from the paper, or "").

    Maths: ``model`` is "sphere" (a :class:`dynamics.Scenario`) or "euclidean" (a
    :class:`dynamics.euclidean.EuclideanScenario`); ``predicates(facts)`` lists the assumptions,
    ``observer(facts, result)`` judges a run where they hold, ``predict(facts)`` words the
    prediction for this scenario, ``describe(facts)`` adds scenario numbers to the card.
    ``off_model(facts)``, for results about one model, lists what the card shows on a scenario
    of the other one (its first assumption says which model the result is about).

    Teaching: ``counter_examples(scenario)`` returns small edits ``(label, scenario)`` of a
    scenario of its model that each break one assumption; ``preset`` is the lesson
    (``dynamics.presets`` key) that illustrates it, ``example`` a scenario of the Euclidean model
    for results about it; ``priority`` breaks ties when the app picks one card for a run (lower
    first: stronger conclusions).
    """

    id: str
    short: str
    cite: str
    title: str
    source: str
    status: str
    model: str
    statement: str
    tolerance: str
    predicates: Predicates
    observer: Observer
    predict: Callable[[Any], str] | None = None
    describe: Callable[[Any], dict[str, Any]] | None = None
    counter_examples: Callable[[Any], list[tuple[str, Any]]] | None = None
    off_model: Predicates | None = None
    preset: str | None = None
    example: Callable[[], Any] | None = None
    priority: int = 100
    finding: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"{self.id}: status {self.status!r} is not one of {STATUSES}")
        if self.model not in MODELS:
            raise ValueError(f"{self.id}: model {self.model!r} is not one of {tuple(MODELS)}")

    @property
    def name(self) -> str:
        """What the app calls this result: "Hemisphere ⇒ consensus (Abella et al., Thm 4.1)"."""
        return f"{self.short} ({self.cite})"

    @property
    def is_open(self) -> bool:
        return self.status == "open question"

    def card(self, facts: Any, result: Any = None) -> Card:
        """This result evaluated on ``facts`` (and observed on ``result``, a run of that scenario).

        On a scenario of the other model the card lists ``off_model``'s assumptions, does not
        apply and has the status "not in this model".
        """
        on_model = facts.model == self.model
        if on_model:
            assumptions = {a.name: a for a in self.predicates(facts)}
        elif self.off_model is not None:
            assumptions = {a.name: a for a in self.off_model(facts)}
        else:
            raise ValueError(f"{self.id} is not a result about the {MODELS[facts.model]}")
        failed = [a for a in assumptions.values() if not a.holds]
        applies = on_model and not failed
        numbers: dict[str, Any] = {n: a.value for n, a in assumptions.items() if not isinstance(a.value, str)}
        numbers.update(facts.summary())
        if on_model and self.describe is not None:
            numbers.update(self.describe(facts))
        obs = self._observation(facts, result, failed, applies)
        numbers.update(obs.numbers)
        return Card(
            id=self.id,
            name=self.name,
            title=self.title,
            source=self.source,
            status=self.status if on_model else OFF_MODEL,
            assumptions=assumptions,
            applies=applies,
            prediction=self.predict(facts) if (on_model and self.predict is not None) else self.statement,
            tolerance=self.tolerance,
            observed=obs.value,
            reason=obs.reason,
            numbers=numbers,
            finding=self.finding,
        )

    def _observation(self, facts: Any, result: Any, failed: list[Assumption], applies: bool) -> Observation:
        if failed:
            what = "the open question's setting does not hold" if self.is_open else "does not apply"
            return Observation(None, f"{what}: {failed_text(failed)}")
        if not applies:  # pragma: no cover - off-model cards always have a failing first assumption
            return Observation(None, "does not apply on this model")
        if result is None:
            return Observation(None, "assumptions hold; no trajectory given, nothing observed")
        return self.observer(facts, result)


def clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars → Python, NaN/inf → None, tuples/arrays → lists."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [clean(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return value
