"""Finished runs kept across reruns and sessions, for work done *outside* a cached function.

A run with a progress bar and a Cancel button must call Streamlit while it works, which a function
wrapped in ``st.cache_data`` cannot do (its elements would be replayed on every hit). So the page
runs the work itself and hands the finished value to this store, which keeps it in
``st.cache_data`` (bounded, pickled copies, shared by every session of the process) under
``(kind, key)``; ``lookup`` returns it later, or None if it was never stored or has been evicted.

    value = finished.lookup("mean-field ODE", js)
    if value is None:
        value = run_with_progress(...)      # may be stopped by Cancel or by the session ending
        finished.store("mean-field ODE", js, value)
"""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st

MAX_ENTRIES = 64


class _Handoff:
    """Values between ``store`` and the cached function that picks them up (one per process)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}
        self.lock = threading.Lock()

    def put(self, kind: str, key: str, value: Any) -> None:
        with self.lock:
            self.values[(kind, key)] = value

    def take(self, kind: str, key: str) -> Any:
        with self.lock:
            return self.values.pop((kind, key))

    def discard(self, kind: str, key: str) -> None:
        with self.lock:
            self.values.pop((kind, key), None)


@st.cache_resource(show_spinner=False)
def _handoff() -> _Handoff:
    return _Handoff()


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _finished(kind: str, key: str) -> Any:
    """The value stored for (kind, key); LookupError (never cached) if there is none."""
    try:
        return _handoff().take(kind, key)
    except KeyError:
        raise LookupError(f"{kind}: {key}") from None


def lookup(kind: str, key: str) -> Any | None:
    """The finished value of ``kind`` stored under ``key``, or None."""
    try:
        return _finished(kind, key)
    except LookupError:
        return None


def store(kind: str, key: str, value: Any) -> None:
    """Keep ``value`` (picklable) as the finished value of ``kind`` under ``key``."""
    handoff = _handoff()
    handoff.put(kind, key, value)
    _finished(kind, key)
    handoff.discard(kind, key)  # already cached (another session finished it first): nothing left over
