"""Validation of user input: every failure is a one-line :class:`~dynamics.errors.ScenarioError`.

Shared by every scenario type (sphere, Euclidean, Gaussian, sweep) and by the app's controls::

    number(value, name, lo, hi, integer=False)   a finite number in [lo, hi] (numeric strings accepted)
    choice(value, name, options)                  one of the given strings
    boolean(value, name)                          true/false (also "yes"/"no", "1"/"0", 1/0)
    matrix(value, name, shape=None)               a non-empty 2-D matrix of finite numbers, as tuples
    vector(value, name, length=None)              a non-empty list of finite numbers, as a tuple
    load_json(text)                               JSON with duplicate keys refused (not last-wins)
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .errors import ScenarioError

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]

#: Largest absolute value of a matrix or vector entry: beyond it a scenario is nonsense.
MAX_ABS = 1e6


def _check_entries(arr: np.ndarray, name: str) -> None:
    """ScenarioError unless every entry is finite and at most MAX_ABS in absolute value."""
    if not np.all(np.isfinite(arr)):
        raise ScenarioError(f"{name}: entries must be finite numbers")
    if np.abs(arr).max() > MAX_ABS:
        raise ScenarioError(f"{name}: entries must be at most {MAX_ABS:g} in absolute value")


def matrix(value: Any, name: str, shape: tuple[int, int] | None = None) -> Matrix:
    """Validate a matrix given as nested sequences and return it as a tuple of tuples."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise ScenarioError(f"{name}: expected a matrix of numbers ({exc})") from None
    if arr.ndim != 2 or arr.size == 0:
        raise ScenarioError(f"{name}: expected a non-empty 2-D matrix, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ScenarioError(f"{name}: expected shape {shape}, got {arr.shape}")
    _check_entries(arr, name)
    return tuple(tuple(float(v) for v in row) for row in arr)


def vector(value: Any, name: str, length: int | None = None) -> Vector:
    """Validate a list of numbers and return it as a tuple."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise ScenarioError(f"{name}: expected a list of numbers ({exc})") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ScenarioError(f"{name}: expected a non-empty list of numbers")
    if length is not None and arr.size != length:
        raise ScenarioError(f"{name}: expected {length} numbers (one per dimension), got {arr.size}")
    _check_entries(arr, name)
    return tuple(float(v) for v in arr)


def number(value: Any, name: str, lo: float, hi: float, *, integer: bool = False) -> Any:
    """A finite number in [lo, hi] (an int with ``integer``); numeric strings are accepted."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ScenarioError(f"{name}: expected a number, got {value!r}") from None
        else:
            raise ScenarioError(f"{name}: expected a number, got {type(value).__name__}")
    try:
        as_float = float(value)
    except OverflowError:  # a Python int beyond the float range
        raise ScenarioError(f"{name}: must be between {lo:g} and {hi:g}; got a huge number") from None
    if not math.isfinite(as_float):
        raise ScenarioError(f"{name}: must be a finite number")
    if integer:
        if float(value) != int(value):
            raise ScenarioError(f"{name}: expected a whole number, got {value}")
        value = int(value)
    else:
        value = float(value)
    if not lo <= value <= hi:
        raise ScenarioError(f"{name}: must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    """One of ``options`` (exactly)."""
    if not isinstance(value, str) or value not in options:
        raise ScenarioError(f"{name}: must be one of {', '.join(options)}; got {value!r}")
    return value


def boolean(value: Any, name: str) -> bool:
    """A boolean, also from "true"/"false", "yes"/"no", "1"/"0" and the integers 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ScenarioError(f"{name}: expected true or false, got {value!r}")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: a JSON object with a key given twice is refused (not last-wins)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ScenarioError(f"{key}: given twice in one JSON object")
        out[key] = value
    return out


def load_json(text: str) -> Any:
    """json.loads with every failure (syntax, duplicate keys, over-long integers, absurd nesting) as
    ScenarioError."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:
        raise ScenarioError(f"not valid JSON: {str(exc)[:120]}") from None
