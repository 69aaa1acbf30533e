"""Exceptions raised by the engine: one type for every refusal a user can trigger."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario (from JSON, a URL, the CLI or Python) that the engine refuses.

    The message is one line, names the offending key and says what is allowed; it is meant to be
    shown to a person as it is.
    """


class BudgetError(ScenarioError):
    """A valid scenario whose size or total work exceeds the engine's limits."""
