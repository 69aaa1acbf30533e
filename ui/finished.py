"""Finished runs kept across reruns and sessions, for work done *outside* a cached function.

A run with a progress bar and a Cancel button must call Streamlit while it works, which a function
wrapped in ``st.cache_data`` cannot do (its elements would be replayed on every hit). So the page
runs the work itself and hands the finished value to this store, which keeps it in
``st.cache_data`` (at most MAX_ENTRIES values and MAX_BYTES pickled bytes, shared by every
session of the process) under
``(kind, key)``; ``lookup`` returns it later, or None if it was never stored or has been evicted.

    with finished.single_flight("mean-field ODE", js):   # another session on the same run: wait
        value = finished.lookup("mean-field ODE", js)
        if value is None:
            value = run_with_progress(...)  # may be stopped by Cancel or by the session ending
            finished.store("mean-field ODE", js, value)

``single_flight`` makes sessions that ask for the same unfinished run at once compute it once: the
first holds the key's lock while it works, the others wait for it and then find the value (or, if
the first was cancelled, compute it themselves).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import streamlit as st

MAX_ENTRIES = 64
#: Bytes (pickled) the finished runs of every kind may hold together, least recently used out first
#: (a deep run at n = 1024 keeps its cosine matrices: tens of MB).
MAX_BYTES = 256 * 2**20


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


class _Flights:
    """One lock per (kind, key) that some session is computing; a lock is dropped when nobody
    holds or waits for it (so the table stays as small as the runs in progress)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.flights: dict[tuple[str, str], tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, kind: str, key: str) -> Iterator[None]:
        with self.lock:
            lock, users = self.flights.get((kind, key), (threading.Lock(), 0))
            self.flights[(kind, key)] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self.lock:
                lock, users = self.flights[(kind, key)]
                if users == 1:
                    del self.flights[(kind, key)]
                else:
                    self.flights[(kind, key)] = (lock, users - 1)


@st.cache_resource(show_spinner=False)
def _handoff() -> _Handoff:
    return _Handoff()


@st.cache_resource(show_spinner=False)
def _flights() -> _Flights:
    return _Flights()


@st.cache_data(max_entries=MAX_ENTRIES, max_size=MAX_BYTES, show_spinner=False)
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


def single_flight(kind: str, key: str) -> contextlib.AbstractContextManager[None]:
    """Hold the lock of run (kind, key) for the block: a second session entering the same block
    waits until the first leaves it (finished, failed or stopped)."""
    return _flights().hold(kind, key)


def in_flight(kind: str, key: str) -> bool:
    """Is some session computing run (kind, key) now (so ``single_flight`` would wait)?"""
    flights = _flights()
    with flights.lock:
        return (kind, key) in flights.flights


@contextlib.contextmanager
def turn(kind: str, key: str, waiting: str) -> Iterator[None]:
    """``single_flight`` that says ``waiting`` on the page while another session holds the run."""
    slot = st.empty()
    if in_flight(kind, key):
        slot.info(waiting, icon=":material/hourglass_top:")
    with single_flight(kind, key):
        slot.empty()
        yield


def store(kind: str, key: str, value: Any) -> None:
    """Keep ``value`` (picklable) as the finished value of ``kind`` under ``key``."""
    handoff = _handoff()
    handoff.put(kind, key, value)
    _finished(kind, key)
    handoff.discard(kind, key)  # already cached (another session finished it first): nothing left over
