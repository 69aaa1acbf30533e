"""Phase-diagram sweep benchmark: the headline sweep of issue 6 and what it costs.

    python benchmarks/sweep.py            # full headline sweep (≈ 1 min on 2 free cores) + table
    python benchmarks/sweep.py --quick    # 10 β values only (the headline time extrapolated ×9)
    python benchmarks/sweep.py --markdown

Headline: 2048 systems *per β* (as the authors' phase-diagrams.py: one batch of 2048 per β),
n = 32, d = 2, 90 β in [0.1, 9], T = 30, dt = 0.1 (300 Euler steps), 200 checkpoints, statistic
"pairs", float32 — 184 320 systems × 300 steps.

Rows (wall time from the first submission to the last result, tokens included):

* the exact d = 2 circle kernel, serial (no Dask), on a subset of β;
* the same subset through Dask: threads (LocalCluster processes=False, 1 and 2 threads) and
  processes (2 workers × 1 thread); "Dask overhead" = Dask with 1 thread − serial;
* the generic (B, n, d) kernel of dynamics.sweep (kernel="generic") on 2 β values;
* the naive baseline: a loop over β of the engine's ``simulate(…, ensemble=Ensemble(seeds))``
  (euler, frames = 301 so each step is saved, statistic on the frames) on 2 β values;
* the full headline with the fastest Dask configuration (skipped with --quick).

Subset timings are extrapolated to the 90 β of the headline (linear in β: every β costs the same
for these kernels). This is a script, not a test: the machine is shared, the load is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynamics import Ensemble, simulate
from dynamics.sweep import HEADLINE, PAIR_THRESHOLD, Sweep, local_client, run_sweep

HEAD = Sweep.from_dict(HEADLINE)
NB = len(HEAD.betas)


def _row(name, systems, steps, wall, scale=1.0, note=""):
    est = wall * scale
    return (name, systems, steps, wall, systems * steps / wall, est, note)


def naive_engine(betas) -> float:
    """Loop over β with the engine's ensembles; pair fraction from the saved frames."""
    start = time.perf_counter()
    for beta in betas:
        sc = HEAD.base.replace(beta=float(beta), frames=301)
        res = simulate(sc, ensemble=Ensemble(seeds=tuple(int(s) for s in HEAD.seeds())))
        iu = np.triu_indices(sc.n, 1)
        for k in HEAD.checkpoint_steps():
            x = res.x[k]
            g = x @ np.swapaxes(x, -1, -2)
            _ = np.count_nonzero(g[:, iu[0], iu[1]] > PAIR_THRESHOLD)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    print(f"# sweep benchmark · {os.cpu_count()} cores · load {os.getloadavg()[0]:.2f} (1 min)")
    steps = HEAD.steps
    sub = HEAD.replace(betas=HEAD.betas[::9])  # 10 β values spread over [0.1, 9]
    nsub = len(sub.betas)
    rows = []

    t0 = time.perf_counter()
    r_serial = run_sweep(sub, client="serial")
    w = time.perf_counter() - t0
    rows.append(_row("circle kernel, serial", nsub * HEAD.systems, steps, w, NB / nsub))

    configs = {
        "Dask threads ×1": dict(processes=False, workers=1),
        "Dask threads ×2": dict(processes=False, workers=2),
        "Dask processes ×2": dict(processes=True, workers=2),
    }
    best, best_w = None, float("inf")
    for name, cfg in configs.items():
        t = time.perf_counter()
        client = local_client(**cfg)
        startup = time.perf_counter() - t
        run_sweep(sub.replace(checkpoints=3, betas=sub.betas[:2]), client=client)  # warm the workers
        t = time.perf_counter()
        r = run_sweep(sub, client=client)
        w = time.perf_counter() - t
        assert np.array_equal(r.stat, r_serial.stat), "Dask result differs from the serial one"
        rows.append(_row(f"circle kernel, {name}", nsub * HEAD.systems, steps, w, NB / nsub,
                         f"cluster start {startup:.1f} s; identical to serial"))  # fmt: skip
        if name != "Dask threads ×1" and w < best_w:
            best, best_w = cfg, w
        if name == "Dask threads ×1":
            overhead = w - rows[0][3]
        client.close()
        client.cluster.close()

    two = HEAD.replace(betas=HEAD.betas[::45])
    t = time.perf_counter()
    run_sweep(two.replace(kernel="generic"), client="serial")
    w = time.perf_counter() - t
    rows.append(_row("generic (B,n,d) kernel, serial", 2 * HEAD.systems, steps, w, NB / 2))
    w = naive_engine(two.betas)
    rows.append(_row("naive: loop over β of simulate(ensemble)", 2 * HEAD.systems, steps, w, NB / 2,
                     "engine euler, frames=301"))  # fmt: skip

    if not args.quick:
        client = local_client(**best)
        run_sweep(sub.replace(checkpoints=3, betas=sub.betas[:2]), client=client)
        r = run_sweep(HEAD, client=client)
        rows.append(_row(f"HEADLINE, circle kernel, best Dask {best}", HEAD.total_systems(), steps,
                         r.wall_time, 1.0, r.message))  # fmt: skip
        client.close()

    sep = " | " if args.markdown else "  "
    head = ("run", "systems", "steps", "wall s", "steps·systems/s", "headline est. s", "note")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(f"{h:>16}" for h in head))
    for name, systems, st, wall, rate, est, note in rows:
        cells = (name, f"{systems}", f"{st}", f"{wall:.2f}", f"{rate:,.0f}", f"{est:.1f}", note)
        print(("| " + sep.join(cells) + " |") if args.markdown else sep.join(f"{c:>16}" for c in cells))
    print(f"Dask overhead (threads ×1 − serial, {nsub} β): {overhead:+.2f} s")


if __name__ == "__main__":
    main()
