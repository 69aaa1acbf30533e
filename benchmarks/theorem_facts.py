"""Theorem cards without a run: ``dynamics.theorems.evaluate(scenario)`` on layer-sized matrices.

    python benchmarks/theorem_facts.py            # d = 64, 384, 768; 12 heads; n = 64 tokens
    python benchmarks/theorem_facts.py --quick    # one repeat

What a real-weights check costs: 12 heads with explicit low-rank QᵀK (rank 64, passed as Q = I,
K = QᵀK) and value maps (rank 64), n = 64 token states from a Gaussian cloud, causal mask. Each row
times ``evaluate`` (all cards, no integration; the facts are recomputed on every call), against
the naive baseline the package replaced: a full symmetric eigendecomposition (eigenvalues and
eigenvectors) of sym(V_k) and of sym(Q_kᵀK_k) for every head. "ratio" = baseline / evaluate.
The LP column is the hemisphere test alone (n rows, d + 1 columns). Building the Scenario (the
validation of 36 explicit d×d matrices) is reported apart: it is not part of the checks.

With ``threadpoolctl`` installed, every row is also measured with BLAS limited to one thread: on
a loaded 2-core machine a two-thread OpenBLAS eigensolver can be many times slower than one
thread. This is a script that prints tables, not a test: numbers depend on the machine and its
load (printed with them).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynamics import Scenario
from dynamics.metrics import open_hemisphere
from dynamics.theorems import evaluate

HEADS, RANK, TOKENS = 12, 64, 64


def layer_scenario(d: int, seed: int = 0) -> Scenario:
    """12 heads of rank-64 key–query and value maps in dimension d, 64 tokens, causal mask."""
    rng = np.random.default_rng(seed)
    heads = []
    for _ in range(HEADS):
        wq, wk = rng.standard_normal((2, RANK, d)) / np.sqrt(d)
        wv, wo = rng.standard_normal((2, RANK, d)) / np.sqrt(d)
        heads.append({"Q": np.eye(d).tolist(), "K": (wq.T @ wk).tolist(), "V": (wo.T @ wv).tolist()})
    x0 = rng.standard_normal((TOKENS, d))
    return Scenario(x0=x0.tolist(), heads=heads, mask="causal", T=1.0)


def naive_spectra(s: Scenario) -> None:
    """The replaced approach: full eigh of sym(V_k) and sym(Q_kᵀK_k) for every head."""
    for h in s.heads:
        for m in (h.V.at(0.0), h.Q.at(0.0).T @ h.K.at(0.0)):
            np.linalg.eigh((m + m.T) / 2)


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit, user_api="blas"):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat per measurement")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    try:
        import threadpoolctl  # noqa: F401

        thread_modes: tuple[int | None, ...] = (None, 1)
    except ImportError:
        thread_modes = (None,)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} · {os.cpu_count()} CPUs")
    print(
        f"{'d':>5} {'BLAS threads':>12} {'Scenario (s)':>12} {'evaluate (s)':>12} {'LP (s)':>8} "
        f"{'naive (s)':>10} {'ratio':>6}"
    )
    for d in (64, 384, 768):
        t0 = time.perf_counter()
        s = layer_scenario(d)
        build = time.perf_counter() - t0
        evaluate(s)  # convert the matrices once (MatrixSpec caches its arrays)
        x0 = np.array(s.x0)
        for threads in thread_modes:
            with blas_threads(threads):
                cards = best(lambda s=s: evaluate(s), repeats)
                lp = best(lambda x0=x0: open_hemisphere(x0), repeats)
                naive = best(lambda s=s: naive_spectra(s), repeats)
            label = "default" if threads is None else str(threads)
            print(
                f"{d:>5} {label:>12} {build:>12.2f} {cards:>12.3f} {lp:>8.3f} {naive:>10.3f} "
                f"{naive / cards:>6.1f}"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
