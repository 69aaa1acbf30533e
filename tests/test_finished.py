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


def test_the_same_run_asked_for_at_once_is_computed_once() -> None:
    """Two sessions (threads) enter single_flight for one key: the second waits for the first,
    then finds its value; a third key is not held up; the lock table empties afterwards."""
    import threading

    computed: list[str] = []
    first_inside = threading.Event()
    release_first = threading.Event()
    results: dict[str, object] = {}

    def session(name: str, key: str, hold: bool) -> None:
        with finished.single_flight("test flight", key):
            value = finished.lookup("test flight", key)
            if value is None:
                computed.append(name)
                if hold:
                    first_inside.set()
                    release_first.wait(10)
                value = f"run of {key} by {name}"
                finished.store("test flight", key, value)
        results[name] = value

    a = threading.Thread(target=session, args=("A", "same", True))
    a.start()
    assert first_inside.wait(10)
    assert finished.in_flight("test flight", "same")
    b = threading.Thread(target=session, args=("B", "same", False))
    c = threading.Thread(target=session, args=("C", "other", False))
    b.start()
    c.start()
    c.join(10)
    assert results["C"] == "run of other by C"  # another key runs at once
    assert "B" not in results  # B waits for A
    release_first.set()
    a.join(10)
    b.join(10)
    assert computed == ["A", "C"] and results["B"] == results["A"] == "run of same by A"
    assert not finished.in_flight("test flight", "same") and finished._flights().flights == {}
