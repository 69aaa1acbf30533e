"""BLAS threads per run: one thread for small work, never more threads than cores in total.

OpenBLAS (like MKL) has one *process-wide* thread count, and a Streamlit server runs each
session's rerun in its own Python thread: with the library default (one BLAS thread per core) two
concurrent runs on two cores ask for four threads, and one run next to any other busy process
oversubscribes the cores. ``benchmarks/engine.py --threads --loaded`` measured on 2 cores with one
busy process beside it: n = 256, d = 64 Euler ran 20× faster on one thread than on the default two
(1.9 vs 38 ms a step, float64).

Policy, applied with ``threadpoolctl`` around every run (``with blas_threads(work):``):

* a run whose field evaluation costs less than :data:`MULTITHREAD_MIN_WORK` flops is *small*: it
  gains nothing from more BLAS threads (the threads' hand-off costs more than the product);
* the process-wide BLAS thread count is 1 while no large run is active, else
  ``max(1, cores // active runs)``, so the runs in this process never ask for more BLAS threads
  than there are cores. (Other processes' load is not sampled: on this shared machine it comes
  in bursts, and a count taken when a run starts chose one thread for n = 1024, d = 768 exactly
  when two would have been 2× faster as often as the reverse.)

The bookkeeping is one lock-protected :class:`ThreadBudget` per process, created on first use
(``thread_budget()``). Dask workers call ``blas_threads(0)`` around each task (one BLAS thread per
worker thread).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

#: Flops of one field evaluation from which a run may use more than one BLAS thread. Measured on
#: 2 cores (benchmarks/engine.py --threads): n = 256, d = 64 (2e7 flops) takes 0.48 ms a step on one
#: thread vs 0.36 ms on two when the second core is free, but 1.9 vs 38 ms beside one busy process;
#: n = 1024, d = 768 (5.6e9) runs ~2× faster on two threads when the second core is free.
MULTITHREAD_MIN_WORK = 2e8


def usable_cores() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class ThreadBudget:
    """Process-wide BLAS thread count from the runs active in this process (see module docstring).

    The library's own thread count is restored when no run is active any more.
    """

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or usable_cores()
        self._lock = threading.Lock()
        self._small = 0
        self._large = 0
        self._libs: list | None = None
        self._original: list[int] = []
        self._current: int | None = None

    def threads(self) -> int:
        """The BLAS thread count for the runs active now (1 when only small runs are)."""
        if self._large == 0:
            return 1
        return max(1, self.cores // (self._small + self._large))

    def _set(self, count: int | None) -> None:
        """Set every BLAS library's thread count (None: back to each library's original)."""
        if self._libs is None:
            from threadpoolctl import ThreadpoolController

            self._libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
            self._original = [lib.num_threads for lib in self._libs]
        if count == self._current:
            return
        for lib, original in zip(self._libs, self._original, strict=True):
            lib.set_num_threads(original if count is None else count)
        self._current = count

    @contextmanager
    def run(self, work_per_evaluation: float) -> Iterator[int]:
        """Context of one run; yields the BLAS thread count set when it started."""
        large = work_per_evaluation >= MULTITHREAD_MIN_WORK
        with self._lock:
            if large:
                self._large += 1
            else:
                self._small += 1
            chosen = self.threads()
            self._set(chosen)
        try:
            yield chosen
        finally:
            with self._lock:
                if large:
                    self._large -= 1
                else:
                    self._small -= 1
                self._set(self.threads() if self._small + self._large else None)


@functools.cache
def thread_budget() -> ThreadBudget:
    """The process's one ThreadBudget (created on first use)."""
    return ThreadBudget()


def blas_threads(work_per_evaluation: float) -> AbstractContextManager[int]:
    """``with blas_threads(flops_per_evaluation):`` around a run (see the module docstring)."""
    return thread_budget().run(work_per_evaluation)
