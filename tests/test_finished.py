"""ui.finished: runs finished outside st.cache_data are kept in it, per kind and key."""

from __future__ import annotations

import numpy as np

from ui import finished


def test_a_stored_value_is_found_by_kind_and_key_only() -> None:
    finished.store("test kind", "k1", {"x": np.arange(3)})
    got = finished.lookup("test kind", "k1")
    assert got is not None and np.array_equal(got["x"], np.arange(3))
    assert finished.lookup("test kind", "k2") is None
    assert finished.lookup("other kind", "k1") is None


def test_storing_a_key_twice_keeps_the_first_value_and_leaves_nothing_behind() -> None:
    """A second session finishing the same run: the cached value stays, the hand-off is emptied."""
    finished.store("test kind", "twice", 1)
    finished.store("test kind", "twice", 2)
    assert finished.lookup("test kind", "twice") == 1
    assert finished._handoff().values == {}


def test_a_miss_is_not_cached() -> None:
    assert finished.lookup("test kind", "later") is None
    finished.store("test kind", "later", "value")
    assert finished.lookup("test kind", "later") == "value"
